//! `hoist image import` of archives, recognised by content: a `docker save` of a
//! hoist-built image (through the real Engine) comes back with the same config and DiffIDs
//! and serves as a base; an OCI archive written by skopeo, and hoist's own export (an OCI
//! layout plus Docker's manifest.json), keep their manifest digest; a plain rootfs tar stays
//! a rootfs; hostile archives are refused with nothing under the ref.

use std::path::Path;

use hoist_cmd::Cmd;
use hoist_testkit::example::copy_example;
use serde_json::Value;

use crate::common::{TestContext, hoist, hoist_env};
use crate::hoist_snapshot;
use crate::image::DockerCleanup;

const EPOCH: (&str, &str) = ("SOURCE_DATE_EPOCH", "1700000000");

fn skopeo_json(args: &[&str], image: &str) -> Value {
    let out = Cmd::new("skopeo").arg("inspect").args(args).arg(image).read().expect("skopeo inspect");
    serde_json::from_str(&out).unwrap()
}

fn oci(root: &Path, name: &str) -> String {
    format!("oci:{}:{name}", root.join(".hoist/oci").display())
}

fn refs(root: &Path) -> String {
    hoist(root, &["image", "ls"]).ok().stdout
}

/// A small root filesystem: a directory with a file, a script and a link.
fn small_rootfs(dir: &Path) {
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::write(dir.join("etc/hostname"), "imported\n").unwrap();
    std::os::unix::fs::symlink("hostname", dir.join("etc/name")).unwrap();
}

