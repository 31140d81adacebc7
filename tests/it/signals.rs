//! Every signal against values computed by hand from repositories built here.

use riskgate::features::{self, git_path, ChangeKind, FileKind, Signals};
use riskgate::mining::{self, ChangeSpec, MinedChange};

use crate::support::{day, TestRepo};

fn mine(repo: &TestRepo, base: &str, head: &str) -> MinedChange {
    let r = mining::open_repository(repo.path()).unwrap();
    mining::mine_change(
        &r,
        &ChangeSpec {
            base: Some(base.into()),
            head: Some(head.into()),
            ..Default::default()
        },
    )
    .unwrap()
}

fn signals(mined: &MinedChange) -> (Signals, features::Context) {
    features::compute(&mined.snapshot, vec![], None)
}

/// alice, carol and bob over three years, then carol's change on a branch.
fn authors_across_years() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/core/a.rs", TestRepo::lines("a", 10));
    repo.write("docs/readme.md", TestRepo::lines("d", 5));
    repo.commit("alice", day(2020, 1, 1), "Initial import");
    repo.write("lib/x.rs", TestRepo::lines("x", 3));
    repo.commit("carol", day(2021, 3, 1), "Add lib");
    let a = TestRepo::lines("a", 10).replace("a2\n", "bob2\n");
    repo.write("src/core/a.rs", &a);
    repo.commit("bob", day(2021, 6, 1), "Tune a");
    let a = a.replace("a5\n", "carol5\n");
    repo.write("src/core/a.rs", &a);
    repo.commit("carol", day(2023, 1, 10), "Tune a again");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    // +2 −1 in a.rs (line 7 replaced, one line added), +1 in readme, a new 4-line file.
    let a = a.replace("a7\n", "new7\nnew7b\n");
    repo.write("src/core/a.rs", &a);
    repo.write("docs/readme.md", TestRepo::lines("d", 5) + "d6\n");
    repo.write("src/new/b.rs", TestRepo::lines("b", 4));
    repo.commit("carol", day(2023, 2, 1), "Add the b module");
    repo
}

#[test]
fn kamei_metrics_by_hand() {
    let repo = authors_across_years();
    let mined = mine(&repo, "main", "feature");
    let (s, ctx) = signals(&mined);
    assert_eq!(mined.commits, 1);
    assert_eq!(s.nf, 3.0, "a.rs, readme.md, b.rs");
    assert_eq!(s.nd, 3.0, "src/core, docs, src/new");
    assert_eq!(s.ns, 2.0, "src, docs");
    assert_eq!((s.la, s.ld), (7.0, 1.0));
    assert_eq!(s.lt, 15.0, "10 + 5 lines before, the new file had none");
    // modified lines per file 3, 1, 4 of 8
    let h: f64 = [3.0f64, 1.0, 4.0]
        .iter()
        .map(|m| -(m / 8.0) * (m / 8.0).log2())
        .sum();
    assert!((s.entropy - h / 3f64.log2()).abs() < 1e-12, "{}", s.entropy);
    assert_eq!(s.fix, 0.0);
    assert_eq!(s.ndev, 3.0, "alice, bob, carol touched a.rs or readme.md");
    assert_eq!(s.nuc, 3.0, "import, bob's and carol's tuning commits");
    // a.rs last changed 22 days before, readme.md 1127 days before
    assert_eq!(s.age, (22.0 + 1127.0) / 2.0 * 86_400.0);
    assert_eq!(s.exp, 2.0, "carol's lib and tuning commits");
    // 2021-03-01 is 1.92 years before: weight 1/2; 2023-01-10 weight 1
    assert!((s.rexp - 1.5).abs() < 1e-12, "{}", s.rexp);
    assert_eq!(s.sexp, 1.0, "only the tuning commit was in src or docs");
    assert_eq!(s.author_commit_share, Some(1.0 / 3.0));
    // carol last wrote line 5 of a.rs: 1 of the 15 lines at base
    assert_eq!(s.author_blame_share, Some(1.0 / 15.0));
    assert_eq!(s.files_new_to_author, 1.0, "readme.md");
    assert_eq!(ctx.dirs_new_to_author, vec!["docs".to_string()]);
    assert_eq!(ctx.author_name, "carol");
}

