//! Release tag formats: rendering `v{version}-{sha}` and reading tags back.
//!
//! In the default format the `-<hex>` after the version is commit metadata, not a SemVer
//! pre-release (`5.0.2-b321ac` would sort *below* `5.0.2`). So the suffix is split off
//! before the version is parsed, and it only counts when it is a prefix of the SHA of the
//! commit the tag points to (see [`ParsedTag::check_commit`]).

use semver::Version;

use crate::names;
use crate::template::{Part, Template, TemplateError};

/// Placeholders a tag format may use.
pub const TAG_PLACEHOLDERS: &[&str] = &["version", "sha"];

/// The default tag format, the original pipeline's.
pub const DEFAULT_TAG_FORMAT: &str = "v{version}-{sha}";

/// Shortest hash suffix accepted when reading tags (older tags were cut at 6: `v5.0.2-b321ac`).
pub const MIN_SHA_LEN: usize = 4;

/// A tag format such as `v{version}-{sha}`, `v{version}`, `shop-v{version}` or `v{version}+{sha}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFormat {
    template: Template,
    prefix: String,
    /// Literal between `{version}` and `{sha}`, when the format has `{sha}`.
    sha_separator: Option<String>,
    suffix: String,
    sha_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("tag format `{0}` must contain `{{version}}` exactly once")]
    NoVersion(String),
    #[error("tag format `{0}` may contain `{{sha}}` at most once, after `{{version}}`")]
    ShaPlacement(String),
    #[error("tag format `{0}` needs a separator between `{{version}}` and `{{sha}}` (for example `-`)")]
    NoSeparator(String),
    #[error("tag format `{format}`: {reason}")]
    Separator { format: String, reason: String },
    #[error("sha length {0} is out of range; use 4 to 40")]
    ShaLength(usize),
    #[error("tag format `{format}` gives an invalid git tag: {reason}")]
    InvalidRef { format: String, reason: String },
}

/// A tag read back through a format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedTag {
    pub name: String,
    pub version: Version,
    /// The hash suffix as written in the tag, when the format has `{sha}`.
    pub sha: Option<String>,
}

/// Why a tag in the repository does not count as a release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagMismatch {
    #[error("does not start with `{0}`")]
    Prefix(String),
    #[error("does not end with `{0}`")]
    Suffix(String),
    #[error("has no `{0}<hash>` suffix")]
    NoSha(String),
    #[error("hash suffix `{0}` is not hexadecimal")]
    ShaNotHex(String),
    #[error("hash suffix `{sha}` has {len} characters; expected {min} to 40")]
    ShaLength { sha: String, len: usize, min: usize },
    #[error("`{text}` is not a SemVer version ({reason})")]
    NotSemver { text: String, reason: String },
    #[error("hash suffix `{sha}` does not match the commit it points to ({commit})")]
    WrongCommit { sha: String, commit: String },
    /// A release every bump would overflow from (found by the `tag` fuzz target: a patch
    /// bump of `v1.0.18446744073709551615` panicked, or wrapped to `1.0.0` in release builds).
    #[error("`{0}` has a number at its maximum (18446744073709551615), so no release can follow it")]
    Unbumpable(String),
    /// Several hash-like parts after the version (`v5.0.8-aaaaaaa-bbbbbbb`): a tag made by
    /// tagging a tag, not a release. Read as SemVer it would be a pre-release of 5.0.8.
    #[error("stacked suffix `{0}`: more than one hash after the version, so not a release")]
    Stacked(String),
    /// The tag matches none of several formats: each one's reason.
    #[error("matches no tag format: {}", list_reasons(.0))]
    NoFormat(Vec<(String, TagMismatch)>),
    /// The tag's commit is not in HEAD's history (a side branch, a deleted branch).
    #[error("not reachable from HEAD (commit {0})")]
    Unreachable(String),
}

fn list_reasons(reasons: &[(String, TagMismatch)]) -> String {
    reasons.iter().map(|(format, why)| format!("`{format}` {why}")).collect::<Vec<_>>().join("; ")
}

