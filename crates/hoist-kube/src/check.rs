//! Checks before apply: what server-side apply refuses that client-side `kubectl apply`
//! lets through, found in the files so that it is reported with file, document and path
//! instead of as one API error per object halfway through a release.
//!
//! Server-side apply treats some lists as maps keyed by a field (`+listType=map` in the
//! Kubernetes API): two entries with the same key make the whole object invalid
//! ("duplicate entries for key"), where client-side apply silently keeps one of them.

use std::fmt;
use std::path::PathBuf;

use hoist_diag::text::inline;

use crate::manifest::Document;
use crate::render::pod_spec_path;
use crate::yaml::{Map, Value};

/// One entry of a keyed list whose key an earlier entry already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub source: PathBuf,
    /// The document's index in its file, from 0.
    pub index: usize,
    /// `Kind/name`
    pub object: String,
    /// The repeated entry, e.g. `spec.template.spec.containers[0].env[2]`.
    pub path: String,
    /// The key, e.g. `name SPRING_KAFKA_BOOTSTRAP_SERVERS` or `containerPort 8080/TCP`.
    pub key: String,
    /// The index of the first entry with that key, in the same list.
    pub first: usize,
}

impl fmt::Display for Duplicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = self.path.rsplit('.').next().and_then(|last| last.split('[').next()).unwrap_or_default();
        write!(
            f,
            "{} document {} ({}): {} repeats {} of {list}[{}]",
            self.source.display(),
            self.index,
            inline(&self.object),
            self.path,
            inline(&self.key),
            self.first
        )
    }
}

