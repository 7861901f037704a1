//! The binary as a person runs it: exit codes and what it prints.

use crate::harness::bin::run;
use crate::harness::ncp::{self as helpers, TestNcp};
use ncp_share_approver::audit::{AuditEntry, AuditEvent};
use ncp_share_approver::ncp::sim::{DEMO_ACCESS_KEY, DEMO_SECRET_KEY};
use ncp_share_approver::store::{SqliteStore, Store};
use std::process::Output;

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn shares_prints_the_live_share_list_of_xen_and_kvm_images() {
    let ncp = TestNcp::start().await;
    let base: &'static str = Box::leak(
        ncp.running
            .as_ref()
            .unwrap()
            .base_url
            .clone()
            .into_boxed_str(),
    );
    ncp.sim.add_image({
        let mut i = helpers::xen_image("1234567", "golden-web");
        i.shared_with = vec!["a@partner.example".into(), "b c@partner.example".into()];
        i
    });
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("NCP_API_ENDPOINT", base),
        ("NCP_ACCESS_KEY", DEMO_ACCESS_KEY),
        ("NCP_SECRET_KEY", DEMO_SECRET_KEY),
    ];
    let dir_path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || run(&dir_path, &["shares", "1234567"], &env))
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("golden-web") && stdout.contains("XEN"),
        "{stdout}"
    );
    assert!(
        stdout.contains("a@partner.example") && stdout.contains("b c@partner.example"),
        "{stdout}"
    );

    let dir_path = dir.path().to_path_buf();
    let out =
        tokio::task::spawn_blocking(move || run(&dir_path, &["shares", "3456789", "--json"], &env))
            .await
            .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["hypervisor"], "KVM");
    assert_eq!(v["shared_with"], serde_json::json!([]));
}

#[tokio::test]
async fn shares_fails_with_one_clear_line_and_never_the_secret() {
    let ncp = TestNcp::start().await;
    let base = ncp.running.as_ref().unwrap().base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        run(
            &dir_path,
            &["shares", "1234567"],
            &[
                ("NCP_API_ENDPOINT", base.as_str()),
                ("NCP_ACCESS_KEY", DEMO_ACCESS_KEY),
                ("NCP_SECRET_KEY", "wrong-secret-value-123"),
            ],
        )
    })
    .await
    .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("authentication failed")
            && stderr.contains(&ncp_share_approver::ncp::mask_access_key(DEMO_ACCESS_KEY))
            && !stderr.contains(DEMO_ACCESS_KEY),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    assert!(
        !stderr.contains("wrong-secret-value-123") && !stdout.contains("wrong-secret-value-123")
    );

    let out = run(dir.path(), &["shares", "12ab"], &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("not an image number"), "{stderr}");

    let out = run(dir.path(), &["shares", "1234567"], &[]);
    let (_, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr.contains("NCP_ACCESS_KEY"),
        "missing credentials are named: {stderr}"
    );
}

#[test]
fn policy_check_accepts_the_example_and_names_the_line_of_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policy.toml");
    let out = run(
        dir.path(),
        &["policy", "check", example.to_str().unwrap()],
        &[],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("OK") && stdout.contains("sha256"),
        "{stdout}"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[people]\nalice = { slack = \"U1\" }\n\n[groups]\nadmins = [\"alice\", \"mallory\"]\n\n[[rules]]\nname = \"r\"\nimages = [\"no:12\"]\ntargets = [\"*\"]\nrequesters = [\"group:admins\"]\napprovers = [\"group:nobody\"]\nmin_aprovals = 1\n",
    )
    .unwrap();
    let out = run(dir.path(), &["policy", "check", bad.to_str().unwrap()], &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("bad.toml:5") && stderr.contains("mallory"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.toml:12") && stderr.contains("nobody"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.toml:13") && stderr.contains("min_aprovals"),
        "{stderr}"
    );
}

