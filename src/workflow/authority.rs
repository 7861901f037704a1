//! What the worker checks before it changes a share: that signed ledger records, not store
//! rows, approve exactly this request.
//!
//! The store's request row says "approved", but a database insider can write that row, and the
//! ledger copies the worker reads (by a `request_id` column, or DynamoDB's per-request copies)
//! are store rows too. So every record counts only if:
//! - its signature verifies with the ledger key (an insider cannot make new records),
//! - its signed content names this request id and this fingerprint (a genuine record copied
//!   from another request, or from before the targets were edited, does not count),
//! - its actor may approve under the policy in force, evaluated again here for the request's
//!   facts with the image name NCP reports (not the stored rule, approver list or count).

use crate::audit::note::NoteVerifier;
use crate::audit::{AuditEvent, AuditRecord, seal};
use crate::domain::ShareRequest;
use crate::policy::{Action, Decision, Identity, Policy, RequestFacts, evaluate, may_approve};
use std::collections::BTreeSet;

/// What the signed records showed, for the `executing` record's detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// A sentence: which rule and whose signed approvals.
    pub summary: String,
}

/// Checks that signed records approve `request`; the reason it is refused otherwise.
pub fn check(
    records: &[AuditRecord],
    request: &ShareRequest,
    image_name: Option<&str>,
    policy: &Policy,
    verifier: &NoteVerifier,
) -> Result<Authority, String> {
    let id = request.id.as_str();
    let mut unverified = 0usize;
    let signed: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| {
            let ok = r.entry.request_id.as_deref() == Some(id)
                && r.entry.fingerprint.as_deref() == Some(request.fingerprint.as_str())
                && seal::is_sealed_by(&r.entry, verifier);
            unverified += usize::from(!ok);
            ok
        })
        .collect();
    let forged = if unverified > 0 {
        format!(
            " ({unverified} record(s) stored under this request were ignored: not signed by the ledger key, or for another request or fingerprint)"
        )
    } else {
        String::new()
    };
    let has = |event: AuditEvent| signed.iter().any(|r| r.entry.event == event);

    let requester = request.requester.to_string();
    if !signed
        .iter()
        .any(|r| r.entry.event == AuditEvent::Requested && r.entry.actor == requester)
    {
        return Err(format!(
            "no signed ledger record shows {requester} asking for this request with fingerprint {}{forged}",
            request.short_fingerprint()
        ));
    }
    for (event, what) in [
        (AuditEvent::Denied, "denied"),
        (AuditEvent::Cancelled, "cancelled"),
        (AuditEvent::Expired, "expired"),
    ] {
        if has(event) {
            return Err(format!("the signed ledger records that it was {what}"));
        }
    }
    let approvals: Vec<&AuditRecord> = signed
        .iter()
        .copied()
        .filter(|r| r.entry.event == AuditEvent::Approved)
        .collect();

    // A revocation only takes access away; the lifecycle approves it in its own name.
    if request.lifecycle.revocation.is_some() && request.action == Action::Unshare {
        return match approvals.first() {
            Some(r) => Ok(Authority {
                summary: format!("revocation approved by {}", r.entry.actor),
            }),
            None => Err(format!(
                "no signed approval of this revocation is in the ledger{forged}"
            )),
        };
    }

    let facts = RequestFacts {
        requester: &request.requester,
        image_no: &request.image_no,
        image_name,
        action: request.action,
        targets: &request.targets,
        duration: request.duration,
        reason: request.reason.as_deref(),
    };
    let allowed = match evaluate(policy, &facts, request.created_at) {
        Decision::Allowed(a) => a,
        Decision::Denied(d) => {
            return Err(format!(
                "the policy in force does not allow this request: {}",
                d.reasons.join("; ")
            ));
        }
    };
    if let Some(recorded) = signed
        .iter()
        .find(|r| r.entry.event == AuditEvent::Requested)
        .and_then(|r| r.entry.rule.as_deref())
        && recorded != allowed.rule
    {
        return Err(format!(
            "it was approved under rule {recorded:?}, but the policy in force decides it by rule {:?}; ask again",
            allowed.rule
        ));
    }
    if allowed.auto_approve {
        return if approvals.iter().any(|r| r.entry.actor == "system:policy") {
            Ok(Authority {
                summary: format!("auto-approved by rule {:?}", allowed.rule),
            })
        } else {
            Err(format!(
                "rule {:?} approves automatically, but the signed ledger has no automatic approval{forged}",
                allowed.rule
            ))
        };
    }
    let mut people = BTreeSet::new();
    let mut refused = Vec::new();
    for r in &approvals {
        let person =
            Identity::parse(&r.entry.actor).and_then(|who| may_approve(policy, &allowed, &who));
        match person {
            Ok(p) => {
                people.insert(p.to_string());
            }
            Err(why) => refused.push(format!("{}: {why}", r.entry.actor)),
        }
    }
    if (people.len() as u32) < allowed.min_approvals.max(1) {
        let not_counted = if refused.is_empty() {
            String::new()
        } else {
            format!("; not counted: {}", refused.join("; "))
        };
        return Err(format!(
            "rule {:?} needs {} approval(s) and the signed ledger has {} from people it allows{not_counted}{forged}",
            allowed.rule,
            allowed.min_approvals.max(1),
            people.len(),
        ));
    }
    Ok(Authority {
        summary: format!(
            "approved under rule {:?} by {} (signed records)",
            allowed.rule,
            people.into_iter().collect::<Vec<_>>().join(", ")
        ),
    })
}
