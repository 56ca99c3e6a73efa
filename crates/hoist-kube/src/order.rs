//! Apply order: Helm's `InstallOrder` (helm/helm `pkg/release/util/kind_sorter.go`), a
//! stable sort, unknown kinds last.
//!
//! Helm sorts unknown kinds alphabetically among themselves; hoist keeps them in the
//! author's order instead, so that a custom resource the author put after another keeps
//! that place. CRDs sort before every custom resource because custom kinds are unknown.

use crate::manifest::Document;

/// Helm 4's `InstallOrder`.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// The rank of a kind in [`INSTALL_ORDER`]; unknown kinds rank after all of them.
pub fn rank(kind: &str) -> usize {
    INSTALL_ORDER.iter().position(|k| *k == kind).unwrap_or(INSTALL_ORDER.len())
}

/// Sort documents into apply order; equal kinds keep their input order.
pub fn sort(docs: &mut [Document]) {
    docs.sort_by_key(|d| rank(d.kind()));
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn kinds_after_sort(kinds: &[(&str, &str, &str)]) -> Vec<String> {
        let text: String = kinds
            .iter()
            .map(|(api, kind, name)| format!("apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n---\n"))
            .collect();
        let values: Vec<crate::yaml::Value> = serde_saphyr::from_multiple(&text).unwrap();
        let mut docs: Vec<Document> = values
            .into_iter()
            .enumerate()
            .map(|(index, value)| Document { source: PathBuf::from("t.yaml"), index, value })
            .collect();
        sort(&mut docs);
        docs.iter().map(|d| format!("{}/{}", d.kind(), d.name())).collect()
    }

    #[test]
    fn table() {
        let cases: &[(&[(&str, &str, &str)], &[&str])] = &[
            // The example's shape, given in the worst order.
            (
                &[
                    ("apps/v1", "Deployment", "web"),
                    ("v1", "Service", "web"),
                    ("v1", "PersistentVolumeClaim", "data"),
                    ("v1", "PersistentVolume", "data"),
                    ("v1", "Namespace", "shop"),
                ],
                &[
                    "Namespace/shop",
                    "PersistentVolume/data",
                    "PersistentVolumeClaim/data",
                    "Service/web",
                    "Deployment/web",
                ],
            ),
            // Helm's order puts Pod before Deployment, Job and CronJob after StatefulSet, Ingress late.
            (
                &[
                    ("networking.k8s.io/v1", "Ingress", "in"),
                    ("batch/v1", "CronJob", "cj"),
                    ("batch/v1", "Job", "j"),
                    ("apps/v1", "StatefulSet", "ss"),
                    ("apps/v1", "Deployment", "d"),
                    ("v1", "Pod", "p"),
                ],
                &["Pod/p", "Deployment/d", "StatefulSet/ss", "Job/j", "CronJob/cj", "Ingress/in"],
            ),
            // Config and secrets before the workloads that mount them.
            (
                &[("apps/v1", "Deployment", "d"), ("v1", "Secret", "s"), ("v1", "ConfigMap", "c")],
                &["Secret/s", "ConfigMap/c", "Deployment/d"],
            ),
            // Stable: equal kinds keep input order; unknown kinds go last, in input order;
            // a CRD goes before its custom resources.
            (
                &[
                    ("example.com/v1", "Zebra", "z"),
                    ("v1", "Service", "b"),
                    ("example.com/v1", "Apple", "a"),
                    ("v1", "Service", "a"),
                    ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "zebras.example.com"),
                ],
                &["CustomResourceDefinition/zebras.example.com", "Service/b", "Service/a", "Zebra/z", "Apple/a"],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(kinds_after_sort(input), *want, "input {input:?}");
        }
    }
}
