//! Deploy, roll back and prune one compose project on one host.
//!
//! The order is the safety argument: take the lock; bring every image into the engine and
//! check it (a failure here touches nothing running); write the pins; let compose recreate
//! only what changed; gate on health; on failure redeploy the previous pins. Volumes are
//! never named in any command hoist runs (`up` only, never `down -v` or `--renew-anon-volumes`),
//! so data survives every deploy and rollback.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use crate::cli::{self, ComposeCli, Project};
use crate::engine::{ContainerInfo, Docker};
use crate::error::ComposeError;
use crate::health::{self, ProbeSpec};
use crate::pins;
use crate::state::{Acquired, Action, Healthy, History, Lock, Outcome, Owner, Pin, Record};

/// The label that marks an image as built for a hoist project; dangling images carrying
/// it for this project are pruned.
pub const PROJECT_LABEL: &str = "dev.hoist.project";

/// How many log lines a failure report shows.
pub const LOG_LINES: usize = 20;

/// Where and how to deploy.
#[derive(Debug, Clone)]
pub struct Target {
    /// The compose project name.
    pub project: String,
    /// The directory compose resolves relative paths against (the project root).
    pub dir: PathBuf,
    /// The user's compose files (absolute or relative to `dir`); never edited.
    pub files: Vec<PathBuf>,
    /// hoist's state on this host: history, lock, override.
    pub state_dir: PathBuf,
    /// `DOCKER_HOST` for a remote engine; `None` for the local one.
    pub docker_host: Option<String>,
    /// How long recreated services get to become healthy.
    pub timeout: Duration,
    /// How many releases' images prune keeps.
    pub keep: usize,
    /// Probes for services without a compose healthcheck.
    pub probes: BTreeMap<String, ProbeSpec>,
}

/// How the release's images get into the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "path")]
pub enum Source {
    /// `docker pull repo@digest` through the engine (its own credentials).
    Registry,
    /// `docker load` of an image archive (a registry-less host).
    Archive(PathBuf),
    /// Already in the engine (built or loaded by someone else); never pruned.
    Engine,
}

/// One service's image as the release names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wanted {
    pub service: String,
    /// `repo:tag`, e.g. `127.0.0.1:5000/shop:user-service_v1.0.0-abc1234`.
    pub reference: String,
    /// The manifest digest the registry resolved the tag to (registry source).
    pub digest: Option<String>,
    /// The image ID (config digest) when known in advance (archive source).
    pub image_id: Option<String>,
}

/// A release to deploy: its tag, its images and where they come from.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    pub tag: String,
    pub images: Vec<Wanted>,
    pub source: Source,
}

/// Switches of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Remove a lock whose holder is dead.
    pub break_lock: bool,
    /// Prune after a successful deploy.
    pub prune: bool,
}

/// What a deploy would do (`--dry-run`).
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub project: String,
    pub release: String,
    pub compose: String,
    pub override_file: PathBuf,
    /// References that would be pulled or loaded (absent from the engine).
    pub pull: Vec<String>,
    /// Services whose container would be created or recreated.
    pub recreate: Vec<String>,
    /// Services left as they are.
    pub unchanged: Vec<String>,
    /// The release running now, as far as this host's history knows.
    pub current: Option<String>,
    /// What prune would remove after the deploy succeeds.
    pub prune: Vec<String>,
}

/// What a finished deploy or rollback did.
#[derive(Debug, Clone, Serialize)]
pub struct Done {
    pub project: String,
    pub release: String,
    pub action: Action,
    pub result: Outcome,
    pub pins: Vec<Pin>,
    pub recreated: Vec<String>,
    /// Nothing had changed: compose was not run.
    pub noop: bool,
    pub pruned: Vec<String>,
}

/// Deploys to one project on one engine.
#[derive(Debug, Clone)]
pub struct Deployer {
    pub target: Target,
    pub compose: ComposeCli,
    pub docker: Docker,
}

impl Deployer {
    /// Check the project name and find the compose CLI.
    pub fn new(target: Target) -> Result<Deployer, ComposeError> {
        let compose = ComposeCli::detect().ok_or(ComposeError::NoCompose)?;
        Deployer::with_compose(target, compose)
    }

    pub fn with_compose(target: Target, compose: ComposeCli) -> Result<Deployer, ComposeError> {
        cli::check_project_name(&target.project).map_err(ComposeError::Invalid)?;
        let docker = Docker { host: target.docker_host.clone() };
        Ok(Deployer { target, compose, docker })
    }

    pub fn override_path(&self) -> PathBuf {
        self.target.state_dir.join(format!("override-{}.yaml", self.target.project))
    }

