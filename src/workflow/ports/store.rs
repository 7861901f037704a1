//! The `Store` port: requests, approvals, grants, leases, delivery de-duplication, the outbox and
//! the audit ledger, with the types it speaks. Idempotency lives here: create-if-absent and
//! compare-and-swap on a version.
//!
//! It lives in `workflow`, not `domain`, because it speaks the ledger's records (`audit`) and
//! the outbox's entries (`workflow::outbox`). The backends are adapters in `store`; every
//! backend passes the same suite (`tests/api/store.rs`).

use crate::audit::tlog::StoredCheckpoint;
use crate::audit::{AuditEntry, AuditRecord};
use crate::domain::{
    Approval, Grant, ImageCatalog, ImageNo, RequestId, RequestState, ShareRequest,
};
use crate::workflow::outbox::{OutboxEntry, OutboxStatus};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A storage failure. Callers treat it as "try again later"; it never means "no".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed; `source` is the backend's own error, kept for whoever needs the cause.
    /// The message names the whole cause chain, since most callers only log the error itself.
    #[error("store: {context}: {}", Chain(source.as_ref()))]
    Backend {
        /// What the store was doing (`sqlite`, `dynamodb put`, `cannot open <path>`).
        context: String,
        /// Why it failed.
        source: BoxedError,
    },
    /// The store gave up without a backend error to name (a lost race retried too often, a
    /// conflict nobody expected, a kind it does not know).
    #[error("store: {0}")]
    Failed(String),
    /// A stored record could not be read back.
    #[error("store: corrupt record {key}: {detail}")]
    Corrupt {
        /// Which record.
        key: String,
        /// What was wrong.
        detail: String,
    },
}

/// A backend's error, whatever its type.
pub type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl StoreError {
    /// A backend failure while doing `context`.
    pub fn backend(context: impl Into<String>, source: impl Into<BoxedError>) -> Self {
        StoreError::Backend {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// An error and its sources, `a: b: c`: SDK errors say little at the top and the detail in
/// their sources. A source whose text the message already holds (SQLite repeats its code's
/// description) is left out.
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.to_string();
        let mut next = self.0.source();
        while let Some(e) = next {
            let text = e.to_string();
            if !shown.contains(&text) {
                shown = format!("{shown}: {text}");
            }
            next = e.source();
        }
        f.write_str(&shown)
    }
}

/// The result of a create-if-absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// It was new and is now stored.
    New,
    /// Something with that key was already there; nothing changed.
    AlreadyThere,
}

/// Everything one step of the workflow writes, applied atomically by [`Store::commit`]: all of
/// it, or (when a condition fails) none of it.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// A delivery id that must not have been seen before (a retried webhook).
    pub delivery: Option<DeliveryKey>,
    /// A new request (version 1) whose id must not exist.
    pub insert: Option<ShareRequest>,
    /// A request replaced if its stored version is still this one's `version` (stored as +1).
    pub update: Option<ShareRequest>,
    /// An approval or denial that must be the person's first on the request.
    pub approval: Option<Approval>,
    /// Ledger records appended in order, chained onto the head.
    pub audit: Vec<AuditEntry>,
    /// Messages owed because of this change.
    pub outbox: Vec<OutboxEntry>,
}

/// A delivery id, remembered from `now` until `until` (its de-duplication window).
#[derive(Debug, Clone)]
pub struct DeliveryKey {
    /// The id (`slack:<signature>`, `webhook:<webhook-id>`, ...).
    pub key: String,
    /// The time now (a key remembered until before now is expired and may be reused).
    pub now: DateTime<Utc>,
    /// Until when it is remembered.
    pub until: DateTime<Utc>,
}

impl DeliveryKey {
    /// `key`, remembered for `ttl` from `now`.
    pub fn new(key: impl Into<String>, now: DateTime<Utc>, ttl: Duration) -> Self {
        Self {
            key: key.into(),
            now,
            until: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::zero()),
        }
    }
}

/// Which condition of a [`Change`] did not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The delivery id was seen before.
    Delivery,
    /// The request exists (insert) or moved on (update).
    Request,
    /// The person already acted on the request.
    Approval,
}

/// What [`Store::commit`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Committed {
    /// Everything was written; the ledger records as chained.
    Done(Vec<AuditRecord>),
    /// Nothing was written.
    Conflict(Conflict),
}

