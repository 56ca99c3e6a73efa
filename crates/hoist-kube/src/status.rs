//! Is a rollout done? `kubectl rollout status` and kstatus semantics, as a pure function
//! of the live object, so each rule is table-tested.
//!
//! Written here because kube-runtime's `is_deployment_completed` only looks at the
//! Progressing condition, which stays `NewReplicaSetAvailable` from the previous rollout
//! until the controller sees the new generation; `observedGeneration` comes first.

use serde_json::Value;

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    Done,
    /// Still going; the text says what it waits for.
    Progressing(String),
    /// Will not get there by waiting.
    Failed(String),
}

/// Kinds hoist waits for after applying.
pub fn waits_for(kind: &str) -> bool {
    matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "Pod" | "CustomResourceDefinition")
}

fn int(v: &Value, path: &str) -> Option<i64> {
    v.pointer(path).and_then(Value::as_i64)
}

fn condition<'a>(v: &'a Value, type_: &str) -> Option<&'a Value> {
    v.pointer("/status/conditions")?.as_array()?.iter().find(|c| c["type"] == type_)
}

fn condition_true(v: &Value, type_: &str) -> bool {
    condition(v, type_).is_some_and(|c| c["status"] == "True")
}

/// The rollout state of a live object.
pub fn rollout(kind: &str, obj: &Value) -> Rollout {
    use Rollout::{Done, Failed, Progressing};
    let generation = int(obj, "/metadata/generation").unwrap_or(0);
    let observed = int(obj, "/status/observedGeneration").unwrap_or(0);
    let spec_replicas = int(obj, "/spec/replicas").unwrap_or(1);
    let status = |key: &str| int(obj, &format!("/status/{key}")).unwrap_or(0);
    let needs_generation = matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet");
    if needs_generation && generation > observed {
        return Progressing(format!("waiting for the controller to observe generation {generation} (seen {observed})"));
    }
    match kind {
        "Deployment" => {
            if let Some(c) = condition(obj, "Progressing")
                && c["reason"] == "ProgressDeadlineExceeded"
            {
                return Failed(format!(
                    "ProgressDeadlineExceeded: {}",
                    c["message"].as_str().unwrap_or("the rollout exceeded its progress deadline")
                ));
            }
            let (updated, replicas, available) =
                (status("updatedReplicas"), status("replicas"), status("availableReplicas"));
            if updated < spec_replicas {
                Progressing(format!("{updated} of {spec_replicas} replicas updated"))
            } else if replicas > updated {
                Progressing(format!("{} old replicas pending termination", replicas - updated))
            } else if available < updated {
                Progressing(format!("{available} of {updated} updated replicas available"))
            } else {
                Done
            }
        }
        "StatefulSet" => {
            if obj.pointer("/spec/updateStrategy/type").and_then(Value::as_str) == Some("OnDelete") {
                return Done;
            }
            let ready = status("readyReplicas");
            if ready < spec_replicas {
                return Progressing(format!("{ready} of {spec_replicas} replicas ready"));
            }
            if let Some(partition) = int(obj, "/spec/updateStrategy/rollingUpdate/partition") {
                let updated = status("updatedReplicas");
                return if updated < spec_replicas - partition {
                    Progressing(format!("{updated} of {} partitioned replicas updated", spec_replicas - partition))
                } else {
                    Done
                };
            }
            let current = obj.pointer("/status/currentRevision");
            let update = obj.pointer("/status/updateRevision");
            if update.is_some() && current != update {
                Progressing(format!("waiting for revision {} to replace all pods", update.unwrap_or(&Value::Null)))
            } else {
                Done
            }
        }
        "DaemonSet" => {
            let desired = status("desiredNumberScheduled");
            let updated = status("updatedNumberScheduled");
            let available = status("numberAvailable");
            if updated < desired {
                Progressing(format!("{updated} of {desired} updated pods scheduled"))
            } else if available < desired {
                Progressing(format!("{available} of {desired} updated pods available"))
            } else {
                Done
            }
        }
        "Job" => {
            if let Some(c) = condition(obj, "Failed")
                && c["status"] == "True"
            {
                Failed(format!("{}: {}", c["reason"].as_str().unwrap_or("Failed"), c["message"].as_str().unwrap_or("")))
            } else if condition_true(obj, "Complete") {
                Done
            } else {
                Progressing(format!(
                    "{} of {} completions",
                    status("succeeded"),
                    int(obj, "/spec/completions").unwrap_or(1)
                ))
            }
        }
        "Pod" => {
            let phase = obj.pointer("/status/phase").and_then(Value::as_str).unwrap_or("Pending");
            let crash = obj
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find_map(|c| c.pointer("/state/waiting/reason").and_then(Value::as_str))
                .filter(|r| *r == "CrashLoopBackOff");
            match (phase, crash) {
                (_, Some(reason)) => Failed(reason.to_string()),
                ("Failed", _) => Failed("the pod failed".into()),
                ("Succeeded", _) => Done,
                ("Running", _) if condition_true(obj, "Ready") => Done,
                (phase, _) => Progressing(format!("pod is {phase}, not Ready")),
            }
        }
        "CustomResourceDefinition" => {
            if condition_true(obj, "Established") {
                Done
            } else {
                Progressing("waiting for the CRD to be Established".into())
            }
        }
        _ => Done,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deploy(generation: i64, status: Value) -> Value {
        json!({"metadata": {"generation": generation}, "spec": {"replicas": 2}, "status": status})
    }

    #[test]
    fn deployment() {
        let progressing_ok = json!([{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]);
        let cases = [
            // A stale status that looks complete is not done: observedGeneration lags.
            (
                deploy(
                    3,
                    json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "conditions": progressing_ok}),
                ),
                "Progressing",
            ),
            (
                deploy(
                    3,
                    json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2}),
                ),
                "Progressing",
            ),
            (
                deploy(
                    3,
                    json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}),
                ),
                "Progressing",
            ),
            (
                deploy(
                    3,
                    json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}),
                ),
                "Progressing",
            ),
            (
                deploy(
                    3,
                    json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
                ),
                "Done",
            ),
            (
                deploy(
                    3,
                    json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 1,
                    "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-1\" has timed out progressing."}]}),
                ),
                "Failed",
            ),
            (json!({"metadata": {"generation": 1}, "spec": {}, "status": {"observedGeneration": 1}}), "Progressing"),
        ];
        for (obj, want) in cases {
            let got = rollout("Deployment", &obj);
            assert!(format!("{got:?}").starts_with(want), "{obj}: {got:?}");
        }
    }

    #[test]
    fn other_kinds() {
        let cases = [
            (
                "StatefulSet",
                json!({"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": {"observedGeneration": 1, "readyReplicas": 2}}),
                "Progressing",
            ),
            (
                "StatefulSet",
                json!({"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": {"observedGeneration": 2, "readyReplicas": 1}}),
                "Progressing",
            ),
            (
                "StatefulSet",
                json!({"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": {"observedGeneration": 2, "readyReplicas": 2, "currentRevision": "a", "updateRevision": "b"}}),
                "Progressing",
            ),
            (
                "StatefulSet",
                json!({"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": {"observedGeneration": 2, "readyReplicas": 2, "currentRevision": "b", "updateRevision": "b"}}),
                "Done",
            ),
            (
                "StatefulSet",
                json!({"metadata": {"generation": 2}, "spec": {"replicas": 3, "updateStrategy": {"rollingUpdate": {"partition": 2}}}, "status": {"observedGeneration": 2, "readyReplicas": 3, "updatedReplicas": 1}}),
                "Done",
            ),
            (
                "DaemonSet",
                json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 2, "numberAvailable": 3}}),
                "Progressing",
            ),
            (
                "DaemonSet",
                json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2}}),
                "Progressing",
            ),
            (
                "DaemonSet",
                json!({"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}}),
                "Done",
            ),
            ("Job", json!({"status": {"active": 1}}), "Progressing"),
            ("Job", json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}), "Done"),
            (
                "Job",
                json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}),
                "Failed",
            ),
            (
                "Pod",
                json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}}),
                "Progressing",
            ),
            (
                "Pod",
                json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}),
                "Done",
            ),
            (
                "Pod",
                json!({"status": {"phase": "Running", "containerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}),
                "Failed",
            ),
            (
                "CustomResourceDefinition",
                json!({"status": {"conditions": [{"type": "Established", "status": "True"}]}}),
                "Done",
            ),
            ("CustomResourceDefinition", json!({"status": {}}), "Progressing"),
            ("Service", json!({}), "Done"),
        ];
        for (kind, obj, want) in cases {
            let got = rollout(kind, &obj);
            assert!(format!("{got:?}").starts_with(want), "{kind} {obj}: {got:?}");
        }
    }
}
