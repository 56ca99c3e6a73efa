//! What hoist keeps on the host: the deploy history (with every pin) and the deploy lock.
//!
//! Both live in `[deploy.compose] state_dir`. The history is one JSON file rewritten
//! atomically (temp file + rename) while the lock is held, so a crash never leaves half a
//! record. The lock is a file created with `O_EXCL`: creating it is the atomic test-and-set,
//! and it carries who holds it (pid, process start time, host, user, since when), so a
//! second deploy can say who is deploying and a dead holder can be told apart from a live one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ComposeError;

/// How an image came to be in the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acquired {
    /// hoist pulled it from the registry.
    Pulled,
    /// hoist loaded it from an archive.
    Loaded,
    /// It was already there (someone else's): hoist never prunes it.
    Present,
}

/// One service pinned to one exact image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub service: String,
    /// What the override file says: `repo:tag@sha256:…` (registry) or `name:tag` (archive).
    pub image: String,
    /// The tag reference, `repo:tag`.
    pub reference: String,
    /// The manifest digest, when the image came from a registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The engine's image ID (the config digest), checked against the running container.
    pub image_id: String,
    pub acquired: Acquired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `hoist deploy compose`
    Deploy,
    /// `hoist rollback`
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still running (or hoist died: the lock then stays behind too).
    InProgress,
    /// Every recreated service became healthy.
    Succeeded,
    /// Failed, and the previous release was redeployed and is healthy.
    RolledBack,
    /// Failed, and no working release could be restored.
    Failed,
}

/// One deploy or rollback on this host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: u64,
    pub action: Action,
    pub release: String,
    pub pins: Vec<Pin>,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    pub result: Outcome,
    /// `user@host` (and pid) of who ran it.
    pub by: String,
    /// Services whose containers were recreated.
    #[serde(default)]
    pub recreated: Vec<String>,
    /// The release restored after a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_to: Option<String>,
    /// The service that failed its health gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A digest of everything compose's decision depends on (files, pins, variables),
    /// with the config hashes compose computed for it: the same inputs again need no
    /// `config --hash` run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config_hashes: BTreeMap<String, String>,
}

/// A release known to have run healthy on this host, with its pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthy {
    pub release: String,
    pub pins: Vec<Pin>,
}

/// The deploy history of one project on this host.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    pub records: Vec<Record>,
}

impl History {
    pub fn path(state_dir: &Path, project: &str) -> PathBuf {
        state_dir.join(format!("history-{project}.json"))
    }

    pub fn load(state_dir: &Path, project: &str) -> Result<History, ComposeError> {
        let path = History::path(state_dir, project);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| ComposeError::State { path, message: format!("not a hoist deploy history: {e}") }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(History::default()),
            Err(e) => Err(ComposeError::State { path, message: e.to_string() }),
        }
    }

    pub fn save(&self, state_dir: &Path, project: &str) -> Result<(), ComposeError> {
        let path = History::path(state_dir, project);
        let text = serde_json::to_string_pretty(self).expect("history serialises");
        write_atomic(&path, text.as_bytes())
    }

    pub fn next_id(&self) -> u64 {
        self.records.iter().map(|r| r.id).max().unwrap_or(0) + 1
    }

    /// The sequence of states the host was healthy in, oldest first: every succeeded
    /// deploy or rollback, and every release restored after a failure.
    pub fn healthy_states(&self) -> Vec<Healthy> {
        let mut out = Vec::new();
        for (i, r) in self.records.iter().enumerate() {
            match r.result {
                Outcome::Succeeded => out.push(Healthy { release: r.release.clone(), pins: r.pins.clone() }),
                Outcome::RolledBack => {
                    if let Some(to) = &r.rolled_back_to
                        && let Some(pins) = self.pins_of(to, i)
                    {
                        out.push(Healthy { release: to.clone(), pins });
                    }
                }
                Outcome::InProgress | Outcome::Failed => {}
            }
        }
        out
    }

    /// The pins of the latest healthy record of `release` before record index `before`.
    fn pins_of(&self, release: &str, before: usize) -> Option<Vec<Pin>> {
        self.records[..before]
            .iter()
            .rev()
            .find(|r| r.release == release && r.result == Outcome::Succeeded)
            .map(|r| r.pins.clone())
    }

    /// What runs now, as far as hoist knows: the last healthy state, unless a later
    /// deploy failed without a rollback (then nothing is known to be healthy).
    pub fn current(&self) -> Option<Healthy> {
        let last = self.records.iter().rev().find(|r| r.result != Outcome::InProgress)?;
        if last.result == Outcome::Failed {
            return None;
        }
        self.healthy_states().pop()
    }

    /// The release before the current one: the latest release deployed (and healthy)
    /// before the current release was last deployed. `hoist rollback` without `--to`.
    pub fn previous(&self) -> Option<Healthy> {
        let states = self.healthy_states();
        let current = self.current().or_else(|| states.last().cloned())?;
        let deploys: Vec<Healthy> = self
            .records
            .iter()
            .filter(|r| r.action == Action::Deploy && r.result == Outcome::Succeeded)
            .map(|r| Healthy { release: r.release.clone(), pins: r.pins.clone() })
            .collect();
        let end = deploys.iter().rposition(|d| d.release == current.release).unwrap_or(deploys.len());
        deploys[..end].iter().rev().find(|d| d.release != current.release).cloned()
    }

    /// The latest healthy pins of `release`.
    pub fn find(&self, release: &str) -> Option<Healthy> {
        self.healthy_states().into_iter().rev().find(|h| h.release == release)
    }

    /// The distinct releases of the last `keep` healthy states, newest first (always
    /// including the current one).
    pub fn kept_releases(&self, keep: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Some(c) = self.current() {
            out.push(c.release);
        }
        for h in self.healthy_states().into_iter().rev() {
            if out.len() >= keep.max(1) {
                break;
            }
            if !out.contains(&h.release) {
                out.push(h.release);
            }
        }
        out
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ComposeError> {
    let err = |e: std::io::Error| ComposeError::State { path: path.to_path_buf(), message: e.to_string() };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Who holds a deploy lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: u32,
    /// The process start time (`/proc/PID/stat` field 22), so a reused pid is not mistaken
    /// for the holder.
    #[serde(default)]
    pub pid_start: Option<u64>,
    pub host: String,
    pub user: String,
    pub since: DateTime<Utc>,
    pub what: String,
}

impl Owner {
    pub fn me(what: &str) -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            pid_start: process_start(pid),
            host: hostname(),
            user: username(),
            since: Utc::now(),
            what: what.to_string(),
        }
    }

    /// Whether the holder is known to be gone: same host, and its process is not running.
    pub fn is_dead(&self) -> bool {
        self.host == hostname() && (process_start(self.pid).is_none() || process_start(self.pid) != self.pid_start)
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} by {}@{} (pid {}) since {}",
            self.what,
            self.user,
            self.host,
            self.pid,
            self.since.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

