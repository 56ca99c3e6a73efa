//! `plan` then `push_planned`: the push does exactly the plan, asking the registry nothing
//! the plan already asked (every blob HEAD of the two together is the plan's, each once),
//! and reports what became of each blob, checked against what the registry holds.

use std::collections::BTreeMap;

use hoist_registry::{Auth, BlobResult, Client, Options, PushPlan, PushReport, RegistryError, Repository, TagAction};
use hoist_testkit::{FaultProxy, Registry};
use sha2::{Digest as _, Sha256};

use crate::{build_release, client, skopeo_inspect, test_options};

const R1: &str = "v1.0.0-abc1234";
const R2: &str = "v1.1.0-def5678";
const SERVICES: &[(&str, &str)] = &[("api", "api code 1"), ("web", "web code 1"), ("worker", "worker code 1")];
const CHANGED: &[(&str, &str)] = &[("api", "api code 1"), ("web", "web code 2"), ("worker", "worker code 1")];

/// How many blob HEADs per digest the proxy logged from `from` to `to`.
fn blob_heads(proxy: &FaultProxy, from: usize, to: usize) -> BTreeMap<String, usize> {
    let mut heads = BTreeMap::new();
    for line in &proxy.log()[from..to] {
        if let Some(path) = line.strip_prefix("HEAD ")
            && let Some((_, digest)) = path.split_once("/blobs/")
        {
            *heads.entry(digest.to_string()).or_default() += 1;
        }
    }
    heads
}

/// The plan's blobs, each asked once: what the plan step must have sent.
fn each_once(plan: &PushPlan) -> BTreeMap<String, usize> {
    plan.blobs.iter().map(|b| (b.digest.clone(), 1)).collect()
}

/// The blob's bytes as the registry serves them, straight from it (no proxy).
async fn fetch_blob(registry: &Registry, repository: &str, digest: &str) -> Vec<u8> {
    let url = format!("http://{}/v2/{repository}/blobs/{digest}", registry.host());
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 200, "GET {url}");
    resp.bytes().await.unwrap().to_vec()
}

/// The report has one outcome per planned blob, in the plan's order, with `expected` for
/// each; the counters agree with them; every blob is readable from the registry with its
/// digest and size.
async fn assert_outcomes(
    registry: &Registry,
    repository: &str,
    plan: &PushPlan,
    report: &PushReport,
    expected: impl Fn(&hoist_registry::PlannedBlob) -> BlobResult,
) {
    let planned: Vec<(&str, u64, BlobResult)> =
        plan.blobs.iter().map(|b| (b.digest.as_str(), b.size, expected(b))).collect();
    let reported: Vec<(&str, u64, BlobResult)> =
        report.blobs.iter().map(|b| (b.digest.as_str(), b.size, b.outcome)).collect();
    assert_eq!(reported, planned, "{report:#?}");
    let count = |r: BlobResult| planned.iter().filter(|p| p.2 == r).count();
    assert_eq!(
        (report.blobs_uploaded, report.blobs_mounted, report.blobs_skipped),
        (count(BlobResult::Uploaded), count(BlobResult::Mounted), count(BlobResult::Present)),
        "{report:#?}"
    );
    let uploaded: u64 = planned.iter().filter(|p| p.2 == BlobResult::Uploaded).map(|p| p.1).sum();
    assert_eq!(report.bytes_uploaded, uploaded, "{report:#?}");
    for (digest, size, _) in &planned {
        let bytes = fetch_blob(registry, repository, digest).await;
        assert_eq!(bytes.len() as u64, *size, "{digest}");
        assert_eq!(format!("sha256:{}", hex::encode(Sha256::digest(&bytes))), *digest);
    }
    for image in &report.images {
        let inspect = skopeo_inspect_in(registry, repository, &image.tag);
        assert_eq!(inspect["Digest"], image.digest.as_str(), "{}", image.tag);
    }
}

fn skopeo_inspect_in(registry: &Registry, repository: &str, tag: &str) -> serde_json::Value {
    if repository == "shop" {
        return skopeo_inspect(&registry.host(), tag, None);
    }
    let out = hoist_cmd::Cmd::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{}/{repository}:{tag}", registry.host()))
        .read()
        .expect("skopeo inspect");
    serde_json::from_str(&out).expect("skopeo prints JSON")
}

/// The requests from `from` on that name `digest` (HEAD, mount, upload of it).
fn touching(proxy: &FaultProxy, from: usize, digest: &str) -> Vec<String> {
    let hex = digest.trim_start_matches("sha256:");
    proxy.log()[from..].iter().filter(|l| l.contains(hex)).cloned().collect()
}

