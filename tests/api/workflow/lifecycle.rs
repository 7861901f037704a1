//! Lifecycle against the simulator with a manual clock: grants end and are revoked by the sweep
//! (overlapping grants never cancel each other), people revoke, shares are extended, drift is
//! found and removed, and revocations survive crashes and NCP failures.

use crate::harness::ncp::TEST_ATTEMPTS;
use crate::harness::workflow_app::*;
use ncp_share_approver::audit::AuditEvent;
use ncp_share_approver::domain::{
    DriftKind, Grant, ImageNo, LoginId, RequestState, RevocationCause, ShareRequest,
};
use ncp_share_approver::ncp::{CloudApi, ImageView, NcpError};
use ncp_share_approver::notify::Notice;
use ncp_share_approver::notify::slack::render;
use ncp_share_approver::policy::Action;
use ncp_share_approver::workflow::{ActOutcome, CrashPoint, ExecOutcome, Worker, Workflow};
use std::sync::Arc;
use std::time::Duration;

const CORP: &str = "x@corp.example";
const PARTNER: &str = "p@partner.example";
const HOUR: Duration = Duration::from_secs(3600);

fn golden() -> ImageNo {
    ImageNo::parse(GOLDEN_WEB).unwrap()
}

fn remove_calls(app: &WorkflowApp) -> usize {
    app.calls_matching(|op| op.starts_with("remove") && op.ends_with("SharingPermission"))
}

/// Submits a time-boxed share as `requester` and returns it as stored after submission.
async fn share_for(
    app: &WorkflowApp,
    requester: &str,
    targets: &[&str],
    duration: &str,
) -> ShareRequest {
    app.wf
        .submit(new_request(
            requester,
            Action::Share,
            GOLDEN_WEB,
            targets,
            Some(duration),
            None,
        ))
        .await
        .unwrap()
}

/// Executes everything queued and returns how each request ended.
async fn drain(wf: &Workflow) -> Vec<ExecOutcome> {
    Worker::new(wf.clone())
        .drain()
        .await
        .unwrap()
        .into_iter()
        .map(|(_, o)| o)
        .collect()
}

async fn active(app: &WorkflowApp) -> Vec<Grant> {
    app.wf.store.active_grants(&golden()).await.unwrap()
}

/// The `share_ended` notices sent about `id`.
fn ended_notices(app: &WorkflowApp, id: &ncp_share_approver::domain::RequestId) -> Vec<Notice> {
    app.notifier
        .notices()
        .into_iter()
        .filter(|(r, n)| &r.id == id && matches!(n, Notice::ShareEnded(_)))
        .map(|(_, n)| n)
        .collect()
}

/// A partner share by carol for 7d, approved by alice and bob, executed.
async fn approved_partner_share(app: &WorkflowApp) -> ShareRequest {
    let r = share_for(app, CAROL, &[PARTNER], "7d").await;
    assert_eq!(r.state, RequestState::Pending, "{:?}", r.outcome);
    app.wf.approve(&r.id, &who(ALICE)).await.unwrap();
    app.wf.approve(&r.id, &who(BOB)).await.unwrap();
    assert_eq!(
        drain(&app.wf).await,
        [ExecOutcome::Finished(RequestState::Succeeded)]
    );
    assert_eq!(app.sim.shared_with(GOLDEN_WEB), vec![PARTNER]);
    r
}

