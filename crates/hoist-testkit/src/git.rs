//! Real git repositories in temp dirs, with a bare repository as the remote.

use std::path::{Path, PathBuf};

use hoist_cmd::Cmd;
use tempfile::TempDir;

/// A work tree with an optional bare `origin`, removed on drop.
#[derive(Debug)]
pub struct TestRepo {
    _tmp: TempDir,
    pub dir: PathBuf,
    pub remote: Option<PathBuf>,
}

impl TestRepo {
    /// An empty repository on branch `main` with a fixed identity.
    pub fn new() -> TestRepo {
        let tmp = tempfile::Builder::new().prefix("hoist-test-").tempdir().expect("tempdir");
        let dir = tmp.path().join("work");
        std::fs::create_dir_all(&dir).unwrap();
        let repo = TestRepo { _tmp: tmp, dir, remote: None };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo.git(&["config", "user.email", "dev@example.com"]);
        repo.git(&["config", "user.name", "Dev"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo.git(&["config", "tag.gpgsign", "false"]);
        repo
    }

    /// Also create a bare repository and add it as `origin`.
    pub fn with_remote() -> TestRepo {
        let mut repo = TestRepo::new();
        let bare = repo._tmp.path().join("origin.git");
        Cmd::new("git")
            .args(["init", "--quiet", "--bare", "--initial-branch=main"])
            .arg(&bare)
            .run()
            .expect("git init --bare");
        repo.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
        repo.remote = Some(bare);
        repo
    }

    /// A scratch directory beside the work tree (for clones).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self._tmp.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Run git in the work tree and return trimmed stdout; panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        run_git(&self.dir, args)
    }

    /// Write a file (creating parents) relative to the work tree.
    pub fn write(&self, path: &str, contents: &str) {
        let p = self.dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    /// Commit everything with `message`; returns the new HEAD SHA.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// A lightweight tag at `rev`.
    pub fn tag(&self, name: &str, rev: &str) {
        self.git(&["tag", name, rev]);
    }

    /// Tags on the bare remote.
    pub fn remote_tags(&self) -> Vec<String> {
        let remote = self.remote.as_ref().expect("repo has a remote");
        let out = run_git(remote, &["tag", "--list"]);
        out.lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Default for TestRepo {
    fn default() -> Self {
        TestRepo::new()
    }
}

/// Run git in `dir`; panics with git's stderr on failure.
pub fn run_git(dir: &Path, args: &[&str]) -> String {
    Cmd::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .read()
        .unwrap_or_else(|e| panic!("{e}"))
}
