//! `hoist image` (build every service's image into the local OCI layout), and
//! `hoist image import | build-file | export | ls`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use hoist_cmd::Cmd;
use hoist_config::{Config, Layering};
use hoist_diag::Report;
use hoist_oci::{BuiltImage, Compression, ConfigSpec, ImagePlan, Layout};
use serde::Serialize;

use super::release_tag::{ReleaseTag, resolve};
use crate::context::Ctx;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: Option<ImageCommand>,
    /// Build only these services (repeatable; default: all).
    #[arg(long, value_name = "NAME")]
    pub service: Vec<String>,
    /// The release tag (default: HEAD's release, else the next one).
    #[arg(long)]
    pub tag: Option<String>,
    /// The merged PR's title, when the next release is decided from it.
    #[arg(long, value_name = "TEXT")]
    pub pr_title: Option<String>,
    /// `native` builds without a daemon; `docker` hands service Dockerfiles to the Engine.
    #[arg(long, value_enum, default_value_t = Builder::Native)]
    pub builder: Builder,
    /// Layers compressed at once (default: the number of cores).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Print what each image is made of; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Builder {
    Native,
    Docker,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Make an image from a root filesystem (a directory or a tar), like `docker import`.
    Import(ImportArgs),
    /// Build an image from a Dockerfile (the supported subset; RUN is refused).
    BuildFile(BuildFileArgs),
    /// Write images to an archive that `docker load` and OCI tools read.
    Export(ExportArgs),
    /// List the images in the local layout.
    Ls,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The root filesystem: a directory, or a tar (plain, gzip or zstd).
    pub source: PathBuf,
    /// The image's name in the layout, e.g. `shop-jre:17`.
    #[arg(long = "ref", value_name = "NAME")]
    pub name: String,
    /// Environment of the image (repeatable), e.g. `PATH=/opt/java/bin:/usr/bin:/bin`.
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    #[arg(long)]
    pub user: Option<String>,
    /// Label (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Largest expanded size a tar may have (e.g. `8GiB`, `500M`).
    #[arg(long, value_name = "SIZE", value_parser = hoist_oci::archive::parse_size)]
    pub max_size: Option<u64>,
    /// Most entries a tar may have.
    #[arg(long, value_name = "N")]
    pub max_entries: Option<u64>,
    /// Largest ratio of expanded size to the tar's size on disk (checked past 512 MiB).
    #[arg(long, value_name = "R")]
    pub max_ratio: Option<u64>,
}

#[derive(Debug, Args)]
pub struct BuildFileArgs {
    pub dockerfile: PathBuf,
    /// The image's name, e.g. `shop-kv-store:1`.
    #[arg(long = "ref", value_name = "NAME")]
    pub name: String,
    /// The build context (default: the Dockerfile's directory).
    #[arg(long, value_name = "DIR")]
    pub context: Option<PathBuf>,
    /// A value for an ARG (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub build_arg: Vec<String>,
    #[arg(long, value_enum, default_value_t = Builder::Native)]
    pub builder: Builder,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Refs to export (default: every service's image of the release).
    pub refs: Vec<String>,
    /// The release whose service images are exported.
    #[arg(long)]
    pub tag: Option<String>,
    /// Docker repository for refs without `:` (default: `[registry] repository`, else the project name).
    #[arg(long, value_name = "NAME")]
    pub repo: Option<String>,
    #[arg(short, long, value_name = "FILE.tar")]
    pub output_file: PathBuf,
}

pub fn run(ctx: &Ctx, args: ImageArgs) -> Result<(), Report> {
    match args.command {
        Some(ImageCommand::Import(a)) => import(ctx, a),
        Some(ImageCommand::BuildFile(a)) => build_file(ctx, a),
        Some(ImageCommand::Export(a)) => export(ctx, a),
        Some(ImageCommand::Ls) => ls(ctx),
        None => build(ctx, args),
    }
}

fn layout_dir(ctx: &Ctx) -> Result<PathBuf, Report> {
    Ok(crate::context::layout_dir(ctx.config()?))
}

fn compression(config: &Config) -> Compression {
    match config.image.compression {
        hoist_config::Compression::Gzip => Compression::Gzip { level: config.image.level.unwrap_or(1) },
        hoist_config::Compression::Zstd => Compression::Zstd { level: config.image.level.unwrap_or(3) as i32 },
    }
}

/// Layer mtimes and `created` of a release's images: `SOURCE_DATE_EPOCH`, else the release
/// commit's time, else HEAD's, else 0.
fn epoch(ctx: &Ctx, commit: Option<&str>) -> Result<u64, Report> {
    if let Some(e) = source_date_epoch()? {
        return Ok(e);
    }
    let Ok(git) = ctx.git() else { return Ok(0) };
    let time = git.commit_time(commit.unwrap_or("HEAD")).ok().or_else(|| git.commit_time("HEAD").ok());
    Ok(time.map(|t| t.max(0) as u64).unwrap_or(0))
}

/// The mtime of every file in a service image's layers (and the config's `created`):
/// `SOURCE_DATE_EPOCH`, else 0; never the commit time. Each release is a new commit, so
/// commit-time mtimes would give every unchanged dependency layer a new digest on every
/// release, and a release that changed one class would upload all its dependencies again
/// (measured by bench/e2e.sh: 55 MB instead of 27 KB). The commit time is still recorded,
/// in the `org.opencontainers.image.created` label.
fn layer_epoch() -> Result<u64, Report> {
    fixed_epoch()
}

/// For images that are not a release's (an imported base, `build-file`): `SOURCE_DATE_EPOCH`,
/// else 0, so the same root filesystem gives the same base digest whatever the commit.
fn fixed_epoch() -> Result<u64, Report> {
    Ok(source_date_epoch()?.unwrap_or(0))
}

fn source_date_epoch() -> Result<Option<u64>, Report> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Report::user(format!("SOURCE_DATE_EPOCH must be seconds since 1970, not `{v}`"))),
        Err(_) => Ok(None),
    }
}

