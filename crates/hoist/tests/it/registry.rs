//! `hoist push`, `hoist images`, `hoist pull` end to end against a real `docker-registry`
//! with htpasswd auth: credentials from config.json and from a credential helper, secrets
//! never printed (not even with -vv), immutable tags, exact release resolution, pull.

use std::path::{Path, PathBuf};

use hoist_cmd::Cmd;
use hoist_oci::{Compression, ConfigSpec, ImagePlan, LayerSpec, Layout};
use hoist_testkit::Registry;

use crate::common::TestContext;
use crate::{hoist_snapshot, json_snapshot};

const USER: &str = "ci";
const PASSWORD: &str = "pw-7d1f9e-never-printed";

fn project(dir: &Path, registry: &Registry, image_tag: &str, services: &[&str]) {
    let mut toml = String::from("[version]\ntag_format = \"v{version}-{sha}\"\nsha_length = 7\n\n");
    for s in services {
        toml.push_str(&format!("[services.{s}]\n\n"));
    }
    toml.push_str(&format!("[registry]\nrepository = \"{}/shop\"\nimage_tag = \"{image_tag}\"\n", registry.host()));
    std::fs::write(dir.join("hoist.toml"), toml).unwrap();
}

/// `<service>_<release>` images in the project's layout, on a shared base.
fn images(dir: &Path, release: &str, services: &[(&str, &str)]) {
    let layout = Layout::create_or_open(&dir.join(".hoist/oci")).unwrap();
    let mut base = LayerSpec::new("base");
    base.add_bytes("/etc/base", vec![7u8; 64 * 1024], 0o644).unwrap();
    let plans: Vec<ImagePlan> = std::iter::once(ImagePlan {
        name: "base".into(),
        base: None,
        layers: vec![base],
        config: ConfigSpec::default(),
        epoch: 1,
        platforms: Vec::new(),
    })
    .collect();
    hoist_oci::build_images(&layout, &plans, Compression::default(), 1).unwrap();
    let plans: Vec<ImagePlan> = services
        .iter()
        .map(|(s, code)| {
            let mut layer = LayerSpec::new(*s);
            layer.add_bytes(&format!("/app/{s}"), code.as_bytes().to_vec(), 0o644).unwrap();
            ImagePlan {
                name: format!("{s}_{release}"),
                base: Some("base".into()),
                layers: vec![layer],
                config: ConfigSpec::default(),
                epoch: 1,
                platforms: Vec::new(),
            }
        })
        .collect();
    hoist_oci::build_images(&layout, &plans, Compression::default(), 1).unwrap();
}

fn run(dir: &Path, config: &Path, args: &[&str]) -> crate::common::Run {
    ctx(dir, config).hoist(args)
}

/// A sealed context for `dir` whose docker config is `config`.
fn ctx(dir: &Path, config: &Path) -> TestContext {
    TestContext::at(dir).with_env("DOCKER_CONFIG", config.to_str().unwrap())
}

