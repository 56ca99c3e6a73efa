//! Base images from a registry (`[image] base = "HOST/library/jre:17"`): `hoist image`
//! resolves the index or manifest list to the platform's manifest and config only (no layer
//! is downloaded: counted through a `FaultProxy`), pins it in hoist.lock, keeps using the
//! pin when the tag moves until `hoist image update-base`, and builds offline from the lock
//! and the layout. The errors of a missing base, platform or pinned digest are pinned by
//! snapshots.

use std::path::{Path, PathBuf};

use hoist_cmd::Cmd;
use hoist_testkit::FaultProxy;
use hoist_testkit::example::copy_example;
use serde_json::Value;

use crate::bases::{PublicBases, raw_manifest};
use crate::common::TestContext;
use crate::hoist_snapshot;

const TAG: &str = "v1.0.0-abc1234";
const EPOCH: (&str, &str) = ("SOURCE_DATE_EPOCH", "1700000000");

/// The example with the gateway built for [`TAG`] and `[image] base` set to `base`.
fn project(base: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_example(&root);
    Cmd::new("git").args(["init", "-q"]).current_dir(&root).run().unwrap();
    Cmd::new(root.join("build.sh"))
        .args([TAG, "gateway"])
        .current_dir(&root)
        .env("SOURCE_DATE_EPOCH", EPOCH.1)
        .run()
        .expect("build.sh");
    set_base(&root, base);
    (tmp, root)
}

fn set_base(root: &Path, base: &str) {
    let path = root.join("hoist.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    let start = toml.find("\nbase = \"").expect("the example sets [image] base") + 1;
    let end = start + toml[start..].find('\n').unwrap();
    std::fs::write(&path, format!("{}base = \"{base}\"{}", &toml[..start], &toml[end..])).unwrap();
}

fn ctx(root: &Path) -> TestContext {
    TestContext::at(root).with_env(EPOCH.0, EPOCH.1)
}

