//! Deploy: server-side apply in kind order (field manager `hoist`), rollout wait, release
//! history in the namespace, rollback to the previous release, and label-checked prune.
//!
//! Only kube-rs's public client API is used (`Api<DynamicObject>`, `Patch::Apply`,
//! `discovery::pinned_kind`), so the same code runs against a real cluster and against
//! the fake API server in the tests. Built-in kinds take their plural and scope from
//! k8s-openapi instead of a discovery round-trip; custom kinds ask the cluster.
//!
//! Every API call runs inside a deadline of its own ([`CALL_TIMEOUT`], at most the rollout
//! timeout), on top of the client's connect/read/write timeouts, so a server that answers
//! one byte at a time cannot hang a deploy; the rollout wait has its own deadline.
//!
//! History: one Secret per release, `hoist-<project>-r<revision>`, labelled
//! `hoist.dev/history=<project>`, holding the rendered (labelled) manifests, the digests
//! and the inventory of objects. The previous release is the newest one marked deployed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde::{Deserialize, Serialize};

use crate::error::DeployError;
use crate::kinds;
use crate::manifest::{self, Document, ObjectRef};
use crate::render;
use crate::status::{self, Rollout};

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
            progress: Arc::new(|_| {}),
        }
    }
}

/// What a deploy did (or, with `--dry-run`/`--diff`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub release: String,
    pub namespace: String,
    /// 0 in a dry run.
    pub revision: u64,
    pub dry_run: bool,
    pub applied: Vec<ObjectRef>,
    pub pruned: Vec<ObjectRef>,
    /// Objects of the previous release that are gone from the manifests but were not
    /// deleted, with the reason.
    pub kept: Vec<(ObjectRef, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// One release as recorded in the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub project: String,
    pub release: String,
    pub revision: u64,
    /// `deployed` or `failed`.
    pub status: String,
    pub digests: BTreeMap<String, String>,
    pub inventory: Vec<ObjectRef>,
    /// The rendered, labelled manifests that were applied.
    #[serde(skip)]
    pub manifests: String,
}

/// A document ready to apply, with its API resource once known.
#[derive(Debug, Clone)]
struct Item {
    doc: Document,
    object: ObjectRef,
}

/// Deploy rendered documents (in apply order) to the cluster.
pub async fn deploy(cluster: &Cluster, docs: &[Document], opts: &Options) -> Result<Outcome, DeployError> {
    let d = Deployer { cluster, opts };
    d.run(docs).await
}

struct Deployer<'a> {
    cluster: &'a Cluster,
    opts: &'a Options,
}

