//! What we send, checked against the receivers' own definitions: every Slack payload against
//! Slack's Python SDK (`slack_sdk.models`, `tests/python/slack_blocks_check.py`) and every Jira
//! comment body against Atlassian's ADF JSON Schema (`@atlaskit/adf-schema`'s
//! `json-schema/v1/full.json`, `tests/node/adf_check.mjs`).
//!
//! The corpus test renders every notice and reply for many request shapes (every action, with
//! and without an end, long and odd text, the most targets a command takes, NCP failures,
//! denials, expiry, lifecycle notices, drift reports, every private reply) and validates all of
//! it; the views corpus does the same for the request and extend forms, home tabs, options
//! answers, field errors and confirmations; the end-to-end tests in `slack.rs` and `jira.rs` hand what the fakes received to
//! [`check_slack_calls`] and [`check_jira_calls`]. Under CI (`CI` set; `.ci/run` installs both
//! validators) a missing validator fails the test; elsewhere the check is skipped with a reason.

use crate::harness::fake_jira::JiraCall;
use chrono::{DateTime, TimeZone, Utc};
use ncp_share_approver::domain::{
    Approval, DriftFinding, DriftKind, Grant, ImageNo, LoginId, NoticeFacts, Origin, Outcome,
    RequestId, RequestState, RevocationCause, ShareDuration, ShareRequest,
};
use ncp_share_approver::http::slack::{command, replies};
use ncp_share_approver::ncp::{Hypervisor, ImageView};
use ncp_share_approver::notify::jira::render as jira_render;
use ncp_share_approver::notify::slack::SlackCall;
use ncp_share_approver::notify::slack::render;
use ncp_share_approver::notify::slack::views;
use ncp_share_approver::notify::{GrantsEnded, Notice};
use ncp_share_approver::policy::{Action, Identity, PersonName};
use ncp_share_approver::workflow::ActOutcome;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

// ---------------------------------------------------------------------------------------------
// The validators

/// Whether a validator can run: under CI a missing one fails, elsewhere it is skipped with why.
fn available(what: &str, ok: bool, install: &str) -> bool {
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the {what} validator cannot run ({install}; `.ci/run` does it)"
        );
        eprintln!(
            "skipped: the {what} validator is not installed ({install}; bash .ci/run does it)"
        );
    }
    ok
}

fn slack_validator() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import slack_sdk.models.blocks"])
        .output()
        .is_ok_and(|o| o.status.success());
    available(
        "Slack (slack_sdk)",
        ok,
        "`python3 -m pip install slack-sdk==3.48.0`",
    )
}

fn adf_validator() -> bool {
    let node = Path::new(ROOT).join("tests/node");
    let ok = node
        .join("node_modules/@atlaskit/adf-schema/json-schema/v1/full.json")
        .is_file()
        && node.join("node_modules/ajv-draft-04").is_dir()
        && Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    available(
        "Jira ADF (@atlaskit/adf-schema)",
        ok,
        "`npm ci` in tests/node, with Node.js installed",
    )
}

/// Writes each `(name, body)` as `<dir>/<name>.json` and runs `program args.. <dir>`; panics
/// with the validator's own lines for every invalid body.
fn run_validator(what: &str, program: &str, script: &str, bodies: &[(String, Value)]) {
    assert!(!bodies.is_empty(), "no {what} payloads to validate");
    let dir = tempfile::tempdir().unwrap();
    for (i, (name, body)) in bodies.iter().enumerate() {
        let file: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        std::fs::write(
            dir.path().join(format!("{i:04}-{file}.json")),
            serde_json::to_vec_pretty(body).unwrap(),
        )
        .unwrap();
    }
    let out = Command::new(program)
        .arg(Path::new(ROOT).join(script))
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what}: {script} found invalid payloads ({}):\n{stdout}\n{stderr}",
        out.status
    );
    eprintln!("{what}: {}", stderr.trim());
}

/// Validates Slack bodies with `slack_sdk`; skipped (outside CI) when it is not installed.
pub fn check_slack(bodies: &[(String, Value)]) {
    if slack_validator() {
        run_validator(
            "Slack",
            "python3",
            "tests/python/slack_blocks_check.py",
            bodies,
        );
    }
}

/// Validates Jira comment bodies (`{"body": <ADF>}`) against the ADF schema; skipped (outside
/// CI) when the Node packages are not installed.
pub fn check_jira(bodies: &[(String, Value)]) {
    if adf_validator() {
        run_validator("Jira ADF", "node", "tests/node/adf_check.mjs", bodies);
    }
}

