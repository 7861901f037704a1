//! NCP API Gateway signature ("signature v2"), see `reference/ncp-api.md` section 1.
//!
//! string to sign = `METHOD + " " + path_and_query + "\n" + timestamp_ms + "\n" + access_key`,
//! signature = base64(HMAC-SHA256(secret_key, string to sign)). The body is never signed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header carrying the millisecond timestamp that was signed.
pub const TIMESTAMP_HEADER: &str = "x-ncp-apigw-timestamp";
/// Header carrying the access key ID.
pub const ACCESS_KEY_HEADER: &str = "x-ncp-iam-access-key";
/// Header our client sends the signature in (the Java SDK and the docs use it).
pub const SIGNATURE_V2_HEADER: &str = "x-ncp-apigw-signature-v2";
/// Header the Go, Python and JS SDKs send the same signature in.
pub const SIGNATURE_V1_HEADER: &str = "x-ncp-apigw-signature-v1";
/// The gateway refuses timestamps this far (or further) from its clock.
pub const MAX_SKEW_MS: i64 = 5 * 60 * 1000;

/// The exact string that is signed.
pub fn string_to_sign(
    method: &str,
    path_and_query: &str,
    timestamp_ms: &str,
    access_key: &str,
) -> String {
    format!("{method} {path_and_query}\n{timestamp_ms}\n{access_key}")
}

fn mac(secret_key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    Hmac::<Sha256>::new_from_slice(secret_key).expect("HMAC takes keys of any length")
}

/// Computes the Base64 signature for one request.
pub fn sign(
    method: &str,
    path_and_query: &str,
    timestamp_ms: &str,
    access_key: &str,
    secret_key: &[u8],
) -> String {
    let mut m = mac(secret_key);
    m.update(string_to_sign(method, path_and_query, timestamp_ms, access_key).as_bytes());
    STANDARD.encode(m.finalize().into_bytes())
}

/// Checks a Base64 signature in constant time; a signature that is not Base64 is simply wrong.
pub fn verify(
    method: &str,
    path_and_query: &str,
    timestamp_ms: &str,
    access_key: &str,
    secret_key: &[u8],
    signature_b64: &str,
) -> bool {
    let Ok(given) = STANDARD.decode(signature_b64.trim()) else {
        return false;
    };
    let mut m = mac(secret_key);
    m.update(string_to_sign(method, path_and_query, timestamp_ms, access_key).as_bytes());
    m.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AK: &str = "NCPTESTACCESSKEY0001";
    const SK: &[u8] = b"NCPTestSecretKey0000000000000000000000001";
    const TS: &str = "1700000000000";

    /// The five vectors of `reference/ncp-api.md` section 1.2.
    const VECTORS: [(&str, &str, &str); 5] = [
        (
            "GET",
            "/vserver/v2/setMemberServerImageSharingPermission?regionCode=KR&memberServerImageInstanceNo=1234567&targetLoginIdList.1=alice%40example.com&targetLoginIdList.2=bob%40example.com&responseFormatType=json",
            "Goed3WnB1LWubjby/KYfSbT++4mR/uBEnkunWaNonSc=",
        ),
        (
            "GET",
            "/vserver/v2/getMemberServerImageInstanceList?regionCode=KR&responseFormatType=json",
            "9+9anYsLjCsO+SUbImcRVin/8WTkOzxh8Y88rF4R9NI=",
        ),
        (
            "POST",
            "/vserver/v2/getMemberServerImageInstanceList",
            "HwXcYEFq9yLplA57kzmRI/S3V0zUTroPgTW89RSvMC8=",
        ),
        (
            "POST",
            "/vserver/v2/addMemberServerImageSharingPermission?responseFormatType=json",
            "9smYK1PLjJpH+0WbvTPb0gmjSyN7g6PGNTmo17QTe3c=",
        ),
        (
            "GET",
            "/photos/puppy.jpg?query1=&query2",
            "R8qGZB5T/sxOxl1qIGJNeju3/8Jf6ON1/LwMoDlsaI8=",
        ),
    ];

    #[test]
    fn the_five_reference_vectors_sign_as_documented() {
        for (method, pq, expected) in VECTORS {
            assert_eq!(sign(method, pq, TS, AK, SK), expected, "{method} {pq}");
            assert!(verify(method, pq, TS, AK, SK, expected));
        }
    }

    #[test]
    fn the_string_to_sign_has_no_trailing_newline() {
        assert_eq!(
            string_to_sign("GET", VECTORS[0].1, TS, AK),
            "GET /vserver/v2/setMemberServerImageSharingPermission?regionCode=KR&memberServerImageInstanceNo=1234567&targetLoginIdList.1=alice%40example.com&targetLoginIdList.2=bob%40example.com&responseFormatType=json\n1700000000000\nNCPTESTACCESSKEY0001"
        );
    }

    #[test]
    fn any_change_breaks_verification() {
        let (m, pq, sig) = VECTORS[1];
        assert!(!verify("POST", pq, TS, AK, SK, sig));
        assert!(!verify(m, &pq.replace("KR", "JPN"), TS, AK, SK, sig));
        assert!(!verify(m, pq, "1700000000001", AK, SK, sig));
        assert!(!verify(m, pq, TS, "NCPTESTACCESSKEY0002", SK, sig));
        assert!(!verify(m, pq, TS, AK, b"other", sig));
        assert!(!verify(m, pq, TS, AK, SK, "not base64!"));
        assert!(!verify(m, pq, TS, AK, SK, ""));
    }
}
