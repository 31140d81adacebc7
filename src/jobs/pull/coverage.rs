//! A CI run finished: its coverage report is read from the configured artifact, kept for its
//! commit and branch, and the run's pull requests are scored again with it.

use crate::config::RepoConfig;
use crate::features::coverage::{is_cobertura, report_text, CoverageReport};
use crate::github::client::{RepoId, MAX_ARTIFACT_BYTES};
use crate::jobs::payload::{CoverageJob, Payload, ScoreJob};
use crate::jobs::{JobError, Worker};
use crate::mining;
use crate::store::Job;
use crate::time::now_ms;

use super::{blocking_err, fetch_error};

/// The job's state once its report is stored and its rescores queued (one transaction).
const REPORT_STORED: &str = "report_stored";

impl Worker {
    /// A CI run finished: read the configured coverage artifact, keep the report for its
    /// commit and branch, and rescore the run's pull requests with it.
    pub(in crate::jobs) async fn coverage(&self, job: &Job) -> Result<(), JobError> {
        let c = CoverageJob::read(job)?;
        if job
            .state
            .as_ref()
            .is_some_and(|s| s[REPORT_STORED].as_bool() == Some(true))
        {
            tracing::info!("the report was stored and its rescores queued before; nothing to do");
            return Ok(());
        }
        let repo = RepoId::new(&c.repo.owner, &c.repo.name);
        let default_branch = if c.repo.default_branch.is_empty() {
            "main".to_string()
        } else {
            c.repo.default_branch.clone()
        };
        let token = self.github.installation_token(c.installation_id).await?;
        let config_text = {
            let guard = self.lock_repo(&c.repo.full_name).await;
            let mirrors = self.mirrors.clone();
            let full_name = c.repo.full_name.clone();
            let rev = format!("refs/heads/{default_branch}");
            let refs = vec![rev.clone()];
            guard
                .blocking(move || -> Result<Option<mining::SettingsFile>, JobError> {
                    let path = mirrors
                        .fetch(&full_name, Some(&token), &refs)
                        .map_err(fetch_error)?;
                    let repo = mining::open_repository(&path)
                        .map_err(|e| JobError::Retry(e.to_string()))?;
                    mining::config_at(&repo, &rev).map_err(|e| super::mining_err(&path, e))
                })
                .await??
        };
        let config = match config_text
            .map(|f| f.and_then(|t| RepoConfig::parse(mining::CONFIG_PATH, &t)))
            .transpose()
        {
            Ok(c) => c.unwrap_or_default(),
            Err(e) => return Err(JobError::Park(format!("coverage not read: {e}"))),
        };
        let Some(wanted) = config.coverage else {
            tracing::info!("no coverage artifact configured; nothing to read");
            return Ok(());
        };
        let artifacts = self
            .github
            .list_run_artifacts(c.installation_id, repo, c.run_id)
            .await?;
        let Some(artifact) = artifacts
            .iter()
            .find(|a| a.name == wanted.artifact && !a.expired)
        else {
            tracing::info!(artifact = %wanted.artifact, "the run has no such artifact");
            return Ok(());
        };
        if artifact.size_in_bytes > MAX_ARTIFACT_BYTES as u64 {
            return Err(JobError::Park(format!(
                "the coverage artifact `{}` is {} bytes, more than the {} MiB riskgate downloads",
                artifact.name,
                artifact.size_in_bytes,
                MAX_ARTIFACT_BYTES / (1024 * 1024)
            )));
        }
        let zipped = self
            .github
            .download_artifact(c.installation_id, repo, artifact.id)
            .await?;
        // Unzipping and parsing are CPU work on a bounded input; they stay off the async
        // threads.
        let paths = wanted.paths.clone();
        let (text, parsed) = tokio::task::spawn_blocking(move || {
            let (name, text) =
                report_from_zip(&zipped, &paths, crate::features::coverage::MAX_REPORT_BYTES)?;
            let parsed = CoverageReport::parse(&name, &text).map_err(|e| e.to_string())?;
            Ok::<_, String>((text, parsed))
        })
        .await
        .map_err(blocking_err)?
        .map_err(JobError::Park)?;
        let format = if is_cobertura(&text) {
            "cobertura"
        } else {
            "lcov"
        };
        let head_branch = c.head_branch.clone().unwrap_or_default();
        // A fork can name a branch like the base branch; only the repository's own runs speak
        // for its branches. A fork's report still serves its own head commit.
        let branch = if c.same_repository {
            head_branch
        } else {
            let from = c.head_repository.as_deref().unwrap_or("unknown repository");
            crate::store::fork_branch_label(from, &head_branch)
        };
        // GitHub lists no pull requests for a run from a fork: rescore those riskgate has seen
        // at this head instead.
        let pull_numbers = if c.pull_numbers.is_empty() {
            self.store
                .pull_requests_scored_at(&c.repo.full_name, &c.head_sha)
                .await?
                .into_iter()
                .filter_map(|n| u64::try_from(n).ok())
                .collect()
        } else {
            c.pull_numbers.clone()
        };
        let rescores: Vec<_> = pull_numbers
            .iter()
            .map(|&number| {
                ScoreJob {
                    installation_id: c.installation_id,
                    repo: c.repo.clone(),
                    number,
                    head_sha: c.head_sha.clone(),
                    base_ref: None,
                    draft: None,
                    labels: None,
                    author: None,
                    opened_at: None,
                    reason: "coverage".into(),
                }
                .to_job()
            })
            .collect();
        let report = crate::store::NewCoverageReport {
            repository: c.repo.full_name.clone(),
            branch: branch.clone(),
            sha: c.head_sha.clone(),
            format: format.into(),
            report: crate::input::without_nul(text),
        };
        let stored = self
            .store
            .store_coverage_report_of_job(
                job.id,
                &self.id,
                &serde_json::json!({ REPORT_STORED: true }),
                &report,
                &rescores,
                now_ms(),
            )
            .await?;
        if stored.is_none() {
            return Err(JobError::Retry("another worker holds the job".into()));
        }
        tracing::info!(
            files = parsed.file_count(),
            %branch,
            rescores = rescores.len(),
            "coverage report stored"
        );
        self.wake.notify_waiters();
        Ok(())
    }
}

