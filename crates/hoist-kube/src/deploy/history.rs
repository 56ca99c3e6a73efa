//! The release history: one Secret per release, `hoist-<project>-r<revision>`, labelled
//! `hoist.dev/history=<project>`, holding `release.json` (a [`Record`]: release, status,
//! digests, inventory and the format version) and `manifests.yaml` (the rendered, labelled
//! manifests that were applied). The previous release is the newest one marked deployed.
//!
//! The format is versioned ([`HISTORY_VERSION`]) so that an older hoist never reads, rolls
//! back to or prunes by a record it does not understand: it refuses it and says to upgrade.
//! Records written before the field existed have no `version` and read as version 1.

use std::collections::BTreeMap;

use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::core::ApiResource;
use serde::{Deserialize, Serialize};

use super::{Deployer, FIELD_MANAGER, HISTORY_LABEL, MANAGED_BY, dns_label};
use crate::error::DeployError;
use crate::manifest::ObjectRef;

/// The history format this hoist writes, and the newest it reads.
pub const HISTORY_VERSION: u32 = 1;

/// The key of a history Secret that holds the [`Record`] as JSON.
const RECORD_KEY: &str = "release.json";
/// The key of a history Secret that holds the applied manifests.
const MANIFESTS_KEY: &str = "manifests.yaml";

fn first_version() -> u32 {
    1
}

/// One release as recorded in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Record {
    /// The history format version ([`HISTORY_VERSION`] when written by this hoist); records
    /// from before the field existed have none and are version 1.
    #[serde(default = "first_version")]
    pub version: u32,
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

/// Read one history Secret; a record of a newer format is refused before its fields are
/// read, since they may mean something else there.
pub(super) fn decode(secret: &Secret, namespace: &str) -> Result<Record, DeployError> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let bad = |message: String| DeployError::History { namespace: namespace.into(), name: name.clone(), message };
    let empty = BTreeMap::new();
    let data = secret.data.as_ref().unwrap_or(&empty);
    let get = |key: &str| {
        data.get(key).map(|b| String::from_utf8_lossy(&b.0).into_owned()).ok_or_else(|| bad(format!("no `{key}` key")))
    };
    let json: serde_json::Value =
        serde_json::from_str(&get(RECORD_KEY)?).map_err(|e| bad(format!("{RECORD_KEY}: {e}")))?;
    let version = match json.get("version") {
        None => u64::from(first_version()),
        Some(v) => v
            .as_u64()
            .filter(|v| *v >= 1)
            .ok_or_else(|| bad(format!("{RECORD_KEY}: `version` is {v}, not a format version (1 or more)")))?,
    };
    if version > u64::from(HISTORY_VERSION) {
        return Err(DeployError::HistoryTooNew {
            namespace: namespace.into(),
            name: name.clone(),
            version,
            supported: HISTORY_VERSION,
        });
    }
    let mut record: Record = serde_json::from_value(json).map_err(|e| bad(format!("{RECORD_KEY}: {e}")))?;
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

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;

    use super::*;

    fn record() -> Record {
        Record {
            version: HISTORY_VERSION,
            project: "Shop_App".into(),
            release: "v1.2.0".into(),
            revision: 7,
            status: "deployed".into(),
            digests: BTreeMap::from([("api".into(), format!("sha256:{}", "a".repeat(64)))]),
            inventory: vec![ObjectRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                namespace: Some("shop".into()),
                name: "web".into(),
            }],
            manifests: "apiVersion: apps/v1\nkind: Deployment\n".into(),
        }
    }

    /// A Secret as the API server returns it: the apply body's `data`, decoded.
    fn as_listed(body: &serde_json::Value) -> Secret {
        let mut secret = Secret::default();
        secret.metadata.name = body["metadata"]["name"].as_str().map(str::to_string);
        let data = body["data"].as_object().unwrap();
        secret.data = Some(
            data.iter()
                .map(|(k, v)| {
                    let bytes = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap();
                    (k.clone(), ByteString(bytes))
                })
                .collect(),
        );
        secret
    }

    fn with_release_json(name: &str, json: &str) -> Secret {
        let mut secret = Secret::default();
        secret.metadata.name = Some(name.into());
        secret.data = Some(BTreeMap::from([
            (RECORD_KEY.into(), ByteString(json.as_bytes().to_vec())),
            (MANIFESTS_KEY.into(), ByteString(b"kind: ConfigMap\n".to_vec())),
        ]));
        secret
    }

    #[test]
    fn a_record_round_trips_through_its_secret_with_the_current_version() {
        let body = encode(&record(), "shop");
        assert_eq!(body["metadata"]["name"], "hoist-shop-app-r7");
        assert_eq!(body["metadata"]["labels"][HISTORY_LABEL], "shop-app");
        let secret = as_listed(&body);
        let stored: serde_json::Value = serde_json::from_slice(&secret.data.as_ref().unwrap()[RECORD_KEY].0).unwrap();
        assert_eq!(stored["version"], HISTORY_VERSION);
        assert_eq!(decode(&secret, "shop").unwrap(), record());
    }

    #[test]
    fn a_record_without_a_version_reads_as_version_1() {
        let json = r#"{"project":"shop","release":"v1","revision":1,"status":"deployed","digests":{},"inventory":[]}"#;
        let r = decode(&with_release_json("hoist-shop-r1", json), "shop").unwrap();
        assert_eq!((r.version, r.release.as_str(), r.manifests.as_str()), (1, "v1", "kind: ConfigMap\n"));
    }

    #[test]
    fn a_newer_format_is_refused_naming_the_secret_and_saying_to_upgrade() {
        // A newer hoist may change any field: only the version is read.
        let json = r#"{"version":2,"release":{"tag":"v9"},"inventory":"elsewhere"}"#;
        let err = decode(&with_release_json("hoist-shop-r9", json), "shop").unwrap_err();
        let DeployError::HistoryTooNew { namespace, name, version, supported } = &err else { panic!("{err:?}") };
        assert_eq!((namespace.as_str(), name.as_str(), *version, *supported), ("shop", "hoist-shop-r9", 2, 1));
        let text = err.to_string();
        assert!(text.contains("Secret hoist-shop-r9 in namespace shop"), "{text}");
        assert!(text.contains("upgrade hoist"), "{text}");
        assert_eq!(hoist_diag::Diagnostic::exit(&err), hoist_diag::Exit::User);
    }

    #[test]
    fn a_version_that_is_not_a_format_version_is_unreadable() {
        for v in ["0", "-1", "\"1\"", "1.5"] {
            let json = format!(
                r#"{{"version":{v},"project":"shop","release":"v1","revision":1,"status":"deployed","digests":{{}},"inventory":[]}}"#
            );
            let err = decode(&with_release_json("hoist-shop-r1", &json), "shop").unwrap_err();
            assert!(matches!(&err, DeployError::History { name, .. } if name == "hoist-shop-r1"), "{v}: {err:?}");
            assert!(err.to_string().contains("`version`"), "{v}: {err}");
        }
    }
}
