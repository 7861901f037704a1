//! The audit ledger, and what lets outsiders check it.
//!
//! - [`chain`]: records chained by SHA-256, so a changed, removed or reordered record is named.
//! - [`merkle`]: an RFC 6962 tree over the same records, for inclusion and consistency proofs.
//! - [`note`] and [`checkpoint`]: C2SP signed tree heads (Ed25519 `LEDGER_SIGNING_KEY`), which
//!   are published where a database insider cannot reach them; a rewritten or truncated ledger
//!   then disagrees with every earlier checkpoint.
//! - [`publish`]: where checkpoints are published (a directory, an S3 bucket with Object Lock),
//!   one name per tree size, never replaced by a different one.
//! - [`seal`]: each record's own signature, what the worker checks before acting on approvals.
//! - [`tlog`]: the full check of a ledger against its checkpoints (`audit verify`).
//! - [`proof`]: the JSON bundles `audit prove` prints (checkpoint, key and proofs together), which
//!   an independent checker (`tests/go/ledgerverify`, on Go's `sumdb` packages) accepts.

mod chain;
pub mod checkpoint;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod publish;
pub mod seal;
pub mod tlog;

pub use chain::*;
