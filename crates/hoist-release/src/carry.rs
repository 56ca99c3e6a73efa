//! Which services a release builds and which it carries: a service none of whose inputs
//! changed since the previous release (git trees compared, `changes.rs` for whose inputs
//! a path is) keeps its previous image. It is not built; its image gets the new
//! release's tag in the registry (the same manifest put under a second tag: no blob
//! moves) and keeps its digest, so compose does not recreate its container and Kubernetes
//! does not roll its pods.
//!
//! Everything builds when carrying is off (`[release] carry = false`, `--all`), for a
//! first release, without a registry push, and when a shared input changed. A service is
//! carried only from an image the registry holds now (asked before the plan is final),
//! built on the base the layout has now (its layers a prefix of the image's); otherwise
//! it builds, and the plan says why.
//!
//! A carried image stays what it was: its jar reports the release it was built for, and
//! `from` names that release (the `org.opencontainers.image.version` label), so an image
//! carried through several releases is still referenced by the tag it was built for.

use std::collections::BTreeMap;
use std::path::Path;

use hoist_config::{Config, StatePath};
use hoist_diag::Report;
use hoist_registry::Client;
use serde::{Deserialize, Serialize};

use crate::changes::{ChangedPath, Inputs, Touched};
use crate::images::{ImageKind, ServiceImage};
use crate::tag::{self, ReleaseTag, State};

/// The label a release's image names its release with (`images::labels`).
const VERSION_LABEL: &str = "org.opencontainers.image.version";

/// Per service: built or carried, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CarryPlan {
    /// The release the inputs were compared with; null when they were not compared.
    pub since: Option<String>,
    /// What changed since then, by whose input it is; null when not compared.
    pub touched: Option<Touched>,
    pub services: Vec<ServicePlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServicePlan {
    pub service: String,
    #[serde(flatten)]
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Built with this release's version.
    Build { reason: String },
    /// The previous image, under this release's tag too.
    Carry(Carried),
}

/// An image carried into a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Carried {
    /// The release this image was built for (what its jar reports as its version).
    pub from: String,
    /// The registry tag it is carried from: the one of the release it was built for.
    pub source_tag: String,
    /// The tag it gets in this release (`<service>_<tag>`).
    pub tag: String,
    /// Its manifest digest, the same under both tags.
    pub digest: String,
}

impl CarryPlan {
    /// Every service built, for `reason`.
    pub fn build_all(images: &[ServiceImage], reason: &str) -> CarryPlan {
        CarryPlan {
            since: None,
            touched: None,
            services: images
                .iter()
                .map(|i| ServicePlan {
                    service: i.service.clone(),
                    action: Action::Build { reason: reason.to_string() },
                })
                .collect(),
        }
    }

    /// The services that build.
    pub fn built(&self) -> Vec<String> {
        self.services.iter().filter(|s| matches!(s.action, Action::Build { .. })).map(|s| s.service.clone()).collect()
    }

    /// The services that are carried.
    pub fn carried(&self) -> impl Iterator<Item = (&str, &Carried)> {
        self.services.iter().filter_map(|s| match &s.action {
            Action::Carry(c) => Some((s.service.as_str(), c)),
            Action::Build { .. } => None,
        })
    }

    pub fn get(&self, service: &str) -> Option<&Carried> {
        self.carried().find(|(s, _)| *s == service).map(|(_, c)| c)
    }

    /// The carried images by service, as the push step tags them.
    pub fn carried_map(&self) -> BTreeMap<String, Carried> {
        self.carried().map(|(s, c)| (s.to_string(), c.clone())).collect()
    }

    /// Per carried service, the image tag it keeps (the release it was built for), as
    /// Kubernetes references it.
    pub fn kept_tags(&self) -> BTreeMap<String, String> {
        self.carried().map(|(s, c)| (s.to_string(), c.source_tag.clone())).collect()
    }

    /// The services of `config` that build: those not carried (a service without an
    /// image has nothing to carry and builds as it always did).
    pub fn uncarried(&self, config: &Config) -> Vec<String> {
        config.services.keys().filter(|s| self.get(s).is_none()).cloned().collect()
    }
}

