//! `loadgen approval`: how long from the last approval click (the second of a 2-of-2 rule) to
//! (a) the share being present on the NCP simulator and (b) the final card being posted to the
//! (fake) Slack, against a real `serve` process, with the simulator at each `--latency-ms`.
//!
//! The simulator and the fake Slack run inside this process (the crate's own `Simulator` and
//! `FakeSlack`), so the share is seen the moment the simulator applies it (polled every 100 µs)
//! and the card the moment the fake Slack receives it; `serve` is the release binary in its own
//! process, talking to both over 127.0.0.1 like it would to NCP and Slack. The NCP round trips of
//! the path are counted from the simulator's call log (`GET /_sim/calls`) between the click and
//! the final card; the floor is that count times the latency.

use ncp_share_approver::cli::send::{ButtonAction, SlackSender};
use ncp_share_approver::ncp::sim::{DEMO_ACCESS_KEY, DEMO_SECRET_KEY, Faults, Simulator};
use ncp_share_approver::notify::slack::FakeSlack;
use ncp_share_approver::secrets::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const REQUESTER: &str = "U056CAROL";
const FIRST_APPROVER: &str = "U012ALICE";
const LAST_APPROVER: &str = "U034BOB";
/// `golden-web` (XEN) in the demo seed; `examples/policy.toml` needs 2 of alice and bob for it.
const IMAGE: &str = "1234567";
const BOT_TOKEN: &str = "xoxb-approval-bench-0000000000";

#[derive(clap::Args)]
pub struct ApprovalArgs {
    /// The release binary.
    #[arg(long)]
    bin: PathBuf,
    /// The policy (2 of 2 approvers for image 1234567 to *@partner.example).
    #[arg(long, default_value = "examples/policy.toml")]
    policy: PathBuf,
    /// NCP latency on the simulator, per call; one phase per value.
    #[arg(long = "latency-ms", default_values_t = [0u64, 150])]
    latency_ms: Vec<u64>,
    /// Measured approvals per phase (after one unmeasured warm-up approval).
    #[arg(long, default_value_t = 20)]
    runs: usize,
}

pub async fn run(args: ApprovalArgs) -> anyhow::Result<Value> {
    let sim = Simulator::demo();
    let sim_running = sim.spawn("127.0.0.1:0").await?;
    let slack = FakeSlack::try_start(BOT_TOKEN, "127.0.0.1:0").await?;
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let secret = format!("approval-bench-{:016x}", rand::random::<u64>());
    let policy = std::fs::canonicalize(&args.policy)?;
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "policy = {policy:?}\n[store]\nkind = \"sqlite\"\n[slack]\nresponse_url_hosts = [\"127.0.0.1\"]\n[secrets]\nsource = \"env\"\n",
            policy = policy.display().to_string()
        ),
    )?;
    let log = std::fs::File::create(dir.path().join("serve.log"))?;
    let mut cmd = std::process::Command::new(&args.bin);
    cmd.arg("--config")
        .arg(&config)
        .arg("serve")
        .env("NCP_ACCESS_KEY", DEMO_ACCESS_KEY)
        .env("NCP_SECRET_KEY", DEMO_SECRET_KEY)
        .env("SLACK_SIGNING_SECRET", &secret)
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env(
            "LEDGER_SIGNING_KEY",
            ncp_share_approver::audit::note::NoteSigner::generate("ncp-share-approver")
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .to_skey()
                .expose_secret(),
        )
        .env("NCP_API_ENDPOINT", &sim_running.base_url)
        .env("NSA_STORE__PATH", dir.path().join("store.db"))
        .env("NSA_LISTEN", format!("127.0.0.1:{port}"))
        .env("NSA_SLACK__API_BASE_URL", slack.api_base_url())
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn()?;
    let result = phases(&args, &sim, &sim_running.base_url, &slack, &base, &secret).await;
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    for _ in 0..50 {
        if child.try_wait()?.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    if result.is_err() {
        let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        eprintln!("serve log (last lines, newest first):\n{}", tail.join("\n"));
    }
    result
}

async fn phases(
    args: &ApprovalArgs,
    sim: &Simulator,
    sim_base: &str,
    slack: &FakeSlack,
    base: &str,
    secret: &str,
) -> anyhow::Result<Value> {
    let loadavg_before = crate::loadavg();
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not answer /healthz within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response_base = slack.api_base_url().trim_end_matches("/api").to_owned() + "/response";
    let sender = SlackSender::new(base, &response_base, SecretString::from(secret.to_owned()));

    let mut out = Vec::new();
    let mut n = 0usize;
    for &latency_ms in &args.latency_ms {
        sim.set_faults(Faults {
            latency: Duration::from_millis(latency_ms),
            ..Faults::default()
        });
        let phase_loadavg = crate::loadavg();
        let mut samples = Vec::new();
        for i in 0..=args.runs {
            n += 1;
            let s = one(&sender, sim, sim_base, slack, &http, latency_ms, n).await?;
            if i > 0 {
                samples.push(s);
            }
        }
        let mut phase = summary(latency_ms, &samples);
        phase["loadavg_before"] = json!(phase_loadavg);
        out.push(phase);
    }
    Ok(json!({
        "runs_per_phase": args.runs,
        "loadavg_before": loadavg_before,
        "phases": out,
        "loadavg_after": crate::loadavg(),
    }))
}

struct Sample {
    ack_ms: f64,
    share_ms: f64,
    card_ms: f64,
    operations: Vec<String>,
}

