//! The names hoist gives a release's images: the one home of the `{service}_{tag}` rule.
//!
//! Every service's images share one registry repository, so a service's image of a release
//! is named by the image tag template (`[registry] image_tag`, `{service}_{tag}` by
//! default). The registry step tags with it, the compose and Kubernetes steps pin with it,
//! and the registry's tag list is read back with it; all of them ask this module.
//!
//! ```
//! use hoist_version::naming::{ImageNaming, ReleaseRef, layout_ref};
//!
//! let release = ReleaseRef::new("v5.0.2-b321ac1", "5.0.2", "b321ac1");
//! let naming = ImageNaming::default();
//! assert_eq!(naming.image_tag("shop-user-service", &release), "shop-user-service_v5.0.2-b321ac1");
//! assert_eq!(naming.service_of("shop-user-service_v5.0.2-b321ac1"), Some("shop-user-service"));
//! assert_eq!(naming.separator().as_deref(), Some("_"));
//! // The local OCI layout always names a service's image `<service>_<tag>`.
//! assert_eq!(layout_ref("api", "v1.0.0-abc1234"), "api_v1.0.0-abc1234");
//! ```

use serde::{Deserialize, Serialize};

use crate::template::{Part, Template, TemplateError};

/// Placeholders an image tag template may use.
pub const IMAGE_TAG_PLACEHOLDERS: &[&str] = &["service", "tag", "version", "sha"];

/// The image tag template when `[registry] image_tag` is not set.
pub const DEFAULT_IMAGE_TAG: &str = "{service}_{tag}";

/// The separator between service and release in the local layout's names.
pub const LAYOUT_SEPARATOR: &str = "_";

/// The name of a service's image of release `tag` in the local OCI layout: `<service>_<tag>`.
/// Independent of `[registry] image_tag`, so the layout reads the same for every registry.
pub fn layout_ref(service: &str, tag: &str) -> String {
    format!("{service}{LAYOUT_SEPARATOR}{tag}")
}

/// An image reference without its tag or digest: `host:5000/shop:tag@sha256:…` →
/// `host:5000/shop`. The tag is after the last `:` past the last `/`, so a registry port
/// stays. What compose pins by digest, and what Kubernetes placeholders and `hoist init`
/// match on.
pub fn image_repository(reference: &str) -> &str {
    let reference = reference.split_once('@').map_or(reference, |(name, _)| name);
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(colon) => &reference[..slash + colon],
        None => reference,
    }
}

/// The release a build, image, push or deploy step works on: its tag and the values
/// templates substitute (`{tag}`, `{version}`, `{sha}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReleaseRef {
    /// The release tag, e.g. `v5.0.2-b321ac1`.
    pub tag: String,
    /// The SemVer version, e.g. `5.0.2`.
    pub version: String,
    /// The hash as written in the tag (or the commit's, cut to `sha_length`).
    pub sha: String,
    /// The full commit, when known from git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

impl ReleaseRef {
    pub fn new(tag: impl Into<String>, version: impl Into<String>, sha: impl Into<String>) -> ReleaseRef {
        ReleaseRef { tag: tag.into(), version: version.into(), sha: sha.into(), commit: None }
    }

    /// `{tag}`, `{version}`, `{sha}` for templates.
    pub fn values(&self) -> [(&'static str, &str); 3] {
        [("tag", &self.tag), ("version", &self.version), ("sha", &self.sha)]
    }
}

/// How a release's images are tagged in the repository: the parsed image tag template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageNaming {
    template: Template,
}

impl Default for ImageNaming {
    fn default() -> Self {
        ImageNaming::parse(DEFAULT_IMAGE_TAG).expect("the default image tag template parses")
    }
}

