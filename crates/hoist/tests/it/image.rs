//! `hoist image` on the example: daemonless build into the OCI layout, checked by skopeo,
//! loaded into the real Docker Engine and run; reproducible digests; import, build-file,
//! export and ls; bad input.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use hoist_cmd::Cmd;
use hoist_testkit::example::copy_example;
use hoist_testkit::net::wait_http_ok;

use crate::common::{TestContext, hoist, hoist_env};
use crate::{hoist_snapshot, json_snapshot};

const SERVICES: [&str; 3] = ["chat-service", "gateway", "user-service"];
const EPOCH: (&str, &str) = ("SOURCE_DATE_EPOCH", "1700000000");

/// A sealed context for `root` with the tests' pinned `SOURCE_DATE_EPOCH`.
fn ctx(root: &Path) -> TestContext {
    TestContext::at(root).with_env(EPOCH.0, EPOCH.1)
}

/// Snapshot an image report or plan: the layers' bytes and digests depend on the JDK that
/// compiled the jars, so sizes are redacted and digests filtered.
macro_rules! image_json_snapshot {
    ($root:expr, $name:expr, $json:expr) => {
        json_snapshot!(ctx($root), $name, $json, {
            ".**.size" => "[SIZE]",
            ".**.bytes" => "[SIZE]",
            ".**.new_layer_bytes" => "[SIZE]",
            ".**.seconds" => "[TIME]",
        })
    };
}

/// The JRE root filesystem of the example, made once and kept under cargo's target tmp dir.
pub(crate) fn jre_rootfs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shop-jre-rootfs");
        if !dir.join("opt/java/bin/java").is_file() {
            // Made beside it and renamed, so a concurrent test process never sees half of it.
            let part = dir.with_extension(format!("part-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&part);
            Cmd::new(hoist_testkit::example_shop().join("base/make-jre-rootfs.sh"))
                .arg(&part)
                .run()
                .expect("make-jre-rootfs.sh");
            if std::fs::rename(&part, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&part); // another process won the race
            }
        }
        dir
    })
}

/// A copy of the example, built for `tag` (with `deps_mb` MiB of lib/ jars), base imported.
fn shop(tag: &str, deps_mb: u32) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_example(&root);
    Cmd::new("git").args(["init", "-q"]).current_dir(&root).run().unwrap();
    Cmd::new(root.join("build.sh"))
        .arg(tag)
        .current_dir(&root)
        .env("SHOP_DEPS_MB", deps_mb.to_string())
        .env("SOURCE_DATE_EPOCH", EPOCH.1)
        .run()
        .expect("build.sh");
    let jre = jre_rootfs().display().to_string();
    hoist_env(&root, &["image", "import", &jre, "--ref", "shop-jre:17"], &[EPOCH]).ok();
    (tmp, root)
}

fn skopeo_inspect(root: &Path, name: &str) -> serde_json::Value {
    let out = Cmd::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:{name}", root.join(".hoist/oci").display()))
        .read()
        .expect("skopeo inspect");
    serde_json::from_str(&out).unwrap()
}

pub(crate) struct DockerCleanup(pub(crate) Vec<String>);
impl Drop for DockerCleanup {
    fn drop(&mut self) {
        for what in &self.0 {
            let (kind, name) = what.split_once(' ').unwrap();
            let args: &[&str] = if kind == "container" { &["rm", "-f", name] } else { &["rmi", "-f", name] };
            let _ = Cmd::new("docker").args(args).output();
        }
    }
}