/// A held deploy lock; released on drop.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    pub fn path(state_dir: &Path, project: &str, host: Option<&str>) -> PathBuf {
        let host: String = host
            .unwrap_or("local")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
            .collect();
        state_dir.join(format!("lock-{project}@{host}.json"))
    }

    /// Take the lock, or say who holds it. `break_stale` removes a lock whose holder is dead
    /// (or on another machine, where that cannot be checked).
    pub fn acquire(path: &Path, owner: &Owner, break_stale: bool) -> Result<Lock, ComposeError> {
        let err = |e: std::io::Error| ComposeError::State { path: path.to_path_buf(), message: e.to_string() };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut f) => {
                    let json = serde_json::to_string_pretty(owner).expect("owner serialises");
                    f.write_all(json.as_bytes()).map_err(err)?;
                    f.sync_all().map_err(err)?;
                    return Ok(Lock { path: path.to_path_buf() });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder: Option<Owner> =
                        std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok());
                    let stale = holder.as_ref().is_some_and(Owner::is_dead);
                    // A holder on another machine cannot be checked: the flag is the
                    // user's word that it is gone. A live holder here is never broken.
                    let breakable = holder.as_ref().is_none_or(|h| h.is_dead() || h.host != hostname());
                    if break_stale && breakable {
                        std::fs::remove_file(path).map_err(err)?;
                        continue;
                    }
                    return Err(ComposeError::Locked {
                        path: path.to_path_buf(),
                        holder: holder.map(|h| h.to_string()),
                        stale,
                    });
                }
                Err(e) => return Err(err(e)),
            }
        }
        Err(ComposeError::State {
            path: path.to_path_buf(),
            message: "the lock was taken again while breaking it".into(),
        })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