/// The author of a change is whoever made most of its commits; a tie goes to head's author,
/// then to whoever committed nearest head, so the same change always has the same author.
#[test]
fn a_tie_between_authors_goes_the_same_way_every_time() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a\n");
    repo.commit("alice", day(2023, 1, 1), "Import");
    for i in 0..2 {
        repo.write("b.txt", format!("{i}\n"));
        repo.commit("bob", day(2023, 1, 2 + i), "bob before");
    }
    repo.git(&["checkout", "-q", "-b", "pr"]);
    for (i, who) in ["bob", "dave", "bob", "dave", "erin"].iter().enumerate() {
        repo.write("c.txt", format!("{i}\n"));
        repo.commit(who, day(2023, 2, 1 + i as i64), "Work on the branch");
    }
    // bob and dave made two each, erin (head) one: dave committed nearer head.
    for _ in 0..8 {
        let (s, context) = signals(&mine(&repo, "main", "pr"));
        assert_eq!(context.author_name, "dave");
        assert_eq!(s.exp, 0.0, "bob would have 2");
    }
}

#[test]
fn nothing_from_the_future_of_base() {
    let repo = authors_across_years();
    // main moves on after the branch point: bob changes a.rs again.
    repo.git(&["checkout", "-q", "main"]);
    repo.write("src/core/a.rs", TestRepo::lines("z", 10));
    repo.commit("bob", day(2023, 3, 1), "Rewrite a");
    let mined = mine(&repo, "main", "feature");
    let (s, _) = signals(&mined);
    assert_eq!(
        s.nuc, 3.0,
        "bob's later rewrite is not history of the change"
    );
    assert_eq!(s.lt, 15.0);
}

#[test]
fn renames_binary_deleted_and_fix() {
    let repo = TestRepo::new();
    repo.write("old/name.rs", TestRepo::lines("n", 6));
    repo.write(
        "assets/logo.png",
        [0x89u8, b'P', b'N', b'G', 0, 0, 1, 2, 0, 3],
    );
    repo.write("gone.txt", TestRepo::lines("g", 4));
    repo.commit("alice", day(2022, 1, 1), "Import");
    repo.write(
        "old/name.rs",
        TestRepo::lines("n", 6).replace("n1\n", "m1\n"),
    );
    repo.commit("bob", day(2022, 2, 1), "Edit name");
    std::fs::create_dir(repo.path().join("new")).unwrap();
    repo.git(&["mv", "old/name.rs", "new/name.rs"]);
    repo.commit("alice", day(2022, 3, 1), "Move name");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    std::fs::create_dir(repo.path().join("final")).unwrap();
    repo.git(&["mv", "new/name.rs", "final/name.rs"]);
    repo.write(
        "final/name.rs",
        TestRepo::lines("n", 6)
            .replace("n1\n", "m1\n")
            .replace("n4\n", "k4\n"),
    );
    repo.write(
        "assets/logo.png",
        [0x89u8, b'P', b'N', b'G', 0, 0, 9, 9, 0, 3],
    );
    repo.git(&["rm", "-q", "gone.txt"]);
    repo.commit("dave", day(2022, 4, 1), "Fix crash in name parsing");
    let mined = mine(&repo, "main", "feature");
    let files = &mined.snapshot.files;
    let renamed = files
        .iter()
        .find(|f| f.path == "final/name.rs")
        .expect("rename followed");
    assert_eq!(renamed.change, ChangeKind::Renamed);
    assert_eq!(renamed.old_path.as_deref(), Some("new/name.rs"));
    assert_eq!(
        (renamed.added, renamed.deleted, renamed.lines_before),
        (1, 1, 6)
    );
    let logo = files.iter().find(|f| f.path == "assets/logo.png").unwrap();
    assert_eq!(logo.kind, FileKind::Binary);
    assert_eq!((logo.added, logo.deleted, logo.lines_before), (0, 0, 0));
    let gone = files.iter().find(|f| f.path == "gone.txt").unwrap();
    assert_eq!(gone.change, ChangeKind::Deleted);

    let (s, _) = signals(&mined);
    assert_eq!(s.nf, 3.0, "the binary file counts as a file");
    assert_eq!(s.nd, 3.0, "final, assets, the root");
    assert_eq!(s.ns, 3.0);
    assert_eq!((s.la, s.ld, s.lt), (1.0, 5.0, 10.0));
    assert_eq!(s.fix, 1.0);
    // The renamed file's history runs back through new/ and old/: import, edit, move.
    assert_eq!(s.nuc, 3.0);
    assert_eq!(s.ndev, 2.0, "alice and bob");
    assert_eq!(s.exp, 0.0, "dave is new");
    assert_eq!(s.rexp, 0.0);
    assert_eq!(s.author_commit_share, Some(0.0));
    // Line attribution follows the renames too: name.rs and gone.txt existed (10 lines),
    // none of them dave's.
    assert_eq!(s.author_blame_share, Some(0.0));
    assert_eq!(mined.snapshot.blame.unwrap().files_attributed, 2);
}

