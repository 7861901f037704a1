//! `audit`: the signed ledger. `key` and `checkpoint` print what outsiders need to check it,
//! `prove` prints inclusion and consistency proofs, `verify` checks the store (or an export,
//! offline) against the chain, the tree and every checkpoint given.

use super::Cli;
use crate::audit::note::{NoteSigner, NoteVerifier};
use crate::audit::tlog::{self, OpenedCheckpoint};
use crate::audit::{AuditRecord, LedgerBroken};
use crate::workflow::Trigger;
use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// `audit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the ledger: the chain, the head, the signatures of records no checkpoint covers
    /// yet, and the tree against every stored checkpoint and every `--checkpoint` given. Exit 1
    /// and name the first bad record if anything was changed, removed or reordered.
    Verify {
        /// A signed checkpoint kept outside the store (from the bucket or directory they are
        /// published to); the ledger must extend each. Repeatable.
        #[arg(long = "checkpoint", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
        /// Verify this export (`audit export`, JSON Lines) instead of the store, offline: no
        /// configuration, store or secret is read. Needs `--public-key`.
        #[arg(long, value_name = "FILE", requires = "public_key")]
        export: Option<PathBuf>,
        /// The ledger's verifier key (`audit key` prints it); default: derived from
        /// LEDGER_SIGNING_KEY.
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
    },
    /// Write the ledger to standard output.
    Export {
        /// Output format (only `jsonl`: one JSON record per line).
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl"])]
        format: String,
    },
    /// Print the ledger's public verifier key (safe to publish), or make a new signing key.
    Key {
        /// Print a new signing key for LEDGER_SIGNING_KEY on standard output (and its
        /// verifier key on standard error), instead of reading the configured one.
        #[arg(long)]
        generate: bool,
        /// The log's name for a new key (must be `[ledger] origin`).
        #[arg(long, value_name = "NAME", requires = "generate")]
        origin: Option<String>,
    },
    /// Sign a checkpoint over any records since the last one, publish it, and print the latest
    /// signed checkpoint.
    Checkpoint,
    /// Print inclusion proofs of a request's records (JSON), or with `--since` a consistency
    /// proof from an older checkpoint to the latest.
    Prove {
        /// The request whose records to prove.
        #[arg(required_unless_present = "since", conflicts_with = "since")]
        request_id: Option<String>,
        /// An older signed checkpoint (file) to prove the latest one extends.
        #[arg(long, value_name = "FILE")]
        since: Option<PathBuf>,
    },
}

/// Runs an `audit` subcommand.
pub async fn run(cli: &Cli, command: &AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Key {
            generate: true,
            origin,
        } => {
            let origin = match origin {
                Some(o) => o.clone(),
                None => cli.load_config()?.ledger.origin,
            };
            let signer = NoteSigner::generate(&origin).map_err(anyhow::Error::msg)?;
            println!("{}", signer.to_skey().expose_secret());
            eprintln!(
                "Store the line above as the secret LEDGER_SIGNING_KEY (never in a file in the repository).\nIts verifier key, safe to publish:\n{}",
                signer.verifier().to_vkey()
            );
            return Ok(ExitCode::SUCCESS);
        }
        AuditCommand::Verify {
            checkpoints,
            export: Some(export),
            public_key: Some(key),
        } => return verify_export(export, checkpoints, key),
        _ => {}
    }
    let config = cli.load_config()?;
    let store = crate::startup::open_store(&config).await?.store;
    match command {
        AuditCommand::Key { .. } => {
            println!("{}", signer(&config).await?.verifier().to_vkey());
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            checkpoints,
            public_key,
            ..
        } => {
            let verifier = match public_key {
                Some(k) => NoteVerifier::from_vkey(k).map_err(anyhow::Error::msg)?,
                None => signer(&config).await?.verifier(),
            };
            let mut notes = read_checkpoints(checkpoints)?;
            for stored in store.checkpoints().await? {
                notes.push((format!("stored #{}", stored.size), stored.note));
            }
            let opened = match tlog::open_checkpoints(&notes, &verifier) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("ledger BROKEN: {e}");
                    return Ok(ExitCode::from(1));
                }
            };
            let records = crate::store::all_records(store.as_ref()).await?;
            let head = store.audit_head().await?;
            report(
                tlog::verify_all(
                    &records,
                    head.as_ref().map(|(s, h)| (*s, h.as_str())),
                    &opened,
                    &verifier,
                ),
                &opened,
            )
        }
        AuditCommand::Export { .. } => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let mut after = 0;
            loop {
                let page = store.audit_records(after, 10_000).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                crate::audit::to_jsonl(&page, &mut out)?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Checkpoint => {
            let checkpoints = checkpointer(&config, store.clone()).await?;
            checkpoints
                .run(Trigger::Asked)
                .await
                .context("cannot sign a checkpoint")?;
            match store.latest_checkpoint().await? {
                Some(cp) => {
                    print!("{}", cp.note);
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("the ledger has no records yet, so there is nothing to sign");
                    Ok(ExitCode::from(1))
                }
            }
        }
        AuditCommand::Prove { request_id, since } => {
            prove(&config, store, request_id.as_deref(), since.as_deref()).await
        }
    }
}

async fn signer(config: &crate::config::Config) -> anyhow::Result<Arc<NoteSigner>> {
    let secrets = config.secrets.source.open();
    crate::startup::ledger_signer(config, secrets.as_ref()).await
}

