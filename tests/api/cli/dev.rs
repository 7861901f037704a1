//! The local demo (`dev`) and `send`: the demo path driven as a person would drive it.

use ncp_share_approver::cli::dev::{DevInstance, DevOptions, start};
use ncp_share_approver::cli::send::ButtonAction;
use ncp_share_approver::notify::slack::SlackCall;
use std::io::BufRead as _;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ncp-share-approver");
const CAROL: &str = "U056CAROL";
const ALICE: &str = "U012ALICE";
const BOB: &str = "U034BOB";
const ASK: &str = "1234567 with a@partner.example for 7d because pilot";

async fn start_demo(dir: &std::path::Path) -> DevInstance {
    start(DevOptions::for_tests(&dir.join("data/dev")))
        .await
        .expect("the demo starts on port 0")
}

fn request_id_in(text: &str) -> String {
    let at = text.find("SR-").expect("a request id in the reply");
    text[at..at + 11].to_string()
}

fn text_of(call: &SlackCall) -> String {
    call.body.to_string()
}

/// Runs the binary in `dir` with a clean environment, off the async runtime's threads.
async fn run(dir: &std::path::Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    tokio::task::spawn_blocking(move || cmd.output().expect("run the binary"))
        .await
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn carol_asks_alice_and_bob_approve_and_the_image_is_shared() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(dir.path()).await;
    let send = demo.sender();

    let reply = send.command(CAROL, ASK).await.unwrap();
    assert!(reply.contains("waiting for approval"), "{reply}");
    let id = request_id_in(&reply);

    let card_posted = demo
        .slack
        .wait_for(
            |calls| {
                calls.iter().any(|c| {
                    c.method == "chat.postMessage"
                        && c.body["channel"] == "C0APPROVALS"
                        && text_of(c).contains(&id)
                })
            },
            Duration::from_secs(5),
        )
        .await;
    assert!(card_posted, "the approval card goes to C0APPROVALS");

    send.click(ALICE, ButtonAction::Approve, &id).await.unwrap();
    let bob = send.click(BOB, ButtonAction::Approve, &id).await.unwrap();

    for _ in 0..200 {
        if !demo.sim.shared_with("1234567").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(demo.sim.shared_with("1234567"), vec!["a@partner.example"]);

    let done = demo
        .slack
        .wait_for(
            |calls| {
                let final_card = calls.iter().any(|c| {
                    c.method == "chat.update"
                        && c.body["channel"] == "C0APPROVALS"
                        && text_of(c).contains("Shared.")
                });
                let dm = calls.iter().any(|c| {
                    c.method == "chat.postMessage"
                        && c.body["channel"] == CAROL
                        && text_of(c).contains(&id)
                });
                final_card && dm
            },
            Duration::from_secs(10),
        )
        .await;
    assert!(done, "final card and DM: {:#?}", demo.slack.calls());

    // Carol opens the app's Home tab (`send home`): the share she asked for is active there.
    send.send(&send.home_delivery(CAROL)).await.unwrap();
    let home = demo
        .slack
        .wait_for(
            |calls| {
                calls.iter().any(|c| {
                    c.method == "views.publish"
                        && c.body["user_id"] == CAROL
                        && c.body.to_string().contains("home_revoke")
                })
            },
            Duration::from_secs(10),
        )
        .await;
    assert!(home, "carol's home lists the active share");

    let bob_name = bob.response_url.rsplit('/').next().unwrap().to_string();
    let answer = demo.slack.calls_to(&format!("response/{bob_name}"));
    assert!(
        answer.iter().any(|c| text_of(c).contains("completed")),
        "bob is told his approval completed it: {answer:?}"
    );
    demo.stop().await;
}

#[tokio::test]
async fn dev_writes_owner_only_secrets_and_a_config_send_can_use() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(dir.path()).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&demo.secrets_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let secrets: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&demo.secrets_file).unwrap()).unwrap();
    for key in [
        "NCP_ACCESS_KEY",
        "NCP_SECRET_KEY",
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
    ] {
        assert!(
            secrets[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key}"
        );
    }
    let config = ncp_share_approver::config::Config::load(&demo.config_file, true).unwrap();
    assert_eq!(format!("http://{}", config.listen), demo.service_url());
    demo.stop().await;
}

