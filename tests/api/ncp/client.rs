//! Our signed client against the simulator: every operation, KVM routing, errors and retries.

use crate::harness::ncp::{self as helpers, TestNcp};
use ncp_share_approver::domain::{ImageNo, LoginId};
use ncp_share_approver::ncp::{CloudApi, Hypervisor, NcpError};

fn ids(v: &[&str]) -> Vec<LoginId> {
    v.iter().map(|s| LoginId::parse(s).unwrap()).collect()
}

fn no(s: &str) -> ImageNo {
    ImageNo::parse(s).unwrap()
}

#[tokio::test]
async fn image_lookup_tells_xen_from_kvm() {
    let ncp = TestNcp::start().await;
    let xen = ncp.client.image(&no("1234567")).await.unwrap();
    assert_eq!(
        (xen.hypervisor, xen.name.as_str(), xen.status.as_str()),
        (Hypervisor::Xen, "golden-web", "CREAT")
    );
    let kvm = ncp.client.image(&no("3456789")).await.unwrap();
    assert_eq!(
        (kvm.hypervisor, kvm.name.as_str()),
        (Hypervisor::Kvm, "sandbox-ubuntu")
    );
    // The KVM lookup went to the server-image API after the member API refused it.
    let ops = ncp.operations();
    assert!(ops.contains(&"getServerImageDetail".to_string()), "{ops:?}");
}

#[tokio::test]
async fn an_unknown_image_and_another_accounts_image_are_not_found() {
    let ncp = TestNcp::start().await;
    for n in ["1111111", "9999999"] {
        let err = ncp.client.image(&no(n)).await.unwrap_err();
        assert_eq!(err, NcpError::ImageNotFound(no(n)));
    }
}

#[tokio::test]
async fn add_remove_and_set_change_a_xen_share_list() {
    let ncp = TestNcp::start().await;
    let img = ncp.client.image(&no("1234567")).await.unwrap();
    let after = ncp
        .client
        .add_sharing(&img, &ids(&["a@partner.example", "b@partner.example"]))
        .await
        .unwrap();
    assert_eq!(
        after.shared_with,
        vec!["a@partner.example", "b@partner.example"]
    );
    let after = ncp
        .client
        .remove_sharing(&img, &ids(&["a@partner.example"]))
        .await
        .unwrap();
    assert_eq!(after.shared_with, vec!["b@partner.example"]);
    let after = ncp
        .client
        .set_sharing(&img, &ids(&["c@partner.example", "d@partner.example"]))
        .await
        .unwrap();
    assert_eq!(
        after.shared_with,
        vec!["c@partner.example", "d@partner.example"]
    );
    let after = ncp.client.set_sharing(&img, &[]).await.unwrap();
    assert!(after.shared_with.is_empty());
    assert!(ncp.sim.image("1234567").unwrap().shared_with.is_empty());
    let ops = ncp.operations();
    for op in [
        "addMemberServerImageSharingPermission",
        "removeMemberServerImageSharingPermission",
        "setMemberServerImageSharingPermission",
    ] {
        assert!(ops.contains(&op.to_string()), "{op} not called: {ops:?}");
    }
}

#[tokio::test]
async fn kvm_images_use_the_server_image_apis_even_for_set() {
    let ncp = TestNcp::start().await;
    let img = ncp.client.image(&no("3456789")).await.unwrap();
    let after = ncp
        .client
        .add_sharing(&img, &ids(&["a@corp.example", "b@corp.example"]))
        .await
        .unwrap();
    assert_eq!(after.shared_with, vec!["a@corp.example", "b@corp.example"]);
    let after = ncp
        .client
        .set_sharing(&img, &ids(&["b@corp.example", "c@corp.example"]))
        .await
        .unwrap();
    assert_eq!(after.shared_with, vec!["b@corp.example", "c@corp.example"]);
    let after = ncp
        .client
        .remove_sharing(&img, &ids(&["b@corp.example"]))
        .await
        .unwrap();
    assert_eq!(after.shared_with, vec!["c@corp.example"]);
    let ops = ncp.operations();
    assert!(
        !ops.iter().any(|o| o.contains("MemberServerImageSharing")),
        "a KVM image must never reach the member sharing APIs: {ops:?}"
    );
    assert!(ops.contains(&"addServerImageSharingPermission".to_string()));
    assert!(ops.contains(&"removeServerImageSharingPermission".to_string()));
}