#[test]
fn push_images_pull_with_config_json_credentials() {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("project");
    std::fs::create_dir_all(&dir).unwrap();
    project(&dir, &registry, "{service}_{tag}", &["api", "web"]);
    images(&dir, "v1.0.0-abc1234", &[("api", "api 1"), ("web", "web 1")]);
    let good = registry.docker_config("good", USER, PASSWORD);
    let bad = registry.docker_config("bad", USER, "wrong-password");

    // Wrong credentials: exit 1, the error names config.json and says how to fix it.
    let out = run(&dir, &bad, &["push", "--tag", "v1.0.0-abc1234"]).fails(1);
    assert!(out.stderr.contains(&bad.join("config.json").display().to_string()), "{}", out.stderr);
    assert!(!out.stderr.contains("wrong-password"), "{}", out.stderr);
    let snap = ctx(&dir, &bad);
    hoist_snapshot!(snap, "push_credentials_refused", out);

    // Dry run: the plan, nothing sent.
    let plan = run(&dir, &good, &["push", "--tag", "v1.0.0-abc1234", "--dry-run", "--output", "json"]).ok().json();
    assert_eq!(plan["images"].as_array().unwrap().len(), 2);
    assert_eq!(plan["blobs"].as_array().unwrap().len(), 5, "{plan:#}");
    json_snapshot!(snap, "push_dry_run", plan);

    // Right credentials, with debug logs on: the password never shows.
    let out = run(&dir, &good, &["-vv", "push", "--tag", "v1.0.0-abc1234", "--output", "json"]).ok();
    assert!(!out.stderr.contains(PASSWORD) && !out.stdout.contains(PASSWORD), "{}", out.stderr);
    let basic = base64_of(&format!("{USER}:{PASSWORD}"));
    assert!(!out.stderr.contains(&basic), "the Authorization header leaked:\n{}", out.stderr);
    let report = out.json();
    assert_eq!(report["blobs_uploaded"], 5);
    json_snapshot!(snap, "push", report, {".**.seconds" => "[TIME]", ".**.duration_ms" => "[TIME]"});
    let digests: Vec<String> =
        report["images"].as_array().unwrap().iter().map(|i| i["digest"].as_str().unwrap().to_string()).collect();

    // Again: nothing to do.
    let again = run(&dir, &good, &["push", "--tag", "v1.0.0-abc1234", "--output", "json"]).ok().json();
    assert_eq!(again["bytes_uploaded"], 0);
    assert!(again["images"].as_array().unwrap().iter().all(|i| i["action"] == "unchanged"));
    json_snapshot!(snap, "push_again_unchanged", again, {".**.seconds" => "[TIME]", ".**.duration_ms" => "[TIME]"});

    // A changed image under the same release tag is refused without --force.
    let other = work.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    project(&other, &registry, "{service}_{tag}", &["api", "web"]);
    images(&other, "v1.0.0-abc1234", &[("api", "api CHANGED"), ("web", "web 1")]);
    let out = run(&other, &good, &["push", "--tag", "v1.0.0-abc1234"]).fails(1);
    hoist_snapshot!(snap, "push_changed_image_refused", out);

    // A second release, then resolve.
    images(&dir, "v1.1.0-def5678", &[("api", "api 2"), ("web", "web 1")]);
    run(&dir, &good, &["push", "--tag", "v1.1.0-def5678"]).ok();
    let listed = run(&dir, &good, &["images", "--tag", "v1.0.0-abc1234", "--output", "json"]).ok().json();
    let got: Vec<(String, String)> = listed["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["service"].as_str().unwrap().to_string(), i["digest"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(got, vec![("api".to_string(), digests[0].clone()), ("web".to_string(), digests[1].clone())]);
    json_snapshot!(snap, "images_tag", listed);
    let latest = run(&dir, &good, &["images", "--latest", "--output", "json"]).ok().json();
    assert!(latest["images"].as_array().unwrap().iter().all(|i| i["release"] == "v1.1.0-def5678"), "{latest:#}");
    json_snapshot!(snap, "images_latest", latest);
    let text = run(&dir, &good, &["images", "--tag", "v1.0.0-abc1234"]).ok();
    assert!(text.stdout.contains("api") && text.stdout.contains(&digests[0]), "{}", text.stdout);
    hoist_snapshot!(snap, "images_tag_text", text);

    // A host with only hoist.toml pulls the release into its layout.
    let host = work.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    project(&host, &registry, "{service}_{tag}", &["api", "web"]);
    let pulled = run(&host, &good, &["pull", "--tag", "v1.0.0-abc1234", "--output", "json"]).ok().json();
    assert_eq!(pulled["images"].as_array().unwrap().len(), 2);
    json_snapshot!(snap, "pull", pulled, {".**.seconds" => "[TIME]", ".**.duration_ms" => "[TIME]"});
    let layout = Layout::open(&host.join(".hoist/oci")).unwrap();
    assert_eq!(layout.resolve("api_v1.0.0-abc1234").unwrap().digest().to_string(), digests[0]);
    let out = run(&host, &good, &["pull", "--tag", "v9.9.9-0000000"]).fails(1);
    hoist_snapshot!(snap, "pull_unknown_release", out);
}

#[test]
fn credentials_from_a_credential_helper() {
    let registry = Registry::start_with_htpasswd(USER, PASSWORD);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("project");
    std::fs::create_dir_all(&dir).unwrap();
    project(&dir, &registry, "{service}_{tag}", &["api"]);
    images(&dir, "v1.0.0-abc1234", &[("api", "helper")]);

    // A real helper speaking the docker-credential protocol: server URL on stdin, JSON out.
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-hoisttest");
    let log = work.path().join("helper.log");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread -r server\necho \"$server\" >> '{}'\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n",
            log.display()
        ),
    )
    .unwrap();
    make_executable(&helper);
    let config = registry.scratch("helper");
    std::fs::write(config.join("config.json"), format!(r#"{{"credHelpers":{{"{}":"hoisttest"}}}}"#, registry.host()))
        .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = ctx(&dir, &config).with_env("PATH", &path).hoist(&["-vv", "push", "--tag", "v1.0.0-abc1234"]).ok();
    assert!(out.stderr.contains("docker-credential-hoisttest"), "-v names the source:\n{}", out.stderr);
    assert!(!out.stderr.contains(PASSWORD), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&log).unwrap().trim(), registry.host());
}

