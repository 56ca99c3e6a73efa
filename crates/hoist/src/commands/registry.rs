//! `hoist push`, `hoist images`, `hoist pull`: the release's images between the local
//! layout and the ONE registry repository (`[registry] repository`), tagged by
//! `[registry] image_tag`. The work is done by `hoist_registry`; this turns arguments and
//! config into its calls, draws progress, and prints the results.

use std::sync::Arc;

use clap::Args;
use hoist_config::StatePath;
use hoist_diag::Report;
use hoist_oci::Layout;
use hoist_registry::{Client, PushReport, ReleaseImage, TagAction};
use hoist_release::registry::{push_requests, registry_config};
use hoist_release::{Event, Reporter, runtime};
use hoist_version::naming::layout_ref;
use serde::Serialize;

use crate::context::Ctx;

/// A client for `[registry]` whose transfers draw on `reporter` (a bar only between
/// `TransferStart` and `TransferEnd`).
fn client(ctx: &Ctx, jobs: Option<usize>, reporter: &Arc<crate::progress::Terminal>) -> Result<Client, Report> {
    let reporter: Arc<dyn Reporter> = reporter.clone();
    hoist_release::registry::client(ctx.config()?, jobs, Some(reporter))
}

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
    /// Push every service's image, even those unchanged since the previous release (which
    /// are otherwise carried: their previous image tagged for this release).
    #[arg(long)]
    pub all: bool,
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

pub fn push(ctx: &Ctx, args: PushArgs) -> Result<(), Report> {
    let config = ctx.config()?;
    registry_config(config)?;
    let release = ctx.release(args.tag.as_deref(), None)?;
    if config.services.is_empty() {
        return Err(Report::user("hoist.toml has no services to push").with_hint("add `[services.<name>]` sections"));
    }
    let (services, carry) = super::step_services(ctx, &release, &[], args.all)?;
    let requests = push_requests(config, &release, &services.unwrap_or_default())?;
    let carried = carry.map(|c| c.carried_map()).unwrap_or_default();
    let reporter = ctx.reporter();
    let client = client(ctx, args.jobs, &reporter)?;
    let rt = runtime()?;
    let repo = client.repository().to_string();
    // Carried images are tagged after the built ones are in (as in `hoist release`).
    let tag_carried = || -> Result<(), Report> {
        if args.dry_run {
            return Ok(());
        }
        let say = |m: &str| ctx.out.say(m.to_string());
        hoist_release::registry::tag_carried(&client, &rt, &carried, &say).map(|_| ())
    };
    if requests.is_empty() {
        tag_carried()?;
        ctx.out.data(&PushReport { repository: repo.clone(), ..PushReport::default() }, String::new);
        return Ok(());
    }
    let layout = Layout::open(&StatePath::Layout.path(config))?;

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
    reporter.event(Event::TransferStart { what: "pushing" });
    let result = rt.block_on(client.push_images(&layout, &requests, args.force));
    reporter.event(Event::TransferEnd);
    let report = result?;
    tag_carried()?;
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
    let template = registry_config(config)?.image_tag_template();
    let client = client(ctx, None, &ctx.reporter())?;
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
        let release = ctx.release(args.tag.as_deref(), None)?;
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
    let release = ctx.release(args.tag.as_deref(), None)?;
    let layout = Layout::create_or_open(&StatePath::Layout.path(config))?;
    let reporter = ctx.reporter();
    let client = client(ctx, None, &reporter)?;
    let rt = runtime()?;
    reporter.event(Event::TransferStart { what: "pulling" });
    let result = rt.block_on(async {
        let images = client.resolve_release(&template, &release.values()).await?;
        let mut reports = Vec::new();
        for image in &images {
            let name = layout_ref(&image.service, &release.tag);
            reports.push(client.pull_image(&layout, &image.tag, &name).await?);
        }
        Ok::<_, hoist_registry::RegistryError>(reports)
    });
    reporter.event(Event::TransferEnd);
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
