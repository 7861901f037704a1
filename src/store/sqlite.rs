//! The embedded store: one SQLite file in WAL mode.
//!
//! Each call runs on the blocking pool with the one connection behind a mutex: SQLite
//! serialises writers anyway, and one connection keeps compare-and-swap and the ledger's
//! append trivially atomic. A second process on the same file is safe too (SQLite locks),
//! which is what the crash tests rely on.

use super::{Change, Committed, Conflict, Inserted, OutboxQuery, Store, StoreError};
use crate::audit::tlog::StoredCheckpoint;
use crate::audit::{self, AuditEntry, AuditRecord};
use crate::domain::{
    Approval, Grant, ImageCatalog, ImageNo, RequestId, RequestState, ShareRequest,
};
use crate::workflow::outbox::{OutboxEntry, OutboxStatus};
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
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
    -- `ends_at` in milliseconds (rounded down), none for a grant without an end: the sweep's key.
    ends_ms INTEGER,
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
-- Signed checkpoints of the ledger, by tree size.
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY,
    body TEXT NOT NULL
);
-- The image catalog (one row): the shareable images as of `refreshed_at` (RFC 3339 with
-- nanoseconds, so that it compares as a time), for the request form's picker.
CREATE TABLE IF NOT EXISTS image_catalog (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    refreshed_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"#;

/// Pending requests due by `?1` (ms), a page of `?2`: a range of the index `requests_due`.
const PENDING_DUE: &str = "SELECT id, expires_ms, body FROM requests WHERE state = 'pending' AND expires_ms <= ?1 ORDER BY expires_ms, id LIMIT ?2";
/// Pending requests whose deadline is in millisecond `?1`.
const PENDING_AT_MS: &str =
    "SELECT id, expires_ms, body FROM requests WHERE state = 'pending' AND expires_ms = ?1";
/// Open grants with an end at or before `?1` (ms): a range of the partial index `grants_due`.
const GRANTS_ENDING_BY: &str = "SELECT image_no, body FROM grants WHERE ended = 0 AND ends_ms IS NOT NULL AND ends_ms <= ?1 ORDER BY ends_ms";

/// The embedded SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::backend("sqlite", e)
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::backend("sqlite: cannot encode a record", e))
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
                .map_err(|e| StoreError::backend(format!("cannot create {}", dir.display()), e))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| StoreError::backend(format!("cannot open {}", path.display()), e))?;
        Self::init(conn)
    }

    /// An in-memory database, for tests and benchmarks.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(Duration::from_secs(10))?;
        // WAL lets readers go on while one writer commits; NORMAL is durable across a process
        // crash (only an OS crash can lose the last commits), which is the failure we design for.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
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
        .map_err(|e| StoreError::backend("sqlite task failed", e))?
    }
}

/// Runs a query of (id, expires_ms, body) rows of requests.
fn pending_rows(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<(String, i64, String)>, StoreError> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Runs `sql`, whose columns are a key and a JSON body, and decodes every body. A body that does
/// not decode is a [`StoreError::Corrupt`] record named `{label}{key}` (`audit 12`).
fn query_decoded<T: serde::de::DeserializeOwned>(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    label: &str,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| {
        let key = match r.get::<_, Value>(0)? {
            Value::Integer(n) => n.to_string(),
            Value::Text(t) => t,
            other => format!("{other:?}"),
        };
        Ok((key, r.get::<_, String>(1)?))
    })?;
    rows.map(|row| {
        let (key, body) = row?;
        from_json(&format!("{label}{key}"), &body)
    })
    .collect()
}

/// Like [`query_decoded`], for a query of at most one row.
fn query_one<T: serde::de::DeserializeOwned>(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    label: &str,
) -> Result<Option<T>, StoreError> {
    Ok(query_decoded(c, sql, params, label)?.into_iter().next())
}

/// `Store::insert_request`'s write (version 1, unless the id exists).
fn insert_request_row(c: &Connection, request: &ShareRequest) -> Result<Inserted, StoreError> {
    let mut r = request.clone();
    r.version = 1;
    let body = to_json(&r)?;
    let n = c
        .prepare_cached(
            "INSERT OR IGNORE INTO requests (id, version, state, image_no, created_at, expires_ms, body) VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![r.id.as_str(), r.state.as_str(), r.image_no.as_str(), r.created_at.to_rfc3339(), r.expires_at.timestamp_millis(), body])
        })?;
    Ok(inserted(n))
}

