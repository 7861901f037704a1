//! Interop of the audit ledger's proofs with an independent implementation: bundles built by
//! `audit::proof` are checked by `tests/go/ledgerverify`, which uses Go's
//! `golang.org/x/mod/sumdb/note` and `sumdb/tlog`; tampered bundles must fail there too (and in
//! our own `verify`, so both sides agree).
//!
//! Needs Go and Debian's golang-golang-x-mod-dev (`.ci/run` installs them). Without them the
//! tests are skipped with a notice, except under CI (`CI` set), where they fail.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ncp_share_approver::audit::checkpoint::Checkpoint;
use ncp_share_approver::audit::merkle::{self, Hash};
use ncp_share_approver::audit::note::NoteSigner;
use ncp_share_approver::audit::proof::{ConsistencyBundle, InclusionBundle, ProveRecord};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

const INSTALL: &str = "apt-get install -y golang-go golang-golang-x-mod-dev";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/go/interop.sh");
const ORIGIN: &str = "ledger.test/interop";

/// Whether the Go checker can run: under CI a missing Go fails, elsewhere it is skipped.
fn go_available(what: &str) -> bool {
    let go = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    let xmod = Path::new("/usr/share/gocode/src/golang.org/x/mod/sumdb/note").is_dir();
    if !(go && xmod) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but Go or golang.org/x/mod is missing for {what}: {INSTALL} (`.ci/run` does it)"
        );
        eprintln!("SKIPPED {what}: Go or golang.org/x/mod is not installed ({INSTALL})");
    }
    go && xmod
}

/// The build directory shared by the tests of this process; one script run at a time, since
/// each rebuilds into it.
fn out_dir() -> &'static Mutex<tempfile::TempDir> {
    static OUT: OnceLock<Mutex<tempfile::TempDir>> = OnceLock::new();
    OUT.get_or_init(|| Mutex::new(tempfile::tempdir().unwrap()))
}

/// Runs `tests/go/interop.sh` on `args`.
fn interop(args: &[&str]) -> Output {
    let out = out_dir().lock().unwrap_or_else(|e| e.into_inner());
    let o = Command::new("bash")
        .arg(SCRIPT)
        .arg(out.path())
        .args(args)
        .output()
        .expect("run tests/go/interop.sh");
    assert_ne!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn write(dir: &Path, name: &str, value: &impl serde::Serialize) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    p
}

/// Leaf `i`: varied lengths (empty too), binary bytes, and text with JSON and newlines.
fn data(i: usize) -> Vec<u8> {
    match i % 4 {
        0 => Vec::new(),
        1 => (0..=255u8).cycle().skip(i).take(i * 13).collect(),
        2 => format!("{{\"seq\":{i},\"event\":\"approved\",\"detail\":\"a\\nb — ü\"}}\n").into(),
        _ => vec![0u8; i],
    }
    .into_iter()
    .chain(i.to_be_bytes())
    .collect()
}

struct Log {
    signer: NoteSigner,
    data: Vec<Vec<u8>>,
    leaves: Vec<Hash>,
}

impl Log {
    fn new(n: usize) -> Self {
        let data: Vec<Vec<u8>> = (0..n).map(data).collect();
        let leaves = data.iter().map(|d| merkle::leaf_hash(d)).collect();
        Log {
            signer: NoteSigner::generate(ORIGIN).unwrap(),
            data,
            leaves,
        }
    }

    fn checkpoint(&self, size: usize, extensions: &[&str]) -> String {
        Checkpoint {
            origin: ORIGIN.into(),
            size: size as u64,
            root: merkle::root(&self.leaves[..size]),
            extensions: extensions.iter().map(|e| e.to_string()).collect(),
        }
        .sign(&self.signer)
        .unwrap()
    }

