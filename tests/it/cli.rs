//! `riskgate score` as a user runs it: formats, the CI gate and one-line errors.

use crate::support::{day, run_riskgate, score_json, shallow_clone, TestRepo};

fn repo_with_change() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/app.rs", TestRepo::lines("l", 40));
    repo.write("Cargo.toml", "[package]\nname = \"x\"\n");
    repo.commit("alice", day(2022, 1, 1), "Import");
    repo.write(
        ".github/riskgate.yml",
        "sensitive_paths: ['src/payments/**']\n",
    );
    repo.commit("alice", day(2022, 1, 2), "Configure riskgate");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write(
        "src/app.rs",
        TestRepo::lines("l", 40) + &TestRepo::lines("more", 30),
    );
    repo.write("src/payments/charge.rs", TestRepo::lines("c", 12));
    repo.write("Cargo.toml", "[package]\nname = \"x\"\nversion = \"2\"\n");
    repo.commit("carol", day(2022, 2, 1), "Charge cards");
    repo
}

#[test]
fn json_output_has_the_designed_shape() {
    let repo = repo_with_change();
    let dir = repo.path().to_str().unwrap();
    let (code, out, err) = run_riskgate(&["score", "--repo", dir, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    let p = v["probability"].as_f64().unwrap();
    assert!(p > 0.0 && p < 1.0);
    assert!(["low", "elevated", "high"].contains(&v["band"].as_str().unwrap()));
    assert_eq!(v["features"]["nf"], 3.0);
    assert_eq!(v["features"]["la"], 43.0);
    assert_eq!(
        v["features"]["coverage_delta"],
        serde_json::Value::Null,
        "never an invented number"
    );
    assert_eq!(
        v["features"]["sensitive_files"], 2.0,
        "Cargo.toml and the configured payments path"
    );
    let contributions = v["contributions"].as_array().unwrap();
    assert!(!contributions.is_empty());
    let values: Vec<f64> = contributions
        .iter()
        .map(|c| c["contribution"].as_f64().unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] >= w[1]),
        "largest first: {values:?}"
    );
    for c in contributions {
        assert!(c["feature"].is_string() && c["value"].is_number());
        assert!(!c["explanation"].as_str().unwrap().is_empty());
    }
    assert!(v["model"]["version"].is_string());
    assert_eq!(v["head"], repo.git(&["rev-parse", "feature"]));
    assert_eq!(
        v["base"],
        repo.git(&["rev-parse", "main"]),
        "base defaults to the merge-base with main"
    );
    let notes: Vec<&str> = v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.iter().any(|n| n.starts_with("coverage unknown")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("src/payments/charge.rs (marked sensitive")),
        "{notes:?}"
    );
}