    fn files_with(&self, override_file: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.target.files.iter().map(|f| self.target.dir.join(f)).collect();
        files.push(override_file.to_path_buf());
        files
    }

    fn project<'a>(&'a self, files: &'a [PathBuf]) -> Project<'a> {
        Project {
            name: &self.target.project,
            dir: &self.target.dir,
            files,
            docker_host: self.target.docker_host.as_deref(),
        }
    }

    pub fn history(&self) -> Result<History, ComposeError> {
        History::load(&self.target.state_dir, &self.target.project, self.target.keep)
    }

    /// Take the deploy lock, then read the history as its owner: a corrupt file is set
    /// aside (and the run stops), `in_progress` records of runs that died are marked
    /// `interrupted`, and a history beyond its bound is written back pruned.
    fn lock_and_load(&self, what: &str, opts: Options, say: &dyn Fn(&str)) -> Result<(Lock, History), ComposeError> {
        let lock_path = Lock::path(&self.target.state_dir, &self.target.project, self.target.docker_host.as_deref())?;
        let lock = Lock::acquire(&lock_path, &Owner::me(what), opts.break_lock)?;
        if let Some(broken) = &lock.broken {
            say(&format!("removed a stale deploy lock: {broken}"));
        }
        let mut history = History::load_locked(&self.target.state_dir, &self.target.project, self.target.keep)?;
        let marked: Vec<String> =
            history.mark_interrupted(true).iter().map(|r| format!("#{} ({})", r.id, r.release)).collect();
        if !marked.is_empty() {
            say(&format!("marked interrupted (their run stopped before it finished): {}", marked.join(", ")));
        }
        if !marked.is_empty() || history.dropped > 0 {
            history.save(&self.target.state_dir, &self.target.project)?;
        }
        Ok((lock, history))
    }

    fn ping(&self) -> Result<(), ComposeError> {
        self.docker.ping().map_err(ComposeError::Engine)
    }

    /// Service → running container of this project.
    fn containers(&self) -> Result<BTreeMap<String, ContainerInfo>, ComposeError> {
        let mut out = BTreeMap::new();
        for c in self.docker.project_containers(&self.target.project)? {
            if let Some(s) = c.service() {
                out.insert(s.to_string(), c.clone());
            }
        }
        Ok(out)
    }

    /// compose's own config hash per service with `override_file` merged.
    fn hashes(&self, override_file: Option<&Path>) -> Result<BTreeMap<String, String>, ComposeError> {
        let files = match override_file {
            Some(f) => self.files_with(f),
            None => self.target.files.iter().map(|f| self.target.dir.join(f)).collect(),
        };
        let out = self.compose.config_hash(&self.project(&files)).run().map_err(|e| ComposeError::Up {
            compose: self.compose.name().into(),
            after: "the compose files do not load; nothing running was changed".into(),
            source: e,
        })?;
        Ok(cli::parse_hashes(&out.stdout))
    }

    /// Services compose would recreate: no container, another config hash, another image.
    fn changed(
        &self,
        hashes: &BTreeMap<String, String>,
        containers: &BTreeMap<String, ContainerInfo>,
        pins: &[Pin],
    ) -> Vec<String> {
        let mut out = Vec::new();
        for (service, hash) in hashes {
            let Some(c) = containers.get(service) else {
                out.push(service.clone());
                continue;
            };
            let image_differs = pins.iter().any(|p| &p.service == service && p.image_id != c.image);
            if c.label("com.docker.compose.config-hash") != Some(hash.as_str()) || image_differs {
                out.push(service.clone());
            }
        }
        out
    }

