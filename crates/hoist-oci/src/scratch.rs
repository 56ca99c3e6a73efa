//! Temp files and directories that are reclaimed when the run that made them is killed.
//!
//! A blob being written (`blobs/sha256/.tmp-*`), a rootfs being imported
//! (`.hoist-import-*`), an archive being exported (`.hoist-export-*`) and a tar unpacked for
//! ADD (`$TMPDIR/.hoist-add-*`) are each held under an exclusive `flock` by the process that
//! made it, for as long as it lives. A process that dies (SIGKILL, the OOM killer, a power
//! cut) runs no destructor, but the kernel drops its locks: [`sweep`] removes the entries
//! with these prefixes that it can lock, and leaves alone the ones a live run holds, whatever
//! that run's pid or pid namespace (a pid check would misjudge a run in another container).
//!
//! Creating and locking are two steps, so a sweep can lock (and remove) an entry in between.
//! The maker checks after locking that its path still names what it locked; if not, it makes
//! a new one. A sweep therefore never takes a live run's entry, and a run never writes into a
//! swept one. Temp names come from `tempfile`; only the locking is added here.

use std::fs::{self, File, TryLockError};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// How often a maker retries when sweeps keep taking its fresh entry (only a run of sweeps
/// in a tight loop could do that).
const ATTEMPTS: usize = 16;

/// A temp file in `dir` named `<prefix>XXXXXX`, locked by this process until it is dropped
/// or persisted (and the persisted file dropped).
pub fn temp_file(dir: &Path, prefix: &str) -> io::Result<tempfile::NamedTempFile> {
    for _ in 0..ATTEMPTS {
        let file = tempfile::Builder::new().prefix(prefix).tempfile_in(dir)?;
        file.as_file().lock()?;
        if same_object(file.as_file(), file.path())? {
            return Ok(file);
        }
    }
    Err(io::Error::other(format!("temp files in {} keep being removed while they are made", dir.display())))
}

/// A temp directory that is removed on drop and locked while it lives.
#[derive(Debug)]
pub struct ScratchDir {
    // Field order is drop order: the tree goes first, then the lock.
    dir: tempfile::TempDir,
    _lock: File,
}

impl ScratchDir {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A temp directory in `parent` named `<prefix>XXXXXX`, locked by this process.
pub fn temp_dir(parent: &Path, prefix: &str) -> io::Result<ScratchDir> {
    for _ in 0..ATTEMPTS {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
        let lock = File::open(dir.path())?;
        lock.lock()?;
        if same_object(&lock, dir.path())? {
            return Ok(ScratchDir { dir, _lock: lock });
        }
        // A sweep removed it between creation and lock; TempDir's drop finds nothing to remove.
    }
    Err(io::Error::other(format!("temp directories in {} keep being removed while they are made", parent.display())))
}

/// Whether `path` still names the file or directory `file` has open.
fn same_object(file: &File, path: &Path) -> io::Result<bool> {
    let held = file.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Remove the entries of `dir` whose names start with one of `prefixes` and that no live
/// process holds. Returns what was removed. Best effort: an entry that cannot be opened or
/// removed is left for a later sweep, and a missing `dir` has nothing to sweep.
pub fn sweep(dir: &Path, prefixes: &[&str]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else { return removed };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !prefixes.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        // Only what hoist makes: regular files and directories, never a link to elsewhere.
        if !(meta.is_file() || meta.is_dir()) {
            continue;
        }
        let Ok(file) = File::open(&path) else { continue };
        if !same_object(&file, &path).unwrap_or(false) {
            continue;
        }
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue, // a live run holds it
            Err(TryLockError::Error(_)) => continue,
        }
        // Locked by us: its maker is gone. Still the same entry (not renamed to a blob since)?
        if !same_object(&file, &path).unwrap_or(false) {
            continue;
        }
        let gone = if meta.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        if gone.is_ok() {
            removed.push(path);
        }
    }
    removed
}
