//! What goes over the wire to NCP and comes back: query encoding and the JSON envelopes.

use super::{Hypervisor, ImageView, NcpError};
use crate::domain::ImageNo;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

/// Everything but RFC 3986 unreserved characters is encoded, so that `@` is `%40` as in the
/// reference vectors and no URL parser on the way has anything left to re-encode.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one query key or value.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// Builds `/vserver/v2/<operation>?regionCode=..&<params>&responseFormatType=json`, the exact
/// path and query that are both signed and sent.
pub fn path_and_query(operation: &str, region: &str, params: &[(String, String)]) -> String {
    let mut s = format!("/vserver/v2/{operation}?regionCode={}", encode(region));
    for (k, v) in params {
        s.push('&');
        s.push_str(&encode(k));
        s.push('=');
        s.push_str(&encode(v));
    }
    s.push_str("&responseFormatType=json");
    s
}

/// Appends `name.1=..`, `name.2=..` (NCP list parameters are 1-based).
pub fn push_list<'a>(
    params: &mut Vec<(String, String)>,
    name: &str,
    values: impl IntoIterator<Item = &'a str>,
) {
    for (i, v) in values.into_iter().enumerate() {
        params.push((format!("{name}.{}", i + 1), v.to_string()));
    }
}

/// NCP's `{code, codeName}` pair.
#[derive(Debug, Deserialize, Default)]
pub struct CommonCode {
    /// The code, e.g. `CREAT`.
    #[serde(default)]
    pub code: String,
}

/// A XEN member server image as NCP describes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberServerImageInstance {
    member_server_image_instance_no: String,
    #[serde(default)]
    member_server_image_name: String,
    #[serde(default)]
    member_server_image_instance_status: CommonCode,
    #[serde(default)]
    shared_login_id_list: Option<Vec<String>>,
}

/// A server image (the KVM family's view, which also lists XEN images of the account).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerImage {
    server_image_no: String,
    #[serde(default)]
    server_image_name: String,
    #[serde(default)]
    server_image_status: CommonCode,
    #[serde(default)]
    hypervisor_type: CommonCode,
    #[serde(default)]
    shared_login_id_list: Option<Vec<String>>,
}

/// The body of a member-image operation's answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberImageList {
    #[serde(default)]
    return_code: Option<String>,
    #[serde(default)]
    return_message: Option<String>,
    /// Matches before paging.
    #[serde(default)]
    pub total_rows: Option<u64>,
    #[serde(default)]
    member_server_image_instance_list: Vec<MemberServerImageInstance>,
}

/// The body of a server-image operation's answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerImageList {
    #[serde(default)]
    return_code: Option<String>,
    #[serde(default)]
    return_message: Option<String>,
    /// Matches before paging.
    #[serde(default)]
    pub total_rows: Option<u64>,
    #[serde(default)]
    server_image_list: Vec<ServerImage>,
}

/// Bodies that carry NCP's `returnCode`, which must be `"0"` on success.
pub trait Envelope {
    /// The `returnCode` and `returnMessage`, when present.
    fn return_status(&self) -> (Option<&str>, Option<&str>);
}

impl Envelope for MemberImageList {
    fn return_status(&self) -> (Option<&str>, Option<&str>) {
        (self.return_code.as_deref(), self.return_message.as_deref())
    }
}

impl Envelope for ServerImageList {
    fn return_status(&self) -> (Option<&str>, Option<&str>) {
        (self.return_code.as_deref(), self.return_message.as_deref())
    }
}

fn image_no(operation: &str, raw: &str) -> Result<ImageNo, NcpError> {
    ImageNo::parse(raw).map_err(|e| NcpError::Decode {
        operation: operation.into(),
        detail: e.0,
    })
}

impl MemberImageList {
    /// The images as typed views (all XEN: the member-image APIs serve only XEN).
    pub fn into_views(self, operation: &str) -> Result<Vec<ImageView>, NcpError> {
        self.member_server_image_instance_list
            .into_iter()
            .map(|i| {
                Ok(ImageView {
                    no: image_no(operation, &i.member_server_image_instance_no)?,
                    name: i.member_server_image_name,
                    status: i.member_server_image_instance_status.code,
                    hypervisor: Hypervisor::Xen,
                    shared_with: i.shared_login_id_list.unwrap_or_default(),
                })
            })
            .collect()
    }
}

