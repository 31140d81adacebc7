//! Histories as they come: a real one (riskgate's own first hundred commits, bundled in
//! `fixtures/repos`) and the awkward shapes real repositories have (renames going round,
//! the same rename on two branches, criss-cross and octopus merges, submodules, symlinks,
//! binary and large files, a shallow clone, an object gone missing). On each, `mine` ends,
//! its line counts are git's, and `score` of a commit gives the commit's row.

use std::path::{Path, PathBuf};

use riskgate::mining::{self, mine::MinedHistory};

use crate::mine::{
    assert_score_equals_mine, assert_score_equals_mine_everywhere, commits_with_a_parent, mine_repo,
};
use crate::support::{
    day, git_in, git_numstat, partial_clone, run_riskgate, run_riskgate_env, score_json,
    shallow_clone, TestRepo,
};

/// Every non-merge commit of HEAD has a row whose la, ld and nf are git's numstat.
fn assert_rows_match_git(dir: &Path, mined: &MinedHistory) {
    let numstat = git_numstat(dir, "HEAD").commits;
    assert_eq!(
        mined.rows.len(),
        numstat.len(),
        "one row per non-merge commit"
    );
    for r in &mined.rows {
        let (la, ld, nf) = numstat
            .get(&r.commit_id)
            .copied()
            .unwrap_or_else(|| panic!("{} is not in git log", r.commit_id));
        let s = &r.signals;
        assert_eq!((s.la, s.ld, s.nf), (la, ld, nf), "{}", r.commit_id);
    }
}

/// The bundled history, unpacked into a bare repository under `into`.
fn bundled_history(into: &Path) -> PathBuf {
    let bundle =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/repos/riskgate-history.bundle");
    let dir = into.join("riskgate.git");
    git_in(into, &["init", "-q", "--bare", dir.to_str().unwrap()]);
    git_in(
        &dir,
        &[
            "fetch",
            "-q",
            bundle.to_str().unwrap(),
            "+refs/heads/*:refs/heads/*",
        ],
    );
    git_in(
        &dir,
        &["symbolic-ref", "HEAD", "refs/heads/riskgate-history"],
    );
    dir
}

#[test]
fn a_real_history_gives_git_line_counts_and_score_agrees() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = bundled_history(tmp.path());
    let mined = mine_repo(&dir);
    assert_eq!(mined.rows.len(), 90);
    assert_eq!(mined.merges, 10);
    assert!(mined.warnings.is_empty(), "{:?}", mined.warnings);
    // Line owners are carried along the history and across merges: no file's history is
    // replayed to rebuild them.
    assert_eq!(mined.owner_rebuilds, 0);
    assert_rows_match_git(&dir, &mined);
    assert_score_equals_mine_everywhere(&dir, &mined);
}

/// git's options that map authors by the `.mailmap` committed at HEAD and no other.
const MAILMAP_AT_HEAD: &[&str] = &[
    "-c",
    "mailmap.blob=HEAD:.mailmap",
    "-c",
    "mailmap.file=/dev/null",
];

/// `author_blame_share` of commit `sha` as `git blame` works it out: the lines of the text files
/// the commit changes, as they were in its parent, whose author has the commit's e-mail, over
/// all of them (`None` without any). Authors are mapped by the `.mailmap` committed at HEAD, as
/// riskgate maps them; files the commit adds, binary files, and what is a submodule or a
/// symlink in the parent have no lines to count.
fn git_blame_share(dir: &Path, sha: &str) -> Option<f64> {
    let parent = format!("{sha}^");
    let email = git_in(
        dir,
        &[MAILMAP_AT_HEAD, &["log", "-1", "--format=%aE", sha]].concat(),
    )
    .to_lowercase();
    let numstat = git_in(
        dir,
        &["diff", "--numstat", "-z", "--no-renames", &parent, sha],
    );
    let binary: Vec<&str> = numstat
        .split('\0')
        .filter_map(|record| record.strip_prefix("-\t-\t"))
        .collect();
    let tree = git_in(dir, &["ls-tree", "-r", "-z", &parent]);
    let not_text: Vec<&str> = tree
        .split('\0')
        .filter(|e| e.starts_with("160000 ") || e.starts_with("120000 "))
        .filter_map(|e| e.split_once('\t').map(|(_, path)| path))
        .collect();
    let status = git_in(dir, &["diff", "--name-status", "-z", "-M", &parent, sha]);
    let fields: Vec<&str> = status.split('\0').collect();
    let (mut paths, mut i) = (Vec::new(), 0);
    while i + 1 < fields.len() {
        let kind = fields[i].chars().next().unwrap_or(' ');
        if matches!(kind, 'R' | 'C') {
            if kind == 'R' {
                paths.push(fields[i + 1]);
            }
            i += 3;
        } else {
            if matches!(kind, 'M' | 'D' | 'T') {
                paths.push(fields[i + 1]);
            }
            i += 2;
        }
    }
    let (mut own, mut all) = (0usize, 0usize);
    for path in paths {
        if binary.contains(&path) || not_text.contains(&path) {
            continue;
        }
        let blamed = git_in(
            dir,
            &[
                MAILMAP_AT_HEAD,
                &["blame", "--line-porcelain", &parent, "--", path],
            ]
            .concat(),
        );
        for mail in blamed
            .lines()
            .filter_map(|l| l.strip_prefix("author-mail "))
        {
            own += usize::from(mail.trim_matches(['<', '>']).to_lowercase() == email);
            all += 1;
        }
    }
    (all > 0).then(|| own as f64 / all as f64)
}

/// On the bundled real history every commit's `author_blame_share` is what `git blame` gives.
#[test]
fn a_real_history_owns_lines_as_git_blame_does() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = bundled_history(tmp.path());
    let mined = mine_repo(&dir);
    let mut compared = 0;
    for sha in commits_with_a_parent(&dir) {
        let row = mined.rows.iter().find(|r| r.commit_id == sha).unwrap();
        let want = git_blame_share(&dir, &sha);
        assert_eq!(row.signals.author_blame_share, want, "{sha}");
        compared += usize::from(want.is_some());
    }
    assert!(compared >= 60, "{compared} commits had lines to blame");
}

fn lines(prefix: &str, n: usize) -> String {
    TestRepo::lines(prefix, n)
}

/// A file that becomes a symlink or a submodule had lines before: they count in LT and in
/// `author_blame_share`, as `git blame` has them in the parent. A file that follows a symlink
/// is its commit's, as `git blame` has it.
#[test]
fn type_changes_keep_the_lines_before_and_own_the_lines_after() {
    let repo = TestRepo::new();
    repo.write("doc.txt", lines("d", 10));
    repo.write("vendor.c", lines("v", 8));
    repo.write("keep.txt", lines("k", 3));
    repo.commit("alice", t(0), "Import");
    let doc = repo.path().join("doc.txt");
    std::fs::remove_file(&doc).unwrap();
    std::os::unix::fs::symlink("keep.txt", &doc).unwrap();
    let to_link = repo.commit("bob", t(1), "doc.txt becomes a link");
    std::fs::remove_file(&doc).unwrap();
    repo.write("doc.txt", lines("c", 6));
    repo.commit("carol", t(2), "The link becomes a file again");
    repo.write("doc.txt", lines("c", 6) + "c7\n");
    let after_link = repo.commit("carol", t(3), "carol adds a line");
    repo.git(&["rm", "-q", "vendor.c"]);
    let first = repo.git(&["rev-list", "--max-parents=0", "HEAD"]);
    let gitlink = format!("160000,{first},vendor.c");
    repo.git(&["update-index", "--add", "--cacheinfo", &gitlink]);
    let to_module = repo.commit_staged("dave", t(4), "vendor.c becomes a submodule", &[]);

    let mined = mine_repo(repo.path());
    assert_score_equals_mine_everywhere(repo.path(), &mined);
    let row = |sha: &str| signals_of(&mined, sha);
    assert_eq!(row(&to_link).lt, 10.0, "doc.txt had 10 lines");
    assert_eq!(row(&to_link).author_blame_share, Some(0.0), "all alice's");
    assert_eq!(
        row(&after_link).author_blame_share,
        Some(1.0),
        "carol wrote doc.txt"
    );
    let module = row(&to_module);
    assert_eq!((module.la, module.ld, module.lt), (1.0, 8.0, 8.0));
    for sha in commits_with_a_parent(repo.path()) {
        assert_eq!(
            row(&sha).author_blame_share,
            git_blame_share(repo.path(), &sha),
            "{sha}"
        );
    }
}