#[tokio::test]
async fn fresh_starts_with_an_empty_store_and_new_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(dir.path()).await;
    let id = request_id_in(&demo.sender().command(CAROL, ASK).await.unwrap());
    let old_secrets = std::fs::read(&demo.secrets_file).unwrap();
    demo.stop().await;

    let mut options = DevOptions::for_tests(&dir.path().join("data/dev"));
    options.fresh = true;
    let demo = start(options).await.unwrap();
    assert_ne!(std::fs::read(&demo.secrets_file).unwrap(), old_secrets);
    let status = demo
        .sender()
        .command(CAROL, &format!("status {id}"))
        .await
        .unwrap();
    assert!(status.contains("No request"), "{status}");
    demo.stop().await;
}

#[tokio::test]
async fn the_send_command_signs_like_slack_and_prints_the_reply() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(dir.path()).await;
    // A configuration of its own that shares only the secrets file with `dev`; --url says where.
    let config = dir.path().join("send.toml");
    std::fs::write(
        &config,
        format!(
            "[secrets]\nsource = \"file:{}\"\n[slack]\napi_base_url = \"{}\"\n",
            demo.secrets_file.display(),
            demo.slack.api_base_url()
        ),
    )
    .unwrap();
    let (config, url) = (config.to_str().unwrap(), demo.service_url());

    let out = run(
        dir.path(),
        &[
            "--config", config, "send", "--url", &url, "command", "--as", CAROL, ASK,
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("waiting for approval"), "{stdout}");
    assert!(
        !stdout.contains("\"response_type\""),
        "readable text, not JSON: {stdout}"
    );
    let id = request_id_in(&stdout);

    let out = run(
        dir.path(),
        &[
            "--config", config, "send", "--url", &url, "click", "--as", ALICE, "approve", &id,
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("sent") && stdout.contains("dev terminal"),
        "{stdout}"
    );
    let answered = demo
        .slack
        .wait_for(
            |calls| {
                calls.iter().any(|c| {
                    c.method.starts_with("response/click-by-U012ALICE-")
                        && text_of(c).contains("counted")
                })
            },
            Duration::from_secs(5),
        )
        .await;
    assert!(
        answered,
        "alice's answer on the stand-in: {:#?}",
        demo.slack.calls()
    );

    // `dev`'s own config.toml reaches it without --url.
    let out = run(
        dir.path(),
        &[
            "--config",
            demo.config_file.to_str().unwrap(),
            "send",
            "command",
            "--as",
            CAROL,
            "status",
            &id,
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("1 of 2"), "{stdout}");
    demo.stop().await;
}

#[tokio::test]
async fn send_says_in_one_line_when_dev_is_not_running_or_the_secret_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(dir.path()).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let config = demo.config_file.to_str().unwrap().to_owned();
    let url = format!("http://{closed}");
    let out = run(
        dir.path(),
        &[
            "--config", &config, "send", "--url", &url, "command", "--as", CAROL, "help",
        ],
    )
    .await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr.trim(),
        format!("error: is `dev` running? could not connect to {url}")
    );

    let other = dir.path().join("other.json");
    std::fs::write(&other, r#"{"SLACK_SIGNING_SECRET":"not-the-one"}"#).unwrap();
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(
        &wrong,
        format!("[secrets]\nsource = \"file:{}\"\n", other.display()),
    )
    .unwrap();
    let url = demo.service_url();
    let out = run(
        dir.path(),
        &[
            "--config",
            wrong.to_str().unwrap(),
            "send",
            "--url",
            &url,
            "command",
            "--as",
            CAROL,
            "help",
        ],
    )
    .await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("401") && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-one"), "{stderr}");
    demo.stop().await;
}

/// Kills the child when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_dev_binary_runs_from_an_empty_folder_and_prints_lines_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--ncp-listen",
            "127.0.0.1:0",
            "--slack-listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // Tests run side by side: a metrics port of its own.
        .env("NSA_METRICS__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dev");
    let stdout = child.stdout.take().unwrap();
    let _child = KillOnDrop(child);
    // Keep reading after the banner: a closed pipe would make dev's next print fail.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut text = String::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            text.push_str(&line);
            text.push('\n');
            if line.starts_with("Waiting for Slack traffic") {
                let _ = tx.send(std::mem::take(&mut text));
            }
        }
    });
    let banner = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(20)))
        .await
        .unwrap()
        .expect("dev prints its banner");
    for needle in [
        "service ",
        "NCP simulator ",
        "Slack stand-in ",
        "U056CAROL",
        "U012ALICE",
        "U034BOB",
        "curl -sS http://127.0.0.1:",
        "x-slack-signature: v0=",
    ] {
        assert!(banner.contains(needle), "{needle} in:\n{banner}");
    }
    // Outside the repository the built-in policy is written next to the store.
    assert!(dir.path().join("data/dev/policy.toml").exists());

    // On other ports than examples/dev.toml says, the printed lines name dev's config.toml.
    let line = banner
        .lines()
        .find(|l| l.contains("send") && l.contains("command --as U056CAROL"))
        .expect("a send line")
        .trim()
        .to_string();
    assert!(line.contains("--config data/dev/config.toml"), "{line}");
    let out = run(
        dir.path(),
        &[
            "--config",
            "data/dev/config.toml",
            "send",
            "command",
            "--as",
            CAROL,
            ASK,
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("waiting for approval"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_webhook_curl_lines_work_against_dev() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(dir.path()).await;
    let snippet = demo.webhook_curl();
    assert!(demo.instructions("send").contains(&snippet));
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-c", &snippet])
            .output()
            .expect("bash runs the printed lines")
    })
    .await
    .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let reply: serde_json::Value = serde_json::from_str(&stdout).expect(&stdout);
    assert_eq!(reply["state"], "approved", "{reply}");
    let id = ncp_share_approver::domain::RequestId::parse(reply["request_id"].as_str().unwrap())
        .unwrap();
    let store = demo.app.state.workflow.store.clone();
    let mut state = None;
    for _ in 0..200 {
        state = store.request(&id).await.unwrap().map(|r| r.state);
        if state == Some(ncp_share_approver::domain::RequestState::Succeeded) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        state,
        Some(ncp_share_approver::domain::RequestState::Succeeded)
    );
    demo.stop().await;
}