#[test]
fn a_docker_save_of_hoist_images_imports_back_with_the_same_config_and_serves_as_a_base() {
    let tag = "v1.0.0-aaaaaaa";
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_example(&root);
    Cmd::new("git").args(["init", "-q"]).current_dir(&root).run().unwrap();
    Cmd::new(root.join("build.sh"))
        .args([tag, "gateway"])
        .current_dir(&root)
        .env("SHOP_DEPS_MB", "1")
        .env("SOURCE_DATE_EPOCH", EPOCH.1)
        .run()
        .expect("build.sh");
    let jre = crate::image::jre_rootfs().display().to_string();
    hoist_env(&root, &["image", "import", &jre, "--ref", "shop-jre:17"], &[EPOCH]).ok();
    // The base is also kept under a ref without `:` so the Engine sees it as `REPO:jre`.
    hoist_env(&root, &["image", "import", &jre, "--ref", "jre"], &[EPOCH]).ok();
    let built =
        hoist_env(&root, &["image", "--tag", tag, "--service", "gateway", "--output", "json"], &[EPOCH]).ok().json();
    let gateway = format!("gateway_{tag}");
    assert_eq!(built["images"][0]["name"], gateway.as_str());

    // hoist → docker load → docker save: Docker's own archive format, written by the Engine.
    let repo = format!("hoist-it-import-{:x}", std::process::id());
    let _cleanup = DockerCleanup(vec![format!("image {repo}:{gateway}"), format!("image {repo}:jre")]);
    hoist(&root, &["image", "export", &gateway, "jre", "--repo", &repo, "-o", "hoist.tar"]).ok();
    Cmd::new("docker").args(["load", "-i"]).arg(root.join("hoist.tar")).run().expect("docker load");
    Cmd::new("docker")
        .args(["save", "-o"])
        .arg(root.join("saved.tar"))
        .arg(format!("{repo}:{gateway}"))
        .arg(format!("{repo}:jre"))
        .run()
        .expect("docker save");
    let listing = Cmd::new("tar").arg("-tf").arg(root.join("saved.tar")).read().unwrap();
    assert!(listing.lines().any(|l| l == "manifest.json"), "{listing}");

    // Two images: without --image the error lists both; nothing is written.
    let run = hoist(&root, &["image", "import", "saved.tar", "--ref", "saved-jre:17"]).fails(1);
    let named = TestContext::at(&root).with_filter(&format!(r"\b{repo}:"), "[REPO]:");
    hoist_snapshot!(named, "import_docker_save_two_images", run);
    assert!(!refs(&root).contains("saved-jre"), "a refused import writes no ref");
    // Config flags are for a root filesystem: an archive's image keeps its config.
    let run = hoist(
        &root,
        &["image", "import", "saved.tar", "--ref", "x:1", "--image", &format!("{repo}:jre"), "--env", "A=1"],
    )
    .fails(1);
    assert!(run.stderr.contains("--env set the config of an image made from a root filesystem"), "{}", run.stderr);

    for (picked, ours, imported) in
        [("jre", "jre", "saved-jre:17"), (gateway.as_str(), gateway.as_str(), "saved-gateway:1")]
    {
        let json = hoist(
            &root,
            &[
                "image",
                "import",
                "saved.tar",
                "--ref",
                imported,
                "--image",
                &format!("{repo}:{picked}"),
                "--output",
                "json",
            ],
        )
        .ok()
        .json();
        assert_eq!(json["format"], "docker-archive");
        assert_eq!(json["image"], format!("{repo}:{picked}"));
        let original = skopeo_json(&["--config"], &oci(&root, ours));
        let back = skopeo_json(&["--config"], &oci(&root, imported));
        let original_raw = skopeo_json(&["--raw"], &oci(&root, ours));
        assert_eq!(json["config_digest"], original_raw["config"]["digest"], "{picked}: the config digest is kept");
        assert_eq!(back["rootfs"]["diff_ids"], original["rootfs"]["diff_ids"], "{picked}");
        let diff_ids: Vec<&Value> = json["layers"].as_array().unwrap().iter().map(|l| &l["diff_id"]).collect();
        assert_eq!(diff_ids, original["rootfs"]["diff_ids"].as_array().unwrap().iter().collect::<Vec<_>>());
        // skopeo reads every blob of the imported image, checking each digest.
        let copy = tmp.path().join(format!("copy-{imported}"));
        Cmd::new("skopeo")
            .arg("copy")
            .arg(oci(&root, imported))
            .arg(format!("oci:{}:x", copy.display()))
            .run()
            .expect("skopeo copy");
    }

    // The imported JRE as the base of the shop's gateway: the same config and the same
    // layers as on the original base (the base layer recompressed, so its blob differs).
    let toml = std::fs::read_to_string(root.join("hoist.toml")).unwrap();
    std::fs::write(root.join("hoist.toml"), toml.replace("base = \"shop-jre:17\"", "base = \"saved-jre:17\"")).unwrap();
    let rebuilt_tag = "v1.0.1-bbbbbbb";
    Cmd::new(root.join("build.sh"))
        .args([rebuilt_tag, "gateway"])
        .current_dir(&root)
        .env("SHOP_DEPS_MB", "1")
        .env("SOURCE_DATE_EPOCH", EPOCH.1)
        .run()
        .expect("build.sh");
    hoist_env(&root, &["image", "--tag", rebuilt_tag, "--service", "gateway"], &[EPOCH]).ok();
    let on_saved = skopeo_json(&["--config"], &oci(&root, &format!("gateway_{rebuilt_tag}")));
    let on_original = skopeo_json(&["--config"], &oci(&root, &gateway));
    let base = skopeo_json(&["--config"], &oci(&root, "saved-jre:17"));
    assert_eq!(on_saved["rootfs"]["diff_ids"][0], base["rootfs"]["diff_ids"][0]);
    assert_eq!(on_saved["rootfs"]["diff_ids"][0], on_original["rootfs"]["diff_ids"][0]);
    assert_eq!(on_saved["config"]["Env"], on_original["config"]["Env"]);
    assert_eq!(on_saved["config"]["Entrypoint"], on_original["config"]["Entrypoint"]);
    let layers = skopeo_json(&["--raw"], &oci(&root, &format!("gateway_{rebuilt_tag}")))["layers"].clone();
    assert_eq!(layers[0]["digest"], skopeo_json(&["--raw"], &oci(&root, "saved-jre:17"))["layers"][0]["digest"]);
}

