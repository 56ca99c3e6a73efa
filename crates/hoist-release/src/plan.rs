//! A release decided before anything runs: the release (tag, version, commit) and the
//! steps that make it, each with its own plan. `--dry-run` prints this; the real run
//! executes exactly this (`execute.rs`) and stores it in the release record.
//!
//! The order is the safety: the tag is created locally first, so a re-run after a failure
//! finds it on HEAD and continues the same release (never a second version); it reaches the
//! remote only after every image is in the registry, so no remote tag ever names a release
//! without images. Each step skips what an earlier run did and is still intact.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hoist_build::BuildPlan;
use hoist_compose::Source;
use hoist_config::StatePath;
use hoist_diag::Report;
use hoist_registry::PushRequest;
use hoist_version::Next;
use serde::{Deserialize, Serialize};

use crate::carry::{Carried, CarryInput, CarryPlan};
use crate::deploy::K8sSettings;
use crate::images::ServiceImage;
use crate::record::{self, ReleaseRecord};
use crate::report::Reporter;
use crate::tag::{self, ReleaseTag, State, Title};
use crate::{DeployTarget, ReleaseRequest};

/// The format version of a plan (and of the release record that holds it).
pub const PLAN_VERSION: u32 = 1;

/// The whole release, decided before anything runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReleasePlan {
    /// The format version ([`PLAN_VERSION`]).
    pub format: u32,
    pub title: Title,
    /// The release; null when the title asks for none (then there are no steps).
    pub release: Option<PlannedRelease>,
    /// Per service: built, or carried from an earlier release, and why. Null when the
    /// title asks for no release.
    #[serde(default)]
    pub carry: Option<CarryPlan>,
    pub steps: Vec<PlannedStep>,
}

/// The release a plan makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlannedRelease {
    pub tag: String,
    pub version: String,
    /// The hash as written in the tag.
    pub sha: String,
    /// The release commit (HEAD).
    pub commit: String,
    /// HEAD already carries this tag: an earlier run created it; this run continues it.
    pub resumed: bool,
    /// The git remote the tag goes to; null when the repository has none.
    pub remote: Option<String>,
}

impl PlannedRelease {
    pub fn tag_ref(&self) -> ReleaseTag {
        ReleaseTag {
            tag: self.tag.clone(),
            version: self.version.clone(),
            sha: self.sha.clone(),
            commit: Some(self.commit.clone()),
        }
    }
}

/// One step and, when an earlier run already did it, why it is skipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlannedStep {
    #[serde(flatten)]
    pub step: Step,
    /// Why this step does not run (an earlier run of this release did it); null when it runs.
    pub skip: Option<String>,
}

/// The steps of a release, in the order they run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Create the annotated release tag on HEAD, locally.
    TagLocal(TagLocalStep),
    /// Build the services that changed with the release version.
    Build(BuildStep),
    /// Build their images into the local OCI layout.
    Images(ImagesStep),
    /// Push the images into the one registry repository, and tag the carried ones.
    Push(PushStep),
    /// Push the release tag to the git remote (only after every image is in the registry).
    PushTag(PushTagStep),
    /// Deploy the release.
    Deploy(DeployStep),
}

/// The kind of a step, for reports and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    TagLocal,
    Build,
    Images,
    Push,
    PushTag,
    Deploy,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::TagLocal => "tag_local",
            StepKind::Build => "build",
            StepKind::Images => "images",
            StepKind::Push => "push",
            StepKind::PushTag => "push_tag",
            StepKind::Deploy => "deploy",
        }
    }
}

