//! `[image] platforms`: one image per platform with the app layers shared, and an OCI
//! index per service; the index read back by skopeo, pulled by this machine's engine,
//! listed by `hoist images`, pulled by `hoist pull`, and pinned by `hoist deploy compose`.
//! The default (no platforms) keeps the digests of the build before platforms existed.

use std::path::Path;

use hoist_cmd::Cmd;
use hoist_testkit::Registry;
use hoist_testkit::compose::ShopDeploy;
use serde_json::Value;

use crate::bases::{OCI_INDEX, OCI_MANIFEST, PublicBases};
use crate::common::{hoist, hoist_env};
use crate::image::DockerCleanup;

const EPOCH: (&str, &str) = ("SOURCE_DATE_EPOCH", "1700000000");
const TAG: &str = "v1.0.0-aaaaaaa";
const SERVICES: [&str; 3] = ["chat-service", "gateway", "user-service"];
const TWO: &str = "platforms = [\"linux/amd64\", \"linux/arm64\"]\n";

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn blob(layout: &Path, digest: &str) -> Value {
    read_json(&layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:")))
}

/// `skopeo inspect --raw` of a layout ref.
fn raw(layout: &Path, name: &str) -> Value {
    let out = Cmd::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:{name}", layout.display()))
        .read()
        .unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_str(&out).unwrap()
}

fn digests(layers: &Value) -> Vec<String> {
    layers.as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()).collect()
}

