//! `send`: act as a Slack user against a running service, signing each request exactly as Slack
//! does. It is how the local demo is driven without a Slack workspace, and the integration tests
//! drive the demo with the same [`SlackSender`].
//!
//! The configuration is `--config FILE`, else `examples/dev.toml` (the copy built into the binary
//! when that file is absent): `listen` says where to POST (`--url` overrides), `[secrets] source`
//! where the signing secret is, and `[slack] api_base_url` where `response_url`s point (its
//! `/api` replaced by `/response/<name>`, the Slack stand-in's `response_url`s).

use crate::cli::Cli;
use crate::config::Config;
use crate::domain::RequestId;
use crate::secrets::{SecretName, SecretString};
use anyhow::Context as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// The configuration `send` reads when `--config` is not given.
pub const DEFAULT_SEND_CONFIG: &str = "examples/dev.toml";

/// The slash-command route.
pub const COMMANDS_PATH: &str = "/slack/commands";
/// The interactivity (buttons) route.
pub const INTERACTIONS_PATH: &str = "/slack/interactions";
/// The Events API route (App Home).
const EVENTS_PATH: &str = "/slack/events";

/// Arguments of `send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// Base URL of the service (default: `http://` and `listen` from the configuration).
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// Print the equivalent `curl` command (signed now, valid 5 minutes) instead of sending.
    #[arg(long, global = true)]
    pub curl: bool,
    /// What to send.
    #[command(subcommand)]
    pub what: SendCommand,
}

/// What `send` sends.
#[derive(Debug, clap::Subcommand)]
pub enum SendCommand {
    /// A slash command, as if USER typed `/share-image TEXT`.
    Command {
        /// The Slack user id typing it (U056CAROL in the demo policy).
        #[arg(long = "as", value_name = "USER")]
        user: String,
        /// The text after `/share-image`, e.g. "1234567 with a@partner.example for 7d because pilot".
        #[arg(required = true, num_args = 1.., value_name = "TEXT")]
        text: Vec<String>,
    },
    /// A NAVER WORKS message 1:1 to the bot, as USERID typed it (signed as NAVER WORKS signs).
    Works {
        /// The NAVER WORKS user id typing it (`source.userId`; a `works` id of the policy).
        #[arg(long = "as", value_name = "USERID")]
        user: String,
        /// The text, in the `/share-image` grammar without the command's name.
        #[arg(required = true, num_args = 1.., value_name = "TEXT")]
        text: Vec<String>,
    },
    /// A press of Approve or Deny on a request's NAVER WORKS approval message, as USERID, in the
    /// request's room (the postback carries the request's fingerprint, read from the store).
    WorksPress {
        /// The NAVER WORKS user id pressing.
        #[arg(long = "as", value_name = "USERID")]
        user: String,
        /// The request id on the message (SR-XXXXXXXX).
        request_id: String,
        /// Which button.
        action: ButtonAction,
    },
    /// USER opening the app's Home tab (`app_home_opened`): the service publishes their App Home
    /// (waiting approvals, their requests, active shares), which the dev terminal prints.
    Home {
        /// The Slack user id opening it.
        #[arg(long = "as", value_name = "USER")]
        user: String,
    },
    /// A click on the Approve or Deny button of an approval card, as USER.
    Click {
        /// The Slack user id clicking (U012ALICE or U034BOB in the demo policy).
        #[arg(long = "as", value_name = "USER")]
        user: String,
        /// Which button.
        action: ButtonAction,
        /// The request id on the card (SR-XXXXXXXX).
        request_id: String,
    },
}

/// The buttons of an approval card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ButtonAction {
    /// The Approve button.
    Approve,
    /// The Deny button.
    Deny,
}

impl ButtonAction {
    /// The button's `action_id`.
    pub fn action_id(self) -> &'static str {
        match self {
            ButtonAction::Approve => "approve",
            ButtonAction::Deny => "deny",
        }
    }
}

/// One signed request, ready to send (or to print as `curl`).
#[derive(Debug, Clone)]
pub struct SignedDelivery {
    /// The route, `/slack/commands` or `/slack/interactions`.
    pub path: &'static str,
    /// The form body, byte for byte what was signed.
    pub body: String,
    /// `X-Slack-Request-Timestamp`.
    pub timestamp: String,
    /// `X-Slack-Signature`.
    pub signature: String,
    /// The `response_url` in the body, where the service's follow-up goes.
    pub response_url: String,
}