impl TagMismatch {
    /// Whether the tag has the shape of the format that gave this (its prefix, suffix and a
    /// hash where the format puts one), so the reason is the tag's verdict and no other
    /// format may read it: `v5.0.3-abc1234` with a wrong hash must not turn into the
    /// pre-release `5.0.3-abc1234` through an older `v{version}`.
    pub fn is_verdict(&self) -> bool {
        match self {
            TagMismatch::Prefix(_) | TagMismatch::Suffix(_) | TagMismatch::NoSha(_) | TagMismatch::ShaNotHex(_) => {
                false
            }
            TagMismatch::ShaLength { sha, .. } => looks_like_hash(sha),
            TagMismatch::NoFormat(_) => false,
            _ => true,
        }
    }
}

/// The length of the `MAJOR.MINOR.PATCH` digits and dots at the start of `version`.
fn version_core_len(version: &str) -> usize {
    let mut dots = 0;
    for (i, c) in version.char_indices() {
        if c == '.' {
            if dots == 2 {
                return i;
            }
            dots += 1;
        } else if !c.is_ascii_digit() {
            return i;
        }
    }
    version.len()
}

/// Hex that reads as a commit hash rather than a number: it has a letter a-f, or is at
/// least [`MIN_SHA_LEN`] long (`0412345`). `1` or `12` are more likely pre-release numbers.
fn looks_like_hash(text: &str) -> bool {
    !text.is_empty()
        && text.chars().all(|c| c.is_ascii_hexdigit())
        && (text.len() >= MIN_SHA_LEN || text.chars().any(|c| c.is_ascii_alphabetic()))
}

impl TagFormat {
    /// Parse and validate a format; `sha_len` is how many hex digits new tags get.
    ///
    /// ```
    /// use hoist_version::{FormatError, TagFormat};
    ///
    /// assert!(TagFormat::new("v{version}-{sha}", 7).is_ok());
    /// assert!(TagFormat::new("shop-v{version}", 7).is_ok());
    /// assert_eq!(TagFormat::new("v{sha}", 7), Err(FormatError::NoVersion("v{sha}".into())));
    /// assert_eq!(TagFormat::new("{sha}-{version}", 7), Err(FormatError::ShaPlacement("{sha}-{version}".into())));
    /// // The hash needs a separator that cannot be read as part of it.
    /// assert_eq!(TagFormat::new("v{version}{sha}", 7), Err(FormatError::NoSeparator("v{version}{sha}".into())));
    /// assert!(matches!(TagFormat::new("v{version}a{sha}", 7), Err(FormatError::Separator { .. })));
    /// assert_eq!(TagFormat::new("v{version}-{sha}", 3), Err(FormatError::ShaLength(3)));
    /// // Every tag it gives must be a valid git ref.
    /// let err = TagFormat::new("v {version}", 7).unwrap_err();
    /// assert!(err.to_string().starts_with("tag format `v {version}` gives an invalid git tag"), "{err}");
    /// ```
    pub fn new(format: &str, sha_len: usize) -> Result<Self, FormatError> {
        if !(MIN_SHA_LEN..=40).contains(&sha_len) {
            return Err(FormatError::ShaLength(sha_len));
        }
        let template = Template::parse(format, TAG_PLACEHOLDERS)?;
        let parts = template.parts();
        let version_at: Vec<usize> = positions(parts, "version");
        let sha_at: Vec<usize> = positions(parts, "sha");
        if version_at.len() != 1 {
            return Err(FormatError::NoVersion(format.into()));
        }
        let v = version_at[0];
        if sha_at.len() > 1 || sha_at.first().is_some_and(|&s| s < v) {
            return Err(FormatError::ShaPlacement(format.into()));
        }
        let literal = |range: std::ops::Range<usize>| -> String {
            parts[range]
                .iter()
                .map(|p| match p {
                    Part::Literal(s) => s.as_str(),
                    Part::Placeholder(_) => "",
                })
                .collect()
        };
        let prefix = literal(0..v);
        let (sha_separator, suffix) = match sha_at.first() {
            Some(&s) => {
                let sep = literal(v + 1..s);
                if sep.is_empty() {
                    return Err(FormatError::NoSeparator(format.into()));
                }
                if sep.chars().any(|c| c.is_ascii_hexdigit()) {
                    return Err(FormatError::Separator {
                        format: format.into(),
                        reason: "the separator before `{sha}` cannot contain hex digits".into(),
                    });
                }
                (Some(sep), literal(s + 1..parts.len()))
            }
            None => (None, literal(v + 1..parts.len())),
        };
        let this = TagFormat { template, prefix, sha_separator, suffix, sha_len };
        // A format must give a valid git ref for any version; try a demanding one.
        let sample = this.render(&Version::parse("10.20.30-rc.1").expect("valid"), &"0".repeat(40));
        names::check_git_tag(&sample).map_err(|reason| FormatError::InvalidRef { format: format.into(), reason })?;
        Ok(this)
    }

