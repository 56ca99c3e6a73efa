//! `hoist.lock`: the digests the project's base images resolved to. Every build uses
//! exactly those until `hoist image update-base` moves them, as `Cargo.lock` pins crates;
//! the user commits it next to `hoist.toml`.
//!
//! One `[[base]]` per base reference hoist.toml (or a Dockerfile's `FROM`) names: the
//! reference as written, its normalised name, the digest the reference resolved to (an
//! image index, a Docker manifest list or one manifest) and, per platform a build used,
//! the digest of that platform's manifest. Written sorted, by temp file + rename, so a
//! rewrite that changes nothing leaves the file byte for byte and a reader never sees half.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// The file name, next to `hoist.toml`.
pub const LOCK_FILE: &str = "hoist.lock";

/// The format this hoist reads and writes.
pub const LOCK_VERSION: u32 = 1;

const HEADER: &str = "# hoist.lock: the digests of the base images, written by hoist. Commit it.\n\
# `hoist image update-base` moves them to what the references point to now.\n";

/// The whole lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    pub version: u32,
    #[serde(default, rename = "base", skip_serializing_if = "Vec::is_empty")]
    pub bases: Vec<LockedBase>,
}

impl Default for Lockfile {
    fn default() -> Self {
        Lockfile { version: LOCK_VERSION, bases: Vec::new() }
    }
}

/// One base image, pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedBase {
    /// The normalised reference (`docker.io/library/eclipse-temurin:17-jre`): the key.
    pub name: String,
    /// The digest the reference resolved to.
    pub digest: String,
    /// Its media type (an index, a manifest list or a manifest).
    pub media_type: String,
    /// Platform (`linux/amd64`) → the digest of that platform's image manifest.
    #[serde(default)]
    pub platforms: BTreeMap<String, String>,
}

impl Lockfile {
    /// `<root>/hoist.lock`.
    pub fn path(root: &Path) -> PathBuf {
        root.join(LOCK_FILE)
    }

    /// The lock file under `root`, or `None` when there is none yet.
    pub fn read(root: &Path) -> Result<Option<Lockfile>, ConfigError> {
        let path = Lockfile::path(root);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ConfigError::Read { path, source: e }),
        };
        let lock: Lockfile = toml::from_str(&text).map_err(|e| ConfigError::parse(&path, &text, &e))?;
        if lock.version != LOCK_VERSION {
            return Err(ConfigError::Invalid {
                path,
                key: "version".into(),
                message: format!(
                    "this hoist reads lock format {LOCK_VERSION}, the file is format {}; update hoist or run `hoist image update-base`",
                    lock.version
                ),
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for b in &lock.bases {
            if !seen.insert(&b.name) {
                return Err(ConfigError::Invalid {
                    path,
                    key: "base.name".into(),
                    message: format!("`{}` is locked twice; remove one of the entries", b.name),
                });
            }
            for (k, d) in std::iter::once((&"digest".to_string(), &b.digest)).chain(b.platforms.iter()) {
                if !is_sha256_digest(d) {
                    return Err(ConfigError::Invalid {
                        path,
                        key: format!("base.{k}"),
                        message: format!("`{d}` (for {}) is not a sha256:<64 hex> digest", b.name),
                    });
                }
            }
            if let Some(p) = b.platforms.keys().find(|p| !is_platform(p)) {
                return Err(ConfigError::Invalid {
                    path,
                    key: "base.platforms".into(),
                    message: format!("`{p}` (for {}) is not a platform", b.name),
                });
            }
        }
        Ok(Some(lock))
    }

    /// Write the file under `root` (sorted; unchanged bytes when nothing changed).
    pub fn write(&self, root: &Path) -> Result<(), ConfigError> {
        let path = Lockfile::path(root);
        let text = self.render();
        if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
            return Ok(());
        }
        let tmp = root.join(format!(".{LOCK_FILE}.tmp-{}", std::process::id()));
        let io = |e| ConfigError::Read { path: path.clone(), source: e };
        std::fs::write(&tmp, &text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            ConfigError::Read { path: path.clone(), source: e }
        })
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut sorted = self.clone();
        sorted.bases.sort_by(|a, b| a.name.cmp(&b.name));
        format!("{HEADER}\n{}", toml::to_string(&sorted).expect("a lock file serialises"))
    }

    /// The entry for a normalised name.
    pub fn get(&self, name: &str) -> Option<&LockedBase> {
        self.bases.iter().find(|b| b.name == name)
    }

    /// Add or replace the entry of `base.name`.
    pub fn upsert(&mut self, base: LockedBase) {
        match self.bases.iter_mut().find(|b| b.name == base.name) {
            Some(b) => *b = base,
            None => self.bases.push(base),
        }
    }
}

/// `sha256:` and 64 lowercase hex digits.
pub fn is_sha256_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
}

/// `os/architecture[/variant]` in lowercase letters, digits and `_` (the syntax only;
/// `hoist_oci::Platform` is the type).
pub fn is_platform(p: &str) -> bool {
    let parts: Vec<&str> = p.split('/').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn base(name: &str) -> LockedBase {
        LockedBase {
            name: name.into(),
            digest: D1.into(),
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            platforms: [("linux/amd64".to_string(), D2.to_string())].into(),
        }
    }

    #[test]
    fn round_trip_sorted_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Lockfile::read(dir.path()).unwrap(), None);
        let mut lock = Lockfile::default();
        lock.upsert(base("docker.io/library/z:1"));
        lock.upsert(base("docker.io/library/a:1"));
        lock.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(Lockfile::path(dir.path())).unwrap();
        assert!(text.starts_with("# hoist.lock"), "{text}");
        assert!(text.find("library/a:1").unwrap() < text.find("library/z:1").unwrap(), "{text}");
        let back = Lockfile::read(dir.path()).unwrap().unwrap();
        assert_eq!(back.get("docker.io/library/z:1"), Some(&base("docker.io/library/z:1")));
        // Replacing with the same entry rewrites nothing.
        let before = std::fs::metadata(Lockfile::path(dir.path())).unwrap().modified().unwrap();
        let mut again = back.clone();
        again.upsert(base("docker.io/library/a:1"));
        again.write(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(Lockfile::path(dir.path())).unwrap().modified().unwrap(), before);
    }

    #[test]
    fn bad_files_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        for (text, key) in [
            ("version = 2\n", "version"),
            ("version = 1\n[[base]]\nname = \"a\"\ndigest = \"sha256:abc\"\nmedia_type = \"x\"\n", "base.digest"),
            (
                &format!(
                    "version = 1\n[[base]]\nname = \"a\"\ndigest = \"{D1}\"\nmedia_type = \"x\"\n[[base]]\nname = \"a\"\ndigest = \"{D1}\"\nmedia_type = \"x\"\n"
                ),
                "base.name",
            ),
            (
                &format!(
                    "version = 1\n[[base]]\nname = \"a\"\ndigest = \"{D1}\"\nmedia_type = \"x\"\nplatforms = {{ \"linux\" = \"{D2}\" }}\n"
                ),
                "base.platforms",
            ),
        ] {
            std::fs::write(Lockfile::path(dir.path()), text).unwrap();
            match Lockfile::read(dir.path()) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        std::fs::write(Lockfile::path(dir.path()), "version = 1\nnope = 3\n").unwrap();
        assert!(matches!(Lockfile::read(dir.path()), Err(ConfigError::Parse { line: 2, .. })));
    }
}
