//! The deploy lock: one deploy or rollback at a time per project and engine, and who holds it.
//!
//! Taking the lock is one atomic step that publishes a complete owner record: the record is
//! written and synced to a temp file, then hard-linked to the lock path, and `link(2)` fails
//! when the path exists. So a lock never exists empty or half written. (Creating the lock
//! with `O_EXCL` and then writing it had such a window: a second deploy read an empty lock,
//! took it for breakable, and `--break-lock` broke a live deploy's lock.) std's
//! `fs::hard_link` is the portable primitive; `renameat2(RENAME_NOREPLACE)` is Linux-only.
//!
//! The record names the holder: pid, the process start time (`/proc/PID/stat` field 22) and
//! the boot id, so a reused pid or a reboot is not mistaken for the holder, plus host, user,
//! since when and what runs. `--break-lock` removes only a lock whose holder is provably gone
//! (same host, process not running), one held on another machine (which cannot be checked:
//! the flag is the user's word), or an unreadable regular file older than [`GARBAGE_GRACE`]
//! (no hoist writes an unreadable lock any more; the grace covers an older hoist mid-write).
//! A directory, FIFO or symlink at the lock path is never removed: a person put it there.
//!
//! Breakers take an advisory `flock` on `<lock>.break` (the kernel releases it if a breaker
//! dies, so it is never stale) and remove exactly the file they judged: the lock is renamed
//! aside and its inode compared with the one read; anything else is put back. Holders only
//! ever remove their own lock (same inode) when they finish.

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ComposeError, Garbage, Holder};

/// How old an unreadable lock must be before `--break-lock` removes it.
pub const GARBAGE_GRACE: Duration = Duration::from_secs(10);

/// The most of a lock file hoist reads: an owner record is a few hundred bytes.
const MAX_LOCK_BYTES: u64 = 64 * 1024;

/// Who holds a deploy lock (or ran a deploy record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Owner {
    pub pid: u32,
    /// The process start time (`/proc/PID/stat` field 22), so a reused pid is not mistaken
    /// for the holder.
    #[serde(default)]
    pub pid_start: Option<u64>,
    /// `/proc/sys/kernel/random/boot_id`: start times count from boot, so after a reboot
    /// a pid and start time may match by chance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    pub host: String,
    pub user: String,
    pub since: DateTime<Utc>,
    pub what: String,
}

/// What can be known about a holder from this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Its process runs (same pid and start time).
    Alive,
    /// Its process is gone, or the machine rebooted since.
    Dead,
    /// Another machine, or no `/proc` to look in.
    Unknown,
}

impl Owner {
    pub fn me(what: &str) -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            pid_start: process_start(pid),
            boot_id: boot_id(),
            host: hostname(),
            user: username(),
            since: Utc::now(),
            what: what.to_string(),
        }
    }

    pub fn liveness(&self) -> Liveness {
        if self.host != hostname() {
            return Liveness::Unknown;
        }
        if let (Some(theirs), Some(ours)) = (&self.boot_id, boot_id())
            && theirs != &ours
        {
            return Liveness::Dead;
        }
        if !Path::new("/proc/self/stat").exists() {
            return Liveness::Unknown;
        }
        match process_start(self.pid) {
            None => Liveness::Dead,
            // Without a recorded start time (an older hoist) a running pid counts as alive.
            Some(start) if self.pid_start.is_none_or(|s| s == start) => Liveness::Alive,
            Some(_) => Liveness::Dead,
        }
    }

    /// Whether the holder is known to be gone.
    pub fn is_dead(&self) -> bool {
        self.liveness() == Liveness::Dead
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
    /// The file this run linked (device, inode, and the record's bytes: an inode number is
    /// reused once its file is gone): only that file is removed on drop.
    id: Identity,
    /// The stale lock this run removed to get here, described for the user.
    pub broken: Option<String>,
}

/// Which file a lock is: device and inode, and its bytes (inode numbers are reused, and the
/// record holds pid and a nanosecond timestamp, so the bytes tell two locks apart).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    bytes: Vec<u8>,
}

impl Identity {
    /// What is at `path` now, if it is a regular file hoist may read.
    fn of(path: &Path) -> Option<Identity> {
        let meta = std::fs::symlink_metadata(path).ok().filter(|m| m.file_type().is_file())?;
        let mut bytes = Vec::new();
        std::fs::File::open(path).ok()?.take(MAX_LOCK_BYTES + 1).read_to_end(&mut bytes).ok()?;
        Some(Identity { dev: meta.dev(), ino: meta.ino(), bytes })
    }
}

/// What is at the lock path, read without trusting it.
#[derive(Debug)]
enum Found {
    /// Nothing any more (released while we looked).
    Gone,
    Owner {
        owner: Owner,
        id: Identity,
    },
    /// Not an owner record: empty, cut short, not JSON, too big, not a regular file.
    Garbage {
        reason: String,
        kind: Garbage,
        id: Option<Identity>,
    },
}

