//! `dev`: the one-command local demo. In one process: the NCP simulator (demo seed), a Slack
//! stand-in that prints every card and message, and the service itself with the embedded store
//! and the example policy, configured from `examples/dev.toml`.
//!
//! The Slack secrets are random at every start and written to `<data dir>/secrets.json`
//! (mode 0600), the secret source the configuration names, so that `send` can sign as Slack
//! does. Tests start the same thing with [`start`] on port 0 in a temporary directory.

use crate::cli::Cli;
use crate::cli::DEV_CONFIG;
use crate::cli::send::SlackSender;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::ncp::sim::{DEMO_ACCESS_KEY, DEMO_SECRET_KEY, RunningSimulator, Simulator};
use crate::notify::slack::FakeSlack;
use crate::notify::works::{FakeWorks, FakeWorksApp};
use crate::policy_source::PolicySource;
use crate::secrets::{ExposeSecret as _, SecretName, SecretString};
use crate::startup::Application;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// `examples/policy.toml`, used when the configured policy file is absent.
pub const DEV_POLICY: &str = include_str!("../../examples/policy.toml");
/// Where `dev` reads its configuration unless `--config` is given.
pub const DEV_CONFIG_FILE: &str = "examples/dev.toml";
/// Where `dev` keeps its store, secrets and effective configuration.
pub const DEV_DATA_DIR: &str = "data/dev";
/// The NCP simulator's default address.
pub const DEV_NCP_LISTEN: &str = "127.0.0.1:9090";
/// The Slack stand-in's default address.
pub const DEV_SLACK_LISTEN: &str = "127.0.0.1:9091";

/// Arguments of `dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Address of the service (default: `listen` from the configuration, 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Address of the NCP simulator.
    #[arg(long, value_name = "ADDR", default_value = DEV_NCP_LISTEN)]
    pub ncp_listen: String,
    /// Address of the Slack stand-in.
    #[arg(long, value_name = "ADDR", default_value = DEV_SLACK_LISTEN)]
    pub slack_listen: String,
    /// Delete data/dev/ (store, secrets) first and start empty.
    #[arg(long)]
    pub fresh: bool,
}

/// What [`start`] needs.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// The configuration to start from (`examples/dev.toml`); addresses and paths are replaced.
    pub base: Config,
    /// Address of the service (port 0 picks one).
    pub listen: String,
    /// Address of the NCP simulator.
    pub ncp_listen: String,
    /// Address of the Slack stand-in.
    pub slack_listen: String,
    /// Directory of the store, `secrets.json` and `config.toml`.
    pub data_dir: PathBuf,
    /// Delete `data_dir` first.
    pub fresh: bool,
    /// Print Slack cards and messages on stdout.
    pub printer: bool,
}

impl DevOptions {
    /// The built-in `examples/dev.toml` on port 0 everywhere, keeping data in `data_dir`, quiet.
    pub fn for_tests(data_dir: &Path) -> Self {
        let mut base = Config::from_toml(DEV_CONFIG, DEV_CONFIG_FILE, Vec::new())
            .expect("the built-in dev configuration is valid");
        // Tests run many demos at once: each its own metrics port.
        base.metrics.listen = "127.0.0.1:0".into();
        Self {
            base,
            listen: "127.0.0.1:0".into(),
            ncp_listen: "127.0.0.1:0".into(),
            slack_listen: "127.0.0.1:0".into(),
            data_dir: data_dir.to_owned(),
            fresh: false,
            printer: false,
        }
    }
}

/// A running demo: the service, the simulator and the Slack stand-in.
pub struct DevInstance {
    /// The service.
    pub app: Application,
    /// The NCP simulator's state.
    pub sim: Simulator,
    sim_running: RunningSimulator,
    /// The Slack stand-in.
    pub slack: FakeSlack,
    /// The NAVER WORKS stand-in (its token endpoint checks the demo app's JWT).
    pub works: FakeWorks,
    /// The configuration the service runs with.
    pub config: Config,
    /// `<data dir>/secrets.json`.
    pub secrets_file: PathBuf,
    /// `<data dir>/config.toml`: this instance's addresses and paths, for `send --config`.
    pub config_file: PathBuf,
    signing_secret: SecretString,
}