#[tokio::test]
async fn overlapping_grants_the_first_ending_leaves_the_share_and_the_second_removes_it() {
    let app = WorkflowApp::spawn().await;
    let first = share_for(&app, CAROL, &[CORP], "2h").await;
    assert_eq!(first.state, RequestState::Approved);
    drain(&app.wf).await;
    assert_eq!(app.sim.shared_with(GOLDEN_WEB), vec![CORP]);

    app.advance(HOUR);
    let second = share_for(&app, ERIN, &[CORP], "3h").await;
    assert_eq!(
        second.lifecycle.extends.len(),
        1,
        "the second share extends the first"
    );
    assert_eq!(second.lifecycle.extends[0].request_id, first.id);
    drain(&app.wf).await;
    assert_eq!(active(&app).await.len(), 2);
    assert_eq!(app.add_calls(), 1, "the second share needed no NCP change");

    // The first grant ends: the second still covers the target, so it stays.
    app.advance(HOUR + Duration::from_secs(60));
    let report = app.wf.sweep().await.unwrap();
    assert_eq!(report.revocations.len(), 1);
    let revocation = report.revocations[0].clone();
    assert_eq!(
        drain(&app.wf).await,
        [ExecOutcome::Finished(RequestState::Succeeded)]
    );
    assert_eq!(app.sim.shared_with(GOLDEN_WEB), vec![CORP]);
    assert_eq!(remove_calls(&app), 0);
    let left = active(&app).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].request_id, second.id);
    let done = app.stored(&revocation).await;
    let message = done.outcome.unwrap().message;
    assert!(
        message.contains("stays shared") && message.contains(second.id.as_str()),
        "{message}"
    );
    match &ended_notices(&app, &first.id)[..] {
        [Notice::ShareEnded(e)] => {
            assert!(e.removed.is_empty());
            assert_eq!(e.kept, vec![LoginId::parse(CORP).unwrap()]);
            assert_eq!(e.cause, Some(RevocationCause::Expired));
        }
        other => panic!("expected one share_ended notice, got {other:?}"),
    }

    // Nothing more to do until the second ends.
    assert_eq!(app.wf.sweep().await.unwrap().revocations.len(), 0);
    assert!(drain(&app.wf).await.is_empty());

    app.advance(2 * HOUR);
    let report = app.wf.sweep().await.unwrap();
    assert_eq!(report.revocations.len(), 1);
    drain(&app.wf).await;
    assert!(app.sim.shared_with(GOLDEN_WEB).is_empty());
    assert_eq!(remove_calls(&app), 1);
    assert!(active(&app).await.is_empty());
    match &ended_notices(&app, &second.id)[..] {
        [Notice::ShareEnded(e)] => {
            assert_eq!(e.removed, vec![LoginId::parse(CORP).unwrap()]);
            assert!(e.kept.is_empty());
        }
        other => panic!("expected one share_ended notice, got {other:?}"),
    }
    assert_eq!(
        app.events(&report.revocations[0]).await,
        ["requested", "decided", "approved", "executing", "revoked"]
    );
    assert_eq!(
        app.records(&report.revocations[0]).await[2].entry.actor,
        "system:scheduler"
    );
    assert!(app.wf.sweep().await.unwrap().revocations.is_empty());
    assert!(app.verify().await.is_ok());
}

async fn sweep_crash_then_sweep_again(point: CrashPoint) {
    let app = WorkflowApp::spawn().await;
    let share = share_for(&app, CAROL, &[CORP, "y@corp.example"], "2h").await;
    drain(&app.wf).await;
    app.advance(2 * HOUR + Duration::from_secs(1));

    let report = app.wf.sweep().await.unwrap();
    assert_eq!(report.revocations.len(), 1, "{point:?}");
    let id = report.revocations[0].clone();
    // A second sweep before the worker ran makes nothing new.
    assert!(app.wf.sweep().await.unwrap().revocations.is_empty());
    assert_eq!(
        app.worker().crash_at(point).execute(&id).await.unwrap(),
        ExecOutcome::Crashed(point)
    );

    // The process restarts: a new store on the same file, the lease of the dead worker expires,
    // the sweep runs again and the worker finishes.
    app.advance(LEASE_TTL + Duration::from_secs(1));
    let wf = app.restarted();
    let again = wf.sweep().await.unwrap();
    assert!(again.revocations.is_empty(), "{point:?}: {again:?}");
    assert_eq!(
        drain(&wf).await,
        [ExecOutcome::Finished(RequestState::Succeeded)],
        "{point:?}"
    );
    assert!(wf.sweep().await.unwrap().revocations.is_empty());
    assert!(drain(&wf).await.is_empty());

    assert!(app.sim.shared_with(GOLDEN_WEB).is_empty(), "{point:?}");
    assert_eq!(remove_calls(&app), 1, "{point:?}: exactly one NCP change");
    assert_eq!(app.count_events(&id, AuditEvent::Revoked).await, 1);
    assert!(active(&app).await.is_empty());
    assert_eq!(ended_notices(&app, &share.id).len(), 1, "{point:?}");
    let all = wf.store.requests(None, 100).await.unwrap();
    assert_eq!(all.len(), 2, "one share and one revocation: {point:?}");
    assert!(app.verify().await.is_ok(), "{point:?}");
}

#[tokio::test]
async fn a_sweep_interrupted_by_a_crash_and_run_again_revokes_each_grant_once() {
    for point in CrashPoint::ALL {
        sweep_crash_then_sweep_again(point).await;
    }
}