/// Everything a fake Slack received (Web API calls and `response_url` posts; for `views.open`,
/// `views.update` and `views.publish` the `view` they carry), plus the HTTP replies to slash
/// commands, options loads and view submissions, validated with `slack_sdk`.
pub fn check_slack_calls(calls: &[SlackCall], replies: &[Value]) {
    let mut bodies: Vec<(String, Value)> = calls
        .iter()
        .filter(|c| c.body.is_object())
        .map(|c| {
            let body = match c.method.as_str() {
                // A views call without a view stays `null`, which the validator refuses.
                "views.open" | "views.update" | "views.publish" => {
                    c.body.get("view").cloned().unwrap_or(Value::Null)
                }
                _ => c.body.clone(),
            };
            (c.method.clone(), body)
        })
        .collect();
    bodies.extend(
        replies
            .iter()
            .map(|r| ("command-reply".to_owned(), r.clone())),
    );
    if !bodies.is_empty() {
        check_slack(&bodies);
    }
}

/// Every comment body a fake Jira received, validated against the ADF schema.
pub fn check_jira_calls(calls: &[JiraCall]) {
    let bodies: Vec<(String, Value)> = calls
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/comment"))
        .map(|c| ("comment".to_owned(), c.body.clone()))
        .collect();
    if !bodies.is_empty() {
        check_jira(&bodies);
    }
}

// ---------------------------------------------------------------------------------------------
// The corpus

fn person(name: &str) -> PersonName {
    serde_json::from_value(json!(name)).unwrap()
}

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, h, 0, 0).unwrap()
}

fn login(s: &str) -> LoginId {
    LoginId::parse(s).unwrap()
}

/// Text from people at its worst: markup, mentions, links, entities, emoji, control
/// characters, right-to-left text, zero-width characters and line breaks.
const ODD: &str = "<!channel> & <@U0ADMIN> <https://evil.example|click> *bold* _it_ ~x~ `code` ```block``` &amp; &lt; \u{7}\u{1b}[31m 😀 👩‍👩‍👧 שלום \u{200b}\u{feff} \r\n> quote\n\n\n• bullet | pipe \\ backslash \"quotes\" 'single' %s {} $HOME";

fn long(unit: &str, chars: usize) -> String {
    unit.chars().cycle().take(chars).collect()
}

/// The longest login ID there can be, numbered so that every one is different.
fn long_login(i: usize) -> LoginId {
    let suffix = format!("{i}@partner.example");
    login(&format!(
        "{}{suffix}",
        long("x&_*~|ü", 254 - suffix.chars().count())
    ))
}

#[derive(Clone)]
struct Shape {
    name: &'static str,
    request: ShareRequest,
}

include!("../fixtures/sample_request.rs");

fn base() -> ShareRequest {
    let targets = vec![login("a@partner.example"), login("b@partner.example")];
    let mut r = sample_request("SR-7K3M9Q2X", at(10), targets);
    r.version = 3;
    r.fingerprint = r.computed_fingerprint();
    r
}

fn grant(target: LoginId, i: usize) -> Grant {
    Grant {
        image_no: ImageNo::parse("1234567").unwrap(),
        target,
        request_id: RequestId::parse("SR-AAAAAAAA").unwrap(),
        starts_at: at(1),
        ends_at: (i % 2 == 0).then(|| at(23)),
        ended_at: None,
    }
}

