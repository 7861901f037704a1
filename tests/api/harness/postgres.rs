//! The PostgreSQL the tests run against: `.ci/run` starts a throwaway cluster (`.ci/postgres.sh`)
//! and sets `TEST_POSTGRES_URL`; every test works in a schema of its own, so that tests run in
//! parallel against one database.

#![allow(dead_code)] // Each test uses a different part.

use ncp_share_approver::store::{PostgresStore, StoreConfig, StoreKind};

/// The variable naming the database (not `NSA_*`: those are configuration overrides).
pub const URL_VAR: &str = "TEST_POSTGRES_URL";
/// The CA certificate of the test cluster's TLS (set by `.ci/postgres.sh`).
pub const CA_VAR: &str = "TEST_POSTGRES_CA";

/// The database's URL, or `None` after printing why `what` is skipped. Under CI (`CI` set) a
/// missing database fails the test instead: CI must run these.
pub fn postgres_url(what: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{URL_VAR} is not set under CI: {what} must run against PostgreSQL (.ci/run starts one with .ci/postgres.sh)"
        ),
        _ => {
            eprintln!(
                "SKIPPED {what}: {URL_VAR} is not set (run .ci/run, or `eval \"$(.ci/postgres.sh start \"$(mktemp -d)\")\"`)"
            );
            None
        }
    }
}

/// A schema name no other test uses.
pub fn unique_schema() -> String {
    format!("t_{}", &uuid::Uuid::new_v4().simple().to_string()[..20])
}

/// `[store]` for PostgreSQL at `url`, in `schema`.
pub fn store_config(url: &str, schema: &str) -> StoreConfig {
    StoreConfig {
        kind: StoreKind::Postgres,
        url: url.to_string(),
        schema: schema.to_string(),
        pool_size: 8,
        ..StoreConfig::default()
    }
}

/// A store on a fresh schema of its own.
pub async fn fresh_store(url: &str) -> PostgresStore {
    PostgresStore::connect(&store_config(url, &unique_schema()), None)
        .await
        .expect("connect to the test PostgreSQL")
}
