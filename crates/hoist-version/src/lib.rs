//! Pure release-versioning rules: which tag is the latest release, what the next one is.
//!
//! No I/O happens here: the git adapter lists tags with the commits they point to, and
//! this crate decides. Everything is table-tested.

pub mod bump;
pub mod names;
pub mod naming;
pub mod tag;
pub mod template;
pub mod typo;

use semver::Version;
use serde::Serialize;

pub use bump::{Bump, ConflictingMarkers, Markers};
pub use tag::{DEFAULT_TAG_FORMAT, FormatError, ParsedTag, TagFormat, TagFormats, TagMismatch};
pub use template::{Template, TemplateError};
pub use typo::NearMiss;

/// A tag in the repository and the commit it points to (peeled, for annotated tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRef {
    pub name: String,
    pub commit: String,
    /// Where the commit sits in HEAD's history: higher is nearer HEAD (the git adapter
    /// gives its index in `git rev-list --topo-order --reverse HEAD`). `None` when HEAD
    /// cannot reach it, so the tag is no release of this branch.
    pub position: Option<usize>,
}

impl TagRef {
    /// A tag on a commit of HEAD's history, at `position` (higher is nearer HEAD).
    pub fn reachable(name: &str, commit: &str, position: usize) -> Self {
        TagRef { name: name.into(), commit: commit.into(), position: Some(position) }
    }
}

/// A tag that counts as a release. `version` is serialised as its SemVer text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Release {
    pub tag: String,
    #[serde(serialize_with = "ser_display")]
    pub version: Version,
    pub commit: String,
}

/// A tag that does not count, and why. Serialised with `reason` as its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Ignored {
    pub tag: String,
    #[serde(serialize_with = "ser_display")]
    #[schemars(with = "String")]
    pub reason: TagMismatch,
}

/// The releases among a set of tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Scan {
    /// Releases, highest version first (equal versions nearest HEAD first).
    pub releases: Vec<Release>,
    pub ignored: Vec<Ignored>,
}

impl Scan {
    /// The highest release by SemVer precedence (not by date, not by tag name); of one
    /// version tagged twice, the tag on the commit nearer HEAD.
    pub fn latest(&self) -> Option<&Release> {
        self.releases.first()
    }

    /// A release whose tag points at `commit`, if any (a re-run on a tagged HEAD).
    pub fn at_commit(&self, commit: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.commit == commit)
    }
}

