//! The embedded store: one SQLite file in WAL mode.
//!
//! Each call runs on the blocking pool with the one connection behind a mutex: SQLite
//! serialises writers anyway, and one connection keeps compare-and-swap and the ledger's
//! append trivially atomic. A second process on the same file is safe too (SQLite locks),
//! which is what the crash tests rely on.

use super::{Change, Committed, Conflict, Inserted, OutboxQuery, Store, StoreError};
use crate::audit::{self, AuditEntry, AuditRecord};
use crate::domain::{Approval, Grant, ImageNo, RequestId, RequestState, ShareRequest};
use crate::outbox::{OutboxEntry, OutboxStatus};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    image_no TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_ms INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_state ON requests(state, created_at);
CREATE TABLE IF NOT EXISTS approvals (
    request_id TEXT NOT NULL,
    person TEXT NOT NULL,
    at TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (request_id, person)
);
CREATE TABLE IF NOT EXISTS grants (
    image_no TEXT NOT NULL,
    target TEXT NOT NULL,
    request_id TEXT NOT NULL,
    ended INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    PRIMARY KEY (image_no, target, request_id)
);
CREATE TABLE IF NOT EXISTS leases (
    key TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    key TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
-- Every delivery deletes the expired keys; without this index that is a full scan per request.
CREATE INDEX IF NOT EXISTS deliveries_expiry ON deliveries(expires_at);
CREATE TABLE IF NOT EXISTS message_refs (
    request_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    PRIMARY KEY (request_id, kind)
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    request_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_request ON audit(request_id, seq);
-- Messages owed (the outbox): the dispatcher reads the pending ones by their next attempt.
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    ord TEXT NOT NULL,
    lane TEXT NOT NULL,
    request_id TEXT,
    status TEXT NOT NULL,
    next_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(next_ms, ord) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS outbox_request ON outbox(request_id, ord);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox(status, ord);
CREATE TABLE IF NOT EXISTS audit_head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"#;

/// The embedded SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(backend)
}

fn from_json<T: serde::de::DeserializeOwned>(key: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        detail: e.to_string(),
    })
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, creating its folder too.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| backend(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| backend(format!("cannot open {}: {e}", path.display())))?;
        Self::init(conn)
    }

    /// An in-memory database, for tests and benchmarks.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(backend)?;
        // WAL lets readers go on while one writer commits; NORMAL is durable across a process
        // crash (only an OS crash can lose the last commits), which is the failure we design for.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(backend)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        migrate(&conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| backend(format!("store task failed: {e}")))?
    }
}

