//! The outbox: every message the service owes someone (a Slack card, a direct message, a Jira
//! comment, a signed callback, a drift report, a `response_url` reply) is an [`OutboxEntry`]
//! written in the same store transaction as the state change that causes it, and delivered
//! afterwards by the [`Dispatcher`], at least once.
//!
//! Nothing owed lives only in memory, so a crash, or Lambda freezing a function the moment it
//! has answered, delays a message but never loses it. This module is the pure part: the entry,
//! the messages, which entries a notice makes ([`plan`]) and the lanes they are delivered in.
//! Delivery itself (`dispatch.rs`) talks to the couriers of `notify`.

pub mod callback;
mod dispatch;

pub use dispatch::{Courier, Delivery, DispatchReport, Dispatcher, Pacing};

use crate::domain::ports::notify::Notice;
use crate::domain::{Approval, DriftFinding, Origin, RequestId, ShareRequest};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Owed: waiting for its turn (or for `next_at` after a failed attempt).
    Pending,
    /// The receiver took it.
    Delivered,
    /// A later entry of the same card made it unnecessary (only the card's latest state is sent).
    Superseded,
    /// Given up: a permanent error, or too many attempts. `outbox retry` sends it again.
    Failed,
}

impl OutboxStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Delivered => "delivered",
            OutboxStatus::Superseded => "superseded",
            OutboxStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for OutboxStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message owed to someone, and how its delivery goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Unique id (`ob_…`); also the callback's `webhook-id` and the Jira comment's marker, so
    /// that a receiver can recognise a repeat.
    pub id: String,
    /// The order within a lane: creation time, then the request's version, then the position in
    /// its transaction (so that entries made at the same instant keep the order of the states).
    pub order: String,
    /// The delivery lane (`slack:C0APPROVALS`, `jira:SHARE-7`, `webhook:tickets.example`): one
    /// lane is delivered in order and paced; lanes never wait for each other.
    pub lane: String,
    /// The request it is about, if any (drift reports are about none).
    pub request_id: Option<RequestId>,
    /// What to send.
    pub message: Message,
    /// Where it stands.
    pub status: OutboxStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Not to be tried before this.
    pub next_at: DateTime<Utc>,
    /// The last failure, for `outbox list` (never a secret or a URL's credentials).
    pub last_error: Option<String>,
    /// When it was delivered (or superseded, or given up).
    pub done_at: Option<DateTime<Utc>>,
    /// The trace it belongs to: its request's, or the delivery's that owed it. Its delivery's
    /// lines name it, and a callback carries it as `traceparent`. Absent from entries stored
    /// before traces existed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::domain::trace::lenient"
    )]
    pub trace_id: Option<crate::domain::TraceId>,
}