#[tokio::test]
async fn the_requester_revokes_without_approval() {
    let app = WorkflowApp::spawn().await;
    let share = approved_partner_share(&app).await;
    let revocation = app
        .submit(CAROL, Action::Unshare, GOLDEN_WEB, &[PARTNER], Some("done"))
        .await;
    assert_eq!(revocation.state, RequestState::Approved);
    let rev = revocation.lifecycle.revocation.clone().unwrap();
    assert_eq!(rev.cause, RevocationCause::Revoked);
    assert_eq!(rev.ends.len(), 1);
    drain(&app.wf).await;
    assert!(app.sim.shared_with(GOLDEN_WEB).is_empty());
    assert!(active(&app).await.is_empty());
    assert_eq!(
        app.events(&revocation.id).await,
        ["requested", "decided", "approved", "executing", "revoked"]
    );
    let decided = &app.records(&revocation.id).await[1].entry.detail;
    assert!(
        decided.contains(&format!("asked for {}", share.id)),
        "{decided}"
    );
    assert_eq!(ended_notices(&app, &share.id).len(), 1);
    assert!(app.verify().await.is_ok());
}

#[tokio::test]
async fn an_approver_of_the_rule_revokes_without_approval() {
    let app = WorkflowApp::spawn().await;
    let share = approved_partner_share(&app).await;
    // Dave did not approve this one, but he is an approver under its rule.
    let revocation = app
        .submit(DAVE, Action::Unshare, GOLDEN_WEB, &[PARTNER], None)
        .await;
    assert_eq!(revocation.state, RequestState::Approved);
    drain(&app.wf).await;
    assert!(app.sim.shared_with(GOLDEN_WEB).is_empty());
    let decided = &app.records(&revocation.id).await[1].entry.detail;
    assert!(decided.contains("dave is an approver"), "{decided}");
    assert_eq!(
        app.records(&revocation.id).await[2].entry.actor,
        DAVE.to_string()
    );
    assert_eq!(ended_notices(&app, &share.id).len(), 1);
}

#[tokio::test]
async fn a_stranger_revoking_goes_through_the_policy_and_its_approval_ends_the_grants() {
    let app = WorkflowApp::spawn().await;
    let share = approved_partner_share(&app).await;
    // Erin neither asked for it nor may approve it: the policy decides, and two admins must agree.
    let unshare = app
        .submit(ERIN, Action::Unshare, GOLDEN_WEB, &[PARTNER], None)
        .await;
    assert_eq!(unshare.state, RequestState::Pending);
    assert!(unshare.lifecycle.revocation.is_none());
    assert!(drain(&app.wf).await.is_empty());
    assert_eq!(app.sim.shared_with(GOLDEN_WEB), vec![PARTNER]);

    app.wf.approve(&unshare.id, &who(ALICE)).await.unwrap();
    assert!(matches!(
        app.wf.approve(&unshare.id, &who(BOB)).await.unwrap(),
        ActOutcome::Approved(_)
    ));
    drain(&app.wf).await;
    assert!(app.sim.shared_with(GOLDEN_WEB).is_empty());
    assert!(
        active(&app).await.is_empty(),
        "the approved unshare ends the grant"
    );
    assert_eq!(ended_notices(&app, &share.id).len(), 1);

    // Someone unknown to the policy is refused outright.
    let unknown = app
        .submit(
            "slack:U999NOBODY",
            Action::Unshare,
            GOLDEN_WEB,
            &[PARTNER],
            None,
        )
        .await;
    assert_eq!(unknown.state, RequestState::Denied);
    assert!(app.verify().await.is_ok());
}

#[tokio::test]
async fn a_share_for_a_target_already_shared_is_an_extension_with_a_new_grant() {
    let app = WorkflowApp::spawn().await;
    let first = approved_partner_share(&app).await;
    app.advance(Duration::from_secs(6 * 24 * 3600));
    let again = share_for(&app, CAROL, &[PARTNER], "7d").await;
    assert_eq!(again.state, RequestState::Pending);
    assert_eq!(again.lifecycle.extends.len(), 1);
    assert_eq!(again.lifecycle.extends[0].request_id, first.id);

    let (text, blocks) = render::approval_card(&ncp_share_approver::domain::NoticeFacts::of_state(
        &again,
        &[],
    ));
    let card = render::blocks_as_text(&blocks);
    assert!(card.contains("(extension)"), "{card}");
    assert!(card.contains("*Extension:* already shared"), "{card}");
    assert!(
        card.contains("Approving extends the share to about"),
        "{card}"
    );
    assert!(card.contains(render::REVOCATION_CAVEAT), "{card}");
    assert!(!text.is_empty());

    app.wf.approve(&again.id, &who(ALICE)).await.unwrap();
    app.wf.approve(&again.id, &who(DAVE)).await.unwrap();
    assert_eq!(
        drain(&app.wf).await,
        [ExecOutcome::Finished(RequestState::Succeeded)]
    );
    assert_eq!(app.add_calls(), 1);
    assert_eq!(active(&app).await.len(), 2);
    let succeeded = app.records(&again.id).await.pop().unwrap().entry.detail;
    assert!(
        succeeded.contains(&format!("extends {}'s", first.id)),
        "{succeeded}"
    );

    // When the first grant ends the share stays: the extension covers it for six more days.
    app.advance(Duration::from_secs(24 * 3600 + 60));
    app.wf.sweep().await.unwrap();
    drain(&app.wf).await;
    assert_eq!(app.sim.shared_with(GOLDEN_WEB), vec![PARTNER]);
    assert_eq!(active(&app).await.len(), 1);
    assert!(app.verify().await.is_ok());
}

