//! Running a [`ReleasePlan`]: each step in order, each one's output feeding the next
//! (artifacts to images, image digests to the push, pushed digests to the deploy), nothing
//! worked out twice. The record is written after every step.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use hoist_build::Artifact;
use hoist_compose::Source;
use hoist_config::{Config, StatePath};
use hoist_diag::Report;
use hoist_oci::Layout;
use hoist_registry::{PushPlan, PushReport};
use serde::{Deserialize, Serialize};

use crate::ReleaseRequest;
use crate::plan::{DeployStep, ImagesStep, PlannedStep, PushStep, ReleasePlan, Step, StepKind};
use crate::record::{self, ReleaseRecord, Status};
use crate::report::{Event, Reporter};
use crate::tag::ReleaseTag;

/// What a step produced.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum StepOutput {
    TagLocal(TagOutput),
    Build(hoist_build::Built),
    Images(ImagesOutput),
    Push(PushOutput),
    PushTag(TagOutput),
    Deploy(DeployOutput),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TagOutput {
    pub tag: String,
}

/// The images the images step wrote into the layout.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImagesOutput {
    pub images: Vec<ImageOutput>,
    /// Bytes of layers compressed by this run (not already in the layout).
    pub new_layer_bytes: u64,
    /// The registry bases and their pins; `pinned` ones were not in hoist.lock before
    /// this run (built from an unpinned tag).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bases: Vec<crate::bases::BasePin>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageOutput {
    pub service: String,
    /// The ref in the layout.
    pub name: String,
    /// The manifest digest.
    pub digest: String,
    pub layers: usize,
    pub new_layers: usize,
    /// Seconds of this image's own work (its layers and its manifest).
    pub seconds: f64,
}

/// What the push step planned (once) and did.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PushOutput {
    /// The blob plan: what the registry lacked when the step ran. The push sent exactly this.
    pub plan: PushPlan,
    pub report: PushReport,
    /// Bytes uploaded per service; a blob shared by several services counts for the first.
    pub per_service: BTreeMap<String, u64>,
    /// Per carried service, the tag it got and its (unchanged) digest.
    #[serde(default)]
    pub carried: BTreeMap<String, CarriedOutput>,
}

/// A carried image, tagged for the release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CarriedOutput {
    pub tag: String,
    pub digest: String,
    /// The release it was built for.
    pub from: String,
}

/// What the deploy did, as the engine reports it, with a one-line summary.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeployOutput {
    pub summary: String,
    #[serde(flatten)]
    pub result: EngineResult,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum EngineResult {
    Compose(hoist_compose::Done),
    K8s(hoist_kube::Outcome),
}

/// One row of the release summary.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServiceSummary {
    pub service: String,
    /// `built` in this release, or `carried` from an earlier one.
    pub action: ServiceAction,
    /// For a carried service, the release it was built for (what it reports as its version).
    pub from: Option<String>,
    pub image: String,
    pub digest: String,
    pub bytes_uploaded: u64,
    /// `build_seconds` + `image_seconds`.
    pub seconds: f64,
    /// This service's own build command (0 when it has none, or the build was reused).
    pub build_seconds: f64,
    /// This service's own image work.
    pub image_seconds: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceAction {
    Built,
    Carried,
}

/// The result of `hoist release`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReleaseReport {
    pub tag: String,
    pub version: String,
    pub resumed: bool,
    pub services: Vec<ServiceSummary>,
    pub bytes_uploaded: u64,
    pub tag_pushed: bool,
    pub deploy: Option<DeployOutput>,
    pub seconds: f64,
    /// The release record this run wrote.
    pub record: std::path::PathBuf,
}

