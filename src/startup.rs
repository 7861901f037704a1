//! Building the service from its configuration: the state every handler borrows, and the
//! local `Application` (HTTP server, worker and scheduler in one process) that `serve` runs and
//! tests start on port 0.

use crate::clock::Clock;
use crate::config::{Config, LambdaFunction, QueueKind};
use crate::domain::RequestId;
use crate::http::jira::JiraFront;
use crate::http::slack::SlackFront;
use crate::http::webhook::WebhookFront;
use crate::http::{AppState, app};
use crate::ncp::NcpClient;
use crate::notify::LogNotifier;
use crate::notify::jira::{JiraApi, JiraCourier, JiraOutcomes};
use crate::notify::slack::{SlackApi, SlackCourier};
use crate::notify::webhook::WebhookCourier;
use crate::queue::LocalQueue;
use crate::secrets::{ExposeSecret, SecretName, SecretSource, SecretString};
use crate::workflow::outbox::{Channels, Dispatcher, Peer};
use crate::workflow::{Checkpointer, PolicyHandle, Settings, Trigger, Worker, Workflow};
use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How long the HTTP side keeps the image catalog before reading the store again: the
/// options request answers per keystroke, the worker refreshes the catalog every few minutes.
const CATALOG_CACHE_TTL: Duration = Duration::from_secs(30);

/// The state and the receiving end of the local work queue.
pub struct Built {
    /// What handlers borrow.
    pub state: Arc<AppState>,
    /// Hints for the worker (approved request ids).
    pub hints: mpsc::UnboundedReceiver<RequestId>,
    /// The PostgreSQL store, when the configuration names one: `serve` listens on it for the
    /// other replicas' wake-ups.
    pub postgres: Option<crate::store::PostgresStore>,
}

/// Opens the store `[store]` names; PostgreSQL's password is the secret `POSTGRES_PASSWORD`
/// (read only for PostgreSQL), or else `PGPASSWORD` or the URL's.
pub async fn open_store(config: &Config) -> anyhow::Result<crate::store::Opened> {
    let secrets = config.secrets.source.open();
    open_store_with(config, secrets.as_ref()).await
}

