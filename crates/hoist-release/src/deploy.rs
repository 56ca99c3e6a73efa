//! The deploy step's inputs, worked out from `hoist.toml` and the release: a compose
//! [`Target`] and the images to pin, or the Kubernetes images and options; and running
//! either. The engines themselves live in `hoist-compose` and `hoist-kube`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hoist_compose::{Deployer, ProbeSpec, ReleaseImages, Source, Target, Wanted};
use hoist_config::{ComposeConfig, Config, KubernetesConfig, StatePath};
use hoist_diag::Report;
use hoist_kube::{Images, Rendered, ServiceImage};
use hoist_version::naming::ImageNaming;
use serde::{Deserialize, Serialize};

use crate::report::Reporter;
use crate::tag::ReleaseTag;

pub fn compose_config(config: &Config) -> ComposeConfig {
    config.deploy.compose.clone().unwrap_or_default()
}

/// The compose project hoist deploys to on this host.
pub fn target(config: &Config, timeout: Option<u64>) -> Target {
    let c = compose_config(config);
    let probes: BTreeMap<String, ProbeSpec> = c
        .probes
        .iter()
        .filter_map(|(s, p)| {
            let spec = match (&p.http, &p.tcp) {
                (Some(url), _) => ProbeSpec::Http(url.clone()),
                (None, Some(addr)) => ProbeSpec::Tcp(addr.clone()),
                (None, None) => return None,
            };
            Some((s.clone(), spec))
        })
        .collect();
    Target {
        project: c.project.clone().unwrap_or_else(|| config.project_name()),
        dir: std::fs::canonicalize(&config.root).unwrap_or_else(|_| config.root.clone()),
        files: c.files.iter().map(|f| config.resolve(f)).collect(),
        state_dir: StatePath::Deploy.path(config),
        docker_host: None,
        timeout: Duration::from_secs(timeout.unwrap_or(c.timeout)),
        settle: Duration::from_secs(c.settle),
        keep: c.keep,
        probes,
        sync: None,
    }
}

pub fn deployer(config: &Config, timeout: Option<u64>) -> Result<Deployer, Report> {
    Ok(Deployer::new(target(config, timeout))?)
}

/// The release's images: `[registry] repository` + `image_tag` per service; without a
/// registry (archive deploys) the repository `hoist image export` names them with.
pub fn compose_release(config: &Config, tag: &ReleaseTag, archive: Option<PathBuf>) -> Result<ReleaseImages, Report> {
    if config.services.is_empty() {
        return Err(Report::user("hoist.toml has no [services.<name>]: there is nothing to deploy")
            .with_hint("add one [services.<name>] table per compose service hoist should pin"));
    }
    let (repository, naming) = match &config.registry {
        Some(r) => (r.repository.clone(), crate::registry::naming(config)?),
        // The names `hoist image export` gives the images in the archive.
        None if archive.is_some() => (crate::images::image_repo(config), ImageNaming::default()),
        None => {
            return Err(Report::user(
                "no [registry] in hoist.toml: hoist does not know where the release's images are",
            )
            .with_hint(
                "add `[registry] repository = \"host/path\"`, or deploy from an image archive with --archive FILE",
            ));
        }
    };
    let images = config
        .services
        .keys()
        .map(|service| Wanted {
            service: service.clone(),
            reference: format!("{repository}:{}", naming.image_tag(service, tag)),
            digest: None,
            image_id: None,
        })
        .collect();
    let source = match archive {
        Some(a) => Source::Archive(a),
        None => Source::Registry,
    };
    Ok(ReleaseImages { tag: tag.tag.clone(), images, source })
}

/// Ask the registry which manifest each `<service>_<tag>` names (exact tag, HEAD), so the
/// engine pulls by digest and an image already on the host is not pulled again.
pub fn resolve_digests(config: &Config, release: &mut ReleaseImages) -> Result<(), Report> {
    let tags: Vec<String> = release
        .images
        .iter()
        .map(|w| w.reference.rsplit_once(':').map(|(_, t)| t).unwrap_or_default().to_string())
        .collect();
    let tag_refs: Vec<&str> = tags.iter().map(String::as_str).collect();
    let digests = crate::registry::manifest_digests(config, &tag_refs)?;
    for (w, digest) in release.images.iter_mut().zip(digests) {
        match digest {
            Some(digest) => w.digest = Some(digest),
            None => {
                return Err(Report::user(format!(
                    "`{}`: the registry has no {}; nothing running was changed",
                    w.service, w.reference
                ))
                .with_hint(format!(
                    "push the release first (`hoist push --tag {}`); `hoist images` lists what the registry has",
                    release.tag
                )));
            }
        }
    }
    Ok(())
}

