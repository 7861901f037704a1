//! Building the service from its configuration: the state every handler borrows, and the
//! local `Application` (HTTP server, worker and scheduler in one process) that `serve` runs and
//! tests start on port 0.

use crate::app::{AppState, app};
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::RequestId;
use crate::http::slack::SlackFront;
use crate::ncp::NcpClient;
use crate::notify::slack::{SlackApi, SlackNotifier};
use crate::notify::{Fanout, LogNotifier, Notifier};
use crate::queue::LocalQueue;
use crate::secrets::{ExposeSecret, SecretName, SecretSource, SecretString};
use crate::workflow::{PolicyHandle, Settings, Worker, Workflow};
use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The state and the receiving end of the local work queue.
pub struct Built {
    /// What handlers borrow.
    pub state: Arc<AppState>,
    /// Hints for the worker (approved request ids).
    pub hints: mpsc::UnboundedReceiver<RequestId>,
}

/// Reads an optional secret that may hold several comma-separated values (a rotation).
async fn secret_list(
    secrets: &dyn SecretSource,
    name: SecretName,
) -> anyhow::Result<Vec<SecretString>> {
    let Some(value) = secrets.get(name).await? else {
        return Ok(Vec::new());
    };
    Ok(value
        .expose_secret()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| SecretString::from(s.to_string()))
        .collect())
}

/// Builds every client and port once, from the configuration and the secret source.
pub async fn build_state(
    config: &Config,
    secrets: Arc<dyn SecretSource>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Built> {
    let policy = crate::cli::policy::load_policy(&config.policy).with_context(|| {
        format!(
            "cannot load the policy file {} (`policy` in the configuration)",
            config.policy.display()
        )
    })?;
    let store = crate::store::open(&config.store).context("cannot open the store")?;
    let cloud = NcpClient::new(&config.ncp, secrets.clone())?;

    let mut notifiers: Vec<Arc<dyn Notifier>> = vec![Arc::new(LogNotifier)];
    if let Some(token) = secrets.get(SecretName::SlackBotToken).await? {
        let api = SlackApi::new(&config.slack.api_base_url, token);
        notifiers.push(Arc::new(SlackNotifier::new(api, store.clone())));
    } else {
        tracing::warn!("SLACK_BOT_TOKEN is not set: approval cards and outcomes are only logged");
    }

    let signing_secrets = secret_list(secrets.as_ref(), SecretName::SlackSigningSecret).await?;
    let slack = if signing_secrets.is_empty() {
        tracing::warn!("SLACK_SIGNING_SECRET is not set: /slack/* answers 404");
        None
    } else {
        Some(SlackFront {
            signing_secrets,
            response_url_hosts: config.slack.response_url_hosts.clone(),
            command: config.slack.command.clone(),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .build()
                .context("cannot build the HTTP client")?,
        })
    };

    let (local_queue, hints) = LocalQueue::new();
    let queue: Arc<dyn crate::queue::Queue> = match config.queue.kind.as_str() {
        "sqs" => Arc::new(crate::queue::SqsQueue::from_env(&config.queue.url)),
        _ => Arc::new(local_queue),
    };
    let workflow = Workflow {
        store,
        policy: PolicyHandle::new(policy),
        cloud: Arc::new(cloud),
        notifier: Arc::new(Fanout(notifiers)),
        queue,
        clock: clock.clone(),
        settings: Settings {
            region: config.ncp.region.clone(),
            max_targets: config.worker.max_targets,
            lease_ttl: Duration::from_secs(config.worker.lease_ttl_secs),
            lease_wait: Duration::from_secs(config.worker.lease_ttl_secs / 2 + 1),
            poll_interval: Duration::from_secs(config.worker.poll_interval_secs),
            concurrency: config.worker.concurrency,
        },
    };
    Ok(Built {
        state: Arc::new(AppState {
            workflow,
            slack,
            clock,
        }),
        hints,
    })
}

/// The local service: HTTP server, worker and expiry scheduler in one process.
pub struct Application {
    addr: SocketAddr,
    /// The shared state (tests reach the store and workflow through it).
    pub state: Arc<AppState>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Application {
    /// Builds the state, binds `listen` (port 0 picks a free port), and starts everything.
    pub async fn start(
        config: &Config,
        listen: &str,
        secrets: Arc<dyn SecretSource>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let Built { state, hints } = build_state(config, secrets, clock).await?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();

        // The worker resumes approved and interrupted work at start, then follows the queue.
        tasks.push(tokio::spawn(
            Worker::new(state.workflow.clone()).run(hints, stopped.clone()),
        ));

        let wf = state.workflow.clone();
        let every = Duration::from_secs(config.worker.expire_interval_secs);
        let mut stop_rx = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = stop_rx.changed() => break,
                    _ = tick.tick() => {
                        if let Err(e) = wf.expire_due().await {
                            tracing::warn!(error = %e, "expiring pending requests failed; will retry");
                        }
                    }
                }
            }
        }));

        let router = app(state.clone());
        let mut stop_rx = stopped;
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop_rx.changed().await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        }));
        Ok(Self {
            addr,
            state,
            stop,
            tasks,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server, the worker and the scheduler, and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Runs on AWS Lambda as the function `lambda.function` names: the HTTP router (the default),
/// the SQS worker or the scheduler (see [`crate::functions`]).
pub async fn run_lambda(config: &Config, secrets: Arc<dyn SecretSource>) -> anyhow::Result<()> {
    crate::functions::run(config, secrets).await
}
