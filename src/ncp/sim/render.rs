//! Response bodies in NCP's shapes, pretty-printed like the real API.
//!
//! The formatting is part of the contract: the official Go SDK (and so Terraform) finds the
//! inner object by slicing from the character before the second `{` to the last byte but one,
//! which only works with a space after `"xResponse":` and no trailing newline.
//! `serde_json::to_string_pretty` gives exactly that: 2-space indent, `": "`, no newline.

use super::SimImage;
use super::state::{Family, Operation, Reply};
use crate::ncp::Hypervisor;
use serde::Serialize;
use serde::ser::SerializeMap as _;

/// The value of a `Content-Type` header on every simulator answer, as NCP sends it.
pub(crate) const CONTENT_TYPE: &str = "application/json;charset=UTF-8";

/// NCP's `{code, codeName}` pair.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CommonCode {
    code: String,
    code_name: &'static str,
}

fn code(code: &str, code_name: &'static str) -> CommonCode {
    CommonCode {
        code: code.to_owned(),
        code_name,
    }
}

/// Renders any value with NCP's formatting.
pub(crate) fn pretty<T: Serialize>(value: &T) -> String {
    // Serializing plain structs, strings and maps cannot fail.
    serde_json::to_string_pretty(value).expect("simulator bodies always serialize")
}

/// `shareStatus` is `SHARE` exactly when the list is not empty.
fn share_status(image: &SimImage) -> CommonCode {
    if image.shared_with.is_empty() {
        code("NULL", "NSI Share NULL State")
    } else {
        code("SHARE", "NSI Share SHARE State")
    }
}

/// The `MemberServerImageInstance` fields (reference §3.3), in the documented order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MemberImageJson<'a> {
    member_server_image_instance_no: &'a str,
    member_server_image_name: &'a str,
    member_server_image_description: &'a str,
    original_server_instance_no: String,
    original_server_image_product_code: &'static str,
    member_server_image_instance_status: CommonCode,
    member_server_image_instance_operation: CommonCode,
    member_server_image_instance_status_name: &'static str,
    create_date: &'a str,
    member_server_image_block_storage_total_rows: i32,
    member_server_image_block_storage_total_size: i64,
    share_status: CommonCode,
    shared_login_id_list: &'a [String],
}

/// The `ServerImage` fields (reference §3.5) that a self-made image has.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServerImageJson<'a> {
    server_image_no: &'a str,
    server_image_name: &'a str,
    server_image_description: &'a str,
    server_image_product_code: &'static str,
    server_image_type: CommonCode,
    hypervisor_type: CommonCode,
    cpu_architecture_type: CommonCode,
    os_category_type: CommonCode,
    server_image_status: CommonCode,
    server_image_operation: CommonCode,
    server_image_status_name: &'static str,
    create_date: &'a str,
    share_status: CommonCode,
    shared_login_id_list: &'a [String],
}

/// Status-dependent codes: (status codeName, operation, status name) for each family.
struct StatusCodes {
    member_status: CommonCode,
    member_operation: CommonCode,
    server_status: CommonCode,
    server_operation: CommonCode,
    status_name: &'static str,
}

fn status_codes(status: &str) -> StatusCodes {
    // Only `CREAT`'s code names are documented; the others follow the same pattern.
    match status {
        "INIT" => StatusCodes {
            member_status: code("INIT", "NSI INIT state"),
            member_operation: code("CREAT", "NSI CREAT OP"),
            server_status: code("INIT", "Server init state"),
            server_operation: code("CREAT", "Server CREAT OP"),
            status_name: "creating",
        },
        "CREFL" => StatusCodes {
            member_status: code("CREFL", "NSI CREATE FAILED state"),
            member_operation: code("NULL", "NSI NULLOP"),
            server_status: code("CREFL", "Server create failed state"),
            server_operation: code("NULL", "Server NULL OP"),
            status_name: "create failed",
        },
        // CREAT, and any other status a test sets with `set_status`, renders as a finished
        // image; the status code itself is always the stored status (see `member_image`).
        _ => StatusCodes {
            member_status: code("CREAT", "NSI CREATED state"),
            member_operation: code("NULL", "NSI NULLOP"),
            server_status: code("CREAT", "Server created state"),
            server_operation: code("NULL", "Server NULL OP"),
            status_name: "created",
        },
    }
}