/// What an entry sends. Messages about a request carry the request as it was stored with the
/// change, so that a delivery renders that state, not whatever the request is by then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// The approval card in the rule's channel: posted when `post` and no card exists yet,
    /// otherwise updated in place. Pending updates of one card are coalesced.
    SlackCard {
        /// The request after the change.
        request: Box<ShareRequest>,
        /// Whether this entry may post the card (only the submission does).
        post: bool,
        /// The denial of a `Denied` notice, shown on the card.
        denial: Option<Approval>,
    },
    /// A Slack message about a request: a direct message to `to` (a user id), or a reply in
    /// the approval card's thread when `in_card_thread`.
    SlackNotice {
        /// A user id (direct message) or the approval channel (thread reply).
        to: String,
        /// Reply under the card rather than as a message of its own.
        in_card_thread: bool,
        /// The request after the change.
        request: Box<ShareRequest>,
        /// What happened.
        notice: Notice,
    },
    /// A drift report to a channel.
    SlackDrift {
        /// The channel.
        channel: String,
        /// What reconciliation found.
        findings: Vec<DriftFinding>,
    },
    /// A signed ledger checkpoint posted to a channel (`[ledger] publish_slack_channel`).
    SlackCheckpoint {
        /// The channel.
        channel: String,
        /// How many records it covers.
        size: u64,
        /// The signed checkpoint note.
        note: String,
    },
    /// A follow-up on a slash command's `response_url` (the URL is the credential: never logged).
    SlackResponse {
        /// The `response_url`.
        url: String,
        /// The JSON body (text and blocks, `response_type`).
        body: serde_json::Value,
    },
    /// A private message from the bot to a Slack user (their direct message with the app): the
    /// answer to something done where Slack gives no `response_url` (the App Home, a modal).
    SlackDm {
        /// The user id.
        user: String,
        /// Fallback text.
        text: String,
        /// Blocks (null for text only).
        blocks: serde_json::Value,
    },
    /// A Slack user's App Home, rendered from the store when it is delivered (so a later entry
    /// supersedes an earlier one): republished when a request that concerns them changes.
    SlackHome {
        /// The user id.
        user: String,
    },
    /// A comment (and the done or failed transition) on the Jira issue a request came from.
    JiraNotice {
        /// The request after the change.
        request: Box<ShareRequest>,
        /// What happened.
        notice: Notice,
    },
    /// A comment of the Jira front door's own (a refusal, fields that do not parse).
    JiraSay {
        /// The issue.
        issue_key: String,
        /// One paragraph per entry.
        paragraphs: Vec<String>,
    },
    /// A slash command whose submission did not finish within Slack's answer budget (NCP was
    /// slow): the worker submits it (once: the delivery key is part of the submission) and
    /// replies on the `response_url`.
    Submit {
        /// The request as parsed from the verified command.
        new: Box<crate::domain::NewRequest>,
        /// The command's delivery key (`slack:<signature>`).
        delivery: String,
        /// When the delivery key is remembered until.
        until: DateTime<Utc>,
    },
    /// A NAVER WORKS message about a request: to the rule's room (the approval message, the
    /// room's news after each press and at the end) or 1:1 to the requester. NAVER WORKS cannot
    /// edit a sent message, so each is a new message.
    WorksNotice {
        /// The room or the user.
        to: WorksTo,
        /// The request after the change.
        request: Box<ShareRequest>,
        /// What happened.
        notice: Notice,
    },
    /// A text of the NAVER WORKS front door's own (help, a refusal, a late press), 1:1 or to a room.
    WorksSay {
        /// The room or the user.
        to: WorksTo,
        /// The text (cut to NAVER WORKS' limit when sent).
        text: String,
    },
    /// A signed Standard Webhooks callback; its `webhook-id` is the entry's id.
    Callback {
        /// The allow-listed callback URL.
        url: String,
        /// The JSON body.
        body: serde_json::Value,
    },
}

/// Where a NAVER WORKS message goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum WorksTo {
    /// 1:1 to a user (its `userId`).
    User(String),
    /// A room the bot is in (its `channelId`).
    Channel(String),
}

