//! `hoist image` (build every service's image into the local OCI layout), and
//! `hoist image import | build-file | export | ls`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use hoist_cmd::Cmd;
use hoist_config::{Config, StatePath};
use hoist_diag::Report;
use hoist_oci::{BuiltImage, ConfigSpec, ImagePlan, Layout};
use hoist_release::bases::{self, BaseOptions, BasePin, PinChange};
use hoist_release::images::{self, compression, fixed_epoch, image_repo};
use hoist_release::tag::ReleaseTag;
use hoist_version::naming::layout_ref;
use serde::Serialize;

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
    /// Build every service's image, even those unchanged since the previous release
    /// (which `hoist release` carries).
    #[arg(long)]
    pub all: bool,
    /// Build for this platform instead of `[image] platforms` (repeatable), e.g. `linux/arm64`.
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Vec<String>,
    /// Resolve the registry bases' tags again and move their pins in hoist.lock first.
    #[arg(long)]
    pub update_base: bool,
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
    /// Resolve the registry bases' tags again and move their pins in hoist.lock.
    UpdateBase,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A root filesystem (a directory or a tar), a `docker save` archive or an OCI archive;
    /// tars may be gzip or zstd compressed. Recognised by content, not by name.
    pub source: PathBuf,
    /// The image's name in the layout, e.g. `shop-jre:17`.
    #[arg(long = "ref", value_name = "NAME")]
    pub name: String,
    /// The image to take from an archive that holds several (`repo:tag`, or its digest).
    #[arg(long, value_name = "REPO:TAG")]
    pub image: Option<String>,
    /// Environment of the image (repeatable), e.g. `PATH=/opt/java/bin:/usr/bin:/bin`.
    /// This and --workdir, --user, --label are for a root filesystem only.
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
    /// `auto` explodes a Spring Boot fat jar that the ENTRYPOINT/CMD runs with `java -jar`
    /// into dependency and application layers (as a service's `layering = "auto"`);
    /// `whole` copies it as `docker build` does.
    #[arg(long, value_enum, default_value_t = LayeringArg::Whole)]
    pub layering: LayeringArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayeringArg {
    Auto,
    Whole,
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
        Some(ImageCommand::UpdateBase) => update_base(ctx),
        None => build(ctx, args),
    }
}

fn layout_dir(ctx: &Ctx) -> Result<PathBuf, Report> {
    Ok(StatePath::Layout.path(ctx.config()?))
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
    /// The registry bases and their pins (none for local-layout bases).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bases: Vec<BasePin>,
}

#[derive(Debug, Serialize)]
struct ServiceImageReport {
    service: String,
    kind: String,
    #[serde(flatten)]
    image: BuiltImage,
}

fn build(ctx: &Ctx, args: ImageArgs) -> Result<(), Report> {
    let with_platforms;
    let config = match args.platform.as_slice() {
        [] => ctx.config()?,
        given => {
            let mut c = ctx.config()?.clone();
            c.image.platforms = given.to_vec();
            bases::platforms(&c)?;
            with_platforms = c;
            &with_platforms
        }
    };
    images::require_services(config)?;
    let tag = ctx.release(args.tag.as_deref(), args.pr_title.as_deref())?;
    let (services, _) = super::step_services(ctx, &tag, &args.service, args.all)?;
    let Some(services) = services else {
        ctx.out.say(format!("no image to build for {}: every service is carried", tag.tag));
        ctx.out.data(&serde_json::json!({"tag": tag.tag, "images": []}), String::new);
        return Ok(());
    };
    let planned = images::plan(config, &tag, &services)?;
    if args.builder == Builder::Docker {
        return build_with_docker(ctx, config, &tag, &planned);
    }
    let reporter = ctx.reporter();
    let composed = images::compose(config, &tag, &planned, &[], ctx.env()?, reporter.as_ref())?;
    let mut plans: Vec<ImagePlan> = composed.iter().map(|c| c.plan.clone()).collect();
    if args.dry_run {
        let summary: Vec<serde_json::Value> = plans
            .iter()
            .zip(&composed)
            .map(|(p, c)| {
                let mut v = serde_json::json!({
                    "name": p.name,
                    "base": p.base,
                    "kind": c.kind,
                    "epoch": p.epoch,
                    "layers": p.layers.iter().map(|l| serde_json::json!({"description": l.description, "entries": l.len()})).collect::<Vec<_>>(),
                    "entrypoint": p.config.entrypoint,
                    "workdir": p.config.workdir,
                    "labels": p.config.labels,
                });
                // Only when configured, so the default's output stays as it was.
                if !p.platforms.is_empty() {
                    v["platforms"] = serde_json::json!(p.platforms);
                }
                v
            })
            .collect();
        ctx.out.data(&summary, || {
            let mut t = String::new();
            for p in &plans {
                let layers: Vec<String> =
                    p.layers.iter().map(|l| format!("{} ({} entries)", l.description, l.len())).collect();
                let platforms = if p.platforms.is_empty() {
                    String::new()
                } else {
                    format!(" for {}", hoist_release::platforms::describe(&p.platforms))
                };
                t.push_str(&format!(
                    "{} from {}{platforms}: {}\n",
                    p.name,
                    p.base.as_deref().unwrap_or("scratch"),
                    layers.join(", ")
                ));
            }
            t
        });
        return Ok(());
    }
    let layout_path = layout_dir(ctx)?;
    let base_pins = bases::prepare(config, &mut plans, BaseOptions { update: args.update_base }, reporter.as_ref())?;
    ctx.out.say(format!("building {} image(s) for {} into {}", plans.len(), tag.tag, layout_path.display()));
    let (layout, built) = images::build(config, &plans, args.jobs)?;
    let new_layer_bytes = images::new_layer_bytes(&built);
    let new_blob_bytes = new_layer_bytes + built.iter().map(BuiltImage::metadata_bytes).sum::<u64>();
    let report = BuildReport {
        tag: tag.tag.clone(),
        layout: layout.dir().display().to_string(),
        images: composed
            .iter()
            .zip(built)
            .map(|(c, image)| ServiceImageReport { service: c.service.clone(), kind: c.kind.to_string(), image })
            .collect(),
        new_layer_bytes,
        new_blob_bytes,
        bases: base_pins,
    };
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
            for p in &i.image.platforms {
                t.push_str(&format!("  {}\t{}\n", p.platform, p.digest));
            }
        }
        t
    });
    Ok(())
}

