//! The ledger against a database insider: what someone who can write the store (but does not
//! hold LEDGER_SIGNING_KEY) can no longer do, and how each attempt shows.

use crate::harness::bin::run;
use crate::harness::fixtures::{TEST_LEDGER_KEY, TEST_LEDGER_VKEY, test_signer};
use crate::harness::workflow_app::*;
use ncp_share_approver::audit::note::NoteVerifier;
use ncp_share_approver::audit::tlog::{self, OpenedCheckpoint};
use ncp_share_approver::audit::{self, AuditEvent, AuditRecord, checkpoint::Checkpoint};
use ncp_share_approver::domain::{RequestId, RequestState};
use ncp_share_approver::policy::Action;
use ncp_share_approver::store::{Inserted, Store};
use ncp_share_approver::workflow::{ActOutcome, Checkpointer, ExecOutcome, Trigger};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const PARTNER: &str = "a@partner.example";
const EVIL: &str = "evil@partner.example";

fn verifier() -> NoteVerifier {
    NoteVerifier::from_vkey(TEST_LEDGER_VKEY).unwrap()
}

/// A 2-of-3 partner share, approved by alice and bob and executed.
async fn genuine_share(app: &WorkflowApp) -> ncp_share_approver::domain::ShareRequest {
    let r = app.carol_asks(Action::Share, &[PARTNER]).await;
    assert_eq!(r.state, RequestState::Pending);
    for approver in [ALICE, BOB] {
        app.wf.approve(&r.id, &who(approver)).await.unwrap();
    }
    assert_eq!(
        app.worker().execute(&r.id).await.unwrap(),
        ExecOutcome::Finished(RequestState::Succeeded)
    );
    r
}

/// Escapes text for a single-quoted SQL literal.
fn sql_text(s: &str) -> String {
    s.replace('\'', "''")
}

#[tokio::test]
async fn a_forged_approved_row_with_another_requests_records_is_refused_and_the_refusal_is_recorded()
 {
    let app = WorkflowApp::spawn().await;
    let genuine = genuine_share(&app).await;
    assert_eq!(app.sim.shared_with(GOLDEN_WEB), vec![PARTNER]);

    // The insider writes a new row: approved, another target, a fingerprint recomputed for it.
    let mut forged = app.stored(&genuine.id).await;
    forged.id = RequestId::random();
    forged.targets = ids(&[EVIL]);
    forged.fingerprint = forged.computed_fingerprint();
    forged.state = RequestState::Approved;
    forged.outcome = None;
    forged.attempts = 0;
    assert_eq!(
        app.store.insert_request(&forged).await.unwrap(),
        Inserted::New
    );
    // ... and copies the genuine request's records onto it, two ways: edited to name the forged
    // request and fingerprint (keeping the genuine signatures), and unchanged but filed under
    // the forged id in the store's request_id column. The store chains both, so the chain and
    // its head stay intact.
    let records = app.records(&genuine.id).await;
    for r in records.iter().filter(|r| {
        matches!(
            r.entry.event,
            AuditEvent::Requested | AuditEvent::Decided | AuditEvent::Approved
        )
    }) {
        let mut edited = r.entry.clone();
        edited.request_id = Some(forged.id.to_string());
        edited.fingerprint = Some(forged.fingerprint.clone());
        app.store.append_audit(edited).await.unwrap();
        let copy = app.store.append_audit(r.entry.clone()).await.unwrap();
        let sql = format!(
            "UPDATE audit SET request_id = '{}' WHERE seq = {}",
            forged.id, copy.seq
        );
        assert_eq!(app.store.execute_raw(&sql).await.unwrap(), 1);
    }
    assert!(
        app.verify().await.is_ok(),
        "the chain alone does not see this"
    );

    assert_eq!(
        app.worker().execute(&forged.id).await.unwrap(),
        ExecOutcome::Finished(RequestState::Failed)
    );
    assert_eq!(
        app.sim.shared_with(GOLDEN_WEB),
        vec![PARTNER],
        "nothing was shared with the forged target"
    );
    assert_eq!(app.add_calls(), 1, "only the genuine share reached NCP");
    let message = app.stored(&forged.id).await.outcome.unwrap().message;
    assert!(
        message.contains("refused") && message.contains("no signed ledger record"),
        "{message}"
    );
    // The refusal is itself a signed record of the forged request.
    let failed: Vec<AuditRecord> = app
        .wf
        .store
        .audit_for_request(&forged.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.event == AuditEvent::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].entry.detail.contains("refused"));
    assert!(audit::seal::is_sealed_by(&failed[0].entry, &verifier()));
}

