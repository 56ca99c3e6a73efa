//! A release that changed one service builds, pushes and restarts only that service: the
//! shop example in a real git repository, released with `hoist release --deploy compose`
//! onto the real engine through a real registry, with skopeo as the independent client.

use std::collections::BTreeMap;

use hoist_cmd::Cmd;
use hoist_testkit::compose::{SERVICES, ShopDeploy};

use crate::common::{hoist, hoist_env};

fn git(shop: &ShopDeploy, args: &[&str]) -> String {
    Cmd::new("git").args(args).current_dir(shop.dir()).read().unwrap_or_else(|e| panic!("{e}"))
}

/// Commit everything with `message`; returns the commit.
fn commit(shop: &ShopDeploy, message: &str) -> String {
    git(shop, &["add", "-A"]);
    git(shop, &["commit", "--quiet", "--allow-empty", "-m", message]);
    git(shop, &["rev-parse", "HEAD"])
}

/// The example as a repository with `v1.0.0-<sha>` released (no images of it anywhere)
/// and the JRE base in the layout.
fn shop_repo() -> ShopDeploy {
    let shop = ShopDeploy::new("");
    git(&shop, &["init", "--quiet", "-b", "main"]);
    git(&shop, &["config", "user.email", "t@example.com"]);
    git(&shop, &["config", "user.name", "t"]);
    let first = commit(&shop, "shop");
    git(&shop, &["tag", &format!("v1.0.0-{}", &first[..7]), &first]);
    hoist(shop.dir(), &["image", "import", crate::release::jre_rootfs().to_str().unwrap(), "--ref", "shop-jre:17"])
        .ok();
    shop
}

/// Add class `class` of package `package` to the Java sources under `dir`.
fn add_class(shop: &ShopDeploy, dir: &str, package: &str, class: &str) {
    let path = shop.dir().join(format!("{dir}/src/main/java/{}/{class}.java", package.replace('.', "/")));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("package {package};\nclass {class} {{}}\n")).unwrap();
}

/// The plan `hoist release --dry-run` prints for HEAD.
fn dry_run(shop: &ShopDeploy) -> serde_json::Value {
    hoist(shop.dir(), &["release", "--dry-run", "--output", "json"]).ok().json()
}

/// `hoist release --deploy compose` for the commit `message` makes of the work tree.
fn release(shop: &ShopDeploy, message: &str, extra: &[&str]) -> serde_json::Value {
    commit(shop, message);
    run_release(shop, extra)
}

/// `hoist release --deploy compose` of HEAD.
fn run_release(shop: &ShopDeploy, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["release", "--deploy", "compose", "--output", "json"];
    args.extend_from_slice(extra);
    hoist_env(shop.dir(), &args, &[("SOURCE_DATE_EPOCH", "1700000000")]).ok().json()
}

/// Per service: (action, from) as the release reported it.
fn actions(json: &serde_json::Value) -> BTreeMap<String, String> {
    json["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let action = match s["from"].as_str() {
                Some(from) => format!("carried from {from}"),
                None => s["action"].as_str().unwrap().to_string(),
            };
            (s["service"].as_str().unwrap().to_string(), action)
        })
        .collect()
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(s, a)| (s.to_string(), a.to_string())).collect()
}

/// Service → (container id, started at) of the running app containers.
fn started(shop: &ShopDeploy) -> BTreeMap<String, (String, String)> {
    shop.containers()
        .into_iter()
        .filter(|(s, _)| SERVICES.contains(&s.as_str()))
        .map(|(s, id)| {
            let at = Cmd::new("docker")
                .args(["container", "inspect", "--format", "{{.State.StartedAt}}", &id])
                .read()
                .unwrap();
            (s, (id, at))
        })
        .collect()
}

