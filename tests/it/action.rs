//! The GitHub Action (`action.yml`, `action/run.sh`, `action/install.sh`) run as a runner runs
//! it: the real `pull_request` delivery of `fixtures/github` pointed at a pull request of the
//! bundled real history, `GITHUB_EVENT_PATH`, `GITHUB_STEP_SUMMARY` and `GITHUB_OUTPUT` set,
//! the checkout a clone of the repository over `file://`, full or `--depth 1`, and riskgate the
//! binary cargo built.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::harness::fixture;
use crate::support::{git_in, riskgate, TestRepo};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// bash and jq, which the action needs (GitHub's runners have both); a reason to skip if not.
fn tools_missing() -> Option<String> {
    for tool in ["bash", "jq"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

macro_rules! need_tools {
    () => {
        if let Some(why) = tools_missing() {
            eprintln!("skipped: {why}; the action needs bash and jq");
            return;
        }
    };
}

/// A pull request of the bundled history: `base` is the tip of `riskgate-history`, `head` a
/// branch of two commits from six first-parent commits before it. `upstream` is the
/// repository the runner clones from.
struct PullRequest {
    upstream: TestRepo,
    base: String,
    head: String,
    merge_base: String,
}

fn pull_request() -> PullRequest {
    let dir = tempfile::tempdir().unwrap();
    let bundle = manifest_dir().join("fixtures/repos/riskgate-history.bundle");
    git_in(
        dir.path(),
        &[
            "clone",
            "-q",
            "--branch",
            "riskgate-history",
            bundle.to_str().unwrap(),
            ".",
        ],
    );
    let upstream = TestRepo { dir };
    let base = upstream.git(&["rev-parse", "HEAD"]);
    let merge_base = upstream.git(&["rev-parse", "HEAD~6"]);
    let time: i64 = upstream
        .git(&["log", "-1", "--format=%ct"])
        .parse()
        .unwrap();
    upstream.git(&["checkout", "-q", "-b", "feature", &merge_base]);
    upstream.write("src/payments/charge.rs", TestRepo::lines("charge ", 120));
    upstream.commit("carol", time + 3_600, "Charge cards");
    upstream.write("src/payments/refund.rs", TestRepo::lines("refund ", 40));
    let head = upstream.commit("carol", time + 7_200, "Refunds");
    upstream.git(&["checkout", "-q", "riskgate-history"]);
    PullRequest {
        upstream,
        base,
        head,
        merge_base,
    }
}

impl PullRequest {
    /// The runner's checkout of the PR's head: a clone over `file://`, `--depth 1` if shallow.
    fn checkout(&self, into: &Path, shallow: bool) -> PathBuf {
        self.clone_with(into, if shallow { &["--depth", "1"] } else { &[] })
    }

    /// The checkout `actions/checkout` makes with `filter: <filter>`: a partial clone.
    fn partial_checkout(&self, into: &Path, filter: &str) -> PathBuf {
        self.upstream
            .git(&["config", "uploadpack.allowFilter", "true"]);
        self.clone_with(into, &[&format!("--filter={filter}")])
    }

    fn clone_with(&self, into: &Path, options: &[&str]) -> PathBuf {
        let url = format!("file://{}", self.upstream.path().display());
        let dir = into.join("workspace");
        let mut args = vec!["clone", "-q", "--branch", "feature"];
        args.extend(options);
        args.extend([url.as_str(), dir.to_str().unwrap()]);
        git_in(into, &args);
        dir
    }

    /// The real `pull_request` `opened` delivery, about this pull request.
    fn event(&self) -> serde_json::Value {
        let mut event = fixture("pull_request.opened.json");
        event["pull_request"]["base"]["sha"] = json!(self.base);
        event["pull_request"]["base"]["ref"] = json!("riskgate-history");
        event["pull_request"]["head"]["sha"] = json!(self.head);
        event["pull_request"]["head"]["ref"] = json!("feature");
        event
    }
}

/// What one run of the action's step left: exit code, log (stdout and stderr), the step
/// summary and the step outputs.
struct Run {
    code: i32,
    log: String,
    summary: String,
    outputs: String,
}

impl Run {
    fn output(&self, name: &str) -> Option<&str> {
        self.outputs
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
    }
}

/// `action/run.sh` in `workspace` with the environment a runner gives a step, `event` as the
/// event file, `env` on top. `GITHUB_*` files live in `tmp`.
fn run_action(
    tmp: &Path,
    workspace: &Path,
    event: &serde_json::Value,
    env: &[(&str, &str)],
) -> Run {
    run_step("run.sh", tmp, workspace, event, env)
}

/// The action's script `action/<script>`, run as [`run_action`] runs `run.sh`.
fn run_step(
    script: &str,
    tmp: &Path,
    workspace: &Path,
    event: &serde_json::Value,
    env: &[(&str, &str)],
) -> Run {
    let runner = tmp.join("runner");
    std::fs::create_dir_all(&runner).unwrap();
    let event_path = runner.join("event.json");
    std::fs::write(&event_path, serde_json::to_vec_pretty(event).unwrap()).unwrap();
    let summary = runner.join("step_summary.md");
    let outputs = runner.join("output");
    for f in [&summary, &outputs] {
        std::fs::write(f, "").unwrap();
    }
    let mut cmd = Command::new("bash");
    cmd.arg(manifest_dir().join("action").join(script))
        .current_dir(workspace)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_WORKSPACE", workspace)
        .env("RISKGATE_BIN", riskgate())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", &runner)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("RISKGATE_MODEL")
        .env_remove("INPUT_FAIL_ABOVE")
        .env_remove("INPUT_ARGS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("bash runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        log: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        summary: std::fs::read_to_string(&summary).unwrap(),
        outputs: std::fs::read_to_string(&outputs).unwrap(),
    }
}

/// The outputs say a probability in [0, 1] and a band, and the summary explains the same.
fn assert_scored(run: &Run) -> (f64, String) {
    assert_eq!(run.code, 0, "{}", run.log);
    let probability: f64 = run
        .output("probability")
        .unwrap_or_else(|| panic!("no probability output: {}", run.outputs))
        .parse()
        .unwrap();
    assert!((0.0..=1.0).contains(&probability), "{probability}");
    let band = run.output("band").unwrap().to_string();
    assert!(
        ["low", "elevated", "high"].contains(&band.as_str()),
        "{band}"
    );
    assert!(
        run.summary.starts_with("### riskgate: ")
            && run.summary.contains(&format!("% risk — {band}")),
        "{}",
        run.summary
    );
    (probability, band)
}

#[test]
fn a_pull_request_is_scored_into_the_summary_and_outputs_and_fail_above_gates_it() {
    need_tools!();
    let pr = pull_request();
    let tmp = tempfile::tempdir().unwrap();
    let workspace = pr.checkout(tmp.path(), false);
    let event = pr.event();

    let run = run_action(tmp.path(), &workspace, &event, &[]);
    let (_, band) = assert_scored(&run);
    let probability = run.output("probability").unwrap().to_string();
    assert!(
        run.summary
            .contains(&format!("{}..{}", &pr.merge_base[..10], &pr.head[..10])),
        "the change is merge-base..head: {}",
        run.summary
    );
    assert!(
        run.summary.contains("| effect | factor |"),
        "the explanation: {}",
        run.summary
    );
    assert!(
        run.log
            .contains(&format!("probability {probability}, band {band}")),
        "{}",
        run.log
    );
    assert!(!run.log.contains("deepen"), "a full clone: {}", run.log);
    // The text report is printed with workflow commands stopped, then resumed.
    let stop = run
        .log
        .lines()
        .find_map(|l| l.strip_prefix("::stop-commands::"))
        .expect("workflow commands stopped");
    assert!(run.log.contains(&format!("\n::{stop}::\n")), "{}", run.log);

    let passes = run_action(tmp.path(), &workspace, &event, &[("INPUT_FAIL_ABOVE", "1")]);
    assert_scored(&passes);

    let fails = run_action(tmp.path(), &workspace, &event, &[("INPUT_FAIL_ABOVE", "0")]);
    assert_eq!(fails.code, 1, "{}", fails.log);
    assert!(
        fails.log.contains(&format!(
            "the probability {probability} is above fail-above 0"
        )),
        "{}",
        fails.log
    );
    assert_eq!(
        fails.output("band"),
        Some(band.as_str()),
        "outputs and summary are written before the step fails"
    );
    assert!(fails.summary.starts_with("### riskgate: "));

    for wrong in ["1.5", "-0.1", "high", "0.5; touch x", "."] {
        let run = run_action(
            tmp.path(),
            &workspace,
            &event,
            &[("INPUT_FAIL_ABOVE", wrong)],
        );
        assert_eq!(run.code, 2, "{wrong}: {}", run.log);
        assert!(
            run.log
                .contains("fail-above must be a probability between 0 and 1"),
            "{wrong}: {}",
            run.log
        );
        assert!(run.outputs.is_empty() && run.summary.is_empty());
    }
}

/// The pull request's own `.gitattributes` cannot make its lines binary, and so lower its
/// score past a `fail-above` gate: what is binary is read from the base's, as the App reads it,
/// unless the workflow asks otherwise.
#[test]
fn a_pull_request_s_own_gitattributes_cannot_hide_its_lines() {
    need_tools!();
    let mut pr = pull_request();
    pr.upstream.git(&["checkout", "-q", "feature"]);
    pr.upstream.write(".gitattributes", "*.rs -diff\n");
    let time: i64 = pr
        .upstream
        .git(&["log", "-1", "--format=%ct"])
        .parse()
        .unwrap();
    pr.head = pr
        .upstream
        .commit("carol", time + 60, "Rust files are binary");
    pr.upstream.git(&["checkout", "-q", "riskgate-history"]);
    let tmp = tempfile::tempdir().unwrap();
    let workspace = pr.checkout(tmp.path(), false);
    let event = pr.event();

    let run = run_action(tmp.path(), &workspace, &event, &[]);
    let (gated, _) = assert_scored(&run);
    assert!(
        run.summary.contains("3 files, +161 −0"),
        "every added line counts: {}",
        run.summary
    );
    let asked = [("INPUT_ARGS", "--attributes\nrepository")];
    let own = run_action(tmp.path(), &workspace, &event, &asked);
    let (hidden, _) = assert_scored(&own);
    assert!(
        own.summary.contains("3 files, +1 −0"),
        "the work tree's attributes, as asked: {}",
        own.summary
    );
    assert!(gated > hidden, "{gated} > {hidden}");
}

/// The folder the cache step names is the one the score keeps its history index in, and that
/// folder, restored into the next run's fresh checkout as actions/cache restores it, is taken
/// up as it is: not rebuilt, not rewritten, and the score the same. A shallow checkout, whose
/// index each deepening rebuilds, is not cached.
#[test]
fn the_cache_step_names_the_folder_the_next_run_takes_up() {
    need_tools!();
    let pr = pull_request();
    let event = pr.event();
    let first_run = tempfile::tempdir().unwrap();
    let workspace = pr.checkout(first_run.path(), false);
    let found = run_step("cache-dir.sh", first_run.path(), &workspace, &event, &[]);
    assert_eq!(found.code, 0, "{}", found.log);
    let folder = PathBuf::from(found.output("path").expect("a folder to cache"));
    assert_eq!(
        folder,
        workspace
            .join(".git")
            .canonicalize()
            .unwrap()
            .join("riskgate")
    );
    assert!(!folder.exists(), "nothing indexed before the first score");
    let first = run_action(first_run.path(), &workspace, &event, &[]);
    let (probability, _) = assert_scored(&first);
    let index_files = |dir: &Path| -> Vec<(String, std::time::SystemTime)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (name, e.metadata().unwrap().modified().unwrap())
            })
            .collect();
        files.sort();
        files
    };
    let written = index_files(&folder);
    assert!(
        written
            .iter()
            .any(|(name, _)| name.starts_with("history-v")),
        "the score wrote its index where the cache step said: {written:?}"
    );

    // The next run: a fresh checkout elsewhere, the cached folder restored into it.
    let next_run = tempfile::tempdir().unwrap();
    let workspace = pr.checkout(next_run.path(), false);
    let found = run_step("cache-dir.sh", next_run.path(), &workspace, &event, &[]);
    let restored = PathBuf::from(found.output("path").unwrap());
    assert_ne!(restored, folder);
    copy_dir(&folder, &restored);
    let before = index_files(&restored);
    let next = run_action(
        next_run.path(),
        &workspace,
        &event,
        &[("RISKGATE_LOG", "info")],
    );
    assert_eq!(assert_scored(&next).0, probability, "{}", next.log);
    assert!(!next.log.contains("rebuilding"), "{}", next.log);
    assert_eq!(
        index_files(&restored),
        before,
        "the restored index is read as it is, nothing rewritten"
    );

    // A shallow checkout: no folder, and the log says why.
    let shallow_run = tempfile::tempdir().unwrap();
    let workspace = pr.checkout(shallow_run.path(), true);
    let found = run_step("cache-dir.sh", shallow_run.path(), &workspace, &event, &[]);
    assert_eq!(found.code, 0, "{}", found.log);
    assert!(found.outputs.is_empty(), "{}", found.outputs);
    assert!(found.log.contains("the clone is shallow"), "{}", found.log);

    // Not a git checkout: no folder, and the step does not fail the job.
    let found = run_step(
        "cache-dir.sh",
        shallow_run.path(),
        shallow_run.path(),
        &event,
        &[],
    );
    assert_eq!(found.code, 0, "{}", found.log);
    assert!(found.outputs.is_empty(), "{}", found.outputs);
}