fn member_image(image: &SimImage) -> MemberImageJson<'_> {
    let mut codes = status_codes(&image.status);
    codes.member_status.code.clone_from(&image.status);
    MemberImageJson {
        member_server_image_instance_no: &image.no,
        member_server_image_name: &image.name,
        member_server_image_description: &image.description,
        // Synthetic but stable: the simulator has no servers, so derive one from the image.
        original_server_instance_no: format!("1{}", image.no),
        original_server_image_product_code: "SW.VSVR.OS.LNX64.CNTOS.0703.B050",
        member_server_image_instance_status: codes.member_status,
        member_server_image_instance_operation: codes.member_operation,
        member_server_image_instance_status_name: codes.status_name,
        create_date: &image.create_date,
        member_server_image_block_storage_total_rows: 1,
        member_server_image_block_storage_total_size: 53_687_091_200,
        share_status: share_status(image),
        shared_login_id_list: &image.shared_with,
    }
}

fn server_image(image: &SimImage) -> ServerImageJson<'_> {
    let mut codes = status_codes(&image.status);
    codes.server_status.code.clone_from(&image.status);
    let (product_code, hypervisor) = match image.hypervisor {
        Hypervisor::Xen => ("SW.VSVR.OS.LNX64.CNTOS.0703.B050", code("XEN", "XEN")),
        Hypervisor::Kvm => ("SW.VSVR.OS.LNX64.UBNTU.SVR2004.G003", code("KVM", "KVM")),
    };
    ServerImageJson {
        server_image_no: &image.no,
        server_image_name: &image.name,
        server_image_description: &image.description,
        server_image_product_code: product_code,
        server_image_type: code("SELF", "Self-made image"),
        hypervisor_type: hypervisor,
        cpu_architecture_type: code("X86_64", "x86 64bit"),
        os_category_type: code("LINUX", "LINUX"),
        server_image_status: codes.server_status,
        server_image_operation: codes.server_operation,
        server_image_status_name: codes.status_name,
        create_date: &image.create_date,
        share_status: share_status(image),
        shared_login_id_list: &image.shared_with,
    }
}

/// The envelope head every success shares; the list is added beside it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Head<'a, L> {
    request_id: &'a str,
    return_code: &'static str,
    return_message: &'static str,
    total_rows: usize,
    #[serde(flatten)]
    list: L,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MemberList<'a> {
    member_server_image_instance_list: Vec<MemberImageJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServerList<'a> {
    server_image_list: Vec<ServerImageJson<'a>>,
}

/// `{"<key>": value}` with a key known only at run time; a map keeps the fields of `value` in
/// their declared order (serde_json's `Value` would sort them).
struct Envelope<'k, T> {
    key: &'k str,
    value: T,
}

impl<T: Serialize> Serialize for Envelope<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.key, &self.value)?;
        map.end()
    }
}

/// `{"<operation>Response": {requestId, returnCode "0", returnMessage "success", totalRows, list}}`.
pub(crate) fn success(op: Operation, reply: &Reply, request_id: &str) -> String {
    let key = format!("{}Response", op.name());
    let head = |list| Head {
        request_id,
        return_code: "0",
        return_message: "success",
        total_rows: reply.total_rows,
        list,
    };
    match op.family() {
        Family::Member => pretty(&Envelope {
            key: &key,
            value: head(Lists::Member(MemberList {
                member_server_image_instance_list: reply.images.iter().map(member_image).collect(),
            })),
        }),
        Family::Server => pretty(&Envelope {
            key: &key,
            value: head(Lists::Server(ServerList {
                server_image_list: reply.images.iter().map(server_image).collect(),
            })),
        }),
    }
}

