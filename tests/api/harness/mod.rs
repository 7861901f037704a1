//! The one test harness: [`spawn_app`] starts the service with the fakes it needs, the
//! `WorkflowApp` drives the workflow directly, and every fixture is in [`fixtures`].
//!
//! - `app`: the service on 127.0.0.1:0 and signed clients (Slack, Jira, Standard Webhooks)
//! - `workflow_app`: one `Workflow` on a SQLite file, a manual clock and a recording notifier
//! - `fixtures`: policies (`tests/fixtures/`), people, secrets, keys, configuration, payloads
//! - `ncp`: the NCP simulator and raw signed calls as the NCP SDKs make them
//! - `aws`: the local AWS stand-in (`moto_server`)
//! - `postgres`: the test PostgreSQL (`TEST_POSTGRES_URL`), a schema per test
//! - `bin`: the real binary, run with a clean environment
//! - fakes: `fake_jira`, `receiver` (webhook callbacks), `lambda_emulator`
//! - `refused`: what a refused delivery must get (the bad-input tables)

pub mod app;
pub mod aws;
pub mod bin;
pub mod fake_jira;
pub mod fixtures;
pub mod lambda_emulator;
pub mod log_buffer;
pub mod ncp;
pub mod postgres;
pub mod receiver;
pub mod refused;
pub mod workflow_app;

pub use app::{App, spawn_app};
