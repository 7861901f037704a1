//! The App Home: what waits for a person's approval, their requests, and the shares they asked
//! for or approved, read from the store when the home is published. Published through the
//! outbox (`Message::SlackHome`), so a home owed after a state change survives a crash and a
//! burst of changes sends each person's home once, fresh.

use crate::domain::{Approval, Grant, Identity, RequestId, RequestState, ShareRequest};
use crate::notify::slack::SlackApi;
use crate::notify::slack::views::{self, HomeRequest, HomeShare, HomeView};
use crate::store::StoreError;
use crate::workflow::Workflow;
use crate::workflow::outbox::{Courier, Delivery, Message, OutboxEntry};
use std::collections::{BTreeSet, HashMap};

/// How many of the newest requests a home looks through. The home is a dashboard, not an
/// archive: older requests are reached with `/share-image status <id>`.
pub const HOME_SCAN: usize = 300;

/// The App Home of Slack user `user`, as it stands in the store now.
pub async fn render(
    wf: &Workflow,
    user: &str,
    command: &str,
) -> Result<serde_json::Value, StoreError> {
    let now = wf.clock.now();
    let actor = Identity {
        system: "slack".into(),
        id: user.to_owned(),
    };
    let policy = wf.policy.current();
    let person = policy.person_for(&actor).cloned();
    let recent = wf.store.requests(None, HOME_SCAN).await?;
    let mut waiting = Vec::new();
    let mut mine = Vec::new();
    // Executed requests whose shares may still be active: true when the viewer asked.
    let mut shares_of: HashMap<RequestId, (bool, ShareRequest)> = HashMap::new();
    for r in recent {
        let yours = r.requester == actor
            || person
                .as_ref()
                .is_some_and(|p| r.requester_person.as_ref() == Some(p));
        let approver = person.as_ref().is_some_and(|p| r.approvers.contains(p));
        let needs_approvals = r.state == RequestState::Pending
            || (approver && r.state == RequestState::Succeeded && !yours);
        let approvals = if needs_approvals {
            wf.store.approvals(&r.id).await?
        } else {
            Vec::new()
        };
        let acted = person
            .as_ref()
            .is_some_and(|p| approvals.iter().any(|a| &a.person == p));
        let approved_it = person
            .as_ref()
            .is_some_and(|p| approvals.iter().any(|a| &a.person == p && a.approve));
        if r.state == RequestState::Pending
            && approver
            && !acted
            && (!yours || r.allow_self_approval)
        {
            waiting.push(home_request(&r, &approvals));
        }
        if r.state == RequestState::Succeeded && (yours || approved_it) {
            shares_of.insert(r.id.clone(), (yours, r.clone()));
        }
        if yours {
            mine.push(home_request(&r, &approvals));
        }
    }
    let images: BTreeSet<_> = shares_of
        .values()
        .map(|(_, r)| r.image_no.clone())
        .collect();
    let mut active = Vec::new();
    for image in images {
        for grant in wf.store.active_grants(&image).await? {
            if let Some((yours, r)) = shares_of.get(&grant.request_id) {
                active.push(home_share(grant, r, *yours));
            }
        }
    }
    // Soonest end first; shares without an end last.
    active.sort_by_key(|s: &HomeShare| (s.grant.ends_at.is_none(), s.grant.ends_at));
    Ok(views::home(&HomeView {
        waiting: &waiting,
        mine: &mine,
        active: &active,
        command,
        now,
    }))
}

fn home_request(r: &ShareRequest, approvals: &[Approval]) -> HomeRequest {
    HomeRequest {
        request: r.clone(),
        approvals: approvals.to_vec(),
        image_name: Some(r.image_name.clone()).filter(|n| !n.is_empty()),
    }
}

fn home_share(grant: Grant, r: &ShareRequest, yours: bool) -> HomeShare {
    HomeShare {
        grant,
        image_name: Some(r.image_name.clone()).filter(|n| !n.is_empty()),
        requester: r.requester.clone(),
        requester_name: r.requester_person.clone(),
        yours,
    }
}

/// Publishes App Homes owed by the outbox.
pub struct HomeCourier {
    workflow: Workflow,
    api: SlackApi,
    command: String,
}

impl HomeCourier {
    /// A courier rendering from `workflow`'s store and publishing with `api`; `command` is the
    /// slash command's name for the hints on the home.
    pub fn new(workflow: Workflow, api: SlackApi, command: String) -> Self {
        Self {
            workflow,
            api,
            command,
        }
    }
}

#[async_trait::async_trait]
impl Courier for HomeCourier {
    async fn deliver(&self, entry: &OutboxEntry) -> Delivery {
        let Message::SlackHome { user } = &entry.message else {
            return Delivery::Failed(format!("{} is not an App Home", entry.message.name()));
        };
        let view = match render(&self.workflow, user, &self.command).await {
            Ok(v) => v,
            Err(e) => {
                return Delivery::Retry {
                    after: None,
                    error: e.to_string(),
                };
            }
        };
        crate::notify::slack::delivery(self.api.views_publish(user, &view).await)
    }
}
