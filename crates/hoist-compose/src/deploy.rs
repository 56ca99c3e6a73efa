//! Deploy and roll back one compose project on one host. Each is a transaction that reads
//! as the sequence of its steps, each in its own module: `plan` what would change, `acquire`
//! the images, `converge` the project to their pins behind the health gate, `prune` what is
//! no longer kept; the history records each transaction before and after it runs.
//!
//! The order is the safety argument: take the lock; bring every image into the engine and
//! check it (a failure here touches nothing running); write the pins; let compose recreate
//! only what changed; gate on health; on failure redeploy the previous pins. Volumes are
//! never named in any command hoist runs (`up` only, never `down -v` or `--renew-anon-volumes`),
//! so data survives every deploy and rollback.

mod acquire;
mod converge;
mod plan;
mod preflight;
mod prune;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use self::converge::Converged;
pub use self::converge::LOG_LINES;
pub use self::plan::Plan;
pub use self::preflight::{Foreign, Model, ModelService, foreign};
pub use self::prune::PROJECT_LABEL;
use crate::cli::{self, ComposeCli, Project};
use crate::engine::Docker;
use crate::error::ComposeError;
use crate::health::ProbeSpec;
use crate::state::{Action, Healthy, History, Lock, Owner, Pin, Record, RunResult};

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
    /// How long a recreated service with neither a healthcheck nor a probe must stay up,
    /// without restarting, to count as healthy.
    pub settle: Duration,
    /// How many releases' images prune keeps.
    pub keep: usize,
    /// Probes for services without a compose healthcheck.
    pub probes: BTreeMap<String, ProbeSpec>,
    /// Called after every write of the state dir (a remote host keeps its own copy).
    pub sync: Option<StateSync>,
}

/// Copies the state dir where it lives (a remote host) after each save.
#[derive(Clone)]
#[allow(clippy::type_complexity)]
pub struct StateSync(pub std::sync::Arc<dyn Fn(&Path) -> Result<(), ComposeError> + Send + Sync>);

impl std::fmt::Debug for StateSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateSync")
    }
}

/// How the release's images get into the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReleaseImages {
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

/// What a finished deploy or rollback did.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Done {
    pub project: String,
    pub release: String,
    pub action: Action,
    pub result: RunResult,
    pub pins: Vec<Pin>,
    pub recreated: Vec<String>,
    /// Nothing had changed: compose was not run.
    pub noop: bool,
    pub pruned: Vec<String>,
    /// Per service the health gate waited for (the recreated ones, and any that were not
    /// healthy before): the seconds from the start of the health wait, right after
    /// `compose up`, until that service was seen healthy. Empty for a no-op.
    #[serde(default)]
    pub timings: BTreeMap<String, f64>,
    /// Gated services with neither a compose healthcheck nor a probe: judged healthy only
    /// after staying up, without restarting, for the settle time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_health_signal: Vec<String>,
}

