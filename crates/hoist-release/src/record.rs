//! The release record, `.hoist/releases/<tag>.json`: the plan a run executed and the
//! status and output of each step, written after every step so a re-run resumes from it.
//!
//! A record of another format version, or one that does not parse, is not used (the steps
//! run again; each is safe to repeat), and is never overwritten by a partial write: the
//! file is replaced by a rename.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use hoist_config::{Config, StatePath};
use hoist_diag::Report;
use serde::{Deserialize, Serialize};

use crate::execute::StepOutput;
use crate::plan::{PLAN_VERSION, ReleasePlan, Step, StepKind};

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not started (an earlier step failed, or the run was stopped).
    Pending,
    /// Started and not finished: the run was killed during this step.
    Running,
    Done,
    /// An earlier run's output was used.
    Skipped,
    Failed,
}

/// One step of a run.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepRecord {
    /// The step as planned.
    #[serde(flatten)]
    pub step: Step,
    pub status: Status,
    pub started_at: Option<DateTime<Utc>>,
    pub seconds: Option<f64>,
    /// What the step produced (for `skipped`: the earlier run's output it used).
    pub output: Option<StepOutput>,
    /// The error, rendered, when it failed.
    pub error: Option<String>,
}

/// A release run, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReleaseRecord {
    /// The format version ([`PLAN_VERSION`]).
    pub format: u32,
    /// The hoist that wrote it.
    pub hoist: String,
    pub started_at: DateTime<Utc>,
    /// The plan this run executed, exactly as `--dry-run` prints it.
    pub plan: ReleasePlan,
    pub steps: Vec<StepRecord>,
}

impl ReleaseRecord {
    /// A new record for `plan`, every step pending.
    pub fn new(plan: &ReleasePlan) -> ReleaseRecord {
        ReleaseRecord {
            format: PLAN_VERSION,
            hoist: env!("CARGO_PKG_VERSION").to_string(),
            started_at: Utc::now(),
            plan: plan.clone(),
            steps: plan
                .steps
                .iter()
                .map(|s| StepRecord {
                    step: s.step.clone(),
                    status: Status::Pending,
                    started_at: None,
                    seconds: None,
                    output: None,
                    error: None,
                })
                .collect(),
        }
    }

    /// Whether this record has `step` (planned the same) done or skipped with an output.
    pub fn done(&self, step: &Step) -> bool {
        self.steps
            .iter()
            .any(|s| &s.step == step && matches!(s.status, Status::Done | Status::Skipped) && s.output.is_some())
    }

    /// The output of the step of this kind, if it has one.
    pub fn output(&self, kind: StepKind) -> Option<&StepOutput> {
        self.steps.iter().find(|s| s.step.kind() == kind).and_then(|s| s.output.as_ref())
    }

    pub fn step_mut(&mut self, kind: StepKind) -> Option<&mut StepRecord> {
        self.steps.iter_mut().find(|s| s.step.kind() == kind)
    }
}

/// `StatePath::Release` of `tag`.
pub fn path(config: &Config, tag: &str) -> PathBuf {
    StatePath::Release { tag }.path(config)
}

/// The record of `tag`, when there is a usable one.
pub fn load(config: &Config, tag: &str) -> Result<Option<ReleaseRecord>, Report> {
    let path = path(config, tag);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Report::unexpected(format!("cannot read the release record {}: {e}", path.display()))),
    };
    #[derive(Deserialize)]
    struct Head {
        format: u32,
    }
    match serde_json::from_slice::<Head>(&text) {
        Ok(h) if h.format == PLAN_VERSION => {}
        _ => {
            tracing::warn!("{}: not a release record of format {PLAN_VERSION}; not resumed from", path.display());
            return Ok(None);
        }
    }
    match serde_json::from_slice::<ReleaseRecord>(&text) {
        Ok(r) if r.plan.release.as_ref().is_some_and(|p| p.tag == tag) => Ok(Some(r)),
        Ok(_) => Ok(None),
        Err(e) => {
            tracing::warn!("{}: unreadable release record ({e}); not resumed from", path.display());
            Ok(None)
        }
    }
}

/// Write the record (temp file, then rename, so a reader never sees half of it).
pub fn save(config: &Config, record: &ReleaseRecord) -> Result<PathBuf, Report> {
    let tag = record.plan.release.as_ref().map(|r| r.tag.as_str()).expect("a record is of a release");
    let path = path(config, tag);
    let io = |e: std::io::Error| Report::unexpected(format!("cannot write the release record {}: {e}", path.display()));
    std::fs::create_dir_all(path.parent().expect("has a parent")).map_err(io)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(record).expect("serialisable")).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}