/// Why a delivery did not get a 200.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Nothing listens at the URL.
    #[error("is `dev` running? could not connect to {0}")]
    Unreachable(String),
    /// The service refused the signature.
    #[error(
        "the service refused the signature (401): its signing secret is not the one in {0}; `dev` writes a new one at every start, so use the same --config (and working directory) as `dev`"
    )]
    Unauthorized(String),
    /// The service has no Slack signing secret.
    #[error("the service at {0} has no Slack signing secret configured (404)")]
    NotConfigured(String),
    /// Any other answer.
    #[error("the service answered {status}: {body}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The body, trimmed to one line.
        body: String,
    },
    /// The connection broke or timed out.
    #[error("the request to {url} failed: {detail}")]
    Transport {
        /// Where it went.
        url: String,
        /// What happened (no secrets: the body and headers are not in it).
        detail: String,
    },
}

/// Signs and sends Slack slash commands and button clicks to one service.
pub struct SlackSender {
    base_url: String,
    response_base: String,
    signing_secret: SecretString,
    secrets_desc: String,
    http: reqwest::Client,
}

fn random_hex(bytes: usize) -> String {
    let v: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(v)
}

/// A form body, encoded as Slack encodes it.
fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl SlackSender {
    /// A sender with a known secret: `base_url` is the service, `response_base` where
    /// `response_url`s point (`http://HOST:PORT/response` on the Slack stand-in).
    pub fn new(base_url: &str, response_base: &str, signing_secret: SecretString) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            response_base: response_base.trim_end_matches('/').to_owned(),
            signing_secret,
            secrets_desc: "the given secret".into(),
            http: reqwest::Client::builder()
                .no_proxy()
                .connect_timeout(Duration::from_secs(3))
                .timeout(Duration::from_secs(10))
                .build()
                .expect("a default HTTP client builds"),
        }
    }

    /// A sender for the service a configuration describes: its `listen` (or `url`), its secret
    /// source's `SLACK_SIGNING_SECRET` (the first one, during a rotation), and its Slack API base
    /// with `/api` replaced by `/response` for `response_url`s.
    pub async fn from_config(config: &Config, url: Option<&str>) -> anyhow::Result<Self> {
        let secrets = config.secrets.source.open();
        let value = crate::secrets::require(secrets.as_ref(), SecretName::SlackSigningSecret)
            .await
            .context("the Slack signing secret is needed to sign (`dev` writes it at start: is it running, from this directory?)")?;
        let first = secrecy::ExposeSecret::expose_secret(&value)
            .split(',')
            .map(str::trim)
            .find(|s| !s.is_empty())
            .unwrap_or_default()
            .to_owned();
        let base_url = match url {
            Some(u) => u.to_owned(),
            None => format!("http://{}", config.listen),
        };
        reqwest::Url::parse(&base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                anyhow::anyhow!("{base_url:?} is not an http(s) URL (--url or `listen`)")
            })?;
        let api = config.slack.api_base_url.trim_end_matches('/');
        let response_base = format!("{}/response", api.strip_suffix("/api").unwrap_or(api));
        let mut sender = Self::new(&base_url, &response_base, SecretString::from(first));
        sender.secrets_desc = secrets.describe();
        Ok(sender)
    }

    /// The service's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn response_url(&self, name: &str) -> String {
        format!("{}/{name}-{}", self.response_base, random_hex(4))
    }

    fn sign(&self, path: &'static str, body: String, response_url: String) -> SignedDelivery {
        let ts = chrono::Utc::now().timestamp();
        let signature = crate::verify::slack::sign(&self.signing_secret, ts, body.as_bytes());
        SignedDelivery {
            path,
            body,
            timestamp: ts.to_string(),
            signature,
            response_url,
        }
    }

    /// The slash command `user` typing `/share-image <text>`, with every field Slack sends.
    pub fn command_delivery(&self, user: &str, text: &str) -> SignedDelivery {
        let response_url = self.response_url(&format!("command-from-{user}"));
        let trigger = format!("{}.{}", random_hex(4), random_hex(8));
        let body = form(&[
            ("token", "unused-verification-token"),
            ("team_id", "T0DEV"),
            ("team_domain", "dev"),
            ("channel_id", "C0DEV"),
            ("channel_name", "dev"),
            ("user_id", user),
            ("user_name", user),
            ("command", "/share-image"),
            ("text", text),
            ("api_app_id", "A0DEV"),
            ("is_enterprise_install", "false"),
            ("response_url", &response_url),
            ("trigger_id", &trigger),
        ]);
        self.sign(COMMANDS_PATH, body, response_url)
    }

    /// `user` clicking a card's button on `request_id`: a `block_actions` interaction.
    pub fn click_delivery(
        &self,
        user: &str,
        action: ButtonAction,
        request_id: &str,
    ) -> SignedDelivery {
        let response_url = self.response_url(&format!("click-by-{user}"));
        let now = chrono::Utc::now().timestamp();
        let payload = serde_json::json!({
            "type": "block_actions",
            "user": {"id": user, "username": user, "name": user, "team_id": "T0DEV"},
            "api_app_id": "A0DEV",
            "token": "unused-verification-token",
            "container": {"type": "message", "message_ts": format!("{now}.000100"), "channel_id": "C0APPROVALS", "is_ephemeral": false},
            "trigger_id": format!("{}.{}", random_hex(4), random_hex(8)),
            "team": {"id": "T0DEV", "domain": "dev"},
            "channel": {"id": "C0APPROVALS", "name": "approvals"},
            "response_url": response_url,
            "actions": [{
                "type": "button",
                "action_id": action.action_id(),
                "block_id": "decision",
                "value": request_id,
                "text": {"type": "plain_text", "text": if action == ButtonAction::Approve { "Approve" } else { "Deny" }},
                "action_ts": format!("{now}.000200"),
            }],
        });
        let body = form(&[("payload", &payload.to_string())]);
        self.sign(INTERACTIONS_PATH, body, response_url)
    }

    /// `user` opening the app's Home tab: an `app_home_opened` event, as the Events API sends it.
    pub fn home_delivery(&self, user: &str) -> SignedDelivery {
        let now = chrono::Utc::now().timestamp();
        let body = serde_json::json!({
            "token": "unused-verification-token",
            "team_id": "T0DEV",
            "api_app_id": "A0DEV",
            "type": "event_callback",
            "event_id": format!("Ev{}", random_hex(8).to_uppercase()),
            "event_time": now,
            "event": {"type": "app_home_opened", "user": user, "channel": "D0DEV", "tab": "home", "event_ts": format!("{now}.000100")},
        })
        .to_string();
        self.sign(EVENTS_PATH, body, String::new())
    }

    fn content_type(d: &SignedDelivery) -> &'static str {
        if d.path == EVENTS_PATH {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        }
    }

    /// The delivery as one `curl` command line.
    pub fn curl(&self, d: &SignedDelivery) -> String {
        // A form body has no `'` (it is percent-encoded), and the event's JSON has none either
        // (ids and a user id), so single quotes are safe.
        format!(
            "curl -sS {}{} -H 'content-type: {}' -H 'x-slack-request-timestamp: {}' -H 'x-slack-signature: {}' --data-raw '{}'",
            self.base_url,
            d.path,
            Self::content_type(d),
            d.timestamp,
            d.signature,
            d.body
        )
    }

    /// Sends a delivery as Slack would; the body of the 200 answer.
    pub async fn send(&self, d: &SignedDelivery) -> Result<String, SendError> {
        let url = format!("{}{}", self.base_url, d.path);
        let res = self
            .http
            .post(&url)
            .header("content-type", Self::content_type(d))
            .header("x-slack-request-timestamp", &d.timestamp)
            .header("x-slack-signature", &d.signature)
            .body(d.body.clone())
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    SendError::Unreachable(self.base_url.clone())
                } else {
                    SendError::Transport {
                        url: url.clone(),
                        detail: e.without_url().to_string(),
                    }
                }
            })?;
        let status = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        match status {
            200 => Ok(body),
            401 => Err(SendError::Unauthorized(self.secrets_desc.clone())),
            404 => Err(SendError::NotConfigured(self.base_url.clone())),
            _ => Err(SendError::Refused {
                status,
                body: body.split_whitespace().collect::<Vec<_>>().join(" "),
            }),
        }
    }

    /// Sends `/share-image <text>` as `user`; the ephemeral reply as readable text.
    pub async fn command(&self, user: &str, text: &str) -> Result<String, SendError> {
        let body = self.send(&self.command_delivery(user, text)).await?;
        Ok(reply_text(&body))
    }

    /// Clicks a button as `user`; the service answers in the stand-in's `response_url`.
    pub async fn click(
        &self,
        user: &str,
        action: ButtonAction,
        request_id: &str,
    ) -> Result<SignedDelivery, SendError> {
        let d = self.click_delivery(user, action, request_id);
        self.send(&d).await?;
        Ok(d)
    }
}