#[test]
fn policy_explain_names_the_rule_and_approvers_or_why_nothing_matched() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policy.toml");
    let p = example.to_str().unwrap();
    let args = [
        "policy",
        "explain",
        "--policy",
        p,
        "--requester",
        "slack:U056CAROL",
        "--image",
        "1234567",
        "--target",
        "a@partner.example",
        "--duration",
        "7d",
        "--reason",
        "partner pilot",
    ];
    let out = run(dir.path(), &args, &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("ALLOWED") && stdout.contains("golden images to partners"),
        "{stdout}"
    );
    assert!(
        stdout.contains("alice") && stdout.contains("bob"),
        "{stdout}"
    );

    let args = [
        "policy",
        "explain",
        "--policy",
        p,
        "--requester",
        "slack:U056CAROL",
        "--image",
        "1234567",
        "--target",
        "a@elsewhere.example",
    ];
    let out = run(dir.path(), &args, &[]);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("DENIED"), "{stdout}");
    assert!(
        stdout.contains("a@elsewhere.example"),
        "says which target failed: {stdout}"
    );
}

#[tokio::test]
async fn audit_verify_is_green_then_names_the_first_tampered_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let store = SqliteStore::open(&db).unwrap();
    for i in 0..5 {
        store
            .append_audit(AuditEntry {
                at: chrono::Utc::now(),
                event: AuditEvent::Requested,
                actor: format!("slack:U{i}"),
                request_id: None,
                fingerprint: None,
                rule: None,
                policy_hash: None,
                detail: format!("record {i}"),
                sig: None,
            })
            .await
            .unwrap();
    }
    let env = [
        ("NSA_STORE__PATH", db.to_str().unwrap()),
        (
            "LEDGER_SIGNING_KEY",
            crate::harness::fixtures::TEST_LEDGER_KEY,
        ),
    ];
    let out = run(dir.path(), &["audit", "verify"], &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("5 records"), "{stdout}");

    let out = run(dir.path(), &["audit", "export", "--format", "jsonl"], &env);
    let (stdout, _) = text(&out);
    assert_eq!(stdout.lines().count(), 5);
    assert!(
        stdout
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );

    store
        .execute_raw("UPDATE audit SET body = replace(body, 'record 3', 'record X') WHERE seq = 4")
        .await
        .unwrap();
    let out = run(dir.path(), &["audit", "verify"], &env);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("BROKEN") && stderr.contains("record 4"),
        "{stderr}"
    );
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["ncp-sim", "--help"],
        vec!["shares", "--help"],
        vec!["policy", "check", "--help"],
        vec!["policy", "explain", "--help"],
        vec!["requests", "list", "--help"],
        vec!["requests", "show", "--help"],
        vec!["audit", "verify", "--help"],
        vec!["audit", "export", "--help"],
        vec!["audit", "key", "--help"],
        vec!["audit", "checkpoint", "--help"],
        vec!["audit", "prove", "--help"],
        vec!["sweep", "--help"],
        vec!["reconcile", "--help"],
        vec!["catalog", "--help"],
        vec!["catalog", "refresh", "--help"],
        vec!["catalog", "list", "--help"],
    ] {
        let out = run(dir.path(), &args, &[]);
        let (stdout, _) = text(&out);
        assert!(out.status.success(), "{args:?}");
        assert!(stdout.contains("Usage:"), "{args:?}: {stdout}");
    }
}

#[test]
fn a_bad_configuration_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[ncp]\nsite = \"moon\"\n").unwrap();
    let out = run(
        dir.path(),
        &["--config", cfg.to_str().unwrap(), "shares", "1234567"],
        &[],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("c.toml") && stderr.contains("moon"),
        "{stderr}"
    );
}