fn key_values(items: &[String], what: &str) -> Result<Vec<(String, String)>, Report> {
    items
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Report::user(format!("{what} `{kv}` is not KEY=VALUE")))
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct BuildReport {
    tag: String,
    layout: String,
    images: Vec<ServiceImageReport>,
    /// Bytes of layers compressed by this run (not already in the layout).
    new_layer_bytes: u64,
    /// `new_layer_bytes` plus every image's manifest and config: what a push of this
    /// release adds to a registry that has the previous one.
    new_blob_bytes: u64,
}

#[derive(Debug, Serialize)]
struct ServiceImageReport {
    service: String,
    kind: String,
    #[serde(flatten)]
    image: BuiltImage,
}

/// Build the images (or print the dry-run plan); `None` when nothing was built here.
fn build_images(ctx: &Ctx, args: ImageArgs) -> Result<Option<BuildReport>, Report> {
    let config = ctx.config()?;
    if config.services.is_empty() {
        return Err(
            Report::user("hoist.toml has no [services.<name>]").with_hint("add the services whose images hoist builds")
        );
    }
    let tag = resolve(ctx, args.tag.as_deref(), args.pr_title.as_deref())?;
    let epoch = epoch(ctx, tag.commit.as_deref())?;
    let release = super::build::release_values(&tag);
    let plan = hoist_build::plan(config, &release, &args.service, None)?;
    let with_artifact: Vec<&hoist_build::ServicePlan> = plan
        .services
        .iter()
        .filter(|s| s.artifact.is_some() || config.services[&s.name].image.dockerfile.is_some())
        .collect();
    if args.builder == Builder::Docker {
        return build_with_docker(ctx, config, &tag, &with_artifact).map(|()| None);
    }
    let mut plans = Vec::new();
    let mut kinds = Vec::new();
    for s in &with_artifact {
        let svc = &config.services[&s.name];
        let (p, kind) = match &svc.image.dockerfile {
            Some(df) => (dockerfile_service_plan(config, &s.name, df, &tag, epoch)?, "dockerfile"),
            None => {
                let pattern = s.artifact.as_deref().expect("filtered");
                let path = hoist_build::find_artifact(&config.root, &s.name, pattern)?;
                let (_, sha256) = hoist_build::hash_file(&path)?;
                service_plan(config, &s.name, &path, &sha256, &tag, epoch)?
            }
        };
        ctx.out.detail(format!("{}: {} layers ({kind})", s.name, p.layers.len()));
        if p.base.is_none() && kind != "dockerfile" {
            ctx.out.say(format!(
                "note: {} has no base image (`[image] base`), so its image holds only the artifact",
                s.name
            ));
        }
        plans.push(p);
        kinds.push(kind);
    }
    if plans.is_empty() {
        return Err(Report::user("no service has an `artifact` or `image.dockerfile` in hoist.toml"));
    }
    if args.dry_run {
        let summary: Vec<serde_json::Value> = plans
            .iter()
            .zip(&kinds)
            .map(|(p, kind)| {
                serde_json::json!({
                    "name": p.name,
                    "base": p.base,
                    "kind": kind,
                    "epoch": p.epoch,
                    "layers": p.layers.iter().map(|l| serde_json::json!({"description": l.description, "entries": l.len()})).collect::<Vec<_>>(),
                    "entrypoint": p.config.entrypoint,
                    "workdir": p.config.workdir,
                    "labels": p.config.labels,
                })
            })
            .collect();
        ctx.out.data(&summary, || {
            let mut t = String::new();
            for p in &plans {
                let layers: Vec<String> =
                    p.layers.iter().map(|l| format!("{} ({} entries)", l.description, l.len())).collect();
                t.push_str(&format!(
                    "{} from {}: {}\n",
                    p.name,
                    p.base.as_deref().unwrap_or("scratch"),
                    layers.join(", ")
                ));
            }
            t
        });
        return Ok(None);
    }
    let layout = Layout::create_or_open(&layout_dir(ctx)?)?;
    let jobs = args.jobs.unwrap_or_else(hoist_oci::layer::default_jobs).max(1);
    ctx.out.say(format!("building {} image(s) for {} into {}", plans.len(), tag.tag, layout.dir().display()));
    let built = hoist_oci::build_images(&layout, &plans, compression(config), jobs)?;
    let mut seen = std::collections::BTreeSet::new();
    let new_layer_bytes =
        built.iter().flat_map(|b| &b.layers).filter(|l| l.new && seen.insert(l.digest.clone())).map(|l| l.size).sum();
    let new_blob_bytes = new_layer_bytes + built.iter().map(|b| b.size + b.config_size).sum::<u64>();
    let report = BuildReport {
        tag: tag.tag.clone(),
        layout: layout.dir().display().to_string(),
        images: with_artifact
            .iter()
            .zip(kinds)
            .zip(built)
            .map(|((s, kind), image)| ServiceImageReport { service: s.name.clone(), kind: kind.to_string(), image })
            .collect(),
        new_layer_bytes,
        new_blob_bytes,
    };
    Ok(Some(report))
}