#[test]
fn builds_the_example_images_that_skopeo_reads_and_docker_runs() {
    let tag = "v1.2.0-abc1234";
    let (_tmp, root) = shop(tag, 1);
    let dry = hoist_env(&root, &["image", "--tag", tag, "--dry-run", "--output", "json"], &[EPOCH]).ok().json();
    assert_eq!(dry[0]["layers"][0]["description"], "dependencies");
    image_json_snapshot!(&root, "image_dry_run", dry);
    let refs = hoist(&root, &["image", "ls"]).ok().stdout;
    assert!(!refs.contains(tag), "a dry run builds nothing: {refs}");
    let run = hoist_env(&root, &["image", "--tag", tag, "--output", "json"], &[EPOCH]).ok();
    let json = run.json();
    let images = json["images"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    image_json_snapshot!(&root, "image", json);
    for img in images {
        let service = img["service"].as_str().unwrap();
        let name = format!("{service}_{tag}");
        assert_eq!(img["name"], name);
        assert_eq!(img["kind"], "thin-jar");
        let info = skopeo_inspect(&root, &name);
        assert_eq!(info["Digest"], img["digest"]);
        assert_eq!(info["Labels"]["org.opencontainers.image.version"], tag);
        assert_eq!(info["Labels"]["org.opencontainers.image.source"], "https://github.com/acme/shop");
        assert_eq!(info["Labels"]["org.opencontainers.image.created"], "2023-11-14T22:13:20Z");
        // base (1) + dependencies + application
        assert_eq!(info["Layers"].as_array().unwrap().len(), 3, "{service}");
    }
    // The dependency layer is the same blob in every service (stored once).
    let deps: Vec<&serde_json::Value> = images.iter().map(|i| &i["layers"][0]["digest"]).collect();
    assert!(deps.windows(2).all(|w| w[0] == w[1]), "{deps:?}");

    // skopeo copies every one (verifying every blob) into a fresh layout.
    let copy = root.join("copy");
    for s in SERVICES {
        Cmd::new("skopeo")
            .arg("copy")
            .arg(format!("oci:{}:{s}_{tag}", root.join(".hoist/oci").display()))
            .arg(format!("oci:{}:{s}", copy.display()))
            .run()
            .expect("skopeo copy");
    }

    // ls lists them all.
    let ls = hoist(&root, &["image", "ls", "--output", "json"]).ok().json();
    image_json_snapshot!(&root, "image_ls", ls);
    let names: Vec<&str> = ls.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"shop-jre:17") && names.contains(&format!("gateway_{tag}").as_str()), "{names:?}");

    // Export, `docker load` into the real Engine, run each service, ask /version.
    let suffix = format!("{:x}", std::process::id() ^ 0x5a5a);
    let repo = format!("hoist-it-image-{suffix}");
    let archive = root.join("images.tar");
    let mut cleanup = DockerCleanup(Vec::new());
    let exported =
        hoist(&root, &["image", "export", "--tag", tag, "--repo", &repo, "-o", "images.tar", "--output", "json"])
            .ok()
            .json();
    assert_eq!(exported["images"].as_array().unwrap().len(), 3);
    let named = ctx(&root).with_filter(&format!(r"\b{repo}:"), "[REPO]:");
    json_snapshot!(named, "image_export", exported, {".bytes" => "[SIZE]"});
    for s in SERVICES {
        cleanup.0.push(format!("image {repo}:{s}_{tag}"));
    }
    let loaded = Cmd::new("docker").arg("load").arg("-i").arg(&archive).read().expect("docker load");
    for s in SERVICES {
        assert!(loaded.contains(&format!("{repo}:{s}_{tag}")), "{loaded}");
    }
    for s in SERVICES {
        let container = format!("{repo}-{s}");
        cleanup.0.push(format!("container {container}"));
        Cmd::new("docker")
            .args(["run", "-d", "--name", &container, "-p", "127.0.0.1::8080"])
            .arg(format!("{repo}:{s}_{tag}"))
            .run()
            .expect("docker run");
        let port_line = Cmd::new("docker").args(["port", &container, "8080/tcp"]).read().unwrap();
        let port: u16 = port_line.lines().next().unwrap().rsplit(':').next().unwrap().trim().parse().unwrap();
        let body = wait_http_ok(port, "/version", Duration::from_secs(90)).unwrap_or_else(|| {
            let logs = Cmd::new("docker").args(["logs", &container]).output().map(|o| o.stderr).unwrap_or_default();
            panic!("{s} never answered /version: {logs}")
        });
        assert_eq!(body.trim(), tag, "{s}");
    }
}

