//! Variants of one change, scored by the shipped model: more of a risk factor never lowers the
//! score, and the explanation never says it does.

use std::path::PathBuf;

use crate::support::{day, run_riskgate, TestRepo};

const SUBSYSTEMS: [&str; 5] = ["core", "api", "web", "db", "docs"];

/// A repository two years old: alice has changed every file of every subsystem, each file in
/// commits of its own, so the touched files' history does not depend on which files a variant
/// touches; the last commit touches them all, so they have all rested equally long.
fn history() -> TestRepo {
    let repo = TestRepo::new();
    let files = ["a.rs", "b.rs", "c.rs", "d.rs", "e.rs"];
    let mut t = day(2023, 1, 2);
    let append = |path: &str, prefix: &str| {
        let mut text = std::fs::read_to_string(repo.path().join(path)).unwrap_or_default();
        text.push_str(&TestRepo::lines(prefix, 12));
        repo.write(path, text);
    };
    for round in 0..7 {
        for sub in SUBSYSTEMS {
            for file in files {
                let path = format!("{sub}/{file}");
                append(&path, &format!("{sub}-{file}-{round}-"));
                repo.commit("alice", t, &format!("work on {path}, round {round}"));
                t += 3_600;
            }
        }
        t += 86_400 * 60;
    }
    for sub in SUBSYSTEMS {
        for file in files {
            append(&format!("{sub}/{file}"), &format!("{sub}-{file}-last-"));
        }
    }
    repo.commit("alice", t, "one more line everywhere");
    repo
}

/// A branch from main with one commit by `author` appending `lines` lines to each of `files`.
fn variant(repo: &TestRepo, name: &str, author: &str, files: &[&str], lines: usize) {
    repo.git(&["checkout", "-q", "-b", name, "main"]);
    for path in files {
        let mut text = std::fs::read_to_string(repo.path().join(path)).unwrap();
        text.push_str(&TestRepo::lines(&format!("{name}-"), lines));
        repo.write(path, text);
    }
    repo.commit(author, day(2025, 2, 1), &format!("{name}: add a feature"));
    repo.git(&["checkout", "-q", "main"]);
}

fn score(repo: &TestRepo, head: &str, extra: &[&str]) -> serde_json::Value {
    let dir = repo.path().to_str().unwrap();
    let mut args = vec![
        "score", "--repo", dir, "--base", "main", "--head", head, "--format", "json",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = run_riskgate(&args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn probability(report: &serde_json::Value) -> f64 {
    report["probability"].as_f64().unwrap()
}

/// An lcov report of `path` whose lines `from..=to` ran `hits` times.
fn lcov(path: &str, from: usize, to: usize, hits: u32) -> String {
    let mut out = format!("SF:{path}\n");
    for line in from..=to {
        out.push_str(&format!("DA:{line},{hits}\n"));
    }
    out.push_str("end_of_record\n");
    out
}

#[test]
fn more_of_a_risk_factor_never_lowers_the_score() {
    let repo = history();
    // The same 40 added lines: in one file, over four files of one directory, over four
    // subsystems; by a newcomer; and ten times as many lines.
    variant(&repo, "one-file", "alice", &["core/a.rs"], 40);
    variant(
        &repo,
        "four-files",
        "alice",
        &["core/a.rs", "core/b.rs", "core/c.rs", "core/d.rs"],
        10,
    );
    variant(
        &repo,
        "four-subsystems",
        "alice",
        &["core/a.rs", "api/a.rs", "web/a.rs", "db/a.rs"],
        10,
    );
    variant(&repo, "newcomer", "mallory", &["core/a.rs"], 40);
    variant(&repo, "more-lines", "alice", &["core/a.rs"], 400);

    let one_file = score(&repo, "one-file", &[]);
    let four_files = score(&repo, "four-files", &[]);
    let four_subsystems = score(&repo, "four-subsystems", &[]);
    let newcomer = score(&repo, "newcomer", &[]);
    let more_lines = score(&repo, "more-lines", &[]);
    let p = |r: &serde_json::Value| probability(r);
    assert!(
        p(&more_lines) > p(&one_file),
        "ten times the lines must score higher: {} vs {}",
        p(&more_lines),
        p(&one_file)
    );
    assert!(
        p(&four_files) >= p(&one_file),
        "{} vs {}",
        p(&four_files),
        p(&one_file)
    );
    assert!(
        p(&four_subsystems) >= p(&four_files),
        "{} vs {}",
        p(&four_subsystems),
        p(&four_files)
    );
    assert!(
        p(&newcomer) >= p(&one_file),
        "{} vs {}",
        p(&newcomer),
        p(&one_file)
    );

    // Coverage of the added lines (a note, not a model input): never lowers the score when
    // the tests do not run them.
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: String| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let base = file("base.info", lcov("core/a.rs", 1, 96, 1));
    let covered = file("covered.info", lcov("core/a.rs", 1, 136, 1));
    let mut untested = lcov("core/a.rs", 1, 96, 1);
    untested.push_str(&lcov("core/a.rs", 97, 136, 0));
    let untested = file("untested.info", untested);
    let with = |head: &PathBuf| {
        score(
            &repo,
            "one-file",
            &[
                "--coverage-base",
                base.to_str().unwrap(),
                "--coverage-head",
                head.to_str().unwrap(),
            ],
        )
    };
    let (covered, untested) = (with(&covered), with(&untested));
    assert!(p(&untested) >= p(&covered));
    let advice: Vec<&str> = untested["advice"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        advice
            .iter()
            .any(|a| a.contains("untested added lines in core/a.rs (40 lines)")),
        "{advice:?}"
    );
    assert!(
        covered["advice"].as_array().unwrap().is_empty(),
        "{}",
        covered["advice"]
    );

    // The newcomer is told who to ask; the explanation lists each group once.
    let advice = newcomer["advice"].to_string();
    assert!(
        advice.contains("someone who has changed core/ before: mallory has not"),
        "{advice}"
    );
    for report in [
        &one_file,
        &four_files,
        &four_subsystems,
        &newcomer,
        &more_lines,
    ] {
        let groups: Vec<&str> = report["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["group"].as_str().unwrap())
            .collect();
        let mut unique = groups.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            groups.len(),
            "a group listed twice: {groups:?}"
        );
    }
}
