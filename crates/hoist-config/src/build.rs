//! `[build]` and `[services.<name>]`: how each service is built and where its artifact lands.
//!
//! `build.env` names and artifact patterns are checked while parsing (`deserialize_with`),
//! so their errors carry the file and line.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use hoist_version::Template;
use serde::{Deserialize, Deserializer};

use crate::image::ServiceImage;

/// Placeholders a build command or artifact path may use.
pub const BUILD_PLACEHOLDERS: &[&str] = &["tag", "version", "sha", "service"];

/// `[build]`
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BuildConfig {
    /// A project-wide build command, run once before the per-service ones, as an argument
    /// list (`["./gradlew", "build", "-Pversion={tag}"]`). No shell is involved.
    pub command: Option<Vec<String>>,
    /// How many per-service builds run at once; defaults to the number of cores.
    #[schemars(range(min = 1))]
    pub jobs: Option<usize>,
    /// Extra environment for every build command. Names are `[A-Za-z_][A-Za-z0-9_]*` and
    /// not `HOIST_*` (hoist's own: it sets `HOIST_TAG` and friends and removes the rest).
    #[serde(deserialize_with = "env_map")]
    pub env: BTreeMap<String, String>,
}

/// `[services.<name>]`
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The service's directory, relative to the project root (defaults to its name).
    pub dir: Option<String>,
    /// The files this service's image is made from (globs relative to the root; a plain
    /// directory name means everything under it), besides `[release] shared`. Defaults to
    /// its directory. A release in which none of them changed carries the service.
    pub paths: Option<Vec<String>>,
    /// The service's own build command, run in parallel with the others' (argument list).
    pub build: Option<Vec<String>>,
    /// The built artifact: a path or glob relative to the root, `{tag}` substituted.
    /// Exactly one file must match. Absolute patterns and `..` are refused: an artifact
    /// stays inside the project.
    #[serde(default, deserialize_with = "artifact_pattern")]
    pub artifact: Option<String>,
    /// The image name this service's compose and Kubernetes files use for it (like
    /// kustomize's `images[].name`), e.g. `acme-app_order-server`; matched whatever tag or
    /// digest follows it. Defaults to the service name.
    pub placeholder: Option<String>,
    /// How its image is made.
    #[serde(default)]
    pub image: ServiceImage,
}

impl BuildConfig {
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        if let Some(cmd) = &self.command {
            check_command(cmd).map_err(|m| ("build.command".to_string(), m))?;
        }
        if self.jobs == Some(0) {
            return Err(("build.jobs".into(), "must be at least 1".into()));
        }
        Ok(())
    }
}

impl Service {
    pub(crate) fn validate(&self, name: &str) -> Result<(), (String, String)> {
        if let Some(cmd) = &self.build {
            check_command(cmd).map_err(|m| (format!("services.{name}.build"), m))?;
        }
        if let Some(artifact) = &self.artifact {
            Template::parse(artifact, BUILD_PLACEHOLDERS)
                .map_err(|e| (format!("services.{name}.artifact"), e.to_string()))?;
        }
        for p in self.paths.iter().flatten() {
            crate::release::check_path_pattern(p).map_err(|m| (format!("services.{name}.paths"), m))?;
        }
        self.image.validate(name)
    }

    /// The patterns of this service's own inputs: `paths`, else its directory.
    pub fn input_paths(&self, name: &str) -> Vec<String> {
        match &self.paths {
            Some(p) => p.clone(),
            None => vec![self.dir_or(name).trim_end_matches('/').to_string()],
        }
    }

    /// The service directory relative to the root.
    pub fn dir_or<'a>(&'a self, name: &'a str) -> &'a str {
        self.dir.as_deref().unwrap_or(name)
    }
}

fn check_command(cmd: &[String]) -> Result<(), String> {
    if cmd.is_empty() || cmd[0].trim().is_empty() {
        return Err("a command needs at least a program name, e.g. [\"./gradlew\", \"build\"]".into());
    }
    for arg in cmd {
        Template::parse(arg, BUILD_PLACEHOLDERS).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The rule for a `build.env` name: POSIX-ish, so every shell and build tool can read it,
/// and no `=` or NUL, which would corrupt the environment block.
pub fn check_env_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(format!(
            "environment variable name `{}` must be letters, digits and `_`, not starting with a digit",
            name.escape_debug()
        ));
    }
    if name.starts_with("HOIST_") {
        return Err(format!(
            "environment variable `{name}` is reserved: hoist sets HOIST_TAG, HOIST_VERSION, HOIST_SHA and HOIST_SERVICE itself and keeps its credentials out of builds"
        ));
    }
    Ok(())
}

