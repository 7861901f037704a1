//! Signing checkpoints of the ledger, and publishing them.
//!
//! The checkpointer extends the tree from the last stored checkpoint (its compact range), so
//! its cost is the new records only. Before it vouches for a record it checks what an insider
//! could have slipped in since the last checkpoint: the chain link, the hash, and the record's
//! own signature. A record that fails stops it: nothing is signed over a forged record, and the
//! error says which one (the operator's alarm; `audit verify` tells the rest).

use crate::audit::checkpoint::Checkpoint;
use crate::audit::merkle::{self, Frontier};
use crate::audit::note::NoteSigner;
use crate::audit::publish::Publish;
use crate::audit::tlog::StoredCheckpoint;
use crate::audit::{GENESIS_HASH, LedgerBroken, hash_of, leaf_data, seal};
use crate::clock::Clock;
use crate::workflow::ports::store::{Inserted, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Why a checkpoint is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A share was executed: a checkpoint follows every execution.
    Execution,
    /// The schedule: only when enough records or enough time passed.
    Schedule,
    /// An operator asked (`audit checkpoint`): whenever there is anything new.
    Asked,
}

/// Why no checkpoint could be signed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ledger or the last checkpoint was changed behind the service's back.
    #[error("ledger tampering: {0}")]
    Tampered(String),
}

impl From<LedgerBroken> for CheckpointError {
    fn from(e: LedgerBroken) -> Self {
        CheckpointError::Tampered(e.to_string())
    }
}

/// Signs and publishes checkpoints.
pub struct Checkpointer {
    store: Arc<dyn Store>,
    signer: Arc<NoteSigner>,
    clock: Arc<dyn Clock>,
    publishers: Vec<Arc<dyn Publish>>,
    every_records: u64,
    every: Duration,
}

/// Records read per page.
const PAGE: usize = 5_000;

impl Checkpointer {
    /// A checkpointer with no publishers, signing at least every `every_records` records or
    /// every `every` (when there is something new).
    pub fn new(
        store: Arc<dyn Store>,
        signer: Arc<NoteSigner>,
        clock: Arc<dyn Clock>,
        every_records: u64,
        every: Duration,
    ) -> Self {
        Self {
            store,
            signer,
            clock,
            publishers: Vec::new(),
            every_records: every_records.max(1),
            every,
        }
    }

    /// Also publishes every checkpoint to `publisher`.
    pub fn publishing_to(mut self, publisher: Arc<dyn Publish>) -> Self {
        self.publishers.push(publisher);
        self
    }

    /// Where checkpoints are published.
    pub fn publishers(&self) -> Vec<String> {
        self.publishers.iter().map(|p| p.describe()).collect()
    }