/// Writes `contents` to `path`, readable by the owner only (on Unix).
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        // An existing file keeps its mode through `open`; tighten it first.
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    options.open(path)?.write_all(contents.as_bytes())
}

/// The ledger key of an earlier run, when it is there and names `origin`.
fn kept_ledger_key(secrets_file: &std::path::Path, origin: &str) -> Option<String> {
    let text = std::fs::read_to_string(secrets_file).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let key = json.get(SecretName::LedgerSigningKey.key())?.as_str()?;
    let signer = crate::audit::note::NoteSigner::from_skey(key).ok()?;
    (signer.name() == origin).then(|| key.to_string())
}

fn random_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The TOML of the configuration `send` and the other commands need to reach this instance.
fn reach_config(config: &Config) -> String {
    let mut t = toml::Table::new();
    let s = |v: &str| toml::Value::String(v.to_owned());
    t.insert("listen".into(), s(&config.listen));
    t.insert("policy".into(), s(&config.policy.to_string()));
    let mut store = toml::Table::new();
    store.insert("path".into(), s(&config.store.path.display().to_string()));
    t.insert("store".into(), store.into());
    let mut ncp = toml::Table::new();
    if let Some(ep) = &config.ncp.endpoint {
        ncp.insert("endpoint".into(), s(ep));
    }
    t.insert("ncp".into(), ncp.into());
    let mut secrets = toml::Table::new();
    secrets.insert("source".into(), s(&config.secrets.source.to_string()));
    t.insert("secrets".into(), secrets.into());
    let mut slack = toml::Table::new();
    slack.insert("api_base_url".into(), s(&config.slack.api_base_url));
    slack.insert(
        "response_url_hosts".into(),
        toml::Value::Array(
            config
                .slack
                .response_url_hosts
                .iter()
                .map(|h| s(h))
                .collect(),
        ),
    );
    t.insert("slack".into(), slack.into());
    if let Some(w) = &config.works {
        let mut works = toml::Table::new();
        works.insert("bot_id".into(), s(&w.bot_id));
        works.insert("api_base_url".into(), s(&w.api_base_url));
        works.insert("auth_url".into(), s(&w.auth_url));
        t.insert("works".into(), works.into());
    }
    format!(
        "# Written by `ncp-share-approver dev` at start: where this demo listens and keeps its data.\n# Use it with `send --config` (and `requests list`, `audit verify`) when `dev` runs on other ports.\n\n{}",
        toml::to_string(&t).unwrap_or_default()
    )
}

