//! The shared test context: runs the real `hoist` binary against real repositories, in a
//! sealed environment, and renders its runs for insta snapshots with the varying parts filtered.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hoist_testkit::Registry;
pub use hoist_testkit::TestRepo;

/// The `hoist` binary under test.
pub fn hoist_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hoist"))
}

/// The variables every sealed command gets, besides `HOME` (the context's scratch one).
/// Anything else a test needs (a `DOCKER_CONFIG`, `SOURCE_DATE_EPOCH`, a token) it sets on
/// the context or the run, so the developer's shell or the CI runner cannot change a result.
pub const SEALED_VARS: [&str; 4] = ["PATH", "HOME", "LANG", "GIT_CONFIG_NOSYSTEM"];

/// A project directory, a scratch `HOME`, an optional registry, and the environment every
/// `hoist` run of the test gets (see [`TestContext::command`]).
pub struct TestContext {
    /// Holds the scratch `HOME` and, for a fresh project, the project itself.
    root: tempfile::TempDir,
    home: PathBuf,
    project: PathBuf,
    repo: Option<TestRepo>,
    registry: Option<Registry>,
    env: Vec<(String, String)>,
    filters: Vec<(String, String)>,
}

impl TestContext {
    /// An empty project directory (not a git checkout).
    pub fn new() -> TestContext {
        let root = scratch_root();
        let project = root.path().join("project");
        std::fs::create_dir_all(&project).expect("project dir");
        TestContext::around(root, project, None)
    }

    /// A fresh git repository (the testkit's: branch `main`, fixed identity and dates).
    pub fn repo() -> TestContext {
        TestContext::with_repo(TestRepo::new())
    }

    /// A git repository with a bare `origin`.
    pub fn repo_with_remote() -> TestContext {
        TestContext::with_repo(TestRepo::with_remote())
    }

    /// Around a repository the test made itself.
    pub fn with_repo(repo: TestRepo) -> TestContext {
        let project = repo.path().to_path_buf();
        TestContext::around(scratch_root(), project, Some(repo))
    }

    /// A copy of the example project (`examples/shop`) in `<tmp>/shop`.
    pub fn example() -> TestContext {
        let root = scratch_root();
        let project = root.path().join("shop");
        hoist_testkit::example::copy_example(&project);
        TestContext::around(root, project, None)
    }

    /// Around a project directory something else owns (a `ShopDeploy`, a tempdir of the test).
    pub fn at(dir: &Path) -> TestContext {
        TestContext::around(scratch_root(), dir.to_path_buf(), None)
    }

    fn around(root: tempfile::TempDir, project: PathBuf, repo: Option<TestRepo>) -> TestContext {
        let home = root.path().join("home");
        std::fs::create_dir_all(&home).expect("scratch HOME");
        TestContext { root, home, project, repo, registry: None, env: Vec::new(), filters: Vec::new() }
    }

    /// Also own `registry`: its host is filtered as `[REGISTRY]` in snapshots.
    pub fn with_registry(mut self, registry: Registry) -> TestContext {
        self.registry = Some(registry);
        self
    }

