//! `hoist init`: the scan, the generated hoist.toml, and the GitHub Actions workflow checked
//! by parsing it and by two real checkers (check-jsonschema and zizmor, both offline).

use std::path::Path;

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
        text.contains("[services.user-service]\nartifact = \"user-service/build/libs/*-{tag}.jar\"\n# Its inputs"),
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
