//! The platforms a release's images are built for: `[image] platforms` as
//! [`hoist_oci::Platform`]s, set on every image plan (empty = `linux/amd64`, a plain
//! manifest as before; several = one image per platform and an OCI index per service).

use hoist_config::Config;
use hoist_diag::Report;
use hoist_oci::Platform;

/// `[image] platforms`, parsed; empty when none is configured (the builder's default,
/// `linux/amd64`, applies). Listed once each, in the configured order.
pub fn targets(config: &Config) -> Result<Vec<Platform>, Report> {
    parse(&config.image.platforms)
}

fn parse(items: &[String]) -> Result<Vec<Platform>, Report> {
    let mut out: Vec<Platform> = Vec::new();
    for item in items {
        let p: Platform = item.parse().map_err(|e: hoist_oci::platform::BadPlatform| {
            Report::user(format!("[image] platforms: {e}")).with_hint("fix `platforms` in hoist.toml")
        })?;
        // `linux/arm64` and `linux/arm64/v8` are one platform; the first spelling wins.
        if !out.iter().any(|o| o.matches(&p.os, &p.architecture, p.variant.as_deref())) {
            out.push(p);
        }
    }
    Ok(out)
}

/// `linux/amd64, linux/arm64` for messages; the default when none is configured.
pub fn describe(platforms: &[Platform]) -> String {
    if platforms.is_empty() {
        return hoist_oci::DEFAULT_PLATFORM.to_string();
    }
    platforms.iter().map(Platform::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_platforms() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (given, expected) in [
            (s(&[]), "linux/amd64"),
            (s(&["linux/arm64"]), "linux/arm64"),
            (s(&["linux/amd64", "linux/arm64"]), "linux/amd64, linux/arm64"),
            (s(&["linux/arm64/v8", "linux/arm64", "linux/amd64"]), "linux/arm64/v8, linux/amd64"),
        ] {
            assert_eq!(describe(&parse(&given).unwrap()), expected, "{given:?}");
        }
        assert!(parse(&s(&["linux"])).is_err());
    }
}