/// What decides: the release, the repository state, whether the release pushes, and
/// whether the user asked to build everything.
#[derive(Debug)]
pub struct CarryInput<'a> {
    pub config: &'a Config,
    pub state: &'a State,
    pub release: &'a ReleaseTag,
    /// The services with an image, as `images::plan` gives them.
    pub images: &'a [ServiceImage],
    pub push: bool,
    /// `--all`
    pub all: bool,
}

/// Decide, per service, build or carry. Reads git and asks the registry (manifests and
/// configs only); changes nothing.
pub fn decide(input: &CarryInput<'_>) -> Result<CarryPlan, Report> {
    let CarryInput { config, state, release, images, push, all } = *input;
    if !config.release.carry {
        return Ok(CarryPlan::build_all(images, "`[release] carry = false`: every release builds every service"));
    }
    if all {
        return Ok(CarryPlan::build_all(images, "--all"));
    }
    if !push {
        return Ok(CarryPlan::build_all(images, "no registry push: carrying re-tags an image in the registry"));
    }
    let Some(previous) = state.previous() else {
        return Ok(CarryPlan::build_all(images, "a first release: there is nothing to carry from"));
    };
    let previous = tag::from_release(previous, &state.format);
    let commit = previous.commit.clone().expect("a scanned release has its commit");
    let mut changed = state.git.changed_paths(&commit, &state.head)?;
    for path in state.git.dirty_paths()? {
        if !changed.contains(&path) {
            changed.push(path);
        }
    }
    let prefix = root_prefix(state.git.root(), &config.root);
    // hoist's own state (records, layout) is never an input, ignored by git or not.
    let state_dir = format!("{}/", hoist_config::STATE_DIR);
    let placed: Vec<ChangedPath<'_>> = changed
        .iter()
        .map(|p| place(p, prefix.as_deref()))
        .filter(|p| !matches!(p, ChangedPath::Inside(i) if i.starts_with(&state_dir)))
        .collect();
    let touched = Inputs::from_config(config).classify(placed);

    let mut plan = CarryPlan { since: Some(previous.tag.clone()), touched: None, services: Vec::new() };
    if touched.all() {
        let reason = if !touched.shared.is_empty() {
            format!("shared inputs changed since {}: {}", previous.tag, few(&touched.shared))
        } else {
            format!(
                "changed since {} outside every service's paths, counted as shared: {} (add them to `[release] ignore` or a service's `paths`)",
                previous.tag,
                few(&touched.unowned)
            )
        };
        plan.services = CarryPlan::build_all(images, &reason).services;
        plan.touched = Some(touched);
        return Ok(plan);
    }

    let candidates: Vec<&ServiceImage> =
        images.iter().filter(|i| touched.services.get(&i.service).is_none_or(Vec::is_empty)).collect();
    let checked =
        if candidates.is_empty() { Vec::new() } else { check_all(config, state, &previous, release, &candidates) };

    for image in images {
        let action = match checked.iter().find(|(s, _)| *s == image.service) {
            Some((_, Verdict::Carry(c))) => Action::Carry(c.clone()),
            Some((_, Verdict::Build(reason))) => Action::Build { reason: reason.clone() },
            None => Action::Build {
                reason: format!(
                    "changed since {}: {}",
                    previous.tag,
                    few(touched.services.get(&image.service).map(Vec::as_slice).unwrap_or_default())
                ),
            },
        };
        plan.services.push(ServicePlan { service: image.service.clone(), action });
    }
    plan.touched = Some(touched);
    Ok(plan)
}

