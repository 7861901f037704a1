//! The backends of the `Store` port (the port itself and the types it speaks are in
//! `workflow::ports::store`, re-exported here for the old paths).
//!
//! Backends: [`SqliteStore`] (embedded, the default), [`DynamoStore`] (on AWS) and
//! [`PostgresStore`] (several replicas on one database). Every backend passes the same suite
//! (`tests/api/store/conformance.rs`).

mod dynamodb;
pub mod postgres;
pub mod settings;
mod sqlite;

pub use dynamodb::{
    BY_DUE_INDEX, BY_OUTBOX_INDEX, BY_OUTBOX_REQUEST_INDEX, BY_STATE_INDEX, DynamoStore,
    TTL_ATTRIBUTE, Tables,
};
pub use postgres::{PostgresStore, Wakeup};
pub use settings::{StoreConfig, StoreKind};
pub use sqlite::SqliteStore;

// The port, the types it speaks and its helpers live in the core; re-exported for the old paths.
pub use crate::workflow::ports::store::*;

/// The store the configuration names, opened.
#[derive(Clone)]
pub struct Opened {
    /// The store.
    pub store: std::sync::Arc<dyn Store>,
    /// The same store when it is PostgreSQL: `serve` listens on it for the other replicas'
    /// wake-ups ([`PostgresStore::listen`]).
    pub postgres: Option<PostgresStore>,
}

/// Opens the store the configuration names. `password` is PostgreSQL's (the secret
/// `POSTGRES_PASSWORD`); the other backends take none.
pub async fn open(
    config: &StoreConfig,
    password: Option<secrecy::SecretString>,
) -> Result<Opened, StoreError> {
    let store: std::sync::Arc<dyn Store> = match config.kind {
        StoreKind::Sqlite => std::sync::Arc::new(SqliteStore::open(&config.path)?),
        StoreKind::Dynamodb => {
            let store = DynamoStore::from_env(Tables {
                state: config.table.clone(),
                ledger: config.ledger_table.clone(),
            });
            std::sync::Arc::new(if config.create_tables {
                store.creating_tables()
            } else {
                store
            })
        }
        StoreKind::Postgres => {
            let pg = PostgresStore::connect(config, password).await?;
            let tls = pg.tls_in_use().await.unwrap_or(false);
            tracing::debug!(store = %pg.target(), tls, "PostgreSQL store ready");
            return Ok(Opened {
                store: std::sync::Arc::new(pg.clone()),
                postgres: Some(pg),
            });
        }
    };
    Ok(Opened {
        store,
        postgres: None,
    })
}