/// How a keyed list's entries are keyed.
#[derive(Clone, Copy)]
enum Key {
    /// One string field, e.g. `name`.
    Field(&'static str),
    /// A port field with its protocol (`TCP` when unset, as the API server defaults it).
    Port(&'static str),
}

impl Key {
    fn of(self, entry: &Map) -> Option<String> {
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::UInt(u) => Some(u.to_string()),
            _ => None,
        };
        match self {
            Key::Field(field) => Some(format!("{field} `{}`", text(entry.get(field)?)?)),
            Key::Port(field) => {
                let protocol = entry.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                Some(format!("{field} `{}/{protocol}`", text(entry.get(field)?)?))
            }
        }
    }
}

/// The keyed lists of a pod spec, and of each container in it.
const POD_LISTS: &[(&str, Key)] = &[
    ("initContainers", Key::Field("name")),
    ("containers", Key::Field("name")),
    ("ephemeralContainers", Key::Field("name")),
    ("volumes", Key::Field("name")),
];
const CONTAINER_LISTS: &[(&str, Key)] =
    &[("env", Key::Field("name")), ("ports", Key::Port("containerPort")), ("volumeMounts", Key::Field("mountPath"))];

/// Every repeated key in the keyed lists of `docs`, in document order.
pub fn duplicate_keys(docs: &[Document]) -> Vec<Duplicate> {
    let mut out = Vec::new();
    for doc in docs {
        let mut found = |path: String, key: String, first: usize| {
            out.push(Duplicate {
                source: doc.source.clone(),
                index: doc.index,
                object: format!("{}/{}", doc.kind(), doc.name()),
                path,
                key,
                first,
            });
        };
        if doc.kind() == "Service"
            && let Some(spec) = doc.value.pointer(&["spec"]).and_then(Value::as_map)
        {
            list(spec, "spec", "ports", Key::Port("port"), &mut found);
        }
        let Some(at) = pod_spec_path(doc.kind()) else { continue };
        let Some(spec) = doc.value.pointer(at).and_then(Value::as_map) else { continue };
        let prefix = at.join(".");
        for &(name, key) in POD_LISTS {
            list(spec, &prefix, name, key, &mut found);
        }
        for name in ["initContainers", "containers", "ephemeralContainers"] {
            let Some(Value::Seq(containers)) = spec.get(name) else { continue };
            for (i, c) in containers.iter().enumerate() {
                let Some(c) = c.as_map() else { continue };
                for &(field, key) in CONTAINER_LISTS {
                    list(c, &format!("{prefix}.{name}[{i}]"), field, key, &mut found);
                }
            }
        }
    }
    out
}

/// Report each entry of `parent[name]` whose key an earlier entry has.
fn list(parent: &Map, prefix: &str, name: &str, key: Key, found: &mut impl FnMut(String, String, usize)) {
    let Some(Value::Seq(items)) = parent.get(name) else { return };
    let mut keys: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(k) = item.as_map().and_then(|m| key.of(m)) else {
            keys.push(String::new());
            continue;
        };
        if let Some(first) = keys.iter().position(|seen| *seen == k) {
            found(format!("{prefix}.{name}[{i}]"), k.clone(), first);
        }
        keys.push(k);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::manifest::parse;

    const HEAD: &str =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  selector: {}\n  template:\n    spec:\n";

    fn dups(body: &str) -> Vec<(String, String, usize)> {
        let docs = parse(&format!("{HEAD}{body}"), Path::new("k8s/d.yaml")).unwrap();
        duplicate_keys(&docs).into_iter().map(|d| (d.path, d.key, d.first)).collect()
    }

    fn own(cases: &[(&str, &str, usize)]) -> Vec<(String, String, usize)> {
        cases.iter().map(|(p, k, f)| (p.to_string(), k.to_string(), *f)).collect()
    }

    #[test]
    fn each_keyed_list_reports_its_repeats() {
        let cases: &[(&str, &[(&str, &str, usize)])] = &[
            // Nothing repeated.
            (
                "      containers:\n        - name: a\n          image: a\n          env:\n            - name: X\n            - name: B\n          ports:\n            - containerPort: 80\n            - containerPort: 80\n              protocol: UDP\n",
                &[],
            ),
            // env by name, twice over: both repeats, each pointing at the first.
            (
                "      containers:\n        - name: a\n          image: a\n          env:\n            - name: X\n              value: '1'\n            - name: B\n            - name: X\n              value: '2'\n            - name: X\n",
                &[
                    ("spec.template.spec.containers[0].env[2]", "name `X`", 0),
                    ("spec.template.spec.containers[0].env[3]", "name `X`", 0),
                ],
            ),
            // ports by containerPort and protocol, TCP when unset.
            (
                "      containers:\n        - name: a\n          image: a\n          ports:\n            - containerPort: 8080\n            - containerPort: 8080\n              protocol: TCP\n",
                &[("spec.template.spec.containers[0].ports[1]", "containerPort `8080/TCP`", 0)],
            ),
            // volumeMounts by mountPath, not by name.
            (
                "      containers:\n        - name: a\n          image: a\n          volumeMounts:\n            - name: v\n              mountPath: /a\n            - name: v\n              mountPath: /b\n            - name: w\n              mountPath: /a\n",
                &[("spec.template.spec.containers[0].volumeMounts[2]", "mountPath `/a`", 0)],
            ),
            // containers and volumes by name; init containers are their own list.
            (
                "      initContainers:\n        - name: a\n          image: i\n      containers:\n        - name: a\n          image: a\n        - name: b\n          image: b\n        - name: a\n          image: c\n      volumes:\n        - name: v\n          emptyDir: {}\n        - name: v\n          emptyDir: {}\n",
                &[
                    ("spec.template.spec.containers[2]", "name `a`", 0),
                    ("spec.template.spec.volumes[1]", "name `v`", 0),
                ],
            ),
            // An init container's env too.
            (
                "      initContainers:\n        - name: i\n          image: i\n          env:\n            - name: A\n            - name: A\n      containers:\n        - name: a\n          image: a\n",
                &[("spec.template.spec.initContainers[0].env[1]", "name `A`", 0)],
            ),
        ];
        for (body, want) in cases {
            assert_eq!(dups(body), own(want), "{body}");
        }
    }

    #[test]
    fn services_pods_and_cron_jobs_are_checked_and_other_kinds_are_not() {
        let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n    - port: 80\n    - port: 80\n      protocol: UDP\n    - port: 80\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  env: x\n---\napiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: cj\nspec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n            - name: a\n              image: a\n              env:\n                - name: X\n                - name: X\n";
        let docs = parse(text, Path::new("all.yaml")).unwrap();
        let got: Vec<String> = duplicate_keys(&docs).iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "all.yaml document 0 (Service/s): spec.ports[2] repeats port `80/TCP` of ports[0]",
                "all.yaml document 2 (CronJob/cj): spec.jobTemplate.spec.template.spec.containers[0].env[1] repeats name `X` of env[0]",
            ]
        );
    }
}