#[tokio::test]
async fn a_lowered_approval_count_in_the_store_does_not_let_one_approval_through() {
    let app = WorkflowApp::spawn().await;
    let r = app.carol_asks(Action::Share, &[PARTNER]).await;
    assert!(matches!(
        app.wf.approve(&r.id, &who(ALICE)).await.unwrap(),
        ActOutcome::Counted { remaining: 1, .. }
    ));
    // One genuine approval; the insider makes the row say one is enough, and approved.
    let message = app
        .forced_approved_fails(&r.id, ", '$.min_approvals', 1")
        .await;
    assert!(
        message.contains("needs 2 approval(s)") && message.contains("has 1"),
        "{message}"
    );
    assert!(app.sim.shared_with(GOLDEN_WEB).is_empty());
}

#[tokio::test]
async fn a_record_signed_by_another_key_does_not_count_as_an_approval() {
    let app = WorkflowApp::spawn().await;
    let r = app.carol_asks(Action::Share, &[PARTNER]).await;
    app.wf.approve(&r.id, &who(ALICE)).await.unwrap();
    // The insider has a key of their own and signs bob's "approval" with it.
    let own = ncp_share_approver::audit::note::NoteSigner::generate("ncp-share-approver").unwrap();
    let mut bob = app.records(&r.id).await.last().unwrap().entry.clone();
    bob.actor = BOB.into();
    bob.detail = "approved by bob".into();
    app.store
        .append_audit(audit::seal::seal(bob, &own))
        .await
        .unwrap();
    let sql = format!(
        "UPDATE requests SET state = 'approved', body = json_set(body, '$.state', 'approved') WHERE id = '{}'",
        r.id
    );
    app.store.execute_raw(&sql).await.unwrap();
    assert_eq!(
        app.worker().execute(&r.id).await.unwrap(),
        ExecOutcome::Finished(RequestState::Failed)
    );
    let message = app.stored(&r.id).await.outcome.unwrap().message;
    assert!(
        message.contains("has 1") && message.contains("ignored"),
        "{message}"
    );
    assert!(app.sim.shared_with(GOLDEN_WEB).is_empty());
}

/// The records as stored, and the head.
async fn ledger(app: &WorkflowApp) -> (Vec<AuditRecord>, Option<(u64, String)>) {
    (
        ncp_share_approver::store::all_records(app.store.as_ref())
            .await
            .unwrap(),
        app.store.audit_head().await.unwrap(),
    )
}

/// Rewrites the stored ledger from `records` (re-chained from the first changed one), with the
/// head moved to the end: what an insider with write access and no key can do.
async fn rewrite(app: &WorkflowApp, records: &[AuditRecord], keep: usize) {
    let mut chained: Vec<AuditRecord> = Vec::new();
    for r in &records[..keep] {
        let prev = chained.last().map(|p| (p.seq, p.hash.as_str()));
        chained.push(audit::chain(prev, r.entry.clone()));
    }
    app.store.execute_raw("DELETE FROM audit").await.unwrap();
    for r in &chained {
        let sql = format!(
            "INSERT INTO audit (seq, request_id, body) VALUES ({}, {}, '{}')",
            r.seq,
            r.entry
                .request_id
                .as_deref()
                .map(|id| format!("'{id}'"))
                .unwrap_or("NULL".into()),
            sql_text(&serde_json::to_string(r).unwrap())
        );
        app.store.execute_raw(&sql).await.unwrap();
    }
    let last = chained.last().unwrap();
    let sql = format!(
        "UPDATE audit_head SET seq = {}, hash = '{}'",
        last.seq, last.hash
    );
    app.store.execute_raw(&sql).await.unwrap();
}

