//! The known-blobs cache: a push after a push sends no HEAD for blobs the repository is
//! known to hold, and a registry that lost a cached blob still ends up with complete images.

use hoist_registry::{Auth, Client, Options, Repository};
use hoist_testkit::{FaultProxy, Registry};

use crate::{build_release, client, skopeo_inspect, test_options};

const R1: &str = "v1.0.0-abc1234";
const R2: &str = "v1.1.0-def5678";
const SERVICES: &[(&str, &str)] = &[("api", "api code 1"), ("web", "web code 1"), ("worker", "worker code 1")];
const CHANGED: &[(&str, &str)] = &[("api", "api code 1"), ("web", "web code 2"), ("worker", "worker code 1")];

/// The blob HEADs among the proxy's log lines from `from` on.
fn blob_heads(proxy: &FaultProxy, from: usize) -> Vec<String> {
    proxy.log()[from..].iter().filter(|l| l.starts_with("HEAD ") && l.contains("/blobs/")).cloned().collect()
}

/// The `POST …/uploads/?mount=…&from=shop` requests (mounts from the repository itself).
fn own_mounts(proxy: &FaultProxy, from: usize) -> Vec<String> {
    proxy.log()[from..].iter().filter(|l| l.starts_with("POST ") && l.contains("from=shop")).cloned().collect()
}

fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// Every tag's manifest and all its blobs are in the registry, and skopeo reads the tag.
async fn assert_complete(registry: &Registry, tags: &[(String, String)]) {
    let direct = client(&registry.host(), Auth::anonymous());
    for (tag, digest) in tags {
        let manifest = direct.get_manifest(tag).await.unwrap();
        assert_eq!(&manifest.digest, digest, "{tag}");
        let parsed = hoist_oci::ImageManifest::from_reader(&manifest.bytes[..]).unwrap();
        for d in std::iter::once(parsed.config()).chain(parsed.layers()) {
            let size = direct.blob_exists(d.digest().as_ref()).await.unwrap();
            assert_eq!(size, Some(d.size()), "{tag}: blob {}", d.digest());
        }
        assert_eq!(skopeo_inspect(&registry.host(), tag, None)["Digest"], digest.as_str(), "{tag}");
    }
}

#[tokio::test]
async fn a_second_push_sends_no_head_for_cached_blobs() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let tmp = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(tmp.path(), R1, SERVICES);
    let client = client(&proxy.host(), Auth::anonymous());
    client.push_images(&layout, &requests, false).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(tmp.path().join(".hoist-cache/registry")).unwrap().collect();
    assert_eq!(files.len(), 1, "one cache file for the one repository");

    // Release 2 changes only `web`: 5 of its 7 blobs are cached, 2 are new.
    let (layout, requests) = build_release(tmp.path(), R2, CHANGED);
    let plan = client.plan(&layout, &requests).await.unwrap();
    let cached: Vec<_> = plan.blobs.iter().filter(|b| b.cached).collect();
    assert_eq!(cached.len(), 5, "{plan:#?}");
    assert!(cached.iter().all(|b| !b.upload));
    assert_eq!(plan.blobs.iter().filter(|b| b.upload).count(), 2, "{plan:#?}");

    let from = proxy.log().len();
    let report = client.push_images(&layout, &requests, false).await.unwrap();
    // Nothing is asked about the cached blobs. The two new ones are small: no HEAD either,
    // each upload opens with a mount from the repository itself (one request: 202 and a
    // session here, since the registry lacks them).
    let heads = blob_heads(&proxy, from);
    assert!(heads.is_empty(), "{heads:#?}");
    let asks = own_mounts(&proxy, from);
    assert_eq!(asks.len(), 2, "{:#?}", proxy.log());
    for b in plan.blobs.iter().filter(|b| b.upload) {
        assert!(asks.iter().any(|a| a.contains(hex(&b.digest))), "no mount for {}: {asks:#?}", b.digest);
    }
    for b in &cached {
        assert!(!proxy.log()[from..].iter().any(|l| l.contains(hex(&b.digest))), "request for cached {}", b.digest);
    }
    assert_eq!((report.blobs_uploaded, report.blobs_skipped), (2, 5), "{report:#?}");

    // The same release again: tags unchanged, still no blob HEADs.
    let from = proxy.log().len();
    let again = client.push_images(&layout, &requests, false).await.unwrap();
    assert!(blob_heads(&proxy, from).is_empty(), "{:#?}", proxy.log());
    assert_eq!(again.bytes_sent, 0);

    let tags: Vec<(String, String)> = report.images.iter().map(|i| (i.tag.clone(), i.digest.clone())).collect();
    assert_complete(&registry, &tags).await;

    // Opt-out: HEADs for every blob, as before, and nothing cached.
    let options = Options { blob_cache: false, ..test_options() };
    let repo = Repository::parse(&format!("{}/shop", proxy.host()), false).unwrap();
    let uncached = Client::new(repo, Auth::anonymous(), options).unwrap();
    let (layout, requests) = build_release(tmp.path(), "v1.2.0-0000000", CHANGED);
    let from = proxy.log().len();
    let plan = uncached.plan(&layout, &requests).await.unwrap();
    assert!(plan.blobs.iter().all(|b| !b.cached));
    assert_eq!(blob_heads(&proxy, from).len(), plan.blobs.len(), "{:#?}", proxy.log());
}