#[tokio::test]
async fn awkward_login_ids_round_trip_unchanged() {
    let ncp = TestNcp::start().await;
    let awkward = [
        "a+b@x.example",
        "a&b=c%d@x.example",
        "with space@x.example",
        "모두@회사.한국",
        "50%off@x.example",
    ];
    let img = ncp.client.image(&no("1234567")).await.unwrap();
    ncp.client.add_sharing(&img, &ids(&awkward)).await.unwrap();
    let read = ncp.client.image(&no("1234567")).await.unwrap();
    assert_eq!(read.shared_with, awkward);
    assert_eq!(ncp.sim.image("1234567").unwrap().shared_with, awkward);
    // Nothing from a login ID reached the wire unencoded.
    let add = ncp
        .sim
        .calls()
        .into_iter()
        .find(|c| c.operation == "addMemberServerImageSharingPermission")
        .unwrap();
    for raw in ["+", "&b", "=c", " ", "모"] {
        assert!(
            !add.path_and_query.contains(raw),
            "{raw:?} unencoded in {}",
            add.path_and_query
        );
    }
}

#[tokio::test]
async fn images_lists_member_and_kvm_images_of_the_account_only() {
    let ncp = TestNcp::start().await;
    let mut all: Vec<String> = ncp
        .client
        .images()
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.no.to_string())
        .collect();
    all.sort();
    assert_eq!(
        all,
        vec!["1234567", "2345678", "3456789", "4567890", "5678901"]
    );
}

#[tokio::test]
async fn paging_collects_more_than_one_page() {
    let ncp = TestNcp::start().await;
    for i in 0..1100u32 {
        ncp.sim
            .add_image(helpers::xen_image(&format!("{}", 7_000_000 + i), "bulk"));
    }
    let n = ncp.client.images().await.unwrap().len();
    assert_eq!(n, 1105);
}

#[tokio::test]
async fn a_service_error_keeps_ncps_code_and_message_and_is_not_retried() {
    let ncp = TestNcp::start().await;
    let wip = ncp.client.image(&no("5678901")).await.unwrap();
    assert_eq!(wip.status, "INIT");
    ncp.sim.clear_calls();
    let err = ncp
        .client
        .add_sharing(&wip, &ids(&["a@partner.example"]))
        .await
        .unwrap_err();
    match &err {
        NcpError::Service {
            status: 400,
            code,
            message,
        } => {
            assert!(!code.is_empty());
            assert!(!message.is_empty());
        }
        other => panic!("expected a service error, got {other:?}"),
    }
    assert_eq!(ncp.sim.calls().len(), 1, "a 400 must not be retried");
}

#[tokio::test]
async fn throttling_and_unavailability_are_retried_then_succeed() {
    let ncp = TestNcp::start().await;
    ncp.sim.fail_next(1, 429);
    ncp.sim.fail_next(2, 503);
    let view = ncp.client.image(&no("1234567")).await.unwrap();
    assert_eq!(view.name, "golden-web");
    let statuses: Vec<u16> = ncp.sim.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![429, 503, 503, 200]);
    // Every attempt carried its own signature and timestamp.
    assert!(
        ncp.sim
            .calls()
            .iter()
            .all(|c| c.signature_header == Some("v2"))
    );
}

#[tokio::test]
async fn giving_up_after_the_budget_returns_the_last_error() {
    let ncp = TestNcp::start().await;
    ncp.sim.fail_next(50, 503);
    let err = ncp.client.image(&no("1234567")).await.unwrap_err();
    assert!(
        matches!(&err, NcpError::Gateway { status: 503, code, .. } if code == "500"),
        "{err:?}"
    );
    assert_eq!(ncp.sim.calls().len(), helpers::TEST_ATTEMPTS as usize);
}

#[tokio::test]
async fn a_wrong_secret_key_is_an_authentication_failure_naming_only_a_masked_access_key() {
    let ncp = TestNcp::start_with_secret("definitely-not-the-secret").await;
    let err = ncp.client.image(&no("1234567")).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, NcpError::Authentication { .. }), "{err:?}");
    assert!(!text.contains(helpers::DEMO_ACCESS_KEY), "{text}");
    assert!(!text.contains("definitely-not-the-secret"), "{text}");
    assert!(!text.contains(helpers::DEMO_SECRET_KEY), "{text}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transport_error_after_retries() {
    let ncp = TestNcp::unreachable().await;
    let err = ncp.client.image(&no("1234567")).await.unwrap_err();
    assert!(matches!(err, NcpError::Transport { .. }), "{err:?}");
    assert!(err.is_transient());
}