/// [`open_store`] with the secret source given.
pub async fn open_store_with(
    config: &Config,
    secrets: &dyn SecretSource,
) -> anyhow::Result<crate::store::Opened> {
    let password = if config.store.kind == crate::store::StoreKind::Postgres {
        secrets.get(SecretName::PostgresPassword).await?
    } else {
        None
    };
    crate::store::open(&config.store, password)
        .await
        .context("cannot open the store")
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

/// `[works]`: the NAVER WORKS client and its courier, when the section and the service account's
/// four secrets are there (without them nothing is sent to NAVER WORKS, and a warning says so).
async fn build_works(
    config: &Config,
    secrets: &dyn SecretSource,
    store: Arc<dyn crate::store::Store>,
    dispatcher: &mut Dispatcher,
) -> anyhow::Result<Option<crate::notify::works::WorksApi>> {
    use crate::notify::works::{WorksApi, WorksCourier, WorksCredentials};
    let Some(works) = &config.works else {
        return Ok(None);
    };
    let mut values = Vec::new();
    for name in [
        SecretName::WorksClientId,
        SecretName::WorksClientSecret,
        SecretName::WorksServiceAccount,
        SecretName::WorksPrivateKey,
    ] {
        match secrets.get(name).await? {
            Some(v) if !v.expose_secret().trim().is_empty() => values.push(v),
            _ => {
                tracing::warn!(
                    "[works] is configured but {name} is not set: nothing is sent to NAVER WORKS"
                );
                return Ok(None);
            }
        }
    }
    let [client_id, client_secret, service_account, private_key]: [SecretString; 4] = values
        .try_into()
        .map_err(|_| anyhow::anyhow!("four NAVER WORKS secrets"))?;
    let api = WorksApi::new(
        works,
        WorksCredentials {
            client_id: client_id.expose_secret().trim().to_owned(),
            client_secret,
            service_account: service_account.expose_secret().trim().to_owned(),
            private_key,
        },
    )?;
    dispatcher.add_courier(Peer::Works, Arc::new(WorksCourier::new(api.clone(), store)));
    Ok(Some(api))
}

/// Builds every client and port once, from the configuration and the secret source.
pub async fn build_state(
    config: &Config,
    secrets: Arc<dyn SecretSource>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Built> {
    let policy = config.policy.load(None).await.with_context(|| {
        format!(
            "cannot load the policy from {} (`policy` in the configuration)",
            config.policy
        )
    })?;
    let crate::store::Opened {
        store,
        postgres: postgres_store,
    } = open_store_with(config, secrets.as_ref()).await?;
    let cloud: Arc<dyn crate::ncp::CloudApi> =
        Arc::new(NcpClient::new(&config.ncp, secrets.clone())?);
    // Processes that never execute shares get a client that cannot change one (see `ncp.read_only`).
    let cloud = if config.ncp.read_only {
        let holder = format!("the {} function", config.lambda.function);
        Arc::new(crate::ncp::ReadOnly::new(cloud, holder)) as Arc<dyn crate::ncp::CloudApi>
    } else {
        cloud
    };

    let mut dispatcher = Dispatcher::new(store.clone(), clock.clone(), config.outbox.pacing());
    let mut channels = Channels {
        slack_drift_channel: config.lifecycle.drift_channel.clone(),
        ..Default::default()
    };
    let mut slack_api = None;
    if let Some(token) = secrets.get(SecretName::SlackBotToken).await? {
        let api = SlackApi::new(&config.slack.api_base_url, token);
        slack_api = Some(api.clone());
        dispatcher = dispatcher.with_courier(
            Peer::Slack,
            Arc::new(
                SlackCourier::new(api, store.clone())
                    .with_response_url_hosts(config.slack.response_url_hosts.clone()),
            ),
        );
        channels.slack = true;
        channels.slack_home = true;
    } else {
        tracing::warn!("SLACK_BOT_TOKEN is not set: approval cards and outcomes are only logged");
    }

    let signing_secrets = secret_list(secrets.as_ref(), SecretName::SlackSigningSecret).await?;
    let slack = if signing_secrets.is_empty() {
        // The worker and scheduler functions serve no HTTP: their secret has no signing secrets.
        if config.lambda.function == LambdaFunction::Http {
            tracing::warn!("SLACK_SIGNING_SECRET is not set: /slack/* answers 404");
        }
        None
    } else {
        Some(SlackFront {
            signing_secrets,
            response_url_hosts: config.slack.response_url_hosts.clone(),
            command: config.slack.command.clone(),
            status_for: config.slack.status_for,
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .build()
                .context("cannot build the HTTP client")?,
            api: slack_api.clone(),
            catalog: Some(Arc::new(crate::workflow::catalog::CatalogCache::new(
                store.clone(),
                CATALOG_CACHE_TTL,
            ))),
        })
    };

    let (jira, jira_courier) =
        build_jira(config, secrets.as_ref(), &mut dispatcher, store.clone()).await?;
    channels.jira = jira_courier;
    let webhook = build_webhook(config, secrets.as_ref(), &mut dispatcher).await?;
    channels.webhook = webhook.is_some();
    let works_api = build_works(config, secrets.as_ref(), store.clone(), &mut dispatcher).await?;
    channels.works = works_api.is_some();
    let works = match &config.works {
        None => None,
        Some(wc) => {
            let bot_secrets = secret_list(secrets.as_ref(), SecretName::WorksBotSecret).await?;
            if bot_secrets.is_empty() {
                if config.lambda.function == LambdaFunction::Http {
                    tracing::warn!(
                        "[works] is configured but WORKS_BOT_SECRET is not set: /works/callback answers 404"
                    );
                }
                None
            } else {
                Some(crate::http::works::WorksFront {
                    bot_id: wc.bot_id.trim().to_owned(),
                    bot_secrets,
                })
            }
        }
    };

    let (local_queue, hints) = LocalQueue::new();
    let local_queue = local_queue.waking(dispatcher.waker());
    let queue: Arc<dyn crate::queue::Queue> = match config.queue.kind {
        QueueKind::Sqs => Arc::new(crate::queue::SqsQueue::from_env(&config.queue.url)),
        QueueKind::Local => Arc::new(local_queue),
    };
    let signer = ledger_signer(config, secrets.as_ref()).await?;
    let checkpoints = Arc::new(build_checkpointer(
        config,
        store.clone(),
        signer.clone(),
        clock.clone(),
    ));
    let workflow = Workflow {
        signer,
        store,
        policy: PolicyHandle::new(policy),
        cloud,
        notifier: Arc::new(LogNotifier),
        channels,
        queue,
        clock: clock.clone(),
        settings: Settings {
            region: config.ncp.region.clone(),
            max_targets: config.worker.max_targets,
            lease_ttl: Duration::from_secs(config.worker.lease_ttl_secs),
            lease_wait: Duration::from_secs(config.worker.lease_ttl_secs / 2 + 1),
            poll_interval: Duration::from_secs(config.worker.poll_interval_secs),
            concurrency: config.worker.concurrency,
            lifecycle: crate::workflow::LifecycleSettings {
                remind_before: Duration::from_secs(config.lifecycle.remind_before.as_secs()),
                allow_revoke_unmanaged: config.lifecycle.allow_revoke_unmanaged,
                revoke_attempts: config.lifecycle.revoke_attempts,
            },
            catalog_refresh: config.ncp.catalog_refresh(),
        },
    };
    // A slash command whose submission outlasts Slack's answer budget is finished from the outbox.
    dispatcher.add_courier(
        Peer::Workflow,
        Arc::new(crate::http::slack::SubmitCourier::new(workflow.clone())),
    );
    // App Homes are rendered from the store when they are published.
    if let Some(api) = slack_api {
        dispatcher.add_courier(
            Peer::SlackHome,
            Arc::new(crate::http::slack::home::HomeCourier::new(
                workflow.clone(),
                api,
                config.slack.command.clone(),
            )),
        );
    }
    let dispatcher = Arc::new(dispatcher);
    Ok(Built {
        state: Arc::new(AppState {
            workflow,
            slack,
            jira,
            webhook,
            works,
            clock,
            dispatcher,
            checkpoints,
            draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }),
        hints,
        postgres: postgres_store,
    })
}

/// The checkpointer and where it publishes (`[ledger]`).
pub fn build_checkpointer(
    config: &Config,
    store: Arc<dyn crate::store::Store>,
    signer: Arc<crate::audit::note::NoteSigner>,
    clock: Arc<dyn Clock>,
) -> Checkpointer {
    let ledger = &config.ledger;
    let store_for_slack = store.clone();
    let mut checkpoints = Checkpointer::new(
        store,
        signer,
        clock,
        ledger.checkpoint_every_records,
        Duration::from_secs(ledger.checkpoint_every_secs),
    );
    for publisher in crate::audit::publish::Publishers::from_config(ledger).0 {
        checkpoints = checkpoints.publishing_to(publisher);
    }
    if let Some(channel) = &ledger.publish_slack_channel {
        checkpoints = checkpoints.publishing_to(Arc::new(crate::publish::SlackPublisher::new(
            store_for_slack,
            channel,
        )));
    }
    // The Lambda HTTP function signs no checkpoints (the worker and scheduler do).
    let http_on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
        && config.lambda.function == LambdaFunction::Http;
    if checkpoints.publishers().is_empty() && !http_on_lambda {
        tracing::warn!(
            "[ledger] publishes checkpoints nowhere: set publish_dir or publish_s3_bucket, so that a database insider cannot rewrite them"
        );
    }
    checkpoints
}

/// The ledger's signing key (`LEDGER_SIGNING_KEY`), whose name must be the configured origin.
pub async fn ledger_signer(
    config: &Config,
    secrets: &dyn SecretSource,
) -> anyhow::Result<Arc<crate::audit::note::NoteSigner>> {
    let origin = &config.ledger.origin;
    let key = crate::secrets::require(secrets, SecretName::LedgerSigningKey)
        .await
        .with_context(|| {
            format!(
                "every ledger record is signed: make a key with `ncp-share-approver audit key --generate --origin {origin}` and store it as LEDGER_SIGNING_KEY"
            )
        })?;
    let signer = crate::audit::note::NoteSigner::from_skey(key.expose_secret())
        .map_err(|e| anyhow::anyhow!("LEDGER_SIGNING_KEY: {e}"))?;
    if signer.name() != origin {
        anyhow::bail!(
            "LEDGER_SIGNING_KEY is the key of log {:?}, but [ledger] origin is {origin:?}: checkpoints name the log, so they must agree",
            signer.name()
        );
    }
    Ok(Arc::new(signer))
}

/// The Jira notifier, when `[jira]` and `JIRA_API_TOKEN` are there, and the front door, when
/// `JIRA_WEBHOOK_SECRET` is there too (the worker's and scheduler's secrets on AWS do not hold
/// it: they only deliver). Returns the front door and whether the notifier was added.
async fn build_jira(
    config: &Config,
    secrets: &dyn SecretSource,
    dispatcher: &mut Dispatcher,
    store: Arc<dyn crate::store::Store>,
) -> anyhow::Result<(Option<JiraFront>, bool)> {
    let Some(jc) = &config.jira else {
        return Ok((None, false));
    };
    let webhook_secrets = secret_list(secrets, SecretName::JiraWebhookSecret).await?;
    let Some(token) = secrets.get(SecretName::JiraApiToken).await? else {
        tracing::warn!(
            "[jira] is configured but JIRA_API_TOKEN is not set: /jira/webhook answers 404"
        );
        return Ok((None, false));
    };
    let api = JiraApi::new(&jc.base_url, &jc.email, token).with_retry(crate::domain::RetryPolicy {
        max_attempts: 5,
        base: Duration::from_millis(jc.backoff_base_ms),
        max_delay: Duration::from_secs(10),
        budget: Duration::from_secs(60),
    });
    let courier = JiraCourier::new(
        api.clone(),
        JiraOutcomes {
            approved_status: jc.approved_status.clone(),
            done_transition: jc.done_transition.clone(),
            failed_transition: jc.failed_transition.clone(),
        },
        store,
    );
    dispatcher.add_courier(Peer::Jira, Arc::new(courier));
    if webhook_secrets.is_empty() {
        if config.lambda.function == LambdaFunction::Http {
            tracing::warn!(
                "[jira] is configured but JIRA_WEBHOOK_SECRET is not set: /jira/webhook answers 404"
            );
        }
        return Ok((None, true));
    }
    Ok((
        Some(JiraFront {
            secrets: webhook_secrets,
            api,
            config: jc.clone(),
        }),
        true,
    ))
}

/// The generic webhook and its callback notifier, when a ticket system's secret is there:
/// `[webhook.systems.<name>] secret` per system, and `WEBHOOK_SECRET` for `[webhook] system`.
async fn build_webhook(
    config: &Config,
    secrets: &dyn SecretSource,
    dispatcher: &mut Dispatcher,
) -> anyhow::Result<Option<WebhookFront>> {
    let wc = &config.webhook;
    let mut systems = std::collections::BTreeMap::new();
    let mut signing = std::collections::BTreeMap::new();
    for (system, key) in wc.system_secrets() {
        let name = SecretName::named(&key);
        let list = secret_list(secrets, name).await?;
        let Some(first) = list.first().cloned() else {
            tracing::warn!(%system, secret = %name, "the ticket system's secret is not set: /webhook/{system} answers 404");
            continue;
        };
        for s in &list {
            crate::verify::standard_webhooks::validate_secret(s)
                .map_err(|e| anyhow::anyhow!("{name} (ticket system {system}): {e}"))?;
        }
        signing.insert(system.clone(), first);
        systems.insert(system, list);
    }
    if systems.is_empty() {
        if secrets.get(SecretName::WebhookSecret).await?.is_some() && wc.system.is_none() {
            tracing::warn!(
                "WEBHOOK_SECRET is set but [webhook] system is not: a secret speaks for one ticket system only, so /webhook answers 404 until it names one"
            );
        }
        return Ok(None);
    }
    let courier = WebhookCourier::new(signing, wc.callback_hosts.clone());
    dispatcher.add_courier(Peer::Webhook, Arc::new(courier));
    Ok(Some(WebhookFront {
        default_system: wc.system.clone().filter(|s| systems.contains_key(s)),
        systems,
        callback_hosts: wc.callback_hosts.clone(),
    }))
}

/// Re-reads the policy from `source`: a changed one that loads replaces the one in force; one
/// that does not load is logged with its problems, and the one in force stays.
/// `sdk` is the AWS configuration for S3 and SSM (the process-wide one when `None`).
/// Returns whether the policy was replaced.
pub async fn reload_policy(
    handle: &PolicyHandle,
    source: &crate::policy_source::PolicySource,
    sdk: Option<&aws_config::SdkConfig>,
) -> bool {
    match source.load(sdk).await {
        Ok(policy) if policy.hash() == handle.current().hash() => false,
        Ok(policy) => {
            tracing::info!(%source, hash = policy.hash(), "the policy changed; the new one is in force");
            handle.replace(policy);
            true
        }
        Err(e) => {
            tracing::warn!(
                %source,
                error = format!("{e:#}"),
                "the policy could not be re-read; the one in force stays"
            );
            false
        }
    }
}

/// How long `Application::start` waits for the first image catalog before it serves anyway.
const CATALOG_AT_START: Duration = Duration::from_secs(5);
/// The lease the scheduler's sweep runs under, so that of several replicas one sweeps at a time
/// (two sweeps at once could each queue a revocation of the same expired grant).
pub const SWEEP_LEASE: &str = "scheduler:sweep";

/// The local service: HTTP server, worker and scheduler (sweep, optional reconcile) in one process.
///
/// Several of them may run against one PostgreSQL store (replicas behind a load balancer): the
/// per-image lease makes one worker at a time change an image, the outbox lanes' leases make one
/// dispatcher at a time deliver a lane (each entry is re-read under the lease), the sweep runs
/// under [`SWEEP_LEASE`], and the store's notifications wake the other replicas' worker and
/// dispatcher when one of them approves a request or owes a message.
pub struct Application {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    /// The shared state (tests reach the store and workflow through it).
    pub state: Arc<AppState>,
    /// Stops taking HTTP requests (the first step of stopping).
    stop_http: watch::Sender<bool>,
    http: JoinHandle<()>,
    /// Stops the worker, the scheduler and the listener (then the dispatcher's last pass).
    stop_work: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Stops the dispatcher's loop, once the worker is done.
    stop_dispatch: watch::Sender<bool>,
    dispatcher: JoinHandle<()>,
}

impl Application {
    /// Builds the state, binds `listen` (port 0 picks a free port), and starts everything.
    pub async fn start(
        config: &Config,
        listen: &str,
        secrets: Arc<dyn SecretSource>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let Built {
            state,
            hints,
            postgres,
        } = build_state(config, secrets, clock).await?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let (stop_work, stopped) = watch::channel(false);
        let mut tasks = Vec::new();

        // `GET /metrics` on its own listener, never the public one; stopped with the worker.
        let metrics_addr = match config.metrics.listen_addr() {
            Some(at) => {
                let (addr, task) =
                    serve_metrics(at, state.workflow.clone(), stopped.clone()).await?;
                tracing::info!(%addr, "metrics at http://{addr}/metrics");
                tasks.push(task);
                Some(addr)
            }
            None => None,
        };

        // Another replica's notifications: approved requests are tried by this worker too (once:
        // the replica that approved them is on them), owed messages wake this dispatcher.
        let nudges = match &postgres {
            Some(pg) => match pg.listen(stopped.clone()).await {
                Ok((mut wakeups, listener_task)) => {
                    let tls = pg.tls_in_use().await.unwrap_or(false);
                    tracing::info!(store = %pg.target(), tls, "PostgreSQL store ready; listening for the other replicas");
                    tasks.push(listener_task);
                    let (nudge, nudges) = mpsc::unbounded_channel();
                    let wake = state.dispatcher.waker();
                    tasks.push(tokio::spawn(async move {
                        while let Some(w) = wakeups.recv().await {
                            match w {
                                crate::store::Wakeup::Work(id) => {
                                    let _ = nudge.send(id);
                                }
                                crate::store::Wakeup::Outbox | crate::store::Wakeup::Resync => {
                                    wake.notify_one()
                                }
                            }
                        }
                    }));
                    Some(nudges)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for the other replicas' notifications; the worker and the dispatcher poll");
                    None
                }
            },
            None => None,
        };

        // The worker resumes approved and interrupted work at start, then follows the queue.
        tasks.push(tokio::spawn(
            Worker::new(state.workflow.clone())
                .with_checkpoints(state.checkpoints.clone())
                .run_with_nudges(hints, nudges, stopped.clone()),
        ));

        // The image catalog is read once before the server answers, so that the request form's
        // picker works at once; bounded, since NCP may be slow or down (the sweep tries again).
        if tokio::time::timeout(
            CATALOG_AT_START,
            crate::workflow::catalog::scheduled_refresh(&state.workflow, true),
        )
        .await
        .is_err()
        {
            tracing::warn!(
                "the image catalog was not read from NCP within {CATALOG_AT_START:?}; the sweep tries again"
            );
        }

        let wf = state.workflow.clone();
        let checkpoints = state.checkpoints.clone();
        let every = Duration::from_secs(config.worker.expire_interval_secs);
        // Held for at most this long by a replica that dies mid-sweep.
        let sweep_ttl = (every * 2).max(Duration::from_secs(60));
        let holder = format!("sweep-{}", uuid::Uuid::new_v4().simple());
        let mut stop_rx = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = stop_rx.changed() => break,
                    _ = tick.tick() => {
                        match wf.store.acquire_lease(SWEEP_LEASE, &holder, wf.clock.now(), sweep_ttl).await {
                            Ok(true) => {}
                            Ok(false) => {
                                tracing::debug!("another replica is sweeping");
                                continue;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "cannot take the sweep's lease; it runs again at the next interval");
                                continue;
                            }
                        }
                        // Expires pending requests, queues revocations of grants past their
                        // end (the worker executes them) and sends "ends soon" reminders.
                        match wf.sweep().await {
                            Ok(report) => tracing::debug!(?report, "sweep done"),
                            Err(e) => tracing::warn!(error = %e, "the sweep failed; it runs again at the next interval"),
                        }
                        // When due (`[ncp] catalog_refresh_secs`); a failure is only logged.
                        crate::workflow::catalog::scheduled_refresh(&wf, false).await;
                        if let Err(e) = checkpoints.run(Trigger::Schedule).await {
                            tracing::error!(error = %e, "no ledger checkpoint");
                        }
                        if let Err(e) = wf.store.release_lease(SWEEP_LEASE, &holder).await {
                            tracing::warn!(error = %e, "cannot release the sweep's lease; it expires by itself");
                        }
                    }
                }
            }
        }));

        if config.lifecycle.reconcile_interval_secs > 0 {
            let wf = state.workflow.clone();
            let every = Duration::from_secs(config.lifecycle.reconcile_interval_secs);
            let mut stop_rx = stopped.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tokio::select! {
                        _ = stop_rx.changed() => break,
                        _ = tick.tick() => {
                            // Report only: removing unmanaged shares is for a person to ask.
                            if let Err(e) = wf.reconcile(false).await {
                                tracing::warn!(error = %e, "reconciling with NCP failed; it runs again at the next interval");
                            }
                        }
                    }
                }
            }));
        }

        if config.policy_reload_secs > 0 {
            let handle = state.workflow.policy.clone();
            let source = config.policy.clone();
            let every = Duration::from_secs(config.policy_reload_secs);
            let mut stop_rx = stopped.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                loop {
                    tokio::select! {
                        _ = stop_rx.changed() => break,
                        _ = tick.tick() => { reload_policy(&handle, &source, None).await; }
                    }
                }
            }));
        }

        // The dispatcher delivers what is owed: at once on every commit that wrote messages (or
        // another replica's notification of one), at start whatever a crash left, and every
        // poll interval whatever waits for a retry.
        let (stop_dispatch, dispatch_stopped) = watch::channel(false);
        let dispatcher = tokio::spawn(state.dispatcher.clone().run(dispatch_stopped));

        let router = app(state.clone());
        let (stop_http, mut http_stopped) = watch::channel(false);
        let http = tokio::spawn(async move {
            let shutdown = async move {
                let _ = http_stopped.changed().await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        });
        Ok(Self {
            addr,
            metrics_addr,
            state,
            stop_http,
            http,
            stop_work,
            tasks,
            stop_dispatch,
            dispatcher,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address `GET /metrics` answers on, unless `[metrics] listen` is off.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Stops as an orchestrator expects, in order: `/readyz` answers 503 at once; no new HTTP
    /// request is taken and those in flight are answered; the worker starts nothing new and
    /// finishes the executions in flight (each releases its image's lease), the scheduler and
    /// the listener stop; the dispatcher finishes its pass and delivers what that work owes,
    /// for a few seconds at most (whatever is left stays owed in the store, for another replica
    /// or the next start), releasing its lanes.
    pub async fn stop(self) {
        self.state
            .draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.stop_http.send(true);
        let _ = self.http.await;
        let _ = self.stop_work.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let _ = self.stop_dispatch.send(true);
        let _ = self.dispatcher.await;
        let report = self.state.dispatcher.run_once(Duration::from_secs(5)).await;
        tracing::info!(delivered = report.delivered, "stopped");
    }
}

/// The least time between two reads of the store for the gauges: scrapes closer together (a
/// second Prometheus, a person with curl) are answered from the last read.
const GAUGES_MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The longest a scrape waits for the store; after it the gauges keep their last values.
const GAUGES_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the Prometheus recorder's histograms are compacted between scrapes.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// What a scrape needs.
struct Scrape {
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
    workflow: Workflow,
    /// When the gauges were last read from the store (one read at a time).
    read_at: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

/// Binds `listen` and answers `GET /metrics` there (Prometheus text format) until `stop`,
/// with the process's Prometheus recorder, installed now if it was not.
async fn serve_metrics(
    listen: &str,
    workflow: Workflow,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let prometheus = crate::telemetry::metrics::install_prometheus()
        .context("cannot record metrics: another recorder is installed in this process")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen for metrics on {listen} ([metrics] listen; \"off\" turns it off)"
            )
        })?;
    let addr = listener.local_addr()?;
    let scrape = Arc::new(Scrape {
        prometheus: prometheus.clone(),
        workflow,
        read_at: tokio::sync::Mutex::new(None),
    });
    let router = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics_text))
        .with_state(scrape);
    let task = tokio::spawn(async move {
        let mut stop_upkeep = stop.clone();
        let upkeep = async move {
            let mut tick = tokio::time::interval(METRICS_UPKEEP);
            loop {
                tokio::select! {
                    _ = stop_upkeep.changed() => break,
                    _ = tick.tick() => prometheus.run_upkeep(),
                }
            }
        };
        let server = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = stop.changed().await;
        });
        let (served, ()) = tokio::join!(server, upkeep);
        if let Err(e) = served {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    });
    Ok((addr, task))
}