#[tokio::test]
async fn a_registry_that_lost_a_cached_blob_still_gets_complete_images() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(tmp.path(), R1, SERVICES);
    let client = client(&registry.host(), Auth::anonymous());
    client.push_images(&layout, &requests, false).await.unwrap();

    // The registry loses the shared base layer (as after a garbage collection): its data
    // and the repository's link to it.
    let base = layout.image(&format!("api_{R1}")).unwrap().manifest.layers()[0].clone();
    let hex = base.digest().to_string().trim_start_matches("sha256:").to_string();
    let v2 = registry.storage().join("docker/registry/v2");
    std::fs::remove_dir_all(v2.join("blobs/sha256").join(&hex[..2]).join(&hex)).unwrap();
    std::fs::remove_dir_all(v2.join("repositories/shop/_layers/sha256").join(&hex)).unwrap();
    assert_eq!(client.blob_exists(base.digest().as_ref()).await.unwrap(), None);

    // The cache still lists it, so the plan trusts it ...
    let (layout, requests) = build_release(tmp.path(), R2, CHANGED);
    let plan = client.plan(&layout, &requests).await.unwrap();
    let planned = plan.blobs.iter().find(|b| b.digest == base.digest().to_string()).unwrap();
    assert!(planned.cached && !planned.upload, "{plan:#?}");

    // ... the registry refuses the manifests, and the push recovers: cache dropped, the
    // lost layer uploaded again, every manifest put.
    let report = client.push_images(&layout, &requests, false).await.unwrap();
    assert_eq!(report.blobs_uploaded, 3, "web layer, web config and the lost base: {report:#?}");
    assert!(report.bytes_uploaded >= base.size(), "{report:#?}");
    let tags: Vec<(String, String)> = report.images.iter().map(|i| (i.tag.clone(), i.digest.clone())).collect();
    assert_complete(&registry, &tags).await;

    // The cache was rebuilt from this push: the base layer is known again.
    let plan = client.plan(&layout, &requests).await.unwrap();
    assert!(plan.images.iter().all(|i| i.action == hoist_registry::TagAction::Unchanged), "{plan:#?}");
    let (layout, requests) = build_release(tmp.path(), "v1.2.0-0000000", CHANGED);
    let plan = client.plan(&layout, &requests).await.unwrap();
    assert!(plan.blobs.iter().all(|b| b.cached && !b.upload), "{plan:#?}");
}

#[tokio::test]
async fn small_blobs_the_cache_does_not_list_are_found_by_their_upload_not_sent_again() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let first = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(first.path(), R1, SERVICES);
    client(&proxy.host(), Auth::anonymous()).push_images(&layout, &requests, false).await.unwrap();

    // Another machine (no cache) pushes the same images under new tags: every blob is in
    // the registry already, and none is uploaded again.
    let second = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(second.path(), "v9.0.0-0000000", SERVICES);
    let from = proxy.log().len();
    // Blobs found in place never start on the progress bar.
    let started = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = started.clone();
    let progress: hoist_registry::ProgressFn = std::sync::Arc::new(move |p: &hoist_registry::Progress| {
        if let hoist_registry::Progress::BlobStart { digest, .. } = p {
            seen.lock().unwrap().push(digest.clone());
        }
    });
    let options = Options { progress: Some(progress), ..test_options() };
    let repo = Repository::parse(&format!("{}/shop", proxy.host()), false).unwrap();
    let second_client = Client::new(repo, Auth::anonymous(), options).unwrap();
    let report = second_client.push_images(&layout, &requests, false).await.unwrap();
    assert_eq!((report.blobs_uploaded, report.bytes_uploaded, report.blobs_skipped), (0, 0, 7), "{report:#?}");
    assert!(started.lock().unwrap().is_empty(), "{:?}", started.lock().unwrap());
    // The large base layer is asked by a HEAD; the six small blobs by one mount each.
    assert_eq!(blob_heads(&proxy, from).len(), 1, "{:#?}", proxy.log());
    assert_eq!(own_mounts(&proxy, from).len(), 6, "{:#?}", proxy.log());
    let log = proxy.log();
    assert!(!log[from..].iter().any(|l| l.starts_with("PUT ") && l.contains("/blobs/uploads/")), "{log:#?}");
    assert!(!log[from..].iter().any(|l| l.starts_with("PATCH ")), "{log:#?}");
    assert_eq!(report.bytes_sent, 0, "no blob body was sent: {report:#?}");

    let tags: Vec<(String, String)> = report.images.iter().map(|i| (i.tag.clone(), i.digest.clone())).collect();
    assert_complete(&registry, &tags).await;
}
