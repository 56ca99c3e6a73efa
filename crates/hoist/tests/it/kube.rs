//! `hoist render k8s` and `hoist deploy k8s` end to end, on the example's manifests.
//! The deploy path against an API server is tested in hoist-kube (fake API server);
//! here the binary meets a cluster that cannot be reached.

use std::path::Path;

use hoist_testkit::ACME_SERVICES;

use crate::common::TestContext;
use crate::{hoist_snapshot, json_snapshot};

const TAG: &str = "v1.4.0-abc1234";

/// The example's hoist.toml and k8s manifests in a fresh directory.
fn shop() -> TestContext {
    let dir = TestContext::new();
    let src = hoist_testkit::example_shop();
    std::fs::copy(src.join("hoist.toml"), dir.path().join("hoist.toml")).unwrap();
    std::fs::create_dir(dir.path().join("k8s")).unwrap();
    for entry in std::fs::read_dir(src.join("k8s")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join("k8s").join(entry.file_name())).unwrap();
    }
    dir
}

fn objects(yaml: &str) -> Vec<serde_json::Value> {
    let docs: Vec<hoist_kube::yaml::Value> = serde_saphyr::from_multiple(yaml).expect("a YAML stream");
    docs.iter().map(hoist_kube::yaml::Value::to_json).collect()
}

fn image_of(objects: &[serde_json::Value], name: &str) -> String {
    let d = objects.iter().find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == name).unwrap();
    d["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap().to_string()
}

#[test]
fn render_sets_each_services_image_and_orders_by_kind() {
    let dir = shop();
    let run = dir.hoist(&["render", "k8s", "--tag", TAG]).ok();
    let objects = objects(&run.stdout);
    for service in ["gateway", "user-service", "chat-service"] {
        assert_eq!(image_of(&objects, service), format!("127.0.0.1:5000/shop:{service}_{TAG}"));
    }
    assert_eq!(image_of(&objects, "kv-store"), "shop-kv-store:1", "not a hoist service: untouched");
    let kinds: Vec<&str> = objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    let first = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    let last = |k: &str| kinds.iter().rposition(|x| *x == k).unwrap();
    assert_eq!(first("Namespace"), 0, "{kinds:?}");
    assert!(last("PersistentVolume") < first("PersistentVolumeClaim"), "{kinds:?}");
    assert!(last("PersistentVolumeClaim") < first("Service"), "{kinds:?}");
    assert!(last("Service") < first("Deployment"), "{kinds:?}");
    let objects_read = objects.len();
    assert_eq!(run.stderr, format!("read {objects_read} objects from {objects_read} files under k8s\n"));
}

#[test]
fn render_json_lists_the_rewrites_and_a_digest_pins() {
    let dir = shop();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let pin = format!("gateway={digest}");
    let run = dir.hoist(&["render", "k8s", "--tag", TAG, "--digest", &pin, "--output", "json"]).ok();
    let json = run.json();
    json_snapshot!(dir, "render_k8s_digest_pin", json);
    assert_eq!(json["release"], TAG);
    let images = json["images"].as_array().unwrap();
    assert_eq!(images.len(), 3, "{images:?}");
    let gateway = images.iter().find(|i| i["service"] == "gateway").unwrap();
    assert_eq!(gateway["from"], "gateway");
    assert_eq!(gateway["to"], format!("127.0.0.1:5000/shop:gateway_{TAG}@{digest}"));
    assert_eq!(
        image_of(json["manifests"].as_array().unwrap(), "gateway"),
        format!("127.0.0.1:5000/shop:gateway_{TAG}@{digest}")
    );
}

#[test]
fn render_of_given_paths_warns_about_a_placeholder_that_names_no_service() {
    let dir = shop();
    let extra = dir.path().join("extra.yaml");
    std::fs::write(
        &extra,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: billing\n",
    )
    .unwrap();
    let run = dir.hoist(&["render", "k8s", "--tag", TAG, "extra.yaml"]).ok();
    assert!(run.stderr.contains("warning:") && run.stderr.contains("`billing`"), "{}", run.stderr);
    hoist_snapshot!(dir, "render_unknown_placeholder_warning", run);
    assert!(run.stdout.contains("image: billing"), "{}", run.stdout);
}

