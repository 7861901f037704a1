//! What the ledger and trust benchmarks share: the audit entries they chain, append and verify.

use chrono::{DateTime, Utc};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use ncp_share_approver::audit::{AuditEntry, AuditEvent};
use std::time::Duration;

pub const EVENTS: [AuditEvent; 5] = [
    AuditEvent::Requested,
    AuditEvent::Decided,
    AuditEvent::Approved,
    AuditEvent::Executing,
    AuditEvent::Succeeded,
];

/// Entry `i`: five events per request, with the fields a real record carries.
pub fn entry(i: usize) -> AuditEntry {
    let request = i / EVENTS.len();
    AuditEntry {
        at: DateTime::<Utc>::from_timestamp(1_700_000_000 + i as i64, 123_456_789).unwrap(),
        event: EVENTS[i % EVENTS.len()],
        actor: format!("slack:U{:08}", request % 10_000),
        request_id: Some(format!("SR-{request:08}")),
        fingerprint: Some(format!("{request:064x}")),
        rule: Some("golden images to partners".to_owned()),
        policy_hash: Some(
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        ),
        detail: format!("image 1234567 target a{request}@partner.example"),
        sig: None,
    }
}

/// A multi-threaded runtime for the store's async calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A group of benchmarks that take seconds an iteration: `elements` per iteration, ten samples,
/// half a second of warm-up, then `measure` of measuring.
pub fn slow_group<'a>(
    c: &'a mut Criterion,
    name: &str,
    elements: usize,
    measure: Duration,
) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(elements as u64));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(measure);
    g
}
