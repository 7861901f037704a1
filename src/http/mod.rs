//! HTTP adapters, one per source.

pub mod slack;
