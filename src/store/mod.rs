//! The backends of the `Store` port (the port itself and the types it speaks are in
//! `workflow::ports::store`, re-exported here for the old paths).
//!
//! Backends: [`SqliteStore`] (embedded, the default) and [`DynamoStore`] (on AWS). Every backend
//! passes the same suite (`tests/api/store.rs`).

mod dynamodb;
pub mod settings;
mod sqlite;

pub use dynamodb::{
    BY_DUE_INDEX, BY_OUTBOX_INDEX, BY_OUTBOX_REQUEST_INDEX, BY_STATE_INDEX, DynamoStore,
    TTL_ATTRIBUTE, Tables,
};
pub use settings::{StoreConfig, StoreKind};
pub use sqlite::SqliteStore;

// The port, the types it speaks and its helpers live in the core; re-exported for the old paths.
pub use crate::workflow::ports::store::*;

/// Opens the store the configuration names.
pub fn open(config: &StoreConfig) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    match config.kind {
        StoreKind::Sqlite => Ok(std::sync::Arc::new(SqliteStore::open(&config.path)?)),
        StoreKind::Dynamodb => {
            let store = DynamoStore::from_env(Tables {
                state: config.table.clone(),
                ledger: config.ledger_table.clone(),
            });
            Ok(std::sync::Arc::new(if config.create_tables {
                store.creating_tables()
            } else {
                store
            }))
        }
    }
}