/// `GET /metrics`: the gauges read from the store (at most once a second, bounded in time),
/// then everything in the Prometheus text format.
async fn metrics_text(
    axum::extract::State(scrape): axum::extract::State<Arc<Scrape>>,
) -> impl axum::response::IntoResponse {
    {
        let mut read_at = scrape.read_at.lock().await;
        if read_at.is_none_or(|at| at.elapsed() >= GAUGES_MIN_INTERVAL) {
            match tokio::time::timeout(GAUGES_TIMEOUT, scrape.workflow.refresh_gauges()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the gauges from the store"),
                Err(_) => tracing::warn!("reading the gauges from the store took too long"),
            }
            *read_at = Some(tokio::time::Instant::now());
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        scrape.prometheus.render(),
    )
}

// The publishers are built here, from `[ledger]`, so that `publish` (an adapter) and `audit`
// (the pure core) need no configuration.
impl crate::audit::publish::Publishers {
    /// The directory and S3 publishers `[ledger]` configures (Slack is added by its owner).
    pub fn from_config(config: &crate::config::LedgerConfig) -> Self {
        let mut all: Vec<Arc<dyn crate::audit::publish::Publish>> = Vec::new();
        if let Some(dir) = &config.publish_dir {
            all.push(Arc::new(crate::publish::DirPublisher::new(dir)));
        }
        if let Some(bucket) = &config.publish_s3_bucket {
            all.push(Arc::new(crate::publish::S3Publisher::from_env(
                bucket,
                &config.publish_s3_prefix,
            )));
        }
        Self(all)
    }
}

#[cfg(test)]
mod tests {
    use crate::audit::publish::{Publish as _, Publishers};
    use crate::config::LedgerConfig;

    #[test]
    fn the_configuration_picks_the_publishers() {
        let mut c = LedgerConfig::default();
        assert!(Publishers::from_config(&c).is_empty());
        c.publish_dir = Some("data/checkpoints".into());
        c.publish_s3_bucket = Some("audit-bucket".into());
        let p = Publishers::from_config(&c);
        assert_eq!(
            p.describe(),
            "directory data/checkpoints, s3://audit-bucket/checkpoints/"
        );
    }
}