fn env_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = BTreeMap::<String, String>::deserialize(d)?;
    for (name, value) in &map {
        check_env_name(name).map_err(serde::de::Error::custom)?;
        if value.contains('\0') {
            return Err(serde::de::Error::custom(format!("the value of environment variable `{name}` contains NUL")));
        }
    }
    Ok(map)
}

/// An artifact pattern names a place inside the project: relative, without `..`.
pub fn check_artifact_pattern(pattern: &str) -> Result<(), String> {
    let path = Path::new(pattern);
    if pattern.is_empty() {
        return Err("the artifact pattern is empty".into());
    }
    if path.has_root() || pattern.starts_with('~') {
        return Err(format!(
            "artifact `{}` is absolute; write it relative to the project root (e.g. \"svc/build/libs/*.jar\")",
            pattern.escape_debug()
        ));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(format!("artifact `{}` climbs out of the project with `..`", pattern.escape_debug()));
    }
    if pattern.contains('\0') {
        return Err("the artifact pattern contains NUL".into());
    }
    Ok(())
}

fn artifact_pattern<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let pattern = String::deserialize(d)?;
    check_artifact_pattern(&pattern).map_err(serde::de::Error::custom)?;
    Ok(Some(pattern))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{Config, ConfigError};

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/p/hoist.toml"), Path::new("/p"))
    }

    #[test]
    fn env_names_are_checked_with_their_line() {
        let ok = parse("[build.env]\nJAVA_HOME = \"/opt/jdk\"\n_X1 = \"\"\n").unwrap();
        assert_eq!(ok.build.env["JAVA_HOME"], "/opt/jdk");
        for (text, want) in [
            ("[build]\njobs = 1\n[build.env]\n\"A=B\" = \"x\"\n", "`A=B`"),
            ("[build.env]\n\"1X\" = \"x\"\n", "`1X`"),
            ("[build.env]\n\"\" = \"x\"\n", "name ``"),
            ("[build.env]\n\"A\\u0000B\" = \"x\"\n", "`A\\0B`"),
            ("[build.env]\n\"A B\" = \"x\"\n", "`A B`"),
            ("[build.env]\n\"\u{e9}\" = \"x\"\n", "`\u{e9}`"),
            ("[build.env]\nHOIST_REGISTRY_PASSWORD = \"x\"\n", "reserved"),
            ("[build.env]\nA = \"x\\u0000y\"\n", "contains NUL"),
        ] {
            let err = parse(text).expect_err(text);
            let msg = err.to_string();
            assert!(msg.starts_with("/p/hoist.toml:") && msg.contains(want), "{text:?} gave {msg}");
            assert!(matches!(err, ConfigError::Parse { line, .. } if line >= 1), "{text:?} gave {err:?}");
        }
    }

    #[test]
    fn artifact_patterns_stay_inside_the_project() {
        let ok = parse("[services.a]\nartifact = \"a/build/libs/**/*.jar\"\n").unwrap();
        assert_eq!(ok.services["a"].artifact.as_deref(), Some("a/build/libs/**/*.jar"));
        for (text, want) in [
            ("[services.a]\nartifact = \"/**/*\"\n", "/p/hoist.toml:2:12"),
            ("[services.a]\nartifact = \"/etc/shadow\"\n", "is absolute"),
            ("[services.a]\nartifact = \"~/x.jar\"\n", "is absolute"),
            ("[services.a]\nartifact = \"../../etc/*\"\n", "`..`"),
            ("[services.a]\nartifact = \"a/../../x.jar\"\n", "`..`"),
            ("[services.a]\nartifact = \"a/build/..\"\n", "`..`"),
            ("[services.a]\nartifact = \"\"\n", "empty"),
        ] {
            let msg = parse(text).expect_err(text).to_string();
            assert!(msg.contains("/p/hoist.toml:2:12") && msg.contains(want), "{text:?} gave {msg}");
        }
    }
}