/// Sort `tags` into releases and ignored tags.
///
/// A tag counts when it matches one of the formats, its hash suffix is a prefix of the
/// commit it points to, and HEAD can reach that commit; every other tag lands in
/// [`Scan::ignored`] with the reason. Releases come highest SemVer precedence first,
/// whatever order git listed them in; of equal versions (one version tagged twice, at
/// different commits) the one nearer HEAD comes first:
///
/// ```
/// use hoist_version::{DEFAULT_TAG_FORMAT, TagFormat, TagFormats, TagRef, scan};
///
/// let formats = TagFormats::new(TagFormat::new(DEFAULT_TAG_FORMAT, 7)?, vec![TagFormat::new("v{version}", 7)?]);
/// let tag = |name: &str, commit: &str, at: usize| TagRef::reachable(name, commit, at);
/// let found = scan(
///     &formats,
///     &[
///         tag("v5.0.0", "0000aaa1", 0), // before the switch to `-{sha}`: an earlier format
///         tag("v5.0.9-bbbbbbb", "bbbbbbb1", 4),
///         tag("v5.0.10-aaaaaaa", "aaaaaaa2", 5),
///         tag("v5.0.10-ccccccc", "ccccccc3", 6), // the same version again, nearer HEAD
///         tag("v5.0.2-b321ac", "b321ac03", 2), // an older tag with a 6-digit hash still counts
///         tag("latest", "aaaaaaa2", 5),
///         tag("v9.9.9-abcdef0", "1234567", 3), // its hash is not its commit's
///         TagRef { name: "v9.0.0-ddddddd".into(), commit: "ddddddd4".into(), position: None },
///     ],
/// );
/// let order: Vec<&str> = found.releases.iter().map(|r| r.tag.as_str()).collect();
/// assert_eq!(order, ["v5.0.10-ccccccc", "v5.0.10-aaaaaaa", "v5.0.9-bbbbbbb", "v5.0.2-b321ac", "v5.0.0"]);
/// assert_eq!(found.latest().unwrap().version.to_string(), "5.0.10");
/// assert_eq!(found.at_commit("b321ac03").unwrap().tag, "v5.0.2-b321ac");
///
/// let why: Vec<(&str, String)> = found.ignored.iter().map(|i| (i.tag.as_str(), i.reason.to_string())).collect();
/// assert_eq!(
///     why,
///     [
///         ("latest", "matches no tag format: `v{version}-{sha}` does not start with `v`; `v{version}` does not start with `v`".to_string()),
///         ("v9.0.0-ddddddd", "not reachable from HEAD (commit ddddddd4)".into()),
///         ("v9.9.9-abcdef0", "hash suffix `abcdef0` does not match the commit it points to (1234567)".into()),
///     ]
/// );
/// # Ok::<(), hoist_version::FormatError>(())
/// ```
pub fn scan(formats: &TagFormats, tags: &[TagRef]) -> Scan {
    let mut found: Vec<(Release, Option<usize>)> = Vec::new();
    let mut scan = Scan::default();
    for t in tags {
        let read = formats.read(&t.name, &t.commit).and_then(|p| match t.position {
            Some(_) => Ok(p),
            None => Err(TagMismatch::Unreachable(t.commit.clone())),
        });
        match read {
            Ok(p) => {
                found.push((Release { tag: t.name.clone(), version: p.version, commit: t.commit.clone() }, t.position))
            }
            Err(reason) => scan.ignored.push(Ignored { tag: t.name.clone(), reason }),
        }
    }
    // Highest precedence first; equal precedence (5.0.2-aaaaaaa and 5.0.2-bbbbbbb, or
    // 1.0.0+a and 1.0.0+b) goes to the commit nearer HEAD, then to the tag name, so the
    // order never depends on the order git listed the tags in.
    found.sort_by(|(a, pa), (b, pb)| {
        b.version.cmp_precedence(&a.version).then_with(|| pb.cmp(pa)).then_with(|| a.tag.cmp(&b.tag))
    });
    scan.releases = found.into_iter().map(|(r, _)| r).collect();
    scan.ignored.sort_by(|a, b| a.tag.cmp(&b.tag));
    scan
}

/// What decides the next version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub markers: Markers,
    /// The bump when the title has no marker; `None` means "no release".
    pub default_bump: Option<Bump>,
    /// The first release when there is no release tag yet.
    pub initial: Version,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { markers: Markers::default(), default_bump: None, initial: Version::new(0, 1, 0) }
    }
}

/// Where the bump came from, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BumpReason {
    /// A marker in the PR title.
    Marker,
    /// `default_bump` in the config, since the title had no marker.
    Default,
}

/// The decision for this merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Nothing to release: the title has no marker and there is no default bump.
    None,
    Release(NextRelease),
}

/// The release to make. `version` is serialised as its SemVer text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct NextRelease {
    pub tag: String,
    #[serde(serialize_with = "ser_display")]
    pub version: Version,
    pub bump: Bump,
    pub reason: BumpReason,
    /// True when there was no earlier release and the version is the configured initial one.
    pub initial: bool,
    pub commit: String,
}