#[test]
fn a_tool_knob_in_the_configuration_prefix_is_named_and_one_outside_it_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/policy.toml");
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, format!("policy = {:?}\n", example.to_str().unwrap())).unwrap();
    let explain = [
        "policy",
        "explain",
        "--requester",
        "slack:U1",
        "--image",
        "1234567",
    ];
    let explain: Vec<&str> = explain.into_iter().chain(["--target", "a@b"]).collect();
    // `.ci/run`'s knob is CI_VENV, outside NSA_*; NSA_CONFIG names the file and is no override.
    let cfg_path = cfg.to_str().unwrap();
    let out = run(
        dir.path(),
        &explain,
        &[("CI_VENV", "/venv"), ("NSA_CONFIG", cfg_path)],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("decision:"), "{stdout}");
    // Its old name is inside the prefix: refused, and the error says which variable.
    let out = run(
        dir.path(),
        &explain,
        &[("NSA_CI_VENV", "/venv"), ("NSA_CONFIG", cfg_path)],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("environment variable NSA_CI_VENV") && stderr.contains("ci_venv"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_kind_is_refused_with_the_key_and_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["requests", "list"],
        &[("NSA_STORE__KIND", "mysql")],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("environment variable NSA_STORE__KIND")
            && stderr.contains(
                "store.kind: unknown kind \"mysql\"; expected one of: sqlite, dynamodb, postgres"
            ),
        "{stderr}"
    );
}

#[tokio::test]
async fn reconcile_prints_drift_and_removes_it_only_when_the_configuration_allows() {
    let ncp = TestNcp::start().await;
    let base = ncp.running.as_ref().unwrap().base_url.clone();
    ncp.sim.add_image({
        let mut i = helpers::xen_image("1234567", "golden-web");
        i.shared_with = vec!["console@corp.example".into()];
        i
    });
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, crate::harness::fixtures::WORKFLOW_POLICY).unwrap();
    let db = dir.path().join("store.db");
    let run_with = |args: Vec<&'static str>, allow: bool| {
        let (dir_path, base, policy, db) = (
            dir.path().to_path_buf(),
            base.clone(),
            policy.to_str().unwrap().to_string(),
            db.to_str().unwrap().to_string(),
        );
        tokio::task::spawn_blocking(move || {
            let mut env = vec![
                ("NCP_API_ENDPOINT", base.as_str()),
                ("NCP_ACCESS_KEY", DEMO_ACCESS_KEY),
                ("NCP_SECRET_KEY", DEMO_SECRET_KEY),
                ("NSA_POLICY", policy.as_str()),
                ("NSA_STORE__PATH", db.as_str()),
                (
                    "LEDGER_SIGNING_KEY",
                    crate::harness::fixtures::TEST_LEDGER_KEY,
                ),
            ];
            if allow {
                env.push(("NSA_LIFECYCLE__ALLOW_REVOKE_UNMANAGED", "true"));
            }
            run(&dir_path, &args, &env)
        })
    };

    let out = run_with(vec!["reconcile"], false).await.unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("UNMANAGED") && stdout.contains("console@corp.example"),
        "{stdout}"
    );

    let out = run_with(vec!["reconcile", "--revoke-unmanaged"], false)
        .await
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("allow_revoke_unmanaged"), "{stderr}");
    assert_eq!(ncp.sim.shared_with("1234567"), vec!["console@corp.example"]);

    let out = run_with(vec!["reconcile", "--revoke-unmanaged"], true)
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("succeeded"), "{stdout}");
    assert!(ncp.sim.shared_with("1234567").is_empty());

    let out = run_with(vec!["sweep"], false).await.unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("expired 0 pending request(s)"), "{stdout}");

    let out = run_with(vec!["audit", "verify"], false).await.unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
}

#[tokio::test]
async fn outbox_lists_what_is_owed_and_sends_a_failed_message_again() {
    use ncp_share_approver::workflow::outbox::{Message, OutboxEntry, OutboxStatus};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let store = SqliteStore::open(&db).unwrap();
    let env = [("NSA_STORE__PATH", db.to_str().unwrap())];
    let (stdout, _) = text(&run(dir.path(), &["outbox", "list"], &env));
    assert!(stdout.contains("nothing owed"), "{stdout}");

    let mut failed = OutboxEntry::new(
        Message::JiraSay {
            issue_key: "SHARE-1".into(),
            paragraphs: vec!["hello".into()],
        },
        chrono::Utc::now(),
        0,
        0,
    );
    failed.status = OutboxStatus::Failed;
    failed.attempts = 10;
    failed.last_error = Some("jira POST comment: HTTP 503".into());
    ncp_share_approver::store::enqueue(&store, vec![failed.clone()])
        .await
        .unwrap();
    let out = run(dir.path(), &["outbox", "list", "--failed"], &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains(&failed.id), "{stdout}");
    assert!(
        stdout.contains("failed") && stdout.contains("HTTP 503"),
        "{stdout}"
    );

    let out = run(dir.path(), &["outbox", "retry", &failed.id], &env);
    assert!(out.status.success(), "{}", text(&out).1);
    let again = store.outbox_entry(&failed.id).await.unwrap().unwrap();
    assert_eq!(again.status, OutboxStatus::Pending);
    assert_eq!(again.attempts, 0);
    let (stdout, _) = text(&run(dir.path(), &["outbox", "list", "--failed"], &env));
    assert!(!stdout.contains(&failed.id), "{stdout}");

    let out = run(dir.path(), &["outbox", "retry", "ob_nope"], &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("no message ob_nope"));
}