pub fn k8s_config(config: &Config) -> KubernetesConfig {
    config.deploy.kubernetes.clone().unwrap_or_default()
}

/// `SERVICE=sha256:…` flags, checked against `[services]`.
pub fn parse_digests(config: &Config, flags: &[String]) -> Result<BTreeMap<String, String>, Report> {
    let mut out = BTreeMap::new();
    for flag in flags {
        let Some((service, digest)) = flag.split_once('=') else {
            return Err(Report::user(format!("--digest `{flag}` must be SERVICE=sha256:…")));
        };
        if !config.services.contains_key(service) {
            return Err(Report::user(format!("--digest `{flag}`: `{service}` is not a service in [services]")));
        }
        out.insert(service.to_string(), digest.to_string());
    }
    Ok(out)
}

/// Each service's image in this release: `[registry] repository` and `image_tag`.
pub fn kube_images(
    config: &Config,
    release: &ReleaseTag,
    digests: &BTreeMap<String, String>,
    carried: &BTreeMap<String, String>,
) -> Result<Images, Report> {
    let Some(registry) = &config.registry else {
        return Err(Report::user("no [registry] in hoist.toml: hoist does not know the release's image names")
            .with_hint("add `[registry] repository = \"host/path\"`"));
    };
    if config.services.is_empty() {
        return Err(Report::user("hoist.toml has no [services.<name>]: no image to set")
            .with_hint("add one [services.<name>] table per service whose image hoist sets"));
    }
    let k8s = k8s_config(config);
    let naming = crate::registry::naming(config)?;
    let mut services = BTreeMap::new();
    for service in config.services.keys() {
        let digest = digests.get(service).cloned();
        let tag = carried.get(service).cloned().unwrap_or_else(|| naming.image_tag(service, release));
        let placeholder = config.services[service].placeholder.clone();
        let image = ServiceImage { tag, prefix: naming.service_prefix(service), digest, placeholder };
        services.insert(service.clone(), image);
    }
    let mut images = Images { repository: registry.repository.clone(), services };
    if k8s.pin_digests {
        pin_from_registry(config, release, &mut images)?;
    }
    Ok(images)
}

