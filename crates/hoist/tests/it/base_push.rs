//! Images built on a base from a registry, whose layers the layout never got: `hoist push`
//! mounts them (same registry) or copies them registry to registry (streamed), and
//! `hoist image export` downloads them once into the shared blob cache (`XDG_CACHE_HOME`).
//!
//! The layout is prepared as a registry base leaves it (the base's manifest and config
//! under its normalised name, no layer blobs) with skopeo, so these tests do not depend on
//! how the base got there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hoist_cmd::Cmd;
use hoist_testkit::hostile::{HostileServer, Reply};
use hoist_testkit::{FaultProxy, Registry};
use serde_json::Value;

use crate::bases::PublicBases;
use crate::common::TestContext;

const TAG: &str = "v1.0.0-abc1234";
const EPOCH: (&str, &str) = ("SOURCE_DATE_EPOCH", "1700000000");

/// The example shop built on `base_host/library/jre:17` (its amd64 image, copied from
/// `bases` by skopeo, layers removed), pushing to `repository`.
struct Shop {
    ctx: TestContext,
    /// The base's layers: digest → size.
    base_layers: BTreeMap<String, u64>,
}

impl Shop {
    fn build(bases: &PublicBases, base_host: &str, repository: &str) -> Shop {
        let ctx = TestContext::example().with_env(EPOCH.0, EPOCH.1);
        let root = ctx.path().to_path_buf();
        let base = format!("{base_host}/library/jre:17");
        let toml = std::fs::read_to_string(root.join("hoist.toml")).unwrap();
        let toml = toml
            .replace("repository = \"127.0.0.1:5000/shop\"", &format!("repository = \"{repository}\""))
            .replace("base = \"shop-jre:17\"", &format!("base = \"{base}\""));
        assert!(toml.contains(&base) && toml.contains(repository), "the example's base or repository moved");
        std::fs::write(root.join("hoist.toml"), toml).unwrap();
        Cmd::new("git").args(["init", "-q"]).current_dir(&root).run().unwrap();
        Cmd::new(root.join("build.sh")).arg(TAG).current_dir(&root).env(EPOCH.0, EPOCH.1).run().expect("build.sh");
        let layout = root.join(".hoist/oci");
        std::fs::create_dir_all(&layout).unwrap();
        Cmd::new("skopeo")
            .args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{}/library/jre:17-amd64", bases.registry.host()))
            .arg(format!("oci:{}:{base}", layout.display()))
            .run()
            .unwrap_or_else(|e| panic!("{e}"));
        let manifest = manifest_of(&layout, &base);
        let mut base_layers = BTreeMap::new();
        for l in manifest["layers"].as_array().unwrap() {
            let digest = l["digest"].as_str().unwrap().to_string();
            std::fs::remove_file(blob(&layout, &digest)).unwrap();
            base_layers.insert(digest, l["size"].as_u64().unwrap());
        }
        assert!(!base_layers.is_empty());
        // Pinned in hoist.lock as a registry base leaves it: the build reads the pin and the
        // layout, and asks no registry (the hostile one below serves no manifests).
        let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let digest = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == base)
            .map(|m| m["digest"].as_str().unwrap().to_string())
            .unwrap();
        std::fs::write(
            root.join("hoist.lock"),
            format!(
                "version = 1\n\n[[base]]\nname = \"{base}\"\ndigest = \"{digest}\"\nmedia_type = \"application/vnd.oci.image.manifest.v1+json\"\n\n[base.platforms]\n\"linux/amd64\" = \"{digest}\"\n"
            ),
        )
        .unwrap();
        ctx.hoist(&["image", "--tag", TAG]).ok();
        Shop { ctx, base_layers }
    }

    fn layout(&self) -> PathBuf {
        self.ctx.path().join(".hoist/oci")
    }
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

fn manifest_of(layout: &Path, name: &str) -> Value {
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {index}"));
    serde_json::from_slice(&std::fs::read(blob(layout, entry["digest"].as_str().unwrap())).unwrap()).unwrap()
}