/// The decision for a single-step command (`hoist build`, `image`, `push`) working on
/// `release`, so a pipeline of single steps builds, pushes and restarts what `hoist
/// release` would: this machine's release record when `hoist release` made one, else
/// decided afresh. Everything builds when `release` is not HEAD's own or next release (an
/// older tag, or no git checkout at all).
pub fn for_step(
    config: &Config,
    dir: &Path,
    release: &ReleaseTag,
    all: bool,
    reporter: &dyn crate::report::Reporter,
) -> Result<CarryPlan, Report> {
    // No service with an image: nothing can be carried (the step itself says what is wrong).
    let Ok(images) = crate::images::plan(config, release, &[]) else {
        return Ok(CarryPlan { since: None, touched: None, services: Vec::new() });
    };
    let recorded = if all { None } else { crate::record::load(config, &release.tag)?.and_then(|r| r.plan.carry) };
    if let Some(carry) = recorded {
        return Ok(carry);
    }
    let Ok(state) = State::load(config, dir, reporter) else {
        return Ok(CarryPlan::build_all(&images, "not in a git checkout: nothing to compare"));
    };
    let at_head = release.commit.as_deref() == Some(state.head.as_str())
        || release.commit.is_none() && state.scan.releases.iter().all(|r| r.tag != release.tag);
    if !at_head {
        return Ok(CarryPlan::build_all(&images, "not HEAD's release: nothing to compare with"));
    }
    decide(&CarryInput { config, state: &state, release, images: &images, push: config.registry.is_some(), all })
}

/// The carried services of `tag` as this machine's release record has them (service →
/// the image tag each keeps), for a deploy or render run on its own after the release;
/// empty without a record.
pub fn recorded(config: &Config, tag: &str) -> Result<BTreeMap<String, String>, Report> {
    let Some(record) = crate::record::load(config, tag)? else { return Ok(BTreeMap::new()) };
    Ok(record.plan.carry.map(|c| c.kept_tags()).unwrap_or_default())
}

/// Ask the registry about each unchanged service. Carrying is an optimisation: when the
/// registry cannot be asked (down, refused, no credentials), the services build, the
/// reason says why, and the push step then fails or succeeds as it would have.
fn check_all(
    config: &Config,
    state: &State,
    previous: &ReleaseTag,
    release: &ReleaseTag,
    candidates: &[&ServiceImage],
) -> Vec<(String, Verdict)> {
    let unasked = |e: &Report| {
        format!(
            "unchanged since {}, but the registry could not be asked: {}",
            previous.tag,
            hoist_diag::text::inline(&e.to_string())
        )
    };
    let setup = (|| {
        let client = crate::registry::client(config, None, None)?;
        let naming = crate::registry::naming(config)?;
        Ok::<_, Report>((client, naming, crate::runtime()?))
    })();
    let (client, naming, runtime) = match setup {
        Ok(s) => s,
        Err(e) => {
            let why = unasked(&e);
            return candidates.iter().map(|i| (i.service.clone(), Verdict::Build(why.clone()))).collect();
        }
    };
    let layout = hoist_oci::Layout::open(&StatePath::Layout.path(config)).ok();
    let mut out = Vec::new();
    let mut failed: Option<String> = None;
    for image in candidates {
        let verdict = match &failed {
            // One failure is enough: the next request would wait for the same registry.
            Some(why) => Verdict::Build(why.clone()),
            None => {
                let c = Check {
                    client: &client,
                    naming: &naming,
                    state,
                    previous,
                    release,
                    image,
                    layout: layout.as_ref(),
                };
                match runtime.block_on(check(&c)) {
                    Ok(v) => v,
                    Err(e) => {
                        let why = unasked(&e);
                        failed = Some(why.clone());
                        Verdict::Build(why)
                    }
                }
            }
        };
        out.push((image.service.clone(), verdict));
    }
    out
}

/// At most three paths, and how many more.
fn few(paths: &[String]) -> String {
    let shown: Vec<&str> = paths.iter().take(3).map(String::as_str).collect();
    match paths.len() {
        n if n > 3 => format!("{} and {} more", shown.join(", "), n - 3),
        _ => shown.join(", "),
    }
}

/// The project root relative to the repository's top (`None`: they are the same).
fn root_prefix(top: &Path, root: &Path) -> Option<String> {
    let top = std::fs::canonicalize(top).unwrap_or_else(|_| top.to_path_buf());
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let rel = root.strip_prefix(&top).ok()?;
    let rel = rel.to_string_lossy().replace('\\', "/");
    (!rel.is_empty()).then_some(rel)
}