/// The first configured report path found in the artifact (by exact name or as a suffix), read
/// up to `max_bytes` of decompressed data. The limit counts the bytes the decompressor actually
/// yields: the sizes an archive declares are not trusted, since a zip bomb lies about them.
fn report_from_zip(
    bytes: &[u8],
    paths: &[String],
    max_bytes: u64,
) -> Result<(String, String), String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("the coverage artifact is not a zip file: {e}"))?;
    let names: Vec<String> = archive.file_names().map(str::to_string).collect();
    for wanted in paths {
        let wanted = wanted.trim_start_matches("./");
        let found = names
            .iter()
            .find(|n| *n == wanted || n.ends_with(&format!("/{wanted}")));
        if let Some(name) = found {
            let file = archive
                .by_name(name)
                .map_err(|e| format!("reading {name} from the artifact: {e}"))?;
            let raw = crate::input::read_up_to(file, max_bytes)
                .map_err(|e| format!("reading {name} from the artifact: {e}"))?
                .ok_or_else(|| {
                    format!(
                        "the coverage report {name} in the artifact is larger than {} MiB once \
                         decompressed; riskgate reads no more of it",
                        max_bytes / (1024 * 1024)
                    )
                })?;
            return Ok((name.clone(), report_text(&raw).into_owned()));
        }
    }
    Err(format!(
        "the coverage artifact holds none of {}",
        paths.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    const MIB: u64 = 1024 * 1024;

    /// A zip holding `name` with `size` zero bytes, deflated.
    fn zip_of_zeros(name: &str, size: u64) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut buf);
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        let chunk = vec![0u8; MIB as usize];
        let mut left = size;
        while left > 0 {
            let n = left.min(MIB);
            w.write_all(&chunk[..n as usize]).unwrap();
            left -= n;
        }
        w.finish().unwrap();
        buf.into_inner()
    }

    /// Rewrites every uncompressed size the archive declares (local and central headers) to
    /// `declared`, as a zip bomb would.
    fn lie_about_sizes(zip: &mut [u8], declared: u32) {
        let mut i = 0;
        while i + 4 <= zip.len() {
            let at = match &zip[i..i + 4] {
                b"PK\x03\x04" => Some(i + 22),
                b"PK\x01\x02" => Some(i + 24),
                _ => None,
            };
            if let Some(at) = at {
                zip[at..at + 4].copy_from_slice(&declared.to_le_bytes());
            }
            i += 1;
        }
    }

    fn paths() -> Vec<String> {
        vec!["lcov.info".to_string()]
    }

    #[test]
    fn a_report_is_read_up_to_the_cap() {
        let exact = zip_of_zeros("out/lcov.info", MIB);
        let (name, text) = report_from_zip(&exact, &paths(), MIB).unwrap();
        assert_eq!(name, "out/lcov.info");
        assert_eq!(text.len() as u64, MIB);
        let over = zip_of_zeros("lcov.info", MIB + 1);
        let error = report_from_zip(&over, &paths(), MIB).unwrap_err();
        assert!(
            error.contains("lcov.info") && error.contains("larger than 1 MiB"),
            "{error}"
        );
    }

    #[test]
    fn the_cap_counts_bytes_read_not_the_sizes_declared() {
        let mut bomb = zip_of_zeros("lcov.info", 3 * MIB);
        lie_about_sizes(&mut bomb, 100);
        let archive = zip::ZipArchive::new(std::io::Cursor::new(&bomb)).unwrap();
        assert_eq!(
            archive.decompressed_size(),
            Some(100),
            "the archive claims 100 bytes"
        );
        let error = report_from_zip(&bomb, &paths(), MIB).unwrap_err();
        assert!(error.contains("larger than 1 MiB"), "{error}");
    }

    #[test]
    fn a_missing_report_and_a_non_zip_are_named() {
        let other = zip_of_zeros("coverage.json", 10);
        let error = report_from_zip(&other, &paths(), MIB).unwrap_err();
        assert!(error.contains("holds none of lcov.info"), "{error}");
        let error = report_from_zip(b"not a zip", &paths(), MIB).unwrap_err();
        assert!(error.contains("not a zip file"), "{error}");
    }
}
