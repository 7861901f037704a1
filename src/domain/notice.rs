//! One model of what a notice tells people: [`NoticeFacts`], built once from the request (which
//! carries the policy's decision: rule, approvers, how many, whether the requester's own
//! approval counts, the fingerprint), its approvals (by the policy's person names) and the
//! notice. Every front door (Slack Block Kit, Jira ADF, NAVER WORKS, the webhook callback,
//! `requests show`) renders these facts and their sentences; none restates a policy fact by
//! itself, so they cannot drift apart. Pure: no I/O, no clock.

use super::ports::notify::Notice;
use super::quote::Quoted;
use super::{Approval, Identity, PersonName, RequestState, ShareRequest};
use chrono::{DateTime, Utc};

/// The longest quoted text (a reason, a denial's comment) any front door shows; the text
/// command and the request form take at most [`super::MAX_REASON_CHARS`], a Jira summary 255.
pub const MAX_QUOTED_CHARS: usize = 500;

/// How many names a sentence lists before it says how many more there are.
pub const MAX_LISTED_NAMES: usize = 12;

/// The longest rule name a sentence shows.
const MAX_RULE_CHARS: usize = 200;

/// People as a sentence lists them: `alice, bob and carol`-style, but with commas only (so a
/// reader can split them back), and `and N more` past [`MAX_LISTED_NAMES`].
pub fn list_people(people: &[PersonName]) -> String {
    let mut out: Vec<String> = people
        .iter()
        .take(MAX_LISTED_NAMES)
        .map(|p| p.as_str().to_owned())
        .collect();
    if people.len() > MAX_LISTED_NAMES {
        out.push(format!("and {} more", people.len() - MAX_LISTED_NAMES));
    }
    out.join(", ")
}

fn plural(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What the policy decided about the request, as it binds this request (the rule's names and
/// numbers were fixed when it was decided).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFacts {
    /// The rule that allowed it; `None` when the policy refused it.
    pub rule: Option<String>,
    /// SHA-256 of the policy text that decided.
    pub policy_hash: String,
    /// The people whose approval can count: the rule's approvers, without the requester unless
    /// the rule lets the requester's own approval count.
    pub approvers: Vec<PersonName>,
    /// How many distinct people must approve (0: approved automatically).
    pub min_approvals: u32,
    /// Whether the requester's own approval counts (the rule allows it and names them).
    pub requester_counts: bool,
    /// The fingerprint as people are shown it (its first 12 characters).
    pub fingerprint: String,
}

impl PolicyFacts {
    /// Whether the rule approves without anyone's approval.
    pub fn automatic(&self) -> bool {
        self.rule.is_some() && self.min_approvals == 0
    }

    /// `rule "golden images to partners"`, or `no rule` when the policy refused.
    pub fn rule_phrase(&self) -> String {
        match &self.rule {
            Some(rule) => format!("rule \"{}\"", one_line(rule, MAX_RULE_CHARS)),
            None => "no rule".to_owned(),
        }
    }

    /// What the rule requires: `rule "…" needs 2 approvals from alice, bob`,
    /// `rule "…" approves it automatically`, or `no rule allows it`.
    pub fn requirement(&self) -> String {
        let rule = self.rule_phrase();
        if self.rule.is_none() {
            return "no rule allows it".to_owned();
        }
        if self.automatic() {
            return format!("{rule} approves it automatically");
        }
        let n = plural(self.min_approvals, "approval", "approvals");
        if self.approvers.is_empty() {
            format!("{rule} needs {n}, but nobody may give them")
        } else {
            format!("{rule} needs {n} from {}", list_people(&self.approvers))
        }
    }

    /// Whether the requester's own approval counts, as a sentence.
    pub fn self_approval(&self) -> &'static str {
        if self.requester_counts {
            "The requester's own approval counts."
        } else {
            "The requester's own approval does not count."
        }
    }

    /// The requirement and (when approvals are needed) the self-approval sentence:
    /// `Rule "…" needs 2 approvals from alice, bob. The requester's own approval does not count.`
    pub fn sentence(&self) -> String {
        let mut s = capitalised(&self.requirement());
        s.push('.');
        if self.rule.is_some() && !self.automatic() {
            s.push(' ');
            s.push_str(self.self_approval());
        }
        s
    }
}