fn opened(note: &str) -> Vec<OpenedCheckpoint> {
    tlog::open_checkpoints(&[("earlier".into(), note.to_string())], &verifier()).unwrap()
}

async fn app_with_history() -> (WorkflowApp, Checkpointer, String) {
    let app = WorkflowApp::spawn().await;
    let checkpoints = Checkpointer::new(
        app.store.clone(),
        test_signer(),
        app.clock.clone(),
        100,
        Duration::from_secs(600),
    );
    genuine_share(&app).await;
    let earlier = checkpoints
        .run(Trigger::Asked)
        .await
        .unwrap()
        .expect("a checkpoint over the first share");
    // More history after the checkpoint.
    app.auto_share(GOLDEN_WEB, "x@corp.example").await;
    app.worker().drain().await.unwrap();
    (app, checkpoints, earlier.note)
}

#[tokio::test]
async fn a_rewritten_ledger_with_a_recomputed_chain_fails_against_an_earlier_checkpoint() {
    let (app, checkpoints, earlier) = app_with_history().await;
    let (records, head) = ledger(&app).await;
    let cp = Checkpoint::open(&earlier, &verifier()).unwrap();
    assert!(cp.size >= 5 && (cp.size as usize) < records.len());
    let h = head.as_ref().map(|(s, h)| (*s, h.as_str()));
    let good = tlog::verify_all(&records, h, &opened(&earlier), &verifier()).unwrap();
    assert_eq!(good.checkpoints, vec![cp.size]);

    // The insider changes who approved (record 4: an approval) and recomputes every hash and
    // the head.
    let mut changed = records.clone();
    let approval = changed
        .iter_mut()
        .find(|r| r.entry.event == AuditEvent::Approved)
        .unwrap();
    approval.entry.actor = "slack:U999MALLORY".into();
    rewrite(&app, &changed, changed.len()).await;
    let (records, head) = ledger(&app).await;
    let h = head.as_ref().map(|(s, h)| (*s, h.as_str()));
    assert!(
        audit::verify(&records, h).is_ok(),
        "the chain alone is fooled"
    );
    let broken = tlog::verify_all(&records, h, &opened(&earlier), &verifier()).unwrap_err();
    assert!(
        broken.why.contains("do not match checkpoint earlier"),
        "{broken}"
    );
    // The checkpointer refuses to sign over it: the first record after its checkpoint no longer
    // links to the record it covered.
    app.auto_share(GOLDEN_WEB, "y@corp.example").await;
    let refused = checkpoints.run(Trigger::Asked).await.unwrap_err();
    assert!(refused.to_string().contains("tampering"), "{refused}");
}

#[tokio::test]
async fn a_truncated_ledger_with_a_moved_head_fails_against_an_earlier_checkpoint() {
    let (app, _checkpoints, earlier) = app_with_history().await;
    let cp = Checkpoint::open(&earlier, &verifier()).unwrap();
    let (records, _) = ledger(&app).await;
    // Everything from the middle of the checkpointed part on is cut, and the head moved.
    rewrite(&app, &records, cp.size as usize - 2).await;
    let (records, head) = ledger(&app).await;
    let h = head.as_ref().map(|(s, h)| (*s, h.as_str()));
    assert!(audit::verify(&records, h).is_ok(), "the head was moved too");
    let broken = tlog::verify_all(&records, h, &opened(&earlier), &verifier()).unwrap_err();
    assert!(
        broken.why.contains(&format!(
            "covers {} records but the ledger has only",
            cp.size
        )),
        "{broken}"
    );
}

#[tokio::test]
async fn an_unsigned_record_after_the_last_checkpoint_is_named() {
    let (app, _checkpoints, earlier) = app_with_history().await;
    let (records, _) = ledger(&app).await;
    let mut fake = records.last().unwrap().entry.clone();
    fake.sig = None;
    fake.detail = "inserted".into();
    let appended = app.store.append_audit(fake).await.unwrap();
    let (records, head) = ledger(&app).await;
    let h = head.as_ref().map(|(s, h)| (*s, h.as_str()));
    let broken = tlog::verify_all(&records, h, &opened(&earlier), &verifier()).unwrap_err();
    assert_eq!(broken.seq, appended.seq);
    assert!(broken.why.contains("no signature"), "{broken}");
}