    /// Plan a deploy without changing anything.
    pub fn plan(&self, release: &Release) -> Result<Plan, ComposeError> {
        self.ping()?;
        let history = self.history()?;
        let mut pull = Vec::new();
        let mut present_pins = Vec::new();
        let mut missing = BTreeSet::new();
        for w in &release.images {
            let lookup = match (&release.source, &w.digest) {
                (Source::Registry, Some(d)) => format!("{}@{d}", repository(&w.reference)),
                _ => w.reference.clone(),
            };
            match self.docker.image(&lookup)? {
                Some(info) if w.image_id.as_ref().is_none_or(|id| id == &info.id) => present_pins.push(Pin {
                    service: w.service.clone(),
                    image: pin_image(&release.source, w, &info.id),
                    reference: w.reference.clone(),
                    digest: w.digest.clone(),
                    image_id: info.id,
                    acquired: Acquired::Present,
                    extra: Default::default(),
                }),
                _ => {
                    pull.push(lookup);
                    missing.insert(w.service.clone());
                }
            }
        }
        let containers = self.containers()?;
        let plan_file = self.target.state_dir.join(format!("override-{}.plan.yaml", self.target.project));
        // With no image present yet there is nothing to pin (and compose v1 would read an
        // override with an empty `services:` as a version-1 file).
        let hashes = if present_pins.is_empty() {
            self.hashes(None)
        } else {
            write_file(&plan_file, pins::render(&release.tag, &present_pins).as_bytes())?;
            let hashes = self.hashes(Some(&plan_file));
            let _ = std::fs::remove_file(&plan_file);
            hashes
        };
        let hashes = hashes?;
        let mut recreate = self.changed(&hashes, &containers, &present_pins);
        recreate.extend(missing.iter().cloned());
        recreate.sort();
        recreate.dedup();
        let unchanged = hashes.keys().filter(|s| !recreate.contains(s)).cloned().collect();

        // Prune as it would run after this release succeeds.
        let mut after = history.clone();
        let mut pins_after = present_pins.clone();
        for w in release.images.iter().filter(|w| missing.contains(&w.service)) {
            pins_after.push(Pin {
                service: w.service.clone(),
                image: pin_image(&release.source, w, w.image_id.as_deref().unwrap_or_default()),
                reference: w.reference.clone(),
                digest: w.digest.clone(),
                image_id: w.image_id.clone().unwrap_or_default(),
                acquired: Acquired::Pulled,
                extra: Default::default(),
            });
        }
        after.records.push(record(&history, Action::Deploy, &release.tag, pins_after, Outcome::Succeeded));
        let prune = self.prune_candidates(&after)?.into_iter().map(|(r, _)| r).collect();
        Ok(Plan {
            project: self.target.project.clone(),
            release: release.tag.clone(),
            compose: self.compose.name().into(),
            override_file: self.override_path(),
            pull,
            recreate,
            unchanged,
            current: history.current().map(|c| c.release),
            prune,
        })
    }

    /// Deploy `release`: acquire, pin, up, health gate, roll back on failure, record, prune.
    pub fn deploy(&self, release: &Release, opts: Options, say: &dyn Fn(&str)) -> Result<Done, ComposeError> {
        // No separate ping here (it costs a call on every no-op deploy): an unreachable
        // engine fails the first image lookup, and that error says so.
        let (_lock, mut history) = self.lock_and_load(&format!("deploy {}", release.tag), opts, say)?;
        let previous = history.current();

        // 1. Images: if anything fails here, nothing running is touched.
        let pins = self.acquire(release, &history, say)?;

        // 2. Record that we started, so a crash leaves a trace.
        let mut rec = record(&history, Action::Deploy, &release.tag, pins.clone(), Outcome::InProgress);
        history.records.push(rec.clone());
        history.save(&self.target.state_dir, &self.target.project)?;

        let result = self.converge(&release.tag, &pins, &history, say);
        let idx = history.records.len() - 1;
        match result {
            Ok(Converged { recreated, noop, inputs, hashes }) => {
                rec.result = Outcome::Succeeded;
                rec.recreated = recreated.clone();
                rec.inputs = inputs;
                rec.config_hashes = hashes;
                rec.finished_at = Some(Utc::now());
                history.records[idx] = rec;
                history.save(&self.target.state_dir, &self.target.project)?;
                let pruned = if opts.prune { self.prune_with(&history, say)? } else { Vec::new() };
                Ok(Done {
                    project: self.target.project.clone(),
                    release: release.tag.clone(),
                    action: Action::Deploy,
                    result: Outcome::Succeeded,
                    pins,
                    recreated,
                    noop,
                    pruned,
                })
            }
            Err(failure) => {
                rec.recreated = failure.recreated.clone();
                rec.failed_service = failure.service.clone();
                rec.message = Some(failure.reason.clone());
                let after = match &previous {
                    Some(prev) => {
                        say(&format!("release {} failed; rolling back to {}", release.tag, prev.release));
                        match self.converge(&prev.release, &prev.pins, &history, say) {
                            Ok(_) => {
                                rec.result = Outcome::RolledBack;
                                rec.rolled_back_to = Some(prev.release.clone());
                                format!("rolled back to {}, which is healthy again", prev.release)
                            }
                            Err(f2) => {
                                rec.result = Outcome::Failed;
                                format!("the rollback to {} failed too: {}", prev.release, f2.describe())
                            }
                        }
                    }
                    None => {
                        rec.result = Outcome::Failed;
                        "there is no earlier healthy release on this host to roll back to".into()
                    }
                };
                rec.finished_at = Some(Utc::now());
                history.records[idx] = rec;
                history.save(&self.target.state_dir, &self.target.project)?;
                Err(failure.into_error(&release.tag, after))
            }
        }
    }