/// The request shapes every notice is rendered for.
fn shapes() -> Vec<Shape> {
    let many: Vec<LoginId> = (0..command::MAX_TARGETS).map(long_login).collect();
    let mut out = Vec::new();
    let mut add = |name: &'static str, f: &dyn Fn(&mut ShareRequest)| {
        let mut r = base();
        f(&mut r);
        r.fingerprint = r.computed_fingerprint();
        out.push(Shape { name, request: r });
    };
    add("share-7d", &|_| {});
    add("share-no-end", &|r| r.duration = None);
    add("unshare", &|r| {
        r.action = Action::Unshare;
        r.duration = None;
    });
    add("set-diff", &|r| {
        r.action = Action::Set;
        r.duration = None;
        r.shared_with_when_asked = vec!["a@partner.example".into(), "old@partner.example".into()];
    });
    add("set-no-change", &|r| {
        r.action = Action::Set;
        r.shared_with_when_asked = vec!["a@partner.example".into(), "b@partner.example".into()];
    });
    add("set-empty", &|r| {
        r.action = Action::Set;
        r.duration = None;
        r.targets = vec![];
        r.shared_with_when_asked = vec!["old@partner.example".into()];
    });
    add("odd-text", &|r| {
        r.reason = Some(ODD.into());
        r.image_name = ODD.into();
        r.rule = Some(ODD.into());
        r.region = ODD.into();
        r.targets = vec![login("a&b*_~|@partner.example"), login("ü@例え.jp")];
        r.approval_channel = Some(ODD.into());
        r.hypervisor = None;
    });
    add("long-text", &|r| {
        r.reason = Some(long("why & <because> ", 5000));
        r.image_name = long("golden-web-", 400);
        r.rule = Some(long("rule & <x> ", 600));
        r.approvers = (0..40)
            .map(|i| person(&format!("approver-{i}-{}", long("ab", 40))))
            .collect();
        r.min_approvals = 30;
    });
    add("no-reason-whitespace", &|r| {
        r.reason = Some(" \n\t ".into());
        r.image_name = String::new();
    });
    add("no-reason-none-no-rule", &|r| {
        r.reason = None;
        r.rule = None;
        r.approval_channel = None;
        r.requester_person = None;
    });
    let m = many.clone();
    add("max-targets-share", &move |r| {
        r.targets = m.clone();
        r.reason = Some(long("many partners ", 500));
    });
    let m = many.clone();
    add("max-targets-set", &move |r| {
        r.action = Action::Set;
        r.targets = m[..25].to_vec();
        r.shared_with_when_asked = m[25..].iter().map(|t| t.as_str().to_owned()).collect();
    });
    let m = many.clone();
    add("max-targets-unshare", &move |r| {
        r.action = Action::Unshare;
        r.duration = None;
        r.targets = m.clone();
    });
    let m = many.clone();
    add("extension-of-many", &move |r| {
        r.targets = m.clone();
        r.lifecycle.extends = m
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, t)| grant(t, i))
            .collect();
    });
    add("jira-requester", &|r| {
        r.origin = Origin::Jira {
            issue_key: "OPS-42".into(),
        };
        r.requester = Identity::new("jira", "5b10ac8d82e05b22cc7d4ef5").unwrap();
    });
    add("webhook-requester", &|r| {
        r.origin = Origin::Webhook {
            system: "servicenow".into(),
            ticket_id: "RITM0012345".into(),
            callback_url: None,
        };
        r.requester = Identity::new("servicenow", "sn-<carol>&").unwrap();
        r.requester_person = None;
    });
    add("auto-approved", &|r| {
        r.min_approvals = 0;
        r.approvers = vec![];
    });
    add("self-approval-nobody-left", &|r| {
        r.approvers = vec![person("carol")];
        r.min_approvals = 1;
    });
    out
}

fn approval(name: &str, id: &str, approve: bool, comment: Option<&str>) -> Approval {
    Approval {
        request_id: base().id,
        person: person(name),
        identity: Identity::new("slack", id).unwrap(),
        approve,
        at: at(11),
        comment: comment.map(str::to_owned),
    }
}

/// The approval lists a card is rendered with.
fn approval_sets() -> Vec<(&'static str, Vec<Approval>)> {
    vec![
        ("none", vec![]),
        ("one", vec![approval("alice", "U01ALICE", true, None)]),
        (
            "two",
            vec![
                approval("alice", "U01ALICE", true, None),
                approval("bob", "U02BOB", true, Some("ok")),
            ],
        ),
        (
            "many",
            (0..40)
                .map(|i| {
                    approval(
                        &format!("approver-{i}-{}", long("ab", 40)),
                        &format!("U{i:08}"),
                        true,
                        None,
                    )
                })
                .collect(),
        ),
        (
            "denied-odd",
            vec![
                approval("alice", "U01ALICE", true, None),
                approval("bob", "U02BOB", false, Some(ODD)),
            ],
        ),
        (
            "denied-long",
            vec![approval(
                "bob",
                "U02BOB",
                false,
                Some(&long("no & <never> ", 4000)),
            )],
        ),
        (
            "denied-blank",
            vec![approval("bob", "U02BOB", false, Some("   "))],
        ),
    ]
}