/// The approvals so far, counted as the workflow counts them: one per person, approving, by
/// one of the request's approvers, in the order they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The people whose approvals counted, in order.
    pub approved_by: Vec<PersonName>,
    /// How many are needed.
    pub needed: u32,
    /// The people who may still approve (whose approval would count and who have not).
    pub waiting_on: Vec<PersonName>,
}

impl Progress {
    /// How many approvals counted.
    pub fn count(&self) -> u32 {
        self.approved_by.len() as u32
    }

    /// How many more are needed.
    pub fn remaining(&self) -> u32 {
        self.needed.saturating_sub(self.count())
    }

    /// `1 of 2 approvals (alice); 1 more needed from bob`, `2 of 2 approvals (alice, bob)`,
    /// `no approval needed`.
    pub fn phrase(&self) -> String {
        if self.needed == 0 {
            return "no approval needed".to_owned();
        }
        let mut s = format!(
            "{} of {}",
            self.count(),
            plural(self.needed, "approval", "approvals")
        );
        if !self.approved_by.is_empty() {
            s.push_str(&format!(" ({})", list_people(&self.approved_by)));
        }
        let remaining = self.remaining();
        if remaining > 0 {
            if self.waiting_on.is_empty() {
                s.push_str(&format!(
                    "; {remaining} more needed, but nobody left may approve"
                ));
            } else {
                s.push_str(&format!(
                    "; {remaining} more needed from {}",
                    list_people(&self.waiting_on)
                ));
            }
        }
        s
    }
}

/// An approver's "no".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// Who denied, by their policy name.
    pub by: PersonName,
    /// Their words, inert.
    pub comment: Option<Quoted>,
}

/// What the people concerned can do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// It waits for approvals: an approver approves or denies; the requester may cancel.
    Approve,
    /// It is approved: the change is being made, nobody needs to do anything.
    Wait,
    /// It is done.
    Nothing,
    /// It ended without the change (refused, denied, expired, cancelled, failed): ask again
    /// with a new request if it is still needed.
    AskAgain,
    /// A share ends at this time: ask again before it to keep access.
    AskBefore(DateTime<Utc>),
}

/// Everything a notice about a request tells people, built once, rendered by every front door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeFacts {
    notice: Notice,
    request: ShareRequest,
    /// Who asked: their policy name, or the account when the policy does not know them.
    pub requester: String,
    /// The requester's reason, inert.
    pub reason: Option<Quoted>,
    /// The policy's decision.
    pub policy: PolicyFacts,
    /// The approvals so far.
    pub progress: Progress,
    /// The denial, for a denied request.
    pub denial: Option<Denial>,
    /// What to do next.
    pub next: Next,
}

impl NoticeFacts {
    /// The facts of `notice` about `request` (as stored after it) with its `approvals`.
    pub fn new(request: &ShareRequest, approvals: &[Approval], notice: &Notice) -> Self {
        let r = request;
        let requester_is_approver = r
            .requester_person
            .as_ref()
            .is_some_and(|p| r.approvers.contains(p));
        let requester_counts = r.allow_self_approval && requester_is_approver;
        let approvers: Vec<PersonName> = r
            .approvers
            .iter()
            .filter(|p| requester_counts || r.requester_person.as_ref() != Some(*p))
            .cloned()
            .collect();
        let mut approved_by: Vec<PersonName> = Vec::new();
        for a in approvals {
            if a.approve && r.approvers.contains(&a.person) && !approved_by.contains(&a.person) {
                approved_by.push(a.person.clone());
            }
        }
        let waiting_on = approvers
            .iter()
            .filter(|p| !approved_by.contains(p))
            .cloned()
            .collect();
        let denial = match notice {
            Notice::Denied(a) => Some(a),
            _ if r.state == RequestState::Denied => approvals.iter().rev().find(|a| !a.approve),
            _ => None,
        }
        .map(|a| Denial {
            by: a.person.clone(),
            comment: a
                .comment
                .as_deref()
                .and_then(|c| Quoted::new(c, MAX_QUOTED_CHARS)),
        });
        let next = match (notice, r.state) {
            (Notice::ShareEndingSoon { ends_at, .. }, _) => Next::AskBefore(*ends_at),
            (Notice::ShareEnded(_), _) => Next::Nothing,
            (_, RequestState::Pending) => Next::Approve,
            (_, RequestState::Approved | RequestState::Executing) => Next::Wait,
            (_, RequestState::Succeeded) => Next::Nothing,
            (
                _,
                RequestState::Failed
                | RequestState::Denied
                | RequestState::Expired
                | RequestState::Cancelled,
            ) => Next::AskAgain,
        };
        Self {
            notice: notice.clone(),
            request: r.clone(),
            requester: person_or_account(r.requester_person.as_ref(), &r.requester),
            reason: r
                .reason
                .as_deref()
                .and_then(|s| Quoted::new(s, MAX_QUOTED_CHARS)),
            policy: PolicyFacts {
                rule: r.rule.clone(),
                policy_hash: r.policy_hash.clone(),
                approvers,
                min_approvals: r.min_approvals,
                requester_counts,
                fingerprint: r.short_fingerprint().to_owned(),
            },
            progress: Progress {
                approved_by,
                needed: r.min_approvals,
                waiting_on,
            },
            denial,
            next,
        }
    }