    /// Go back on purpose: to `to`, or to the release before the current one.
    pub fn rollback(&self, to: Option<&str>, opts: Options, say: &dyn Fn(&str)) -> Result<Done, ComposeError> {
        self.ping()?;
        let what = format!("rollback{}", to.map(|t| format!(" to {t}")).unwrap_or_default());
        let (_lock, mut history) = self.lock_and_load(&what, opts, say)?;
        let target: Healthy = match to {
            Some(tag) => history.find(tag).ok_or_else(|| {
                let mut known: Vec<String> = history.healthy_states().into_iter().map(|h| h.release).collect();
                known.dedup();
                ComposeError::UnknownRelease { release: tag.to_string(), known }
            })?,
            None => history.previous().ok_or(ComposeError::NoPrevious)?,
        };
        // The images must still be here (prune keeps the last releases); a registry image
        // that was pruned is pulled again by digest.
        for pin in &target.pins {
            if self.docker.image(&pin.image)?.is_none() {
                match &pin.digest {
                    Some(d) => {
                        let by_digest = format!("{}@{d}", repository(&pin.reference));
                        say(&format!("pulling {by_digest} again"));
                        self.docker.pull(&by_digest).map_err(|source| ComposeError::Pull {
                            service: pin.service.clone(),
                            reference: by_digest.clone(),
                            source,
                        })?;
                    }
                    None => {
                        return Err(ComposeError::MissingImage {
                            service: pin.service.clone(),
                            reference: pin.image.clone(),
                            hint: format!(
                                "load the images of {} again, or deploy it with `hoist deploy compose --tag {}`",
                                target.release, target.release
                            ),
                        });
                    }
                }
            }
        }
        let mut rec = record(&history, Action::Rollback, &target.release, target.pins.clone(), Outcome::InProgress);
        history.records.push(rec.clone());
        history.save(&self.target.state_dir, &self.target.project)?;
        let idx = history.records.len() - 1;
        let result = self.converge(&target.release, &target.pins, &history, say);
        rec.finished_at = Some(Utc::now());
        match result {
            Ok(Converged { recreated, noop, inputs, hashes }) => {
                rec.result = Outcome::Succeeded;
                rec.recreated = recreated.clone();
                rec.inputs = inputs;
                rec.config_hashes = hashes;
                history.records[idx] = rec;
                history.save(&self.target.state_dir, &self.target.project)?;
                Ok(Done {
                    project: self.target.project.clone(),
                    release: target.release,
                    action: Action::Rollback,
                    result: Outcome::Succeeded,
                    pins: target.pins,
                    recreated,
                    noop,
                    pruned: Vec::new(),
                })
            }
            Err(f) => {
                rec.result = Outcome::Failed;
                rec.recreated = f.recreated.clone();
                rec.failed_service = f.service.clone();
                rec.message = Some(f.reason.clone());
                history.records[idx] = rec;
                history.save(&self.target.state_dir, &self.target.project)?;
                Err(f.into_error(&target.release, "the rollback did not restore a healthy state".into()))
            }
        }
    }