    pub fn as_str(&self) -> &str {
        self.template.as_str()
    }

    pub fn has_sha(&self) -> bool {
        self.sha_separator.is_some()
    }

    pub fn sha_len(&self) -> usize {
        self.sha_len
    }

    /// The tag for `version` at the commit whose full SHA is `commit`.
    ///
    /// ```
    /// use hoist_version::TagFormat;
    /// use semver::Version;
    ///
    /// let commit = "abf2154c0ffee00000000000000000000000000f";
    /// let v = Version::new(5, 0, 2);
    /// assert_eq!(TagFormat::new("v{version}-{sha}", 7)?.render(&v, commit), "v5.0.2-abf2154");
    /// assert_eq!(TagFormat::new("v{version}-{sha}", 10)?.render(&v, commit), "v5.0.2-abf2154c0f");
    /// assert_eq!(TagFormat::new("release/{version}", 7)?.render(&v, commit), "release/5.0.2");
    /// # Ok::<(), hoist_version::FormatError>(())
    /// ```
    pub fn render(&self, version: &Version, commit: &str) -> String {
        let short = &commit[..self.sha_len.min(commit.len())];
        self.template.render_with(&[("version", &version.to_string()), ("sha", short)])
    }

    /// Read a tag name. This checks only the name; call [`ParsedTag::check_commit`] with
    /// the commit the tag points to before trusting a hash suffix.
    ///
    /// ```
    /// use hoist_version::{TagFormat, TagMismatch};
    /// use semver::Version;
    ///
    /// let format = TagFormat::new("v{version}-{sha}", 7)?;
    /// let tag = format.parse("v5.0.1-abf2154")?;
    /// // 5.0.1, not the pre-release 5.0.1-abf2154 (which would sort below 5.0.1).
    /// assert_eq!(tag.version, Version::new(5, 0, 1));
    /// assert_eq!(tag.sha.as_deref(), Some("abf2154"));
    /// // A real pre-release stays one: the hash is what follows the last `-`.
    /// assert_eq!(format.parse("v1.0.0-rc.1-abf2154")?.version.to_string(), "1.0.0-rc.1");
    ///
    /// // A tag that does not match the format says why.
    /// assert_eq!(format.parse("v1.2"), Err(TagMismatch::NoSha("-".into())));
    /// assert_eq!(format.parse("v5.0.1-zzzzzzz"), Err(TagMismatch::ShaNotHex("zzzzzzz".into())));
    /// assert_eq!(format.parse("shop-5.0.1-abf2154").unwrap_err().to_string(), "does not start with `v`");
    /// let err = format.parse("v01.2.3-abf2154").unwrap_err();
    /// assert!(err.to_string().starts_with("`01.2.3` is not a SemVer version"), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(&self, name: &str) -> Result<ParsedTag, TagMismatch> {
        let rest = name.strip_prefix(&self.prefix).ok_or_else(|| TagMismatch::Prefix(self.prefix.clone()))?;
        let rest = rest.strip_suffix(&self.suffix).ok_or_else(|| TagMismatch::Suffix(self.suffix.clone()))?;
        let (version_text, sha) = match &self.sha_separator {
            Some(sep) => {
                let (v, sha) = rest.rsplit_once(sep.as_str()).ok_or_else(|| TagMismatch::NoSha(sep.clone()))?;
                if sha.is_empty() || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(TagMismatch::ShaNotHex(sha.to_string()));
                }
                // What sits between the version core and the hash is a pre-release only if
                // none of its separator-split parts is itself a hash.
                let between = &v[version_core_len(v)..];
                if between.split(sep.as_str()).skip(1).any(looks_like_hash) {
                    return Err(TagMismatch::Stacked(format!("{between}{sep}{sha}")));
                }
                if !(MIN_SHA_LEN..=40).contains(&sha.len()) {
                    return Err(TagMismatch::ShaLength { sha: sha.into(), len: sha.len(), min: MIN_SHA_LEN });
                }
                (v, Some(sha.to_ascii_lowercase()))
            }
            None => (rest, None),
        };
        let version = Version::parse(version_text)
            .map_err(|e| TagMismatch::NotSemver { text: version_text.to_string(), reason: e.to_string() })?;
        if [version.major, version.minor, version.patch].contains(&u64::MAX) {
            return Err(TagMismatch::Unbumpable(version_text.to_string()));
        }
        Ok(ParsedTag { name: name.to_string(), version, sha })
    }
}