#[tokio::test]
async fn a_planned_push_asks_nothing_the_plan_asked_and_reports_each_blob() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let client = client(&proxy.host(), Auth::anonymous());

    // New images into an empty repository: the plan asks about every blob, the push
    // uploads each and asks nothing again.
    let first = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(first.path(), R1, SERVICES);
    let start = proxy.log().len();
    let plan = client.plan(&layout, &requests).await.unwrap();
    let planned = proxy.log().len();
    assert_eq!(plan.blobs.len(), 7, "{plan:#?}");
    assert!(plan.blobs.iter().all(|b| b.upload && !b.cached && !b.unasked), "{plan:#?}");
    assert_eq!(blob_heads(&proxy, start, planned), each_once(&plan), "{:#?}", proxy.log());
    // A plan read back from a release record is the same plan.
    let json = serde_json::to_string(&plan).unwrap();
    let read_back: PushPlan = serde_json::from_str(&json).unwrap();
    assert_eq!(read_back, plan);

    let report = client.push_planned(&layout, &read_back, false).await.unwrap();
    let pushed = proxy.log().len();
    assert!(blob_heads(&proxy, planned, pushed).is_empty(), "{:#?}", &proxy.log()[planned..]);
    assert_eq!(blob_heads(&proxy, start, pushed), each_once(&plan));
    assert!(report.images.iter().all(|i| i.action == TagAction::Create), "{report:#?}");
    assert_eq!(report.bytes_uploaded, plan.upload_bytes);
    assert_outcomes(&registry, "shop", &plan, &report, |_| BlobResult::Uploaded).await;

    // Another machine (no blob cache) pushes the next release, which changes only `web`:
    // the plan finds five blobs there by HEAD, and the push leaves them alone entirely.
    let second = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(second.path(), R2, CHANGED);
    let start = proxy.log().len();
    let plan = client.plan(&layout, &requests).await.unwrap();
    let planned = proxy.log().len();
    assert_eq!(blob_heads(&proxy, start, planned), each_once(&plan), "{:#?}", proxy.log());
    let present: Vec<&str> = plan.blobs.iter().filter(|b| !b.upload).map(|b| b.digest.as_str()).collect();
    assert_eq!((present.len(), plan.blobs.len()), (5, 7), "{plan:#?}");
    let report = client.push_planned(&layout, &plan, false).await.unwrap();
    assert!(blob_heads(&proxy, planned, proxy.log().len()).is_empty(), "{:#?}", &proxy.log()[planned..]);
    for digest in &present {
        let sent = touching(&proxy, planned, digest);
        assert!(sent.is_empty(), "the push touched {digest}, which the plan found present: {sent:#?}");
    }
    assert_outcomes(&registry, "shop", &plan, &report, |b| {
        if b.upload { BlobResult::Uploaded } else { BlobResult::Present }
    })
    .await;
    assert_eq!(report.blobs_uploaded, 2, "{report:#?}");

    // A repository that mounts from `shop`: each blob the plan found missing is mounted.
    let options = Options { mount_from: vec!["shop".into()], ..test_options() };
    let repo = Repository::parse(&format!("{}/mirror", proxy.host()), false).unwrap();
    let mirror = Client::new(repo, Auth::anonymous(), options).unwrap();
    let (layout, requests) = build_release(first.path(), R1, SERVICES);
    let start = proxy.log().len();
    let plan = mirror.plan(&layout, &requests).await.unwrap();
    let planned = proxy.log().len();
    assert!(plan.blobs.iter().all(|b| b.upload), "{plan:#?}");
    let report = mirror.push_planned(&layout, &plan, false).await.unwrap();
    assert!(blob_heads(&proxy, planned, proxy.log().len()).is_empty(), "{:#?}", &proxy.log()[planned..]);
    assert_eq!(blob_heads(&proxy, start, proxy.log().len()), each_once(&plan));
    assert_eq!(report.bytes_sent, 0, "mounts send no blob bytes: {report:#?}");
    assert_outcomes(&registry, "mirror", &plan, &report, |_| BlobResult::Mounted).await;
}

