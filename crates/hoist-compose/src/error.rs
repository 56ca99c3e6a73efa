//! Why a compose deploy, rollback or prune did not happen or did not work.

use std::path::PathBuf;

use hoist_cmd::CmdError;
use hoist_diag::{Diagnostic, Exit};

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("neither `docker compose` (v2) nor `docker-compose` (v1) works on this machine")]
    NoCompose,
    #[error("the Docker Engine does not answer")]
    Engine(#[source] CmdError),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot use hoist's state file {}: {message}", path.display())]
    State { path: PathBuf, message: String },
    #[error("{}", locked_text(path, holder, *state))]
    Locked { path: PathBuf, holder: String, state: Holder },
    /// The lock file is not an owner record; no hoist writes one like that (the record is
    /// published whole), so no deploy is known to hold it.
    #[error("the deploy lock {} is unreadable: {reason}", path.display())]
    LockUnreadable { path: PathBuf, reason: String, kind: Garbage },
    #[error("the deploy history {} is corrupt ({reason}){}", path.display(), aside.as_ref().map(|a| format!("; hoist set it aside as {}", a.display())).unwrap_or_default())]
    HistoryCorrupt { path: PathBuf, aside: Option<PathBuf>, reason: String },
    #[error("the deploy history {} has format version {version}; this hoist reads version {} and older", path.display(), crate::state::HISTORY_FORMAT)]
    HistoryNewer { path: PathBuf, version: u64 },
    #[error("cannot pull {reference} for `{service}`; nothing running was changed")]
    Pull {
        service: String,
        reference: String,
        #[source]
        source: CmdError,
    },
    #[error("cannot load {}; nothing running was changed", archive.display())]
    Load {
        archive: PathBuf,
        #[source]
        source: CmdError,
    },
    #[error("`{service}`: the engine has no image {reference}; nothing running was changed")]
    MissingImage { service: String, reference: String, hint: String },
    #[error("`{service}`: {reference} is image {got}, but the release says {expected}; nothing running was changed")]
    ImageMismatch { service: String, reference: String, expected: String, got: String },
    #[error("{compose} failed; {after}")]
    Up {
        compose: String,
        after: String,
        #[source]
        source: CmdError,
    },
    #[error("release {release} failed: `{service}` {reason}{}\n{after}", logs_block(.logs))]
    Unhealthy { release: String, service: String, reason: String, logs: String, after: String },
    #[error("no release `{release}` in this host's deploy history{}", known_suffix(.known))]
    UnknownRelease { release: String, known: Vec<String> },
    #[error("there is no earlier healthy release on this host to go back to")]
    NoPrevious,
    #[error("{} not in the compose files ({}); they define: {}", services_text(.missing), paths_text(.files), .known.join(", "))]
    UnknownServices { missing: Vec<String>, known: Vec<String>, files: Vec<PathBuf> },
    #[error("{}; nothing was changed", other_project_text(.project.as_deref(), .ours, .containers))]
    OtherProject { project: Option<String>, ours: String, containers: Vec<String> },
    #[error(transparent)]
    Remote(Box<crate::remote::RemoteError>),
    #[error(transparent)]
    Cmd(#[from] CmdError),
}

impl From<crate::remote::RemoteError> for ComposeError {
    fn from(e: crate::remote::RemoteError) -> ComposeError {
        ComposeError::Remote(Box::new(e))
    }
}

/// Who holds a lock that was not taken, as far as this machine can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// Its process runs on this machine: never broken.
    Running,
    /// Its process is gone (or the machine rebooted): `--break-lock` removes it.
    Gone,
    /// Taken on another machine, which cannot be checked: `--break-lock` is the user's word.
    Elsewhere,
    /// This machine has no `/proc` to check the holder in.
    Unchecked,
}

/// What kind of unreadable lock file is in the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Garbage {
    /// Modified less than `lock::GARBAGE_GRACE` ago: an older hoist may be writing it.
    Fresh,
    /// Older: `--break-lock` removes it.
    Old,
    /// Not a regular file (a directory, a FIFO, a symlink): hoist never removes it.
    NotAFile,
}

fn locked_text(path: &std::path::Path, holder: &str, state: Holder) -> String {
    match state {
        Holder::Gone => format!("the deploy lock {} is stale: {holder}, whose process is gone", path.display()),
        _ => format!("another deploy holds the lock {}: {holder}", path.display()),
    }
}

fn logs_block(logs: &str) -> String {
    if logs.trim().is_empty() {
        String::new()
    } else {
        let indented: Vec<String> = logs.lines().map(|l| format!("  | {l}")).collect();
        format!("; its last log lines:\n{}", indented.join("\n"))
    }
}

fn services_text(missing: &[String]) -> String {
    let names: Vec<String> = missing.iter().map(|s| format!("`{s}`")).collect();
    match names.len() {
        1 => format!("[services] {} is", names[0]),
        _ => format!("[services] {} are", names.join(", ")),
    }
}

fn paths_text(files: &[PathBuf]) -> String {
    files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
}

fn other_project_text(project: Option<&str>, ours: &str, containers: &[String]) -> String {
    match project {
        Some(p) => format!("this stack already runs as compose project `{p}`, not `{ours}`: {}", containers.join(", ")),
        None => format!("containers not made by compose hold this stack's container names: {}", containers.join(", ")),
    }
}

