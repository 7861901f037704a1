//! The sweep's store queries on a SQLite store (temporary file) holding 100,000 open, time-boxed
//! grants of which 10 are due, and 100,000 pending requests of which 10 are due:
//! `grants_ending_by` and `pending_due` (a page of 200, as `Workflow::expire_due` asks), each a
//! range of an index, against the way they were answered before (every open grant, or every
//! pending request, read and filtered in process), run on the same file.
//!
//! The rows are written in one transaction by `SqliteStore::insert_bulk` (the statements of
//! `insert_grant` and `insert_request`), so the setup takes seconds, not a commit per row.
//!
//! Run: `cargo bench --bench sweep` (`-- --test` runs each benchmark once, as CI does).

use chrono::{DateTime, Duration as Span, Utc};
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use ncp_share_approver::domain::{
    Grant, ImageNo, LoginId, Origin, RequestId, RequestState, ShareRequest,
};
use ncp_share_approver::policy::{Action, Identity, PersonName};
use ncp_share_approver::store::{SqliteStore, Store};
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

const ROWS: usize = 100_000;
const DUE: usize = 10;

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_750_000_000, 123_456_789).unwrap()
}

/// Request `i`, pending; the first `DUE` are past their deadline, the rest expire later.
fn request(i: usize) -> ShareRequest {
    let created = now() - Span::hours(1);
    let expires = if i < DUE {
        now() - Span::seconds(i as i64 + 1)
    } else {
        now() + Span::seconds(i as i64)
    };
    ShareRequest {
        id: RequestId::parse(&format!("SR-{:08}", i % 100_000_000)).unwrap(),
        version: 1,
        state: RequestState::Pending,
        origin: Origin::Cli,
        requester: Identity::parse(&format!("slack:U{:08}", i % 10_000)).unwrap(),
        requester_person: Some(serde_json::from_value(serde_json::json!("carol")).unwrap()),
        image_no: ImageNo::parse(&format!("{}", 1_000_000 + i % 1000)).unwrap(),
        image_name: "golden-web".into(),
        hypervisor: None,
        region: "KR".into(),
        action: Action::Share,
        targets: vec![LoginId::parse(&format!("t{i}@partner.example")).unwrap()],
        duration: None,
        reason: Some("a partner needs the golden image".into()),
        shared_with_when_asked: Vec::new(),
        fingerprint: format!("{i:064x}"),
        policy_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        rule: Some("golden images to partners".into()),
        approvers: vec![person("alice"), person("bob")],
        min_approvals: 2,
        allow_self_approval: false,
        approval_channel: None,
        works_channel: None,
        created_at: created,
        updated_at: created,
        expires_at: expires,
        attempts: 0,
        outcome: None,
        lifecycle: Default::default(),
        trace_id: None,
    }
}

fn person(name: &str) -> PersonName {
    serde_json::from_value(serde_json::json!(name)).unwrap()
}

/// Grant `i`, open; the first `DUE` end by `now()`, the rest within the next 100,000 minutes.
fn grant(i: usize) -> Grant {
    let ends = if i < DUE {
        now() - Span::seconds(i as i64 + 1)
    } else {
        now() + Span::minutes(i as i64)
    };
    Grant {
        image_no: ImageNo::parse(&format!("{}", 1_000_000 + i % 1000)).unwrap(),
        target: LoginId::parse(&format!("t{i}@partner.example")).unwrap(),
        request_id: RequestId::parse(&format!("SR-{:08}", i % 100_000_000)).unwrap(),
        starts_at: now() - Span::days(1),
        ends_at: Some(ends),
        ended_at: None,
    }
}

/// The previous `SqliteStore::grants_ending_by`: every open grant read, then filtered and sorted.
fn grants_ending_by_scan(c: &Connection, until: DateTime<Utc>) -> Vec<Grant> {
    let mut stmt = c
        .prepare_cached("SELECT image_no, body FROM grants WHERE ended = 0")
        .unwrap();
    let mut grants: Vec<Grant> = stmt
        .query_map([], |r| r.get::<_, String>(1))
        .unwrap()
        .map(|b| serde_json::from_str(&b.unwrap()).unwrap())
        .collect();
    grants.retain(|g: &Grant| g.ends_at.is_some_and(|end| end <= until));
    grants.sort_by(|a, b| {
        (
            a.ends_at,
            a.image_no.as_str(),
            a.target.as_str(),
            a.request_id.as_str(),
        )
            .cmp(&(
                b.ends_at,
                b.image_no.as_str(),
                b.target.as_str(),
                b.request_id.as_str(),
            ))
    });
    grants
}

/// The previous `DynamoStore::pending_due`, on this file: every pending request read (by the
/// state index), then filtered, sorted and cut to a page.
fn pending_due_scan(c: &Connection, now: DateTime<Utc>, limit: usize) -> Vec<ShareRequest> {
    let mut stmt = c
        .prepare_cached("SELECT body FROM requests WHERE state = 'pending'")
        .unwrap();
    let mut due: Vec<ShareRequest> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|b| serde_json::from_str(&b.unwrap()).unwrap())
        .collect();
    due.retain(|r| r.state == RequestState::Pending && r.expires_at <= now);
    due.sort_by(|a, b| {
        a.expires_at
            .cmp(&b.expires_at)
            .then_with(|| a.id.as_str().cmp(b.id.as_str()))
    });
    due.truncate(limit);
    due
}

fn filled(path: &Path, rt: &tokio::runtime::Runtime) -> SqliteStore {
    let store = SqliteStore::open(path).unwrap();
    let requests = (0..ROWS).map(request).collect();
    let grants = (0..ROWS).map(grant).collect();
    rt.block_on(store.insert_bulk(requests, grants)).unwrap();
    store
}

fn sweep(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sweep.db");
    let store = filled(&path, &rt);
    // The old queries read the same file through a connection of their own.
    let raw = Connection::open(&path).unwrap();
    let until = now();

    let ranged = rt.block_on(store.grants_ending_by(until)).unwrap();
    assert_eq!(ranged.len(), DUE);
    assert_eq!(ranged, grants_ending_by_scan(&raw, until));
    let pending = rt.block_on(store.pending_due(until, 200)).unwrap();
    assert_eq!(pending.len(), DUE);
    assert_eq!(pending, pending_due_scan(&raw, until, 200));

    let mut g = c.benchmark_group("sweep queries, SQLite (100,000 rows each, 10 due)");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("grants_ending_by: index range", |b| {
        b.iter(|| {
            rt.block_on(store.grants_ending_by(black_box(until)))
                .unwrap()
        })
    });
    g.bench_function("pending_due (page of 200): index range", |b| {
        b.iter(|| {
            rt.block_on(store.pending_due(black_box(until), 200))
                .unwrap()
        })
    });
    g.finish();

    // A read and decode of 100,000 JSON bodies takes a few hundred milliseconds: ten samples.
    let mut g = c.benchmark_group("sweep queries, SQLite (100,000 rows each, 10 due), before");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    g.bench_function(
        "grants_ending_by: every open grant read and filtered",
        |b| b.iter(|| grants_ending_by_scan(&raw, black_box(until))),
    );
    g.bench_function(
        "pending_due (page of 200): every pending request read and filtered",
        |b| b.iter(|| pending_due_scan(&raw, black_box(until), 200)),
    );
    g.finish();
}

criterion_group!(benches, sweep);
criterion_main!(benches);
