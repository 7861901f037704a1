//! Proof bundles: what `audit prove` prints for outsiders, as JSON. Each bundle carries the
//! verifier key, the signed checkpoint(s) and the RFC 6962 proofs, so that a checker needs
//! nothing else (`tests/go/ledgerverify` does it with Go's `sumdb/note` and `sumdb/tlog`).
//!
//! A bundle's `public_key` only says which key signed it: a checker must compare it with the
//! key the log publishes ([`InclusionBundle::verify_with`]), or anyone could sign their own.
//!
//! Constructors refuse to build a bundle that would not verify (a checkpoint whose root is not
//! the tree's, a record whose data is not its leaf), so such a mismatch surfaces at the source.

use super::checkpoint::Checkpoint;
use super::merkle::{self, Hash, ProofError};
use super::note::{NoteError, NoteVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// Why a bundle could not be built or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BundleError(pub String);

impl From<NoteError> for BundleError {
    fn from(e: NoteError) -> Self {
        BundleError(e.0)
    }
}

impl From<ProofError> for BundleError {
    fn from(e: ProofError) -> Self {
        BundleError(e.0)
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, BundleError> {
    Err(BundleError(msg.into()))
}

/// Proofs that records are in the tree a signed checkpoint names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionBundle {
    /// The verifier key (`name+hash+base64`).
    pub public_key: String,
    /// The signed checkpoint note.
    pub checkpoint: String,
    /// One entry per proved record.
    pub records: Vec<RecordInclusion>,
}

/// One record's leaf and inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordInclusion {
    /// The record's sequence number in the ledger (informational; the proof is by `index`).
    pub seq: u64,
    /// The 0-based leaf index.
    pub index: u64,
    /// Base64 of the leaf data (not its hash: the checker hashes it).
    pub leaf_b64: String,
    /// Base64 of each 32-byte proof hash, leaf to root.
    pub proof_b64: Vec<String>,
}

/// A proof that an older signed checkpoint's tree is a prefix of a newer one's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyBundle {
    /// The verifier key (`name+hash+base64`).
    pub public_key: String,
    /// The older signed checkpoint note.
    pub old_checkpoint: String,
    /// The newer signed checkpoint note.
    pub checkpoint: String,
    /// Base64 of each 32-byte hash of the RFC 6962 consistency proof.
    pub consistency_b64: Vec<String>,
}

/// A record to prove: its sequence number, leaf index and leaf data.
#[derive(Debug, Clone, Copy)]
pub struct ProveRecord<'a> {
    /// The ledger sequence number, copied to the bundle.
    pub seq: u64,
    /// The 0-based leaf index.
    pub index: u64,
    /// The leaf data (hashed with [`merkle::leaf_hash`]).
    pub data: &'a [u8],
}

/// The checkpoint's tree within `leaves`, checked against its root.
fn tree_of<'a>(cp: &Checkpoint, leaves: &'a [Hash]) -> Result<&'a [Hash], BundleError> {
    let Some(tree) = usize::try_from(cp.size).ok().and_then(|n| leaves.get(..n)) else {
        return fail(format!(
            "the checkpoint covers {} leaves but only {} were given",
            cp.size,
            leaves.len()
        ));
    };
    if merkle::root(tree) != cp.root {
        return fail(format!(
            "the root of the first {} leaves is not the signed checkpoint's root",
            cp.size
        ));
    }
    Ok(tree)
}

fn encode(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(|h| STANDARD.encode(h)).collect()
}

fn decode(what: &str, b64: &[String]) -> Result<Vec<Hash>, BundleError> {
    b64.iter()
        .enumerate()
        .map(|(i, s)| match STANDARD.decode(s).map(Hash::try_from) {
            Ok(Ok(h)) => Ok(h),
            _ => fail(format!("{what} hash {i} is not 32 bytes of base64")),
        })
        .collect()
}

/// The bundle's key, which must be `trusted` when one is given.
fn key(public_key: &str, trusted: Option<&NoteVerifier>) -> Result<NoteVerifier, BundleError> {
    let key = NoteVerifier::from_vkey(public_key)?;
    match trusted {
        Some(t) if *t != key => fail(format!(
            "the bundle is signed by {public_key}, not by the trusted key {}",
            t.to_vkey()
        )),
        _ => Ok(key),
    }
}

