//! Load generator for `ncp-share-approver serve`: signed Slack slash commands, each one signed
//! uniquely at send time (the service de-duplicates on `X-Slack-Signature`), against 127.0.0.1.
//!
//! ```text
//! loadgen run --url http://127.0.0.1:8080 --kind help  --rate 200 --duration 20   # open loop
//! loadgen run --url http://127.0.0.1:8080 --kind share --connections 32 --duration 20   # closed loop
//! loadgen run --url http://127.0.0.1:8080 --kind healthz --connections 32   # GET /healthz, the floor
//! loadgen run --url http://127.0.0.1:8080 --url http://127.0.0.1:8081 --kind share   # two replicas
//! loadgen cold-start --bin target/release/ncp-share-approver --config cfg.toml --runs 10
//! loadgen cold-start --exec 'gunicorn -b 127.0.0.1:{port} app:api' --runs 10   # any server
//! loadgen fake-slack --listen 127.0.0.1:0 --token xoxb-...   # the Slack Web API for the notifier
//! loadgen approval --bin target/release/ncp-share-approver --latency-ms 0 --latency-ms 150
//! ```
//!
//! * Open loop (`--rate`): request `i` is due at `start + i/rate`; its latency is measured from
//!   that intended time, not from when it was actually sent, so a stalled server is charged for
//!   the requests it held up (no coordinated omission).
//! * Closed loop (`--connections N`): N workers each send, wait for the answer, send again:
//!   the throughput at saturation.
//! * A response counts as OK only if it is HTTP 200 *and* its body is the expected answer
//!   (`Usage:` for `help`, a request id `SR-` for a share); anything else is an error.
//! * `--server-pid` adds the server's CPU time and peak RSS (`VmHWM`, reset through
//!   `/proc/PID/clear_refs` before the run, so the peak is this scenario's) to the result.
//!
//! * `--server-tree` counts the server's descendants too (a pre-forking server such as gunicorn):
//!   CPU is their sum, peak RSS the sum of their peaks (an upper bound of the joint peak).
//! * Every result carries `/proc/loadavg` before and after (the machine is shared).
//!
//! `run`, `cold-start` and `approval` print one JSON object on stdout; `bench/load.sh`,
//! `bench/compare.sh` and `bench/approval.sh` make the tables.
//! Bench tool, not production code: uses only the crate's own dependencies.

use clap::{Parser, Subcommand, ValueEnum};
use ncp_share_approver::secrets::SecretString;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod approval;

#[derive(Parser)]
#[command(about = "Load generator for signed Slack slash commands")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send signed slash commands at a fixed rate (open loop) or over N connections (closed loop).
    Run(RunArgs),
    /// Start `serve` repeatedly; time from spawn to the first verified slash command answered.
    ColdStart(ColdArgs),
    /// Time an approval: from the last (2-of-2) approval click to the share on the simulator and
    /// the final card on the fake Slack, against a `serve` process.
    Approval(approval::ApprovalArgs),
    /// Run the crate's fake Slack Web API (for the notifier's approval cards) until killed.
    FakeSlack {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Bot token it accepts.
        #[arg(long, env = "SLACK_BOT_TOKEN")]
        token: String,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// `/share-image help`: verify + de-dup + parse, the fixed cost of every command.
    Help,
    /// `/share-image 1234567 with userN@partner.example for 7d because load`.
    Share,
    /// `GET /healthz` (expects `ok`): the floor of the HTTP stack, for comparison with `help`.
    /// A command is still built and signed per request (and dropped), so the generator does
    /// the same work per request as for `help`.
    Healthz,
    /// The request form's image picker (`POST /slack/options`, `block_suggestion`): verify +
    /// the policy's images from the cached catalog, filtered by a typed prefix that cycles
    /// through "", "g", "go", "gol", "golden-", "sand", digits; expects an `options` list.
    Options,
}

/// What the `options` kind types, in turn: the first keystrokes people make.
const TYPED: [&str; 8] = ["", "g", "go", "gol", "golden-", "sand", "1", "12"];