#[test]
fn merge_inside_the_range() {
    let repo = TestRepo::new();
    repo.write("a.txt", TestRepo::lines("a", 3));
    repo.write("b.txt", TestRepo::lines("b", 3));
    repo.commit("alice", day(2022, 1, 1), "Import");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("a.txt", TestRepo::lines("a", 4));
    repo.commit("carol", day(2022, 1, 2), "Grow a");
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.write("b.txt", TestRepo::lines("b", 4));
    repo.commit("dave", day(2022, 1, 3), "Grow b");
    repo.git(&["checkout", "-q", "feature"]);
    repo.merge("carol", day(2022, 1, 4), "side");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("c.txt", "c\n");
    repo.commit("bob", day(2022, 1, 5), "Add c");
    let mined = mine(&repo, "main", "feature");
    assert_eq!(mined.commits, 3, "two commits and the merge");
    let (s, ctx) = signals(&mined);
    assert_eq!(
        (s.nf, s.la, s.ld),
        (2.0, 2.0, 0.0),
        "the squashed diff, c.txt is main's"
    );
    assert_eq!(
        ctx.author_name, "carol",
        "a tie between carol and dave goes to head's author"
    );
    assert_eq!(s.nuc, 1.0);
}

#[test]
fn submodule_symlink_empty_commit_and_non_utf8_path() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a\n");
    let base = repo.commit("alice", day(2022, 1, 1), "Import");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.commit_staged("alice", day(2022, 1, 2), "Nothing", &["--allow-empty"]);
    std::os::unix::fs::symlink("a.txt", repo.path().join("link")).unwrap();
    repo.write_bytes_named(b"caf\xe9.txt", "latin-1 name\n");
    repo.git(&["add", "-A"]);
    repo.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{base},vendor/sub"),
    ]);
    repo.commit_staged("alice", day(2022, 1, 3), "Odd entries", &[]);
    let mined = mine(&repo, "main", "feature");
    let files = &mined.snapshot.files;
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files
        .iter()
        .any(|f| f.kind == FileKind::Symlink && f.path == "link"));
    assert!(
        files
            .iter()
            .any(|f| f.kind == FileKind::Submodule && f.path == "vendor/sub" && f.added == 1),
        "a submodule counts as its one `Subproject commit` line, as in git numstat: {files:?}"
    );
    let odd = files.iter().find(|f| f.path.starts_with("caf")).unwrap();
    assert_eq!(&*git_path::to_bytes(&odd.path), b"caf\xe9.txt");
    assert_eq!(git_path::display(&odd.path), "caf\u{fffd}.txt");
    assert_eq!(odd.added, 1);
    assert_eq!(mined.commits, 2);
    let (s, _) = signals(&mined);
    assert_eq!(s.nf, 3.0);
    // As git numstat counts them: the link's target, the submodule's `Subproject commit`
    // line and the text file's line.
    assert_eq!(s.la, 3.0);
}

