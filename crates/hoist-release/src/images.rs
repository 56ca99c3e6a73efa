//! A release's images: what each service's image is made of (its artifact's layers, or
//! its Dockerfile), the labels and times that make it reproducible, and building them all
//! into the local OCI layout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hoist_build::Artifact;
use hoist_config::{Config, Layering, StatePath};
use hoist_diag::Report;
use hoist_oci::{BuiltImage, Compression, ConfigSpec, ImagePlan, Layout};
use hoist_version::naming::layout_ref as service_ref;
use serde::{Deserialize, Serialize};

use crate::Env;
use crate::report::Reporter;
use crate::tag::ReleaseTag;

/// How a service's image is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImageKind {
    /// From the service's build artifact (a jar is split into dependency and application
    /// layers) on top of `[image] base`.
    Artifact,
    /// From the service's `image.dockerfile` (the supported subset, no RUN).
    Dockerfile,
}

/// One service's image, as planned before the build runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServiceImage {
    pub service: String,
    /// Its name in the local layout (`<service>_<tag>`).
    pub name: String,
    pub kind: ImageKind,
    /// The base image (a ref in the layout), or none for an image from scratch.
    pub base: Option<String>,
    /// The Dockerfile, relative to the project root, for `kind = dockerfile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
}

/// hoist.toml has services, or the error that says to add them.
pub fn require_services(config: &Config) -> Result<(), Report> {
    if config.services.is_empty() {
        return Err(
            Report::user("hoist.toml has no [services.<name>]").with_hint("add the services whose images hoist builds")
        );
    }
    Ok(())
}

/// The services that get an image: those with an artifact or a Dockerfile, in `services`
/// order (all when empty).
pub fn plan(config: &Config, tag: &ReleaseTag, services: &[String]) -> Result<Vec<ServiceImage>, Report> {
    require_services(config)?;
    for s in services {
        if !config.services.contains_key(s) {
            return Err(Report::from(hoist_build::BuildError::UnknownService {
                name: s.clone(),
                known: config.services.keys().cloned().collect::<Vec<_>>().join(", "),
            }));
        }
    }
    let planned: Vec<ServiceImage> = config
        .services
        .iter()
        .filter(|(name, _)| services.is_empty() || services.contains(name))
        .filter_map(|(name, svc)| {
            let (kind, base) = match &svc.image.dockerfile {
                Some(_) => (ImageKind::Dockerfile, None),
                None if svc.artifact.is_some() => {
                    (ImageKind::Artifact, svc.image.base.clone().or_else(|| config.image.base.clone()))
                }
                None => return None,
            };
            Some(ServiceImage {
                service: name.clone(),
                name: service_ref(name, &tag.tag),
                kind,
                base,
                dockerfile: svc.image.dockerfile.clone(),
            })
        })
        .collect();
    if planned.is_empty() {
        return Err(Report::user("no service has an `artifact` or `image.dockerfile` in hoist.toml"));
    }
    Ok(planned)
}

/// One service's image, composed: ready to build.
#[derive(Debug, Clone)]
pub struct Composed {
    pub service: String,
    pub plan: ImagePlan,
    /// What it is made from: `spring-boot`, `thin-jar`, `jar`, `file` (an artifact) or
    /// `dockerfile`.
    pub kind: &'static str,
}