impl Message {
    /// A short name for logs and `outbox list`.
    pub fn name(&self) -> &'static str {
        match self {
            Message::SlackCard { .. } => "slack card",
            Message::SlackNotice {
                in_card_thread: true,
                ..
            } => "slack thread reply",
            Message::SlackNotice { .. } => "slack direct message",
            Message::SlackDrift { .. } => "slack drift report",
            Message::SlackCheckpoint { .. } => "slack ledger checkpoint",
            Message::SlackResponse { .. } => "slack response_url reply",
            Message::SlackDm { .. } => "slack private reply",
            Message::SlackHome { .. } => "slack app home",
            Message::JiraNotice { .. } => "jira comment",
            Message::JiraSay { .. } => "jira comment",
            Message::Callback { .. } => "webhook callback",
            Message::Submit { .. } => "slack command submission",
            Message::WorksNotice {
                to: WorksTo::Channel(_),
                ..
            } => "naver works room message",
            Message::WorksNotice { .. } => "naver works direct message",
            Message::WorksSay { .. } => "naver works reply",
        }
    }

    /// The lane: one per Slack channel or user, Jira issue, callback host.
    pub fn lane(&self) -> String {
        match self {
            Message::SlackCard { request, .. } => format!(
                "slack:{}",
                request.approval_channel.as_deref().unwrap_or("-")
            ),
            Message::SlackNotice { to, .. } => format!("slack:{to}"),
            Message::SlackDm { user, .. } => format!("slack:{user}"),
            Message::SlackHome { user } => format!("slack-home:{user}"),
            Message::SlackDrift { channel, .. } | Message::SlackCheckpoint { channel, .. } => {
                format!("slack:{channel}")
            }
            // Replies to one command share a lane; the URL itself stays out of the lane name.
            Message::SlackResponse { url, .. } => {
                use sha2::Digest as _;
                let digest = sha2::Sha256::digest(url.as_bytes());
                format!("slack-response:{}", &hex::encode(digest)[..16])
            }
            Message::JiraNotice { request, .. } => match &request.origin {
                Origin::Jira { issue_key } => format!("jira:{issue_key}"),
                _ => "jira:-".into(),
            },
            Message::JiraSay { issue_key, .. } => format!("jira:{issue_key}"),
            Message::Submit { delivery, .. } => format!("submit:{delivery}"),
            Message::WorksNotice { to, .. } | Message::WorksSay { to, .. } => match to {
                WorksTo::User(u) => format!("works:user:{u}"),
                WorksTo::Channel(c) => format!("works:room:{c}"),
            },
            Message::Callback { url, .. } => format!(
                "webhook:{}",
                reqwest::Url::parse(url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        }
    }

    /// Which peer delivers it.
    pub fn peer(&self) -> Peer {
        match self {
            Message::SlackCard { .. }
            | Message::SlackNotice { .. }
            | Message::SlackDrift { .. }
            | Message::SlackCheckpoint { .. }
            | Message::SlackResponse { .. }
            | Message::SlackDm { .. } => Peer::Slack,
            Message::SlackHome { .. } => Peer::SlackHome,
            Message::JiraNotice { .. } | Message::JiraSay { .. } => Peer::Jira,
            Message::Callback { .. } => Peer::Webhook,
            Message::Submit { .. } => Peer::Workflow,
            Message::WorksNotice { .. } | Message::WorksSay { .. } => Peer::Works,
        }
    }
}

/// The peers messages go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    /// Slack's Web API and `response_url`s.
    Slack,
    /// Jira Cloud's REST API.
    Jira,
    /// Standard Webhooks callbacks.
    Webhook,
    /// The workflow itself (work handed over from a front door that had to answer first).
    Workflow,
    /// The NAVER WORKS API.
    Works,
    /// Slack App Homes (`views.publish`), rendered from the store at delivery.
    SlackHome,
}

/// Which front doors are set up, so that [`plan`] writes entries only for peers that exist.
#[derive(Debug, Clone, Default)]
pub struct Channels {
    /// Slack is configured (bot token).
    pub slack: bool,
    /// Where drift reports go in Slack.
    pub slack_drift_channel: Option<String>,
    /// Jira is configured.
    pub jira: bool,
    /// The generic webhook is configured (its secret signs callbacks).
    pub webhook: bool,
    /// NAVER WORKS is configured (`[works]` and its credentials).
    pub works: bool,
    /// Slack App Homes are republished when a request changes (Slack is configured).
    pub slack_home: bool,
}

