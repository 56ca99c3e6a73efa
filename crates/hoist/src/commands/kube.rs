//! `hoist render k8s` and `hoist deploy k8s`: render the manifests with the release's
//! images (hoist-kube), then apply them to the cluster, wait, roll back, prune.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use hoist_config::{Config, KubernetesConfig};
use hoist_diag::Report;
use hoist_kube::{Images, Rendered, ServiceImage};
use hoist_version::template::Part;
use serde_json::json;

use crate::commands::release_tag::{self, ReleaseTag};
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
    /// Manifest files or directories (default: `[deploy.kubernetes] manifests`).
    pub paths: Vec<PathBuf>,
}

fn k8s_config(config: &Config) -> KubernetesConfig {
    config.deploy.kubernetes.clone().unwrap_or_default()
}

/// `SERVICE=sha256:…` flags, checked against `[services]`.
fn parse_digests(config: &Config, flags: &[String]) -> Result<BTreeMap<String, String>, Report> {
    let mut out = BTreeMap::new();
    for flag in flags {
        let Some((service, digest)) = flag.split_once('=') else {
            return Err(Report::user(format!("--digest `{flag}` must be SERVICE=sha256:…")));
        };
        if !config.services.contains_key(service) {
            return Err(Report::user(format!("--digest `{flag}`: `{service}` is not a service in [services]")));
        }
        out.insert(service.to_string(), digest.to_string());
    }
    Ok(out)
}

/// Each service's image in this release: `[registry] repository` and `image_tag`.
fn images(config: &Config, release: &ReleaseTag, digests: &BTreeMap<String, String>) -> Result<Images, Report> {
    let Some(registry) = &config.registry else {
        return Err(Report::user("no [registry] in hoist.toml: hoist does not know the release's image names")
            .with_hint("add `[registry] repository = \"host/path\"`"));
    };
    if config.services.is_empty() {
        return Err(Report::user("hoist.toml has no [services.<name>]: no image to set")
            .with_hint("add one [services.<name>] table per service whose image hoist sets"));
    }
    let k8s = k8s_config(config);
    let template = registry.image_tag_template();
    let mut services = BTreeMap::new();
    for service in config.services.keys() {
        let mut values: Vec<(&str, &str)> = release.values().to_vec();
        values.push(("service", service));
        // The part of every release's tag that comes before the release: `<service>_`.
        // It identifies the service only if it contains the service name.
        let mut prefix = String::new();
        for part in template.parts() {
            match part {
                Part::Literal(s) => prefix.push_str(s),
                Part::Placeholder(n) if n == "service" => prefix.push_str(service),
                Part::Placeholder(_) => break,
            }
        }
        if !prefix.contains(service.as_str()) {
            prefix.clear();
        }
        let digest = digests.get(service).cloned();
        services.insert(service.clone(), ServiceImage { tag: template.render_with(&values), prefix, digest });
    }
    let mut images = Images { repository: registry.repository.clone(), services };
    if k8s.pin_digests {
        pin_from_registry(config, release, &mut images)?;
    }
    Ok(images)
}