/// Decide the next release for a merge whose PR title is `title`, made at `head` (full SHA).
///
/// ```
/// use hoist_version::{Bump, BumpReason, DEFAULT_TAG_FORMAT, Next, Policy, Release, TagFormat, next};
/// use semver::Version;
///
/// let format = TagFormat::new(DEFAULT_TAG_FORMAT, 7)?;
/// let head = "b321ac0f00d5e4a8c2b7e6f1a9d3c5b7e2f4a6c8";
/// let latest = Release { tag: "v5.0.1-abf2154".into(), version: Version::new(5, 0, 1), commit: "abf2154ab".into() };
/// let policy = Policy::default();
///
/// // `-abf2154` is the old release's commit, not a pre-release: `[patch]` gives 5.0.2 at HEAD.
/// let Next::Release(r) = next(&policy, &format, Some(&latest), "[patch] fix login", head)? else { panic!() };
/// assert_eq!(r.tag, "v5.0.2-b321ac0");
/// assert_eq!((r.version, r.bump, r.reason, r.initial), (Version::new(5, 0, 2), Bump::Patch, BumpReason::Marker, false));
///
/// // No marker: no release, unless the config names a default bump.
/// assert_eq!(next(&policy, &format, Some(&latest), "fix login", head)?, Next::None);
/// let minor_by_default = Policy { default_bump: Some(Bump::Minor), ..Policy::default() };
/// let Next::Release(r) = next(&minor_by_default, &format, Some(&latest), "fix login", head)? else { panic!() };
/// assert_eq!((r.tag.as_str(), r.reason), ("v5.1.0-b321ac0", BumpReason::Default));
///
/// // No release yet: the initial version, whatever the marker asks for.
/// let Next::Release(r) = next(&policy, &format, None, "[major] first", head)? else { panic!() };
/// assert_eq!((r.tag.as_str(), r.initial), ("v0.1.0-b321ac0", true));
///
/// // Two different bumps in one title is an error, never a guess.
/// let err = next(&policy, &format, Some(&latest), "[minor] then [major]", head).unwrap_err();
/// assert_eq!(err.to_string(), "the PR title has conflicting markers `[minor]` and `[major]`");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn next(
    policy: &Policy,
    format: &TagFormat,
    latest: Option<&Release>,
    title: &str,
    head: &str,
) -> Result<Next, ConflictingMarkers> {
    let (bump, reason) = match policy.markers.find(title)? {
        Some(b) => (b, BumpReason::Marker),
        None => match policy.default_bump {
            Some(b) => (b, BumpReason::Default),
            None => return Ok(Next::None),
        },
    };
    let (version, initial) = match latest {
        Some(r) => (bump.apply(&r.version), false),
        None => (policy.initial.clone(), true),
    };
    let tag = format.render(&version, head);
    Ok(Next::Release(NextRelease { tag, version, bump, reason, initial, commit: head.to_string() }))
}