#[derive(clap::Args)]
struct RunArgs {
    /// Base URL of the service; given more than once (replicas), requests are spread over
    /// them as a round-robin load balancer would: connection `i` (closed loop) or request `i`
    /// (open loop) goes to URL `i mod n`.
    #[arg(long, required = true)]
    url: Vec<String>,
    /// Slack signing secret.
    #[arg(long, env = "SLACK_SIGNING_SECRET", hide_env_values = true)]
    secret: String,
    /// Which command.
    #[arg(long, value_enum)]
    kind: Kind,
    /// Requests per second (open loop); without it, closed loop over `--connections`.
    #[arg(long)]
    rate: Option<f64>,
    /// Closed-loop workers (each one request at a time).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Seconds of load before measuring (not counted).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Open loop: most requests in flight at once (beyond it, requests queue in the generator,
    /// still timed from their intended send time).
    #[arg(long, default_value_t = 1024)]
    max_in_flight: usize,
    /// Slack user id of the requester (must be allowed by the policy for `share`).
    #[arg(long, default_value = "U056CAROL")]
    user: String,
    /// Image number for `share`.
    #[arg(long, default_value = "1234567")]
    image: String,
    /// Base of the `response_url` sent with each command (`<base>/load-N`).
    #[arg(long, default_value = "http://127.0.0.1:9/response")]
    response_url_base: String,
    /// Scenario name in the output.
    #[arg(long, default_value = "")]
    label: String,
    /// The server's pid, for its CPU time and peak RSS during the run (more than once for
    /// replicas: CPU and RSS summed).
    #[arg(long)]
    server_pid: Vec<u32>,
    /// Other pids whose CPU time to report (the NCP simulator, the fake Slack).
    #[arg(long)]
    peer_pid: Vec<u32>,
    /// Clock ticks per second of /proc/PID/stat (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
    /// Client threads (Tokio workers); keep it low on a small machine, the server needs the CPU.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Count the server's descendant processes too (CPU summed, peak RSS summed).
    #[arg(long)]
    server_tree: bool,
}

#[derive(clap::Args)]
struct ColdArgs {
    /// The release binary (started as `BIN --config CONFIG serve --listen 127.0.0.1:PORT`).
    #[arg(long, required_unless_present = "exec", requires = "config")]
    bin: Option<PathBuf>,
    /// Configuration file for `serve` (secrets and NSA_* overrides come from the environment).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Any server instead: a command line split on spaces, `{port}` replaced by a free port.
    /// It is started in its own process group, and the whole group is killed after each start.
    #[arg(long, conflicts_with = "bin")]
    exec: Option<String>,
    /// Probe `/healthz` first, then send `help` (with `--bin` only; `--exec` probes `help` only).
    #[arg(long)]
    healthz_first: bool,
    /// Starts to time.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Give each start its own new, empty store in this folder (otherwise the configured store).
    #[arg(long)]
    fresh_store_dir: Option<PathBuf>,
    /// Slack signing secret.
    #[arg(long, env = "SLACK_SIGNING_SECRET", hide_env_values = true)]
    secret: String,
    /// Scenario name in the output.
    #[arg(long, default_value = "")]
    label: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::FakeSlack { listen, token } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            rt.block_on(async {
                let slack =
                    ncp_share_approver::notify::slack::FakeSlack::try_start(&token, &listen)
                        .await?;
                println!("{}", slack.api_base_url());
                tokio::signal::ctrl_c().await?;
                drop(slack);
                Ok(())
            })
        }
        Cmd::Run(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(args.threads.max(1))
                .enable_all()
                .build()?;
            let report = rt.block_on(run(args))?;
            println!("{report}");
            Ok(())
        }
        Cmd::Approval(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            let report = rt.block_on(approval::run(args))?;
            println!("{report}");
            Ok(())
        }
        Cmd::ColdStart(args) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let report = rt.block_on(cold_start(args))?;
            println!("{report}");
            Ok(())
        }
    }
}

/// Builds unique, signed slash commands.
struct Signer {
    secret: SecretString,
    user: String,
    image: String,
    response_url_base: String,
    /// Distinguishes this process's commands from any other run's.
    nonce: String,
    seq: AtomicU64,
}

struct Signed {
    body: String,
    timestamp: String,
    signature: String,
}

impl Signer {
    fn new(secret: &str, user: &str, image: &str, response_url_base: &str) -> Self {
        Self {
            secret: SecretString::from(secret.to_string()),
            user: user.into(),
            image: image.into(),
            response_url_base: response_url_base.trim_end_matches('/').into(),
            nonce: format!("{:016x}", rand::random::<u64>()),
            seq: AtomicU64::new(0),
        }
    }