fn place<'a>(path: &'a str, prefix: Option<&str>) -> ChangedPath<'a> {
    match prefix {
        None => ChangedPath::Inside(path),
        Some(p) => match path.strip_prefix(p).and_then(|r| r.strip_prefix('/')) {
            Some(inside) => ChangedPath::Inside(inside),
            None => ChangedPath::Outside(path),
        },
    }
}

enum Verdict {
    Carry(Carried),
    Build(String),
}

struct Check<'a> {
    client: &'a Client,
    naming: &'a hoist_version::naming::ImageNaming,
    state: &'a State,
    previous: &'a ReleaseTag,
    release: &'a ReleaseTag,
    image: &'a ServiceImage,
    layout: Option<&'a hoist_oci::Layout>,
}

/// Whether an unchanged service can be carried: its previous image is in the registry,
/// is a plain image manifest, and sits on the base the layout has now.
async fn check(c: &Check<'_>) -> Result<Verdict, Report> {
    let service = &c.image.service;
    let repo = c.client.repository().to_string();
    let previous_tag = c.naming.image_tag(service, c.previous);
    let unchanged = format!("unchanged since {}", c.previous.tag);
    let Some(digest) = c.client.manifest_digest(&previous_tag).await? else {
        return Ok(Verdict::Build(format!("{unchanged}, but the registry has no {repo}:{previous_tag} to carry")));
    };
    let manifest = c.client.get_manifest(&digest).await?;
    let json: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap_or_default();
    let (Some(config_digest), Some(config_size)) = (
        json.pointer("/config/digest").and_then(|v| v.as_str()),
        json.pointer("/config/size").and_then(|v| v.as_u64()),
    ) else {
        return Ok(Verdict::Build(format!("{unchanged}, but {repo}:{previous_tag} is not a single image manifest")));
    };
    let config_bytes = c.client.get_small_blob(config_digest, config_size).await?;
    let config: serde_json::Value = serde_json::from_slice(&config_bytes).unwrap_or_default();
    let diff_ids: Vec<&str> = config
        .pointer("/rootfs/diff_ids")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|d| d.as_str()).collect())
        .unwrap_or_default();

    if let (ImageKind::Artifact, Some(base)) = (&c.image.kind, &c.image.base) {
        let base_ids: Option<Vec<String>> = c
            .layout
            .and_then(|l| l.image(base).ok())
            .map(|img| img.config.rootfs().diff_ids().iter().map(|d| d.to_string()).collect());
        match base_ids {
            None => {
                return Ok(Verdict::Build(format!(
                    "{unchanged}, but its base `{base}` is not in the layout to compare"
                )));
            }
            Some(ids) if !diff_ids.starts_with(&ids.iter().map(String::as_str).collect::<Vec<_>>()) => {
                return Ok(Verdict::Build(format!("{unchanged}, but its base image `{base}` changed")));
            }
            Some(_) => {}
        }
    }

    // The release the image was built for: its label, when that release's own tag still
    // names the same image; else the previous release.
    let label =
        config.get("config").and_then(|c| c.get("Labels")).and_then(|l| l.get(VERSION_LABEL)).and_then(|v| v.as_str());
    let mut from = c.previous.clone();
    if let Some(origin) =
        label.filter(|l| *l != c.previous.tag).and_then(|l| c.state.scan.releases.iter().find(|r| r.tag == l))
    {
        let origin = tag::from_release(origin, &c.state.format);
        let origin_tag = c.naming.image_tag(service, &origin);
        if c.client.manifest_digest(&origin_tag).await?.as_deref() == Some(digest.as_str()) {
            from = origin;
        }
    }
    Ok(Verdict::Carry(Carried {
        source_tag: c.naming.image_tag(service, &from),
        from: from.tag,
        tag: c.naming.image_tag(service, c.release),
        digest,
    }))
}