/// The states a request is rendered in, each with the outcome the workflow records.
fn states(r: &ShareRequest) -> Vec<(&'static str, ShareRequest)> {
    let mut out = Vec::new();
    let mut with = |name: &'static str, state: RequestState, outcome: Option<Outcome>| {
        let mut s = r.clone();
        s.state = state;
        s.updated_at = at(12);
        s.outcome = outcome;
        out.push((name, s));
    };
    let after: Vec<String> = r.targets.iter().map(|t| t.as_str().to_owned()).collect();
    with("pending", RequestState::Pending, None);
    with("approved", RequestState::Approved, None);
    with("executing", RequestState::Executing, None);
    with(
        "succeeded",
        RequestState::Succeeded,
        Some(Outcome {
            message: format!("{} done", r.action),
            ncp_code: None,
            shared_with_after: Some(after.clone()),
            already_in_place: false,
        }),
    );
    with(
        "succeeded-in-place-nobody",
        RequestState::Succeeded,
        Some(Outcome {
            message: String::new(),
            ncp_code: None,
            shared_with_after: Some(vec![]),
            already_in_place: true,
        }),
    );
    with("succeeded-no-outcome", RequestState::Succeeded, None);
    with(
        "failed-ncp",
        RequestState::Failed,
        Some(Outcome {
            message: "NCP refused: the login ID does not exist (loginId=x@partner.example)".into(),
            ncp_code: Some("3101".into()),
            shared_with_after: None,
            already_in_place: false,
        }),
    );
    with(
        "failed-odd-long",
        RequestState::Failed,
        Some(Outcome {
            message: format!("{ODD} {}", long("<error> & ", 6000)),
            ncp_code: Some(format!("{ODD}-{}", long("9", 300))),
            shared_with_after: None,
            already_in_place: false,
        }),
    );
    with(
        "failed-empty",
        RequestState::Failed,
        Some(Outcome {
            message: "  ".into(),
            ncp_code: None,
            shared_with_after: None,
            already_in_place: false,
        }),
    );
    with(
        "denied",
        RequestState::Denied,
        Some(Outcome {
            message: "denied by bob: not now".into(),
            ..Default::default()
        }),
    );
    with(
        "refused",
        RequestState::Denied,
        Some(Outcome {
            message: format!(
                "no rule allows it: rule \"golden images to partners\" allows only *@partner.example; {ODD}"
            ),
            ..Default::default()
        }),
    );
    with(
        "expired",
        RequestState::Expired,
        Some(Outcome {
            message: "not enough approvals before the deadline".into(),
            ..Default::default()
        }),
    );
    with("cancelled", RequestState::Cancelled, None);
    out
}

fn message(text: String, blocks: Value) -> Value {
    json!({ "channel": "C0APPROVALS", "text": text, "blocks": blocks })
}

fn update(text: String, blocks: Value) -> Value {
    json!({ "channel": "C0APPROVALS", "ts": "1700000000.000100", "text": text, "blocks": blocks })
}

/// A plain-text private reply, as the slash command and click handlers send it.
fn reply(text: impl Into<String>) -> Value {
    json!({ "response_type": "ephemeral", "text": text.into() })
}

/// A `response_url` follow-up, as `SlackFront::follow_up` sends it.
fn follow_up(text: impl Into<String>) -> Value {
    json!({ "response_type": "ephemeral", "replace_original": false, "text": text.into() })
}

fn lifecycle_notices(r: &ShareRequest) -> Vec<(&'static str, Notice)> {
    let many: Vec<LoginId> = (0..command::MAX_TARGETS).map(long_login).collect();
    vec![
        (
            "ending-soon",
            Notice::ShareEndingSoon {
                ends_at: at(20),
                targets: r.targets.clone(),
            },
        ),
        (
            "ending-soon-many",
            Notice::ShareEndingSoon {
                ends_at: at(20),
                targets: many.clone(),
            },
        ),
        (
            "ended-expired",
            Notice::ShareEnded(GrantsEnded {
                by_request: RequestId::parse("SR-BBBBBBBB").unwrap(),
                actor: "system:scheduler".into(),
                cause: Some(RevocationCause::Expired),
                removed: r.targets.clone(),
                kept: vec![],
            }),
        ),
        (
            "ended-revoked-many-kept",
            Notice::ShareEnded(GrantsEnded {
                by_request: RequestId::parse("SR-BBBBBBBB").unwrap(),
                actor: format!("slack:U0ADMIN {ODD}"),
                cause: Some(RevocationCause::Revoked),
                removed: many[..25].to_vec(),
                kept: many[25..].to_vec(),
            }),
        ),
        (
            "ended-unshare-nothing-removed",
            Notice::ShareEnded(GrantsEnded {
                by_request: RequestId::parse("SR-BBBBBBBB").unwrap(),
                actor: "slack:U0ADMIN".into(),
                cause: None,
                removed: vec![],
                kept: r.targets.clone(),
            }),
        ),
        (
            "ended-unmanaged",
            Notice::ShareEnded(GrantsEnded {
                by_request: RequestId::parse("SR-BBBBBBBB").unwrap(),
                actor: "system:reconciler".into(),
                cause: Some(RevocationCause::Unmanaged),
                removed: r.targets.clone(),
                kept: vec![],
            }),
        ),
    ]
}

