//! `[image]` and `[services.<name>.image]`: how images are made and where they are kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `[image]`: defaults for every service.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ImageConfig {
    /// The local OCI image layout, relative to the root.
    pub layout: String,
    /// The base image: a ref in the local layout (`shop-jre:17`), or any registry
    /// reference (`eclipse-temurin:17-jre`, `ghcr.io/org/jre:17`, `…@sha256:…`), resolved
    /// to a digest pinned in `hoist.lock`.
    pub base: Option<String>,
    /// Platforms to build for (`os/arch[/variant]`); empty means `linux/amd64`. With more
    /// than one, each service's tag is an OCI index of one image per platform.
    pub platforms: Vec<String>,
    /// Layer compression: "gzip" (default) or "zstd".
    pub compression: Compression,
    /// Compression level; defaults to a fast one for the chosen backend.
    pub level: Option<u32>,
    /// Defaults for every service's image config.
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
}

impl Default for ImageConfig {
    fn default() -> Self {
        ImageConfig {
            layout: ".hoist/oci".into(),
            base: None,
            platforms: Vec::new(),
            compression: Compression::Gzip,
            level: None,
            entrypoint: None,
            cmd: None,
            env: BTreeMap::new(),
            workdir: None,
            user: None,
            labels: BTreeMap::new(),
        }
    }
}

/// Layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
}

/// How a jar artifact is split into layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Layering {
    /// Split Spring Boot fat jars and thin jars with a `lib/` directory; keep others whole.
    #[default]
    Auto,
    /// Always one layer.
    Whole,
}

/// `[services.<name>.image]`: per-service overrides.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceImage {
    /// Base image reference, overriding `[image] base`.
    pub base: Option<String>,
    /// Build from this Dockerfile (the supported subset) instead of the artifact.
    pub dockerfile: Option<String>,
    /// Where the artifact goes in the image (default `/app.jar` for jars, `/app/<name>` otherwise).
    pub artifact_path: Option<String>,
    pub layering: Layering,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// Exposed ports, e.g. `["8080/tcp"]` or `[8080]`.
    #[schemars(schema_with = "ports_schema")]
    pub ports: Vec<toml::Value>,
    pub labels: BTreeMap<String, String>,
}

/// `ports` holds raw TOML values so `validate` can name the bad one; the schema says
/// what passes there.
fn ports_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {
            "anyOf": [
                { "type": "integer", "minimum": 1, "maximum": 65535 },
                { "type": "string", "pattern": "^[0-9]+(/(tcp|udp))?$" }
            ]
        }
    })
}

impl ImageConfig {
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        if self.layout.trim().is_empty() {
            return Err(("image.layout".into(), "must be a directory path".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.platforms {
            if !crate::lock::is_platform(p) {
                return Err((
                    "image.platforms".into(),
                    format!("`{p}` is not a platform; write os/architecture[/variant], e.g. \"linux/arm64\""),
                ));
            }
            if !seen.insert(p) {
                return Err(("image.platforms".into(), format!("`{p}` is listed twice")));
            }
        }
        if let Some(level) = self.level {
            let max = match self.compression {
                Compression::Gzip => 9,
                Compression::Zstd => 22,
            };
            if level > max {
                return Err(("image.level".into(), format!("{level} is above the maximum {max} for this compression")));
            }
        }
        Ok(())
    }
}

impl ServiceImage {
    pub(crate) fn validate(&self, service: &str) -> Result<(), (String, String)> {
        for port in &self.ports {
            let ok = match port {
                toml::Value::Integer(n) => (1..=65535).contains(n),
                toml::Value::String(s) => {
                    let (num, proto) = s.split_once('/').unwrap_or((s.as_str(), "tcp"));
                    num.parse::<u16>().is_ok_and(|n| n > 0) && (proto == "tcp" || proto == "udp")
                }
                _ => false,
            };
            if !ok {
                return Err((
                    format!("services.{service}.image.ports"),
                    format!("`{port}` is not a port; write 8080 or \"8080/tcp\""),
                ));
            }
        }
        Ok(())
    }

    /// Ports as `8080/tcp` strings.
    pub fn port_specs(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| match p {
                toml::Value::Integer(n) => format!("{n}/tcp"),
                toml::Value::String(s) if s.contains('/') => s.clone(),
                toml::Value::String(s) => format!("{s}/tcp"),
                other => other.to_string(),
            })
            .collect()
    }
}