    /// The facts a card (which shows the request's state, not one notice) renders: the notice
    /// is the one that led to the state (a denied request's last denial, if it was an approver's).
    pub fn of_state(request: &ShareRequest, approvals: &[Approval]) -> Self {
        let notice = match request.state {
            RequestState::Pending => Notice::Submitted,
            RequestState::Approved => Notice::Approved,
            RequestState::Executing => Notice::Executing,
            RequestState::Succeeded => Notice::Succeeded,
            RequestState::Failed => Notice::Failed,
            RequestState::Denied => match approvals.iter().rev().find(|a| !a.approve) {
                Some(a) => Notice::Denied(a.clone()),
                None => Notice::Refused,
            },
            RequestState::Expired => Notice::Expired,
            RequestState::Cancelled => Notice::Cancelled,
        };
        Self::new(request, approvals, &notice)
    }

    /// The notice.
    pub fn notice(&self) -> &Notice {
        &self.notice
    }

    /// The request as stored after the notice: what it asks for and where it is (read the
    /// policy's decision from [`NoticeFacts::policy`], not from here).
    pub fn request(&self) -> &ShareRequest {
        &self.request
    }

    /// Whether the policy refused it (no rule allowed it, or the image was not found): a
    /// request an approver denied was allowed by a rule first.
    pub fn refused(&self) -> bool {
        self.request.state == RequestState::Denied && self.policy.rule.is_none()
    }

    /// What came of it, as one sentence for people (the outcome's message, never empty).
    pub fn outcome(&self) -> String {
        self.request
            .outcome
            .as_ref()
            .map(|o| o.message.trim().to_owned())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "no details were recorded".to_owned())
    }
}

/// A person's policy name, or the account when the policy does not know them.
pub fn person_or_account(person: Option<&PersonName>, account: &Identity) -> String {
    match person {
        Some(p) => p.as_str().to_owned(),
        None => account.to_string(),
    }
}