/// Which outbox entries to list.
#[derive(Debug, Clone, Default)]
pub struct OutboxQuery {
    /// Only this request's.
    pub request: Option<RequestId>,
    /// Only in this status.
    pub status: Option<OutboxStatus>,
    /// At most this many (oldest first).
    pub limit: usize,
}

/// Durable state behind the workflow.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// Stores a new request (version 1) unless its id exists.
    async fn insert_request(&self, request: &ShareRequest) -> Result<Inserted, StoreError>;

    /// Reads a request.
    async fn request(&self, id: &RequestId) -> Result<Option<ShareRequest>, StoreError>;

    /// Replaces a request if its stored version is still `request.version`; the stored copy
    /// gets `version + 1`. Returns the stored request, or `None` when someone else changed it first.
    async fn update_request(
        &self,
        request: &ShareRequest,
    ) -> Result<Option<ShareRequest>, StoreError>;

    /// Like [`Store::update_request`], and appends `entry` to the ledger in the same atomic
    /// step: a state change and its ledger record are never found one without the other.
    async fn update_request_audited(
        &self,
        request: &ShareRequest,
        entry: AuditEntry,
    ) -> Result<Option<(ShareRequest, AuditRecord)>, StoreError>;

    /// Requests in a state (all states when `None`), newest first, at most `limit`.
    async fn requests(
        &self,
        state: Option<RequestState>,
        limit: usize,
    ) -> Result<Vec<ShareRequest>, StoreError>;

    /// Pending requests whose expiry is at or before `now`, earliest deadline first, at most `limit`.
    async fn pending_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ShareRequest>, StoreError>;

    /// Records a person's approval or denial unless that person already acted on the request.
    async fn insert_approval(&self, approval: &Approval) -> Result<Inserted, StoreError>;

    /// Every approval or denial of a request, oldest first.
    async fn approvals(&self, id: &RequestId) -> Result<Vec<Approval>, StoreError>;

    /// Records a grant (idempotent on image, target and request).
    async fn insert_grant(&self, grant: &Grant) -> Result<Inserted, StoreError>;

    /// Grants of an image that have not ended.
    async fn active_grants(&self, image: &ImageNo) -> Result<Vec<Grant>, StoreError>;

    /// Grants of every image that have not ended (`ended_at` is none) and whose `ends_at` is at
    /// or before `until`, earliest end first. Grants without an end are never returned. The
    /// sweep calls it with `now + remind_before`.
    async fn grants_ending_by(&self, until: DateTime<Utc>) -> Result<Vec<Grant>, StoreError>;

    /// Ends the grant with `grant`'s key (image, target, request) at `at`, if it has not ended:
    /// a conditional write, so that of two racing callers exactly one gets `true`. `false` when
    /// it had already ended or does not exist.
    async fn end_grant(&self, grant: &Grant, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Takes the lease `key` for `holder` until `now + ttl`, if it is free, expired, or already
    /// held by `holder` (which renews it).
    async fn acquire_lease(
        &self,
        key: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the lease back if `holder` still holds it.
    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError>;

    /// Remembers a delivery id until `now + ttl`; `false` if it was already seen (a retry).
    async fn first_delivery(
        &self,
        key: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Remembers where a message about a request was posted (`kind` like `slack_card`), replacing
    /// any earlier reference of that kind; adapters use it to update the message later.
    async fn save_message_ref(
        &self,
        id: &RequestId,
        kind: &str,
        reference: &str,
    ) -> Result<(), StoreError>;

    /// The reference saved for a request and kind, if any.
    async fn message_ref(&self, id: &RequestId, kind: &str) -> Result<Option<String>, StoreError>;

    /// Appends to the hash-chained ledger, serialised with every other append.
    async fn append_audit(&self, entry: AuditEntry) -> Result<AuditRecord, StoreError>;

    /// Ledger records with `seq > after`, in order, at most `limit`.
    async fn audit_records(&self, after: u64, limit: usize)
    -> Result<Vec<AuditRecord>, StoreError>;

    /// The last (seq, hash) appended, kept apart from the records so that truncation shows.
    async fn audit_head(&self) -> Result<Option<(u64, String)>, StoreError>;

    /// Ledger records of one request, in order.
    async fn audit_for_request(&self, id: &RequestId) -> Result<Vec<AuditRecord>, StoreError>;

    /// Applies `change` atomically: the delivery id, the request, the approval, the ledger
    /// records and the outbox entries together, or nothing when a condition fails.
    async fn commit(&self, change: Change) -> Result<Committed, StoreError>;

    /// Pending outbox entries whose `next_at` is at or before `now`, in order, at most `limit`.
    async fn outbox_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Replaces an outbox entry (its status, attempts, next attempt, error).
    async fn save_outbox(&self, entry: &OutboxEntry) -> Result<(), StoreError>;

    /// One outbox entry.
    async fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>, StoreError>;

    /// Outbox entries by request and status, oldest first. On DynamoDB a status query lists
    /// pending and failed entries only (delivered ones leave the index).
    async fn outbox(&self, query: OutboxQuery) -> Result<Vec<OutboxEntry>, StoreError>;

    /// How many entries are still owed (pending).
    async fn outbox_pending_count(&self) -> Result<usize, StoreError>;

    /// When the oldest entry still owed (pending) was written; `None` when nothing is owed. The
    /// age of the oldest undelivered message is what an alarm watches.
    async fn outbox_oldest_pending(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Stores a signed checkpoint unless one of its size is there.
    async fn save_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<Inserted, StoreError>;

    /// The checkpoint of the largest size, if any.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// Every stored checkpoint, by size.
    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError>;

    /// Replaces the image catalog (there is one), unless the stored one was refreshed later: two
    /// refreshes that race leave the newer list. A backend with a size limit (DynamoDB's 400 KB
    /// item) keeps the images that fit, in order, and logs a warning.
    async fn save_image_catalog(&self, catalog: &ImageCatalog) -> Result<(), StoreError>;

    /// The image catalog as last saved, if one was.
    async fn image_catalog(&self) -> Result<Option<ImageCatalog>, StoreError>;
    /// Whether the store can serve now (`GET /readyz`): it answers, and (where the backend has
    /// a schema of its own) holds every migration this build needs. The default reads the
    /// ledger's head, which every backend has.
    async fn ready(&self) -> Result<(), StoreError> {
        self.audit_head().await.map(|_| ())
    }
}

/// Writes outbox entries on their own (messages not caused by a state change, like a front
/// door's answer on a ticket).
pub async fn enqueue(store: &dyn Store, entries: Vec<OutboxEntry>) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    match store
        .commit(Change {
            outbox: entries,
            ..Default::default()
        })
        .await?
    {
        Committed::Done(_) => Ok(()),
        Committed::Conflict(c) => Err(StoreError::Failed(format!(
            "outbox entries not written: unexpected conflict {c:?}"
        ))),
    }
}

/// Reads the whole ledger in pages, in order.
pub async fn all_records(store: &dyn Store) -> Result<Vec<AuditRecord>, StoreError> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map(|r: &AuditRecord| r.seq).unwrap_or(0);
        let page = store.audit_records(after, 10_000).await?;
        if page.is_empty() {
            break;
        }
        // A reordered or renumbered ledger might not advance; stop rather than loop forever.
        let advanced = page.last().map(|r| r.seq) > Some(after);
        all.extend(page);
        if !advanced {
            break;
        }
    }
    Ok(all)
}

/// Reads the whole ledger and verifies its chain against the stored head.
pub async fn verify_ledger(
    store: &dyn Store,
) -> Result<Result<u64, crate::audit::LedgerBroken>, StoreError> {
    let all = all_records(store).await?;
    let head = store.audit_head().await?;
    Ok(crate::audit::verify(
        &all,
        head.as_ref().map(|(s, h)| (*s, h.as_str())),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[derive(Debug, thiserror::Error)]
    #[error("service error")]
    struct Terse(#[source] std::io::Error);

    #[test]
    fn a_backend_error_names_its_cause_chain_and_keeps_it_typed() {
        let e = StoreError::backend(
            "dynamodb put",
            Terse(std::io::Error::other(
                "ConditionalCheckFailed: the head moved",
            )),
        );
        assert_eq!(
            e.to_string(),
            "store: dynamodb put: service error: ConditionalCheckFailed: the head moved"
        );
        let source = e.source().expect("the cause is kept");
        assert!(source.downcast_ref::<Terse>().is_some());
    }

    #[test]
    fn a_cause_that_repeats_the_message_is_named_once() {
        let e = StoreError::backend("sqlite", Terse(std::io::Error::other("service error")));
        assert_eq!(e.to_string(), "store: sqlite: service error");
    }
}