pub fn username() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown-user".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(service: &str, release: &str) -> Pin {
        Pin {
            service: service.into(),
            image: format!("r/shop:{service}_{release}"),
            reference: format!("r/shop:{service}_{release}"),
            digest: None,
            image_id: format!("sha256:{service}{release}"),
            acquired: Acquired::Pulled,
        }
    }

    fn rec(id: u64, action: Action, release: &str, result: Outcome, to: Option<&str>) -> Record {
        Record {
            id,
            action,
            release: release.into(),
            pins: vec![pin("a", release)],
            started_at: Utc::now(),
            finished_at: None,
            result,
            by: "me@here".into(),
            recreated: vec![],
            rolled_back_to: to.map(String::from),
            failed_service: None,
            message: None,
            inputs: None,
            config_hashes: BTreeMap::new(),
        }
    }

    #[test]
    fn current_previous_and_kept() {
        use Action::*;
        use Outcome::*;
        let h = |recs: Vec<Record>| History { records: recs };
        // (history, current, previous, kept with keep=2)
        let cases: Vec<(History, Option<&str>, Option<&str>, Vec<&str>)> = vec![
            (h(vec![]), None, None, vec![]),
            (h(vec![rec(1, Deploy, "v1", Succeeded, None)]), Some("v1"), None, vec!["v1"]),
            (
                h(vec![rec(1, Deploy, "v1", Succeeded, None), rec(2, Deploy, "v2", Succeeded, None)]),
                Some("v2"),
                Some("v1"),
                vec!["v2", "v1"],
            ),
            (
                h(vec![
                    rec(1, Deploy, "v1", Succeeded, None),
                    rec(2, Deploy, "v2", Succeeded, None),
                    rec(3, Deploy, "v3", RolledBack, Some("v2")),
                ]),
                Some("v2"),
                Some("v1"),
                vec!["v2", "v1"],
            ),
            (
                h(vec![
                    rec(1, Deploy, "v1", Succeeded, None),
                    rec(2, Deploy, "v2", Succeeded, None),
                    rec(3, Deploy, "v3", Succeeded, None),
                    rec(4, Rollback, "v2", Succeeded, None),
                ]),
                Some("v2"),
                Some("v1"),
                vec!["v2", "v3"],
            ),
            (
                h(vec![rec(1, Deploy, "v1", Succeeded, None), rec(2, Deploy, "v2", Failed, None)]),
                None,
                None,
                vec!["v1"],
            ),
            (
                h(vec![rec(1, Deploy, "v1", Succeeded, None), rec(2, Deploy, "v2", InProgress, None)]),
                Some("v1"),
                None,
                vec!["v1"],
            ),
        ];
        for (i, (hist, current, previous, kept)) in cases.into_iter().enumerate() {
            assert_eq!(hist.current().map(|c| c.release).as_deref(), current, "case {i} current");
            assert_eq!(hist.previous().map(|c| c.release).as_deref(), previous, "case {i} previous");
            assert_eq!(hist.kept_releases(2), kept, "case {i} kept");
        }
    }

    #[test]
    fn history_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::load(dir.path(), "shop").unwrap();
        assert!(h.records.is_empty());
        h.records.push(rec(h.next_id(), Action::Deploy, "v1", Outcome::Succeeded, None));
        h.save(dir.path(), "shop").unwrap();
        let back = History::load(dir.path(), "shop").unwrap();
        assert_eq!(back.records.len(), 1);
        assert_eq!(back.records[0].pins, h.records[0].pins);
        std::fs::write(History::path(dir.path(), "shop"), "{nope").unwrap();
        let err = History::load(dir.path(), "shop").unwrap_err().to_string();
        assert!(err.contains("history-shop.json"), "{err}");
    }

    #[test]
    fn lock_is_exclusive_and_stale_needs_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = Lock::path(dir.path(), "shop", Some("ssh://me@box"));
        assert!(path.ends_with("lock-shop@ssh___me_box.json"), "{}", path.display());
        let me = Owner::me("deploy v1");
        assert!(!me.is_dead());
        let held = Lock::acquire(&path, &me, false).unwrap();
        let err = Lock::acquire(&path, &me, true).unwrap_err();
        assert!(matches!(err, ComposeError::Locked { stale: false, .. }), "{err:?}");
        assert!(err.to_string().contains("deploy v1 by"), "{err}");
        drop(held);
        assert!(!path.exists());

        // A holder whose process is gone: refused without the flag, broken with it.
        let dead = Owner { pid: u32::MAX - 1, pid_start: Some(1), ..Owner::me("deploy v0") };
        assert!(dead.is_dead());
        std::fs::write(&path, serde_json::to_string(&dead).unwrap()).unwrap();
        let err = Lock::acquire(&path, &me, false).unwrap_err();
        assert!(matches!(err, ComposeError::Locked { stale: true, .. }), "{err:?}");
        let hint = hoist_diag::Diagnostic::hint(&err).unwrap();
        assert!(hint.contains("--break-lock"), "{hint}");
        drop(Lock::acquire(&path, &me, true).unwrap());

        // Held on another machine: only the flag breaks it.
        let remote = Owner { host: "elsewhere".into(), ..Owner::me("deploy v0") };
        std::fs::write(&path, serde_json::to_string(&remote).unwrap()).unwrap();
        assert!(matches!(Lock::acquire(&path, &me, false), Err(ComposeError::Locked { stale: false, .. })));
        let _held = Lock::acquire(&path, &me, true).unwrap();
        let on_disk: Owner = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(on_disk.pid, std::process::id());
    }
}
