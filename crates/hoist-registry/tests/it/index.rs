//! Pushing a layout ref that is an OCI image index: every child's blobs, each child
//! manifest by digest, then the index under the tag; skopeo reads it all back.

use hoist_oci::{Descriptor, MediaType, Platform};
use hoist_registry::{Auth, TagAction};
use hoist_testkit::Registry;
use serde_json::json;

use crate::{build_release, client};

#[tokio::test]
async fn an_index_is_pushed_with_its_children_and_read_back_by_skopeo() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let (layout, _) = build_release(tmp.path(), "v1", &[("api", "api code"), ("web", "web code")]);
    let mut entries = Vec::new();
    for (name, platform) in [("api_v1", "linux/amd64"), ("web_v1", "linux/arm64/v8")] {
        let d = layout.resolve(name).unwrap();
        let p: Platform = platform.parse().unwrap();
        let mut entry =
            serde_json::to_value(Descriptor::new(d.media_type().clone(), d.size(), d.digest().clone())).unwrap();
        entry["platform"] = serde_json::to_value(p.to_spec()).unwrap();
        entries.push(entry);
    }
    let index =
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries});
    let bytes = hoist_oci::canonical_json(&index);
    let (digest, size) = layout.write_blob(&bytes).unwrap();
    layout.set_ref("multi_v1", Descriptor::new(MediaType::ImageIndex, size, digest.clone())).unwrap();

    let client = client(&registry.host(), Auth::anonymous());
    let plan = client
        .plan(&layout, &[hoist_registry::PushRequest { source: "multi_v1".into(), tag: "multi_v1".into() }])
        .await
        .unwrap();
    // Both children's configs and layers (the shared base layer once).
    assert_eq!(plan.blobs.len(), 5, "{plan:#?}");
    let report = client.push_image(&layout, "multi_v1", "multi_v1", false).await.unwrap();
    assert_eq!(report.images[0].action, TagAction::Create);
    assert_eq!(report.images[0].digest, digest.to_string());

    let raw = hoist_cmd::Cmd::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/shop:multi_v1", registry.host()))
        .run()
        .unwrap();
    assert_eq!(raw.stdout.as_bytes(), &bytes[..]);
    let out = tmp.path().join("copied");
    hoist_cmd::Cmd::new("skopeo")
        .args(["copy", "--all", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{}/shop:multi_v1", registry.host()))
        .arg(format!("dir:{}", out.display()))
        .run()
        .unwrap();
    // Pushed again: nothing to do.
    let again = client.push_image(&layout, "multi_v1", "multi_v1", false).await.unwrap();
    assert_eq!(again.images[0].action, TagAction::Unchanged);
}