#[test]
fn a_separator_in_a_service_name_is_a_config_error() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), &registry, "{service}-{tag}", &["my-api"]);
    let config = registry.scratch("none");
    let out = run(dir.path(), &config, &["push", "--tag", "v1.0.0-abc1234"]).fails(1);
    hoist_snapshot!(ctx(dir.path(), &config), "separator_in_service_name", out);
}

#[test]
fn no_registry_section_says_what_to_add() {
    let ctx = TestContext::new();
    std::fs::write(ctx.path().join("hoist.toml"), "[services.api]\n").unwrap();
    for args in
        [&["push", "--tag", "v1.0.0-abc1234"][..], &["images", "--latest"], &["pull", "--tag", "v1.0.0-abc1234"]]
    {
        let out = ctx.hoist(args).fails(1);
        assert!(out.stderr.contains("[registry]"), "{}", out.stderr);
        hoist_snapshot!(ctx, format!("no_registry_section_{}", args[0]), out);
    }
}

/// The example's JRE root filesystem, made once per target dir (the same cache as image.rs).
fn jre_rootfs() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shop-jre-rootfs");
    if !dir.join("opt/java/bin/java").is_file() {
        let part = dir.with_extension(format!("part-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&part);
        Cmd::new(hoist_testkit::example_shop().join("base/make-jre-rootfs.sh")).arg(&part).run().expect("jre rootfs");
        if std::fs::rename(&part, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&part);
        }
    }
    dir
}

#[test]
fn the_example_release_is_pushed_read_by_skopeo_and_pulled_by_docker() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    hoist_testkit::example::copy_example(&root);
    let toml = std::fs::read_to_string(root.join("hoist.toml")).unwrap();
    let toml =
        toml.replace("repository = \"127.0.0.1:5000/shop\"", &format!("repository = \"{}/shop\"", registry.host()));
    assert!(toml.contains(&registry.host()), "the example's [registry] repository moved");
    std::fs::write(root.join("hoist.toml"), toml).unwrap();
    Cmd::new("git").args(["init", "-q"]).current_dir(&root).run().unwrap();
    let tag = "v1.0.0-abc1234";
    let epoch = ("SOURCE_DATE_EPOCH", "1700000000");
    Cmd::new(root.join("build.sh")).arg(tag).current_dir(&root).env(epoch.0, epoch.1).run().expect("build.sh");
    let jre = jre_rootfs().display().to_string();
    let shop = TestContext::at(&root).with_env(epoch.0, epoch.1);
    shop.hoist(&["image", "import", &jre, "--ref", "shop-jre:17"]).ok();
    shop.hoist(&["image", "--tag", tag]).ok();

    let empty = registry.scratch("anonymous");
    let report = run(&root, &empty, &["push", "--tag", tag, "--output", "json"]).ok().json();
    let images = report["images"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    for image in images {
        let name = image["tag"].as_str().unwrap();
        let out = Cmd::new("skopeo")
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{}/shop:{name}", registry.host()))
            .read()
            .expect("skopeo inspect");
        let inspect: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(inspect["Digest"], image["digest"], "{name}");
    }
    let gateway = format!("{}/shop:gateway_{tag}", registry.host());
    Cmd::new("docker").args(["pull", "--quiet"]).arg(&gateway).run().expect("docker pull");
    let digests = Cmd::new("docker")
        .args(["image", "inspect", "--format", "{{json .RepoDigests}}"])
        .arg(&gateway)
        .read()
        .expect("docker image inspect");
    let _ = Cmd::new("docker").args(["rmi", "-f"]).arg(&gateway).output();
    let want =
        images.iter().find(|i| i["tag"] == format!("gateway_{tag}").as_str()).unwrap()["digest"].as_str().unwrap();
    assert!(digests.contains(want), "{digests} lacks {want}");
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn make_executable(path: &PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    perms.set_mode(0o755);
    std::fs::set_permissions(path, perms).unwrap();
}
