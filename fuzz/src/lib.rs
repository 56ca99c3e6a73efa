//! What the fuzz targets share: a scratch directory per process and the checks every
//! error must pass.
//!
//! Targets that need files (a Dockerfile and its context, a jar, a tar, a layout) write the
//! input into a fresh temp dir under [`scratch`] and drop it after the run, so disk use is
//! bounded by one input's worth. `.ci/fuzz` points `TMPDIR` at a tmpfs when there is one:
//! the layout's fsyncs are then free.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hoist_diag::{Diagnostic, Exit};

/// This process's scratch directory (under `TMPDIR`), made once.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // libFuzzer ends the process with exit(), so no destructor would remove a TempDir;
        // a fixed per-pid name lets `.ci/fuzz` remove the whole TMPDIR afterwards instead.
        let dir = std::env::temp_dir().join(format!("hoist-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    })
}

/// A fresh empty directory for one run.
pub fn run_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(scratch()).expect("temp dir in scratch")
}

/// An error made from hostile input must be a user error (exit 1) whose text names
/// something; rendering it must not panic.
pub fn check_user_error<E: Diagnostic>(e: &E) {
    let text = e.to_string();
    let _ = e.hint();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let _ = s.to_string();
        source = s.source();
    }
    assert!(!text.trim().is_empty(), "an error with no message: {e:?}");
    assert_eq!(e.exit(), Exit::User, "hostile input gave an unexpected-failure error: {text}");
}