impl Lock {
    pub fn path(state_dir: &Path, project: &str, host: Option<&str>) -> Result<PathBuf, ComposeError> {
        crate::cli::check_project_name(project).map_err(ComposeError::Invalid)?;
        let host: String = host
            .unwrap_or("local")
            .chars()
            .take(100)
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
            .collect();
        Ok(state_dir.join(format!("lock-{project}@{host}.json")))
    }

    /// Take the lock, or say who holds it. With `break_stale`, first remove a lock whose
    /// holder is gone, is on another machine, or that is unreadable and older than
    /// [`GARBAGE_GRACE`]; a lock of a live process on this machine is never removed.
    pub fn acquire(path: &Path, owner: &Owner, break_stale: bool) -> Result<Lock, ComposeError> {
        let err = |e: std::io::Error| ComposeError::State { path: path.to_path_buf(), message: e.to_string() };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut broken = None;
        for _ in 0..3 {
            if let Some(id) = publish(path, owner)? {
                return Ok(Lock { path: path.to_path_buf(), id, broken });
            }
            match inspect(path) {
                Found::Gone => continue,
                found => {
                    let (breakable, refused) = judge(path, &found);
                    if !(break_stale && breakable) {
                        return Err(refused);
                    }
                    if let Some(what) = break_lock(path)? {
                        broken = Some(what);
                    }
                }
            }
        }
        Err(ComposeError::State {
            path: path.to_path_buf(),
            message: "the lock was taken again while breaking it; run again".into(),
        })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Remove only our own file: if someone broke this lock (from another machine, on
        // the user's word) and took it, the lock is theirs now.
        if Identity::of(&self.path).as_ref() == Some(&self.id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Write the owner record to a temp file and link it to `path`: `Some(id)` when the lock
/// is ours, `None` when the path already exists.
fn publish(path: &Path, owner: &Owner) -> Result<Option<Identity>, ComposeError> {
    let err = |p: &Path, e: std::io::Error| ComposeError::State { path: p.to_path_buf(), message: e.to_string() };
    let tmp = temp_name(path, "tmp");
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(|e| err(&tmp, e))?;
        let json = serde_json::to_vec_pretty(owner).expect("owner serialises");
        f.write_all(&json).map_err(|e| err(&tmp, e))?;
        f.sync_all().map_err(|e| err(&tmp, e))?;
        let m = f.metadata().map_err(|e| err(&tmp, e))?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(Some(Identity { dev: m.dev(), ino: m.ino(), bytes: json })),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(ComposeError::State {
                path: path.to_path_buf(),
                message: format!("cannot create the lock (hoist needs hard links in the state dir): {e}"),
            }),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

fn temp_name(path: &Path, what: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.{nanos}.{what}", std::process::id()));
    path.with_file_name(name)
}

fn inspect(path: &Path) -> Found {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Found::Gone,
        Err(e) => {
            return Found::Garbage { reason: format!("cannot read it: {e}"), kind: Garbage::NotAFile, id: None };
        }
    };
    // Never open a FIFO or a device (a read could block or never end), never follow a link.
    if !meta.file_type().is_file() {
        return Found::Garbage { reason: "it is not a regular file".into(), kind: Garbage::NotAFile, id: None };
    }
    let age = meta.modified().ok().and_then(|m| m.elapsed().ok()).unwrap_or(Duration::ZERO);
    let kind = if age < GARBAGE_GRACE { Garbage::Fresh } else { Garbage::Old };
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(MAX_LOCK_BYTES + 1).read_to_end(&mut bytes));
    let id = Identity { dev: meta.dev(), ino: meta.ino(), bytes };
    let garbage = |reason: String, id: Identity| Found::Garbage { reason, kind, id: Some(id) };
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Found::Gone,
        Err(e) => garbage(format!("cannot read it: {e}"), id),
        Ok(_) if id.bytes.is_empty() => garbage("it is empty".into(), id),
        Ok(_) if id.bytes.len() as u64 > MAX_LOCK_BYTES => {
            garbage(format!("it is larger than {MAX_LOCK_BYTES} bytes"), id)
        }
        Ok(_) => match serde_json::from_slice::<Owner>(&id.bytes) {
            Ok(owner) => Found::Owner { owner, id },
            Err(e) => garbage(format!("it is not a hoist lock record: {e}"), id),
        },
    }
}

/// Whether `--break-lock` may remove what was found, and the error if the lock stays. The
/// holder's process is looked at once: the answer and the message come from one look.
fn judge(path: &Path, found: &Found) -> (bool, ComposeError) {
    match found {
        Found::Owner { owner, .. } => {
            let state = match owner.liveness() {
                Liveness::Alive => Holder::Running,
                Liveness::Dead => Holder::Gone,
                Liveness::Unknown if owner.host != hostname() => Holder::Elsewhere,
                Liveness::Unknown => Holder::Unchecked,
            };
            // Another machine: the flag is the user's word that it is gone.
            let breakable = matches!(state, Holder::Gone | Holder::Elsewhere);
            (breakable, ComposeError::Locked { path: path.to_path_buf(), holder: owner.to_string(), state })
        }
        Found::Garbage { reason, kind, .. } => (
            *kind == Garbage::Old,
            ComposeError::LockUnreadable { path: path.to_path_buf(), reason: reason.clone(), kind: *kind },
        ),
        Found::Gone => (true, ComposeError::State { path: path.to_path_buf(), message: "the lock vanished".into() }),
    }
}

/// Remove the lock at `path` if it is still breakable, holding the breakers' flock. Returns
/// what was removed, or `None` when the lock changed meanwhile (the caller tries again).
fn break_lock(path: &Path) -> Result<Option<String>, ComposeError> {
    let err = |p: &Path, e: std::io::Error| ComposeError::State { path: p.to_path_buf(), message: e.to_string() };
    let mut guard_name = path.file_name().unwrap_or_default().to_os_string();
    guard_name.push(".break");
    let guard_path = path.with_file_name(guard_name);
    let guard = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&guard_path)
        .map_err(|e| err(&guard_path, e))?;
    guard.lock().map_err(|e| err(&guard_path, e))?;
    // Judge again under the guard: another breaker may have replaced the lock since.
    let found = inspect(path);
    let (breakable, refused) = judge(path, &found);
    if !breakable {
        return Err(refused);
    }
    let (judged, what) = match found {
        Found::Gone => return Ok(None),
        Found::Owner { owner, id } => (id, owner.to_string()),
        Found::Garbage { reason, id: Some(id), .. } => (id, format!("an unreadable lock ({reason})")),
        // Not a regular file: refused above.
        Found::Garbage { id: None, .. } => return Ok(None),
    };
    let aside = temp_name(path, "broken");
    match std::fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(path, e)),
    }
    if Identity::of(&aside).as_ref() != Some(&judged) {
        // The holder released and someone else took the lock between our look and the
        // rename: put their lock back.
        let back = std::fs::hard_link(&aside, path);
        let _ = std::fs::remove_file(&aside);
        back.map_err(|e| ComposeError::State {
            path: path.to_path_buf(),
            message: format!("the lock changed while breaking it and could not be put back: {e}"),
        })?;
        return Ok(None);
    }
    std::fs::remove_file(&aside).map_err(|e| err(&aside, e))?;
    drop(guard);
    Ok(Some(what))
}

