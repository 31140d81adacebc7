//! `riskgate mine`: rows against `score`, hand-computed values and `git log --numstat`;
//! revert and SZZ labels on a history with known bug-introducing commits; the CSV read back.

use std::collections::HashMap;
use std::path::Path;

use riskgate::features;
use riskgate::labels::LabelKind;
use riskgate::mining::mine::{self, MineOptions, MinedHistory, MinedRow};
use riskgate::mining::owner_store;
use riskgate::mining::pack::BlobRead;
use riskgate::mining::{self, ChangeSpec};
use riskgate::model::dataset::Dataset;

use crate::support::{
    day, git_in, git_numstat, run_riskgate, run_riskgate_env, score_json, Numstat, TestRepo,
};

pub(crate) fn mine_repo(path: &Path) -> MinedHistory {
    let repo = mining::open_repository(path).unwrap();
    mine::mine_history(&repo, &MineOptions::default()).unwrap()
}

fn by_id(mined: &MinedHistory) -> HashMap<&str, &MinedRow> {
    mined
        .rows
        .iter()
        .map(|r| (r.commit_id.as_str(), r))
        .collect()
}

const KAMEI: [&str; 14] = [
    "ns", "nd", "nf", "entropy", "la", "ld", "lt", "fix", "ndev", "age", "nuc", "exp", "rexp",
    "sexp",
];

/// alice, bob and carol over three years: renames, a binary file, a side branch merged back,
/// a manifest, a fix.
fn varied_history() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("src/core/a.rs", TestRepo::lines("a", 12));
    repo.write("docs/guide.md", TestRepo::lines("d", 6));
    repo.write("logo.png", [0x89u8, b'P', b'N', b'G', 0, 0, 7, 1]);
    repo.commit("alice", day(2020, 1, 1), "Initial import");
    repo.write("lib/x.rs", TestRepo::lines("x", 4));
    repo.write("Cargo.toml", "[package]\nname = \"x\"\n");
    repo.commit("carol", day(2021, 3, 1), "Add lib");
    repo.write(
        "src/core/a.rs",
        TestRepo::lines("a", 12).replace("a2\n", "bob2\n"),
    );
    repo.commit("bob", day(2021, 6, 1), "Tune a");
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.write("tools/y.rs", TestRepo::lines("y", 3));
    repo.write("docs/guide.md", TestRepo::lines("d", 6) + "d7\n");
    repo.commit("bob", day(2021, 7, 1), "Side work");
    repo.git(&["checkout", "-q", "main"]);
    std::fs::create_dir_all(repo.path().join("src/util")).unwrap();
    repo.git(&["mv", "lib/x.rs", "src/util/x.rs"]);
    repo.commit("alice", day(2021, 8, 1), "Move x");
    repo.merge("alice", day(2021, 9, 1), "side");
    repo.write(
        "src/core/a.rs",
        TestRepo::lines("a", 12)
            .replace("a2\n", "bob2\n")
            .replace("a9\n", "carol9\ncarol9b\n"),
    );
    repo.write("src/util/x.rs", TestRepo::lines("x", 4) + "x5\n");
    repo.write("logo.png", [0x89u8, b'P', b'N', b'G', 0, 0, 9, 9]);
    repo.commit("carol", day(2023, 1, 10), "Fix the a9 overflow");
    repo.write("Cargo.toml", "[package]\nname = \"x\"\nversion = \"2\"\n");
    repo.write("tools/y.rs", "");
    repo.commit("bob", day(2023, 2, 1), "Release 2");
    repo.git(&["rm", "-q", "docs/guide.md"]);
    repo.commit("carol", day(2023, 2, 2), "Drop the guide");
    repo.write(
        "src/core/b.rs",
        "fn b() {}
fn c() {}",
    );
    repo.commit("alice", day(2023, 2, 3), "Add b without a final newline");
    repo
}

