//! `[version]`: tag format, hash length, initial version, PR-title markers, default bump.

use hoist_version::{Bump, Markers, Policy, TagFormat};
use semver::Version;
use serde::Deserialize;

/// `[version]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VersionConfig {
    /// Release tag format; `{version}` and optionally `{sha}`.
    pub tag_format: String,
    /// Hex digits of the release commit in `{sha}`.
    pub sha_length: usize,
    /// The first release when no release tag exists.
    pub initial: String,
    /// Bump when the PR title has no marker: "none" (no release), "patch", "minor" or "major".
    pub default_bump: DefaultBump,
    /// The git remote tags are pushed to and fetched from.
    pub remote: String,
    pub markers: MarkersConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultBump {
    #[default]
    None,
    Patch,
    Minor,
    Major,
}

/// `[version.markers]`: the words inside `[...]` that choose each bump.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarkersConfig {
    pub major: Vec<String>,
    pub minor: Vec<String>,
    pub patch: Vec<String>,
}

impl Default for MarkersConfig {
    fn default() -> Self {
        let m = Markers::default();
        MarkersConfig { major: m.major, minor: m.minor, patch: m.patch }
    }
}

impl Default for VersionConfig {
    fn default() -> Self {
        VersionConfig {
            tag_format: hoist_version::DEFAULT_TAG_FORMAT.into(),
            sha_length: 7,
            initial: "0.1.0".into(),
            default_bump: DefaultBump::None,
            remote: "origin".into(),
            markers: MarkersConfig::default(),
        }
    }
}

impl VersionConfig {
    /// The parsed tag format.
    pub fn tag_format(&self) -> TagFormat {
        TagFormat::new(&self.tag_format, self.sha_length).expect("validated when the config was loaded")
    }

    /// The versioning policy these settings describe.
    pub fn policy(&self) -> Policy {
        Policy {
            markers: Markers {
                major: self.markers.major.clone(),
                minor: self.markers.minor.clone(),
                patch: self.markers.patch.clone(),
            },
            default_bump: match self.default_bump {
                DefaultBump::None => None,
                DefaultBump::Patch => Some(Bump::Patch),
                DefaultBump::Minor => Some(Bump::Minor),
                DefaultBump::Major => Some(Bump::Major),
            },
            initial: Version::parse(&self.initial).expect("validated when the config was loaded"),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        TagFormat::new(&self.tag_format, self.sha_length).map_err(|e| {
            let key = if matches!(e, hoist_version::FormatError::ShaLength(_)) {
                "version.sha_length"
            } else {
                "version.tag_format"
            };
            (key.to_string(), e.to_string())
        })?;
        Version::parse(&self.initial)
            .map_err(|e| ("version.initial".into(), format!("`{}` is not a SemVer version: {e}", self.initial)))?;
        let mut seen: Vec<String> = Vec::new();
        for (kind, words) in
            [("major", &self.markers.major), ("minor", &self.markers.minor), ("patch", &self.markers.patch)]
        {
            for w in words {
                let word = w.trim().to_ascii_lowercase();
                if word.is_empty() || word.contains(['[', ']']) {
                    return Err((
                        format!("version.markers.{kind}"),
                        format!("marker word `{w}` must be non-empty text without brackets"),
                    ));
                }
                if seen.contains(&word) {
                    return Err((
                        format!("version.markers.{kind}"),
                        format!("marker word `{w}` is used for two bumps"),
                    ));
                }
                seen.push(word);
            }
        }
        if self.remote.is_empty() || self.remote.starts_with('-') {
            return Err(("version.remote".into(), format!("`{}` is not a usable git remote name", self.remote)));
        }
        Ok(())
    }
}
