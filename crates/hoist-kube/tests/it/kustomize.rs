//! The render must equal `kubectl kustomize` with the equivalent `images:` entries
//! (`name: <placeholder or service>`, `newName: <repository>`, `newTag: <service>_<TAG>`,
//! `digest:`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hoist_cmd::Cmd;
use hoist_kube::{Images, ServiceImage};

const TAG: &str = "v1.4.0-abc1234";
const DIGEST: &str = "sha256:5f0c3fcbd12e6e6c7b1a1bbf9fbb6f4f9d1fb3d7e4c1d0a7d1e2c3b4a5968778";

fn images(repository: &str, services: &[&str], digest: bool) -> Images {
    Images {
        repository: repository.into(),
        services: services
            .iter()
            .map(|s| {
                let image = ServiceImage {
                    tag: format!("{s}_{TAG}"),
                    prefix: format!("{s}_"),
                    digest: digest.then(|| DIGEST.to_string()),
                    placeholder: None,
                };
                (s.to_string(), image)
            })
            .collect(),
    }
}

/// `(kind, namespace, name)` → object, from a YAML stream.
fn by_identity(yaml: &str) -> BTreeMap<(String, String, String), serde_json::Value> {
    let docs: Vec<hoist_kube::yaml::Value> = serde_saphyr::from_multiple(yaml).expect("YAML stream");
    docs.iter()
        .map(|d| {
            let j = d.to_json();
            let id = |p: &str| j.pointer(p).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            ((id("/kind"), id("/metadata/namespace"), id("/metadata/name")), j)
        })
        .collect()
}

/// Render `files` with hoist and with kustomize, and compare object by object.
fn cross_check(dir: &Path, files: &[PathBuf], images: &Images) {
    let work = tempfile::tempdir().unwrap();
    let mut resources = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let name = format!("{i:02}-{}", f.file_name().unwrap().to_string_lossy());
        std::fs::copy(dir.join(f), work.path().join(&name)).unwrap();
        resources.push(name);
    }
    let mut k = String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n");
    for r in &resources {
        k.push_str(&format!("  - {r}\n"));
    }
    k.push_str("images:\n");
    for (name, s) in &images.services {
        let name = s.placeholder.as_deref().unwrap_or(name);
        k.push_str(&format!("  - name: {name}\n    newName: {}\n    newTag: {}\n", images.repository, s.tag));
        if let Some(d) = &s.digest {
            k.push_str(&format!("    digest: {d}\n"));
        }
    }
    std::fs::write(work.path().join("kustomization.yaml"), k).unwrap();
    let kustomized = Cmd::new("kubectl").arg("kustomize").arg(work.path()).read().expect("kubectl kustomize");

    let docs = hoist_kube::load(&files.iter().map(|f| dir.join(f)).collect::<Vec<_>>()).unwrap();
    let rendered = hoist_kube::render(docs, images).unwrap();
    assert!(rendered.warnings.is_empty(), "{:?}", rendered.warnings);
    let ours = hoist_kube::to_yaml(&rendered.docs);

    let (want, got) = (by_identity(&kustomized), by_identity(&ours));
    assert_eq!(want.keys().collect::<Vec<_>>(), got.keys().collect::<Vec<_>>());
    for (id, w) in &want {
        assert_eq!(
            &got[id], w,
            "{id:?} differs from kubectl kustomize\n--- kustomize:\n{kustomized}\n--- hoist:\n{ours}"
        );
    }
    assert!(!rendered.rewrites.is_empty(), "the case rewrote nothing, so it checks nothing");
}

#[test]
fn the_example_renders_like_kustomize() {
    let dir = hoist_testkit::example_shop().join("k8s");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| PathBuf::from(e.unwrap().file_name()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let services = ["chat-service", "gateway", "user-service"];
    cross_check(&dir, &files, &images("127.0.0.1:5000/shop", &services, false));
    cross_check(&dir, &files, &images("127.0.0.1:5000/shop", &services, true));
}

const EDGE: &str = r#"apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
  namespace: shop
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          initContainers:
            - name: migrate
              image: worker
          containers:
            - name: report
              image: api
              args: ["--port", "8080"]
            - name: sidecar
              image: docker.io/library/busybox:1.36
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: shop
spec:
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      initContainers:
        - name: init
          image: worker
      containers:
        - name: api
          image: api
        - name: metrics
          image: worker
          env:
            - name: ENABLED
              value: "true"
---
apiVersion: v1
kind: Pod
metadata:
  name: debug
  namespace: shop
  annotations:
    note: "image: api is just text here"
spec:
  containers:
    - name: one
      image: api
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: shop
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
        - name: agent
          image: worker
"#;

#[test]
fn edge_cases_render_like_kustomize() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("edge.yaml"), EDGE).unwrap();
    let files = [PathBuf::from("edge.yaml")];
    for repo in ["localhost:5000/shop", "registry.example.com/team/shop", "127.0.0.1:5000/shop"] {
        for digest in [false, true] {
            cross_check(dir.path(), &files, &images(repo, &["api", "worker"], digest));
        }
    }
}

/// The migration fixture's tree (one folder per kind, `acme-app_<service>:latest`
/// placeholders, busybox init containers, third-party images), as `kubectl kustomize` sees
/// it with one `images:` entry per placeholder.
#[test]
fn the_migration_fixture_renders_like_kustomize_with_placeholders() {
    let dir = crate::manifests::acme_k8s();
    let docs = hoist_kube::load(std::slice::from_ref(&dir)).unwrap();
    let files: Vec<PathBuf> = docs.iter().map(|d| d.source.strip_prefix(&dir).unwrap().to_path_buf()).collect();
    let mut files = files;
    files.dedup();
    let services =
        ["gateway", "inventory-server", "notification-server", "order-server", "payment-server", "user-server"];
    for digest in [false, true] {
        let mut images = images("registry.example.com:5000/acme", &services, digest);
        for (name, s) in images.services.iter_mut() {
            s.placeholder = Some(format!("acme-app_{name}"));
        }
        cross_check(&dir, &files, &images);
        let rendered = hoist_kube::render(hoist_kube::load(std::slice::from_ref(&dir)).unwrap(), &images).unwrap();
        let mut rewritten: Vec<&str> = rendered.rewrites.iter().map(|r| r.service.as_str()).collect();
        rewritten.sort();
        assert_eq!(rewritten, services, "every service's Deployment, and nothing else");
    }
}

/// A placeholder with no tag, a tag, a digest, or both: kustomize replaces each the same way.
#[test]
fn placeholders_with_any_tag_or_digest_render_like_kustomize() {
    let old = format!("sha256:{}", "0".repeat(64));
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: acme\nspec:\n  initContainers:\n    - name: a\n      image: acme-app_api\n    - name: b\n      image: acme-app_api:latest\n  containers:\n    - name: c\n      image: acme-app_worker@{old}\n    - name: d\n      image: acme-app_worker:5.0.1@{old}\n    - name: e\n      image: busybox:1.36\n"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pod.yaml"), text).unwrap();
    for digest in [false, true] {
        let mut images = images("localhost:5000/acme", &["api", "worker"], digest);
        for (name, s) in images.services.iter_mut() {
            s.placeholder = Some(format!("acme-app_{name}"));
        }
        cross_check(dir.path(), &[PathBuf::from("pod.yaml")], &images);
    }
}