/// The non-merge commits of HEAD that have a parent, oldest first.
pub(crate) fn commits_with_a_parent(dir: &Path) -> Vec<String> {
    git_in(
        dir,
        &[
            "rev-list",
            "--no-merges",
            "--min-parents=1",
            "--reverse",
            "HEAD",
        ],
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// [`assert_score_equals_mine`] for every commit [`commits_with_a_parent`] lists.
pub(crate) fn assert_score_equals_mine_everywhere(dir: &Path, mined: &MinedHistory) {
    let commits = commits_with_a_parent(dir);
    let commits: Vec<&str> = commits.iter().map(String::as_str).collect();
    assert_score_equals_mine(dir, mined, &commits);
}

/// `score` of each of `commits` against its first parent gives the signals of its mined row.
pub(crate) fn assert_score_equals_mine(path: &Path, mined: &MinedHistory, commits: &[&str]) {
    let r = mining::open_repository(path).unwrap();
    let rows = by_id(mined);
    for sha in commits {
        let change = mining::mine_change(
            &r,
            &ChangeSpec {
                base: Some(format!("{sha}^")),
                head: Some(sha.to_string()),
                ..Default::default()
            },
        )
        .unwrap();
        // The built-in sensitive paths: these histories configure none.
        let hits = features::sensitive::SensitivePaths::new(&[])
            .unwrap()
            .hits(change.snapshot.files.iter().map(|f| f.path.as_str()));
        let (want, _) = features::compute(&change.snapshot, hits, None);
        let want = want.to_map();
        let got = rows
            .get(sha)
            .unwrap_or_else(|| panic!("{sha} has no row"))
            .signals
            .to_map();
        for name in KAMEI {
            let (w, g) = (want[name].unwrap(), got[name].unwrap());
            assert!((w - g).abs() < 1e-9, "{sha} {name}: score {w}, mine {g}");
        }
        for name in [
            "author_commit_share",
            "author_blame_share",
            "files_new_to_author",
            "sensitive_files",
        ] {
            assert_eq!(want[name], got[name], "{sha} {name}");
        }
    }
}

#[test]
fn rows_equal_score_of_each_commit_against_its_parent() {
    let repo = varied_history();
    let mined = mine_repo(repo.path());
    let commits = repo.git(&["rev-list", "--no-merges", "--reverse", "HEAD"]);
    let commits: Vec<&str> = commits.lines().collect();
    assert_eq!(mined.rows.len(), 9);
    assert_eq!(mined.merges, 1);
    // Every commit but the root (which has no C^ to score against).
    assert_score_equals_mine(repo.path(), &mined, &commits[1..]);
    // sensitive_files: Cargo.toml in "Add lib" and "Release 2".
    let sensitive: Vec<f64> = mined
        .rows
        .iter()
        .map(|r| r.signals.sensitive_files)
        .collect();
    assert_eq!(sensitive, vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
}

#[test]
fn rows_by_hand() {
    let repo = TestRepo::new();
    repo.write("src/a.rs", TestRepo::lines("a", 10));
    let c1 = repo.commit("alice", day(2022, 1, 1), "Import");
    repo.write(
        "src/a.rs",
        TestRepo::lines("a", 10).replace("a3\n", "b3\nb3b\n"),
    );
    repo.write("docs/n.md", TestRepo::lines("n", 3));
    let c2 = repo.commit("bob", day(2022, 1, 11), "Add notes");
    repo.write("src/a.rs", TestRepo::lines("z", 2));
    let c3 = repo.commit("alice", day(2023, 1, 21), "Rewrite a");
    let mined = mine_repo(repo.path());
    let ids: Vec<&str> = mined.rows.iter().map(|r| r.commit_id.as_str()).collect();
    assert_eq!(
        ids,
        vec![c1.as_str(), c2.as_str(), c3.as_str()],
        "oldest first"
    );
    let s = &mined.rows[0].signals;
    assert_eq!(
        (s.nf, s.la, s.ld, s.lt, s.nuc, s.exp),
        (1.0, 10.0, 0.0, 0.0, 0.0, 0.0)
    );
    assert_eq!(mined.rows[0].author_date, day(2022, 1, 1));
    let s = &mined.rows[1].signals;
    assert_eq!((s.ns, s.nd, s.nf), (2.0, 2.0, 2.0));
    assert_eq!((s.la, s.ld, s.lt), (5.0, 1.0, 10.0));
    // a.rs: 3 modified lines, n.md 3: even → entropy 1
    assert!((s.entropy - 1.0).abs() < 1e-12);
    assert_eq!((s.ndev, s.nuc, s.exp), (1.0, 1.0, 0.0));
    assert_eq!(s.age, 10.0 * 86_400.0, "only a.rs has history");
    assert_eq!(s.author_commit_share, Some(0.0));
    assert_eq!(s.author_blame_share, Some(0.0));
    assert_eq!(s.files_new_to_author, 1.0);
    let s = &mined.rows[2].signals;
    assert_eq!((s.la, s.ld, s.lt), (2.0, 11.0, 11.0));
    assert_eq!((s.ndev, s.nuc, s.exp, s.sexp), (2.0, 2.0, 1.0, 1.0));
    // alice's import is 385 days back: one whole year → weight 1/2
    assert_eq!(s.rexp, 0.5);
    assert_eq!(s.author_commit_share, Some(0.5));
    // alice wrote 9 of a.rs's 11 lines
    assert_eq!(s.author_blame_share, Some(9.0 / 11.0));
    assert_eq!(s.age, 375.0 * 86_400.0);
}

/// The walk keeps a running sum of each file's earlier commits and reads it when all of them
/// are history of the change: along one line of history, and across branches merged since.
/// Files changed together are summed together, the commits they share counted once, again as
/// the same files come back. It lists them where a branch not yet merged changed the file,
/// where a rename leads into the file, and past the branches it follows. Every way gives what
/// `score` gives, and the counts made by hand.
#[test]
fn a_files_history_summed_along_the_walk_gives_what_listing_it_gives() {
    let repo = TestRepo::new();
    let at = |step: i64| day(2022, 1, 1) + step * 3_600;
    let mut f = TestRepo::lines("f", 40);
    repo.write("f.txt", &f);
    repo.write("g.txt", TestRepo::lines("g", 5));
    repo.commit("alice", at(0), "Import");
    f.push_str("grown\n");
    repo.write("f.txt", &f);
    let grow = repo.commit("bob", at(1), "Grow f");
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.write("f.txt", format!("side\n{f}"));
    let side = repo.commit("carol", at(2), "Side edit");
    repo.git(&["checkout", "-q", "main"]);
    f.push_str("main\n");
    repo.write("f.txt", &f);
    // The side branch's edit is not history of this one.
    let beside = repo.commit("dave", at(3), "Main edit");
    repo.merge("alice", at(4), "side");
    f = std::fs::read_to_string(repo.path().join("f.txt")).unwrap();
    f.push_str("after\n");
    repo.write("f.txt", &f);
    // Two lines of history, both merged.
    let after_merge = repo.commit("alice", at(5), "After the merge");
    f.push_str("both\n");
    repo.write("f.txt", &f);
    repo.write("g.txt", TestRepo::lines("g", 6));
    let both = repo.commit("bob", at(6), "Both files");
    repo.git(&["mv", "f.txt", "h.txt"]);
    f.push_str("moved\n");
    repo.write("h.txt", &f);
    let moved = repo.commit("carol", at(7), "Move f to h");
    f.push_str("renamed\n");
    repo.write("h.txt", &f);
    let after_move = repo.commit("dave", at(8), "Edit h");
    // More branches than the sum follows, each changing its own line of one file.
    let busy: Vec<String> = (1..=120).map(|i| format!("b{i}\n")).collect();
    repo.write("busy.txt", busy.concat());
    repo.commit("alice", at(9), "Add busy");
    let branches: Vec<String> = (0..33).map(|k| format!("b{k}")).collect();
    for (k, branch) in branches.iter().enumerate() {
        repo.git(&["checkout", "-q", "-b", branch, "main"]);
        let mut lines = busy.clone();
        lines[3 * k + 1] = format!("{branch} changed\n");
        repo.write("busy.txt", lines.concat());
        let author = ["bob", "carol", "dave"][k % 3];
        repo.commit(author, at(10 + k as i64), &format!("Change {branch}"));
    }
    repo.git(&["checkout", "-q", "main"]);
    for branch in &branches {
        repo.merge("alice", at(50), branch);
    }
    let mut after_branches = std::fs::read_to_string(repo.path().join("busy.txt")).unwrap();
    after_branches.push_str("last\n");
    repo.write("busy.txt", &after_branches);
    let past_branches = repo.commit("erin", at(51), "After the branches");
    // Two files a bot changes together, and one of them alone between.
    repo.write("p.txt", TestRepo::lines("p", 3));
    repo.write("q.txt", TestRepo::lines("q", 3));
    repo.commit("alice", at(52), "Add p and q");
    repo.write("p.txt", TestRepo::lines("p", 4));
    repo.write("q.txt", TestRepo::lines("q", 4));
    let pair = repo.commit("bob", at(53), "Grow p and q");
    repo.write("q.txt", TestRepo::lines("q", 5));
    let q_alone = repo.commit("carol", at(54), "Grow q");
    repo.write("p.txt", TestRepo::lines("p", 5));
    repo.write("q.txt", TestRepo::lines("q", 6));
    let pair_again = repo.commit("alice", at(55), "Grow p and q again");
    // More files together than a sum is kept for.
    let wide = |lines: usize| {
        for k in 0..70 {
            repo.write(&format!("wide/w{k}.txt"), TestRepo::lines("w", lines));
        }
    };
    wide(1);
    repo.commit("alice", at(56), "Add the wide files");
    wide(2);
    repo.commit("bob", at(57), "Grow the wide files");
    wide(3);
    let wide_again = repo.commit("carol", at(58), "Grow the wide files again");

    let mined = mine_repo(repo.path());
    assert_score_equals_mine_everywhere(repo.path(), &mined);
    let rows = by_id(&mined);
    // (commit, nuc, ndev, author's share of those commits, files new to the author)
    let by_hand = [
        (&grow, 1.0, 1.0, Some(0.0), 1.0),
        (&side, 2.0, 2.0, Some(0.0), 1.0),
        (&beside, 2.0, 2.0, Some(0.0), 1.0),
        (&after_merge, 4.0, 4.0, Some(0.25), 0.0),
        (&both, 5.0, 4.0, Some(0.2), 1.0),
        (&moved, 6.0, 4.0, Some(1.0 / 6.0), 0.0),
        (&after_move, 7.0, 4.0, Some(1.0 / 7.0), 0.0),
        (&past_branches, 34.0, 4.0, Some(0.0), 1.0),
        (&pair, 1.0, 1.0, Some(0.0), 2.0),
        (&q_alone, 2.0, 2.0, Some(0.0), 1.0),
        (&pair_again, 3.0, 3.0, Some(1.0 / 3.0), 0.0),
        (&wide_again, 2.0, 2.0, Some(0.0), 70.0),
    ];
    for (sha, nuc, ndev, share, new_to_author) in by_hand {
        let signals = &rows[sha.as_str()].signals;
        assert_eq!(
            (signals.nuc, signals.ndev, signals.files_new_to_author),
            (nuc, ndev, new_to_author),
            "{sha}"
        );
        let got = signals.author_commit_share;
        assert!(
            got.zip(share).is_some_and(|(g, w)| (g - w).abs() < 1e-12),
            "{sha}: author_commit_share {got:?}, by hand {share:?}"
        );
    }
}

fn generated(dir: &Path, commits: u32) {
    gen_history(
        dir,
        &[
            "--commits",
            &commits.to_string(),
            "--files",
            "100",
            "--authors",
            "6",
            "--change-files",
            "10",
            "--merge-every",
            "300",
        ],
    );
}

/// A history made by `scripts/gen-history.py` with `args`, its `main` checked out.
fn gen_history(dir: &Path, args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen-history.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(dir)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "gen-history failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    git_in(dir, &["checkout", "-q", "main"]);
}

#[test]
fn la_ld_nf_agree_with_git_numstat_on_a_generated_history() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gen");
    generated(&dir, 1500);
    let mined = mine_repo(&dir);
    let numstat = git_numstat(&dir, "HEAD");
    assert!(
        numstat.binary_entries > 0,
        "the generated history has binary changes"
    );
    let numstat = numstat.commits;
    assert_eq!(mined.rows.len(), numstat.len());
    assert!(mined.rows.len() >= 1500 && mined.merges > 0);
    for r in &mined.rows {
        let (la, ld, nf) = numstat[&r.commit_id];
        let s = &r.signals;
        assert_eq!((s.la, s.ld, s.nf), (la, ld, nf), "{}", r.commit_id);
    }
    // The fast tree diff the miner uses gives what libgit2's diff gives, commit by commit,
    // and so does it reading through one cache kept along the history (parents first).
    let repo = mining::open_repository(&dir).unwrap();
    let mut cache = mining::ObjectCache::reading_packs(&repo);
    let mut line_diffs = mining::LineDiffs::new(&repo);
    for r in &mined.rows {
        let c = repo
            .find_commit(git2::Oid::from_str(&r.commit_id).unwrap())
            .unwrap();
        let parent = c.parent(0).ok().map(|p| p.tree().unwrap());
        let tree = c.tree().unwrap();
        let fast = mining::diff_commit(&repo, parent.as_ref(), &tree).unwrap();
        let slow = mining::diff_change_detailed(&repo, parent.as_ref(), &tree).unwrap();
        let f = diff_keys(&fast);
        let s = diff_keys(&slow);
        assert_eq!(f, s, "{}", r.commit_id);
        let pending = mining::diff_commit_cached(
            &repo,
            &mut cache,
            parent.as_ref().map(|t| t.id()),
            tree.id(),
            mining::RenameSource::Libgit2,
        )
        .unwrap();
        let cached: Vec<_> = pending
            .into_iter()
            .map(|f| f.finish(&mut line_diffs).unwrap())
            .collect();
        let c = diff_keys(&cached);
        assert_eq!(c, s, "{} (cached)", r.commit_id);
        cache.forget(&cached, false);
    }
}

/// What two line diffs of a commit must agree on, file by file.
fn diff_keys(
    diffed: &[mining::DiffedFile],
) -> Vec<(
    &riskgate::features::FileChange,
    git2::Oid,
    git2::Oid,
    &Vec<mining::Hunk>,
)> {
    diffed
        .iter()
        .map(|d| (&d.file, d.old_id, d.new_id, &d.hunks))
        .collect()
}

#[test]
fn pack_reader_reads_what_libgit2_reads() {
    // Deep delta chains (a full repack), a second pack, and loose objects on top.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gen");
    generated(&dir, 400);
    git_in(
        &dir,
        &[
            "repack",
            "-a",
            "-d",
            "-f",
            "-q",
            "--window=10",
            "--depth=50",
        ],
    );
    std::fs::write(dir.join("README.md"), "a loose blob\n").unwrap();
    git_in(&dir, &["add", "README.md"]);
    let who = ["-c", "user.name=x", "-c", "user.email=x@example.com"];
    git_in(&dir, &[&who[..], &["commit", "-q", "-m", "loose"]].concat());
    let repo = mining::open_repository(&dir).unwrap();
    let odb = repo.odb().unwrap();
    let mut ids = Vec::new();
    odb.foreach(|id| {
        ids.push(*id);
        true
    })
    .unwrap();
    let mut packs = mining::pack::Packs::open(repo.commondir());
    let (mut from_packs, mut trees, mut blobs) = (0, 0, 0);
    for id in &ids {
        let want = odb.read(*id).unwrap();
        let Some((kind, data)) = packs.read(*id) else {
            continue;
        };
        from_packs += 1;
        assert_eq!((kind, &data[..]), (want.kind(), want.data()), "{id}");
        match kind {
            git2::ObjectType::Tree => {
                trees += 1;
                let parsed = mining::pack::TreeData::parse(*id, &data).unwrap();
                let git = repo.find_tree(*id).unwrap();
                let a: Vec<_> = parsed
                    .iter()
                    .map(|e| (e.name_bytes().to_vec(), e.filemode(), e.id()))
                    .collect();
                let b: Vec<_> = git
                    .iter()
                    .map(|e| (e.name_bytes().to_vec(), e.filemode(), e.id()))
                    .collect();
                assert_eq!(a, b, "{id}");
            }
            git2::ObjectType::Blob => {
                blobs += 1;
            }
            _ => {}
        }
    }
    // Everything but the loose objects came from the packs.
    assert!(
        from_packs + 10 >= ids.len() && from_packs < ids.len(),
        "{from_packs} of {}",
        ids.len()
    );
    assert!(trees > 400 && blobs > 400, "{trees} trees, {blobs} blobs");
}

/// At a merge git blame's way keeps to the first parent for every file the merge has as that
/// parent has it, so the index records the others for each merge, and they are what
/// `git diff --name-only` lists between the first parent and the merge.
#[test]
fn the_index_knows_what_each_merge_has_unlike_its_first_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gen");
    gen_history(
        &dir,
        &[
            "--commits",
            "400",
            "--files",
            "60",
            "--authors",
            "4",
            "--change-files",
            "8",
            "--merge-every",
            "25",
        ],
    );
    let repo = mining::open_repository(&dir).unwrap();
    let head = repo.refname_to_id("refs/heads/main").unwrap();
    let mut index = mining::index::HistoryIndex::in_memory();
    index.extend_to(&repo, head, None).unwrap();
    let merges: Vec<String> = git_in(&dir, &["rev-list", "--merges", "main"])
        .lines()
        .map(str::to_string)
        .collect();
    assert!(merges.len() >= 8, "{} merges", merges.len());
    let mut brought = 0;
    for merge in &merges {
        let at = index.lookup(git2::Oid::from_str(merge).unwrap()).unwrap();
        let mut recorded: Vec<&str> = index
            .commit(at)
            .unlike_first_parent
            .as_ref()
            .expect("every parent is indexed")
            .iter()
            .map(|&p| index.path(p))
            .collect();
        recorded.sort_unstable();
        let first_parent = format!("{merge}^1");
        let listed = git_in(
            &dir,
            &["diff", "--no-renames", "--name-only", &first_parent, merge],
        );
        let mut listed: Vec<&str> = listed.lines().collect();
        listed.sort_unstable();
        assert_eq!(recorded, listed, "merge {merge}");
        brought += listed.len();
    }
    assert!(brought > merges.len(), "the merges bring files: {brought}");
}

/// One `git diff-tree` answers a walk's merges one after another: each answer is what a
/// `git diff-tree` of that pair alone finds, however the paths are named (a newline, a colon
/// or a line of tree ids in a name cannot end an answer early), and an empty answer is one.
#[test]
fn one_git_answers_many_pairs_of_trees_as_git_alone_does() {
    let repo = TestRepo::new();
    let body = |tag: &str| format!("{}\n", TestRepo::lines(tag, 40));
    repo.write("a.txt", body("a"));
    repo.write("b.txt", body("b"));
    let tree_line = format!("{} {}\n", "1".repeat(40), "2".repeat(40));
    let hostile = ["x\ny.txt", ":100644 R100", tree_line.as_str(), "c d.txt"];
    for (n, name) in hostile.iter().enumerate() {
        repo.write(name, body(&format!("h{n}")));
    }
    let first = repo.commit("alice", day(2023, 1, 1), "Import");
    let move_file = |from: &str, to: &str| {
        let content = std::fs::read(repo.path().join(from)).unwrap();
        std::fs::remove_file(repo.path().join(from)).unwrap();
        repo.write(to, content);
    };
    move_file("a.txt", "docs/a.md");
    for (n, name) in hostile.iter().enumerate() {
        move_file(name, &format!("moved/{n}\n:{name}"));
    }
    let second = repo.commit("alice", day(2023, 1, 2), "Move");
    repo.write("b.txt", body("changed"));
    let third = repo.commit("alice", day(2023, 1, 3), "Edit, no rename");

    let git = mining::open_repository(repo.path()).unwrap();
    let tree = |c: &str| {
        git.find_commit(git2::Oid::from_str(c).unwrap())
            .unwrap()
            .tree_id()
    };
    let pairs = [
        (&first, &second),
        (&second, &third),
        (&first, &third),
        (&third, &third),
    ];
    let mut session = mining::renames::TreeRenames::start(git.path()).unwrap();
    let mut found = 0;
    for (old, new) in pairs.iter().cycle().take(8) {
        let (old, new) = (tree(old), tree(new));
        let mut together = session
            .between(old, new, git2::Oid::from_str(&third).unwrap(), None)
            .unwrap();
        let mut alone = mining::renames::between(git.path(), old, new, None).unwrap();
        together.sort();
        alone.sort();
        assert_eq!(together, alone, "{old} → {new}");
        found += together.len();
    }
    // Twice each of the two pairs that move the five files.
    assert_eq!(found, 4 * (1 + hostile.len()));
}

/// Which versions count as binary decides whether their lines are counted, so riskgate
/// asks what `git diff --numstat` asks: 3,000 files of text with control bytes here and
/// there (libgit2 calls many of those binary, git only those with a NUL), added in one
/// commit, each classed as git classes it.
#[test]
fn binary_detection_matches_git() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init_bare(tmp.path()).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let boms: [&[u8]; 6] = [
        b"",
        b"\xef\xbb\xbf",
        b"\xfe\xff",
        b"\xff\xfe",
        b"\xff\xfe\0\0",
        b"\0\0\xfe\xff",
    ];
    let mut tree = repo.treebuilder(None).unwrap();
    let mut contents = HashMap::new();
    for i in 0..3_000 {
        let len = (next() % 9_000) as usize;
        // Mostly text, with a few control bytes (and now and then a NUL) at random places.
        let rare = 1 + next() % 400;
        let mut content: Vec<u8> = boms[i % boms.len()].to_vec();
        content.extend((0..len).map(|_| {
            let r = next();
            if r % (rare * 8) == 0 {
                (r >> 8) as u8 % 32
            } else {
                b' ' + (r >> 8) as u8 % 95
            }
        }));
        let name = format!("f{i:04}");
        tree.insert(&name, repo.blob(&content).unwrap(), 0o100644)
            .unwrap();
        contents.insert(name, content);
    }
    let tree = repo.find_tree(tree.write().unwrap()).unwrap();
    let who = git2::Signature::new("a", "a@example.com", &git2::Time::new(0, 0)).unwrap();
    let commit = repo
        .commit(Some("HEAD"), &who, &who, "files", &tree, &[])
        .unwrap();
    let numstat = git_in(
        tmp.path(),
        &["show", "--numstat", "--format=", &commit.to_string()],
    );
    let (mut binary, mut libgit2_differs) = (0, 0);
    for line in numstat.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let content = &contents[fields[2]];
        let git_says_binary = fields[0] == "-";
        assert_eq!(
            mining::pack::is_binary(content),
            git_says_binary,
            "{}: {:?}",
            fields[2],
            &content[..content.len().min(16)]
        );
        binary += usize::from(git_says_binary);
        libgit2_differs += usize::from(
            repo.find_blob(repo.blob(content).unwrap())
                .unwrap()
                .is_binary()
                != git_says_binary,
        );
    }
    assert_eq!(numstat.lines().count(), 3_000);
    assert!(binary > 300 && binary < 2_700, "{binary} of 3,000 binary");
    assert!(
        libgit2_differs > 100,
        "only {libgit2_differs} classed otherwise by libgit2"
    );
}

