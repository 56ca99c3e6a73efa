//! Deploy: the release transaction. Apply in kind order and wait, roll back to the previous
//! release on failure, prune what the release dropped, and record it in the history.
//!
//! The steps live beside this file: `apply` (order, server-side apply, rollout wait),
//! `prune`, `diff`, `history` (the stored revisions and their format) and `calls` (each
//! API call's deadline and typed error).
//!
//! Only kube-rs's public client API is used (`Api<DynamicObject>`, `Patch::Apply`,
//! `discovery::pinned_kind`), so the same code runs against a real cluster and against
//! the fake API server in the tests. Built-in kinds take their plural and scope from
//! k8s-openapi instead of a discovery round-trip; custom kinds ask the cluster.

mod apply;
mod calls;
mod diff;
mod history;
mod prune;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use serde::{Deserialize, Serialize};

pub use self::diff::line_diff;
pub use self::history::{HISTORY_VERSION, Record};
use crate::check;
use crate::error::{DeployError, ManifestError};
use crate::manifest::{self, Document, ObjectRef};
use crate::render;

/// hoist's server-side-apply field manager.
pub const FIELD_MANAGER: &str = "hoist";
/// On every object hoist applies: who manages it.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "hoist");
/// On every object hoist applies: which project's release it belongs to.
pub const PROJECT_LABEL: &str = "hoist.dev/project";
/// On history Secrets.
pub const HISTORY_LABEL: &str = "hoist.dev/history";
/// The most one API call (request, answer and body) may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A cluster to deploy to, and how to name it in errors.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    /// The kubeconfig context (or `in-cluster`).
    pub context: String,
    /// The API server URL.
    pub url: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("context", &self.context).field("url", &self.url).finish()
    }
}

/// How to deploy.
#[derive(Clone)]
pub struct Options {
    /// Labels and history name.
    pub project: String,
    /// The release tag.
    pub release: String,
    /// For namespaced objects without one, and for the history Secrets.
    pub namespace: String,
    /// For all rollouts of one apply together.
    pub timeout: Duration,
    /// For each API call; the smaller of this and `timeout` applies.
    pub call_timeout: Duration,
    /// Between status reads.
    pub poll: Duration,
    /// Server-side dry run (`dryRun=All`): nothing is changed, nothing is recorded.
    pub dry_run: bool,
    /// Show what would change (implies a dry run).
    pub diff: bool,
    /// Take over fields owned by other field managers.
    pub force_conflicts: bool,
    /// Image digests recorded in the history.
    pub digests: BTreeMap<String, String>,
    /// How many releases of history to keep.
    pub keep: usize,
    /// Prune even when more than half of the previous release's objects are gone from the
    /// manifests (a wrong manifest path looks just like that).
    pub allow_shrink: bool,
    /// Where the manifests were read from, as the user named them (for messages).
    pub sources: Vec<String>,
    /// Progress notes (stderr in the CLI).
    pub progress: Arc<dyn Fn(&str) + Send + Sync>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("project", &self.project)
            .field("release", &self.release)
            .field("namespace", &self.namespace)
            .field("dry_run", &self.dry_run)
            .field("diff", &self.diff)
            .finish_non_exhaustive()
    }
}

impl Options {
    pub fn new(project: &str, release: &str, namespace: &str) -> Options {
        Options {
            project: project.into(),
            release: release.into(),
            namespace: namespace.into(),
            timeout: Duration::from_secs(300),
            call_timeout: CALL_TIMEOUT,
            poll: Duration::from_secs(2),
            dry_run: false,
            diff: false,
            force_conflicts: false,
            digests: BTreeMap::new(),
            keep: 10,
            allow_shrink: false,
            sources: Vec::new(),
            progress: Arc::new(|_| {}),
        }
    }
}

