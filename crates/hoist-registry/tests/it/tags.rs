//! 2,500 tags in one repository (many releases of several services) resolve to exactly
//! the right images for a given release, through `Link` pagination.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use hoist_registry::{Auth, latest_releases};
use hoist_testkit::Registry;
use hoist_version::{TagFormat, Template};

use crate::{build_release, client};

#[tokio::test]
async fn release_among_2500_tags() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(tmp.path(), "seed", &[("api", "seed")]);
    let client = client(&registry.host(), Auth::anonymous());
    client.push_images(&layout, &requests, false).await.unwrap();
    let seed = client.get_manifest("api_seed").await.unwrap();
    let base: serde_json::Value = serde_json::from_slice(&seed.bytes).unwrap();

    // 5 services x 500 releases; each tag gets its own manifest (an annotation differs),
    // so a wrong match would show up as a wrong digest.
    let services = ["api", "web", "worker", "admin-ui", "cron"];
    let mut wanted = Vec::new();
    for minor in 0..25 {
        for patch in 0..20 {
            let release = format!("v1.{minor}.{patch}-{:07x}", minor * 100 + patch);
            for service in services {
                wanted.push((service.to_string(), release.clone()));
            }
        }
    }
    assert_eq!(wanted.len(), 2500);
    let digests: Vec<(String, String, String)> = futures::stream::iter(wanted.iter().cloned())
        .map(|(service, release)| {
            let mut manifest = base.clone();
            manifest["annotations"] = serde_json::json!({ "release": format!("{service}/{release}") });
            let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap());
            let tag = format!("{service}_{release}");
            let client = client.clone();
            async move {
                let digest = client.put_manifest(&tag, bytes, "application/vnd.oci.image.manifest.v1+json").await?;
                Ok::<_, hoist_registry::RegistryError>((service, release, digest))
            }
        })
        .buffer_unordered(8)
        .try_collect()
        .await
        .unwrap();

    let tags = client.list_tags().await.unwrap();
    assert_eq!(tags.len(), 2501, "all pages were followed");

    let template = Template::parse("{service}_{tag}", &["service", "tag", "version", "sha"]).unwrap();
    let release = "v1.7.3-00002bf";
    let values = [("tag", release), ("version", "1.7.3"), ("sha", "00002bf")];
    let images = client.resolve_release(&template, &values).await.unwrap();
    let mut expected: Vec<(String, String)> =
        digests.iter().filter(|(_, r, _)| r == release).map(|(s, _, d)| (s.clone(), d.clone())).collect();
    expected.sort();
    let got: Vec<(String, String)> = images.iter().map(|i| (i.service.clone(), i.digest.clone().unwrap())).collect();
    assert_eq!(got, expected);
    // A release that is a prefix of others (`v1.2.1-…` vs `v1.2.10-…`) is matched exactly.
    let values = [("tag", "v1.2.1-00000c9"), ("version", "1.2.1"), ("sha", "00000c9")];
    let images = client.resolve_release(&template, &values).await.unwrap();
    assert_eq!(images.len(), 5);
    assert!(images.iter().all(|i| i.tag.ends_with("_v1.2.1-00000c9")));

    let format = TagFormat::new("v{version}-{sha}", 7).unwrap();
    let latest = latest_releases(&tags, &template, &format).unwrap();
    assert_eq!(latest.len(), 5, "{latest:#?}");
    assert!(latest.iter().all(|i| i.release == format!("v1.24.19-{:07x}", 24 * 100 + 19)), "{latest:#?}");
}