#[test]
fn files_whose_names_are_not_utf8_keep_their_own_history_and_owners() {
    // Two names that are not UTF-8 and would both read "r\u{fffd}sum\u{fffd}.txt" if decoded.
    let (latin1, other) = (
        b"r\xe9sum\xe9.txt".as_slice(),
        b"r\xffsum\xff.txt".as_slice(),
    );
    let repo = TestRepo::new();
    repo.write_bytes_named(latin1, TestRepo::lines("a", 4));
    repo.commit("alice", day(2022, 1, 1), "Import");
    repo.write_bytes_named(other, TestRepo::lines("b", 6));
    repo.write_bytes_named(latin1, "a1\na2\nbob3\nbob4\n");
    repo.commit(
        "bob",
        day(2022, 2, 1),
        "Bob's file, and two of alice's lines",
    );
    repo.write_bytes_named(other, TestRepo::lines("c", 6));
    repo.commit("carol", day(2022, 3, 1), "Carol rewrites bob's file");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write_bytes_named(latin1, "a1\na2\nbob3\nbob4\na5\n");
    repo.commit("alice", day(2022, 4, 1), "One more line");

    let mined = mine(&repo, "main", "feature");
    let [file] = mined.snapshot.files.as_slice() else {
        panic!("one file: {:?}", mined.snapshot.files)
    };
    assert_eq!(&*git_path::to_bytes(&file.path), latin1);
    assert_eq!(file.added, 1);
    let (s, ctx) = signals(&mined);
    // Its own history only: alice and bob, not carol, who changed the other file.
    assert_eq!(s.ndev, 2.0, "{:?}", mined.snapshot.file_history);
    assert_eq!(s.nuc, 2.0);
    let blame = ctx.blame.expect("line owners worked out");
    assert!(!blame.is_partial(), "{blame:?}");
    assert_eq!((blame.author_lines, blame.total_lines), (2, 4));
    assert_eq!(s.author_blame_share, Some(0.5));
}

#[test]
fn shallow_clone_scores_with_the_history_present() {
    let full = authors_across_years();
    let shallow = tempfile::tempdir().unwrap();
    let url = format!("file://{}", full.path().display());
    crate::support::git_in(
        shallow.path(),
        &[
            "clone",
            "-q",
            "--no-single-branch",
            "--depth",
            "2",
            &url,
            "c",
        ],
    );
    let clone = shallow.path().join("c");
    let r = mining::open_repository(&clone).unwrap();
    assert!(r.is_shallow());
    let mined = mining::mine_change(
        &r,
        &ChangeSpec {
            base: Some("origin/main".into()),
            head: Some("origin/feature".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(mined.shallow);
    let (s, _) = features::compute(&mined.snapshot, vec![], None);
    assert_eq!(s.nf, 3.0, "the change itself is complete");
    assert!(
        s.nuc < 3.0,
        "the cut history has fewer earlier changes: {}",
        s.nuc
    );

    // Cut to the tip alone, the two branches share no commit: a clear error.
    let tip = tempfile::tempdir().unwrap();
    crate::support::git_in(
        tip.path(),
        &[
            "clone",
            "-q",
            "--no-single-branch",
            "--depth",
            "1",
            &url,
            "c",
        ],
    );
    let r = mining::open_repository(&tip.path().join("c")).unwrap();
    let err = mining::mine_change(
        &r,
        &ChangeSpec {
            base: Some("origin/main".into()),
            head: Some("origin/feature".into()),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("shallow") && err.contains("--unshallow"),
        "{err}"
    );
}

#[test]
fn history_index_is_reused_and_extended() {
    let repo = authors_across_years();
    let first = mine(&repo, "main", "feature");
    assert_eq!(first.indexed_now, 4, "every commit of main, once");
    let saved: Vec<String> = std::fs::read_dir(repo.path().join(".git/riskgate"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("history-v") && name.ends_with(".idx"))
        .collect();
    assert_eq!(
        saved.len(),
        1,
        "one index, of the current format: {saved:?}"
    );
    let again = mine(&repo, "main", "feature");
    assert_eq!(again.indexed_now, 0, "the saved index is complete");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("lib/x.rs", TestRepo::lines("y", 3));
    repo.commit("bob", day(2023, 3, 1), "Touch lib");
    repo.write("lib/x.rs", TestRepo::lines("w", 3));
    repo.commit("bob", day(2023, 3, 2), "Touch lib again");
    let extended = mine(&repo, "main", "feature");
    assert_eq!(extended.indexed_now, 0, "the change's base is unchanged");
    let from_new_main = mine(&repo, "main", "main");
    assert_eq!(
        from_new_main.indexed_now, 2,
        "only the two new commits are walked"
    );
    assert_eq!(from_new_main.indexed_total, 6);
    // Same signals from a cold index as from the extended one.
    std::fs::remove_dir_all(repo.path().join(".git/riskgate")).unwrap();
    let cold = mine(&repo, "main", "feature");
    assert_eq!(signals(&cold).0, signals(&extended).0);
}
