//! Render: set each hoist service's image in every workload's containers and
//! initContainers, on the parsed tree (never on text), then sort into apply order.
//!
//! An image names a service when it is the bare service name (a placeholder, the same
//! match as kustomize's `images: - name: <service>`), or `<repository>:<prefix><anything>`
//! where `<prefix>` is the service's tag up to the release (`<service>_` by default), so a
//! rendered manifest renders again to the next release.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::RenderError;
use crate::manifest::Document;
use crate::order;
use crate::yaml::Value;

/// What each service's image becomes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Images {
    /// `host[:port]/path`, e.g. `127.0.0.1:5000/shop`.
    pub repository: String,
    pub services: BTreeMap<String, ServiceImage>,
}

/// One service's image in this release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServiceImage {
    /// The full tag, e.g. `user-service_v1.2.3`.
    pub tag: String,
    /// What every release's tag of this service starts with, e.g. `user-service_`.
    pub prefix: String,
    /// `sha256:<64 hex>`, to pin the image.
    #[serde(default)]
    pub digest: Option<String>,
}

/// One image that was changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rewrite {
    /// `Kind/name`
    pub object: String,
    pub container: String,
    pub service: String,
    pub from: String,
    pub to: String,
}

/// The rendered stream and what happened on the way.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// In apply order.
    pub docs: Vec<Document>,
    pub rewrites: Vec<Rewrite>,
    /// Placeholders that match no service, and the like.
    pub warnings: Vec<String>,
}

/// Where each workload kind keeps its pod spec.
pub fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Pod" => Some(&["spec"]),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "ReplicationController" | "Job" => {
            Some(&["spec", "template", "spec"])
        }
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

impl Images {
    /// The image `image` should become, and the service it names.
    fn resolve(&self, image: &str) -> Match<'_> {
        if let Some((name, s)) = self.services.get_key_value(image) {
            return Match::Service(name, s);
        }
        let without_digest = image.split_once('@').map_or(image, |(n, _)| n);
        if let Some(tag) = without_digest.strip_prefix(&self.repository).and_then(|r| r.strip_prefix(':')) {
            // The longest prefix wins, so `api_` never takes `api-gateway_…`.
            let best = self
                .services
                .iter()
                .filter(|(_, s)| !s.prefix.is_empty() && tag.len() > s.prefix.len() && tag.starts_with(&s.prefix))
                .max_by_key(|(_, s)| s.prefix.len());
            return match best {
                Some((name, s)) => Match::Service(name, s),
                None => Match::UnknownInRepository,
            };
        }
        if !image.contains(['/', ':', '@']) { Match::LooksLikePlaceholder } else { Match::Other }
    }

    fn image_for(&self, s: &ServiceImage) -> String {
        match &s.digest {
            Some(d) => format!("{}:{}@{d}", self.repository, s.tag),
            None => format!("{}:{}", self.repository, s.tag),
        }
    }

    fn check(&self) -> Result<(), RenderError> {
        for (name, s) in &self.services {
            if let Some(d) = &s.digest {
                let ok = d.strip_prefix("sha256:").is_some_and(|h| {
                    h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                });
                if !ok {
                    return Err(RenderError::BadDigest { service: name.clone(), digest: d.clone() });
                }
            }
        }
        Ok(())
    }
}

enum Match<'a> {
    Service(&'a String, &'a ServiceImage),
    UnknownInRepository,
    LooksLikePlaceholder,
    Other,
}