fn inserted(changed: usize) -> Inserted {
    if changed == 1 {
        Inserted::New
    } else {
        Inserted::AlreadyThere
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn insert_request(&self, request: &ShareRequest) -> Result<Inserted, StoreError> {
        let mut r = request.clone();
        r.version = 1;
        let body = to_json(&r)?;
        self.with(move |c| {
            let n = c
                .execute(
                    "INSERT OR IGNORE INTO requests (id, version, state, image_no, created_at, expires_ms, body) VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6)",
                    params![r.id.as_str(), r.state.as_str(), r.image_no.as_str(), r.created_at.to_rfc3339(), r.expires_at.timestamp_millis(), body],
                )
                .map_err(backend)?;
            Ok(inserted(n))
        })
        .await
    }

    async fn request(&self, id: &RequestId) -> Result<Option<ShareRequest>, StoreError> {
        let id = id.clone();
        self.with(move |c| {
            let body: Option<String> = c
                .query_row(
                    "SELECT body FROM requests WHERE id = ?1",
                    [id.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            body.map(|b| from_json(id.as_str(), &b)).transpose()
        })
        .await
    }

    async fn update_request(
        &self,
        request: &ShareRequest,
    ) -> Result<Option<ShareRequest>, StoreError> {
        let expected = request.version;
        let mut next = request.clone();
        next.version = expected + 1;
        let body = to_json(&next)?;
        self.with(move |c| {
            let n = c
                .execute(
                    "UPDATE requests SET version = ?1, state = ?2, body = ?3, expires_ms = ?6 WHERE id = ?4 AND version = ?5",
                    params![next.version as i64, next.state.as_str(), body, next.id.as_str(), expected as i64, next.expires_at.timestamp_millis()],
                )
                .map_err(backend)?;
            Ok((n == 1).then_some(next))
        })
        .await
    }

    async fn update_request_audited(
        &self,
        request: &ShareRequest,
        entry: AuditEntry,
    ) -> Result<Option<(ShareRequest, AuditRecord)>, StoreError> {
        let expected = request.version;
        let mut next = request.clone();
        next.version = expected + 1;
        let body = to_json(&next)?;
        self.with(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(backend)?;
            let n = tx
                .execute(
                    "UPDATE requests SET version = ?1, state = ?2, body = ?3, expires_ms = ?6 WHERE id = ?4 AND version = ?5",
                    params![next.version as i64, next.state.as_str(), body, next.id.as_str(), expected as i64, next.expires_at.timestamp_millis()],
                )
                .map_err(backend)?;
            if n != 1 {
                // Dropping the transaction rolls it back; nothing was written.
                return Ok(None);
            }
            let record = append_in(&tx, entry)?;
            tx.commit().map_err(backend)?;
            Ok(Some((next, record)))
        })
        .await
    }

    async fn requests(
        &self,
        state: Option<RequestState>,
        limit: usize,
    ) -> Result<Vec<ShareRequest>, StoreError> {
        self.with(move |c| {
            let mut stmt = c
                .prepare(
                    "SELECT id, body FROM requests WHERE (?1 IS NULL OR state = ?1) ORDER BY created_at DESC, id LIMIT ?2",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![state.map(|s| s.as_str()), limit as i64], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(backend)?;
            rows.map(|row| {
                let (id, body) = row.map_err(backend)?;
                from_json(&id, &body)
            })
            .collect()
        })
        .await
    }

    async fn pending_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ShareRequest>, StoreError> {
        let now_ms = now.timestamp_millis();
        self.with(move |c| {
            let mut stmt = c
                .prepare(
                    "SELECT id, body FROM requests WHERE state = 'pending' AND expires_ms <= ?1 ORDER BY expires_ms, id LIMIT ?2",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![now_ms, limit as i64], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(backend)?;
            rows.map(|row| {
                let (id, body) = row.map_err(backend)?;
                from_json(&id, &body)
            })
            .collect()
        })
        .await
    }

    async fn insert_approval(&self, approval: &Approval) -> Result<Inserted, StoreError> {
        let a = approval.clone();
        let body = to_json(&a)?;
        self.with(move |c| {
            let n = c
                .execute(
                    "INSERT OR IGNORE INTO approvals (request_id, person, at, body) VALUES (?1, ?2, ?3, ?4)",
                    params![a.request_id.as_str(), a.person.as_str(), a.at.to_rfc3339(), body],
                )
                .map_err(backend)?;
            Ok(inserted(n))
        })
        .await
    }

    async fn approvals(&self, id: &RequestId) -> Result<Vec<Approval>, StoreError> {
        let id = id.clone();
        self.with(move |c| {
            let mut stmt = c
                .prepare("SELECT body FROM approvals WHERE request_id = ?1 ORDER BY at, person")
                .map_err(backend)?;
            let rows = stmt
                .query_map([id.as_str()], |r| r.get::<_, String>(0))
                .map_err(backend)?;
            rows.map(|b| from_json(id.as_str(), &b.map_err(backend)?))
                .collect()
        })
        .await
    }

    async fn insert_grant(&self, grant: &Grant) -> Result<Inserted, StoreError> {
        let g = grant.clone();
        let body = to_json(&g)?;
        self.with(move |c| {
            let n = c
                .execute(
                    "INSERT OR IGNORE INTO grants (image_no, target, request_id, ended, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![g.image_no.as_str(), g.target.as_str(), g.request_id.as_str(), g.ended_at.is_some(), body],
                )
                .map_err(backend)?;
            Ok(inserted(n))
        })
        .await
    }

    async fn active_grants(&self, image: &ImageNo) -> Result<Vec<Grant>, StoreError> {
        let image = image.clone();
        self.with(move |c| {
            let mut stmt = c
                .prepare("SELECT body FROM grants WHERE image_no = ?1 AND ended = 0 ORDER BY target, request_id")
                .map_err(backend)?;
            let rows = stmt.query_map([image.as_str()], |r| r.get::<_, String>(0)).map_err(backend)?;
            rows.map(|b| from_json(image.as_str(), &b.map_err(backend)?)).collect()
        })
        .await
    }

    async fn grants_ending_by(&self, until: DateTime<Utc>) -> Result<Vec<Grant>, StoreError> {
        let mut grants: Vec<Grant> = self
            .with(move |c| {
                let mut stmt = c
                    .prepare("SELECT image_no, body FROM grants WHERE ended = 0")
                    .map_err(backend)?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                    .map_err(backend)?;
                rows.map(|row| {
                    let (image, body) = row.map_err(backend)?;
                    from_json(&image, &body)
                })
                .collect()
            })
            .await?;
        // The end is inside the JSON body; active grants are few enough to filter here.
        grants.retain(|g: &Grant| g.ends_at.is_some_and(|end| end <= until));
        grants.sort_by(|a, b| {
            (
                a.ends_at,
                a.image_no.as_str(),
                a.target.as_str(),
                a.request_id.as_str(),
            )
                .cmp(&(
                    b.ends_at,
                    b.image_no.as_str(),
                    b.target.as_str(),
                    b.request_id.as_str(),
                ))
        });
        Ok(grants)
    }

    async fn end_grant(&self, grant: &Grant, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let g = grant.clone();
        self.with(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(backend)?;
            let body: Option<String> = tx
                .query_row(
                    "SELECT body FROM grants WHERE image_no = ?1 AND target = ?2 AND request_id = ?3 AND ended = 0",
                    params![g.image_no.as_str(), g.target.as_str(), g.request_id.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            let Some(body) = body else {
                return Ok(false);
            };
            let mut stored: Grant = from_json(g.image_no.as_str(), &body)?;
            stored.ended_at = Some(at);
            let n = tx
                .execute(
                    "UPDATE grants SET ended = 1, body = ?1 WHERE image_no = ?2 AND target = ?3 AND request_id = ?4 AND ended = 0",
                    params![to_json(&stored)?, g.image_no.as_str(), g.target.as_str(), g.request_id.as_str()],
                )
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(n == 1)
        })
        .await
    }

    async fn acquire_lease(
        &self,
        key: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (key, holder) = (key.to_string(), holder.to_string());
        let now_ms = now.timestamp_millis();
        let until = now_ms + ttl.as_millis() as i64;
        self.with(move |c| {
            let n = c
                .execute(
                    "INSERT INTO leases (key, holder, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                     WHERE leases.expires_at <= ?4 OR leases.holder = excluded.holder",
                    params![key, holder, until, now_ms],
                )
                .map_err(backend)?;
            Ok(n == 1)
        })
        .await
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        let (key, holder) = (key.to_string(), holder.to_string());
        self.with(move |c| {
            c.execute(
                "DELETE FROM leases WHERE key = ?1 AND holder = ?2",
                params![key, holder],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn first_delivery(
        &self,
        key: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let key = key.to_string();
        let now_ms = now.timestamp_millis();
        let until = now_ms + ttl.as_millis() as i64;
        self.with(move |c| {
            let tx = c.transaction().map_err(backend)?;
            // Expired keys are dropped on the way, which is the TTL.
            tx.execute("DELETE FROM deliveries WHERE expires_at <= ?1", [now_ms])
                .map_err(backend)?;
            let n = tx
                .execute(
                    "INSERT OR IGNORE INTO deliveries (key, expires_at) VALUES (?1, ?2)",
                    params![key, until],
                )
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(n == 1)
        })
        .await
    }

    async fn save_message_ref(
        &self,
        id: &RequestId,
        kind: &str,
        reference: &str,
    ) -> Result<(), StoreError> {
        let (id, kind, reference) = (id.to_string(), kind.to_string(), reference.to_string());
        self.with(move |c| {
            c.execute(
                "INSERT INTO message_refs (request_id, kind, reference) VALUES (?1, ?2, ?3)
                 ON CONFLICT(request_id, kind) DO UPDATE SET reference = excluded.reference",
                params![id, kind, reference],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn message_ref(&self, id: &RequestId, kind: &str) -> Result<Option<String>, StoreError> {
        let (id, kind) = (id.to_string(), kind.to_string());
        self.with(move |c| {
            c.query_row(
                "SELECT reference FROM message_refs WHERE request_id = ?1 AND kind = ?2",
                params![id, kind],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn append_audit(&self, entry: AuditEntry) -> Result<AuditRecord, StoreError> {
        self.with(move |c| {
            // IMMEDIATE takes the write lock first, so two processes never chain onto the same head.
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(backend)?;
            let record = append_in(&tx, entry)?;
            tx.commit().map_err(backend)?;
            Ok(record)
        })
        .await
    }

    async fn audit_records(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.with(move |c| {
            let mut stmt = c
                .prepare("SELECT seq, body FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2")
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![after as i64, limit as i64], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(backend)?;
            rows.map(|row| {
                let (seq, body) = row.map_err(backend)?;
                from_json(&format!("audit {seq}"), &body)
            })
            .collect()
        })
        .await
    }

    async fn audit_head(&self) -> Result<Option<(u64, String)>, StoreError> {
        self.with(|c| {
            let head: Option<(i64, String)> = c
                .query_row("SELECT seq, hash FROM audit_head WHERE one = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(backend)?;
            Ok(head.map(|(s, h)| (s as u64, h)))
        })
        .await
    }

    async fn audit_for_request(&self, id: &RequestId) -> Result<Vec<AuditRecord>, StoreError> {
        let id = id.clone();
        self.with(move |c| {
            let mut stmt = c
                .prepare("SELECT seq, body FROM audit WHERE request_id = ?1 ORDER BY seq")
                .map_err(backend)?;
            let rows = stmt
                .query_map([id.as_str()], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(backend)?;
            rows.map(|row| {
                let (seq, body) = row.map_err(backend)?;
                from_json(&format!("audit {seq}"), &body)
            })
            .collect()
        })
        .await
    }
    async fn commit(&self, change: Change) -> Result<Committed, StoreError> {
        let insert = match &change.insert {
            Some(r) => {
                let mut r = r.clone();
                r.version = 1;
                Some((to_json(&r)?, r))
            }
            None => None,
        };
        let update = match &change.update {
            Some(r) => {
                let mut next = r.clone();
                next.version = r.version + 1;
                Some((to_json(&next)?, next, r.version))
            }
            None => None,
        };
        let approval = match &change.approval {
            Some(a) => Some((to_json(a)?, a.clone())),
            None => None,
        };
        let outbox = change
            .outbox
            .iter()
            .map(|e| Ok((to_json(e)?, e.clone())))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let delivery = change.delivery.clone();
        let audit = change.audit;
        self.with(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(backend)?;
            // Every early return drops the transaction, which rolls it back: nothing is written.
            if let Some(d) = &delivery {
                tx.execute(
                    "DELETE FROM deliveries WHERE key = ?1 AND expires_at <= ?2",
                    params![d.key, d.now.timestamp_millis()],
                )
                .map_err(backend)?;
                let n = tx
                    .execute(
                        "INSERT OR IGNORE INTO deliveries (key, expires_at) VALUES (?1, ?2)",
                        params![d.key, d.until.timestamp_millis()],
                    )
                    .map_err(backend)?;
                if n != 1 {
                    return Ok(Committed::Conflict(Conflict::Delivery));
                }
            }
            if let Some((body, r)) = &insert {
                let n = tx
                    .execute(
                        "INSERT OR IGNORE INTO requests (id, version, state, image_no, created_at, expires_ms, body) VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6)",
                        params![r.id.as_str(), r.state.as_str(), r.image_no.as_str(), r.created_at.to_rfc3339(), r.expires_at.timestamp_millis(), body],
                    )
                    .map_err(backend)?;
                if n != 1 {
                    return Ok(Committed::Conflict(Conflict::Request));
                }
            }
            if let Some((body, next, expected)) = &update {
                let n = tx
                    .execute(
                        "UPDATE requests SET version = ?1, state = ?2, body = ?3, expires_ms = ?6 WHERE id = ?4 AND version = ?5",
                        params![next.version as i64, next.state.as_str(), body, next.id.as_str(), *expected as i64, next.expires_at.timestamp_millis()],
                    )
                    .map_err(backend)?;
                if n != 1 {
                    return Ok(Committed::Conflict(Conflict::Request));
                }
            }
            if let Some((body, a)) = &approval {
                let n = tx
                    .execute(
                        "INSERT OR IGNORE INTO approvals (request_id, person, at, body) VALUES (?1, ?2, ?3, ?4)",
                        params![a.request_id.as_str(), a.person.as_str(), a.at.to_rfc3339(), body],
                    )
                    .map_err(backend)?;
                if n != 1 {
                    return Ok(Committed::Conflict(Conflict::Approval));
                }
            }
            let mut records = Vec::with_capacity(audit.len());
            for entry in audit {
                records.push(append_in(&tx, entry)?);
            }
            for (body, e) in &outbox {
                tx.execute(
                    "INSERT INTO outbox (id, ord, lane, request_id, status, next_ms, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![e.id, e.order, e.lane, e.request_id.as_ref().map(|r| r.as_str().to_string()), e.status.as_str(), e.next_at.timestamp_millis(), body],
                )
                .map_err(backend)?;
            }
            tx.commit().map_err(backend)?;
            Ok(Committed::Done(records))
        })
        .await
    }

    async fn outbox_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let now_ms = now.timestamp_millis();
        self.with(move |c| {
            query_outbox(
                c,
                "SELECT id, body FROM outbox WHERE status = 'pending' AND next_ms <= ?1 ORDER BY ord LIMIT ?2",
                params![now_ms, limit as i64],
            )
        })
        .await
    }

    async fn save_outbox(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        let e = entry.clone();
        let body = to_json(&e)?;
        self.with(move |c| {
            c.execute(
                "UPDATE outbox SET status = ?2, next_ms = ?3, body = ?4 WHERE id = ?1",
                params![e.id, e.status.as_str(), e.next_at.timestamp_millis(), body],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>, StoreError> {
        let id = id.to_string();
        self.with(move |c| {
            Ok(
                query_outbox(c, "SELECT id, body FROM outbox WHERE id = ?1", params![id])?
                    .into_iter()
                    .next(),
            )
        })
        .await
    }

    async fn outbox(&self, query: OutboxQuery) -> Result<Vec<OutboxEntry>, StoreError> {
        self.with(move |c| {
            query_outbox(
                c,
                "SELECT id, body FROM outbox WHERE (?1 IS NULL OR request_id = ?1) AND (?2 IS NULL OR status = ?2) ORDER BY ord LIMIT ?3",
                params![
                    query.request.as_ref().map(|r| r.as_str().to_string()),
                    query.status.map(OutboxStatus::as_str),
                    query.limit as i64
                ],
            )
        })
        .await
    }

    async fn outbox_pending_count(&self) -> Result<usize, StoreError> {
        self.with(move |c| {
            let n: i64 = c
                .query_row(
                    "SELECT COUNT(*) FROM outbox WHERE status = 'pending'",
                    [],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            Ok(n as usize)
        })
        .await
    }
}

/// Brings a database made by an earlier version up to the current schema.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let has_expiry: bool = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('requests') WHERE name = 'expires_ms'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(backend)?
        > 0;
    if !has_expiry {
        conn.execute_batch(
            "ALTER TABLE requests ADD COLUMN expires_ms INTEGER NOT NULL DEFAULT 0;
             UPDATE requests SET expires_ms = CAST(strftime('%s', json_extract(body, '$.expires_at')) AS INTEGER) * 1000;",
        )
        .map_err(backend)?;
    }
    // Pending requests are expired oldest-deadline first, straight from this index.
    conn.execute_batch("CREATE INDEX IF NOT EXISTS requests_due ON requests(state, expires_ms);")
        .map_err(backend)?;
    Ok(())
}

/// Chains `entry` onto the ledger head inside an open write transaction.
fn append_in(tx: &rusqlite::Transaction<'_>, entry: AuditEntry) -> Result<AuditRecord, StoreError> {
    let head: Option<(i64, String)> = tx
        .query_row("SELECT seq, hash FROM audit_head WHERE one = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .map_err(backend)?;
    let record = audit::chain(head.as_ref().map(|(s, h)| (*s as u64, h.as_str())), entry);
    tx.execute(
        "INSERT INTO audit (seq, request_id, body) VALUES (?1, ?2, ?3)",
        params![
            record.seq as i64,
            record.entry.request_id,
            to_json(&record)?
        ],
    )
    .map_err(backend)?;
    tx.execute(
        "INSERT INTO audit_head (one, seq, hash) VALUES (1, ?1, ?2)
         ON CONFLICT(one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        params![record.seq as i64, record.hash],
    )
    .map_err(backend)?;
    Ok(record)
}

/// Test support: direct writes that bypass the chain, as an attacker with file access could.
impl SqliteStore {
    /// Runs raw SQL (tests use it to tamper with the ledger and prove `audit verify` notices).
    pub async fn execute_raw(&self, sql: &str) -> Result<usize, StoreError> {
        let sql = sql.to_string();
        self.with(move |c| c.execute(&sql, []).map_err(backend))
            .await
    }
}

/// Runs an outbox query whose columns are `id, body` and decodes every entry.
fn query_outbox(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut stmt = c.prepare_cached(sql).map_err(backend)?;
    let rows = stmt
        .query_map(params, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(backend)?;
    rows.map(|row| {
        let (id, body) = row.map_err(backend)?;
        from_json(&format!("outbox {id}"), &body)
    })
    .collect()
}
