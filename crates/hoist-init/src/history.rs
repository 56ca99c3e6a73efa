//! The release tag formats a repository's history shows (`v5.0.1`, then `v5.0.2-b321ac7`),
//! so `hoist init` writes the current one as `tag_format` and the others as `tag_formats`.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Serialize;

/// What the tags say about the release tag format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagHistory {
    /// The format of the newest release tag, e.g. `v{version}-{sha}`.
    pub format: String,
    /// Other formats seen in older tags, most used first.
    pub earlier: Vec<String>,
    /// Hex digits of `{sha}` in the newest tag of `format`, when it has one.
    pub sha_length: Option<usize>,
    /// The newest release tag.
    pub newest: String,
    /// How many tags fit a format.
    pub releases: usize,
}

struct Parsed {
    format: String,
    version: (u64, u64, u64),
    sha_length: Option<usize>,
}

fn parse(name: &str, re: &Regex) -> Option<Parsed> {
    let c = re.captures(name)?;
    let num = |i: usize| c[i].parse::<u64>().ok();
    let version = (num(2)?, num(3)?, num(4)?);
    let prefix = &c[1];
    match c.get(5).map(|m| m.as_str()) {
        None | Some("") => Some(Parsed { format: format!("{prefix}{{version}}"), version, sha_length: None }),
        Some(sha) => {
            Some(Parsed { format: format!("{prefix}{{version}}-{{sha}}"), version, sha_length: Some(sha.len()) })
        }
    }
}

/// The formats of `tags` (names only, oldest commit first: equal versions go to the later
/// one, as the release scan decides). Tags that fit neither `<prefix>X.Y.Z` nor
/// `<prefix>X.Y.Z-<hex>` (pre-releases, stacked suffixes) say nothing about the format.
pub fn tag_history(tags: &[String]) -> Option<TagHistory> {
    let re = Regex::new(r"^([A-Za-z_./]*)(\d+)\.(\d+)\.(\d+)(?:-([0-9a-f]{4,40}))?$").expect("valid");
    let mut parsed: Vec<(usize, &String, Parsed)> =
        tags.iter().enumerate().filter_map(|(i, t)| parse(t, &re).map(|p| (i, t, p))).collect();
    // Newest last: by version, a hashed tag after a plain one of the same version (the hash
    // is the newer habit), then by commit order.
    parsed.sort_by_key(|(i, _, p)| (p.version, p.sha_length.is_some(), *i));
    let parsed: Vec<(&String, Parsed)> = parsed.into_iter().map(|(_, t, p)| (t, p)).collect();
    let (newest, current) = parsed.last()?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, p) in parsed.iter().filter(|(_, p)| p.format != current.format) {
        *counts.entry(p.format.as_str()).or_default() += 1;
    }
    let mut earlier: Vec<(&str, usize)> = counts.into_iter().collect();
    earlier.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    Some(TagHistory {
        format: current.format.clone(),
        earlier: earlier.into_iter().map(|(f, _)| f.to_string()).collect(),
        sha_length: current.sha_length,
        newest: (*newest).clone(),
        releases: parsed.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn formats_from_history_table() {
        let cases: &[(&[&str], Option<(&str, &[&str], Option<usize>, &str)>)] = &[
            // The issue's history: plain tags, then the hash.
            (
                &["v5.0.0", "v5.0.1", "v5.0.2-b321ac7", "v5.0.3-0a1b2c3", "v5.0.3-ffee001"],
                Some(("v{version}-{sha}", &["v{version}"], Some(7), "v5.0.3-ffee001")),
            ),
            // Only plain tags: the format stays plain.
            (&["v1.0.0", "v1.2.0"], Some(("v{version}", &[], None, "v1.2.0"))),
            // Without a prefix, a longer hash.
            (&["1.0.0-0123456789ab"], Some(("{version}-{sha}", &[], Some(12), "1.0.0-0123456789ab"))),
            // A stacked suffix and a pre-release fit no format; a lone non-release tag neither.
            (&["v5.0.8-a-b-c", "v5.0.9-rc.1", "latest"], None),
            (
                &["v5.0.8-a-b-c", "v5.0.1", "release/6.0.0-abcdef0"],
                Some(("release/{version}-{sha}", &["v{version}"], Some(7), "release/6.0.0-abcdef0")),
            ),
            (&[], None),
        ];
        for (tags, want) in cases {
            let got = tag_history(&names(tags));
            match (got, want) {
                (None, None) => {}
                (Some(h), Some((format, earlier, sha, newest))) => {
                    assert_eq!(h.format, *format, "{tags:?}");
                    assert_eq!(h.earlier, names(earlier), "{tags:?}");
                    assert_eq!(h.sha_length, *sha, "{tags:?}");
                    assert_eq!(h.newest, *newest, "{tags:?}");
                }
                (got, want) => panic!("{tags:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