/// Rewrite the images of `docs` and sort them into apply order.
pub fn render(mut docs: Vec<Document>, images: &Images) -> Result<Rendered, RenderError> {
    images.check()?;
    let mut rewrites = Vec::new();
    let mut warnings = Vec::new();
    for doc in &mut docs {
        let Some(path) = pod_spec_path(doc.kind()) else { continue };
        let object = format!("{}/{}", doc.kind(), doc.name());
        let where_ = format!("{}#{}", doc.source.display(), doc.index);
        let Some(spec) = doc.value.pointer_mut(path).and_then(Value::as_map_mut) else { continue };
        for list in ["initContainers", "containers"] {
            let Some(Value::Seq(containers)) = spec.get_mut(list) else { continue };
            for c in containers.iter_mut().filter_map(Value::as_map_mut) {
                let container = c.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
                let Some(image) = c.get("image").and_then(Value::as_str).map(str::to_string) else { continue };
                match images.resolve(&image) {
                    Match::Service(service, s) => {
                        let to = images.image_for(s);
                        if to != image {
                            c.insert("image", Value::String(to.clone()));
                        }
                        rewrites.push(Rewrite {
                            object: object.clone(),
                            container,
                            service: service.clone(),
                            from: image,
                            to,
                        });
                    }
                    Match::UnknownInRepository => warnings.push(format!(
                        "{where_} {object} container `{container}`: image `{image}` is in the release repository but its tag names no service in [services]; left as is"
                    )),
                    Match::LooksLikePlaceholder => warnings.push(format!(
                        "{where_} {object} container `{container}`: image `{image}` looks like a placeholder but matches no service in [services]; left as is"
                    )),
                    Match::Other => {}
                }
            }
        }
    }
    order::sort(&mut docs);
    Ok(Rendered { docs, rewrites, warnings })
}

