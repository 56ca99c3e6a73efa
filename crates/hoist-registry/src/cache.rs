//! The known-blobs cache: which blobs a repository held after the last successful push,
//! so the next push and plan skip the blob HEADs for them (as skopeo's blob-info cache does).
//!
//! One small JSON file per registry host + repository, next to the layout it was pushed
//! from: `<layout>/.hoist-cache/registry/<host_repo>.json`, written as temp file + rename so
//! a reader never sees half a file and concurrent writers never interleave. The cache is
//! only a hint: a registry may garbage-collect or lose blobs, so a manifest PUT that fails
//! with `MANIFEST_BLOB_UNKNOWN` drops it and that image is pushed again with HEADs (see
//! `push.rs`). An unreadable or foreign file, or one of another format `version`, is
//! treated as empty, never as an error: it is only a cache, the registry is asked again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::reference::Repository;

/// Past this many digests the file is rewritten with only the last push's blobs, so a
/// long-lived layout does not grow it without bound.
const MAX_ENTRIES: usize = 20_000;

/// The file's format; files written before it had one (no `version`) are ignored too.
const VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    #[serde(default)]
    version: u32,
    host: String,
    repository: String,
    /// digest → size in bytes.
    blobs: BTreeMap<String, u64>,
}

/// The cache file of one repository, for one layout.
#[derive(Debug, Clone)]
pub(crate) struct BlobCache {
    path: PathBuf,
    host: String,
    repository: String,
}

impl BlobCache {
    pub(crate) fn new(layout_dir: &Path, repo: &Repository) -> BlobCache {
        let name: String = format!("{}_{}", repo.host, repo.path)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') { c } else { '_' })
            .collect();
        BlobCache {
            path: layout_dir.join(".hoist-cache").join("registry").join(format!("{name}.json")),
            host: repo.host.clone(),
            repository: repo.path.clone(),
        }
    }

    /// The digests (with sizes) the repository was known to hold; empty when there is no
    /// usable file.
    pub(crate) fn load(&self) -> BTreeMap<String, u64> {
        let Ok(text) = std::fs::read_to_string(&self.path) else { return BTreeMap::new() };
        match serde_json::from_str::<CacheFile>(&text) {
            // The sanitised file name can collide; the file says whose it is.
            Ok(f) if f.version == VERSION && f.host == self.host && f.repository == self.repository => f.blobs,
            Ok(f) => {
                tracing::debug!(
                    "ignoring the blob cache {} (version {}, {}/{})",
                    self.path.display(),
                    f.version,
                    f.host,
                    f.repository
                );
                BTreeMap::new()
            }
            Err(e) => {
                tracing::debug!("ignoring the blob cache {}: {e}", self.path.display());
                BTreeMap::new()
            }
        }
    }

    /// Add `blobs` to what the file holds.
    pub(crate) fn record(&self, blobs: &BTreeMap<String, u64>) -> std::io::Result<()> {
        let mut all = self.load();
        all.extend(blobs.iter().map(|(d, s)| (d.clone(), *s)));
        if all.len() > MAX_ENTRIES {
            all = blobs.clone();
        }
        let file =
            CacheFile { version: VERSION, host: self.host.clone(), repository: self.repository.clone(), blobs: all };
        let dir = self.path.parent().expect("cache path has a parent");
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(
            ".{}.{}.{:08x}.tmp",
            self.path.file_name().and_then(|n| n.to_str()).unwrap_or("cache"),
            std::process::id(),
            rand::random::<u32>()
        ));
        let json = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
        if let Err(e) = std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, &self.path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(())
    }

    /// Forget everything about the repository (it lost a blob the cache said it had).
    pub(crate) fn drop_all(&self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot remove the blob cache {}: {e}", self.path.display()),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(host: &str, path: &str) -> Repository {
        Repository { host: host.into(), path: path.into(), plain_http: true }
    }

    #[test]
    fn file_names_are_sanitised_and_files_are_checked_for_their_owner() {
        let dir = tempfile::tempdir().unwrap();
        let a = BlobCache::new(dir.path(), &repo("127.0.0.1:5000", "team/shop"));
        assert!(a.path().ends_with(".hoist-cache/registry/127.0.0.1_5000_team_shop.json"), "{:?}", a.path());
        let blobs = BTreeMap::from([("sha256:aa".to_string(), 3u64)]);
        a.record(&blobs).unwrap();
        assert_eq!(a.load(), blobs);
        // Same sanitised name, other repository: not its cache.
        let b = BlobCache::new(dir.path(), &repo("127.0.0.1:5000", "team_shop"));
        assert_eq!(b.path(), a.path());
        assert!(b.load().is_empty());
        // Records merge; dropping forgets; garbage reads as empty.
        a.record(&BTreeMap::from([("sha256:bb".to_string(), 4u64)])).unwrap();
        assert_eq!(a.load().len(), 2);
        a.drop_all();
        assert!(a.load().is_empty());
        std::fs::write(a.path(), "{not json").unwrap();
        assert!(a.load().is_empty());
        let leftovers = std::fs::read_dir(a.path().parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temp files left behind");
    }

    #[test]
    fn files_carry_their_version_and_other_versions_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::new(dir.path(), &repo("127.0.0.1:5000", "shop"));
        let blobs = BTreeMap::from([("sha256:aa".to_string(), 3u64)]);
        cache.record(&blobs).unwrap();
        let written: serde_json::Value = serde_json::from_slice(&std::fs::read(cache.path()).unwrap()).unwrap();
        assert_eq!(written["version"], 1, "{written}");
        assert_eq!(cache.load(), blobs);

        // The same content under another version, or none (written before versions), is
        // not trusted; recording over it starts afresh with only the new blobs.
        let mut other = written.clone();
        for version in [Some(2), Some(0), None] {
            match version {
                Some(v) => other["version"] = v.into(),
                None => drop(other.as_object_mut().unwrap().remove("version")),
            }
            std::fs::write(cache.path(), serde_json::to_vec(&other).unwrap()).unwrap();
            assert!(cache.load().is_empty(), "version {version:?} was read");
        }
        let fresh = BTreeMap::from([("sha256:bb".to_string(), 4u64)]);
        cache.record(&fresh).unwrap();
        assert_eq!(cache.load(), fresh);
    }
}