impl Step {
    pub fn kind(&self) -> StepKind {
        match self {
            Step::TagLocal(_) => StepKind::TagLocal,
            Step::Build(_) => StepKind::Build,
            Step::Images(_) => StepKind::Images,
            Step::Push(_) => StepKind::Push,
            Step::PushTag(_) => StepKind::PushTag,
            Step::Deploy(_) => StepKind::Deploy,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TagLocalStep {
    pub tag: String,
    pub commit: String,
    /// The annotation: `Release <tag>` and the PR title.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BuildStep {
    pub plan: BuildPlan,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImagesStep {
    /// The local OCI layout the images go to.
    pub layout: PathBuf,
    /// Layers compressed at once; null for the number of cores.
    pub jobs: Option<usize>,
    pub images: Vec<ServiceImage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PushStep {
    /// `host[:port]/path`
    pub repository: String,
    /// Each layout image and the tag it gets. Which blobs go up is decided when the step
    /// runs (its images are built by then) and kept in the step's output.
    pub images: Vec<PushRequest>,
    /// Per carried service, the image that gets this release's tag (a manifest put).
    #[serde(default)]
    pub carried: BTreeMap<String, Carried>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PushTagStep {
    pub remote: String,
    pub tag: String,
}

/// Where and how the release is deployed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "engine", rename_all = "snake_case")]
pub enum DeployStep {
    /// This host, with Docker Compose. The images' digests come from the push step.
    Compose {
        project: String,
        release: hoist_compose::ReleaseImages,
        /// Remove a deploy lock whose holder process is gone.
        break_lock: bool,
    },
    /// A Kubernetes cluster.
    K8s {
        namespace: String,
        settings: K8sSettings,
        /// Pin the pushed digests (`[deploy.kubernetes] pin_digests`).
        pin_digests: bool,
    },
}

impl ReleasePlan {
    pub fn release_tag(&self) -> Option<ReleaseTag> {
        self.release.as_ref().map(PlannedRelease::tag_ref)
    }

    pub fn step(&self, kind: StepKind) -> Option<&PlannedStep> {
        self.steps.iter().find(|s| s.step.kind() == kind)
    }
}

/// Decide the release and its steps. Reads git, the config and the release record of an
/// earlier run; changes nothing.
pub fn plan(req: &ReleaseRequest, reporter: &dyn Reporter) -> Result<ReleasePlan, Report> {
    let config = &req.config;
    let state = State::load(config, &req.dir, reporter)?;
    state.require_branch(req.allow_detached)?;
    let title = tag::pr_title(&req.title, &state.git)?;
    let (release, resumed) = match state.head_release() {
        Some(r) => (tag::from_release(r, &state.format), true),
        None => match state.next(config, &title.text)? {
            Next::Release(n) => (tag::from_next(&n, &state.format), false),
            Next::None => {
                return Ok(ReleasePlan { format: PLAN_VERSION, title, release: None, carry: None, steps: Vec::new() });
            }
        },
    };
    let push = config.registry.is_some() && req.push;
    let remote = config.version.remote.clone();
    let has_remote = state.git.has_remote(&remote)?;
    let earlier = record::load(config, &release.tag)?;

    let mut steps = Vec::new();
    steps.push(PlannedStep {
        step: Step::TagLocal(TagLocalStep {
            tag: release.tag.clone(),
            commit: state.head.clone(),
            message: format!("Release {}\n\n{}\n", release.tag, title.text),
        }),
        skip: resumed.then(|| "HEAD already carries the tag: an earlier run created it".to_string()),
    });

    let all_images = crate::images::plan(config, &release, &[])?;
    // A re-run of this release keeps the decision of the run that started it.
    let carry = match earlier.as_ref().and_then(|e| e.plan.carry.clone()) {
        Some(carry) => carry,
        None => crate::carry::decide(&CarryInput {
            config,
            state: &state,
            release: &release,
            images: &all_images,
            push,
            all: req.all,
        })?,
    };
    let built_services = carry.built();
    // Services without an image (nothing to carry) build as they always did.
    let to_build = carry.uncarried(config);

    let mut images_skip = None;
    if !to_build.is_empty() {
        let build_plan = hoist_build::plan(config, &release, &to_build, req.jobs)?;
        let with_artifact = build_plan.services.iter().filter(|s| s.artifact.is_some()).count();
        let built =
            hoist_build::load_record(config, &release.tag).filter(|b| !b.is_empty() && b.len() == with_artifact);
        let build_skip = built.as_ref().map(|_| "artifacts already built and intact".to_string());
        steps.push(PlannedStep { step: Step::Build(BuildStep { plan: build_plan }), skip: build_skip.clone() });

        let images: Vec<_> = all_images.iter().filter(|i| built_services.contains(&i.service)).cloned().collect();
        if !images.is_empty() {
            let images_step = ImagesStep { layout: StatePath::Layout.path(config), jobs: req.jobs, images };
            // The images an earlier run built are reused when the build is too and the
            // layout still holds them unchanged.
            images_skip = match (&build_skip, &earlier) {
                (Some(_), Some(earlier)) if earlier.images_intact(config, &images_step) => {
                    Some("images already in the layout, built by an earlier run".to_string())
                }
                _ => None,
            };
            steps.push(PlannedStep { step: Step::Images(images_step.clone()), skip: images_skip.clone() });
        }
    }

    if push {
        let repository = crate::registry::registry_config(config)?.repository.clone();
        let images = crate::registry::push_requests(config, &release, &to_build)?;
        let push_step = PushStep { repository, images, carried: carry.carried_map() };
        // Nothing built: the push only tags, so an earlier run's is as good.
        let reusable = images_skip.is_some() || built_services.is_empty();
        let push_skip = match (reusable, &earlier) {
            (true, Some(earlier)) if earlier.done(&Step::Push(push_step.clone())) => {
                Some("pushed by an earlier run of this release".to_string())
            }
            _ => None,
        };
        steps.push(PlannedStep { step: Step::Push(push_step), skip: push_skip });
        if has_remote {
            let step = Step::PushTag(PushTagStep { remote: remote.clone(), tag: release.tag.clone() });
            let skip = earlier
                .as_ref()
                .filter(|e| e.done(&step))
                .map(|_| format!("the tag was pushed to `{remote}` by an earlier run"));
            steps.push(PlannedStep { step, skip });
        }
    }

    match req.deploy {
        DeployTarget::None => {}
        DeployTarget::Compose => {
            // Without a push the engine loads the images from an archive of the layout.
            let archive = (!push).then(|| StatePath::Archive { tag: &release.tag }.path(config));
            let compose_release = crate::deploy::compose_release(config, &release, archive)?;
            debug_assert!(matches!(compose_release.source, Source::Registry) == push);
            let project = crate::deploy::target(config, None).project;
            let step = DeployStep::Compose { project, release: compose_release, break_lock: req.break_lock };
            steps.push(PlannedStep { step: Step::Deploy(step), skip: None });
        }
        DeployTarget::K8s => {
            // A carried service keeps the tag it was built for, so its pod template is
            // the one the cluster runs and nothing rolls.
            let settings =
                K8sSettings { carried: carry.kept_tags(), allow_shrink: req.allow_shrink, ..K8sSettings::default() };
            let namespace = settings.namespace(config);
            let pin_digests = crate::deploy::k8s_config(config).pin_digests;
            let step = DeployStep::K8s { namespace, settings, pin_digests };
            steps.push(PlannedStep { step: Step::Deploy(step), skip: None });
        }
    }

    Ok(ReleasePlan {
        format: PLAN_VERSION,
        title,
        release: Some(PlannedRelease {
            tag: release.tag.clone(),
            version: release.version.clone(),
            sha: release.sha.clone(),
            commit: state.head.clone(),
            resumed,
            remote: has_remote.then(|| remote.clone()),
        }),
        carry: Some(carry),
        steps,
    })
}

/// What a push would upload now, for `--dry-run`: the blob plan of the images already in
/// the layout (the others are built during the release, so their blobs are not known
/// yet; `note` names them). This asks the registry (HEADs); the real run asks once, in its
/// push step.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PushPreview {
    pub repository: String,
    pub plan: Option<hoist_registry::PushPlan>,
    pub note: Option<String>,
}

/// The preview of a plan's push step, when it has one that runs.
pub fn preview_push(req: &ReleaseRequest, plan: &ReleasePlan) -> Result<Option<PushPreview>, Report> {
    let Some(PlannedStep { step: Step::Push(push), skip: None }) = plan.step(StepKind::Push) else {
        return Ok(None);
    };
    let config = &req.config;
    let layout = hoist_oci::Layout::open(&StatePath::Layout.path(config)).ok();
    let (ready, missing): (Vec<PushRequest>, Vec<PushRequest>) =
        push.images.iter().cloned().partition(|r| layout.as_ref().is_some_and(|l| l.resolve(&r.source).is_ok()));
    let client = crate::registry::client(config, None, None)?;
    let mut preview = PushPreview { repository: client.repository().to_string(), plan: None, note: None };
    if let (Some(layout), false) = (&layout, ready.is_empty()) {
        preview.plan = Some(crate::runtime()?.block_on(client.plan(layout, &ready))?);
    }
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|r| r.tag.as_str()).collect();
        preview.note =
            Some(format!("built during the release, so their new blobs are counted then: {}", names.join(", ")));
    }
    Ok(Some(preview))
}

impl ReleaseRecord {
    /// Whether the layout still holds every image of `step` with the digest this record's
    /// images step produced.
    fn images_intact(&self, config: &hoist_config::Config, step: &ImagesStep) -> bool {
        let Some(crate::execute::StepOutput::Images(out)) = self.output(StepKind::Images) else { return false };
        if !self.done(&Step::Images(step.clone())) {
            return false;
        }
        let Ok(layout) = hoist_oci::Layout::open(&StatePath::Layout.path(config)) else { return false };
        step.images.iter().all(|i| {
            out.images
                .iter()
                .any(|o| o.name == i.name && layout.resolve(&i.name).is_ok_and(|d| d.digest().to_string() == o.digest))
        })
    }
}
