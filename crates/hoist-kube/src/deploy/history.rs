//! The release history: one Secret per release, `hoist-<project>-r<revision>`, labelled
//! `hoist.dev/history=<project>`, holding `release.json` (a [`Record`]: release, status,
//! digests and inventory) and `manifests.yaml` (the rendered, labelled manifests that were
//! applied). The previous release is the newest one marked deployed.

use std::collections::BTreeMap;

use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::core::ApiResource;
use serde::{Deserialize, Serialize};

use super::{Deployer, FIELD_MANAGER, HISTORY_LABEL, MANAGED_BY, dns_label};
use crate::error::DeployError;
use crate::manifest::ObjectRef;

/// The key of a history Secret that holds the [`Record`] as JSON.
const RECORD_KEY: &str = "release.json";
/// The key of a history Secret that holds the applied manifests.
const MANIFESTS_KEY: &str = "manifests.yaml";

/// One release as recorded in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Record {
    pub project: String,
    pub release: String,
    pub revision: u64,
    /// `deployed` or `failed`.
    pub status: String,
    pub digests: BTreeMap<String, String>,
    pub inventory: Vec<ObjectRef>,
    /// The rendered, labelled manifests that were applied (stored beside the JSON).
    #[serde(skip)]
    pub manifests: String,
}

/// The Secret's name for a project's revision.
pub(super) fn secret_name(project: &str, revision: u64) -> String {
    format!("hoist-{}-r{revision}", dns_label(project))
}

/// The history Secret that records `record`, as a server-side apply body.
pub(super) fn encode(record: &Record, namespace: &str) -> serde_json::Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let json = serde_json::to_string(record).expect("a record serialises");
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(&record.project, record.revision),
            "namespace": namespace,
            "labels": {
                MANAGED_BY.0: MANAGED_BY.1,
                HISTORY_LABEL: dns_label(&record.project),
                "hoist.dev/revision": record.revision.to_string(),
                "hoist.dev/status": record.status,
            },
        },
        "type": "hoist.dev/release",
        "data": {RECORD_KEY: b64(&json), MANIFESTS_KEY: b64(&record.manifests)},
    })
}

/// Read one history Secret.
pub(super) fn decode(secret: &Secret, namespace: &str) -> Result<Record, DeployError> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let bad = |message: String| DeployError::History { namespace: namespace.into(), name: name.clone(), message };
    let empty = BTreeMap::new();
    let data = secret.data.as_ref().unwrap_or(&empty);
    let get = |key: &str| {
        data.get(key).map(|b| String::from_utf8_lossy(&b.0).into_owned()).ok_or_else(|| bad(format!("no `{key}` key")))
    };
    let mut record: Record = serde_json::from_str(&get(RECORD_KEY)?).map_err(|e| bad(format!("{RECORD_KEY}: {e}")))?;
    record.manifests = get(MANIFESTS_KEY)?;
    Ok(record)
}

impl Deployer<'_> {
    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.cluster.client.clone(), &self.opts.namespace)
    }

    fn secret_resource() -> ApiResource {
        ApiResource::erase::<Secret>(&())
    }

    /// Every recorded release, oldest first.
    pub(super) async fn history(&self) -> Result<Vec<Record>, DeployError> {
        let ns = &self.opts.namespace;
        let selector = format!("{HISTORY_LABEL}={}", dns_label(&self.opts.project));
        let call = async {
            self.secrets()
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| self.map_err("list", &Self::secret_resource(), Some(ns), "release history", e))
        };
        let list = self.within("list", "release history", call).await?;
        let mut out = list.items.iter().map(|s| decode(s, ns)).collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|r| r.revision);
        Ok(out)
    }

    /// Write (or overwrite) the release's history Secret.
    pub(super) async fn record(&self, record: &Record) -> Result<(), DeployError> {
        let name = secret_name(&record.project, record.revision);
        let secret = encode(record, &self.opts.namespace);
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

    /// Keep the newest `keep` history Secrets.
    pub(super) async fn trim(&self, history: &[Record], newest: u64) -> Result<(), DeployError> {
        let cutoff = newest.saturating_sub(self.opts.keep as u64);
        for r in history.iter().filter(|r| r.revision <= cutoff) {
            let name = secret_name(&self.opts.project, r.revision);
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
