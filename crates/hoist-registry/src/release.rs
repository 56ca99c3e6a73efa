//! Finding one release's images among the repository's tags.
//!
//! Every service's images share one repository, tagged by the image tag template
//! (`{service}_{tag}` by default). The original pipeline split tags on `_` and compared
//! loosely; here a tag belongs to release `TAG` only if rendering the template for its
//! service and `TAG` gives back exactly that tag. The service is what precedes the literal
//! the template puts after `{service}` (config validation keeps that literal out of service
//! names).

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use hoist_version::naming::ImageNaming;
use hoist_version::template::Part;
use hoist_version::{TagFormat, Template};
use serde::Serialize;

use crate::client::Client;
use crate::error::RegistryError;

/// One service's image of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ReleaseImage {
    pub service: String,
    /// The release tag (`v1.2.3-abc1234`).
    pub release: String,
    /// The image tag in the repository (`api_v1.2.3-abc1234`).
    pub tag: String,
    /// The manifest digest, once looked up.
    pub digest: Option<String>,
}

/// The literal text before `{service}` and right after it (`hoist_version::naming`).
fn service_frame(template: &Template) -> Option<(String, String)> {
    naming(template)?.service_frame()
}

fn naming(template: &Template) -> Option<ImageNaming> {
    ImageNaming::parse(template.as_str()).ok()
}

/// The service an image tag names, when it has the template's shape.
pub fn service_of<'a>(template: &Template, image_tag: &'a str) -> Option<&'a str> {
    naming(template)?.service_of(image_tag)
}

/// The tags of one release: those equal to the template rendered for their service and
/// the release `values` (`tag`, `version`, `sha`). Sorted by service.
pub fn select_release(tags: &[String], template: &Template, values: &[(&str, &str)]) -> Vec<ReleaseImage> {
    let release = values.iter().find(|(k, _)| *k == "tag").map(|(_, v)| v.to_string()).unwrap_or_default();
    let mut out: Vec<ReleaseImage> = tags
        .iter()
        .filter_map(|tag| {
            let service = service_of(template, tag)?;
            let mut pairs = vec![("service", service)];
            pairs.extend(values.iter().copied());
            (template.render_with(&pairs) == *tag).then(|| ReleaseImage {
                service: service.to_string(),
                release: release.clone(),
                tag: tag.clone(),
                digest: None,
            })
        })
        .collect();
    out.sort_by(|a, b| a.service.cmp(&b.service));
    out
}

/// Each service's highest release by SemVer precedence (the hash suffix does not count).
/// Needs a template of the shape `[prefix]{service}SEP{tag}[suffix]` (or `{version}`).
pub fn latest_releases(
    tags: &[String],
    template: &Template,
    format: &TagFormat,
) -> Result<Vec<ReleaseImage>, RegistryError> {
    let bad = |reason: &str| RegistryError::Template { template: template.as_str().to_string(), reason: reason.into() };
    let parts = template.parts();
    let at = parts
        .iter()
        .position(|p| matches!(p, Part::Placeholder(n) if n == "service"))
        .ok_or_else(|| bad("it has no {service}"))?;
    let (release_key, suffix) = match &parts[at + 1..] {
        [Part::Literal(_), Part::Placeholder(k)] => (k.clone(), String::new()),
        [Part::Literal(_), Part::Placeholder(k), Part::Literal(s)] => (k.clone(), s.clone()),
        _ => return Err(bad("the release must follow `{service}` and one separator")),
    };
    if release_key != "tag" && release_key != "version" {
        return Err(bad("the release part must be {tag} or {version}"));
    }
    let (prefix, sep) = service_frame(template).ok_or_else(|| bad("no separator after {service}"))?;
    let mut best: BTreeMap<String, (semver::Version, ReleaseImage)> = BTreeMap::new();
    for tag in tags {
        let Some(service) = service_of(template, tag) else { continue };
        let start = prefix.len() + service.len() + sep.len();
        let Some(release) = tag.get(start..).and_then(|r| r.strip_suffix(suffix.as_str())) else { continue };
        let (version, values): (semver::Version, Vec<(&str, String)>) = if release_key == "tag" {
            let Ok(parsed) = format.parse(release) else { continue };
            let sha = parsed.sha.clone().unwrap_or_default();
            (
                parsed.version.clone(),
                vec![("tag", release.to_string()), ("version", parsed.version.to_string()), ("sha", sha)],
            )
        } else {
            let Ok(v) = semver::Version::parse(release) else { continue };
            (v.clone(), vec![("version", release.to_string()), ("tag", release.to_string())])
        };
        let mut pairs: Vec<(&str, &str)> = vec![("service", service)];
        pairs.extend(values.iter().map(|(k, v)| (*k, v.as_str())));
        if template.render_with(&pairs) != *tag {
            continue;
        }
        let image =
            ReleaseImage { service: service.to_string(), release: release.to_string(), tag: tag.clone(), digest: None };
        match best.get(service) {
            Some((v, _)) if v.cmp_precedence(&version) != std::cmp::Ordering::Less => {}
            _ => {
                best.insert(service.to_string(), (version, image));
            }
        }
    }
    Ok(best.into_values().map(|(_, i)| i).collect())
}