#[tokio::test]
async fn in_naver_works_carol_asks_by_message_and_alice_and_bob_press_approve_through_send() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(dir.path()).await;
    let config = demo.config_file.to_str().unwrap();
    let send = |args: Vec<String>| {
        let mut all = vec!["--config".to_string(), config.to_string(), "send".into()];
        all.extend(args);
        let dir = dir.path().to_owned();
        async move {
            let args: Vec<&str> = all.iter().map(String::as_str).collect();
            let out = run(&dir, &args).await;
            let (stdout, stderr) = text(&out);
            assert!(out.status.success(), "{stderr}");
            stdout
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let out = send(s(&["works", "--as", "w-carol-0004", ASK])).await;
    assert!(out.contains("sent"), "{out}");
    let card = demo
        .works
        .wait_for_messages(2, Duration::from_secs(10))
        .await
        .into_iter()
        .find(|m| m.content["type"] == "button_template")
        .expect("the approval message in the room");
    let id = request_id_in(card.text());
    for who in ["w-alice-0001", "w-bob-0002"] {
        let out = send(s(&["works-press", "--as", who, &id, "approve"])).await;
        assert!(out.contains("pressed Approve"), "{out}");
    }
    for _ in 0..200 {
        if !demo.sim.shared_with("1234567").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(demo.sim.shared_with("1234567"), vec!["a@partner.example"]);
    let done = demo
        .works
        .wait_for_messages(8, Duration::from_secs(10))
        .await;
    assert!(
        done.iter()
            .any(|m| m.text().contains(&format!("Request {id} done"))),
        "{:?}",
        done.iter().map(|m| m.text()).collect::<Vec<_>>()
    );
    assert_eq!(demo.works.token_requests(), 1);
    demo.stop().await;
}