#[test]
fn text_and_markdown_say_the_same() {
    let repo = repo_with_change();
    let dir = repo.path().to_str().unwrap();
    let (_, json, _) = run_riskgate(&["score", "--repo", dir, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let (code, text, _) = run_riskgate(&["score", "--repo", dir]);
    assert_eq!(code, 0);
    let (_, md, _) = run_riskgate(&["score", "--repo", dir, "--format", "markdown"]);
    let pct = format!("{:.0}% risk", v["probability"].as_f64().unwrap() * 100.0);
    assert!(text.contains(&pct) && md.contains(&pct), "{text}\n{md}");
    let top = v["contributions"][0]["explanation"].as_str().unwrap();
    assert!(text.contains(top), "{text}");
    assert!(md.starts_with("### riskgate:"));
    assert!(
        md.contains("carol has not changed src/payments/ before")
            || md.contains("coverage unknown")
    );
}

#[test]
fn fail_above_gates_ci() {
    let repo = repo_with_change();
    let dir = repo.path().to_str().unwrap();
    let (code, _, err) = run_riskgate(&["score", "--repo", dir, "--fail-above", "0"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is above 0"), "{err}");
    let (code, _, _) = run_riskgate(&["score", "--repo", dir, "--fail-above", "1"]);
    assert_eq!(code, 0);
    let (code, _, err) = run_riskgate(&["score", "--repo", dir, "--fail-above", "7"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a probability"), "{err}");
}

#[test]
fn clear_one_line_errors() {
    let not_repo = tempfile::tempdir().unwrap();
    let (code, out, err) = run_riskgate(&["score", "--repo", not_repo.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("is not a git repository"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let repo = repo_with_change();
    let dir = repo.path().to_str().unwrap();
    let (code, _, err) = run_riskgate(&["score", "--repo", dir, "--base", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown revision `nope`"), "{err}");

    let empty = TestRepo::new();
    let (code, _, err) = run_riskgate(&["score", "--repo", empty.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("no commits"), "{err}");

    // git makes SHA-256 repositories, which libgit2 cannot open: said as what it is.
    let sha256 = tempfile::tempdir().unwrap();
    crate::support::git_in(sha256.path(), &["init", "-q", "--object-format=sha256"]);
    let (code, _, err) = run_riskgate(&["score", "--repo", sha256.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("is a git repository with sha256 object names"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // And references in a reftable, which libgit2 cannot read either.
    let reftable = tempfile::tempdir().unwrap();
    crate::support::git_in(reftable.path(), &["init", "-q", "--ref-format=reftable"]);
    let (code, _, err) = run_riskgate(&["score", "--repo", reftable.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("references are kept in a reftable")
            && err.contains("git clone --ref-format=files"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let (code, _, err) = run_riskgate(&[
        "score",
        "--repo",
        dir,
        "--coverage-head",
        "/no/such/file.info",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("/no/such/file.info"), "{err}");
}

/// A file name that is not UTF-8 reaches people as text, its odd bytes as U+FFFD, in the
/// JSON and in the sentences alike (and the settings' globs match that text).
#[test]
fn a_file_name_that_is_not_utf8_is_shown_as_text() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a\n");
    repo.commit("alice", day(2022, 1, 1), "Import");
    repo.write_bytes_named(b"db/migrations/caf\xe9.sql", "create table t;\n");
    repo.commit("alice", day(2022, 1, 2), "A migration with a Latin-1 name");
    let dir = repo.path().to_str().unwrap();
    let v = score_json(dir, "HEAD~1");
    let paths: Vec<&str> = v["sensitive_paths"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["path"].as_str())
        .collect();
    assert_eq!(paths, ["db/migrations/caf\u{fffd}.sql"], "{v}");
    let (code, out, err) = run_riskgate(&["score", "--repo", dir, "--base", "HEAD~1"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("db/migrations/caf\u{fffd}.sql (database migration)"),
        "{out}"
    );
}

/// A name or path from the repository is shown, not obeyed: its escape sequences cannot
/// recolour, retitle or clear the reader's terminal, its line breaks cannot forge a line of
/// the report, and a right-to-left override cannot reorder what is read.
#[test]
fn names_and_paths_from_the_repository_cannot_command_the_terminal() {
    let repo = TestRepo::new();
    let author = "Mal\u{1b}]0;pwned\u{7}\u{1b}[31mRED";
    repo.write("db/migrations/one.sql", "create table t;\n");
    repo.commit(author, day(2022, 1, 1), "Import");
    repo.write(
        "db/migrations/two\u{1b}[2J\n  +9.99  reviewed and safe\u{202e}lqs.sql",
        "create table u;\n",
    );
    repo.write("db/migrations/one.sql", "create table t (id int);\n");
    repo.commit(author, day(2022, 1, 2), "Two migrations");
    let dir = repo.path().to_str().unwrap();
    for format in ["text", "markdown"] {
        let (code, out, err) = run_riskgate(&[
            "score", "--repo", dir, "--base", "HEAD~1", "--format", format,
        ]);
        assert_eq!(code, 0, "{err}");
        for (stream, text) in [("stdout", &out), ("stderr", &err)] {
            for ch in ['\u{1b}', '\u{7}', '\u{202e}'] {
                assert!(
                    !text.contains(ch),
                    "{format} {stream} holds {ch:?}:\n{text}"
                );
            }
            assert!(
                !text.lines().any(|l| l.trim_start().starts_with("+9.99")),
                "{format} {stream} has a forged line:\n{text}"
            );
        }
        assert!(
            out.contains("two"),
            "{format}: the path is still named:\n{out}"
        );
        if format == "text" {
            assert!(
                out.contains("Mal\u{fffd}]0;pwned\u{fffd}\u{fffd}[31mRED"),
                "the author is named, each escape shown as U+FFFD:\n{out}"
            );
        }
    }
}

/// A warning is said once to a person: in the text report, or on stderr beside JSON and
/// markdown (which hold it too, for the programs that read them).
#[test]
fn warnings_are_said_once() {
    let repo = repo_with_change();
    let (_tmp, shallow) = shallow_clone(repo.path(), 2, "shallow", &["--branch", "feature"]);
    let dir = shallow.to_str().unwrap();
    let warning = "this clone is shallow";
    for format in ["text", "json", "markdown"] {
        let (code, out, err) = run_riskgate(&[
            "score", "--repo", dir, "--base", "HEAD~1", "--format", format,
        ]);
        assert_eq!(code, 0, "{err}");
        let said = |text: &str| text.matches(warning).count();
        let on_stderr = format != "text";
        assert_eq!(said(&err), usize::from(on_stderr), "{format}:\n{err}");
        assert_eq!(said(&out), 1, "{format}:\n{out}");
    }
}

#[test]
fn empty_change_is_scored_and_said() {
    let repo = repo_with_change();
    let dir = repo.path().to_str().unwrap();
    let (code, out, err) = run_riskgate(&[
        "score", "--repo", dir, "--base", "main", "--head", "main", "--format", "json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("is empty"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["change"]["empty"], true);
    assert_eq!(v["features"]["nf"], 0.0);
    assert!(v["notes"][0]
        .as_str()
        .unwrap()
        .starts_with("the change is empty"));
}

#[test]
fn invalid_repo_config_is_named() {
    let repo = repo_with_change();
    repo.git(&["checkout", "-q", "main"]);
    repo.write(".github/riskgate.yml", "sensitive_path: nope\n");
    repo.commit("alice", day(2022, 3, 1), "Break config");
    let dir = repo.path().to_str().unwrap();
    let (code, _, err) = run_riskgate(&[
        "score", "--repo", dir, "--base", "main", "--head", "feature",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains(".github/riskgate.yml") && err.contains("sensitive_path"),
        "{err}"
    );

    // `mine` reads every version of the file in history: a wrong one is mined past, and the
    // log names the file and what is wrong with it.
    repo.write("src/after.rs", "fn after() {}\n");
    repo.commit("alice", day(2022, 3, 2), "After the broken config");
    let csv = repo.path().join("mined.csv");
    let (code, _, err) = run_riskgate(&["mine", "--repo", dir, "--out", csv.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(".github/riskgate.yml is not valid here") && err.contains("sensitive_path"),
        "{err}"
    );
}

/// A settings file past 64 KiB is refused by its size, read before its content, loose and
/// packed alike.
#[test]
fn an_oversized_repo_config_is_refused_by_its_size() {
    let repo = repo_with_change();
    repo.git(&["checkout", "-q", "main"]);
    let comments = |n: usize| "# padding\n".repeat(n);
    repo.write(".github/riskgate.yml", comments(100_000));
    repo.commit("alice", day(2022, 3, 1), "Pad config");
    repo.write(".github/riskgate.yml", comments(100_001));
    repo.commit("alice", day(2022, 3, 2), "Pad config more");
    let dir = repo.path().to_str().unwrap();
    for packed in [false, true] {
        if packed {
            repo.git(&["gc", "-q", "--aggressive"]);
        }
        let (code, _, err) = run_riskgate(&[
            "score", "--repo", dir, "--base", "main", "--head", "feature",
        ]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(".github/riskgate.yml")
                && err.contains(&format!("{} bytes", comments(100_001).len()))
                && err.contains("64 KiB"),
            "{err}"
        );
    }
}

#[test]
fn coverage_reports_give_delta_and_patch_coverage() {
    let repo = repo_with_change();
    let dir = repo.path().to_str().unwrap();
    let reports = tempfile::tempdir().unwrap();
    // base: 40 lines of app.rs, 30 covered. head: app.rs grows to 70 lines; of the 30 added
    // lines (41..=70) 20 are instrumented and 10 of those hit; charge.rs: 12 lines, 6 hit.
    let mut base = String::from("SF:src/app.rs\n");
    for l in 1..=40 {
        base += &format!("DA:{l},{}\n", u32::from(l <= 30));
    }
    base += "end_of_record\n";
    let mut head = String::from("SF:/ci/work/src/app.rs\n");
    for l in 1..=40 {
        head += &format!("DA:{l},{}\n", u32::from(l <= 30));
    }
    for l in 41..=60 {
        head += &format!("DA:{l},{}\n", u32::from(l <= 50));
    }
    head += "end_of_record\nSF:/ci/work/src/payments/charge.rs\n";
    for l in 1..=12 {
        head += &format!("DA:{l},{}\n", u32::from(l % 2 == 0));
    }
    head += "end_of_record\n";
    let (b, h) = (
        reports.path().join("base.info"),
        reports.path().join("head.info"),
    );
    std::fs::write(&b, base).unwrap();
    std::fs::write(&h, head).unwrap();
    let (code, out, err) = run_riskgate(&[
        "score",
        "--repo",
        dir,
        "--format",
        "json",
        "--coverage-base",
        b.to_str().unwrap(),
        "--coverage-head",
        h.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // base 30/40 = 75%; head (30 + 10 + 6) / (40 + 20 + 12) = 46/72
    let delta = v["features"]["coverage_delta"].as_f64().unwrap();
    assert!(
        (delta - (46.0 / 72.0 * 100.0 - 75.0)).abs() < 1e-9,
        "{delta}"
    );
    // added lines instrumented: app.rs 41..=60 (20, 10 hit) + charge.rs 12 (6 hit)
    let patch = v["features"]["patch_coverage"].as_f64().unwrap();
    assert!((patch - 16.0 / 32.0 * 100.0).abs() < 1e-9, "{patch}");
    let notes = v["notes"].to_string();
    assert!(notes.contains("a drop of more than 2 points"), "{notes}");

    // A broken report is an error naming the file and line.
    std::fs::write(&h, "SF:x\nDA:one,1\n").unwrap();
    let (code, _, err) = run_riskgate(&[
        "score",
        "--repo",
        dir,
        "--coverage-head",
        h.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("head.info") && err.contains("line 2"), "{err}");
}

/// A repository's own `core.fsmonitor` names a command git would run when it refreshes the
/// index of a work tree, which rename detection does. riskgate's git reads the repository as
/// bare, so scoring and mining a clone with such a setting run nothing, wherever they run.
#[test]
fn a_repository_s_fsmonitor_command_never_runs() {
    let repo = TestRepo::new();
    repo.write("src/ledger.rs", TestRepo::lines("ledger ", 60));
    repo.commit("alice", day(2022, 1, 1), "Import");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.git(&["mv", "src/ledger.rs", "src/books.rs"]);
    repo.write(
        "src/books.rs",
        TestRepo::lines("ledger ", 60) + "one more\n",
    );
    repo.commit("bob", day(2022, 1, 2), "Rename the ledger");
    let marks = tempfile::tempdir().unwrap();
    let mark = marks.path().join("fsmonitor-ran");
    repo.git(&[
        "config",
        "core.fsmonitor",
        &format!("touch '{}'; echo", mark.display()),
    ]);
    let dir = repo.path().to_str().unwrap();
    let csv = marks.path().join("mined.csv");
    let runs: [&[&str]; 2] = [
        &[
            "score", "--repo", dir, "--base", "main", "--head", "feature", "--format", "json",
        ],
        &["mine", "--repo", dir, "--out", csv.to_str().unwrap()],
    ];
    for args in runs {
        // From inside the work tree, where a git without --bare takes it for the work tree.
        let out = std::process::Command::new(crate::support::riskgate())
            .args(args)
            .current_dir(repo.path())
            .env_remove("RISKGATE_MODEL")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        assert!(
            !mark.exists(),
            "{args:?} ran the repository's fsmonitor command"
        );
    }
    let report = score_json(dir, "main");
    assert_eq!(
        report["change"]["files"], 1,
        "the rename is one file: {report}"
    );
}

/// The author date is the author's to write. A change dated in the year 9999 is measured as of
/// now, by `score` and by `mine` alike: its files have rested since their last change until
/// now, not for millennia, and the row's date is no later than now.
#[test]
fn a_change_dated_in_the_future_is_measured_as_of_now() {
    let repo = TestRepo::new();
    let base_time = day(2022, 1, 1);
    repo.write("src/ledger.rs", TestRepo::lines("ledger ", 60));
    repo.commit("alice", base_time, "Import");
    repo.write("src/ledger.rs", TestRepo::lines("ledger ", 90));
    repo.commit(
        "mallory",
        253_402_300_799,
        "Grow the ledger in the year 9999",
    );
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as f64
    };
    let dir = repo.path().to_str().unwrap();
    let before = now();
    let report = score_json(dir, "HEAD~1");
    let after = now();
    let age = report["features"]["age"].as_f64().unwrap();
    let rested = (before - base_time as f64 - 1.0)..=(after - base_time as f64 + 1.0);
    assert!(rested.contains(&age), "age {age} not in {rested:?}");

    let out = tempfile::tempdir().unwrap();
    let csv = out.path().join("mined.csv");
    let (code, _, err) = run_riskgate(&["mine", "--repo", dir, "--out", csv.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let row = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r[column("la")] == "30")
        .expect("the row of the change");
    let date: f64 = row[column("author_date")].parse().unwrap();
    let age: f64 = row[column("age")].parse().unwrap();
    assert!(date <= now() && date >= before, "author_date {date}");
    let rested = (before - base_time as f64 - 1.0)..=(now() - base_time as f64 + 1.0);
    assert!(rested.contains(&age), "mined age {age} not in {rested:?}");
}
