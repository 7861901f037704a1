//! Every malformed, forged, stale or oversized delivery to `/jira/webhook` and `/webhook` gets the
//! 4xx its case names (401 for a bad signature, 403 for speaking for another system, 413 for too
//! big, 400 for a malformed body, with the reason), never a 5xx, and nothing is stored: no
//! request, no ledger record.

use crate::harness::fixtures::*;
use crate::harness::refused::assert_refused;
use crate::harness::spawn_app;
use ncp_share_approver::secrets::SecretString;
use serde_json::json;

#[derive(Default)]
struct Case {
    name: &'static str,
    path: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    /// The status it must get, and what its reply must say.
    want: (u16, &'static str),
}

impl Case {
    fn answers(mut self, status: u16, says: &'static str) -> Self {
        self.want = (status, says);
        self
    }
}

fn jira(name: &'static str, body: impl Into<Vec<u8>>, secret: &str) -> Case {
    let body = body.into();
    let sig = ncp_share_approver::verify::jira::sign(&SecretString::from(secret), &body);
    Case {
        name,
        path: "/jira/webhook",
        body,
        headers: vec![
            ("x-hub-signature", sig),
            ("x-atlassian-webhook-identifier", format!("bad-{name}")),
        ],
        ..Case::default()
    }
}

fn hook(name: &'static str, body: impl Into<Vec<u8>>, id: &str, ts: i64, secret: &str) -> Case {
    let body = body.into();
    let sig = ncp_share_approver::verify::standard_webhooks::sign(
        &SecretString::from(secret),
        id,
        ts,
        &body,
    )
    .unwrap();
    Case {
        name,
        path: "/webhook",
        body,
        headers: vec![
            ("webhook-id", id.to_string()),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", sig),
        ],
        ..Case::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_forged_stale_and_oversized_ticket_deliveries_get_4xx_and_change_nothing() {
    let t = spawn_app().with_tickets().start().await;
    let now = chrono::Utc::now().timestamp();
    let created = t
        .jira
        .create_issue(
            "SHARE-1",
            J_CAROL,
            json!({"customfield_10050": "1234567", "customfield_10051": "a@partner.example"}),
        )
        .to_string();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&created).unwrap();
        f(&mut v);
        v.to_string()
    };
    let good_request = json!({
        "type": "share.requested", "ticket": {"system": "servicenow", "id": "T1"},
        "requester": "servicenow:sn-carol", "image_no": "1234567", "targets": ["a@partner.example"]
    });
    let req_with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good_request.clone();
        f(&mut v);
        v.to_string()
    };
    let pad = "x".repeat(70 * 1024);
    let mut cases = vec![
        // Jira.
        Case { name: "jira unsigned", path: "/jira/webhook", body: created.clone().into(), headers: vec![("x-atlassian-webhook-identifier", "u".into())], ..Case::default() }.answers(401, ""),
        jira("jira another secret", created.clone(), "not-the-secret").answers(401, ""),
        Case { name: "jira sha1 signature", path: "/jira/webhook", body: created.clone().into(),
               headers: vec![("x-hub-signature", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59".into())], ..Case::default() }.answers(401, ""),
        Case { name: "jira no delivery id", path: "/jira/webhook", body: created.clone().into(),
               headers: vec![("x-hub-signature", ncp_share_approver::verify::jira::sign(&SecretString::from(JIRA_SECRET), created.as_bytes()))], ..Case::default() }.answers(400, "header `x-atlassian-webhook-identifier` is missing"),
        jira("jira not json", "{not json", JIRA_SECRET).answers(400, "the body is not JSON"),
        jira("jira not utf-8", b"{\"webhookEvent\":\"\xff\"}".to_vec(), JIRA_SECRET).answers(400, "the body is not JSON"),
        jira("jira empty", "", JIRA_SECRET).answers(400, "the body is not JSON"),
        jira("jira no event name", with(&|v| { v.as_object_mut().unwrap().remove("webhookEvent"); }), JIRA_SECRET).answers(400, "`webhookEvent` is missing"),
        jira("jira no issue", with(&|v| { v.as_object_mut().unwrap().remove("issue"); }), JIRA_SECRET).answers(400, "`issue` is missing"),
        jira("jira bad issue key", with(&|v| v["issue"]["key"] = json!("SHARE-1/../../x")), JIRA_SECRET).answers(400, "`issue.key` is missing or not an issue key"),
        jira("jira issue key a number", with(&|v| v["issue"]["key"] = json!(42)), JIRA_SECRET).answers(400, "`issue.key` is missing or not an issue key"),
        jira("jira comment without id", with(&|v| { v["webhookEvent"] = json!("comment_created"); v["comment"] = json!({"body": "/approve", "author": {"accountId": J_ALICE}}); }), JIRA_SECRET).answers(400, "`comment.id` is missing"),
        jira("jira comment id a path", with(&|v| { v["webhookEvent"] = json!("comment_created"); v["comment"] = json!({"id": "1/../2", "body": "/approve", "author": {"accountId": J_ALICE}}); }), JIRA_SECRET).answers(400, "`comment.id` is not a number"),
        jira("jira comment without author", with(&|v| { v["webhookEvent"] = json!("comment_created"); v["comment"] = json!({"id": "1", "body": "/approve"}); }), JIRA_SECRET).answers(400, "`comment.author.accountId` is missing"),
        jira("jira oversized", with(&|v| v["pad"] = json!(pad)), JIRA_SECRET).answers(413, "length limit exceeded"),
        // Generic webhook.
        Case { name: "hook unsigned", path: "/webhook", body: good_request.to_string().into(), headers: vec![], ..Case::default() }.answers(401, ""),
        hook("hook another secret", good_request.to_string(), "msg_a", now, "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").answers(401, ""),
        hook("hook stale", good_request.to_string(), "msg_b", now - 301, WEBHOOK_SECRET).answers(401, ""),
        hook("hook future", good_request.to_string(), "msg_c", now + 400, WEBHOOK_SECRET).answers(401, ""),
        hook("hook id with a dot", good_request.to_string(), "msg.d", now, WEBHOOK_SECRET).answers(401, ""),
        hook("hook not json", "{", "msg_e", now, WEBHOOK_SECRET).answers(400, "the body is not JSON"),
        hook("hook empty", "", "msg_f", now, WEBHOOK_SECRET).answers(400, "the body is not JSON"),
        hook("hook no type", req_with(&|v| { v.as_object_mut().unwrap().remove("type"); }), "msg_g", now, WEBHOOK_SECRET).answers(400, "`type` is missing"),
        hook("hook unknown type", req_with(&|v| v["type"] = json!("share.exploded")), "msg_h", now, WEBHOOK_SECRET).answers(400, "unknown type \"share.exploded\""),
        hook("hook unknown field", req_with(&|v| v["admin"] = json!(true)), "msg_i", now, WEBHOOK_SECRET).answers(400, "unknown field `admin`"),
        hook("hook missing targets", req_with(&|v| { v.as_object_mut().unwrap().remove("targets"); }), "msg_j", now, WEBHOOK_SECRET).answers(400, "missing field `targets`"),
        hook("hook bad image", req_with(&|v| v["image_no"] = json!("12ab")), "msg_k", now, WEBHOOK_SECRET).answers(400, "`12ab` is not an image number"),
        hook("hook image a number", req_with(&|v| v["image_no"] = json!(1234567)), "msg_l", now, WEBHOOK_SECRET).answers(400, "invalid type: integer `1234567`, expected a string"),
        hook("hook bad target", req_with(&|v| v["targets"] = json!(["<!channel>"])), "msg_m", now, WEBHOOK_SECRET).answers(400, "login ID `<!channel>` contains the character '<'"),
        hook("hook no targets", req_with(&|v| v["targets"] = json!([])), "msg_n", now, WEBHOOK_SECRET).answers(400, "name at least one login ID"),
        hook("hook bad duration", req_with(&|v| v["duration"] = json!("forever")), "msg_o", now, WEBHOOK_SECRET).answers(400, "`forever` is not a duration"),
        hook("hook bad action", req_with(&|v| v["action"] = json!("delete")), "msg_p", now, WEBHOOK_SECRET).answers(400, "action: \"delete\" is not share, unshare or set"),
        hook("hook slack identity", req_with(&|v| { v["ticket"]["system"] = json!("slack"); v["requester"] = json!("slack:U056CAROL"); }), "msg_q", now, WEBHOOK_SECRET).answers(403, "may only ask for \"servicenow\" tickets, not \"slack\""),
        hook("hook requester of another system", req_with(&|v| v["requester"] = json!("zendesk:sn-carol")), "msg_r", now, WEBHOOK_SECRET).answers(403, "speaks for \"servicenow\" accounts only"),
        hook("hook requester not an identity", req_with(&|v| v["requester"] = json!("sn-carol")), "msg_s", now, WEBHOOK_SECRET).answers(400, "\"sn-carol\" is not an identity"),
        hook("hook callback elsewhere", req_with(&|v| v["callback_url"] = json!("https://evil.example/")), "msg_t", now, WEBHOOK_SECRET).answers(400, "callback_url host \"evil.example\" is not allowed"),
        hook("hook callback not a url", req_with(&|v| v["callback_url"] = json!("not a url")), "msg_u", now, WEBHOOK_SECRET).answers(400, "callback_url is not an absolute URL"),
        hook("hook bad request id", json!({"type": "share.approved", "request_id": "SR-1", "actor": "servicenow:sn-alice"}).to_string(), "msg_v", now, WEBHOOK_SECRET).answers(400, "`SR-1` is not a request id"),
        hook("hook approval as jira", json!({"type": "share.approved", "request_id": "SR-00000000", "actor": "jira:acc-alice"}).to_string(), "msg_w", now, WEBHOOK_SECRET).answers(403, "not for \"jira\""),
        hook("hook reason on approval", json!({"type": "share.approved", "request_id": "SR-00000000", "actor": "servicenow:sn-alice", "reason": "x"}).to_string(), "msg_x", now, WEBHOOK_SECRET).answers(400, "`reason` is only for share.denied"),
        hook("hook oversized", req_with(&|v| v["reason"] = json!(pad)), "msg_y", now, WEBHOOK_SECRET).answers(413, "length limit exceeded"),
    ];
    // A repeated signature header lets a proxy and the origin disagree: refused.
    let mut twice = hook(
        "hook two signature headers",
        good_request.to_string(),
        "msg_z",
        now,
        WEBHOOK_SECRET,
    )
    .answers(401, "");
    twice.headers.push(("webhook-signature", "v1,AAAA".into()));
    cases.push(twice);

    let http = reqwest::Client::new();
    for case in &cases {
        let mut req = http
            .post(format!("{}{}", t.base, case.path))
            .body(case.body.clone());
        for (k, v) in &case.headers {
            req = req.header(*k, v);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_refused(case.name, status, &text, case.want);
    }
    assert!(t.store().requests(None, 10).await.unwrap().is_empty());
    assert!(t.store().audit_records(0, 10).await.unwrap().is_empty());
    t.jira_idle().await;
    assert!(t.jira.bot_comments("SHARE-1").is_empty());
}