/// A blob past `core.bigFileThreshold` is binary to `git diff`, which counts none of its
/// lines; riskgate reads no more of it than its size, from a pack (whole or as a delta) or a
/// loose object, and counts the same lines as git.
#[test]
fn blobs_past_the_big_file_threshold_are_binary_as_git_says() {
    let repo = TestRepo::new();
    repo.git(&["config", "core.bigFileThreshold", "4k"]);
    // Each version is the last with lines added: git packs them as deltas of one another.
    let version = |lines: usize| TestRepo::lines("a line of the data file", lines);
    let mut t = day(2024, 1, 1);
    for (i, lines) in [100, 150, 200, 250].into_iter().enumerate() {
        repo.write("data.txt", version(lines));
        repo.write("notes.txt", TestRepo::lines("note", i + 1));
        repo.commit(if i % 2 == 0 { "alice" } else { "bob" }, t, "data");
        t += 86_400;
    }
    // git packs no blob past its threshold as a delta, so it packs with its default one.
    repo.git(&[
        "-c",
        "core.bigFileThreshold=512m",
        "gc",
        "-q",
        "--aggressive",
    ]);
    // `<id> blob <size in pack, inflated> <packed> <offset> [<depth> <base>]` for each blob.
    let packed = repo.git(&["verify-pack", "-v", &pack_index(repo.path())]);
    let git = mining::open_repository(repo.path()).unwrap();
    let mut objects = mining::ObjectCache::reading_packs(&git);
    let mut packs = mining::pack::Packs::open(git.path());
    let mut big_deltas = 0;
    // Deltas first: their bases are decoded and cached on the way, and a base past the
    // threshold, read after, must still be found binary.
    let mut blobs: Vec<&str> = packed.lines().filter(|l| l.contains(" blob ")).collect();
    blobs.sort_by_key(|l| l.split_whitespace().count() != 7);
    for line in blobs {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let size: u64 = repo
            .git(&["cat-file", "-s", fields[0]])
            .trim()
            .parse()
            .unwrap();
        let id = git2::Oid::from_str(fields[0]).unwrap();
        assert_eq!(
            objects.blob(&git, id).unwrap().binary,
            size > 4096,
            "{line}"
        );
        // The pack reader itself sizes it, a delta by the head of its delta.
        match packs.read_blob(id, 4096) {
            Some(BlobRead::Larger(n)) => assert!(n == size && size > 4096, "{line}"),
            Some(BlobRead::Content(c)) => assert!(c.len() as u64 == size && size <= 4096),
            None => panic!("{line}: not read from the pack"),
        }
        big_deltas += usize::from(size > 4096 && fields.len() == 7);
    }
    assert!(
        big_deltas > 0,
        "no blob past the threshold is a delta:\n{packed}"
    );
    // Two more, loose: one past the threshold, one back under it.
    for lines in [300, 120] {
        repo.write("data.txt", version(lines));
        repo.commit("carol", t, "data");
        t += 86_400;
    }
    let numstat = mined_as_git_numstat_counts(repo.path());
    assert!(numstat.binary_entries >= 4, "{}", numstat.binary_entries);
    let last = score_json(repo.path().to_str().unwrap(), "HEAD~1");
    let (la, ld, _) = numstat.commits[&repo.git(&["rev-parse", "HEAD"]).trim().to_string()];
    assert_eq!(
        (
            last["features"]["la"].as_f64(),
            last["features"]["ld"].as_f64()
        ),
        (Some(la), Some(ld))
    );
}

