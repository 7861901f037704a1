//! The DynamoDB store: two on-demand tables, every compare-and-swap a conditional write.
//!
//! The **state table** (`pk`, `sk`, both strings) holds one item per record:
//!
//! | item | pk | sk | other attributes |
//! | --- | --- | --- | --- |
//! | request | `req#ID` | `request` | `body`, `ver`, `req_state`, `req_created` (the `by_state` index); while pending also `req_pending` = `pending` and `req_due` (the sparse `by_due` index) |
//! | approval | `req#ID` | `approval#PERSON` | `body` |
//! | message reference | `req#ID` | `msg#KIND` | `ref` |
//! | grant | `image#NO` | `grant#TARGET#ID` | `body`, `ended`; while open and time-boxed also `grant_open` = `open` and `grant_end` (the sparse `by_grant_end` index) |
//! | lease | `lease#KEY` | `lease` | `holder`, `until_ms`, `ttl_epoch` |
//! | delivery key | `delivery#KEY` | `delivery` | `until_ms`, `ttl_epoch` |
//! | outbox entry | `outbox#ID` | `outbox` | `body`; while pending or failed `ob_status` and `ob_due` (the sparse `by_outbox` index); with a request `ob_req`, `ob_order` (`by_outbox_request`) |
//! | image catalog | `catalog#images` | `catalog` | `refreshed_at` (sortable RFC 3339), `images` (JSON `[[no, name], ...]`), `dropped` |
//!
//! The image catalog is one item, and a DynamoDB item holds at most 400 KB: its `images` are
//! kept to [`CATALOG_MAX_BYTES`] (about 5,000 images with names of 50 characters). A longer
//! list keeps the images that fit, in catalog order (by name), counts the others in `dropped`
//! and logs a warning: the picker then misses images late in the alphabet, which can still be
//! asked for by number with the slash command.
//!
//! The **ledger table** (`pk` string, `sk` number) holds the hash-chained records under
//! `pk = "all"`, a copy of each under `pk = "req#ID"` (so that a request's records are a strongly
//! consistent query; a secondary index would be eventually consistent, and the worker must see
//! the approval that was written a moment before), the head under `pk = "head"`, and the signed
//! checkpoints under `pk = "checkpoint"` with the tree size as `sk`.
//!
//! Appends are serialised by a condition on the head item (`seq` is still the one we chained onto)
//! inside one `TransactWriteItems` with the record itself; a request update with its ledger record
//! adds the request's version condition to the same transaction. Expiry (leases, delivery keys) is
//! decided by `until_ms` in the condition, so it is exact; `ttl_epoch` is DynamoDB's TTL attribute,
//! which only cleans up later.
//!
//! Reads are strongly consistent except [`Store::requests`], which reads the `by_state` index: it
//! may lag a write by a moment, which the workflow tolerates (it re-reads and compare-and-swaps
//! before it acts on anything it listed).
//!
//! Adding a method: pick an item shape above, then use the helpers at the bottom
//! (`put_if_absent`, `get`, `query`, `decode`).

use super::{Change, Committed, Conflict, Inserted, OutboxQuery, Store, StoreError};
use crate::audit::tlog::StoredCheckpoint;
use crate::audit::{self, AuditEntry, AuditRecord};
use crate::aws::{LazyClient, describe_error};
use crate::domain::{
    Approval, CatalogImage, Grant, ImageCatalog, ImageNo, RequestId, RequestState, ShareRequest,
};
use crate::workflow::outbox::{OutboxEntry, OutboxStatus};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue as Av, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TransactWriteItem,
};
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

type Item = HashMap<String, Av>;

/// The name of the index of requests by state.
pub const BY_STATE_INDEX: &str = "by_state";
/// The name of the sparse index of open, time-boxed grants by end time (for the sweep).
pub const BY_GRANT_END_INDEX: &str = "by_grant_end";
/// The name of the sparse index of pending and failed outbox entries by status and next attempt.
pub const BY_OUTBOX_INDEX: &str = "by_outbox";
/// The name of the sparse index of outbox entries by request (for `requests show`).
pub const BY_OUTBOX_REQUEST_INDEX: &str = "by_outbox_request";
/// The name of the sparse index of pending requests by deadline (for the sweep).
pub const BY_DUE_INDEX: &str = "by_due";
/// The TTL attribute of the state table.
pub const TTL_ATTRIBUTE: &str = "ttl_epoch";

/// The ledger table's partition of signed checkpoints (`sk` = tree size).
const CHECKPOINT_PK: &str = "checkpoint";

/// The image catalog's item key.
const CATALOG_PK: &str = "catalog#images";

/// The most bytes of the catalog item's `images`: DynamoDB refuses items over 400 KB, and the
/// rest of the item and the attribute names need a little room.
pub const CATALOG_MAX_BYTES: usize = 350_000;

/// Give up an append after this many lost races (each lost race means another append won).
const MAX_APPEND_ATTEMPTS: u32 = 500;

/// The two table names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// Requests, approvals, grants, leases, delivery keys, message references.
    pub state: String,
    /// The hash-chained audit ledger and its head.
    pub ledger: String,
}

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Arc<LazyClient<Client>>,
    tables: Arc<Tables>,
    /// Set when the tables are to be created on first use (local stand-ins only).
    create: Option<Arc<tokio::sync::OnceCell<()>>>,
    /// Serialises this process's appends (they would only race each other for the head) and
    /// remembers the head they last wrote, so that an append is one transaction and no read
    /// while this process is the only writer. Other processes are kept out by the condition on
    /// the head item; a stale memory costs one cancelled transaction and a read.
    appends: Arc<tokio::sync::Mutex<Option<(u64, String)>>>,
}

fn backend(e: impl Into<crate::store::BoxedError>) -> StoreError {
    StoreError::backend("dynamodb", e)
}

fn sdk<E, R>(what: &str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::backend(format!("dynamodb {what}"), e)
}

fn s(v: impl Into<String>) -> Av {
    Av::S(v.into())
}

fn n(v: impl ToString) -> Av {
    Av::N(v.to_string())
}

