//! The release's side of the registry: a client for `[registry] repository` with its
//! credentials and deadlines, and the push requests of a release (layout ref → image tag).

use std::sync::Arc;

use hoist_config::{Config, RegistryConfig};
use hoist_diag::Report;
use hoist_registry::{Auth, Client, Options, Progress, PushRequest, Repository};
use hoist_version::naming::{ImageNaming, layout_ref};

use crate::report::{Event, Reporter};
use crate::tag::ReleaseTag;

/// `[registry]`, or the error that says how to add it.
pub fn registry_config(config: &Config) -> Result<&RegistryConfig, Report> {
    config.registry.as_ref().ok_or_else(|| {
        Report::user("hoist.toml has no `[registry]` section")
            .with_hint("add `[registry]` with `repository = \"host[:port]/path\"` (one repository for every service)")
    })
}

/// How `[registry] image_tag` names the release's images.
pub fn naming(config: &Config) -> Result<ImageNaming, Report> {
    Ok(registry_config(config)?.naming())
}

/// A client for `[registry] repository`, credentials from the environment or config.json.
/// Transfers are reported to `reporter` when `progress` is set.
pub fn client(config: &Config, jobs: Option<usize>, reporter: Option<Arc<dyn Reporter>>) -> Result<Client, Report> {
    let registry = registry_config(config)?;
    let repo = Repository::parse(&registry.repository, registry.insecure)?;
    let auth = Auth::resolve(&repo.host)?;
    let mut options = Options {
        jobs: jobs.or(registry.jobs).unwrap_or(4).max(1),
        mount_from: registry.mount_from.clone(),
        // Deadlines from HOIST_REGISTRY_TIMEOUT / HOIST_REGISTRY_MIN_RATE.
        ..Options::from_env()?
    };
    if let Some(reporter) = reporter {
        // Names where the credential came from, never the credential.
        reporter.detail(&format!("registry {repo}: credentials: {}", auth.source));
        options.progress = Some(Arc::new(move |event: &Progress| match event {
            Progress::BlobStart { size, .. } => reporter.event(Event::TransferTotal { add: *size }),
            Progress::BlobBytes { bytes, .. } => reporter.event(Event::TransferBytes { add: *bytes }),
            Progress::Retry { what, attempt, reason } => {
                reporter.event(Event::Retry { what, attempt: *attempt, reason: &reason.to_string() })
            }
            Progress::BlobDone { .. } | Progress::Manifest { .. } => {}
        }));
    }
    Ok(Client::new(repo, auth, options)?)
}

/// One push request per service: its layout image, and the tag it gets in the repository.
pub fn push_requests(config: &Config, release: &ReleaseTag) -> Result<Vec<PushRequest>, Report> {
    let naming = naming(config)?;
    Ok(config
        .services
        .keys()
        .map(|s| PushRequest { source: layout_ref(s, &release.tag), tag: naming.image_tag(s, release) })
        .collect())
}

/// The manifest digest each of `tags` names in `[registry] repository` (`None` where the
/// registry has no such tag): one HEAD per tag.
pub fn manifest_digests(config: &Config, tags: &[&str]) -> Result<Vec<Option<String>>, Report> {
    let client = client(config, None, None)?;
    let runtime = crate::runtime()?;
    let mut out = Vec::with_capacity(tags.len());
    for tag in tags {
        out.push(runtime.block_on(client.manifest_digest(tag))?);
    }
    Ok(out)
}