/// A copy of the folder `from` (files and folders only) at `to`, as a cache restores it.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            let modified = entry.metadata().unwrap().modified().unwrap();
            std::fs::File::options()
                .write(true)
                .open(&target)
                .unwrap()
                .set_modified(modified)
                .unwrap();
        }
    }
}

#[test]
fn a_shallow_checkout_is_deepened_until_base_and_head_meet_and_says_so() {
    need_tools!();
    let pr = pull_request();
    let tmp = tempfile::tempdir().unwrap();
    let workspace = pr.checkout(tmp.path(), true);
    assert_eq!(
        git_in(&workspace, &["rev-parse", "--is-shallow-repository"]),
        "true"
    );
    let event = pr.event();

    // Too few rounds to reach the merge base: a clear error, no score.
    let short = run_action(
        tmp.path(),
        &workspace,
        &event,
        &[
            ("RISKGATE_DEEPEN_STEP", "1"),
            ("RISKGATE_DEEPEN_ROUNDS", "1"),
        ],
    );
    assert_eq!(short.code, 2, "{}", short.log);
    assert!(
        short
            .log
            .contains("fetching 1 commit(s) of the pull request"),
        "the base is not in a depth-1 clone of the head: {}",
        short.log
    );
    assert!(
        short
            .log
            .contains("no common ancestor of base and head within 1 more commits")
            && short.log.contains("fetch-depth: 0"),
        "{}",
        short.log
    );
    assert!(short.outputs.is_empty());

    let run = run_action(
        tmp.path(),
        &workspace,
        &event,
        &[("RISKGATE_DEEPEN_STEP", "2")],
    );
    assert!(
        run.log.contains(
            "the clone is shallow and holds no common ancestor of base and head: deepening it by"
        ),
        "{}",
        run.log
    );
    assert!(
        run.log
            .contains(&format!("base and head meet at {}", &pr.merge_base[..12])),
        "{}",
        run.log
    );
    assert!(
        run.log
            .contains("history signals count only the commits present"),
        "{}",
        run.log
    );
    assert_scored(&run);
    assert!(run
        .summary
        .contains(&format!("{}..{}", &pr.merge_base[..10], &pr.head[..10])));
    assert_eq!(
        git_in(&workspace, &["rev-parse", "--is-shallow-repository"]),
        "true",
        "deepened, not unshallowed"
    );
}