/// Signs and sends NAVER WORKS callbacks to one service, as NAVER WORKS does.
pub struct WorksSender {
    base_url: String,
    bot_id: String,
    bot_secret: SecretString,
    http: reqwest::Client,
}

impl WorksSender {
    /// A sender for the bot `bot_id` with its Bot Secret.
    pub fn new(base_url: &str, bot_id: &str, bot_secret: SecretString) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            bot_id: bot_id.to_owned(),
            bot_secret,
            http: reqwest::Client::builder()
                .no_proxy()
                .connect_timeout(Duration::from_secs(3))
                .timeout(Duration::from_secs(10))
                .build()
                .expect("a default HTTP client builds"),
        }
    }

    /// A sender for the service a configuration describes: `[works] bot_id` and the first
    /// `WORKS_BOT_SECRET` of its secret source.
    pub async fn from_config(config: &Config, url: Option<&str>) -> anyhow::Result<Self> {
        let works = config
            .works
            .as_ref()
            .context("the configuration has no [works] section")?;
        let secrets = config.secrets.source.open();
        let value = crate::secrets::require(secrets.as_ref(), SecretName::WorksBotSecret)
            .await
            .context("WORKS_BOT_SECRET is needed to sign")?;
        let first = secrecy::ExposeSecret::expose_secret(&value)
            .split(',')
            .map(str::trim)
            .find(|s| !s.is_empty())
            .unwrap_or_default()
            .to_owned();
        let base_url = match url {
            Some(u) => u.to_owned(),
            None => format!("http://{}", config.listen),
        };
        Ok(Self::new(
            &base_url,
            &works.bot_id,
            SecretString::from(first),
        ))
    }

    fn issued() -> String {
        chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    }

    /// The callback body of a text message 1:1 from `user`.
    pub fn text_body(user: &str, text: &str) -> String {
        serde_json::json!({
            "type": "message",
            "source": {"userId": user, "domainId": 10000001},
            "issuedTime": Self::issued(),
            "content": {"type": "text", "text": text},
        })
        .to_string()
    }

    /// The callback body of `user` pressing a button (its label and postback) in `room`.
    pub fn press_body(user: &str, room: &str, label: &str, postback: &str) -> String {
        serde_json::json!({
            "type": "message",
            "source": {"userId": user, "channelId": room, "domainId": 10000001},
            "issuedTime": Self::issued(),
            "content": {"type": "text", "text": label, "postback": postback},
        })
        .to_string()
    }

    /// POSTs a body to `/works/callback`, signed with the Bot Secret.
    pub async fn send(&self, body: &str) -> Result<(), SendError> {
        let url = format!("{}/works/callback", self.base_url);
        let signature = crate::verify::works::sign(&self.bot_secret, body.as_bytes());
        let res = self
            .http
            .post(&url)
            .header("content-type", "application/json; charset=UTF-8")
            .header("x-works-signature", signature)
            .header("x-works-botid", &self.bot_id)
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    SendError::Unreachable(self.base_url.clone())
                } else {
                    SendError::Transport {
                        url: url.clone(),
                        detail: e.without_url().to_string(),
                    }
                }
            })?;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        match status {
            200 => Ok(()),
            401 => Err(SendError::Unauthorized("WORKS_BOT_SECRET".into())),
            404 => Err(SendError::NotConfigured(self.base_url.clone())),
            _ => Err(SendError::Refused {
                status,
                body: text.split_whitespace().collect::<Vec<_>>().join(" "),
            }),
        }
    }
}