fn build(ctx: &Ctx, args: ImageArgs) -> Result<(), Report> {
    let Some(report) = build_images(ctx, args)? else { return Ok(()) };
    ctx.out.data(&report, || {
        let mut t = String::new();
        for i in &report.images {
            let new = i.image.layers.iter().filter(|l| l.new).count();
            t.push_str(&format!(
                "{}\t{}\t{} layers ({} new, {})\n",
                i.image.name,
                i.image.digest,
                i.image.layers.len(),
                new,
                i.kind
            ));
        }
        t
    });
    Ok(())
}

/// `hoist release`'s image step: every service's image for `tag`, quietly (the release
/// prints one summary). Returns each service with its image.
pub fn build_release_images(
    ctx: &Ctx,
    tag: &ReleaseTag,
    jobs: Option<usize>,
) -> Result<Vec<(String, BuiltImage)>, Report> {
    let args = ImageArgs {
        command: None,
        service: Vec::new(),
        tag: Some(tag.tag.clone()),
        pr_title: None,
        builder: Builder::Native,
        jobs,
        dry_run: false,
    };
    let report = build_images(ctx, args)?.expect("a native, non-dry-run build reports");
    Ok(report.images.into_iter().map(|i| (i.service, i.image)).collect())
}

/// The image name of a service in the layout: `<service>_<tag>`.
pub fn service_ref(service: &str, tag: &str) -> String {
    format!("{service}_{tag}")
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
    };
    let plan = ImagePlan {
        name: service_ref(name, &tag.tag),
        base: svc.base.clone().or_else(|| image.base.clone()),
        layers: layered.layers,
        config: config_spec,
        epoch: layer_epoch()?,
    };
    Ok((plan, layered.kind))
}