async fn one(
    sender: &SlackSender,
    sim: &Simulator,
    sim_base: &str,
    slack: &FakeSlack,
    http: &reqwest::Client,
    latency_ms: u64,
    n: usize,
) -> anyhow::Result<Sample> {
    let target = format!("approval-{latency_ms}ms-{n}@partner.example");
    let reply = sender
        .command(
            REQUESTER,
            &format!("{IMAGE} with {target} for 7d because approval benchmark"),
        )
        .await?;
    let at = reply
        .find("SR-")
        .ok_or_else(|| anyhow::anyhow!("no request id in the reply: {reply}"))?;
    let id = reply[at..at + 11].to_string();
    let mentions = |c: &ncp_share_approver::notify::slack::SlackCall, what: &str| {
        c.body.to_string().contains(what)
    };
    anyhow::ensure!(
        slack
            .wait_for(
                |calls| calls
                    .iter()
                    .any(|c| c.method == "chat.postMessage" && mentions(c, &id)),
                Duration::from_secs(10)
            )
            .await,
        "no approval card for {id}"
    );
    // The first approval; wait until its answer and the card's update are through.
    let before = slack.calls().len();
    let first = sender
        .click(FIRST_APPROVER, ButtonAction::Approve, &id)
        .await?;
    let first_name = first.response_url.rsplit('/').next().unwrap_or_default();
    anyhow::ensure!(
        slack
            .wait_for(
                |calls| {
                    let new = &calls[before.min(calls.len())..];
                    new.iter()
                        .any(|c| c.method == format!("response/{first_name}"))
                        && new
                            .iter()
                            .any(|c| c.method == "chat.update" && mentions(c, &id))
                },
                Duration::from_secs(10)
            )
            .await,
        "the first approval of {id} was not answered"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;

    // The last approval: everything from here is timed.
    let calls_before = sim_calls(http, sim_base).await?.len();
    let slack_before = slack.calls().len();
    let final_text = format!("{id} shared");
    let watch_sim = sim.clone();
    let watch_target = target.clone();
    let watch_from = Instant::now();
    let share_seen = std::thread::spawn(move || {
        while watch_from.elapsed() < Duration::from_secs(30) {
            if watch_sim
                .shared_with(IMAGE)
                .iter()
                .any(|t| t == &watch_target)
            {
                return Some(Instant::now());
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        None
    });
    let t0 = Instant::now();
    let d = sender.click_delivery(LAST_APPROVER, ButtonAction::Approve, &id);
    sender.send(&d).await?;
    let acked = Instant::now();
    let card = slack
        .wait_for(
            |calls| {
                calls[slack_before.min(calls.len())..].iter().any(|c| {
                    (c.method == "chat.update" || c.method == "chat.postMessage")
                        && c.body["text"]
                            .as_str()
                            .is_some_and(|t| t.contains(&final_text))
                })
            },
            Duration::from_secs(30),
        )
        .await;
    let carded = Instant::now();
    anyhow::ensure!(card, "no final card for {id}");
    let shared = share_seen
        .join()
        .map_err(|_| anyhow::anyhow!("the watcher panicked"))?
        .ok_or_else(|| anyhow::anyhow!("{target} never appeared on the simulator"))?;
    let calls = sim_calls(http, sim_base).await?;
    let operations = calls[calls_before.min(calls.len())..]
        .iter()
        .map(|c| c["operation"].as_str().unwrap_or("?").to_owned())
        .collect();
    let ms = |t: Instant| (t - t0).as_secs_f64() * 1000.0;
    Ok(Sample {
        ack_ms: ms(acked),
        share_ms: ms(shared),
        card_ms: ms(carded),
        operations,
    })
}

async fn sim_calls(http: &reqwest::Client, sim_base: &str) -> anyhow::Result<Vec<Value>> {
    let v: Value = http
        .get(format!("{sim_base}/_sim/calls"))
        .send()
        .await?
        .json()
        .await?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

/// Median and 90th percentile (nearest rank).
fn stats(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let r = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[r.clamp(1, v.len()) - 1]
    };
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    json!({"median_ms": median, "p90_ms": rank(90.0), "min_ms": v[0], "max_ms": v[v.len() - 1], "all_ms": v})
}

fn summary(latency_ms: u64, samples: &[Sample]) -> Value {
    // Round trips of the path, and those before the share is in place (up to the first change).
    let trips: Vec<usize> = samples.iter().map(|s| s.operations.len()).collect();
    let to_share: Vec<usize> = samples
        .iter()
        .map(|s| {
            s.operations
                .iter()
                .position(|o| o.starts_with("add") || o.starts_with("set"))
                .map_or(s.operations.len(), |p| p + 1)
        })
        .collect();
    let mut distinct: Vec<Vec<String>> = samples.iter().map(|s| s.operations.clone()).collect();
    distinct.sort();
    distinct.dedup();
    let median_usize = |v: &[usize]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let (rt_all, rt_share) = (median_usize(&trips), median_usize(&to_share));
    json!({
        "latency_ms": latency_ms,
        "runs": samples.len(),
        "click_ack": stats(samples.iter().map(|s| s.ack_ms).collect()),
        "share_present": stats(samples.iter().map(|s| s.share_ms).collect()),
        "final_card": stats(samples.iter().map(|s| s.card_ms).collect()),
        "round_trips": rt_all,
        "round_trips_to_share": rt_share,
        "round_trips_each_run": trips,
        "operations": distinct,
        "floor_share_ms": rt_share as u64 * latency_ms,
        "floor_card_ms": rt_all as u64 * latency_ms,
    })
}