/// A time as fixed-width RFC 3339 with nanoseconds, so that strings sort as times do.
fn sortable(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// A grant's item; open, time-boxed grants also carry the `by_grant_end` index keys.
fn grant_item(grant: &Grant) -> Result<Item, StoreError> {
    let mut item = HashMap::from([
        ("pk".into(), s(format!("image#{}", grant.image_no))),
        (
            "sk".into(),
            s(format!("grant#{}#{}", grant.target, grant.request_id)),
        ),
        ("body".into(), s(to_json(grant)?)),
        ("ended".into(), Av::Bool(grant.ended_at.is_some())),
    ]);
    if let (Some(ends), None) = (grant.ends_at, grant.ended_at) {
        item.insert("grant_open".into(), s("open"));
        item.insert(
            "grant_end".into(),
            s(format!(
                "{}#{}#{}#{}",
                sortable(ends),
                grant.image_no,
                grant.target,
                grant.request_id
            )),
        );
    }
    Ok(item)
}

/// An approval's item.
fn approval_item(approval: &Approval) -> Result<Item, StoreError> {
    Ok(HashMap::from([
        ("pk".into(), s(req_pk(approval.request_id.as_str()))),
        (
            "sk".into(),
            s(format!("approval#{}", approval.person.as_str())),
        ),
        ("body".into(), s(to_json(approval)?)),
    ]))
}

/// An outbox entry's item: pending and failed entries carry the `by_outbox` keys (delivered
/// ones drop out of that index), entries about a request the `by_outbox_request` keys.
fn outbox_item(e: &OutboxEntry) -> Result<Item, StoreError> {
    let mut item = HashMap::from([
        ("pk".into(), s(format!("outbox#{}", e.id))),
        ("sk".into(), s("outbox")),
        ("body".into(), s(to_json(e)?)),
    ]);
    let due = match e.status {
        OutboxStatus::Pending => Some(e.next_at),
        OutboxStatus::Failed => Some(e.done_at.unwrap_or(e.next_at)),
        OutboxStatus::Delivered | OutboxStatus::Superseded => None,
    };
    if let Some(at) = due {
        item.insert("ob_status".into(), s(e.status.as_str()));
        item.insert("ob_due".into(), s(format!("{}#{}", sortable(at), e.order)));
    }
    if let Some(id) = &e.request_id {
        item.insert("ob_req".into(), s(id.as_str()));
        item.insert("ob_order".into(), s(format!("{}#{}", e.order, e.id)));
    }
    Ok(item)
}

/// The catalog's images as compact JSON (`[["no","name"],...]`), at most `max` bytes: the
/// images that fit, in order, and how many did not.
fn compact_images(images: &[CatalogImage], max: usize) -> Result<(String, usize), StoreError> {
    let mut out = String::from("[");
    for (i, image) in images.iter().enumerate() {
        let pair = to_json(&(image.no.as_str(), image.name.as_str()))?;
        // One byte for the comma or the opening bracket, one for the closing bracket.
        if out.len() + pair.len() + 2 > max {
            out.push(']');
            return Ok((out, images.len() - i));
        }
        if i > 0 {
            out.push(',');
        }
        out.push_str(&pair);
    }
    out.push(']');
    Ok((out, 0))
}

fn req_pk(id: &str) -> String {
    format!("req#{id}")
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(backend)
}

/// Reads the JSON `body` attribute of an item.
fn decode<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let key = item_key(item);
    let Some(Av::S(body)) = item.get("body") else {
        return Err(StoreError::Corrupt {
            key,
            detail: "no body attribute".into(),
        });
    };
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt {
        key,
        detail: e.to_string(),
    })
}

fn item_key(item: &Item) -> String {
    let part = |name: &str| match item.get(name) {
        Some(Av::S(v)) => v.clone(),
        Some(Av::N(v)) => v.clone(),
        _ => "?".into(),
    };
    format!("{}/{}", part("pk"), part("sk"))
}

fn number(item: &Item, name: &str) -> Result<u64, StoreError> {
    match item.get(name) {
        Some(Av::N(v)) => v.parse().map_err(|e| StoreError::Corrupt {
            key: item_key(item),
            detail: format!("{name}: {e}"),
        }),
        _ => Err(StoreError::Corrupt {
            key: item_key(item),
            detail: format!("no number attribute {name}"),
        }),
    }
}

fn string(item: &Item, name: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(Av::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::Corrupt {
            key: item_key(item),
            detail: format!("no string attribute {name}"),
        }),
    }
}

/// Seconds since the epoch, rounded up, for DynamoDB's TTL (which only cleans up).
fn ttl_epoch(until_ms: i64) -> i64 {
    (until_ms + 999).div_euclid(1000)
}

impl DynamoStore {
    /// A store whose client is built from the process's AWS configuration on first use.
    pub fn from_env(tables: Tables) -> Self {
        Self {
            client: Arc::new(LazyClient::from_env(Client::new)),
            tables: Arc::new(tables),
            create: None,
            appends: Arc::default(),
        }
    }

    /// Makes the first call create the tables if they are missing (for local stand-ins; on AWS
    /// the deployment template owns the tables and the functions may not create any).
    pub fn creating_tables(mut self) -> Self {
        self.create = Some(Arc::new(tokio::sync::OnceCell::new()));
        self
    }

    /// A store on a ready client (tests point one at a local stand-in).
    pub fn new(client: Client, tables: Tables) -> Self {
        Self {
            client: Arc::new(LazyClient::ready(client, Client::new)),
            tables: Arc::new(tables),
            create: None,
            appends: Arc::default(),
        }
    }

