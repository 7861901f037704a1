//! Jira Cloud: `POST /jira/webhook` (admin webhook with a secret; reference/webhooks.md §2).
//!
//! Verified over the raw body first (`X-Hub-Signature`), then parsed. **A webhook is a hint**:
//! before anything is decided the issue (and the comment) is read again through the REST API,
//! and the request is made from, or checked against, what Jira says now: its fields, its status
//! and who wrote or moved what. A delivery whose event disagrees with Jira is refused with a
//! comment saying why. Deliveries are de-duplicated on `X-Atlassian-Webhook-Identifier` and on
//! the SHA-256 of the signed body after the re-read, so a delivery answered 503 because Jira's
//! API was down is processed on retry, and a captured body replayed under a fresh identifier
//! does nothing. Jira signs no timestamp, but its bodies carry one (`timestamp`, epoch ms): a
//! body older than the de-duplication window is refused, so the window bounds every replay.
//!
//! Events: `jira:issue_created` in the project makes a request (the issue's *creator* asks: the
//! reporter is a field anyone who may edit the issue can set to someone else, so an issue whose
//! reporter is not its creator is refused with a comment);
//! `jira:issue_updated` with a status change into the approved status approves for the person
//! who moved it; `comment_created` with `/approve`, `/deny <reason>` or `/cancel` acts for the
//! comment's author. Everything else is acknowledged and ignored.

pub mod fields;
pub mod settings;

use crate::domain::request::fingerprint;
use crate::domain::{Origin, RequestState, ShareRequest};
use crate::http::ApiError;
use crate::http::AppState;
use crate::notify::jira::render::{clip, plain_text};
use crate::notify::jira::{JiraApi, is_issue_key};
use crate::policy::{Action, Identity};
use crate::store::DeliveryKey;
use crate::workflow::{ActOutcome, NewRequest, WorkflowError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde_json::Value;
pub use settings::{JiraConfig, JiraFields};
use sha2::{Digest as _, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// How long a delivery id and a body's hash are remembered (Jira retries for about 30 minutes),
/// and the oldest `timestamp` a delivery may carry.
const DEDUP_TTL: Duration = Duration::from_secs(24 * 3_600);
/// How long "this issue already made a request" is remembered.
const ISSUE_TTL: Duration = Duration::from_secs(400 * 24 * 3_600);
/// The delivery id header, stable across Jira's retries.
pub const DELIVERY_HEADER: &str = "x-atlassian-webhook-identifier";

/// The Jira front door's settings and clients, built once at start.
pub struct JiraFront {
    /// Webhook secrets; more than one during a rotation.
    pub secrets: Vec<SecretString>,
    /// The REST client (re-reads).
    pub api: JiraApi,
    /// Project, field mapping, statuses.
    pub config: JiraConfig,
}

/// A comment command.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Command {
    Approve,
    Deny(Option<String>),
    Cancel,
}

/// Reads `/approve`, `/deny reason` or `/cancel` from the first line of a comment.
fn command(text: &str) -> Option<Command> {
    let first = text.trim_start().lines().next()?.trim();
    let (word, rest) = first.split_once(char::is_whitespace).unwrap_or((first, ""));
    let rest = rest.trim();
    match word.to_ascii_lowercase().as_str() {
        "/approve" => Some(Command::Approve),
        "/deny" => Some(Command::Deny((!rest.is_empty()).then(|| clip(rest)))),
        "/cancel" => Some(Command::Cancel),
        _ => None,
    }
}

/// The parts of a webhook event the service uses.
struct Event {
    name: String,
    /// `timestamp`: when Jira made the event, in epoch milliseconds.
    timestamp: Option<i64>,
    issue_key: String,
    user: Option<String>,
    fields: Value,
    status_to: Option<String>,
    comment: Option<EventComment>,
}

struct EventComment {
    id: String,
    author: String,
    text: String,
}

fn account_id(v: &Value) -> Option<String> {
    v.get("accountId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn bad(why: &str) -> ApiError {
    ApiError::BadRequest(why.to_string())
}

impl Event {
    fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?;
        let name = v
            .get("webhookEvent")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("`webhookEvent` is missing"))?
            .to_string();
        let issue = v.get("issue").ok_or_else(|| bad("`issue` is missing"))?;
        let issue_key = issue
            .get("key")
            .and_then(Value::as_str)
            .filter(|k| is_issue_key(k))
            .ok_or_else(|| bad("`issue.key` is missing or not an issue key"))?
            .to_string();
        let status_to = v
            .get("changelog")
            .and_then(|c| c.get("items"))
            .and_then(Value::as_array)
            .and_then(|items| {
                items
                    .iter()
                    .find(|i| i.get("field").and_then(Value::as_str) == Some("status"))
            })
            .and_then(|i| i.get("toString").and_then(Value::as_str))
            .map(String::from);
        let comment = match v.get("comment") {
            None | Some(Value::Null) => None,
            Some(c) => {
                let id = match c.get("id") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => return Err(bad("`comment.id` is missing")),
                };
                if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("`comment.id` is not a number"));
                }
                let author = c
                    .get("author")
                    .and_then(account_id)
                    .ok_or_else(|| bad("`comment.author.accountId` is missing"))?;
                let text = plain_text(c.get("body").unwrap_or(&Value::Null));
                Some(EventComment { id, author, text })
            }
        };
        let timestamp = match v.get("timestamp") {
            None | Some(Value::Null) => None,
            Some(t) => Some(
                t.as_i64()
                    .ok_or_else(|| bad("`timestamp` is not a number of milliseconds"))?,
            ),
        };
        Ok(Self {
            name,
            timestamp,
            issue_key,
            user: v.get("user").and_then(account_id),
            fields: issue.get("fields").cloned().unwrap_or(Value::Null),
            status_to,
            comment,
        })
    }
}

