//! Target platforms (`linux/amd64`, `linux/arm64/v8`): parsing, display, and which entry of
//! an image index or Docker manifest list serves a platform.
//!
//! Matching follows containerd's rules for the cases a JVM service meets: OS and
//! architecture equal; a variant asked for must match, where `arm64` without a variant is
//! `arm64/v8`; an index entry with a variant serves a request without one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The platform images are built for when `[image] platforms` is empty.
pub const DEFAULT_PLATFORM: &str = "linux/amd64";

/// `os/architecture[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/amd64`.
    pub fn default_target() -> Platform {
        DEFAULT_PLATFORM.parse().expect("the default platform parses")
    }

    /// Whether an index entry for `os`/`architecture`/`variant` serves this platform.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        if self.os != os || self.architecture != architecture {
            return false;
        }
        let norm = |v: Option<&str>| -> Option<String> {
            match (architecture, v) {
                ("arm64", None) => Some("v8".into()),
                (_, v) => v.map(str::to_string),
            }
        };
        match &self.variant {
            None => true,
            Some(want) => norm(variant).as_deref() == norm(Some(want)).as_deref(),
        }
    }

    /// Whether an oci-spec descriptor platform serves this platform.
    pub fn matches_spec(&self, p: &oci_spec::image::Platform) -> bool {
        self.matches(&p.os().to_string(), &p.architecture().to_string(), p.variant().as_deref())
    }

    /// The entry of `index` that serves this platform, or the platforms the index lists
    /// (`os/arch[/variant]`) for the error that says there is none.
    pub fn pick<'a>(
        &self,
        index: &'a oci_spec::image::ImageIndex,
    ) -> Result<&'a oci_spec::image::Descriptor, Vec<String>> {
        let entries = index.manifests();
        entries.iter().find(|m| m.platform().as_ref().is_some_and(|p| self.matches_spec(p))).ok_or_else(|| {
            entries
                .iter()
                .filter_map(|m| m.platform().as_ref())
                .map(|p| {
                    let variant = p.variant().as_ref().map(|v| format!("/{v}")).unwrap_or_default();
                    format!("{}/{}{variant}", p.os(), p.architecture())
                })
                .collect()
        })
    }

    /// As an oci-spec platform, for index entries and image configs.
    pub fn to_spec(&self) -> oci_spec::image::Platform {
        let mut p = oci_spec::image::Platform::default();
        p.set_os(self.os.as_str().into());
        p.set_architecture(self.architecture.as_str().into());
        p.set_variant(self.variant.clone());
        p
    }

    /// `linux-arm64-v8`: a form usable in file and ref names.
    pub fn slug(&self) -> String {
        self.to_string().replace('/', "-")
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Why a platform string is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a platform; write os/architecture[/variant], e.g. linux/amd64 or linux/arm64")]
pub struct BadPlatform(pub String);

impl FromStr for Platform {
    type Err = BadPlatform;
    fn from_str(s: &str) -> Result<Platform, BadPlatform> {
        let bad = || BadPlatform(s.to_string());
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| ok(p)) {
            return Err(bad());
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }
}

impl TryFrom<String> for Platform {
    type Error = BadPlatform;
    fn try_from(s: String) -> Result<Platform, BadPlatform> {
        s.parse()
    }
}

impl From<Platform> for String {
    fn from(p: Platform) -> String {
        p.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        for (text, ok) in [
            ("linux/amd64", true),
            ("linux/arm64/v8", true),
            ("linux/arm/v7", true),
            ("linux", false),
            ("linux/", false),
            ("Linux/amd64", false),
            ("linux/amd64/v8/x", false),
            ("linux/am d64", false),
        ] {
            let parsed = text.parse::<Platform>();
            assert_eq!(parsed.is_ok(), ok, "{text}");
            if let Ok(p) = parsed {
                assert_eq!(p.to_string(), text);
            }
        }
    }

    #[test]
    fn matching_rules() {
        let p = |s: &str| s.parse::<Platform>().unwrap();
        for (want, os, arch, variant, expected) in [
            ("linux/amd64", "linux", "amd64", None, true),
            ("linux/amd64", "linux", "arm64", None, false),
            ("linux/amd64", "windows", "amd64", None, false),
            ("linux/arm64", "linux", "arm64", Some("v8"), true),
            ("linux/arm64/v8", "linux", "arm64", None, true),
            ("linux/arm64/v8", "linux", "arm64", Some("v8"), true),
            ("linux/arm/v7", "linux", "arm", Some("v6"), false),
            ("linux/arm/v7", "linux", "arm", Some("v7"), true),
        ] {
            assert_eq!(p(want).matches(os, arch, variant), expected, "{want} vs {os}/{arch}/{variant:?}");
        }
    }
}