fn known_suffix(known: &[String]) -> String {
    if known.is_empty() { String::new() } else { format!(" (known: {})", known.join(", ")) }
}

impl Diagnostic for ComposeError {
    fn exit(&self) -> Exit {
        match self {
            ComposeError::NoCompose
            | ComposeError::Invalid(_)
            | ComposeError::Locked { .. }
            | ComposeError::LockUnreadable { .. }
            | ComposeError::HistoryCorrupt { .. }
            | ComposeError::HistoryNewer { .. }
            | ComposeError::Pull { .. }
            | ComposeError::MissingImage { .. }
            | ComposeError::ImageMismatch { .. }
            | ComposeError::Unhealthy { .. }
            | ComposeError::UnknownRelease { .. }
            | ComposeError::NoPrevious
            | ComposeError::UnknownServices { .. }
            | ComposeError::OtherProject { .. } => Exit::User,
            ComposeError::Cmd(e) => e.exit(),
            ComposeError::Remote(e) => e.exit(),
            _ => Exit::Unexpected,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            ComposeError::NoCompose => Some(
                "install the Compose v2 plugin (`docker compose version` must work) or docker-compose v1".into(),
            ),
            ComposeError::Engine(_) => {
                Some("start the Docker Engine, or check DOCKER_HOST / --host and your permissions on its socket".into())
            }
            ComposeError::Locked { state: Holder::Gone, .. } => {
                Some("run again with --break-lock to remove the stale lock".into())
            }
            ComposeError::Locked { state: Holder::Running, .. } => Some(
                "wait for that deploy to finish; hoist never breaks the lock of a process running on this machine".into(),
            ),
            ComposeError::Locked { state: Holder::Elsewhere, .. } => Some(
                "wait for that deploy to finish; hoist cannot check a process on another machine: once sure it is gone, run again with --break-lock".into(),
            ),
            ComposeError::Locked { path, state: Holder::Unchecked, .. } => Some(format!(
                "wait for that deploy to finish; hoist cannot check processes here: once sure it is gone, remove {}",
                path.display()
            )),
            ComposeError::LockUnreadable { path, kind: Garbage::Fresh, .. } => Some(format!(
                "it changed in the last seconds (an older hoist may be writing it): run again in a few seconds; \
                 if it stays unreadable, make sure no deploy or rollback of this project runs, then remove {} \
                 or run with --break-lock",
                path.display()
            )),
            ComposeError::LockUnreadable { path, kind: Garbage::Old, .. } => Some(format!(
                "make sure no deploy or rollback of this project runs on this host, then remove {} or run again \
                 with --break-lock",
                path.display()
            )),
            ComposeError::LockUnreadable { path, kind: Garbage::NotAFile, .. } => Some(format!(
                "hoist never removes it; make sure no deploy or rollback of this project runs, then remove {} yourself",
                path.display()
            )),
            ComposeError::HistoryCorrupt { aside: Some(aside), .. } => Some(format!(
                "the next deploy starts a new history; until a release succeeds in it, a failed deploy cannot roll \
                 back by itself and `hoist rollback` knows no release. To keep the old records, repair {} and move \
                 it back before deploying",
                aside.display()
            )),
            ComposeError::HistoryCorrupt { path, .. } => Some(format!(
                "the next deploy or rollback sets {} aside and starts a new history; repair the file first to keep \
                 its records",
                path.display()
            )),
            ComposeError::HistoryNewer { .. } => {
                Some("a newer hoist wrote it: deploy from this host with that hoist version or newer".into())
            }
            ComposeError::Pull { .. } => {
                Some("check that the release's images were pushed (`hoist images`) and that this host can log in to the registry".into())
            }
            ComposeError::MissingImage { hint, .. } => Some(hint.clone()),
            ComposeError::ImageMismatch { .. } => Some("the tag was overwritten; push the release again or deploy by digest".into()),
            ComposeError::Unhealthy { .. } => Some("fix the service and deploy a new release; `hoist deploy history` shows what ran".into()),
            ComposeError::UnknownRelease { .. } => Some("`hoist deploy history` lists the releases this host ran".into()),
            ComposeError::UnknownServices { .. } => Some(
                "name each [services.<name>] after its compose service (the key under `services:`), or add the service to the compose file".into(),
            ),
            ComposeError::OtherProject { project: Some(p), .. } => Some(format!(
                "to take the running stack over, set `project = \"{p}\"` in [deploy.compose]; or stop it first with `docker-compose -p {p} down` (volumes stay)"
            )),
            ComposeError::OtherProject { project: None, .. } => Some(
                "remove those containers (`docker rm -f NAME`) or drop `container_name:` from the compose file".into(),
            ),
            ComposeError::NoPrevious => Some("deploy a release with `hoist deploy compose --tag TAG`".into()),
            ComposeError::Cmd(e) if e.stderr().is_some_and(|s| s.contains("Cannot connect to the Docker daemon")) => {
                Some("start the Docker Engine, or check DOCKER_HOST and your permissions on its socket".into())
            }
            ComposeError::Cmd(e) => e.hint(),
            ComposeError::Remote(e) => e.hint(),
            _ => None,
        }
    }
}