/// `git diff` takes a file for binary when the attributes say so, whatever its content:
/// `-diff`, `binary`, or a diff driver configured `binary = true`. riskgate reads the same
/// attributes as git in the same repository, so its line counts are git's: in a clone with a
/// working tree the committed `.gitattributes` applies, in a bare one (which git reads no
/// `.gitattributes` in) it does not.
#[test]
fn files_the_attributes_make_binary_have_no_lines_as_git_says() {
    let repo = TestRepo::new();
    repo.git(&["config", "diff.generated.binary", "true"]);
    repo.write(
        ".gitattributes",
        "[attr]vendored -diff\n*.lock -diff\n*.dat binary\n*.gen diff=generated\n*.md diff=markdown\n\
         *.nul diff\nvendor/** vendored\n",
    );
    let mut t = day(2024, 1, 1);
    for (i, author) in ["alice", "bob", "carol", "alice"].into_iter().enumerate() {
        let n = 20 * (i + 1);
        repo.write("deps.lock", TestRepo::lines("dependency ", n));
        repo.write("table.dat", TestRepo::lines("row ", n));
        repo.write("api.gen", TestRepo::lines("generated ", n));
        repo.write("README.md", TestRepo::lines("prose ", n));
        repo.write("src/main.rs", TestRepo::lines("code ", i + 1));
        // Text to git diff whatever its content: the `diff` attribute is set.
        repo.write("table.nul", TestRepo::lines("cell\0", 3 * (i + 1)));
        // Binary through a macro of the repository's own.
        repo.write("vendor/lib.c", TestRepo::lines("vendored ", 5 * (i + 1)));
        if i == 0 {
            // git gives a symlink no diff driver: its target is a line whatever the
            // attributes say.
            std::os::unix::fs::symlink("deps.lock", repo.path().join("latest.lock")).unwrap();
        }
        repo.commit(author, t, "change");
        t += 86_400;
    }
    // A rename out of the attributes' reach: git asks the old path's attributes too.
    repo.git(&["mv", "deps.lock", "deps.txt"]);
    repo.write("deps.txt", TestRepo::lines("dependency ", 81));
    repo.commit("bob", t, "rename");
    mined_as_git_numstat_counts(repo.path());
    // The file made text keeps line owners through its versions, in score as in mine.
    assert_score_equals_mine_everywhere(repo.path(), &mine_repo(repo.path()));
    let score_la = |dir: &Path| {
        let v = score_json(dir.to_str().unwrap(), "HEAD~2");
        (v["features"]["la"].as_f64(), v["features"]["ld"].as_f64())
    };
    let git_la = |dir: &Path| {
        let (la, ld) = git_diff_lines(dir, "HEAD~2", "HEAD");
        (Some(la as f64), Some(ld as f64))
    };
    // Only src/main.rs, README.md (a driver not configured binary) and table.nul (`diff` set,
    // NUL bytes and all) have lines here.
    assert_eq!(score_la(repo.path()), (Some(24.0), Some(0.0)));
    assert_eq!(score_la(repo.path()), git_la(repo.path()));
    let (_tmp, bare) = bare_clone(repo.path());
    assert_eq!(score_la(&bare), git_la(&bare));
    assert!(score_la(&bare).0 > Some(24.0));
}

/// git reads the work tree's `.gitattributes` before the index's, and `mine` does the same
/// though it reads the history without the work tree: where the two differ (an edit not yet
/// committed, a checkout that failed and left the index empty), its counts are still git's and
/// `score`'s.
#[test]
fn mine_reads_the_work_tree_s_attributes_as_git_and_score_do() {
    let repo = TestRepo::new();
    repo.write(".gitattributes", "*.txt text\n");
    let mut t = day(2024, 1, 1);
    for (i, author) in ["alice", "bob", "carol"].into_iter().enumerate() {
        repo.write("table.dat", TestRepo::lines("row ", 10 * (i + 1)));
        repo.write("src/main.rs", TestRepo::lines("code ", i + 1));
        repo.commit(author, t, "change");
        t += 86_400;
    }
    // Not committed, not staged: git diff in this work tree takes table.dat for binary.
    repo.write(".gitattributes", "*.txt text\n*.dat binary\n");
    let numstat = mined_as_git_numstat_counts(repo.path());
    assert!(numstat.binary_entries >= 3, "{}", numstat.binary_entries);
    assert_score_equals_mine_everywhere(repo.path(), &mine_repo(repo.path()));
    // An index emptied as a failed checkout leaves it: the work tree alone holds the rule.
    std::fs::remove_file(repo.path().join(".git/index")).unwrap();
    let numstat = mined_as_git_numstat_counts(repo.path());
    assert!(numstat.binary_entries >= 3, "{}", numstat.binary_entries);
}

/// A file the attributes make binary (`-diff`, as autoconf's `configure` often is) has no lines
/// for `git diff`, so no commit keeps owners for its versions. A merge that makes a version of
/// its own followed its lines all the same, each time replaying the file's history from its
/// first version: most of `mine`'s time on ocaml's history. Merges now leave it alone, and the
/// rows are still `score`'s.
#[test]
fn merges_follow_no_lines_of_a_file_the_attributes_make_binary() {
    let repo = TestRepo::new();
    repo.write(".gitattributes", "/configure -diff\n");
    repo.write("configure", TestRepo::lines("check ", 40));
    repo.write("src/main.rs", TestRepo::lines("code ", 5));
    repo.commit("alice", day(2024, 1, 1), "start");
    let mut t = day(2024, 1, 2);
    for i in 0..4 {
        let topic = format!("topic{i}");
        repo.git(&["checkout", "-q", "-b", &topic]);
        repo.write("configure", TestRepo::lines(&format!("check {i} "), 40 + i));
        repo.commit("bob", t, "regenerate configure");
        repo.git(&["checkout", "-q", "main"]);
        repo.write("src/main.rs", TestRepo::lines("code ", 6 + i));
        repo.commit("carol", t + 3_600, "more code");
        // Regenerated at the merge: a version neither parent has.
        repo.git(&[
            "-c",
            "user.name=carol",
            "-c",
            "user.email=carol@example.com",
            "merge",
            "-q",
            "--no-ff",
            "--no-commit",
            &topic,
        ]);
        repo.write(
            "configure",
            TestRepo::lines(&format!("merged {i} "), 41 + i),
        );
        repo.commit("carol", t + 7_200, &format!("Merge {topic}"));
        t += 86_400;
    }
    let numstat = mined_as_git_numstat_counts(repo.path());
    assert!(numstat.binary_entries >= 4, "{}", numstat.binary_entries);
    let mined = mine_repo(repo.path());
    assert_eq!(mined.merges, 4);
    assert_eq!(mined.owner_rebuilds, 0, "no owners replayed for configure");
    assert_score_equals_mine_everywhere(repo.path(), &mined);
}

/// In a bare mirror, as the App reads one, the attributes committed at the base branch's tip
/// make files binary, root and nested `.gitattributes` alike: the counts are `git diff`'s in a
/// checkout of the base branch. The change's own attributes do not apply, and without the base
/// branch's the mirror counts as git does in a bare repository.
#[test]
fn the_base_branchs_committed_attributes_make_files_binary_in_a_bare_mirror() {
    let repo = TestRepo::new();
    // A macro of the repository's own, defined at the root and used below it.
    repo.write(".gitattributes", "[attr]lockfile -diff\n*.lock lockfile\n");
    repo.write("web/.gitattributes", "*.gen binary\n*.lock lockfile\n");
    repo.write("deps.lock", TestRepo::lines("dependency ", 10));
    repo.write("web/yarn.lock", TestRepo::lines("package ", 10));
    repo.write("web/api.gen", TestRepo::lines("generated ", 10));
    repo.write("src/main.rs", TestRepo::lines("code ", 10));
    repo.commit("alice", day(2024, 1, 1), "start");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("deps.lock", TestRepo::lines("dependency ", 500));
    repo.write("web/yarn.lock", TestRepo::lines("package ", 200));
    repo.write("web/api.gen", TestRepo::lines("generated ", 300));
    repo.write("src/main.rs", TestRepo::lines("code ", 13));
    // The change cannot make its own lines binary.
    repo.write(".gitattributes", "*.lock -diff\n*.rs -diff\n");
    repo.commit("mallory", day(2024, 1, 2), "bump");
    repo.git(&["checkout", "-q", "main"]);

    let (_tmp, bare) = bare_clone(repo.path());
    let lines = |dir: &Path, attributes| {
        let mined = mining::mine_change(
            &mining::open_repository(dir).unwrap(),
            &ChangeSpec {
                base: Some("main".into()),
                head: Some("feature".into()),
                attributes,
                ..Default::default()
            },
        )
        .unwrap();
        let files = &mined.snapshot.files;
        let la = files.iter().map(|f| f.added).sum::<u64>();
        let ld = files.iter().map(|f| f.deleted).sum::<u64>();
        (la, ld)
    };
    let git_lines = |dir: &Path| git_diff_lines(dir, "main", "feature");
    // src/main.rs's 3 lines and the change's own .gitattributes (2 lines for 2).
    let in_the_mirror = lines(&bare, mining::AttributeSource::BaseBranch);
    assert_eq!(in_the_mirror, (5, 2));
    assert_eq!(in_the_mirror, git_lines(repo.path()));
    assert_eq!(
        lines(&bare, mining::AttributeSource::Repository),
        git_lines(&bare)
    );
    assert!(git_lines(&bare).0 > 700);
    // `score --attributes base-branch` scores the mirror as the App does.
    let (code, out, err) = run_riskgate(&[
        "score",
        "--repo",
        bare.to_str().unwrap(),
        "--base",
        "main",
        "--head",
        "feature",
        "--attributes",
        "base-branch",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let features = &serde_json::from_str::<serde_json::Value>(&out).unwrap()["features"];
    assert_eq!(
        (features["la"].as_f64(), features["ld"].as_f64()),
        (Some(5.0), Some(2.0))
    );
}

/// A bare clone of `dir`, as the App keeps its mirrors, in a directory that lives as long as
/// the handle returned beside it.
fn bare_clone(dir: &Path) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let bare = tmp.path().join("mirror.git");
    let from = dir.to_str().unwrap();
    git_in(
        tmp.path(),
        &["clone", "-q", "--bare", from, bare.to_str().unwrap()],
    );
    (tmp, bare)
}

/// Lines added and deleted by `git diff --numstat base head` in `dir`, binary files none.
fn git_diff_lines(dir: &Path, base: &str, head: &str) -> (u64, u64) {
    let (mut la, mut ld) = (0, 0);
    for line in git_in(dir, &["diff", "--numstat", base, head]).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        la += f[0].parse::<u64>().unwrap_or(0);
        ld += f[1].parse::<u64>().unwrap_or(0);
    }
    (la, ld)
}

