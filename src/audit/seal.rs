//! Per-record signatures: every writer of the ledger signs each record's content with the
//! ledger key before the store chains it.
//!
//! The chain and the Merkle tree show that records were not changed *after* a checkpoint; a
//! record's own signature shows who wrote it *before* one, which is what the worker needs when
//! it acts on approvals seconds old. A database insider can copy signed records but not make
//! new ones, and the signed content names the request, its fingerprint and the actor, so a copy
//! onto another request or another set of targets does not verify.
//!
//! The signature covers the position-free content (not `seq` or `prev_hash`): the store
//! decides the position inside its transaction, after the writer has signed.

use super::AuditEntry;
use super::note::{NoteSigner, NoteVerifier};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

/// Domain separation: these bytes are never a valid note or checkpoint.
const CONTEXT: &[u8] = b"ncp-share-approver ledger record v1\n";

#[derive(Serialize)]
struct Signed<'a> {
    at: String,
    event: &'a str,
    actor: &'a str,
    request_id: Option<&'a str>,
    fingerprint: Option<&'a str>,
    rule: Option<&'a str>,
    policy_hash: Option<&'a str>,
    detail: &'a str,
}

/// The bytes a record's signature covers.
pub fn message(entry: &AuditEntry) -> Vec<u8> {
    let signed = Signed {
        at: entry.at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        event: entry.event.as_str(),
        actor: &entry.actor,
        request_id: entry.request_id.as_deref(),
        fingerprint: entry.fingerprint.as_deref(),
        rule: entry.rule.as_deref(),
        policy_hash: entry.policy_hash.as_deref(),
        detail: &entry.detail,
    };
    let mut out = CONTEXT.to_vec();
    serde_json::to_writer(&mut out, &signed).expect("plain strings always serialise");
    out
}

/// Signs `entry` (replacing any signature it had).
pub fn seal(mut entry: AuditEntry, signer: &NoteSigner) -> AuditEntry {
    entry.sig = None;
    entry.sig = Some(STANDARD.encode(signer.sign_raw(&message(&entry))));
    entry
}

/// Whether `entry` carries a valid signature by `verifier`'s key.
pub fn is_sealed_by(entry: &AuditEntry, verifier: &NoteVerifier) -> bool {
    let Some(sig) = entry.sig.as_deref() else {
        return false;
    };
    match STANDARD.decode(sig) {
        Ok(bytes) if bytes.len() == 64 => verifier.verify_raw(&message(entry), &bytes),
        _ => false,
    }
}

/// The index of the first of `entries` whose signature does not verify with `verifier` (a
/// missing signature included), if any. One batch verification for all of them, then one by
/// one only when the batch fails: the checkpointer checks every record since the last
/// checkpoint, and this halves what that costs.
pub fn first_not_sealed_by(entries: &[&AuditEntry], verifier: &NoteVerifier) -> Option<usize> {
    let mut messages = Vec::with_capacity(entries.len());
    let mut sigs = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        match e.sig.as_deref().map(|s| STANDARD.decode(s)) {
            Some(Ok(bytes)) if bytes.len() == 64 => {
                messages.push(message(e));
                sigs.push(bytes);
            }
            _ => return Some(i),
        }
    }
    let msg_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let sig_refs: Vec<&[u8]> = sigs.iter().map(Vec::as_slice).collect();
    if verifier.verify_raw_batch(&msg_refs, &sig_refs) {
        // The batch equation is cofactored; the worker's check is not. They differ only for
        // signatures made with small-order components, which takes the private key to make.
        return None;
    }
    (0..entries.len()).find(|&i| !verifier.verify_raw(msg_refs[i], sig_refs[i]))
}
