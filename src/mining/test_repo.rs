//! A git repository in a temporary directory, built with the git command line, for the
//! mining tests that need what git itself writes (merges, moves).

use std::path::Path;

pub(crate) struct TestRepo {
    dir: tempfile::TempDir,
}

impl TestRepo {
    /// An empty repository on branch `main`.
    pub(crate) fn new() -> TestRepo {
        let repo = TestRepo {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.git(&["init", "-q"]);
        repo
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Run git in the repository as author "a"; it must succeed.
    pub(crate) fn git(&self, args: &[&str]) {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=a", "-c", "user.email=a@example.com"])
            .args(["-c", "init.defaultBranch=main", "-C"])
            .arg(self.path())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    /// Feed `stream` to `git fast-import`: histories of thousands of commits in a moment.
    pub(crate) fn fast_import(&self, stream: &str) {
        use std::io::Write as _;
        let mut import = std::process::Command::new("git")
            .args(["fast-import", "--quiet"])
            .current_dir(self.path())
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        import
            .stdin
            .take()
            .unwrap()
            .write_all(stream.as_bytes())
            .unwrap();
        assert!(import.wait().unwrap().success(), "git fast-import");
    }

    /// Write `text` to `path` in the work tree, making its folders.
    pub(crate) fn write(&self, path: &str, text: &str) {
        let path = self.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Commit `a.txt` (40 lines, returned) and `b.txt` on main.
    pub(crate) fn import(&self) -> String {
        let body: String = (0..40).map(|i| format!("line {i}\n")).collect();
        self.write("a.txt", &body);
        self.write("b.txt", "b\n");
        self.git(&["add", "."]);
        self.git(&["commit", "-qm", "import"]);
        body
    }

    /// Move `from` (holding `body`) to `to` on a new branch `branch`, add a line to it on
    /// main, and merge the branch into main: a merge that resolves a file its second parent
    /// has under another name.
    pub(crate) fn merge_a_move_of_a_grown_file(
        &self,
        branch: &str,
        (from, to): (&str, &str),
        body: &str,
    ) {
        self.git(&["checkout", "-qb", branch]);
        if let Some(folder) = Path::new(to).parent() {
            std::fs::create_dir_all(self.path().join(folder)).unwrap();
        }
        self.git(&["mv", from, to]);
        self.git(&["commit", "-qm", "move"]);
        self.git(&["checkout", "-q", "main"]);
        self.write(from, &format!("{body}one more\n"));
        self.git(&["commit", "-qam", "grow"]);
        self.git(&["merge", "-q", "--no-edit", branch]);
    }
}
