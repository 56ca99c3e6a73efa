//! The release's side of the registry: a client for `[registry] repository` with its
//! credentials and deadlines, and the push requests of a release (layout ref → image tag).

use std::sync::Arc;

use hoist_config::{Config, RegistryConfig};
use hoist_diag::Report;
use hoist_registry::{Auth, Client, Options, Progress, PushRequest, Repository};
use hoist_version::naming::{ImageNaming, layout_ref};

use crate::carry::Carried;
use crate::execute::CarriedOutput;
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

/// One push request per service of `services` (the ones the release builds): its layout
/// image, and the tag it gets in the repository.
pub fn push_requests(config: &Config, release: &ReleaseTag, services: &[String]) -> Result<Vec<PushRequest>, Report> {
    let naming = naming(config)?;
    Ok(services
        .iter()
        .map(|s| PushRequest { source: layout_ref(s, &release.tag), tag: naming.image_tag(s, release) })
        .collect())
}

/// Give each carried image this release's tag, by digest (the image the plan checked,
/// whatever its old tag names now). Runs after the built images are in, so a failed push
/// leaves no tag of the release naming an old image alone.
pub fn tag_carried(
    client: &Client,
    runtime: &tokio::runtime::Runtime,
    carried: &std::collections::BTreeMap<String, Carried>,
    say: &dyn Fn(&str),
) -> Result<std::collections::BTreeMap<String, CarriedOutput>, Report> {
    let mut out = std::collections::BTreeMap::new();
    for (service, c) in carried {
        let digest = runtime
            .block_on(client.retag(&c.digest, &c.tag))
            .map_err(|e| Report::from(e).context(format!("cannot tag {service}'s image {} as {}", c.digest, c.tag)))?;
        say(&format!("carried {service} from {}: tagged {} (no upload)", c.from, c.tag));
        out.insert(service.clone(), CarriedOutput { tag: c.tag.clone(), digest, from: c.from.clone() });
    }
    Ok(out)
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

/// The push registry's host (`[registry] repository`), whose credentials the environment's
/// `HOIST_REGISTRY_*` are: a base image on another host never gets them.
pub(crate) fn push_host(config: &hoist_config::Config) -> Option<String> {
    let r = config.registry.as_ref()?;
    hoist_registry::Repository::parse(&r.repository, r.insecure).ok().map(|r| r.host)
}
