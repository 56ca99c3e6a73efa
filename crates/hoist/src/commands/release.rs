//! `hoist release`: the arguments become a [`ReleaseRequest`]; the library plans it, and
//! the plan is printed (`--dry-run`) or executed. The flow itself lives in `hoist-release`.

use clap::Args;
use hoist_diag::Report;
use hoist_release::plan::{DeployStep, PushPreview};
use hoist_release::{DeployTarget, PlannedStep, ReleasePlan, ReleaseReport, ReleaseRequest, Step};
use serde::Serialize;

use crate::context::Ctx;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeployArg {
    Compose,
    K8s,
    None,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The merged PR's title (default: the GitHub event payload, else HEAD's commit message).
    #[arg(long, value_name = "TEXT")]
    pub pr_title: Option<String>,
    /// Where to deploy the release.
    #[arg(long, value_enum, default_value_t = DeployArg::None)]
    pub deploy: DeployArg,
    /// Print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Release even when HEAD is detached (CI checkouts of a merge commit are).
    #[arg(long)]
    pub allow_detached: bool,
    /// Skip the registry even if `[registry]` is configured (images stay in the local layout).
    #[arg(long)]
    pub no_push: bool,
    /// How many service builds run at once.
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// With `--deploy compose`: remove a deploy lock whose holder process is gone (a
    /// release killed during its deploy leaves one; the re-run needs this to continue).
    #[arg(long)]
    pub break_lock: bool,
    /// With `--deploy k8s`: prune even when more than half of the previous release's
    /// objects are gone from the manifests.
    #[arg(long)]
    pub allow_shrink: bool,
    /// Build every service, even those unchanged since the previous release (which are
    /// otherwise carried: their image re-tagged, not rebuilt, not restarted).
    #[arg(long)]
    pub all: bool,
    /// Resolve the registry bases' tags again and move their pins in hoist.lock first.
    #[arg(long)]
    pub update_base: bool,
}

impl ReleaseArgs {
    /// uv's `Settings::resolve` shape: arguments over the config, the environment read once.
    fn resolve(self, ctx: &Ctx) -> Result<(ReleaseRequest, bool), Report> {
        let request = ReleaseRequest {
            config: ctx.config()?.clone(),
            dir: ctx.dir.clone(),
            title: ctx.title(self.pr_title.as_deref())?,
            deploy: match self.deploy {
                DeployArg::Compose => DeployTarget::Compose,
                DeployArg::K8s => DeployTarget::K8s,
                DeployArg::None => DeployTarget::None,
            },
            allow_detached: self.allow_detached,
            push: !self.no_push,
            jobs: self.jobs,
            all: self.all,
            update_base: self.update_base,
            break_lock: self.break_lock,
            allow_shrink: self.allow_shrink,
            env: ctx.env()?.clone(),
        };
        Ok((request, self.dry_run))
    }
}

/// `--dry-run --output json`: the plan the run would execute, and what its push would
/// upload now (not part of the plan: the real run asks the registry once, when it pushes).
#[derive(Debug, Serialize)]
struct DryRun<'a> {
    #[serde(flatten)]
    plan: &'a ReleasePlan,
    push_preview: Option<PushPreview>,
}

pub fn run(ctx: &Ctx, args: ReleaseArgs) -> Result<(), Report> {
    let (request, dry_run) = args.resolve(ctx)?;
    let reporter = ctx.reporter();
    let plan = hoist_release::plan(&request, reporter.as_ref())?;
    if plan.release.is_none() {
        ctx.out.data(&DryRun { plan: &plan, push_preview: None }, || {
            format!("no release: the PR title has no release marker: {:?}\n", plan.title.text)
        });
        super::github::write_outputs(None, &[])?;
        return Ok(());
    }
    if dry_run {
        let push_preview = hoist_release::plan::preview_push(&request, &plan)?;
        let out = DryRun { plan: &plan, push_preview };
        ctx.out.data(&out, || plan_text(&out));
        return Ok(());
    }
    let release = plan.release.as_ref().expect("checked");
    if release.resumed {
        ctx.out.say(format!("continuing release {} (HEAD already carries its tag)", release.tag));
    }
    if release.remote.is_some() && plan.step(hoist_release::StepKind::Push).is_none() {
        ctx.out.say(format!(
            "not pushing tag {} to `{}`: there is no registry step, so nothing was published",
            release.tag,
            release.remote.as_deref().unwrap_or_default()
        ));
    }
    let report = hoist_release::execute(&request, &plan, reporter)?;
    super::github::write_outputs(Some(&report), &report.services)?;
    ctx.out.data(&report, || summary_text(&report));
    Ok(())
}