impl Client {
    /// Fill in each image's manifest digest (HEAD requests, in parallel with a bound).
    pub async fn with_digests(&self, images: Vec<ReleaseImage>) -> Result<Vec<ReleaseImage>, RegistryError> {
        let jobs = self.inner.opts.jobs.max(1);
        futures::stream::iter(images)
            .map(|mut image| async move {
                image.digest = self.manifest_digest(&image.tag).await?;
                Ok::<_, RegistryError>(image)
            })
            .buffered(jobs)
            .try_collect()
            .await
    }

    /// The images of release `values` (`tag`, `version`, `sha`) with their digests.
    pub async fn resolve_release(
        &self,
        template: &Template,
        values: &[(&str, &str)],
    ) -> Result<Vec<ReleaseImage>, RegistryError> {
        let tags = self.list_tags().await?;
        self.with_digests(select_release(&tags, template, values)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(s: &str) -> Template {
        Template::parse(s, &["service", "tag", "version", "sha"]).unwrap()
    }

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn selects_exactly_one_release() {
        let t = template("{service}_{tag}");
        let all = tags(&[
            "api_v1.2.3-abc1234",
            "web_v1.2.3-abc1234",
            "api_v1.2.3-abc1234x",
            "api_v1.2.30-abc1234",
            "api_v1.2.3-abc123",
            "web_v1.2.4-def5678",
            "my-svc_v1.2.3-abc1234",
            "_v1.2.3-abc1234",
            "latest",
            "api_v1.2.3-abc1234_extra",
        ]);
        let values = [("tag", "v1.2.3-abc1234"), ("version", "1.2.3"), ("sha", "abc1234")];
        let got: Vec<(String, String)> =
            select_release(&all, &t, &values).into_iter().map(|i| (i.service, i.tag)).collect();
        assert_eq!(
            got,
            vec![
                ("api".to_string(), "api_v1.2.3-abc1234".to_string()),
                ("my-svc".to_string(), "my-svc_v1.2.3-abc1234".to_string()),
                ("web".to_string(), "web_v1.2.3-abc1234".to_string()),
            ]
        );
    }

    #[test]
    fn other_templates() {
        let t = template("shop-{service}.{version}");
        let all = tags(&["shop-api.1.2.3", "shop-api.1.2.3.1", "api.1.2.3", "shop-web.1.2.3"]);
        let values = [("tag", "v1.2.3"), ("version", "1.2.3"), ("sha", "")];
        let got: Vec<String> = select_release(&all, &t, &values).into_iter().map(|i| i.tag).collect();
        assert_eq!(got, vec!["shop-api.1.2.3", "shop-web.1.2.3"]);
        assert_eq!(service_of(&t, "shop-api.1.2.3"), Some("api"));
        assert_eq!(service_of(&t, "api.1.2.3"), None);
    }

    #[test]
    fn latest_by_precedence() {
        let t = template("{service}_{tag}");
        let format = TagFormat::new("v{version}-{sha}", 7).unwrap();
        let all = tags(&[
            "api_v1.2.3-abc1234",
            "api_v1.10.0-def5678",
            "api_v1.9.9-0123456",
            "api_v2.0.0-rc.1-9999999",
            "web_v0.1.0-aaaaaaa",
            "web_garbage",
            "latest",
        ]);
        let got: Vec<(String, String)> =
            latest_releases(&all, &t, &format).unwrap().into_iter().map(|i| (i.service, i.release)).collect();
        assert_eq!(
            got,
            vec![
                ("api".to_string(), "v2.0.0-rc.1-9999999".to_string()),
                ("web".to_string(), "v0.1.0-aaaaaaa".to_string()),
            ]
        );
    }

    #[test]
    fn latest_needs_a_readable_template() {
        let t = template("{tag}-{service}");
        let format = TagFormat::new("v{version}", 7).unwrap();
        assert!(latest_releases(&[], &t, &format).is_err());
    }
}