/// `[java, flags..., -jar, X, args...]` → `[java, flags..., -cp, /app, Launcher, args...]`.
fn spring_boot_entrypoint(configured: Vec<String>, exploded: &[String]) -> Vec<String> {
    let Some(i) = configured.iter().position(|a| a == "-jar") else { return configured };
    if i + 1 >= configured.len() {
        return configured;
    }
    let mut out = configured[..i].to_vec();
    out.extend(exploded[1..].iter().cloned()); // `-cp /app <Main-Class>`
    out.extend(configured[i + 2..].iter().cloned());
    out
}

fn dockerfile_service_plan(
    config: &Config,
    name: &str,
    dockerfile: &str,
    tag: &ReleaseTag,
    epoch: u64,
) -> Result<ImagePlan, Report> {
    let svc = &config.services[name];
    let context = config.root.join(svc.dir_or(name));
    let path = config.root.join(dockerfile);
    let args = BTreeMap::from([("TAG".to_string(), tag.tag.clone()), ("VERSION".to_string(), tag.version.clone())]);
    let p = hoist_oci::dockerfile::plan(&path, &context, &args)?;
    let mut cfg = p.config;
    cfg.labels.extend(oci_labels(config, tag, epoch));
    Ok(ImagePlan {
        name: service_ref(name, &tag.tag),
        base: p.base,
        layers: p.layers,
        config: cfg,
        epoch: layer_epoch()?,
    })
}

fn build_with_docker(
    ctx: &Ctx,
    config: &Config,
    tag: &ReleaseTag,
    services: &[&hoist_build::ServicePlan],
) -> Result<(), Report> {
    let mut built = Vec::new();
    for s in services {
        let svc = &config.services[&s.name];
        let Some(df) = &svc.image.dockerfile else {
            return Err(Report::user(format!("service `{}` has no `image.dockerfile`; `--builder docker` builds Dockerfiles", s.name))
                .with_hint("write one with `hoist dockerfile --write` and set `[services.<name>.image] dockerfile`, or use the native builder"));
        };
        let name = format!("{}:{}", image_repo(config), service_ref(&s.name, &tag.tag));
        let context = config.root.join(svc.dir_or(&s.name));
        docker_build(ctx, &config.root.join(df), &context, &name, &[("TAG".into(), tag.tag.clone())])?;
        built.push(name);
    }
    ctx.out.data(&serde_json::json!({"tag": tag.tag, "engine_images": built}), || built.join("\n"));
    Ok(())
}

fn docker_build(
    ctx: &Ctx,
    dockerfile: &Path,
    context: &Path,
    name: &str,
    args: &[(String, String)],
) -> Result<(), Report> {
    let mut cmd = Cmd::new("docker").arg("build").arg("-f").arg(dockerfile).arg("-t").arg(name);
    for (k, v) in args {
        cmd = cmd.arg("--build-arg").arg(format!("{k}={v}"));
    }
    cmd = cmd.arg(context);
    cmd.stream(|_, line| ctx.out.detail(line))
        .map_err(|e| Report::from(e).context(format!("docker build of {name} failed")))
}

