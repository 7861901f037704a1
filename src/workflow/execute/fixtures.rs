//! Requests and grants for the execution's unit tests, written short: `"a b"` stands for the
//! login IDs a@x.example and b@x.example.

use crate::domain::{Grant, ImageNo, LoginId, Origin, RequestId, RequestState, ShareRequest};
use crate::policy::{Action, Identity};
use chrono::{DateTime, TimeZone, Utc};

/// 2025-03-01 at `h`:00 UTC.
pub fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, h, 0, 0).unwrap()
}

/// The login IDs `list` stands for.
pub fn ids(list: &str) -> Vec<LoginId> {
    list.split_whitespace()
        .map(|t| LoginId::parse(&format!("{t}@x.example")).unwrap())
        .collect()
}

/// The share list `list` stands for.
pub fn list(list: &str) -> Vec<String> {
    ids(list).iter().map(|t| t.as_str().to_string()).collect()
}

/// A request of `action` for `targets` ("a b" means a@x.example, b@x.example), asked when the
/// share list was `when_asked`.
pub fn request(action: Action, targets: &str, when_asked: &str) -> ShareRequest {
    ShareRequest {
        id: RequestId::parse("SR-7K3M9Q2X").unwrap(),
        version: 1,
        state: RequestState::Executing,
        origin: Origin::Slack {
            team_id: "T1".into(),
            channel_id: "C1".into(),
            response_url: None,
        },
        requester: Identity::new("slack", "U1").unwrap(),
        requester_person: None,
        image_no: ImageNo::parse("1234567").unwrap(),
        image_name: "golden".into(),
        hypervisor: None,
        region: "KR".into(),
        action,
        targets: ids(targets),
        duration: None,
        reason: None,
        shared_with_when_asked: list(when_asked),
        fingerprint: String::new(),
        policy_hash: "p".into(),
        rule: None,
        approvers: vec![],
        min_approvals: 1,
        allow_self_approval: false,
        approval_channel: None,
        works_channel: None,
        created_at: at(10),
        updated_at: at(10),
        expires_at: at(11),
        attempts: 1,
        outcome: None,
        lifecycle: Default::default(),
        trace_id: None,
    }
}

/// A grant of `target` made by request `by`, ending at `ends_at` and ended at `ended_at` (hours).
pub fn grant(target: &str, by: &str, ends_at: Option<u32>, ended_at: Option<u32>) -> Grant {
    Grant {
        image_no: ImageNo::parse("1234567").unwrap(),
        target: ids(target).remove(0),
        request_id: RequestId::parse(by).unwrap(),
        starts_at: at(1),
        ends_at: ends_at.map(at),
        ended_at: ended_at.map(at),
    }
}