fn plan_text(out: &DryRun<'_>) -> String {
    let plan = out.plan;
    let Some(r) = &plan.release else { return String::new() };
    let mut s = format!(
        "release {} ({}) at {}{}\n",
        r.tag,
        r.version,
        &r.commit[..12],
        if r.resumed { ", continuing an earlier run" } else { "" }
    );
    if let Some(carry) = &plan.carry {
        s.push_str(&carry_text(carry));
    }
    let skipped = |p: &PlannedStep| p.skip.as_ref().map(|why| format!("  [skipped: {why}]")).unwrap_or_default();
    for (n, p) in plan.steps.iter().enumerate() {
        let n = n + 1;
        match &p.step {
            Step::TagLocal(t) => s.push_str(&format!("  {n}. tag {} locally{}\n", t.tag, skipped(p))),
            Step::Build(b) => {
                s.push_str(&format!("  {n}. build:{}\n", skipped(p)));
                if let Some(project) = &b.plan.project {
                    s.push_str(&format!("     project-wide, first: {}\n", project.argv.join(" ")));
                }
                for svc in &b.plan.services {
                    let cmd = match (&svc.step, &b.plan.project) {
                        (Some(st), _) => st.argv.join(" "),
                        (None, Some(_)) => "by the project-wide build".into(),
                        (None, None) => "(no command)".into(),
                    };
                    let artifact = svc.artifact.as_deref().map(|a| format!(", artifact {a}")).unwrap_or_default();
                    s.push_str(&format!("     {}: {cmd}{artifact}\n", svc.name));
                }
            }
            Step::Images(i) => {
                s.push_str(&format!("  {n}. images into the local layout:{}\n", skipped(p)));
                for image in &i.images {
                    let from = match (&image.dockerfile, &image.base) {
                        (Some(df), _) => format!("from {df}"),
                        (None, Some(base)) => format!("from its artifact on {base}"),
                        (None, None) => "from its artifact, no base".to_string(),
                    };
                    s.push_str(&format!("     {}: {from}\n", image.name));
                }
            }
            Step::Push(push) => {
                s.push_str(&format!("  {n}. push to {}:{}\n", push.repository, skipped(p)));
                let preview = out.push_preview.as_ref();
                let known = preview.and_then(|p| p.plan.as_ref());
                for image in &push.images {
                    let now = known.and_then(|k| k.images.iter().find(|i| i.tag == image.tag));
                    s.push_str(&format!("     {} as {}{}\n", image.source, image.tag, tag_action(now)));
                }
                for (service, c) in &push.carried {
                    s.push_str(&format!("     tag {service}'s {} as {} (carried, no upload)\n", c.source_tag, c.tag));
                }
                if let Some(k) = known {
                    let (up, there): (Vec<_>, Vec<_>) = k.blobs.iter().partition(|b| b.upload);
                    for b in &up {
                        s.push_str(&format!("     upload {} ({} bytes)\n", b.digest, b.size));
                    }
                    s.push_str(&format!(
                        "     blobs: {} to upload ({} bytes), {} already in the registry\n",
                        up.len(),
                        k.upload_bytes,
                        there.len()
                    ));
                }
                if let Some(note) = preview.and_then(|p| p.note.as_ref()) {
                    s.push_str(&format!("     {note}\n"));
                }
            }
            Step::PushTag(t) => s.push_str(&format!("  {n}. push tag {} to `{}`{}\n", t.tag, t.remote, skipped(p))),
            Step::Deploy(DeployStep::Compose { project, release, .. }) => {
                let from = match &release.source {
                    hoist_compose::Source::Registry => "from the registry".to_string(),
                    hoist_compose::Source::Archive(a) => format!("from {}", a.display()),
                    hoist_compose::Source::Engine => "from the engine's images".to_string(),
                };
                s.push_str(&format!("  {n}. deploy: compose project {project}, {from}\n"));
            }
            Step::Deploy(DeployStep::K8s { namespace, .. }) => {
                s.push_str(&format!("  {n}. deploy: kubernetes, namespace {namespace}\n"));
            }
        }
    }
    if plan.step(hoist_release::StepKind::Push).is_none() {
        s.push_str("  push: none (no [registry], or --no-push)\n");
    } else if r.remote.is_none() {
        s.push_str("  push tag: no git remote, the tag stays local\n");
    }
    if plan.step(hoist_release::StepKind::Deploy).is_none() {
        s.push_str("  deploy: none\n");
    }
    s
}