/// The signals of commit `sha`'s row.
fn signals_of<'m>(mined: &'m MinedHistory, sha: &str) -> &'m riskgate::features::Signals {
    let row = mined.rows.iter().find(|r| r.commit_id == sha);
    &row.unwrap_or_else(|| panic!("{sha} has no row")).signals
}

/// One day after 2022-01-01 per step.
fn t(step: i64) -> i64 {
    day(2022, 1, 1) + step * 86_400
}

/// A history with the shapes that made mining loop or fail on real repositories.
fn awkward_history() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/a.rs", lines("a", 40));
    repo.write("src/old.rs", lines("o", 10));
    repo.write("assets/logo.bin", [0u8, 1, 2, 3, 0, 255, 7, 9]);
    repo.write("data/big.txt", lines("big", 20_000));
    repo.commit("alice", t(0), "Import");

    // A → B → A, edited on the way.
    repo.git(&["mv", "src/a.rs", "src/b.rs"]);
    repo.commit("bob", t(1), "Rename a to b");
    repo.write("src/b.rs", lines("a", 40).replace("a3\n", "bob3\n"));
    repo.commit("carol", t(2), "Edit b");
    repo.git(&["mv", "src/b.rs", "src/a.rs"]);
    repo.commit("alice", t(3), "Rename b back to a");

    // A file renamed into a path that existed before.
    repo.git(&["rm", "-q", "src/old.rs"]);
    repo.commit("bob", t(4), "Drop old");
    repo.write("src/new.rs", lines("n", 12));
    repo.commit("carol", t(5), "Add new");
    repo.git(&["mv", "src/new.rs", "src/old.rs"]);
    repo.commit("carol", t(6), "New takes the old name");

    // Two files changed by one commit, then one renamed away and the other into its path:
    // that commit's change to each is in the history of the path.
    repo.write("src/x.rs", lines("x", 20));
    repo.write("src/x_next.rs", lines("y", 20));
    repo.commit("alice", t(6) + 600, "Add x and its next version");
    repo.write("src/x.rs", lines("x", 20).replace("x4\n", "dave4\n"));
    repo.write("src/x_next.rs", lines("y", 20).replace("y5\n", "dave5\n"));
    repo.commit("dave", t(6) + 1200, "Change both");
    repo.git(&["mv", "src/x.rs", "src/x_old.rs"]);
    repo.commit("bob", t(6) + 1800, "x is the old one now");
    repo.git(&["mv", "src/x_next.rs", "src/x.rs"]);
    repo.commit("bob", t(6) + 2400, "x_next becomes x");
    repo.write(
        "src/x.rs",
        lines("y", 20).replace("y5\n", "dave5\n") + "dave21\n",
    );
    repo.commit("dave", t(6) + 3000, "Grow x");

    // The same rename on two branches, each with an edit of its own, merged.
    let edited = |from: &str, to: &str| lines("a", 40).replace("a3\n", "bob3\n").replace(from, to);
    repo.git(&["checkout", "-q", "-b", "left"]);
    repo.git(&["mv", "src/a.rs", "src/core.rs"]);
    repo.write("src/core.rs", edited("a1\n", "left1\n"));
    repo.commit("bob", t(7), "Rename a to core, left");
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["mv", "src/a.rs", "src/core.rs"]);
    repo.write("src/core.rs", edited("a30\n", "main30\n"));
    repo.commit("carol", t(8), "Rename a to core, main");
    repo.merge("alice", t(9), "left");

    // Criss-cross: p and q each merge the other's first commit, then both go on.
    repo.git(&["checkout", "-q", "-b", "p"]);
    repo.write("src/p.rs", lines("p", 8));
    let p1 = repo.commit("bob", t(10), "p work");
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["checkout", "-q", "-b", "q"]);
    repo.write("src/q.rs", lines("q", 8));
    let q1 = repo.commit("carol", t(11), "q work");
    repo.git(&["checkout", "-q", "p"]);
    repo.merge("bob", t(12), &q1);
    repo.git(&["checkout", "-q", "q"]);
    repo.merge("carol", t(13), &p1);
    repo.git(&["checkout", "-q", "p"]);
    repo.write("src/p.rs", lines("p", 8) + "p9\n");
    repo.commit("bob", t(14), "p more");
    repo.git(&["checkout", "-q", "q"]);
    repo.write("src/q.rs", lines("q", 8).replace("q2\n", "carol2\n"));
    repo.commit("carol", t(15), "q more");
    repo.git(&["checkout", "-q", "main"]);
    repo.merge("alice", t(16), "p");
    repo.merge("alice", t(17), "q");

    // An octopus merge of three branches.
    for (i, name) in ["o1", "o2", "o3"].into_iter().enumerate() {
        repo.git(&["checkout", "-q", "-b", name, "main"]);
        repo.write(&format!("src/{name}.rs"), lines(name, 5 + i));
        repo.commit("bob", t(18 + i as i64), &format!("{name} work"));
    }
    repo.git(&["checkout", "-q", "main"]);
    repo.merge_all("alice", t(21), &["o1", "o2", "o3"]);

    // Binary and large files changed; a symlink that becomes a file.
    repo.write("assets/logo.bin", [0u8, 1, 2, 4, 0, 255, 7, 9, 9]);
    repo.write(
        "data/big.txt",
        lines("big", 20_000).replace("big1\n", "changed1\n"),
    );
    std::os::unix::fs::symlink("a.rs", repo.path().join("src/link")).unwrap();
    repo.commit("carol", t(22), "Logo, big data, a link");
    std::fs::remove_file(repo.path().join("src/link")).unwrap();
    repo.write("src/link", lines("l", 3));
    repo.commit("bob", t(23), "The link becomes a file");

    // A submodule added, then moved to another commit (only staged: it has no work tree).
    let first = repo.git(&["rev-list", "--max-parents=0", "HEAD"]);
    let gitlink = |sha: &str| format!("160000,{sha},vendor/lib");
    repo.git(&["update-index", "--add", "--cacheinfo", &gitlink(&first)]);
    repo.commit_staged("alice", t(24), "Vendor lib", &[]);
    repo.git(&["update-index", "--cacheinfo", &gitlink(&p1)]);
    repo.commit_staged("alice", t(25), "Bump lib", &[]);
    repo
}

#[test]
fn awkward_histories_end_with_git_line_counts_and_score_agrees() {
    let repo = awkward_history();
    let merges = repo.git(&["rev-list", "--merges", "--count", "HEAD"]);
    let mined = mine_repo(repo.path());
    assert_eq!(mined.merges.to_string(), merges);
    assert!(mined.merges >= 6, "{}", mined.merges);
    assert_eq!(mined.owner_rebuilds, 0, "owners kept across every merge");
    assert!(
        git_numstat(repo.path(), "HEAD").binary_entries > 0,
        "a binary file is changed"
    );
    assert_rows_match_git(repo.path(), &mined);
    assert_score_equals_mine_everywhere(repo.path(), &mined);
}

/// The same version of a file made on two branches by different people (one fix applied to
/// both, as in pypa/pip's history), one of them then built on and both merged: the lines are
/// owned along each branch's own history, as `git blame` has them, whichever of the two
/// versions was made later.
#[test]
fn the_same_version_made_on_two_branches_is_owned_along_each_branch() {
    let repo = TestRepo::new();
    repo.write("f.txt", lines("l", 4));
    repo.commit("alice", t(0), "Import");
    let shared = lines("l", 4) + "shared\n";
    repo.git(&["checkout", "-q", "-b", "b"]);
    repo.write("f.txt", &shared);
    repo.commit("bob", t(1), "bob adds shared");
    repo.git(&["checkout", "-q", "-b", "a", "main"]);
    repo.write("f.txt", &shared);
    repo.commit("carol", t(2), "carol adds the same line, later");
    repo.git(&["checkout", "-q", "b"]);
    repo.write("f.txt", shared.replace("l1\n", "dave1\n"));
    repo.commit("dave", t(3), "dave builds on bob's");
    repo.git(&["checkout", "-q", "main"]);
    repo.merge("alice", t(4), "a");
    repo.merge("alice", t(5), "b");
    let (bobs, _) = blamed_lines_of(&repo, "bob", &["f.txt"]);
    assert_eq!(bobs, 1, "git blame gives bob the shared line");
    repo.write("f.txt", shared.replace("l1\n", "dave1\n") + "bob6\n");
    let last = repo.commit("bob", t(6), "bob again");

    let mined = mine_repo(repo.path());
    assert_score_equals_mine_everywhere(repo.path(), &mined);
    let row = mined.rows.iter().find(|r| r.commit_id == last).unwrap();
    assert_eq!(row.signals.author_blame_share, Some(1.0 / 5.0));
}

