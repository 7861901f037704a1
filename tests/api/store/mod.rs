//! The store conformance suite and the ledger against a database insider.

mod conformance;
mod ledger_trust;
