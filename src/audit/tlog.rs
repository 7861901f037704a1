//! The ledger as a transparency log: the Merkle tree over its records, the checkpoints signed
//! over it, and the full check an auditor runs (`audit verify`).
//!
//! The check is one pass over the records: the chain (each record's hash and link), the tree
//! (each leaf folded into a [`Frontier`]), and at every checkpoint's size the root compared with
//! the signed one. A rewritten record changes every later root; a truncated ledger is shorter
//! than a checkpoint. Records past the newest checkpoint are not vouched for by any tree head
//! yet, so their own signatures are checked instead (see [`super::seal`]).

use super::checkpoint::Checkpoint;
use super::merkle::{self, Frontier, Hash};
use super::note::NoteVerifier;
use super::{AuditRecord, GENESIS_HASH, LedgerBroken, hash_of, leaf_data, seal};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A checkpoint as the store keeps it: the signed note, and what is needed to extend the tree
/// from it without reading the records it covers again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    /// How many records it covers.
    pub size: u64,
    /// The signed checkpoint note.
    pub note: String,
    /// The tree's compact range at `size`.
    pub frontier: Frontier,
    /// The chain hash of record `size` (the genesis hash for the empty tree).
    pub last_hash: String,
    /// When it was signed.
    pub at: DateTime<Utc>,
}

/// What a full check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Records checked.
    pub records: u64,
    /// Checkpoints whose roots matched (by size).
    pub checkpoints: Vec<u64>,
    /// Records after the newest matched checkpoint whose own signatures were checked.
    pub signatures_checked: u64,
    /// Of those, records without any signature (written before the ledger had a key).
    pub unsigned: u64,
    /// The tree's root over all records.
    pub root: Hash,
}

/// A checkpoint opened with the ledger's key.
#[derive(Debug, Clone)]
pub struct OpenedCheckpoint {
    /// Where it came from (a file name, "store"), for messages.
    pub source: String,
    /// The checkpoint.
    pub checkpoint: Checkpoint,
}

/// Opens signed checkpoint notes, naming the first one that does not verify.
pub fn open_checkpoints(
    notes: &[(String, String)],
    verifier: &NoteVerifier,
) -> Result<Vec<OpenedCheckpoint>, String> {
    notes
        .iter()
        .map(|(source, note)| {
            Checkpoint::open(note, verifier)
                .map(|checkpoint| OpenedCheckpoint {
                    source: source.clone(),
                    checkpoint,
                })
                .map_err(|e| format!("checkpoint {source}: {e}"))
        })
        .collect()
}

/// Checks a whole ledger in order: the chain, `head` (the store's separate head, if any), every
/// checkpoint's root, and the signatures of the records no checkpoint covers.
pub fn verify_all<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    head: Option<(u64, &str)>,
    checkpoints: &[OpenedCheckpoint],
    verifier: &NoteVerifier,
) -> Result<Verified, LedgerBroken> {
    let mut sorted: Vec<&OpenedCheckpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| c.checkpoint.size);
    let newest = sorted.last().map(|c| c.checkpoint.size).unwrap_or(0);
    let mut next_cp = sorted.iter().peekable();
    let mut matched = Vec::new();
    let mut frontier = Frontier::new();
    let mut prev_hash = GENESIS_HASH.to_string();
    let mut count = 0u64;
    let (mut signatures_checked, mut unsigned) = (0u64, 0u64);
    let mut seen_signed = false;
    // Checkpoints of the empty tree.
    check_roots(&mut next_cp, &frontier, &mut matched)?;
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
        let data = leaf_data(r);
        if r.hash != hash_of(r.seq, &r.entry, &r.prev_hash) {
            return Err(bad(
                "its content does not match its hash: it was changed".into()
            ));
        }
        seen_signed |= r.entry.sig.is_some();
        if count > newest {
            match &r.entry.sig {
                None if seen_signed => {
                    return Err(bad(
                        "it has no signature, after signed records: it was not written by the service".into(),
                    ));
                }
                None => unsigned += 1,
                Some(_) if !seal::is_sealed_by(&r.entry, verifier) => {
                    return Err(bad(
                        "its signature does not verify with the ledger's key: it was forged or changed".into(),
                    ));
                }
                Some(_) => {}
            }
            signatures_checked += 1;
        }
        frontier.push(merkle::leaf_hash(&data));
        prev_hash = r.hash.clone();
        check_roots(&mut next_cp, &frontier, &mut matched)?;
    }
    if let Some(cp) = next_cp.next() {
        return Err(LedgerBroken {
            position: count + 1,
            seq: cp.checkpoint.size,
            why: format!(
                "checkpoint {} covers {} records but the ledger has only {count}: records were removed",
                cp.source, cp.checkpoint.size
            ),
        });
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
    Ok(Verified {
        records: count,
        checkpoints: matched,
        signatures_checked,
        unsigned,
        root: frontier.root(),
    })
}

/// Compares every checkpoint of the frontier's size with its root.
fn check_roots(
    next: &mut std::iter::Peekable<std::slice::Iter<'_, &OpenedCheckpoint>>,
    frontier: &Frontier,
    matched: &mut Vec<u64>,
) -> Result<(), LedgerBroken> {
    while let Some(cp) = next.peek() {
        if cp.checkpoint.size != frontier.size() {
            break;
        }
        if cp.checkpoint.root != frontier.root() {
            return Err(LedgerBroken {
                position: frontier.size(),
                seq: frontier.size(),
                why: format!(
                    "the first {} records do not match checkpoint {}: a record up to here was rewritten",
                    cp.checkpoint.size, cp.source
                ),
            });
        }
        matched.push(cp.checkpoint.size);
        next.next();
    }
    Ok(())
}

/// The leaf hashes of records, in order.
pub fn leaf_hashes<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> Vec<Hash> {
    records
        .into_iter()
        .map(|r| merkle::leaf_hash(&leaf_data(r)))
        .collect()
}