#[test]
fn a_release_that_changed_one_service_rebuilds_pushes_and_restarts_only_it() {
    let shop = shop_repo();

    // v1.1.0: the images of v1.0.0 are in no registry, so every service builds.
    let v1 = release(&shop, "[minor] first release with hoist", &[]);
    let t1 = v1["tag"].as_str().unwrap().to_string();
    assert_eq!(actions(&v1), expect(&[("chat-service", "built"), ("gateway", "built"), ("user-service", "built")]));
    let before = started(&shop);
    assert_eq!(before.len(), 3, "{before:?}");

    // v1.1.1: only chat-service's code changed.
    add_class(&shop, "chat-service", "shop.chat", "Carry");
    commit(&shop, "[patch] chat-service: a new class");
    let dry = dry_run(&shop);
    let plan: BTreeMap<String, String> = dry["carry"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["service"].as_str().unwrap().to_string(), s["action"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(plan, expect(&[("chat-service", "build"), ("gateway", "carry"), ("user-service", "carry")]));
    assert_eq!(dry["carry"]["since"], t1.as_str());
    assert_eq!(
        dry["carry"]["touched"]["services"]["chat-service"],
        serde_json::json!(["chat-service/src/main/java/shop/chat/Carry.java"])
    );
    let text = hoist(shop.dir(), &["release", "--dry-run"]).ok().stdout;
    assert!(text.contains("chat-service: build (changed since"), "{text}");
    assert!(text.contains(&format!("gateway: carry from {t1}")), "{text}");
    // Only chat-service is built, imaged and pushed; the others are tagged.
    let steps = dry["steps"].as_array().unwrap();
    let build = steps.iter().find(|s| s["step"] == "build").unwrap();
    let built: Vec<&str> =
        build["plan"]["services"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(built, ["chat-service"]);
    let push = steps.iter().find(|s| s["step"] == "push").unwrap();
    assert_eq!(push["images"].as_array().unwrap().len(), 1, "{push:#}");
    assert_eq!(push["carried"].as_object().unwrap().len(), 2, "{push:#}");

    let v2 = run_release(&shop, &[]);
    let t2 = v2["tag"].as_str().unwrap().to_string();
    assert!(t2.starts_with("v1.1.1-"), "{v2}");
    assert_eq!(
        actions(&v2),
        expect(&[
            ("chat-service", "built"),
            ("gateway", &format!("carried from {t1}")),
            ("user-service", &format!("carried from {t1}"))
        ])
    );
    // One new app layer and chat-service's config and manifest: no dependency layer, no base.
    let sent = v2["bytes_uploaded"].as_u64().unwrap();
    assert!(sent > 0 && sent < 100_000, "uploaded {sent} bytes: {v2:#}");
    // Three tags of the release; the carried two name their previous digests (skopeo).
    for service in SERVICES {
        let now = shop.registry_digest(&shop.reference(service, &t2));
        let was = shop.registry_digest(&shop.reference(service, &t1));
        assert_eq!(now == was, service != "chat-service", "{service}: {now} vs {was}");
    }
    // Only chat-service's container was recreated; the others kept their id and uptime.
    let after = started(&shop);
    for service in SERVICES {
        assert_eq!(after[service] == before[service], service != "chat-service", "{service}: {after:?} vs {before:?}");
    }
    // Each answers the release it was built for.
    assert_eq!(shop.version("chat-service").as_deref(), Some(t2.as_str()));
    assert_eq!(shop.version("gateway").as_deref(), Some(t1.as_str()));
    assert_eq!(shop.version("user-service").as_deref(), Some(t1.as_str()));

    // Kubernetes: the carried services' Deployments render with the same pod template as
    // in the release they were built for (same image, tag and digest), so applying them
    // changes nothing and nothing rolls; chat-service's changes. `render` after the
    // release reads the carry from the release record.
    let k8s = hoist(shop.dir(), &["release", "--dry-run", "--deploy", "k8s", "--output", "json"]).ok().json();
    let deploy = k8s["steps"].as_array().unwrap().iter().find(|s| s["step"] == "deploy").unwrap().clone();
    assert_eq!(
        deploy["settings"]["carried"],
        serde_json::json!({"gateway": format!("gateway_{t1}"), "user-service": format!("user-service_{t1}")}),
        "{deploy:#}"
    );
    let digests: Vec<String> =
        SERVICES.iter().map(|s| format!("{s}={}", shop.registry_digest(&shop.reference(s, &t1)))).collect();
    let template = |tag: &str, pins: &[String]| -> BTreeMap<String, serde_json::Value> {
        let mut args = vec!["render", "k8s", "--tag", tag, "--output", "json"];
        for d in pins {
            args.extend(["--digest", d.as_str()]);
        }
        let json = hoist(shop.dir(), &args).ok().json();
        json["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["kind"] == "Deployment")
            .map(|m| (m["metadata"]["name"].as_str().unwrap().to_string(), m["spec"]["template"].clone()))
            .collect()
    };
    let (old, new) = (template(&t1, &[]), template(&t2, &[]));
    for service in SERVICES {
        assert_eq!(
            old[service] == new[service],
            service != "chat-service",
            "{service}: {:#} vs {:#}",
            old[service],
            new[service]
        );
    }
    assert!(new["gateway"].to_string().contains(&format!("gateway_{t1}")), "{:#}", new["gateway"]);
    // Pinned by digest, too: the carried image is the same manifest under both tags.
    let pins_t2: Vec<String> =
        SERVICES.iter().map(|s| format!("{s}={}", shop.registry_digest(&shop.reference(s, &t2)))).collect();
    let (old, new) = (template(&t1, &digests), template(&t2, &pins_t2));
    assert_eq!(old["user-service"], new["user-service"]);
    assert_ne!(old["chat-service"], new["chat-service"]);

    // v1.1.2: only README.md changed. Nothing builds; each image is carried from the
    // release it was built for (gateway still from v1.1.0, through v1.1.1); nothing restarts.
    std::fs::write(shop.dir().join("README.md"), "# shop\n\nNow released with hoist.\n").unwrap();
    let v3 = release(&shop, "[patch] docs", &[]);
    let t3 = v3["tag"].as_str().unwrap().to_string();
    assert_eq!(
        actions(&v3),
        expect(&[
            ("chat-service", &format!("carried from {t2}")),
            ("gateway", &format!("carried from {t1}")),
            ("user-service", &format!("carried from {t1}"))
        ])
    );
    assert_eq!(v3["bytes_uploaded"], 0);
    let rec = crate::release::record_at(shop.dir(), &t3);
    let steps: Vec<&str> = rec["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["tag_local", "push", "deploy"], "no build, no images");
    assert_eq!(started(&shop), after, "a release with no service change restarts nothing");

    // v1.1.3: common/ is shared (build.sh compiles it into every jar): all three build.
    add_class(&shop, "common", "shop", "Carried");
    let v4 = release(&shop, "[patch] common: a shared class", &[]);
    assert_eq!(actions(&v4), expect(&[("chat-service", "built"), ("gateway", "built"), ("user-service", "built")]));
    let t4 = v4["tag"].as_str().unwrap().to_string();
    for service in SERVICES {
        assert_eq!(shop.version(service).as_deref(), Some(t4.as_str()), "{service}");
    }

    // v1.1.4: user-service is unchanged, but its image was deleted from the registry: it
    // is rebuilt, and the plan says why. gateway changed; chat-service is carried.
    let digest = shop.registry_digest(&shop.reference("user-service", &t4));
    let url = format!("http://{}/v2/{}/manifests/{digest}", shop.registry.host(), shop.project);
    Cmd::new("curl").args(["-fsS", "-X", "DELETE", &url]).run().unwrap_or_else(|e| panic!("{e}"));
    add_class(&shop, "gateway", "shop.gateway", "Carry");
    commit(&shop, "[patch] gateway: a new class");
    let dry = dry_run(&shop);
    let user = dry["carry"]["services"].as_array().unwrap().iter().find(|s| s["service"] == "user-service").unwrap();
    assert_eq!(user["action"], "build");
    let why = user["reason"].as_str().unwrap();
    assert!(why.contains("unchanged since") && why.contains("the registry has no"), "{why}");
    let v5 = run_release(&shop, &[]);
    assert_eq!(
        actions(&v5),
        expect(&[("chat-service", &format!("carried from {t4}")), ("gateway", "built"), ("user-service", "built")])
    );

    // The same through single steps (a pipeline of `tag`, `build`, `image`, `push`,
    // `deploy compose`): only chat-service is built, imaged and pushed; the others are
    // tagged and keep running.
    add_class(&shop, "chat-service", "shop.chat", "Step");
    commit(&shop, "[patch] chat-service: single steps");
    let before = started(&shop);
    let t5 = v5["tag"].as_str().unwrap().to_string();
    let env = [("SOURCE_DATE_EPOCH", "1700000000")];
    hoist(shop.dir(), &["tag"]).ok();
    let built = hoist_env(shop.dir(), &["build", "--output", "json"], &env).ok();
    assert!(built.stderr.contains(&format!("gateway: carried from {t5}")), "{}", built.stderr);
    let artifacts: Vec<String> = built.json()["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["service"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(artifacts, ["chat-service"]);
    let imaged = hoist_env(shop.dir(), &["image", "--output", "json"], &env).ok().json();
    let imaged: Vec<&str> =
        imaged["images"].as_array().unwrap().iter().map(|i| i["service"].as_str().unwrap()).collect();
    assert_eq!(imaged, ["chat-service"]);
    let pushed = hoist(shop.dir(), &["push", "--output", "json"]).ok();
    assert_eq!(pushed.json()["images"].as_array().unwrap().len(), 1, "{}", pushed.stdout);
    let t7 = git(&shop, &["tag", "--points-at", "HEAD"]);
    for service in ["gateway", "user-service"] {
        assert_eq!(
            shop.registry_digest(&shop.reference(service, &t7)),
            shop.registry_digest(&shop.reference(service, &t5)),
            "{service}"
        );
    }
    hoist(shop.dir(), &["deploy", "compose"]).ok();
    let after = started(&shop);
    for service in SERVICES {
        assert_eq!(after[service] == before[service], service != "chat-service", "{service}");
    }
    assert_eq!(shop.version("chat-service").as_deref(), Some(t7.as_str()));

    // A new base (the JRE re-imported with one more file): the images of unchanged
    // services no longer sit on it, so they build too, and the plan says why.
    let base = tempfile::TempDir::new().unwrap();
    Cmd::new("cp").arg("-a").arg(crate::release::jre_rootfs()).arg(base.path().join("rootfs")).run().unwrap();
    std::fs::write(base.path().join("rootfs/etc-hoist-base-v2"), "v2\n").unwrap();
    hoist(shop.dir(), &["image", "import", base.path().join("rootfs").to_str().unwrap(), "--ref", "shop-jre:17"]).ok();
    add_class(&shop, "gateway", "shop.gateway", "Base");
    commit(&shop, "[patch] gateway: on the new base");
    let dry = dry_run(&shop);
    for s in dry["carry"]["services"].as_array().unwrap() {
        assert_eq!(s["action"], "build", "{s:#}");
        if s["service"] != "gateway" {
            let why = s["reason"].as_str().unwrap();
            assert!(why.contains("its base image `shop-jre:17` changed"), "{why}");
        }
    }

    // --all builds everything.
    std::fs::write(shop.dir().join("user-service/notes.txt"), "x\n").unwrap();
    let v6 = release(&shop, "[patch] user-service: notes", &["--all"]);
    assert_eq!(actions(&v6), expect(&[("chat-service", "built"), ("gateway", "built"), ("user-service", "built")]));
}