#[tokio::test]
async fn an_export_is_verified_offline_with_only_the_public_key_and_a_checkpoint() {
    let (app, _checkpoints, _) = app_with_history().await;
    let work = tempfile::tempdir().unwrap();
    let db = app.db_path.to_str().unwrap().to_string();
    let env = [
        ("NSA_STORE__PATH", db.as_str()),
        ("LEDGER_SIGNING_KEY", TEST_LEDGER_KEY),
    ];
    let key = run(work.path(), &["audit", "key"], &env);
    assert!(key.status.success());
    assert_eq!(
        String::from_utf8_lossy(&key.stdout).trim(),
        TEST_LEDGER_VKEY
    );
    let cp = run(work.path(), &["audit", "checkpoint"], &env);
    assert!(
        cp.status.success(),
        "{}",
        String::from_utf8_lossy(&cp.stderr)
    );
    let note = String::from_utf8(cp.stdout).unwrap();
    let size = Checkpoint::open(&note, &verifier()).unwrap().size;
    assert_eq!(size, ledger(&app).await.0.len() as u64);
    let export = run(work.path(), &["audit", "export"], &env);
    assert!(export.status.success());

    // Offline: an empty folder, no configuration, no store, no secret.
    let offline = tempfile::tempdir().unwrap();
    std::fs::write(offline.path().join("ledger.jsonl"), &export.stdout).unwrap();
    std::fs::write(offline.path().join("cp.txt"), &note).unwrap();
    let args = [
        "audit",
        "verify",
        "--export",
        "ledger.jsonl",
        "--public-key",
        TEST_LEDGER_VKEY,
        "--checkpoint",
        "cp.txt",
    ];
    let ok = run(offline.path(), &args, &[]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains(&format!("ledger OK: {size} records")),
        "{stdout}"
    );

    // One changed character in the export, a wrong key, or a forged checkpoint: each fails.
    let text = String::from_utf8(export.stdout.clone()).unwrap();
    let tampered = text.replacen("approved by alice", "approved by mallo", 1);
    assert_ne!(tampered, text);
    std::fs::write(offline.path().join("ledger.jsonl"), tampered).unwrap();
    let bad = run(offline.path(), &args, &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("BROKEN"));

    std::fs::write(offline.path().join("ledger.jsonl"), &export.stdout).unwrap();
    let other = ncp_share_approver::audit::note::NoteSigner::generate("ncp-share-approver")
        .unwrap()
        .verifier()
        .to_vkey();
    let mut wrong = args.to_vec();
    wrong[5] = &other;
    let bad = run(offline.path(), &wrong, &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("checkpoint cp.txt"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    // Against the store: the same checkpoint, then the store truncated behind it.
    std::fs::write(work.path().join("cp.txt"), &note).unwrap();
    let verify = run(
        work.path(),
        &["audit", "verify", "--checkpoint", "cp.txt"],
        &env,
    );
    assert!(verify.status.success());
    let (records, _) = ledger(&app).await;
    rewrite(&app, &records, records.len() - 1).await;
    app.store
        .execute_raw("DELETE FROM checkpoints")
        .await
        .unwrap();
    let verify = run(
        work.path(),
        &["audit", "verify", "--checkpoint", "cp.txt"],
        &env,
    );
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&verify.stderr).contains("records were removed"),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[tokio::test]
async fn checkpoints_follow_executions_and_the_schedule_only_when_due() {
    let app = WorkflowApp::spawn().await;
    let checkpoints = Arc::new(Checkpointer::new(
        app.store.clone(),
        test_signer(),
        app.clock.clone(),
        1_000,
        Duration::from_secs(600),
    ));
    let worker = app.worker().with_checkpoints(checkpoints.clone());
    let r = app.auto_share(GOLDEN_WEB, "x@corp.example").await;
    assert_eq!(
        worker.execute(&r.id).await.unwrap(),
        ExecOutcome::Finished(RequestState::Succeeded)
    );
    let after_execution = app.store.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(
        after_execution.size,
        app.store.audit_head().await.unwrap().unwrap().0
    );
    // A new record: the schedule waits for 1,000 records or ten minutes.
    app.auto_share(GOLDEN_WEB, "y@corp.example").await;
    assert!(checkpoints.run(Trigger::Schedule).await.unwrap().is_none());
    app.advance(Duration::from_secs(601));
    let scheduled = checkpoints.run(Trigger::Schedule).await.unwrap().unwrap();
    assert!(scheduled.size > after_execution.size);
    // Nothing new: nothing signed, even when asked.
    assert!(checkpoints.run(Trigger::Asked).await.unwrap().is_none());
    let all = app.store.checkpoints().await.unwrap();
    assert_eq!(
        all.iter().map(|c| c.size).collect::<Vec<_>>(),
        vec![after_execution.size, scheduled.size]
    );
}

/// Whether Go and golang.org/x/mod are installed; under CI their absence fails the test.
fn go_available() -> bool {
    let go = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    let xmod = std::path::Path::new("/usr/share/gocode/src/golang.org/x/mod/sumdb/note").is_dir();
    if !(go && xmod) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but Go or golang.org/x/mod is missing: apt-get install -y golang-go golang-golang-x-mod-dev (`.ci/run` does it)"
        );
        eprintln!("SKIPPED: Go or golang.org/x/mod is not installed");
    }
    go && xmod
}

