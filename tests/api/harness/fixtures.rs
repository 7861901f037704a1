//! Every fixture of the integration tests in one place: the policies (files under
//! `tests/fixtures/`, shared with the unit tests), the people, the secrets and keys, the
//! configuration of a spawned service, and the payload builders.

#![allow(dead_code)] // Each test module uses a different part.

use ncp_share_approver::config::Config;
use ncp_share_approver::ncp::sim::{DEMO_ACCESS_KEY, DEMO_SECRET_KEY};
use ncp_share_approver::secrets::{SecretName, SecretString, StaticSecrets};

/// The policy of the spawned service (Slack and ticket tests): 2 of 3 admins approve partner
/// shares; corp shares are automatic. The people have Slack, Jira and ServiceNow accounts.
pub const APP_POLICY: &str = include_str!("../../fixtures/policy-app.toml");

/// The policy of the workflow harness: people with Slack ids (alice also with a Jira id), and one
/// rule per case.
pub const WORKFLOW_POLICY: &str = include_str!("../../fixtures/policy-workflow.toml");

/// The NAVER WORKS policy: the app policy's people with `works` ids, and the room.
pub const WORKS_POLICY: &str = include_str!("../../fixtures/policy-works.toml");
/// The NAVER WORKS bot of the tests.
pub const WORKS_BOT: &str = "2000001";
/// Its Bot Secret (the reference's test vectors use it too).
pub const WORKS_BOT_SECRET: &str = "example-bot-secret";
/// The NAVER WORKS approvers' room.
pub const WORKS_ROOM: &str = "room-approvers";
/// NAVER WORKS user ids of the policy's people.
pub const W_ALICE: &str = "w-alice-0001";
/// NAVER WORKS user ids of the policy's people.
pub const W_BOB: &str = "w-bob-0002";
/// NAVER WORKS user ids of the policy's people.
pub const W_DAVE: &str = "w-dave-0003";
/// NAVER WORKS user ids of the policy's people.
pub const W_CAROL: &str = "w-carol-0004";
/// A NAVER WORKS user who is nobody in the policy.
pub const W_STRANGER: &str = "w-stranger-9999";

/// The Slack signing secret of the tests.
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// The bot token of the tests.
pub const BOT_TOKEN: &str = "xoxb-test-bot-token-0000000000";
/// Where the approval cards go.
pub const APPROVALS: &str = "C0APPROVALS";

/// The requester (Slack user id).
pub const CAROL: &str = "U056CAROL";
/// Approvers.
pub const ALICE: &str = "U012ALICE";
/// Approvers.
pub const BOB: &str = "U034BOB";
/// Not in the policy's approvers.
pub const ERIN: &str = "U090ERIN";

/// The Jira webhook secret (V5's).
pub const JIRA_SECRET: &str = "It's a Secret to Everybody";
/// The Jira account and token of the service.
pub const JIRA_EMAIL: &str = "share-bot@corp.example";
/// The Jira API token of the tests.
pub const JIRA_TOKEN: &str = "jira-test-api-token-0000000000";
/// The Standard Webhooks secret (V6's) of the ticket system `servicenow`, which `POST /webhook`
/// speaks for (`[webhook] system`).
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Where the secret of `servicenow` is kept.
pub const SERVICENOW_SECRET_NAME: &str = "WEBHOOK_SECRET_SERVICENOW";
/// The Standard Webhooks secret of the other configured ticket system, `zendesk`.
pub const ZENDESK_SECRET: &str = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=";

/// Jira account ids of the tests' people.
pub const J_CAROL: &str = "acc-carol";
/// Approver.
pub const J_ALICE: &str = "acc-alice";
/// Approver.
pub const J_BOB: &str = "acc-bob";
/// An engineer, not an approver.
pub const J_ERIN: &str = "acc-erin";

/// The tests' ledger signing key (public: it signs nothing outside tests), and its verifier key.
pub const TEST_LEDGER_KEY: &str =
    "PRIVATE+KEY+ncp-share-approver+09dc63de+AcnmMjNrQ1ZaSl8tSGRTLGnizL8kpg/VSwPzH/Q63PEB";
/// The verifier key of [`TEST_LEDGER_KEY`].
pub const TEST_LEDGER_VKEY: &str =
    "ncp-share-approver+09dc63de+AYaf3L+kHm0DLFWnU7YgNi76OxCnL4Fdx0hcEVkKFlk6";

/// The tests' ledger signer.
pub fn test_signer() -> std::sync::Arc<ncp_share_approver::audit::note::NoteSigner> {
    std::sync::Arc::new(
        ncp_share_approver::audit::note::NoteSigner::from_skey(TEST_LEDGER_KEY)
            .expect("the test ledger key parses"),
    )
}

/// The secrets of a spawned service with Slack only: NCP's demo keys, Slack's and the ledger key.
pub fn slack_secrets() -> StaticSecrets {
    StaticSecrets::default()
        .with(SecretName::NcpAccessKey, DEMO_ACCESS_KEY)
        .with(SecretName::NcpSecretKey, DEMO_SECRET_KEY)
        .with(SecretName::SlackSigningSecret, SIGNING_SECRET)
        .with(SecretName::SlackBotToken, BOT_TOKEN)
        .with(SecretName::LedgerSigningKey, TEST_LEDGER_KEY)
}