#[tokio::test]
async fn catalog_refresh_stores_the_shareable_images_and_catalog_list_prints_them() {
    let ncp = TestNcp::start().await;
    let base = ncp.running.as_ref().unwrap().base_url.clone();
    ncp.sim
        .add_image(helpers::xen_image("1234567", "golden-web"));
    ncp.sim.add_image(helpers::xen_image("2345678", "api-base"));
    ncp.sim
        .add_image(helpers::xen_image("3456780", "still-building"));
    assert!(ncp.sim.set_status("3456780", "INIT"));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let run_with = |args: Vec<&'static str>, secret: &'static str| {
        let (dir_path, base, db) = (
            dir.path().to_path_buf(),
            base.clone(),
            db.to_str().unwrap().to_string(),
        );
        tokio::task::spawn_blocking(move || {
            let env = [
                ("NCP_API_ENDPOINT", base.as_str()),
                ("NCP_ACCESS_KEY", DEMO_ACCESS_KEY),
                ("NCP_SECRET_KEY", secret),
                ("NSA_STORE__PATH", db.as_str()),
            ];
            run(&dir_path, &args, &env)
        })
    };

    let out = run_with(vec!["catalog", "list"], DEMO_SECRET_KEY)
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("no image catalog yet"), "{stdout}");

    let before = chrono::Utc::now();
    let out = run_with(vec!["catalog", "refresh"], DEMO_SECRET_KEY)
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let stored = SqliteStore::open(&db)
        .unwrap()
        .image_catalog()
        .await
        .unwrap()
        .expect("a catalog is stored");
    // Whatever else the simulator holds, the image still being built is not offered.
    let nos: Vec<&str> = stored.images.iter().map(|i| i.no.as_str()).collect();
    assert!(
        nos.contains(&"1234567") && nos.contains(&"2345678") && !nos.contains(&"3456780"),
        "{nos:?}"
    );
    assert!(stored.refreshed_at >= before - chrono::Duration::seconds(1));
    let when = stored
        .refreshed_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        stdout.trim(),
        format!(
            "image catalog refreshed: {} shareable image(s) at {when}",
            stored.images.len()
        )
    );

    let out = run_with(vec!["catalog", "list"], DEMO_SECRET_KEY)
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "{} shareable image(s), refreshed at {when}",
            stored.images.len()
        )
    );
    assert_eq!(lines.len(), 2 + stored.images.len(), "{stdout}");
    let golden = lines
        .iter()
        .find(|l| l.starts_with("1234567 "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let cols: Vec<&str> = golden.split_whitespace().collect();
    assert_eq!(cols, vec!["1234567", "golden-web", when.as_str()]);
    assert!(!stdout.contains("still-building"), "{stdout}");

    let out = run_with(vec!["catalog", "list", "--json"], DEMO_SECRET_KEY)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    assert_eq!(v, serde_json::to_value(&stored).unwrap());

    // NCP refusing the key: one clear line, the hint, exit 2, and the stored catalog stays.
    let out = run_with(vec!["catalog", "refresh"], "wrong-secret-value-123")
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("authentication failed") && stderr.contains("hint:"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("wrong-secret-value-123") && !stdout.contains("wrong-secret-value-123")
    );
    assert_eq!(
        SqliteStore::open(&db)
            .unwrap()
            .image_catalog()
            .await
            .unwrap(),
        Some(stored)
    );
}
