//! `hoist init`: the scan, the generated hoist.toml (on a small Gradle repo and on the
//! migration fixture examples/acme with a real tag history), and the GitHub Actions
//! workflow checked by parsing it and by two real checkers (check-jsonschema and zizmor,
//! both offline).

use std::path::Path;

use hoist_testkit::ACME_SERVICES;

use crate::common::TestContext;
use crate::{hoist_snapshot, json_snapshot};

fn gradle_repo() -> TestContext {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    repo.write(
        "settings.gradle",
        "rootProject.name = 'shop'\ninclude 'user-service', 'chat-service'\ninclude ':gateway'\n",
    );
    repo.write("gradlew", "#!/bin/sh\n");
    // user-service's build uses another module: that module is an input of its image too.
    repo.write("user-service/build.gradle", "dependencies {\n  implementation project(':chat-service')\n}\n");
    repo.write("gateway/Dockerfile", "FROM x\n");
    repo.write("docker-compose-prod.yaml", "services: {}\n");
    repo.write("k8s/ns.yaml", "kind: Namespace\n");
    repo.commit("initial");
    ctx
}

#[test]
fn init_scans_and_writes_a_config_that_loads() {
    let ctx = gradle_repo();
    let repo = ctx.repo_ref();
    let json = ctx.hoist(&["init", "--output", "json"]).ok().json();
    json_snapshot!(ctx, "init", json);
    let names: Vec<&str> =
        json["detected"]["services"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["chat-service", "gateway", "user-service"]);
    let text = std::fs::read_to_string(repo.path().join("hoist.toml")).unwrap();
    assert!(
        text.contains("command = [\"./gradlew\", \"build\", \"--build-cache\", \"--parallel\", \"-Pversion={tag}\"]"),
        "{text}"
    );
    assert!(text.contains("artifact = \"user-service/build/libs/*-{tag}.jar\""), "{text}");
    assert!(text.contains("dockerfile = \"gateway/Dockerfile\""), "{text}");
    assert!(
        text.contains(
            "[services.user-service]\n# TODO: check the jar name the build writes (this is a guess).\nartifact = \"user-service/build/libs/*-{tag}.jar\"\n# Its inputs"
        ),
        "{text}"
    );
    assert!(text.contains("paths = [\"user-service\", \"chat-service\"]"), "{text}");
    assert!(text.contains("files = [\"docker-compose-prod.yaml\"]"), "{text}");
    assert!(text.contains("manifests = [\"k8s\"]"), "{text}");
    // The written file is a valid config: hoist itself loads it.
    let plan = ctx.hoist(&["build", "--tag", "v1.0.0-abcdef0", "--dry-run", "--output", "json"]).ok().json();
    assert_eq!(plan["project"]["argv"][4], "-Pversion=v1.0.0-abcdef0");
    json_snapshot!(ctx, "build_dry_run_of_init", plan);
    // Never overwritten.
    let before = std::fs::read_to_string(repo.path().join("hoist.toml")).unwrap();
    let run = ctx.hoist(&["init"]).fails(1);
    hoist_snapshot!(ctx, "init_never_overwrites", run);
    assert_eq!(std::fs::read_to_string(repo.path().join("hoist.toml")).unwrap(), before);
}

#[test]
fn init_finds_maven_modules() {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    repo.write(
        "pom.xml",
        "<project><artifactId>shop</artifactId><modules><module>api</module><module>web</module></modules></project>",
    );
    repo.commit("initial");
    ctx.hoist(&["init"]).ok();
    let text = std::fs::read_to_string(repo.path().join("hoist.toml")).unwrap();
    assert!(text.contains("[services.api]") && text.contains("api/target/*-{tag}.jar"), "{text}");
    assert!(text.contains("\"mvn\", \"-B\", \"package\", \"-Drevision={tag}\""), "{text}");
}

