//! The one integration-test binary: the app and its peers, spawned on 127.0.0.1:0.
//!
//! `harness` starts things (`spawn_app` and its fakes) and holds every fixture; the other
//! folders are the tests, by subject.

mod aws;
mod cli;
mod delivery_logs;
mod harness;
mod metrics;
mod ncp;
mod notice_facts;
mod payloads;
mod postgres;
mod props;
mod slack;
mod spoofing;
mod store;
mod tickets;
mod trace_otlp;
mod workflow;
mod works;