/// `[deploy.kubernetes] pin_digests`: ask the registry which manifest each service's tag
/// names (`--digest` flags win), so the cluster runs exactly what was pushed.
fn pin_from_registry(config: &Config, release: &ReleaseTag, images: &mut Images) -> Result<(), Report> {
    let registry = config.registry.as_ref().expect("images() checked [registry]");
    let missing: Vec<(String, String)> = images
        .services
        .iter()
        .filter(|(_, s)| s.digest.is_none())
        .map(|(service, image)| (service.clone(), image.tag.clone()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let tags: Vec<&str> = missing.iter().map(|(_, t)| t.as_str()).collect();
    let digests = super::registry::manifest_digests(config, &tags)?;
    for ((service, tag), digest) in missing.into_iter().zip(digests) {
        match digest {
            Some(digest) => {
                if let Some(image) = images.services.get_mut(&service) {
                    image.digest = Some(digest);
                }
            }
            None => {
                return Err(Report::user(format!(
                    "`{service}`: the registry has no {}:{tag}, so its digest cannot be pinned",
                    registry.repository
                ))
                .with_hint(format!(
                    "push the release first (`hoist push --tag {}`), or set `[deploy.kubernetes] pin_digests = false`",
                    release.tag
                )));
            }
        }
    }
    Ok(())
}

/// Load, rewrite and order the manifests for a release.
fn rendered(
    ctx: &Ctx,
    tag: Option<&str>,
    paths: &[PathBuf],
    digests: &[String],
) -> Result<(ReleaseTag, Rendered, BTreeMap<String, String>), Report> {
    let config = ctx.config()?;
    let release = release_tag::resolve(ctx, tag, None)?;
    let digests = parse_digests(config, digests)?;
    let images = images(config, &release, &digests)?;
    let paths: Vec<PathBuf> = if paths.is_empty() {
        k8s_config(config).manifests.iter().map(|m| config.resolve(m)).collect()
    } else {
        paths.to_vec()
    };
    let docs = hoist_kube::load(&paths)?;
    let rendered = hoist_kube::render(docs, &images)?;
    for warning in &rendered.warnings {
        ctx.out.say(format!("warning: {warning}"));
    }
    for r in &rendered.rewrites {
        ctx.out.detail(format!("{} container {}: {} -> {}", r.object, r.container, r.from, r.to));
    }
    // What the release pins: flags and registry lookups alike, for the history.
    let pinned = images.services.iter().filter_map(|(n, s)| Some((n.clone(), s.digest.clone()?))).collect();
    Ok((release, rendered, pinned))
}

pub fn render(ctx: &Ctx, args: RenderArgs) -> Result<(), Report> {
    let RenderTarget::K8s { tag, digests, paths } = args.target;
    let (release, rendered, _) = rendered(ctx, tag.as_deref(), &paths, &digests)?;
    let yaml = hoist_kube::to_yaml(&rendered.docs);
    let value = json!({
        "release": release.tag,
        "images": rendered.rewrites,
        "warnings": rendered.warnings,
        "manifests": rendered.docs.iter().map(|d| d.value.to_json()).collect::<Vec<_>>(),
    });
    ctx.out.data(&value, || yaml);
    Ok(())
}

/// Render, apply, wait (and roll back on failure); the outcome, printed by the caller.
fn deploy_outcome(ctx: &Ctx, args: K8sArgs) -> Result<hoist_kube::Outcome, Report> {
    let (release, rendered, digests) = rendered(ctx, args.tag.as_deref(), &args.paths, &args.digests)?;
    let config = ctx.config()?;
    let k8s = k8s_config(config);
    let namespace = args.namespace.or(k8s.namespace.clone()).unwrap_or_else(|| "default".into());
    let context = args.context.or(k8s.context.clone());
    let out = ctx.out;
    let mut opts = hoist_kube::Options::new(&config.project_name(), &release.tag, &namespace);
    opts.timeout = Duration::from_secs(args.timeout.unwrap_or(k8s.timeout));
    opts.dry_run = args.dry_run;
    opts.diff = args.diff;
    opts.force_conflicts = args.force_conflicts;
    opts.digests = digests;
    opts.keep = k8s.keep;
    opts.progress = Arc::new(move |note| out.say(note));

    let runtime = crate::context::runtime()?;
    let outcome = runtime.block_on(async {
        let cluster = hoist_kube::connect(context.as_deref()).await?;
        ctx.out.say(format!(
            "deploying {} to {} ({}), namespace {namespace}{}",
            release.tag,
            cluster.context,
            cluster.url,
            if args.dry_run || args.diff { " (server-side dry run)" } else { "" }
        ));
        hoist_kube::deploy(&cluster, &rendered.docs, &opts).await
    })?;

    for (object, reason) in &outcome.kept {
        ctx.out.say(format!("kept {object}: {reason}"));
    }
    Ok(outcome)
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

/// `hoist release --deploy k8s`: deploy the release with `[deploy.kubernetes]`.
pub fn deploy_release(ctx: &Ctx, tag: &ReleaseTag) -> Result<serde_json::Value, Report> {
    let args = K8sArgs {
        tag: Some(tag.tag.clone()),
        context: None,
        namespace: None,
        dry_run: false,
        diff: false,
        force_conflicts: false,
        digests: Vec::new(),
        timeout: None,
        paths: Vec::new(),
    };
    let outcome = deploy_outcome(ctx, args)?;
    let mut value = serde_json::to_value(&outcome).expect("serialisable");
    value["summary"] = serde_json::Value::String(format!(
        "kubernetes: {} applied, {} pruned in namespace {}",
        outcome.applied.len(),
        outcome.pruned.len(),
        outcome.namespace
    ));
    Ok(value)
}
