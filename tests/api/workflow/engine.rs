//! The workflow end to end against the simulator and a SQLite file: submit, approve, deny,
//! expire, execute, crash and recover, and the ledger that records all of it.

use crate::harness::workflow_app::*;
use ncp_share_approver::audit::AuditEvent;
use ncp_share_approver::domain::{ImageNo, RequestState};
use ncp_share_approver::ncp::sim::{ERR_NOT_CREATED, Faults};
use ncp_share_approver::policy::Action;
use ncp_share_approver::queue::LocalQueue;
use ncp_share_approver::workflow::{ActOutcome, CrashPoint, ExecOutcome, Worker};
use std::sync::Arc;
use std::time::Duration;

const PARTNER: &str = "a@partner.example";

/// Submits carol's 2-of-3 partner share of golden-web.
async fn pending_partner_share(app: &WorkflowApp) -> ncp_share_approver::domain::ShareRequest {
    let r = app.carol_asks(Action::Share, &[PARTNER]).await;
    assert_eq!(r.state, RequestState::Pending, "{:?}", r.outcome);
    r
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn a_two_of_three_request_is_counted_then_approved_then_shared() {
    let app = WorkflowApp::spawn().await;
    let r = pending_partner_share(&app).await;
    assert_eq!(r.rule.as_deref(), Some("golden images to partners"));
    assert_eq!(r.min_approvals, 2);
    assert_eq!(r.expires_at, start_time() + chrono::Duration::hours(4));

    match app.wf.approve(&r.id, &who(ALICE)).await.unwrap() {
        ActOutcome::Counted { request, remaining } => {
            assert_eq!(remaining, 1);
            assert_eq!(request.state, RequestState::Pending);
        }
        other => panic!("expected Counted, got {other:?}"),
    }
    assert_eq!(app.stored(&r.id).await.state, RequestState::Pending);
    match app.wf.approve(&r.id, &who(BOB)).await.unwrap() {
        ActOutcome::Approved(request) => assert_eq!(request.state, RequestState::Approved),
        other => panic!("expected Approved, got {other:?}"),
    }
    // Approval alone changes nothing on NCP: only the worker does.
    assert!(app.sim.shared_with(GOLDEN_WEB).is_empty());
    assert_eq!(app.add_calls(), 0);

    let worker = app.worker();
    assert_eq!(worker.pending_work().await.unwrap(), vec![r.id.clone()]);
    assert_eq!(
        worker.execute(&r.id).await.unwrap(),
        ExecOutcome::Finished(RequestState::Succeeded)
    );
    assert_eq!(app.sim.shared_with(GOLDEN_WEB), vec![PARTNER]);
    assert_eq!(app.add_calls(), 1);

    let done = app.stored(&r.id).await;
    assert_eq!(done.state, RequestState::Succeeded);
    assert_eq!(done.attempts, 1);
    let outcome = done.outcome.expect("an outcome");
    assert_eq!(
        outcome.message,
        format!("image {GOLDEN_WEB} shared with {PARTNER}")
    );
    assert_eq!(outcome.shared_with_after, Some(vec![PARTNER.to_string()]));
    assert!(!outcome.already_in_place);

    let grants = app
        .wf
        .store
        .active_grants(&ImageNo::parse(GOLDEN_WEB).unwrap())
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(
        (
            grants[0].target.as_str(),
            &grants[0].request_id,
            grants[0].ends_at
        ),
        (PARTNER, &r.id, None)
    );

    assert_eq!(
        app.notifier.names_for(&r.id),
        [
            "submitted",
            "approval_added",
            "approved",
            "executing",
            "succeeded"
        ]
    );
    assert_eq!(
        app.events(&r.id).await,
        [
            "requested",
            "decided",
            "approved",
            "approved",
            "decided",
            "executing",
            "succeeded"
        ]
    );
    let actors: Vec<String> = app
        .records(&r.id)
        .await
        .into_iter()
        .map(|rec| rec.entry.actor)
        .collect();
    assert_eq!(actors[2..4], [ALICE.to_string(), BOB.to_string()]);
    assert_eq!(app.verify().await, Ok(7));

    // Executing it again (a repeated hint) is a no-op.
    assert_eq!(
        worker.execute(&r.id).await.unwrap(),
        ExecOutcome::Skipped(RequestState::Succeeded)
    );
    assert_eq!(app.add_calls(), 1);
    assert!(worker.pending_work().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_denial_by_an_approver_ends_the_request_and_a_later_approval_is_not_pending() {
    let app = WorkflowApp::spawn().await;
    let r = pending_partner_share(&app).await;
    assert!(matches!(
        app.wf.approve(&r.id, &who(ALICE)).await.unwrap(),
        ActOutcome::Counted { remaining: 1, .. }
    ));
    let denied = match app
        .wf
        .deny(&r.id, &who(BOB), Some("  not this quarter ".into()))
        .await
        .unwrap()
    {
        ActOutcome::Denied(req) => req,
        other => panic!("expected Denied, got {other:?}"),
    };
    assert_eq!(denied.state, RequestState::Denied);
    // The approver's words, quoted (the outcome is shown on every front door).
    assert_eq!(
        denied.outcome.as_ref().unwrap().message,
        "denied by bob: “not this quarter”"
    );
    assert_eq!(app.stored(&r.id).await.state, RequestState::Denied);

    match app.wf.approve(&r.id, &who(DAVE)).await.unwrap() {
        ActOutcome::NotPending(req) => assert_eq!(req.state, RequestState::Denied),
        other => panic!("expected NotPending, got {other:?}"),
    }
    assert!(app.worker().drain().await.unwrap().is_empty());
    assert!(app.sim.shared_with(GOLDEN_WEB).is_empty());
    assert_eq!(app.add_calls(), 0);
    assert_eq!(
        app.events(&r.id).await,
        ["requested", "decided", "approved", "denied"]
    );
    assert_eq!(
        app.notifier.names_for(&r.id),
        ["submitted", "approval_added", "denied"]
    );
    assert_eq!(app.verify().await, Ok(4));
}

#[tokio::test]
async fn someone_who_is_not_an_approver_cannot_deny() {
    let app = WorkflowApp::spawn().await;
    let r = pending_partner_share(&app).await;
    match app.wf.deny(&r.id, &who(ERIN), None).await.unwrap() {
        ActOutcome::NotAllowed(why) => assert!(why.contains("not an approver"), "{why}"),
        other => panic!("expected NotAllowed, got {other:?}"),
    }
    assert_eq!(app.stored(&r.id).await.state, RequestState::Pending);
}

#[tokio::test]
async fn a_pending_request_expires_after_its_ttl() {
    let app = WorkflowApp::spawn().await;
    let r = pending_partner_share(&app).await;
    app.advance(Duration::from_secs(4 * 3600 - 60));
    assert_eq!(app.wf.expire_due().await.unwrap(), 0);
    assert_eq!(app.stored(&r.id).await.state, RequestState::Pending);

    app.advance(Duration::from_secs(61));
    assert_eq!(app.wf.expire_due().await.unwrap(), 1);
    let expired = app.stored(&r.id).await;
    assert_eq!(expired.state, RequestState::Expired);
    let message = expired.outcome.unwrap().message;
    assert!(
        message.starts_with("expired: not enough approvals before"),
        "{message}"
    );
    assert_eq!(app.wf.expire_due().await.unwrap(), 0);
    assert_eq!(app.events(&r.id).await, ["requested", "decided", "expired"]);
    assert_eq!(app.notifier.names_for(&r.id), ["submitted", "expired"]);
    assert_eq!(app.verify().await, Ok(3));
}

#[tokio::test]
async fn an_approval_after_the_ttl_expires_the_request_instead() {
    let app = WorkflowApp::spawn().await;
    let r = pending_partner_share(&app).await;
    assert!(matches!(
        app.wf.approve(&r.id, &who(ALICE)).await.unwrap(),
        ActOutcome::Counted { .. }
    ));
    app.advance(Duration::from_secs(4 * 3600));
    match app.wf.approve(&r.id, &who(BOB)).await.unwrap() {
        ActOutcome::NotPending(req) => assert_eq!(req.state, RequestState::Expired),
        other => panic!("expected NotPending, got {other:?}"),
    }
    assert_eq!(app.stored(&r.id).await.state, RequestState::Expired);
    assert_eq!(app.wf.store.approvals(&r.id).await.unwrap().len(), 1);
    assert!(app.worker().drain().await.unwrap().is_empty());
    assert_eq!(
        app.events(&r.id).await,
        ["requested", "decided", "approved", "expired"]
    );
}

#[tokio::test]
async fn approving_your_own_request_is_refused_unless_the_rule_allows_it() {
    let app = WorkflowApp::spawn().await;
    // Alice is an admin; under the partner rule she is left out of her own approvers.
    let r = app
        .submit(ALICE, Action::Share, GOLDEN_WEB, &[PARTNER], None)
        .await;
    assert_eq!(r.state, RequestState::Pending);
    assert!(!r.approvers.iter().any(|p| p.as_str() == "alice"));
    for account in [ALICE, ALICE_JIRA] {
        match app.wf.approve(&r.id, &who(account)).await.unwrap() {
            ActOutcome::NotAllowed(why) => {
                assert!(why.contains("does not allow self-approval"), "{why}")
            }
            other => panic!("expected NotAllowed, got {other:?}"),
        }
    }
    assert!(app.wf.store.approvals(&r.id).await.unwrap().is_empty());
    assert_eq!(app.stored(&r.id).await.state, RequestState::Pending);

    // The ops rule allows self-approval: her own click approves it.
    let ops = app
        .submit(ALICE, Action::Share, GOLDEN_WEB, &["o@ops.example"], None)
        .await;
    assert_eq!(ops.rule.as_deref(), Some("ops self-service"));
    assert!(ops.allow_self_approval);
    assert!(matches!(
        app.wf.approve(&ops.id, &who(ALICE_JIRA)).await.unwrap(),
        ActOutcome::Approved(_)
    ));
    assert_eq!(
        app.worker().execute(&ops.id).await.unwrap(),
        ExecOutcome::Finished(RequestState::Succeeded)
    );
    assert_eq!(app.sim.shared_with(GOLDEN_WEB), vec!["o@ops.example"]);
}

#[tokio::test]
async fn a_non_approver_and_an_unknown_identity_are_refused() {
    let app = WorkflowApp::spawn().await;
    let r = pending_partner_share(&app).await;
    match app.wf.approve(&r.id, &who(ERIN)).await.unwrap() {
        ActOutcome::NotAllowed(why) => {
            assert!(why.contains("erin is not an approver"), "{why}")
        }
        other => panic!("expected NotAllowed, got {other:?}"),
    }
    match app
        .wf
        .approve(&r.id, &who("slack:U999NOBODY"))
        .await
        .unwrap()
    {
        ActOutcome::NotAllowed(why) => {
            assert!(why.contains("not in the policy's [people]"), "{why}")
        }
        other => panic!("expected NotAllowed, got {other:?}"),
    }
    assert!(app.wf.store.approvals(&r.id).await.unwrap().is_empty());
    assert_eq!(app.events(&r.id).await, ["requested", "decided"]);
    assert_eq!(app.stored(&r.id).await.state, RequestState::Pending);
}

#[tokio::test]
async fn the_same_approver_twice_or_through_a_second_account_is_counted_once() {
    let app = WorkflowApp::spawn().await;
    let r = pending_partner_share(&app).await;
    assert!(matches!(
        app.wf.approve(&r.id, &who(ALICE)).await.unwrap(),
        ActOutcome::Counted { remaining: 1, .. }
    ));
    for again in [ALICE, ALICE_JIRA] {
        assert!(
            matches!(
                app.wf.approve(&r.id, &who(again)).await.unwrap(),
                ActOutcome::AlreadyCounted(_)
            ),
            "{again}"
        );
    }
    assert_eq!(app.stored(&r.id).await.state, RequestState::Pending);
    assert_eq!(app.wf.store.approvals(&r.id).await.unwrap().len(), 1);
    assert_eq!(app.count_events(&r.id, AuditEvent::Approved).await, 1);
    assert!(matches!(
        app.wf.approve(&r.id, &who(DAVE)).await.unwrap(),
        ActOutcome::Approved(_)
    ));
}

#[tokio::test]
async fn a_request_no_rule_allows_is_denied_naming_the_closest_rule() {
    let app = WorkflowApp::spawn().await;
    let r = app
        .carol_asks(Action::Share, &["x@elsewhere.example"])
        .await;
    assert_eq!(r.state, RequestState::Denied);
    let stored = app.stored(&r.id).await;
    assert_eq!(stored.state, RequestState::Denied);
    let message = stored.outcome.unwrap().message;
    assert!(message.contains("no rule allows carol"), "{message}");
    assert!(
        message.contains("Closest rule \"golden images to partners\"")
            && message.contains("target x@elsewhere.example does not match *@partner.example"),
        "{message}"
    );
    assert_eq!(app.notifier.names_for(&r.id), ["refused"]);
    assert_eq!(app.events(&r.id).await, ["requested", "decided"]);
    let decided = &app.records(&r.id).await[1];
    assert!(decided.entry.detail.starts_with("denied: "), "{decided:?}");
    assert!(matches!(
        app.wf.approve(&r.id, &who(ALICE)).await.unwrap(),
        ActOutcome::NotPending(_)
    ));
    assert!(app.worker().drain().await.unwrap().is_empty());
    assert_eq!(app.add_calls(), 0);
}

#[tokio::test]
async fn a_rule_that_requires_a_reason_denies_a_request_without_one() {
    let app = WorkflowApp::spawn().await;
    let without = app
        .submit(CAROL, Action::Share, "2345678", &["x@audit.example"], None)
        .await;
    assert_eq!(without.state, RequestState::Denied);
    let message = without.outcome.unwrap().message;
    assert!(
        message.contains("\"database image to auditors\" requires a reason"),
        "{message}"
    );
    let blank = app
        .submit(
            CAROL,
            Action::Share,
            "2345678",
            &["x@audit.example"],
            Some("  "),
        )
        .await;
    assert_eq!(blank.state, RequestState::Denied);
    let with = app
        .submit(
            CAROL,
            Action::Share,
            "2345678",
            &["x@audit.example"],
            Some("SOX audit 2025"),
        )
        .await;
    assert_eq!(with.state, RequestState::Pending);
    assert_eq!(with.reason.as_deref(), Some("SOX audit 2025"));
}

#[tokio::test]
async fn an_unknown_image_number_is_refused_with_a_clear_message() {
    let app = WorkflowApp::spawn().await;
    let r = app
        .submit(CAROL, Action::Share, "1111111", &[PARTNER], None)
        .await;
    assert_eq!(r.state, RequestState::Denied);
    assert_eq!(
        app.stored(&r.id).await.outcome.unwrap().message,
        "image 1111111 was not found in the NCP account this service manages"
    );
    assert_eq!(app.notifier.names_for(&r.id), ["refused"]);
    assert_eq!(app.add_calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_requests_on_one_image_all_land_one_change_at_a_time() {
    let app = WorkflowApp::spawn().await;
    // A little latency widens the window in which unserialised changes would overlap.
    app.sim.set_faults(Faults {
        latency: Duration::from_millis(3),
        ..Faults::default()
    });
    let watched = Arc::new(Watched::new(app.wf.cloud.clone()));
    let wf = app.with_cloud(watched.clone());
    let targets: Vec<String> = (0..20).map(|i| format!("t{i:02}@corp.example")).collect();
    let mut ids = Vec::new();
    for t in &targets {
        let r = app.auto_share(GOLDEN_WEB, t).await;
        assert_eq!(r.state, RequestState::Approved, "{:?}", r.outcome);
        ids.push(r.id);
    }
    // Four workers (four lease holders), each running five requests at once, as `run` does.
    let workers: Vec<Worker> = (0..4).map(|_| Worker::new(wf.clone())).collect();
    let tasks: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let worker = workers[i % 4].clone();
            let id = id.clone();
            tokio::spawn(async move { worker.execute(&id).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            task.await.unwrap().unwrap(),
            ExecOutcome::Finished(RequestState::Succeeded)
        );
    }
    assert_eq!(sorted(app.sim.shared_with(GOLDEN_WEB)), targets);
    for id in &ids {
        assert_eq!(app.stored(id).await.state, RequestState::Succeeded);
        assert_eq!(app.count_events(id, AuditEvent::Succeeded).await, 1);
    }
    assert_eq!(app.add_calls(), 20);
    assert_eq!(
        watched.max_in_flight(),
        1,
        "changes to one image must be serialised by its lease"
    );
    assert_eq!(app.verify().await, Ok(20 * 5));
}

#[tokio::test]
async fn ncp_503s_are_retried_and_the_request_succeeds() {
    let app = WorkflowApp::spawn().await;
    let r = app.auto_share(GOLDEN_WEB, "b@corp.example").await;
    app.sim.fail_next(2, 503);
    assert_eq!(
        app.worker().execute(&r.id).await.unwrap(),
        ExecOutcome::Finished(RequestState::Succeeded)
    );
    assert_eq!(app.sim.shared_with(GOLDEN_WEB), vec!["b@corp.example"]);
    assert_eq!(
        app.sim.calls().iter().filter(|c| c.status == 503).count(),
        2
    );
    assert_eq!(app.stored(&r.id).await.attempts, 1);
    assert_eq!(app.add_calls(), 1);
}

#[tokio::test]
async fn an_image_that_is_no_longer_created_fails_the_request_without_a_change() {
    let app = WorkflowApp::spawn().await;
    let r = app.auto_share(GOLDEN_WEB, "b@corp.example").await;
    assert!(app.sim.set_status(GOLDEN_WEB, "INIT"));
    assert_eq!(
        app.worker().execute(&r.id).await.unwrap(),
        ExecOutcome::Finished(RequestState::Failed)
    );
    let failed = app.stored(&r.id).await;
    assert_eq!(failed.state, RequestState::Failed);
    let message = failed.outcome.unwrap().message;
    assert!(
        message.contains("is in status INIT, not CREAT"),
        "{message}"
    );
    assert_eq!(app.add_calls(), 0);
    assert!(app.sim.shared_with(GOLDEN_WEB).is_empty());
    assert_eq!(
        app.events(&r.id).await,
        ["requested", "decided", "approved", "executing", "failed"]
    );
    assert_eq!(
        app.notifier.names_for(&r.id),
        ["approved", "executing", "failed"]
    );
    assert!(app.verify().await.is_ok());
}

#[tokio::test]
async fn an_ncp_refusal_of_the_change_fails_the_request_with_ncps_code_and_message() {
    let app = WorkflowApp::spawn().await;
    let r = app.auto_share(GOLDEN_WEB, "b@corp.example").await;
    // The image leaves CREAT after the pre-flight read, so NCP itself refuses the change.
    let sim = app.sim.clone();
    let watched = Watched::new(app.wf.cloud.clone()).before_add(move || {
        sim.set_status(GOLDEN_WEB, "INIT");
    });
    let worker = Worker::new(app.with_cloud(Arc::new(watched)));
    assert_eq!(
        worker.execute(&r.id).await.unwrap(),
        ExecOutcome::Finished(RequestState::Failed)
    );
    let outcome = app.stored(&r.id).await.outcome.unwrap();
    assert_eq!(outcome.ncp_code.as_deref(), Some(ERR_NOT_CREATED));
    assert!(
        outcome
            .message
            .starts_with("NCP change failed: NCP error 1104042")
            && outcome.message.contains("cannot be shared in status INIT"),
        "{}",
        outcome.message
    );
    let failed: Vec<_> = app
        .records(&r.id)
        .await
        .into_iter()
        .filter(|rec| rec.entry.event == AuditEvent::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].entry.detail.contains("1104042"), "{failed:?}");
    assert_eq!(app.add_calls(), 1);
    assert!(app.sim.shared_with(GOLDEN_WEB).is_empty());
    assert!(app.verify().await.is_ok());
}

/// Crashes a worker at `point`, then lets a fresh worker (on `recovery`'s store) finish the job.
async fn crash_then_recover(point: CrashPoint, restart_the_store: bool) {
    let app = WorkflowApp::spawn().await;
    let target = "crash@corp.example";
    let r = app.auto_share(GOLDEN_WEB, target).await;
    assert_eq!(
        app.worker().crash_at(point).execute(&r.id).await.unwrap(),
        ExecOutcome::Crashed(point)
    );
    let ncp_changed = matches!(
        point,
        CrashPoint::AfterNcpChange | CrashPoint::AfterReadBack
    );
    assert_eq!(app.add_calls(), usize::from(ncp_changed), "{point:?}");

    let wf = if restart_the_store {
        app.restarted()
    } else {
        app.wf.clone()
    };
    // Within the lease TTL the dead worker still holds the image: a new worker gives up.
    let mut impatient = wf.clone();
    impatient.settings.lease_wait = Duration::from_millis(50);
    assert_eq!(
        Worker::new(impatient).execute(&r.id).await.unwrap(),
        ExecOutcome::Busy,
        "{point:?}"
    );

    app.advance(LEASE_TTL + Duration::from_secs(1));
    let fresh = Worker::new(wf.clone());
    assert_eq!(fresh.pending_work().await.unwrap(), vec![r.id.clone()]);
    assert_eq!(
        fresh.drain().await.unwrap(),
        vec![(r.id.clone(), ExecOutcome::Finished(RequestState::Succeeded))],
        "{point:?}"
    );
    assert!(fresh.drain().await.unwrap().is_empty());

    let done = wf.store.request(&r.id).await.unwrap().unwrap();
    assert_eq!(done.state, RequestState::Succeeded, "{point:?}");
    assert_eq!(
        done.outcome.unwrap().already_in_place,
        ncp_changed,
        "{point:?}"
    );
    assert_eq!(app.sim.shared_with(GOLDEN_WEB), vec![target]);
    assert_eq!(app.add_calls(), 1, "{point:?}: exactly one NCP change");
    assert_eq!(
        app.count_events(&r.id, AuditEvent::Succeeded).await,
        1,
        "{point:?}"
    );
    assert_eq!(
        wf.store
            .active_grants(&ImageNo::parse(GOLDEN_WEB).unwrap())
            .await
            .unwrap()
            .len(),
        1
    );
    let verified = ncp_share_approver::store::verify_ledger(wf.store.as_ref())
        .await
        .unwrap();
    assert!(verified.is_ok(), "{point:?}: {verified:?}");
}

#[tokio::test]
async fn a_worker_that_crashes_at_any_point_is_finished_by_the_next_exactly_once() {
    for point in CrashPoint::ALL {
        crash_then_recover(point, false).await;
    }
}

#[tokio::test]
async fn a_restarted_process_on_the_same_database_file_finishes_interrupted_work() {
    for point in CrashPoint::ALL {
        crash_then_recover(point, true).await;
    }
}

#[tokio::test]
async fn a_set_without_interference_makes_the_list_exact_in_one_call() {
    let app = WorkflowApp::spawn().await;
    let first = app
        .carol_asks(Action::Share, &["a@corp.example", "b@corp.example"])
        .await;
    app.worker().execute(&first.id).await.unwrap();
    let set = app
        .carol_asks(Action::Set, &["b@corp.example", "c@corp.example"])
        .await;
    assert_eq!(set.state, RequestState::Approved);
    assert_eq!(
        set.set_diff(),
        (vec!["c@corp.example".into()], vec!["a@corp.example".into()])
    );
    assert_eq!(
        app.worker().execute(&set.id).await.unwrap(),
        ExecOutcome::Finished(RequestState::Succeeded)
    );
    assert_eq!(
        app.sim.shared_with(GOLDEN_WEB),
        vec!["b@corp.example", "c@corp.example"]
    );
    assert_eq!(
        app.calls_matching(|op| op == "setMemberServerImageSharingPermission"),
        1
    );
}

#[tokio::test]
async fn a_set_keeps_a_target_another_request_shared_between_its_approval_and_execution() {
    let app = WorkflowApp::spawn().await;
    let first = app
        .carol_asks(Action::Share, &["a@corp.example", "b@corp.example"])
        .await;
    app.worker().execute(&first.id).await.unwrap();
    let set = app
        .carol_asks(Action::Set, &["b@corp.example", "c@corp.example"])
        .await;
    assert_eq!(
        set.shared_with_when_asked,
        vec!["a@corp.example", "b@corp.example"]
    );
    assert_eq!(
        set.set_diff(),
        (vec!["c@corp.example".into()], vec!["a@corp.example".into()])
    );

    // Another approved request lands first.
    let other = app.auto_share(GOLDEN_WEB, "d@corp.example").await;
    assert_eq!(
        app.worker().execute(&other.id).await.unwrap(),
        ExecOutcome::Finished(RequestState::Succeeded)
    );
    assert_eq!(
        app.worker().execute(&set.id).await.unwrap(),
        ExecOutcome::Finished(RequestState::Succeeded)
    );
    // Only the approved diff was applied: +c, -a; d stays.
    assert_eq!(
        sorted(app.sim.shared_with(GOLDEN_WEB)),
        vec!["b@corp.example", "c@corp.example", "d@corp.example"]
    );
    assert_eq!(
        app.calls_matching(|op| op == "setMemberServerImageSharingPermission"),
        0
    );
    let after = app.stored(&set.id).await.outcome.unwrap().shared_with_after;
    assert!(
        after
            .as_ref()
            .is_some_and(|l| l.contains(&"d@corp.example".to_string())),
        "{after:?}"
    );
}

/// Three auto-approved shares executed: 3 × 5 = 15 ledger records.
async fn app_with_a_ledger() -> WorkflowApp {
    let app = WorkflowApp::spawn().await;
    for t in ["l1@corp.example", "l2@corp.example", "l3@corp.example"] {
        let r = app.auto_share(GOLDEN_WEB, t).await;
        app.worker().execute(&r.id).await.unwrap();
    }
    assert_eq!(app.verify().await, Ok(15));
    app
}

#[tokio::test]
async fn a_changed_ledger_record_fails_verification_at_its_position() {
    let app = app_with_a_ledger().await;
    let n = app
        .store
        .execute_raw(
            "UPDATE audit SET body = json_set(body, '$.detail', 'nothing happened') WHERE seq = 4",
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let broken = app.verify().await.unwrap_err();
    assert_eq!((broken.position, broken.seq), (4, 4), "{broken}");
    assert!(broken.why.contains("changed"), "{broken}");
}

#[tokio::test]
async fn a_removed_ledger_record_fails_verification_at_its_position() {
    let app = app_with_a_ledger().await;
    app.store
        .execute_raw("DELETE FROM audit WHERE seq = 6")
        .await
        .unwrap();
    let broken = app.verify().await.unwrap_err();
    assert_eq!((broken.position, broken.seq), (6, 7), "{broken}");

    // Cutting records off the end is caught by the head kept apart.
    let app = app_with_a_ledger().await;
    app.store
        .execute_raw("DELETE FROM audit WHERE seq >= 14")
        .await
        .unwrap();
    let broken = app.verify().await.unwrap_err();
    assert_eq!(broken.position, 14, "{broken}");
    assert!(broken.why.contains("removed from the end"), "{broken}");
}

#[tokio::test]
async fn reordered_ledger_records_fail_verification_at_the_first_moved_position() {
    let app = app_with_a_ledger().await;
    for sql in [
        "UPDATE audit SET seq = 1000 WHERE seq = 3",
        "UPDATE audit SET seq = 3 WHERE seq = 9",
        "UPDATE audit SET seq = 9 WHERE seq = 1000",
    ] {
        assert_eq!(app.store.execute_raw(sql).await.unwrap(), 1, "{sql}");
    }
    let broken = app.verify().await.unwrap_err();
    assert_eq!((broken.position, broken.seq), (3, 9), "{broken}");

    // Swapping the last record with an earlier one is named at the earlier position too.
    let app = app_with_a_ledger().await;
    for sql in [
        "UPDATE audit SET seq = 1000 WHERE seq = 2",
        "UPDATE audit SET seq = 2 WHERE seq = 15",
        "UPDATE audit SET seq = 15 WHERE seq = 1000",
    ] {
        assert_eq!(app.store.execute_raw(sql).await.unwrap(), 1, "{sql}");
    }
    let broken = app.verify().await.unwrap_err();
    assert_eq!((broken.position, broken.seq), (2, 15), "{broken}");
}

#[tokio::test]
async fn a_request_changed_in_the_store_after_approval_is_failed_without_touching_ncp() {
    let app = WorkflowApp::spawn().await;
    let r = app.auto_share(GOLDEN_WEB, "b@corp.example").await;
    // Someone with write access to the database swaps the approved target for another.
    let sql = format!(
        "UPDATE requests SET body = json_set(body, '$.targets', json_array('evil@corp.example')) WHERE id = '{}'",
        r.id
    );
    assert_eq!(app.store.execute_raw(&sql).await.unwrap(), 1);
    assert_eq!(
        app.worker().execute(&r.id).await.unwrap(),
        ExecOutcome::Finished(RequestState::Failed)
    );
    let message = app.stored(&r.id).await.outcome.unwrap().message;
    assert!(message.contains("fingerprint mismatch"), "{message}");
    assert_eq!(app.add_calls(), 0);
    assert!(app.sim.shared_with(GOLDEN_WEB).is_empty());
    assert_eq!(app.count_events(&r.id, AuditEvent::Failed).await, 1);
}

#[tokio::test]
async fn a_request_forced_into_approved_without_a_ledger_decision_is_failed_without_touching_ncp() {
    let app = WorkflowApp::spawn().await;
    let r = app.partner_share().await;
    assert_eq!(r.state, RequestState::Pending);
    // Someone with write access to the database skips the approvals.
    let message = app.forced_approved_fails(&r.id, "").await;
    assert!(
        message.contains("refused") && message.contains("needs 2 approval(s)"),
        "{message}"
    );
    assert_eq!(app.add_calls(), 0);
    assert!(app.sim.shared_with(GOLDEN_WEB).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_worker_loop_runs_queued_requests_one_image_at_a_time_until_shut_down() {
    let app = WorkflowApp::spawn().await;
    app.sim.set_faults(Faults {
        latency: Duration::from_millis(3),
        ..Faults::default()
    });
    let watched = Arc::new(Watched::new(app.wf.cloud.clone()));
    let (queue, hints) = LocalQueue::new();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // The worker's NCP calls are watched; submissions (which look images up) go around it.
    let running = tokio::spawn(Worker::new(app.with_cloud(watched.clone())).run(hints, stopped));
    let mut wf = app.wf.clone();
    wf.queue = Arc::new(queue);

    let mut ids = Vec::new();
    for i in 0..8 {
        let r = wf
            .submit(new_request(
                CAROL,
                Action::Share,
                GOLDEN_WEB,
                &[&format!("loop{i}@corp.example")],
                None,
                None,
            ))
            .await
            .unwrap();
        ids.push(r.id);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut done = 0;
        for id in &ids {
            done += usize::from(app.stored(id).await.state == RequestState::Succeeded);
        }
        if done == ids.len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {done} of {} succeeded",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the loop stops on shutdown")
        .unwrap();
    assert_eq!(app.sim.shared_with(GOLDEN_WEB).len(), 8);
    assert_eq!(app.add_calls(), 8);
    assert_eq!(watched.max_in_flight(), 1);
    for id in &ids {
        assert_eq!(app.count_events(id, AuditEvent::Succeeded).await, 1);
    }
    assert!(app.verify().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_last_approvals_and_double_clicks_approve_exactly_once() {
    for _ in 0..5 {
        let app = WorkflowApp::spawn().await;
        let r = pending_partner_share(&app).await;
        // Alice double-clicks while Bob and Dave click at the same moment.
        let clicks: Vec<_> = [ALICE, ALICE, BOB, DAVE]
            .into_iter()
            .map(|account| {
                let (wf, id) = (app.wf.clone(), r.id.clone());
                tokio::spawn(async move { wf.approve(&id, &who(account)).await.unwrap() })
            })
            .collect();
        let mut approved = 0;
        for click in clicks {
            approved += usize::from(matches!(click.await.unwrap(), ActOutcome::Approved(_)));
        }
        assert_eq!(approved, 1);
        assert_eq!(app.stored(&r.id).await.state, RequestState::Approved);
        // A click that arrives after the request is approved is NotPending and is not recorded.
        let approvals = app.wf.store.approvals(&r.id).await.unwrap();
        assert!((2..=3).contains(&approvals.len()), "{approvals:?}");
        let people: std::collections::BTreeSet<&str> =
            approvals.iter().map(|a| a.person.as_str()).collect();
        assert_eq!(people.len(), approvals.len(), "one approval per person");
        assert_eq!(
            app.count_events(&r.id, AuditEvent::Approved).await,
            approvals.len()
        );
        assert_eq!(app.count_events(&r.id, AuditEvent::Decided).await, 2);
        assert_eq!(
            app.notifier
                .names_for(&r.id)
                .iter()
                .filter(|n| **n == "approved")
                .count(),
            1
        );
        assert!(app.verify().await.is_ok());
    }
}

#[tokio::test]
async fn only_the_requester_can_cancel_a_pending_request() {
    let app = WorkflowApp::spawn().await;
    let r = pending_partner_share(&app).await;
    assert!(matches!(
        app.wf.cancel(&r.id, &who(ALICE)).await.unwrap(),
        ActOutcome::NotAllowed(_)
    ));
    match app.wf.cancel(&r.id, &who(CAROL)).await.unwrap() {
        ActOutcome::Cancelled(req) => assert_eq!(req.state, RequestState::Cancelled),
        other => panic!("expected Cancelled, got {other:?}"),
    }
    assert!(matches!(
        app.wf.approve(&r.id, &who(ALICE)).await.unwrap(),
        ActOutcome::NotPending(_)
    ));
    assert_eq!(
        app.events(&r.id).await,
        ["requested", "decided", "cancelled"]
    );
    assert_eq!(app.notifier.names_for(&r.id), ["submitted", "cancelled"]);
}

#[tokio::test]
async fn a_last_approval_whose_process_stopped_before_the_state_change_is_completed_by_the_sweep() {
    use ncp_share_approver::audit::AuditEntry;
    use ncp_share_approver::clock::Clock as _;
    use ncp_share_approver::domain::Approval;
    use ncp_share_approver::store::{Change, Committed};
    let app = WorkflowApp::spawn().await;
    let r = pending_partner_share(&app).await;
    assert!(matches!(
        app.wf.approve(&r.id, &who(ALICE)).await.unwrap(),
        ActOutcome::Counted { remaining: 1, .. }
    ));
    // One of two: the sweep leaves it pending.
    assert!(app.wf.sweep().await.unwrap().approved_late.is_empty());
    assert_eq!(app.stored(&r.id).await.state, RequestState::Pending);
    // Bob's approval as `approve` writes it first (the approval and its signed ledger record),
    // and then nothing: the process was killed before the state change, and Slack does not
    // send the click again.
    let at = app.clock.now();
    let entry = ncp_share_approver::audit::seal::seal(
        AuditEntry {
            at,
            event: AuditEvent::Approved,
            actor: who(BOB).to_string(),
            request_id: Some(r.id.to_string()),
            fingerprint: Some(r.fingerprint.clone()),
            rule: r.rule.clone(),
            policy_hash: Some(r.policy_hash.clone()),
            detail: "approved by bob".into(),
            sig: None,
        },
        &crate::harness::fixtures::test_signer(),
    );
    let approval = Approval {
        request_id: r.id.clone(),
        person: serde_json::from_value(serde_json::json!("bob")).unwrap(),
        identity: who(BOB),
        approve: true,
        at,
        comment: None,
    };
    assert!(matches!(
        app.wf
            .store
            .commit(Change {
                approval: Some(approval),
                audit: vec![entry],
                ..Default::default()
            })
            .await
            .unwrap(),
        Committed::Done(_)
    ));
    assert_eq!(app.stored(&r.id).await.state, RequestState::Pending);
    // The next sweep approves it as a repeated click would, and the worker shares it on the
    // signed approvals.
    let report = app.wf.sweep().await.unwrap();
    assert_eq!(report.approved_late, vec![r.id.clone()]);
    assert_eq!(app.stored(&r.id).await.state, RequestState::Approved);
    assert!(
        app.wf.sweep().await.unwrap().approved_late.is_empty(),
        "once"
    );
    let done = app.worker().drain().await.unwrap();
    assert_eq!(
        done,
        vec![(r.id.clone(), ExecOutcome::Finished(RequestState::Succeeded))]
    );
    assert_eq!(app.sim.shared_with(GOLDEN_WEB), vec![PARTNER]);
    assert_eq!(
        app.count_events(&r.id, AuditEvent::Decided).await,
        2,
        "the decision at submission and the approval"
    );
    app.verify().await.unwrap();
}
