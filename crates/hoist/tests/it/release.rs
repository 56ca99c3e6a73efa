//! `hoist release` end to end on the example project: a real git repository with a bare
//! remote, the real registry, real builds and images; the safety of the order (no remote tag
//! without images) and resuming after a failure.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hoist_testkit::example::copy_example;
use hoist_testkit::{Registry, TestRepo};

use crate::common::{hoist, hoist_env};

/// The JRE root filesystem, made once per test run and imported into each test's layout.
pub(crate) fn jre_rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("hoist-it-jre-{}", std::process::id()));
        if !dir.join("opt/java/bin/java").exists() {
            hoist_cmd::Cmd::new(hoist_testkit::example_shop().join("base/make-jre-rootfs.sh"))
                .arg(&dir)
                .run()
                .unwrap_or_else(|e| panic!("{e}"));
        }
        dir
    })
}

/// The example in a repository with `v1.0.0` released and a `[minor]` change merged,
/// pointed at `registry` (or at nothing listening when `None`).
fn shop_repo(registry: Option<&Registry>) -> TestRepo {
    let host = match registry {
        Some(r) => r.host(),
        None => format!("127.0.0.1:{}", hoist_testkit::net::free_port()),
    };
    shop_repo_at(&host)
}

/// [`shop_repo`] with the registry at `host` (a proxy in front of one, say).
fn shop_repo_at(host: &str) -> TestRepo {
    let repo = TestRepo::with_remote();
    copy_example(repo.path());
    let toml = std::fs::read_to_string(repo.path().join("hoist.toml")).unwrap();
    repo.write("hoist.toml", &toml.replace("127.0.0.1:5000/shop", &format!("{host}/shop")));
    let first = repo.commit("shop as released");
    repo.tag(&format!("v1.0.0-{}", &first[..7]), &first);
    repo.write("gateway/src/main/java/shop/gateway/Feature.java", "package shop.gateway;\nclass Feature {}\n");
    repo.commit("[minor] gateway: new feature");
    repo.git(&["push", "--quiet", "origin", "main", "--tags"]);
    hoist(repo.path(), &["image", "import", jre_rootfs().to_str().unwrap(), "--ref", "shop-jre:17"]).ok();
    repo
}

/// The release record a run wrote, `.hoist/releases/<tag>.json`.
fn record(repo: &TestRepo, tag: &str) -> serde_json::Value {
    record_at(repo.path(), tag)
}