    /// A slash command with the fields Slack sends, unique by its `trigger_id` and
    /// `response_url`, signed now.
    fn next(&self, kind: Kind) -> Signed {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        if kind == Kind::Options {
            return self.suggestion(n);
        }
        let text = match kind {
            Kind::Help | Kind::Healthz | Kind::Options => "help".to_string(),
            Kind::Share => format!(
                "{} with user{n}@partner.example for 7d because load",
                self.image
            ),
        };
        let response_url = format!("{}/load-{}-{n}", self.response_url_base, self.nonce);
        let trigger_id = format!("{n}.{}.{}", std::process::id(), self.nonce);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("token", "legacy-verification-token-ignored"),
                ("team_id", "T0LOAD"),
                ("team_domain", "load"),
                ("channel_id", "C0REQUESTS"),
                ("channel_name", "requests"),
                ("user_id", self.user.as_str()),
                ("user_name", "load"),
                ("command", "/share-image"),
                ("text", text.as_str()),
                ("api_app_id", "A0LOAD"),
                ("is_enterprise_install", "false"),
                ("response_url", response_url.as_str()),
                ("trigger_id", trigger_id.as_str()),
            ])
            .finish();
        let ts = chrono::Utc::now().timestamp();
        let signature = ncp_share_approver::verify::slack::sign(&self.secret, ts, body.as_bytes());
        Signed {
            body,
            timestamp: ts.to_string(),
            signature,
        }
    }
}

impl Signer {
    /// A `block_suggestion` as Slack sends it while someone types in the image picker.
    fn suggestion(&self, n: u64) -> Signed {
        let payload = serde_json::json!({
            "type": "block_suggestion",
            "user": {"id": self.user, "username": "load", "team_id": "T0LOAD"},
            "team": {"id": "T0LOAD", "domain": "load"},
            "api_app_id": "A0LOAD",
            "action_id": "image",
            "block_id": "image",
            "value": TYPED[(n % TYPED.len() as u64) as usize],
            "view": {"id": format!("V{n}"), "type": "modal", "callback_id": "share_request"},
        });
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        let ts = chrono::Utc::now().timestamp();
        let signature = ncp_share_approver::verify::slack::sign(&self.secret, ts, body.as_bytes());
        Signed {
            body,
            timestamp: ts.to_string(),
            signature,
        }
    }
}

/// How one request ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    /// 200 with "Working on it": the service answered within Slack's budget but NCP was slow.
    SlowAck,
    Status(u16),
    BadBody,
    Transport,
}

async fn send(http: &reqwest::Client, url: &str, s: Signed, kind: Kind) -> Outcome {
    let res = if kind == Kind::Healthz {
        drop(s);
        http.get(url).send().await
    } else {
        http.post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", s.timestamp)
            .header("x-slack-signature", s.signature)
            .body(s.body)
            .send()
            .await
    };
    let res = match res {
        Ok(r) => r,
        Err(_) => return Outcome::Transport,
    };
    let status = res.status().as_u16();
    let Ok(text) = res.text().await else {
        return Outcome::Transport;
    };
    if status != 200 {
        return Outcome::Status(status);
    }
    match kind {
        Kind::Help if text.contains("Usage:") => Outcome::Ok,
        Kind::Share if text.contains("SR-") => Outcome::Ok,
        Kind::Share if text.contains("Working on it") => Outcome::SlowAck,
        Kind::Healthz if text.trim() == "ok" => Outcome::Ok,
        Kind::Options if text.starts_with("{\"options\":[") => Outcome::Ok,
        _ => Outcome::BadBody,
    }
}

/// One completed request: when it was due (open loop) or started (closed loop), when it was
/// sent, when it ended, and how.
struct Sample {
    start: Instant,
    /// When it was actually sent (open loop: `start` plus the generator's own delay).
    sent: Instant,
    end: Instant,
    outcome: Outcome,
}

fn client(pool: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(pool)
        .timeout(Duration::from_secs(15))
        .tcp_nodelay(true)
        .build()?)
}