/// What the push does to a tag, as the registry answers now (nothing when not asked).
fn tag_action(now: Option<&hoist_registry::PlannedImage>) -> String {
    use hoist_registry::TagAction;
    let short = |d: &Option<String>| d.as_deref().map(|d| d[..d.len().min(19)].to_string()).unwrap_or_default();
    match now {
        None => String::new(),
        Some(i) => match i.action {
            TagAction::Create => " (new tag)".into(),
            TagAction::Unchanged => " (already there, nothing to send)".into(),
            TagAction::Replace => format!(" (moves the tag from {})", short(&i.existing)),
            TagAction::Conflict => format!(" (refused: the tag points at {} already)", short(&i.existing)),
        },
    }
}

/// Which services build and which are carried, and why.
fn carry_text(carry: &hoist_release::carry::CarryPlan) -> String {
    use hoist_release::carry::Action;
    let mut s = match &carry.since {
        Some(since) => format!("  services, against {since}:\n"),
        None => "  services:\n".to_string(),
    };
    for svc in &carry.services {
        match &svc.action {
            Action::Build { reason } => s.push_str(&format!("     {}: build ({reason})\n", svc.service)),
            Action::Carry(c) => s.push_str(&format!(
                "     {}: carry from {} ({}, unchanged)\n",
                svc.service,
                c.from,
                &c.digest[..c.digest.len().min(19)]
            )),
        }
    }
    if let Some(t) = carry.touched.as_ref().filter(|t| !t.ignored.is_empty()) {
        s.push_str(&format!("     changed, no image is made of them: {}\n", t.ignored.join(", ")));
    }
    s
}

fn summary_text(r: &ReleaseReport) -> String {
    let mut s = format!("released {} ({}) in {:.1}s\n", r.tag, r.version, r.seconds);
    s.push_str(&format!("{:<16} {:<60} {:<20} {:>12} {:>8}\n", "service", "image", "digest", "uploaded", "time"));
    for svc in &r.services {
        s.push_str(&format!(
            "{:<16} {:<60} {:<20} {:>12} {:>7.1}s\n",
            svc.service,
            svc.image,
            &svc.digest[..svc.digest.len().min(19)],
            svc.bytes_uploaded,
            svc.seconds
        ));
        if let Some(from) = &svc.from {
            s.push_str(&format!("{:<16} carried from {from}: not rebuilt, not restarted\n", ""));
        }
    }
    s.push_str(&format!(
        "uploaded {} bytes; tag pushed: {}\n",
        r.bytes_uploaded,
        if r.tag_pushed { "yes" } else { "no" }
    ));
    if let Some(d) = &r.deploy {
        s.push_str(&format!("deploy: {}\n", d.summary));
    }
    s
}