/// `Store::insert_grant`'s write (unless the key exists).
fn insert_grant_row(c: &Connection, g: &Grant) -> Result<Inserted, StoreError> {
    let body = to_json(g)?;
    let n = c
        .prepare_cached(
            "INSERT OR IGNORE INTO grants (image_no, target, request_id, ended, body, ends_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![g.image_no.as_str(), g.target.as_str(), g.request_id.as_str(), g.ended_at.is_some(), body, g.ends_at.map(|t| t.timestamp_millis())])
        })?;
    Ok(inserted(n))
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
        let r = request.clone();
        self.with(move |c| insert_request_row(c, &r)).await
    }

    async fn request(&self, id: &RequestId) -> Result<Option<ShareRequest>, StoreError> {
        let id = id.clone();
        self.with(move |c| {
            query_one(
                c,
                "SELECT id, body FROM requests WHERE id = ?1",
                [id.as_str()],
                "",
            )
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
                )?;
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
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let n = tx
                .execute(
                    "UPDATE requests SET version = ?1, state = ?2, body = ?3, expires_ms = ?6 WHERE id = ?4 AND version = ?5",
                    params![next.version as i64, next.state.as_str(), body, next.id.as_str(), expected as i64, next.expires_at.timestamp_millis()],
                )?;
            if n != 1 {
                // Dropping the transaction rolls it back; nothing was written.
                return Ok(None);
            }
            let record = append_in(&tx, entry)?;
            tx.commit()?;
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
            query_decoded(
                c,
                "SELECT id, body FROM requests WHERE (?1 IS NULL OR state = ?1) ORDER BY created_at DESC, id LIMIT ?2",
                params![state.map(|s| s.as_str()), limit as i64],
                "",
            )
        })
        .await
    }

    async fn pending_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ShareRequest>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now_ms = now.timestamp_millis();
        let rows = self
            .with(move |c| {
                // A range of the index `requests_due` (state, deadline), a page at a time.
                let mut rows = pending_rows(c, PENDING_DUE, params![now_ms, limit as i64])?;
                // A full page may be cut inside its last millisecond by id rather than by the exact
                // deadline: that millisecond is read whole (a handful of rows at most).
                if let Some(&(_, last_ms, _)) = rows.last().filter(|_| rows.len() == limit) {
                    let rest = pending_rows(c, PENDING_AT_MS, params![last_ms])?;
                    let seen: std::collections::HashSet<String> =
                        rows.iter().map(|(id, _, _)| id.clone()).collect();
                    rows.extend(rest.into_iter().filter(|(id, _, _)| !seen.contains(id)));
                }
                Ok(rows)
            })
            .await?;
        let mut due = rows
            .into_iter()
            .map(|(id, _, body)| from_json::<ShareRequest>(&id, &body))
            .collect::<Result<Vec<_>, _>>()?;
        // The column is in whole milliseconds: the last one may hold deadlines just after `now`.
        due.retain(|r| r.state == RequestState::Pending && r.expires_at <= now);
        due.sort_by(|a, b| {
            a.expires_at
                .cmp(&b.expires_at)
                .then_with(|| a.id.as_str().cmp(b.id.as_str()))
        });
        due.truncate(limit);
        Ok(due)
    }

    async fn insert_approval(&self, approval: &Approval) -> Result<Inserted, StoreError> {
        let a = approval.clone();
        let body = to_json(&a)?;
        self.with(move |c| {
            let n = c
                .execute(
                    "INSERT OR IGNORE INTO approvals (request_id, person, at, body) VALUES (?1, ?2, ?3, ?4)",
                    params![a.request_id.as_str(), a.person.as_str(), a.at.to_rfc3339(), body],
                )?;
            Ok(inserted(n))
        })
        .await
    }

    async fn approvals(&self, id: &RequestId) -> Result<Vec<Approval>, StoreError> {
        let id = id.clone();
        self.with(move |c| {
            query_decoded(
                c,
                "SELECT request_id, body FROM approvals WHERE request_id = ?1 ORDER BY at, person",
                [id.as_str()],
                "",
            )
        })
        .await
    }

    async fn insert_grant(&self, grant: &Grant) -> Result<Inserted, StoreError> {
        let g = grant.clone();
        self.with(move |c| insert_grant_row(c, &g)).await
    }

    async fn active_grants(&self, image: &ImageNo) -> Result<Vec<Grant>, StoreError> {
        let image = image.clone();
        self.with(move |c| {
            query_decoded(
                c,
                "SELECT image_no, body FROM grants WHERE image_no = ?1 AND ended = 0 ORDER BY target, request_id",
                [image.as_str()],
                "",
            )
        })
        .await
    }

    async fn grants_ending_by(&self, until: DateTime<Utc>) -> Result<Vec<Grant>, StoreError> {
        let until_ms = until.timestamp_millis();
        let mut grants: Vec<Grant> = self
            .with(move |c| {
                // A range of the partial index `grants_due` (open grants with an end, by end):
                // only the due rows are read, however many grants are open.
                query_decoded(c, GRANTS_ENDING_BY, [until_ms], "")
            })
            .await?;
        // The column is in whole milliseconds; the last one may hold grants a few nanoseconds
        // past `until`, and ties within a millisecond are ordered by the exact time.
        grants
            .retain(|g: &Grant| g.ended_at.is_none() && g.ends_at.is_some_and(|end| end <= until));
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
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let body: Option<String> = tx
                .query_row(
                    "SELECT body FROM grants WHERE image_no = ?1 AND target = ?2 AND request_id = ?3 AND ended = 0",
                    params![g.image_no.as_str(), g.target.as_str(), g.request_id.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(body) = body else {
                return Ok(false);
            };
            let mut stored: Grant = from_json(g.image_no.as_str(), &body)?;
            stored.ended_at = Some(at);
            let n = tx
                .execute(
                    "UPDATE grants SET ended = 1, body = ?1 WHERE image_no = ?2 AND target = ?3 AND request_id = ?4 AND ended = 0",
                    params![to_json(&stored)?, g.image_no.as_str(), g.target.as_str(), g.request_id.as_str()],
                )?;
            tx.commit()?;
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
                )?;
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
            )?;
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
            let tx = c.transaction()?;
            // Expired keys are dropped on the way, which is the TTL.
            tx.execute("DELETE FROM deliveries WHERE expires_at <= ?1", [now_ms])?;
            let n = tx.execute(
                "INSERT OR IGNORE INTO deliveries (key, expires_at) VALUES (?1, ?2)",
                params![key, until],
            )?;
            tx.commit()?;
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
            )?;
            Ok(())
        })
        .await
    }

    async fn message_ref(&self, id: &RequestId, kind: &str) -> Result<Option<String>, StoreError> {
        let (id, kind) = (id.to_string(), kind.to_string());
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT reference FROM message_refs WHERE request_id = ?1 AND kind = ?2",
                params![id, kind],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    async fn append_audit(&self, entry: AuditEntry) -> Result<AuditRecord, StoreError> {
        self.with(move |c| {
            // IMMEDIATE takes the write lock first, so two processes never chain onto the same head.
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let record = append_in(&tx, entry)?;
            tx.commit()?;
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
            query_decoded(
                c,
                "SELECT seq, body FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                params![after as i64, limit as i64],
                "audit ",
            )
        })
        .await
    }

    async fn audit_head(&self) -> Result<Option<(u64, String)>, StoreError> {
        self.with(|c| {
            let head: Option<(i64, String)> = c
                .query_row("SELECT seq, hash FROM audit_head WHERE one = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            Ok(head.map(|(s, h)| (s as u64, h)))
        })
        .await
    }

    async fn audit_for_request(&self, id: &RequestId) -> Result<Vec<AuditRecord>, StoreError> {
        let id = id.clone();
        self.with(move |c| {
            query_decoded(
                c,
                "SELECT seq, body FROM audit WHERE request_id = ?1 ORDER BY seq",
                [id.as_str()],
                "audit ",
            )
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
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // Every early return drops the transaction, which rolls it back: nothing is written.
            if let Some(d) = &delivery {
                tx.execute(
                    "DELETE FROM deliveries WHERE key = ?1 AND expires_at <= ?2",
                    params![d.key, d.now.timestamp_millis()],
                )?;
                let n = tx
                    .execute(
                        "INSERT OR IGNORE INTO deliveries (key, expires_at) VALUES (?1, ?2)",
                        params![d.key, d.until.timestamp_millis()],
                    )?;
                if n != 1 {
                    return Ok(Committed::Conflict(Conflict::Delivery));
                }
            }
            if let Some((body, r)) = &insert {
                let n = tx
                    .execute(
                        "INSERT OR IGNORE INTO requests (id, version, state, image_no, created_at, expires_ms, body) VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6)",
                        params![r.id.as_str(), r.state.as_str(), r.image_no.as_str(), r.created_at.to_rfc3339(), r.expires_at.timestamp_millis(), body],
                    )?;
                if n != 1 {
                    return Ok(Committed::Conflict(Conflict::Request));
                }
            }
            if let Some((body, next, expected)) = &update {
                let n = tx
                    .execute(
                        "UPDATE requests SET version = ?1, state = ?2, body = ?3, expires_ms = ?6 WHERE id = ?4 AND version = ?5",
                        params![next.version as i64, next.state.as_str(), body, next.id.as_str(), *expected as i64, next.expires_at.timestamp_millis()],
                    )?;
                if n != 1 {
                    return Ok(Committed::Conflict(Conflict::Request));
                }
            }
            if let Some((body, a)) = &approval {
                let n = tx
                    .execute(
                        "INSERT OR IGNORE INTO approvals (request_id, person, at, body) VALUES (?1, ?2, ?3, ?4)",
                        params![a.request_id.as_str(), a.person.as_str(), a.at.to_rfc3339(), body],
                    )?;
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
                )?;
            }
            tx.commit()?;
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
            query_decoded(
                c,
                "SELECT id, body FROM outbox WHERE status = 'pending' AND next_ms <= ?1 ORDER BY ord LIMIT ?2",
                params![now_ms, limit as i64],
                "outbox ",
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
            )?;
            Ok(())
        })
        .await
    }

    async fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>, StoreError> {
        let id = id.to_string();
        self.with(move |c| {
            query_one(
                c,
                "SELECT id, body FROM outbox WHERE id = ?1",
                params![id],
                "outbox ",
            )
        })
        .await
    }

    async fn outbox(&self, query: OutboxQuery) -> Result<Vec<OutboxEntry>, StoreError> {
        self.with(move |c| {
            query_decoded(
                c,
                "SELECT id, body FROM outbox WHERE (?1 IS NULL OR request_id = ?1) AND (?2 IS NULL OR status = ?2) ORDER BY ord LIMIT ?3",
                params![
                    query.request.as_ref().map(|r| r.as_str().to_string()),
                    query.status.map(OutboxStatus::as_str),
                    query.limit as i64
                ],
                "outbox ",
            )
        })
        .await
    }

    async fn outbox_oldest_pending(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        // `ord` starts with the creation time, and the pending entries are an index range
        // in `ord` order: one row read.
        let oldest = self
            .outbox(OutboxQuery {
                request: None,
                status: Some(OutboxStatus::Pending),
                limit: 1,
            })
            .await?;
        Ok(oldest.first().map(|e| e.created_at))
    }

    async fn outbox_pending_count(&self) -> Result<usize, StoreError> {
        self.with(move |c| {
            let n: i64 = c.query_row(
                "SELECT COUNT(*) FROM outbox WHERE status = 'pending'",
                [],
                |r| r.get(0),
            )?;
            Ok(n as usize)
        })
        .await
    }

    async fn save_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<Inserted, StoreError> {
        let body = to_json(checkpoint)?;
        let size = checkpoint.size as i64;
        self.with(move |c| {
            let n = c.execute(
                "INSERT INTO checkpoints (size, body) VALUES (?1, ?2) ON CONFLICT(size) DO NOTHING",
                params![size, body],
            )?;
            Ok(if n == 1 {
                Inserted::New
            } else {
                Inserted::AlreadyThere
            })
        })
        .await
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.with(|c| {
            query_one(
                c,
                "SELECT size, body FROM checkpoints ORDER BY size DESC LIMIT 1",
                [],
                "checkpoint ",
            )
        })
        .await
    }

    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.with(|c| {
            query_decoded(
                c,
                "SELECT size, body FROM checkpoints ORDER BY size",
                [],
                "checkpoint ",
            )
        })
        .await
    }

    async fn save_image_catalog(&self, catalog: &ImageCatalog) -> Result<(), StoreError> {
        let body = to_json(catalog)?;
        let at = catalog
            .refreshed_at
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        self.with(move |c| {
            // An older list (a refresh that started first and finished last) changes nothing.
            c.execute(
                "INSERT INTO image_catalog (one, refreshed_at, body) VALUES (1, ?1, ?2) \
                 ON CONFLICT(one) DO UPDATE SET refreshed_at = excluded.refreshed_at, body = excluded.body \
                 WHERE excluded.refreshed_at >= image_catalog.refreshed_at",
                params![at, body],
            )?;
            Ok(())
        })
        .await
    }

    async fn image_catalog(&self) -> Result<Option<ImageCatalog>, StoreError> {
        self.with(|c| {
            query_one(
                c,
                "SELECT 'catalog', body FROM image_catalog WHERE one = 1",
                [],
                "image ",
            )
        })
        .await
    }
}

