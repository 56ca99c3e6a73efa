//! `[version]`: tag format, hash length, initial version, PR-title markers, default bump.

use hoist_version::{Bump, Markers, Policy, TagFormat, TagFormats, Template};
use semver::Version;
use serde::{Deserialize, Deserializer, Serialize};

/// `[version]`
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct VersionConfig {
    /// Release tag format; `{version}` and optionally `{sha}`. Its length is checked while
    /// parsing, so the error has the line.
    #[serde(deserialize_with = "tag_format")]
    pub tag_format: String,
    /// Earlier tag formats, read as release history (never written): `["v{version}"]`
    /// lets `v5.0.1` count before the switch to `v{version}-{sha}`.
    pub tag_formats: Vec<String>,
    /// Hex digits of the release commit in `{sha}`.
    #[schemars(range(min = 4, max = 40))]
    pub sha_length: usize,
    /// The first release when no release tag exists.
    pub initial: String,
    /// Bump when the PR title has no marker: "none" (no release), "patch", "minor" or "major".
    pub default_bump: DefaultBump,
    /// The git remote tags are pushed to and fetched from.
    pub remote: String,
    pub markers: MarkersConfig,
}

/// `[version] default_bump`: the bump for a PR title without a marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DefaultBump {
    #[default]
    None,
    Patch,
    Minor,
    Major,
}

/// `[version.markers]`: the words inside `[...]` that choose each bump.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
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
            tag_formats: Vec::new(),
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

    /// The tag format and the earlier ones release history is also read in.
    pub fn formats(&self) -> TagFormats {
        let earlier = self
            .tag_formats
            .iter()
            .map(|f| TagFormat::new(f, self.sha_length).expect("validated when the config was loaded"))
            .collect();
        TagFormats::new(self.tag_format(), earlier)
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
        for (i, format) in self.tag_formats.iter().enumerate() {
            TagFormat::new(format, self.sha_length)
                .map_err(|e| (format!("version.tag_formats[{i}]"), e.to_string()))?;
        }
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

/// A git ref is a file (`.git/refs/tags/...`), written through `<name>.lock`: each
/// `/`-separated part of a tag must fit a file name (255 bytes) with those 5 more.
pub const MAX_REF_COMPONENT: usize = 250;

/// The longest `{version}` a tag can take (three 20-digit numbers), and the longest `{sha}`.
const LONGEST_VERSION: &str = "18446744073709551615.18446744073709551615.18446744073709551615";
const LONGEST_SHA: usize = 40;

/// Every part of the tag fits a file name, whatever the version and hash grow to.
pub fn check_tag_format_length(format: &str) -> Result<(), String> {
    // Unknown placeholders are reported by the full check in `validate`, with its message.
    let Ok(template) = Template::parse(format, &["version", "sha"]) else { return Ok(()) };
    let longest = template.render_with(&[("version", LONGEST_VERSION), ("sha", &"f".repeat(LONGEST_SHA))]);
    match longest.split('/').map(str::len).max() {
        Some(len) if len > MAX_REF_COMPONENT => Err(format!(
            "tag format `{}` is too long: a release tag can reach {len} bytes in one `/`-separated part, and git stores each part as a file name, which holds at most {MAX_REF_COMPONENT}",
            format.escape_debug()
        )),
        _ => Ok(()),
    }
}

fn tag_format<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let format = String::deserialize(d)?;
    check_tag_format_length(&format).map_err(serde::de::Error::custom)?;
    Ok(format)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Config;

    #[test]
    fn a_tag_format_too_long_for_a_file_name_fails_with_its_line() {
        let parse = |text: &str| Config::parse(text, Path::new("/p/hoist.toml"), Path::new("/p"));
        // 250 bytes in the longest part is the most git can store (with `.lock`).
        let fits = format!("{}v{{version}}-{{sha}}", "x".repeat(250 - 1 - 62 - 1 - 40));
        let c = parse(&format!("[version]\ntag_format = \"{fits}\"\n")).unwrap();
        assert_eq!(c.version.tag_format, fits);
        let long = format!("x{fits}");
        let err = parse(&format!("[version]\nsha_length = 7\ntag_format = \"{long}\"\n")).unwrap_err().to_string();
        assert!(err.starts_with("/p/hoist.toml:3:14: ") && err.contains("251 bytes") && err.contains("250"), "{err}");
        // Each part is a file of its own: a long prefix directory is fine if each part fits.
        let parts = format!("{}/{}/v{{version}}", "a".repeat(200), "b".repeat(200));
        assert!(parse(&format!("[version]\ntag_format = \"{parts}\"\n")).is_ok());
        let err = parse(&format!("[version]\ntag_format = \"{}/v{{version}}\"\n", "a".repeat(251))).unwrap_err();
        assert!(err.to_string().contains("/p/hoist.toml:2:14"), "{err}");
    }
}
