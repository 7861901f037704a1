//! Append-only records chained by SHA-256.
//!
//! Each record's hash covers its own fields and the previous record's hash, so changing,
//! removing or reordering any record breaks the chain from that point on, and [`verify`] names
//! the first bad record. The store keeps the chain (and a separate head, so that cutting
//! records off the end shows too); this module only computes and checks it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The hash that stands before the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, in the order a request lives through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    /// A request arrived.
    Requested,
    /// The policy (or the approval count) decided.
    Decided,
    /// One person approved.
    Approved,
    /// Someone denied the request.
    Denied,
    /// The requester cancelled it.
    Cancelled,
    /// It stayed pending past its TTL.
    Expired,
    /// The worker started (or resumed) the NCP change.
    Executing,
    /// The change was made and read back.
    Succeeded,
    /// The change could not be made.
    Failed,
    /// A grant ended and its target was removed.
    Revoked,
    /// A share on NCP that no grant covers was found.
    Drift,
}

impl AuditEvent {
    /// The event's name as written in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::Requested => "requested",
            AuditEvent::Decided => "decided",
            AuditEvent::Approved => "approved",
            AuditEvent::Denied => "denied",
            AuditEvent::Cancelled => "cancelled",
            AuditEvent::Expired => "expired",
            AuditEvent::Executing => "executing",
            AuditEvent::Succeeded => "succeeded",
            AuditEvent::Failed => "failed",
            AuditEvent::Revoked => "revoked",
            AuditEvent::Drift => "drift",
        }
    }
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record before it is chained: what the caller knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub event: AuditEvent,
    /// Who did it: a verified identity (`slack:U123`), or `system:worker` and the like.
    pub actor: String,
    /// The request it belongs to, if any.
    pub request_id: Option<String>,
    /// The request fingerprint in force.
    pub fingerprint: Option<String>,
    /// The policy rule that applied.
    pub rule: Option<String>,
    /// SHA-256 of the policy file in force.
    pub policy_hash: Option<String>,
    /// Free detail: reasons, NCP code and message, the share list read back. Never a secret.
    pub detail: String,
    /// The writer's Ed25519 signature over the fields above (see [`super::seal`]), base64;
    /// absent only on records written before the ledger had a signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

/// A chained ledger record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the ledger, from 1, without gaps.
    pub seq: u64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Hash of the previous record ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// SHA-256 over this record's fields and `prev_hash`.
    pub hash: String,
}

/// The fields that are hashed, in a fixed order; the time as RFC 3339 with nanoseconds so
/// that every store round-trips it exactly.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    at: String,
    event: &'a str,
    actor: &'a str,
    request_id: Option<&'a str>,
    fingerprint: Option<&'a str>,
    rule: Option<&'a str>,
    policy_hash: Option<&'a str>,
    detail: &'a str,
    // Left out when absent, so records written before signing keep their hashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    sig: Option<&'a str>,
    prev_hash: &'a str,
}

/// Computes the hash of a record at `seq` after `prev_hash`.
pub fn hash_of(seq: u64, entry: &AuditEntry, prev_hash: &str) -> String {
    hex::encode(Sha256::digest(canonical(seq, entry, prev_hash)))
}

/// The record's canonical bytes: what its chain hash covers, and the leaf data of the Merkle
/// tree (`merkle::leaf_hash(leaf_data(r))`), so that an outsider with an inclusion proof and
/// the record's JSON can recompute both.
pub fn leaf_data(record: &AuditRecord) -> Vec<u8> {
    canonical(record.seq, &record.entry, &record.prev_hash)
}

fn canonical(seq: u64, entry: &AuditEntry, prev_hash: &str) -> Vec<u8> {
    let hashed = Hashed {
        seq,
        at: entry.at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        event: entry.event.as_str(),
        actor: &entry.actor,
        request_id: entry.request_id.as_deref(),
        fingerprint: entry.fingerprint.as_deref(),
        rule: entry.rule.as_deref(),
        policy_hash: entry.policy_hash.as_deref(),
        detail: &entry.detail,
        sig: entry.sig.as_deref(),
        prev_hash,
    };
    serde_json::to_vec(&hashed).expect("plain strings always serialise")
}

/// Chains `entry` after the record `prev` (seq and hash), or as the first record.
pub fn chain(prev: Option<(u64, &str)>, entry: AuditEntry) -> AuditRecord {
    let (seq, prev_hash) = match prev {
        Some((seq, hash)) => (seq + 1, hash.to_string()),
        None => (1, GENESIS_HASH.to_string()),
    };
    let hash = hash_of(seq, &entry, &prev_hash);
    AuditRecord {
        seq,
        entry,
        prev_hash,
        hash,
    }
}