async fn checkpointer(
    config: &crate::config::Config,
    store: Arc<dyn crate::store::Store>,
) -> anyhow::Result<crate::workflow::Checkpointer> {
    Ok(crate::startup::build_checkpointer(
        config,
        store,
        signer(config).await?,
        Arc::new(crate::clock::SystemClock),
    ))
}

fn read_checkpoints(files: &[PathBuf]) -> anyhow::Result<Vec<(String, String)>> {
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read checkpoint {}", f.display()))?;
            Ok((f.display().to_string(), text))
        })
        .collect()
}

/// `audit verify --export FILE --public-key KEY`: nothing but the file, the checkpoints and
/// the key.
fn verify_export(
    export: &std::path::Path,
    checkpoints: &[PathBuf],
    key: &str,
) -> anyhow::Result<ExitCode> {
    let verifier =
        NoteVerifier::from_vkey(key).map_err(|e| anyhow::anyhow!("--public-key: {e}"))?;
    let notes = read_checkpoints(checkpoints)?;
    let opened = match tlog::open_checkpoints(&notes, &verifier) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ledger BROKEN: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let file = std::fs::File::open(export)
        .with_context(|| format!("cannot read export {}", export.display()))?;
    let mut records: Vec<AuditRecord> = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read export {}", export.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(r) => records.push(r),
            Err(e) => {
                eprintln!(
                    "ledger BROKEN: line {} of {} is not a ledger record: {e}",
                    i + 1,
                    export.display()
                );
                return Ok(ExitCode::from(1));
            }
        }
    }
    report(
        tlog::verify_all(&records, None, &opened, &verifier),
        &opened,
    )
}

fn report(
    result: Result<tlog::Verified, LedgerBroken>,
    checkpoints: &[OpenedCheckpoint],
) -> anyhow::Result<ExitCode> {
    match result {
        Ok(v) => {
            println!(
                "ledger OK: {} records; chain intact; consistent with {} checkpoint(s){}; {} record signature(s) past the newest checkpoint verified{}",
                v.records,
                v.checkpoints.len(),
                match v.checkpoints.last() {
                    Some(size) => format!(" (newest covers {size})"),
                    None => String::new(),
                },
                v.signatures_checked - v.unsigned,
                if v.unsigned > 0 {
                    format!(
                        " ({} unsigned, written before the ledger had a key)",
                        v.unsigned
                    )
                } else {
                    String::new()
                },
            );
            if checkpoints.is_empty() {
                println!(
                    "note: no checkpoint was given or stored; the chain alone does not stop someone who can rewrite the store (pass --checkpoint FILE from where checkpoints are published)"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            eprintln!("ledger BROKEN: {broken}");
            Ok(ExitCode::from(1))
        }
    }
}

async fn prove(
    config: &crate::config::Config,
    store: Arc<dyn crate::store::Store>,
    request_id: Option<&str>,
    since: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let records = crate::store::all_records(store.as_ref()).await?;
    let ours: Vec<&AuditRecord> = match request_id {
        Some(id) => {
            let found: Vec<&AuditRecord> = records
                .iter()
                .filter(|r| r.entry.request_id.as_deref() == Some(id))
                .collect();
            if found.is_empty() {
                eprintln!("the ledger has no records of request {id}");
                return Ok(ExitCode::from(1));
            }
            found
        }
        None => Vec::new(),
    };
    // A checkpoint that covers what is to be proved: sign one over any newer records first.
    let newest = ours.last().map(|r| r.seq).unwrap_or(records.len() as u64);
    let covered = store
        .latest_checkpoint()
        .await?
        .map(|c| c.size)
        .unwrap_or(0);
    let signer = signer(config).await?;
    if covered < newest {
        crate::startup::build_checkpointer(
            config,
            store.clone(),
            signer.clone(),
            Arc::new(crate::clock::SystemClock),
        )
        .run(Trigger::Asked)
        .await
        .context("cannot sign a checkpoint to prove against")?;
    }
    let Some(latest) = store.latest_checkpoint().await? else {
        eprintln!("the ledger has no records yet, so there is nothing to prove");
        return Ok(ExitCode::from(1));
    };
    let verifier = signer.verifier();
    let leaves = tlog::leaf_hashes(&records);
    let json = match since {
        Some(file) => {
            let old = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read checkpoint {}", file.display()))?;
            serde_json::to_string_pretty(
                &crate::audit::proof::ConsistencyBundle::new(
                    &verifier,
                    &old,
                    &latest.note,
                    &leaves,
                )
                .map_err(|e| {
                    anyhow::anyhow!("no consistency proof from {}: {e}", file.display())
                })?,
            )?
        }
        None => {
            let data: Vec<(u64, Vec<u8>)> = ours
                .iter()
                .map(|r| (r.seq, crate::audit::leaf_data(r)))
                .collect();
            let prove: Vec<crate::audit::proof::ProveRecord<'_>> = data
                .iter()
                .map(|(seq, d)| crate::audit::proof::ProveRecord {
                    seq: *seq,
                    index: seq - 1,
                    data: d,
                })
                .collect();
            serde_json::to_string_pretty(
                &crate::audit::proof::InclusionBundle::new(
                    &verifier,
                    &latest.note,
                    &leaves,
                    &prove,
                )
                .map_err(|e| anyhow::anyhow!("no inclusion proof: {e}"))?,
            )?
        }
    };
    println!("{json}");
    Ok(ExitCode::SUCCESS)
}
