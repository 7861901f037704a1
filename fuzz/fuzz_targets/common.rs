// Shared by the verifier targets: split the input into header values and a body, so that the
// fuzzer controls both what the headers say and what was signed.
use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// Reads up to `names.len()` newline-terminated header values, then the rest is the body.
pub fn headers_and_body<'a>(data: &'a [u8], names: &[&'static str]) -> (HeaderMap, &'a [u8]) {
    let mut headers = HeaderMap::new();
    let mut rest = data;
    for name in names {
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            break;
        };
        if let Ok(value) = HeaderValue::from_bytes(&rest[..end]) {
            headers.append(HeaderName::from_static(name), value);
        }
        rest = &rest[end + 1..];
    }
    (headers, rest)
}

/// The secrets the targets verify with (one of them is also what the corpus was signed with).
pub fn secrets(values: &[&str]) -> Vec<secrecy::SecretString> {
    values
        .iter()
        .map(|v| secrecy::SecretString::from(v.to_string()))
        .collect()
}