/// A partial checkout (`filter: blob:none`) holds the contents of the head's files only: the
/// action fetches the change's before it scores, which then counts the lines a full checkout
/// counts. A treeless one (`filter: tree:0`) is refused with what to check out instead.
#[test]
fn a_partial_checkout_gets_the_change_fetched_and_a_treeless_one_is_refused() {
    need_tools!();
    let mut pr = pull_request();
    // The base branch commits a .mailmap and a settings file that the pull request's branch
    // lacks, so a partial checkout of the pull request holds neither's content.
    let time: i64 = pr
        .upstream
        .git(&["log", "-1", "--format=%ct"])
        .parse()
        .unwrap();
    pr.upstream.write(
        ".mailmap",
        "Carol <carol@example.com> <carol@laptop.example.com>\n",
    );
    pr.upstream.write(
        ".github/riskgate.yml",
        "thresholds: {elevated: 0.001, high: 0.002}\n",
    );
    pr.base = pr
        .upstream
        .commit("alice", time + 60, "Map carol's addresses, set thresholds");
    let event = pr.event();
    let full_tmp = tempfile::tempdir().unwrap();
    let full = run_action(
        full_tmp.path(),
        &pr.checkout(full_tmp.path(), false),
        &event,
        &[],
    );
    assert_scored(&full);
    let change = "2 files, +160 −0";
    assert!(full.summary.contains(change), "{}", full.summary);

    let tmp = tempfile::tempdir().unwrap();
    let workspace = pr.partial_checkout(tmp.path(), "blob:none");
    let run = run_action(tmp.path(), &workspace, &event, &[]);
    assert!(
        run.log
            .contains("the checkout is a partial clone: fetching the contents of the change"),
        "{}",
        run.log
    );
    assert_scored(&run);
    assert!(run.summary.contains(change), "{}", run.summary);
    // The .mailmap and the settings riskgate reads were fetched with the change.
    for run in [&full, &run] {
        assert!(!run.log.contains(".mailmap"), "{}", run.log);
        assert_eq!(
            run.output("band"),
            Some("high"),
            "the base's thresholds hold"
        );
    }

    let tmp = tempfile::tempdir().unwrap();
    let workspace = pr.partial_checkout(tmp.path(), "tree:0");
    let run = run_action(tmp.path(), &workspace, &event, &[]);
    assert_eq!(run.code, 2, "{}", run.log);
    assert!(
        run.log.contains("treeless partial clone") && run.log.contains("filter: blob:none"),
        "{}",
        run.log
    );
    assert!(run.outputs.is_empty());
}