impl OutboxEntry {
    /// A new pending entry for `message`, made at `now`; `version` and `position` order entries
    /// made at the same instant.
    pub fn new(message: Message, now: DateTime<Utc>, version: u64, position: usize) -> Self {
        let (request_id, trace_id) = match &message {
            Message::SlackCard { request, .. }
            | Message::SlackNotice { request, .. }
            | Message::JiraNotice { request, .. }
            | Message::WorksNotice { request, .. } => {
                (Some(request.id.clone()), request.trace_id.clone())
            }
            _ => (None, None),
        };
        // A message about no request (an answer, a home, a report) is in the trace of the work
        // that owes it.
        let trace_id = trace_id.or_else(crate::workflow::trace::current);
        Self {
            id: format!("ob_{}", uuid::Uuid::new_v4().simple()),
            order: format!(
                "{}#{version:010}#{position:04}",
                now.to_rfc3339_opts(SecondsFormat::Nanos, true)
            ),
            lane: message.lane(),
            request_id,
            message,
            status: OutboxStatus::Pending,
            attempts: 0,
            created_at: now,
            next_at: now,
            last_error: None,
            done_at: None,
            trace_id,
        }
    }

    /// Ties the entry to a request (for messages whose payload does not name it, like callbacks).
    pub fn for_request(mut self, id: &RequestId) -> Self {
        self.request_id = Some(id.clone());
        self
    }

    /// Puts the entry in `trace` (its request's), when there is one.
    pub fn in_trace(mut self, trace: Option<&crate::domain::TraceId>) -> Self {
        if let Some(trace) = trace {
            self.trace_id = Some(trace.clone());
        }
        self
    }
}

/// The messages a notice about `request` owes, for the peers in `channels`, with no approvals
/// but the notice's own (see [`plan_with`]).
pub fn plan(
    channels: &Channels,
    request: &ShareRequest,
    notice: &Notice,
    now: DateTime<Utc>,
) -> Vec<Message> {
    let own: Vec<Approval> = match notice {
        Notice::ApprovalAdded(a) | Notice::Denied(a) => vec![a.clone()],
        _ => Vec::new(),
    };
    plan_with(channels, request, &own, notice, now)
}

/// Whether [`plan_with`] renders anything from the approvals now (the callback's body, fixed
/// at the state change); the chat couriers read them when they deliver.
pub fn needs_approvals(channels: &Channels, request: &ShareRequest) -> bool {
    channels.webhook
        && matches!(
            &request.origin,
            Origin::Webhook {
                callback_url: Some(_),
                ..
            }
        )
}

/// The messages a notice about `request` (with its `approvals` so far) owes, for the peers in
/// `channels`.
///
/// This is the one place that decides who hears about what: the Slack card and its thread,
/// the requester's direct message, the Jira issue, the callback.
pub fn plan_with(
    channels: &Channels,
    request: &ShareRequest,
    approvals: &[Approval],
    notice: &Notice,
    now: DateTime<Utc>,
) -> Vec<Message> {
    let mut out = Vec::new();
    let boxed = || Box::new(request.clone());
    if channels.slack {
        let card = request.approval_channel.is_some();
        let dm = request.requester.system == "slack";
        match notice {
            Notice::Submitted if card => out.push(Message::SlackCard {
                request: boxed(),
                post: true,
                denial: None,
            }),
            Notice::ApprovalAdded(_) | Notice::Approved | Notice::Executing if card => {
                out.push(Message::SlackCard {
                    request: boxed(),
                    post: false,
                    denial: None,
                })
            }
            Notice::Succeeded
            | Notice::Failed
            | Notice::Denied(_)
            | Notice::Expired
            | Notice::Cancelled
            | Notice::ShareEndingSoon { .. }
            | Notice::ShareEnded(_) => {
                let ending = matches!(
                    notice,
                    Notice::ShareEndingSoon { .. } | Notice::ShareEnded(_)
                );
                if card && !ending {
                    out.push(Message::SlackCard {
                        request: boxed(),
                        post: false,
                        denial: match notice {
                            Notice::Denied(a) => Some(a.clone()),
                            _ => None,
                        },
                    });
                }
                if dm {
                    out.push(Message::SlackNotice {
                        to: request.requester.id.clone(),
                        in_card_thread: false,
                        request: boxed(),
                        notice: notice.clone(),
                    });
                }
                if let Some(channel) = &request.approval_channel {
                    out.push(Message::SlackNotice {
                        to: channel.clone(),
                        in_card_thread: true,
                        request: boxed(),
                        notice: notice.clone(),
                    });
                }
            }
            // The HTTP reply to the slash command already said why.
            _ => {}
        }
    }
    if channels.works {
        works_plan(request, notice, &mut out);
    }
    if channels.jira && matches!(request.origin, Origin::Jira { .. }) {
        out.push(Message::JiraNotice {
            request: boxed(),
            notice: notice.clone(),
        });
    }
    if channels.webhook
        && let Origin::Webhook {
            callback_url: Some(url),
            ..
        } = &request.origin
        && !matches!(notice, Notice::Executing)
    {
        out.push(Message::Callback {
            url: url.clone(),
            body: callback::callback_body(
                &crate::domain::NoticeFacts::new(request, approvals, notice),
                now,
            ),
        });
    }
    out
}

