//! `hoist deploy compose`, `hoist deploy history`, `hoist rollback`: one host, Docker Compose.
//!
//! The target and the release's images come from `hoist_release::deploy`; this renders
//! results. Everything that touches the engine lives in `hoist-compose`.

use std::path::PathBuf;

use clap::Args;
use hoist_compose::{Options, Source};
use hoist_diag::Report;
use hoist_release::deploy::{compose_release, deployer, resolve_digests, target};
use serde::Serialize;

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

pub fn deploy(ctx: &Ctx, args: ComposeArgs) -> Result<(), Report> {
    let config = ctx.config()?;
    let tag = ctx.release(args.tag.as_deref(), None)?;
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
    let mut release = compose_release(config, &tag, archive)?;
    let deployer = deployer(config, args.timeout)?;
    // A misnamed service is a config error, not a registry that lacks its image.
    deployer.check_services(&release)?;
    if release.source == Source::Registry {
        resolve_digests(config, &mut release)?;
    }
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
    let mut text = format!("{}\n", hoist_release::execute::compose_summary(done));
    if done.noop {
        text.push_str("  nothing changed: already running and healthy\n");
    } else {
        let r = if done.recreated.is_empty() { "none".to_string() } else { done.recreated.join(", ") };
        text.push_str(&format!("  recreated: {r}\n"));
    }
    for pin in &done.pins {
        text.push_str(&format!("  {}: {}\n", pin.service, pin.image));
    }
    if !done.no_health_signal.is_empty() {
        text.push_str(&format!(
            "  no health signal (judged by staying up for the settle time): {}\n",
            done.no_health_signal.join(", ")
        ));
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