/// The release tags of [`acme_repo`]'s history, newest reachable last.
struct AcmeHistory {
    /// `v5.0.3-<sha>` of the last release on main.
    newest: String,
    /// The other `v5.0.3-<sha>`, on the commit before.
    same_version: String,
    /// A tag on a commit main never merged.
    unreachable: String,
}

/// examples/acme in a git repository with the history: `v5.0.0` and `v5.0.1`
/// without a hash, then `v5.0.2-<sha>`, two `v5.0.3-<sha>` tags, a release tag on a
/// branch main never merged, and merges without a marker.
fn acme_repo() -> (TestContext, AcmeHistory) {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    let cp = std::process::Command::new("cp")
        .arg("-a")
        .arg(hoist_testkit::example_acme().join("."))
        .arg(repo.path())
        .status()
        .unwrap();
    assert!(cp.success());
    let tag_hashed = |version: &str, commit: &str| {
        let tag = format!("v{version}-{}", &commit[..7]);
        repo.tag(&tag, commit);
        tag
    };
    let first = repo.commit("acme: the services, the compose files and k8s");
    repo.tag("v5.0.0", &first);
    let java = "orders-backend-server/src/main/java/com/acme/ordersbackendserver/Fix.java";
    repo.write(java, "package com.acme.ordersbackendserver;\nclass Fix {}\n");
    let second = repo.commit("Merge pull request #3 from acme/fix-orders");
    repo.tag("v5.0.1", &second);
    repo.write("users-backend-server/src/main/java/com/acme/usersbackendserver/Fix.java", "class Fix {}\n");
    let third = repo.commit("Merge pull request #4 from acme/hash-tags\n\n[patch] release tags carry the hash");
    tag_hashed("5.0.2", &third);
    repo.write("payments-backend-server/src/main/java/com/acme/paymentsbackendserver/Fix.java", "class Fix {}\n");
    let fourth = repo.commit("[patch] payments: retry");
    // The same version twice, with different hashes (a re-run of the old pipeline).
    let same_version = tag_hashed("5.0.3", &third);
    let newest = tag_hashed("5.0.3", &fourth);
    repo.git(&["checkout", "--quiet", "-b", "hotfix"]);
    repo.write("gateway-hotfix.txt", "never merged\n");
    let hotfix = repo.commit("[patch] hotfix on a branch");
    let unreachable = tag_hashed("5.0.9", &hotfix);
    repo.git(&["checkout", "--quiet", "main"]);
    repo.write("docs/notes.md", "notes\n");
    repo.commit("Merge pull request #7 from acme/notes");
    (ctx, AcmeHistory { newest, same_version, unreachable })
}