impl ImageNaming {
    /// Parse an image tag template (`[registry] image_tag`).
    pub fn parse(template: &str) -> Result<ImageNaming, TemplateError> {
        Ok(ImageNaming { template: Template::parse(template, IMAGE_TAG_PLACEHOLDERS)? })
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    /// The tag of `service`'s image of `release`.
    pub fn image_tag(&self, service: &str, release: &ReleaseRef) -> String {
        let mut pairs: Vec<(&str, &str)> = release.values().to_vec();
        pairs.push(("service", service));
        self.template.render_with(&pairs)
    }

    /// The literal text before `{service}` and the separator right after it, when the
    /// template has that shape (`[prefix]{service}SEP…`).
    pub fn service_frame(&self) -> Option<(String, String)> {
        let parts = self.template.parts();
        let at = parts.iter().position(|p| matches!(p, Part::Placeholder(n) if n == "service"))?;
        let prefix: String = parts[..at]
            .iter()
            .map(|p| match p {
                Part::Literal(s) => Some(s.as_str()),
                Part::Placeholder(_) => None,
            })
            .collect::<Option<Vec<_>>>()?
            .concat();
        match parts.get(at + 1) {
            Some(Part::Literal(sep)) if !sep.is_empty() => Some((prefix, sep.clone())),
            _ => None,
        }
    }

    /// The first character the template puts right after `{service}` (`_` by default).
    /// Service names must not contain it, or a tag could not be split back into service
    /// and release.
    pub fn separator(&self) -> Option<String> {
        let parts = self.template.parts();
        let at = parts.iter().position(|p| matches!(p, Part::Placeholder(n) if n == "service"))?;
        match parts.get(at + 1) {
            Some(Part::Literal(s)) => s.chars().next().map(|c| c.to_string()),
            _ => None,
        }
    }

    /// The service an image tag names, when it has the template's shape.
    pub fn service_of<'a>(&self, image_tag: &'a str) -> Option<&'a str> {
        let (prefix, sep) = self.service_frame()?;
        let rest = image_tag.strip_prefix(prefix.as_str())?;
        let end = rest.find(sep.as_str())?;
        (end > 0).then(|| &rest[..end])
    }

    /// The part of every release's tag of `service` that comes before the release
    /// (`<service>_`): what identifies the service's image whatever the release. Empty when
    /// that part does not contain the service name (then it identifies nothing).
    pub fn service_prefix(&self, service: &str) -> String {
        let mut prefix = String::new();
        for part in self.template.parts() {
            match part {
                Part::Literal(s) => prefix.push_str(s),
                Part::Placeholder(n) if n == "service" => prefix.push_str(service),
                Part::Placeholder(_) => break,
            }
        }
        if !prefix.contains(service) {
            prefix.clear();
        }
        prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_repository_drops_the_tag_and_digest_but_not_a_registry_port() {
        let digest = "sha256:00";
        let cases = [
            ("127.0.0.1:5000/shop:user-service_v1", "127.0.0.1:5000/shop"),
            ("127.0.0.1:5000/shop", "127.0.0.1:5000/shop"),
            ("shop:v1", "shop"),
            ("r.example/a/b:t@sha256:00", "r.example/a/b"),
            ("localhost:5000/shop@sha256:00", "localhost:5000/shop"),
            ("api", "api"),
            ("api:1", "api"),
            (&format!("api@{digest}")[..], "api"),
            (&format!("localhost:5000/a/b:1@{digest}")[..], "localhost:5000/a/b"),
            ("localhost:5000/a/b", "localhost:5000/a/b"),
            ("acme-app_order-server:latest", "acme-app_order-server"),
            ("acme-app_order-server@sha256:abcd", "acme-app_order-server"),
            ("acme-app_order-server:v1@sha256:abcd", "acme-app_order-server"),
            ("localhost:5000/acme/x", "localhost:5000/acme/x"),
            ("localhost:5000/acme/x:1", "localhost:5000/acme/x"),
            ("busybox", "busybox"),
        ];
        for (reference, want) in cases {
            assert_eq!(image_repository(reference), want, "{reference}");
        }
    }

    #[test]
    fn naming_table() {
        let release = ReleaseRef::new("v1.2.3-abc1234", "1.2.3", "abc1234");
        // (template, service, tag, separator, prefix)
        let rows: &[(&str, &str, &str, Option<&str>, &str)] = &[
            ("{service}_{tag}", "api", "api_v1.2.3-abc1234", Some("_"), "api_"),
            ("shop-{service}.{version}", "api", "shop-api.1.2.3", Some("."), "shop-api."),
            ("{tag}-{service}", "api", "v1.2.3-abc1234-api", None, ""),
            ("{service}--{sha}", "db", "db--abc1234", Some("-"), "db--"),
        ];
        for (template, service, tag, sep, prefix) in rows {
            let n = ImageNaming::parse(template).unwrap();
            assert_eq!(n.image_tag(service, &release), *tag, "{template}");
            assert_eq!(n.separator().as_deref(), *sep, "{template}");
            assert_eq!(n.service_prefix(service), *prefix, "{template}");
        }
    }

    #[test]
    fn service_of_reads_back_only_the_templates_shape() {
        let n = ImageNaming::parse("shop-{service}.{version}").unwrap();
        assert_eq!(n.service_of("shop-api.1.2.3"), Some("api"));
        assert_eq!(n.service_of("api.1.2.3"), None);
        assert_eq!(n.service_of("shop-.1.2.3"), None);
        let d = ImageNaming::default();
        assert_eq!(d.service_of("user-service_v1.0.0-abc1234"), Some("user-service"));
        assert_eq!(d.service_of("latest"), None);
        assert_eq!(ImageNaming::parse("{tag}{service}").unwrap().service_of("v1api"), None);
    }

    #[test]
    fn unknown_placeholders_are_refused() {
        assert!(ImageNaming::parse("{service}_{branch}").is_err());
    }
}
