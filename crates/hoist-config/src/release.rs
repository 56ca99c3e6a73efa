//! `[release]`: which files are whose inputs, so a release rebuilds only the services a
//! change touched and carries the others (their previous images, re-tagged).
//!
//! The patterns are checked while loading (relative, no `..`, valid globs); matching
//! changed paths against them is `hoist_release::changes`.

use std::path::{Component, Path};

use serde::Deserialize;

/// The root files every service's build reads, when `[release] shared` is not set: the
/// Gradle and Maven root builds, and hoist.toml (it says how images are made).
pub const DEFAULT_SHARED: &[&str] = &[
    "build.gradle",
    "build.gradle.kts",
    "settings.gradle",
    "settings.gradle.kts",
    "gradle.properties",
    "gradle/**",
    "gradlew",
    "pom.xml",
    ".mvn/**",
    "hoist.toml",
];

/// Files no image is made of, when `[release] ignore` is not set: documentation and
/// repository metadata. (The deploy files, `[deploy.compose] files` and
/// `[deploy.kubernetes] manifests`, are never build inputs either: every deploy applies
/// them as they are.)
pub const DEFAULT_IGNORE: &[&str] =
    &["**/*.md", "docs/**", "LICENSE*", "NOTICE*", ".github/**", ".gitignore", ".gitattributes", ".editorconfig"];

/// `[release]`
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReleaseConfig {
    /// Carry the services a release did not change: no build, their previous image
    /// re-tagged `<service>_<new tag>` (same digest, so no restart). `false` builds every
    /// service in every release, as `hoist release --all` does once.
    pub carry: bool,
    /// Paths every service's build reads (globs relative to the root; a plain directory
    /// name means everything under it). A change here builds every service. Replaces the
    /// default list (root Gradle/Maven build files and hoist.toml) when set.
    pub shared: Vec<String>,
    /// Paths no image is made of (docs, repository metadata). A change here builds
    /// nothing. A changed path that is under no service, not shared and not ignored
    /// counts as shared: the safe side.
    pub ignore: Vec<String>,
}

impl Default for ReleaseConfig {
    fn default() -> Self {
        ReleaseConfig {
            carry: true,
            shared: DEFAULT_SHARED.iter().map(|s| s.to_string()).collect(),
            ignore: DEFAULT_IGNORE.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl ReleaseConfig {
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        for (key, list) in [("release.shared", &self.shared), ("release.ignore", &self.ignore)] {
            for p in list {
                check_path_pattern(p).map_err(|m| (key.to_string(), m))?;
            }
        }
        Ok(())
    }
}

/// A path pattern names files inside the project: relative, without `..`, a valid glob.
pub fn check_path_pattern(pattern: &str) -> Result<(), String> {
    let shown = pattern.escape_debug();
    if pattern.is_empty() {
        return Err("a path pattern is empty".into());
    }
    if Path::new(pattern).has_root() || pattern.starts_with('~') {
        return Err(format!("path `{shown}` is absolute; write it relative to the project root (e.g. \"common/**\")"));
    }
    if Path::new(pattern).components().any(|c| c == Component::ParentDir) {
        return Err(format!("path `{shown}` climbs out of the project with `..`"));
    }
    glob::Pattern::new(pattern).map_err(|e| format!("path `{shown}` is not a valid glob: {e}"))?;
    Ok(())
}
