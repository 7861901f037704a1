//! The NCP simulator over real HTTP, driven like the official SDKs drive the real API.

use crate::harness::ncp::{Raw, go_query_escape, now_ms, spawn_sim};
use ncp_share_approver::ncp::Hypervisor;
use ncp_share_approver::ncp::signature::{MAX_SKEW_MS, SIGNATURE_V1_HEADER};
use ncp_share_approver::ncp::sim::{
    DEMO_ACCESS_KEY, DEMO_OTHER_ACCESS_KEY, DEMO_OTHER_SECRET_KEY, DEMO_SECRET_KEY,
    ERR_DUPLICATE_LOGIN_ID, ERR_IMAGE_NOT_FOUND, ERR_INVALID_PARAMETER, ERR_KVM_NOT_SUPPORTED,
    ERR_NOT_CREATED, ERR_XEN_USE_MEMBER_API, Faults, SimImage,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ADD: &str = "addMemberServerImageSharingPermission";
const REMOVE: &str = "removeMemberServerImageSharingPermission";
const SET: &str = "setMemberServerImageSharingPermission";
const DETAIL: &str = "getMemberServerImageInstanceDetail";
const LIST: &str = "getMemberServerImageInstanceList";
const IMAGE_NO: &str = "memberServerImageInstanceNo";

fn numbers(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|i| i[key].as_str().expect("a number").to_owned())
        .collect()
}