    /// Bring every wanted image into the engine and check it; return the pins.
    fn acquire(&self, release: &Release, history: &History, say: &dyn Fn(&str)) -> Result<Vec<Pin>, ComposeError> {
        // Images hoist brought in earlier stay hoist's even when already present now.
        let owned: BTreeMap<String, Acquired> = history
            .records
            .iter()
            .flat_map(|r| r.pins.iter())
            .filter(|p| p.acquired != Acquired::Present)
            .map(|p| (p.image_id.clone(), p.acquired))
            .collect();
        let keep_owner = |id: &str, fresh: Acquired| owned.get(id).copied().unwrap_or(fresh);
        let mut pins = Vec::new();
        match &release.source {
            Source::Registry => {
                // One engine call for what is already here (the common, no-op case).
                let mut lookups = Vec::new();
                for w in &release.images {
                    lookups.push(w.reference.clone());
                    if let Some(d) = &w.digest {
                        lookups.push(format!("{}@{d}", repository(&w.reference)));
                    }
                }
                let present = self.docker.images(&lookups)?;
                for w in &release.images {
                    let (digest, info, acquired) = match &w.digest {
                        Some(digest) => {
                            let by_digest = format!("{}@{digest}", repository(&w.reference));
                            match present.get(&by_digest).cloned() {
                                Some(info) => (digest.clone(), info, Acquired::Present),
                                None => {
                                    say(&format!("pulling {by_digest}"));
                                    self.pull(&w.service, &by_digest)?;
                                    (digest.clone(), self.must_have(&w.service, &by_digest)?, Acquired::Pulled)
                                }
                            }
                        }
                        // No digest from the caller: the engine resolves the tag (exact
                        // match) and verifies what it pulls; the digest is read back.
                        None => {
                            let had = self.docker.image(&w.reference)?.map(|i| i.id);
                            say(&format!("pulling {}", w.reference));
                            self.pull(&w.service, &w.reference)?;
                            let info = self.must_have(&w.service, &w.reference)?;
                            let repo = repository(&w.reference);
                            let digest = info
                                .repo_digests
                                .iter()
                                .flatten()
                                .find_map(|d| d.strip_prefix(&format!("{repo}@")).map(String::from))
                                .ok_or_else(|| ComposeError::MissingImage {
                                    service: w.service.clone(),
                                    reference: w.reference.clone(),
                                    hint:
                                        "the engine recorded no registry digest for it; push it to the registry again"
                                            .into(),
                                })?;
                            let fresh =
                                if had.as_ref() == Some(&info.id) { Acquired::Present } else { Acquired::Pulled };
                            (digest, info, fresh)
                        }
                    };
                    let by_digest = format!("{}@{digest}", repository(&w.reference));
                    let w = &Wanted { digest: Some(digest.clone()), ..w.clone() };
                    // The readable tag next to the digest, for `docker images` and humans.
                    if present.get(&w.reference).is_none_or(|t| t.id != info.id) {
                        self.docker.tag(&by_digest, &w.reference)?;
                    }
                    let acquired = keep_owner(&info.id, acquired);
                    pins.push(Pin {
                        service: w.service.clone(),
                        image: pin_image(&release.source, w, &info.id),
                        reference: w.reference.clone(),
                        digest: Some(digest),
                        image_id: info.id,
                        acquired,
                        extra: Default::default(),
                    });
                }
            }
            Source::Archive(archive) => {
                let mut before = BTreeMap::new();
                for w in &release.images {
                    before.insert(w.service.clone(), self.docker.image(&w.reference)?.map(|i| i.id));
                }
                let up_to_date = release.images.iter().all(|w| match (&before[&w.service], &w.image_id) {
                    (Some(have), Some(want)) => have == want,
                    _ => false,
                });
                if !up_to_date {
                    say(&format!("loading {}", archive.display()));
                    self.docker
                        .load(archive)
                        .map_err(|source| ComposeError::Load { archive: archive.clone(), source })?;
                }
                let hint = |w: &Wanted| {
                    format!("{} does not contain {}; export the release again", archive.display(), w.reference)
                };
                for w in &release.images {
                    let info = self.local_image(w, hint)?;
                    let fresh = if before[&w.service].as_ref() == Some(&info.id) {
                        Acquired::Present
                    } else {
                        Acquired::Loaded
                    };
                    let acquired = keep_owner(&info.id, fresh);
                    pins.push(local_pin(&release.source, w, info, acquired));
                }
            }
            Source::Engine => {
                let hint = |_: &Wanted| {
                    "build or load the image into this engine first, or deploy from the registry".to_string()
                };
                for w in &release.images {
                    let info = self.local_image(w, hint)?;
                    let acquired = keep_owner(&info.id, Acquired::Present);
                    pins.push(local_pin(&release.source, w, info, acquired));
                }
            }
        }
        Ok(pins)
    }

    /// An image the engine already holds (loaded from an archive, or built locally), checked
    /// against the image ID the caller expects.
    fn local_image(
        &self,
        w: &Wanted,
        hint: impl Fn(&Wanted) -> String,
    ) -> Result<crate::engine::ImageInfo, ComposeError> {
        let info = self.docker.image(&w.reference)?.ok_or_else(|| ComposeError::MissingImage {
            service: w.service.clone(),
            reference: w.reference.clone(),
            hint: hint(w),
        })?;
        if let Some(want) = &w.image_id
            && want != &info.id
        {
            return Err(ComposeError::ImageMismatch {
                service: w.service.clone(),
                reference: w.reference.clone(),
                expected: want.clone(),
                got: info.id,
            });
        }
        Ok(info)
    }

    fn pull(&self, service: &str, reference: &str) -> Result<(), ComposeError> {
        self.docker.pull(reference).map_err(|source| ComposeError::Pull {
            service: service.to_string(),
            reference: reference.to_string(),
            source,
        })
    }

    fn must_have(&self, service: &str, reference: &str) -> Result<crate::engine::ImageInfo, ComposeError> {
        self.docker.image(reference)?.ok_or_else(|| ComposeError::MissingImage {
            service: service.to_string(),
            reference: reference.to_string(),
            hint: "the engine lost the image right after pulling it; run again".into(),
        })
    }