/// Starts the demo: simulator, Slack stand-in, fresh secrets, then the service.
pub async fn start(options: DevOptions) -> anyhow::Result<DevInstance> {
    let dir = &options.data_dir;
    if options.fresh && dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot delete {} (--fresh)", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let sim = Simulator::demo();
    let sim_running = sim.spawn(&options.ncp_listen).await.with_context(|| {
        format!(
            "cannot start the NCP simulator on {} (is another `dev` running? try --ncp-listen)",
            options.ncp_listen
        )
    })?;

    let signing_secret = random_secret();
    let webhook_secret = random_secret();
    let bot_token = format!("xoxb-dev-{}", random_secret());
    let slack = FakeSlack::try_start(&bot_token, &options.slack_listen)
        .await
        .with_context(|| {
            format!(
                "cannot start the Slack stand-in on {} (is another `dev` running? try --slack-listen)",
                options.slack_listen
            )
        })?
        .with_printer(options.printer);

    let works = FakeWorks::try_start(FakeWorksApp::demo(), "127.0.0.1:0", 86_400)
        .await
        .context("cannot start the NAVER WORKS stand-in")?
        .with_printer(options.printer);
    let works_app = FakeWorksApp::demo();
    let works_bot_secret = random_secret();

    let secrets_file = dir.join("secrets.json");
    // The ledger key outlives a restart (the records it signed stay in the store); only a new
    // store (`--fresh`, or a first start) gets a new one.
    let ledger_key = kept_ledger_key(&secrets_file, &options.base.ledger.origin).map_or_else(
        || {
            crate::audit::note::NoteSigner::generate(&options.base.ledger.origin)
                .map(|k| k.to_skey().expose_secret().to_string())
                .map_err(|e| anyhow::anyhow!("[ledger] origin: {e}"))
        },
        Ok,
    )?;
    let secrets_json: serde_json::Map<String, serde_json::Value> = [
        (SecretName::NcpAccessKey, DEMO_ACCESS_KEY),
        (SecretName::NcpSecretKey, DEMO_SECRET_KEY),
        (SecretName::SlackSigningSecret, signing_secret.as_str()),
        (SecretName::SlackBotToken, bot_token.as_str()),
        (SecretName::WebhookSecret, webhook_secret.as_str()),
        (SecretName::LedgerSigningKey, ledger_key.as_str()),
        (SecretName::WorksBotSecret, works_bot_secret.as_str()),
        (SecretName::WorksClientId, works_app.client_id.as_str()),
        (
            SecretName::WorksClientSecret,
            works_app.client_secret.as_str(),
        ),
        (
            SecretName::WorksServiceAccount,
            works_app.service_account.as_str(),
        ),
        (
            SecretName::WorksPrivateKey,
            crate::notify::works::fake::DEMO_PRIVATE_KEY_PEM,
        ),
    ]
    .into_iter()
    .map(|(name, value)| (name.key().to_owned(), value.into()))
    .collect();
    write_private(
        &secrets_file,
        &serde_json::to_string_pretty(&secrets_json).unwrap_or_default(),
    )
    .with_context(|| format!("cannot write {}", secrets_file.display()))?;

    let mut config = options.base.clone();
    config.ncp.endpoint = Some(sim_running.base_url.clone());
    config.slack.api_base_url = slack.api_base_url();
    if let Some(w) = &mut config.works {
        w.api_base_url = works.api_base_url();
        w.auth_url = works.auth_url();
    }
    if !config
        .slack
        .response_url_hosts
        .iter()
        .any(|h| h == "127.0.0.1")
    {
        config.slack.response_url_hosts.push("127.0.0.1".into());
    }
    if !config
        .webhook
        .callback_hosts
        .iter()
        .any(|h| h == "127.0.0.1")
    {
        // Callbacks of the generic webhook may go to a receiver on this machine.
        config.webhook.callback_hosts.push("127.0.0.1".into());
    }
    if config.webhook.system.is_none() {
        // The demo's WEBHOOK_SECRET speaks for the ticket system of the printed curl lines.
        config.webhook.system = Some("servicenow".into());
    }
    config.store.kind = crate::store::StoreKind::Sqlite;
    config.store.path = dir.join("ncp-share-approver.db");
    if config.ledger.publish_dir.is_none() {
        // Signed checkpoints land next to the store, as they would in an Object Lock bucket.
        config.ledger.publish_dir = Some(dir.join("checkpoints"));
    }
    config.secrets.source = crate::secrets::SourceSpec::File(secrets_file.clone());
    if matches!(&config.policy, PolicySource::File(p) if !p.exists()) {
        // Outside the repository the example policy is not at hand: use the built-in copy.
        let copy = dir.join("policy.toml");
        std::fs::write(&copy, DEV_POLICY)
            .with_context(|| format!("cannot write {}", copy.display()))?;
        config.policy = PolicySource::File(copy);
    }
    let secrets = config.secrets.source.open();
    let app = Application::start(&config, &options.listen, secrets, Arc::new(SystemClock))
        .await
        .with_context(|| {
            format!(
                "cannot start the service on {} (is another `dev` running? try --listen)",
                options.listen
            )
        })?;
    config.listen = app.addr().to_string();

    let config_file = dir.join("config.toml");
    std::fs::write(&config_file, reach_config(&config))
        .with_context(|| format!("cannot write {}", config_file.display()))?;

    Ok(DevInstance {
        app,
        sim,
        sim_running,
        slack,
        works,
        config,
        secrets_file,
        config_file,
        signing_secret: SecretString::from(signing_secret),
    })
}

impl DevInstance {
    /// `http://ADDR` of the service.
    pub fn service_url(&self) -> String {
        format!("http://{}", self.app.addr())
    }

    /// `http://ADDR` of the NCP simulator.
    pub fn ncp_url(&self) -> &str {
        &self.sim_running.base_url
    }

    /// A sender signing with this instance's secret, as `send` does.
    pub fn sender(&self) -> SlackSender {
        let api = self.slack.api_base_url();
        let response_base = format!("{}/response", api.trim_end_matches("/api"));
        SlackSender::new(
            &self.service_url(),
            &response_base,
            self.signing_secret.clone(),
        )
    }

