//! `hoist deploy compose`, `hoist deploy history`, `hoist rollback`: one host, Docker Compose,
//! this machine or a remote host over SSH (`--host`, `[deploy.compose] hosts`).
//!
//! The target and the release's images come from `hoist_release::deploy`; this renders
//! results. Everything that touches the engine or a host lives in `hoist-compose`.

use std::path::PathBuf;

use clap::Args;
use hoist_compose::remote::{RemoteError, RemoteHost, Session, release_files};
use hoist_compose::{Deployer, Options, Source};
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
    /// Deploy to this host over SSH instead of this machine (default: `[deploy.compose] hosts`).
    #[arg(long, value_name = "ssh://USER@HOST[:PORT]")]
    pub host: Option<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Show only the last N deploys.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Read the history of this host over SSH (default: `[deploy.compose] hosts`).
    #[arg(long, value_name = "ssh://USER@HOST[:PORT]")]
    pub host: Option<String>,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The release to go back to (default: the one before the current).
    #[arg(long)]
    pub to: Option<String>,
    /// Remove a deploy lock whose holder process is gone.
    #[arg(long)]
    pub break_lock: bool,
    /// Roll back on this host over SSH (default: `[deploy.compose] hosts`).
    #[arg(long, value_name = "ssh://USER@HOST[:PORT]")]
    pub host: Option<String>,
}

/// The remote host of this run: `--host`, else the one of `[deploy.compose] hosts`; `None`
/// for this machine. Several configured hosts are refused until batches exist.
fn remote_host(config: &hoist_config::Config, flag: Option<&str>) -> Result<Option<RemoteHost>, Report> {
    let c = hoist_release::deploy::compose_config(config);
    let url = match flag {
        Some(u) => u.to_string(),
        None => match c.hosts.as_slice() {
            [] => return Ok(None),
            [one] => one.clone(),
            many => return Err(RemoteError::SeveralHosts { count: many.len() }.into()),
        },
    };
    let project = target(config, None).project;
    let known = c.known_hosts.as_ref().map(|k| config.resolve(k));
    Ok(Some(RemoteHost::new(&url, known, c.remote_dir.as_deref(), &project)?))
}

/// The compose files of `target` relative to the project root (as the mirror holds them).
fn relative_files(config: &hoist_config::Config, files: &[PathBuf]) -> Vec<PathBuf> {
    files.iter().map(|f| f.strip_prefix(&config.root).map(PathBuf::from).unwrap_or_else(|_| f.clone())).collect()
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
    let host = remote_host(config, args.host.as_deref())?;
    let say = |m: &str| ctx.out.say(m);
    // A remote run: connect (host key verified), take the host's lock, fetch its state and
    // put the release's compose files in place; the deployer then works on the host.
    let session = host.map(Session::open).transpose()?;
    let _host_lock = match &session {
        Some(s) if !args.dry_run => Some(s.lock(&format!("deploy {}", tag.tag), args.break_lock, &say)?),
        _ => None,
    };
    let deployer = match &session {
        Some(s) => {
            let base = target(config, args.timeout);
            s.fetch_state(&base.project)?;
            let files = release_files(&config.root, &base.files, tag.commit.as_deref())?;
            s.put_files(&files, !args.dry_run)?;
            let rel = relative_files(config, &base.files);
            Deployer::new(s.target(base, rel)?)?
        }
        None => deployer(config, args.timeout)?,
    };
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
    let mut t = target(config, None);
    // Read over ssh: the host's own history, without its lock (shown, not written).
    let session = remote_host(config, args.host.as_deref())?.map(Session::open).transpose()?;
    if let Some(s) = &session {
        s.fetch_state(&t.project)?;
        t = s.target(hoist_compose::Target { probes: Default::default(), ..t }, Vec::new())?;
    }
    let where_ = session.as_ref().map(|s| s.host.url.to_string()).unwrap_or_else(|| "this host".into());
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
            return format!("no deploys of {} recorded on {where_}\n", out.project);
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
    let say = |m: &str| ctx.out.say(m);
    let session = remote_host(config, args.host.as_deref())?.map(Session::open).transpose()?;
    let what = format!("rollback{}", args.to.as_deref().map(|t| format!(" to {t}")).unwrap_or_default());
    let _host_lock = match &session {
        Some(s) => Some(s.lock(&what, args.break_lock, &say)?),
        None => None,
    };
    let deployer = match &session {
        Some(s) => {
            let base = target(config, None);
            s.fetch_state(&base.project)?;
            // The files the host ran last (hoist's copies there), not this worktree's.
            let rel = relative_files(config, &base.files);
            let mut names: Vec<String> = rel.iter().map(|r| r.to_string_lossy().into_owned()).collect();
            names.push(".env".into());
            let files = s.fetch_files(&names)?;
            s.put_files(&files, false)?;
            Deployer::new(s.target(base, rel)?)?
        }
        None => deployer(config, None)?,
    };
    let opts = Options { break_lock: args.break_lock, prune: false };
    let done = deployer.rollback(args.to.as_deref(), opts, &say)?;
    ctx.out.data(&done, || done_text(&done));
    Ok(())
}
