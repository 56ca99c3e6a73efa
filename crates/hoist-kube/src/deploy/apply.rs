//! Apply: label the documents, put them in kind order, server-side apply them one by one
//! (field manager `hoist`), and wait for their rollouts within one deadline.

use kube::api::{DynamicObject, Patch, PatchParams};

use super::{Deployer, FIELD_MANAGER, MANAGED_BY, PROJECT_LABEL, dns_label};
use crate::error::DeployError;
use crate::manifest::{Document, ObjectRef};
use crate::order;
use crate::status::{self, Rollout};
use crate::yaml::Value;

/// A document ready to apply, and the object it is.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) doc: Document,
    pub(super) object: ObjectRef,
}

impl Deployer<'_> {
    /// The documents in apply order ([`order::sort`], the order `render` gives), labelled as
    /// this project's, namespaced ones given the deploy namespace when they name none.
    ///
    /// The order is set here, not trusted from the caller: a Deployment applied before its
    /// Namespace fails, and CRDs must come before their custom resources.
    pub(super) fn prepare(&self, docs: &[Document]) -> Vec<Item> {
        let mut docs = docs.to_vec();
        order::sort(&mut docs);
        docs.into_iter()
            .map(|mut doc| {
                let labels = doc.labels_mut();
                labels.insert(MANAGED_BY.0, Value::String(MANAGED_BY.1.into()));
                labels.insert(PROJECT_LABEL, Value::String(dns_label(&self.opts.project)));
                let object = doc.object_ref(&self.opts.namespace);
                if let Some(ns) = &object.namespace
                    && doc.namespace().is_none()
                    && let Some(meta) =
                        doc.value.as_map_mut().and_then(|m| m.get_mut("metadata")).and_then(|m| m.as_map_mut())
                {
                    meta.insert("namespace", Value::String(ns.clone()));
                }
                Item { doc, object }
            })
            .collect()
    }

    /// Server-side apply one object; returns what the server made of it.
    pub(super) async fn apply(&self, item: &Item, dry_run: bool) -> Result<DynamicObject, DeployError> {
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

    /// Wait until every object that has a rollout is done, within one deadline.
    pub(super) async fn wait(&self, objects: &[ObjectRef], deadline: tokio::time::Instant) -> Result<(), DeployError> {
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
    pub(super) async fn apply_all(
        &self,
        items: &[Item],
        dry_run: bool,
        applied: &mut usize,
    ) -> Result<(), DeployError> {
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
    pub(super) async fn roll_out(&self, items: &[Item], applied: &mut usize) -> Result<(), DeployError> {
        self.apply_all(items, false, applied).await?;
        let objects: Vec<ObjectRef> = items.iter().map(|i| i.object.clone()).collect();
        let deadline = tokio::time::Instant::now() + self.opts.timeout;
        self.wait(&objects, deadline).await
    }
}