/// Run `plan`. Steps the plan marks skipped take their output from the earlier run's
/// record; every other step runs, and the record is written after each.
pub fn execute(req: &ReleaseRequest, plan: &ReleasePlan, reporter: Arc<dyn Reporter>) -> Result<ReleaseReport, Report> {
    let config = &req.config;
    let started = Instant::now();
    let Some(planned) = &plan.release else {
        return Err(Report::unexpected("a plan without a release has nothing to execute"));
    };
    let release = planned.tag_ref();
    let earlier = record::load(config, &release.tag)?;
    let mut record = ReleaseRecord::new(plan);
    let mut run = Run { req, release: &release, reporter: reporter.clone(), outputs: Outputs::default() };

    for PlannedStep { step, skip } in &plan.steps {
        let kind = step.kind();
        let at = chrono::Utc::now();
        let t = Instant::now();
        if let Some(reason) = skip {
            let output = match kind {
                // Skipped because HEAD carries the tag: nothing was produced but the tag.
                StepKind::TagLocal => Some(StepOutput::TagLocal(TagOutput { tag: release.tag.clone() })),
                StepKind::Build => hoist_build::load_record(config, &release.tag).map(|artifacts| {
                    StepOutput::Build(hoist_build::Built {
                        artifacts,
                        service_seconds: BTreeMap::new(),
                        project_seconds: None,
                    })
                }),
                _ => earlier.as_ref().and_then(|e| e.output(kind)).cloned(),
            };
            let Some(output) = output else {
                return Err(Report::unexpected(format!(
                    "the plan skips the {} step ({reason}), but the earlier run's output is gone",
                    kind.as_str()
                ))
                .with_hint("run `hoist release` again: it plans from what is there now"));
            };
            reporter.say(&format!("{}: skipped ({reason})", kind.as_str()));
            run.outputs.take(&output);
            run.outputs.skipped.push(kind);
            let r = record.step_mut(kind).expect("the record has every planned step");
            r.status = Status::Skipped;
            r.output = Some(output);
            reporter.event(Event::StepDone { step: kind, seconds: 0.0, skipped: true });
            continue;
        }
        {
            let r = record.step_mut(kind).expect("the record has every planned step");
            r.status = Status::Running;
            r.started_at = Some(at);
        }
        record::save(config, &record)?;
        reporter.event(Event::StepStart { step: kind });
        let result = run.step(step);
        let r = record.step_mut(kind).expect("the record has every planned step");
        r.seconds = Some(t.elapsed().as_secs_f64());
        match result {
            Ok(output) => {
                run.outputs.take(&output);
                r.status = Status::Done;
                r.output = Some(output);
                record::save(config, &record)?;
                reporter.event(Event::StepDone { step: kind, seconds: t.elapsed().as_secs_f64(), skipped: false });
            }
            Err(e) => {
                r.status = Status::Failed;
                r.error = Some(e.render());
                // The failure is what the user needs to see; a record that cannot be
                // written is only logged.
                if let Err(save) = record::save(config, &record) {
                    tracing::warn!("{}", save.render());
                }
                return Err(e);
            }
        }
    }
    // Written once more at the end: a run that skipped every step records that it did.
    let record_path = record::save(config, &record)?;
    Ok(run.outputs.report(plan, &release, started.elapsed().as_secs_f64(), record_path))
}

/// The outputs so far, for the steps after them.
#[derive(Debug, Default)]
struct Outputs {
    /// Steps whose output is an earlier run's: this run spent no time or bytes on them.
    skipped: Vec<StepKind>,
    built: Option<hoist_build::Built>,
    images: Option<ImagesOutput>,
    push: Option<PushOutput>,
    tag_pushed: bool,
    deploy: Option<DeployOutput>,
}

impl Outputs {
    fn take(&mut self, output: &StepOutput) {
        match output {
            StepOutput::TagLocal(_) => {}
            StepOutput::Build(b) => self.built = Some(b.clone()),
            StepOutput::Images(i) => self.images = Some(i.clone()),
            StepOutput::Push(p) => self.push = Some(p.clone()),
            StepOutput::PushTag(_) => self.tag_pushed = true,
            StepOutput::Deploy(d) => self.deploy = Some(d.clone()),
        }
    }