/// One scenario, driven once by a Go-SDK-style caller (POST, form body, `-v1` header) and once
/// by our client (GET, signed query, `-v2` header), on two fresh simulators: same results.
#[tokio::test]
async fn a_go_sdk_style_client_and_ours_get_the_same_behaviour() {
    let ours = TestNcp::start().await;
    let go_sim = helpers::spawn_sim().await;
    let go = go_sim.owner();
    let list = |v: &serde_json::Value| -> Vec<String> {
        v["memberServerImageInstanceList"][0]["sharedLoginIdList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let add = "addMemberServerImageSharingPermission";
    let remove = "removeMemberServerImageSharingPermission";
    let set = "setMemberServerImageSharingPermission";
    let no_key = "memberServerImageInstanceNo";

    // add two (one awkward), remove one, set two: each step leaves the same list.
    let img = ours.client.image(&no("1234567")).await.unwrap();
    let a = ours
        .client
        .add_sharing(&img, &ids(&["a+b@x.example", "c@x.example"]))
        .await
        .unwrap();
    let g = go
        .go_post(
            add,
            &[
                (no_key, "1234567"),
                ("targetLoginIdList.1", "a+b@x.example"),
                ("targetLoginIdList.2", "c@x.example"),
            ],
        )
        .await;
    assert_eq!(a.shared_with, list(&g.go_sdk_inner()));

    let a = ours
        .client
        .remove_sharing(&img, &ids(&["c@x.example"]))
        .await
        .unwrap();
    let g = go
        .go_post(
            remove,
            &[(no_key, "1234567"), ("targetLoginIdList.1", "c@x.example")],
        )
        .await;
    assert_eq!(a.shared_with, list(&g.go_sdk_inner()));

    let a = ours
        .client
        .set_sharing(&img, &ids(&["d@x.example", "모두@회사.한국"]))
        .await
        .unwrap();
    let g = go
        .go_post(
            set,
            &[
                (no_key, "1234567"),
                ("targetLoginIdList.1", "d@x.example"),
                ("targetLoginIdList.2", "모두@회사.한국"),
            ],
        )
        .await;
    assert_eq!(a.shared_with, list(&g.go_sdk_inner()));
    assert_eq!(
        ours.sim.shared_with("1234567"),
        go_sim.sim.shared_with("1234567")
    );

    // The same refusals: a KVM image on the member API, an image still INIT.
    let g = go
        .go_post(
            add,
            &[(no_key, "3456789"), ("targetLoginIdList.1", "x@x.example")],
        )
        .await;
    let kvm_code = g.service_code();
    let member_kvm = ours.sim.calls().into_iter().find(|c| {
        c.operation == "getMemberServerImageInstanceDetail" && c.param(no_key) == Some("3456789")
    });
    assert!(member_kvm.is_none(), "not looked up yet");
    ours.client.image(&no("3456789")).await.unwrap();
    let refused = ours
        .sim
        .calls()
        .into_iter()
        .find(|c| {
            c.operation == "getMemberServerImageInstanceDetail"
                && c.param(no_key) == Some("3456789")
        })
        .expect("our client asked the member API first");
    assert_eq!(refused.status, 400);
    assert_eq!(
        kvm_code,
        ncp_share_approver::ncp::sim::ERR_KVM_NOT_SUPPORTED
    );

    let g = go
        .go_post(
            add,
            &[(no_key, "5678901"), ("targetLoginIdList.1", "x@x.example")],
        )
        .await;
    let wip = ours.client.image(&no("5678901")).await.unwrap();
    let err = ours
        .client
        .add_sharing(&wip, &ids(&["x@x.example"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(g.service_code().as_str()));

    // And the Go-style calls were really signed the Go way.
    assert!(
        go_sim
            .sim
            .calls()
            .iter()
            .all(|c| c.method == "POST" && c.signature_header == Some("v1"))
    );
    assert!(
        ours.sim
            .calls()
            .iter()
            .all(|c| c.method == "GET" && c.signature_header == Some("v2"))
    );
}