#[test]
fn an_oci_archive_and_hoists_own_export_keep_the_manifest_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    small_rootfs(&root.join("rootfs"));
    let made =
        hoist_env(root, &["image", "import", "rootfs", "--ref", "small:1", "--output", "json"], &[EPOCH]).ok().json();
    assert_eq!(made["format"], "rootfs");
    let digest = made["digest"].as_str().unwrap().to_string();

    // skopeo's OCI archive, gzip-compressed by gzip itself: recognised by content (no .tar name).
    Cmd::new("skopeo")
        .arg("copy")
        .arg(oci(root, "small:1"))
        .arg(format!("oci-archive:{}:small", root.join("small.oci").display()))
        .run()
        .expect("skopeo copy");
    Cmd::new("gzip").arg("-k").arg(root.join("small.oci")).run().unwrap();
    for (file, name) in [("small.oci", "from-oci:1"), ("small.oci.gz", "from-gz:1")] {
        let json = hoist(root, &["image", "import", file, "--ref", name, "--output", "json"]).ok().json();
        assert_eq!(json["format"], "oci-archive", "{file}");
        assert_eq!(json["digest"], digest.as_str(), "{file}");
        assert_eq!(skopeo_json(&[], &oci(root, name))["Digest"], digest.as_str());
    }

    // hoist's export holds an OCI layout and Docker's manifest.json (as Docker 25+ writes):
    // read through the layout, so the digest stays; --image picks by the Docker name.
    hoist(root, &["image", "export", "small:1", "from-oci:1", "--repo", "r", "-o", "both.tar"]).ok();
    let json =
        hoist(root, &["image", "import", "both.tar", "--ref", "both:1", "--image", "small:1", "--output", "json"])
            .ok()
            .json();
    assert_eq!(json["format"], "docker-archive");
    assert_eq!(json["digest"], digest.as_str());

    // An index whose arm64 manifest the archive lacks (as a base fetched from a registry):
    // kept as it is, with the manifest it has.
    let with_index = root.join("index-oci");
    std::fs::create_dir_all(&with_index).unwrap();
    Cmd::new("tar").arg("-xf").arg(root.join("small.oci")).arg("-C").arg(&with_index).run().unwrap();
    let manifest_size =
        std::fs::metadata(with_index.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap().len();
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": manifest_size,
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(b"not here"), "size": 8,
         "platform": {"architecture": "arm64", "os": "linux"}},
    ]});
    let index_bytes = serde_json::to_vec(&index).unwrap();
    let index_digest = sha256(&index_bytes);
    std::fs::write(with_index.join("blobs/sha256").join(index_digest.trim_start_matches("sha256:")), &index_bytes)
        .unwrap();
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": index_digest, "size": index_bytes.len(), "annotations": {"org.opencontainers.image.ref.name": "two"}}]});
    std::fs::write(with_index.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    Cmd::new("tar").arg("-cf").arg(root.join("index.oci")).arg("-C").arg(&with_index).arg(".").run().unwrap();
    let json = hoist(root, &["image", "import", "index.oci", "--ref", "two:1", "--output", "json"]).ok().json();
    assert_eq!(json["digest"], index_digest.as_str());
    assert_eq!(skopeo_json(&["--raw"], &oci(root, "two:1"))["manifests"][1]["platform"]["architecture"], "arm64");
    // skopeo picks the amd64 manifest and reads its config.
    assert_eq!(
        skopeo_json(&["--config"], &oci(root, "two:1"))["rootfs"],
        skopeo_json(&["--config"], &oci(root, "small:1"))["rootfs"]
    );

    // The OCI archive with one blob altered (same size, other bytes): refused by its digest.
    let bad = root.join("bad-oci");
    std::fs::create_dir_all(&bad).unwrap();
    Cmd::new("tar").arg("-xf").arg(root.join("small.oci")).arg("-C").arg(&bad).run().unwrap();
    let raw = skopeo_json(&["--raw"], &oci(root, "small:1"));
    let config = bad.join("blobs/sha256").join(raw["config"]["digest"].as_str().unwrap().trim_start_matches("sha256:"));
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("\"amd64\""), "{text}");
    std::fs::write(&config, text.replace("\"amd64\"", "\"arm64\"")).unwrap();
    Cmd::new("tar").arg("-cf").arg(root.join("bad.oci")).arg("-C").arg(&bad).arg(".").run().unwrap();
    let run = hoist(root, &["image", "import", "bad.oci", "--ref", "bad:1"]).fails(1);
    assert!(
        run.stderr.contains(&format!(
            "entry `blobs/sha256/{}`",
            raw["config"]["digest"].as_str().unwrap().trim_start_matches("sha256:")
        )) && run.stderr.contains("does not match its digest"),
        "{}",
        run.stderr
    );
    assert!(!refs(root).contains("bad:1"), "nothing under the ref");

    // A plain tar of a root filesystem is still a root filesystem: the same image as the dir.
    Cmd::new("tar").args(["-cf", "rootfs.tar", "-C", "rootfs", "."]).current_dir(root).run().unwrap();
    let json = hoist_env(root, &["image", "import", "rootfs.tar", "--ref", "tarred:1", "--output", "json"], &[EPOCH])
        .ok()
        .json();
    assert_eq!(json["format"], "rootfs");
    assert_eq!(skopeo_json(&[], &oci(root, "tarred:1"))["Layers"].as_array().unwrap().len(), 1);
    // --image makes no sense for a root filesystem.
    let run = hoist(root, &["image", "import", "rootfs.tar", "--ref", "t:2", "--image", "x:1"]).fails(1);
    assert!(run.stderr.contains("this is a root filesystem"), "{}", run.stderr);
}