/// The Docker repository a layout ref is loaded as: `[registry] repository`, else the project name.
pub(crate) fn image_repo(config: &Config) -> String {
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

fn import(ctx: &Ctx, a: ImportArgs) -> Result<(), Report> {
    let config = ctx.config()?;
    let layout = Layout::create_or_open(&layout_dir(ctx)?)?;
    let mut labels: BTreeMap<String, String> = key_values(&a.label, "--label")?.into_iter().collect();
    let epoch = fixed_epoch()?;
    labels.entry("org.opencontainers.image.created".into()).or_insert_with(|| hoist_oci::image::rfc3339(epoch));
    let spec = ConfigSpec {
        env: key_values(&a.env, "--env")?,
        workdir: a.workdir,
        user: a.user,
        labels,
        ..ConfigSpec::default()
    };
    let source = ctx.dir.join(&a.source);
    ctx.out.say(format!("importing {} as {}", source.display(), a.name));
    let defaults = hoist_oci::ArchiveLimits::default();
    let limits = hoist_oci::ArchiveLimits {
        max_bytes: a.max_size.unwrap_or(defaults.max_bytes),
        max_entries: a.max_entries.unwrap_or(defaults.max_entries),
        max_ratio: a.max_ratio.unwrap_or(defaults.max_ratio),
        ..defaults
    };
    let built =
        hoist_oci::import::import_rootfs_with(&layout, &source, &a.name, spec, epoch, compression(config), &limits)?;
    ctx.out.data(&built, || format!("{}\t{}", built.name, built.digest));
    Ok(())
}

fn build_file(ctx: &Ctx, a: BuildFileArgs) -> Result<(), Report> {
    let config = ctx.config()?;
    let dockerfile = ctx.dir.join(&a.dockerfile);
    let context = match &a.context {
        Some(c) => ctx.dir.join(c),
        None => dockerfile.parent().map(Path::to_path_buf).unwrap_or_else(|| ctx.dir.clone()),
    };
    let build_args = key_values(&a.build_arg, "--build-arg")?;
    if a.builder == Builder::Docker {
        docker_build(ctx, &dockerfile, &context, &a.name, &build_args)?;
        ctx.out.data(&serde_json::json!({"engine_image": a.name}), || a.name.clone());
        return Ok(());
    }
    let layout = Layout::create_or_open(&layout_dir(ctx)?)?;
    let p = hoist_oci::dockerfile::plan(&dockerfile, &context, &build_args.into_iter().collect())?;
    let epoch = fixed_epoch()?;
    let plan = ImagePlan { name: a.name.clone(), base: p.base, layers: p.layers, config: p.config, epoch };
    let built = hoist_oci::build_image(&layout, &plan, compression(config), hoist_oci::layer::default_jobs())?;
    ctx.out.data(&built, || format!("{}\t{}", built.name, built.digest));
    Ok(())
}

fn export(ctx: &Ctx, a: ExportArgs) -> Result<(), Report> {
    let report = export_report(ctx, a)?;
    ctx.out.data(&report, || {
        let mut t = format!("wrote {} ({} blobs, {} bytes)\n", report.path, report.blobs, report.bytes);
        for i in &report.images {
            t.push_str(&format!("  {} as {}\n", i.name, i.repo_tag));
        }
        t
    });
    Ok(())
}

fn export_report(ctx: &Ctx, a: ExportArgs) -> Result<hoist_oci::export::ExportReport, Report> {
    let config = ctx.config()?;
    let layout = Layout::open(&layout_dir(ctx)?)?;
    let refs = if a.refs.is_empty() {
        let tag = resolve(ctx, a.tag.as_deref(), None)?;
        config.services.keys().map(|s| service_ref(s, &tag.tag)).collect()
    } else {
        a.refs.clone()
    };
    let repo = a.repo.clone().unwrap_or_else(|| image_repo(config));
    let items: Vec<hoist_oci::export::ExportItem> = refs
        .iter()
        .map(|r| hoist_oci::export::ExportItem {
            name: r.clone(),
            repo_tag: if r.contains(':') { r.clone() } else { format!("{repo}:{r}") },
        })
        .collect();
    let out = ctx.dir.join(&a.output_file);
    Ok(hoist_oci::export::export(&layout, &items, &out)?)
}

/// The release's service images as a `docker load`-able archive under `.hoist/archives/`.
pub fn export_release(ctx: &Ctx, tag: &ReleaseTag) -> Result<PathBuf, Report> {
    let config = ctx.config()?;
    let path = config.root.join(".hoist").join("archives").join(format!("{}.tar", tag.tag));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Report::unexpected(format!("cannot create {}: {e}", parent.display())))?;
    }
    let args = ExportArgs { refs: Vec::new(), tag: Some(tag.tag.clone()), repo: None, output_file: path.clone() };
    export_report(ctx, args)?;
    Ok(path)
}

#[derive(Debug, Serialize)]
struct RefRow {
    name: String,
    digest: String,
    size: u64,
}

fn ls(ctx: &Ctx) -> Result<(), Report> {
    let dir = layout_dir(ctx)?;
    let rows: Vec<RefRow> = if dir.join("oci-layout").is_file() {
        Layout::open(&dir)?
            .refs()?
            .into_iter()
            .map(|(name, d)| RefRow { name, digest: d.digest().to_string(), size: d.size() })
            .collect()
    } else {
        Vec::new()
    };
    ctx.out.data(&rows, || rows.iter().map(|r| format!("{}\t{}\n", r.name, r.digest)).collect());
    Ok(())
}