#[tokio::test]
async fn a_go_sdk_style_client_adds_sets_removes_and_reads_member_image_sharing() {
    let t = spawn_sim().await;
    let owner = t.owner();

    let add = owner
        .go_post(
            ADD,
            &[
                (IMAGE_NO, "1234567"),
                ("targetLoginIdList.1", "alice@partner.example"),
                ("targetLoginIdList.2", "bob@partner.example"),
            ],
        )
        .await;
    assert_eq!(add.status, 200, "{}", add.body);
    assert_eq!(add.content_type, "application/json;charset=UTF-8");
    assert!(
        add.body
            .starts_with(&format!("{{\n  \"{ADD}Response\": {{\n"))
    );
    assert!(add.body.ends_with('}'), "no trailing newline");
    // The Go SDK does not decode the wrapper: it slices the inner object out of the text.
    let inner = add.go_sdk_inner();
    assert_eq!(inner["returnCode"], "0");
    assert_eq!(inner["totalRows"], 1);
    let image = &inner["memberServerImageInstanceList"][0];
    assert_eq!(image["memberServerImageInstanceNo"], "1234567");
    assert_eq!(image["memberServerImageName"], "golden-web");
    assert_eq!(
        image["sharedLoginIdList"],
        json!(["alice@partner.example", "bob@partner.example"])
    );
    assert_eq!(
        image["shareStatus"],
        json!({"code": "SHARE", "codeName": "NSI Share SHARE State"})
    );
    assert_eq!(image["memberServerImageInstanceStatus"]["code"], "CREAT");
    let date = image["createDate"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_str(date, "%Y-%m-%dT%H:%M:%S%z").is_ok(),
        "{date}"
    );

    // Adding an ID that is already there keeps one copy and the order.
    let again = owner
        .go_post(
            ADD,
            &[
                (IMAGE_NO, "1234567"),
                ("targetLoginIdList.1", "alice@partner.example"),
            ],
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(
        t.sim.shared_with("1234567"),
        ["alice@partner.example", "bob@partner.example"]
    );

    let set = owner
        .go_post(
            SET,
            &[
                (IMAGE_NO, "1234567"),
                ("targetLoginIdList.1", "carol@partner.example"),
            ],
        )
        .await;
    assert_eq!(
        set.go_sdk_inner()["memberServerImageInstanceList"][0]["sharedLoginIdList"],
        json!(["carol@partner.example"])
    );

    let remove = owner
        .go_post(
            REMOVE,
            &[
                (IMAGE_NO, "1234567"),
                ("targetLoginIdList.1", "carol@partner.example"),
            ],
        )
        .await;
    let image = &remove.go_sdk_inner()["memberServerImageInstanceList"][0];
    assert_eq!(image["sharedLoginIdList"], json!([]));
    assert_eq!(
        image["shareStatus"],
        json!({"code": "NULL", "codeName": "NSI Share NULL State"})
    );

    let detail = owner.go_post(DETAIL, &[(IMAGE_NO, "1234567")]).await;
    assert_eq!(
        detail.go_sdk_inner()["memberServerImageInstanceList"][0]["memberServerImageInstanceNo"],
        "1234567"
    );

    // The member list holds the owner's XEN images only: no KVM, nothing of the other account.
    let list = owner.go_post(LIST, &[]).await.go_sdk_inner();
    assert_eq!(list["totalRows"], 3);
    assert_eq!(
        numbers(&list["memberServerImageInstanceList"], IMAGE_NO),
        ["1234567", "2345678", "5678901"]
    );

    let calls = t.sim.calls();
    assert_eq!(calls.len(), 6);
    for call in &calls {
        assert_eq!(call.method, "POST");
        assert_eq!(call.signature_header, Some("v1"));
        assert_eq!(call.status, 200);
        assert_eq!(
            call.path_and_query,
            format!("/vserver/v2/{}", call.operation)
        );
        assert_eq!(call.param("responseFormatType"), Some("json"));
        assert_eq!(call.access_key.as_deref(), Some(DEMO_ACCESS_KEY));
    }
    assert_eq!(calls[0].operation, ADD);
    assert_eq!(
        calls[0].param("targetLoginIdList.2"),
        Some("bob@partner.example")
    );
}

#[tokio::test]
async fn awkward_login_ids_round_trip_exactly_through_a_signed_get_query() {
    let t = spawn_sim().await;
    let owner = t.owner();
    let ids = [
        "a+b@x.example",
        "a&b=c%d@x.example",
        "with space@x.example",
        "모두@회사.한국",
    ];
    for (n, id) in ids.iter().enumerate() {
        let add = owner
            .get(ADD, &[(IMAGE_NO, "2345678"), ("targetLoginIdList.1", id)])
            .await;
        assert_eq!(add.status, 200, "{id}: {}", add.body);
        assert_eq!(t.sim.shared_with("2345678")[n], *id);
    }
    let detail = owner
        .get(DETAIL, &[(IMAGE_NO, "2345678")])
        .await
        .inner(DETAIL);
    assert_eq!(
        detail["memberServerImageInstanceList"][0]["sharedLoginIdList"],
        json!(ids)
    );
    assert_eq!(t.sim.shared_with("2345678"), ids);

    // The signature covered the encoded query exactly as it went over the wire.
    let calls = t.sim.calls();
    assert!(
        calls
            .iter()
            .all(|c| c.signature_header == Some("v2") && c.method == "GET")
    );
    assert!(
        calls[0]
            .path_and_query
            .contains("targetLoginIdList.1=a%2Bb%40x.example"),
        "{}",
        calls[0].path_and_query
    );
    assert_eq!(
        calls[2].param("targetLoginIdList.1"),
        Some("with space@x.example")
    );

    // `%20` for a space (Python's quote) decodes the same as `+`, and removing by it works.
    let pq = format!(
        "/vserver/v2/{REMOVE}?{IMAGE_NO}=2345678&targetLoginIdList.1=with%20space%40x.example&targetLoginIdList.2={}",
        go_query_escape("모두@회사.한국")
    );
    let remove = owner.send(Raw::new("GET", &pq)).await;
    assert_eq!(remove.status, 200, "{}", remove.body);
    assert_eq!(
        t.sim.shared_with("2345678"),
        ["a+b@x.example", "a&b=c%d@x.example"]
    );
}

#[tokio::test]
async fn the_gateway_refuses_every_kind_of_bad_authentication_with_401() {
    let t = spawn_sim().await;
    let owner = t.owner();
    let pq = format!("/vserver/v2/{ADD}?{IMAGE_NO}=1234567&targetLoginIdList.1=eve%40x.example");

    let mut cases: Vec<(&str, crate::harness::ncp::Answer, &str)> = Vec::new();
    let mut raw = Raw::new("GET", &pq);
    raw.send_timestamp = false;
    cases.push((
        "no timestamp",
        owner.send(raw).await,
        "x-ncp-apigw-timestamp",
    ));
    let mut raw = Raw::new("GET", &pq);
    raw.send_access_key = false;
    cases.push((
        "no access key",
        owner.send(raw).await,
        "x-ncp-iam-access-key",
    ));
    let mut raw = Raw::new("GET", &pq);
    raw.signature_header = None;
    cases.push(("no signature", owner.send(raw).await, "signature"));
    let stranger = t.caller("NCPSIMUNKNOWNKEY0000", DEMO_SECRET_KEY);
    cases.push((
        "unknown key",
        stranger.send(Raw::new("GET", &pq)).await,
        "unknown access key",
    ));
    let wrong_secret = t.caller(DEMO_ACCESS_KEY, "not-the-secret");
    cases.push((
        "wrong secret",
        wrong_secret.send(Raw::new("GET", &pq)).await,
        "signature mismatch",
    ));
    for (name, offset) in [
        ("5 min late", -MAX_SKEW_MS - 1000),
        ("5 min early", MAX_SKEW_MS + 1000),
    ] {
        let mut raw = Raw::new("GET", &pq);
        raw.timestamp_ms = now_ms() + offset;
        cases.push((name, owner.send(raw).await, "timestamp out of range"));
    }
    let tampered = pq.replace("eve%40x.example", "mallory%40x.example");
    let mut raw = Raw::new("GET", &tampered);
    raw.signed_path_and_query = &pq;
    cases.push((
        "tampered query",
        owner.send(raw).await,
        "signature mismatch",
    ));
    // Signing the decoded query instead of the bytes on the wire is a mismatch too.
    let decoded = pq.replace("%40", "@");
    let mut raw = Raw::new("GET", &pq);
    raw.signed_path_and_query = &decoded;
    cases.push((
        "decoded query signed",
        owner.send(raw).await,
        "signature mismatch",
    ));

    for (name, answer, details) in &cases {
        assert_eq!(answer.status, 401, "{name}: {}", answer.body);
        let error = &answer.json()["error"];
        assert_eq!(error["errorCode"], "200", "{name}");
        assert_eq!(error["message"], "Authentication Failed", "{name}");
        let got = error["details"].as_str().unwrap();
        assert!(got.contains(details), "{name}: details `{got}`");
        assert!(!answer.body.contains(DEMO_SECRET_KEY), "{name}");
    }
    assert!(t.sim.shared_with("1234567").is_empty(), "nothing changed");
    assert!(t.sim.calls().iter().all(|c| c.status == 401));

    // Four minutes of skew either way is still fine.
    for offset in [-4 * 60_000, 4 * 60_000] {
        let mut raw = Raw::new("GET", &pq);
        raw.timestamp_ms = now_ms() + offset;
        assert_eq!(owner.send(raw).await.status, 200);
    }
    assert_eq!(t.sim.shared_with("1234567"), ["eve@x.example"]);
}

#[tokio::test]
async fn an_account_sees_and_changes_only_its_own_images() {
    let t = spawn_sim().await;
    let owner = t.owner();
    let other = t.caller(DEMO_OTHER_ACCESS_KEY, DEMO_OTHER_SECRET_KEY);

    assert_eq!(
        owner
            .get(DETAIL, &[(IMAGE_NO, "9999999")])
            .await
            .service_code(),
        ERR_IMAGE_NOT_FOUND
    );
    let answer = other
        .get(
            ADD,
            &[
                (IMAGE_NO, "1234567"),
                ("targetLoginIdList.1", "other@corp.example"),
            ],
        )
        .await;
    assert_eq!(answer.service_code(), ERR_IMAGE_NOT_FOUND);
    assert_eq!(
        answer.json()["responseError"]["returnMessage"],
        "The server image could not be found"
    );
    assert!(t.sim.shared_with("1234567").is_empty());

    let list = other.get(LIST, &[]).await.inner(LIST);
    assert_eq!(
        numbers(&list["memberServerImageInstanceList"], IMAGE_NO),
        ["9999999"]
    );
    let servers = other
        .get("getServerImageList", &[])
        .await
        .inner("getServerImageList");
    assert_eq!(
        numbers(&servers["serverImageList"], "serverImageNo"),
        ["9999999"]
    );

    assert_eq!(
        owner
            .get(DETAIL, &[(IMAGE_NO, "1111111")])
            .await
            .service_code(),
        ERR_IMAGE_NOT_FOUND
    );
}

#[tokio::test]
async fn kvm_images_are_refused_by_member_apis_and_shared_by_server_image_apis() {
    let t = spawn_sim().await;
    let owner = t.owner();

    for op in [DETAIL, ADD, REMOVE, SET] {
        let answer = owner
            .go_post(
                op,
                &[
                    (IMAGE_NO, "3456789"),
                    ("targetLoginIdList.1", "a@x.example"),
                ],
            )
            .await;
        assert_eq!(answer.service_code(), ERR_KVM_NOT_SUPPORTED, "{op}");
        let message = answer.json()["responseError"]["returnMessage"].to_string();
        assert!(message.contains("KVM"), "{message}");
    }

    let add = owner
        .go_post(
            "addServerImageSharingPermission",
            &[
                ("serverImageNo", "3456789"),
                ("targetLoginIdList.1", "a@x.example"),
                ("targetLoginIdList.2", "b@x.example"),
            ],
        )
        .await;
    assert_eq!(add.status, 200, "{}", add.body);
    let image = &add.go_sdk_inner()["serverImageList"][0];
    assert_eq!(image["serverImageNo"], "3456789");
    assert_eq!(image["hypervisorType"]["code"], "KVM");
    assert_eq!(image["serverImageType"]["code"], "SELF");
    assert_eq!(image["serverImageStatus"]["code"], "CREAT");
    assert_eq!(image["shareStatus"]["code"], "SHARE");
    assert_eq!(
        image["sharedLoginIdList"],
        json!(["a@x.example", "b@x.example"])
    );

    let remove = owner
        .get(
            "removeServerImageSharingPermission",
            &[
                ("serverImageNo", "3456789"),
                ("targetLoginIdList.1", "a@x.example"),
            ],
        )
        .await
        .inner("removeServerImageSharingPermission");
    assert_eq!(
        remove["serverImageList"][0]["sharedLoginIdList"],
        json!(["b@x.example"])
    );
    let detail = owner
        .get("getServerImageDetail", &[("serverImageNo", "3456789")])
        .await
        .inner("getServerImageDetail");
    assert_eq!(
        detail["serverImageList"][0]["sharedLoginIdList"],
        json!(["b@x.example"])
    );

    // There is no `set` for server images: the gateway does not know the path.
    let set = owner
        .go_post(
            "setServerImageSharingPermission",
            &[
                ("serverImageNo", "3456789"),
                ("targetLoginIdList.1", "c@x.example"),
            ],
        )
        .await;
    assert_eq!(set.status, 404);
    assert_eq!(set.json()["error"]["errorCode"], "300");
    assert_eq!(set.json()["error"]["message"], "Not Found Exception");
    assert_eq!(t.sim.shared_with("3456789"), ["b@x.example"]);

    // XEN images are listed as server images too, but are shared with the member APIs.
    let all = owner
        .get("getServerImageList", &[])
        .await
        .inner("getServerImageList");
    assert_eq!(all["totalRows"], 5);
    let xen = &all["serverImageList"][0];
    assert_eq!(xen["serverImageNo"], "1234567");
    assert_eq!(xen["hypervisorType"]["code"], "XEN");
    assert_eq!(xen["serverImageType"]["code"], "SELF");
    let kvm_only = owner
        .get("getServerImageList", &[("hypervisorTypeCodeList.1", "KVM")])
        .await
        .inner("getServerImageList");
    assert_eq!(
        numbers(&kvm_only["serverImageList"], "serverImageNo"),
        ["3456789", "4567890"]
    );
    let picked = owner
        .get(
            "getServerImageList",
            &[
                ("serverImageNoList.1", "4567890"),
                ("serverImageNoList.2", "1234567"),
            ],
        )
        .await
        .inner("getServerImageList");
    assert_eq!(
        numbers(&picked["serverImageList"], "serverImageNo"),
        ["1234567", "4567890"]
    );
    let xen_add = owner
        .get(
            "addServerImageSharingPermission",
            &[
                ("serverImageNo", "1234567"),
                ("targetLoginIdList.1", "a@x.example"),
            ],
        )
        .await;
    assert_eq!(xen_add.service_code(), ERR_XEN_USE_MEMBER_API);
}

#[tokio::test]
async fn set_replaces_the_list_and_clears_it_when_the_list_is_left_out() {
    let t = spawn_sim().await;
    let owner = t.owner();
    let set = |ids: &'static [&'static str]| {
        let owner = &owner;
        async move {
            let keys: Vec<String> = (1..=ids.len())
                .map(|n| format!("targetLoginIdList.{n}"))
                .collect();
            let mut params = vec![(IMAGE_NO, "1234567")];
            params.extend(keys.iter().map(String::as_str).zip(ids.iter().copied()));
            owner.go_post(SET, &params).await
        }
    };
    assert_eq!(set(&["a@x.example", "b@x.example"]).await.status, 200);
    assert_eq!(t.sim.shared_with("1234567"), ["a@x.example", "b@x.example"]);
    assert_eq!(set(&["c@x.example", "a@x.example"]).await.status, 200);
    assert_eq!(t.sim.shared_with("1234567"), ["c@x.example", "a@x.example"]);

    let cleared = set(&[]).await.go_sdk_inner();
    let image = &cleared["memberServerImageInstanceList"][0];
    assert_eq!(image["sharedLoginIdList"], json!([]));
    assert_eq!(image["shareStatus"]["code"], "NULL");
    assert!(t.sim.shared_with("1234567").is_empty());

    // Duplicates in one call are refused and change nothing.
    assert_eq!(
        set(&["a@x.example", "a@x.example"]).await.service_code(),
        ERR_DUPLICATE_LOGIN_ID
    );
    assert!(t.sim.shared_with("1234567").is_empty());
}