/// Mines `dir` and asserts that each row's la, ld and nf are what `git log --numstat` gives
/// for its commit; git's figures.
fn mined_as_git_numstat_counts(dir: &Path) -> Numstat {
    let numstat = git_numstat(dir, "HEAD");
    let mined = mine_repo(dir);
    assert_eq!(mined.rows.len(), numstat.commits.len());
    for r in &mined.rows {
        let (la, ld, nf) = numstat.commits[&r.commit_id];
        let s = &r.signals;
        assert_eq!((s.la, s.ld, s.nf), (la, ld, nf), "{}", r.commit_id);
    }
    numstat
}

/// The one pack index under `dir`'s `.git`.
fn pack_index(dir: &Path) -> String {
    let packs = dir.join(".git/objects/pack");
    let idx = std::fs::read_dir(&packs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "idx"))
        .unwrap();
    idx.to_string_lossy().into_owned()
}

/// Every commit of the history is titled "patch 1.0.N: …", as vim's are: "patch" is the
/// repository's convention, and a commit that says nothing else of a fix gives no SZZ label.
/// One that also says "crash", or names an issue it closes, stays a fix.
#[test]
fn a_fix_word_every_title_holds_labels_nothing() {
    let repo = TestRepo::new();
    // Commit n > 0 rewrites line n % 50; each line names the commit that last wrote it.
    let file = |n: usize| -> String {
        let n = n as i64;
        (0..50)
            .map(|line: i64| {
                let last = n - (n - line).rem_euclid(50);
                format!("line {line} of version {}\n", last.max(0))
            })
            .collect()
    };
    // Written with fast-import: 240 commits, each rewriting one line an earlier one wrote.
    let mut stream = String::new();
    let (mut crash_fixes, mut issue_fix) = (Vec::new(), 0);
    for n in 0..240 {
        let title = match n {
            n if n > 0 && n % 20 == 0 => {
                crash_fixes.push(n);
                format!("patch 1.0.{n}: crash when reading line {}", n % 50)
            }
            110 => {
                issue_fix = n;
                format!("patch 1.0.{n}: line {} reads wrong\n\nCloses #12", n % 50)
            }
            n => format!("patch 1.0.{n}: rewrite line {}", n % 50),
        };
        let content = file(n);
        stream.push_str(&format!(
            "commit refs/heads/main\nmark :{}\ncommitter alice <alice@example.com> {} +0000\ndata {}\n{title}\n{}M 100644 inline a.c\ndata {}\n{content}\n",
            n + 1,
            day(2024, 1, 1) + 3600 * n as i64,
            title.len(),
            if n > 0 { format!("from :{n}\n") } else { String::new() },
            content.len(),
        ));
    }
    let mut import = std::process::Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(repo.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    import
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(import.wait().unwrap().success());
    let titles: HashMap<String, String> = repo
        .git(&["log", "--format=%H %s"])
        .lines()
        .map(|l| {
            let (sha, title) = l.split_once(' ').unwrap();
            (sha.to_string(), title.to_string())
        })
        .collect();
    let number = |sha: &str| -> usize {
        let title = &titles[sha];
        title["patch 1.0.".len()..title.find(':').unwrap()]
            .parse()
            .unwrap()
    };

    let mined = mine_repo(repo.path());
    assert_eq!(mined.rows.len(), 240);
    let warnings = mined.warnings.join("\n");
    assert!(
        warnings.contains("\"patch\" (in 100% of the messages)"),
        "{warnings}"
    );
    let mut fixes_labelling = std::collections::BTreeSet::new();
    for row in &mined.rows {
        for p in row.provenance.iter().filter(|p| p.kind == LabelKind::Szz) {
            fixes_labelling.insert(number(&p.by));
        }
    }
    // Each crash fix and the issue fix rewrites a line an earlier commit wrote.
    let mut expected: std::collections::BTreeSet<usize> = crash_fixes.into_iter().collect();
    expected.insert(issue_fix);
    assert_eq!(fixes_labelling, expected);
    // Two fixes may implicate one commit.
    let labelled = mined.positives[&LabelKind::Szz];
    assert!(labelled > 0 && labelled <= expected.len(), "{labelled}");
    // The fix signal itself still reads the message as it is.
    assert!(mined.rows.iter().all(|r| r.signals.fix == 1.0));
}

/// In a repository that ships patch files (a vcpkg port), "patch" names them: commits that
/// say it and change a patch file are not fixes for SZZ, unless they say more. Without the
/// patch files the same messages are fixes, and label the commit that wrote the line.
#[test]
fn patch_naming_patch_files_labels_nothing() {
    let mine_with = |patch_files: bool| {
        let repo = TestRepo::new();
        let port = "ports/zlib/portfile.cmake";
        repo.write(port, TestRepo::lines("step ", 30));
        let first = repo.commit("alice", day(2024, 1, 1), "zlib: add the port");
        let mut steps: Vec<String> = (1..=30).map(|i| format!("step {i}")).collect();
        let mut crash_fix = String::new();
        for n in 1..=24 {
            steps[n] = format!("step {n} applies patch {n}");
            repo.write(port, steps.join("\n") + "\n");
            if patch_files {
                repo.write(
                    &format!("ports/zlib/{n:04}-build.patch"),
                    format!("--- a/x\n+++ b/x\n@@ -{n} +{n} @@\n"),
                );
            }
            let message = if n == 12 {
                "zlib: fix a crash at start".to_string()
            } else {
                format!("zlib: add patch {n}")
            };
            let sha = repo.commit("bob", day(2024, 1, 2) + 3600 * n as i64, &message);
            if n == 12 {
                crash_fix = sha;
            }
        }
        let mined = mine_repo(repo.path());
        let fixes: std::collections::BTreeSet<String> = mined
            .rows
            .iter()
            .flat_map(|r| &r.provenance)
            .filter(|p| p.kind == LabelKind::Szz)
            .map(|p| p.by.clone())
            .collect();
        let first_labelled = by_id(&mined)[first.as_str()].buggy();
        (fixes, crash_fix, first_labelled, mined.warnings.join("\n"))
    };

    let (fixes, crash_fix, first_labelled, warnings) = mine_with(true);
    assert_eq!(fixes, [crash_fix].into(), "{warnings}");
    assert!(first_labelled);
    assert!(
        warnings
            .contains("\"patch\" (100% of the 23 commits saying it change .patch or .diff files)"),
        "{warnings}"
    );
    let (fixes, _, first_labelled, warnings) = mine_with(false);
    assert_eq!(fixes.len(), 24, "{warnings}");
    assert!(first_labelled);
}

/// A reformat the repository lists in `.git-blame-ignore-revs` is looked past: a later fix of
/// a line it reformatted blames the commit that wrote the line, and the lines stay their
/// writer's in `author_blame_share`, in `mine` and `score` alike. A score made before the list
/// was committed stored the reformat's owners, and a score after it does not take them up.
/// Unlisted, the same history blames the reformat.
#[test]
fn a_listed_reformat_is_looked_past() {
    let mine_with = |listed: bool| {
        let repo = TestRepo::new();
        let path = "src/values.rs";
        let mut values: Vec<String> = (1..=10).map(|i| format!("let v{i} = {i};")).collect();
        repo.write(path, values.join("\n") + "\n");
        let written = repo.commit("alice", day(2024, 1, 1), "Add the values");
        // Enough steps for `score` to store the file's owners.
        for n in 1..=owner_store::MIN_STEPS_STORED {
            values[9] = format!("let v10 = {n};");
            repo.write(path, values.join("\n") + "\n");
            repo.commit(
                "alice",
                day(2024, 1, 1) + 60 * n as i64,
                "Tune the last value",
            );
        }
        let indented: Vec<String> = values.iter().map(|v| format!("    {v}")).collect();
        repo.write(path, indented.join("\n") + "\n");
        let reformat = repo.commit("bob", day(2024, 1, 2), "Reformat");
        let mut lines = indented.clone();
        lines[9] = "    let v10 = 100;".into();
        repo.write(path, lines.join("\n") + "\n");
        let before_list = repo.commit("dave", day(2024, 1, 3), "Raise the last value");
        // Scored before the list exists: the reformat's owners are stored.
        let r = mining::open_repository(repo.path()).unwrap();
        let spec = |sha: &str| ChangeSpec {
            base: Some(format!("{sha}^")),
            head: Some(sha.to_string()),
            ..Default::default()
        };
        let scored = mining::mine_change(&r, &spec(&before_list)).unwrap();
        assert_eq!(scored.snapshot.blame.unwrap().total_lines, 10);
        let list = if listed {
            format!("# Reformat\n{reformat}\n")
        } else {
            "# Nothing yet\n".to_string()
        };
        repo.write(".git-blame-ignore-revs", list);
        repo.commit("bob", day(2024, 1, 4), "List the reformat");
        lines[2] = "    let v3 = 30;".into();
        repo.write(path, lines.join("\n") + "\n");
        let edit = repo.commit("alice", day(2024, 1, 5), "Raise the third value");
        lines[6] = "    let v7 = 7 + 0;".into();
        repo.write(path, lines.join("\n") + "\n");
        let fix = repo.commit("carol", day(2024, 1, 6), "Fix the seventh value");

        let mined = mine_repo(repo.path());
        assert_score_equals_mine(repo.path(), &mined, &[edit.as_str(), fix.as_str()]);
        let rows = by_id(&mined);
        let szz_by = |sha: &str| -> Vec<String> {
            rows[sha]
                .provenance
                .iter()
                .filter(|p| p.kind == LabelKind::Szz)
                .map(|p| p.by.clone())
                .collect()
        };
        let labels = (szz_by(&written), szz_by(&reformat));
        let edit_share = rows[edit.as_str()].signals.author_blame_share;
        (labels, edit_share, fix, mined.warnings.join("\n"))
    };

    let ((written, reformat), edit_share, fix, warnings) = mine_with(true);
    assert_eq!((written, reformat), (vec![fix], vec![]), "{warnings}");
    // Nine of the ten lines are alice's again; dave's stays his.
    assert_eq!(edit_share, Some(0.9));
    assert!(
        warnings.contains("blame looks past the commit .git-blame-ignore-revs lists:"),
        "{warnings}"
    );
    let ((written, reformat), edit_share, fix, warnings) = mine_with(false);
    assert_eq!((written, reformat), (vec![], vec![fix]), "{warnings}");
    assert_eq!(edit_share, Some(0.0));
    assert!(!warnings.contains("blame looks past"), "{warnings}");
}

/// A listed reformat that re-indents, joins, splits, moves and adds lines: the lines it changed
/// keep the owners `git blame --ignore-revs-file` gives them, which it finds by the lines'
/// likeness. Each author's share of the file, as `mine` and `score` count it, is git's.
#[test]
fn a_listed_reformat_leaves_the_owners_git_blame_finds() {
    let repo = TestRepo::new();
    let path = "app/orders.py";
    let mut lines: Vec<String> = (0..40)
        .map(|i| match i % 5 {
            0 => format!("    def handle_{i}(self, order, retries={i}):"),
            1 => format!("        total_{i} = order.amount * {i} + self.fee"),
            2 => format!("        if total_{} > LIMIT_{i}: raise Refused({i})", i - 1),
            3 => format!(
                "        self.log.info('order %s costs %s', order.id, total_{})",
                i - 2
            ),
            _ => String::new(),
        })
        .collect();
    repo.write(path, lines.join("\n") + "\n");
    repo.commit("alice", day(2024, 1, 1), "Orders");
    for i in [6, 11, 16, 21, 26] {
        lines[i] = format!("        total_{i} = order.amount * {i} + self.fee + order.tax");
    }
    repo.write(path, lines.join("\n") + "\n");
    repo.commit("bob", day(2024, 1, 2), "Tax");
    lines.insert(30, "        assert order.id, 'an order has an id'".into());
    lines.insert(12, "        self.metrics.count('orders')".into());
    repo.write(path, lines.join("\n") + "\n");
    repo.commit("dave", day(2024, 1, 3), "Count and check orders");

    // The reformat: two spaces less, blank lines dropped, two lines joined, a long one split
    // over three, two swapped, and a new header line.
    let mut formatted: Vec<String> = vec!["# formatted".into()];
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].replacen("    ", "  ", 1);
        if line.trim().is_empty() {
            i += 1;
            continue;
        }
        if i == 7 {
            formatted.push(format!("{} ; {}", line, lines[i + 1].trim()));
            i += 2;
            continue;
        }
        if i == 21 {
            formatted.push("  total_21 = (".into());
            formatted.push("      order.amount * 21 + self.fee".into());
            formatted.push("      + order.tax)".into());
            i += 1;
            continue;
        }
        if i == 33 {
            formatted.push(lines[i + 1].replacen("    ", "  ", 1));
            formatted.push(line);
            i += 2;
            continue;
        }
        formatted.push(line);
        i += 1;
    }
    repo.write(path, formatted.join("\n") + "\n");
    let reformat = repo.commit("carol", day(2024, 1, 4), "Reformat");
    repo.write(".git-blame-ignore-revs", format!("{reformat}\n"));
    repo.commit("carol", day(2024, 1, 5), "List the reformat");
    let mut appended = Vec::new();
    let mut text = formatted.join("\n") + "\n";
    for (n, author) in ["alice", "bob", "dave", "carol"].iter().enumerate() {
        text.push_str(&format!("# note {n} by {author}\n"));
        repo.write(path, &text);
        appended.push(repo.commit(author, day(2024, 1, 6) + n as i64 * 60, "Note"));
    }

    let mined = mine_repo(repo.path());
    let rows = by_id(&mined);
    let listed = repo.path().join(".git/listed-revs");
    std::fs::write(&listed, format!("{reformat}\n")).unwrap();
    for sha in &appended {
        let parent = format!("{sha}^");
        let email = git_in(repo.path(), &["log", "-1", "--format=%aE", sha]);
        let blamed = git_in(
            repo.path(),
            &[
                "blame",
                "--line-porcelain",
                "--ignore-revs-file",
                listed.to_str().unwrap(),
                &parent,
                "--",
                path,
            ],
        );
        let mails: Vec<&str> = blamed
            .lines()
            .filter_map(|l| l.strip_prefix("author-mail "))
            .collect();
        let own = mails
            .iter()
            .filter(|m| m.trim_matches(['<', '>']) == email.trim())
            .count();
        let want = own as f64 / mails.len() as f64;
        assert_eq!(
            rows[sha.as_str()].signals.author_blame_share,
            Some(want),
            "{sha}: git blame --ignore-revs-file gives {own} of {} lines",
            mails.len()
        );
    }
    let appended: Vec<&str> = appended.iter().map(String::as_str).collect();
    assert_score_equals_mine(repo.path(), &mined, &appended);
}