/// The event is input from whoever opened the pull request: commit ids that are not 40 hex
/// digits are refused before git or riskgate runs, and nothing in them is executed.
#[test]
fn a_hostile_event_is_refused_and_nothing_in_it_runs() {
    need_tools!();
    let pr = pull_request();
    let tmp = tempfile::tempdir().unwrap();
    let workspace = pr.checkout(tmp.path(), false);
    // git and riskgate stand-ins that record being run, then run the real ones.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let ran = tmp.path().join("ran");
    let real_git = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for (name, real) in [
        ("git", real_git.trim().to_string()),
        ("riskgate", riskgate().display().to_string()),
    ] {
        let path = bin.join(name);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho {name} >> '{}'\nexec '{real}' \"$@\"\n",
                ran.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let pwned = tmp.path().join("pwned");
    let stand_in = bin.join("riskgate").display().to_string();
    let env = [("PATH", path.as_str()), ("RISKGATE_BIN", stand_in.as_str())];

    let good = pr.event();
    let run = run_action(tmp.path(), &workspace, &good, &env);
    assert_scored(&run);
    assert!(std::fs::read_to_string(&ran).unwrap().contains("riskgate"));
    std::fs::remove_file(&ran).unwrap();

    let touch = format!("touch {}", pwned.display());
    let hostile = [
        ("head", json!(format!("--upload-pack={touch}"))),
        ("base", json!(format!("$({touch})"))),
        ("head", json!(format!("{}\n--upload-pack={touch}", pr.head))),
        ("head", json!(format!("{}`{touch}`", &pr.head[..30]))),
        ("base", json!(pr.base.to_uppercase())),
        ("base", json!(&pr.base[..39])),
        ("head", json!(format!("{} ", pr.head))),
        ("head", json!(42)),
        ("base", json!([pr.base])),
        ("head", json!(null)),
    ];
    for (side, value) in hostile {
        let mut event = good.clone();
        event["pull_request"][side]["sha"] = value.clone();
        let run = run_action(tmp.path(), &workspace, &event, &env);
        assert_eq!(run.code, 2, "{value}: {}", run.log);
        assert!(
            run.log.contains(&format!(
                "the event's pull_request.{side}.sha is not a commit id (40 hex digits); refusing it"
            )),
            "{value}: {}",
            run.log
        );
        assert!(!pwned.exists(), "{value} ran something");
        assert!(!ran.exists(), "{value}: git or riskgate ran");
        assert!(run.outputs.is_empty() && run.summary.is_empty());
    }

    // A push's tips are held to the same rule.
    for (side, value) in [
        ("before", json!(format!("$({touch})"))),
        ("after", json!(format!("--upload-pack={touch}"))),
        ("before", json!(null)),
        ("after", json!(pr.head.to_uppercase())),
    ] {
        let mut push = json!({"ref": "refs/heads/main", "before": pr.base, "after": pr.head});
        push[side] = value.clone();
        let run = run_action(tmp.path(), &workspace, &push, &env);
        assert_eq!(run.code, 2, "{value}: {}", run.log);
        assert!(
            run.log.contains(&format!(
                "the push event's {side} is not a commit id (40 hex digits); refusing it"
            )),
            "{value}: {}",
            run.log
        );
        assert!(!pwned.exists() && !ran.exists(), "{value}");
    }

    // An event that is neither, and a file that is not JSON.
    let other = json!({"action": "created", "issue": {"number": 1}});
    let run = run_action(tmp.path(), &workspace, &other, &env);
    assert_eq!(run.code, 2, "{}", run.log);
    assert!(
        run.log.contains(
            "the event carries no pull request and is no push: run riskgate on pull_request, pull_request_target or push"
        ),
        "{}",
        run.log
    );
    let run = run_action(tmp.path(), &workspace, &json!("not an event"), &env);
    assert_eq!(run.code, 2, "{}", run.log);
    assert!(!ran.exists() && !pwned.exists());
}

/// A push is scored as the change from the branch's tip before it to the tip after it: the
/// same change, pushed, scores as its pull request does. A push that creates or deletes a
/// branch has no such change and is not scored.
#[test]
fn a_push_is_scored_as_the_change_between_its_tips() {
    need_tools!();
    let pr = pull_request();
    let tmp = tempfile::tempdir().unwrap();
    let workspace = pr.checkout(tmp.path(), false);
    let as_pull_request = run_action(tmp.path(), &workspace, &pr.event(), &[]);
    let (probability, band) = assert_scored(&as_pull_request);

    // The feature branch pushed onto the commit it was made from.
    let push = json!({
        "ref": "refs/heads/feature", "before": pr.merge_base, "after": pr.head,
        "created": false, "deleted": false, "forced": false,
        "repository": {"full_name": "Codertocat/Hello-World"}
    });
    let run = run_action(tmp.path(), &workspace, &push, &[]);
    assert_eq!(assert_scored(&run), (probability, band));
    assert!(
        run.summary
            .contains(&format!("{}..{}", &pr.merge_base[..10], &pr.head[..10])),
        "{}",
        run.summary
    );
    assert!(
        run.log.contains(&format!(
            "push {}..{}",
            &pr.merge_base[..12],
            &pr.head[..12]
        )),
        "{}",
        run.log
    );

    let zeros = "0".repeat(40);
    for (side, why) in [
        (
            "before",
            "the push created its branch, so there is no earlier tip to score it against",
        ),
        (
            "after",
            "the push deleted its branch: there is nothing to score",
        ),
    ] {
        let mut push = push.clone();
        push[side] = json!(zeros);
        let run = run_action(tmp.path(), &workspace, &push, &[]);
        assert_eq!(run.code, 2, "{side}: {}", run.log);
        assert!(run.log.contains(why), "{side}: {}", run.log);
        assert!(run.outputs.is_empty() && run.summary.is_empty());
    }
}

/// `install: release` downloads `riskgate-<target>.tar.gz` of the release (here served from a
/// folder), checks it against its published sha256 and puts the binary on the job's PATH; a
/// download that does not match is refused.
#[test]
fn install_release_checks_the_download_and_puts_riskgate_on_the_path() {
    need_tools!();
    for tool in ["curl", "tar", "sha256sum"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            eprintln!("skipped: {tool} is not installed; install: release needs it");
            return;
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let release = tmp.path().join("releases/download/v9.9.9");
    std::fs::create_dir_all(&release).unwrap();
    let stage = tmp.path().join("stage");
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::write(stage.join("riskgate"), "#!/bin/sh\necho riskgate 9.9.9\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(
        stage.join("riskgate"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    // Every target's asset, so the test does not repeat the script's choice of target.
    for target in [
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
    ] {
        let asset = format!("riskgate-{target}.tar.gz");
        let status = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "tar -czf '{dir}/{asset}' -C '{stage}' riskgate && cd '{dir}' && sha256sum {asset} > {asset}.sha256",
                    dir = release.display(),
                    stage = stage.display()
                ),
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let runs = std::cell::Cell::new(0);
    let install = |version: &str| {
        runs.set(runs.get() + 1);
        let runner = tmp.path().join(format!("runner-{}", runs.get()));
        std::fs::create_dir_all(&runner).unwrap();
        let github_path = runner.join("path");
        let out = Command::new("bash")
            .arg(manifest_dir().join("action/install.sh"))
            .env("RISKGATE_INSTALL", "release")
            .env("RISKGATE_VERSION", version)
            .env(
                "RISKGATE_RELEASE_URL",
                format!("file://{}", tmp.path().join("releases").display()),
            )
            .env("RUNNER_TEMP", &runner)
            .env("GITHUB_PATH", &github_path)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            std::fs::read_to_string(&github_path).unwrap_or_default(),
        )
    };
    let (code, log, path) = install("v9.9.9");
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("sha256 checked") && log.contains("riskgate 9.9.9"),
        "{log}"
    );
    let dir = PathBuf::from(path.trim());
    assert!(dir.join("riskgate").is_file(), "{path}");

    let (code, log, _) = install("v1.0.0");
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("could not download"), "{log}");
    let (code, log, _) = install("v1;touch x");
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("version must be a release tag"), "{log}");

    for entry in std::fs::read_dir(&release).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "sha256") {
            std::fs::write(&p, format!("{}  x\n", "0".repeat(64))).unwrap();
        }
    }
    let (code, log, path) = install("v9.9.9");
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("does not match its published sha256"), "{log}");
    assert!(path.is_empty(), "nothing put on the PATH: {path}");
}

