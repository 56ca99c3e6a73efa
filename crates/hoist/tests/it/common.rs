//! The shared test context: runs the real `hoist` binary against real repositories.

use std::path::{Path, PathBuf};
use std::process::Output;

pub use hoist_testkit::TestRepo;

/// The `hoist` binary under test.
pub fn hoist_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hoist"))
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

/// Run `hoist ARGS` in `dir`, with a clean environment for the variables hoist reads.
pub fn hoist(dir: &Path, args: &[&str]) -> Run {
    hoist_env(dir, args, &[])
}

/// Like [`hoist`], with extra environment variables.
pub fn hoist_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = std::process::Command::new(hoist_bin());
    cmd.args(args).current_dir(dir);
    for var in ["GITHUB_EVENT_PATH", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS", "HOIST_LOG"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().expect("run hoist"))
}

/// Like [`hoist_env`], run under GNU `time` to also return the run's peak resident set size
/// in KiB: hostile-input tests assert that a bound held, not only that an error came.
pub fn hoist_peak_rss(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Run, u64) {
    let report = tempfile::NamedTempFile::new().expect("temp file for time's report");
    let mut cmd = std::process::Command::new("/usr/bin/time");
    cmd.arg("-f").arg("%M").arg("-o").arg(report.path()).arg(hoist_bin()).args(args).current_dir(dir);
    for var in ["GITHUB_EVENT_PATH", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS", "HOIST_LOG"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let run = Run::from(cmd.output().expect("run hoist under /usr/bin/time (Debian package `time`)"));
    let text = std::fs::read_to_string(report.path()).expect("time's report");
    // GNU time prints "Command exited with non-zero status N" before the figure.
    let kib = text.lines().filter_map(|l| l.trim().parse::<u64>().ok()).next_back();
    (run, kib.unwrap_or_else(|| panic!("no peak RSS in time's report: {text:?}")))
}