/// A version reached on both sides of a merge comes from the merge's first parent, as `git
/// blame` has it, however the other side reached it: in `c.txt` the other side made it later
/// (a squashed copy of the same change, as in jquery's history); in `r.txt` it made it again
/// after the first parent's, by reverting a change built on it.
#[test]
fn a_version_on_both_sides_of_a_merge_is_owned_through_the_first_parent() {
    let repo = TestRepo::new();
    repo.write("c.txt", lines("c", 4));
    repo.write("r.txt", lines("r", 4));
    repo.commit("alice", t(0), "Import");
    let copied = lines("c", 4) + "added\n";
    let kept = lines("r", 4) + "kept\n";
    repo.write("r.txt", &kept);
    repo.commit("carol", t(1), "carol adds a line to r");
    repo.git(&["checkout", "-q", "-b", "b"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.write("c.txt", &copied);
    repo.commit("carol", t(2), "carol adds a line to c");
    repo.git(&["checkout", "-q", "b"]);
    repo.write("r.txt", kept.replace("r1\n", "dave1\n"));
    repo.commit("dave", t(3), "dave changes r");
    repo.write("r.txt", &kept);
    repo.commit("bob", t(4), "bob reverts dave");
    repo.write("c.txt", &copied);
    repo.commit("bob", t(5), "bob copies carol's change, later");
    repo.git(&["checkout", "-q", "main"]);
    repo.merge("alice", t(6), "b");
    let (carols, total) = blamed_lines_of(&repo, "carol", &["c.txt", "r.txt"]);
    assert_eq!(
        (carols, total),
        (2, 10),
        "git blame passes both through main"
    );
    repo.write("c.txt", copied.clone() + "carol6\n");
    repo.write("r.txt", kept.clone() + "carol6\n");
    let last = repo.commit("carol", t(7), "carol again");

    let mined = mine_repo(repo.path());
    assert_score_equals_mine_everywhere(repo.path(), &mined);
    let row = mined.rows.iter().find(|r| r.commit_id == last).unwrap();
    assert_eq!(row.signals.author_blame_share, Some(2.0 / 10.0));
}

/// One person who committed under two addresses is one author once the default branch's
/// `.mailmap` says so: to `mine` and `score` alike, and to line ownership as `git blame` has
/// it. A `.mailmap` a change brings along does not count before it is merged.
#[test]
fn the_default_branchs_mailmap_makes_two_addresses_one_author() {
    let repo = TestRepo::new();
    repo.write("a.txt", lines("a", 4));
    repo.commit("nicm", t(0), "Import");
    repo.write("a.txt", lines("a", 4) + "nick1\n");
    repo.commit("nick", t(1), "From the laptop");
    repo.write(
        ".mailmap",
        "Nicholas <nicm@example.com> <nick@example.com>\n",
    );
    repo.commit("alice", t(2), "One address for nicm");
    repo.write("a.txt", lines("a", 4) + "nick1\nnick3\n");
    let last = repo.commit("nick", t(3), "Again from the laptop");

    let mined = mine_repo(repo.path());
    assert_score_equals_mine_everywhere(repo.path(), &mined);
    let row = mined.rows.iter().find(|r| r.commit_id == last).unwrap();
    assert_eq!(row.signals.exp, 2.0, "both earlier commits are nicm's");
    assert_eq!(row.signals.author_blame_share, Some(1.0));
    assert_eq!(
        row.signals.author_blame_share,
        git_blame_share(repo.path(), &last)
    );

    // A branch maps its author onto alice: on the branch, the author is still a newcomer.
    repo.git(&["checkout", "-q", "-b", "pr"]);
    repo.write(
        ".mailmap",
        "Nicholas <nicm@example.com> <nick@example.com>\n<alice@example.com> <mallory@example.com>\n",
    );
    repo.write("b.txt", lines("b", 3));
    repo.commit("mallory", t(4), "Mallory, as alice");
    let dir = repo.path().to_str().unwrap();
    let (code, json, err) = run_riskgate(&[
        "score", "--repo", dir, "--base", "main", "--head", "pr", "--format", "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["features"]["exp"].as_f64(), Some(0.0), "{json}");

    // Index the branch, mallory as herself; then merge it. Now the default branch maps her
    // onto alice, and the index is rebuilt: her commit and its lines are alice's.
    let score = |base: &str, head: &str| {
        let (code, json, err) = run_riskgate(&[
            "score", "--repo", dir, "--base", base, "--head", head, "--format", "json",
        ]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&json).unwrap()
    };
    score("pr", "pr");
    repo.git(&["checkout", "-q", "main"]);
    repo.merge("alice", t(5), "pr");
    repo.write("b.txt", lines("b", 3) + "alice6\n");
    repo.commit("alice", t(6), "alice on mallory's file");
    let v = score("HEAD~1", "HEAD");
    assert_eq!(v["features"]["exp"].as_f64(), Some(2.0), "{v}");
    assert_eq!(
        v["features"]["author_blame_share"].as_f64(),
        Some(1.0),
        "{v}"
    );
}

/// Authors as git reads them where libgit2 reads them otherwise (ipython's and scrapy's
/// histories have both): a `.mailmap` entry for commits without an e-mail (`Name <e> old <>`),
/// for which libgit2 refused the whole file, and a malformed author (`A <a@x <none@none>`),
/// whom libgit2 read as `none@none`, one person with everyone else who committed so.
#[test]
fn authors_and_the_mailmap_are_read_as_git_reads_them() {
    let repo = TestRepo::new();
    let mut text = lines("a", 4);
    repo.write("a.txt", &text);
    repo.commit("nicm", t(0), "Import");
    repo.write(
        ".mailmap",
        "Fernando <fernando@example.com> fptest <>\nNicholas <nicm@example.com> <nick@example.com>\n",
    );
    repo.commit("alice", t(1), "One address each");
    for (line, author) in [
        ("fp", format!("fptest <> {} +0000", t(2))),
        (
            "ping",
            format!("Ping <ping@example.com <none@none> {} +0000", t(3)),
        ),
        ("mol", format!("molveyra <none@none> {} +0000", t(4))),
    ] {
        text += &format!("{line}\n");
        repo.write("a.txt", &text);
        repo.commit_as_written(&author, line);
    }
    repo.write("b.txt", "nick\n");
    repo.commit("nick", t(5), "From the laptop");
    text += "fernando\n";
    repo.write("a.txt", &text);
    let fernandos = repo.commit("fernando", t(6), "Fernando, with his address");
    repo.write("b.txt", "nick\nnicm\n");
    let nicms = repo.commit("nicm", t(7), "Nicholas, with his address");

    let mined = mine_repo(repo.path());
    assert_score_equals_mine_everywhere(repo.path(), &mined);
    let row = |sha: &str| signals_of(&mined, sha);
    let by_git: std::collections::BTreeSet<String> = git_in(
        repo.path(),
        &[
            MAILMAP_AT_HEAD,
            &[
                "log",
                "--format=%aE",
                &format!("{fernandos}^"),
                "--",
                "a.txt",
            ],
        ]
        .concat(),
    )
    .lines()
    .map(str::to_lowercase)
    .collect();
    assert_eq!(
        by_git.len(),
        4,
        "nicm, fernando, ping and none@none: {by_git:?}"
    );
    assert_eq!(row(&fernandos).ndev, by_git.len() as f64);
    assert_eq!(
        row(&fernandos).exp,
        1.0,
        "the commit without an e-mail is his"
    );
    assert_eq!(row(&fernandos).author_blame_share, Some(1.0 / 7.0));
    assert_eq!(
        row(&fernandos).author_blame_share,
        git_blame_share(repo.path(), &fernandos)
    );
    assert_eq!(
        row(&nicms).exp,
        2.0,
        "the rest of the .mailmap holds: nick is nicm"
    );
}

/// A merge whose file a parent has under another name: `git blame` follows it there, and so
/// does riskgate. `CHANGES` was renamed on main and changed on a maintenance branch (as
/// flask's changelog); `r.txt` was renamed on the branch and changed on main, so main has the
/// merge's very version under the old name.
#[test]
fn a_merge_follows_a_file_into_a_parent_that_has_it_under_another_name() {
    let repo = TestRepo::new();
    repo.write("CHANGES", lines("c", 4));
    repo.write("r.txt", lines("r", 4));
    repo.commit("alice", t(0), "Import");
    repo.git(&["branch", "maint"]);
    repo.git(&["mv", "CHANGES", "CHANGES.rst"]);
    repo.commit("bob", t(1), "bob renames the changelog");
    repo.write("CHANGES.rst", lines("c", 4) + "bob5\n");
    repo.write("r.txt", lines("r", 4) + "bob5\n");
    repo.commit("bob", t(2), "bob on main");
    repo.git(&["checkout", "-q", "maint"]);
    repo.write("CHANGES", "carol0\n".to_string() + &lines("c", 4));
    repo.git(&["mv", "r.txt", "s.txt"]);
    repo.commit("carol", t(3), "carol on the branch");
    repo.git(&["checkout", "-q", "main"]);
    repo.merge("mike", t(4), "maint");
    assert_eq!(
        repo.git(&["show", "HEAD:CHANGES.rst"]),
        "carol0\n".to_string() + &lines("c", 4) + "bob5",
        "git merged both changes into the renamed file"
    );
    let paths = ["CHANGES.rst", "s.txt"];
    assert_eq!(blamed_lines_of(&repo, "bob", &paths), (2, 11));
    assert_eq!(blamed_lines_of(&repo, "carol", &paths), (1, 11));
    repo.write("CHANGES.rst", lines("c", 4) + "bob5\nbob6\n");
    repo.write("s.txt", lines("r", 4) + "bob5\nbob6\n");
    let last = repo.commit("bob", t(5), "bob after the merge");

    let mined = mine_repo(repo.path());
    assert_score_equals_mine_everywhere(repo.path(), &mined);
    let row = mined.rows.iter().find(|r| r.commit_id == last).unwrap();
    assert_eq!(row.signals.author_blame_share, Some(2.0 / 11.0));
}

/// A merge that only changes a file's mode (as hugo's subtree merge of its docs did, taking
/// a mode the docs branch had changed): the first parent has the merge's version, so the file's
/// history and owners go on through the first parent, as `git blame` goes, not into the other
/// parent where the file has another name.
#[test]
fn a_merge_that_changes_only_a_files_mode_keeps_the_first_parents_history() {
    let repo = TestRepo::new();
    let mode = |path: &str, mode: u32| {
        use std::os::unix::fs::PermissionsExt as _;
        let permissions = std::fs::Permissions::from_mode(mode);
        std::fs::set_permissions(repo.path().join(path), permissions).unwrap();
    };
    repo.write("lib/x.txt", lines("x", 4));
    mode("lib/x.txt", 0o755);
    repo.write("README", lines("r", 2));
    repo.commit("alice", t(0), "Import");
    repo.git(&["checkout", "-q", "-b", "vendor"]);
    repo.git(&["mv", "lib/x.txt", "x.txt"]);
    repo.commit("bob", t(1), "bob moves x");
    mode("x.txt", 0o644);
    repo.commit("carol", t(2), "carol makes x plain");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("README", lines("r", 3));
    repo.commit("alice", t(3), "alice on main");
    // The merge keeps x at lib/x.txt with the vendor branch's mode: a version no parent has
    // at that path under that mode, and the same blob as the first parent's.
    run_merge_keeping(&repo, "vendor", "lib/x.txt", "x.txt");
    assert_eq!(
        repo.git(&["ls-tree", "HEAD", "lib/x.txt"])
            .split(' ')
            .next(),
        Some("100644")
    );
    assert_eq!(
        repo.git(&["ls-tree", "HEAD^", "lib/x.txt"])
            .split(' ')
            .next(),
        Some("100755")
    );
    assert_eq!(blamed_lines_of(&repo, "alice", &["lib/x.txt"]), (4, 4));
    repo.write("lib/x.txt", lines("x", 4) + "dave5\n");
    let last = repo.commit("dave", t(5), "dave after the merge");

    let mined = mine_repo(repo.path());
    assert_score_equals_mine_everywhere(repo.path(), &mined);
    let row = mined.rows.iter().find(|r| r.commit_id == last).unwrap();
    assert_eq!(
        (row.signals.ndev, row.signals.nuc),
        (1.0, 1.0),
        "alice's Import only: bob and carol changed x on the other parent's side"
    );
    assert_eq!(row.signals.age, (t(5) - t(0)) as f64);
}

/// Merge `branch` into the current branch by mike at t(4), its `theirs` file kept at `ours`.
fn run_merge_keeping(repo: &TestRepo, branch: &str, ours: &str, theirs: &str) {
    let (user, email) = ("user.name=mike", "user.email=mike@example.com");
    repo.git(&[
        "-c",
        user,
        "-c",
        email,
        "merge",
        "-q",
        "--no-ff",
        "--no-commit",
        branch,
    ]);
    if let Some(folder) = Path::new(ours).parent() {
        std::fs::create_dir_all(repo.path().join(folder)).unwrap();
    }
    repo.git(&["mv", "-f", theirs, ours]);
    repo.commit_staged("mike", t(4), &format!("Merge {branch}"), &[]);
}

/// A call rewritten around one line that stays, in a file whose long tail is full of blank
/// lines: `git diff` shows the line removed and added again, `git blame` (whose diffs leave
/// out the common tail) keeps it. The head of the file before and after, then the tail.
fn rewritten_call() -> (String, String) {
    let mut before = String::from("fn open()\n{\n\tprepare();\n\n\twindow = make(0,\n");
    before += &(0..9)
        .map(|i| format!("        a{i},\n"))
        .collect::<String>();
    before += "\n\tshow(window);\n";
    let mut after = String::from("fn open()\n{\n\tprepare();\n\n\tlet flags = F\\\n");
    after += "\t\t| G\\\n\t\t| H;\n\n\twindow = make(0,\n";
    after += &(0..11)
        .map(|i| format!("\t\t\ta{i},\n"))
        .collect::<String>();
    after += "\n\tstyle(window);\n\tshow(window);\n";
    let mut tail: String = (0..60).map(|i| format!("\tstep_{i}();\n")).collect();
    tail += "}\n";
    tail += &(0..100)
        .map(|i| format!("\nfn g{i}()\n{{\n\t{i}\n}}\n"))
        .collect::<String>();
    (before + &tail, after + &tail)
}

/// Lines of `paths` at HEAD that `git blame` gives `author`, and all their lines.
fn blamed_lines_of(repo: &TestRepo, author: &str, paths: &[&str]) -> (usize, usize) {
    let theirs = format!("<{author}@example.com>");
    let (mut own, mut all) = (0, 0);
    for path in paths {
        let blamed = repo.git(&["blame", "--line-porcelain", "HEAD", "--", path]);
        for mail in blamed
            .lines()
            .filter_map(|l| l.strip_prefix("author-mail "))
        {
            own += usize::from(mail == theirs);
            all += 1;
        }
    }
    (own, all)
}

/// Line counts are `git diff`'s and line owners `git blame`'s where the two line up a change
/// differently: after a plain commit and after a merge, in `mine` and in `score` alike.
#[test]
fn line_owners_are_git_blames_where_its_diff_lines_up_differently() {
    let (before, after) = rewritten_call();
    let repo = TestRepo::new();
    repo.write("w.rs", &before);
    repo.commit("alice", t(0), "Import");
    repo.git(&["checkout", "-q", "-b", "b"]);
    repo.write("w.rs", &after);
    let rewrite = repo.commit("bob", t(1), "Rewrite the call");
    let numstat = git_numstat(repo.path(), "HEAD").commits[&rewrite];
    let (alices, total) = blamed_lines_of(&repo, "alice", &["w.rs"]);
    assert_eq!(
        alices,
        total - numstat.0 as usize + 1,
        "git blame keeps one line git diff shows added"
    );
    repo.write("w.rs", after.replace("step_30()", "step_30(alice)"));
    let on_branch = repo.commit("alice", t(2), "Alice on the branch");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("w.rs", before.clone() + "carol\n");
    repo.commit("carol", t(3), "Carol on main");
    repo.merge("carol", t(4), "b");
    let merged = std::fs::read_to_string(repo.path().join("w.rs")).unwrap();
    assert!(merged.contains("step_30(alice)") && merged.ends_with("carol\n"));
    let (alices_merged, total_merged) = blamed_lines_of(&repo, "alice", &["w.rs"]);
    repo.write("w.rs", merged + "alice again\n");
    let after_merge = repo.commit("alice", t(5), "Alice after the merge");

    let mined = mine_repo(repo.path());
    assert_rows_match_git(repo.path(), &mined);
    assert_score_equals_mine_everywhere(repo.path(), &mined);
    let share = |sha: &str| {
        let row = mined.rows.iter().find(|r| r.commit_id == sha).unwrap();
        row.signals.author_blame_share
    };
    assert_eq!(share(&on_branch), Some(alices as f64 / total as f64));
    assert_eq!(
        share(&after_merge),
        Some(alices_merged as f64 / total_merged as f64)
    );
}

/// A file neither parent has, made while resolving a merge, is the merge's, as `git blame`
/// has it, in `mine` and in `score` alike.
#[test]
fn a_file_a_merge_makes_is_the_merges() {
    let repo = TestRepo::new();
    repo.write("f.txt", lines("f", 6));
    repo.commit("alice", t(0), "Import");
    repo.git(&["checkout", "-q", "-b", "b"]);
    repo.write("f.txt", lines("f", 6) + "bob\n");
    repo.commit("bob", t(1), "Bob on the branch");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("g.txt", lines("g", 3));
    repo.commit("carol", t(2), "Carol on main");
    repo.merge("dave", t(3), "b");
    repo.write("made.txt", lines("made", 5));
    repo.git(&["add", "made.txt"]);
    repo.commit_staged("dave", t(3), "Merge b", &["--amend", "--reset-author"]);
    let parents = repo.git(&["rev-list", "--parents", "-1", "HEAD"]);
    assert_eq!(parents.split_whitespace().count(), 3, "still a merge");
    let (daves, total) = blamed_lines_of(&repo, "dave", &["f.txt", "made.txt"]);
    assert_eq!(
        (daves, total),
        (5, 12),
        "git blame gives the merge's author its file"
    );
    repo.write("f.txt", lines("f", 6) + "bob\ndave\n");
    repo.write("made.txt", lines("made", 5) + "dave\n");
    let after = repo.commit("dave", t(4), "Dave after the merge");

    let mined = mine_repo(repo.path());
    assert_score_equals_mine_everywhere(repo.path(), &mined);
    let row = mined.rows.iter().find(|r| r.commit_id == after).unwrap();
    assert_eq!(row.signals.author_blame_share, Some(5.0 / 12.0));
}

/// A shallow clone has commits whose parents it lacks: mine gives the rows it can, says where
/// history was cut, and does not fail.
#[test]
fn a_shallow_clone_is_mined_with_a_warning() {
    let repo = awkward_history();
    let (tmp, shallow) = shallow_clone(repo.path(), 4, "shallow.git", &["--bare"]);
    let mined = mine_repo(&shallow);
    assert!(mined.cut_at > 0, "the boundary is found");
    assert!(!mined.rows.is_empty());
    let rows_csv = tmp.path().join("rows.csv");
    let (code, _, err) = run_riskgate(&[
        "mine",
        "--repo",
        shallow.to_str().unwrap(),
        "--out",
        rows_csv.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("shallow") && err.contains("git fetch --unshallow"),
        "{err}"
    );
    // Commits past the boundary (whose parents are all present) count as in the full clone.
    let full = mine_repo(repo.path());
    let head = git_in(&shallow, &["rev-parse", "HEAD"]);
    let row = |m: &MinedHistory| {
        m.rows
            .iter()
            .find(|r| r.commit_id == head)
            .map(|r| (r.signals.la, r.signals.ld, r.signals.nf))
    };
    assert_eq!(row(&mined), row(&full));
}

/// Deletes the blob `spec` (`<commit>:<path>`) from the repository's loose objects, as a
/// damaged or partial clone lacks it.
fn remove_blob(repo: &TestRepo, spec: &str) {
    let blob = repo.git(&["rev-parse", spec]);
    let loose = repo
        .path()
        .join(".git/objects")
        .join(&blob[..2])
        .join(&blob[2..]);
    std::fs::remove_file(&loose).expect("the blob is a loose object");
}

/// An object the repository should have and does not (a damaged or partial clone): mine
/// counts the file without lines, says so, and goes on; a score of a change that touches it
/// refuses, naming the file, rather than call the change smaller than it is.
#[test]
fn a_missing_blob_is_counted_without_lines_by_mine_and_refused_by_score() {
    let repo = TestRepo::new();
    repo.write("a.txt", lines("a", 5));
    repo.write("b.txt", lines("b", 5));
    repo.commit("alice", t(0), "Import");
    repo.write("a.txt", lines("a", 7));
    repo.write("b.txt", lines("b", 6));
    let broken = repo.commit("bob", t(1), "Grow both");
    repo.write("b.txt", lines("b", 8));
    let after = repo.commit("carol", t(2), "Grow b");
    remove_blob(&repo, &format!("{broken}:a.txt"));

    let mined = mine_repo(repo.path());
    assert_eq!(mined.rows.len(), 3);
    let row = mined.rows.iter().find(|r| r.commit_id == broken).unwrap();
    assert_eq!(row.signals.nf, 2.0, "both files are counted");
    assert_eq!(
        (row.signals.la, row.signals.ld),
        (1.0, 0.0),
        "only b.txt's line counts"
    );
    let said = format!(
        "1 commit touch files whose content the repository lacks (the first: {}, `a.txt`)",
        &broken[..10]
    );
    assert!(
        mined.warnings.iter().any(|w| w.starts_with(&said)),
        "{:?}",
        mined.warnings
    );

    let dir = repo.path().to_str().unwrap();
    let base = format!("{broken}^");
    let (code, _, err) =
        run_riskgate(&["score", "--repo", dir, "--base", &base, "--head", &broken]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "lacks the content of 1 of the files this change touches (the first: `a.txt`)"
        ) && err.contains("git diff --stat"),
        "{err}"
    );
    // A change that does not touch the file is scored, as mine scored it.
    assert_score_equals_mine(repo.path(), &mined, &[after.as_str()]);
}

/// A partial clone (`git clone --filter=blob:none`) holds commits and trees but no file
/// content until git fetches it. Scoring there refuses and says how to fetch the change's
/// content; once fetched, the change's lines are the full clone's, and a file whose earlier
/// versions git has not fetched is left out of `author_blame_share`, which says so.
#[test]
fn a_partial_clone_is_scored_once_the_change_is_fetched() {
    let repo = TestRepo::new();
    repo.write("src/a.txt", lines("a", 10));
    repo.write("src/b.txt", lines("b", 4));
    repo.commit("alice", t(0), "Import");
    repo.write("src/a.txt", lines("a", 14));
    repo.commit("bob", t(1), "Grow a");
    repo.write("src/a.txt", lines("a", 15));
    repo.write("src/b.txt", lines("b", 2));
    let head = repo.commit("bob", t(2), "Grow a, shrink b");
    let full = score_json(repo.path().to_str().unwrap(), "HEAD^");

    let (_tmp, clone) = partial_clone(repo.path(), "blob:none");
    // git is not asked for the history's renames: it would stop at each absent version.
    let asked = mining::renames::of_history(
        &clone.join(".git"),
        &[git2::Oid::from_str(&head).unwrap()],
        &[],
        None,
    );
    assert!(
        matches!(asked, Err(mining::renames::RenameError::PartialClone)),
        "{:?}",
        asked.map(|r| r.unread)
    );
    let dir = clone.to_str().unwrap();
    let (code, _, err) = run_riskgate(&["score", "--repo", dir, "--base", "HEAD^"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        !clone.join(".git/riskgate").exists(),
        "refused before the history is indexed"
    );
    let base = git_in(&clone, &["rev-parse", "HEAD^"]);
    let fetch = format!("`git diff --stat {base} {head}`");
    assert!(
        err.contains("lacks the content of 2 of the files this change touches")
            && err.contains(&fetch),
        "{err}"
    );

    // What the error says to run, run: git fetches the two versions of each file.
    git_in(&clone, &["diff", "--stat", &base, &head]);
    let partial = score_json(dir, "HEAD^");
    for signal in ["la", "ld", "nf", "lt", "entropy", "nuc", "ndev", "exp"] {
        assert_eq!(
            partial["features"][signal], full["features"][signal],
            "{signal}"
        );
    }
    // bob wrote 4 of the 18 lines at base, all in a.txt, whose first version the clone
    // lacks; b.txt came whole from its one earlier version, which the diff fetched.
    assert_eq!(full["features"]["author_blame_share"], 4.0 / 18.0);
    assert_eq!(partial["features"]["author_blame_share"], 0.0);
    let warnings = partial["warnings"].to_string();
    assert!(
        warnings.contains("worked out for 1 of the 2 touched files")
            && warnings.contains("1 with a version in their history that the repository lacks")
            && warnings.contains("this clone is partial"),
        "{warnings}"
    );
    assert!(
        !full["warnings"].to_string().contains("partial"),
        "{}",
        full["warnings"]
    );
}

/// A blobless clone of `repo` whose change `HEAD^..head` git has fetched, as the refusal of a
/// change without its content says to.
fn blobless_clone_with_change(repo: &TestRepo, head: &str) -> (tempfile::TempDir, PathBuf) {
    let (tmp, clone) = partial_clone(repo.path(), "blob:none");
    let base = git_in(&clone, &["rev-parse", "HEAD^"]);
    git_in(&clone, &["diff", "--stat", &base, head]);
    (tmp, clone)
}

/// A partial clone fetches the committed `.mailmap` only when something reads it: until then
/// an author who committed under two addresses is two people, and the score says so and how
/// to fetch it.
#[test]
fn a_partial_clone_without_its_mailmap_says_so_until_it_is_fetched() {
    let repo = TestRepo::new();
    repo.write(
        ".mailmap",
        "Alice <alice@example.com> <alice2@example.com>\n",
    );
    repo.write("src/a.txt", lines("a", 10));
    repo.commit("alice", t(0), "Import");
    for step in 1..=3 {
        repo.write("src/a.txt", lines("a", 10 + step));
        repo.commit("alice2", t(step as i64), "Grow a from the laptop");
    }
    repo.write("src/a.txt", lines("a", 20));
    let head = repo.commit("alice", t(4), "Grow a");
    let full = score_json(repo.path().to_str().unwrap(), "HEAD^");
    assert_eq!(
        full["features"]["exp"], 4.0,
        "alice's four earlier commits, one person"
    );

    let (_tmp, clone) = blobless_clone_with_change(&repo, &head);
    let dir = clone.to_str().unwrap();
    let partial = score_json(dir, "HEAD^");
    assert_eq!(
        partial["features"]["exp"], 1.0,
        "alice2's commits count apart"
    );
    let mailmap = git_in(&clone, &["rev-parse", "HEAD:.mailmap"]);
    let warnings = partial["warnings"].to_string();
    let fetch = format!("`git cat-file blob {mailmap}`");
    assert!(
        warnings.contains("lacks the content of its committed .mailmap")
            && warnings.contains(&fetch),
        "{warnings}"
    );

    let csv = clone.with_file_name("mined.csv");
    let (code, _, err) = run_riskgate(&["mine", "--repo", dir, "--out", csv.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&fetch), "mine says so too: {err}");

    // What the warning says to run, run: the index is rebuilt with the .mailmap.
    git_in(&clone, &["cat-file", "blob", &mailmap]);
    let fetched = score_json(dir, "HEAD^");
    assert_eq!(fetched["features"]["exp"], full["features"]["exp"]);
    assert!(
        !fetched["warnings"].to_string().contains(".mailmap"),
        "{}",
        fetched["warnings"]
    );
}

/// The settings file of the base branch is read from a blob a partial clone may lack: taken
/// for no file, its thresholds would be silently dropped, so the score is refused with what
/// fetches it.
#[test]
fn a_partial_clone_without_its_settings_file_is_refused_until_it_is_fetched() {
    let repo = TestRepo::new();
    repo.write(
        ".github/riskgate.yml",
        "thresholds: {elevated: 0.001, high: 0.002}\n",
    );
    repo.write("src/a.txt", lines("a", 10));
    repo.commit("alice", t(0), "Import");
    repo.write("src/a.txt", lines("a", 20));
    let head = repo.commit("bob", t(1), "Grow a");
    let full = score_json(repo.path().to_str().unwrap(), "HEAD^");
    assert_eq!(full["band"], "high", "the file's thresholds hold");

    let (_tmp, clone) = blobless_clone_with_change(&repo, &head);
    let dir = clone.to_str().unwrap();
    let (code, _, err) = run_riskgate(&["score", "--repo", dir, "--base", "HEAD^"]);
    assert_eq!(code, 2, "{err}");
    let settings = git_in(&clone, &["rev-parse", "HEAD:.github/riskgate.yml"]);
    assert!(
        err.contains(".github/riskgate.yml")
            && err.contains(&format!("`git cat-file blob {settings}`")),
        "{err}"
    );

    git_in(&clone, &["cat-file", "blob", &settings]);
    let fetched = score_json(dir, "HEAD^");
    assert_eq!(fetched["band"], full["band"]);
    assert_eq!(fetched["probability"], full["probability"]);
}

/// The base branch's committed `.gitattributes` (what `--attributes base-branch` and the App
/// read) is a blob a partial clone may lack: taken for no file, a lock file it marks `-diff`
/// would count its lines, so the score is refused with what fetches it.
#[test]
fn a_partial_clone_without_its_committed_attributes_is_refused_until_they_are_fetched() {
    let repo = TestRepo::new();
    repo.write(".gitattributes", "*.lock -diff\n");
    repo.write("src/a.txt", lines("a", 10));
    repo.commit("alice", t(0), "Import");
    repo.write("deps.lock", lines("dependency", 500));
    repo.write("src/a.txt", lines("a", 20));
    let head = repo.commit("bob", t(1), "Grow a, lock the dependencies");
    let score = |dir: &str| {
        run_riskgate(&[
            "score",
            "--repo",
            dir,
            "--base",
            "HEAD^",
            "--format",
            "json",
            "--attributes",
            "base-branch",
        ])
    };
    let (code, full, err) = score(repo.path().to_str().unwrap());
    assert_eq!(code, 0, "{err}");
    let full: serde_json::Value = serde_json::from_str(&full).unwrap();
    assert_eq!(
        full["features"]["la"], 10.0,
        "the lock file counts no lines"
    );

    let (_tmp, clone) = blobless_clone_with_change(&repo, &head);
    let dir = clone.to_str().unwrap();
    let (code, _, err) = score(dir);
    assert_eq!(code, 2, "{err}");
    let attributes = git_in(&clone, &["rev-parse", "HEAD:.gitattributes"]);
    assert!(
        err.contains("`.gitattributes`")
            && err.contains(&format!("`git cat-file blob {attributes}`")),
        "{err}"
    );

    git_in(&clone, &["cat-file", "blob", &attributes]);
    let (code, fetched, err) = score(dir);
    assert_eq!(code, 0, "{err}");
    let fetched: serde_json::Value = serde_json::from_str(&fetched).unwrap();
    assert_eq!(fetched["features"]["la"], full["features"]["la"]);
}

/// A partial clone pairs the renames of its history without git, only where the content is
/// identical; once the clone has every object the index is built again, with git's pairs.
#[test]
fn a_partial_clone_made_whole_has_its_history_indexed_again() {
    let repo = TestRepo::new();
    repo.write("old/a.txt", lines("a", 40));
    repo.commit("alice", t(0), "Import");
    repo.write("old/a.txt", lines("a", 41));
    repo.commit("carol", t(1), "Grow a");
    // Moved with an edit: git pairs the two paths by similarity.
    std::fs::remove_file(repo.path().join("old/a.txt")).unwrap();
    repo.write("new/a.txt", lines("a", 42));
    repo.commit("bob", t(2), "Move a, and grow it");
    repo.write("new/a.txt", lines("a", 50));
    let head = repo.commit("dave", t(3), "Grow a again");
    let full = score_json(repo.path().to_str().unwrap(), "HEAD^");
    assert_eq!(
        full["features"]["ndev"], 3.0,
        "alice and carol, through the rename, and bob"
    );

    let (_tmp, clone) = blobless_clone_with_change(&repo, &head);
    let dir = clone.to_str().unwrap();
    let partial = score_json(dir, "HEAD^");
    assert_eq!(partial["features"]["ndev"], 1.0, "only since the rename");

    // Made whole: no promisor, every object fetched again.
    git_in(&clone, &["config", "--unset", "remote.origin.promisor"]);
    git_in(
        &clone,
        &["config", "--unset", "remote.origin.partialclonefilter"],
    );
    git_in(&clone, &["fetch", "-q", "--refetch", "origin"]);
    let whole = score_json(dir, "HEAD^");
    assert_eq!(whole["features"]["ndev"], full["features"]["ndev"]);
    assert!(
        !whole["warnings"].to_string().contains("partial"),
        "{}",
        whole["warnings"]
    );
}

/// A treeless clone (`git clone --filter=tree:0`) lacks the trees of past commits, which every
/// history signal reads: score and mine stop with an error that says so and what has them.
#[test]
fn a_treeless_clone_is_refused_with_what_to_clone_instead() {
    let repo = TestRepo::new();
    for i in 0..4 {
        repo.write(&format!("src/f{i}.txt"), lines("f", 3 + i));
        repo.commit("alice", t(i as i64), "Add a file");
    }
    let (tmp, clone) = partial_clone(repo.path(), "tree:0");
    let dir = clone.to_str().unwrap();
    let out = tmp.path().join("rows.csv");
    for args in [
        vec!["score", "--repo", dir, "--base", "HEAD~2"],
        vec!["mine", "--repo", dir, "--out", out.to_str().unwrap()],
    ] {
        let (code, _, err) = run_riskgate(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("lacks an object its history refers to")
                && err.contains("--filter=tree:0")
                && err.contains("--filter=blob:none"),
            "{args:?}: {err}"
        );
    }
}

/// A deleted file whose blob is absent beside an added one (a partial clone filtered by blob
/// size, where the absent blobs are the big ones): git cannot pair renames there and libgit2's
/// similarity cannot read the blob. That commit's renames of identical content are still
/// paired, git's renames are kept for every other commit, and mine and score go on.
#[test]
fn a_missing_blob_beside_a_rename_leaves_exact_renames() {
    let repo = TestRepo::new();
    repo.write("media/song.bin", lines("big", 40));
    repo.write("src/a.txt", lines("a", 6));
    repo.commit("alice", t(0), "Import");
    repo.git(&["rm", "-q", "media/song.bin"]);
    repo.write("lib/new.txt", lines("n", 3));
    repo.git(&["mv", "src/a.txt", "lib/a.txt"]);
    let moved = repo.commit("bob", t(1), "Drop the song, move a, add new");
    repo.write("lib/a.txt", lines("a", 9));
    let grown = repo.commit("carol", t(2), "Grow a");
    // A rename with an edit, after the commit git cannot read: git still pairs it.
    repo.git(&["mv", "lib/a.txt", "lib/b.txt"]);
    repo.write("lib/b.txt", lines("a", 10));
    let renamed = repo.commit("dave", t(3), "Rename a to b, one more line");
    remove_blob(&repo, &format!("{moved}^:media/song.bin"));

    let git_dir = repo.path().join(".git");
    let head = git2::Oid::from_str(&renamed).unwrap();
    let listed = riskgate::mining::renames::of_history(&git_dir, &[head], &[], None).unwrap();
    let moved_id = git2::Oid::from_str(&moved).unwrap();
    assert_eq!(
        listed.unread,
        vec![moved_id],
        "only the commit beside the absent blob"
    );
    assert_eq!(listed.of(moved_id), None);
    assert_eq!(
        listed.of(head),
        Some(&[("lib/a.txt".to_string(), "lib/b.txt".to_string())][..])
    );
    // The same from git diffing beside a walk (the index's), parents first: it stops at the
    // commit it cannot read and goes on past it.
    let walk: Vec<git2::Oid> = git_in(repo.path(), &["rev-list", "--reverse", &renamed])
        .lines()
        .map(|c| git2::Oid::from_str(c).unwrap())
        .collect();
    let mut ahead = riskgate::mining::renames::RenamesAhead::start(&git_dir, walk).unwrap();
    let grown_id = git2::Oid::from_str(&grown).unwrap();
    assert_eq!(ahead.of(moved_id, None).unwrap(), None);
    assert_eq!(ahead.of(grown_id, None).unwrap(), Some(Vec::new()));
    assert_eq!(
        ahead.of(head, None).unwrap(),
        Some(vec![("lib/a.txt".to_string(), "lib/b.txt".to_string())])
    );

    let mined = mine_repo(repo.path());
    assert_eq!(mined.rows.len(), 4);
    assert!(
        mined
            .warnings
            .iter()
            .any(|w| w.starts_with("git could not read 1 of the commits")),
        "{:?}",
        mined.warnings
    );
    let row = mined.rows.iter().find(|r| r.commit_id == renamed).unwrap();
    assert_eq!(
        (row.signals.la, row.signals.ld, row.signals.nf),
        (1.0, 0.0, 1.0),
        "one renamed file with one line added"
    );
    let row = mined.rows.iter().find(|r| r.commit_id == moved).unwrap();
    assert_eq!(row.signals.nf, 3.0, "song.bin, a.txt and new.txt");
    assert_eq!(
        (row.signals.la, row.signals.ld),
        (3.0, 0.0),
        "the move adds no lines; the absent blob has none to count"
    );
    let row = mined.rows.iter().find(|r| r.commit_id == grown).unwrap();
    assert_eq!(
        row.signals.nuc, 2.0,
        "a.txt's history goes on through the move"
    );
    assert_score_equals_mine(repo.path(), &mined, &[grown.as_str(), renamed.as_str()]);
    let err = mining::mine_change(
        &mining::open_repository(repo.path()).unwrap(),
        &mining::ChangeSpec {
            base: Some(format!("{moved}^")),
            head: Some(moved.clone()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, mining::MiningError::ContentMissing { count: 1, first, .. } if first == "media/song.bin"),
        "{err}"
    );
}

/// A repository whose own configuration shows signatures in `git log` (`log.showSignature`):
/// where gpg runs, its report of a signed commit comes before the commit's header. git's
/// renames of that commit are still read, by the history walk and beside the index walk.
#[test]
fn a_signed_commit_keeps_git_s_renames_where_git_log_shows_signatures() {
    let repo = TestRepo::new();
    repo.write("src/a.txt", lines("a", 20));
    repo.commit("alice", t(0), "Import");
    std::fs::remove_file(repo.path().join("src/a.txt")).unwrap();
    repo.write("lib/a.txt", lines("a", 21));
    let moved = repo.commit("bob", t(1), "Move a, one more line");
    // The same commit with a signature (one gpg cannot verify, and says so).
    let body = repo.git(&["cat-file", "commit", &moved]);
    let (header, message) = body.split_once("\n\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("commit");
    std::fs::write(
        &file,
        format!(
            "{header}\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n\n{message}\n"
        ),
    )
    .unwrap();
    let signed = repo.git(&["hash-object", "-t", "commit", "-w", file.to_str().unwrap()]);
    repo.git(&["update-ref", "HEAD", &signed]);
    repo.git(&["config", "log.showSignature", "true"]);

    let git_dir = repo.path().join(".git");
    let head = git2::Oid::from_str(&signed).unwrap();
    let pair = vec![("src/a.txt".to_string(), "lib/a.txt".to_string())];
    let listed = mining::renames::of_history(&git_dir, &[head], &[], None).unwrap();
    assert_eq!(listed.of(head), Some(&pair[..]));
    let walk: Vec<git2::Oid> = git_in(repo.path(), &["rev-list", "--reverse", &signed])
        .lines()
        .map(|c| git2::Oid::from_str(c).unwrap())
        .collect();
    let mut ahead = mining::renames::RenamesAhead::start(&git_dir, walk).unwrap();
    assert_eq!(ahead.of(head, None).unwrap(), Some(pair));
}

/// A file changed by many commits: reverts to earlier versions, a branch merged with both
/// sides' edits, a rename on the way.
fn long_file_history() -> TestRepo {
    let repo = TestRepo::new();
    let authors = ["alice", "bob", "carol", "dave"];
    let mut versions: Vec<String> = Vec::new();
    let mut text = lines("f", 30);
    let mut path = "src/f.txt".to_string();
    repo.write(&path, &text);
    repo.write("src/other.txt", lines("o", 3));
    repo.commit("alice", t(0), "Import");
    for i in 1..=50i64 {
        let author = authors[i as usize % authors.len()];
        match i {
            20 => text = versions[5].clone(), // a revert to an old version
            30 => {
                repo.git(&["checkout", "-q", "-b", "side"]);
                repo.write(&path, format!("side{i}\n{text}"));
                repo.commit("dave", t(i), "Side edit");
                repo.git(&["checkout", "-q", "main"]);
                text = format!("{text}main{i}\n");
                repo.write(&path, &text);
                repo.commit("carol", t(i) + 3600, "Main edit");
                repo.merge("alice", t(i) + 7200, "side");
                text = std::fs::read_to_string(repo.path().join(&path)).unwrap();
                versions.push(text.clone());
                continue;
            }
            35 => {
                repo.git(&["mv", &path, "src/g.txt"]);
                path = "src/g.txt".to_string();
            }
            _ => {
                let at = (i as usize * 7) % 30 + 1;
                text = text.replacen(&format!("f{at}\n"), &format!("{author}{i}\n"), 1)
                    + &format!("tail{i}\n");
            }
        }
        repo.write(&path, &text);
        repo.commit(author, t(i), &format!("Change {i}"));
        versions.push(text.clone());
    }
    repo
}

/// Scoring keeps line owners beside the history index and the next score starts from them;
/// what it gives is what replaying the whole history gives (the miner's rows), and a
/// damaged store is ignored.
#[test]
fn stored_line_owners_give_what_a_whole_replay_gives() {
    let repo = long_file_history();
    let mined = mine_repo(repo.path());
    let commits = commits_with_a_parent(repo.path());
    let commits: Vec<&str> = commits.iter().map(String::as_str).collect();
    // Oldest first, as pull requests come: each score finds the previous one's owners.
    assert_score_equals_mine(repo.path(), &mined, &commits);
    let store = repo.path().join(".git/riskgate/owners-v10");
    let entries: Vec<PathBuf> = walk_files(&store);
    assert!(!entries.is_empty(), "line owners were stored");

    for entry in &entries {
        std::fs::write(entry, b"not an entry").unwrap();
    }
    // Owners stored by an older rule are never read, and their folder goes.
    let stale = repo.path().join(".git/riskgate/owners-v3/00");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("entry"), b"an owner list of an older rule").unwrap();
    let last = &commits[commits.len() - 5..];
    assert_score_equals_mine(repo.path(), &mined, last);
    assert!(!stale.exists(), "the older store is removed");
}

/// A file merged "ours"-wise, as a merging rebase merges the line it replaces: the last step
/// of its history is on a line the base dropped, and the base's version was made twice, by a
/// commit and by its rebased copy. The store keeps the base's version with both producers, so
/// scoring the same change again replays nothing, and both scores give what mine gives.
#[test]
fn a_file_merged_ours_wise_is_replayed_once() {
    let repo = TestRepo::new();
    let path = "src/f.txt";
    let mut text = TestRepo::lines("f", 40);
    repo.write(path, &text);
    repo.commit("alice", t(0), "Import");
    for i in 1..=20i64 {
        let author = ["alice", "bob"][i as usize % 2];
        text = text.replacen(&format!("f{i}\n"), &format!("{author}{i}\n"), 1);
        repo.write(path, &text);
        repo.commit(author, t(i), &format!("Change {i}"));
    }
    let last = repo.git(&["rev-parse", "HEAD"]);
    repo.git(&["checkout", "-q", "-b", "copy", "HEAD^"]);
    repo.write(path, &text);
    repo.commit("bob", t(21), "Change 20, rebased");
    repo.git(&["checkout", "-q", "-b", "dropped", &last]);
    repo.write(path, format!("{text}dropped\n"));
    repo.commit("carol", t(22), "A change the merges drop");
    repo.git(&["checkout", "-q", "main"]);
    repo.merge_all("alice", t(23), &["-s", "ours", "copy"]);
    repo.merge_all("alice", t(24), &["-s", "ours", "dropped"]);
    repo.write(path, format!("dave\n{text}"));
    let head = repo.commit("dave", t(25), "On top");

    let dir = repo.path().to_str().unwrap();
    let score = || {
        let (code, out, err) = run_riskgate_env(
            &[
                "score", "--repo", dir, "--base", "HEAD^", "--format", "json",
            ],
            &[("RISKGATE_LOG", "riskgate::mining::attribution=debug")],
        );
        assert_eq!(code, 0, "{err}");
        let line = err
            .lines()
            .find(|l| l.contains("line owners replayed"))
            .unwrap_or_else(|| panic!("no replay logged: {err}"));
        let steps: usize = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("steps="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no steps in {line}"));
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        (steps, report["features"].clone())
    };
    let (cold_steps, cold) = score();
    assert!(
        cold_steps >= 16,
        "the whole history replayed first: {cold_steps} steps"
    );
    let (warm_steps, warm) = score();
    assert_eq!(
        warm_steps, 0,
        "the second score starts from the stored owners"
    );
    assert_eq!(warm, cold);
    assert_score_equals_mine(repo.path(), &mine_repo(repo.path()), &[head.as_str()]);
}

/// A change whose files have a long history between them is replayed on two threads, each
/// file on one of them: every file is attributed as the miner attributes it, whichever thread
/// replayed it, with the store cold and warm.
#[test]
fn a_change_to_several_long_lived_files_is_attributed_as_the_miner_does() {
    let repo = TestRepo::new();
    let authors = ["alice", "bob", "carol"];
    let names = ["src/a.txt", "src/b.txt", "src/c.txt"];
    let mut texts: Vec<String> = names.iter().map(|n| lines(&n[4..5], 40)).collect();
    for (name, text) in names.iter().zip(&texts) {
        repo.write(name, text);
    }
    repo.commit("alice", t(0), "Import");
    // Each file changed about 30 times (more history than one thread is given), by turns.
    for i in 1..=90i64 {
        let f = i as usize % names.len();
        let author = authors[(i as usize / 2) % authors.len()];
        let at = (i as usize * 7) % 40 + 1;
        let prefix = &names[f][4..5];
        texts[f] = texts[f].replacen(&format!("{prefix}{at}\n"), &format!("{author}{i}\n"), 1)
            + &format!("{prefix}tail{i}\n");
        repo.write(names[f], &texts[f]);
        repo.commit(author, t(i), &format!("Change {i}"));
    }
    for (n, author) in ["bob", "carol"].into_iter().enumerate() {
        for (name, text) in names.iter().zip(texts.iter_mut()) {
            *text = format!("{author} top {n}\n{text}");
            repo.write(name, &*text);
        }
        repo.commit(author, t(100 + n as i64), "Change every file");
    }
    let mined = mine_repo(repo.path());
    let commits = commits_with_a_parent(repo.path());
    let last: Vec<&str> = commits[commits.len() - 2..]
        .iter()
        .map(String::as_str)
        .collect();
    assert_score_equals_mine(repo.path(), &mined, &last);
    assert_score_equals_mine(repo.path(), &mined, &last);
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}
