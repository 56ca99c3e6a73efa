//! The override file hoist owns: each app service pinned to its exact image.
//!
//! The user's compose file is never edited; compose merges this file after it, and only
//! `image:` is set, so everything else (ports, volumes, healthchecks) stays the user's.
//! Each pin is preceded by a comment with the release's tag reference, for humans.
//! Strings are written as JSON strings, which are valid YAML double-quoted scalars for
//! every character: no YAML library is needed to write four lines safely.

use crate::state::Pin;

/// The override text for `pins` of `release`.
pub fn render(release: &str, pins: &[Pin]) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let mut out = String::new();
    out.push_str("# Written by hoist: the exact images of one release. Do not edit;\n");
    out.push_str("# every `hoist deploy compose` and `hoist rollback` rewrites it.\n");
    out.push_str(&format!("# release: {}\n", q(release)));
    out.push_str("services:\n");
    for pin in pins {
        out.push_str(&format!("  # {}\n", q(&pin.reference)));
        out.push_str(&format!("  {}:\n    image: {}\n", q(&pin.service), q(&pin.image)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Acquired;

    #[test]
    fn renders_quoted_pins() {
        let pins = vec![Pin {
            service: "user-service".into(),
            image: "127.0.0.1:5000/shop@sha256:0123".into(),
            reference: "127.0.0.1:5000/shop:user-service_v1.0.0-abc1234".into(),
            digest: Some("sha256:0123".into()),
            image_id: "sha256:ff".into(),
            acquired: Acquired::Pulled,
            extra: Default::default(),
        }];
        let text = render("v1.0.0-abc1234\n# evil", &pins);
        let want = "  # \"127.0.0.1:5000/shop:user-service_v1.0.0-abc1234\"\n  \"user-service\":\n    image: \"127.0.0.1:5000/shop@sha256:0123\"\n";
        assert!(text.contains(want), "{text}");
        assert!(
            text.contains("# release: \"v1.0.0-abc1234\\n# evil\"\n"),
            "a newline cannot escape the comment: {text}"
        );
    }
}