/// A history with known bug-introducing commits.
struct Labelled {
    repo: TestRepo,
    bad: String,
    comment: String,
    blank: String,
    fix: String,
    feature: String,
    revert: String,
    revert_of_revert: String,
    subject_only: String,
    subject_revert: String,
    refactor: String,
}

fn labelled_history() -> Labelled {
    let repo = TestRepo::new();
    let base = "fn main() {\n    let a = 1;\n    let b = 2;\n    let c = 3;\n    println!(\"{a}{b}{c}\");\n}\n";
    repo.write("src/main.rs", base);
    repo.commit("alice", day(2022, 1, 1), "Import");
    let v2 = base.replace("let b = 2;", "let b = a - 2;");
    repo.write("src/main.rs", &v2);
    let bad = repo.commit("bob", day(2022, 1, 2), "Compute b from a");
    let v3 = v2.replace("    let c = 3;\n", "    // c is three\n    let c = 3;\n");
    repo.write("src/main.rs", &v3);
    let comment = repo.commit("carol", day(2022, 1, 3), "Explain c");
    let v4 = v3.replace("    let a = 1;\n", "    let a = 1;\n\n");
    repo.write("src/main.rs", &v4);
    let blank = repo.commit("dave", day(2022, 1, 4), "Space out");
    // The fix changes bob's line, drops carol's comment and dave's blank line.
    let v5 = base.replace("let b = 2;", "let b = a + 1;");
    repo.write("src/main.rs", &v5);
    let fix = repo.commit("erin", day(2022, 1, 5), "Fix the value of b");
    // A later refactor (not a fix) rewrites erin's line: labels nothing.
    let v6 = v5.replace("let b = a + 1;", "let b = 1 + a;");
    repo.write("src/main.rs", &v6);
    let refactor = repo.commit("alice", day(2022, 1, 6), "Tidy b");
    repo.write("src/extra.rs", "pub fn extra() {}\n");
    let feature = repo.commit("bob", day(2022, 1, 7), "Add extra");
    repo.git(&["rm", "-q", "src/extra.rs"]);
    let revert = repo.commit(
        "carol",
        day(2022, 1, 8),
        &format!("Revert \"Add extra\"\n\nThis reverts commit {feature}."),
    );
    repo.write("src/extra.rs", "pub fn extra() {}\n");
    let revert_of_revert = repo.commit(
        "bob",
        day(2022, 1, 9),
        &format!("Revert \"Revert \"Add extra\"\"\n\nThis reverts commit {revert}."),
    );
    repo.write("README.md", "hello\n");
    let subject_only = repo.commit("dave", day(2022, 1, 10), "Add a readme");
    repo.git(&["rm", "-q", "README.md"]);
    let subject_revert = repo.commit("erin", day(2022, 1, 11), "Revert \"Add a readme\" (#12)");
    Labelled {
        repo,
        bad,
        comment,
        blank,
        fix,
        feature,
        revert,
        revert_of_revert,
        subject_only,
        subject_revert,
        refactor,
    }
}

