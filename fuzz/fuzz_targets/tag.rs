//! Tag formats, reading tags back (`-<hash>` suffix), SemVer precedence and bumps.
//!
//! Input: the first line is a tag format (tried alongside the built-in ones), every other
//! line a tag name. Properties: a tag that parses renders back to the same version; the
//! scan's releases come out highest precedence first; a bump moves the version up and
//! renders a tag git and OCI registries accept.
#![no_main]

use hoist_version::{Bump, DEFAULT_TAG_FORMAT, TagFormat, TagFormats, TagRef, names, scan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (format_line, tags) = text.split_once('\n').unwrap_or((text, ""));
    let mut formats = vec![
        TagFormat::new(DEFAULT_TAG_FORMAT, 7).unwrap(),
        TagFormat::new("v{version}", 7).unwrap(),
        TagFormat::new("shop-v{version}+{sha}", 12).unwrap(),
    ];
    for sha_len in [4, 40] {
        match TagFormat::new(format_line, sha_len) {
            Ok(f) => formats.push(f),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    let names: Vec<&str> = tags.lines().take(64).collect();
    for format in &formats {
        let mut refs = Vec::new();
        for name in &names {
            let parsed = match format.parse(name) {
                Ok(p) => p,
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    continue;
                }
            };
            // The commit the tag would point to: its suffix padded to a full SHA.
            let commit = format!("{:0<40}", parsed.sha.clone().unwrap_or_default());
            assert!(parsed.check_commit(&commit).is_ok(), "{name}: its own suffix does not match {commit}");
            let again = format.render(&parsed.version, &commit);
            let back = format.parse(&again).unwrap_or_else(|e| panic!("{name} → {again} does not parse: {e}"));
            assert_eq!(back.version, parsed.version, "{name} → {again}");
            refs.push(TagRef { position: Some(refs.len()), name: name.to_string(), commit });
            for bump in [Bump::Patch, Bump::Minor, Bump::Major] {
                let next = bump.apply(&parsed.version);
                assert!(next.pre.is_empty() && next.build.is_empty(), "{bump} of {} keeps a suffix", parsed.version);
                assert_eq!(
                    next.cmp_precedence(&parsed.version),
                    std::cmp::Ordering::Greater,
                    "{bump} of {} gives {next}",
                    parsed.version
                );
                let tag = format.render(&next, &"0".repeat(40));
                names::check_git_tag(&tag).unwrap_or_else(|e| panic!("format {} renders {tag}: {e}", format.as_str()));
            }
        }
        let found = scan(&TagFormats::from(format.clone()), &refs);
        assert_eq!(found.releases.len() + found.ignored.len(), refs.len());
        for pair in found.releases.windows(2) {
            assert_ne!(
                pair[0].version.cmp_precedence(&pair[1].version),
                std::cmp::Ordering::Less,
                "{} sorted before {}",
                pair[0].tag,
                pair[1].tag
            );
        }
        if let Some(latest) = found.latest() {
            assert!(found.releases.iter().all(|r| r.version.cmp_precedence(&latest.version).is_le()));
        }
    }
    for name in &names {
        let _ = names::check_git_tag(name);
        let _ = names::check_oci_tag(name);
    }
});
