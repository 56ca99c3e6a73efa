//! Bump levels, the `[major]`/`[minor]`/`[patch]` markers in a PR title, and applying a bump.

use semver::{BuildMetadata, Prerelease, Version};
use serde::{Deserialize, Serialize};

/// How much a release moves the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    Patch,
    Minor,
    Major,
}

impl Bump {
    pub fn as_str(self) -> &'static str {
        match self {
            Bump::Patch => "patch",
            Bump::Minor => "minor",
            Bump::Major => "major",
        }
    }

    /// The next version after `current`.
    ///
    /// The bump is never downshifted on 0.x: `[major]` on 0.4.2 gives 1.0.0. A pre-release
    /// is promoted the way npm does it: `1.0.0-rc.1` + patch gives `1.0.0`, and + major
    /// gives `1.0.0` too, because 1.0.0 has not been released yet.
    ///
    /// ```
    /// use hoist_version::Bump;
    /// use semver::Version;
    ///
    /// let v = |s: &str| Version::parse(s).unwrap();
    /// assert_eq!(Bump::Patch.apply(&v("5.0.1")), v("5.0.2"));
    /// assert_eq!(Bump::Minor.apply(&v("5.0.1")), v("5.1.0"));
    /// assert_eq!(Bump::Major.apply(&v("5.0.1")), v("6.0.0"));
    /// assert_eq!(Bump::Major.apply(&v("0.4.2")), v("1.0.0"));
    /// assert_eq!(Bump::Patch.apply(&v("1.0.0-rc.1")), v("1.0.0"));
    /// assert_eq!(Bump::Major.apply(&v("1.0.0-rc.1")), v("1.0.0"));
    /// assert_eq!(Bump::Major.apply(&v("1.2.0-rc.1")), v("2.0.0"));
    /// // Build metadata belongs to the old release.
    /// assert_eq!(Bump::Patch.apply(&v("1.2.3+build.5")), v("1.2.4"));
    /// ```
    pub fn apply(self, current: &Version) -> Version {
        let mut next = Version::new(current.major, current.minor, current.patch);
        let pre = !current.pre.is_empty();
        match self {
            Bump::Major => {
                if !(pre && current.minor == 0 && current.patch == 0) {
                    next.major += 1;
                }
                next.minor = 0;
                next.patch = 0;
            }
            Bump::Minor => {
                if !(pre && current.patch == 0) {
                    next.minor += 1;
                }
                next.patch = 0;
            }
            Bump::Patch => {
                if !pre {
                    next.patch += 1;
                }
            }
        }
        next.pre = Prerelease::EMPTY;
        next.build = BuildMetadata::EMPTY;
        next
    }
}