fn acme_config(ctx: &TestContext) -> (String, hoist_config::Config) {
    let path = ctx.path().join("hoist.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = hoist_config::Config::parse(&text, &path, ctx.path()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (text, config)
}

#[test]
fn init_adopts_the_acme_fixture_service_by_service() {
    let (ctx, history) = acme_repo();
    let json = ctx.hoist(&["init", "--output", "json"]).ok().json();
    let (text, config) = acme_config(&ctx);
    ctx.settings().bind(|| insta::assert_snapshot!("init_acme_hoist_toml", text));

    // The deployed services under their deploy names, each mapped to its module.
    let names: Vec<&str> = config.services.keys().map(String::as_str).collect();
    assert_eq!(names, ACME_SERVICES.map(|(name, _)| name), "{text}");
    for (name, module) in ACME_SERVICES {
        let svc = &config.services[name];
        assert_eq!(svc.dir.as_deref(), Some(module), "{name}");
        assert_eq!(svc.artifact.as_deref(), Some(format!("{module}/build/libs/{module}.jar").as_str()), "{name}");
        assert_eq!(svc.paths, Some(vec![module.to_string(), "acme-dto".to_string()]), "{name}");
        assert_eq!(svc.placeholder.as_deref(), Some(format!("acme-app_{name}").as_str()), "{name}");
        assert_eq!(svc.image.dockerfile.as_deref(), Some(format!("{module}/Dockerfile").as_str()), "{name}");
        assert!(svc.build.is_none(), "{name}: the project-wide build makes every jar");
        // The Kubernetes workload whose image names it was found too.
        let mention = format!("k8s/deployment/{name}-deployment.yaml");
        assert!(text.contains(&mention), "{name}: {text}");
        // No healthcheck in compose: a probe suggested on its published port.
        let port = std::fs::read_to_string(ctx.path().join(module).join("Dockerfile"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("EXPOSE ").map(str::to_string))
            .unwrap();
        assert!(
            text.contains(&format!(
                "# [deploy.compose.probes.{name}]\n# http = \"http://127.0.0.1:{port}/actuator/health\"\n"
            )),
            "{name}: {text}"
        );
    }
    assert!(config.deploy.compose.as_ref().unwrap().probes.is_empty(), "probes are suggestions, not guesses");

    // What is not released is absent, each with the reason as a comment.
    for (skipped, why) in [
        ("acme-dto", "# - acme-dto: a library module"),
        ("load-test", "# - load-test: built by Gradle, but no service of docker-compose-prod.yaml builds from it"),
        ("elk", "# - elk/: its own compose file (elk/docker-compose.yml) and 3 Dockerfile(s)"),
    ] {
        assert!(text.contains(why), "{skipped}: {text}");
        assert!(!config.services.keys().any(|k| k.contains(skipped)), "{skipped}");
    }
    for foreign in ["elasticsearch", "kibana", "logstash", "elk/"] {
        assert!(!text.contains(&format!("dockerfile = \"{foreign}")), "{foreign}: {text}");
        assert!(!config.services.contains_key(foreign), "{foreign}");
    }
    let skipped: Vec<&str> =
        json["detected"]["skipped"].as_array().unwrap().iter().map(|s| s["path"].as_str().unwrap()).collect();
    assert_eq!(skipped, ["acme-dto", "load-test", "elk/"]);

    // The project-wide build, the production compose file, the whole k8s tree.
    assert_eq!(
        config.build.command.as_deref().unwrap(),
        ["./gradlew", "build", "--build-cache", "--parallel", "-Pversion={tag}"]
    );
    let compose = config.deploy.compose.as_ref().unwrap();
    assert_eq!(compose.files, ["docker-compose-prod.yaml"]);
    // The old `docker-compose up -d` ran in the checkout: its directory names the project.
    assert_eq!(compose.project.as_deref(), Some("work"));
    assert!(text.contains("# TODO: the stack already runs under the name of the directory"), "{text}");
    assert_eq!(config.deploy.kubernetes.as_ref().unwrap().manifests, ["k8s"]);
    assert!(text.contains("# Found 18 manifest file(s) under k8s/, read recursively."), "{text}");
    // The base the Dockerfiles name, with how to import it.
    assert_eq!(config.image.base.as_deref(), Some("amazoncorretto:17-alpine3.16-jdk"));
    assert!(text.contains("hoist image import base.tar --ref amazoncorretto:17-alpine3.16-jdk"), "{text}");

    // The history: the hashed format now, the plain one as history, the hash length of the
    // newest tags; the unreachable tag plays no part.
    assert_eq!(config.version.tag_format, "v{version}-{sha}");
    assert_eq!(config.version.tag_formats, ["v{version}"]);
    assert_eq!(config.version.sha_length, 7);
    // Two tags share the newest version; either is the latest release.
    let latest = json["detected"]["tags"]["newest"].as_str().unwrap();
    assert!([&history.newest, &history.same_version].contains(&&latest.to_string()), "{latest}");
    assert!(text.contains(&format!("# The latest release tag: {latest} (5 release tags in the history)")), "{text}");
    assert!(!text.contains(&history.unreachable), "{text}");

    // Every TODO says what to check.
    for line in text.lines().filter(|l| l.contains("TODO:")) {
        let what = line.split_once("TODO:").map(|(_, w)| w.trim()).unwrap();
        assert!(what.len() > 20, "a TODO without what to check: {line}");
    }
    assert!(config.registry.is_none(), "the registry is the user's to set");

    // .hoist/ is ignored, once, whatever init runs again.
    let ignored = || std::fs::read_to_string(ctx.path().join(".gitignore")).unwrap();
    assert!(ignored().starts_with(".gradle/\n"), "the fixture's own lines stay: {}", ignored());
    assert_eq!(ignored().lines().filter(|l| *l == ".hoist/").count(), 1, "{}", ignored());
    std::fs::remove_file(ctx.path().join("hoist.toml")).unwrap();
    ctx.hoist(&["init"]).ok();
    assert_eq!(ignored().lines().filter(|l| *l == ".hoist/").count(), 1, "{}", ignored());
}

#[test]
fn init_reads_the_deploy_script_and_flags_images_no_service_has() {
    let (ctx, _) = acme_repo();
    let repo = ctx.repo_ref();
    // No `prod` in any name: the deploy script says which file runs.
    std::fs::rename(repo.path().join("docker-compose-prod.yaml"), repo.path().join("docker-compose-live.yaml"))
        .unwrap();
    let script = std::fs::read_to_string(repo.path().join("deploy.sh")).unwrap();
    repo.write("deploy.sh", &script.replace("docker-compose-prod.yaml", "docker-compose-live.yaml"));
    // A service built from a folder that is neither a module nor has a Dockerfile.
    let live = std::fs::read_to_string(repo.path().join("docker-compose-live.yaml")).unwrap();
    let live = live.replace("\nvolumes:\n", "\n  reports:\n    build: ./reports\n\nvolumes:\n");
    repo.write("docker-compose-live.yaml", &live);
    repo.write("reports/README.md", "made by hand\n");
    // A workload of the project's that no compose service builds, beside third-party ones.
    repo.write(
        "k8s/deployment/report-server.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: report\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: wait\n          image: busybox:1.36\n      containers:\n        - name: report\n          image: \"acme-app_report-server@sha256:0123\"\n",
    );
    repo.commit("live compose file, a report workload");
    ctx.hoist(&["init"]).ok();
    let (text, config) = acme_config(&ctx);
    assert_eq!(config.deploy.compose.as_ref().unwrap().files, ["docker-compose-live.yaml"]);
    assert!(text.contains("# The production compose file (deploy.sh runs it)"), "{text}");
    assert_eq!(config.services.len(), 7, "{text}");
    assert!(
        text.contains("[services.reports]\n# TODO: reports is no module of the build and has no Dockerfile"),
        "{text}"
    );
    let todo: Vec<&str> = text.lines().filter(|l| l.contains("looks like this project's")).collect();
    assert_eq!(todo.len(), 1, "{text}");
    assert!(todo[0].contains("acme-app_report-server@sha256:0123"), "{text}");
    for third_party in ["busybox", "postgres", "confluentinc"] {
        assert!(!text.contains(third_party), "{third_party}: {text}");
    }
}

#[test]
fn init_without_compose_takes_placeholders_from_the_kubernetes_images() {
    let ctx = TestContext::repo();
    let repo = ctx.repo_ref();
    repo.write("settings.gradle", "rootProject.name = 'shop'\ninclude 'orders', 'billing'\n");
    repo.write(
        "k8s/apps/orders.yaml",
        "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: orders\n          image: shop_orders:latest\n        - name: cache\n          image: redis:7\n",
    );
    repo.commit("initial");
    let run = ctx.hoist(&["init"]).ok();
    assert!(run.stdout.contains("lines of hoist.toml are marked TODO: check them"), "{}", run.stdout);
    let (text, config) = acme_config(&ctx);
    assert_eq!(config.services["orders"].placeholder.as_deref(), Some("shop_orders"), "{text}");
    assert_eq!(config.services["billing"].placeholder, None, "{text}");
    assert!(!text.contains("redis") && !text.contains("looks like this project's"), "{text}");
}

#[test]
fn init_writes_a_gitignore_when_there_is_none() {
    let ctx = TestContext::repo();
    ctx.repo_ref().write("settings.gradle", "include 'api'\n");
    ctx.repo_ref().commit("initial");
    let out = ctx.hoist(&["init"]).ok();
    assert!(out.stdout.contains(".gitignore"), "{}", out.stdout);
    let text = std::fs::read_to_string(ctx.path().join(".gitignore")).unwrap();
    assert!(text.lines().any(|l| l == ".hoist/"), "{text}");
}

#[test]
fn init_github_actions_keeps_an_existing_config() {
    let (ctx, _) = acme_repo();
    let config = "[project]\nname = \"acme-app\"\n\n[registry]\nrepository = \"registry.example.com/acme-app\"\n";
    ctx.repo_ref().write("hoist.toml", config);
    let run = ctx.hoist(&["init", "--github-actions"]).ok();
    assert!(run.stdout.contains("kept ") && run.stdout.contains("hoist.toml as it is"), "{}", run.stdout);
    assert_eq!(std::fs::read_to_string(ctx.path().join("hoist.toml")).unwrap(), config);
    let workflow = ctx.path().join(".github/workflows/release.yml");
    check_workflow_properties(&load_yaml(&workflow), false);
    // Without --github-actions, an existing config is still never overwritten.
    assert!(ctx.hoist(&["init"]).fails(1).stderr.contains("never overwrites"));
    assert_eq!(std::fs::read_to_string(ctx.path().join("hoist.toml")).unwrap(), config);
}

fn load_yaml(path: &Path) -> serde_json::Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).expect("the workflow is YAML")
}