    fn artifacts(&self) -> &[Artifact] {
        self.built.as_ref().map(|b| b.artifacts.as_slice()).unwrap_or_default()
    }

    /// The pushed manifest digest of each image tag.
    fn pushed_digests(&self) -> BTreeMap<String, String> {
        let Some(push) = &self.push else { return BTreeMap::new() };
        push.report
            .images
            .iter()
            .map(|i| (i.tag.clone(), i.digest.clone()))
            .chain(push.carried.values().map(|c| (c.tag.clone(), c.digest.clone())))
            .collect()
    }

    fn report(
        self,
        plan: &ReleasePlan,
        release: &ReleaseTag,
        seconds: f64,
        record: std::path::PathBuf,
    ) -> ReleaseReport {
        let ran = |kind| !self.skipped.contains(&kind);
        let build_secs = |s: &str| self.built.as_ref().and_then(|b| b.service_seconds.get(s).copied()).unwrap_or(0.0);
        let push_ran = ran(StepKind::Push);
        let images_ran = ran(StepKind::Images);
        let pushed: BTreeMap<&str, (String, &str)> = match (&self.push, plan.step(StepKind::Push)) {
            (Some(p), Some(PlannedStep { step: Step::Push(step), .. })) => step
                .images
                .iter()
                .filter_map(|r| {
                    let i = p.report.images.iter().find(|i| i.tag == r.tag)?;
                    let service = self.images.as_ref()?.images.iter().find(|o| o.name == r.source)?;
                    Some((service.service.as_str(), (format!("{}:{}", p.report.repository, i.tag), i.digest.as_str())))
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        let services = self
            .images
            .as_ref()
            .map(|imgs| {
                imgs.images
                    .iter()
                    .map(|o| {
                        let (image, digest) = match pushed.get(o.service.as_str()) {
                            Some((image, digest)) => (image.clone(), digest.to_string()),
                            None => (o.name.clone(), o.digest.clone()),
                        };
                        let build_seconds = build_secs(&o.service);
                        let image_seconds = if images_ran { o.seconds } else { 0.0 };
                        ServiceSummary {
                            service: o.service.clone(),
                            action: ServiceAction::Built,
                            from: None,
                            image,
                            digest,
                            bytes_uploaded: self
                                .push
                                .as_ref()
                                .filter(|_| push_ran)
                                .and_then(|p| p.per_service.get(&o.service).copied())
                                .unwrap_or(0),
                            seconds: build_seconds + image_seconds,
                            build_seconds,
                            image_seconds,
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let mut services = services;
        if let Some(push) = &self.push {
            for (service, c) in &push.carried {
                services.push(ServiceSummary {
                    service: service.clone(),
                    action: ServiceAction::Carried,
                    from: Some(c.from.clone()),
                    image: format!("{}:{}", push.report.repository, c.tag),
                    digest: c.digest.clone(),
                    bytes_uploaded: 0,
                    seconds: 0.0,
                    build_seconds: 0.0,
                    image_seconds: 0.0,
                });
            }
        }
        services.sort_by(|a, b| a.service.cmp(&b.service));
        ReleaseReport {
            tag: release.tag.clone(),
            version: release.version.clone(),
            resumed: plan.release.as_ref().is_some_and(|r| r.resumed),
            services,
            bytes_uploaded: self.push.as_ref().filter(|_| push_ran).map(|p| p.report.bytes_uploaded).unwrap_or(0),
            tag_pushed: self.tag_pushed,
            deploy: self.deploy,
            seconds,
            record,
        }
    }
}

struct Run<'a> {
    req: &'a ReleaseRequest,
    release: &'a ReleaseTag,
    reporter: Arc<dyn Reporter>,
    outputs: Outputs,
}

impl Run<'_> {
    fn config(&self) -> &Config {
        &self.req.config
    }

    fn step(&self, step: &Step) -> Result<StepOutput, Report> {
        match step {
            Step::TagLocal(t) => {
                let git = hoist_git::Git::open(&self.req.dir)?;
                git.create_tag(&t.tag, &t.commit, &t.message)?;
                self.reporter
                    .say(&format!("tagged {} locally (pushed only once every image is in the registry)", t.tag));
                Ok(StepOutput::TagLocal(TagOutput { tag: t.tag.clone() }))
            }
            Step::Build(b) => {
                let names: Vec<&str> = b.plan.services.iter().map(|s| s.name.as_str()).collect();
                self.reporter.say(&format!("building {} for {}", names.join(", "), b.plan.release.tag));
                let reporter = self.reporter.clone();
                let sink = move |who: &str, line: &str| reporter.event(Event::BuildLine { service: who, line });
                let built = hoist_build::execute(&b.plan, &self.config().root, &sink)?;
                hoist_build::save_record(self.config(), &self.release.tag, &built.artifacts)?;
                Ok(StepOutput::Build(built))
            }
            Step::Images(i) => self.images(i).map(StepOutput::Images),
            Step::Push(p) => self.push(p).map(StepOutput::Push),
            Step::PushTag(t) => {
                let git = hoist_git::Git::open(&self.req.dir)?;
                git.push_tag(&t.remote, &t.tag).map_err(|e| {
                    Report::from(e)
                        .context(format!(
                            "every image of {} is in the registry, but the tag could not be pushed",
                            t.tag
                        ))
                        .with_hint(
                            "fix access to the git remote and run `hoist release` again: it continues this release",
                        )
                })?;
                Ok(StepOutput::PushTag(TagOutput { tag: t.tag.clone() }))
            }
            Step::Deploy(d) => self.deploy(d).map(StepOutput::Deploy),
        }
    }

    fn images(&self, step: &ImagesStep) -> Result<ImagesOutput, Report> {
        let config = self.config();
        let composed = crate::images::compose(
            config,
            self.release,
            &step.images,
            self.outputs.artifacts(),
            &self.req.env,
            self.reporter.as_ref(),
        )?;
        let mut plans: Vec<hoist_oci::ImagePlan> = composed.into_iter().map(|c| c.plan).collect();
        let options = crate::bases::BaseOptions { update: self.req.update_base };
        let bases = crate::bases::prepare(config, &mut plans, options, self.reporter.as_ref())?;
        for b in bases.iter().filter(|b| b.change == crate::bases::PinChange::Pinned) {
            self.reporter.warn(&format!(
                "{} is built from {}, which was not pinned before this run (now pinned in hoist.lock)",
                self.release.tag, b.reference
            ));
        }
        self.reporter.say(&format!(
            "building {} image(s) for {} into {}",
            plans.len(),
            self.release.tag,
            step.layout.display()
        ));
        let (_, built) = crate::images::build(config, &plans, step.jobs)?;
        let new_layer_bytes = crate::images::new_layer_bytes(&built);
        let images = step
            .images
            .iter()
            .zip(&built)
            .map(|(s, b)| ImageOutput {
                service: s.service.clone(),
                name: b.name.clone(),
                digest: b.digest.clone(),
                layers: b.layers.len(),
                new_layers: b.layers.iter().filter(|l| l.new).count(),
                seconds: b.seconds,
            })
            .collect();
        Ok(ImagesOutput { images, new_layer_bytes, bases })
    }

    fn push(&self, step: &PushStep) -> Result<PushOutput, Report> {
        let config = self.config();
        let client = crate::registry::client(config, None, Some(self.reporter.clone()))?;
        let runtime = crate::runtime()?;
        let (plan, report) = if step.images.is_empty() {
            // Every service is carried: no layout is needed, nothing is uploaded.
            let repository = client.repository().to_string();
            let plan = PushPlan { repository: repository.clone(), images: vec![], blobs: vec![], upload_bytes: 0 };
            (plan, PushReport { repository, ..PushReport::default() })
        } else {
            let layout = Layout::open(&StatePath::Layout.path(config))?;
            // The one blob plan of this push: what the registry lacks now. The push sends it.
            let plan = runtime.block_on(client.plan(&layout, &step.images))?;
            self.reporter.say(&format!(
                "pushing {} image(s) of {} to {}",
                step.images.len(),
                self.release.tag,
                client.repository()
            ));
            self.reporter.event(Event::TransferStart { what: "pushing" });
            let result = runtime.block_on(client.push_planned(&layout, &plan, false));
            self.reporter.event(Event::TransferEnd);
            (plan, result?)
        };
        let say = |m: &str| self.reporter.say(m);
        let carried = crate::registry::tag_carried(&client, &runtime, &step.carried, &say)?;
        let naming = crate::registry::naming(config)?;
        let mut per_service: BTreeMap<String, u64> = BTreeMap::new();
        for blob in plan.blobs.iter().filter(|b| b.upload) {
            if let Some(service) = blob.used_by.iter().filter_map(|t| naming.service_of(t)).min() {
                *per_service.entry(service.to_string()).or_default() += blob.size;
            }
        }
        Ok(PushOutput { plan, report, per_service, carried })
    }

    fn deploy(&self, step: &DeployStep) -> Result<DeployOutput, Report> {
        let config = self.config();
        match step {
            DeployStep::Compose { release, break_lock, .. } => {
                let mut release = release.clone();
                match &release.source {
                    Source::Engine => {}
                    Source::Archive(path) => {
                        let written = crate::images::export_release(config, self.release)?;
                        debug_assert_eq!(&written, path);
                    }
                    Source::Registry => {
                        let pushed = self.outputs.pushed_digests();
                        for w in &mut release.images {
                            let tag = w.reference.rsplit_once(':').map(|(_, t)| t).unwrap_or_default();
                            w.digest = pushed.get(tag).cloned();
                        }
                        // Images the push did not report (it cannot happen for a plan
                        // with a push step) are looked up as a plain deploy does.
                        if release.images.iter().any(|w| w.digest.is_none()) {
                            crate::deploy::resolve_digests(config, &mut release)?;
                        }
                    }
                }
                let deployer = crate::deploy::deployer(config, None)?;
                let reporter = self.reporter.clone();
                let say = move |m: &str| reporter.say(m);
                let opts = hoist_compose::Options { break_lock: *break_lock, prune: true };
                let done = deployer.deploy(&release, opts, &say)?;
                let summary = compose_summary(&done);
                Ok(DeployOutput { summary, result: EngineResult::Compose(done) })
            }
            DeployStep::K8s { settings, pin_digests, .. } => {
                let digests: BTreeMap<String, String> = if *pin_digests {
                    let pushed = self.outputs.pushed_digests();
                    let naming = crate::registry::naming(config)?;
                    config
                        .services
                        .keys()
                        .filter_map(|s| Some((s.clone(), pushed.get(&naming.image_tag(s, self.release))?.clone())))
                        .collect()
                } else {
                    BTreeMap::new()
                };
                let outcome =
                    crate::deploy::deploy_k8s(config, self.release, settings, &digests, self.reporter.clone())?;
                let summary = format!(
                    "kubernetes: {} applied, {} pruned in namespace {}",
                    outcome.applied.len(),
                    outcome.pruned.len(),
                    outcome.namespace
                );
                Ok(DeployOutput { summary, result: EngineResult::K8s(outcome) })
            }
        }
    }
}

/// The first line of a compose deploy's result, as `hoist deploy compose` prints it.
pub fn compose_summary(done: &hoist_compose::Done) -> String {
    let verb = match done.action {
        hoist_compose::Action::Deploy => "deployed",
        hoist_compose::Action::Rollback => "rolled back to",
    };
    format!("{verb} {} ({})", done.release, done.project)
}