#[tokio::test]
async fn the_requester_is_told_once_a_day_before_the_share_ends() {
    let app = WorkflowApp::spawn().await;
    let share = share_for(&app, CAROL, &[CORP], "3d").await;
    drain(&app.wf).await;
    app.advance(Duration::from_secs(24 * 3600));
    assert!(app.wf.sweep().await.unwrap().reminded.is_empty());
    app.advance(Duration::from_secs(24 * 3600 + 60));
    assert_eq!(
        app.wf.sweep().await.unwrap().reminded,
        vec![share.id.clone()]
    );
    assert!(app.wf.sweep().await.unwrap().reminded.is_empty());
    let soon: Vec<Notice> = app
        .notifier
        .notices()
        .into_iter()
        .filter(|(r, n)| r.id == share.id && matches!(n, Notice::ShareEndingSoon { .. }))
        .map(|(_, n)| n)
        .collect();
    assert_eq!(soon.len(), 1);
    let (_, blocks) = render::lifecycle_message(&ncp_share_approver::domain::NoticeFacts::new(
        &share,
        &[],
        &soon[0],
    ));
    let text = render::blocks_as_text(&blocks);
    assert!(text.contains("ends at") && text.contains(CORP), "{text}");

    // A share shorter than the lead time is not reminded at all.
    let short = share_for(&app, CAROL, &["s@corp.example"], "2h").await;
    drain(&app.wf).await;
    app.advance(HOUR);
    assert!(!app.wf.sweep().await.unwrap().reminded.contains(&short.id));
}

#[tokio::test]
async fn drift_made_on_the_simulator_is_found_then_removed_when_asked_and_allowed() {
    let mut app = WorkflowApp::spawn().await;
    // A managed share, and one made "in the console".
    share_for(&app, CAROL, &[CORP], "7d").await;
    drain(&app.wf).await;
    let mut image = app.sim.image(GOLDEN_WEB).unwrap();
    image.shared_with.push("console@corp.example".into());
    app.sim.add_image(image);
    // A managed share removed behind the service's back.
    let db = share_for(&app, CAROL, &["d@corp.example"], "7d").await;
    drain(&app.wf).await;
    assert_eq!(db.state, RequestState::Approved);
    let mut image = app.sim.image(GOLDEN_WEB).unwrap();
    image.shared_with.retain(|t| t != "d@corp.example");
    app.sim.add_image(image);

    let report = app.wf.reconcile(false).await.unwrap();
    assert!(report.images_checked >= 4, "{report:?}");
    let kinds: Vec<(String, DriftKind)> = report
        .findings
        .iter()
        .map(|f| (f.target.clone(), f.kind.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("console@corp.example".to_string(), DriftKind::Unmanaged),
            (
                "d@corp.example".to_string(),
                DriftKind::MissingOnNcp {
                    request_id: db.id.clone()
                }
            ),
        ]
    );
    assert!(report.removals.is_empty());
    assert_eq!(app.notifier.drift_reports().len(), 1);
    let drift_records = app
        .wf
        .store
        .audit_records(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.event == AuditEvent::Drift)
        .count();
    assert_eq!(drift_records, 2);
    assert!(
        app.sim
            .shared_with(GOLDEN_WEB)
            .contains(&"console@corp.example".to_string())
    );

    // Asked, but not allowed by the configuration: refused, nothing removed.
    assert!(app.wf.reconcile(true).await.is_err());
    assert_eq!(remove_calls(&app), 0);

    app.wf.settings.lifecycle.allow_revoke_unmanaged = true;
    let report = app.wf.reconcile(true).await.unwrap();
    assert_eq!(report.removals.len(), 1);
    drain(&app.wf).await;
    assert_eq!(app.sim.shared_with(GOLDEN_WEB), vec![CORP]);
    assert_eq!(
        app.count_events(&report.removals[0], AuditEvent::Revoked)
            .await,
        1
    );
    let after = app.wf.reconcile(false).await.unwrap();
    assert!(
        after
            .findings
            .iter()
            .all(|f| f.kind != DriftKind::Unmanaged),
        "{after:?}"
    );
    assert!(app.verify().await.is_ok());
}