#[test]
fn revert_and_szz_labels_with_provenance() {
    let h = labelled_history();
    let mined = mine_repo(h.repo.path());
    let rows = by_id(&mined);
    let source = |sha: &str| riskgate::labels::label_source(&rows[sha].provenance);
    assert_eq!(
        source(&h.bad),
        format!("szz:{}", h.fix),
        "the fix changed bob's line"
    );
    assert_eq!(
        source(&h.comment),
        "",
        "only a comment line of it was removed"
    );
    assert_eq!(source(&h.blank), "", "only a blank line of it was removed");
    assert_eq!(source(&h.fix), "", "a refactor is not a fix");
    assert!(!rows[h.refactor.as_str()].buggy());
    assert_eq!(source(&h.feature), format!("revert:{}", h.revert));
    assert_eq!(source(&h.revert), "", "a revert of a revert labels nothing");
    assert!(!rows[h.revert_of_revert.as_str()].buggy());
    assert_eq!(
        source(&h.subject_only),
        format!("revert:{}", h.subject_revert),
        "GitHub's revert by subject"
    );
    let buggy: Vec<&str> = mined
        .rows
        .iter()
        .filter(|r| r.buggy())
        .map(|r| r.commit_id.as_str())
        .collect();
    assert_eq!(buggy.len(), 3, "{buggy:?}");
    assert_eq!(mined.positives[&LabelKind::Revert], 2);
    assert_eq!(mined.positives[&LabelKind::Szz], 1);

    // Only the kinds asked for.
    let repo = mining::open_repository(h.repo.path()).unwrap();
    let only_revert = mine::mine_history(
        &repo,
        &MineOptions {
            labels: vec![LabelKind::Revert],
            ..MineOptions::default()
        },
    )
    .unwrap();
    assert!(only_revert
        .rows
        .iter()
        .all(|r| r.provenance.iter().all(|p| p.kind == LabelKind::Revert)));
    assert_eq!(only_revert.rows.iter().filter(|r| r.buggy()).count(), 2);
}

#[test]
fn szz_skips_candidates_newer_than_the_issue() {
    let repo = TestRepo::new();
    repo.write("app.py", "x = 1\ny = 2\n");
    let old = repo.commit("alice", day(2022, 1, 1), "Import");
    repo.write("app.py", "x = 1\ny = 3\n");
    let late = repo.commit("bob", day(2022, 3, 1), "Tune y");
    repo.write("app.py", "x = 0\ny = 4\n");
    let fix = repo.commit("carol", day(2022, 4, 1), "Handle zero\n\nCloses #7");
    let r = mining::open_repository(repo.path()).unwrap();
    let all = mine::mine_history(&r, &MineOptions::default()).unwrap();
    let rows = by_id(&all);
    assert_eq!(
        riskgate::labels::label_source(&rows[old.as_str()].provenance),
        format!("szz:{fix}")
    );
    assert!(rows[late.as_str()].buggy());
    let mut options = MineOptions::default();
    options
        .issue_dates
        .issue_created
        .insert("7".into(), day(2022, 2, 1));
    let dated = mine::mine_history(&r, &options).unwrap();
    let rows = by_id(&dated);
    assert!(rows[old.as_str()].buggy());
    assert!(
        !rows[late.as_str()].buggy(),
        "bob's line came after issue #7 was opened"
    );
}

