//! `[registry]`: the one repository every service's images go to, and how they are tagged.

use hoist_version::{Template, names};
use serde::Deserialize;

use crate::version::VersionConfig;

/// Placeholders an image tag template may use.
pub use hoist_version::naming::IMAGE_TAG_PLACEHOLDERS;

/// `[registry]`
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// `host[:port]/path`, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop`
    /// or `127.0.0.1:5000/shop`.
    pub repository: String,
    /// The tag of a service's image; default `{service}_{tag}`.
    #[serde(default = "default_image_tag")]
    pub image_tag: String,
    /// Allow plain HTTP to a non-loopback registry.
    #[serde(default)]
    pub insecure: bool,
    /// Parallel blob uploads.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub jobs: Option<usize>,
    /// Other repositories on the same registry to mount blobs from.
    #[serde(default)]
    pub mount_from: Vec<String>,
}

fn default_image_tag() -> String {
    hoist_version::naming::DEFAULT_IMAGE_TAG.into()
}

impl RegistryConfig {
    pub fn image_tag_template(&self) -> Template {
        Template::parse(&self.image_tag, IMAGE_TAG_PLACEHOLDERS).expect("validated when the config was loaded")
    }

    /// How the release's images are tagged (`hoist_version::naming`).
    pub fn naming(&self) -> hoist_version::naming::ImageNaming {
        hoist_version::naming::ImageNaming::parse(&self.image_tag).expect("validated when the config was loaded")
    }

    /// The text the template puts right after `{service}` (`_` by default); service names
    /// must not contain it, or a tag could not be split back into service and release.
    pub fn service_separator(&self) -> Option<String> {
        self.naming().separator()
    }

    pub(crate) fn validate<'a>(
        &self,
        version: &VersionConfig,
        services: impl Iterator<Item = &'a String>,
    ) -> Result<(), (String, String)> {
        let repo = self.repository.trim();
        let last = repo.rsplit('/').next().unwrap_or("");
        if !repo.contains('/')
            || repo.contains("://")
            || repo.contains('@')
            || last.contains(':')
            || repo.ends_with('/')
        {
            return Err((
                "registry.repository".into(),
                format!(
                    "`{}` must be `host[:port]/path` without a scheme or tag, e.g. `127.0.0.1:5000/shop`",
                    self.repository
                ),
            ));
        }
        let template = Template::parse(&self.image_tag, IMAGE_TAG_PLACEHOLDERS)
            .map_err(|e| ("registry.image_tag".to_string(), e.to_string()))?;
        if !template.uses("service") || !(template.uses("tag") || template.uses("version")) {
            return Err((
                "registry.image_tag".into(),
                format!("`{}` must contain `{{service}}` and `{{tag}}` (or `{{version}}`)", self.image_tag),
            ));
        }
        let sep = self.service_separator();
        let format = version.tag_format();
        let sample_tag = format.render(&semver::Version::new(10, 20, 30), &"a".repeat(40));
        for service in services {
            if let Some(sep) = &sep
                && service.contains(sep.as_str())
            {
                return Err((
                    format!("services.{service}"),
                    format!(
                        "service name `{service}` contains `{sep}`, which the image tag `{}` puts after the service name; the tag could not be split back",
                        self.image_tag
                    ),
                ));
            }
            let tag = template.render_with(&[
                ("service", service),
                ("tag", &sample_tag),
                ("version", "10.20.30"),
                ("sha", &"a".repeat(version.sha_length)),
            ]);
            names::check_oci_tag(&tag).map_err(|m| {
                (
                    "version.tag_format".to_string(),
                    format!("image tags are derived from `{}` via `{}`: {m}", version.tag_format, self.image_tag),
                )
            })?;
        }
        if self.jobs == Some(0) {
            return Err(("registry.jobs".into(), "must be at least 1".into()));
        }
        Ok(())
    }
}
