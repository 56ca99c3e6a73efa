//! hoist-compose's integration tests: the deploy lock and the history file on the real file
//! system, with real processes for the lock races and the memory bound.
//!
//! A test that needs another process runs this same binary again, filtered to itself, with
//! `HOIST_IT_ROLE` set: the test function then plays that part (hold the lock, race for it,
//! load a history) instead of the parent's.

mod history;
mod lock;

use std::process::Command;

/// The part a child run of this binary plays, if this is one.
pub fn role() -> Option<String> {
    std::env::var("HOIST_IT_ROLE").ok()
}

/// This binary again, running only `test` (the full name, e.g. `lock::racing`) as `role`.
pub fn child(test: &str, role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1", "--quiet"]).env("HOIST_IT_ROLE", role);
    cmd
}

/// The peak resident set size of this process so far, in KiB (`VmHWM`).
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// The CPU time (user + system) this process used so far.
pub fn cpu_time() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<u64> =
        stat[stat.rfind(')').unwrap() + 1..].split_whitespace().skip(11).take(2).map(|f| f.parse().unwrap()).collect();
    // Linux reports clock ticks of 1/100 s (USER_HZ) here on every architecture.
    std::time::Duration::from_millis((fields[0] + fields[1]) * 10)
}