#[test]
fn building_twice_gives_identical_digests_and_a_code_change_one_new_layer() {
    let tag = "v2.0.0-abc1234";
    let digests = |root: &Path| -> serde_json::Value {
        hoist_env(root, &["image", "--tag", tag, "--output", "json"], &[EPOCH]).ok().json()
    };
    let (_a, first) = shop(tag, 1);
    std::thread::sleep(Duration::from_millis(1100)); // other wall time, other file mtimes
    let (_b, second) = shop(tag, 1);
    let one = digests(&first);
    let two = digests(&second);
    for (x, y) in one["images"].as_array().unwrap().iter().zip(two["images"].as_array().unwrap()) {
        assert_eq!(x["digest"], y["digest"], "{}", x["service"]);
    }
    // A second run over the same layout compresses nothing.
    let again = digests(&first);
    assert_eq!(again["new_layer_bytes"], 0);
    assert_eq!(again["images"][0]["digest"], one["images"][0]["digest"]);

    // Change application code of one service: its application layer alone is new.
    let src = first.join("user-service/src");
    let java = walk_first_java(&src);
    let text = std::fs::read_to_string(&java).unwrap();
    std::fs::write(&java, format!("{text}\n// a change\nclass HoistItChange {{}}\n")).unwrap();
    let tag2 = "v2.0.1-def5678";
    Cmd::new(first.join("build.sh"))
        .args([tag2, "user-service"])
        .current_dir(&first)
        .env("SHOP_DEPS_MB", "1")
        .env("SOURCE_DATE_EPOCH", EPOCH.1)
        .run()
        .unwrap();
    let next = hoist_env(&first, &["image", "--tag", tag2, "--service", "user-service", "--output", "json"], &[EPOCH])
        .ok()
        .json();
    let layers = next["images"][0]["layers"].as_array().unwrap();
    let new: Vec<&serde_json::Value> = layers.iter().filter(|l| l["new"] == true).collect();
    assert_eq!(new.len(), 1, "{layers:?}");
    assert!(new[0]["description"].as_str().unwrap().starts_with("application"), "{layers:?}");
    assert_eq!(next["new_layer_bytes"], new[0]["size"]);
}

fn walk_first_java(dir: &Path) -> PathBuf {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "java") {
                return p;
            }
        }
    }
    panic!("no .java under {}", dir.display())
}

#[test]
fn build_file_makes_the_kv_store_image_and_refuses_run() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_example(&root);
    Cmd::new(root.join("build.sh")).arg("--deps").current_dir(&root).env("SOURCE_DATE_EPOCH", EPOCH.1).run().unwrap();
    let jre = jre_rootfs().display().to_string();
    hoist_env(&root, &["image", "import", &jre, "--ref", "shop-jre:17"], &[EPOCH]).ok();
    std::fs::write(
        root.join("kv-store/Dockerfile.hoist"),
        "FROM shop-jre:17\nCOPY build/libs/shop-kv-store.jar /app/app.jar\nEXPOSE 8080\nVOLUME /data\nENTRYPOINT [\"/opt/java/bin/java\", \"-jar\", \"/app/app.jar\"]\n",
    )
    .unwrap();
    let built = hoist_env(
        &root,
        &["image", "build-file", "kv-store/Dockerfile.hoist", "--ref", "shop-kv-store:1", "--output", "json"],
        &[EPOCH],
    )
    .ok()
    .json();
    assert_eq!(skopeo_inspect(&root, "shop-kv-store:1")["Digest"], built["digest"]);
    image_json_snapshot!(&root, "image_build_file", built);

    std::fs::write(root.join("kv-store/Dockerfile.run"), "FROM shop-jre:17\n\nRUN apt-get update\n").unwrap();
    let run = hoist(&root, &["image", "build-file", "kv-store/Dockerfile.run", "--ref", "x:1"]).fails(1);
    hoist_snapshot!(ctx(&root), "build_file_refuses_run", run);
}

