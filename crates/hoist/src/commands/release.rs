//! `hoist release`: version → tag (local) → build → images → push → tag (remote) → deploy,
//! as one plan.
//!
//! The order is the safety: the tag is created locally first, so a re-run after a failure
//! finds it on HEAD and continues the same release (never a second version); it reaches the
//! remote only after every image is in the registry, so no remote tag ever names a release
//! without images. Each step skips what is already done: intact artifacts are not rebuilt,
//! layers already in the layout are not recompressed, blobs the registry has are not sent.

use std::time::Instant;

use clap::{Args, ValueEnum};
use hoist_diag::Report;
use hoist_version::Next;
use serde::Serialize;

use super::release_tag::{ReleaseTag, State, Title, pr_title};
use crate::context::Ctx;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeployTarget {
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
    #[arg(long, value_enum, default_value_t = DeployTarget::None)]
    pub deploy: DeployTarget,
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
}

/// The whole release, decided before anything runs.
#[derive(Debug, Serialize)]
pub struct ReleasePlan {
    pub title: Title,
    /// The release; null when the title asks for none.
    pub release: Option<PlannedRelease>,
}

#[derive(Debug, Serialize)]
pub struct PlannedRelease {
    pub tag: String,
    pub version: String,
    pub commit: String,
    /// HEAD already carries this tag: an earlier run created it; this run continues it.
    pub resumed: bool,
    /// The git remote the tag goes to; null when the repository has none.
    pub remote: Option<String>,
    pub builds: hoist_build::BuildPlan,
    /// Artifacts already built and intact; their builds are skipped.
    pub built: Vec<hoist_build::Artifact>,
    /// The image refs that will be in the local layout.
    pub images: Vec<String>,
    pub push: Option<serde_json::Value>,
    pub deploy: DeployTarget,
}