/// Deploys to one project on one engine.
#[derive(Debug, Clone)]
pub struct Deployer {
    pub target: Target,
    pub compose: ComposeCli,
    pub docker: Docker,
    /// The compose model, read once per run (the files do not change under a deploy).
    model: std::sync::OnceLock<preflight::Model>,
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
        Ok(Deployer { target, compose, docker, model: Default::default() })
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
            self.save(&history)?;
        }
        Ok((lock, history))
    }

    /// Write the history, then hand the state dir to the sync hook (a remote host).
    fn save(&self, history: &History) -> Result<(), ComposeError> {
        history.save(&self.target.state_dir, &self.target.project)?;
        match &self.target.sync {
            Some(sync) => (sync.0)(&self.target.state_dir),
            None => Ok(()),
        }
    }

    fn ping(&self) -> Result<(), ComposeError> {
        self.docker.ping().map_err(ComposeError::Engine)
    }

    /// Deploy `release`: acquire, pin, up, health gate, roll back on failure, record, prune.
    pub fn deploy(&self, release: &ReleaseImages, opts: Options, say: &dyn Fn(&str)) -> Result<Done, ComposeError> {
        // No separate ping here (it costs a call on every no-op deploy): an unreachable
        // engine fails the first image lookup, and that error says so.
        let (_lock, mut history) = self.lock_and_load(&format!("deploy {}", release.tag), opts, say)?;
        // Under the lock, so no deploy of ours runs meanwhile; before any pull.
        self.preflight(release)?;
        let previous = history.current();

        // 1. Images: if anything fails here, nothing running is touched.
        let pins = self.acquire(release, &history, say)?;

        // 2. Record that we started, so a crash leaves a trace.
        let mut rec = record(&history, Action::Deploy, &release.tag, pins.clone(), RunResult::InProgress);
        history.records.push(rec.clone());
        self.save(&history)?;

        // 3. Pins, compose up, health gate.
        let result = self.converge(&release.tag, &pins, &history, say);
        let idx = history.records.len() - 1;
        match result {
            // 4. Record the success, then prune what is no longer kept.
            Ok(Converged { recreated, noop, inputs, hashes, timings, unsignalled }) => {
                rec.result = RunResult::Succeeded;
                rec.recreated = recreated.clone();
                rec.inputs = inputs;
                rec.config_hashes = hashes;
                rec.finished_at = Some(Utc::now());
                history.records[idx] = rec;
                self.save(&history)?;
                let pruned = if opts.prune { self.prune_with(&history, say)? } else { Vec::new() };
                Ok(Done {
                    project: self.target.project.clone(),
                    release: release.tag.clone(),
                    action: Action::Deploy,
                    result: RunResult::Succeeded,
                    pins,
                    recreated,
                    noop,
                    pruned,
                    timings,
                    no_health_signal: unsignalled,
                })
            }
            // 4. Converge back to what ran before, and record how that went.
            Err(failure) => {
                rec.recreated = failure.recreated.clone();
                rec.failed_service = failure.service.clone();
                rec.message = Some(failure.reason.clone());
                let after = match &previous {
                    Some(prev) => {
                        say(&format!("release {} failed; rolling back to {}", release.tag, prev.release));
                        match self.converge(&prev.release, &prev.pins, &history, say) {
                            Ok(_) => {
                                rec.result = RunResult::RolledBack;
                                rec.rolled_back_to = Some(prev.release.clone());
                                format!("rolled back to {}, which is healthy again", prev.release)
                            }
                            Err(f2) => {
                                rec.result = RunResult::Failed;
                                format!("the rollback to {} failed too: {}", prev.release, f2.describe())
                            }
                        }
                    }
                    None => {
                        rec.result = RunResult::Failed;
                        "there is no earlier healthy release on this host to roll back to".into()
                    }
                };
                rec.finished_at = Some(Utc::now());
                history.records[idx] = rec;
                self.save(&history)?;
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
        self.ensure_present(&target, say)?;
        let mut rec = record(&history, Action::Rollback, &target.release, target.pins.clone(), RunResult::InProgress);
        history.records.push(rec.clone());
        self.save(&history)?;
        let idx = history.records.len() - 1;
        let result = self.converge(&target.release, &target.pins, &history, say);
        rec.finished_at = Some(Utc::now());
        match result {
            Ok(Converged { recreated, noop, inputs, hashes, timings, unsignalled }) => {
                rec.result = RunResult::Succeeded;
                rec.recreated = recreated.clone();
                rec.inputs = inputs;
                rec.config_hashes = hashes;
                history.records[idx] = rec;
                self.save(&history)?;
                Ok(Done {
                    project: self.target.project.clone(),
                    release: target.release,
                    action: Action::Rollback,
                    result: RunResult::Succeeded,
                    pins: target.pins,
                    recreated,
                    noop,
                    pruned: Vec::new(),
                    timings,
                    no_health_signal: unsignalled,
                })
            }
            Err(f) => {
                rec.result = RunResult::Failed;
                rec.recreated = f.recreated.clone();
                rec.failed_service = f.service.clone();
                rec.message = Some(f.reason.clone());
                history.records[idx] = rec;
                self.save(&history)?;
                Err(f.into_error(&target.release, "the rollback did not restore a healthy state".into()))
            }
        }
    }
}

/// A new record of `action` by this process, to be settled when the run ends.
fn record(history: &History, action: Action, release: &str, pins: Vec<Pin>, result: RunResult) -> Record {
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

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use serde_json::json;

    use super::*;
    use crate::state::Acquired;

    fn release(source: Source) -> ReleaseImages {
        ReleaseImages {
            tag: "v1.0.0-abc1234".into(),
            images: vec![Wanted {
                service: "user-service".into(),
                reference: "127.0.0.1:5000/shop:user-service_v1.0.0-abc1234".into(),
                digest: Some("sha256:00".into()),
                image_id: Some("sha256:ff".into()),
            }],
            source,
        }
    }

    fn done() -> Done {
        Done {
            project: "shop".into(),
            release: "v1".into(),
            action: Action::Deploy,
            result: RunResult::Succeeded,
            pins: vec![Pin {
                service: "user-service".into(),
                image: "127.0.0.1:5000/shop@sha256:00".into(),
                reference: "127.0.0.1:5000/shop:user-service_v1".into(),
                digest: Some("sha256:00".into()),
                image_id: "sha256:ff".into(),
                acquired: Acquired::Pulled,
                extra: Default::default(),
            }],
            recreated: vec!["user-service".into()],
            noop: false,
            pruned: vec!["127.0.0.1:5000/shop:user-service_v0".into()],
            timings: [("user-service".to_string(), 1.25)].into(),
            no_health_signal: vec!["user-service".into()],
        }
    }

    #[test]
    fn a_release_round_trips_through_json() {
        for source in [Source::Registry, Source::Archive("/srv/shop.tar".into()), Source::Engine] {
            let r = release(source);
            let text = serde_json::to_string(&r).unwrap();
            let back: ReleaseImages = serde_json::from_str(&text).unwrap();
            assert_eq!(back, r, "{text}");
        }
        let v = serde_json::to_value(release(Source::Archive("/srv/shop.tar".into()))).unwrap();
        assert_eq!(v["source"], json!({"kind": "archive", "path": "/srv/shop.tar"}));
    }

    #[test]
    fn done_round_trips_and_reads_one_without_timings() {
        let d = done();
        let mut v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["timings"], json!({"user-service": 1.25}));
        let back: Done = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), v);
        // A plan file written before per-service timings existed still reads.
        v.as_object_mut().unwrap().remove("timings");
        let old: Done = serde_json::from_value(v).unwrap();
        assert!(old.timings.is_empty());
        assert_eq!(old.pins, d.pins);
    }

    /// The schema names every field the value serialises to, and the value has every field
    /// the schema requires.
    fn check_schema<T: Serialize + JsonSchema>(value: &T) {
        let schema = serde_json::to_value(schemars::schema_for!(T)).unwrap();
        let v = serde_json::to_value(value).unwrap();
        let name = std::any::type_name::<T>();
        let props = schema["properties"].as_object().unwrap_or_else(|| panic!("{name}: {schema}"));
        for key in v.as_object().unwrap().keys() {
            assert!(props.contains_key(key), "{name}: `{key}` is not in the schema {schema}");
        }
        for key in schema["required"].as_array().into_iter().flatten() {
            assert!(v.get(key.as_str().unwrap()).is_some(), "{name}: required `{key}` missing from {v}");
        }
    }

    #[test]
    fn schemas_describe_what_is_serialised() {
        check_schema(&release(Source::Registry));
        check_schema(&release(Source::Registry).images[0]);
        let d = done();
        check_schema(&d);
        check_schema(&d.pins[0]);
        check_schema(&Plan {
            project: "shop".into(),
            release: "v2".into(),
            compose: "docker-compose".into(),
            override_file: "/state/override-shop.yaml".into(),
            pull: vec!["r/shop@sha256:00".into()],
            recreate: vec!["a".into()],
            unchanged: vec!["b".into()],
            current: Some("v1".into()),
            prune: vec![],
        });
        let history = History::default();
        let mut rec = record(&history, Action::Rollback, "v1", d.pins.clone(), RunResult::RolledBack);
        rec.finished_at = Some(Utc::now());
        rec.rolled_back_to = Some("v0".into());
        rec.failed_service = Some("a".into());
        rec.message = Some("unhealthy".into());
        rec.inputs = Some("sha256:11".into());
        rec.config_hashes = [("a".to_string(), "h".to_string())].into();
        check_schema(&rec);
        check_schema(rec.owner.as_ref().unwrap());

        // The source is one of three shapes, each named by `kind`.
        let schema = serde_json::to_string(&schemars::schema_for!(Source)).unwrap();
        for kind in ["registry", "archive", "engine"] {
            assert!(schema.contains(&format!("\"{kind}\"")), "{kind} in {schema}");
        }
    }
}