/// `hoist image` of the gateway, as JSON.
fn build(root: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["image", "--tag", TAG, "--service", "gateway", "--output", "json"];
    args.extend_from_slice(extra);
    ctx(root).hoist(&args).ok().json()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn blob(root: &Path, digest: &str) -> PathBuf {
    root.join(".hoist/oci/blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

/// The gateway's image manifest in the layout.
fn manifest(root: &Path, digest: &str) -> Value {
    read_json(&blob(root, digest))
}

/// hoist.lock's entry for `name`.
fn locked(root: &Path, name: &str) -> hoist_config::LockedBase {
    let lock = hoist_config::Lockfile::read(root).unwrap().expect("hoist.lock written");
    lock.get(name).cloned().unwrap_or_else(|| panic!("{name} in hoist.lock: {lock:?}"))
}

/// The `GET …/blobs/…` requests the proxy saw.
fn blob_gets(proxy: &FaultProxy) -> Vec<String> {
    proxy.log().into_iter().filter(|l| l.starts_with("GET ") && l.contains("/blobs/")).collect()
}

/// Build on `reference` (the public registry's, `jre()` or `jre_list()`) through a proxy:
/// no layer fetched (only the amd64 config is), the lock and the annotations say which
/// base; then offline with the registry gone.
fn builds_on(reference_of: fn(&PublicBases) -> String) {
    let bases = PublicBases::start();
    let upstream = reference_of(&bases);
    let proxy = FaultProxy::start(&bases.registry.host());
    let reference = upstream.replace(&bases.registry.host(), &proxy.host());
    let (_tmp, root) = project(&reference);
    let run = ctx(&root).hoist(&["image", "--tag", TAG, "--service", "gateway", "--output", "json"]).ok();
    assert!(run.stderr.contains(&format!("pinned {reference} to sha256:")), "{}", run.stderr);
    assert!(run.stderr.contains("commit hoist.lock"), "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["bases"][0]["change"], "pinned");
    assert_eq!(json["bases"][0]["name"], reference.as_str());

    // hoist.lock: the index (or list) digest and the amd64 manifest digest.
    let amd64 = bases.platform_digest(&upstream, "amd64");
    let entry = locked(&root, &reference);
    assert_eq!(entry.digest, bases.digest(&upstream));
    assert_eq!(entry.platforms["linux/amd64"], amd64);

    // Blob GETs through the proxy: the amd64 config, nothing else (no layer, no arm64).
    let repo = reference.trim_start_matches(&format!("{}/", proxy.host())).split(':').next().unwrap().to_string();
    let base_manifest: Value =
        serde_json::from_slice(&raw_manifest(&format!("{}/{repo}@{amd64}", bases.registry.host()))).unwrap();
    let config = base_manifest["config"]["digest"].as_str().unwrap();
    assert_eq!(blob_gets(&proxy), [format!("GET /v2/{repo}/blobs/{config}")], "{:#?}", proxy.log());

    // The built manifest names its base, carries the base layers' descriptors (renamed to
    // OCI types for a Docker list), and the layout holds none of those layers.
    let image = &json["images"][0];
    let m = manifest(&root, image["digest"].as_str().unwrap());
    assert_eq!(m["annotations"]["org.opencontainers.image.base.name"], reference.as_str());
    assert_eq!(m["annotations"]["org.opencontainers.image.base.digest"], amd64.as_str());
    let base_layers = base_manifest["layers"].as_array().unwrap();
    let layers = m["layers"].as_array().unwrap();
    assert!(layers.len() > base_layers.len(), "the base layers, then the app's: {m:#}");
    for (l, b) in layers.iter().zip(base_layers) {
        assert_eq!(l["digest"], b["digest"]);
        assert_eq!(l["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
        assert!(!blob(&root, l["digest"].as_str().unwrap()).exists(), "base layer {l} was downloaded");
    }

    // Offline: the registry and its proxy gone, the lock and the layout suffice.
    let requests = proxy.log().len();
    drop(proxy);
    drop(bases);
    let again = build(&root, &[]);
    assert_eq!(again["images"][0]["digest"], image["digest"], "same lock, same image");
    assert_eq!(again["bases"][0]["change"], "locked");
    assert_eq!(again["bases"][0]["fetched"], 0);
    assert!(requests > 0);
}

#[test]
fn an_index_base_is_built_on_without_downloading_a_layer() {
    builds_on(PublicBases::jre);
}

#[test]
fn a_docker_manifest_list_base_too() {
    builds_on(PublicBases::jre_list);
}

#[test]
fn a_moved_tag_changes_nothing_until_update_base() {
    let bases = PublicBases::start();
    let reference = bases.jre();
    let (_tmp, root) = project(&reference);
    let first = build(&root, &[]);
    let before = first["images"][0]["digest"].as_str().unwrap().to_string();
    let lock_before = std::fs::read_to_string(root.join("hoist.lock")).unwrap();
    let old_amd64 = locked(&root, &reference).platforms["linux/amd64"].clone();
    let host = bases.registry.host();
    let old_base: Value = serde_json::from_slice(&raw_manifest(&format!("{host}/library/jre@{old_amd64}"))).unwrap();
    let old_base_layers = old_base["layers"].as_array().unwrap().len();

    let moved = bases.move_tag();
    assert_ne!(moved, locked(&root, &reference).digest);
    let second = build(&root, &[]);
    assert_eq!(second["images"][0]["digest"].as_str(), Some(before.as_str()), "the pin holds");
    assert_eq!(std::fs::read_to_string(root.join("hoist.lock")).unwrap(), lock_before, "hoist.lock unchanged");

    let run = ctx(&root).hoist(&["image", "update-base"]).ok();
    assert!(run.stderr.contains(&format!("moved {reference}: ")), "{}", run.stderr);
    assert!(run.stdout.contains(&moved), "{}", run.stdout);
    let entry = locked(&root, &reference);
    assert_eq!(entry.digest, moved);
    assert_eq!(entry.platforms["linux/amd64"], bases.platform_digest(&reference, "amd64"));

    let third = build(&root, &[]);
    let after = third["images"][0]["digest"].as_str().unwrap();
    assert_ne!(after, before, "the new base gives a new image");
    // Only the base layers differ: the app layers (those above the base's) are the same blobs.
    let old = manifest(&root, &before)["layers"].as_array().unwrap().clone();
    let new = manifest(&root, after)["layers"].as_array().unwrap().clone();
    let app = old.len() - old_base_layers;
    assert!(app >= 1);
    assert_eq!(new.len(), old.len() + 1, "the moved base has one more layer");
    assert_eq!(old[old.len() - app..], new[new.len() - app..]);
    assert_eq!(old[..old_base_layers], new[..old_base_layers], "the moved base keeps its lower layers");
    assert_ne!(old[..old.len() - app], new[..new.len() - app]);
    assert_eq!(
        manifest(&root, after)["annotations"]["org.opencontainers.image.base.digest"],
        entry.platforms["linux/amd64"].as_str()
    );

    // --update-base on the build itself, with nothing moved since: the pin stays.
    let fourth = build(&root, &["--update-base"]);
    assert_eq!(fourth["bases"][0]["change"], "unchanged");
    assert_eq!(fourth["images"][0]["digest"].as_str(), Some(after));
}

#[test]
fn base_errors_name_the_reference_and_the_fix() {
    let bases = PublicBases::start();
    let host = bases.registry.host();
    let (_tmp, root) = project(&format!("{host}/library/nope:17"));
    let c = ctx(&root);
    let run = c.hoist(&["image", "--tag", TAG, "--service", "gateway"]).fails(1);
    assert!(run.stderr.contains(&format!("{host}/library/nope:17")), "{}", run.stderr);
    hoist_snapshot!(c, "base_not_found", run);
    assert!(!root.join("hoist.lock").exists(), "nothing half done");

    set_base(&root, &bases.jre());
    let run = c.hoist(&["image", "--tag", TAG, "--service", "gateway", "--platform", "linux/s390x"]).fails(1);
    assert!(run.stderr.contains("linux/amd64") && run.stderr.contains("linux/arm64/v8"), "{}", run.stderr);
    hoist_snapshot!(c, "base_platform_missing", run);

    // A lock whose digest the registry no longer has (and the layout never fetched).
    let gone = format!("sha256:{}", "0".repeat(64));
    std::fs::write(
        root.join("hoist.lock"),
        format!(
            "version = 1\n\n[[base]]\nname = \"{}\"\ndigest = \"{gone}\"\nmedia_type = \"application/vnd.oci.image.index.v1+json\"\n",
            bases.jre()
        ),
    )
    .unwrap();
    let run = c.hoist(&["image", "--tag", TAG, "--service", "gateway"]).fails(1);
    assert!(run.stderr.contains(&gone) && run.stderr.contains("hoist image update-base"), "{}", run.stderr);
    hoist_snapshot!(c, "base_pin_gone", run);

    // A registry that is not there: the URL is named.
    std::fs::remove_file(root.join("hoist.lock")).unwrap();
    let port = hoist_testkit::net::free_port();
    set_base(&root, &format!("127.0.0.1:{port}/library/jre:17"));
    let run = c.hoist(&["image", "--tag", TAG, "--service", "gateway"]).fails(1);
    assert!(run.stderr.contains(&format!("http://127.0.0.1:{port}/v2/library/jre/manifests/17")), "{}", run.stderr);
    hoist_snapshot!(c, "base_unreachable", run);
}

#[test]
fn a_dockerfile_from_a_registry_reference_is_pinned_the_same_way() {
    let bases = PublicBases::start();
    let reference = bases.jre();
    let (_tmp, root) = project("shop-jre:17");
    std::fs::write(
        root.join("gateway/Dockerfile"),
        format!("FROM {reference}\nCOPY build/libs/shop-gateway-{TAG}.jar /app.jar\nENTRYPOINT exec /opt/java/bin/java -jar /app.jar\n"),
    )
    .unwrap();
    let toml = std::fs::read_to_string(root.join("hoist.toml")).unwrap();
    std::fs::write(
        root.join("hoist.toml"),
        format!("{toml}\n[services.gateway.image]\ndockerfile = \"gateway/Dockerfile\"\n"),
    )
    .unwrap();

    // A dry run resolves nothing and writes no lock.
    ctx(&root).hoist(&["image", "--tag", TAG, "--service", "gateway", "--dry-run"]).ok();
    assert!(!root.join("hoist.lock").exists());

    let first = build(&root, &[]);
    assert_eq!(first["images"][0]["kind"], "dockerfile");
    assert_eq!(first["bases"][0]["change"], "pinned");
    assert_eq!(locked(&root, &reference).digest, bases.digest(&reference));
    let m = manifest(&root, first["images"][0]["digest"].as_str().unwrap());
    assert_eq!(m["annotations"]["org.opencontainers.image.base.name"], reference.as_str());

    // The shell-form ENTRYPOINT needs /bin/sh, which a base without its layers cannot show:
    // said, not downloaded for.
    let run = ctx(&root).hoist(&["image", "--tag", TAG, "--service", "gateway"]).ok();
    assert!(run.stderr.contains("is not checked for the `/bin/sh`"), "{}", run.stderr);
}