    /// Proves every leaf of the tree of `size`.
    fn inclusion(&self, size: usize) -> InclusionBundle {
        let recs: Vec<ProveRecord> = (0..size)
            .map(|i| ProveRecord {
                seq: i as u64 + 1,
                index: i as u64,
                data: &self.data[i],
            })
            .collect();
        let cp = self.checkpoint(size, &[]);
        InclusionBundle::new(&self.signer.verifier(), &cp, &self.leaves, &recs).unwrap()
    }

    fn consistency(&self, old: usize, new: usize) -> ConsistencyBundle {
        let (a, b) = (self.checkpoint(old, &[]), self.checkpoint(new, &[]));
        ConsistencyBundle::new(&self.signer.verifier(), &a, &b, &self.leaves).unwrap()
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn go_accepts_every_inclusion_and_consistency_proof_up_to_17_leaves() {
    if !go_available("go_accepts_every_inclusion_and_consistency_proof_up_to_17_leaves") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new(17);
    let mut files = Vec::new();
    let mut want = Vec::new();
    for n in 1..=17 {
        let b = log.inclusion(n);
        b.verify_with(&log.signer.verifier()).unwrap();
        files.push(write(dir.path(), &format!("inclusion-{n}.json"), &b));
        want.push(format!("ok: {n} records included in tree of size {n}"));
        for m in 0..=n {
            let c = log.consistency(m, n);
            c.verify_with(&log.signer.verifier()).unwrap();
            files.push(write(dir.path(), &format!("consistency-{m}-{n}.json"), &c));
            want.push(format!("ok: tree {m} is a prefix of {n}"));
        }
    }
    // A checkpoint with an extension line (Go's ParseTree ignores it; we keep it).
    let cp = log.checkpoint(5, &["timestamp 1700000000"]);
    let recs = [ProveRecord {
        seq: 3,
        index: 2,
        data: &log.data[2],
    }];
    let b = InclusionBundle::new(&log.signer.verifier(), &cp, &log.leaves, &recs).unwrap();
    files.push(write(dir.path(), "extension.json", &b));
    want.push("ok: 1 records included in tree of size 5".into());

    let vkey = log.signer.verifier().to_vkey();
    let mut args = vec!["-key", vkey.as_str()];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let o = interop(&args);
    assert!(o.status.success(), "{}", text(&o));
    let got: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    assert_eq!(got, want);
}

#[test]
fn go_rejects_tampered_bundles() {
    if !go_available("go_rejects_tampered_bundles") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new(17);
    let good = log.inclusion(17);
    let good_c = log.consistency(6, 17);
    let mut bad_inclusion: Vec<(&str, InclusionBundle)> = Vec::new();
    let mut bad_consistency: Vec<(&str, ConsistencyBundle)> = Vec::new();

    let mut b = good.clone();
    let mut leaf = STANDARD.decode(&b.records[9].leaf_b64).unwrap();
    leaf[0] ^= 1;
    b.records[9].leaf_b64 = STANDARD.encode(leaf);
    bad_inclusion.push(("a flipped leaf byte", b));

    let mut b = good.clone();
    let mut h = STANDARD.decode(&b.records[4].proof_b64[2]).unwrap();
    h[31] ^= 0x80;
    b.records[4].proof_b64[2] = STANDARD.encode(h);
    bad_inclusion.push(("a flipped proof hash byte", b));

    let mut b = good.clone();
    b.records[4].index = 5;
    bad_inclusion.push(("another leaf index", b));

    let mut b = good.clone();
    b.records[16].proof_b64.pop();
    bad_inclusion.push(("a proof hash missing", b));

    // The root changed in the note: its signature no longer holds.
    let mut b = good.clone();
    let cp = Checkpoint::parse(&b.checkpoint[..b.checkpoint.find("\n\n").unwrap() + 1]).unwrap();
    let mut other = cp.root;
    other[0] ^= 1;
    b.checkpoint = b
        .checkpoint
        .replacen(&STANDARD.encode(cp.root), &STANDARD.encode(other), 1);
    bad_inclusion.push(("a changed root", b));

    // A properly signed checkpoint of another root: the proofs no longer lead to it.
    let mut b = good.clone();
    b.checkpoint = Checkpoint {
        root: other,
        ..cp.clone()
    }
    .sign(&log.signer)
    .unwrap();
    bad_inclusion.push(("a signed checkpoint with another root", b));

    let mut b = good.clone();
    let sig_at = b.checkpoint.rfind(' ').unwrap() + 20;
    let flipped = if b.checkpoint.as_bytes()[sig_at] == b'A' {
        "B"
    } else {
        "A"
    };
    b.checkpoint.replace_range(sig_at..sig_at + 1, flipped);
    bad_inclusion.push(("a changed signature", b));

    // Another key of the same name vouching for the same checkpoint text.
    let mut b = good.clone();
    let other_key = NoteSigner::generate(ORIGIN).unwrap();
    b.public_key = other_key.verifier().to_vkey();
    bad_inclusion.push(("another key", b));

    // A tree that forked at leaf 3: old checkpoint of the real log, new one of the fork,
    // signed by the same key, with the fork's consistency proof.
    let mut fork = Log::new(17);
    fork.signer =
        NoteSigner::from_skey(secrecy::ExposeSecret::expose_secret(&log.signer.to_skey())).unwrap();
    fork.data[3].push(b'!');
    fork.leaves[3] = merkle::leaf_hash(&fork.data[3]);
    let mut c = fork.consistency(6, 17);
    c.old_checkpoint = log.checkpoint(6, &[]);
    bad_consistency.push(("a consistency proof for a tree that is not an extension", c));

    let mut c = good_c.clone();
    let mut h = STANDARD.decode(&c.consistency_b64[0]).unwrap();
    h[0] ^= 1;
    c.consistency_b64[0] = STANDARD.encode(h);
    bad_consistency.push(("a flipped consistency hash byte", c));

    // Old and new swapped.
    let mut c = good_c.clone();
    std::mem::swap(&mut c.old_checkpoint, &mut c.checkpoint);
    bad_consistency.push(("old and new swapped", c));

    let vkey = log.signer.verifier().to_vkey();
    let check = |what: &str, path: PathBuf, rust: Result<(), String>| {
        assert!(rust.is_err(), "Rust accepted {what}");
        let o = interop(&["-key", &vkey, path.to_str().unwrap()]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "Go did not reject {what}: {}",
            text(&o)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("FAIL"),
            "{}",
            text(&o)
        );
    };
    for (i, (what, b)) in bad_inclusion.into_iter().enumerate() {
        let rust = b
            .verify_with(&log.signer.verifier())
            .map(drop)
            .map_err(|e| e.0);
        check(
            what,
            write(dir.path(), &format!("bad-inclusion-{i}.json"), &b),
            rust,
        );
    }
    for (i, (what, c)) in bad_consistency.into_iter().enumerate() {
        let rust = c
            .verify_with(&log.signer.verifier())
            .map(drop)
            .map_err(|e| e.0);
        check(
            what,
            write(dir.path(), &format!("bad-consistency-{i}.json"), &c),
            rust,
        );
    }

    // The good ones pass, and fail with a trusted key other than theirs.
    let ok = write(dir.path(), "good.json", &good);
    let ok_c = write(dir.path(), "good-c.json", &good_c);
    let o = interop(&["-key", &vkey, ok.to_str().unwrap(), ok_c.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let other_vkey = other_key.verifier().to_vkey();
    let o = interop(&["-key", &other_vkey, ok.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // One bad bundle among good ones fails the run, and is named.
    let bad = dir.path().join("bad-inclusion-0.json");
    let o = interop(&[
        ok.to_str().unwrap(),
        bad.to_str().unwrap(),
        ok_c.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bad-inclusion-0.json"),
        "{}",
        text(&o)
    );
}