fn drift_sets() -> Vec<(&'static str, Vec<DriftFinding>)> {
    let finding = |i: usize, name: &str, kind: DriftKind| DriftFinding {
        image_no: ImageNo::parse(&format!("{}", 1_000_000 + i)).unwrap(),
        image_name: name.into(),
        target: long_login(i).as_str().to_owned(),
        kind,
    };
    let missing = || DriftKind::MissingOnNcp {
        request_id: RequestId::parse("SR-CCCCCCCC").unwrap(),
    };
    vec![
        ("none", vec![]),
        (
            "one-unmanaged",
            vec![finding(1, "golden-web", DriftKind::Unmanaged)],
        ),
        ("one-missing", vec![finding(2, "", missing())]),
        (
            "many-odd",
            (0..200)
                .map(|i| {
                    let kind = if i % 2 == 0 {
                        DriftKind::Unmanaged
                    } else {
                        missing()
                    };
                    finding(i, ODD, kind)
                })
                .collect(),
        ),
    ]
}

/// Named request bodies, as the validators take them.
type Bodies = Vec<(String, Value)>;

/// Every Slack payload and Jira comment the renderers produce, named after what they show.
fn corpus() -> (Bodies, Bodies) {
    let mut slack = Vec::new();
    let mut jira = Vec::new();
    let mut jira_blocks = Vec::new();
    let mut s = |name: String, body: Value| slack.push((name, body));
    let mut j = |name: String, paragraphs: Vec<String>| {
        jira.push((name, json!({ "body": jira_render::adf(&paragraphs) })))
    };
    let mut jb = |name: String, blocks: Vec<jira_render::Block>| {
        jira_blocks.push((name, json!({ "body": jira_render::adf_blocks(&blocks) })))
    };
    for shape in shapes() {
        for (state_name, r) in states(&shape.request) {
            let name = format!("{}-{state_name}", shape.name);
            for (set, approvals) in approval_sets() {
                let (t, b) = render::card(&NoticeFacts::of_state(&r, &approvals));
                s(format!("card-{name}-{set}"), update(t.clone(), b.clone()));
                if r.state == RequestState::Pending {
                    s(format!("post-card-{name}-{set}"), message(t, b));
                }
            }
            let f = NoticeFacts::of_state(&r, &[]);
            for (kind, msg) in [
                ("approval", render::approval_card(&f)),
                ("progress", render::progress_card(&f)),
                ("final", render::final_card(&f)),
            ] {
                s(format!("{kind}-{name}"), update(msg.0, msg.1));
            }
            let submitted = render::submitted_reply(&f);
            s(
                format!("submitted-{name}"),
                render::ephemeral_body(submitted.clone()),
            );
            s(format!("submitted-slow-{name}"), follow_up(submitted.0));
            s(
                format!("refused-{name}"),
                render::ephemeral_body(render::refused_reply(&f)),
            );
            let outcome = render::outcome_message(&f);
            s(
                format!("outcome-dm-{name}"),
                message(outcome.0.clone(), outcome.1.clone()),
            );
            s(
                format!("outcome-thread-{name}"),
                json!({"channel": "C0APPROVALS", "thread_ts": "1700000000.000100", "text": outcome.0, "blocks": outcome.1}),
            );
            s(
                format!("status-{name}"),
                reply(replies::status(&r, &approval_sets()[4].1)),
            );
            s(
                format!("status-many-{name}"),
                reply(replies::status(&r, &approval_sets()[3].1)),
            );
            for (act_name, act) in [
                (
                    "counted",
                    ActOutcome::Counted {
                        request: Box::new(r.clone()),
                        remaining: 3,
                    },
                ),
                ("approved", ActOutcome::Approved(Box::new(r.clone()))),
                ("already", ActOutcome::AlreadyCounted(Box::new(r.clone()))),
                ("denied", ActOutcome::Denied(Box::new(r.clone()))),
                ("cancelled", ActOutcome::Cancelled(Box::new(r.clone()))),
                ("not-pending", ActOutcome::NotPending(Box::new(r.clone()))),
            ] {
                let text = replies::act_outcome(&act);
                s(format!("act-{act_name}-{name}"), reply(text.clone()));
                s(format!("click-{act_name}-{name}"), follow_up(text));
            }

            // Jira: the comment for every notice in this state.
            let notices: Vec<(&str, Notice)> = match r.state {
                RequestState::Pending => vec![
                    ("submitted", Notice::Submitted),
                    (
                        "approval-added",
                        Notice::ApprovalAdded(approval_sets()[1].1[0].clone()),
                    ),
                ],
                RequestState::Approved => vec![("approved", Notice::Approved)],
                RequestState::Executing => vec![("executing", Notice::Executing)],
                RequestState::Succeeded => vec![("succeeded", Notice::Succeeded)],
                RequestState::Failed => vec![("failed", Notice::Failed)],
                RequestState::Denied => vec![
                    ("refused", Notice::Refused),
                    ("denied", Notice::Denied(approval_sets()[4].1[1].clone())),
                    (
                        "denied-long",
                        Notice::Denied(approval_sets()[5].1[0].clone()),
                    ),
                    (
                        "denied-no-comment",
                        Notice::Denied(approval("bob", "U02BOB", false, None)),
                    ),
                ],
                RequestState::Expired => vec![("expired", Notice::Expired)],
                RequestState::Cancelled => vec![("cancelled", Notice::Cancelled)],
            };
            for (notice_name, notice) in notices {
                for status in ["Approved", ODD] {
                    // The approvals so far as a comment counts them (the odd status once).
                    for (set, approvals) in approval_sets().into_iter().filter(|(set, _)| {
                        *set == "none"
                            || (status == "Approved" && ["one", "many", "denied-odd"].contains(set))
                    }) {
                        let facts = NoticeFacts::new(&r, &approvals, &notice);
                        if let Some(p) = jira_render::notice_comment(&facts, status) {
                            jb(format!("jira-{notice_name}-{name}-{set}"), p);
                        }
                    }
                }
            }
        }
        // Lifecycle notices are about a request that succeeded.
        let mut done = shape.request.clone();
        done.state = RequestState::Succeeded;
        for (notice_name, notice) in lifecycle_notices(&done) {
            let facts = NoticeFacts::new(&done, &[], &notice);
            let (t, b) = render::lifecycle_message(&facts);
            s(
                format!("lifecycle-{notice_name}-{}", shape.name),
                message(t, b),
            );
            if let Some(p) = jira_render::notice_comment(&facts, "Approved") {
                jb(format!("jira-{notice_name}-{}", shape.name), p);
            }
        }
    }
    for (name, findings) in drift_sets() {
        let (t, b) = render::drift_message(&findings);
        s(format!("drift-{name}"), message(t, b));
    }

    // The slash command's other private replies.
    s(
        "usage".into(),
        reply(command::USAGE.replace("/share-image", "/share-image-staging")),
    );
    let too_many = (0..=command::MAX_TARGETS)
        .map(|i| format!("u{i}@partner.example"))
        .collect::<Vec<_>>()
        .join(",");
    for text in [
        "12ab with a@partner.example".to_owned(),
        "1234567 with".into(),
        "1234567 with a@partner.example for 7y".into(),
        "1234567 frm a@partner.example".into(),
        format!("1234567 with {too_many}"),
        format!(
            "1234567 with a@partner.example because {}",
            long("why ", 600)
        ),
        format!("{ODD} with <@U0ADMIN> because {ODD}"),
        long("1234567 with ", command::MAX_TEXT_CHARS + 10),
        "status SR-BAD".into(),
    ] {
        if let Err(e) = command::parse(&text) {
            s(
                "command-error".into(),
                reply(format!("{e}\n\n{}", command::USAGE)),
            );
        }
    }
    let grants: Vec<Grant> = (0..command::MAX_TARGETS)
        .map(|i| grant(long_login(i), i))
        .collect();
    for (name, shared) in [
        ("list-nobody", vec![]),
        (
            "list-many",
            (0..120)
                .map(|i| long_login(i % 60).as_str().to_owned())
                .collect(),
        ),
    ] {
        let view = ImageView {
            no: ImageNo::parse("1234567").unwrap(),
            name: ODD.into(),
            status: "CREAT".into(),
            hypervisor: Hypervisor::Kvm,
            shared_with: shared,
        };
        s(name.into(), reply(replies::share_list(&view, &grants)));
    }
    for text in [
        replies::act_outcome(&ActOutcome::NotAllowed(ODD.into())),
        replies::act_outcome(&ActOutcome::NotFound),
        "No request SR-7K3M9Q2X.".into(),
        format!(
            "Could not read image 1234567 from NCP: {}",
            render::escape(ODD)
        ),
        "NCP is slow to answer; try again in a moment.".into(),
        "This command was already received (a repeated delivery); nothing more was done.".into(),
        "Working on it: NCP is slow to answer. The result will appear here.".into(),
    ] {
        s("other-reply".into(), reply(text));
    }

    // The Jira adapter's own answers (`JiraNotifier::say`), at their longest and oddest.
    j(
        "say-refusal".into(),
        vec![format!(
            "Refused: the webhook does not agree with the issue as Jira has it now ({}). Nothing changed.",
            [ODD, &long("status differs ", 3000)].join("; ")
        )],
    );
    j(
        "say-nothing-requested".into(),
        vec![format!("Nothing was requested: {}", jira_render::clip(ODD))],
    );
    j(
        "say-blank-and-text".into(),
        vec!["  ".into(), "\n".into(), "text".into()],
    );
    jira.extend(jira_blocks);
    (slack, jira)
}

