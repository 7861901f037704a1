//! The audit ledger with 100,000 records: chaining and verifying in memory, and appending to and
//! verifying a SQLite store on a temporary file. And its RFC 6962 tree: the root over 1,000,000
//! leaf hashes, and appending one leaf to a `Frontier` (what the checkpointer does per record).
//!
//! The store benchmarks take seconds per iteration, so they use ten samples, a short warm-up, and
//! `iter_custom` (a fresh database per iteration for appends, built outside the timed part).
//! The whole file takes about two and a half minutes on two (busy) cores; criterion may warn
//! that ten append samples take longer than 30 s, which is expected (one iteration is ~8 s).
//!
//! Run: `cargo bench --bench ledger` (`-- --test` runs each benchmark once, as CI does).

use criterion::{BatchSize, Criterion, Throughput, black_box, criterion_group, criterion_main};
use ncp_share_approver::audit::merkle::{self, Frontier, Hash};
use ncp_share_approver::audit::{self, AuditEntry, AuditRecord};
use ncp_share_approver::store::{SqliteStore, Store, verify_ledger};
use std::time::{Duration, Instant};
use tempfile::TempDir;

mod common;
use common::{entry, runtime, slow_group};

const RECORDS: usize = 100_000;

fn entries() -> Vec<AuditEntry> {
    (0..RECORDS).map(entry).collect()
}

fn chain_all(entries: Vec<AuditEntry>) -> Vec<AuditRecord> {
    let mut out: Vec<AuditRecord> = Vec::with_capacity(entries.len());
    for e in entries {
        let prev = out.last().map(|r| (r.seq, r.hash.as_str()));
        let record = audit::chain(prev, e);
        out.push(record);
    }
    out
}

fn head(records: &[AuditRecord]) -> Option<(u64, &str)> {
    records.last().map(|r| (r.seq, r.hash.as_str()))
}

fn pure(c: &mut Criterion) {
    let entries = entries();
    let ledger = chain_all(entries.clone());
    assert_eq!(audit::verify(&ledger, head(&ledger)), Ok(RECORDS as u64));

    let mut g = c.benchmark_group("ledger in memory (100,000 records)");
    g.throughput(Throughput::Elements(RECORDS as u64));
    // About 0.1 s an iteration: ten samples fill eight seconds without a warning.
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function("audit::chain 100,000 entries into a Vec", |b| {
        b.iter_batched(
            || entries.clone(),
            |entries| chain_all(black_box(entries)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("audit::verify 100,000 records", |b| {
        b.iter(|| audit::verify(black_box(&ledger), black_box(head(&ledger))).unwrap())
    });
    g.finish();
}

/// Appends every entry in order, one `append_audit` call each, as the service does.
async fn append_all(store: &SqliteStore, entries: Vec<AuditEntry>) {
    for e in entries {
        store.append_audit(e).await.unwrap();
    }
}

fn temp_store() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteStore::open(&dir.path().join("ledger.db")).unwrap();
    (dir, db)
}

fn store(c: &mut Criterion) {
    let rt = runtime();
    let entries = entries();

    let mut g = slow_group(
        c,
        "ledger in SQLite (100,000 records, temp file)",
        RECORDS,
        Duration::from_secs(30),
    );

    // The last database the append benchmark filled is kept for the verify benchmark, which
    // saves building another 100,000-record ledger (about ten seconds).
    let mut filled: Option<(TempDir, SqliteStore)> = None;
    g.bench_function("append_audit 100,000 records", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // A new database each time: appending to a ledger that grows across iterations
                // would measure something else on every sample.
                let (dir, db) = temp_store();
                let batch = entries.clone();
                let start = Instant::now();
                rt.block_on(append_all(&db, batch));
                total += start.elapsed();
                // Dropping (and deleting) the previous database is not timed.
                filled = Some((dir, db));
            }
            total
        })
    });

    // Unless a filter skipped the append benchmark, its last database is here.
    let (_dir, db) = filled.unwrap_or_else(|| {
        let (dir, db) = temp_store();
        rt.block_on(append_all(&db, entries));
        (dir, db)
    });
    assert_eq!(rt.block_on(verify_ledger(&db)).unwrap(), Ok(RECORDS as u64));
    g.bench_function("verify_ledger over 100,000 records", |b| {
        b.iter(|| rt.block_on(verify_ledger(black_box(&db))).unwrap().unwrap())
    });
    g.finish();
}

const TREE_LEAVES: usize = 1_000_000;

fn tree(c: &mut Criterion) {
    let leaves: Vec<Hash> = (0..TREE_LEAVES as u64)
        .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
        .collect();

    let mut g = c.benchmark_group("merkle");
    g.throughput(Throughput::Elements(TREE_LEAVES as u64));
    // Under a second an iteration (one SHA-256 per node, 999,999 nodes).
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("merkle::root over 1,000,000 leaf hashes", |b| {
        b.iter(|| merkle::root(black_box(&leaves)))
    });
    g.throughput(Throughput::Elements(1));
    g.sample_size(50).measurement_time(Duration::from_secs(5));
    // One frontier grows over all iterations: a push merges the trailing full subtrees, two
    // node hashes on average, whatever the size.
    let mut frontier = Frontier::new();
    let mut next = leaves.iter().cycle();
    g.bench_function("Frontier::push one leaf", |b| {
        b.iter(|| frontier.push(black_box(*next.next().unwrap())))
    });
    g.finish();
    assert!(frontier.size() > 0);
}

criterion_group!(benches, pure, store, tree);
criterion_main!(benches);
