//! `hoist render k8s` and `hoist deploy k8s`: render the manifests with the release's
//! images (hoist-kube), then apply them to the cluster, wait, roll back, prune.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use hoist_diag::Report;
use hoist_kube::Rendered;
use hoist_release::Reporter;
use hoist_release::deploy::{K8sSettings, parse_digests};
use hoist_release::tag::ReleaseTag;
use serde_json::json;

use crate::context::Ctx;

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(subcommand)]
    pub target: RenderTarget,
}

#[derive(Debug, Subcommand)]
pub enum RenderTarget {
    /// Render Kubernetes manifests with the release's images, in apply order.
    K8s {
        /// The release tag (default: the release at HEAD).
        #[arg(long)]
        tag: Option<String>,
        /// Pin a service's image: `SERVICE=sha256:…` (repeatable).
        #[arg(long = "digest", value_name = "SERVICE=DIGEST")]
        digests: Vec<String>,
        /// Manifest files or directories (default: `[deploy.kubernetes] manifests`).
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct K8sArgs {
    /// The release tag (default: the release at HEAD).
    #[arg(long)]
    pub tag: Option<String>,
    /// kubeconfig context (default: `[deploy.kubernetes] context`, else the current one).
    #[arg(long)]
    pub context: Option<String>,
    /// Namespace for objects without one, and for the release history (default:
    /// `[deploy.kubernetes] namespace`, else `default`).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Server-side dry run: the API server validates everything, nothing changes.
    #[arg(long, conflicts_with = "diff")]
    pub dry_run: bool,
    /// Show what the release would change in the cluster (a server-side dry run).
    #[arg(long)]
    pub diff: bool,
    /// Take over fields that another field manager owns (server-side apply `force`).
    #[arg(long)]
    pub force_conflicts: bool,
    /// Pin a service's image: `SERVICE=sha256:…` (repeatable).
    #[arg(long = "digest", value_name = "SERVICE=DIGEST")]
    pub digests: Vec<String>,
    /// Seconds to wait for rollouts (default: `[deploy.kubernetes] timeout`).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Prune even when more than half of the previous release's objects are gone from
    /// the manifests (without it such a deploy stops before changing anything).
    #[arg(long)]
    pub allow_shrink: bool,
    /// Manifest files or directories (default: `[deploy.kubernetes] manifests`).
    pub paths: Vec<PathBuf>,
}

/// `--digest` flags, then the manifests rendered for the release.
fn rendered(
    ctx: &Ctx,
    tag: Option<&str>,
    paths: &[PathBuf],
    digests: &[String],
) -> Result<(ReleaseTag, Rendered, BTreeMap<String, String>), Report> {
    let config = ctx.config()?;
    let release = ctx.release(tag, None)?;
    let digests = parse_digests(config, digests)?;
    let settings = K8sSettings {
        paths: paths.iter().map(|p| ctx.path(p)).collect(),
        carried: hoist_release::carry::recorded(config, &release.tag)?,
        ..K8sSettings::default()
    };
    let (rendered, pinned) =
        hoist_release::deploy::render(config, &release, &settings, &digests, ctx.reporter().as_ref())?;
    Ok((release, rendered, pinned))
}

pub fn render(ctx: &Ctx, args: RenderArgs) -> Result<(), Report> {
    let RenderTarget::K8s { tag, digests, paths } = args.target;
    let (release, rendered, _) = rendered(ctx, tag.as_deref(), &paths, &digests)?;
    // A first render of a repository must work: what a deploy would refuse is a warning.
    let reporter = ctx.reporter();
    for p in &rendered.problems {
        reporter.warn(&format!(
            "warning: {p}: server-side apply refuses a repeated key, so `hoist deploy k8s` stops on it"
        ));
    }
    let yaml = hoist_kube::to_yaml(&rendered.docs);
    let value = json!({
        "release": release.tag,
        "images": rendered.rewrites,
        "warnings": rendered.warnings,
        "problems": rendered.problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "manifests": rendered.docs.iter().map(|d| d.value.to_json()).collect::<Vec<_>>(),
    });
    ctx.out.data(&value, || yaml);
    Ok(())
}

/// Render, apply, wait (and roll back on failure); the outcome, printed by the caller.
fn deploy_outcome(ctx: &Ctx, args: K8sArgs) -> Result<hoist_kube::Outcome, Report> {
    let config = ctx.config()?;
    let release = ctx.release(args.tag.as_deref(), None)?;
    let digests = parse_digests(config, &args.digests)?;
    let settings = K8sSettings {
        context: args.context,
        namespace: args.namespace,
        timeout: args.timeout,
        paths: args.paths.iter().map(|p| ctx.path(p)).collect(),
        dry_run: args.dry_run,
        diff: args.diff,
        force_conflicts: args.force_conflicts,
        allow_shrink: args.allow_shrink,
        carried: hoist_release::carry::recorded(config, &release.tag)?,
    };
    hoist_release::deploy::deploy_k8s(config, &release, &settings, &digests, ctx.reporter())
}

pub fn deploy(ctx: &Ctx, args: K8sArgs) -> Result<(), Report> {
    let outcome = deploy_outcome(ctx, args)?;
    ctx.out.data(&outcome, || match &outcome.diff {
        Some(diff) if diff.is_empty() => "no changes\n".to_string(),
        Some(diff) => diff.clone(),
        None if outcome.dry_run => {
            let mut text = format!("dry run: {} objects would be applied\n", outcome.applied.len());
            for o in &outcome.applied {
                text.push_str(&format!("  apply {o}\n"));
            }
            for o in &outcome.pruned {
                text.push_str(&format!("  prune {o}\n"));
            }
            text
        }
        None => format!(
            "deployed {} (revision {}) to namespace {}: {} applied, {} pruned\n",
            outcome.release,
            outcome.revision,
            outcome.namespace,
            outcome.applied.len(),
            outcome.pruned.len()
        ),
    });
    Ok(())
}