    /// Write `pins` and bring the project to them; gate on health.
    fn converge(
        &self,
        release: &str,
        pins: &[Pin],
        history: &History,
        say: &dyn Fn(&str),
    ) -> Result<Converged, Failure> {
        let fail = |reason: String| Failure { service: None, reason, logs: String::new(), recreated: Vec::new() };
        let override_file = self.override_path();
        let override_text = pins::render(release, pins);
        write_file(&override_file, override_text.as_bytes()).map_err(|e| fail(error_chain(&e)))?;
        let inputs = self.inputs_digest(&override_text);
        let before = self.containers().map_err(|e| fail(error_chain(&e)))?;
        let cached = history.records.iter().rev().find(|r| {
            r.result == Outcome::Succeeded && inputs.is_some() && r.inputs == inputs && !r.config_hashes.is_empty()
        });
        let hashes = match cached {
            Some(r) => r.config_hashes.clone(),
            None => self.hashes(Some(&override_file)).map_err(|e| fail(error_chain(&e)))?,
        };
        let changed = self.changed(&hashes, &before, pins);
        let all_healthy = || {
            before.values().all(|c| {
                matches!(
                    health::judge(c, self.target.probes.get(c.service().unwrap_or("")), health::run_probe),
                    health::Verdict::Healthy
                )
            })
        };
        // Nothing to do when compose itself would change nothing and everything is healthy.
        if !hashes.is_empty() && changed.is_empty() && all_healthy() {
            say(&format!("{release} is already running and healthy; nothing to do"));
            return Ok(Converged { recreated: Vec::new(), noop: true, inputs, hashes });
        }
        say(&format!(
            "{} up ({}): {}",
            self.compose.name(),
            release,
            if changed.is_empty() { "restoring health".to_string() } else { changed.join(", ") }
        ));
        let files = self.files_with(&override_file);
        let up = self.compose.up(&self.project(&files)).stream(|_, line| tracing::debug!("compose: {line}"));
        let after = self.containers().map_err(|e| fail(error_chain(&e)))?;
        let recreated: Vec<String> =
            after.iter().filter(|(s, c)| before.get(*s).is_none_or(|b| b.id != c.id)).map(|(s, _)| s.clone()).collect();
        if let Err(e) = up {
            return Err(Failure {
                service: None,
                reason: format!("{} up failed: {e}", self.compose.name()),
                logs: String::new(),
                recreated,
            });
        }
        // Exactness: every pinned service runs the image ID hoist checked.
        for pin in pins {
            match after.get(&pin.service) {
                Some(c) if c.image == pin.image_id => {}
                Some(c) => {
                    return Err(Failure {
                        service: Some(pin.service.clone()),
                        reason: format!("runs image {} instead of {} ({})", c.image, pin.image_id, pin.image),
                        logs: String::new(),
                        recreated,
                    });
                }
                None => {
                    return Err(Failure {
                        service: Some(pin.service.clone()),
                        reason: "has no container after compose up (is it in the compose file?)".into(),
                        logs: String::new(),
                        recreated,
                    });
                }
            }
        }
        let mut gate: BTreeMap<String, String> =
            recreated.iter().filter_map(|s| after.get(s).map(|c| (s.clone(), c.id.clone()))).collect();
        // Services that were unhealthy before are gated too, so a rollback waits for them.
        for (s, c) in &after {
            if !matches!(health::judge(c, self.target.probes.get(s), |_| Err(String::new())), health::Verdict::Healthy)
            {
                gate.insert(s.clone(), c.id.clone());
            }
        }
        if !gate.is_empty() {
            say(&format!(
                "waiting up to {}s for {} to be healthy",
                self.target.timeout.as_secs(),
                gate.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        health::wait(&self.docker, &gate, &self.target.probes, self.target.timeout).map_err(|u| Failure {
            logs: self.docker.logs_tail(&u.container, LOG_LINES),
            service: Some(u.service),
            reason: u.reason,
            recreated: recreated.clone(),
        })?;
        // The same inputs gave compose these hashes; the new containers carry them.
        Ok(Converged { recreated, noop: false, inputs, hashes })
    }

    /// A digest of compose's inputs: the compose CLI, the user's files, hoist's override,
    /// the project's `.env`, and the values of the variables the files name (plus
    /// `COMPOSE_*` and `DOCKER_*`). `None` when a file cannot be read (no caching then).
    fn inputs_digest(&self, override_text: &str) -> Option<String> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(serde_json::to_string(&self.compose).unwrap_or_default().as_bytes());
        field(self.target.project.as_bytes());
        field(self.target.dir.as_os_str().as_encoded_bytes());
        let mut names: BTreeSet<String> = BTreeSet::new();
        for f in &self.target.files {
            let text = std::fs::read(self.target.dir.join(f)).ok()?;
            names.extend(variable_names(&String::from_utf8_lossy(&text)));
            field(f.as_os_str().as_encoded_bytes());
            field(&text);
        }
        field(override_text.as_bytes());
        field(&std::fs::read(self.target.dir.join(".env")).unwrap_or_default());
        for (k, v) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("COMPOSE_") || k.starts_with("DOCKER_") {
                names.insert(k);
            }
            let _ = v;
        }
        for name in names {
            field(name.as_bytes());
            field(std::env::var_os(&name).unwrap_or_default().as_encoded_bytes());
        }
        Some(format!("sha256:{:x}", h.finalize()))
    }

    /// Prune now, for the current history.
    pub fn prune(&self, dry_run: bool, say: &dyn Fn(&str)) -> Result<Vec<String>, ComposeError> {
        self.ping()?;
        let history = self.history()?;
        if dry_run {
            return Ok(self.prune_candidates(&history)?.into_iter().map(|(r, _)| r).collect());
        }
        self.prune_with(&history, say)
    }

    fn prune_with(&self, history: &History, say: &dyn Fn(&str)) -> Result<Vec<String>, ComposeError> {
        let mut removed = Vec::new();
        for (reference, _id) in self.prune_candidates(history)? {
            match self.docker.remove_image(&reference) {
                Ok(()) => {
                    say(&format!("pruned {reference}"));
                    removed.push(reference);
                }
                // Someone started a container on it since we looked: keep it.
                Err(e) => tracing::warn!("kept {reference}: {e}"),
            }
        }
        Ok(removed)
    }

    /// (reference or ID to remove, image ID): hoist's images of releases beyond the last
    /// `keep`, and dangling images that are hoist's or labelled for this project; never an
    /// image a container uses or a kept release pins.
    fn prune_candidates(&self, history: &History) -> Result<Vec<(String, String)>, ComposeError> {
        let kept = history.kept_releases(self.target.keep);
        let states = history.healthy_states();
        let mut kept_ids: BTreeSet<String> = BTreeSet::new();
        for r in &history.records {
            if kept.contains(&r.release) || r.result == Outcome::InProgress {
                kept_ids.extend(r.pins.iter().map(|p| p.image_id.clone()));
            }
        }
        for s in &states {
            if kept.contains(&s.release) {
                kept_ids.extend(s.pins.iter().map(|p| p.image_id.clone()));
            }
        }
        let in_use = self.docker.images_in_use()?;
        let owned: BTreeSet<&str> = history
            .records
            .iter()
            .flat_map(|r| r.pins.iter())
            .filter(|p| p.acquired != Acquired::Present)
            .map(|p| p.image_id.as_str())
            .collect();
        let mut out: Vec<(String, String)> = Vec::new();
        let mut seen = BTreeSet::new();
        for pin in history.records.iter().flat_map(|r| r.pins.iter()) {
            if pin.acquired == Acquired::Present
                || kept_ids.contains(&pin.image_id)
                || in_use.contains(&pin.image_id)
                || pin.image_id.is_empty()
            {
                continue;
            }
            let mut refs = vec![pin.reference.clone()];
            if let Some(d) = &pin.digest {
                refs.push(format!("{}@{d}", repository(&pin.reference)));
            }
            for r in refs {
                if seen.contains(&r) {
                    continue;
                }
                // Only while the reference still names the image hoist put there.
                if self.docker.image(&r)?.is_some_and(|i| i.id == pin.image_id) {
                    seen.insert(r.clone());
                    out.push((r, pin.image_id.clone()));
                }
            }
        }
        for (id, labels) in self.docker.dangling_images()? {
            let ours = owned.contains(id.as_str()) || labels.get(PROJECT_LABEL) == Some(&self.target.project);
            if ours && !in_use.contains(&id) && !kept_ids.contains(&id) && seen.insert(id.clone()) {
                out.push((id.clone(), id));
            }
        }
        Ok(out)
    }
}

/// An error and its causes on one line each (compose's stderr is in the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!("\n{s}"));
        source = s.source();
    }
    text
}