#[tokio::test]
async fn what_audit_prove_prints_is_verified_by_gos_sumdb_note_and_tlog() {
    let (app, _checkpoints, earlier) = app_with_history().await;
    if !go_available() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let db = app.db_path.to_str().unwrap().to_string();
    let env = [
        ("NSA_STORE__PATH", db.as_str()),
        ("LEDGER_SIGNING_KEY", TEST_LEDGER_KEY),
    ];
    let r = app.auto_share(GOLDEN_WEB, "z@corp.example").await;
    std::fs::write(work.path().join("earlier.checkpoint"), &earlier).unwrap();
    let inclusion = run(work.path(), &["audit", "prove", r.id.as_str()], &env);
    assert!(
        inclusion.status.success(),
        "{}",
        String::from_utf8_lossy(&inclusion.stderr)
    );
    let bundle: serde_json::Value = serde_json::from_slice(&inclusion.stdout).unwrap();
    assert!(bundle["records"].as_array().unwrap().len() >= 2);
    std::fs::write(work.path().join("inclusion.json"), &inclusion.stdout).unwrap();
    let consistency = run(
        work.path(),
        &["audit", "prove", "--since", "earlier.checkpoint"],
        &env,
    );
    assert!(
        consistency.status.success(),
        "{}",
        String::from_utf8_lossy(&consistency.stderr)
    );
    std::fs::write(work.path().join("consistency.json"), &consistency.stdout).unwrap();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/go/interop.sh");
    let go = |files: &[&str]| {
        Command::new("bash")
            .arg(script)
            .arg(work.path().join("go"))
            .args(["-key", TEST_LEDGER_VKEY])
            .args(files.iter().map(|f| work.path().join(f)))
            .output()
            .unwrap()
    };
    let ok = go(&["inclusion.json", "consistency.json"]);
    assert!(
        ok.status.success(),
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    // A record changed after the fact: Go refuses the proof.
    let mut bad = bundle.clone();
    let leaf = bad["records"][0]["leaf_b64"].as_str().unwrap().to_string();
    let mut bytes =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &leaf).unwrap();
    bytes[10] ^= 1;
    bad["records"][0]["leaf_b64"] =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes).into();
    std::fs::write(
        work.path().join("bad.json"),
        serde_json::to_vec(&bad).unwrap(),
    )
    .unwrap();
    let refused = go(&["bad.json"]);
    assert_eq!(refused.status.code(), Some(1));
}