impl InclusionBundle {
    /// Proves `records` against `signed_checkpoint`, a checkpoint of the first `size` of
    /// `leaves` (all leaf hashes of the ledger, possibly more than the checkpoint covers).
    pub fn new(
        verifier: &NoteVerifier,
        signed_checkpoint: &str,
        leaves: &[Hash],
        records: &[ProveRecord<'_>],
    ) -> Result<Self, BundleError> {
        let cp = Checkpoint::open(signed_checkpoint, verifier)?;
        let tree = tree_of(&cp, leaves)?;
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let proof = merkle::inclusion_proof(tree, r.index)?;
            if tree[r.index as usize] != merkle::leaf_hash(r.data) {
                return fail(format!(
                    "record {} is not leaf {} of the tree (its hash differs)",
                    r.seq, r.index
                ));
            }
            out.push(RecordInclusion {
                seq: r.seq,
                index: r.index,
                leaf_b64: STANDARD.encode(r.data),
                proof_b64: encode(&proof),
            });
        }
        Ok(InclusionBundle {
            public_key: verifier.to_vkey(),
            checkpoint: signed_checkpoint.to_owned(),
            records: out,
        })
    }

    /// Checks the bundle with its own key; see [`Self::verify_with`].
    pub fn verify(&self) -> Result<Checkpoint, BundleError> {
        self.check(None)
    }

    /// Checks that the checkpoint is signed by `trusted` (which must be the bundle's key) and
    /// that every record is in its tree; returns the checkpoint.
    pub fn verify_with(&self, trusted: &NoteVerifier) -> Result<Checkpoint, BundleError> {
        self.check(Some(trusted))
    }

    fn check(&self, trusted: Option<&NoteVerifier>) -> Result<Checkpoint, BundleError> {
        let key = key(&self.public_key, trusted)?;
        let cp = Checkpoint::open(&self.checkpoint, &key)?;
        for r in &self.records {
            let Ok(data) = STANDARD.decode(&r.leaf_b64) else {
                return fail(format!("record {}: leaf_b64 is not base64", r.seq));
            };
            let proof = decode("proof", &r.proof_b64)?;
            merkle::verify_inclusion(
                r.index,
                cp.size,
                &merkle::leaf_hash(&data),
                &proof,
                &cp.root,
            )
            .map_err(|e| BundleError(format!("record {}: {e}", r.seq)))?;
        }
        Ok(cp)
    }
}

impl ConsistencyBundle {
    /// Proves that `old_checkpoint`'s tree is a prefix of `checkpoint`'s, both checkpoints of
    /// prefixes of `leaves`.
    pub fn new(
        verifier: &NoteVerifier,
        old_checkpoint: &str,
        checkpoint: &str,
        leaves: &[Hash],
    ) -> Result<Self, BundleError> {
        let old = Checkpoint::open(old_checkpoint, verifier)?;
        let new = Checkpoint::open(checkpoint, verifier)?;
        if old.size > new.size {
            return fail(format!(
                "the old checkpoint (size {}) is larger than the new one (size {})",
                old.size, new.size
            ));
        }
        tree_of(&old, leaves)?;
        let tree = tree_of(&new, leaves)?;
        Ok(ConsistencyBundle {
            public_key: verifier.to_vkey(),
            old_checkpoint: old_checkpoint.to_owned(),
            checkpoint: checkpoint.to_owned(),
            consistency_b64: encode(&merkle::consistency_proof(tree, old.size)?),
        })
    }

    /// Checks the bundle with its own key; see [`Self::verify_with`].
    pub fn verify(&self) -> Result<(Checkpoint, Checkpoint), BundleError> {
        self.check(None)
    }

    /// Checks that both checkpoints are signed by `trusted` (which must be the bundle's key)
    /// and that the old tree is a prefix of the new one; returns (old, new).
    pub fn verify_with(
        &self,
        trusted: &NoteVerifier,
    ) -> Result<(Checkpoint, Checkpoint), BundleError> {
        self.check(Some(trusted))
    }