    /// Set `key` for every run of this context (the only way a variable reaches hoist).
    pub fn with_env(mut self, key: &str, value: &str) -> TestContext {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Replace matches of `regex` by `replacement` in this context's snapshots.
    pub fn with_filter(mut self, regex: &str, replacement: &str) -> TestContext {
        self.filters.push((regex.to_string(), replacement.to_string()));
        self
    }

    pub fn path(&self) -> &Path {
        &self.project
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    /// A scratch directory beside the project, removed with the context.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[track_caller]
    pub fn repo_ref(&self) -> &TestRepo {
        self.repo.as_ref().expect("a context made with TestContext::repo")
    }

    #[track_caller]
    pub fn registry(&self) -> &Registry {
        self.registry.as_ref().expect("a context made with_registry")
    }

    /// `program` with the sealed environment: cleared, then [`SEALED_VARS`] (PATH from this
    /// process, the scratch HOME), then what the context sets. Runs in the project.
    pub fn sealed(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("LANG", "C.UTF-8")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .current_dir(&self.project);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// `hoist` in the sealed environment, in the project directory.
    pub fn command(&self) -> Command {
        self.sealed(hoist_bin())
    }

    /// Run `hoist ARGS` in the project.
    pub fn hoist(&self, args: &[&str]) -> Run {
        self.hoist_with(args, &[])
    }

    /// Run `hoist ARGS` in the project with extra variables for this run only.
    pub fn hoist_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.hoist_in_with(&self.project, args, env)
    }

    /// Run `hoist ARGS` in `dir` (a clone, a subdirectory), still sealed.
    pub fn hoist_in(&self, dir: &Path, args: &[&str]) -> Run {
        self.hoist_in_with(dir, args, &[])
    }

    fn hoist_in_with(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command();
        cmd.args(args).current_dir(dir).envs(env.iter().copied());
        Run::from(cmd.output().expect("run hoist"))
    }

    /// Like [`TestContext::hoist_with`], run under GNU `time` to also return the run's peak
    /// resident set size in KiB: hostile-input tests assert that a bound held, not only that
    /// an error came.
    pub fn hoist_peak_rss(&self, args: &[&str], env: &[(&str, &str)]) -> (Run, u64) {
        let report = tempfile::NamedTempFile::new().expect("temp file for time's report");
        let mut cmd = self.sealed("/usr/bin/time");
        cmd.arg("-f").arg("%M").arg("-o").arg(report.path()).arg(hoist_bin()).args(args).envs(env.iter().copied());
        let run = Run::from(cmd.output().expect("run hoist under /usr/bin/time (Debian package `time`)"));
        let text = std::fs::read_to_string(report.path()).expect("time's report");
        // GNU time prints "Command exited with non-zero status N" before the figure.
        let kib = text.lines().filter_map(|l| l.trim().parse::<u64>().ok()).next_back();
        (run, kib.unwrap_or_else(|| panic!("no peak RSS in time's report: {text:?}")))
    }

    /// The snapshot filters, most specific first (insta applies them in order): the
    /// context's own, digests, commit hashes of the context's repository, 40-hex hashes,
    /// the registry, loopback servers, temp and target dirs, pids, the host name,
    /// measured durations.
    pub fn filters(&self) -> Vec<(String, String)> {
        let mut filters = self.filters.clone();
        filters.push((r"sha256:[0-9a-f]{64}".into(), "[DIGEST]".into()));
        filters.push((r"\b[0-9a-f]{64}\b".into(), "[SHA256]".into()));
        if let Some(repo) = &self.repo {
            for sha in repo_commits(repo.path()) {
                // The short forms hoist puts in tags (7 to 12 characters) and the full one.
                filters.push((format!(r"\b{}[0-9a-f]{{0,33}}\b", &sha[..7]), "[SHA]".into()));
            }
        }
        filters.push((r"\b[0-9a-f]{40}\b".into(), "[SHA]".into()));
        if let Some(registry) = &self.registry {
            filters.push((escape(&registry.host()), "[REGISTRY]".into()));
        }
        // Servers of the tests on ephemeral ports (always five digits).
        filters.push((r"127\.0\.0\.1:\d{5}\b".into(), "[REGISTRY]".into()));
        filters.push((r"127\.0\.0\.2:\d{5}\b".into(), "[OTHER_HOST]".into()));
        filters.push((escape(env!("CARGO_TARGET_TMPDIR")), "[TARGET_TMP]".into()));
        filters.push((escape(&hoist_testkit::workspace_root().display().to_string()), "[WORKSPACE]".into()));
        let tmp = std::env::temp_dir();
        for tmp in [tmp.canonicalize().unwrap_or_else(|_| tmp.clone()), tmp] {
            let tmp = escape(tmp.display().to_string().trim_end_matches('/'));
            filters.push((format!(r"{tmp}/(\.tmp|hoist-[a-z]+-)[A-Za-z0-9]{{6}}"), "[TEMP]".into()));
        }
        filters.push((r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)".into(), "[TIMESTAMP]".into()));
        filters.push((r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d( UTC)?".into(), "[TIMESTAMP]".into()));
        filters.push((r"\(pid \d+\)".into(), "(pid [PID])".into()));
        filters.push((r"\bpid \d+\b".into(), "pid [PID]".into()));
        if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            let host = host.trim();
            if !host.is_empty() {
                filters.push((format!(r"@{}\b", escape(host)), "@[HOST]".into()));
                filters.push((format!(r"\bon {}\)", escape(host)), "on [HOST])".into()));
                filters.push((format!(r#""host": "{}""#, escape(host)), r#""host": "[HOST]""#.into()));
            }
        }
        filters.push((r"\b\d+(\.\d+)? ?(ms|s)\b \(measured\)".into(), "[TIME]".into()));
        filters.push((r"\b\d+\.\d+ ?(ms|s)\b".into(), "[TIME]".into()));
        filters.push((r"\bafter \d+ ?ms\b".into(), "after [TIME]".into()));
        filters.push((r"\bport \d{5}\b".into(), "port [PORT]".into()));
        filters
    }

    /// insta settings with [`TestContext::filters`] (for `settings().bind(|| …)`).
    pub fn settings(&self) -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        for (regex, replacement) in self.filters() {
            settings.add_filter(&regex, replacement);
        }
        settings.set_prepend_module_to_snapshot(true);
        settings
    }
}

/// The scratch root of a context: `hoist-it-*` in the temp dir (the testkit's are
/// `hoist-test-*`, `hoist-registry-*`), so the temp filter finds it.
fn scratch_root() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("hoist-it-").tempdir().expect("scratch tempdir")
}

/// Every commit of the repository at `dir` (none if it has no commits yet).
fn repo_commits(dir: &Path) -> Vec<String> {
    let out = Command::new("git")
        .args(["rev-list", "--all", "--reflog"])
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git rev-list");
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.len() == 40).map(str::to_string).collect()
}

/// `text` as a regex that matches it literally.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Snapshot a [`Run`] (exit code, stdout, stderr) through a context's filters:
/// `hoist_snapshot!(ctx, "name", run)`.
#[macro_export]
macro_rules! hoist_snapshot {
    ($ctx:expr, $name:expr, $run:expr) => {{
        let run: &$crate::common::Run = &$run;
        $ctx.settings().bind(|| insta::assert_snapshot!($name, run.snapshot()));
    }};
}

/// Snapshot a JSON document through a context's filters, with optional insta redactions:
/// `json_snapshot!(ctx, "name", json, {".size" => "[SIZE]"})`.
#[macro_export]
macro_rules! json_snapshot {
    ($ctx:expr, $name:expr, $json:expr) => {{
        let json: &serde_json::Value = &$json;
        $ctx.settings().bind(|| insta::assert_json_snapshot!($name, json));
    }};
    ($ctx:expr, $name:expr, $json:expr, {$($k:expr => $v:expr),* $(,)?}) => {{
        let json: &serde_json::Value = &$json;
        $ctx.settings().bind(|| insta::assert_json_snapshot!($name, json, {$($k => $v),*}));
    }};
}

/// A finished `hoist` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Parse stdout as JSON (for `--output json`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// The whole run as one text, for a snapshot: the exit code, then both streams.
    pub fn snapshot(&self) -> String {
        format!("exit code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}", self.code, self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "hoist failed\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub fn fails(self, code: i32) -> Run {
        assert_eq!(self.code, code, "unexpected exit code\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

/// Run `hoist ARGS` in `dir`, sealed (a context of its own, see [`TestContext::command`]).
pub fn hoist(dir: &Path, args: &[&str]) -> Run {
    hoist_env(dir, args, &[])
}

/// Like [`hoist`], with extra environment variables.
pub fn hoist_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    TestContext::at(dir).hoist_with(args, env)
}

/// Like [`hoist_env`], also returning the peak RSS (see [`TestContext::hoist_peak_rss`]).
pub fn hoist_peak_rss(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Run, u64) {
    TestContext::at(dir).hoist_peak_rss(args, env)
}

#[test]
fn commands_run_in_a_sealed_environment() {
    let ctx = TestContext::new().with_env("SOURCE_DATE_EPOCH", "1700000000");
    // What the builder sets: the sealed variables and the context's own, nothing else.
    let cmd = ctx.command();
    let set: Vec<(String, Option<String>)> = cmd
        .get_envs()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v.map(|v| v.to_string_lossy().into_owned())))
        .collect();
    let mut keys: Vec<&str> = set.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    let mut want = [&SEALED_VARS[..], &["SOURCE_DATE_EPOCH"]].concat();
    want.sort_unstable();
    assert_eq!(keys, want);
    assert!(set.contains(&("HOME".into(), Some(ctx.home().display().to_string()))), "{set:?}");
    assert_ne!(std::env::var_os("HOME").map(PathBuf::from).as_deref(), Some(ctx.home()));

    // What a child sees through the same builder: exactly those, so the builder cleared the
    // inherited environment (this process has more, e.g. cargo's CARGO_* for a test run).
    let out = ctx.sealed("env").output().expect("run env");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut seen: Vec<&str> = text.lines().filter_map(|l| l.split_once('=').map(|(k, _)| k)).collect();
    seen.sort_unstable();
    assert_eq!(seen, want, "{text}");
    let inherited: Vec<String> =
        std::env::vars_os().map(|(k, _)| k.to_string_lossy().into_owned()).filter(|k| !want.contains(&&**k)).collect();
    for leaked in &inherited {
        assert!(!seen.contains(&leaked.as_str()), "{leaked} leaked into a sealed command");
    }
    assert!(text.contains(&format!("HOME={}\n", ctx.home().display())), "{text}");
    assert!(text.contains("SOURCE_DATE_EPOCH=1700000000\n"), "{text}");

    // A variable set for one run reaches that run, and not the next.
    let out = ctx.sealed("env").env("HOIST_REGISTRY_PASSWORD", "for-this-run").output().expect("run env");
    assert!(String::from_utf8_lossy(&out.stdout).contains("HOIST_REGISTRY_PASSWORD=for-this-run\n"));
    let out = ctx.sealed("env").output().expect("run env");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("HOIST_REGISTRY_PASSWORD"));
}

#[test]
fn filters_replace_what_varies_and_keep_what_a_test_chose() {
    let ctx = TestContext::repo();
    let head = ctx.repo_ref().commit("[patch] x");
    let text = format!(
        "{head} v1.0.1-{} sha256:{} {} http://127.0.0.1:41234/v2/ 127.0.0.1:5000/shop v1.0.0-abc1234 {}/x (pid 123) 4194304 bytes 1.25s",
        &head[..7],
        "ab".repeat(32),
        "cd".repeat(32),
        ctx.path().display(),
    );
    let settings = ctx.settings();
    settings.bind(|| {
        insta::assert_snapshot!(text, @"[SHA] v1.0.1-[SHA] [DIGEST] [SHA256] http://[REGISTRY]/v2/ 127.0.0.1:5000/shop v1.0.0-abc1234 [TEMP]/work/x (pid [PID]) 4194304 bytes [TIME]");
    });
}