fn reply(text: impl Into<String>) -> Response {
    text.into().into_response()
}

fn identity(account: &str) -> Result<Identity, ApiError> {
    Identity::new("jira", account).map_err(ApiError::BadRequest)
}

/// `POST /jira/webhook`.
pub async fn webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let jira = state.jira.as_ref().ok_or(ApiError::NotConfigured("Jira"))?;
    let now = state.clock.now();
    crate::verify::jira::verify_at(&jira.secrets, &headers, &body, now.timestamp())?;
    let delivery = crate::verify::header(&headers, DELIVERY_HEADER)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?
        .to_string();
    crate::http::record_delivery(&format!("jira:{delivery}"));
    let event = Event::parse(&body)?;
    // On the request's span (the router's): every line of this delivery, the answer's
    // included, carries them.
    tracing::Span::current()
        .record("issue", tracing::field::display(&event.issue_key))
        .record(
            "event",
            tracing::field::display(crate::domain::truncate_for_display(&event.name)),
        );
    // Body hashes are remembered for DEDUP_TTL from receipt, so a body stamped within the window
    // is still remembered if it came before; an older one could have been forgotten.
    if let Some(ts) = event.timestamp
        && ts < now.timestamp_millis() - DEDUP_TTL.as_millis() as i64
    {
        return Err(bad(&format!(
            "the event's `timestamp` is more than {} hours old; Jira delivers and retries within minutes, so this is refused as a replay",
            DEDUP_TTL.as_secs() / 3_600
        )));
    }
    let body_hash = hex::encode(Sha256::digest(&body));
    let project_prefix = format!("{}-", jira.config.project);
    if !event.issue_key.starts_with(&project_prefix) {
        return Ok(reply("ignored: the issue is in another project"));
    }
    let ctx = Ctx {
        state: &state,
        jira,
        delivery,
        body_hash,
    };
    match event.name.as_str() {
        "jira:issue_created" => ctx.created(&event).await,
        "jira:issue_updated"
            if event
                .status_to
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(&jira.config.approved_status)) =>
        {
            ctx.transitioned(&event).await
        }
        "comment_created" => match event
            .comment
            .as_ref()
            .and_then(|c| command(&c.text).map(|cmd| (c, cmd)))
        {
            Some((c, cmd)) => ctx.commented(&event, c, cmd).await,
            None => Ok(reply("ignored: the comment is not a command")),
        },
        _ => Ok(reply(
            "ignored: not an event that makes or approves a request",
        )),
    }
}

