//! Pushing a release: cross-checked with skopeo and the Docker Engine; second pushes and
//! changed services send only what changed; immutable tags; pull back.

use hoist_registry::{Auth, RegistryError, TagAction};
use hoist_testkit::{FaultProxy, Registry};

use crate::{build_release, client, skopeo_inspect};

const RELEASE: &str = "v1.0.0-abc1234";
const SERVICES: &[(&str, &str)] = &[("api", "api code 1"), ("web", "web code 1"), ("worker", "worker code 1")];

#[tokio::test]
async fn push_is_readable_by_skopeo_and_incremental_pushes_send_only_changes() {
    let registry = Registry::start();
    // Count what really goes over the wire with the proxy (no faults).
    let proxy = FaultProxy::start(&registry.host());
    let tmp = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(tmp.path(), RELEASE, SERVICES);
    let client = client(&proxy.host(), Auth::anonymous());

    let plan = client.plan(&layout, &requests).await.unwrap();
    assert!(plan.images.iter().all(|i| i.action == TagAction::Create));
    // base layer + 3 service layers + 3 configs; the base layer once although 3 images use it.
    assert_eq!(plan.blobs.len(), 7, "{plan:#?}");
    let base = plan.blobs.iter().find(|b| b.used_by.len() == 3).expect("a blob all three share");
    assert!(base.size > 6 * 1024 * 1024);

    let report = client.push_images(&layout, &requests, false).await.unwrap();
    assert_eq!(report.blobs_uploaded, 7);
    assert_eq!(report.bytes_uploaded, plan.upload_bytes);
    assert!(proxy.bytes_up() >= plan.upload_bytes, "the proxy saw {} bytes", proxy.bytes_up());

    for (service, _) in SERVICES {
        let tag = format!("{service}_{RELEASE}");
        let inspect = skopeo_inspect(&registry.host(), &tag, None);
        let image = report.image(&tag).unwrap();
        assert_eq!(inspect["Digest"], image.digest.as_str(), "{tag}");
        assert_eq!(inspect["Layers"].as_array().unwrap().len(), 2, "{tag}");
    }

    // Second push of the same release: no layer bytes, no manifest writes.
    proxy.reset_bytes();
    let again = client.push_images(&layout, &requests, false).await.unwrap();
    assert_eq!(again.bytes_uploaded, 0);
    assert_eq!(again.bytes_sent, 0);
    assert!(again.images.iter().all(|i| i.action == TagAction::Unchanged));
    assert!(proxy.bytes_up() < 4096, "a no-op push sent {} bytes", proxy.bytes_up());

    // The next release changes only `web`: only its code layer and config go up.
    let next = "v1.1.0-def5678";
    let changed = [("api", "api code 1"), ("web", "web code 2"), ("worker", "worker code 1")];
    let (layout, requests) = build_release(tmp.path(), next, &changed);
    let plan = client.plan(&layout, &requests).await.unwrap();
    let uploads: Vec<_> = plan.blobs.iter().filter(|b| b.upload).collect();
    assert_eq!(uploads.len(), 2, "{plan:#?}");
    assert!(uploads.iter().all(|b| b.used_by == vec![format!("web_{next}")]), "{uploads:#?}");
    proxy.reset_bytes();
    let report = client.push_images(&layout, &requests, false).await.unwrap();
    assert_eq!(report.blobs_uploaded, 2);
    assert_eq!(report.bytes_uploaded, plan.upload_bytes);
    let web_layer = layout.image(&format!("web_{next}")).unwrap().manifest.layers()[1].size();
    assert!(report.bytes_uploaded < web_layer + 4096, "{report:#?}");
    // Request heads and manifests on top of the changed bytes, nothing more.
    assert!(proxy.bytes_up() < report.bytes_uploaded + 32 * 1024, "sent {} bytes", proxy.bytes_up());
}

#[tokio::test]
async fn tags_are_immutable_unless_forced() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(tmp.path(), RELEASE, &[("api", "one")]);
    let client = client(&registry.host(), Auth::anonymous());
    let first = client.push_images(&layout, &requests, false).await.unwrap();

    // Same release name, different content.
    let other = tempfile::tempdir().unwrap();
    let (layout2, requests2) = build_release(other.path(), RELEASE, &[("api", "two")]);
    let err = client.push_images(&layout2, &requests2, false).await.unwrap_err();
    assert!(matches!(err, RegistryError::TagConflict { .. }), "{err}");
    assert!(err.to_string().contains(&format!("api_{RELEASE}")), "{err}");
    let hint = hoist_diag::Diagnostic::hint(&err).unwrap();
    assert!(hint.contains("--force"), "{hint}");
    // Refused before anything was sent: the tag still points at the first image.
    let tag = format!("api_{RELEASE}");
    assert_eq!(client.manifest_digest(&tag).await.unwrap(), Some(first.images[0].digest.clone()));

    let forced = client.push_images(&layout2, &requests2, true).await.unwrap();
    assert_eq!(forced.images[0].action, TagAction::Replace);
    assert_eq!(client.manifest_digest(&tag).await.unwrap(), Some(forced.images[0].digest.clone()));
}