/// `[deploy.kubernetes] pin_digests`: ask the registry which manifest each service's tag
/// names (`--digest` flags win), so the cluster runs exactly what was pushed.
fn pin_from_registry(config: &Config, release: &ReleaseTag, images: &mut Images) -> Result<(), Report> {
    let registry = config.registry.as_ref().expect("images() checked [registry]");
    let missing: Vec<(String, String)> = images
        .services
        .iter()
        .filter(|(_, s)| s.digest.is_none())
        .map(|(service, image)| (service.clone(), image.tag.clone()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let tags: Vec<&str> = missing.iter().map(|(_, t)| t.as_str()).collect();
    let digests = crate::registry::manifest_digests(config, &tags)?;
    for ((service, tag), digest) in missing.into_iter().zip(digests) {
        match digest {
            Some(digest) => {
                if let Some(image) = images.services.get_mut(&service) {
                    image.digest = Some(digest);
                }
            }
            None => {
                return Err(Report::user(format!(
                    "`{service}`: the registry has no {}:{tag}, so its digest cannot be pinned",
                    registry.repository
                ))
                .with_hint(format!(
                    "push the release first (`hoist push --tag {}`), or set `[deploy.kubernetes] pin_digests = false`",
                    release.tag
                )));
            }
        }
    }
    Ok(())
}

/// Load, rewrite and order the manifests of a release: `paths`, else
/// `[deploy.kubernetes] manifests`. Returns them with what the release pins (flags and
/// registry lookups alike, for the history).
pub fn render(
    config: &Config,
    release: &ReleaseTag,
    settings: &K8sSettings,
    digests: &BTreeMap<String, String>,
    reporter: &dyn Reporter,
) -> Result<(Rendered, BTreeMap<String, String>), Report> {
    let images = kube_images(config, release, digests, &settings.carried)?;
    let read = hoist_kube::read(&manifest_paths(config, settings))?;
    reporter.say(&read.summary(&|p| shown(config, p)));
    let rendered = hoist_kube::render(read.docs, &images)?;
    for warning in &rendered.warnings {
        reporter.warn(&format!("warning: {warning}"));
    }
    for r in &rendered.rewrites {
        reporter.detail(&format!("{} container {}: {} -> {}", r.object, r.container, r.from, r.to));
    }
    let pinned = images.services.iter().filter_map(|(n, s)| Some((n.clone(), s.digest.clone()?))).collect();
    Ok((rendered, pinned))
}

/// `settings.paths`, else `[deploy.kubernetes] manifests`.
fn manifest_paths(config: &Config, settings: &K8sSettings) -> Vec<PathBuf> {
    if settings.paths.is_empty() {
        k8s_config(config).manifests.iter().map(|m| config.resolve(m)).collect()
    } else {
        settings.paths.clone()
    }
}

/// A path as the user wrote it: relative to the project root when it is inside it.
fn shown(config: &Config, path: &std::path::Path) -> String {
    let root = std::fs::canonicalize(&config.root).unwrap_or_else(|_| config.root.clone());
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match path.strip_prefix(&root) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.display().to_string(),
    }
}

/// What server-side apply would refuse, as the error a deploy stops with.
pub fn refuse_problems(rendered: &Rendered) -> Result<(), Report> {
    if rendered.problems.is_empty() {
        return Ok(());
    }
    Err(hoist_kube::ManifestError::Duplicates { problems: rendered.problems.clone() }.into())
}

/// How a Kubernetes deploy runs; `None` fields fall back to `[deploy.kubernetes]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct K8sSettings {
    pub context: Option<String>,
    pub namespace: Option<String>,
    /// Seconds to wait for rollouts.
    pub timeout: Option<u64>,
    /// Manifest files or directories (default: `[deploy.kubernetes] manifests`).
    pub paths: Vec<PathBuf>,
    /// Server-side dry run.
    pub dry_run: bool,
    /// Show what would change (a server-side dry run).
    pub diff: bool,
    pub force_conflicts: bool,
    /// Prune even when more than half of the previous release's objects are gone from
    /// the manifests.
    #[serde(default)]
    pub allow_shrink: bool,
    /// Services carried from an earlier release, each with the image tag it keeps (the
    /// one of the release it was built for), so its pod template does not change.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub carried: BTreeMap<String, String>,
}

impl K8sSettings {
    /// The namespace objects without one and the release history go to.
    pub fn namespace(&self, config: &Config) -> String {
        self.namespace.clone().or(k8s_config(config).namespace).unwrap_or_else(|| "default".into())
    }
}

/// Render, apply, wait (and roll back on failure), with `digests` pinned.
pub fn deploy_k8s(
    config: &Config,
    release: &ReleaseTag,
    settings: &K8sSettings,
    digests: &BTreeMap<String, String>,
    reporter: Arc<dyn Reporter>,
) -> Result<hoist_kube::Outcome, Report> {
    let (rendered, pinned) = render(config, release, settings, digests, reporter.as_ref())?;
    // Before connecting: the cluster is not needed to know it would refuse these.
    refuse_problems(&rendered)?;
    let k8s = k8s_config(config);
    let namespace = settings.namespace(config);
    let context = settings.context.clone().or(k8s.context.clone());
    let mut opts = hoist_kube::Options::new(&config.project_name(), &release.tag, &namespace);
    opts.timeout = Duration::from_secs(settings.timeout.unwrap_or(k8s.timeout));
    opts.dry_run = settings.dry_run;
    opts.diff = settings.diff;
    opts.force_conflicts = settings.force_conflicts;
    opts.digests = pinned;
    opts.keep = k8s.keep;
    opts.allow_shrink = settings.allow_shrink;
    opts.sources = manifest_paths(config, settings).iter().map(|p| shown(config, p)).collect();
    let notes = reporter.clone();
    opts.progress = Arc::new(move |note| notes.say(note));

    let runtime = crate::runtime()?;
    let outcome = runtime.block_on(async {
        let cluster = hoist_kube::connect(context.as_deref()).await?;
        reporter.say(&format!(
            "deploying {} to {} ({}), namespace {namespace}{}",
            release.tag,
            cluster.context,
            cluster.url,
            if settings.dry_run || settings.diff { " (server-side dry run)" } else { "" }
        ));
        hoist_kube::deploy(&cluster, &rendered.docs, &opts).await
    })?;
    for (object, reason) in &outcome.kept {
        reporter.say(&format!("kept {object}: {reason}"));
    }
    Ok(outcome)
}
