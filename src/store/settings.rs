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
    }
}

/// `[store]`: which backend keeps requests, approvals, grants and the ledger.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite` (embedded; the default) or `dynamodb`.
    pub kind: StoreKind,
    /// Path of the SQLite database file.
    pub path: PathBuf,
    /// DynamoDB: the table of requests, approvals, grants, leases and delivery keys.
    pub table: String,
    /// DynamoDB: the table of the audit ledger.
    pub ledger_table: String,
    /// DynamoDB: create missing tables on first use (local stand-ins; on AWS the template owns them).
    pub create_tables: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            kind: StoreKind::Sqlite,
            path: PathBuf::from("data/ncp-share-approver.db"),
            table: "ncp-share-approver".into(),
            ledger_table: "ncp-share-approver-ledger".into(),
            create_tables: false,
        }
    }
}

impl StoreConfig {
    /// What is wrong with these settings, as (key, why); `None` when nothing is.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        (self.kind == StoreKind::Dynamodb
            && (self.table.is_empty() || self.ledger_table.is_empty()))
        .then(|| {
            (
                "store.table / store.ledger_table",
                "DynamoDB needs both table names".into(),
            )
        })
    }
}