#[test]
fn csv_reads_back_with_the_same_values() {
    let h = labelled_history();
    let out = h.repo.path().join("data.csv");
    let (code, stdout, err) = run_riskgate(&[
        "mine",
        "--repo",
        h.repo.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty());
    assert!(
        err.contains("mined 11 commits") && err.contains("revert 2, szz 1"),
        "summary: {err}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let header = text.lines().next().unwrap();
    assert_eq!(header, mine::COLUMNS.join(","));
    let data = Dataset::parse_str(&text, "data.csv").unwrap();
    assert!(
        !data.names.iter().any(|n| n == "label_source"),
        "provenance is text, not a signal"
    );
    let mined = mine_repo(h.repo.path());
    assert_eq!(data.rows.len(), mined.rows.len());
    for (row, want) in data.rows.iter().zip(&mined.rows) {
        assert_eq!(row.commit_id, want.commit_id);
        assert_eq!(row.author_date, want.author_date);
        assert_eq!(row.buggy, want.buggy());
        let values = want.signals.to_map();
        for (name, got) in data.names.iter().zip(&row.values) {
            assert_eq!(*got, values[name.as_str()], "{} {name}", row.commit_id);
        }
    }
    for name in KAMEI {
        assert!(data.names.iter().any(|n| n == name), "{name}");
    }
}

#[test]
fn errors_are_one_clear_line() {
    let empty = tempfile::tempdir().unwrap();
    let out = empty.path().join("x.csv");
    let out = out.to_str().unwrap();
    let (code, _, err) = run_riskgate(&[
        "mine",
        "--repo",
        empty.path().to_str().unwrap(),
        "--out",
        out,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("is not a git repository"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let repo = TestRepo::new();
    let dir = repo.path().to_str().unwrap();
    let (code, _, err) = run_riskgate(&["mine", "--repo", dir, "--out", out]);
    assert_eq!(code, 2);
    assert_eq!(err.trim(), "riskgate: the repository has no commits yet");

    repo.write("a.txt", "a\n");
    repo.commit("alice", day(2022, 1, 1), "Import");
    let (code, _, err) = run_riskgate(&["mine", "--repo", dir, "--out", "/nonexistent/dir/x.csv"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("riskgate: cannot write /nonexistent/dir/x.csv"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let (code, _, err) = run_riskgate(&["mine", "--repo", dir, "--out", out, "--labels", "none"]);
    assert_eq!(code, 2);
    assert!(err.contains("at least one label kind"), "{err}");
    assert!(!Path::new(out).exists(), "nothing written on a usage error");
}

/// A commit whose tree holds `b.txt` under `depth` nested directories named `d`, beside the
/// tree of `parent`, written with libgit2 (git refuses to build trees that deep); the branch
/// moves to it.
fn commit_nested(repo: &TestRepo, depth: usize, content: &str, message: &str) {
    let git = git2::Repository::open(repo.path()).unwrap();
    let parent = git.head().unwrap().peel_to_commit().unwrap();
    let blob = git.blob(content.as_bytes()).unwrap();
    let mut inner = git.treebuilder(None).unwrap();
    inner.insert("b.txt", blob, 0o100644).unwrap();
    let mut tree = inner.write().unwrap();
    for _ in 0..depth {
        let mut level = git.treebuilder(None).unwrap();
        level.insert("d", tree, 0o040000).unwrap();
        tree = level.write().unwrap();
    }
    let mut root = git.treebuilder(Some(&parent.tree().unwrap())).unwrap();
    root.insert("d", tree, 0o040000).unwrap();
    let root = git.find_tree(root.write().unwrap()).unwrap();
    let who = git2::Signature::new(
        "alice",
        "alice@example.com",
        &git2::Time::new(day(2022, 2, 1), 0),
    )
    .unwrap();
    git.commit(Some("HEAD"), &who, &who, message, &root, &[&parent])
        .unwrap();
}

/// Directories nested past git's own limit (core.maxTreeDepth, 2048) are refused with one
/// clear line, by `score` and `mine` alike, instead of read: each level's path holds every
/// name above it, so reading them cost memory by the square of the depth (5.3 GB at 50,000
/// levels). Trees within the limit are read as before.
#[test]
fn trees_nested_past_gits_limit_are_refused_not_read() {
    for (depth, refused) in [(2000, false), (2100, true)] {
        let repo = TestRepo::new();
        repo.write("a.txt", "a\n");
        repo.commit("alice", day(2022, 1, 1), "Import");
        commit_nested(&repo, depth, "one\n", "Add a deep file");
        commit_nested(&repo, depth, "one\ntwo\n", "Change the deep file");
        let dir = repo.path().to_str().unwrap();
        let (code, out, err) = run_riskgate(&[
            "score", "--repo", dir, "--base", "HEAD~1", "--format", "json",
        ]);
        let csv = repo.path().join("history.csv");
        let (mine_code, _, mine_err) =
            run_riskgate(&["mine", "--repo", dir, "--out", csv.to_str().unwrap()]);
        if refused {
            for (code, err) in [(code, &err), (mine_code, &mine_err)] {
                assert_eq!(code, 2, "{err}");
                // Nothing else first: not git's failure on the same tree, either.
                assert_eq!(err.lines().count(), 1, "{err}");
                let line = err.lines().last().unwrap();
                assert!(
                    line.contains("more than 2048 levels deep")
                        && line.contains("core.maxTreeDepth"),
                    "{err}"
                );
                assert_eq!(line.matches("2048").count(), 1, "said once: {line}");
                assert!(
                    !line.contains("git: "),
                    "riskgate refuses it, not git: {line}"
                );
            }
        } else {
            assert_eq!(code, 0, "{err}");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["features"]["nf"], 1.0, "{out}");
            assert_eq!(v["features"]["la"], 1.0, "{out}");
            assert_eq!(mine_code, 0, "{mine_err}");
        }
    }
}

/// Writes a commit object as given, fields unchecked (libgit2's own `commit` checks them), and
/// moves the branch to it.
fn raw_commit(
    repo: &TestRepo,
    tree: git2::Oid,
    parent: git2::Oid,
    who: &str,
    message: &str,
) -> git2::Oid {
    let git = git2::Repository::open(repo.path()).unwrap();
    let text = format!("tree {tree}\nparent {parent}\n{who}\n\n{message}\n");
    let id = git
        .odb()
        .unwrap()
        .write(git2::ObjectType::Commit, text.as_bytes())
        .unwrap();
    git.reference("refs/heads/main", id, true, "raw commit")
        .unwrap();
    git.set_head("refs/heads/main").unwrap();
    id
}

/// A commit libgit2 cannot parse (here one with no author line, which `git fsck` flags and git
/// still shows) ends its line of history as a shallow cut does, with a warning that names it,
/// instead of making the whole repository unscorable; a change that starts at it is refused
/// with an error that names it.
#[test]
fn a_commit_libgit2_cannot_parse_ends_its_line_of_history() {
    let repo = TestRepo::new();
    repo.write("a.txt", "a\n");
    let first = repo.commit("alice", day(2022, 1, 1), "Import");
    repo.write("a.txt", "a\nb\n");
    repo.git(&["add", "-A"]);
    let tree = |r: &TestRepo| git2::Oid::from_str(r.git(&["write-tree"]).trim()).unwrap();
    let when = day(2022, 1, 2);
    let broken = raw_commit(
        &repo,
        tree(&repo),
        git2::Oid::from_str(first.trim()).unwrap(),
        &format!("committer eve <eve@example.com> {when} +0000"),
        "No author line",
    );
    let short = &broken.to_string()[..10];
    repo.write("a.txt", "a\nb\nc\n");
    repo.git(&["add", "-A"]);
    raw_commit(
        &repo,
        tree(&repo),
        broken,
        &format!("author bob <bob@example.com> {when} +0000\ncommitter bob <bob@example.com> {when} +0000"),
        "On top of it",
    );
    repo.write("a.txt", "a\nb\nc\nd\n");
    repo.commit("bob", day(2022, 1, 3), "And another");
    let dir = repo.path().to_str().unwrap();

    let v = score_json(dir, "HEAD~1");
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("1 commit could not be read") && warnings.contains(short),
        "{warnings}"
    );
    // The next score reads the index the first one built, and its history is cut as much.
    let again = score_json(dir, "HEAD~1");
    assert_eq!(
        again["warnings"], v["warnings"],
        "said again from the index"
    );

    let csv = repo.path().join("history.csv");
    let (code, _, err) = run_riskgate(&["mine", "--repo", dir, "--out", csv.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1 commit could not be read") && err.contains(short),
        "{err}"
    );
    assert!(
        !err.contains("shallow clone:") && !err.contains("this clone is shallow"),
        "{err}"
    );
    // The commit on top of the broken one is at a cut and gives no row; the last one does,
    // and the history signals it has are the score's: the same history is left out.
    assert!(err.contains("mined 1 commits"), "{err}");
    let rows = Dataset::parse_str(&std::fs::read_to_string(&csv).unwrap(), "history.csv").unwrap();
    for signal in ["ndev", "nuc", "exp", "age"] {
        let mined = rows.values_of(signal).unwrap()[0];
        assert_eq!(mined, v["features"][signal].as_f64(), "{signal}: {v}");
    }

    let (code, _, err) = run_riskgate(&["score", "--repo", dir, "--base", &broken.to_string()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("commit {broken} could not be read")) && err.contains("git fsck"),
        "{err}"
    );

    // A branch whose history never meets the broken commit is not told about it, though the
    // index holds both.
    repo.git(&["checkout", "-q", "--orphan", "other"]);
    repo.write("a.txt", "other\n");
    repo.commit("carol", day(2022, 2, 1), "Another root");
    repo.write("a.txt", "other\nmore\n");
    repo.commit("carol", day(2022, 2, 2), "More");
    let other = score_json(dir, "HEAD~1");
    assert!(
        !other["warnings"].to_string().contains("could not be read"),
        "{other}"
    );
}

/// `git replace` makes git show another commit in place of one (here HEAD grafted onto its
/// grandparent, so that git's history skips the rename). libgit2 reads the commits as they
/// are, and so must the renames asked of git: the rename is still found and every row is as
/// it was before the replacement.
#[test]
fn replacement_refs_do_not_change_what_is_mined() {
    let repo = TestRepo::new();
    repo.write("f.txt", TestRepo::lines("line", 50));
    repo.commit("alice", day(2022, 1, 1), "Import");
    repo.git(&["mv", "f.txt", "g.txt"]);
    repo.write("g.txt", TestRepo::lines("line", 50) + "x\n");
    repo.commit("bob", day(2022, 1, 2), "Rename and add a line");
    repo.write("g.txt", TestRepo::lines("line", 50) + "x\ny\n");
    repo.commit("carol", day(2022, 1, 3), "Another line");
    let dir = repo.path().to_str().unwrap();
    let mine_csv = |name: &str| {
        let csv = repo.path().join(name);
        let (code, _, err) = run_riskgate(&["mine", "--repo", dir, "--out", csv.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        std::fs::read_to_string(csv).unwrap()
    };
    let renaming = repo.git(&["rev-parse", "HEAD~1"]).trim().to_string();
    let before = mine_csv("before.csv");
    repo.git(&["replace", "--graft", "HEAD", "HEAD~2"]);
    assert_eq!(mine_csv("after.csv"), before);
    let row = before.lines().find(|l| l.starts_with(&renaming)).unwrap();
    let [ns, nd, nf, _entropy, la, ld]: [&str; 6] = row
        .split(',')
        .skip(2)
        .take(6)
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    assert_eq!(
        (ns, nd, nf, la, ld),
        ("1", "1", "1", "1", "0"),
        "the rename is one file with one line added: {row}"
    );
}

/// `n` files named `<dir>/<name>_<i>.txt`, each naming its directory on its first line
/// above [`package_body`].
fn write_package(repo: &TestRepo, dir: &str, name: &str, n: usize) {
    for i in 0..n {
        repo.write(
            &format!("{dir}/{name}_{i}.txt"),
            format!("package {dir}\n{}", package_body(i)),
        );
    }
}

/// The 20 lines of the `i`th file of a package, unlike every other file's.
fn package_body(i: usize) -> String {
    TestRepo::lines(&format!("file {i} line "), 20)
}

/// A package moved whole and its files renamed, a line of each edited on the way, past the
/// 1,000 files `git diff` compares for similarity by default (it then pairs only files of the
/// same name, and sees these deleted and added again): each file is still a rename, counted by
/// the line it changed, and a later change to a moved file sees the history from before the
/// move, in `mine` and in `score` alike.
#[test]
fn a_move_past_gits_default_rename_limit_keeps_the_files_history() {
    const FILES: usize = 1_100;
    let repo = TestRepo::new();
    write_package(&repo, "old", "old", FILES);
    repo.commit("alice", day(2022, 1, 1), "Import");
    repo.git(&["rm", "-q", "-r", "old"]);
    write_package(&repo, "new", "new", FILES);
    let moved = repo.commit("bob", day(2022, 1, 2), "Move the package");
    repo.write(
        "new/new_7.txt",
        format!("package new\n{}more\n", package_body(7)),
    );
    let edited = repo.commit("alice", day(2022, 1, 3), "Edit a moved file");

    let mined = mine_repo(repo.path());
    let rows = by_id(&mined);
    let s = &rows[moved.as_str()].signals;
    assert_eq!(
        (s.nf, s.la, s.ld),
        (FILES as f64, FILES as f64, FILES as f64),
        "each moved file is one line changed"
    );
    assert_eq!(
        git_numstat(repo.path(), "HEAD").commits[&moved],
        (s.la, s.ld, s.nf),
        "git counts the same with the same limit"
    );
    let s = &rows[edited.as_str()].signals;
    assert_eq!(
        (s.ndev, s.nuc, s.la),
        (2.0, 2.0, 1.0),
        "the edit sees alice's import and bob's move"
    );
    assert_eq!(
        s.author_blame_share,
        Some(20.0 / 21.0),
        "alice's lines are still hers after the move"
    );
    assert_score_equals_mine(repo.path(), &mined, &[moved.as_str(), edited.as_str()]);
}

/// Without git, renames come from libgit2, asked as riskgate asks git (`-l7000`): a move of
/// identical files is paired whole, and so are files moved and edited, past git's default
/// limit of 1,000 too. libgit2 on its own compares each added file with the first deleted
/// ones by path only, and cut such moves short at the 201st file.
#[test]
fn without_git_a_large_move_is_paired_as_git_pairs_it() {
    let repo = TestRepo::new();
    write_package(&repo, "same", "s", 1_200);
    write_package(&repo, "lib", "l", 300);
    write_package(&repo, "big", "b", 1_100);
    repo.commit("alice", day(2022, 1, 1), "Import");
    repo.git(&["mv", "same", "kept"]);
    let pure_move = repo.commit("bob", day(2022, 1, 2), "Move unchanged");
    repo.git(&["rm", "-q", "-r", "lib"]);
    write_package(&repo, "src", "l", 300);
    let small_edited_move = repo.commit("bob", day(2022, 1, 3), "Move and edit a few");
    repo.git(&["rm", "-q", "-r", "big"]);
    write_package(&repo, "huge", "h", 1_100);
    let large_edited_move = repo.commit("bob", day(2022, 1, 4), "Move and edit many");
    repo.write(
        "kept/s_1000.txt",
        format!("package same\n{}more\n", package_body(1000)),
    );
    let edit = repo.commit("carol", day(2022, 1, 5), "Edit a moved file");

    let no_git = tempfile::tempdir().unwrap();
    let csv = no_git.path().join("history.csv");
    let (code, _, err) = run_riskgate_env(
        &[
            "mine",
            "--repo",
            repo.path().to_str().unwrap(),
            "--out",
            csv.to_str().unwrap(),
        ],
        &[("PATH", no_git.path().to_str().unwrap())],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("renames were detected by libgit2"), "{err}");
    let data = Dataset::parse_str(&std::fs::read_to_string(&csv).unwrap(), "history.csv").unwrap();
    let row = |commit: &str, signal: &str| {
        let at = data
            .rows
            .iter()
            .position(|r| r.commit_id == commit)
            .unwrap();
        data.values_of(signal).unwrap()[at].unwrap()
    };
    let counts = |c: &str| (row(c, "nf"), row(c, "la"), row(c, "ld"));
    assert_eq!(
        counts(&pure_move),
        (1_200.0, 0.0, 0.0),
        "a move of identical files"
    );
    assert_eq!(
        counts(&small_edited_move),
        (300.0, 300.0, 300.0),
        "moved, a line edited"
    );
    assert_eq!(
        counts(&large_edited_move),
        (1_100.0, 1_100.0, 1_100.0),
        "moved and renamed, a line edited"
    );
    let numstat = git_numstat(repo.path(), "HEAD").commits;
    for commit in [&pure_move, &small_edited_move, &large_edited_move] {
        let (la, ld, nf) = numstat[commit.as_str()];
        assert_eq!(counts(commit), (nf, la, ld), "as git counts {commit}");
    }
    assert_eq!(
        (row(&edit, "ndev"), row(&edit, "nuc")),
        (2.0, 2.0),
        "the edit sees alice's import and bob's move"
    );
}
