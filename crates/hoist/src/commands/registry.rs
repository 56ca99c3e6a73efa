//! `hoist push`, `hoist images`, `hoist pull`: the release's images between the local
//! layout and the ONE registry repository (`[registry] repository`), tagged by
//! `[registry] image_tag`. The work is done by `hoist_registry`; this turns arguments and
//! config into its calls, draws progress, and prints the results.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;

use clap::Args;
use hoist_config::{Config, RegistryConfig};
use hoist_diag::Report;
use hoist_oci::Layout;
use hoist_registry::{Auth, Client, Options, Progress, PushRequest, ReleaseImage, Repository, TagAction};
use serde::Serialize;

use super::image::service_ref;
use super::release_tag::{self, ReleaseTag};
use crate::context::{Ctx, layout_dir, runtime};

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The release to push (default: HEAD's release tag, else the next release).
    #[arg(long)]
    pub tag: Option<String>,
    /// Move tags that already point at other images (releases are immutable otherwise).
    #[arg(long)]
    pub force: bool,
    /// Print what would be uploaded, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Parallel blob uploads (default: `[registry] jobs`, else 4).
    #[arg(short, long)]
    pub jobs: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// The release to list (default: HEAD's release tag).
    #[arg(long, conflicts_with = "latest")]
    pub tag: Option<String>,
    /// Each service's highest release by version precedence.
    #[arg(long)]
    pub latest: bool,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The release to pull (default: HEAD's release tag).
    #[arg(long)]
    pub tag: Option<String>,
}

fn registry_config(config: &Config) -> Result<&RegistryConfig, Report> {
    config.registry.as_ref().ok_or_else(|| {
        Report::user("hoist.toml has no `[registry]` section")
            .with_hint("add `[registry]` with `repository = \"host[:port]/path\"` (one repository for every service)")
    })
}

/// A client for `[registry] repository`, credentials from the environment or config.json.
fn client(ctx: &Ctx, jobs: Option<usize>, bar: Option<&indicatif::ProgressBar>) -> Result<Client, Report> {
    let config = ctx.config()?;
    let registry = registry_config(config)?;
    let repo = Repository::parse(&registry.repository, registry.insecure)?;
    let auth = Auth::resolve(&repo.host)?;
    // Names where the credential came from, never the credential.
    ctx.out.detail(format!("registry {repo}: credentials: {}", auth.source));
    let mut options = Options {
        jobs: jobs.or(registry.jobs).unwrap_or(4).max(1),
        mount_from: registry.mount_from.clone(),
        // Deadlines from HOIST_REGISTRY_TIMEOUT / HOIST_REGISTRY_MIN_RATE.
        ..Options::from_env()?
    };
    if let Some(bar) = bar {
        let bar = bar.clone();
        options.progress = Some(Arc::new(move |event: &Progress| match event {
            Progress::BlobStart { size, .. } => bar.inc_length(*size),
            Progress::BlobBytes { bytes, .. } => bar.inc(*bytes),
            Progress::Retry { what, attempt, reason } => {
                bar.println(format!("retrying {what} (attempt {attempt} failed: {reason})"));
            }
            Progress::BlobDone { .. } | Progress::Manifest { .. } => {}
        }));
    }
    Ok(Client::new(repo, auth, options)?)
}

/// A bytes bar on stderr, only when stderr is a terminal and the output is for humans.
fn progress_bar(ctx: &Ctx, message: &str) -> Option<indicatif::ProgressBar> {
    if ctx.out.quiet || ctx.out.is_json() || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    Some(bar)
}

fn image_tag(config: &Config, service: &str, release: &ReleaseTag) -> Result<String, Report> {
    let template = registry_config(config)?.image_tag_template();
    let mut pairs = vec![("service", service)];
    pairs.extend(release.values());
    Ok(template.render_with(&pairs))
}

pub fn push(ctx: &Ctx, args: PushArgs) -> Result<(), Report> {
    let config = ctx.config()?;
    registry_config(config)?;
    let release = release_tag::resolve(ctx, args.tag.as_deref(), None)?;
    if config.services.is_empty() {
        return Err(Report::user("hoist.toml has no services to push").with_hint("add `[services.<name>]` sections"));
    }
    let layout = Layout::open(&layout_dir(config))?;
    let requests: Vec<PushRequest> = config
        .services
        .keys()
        .map(|s| Ok(PushRequest { source: service_ref(s, &release.tag), tag: image_tag(config, s, &release)? }))
        .collect::<Result<_, Report>>()?;
    let bar = if args.dry_run { None } else { progress_bar(ctx, "pushing") };
    let client = client(ctx, args.jobs, bar.as_ref())?;
    let rt = runtime()?;
    let repo = client.repository().to_string();

    if args.dry_run {
        let plan = rt.block_on(client.plan(&layout, &requests))?;
        ctx.out.data(&plan, || {
            let mut s = format!("would push release {} to {repo}\n", release.tag);
            for i in &plan.images {
                s.push_str(&format!("  {:<40} {:?} {}\n", i.tag, i.action, i.digest));
            }
            let n = plan.blobs.iter().filter(|b| b.upload).count();
            s.push_str(&format!(
                "  {n} of {} blob(s) to upload, {}; the registry has the rest\n",
                plan.blobs.len(),
                human_bytes(plan.upload_bytes)
            ));
            s
        });
        return Ok(());
    }

    ctx.out.say(format!("pushing {} image(s) of {} to {repo}", requests.len(), release.tag));
    let result = rt.block_on(client.push_images(&layout, &requests, args.force));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = result?;
    ctx.out.say(format!(
        "{} blob(s) uploaded ({}), {} mounted, {} already there",
        report.blobs_uploaded,
        human_bytes(report.bytes_uploaded),
        report.blobs_mounted,
        report.blobs_skipped
    ));
    ctx.out.data(&report, || {
        let mut s = String::new();
        for i in &report.images {
            let what = match i.action {
                TagAction::Unchanged => "unchanged",
                TagAction::Create => "pushed",
                TagAction::Replace => "replaced",
                TagAction::Conflict => "conflict",
            };
            s.push_str(&format!("{what:<9} {repo}:{} {}\n", i.tag, i.digest));
        }
        s
    });
    Ok(())
}

#[derive(Debug, Serialize)]
struct ImagesOutput {
    repository: String,
    release: Option<String>,
    images: Vec<ReleaseImage>,
}

pub fn images(ctx: &Ctx, args: ImagesArgs) -> Result<(), Report> {
    let config = ctx.config()?;
    let registry = registry_config(config)?;
    let template = registry.image_tag_template();
    let client = client(ctx, None, None)?;
    let rt = runtime()?;
    let (release, images) = if args.latest {
        let format = config.version.tag_format();
        let images = rt.block_on(async {
            let tags = client.list_tags().await?;
            let latest = hoist_registry::latest_releases(&tags, &template, &format)?;
            client.with_digests(latest).await
        })?;
        (None, images)
    } else {
        let release = release_tag::resolve(ctx, args.tag.as_deref(), None)?;
        let images = rt.block_on(client.resolve_release(&template, &release.values()))?;
        (Some(release.tag), images)
    };
    if images.is_empty() {
        ctx.out.say(format!(
            "no images{} in {}",
            release.as_ref().map(|r| format!(" of {r}")).unwrap_or_default(),
            client.repository()
        ));
    }
    let out = ImagesOutput { repository: client.repository().to_string(), release, images };
    ctx.out.data(&out, || {
        let mut s = String::new();
        let width = out.images.iter().map(|i| i.service.len()).max().unwrap_or(7).max(7);
        for i in &out.images {
            s.push_str(&format!("{:<width$}  {:<24}  {}\n", i.service, i.release, i.digest.as_deref().unwrap_or("-")));
        }
        s
    });
    Ok(())
}

#[derive(Debug, Serialize)]
struct PullOutput {
    repository: String,
    release: String,
    layout: String,
    images: Vec<hoist_registry::PullReport>,
}

pub fn pull(ctx: &Ctx, args: PullArgs) -> Result<(), Report> {
    let config = ctx.config()?;
    let template = registry_config(config)?.image_tag_template();
    let release = release_tag::resolve(ctx, args.tag.as_deref(), None)?;
    let layout = Layout::create_or_open(&layout_dir(config))?;
    let bar = progress_bar(ctx, "pulling");
    let client = client(ctx, None, bar.as_ref())?;
    let rt = runtime()?;
    let result = rt.block_on(async {
        let images = client.resolve_release(&template, &release.values()).await?;
        let mut reports = Vec::new();
        for image in &images {
            let name = service_ref(&image.service, &release.tag);
            reports.push(client.pull_image(&layout, &image.tag, &name).await?);
        }
        Ok::<_, hoist_registry::RegistryError>(reports)
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let reports = result?;
    if reports.is_empty() {
        return Err(Report::user(format!("no images of {} in {}", release.tag, client.repository()))
            .with_hint("check the release with `hoist images --latest`, or push it first with `hoist push`"));
    }
    let out = PullOutput {
        repository: client.repository().to_string(),
        release: release.tag.clone(),
        layout: layout.dir().display().to_string(),
        images: reports,
    };
    ctx.out.data(&out, || {
        let mut s = String::new();
        for r in &out.images {
            s.push_str(&format!(
                "pulled {} as {} ({} fetched, {})\n",
                r.tag,
                r.reference,
                r.blobs_fetched,
                human_bytes(r.bytes_fetched)
            ));
        }
        s
    });
    Ok(())
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

// ---- steps of `hoist release` ----

fn release_requests(config: &Config, release: &ReleaseTag) -> Result<Vec<PushRequest>, Report> {
    config
        .services
        .keys()
        .map(|s| Ok(PushRequest { source: service_ref(s, &release.tag), tag: image_tag(config, s, release)? }))
        .collect()
}

/// What pushing the release would upload, for `hoist release --dry-run`. Images not yet in
/// the layout are built during the release, so their blobs are not known yet: the plan
/// covers the images that are there and says which are not.
pub fn plan_release(ctx: &Ctx, release: &ReleaseTag) -> Result<serde_json::Value, Report> {
    let config = ctx.config()?;
    let requests = release_requests(config, release)?;
    let layout = Layout::open(&layout_dir(config)).ok();
    let (ready, missing): (Vec<PushRequest>, Vec<PushRequest>) =
        requests.into_iter().partition(|r| layout.as_ref().is_some_and(|l| l.resolve(&r.source).is_ok()));
    let client = client(ctx, None, None)?;
    let mut value = serde_json::json!({ "repository": client.repository().to_string() });
    if let (Some(layout), false) = (&layout, ready.is_empty()) {
        let plan = runtime()?.block_on(client.plan(layout, &ready))?;
        value = serde_json::to_value(&plan).expect("serialisable");
    }
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|r| r.tag.as_str()).collect();
        value["note"] = serde_json::Value::String(format!(
            "built during the release, so their new blobs are counted then: {}",
            names.join(", ")
        ));
    }
    Ok(value)
}

/// What a release's push did, and what each service's images added to it.
#[derive(Debug)]
pub struct ReleasePush {
    pub report: hoist_registry::PushReport,
    /// Bytes uploaded per service; a blob shared by several services counts for the first.
    pub per_service: BTreeMap<String, u64>,
}

/// Push every image of the release; each blob once, manifests after their blobs. The plan
/// made first (what the registry lacks) attributes the uploaded bytes to services.
pub fn push_release(ctx: &Ctx, release: &ReleaseTag, force: bool) -> Result<ReleasePush, Report> {
    let config = ctx.config()?;
    let requests = release_requests(config, release)?;
    let layout = Layout::open(&layout_dir(config))?;
    let bar = progress_bar(ctx, "pushing");
    let client = client(ctx, None, bar.as_ref())?;
    let rt = runtime()?;
    let plan = rt.block_on(client.plan(&layout, &requests))?;
    ctx.out.say(format!("pushing {} image(s) of {} to {}", requests.len(), release.tag, client.repository()));
    let result = rt.block_on(client.push_images(&layout, &requests, force));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = result?;
    let template = registry_config(config)?.image_tag_template();
    let mut per_service: BTreeMap<String, u64> = BTreeMap::new();
    for blob in plan.blobs.iter().filter(|b| b.upload) {
        if let Some(service) = blob.used_by.iter().filter_map(|t| hoist_registry::service_of(&template, t)).min() {
            *per_service.entry(service.to_string()).or_default() += blob.size;
        }
    }
    Ok(ReleasePush { report, per_service })
}

/// The service an image tag of this repository belongs to.
pub fn service_of_tag(ctx: &Ctx, tag: &str) -> Result<Option<String>, Report> {
    let config = ctx.config()?;
    let template = registry_config(config)?.image_tag_template();
    Ok(hoist_registry::service_of(&template, tag).map(str::to_string))
}

/// The manifest digest each of `tags` names in `[registry] repository` (`None` where the
/// registry has no such tag): one HEAD per tag. Used by deploys to pin exactly what was pushed.
pub fn manifest_digests(config: &Config, tags: &[&str]) -> Result<Vec<Option<String>>, Report> {
    let registry = registry_config(config)?;
    let repo = Repository::parse(&registry.repository, registry.insecure)?;
    let auth = Auth::resolve(&repo.host)?;
    let client = Client::new(repo, auth, Options::from_env()?)?;
    let runtime = runtime()?;
    let mut out = Vec::with_capacity(tags.len());
    for tag in tags {
        out.push(runtime.block_on(client.manifest_digest(tag))?);
    }
    Ok(out)
}