    fn check(
        &self,
        trusted: Option<&NoteVerifier>,
    ) -> Result<(Checkpoint, Checkpoint), BundleError> {
        let key = key(&self.public_key, trusted)?;
        let old = Checkpoint::open(&self.old_checkpoint, &key)?;
        let new = Checkpoint::open(&self.checkpoint, &key)?;
        let proof = decode("consistency", &self.consistency_b64)?;
        merkle::verify_consistency(old.size, new.size, &old.root, &new.root, &proof)?;
        Ok((old, new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::note::NoteSigner;

    fn setup(n: usize) -> (NoteSigner, Vec<Vec<u8>>, Vec<Hash>) {
        let s = NoteSigner::generate("ledger.test/proof").unwrap();
        let data: Vec<Vec<u8>> = (0..n).map(|i| format!("record {i}").into_bytes()).collect();
        let leaves = data.iter().map(|d| merkle::leaf_hash(d)).collect();
        (s, data, leaves)
    }

    fn signed(s: &NoteSigner, leaves: &[Hash]) -> String {
        Checkpoint {
            origin: s.name().to_owned(),
            size: leaves.len() as u64,
            root: merkle::root(leaves),
            extensions: vec![],
        }
        .sign(s)
        .unwrap()
    }

    #[test]
    fn bundles_round_trip_through_json_and_verify() {
        let (s, data, leaves) = setup(13);
        let cp9 = signed(&s, &leaves[..9]);
        let cp13 = signed(&s, &leaves);
        let recs: Vec<_> = [0usize, 4, 8]
            .iter()
            .map(|&i| ProveRecord {
                seq: i as u64 + 1,
                index: i as u64,
                data: &data[i],
            })
            .collect();
        // The checkpoint may cover fewer leaves than the ledger holds.
        let b = InclusionBundle::new(&s.verifier(), &cp9, &leaves, &recs).unwrap();
        let json = serde_json::to_string(&b).unwrap();
        let back: InclusionBundle = serde_json::from_str(&json).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.verify_with(&s.verifier()).unwrap().size, 9);
        let other = NoteSigner::generate("ledger.test/proof").unwrap();
        assert!(back.verify_with(&other.verifier()).is_err());

        let c = ConsistencyBundle::new(&s.verifier(), &cp9, &cp13, &leaves).unwrap();
        let back: ConsistencyBundle =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        let (old, new) = back.verify().unwrap();
        assert_eq!((old.size, new.size), (9, 13));
        // Backwards is refused at the source.
        assert!(ConsistencyBundle::new(&s.verifier(), &cp13, &cp9, &leaves).is_err());
    }

    #[test]
    fn constructors_refuse_what_would_not_verify() {
        let (s, data, leaves) = setup(5);
        let cp = signed(&s, &leaves);
        let rec = |index: u64, d: &'static [u8]| ProveRecord {
            seq: 1,
            index,
            data: d,
        };
        assert!(InclusionBundle::new(&s.verifier(), &cp, &leaves, &[rec(5, b"x")]).is_err());
        assert!(InclusionBundle::new(&s.verifier(), &cp, &leaves, &[rec(0, b"x")]).is_err());
        assert!(InclusionBundle::new(&s.verifier(), &cp, &leaves[..4], &[]).is_err());
        let mut forked = leaves.clone();
        forked[2][0] ^= 1;
        assert!(InclusionBundle::new(&s.verifier(), &cp, &forked, &[]).is_err());
        assert!(ConsistencyBundle::new(&s.verifier(), &cp, &cp, &forked).is_err());
        let ok = ProveRecord {
            seq: 3,
            index: 2,
            data: &data[2],
        };
        assert!(InclusionBundle::new(&s.verifier(), &cp, &leaves, &[ok]).is_ok());
    }

    #[test]
    fn tampered_bundles_fail() {
        let (s, data, leaves) = setup(6);
        let cp = signed(&s, &leaves);
        let rec = ProveRecord {
            seq: 4,
            index: 3,
            data: &data[3],
        };
        let b = InclusionBundle::new(&s.verifier(), &cp, &leaves, &[rec]).unwrap();
        let mut t = b.clone();
        t.records[0].leaf_b64 = STANDARD.encode(b"record 9");
        assert!(t.verify().is_err());
        let mut t = b.clone();
        t.records[0].index = 2;
        assert!(t.verify().is_err());
        let mut t = b.clone();
        t.records[0].proof_b64[1] = STANDARD.encode([7u8; 32]);
        assert!(t.verify().is_err());
        let mut t = b.clone();
        t.records[0].proof_b64[1] = STANDARD.encode([7u8; 31]);
        assert!(t.verify().is_err());
        let mut t = b.clone();
        t.checkpoint = t.checkpoint.replacen("\n6\n", "\n7\n", 1);
        assert!(t.verify().is_err());
        let mut t = b.clone();
        t.public_key = NoteSigner::generate(s.name()).unwrap().verifier().to_vkey();
        assert!(t.verify().is_err());
        assert!(b.verify().is_ok());
    }
}
