//! The built-in kinds hoist knows from k8s-openapi: their API resource (plural, scope) for
//! applying without a discovery round-trip, and a typed check of each document.
//!
//! Kinds not in this table (custom resources) are resolved at deploy time with
//! `kube::discovery::pinned_kind` and pass through render unchecked.

use std::any::TypeId;

use k8s_openapi::api::{apps, autoscaling, batch, core, networking, policy, rbac, scheduling, storage};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::{NamespaceResourceScope, Resource};
use kube::core::ApiResource;

/// What hoist knows about one built-in kind.
#[derive(Debug, Clone)]
pub struct Known {
    pub resource: ApiResource,
    pub namespaced: bool,
    validate: fn(serde_json::Value) -> Result<(), (String, String)>,
}

fn validate_as<T: serde::de::DeserializeOwned>(json: serde_json::Value) -> Result<(), (String, String)> {
    serde_path_to_error::deserialize::<_, T>(json).map(drop).map_err(|e| {
        let field = e.path().to_string();
        (if field == "." { String::new() } else { field }, e.into_inner().to_string())
    })
}

fn known<T>() -> Known
where
    T: Resource + kube::Resource<DynamicType = ()> + serde::de::DeserializeOwned + 'static,
{
    Known {
        resource: ApiResource::erase::<T>(&()),
        namespaced: TypeId::of::<<T as Resource>::Scope>() == TypeId::of::<NamespaceResourceScope>(),
        validate: validate_as::<T>,
    }
}

macro_rules! table {
    ($($t:ty),* $(,)?) => {
        /// The built-in kind with this `apiVersion` and `kind`, if hoist knows it.
        pub fn lookup(api_version: &str, kind: &str) -> Option<Known> {
            $(
                if <$t as Resource>::API_VERSION == api_version && <$t as Resource>::KIND == kind {
                    return Some(known::<$t>());
                }
            )*
            None
        }
    };
}

table!(
    core::v1::Namespace,
    core::v1::ResourceQuota,
    core::v1::LimitRange,
    core::v1::ServiceAccount,
    core::v1::Secret,
    core::v1::ConfigMap,
    core::v1::PersistentVolume,
    core::v1::PersistentVolumeClaim,
    core::v1::Service,
    core::v1::Pod,
    core::v1::ReplicationController,
    core::v1::Endpoints,
    apps::v1::Deployment,
    apps::v1::StatefulSet,
    apps::v1::DaemonSet,
    apps::v1::ReplicaSet,
    batch::v1::Job,
    batch::v1::CronJob,
    networking::v1::Ingress,
    networking::v1::IngressClass,
    networking::v1::NetworkPolicy,
    policy::v1::PodDisruptionBudget,
    rbac::v1::Role,
    rbac::v1::RoleBinding,
    rbac::v1::ClusterRole,
    rbac::v1::ClusterRoleBinding,
    storage::v1::StorageClass,
    scheduling::v1::PriorityClass,
    autoscaling::v2::HorizontalPodAutoscaler,
    CustomResourceDefinition,
);

/// Whether a built-in kind is namespaced; `None` for kinds hoist does not know.
pub fn is_namespaced(api_version: &str, kind: &str) -> Option<bool> {
    lookup(api_version, kind).map(|k| k.namespaced)
}

/// Deserialize `json` into its Kubernetes type; unknown kinds pass. The error is
/// `(field path, message)`.
pub fn validate(api_version: &str, kind: &str, json: serde_json::Value) -> Result<(), (String, String)> {
    match lookup(api_version, kind) {
        Some(k) => (k.validate)(json),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_scope_and_plural_of_built_in_kinds() {
        let d = lookup("apps/v1", "Deployment").unwrap();
        assert!(d.namespaced);
        assert_eq!(d.resource.plural, "deployments");
        let pv = lookup("v1", "PersistentVolume").unwrap();
        assert!(!pv.namespaced);
        assert_eq!(pv.resource.plural, "persistentvolumes");
        assert!(!lookup("v1", "Namespace").unwrap().namespaced);
        assert!(!lookup("apiextensions.k8s.io/v1", "CustomResourceDefinition").unwrap().namespaced);
        assert!(lookup("apps/v1beta1", "Deployment").is_none());
        assert!(lookup("example.com/v1", "Widget").is_none());
    }

    #[test]
    fn validation_names_the_field() {
        let bad = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"replicas": "two", "selector": {}, "template": {}}
        });
        let (field, message) = validate("apps/v1", "Deployment", bad).unwrap_err();
        assert_eq!(field, "spec.replicas");
        assert!(message.contains("invalid type"), "{message}");
    }
}