struct Ctx<'a> {
    state: &'a AppState,
    jira: &'a JiraFront,
    delivery: String,
    /// Hex SHA-256 of the raw signed body.
    body_hash: String,
}

impl Ctx<'_> {
    /// Reads the issue as Jira has it now; `Ok(None)` when it is gone.
    async fn issue(&self, key: &str) -> Result<Option<Value>, ApiError> {
        match self.jira.api.issue(key).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(ApiError::Unavailable(e.to_string())),
        }
    }

    /// `true` the first time this delivery is seen, under its identifier and under its body.
    ///
    /// Both keys are recorded before the delivery's work, like the identifier always was, not in
    /// the transaction that does it: `Change` carries one delivery key, and issue creation's is
    /// the one-request-per-issue key, which already makes a replayed creation harmless
    /// atomically. Approvals are idempotent per person. So the only cost of a crash between the
    /// record and the work is a lost hint, the window the identifier already had. The body hash
    /// goes first: a replay under a fresh identifier stops there, and Jira's own retries (same
    /// identifier, same body) stop at either.
    async fn first(&self) -> Result<bool, ApiError> {
        let store = &self.state.workflow.store;
        let now = self.state.clock.now();
        if !store
            .first_delivery(&format!("jira-body:{}", self.body_hash), now, DEDUP_TTL)
            .await?
        {
            return Ok(false);
        }
        Ok(store
            .first_delivery(&format!("jira:{}", self.delivery), now, DEDUP_TTL)
            .await?)
    }

    /// Owes the issue a comment: an outbox entry, delivered after the answer.
    async fn say(&self, key: &str, paragraphs: Vec<String>) {
        let message = crate::workflow::outbox::Message::JiraSay {
            issue_key: key.to_string(),
            paragraphs,
        };
        if let Err(e) = self.state.workflow.owe(vec![message]).await {
            tracing::warn!(issue = %key, error = %e, "cannot record a comment owed to the jira issue");
        }
    }

    async fn created(&self, event: &Event) -> Result<Response, ApiError> {
        let key = &event.issue_key;
        let Some(issue) = self.issue(key).await? else {
            return Ok(reply("ignored: the issue no longer exists"));
        };
        let now_fields = &issue["fields"];
        if let Some(t) = &self.jira.config.issue_type {
            let ty = now_fields["issuetype"]["name"].as_str().unwrap_or_default();
            if !ty.eq_ignore_ascii_case(t) {
                return Ok(reply("ignored: not the configured issue type"));
            }
        }
        if !self.first().await? {
            return Ok(reply("duplicate delivery: already handled"));
        }
        // The creator asks: Jira sets it and nobody can change it. The reporter is an editable
        // field, so one that names someone else would let anyone ask in that person's name.
        let Some(creator) = account_id(&now_fields["creator"]) else {
            self.say(key, vec!["This issue has no creator, so the service cannot tell who asks. Nothing was requested.".into()]).await;
            return Ok(reply("refused: no creator"));
        };
        if account_id(&now_fields["reporter"]).is_some_and(|r| r != creator) {
            self.say(key, vec!["Nothing was requested: the issue's reporter is not the person who created it. The service acts only for the creator of an issue, so one person cannot ask in another's name; the person who needs the share should create the issue themselves.".into()]).await;
            return Ok(reply("refused: the reporter is not the creator"));
        }
        // The event must describe the issue Jira has: same creator, same request fields.
        let mut disagreements = Vec::new();
        if let Some(sent) = account_id(&event.fields["creator"])
            && sent != creator
        {
            disagreements.push("the creator in the event is not the issue's creator".to_string());
        }
        let parsed = fields::parse(now_fields, &self.jira.config.fields);
        if event.fields.is_object()
            && let (Ok(sent), Ok(now)) = (
                fields::parse(&event.fields, &self.jira.config.fields),
                parsed.as_ref(),
            )
            && (sent.image != now.image
                || sent.targets != now.targets
                || sent.duration != now.duration)
        {
            disagreements
                .push("the image, targets or duration in the event differ from the issue's".into());
        }
        if !disagreements.is_empty() {
            self.say(key, refusal(&disagreements)).await;
            return Ok(reply("refused: the event disagrees with the issue"));
        }
        let asked = match parsed {
            Ok(a) => a,
            Err(problems) => {
                let mut p = vec![
                    "Nothing was requested: some fields of this issue cannot be used.".to_string(),
                ];
                p.extend(problems);
                p.push("Correct them and create a new issue.".into());
                self.say(key, p).await;
                return Ok(reply("refused: fields do not parse"));
            }
        };
        // One request per issue: the issue's key is recorded in the same transaction as the
        // request it makes (and names it), so a failed submission leaves the issue free to ask.
        let once = DeliveryKey::new(
            format!("jira-issue:{key}"),
            self.state.clock.now(),
            ISSUE_TTL,
        );
        let new = NewRequest {
            requester: identity(&creator)?,
            origin: Origin::Jira {
                issue_key: key.clone(),
            },
            image_no: asked.image,
            action: Action::Share,
            targets: asked.targets,
            duration: asked.duration,
            reason: asked.reason,
        };
        match self.state.workflow.submit_once(new, Some(once)).await {
            // The outbox comments on the issue (recorded, refused or approved).
            Ok(r) => Ok(reply(format!("request {} {}", r.id, r.state))),
            Err(WorkflowError::Duplicate) => {
                Ok(reply("ignored: this issue already made a request"))
            }
            Err(WorkflowError::Invalid(why)) => {
                self.say(key, vec![format!("Nothing was requested: {}", clip(&why))])
                    .await;
                Ok(reply("refused: invalid request"))
            }
            Err(e) => {
                tracing::error!(error = %e, "a jira request could not be submitted");
                self.say(key, vec![format!("Nothing was requested: the service could not look the image up or record the request ({}). Create the issue again in a moment.", clip(&e.to_string()))]).await;
                Ok(reply("failed: could not submit"))
            }
        }
    }

    /// The pending request this issue made, if any.
    async fn pending_request(&self, key: &str) -> Result<Option<ShareRequest>, ApiError> {
        // Pending requests are few (they expire within their TTL), so a scan is cheap and needs
        // no index by origin in the store.
        let pending = self
            .state
            .workflow
            .store
            .requests(Some(RequestState::Pending), 10_000)
            .await?;
        Ok(pending
            .into_iter()
            .find(|r| matches!(&r.origin, Origin::Jira { issue_key } if issue_key == key)))
    }

    /// Whether the issue's fields still ask for exactly what the request binds.
    fn fields_agree(&self, request: &ShareRequest, issue: &Value) -> Result<(), String> {
        match fields::parse(&issue["fields"], &self.jira.config.fields) {
            Ok(now)
                if fingerprint(
                    &now.image,
                    &request.region,
                    request.action,
                    &now.targets,
                    now.duration,
                ) == request.fingerprint =>
            {
                Ok(())
            }
            _ => Err(format!(
                "the issue's image, targets or duration changed after request {} was made; create a new issue for a different share",
                request.id
            )),
        }
    }

    async fn transitioned(&self, event: &Event) -> Result<Response, ApiError> {
        let key = &event.issue_key;
        let actor = event
            .user
            .as_deref()
            .ok_or_else(|| bad("`user.accountId` is missing"))?;
        let Some(issue) = self.issue(key).await? else {
            return Ok(reply("ignored: the issue no longer exists"));
        };
        if !self.first().await? {
            return Ok(reply("duplicate delivery: already handled"));
        }
        let Some(request) = self.pending_request(key).await? else {
            self.say(key, vec![format!("This issue was moved to \"{}\", but it has no pending request, so nothing was approved.", self.jira.config.approved_status)]).await;
            return Ok(reply("ignored: no pending request"));
        };
        let approved = &self.jira.config.approved_status;
        let mut disagreements = Vec::new();
        let status = issue["fields"]["status"]["name"]
            .as_str()
            .unwrap_or_default();
        if !status.eq_ignore_ascii_case(approved) {
            disagreements.push(format!(
                "the issue's status is \"{}\", not \"{approved}\"",
                clip(status)
            ));
        } else if last_status_change(&issue)
            .is_none_or(|(to, by)| !to.eq_ignore_ascii_case(approved) || by != actor)
        {
            disagreements.push(format!(
                "the issue's history does not show this person moving it to \"{approved}\" last"
            ));
        }
        if let Err(why) = self.fields_agree(&request, &issue) {
            disagreements.push(why);
        }
        if !disagreements.is_empty() {
            self.say(key, refusal(&disagreements)).await;
            return Ok(reply("refused: the event disagrees with the issue"));
        }
        self.act(key, &request, identity(actor)?, Command::Approve)
            .await
    }

    async fn commented(
        &self,
        event: &Event,
        comment: &EventComment,
        cmd: Command,
    ) -> Result<Response, ApiError> {
        let key = &event.issue_key;
        let Some(issue) = self.issue(key).await? else {
            return Ok(reply("ignored: the issue no longer exists"));
        };
        let now_comment = match self.jira.api.comment(key, &comment.id).await {
            Ok(c) => Some(c),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(ApiError::Unavailable(e.to_string())),
        };
        if !self.first().await? {
            return Ok(reply("duplicate delivery: already handled"));
        }
        let Some(request) = self.pending_request(key).await? else {
            self.say(
                key,
                vec!["This issue has no pending request, so the command changed nothing.".into()],
            )
            .await;
            return Ok(reply("ignored: no pending request"));
        };
        let mut disagreements = Vec::new();
        match &now_comment {
            None => disagreements.push("the comment no longer exists".to_string()),
            Some(c) => {
                if account_id(&c["author"]).as_deref() != Some(comment.author.as_str()) {
                    disagreements
                        .push("the comment's author in Jira is not the one in the event".into());
                }
                if command(&plain_text(&c["body"])) != Some(cmd.clone()) {
                    disagreements
                        .push("the comment's text in Jira is not the command in the event".into());
                }
            }
        }
        if let Err(why) = self.fields_agree(&request, &issue) {
            disagreements.push(why);
        }
        if !disagreements.is_empty() {
            self.say(key, refusal(&disagreements)).await;
            return Ok(reply("refused: the event disagrees with the issue"));
        }
        self.act(key, &request, identity(&comment.author)?, cmd)
            .await
    }

    async fn act(
        &self,
        key: &str,
        request: &ShareRequest,
        actor: Identity,
        cmd: Command,
    ) -> Result<Response, ApiError> {
        let wf = &self.state.workflow;
        let result = match cmd {
            Command::Approve => wf.approve(&request.id, &actor).await,
            Command::Deny(reason) => wf.deny(&request.id, &actor, reason).await,
            Command::Cancel => wf.cancel(&request.id, &actor).await,
        };
        let outcome = result?;
        let id = &request.id;
        // People by their policy names: a comment on the issue never names a Jira account.
        let person = wf.policy.current().person_for(&actor).cloned();
        let (answer, summary) = match &outcome {
            // The notifier tells the issue about counted approvals, approvals, denials and
            // cancellations; only what changed nothing is answered here.
            ActOutcome::Counted { .. } => (None, "counted"),
            ActOutcome::Approved(_) => (None, "approved"),
            ActOutcome::Denied(_) => (None, "denied"),
            ActOutcome::Cancelled(_) => (None, "cancelled"),
            ActOutcome::AlreadyCounted(_) => (
                Some(format!(
                    "The approval by {} of {id} was already counted; nothing changed.",
                    person
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "this person".into())
                )),
                "already counted",
            ),
            // The policy's sentence speaks to the person ("you requested this"); an account the
            // policy does not know has no name to show, and its id stays out of the comment.
            ActOutcome::NotAllowed(why) => (
                Some(match &person {
                    Some(p) => format!(
                        "Not counted for {p} on {id}: {}. Nothing changed.",
                        clip(why)
                    ),
                    None => format!(
                        "Not counted: the Jira account that acted is not in the policy's [people], so it cannot act on {id}. Nothing changed."
                    ),
                }),
                "not allowed",
            ),
            ActOutcome::NotPending(r) => (
                Some(format!("Request {id} is {}; nothing changed.", r.state)),
                "not pending",
            ),
            ActOutcome::NotFound => (Some(format!("Request {id} was not found.")), "not found"),
        };
        if let Some(a) = answer {
            self.say(key, vec![a]).await;
        }
        Ok(reply(summary))
    }
}

