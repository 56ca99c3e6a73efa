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
    #[error("another deploy holds the lock {}{}", path.display(), holder.as_ref().map(|h| format!(": {h}")).unwrap_or_default())]
    Locked { path: PathBuf, holder: Option<String>, stale: bool },
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
    #[error(transparent)]
    Cmd(#[from] CmdError),
}

fn logs_block(logs: &str) -> String {
    if logs.trim().is_empty() {
        String::new()
    } else {
        let indented: Vec<String> = logs.lines().map(|l| format!("  | {l}")).collect();
        format!("; its last log lines:\n{}", indented.join("\n"))
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
            | ComposeError::Pull { .. }
            | ComposeError::MissingImage { .. }
            | ComposeError::ImageMismatch { .. }
            | ComposeError::Unhealthy { .. }
            | ComposeError::UnknownRelease { .. }
            | ComposeError::NoPrevious => Exit::User,
            ComposeError::Cmd(e) => e.exit(),
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
            ComposeError::Locked { path, stale: true, .. } => Some(format!(
                "its process is gone; run again with --break-lock to remove the stale lock {}",
                path.display()
            )),
            ComposeError::Locked { .. } => {
                Some("wait for that deploy to finish; if its process is gone on another machine, run again with --break-lock".into())
            }
            ComposeError::Pull { .. } => {
                Some("check that the release's images were pushed (`hoist images`) and that this host can log in to the registry".into())
            }
            ComposeError::MissingImage { hint, .. } => Some(hint.clone()),
            ComposeError::ImageMismatch { .. } => Some("the tag was overwritten; push the release again or deploy by digest".into()),
            ComposeError::Unhealthy { .. } => Some("fix the service and deploy a new release; `hoist deploy history` shows what ran".into()),
            ComposeError::UnknownRelease { .. } => Some("`hoist deploy history` lists the releases this host ran".into()),
            ComposeError::NoPrevious => Some("deploy a release with `hoist deploy compose --tag TAG`".into()),
            ComposeError::Cmd(e) if e.stderr().is_some_and(|s| s.contains("Cannot connect to the Docker daemon")) => {
                Some("start the Docker Engine, or check DOCKER_HOST and your permissions on its socket".into())
            }
            ComposeError::Cmd(e) => e.hint(),
            _ => None,
        }
    }
}