#[tokio::test]
async fn a_revocation_ncp_fails_transiently_is_retried_and_succeeds() {
    let app = WorkflowApp::spawn().await;
    share_for(&app, CAROL, &[CORP], "2h").await;
    drain(&app.wf).await;
    app.advance(2 * HOUR + Duration::from_secs(1));
    let id = app.wf.sweep().await.unwrap().revocations[0].clone();

    // Every attempt of the client's first call fails: the attempt ends, the revocation stays.
    app.sim.fail_next(TEST_ATTEMPTS as usize, 503);
    assert_eq!(drain(&app.wf).await, [ExecOutcome::WillRetry]);
    assert_eq!(app.stored(&id).await.state, RequestState::Executing);
    assert_eq!(app.sim.shared_with(GOLDEN_WEB), vec![CORP]);

    assert_eq!(
        drain(&app.wf).await,
        [ExecOutcome::Finished(RequestState::Succeeded)]
    );
    assert!(app.sim.shared_with(GOLDEN_WEB).is_empty());
    let details: Vec<String> = app
        .records(&id)
        .await
        .into_iter()
        .map(|r| r.entry.detail)
        .collect();
    assert!(
        details.iter().any(|d| d.contains("will be tried again")),
        "{details:?}"
    );
    assert!(app.verify().await.is_ok());
}

/// NCP refusing every removal for good.
struct RefusesRemoval(Arc<dyn CloudApi>);

#[async_trait::async_trait]
impl CloudApi for RefusesRemoval {
    async fn image(&self, no: &ImageNo) -> Result<ImageView, NcpError> {
        self.0.image(no).await
    }
    async fn images(&self) -> Result<Vec<ImageView>, NcpError> {
        self.0.images().await
    }
    async fn add_sharing(&self, i: &ImageView, t: &[LoginId]) -> Result<ImageView, NcpError> {
        self.0.add_sharing(i, t).await
    }
    async fn remove_sharing(&self, _: &ImageView, _: &[LoginId]) -> Result<ImageView, NcpError> {
        Err(NcpError::Service {
            status: 400,
            code: "1100001".into(),
            message: "missing required parameter or invalid parameter value".into(),
        })
    }
    async fn set_sharing(&self, i: &ImageView, t: &[LoginId]) -> Result<ImageView, NcpError> {
        self.0.set_sharing(i, t).await
    }
}

#[tokio::test]
async fn a_revocation_ncp_refuses_for_good_is_failed_reported_and_listed_as_overdue() {
    let app = WorkflowApp::spawn().await;
    let share = share_for(&app, CAROL, &[CORP], "2h").await;
    drain(&app.wf).await;
    app.advance(2 * HOUR + Duration::from_secs(1));
    let refusing = app.with_cloud(Arc::new(RefusesRemoval(app.wf.cloud.clone())));
    let id = refusing.sweep().await.unwrap().revocations[0].clone();
    assert_eq!(
        drain(&refusing).await,
        [ExecOutcome::Finished(RequestState::Failed)]
    );
    let failed = app.stored(&id).await;
    assert_eq!(
        failed.outcome.as_ref().unwrap().ncp_code.as_deref(),
        Some("1100001")
    );
    assert!(app.notifier.names_for(&id).contains(&"failed"));
    assert_eq!(app.count_events(&id, AuditEvent::Failed).await, 1);
    assert_eq!(app.sim.shared_with(GOLDEN_WEB), vec![CORP]);
    // The grant stays active and every later sweep reports it, without a new attempt.
    let report = refusing.sweep().await.unwrap();
    assert!(report.revocations.is_empty());
    assert_eq!(report.overdue.len(), 1);
    assert_eq!(report.overdue[0].0.request_id, share.id);
    assert!(report.overdue[0].1.contains("1100001"), "{report:?}");
    assert!(drain(&refusing).await.is_empty());
    assert!(app.verify().await.is_ok());
}