/// The start time of a running (not zombie) process, from `/proc/PID/stat`.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    // A zombie or dead task (killed, not yet reaped) holds nothing any more.
    if matches!(rest.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    rest.nth(18)?.parse().ok()
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
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

    #[test]
    fn lock_path_names_project_and_host_and_refuses_bad_projects() {
        let path = Lock::path(Path::new("/s"), "shop", Some("ssh://me@box")).unwrap();
        assert_eq!(path, Path::new("/s/lock-shop@ssh___me_box.json"));
        assert_eq!(Lock::path(Path::new("/s"), "shop", None).unwrap(), Path::new("/s/lock-shop@local.json"));
        for bad in ["../x", "a/b", "", ".."] {
            let err = Lock::path(Path::new("/s"), bad, None).unwrap_err();
            assert!(matches!(err, ComposeError::Invalid(_)), "{bad}: {err:?}");
        }
    }

    #[test]
    fn liveness_of_owners() {
        let me = Owner::me("deploy v1");
        assert_eq!(me.liveness(), Liveness::Alive);
        let cases = [
            (Owner { pid: u32::MAX - 1, ..me.clone() }, Liveness::Dead),
            (Owner { pid_start: me.pid_start.map(|s| s + 1), ..me.clone() }, Liveness::Dead),
            (Owner { pid_start: None, ..me.clone() }, Liveness::Alive),
            (Owner { boot_id: Some("another-boot".into()), ..me.clone() }, Liveness::Dead),
            (Owner { boot_id: None, ..me.clone() }, Liveness::Alive),
            (Owner { host: "elsewhere".into(), ..me.clone() }, Liveness::Unknown),
        ];
        for (i, (owner, want)) in cases.into_iter().enumerate() {
            assert_eq!(owner.liveness(), want, "case {i}: {owner:?}");
        }
    }

    #[test]
    fn process_start_skips_the_command_name() {
        // Our own stat line: the command name may hold spaces and parentheses.
        let start = process_start(std::process::id()).unwrap();
        assert!(start > 0);
        assert_eq!(process_start(u32::MAX - 1), None);
    }
}
