//! The supply-chain check can fail (issue 19): `.ci/supply-chain.sh` on a lock file that pins a
//! crate with a known advisory (`tests/fixtures/supply-chain/Cargo.lock`: `time` 0.3.45,
//! RUSTSEC-2026-0009) exits non-zero naming the advisory, with the same accepted list as the
//! repository's own check. It needs `cargo audit` and the RustSec snapshot (the script finds it);
//! without them it fails under `CI=true` and is reported, not run, elsewhere.

use std::path::Path;
use std::process::Command;

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The advisory database the script would use, if any (the same search as the script's).
fn advisory_db(root: &Path) -> Option<std::path::PathBuf> {
    let candidates = [
        std::env::var_os("RUSTSEC_DB").map(Into::into),
        Some(root.join("../shared/reference/rustsec-advisory-db")),
        Some("/work/shared/reference/rustsec-advisory-db".into()),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p: &std::path::PathBuf| p.join("crates").is_dir())
}

fn have_cargo_audit() -> bool {
    Command::new("cargo")
        .args(["audit", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_check_fails_on_a_lock_file_with_a_known_advisory_naming_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let missing: Vec<&str> = [
        (
            advisory_db(root).is_none(),
            "the RustSec advisory database snapshot",
        ),
        (!have_cargo_audit(), "cargo audit"),
    ]
    .into_iter()
    .filter(|(missing, _)| *missing)
    .map(|(_, what)| what)
    .collect();
    if !missing.is_empty() {
        assert!(
            !ci(),
            "the supply-chain test needs {} under CI (.ci/run installs cargo audit)",
            missing.join(" and ")
        );
        eprintln!("supply-chain test not run: no {}", missing.join(", no "));
        return;
    }
    let fixture = root.join("tests/fixtures/supply-chain/Cargo.lock");
    let out = Command::new("bash")
        .arg(root.join(".ci/supply-chain.sh"))
        .arg(&fixture)
        .current_dir(root)
        .output()
        .expect("run .ci/supply-chain.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "the check passed a lock file with time 0.3.45:\n{text}"
    );
    assert!(
        text.contains("RUSTSEC-2026-0009") && text.contains("time"),
        "the failure names the advisory and the crate:\n{text}"
    );
    // It read the snapshot, offline, and applied deny.toml's accepted list.
    assert!(
        text.contains("Loaded") && text.contains("security advisories"),
        "{text}"
    );
    assert!(
        text.contains("RUSTSEC-2026-0002") && text.contains("RUSTSEC-2026-0253"),
        "the accepted advisories are listed: {text}"
    );
}

#[test]
fn every_accepted_advisory_has_a_reason() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deny.toml"))
        .expect("deny.toml");
    let deny: toml::Table = text.parse().expect("deny.toml is TOML");
    let ignore = deny["advisories"]["ignore"]
        .as_array()
        .expect("[advisories] ignore");
    assert!(!ignore.is_empty());
    for entry in ignore {
        let id = entry["id"].as_str().expect("an id");
        let reason = entry["reason"].as_str().unwrap_or_default();
        assert!(id.starts_with("RUSTSEC-"), "{id}");
        assert!(reason.len() > 40, "{id} has no real reason: {reason:?}");
    }
}
