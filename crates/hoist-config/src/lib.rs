//! `hoist.toml`: its schema, defaults, validation, and errors that name the file, line and key.
//!
//! Every table rejects unknown keys, so a typo is an error and not a silently ignored
//! setting. Each section lives in its own module, next to the rules that validate it.
//! Relative paths in the file are relative to the directory that holds it (the project root).

mod build;
mod deploy;
pub mod env;
mod error;
mod image;
pub mod lock;
mod registry;
mod release;
mod state;
mod version;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use build::{BUILD_PLACEHOLDERS, BuildConfig, Service, check_artifact_pattern, check_env_name};
pub use deploy::{ComposeConfig, DeployConfig, KubernetesConfig, Probe};
pub use error::ConfigError;
pub use image::{Compression, ImageConfig, Layering, ServiceImage};
pub use lock::{LOCK_FILE, LockedBase, Lockfile};
pub use registry::RegistryConfig;
pub use release::{DEFAULT_IGNORE, DEFAULT_SHARED, ReleaseConfig, check_path_pattern};
pub use state::{STATE_DIR, StatePath};
pub use version::VersionConfig;

/// The file name hoist looks for in the project directory.
pub const FILE_NAME: &str = "hoist.toml";

/// The whole of `hoist.toml`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub project: Project,
    #[serde(default)]
    pub version: VersionConfig,
    #[serde(default)]
    pub build: BuildConfig,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    #[serde(default)]
    pub image: ImageConfig,
    #[serde(default)]
    pub registry: Option<RegistryConfig>,
    #[serde(default)]
    pub deploy: DeployConfig,
    #[serde(default)]
    pub release: ReleaseConfig,

    /// The directory relative paths are resolved against (the config file's directory).
    #[serde(skip)]
    pub root: PathBuf,
    /// The file this was read from; `None` when no file exists and defaults apply.
    #[serde(skip)]
    pub path: Option<PathBuf>,
    /// Values `${VAR}` changed, so messages can show what the file says instead.
    #[serde(skip)]
    expanded: Vec<env::Expanded>,
}

/// `[project]`
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// The project name: compose project, labels, lock and history names. Defaults to the
    /// name of the project directory. Checked while parsing, so the error has its line.
    #[serde(default, deserialize_with = "project_name")]
    pub name: Option<String>,
    /// Where the source lives (the `org.opencontainers.image.source` label).
    pub source: Option<String>,
}

