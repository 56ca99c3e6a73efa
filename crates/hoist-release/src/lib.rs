//! The release flow: a [`ReleaseRequest`] becomes a typed [`ReleasePlan`] ([`plan()`]), and
//! the plan is executed step by step ([`execute()`]), as release-plz's core and cargo-dist's
//! `gather_work` → steps do.
//!
//! `hoist release --dry-run` prints the plan; the real run executes that same plan and
//! stores it, with each step's status and output, in `.hoist/releases/<tag>.json`, from
//! which a re-run resumes. The modules below also serve the single-step commands
//! (`hoist image`, `push`, `deploy`, `render`), so a step works the same on its own and in a
//! release:
//!
//! - [`tag`]: which release a command works on (PR title, tags, HEAD, `--tag`);
//! - [`images`]: what each service's image is made of, and building them;
//! - [`registry`]: the client for `[registry]` and the release's push requests;
//! - [`deploy`]: the compose and Kubernetes inputs of a release, and running them;
//! - [`changes`], [`carry`]: which services a release builds and which it carries;
//! - [`plan`], [`execute`], [`record`]: the release itself;
//! - [`report`]: the one event type every step reports progress with.
//!
//! Errors are the phases' own typed errors (git, build, OCI, registry, compose, kube),
//! collected into a [`hoist_diag::Report`] with the context of the step that failed.

pub mod bases;
pub mod carry;
pub mod changes;
pub mod deploy;
pub mod execute;
pub mod images;
pub mod plan;
pub mod platforms;
pub mod record;
pub mod registry;
pub mod report;
pub mod tag;

use std::path::PathBuf;

use hoist_config::Config;
use hoist_diag::Report;
use serde::{Deserialize, Serialize};

pub use execute::{ReleaseReport, ServiceAction, ServiceSummary, StepOutput, execute};
pub use plan::{PLAN_VERSION, PlannedStep, ReleasePlan, Step, StepKind, plan};
pub use record::{ReleaseRecord, Status};
pub use report::{Event, Reporter, Silent};

/// Where `hoist release` deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeployTarget {
    Compose,
    K8s,
    None,
}

/// What hoist reads from its environment, read once by the caller (the CLI's settings),
/// so the library itself never looks at the process environment for these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    /// `SOURCE_DATE_EPOCH`: layer mtimes and `created` of reproducible images.
    pub source_date_epoch: Option<u64>,
    /// `GITHUB_EVENT_PATH`: the event payload the PR title is read from.
    pub github_event_path: Option<PathBuf>,
}

impl Env {
    /// Read from `var` (the process environment in the CLI, a map in tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Env, Report> {
        let source_date_epoch = match var("SOURCE_DATE_EPOCH") {
            Some(v) => Some(
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| Report::user(format!("SOURCE_DATE_EPOCH must be seconds since 1970, not `{v}`")))?,
            ),
            None => None,
        };
        Ok(Env { source_date_epoch, github_event_path: var("GITHUB_EVENT_PATH").map(PathBuf::from) })
    }
}

/// A release to plan and run: resolved settings, and the directory it runs in (the git
/// repository is found from there, as git does; nothing changes the process's directory).
#[derive(Debug, Clone)]
pub struct ReleaseRequest {
    pub config: Config,
    pub dir: PathBuf,
    pub title: tag::TitleInput,
    pub deploy: DeployTarget,
    /// Release even when HEAD is detached.
    pub allow_detached: bool,
    /// Push to `[registry]` (when configured); false keeps the images in the local layout.
    pub push: bool,
    /// Builds and layer compressions at once.
    pub jobs: Option<usize>,
    /// Build every service, carrying none (`--all`).
    pub all: bool,
    /// Resolve the registry bases' tags again and move their pins (`--update-base`).
    pub update_base: bool,
    /// With a compose deploy: remove a deploy lock whose holder process is gone.
    pub break_lock: bool,
    /// With a Kubernetes deploy: prune even when more than half of the previous
    /// release's objects are gone from the manifests.
    pub allow_shrink: bool,
    pub env: Env,
}

/// Escape a value from outside quoted inside a sentence (hoist-diag's rule).
pub(crate) fn inline(text: &str) -> std::borrow::Cow<'_, str> {
    hoist_diag::text::inline(text)
}

/// The async runtime for the network clients (registry, Kubernetes), built per step.
pub fn runtime() -> Result<tokio::runtime::Runtime, Report> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Report::unexpected(format!("cannot start the async runtime: {e}")))
}