    /// The table names.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    async fn client(&self) -> &Client {
        if let Some(once) = &self.create {
            // A failure is logged and retried by the next call; the call itself then fails on
            // the missing table with the SDK's own message.
            let _ = once
                .get_or_try_init(|| async {
                    self.create_tables().await.inspect_err(
                        |e| tracing::warn!(error = %e, "cannot create the DynamoDB tables"),
                    )
                })
                .await;
        }
        self.client.get().await
    }

    /// Creates both tables if they do not exist and waits until they are active. The deployment
    /// template creates them on AWS; this is for local stand-ins (`store.create_tables`) and tests.
    pub async fn create_tables(&self) -> Result<(), StoreError> {
        let c = self.client.get().await;
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(backend)
        };
        let attr = |name: &str, kind: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind)
                .build()
                .map_err(backend)
        };
        let by_state = GlobalSecondaryIndex::builder()
            .index_name(BY_STATE_INDEX)
            .key_schema(key("req_state", KeyType::Hash)?)
            .key_schema(key("req_created", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(backend)?;
        let by_grant_end = GlobalSecondaryIndex::builder()
            .index_name(BY_GRANT_END_INDEX)
            .key_schema(key("grant_open", KeyType::Hash)?)
            .key_schema(key("grant_end", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(backend)?;
        let sparse = |name: &str, hash: &str, range: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash)?)
                .key_schema(key(range, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(backend)
        };
        let state = c
            .create_table()
            .table_name(&self.tables.state)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .attribute_definitions(attr("pk", ScalarAttributeType::S)?)
            .attribute_definitions(attr("sk", ScalarAttributeType::S)?)
            .attribute_definitions(attr("req_state", ScalarAttributeType::S)?)
            .attribute_definitions(attr("req_created", ScalarAttributeType::S)?)
            .attribute_definitions(attr("grant_open", ScalarAttributeType::S)?)
            .attribute_definitions(attr("grant_end", ScalarAttributeType::S)?)
            .attribute_definitions(attr("req_pending", ScalarAttributeType::S)?)
            .attribute_definitions(attr("req_due", ScalarAttributeType::S)?)
            .global_secondary_indexes(by_state)
            .global_secondary_indexes(by_grant_end)
            .attribute_definitions(attr("ob_status", ScalarAttributeType::S)?)
            .attribute_definitions(attr("ob_due", ScalarAttributeType::S)?)
            .attribute_definitions(attr("ob_req", ScalarAttributeType::S)?)
            .attribute_definitions(attr("ob_order", ScalarAttributeType::S)?)
            .global_secondary_indexes(sparse(BY_OUTBOX_INDEX, "ob_status", "ob_due")?)
            .global_secondary_indexes(sparse(BY_OUTBOX_REQUEST_INDEX, "ob_req", "ob_order")?)
            .global_secondary_indexes(sparse(BY_DUE_INDEX, "req_pending", "req_due")?)
            .send()
            .await;
        let ledger = c
            .create_table()
            .table_name(&self.tables.ledger)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .attribute_definitions(attr("pk", ScalarAttributeType::S)?)
            .attribute_definitions(attr("sk", ScalarAttributeType::N)?)
            .send()
            .await;
        for (table, result) in [
            (&self.tables.state, state.map(|_| ())),
            (&self.tables.ledger, ledger.map(|_| ())),
        ] {
            match result {
                Ok(()) => {}
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_resource_in_use_exception()) => {}
                Err(e) => return Err(sdk(&format!("create table {table}"), e)),
            }
        }
        for table in [&self.tables.state, &self.tables.ledger] {
            for _ in 0..100 {
                let d = c
                    .describe_table()
                    .table_name(table)
                    .send()
                    .await
                    .map_err(|e| sdk("describe table", e))?;
                if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // TTL only cleans up expired leases and delivery keys; a stand-in without it is fine.
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(backend)?;
        if let Err(e) = c
            .update_time_to_live()
            .table_name(&self.tables.state)
            .time_to_live_specification(ttl)
            .send()
            .await
        {
            tracing::debug!(error = %describe_error(&e), "could not enable TTL on the state table");
        }
        Ok(())
    }

    // --- helpers: every method above is built from these ---

    /// Puts `item` into `table` unless an item with its key exists.
    async fn put_if_absent(&self, table: &str, item: Item) -> Result<Inserted, StoreError> {
        let result = self
            .client()
            .await
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(Inserted::New),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Inserted::AlreadyThere)
            }
            Err(e) => Err(sdk("put", e)),
        }
    }

    /// Puts `item` if `condition` holds; `false` when it does not.
    async fn put_if(
        &self,
        table: &str,
        item: Item,
        condition: &str,
        names: &[(&str, &str)],
        values: Item,
    ) -> Result<bool, StoreError> {
        let mut req = self
            .client()
            .await
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(condition);
        for (k, v) in names {
            req = req.expression_attribute_names(*k, *v);
        }
        if !values.is_empty() {
            req = req.set_expression_attribute_values(Some(values));
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk("conditional put", e)),
        }
    }

    /// A strongly consistent read of one item.
    async fn get(&self, table: &str, pk: &str, sk: Av) -> Result<Option<Item>, StoreError> {
        let out = self
            .client()
            .await
            .get_item()
            .table_name(table)
            .key("pk", s(pk))
            .key("sk", sk)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk("get", e))?;
        Ok(out.item)
    }

    /// A query builder on `table` (the caller adds the key condition).
    async fn query_on(&self, table: &str) -> QueryFluentBuilder {
        self.client().await.query().table_name(table)
    }

    /// Runs a query through every page, stopping after `limit` items.
    async fn query(
        &self,
        q: QueryFluentBuilder,
        limit: Option<usize>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let mut req = q.clone().set_exclusive_start_key(start.take());
            if let Some(limit) = limit {
                let left = limit.saturating_sub(out.len());
                if left == 0 {
                    break;
                }
                req = req.limit(left.min(i32::MAX as usize) as i32);
            }
            let page = req.send().await.map_err(|e| sdk("query", e))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Runs `q` like [`Self::query`] and decodes every item's body.
    async fn query_decoded<T: serde::de::DeserializeOwned>(
        &self,
        q: QueryFluentBuilder,
        limit: Option<usize>,
    ) -> Result<Vec<T>, StoreError> {
        self.query(q, limit).await?.iter().map(decode).collect()
    }

    /// The decoded items of partition `pk` whose sort key starts with `prefix`, in sort-key
    /// order.
    async fn query_prefix<T: serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        let q = self
            .query_on(&self.tables.state)
            .await
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true);
        self.query_decoded(q, None).await
    }

    /// The ledger head, strongly consistent.
    async fn head(&self) -> Result<Option<(u64, String)>, StoreError> {
        let Some(item) = self.get(&self.tables.ledger, "head", n(0)).await? else {
            return Ok(None);
        };
        Ok(Some((number(&item, "seq")?, string(&item, "hash")?)))
    }

    /// The writes that append `records` (chained in order) after `prev_seq`: each record, its
    /// per-request copy, and the head, conditioned on the head still being `prev_seq`.
    fn ledger_writes(
        &self,
        records: &[AuditRecord],
        prev_seq: Option<u64>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let table = &self.tables.ledger;
        let mut writes = Vec::new();
        for record in records {
            let body = to_json(record)?;
            let record_item = |pk: String| -> Result<TransactWriteItem, StoreError> {
                let put = Put::builder()
                    .table_name(table)
                    .item("pk", s(pk))
                    .item("sk", n(record.seq))
                    .item("body", s(body.clone()))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(backend)?;
                Ok(TransactWriteItem::builder().put(put).build())
            };
            writes.push(record_item("all".into())?);
            if let Some(id) = &record.entry.request_id {
                writes.push(record_item(req_pk(id))?);
            }
        }
        let Some(last) = records.last() else {
            return Ok(writes);
        };
        let head = Put::builder()
            .table_name(table)
            .item("pk", s("head"))
            .item("sk", n(0))
            .item("seq", n(last.seq))
            .item("hash", s(last.hash.clone()));
        let head = match prev_seq {
            None => head.condition_expression("attribute_not_exists(pk)"),
            Some(prev) => head
                .condition_expression("#seq = :prev")
                .expression_attribute_names("#seq", "seq")
                .expression_attribute_values(":prev", n(prev)),
        };
        writes.push(
            TransactWriteItem::builder()
                .put(head.build().map_err(backend)?)
                .build(),
        );
        Ok(writes)
    }

    /// Runs a transaction; `Ok(false)` when it was cancelled (a condition failed or another
    /// transaction touched the same items), which the callers answer by re-reading.
    async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        let result = self
            .client()
            .await
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                // Conflicts with another transaction arrive as a cancellation too.
                if e
                    .as_service_error()
                    .is_some_and(|e| e.is_transaction_canceled_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk("transaction", e)),
        }
    }

    /// Chains `entry` onto the ledger, with `extra` writes (a request update) in the same
    /// transaction. Returns `None` when `lost` says a cancelled transaction lost on an `extra`
    /// condition rather than on the head.
    async fn append_with<F, Fut>(
        &self,
        entry: AuditEntry,
        extra: Vec<TransactWriteItem>,
        lost: F,
    ) -> Result<Option<AuditRecord>, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<bool, StoreError>>,
    {
        Ok(self
            .append_many_with(vec![entry], extra, lost)
            .await?
            .and_then(|mut r| r.pop()))
    }

    /// Chains `entries` onto the ledger in order, with `extra` writes in the same transaction.
    async fn append_many_with<F, Fut>(
        &self,
        entries: Vec<AuditEntry>,
        extra: Vec<TransactWriteItem>,
        lost: F,
    ) -> Result<Option<Vec<AuditRecord>>, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<bool, StoreError>>,
    {
        let mut known_head = self.appends.lock().await;
        let mut head = match known_head.take() {
            Some(head) => Some(head),
            None => self.head().await?,
        };
        let mut pause = Duration::from_millis(1);
        for _ in 0..MAX_APPEND_ATTEMPTS {
            let mut records: Vec<AuditRecord> = Vec::with_capacity(entries.len());
            for entry in &entries {
                let prev = records
                    .last()
                    .map(|r| (r.seq, r.hash.as_str()))
                    .or(head.as_ref().map(|(s, h)| (*s, h.as_str())));
                records.push(audit::chain(prev, entry.clone()));
            }
            let mut writes = extra.clone();
            writes.extend(self.ledger_writes(&records, head.as_ref().map(|(s, _)| *s))?);
            // On an error the outcome is unknown: the memory stays empty and the next append reads.
            if self.transact(writes).await? {
                *known_head = records.last().map(|r| (r.seq, r.hash.clone()));
                return Ok(Some(records));
            }
            let fresh = self.head().await?;
            if lost().await? {
                *known_head = fresh;
                return Ok(None);
            }
            if fresh == head {
                // Cancelled although nobody moved the head: a transaction conflict. Wait a
                // little (jittered, growing) before trying the same head again.
                let jitter =
                    Duration::from_micros(rand::random_range(0..=pause.as_micros() as u64));
                tokio::time::sleep(pause / 2 + jitter).await;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            // Another process appended: chain onto its head.
            head = fresh;
        }
        Err(StoreError::Failed(format!(
            "dynamodb: gave up appending to the ledger after {MAX_APPEND_ATTEMPTS} lost races"
        )))
    }

    /// Which condition of `change` does not hold now (after a cancelled transaction).
    async fn conflict_of(&self, change: &Change) -> Result<Option<Conflict>, StoreError> {
        if let Some(d) = &change.delivery
            && let Some(item) = self
                .get(
                    &self.tables.state,
                    &format!("delivery#{}", d.key),
                    s("delivery"),
                )
                .await?
            && number(&item, "until_ms")? as i64 > d.now.timestamp_millis()
        {
            return Ok(Some(Conflict::Delivery));
        }
        if let Some(r) = &change.insert
            && self.request(&r.id).await?.is_some()
        {
            return Ok(Some(Conflict::Request));
        }
        if let Some(r) = &change.update
            && self.version_moved(&r.id, r.version).await?
        {
            return Ok(Some(Conflict::Request));
        }
        if let Some(a) = &change.approval
            && self
                .get(
                    &self.tables.state,
                    &req_pk(a.request_id.as_str()),
                    s(format!("approval#{}", a.person.as_str())),
                )
                .await?
                .is_some()
        {
            return Ok(Some(Conflict::Approval));
        }
        Ok(None)
    }

    /// A request's item; a pending one also carries the `by_due` index keys. Every write of a
    /// request replaces the whole item, so a request that leaves pending leaves the index.
    fn request_item(&self, r: &ShareRequest) -> Result<Item, StoreError> {
        let mut item = HashMap::from([
            ("pk".into(), s(req_pk(r.id.as_str()))),
            ("sk".into(), s("request")),
            ("body".into(), s(to_json(r)?)),
            ("ver".into(), n(r.version)),
            ("req_state".into(), s(r.state.as_str())),
            (
                "req_created".into(),
                s(format!("{}#{}", sortable(r.created_at), r.id)),
            ),
        ]);
        if r.state == RequestState::Pending {
            item.insert("req_pending".into(), s("pending"));
            item.insert(
                "req_due".into(),
                s(format!("{}#{}", sortable(r.expires_at), r.id)),
            );
        }
        Ok(item)
    }

    /// The put that replaces a request if its stored version is still `expected`.
    fn request_cas(&self, next: &ShareRequest, expected: u64) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.tables.state)
            .set_item(Some(self.request_item(next)?))
            .condition_expression("#ver = :expected")
            .expression_attribute_names("#ver", "ver")
            .expression_attribute_values(":expected", n(expected))
            .build()
            .map_err(backend)
    }

    /// Whether the stored request is no longer at `expected` (or is gone).
    async fn version_moved(&self, id: &RequestId, expected: u64) -> Result<bool, StoreError> {
        let item = self
            .get(&self.tables.state, &req_pk(id.as_str()), s("request"))
            .await?;
        Ok(match item {
            None => true,
            Some(item) => number(&item, "ver")? != expected,
        })
    }

    async fn query_state(
        &self,
        state: RequestState,
        limit: usize,
    ) -> Result<Vec<ShareRequest>, StoreError> {
        let q = self
            .query_on(&self.tables.state)
            .await
            .index_name(BY_STATE_INDEX)
            .key_condition_expression("req_state = :state")
            .expression_attribute_values(":state", s(state.as_str()))
            .scan_index_forward(false);
        self.query_decoded(q, Some(limit)).await
    }
}