/// Brings a database made by an earlier version up to the current schema.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let has_expiry: bool = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('requests') WHERE name = 'expires_ms'",
        [],
        |r| r.get::<_, i64>(0),
    )? > 0;
    if !has_expiry {
        conn.execute_batch(
            "ALTER TABLE requests ADD COLUMN expires_ms INTEGER NOT NULL DEFAULT 0;
             UPDATE requests SET expires_ms = CAST(strftime('%s', json_extract(body, '$.expires_at')) AS INTEGER) * 1000;",
        )?;
    }
    // Pending requests are expired oldest-deadline first, straight from this index.
    conn.execute_batch("CREATE INDEX IF NOT EXISTS requests_due ON requests(state, expires_ms);")?;
    add_grant_ends(conn)?;
    // The sweep's grants: only open ones with an end are in this index, by end.
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS grants_due ON grants(ends_ms) WHERE ended = 0 AND ends_ms IS NOT NULL;",
    )?;
    Ok(())
}

/// Adds `grants.ends_ms` to a database made before it, filled from each grant's body (in Rust,
/// so that it is rounded exactly as new grants are), under the write lock: a second process
/// opening the same file waits and then finds the column there.
fn add_grant_ends(conn: &Connection) -> Result<(), StoreError> {
    let has = |conn: &Connection| -> Result<bool, StoreError> {
        Ok(conn.query_row(
            "SELECT COUNT(*) FROM pragma_table_info('grants') WHERE name = 'ends_ms'",
            [],
            |r| r.get::<_, i64>(0),
        )? > 0)
    };
    if has(conn)? {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        if has(conn)? {
            return Ok(());
        }
        conn.execute_batch("ALTER TABLE grants ADD COLUMN ends_ms INTEGER")?;
        let mut read = conn.prepare("SELECT rowid, image_no, body FROM grants")?;
        let rows = read.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut write = conn.prepare("UPDATE grants SET ends_ms = ?1 WHERE rowid = ?2")?;
        for row in rows {
            let (rowid, image, body) = row?;
            let grant: Grant = from_json(&image, &body)?;
            write.execute(params![grant.ends_at.map(|t| t.timestamp_millis()), rowid])?;
        }
        Ok(())
    })();
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    conn.execute_batch(end)?;
    result
}