#[tokio::test]
async fn pull_brings_a_release_back_verified() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(tmp.path(), RELEASE, SERVICES);
    let client = client(&registry.host(), Auth::anonymous());
    let pushed = client.push_images(&layout, &requests, false).await.unwrap();

    let dest = tempfile::tempdir().unwrap();
    let target = hoist_oci::Layout::create_or_open(dest.path()).unwrap();
    let tag = format!("api_{RELEASE}");
    let pulled = client.pull_image(&target, &tag, &tag).await.unwrap();
    assert_eq!(pulled.digest, pushed.image(&tag).unwrap().digest);
    assert_eq!(pulled.blobs_fetched, 3);
    let image = target.image(&tag).unwrap();
    assert_eq!(image.descriptor.digest().to_string(), pulled.digest);
    for layer in image.manifest.layers() {
        assert_eq!(target.read_blob(layer.digest()).unwrap().len() as u64, layer.size());
    }
    // The second service shares the base layer: only its own layer and config come down.
    let tag = format!("web_{RELEASE}");
    let pulled = client.pull_image(&target, &tag, &tag).await.unwrap();
    assert_eq!((pulled.blobs_fetched, pulled.blobs_present), (2, 1));
}

#[tokio::test]
async fn a_missing_repository_and_a_dead_registry_say_so() {
    let registry = Registry::start();
    let client = client(&registry.host(), Auth::anonymous());
    let err = client.list_tags().await.unwrap_err();
    assert!(matches!(err, RegistryError::RepositoryNotFound { .. }), "{err}");
    let hint = hoist_diag::Diagnostic::hint(&err).unwrap();
    assert!(hint.contains("ECR does not create repositories on push"), "{hint}");

    let port = hoist_testkit::registry::free_port();
    let mut options = crate::test_options();
    options.retries = 1;
    let dead = hoist_registry::Client::new(
        hoist_registry::Repository::parse(&format!("127.0.0.1:{port}/shop"), false).unwrap(),
        Auth::anonymous(),
        options,
    )
    .unwrap();
    let err = dead.list_tags().await.unwrap_err();
    assert!(matches!(err, RegistryError::Connect { .. }), "{err}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[tokio::test]
async fn tls_failures_name_the_host() {
    // A plain-HTTP registry reached over TLS: the handshake fails, and the error names the host.
    let registry = Registry::start();
    let repo = hoist_registry::Repository { host: registry.host(), path: "shop".into(), plain_http: false };
    let mut options = crate::test_options();
    options.retries = 0;
    let client = hoist_registry::Client::new(repo, Auth::anonymous(), options).unwrap();
    let err = client.list_tags().await.unwrap_err();
    assert!(matches!(err, RegistryError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains(&registry.host()), "{err}");
}

#[tokio::test]
async fn the_docker_engine_pulls_a_pushed_image() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(tmp.path(), RELEASE, &[("api", "engine")]);
    let client = client(&registry.host(), Auth::anonymous());
    let report = client.push_images(&layout, &requests, false).await.unwrap();
    let reference = format!("{}/shop:api_{RELEASE}", registry.host());
    hoist_cmd::Cmd::new("docker").args(["pull", "--quiet"]).arg(&reference).run().expect("docker pull");
    let id = hoist_cmd::Cmd::new("docker")
        .args(["image", "inspect", "--format", "{{index .RepoDigests 0}}"])
        .arg(&reference)
        .read()
        .expect("docker image inspect");
    let _ = hoist_cmd::Cmd::new("docker").args(["rmi", "--force"]).arg(&reference).run();
    assert!(id.trim().ends_with(&report.images[0].digest), "{id} vs {}", report.images[0].digest);
}

#[tokio::test]
async fn blobs_are_mounted_from_another_repository_of_the_registry() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(tmp.path(), RELEASE, &[("api", "mount")]);
    let other = hoist_registry::Client::new(
        hoist_registry::Repository::parse(&format!("{}/other", registry.host()), false).unwrap(),
        Auth::anonymous(),
        crate::test_options(),
    )
    .unwrap();
    other.push_images(&layout, &requests, false).await.unwrap();

    let options = hoist_registry::Options { mount_from: vec!["other".into()], ..crate::test_options() };
    let shop = hoist_registry::Client::new(
        hoist_registry::Repository::parse(&format!("{}/shop", registry.host()), false).unwrap(),
        Auth::anonymous(),
        options,
    )
    .unwrap();
    let report = shop.push_images(&layout, &requests, false).await.unwrap();
    assert_eq!((report.blobs_mounted, report.blobs_uploaded, report.bytes_uploaded), (3, 0, 0), "{report:#?}");
    assert_eq!(report.bytes_sent, 0);
    let inspect = skopeo_inspect(&registry.host(), &format!("api_{RELEASE}"), None);
    assert_eq!(inspect["Digest"], report.images[0].digest.as_str());
}
