//! Kubernetes manifests from bytes: `hoist_kube::manifest::parse` (serde-saphyr into
//! hoist's order-keeping YAML tree, then the shape and kind checks), render with a
//! release's images, and the YAML stream hoist writes back.
//!
//! Properties: an error is a user error; the stream hoist writes reads back as the same
//! documents.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use hoist_kube::render::{Images, ServiceImage};
use hoist_kube::yaml::Value;
use libfuzzer_sys::fuzz_target;

/// The same tree with every float made comparable (NaN != NaN) by its bit pattern.
fn comparable(v: &Value) -> serde_json::Value {
    match v {
        Value::Float(f) => serde_json::Value::String(format!("float:{:x}", f.to_bits())),
        Value::Seq(items) => serde_json::Value::Array(items.iter().map(comparable).collect()),
        Value::Map(m) => serde_json::Value::Array(
            m.0.iter().map(|(k, v)| serde_json::Value::Array(vec![k.clone().into(), comparable(v)])).collect(),
        ),
        other => other.to_json(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let source = Path::new("/fuzz/k8s/app.yaml");
    let docs = match hoist_kube::manifest::parse(text, source) {
        Ok(d) => d,
        Err(e) => {
            hoist_fuzz::check_user_error(&e);
            return;
        }
    };
    // The duplicate-key check reads every document before a deploy: it must not panic.
    for d in hoist_kube::duplicate_keys(&docs) {
        let _ = d.to_string();
    }
    let services = BTreeMap::from([(
        "api".to_string(),
        ServiceImage {
            tag: "api_v1.2.3-abcdef0".into(),
            prefix: "api_".into(),
            digest: None,
            placeholder: Some("acme-app_api".into()),
        },
    )]);
    let images = Images { repository: "127.0.0.1:5000/shop".into(), services };
    let rendered = hoist_kube::render(docs, &images).unwrap_or_else(|e| panic!("render: {e}"));
    let yaml = hoist_kube::to_yaml(&rendered.docs);
    let back = hoist_kube::manifest::parse(&yaml, source).unwrap_or_else(|e| panic!("hoist's own output: {e}\n{yaml}"));
    assert_eq!(back.len(), rendered.docs.len(), "{yaml}");
    for (a, b) in rendered.docs.iter().zip(&back) {
        assert_eq!(comparable(&a.value), comparable(&b.value), "{yaml}");
    }
});