/// The list beside the envelope head: its key depends on the API family.
#[derive(Serialize)]
#[serde(untagged)]
enum Lists<'a> {
    Member(MemberList<'a>),
    Server(ServerList<'a>),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseError<'a> {
    return_code: &'a str,
    return_message: &'a str,
}

/// A vserver service error body: `{"responseError": {"returnCode", "returnMessage"}}`.
pub(crate) fn service_error(code: &str, message: &str) -> String {
    pretty(&Envelope {
        key: "responseError",
        value: ResponseError {
            return_code: code,
            return_message: message,
        },
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GatewayError<'a> {
    error_code: &'static str,
    message: &'static str,
    details: &'a str,
}

/// The gateway's code and message for an HTTP status (reference §4.2).
pub(crate) fn gateway_code(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("100", "Bad Request Exception"),
        401 => ("200", "Authentication Failed"),
        403 => ("210", "Permission Denied"),
        404 => ("300", "Not Found Exception"),
        413 => ("430", "Request Entity Too Large"),
        429 => ("420", "Rate Limited"),
        503 => ("500", "Endpoint Error"),
        504 => ("510", "Endpoint Timeout"),
        _ => ("900", "Unexpected Error"),
    }
}

/// A gateway error body: `{"error": {"errorCode", "message", "details"}}`.
pub(crate) fn gateway_error(status: u16, details: &str) -> String {
    let (error_code, message) = gateway_code(status);
    pretty(&Envelope {
        key: "error",
        value: GatewayError {
            error_code,
            message,
            details,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn reply_with(image: SimImage) -> Reply {
        Reply {
            images: vec![image],
            total_rows: 1,
        }
    }

    #[test]
    fn success_bodies_are_pretty_with_no_trailing_newline() {
        let mut image = SimImage::new("1234567", "golden-web", "o@x", Hypervisor::Xen);
        image.shared_with = vec!["a@x".into()];
        let body = success(
            Operation::AddMemberServerImageSharingPermission,
            &reply_with(image),
            "req-1",
        );
        assert!(body.starts_with("{\n  \"addMemberServerImageSharingPermissionResponse\": {\n"));
        assert!(body.ends_with("\n}"), "{body:?}");
        assert!(body.contains("\"returnCode\": \"0\""));
        // Fields come in the documented order, not sorted.
        let at = |needle: &str| body.find(needle).unwrap_or_else(|| panic!("{needle}"));
        assert!(at("requestId") < at("totalRows"));
        assert!(at("totalRows") < at("memberServerImageInstanceList"));
        assert!(at("memberServerImageInstanceNo") < at("memberServerImageName"));
        assert!(at("shareStatus") < at("sharedLoginIdList"));
        let v: Value = serde_json::from_str(&body).unwrap();
        let inner = &v["addMemberServerImageSharingPermissionResponse"];
        assert_eq!(inner["totalRows"], 1);
        let img = &inner["memberServerImageInstanceList"][0];
        assert_eq!(img["memberServerImageInstanceNo"], "1234567");
        assert_eq!(img["memberServerImageInstanceStatus"]["code"], "CREAT");
        assert_eq!(img["shareStatus"]["code"], "SHARE");
        assert_eq!(img["sharedLoginIdList"], serde_json::json!(["a@x"]));
    }

    #[test]
    fn the_go_sdk_slice_of_a_success_body_is_the_inner_object() {
        let image = SimImage::new("3456789", "k", "o@x", Hypervisor::Kvm);
        let body = success(Operation::GetServerImageDetail, &reply_with(image), "r");
        // Go: body[IndexAny(Trim(body, "{"), "{") : len(body)-1]
        let trimmed = body.trim_matches('{');
        let start = trimmed.find('{').unwrap();
        let inner: Value = serde_json::from_str(&body[start..body.len() - 1]).unwrap();
        assert_eq!(inner["serverImageList"][0]["hypervisorType"]["code"], "KVM");
        assert_eq!(
            inner["serverImageList"][0]["serverImageType"]["code"],
            "SELF"
        );
        assert_eq!(inner["serverImageList"][0]["shareStatus"]["code"], "NULL");
    }

    #[test]
    fn error_bodies_have_ncp_shapes() {
        let body = service_error("1104037", "The server image could not be found");
        assert_eq!(
            body,
            "{\n  \"responseError\": {\n    \"returnCode\": \"1104037\",\n    \"returnMessage\": \"The server image could not be found\"\n  }\n}"
        );
        assert_eq!(
            gateway_error(401, "signature mismatch"),
            "{\n  \"error\": {\n    \"errorCode\": \"200\",\n    \"message\": \"Authentication Failed\",\n    \"details\": \"signature mismatch\"\n  }\n}"
        );
        let v: Value = serde_json::from_str(&gateway_error(429, "")).unwrap();
        assert_eq!(v["error"]["errorCode"], "420");
        assert_eq!(v["error"]["message"], "Rate Limited");
        let v: Value = serde_json::from_str(&gateway_error(503, "")).unwrap();
        assert_eq!(v["error"]["errorCode"], "500");
        assert_eq!(v["error"]["message"], "Endpoint Error");
    }
}