/// One row of the summary.
#[derive(Debug, Serialize)]
pub struct ServiceSummary {
    pub service: String,
    pub image: String,
    pub digest: String,
    pub bytes_uploaded: u64,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct ReleaseReport {
    pub tag: String,
    pub version: String,
    pub resumed: bool,
    pub services: Vec<ServiceSummary>,
    pub bytes_uploaded: u64,
    pub tag_pushed: bool,
    pub deploy: Option<serde_json::Value>,
    pub seconds: f64,
}

pub fn run(ctx: &Ctx, args: ReleaseArgs) -> Result<(), Report> {
    let config = ctx.config()?;
    let state = State::load(ctx)?;
    state.require_branch(args.allow_detached)?;
    let title = pr_title(args.pr_title.as_deref(), &state.git)?;
    let (tag, resumed) = match state.head_release() {
        Some(r) => (ReleaseTag::from_release(r, &state.format), true),
        None => match state.next(config, &title.text)? {
            Next::Release(n) => (ReleaseTag::from_next(&n, &state.format), false),
            Next::None => {
                let plan = ReleasePlan { title, release: None };
                ctx.out
                    .data(&plan, || format!("no release: the PR title has no release marker: {:?}\n", plan.title.text));
                super::github::write_outputs(None, &[])?;
                return Ok(());
            }
        },
    };
    let push = config.registry.is_some() && !args.no_push;
    let remote = config.version.remote.clone();
    let has_remote = state.git.has_remote(&remote)?;

    let build_plan = hoist_build::plan(config, &super::build::release_values(&tag), &[], args.jobs)?;
    let built = hoist_build::load_record(&config.root, &tag.tag).unwrap_or_default();
    let images: Vec<String> =
        build_plan.services.iter().map(|s| super::image::service_ref(&s.name, &tag.tag)).collect();

    if args.dry_run {
        let push_plan = if push { Some(super::registry::plan_release(ctx, &tag)?) } else { None };
        let plan = ReleasePlan {
            title,
            release: Some(PlannedRelease {
                tag: tag.tag.clone(),
                version: tag.version.clone(),
                commit: state.head.clone(),
                resumed,
                remote: has_remote.then(|| remote.clone()),
                builds: build_plan,
                built,
                images,
                push: push_plan,
                deploy: args.deploy,
            }),
        };
        ctx.out.data(&plan, || plan_text(&plan));
        return Ok(());
    }

    let started = Instant::now();
    // 1. The tag, locally: from here on a re-run continues this release.
    if !resumed {
        let message = format!("Release {}\n\n{}\n", tag.tag, title.text);
        state.git.create_tag(&tag.tag, &state.head, &message)?;
        ctx.out.say(format!("tagged {} locally (pushed only once every image is in the registry)", tag.tag));
    } else {
        ctx.out.say(format!("continuing release {} (HEAD already carries its tag)", tag.tag));
    }
    // 2. Builds, skipped when the recorded artifacts are intact.
    let mut timings: std::collections::BTreeMap<String, f64> = Default::default();
    let artifacts =
        if !built.is_empty() && built.len() == build_plan.services.iter().filter(|s| s.artifact.is_some()).count() {
            ctx.out.say("artifacts already built and intact: skipping the build");
            built
        } else {
            let t = Instant::now();
            let a = super::build::build(ctx, &build_plan)?;
            hoist_build::save_record(&config.root, &tag.tag, &a)?;
            let secs = t.elapsed().as_secs_f64();
            for s in &build_plan.services {
                timings.insert(s.name.clone(), secs);
            }
            a
        };
    let _ = artifacts;
    // 3. Images into the local layout.
    let t = Instant::now();
    let built_images = super::image::build_release_images(ctx, &tag, args.jobs)?;
    let image_secs = t.elapsed().as_secs_f64();
    // 4. Push, then 5. the tag to the remote.
    let mut uploaded: std::collections::BTreeMap<String, u64> = Default::default();
    let mut bytes_uploaded = 0;
    let mut digests: std::collections::BTreeMap<String, (String, String)> = Default::default();
    for (service, image) in &built_images {
        digests.insert(service.clone(), (image.name.clone(), image.digest.clone()));
    }
    if push {
        let pushed = super::registry::push_release(ctx, &tag, false)?;
        let report = pushed.report;
        bytes_uploaded = report.bytes_uploaded;
        uploaded = pushed.per_service;
        for i in &report.images {
            if let Some(service) = super::registry::service_of_tag(ctx, &i.tag)? {
                digests.insert(service, (format!("{}:{}", report.repository, i.tag), i.digest.clone()));
            }
        }
    }
    let mut tag_pushed = false;
    if has_remote && push {
        match state.git.push_tag(&remote, &tag.tag) {
            Ok(_) => tag_pushed = true,
            Err(e) => {
                return Err(Report::from(e)
                    .context(format!("every image of {} is in the registry, but the tag could not be pushed", tag.tag))
                    .with_hint(
                        "fix access to the git remote and run `hoist release` again: it continues this release",
                    ));
            }
        }
    } else if has_remote && !push {
        ctx.out.say(format!(
            "not pushing tag {} to `{remote}`: there is no registry step, so nothing was published",
            tag.tag
        ));
    }
    // 6. Deploy.
    let deploy = match args.deploy {
        DeployTarget::None => None,
        DeployTarget::Compose => Some(super::compose::deploy_release(ctx, &tag, push, args.break_lock)?),
        DeployTarget::K8s => Some(super::kube::deploy_release(ctx, &tag)?),
    };

    let services: Vec<ServiceSummary> = digests
        .into_iter()
        .map(|(service, (image, digest))| ServiceSummary {
            bytes_uploaded: uploaded.get(&service).copied().unwrap_or(0),
            seconds: timings.get(&service).copied().unwrap_or(0.0) + image_secs,
            service,
            image,
            digest,
        })
        .collect();
    let report = ReleaseReport {
        tag: tag.tag.clone(),
        version: tag.version.clone(),
        resumed,
        services,
        bytes_uploaded,
        tag_pushed,
        deploy,
        seconds: started.elapsed().as_secs_f64(),
    };
    super::github::write_outputs(Some(&report), &report.services)?;
    ctx.out.data(&report, || summary_text(&report));
    Ok(())
}

fn plan_text(plan: &ReleasePlan) -> String {
    let Some(r) = &plan.release else { return String::new() };
    let mut s = format!(
        "release {} ({}) at {}{}\n",
        r.tag,
        r.version,
        &r.commit[..12],
        if r.resumed { ", continuing an earlier run" } else { "" }
    );
    s.push_str(&format!("  1. tag {} locally\n", r.tag));
    s.push_str("  2. build:\n");
    for svc in &r.builds.services {
        let done = r.built.iter().any(|a| a.service == svc.name);
        let cmd = svc.step.as_ref().map(|st| st.argv.join(" ")).unwrap_or_else(|| "(no command)".into());
        s.push_str(&format!("     {}: {}{}\n", svc.name, cmd, if done { "  [built, skipped]" } else { "" }));
    }
    s.push_str("  3. images into the local layout:\n");
    for i in &r.images {
        s.push_str(&format!("     {i}\n"));
    }
    match &r.push {
        Some(p) => {
            s.push_str("  4. push:\n");
            if let Some(blobs) = p.get("blobs").and_then(|b| b.as_array()) {
                for b in blobs.iter().filter(|b| b["upload"] == true) {
                    s.push_str(&format!(
                        "     upload {} ({} bytes)\n",
                        b["digest"].as_str().unwrap_or("?"),
                        b["size"].as_u64().unwrap_or(0)
                    ));
                }
            }
            if let Some(note) = p.get("note").and_then(|n| n.as_str()) {
                s.push_str(&format!("     {note}\n"));
            }
            match &r.remote {
                Some(remote) => s.push_str(&format!("  5. push tag {} to `{remote}`\n", r.tag)),
                None => s.push_str("  5. push tag: no git remote, the tag stays local\n"),
            }
        }
        None => s.push_str("  4. push: none (no [registry], or --no-push)\n"),
    }
    s.push_str(&format!("  6. deploy: {:?}\n", r.deploy).to_lowercase());
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
    }
    s.push_str(&format!(
        "uploaded {} bytes; tag pushed: {}\n",
        r.bytes_uploaded,
        if r.tag_pushed { "yes" } else { "no" }
    ));
    if let Some(d) = &r.deploy {
        s.push_str(&format!("deploy: {}\n", d.get("summary").and_then(|x| x.as_str()).unwrap_or("done")));
    }
    s
}
