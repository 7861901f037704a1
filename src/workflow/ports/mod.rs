//! The ports the workflow speaks to the outside through that cannot live in `domain`, because
//! they speak types of a higher layer (the ledger's records, the outbox's entries). The
//! implementations are adapters in the modules named after them.

pub mod store;
