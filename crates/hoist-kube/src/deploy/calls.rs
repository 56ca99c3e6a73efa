//! One API call: its deadline, its typed error, and the API resource of the object it is for.
//!
//! Every call runs inside a deadline of its own ([`super::CALL_TIMEOUT`], at most the rollout
//! timeout), on top of the client's connect/read/write timeouts, so a server that answers
//! one byte at a time cannot hang a deploy.

use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};

use super::Deployer;
use crate::error::DeployError;
use crate::kinds;
use crate::manifest::ObjectRef;

/// `kubectl auth can-i` spelling: `deployments.apps`, `secrets`.
fn resource_name(ar: &ApiResource) -> String {
    if ar.group.is_empty() { ar.plural.clone() } else { format!("{}.{}", ar.plural, ar.group) }
}

impl Deployer<'_> {
    pub(super) fn map_err(
        &self,
        verb: &str,
        ar: &ApiResource,
        ns: Option<&str>,
        object: &str,
        e: kube::Error,
    ) -> DeployError {
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
    pub(super) async fn within<T>(
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

    /// The dynamic API for an object, its resource, and the namespace it lives in.
    pub(super) async fn api(
        &self,
        object: &ObjectRef,
    ) -> Result<(Api<DynamicObject>, ApiResource, Option<String>), DeployError> {
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

    /// The live object, or `None` when the cluster has none.
    pub(super) async fn get(&self, object: &ObjectRef) -> Result<Option<DynamicObject>, DeployError> {
        let (api, ar, ns) = self.api(object).await?;
        let name = object.to_string();
        let call =
            async { api.get_opt(&object.name).await.map_err(|e| self.map_err("get", &ar, ns.as_deref(), &name, e)) };
        self.within("get", &name, call).await
    }
}
