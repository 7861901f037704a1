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
#[derive(Clone, Deserialize)]
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

// By hand, so that a password someone put in `url` never reaches a log or an error.
impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("kind", &self.kind)
            .field("path", &self.path)
            .field("table", &self.table)
            .field("ledger_table", &self.ledger_table)
            .field("create_tables", &self.create_tables)
            .field("url", &redacted(&self.url))
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .finish()
    }
}

/// `url` with its password (URL form `user:password@`, or `password=...` pairs) replaced by `***`.
pub fn redacted(url: &str) -> String {
    if let Some(scheme) = url.find("://") {
        let rest = &url[scheme + 3..];
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@')
            && let Some(colon) = rest[..at].find(':')
        {
            return format!(
                "{}{}:***{}",
                &url[..scheme + 3],
                &rest[..colon],
                &rest[at..]
            );
        }
        return url.to_string();
    }
    url.split(' ')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.trim() == "password" => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_never_prints() {
        for (url, shown) in [
            (
                "postgres://svc:hunter2@db:5432/app?sslmode=require",
                "postgres://svc:***@db:5432/app?sslmode=require",
            ),
            ("postgresql://svc@db/app", "postgresql://svc@db/app"),
            (
                "host=db user=svc password=hunter2 dbname=app",
                "host=db user=svc password=*** dbname=app",
            ),
            ("", ""),
        ] {
            assert_eq!(redacted(url), shown);
        }
        let c = StoreConfig {
            url: "postgres://svc:hunter2@db/app".into(),
            ..StoreConfig::default()
        };
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("svc:***@db"), "{printed}");
    }
}