/// The newest status change in an issue read with `expand=changelog`: (to status, by account).
fn last_status_change(issue: &Value) -> Option<(String, String)> {
    let histories = issue["changelog"]["histories"].as_array()?;
    histories
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let item = h["items"]
                .as_array()?
                .iter()
                .find(|it| it["field"].as_str() == Some("status"))?;
            Some((
                h["created"].as_str().unwrap_or_default().to_string(),
                i,
                item["toString"].as_str()?.to_string(),
                account_id(&h["author"])?,
            ))
        })
        .max_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)))
        .map(|(_, _, to, by)| (to, by))
}

fn refusal(why: &[String]) -> Vec<String> {
    vec![format!(
        "Refused: the webhook does not agree with the issue as Jira has it now ({}). Nothing changed.",
        why.join("; ")
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_from_the_first_line_only() {
        assert_eq!(command("/approve"), Some(Command::Approve));
        assert_eq!(command("  /APPROVE please\nmore"), Some(Command::Approve));
        assert_eq!(
            command("/deny not this quarter"),
            Some(Command::Deny(Some("not this quarter".into())))
        );
        assert_eq!(command("/deny"), Some(Command::Deny(None)));
        assert_eq!(command("/cancel"), Some(Command::Cancel));
        for none in [
            "",
            "approve",
            "lgtm\n/approve",
            "/approved",
            "Request SR-1 recorded",
        ] {
            assert_eq!(command(none), None, "{none:?}");
        }
    }

    #[test]
    fn the_newest_status_change_wins() {
        let issue = serde_json::json!({"changelog": {"histories": [
            {"created": "2024-01-01T10:00:00.000+0000", "author": {"accountId": "a"}, "items": [{"field": "status", "toString": "Approved"}]},
            {"created": "2024-01-01T11:00:00.000+0000", "author": {"accountId": "b"}, "items": [{"field": "summary", "toString": "x"}]},
            {"created": "2024-01-01T09:00:00.000+0000", "author": {"accountId": "c"}, "items": [{"field": "status", "toString": "Open"}]}
        ]}});
        assert_eq!(
            last_status_change(&issue),
            Some(("Approved".into(), "a".into()))
        );
        assert_eq!(last_status_change(&serde_json::json!({})), None);
    }
}