#[test]
fn every_slack_payload_and_jira_comment_we_render_is_valid_for_its_receiver() {
    let (slack, jira) = corpus();
    assert!(slack.len() > 1000, "{} Slack payloads", slack.len());
    assert!(jira.len() > 100, "{} Jira comments", jira.len());
    check_slack(&slack);
    check_jira(&jira);
}

// ---------------------------------------------------------------------------------------------
// The views corpus

fn durations(list: &[&str]) -> Vec<Option<ShareDuration>> {
    list.iter()
        .map(|d| (*d != views::NO_END).then(|| ShareDuration::parse(d).unwrap()))
        .collect()
}

/// The duration choices a form is rendered with.
fn duration_sets() -> Vec<Vec<Option<ShareDuration>>> {
    vec![
        vec![],
        durations(&[views::NO_END]),
        durations(&["30m"]),
        durations(&["1d", "7d", views::NO_END]),
        durations(&["1h", "1d", "7d", "30d", "90d"]),
        // More than a select takes, with duplicates.
        (1..=150)
            .map(|h| Some(ShareDuration::from_secs(h * 1800).unwrap()))
            .chain([None, None])
            .collect(),
    ]
}

fn home_request(r: &ShareRequest, approvals: usize, name: Option<&str>) -> views::HomeRequest {
    views::HomeRequest {
        request: r.clone(),
        approvals: approval_sets()[3].1[..approvals].to_vec(),
        image_name: name.map(str::to_owned),
    }
}

