//! Render: set each hoist service's image in every workload's containers and
//! initContainers, on the parsed tree (never on text), then sort into apply order.
//!
//! An image names a service when it is the bare service name, its `placeholder` with any
//! tag or digest (`acme-app_order-server:latest`, `…@sha256:…`: kustomize's
//! `images: - name: <placeholder>`), or `<repository>:<prefix><anything>` where `<prefix>`
//! is the service's tag up to the release (`<service>_` by default), so a rendered
//! manifest renders again to the next release.
//!
//! An image that matches no service but looks like one of the project's (in its
//! repository, named like a service, or sharing a placeholder's prefix) is left as it is
//! with a warning; any other image (`postgres:15-alpine`, `busybox:1.36`) is third-party
//! and passes silently.

use std::collections::BTreeMap;

use hoist_version::naming::image_repository;
use serde::{Deserialize, Serialize};

use crate::check::{self, Duplicate};
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
    /// The image name the manifests use for it (`[services.X] placeholder`), matched with
    /// any tag or digest; without one only the bare service name is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
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
    /// What server-side apply will refuse ([`crate::check`]); a deploy stops on them.
    pub problems: Vec<Duplicate>,
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
        let name = image_repository(image);
        if let Some((service, s)) = self.services.iter().find(|(_, s)| s.placeholder.as_deref() == Some(name)) {
            return Match::Service(service, s);
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
                None => Match::Unknown(Unknown::InRepository),
            };
        }
        if !image.contains(['/', ':', '@']) {
            return Match::Unknown(Unknown::Bare);
        }
        self.looks_like_ours(name).map_or(Match::Other, Match::Unknown)
    }

    /// Why an image `name` (without tag or digest) that matches no service looks like one
    /// of the project's.
    fn looks_like_ours(&self, name: &str) -> Option<Unknown> {
        for (service, s) in &self.services {
            if name == service {
                return Some(Unknown::ServiceName(service.clone()));
            }
            // docker-compose names a built image `<project>_<service>`: a placeholder the
            // service does not declare yet.
            if s.placeholder.is_none()
                && (name.strip_suffix(service.as_str()).is_some_and(|head| head.ends_with('_'))
                    || name.strip_prefix(service.as_str()).is_some_and(|tail| tail.starts_with('_')))
            {
                return Some(Unknown::Undeclared(service.clone()));
            }
        }
        self.services.iter().find_map(|(service, s)| {
            let prefix = placeholder_prefix(s.placeholder.as_deref()?)?;
            name.starts_with(prefix).then(|| Unknown::SharesPrefix { service: service.clone(), prefix: prefix.into() })
        })
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
    Unknown(Unknown),
    /// Third-party: not the project's.
    Other,
}

/// Why an image that names no service looks like the project's.
enum Unknown {
    InRepository,
    /// No registry, tag or digest: a placeholder.
    Bare,
    /// Named as the service, with a tag or digest that only a declared placeholder allows.
    ServiceName(String),
    /// Named as docker-compose names the service's image (`<project>_<service>`).
    Undeclared(String),
    /// Starts as a service's placeholder does (`acme-app_…`).
    SharesPrefix {
        service: String,
        prefix: String,
    },
}

impl Unknown {
    fn why(&self, image: &str) -> String {
        let image = hoist_diag::text::inline(image);
        match self {
            Unknown::InRepository => {
                format!("image `{image}` is in the release repository but its tag names no service in [services]")
            }
            Unknown::Bare => format!("image `{image}` looks like a placeholder but matches no service in [services]"),
            Unknown::ServiceName(service) => format!(
                "image `{image}` is named as service `{service}` but only a bare `{service}` is replaced; set `[services.{service}] placeholder = \"{service}\"` to match it with any tag"
            ),
            Unknown::Undeclared(service) => format!(
                "image `{image}` looks like service `{service}`'s image but is not its placeholder; set `[services.{service}] placeholder = \"{}\"` to have it replaced",
                image_repository(&image)
            ),
            Unknown::SharesPrefix { service, prefix } => format!(
                "image `{image}` starts with `{prefix}` like the placeholder of `{service}` but matches no service in [services]"
            ),
        }
    }
}

/// What a placeholder shares with its project's other images: up to the last `_` of its
/// last path segment (`acme-app_order-server` → `acme-app_`), if it has one.
fn placeholder_prefix(placeholder: &str) -> Option<&str> {
    let segment = placeholder.rfind('/').map_or(0, |i| i + 1);
    let underscore = placeholder[segment..].rfind('_')?;
    Some(&placeholder[..segment + underscore + 1]).filter(|p| p.len() > segment + 1)
}

