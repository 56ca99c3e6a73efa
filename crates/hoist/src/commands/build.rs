//! `hoist build` and `hoist dockerfile`.

use clap::Args;
use hoist_build::{Artifact, BuildPlan};
use hoist_diag::Report;
use hoist_release::{Event, Reporter};
use serde::Serialize;

use crate::context::Ctx;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Build for this release tag (default: HEAD's release, else the next one).
    #[arg(long)]
    pub tag: Option<String>,
    /// The merged PR's title, when the next release is decided from it.
    #[arg(long, value_name = "TEXT")]
    pub pr_title: Option<String>,
    /// Build only these services (repeatable).
    #[arg(long, value_name = "NAME")]
    pub service: Vec<String>,
    /// How many service builds run at once (default: `[build] jobs`, else the number of cores).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Print the plan, run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Build every service, even those unchanged since the previous release (which
    /// `hoist release` carries).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct DockerfileArgs {
    /// Write `<service dir>/Dockerfile` (never over a hand-written one) instead of printing.
    #[arg(long)]
    pub write: bool,
}

#[derive(Debug, Serialize)]
struct BuildReport<'a> {
    tag: &'a str,
    artifacts: &'a [Artifact],
}

pub fn run(ctx: &Ctx, args: BuildArgs) -> Result<(), Report> {
    if args.jobs == Some(0) {
        return Err(Report::user("-j must be at least 1"));
    }
    let config = ctx.config()?;
    let tag = ctx.release(args.tag.as_deref(), args.pr_title.as_deref())?;
    let (services, _) = super::step_services(ctx, &tag, &args.service, args.all)?;
    let Some(services) = services else {
        ctx.out.say(format!("nothing to build for {}: every service is carried", tag.tag));
        let report = BuildReport { tag: &tag.tag, artifacts: &[] };
        ctx.out.data(&report, String::new);
        return Ok(());
    };
    let plan = hoist_build::plan(config, &tag, &services, args.jobs)?;
    if args.dry_run {
        ctx.out.data(&plan, || plan_text(&plan));
        return Ok(());
    }
    let artifacts = build(ctx, &plan)?.artifacts;
    hoist_build::save_record(config, &tag.tag, &artifacts)?;
    let report = BuildReport { tag: &tag.tag, artifacts: &artifacts };
    ctx.out.data(&report, || {
        let mut s = String::new();
        for a in &artifacts {
            let path = a.path.strip_prefix(&config.root).unwrap_or(&a.path);
            s.push_str(&format!(
                "{:<20} {}  {} bytes  sha256:{}\n",
                a.service,
                path.display(),
                a.size,
                &a.sha256[..12]
            ));
        }
        s
    });
    Ok(())
}

/// Run a build plan with output streamed to stderr, each line prefixed by its service.
fn build(ctx: &Ctx, plan: &BuildPlan) -> Result<hoist_build::Built, Report> {
    let config = ctx.config()?;
    let reporter = ctx.reporter();
    let sink = move |who: &str, line: &str| reporter.event(Event::BuildLine { service: who, line });
    ctx.out.say(format!("building {} for {}", names(plan), plan.release.tag));
    Ok(hoist_build::execute(plan, &config.root, &sink)?)
}

fn names(plan: &BuildPlan) -> String {
    plan.services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
}

fn plan_text(plan: &BuildPlan) -> String {
    let mut s = format!("build plan for {} ({} at once)\n", plan.release.tag, plan.jobs);
    if let Some(p) = &plan.project {
        s.push_str(&format!("  project: {}\n", display_argv(&p.argv)));
    }
    for svc in &plan.services {
        let cmd = svc.step.as_ref().map(|st| display_argv(&st.argv)).unwrap_or_else(|| "(no command)".into());
        s.push_str(&format!("  {}: {}\n", svc.name, cmd));
        if let Some(a) = &svc.artifact {
            s.push_str(&format!("    artifact: {a}\n"));
        }
    }
    s
}

fn display_argv(argv: &[String]) -> String {
    serde_json::to_string(argv).expect("strings serialise")
}

pub fn dockerfile(ctx: &Ctx, args: DockerfileArgs) -> Result<(), Report> {
    let config = ctx.config()?;
    let files = hoist_build::dockerfiles(config)?;
    if files.is_empty() {
        return Err(Report::user("no service has an artifact, so there is no Dockerfile to make")
            .with_hint("set `[services.<name>] artifact` in hoist.toml"));
    }
    if args.write {
        let states = hoist_build::write_dockerfiles(&files)?;
        #[derive(Serialize)]
        struct Row<'a> {
            service: &'a str,
            path: &'a std::path::Path,
            state: hoist_build::Written,
        }
        let rows: Vec<Row> =
            files.iter().zip(&states).map(|(f, s)| Row { service: &f.service, path: &f.path, state: *s }).collect();
        ctx.out.data(&rows, || {
            rows.iter().map(|r| format!("{:?} {}\n", r.state, r.path.display()).to_lowercase()).collect()
        });
    } else {
        ctx.out.data(&files, || {
            files.iter().map(|f| format!("# --- {} ---\n{}\n", f.path.display(), f.contents)).collect()
        });
    }
    Ok(())
}
