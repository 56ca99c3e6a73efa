//! PR-title markers (`[major]`, `[minor]`, `[patch]` and configured words) and the next
//! release decided from them.
//!
//! Input: the first line holds custom marker words, `major,words|minor,words|patch,words`;
//! the rest is the PR title. Properties: a bump found is named by a bracketed word in the
//! title; a conflict names at least two different bumps; the next release's tag parses
//! back to its version.
#![no_main]

use hoist_version::{Bump, DEFAULT_TAG_FORMAT, Markers, Next, Policy, Release, TagFormat, next};
use libfuzzer_sys::fuzz_target;

const HEAD: &str = "b321ac0000000000000000000000000000000001";

fn bracketed(title: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = title;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        words.push(after[..close].trim().to_string());
        rest = &after[close + 1..];
    }
    words
}

fn words_of(markers: &Markers, bump: Bump) -> &[String] {
    match bump {
        Bump::Major => &markers.major,
        Bump::Minor => &markers.minor,
        Bump::Patch => &markers.patch,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (words, title) = text.split_once('\n').unwrap_or(("", &text));
    let mut lists = words.split('|').map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>());
    let custom = Markers {
        major: lists.next().unwrap_or_default(),
        minor: lists.next().unwrap_or_default(),
        patch: lists.next().unwrap_or_default(),
    };
    let format = TagFormat::new(DEFAULT_TAG_FORMAT, 7).unwrap();
    let latest =
        Release { tag: "v0.4.2-aaaaaaa".into(), version: semver::Version::new(0, 4, 2), commit: "a".repeat(40) };
    let in_title = bracketed(title);
    for markers in [Markers::default(), custom] {
        match markers.find(title) {
            Ok(Some(bump)) => {
                let named = in_title.iter().any(|w| words_of(&markers, bump).iter().any(|m| m.eq_ignore_ascii_case(w)));
                assert!(named, "{bump} found in {title:?}, which brackets none of its words");
            }
            Ok(None) => {}
            Err(conflict) => {
                assert!(conflict.found.len() >= 2, "a conflict of one marker: {conflict:?}");
                assert!(!conflict.to_string().is_empty());
            }
        }
        let policy = Policy { markers: markers.clone(), default_bump: Some(Bump::Patch), ..Policy::default() };
        for latest in [None, Some(&latest)] {
            if let Ok(Next::Release(r)) = next(&policy, &format, latest, title, HEAD) {
                let back = format.parse(&r.tag).unwrap_or_else(|e| panic!("next tag {} does not parse: {e}", r.tag));
                assert_eq!(back.version, r.version);
                assert!(back.check_commit(HEAD).is_ok());
            }
        }
    }
});