impl std::fmt::Display for Bump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The words that mark each bump inside `[...]` in a PR title (compared case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Markers {
    pub major: Vec<String>,
    pub minor: Vec<String>,
    pub patch: Vec<String>,
}

impl Default for Markers {
    fn default() -> Self {
        Markers { major: vec!["major".into()], minor: vec!["minor".into()], patch: vec!["patch".into()] }
    }
}

/// A title that names two different bumps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the PR title has conflicting markers {}", .found.iter().map(|m| format!("`[{m}]`")).collect::<Vec<_>>().join(" and "))]
pub struct ConflictingMarkers {
    /// The markers as written in the title, in order.
    pub found: Vec<String>,
}

impl Markers {
    /// The bump a title asks for: `Ok(None)` when it has no marker.
    ///
    /// ```
    /// use hoist_version::{Bump, Markers};
    ///
    /// let markers = Markers::default();
    /// assert_eq!(markers.find("[patch] fix login")?, Some(Bump::Patch));
    /// assert_eq!(markers.find("add chat [MINOR]")?, Some(Bump::Minor));
    /// assert_eq!(markers.find("[patch] and again [patch]")?, Some(Bump::Patch));
    /// assert_eq!(markers.find("fix login")?, None);
    /// assert_eq!(markers.find("[wip] patch without brackets")?, None);
    /// // Two different bumps: the markers as written, in order.
    /// let err = markers.find("[Minor] then [major]").unwrap_err();
    /// assert_eq!(err.found, ["Minor", "major"]);
    /// assert_eq!(err.to_string(), "the PR title has conflicting markers `[Minor]` and `[major]`");
    ///
    /// let words = Markers { major: vec!["breaking".into()], minor: vec!["feat".into()], patch: vec!["fix".into()] };
    /// assert_eq!(words.find("[feat] chat")?, Some(Bump::Minor));
    /// assert_eq!(words.find("[patch] not a word here")?, None);
    /// # Ok::<(), hoist_version::ConflictingMarkers>(())
    /// ```
    pub fn find(&self, title: &str) -> Result<Option<Bump>, ConflictingMarkers> {
        let mut found: Vec<(Bump, String)> = Vec::new();
        let mut rest = title;
        while let Some(open) = rest.find('[') {
            let after = &rest[open + 1..];
            let Some(close) = after.find(']') else { break };
            let word = after[..close].trim();
            if let Some(bump) = self.classify(word) {
                found.push((bump, word.to_string()));
            }
            rest = &after[close + 1..];
        }
        let first = match found.first() {
            None => return Ok(None),
            Some((bump, _)) => *bump,
        };
        if found.iter().any(|(b, _)| *b != first) {
            let mut seen = Vec::new();
            for (b, w) in &found {
                if !seen.iter().any(|(sb, _): &(Bump, String)| sb == b) {
                    seen.push((*b, w.clone()));
                }
            }
            return Err(ConflictingMarkers { found: seen.into_iter().map(|(_, w)| w).collect() });
        }
        Ok(Some(first))
    }

    fn classify(&self, word: &str) -> Option<Bump> {
        let is = |list: &[String]| list.iter().any(|w| w.eq_ignore_ascii_case(word));
        if is(&self.major) {
            Some(Bump::Major)
        } else if is(&self.minor) {
            Some(Bump::Minor)
        } else if is(&self.patch) {
            Some(Bump::Patch)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn apply_table() {
        let cases = [
            ("5.0.1", Bump::Patch, "5.0.2"),
            ("5.0.1", Bump::Minor, "5.1.0"),
            ("5.0.1", Bump::Major, "6.0.0"),
            ("5.0.9", Bump::Patch, "5.0.10"),
            ("0.4.2", Bump::Major, "1.0.0"),
            ("0.4.2", Bump::Minor, "0.5.0"),
            ("0.4.2", Bump::Patch, "0.4.3"),
            ("0.0.1", Bump::Major, "1.0.0"),
            ("1.0.0-rc.1", Bump::Patch, "1.0.0"),
            ("1.0.0-rc.1", Bump::Minor, "1.0.0"),
            ("1.0.0-rc.1", Bump::Major, "1.0.0"),
            ("1.2.0-rc.1", Bump::Major, "2.0.0"),
            ("1.2.0-rc.1", Bump::Minor, "1.2.0"),
            ("1.2.3-rc.1", Bump::Minor, "1.3.0"),
            ("1.2.3+build.5", Bump::Patch, "1.2.4"),
        ];
        for (from, bump, want) in cases {
            assert_eq!(bump.apply(&v(from)).to_string(), want, "{from} + {bump}");
        }
    }

    #[test]
    fn markers_table() {
        let m = Markers::default();
        let cases: &[(&str, Result<Option<Bump>, &str>)] = &[
            ("[patch] fix login", Ok(Some(Bump::Patch))),
            ("fix login [PATCH]", Ok(Some(Bump::Patch))),
            ("[Minor] add chat", Ok(Some(Bump::Minor))),
            ("[major] new API", Ok(Some(Bump::Major))),
            ("[ major ] spaced", Ok(Some(Bump::Major))),
            ("[patch] and again [patch]", Ok(Some(Bump::Patch))),
            ("fix login", Ok(None)),
            ("patch without brackets", Ok(None)),
            ("[wip] [docs]", Ok(None)),
            ("[patch", Ok(None)),
            ("$(touch /tmp/x) [patch]", Ok(Some(Bump::Patch))),
            ("[minor] then [major]", Err("`[minor]` and `[major]`")),
            ("[patch][minor][patch]", Err("`[patch]` and `[minor]`")),
        ];
        for (title, want) in cases {
            match (want, m.find(title)) {
                (Ok(w), Ok(g)) => assert_eq!(&g, w, "{title}"),
                (Err(w), Err(e)) => assert!(e.to_string().contains(w), "{title}: {e}"),
                (w, g) => panic!("{title}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn custom_words() {
        let m = Markers {
            major: vec!["breaking".into()],
            minor: vec!["feature".into(), "feat".into()],
            patch: vec!["fix".into()],
        };
        assert_eq!(m.find("[FEAT] x").unwrap(), Some(Bump::Minor));
        assert_eq!(m.find("[breaking] x").unwrap(), Some(Bump::Major));
        assert_eq!(m.find("[patch] x").unwrap(), None);
    }
}