/// The first record that breaks the chain, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ledger record {position} (seq {seq}) is bad: {why}")]
pub struct LedgerBroken {
    /// 1-based position in the ledger as read.
    pub position: u64,
    /// The seq the record carries.
    pub seq: u64,
    /// What is wrong with it.
    pub why: String,
}

/// Checks a whole ledger, in order; returns the number of records, or the first bad one.
///
/// `head` is the last (seq, hash) the store recorded apart from the records, so that cutting
/// records off the end is caught too.
pub fn verify<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    head: Option<(u64, &str)>,
) -> Result<u64, LedgerBroken> {
    let mut prev_hash = GENESIS_HASH.to_string();
    let mut count = 0u64;
    for r in records {
        count += 1;
        let bad = |why: String| LedgerBroken {
            position: count,
            seq: r.seq,
            why,
        };
        if r.seq != count {
            return Err(bad(format!(
                "expected seq {count}: a record was removed, inserted or moved"
            )));
        }
        if r.prev_hash != prev_hash {
            return Err(bad(
                "its previous-hash does not match the record before it".into()
            ));
        }
        if r.hash != hash_of(r.seq, &r.entry, &r.prev_hash) {
            return Err(bad(
                "its content does not match its hash: it was changed".into()
            ));
        }
        prev_hash = r.hash.clone();
    }
    if let Some((head_seq, head_hash)) = head
        && (head_seq != count || head_hash != prev_hash)
    {
        return Err(LedgerBroken {
            position: count + 1,
            seq: head_seq,
            why: format!(
                "the ledger head says {head_seq} records but the chain ends at {count}: records were removed from the end"
            ),
        });
    }
    Ok(count)
}

/// Writes records as JSON Lines (one record per line), for `audit export --format jsonl`.
pub fn to_jsonl<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    for r in records {
        serde_json::to_writer(&mut *out, r)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u32) -> AuditEntry {
        AuditEntry {
            at: DateTime::from_timestamp(1_700_000_000 + i as i64, 123_456_789).unwrap(),
            event: AuditEvent::Approved,
            actor: format!("slack:U{i}"),
            request_id: Some("SR-1".into()),
            fingerprint: Some("f".into()),
            rule: Some("r".into()),
            policy_hash: Some("p".into()),
            detail: String::new(),
            sig: None,
        }
    }

    fn ledger(n: u32) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for i in 0..n {
            let prev = out.last().map(|r| (r.seq, r.hash.as_str()));
            out.push(chain(prev, entry(i)));
        }
        out
    }

    fn head(l: &[AuditRecord]) -> Option<(u64, &str)> {
        l.last().map(|r| (r.seq, r.hash.as_str()))
    }

    #[test]
    fn an_untouched_ledger_verifies() {
        let l = ledger(5);
        assert_eq!(verify(&l, head(&l)), Ok(5));
        assert_eq!(verify(&[], None), Ok(0));
    }

    #[test]
    fn a_changed_record_is_named() {
        let mut l = ledger(5);
        let h = l[4].hash.clone();
        l[2].entry.actor = "slack:UEVIL".into();
        let e = verify(&l, Some((5, &h))).unwrap_err();
        assert_eq!((e.position, e.seq), (3, 3));
        assert!(e.why.contains("changed"));
    }

    #[test]
    fn a_removed_record_is_named() {
        let mut l = ledger(5);
        let h = l[4].hash.clone();
        l.remove(1);
        assert_eq!(verify(&l, Some((5, &h))).unwrap_err().position, 2);
    }

    #[test]
    fn reordered_records_are_named() {
        let mut l = ledger(5);
        let h = l[4].hash.clone();
        l.swap(1, 3);
        assert_eq!(verify(&l, Some((5, &h))).unwrap_err().position, 2);
    }

    #[test]
    fn a_removed_record_with_renumbered_seqs_still_fails() {
        let mut l = ledger(4);
        let h = l[3].hash.clone();
        l.remove(1);
        for (i, r) in l.iter_mut().enumerate() {
            r.seq = i as u64 + 1;
        }
        assert_eq!(verify(&l, Some((4, &h))).unwrap_err().position, 2);
    }

    #[test]
    fn records_cut_off_the_end_are_caught_by_the_head() {
        let l = ledger(5);
        let h = l[4].hash.clone();
        let e = verify(&l[..3], Some((5, &h))).unwrap_err();
        assert!(e.why.contains("removed from the end"), "{e}");
    }

    #[test]
    fn export_writes_one_json_record_per_line() {
        let l = ledger(3);
        let mut out = Vec::new();
        to_jsonl(&l, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let back: Vec<AuditRecord> = text
            .lines()
            .map(|x| serde_json::from_str(x).unwrap())
            .collect();
        assert_eq!(back, l);
    }
}