/// An ephemeral reply's JSON as text: its blocks one per line, else its `text`, else the body.
pub fn reply_text(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.trim().to_owned();
    };
    match v.get("blocks") {
        Some(b) if b.as_array().is_some_and(|a| !a.is_empty()) => {
            crate::notify::slack::render::blocks_as_text(b)
        }
        _ => v
            .get("text")
            .and_then(|t| t.as_str())
            .unwrap_or(body)
            .to_owned(),
    }
}

/// The configuration `send` uses: `--config`, else `examples/dev.toml`, else its built-in copy.
pub fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    if let Some(path) = &cli.config {
        return Ok(Config::load(path, true)?);
    }
    let path = Path::new(DEFAULT_SEND_CONFIG);
    if path.exists() {
        return Ok(Config::load(path, true)?);
    }
    Ok(Config::from_toml(
        super::DEV_CONFIG,
        "examples/dev.toml (built in)",
        std::env::vars(),
    )?)
}

/// Runs `send`.
pub async fn run(cli: &Cli, args: &SendArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(cli)?;
    match &args.what {
        SendCommand::Works { user, text } => {
            let works = WorksSender::from_config(&config, args.url.as_deref()).await?;
            works
                .send(&WorksSender::text_body(user, &text.join(" ")))
                .await?;
            println!("sent: {user} wrote to the bot; the answers appear in the dev terminal");
            return Ok(ExitCode::SUCCESS);
        }
        SendCommand::WorksPress {
            user,
            request_id,
            action,
        } => {
            let works = WorksSender::from_config(&config, args.url.as_deref()).await?;
            let id = RequestId::parse(request_id).map_err(|e| anyhow::anyhow!(e.0))?;
            // The press carries what the message showed: the request's room and fingerprint.
            let store = crate::startup::open_store(&config).await?.store;
            let request = store
                .request(&id)
                .await?
                .with_context(|| format!("no request {id} in the store"))?;
            let room = request.works_channel.clone().with_context(|| {
                format!("{id} has no NAVER WORKS room (its rule names no works_channel)")
            })?;
            let approve = *action == ButtonAction::Approve;
            let postback = crate::notify::works::render::postback(approve, &request);
            let label = if approve { "Approve" } else { "Deny" };
            works
                .send(&WorksSender::press_body(user, &room, label, &postback))
                .await?;
            println!(
                "sent: {user} pressed {label} on {id} in room {room}; the answers appear in the dev terminal"
            );
            return Ok(ExitCode::SUCCESS);
        }
        SendCommand::Command { .. } | SendCommand::Click { .. } | SendCommand::Home { .. } => {}
    }
    let sender = SlackSender::from_config(&config, args.url.as_deref()).await?;
    match &args.what {
        SendCommand::Works { .. } | SendCommand::WorksPress { .. } => {}
        SendCommand::Command { user, text } => {
            let text = text.join(" ");
            let d = sender.command_delivery(user, &text);
            if args.curl {
                println!("{}", sender.curl(&d));
                return Ok(ExitCode::SUCCESS);
            }
            let body = sender.send(&d).await?;
            println!("{}", reply_text(&body));
        }
        SendCommand::Home { user } => {
            let d = sender.home_delivery(user);
            if args.curl {
                println!("{}", sender.curl(&d));
                return Ok(ExitCode::SUCCESS);
            }
            sender.send(&d).await?;
            println!(
                "sent: {user} opened the app's Home tab; the published home appears in the dev terminal"
            );
        }
        SendCommand::Click {
            user,
            action,
            request_id,
        } => {
            // Parse locally for a clear message; the service would answer a bare 400.
            let id = RequestId::parse(request_id).map_err(|e| anyhow::anyhow!(e.0))?;
            let d = sender.click_delivery(user, *action, &id.to_string());
            if args.curl {
                println!("{}", sender.curl(&d));
                return Ok(ExitCode::SUCCESS);
            }
            sender.send(&d).await?;
            println!(
                "sent: {user} clicked {} on {id}; the answer appears in the dev terminal",
                action.action_id()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::slack::form::{ButtonClick, SlashCommand};

    fn sender() -> SlackSender {
        SlackSender::new(
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:9091/response",
            SecretString::from("s3cret".to_string()),
        )
    }

    #[test]
    fn a_command_delivery_parses_and_verifies_like_slacks() {
        let s = sender();
        let d = s.command_delivery("U056CAROL", "1234567 with a@partner.example for 7d");
        let cmd = SlashCommand::parse(d.body.as_bytes()).unwrap();
        assert_eq!(cmd.user_id, "U056CAROL");
        assert_eq!(cmd.text, "1234567 with a@partner.example for 7d");
        assert_eq!(cmd.response_url.as_deref(), Some(d.response_url.as_str()));
        assert!(
            d.response_url
                .starts_with("http://127.0.0.1:9091/response/command-from-U056CAROL-")
        );
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-slack-request-timestamp", d.timestamp.parse().unwrap());
        headers.insert("x-slack-signature", d.signature.parse().unwrap());
        let now: i64 = d.timestamp.parse().unwrap();
        crate::verify::slack::verify_at(
            &[SecretString::from("s3cret".to_string())],
            &headers,
            d.body.as_bytes(),
            now,
        )
        .unwrap();
    }

    #[test]
    fn a_click_delivery_is_a_block_actions_payload() {
        let d = sender().click_delivery("U012ALICE", ButtonAction::Deny, "SR-ABCDEFGH");
        assert_eq!(d.path, INTERACTIONS_PATH);
        let click = ButtonClick::parse(d.body.as_bytes()).unwrap();
        assert_eq!(
            (
                click.user_id.as_str(),
                click.action_id.as_str(),
                click.value.as_str()
            ),
            ("U012ALICE", "deny", "SR-ABCDEFGH")
        );
        assert_eq!(click.response_url.as_deref(), Some(d.response_url.as_str()));
    }

    #[test]
    fn a_home_delivery_is_a_signed_app_home_opened_event() {
        let s = sender();
        let d = s.home_delivery("U056CAROL");
        assert_eq!(d.path, "/slack/events");
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-slack-request-timestamp", d.timestamp.parse().unwrap());
        headers.insert("x-slack-signature", d.signature.parse().unwrap());
        let now: i64 = d.timestamp.parse().unwrap();
        crate::verify::slack::verify_at(
            &[SecretString::from("s3cret".to_string())],
            &headers,
            d.body.as_bytes(),
            now,
        )
        .unwrap();
        let event: serde_json::Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(event["event"]["type"], "app_home_opened");
        assert_eq!(event["event"]["user"], "U056CAROL");
        assert!(s.curl(&d).contains("content-type: application/json"));
        assert_ne!(
            s.home_delivery("U056CAROL").body,
            d.body,
            "a fresh event id each time"
        );
    }

    #[test]
    fn two_identical_commands_are_two_deliveries() {
        let s = sender();
        let (a, b) = (
            s.command_delivery("U1", "help"),
            s.command_delivery("U1", "help"),
        );
        assert_ne!(
            a.signature, b.signature,
            "the service de-duplicates by signature"
        );
    }

    #[test]
    fn the_curl_line_carries_the_signed_headers_and_body() {
        let s = sender();
        let d = s.command_delivery("U1", "help");
        let line = s.curl(&d);
        assert!(
            line.starts_with("curl -sS http://127.0.0.1:8080/slack/commands "),
            "{line}"
        );
        assert!(line.contains(&d.signature) && line.contains(&d.timestamp));
        assert!(line.contains(&format!("--data-raw '{}'", d.body)));
    }

    #[test]
    fn works_deliveries_verify_and_parse_as_naver_works_sends_them() {
        let secret = SecretString::from("example-bot-secret".to_string());
        let body =
            WorksSender::press_body("w-alice", "room-1", "Approve", "v1|approve|SR-ABCDEFGH|abc");
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-works-signature",
            crate::verify::works::sign(&secret, body.as_bytes())
                .parse()
                .unwrap(),
        );
        headers.insert("x-works-botid", "2000001".parse().unwrap());
        crate::verify::works::verify_at(&[secret], "2000001", &headers, body.as_bytes(), 0)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["source"]["channelId"], "room-1");
        assert_eq!(v["content"]["postback"], "v1|approve|SR-ABCDEFGH|abc");
        crate::verify::works::check_issued(
            v["issuedTime"].as_str().unwrap(),
            chrono::Utc::now().timestamp(),
        )
        .unwrap();
        let text: serde_json::Value =
            serde_json::from_str(&WorksSender::text_body("w-carol", "help")).unwrap();
        assert_eq!(text["content"]["text"], "help");
        assert!(text["source"].get("channelId").is_none());
    }

    #[test]
    fn replies_read_as_text() {
        assert_eq!(reply_text(r#"{"text":"hi"}"#), "hi");
        assert_eq!(
            reply_text(
                r#"{"text":"fallback","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"rich"}}]}"#
            ),
            "rich"
        );
        assert_eq!(reply_text("plain\n"), "plain");
    }
}