/// The format new tags are written in, and the earlier ones history is also read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFormats {
    current: TagFormat,
    earlier: Vec<TagFormat>,
}

impl From<TagFormat> for TagFormats {
    fn from(current: TagFormat) -> Self {
        TagFormats { current, earlier: Vec::new() }
    }
}

impl TagFormats {
    pub fn new(current: TagFormat, earlier: Vec<TagFormat>) -> Self {
        TagFormats { current, earlier }
    }

    /// The format new release tags are rendered with.
    pub fn current(&self) -> &TagFormat {
        &self.current
    }

    /// Read the tag `name` on `commit` through whichever format it was written in.
    ///
    /// Formats with `{sha}` go first (the current one first among them): a tag read with a
    /// hash is read more exactly than as a pre-release. A format whose shape the tag has
    /// decides, even when the answer is no ([`TagMismatch::is_verdict`]).
    ///
    /// ```
    /// use hoist_version::{TagFormat, TagFormats};
    ///
    /// let formats = TagFormats::new(TagFormat::new("v{version}-{sha}", 7)?, vec![TagFormat::new("v{version}", 7)?]);
    /// let commit = "abf2154c0ffee00000000000000000000000000f";
    /// assert_eq!(formats.read("v5.0.2-abf2154", commit)?.version.to_string(), "5.0.2");
    /// assert_eq!(formats.read("v5.0.1", commit)?.version.to_string(), "5.0.1");
    /// assert_eq!(formats.read("v5.0.1-rc.1", commit)?.version.to_string(), "5.0.1-rc.1");
    /// // Hash-shaped, but not this commit's: never the pre-release 5.0.3-1234567.
    /// assert!(formats.read("v5.0.3-1234567", commit).unwrap_err().to_string().contains("does not match the commit"));
    /// assert_eq!(
    ///     formats.read("latest", commit).unwrap_err().to_string(),
    ///     "matches no tag format: `v{version}-{sha}` does not start with `v`; `v{version}` does not start with `v`"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read(&self, name: &str, commit: &str) -> Result<ParsedTag, TagMismatch> {
        let parsed = self.parse(name)?;
        parsed.check_commit(commit)?;
        Ok(parsed)
    }

    /// Read a tag name alone (a `--tag` given on a deploy host, where the commit is not
    /// known), in the same order as [`TagFormats::read`].
    pub fn parse(&self, name: &str) -> Result<ParsedTag, TagMismatch> {
        let all = || std::iter::once(&self.current).chain(&self.earlier);
        let ordered = all().filter(|f| f.has_sha()).chain(all().filter(|f| !f.has_sha()));
        let mut reasons = Vec::new();
        for format in ordered {
            match format.parse(name) {
                Ok(p) => return Ok(p),
                Err(e) if e.is_verdict() => return Err(e),
                Err(e) => reasons.push((format.as_str().to_string(), e)),
            }
        }
        if reasons.len() == 1 { Err(reasons.remove(0).1) } else { Err(TagMismatch::NoFormat(reasons)) }
    }
}