/// Chains `entry` onto the ledger head inside an open write transaction.
fn append_in(tx: &rusqlite::Transaction<'_>, entry: AuditEntry) -> Result<AuditRecord, StoreError> {
    let head: Option<(i64, String)> = tx
        .query_row("SELECT seq, hash FROM audit_head WHERE one = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let record = audit::chain(head.as_ref().map(|(s, h)| (*s as u64, h.as_str())), entry);
    tx.execute(
        "INSERT INTO audit (seq, request_id, body) VALUES (?1, ?2, ?3)",
        params![
            record.seq as i64,
            record.entry.request_id,
            to_json(&record)?
        ],
    )?;
    tx.execute(
        "INSERT INTO audit_head (one, seq, hash) VALUES (1, ?1, ?2)
         ON CONFLICT(one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        params![record.seq as i64, record.hash],
    )?;
    Ok(record)
}

/// Test support: direct writes that bypass the chain, as an attacker with file access could.
impl SqliteStore {
    /// Runs raw SQL (tests use it to tamper with the ledger and prove `audit verify` notices).
    pub async fn execute_raw(&self, sql: &str) -> Result<usize, StoreError> {
        let sql = sql.to_string();
        self.with(move |c| Ok(c.execute(&sql, [])?)).await
    }

    /// Stores many requests and grants in one transaction, each row written exactly as
    /// `insert_request` and `insert_grant` write it (the same statements). For benchmarks and
    /// tests that need 100,000 rows in a second rather than a commit per row; the service never
    /// calls it.
    pub async fn insert_bulk(
        &self,
        requests: Vec<ShareRequest>,
        grants: Vec<Grant>,
    ) -> Result<(), StoreError> {
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for r in &requests {
                insert_request_row(&tx, r)?;
            }
            for g in &grants {
                insert_grant_row(&tx, g)?;
            }
            Ok(tx.commit()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query plan's detail lines for `sql`.
    fn plan(c: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let params: Vec<i64> = (0..stmt.parameter_count()).map(|_| 0).collect();
        stmt.query_map(rusqlite::params_from_iter(params), |r| {
            r.get::<_, String>(3)
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    #[test]
    fn the_sweeps_queries_are_index_ranges_not_scans() {
        let store = SqliteStore::in_memory().unwrap();
        let c = store.conn.lock().unwrap();
        // Statistics as on a large database, so that the planner's choice is the one it makes there.
        c.execute_batch("ANALYZE").unwrap();
        // `ends_ms IS NOT NULL` shows as the lower bound `ends_ms>?`; the order is the index's.
        let grants = plan(&c, GRANTS_ENDING_BY);
        assert_eq!(
            grants,
            ["SEARCH grants USING INDEX grants_due (ends_ms>? AND ends_ms<?)"],
            "{grants:?}"
        );
        let due = plan(&c, PENDING_DUE);
        assert!(
            due[0]
                .starts_with("SEARCH requests USING INDEX requests_due (state=? AND expires_ms<?)"),
            "{due:?}"
        );
        assert!(due.iter().all(|l| !l.contains("SCAN")), "{due:?}");
        let at_ms = plan(&c, PENDING_AT_MS);
        assert_eq!(
            at_ms,
            ["SEARCH requests USING INDEX requests_due (state=? AND expires_ms=?)"],
            "{at_ms:?}"
        );
    }

    #[tokio::test]
    async fn a_database_from_before_grants_ends_ms_is_migrated_and_backfilled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let grant = |target: &str, ends: Option<i64>, ended: bool| Grant {
            image_no: ImageNo::parse("1234567").unwrap(),
            target: crate::domain::LoginId::parse(target).unwrap(),
            request_id: RequestId::parse("SR-00000001").unwrap(),
            starts_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            ends_at: ends.map(|s| DateTime::from_timestamp(s, 999_999_999).unwrap()),
            ended_at: ended.then(|| DateTime::from_timestamp(1_700_000_500, 0).unwrap()),
        };
        let (due, later, open_ended, ended) = (
            grant("a@partner.example", Some(1_700_001_000), false),
            grant("b@partner.example", Some(1_700_009_000), false),
            grant("c@partner.example", None, false),
            grant("d@partner.example", Some(1_700_000_900), true),
        );
        {
            // The grants table as the previous version made it, with its rows.
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE grants (image_no TEXT NOT NULL, target TEXT NOT NULL, request_id TEXT NOT NULL,
                 ended INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL, PRIMARY KEY (image_no, target, request_id));",
            )
            .unwrap();
            for g in [&due, &later, &open_ended, &ended] {
                c.execute(
                    "INSERT INTO grants (image_no, target, request_id, ended, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![g.image_no.as_str(), g.target.as_str(), g.request_id.as_str(), g.ended_at.is_some(), to_json(g).unwrap()],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(&path).unwrap();
        let until = due.ends_at.unwrap();
        assert_eq!(
            store.grants_ending_by(until).await.unwrap(),
            vec![due.clone()]
        );
        assert!(
            store
                .grants_ending_by(until - chrono::Duration::nanoseconds(1))
                .await
                .unwrap()
                .is_empty()
        );
        let far = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(store.grants_ending_by(far).await.unwrap(), vec![due, later]);
        drop(store);
        // Opening it again changes nothing.
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.grants_ending_by(far).await.unwrap().len(), 2);
    }
}