#[async_trait::async_trait]
impl Store for DynamoStore {
    async fn insert_request(&self, request: &ShareRequest) -> Result<Inserted, StoreError> {
        let mut r = request.clone();
        r.version = 1;
        self.put_if_absent(&self.tables.state, self.request_item(&r)?)
            .await
    }

    async fn request(&self, id: &RequestId) -> Result<Option<ShareRequest>, StoreError> {
        self.get(&self.tables.state, &req_pk(id.as_str()), s("request"))
            .await?
            .map(|item| decode(&item))
            .transpose()
    }

    async fn update_request(
        &self,
        request: &ShareRequest,
    ) -> Result<Option<ShareRequest>, StoreError> {
        let expected = request.version;
        let mut next = request.clone();
        next.version = expected + 1;
        let replaced = self
            .put_if(
                &self.tables.state,
                self.request_item(&next)?,
                "#ver = :expected",
                &[("#ver", "ver")],
                HashMap::from([(":expected".into(), n(expected))]),
            )
            .await?;
        Ok(replaced.then_some(next))
    }

    async fn update_request_audited(
        &self,
        request: &ShareRequest,
        entry: AuditEntry,
    ) -> Result<Option<(ShareRequest, AuditRecord)>, StoreError> {
        let expected = request.version;
        let mut next = request.clone();
        next.version = expected + 1;
        let cas = TransactWriteItem::builder()
            .put(self.request_cas(&next, expected)?)
            .build();
        let id = next.id.clone();
        // A cancelled transaction lost either on the request's version (someone else changed it:
        // the caller's answer is `None`) or on the ledger head (another append: chain again).
        let record = self
            .append_with(entry, vec![cas], || self.version_moved(&id, expected))
            .await?;
        Ok(record.map(|record| (next, record)))
    }

