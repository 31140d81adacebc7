//! Fetches one repository into a fresh mirror under a size limit, as the App does, and reports
//! how it ended, how long it took, the most the data dir held while it ran (sampled every
//! 50 ms) and what it holds after.
//!
//! ```sh
//! # a local copy of git.git served as file:///tmp/remotes/git/git.git
//! mkdir -p /tmp/remotes/git && git clone -q --bare https://github.com/git/git /tmp/remotes/git/git.git
//! cargo run --release --example mirror_limit -- file:///tmp/remotes git/git refs/heads/master 100
//! ```
//!
//! Arguments: the git URL (`RISKGATE_GIT_URL`), `owner/name`, the ref to fetch, the limit in
//! MiB (`RISKGATE_MIRROR_MAX_MB`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use riskgate::mining::mirror::{bytes_under, GitRemote, Mirrors, DEFAULT_GIT_TIMEOUT};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, name, wanted, mib] = args.as_slice() else {
        anyhow::bail!("usage: mirror_limit GIT_URL OWNER/NAME REF LIMIT_MIB");
    };
    let limit: u64 = mib.parse().context("LIMIT_MIB")?;
    let data = tempfile::tempdir()?;
    let mirrors = Mirrors::new(data.path(), GitRemote::parse(url)?, DEFAULT_GIT_TIMEOUT)
        .with_max_bytes(limit << 20);

    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, dir) = (peak.clone(), done.clone(), data.path().to_path_buf());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(bytes_under(&dir), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let started = Instant::now();
    let outcome = mirrors.fetch(name, None, std::slice::from_ref(wanted));
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();

    match outcome {
        Ok(_) => println!("fetched"),
        Err(e) => println!("refused: {e}"),
    }
    println!(
        "{:.2} s, at most {} MiB in the data dir, {} KiB left after",
        took.as_secs_f64(),
        peak.load(Ordering::Relaxed) >> 20,
        bytes_under(data.path()) >> 10
    );
    Ok(())
}