fn check_workflow_properties(wf: &serde_json::Value, ecr: bool) {
    assert_eq!(wf["on"]["pull_request"]["types"], serde_json::json!(["closed"]));
    assert_eq!(wf["permissions"], serde_json::json!({}), "top-level permissions must be empty");
    let job = &wf["jobs"]["release"];
    assert_eq!(job["if"], "github.event.pull_request.merged == true");
    let perms = job["permissions"].as_object().unwrap();
    assert_eq!(perms["contents"], "write");
    assert_eq!(perms.len(), if ecr { 2 } else { 1 }, "{perms:?}");
    if ecr {
        assert_eq!(perms["id-token"], "write");
    }
    let steps = job["steps"].as_array().unwrap();
    let checkout =
        steps.iter().find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/checkout@"))).unwrap();
    assert_eq!(checkout["with"]["fetch-depth"], 0);
    assert_eq!(checkout["with"]["persist-credentials"], false);
    for step in steps {
        if let Some(run) = step["run"].as_str() {
            assert!(!run.contains("${{"), "an expression reaches a shell: {run}");
        }
        if let Some(uses) = step["uses"].as_str() {
            let sha = uses.split_once('@').unwrap().1;
            assert!(sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()), "not pinned by SHA: {uses}");
        }
    }
    let text = serde_json::to_string(wf).unwrap();
    assert!(!text.contains("pull_request.title"), "the workflow must not touch the PR title");
    assert_eq!(
        steps.iter().any(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("aws-actions/amazon-ecr-login@"))),
        ecr
    );
}

