//! `hoist deploy compose`, `hoist deploy history`, `hoist rollback`: one host, Docker Compose.
//!
//! This layer turns `hoist.toml` and the release tag into a [`hoist_compose::Target`] and a
//! [`hoist_compose::Release`] (service → `repository:<service>_<tag>`), and renders results;
//! everything that touches the engine lives in `hoist-compose`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use hoist_compose::{Deployer, Options, ProbeSpec, Release, Source, Target, Wanted};
use hoist_config::{ComposeConfig, Config};
use hoist_diag::Report;
use serde::Serialize;

use crate::commands::release_tag;
use crate::context::Ctx;

#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// The release tag to deploy (default: the release at HEAD).
    #[arg(long)]
    pub tag: Option<String>,
    /// Print what would be pulled, recreated and pruned; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// `docker load` the release's images from this archive instead of pulling them
    /// (a host without a registry; see `hoist image export`).
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// Remove a deploy lock whose holder process is gone.
    #[arg(long)]
    pub break_lock: bool,
    /// Keep old images (no prune after the deploy).
    #[arg(long)]
    pub no_prune: bool,
    /// Seconds recreated services get to become healthy (default: `[deploy.compose] timeout`).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Show only the last N deploys.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The release to go back to (default: the one before the current).
    #[arg(long)]
    pub to: Option<String>,
    /// Remove a deploy lock whose holder process is gone.
    #[arg(long)]
    pub break_lock: bool,
}

fn compose_config(config: &Config) -> ComposeConfig {
    config.deploy.compose.clone().unwrap_or_default()
}

fn target(config: &Config, timeout: Option<u64>) -> Target {
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
        state_dir: config.resolve(&c.state_dir),
        docker_host: None,
        timeout: Duration::from_secs(timeout.unwrap_or(c.timeout)),
        keep: c.keep,
        probes,
    }
}

fn deployer(config: &Config, timeout: Option<u64>) -> Result<Deployer, Report> {
    Ok(Deployer::new(target(config, timeout))?)
}