impl ParsedTag {
    /// Accept the hash suffix only if it is a prefix of the commit the tag points to.
    ///
    /// ```
    /// use hoist_version::{TagFormat, TagMismatch};
    ///
    /// let tag = TagFormat::new("v{version}-{sha}", 7)?.parse("v5.0.1-abf2154")?;
    /// assert_eq!(tag.check_commit("abf2154c0ffee00000000000000000000000000f"), Ok(()));
    /// assert_eq!(
    ///     tag.check_commit("1234567890"),
    ///     Err(TagMismatch::WrongCommit { sha: "abf2154".into(), commit: "1234567890".into() })
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_commit(&self, commit: &str) -> Result<(), TagMismatch> {
        match &self.sha {
            Some(sha) if !commit.to_ascii_lowercase().starts_with(sha.as_str()) => {
                Err(TagMismatch::WrongCommit { sha: sha.clone(), commit: commit.to_string() })
            }
            _ => Ok(()),
        }
    }
}

fn positions(parts: &[Part], name: &str) -> Vec<usize> {
    parts.iter().enumerate().filter(|(_, p)| matches!(p, Part::Placeholder(n) if n == name)).map(|(i, _)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "abf2154c0ffee00000000000000000000000000f";

    #[test]
    fn formats() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("v{version}-{sha}", Ok("v5.0.2-abf2154")),
            ("v{version}", Ok("v5.0.2")),
            ("{version}", Ok("5.0.2")),
            ("v{version}+{sha}", Ok("v5.0.2+abf2154")),
            ("shop-v{version}", Ok("shop-v5.0.2")),
            ("release/{version}_{sha}", Ok("release/5.0.2_abf2154")),
            ("v{sha}", Err("exactly once")),
            ("{sha}-{version}", Err("at most once, after")),
            ("v{version}{sha}", Err("separator")),
            ("v{version}a{sha}", Err("hex digits")),
            ("v {version}", Err("invalid git tag")),
            ("v{version}-{hash}", Err("unknown placeholder `{hash}`")),
        ];
        for (format, want) in cases {
            let got = TagFormat::new(format, 7).map(|f| f.render(&Version::new(5, 0, 2), SHA));
            match (want, got) {
                (Ok(w), Ok(g)) => assert_eq!(&g, w, "{format}"),
                (Err(w), Err(e)) => assert!(e.to_string().contains(w), "{format}: {e}"),
                (w, g) => panic!("{format}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn sha_length_is_configurable_and_bounded() {
        let f = TagFormat::new("v{version}-{sha}", 10).unwrap();
        assert_eq!(f.render(&Version::new(1, 0, 0), SHA), "v1.0.0-abf2154c0f");
        assert!(TagFormat::new("v{version}-{sha}", 3).is_err());
        assert!(TagFormat::new("v{version}-{sha}", 41).is_err());
    }

    #[test]
    fn parse_default_format() {
        let f = TagFormat::new(DEFAULT_TAG_FORMAT, 7).unwrap();
        // (tag, Ok((version, sha)) or Err(reason fragment))
        let cases: &[(&str, Result<(&str, &str), &str>)] = &[
            ("v5.0.1-abf2154", Ok(("5.0.1", "abf2154"))),
            ("v5.0.10-aaaaaaa", Ok(("5.0.10", "aaaaaaa"))),
            ("v5.0.2-b321ac", Ok(("5.0.2", "b321ac"))),
            ("v5.0.1-ABF2154", Ok(("5.0.1", "abf2154"))),
            // All digits with a leading zero: invalid as a SemVer pre-release, fine as a hash.
            ("v1.0.0-0412345", Ok(("1.0.0", "0412345"))),
            ("v1.0.0-rc.1-abf2154", Ok(("1.0.0-rc.1", "abf2154"))),
            ("v1.2", Err("has no `-<hash>` suffix")),
            ("v1.2-abf2154", Err("not a SemVer")),
            ("vX.Y.Z-abf2154", Err("not a SemVer")),
            ("v01.2.3-abf2154", Err("not a SemVer")),
            ("v5.0.1-zzzzzzz", Err("not hexadecimal")),
            ("v5.0.1-abc", Err("3 characters")),
            ("5.0.1-abf2154", Err("does not start with `v`")),
            ("v5.0.1", Err("has no `-<hash>` suffix")),
            ("v1.0.18446744073709551615-abf2154", Err("at its maximum")),
            ("v18446744073709551615.0.0-abf2154", Err("at its maximum")),
            ("v18446744073709551614.0.0-abf2154", Ok(("18446744073709551614.0.0", "abf2154"))),
        ];
        for (tag, want) in cases {
            let got = f.parse(tag);
            match (want, got) {
                (Ok((v, s)), Ok(p)) => {
                    assert_eq!(p.version.to_string(), *v, "{tag}");
                    assert_eq!(p.sha.as_deref(), Some(*s), "{tag}");
                }
                (Err(w), Err(e)) => assert!(e.to_string().contains(w), "{tag}: {e}"),
                (w, g) => panic!("{tag}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn parse_other_formats() {
        let plain = TagFormat::new("v{version}", 7).unwrap();
        assert_eq!(plain.parse("v1.2.3").unwrap().version, Version::new(1, 2, 3));
        // In a format without {sha}, a `-suffix` is a real pre-release.
        assert_eq!(plain.parse("v1.2.3-rc.1").unwrap().version.pre.as_str(), "rc.1");
        assert!(plain.parse("shop-v1.2.3").is_err());

        let prefixed = TagFormat::new("shop-v{version}", 7).unwrap();
        assert_eq!(prefixed.parse("shop-v2.0.0").unwrap().version, Version::new(2, 0, 0));
        assert!(prefixed.parse("v2.0.0").is_err());

        let build = TagFormat::new("v{version}+{sha}", 7).unwrap();
        let p = build.parse("v5.0.2+b321ac1").unwrap();
        assert_eq!((p.version, p.sha.as_deref()), (Version::new(5, 0, 2), Some("b321ac1")));

        let bare = TagFormat::new("{version}", 7).unwrap();
        assert!(bare.parse("v1.0.0").is_err());
        assert_eq!(bare.parse("1.0.0").unwrap().version, Version::new(1, 0, 0));
    }

    #[test]
    fn stacked_suffixes_are_not_prereleases() {
        // (format, tag, Ok(version) or Err(reason fragment))
        let cases: &[(&str, &str, Result<&str, &str>)] = &[
            (DEFAULT_TAG_FORMAT, "v5.0.8-a-b-c", Err("stacked suffix `-a-b-c`")),
            (DEFAULT_TAG_FORMAT, "v5.0.8-aaaaaaa-bbbbbbb", Err("stacked suffix `-aaaaaaa-bbbbbbb`")),
            (DEFAULT_TAG_FORMAT, "v5.0.8-rc.1-aaaaaaa-bbbbbbb", Err("stacked suffix `-rc.1-aaaaaaa-bbbbbbb`")),
            (DEFAULT_TAG_FORMAT, "v5.0.8-0412345-abf2154", Err("stacked")),
            (DEFAULT_TAG_FORMAT, "v5.0.8-rc.1-abf2154", Ok("5.0.8-rc.1")),
            (DEFAULT_TAG_FORMAT, "v5.0.8-rc-1-abf2154", Ok("5.0.8-rc-1")),
            (DEFAULT_TAG_FORMAT, "v5.0.8-beta-abf2154", Ok("5.0.8-beta")),
            ("v{version}+{sha}", "v5.0.8+aaaaaaa+bbbbbbb", Err("stacked suffix `+aaaaaaa+bbbbbbb`")),
            ("v{version}+{sha}", "v5.0.8-rc.1+abf2154", Ok("5.0.8-rc.1")),
            // A separator that also splits the version core does not make the core a hash.
            ("v{version}_{sha}", "v5.0.1234_abf2154", Ok("5.0.1234")),
            // Without `{sha}` the suffix is a pre-release, as SemVer says.
            ("v{version}", "v5.0.8-a-b-c", Ok("5.0.8-a-b-c")),
        ];
        for (format, tag, want) in cases {
            let got = TagFormat::new(format, 7).unwrap().parse(tag);
            match (want, got) {
                (Ok(v), Ok(p)) => assert_eq!(p.version.to_string(), *v, "{tag}"),
                (Err(w), Err(e)) => assert!(e.to_string().contains(w), "{tag}: {e}"),
                (w, g) => panic!("{tag}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn several_formats_read_each_tag_once() {
        let current = TagFormat::new(DEFAULT_TAG_FORMAT, 7).unwrap();
        let plain = TagFormat::new("v{version}", 7).unwrap();
        let shop = TagFormat::new("shop-{version}", 7).unwrap();
        // The current format without a hash, the earlier one with: the hash reading still goes first.
        let switched_back = TagFormats::new(plain.clone(), vec![current.clone()]);
        let history = TagFormats::new(current.clone(), vec![plain.clone(), shop]);
        // (formats, tag, Ok(version) or Err(reason fragment))
        let cases: &[(&TagFormats, &str, Result<&str, &str>)] = &[
            (&history, "v5.0.2-abf2154", Ok("5.0.2")),
            (&history, "v5.0.1", Ok("5.0.1")),
            (&history, "shop-4.0.0", Ok("4.0.0")),
            (&history, "v5.0.1-rc.1", Ok("5.0.1-rc.1")),
            (&history, "v5.0.1-1", Ok("5.0.1-1")),
            (&history, "v5.0.3-1234567", Err("does not match the commit")),
            (&history, "v5.0.3-abc", Err("3 characters")),
            (&history, "v5.0.8-aaaaaaa-bbbbbbb", Err("stacked")),
            // `v{version}`'s shape, but no SemVer: that format's verdict.
            (&history, "v1.2", Err("`1.2` is not a SemVer version")),
            (
                &history,
                "shop_4.0.0",
                Err(
                    "matches no tag format: `v{version}-{sha}` does not start with `v`; `v{version}` does not start with `v`; `shop-{version}` does not start with `shop-`",
                ),
            ),
            (&switched_back, "v5.0.2-abf2154", Ok("5.0.2")),
            (&switched_back, "v5.0.3", Ok("5.0.3")),
        ];
        for (formats, tag, want) in cases {
            match (want, formats.read(tag, SHA)) {
                (Ok(v), Ok(p)) => assert_eq!(p.version.to_string(), *v, "{tag}"),
                (Err(w), Err(e)) => assert!(e.to_string().contains(w), "{tag}: {e}"),
                (w, g) => panic!("{tag}: want {w:?}, got {g:?}"),
            }
        }
        assert_eq!(history.current(), &current);
    }

    #[test]
    fn hash_must_prefix_the_commit() {
        let f = TagFormat::new(DEFAULT_TAG_FORMAT, 7).unwrap();
        let p = f.parse("v5.0.1-abf2154").unwrap();
        assert!(p.check_commit(SHA).is_ok());
        assert!(p.check_commit(&SHA.to_uppercase()).is_ok());
        let err = p.check_commit("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb").unwrap_err();
        assert!(err.to_string().contains("does not match the commit"), "{err}");
        let plain = TagFormat::new("v{version}", 7).unwrap().parse("v1.0.0").unwrap();
        assert!(plain.check_commit("anything").is_ok());
    }
}