fn build_with_docker(
    ctx: &Ctx,
    config: &Config,
    tag: &ReleaseTag,
    services: &[images::ServiceImage],
) -> Result<(), Report> {
    let mut built = Vec::new();
    for s in services {
        let svc = &config.services[&s.service];
        let Some(df) = &svc.image.dockerfile else {
            return Err(Report::user(format!("service `{}` has no `image.dockerfile`; `--builder docker` builds Dockerfiles", s.service))
                .with_hint("write one with `hoist dockerfile --write` and set `[services.<name>.image] dockerfile`, or use the native builder"));
        };
        let name = format!("{}:{}", image_repo(config), layout_ref(&s.service, &tag.tag));
        let context = config.root.join(svc.dir_or(&s.service));
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

fn import(ctx: &Ctx, a: ImportArgs) -> Result<(), Report> {
    let config = ctx.config()?;
    let layout = Layout::create_or_open(&layout_dir(ctx)?)?;
    let config_flags: Vec<String> = [
        ("--env", !a.env.is_empty()),
        ("--workdir", a.workdir.is_some()),
        ("--user", a.user.is_some()),
        ("--label", !a.label.is_empty()),
    ]
    .into_iter()
    .filter(|(_, given)| *given)
    .map(|(flag, _)| flag.to_string())
    .collect();
    let mut labels: BTreeMap<String, String> = key_values(&a.label, "--label")?.into_iter().collect();
    let epoch = fixed_epoch(ctx.env()?);
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
    let options = hoist_oci::import::ImportOptions {
        config: spec,
        config_flags,
        epoch,
        compression: compression(config),
        limits,
        image: a.image,
    };
    let report = hoist_oci::import::import(&layout, &source, &a.name, &options)?;
    if report.format != hoist_oci::import::Format::Rootfs {
        let what = serde_json::to_value(report.format).ok().and_then(|v| v.as_str().map(str::to_string));
        let from = report.image.as_deref().map(|i| format!(" (its image {i})")).unwrap_or_default();
        ctx.out.say(format!("read it as a {}{from}", what.unwrap_or_default()));
    }
    ctx.out.data(&report, || format!("{}\t{}", report.built.name, report.built.digest));
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
    let options =
        hoist_oci::dockerfile::PlanOptions { split_jars: a.layering == LayeringArg::Auto, ..Default::default() };
    let p = hoist_oci::dockerfile::plan_with(&dockerfile, &context, &build_args.into_iter().collect(), &options)?;
    p.check_shell(&layout)?;
    for note in &p.notes {
        ctx.out.say(format!("note: {note}"));
    }
    let epoch = fixed_epoch(ctx.env()?);
    let plan = ImagePlan {
        name: a.name.clone(),
        base: p.base,
        layers: p.layers,
        config: p.config,
        epoch,
        platforms: Vec::new(),
    };
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
    let refs = if a.refs.is_empty() {
        let tag = ctx.release(a.tag.as_deref(), None)?;
        config.services.keys().map(|s| layout_ref(s, &tag.tag)).collect()
    } else {
        a.refs.clone()
    };
    images::export(config, &refs, a.repo.as_deref(), &ctx.dir.join(&a.output_file))
}

/// `hoist image update-base`: every registry base hoist.toml names, its tag resolved
/// again and its pin moved; nothing is built.
fn update_base(ctx: &Ctx) -> Result<(), Report> {
    let config = ctx.config()?;
    let references = bases::configured(config);
    let reporter = ctx.reporter();
    let pins = bases::pin(config, &references, BaseOptions { update: true }, reporter.as_ref())?;
    if pins.is_empty() {
        ctx.out.say("no base in hoist.toml is a registry reference: nothing to update");
    }
    ctx.out.data(&pins, || {
        pins.iter()
            .map(|p| {
                let was = match (p.change, &p.previous) {
                    (PinChange::Moved, Some(old)) => format!("\t(was {old})"),
                    _ => String::new(),
                };
                format!("{}\t{}{was}\n", p.name, p.digest)
            })
            .collect()
    });
    Ok(())
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