fn home_share(g: Grant, name: Option<&str>, requester: &Identity, yours: bool) -> views::HomeShare {
    views::HomeShare {
        grant: g,
        image_name: name.map(str::to_owned),
        requester: requester.clone(),
        requester_name: yours.then(|| person("carol")),
        yours,
    }
}

fn home_body(
    waiting: &[views::HomeRequest],
    mine: &[views::HomeRequest],
    active: &[views::HomeShare],
    command: &str,
) -> Value {
    views::home(&views::HomeView {
        waiting,
        mine,
        active,
        command,
        now: at(12),
    })
}

/// Every view and form answer the renderers produce, named after what they show.
fn views_corpus() -> Bodies {
    let mut out: Bodies = Vec::new();
    let mut s = |name: String, body: Value| out.push((name, body));
    let golden = ImageNo::parse("1234567").unwrap();
    let longest = ImageNo::parse("1234567890123456789").unwrap();
    let odd_name = ODD.repeat(10);
    let long_name = long("golden-web-", 400);
    let images: Vec<(&str, Option<(&ImageNo, &str)>)> = vec![
        ("no-image", None),
        ("image", Some((&golden, "golden-web"))),
        ("image-no-name", Some((&golden, ""))),
        ("image-odd", Some((&longest, odd_name.as_str()))),
        ("image-long", Some((&longest, long_name.as_str()))),
    ];
    let long_note = ODD.repeat(300);
    let notes: [(&str, Option<&str>); 4] = [
        ("no-note", None),
        (
            "note",
            Some("The image list is still loading: type the image number."),
        ),
        ("blank-note", Some("  \n")),
        ("odd-note", Some(long_note.as_str())),
    ];
    let metadata = [
        String::new(),
        json!({"channel": "C0ASK", "response_url": "https://hooks.slack.com/x"}).to_string(),
        long("m", 3000),
    ];
    let mut n = 0usize;
    for (image_name, image) in &images {
        for (d, choices) in duration_sets().iter().enumerate() {
            for reason_required in [false, true] {
                for (note_name, note) in notes {
                    n += 1;
                    s(
                        format!("request-form-{image_name}-d{d}-r{reason_required}-{note_name}"),
                        views::request_modal(&views::RequestForm {
                            image: *image,
                            durations: choices,
                            reason_required,
                            note,
                            private_metadata: &metadata[n % metadata.len()],
                        }),
                    );
                }
            }
        }
    }

    let targets = [
        login("a@partner.example"),
        login("a&b*_~|@partner.example"),
        login("ü@例え.jp"),
        long_login(7),
    ];
    for (t, target) in targets.iter().enumerate() {
        for (i, name) in [
            None,
            Some("golden-web"),
            Some(ODD),
            Some(long_name.as_str()),
        ]
        .into_iter()
        .enumerate()
        {
            for (d, choices) in duration_sets().iter().enumerate() {
                let g = grant(target.clone(), i);
                s(
                    format!("extend-form-t{t}-n{i}-d{d}"),
                    views::extend_modal(&views::ExtendForm {
                        grant: &g,
                        image_name: name,
                        durations: choices,
                        reason_required: d % 2 == 0,
                    }),
                );
            }
        }
    }

    // Homes: empty, one per request shape with it in every state, over the cap, odd text.
    s(
        "home-empty".into(),
        home_body(&[], &[], &[], "/share-image"),
    );
    let requester = Identity::new("slack", "U056CAROL").unwrap();
    for shape in shapes() {
        let mine: Vec<views::HomeRequest> = states(&shape.request)
            .iter()
            .enumerate()
            .map(|(i, (_, r))| home_request(r, i % 3, (i % 2 == 0).then_some(ODD)))
            .collect();
        let waiting = vec![
            home_request(&shape.request, 0, None),
            home_request(&shape.request, 1, Some(&long_name)),
        ];
        let active: Vec<views::HomeShare> = shape
            .request
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                home_share(
                    grant(t.clone(), i),
                    (i % 2 == 0).then_some(ODD),
                    &shape.request.requester,
                    i % 3 == 0,
                )
            })
            .collect();
        s(
            format!("home-{}", shape.name),
            home_body(&waiting, &mine, &active, "/share-image"),
        );
        s(
            format!("home-waiting-only-{}", shape.name),
            home_body(&waiting, &[], &[], "/share-image-staging"),
        );
    }
    let many_requests: Vec<views::HomeRequest> = (0..200)
        .map(|i| {
            let mut r = base();
            r.id = RequestId::parse(&format!("SR-{i:0>8}")).unwrap();
            r.created_at = at(1) + chrono::Duration::minutes(i);
            r.reason = Some(long("why & <because> ", 3000));
            home_request(&r, 1, Some(ODD))
        })
        .collect();
    let many_shares: Vec<views::HomeShare> = (0..200)
        .map(|i| {
            home_share(
                grant(long_login(i), i),
                Some(&long_name),
                &requester,
                i % 2 == 0,
            )
        })
        .collect();
    s(
        "home-over-the-cap".into(),
        home_body(&many_requests, &many_requests, &many_shares, "/share-image"),
    );
    s(
        "home-odd-command".into(),
        home_body(&many_requests[..3], &[], &many_shares[..3], ODD),
    );

    // Options answers: none, one, more than Slack takes, long and odd names.
    let nos: Vec<ImageNo> = (0..150)
        .map(|i| ImageNo::parse(&format!("{}", 1_000_000 + i)).unwrap())
        .collect();
    s("options-none".into(), views::image_options([]));
    s(
        "options-one".into(),
        views::image_options([(&golden, "golden-web")]),
    );
    s(
        "options-150".into(),
        views::image_options(nos.iter().map(|n| (n, "golden-web"))),
    );
    for (name, label) in [
        ("long", long_name.as_str()),
        ("odd", ODD),
        ("empty", ""),
        ("emoji", "😀👩‍👩‍👧😀👩‍👩‍👧😀👩‍👩‍👧😀👩‍👩‍👧😀👩‍👩‍👧😀👩‍👩‍👧😀👩‍👩‍👧😀👩‍👩‍👧😀👩‍👩‍👧😀👩‍👩‍👧"),
    ] {
        s(
            format!("options-{name}"),
            views::image_options([(&longest, label), (&golden, label)]),
        );
    }

    // Field errors and confirmations.
    s(
        "errors-one".into(),
        views::field_errors(&[(
            views::TARGETS,
            "login ID `x` is not an e-mail address".into(),
        )]),
    );
    s(
        "errors-every-field-odd-long".into(),
        views::field_errors(&[
            (views::IMAGE, format!("{ODD}{}", long("no & <way> ", 2000))),
            (views::TARGETS, ODD.into()),
            (views::DURATION, "the rule allows at most 7d".into()),
            (views::REASON, "   ".into()),
            (views::TARGETS, "too many login IDs (at most 50)".into()),
        ]),
    );
    for shape in shapes() {
        for (state_name, r) in states(&shape.request) {
            s(
                format!("confirmation-{}-{state_name}", shape.name),
                views::confirmation(
                    "Request sent",
                    render::submitted_reply(&NoticeFacts::of_state(&r, &[])),
                ),
            );
        }
    }
    s(
        "confirmation-text-only".into(),
        views::confirmation(
            &long("A title far too long ", 100),
            ("Request *SR-7K3M9Q2X* sent.".into(), Value::Null),
        ),
    );
    s(
        "confirmation-empty-blocks".into(),
        views::confirmation("Done", (render::escape(ODD), json!([]))),
    );
    out
}

#[test]
fn every_view_and_form_answer_we_render_is_valid_for_slack() {
    let bodies = views_corpus();
    assert!(bodies.len() > 300, "{} view payloads", bodies.len());
    for (name, body) in &bodies {
        if let Some(blocks) = body["blocks"].as_array() {
            assert!(blocks.len() <= 100, "{name}: {} blocks", blocks.len());
        }
    }
    check_slack(&bodies);
}
