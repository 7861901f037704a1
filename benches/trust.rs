//! What trust costs: verifying a 1,000,000-record ledger against a signed checkpoint (the
//! `audit verify` pass: chain, Merkle tree, checkpoint roots), and what signing adds to appends
//! (each record's own signature, and a checkpoint every 100 records).
//!
//! Run: `cargo bench --bench trust` (`-- --test` runs each benchmark once, as CI does).

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use ncp_share_approver::audit::checkpoint::Checkpoint;
use ncp_share_approver::audit::merkle::Frontier;
use ncp_share_approver::audit::note::NoteSigner;
use ncp_share_approver::audit::tlog::{self, OpenedCheckpoint};
use ncp_share_approver::audit::{self, AuditEntry, AuditRecord, seal};
use ncp_share_approver::clock::SystemClock;
use ncp_share_approver::store::{SqliteStore, Store};
use ncp_share_approver::workflow::{Checkpointer, Trigger};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{entry, runtime, slow_group};

const MILLION: usize = 1_000_000;
const APPENDS: usize = 1_000;
const EVERY: usize = 100;

/// A SQLite ledger on a fresh temporary file (kept while the `TempDir` lives) and a
/// checkpointer over it signing every [`EVERY`] records.
fn store_with_checkpointer(
    signer: &Arc<NoteSigner>,
) -> (tempfile::TempDir, Arc<dyn Store>, Checkpointer) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("ledger.db")).unwrap());
    let checkpoints = Checkpointer::new(
        store.clone(),
        signer.clone(),
        Arc::new(SystemClock),
        EVERY as u64,
        Duration::from_secs(3600),
    );
    (dir, store, checkpoints)
}

fn signer() -> Arc<NoteSigner> {
    Arc::new(NoteSigner::generate("ncp-share-approver").unwrap())
}

/// A million chained records with a signature-sized field, and a signed checkpoint over all.
fn million(signer: &NoteSigner) -> (Vec<AuditRecord>, Vec<OpenedCheckpoint>) {
    // One real signature, repeated: the verifier does not check signatures of records a
    // checkpoint covers, and signing a million records would take the setup half a minute.
    let sig = seal::seal(entry(0), signer).sig;
    let mut records: Vec<AuditRecord> = Vec::with_capacity(MILLION);
    let mut frontier = Frontier::new();
    for i in 0..MILLION {
        let mut e = entry(i);
        e.sig = sig.clone();
        let prev = records.last().map(|r| (r.seq, r.hash.as_str()));
        let r = audit::chain(prev, e);
        frontier.push(ncp_share_approver::audit::merkle::leaf_hash(
            &audit::leaf_data(&r),
        ));
        records.push(r);
    }
    let note = Checkpoint {
        origin: signer.name().to_string(),
        size: MILLION as u64,
        root: frontier.root(),
        extensions: Vec::new(),
    }
    .sign(signer)
    .unwrap();
    let opened = tlog::open_checkpoints(&[("bench".into(), note)], &signer.verifier()).unwrap();
    (records, opened)
}

fn verify_million(c: &mut Criterion) {
    let signer = signer();
    let (records, checkpoints) = million(&signer);
    let head = records.last().map(|r| (r.seq, r.hash.clone()));
    let verifier = signer.verifier();
    let mut g = slow_group(
        c,
        "trust: verify 1,000,000 records",
        MILLION,
        Duration::from_secs(20),
    );
    g.bench_function("tlog::verify_all against a signed checkpoint", |b| {
        b.iter(|| {
            let v = tlog::verify_all(
                black_box(&records),
                head.as_ref().map(|(s, h)| (*s, h.as_str())),
                &checkpoints,
                &verifier,
            )
            .unwrap();
            assert_eq!(v.checkpoints, vec![MILLION as u64]);
        })
    });
    g.finish();
}

/// How appends are signed in each variant.
#[derive(Clone, Copy)]
enum Variant {
    /// No record signature, no checkpoint (the ledger before issue 12).
    Plain,
    /// Each record signed by its writer.
    Sealed,
    /// Each record signed, and a checkpoint signed over every 100 records.
    SealedWithCheckpoints,
}

async fn appends(variant: Variant, signer: Arc<NoteSigner>) -> Duration {
    let (_dir, store, checkpoints) = store_with_checkpointer(&signer);
    let start = Instant::now();
    for i in 0..APPENDS {
        let e = match variant {
            Variant::Plain => entry(i),
            _ => seal::seal(entry(i), &signer),
        };
        store.append_audit(e).await.unwrap();
        if matches!(variant, Variant::SealedWithCheckpoints) && (i + 1) % EVERY == 0 {
            let made = checkpoints.run(Trigger::Schedule).await.unwrap();
            assert!(made.is_some());
        }
    }
    start.elapsed()
}

fn append_cost(c: &mut Criterion) {
    let rt = runtime();
    let signer = signer();
    let mut g = slow_group(
        c,
        "trust: 1,000 appends to SQLite (temp file)",
        APPENDS,
        Duration::from_secs(15),
    );
    for (name, variant) in [
        ("unsigned records, no checkpoints", Variant::Plain),
        ("signed records, no checkpoints", Variant::Sealed),
        (
            "signed records, a checkpoint every 100",
            Variant::SealedWithCheckpoints,
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| rt.block_on(appends(variant, signer.clone())))
                    .sum()
            })
        });
    }
    g.finish();
}

/// Where a checkpoint's time goes: reading 100 records, checking their signatures, the whole run.
fn checkpoint_parts(c: &mut Criterion) {
    let rt = runtime();
    let signer = signer();
    let verifier = signer.verifier();
    let entries: Vec<AuditEntry> = (0..EVERY).map(|i| seal::seal(entry(i), &signer)).collect();
    let refs: Vec<&AuditEntry> = entries.iter().collect();
    let mut g = c.benchmark_group("trust: one checkpoint over 100 new records");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("batch-verify 100 record signatures", |b| {
        b.iter(|| assert!(seal::first_not_sealed_by(black_box(&refs), &verifier).is_none()))
    });
    g.bench_function("verify 100 record signatures one by one", |b| {
        b.iter(|| {
            for e in &entries {
                assert!(seal::is_sealed_by(black_box(e), &verifier));
            }
        })
    });
    g.bench_function("sign one checkpoint note", |b| {
        let cp = Checkpoint {
            origin: signer.name().to_string(),
            size: 100,
            root: [7; 32],
            extensions: Vec::new(),
        };
        b.iter(|| cp.sign(black_box(&signer)).unwrap())
    });
    g.bench_function(
        "Checkpointer::run after 100 appends (appends not timed)",
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (_dir, store, checkpoints) = store_with_checkpointer(&signer);
                    rt.block_on(async {
                        for e in &entries {
                            store.append_audit(e.clone()).await.unwrap();
                        }
                    });
                    let start = Instant::now();
                    rt.block_on(checkpoints.run(Trigger::Asked))
                        .unwrap()
                        .unwrap();
                    total += start.elapsed();
                }
                total
            })
        },
    );
    g.finish();
}

criterion_group!(benches, checkpoint_parts, verify_million, append_cost);
criterion_main!(benches);
