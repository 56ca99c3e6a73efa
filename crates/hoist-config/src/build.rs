//! `[build]` and `[services.<name>]`: how each service is built and where its artifact lands.

use hoist_version::Template;
use serde::Deserialize;

use crate::image::ServiceImage;

/// Placeholders a build command or artifact path may use.
pub const BUILD_PLACEHOLDERS: &[&str] = &["tag", "version", "sha", "service"];

/// `[build]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuildConfig {
    /// A project-wide build command, run once before the per-service ones, as an argument
    /// list (`["./gradlew", "build", "-Pversion={tag}"]`). No shell is involved.
    pub command: Option<Vec<String>>,
    /// How many per-service builds run at once; defaults to the number of cores.
    pub jobs: Option<usize>,
    /// Extra environment for every build command.
    pub env: std::collections::BTreeMap<String, String>,
}

/// `[services.<name>]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The service's directory, relative to the project root (defaults to its name).
    pub dir: Option<String>,
    /// The service's own build command, run in parallel with the others' (argument list).
    pub build: Option<Vec<String>>,
    /// The built artifact: a path or glob relative to the root, `{tag}` substituted.
    /// Exactly one file must match.
    pub artifact: Option<String>,
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
        self.image.validate(name)
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