/// `kubectl auth can-i` spelling: `deployments.apps`, `secrets`.
fn resource_name(ar: &ApiResource) -> String {
    if ar.group.is_empty() { ar.plural.clone() } else { format!("{}.{}", ar.plural, ar.group) }
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

    fn map_err(&self, verb: &str, ar: &ApiResource, ns: Option<&str>, object: &str, e: kube::Error) -> DeployError {
        match e {
            kube::Error::Api(s) if s.code == 403 => DeployError::Forbidden {
                verb: verb.into(),
                resource: resource_name(ar),
                namespace: ns.map(str::to_string),
                message: s.message.clone(),
            },
            kube::Error::Api(s) if s.code == 409 => {
                DeployError::Conflict { object: object.into(), message: s.message.clone() }
            }
            kube::Error::Api(s) => DeployError::Rejected {
                verb: verb.into(),
                object: object.into(),
                code: s.code,
                message: s.message.clone(),
            },
            e @ (kube::Error::HyperError(_) | kube::Error::Service(_)) => DeployError::Unreachable {
                context: self.cluster.context.clone(),
                url: self.cluster.url.clone(),
                source: e,
            },
            e => DeployError::Api { verb: verb.into(), object: object.into(), source: e },
        }
    }

    /// Run one API call inside its deadline.
    async fn within<T>(
        &self,
        verb: &str,
        object: &str,
        call: impl std::future::Future<Output = Result<T, DeployError>>,
    ) -> Result<T, DeployError> {
        let limit = self.opts.call_timeout.min(self.opts.timeout);
        tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
            Err(DeployError::CallTimeout {
                verb: verb.into(),
                object: object.into(),
                seconds: limit.as_secs_f64(),
                context: self.cluster.context.clone(),
                url: self.cluster.url.clone(),
            })
        })
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.cluster.client.clone(), &self.opts.namespace)
    }

    fn secret_resource() -> ApiResource {
        ApiResource::erase::<Secret>(&())
    }

    fn history_selector(&self) -> String {
        format!("{HISTORY_LABEL}={}", dns_label(&self.opts.project))
    }

    /// Every recorded release, oldest first.
    async fn history(&self) -> Result<Vec<Record>, DeployError> {
        let ns = &self.opts.namespace;
        let call = async {
            self.secrets()
                .list(&ListParams::default().labels(&self.history_selector()))
                .await
                .map_err(|e| self.map_err("list", &Self::secret_resource(), Some(ns), "release history", e))
        };
        let list = self.within("list", "release history", call).await?;
        let mut out = Vec::new();
        for secret in list.items {
            let name = secret.metadata.name.clone().unwrap_or_default();
            let bad = |message: String| DeployError::History { namespace: ns.clone(), name: name.clone(), message };
            let data = secret.data.unwrap_or_default();
            let get = |key: &str| {
                data.get(key)
                    .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                    .ok_or_else(|| bad(format!("no `{key}` key")))
            };
            let mut record: Record =
                serde_json::from_str(&get("release.json")?).map_err(|e| bad(format!("release.json: {e}")))?;
            record.manifests = get("manifests.yaml")?;
            out.push(record);
        }
        out.sort_by_key(|r| r.revision);
        Ok(out)
    }

    fn history_name(&self, revision: u64) -> String {
        format!("hoist-{}-r{revision}", dns_label(&self.opts.project))
    }

    async fn record(&self, record: &Record) -> Result<(), DeployError> {
        use base64::Engine;
        let name = self.history_name(record.revision);
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        let json = serde_json::to_string(record).expect("a record serialises");
        let secret = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": self.opts.namespace,
                "labels": {
                    MANAGED_BY.0: MANAGED_BY.1,
                    HISTORY_LABEL: dns_label(&self.opts.project),
                    "hoist.dev/revision": record.revision.to_string(),
                    "hoist.dev/status": record.status,
                },
            },
            "type": "hoist.dev/release",
            "data": {"release.json": b64(&json), "manifests.yaml": b64(&record.manifests)},
        });
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let call = async {
            self.secrets()
                .patch(&name, &pp, &Patch::Apply(&secret))
                .await
                .map_err(|e| self.map_err("patch", &Self::secret_resource(), Some(&self.opts.namespace), &name, e))
        };
        self.within("patch", &name, call).await?;
        Ok(())
    }

    /// Label the documents and give namespaced ones their namespace.
    fn prepare(&self, docs: &[Document]) -> Vec<Item> {
        docs.iter()
            .map(|doc| {
                let mut doc = doc.clone();
                let labels = doc.labels_mut();
                labels.insert(MANAGED_BY.0, crate::yaml::Value::String(MANAGED_BY.1.into()));
                labels.insert(PROJECT_LABEL, crate::yaml::Value::String(dns_label(&self.opts.project)));
                let object = doc.object_ref(&self.opts.namespace);
                if let Some(ns) = &object.namespace
                    && doc.namespace().is_none()
                    && let Some(meta) =
                        doc.value.as_map_mut().and_then(|m| m.get_mut("metadata")).and_then(|m| m.as_map_mut())
                {
                    meta.insert("namespace", crate::yaml::Value::String(ns.clone()));
                }
                Item { doc, object }
            })
            .collect()
    }

    /// The API resource of an object: built-in from k8s-openapi, custom from the cluster.
    async fn resource(&self, object: &ObjectRef) -> Result<(ApiResource, bool), DeployError> {
        if let Some(k) = kinds::lookup(&object.api_version, &object.kind) {
            return Ok((k.resource, k.namespaced));
        }
        let (group, version) = match object.api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", object.api_version.as_str()),
        };
        let gvk = GroupVersionKind::gvk(group, version, &object.kind);
        let discovery = async { Ok(kube::discovery::pinned_kind(&self.cluster.client, &gvk).await) };
        match self.within("discover", &object.to_string(), discovery).await? {
            Ok((ar, caps)) => Ok((ar, caps.scope == kube::discovery::Scope::Namespaced)),
            Err(e @ (kube::Error::HyperError(_) | kube::Error::Service(_))) => Err(DeployError::Unreachable {
                context: self.cluster.context.clone(),
                url: self.cluster.url.clone(),
                source: e,
            }),
            Err(e) => Err(DeployError::UnknownKind {
                api_version: object.api_version.clone(),
                kind: object.kind.clone(),
                object: object.to_string(),
                source: e,
            }),
        }
    }

    async fn api(&self, object: &ObjectRef) -> Result<(Api<DynamicObject>, ApiResource, Option<String>), DeployError> {
        let (ar, namespaced) = self.resource(object).await?;
        let ns = if namespaced {
            Some(object.namespace.clone().unwrap_or_else(|| self.opts.namespace.clone()))
        } else {
            None
        };
        let api = match &ns {
            Some(ns) => Api::namespaced_with(self.cluster.client.clone(), ns, &ar),
            None => Api::all_with(self.cluster.client.clone(), &ar),
        };
        Ok((api, ar, ns))
    }

    /// Server-side apply one object; returns what the server made of it.
    async fn apply(&self, item: &Item, dry_run: bool) -> Result<DynamicObject, DeployError> {
        let (api, ar, ns) = self.api(&item.object).await?;
        let mut pp = PatchParams::apply(FIELD_MANAGER);
        if self.opts.force_conflicts {
            pp = pp.force();
        }
        if dry_run {
            pp = pp.dry_run();
        }
        let json = item.doc.value.to_json();
        let object = item.object.to_string();
        let call = async {
            api.patch(&item.object.name, &pp, &Patch::Apply(&json))
                .await
                .map_err(|e| self.map_err("patch", &ar, ns.as_deref(), &object, e))
        };
        self.within("patch", &object, call).await
    }

    async fn get(&self, object: &ObjectRef) -> Result<Option<DynamicObject>, DeployError> {
        let (api, ar, ns) = self.api(object).await?;
        let name = object.to_string();
        let call =
            async { api.get_opt(&object.name).await.map_err(|e| self.map_err("get", &ar, ns.as_deref(), &name, e)) };
        self.within("get", &name, call).await
    }

    /// Wait until every object that has a rollout is done, within one deadline.
    async fn wait(&self, objects: &[ObjectRef], deadline: tokio::time::Instant) -> Result<(), DeployError> {
        for object in objects.iter().filter(|o| status::waits_for(&o.kind)) {
            let mut last = String::new();
            loop {
                let live = self.get(object).await?.ok_or_else(|| DeployError::Failed {
                    object: object.to_string(),
                    reason: "it disappeared while waiting for its rollout".into(),
                })?;
                let json = serde_json::to_value(&live).expect("an object serialises");
                match status::rollout(&object.kind, &json) {
                    Rollout::Done => {
                        self.note(&format!("{object}: ready"));
                        break;
                    }
                    Rollout::Failed(reason) => return Err(DeployError::Failed { object: object.to_string(), reason }),
                    Rollout::Progressing(what) => {
                        if what != last {
                            self.note(&format!("{object}: {what}"));
                            last = what;
                        }
                    }
                }
                if tokio::time::Instant::now() + self.opts.poll > deadline {
                    return Err(DeployError::Timeout {
                        object: object.to_string(),
                        seconds: self.opts.timeout.as_secs(),
                        last,
                    });
                }
                tokio::time::sleep(self.opts.poll).await;
            }
        }
        Ok(())
    }

    /// Apply in order; CRDs are waited for (Established) before the objects after them.
    async fn apply_all(&self, items: &[Item], dry_run: bool, applied: &mut usize) -> Result<(), DeployError> {
        let mut crds = Vec::new();
        for (i, item) in items.iter().enumerate() {
            self.apply(item, dry_run).await?;
            *applied += 1;
            if !dry_run {
                self.note(&format!("applied {}", item.object));
            }
            if item.object.kind == "CustomResourceDefinition" {
                crds.push(item.object.clone());
                let next_is_crd = items.get(i + 1).is_some_and(|n| n.object.kind == "CustomResourceDefinition");
                if !dry_run && !next_is_crd {
                    self.wait(&std::mem::take(&mut crds), tokio::time::Instant::now() + self.opts.timeout).await?;
                }
            }
        }
        Ok(())
    }

    /// Apply and wait for a set of items; `applied` counts the objects changed so far.
    async fn roll_out(&self, items: &[Item], applied: &mut usize) -> Result<(), DeployError> {
        self.apply_all(items, false, applied).await?;
        let objects: Vec<ObjectRef> = items.iter().map(|i| i.object.clone()).collect();
        let deadline = tokio::time::Instant::now() + self.opts.timeout;
        self.wait(&objects, deadline).await
    }

    /// Delete what `old` had and `new` does not, where the live object carries hoist's
    /// labels for this project; everything else is kept and reported.
    async fn prune(
        &self,
        old: &[ObjectRef],
        new: &[ObjectRef],
        dry_run: bool,
    ) -> Result<(Vec<ObjectRef>, Vec<(ObjectRef, String)>), DeployError> {
        let keep: BTreeSet<&ObjectRef> = new.iter().collect();
        let mut pruned = Vec::new();
        let mut kept = Vec::new();
        // Reverse apply order: workloads before the claims and namespaces they use.
        for object in old.iter().rev().filter(|o| !keep.contains(o)) {
            let Some(live) = self.get(object).await? else { continue };
            let labels = live.metadata.labels.clone().unwrap_or_default();
            let ours = labels.get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1)
                && labels.get(PROJECT_LABEL) == Some(&dns_label(&self.opts.project));
            if !ours {
                kept.push((
                    object.clone(),
                    format!("it lacks the labels {}={} and {PROJECT_LABEL}", MANAGED_BY.0, MANAGED_BY.1),
                ));
                continue;
            }
            let (api, ar, ns) = self.api(object).await?;
            let mut dp = DeleteParams::background();
            if dry_run {
                dp = dp.dry_run();
            }
            let name = object.to_string();
            let call = async {
                api.delete(&object.name, &dp).await.map_err(|e| self.map_err("delete", &ar, ns.as_deref(), &name, e))
            };
            self.within("delete", &name, call).await?;
            if !dry_run {
                self.note(&format!("pruned {object}"));
            }
            pruned.push(object.clone());
        }
        Ok((pruned, kept))
    }

    async fn diff(&self, items: &[Item]) -> Result<String, DeployError> {
        let mut out = String::new();
        for item in items {
            let live = self.get(&item.object).await?;
            let after = self.apply(item, true).await?;
            let before = live.map(|l| comparable(&serde_json::to_value(&l).expect("serialises"))).unwrap_or_default();
            let after = comparable(&serde_json::to_value(&after).expect("serialises"));
            if before != after {
                out.push_str(&format!("--- {0} (live)\n+++ {0} (release)\n", item.object));
                out.push_str(&line_diff(&before, &after));
            }
        }
        Ok(out)
    }

    async fn run(&self, docs: &[Document]) -> Result<Outcome, DeployError> {
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
        if self.opts.diff {
            outcome.diff = Some(self.diff(&items).await?);
            return Ok(outcome);
        }
        if self.opts.dry_run {
            self.apply_all(&items, true, &mut 0).await?;
            let (pruned, kept) = self.prune(&old_inventory, &inventory, true).await?;
            outcome.pruned = pruned;
            outcome.kept = kept;
            return Ok(outcome);
        }

        let revision = history.last().map_or(1, |r| r.revision + 1);
        outcome.revision = revision;
        let manifests = render::to_yaml(&items.iter().map(|i| i.doc.clone()).collect::<Vec<_>>());
        let mut record = Record {
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

        let (pruned, kept) = self.prune(&old_inventory, &inventory, false).await?;
        outcome.pruned = pruned;
        outcome.kept = kept;
        record.status = "deployed".into();
        self.record(&record).await?;
        self.trim(&history, revision).await?;
        Ok(outcome)
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

    /// Keep the newest `keep` history Secrets.
    async fn trim(&self, history: &[Record], newest: u64) -> Result<(), DeployError> {
        let cutoff = newest.saturating_sub(self.opts.keep as u64);
        for r in history.iter().filter(|r| r.revision <= cutoff) {
            let name = self.history_name(r.revision);
            let call = async {
                self.secrets()
                    .delete(&name, &DeleteParams::default())
                    .await
                    .map_err(|e| self.map_err("delete", &Self::secret_resource(), Some(&self.opts.namespace), &name, e))
            };
            self.within("delete", &name, call).await?;
        }
        Ok(())
    }
}

/// An object as YAML without the fields the server owns, for a readable diff.
fn comparable(obj: &serde_json::Value) -> String {
    let mut obj = obj.clone();
    if let Some(meta) = obj.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        for key in ["managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"] {
            meta.remove(key);
        }
    }
    if let Some(o) = obj.as_object_mut() {
        o.remove("status");
    }
    serde_saphyr::to_string(&crate::yaml::Value::from_json(&obj)).expect("serialises")
}

/// A unified-style line diff (`-`, `+`, ` `) from the longest common subsequence; objects
/// are small, so the quadratic table is fine and saves a dependency.
pub fn line_diff(before: &str, after: &str) -> String {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!(" {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_diff_marks_changes() {
        assert_eq!(line_diff("a\nb\nc\n", "a\nx\nc\n"), " a\n-b\n+x\n c\n");
        assert_eq!(line_diff("", "a\n"), "+a\n");
    }

    #[test]
    fn dns_label_makes_names_safe() {
        assert_eq!(dns_label("Shop_App"), "shop-app");
        assert_eq!(dns_label("__"), "hoist");
    }
}
