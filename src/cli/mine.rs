//! `riskgate mine`: write a training dataset from a repository's history.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::labels::{self, LabelKind};
use crate::mining::{self, mine};
use crate::report::printable;

#[derive(Debug, clap::Args)]
pub struct MineArgs {
    /// Repository to mine (any directory inside it).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Dataset CSV to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Label kinds, comma-separated: revert, szz (at least one).
    #[arg(long, default_value = "revert,szz")]
    pub labels: String,
}

pub fn run(args: MineArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let kinds: Vec<LabelKind> =
        labels::parse_kinds(&args.labels).map_err(|e| anyhow::anyhow!("--labels: {e}"))?;
    let repo = mining::open_repository(&args.repo)?;
    // The miner keeps the trees it still needs itself (mining::ObjectCache). libgit2's cache
    // would keep every tree read (three or so per commit) until it is full, then evict on
    // every insertion, and hold most of the process's memory.
    // SAFETY: no other thread is using libgit2.
    unsafe { git2::opts::set_cache_object_limit(git2::ObjectType::Tree, 0) }?;
    // Fail before the walk, not after it, when the output cannot be written.
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let options = mine::MineOptions {
        labels: kinds,
        progress: true,
        ..mine::MineOptions::default()
    };
    let mined = match mine::mine_history(&repo, &options) {
        Ok(m) => m,
        Err(e) => {
            drop(file);
            let _ = std::fs::remove_file(&args.out);
            return Err(e.into());
        }
    };
    for w in &mined.warnings {
        eprintln!("riskgate: warning: {}", printable(w));
    }
    if mined.cut_at > 0 {
        eprintln!(
            "riskgate: warning: this clone is shallow: {} commit{} at its cut {} parents it does not hold, so {} no row{}, and the history signals (ndev, age, nuc, exp, rexp, sexp, author expertise) count only the commits present (git fetch --unshallow gives the whole history)",
            mined.cut_at,
            if mined.cut_at == 1 { "" } else { "s" },
            if mined.cut_at == 1 { "has" } else { "have" },
            if mined.cut_at == 1 { "it gives" } else { "they give" },
            if mined.cut_at == 1 { "" } else { "s" },
        );
    }
    let mut w = std::io::BufWriter::new(file);
    mine::write_csv(&mined.rows, &mut w)
        .and_then(|()| w.flush().map_err(csv::Error::from))
        .with_context(|| format!("writing {}", args.out.display()))?;
    let by_kind: Vec<String> = mined
        .positives
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let buggy = mined.rows.iter().filter(|r| r.buggy()).count();
    eprintln!(
        "riskgate: mined {} commits ({} merges skipped) into {}: {} buggy ({}) in {:.1} s",
        mined.rows.len(),
        mined.merges,
        args.out.display(),
        buggy,
        by_kind.join(", "),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