/// A directory made into a Docker-format archive by the real tar.
fn docker_archive(dir: &Path, out: &Path) {
    Cmd::new("tar").arg("-cf").arg(out).arg("-C").arg(dir).arg(".").run().unwrap();
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hoist_testkit::sha256_hex(bytes))
}

/// A Docker archive of one image with one layer (`layer`, a tar's bytes) whose config
/// states `diff_id`; `layers` is what manifest.json lists.
fn write_docker_dir(dir: &Path, layer: &[u8], diff_id: &str, layers: &[&str]) {
    std::fs::create_dir_all(dir.join("aaaa")).unwrap();
    std::fs::write(dir.join("aaaa/layer.tar"), layer).unwrap();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{}.json", sha256(&config).trim_start_matches("sha256:"));
    std::fs::write(dir.join(&config_name), &config).unwrap();
    let manifest = serde_json::json!([{"Config": config_name, "RepoTags": ["evil:1"], "Layers": layers}]);
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
}

#[test]
fn hostile_archives_are_refused_and_write_nothing_under_the_ref() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    small_rootfs(&root.join("rootfs"));
    Cmd::new("tar").args(["-cf", "layer.tar", "-C", "rootfs", "."]).current_dir(root).run().unwrap();
    let layer = std::fs::read(root.join("layer.tar")).unwrap();
    let good = sha256(&layer);
    let ctx = TestContext::at(root);

    // An entry that climbs out with `..` (GNU tar keeps it with -P).
    std::fs::write(root.join("escape"), "x").unwrap();
    Cmd::new("tar").args(["-cPf", "dotdot.tar", "rootfs/../escape"]).current_dir(root).run().unwrap();
    let run = hoist(root, &["image", "import", "dotdot.tar", "--ref", "evil:1"]).fails(1);
    hoist_snapshot!(ctx, "import_archive_dotdot", run);

    // manifest.json naming a layer outside the archive, by `..` and by an absolute path.
    for (case, path) in [("up", "../../../etc/passwd"), ("absolute", "/etc/passwd")] {
        let dir = root.join(format!("outside-{case}"));
        write_docker_dir(&dir, &layer, &good, &[path]);
        docker_archive(&dir, &root.join(format!("outside-{case}.tar")));
        let run = hoist(root, &["image", "import", &format!("outside-{case}.tar"), "--ref", "evil:1"]).fails(1);
        hoist_snapshot!(ctx, format!("import_archive_outside_{case}"), run);
    }

    // A layer that is a link to a file outside the archive.
    let dir = root.join("link");
    write_docker_dir(&dir, &layer, &good, &["aaaa/layer.tar"]);
    std::fs::remove_file(dir.join("aaaa/layer.tar")).unwrap();
    std::os::unix::fs::symlink(root.join("layer.tar"), dir.join("aaaa/layer.tar")).unwrap();
    docker_archive(&dir, &root.join("link.tar"));
    let run = hoist(root, &["image", "import", "link.tar", "--ref", "evil:1"]).fails(1);
    assert!(
        run.stderr.contains("entry `aaaa/layer.tar`: manifest.json names a link that points outside the archive"),
        "{}",
        run.stderr
    );

    // A layer whose content is not the DiffID its config states.
    let dir = root.join("diffid");
    write_docker_dir(&dir, &layer, &sha256(b"another layer"), &["aaaa/layer.tar"]);
    docker_archive(&dir, &root.join("diffid.tar"));
    let run = hoist(root, &["image", "import", "diffid.tar", "--ref", "evil:1"]).fails(1);
    hoist_snapshot!(ctx, "import_archive_diff_id", run);

    // A config that is not what its name states.
    let dir = root.join("config");
    write_docker_dir(&dir, &layer, &good, &["aaaa/layer.tar"]);
    let name = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .find(|n| n.ends_with(".json") && n != "manifest.json")
        .unwrap();
    std::fs::write(
        dir.join(&name),
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    )
    .unwrap();
    docker_archive(&dir, &root.join("config.tar"));
    let run = hoist(root, &["image", "import", "config.tar", "--ref", "evil:1"]).fails(1);
    assert!(run.stderr.contains("does not match the digest its name states"), "{}", run.stderr);

    // Docker before 1.10's format (`repositories`, no manifest.json) is not taken for a rootfs.
    let dir = root.join("old");
    write_docker_dir(&dir, &layer, &good, &["aaaa/layer.tar"]);
    std::fs::remove_file(dir.join("manifest.json")).unwrap();
    std::fs::write(dir.join("repositories"), r#"{"evil":{"1":"aaaa"}}"#).unwrap();
    docker_archive(&dir, &root.join("old.tar"));
    let run = hoist(root, &["image", "import", "old.tar", "--ref", "evil:1"]).fails(1);
    assert!(
        run.stderr.contains("entry `repositories`: a `docker save` archive of Docker before 1.10"),
        "{}",
        run.stderr
    );

    // The same archive made right imports: the refusals above were about what they changed.
    let dir = root.join("right");
    write_docker_dir(&dir, &layer, &good, &["aaaa/layer.tar"]);
    docker_archive(&dir, &root.join("right.tar"));
    assert!(!refs(root).contains("evil:1"), "nothing was written under the ref");
    let json = hoist(root, &["image", "import", "right.tar", "--ref", "evil:1", "--output", "json"]).ok().json();
    assert_eq!(json["format"], "docker-archive");
    assert_eq!(json["layers"][0]["diff_id"], good.as_str());
    assert_eq!(skopeo_json(&["--config"], &oci(root, "evil:1"))["rootfs"]["diff_ids"][0], good.as_str());

    // A gzip layer is kept as it is (its DiffID checked through the decompressor).
    let gz = root.join("gz");
    std::fs::create_dir_all(&gz).unwrap();
    std::fs::write(gz.join("layer.tar"), &layer).unwrap();
    Cmd::new("gzip").arg("-n").arg(gz.join("layer.tar")).run().unwrap();
    let gz_bytes = std::fs::read(gz.join("layer.tar.gz")).unwrap();
    let dir = root.join("gzipped");
    write_docker_dir(&dir, &gz_bytes, &good, &["aaaa/layer.tar"]);
    docker_archive(&dir, &root.join("gzipped.tar"));
    let json = hoist(root, &["image", "import", "gzipped.tar", "--ref", "gz:1", "--output", "json"]).ok().json();
    assert_eq!(json["layers"][0]["digest"], sha256(&gz_bytes).as_str());
    assert_eq!(json["layers"][0]["diff_id"], good.as_str());
}