fn run_checkers(path: &Path) {
    let schema = std::process::Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(path)
        .output()
        .expect("check-jsonschema is installed (pip install -r requirements-ci.txt)");
    assert!(
        schema.status.success(),
        "check-jsonschema: {}{}",
        String::from_utf8_lossy(&schema.stdout),
        String::from_utf8_lossy(&schema.stderr)
    );

    let zizmor = std::process::Command::new("zizmor")
        .args(["--offline", "--format", "json"])
        .arg(path)
        .output()
        .expect("zizmor is installed (pip install -r requirements-ci.txt)");
    let findings: serde_json::Value = serde_json::from_slice(&zizmor.stdout).unwrap_or_else(|e| {
        panic!(
            "zizmor output ({e}): {}{}",
            String::from_utf8_lossy(&zizmor.stdout),
            String::from_utf8_lossy(&zizmor.stderr)
        )
    });
    for f in findings.as_array().unwrap() {
        let ident = f["ident"].as_str().unwrap_or("");
        let severity = f["determinations"]["severity"].as_str().unwrap_or("");
        assert_ne!(ident, "template-injection", "{f}");
        assert!(
            matches!(severity, "Unknown" | "Informational" | "Low"),
            "zizmor finding above low: {ident} {severity}: {f}"
        );
    }
}