/// What a deploy did (or, with `--dry-run`/`--diff`, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Outcome {
    pub release: String,
    pub namespace: String,
    /// 0 in a dry run.
    pub revision: u64,
    pub dry_run: bool,
    /// In apply order.
    pub applied: Vec<ObjectRef>,
    pub pruned: Vec<ObjectRef>,
    /// Objects of the previous release that are gone from the manifests but were not
    /// deleted, with the reason.
    pub kept: Vec<(ObjectRef, String)>,
    /// With `diff`: what the release would change (empty: nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Deploy rendered documents to the cluster. They are applied in kind order
/// ([`crate::order::sort`]) whatever order they come in.
pub async fn deploy(cluster: &Cluster, docs: &[Document], opts: &Options) -> Result<Outcome, DeployError> {
    let d = Deployer { cluster, opts };
    d.run(docs).await
}

/// One deploy's cluster and options; its steps are in the submodules.
struct Deployer<'a> {
    cluster: &'a Cluster,
    opts: &'a Options,
}

/// A DNS-1123 label from free text (project names become Secret names and label values).
pub fn dns_label(text: &str) -> String {
    let mut s: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .collect();
    s.truncate(40);
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "hoist".into() } else { s }
}

impl Deployer<'_> {
    fn note(&self, text: &str) {
        (self.opts.progress)(text);
    }

    async fn run(&self, docs: &[Document]) -> Result<Outcome, DeployError> {
        // Before any call: the API server would refuse these objects one by one, in the
        // middle of the release.
        let problems = check::duplicate_keys(docs);
        if !problems.is_empty() {
            return Err(ManifestError::Duplicates { problems }.into());
        }
        let items = self.prepare(docs);
        let inventory: Vec<ObjectRef> = items.iter().map(|i| i.object.clone()).collect();
        let history = self.history().await?;
        let previous = history.iter().rev().find(|r| r.status == "deployed").cloned();
        let mut outcome = Outcome {
            release: self.opts.release.clone(),
            namespace: self.opts.namespace.clone(),
            revision: 0,
            dry_run: self.opts.dry_run || self.opts.diff,
            applied: inventory.clone(),
            pruned: Vec::new(),
            kept: Vec::new(),
            diff: None,
        };
        let old_inventory = previous.as_ref().map(|p| p.inventory.clone()).unwrap_or_default();
        if let Some(prev) = &previous
            && !self.opts.diff
        {
            self.check_shrink(prev, &inventory)?;
        }
        if self.opts.diff {
            outcome.diff = Some(self.diff(&items).await?);
            return Ok(outcome);
        }
        if self.opts.dry_run {
            self.apply_all(&items, true, &mut 0).await?;
            (outcome.pruned, outcome.kept) = self.prune(&old_inventory, &inventory, true).await?;
            return Ok(outcome);
        }

        let revision = history.last().map_or(1, |r| r.revision + 1);
        outcome.revision = revision;
        let manifests = render::to_yaml(&items.iter().map(|i| i.doc.clone()).collect::<Vec<_>>());
        let mut record = Record {
            version: HISTORY_VERSION,
            project: self.opts.project.clone(),
            release: self.opts.release.clone(),
            revision,
            status: "failed".into(),
            digests: self.opts.digests.clone(),
            inventory: inventory.clone(),
            manifests,
        };

        // The release is recorded once its outcome is known: before the apply, the
        // history's namespace may not exist yet (the manifests create it).
        let mut applied = 0;
        if let Err(cause) = self.roll_out(&items, &mut applied).await {
            if applied == 0 {
                // Nothing changed: nothing to record, nothing to roll back.
                return Err(cause);
            }
            if let Err(e) = self.record(&record).await {
                self.note(&format!("could not record the failed release: {e}"));
            }
            // A cluster that cannot be reached or does not answer will not take a rollback either.
            let gone = matches!(cause, DeployError::Unreachable { .. } | DeployError::CallTimeout { .. });
            let Some(prev) = previous.filter(|_| !gone) else {
                return Err(cause);
            };
            self.note(&format!("release {} failed: {cause}; rolling back to {}", self.opts.release, prev.release));
            return Err(match self.roll_back(&prev, &inventory).await {
                Ok(()) => DeployError::RolledBack {
                    release: self.opts.release.clone(),
                    previous: prev.release.clone(),
                    cause: Box::new(cause),
                },
                Err(e) => DeployError::RollbackFailed {
                    release: self.opts.release.clone(),
                    previous: prev.release.clone(),
                    rollback: Box::new(e),
                    cause: Box::new(cause),
                },
            });
        }

        (outcome.pruned, outcome.kept) = self.prune(&old_inventory, &inventory, false).await?;
        record.status = "deployed".into();
        self.record(&record).await?;
        self.trim(&history, revision).await?;
        Ok(outcome)
    }

    /// Refuse a release that would prune more than half of what `prev` applied, unless
    /// allowed: nothing has been applied or deleted yet.
    fn check_shrink(&self, prev: &Record, inventory: &[ObjectRef]) -> Result<(), DeployError> {
        let keep: std::collections::BTreeSet<&ObjectRef> = inventory.iter().collect();
        let gone = prev.inventory.iter().filter(|o| !keep.contains(o)).count();
        if self.opts.allow_shrink || gone * 2 <= prev.inventory.len() {
            return Ok(());
        }
        Err(DeployError::Shrink {
            previous: prev.release.clone(),
            before: prev.inventory.len(),
            gone,
            after: inventory.len(),
            sources: self.opts.sources.clone(),
        })
    }

    /// Re-apply the previous release's recorded manifests, wait, and prune what only the
    /// failed release added.
    async fn roll_back(&self, prev: &Record, failed_inventory: &[ObjectRef]) -> Result<(), DeployError> {
        let source = Path::new("release history");
        let docs = manifest::parse(&prev.manifests, source)?;
        let items = self.prepare(&docs);
        self.roll_out(&items, &mut 0).await?;
        self.prune(failed_inventory, &prev.inventory, false).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(kind: &str, name: &str) -> ObjectRef {
        ObjectRef { api_version: "v1".into(), kind: kind.into(), namespace: Some("shop".into()), name: name.into() }
    }

    fn outcome(diff: Option<&str>) -> Outcome {
        Outcome {
            release: "v1.2.0".into(),
            namespace: "shop".into(),
            revision: 3,
            dry_run: diff.is_some(),
            applied: vec![object("Service", "web"), object("ConfigMap", "new")],
            pruned: vec![object("ConfigMap", "old")],
            kept: vec![(object("ConfigMap", "foreign"), "it lacks the labels".into())],
            diff: diff.map(str::to_string),
        }
    }

    /// `hoist release` stores the outcome it printed and reads it back.
    #[test]
    fn an_outcome_reads_back_as_it_was_printed() {
        for o in [outcome(None), outcome(Some("--- Service/web -n shop (live)\n"))] {
            let json = serde_json::to_value(&o).unwrap();
            assert_eq!(json.get("diff").is_some(), o.diff.is_some(), "{json}");
            assert_eq!(serde_json::from_value::<Outcome>(json).unwrap(), o);
        }
    }

    /// The schema describes what is printed: the same fields, `diff` the only optional one.
    #[test]
    fn the_outcome_schema_names_every_printed_field() {
        let schema = serde_json::to_value(schemars::schema_for!(Outcome)).unwrap();
        let printed = serde_json::to_value(outcome(Some("x"))).unwrap();
        let mut properties: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        let mut fields: Vec<&String> = printed.as_object().unwrap().keys().collect();
        properties.sort();
        fields.sort();
        assert_eq!(properties, fields);
        let required: Vec<&str> = schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(!required.contains(&"diff"), "{required:?}");
        assert_eq!(required.len(), fields.len() - 1, "{required:?}");
        assert_eq!(schema["properties"]["revision"]["type"], "integer");
    }

    #[test]
    fn dns_label_makes_names_safe() {
        assert_eq!(dns_label("Shop_App"), "shop-app");
        assert_eq!(dns_label("__"), "hoist");
    }
}