/// What each image is made of, ready to build: the layers of its artifact (given, or found
/// and hashed when `artifacts` has none for it) or of its Dockerfile.
pub fn compose(
    config: &Config,
    tag: &ReleaseTag,
    images: &[ServiceImage],
    artifacts: &[Artifact],
    env: &Env,
    reporter: &dyn Reporter,
) -> Result<Vec<Composed>, Report> {
    let label_epoch = release_epoch(config, env, tag.commit.as_deref());
    let layer_epoch = fixed_epoch(env);
    let mut plans = Vec::new();
    for image in images {
        let (p, kind) = match image.kind {
            ImageKind::Dockerfile => {
                let df = image.dockerfile.as_deref().expect("planned with its Dockerfile");
                let (p, notes) = dockerfile_service_plan(config, &image.service, df, tag, label_epoch, layer_epoch)?;
                for note in notes {
                    reporter.say(&format!("note: {note}"));
                }
                (p, "dockerfile")
            }
            ImageKind::Artifact => {
                let (path, sha256) = match artifacts.iter().find(|a| a.service == image.service) {
                    // The build step's own output: hashed once, when it was built.
                    Some(a) => (a.path.clone(), a.sha256.clone()),
                    None => {
                        let pattern = config.services[&image.service].artifact.as_deref().expect("planned");
                        let release = hoist_build::ReleaseRef::new(&tag.tag, &tag.version, &tag.sha);
                        let build = hoist_build::plan(config, &release, std::slice::from_ref(&image.service), None)?;
                        let pattern = build.services[0].artifact.clone().unwrap_or_else(|| pattern.to_string());
                        let path = hoist_build::find_artifact(&config.root, &image.service, &pattern)?;
                        let (_, sha256) = hoist_build::hash_file(&path)?;
                        (path, sha256)
                    }
                };
                let (p, kind) = service_plan(config, &image.service, &path, &sha256, tag, label_epoch, layer_epoch)?;
                if p.base.is_none() {
                    reporter.say(&format!(
                        "note: {} has no base image (`[image] base`), so its image holds only the artifact",
                        image.service
                    ));
                }
                (p, kind)
            }
        };
        reporter.detail(&format!("{}: {} layers ({kind})", image.service, p.layers.len()));
        plans.push(Composed { service: image.service.clone(), plan: p, kind });
    }
    Ok(plans)
}

/// Build composed images into the project's layout; layers shared by several are written once.
pub fn build(config: &Config, plans: &[ImagePlan], jobs: Option<usize>) -> Result<(Layout, Vec<BuiltImage>), Report> {
    let layout = Layout::create_or_open(&StatePath::Layout.path(config))?;
    let jobs = jobs.unwrap_or_else(hoist_oci::layer::default_jobs).max(1);
    let built = hoist_oci::build_images(&layout, plans, compression(config), jobs)?;
    Ok((layout, built))
}

/// Bytes of the layers these builds compressed (not already in the layout), each distinct
/// layer once.
pub fn new_layer_bytes(built: &[BuiltImage]) -> u64 {
    let mut seen = std::collections::BTreeSet::new();
    built.iter().flat_map(|b| &b.layers).filter(|l| l.new && seen.insert(l.digest.as_str())).map(|l| l.size).sum()
}

/// `[image] compression` and `level` as the OCI writer takes them.
pub fn compression(config: &Config) -> Compression {
    match config.image.compression {
        hoist_config::Compression::Gzip => Compression::Gzip { level: config.image.level.unwrap_or(1) },
        hoist_config::Compression::Zstd => Compression::Zstd { level: config.image.level.unwrap_or(3) as i32 },
    }
}

/// The time a release's labels record (`org.opencontainers.image.created`):
/// `SOURCE_DATE_EPOCH`, else the release commit's time, else HEAD's, else 0.
pub fn release_epoch(config: &Config, env: &Env, commit: Option<&str>) -> u64 {
    if let Some(e) = env.source_date_epoch {
        return e;
    }
    let Ok(git) = hoist_git::Git::open(&config.root) else { return 0 };
    let time = git.commit_time(commit.unwrap_or("HEAD")).ok().or_else(|| git.commit_time("HEAD").ok());
    time.map(|t| t.max(0) as u64).unwrap_or(0)
}

/// The mtime of every file in an image's layers (and the config's `created`):
/// `SOURCE_DATE_EPOCH`, else 0; never the commit time. Each release is a new commit, so
/// commit-time mtimes would give every unchanged dependency layer a new digest on every
/// release, and a release that changed one class would upload all its dependencies again
/// (measured by bench/e2e.sh: 55 MB instead of 27 KB). The commit time is still recorded,
/// in the `org.opencontainers.image.created` label. Images that are not a release's (an
/// imported base, `build-file`) use it too, so the same root filesystem gives the same
/// base digest whatever the commit.
pub fn fixed_epoch(env: &Env) -> u64 {
    env.source_date_epoch.unwrap_or(0)
}