#[test]
fn render_reports_bad_yaml_with_file_and_line() {
    let dir = shop();
    std::fs::write(dir.path().join("k8s/broken.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n")
        .unwrap();
    let run = dir.hoist(&["render", "k8s", "--tag", TAG]).fails(1);
    hoist_snapshot!(dir, "render_invalid_yaml", run);
}

#[test]
fn render_reports_a_wrongly_typed_field_with_document_and_field() {
    let dir = shop();
    let file = dir.path().join("k8s/user-service-deployment.yaml");
    let text = std::fs::read_to_string(&file).unwrap().replace("replicas: 1", "replicas: many");
    assert!(text.contains("replicas: many"), "the example changed; adjust this test");
    std::fs::write(&file, text).unwrap();
    let run = dir.hoist(&["render", "k8s", "--tag", TAG]).fails(1);
    hoist_snapshot!(dir, "render_wrongly_typed_field", run);
}

fn kubeconfig(dir: &Path, server: &str) -> String {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters:\n  - name: lab\n    cluster:\n      server: {server}\ncontexts:\n  - name: lab\n    context:\n      cluster: lab\n      user: ci\nusers:\n  - name: ci\n    user:\n      token: not-a-real-token\n"
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn deploy_to_an_unreachable_cluster_names_the_context_and_url() {
    let dir = shop();
    // Nothing listens on port 1.
    let config = kubeconfig(dir.path(), "http://127.0.0.1:1");
    let run = dir.hoist_with(&["deploy", "k8s", "--tag", TAG], &[("KUBECONFIG", &config)]).fails(1);
    assert!(!run.stderr.contains("not-a-real-token"), "credentials never printed: {}", run.stderr);
    hoist_snapshot!(dir, "deploy_k8s_unreachable", run);
}

#[test]
fn deploy_with_an_unknown_context_says_so() {
    let dir = shop();
    let config = kubeconfig(dir.path(), "http://127.0.0.1:1");
    let run =
        dir.hoist_with(&["deploy", "k8s", "--tag", TAG, "--context", "nope", "--dry-run"], &[("KUBECONFIG", &config)]);
    let run = run.fails(1);
    hoist_snapshot!(dir, "deploy_k8s_unknown_context", run);
}

/// A two-service project whose images are pushed to a real `docker-registry`, with
/// `pin_digests = true`.
fn pinned_project(dir: &Path, registry: &hoist_testkit::Registry) {
    std::fs::write(
        dir.join("hoist.toml"),
        format!(
            "[version]\ntag_format = \"v{{version}}-{{sha}}\"\nsha_length = 7\n\n[services.api]\n\n[services.web]\n\n[registry]\nrepository = \"{}/shop\"\n\n[deploy.kubernetes]\nmanifests = [\"k8s\"]\npin_digests = true\n",
            registry.host()
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.join("k8s")).unwrap();
    std::fs::write(
        dir.join("k8s/app.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n  initContainers:\n    - name: api\n      image: api\n  containers:\n    - name: web\n      image: web\n",
    )
    .unwrap();
    let layout = hoist_oci::Layout::create_or_open(&dir.join(".hoist/oci")).unwrap();
    let plans: Vec<hoist_oci::ImagePlan> = ["api", "web"]
        .iter()
        .map(|s| {
            let mut layer = hoist_oci::LayerSpec::new(*s);
            layer.add_bytes(&format!("/app/{s}"), s.as_bytes().to_vec(), 0o644).unwrap();
            hoist_oci::ImagePlan {
                name: format!("{s}_{TAG}"),
                base: None,
                layers: vec![layer],
                config: hoist_oci::ConfigSpec::default(),
                epoch: 1,
                platforms: Vec::new(),
            }
        })
        .collect();
    hoist_oci::build_images(&layout, &plans, hoist_oci::Compression::default(), 1).unwrap();
}

#[test]
fn pin_digests_pins_each_image_by_the_registrys_digest() {
    let dir = TestContext::new().with_registry(hoist_testkit::Registry::start());
    let registry = dir.registry();
    pinned_project(dir.path(), registry);

    // Not pushed yet: nothing to pin, and it says how to fix it. (No credentials: the
    // sealed HOME has no docker config.)
    let run = dir.hoist(&["render", "k8s", "--tag", TAG]).fails(1);
    assert!(run.stderr.contains(&format!("the registry has no {}/shop:api_{TAG}", registry.host())), "{}", run.stderr);
    hoist_snapshot!(dir, "render_pin_not_pushed", run);

    dir.hoist(&["push", "--tag", TAG]).ok();
    let run = dir.hoist(&["render", "k8s", "--tag", TAG]).ok();
    let pod = &objects(&run.stdout)[0];
    for (list, service) in [("initContainers", "api"), ("containers", "web")] {
        let reference = format!("{}/shop:{service}_{TAG}", registry.host());
        let inspect = hoist_cmd::Cmd::new("skopeo")
            .args(["inspect", "--tls-verify=false"])
            .arg(format!("docker://{reference}"))
            .read()
            .expect("skopeo inspect");
        let digest =
            serde_json::from_str::<serde_json::Value>(&inspect).unwrap()["Digest"].as_str().unwrap().to_string();
        assert_eq!(pod["spec"][list][0]["image"], format!("{reference}@{digest}"), "{service}");
    }
}

/// The migration fixture's `k8s/` tree as it is (duplicate env name included), with a
/// hoist.toml that names its six services by their deploy names and placeholders.
fn acme() -> TestContext {
    let dir = TestContext::new();
    let k8s = hoist_testkit::example_acme().join("k8s");
    let copied = std::process::Command::new("cp").arg("-r").arg(&k8s).arg(dir.path()).status().unwrap();
    assert!(copied.success());
    let mut toml = String::from("[registry]\nrepository = \"registry.example.com/acme\"\n\n");
    for (service, module) in ACME_SERVICES {
        toml.push_str(&format!("[services.{service}]\ndir = \"{module}\"\nplaceholder = \"acme-app_{service}\"\n\n"));
    }
    toml.push_str("[deploy.kubernetes]\nmanifests = [\"k8s\"]\n");
    std::fs::write(dir.path().join("hoist.toml"), toml).unwrap();
    dir
}

/// The fixture renders as it is: the tree read recursively, every placeholder replaced,
/// third-party images left alone, and the duplicate env name a warning, not a failure.
#[test]
fn render_of_the_migration_fixture_replaces_placeholders_and_warns_about_the_duplicate_key() {
    let dir = acme();
    let run = dir.hoist(&["render", "k8s", "--tag", TAG]).ok();
    let objects = objects(&run.stdout);
    assert_eq!(objects.len(), 19);
    for (service, _) in ACME_SERVICES {
        assert_eq!(image_of(&objects, service), format!("registry.example.com/acme:{service}_{TAG}"));
        let d = objects.iter().find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == service).unwrap();
        assert_eq!(d["spec"]["template"]["spec"]["initContainers"][0]["image"], "busybox:1.36", "{service}");
    }
    assert_eq!(image_of(&objects, "postgres"), "postgres:15-alpine");
    let kafka = objects.iter().find(|o| o["kind"] == "Pod" && o["metadata"]["name"] == "kafka").unwrap();
    assert_eq!(kafka["spec"]["containers"][0]["image"], "confluentinc/cp-kafka:7.4.0");
    assert!(run.stderr.starts_with("read 19 objects from 18 files under k8s\n"), "{}", run.stderr);
    assert_eq!(run.stderr.matches("warning:").count(), 1, "only the duplicate: {}", run.stderr);
    hoist_snapshot!(dir, "render_acme_duplicate_warning", run);

    let json = dir.hoist(&["render", "k8s", "--tag", TAG, "--output", "json"]).ok().json();
    assert_eq!(json["images"].as_array().unwrap().len(), 6);
    let problems = json["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].as_str().unwrap().contains("env[2] repeats name `SPRING_KAFKA_BOOTSTRAP_SERVERS`"));
}

/// An image that looks like the project's (`acme-app_…`) but is no service's is a warning
/// naming file, object, container and image; left as it is.
#[test]
fn render_warns_about_an_image_with_the_projects_prefix_that_names_no_service() {
    let dir = acme();
    std::fs::create_dir(dir.path().join("k8s/job")).unwrap();
    std::fs::write(
        dir.path().join("k8s/job/billing.yaml"),
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: billing\n  namespace: acme\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: billing\n          image: acme-app_billing-server:latest\n",
    )
    .unwrap();
    let run = dir.hoist(&["render", "k8s", "--tag", TAG, "k8s/job"]).ok();
    assert!(run.stdout.contains("image: acme-app_billing-server:latest"), "{}", run.stdout);
    hoist_snapshot!(dir, "render_acme_unknown_project_image", run);
}

/// `hoist deploy k8s` refuses the duplicate before it talks to the cluster: the kubeconfig
/// points at a listener that must never see a connection.
#[test]
fn deploy_of_the_migration_fixture_refuses_the_duplicate_key_before_any_api_call() {
    let dir = acme();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let config = kubeconfig(dir.path(), &format!("http://{}", listener.local_addr().unwrap()));
    let run = dir.hoist_with(&["deploy", "k8s", "--tag", TAG], &[("KUBECONFIG", &config)]).fails(1);
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the API server was contacted"
    );
    assert!(run.stderr.contains("error: server-side apply refuses 1 manifest entry"), "{}", run.stderr);
    assert!(run.stderr.contains("k8s/deployment/order-server-deployment.yaml document 0 (Deployment/order-server): spec.template.spec.containers[0].env[2] repeats name `SPRING_KAFKA_BOOTSTRAP_SERVERS` of env[1]"), "{}", run.stderr);
    hoist_snapshot!(dir, "deploy_k8s_acme_duplicate_key", run);
}

/// `hoist release --deploy k8s --allow-shrink` carries the flag into the plan's deploy step
/// (the deploy itself is tested against the fake API server in hoist-kube).
#[test]
fn release_allow_shrink_reaches_the_kubernetes_deploy_step() {
    let repo = hoist_testkit::TestRepo::new();
    hoist_testkit::example::copy_example(repo.path());
    let first = repo.commit("shop as released");
    repo.tag(&format!("v1.0.0-{}", &first[..7]), &first);
    repo.write("gateway/src/main/java/shop/gateway/Feature.java", "package shop.gateway;\nclass Feature {}\n");
    repo.commit("[minor] gateway: new feature");
    let dir = TestContext::with_repo(repo);
    for (flags, allowed) in [(&["--allow-shrink"][..], true), (&[][..], false)] {
        let mut args = vec!["release", "--dry-run", "--no-push", "--deploy", "k8s", "--output", "json"];
        args.extend(flags);
        let json = dir.hoist(&args).ok().json();
        let steps = json["steps"].as_array().unwrap();
        let deploy = steps.iter().find(|s| s["step"] == "deploy").expect("a deploy step");
        assert_eq!(deploy["settings"]["allow_shrink"], allowed, "{deploy:#}");
    }
}