/// The documents as one YAML stream (`---` between documents).
pub fn to_yaml(docs: &[Document]) -> String {
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_saphyr::to_string(&doc.value).expect("a YAML tree always serialises"));
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::manifest::parse;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn images(repo: &str, digest: Option<&str>) -> Images {
        let mut services = BTreeMap::new();
        for name in ["api", "api-gateway", "worker"] {
            services.insert(
                name.to_string(),
                ServiceImage {
                    tag: format!("{name}_v2.0.0"),
                    prefix: format!("{name}_"),
                    digest: digest.map(str::to_string),
                },
            );
        }
        Images { repository: repo.into(), services }
    }

    fn pod(kind_head: &str, image: &str) -> String {
        format!("{kind_head}\n      containers:\n        - name: c\n          image: {image}\n")
    }

    const DEPLOY: &str =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  selector: {}\n  template:\n    spec:";

    fn image_after(text: &str, images: &Images) -> (Vec<String>, Vec<String>) {
        let docs = parse(text, Path::new("t.yaml")).unwrap();
        let r = render(docs, images).unwrap();
        let mut out = Vec::new();
        for d in &r.docs {
            let path = pod_spec_path(d.kind()).unwrap();
            let spec = d.value.pointer(path).unwrap();
            for list in ["initContainers", "containers"] {
                if let Some(Value::Seq(cs)) = spec.pointer(&[list]) {
                    out.extend(cs.iter().map(|c| c.pointer(&["image"]).unwrap().as_str().unwrap().to_string()));
                }
            }
        }
        (out, r.warnings)
    }

    #[test]
    fn rewrites_only_images_that_name_a_service() {
        let repo = "localhost:5000/shop";
        let cases: &[(&str, &str, usize)] = &[
            ("api", "localhost:5000/shop:api_v2.0.0", 0),
            ("api-gateway", "localhost:5000/shop:api-gateway_v2.0.0", 0),
            // A previously rendered image moves to this release; longest prefix wins.
            ("localhost:5000/shop:api_v1.0.0", "localhost:5000/shop:api_v2.0.0", 0),
            ("localhost:5000/shop:api-gateway_v1.0.0", "localhost:5000/shop:api-gateway_v2.0.0", 0),
            (&format!("localhost:5000/shop:worker_v1@{DIGEST}"), "localhost:5000/shop:worker_v2.0.0", 0),
            // Not hoist's: untouched.
            ("redis:7", "redis:7", 0),
            ("api:1", "api:1", 0),
            ("localhost:5000/other:api_v1", "localhost:5000/other:api_v1", 0),
            ("localhost:5000/shop/api:v1", "localhost:5000/shop/api:v1", 0),
            // Untouched with a warning.
            ("billing", "billing", 1),
            ("localhost:5000/shop:billing_v1", "localhost:5000/shop:billing_v1", 1),
            ("localhost:5000/shop:api_", "localhost:5000/shop:api_", 1),
        ];
        for (from, want, warnings) in cases {
            let (got, w) = image_after(&pod(DEPLOY, from), &images(repo, None));
            assert_eq!(got, [*want], "image {from}");
            assert_eq!(w.len(), *warnings, "image {from}: {w:?}");
        }
    }

    #[test]
    fn every_workload_kind_init_containers_and_several_containers() {
        let text = format!(
            "{}\n---\n{}\n---\n{}\n---\n{}\n---\n{}\n---\n{}\n---\n{}",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: api\n",
            pod(DEPLOY, "api"),
            pod(&DEPLOY.replace("Deployment", "StatefulSet"), "api"),
            pod(&DEPLOY.replace("Deployment", "DaemonSet"), "api"),
            pod(&DEPLOY.replace("Deployment", "ReplicaSet"), "api"),
            pod("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\nspec:\n  template:\n    spec:", "api")
                .replace("containers:", "restartPolicy: Never\n      initContainers:\n        - name: init\n          image: worker\n      containers:"),
            "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: cj\nspec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n            - name: a\n              image: api\n            - name: b\n              image: api-gateway\n            - name: c\n              image: redis:7\n",
        );
        let (got, warnings) = image_after(&text, &images("127.0.0.1:5000/shop", Some(DIGEST)));
        let pinned = |s: &str| format!("127.0.0.1:5000/shop:{s}_v2.0.0@{DIGEST}");
        assert!(warnings.is_empty(), "{warnings:?}");
        // Helm order: DaemonSet, Pod, ReplicaSet, Deployment, StatefulSet, Job, CronJob.
        assert_eq!(
            got,
            [
                pinned("api"),
                pinned("api"),
                pinned("api"),
                pinned("api"),
                pinned("api"),
                pinned("worker"),
                pinned("api"),
                pinned("api"),
                pinned("api-gateway"),
                "redis:7".to_string(),
            ]
        );
    }

    #[test]
    fn everything_else_passes_through_unchanged() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  image: api\n  port: \"8080\"\n---\n"
            .to_string()
            + &pod(DEPLOY, "api").replace("containers:", "# a comment\n      containers:");
        let docs = parse(&text, Path::new("t.yaml")).unwrap();
        let r = render(docs.clone(), &images("r.example/x", None)).unwrap();
        assert_eq!(r.docs[0], docs[0], "a ConfigMap's `image` key is data, not a container image");
        let back = parse(&to_yaml(&r.docs), Path::new("out.yaml")).unwrap();
        assert_eq!(back[0].value, docs[0].value);
        let mut want = docs[1].value.clone();
        *want.pointer_mut(&["spec", "template", "spec", "containers"]).unwrap() =
            serde_saphyr::from_str("- name: c\n  image: r.example/x:api_v2.0.0\n").unwrap();
        assert_eq!(back[1].value, want);
        assert_eq!(
            r.rewrites,
            [Rewrite {
                object: "Deployment/d".into(),
                container: "c".into(),
                service: "api".into(),
                from: "api".into(),
                to: "r.example/x:api_v2.0.0".into()
            }]
        );
    }

    /// A release stores the images it deployed and reads them back.
    #[test]
    fn images_read_back_as_they_were_stored() {
        let mut stored = images("127.0.0.1:5000/shop", Some(DIGEST));
        stored.services.get_mut("worker").unwrap().digest = None;
        let json = serde_json::to_value(&stored).unwrap();
        assert_eq!(json["services"]["api"]["digest"], DIGEST);
        assert_eq!(json["services"]["api-gateway"]["prefix"], "api-gateway_");
        assert_eq!(serde_json::from_value::<Images>(json).unwrap(), stored);
        // A service stored without a digest reads as unpinned.
        let unpinned: ServiceImage = serde_json::from_str(r#"{"tag":"api_v1","prefix":"api_"}"#).unwrap();
        assert_eq!(unpinned.digest, None);
        let schema = serde_json::to_value(schemars::schema_for!(Images)).unwrap();
        assert!(schema["properties"]["services"].is_object(), "{schema}");
        assert!(schema["properties"]["repository"].is_object(), "{schema}");
    }

    #[test]
    fn rejects_a_malformed_digest() {
        let docs = parse(&pod(DEPLOY, "api"), Path::new("t.yaml")).unwrap();
        let err = render(docs, &images("r/x", Some("sha256:abc"))).unwrap_err();
        assert!(err.to_string().contains("sha256:abc"), "{err}");
    }
}