/// Add `line` to the `[image]` table of `dir/hoist.toml`.
fn image_key(dir: &Path, line: &str) {
    let path = dir.join("hoist.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    assert!(toml.contains("\n[image]\n"), "{toml}");
    std::fs::write(&path, toml.replacen("\n[image]\n", &format!("\n[image]\n{line}"), 1)).unwrap();
}

/// A copy of the shop example with its jars built for [`TAG`] and `shop-jre:17` imported.
fn shop(dir: &Path) {
    Cmd::new("git").args(["init", "-q"]).current_dir(dir).run().unwrap();
    Cmd::new(dir.join("build.sh"))
        .arg(TAG)
        .current_dir(dir)
        .env("SOURCE_DATE_EPOCH", EPOCH.1)
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    let jre = crate::image::jre_rootfs().display().to_string();
    hoist_env(dir, &["image", "import", &jre, "--ref", "shop-jre:17"], &[EPOCH]).ok();
}

/// Check the index of every service: both platforms, each config saying its architecture,
/// the app layers the same blobs in both; returns service → (index, amd64, arm64) manifests.
fn check_indexes(layout: &Path, built: &Value) -> Vec<(Value, Value, Value)> {
    let mut out = Vec::new();
    for image in built["images"].as_array().unwrap() {
        let name = image["name"].as_str().unwrap();
        let index = raw(layout, name);
        assert_eq!(index["mediaType"], OCI_INDEX, "{name}: {index}");
        assert_eq!(
            image["digest"],
            format!("sha256:{}", hoist_testkit::sha256_hex(&hoist_oci::canonical_json(&index)))
        );
        let entries = index["manifests"].as_array().unwrap();
        let platforms: Vec<String> = entries
            .iter()
            .map(|m| {
                format!("{}/{}", m["platform"]["os"].as_str().unwrap(), m["platform"]["architecture"].as_str().unwrap())
            })
            .collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64"], "{name}");
        // The report lists each platform's manifest, as the index does.
        let reported: Vec<(&str, &str)> = image["platforms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["platform"].as_str().unwrap(), p["digest"].as_str().unwrap()))
            .collect();
        let listed: Vec<(&str, &str)> =
            entries.iter().zip(&platforms).map(|(m, p)| (p.as_str(), m["digest"].as_str().unwrap())).collect();
        assert_eq!(reported, listed, "{name}");
        let amd = blob(layout, entries[0]["digest"].as_str().unwrap());
        let arm = blob(layout, entries[1]["digest"].as_str().unwrap());
        for (m, arch) in [(&amd, "amd64"), (&arm, "arm64")] {
            assert_eq!(m["mediaType"], OCI_MANIFEST);
            let config = blob(layout, m["config"]["digest"].as_str().unwrap());
            assert_eq!(config["architecture"], arch, "{name}");
            assert_eq!(config["os"], "linux", "{name}");
        }
        // The artifact's layers (those the report lists) are the same blobs in both,
        // after each platform's base layers.
        let app: Vec<String> =
            image["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()).collect();
        assert!(!app.is_empty(), "{name}");
        let (a, b) = (digests(&amd["layers"]), digests(&arm["layers"]));
        assert_eq!(a[a.len() - app.len()..], app[..], "{name}");
        assert_eq!(b[b.len() - app.len()..], app[..], "{name}");
        out.push((index, amd, arm));
    }
    out
}

#[test]
fn two_platforms_on_an_imported_base_and_on_a_two_platform_base() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop");
    hoist_testkit::example::copy_example(&dir);
    shop(&dir);
    image_key(&dir, TWO);
    let layout = dir.join(".hoist/oci");

    let dry = hoist_env(&dir, &["image", "--tag", TAG, "--dry-run", "--output", "json"], &[EPOCH]).ok().json();
    assert_eq!(dry[0]["platforms"], serde_json::json!(["linux/amd64", "linux/arm64"]), "{dry}");
    let text = hoist_env(&dir, &["image", "--tag", TAG, "--dry-run"], &[EPOCH]).ok().stdout;
    assert!(text.contains("from shop-jre:17 for linux/amd64, linux/arm64:"), "{text}");

    // The imported (single-platform) base serves both platforms, as FROM would.
    let built = hoist_env(&dir, &["image", "--tag", TAG, "--output", "json"], &[EPOCH]).ok().json();
    assert_eq!(built["images"].as_array().unwrap().len(), 3);
    for (_, amd, arm) in check_indexes(&layout, &built) {
        assert_eq!(amd["layers"][0], arm["layers"][0], "one base layer for both");
        assert_eq!(amd["layers"], arm["layers"]);
    }
    // The per-platform manifests have no ref of their own: one ref per service.
    let ls = hoist(&dir, &["image", "ls"]).ok().stdout;
    assert_eq!(ls.matches(TAG).count(), 3, "{ls}");
    // The text report lists each platform's manifest under its service.
    let again = hoist_env(&dir, &["image", "--tag", TAG], &[EPOCH]).ok().stdout;
    assert_eq!(again.matches("\n  linux/arm64\tsha256:").count(), 3, "{again}");
    // Built twice, the same index digests.
    let twice = hoist_env(&dir, &["image", "--tag", TAG, "--output", "json"], &[EPOCH]).ok().json();
    for (a, b) in built["images"].as_array().unwrap().iter().zip(twice["images"].as_array().unwrap()) {
        assert_eq!(a["digest"], b["digest"]);
    }
    // Docker's archive holds one image per tag: an index ref exports this machine's
    // platform's image, which `docker load` takes and reports as amd64.
    let archive = tmp.path().join("gateway.tar");
    let gateway = format!("gateway_{TAG}");
    hoist(&dir, &["image", "export", &gateway, "-o", archive.to_str().unwrap()]).ok();
    let loaded = Cmd::new("docker").arg("load").arg("-i").arg(&archive).read().unwrap_or_else(|e| panic!("{e}"));
    let name = loaded.lines().find_map(|l| l.strip_prefix("Loaded image: ")).expect("docker load names the image");
    let _cleanup = DockerCleanup(vec![format!("image {name}")]);
    let arch = Cmd::new("docker").args(["image", "inspect", "--format", "{{.Architecture}}", name]).read().unwrap();
    assert_eq!(arch, "amd64", "{loaded}");

    // A two-platform base (an OCI index copied whole into the layout with skopeo): each
    // platform's image is on that platform's base.
    let bases = PublicBases::start();
    Cmd::new("skopeo")
        .args(["copy", "--quiet", "--all", "--src-tls-verify=false"])
        .arg(format!("docker://{}", bases.jre()))
        .arg(format!("oci:{}:jre-two:17", layout.display()))
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    let toml = std::fs::read_to_string(dir.join("hoist.toml")).unwrap();
    std::fs::write(dir.join("hoist.toml"), toml.replace("base = \"shop-jre:17\"", "base = \"jre-two:17\"")).unwrap();
    let built = hoist_env(&dir, &["image", "--tag", TAG, "--output", "json"], &[EPOCH]).ok().json();
    let base_amd = bases.platform_digest(&bases.jre(), "amd64");
    let base_arm = bases.platform_digest(&bases.jre(), "arm64");
    for (_, amd, arm) in check_indexes(&layout, &built) {
        assert_eq!(digests(&amd["layers"])[..1], digests(&blob(&layout, &base_amd)["layers"])[..]);
        assert_eq!(digests(&arm["layers"])[..1], digests(&blob(&layout, &base_arm)["layers"])[..]);
        assert_ne!(amd["layers"][0], arm["layers"][0]);
        // The base's arm64 config says variant v8; the image keeps it.
        assert_eq!(blob(&layout, arm["config"]["digest"].as_str().unwrap())["variant"], "v8");
    }

    // A platform the base's index lacks: one clear error, nothing built.
    let toml = std::fs::read_to_string(dir.join("hoist.toml")).unwrap();
    std::fs::write(dir.join("hoist.toml"), toml.replace(TWO, "platforms = [\"linux/amd64\", \"linux/s390x\"]\n"))
        .unwrap();
    let before = hoist(&dir, &["image", "ls", "--output", "json"]).ok().stdout;
    let run = hoist_env(&dir, &["image", "--tag", TAG, "--output", "json"], &[EPOCH]).fails(1);
    assert!(run.stderr.contains("`jre-two:17` has no manifest for linux/s390x"), "{}", run.stderr);
    assert_eq!(hoist(&dir, &["image", "ls", "--output", "json"]).ok().stdout, before, "no ref moved");
}

#[test]
fn one_platform_is_a_plain_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tiny_project(dir);
    image_key(dir, "platforms = [\"linux/arm64\"]\n");
    let built = hoist_env(dir, &["image", "--tag", TAG, "--output", "json"], &[EPOCH]).ok().json();
    let image = &built["images"][0];
    assert!(image.get("platforms").is_none(), "{image}");
    let layout = dir.join(".hoist/oci");
    let manifest = raw(&layout, image["name"].as_str().unwrap());
    assert_eq!(manifest["mediaType"], OCI_MANIFEST);
    assert_eq!(blob(&layout, manifest["config"]["digest"].as_str().unwrap())["architecture"], "arm64");
}

/// A project of one `file` service on an imported base, every input fixed.
fn tiny_project(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir.join("rootfs/etc")).unwrap();
    std::fs::write(dir.join("rootfs/etc/base-release"), "base\n").unwrap();
    std::fs::write(dir.join("app.txt"), "hello\n").unwrap();
    for (p, mode) in [("rootfs", 0o755), ("rootfs/etc", 0o755), ("rootfs/etc/base-release", 0o644), ("app.txt", 0o644)]
    {
        std::fs::set_permissions(dir.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::fs::write(
        dir.join("hoist.toml"),
        "[project]\nname = \"plat\"\n\n[services.app]\nartifact = \"app.txt\"\n\n[image]\nbase = \"base:1\"\nentrypoint = [\"/bin/cat\", \"/app/app.txt\"]\n",
    )
    .unwrap();
    hoist_env(dir, &["image", "import", "rootfs", "--ref", "base:1"], &[EPOCH]).ok();
}

/// No `platforms`: the digests the builder gave before it knew platforms (the main
/// branch's hoist at the foundation commit, run on this project), so existing releases
/// are not rebuilt under new digests.
#[test]
fn without_platforms_the_digests_are_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tiny_project(dir);
    let ls = hoist(dir, &["image", "ls", "--output", "json"]).ok().json();
    assert_eq!(ls[0]["digest"], "sha256:68d63b443dd1e9c73076f35eb5d1870bbf65645c910fe12fea96456e5e3abf95", "{ls}");
    let built = hoist_env(dir, &["image", "--tag", "v1.0.0-abc1234", "--output", "json"], &[EPOCH]).ok().json();
    assert_eq!(built["images"][0]["digest"], "sha256:f3ab571065b9d098c5bdbb3a646c3b5504d7b0d036328fb14fcfd1b7415042e9");
    assert!(built["images"][0].get("platforms").is_none());
    assert_eq!(built["new_blob_bytes"], 1357);
}

/// skopeo copies a layout index to the registry with every platform (what `hoist push`
/// does once it pushes indexes).
fn copy_all(layout: &Path, name: &str, dest: &str) {
    Cmd::new("skopeo")
        .args(["copy", "--quiet", "--all", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:{name}", layout.display()))
        .arg(format!("docker://{dest}"))
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn an_index_on_a_registry_is_listed_pulled_and_run_by_its_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tiny_project(dir);
    image_key(dir, TWO);
    let registry = Registry::start();
    let repo = format!("{}/plat", registry.host());
    let toml = std::fs::read_to_string(dir.join("hoist.toml")).unwrap();
    std::fs::write(
        dir.join("hoist.toml"),
        format!("{toml}\n[registry]\nrepository = \"{repo}\"\nimage_tag = \"{{service}}_{{tag}}\"\n"),
    )
    .unwrap();
    let layout = dir.join(".hoist/oci");
    let built = hoist_env(dir, &["image", "--tag", TAG, "--output", "json"], &[EPOCH]).ok().json();
    let index_digest = built["images"][0]["digest"].as_str().unwrap().to_string();
    let name = format!("app_{TAG}");
    copy_all(&layout, &name, &format!("{repo}:{name}"));

    // The registry serves the index (skopeo as the independent reader).
    let served: Value = serde_json::from_slice(&crate::bases::raw_manifest(&format!("{repo}:{name}"))).unwrap();
    assert_eq!(served["mediaType"], OCI_INDEX);
    assert_eq!(served["manifests"].as_array().unwrap().len(), 2);

    // `hoist images` lists the service with the index digest.
    let images = hoist(dir, &["images", "--tag", TAG, "--output", "json"]).ok().json();
    let listed = images.to_string();
    assert!(listed.contains(&index_digest), "{images}");

    // This machine's engine pulls its platform through the index digest.
    let by_digest = format!("{repo}@{index_digest}");
    let _cleanup = DockerCleanup(vec![format!("image {by_digest}")]);
    Cmd::new("docker").args(["pull", "--quiet", &by_digest]).run().unwrap_or_else(|e| panic!("{e}"));
    let arch = Cmd::new("docker")
        .args(["image", "inspect", "--format", "{{.Architecture}} {{json .RepoDigests}}", &by_digest])
        .read()
        .unwrap();
    assert!(arch.starts_with("amd64 "), "{arch}");
    // What the engine records is the index digest: the compose deploy's check reads it.
    assert!(arch.contains(&by_digest), "{arch}");

    // `hoist pull` into a fresh layout: the index and this host's platform only.
    let other = dir.join("puller");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(dir.join("hoist.toml"), other.join("hoist.toml")).unwrap();
    let pulled = hoist(&other, &["pull", "--tag", TAG, "--output", "json"]).ok().json();
    let report = &pulled["images"][0];
    assert_eq!(report["digest"], index_digest.as_str(), "{pulled}");
    assert_eq!(report["platform"], "linux/amd64");
    let other_layout = other.join(".hoist/oci");
    let index = raw(&other_layout, &name);
    assert_eq!(index["mediaType"], OCI_INDEX);
    let amd = index["manifests"][0]["digest"].as_str().unwrap();
    let arm = index["manifests"][1]["digest"].as_str().unwrap();
    assert!(other_layout.join("blobs/sha256").join(amd.trim_start_matches("sha256:")).is_file());
    assert!(!other_layout.join("blobs/sha256").join(arm.trim_start_matches("sha256:")).is_file());
    // skopeo reads the host's image of the pulled index, every blob verified.
    Cmd::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:{name}", other_layout.display()))
        .arg(format!("oci:{}:copy", dir.join("copy").display()))
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn compose_deploys_the_index_digest_and_the_services_answer() {
    let shop_deploy = ShopDeploy::new("");
    let dir = shop_deploy.dir();
    shop(dir);
    image_key(dir, TWO);
    let layout = dir.join(".hoist/oci");
    let built = hoist_env(dir, &["image", "--tag", TAG, "--output", "json"], &[EPOCH]).ok().json();
    check_indexes(&layout, &built);
    for image in built["images"].as_array().unwrap() {
        let service = image["service"].as_str().unwrap();
        copy_all(&layout, image["name"].as_str().unwrap(), &shop_deploy.reference(service, TAG));
    }
    let deployed = hoist(dir, &["deploy", "compose", "--tag", TAG, "--output", "json"]).ok().json();
    for image in built["images"].as_array().unwrap() {
        let service = image["service"].as_str().unwrap();
        let pin = deployed["pins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["service"] == service)
            .unwrap_or_else(|| panic!("{service} in {deployed}"));
        assert_eq!(pin["digest"], image["digest"], "{service} is pinned to its index");
        assert_eq!(
            shop_deploy.registry_digest(&shop_deploy.reference(service, TAG)),
            image["digest"].as_str().unwrap()
        );
    }
    for service in SERVICES {
        assert_eq!(shop_deploy.version(service).as_deref(), Some(TAG), "{service} answers /version");
    }
}