/// Rewrite the images of `docs` and sort them into apply order.
pub fn render(mut docs: Vec<Document>, images: &Images) -> Result<Rendered, RenderError> {
    images.check()?;
    let problems = check::duplicate_keys(&docs);
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
                    Match::Unknown(why) => warnings.push(format!(
                        "{where_} {object} container `{}`: {}; left as is",
                        hoist_diag::text::inline(&container),
                        why.why(&image)
                    )),
                    Match::Other => {}
                }
            }
        }
    }
    order::sort(&mut docs);
    Ok(Rendered { docs, rewrites, warnings, problems })
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
                    placeholder: None,
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

    /// Each `(image, becomes, warnings)` in a Deployment's only container.
    fn check_cases(cases: &[(&str, &str, usize)], images: &Images) {
        for (from, want, warnings) in cases {
            let (got, w) = image_after(&pod(DEPLOY, from), images);
            assert_eq!(got, [*want], "image {from}");
            assert_eq!(w.len(), *warnings, "image {from}: {w:?}");
        }
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
            ("localhost:5000/other:api_v1", "localhost:5000/other:api_v1", 0),
            ("localhost:5000/shop/api:v1", "localhost:5000/shop/api:v1", 0),
            // Untouched with a warning.
            ("billing", "billing", 1),
            ("localhost:5000/shop:billing_v1", "localhost:5000/shop:billing_v1", 1),
            ("localhost:5000/shop:api_", "localhost:5000/shop:api_", 1),
            // Named as a service, but only the bare name is its placeholder.
            ("api:1", "api:1", 1),
            // docker-compose's name for the service's image, not declared as its placeholder.
            ("acme_worker:latest", "acme_worker:latest", 1),
        ];
        check_cases(cases, &images(repo, None));
    }

    #[test]
    fn a_placeholder_matches_with_any_tag_or_digest_and_its_prefix_marks_the_projects_images() {
        let mut imgs = images("r.example/acme", None);
        for (name, s) in imgs.services.iter_mut() {
            s.placeholder = Some(format!("acme-app_{name}"));
        }
        let cases: &[(&str, &str, usize)] = &[
            ("acme-app_api", "r.example/acme:api_v2.0.0", 0),
            ("acme-app_api:latest", "r.example/acme:api_v2.0.0", 0),
            (&format!("acme-app_api@{DIGEST}"), "r.example/acme:api_v2.0.0", 0),
            (&format!("acme-app_api-gateway:1.0@{DIGEST}"), "r.example/acme:api-gateway_v2.0.0", 0),
            // The bare service name still names it.
            ("worker", "r.example/acme:worker_v2.0.0", 0),
            // Not the placeholder, though close.
            ("acme-app_api-v2:latest", "acme-app_api-v2:latest", 1),
            ("acme-app_billing:latest", "acme-app_billing:latest", 1),
            ("other.example/acme-app_api:1", "other.example/acme-app_api:1", 0),
            // Third-party images: neither rewritten nor warned about.
            ("postgres:15-alpine", "postgres:15-alpine", 0),
            ("busybox:1.36", "busybox:1.36", 0),
            ("confluentinc/cp-kafka:7.4.0", "confluentinc/cp-kafka:7.4.0", 0),
            ("localhost:5000/acme-app:1", "localhost:5000/acme-app:1", 0),
        ];
        check_cases(cases, &imgs);
        let (_, w) = image_after(&pod(DEPLOY, "acme-app_billing:latest"), &imgs);
        assert_eq!(
            w,
            [
                "t.yaml#0 Deployment/d container `c`: image `acme-app_billing:latest` starts with `acme-app_` like the placeholder of `api` but matches no service in [services]; left as is"
            ]
        );
        // Without placeholders, the compose image name says which one to declare.
        let (_, w) = image_after(&pod(DEPLOY, "acme-app_worker:latest"), &images("r.example/acme", None));
        assert!(w[0].contains("set `[services.worker] placeholder = \"acme-app_worker\"`"), "{w:?}");
    }

    #[test]
    fn placeholder_prefixes() {
        assert_eq!(placeholder_prefix("acme-app_order-server"), Some("acme-app_"));
        assert_eq!(placeholder_prefix("reg:5000/team/acme_x"), Some("reg:5000/team/acme_"));
        assert_eq!(placeholder_prefix("order-server"), None);
        assert_eq!(placeholder_prefix("_x"), None);
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