/// The action's inputs reach its scripts through the environment only: an input written into a
/// `run:` line would be shell code whoever sets it.
#[test]
fn action_yml_passes_inputs_through_the_environment() {
    let text = std::fs::read_to_string(manifest_dir().join("action.yml")).unwrap();
    let action: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let inputs = action["inputs"].as_mapping().unwrap();
    for name in [
        "fail-above",
        "install",
        "version",
        "args",
        "working-directory",
        "cache",
    ] {
        assert!(inputs.contains_key(name), "input {name}");
    }
    assert_eq!(action["runs"]["using"], "composite");
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    let mut used = Vec::new();
    for step in steps {
        if let Some(uses) = step["uses"].as_str() {
            // Another action runs with the job's token: pinned to a commit, not a movable tag,
            // and given only the folder the cache step found and keys of the run's own ids.
            let (name, commit) = uses.split_once('@').unwrap();
            assert!(
                commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()),
                "{uses} is pinned to a commit"
            );
            assert_eq!(
                step["with"]["path"], "${{ steps.cache-dir.outputs.path }}",
                "{uses}"
            );
            for (_, value) in step["with"].as_mapping().unwrap() {
                let value = value.as_str().unwrap();
                assert!(
                    !value.contains("inputs.") && !value.contains("github.event"),
                    "{uses}: {value}"
                );
            }
            used.push(name.to_string());
            continue;
        }
        let run = step["run"].as_str().unwrap();
        assert!(!run.contains("${{"), "an expression in shell code: {run}");
        assert!(run.contains("$GITHUB_ACTION_PATH/action/"), "{run}");
    }
    assert_eq!(used, ["actions/cache/restore", "actions/cache/save"]);
    let step_ids: Vec<&str> = steps.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(
        step_ids,
        ["cache-dir", "cache-restore", "score"],
        "in this order"
    );
    for output in ["probability", "band"] {
        assert!(action["outputs"][output]["value"]
            .as_str()
            .unwrap()
            .contains(&format!("steps.score.outputs.{output}")));
    }
}