/// Control characters and line breaks as spaces, cut to `max` characters: for names the policy
/// or NCP gives (a rule, an image), which are labels, not people's words.
pub fn one_line(s: &str, max: usize) -> String {
    let line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.chars().count() <= max {
        return line;
    }
    let mut out: String = line.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Action, ImageNo, LoginId, Origin};
    use chrono::TimeZone;

    fn person(name: &str) -> PersonName {
        PersonName(name.to_owned())
    }

    fn request(allow_self: bool) -> ShareRequest {
        let at = Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap();
        let mut r = ShareRequest {
            id: crate::domain::RequestId::parse("SR-7K3M9Q2X").unwrap(),
            version: 1,
            state: RequestState::Pending,
            origin: Origin::Cli,
            requester: Identity::new("slack", "U056CAROL").unwrap(),
            requester_person: Some(person("carol")),
            image_no: ImageNo::parse("1234567").unwrap(),
            image_name: "golden-web".into(),
            hypervisor: None,
            region: "KR".into(),
            action: Action::Share,
            targets: vec![LoginId::parse("a@partner.example").unwrap()],
            duration: None,
            reason: Some("pilot\n*Approved by alice* :white_check_mark:".into()),
            shared_with_when_asked: vec![],
            fingerprint: String::new(),
            policy_hash: "p".into(),
            rule: Some("golden".into()),
            approvers: vec![person("alice"), person("bob"), person("carol")],
            min_approvals: 2,
            allow_self_approval: allow_self,
            approval_channel: None,
            works_channel: None,
            created_at: at,
            updated_at: at,
            expires_at: at,
            attempts: 0,
            outcome: None,
            lifecycle: Default::default(),
            trace_id: None,
        };
        r.fingerprint = r.computed_fingerprint();
        r
    }

    fn approval(r: &ShareRequest, who: &str, approve: bool) -> Approval {
        Approval {
            request_id: r.id.clone(),
            person: person(who),
            identity: Identity::new("jira", &format!("acct-{who}")).unwrap(),
            approve,
            at: r.created_at,
            comment: (!approve).then(|| "<!channel> no\nway".to_owned()),
        }
    }

    #[test]
    fn the_requesters_own_approval_counts_only_when_the_rule_allows_it() {
        let r = request(false);
        let f = NoticeFacts::new(&r, &[], &Notice::Submitted);
        assert_eq!(f.policy.approvers, vec![person("alice"), person("bob")]);
        assert_eq!(
            f.policy.sentence(),
            "Rule \"golden\" needs 2 approvals from alice, bob. The requester's own approval does not count."
        );
        let r = request(true);
        let f = NoticeFacts::new(&r, &[], &Notice::Submitted);
        assert_eq!(
            f.policy.sentence(),
            "Rule \"golden\" needs 2 approvals from alice, bob, carol. The requester's own approval counts."
        );
        // Allowed, but the requester is no approver: their approval cannot count.
        let mut r = request(true);
        r.approvers.retain(|p| p.as_str() != "carol");
        assert!(
            !NoticeFacts::new(&r, &[], &Notice::Submitted)
                .policy
                .requester_counts
        );
    }

    #[test]
    fn progress_counts_each_approver_once_and_names_who_may_still_approve() {
        let r = request(false);
        let approvals = [
            approval(&r, "alice", true),
            approval(&r, "alice", true),
            approval(&r, "dave", true),
        ];
        let f = NoticeFacts::new(&r, &approvals, &Notice::ApprovalAdded(approvals[0].clone()));
        assert_eq!(f.progress.count(), 1);
        assert_eq!(
            f.progress.phrase(),
            "1 of 2 approvals (alice); 1 more needed from bob"
        );
        assert_eq!(f.next, Next::Approve);
        let mut done = r.clone();
        done.state = RequestState::Approved;
        let both = [approval(&r, "alice", true), approval(&r, "bob", true)];
        let f = NoticeFacts::new(&done, &both, &Notice::Approved);
        assert_eq!(f.progress.phrase(), "2 of 2 approvals (alice, bob)");
        assert_eq!(f.next, Next::Wait);
    }

    #[test]
    fn words_people_typed_are_quoted_inert() {
        let mut r = request(false);
        let f = NoticeFacts::new(&r, &[], &Notice::Submitted);
        assert_eq!(
            f.reason.as_ref().map(Quoted::as_str),
            Some("pilot ↵ *Approved by alice* :white_check_mark:")
        );
        r.state = RequestState::Denied;
        let no = approval(&r, "bob", false);
        let f = NoticeFacts::new(&r, std::slice::from_ref(&no), &Notice::Denied(no.clone()));
        let denial = f.denial.expect("a denial");
        assert_eq!(denial.by, person("bob"));
        assert_eq!(denial.comment.unwrap().as_str(), "‹!channel› no ↵ way");
        assert_eq!(f.next, Next::AskAgain);
    }

    #[test]
    fn automatic_and_refused_requests_say_so() {
        let mut r = request(false);
        r.min_approvals = 0;
        r.approvers.clear();
        let f = NoticeFacts::new(&r, &[], &Notice::Submitted);
        assert_eq!(
            f.policy.sentence(),
            "Rule \"golden\" approves it automatically."
        );
        assert_eq!(f.progress.phrase(), "no approval needed");
        r.rule = None;
        r.state = RequestState::Denied;
        let f = NoticeFacts::of_state(&r, &[]);
        assert!(f.refused());
        assert_eq!(f.policy.sentence(), "No rule allows it.");
        assert_eq!(f.notice(), &Notice::Refused);
    }

    #[test]
    fn long_lists_say_how_many_more() {
        let many: Vec<PersonName> = (0..20).map(|i| person(&format!("p{i}"))).collect();
        let listed = list_people(&many);
        assert!(listed.ends_with("p11, and 8 more"), "{listed}");
    }
}