/// The release record of `tag` in the project at `dir`.
pub(crate) fn record_at(dir: &Path, tag: &str) -> serde_json::Value {
    let path = dir.join(".hoist/releases").join(format!("{tag}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Each step of a record as `step=status`.
fn statuses(record: &serde_json::Value) -> Vec<String> {
    record["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}={}", s["step"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect()
}

fn remote_has(repo: &TestRepo, tag: &str) -> bool {
    repo.remote_tags().iter().any(|t| t == tag)
}

#[test]
fn release_pushes_images_then_the_tag() {
    let registry = Registry::start();
    let repo = shop_repo(Some(&registry));
    let head = repo.head();
    let tag = format!("v1.1.0-{}", &head[..7]);
    let outputs = repo.scratch("gh").join("output");
    let summary = repo.scratch("gh").join("summary");
    let run = hoist_env(
        repo.path(),
        &["release", "--output", "json"],
        &[("GITHUB_OUTPUT", outputs.to_str().unwrap()), ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    )
    .ok();
    let json = run.json();
    assert_eq!(json["tag"], tag.as_str());
    assert_eq!(json["tag_pushed"], true);
    assert!(remote_has(&repo, &tag));
    let services = json["services"].as_array().unwrap();
    assert_eq!(services.len(), 3);
    assert!(json["bytes_uploaded"].as_u64().unwrap() > 1_000_000, "the base went up: {json}");
    // An independent client reads every tag and finds the digest hoist reported.
    for s in services {
        let image = s["image"].as_str().unwrap();
        let out = hoist_cmd::Cmd::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw", &format!("docker://{image}")])
            .read()
            .unwrap_or_else(|e| panic!("{e}"));
        let digest = format!("sha256:{}", hoist_testkit::sha256_hex(out.as_bytes()));
        assert_eq!(s["digest"].as_str().unwrap(), digest, "{image}");
    }
    let out = std::fs::read_to_string(&outputs).unwrap();
    assert!(out.contains(&format!("tag={tag}\n")) && out.contains("version=1.1.0\n"), "{out}");
    assert!(std::fs::read_to_string(&summary).unwrap().contains("| gateway |"));

    // A re-run on the released HEAD continues the same release and sends no layer again.
    let again = hoist(repo.path(), &["release", "--output", "json"]).ok().json();
    assert_eq!(again["tag"], tag.as_str());
    assert_eq!(again["resumed"], true);
    assert_eq!(again["bytes_uploaded"], 0);
    assert_eq!(repo.git(&["tag", "--list"]).lines().count(), 2);
    // It resumed from the record: every step was done and its result is still there.
    assert_eq!(
        statuses(&record(&repo, &tag)),
        ["tag_local=skipped", "build=skipped", "images=skipped", "push=skipped", "push_tag=skipped"]
    );
    // It reports the images it reused, and no time or bytes of its own.
    let reused = again["services"].as_array().unwrap();
    assert_eq!(reused.len(), 3);
    for (a, b) in reused.iter().zip(services) {
        assert_eq!((&a["image"], &a["digest"]), (&b["image"], &b["digest"]));
        assert_eq!((a["bytes_uploaded"].as_u64(), a["seconds"].as_f64()), (Some(0), Some(0.0)), "{a}");
    }
}

#[test]
fn a_failed_push_leaves_no_remote_tag_and_a_rerun_finishes_the_same_release() {
    let repo = shop_repo(None);
    let head = repo.head();
    let tag = format!("v1.1.0-{}", &head[..7]);
    let run = hoist(repo.path(), &["release"]);
    assert_ne!(run.code, 0, "the push had nowhere to go:\n{}", run.stderr);
    assert!(!remote_has(&repo, &tag), "a tag reached the remote without images");
    // The local tag keeps the version for the re-run.
    assert_eq!(repo.git(&["tag", "--points-at", "HEAD"]), tag);
    // The record says how far it got, and why it stopped.
    let failed = record(&repo, &tag);
    assert_eq!(
        statuses(&failed),
        ["tag_local=done", "build=done", "images=done", "push=failed", "push_tag=pending"],
        "{failed:#}"
    );
    let push = failed["steps"].as_array().unwrap().iter().find(|s| s["step"] == "push").unwrap();
    assert!(push["error"].as_str().unwrap().starts_with("error: "), "{push:#}");

    // The registry appears (same address in hoist.toml): the re-run resumes.
    let registry = Registry::start();
    let toml = std::fs::read_to_string(repo.path().join("hoist.toml")).unwrap();
    let start = toml.find("repository = \"").unwrap() + 14;
    let end = start + toml[start..].find('"').unwrap();
    repo.write("hoist.toml", &format!("{}{}/shop{}", &toml[..start], registry.host(), &toml[end..]));
    repo.git(&["commit", "--quiet", "--amend", "--no-edit", "-a"]);
    // Amending moved HEAD; put the release tag on it as the first run would have.
    repo.git(&["tag", "--delete", &tag]);
    let head = repo.head();
    let tag = format!("v1.1.0-{}", &head[..7]);
    repo.git(&["tag", "-a", "-m", "Release", &tag, "HEAD"]);
    let json = hoist(repo.path(), &["release", "--output", "json"]).ok().json();
    assert_eq!(json["tag"], tag.as_str());
    assert_eq!(json["resumed"], true);
    assert!(remote_has(&repo, &tag));
    // Amending made a new release commit (a new tag): only its tag was already there.
    assert_eq!(
        statuses(&record(&repo, &tag)),
        ["tag_local=skipped", "build=done", "images=done", "push=done", "push_tag=done"]
    );
}

#[test]
fn a_failed_build_pushes_nothing_and_a_rerun_keeps_the_version() {
    let registry = Registry::start();
    let repo = shop_repo(Some(&registry));
    let main = repo.path().join("user-service/src/main/java/shop/user/Main.java");
    let good = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, format!("{good}\nthis is not java;\n")).unwrap();
    let run = hoist(repo.path(), &["release"]).fails(1);
    assert!(run.stderr.contains("the build of `user-service` failed"), "{}", run.stderr);
    let tag = repo.git(&["tag", "--points-at", "HEAD"]);
    assert!(tag.starts_with("v1.1.0-"), "{tag}");
    assert!(!remote_has(&repo, &tag));
    let tags = hoist_testkit::net::http_get(registry.port(), "/v2/shop/tags/list").map(|(_, b)| b).unwrap_or_default();
    assert!(!tags.contains("v1.1.0"), "images of a failed release were pushed: {tags}");

    // Fixed in the working tree (a CI re-run after a flaky build): the same version.
    std::fs::write(&main, good).unwrap();
    let json = hoist(repo.path(), &["release", "--output", "json"]).ok().json();
    assert_eq!(json["tag"], tag.as_str());
    assert!(remote_has(&repo, &tag));
}

#[test]
fn dry_run_and_no_marker_change_nothing() {
    let registry = Registry::start();
    let repo = shop_repo(Some(&registry));
    let json = hoist(repo.path(), &["release", "--dry-run", "--output", "json"]).ok().json();
    let r = &json["release"];
    let tag = r["tag"].as_str().unwrap();
    assert!(tag.starts_with("v1.1.0-"));
    let steps = json["steps"].as_array().unwrap();
    let kinds: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["tag_local", "build", "images", "push", "push_tag"]);
    assert!(steps.iter().all(|s| s["skip"].is_null()), "{json:#}");
    assert_eq!(steps[1]["plan"]["services"].as_array().unwrap().len(), 3);
    let images: Vec<&str> =
        steps[2]["images"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(images, [format!("chat-service_{tag}"), format!("gateway_{tag}"), format!("user-service_{tag}")]);
    assert!(steps[3]["repository"].as_str().unwrap().ends_with("/shop"));
    assert_eq!(steps[4]["tag"], tag);
    // The images are not built yet, so the preview can only say so.
    assert!(json["push_preview"]["note"].as_str().unwrap().contains("built during the release"), "{json:#}");
    assert_eq!(repo.git(&["tag", "--points-at", "HEAD"]), "");
    assert!(!repo.path().join("user-service/build").exists());
    assert!(!repo.path().join(".hoist/releases").exists(), "a dry run wrote a record");

    let json = hoist(repo.path(), &["release", "--pr-title", "docs only", "--output", "json"]).ok().json();
    assert!(json["release"].is_null(), "{json}");
    assert_eq!(repo.git(&["tag", "--points-at", "HEAD"]), "");
}

#[test]
fn an_app_only_release_does_not_upload_the_dependencies_again() {
    let registry = Registry::start();
    let repo = shop_repo(Some(&registry));
    // 4 MB of dependency jars per service (thin jars with lib/ on Class-Path).
    let deps = [("SHOP_DEPS_MB", "4")];
    let first = hoist_env(repo.path(), &["release", "--output", "json"], &deps).ok().json();
    assert!(first["bytes_uploaded"].as_u64().unwrap() > 4_000_000, "{first}");

    // The next merge, a day later: a new commit time must not re-stamp unchanged layers.
    repo.write("user-service/src/main/java/shop/user/Extra.java", "package shop.user;\nclass Extra {}\n");
    repo.git(&["add", "-A"]);
    hoist_cmd::Cmd::new("git")
        .args(["commit", "--quiet", "-m", "[patch] user-service: extra class"])
        .current_dir(repo.path())
        .env("GIT_AUTHOR_DATE", "2024-01-02T12:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-02T12:00:00Z")
        .run()
        .unwrap();
    let second = hoist_env(repo.path(), &["release", "--output", "json"], &deps).ok().json();
    assert!(second["tag"].as_str().unwrap().starts_with("v1.1.1-"), "{second}");
    // Only the three application jars (they carry the tag), their configs and manifests.
    let sent = second["bytes_uploaded"].as_u64().unwrap();
    assert!(sent < 200_000, "an app-only release uploaded {sent} bytes: {second}");
}

#[test]
fn the_run_executes_the_plan_the_dry_run_printed_and_asks_each_blob_once() {
    let registry = Registry::start();
    let proxy = hoist_testkit::proxy::FaultProxy::start(&registry.host());
    let repo = shop_repo_at(&proxy.host());
    let dry = hoist(repo.path(), &["release", "--dry-run", "--output", "json"]).ok().json();
    let tag = dry["release"]["tag"].as_str().unwrap().to_string();
    let before = proxy.log().len();
    let run = hoist(repo.path(), &["release", "--output", "json"]).ok().json();
    assert_eq!(run["tag"], tag.as_str());

    // The record holds exactly the plan the dry run printed, every step done.
    let rec = record(&repo, &tag);
    assert_eq!(rec["format"], 1);
    assert_eq!(rec["plan"]["steps"], dry["steps"], "the run executed another plan");
    assert_eq!(rec["plan"]["release"], dry["release"]);
    assert_eq!(rec["plan"]["title"], dry["title"]);
    assert_eq!(statuses(&rec), ["tag_local=done", "build=done", "images=done", "push=done", "push_tag=done"]);

    // The push asked the registry about each blob its plan listed as asked, once, and
    // about nothing else: no second plan inside the push.
    let push = rec["steps"].as_array().unwrap().iter().find(|s| s["step"] == "push").unwrap();
    let blobs = push["output"]["plan"]["blobs"].as_array().unwrap();
    let mut asked: Vec<String> = blobs
        .iter()
        .filter(|b| b["cached"] != true && b["unasked"] != true)
        .map(|b| b["digest"].as_str().unwrap().to_string())
        .collect();
    asked.sort();
    let log = proxy.log()[before..].to_vec();
    let mut heads: Vec<String> = log
        .iter()
        .filter_map(|l| l.strip_prefix("HEAD "))
        .filter_map(|p| p.split("/blobs/").nth(1))
        .map(|d| d.split(['?', ' ']).next().unwrap().to_string())
        .collect();
    heads.sort();
    assert!(!asked.is_empty(), "the plan asked about no blob: {push:#}");
    assert_eq!(heads, asked, "blob HEADs differ from the plan's:\n{}", log.join("\n"));
    // One HEAD per image tag, in the plan; and before it, the carry check's one HEAD per
    // service unchanged since v1.0.0 (the registry has none of its images: they build).
    let manifest_heads = |tag: &str| {
        log.iter().filter(|l| l.starts_with("HEAD ") && l.contains("/manifests/") && l.contains(tag)).count()
    };
    assert_eq!(manifest_heads(&format!("_{tag}")), 3, "{}", log.join("\n"));
    assert_eq!(manifest_heads("_v1.0.0-"), 2, "{}", log.join("\n"));
    assert!(!log.iter().any(|l| l.contains("gateway_v1.0.0")), "gateway changed: nothing to check");
    // Per-service figures are each service's own.
    let services = run["services"].as_array().unwrap();
    assert!(services.iter().all(|s| s["image_seconds"].as_f64().unwrap() > 0.0), "{run:#}");
    let sum: u64 = services.iter().map(|s| s["bytes_uploaded"].as_u64().unwrap()).sum();
    assert_eq!(sum, run["bytes_uploaded"].as_u64().unwrap(), "{run:#}");
}

/// Issue 13, point 9: with `[build] command`, the dry run shows that command (its `{tag}`
/// rendered) and what each service's build is; once the images are in the layout, what the
/// push does to each tag and how many blobs go up.
#[test]
fn the_dry_run_shows_the_project_wide_build_and_the_push_plan() {
    let registry = Registry::start();
    let repo = shop_repo(Some(&registry));
    let toml = std::fs::read_to_string(repo.path().join("hoist.toml")).unwrap();
    let toml = toml
        .replace("[build]\n", "[build]\ncommand = [\"./build.sh\", \"{tag}\"]\n")
        .replace("build = [\"./build.sh\", \"{tag}\", \"{service}\"]\n", "");
    assert_eq!(toml.matches("./build.sh").count(), 1, "{toml}");
    repo.write("hoist.toml", &toml);
    repo.commit("[minor] one project-wide build");
    // Blob sizes depend on the JDK that compiled the jars.
    let ctx = crate::common::TestContext::with_repo(repo)
        .with_registry(registry)
        .with_filter(r"\(\d+ bytes\)", "([N] bytes)");
    let json = ctx.hoist(&["release", "--dry-run", "--output", "json"]).ok().json();
    let tag = json["release"]["tag"].as_str().unwrap().to_string();
    let text = ctx.hoist(&["release", "--dry-run"]).ok().stdout;
    assert!(text.contains(&format!("     project-wide, first: ./build.sh {tag}\n")), "{text}");
    for svc in ["chat-service", "gateway", "user-service"] {
        let line = format!("     {svc}: by the project-wide build, artifact {svc}/build/libs/shop-{svc}-{tag}.jar\n");
        assert!(text.contains(&line), "{text}");
        assert!(text.contains(&format!("     {svc}_{tag}: from its artifact on shop-jre:17\n")), "{text}");
    }
    assert!(text.contains("built during the release, so their new blobs are counted then"), "{text}");
    assert!(!text.contains("(no command)"), "{text}");

    // Built and imaged ahead: the registry is asked, and each tag's fate is printed.
    ctx.hoist(&["build", "--tag", &tag]).ok();
    ctx.hoist(&["image", "--tag", &tag]).ok();
    let run = ctx.hoist(&["release", "--dry-run"]).ok();
    let text = &run.stdout;
    for svc in ["chat-service", "gateway", "user-service"] {
        assert!(text.contains(&format!("     {svc}_{tag} as {svc}_{tag} (new tag)\n")), "{text}");
    }
    let blobs = text.lines().find(|l| l.starts_with("     blobs: ")).unwrap_or_else(|| panic!("{text}"));
    let uploads = text.lines().filter(|l| l.starts_with("     upload sha256:")).count();
    assert!(uploads > 0 && blobs.starts_with(&format!("     blobs: {uploads} to upload (")), "{text}");
    assert!(blobs.ends_with(", 0 already in the registry"), "{text}");
    assert!(!text.contains("built during the release"), "{text}");
    crate::hoist_snapshot!(ctx, "release_dry_run_project_build", run);
}

#[test]
fn the_dry_run_plan_is_pinned() {
    let registry = Registry::start();
    let repo = shop_repo(Some(&registry));
    let ctx = crate::common::TestContext::with_repo(repo).with_registry(registry);
    // `-j 2` so the plan does not depend on the machine's cores.
    let json = ctx.hoist(&["release", "--dry-run", "-j", "2", "--output", "json"]).ok().json();
    crate::json_snapshot!(ctx, "release_dry_run_json", json);
    let text = ctx.hoist(&["release", "--dry-run", "-j", "2"]).ok();
    crate::hoist_snapshot!(ctx, "release_dry_run_text", text);
    let none = ctx.hoist(&["release", "--dry-run", "--pr-title", "docs only", "--output", "json"]).ok().json();
    crate::json_snapshot!(ctx, "release_no_marker_json", none);
    // A detached HEAD is refused unless allowed, naming the fix.
    ctx.repo_ref().git(&["checkout", "--quiet", "--detach", "HEAD"]);
    let detached = ctx.hoist(&["release", "--dry-run"]).fails(1);
    crate::hoist_snapshot!(ctx, "release_detached_error", detached);
}