#[tokio::test]
async fn bad_requests_get_service_errors_and_unknown_operations_the_gateway_404() {
    let t = spawn_sim().await;
    let owner = t.owner();

    // Still INIT: sharing is refused until the image is created.
    let wip = owner
        .go_post(
            ADD,
            &[
                (IMAGE_NO, "5678901"),
                ("targetLoginIdList.1", "a@x.example"),
            ],
        )
        .await;
    assert_eq!(wip.service_code(), ERR_NOT_CREATED);
    assert!(t.sim.set_status("5678901", "CREAT"));
    let done = owner
        .go_post(
            ADD,
            &[
                (IMAGE_NO, "5678901"),
                ("targetLoginIdList.1", "a@x.example"),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(!t.sim.set_status("0000001", "CREAT"));

    let missing = [
        (ADD, vec![("targetLoginIdList.1", "a@x.example")]),
        (ADD, vec![(IMAGE_NO, "1234567")]),
        (REMOVE, vec![(IMAGE_NO, "1234567")]),
        (DETAIL, vec![]),
        (
            ADD,
            vec![(IMAGE_NO, "12ab"), ("targetLoginIdList.1", "a@x.example")],
        ),
        (
            ADD,
            vec![(IMAGE_NO, "1234567"), ("targetLoginIdList.1", "bad\u{7}id")],
        ),
        (LIST, vec![("pageNo", "1")]),
        ("getServerImageDetail", vec![]),
    ];
    for (op, params) in missing {
        let answer = owner.go_post(op, &params).await;
        assert_eq!(
            answer.service_code(),
            ERR_INVALID_PARAMETER,
            "{op} {params:?}"
        );
    }

    let unknown = owner.go_post("deleteEverything", &[]).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.gateway_code(), "300");
    let outside = owner
        .send(Raw::new("GET", "/server/v2/getServerImageList"))
        .await;
    assert_eq!(outside.status, 404);
    assert_eq!(outside.gateway_code(), "300");
    assert_eq!(
        t.sim.calls().last().unwrap().operation,
        "/server/v2/getServerImageList"
    );
}

#[tokio::test]
async fn member_lists_filter_and_page() {
    let t = spawn_sim().await;
    let owner = t.owner();
    let page = owner
        .get(LIST, &[("pageNo", "2"), ("pageSize", "1")])
        .await
        .inner(LIST);
    assert_eq!(page["totalRows"], 3);
    assert_eq!(
        numbers(&page["memberServerImageInstanceList"], IMAGE_NO),
        ["2345678"]
    );

    let by_status = owner
        .get(LIST, &[("memberServerImageInstanceStatusCode", "INIT")])
        .await
        .inner(LIST);
    assert_eq!(
        numbers(&by_status["memberServerImageInstanceList"], IMAGE_NO),
        ["5678901"]
    );

    let by_name = owner
        .get(LIST, &[("memberServerImageName", "golden-db")])
        .await
        .inner(LIST);
    assert_eq!(
        numbers(&by_name["memberServerImageInstanceList"], IMAGE_NO),
        ["2345678"]
    );

    // A KVM number in the filter simply matches nothing on the member side.
    let picked = owner
        .get(
            LIST,
            &[
                ("memberServerImageInstanceNoList.1", "3456789"),
                ("memberServerImageInstanceNoList.3", "1234567"),
            ],
        )
        .await
        .inner(LIST);
    assert_eq!(picked["totalRows"], 1);
    assert_eq!(
        numbers(&picked["memberServerImageInstanceList"], IMAGE_NO),
        ["1234567"]
    );

    let mut extra = SimImage::new("1234", "golden-new", "owner@corp.example", Hypervisor::Xen);
    extra.shared_with = vec!["z@x.example".into()];
    t.sim.add_image(extra);
    let all = owner.get(LIST, &[]).await.inner(LIST);
    assert_eq!(
        numbers(&all["memberServerImageInstanceList"], IMAGE_NO),
        ["1234", "1234567", "2345678", "5678901"]
    );
    assert_eq!(
        all["memberServerImageInstanceList"][0]["shareStatus"]["code"],
        "SHARE"
    );
}

#[tokio::test]
async fn injected_failures_answer_gateway_errors_and_change_nothing() {
    let t = spawn_sim().await;
    let owner = t.owner();
    let add = || {
        owner.go_post(
            ADD,
            &[
                (IMAGE_NO, "1234567"),
                ("targetLoginIdList.1", "a@x.example"),
            ],
        )
    };

    t.sim.fail_next(2, 429);
    t.sim.fail_next(1, 503);
    let expected = [
        (429, "420", "Rate Limited"),
        (429, "420", "Rate Limited"),
        (503, "500", "Endpoint Error"),
    ];
    for (status, code, message) in expected {
        let answer = add().await;
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(
            answer.json(),
            json!({"error": {"errorCode": code, "message": message, "details": ""}})
        );
        assert!(t.sim.shared_with("1234567").is_empty());
    }
    assert_eq!(add().await.status, 200);
    assert_eq!(t.sim.shared_with("1234567"), ["a@x.example"]);

    // A queued failure is not spent on a call that fails authentication.
    t.sim.fail_next(1, 503);
    let intruder = t.caller(DEMO_ACCESS_KEY, "wrong");
    assert_eq!(intruder.go_post(LIST, &[]).await.status, 401);
    assert_eq!(owner.go_post(LIST, &[]).await.status, 503);
    assert_eq!(owner.go_post(LIST, &[]).await.status, 200);

    let remove = || {
        owner.go_post(
            REMOVE,
            &[
                (IMAGE_NO, "1234567"),
                ("targetLoginIdList.1", "a@x.example"),
            ],
        )
    };
    t.sim.set_faults(Faults {
        rate_503: 1.0,
        ..Faults::default()
    });
    assert_eq!(remove().await.gateway_code(), "500");
    t.sim.set_faults(Faults {
        rate_429: 1.0,
        ..Faults::default()
    });
    assert_eq!(remove().await.gateway_code(), "420");
    assert_eq!(t.sim.shared_with("1234567"), ["a@x.example"]);

    t.sim.set_faults(Faults {
        latency: Duration::from_millis(200),
        ..Faults::default()
    });
    let started = Instant::now();
    assert_eq!(remove().await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(t.sim.shared_with("1234567").is_empty());

    let statuses: Vec<u16> = t.sim.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [429, 429, 503, 200, 401, 503, 200, 503, 429, 200]);
    t.sim.clear_calls();
    assert!(t.sim.calls().is_empty());
}

#[tokio::test]
async fn the_call_log_records_which_signature_header_was_used() {
    let t = spawn_sim().await;
    let owner = t.owner();
    owner.go_post(LIST, &[]).await;
    owner.get(LIST, &[]).await;
    let mut raw = Raw::new("GET", "/vserver/v2/getServerImageList");
    raw.signature_header = None;
    owner.send(raw).await;
    let mut raw = Raw::new(
        "GET",
        "/vserver/v2/getServerImageList?responseFormatType=json",
    );
    raw.signature_header = Some(SIGNATURE_V1_HEADER);
    owner.send(raw).await;

    let calls = t.sim.calls();
    let seen: Vec<_> = calls
        .iter()
        .map(|c| (c.signature_header, c.status))
        .collect();
    assert_eq!(
        seen,
        [
            (Some("v1"), 200),
            (Some("v2"), 200),
            (None, 401),
            (Some("v1"), 200)
        ]
    );
    assert_eq!(
        calls[3].path_and_query,
        "/vserver/v2/getServerImageList?responseFormatType=json"
    );
}

#[tokio::test]
async fn a_stopped_simulator_no_longer_answers() {
    let t = spawn_sim().await;
    let url = t.running.base_url.clone();
    assert_eq!(t.owner().go_post(LIST, &[]).await.status, 200);
    t.running.shutdown().await;
    let fresh = crate::harness::ncp::http_client();
    assert!(
        fresh
            .get(format!("{url}/vserver/v2/{LIST}"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_all_land_exactly_once() {
    let t = spawn_sim().await;
    let ids: Vec<String> = (0..20).map(|n| format!("user{n}@x.example")).collect();
    let calls = ids.iter().chain(ids.iter()).map(|id| {
        let owner = t.owner();
        let id = id.clone();
        tokio::spawn(async move {
            owner
                .go_post(ADD, &[(IMAGE_NO, "1234567"), ("targetLoginIdList.1", &id)])
                .await
                .status
        })
    });
    for call in calls.collect::<Vec<_>>() {
        assert_eq!(call.await.unwrap(), 200);
    }
    let mut shared = t.sim.shared_with("1234567");
    shared.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(shared, expected, "each ID once, none lost");
}