impl Config {
    /// Read `hoist.toml` from `dir`, or return defaults when there is none.
    pub fn discover(dir: &Path) -> Result<Config, ConfigError> {
        let path = dir.join(FILE_NAME);
        if path.is_file() {
            Config::load(&path)
        } else {
            let mut config = Config { root: dir.to_path_buf(), ..Config::default() };
            config.validate()?;
            Ok(config)
        }
    }

    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let root = if root.as_os_str().is_empty() { PathBuf::from(".") } else { root };
        Config::parse(&text, path, &root)
    }

    /// Parse text as if it were read from `path`, with `${VAR}` from the process environment.
    pub fn parse(text: &str, path: &Path, root: &Path) -> Result<Config, ConfigError> {
        Config::parse_with_env(text, path, root, &|name| std::env::var(name).ok())
    }

    /// Parse text as if it were read from `path`, with `${VAR}` looked up through `env`.
    pub fn parse_with_env(
        text: &str,
        path: &Path,
        root: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::parse(path, text, &e))?;
        config.root = root.to_path_buf();
        config.path = Some(path.to_path_buf());
        config.expand_env(env).map_err(|(key, problem)| ConfigError::Env { path: path.to_path_buf(), key, problem })?;
        config.validate()?;
        Ok(config)
    }

    /// Expand `${VAR}` in the keys that name a registry, a host or a URL (docs/config.md,
    /// "Environment variables in values"), once, so everything downstream sees plain values.
    fn expand_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), (String, env::EnvError)> {
        let seen = &mut self.expanded;
        if let Some(source) = &mut self.project.source {
            env::expand_field(source, "project.source", env, seen)?;
        }
        if let Some(registry) = &mut self.registry {
            env::expand_field(&mut registry.repository, "registry.repository", env, seen)?;
            for (i, repo) in registry.mount_from.iter_mut().enumerate() {
                env::expand_field(repo, &format!("registry.mount_from[{i}]"), env, seen)?;
            }
        }
        if let Some(compose) = &mut self.deploy.compose {
            for (i, host) in compose.hosts.iter_mut().enumerate() {
                env::expand_field(host, &format!("deploy.compose.hosts[{i}]"), env, seen)?;
            }
            for (name, probe) in &mut compose.probes {
                for (kind, value) in [("http", &mut probe.http), ("tcp", &mut probe.tcp)] {
                    if let Some(value) = value {
                        env::expand_field(value, &format!("deploy.compose.probes.{name}.{kind}"), env, seen)?;
                    }
                }
            }
        }
        if let Some(context) = self.deploy.kubernetes.as_mut().and_then(|k| k.context.as_mut()) {
            env::expand_field(context, "deploy.kubernetes.context", env, seen)?;
        }
        Ok(())
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        let file = self.path.clone().unwrap_or_else(|| PathBuf::from(FILE_NAME));
        let expanded = &self.expanded;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: file.clone(),
            key: key.into(),
            message: env::redact(&message, expanded),
        };
        self.version.validate().map_err(|(k, m)| invalid(&k, m))?;
        for (name, service) in &self.services {
            check_service_name(name).map_err(|m| invalid(&format!("services.{name}"), m))?;
            service.validate(name).map_err(|(k, m)| invalid(&k, m))?;
        }
        self.build.validate().map_err(|(k, m)| invalid(&k, m))?;
        self.image.validate().map_err(|(k, m)| invalid(&k, m))?;
        if let Some(registry) = &self.registry {
            registry.validate(&self.version, self.services.keys()).map_err(|(k, m)| invalid(&k, m))?;
        }
        self.deploy.validate(self.services.keys()).map_err(|(k, m)| invalid(&k, m))?;
        self.release.validate().map_err(|(k, m)| invalid(&k, m))?;
        Ok(())
    }

    /// The project name: `[project] name`, else the root directory's name.
    pub fn project_name(&self) -> String {
        if let Some(name) = &self.project.name {
            return name.clone();
        }
        let root = std::fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "hoist".into())
    }

    /// A path from the config, resolved against the project root.
    pub fn resolve(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        if path.is_absolute() { path.to_path_buf() } else { self.root.join(path) }
    }
}

/// The JSON Schema of `hoist.toml`, derived from the types that read it, so it accepts
/// exactly the keys they do. `docs/hoist.schema.json` is this, for editors; a test keeps
/// both it and docs/config.md in step with the types.
pub fn json_schema() -> schemars::Schema {
    let mut schema = schemars::schema_for!(Config);
    schema.insert("title".into(), FILE_NAME.into());
    schema
}

/// The compose project name rule, `[a-z0-9][a-z0-9_-]*`: the name becomes the compose
/// project and part of state file names on the deploy host, so `../x` or `/` never pass.
pub fn check_project_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "project name `{}` must be lowercase letters, digits, `-` or `_`, starting with a letter or digit",
            name.escape_debug()
        ))
    }
}

/// `deserialize_with` for project names: a bad one is a parse error, which carries the line.
pub(crate) fn project_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let name = String::deserialize(d)?;
    check_project_name(&name).map_err(serde::de::Error::custom)?;
    Ok(Some(name))
}

/// Service names become image tags, compose service names and Kubernetes names.
fn check_service_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "service name `{name}` must be 1 to 63 lowercase letters, digits or `-`, not starting or ending with `-`"
        ))
    }
}

#[cfg(test)]
mod tests;