fn ser_display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "b321ac0000000000000000000000000000000001";

    fn t(name: &str, commit: &str) -> TagRef {
        TagRef::reachable(name, commit, 0)
    }

    fn default_format() -> TagFormat {
        TagFormat::new(DEFAULT_TAG_FORMAT, 7).unwrap()
    }

    #[test]
    fn latest_is_by_precedence_not_by_name_or_order() {
        let tags =
            [t("v5.0.9-bbbbbbb", "bbbbbbb111"), t("v5.0.10-aaaaaaa", "aaaaaaa222"), t("v5.0.2-ccccccc", "ccccccc333")];
        let scan = scan(&default_format().into(), &tags);
        assert_eq!(scan.latest().unwrap().tag, "v5.0.10-aaaaaaa");
        let order: Vec<_> = scan.releases.iter().map(|r| r.version.to_string()).collect();
        assert_eq!(order, ["5.0.10", "5.0.9", "5.0.2"]);
    }

    #[test]
    fn prerelease_sorts_below_its_release() {
        let f = TagFormat::new("v{version}", 7).unwrap();
        let scan = scan(&f.into(), &[t("v1.0.0", "a1"), t("v1.0.0-rc.1", "a2"), t("v1.0.0-alpha", "a3")]);
        let order: Vec<_> = scan.releases.iter().map(|r| r.tag.as_str()).collect();
        assert_eq!(order, ["v1.0.0", "v1.0.0-rc.1", "v1.0.0-alpha"]);
    }

    #[test]
    fn malformed_and_mismatched_tags_are_ignored_with_reasons() {
        let tags = [
            t("v1.2", "aaaa"),
            t("vX.Y.Z-abcdef0", "abcdef0"),
            t("v01.2.3-abcdef0", "abcdef0"),
            t("v5.0.1-zzzzzzz", "abcdef0"),
            t("v9.9.9-abcdef0", "1234567890"),
            t("latest", "abcdef0"),
            t("v5.0.1-abf2154", "abf2154ffff"),
        ];
        let scan = scan(&default_format().into(), &tags);
        assert_eq!(scan.latest().unwrap().tag, "v5.0.1-abf2154");
        assert_eq!(scan.releases.len(), 1);
        let reasons: Vec<(String, String)> =
            scan.ignored.iter().map(|i| (i.tag.clone(), i.reason.to_string())).collect();
        let expect = [
            ("latest", "does not start with `v`"),
            ("v01.2.3-abcdef0", "not a SemVer"),
            ("v1.2", "no `-<hash>` suffix"),
            ("v5.0.1-zzzzzzz", "not hexadecimal"),
            ("v9.9.9-abcdef0", "does not match the commit"),
            ("vX.Y.Z-abcdef0", "not a SemVer"),
        ];
        assert_eq!(reasons.len(), expect.len(), "{reasons:?}");
        for ((tag, reason), (etag, ereason)) in reasons.iter().zip(expect) {
            assert_eq!(tag, etag);
            assert!(reason.contains(ereason), "{tag}: {reason}");
        }
    }

    #[test]
    fn the_hash_suffix_trap() {
        // versioning notes §3: with `v5.0.1-abf2154` and a patch bump, peers give 5.0.1,
        // 5.0.2-abf2154, 5.0.1-abf2154.1 or ignore the tag. hoist gives 5.0.2 at HEAD.
        let scan = scan(&default_format().into(), &[t("v5.0.1-abf2154", "abf2154deadbeef")]);
        let next = next(&Policy::default(), &default_format(), scan.latest(), "[patch] fix login", HEAD).unwrap();
        let Next::Release(r) = next else { panic!("expected a release") };
        assert_eq!(r.tag, "v5.0.2-b321ac0");
        assert_eq!(r.version, Version::new(5, 0, 2));
        assert_eq!((r.bump, r.reason, r.initial), (Bump::Patch, BumpReason::Marker, false));
    }

    #[test]
    fn next_table() {
        let f = default_format();
        let latest =
            Release { tag: "v0.4.2-aaaaaaa".into(), version: Version::new(0, 4, 2), commit: "aaaaaaa1".into() };
        let policy = Policy::default();
        let with_default = Policy { default_bump: Some(Bump::Patch), ..Policy::default() };
        let cases: Vec<(&Policy, Option<&Release>, &str, Result<Option<&str>, &str>)> = vec![
            (&policy, Some(&latest), "[patch] x", Ok(Some("v0.4.3-b321ac0"))),
            (&policy, Some(&latest), "[minor] x", Ok(Some("v0.5.0-b321ac0"))),
            (&policy, Some(&latest), "[major] x", Ok(Some("v1.0.0-b321ac0"))),
            (&policy, Some(&latest), "no marker", Ok(None)),
            (&with_default, Some(&latest), "no marker", Ok(Some("v0.4.3-b321ac0"))),
            (&policy, None, "[minor] first", Ok(Some("v0.1.0-b321ac0"))),
            (&policy, None, "no marker", Ok(None)),
            (&policy, Some(&latest), "[minor] [major]", Err("conflicting")),
        ];
        for (policy, latest, title, want) in cases {
            let got = next(policy, &f, latest, title, HEAD);
            match (want, got) {
                (Ok(None), Ok(Next::None)) => {}
                (Ok(Some(tag)), Ok(Next::Release(r))) => assert_eq!(r.tag, tag, "{title}"),
                (Err(w), Err(e)) => assert!(e.to_string().contains(w), "{title}: {e}"),
                (w, g) => panic!("{title}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn initial_version_is_configurable() {
        let policy = Policy { initial: Version::new(1, 0, 0), ..Policy::default() };
        let f = TagFormat::new("v{version}", 7).unwrap();
        let Next::Release(r) = next(&policy, &f, None, "[patch] first", HEAD).unwrap() else { panic!() };
        assert_eq!((r.tag.as_str(), r.initial), ("v1.0.0", true));
    }

    #[test]
    fn a_tag_no_bump_can_follow_is_ignored_not_overflowed() {
        // Found by the `tag` fuzz target: `[patch]` after this tag was an add overflow.
        let scan = scan(
            &default_format().into(),
            &[t("v1.0.18446744073709551615-aaaaaaa", "aaaaaaa1"), t("v1.0.0-bbbbbbb", "bbbbbbb2")],
        );
        assert_eq!(scan.latest().unwrap().tag, "v1.0.0-bbbbbbb");
        assert!(scan.ignored[0].reason.to_string().contains("at its maximum"), "{:?}", scan.ignored);
        let Next::Release(r) = next(&Policy::default(), &default_format(), scan.latest(), "[patch] x", HEAD).unwrap()
        else {
            panic!("expected a release")
        };
        assert_eq!(r.version, Version::new(1, 0, 1));
    }

    /// The schemas other crates embed describe what serde writes (its output, so the
    /// serialize contract): the display strings and the lowercase enum names.
    #[test]
    fn schemas_describe_the_serialised_form() {
        fn schema<T: schemars::JsonSchema>() -> schemars::Schema {
            schemars::generate::SchemaSettings::default().for_serialize().into_generator().into_root_schema_for::<T>()
        }
        // The JSON type at `pointer`, through a `$ref`.
        fn json_type(schema: &schemars::Schema, pointer: &str) -> Option<String> {
            let at = schema.pointer(pointer)?;
            match at.get("$ref").and_then(|r| r.as_str()) {
                Some(target) => json_type(schema, target.strip_prefix('#')?),
                None => at.get("type")?.as_str().map(String::from),
            }
        }
        let release = schema::<Release>();
        assert_eq!(json_type(&release, "/properties/version").as_deref(), Some("string"));
        assert_eq!(json_type(&release, "/properties/commit").as_deref(), Some("string"));
        let required: Vec<&str> =
            release.get("required").and_then(|r| r.as_array()).unwrap().iter().filter_map(|k| k.as_str()).collect();
        assert_eq!(required, ["tag", "version", "commit"]);
        let scan = schema::<Scan>();
        assert_eq!(json_type(&scan, "/$defs/Ignored/properties/reason").as_deref(), Some("string"));
        assert_eq!(json_type(&scan, "/properties/releases").as_deref(), Some("array"));
        let next = schema::<NextRelease>();
        let names = |def: &str| -> Vec<String> {
            let values = next.pointer(&format!("/$defs/{def}")).unwrap();
            let values = values.get("enum").or_else(|| values.get("oneOf")).unwrap().as_array().unwrap();
            values
                .iter()
                .map(|v| v.as_str().or_else(|| v.get("const").and_then(|c| c.as_str())).unwrap().to_string())
                .collect()
        };
        assert_eq!(names("Bump"), ["patch", "minor", "major"]);
        assert_eq!(names("BumpReason"), ["marker", "default"]);
        let markers = schema::<Markers>();
        assert_eq!(json_type(&markers, "/properties/major/items").as_deref(), Some("string"));
    }

    /// The history of a repository that changed tag format (issue 13): `v5.0.0`, `v5.0.1`
    /// without a hash, then `v{version}-{sha}`.
    fn switched_formats() -> TagFormats {
        TagFormats::new(default_format(), vec![TagFormat::new("v{version}", 7).unwrap()])
    }

    #[test]
    fn earlier_formats_count_as_history_and_the_current_one_is_written() {
        let at = TagRef::reachable;
        // (tags, latest release, next tag on `[patch]`)
        let cases: Vec<(Vec<TagRef>, Option<&str>, &str)> = vec![
            (vec![at("v5.0.0", "aaaa0001", 0), at("v5.0.1", "aaaa0002", 1)], Some("v5.0.1"), "v5.0.2-b321ac0"),
            (
                vec![at("v5.0.0", "aaaa0001", 0), at("v5.0.1", "aaaa0002", 1), at("v5.0.2-cccc003", "cccc0030", 2)],
                Some("v5.0.2-cccc003"),
                "v5.0.3-b321ac0",
            ),
            // A hash-shaped tag whose hash is wrong is not read as the pre-release 5.0.9-ddddddd.
            (vec![at("v5.0.1", "aaaa0002", 1), at("v5.0.9-ddddddd", "eeee0004", 2)], Some("v5.0.1"), "v5.0.2-b321ac0"),
            // A stacked suffix is no pre-release of 5.0.8 either.
            (
                vec![at("v5.0.1", "aaaa0002", 1), at("v5.0.8-aaaaaaa-bbbbbbb", "bbbbbbb5", 2)],
                Some("v5.0.1"),
                "v5.0.2-b321ac0",
            ),
            // A real pre-release in the earlier format still is one.
            (
                vec![at("v5.0.1", "aaaa0002", 1), at("v5.1.0-rc.1", "ffff0006", 2)],
                Some("v5.1.0-rc.1"),
                "v5.1.0-b321ac0",
            ),
            (vec![], None, "v0.1.0-b321ac0"),
        ];
        for (tags, want_latest, want_next) in cases {
            let found = scan(&switched_formats(), &tags);
            assert_eq!(found.latest().map(|r| r.tag.as_str()), want_latest, "{tags:?}");
            let Next::Release(r) =
                next(&Policy::default(), switched_formats().current(), found.latest(), "[patch] x", HEAD).unwrap()
            else {
                panic!("expected a release")
            };
            assert_eq!(r.tag, want_next, "{tags:?}");
        }
        // Without the earlier format, the old tags are ignored and the release starts over.
        let found = scan(&default_format().into(), &[at("v5.0.0", "aaaa0001", 0), at("v5.0.1", "aaaa0002", 1)]);
        assert!(found.latest().is_none());
        assert!(
            found.ignored.iter().all(|i| i.reason.to_string().contains("no `-<hash>` suffix")),
            "{:?}",
            found.ignored
        );
    }

    #[test]
    fn equal_versions_go_to_the_commit_nearer_head() {
        // (tags as (name, commit, position), latest)
        let cases: &[(&[(&str, &str, usize)], &str)] = &[
            (&[("v5.0.2-aaaaaaa", "aaaaaaa1", 3), ("v5.0.2-bbbbbbb", "bbbbbbb2", 7)], "v5.0.2-bbbbbbb"),
            (&[("v5.0.2-bbbbbbb", "bbbbbbb2", 3), ("v5.0.2-aaaaaaa", "aaaaaaa1", 7)], "v5.0.2-aaaaaaa"),
            // Precedence first: a higher version further from HEAD still wins.
            (&[("v5.0.3-aaaaaaa", "aaaaaaa1", 1), ("v5.0.2-bbbbbbb", "bbbbbbb2", 9)], "v5.0.3-aaaaaaa"),
            // One commit, two names of one version: the tag name decides, stably.
            (&[("v5.0.2+bbbbbbb", "bbbbbbb2", 4), ("v5.0.2-bbbbbbb", "bbbbbbb2", 4)], "v5.0.2+bbbbbbb"),
        ];
        let formats = TagFormats::new(default_format(), vec![TagFormat::new("v{version}+{sha}", 7).unwrap()]);
        for (tags, want) in cases {
            for tags in [tags.to_vec(), tags.iter().rev().copied().collect()] {
                let refs: Vec<TagRef> = tags.iter().map(|(n, c, p)| TagRef::reachable(n, c, *p)).collect();
                assert_eq!(scan(&formats, &refs).latest().unwrap().tag, *want, "{tags:?}");
            }
        }
    }

    #[test]
    fn unreachable_tags_are_ignored_with_their_commit() {
        let side = TagRef { name: "v9.0.0-ddddddd".into(), commit: "ddddddd4".into(), position: None };
        let junk = TagRef { name: "nightly".into(), commit: "ddddddd4".into(), position: None };
        let found = scan(&default_format().into(), &[t("v1.0.0-aaaaaaa", "aaaaaaa1"), side, junk]);
        assert_eq!(found.latest().unwrap().tag, "v1.0.0-aaaaaaa");
        let why: Vec<(String, String)> = found.ignored.iter().map(|i| (i.tag.clone(), i.reason.to_string())).collect();
        assert_eq!(
            why,
            [
                // A tag that is no release anyway says so first.
                ("nightly".to_string(), "does not start with `v`".to_string()),
                ("v9.0.0-ddddddd".into(), "not reachable from HEAD (commit ddddddd4)".into()),
            ]
        );
    }

    #[test]
    fn release_at_head_is_found() {
        let scan = scan(&default_format().into(), &[t("v1.0.0-b321ac0", HEAD), t("v0.9.0-aaaaaaa", "aaaaaaa9")]);
        assert_eq!(scan.at_commit(HEAD).unwrap().tag, "v1.0.0-b321ac0");
        assert!(scan.at_commit("cccc").is_none());
    }
}