/// NAVER WORKS: the approval message and a new message after every press and at the end in the
/// rule's room; the requester (when they asked from NAVER WORKS) hears 1:1 that the request is
/// stored or refused, how it ended, and about their share's end.
fn works_plan(request: &ShareRequest, notice: &Notice, out: &mut Vec<Message>) {
    let boxed = || Box::new(request.clone());
    let room = request.works_channel.clone().map(WorksTo::Channel);
    let requester =
        (request.requester.system == "works").then(|| WorksTo::User(request.requester.id.clone()));
    let (to_room, to_requester) = match notice {
        Notice::Submitted => (true, true),
        Notice::Refused => (false, true),
        Notice::ApprovalAdded(_) | Notice::Approved => (true, false),
        Notice::Executing => (false, false),
        Notice::Succeeded
        | Notice::Failed
        | Notice::Denied(_)
        | Notice::Expired
        | Notice::Cancelled => (true, true),
        Notice::ShareEndingSoon { .. } | Notice::ShareEnded(_) => (false, true),
    };
    for to in [room.filter(|_| to_room), requester.filter(|_| to_requester)]
        .into_iter()
        .flatten()
    {
        out.push(Message::WorksNotice {
            to,
            request: boxed(),
            notice: notice.clone(),
        });
    }
}

/// The Slack users whose App Home shows `request`: the requester and every approver it names,
/// by their Slack accounts in the policy's `[people]`.
pub fn home_users(policy: &crate::policy::Policy, request: &ShareRequest) -> Vec<String> {
    let mut users = Vec::new();
    if request.requester.system == "slack" {
        users.push(request.requester.id.clone());
    }
    let people = request.requester_person.iter().chain(&request.approvers);
    for person in people {
        for account in policy.people().get(person).into_iter().flatten() {
            if account.system == "slack" && !users.contains(&account.id) {
                users.push(account.id.clone());
            }
        }
    }
    users
}

/// The entries for a notice, ready to be written with the change that causes it.
pub fn entries(
    channels: &Channels,
    request: &ShareRequest,
    notice: &Notice,
    now: DateTime<Utc>,
) -> Vec<OutboxEntry> {
    let own: Vec<Approval> = match notice {
        Notice::ApprovalAdded(a) | Notice::Denied(a) => vec![a.clone()],
        _ => Vec::new(),
    };
    entries_with(channels, request, &own, notice, now)
}

/// Like [`entries`], with the request's approvals so far.
pub fn entries_with(
    channels: &Channels,
    request: &ShareRequest,
    approvals: &[Approval],
    notice: &Notice,
    now: DateTime<Utc>,
) -> Vec<OutboxEntry> {
    plan_with(channels, request, approvals, notice, now)
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            OutboxEntry::new(m, now, request.version, i)
                .for_request(&request.id)
                .in_trace(request.trace_id.as_ref())
        })
        .collect()
}

#[cfg(test)]
mod tests;