impl ServerImageList {
    /// The images as typed views; an image without a known hypervisor is a decode error.
    pub fn into_views(self, operation: &str) -> Result<Vec<ImageView>, NcpError> {
        self.server_image_list
            .into_iter()
            .map(|i| {
                let hypervisor =
                    i.hypervisor_type
                        .code
                        .parse()
                        .map_err(|detail| NcpError::Decode {
                            operation: operation.into(),
                            detail: format!("image {}: {detail}", i.server_image_no),
                        })?;
                Ok(ImageView {
                    no: image_no(operation, &i.server_image_no)?,
                    name: i.server_image_name,
                    status: i.server_image_status.code,
                    hypervisor,
                    shared_with: i.shared_login_id_list.unwrap_or_default(),
                })
            })
            .collect()
    }
}

#[derive(Deserialize)]
struct GatewayErrorBody {
    error: GatewayError,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GatewayError {
    #[serde(default, deserialize_with = "string_or_number")]
    error_code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceErrorBody {
    response_error: ServiceError,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceError {
    #[serde(default, deserialize_with = "string_or_number")]
    return_code: String,
    #[serde(default)]
    return_message: String,
}

/// The docs call gateway `errorCode` an integer while real traffic sends a string: accept both.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        other => other.to_string(),
    })
}

/// A short, printable excerpt of an unexpected body, for error messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(160)
        .collect();
    if text.chars().count() > 160 {
        format!("{cleaned}…")
    } else {
        cleaned
    }
}

/// Reads NCP's error shapes: `{"responseError":..}` (service) and `{"error":..}` (gateway).
fn error_from(status: u16, body: &[u8], access_key: &str) -> Option<NcpError> {
    if let Ok(e) = serde_json::from_slice::<ServiceErrorBody>(body) {
        return Some(NcpError::Service {
            status,
            code: e.response_error.return_code,
            message: e.response_error.return_message,
        });
    }
    let GatewayError {
        error_code,
        message,
    } = serde_json::from_slice::<GatewayErrorBody>(body).ok()?.error;
    Some(if status == 401 {
        NcpError::Authentication {
            access_key: super::mask_access_key(access_key),
            code: error_code,
            message,
        }
    } else {
        NcpError::Gateway {
            status,
            code: error_code,
            message,
        }
    })
}