fn oci_labels(config: &Config, tag: &ReleaseTag, epoch: u64) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert("org.opencontainers.image.version".into(), tag.tag.clone());
    labels.insert("org.opencontainers.image.revision".into(), tag.commit.clone().unwrap_or_else(|| tag.sha.clone()));
    if let Some(source) = &config.project.source {
        labels.insert("org.opencontainers.image.source".into(), source.clone());
    }
    labels.insert("org.opencontainers.image.created".into(), hoist_oci::image::rfc3339(epoch));
    labels
}

fn service_plan(
    config: &Config,
    name: &str,
    artifact: &Path,
    sha256: &str,
    tag: &ReleaseTag,
    epoch: u64,
    layer_epoch: u64,
) -> Result<(ImagePlan, &'static str), Report> {
    let svc = &config.services[name].image;
    let image = &config.image;
    let split = svc.layering == Layering::Auto;
    let layered = hoist_oci::jar::artifact_layers_verified(
        &config.root,
        artifact,
        Some(sha256),
        split,
        svc.artifact_path.as_deref(),
    )?;
    let mut env: Vec<(String, String)> = image.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (k, v) in &svc.env {
        match env.iter_mut().find(|(ek, _)| ek == k) {
            Some(slot) => slot.1 = v.clone(),
            None => env.push((k.clone(), v.clone())),
        }
    }
    let mut labels = image.labels.clone();
    labels.extend(svc.labels.clone());
    labels.extend(oci_labels(config, tag, epoch));
    let entrypoint = match svc.entrypoint.clone().or_else(|| image.entrypoint.clone()) {
        // An exploded Spring Boot jar has no jar file to `-jar`: the configured command's
        // `-jar <jar>` becomes `-cp /app <launcher>`, the rest of it is kept.
        Some(ep) if layered.kind == "spring-boot" => spring_boot_entrypoint(ep, &layered.entrypoint),
        Some(ep) => ep,
        None => layered.entrypoint.clone(),
    };
    let config_spec = ConfigSpec {
        entrypoint: Some(entrypoint),
        cmd: svc.cmd.clone().or_else(|| image.cmd.clone()),
        env,
        workdir: Some(svc.workdir.clone().or_else(|| image.workdir.clone()).unwrap_or(layered.workdir)),
        user: svc.user.clone().or_else(|| image.user.clone()),
        ports: svc.port_specs(),
        labels,
        volumes: Vec::new(),
        stop_signal: None,
        shell: None,
        default_path: false,
    };
    let plan = ImagePlan {
        name: service_ref(name, &tag.tag),
        base: svc.base.clone().or_else(|| image.base.clone()),
        layers: layered.layers,
        config: config_spec,
        epoch: layer_epoch,
        platforms: crate::platforms::targets(config)?,
    };
    Ok((plan, layered.kind))
}

/// `[java, flags..., -jar, X, args...]` → `[java, flags..., -cp, /app, Launcher, args...]`.
fn spring_boot_entrypoint(configured: Vec<String>, exploded: &[String]) -> Vec<String> {
    // `exploded[1..]` is `-cp /app <Main-Class>`.
    hoist_oci::jar::replace_dash_jar(&configured, |_| true, &exploded[1..]).unwrap_or(configured)
}

fn dockerfile_service_plan(
    config: &Config,
    name: &str,
    dockerfile: &str,
    tag: &ReleaseTag,
    epoch: u64,
    layer_epoch: u64,
) -> Result<(ImagePlan, Vec<String>), Report> {
    let svc = &config.services[name];
    let context = config.root.join(svc.dir_or(name));
    let path = config.root.join(dockerfile);
    let args = BTreeMap::from([("TAG".to_string(), tag.tag.clone()), ("VERSION".to_string(), tag.version.clone())]);
    let options =
        hoist_oci::dockerfile::PlanOptions { split_jars: svc.image.layering == Layering::Auto, ..Default::default() };
    let p = hoist_oci::dockerfile::plan_with(&path, &context, &args, &options)?;
    // Without a layout there is no base to look into yet; the build says so itself.
    let layout_dir = StatePath::Layout.path(config);
    let mut notes = p.notes.clone();
    if layout_dir.join("oci-layout").is_file() {
        notes.extend(p.check_shell(&Layout::open(&layout_dir)?)?);
    }
    let mut cfg = p.config;
    cfg.labels.extend(oci_labels(config, tag, epoch));
    let plan = ImagePlan {
        name: service_ref(name, &tag.tag),
        base: p.base,
        layers: p.layers,
        config: cfg,
        epoch: layer_epoch,
        platforms: crate::platforms::targets(config)?,
    };
    Ok((plan, notes))
}