#[test]
fn bad_input_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_example(&root);
    Cmd::new("git").args(["init", "-q"]).current_dir(&root).run().unwrap();
    // No artifact built yet.
    let run = hoist_env(&root, &["image", "--tag", "v1.0.0-abc1234"], &[EPOCH]).fails(1);
    assert!(run.stderr.contains("user-service") || run.stderr.contains("chat-service"), "{}", run.stderr);
    assert!(run.stderr.contains("artifact"), "{}", run.stderr);
    hoist_snapshot!(ctx(&root), "image_without_artifact", run);

    // The artifact exists, the base does not: the refs that exist are listed.
    Cmd::new(root.join("build.sh")).args(["v1.0.0-abc1234", "gateway"]).current_dir(&root).run().unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    hoist_env(&root, &["image", "import", "empty", "--ref", "other-base:1"], &[EPOCH]).ok();
    let run = hoist_env(&root, &["image", "--tag", "v1.0.0-abc1234", "--service", "gateway"], &[EPOCH]).fails(1);
    // What follows "cannot connect" is how this machine fails (DNS here): not the contract.
    let no_net = ctx(&root).with_filter(
        r"(?s)(caused by: cannot connect to the registry `registry-1\.docker\.io`\n).*?\nhint:",
        "$1  caused by: [HOW THIS MACHINE FAILS TO CONNECT]\nhint:",
    );
    hoist_snapshot!(no_net, "image_base_missing", run);

    // Import of a rootfs with a link out of it.
    std::fs::create_dir_all(root.join("evil/etc")).unwrap();
    std::os::unix::fs::symlink("../../../../etc/shadow", root.join("evil/etc/x")).unwrap();
    let run = hoist_env(&root, &["image", "import", "evil", "--ref", "evil:1"], &[EPOCH]).fails(1);
    hoist_snapshot!(ctx(&root), "import_link_outside_root", run);

    // A ref that does not exist, on export.
    let run = hoist(&root, &["image", "export", "nope:1", "-o", "x.tar"]).fails(1);
    hoist_snapshot!(ctx(&root), "export_unknown_ref", run);
    assert!(!root.join("x.tar").exists());
}

#[test]
fn build_file_with_the_docker_builder_hands_the_dockerfile_to_the_engine() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path();
    std::fs::write(ctx.join("hello.txt"), "hello").unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY hello.txt /hello.txt\nLABEL made.by=hoist-it\n")
        .unwrap();
    let name = format!("hoist-it-docker-builder:{:x}", std::process::id());
    let _cleanup = DockerCleanup(vec![format!("image {name}")]);
    hoist(ctx, &["image", "build-file", "Dockerfile", "--ref", &name, "--builder", "docker"]).ok();
    let label = Cmd::new("docker")
        .args(["image", "inspect", "--format", "{{index .Config.Labels \"made.by\"}}", &name])
        .read()
        .expect("the Engine has the image");
    assert_eq!(label.trim(), "hoist-it");
    // Nothing went into the layout: the Engine holds it.
    assert!(!ctx.join(".hoist/oci/index.json").exists());
}

#[test]
fn an_imported_base_does_not_change_with_the_commit() {
    let repo = hoist_testkit::TestRepo::new();
    repo.write("rootfs/etc/hostname", "base\n");
    repo.commit("first");
    let first = hoist(repo.path(), &["image", "import", "rootfs", "--ref", "base:1", "--output", "json"]).ok().json();
    // A commit at another time (TestRepo pins its commit dates; this one is now).
    Cmd::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "second"])
        .current_dir(repo.path())
        .run()
        .unwrap();
    let second = hoist(repo.path(), &["image", "import", "rootfs", "--ref", "base:2", "--output", "json"]).ok().json();
    assert_eq!(first["digest"], second["digest"]);
    json_snapshot!(TestContext::at(repo.path()), "image_import", first);
    let ls = hoist(repo.path(), &["image", "ls"]).ok();
    assert!(ls.stdout.contains("base:1\tsha256:") && ls.stdout.contains("base:2\tsha256:"), "{}", ls.stdout);
    hoist_snapshot!(TestContext::at(repo.path()), "image_ls_text", ls);
}