#[tokio::test]
async fn a_planned_push_refuses_conflicts_and_stale_plans_before_sending_anything() {
    let registry = Registry::start();
    let proxy = FaultProxy::start(&registry.host());
    let client = client(&proxy.host(), Auth::anonymous());
    let first = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(first.path(), R1, &[("api", "one")]);
    client.push_images(&layout, &requests, false).await.unwrap();

    // The same tag with other content: the plan says Conflict, the push sends nothing.
    let other = tempfile::tempdir().unwrap();
    let (layout2, requests2) = build_release(other.path(), R1, &[("api", "two")]);
    let plan = client.plan(&layout2, &requests2).await.unwrap();
    assert_eq!(plan.images[0].action, TagAction::Conflict, "{plan:#?}");
    let before = proxy.log().len();
    let err = client.push_planned(&layout2, &plan, false).await.unwrap_err();
    assert!(matches!(err, RegistryError::TagConflict { .. }), "{err}");
    // A plan read back that says Replace is no licence to move the tag either.
    let mut replace = plan.clone();
    replace.images[0].action = TagAction::Replace;
    let err = client.push_planned(&layout2, &replace, false).await.unwrap_err();
    assert!(matches!(err, RegistryError::TagConflict { .. }), "{err}");
    assert_eq!(proxy.log().len(), before, "{:#?}", &proxy.log()[before..]);

    // The layout changed since the plan (api rebuilt under the same ref): refused, nothing sent.
    let (layout3, requests3) = build_release(other.path(), "v2.0.0-0000000", &[("api", "three")]);
    let stale = client.plan(&layout3, &requests3).await.unwrap();
    build_release(other.path(), "v2.0.0-0000000", &[("api", "four")]);
    let before = proxy.log().len();
    let err = client.push_planned(&layout3, &stale, false).await.unwrap_err();
    assert!(matches!(err, RegistryError::PlanMismatch { .. }), "{err}");
    assert!(err.to_string().contains("api_v2.0.0-0000000"), "{err}");
    // A plan made for another repository is refused too.
    let mut elsewhere = client.plan(&layout2, &requests2).await.unwrap();
    elsewhere.repository = format!("{}/elsewhere", proxy.host());
    let before_other = proxy.log().len();
    let err = client.push_planned(&layout2, &elsewhere, true).await.unwrap_err();
    assert!(matches!(err, RegistryError::PlanMismatch { .. }), "{err}");
    assert_eq!(proxy.log().len(), before_other);
    assert!(proxy.log()[before..].iter().all(|l| l.starts_with("HEAD ")), "only the plans asked");

    // With force the tag moves.
    let report = client.push_planned(&layout2, &plan, true).await.unwrap();
    assert_eq!(report.images[0].action, TagAction::Replace);
    assert_eq!(skopeo_inspect(&registry.host(), &format!("api_{R1}"), None)["Digest"], plan.images[0].digest.as_str());
}

#[tokio::test]
async fn a_blob_the_plan_found_but_the_registry_lost_is_uploaded_again() {
    let registry = Registry::start();
    let client = client(&registry.host(), Auth::anonymous());
    let first = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(first.path(), R1, SERVICES);
    client.push_images(&layout, &requests, false).await.unwrap();

    // Another machine plans the next release: the HEADs find the shared base layer there.
    let second = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(second.path(), R2, CHANGED);
    let plan = client.plan(&layout, &requests).await.unwrap();
    let base = layout.image(&format!("api_{R2}")).unwrap().manifest.layers()[0].clone();
    let base_digest = base.digest().to_string();
    let planned = plan.blobs.iter().find(|b| b.digest == base_digest).unwrap();
    assert!(!planned.upload && !planned.cached, "{plan:#?}");

    // Between plan and push the registry loses it (a garbage collection).
    let hex = base_digest.trim_start_matches("sha256:");
    let v2 = registry.storage().join("docker/registry/v2");
    std::fs::remove_dir_all(v2.join("blobs/sha256").join(&hex[..2]).join(hex)).unwrap();
    std::fs::remove_dir_all(v2.join("repositories/shop/_layers/sha256").join(hex)).unwrap();

    let report = client.push_planned(&layout, &plan, false).await.unwrap();
    let outcome = report.blobs.iter().find(|b| b.digest == base_digest).unwrap();
    assert_eq!(outcome.outcome, BlobResult::Uploaded, "{report:#?}");
    assert_eq!(report.blobs_uploaded, 3, "web layer, web config and the lost base: {report:#?}");
    assert_eq!(report.blobs_skipped, 4, "{report:#?}");
    let bytes = fetch_blob(&registry, "shop", &base_digest).await;
    assert_eq!(bytes.len() as u64, base.size());
    for image in &report.images {
        assert_eq!(skopeo_inspect(&registry.host(), &image.tag, None)["Digest"], image.digest.as_str());
    }
}
