//! Build errors: each names the service, the command or the pattern.

use std::path::PathBuf;

use hoist_cmd::CmdError;
use hoist_diag::{Diagnostic, Exit};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{}", command_message(service, program, source))]
    Command {
        service: Option<String>,
        program: String,
        #[source]
        source: CmdError,
    },
    #[error("service `{name}` is not in hoist.toml (services: {known})")]
    UnknownService { name: String, known: String },
    #[error("{service}: artifact pattern `{pattern}` is not a valid glob: {reason}")]
    BadPattern { service: String, pattern: String, reason: String },
    #[error("{service}: no file matches the artifact `{pattern}`; {} holds: {}", dir.display(), list(found))]
    NoArtifact { service: String, pattern: String, dir: PathBuf, found: Vec<String> },
    #[error("{service}: the artifact `{pattern}` matches {count} files, expected exactly one: {}", found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    SeveralArtifacts { service: String, pattern: String, count: String, found: Vec<PathBuf> },
    #[error("{service}: the artifact {} resolves to {}, outside the project {}", artifact.display(), target.display(), root.display())]
    Escapes { service: String, artifact: PathBuf, target: PathBuf, root: PathBuf },
    #[error("{service}: finding the artifact `{pattern}` looked at {limit} entries without finishing")]
    WalkTooLong { service: String, pattern: String, limit: usize },
    #[error("cannot read or write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: a hand-written Dockerfile is there; hoist never overwrites it")]
    HandWritten { path: String },
    #[error("{service}: {message}")]
    Dockerfile { service: String, message: String },
}

fn command_message(service: &Option<String>, program: &str, source: &CmdError) -> String {
    let who = match service {
        Some(s) => format!("the build of `{s}`"),
        None => "the project build".into(),
    };
    match source {
        CmdError::NotFound { .. } => format!("{who} could not start: `{program}` was not found"),
        _ => format!("{who} failed"),
    }
}

fn list(found: &[String]) -> String {
    if found.is_empty() { "nothing (did the build run?)".into() } else { found.join(", ") }
}

impl Diagnostic for BuildError {
    fn exit(&self) -> Exit {
        match self {
            BuildError::Io { .. } => Exit::Unexpected,
            // A failing build is the user's code or config to fix.
            _ => Exit::User,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            BuildError::Command { source: CmdError::NotFound { .. }, program, .. } => Some(format!(
                "install `{program}` or fix the command in hoist.toml (`[build] command` or `[services.<name>] build`)"
            )),
            BuildError::NoArtifact { .. } | BuildError::SeveralArtifacts { .. } => {
                Some("make `[services.<name>] artifact` match exactly the one file the build produces".into())
            }
            BuildError::HandWritten { .. } => Some("delete it or rename it to let hoist generate one".into()),
            BuildError::Escapes { .. } => Some(
                "an artifact must be a file the build wrote inside the project: replace the link with the file, or fix `[services.<name>] artifact`"
                    .into(),
            ),
            BuildError::WalkTooLong { .. } => Some(
                "start the pattern with the directory the build writes to (e.g. \"svc/build/libs/*.jar\") instead of `**`".into(),
            ),
            BuildError::BadPattern { .. } => {
                Some("write `[services.<name>] artifact` relative to the project root, without `..`".into())
            }
            _ => None,
        }
    }
}
