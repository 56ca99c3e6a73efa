//! The deploy history's records: every deploy and rollback with its pins, how each image
//! came into the engine, and how each run ended. What the records mean (what runs now, what
//! to roll back to, what prune keeps, which records a bounded history keeps) is in
//! `rules`; reading and writing the file is in [`crate::history_file`].
//!
//! The history lives in `[deploy.compose] state_dir` as one JSON file. Every type keeps the
//! fields it does not know (`extra`), so a file a newer hoist wrote keeps them when this one
//! rewrites it.

mod rules;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use self::rules::Healthy;
pub(crate) use self::rules::Skeleton;
use crate::error::ComposeError;
pub use crate::lock::{Liveness, Lock, Owner, hostname, username};

/// The history file's format version this hoist writes. Additive changes (new fields) keep
/// it; a file with a higher version is refused rather than misread.
pub const HISTORY_FORMAT: u64 = 1;

/// How many of the latest records the history keeps. Older ones are dropped, except the
/// records rollback and prune need (see [`Skeleton::retained`]).
pub const HISTORY_RECORDS: usize = 1000;

/// How an image came to be in the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// Fields a newer hoist wrote, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `hoist deploy compose`
    Deploy,
    /// `hoist rollback`
    Rollback,
}

/// How a deploy or rollback run ended (its record's `result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunResult {
    /// Still running (or hoist died; the next run marks it `interrupted`).
    InProgress,
    /// Every recreated service became healthy.
    Succeeded,
    /// Failed, and the previous release was redeployed and is healthy.
    RolledBack,
    /// Failed, and no working release could be restored.
    Failed,
    /// The run that wrote it stopped before it finished (killed, crashed, host rebooted).
    Interrupted,
}

impl RunResult {
    /// Whether the run ended and said how: `in_progress` and `interrupted` did not.
    fn settled(self) -> bool {
        !matches!(self, RunResult::InProgress | RunResult::Interrupted)
    }
}

/// One deploy or rollback on this host.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Record {
    pub id: u64,
    pub action: Action,
    pub release: String,
    pub pins: Vec<Pin>,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    pub result: RunResult,
    /// `user@host` (and pid) of who ran it.
    pub by: String,
    /// The process that ran it (pid, start time, boot, host): an `in_progress` record whose
    /// process is gone was interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
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
    /// Fields a newer hoist wrote, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The deploy history of one project on this host. `version` is written first, so a
/// reader meets it before the records.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub version: u64,
    pub records: Vec<Record>,
    /// Top-level fields a newer hoist wrote, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// How many records of the file the loader left out (beyond the bound).
    #[serde(skip)]
    pub dropped: usize,
}

impl Default for History {
    fn default() -> History {
        History { version: HISTORY_FORMAT, records: Vec::new(), extra: Map::new(), dropped: 0 }
    }
}

/// The file of `project`'s history in `state_dir`; the name is checked before it becomes
/// part of a path (`../x` must not read a file outside the state dir).
pub fn history_path(state_dir: &Path, project: &str) -> Result<PathBuf, ComposeError> {
    crate::cli::check_project_name(project).map_err(ComposeError::Invalid)?;
    Ok(state_dir.join(format!("history-{project}.json")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_path_refuses_names_that_leave_the_state_dir() {
        let dir = Path::new("/state");
        assert_eq!(history_path(dir, "shop").unwrap(), Path::new("/state/history-shop.json"));
        for bad in ["../../etc/passwd", "../x", "a/b", "", ".", "..", "Shop", "x\0y"] {
            let err = history_path(dir, bad).unwrap_err();
            assert!(matches!(err, ComposeError::Invalid(_)), "{bad:?}: {err:?}");
            assert!(err.to_string().contains("project name"), "{err}");
        }
    }
}