/// [`slack_secrets`] and those of Jira and both webhook systems.
pub fn ticket_secrets() -> StaticSecrets {
    slack_secrets()
        .with(SecretName::JiraWebhookSecret, JIRA_SECRET)
        .with(SecretName::JiraApiToken, JIRA_TOKEN)
        .with(SecretName::named(SERVICENOW_SECRET_NAME), WEBHOOK_SECRET)
        .with(SecretName::named("WEBHOOK_SECRET_ZENDESK"), ZENDESK_SECRET)
}

/// [`slack_secrets`] and the NAVER WORKS app's (the fake's demo app).
pub fn works_secrets() -> StaticSecrets {
    with_works_secrets(slack_secrets())
}

/// [`ticket_secrets`] and the NAVER WORKS app's: every front door.
pub fn all_secrets() -> StaticSecrets {
    with_works_secrets(ticket_secrets())
}

fn with_works_secrets(secrets: StaticSecrets) -> StaticSecrets {
    let app = ncp_share_approver::notify::works::FakeWorksApp::demo();
    secrets
        .with(SecretName::WorksClientId, app.client_id)
        .with(SecretName::WorksClientSecret, app.client_secret)
        .with(SecretName::WorksServiceAccount, app.service_account)
        .with(
            SecretName::WorksPrivateKey,
            ncp_share_approver::notify::works::fake::DEMO_PRIVATE_KEY_PEM,
        )
        .with(SecretName::WorksBotSecret, WORKS_BOT_SECRET)
}

/// Where a spawned service's peers listen.
pub struct Peers<'a> {
    /// The NCP simulator's base URL.
    pub sim: &'a str,
    /// The fake Slack Web API's base URL.
    pub slack_api: &'a str,
    /// The fake Jira's base URL, when the service speaks to Jira and the webhook systems too.
    pub jira: Option<&'a str>,
}

/// The `[ncp]` … `[outbox]` sections every spawned service shares: the simulator with short
/// backoffs, the fake Slack, a quick worker and an unpaced outbox.
pub fn peer_sections(sim: &str, slack_api: &str) -> String {
    format!(
        r#"[ncp]
endpoint = "{sim}"
max_attempts = 3
backoff_base_ms = 5
backoff_max_ms = 20
[slack]
api_base_url = "{slack_api}"
response_url_hosts = ["127.0.0.1"]
[worker]
poll_interval_secs = 1
lease_ttl_secs = 10
[outbox]
slack_interval_ms = 0
works_interval_ms = 0
backoff_base_ms = 20
max_attempts = 5
"#
    )
}

/// The `[jira]` and `[webhook]` sections: the fake Jira, callbacks to loopback, `servicenow`
/// on `POST /webhook` (set `with_systems` for the per-system secrets, zendesk included).
pub fn ticket_sections(jira: &str, with_systems: bool) -> String {
    let mut text = format!(
        r#"[jira]
base_url = "{jira}"
email = "{JIRA_EMAIL}"
project = "SHARE"
issue_type = "Image share"
approved_status = "Approved"
done_transition = "Done"
failed_transition = "Reject"
backoff_base_ms = 5
[jira.fields]
image = "customfield_10050"
targets = "customfield_10051"
duration = "customfield_10052"
reason = "customfield_10053"
[webhook]
callback_hosts = ["127.0.0.1"]
backoff_base_ms = 50
system = "servicenow"
"#
    );
    if with_systems {
        text.push_str(
            r#"[webhook.systems.servicenow]
secret = "WEBHOOK_SECRET_SERVICENOW"
[webhook.systems.zendesk]
secret = "WEBHOOK_SECRET_ZENDESK"
"#,
        );
    }
    text
}

/// The configuration of a spawned service: `policy` written into `dir`, a SQLite store there,
/// and the peers.
pub fn app_config(dir: &std::path::Path, policy: &str, peers: &Peers<'_>) -> Config {
    std::fs::write(dir.join("policy.toml"), policy).unwrap();
    let mut text = format!(
        "\npolicy = \"{policy}\"\n[store]\npath = \"{db}\"\n",
        policy = dir.join("policy.toml").display(),
        db = dir.join("store.db").display(),
    );
    text.push_str(&peer_sections(peers.sim, peers.slack_api));
    let name = match peers.jira {
        Some(jira) => {
            text.push_str(&ticket_sections(jira, true));
            "tickets.toml"
        }
        None => "test.toml",
    };
    Config::from_toml(&text, name, Vec::new()).unwrap()
}

/// A form body, encoded as Slack encodes it.
pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The request id in a reply text (`SR-XXXXXXXX`).
pub fn request_id_in(text: &str) -> String {
    let at = text.find("SR-").expect("a request id in the reply");
    text[at..at + 11].to_string()
}

/// `X-Slack-Request-Timestamp` (now) and `X-Slack-Signature` for `body` signed with `secret`.
pub fn slack_signature(secret: &str, body: &[u8]) -> (String, String) {
    let ts = chrono::Utc::now().timestamp();
    let signature =
        ncp_share_approver::verify::slack::sign(&SecretString::from(secret.to_string()), ts, body);
    (ts.to_string(), signature)
}