    /// Signs a checkpoint when `trigger` calls for one and there are new records; returns it
    /// (already published), or `None` when none was due (or another process stored that size first).
    pub async fn run(&self, trigger: Trigger) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        // No lease: two processes that extend the tree at once compute the same checkpoint for
        // the same size, and the store keeps the first (create-if-absent by size).
        let made = self.extend(trigger).await?;
        if let Some(cp) = &made {
            self.publish(cp).await;
        }
        Ok(made)
    }

    /// Publishes `cp` everywhere; failures are logged (the next checkpoint is published again,
    /// and consistency proofs bridge the gap).
    pub async fn publish(&self, cp: &StoredCheckpoint) -> Vec<String> {
        let mut failed = Vec::new();
        for p in &self.publishers {
            if let Err(e) = p.publish(cp.size, &cp.note).await {
                tracing::error!(size = cp.size, to = %p.describe(), error = %e, "checkpoint not published");
                failed.push(format!("{}: {e}", p.describe()));
            } else {
                tracing::info!(size = cp.size, to = %p.describe(), "checkpoint published");
            }
        }
        failed
    }

    async fn extend(&self, trigger: Trigger) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        let verifier = self.signer.verifier();
        let latest = self.store.latest_checkpoint().await?;
        let (mut frontier, mut last_hash, since) = match &latest {
            Some(stored) => {
                let cp = Checkpoint::open(&stored.note, &verifier).map_err(|e| {
                    CheckpointError::Tampered(format!(
                        "the stored checkpoint {} does not verify: {e}",
                        stored.size
                    ))
                })?;
                stored.frontier.check().map_err(|e| {
                    CheckpointError::Tampered(format!("checkpoint {}: {e}", stored.size))
                })?;
                if cp.size != stored.size
                    || stored.frontier.size() != cp.size
                    || stored.frontier.root() != cp.root
                {
                    return Err(CheckpointError::Tampered(format!(
                        "the stored checkpoint {} does not agree with its own tree",
                        stored.size
                    )));
                }
                (
                    stored.frontier.clone(),
                    stored.last_hash.clone(),
                    Some(stored.at),
                )
            }
            None => (Frontier::new(), GENESIS_HASH.to_string(), None),
        };
        let Some((head, _)) = self.store.audit_head().await? else {
            return Ok(None);
        };
        let new = head.saturating_sub(frontier.size());
        if new == 0 {
            return Ok(None);
        }
        let now = self.clock.now();
        let due = match trigger {
            Trigger::Execution | Trigger::Asked => true,
            Trigger::Schedule => {
                new >= self.every_records
                    || since.is_none_or(|at| (now - at).to_std().unwrap_or_default() >= self.every)
            }
        };
        if !due {
            return Ok(None);
        }
        // Unsigned records are accepted only before the first signed one and before the first
        // checkpoint (a ledger written before signing existed is adopted once).
        let mut signed_seen = latest.is_some();
        while frontier.size() < head {
            let page = self
                .store
                .audit_records(frontier.size(), PAGE.min((head - frontier.size()) as usize))
                .await?;
            if page.is_empty() {
                return Err(CheckpointError::Tampered(format!(
                    "the ledger head says {head} records but only {} can be read",
                    frontier.size()
                )));
            }
            let mut signed = Vec::with_capacity(page.len());
            for r in &page {
                let position = frontier.size() + 1;
                let bad = |why: &str| LedgerBroken {
                    position,
                    seq: r.seq,
                    why: why.to_string(),
                };
                if r.seq != position {
                    return Err(bad("a record was removed, inserted or moved").into());
                }
                if r.prev_hash != last_hash {
                    return Err(bad("its previous-hash does not match the record before it").into());
                }
                if r.hash != hash_of(r.seq, &r.entry, &r.prev_hash) {
                    return Err(bad("its content does not match its hash").into());
                }
                match &r.entry.sig {
                    Some(_) => {
                        signed_seen = true;
                        signed.push(r);
                    }
                    None if signed_seen => {
                        return Err(bad("it is not signed: the service did not write it").into());
                    }
                    None => {}
                }
                frontier.push(merkle::leaf_hash(&leaf_data(r)));
                last_hash = r.hash.clone();
                if frontier.size() == head {
                    break;
                }
            }
            // Nothing is saved before the whole range checks out, so the signatures of a page
            // are checked together (one batch).
            let entries: Vec<_> = signed.iter().map(|r| &r.entry).collect();
            if let Some(i) = seal::first_not_sealed_by(&entries, &verifier) {
                let r = signed[i];
                return Err(LedgerBroken {
                    position: r.seq,
                    seq: r.seq,
                    why: "its signature does not verify with the ledger key".into(),
                }
                .into());
            }
        }
        let cp = Checkpoint {
            origin: self.signer.name().to_string(),
            size: frontier.size(),
            root: frontier.root(),
            extensions: Vec::new(),
        };
        let note = cp
            .sign(&self.signer)
            .map_err(|e| CheckpointError::Tampered(format!("cannot sign: {e}")))?;
        let stored = StoredCheckpoint {
            size: cp.size,
            note,
            frontier,
            last_hash,
            at: now,
        };
        match self.store.save_checkpoint(&stored).await? {
            Inserted::New => {
                tracing::info!(size = stored.size, "ledger checkpoint signed");
                Ok(Some(stored))
            }
            // Another process signed this size a moment ago (after its lease ran out).
            Inserted::AlreadyThere => Ok(None),
        }
    }
}