async fn run(args: RunArgs) -> anyhow::Result<serde_json::Value> {
    let urls: Vec<String> = args
        .url
        .iter()
        .map(|u| match args.kind {
            Kind::Healthz => format!("{}/healthz", u.trim_end_matches('/')),
            Kind::Options => format!("{}/slack/options", u.trim_end_matches('/')),
            _ => format!("{}/slack/commands", u.trim_end_matches('/')),
        })
        .collect();
    let url_of = move |i: usize| urls[i % urls.len()].clone();
    let signer = Arc::new(Signer::new(
        &args.secret,
        &args.user,
        &args.image,
        &args.response_url_base,
    ));
    let kind = args.kind;
    let warmup = Duration::from_secs_f64(args.warmup);
    let measured = Duration::from_secs_f64(args.duration);

    let loadavg_before = loadavg();
    let server_pids: Vec<u32> = if args.server_tree {
        args.server_pid
            .iter()
            .flat_map(|p| process_tree(*p))
            .collect()
    } else {
        args.server_pid.clone()
    };
    let mut proc_before = None;
    if !server_pids.is_empty() {
        // "5" resets the peak RSS (VmHWM) to the current RSS (Linux 4.0+), so the peak read
        // afterwards is this scenario's.
        let mut reset = true;
        let mut ticks = 0;
        for pid in &server_pids {
            reset &= std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
            ticks += cpu_ticks(*pid)?;
        }
        proc_before = Some((ticks, reset));
    }
    let peers_before: Vec<u64> = args
        .peer_pid
        .iter()
        .map(|p| cpu_ticks(*p))
        .collect::<anyhow::Result<_>>()?;

    let self_before = cpu_ticks(std::process::id())?;
    let machine_before = machine_ticks()?;
    let t0 = Instant::now() + Duration::from_millis(50);
    let measure_from = t0 + warmup;
    let end = measure_from + measured;
    let mut samples: Vec<Sample> = Vec::new();

    let mode;
    match args.rate {
        Some(rate) => {
            mode = format!("open loop {rate} req/s");
            let http = client(args.max_in_flight)?;
            let total = (rate * (args.warmup + args.duration)).round() as u64;
            let permits = Arc::new(tokio::sync::Semaphore::new(args.max_in_flight));
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Sample>();
            // A plain thread paces the sends: `thread::sleep` wakes within tens of microseconds,
            // where Tokio's timer rounds up to the next millisecond (which would be charged to the
            // server as latency).
            let handle = tokio::runtime::Handle::current();
            let dispatcher = std::thread::spawn(move || {
                for i in 0..total {
                    let due = t0 + Duration::from_secs_f64(i as f64 / rate);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    let (http, url, signer) = (http.clone(), url_of(i as usize), signer.clone());
                    let (permits, tx) = (permits.clone(), tx.clone());
                    handle.spawn(async move {
                        let Ok(_permit) = permits.acquire_owned().await else {
                            return;
                        };
                        let sent = Instant::now();
                        let outcome = send(&http, &url, signer.next(kind), kind).await;
                        let _ = tx.send(Sample {
                            start: due,
                            sent,
                            end: Instant::now(),
                            outcome,
                        });
                    });
                }
            });
            while let Some(sample) = rx.recv().await {
                samples.push(sample);
            }
            dispatcher
                .join()
                .map_err(|_| anyhow::anyhow!("the dispatcher thread panicked"))?;
        }
        None => {
            mode = format!("closed loop, {} connections", args.connections);
            let http = client(args.connections)?;
            let mut tasks = tokio::task::JoinSet::new();
            for c in 0..args.connections {
                let (http, url, signer) = (http.clone(), url_of(c), signer.clone());
                tasks.spawn(async move {
                    tokio::time::sleep_until(t0.into()).await;
                    let mut mine = Vec::new();
                    loop {
                        let start = Instant::now();
                        if start >= end {
                            break;
                        }
                        let outcome = send(&http, &url, signer.next(kind), kind).await;
                        mine.push(Sample {
                            start,
                            sent: start,
                            end: Instant::now(),
                            outcome,
                        });
                    }
                    mine
                });
            }
            while let Some(done) = tasks.join_next().await {
                samples.extend(done?);
            }
        }
    }
    let finished = Instant::now();

    // Measured: the requests due (open loop) or started (closed loop) after the warm-up.
    let mut measured_samples: Vec<&Sample> =
        samples.iter().filter(|s| s.start >= measure_from).collect();
    measured_samples.sort_by_key(|s| s.start);
    let mut lat_us: Vec<u64> = measured_samples
        .iter()
        .map(|s| (s.end - s.start).as_micros() as u64)
        .collect();
    lat_us.sort_unstable();
    let count =
        |f: &dyn Fn(Outcome) -> bool| measured_samples.iter().filter(|s| f(s.outcome)).count();
    let ok = count(&|o| o == Outcome::Ok);
    let slow_acks = count(&|o| o == Outcome::SlowAck);
    let transport = count(&|o| o == Outcome::Transport);
    let bad_body = count(&|o| o == Outcome::BadBody);
    let non200 = count(&|o| matches!(o, Outcome::Status(_)));
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for s in &measured_samples {
        if let Outcome::Status(c) = s.outcome {
            *statuses.entry(c).or_default() += 1;
        }
    }
    // Throughput: completed measured requests over the time from the end of the warm-up to the
    // last of them finishing.
    let last_end = measured_samples
        .iter()
        .map(|s| s.end)
        .max()
        .unwrap_or(finished);
    let window = (last_end.max(end) - measure_from).as_secs_f64();
    let throughput = measured_samples.len() as f64 / window;
    // Completions per second over the measured window (to see a trend).
    let secs = args.duration.ceil() as usize;
    let mut per_second = vec![0u64; secs.max(1)];
    for s in &measured_samples {
        if s.end >= measure_from {
            let i = (s.end - measure_from).as_secs() as usize;
            if i < per_second.len() {
                per_second[i] += 1;
            }
        }
    }
    // Median latency per quarter of the run, by start time (a growing cost shows up here).
    let quarter_p50_ms: Vec<f64> = (0..4)
        .map(|q| {
            let lo = measure_from + measured.mul_f64(q as f64 / 4.0);
            let hi = measure_from + measured.mul_f64((q + 1) as f64 / 4.0);
            let mut v: Vec<u64> = measured_samples
                .iter()
                .filter(|s| s.start >= lo && s.start < hi)
                .map(|s| (s.end - s.start).as_micros() as u64)
                .collect();
            v.sort_unstable();
            ms(pct(&v, 50.0))
        })
        .collect();

    let mut lag_us: Vec<u64> = measured_samples
        .iter()
        .map(|s| (s.sent - s.start).as_micros() as u64)
        .collect();
    lag_us.sort_unstable();

    let mut report = json!({
        "label": args.label,
        "kind": match kind { Kind::Help => "help", Kind::Share => "share", Kind::Healthz => "healthz", Kind::Options => "options" },
        "mode": mode,
        "rate": args.rate,
        "connections": if args.rate.is_some() { None } else { Some(args.connections) },
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "requests": measured_samples.len(),
        "requests_incl_warmup": samples.len(),
        "ok": ok,
        "slow_acks": slow_acks,
        "errors": transport + bad_body + non200,
        "errors_transport": transport,
        "errors_bad_body": bad_body,
        "errors_status": statuses,
        "throughput_rps": throughput,
        "p50_ms": ms(pct(&lat_us, 50.0)),
        "p90_ms": ms(pct(&lat_us, 90.0)),
        "p99_ms": ms(pct(&lat_us, 99.0)),
        "p999_ms": ms(pct(&lat_us, 99.9)),
        "max_ms": ms(lat_us.last().copied().unwrap_or(0)),
        "mean_ms": if lat_us.is_empty() { 0.0 } else { ms(lat_us.iter().sum::<u64>() / lat_us.len() as u64) },
        "per_second": per_second,
        "quarter_p50_ms": quarter_p50_ms,
        "send_lag_p50_ms": ms(pct(&lag_us, 50.0)),
        "send_lag_p99_ms": ms(pct(&lag_us, 99.0)),
    });
    let wall = (finished - t0).as_secs_f64();
    let self_after = cpu_ticks(std::process::id())?;
    report["loadgen_cpu_pct"] =
        json!(100.0 * (self_after - self_before) as f64 / args.clk_tck as f64 / wall);
    let machine_after = machine_ticks()?;
    let (busy, all) = (
        machine_after.0 - machine_before.0,
        machine_after.1 - machine_before.1,
    );
    report["machine_busy_pct"] = json!(100.0 * busy as f64 / all.max(1) as f64);
    if let Some((before, reset)) = proc_before {
        let (mut after, mut hwm, mut rss) = (0, 0, 0);
        for pid in &server_pids {
            after += cpu_ticks(*pid)?;
            let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
            hwm += status_kib(&status, "VmHWM:").unwrap_or(0);
            rss += status_kib(&status, "VmRSS:").unwrap_or(0);
        }
        report["server_cpu_pct"] =
            json!(100.0 * after.saturating_sub(before) as f64 / args.clk_tck as f64 / wall);
        report["server_vm_hwm_kib"] = json!(hwm);
        report["server_vm_rss_kib"] = json!(rss);
        report["server_hwm_reset"] = json!(reset);
        report["server_processes"] = json!(server_pids.len());
    }
    report["loadavg_before"] = json!(loadavg_before);
    report["loadavg_after"] = json!(loadavg());
    let peers: Vec<f64> = args
        .peer_pid
        .iter()
        .zip(peers_before)
        .map(|(p, before)| {
            let after = cpu_ticks(*p).unwrap_or(before);
            100.0 * (after - before) as f64 / args.clk_tck as f64 / wall
        })
        .collect();
    report["peer_cpu_pct"] = json!(peers);
    Ok(report)
}