    /// A shell snippet (bash, openssl, curl) that signs a `share.requested` event with the
    /// demo's `WEBHOOK_SECRET` (the secret of `[webhook] system`, `servicenow`) and POSTs it to
    /// `/webhook/servicenow`, as that ticket system would.
    pub fn webhook_curl(&self) -> String {
        let body = r#"{"type":"share.requested","ticket":{"system":"servicenow","id":"RITM0001"},"requester":"servicenow:abc123","image_no":"3456789","targets":["dev@corp.example"],"duration":"10m","reason":"trying the webhook"}"#;
        let secrets = self.secrets_file.display();
        let service = self.service_url();
        [
            format!("BODY='{body}'"),
            "ID=msg_$(date +%s%N); TS=$(date +%s)".to_string(),
            format!("SECRET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"WEBHOOK_SECRET\"])' {secrets})"),
            r#"SIG=$(printf '%s' "$ID.$TS.$BODY" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64)"#.to_string(),
            format!("curl -sS {service}/webhook/servicenow -H 'content-type: application/json' -H \"webhook-id: $ID\" \\"),
            r#"  -H "webhook-timestamp: $TS" -H "webhook-signature: v1,$SIG" -d "$BODY""#.to_string(),
        ]
        .join("\n  ")
    }

    /// What `dev` prints at start: what runs where and how to act, with `send_prefix` (like
    /// `cargo run -q -- send`) starting each command line.
    pub fn instructions(&self, send_prefix: &str) -> String {
        let images: Vec<String> = self
            .sim
            .images()
            .iter()
            .filter(|i| i.owner == crate::ncp::sim::DEMO_LOGIN_ID)
            .map(|i| format!("{} {} ({}, {})", i.no, i.name, i.hypervisor, i.status))
            .collect();
        let sender = self.sender();
        let example = "1234567 with a@partner.example for 7d because pilot";
        let curl = sender.curl(&sender.command_delivery("U056CAROL", example));
        let p = send_prefix;
        format!(
            "\
ncp-share-approver dev: everything runs in this process; Ctrl-C stops it.

  service         {service}   POST /slack/commands, /slack/interactions, /slack/events, /slack/options
  NCP simulator   {ncp}   account owner@corp.example, demo keys
  Slack stand-in  {slack}   every card and message is printed below
  policy          {policy}
  store           {store}
  secrets         {secrets}   new random Slack secrets at every start

  images: {images}
  people: carol U056CAROL asks; alice U012ALICE and bob U034BOB approve (2 of 2)

Try it from another terminal, in this directory:

  1. As carol, ask to share a golden image with a partner for a week:
       {p} command --as U056CAROL \"{example}\"
     The reply names the request (SR-XXXXXXXX); the approval card appears here.
  2. As alice, then bob, press Approve on that card:
       {p} click --as U012ALICE approve SR-XXXXXXXX
       {p} click --as U034BOB approve SR-XXXXXXXX
     The worker shares the image on the simulator; the card shows the result and carol
     gets a direct message.
  3. A sandbox image inside the company is approved by the policy at once:
       {p} command --as U056CAROL \"3456789 with dev@corp.example for 10m because trying\"
  4. Open the app's Home tab as alice or carol: waiting approvals, requests, active shares:
       {p} home --as U012ALICE
  Also: `deny` instead of `approve`; \"status SR-XXXXXXXX\", \"list 1234567\" or \"help\" as the text;
  {p} --help. (The request form needs real Slack to fill it in: `/share-image` with no text.)

The first command as curl (signed now, valid for 5 minutes; add --curl to `send` for a fresh one):

  {curl}

Any ticket system (the generic webhook, Standard Webhooks signed with WEBHOOK_SECRET from the
secrets file): as bob's ServiceNow account, ask for the sandbox image; paste into bash:

  {webhook}

NAVER WORKS (the stand-in at {works}; its messages are printed here too): as carol, write to
the bot, then press Approve as alice and bob in the approvers' room:
       {p} works --as w-carol-0004 \"{example}\"
       {p} works-press --as w-alice-0001 SR-XXXXXXXX approve
       {p} works-press --as w-bob-0002 SR-XXXXXXXX approve

Waiting for Slack traffic...
",
            works = self.works.api_base_url().trim_end_matches("/v1.0"),
            service = self.service_url(),
            ncp = self.ncp_url(),
            slack = self.slack.api_base_url().trim_end_matches("/api"),
            policy = self.config.policy,
            store = self.config.store.path.display(),
            secrets = self.secrets_file.display(),
            images = images.join(", "),
            webhook = self.webhook_curl(),
        )
    }

