//! Matching repository paths to the paths a coverage report names: separators and `.`/`..`
//! normalised, suffix matches on component boundaries, Cobertura `<source>` roots, and an index
//! by file name so a lookup costs the few report paths that end in the same name.

use std::collections::{BTreeMap, HashMap};

use super::{CoverageReport, LineHits};

/// Per (levels up, prefix length): a root's score and what it adds to the length, if any fits.
type RootedScores = HashMap<(usize, Option<usize>), Option<(u8, usize)>>;

/// One report path, normalised. A relative one may also stand for itself under each
/// `<source>` root; those joined paths are worked out when a path is looked up, not stored,
/// so that a report naming many files and many roots costs no more than its size.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PathEntry {
    key: String,
    own: String,
    relative: bool,
    /// Leading `..` components of `own` (a relative path keeps only leading ones).
    up: usize,
    /// Byte offset in `own` of what follows them.
    rest: usize,
}

impl CoverageReport {
    /// The report path (as written in the report) that repository path `repo_path` maps to.
    ///
    /// After normalising separators and dropping `.` components, a report path matches
    /// when it equals the repository path or ends with `/` + the repository path; a
    /// relative Cobertura file name is also tried under each `<source>` root. An exact
    /// match wins, then the shortest matching path.
    pub fn resolve_path(&self, repo_path: &str) -> Option<&str> {
        let wanted = normalize_path(repo_path);
        let wanted = wanted.trim_start_matches('/');
        if wanted.is_empty() {
            return None;
        }
        let entries = self.by_name.get(file_name(wanted))?;
        let suffix = format!("/{wanted}");
        let mut best: Option<((u8, usize), &str)> = None;
        let mut rooted = HashMap::new();
        for entry in entries {
            let own = &entry.own;
            let mut score = if own == wanted {
                Some((0, own.len()))
            } else if own.ends_with(&suffix) {
                Some((1, own.len()))
            } else {
                None
            };
            if entry.relative && !self.roots.is_empty() {
                let under_root = self.rooted_score(entry, wanted, &mut rooted);
                score = match (score, under_root) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            if let Some(score) = score {
                if best.is_none_or(|(s, _)| score < s) {
                    best = Some((score, entry.key.as_str()));
                }
            }
        }
        best.map(|(_, key)| key)
    }

    /// The best score of `entry` joined to any root, against `wanted` (exact 0, suffix 1,
    /// then length): what `normalize_path(root + "/" + own)` would score for the best root.
    ///
    /// Joined to a root, `own` becomes the root less its last `up` components (its base),
    /// then `rest`. Which roots match, and how well, depends only on `up` and
    /// on the part of `wanted` before `rest`, so within one lookup each such pair is worked
    /// out once over the roots (`cache`, which keeps the score and what the root adds to the
    /// length), whatever the number of report paths sharing it.
    fn rooted_score(
        &self,
        entry: &PathEntry,
        wanted: &str,
        cache: &mut RootedScores,
    ) -> Option<(u8, usize)> {
        let rest = &entry.own[entry.rest..];
        if rest.is_empty() {
            // `own` is nothing but `..`: join it the plain way.
            let name = file_name(&entry.own);
            return self
                .roots
                .iter()
                .map(|root| normalize_path(&format!("{root}/{}", entry.own)))
                .filter(|joined| file_name(joined) == name)
                .filter_map(|joined| {
                    if joined == wanted {
                        Some((0, joined.len()))
                    } else if joined.ends_with(&format!("/{wanted}")) {
                        Some((1, joined.len()))
                    } else {
                        None
                    }
                })
                .min();
        }
        // `prefix`: what `wanted` has before `rest` (Some("") when it is `rest`), or None
        // when `wanted` is a shorter suffix of `rest`.
        let prefix = if wanted == rest {
            Some("")
        } else if wanted.len() > rest.len()
            && wanted.ends_with(rest)
            && wanted.as_bytes()[wanted.len() - rest.len() - 1] == b'/'
        {
            Some(&wanted[..wanted.len() - rest.len() - 1])
        } else if rest.len() > wanted.len() && rest.ends_with(&format!("/{wanted}")) {
            None
        } else {
            return None;
        };
        let up = entry.up;
        let best = *cache.entry((up, prefix.map(str::len))).or_insert_with(|| {
            self.roots
                .iter()
                .filter_map(|root| {
                    let (kept, dots) = root_base(root, up);
                    // The base as a string, needed only to compare it with a prefix that
                    // could end in `..` (never one of a repository path).
                    let spelled = || {
                        let mut b = kept.to_string();
                        for _ in 0..dots {
                            b.push_str(if b.is_empty() { ".." } else { "/.." });
                        }
                        b
                    };
                    let len = match (kept.len(), dots) {
                        (k, 0) => k,
                        (0, d) => 3 * d - 1,
                        (k, d) => k + 3 * d,
                    };
                    // What the base adds to `rest`: nothing, `/`, or itself and `/`.
                    let extra = match (len, kept) {
                        (0, _) => 0,
                        (1, "/") => 1,
                        (l, _) => l + 1,
                    };
                    let matches = |p: &str| {
                        let base = if dots == 0 {
                            std::borrow::Cow::Borrowed(kept)
                        } else if p.contains("..") {
                            std::borrow::Cow::Owned(spelled())
                        } else {
                            return None;
                        };
                        if *base == *p {
                            Some(0)
                        } else if base.len() > p.len()
                            && base.ends_with(p)
                            && base.as_bytes()[base.len() - p.len() - 1] == b'/'
                        {
                            Some(1)
                        } else {
                            None
                        }
                    };
                    match prefix {
                        None => Some((1, extra)),
                        Some("") => Some((u8::from(len != 0), extra)),
                        Some(p) => matches(p).map(|score| (score, extra)),
                    }
                })
                .min()
        });
        best.map(|(score, extra)| (score, extra + rest.len()))
    }

    pub(super) fn from_parts(files: BTreeMap<String, LineHits>, roots: Vec<String>) -> Self {
        let mut by_name: HashMap<String, Vec<PathEntry>> = HashMap::new();
        for key in files.keys() {
            let own = normalize_path(key);
            let name = file_name(&own).to_string();
            if name.is_empty() {
                continue;
            }
            let relative = !is_absolute(&own);
            let up = if relative {
                own.split('/').take_while(|part| *part == "..").count()
            } else {
                0
            };
            let rest = (up * 3).min(own.len());
            by_name.entry(name).or_default().push(PathEntry {
                key: key.clone(),
                own,
                relative,
                up,
                rest,
            });
        }
        CoverageReport {
            files,
            roots,
            by_name,
        }
    }
}

/// '/' separators, no empty or `.` components, `..` resolved where possible.
/// A leading '/' is kept.
pub(super) fn normalize_path(path: &str) -> String {
    let path = path.trim().replace('\\', "/");
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

fn is_absolute(normalized: &str) -> bool {
    let bytes = normalized.as_bytes();
    normalized.starts_with('/')
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
}

fn file_name(normalized: &str) -> &str {
    normalized.rsplit('/').next().unwrap_or(normalized)
}

/// `normalize_path(root + "/" + "../" × up)` for a normalised root, without building it: the
/// part of the root kept (`/` for an absolute root with nothing left; an empty root is joined
/// as `/`), and how many `..` follow it (a relative root can run out of components).
fn root_base(root: &str, up: usize) -> (&str, usize) {
    if root.is_empty() {
        return ("/", 0);
    }
    let absolute = root.starts_with('/');
    let mut end = root.len();
    let mut removed = 0;
    while removed < up {
        let start = root[..end].rfind('/').map_or(0, |i| i + 1);
        let part = &root[start..end];
        if part.is_empty() || part == ".." {
            break;
        }
        end = start.saturating_sub(1);
        if absolute && end == 0 {
            end = 1;
        }
        removed += 1;
    }
    let dots = if absolute { 0 } else { up - removed };
    (&root[..end], dots)
}

#[cfg(test)]
mod tests {
    use super::super::coverage_delta;
    use super::*;

    const PATHS: &str = "\
SF:/home/ci/work/proj/src/a.rs\nDA:1,1\nend_of_record\n\
SF:xsrc/a.rs\nDA:1,2\nend_of_record\n\
SF:C:\\build\\proj\\lib\\b.rs\nDA:1,3\nend_of_record\n\
SF:./src/c.rs\nDA:1,4\nend_of_record\n\
SF:vendor/src/c.rs\nDA:1,5\nend_of_record\n\
SF:/ci/a/deep/src/d.rs\nDA:1,6\nend_of_record\n\
SF:/ci/src/d.rs\nDA:1,7\nend_of_record\n\
SF:/ci/build/../src/e.rs\nDA:1,8\nend_of_record\n";

    #[test]
    fn path_matching_respects_component_boundaries() {
        let report = CoverageReport::parse("paths.info", PATHS).unwrap();
        // Absolute report path; `xsrc/a.rs` must not be taken for `src/a.rs`.
        assert_eq!(report.line_hits("src/a.rs", 1), Some(1));
        assert_eq!(report.line_hits("xsrc/a.rs", 1), Some(2));
        assert_eq!(report.line_hits("rc/a.rs", 1), None);
        assert_eq!(report.line_hits("src/a.rs", 2), None);
        assert_eq!(report.line_hits("src/missing.rs", 1), None);
        assert_eq!(report.line_hits("", 1), None);
    }

    #[test]
    fn path_matching_normalises_and_prefers_exact_then_shortest() {
        let report = CoverageReport::parse("paths.info", PATHS).unwrap();
        // Backslashes and a drive letter.
        assert_eq!(report.line_hits("lib/b.rs", 1), Some(3));
        assert_eq!(
            report.resolve_path("lib/b.rs"),
            Some("C:\\build\\proj\\lib\\b.rs")
        );
        // `./src/c.rs` is exactly `src/c.rs`, preferred over `vendor/src/c.rs`.
        assert_eq!(report.line_hits("src/c.rs", 1), Some(4));
        assert_eq!(report.line_hits("./src/c.rs", 1), Some(4));
        assert_eq!(report.line_hits("vendor/src/c.rs", 1), Some(5));
        // Two absolute paths end in src/d.rs: the shorter wins.
        assert_eq!(report.line_hits("src/d.rs", 1), Some(7));
        assert_eq!(report.line_hits("deep/src/d.rs", 1), Some(6));
        // `..` in a report path is resolved.
        assert_eq!(report.line_hits("ci/src/e.rs", 1), Some(8));
        assert_eq!(report.line_hits("build/src/e.rs", 1), None);
    }

    #[test]
    fn path_lookup_scales_to_large_reports() {
        let mut text = String::new();
        for i in 0..10_000 {
            text.push_str(&format!(
                "SF:/home/ci/proj/crate{}/src/mod{}.rs\nDA:1,{}\nend_of_record\n",
                i % 50,
                i,
                i
            ));
        }
        let report = CoverageReport::parse("big.info", &text).unwrap();
        assert_eq!(report.file_count(), 10_000);
        let added: Vec<(String, Vec<u32>)> = (0..1_000)
            .map(|i| {
                (
                    format!("crate{}/src/mod{}.rs", (i * 7) % 50, i * 7),
                    vec![1, 2],
                )
            })
            .collect();
        let delta = coverage_delta(&report, &report, &added);
        assert_eq!(delta.patch_instrumented, 1_000);
        // Only mod0.rs has 0 hits.
        assert_eq!(delta.patch_covered, 999);
        assert_eq!(report.line_hits("crate3/src/mod3003.rs", 1), Some(3003));
        assert_eq!(report.line_hits("crate4/src/mod3003.rs", 1), None);
    }
}