/// Turns an HTTP answer into the typed body or a typed error.
///
/// The success path parses the body once; the error shapes are only tried when it fails.
pub fn decode<T: for<'de> Deserialize<'de> + Envelope>(
    operation: &str,
    status: u16,
    body: &[u8],
    access_key: &str,
) -> Result<T, NcpError> {
    if !(200..300).contains(&status) {
        return Err(
            error_from(status, body, access_key).unwrap_or_else(|| NcpError::Gateway {
                status,
                code: String::new(),
                message: format!("HTTP {status} with an unrecognised body: {}", excerpt(body)),
            }),
        );
    }
    let key = format!("{operation}Response");
    let parsed = serde_json::from_slice::<std::collections::HashMap<String, T>>(body);
    let mut outer = match parsed {
        Ok(outer) => outer,
        Err(e) => {
            // A service error can come with a 200; otherwise say what did not parse.
            if let Some(err) = error_from(status, body, access_key) {
                return Err(err);
            }
            let detail =
                match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body) {
                    Ok(_) => format!("`{key}` does not have the documented shape: {e}"),
                    Err(_) => format!("the body is not a JSON object ({e}): {}", excerpt(body)),
                };
            return Err(NcpError::Decode {
                operation: operation.into(),
                detail,
            });
        }
    };
    let Some(inner) = outer.remove(&key) else {
        if let Some(err) = error_from(status, body, access_key) {
            return Err(err);
        }
        let keys: Vec<String> = outer.into_keys().collect();
        return Err(NcpError::Decode {
            operation: operation.into(),
            detail: format!("expected a `{key}` object, found keys {keys:?}"),
        });
    };
    match inner.return_status() {
        (Some("0") | None, _) => Ok(inner),
        (Some(code), msg) => Err(NcpError::Service {
            status,
            code: code.into(),
            message: msg.unwrap_or_default().into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_encoded_like_the_reference_vector() {
        let mut p = vec![(
            "memberServerImageInstanceNo".to_string(),
            "1234567".to_string(),
        )];
        push_list(
            &mut p,
            "targetLoginIdList",
            ["alice@example.com", "bob@example.com"],
        );
        assert_eq!(
            path_and_query("setMemberServerImageSharingPermission", "KR", &p),
            "/vserver/v2/setMemberServerImageSharingPermission?regionCode=KR&memberServerImageInstanceNo=1234567&targetLoginIdList.1=alice%40example.com&targetLoginIdList.2=bob%40example.com&responseFormatType=json"
        );
    }

    #[test]
    fn awkward_characters_are_all_encoded() {
        assert_eq!(encode("a+b&c=d%e f"), "a%2Bb%26c%3Dd%25e%20f");
        assert_eq!(encode("모"), "%EB%AA%A8");
        assert_eq!(encode("a-b.c_d~e"), "a-b.c_d~e");
    }

    const LIST: &str = r#"{
  "getMemberServerImageInstanceListResponse": {
    "totalRows": 1,
    "memberServerImageInstanceList": [
      {
        "memberServerImageInstanceNo": "1234567",
        "memberServerImageName": "golden-web",
        "memberServerImageInstanceStatus": { "code": "CREAT", "codeName": "NSI CREATED state" },
        "shareStatus": { "code": "SHARE", "codeName": "NSI Share SHARE State" },
        "sharedLoginIdList": ["a@partner.example"]
      }
    ],
    "requestId": "x",
    "returnCode": "0",
    "returnMessage": "success"
  }
}"#;

    #[test]
    fn a_list_answer_becomes_typed_views() {
        let body: MemberImageList = decode(
            "getMemberServerImageInstanceList",
            200,
            LIST.as_bytes(),
            "AK",
        )
        .unwrap();
        let views = body.into_views("getMemberServerImageInstanceList").unwrap();
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].no.as_str(), "1234567");
        assert_eq!(views[0].status, "CREAT");
        assert_eq!(views[0].shared_with, vec!["a@partner.example"]);
    }

    #[test]
    fn errors_are_typed_with_ncp_code_and_message() {
        let svc = br#"{"responseError": {"returnCode": "1104037", "returnMessage": "The server image could not be found"}}"#;
        assert_eq!(
            decode::<MemberImageList>("op", 400, svc, "AK").unwrap_err(),
            NcpError::Service {
                status: 400,
                code: "1104037".into(),
                message: "The server image could not be found".into()
            }
        );
        let gw = br#"{"error":{"errorCode":"500","message":"Endpoint Error","details":""}}"#;
        let e = decode::<MemberImageList>("op", 503, gw, "AK").unwrap_err();
        assert!(e.is_transient());
        assert_eq!(e.code(), Some("500"));
        let auth = br#"{"error":{"errorCode":200,"message":"Authentication Failed"}}"#;
        let e = decode::<MemberImageList>("op", 401, auth, "MYKEY").unwrap_err();
        assert!(matches!(&e, NcpError::Authentication { access_key, .. } if access_key == "MYKE…"));
        assert!(!e.to_string().contains("MYKE"), "{e}");
        assert!(!e.is_transient());
    }

    #[test]
    fn unexpected_answers_say_what_was_unexpected() {
        let e = decode::<MemberImageList>("getX", 200, b"<xml/>", "AK")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a JSON object"), "{e}");
        let e = decode::<MemberImageList>("getX", 200, br#"{"otherResponse": {}}"#, "AK")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("getXResponse") && e.contains("otherResponse"),
            "{e}"
        );
        let e = decode::<MemberImageList>("getX", 502, b"Bad gateway", "AK")
            .unwrap_err()
            .to_string();
        assert!(e.contains("502") && e.contains("Bad gateway"), "{e}");
        let bad_no = r#"{"getXResponse": {"memberServerImageInstanceList": [{"memberServerImageInstanceNo": "12x"}]}}"#;
        let list: MemberImageList = decode("getX", 200, bad_no.as_bytes(), "AK").unwrap();
        assert!(
            list.into_views("getX")
                .unwrap_err()
                .to_string()
                .contains("12x")
        );
    }

    #[test]
    fn a_non_zero_return_code_in_a_200_is_an_error() {
        let body = br#"{"getXResponse": {"returnCode": "25013", "returnMessage": "in operation"}}"#;
        let e = decode::<MemberImageList>("getX", 200, body, "AK").unwrap_err();
        assert_eq!(e.code(), Some("25013"));
    }
}