    /// Stops the service (finishing in-flight work), then the simulator and the stand-in.
    pub async fn stop(self) {
        self.app.stop().await;
        self.sim_running.shutdown().await;
        drop(self.slack);
        drop(self.works);
    }
}

/// Runs `dev` until Ctrl-C.
pub async fn run(cli: &Cli, args: &DevArgs) -> anyhow::Result<ExitCode> {
    let (base, base_name) = match &cli.config {
        Some(path) => (Config::load(path, true)?, path.display().to_string()),
        None if Path::new(DEV_CONFIG_FILE).exists() => (
            Config::load(Path::new(DEV_CONFIG_FILE), true)?,
            DEV_CONFIG_FILE.to_owned(),
        ),
        None => (
            Config::from_toml(DEV_CONFIG, "examples/dev.toml (built in)", std::env::vars())?,
            DEV_CONFIG_FILE.to_owned(),
        ),
    };
    let listen = args.listen.clone().unwrap_or_else(|| base.listen.clone());
    let base_listen = base.listen.clone();
    let base_slack = base.slack.api_base_url.clone();
    let instance = start(DevOptions {
        base,
        listen,
        ncp_listen: args.ncp_listen.clone(),
        slack_listen: args.slack_listen.clone(),
        data_dir: PathBuf::from(DEV_DATA_DIR),
        fresh: args.fresh,
        printer: true,
    })
    .await?;
    // `send` reads examples/dev.toml by default; point it at this instance's file when it
    // runs elsewhere than that file says.
    let default_reach = base_name == DEV_CONFIG_FILE
        && cli.config.is_none()
        && instance.config.listen == base_listen
        && instance.slack.api_base_url() == base_slack;
    let prefix = if default_reach {
        "cargo run -q -- send".to_owned()
    } else {
        format!(
            "cargo run -q -- send --config {}",
            instance.config_file.display()
        )
    };
    {
        // A closed stdout (`dev | head`) must not take the server down: ignore write errors.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stdout().lock(),
            "{}",
            instance.instructions(&prefix)
        );
    }
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    println!("stopping: finishing in-flight work");
    instance.stop().await;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_configuration_agrees_with_the_dev_defaults() {
        let c = Config::from_toml(DEV_CONFIG, DEV_CONFIG_FILE, Vec::new()).unwrap();
        assert_eq!(
            c.ncp.endpoint.as_deref(),
            Some(format!("http://{DEV_NCP_LISTEN}").as_str())
        );
        assert_eq!(
            c.slack.api_base_url,
            format!("http://{DEV_SLACK_LISTEN}/api")
        );
        assert_eq!(
            c.secrets.source.to_string(),
            format!("file:{DEV_DATA_DIR}/secrets.json")
        );
        assert_eq!(
            c.store.path,
            Path::new(DEV_DATA_DIR).join("ncp-share-approver.db")
        );
        assert_eq!(c.policy, PolicySource::File("examples/policy.toml".into()));
        assert!(c.slack.response_url_hosts.iter().any(|h| h == "127.0.0.1"));
    }

    #[test]
    fn the_reach_configuration_parses_back_to_the_same_addresses() {
        let mut c = Config::from_toml(DEV_CONFIG, DEV_CONFIG_FILE, Vec::new()).unwrap();
        c.listen = "127.0.0.1:18080".into();
        c.slack.api_base_url = "http://127.0.0.1:19091/api".into();
        let back = Config::from_toml(&reach_config(&c), "config.toml", Vec::new()).unwrap();
        assert_eq!(back.listen, c.listen);
        assert_eq!(back.slack.api_base_url, c.slack.api_base_url);
        assert_eq!(back.secrets.source, c.secrets.source);
        assert_eq!(back.store.path, c.store.path);
    }
}
