//! Several `serve` replicas on one PostgreSQL database: shared work executed once, wake-ups
//! across processes, the sweep one replica at a time, migrations, readiness, TLS, and `serve`
//! stopping on SIGTERM. Every test needs `TEST_POSTGRES_URL` (`.ci/run` starts a database;
//! outside CI a test without one says it is skipped). The end-to-end folders (`slack/`,
//! `tickets/`, `works/`) also run on PostgreSQL as a whole with `TEST_STORE=postgres`.

mod replicas;
mod serve;
mod store;