/// The `p`th percentile (nearest rank) of sorted values.
fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(us: u64) -> f64 {
    (us as f64 / 10.0).round() / 100.0
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; fields after it are space-separated.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("odd /proc/{pid}/stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    Ok(f[11].parse::<u64>()? + f[12].parse::<u64>()?)
}

/// (busy, total) clock ticks of all CPUs together, from the first line of /proc/stat.
fn machine_ticks() -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().unwrap_or_default();
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let total: u64 = v.iter().sum();
    // idle and iowait are the 4th and 5th values.
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Ok((total - idle, total))
}

/// The 1, 5 and 15 minute load averages.
pub(crate) fn loadavg() -> Vec<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect()
}

/// `root` and every process descending from it (from the parent pids in /proc/*/stat).
fn process_tree(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Field 4 (ppid) is the second after the command name.
            if let Some(ppid) = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok())
            {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree
}

/// Kills a process group started with `process_group(0)` (its id is the leader's pid).
fn kill_group(pgid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stderr(std::process::Stdio::null())
        .status();
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

async fn cold_start(args: ColdArgs) -> anyhow::Result<serde_json::Value> {
    let signer = Signer::new(
        &args.secret,
        "U056CAROL",
        "1234567",
        "http://127.0.0.1:9/response",
    );
    let mut times_ms = Vec::new();
    let mut first_health_ms = Vec::new();
    let loadavg_before = loadavg();
    for i in 0..args.runs {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let mut cmd = match (&args.exec, &args.bin, &args.config) {
            (Some(line), _, _) => {
                let line = line.replace("{port}", &port.to_string());
                let mut words = line.split_whitespace();
                let program = words
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--exec is empty"))?;
                let mut cmd = std::process::Command::new(program);
                cmd.args(words);
                cmd
            }
            (None, Some(bin), Some(config)) => {
                let mut cmd = std::process::Command::new(bin);
                cmd.arg("--config")
                    .arg(config)
                    .arg("serve")
                    .arg("--listen")
                    .arg(format!("127.0.0.1:{port}"));
                cmd
            }
            _ => anyhow::bail!("give --exec, or --bin with --config"),
        };
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(dir) = &args.fresh_store_dir {
            cmd.env("NSA_STORE__PATH", dir.join(format!("cold-{i}.db")));
        }
        let healthz_first = args.healthz_first && args.exec.is_none();
        // A new client each start: no connection is reused from the previous process.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let url = format!("{base}/slack/commands");
        let started = Instant::now();
        let mut child = cmd.spawn()?;
        let mut health = None;
        let result = loop {
            if let Some(status) = child.try_wait()? {
                break Err(anyhow::anyhow!("the server exited during start: {status}"));
            }
            if started.elapsed() > Duration::from_secs(30) {
                break Err(anyhow::anyhow!("the server did not answer within 30 s"));
            }
            if healthz_first
                && health.is_none()
                && http
                    .get(format!("{base}/healthz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            {
                health = Some(started.elapsed());
            }
            if (health.is_some() || !healthz_first)
                && send(&http, &url, signer.next(Kind::Help), Kind::Help).await == Outcome::Ok
            {
                break Ok(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        kill_group(child.id());
        let _ = child.wait();
        let took = result?;
        times_ms.push(took.as_secs_f64() * 1000.0);
        first_health_ms.push(health.unwrap_or(took).as_secs_f64() * 1000.0);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    let mut sorted = times_ms.clone();
    let mut health_sorted = first_health_ms.clone();
    Ok(json!({
        "label": args.label,
        "runs": args.runs,
        "to_first_command_ms": times_ms,
        "median_ms": median(&mut sorted),
        "min_ms": sorted.first(),
        "max_ms": sorted.last(),
        "median_to_healthz_ms": median(&mut health_sorted),
        "loadavg_before": loadavg_before,
        "loadavg_after": loadavg(),
    }))
}
