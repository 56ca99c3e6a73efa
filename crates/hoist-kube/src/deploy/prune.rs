//! Prune: delete what the previous release had and this one does not, but only objects
//! whose live labels say hoist applied them for this project; the rest is kept and reported.

use std::collections::BTreeSet;

use kube::api::DeleteParams;

use super::{Deployer, MANAGED_BY, PROJECT_LABEL, dns_label};
use crate::error::DeployError;
use crate::manifest::ObjectRef;

/// What a prune deleted, and what it kept with the reason.
pub(super) type Pruned = (Vec<ObjectRef>, Vec<(ObjectRef, String)>);

impl Deployer<'_> {
    /// Delete what `old` had and `new` does not, where the live object carries hoist's
    /// labels for this project; everything else is kept and reported.
    pub(super) async fn prune(
        &self,
        old: &[ObjectRef],
        new: &[ObjectRef],
        dry_run: bool,
    ) -> Result<Pruned, DeployError> {
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
}