    async fn pending_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ShareRequest>, StoreError> {
        // The index holds only pending requests, sorted by deadline: one range query, a page.
        let q = self
            .query_on(&self.tables.state)
            .await
            .index_name(BY_DUE_INDEX)
            .key_condition_expression("req_pending = :pending AND req_due <= :now")
            .expression_attribute_values(":pending", s("pending"))
            // `~` sorts after every character of the `#ID` suffix, so a deadline of exactly `now` is in.
            .expression_attribute_values(":now", s(format!("{}~", sortable(now))));
        let mut due: Vec<ShareRequest> = self.query_decoded(q, Some(limit)).await?;
        // The index is eventually consistent: a request that left pending a moment ago may still
        // be listed (the caller compare-and-swaps anyway).
        due.retain(|r| r.state == RequestState::Pending && r.expires_at <= now);
        Ok(due)
    }

    async fn requests(
        &self,
        state: Option<RequestState>,
        limit: usize,
    ) -> Result<Vec<ShareRequest>, StoreError> {
        let mut all = match state {
            Some(state) => self.query_state(state, limit).await?,
            None => {
                let mut all = Vec::new();
                for state in RequestState::ALL {
                    all.extend(self.query_state(state, limit).await?);
                }
                all
            }
        };
        all.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.as_str().cmp(b.id.as_str()))
        });
        all.truncate(limit);
        Ok(all)
    }

    async fn insert_approval(&self, approval: &Approval) -> Result<Inserted, StoreError> {
        self.put_if_absent(&self.tables.state, approval_item(approval)?)
            .await
    }

    async fn approvals(&self, id: &RequestId) -> Result<Vec<Approval>, StoreError> {
        let mut all: Vec<Approval> = self.query_prefix(&req_pk(id.as_str()), "approval#").await?;
        all.sort_by(|a, b| {
            a.at.cmp(&b.at)
                .then_with(|| a.person.as_str().cmp(b.person.as_str()))
        });
        Ok(all)
    }

    async fn insert_grant(&self, grant: &Grant) -> Result<Inserted, StoreError> {
        self.put_if_absent(&self.tables.state, grant_item(grant)?)
            .await
    }

    async fn grants_ending_by(&self, until: DateTime<Utc>) -> Result<Vec<Grant>, StoreError> {
        // The index holds only open, time-boxed grants, sorted by end time: one range query.
        let q = self
            .query_on(&self.tables.state)
            .await
            .index_name(BY_GRANT_END_INDEX)
            .key_condition_expression("grant_open = :open AND grant_end <= :until")
            .expression_attribute_values(":open", s("open"))
            // `~` sorts after every character of the suffix, so a grant ending exactly at `until` is in.
            .expression_attribute_values(":until", s(format!("{}~", sortable(until))));
        let mut due: Vec<Grant> = self
            .query(q, None)
            .await?
            .iter()
            .map(decode::<Grant>)
            .collect::<Result<_, _>>()?;
        // The index is eventually consistent: a grant ended a moment ago may still be listed.
        due.retain(|g| g.ended_at.is_none() && g.ends_at.is_some_and(|e| e <= until));
        due.sort_by(|a, b| {
            a.ends_at
                .cmp(&b.ends_at)
                .then_with(|| a.image_no.cmp(&b.image_no))
                .then_with(|| a.target.cmp(&b.target))
                .then_with(|| a.request_id.cmp(&b.request_id))
        });
        Ok(due)
    }

    async fn end_grant(&self, grant: &Grant, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut ended = grant.clone();
        ended.ended_at = Some(at);
        // Replaces the item only while it is still open: of racing callers one wins. The new item
        // has no index attributes, so it leaves the sweep's index.
        self.put_if(
            &self.tables.state,
            grant_item(&ended)?,
            "#ended = :open",
            &[("#ended", "ended")],
            HashMap::from([(":open".into(), Av::Bool(false))]),
        )
        .await
    }

    async fn active_grants(&self, image: &ImageNo) -> Result<Vec<Grant>, StoreError> {
        let mut active: Vec<Grant> = self
            .query_prefix(&format!("image#{image}"), "grant#")
            .await?;
        active.retain(|g| g.ended_at.is_none());
        active.sort_by(|a, b| {
            (a.target.as_str(), a.request_id.as_str())
                .cmp(&(b.target.as_str(), b.request_id.as_str()))
        });
        Ok(active)
    }

    async fn acquire_lease(
        &self,
        key: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now_ms = now.timestamp_millis();
        let until = now_ms + ttl.as_millis() as i64;
        let item = HashMap::from([
            ("pk".into(), s(format!("lease#{key}"))),
            ("sk".into(), s("lease")),
            ("holder".into(), s(holder)),
            ("until_ms".into(), n(until)),
            (TTL_ATTRIBUTE.into(), n(ttl_epoch(until))),
        ]);
        self.put_if(
            &self.tables.state,
            item,
            "attribute_not_exists(pk) OR #until <= :now OR #holder = :holder",
            &[("#until", "until_ms"), ("#holder", "holder")],
            HashMap::from([(":now".into(), n(now_ms)), (":holder".into(), s(holder))]),
        )
        .await
    }

    async fn release_lease(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        let result = self
            .client()
            .await
            .delete_item()
            .table_name(&self.tables.state)
            .key("pk", s(format!("lease#{key}")))
            .key("sk", s("lease"))
            .condition_expression("#holder = :holder")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Someone else holds it now (ours expired): theirs stays.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk("release lease", e)),
        }
    }

    async fn first_delivery(
        &self,
        key: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now_ms = now.timestamp_millis();
        let until = now_ms + ttl.as_millis() as i64;
        let item = HashMap::from([
            ("pk".into(), s(format!("delivery#{key}"))),
            ("sk".into(), s("delivery")),
            ("until_ms".into(), n(until)),
            (TTL_ATTRIBUTE.into(), n(ttl_epoch(until))),
        ]);
        self.put_if(
            &self.tables.state,
            item,
            "attribute_not_exists(pk) OR #until <= :now",
            &[("#until", "until_ms")],
            HashMap::from([(":now".into(), n(now_ms))]),
        )
        .await
    }

    async fn save_message_ref(
        &self,
        id: &RequestId,
        kind: &str,
        reference: &str,
    ) -> Result<(), StoreError> {
        self.client()
            .await
            .put_item()
            .table_name(&self.tables.state)
            .item("pk", s(req_pk(id.as_str())))
            .item("sk", s(format!("msg#{kind}")))
            .item("ref", s(reference))
            .send()
            .await
            .map_err(|e| sdk("save message reference", e))?;
        Ok(())
    }

    async fn message_ref(&self, id: &RequestId, kind: &str) -> Result<Option<String>, StoreError> {
        self.get(
            &self.tables.state,
            &req_pk(id.as_str()),
            s(format!("msg#{kind}")),
        )
        .await?
        .map(|item| string(&item, "ref"))
        .transpose()
    }

    async fn append_audit(&self, entry: AuditEntry) -> Result<AuditRecord, StoreError> {
        let record = self
            .append_with(entry, Vec::new(), || async { Ok(false) })
            .await?;
        record
            .ok_or_else(|| StoreError::Failed("dynamodb: an append without conditions lost".into()))
    }

    async fn audit_records(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let q = self
            .query_on(&self.tables.ledger)
            .await
            .key_condition_expression("pk = :pk AND sk > :after")
            .expression_attribute_values(":pk", s("all"))
            .expression_attribute_values(":after", n(after))
            .consistent_read(true);
        self.query_decoded(q, Some(limit)).await
    }

    async fn audit_head(&self) -> Result<Option<(u64, String)>, StoreError> {
        self.head().await
    }

    async fn audit_for_request(&self, id: &RequestId) -> Result<Vec<AuditRecord>, StoreError> {
        let q = self
            .query_on(&self.tables.ledger)
            .await
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(req_pk(id.as_str())))
            .consistent_read(true);
        self.query_decoded(q, None).await
    }

    async fn commit(&self, change: Change) -> Result<Committed, StoreError> {
        let mut writes = Vec::new();
        let put = |item: Item, condition: Option<&str>| -> Result<TransactWriteItem, StoreError> {
            let mut p = Put::builder()
                .table_name(&self.tables.state)
                .set_item(Some(item));
            if let Some(c) = condition {
                p = p.condition_expression(c);
            }
            Ok(TransactWriteItem::builder()
                .put(p.build().map_err(backend)?)
                .build())
        };
        if let Some(d) = &change.delivery {
            let until = d.until.timestamp_millis();
            let p = Put::builder()
                .table_name(&self.tables.state)
                .set_item(Some(HashMap::from([
                    ("pk".into(), s(format!("delivery#{}", d.key))),
                    ("sk".into(), s("delivery")),
                    ("until_ms".into(), n(until)),
                    (TTL_ATTRIBUTE.into(), n(ttl_epoch(until))),
                ])))
                .condition_expression("attribute_not_exists(pk) OR #until <= :now")
                .expression_attribute_names("#until", "until_ms")
                .expression_attribute_values(":now", n(d.now.timestamp_millis()))
                .build()
                .map_err(backend)?;
            writes.push(TransactWriteItem::builder().put(p).build());
        }
        if let Some(r) = &change.insert {
            let mut r = r.clone();
            r.version = 1;
            writes.push(put(
                self.request_item(&r)?,
                Some("attribute_not_exists(pk)"),
            )?);
        }
        if let Some(r) = &change.update {
            let mut next = r.clone();
            next.version = r.version + 1;
            writes.push(
                TransactWriteItem::builder()
                    .put(self.request_cas(&next, r.version)?)
                    .build(),
            );
        }
        if let Some(a) = &change.approval {
            writes.push(put(approval_item(a)?, Some("attribute_not_exists(pk)"))?);
        }
        for e in &change.outbox {
            writes.push(put(outbox_item(e)?, None)?);
        }
        if change.audit.is_empty() {
            if self.transact(writes).await? {
                return Ok(Committed::Done(Vec::new()));
            }
            return Ok(Committed::Conflict(
                self.conflict_of(&change)
                    .await?
                    // Cancelled with every condition holding: a conflict with another
                    // transaction on the same items. The caller re-reads, as after a lost race.
                    .unwrap_or(Conflict::Request),
            ));
        }
        let found = std::sync::Mutex::new(None);
        let records = self
            .append_many_with(change.audit.clone(), writes, || async {
                let c = self.conflict_of(&change).await?;
                *found.lock().unwrap_or_else(|p| p.into_inner()) = c;
                Ok(c.is_some())
            })
            .await?;
        Ok(match records {
            Some(records) => Committed::Done(records),
            None => Committed::Conflict(
                found
                    .into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .unwrap_or(Conflict::Request),
            ),
        })
    }

    async fn outbox_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        // The sparse index holds pending (and failed) entries only, sorted by next attempt.
        let q = self
            .query_on(&self.tables.state)
            .await
            .index_name(BY_OUTBOX_INDEX)
            .key_condition_expression("ob_status = :p AND ob_due <= :now")
            .expression_attribute_values(":p", s("pending"))
            .expression_attribute_values(":now", s(format!("{}~", sortable(now))));
        let mut due: Vec<OutboxEntry> = self.query_decoded(q, Some(limit)).await?;
        // The index may lag a write: what it lists is what it lists, the status in the body decides.
        due.retain(|e| e.status == OutboxStatus::Pending);
        due.sort_by(|a, b| a.order.cmp(&b.order));
        Ok(due)
    }

    async fn save_outbox(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        self.client()
            .await
            .put_item()
            .table_name(&self.tables.state)
            .set_item(Some(outbox_item(entry)?))
            .send()
            .await
            .map_err(|e| sdk("put outbox entry", e))?;
        Ok(())
    }

    async fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>, StoreError> {
        self.get(&self.tables.state, &format!("outbox#{id}"), s("outbox"))
            .await?
            .map(|item| decode(&item))
            .transpose()
    }

    async fn outbox(&self, query: OutboxQuery) -> Result<Vec<OutboxEntry>, StoreError> {
        let limit = Some(query.limit);
        let items = if let Some(id) = &query.request {
            let q = self
                .query_on(&self.tables.state)
                .await
                .index_name(BY_OUTBOX_REQUEST_INDEX)
                .key_condition_expression("ob_req = :r")
                .expression_attribute_values(":r", s(id.as_str()));
            self.query(q, None).await?
        } else {
            let mut items = Vec::new();
            for status in match query.status {
                Some(st) => vec![st],
                None => vec![OutboxStatus::Pending, OutboxStatus::Failed],
            } {
                let q = self
                    .query_on(&self.tables.state)
                    .await
                    .index_name(BY_OUTBOX_INDEX)
                    .key_condition_expression("ob_status = :st")
                    .expression_attribute_values(":st", s(status.as_str()));
                items.extend(self.query(q, limit).await?);
            }
            items
        };
        let mut all: Vec<OutboxEntry> = items.iter().map(decode).collect::<Result<_, _>>()?;
        all.retain(|e| query.status.is_none_or(|st| e.status == st));
        all.sort_by(|a, b| a.order.cmp(&b.order));
        all.truncate(query.limit);
        Ok(all)
    }

    async fn outbox_oldest_pending(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        // The `by_outbox` index is sorted by next attempt, not by age: read its pending
        // partition's keys only (`ob_due` = next attempt `#` order, and the order starts with
        // the creation time), then confirm the oldest by a strongly consistent read, since the
        // index may still list an entry delivered a moment ago.
        let q = self
            .query_on(&self.tables.state)
            .await
            .index_name(BY_OUTBOX_INDEX)
            .key_condition_expression("ob_status = :p")
            .expression_attribute_values(":p", s("pending"))
            .projection_expression("pk, ob_due");
        let mut candidates: Vec<(DateTime<Utc>, String)> = Vec::new();
        for item in self.query(q, None).await? {
            let (Some(Av::S(pk)), Some(Av::S(due))) = (item.get("pk"), item.get("ob_due")) else {
                continue;
            };
            let created = due
                .split('#')
                .nth(1)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            match (created, pk.strip_prefix("outbox#")) {
                (Some(created), Some(id)) => candidates.push((created, id.to_string())),
                _ => {
                    return Err(StoreError::Failed(format!(
                        "outbox index key {due:?} of {pk} is not `next#created#…`"
                    )));
                }
            }
        }
        candidates.sort();
        // An entry delivered since the index listed it is passed over; after a handful of
        // those the index lags badly, and the next one it lists is taken as it is.
        for (_, id) in candidates.iter().take(5) {
            if let Some(entry) = self.outbox_entry(id).await?
                && entry.status == OutboxStatus::Pending
            {
                return Ok(Some(entry.created_at));
            }
        }
        Ok(candidates.get(5).map(|(created, _)| *created))
    }

    async fn outbox_pending_count(&self) -> Result<usize, StoreError> {
        let mut count = 0usize;
        let mut start = None;
        loop {
            let page = self
                .client()
                .await
                .query()
                .table_name(&self.tables.state)
                .index_name(BY_OUTBOX_INDEX)
                .key_condition_expression("ob_status = :p")
                .expression_attribute_values(":p", s("pending"))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk("count outbox", e))?;
            count += page.count as usize;
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(count),
            }
        }
    }

    async fn save_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<Inserted, StoreError> {
        let item = HashMap::from([
            ("pk".into(), s(CHECKPOINT_PK)),
            ("sk".into(), n(checkpoint.size)),
            (
                "body".into(),
                s(serde_json::to_string(checkpoint).map_err(backend)?),
            ),
        ]);
        self.put_if_absent(&self.tables.ledger, item).await
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let q = self
            .query_on(&self.tables.ledger)
            .await
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(CHECKPOINT_PK))
            .scan_index_forward(false)
            .consistent_read(true);
        self.query(q, Some(1))
            .await?
            .first()
            .map(decode)
            .transpose()
    }

    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let q = self
            .query_on(&self.tables.ledger)
            .await
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(CHECKPOINT_PK))
            .consistent_read(true);
        self.query_decoded(q, None).await
    }

    async fn save_image_catalog(&self, catalog: &ImageCatalog) -> Result<(), StoreError> {
        let (images, dropped) = compact_images(&catalog.images, CATALOG_MAX_BYTES)?;
        if dropped > 0 {
            tracing::warn!(
                kept = catalog.images.len() - dropped,
                dropped,
                limit_bytes = CATALOG_MAX_BYTES,
                "the image catalog is larger than one DynamoDB item holds; the images past the limit (by name) are left out of the picker"
            );
        }
        let at = sortable(catalog.refreshed_at);
        let item = HashMap::from([
            ("pk".into(), s(CATALOG_PK)),
            ("sk".into(), s("catalog")),
            ("refreshed_at".into(), s(at.clone())),
            ("images".into(), s(images)),
            ("dropped".into(), n(dropped)),
        ]);
        // An older list (a refresh that started first and finished last) changes nothing;
        // the condition's `false` is that case.
        self.put_if(
            &self.tables.state,
            item,
            "attribute_not_exists(pk) OR refreshed_at <= :at",
            &[],
            HashMap::from([(":at".into(), s(at))]),
        )
        .await?;
        Ok(())
    }

    async fn image_catalog(&self) -> Result<Option<ImageCatalog>, StoreError> {
        let Some(item) = self
            .get(&self.tables.state, CATALOG_PK, s("catalog"))
            .await?
        else {
            return Ok(None);
        };
        let corrupt = |detail: String| StoreError::Corrupt {
            key: item_key(&item),
            detail,
        };
        let refreshed_at = DateTime::parse_from_rfc3339(&string(&item, "refreshed_at")?)
            .map_err(|e| corrupt(format!("refreshed_at: {e}")))?
            .with_timezone(&Utc);
        let pairs: Vec<(ImageNo, String)> = serde_json::from_str(&string(&item, "images")?)
            .map_err(|e| corrupt(format!("images: {e}")))?;
        Ok(Some(ImageCatalog {
            images: pairs
                .into_iter()
                .map(|(no, name)| CatalogImage { no, name })
                .collect(),
            refreshed_at,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(no: u64, name: &str) -> CatalogImage {
        CatalogImage {
            no: ImageNo::parse(&no.to_string()).unwrap(),
            name: name.into(),
        }
    }

    #[test]
    fn the_catalog_is_compact_json_and_keeps_what_fits_in_order() {
        let images = [image(1, "a"), image(22, "b \"q\""), image(333, "c")];
        let (all, dropped) = compact_images(&images, CATALOG_MAX_BYTES).unwrap();
        assert_eq!(all, r#"[["1","a"],["22","b \"q\""],["333","c"]]"#);
        assert_eq!(dropped, 0);
        let parsed: Vec<(String, String)> = serde_json::from_str(&all).unwrap();
        assert_eq!(parsed[1].1, "b \"q\"");

        // Exactly the first two fit.
        let two = r#"[["1","a"],["22","b \"q\""]]"#.len();
        assert_eq!(compact_images(&images, two).unwrap(), (two_of(&images), 1));
        assert_eq!(
            compact_images(&images, two - 1).unwrap(),
            (r#"[["1","a"]]"#.into(), 2)
        );
        assert_eq!(compact_images(&images, 3).unwrap(), ("[]".into(), 3));
        assert_eq!(compact_images(&[], 2).unwrap(), ("[]".into(), 0));
    }

    fn two_of(images: &[CatalogImage]) -> String {
        compact_images(&images[..2], CATALOG_MAX_BYTES).unwrap().0
    }

    #[test]
    fn a_catalog_of_many_images_stays_under_the_item_limit() {
        let images: Vec<CatalogImage> = (0..20_000u64)
            .map(|i| image(1_000_000_000 + i, &format!("{:-<50}", format!("image-{i}"))))
            .collect();
        let (json, dropped) = compact_images(&images, CATALOG_MAX_BYTES).unwrap();
        assert!(json.len() <= CATALOG_MAX_BYTES);
        assert!(dropped > 0 && dropped < images.len());
        let kept: Vec<(String, String)> = serde_json::from_str(&json).unwrap();
        assert_eq!(kept.len() + dropped, images.len());
        assert_eq!(
            kept[0].0, "1000000000",
            "the first images are the ones kept"
        );
    }
}