/// The Docker repository a layout ref is loaded as: `[registry] repository`, else the project name.
pub fn image_repo(config: &Config) -> String {
    if let Some(r) = &config.registry {
        return r.repository.trim().to_string();
    }
    let name = config.project.name.clone().unwrap_or_else(|| {
        config.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "hoist".into())
    });
    name.to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' })
        .collect()
}

/// The release's service images as a `docker load`-able archive
/// (`StatePath::Archive`), named as `image_repo` says.
pub fn export_release(config: &Config, tag: &ReleaseTag) -> Result<PathBuf, Report> {
    let path = StatePath::Archive { tag: &tag.tag }.path(config);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Report::unexpected(format!("cannot create {}: {e}", parent.display())))?;
    }
    let refs: Vec<String> = config.services.keys().map(|s| service_ref(s, &tag.tag)).collect();
    export(config, &refs, None, &path)?;
    Ok(path)
}

/// Write layout refs to an archive that `docker load` reads; refs without `:` are loaded
/// into `repo` (default `image_repo`). Base layers the layout lacks (a base from a
/// registry) are downloaded once into the shared blob cache (`$XDG_CACHE_HOME/hoist`) and
/// read from there.
pub fn export(
    config: &Config,
    refs: &[String],
    repo: Option<&str>,
    out: &Path,
) -> Result<hoist_oci::export::ExportReport, Report> {
    let layout = Layout::open(&StatePath::Layout.path(config))?;
    let repo = repo.map(str::to_string).unwrap_or_else(|| image_repo(config));
    let items: Vec<hoist_oci::export::ExportItem> = refs
        .iter()
        .map(|r| hoist_oci::export::ExportItem {
            name: r.clone(),
            repo_tag: if r.contains(':') { r.clone() } else { format!("{repo}:{r}") },
        })
        .collect();
    let cache = fill_blob_cache(config, &layout, refs)?;
    let more: Vec<&Layout> = cache.iter().map(|c| c.layout()).collect();
    Ok(hoist_oci::export::export_from(&layout, &more, &items, out)?)
}

/// The shared blob cache with every layer of `refs` the layout lacks, or `None` when the
/// layout has them all (then no cache directory is made).
fn fill_blob_cache(
    config: &Config,
    layout: &Layout,
    refs: &[String],
) -> Result<Option<hoist_registry::blobcache::SharedBlobs>, Report> {
    let lacking = refs.iter().any(|r| {
        hoist_oci::index::export_image(layout, r, &hoist_oci::index::host_platform())
            .is_ok_and(|i| i.manifest.layers().iter().any(|l| !layout.has_blob(l.digest())))
    });
    if !lacking {
        return Ok(None);
    }
    let cache = hoist_registry::blobcache::SharedBlobs::from_env()?;
    let options = hoist_registry::Options::from_env()?;
    let push_host = crate::registry::push_host(config);
    let report = crate::runtime()?.block_on(cache.fill(layout, refs, &options, push_host.as_deref()))?;
    tracing::info!(
        "base layers: {} downloaded ({} bytes) into {}, {} already there",
        report.fetched,
        report.bytes_fetched,
        cache.layout().dir().display(),
        report.cached
    );
    Ok(Some(cache))
}

#[cfg(test)]
mod tests {
    #[test]
    fn spring_boot_entrypoint_replaces_dash_jar() {
        let exploded: Vec<String> = ["java", "-cp", "/app", "L"].map(String::from).to_vec();
        let configured: Vec<String> =
            ["/opt/java/bin/java", "-Xss256k", "-jar", "/app.jar", "--x"].map(String::from).to_vec();
        assert_eq!(
            super::spring_boot_entrypoint(configured, &exploded),
            ["/opt/java/bin/java", "-Xss256k", "-cp", "/app", "L", "--x"]
        );
        let plain: Vec<String> = ["/bin/app"].map(String::from).to_vec();
        assert_eq!(super::spring_boot_entrypoint(plain.clone(), &exploded), plain);
    }
}