/// The release's images: `[registry] repository` + `image_tag` per service; without a
/// registry (archive deploys) the repository `hoist image export` names them with.
fn release(config: &Config, tag: &release_tag::ReleaseTag, archive: Option<PathBuf>) -> Result<Release, Report> {
    if config.services.is_empty() {
        return Err(Report::user("hoist.toml has no [services.<name>]: there is nothing to deploy")
            .with_hint("add one [services.<name>] table per compose service hoist should pin"));
    }
    let (repository, template) = match &config.registry {
        Some(r) => (r.repository.clone(), r.image_tag_template()),
        // The names `hoist image export` gives the images in the archive.
        None if archive.is_some() => (
            super::image::image_repo(config),
            hoist_version::Template::parse("{service}_{tag}", &["service", "tag", "version", "sha"])
                .expect("the default template parses"),
        ),
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
        .map(|service| {
            let mut values: Vec<(&str, &str)> = tag.values().to_vec();
            values.push(("service", service));
            Wanted {
                service: service.clone(),
                reference: format!("{repository}:{}", template.render_with(&values)),
                digest: None,
                image_id: None,
            }
        })
        .collect();
    let source = match archive {
        Some(a) => Source::Archive(a),
        None => Source::Registry,
    };
    Ok(Release { tag: tag.tag.clone(), images, source })
}

/// Ask the registry which manifest each `<service>_<tag>` names (exact tag, HEAD), so the
/// engine pulls by digest and an image already on the host is not pulled again.
fn resolve_digests(config: &Config, release: &mut Release) -> Result<(), Report> {
    let tags: Vec<String> = release
        .images
        .iter()
        .map(|w| w.reference.rsplit_once(':').map(|(_, t)| t).unwrap_or_default().to_string())
        .collect();
    let tag_refs: Vec<&str> = tags.iter().map(String::as_str).collect();
    let digests = super::registry::manifest_digests(config, &tag_refs)?;
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

pub fn deploy(ctx: &Ctx, args: ComposeArgs) -> Result<(), Report> {
    let config = ctx.config()?;
    let tag = release_tag::resolve(ctx, args.tag.as_deref(), None)?;
    let archive = match &args.archive {
        Some(a) => {
            let path = ctx.dir.join(a);
            if !path.is_file() {
                return Err(Report::user(format!("--archive {}: no such file", path.display())));
            }
            Some(path)
        }
        None => None,
    };
    let mut release = release(config, &tag, archive)?;
    if release.source == Source::Registry {
        resolve_digests(config, &mut release)?;
    }
    let deployer = deployer(config, args.timeout)?;
    if args.dry_run {
        let plan = deployer.plan(&release)?;
        ctx.out.data(&plan, || {
            let list = |v: &[String]| if v.is_empty() { "nothing".to_string() } else { v.join(", ") };
            format!(
                "deploy {} to compose project {} ({}), now running: {}\n  pull:      {}\n  recreate:  {}\n  unchanged: {}\n  prune:     {}\n",
                plan.release,
                plan.project,
                plan.compose,
                plan.current.as_deref().unwrap_or("nothing known"),
                list(&plan.pull),
                list(&plan.recreate),
                list(&plan.unchanged),
                list(&plan.prune),
            )
        });
        return Ok(());
    }
    let say = |m: &str| ctx.out.say(m);
    let opts = Options { break_lock: args.break_lock, prune: !args.no_prune };
    let done = deployer.deploy(&release, opts, &say)?;
    ctx.out.data(&done, || done_text(&done));
    Ok(())
}

fn done_text(done: &hoist_compose::Done) -> String {
    let verb = match done.action {
        hoist_compose::Action::Deploy => "deployed",
        hoist_compose::Action::Rollback => "rolled back to",
    };
    let mut text = format!("{verb} {} ({})\n", done.release, done.project);
    if done.noop {
        text.push_str("  nothing changed: already running and healthy\n");
    } else {
        let r = if done.recreated.is_empty() { "none".to_string() } else { done.recreated.join(", ") };
        text.push_str(&format!("  recreated: {r}\n"));
    }
    for pin in &done.pins {
        text.push_str(&format!("  {}: {}\n", pin.service, pin.image));
    }
    if !done.pruned.is_empty() {
        text.push_str(&format!("  pruned: {}\n", done.pruned.join(", ")));
    }
    text
}

#[derive(Debug, Serialize)]
struct HistoryOut {
    project: String,
    current: Option<String>,
    records: Vec<hoist_compose::Record>,
}

pub fn history(ctx: &Ctx, args: HistoryArgs) -> Result<(), Report> {
    let config = ctx.config()?;
    let t = target(config, None);
    let mut history = hoist_compose::History::load(&t.state_dir, &t.project, t.keep)?;
    // Shown, not written: without the lock only a run whose process is gone counts.
    history.mark_interrupted(false);
    let mut records = history.records.clone();
    if let Some(n) = args.limit {
        records = records.split_off(records.len().saturating_sub(n));
    }
    let out = HistoryOut { project: t.project.clone(), current: history.current().map(|c| c.release), records };
    ctx.out.data(&out, || {
        if out.records.is_empty() {
            return format!("no deploys of {} recorded on this host\n", out.project);
        }
        let mut text = String::new();
        for r in &out.records {
            let result =
                serde_json::to_value(r.result).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
            let action =
                serde_json::to_value(r.action).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
            let mut line = format!(
                "#{:<3} {}  {:<8} {:<24} {:<11} {}",
                r.id,
                r.started_at.format("%Y-%m-%d %H:%M:%S"),
                action,
                r.release,
                result,
                r.by
            );
            if let Some(to) = &r.rolled_back_to {
                line.push_str(&format!("  -> {to}"));
            }
            if let Some(s) = &r.failed_service {
                line.push_str(&format!("  failed: {s}"));
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        if let Some(c) = &out.current {
            text.push_str(&format!("current: {c}\n"));
        }
        text
    });
    Ok(())
}

pub fn rollback(ctx: &Ctx, args: RollbackArgs) -> Result<(), Report> {
    let config = ctx.config()?;
    let deployer = deployer(config, None)?;
    let say = |m: &str| ctx.out.say(m);
    let opts = Options { break_lock: args.break_lock, prune: false };
    let done = deployer.rollback(args.to.as_deref(), opts, &say)?;
    ctx.out.data(&done, || done_text(&done));
    Ok(())
}

/// `hoist release --deploy compose`: deploy the release just made, from the registry, or
/// (without one) from an archive of the local layout that the engine loads.
pub fn deploy_release(
    ctx: &Ctx,
    tag: &release_tag::ReleaseTag,
    from_registry: bool,
    break_lock: bool,
) -> Result<serde_json::Value, Report> {
    let config = ctx.config()?;
    let archive = if from_registry { None } else { Some(super::image::export_release(ctx, tag)?) };
    let mut release = release(config, tag, archive)?;
    if release.source == Source::Registry {
        resolve_digests(config, &mut release)?;
    }
    let deployer = deployer(config, None)?;
    let say = |m: &str| ctx.out.say(m);
    let done = deployer.deploy(&release, Options { break_lock, prune: true }, &say)?;
    let mut value = serde_json::to_value(&done).expect("serialisable");
    value["summary"] = serde_json::Value::String(done_text(&done).lines().next().unwrap_or_default().to_string());
    Ok(value)
}