#[test]
fn github_actions_workflow_is_safe_and_valid() {
    for (repository, ecr) in
        [("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop", true), ("registry.example.com/shop", false)]
    {
        let ctx = TestContext::repo();
        let repo = ctx.repo_ref();
        repo.write("hoist.toml", &format!("[registry]\nrepository = \"{repository}\"\n"));
        repo.commit("initial");
        ctx.hoist(&["init", "--github-actions", "--workflow-only"]).ok();
        let path = repo.path().join(".github/workflows/release.yml");
        check_workflow_properties(&load_yaml(&path), ecr);
        run_checkers(&path);
        let run = ctx.hoist(&["init", "--github-actions", "--workflow-only"]).fails(1);
        assert!(run.stderr.contains("never overwrites"), "{}", run.stderr);
    }
}

/// The new user: `hoist init` on the fixture with its tag history, only
/// `[registry] repository` set by hand, then a dry-run release and the Kubernetes render
/// work with no other edit. (Needs `tag_formats`, `placeholder` and recursive manifest
/// directories, which other parts of issue 13 implement.)
#[test]
fn a_new_user_adopts_the_fixture() {
    let (ctx, history) = acme_repo();
    let repo = ctx.repo_ref();
    ctx.hoist(&["init"]).ok();
    let registry = format!("127.0.0.1:{}/acme-app", hoist_testkit::net::free_port());
    let text = std::fs::read_to_string(repo.path().join("hoist.toml")).unwrap();
    let edited = text.replace("# [registry]\n", "[registry]\n").replace(
        "# repository = \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme-app\"\n",
        &format!("repository = \"{registry}\"\n"),
    );
    assert_ne!(edited, text);
    repo.write("hoist.toml", &edited);
    repo.commit("Merge pull request #8 from acme/hoist\n\n[patch] release with hoist");

    let plan = ctx.hoist(&["release", "--dry-run", "--output", "json"]).ok().json();
    let tag = plan["release"]["tag"].as_str().unwrap_or_else(|| panic!("no release: {plan:#}")).to_string();
    let head = repo.head();
    assert_eq!(tag, format!("v5.0.4-{}", &head[..7]), "after {} comes 5.0.4", history.newest);
    let services: Vec<&str> = plan["carry"]["services"]
        .as_array()
        .unwrap_or_else(|| panic!("{plan:#}"))
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, ACME_SERVICES.map(|(name, _)| name));
    let dry = ctx.hoist(&["release", "--dry-run"]).ok().stdout;
    assert!(
        dry.contains(&format!("project-wide, first: ./gradlew build --build-cache --parallel -Pversion={tag}")),
        "{dry}"
    );
    for (name, module) in ACME_SERVICES {
        assert!(dry.contains(&format!("     {name}_{tag}: from {module}/Dockerfile\n")), "{dry}");
        assert!(dry.contains(&format!("     {name}_{tag} as {name}_{tag}")), "{dry}");
    }

    let render = ctx.hoist(&["render", "k8s", "--tag", &tag]).ok();
    let images: Vec<&str> = render.stdout.lines().filter_map(|l| l.trim().strip_prefix("image: ")).collect();
    for (name, _) in ACME_SERVICES {
        let want = format!("{registry}:{name}_{tag}");
        assert!(images.iter().any(|i| i.trim_matches('"') == want), "{name}: {images:?}");
    }
    assert!(!render.stdout.contains("acme-app_"), "a placeholder left: {}", render.stdout);
    for third_party in ["busybox:1.36", "postgres:15-alpine"] {
        assert!(images.iter().any(|i| i.trim_matches('"') == third_party), "{third_party}: {images:?}");
    }
}
