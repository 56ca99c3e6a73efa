//! The artifact record of a release (`.hoist/artifacts/<tag>.json`): what the build step
//! produced, for re-runs and the later steps, used only while every artifact is unchanged.

use std::path::{Path, PathBuf};

use hoist_config::Config;
use serde::{Deserialize, Serialize};

use crate::{Artifact, BuildError, hash_file};

/// The format version of the artifact record; a record of another version is not used
/// (the build runs again).
pub const RECORD_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct RecordFile {
    version: u32,
    artifacts: Vec<Artifact>,
}

/// Where the artifact record of a release is kept, for the later steps and re-runs
/// (`hoist_config::StatePath::Artifacts`).
pub fn record_path(config: &Config, tag: &str) -> PathBuf {
    hoist_config::StatePath::Artifacts { tag }.path(config)
}

/// Save the artifacts of a release (temp file, then rename).
pub fn save_record(config: &Config, tag: &str, artifacts: &[Artifact]) -> Result<PathBuf, BuildError> {
    let path = record_path(config, tag);
    let io = |source| BuildError::Io { path: path.clone(), source };
    std::fs::create_dir_all(path.parent().expect("has parent")).map_err(io)?;
    let tmp = path.with_extension("json.tmp");
    let file = RecordFile { version: RECORD_VERSION, artifacts: artifacts.to_vec() };
    std::fs::write(&tmp, serde_json::to_vec_pretty(&file).expect("serialisable")).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}

/// The recorded artifacts of a release, if they are all still there unchanged.
pub fn load_record(config: &Config, tag: &str) -> Option<Vec<Artifact>> {
    let text = std::fs::read(record_path(config, tag)).ok()?;
    let file: RecordFile = serde_json::from_slice(&text).ok()?;
    if file.version != RECORD_VERSION {
        return None;
    }
    intact(&config.root, file.artifacts)
}

/// `artifacts` if every one is inside the project and unchanged (size and SHA-256).
pub fn intact(root: &Path, artifacts: Vec<Artifact>) -> Option<Vec<Artifact>> {
    // A record pointing outside the project (edited, or from another checkout) is not used.
    let real_root = std::fs::canonicalize(root).ok()?;
    let inside = |p: &Path| std::fs::canonicalize(p).is_ok_and(|real| real.starts_with(&real_root));
    let intact = artifacts
        .iter()
        .all(|a| inside(&a.path) && hash_file(&a.path).is_ok_and(|(size, sha)| size == a.size && sha == a.sha256));
    intact.then_some(artifacts)
}