/// The outcomes of the report's blobs that are base layers.
fn base_outcomes<'a>(report: &'a Value, shop: &Shop) -> Vec<&'a Value> {
    let blobs = report["blobs"].as_array().unwrap();
    let found: Vec<&Value> =
        blobs.iter().filter(|b| shop.base_layers.contains_key(b["digest"].as_str().unwrap())).collect();
    assert_eq!(found.len(), shop.base_layers.len(), "{report}");
    found
}

#[test]
fn a_push_to_another_registry_copies_the_base_layers_registry_to_registry() {
    let bases = PublicBases::start();
    let target = Registry::start();
    let shop = Shop::build(&bases, &bases.registry.host(), &format!("{}/shop", target.host()));
    // The built images carry the base annotation and lack its layers.
    let gateway = manifest_of(&shop.layout(), &format!("gateway_{TAG}"));
    assert_eq!(
        gateway["annotations"]["org.opencontainers.image.base.name"],
        format!("{}/library/jre:17", bases.registry.host())
    );

    let plan = shop.ctx.hoist(&["push", "--tag", TAG, "--dry-run", "--output", "json"]).ok().json();
    for b in base_outcomes(&plan, &shop) {
        assert_eq!(b["from"], format!("{}/library/jre", bases.registry.host()), "{b}");
        assert_eq!(b["upload"], true);
    }

    let report = shop.ctx.hoist(&["push", "--tag", TAG, "--output", "json"]).ok().json();
    for b in base_outcomes(&report, &shop) {
        assert_eq!(b["outcome"], "copied", "{b}");
        assert_eq!(b["from"], format!("{}/library/jre", bases.registry.host()));
    }
    let base_bytes: u64 = shop.base_layers.values().sum();
    assert_eq!(report["bytes_copied"], base_bytes);
    assert_eq!(report["blobs_copied"], shop.base_layers.len());
    let images = report["images"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    let out = shop.ctx.scratch("copied");
    for image in images {
        let name = image["tag"].as_str().unwrap();
        let reference = format!("docker://{}/shop:{name}", target.host());
        let inspect: Value = serde_json::from_str(
            &Cmd::new("skopeo").args(["inspect", "--tls-verify=false"]).arg(&reference).read().expect("skopeo inspect"),
        )
        .unwrap();
        assert_eq!(inspect["Digest"], image["digest"], "{name}");
        // skopeo fetches every blob and checks each digest.
        Cmd::new("skopeo")
            .args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(&reference)
            .arg(format!("dir:{}", out.join(name).display()))
            .run()
            .unwrap_or_else(|e| panic!("{e}"));
        for digest in shop.base_layers.keys() {
            assert!(out.join(name).join(digest.trim_start_matches("sha256:")).is_file(), "{name} lacks {digest}");
        }
    }
    // The second push finds everything there.
    let again = shop.ctx.hoist(&["push", "--tag", TAG, "--output", "json"]).ok().json();
    assert_eq!(again["blobs_copied"], 0, "{again}");
}

#[test]
fn a_push_to_the_base_registry_mounts_the_base_layers() {
    let bases = PublicBases::start();
    let proxy = FaultProxy::start(&bases.registry.host());
    let shop = Shop::build(&bases, &proxy.host(), &format!("{}/shop", proxy.host()));
    proxy.reset_bytes();
    let report = shop.ctx.hoist(&["push", "--tag", TAG, "--output", "json"]).ok().json();
    for b in base_outcomes(&report, &shop) {
        assert_eq!(b["outcome"], "mounted", "{b}");
        assert_eq!(b["from"], format!("{}/library/jre", proxy.host()));
    }
    assert_eq!(report["blobs_copied"], 0);
    let base_bytes: u64 = shop.base_layers.values().sum();
    // Only the app layers, configs and manifests went up, never a base layer.
    assert!(proxy.bytes_up() < base_bytes, "{} bytes sent, the base is {base_bytes}", proxy.bytes_up());
    let log = proxy.log();
    assert!(!log.iter().any(|l| l.starts_with("GET /v2/library/jre/blobs/")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("mount=") && l.contains("from=library%2Fjre")), "{log:?}");
    let gateway = format!("docker://{}/shop:gateway_{TAG}", bases.registry.host());
    let out = shop.ctx.scratch("mounted");
    Cmd::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(&gateway)
        .arg(format!("dir:{}", out.display()))
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn export_downloads_the_base_layers_once_into_the_shared_cache() {
    let bases = PublicBases::start();
    let proxy = FaultProxy::start(&bases.registry.host());
    let shop = Shop::build(&bases, &proxy.host(), "127.0.0.1:5000/shop");
    let cache = shop.ctx.scratch("xdg-cache");
    let env = [("XDG_CACHE_HOME", cache.to_str().unwrap())];
    let blob_gets = || proxy.log().iter().filter(|l| l.starts_with("GET /v2/library/jre/blobs/")).count();
    assert_eq!(blob_gets(), 0, "the build downloaded a layer");
    let archive = shop.ctx.path().join("shop.tar");
    let gateway = format!("gateway_{TAG}");
    let first = shop
        .ctx
        .hoist_with(&["image", "export", &gateway, "-o", archive.to_str().unwrap(), "--output", "json"], &env)
        .ok()
        .json();
    assert_eq!(blob_gets(), shop.base_layers.len());
    for digest in shop.base_layers.keys() {
        assert!(blob(&cache.join("hoist"), digest).is_file(), "{digest} not in the cache");
        assert!(!blob(&shop.layout(), digest).is_file(), "{digest} was copied into the project's layout");
    }
    let second = shop
        .ctx
        .hoist_with(&["image", "export", &gateway, "-o", archive.to_str().unwrap(), "--output", "json"], &env)
        .ok()
        .json();
    assert_eq!(blob_gets(), shop.base_layers.len(), "the second export downloaded again");
    assert_eq!(first["bytes"], second["bytes"]);

    let name = format!("127.0.0.1:5000/shop:{gateway}");
    Cmd::new("docker").args(["load", "-q", "-i"]).arg(&archive).run().expect("docker load");
    let layers = Cmd::new("docker")
        .args(["image", "inspect", "--format", "{{len .RootFS.Layers}}"])
        .arg(&name)
        .read()
        .expect("docker image inspect");
    let _ = Cmd::new("docker").args(["rmi", "-f"]).arg(&name).output();
    let manifest = manifest_of(&shop.layout(), &gateway);
    assert_eq!(layers.trim(), manifest["layers"].as_array().unwrap().len().to_string());
}

#[test]
fn a_wrong_blob_from_the_base_registry_fails_the_push_and_tags_nothing() {
    let bases = PublicBases::start();
    let hostile = HostileServer::start();
    let target = Registry::start();
    let shop = Shop::build(&bases, &hostile.host(), &format!("{}/shop", target.host()));
    hostile.route("GET", "/v2/", Reply::new(200));
    let sizes = shop.base_layers.clone();
    hostile.route_fn("GET", "/v2/library/jre/blobs/", move |r| {
        let digest = r.path().rsplit('/').next().unwrap_or_default();
        // The right size, the wrong bytes.
        Reply::new(200).repeat(b'x', sizes.get(digest).copied().unwrap_or(1))
    });
    let run = shop.ctx.hoist(&["push", "--tag", TAG]).fails(2);
    assert!(run.stderr.contains("digest mismatch"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("copied from {}/library/jre", hostile.host())), "{}", run.stderr);
    assert!(shop.base_layers.keys().any(|d| run.stderr.contains(d.as_str())), "{}", run.stderr);
    let tags = Cmd::new("curl").args(["-s"]).arg(format!("http://{}/v2/shop/tags/list", target.host())).read();
    let tags = tags.unwrap_or_default();
    assert!(!tags.contains(TAG), "a tag was pushed: {tags}");
}
