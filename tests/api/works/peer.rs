//! Independent checks with PyJWT and cryptography (from PyPI) and Python's hmac: our service
//! account JWT verifies under the app's public key with the documented claims, and our
//! `X-WORKS-Signature` values (the reference's vectors V1 and V2 included) are what Python
//! computes.

use ncp_share_approver::notify::works::fake::{DEMO_PRIVATE_KEY_PEM, DEMO_PUBLIC_KEY_PEM};
use ncp_share_approver::notify::works::{FakeWorksApp, WorksApi, WorksConfig, WorksCredentials};
use ncp_share_approver::secrets::SecretString;
use serde_json::json;

/// Whether `python3` can import `jwt` and `cryptography`. Under CI (`.ci/run` installs them) a
/// missing package fails the test; elsewhere the test says why it did not run.
fn python_peer_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but `python3` cannot import jwt and cryptography (`.ci/run` installs PyJWT and cryptography into its virtualenv)"
        );
        eprintln!(
            "skipped: `python3 -m pip install PyJWT cryptography` to run the NAVER WORKS interop test (bash .ci/run does)"
        );
    }
    ok
}

#[test]
fn pyjwt_verifies_our_assertion_and_python_hmac_agrees_with_our_signatures() {
    if !python_peer_available() {
        return;
    }
    let app = FakeWorksApp::demo();
    let settings = WorksConfig {
        bot_id: "2000001".into(),
        api_base_url: "https://www.worksapis.com/v1.0".into(),
        auth_url: "https://auth.worksmobile.com/oauth2/v2.0/token".into(),
        scope: "bot".into(),
    };
    let api = WorksApi::new(
        &settings,
        WorksCredentials {
            client_id: app.client_id.clone(),
            client_secret: SecretString::from(app.client_secret.clone()),
            service_account: app.service_account.clone(),
            // As an environment variable usually holds it: literal `\n`.
            private_key: SecretString::from(DEMO_PRIVATE_KEY_PEM.replace('\n', "\\n")),
        },
    )
    .unwrap();
    let jwt = api.assertion(chrono::Utc::now().timestamp()).unwrap();
    let secret = "example-bot-secret";
    let bodies = [
        r#"{"type":"message","source":{"userId":"c72af563-0f21-4736-11e4-045237113344","domainId":40029600},"issuedTime":"2022-01-04T05:16:05.716Z","content":{"type":"text","text":"share img-42"}}"#.to_owned(),
        r#"{"type":"message","source":{"userId":"c72af563-0f21-4736-11e4-045237113344","channelId":"12345a12-b12c-12d3-e123fghijkl","domainId":40029600},"issuedTime":"2022-01-04T05:16:05.716Z","content":{"type":"text","text":"Approve","postback":"v1|approve|req_8f2c"}}"#.to_owned(),
        json!({"type": "message", "content": {"type": "text", "text": "한국어 ünïcödé \u{1F600} \\ \" / end"}}).to_string(),
    ];
    let signatures: Vec<_> = bodies
        .iter()
        .map(|body| {
            json!({
                "secret": secret,
                "body": body,
                "signature": ncp_share_approver::verify::works::sign(&SecretString::from(secret), body.as_bytes()),
            })
        })
        .collect();
    assert_eq!(
        signatures[0]["signature"],
        "UKu/U3r3PlmmPFYOllamEiWSeceSUKXTlqjTSiIqrR0="
    );
    assert_eq!(
        signatures[1]["signature"],
        "r2ZLHFE8zzn0RqHIUZJySTNMojOnz0zN3N8gTlZh7oQ="
    );
    let spec = json!({
        "jwt": jwt,
        "public_key": DEMO_PUBLIC_KEY_PEM,
        "client_id": app.client_id,
        "service_account": app.service_account,
        "signatures": signatures,
    });
    let out = run_peer(&spec.to_string());
    assert_eq!(out.trim(), "ok");
}

fn run_peer(stdin: &str) -> String {
    use std::io::Write as _;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/works_jwt_check.py"
    );
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 must be installed to run this test");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Python NAVER WORKS check failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
