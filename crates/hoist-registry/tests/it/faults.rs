//! Faults between hoist and a real registry: dropped connections, resets mid-upload and
//! 503s at chosen points. The push completes, digests verify, and no tag ever points at
//! a partial image.

use hoist_registry::{Auth, Options, RegistryError, Repository};
use hoist_testkit::{Fault, FaultProxy, Registry};

use crate::{build_release, client, skopeo_inspect, test_options};

const SERVICES: &[(&str, &str)] = &[("api", "api"), ("web", "web")];

/// Every tag's manifest and all its blobs are there (read directly, not through the proxy).
async fn assert_complete(registry: &Registry, tags: &[String]) {
    let direct = client(&registry.host(), Auth::anonymous());
    for tag in tags {
        let manifest = direct.get_manifest(tag).await.unwrap();
        let parsed = hoist_oci::ImageManifest::from_reader(&manifest.bytes[..]).unwrap();
        for d in std::iter::once(parsed.config()).chain(parsed.layers()) {
            let size = direct.blob_exists(d.digest().as_ref()).await.unwrap();
            assert_eq!(size, Some(d.size()), "{tag}: blob {}", d.digest());
        }
        assert_eq!(skopeo_inspect(&registry.host(), tag, None)["Digest"], manifest.digest.as_str());
    }
}

#[tokio::test]
async fn push_survives_drops_resets_and_503s() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    proxy.fail("HEAD", "/blobs/", 1, Fault::Status(503));
    proxy.fail("HEAD", "/blobs/", 3, Fault::Drop);
    proxy.fail("POST", "/blobs/uploads/", 2, Fault::Status(503));
    // The base layer (6 MiB) is the one streamed PATCH: reset it after 1 MiB.
    proxy.fail("PATCH", "/blobs/uploads/", 1, Fault::ResetAfter(1024 * 1024));
    proxy.fail("PUT", "/blobs/uploads/", 1, Fault::Drop);
    proxy.fail("PUT", "/manifests/", 1, Fault::Status(503));
    proxy.fail("PUT", "/manifests/", 2, Fault::ResetAfter(10));
    proxy.fail("GET", "/v2/", 1, Fault::Status(503));

    let tmp = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(tmp.path(), "v2.0.0-0123456", SERVICES);
    let report = client(&proxy.host(), Auth::anonymous()).push_images(&layout, &requests, false).await.unwrap();
    assert_eq!(proxy.faults_pending(), 0, "not every fault was hit: {:#?}", proxy.log());
    assert!(proxy.faults_fired() >= 8);
    // The reset upload was sent again: more bytes went out than the blobs hold.
    assert!(report.bytes_sent > report.bytes_uploaded, "{report:#?}");
    let tags: Vec<String> = requests.iter().map(|r| r.tag.clone()).collect();
    assert_complete(&registry, &tags).await;
}

#[tokio::test]
async fn a_push_that_gives_up_leaves_no_tag_and_a_rerun_resumes() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    // Every attempt at the streamed base layer is reset.
    for n in 1..=3 {
        proxy.fail("PATCH", "/blobs/uploads/", n, Fault::ResetAfter(512 * 1024));
    }
    let tmp = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(tmp.path(), "v3.0.0-0123456", SERVICES);
    let repo = Repository::parse(&format!("{}/shop", proxy.host()), false).unwrap();
    let options = Options { retries: 2, jobs: 1, ..test_options() };
    let flaky = hoist_registry::Client::new(repo, Auth::anonymous(), options).unwrap();
    let err = flaky.push_images(&layout, &requests, false).await.unwrap_err();
    assert!(matches!(err, RegistryError::Transport { .. }), "{err:?}");

    // No manifest was put: the repository has no tags at all.
    let direct = client(&registry.host(), Auth::anonymous());
    match direct.list_tags().await {
        Ok(tags) => assert!(tags.is_empty(), "{tags:?}"),
        Err(RegistryError::RepositoryNotFound { .. }) => {}
        Err(e) => panic!("{e}"),
    }
    // The small blobs that did go up are not sent again.
    let plan = direct.plan(&layout, &requests).await.unwrap();
    let present = plan.blobs.iter().filter(|b| !b.upload).count();
    assert!(present >= 1, "{plan:#?}");
    let report = direct.push_images(&layout, &requests, false).await.unwrap();
    assert_eq!(report.blobs_skipped, present);
    assert_eq!(report.bytes_uploaded, plan.upload_bytes);
    let tags: Vec<String> = requests.iter().map(|r| r.tag.clone()).collect();
    assert_complete(&registry, &tags).await;
}
