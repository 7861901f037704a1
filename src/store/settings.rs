//! The `[store]` settings: which backend, and where it keeps its data. The store's own type;
//! the configuration embeds it.

use serde::Deserialize;
use std::path::PathBuf;

crate::choice::named_choice! {
    /// `store.kind`: which backend keeps the data.
    #[derive(Default)]
    pub enum StoreKind at "store.kind" {
        /// SQLite, embedded (the default).
        #[default]
        Sqlite = "sqlite",
        /// DynamoDB (on AWS).
        Dynamodb = "dynamodb",
        /// PostgreSQL (several `serve` replicas on one database).
        Postgres = "postgres",
    }
}

/// `[store]`: which backend keeps requests, approvals, grants and the ledger.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite` (embedded; the default), `dynamodb` or `postgres`.
    pub kind: StoreKind,
    /// Path of the SQLite database file.
    pub path: PathBuf,
    /// DynamoDB: the table of requests, approvals, grants, leases and delivery keys.
    pub table: String,
    /// DynamoDB: the table of the audit ledger.
    pub ledger_table: String,
    /// DynamoDB: create missing tables on first use (local stand-ins; on AWS the template owns them).
    pub create_tables: bool,
    /// PostgreSQL: `postgres://USER@HOST:PORT/DATABASE?sslmode=require` (or libpq's
    /// `key=value` form). Empty: the `PG*` environment variables (`PGHOST`, `PGPORT`, `PGUSER`,
    /// `PGDATABASE`, `PGSSLMODE`). The password belongs in the secret `POSTGRES_PASSWORD` (or
    /// `PGPASSWORD`), not here.
    pub url: String,
    /// PostgreSQL: the schema the tables live in (created if missing).
    pub schema: String,
    /// PostgreSQL: the most connections this process opens (each replica its own).
    pub pool_size: usize,
    /// PostgreSQL: a PEM file of CA certificates trusted besides the system's (the CA of NCP
    /// Cloud DB for PostgreSQL, or your own). The server's certificate is always verified.
    pub ssl_root_cert: Option<PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            kind: StoreKind::Sqlite,
            path: PathBuf::from("data/ncp-share-approver.db"),
            table: "ncp-share-approver".into(),
            ledger_table: "ncp-share-approver-ledger".into(),
            create_tables: false,
            url: String::new(),
            schema: "public".into(),
            pool_size: 16,
            ssl_root_cert: None,
        }
    }
}

impl StoreConfig {
    /// What is wrong with these settings, as (key, why); `None` when nothing is.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        match self.kind {
            StoreKind::Dynamodb if self.table.is_empty() || self.ledger_table.is_empty() => Some((
                "store.table / store.ledger_table",
                "DynamoDB needs both table names".into(),
            )),
            StoreKind::Postgres if !super::postgres::valid_schema(&self.schema) => Some((
                "store.schema",
                format!(
                    "{:?} is not a schema name this store uses: lower-case letters, digits and _, starting with a letter or _, at most 48",
                    self.schema
                ),
            )),
            StoreKind::Postgres if self.pool_size == 0 => {
                Some(("store.pool_size", "must be at least 1".into()))
            }
            _ => None,
        }
    }
}