/// What converging did.
#[derive(Debug)]
struct Converged {
    recreated: Vec<String>,
    noop: bool,
    inputs: Option<String>,
    hashes: BTreeMap<String, String>,
}

/// The variable names a compose file interpolates (`$NAME`, `${NAME…}`); `$$` is a literal.
fn variable_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            if b.get(i + 1) == Some(&b'$') {
                i += 2;
                continue;
            }
            let start = if b.get(i + 1) == Some(&b'{') { i + 2 } else { i + 1 };
            let mut end = start;
            while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                end += 1;
            }
            if end > start {
                out.insert(text[start..end].to_string());
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Why converging failed (before it becomes an error with the rollback's outcome).
#[derive(Debug)]
struct Failure {
    service: Option<String>,
    reason: String,
    logs: String,
    recreated: Vec<String>,
}

impl Failure {
    fn describe(&self) -> String {
        match &self.service {
            Some(s) => format!("`{s}` {}", self.reason),
            None => self.reason.clone(),
        }
    }

    fn into_error(self, release: &str, after: String) -> ComposeError {
        ComposeError::Unhealthy {
            release: release.to_string(),
            service: self.service.unwrap_or_else(|| "compose".into()),
            reason: self.reason,
            logs: self.logs,
            after,
        }
    }
}

fn record(history: &History, action: Action, release: &str, pins: Vec<Pin>, result: Outcome) -> Record {
    let what = match action {
        Action::Deploy => format!("deploy {release}"),
        Action::Rollback => format!("rollback to {release}"),
    };
    let owner = Owner::me(&what);
    Record {
        id: history.next_id(),
        action,
        release: release.to_string(),
        pins,
        started_at: Utc::now(),
        finished_at: None,
        result,
        by: format!("{}@{} (pid {})", owner.user, owner.host, owner.pid),
        owner: Some(owner),
        recreated: Vec::new(),
        rolled_back_to: None,
        failed_service: None,
        message: None,
        inputs: None,
        config_hashes: BTreeMap::new(),
        extra: Default::default(),
    }
}

/// What the override names. It must be the same text for the same image in every
/// release, because compose hashes the `image:` string into its recreate decision: a tag
/// in it (`repo:svc_v2@…`) would recreate every unchanged service. So a registry image is
/// pinned as `repo@digest` and any other by its image ID; the tag is in the comment above
/// it and in the history.
/// The pin of an image the engine holds locally (no registry digest to add).
fn local_pin(source: &Source, w: &Wanted, info: crate::engine::ImageInfo, acquired: Acquired) -> Pin {
    Pin {
        service: w.service.clone(),
        image: pin_image(source, w, &info.id),
        reference: w.reference.clone(),
        digest: w.digest.clone(),
        image_id: info.id,
        acquired,
        extra: Default::default(),
    }
}

fn pin_image(source: &Source, w: &Wanted, image_id: &str) -> String {
    match (source, &w.digest) {
        (Source::Registry, Some(d)) => format!("{}@{d}", repository(&w.reference)),
        _ => image_id.to_string(),
    }
}

/// `host:5000/shop:tag` → `host:5000/shop` (the tag is after the last `:` past the last `/`).
pub fn repository(reference: &str) -> &str {
    let reference = reference.split('@').next().unwrap_or(reference);
    let slash = reference.rfind('/').map(|i| i + 1).unwrap_or(0);
    match reference[slash..].rfind(':') {
        Some(i) => &reference[..slash + i],
        None => reference,
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ComposeError> {
    let err = |e: std::io::Error| ComposeError::State { path: path.to_path_buf(), message: e.to_string() };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::write(path, bytes).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_of_references() {
        let cases = [
            ("127.0.0.1:5000/shop:user-service_v1", "127.0.0.1:5000/shop"),
            ("127.0.0.1:5000/shop", "127.0.0.1:5000/shop"),
            ("shop:v1", "shop"),
            ("r.example/a/b:t@sha256:00", "r.example/a/b"),
            ("localhost:5000/shop@sha256:00", "localhost:5000/shop"),
        ];
        for (r, want) in cases {
            assert_eq!(repository(r), want, "{r}");
        }
    }

    #[test]
    fn interpolated_variable_names() {
        let text = "image: ${REGISTRY:-x}/a:$TAG\nprice: $$5\nenv: ${A_B?err} $1 ${}";
        let got: Vec<String> = variable_names(text).into_iter().collect();
        assert_eq!(got, ["1", "A_B", "REGISTRY", "TAG"]);
    }

    #[test]
    fn pin_images() {
        let w = Wanted {
            service: "a".into(),
            reference: "r:5000/shop:a_v1".into(),
            digest: Some("sha256:00".into()),
            image_id: None,
        };
        assert_eq!(pin_image(&Source::Registry, &w, "sha256:ff"), "r:5000/shop@sha256:00");
        assert_eq!(pin_image(&Source::Archive("/x.tar".into()), &w, "sha256:ff"), "sha256:ff");
        assert_eq!(pin_image(&Source::Engine, &w, "sha256:ff"), "sha256:ff");
    }
}
