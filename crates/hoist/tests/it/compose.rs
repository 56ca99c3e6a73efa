//! `hoist deploy compose`, `hoist deploy history`, `hoist rollback` on the real Docker
//! Engine with docker-compose, the shop example and a real registry.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hoist_cmd::Cmd;
use hoist_testkit::compose::{ShopDeploy, build_app_image, suffix};

use crate::common::{Run, TestContext, escape, hoist};
use crate::{hoist_snapshot, json_snapshot};

const V1: &str = "v1.0.0-aaaaaaa";
const V2: &str = "v1.1.0-bbbbbbb";
const V3: &str = "v1.2.0-ccccccc";
const V4: &str = "v1.3.0-ddddddd";

fn deploy(shop: &ShopDeploy, tag: &str, extra: &[&str]) -> Run {
    let mut args = vec!["deploy", "compose", "--tag", tag];
    args.extend_from_slice(extra);
    hoist(shop.dir(), &args)
}

/// The shop's context for snapshots: its unique compose project name is `[PROJECT]`.
fn ctx(shop: &ShopDeploy) -> TestContext {
    TestContext::at(shop.dir())
        .with_filter(&escape(&shop.project), "[PROJECT]")
        // What a failed health gate saw last depends on when it gave up.
        .with_filter(r"\(last: [^)]*\)", "(last: [STATE])")
}

/// What a deploy's JSON holds that varies from run to run: ids, times, timings.
macro_rules! deploy_json_snapshot {
    ($shop:expr, $name:expr, $json:expr) => {
        json_snapshot!(ctx($shop), $name, $json, {
            ".pins[].image_id" => "[IMAGE_ID]",
            ".**.started_at" => "[TIMESTAMP]",
            ".**.finished_at" => "[TIMESTAMP]",
            ".**.seconds" => "[TIME]",
            ".timings" => "[TIMINGS]",
            ".records[].pins[].image_id" => "[IMAGE_ID]",
            // A failed gate says what it saw last: unhealthy, or not yet healthy at the
            // deadline, depending on timing; the test asserts the service and the rollback.
            ".records[].message" => "[HEALTH_GATE]",
            ".records[].owner.boot_id" => "[BOOT_ID]",
            ".records[].owner.host" => "[HOST]",
            ".records[].owner.pid" => "[PID]",
            ".records[].owner.pid_start" => "[PID_START]",
        })
    };
}

fn docker(args: &[&str]) -> String {
    Cmd::new("docker").args(args).read().unwrap_or_else(|e| panic!("{e}"))
}

fn image_exists(reference: &str) -> bool {
    Cmd::new("docker").args(["image", "inspect", reference]).output().unwrap().success()
}

fn kv_put(shop: &ShopDeploy, key: &str, value: &str) {
    let port = shop.port("kv-store");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    write!(stream, "PUT /kv/{key} HTTP/1.0\r\nHost: x\r\nContent-Length: {}\r\n\r\n{value}", value.len()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 2") || answer.starts_with("HTTP/1.0 2"), "{answer}");
}

fn kv_get(shop: &ShopDeploy, key: &str) -> Option<String> {
    hoist_testkit::net::http_get(shop.port("kv-store"), &format!("/kv/{key}"))
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
}

fn all_versions(shop: &ShopDeploy) -> BTreeMap<String, String> {
    ["chat-service", "gateway", "user-service"]
        .iter()
        .map(|s| (s.to_string(), shop.version(s).unwrap_or_else(|| format!("{s}: no answer"))))
        .collect()
}

fn versions(chat: &str, gateway: &str, user: &str) -> BTreeMap<String, String> {
    [("chat-service", chat), ("gateway", gateway), ("user-service", user)]
        .iter()
        .map(|(s, v)| (s.to_string(), v.to_string()))
        .collect()
}

/// Issue tests 1, 2 and 3, plus dry-run, no-op, history and both kinds of rollback.
#[test]
fn deploy_update_broken_release_rolls_back_and_keeps_data() {
    let shop = ShopDeploy::new("timeout = 40");
    shop.release(V1, &["chat-service", "gateway", "user-service"], &[], None);

    // 1. v1: every service healthy, /version answers v1.
    let run = deploy(&shop, V1, &["--output", "json"]).ok();
    let done = run.json();
    assert_eq!(done["result"], "succeeded");
    deploy_json_snapshot!(&shop, "deploy_v1", done);
    let recreated: Vec<&str> = done["recreated"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(recreated, ["chat-service", "gateway", "kv-store", "user-service"]);
    assert_eq!(all_versions(&shop), versions(V1, V1, V1));
    for pin in done["pins"].as_array().unwrap() {
        let reference = pin["reference"].as_str().unwrap();
        let digest = shop.registry_digest(reference);
        let repo = reference.rsplit_once(':').unwrap().0;
        assert_eq!(pin["image"].as_str().unwrap(), format!("{repo}@{digest}"), "pinned by digest");
        assert_eq!(pin["digest"].as_str().unwrap(), digest);
        assert_eq!(shop.container_image(pin["service"].as_str().unwrap()), pin["image_id"].as_str().unwrap());
    }
    let health = docker(&["inspect", "--format", "{{.State.Health.Status}}", &shop.containers()["kv-store"]]);
    assert_eq!(health, "healthy");
    kv_put(&shop, "greeting", "written-before-v2");

    // The user's compose file is untouched; the pins live in hoist's override.
    let compose = std::fs::read_to_string(shop.dir().join("docker-compose-prod.yaml")).unwrap();
    assert!(compose.contains("image: user-service\n"), "{compose}");
    let override_text =
        std::fs::read_to_string(shop.state_dir().join(format!("override-{}.yaml", shop.project))).unwrap();
    assert!(override_text.contains(&shop.reference("user-service", V1)), "{override_text}");

    // 2. v2 changes only user-service.
    shop.release(V2, &["user-service"], &[], Some(V1));
    let before = shop.containers();
    let plan = deploy(&shop, V2, &["--dry-run", "--output", "json"]).ok().json();
    assert_eq!(plan["recreate"], serde_json::json!(["user-service"]), "{plan}");
    assert_eq!(plan["pull"].as_array().unwrap().len(), 1, "only user-service's image is new: {plan}");
    deploy_json_snapshot!(&shop, "deploy_dry_run_v2", plan);
    assert_eq!(shop.containers(), before, "a dry run changes nothing");

    let done = deploy(&shop, V2, &["--output", "json"]).ok().json();
    assert_eq!(done["recreated"], serde_json::json!(["user-service"]));
    let after = shop.containers();
    for service in ["chat-service", "gateway", "kv-store"] {
        assert_eq!(before[service], after[service], "{service} kept its container");
    }
    assert_ne!(before["user-service"], after["user-service"]);
    assert_eq!(all_versions(&shop), versions(V1, V1, V2));

    // Deploying the running release again is a no-op.
    let done = deploy(&shop, V2, &["--output", "json"]).ok().json();
    assert_eq!(done["noop"], true);
    deploy_json_snapshot!(&shop, "deploy_noop", done);
    assert_eq!(shop.containers(), after);

    // 3. v3's user-service fails its health check: hoist rolls back to v2 by itself.
    shop.release(V3, &["user-service"], &["user-service"], Some(V2));
    let run = deploy(&shop, V3, &[]).fails(1);
    assert!(run.stderr.contains(&format!("release {V3} failed: `user-service`")), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("rolled back to {V2}")), "{}", run.stderr);
    assert!(run.stderr.contains("  | "), "the failed service's last log lines are shown:\n{}", run.stderr);
    assert_eq!(all_versions(&shop), versions(V1, V1, V2));
    assert_eq!(kv_get(&shop, "greeting").as_deref(), Some("written-before-v2"), "data survived");
    let final_ids = shop.containers();
    for service in ["chat-service", "gateway", "kv-store"] {
        assert_eq!(after[service], final_ids[service], "{service} was never touched");
    }

    // History: every deploy, with its result and who ran it.
    let history = hoist(shop.dir(), &["deploy", "history", "--output", "json"]).ok().json();
    assert_eq!(history["current"], V2);
    deploy_json_snapshot!(&shop, "deploy_history", history);
    let rows: Vec<(String, String)> = history["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["release"].as_str().unwrap().to_string(), r["result"].as_str().unwrap().to_string()))
        .collect();
    let want: Vec<(String, String)> = [(V1, "succeeded"), (V2, "succeeded"), (V2, "succeeded"), (V3, "rolled_back")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(rows, want);
    let last = &history["records"][3];
    assert_eq!(last["rolled_back_to"], V2);
    assert_eq!(last["failed_service"], "user-service");
    assert!(last["by"].as_str().unwrap().contains('@'));
    let text = hoist(shop.dir(), &["deploy", "history"]).ok();
    assert!(text.stdout.contains(&format!("current: {V2}")), "{}", text.stdout);
    hoist_snapshot!(ctx(&shop), "deploy_history_text", text);

    // Going back on purpose: to the release before the current one, then to a named one.
    let done = hoist(shop.dir(), &["rollback", "--output", "json"]).ok().json();
    assert_eq!(done["release"], V1);
    deploy_json_snapshot!(&shop, "rollback", done);
    assert_eq!(done["recreated"], serde_json::json!(["user-service"]));
    assert_eq!(all_versions(&shop), versions(V1, V1, V1));
    hoist(shop.dir(), &["rollback", "--to", V2]).ok();
    assert_eq!(all_versions(&shop), versions(V1, V1, V2));
    let run = hoist(shop.dir(), &["rollback", "--to", V3]).fails(1);
    hoist_snapshot!(ctx(&shop), "rollback_to_unknown_release", run);
    assert_eq!(kv_get(&shop, "greeting").as_deref(), Some("written-before-v2"));
}

/// Issue test 4: a second deploy while one runs is refused; a stale lock needs --break-lock.
#[test]
fn a_second_deploy_is_refused_by_the_lock() {
    let shop = ShopDeploy::new("");
    shop.release(V1, &["chat-service", "gateway", "user-service"], &[], None);
    let lock = shop.state_dir().join(format!("lock-{}@local.json", shop.project));

    let first_ctx = ctx(&shop);
    let mut first = first_ctx
        .command()
        .args(["deploy", "compose", "--tag", V1])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !lock.exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "the first deploy never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = deploy(&shop, V1, &[]).fails(1);
    assert!(second.stderr.contains("another deploy holds the lock"), "{}", second.stderr);
    assert!(second.stderr.contains(&format!("deploy {V1} by")), "names the owner: {}", second.stderr);
    assert!(second.stderr.contains(&format!("(pid {})", first.id())), "{}", second.stderr);
    hoist_snapshot!(first_ctx, "deploy_lock_held", second);
    assert!(first.wait().unwrap().success(), "the first deploy finished");
    assert!(!lock.exists(), "released");

    // A holder that died leaves a stale lock: refused, with the way out in the hint.
    let stale = serde_json::json!({
        "pid": u32::MAX - 7, "pid_start": 1, "host": std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim(),
        "user": "ghost", "since": "2026-01-01T00:00:00Z", "what": "deploy v0.9.0-0000000"
    });
    std::fs::write(&lock, stale.to_string()).unwrap();
    let run = deploy(&shop, V1, &[]).fails(1);
    hoist_snapshot!(ctx(&shop), "deploy_stale_lock", run);
    let done = deploy(&shop, V1, &["--break-lock", "--output", "json"]).ok().json();
    assert_eq!(done["noop"], true);
    assert!(!lock.exists());
}

/// Removes what a test made outside its compose project, also when it fails.
struct Leftovers {
    containers: Vec<String>,
    images: Vec<String>,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = Cmd::new("docker").args(["rm", "--force", c]).output();
        }
        for i in &self.images {
            let _ = Cmd::new("docker").args(["image", "rm", i]).output();
        }
    }
}

/// Issue test 5: prune keeps the last N releases and whatever a container uses, removes a
/// dangling image of the project, and leaves images that are not hoist's alone.
#[test]
fn prune_keeps_latest_releases_and_images_in_use() {
    let shop = ShopDeploy::new("keep = 2");
    let all = ["chat-service", "gateway", "user-service"];
    shop.release(V1, &all, &[], None);
    deploy(&shop, V1, &["--no-prune"]).ok();
    // Someone else's name for one of v1's images, and a container using another.
    let mut leftovers = Leftovers { containers: Vec::new(), images: Vec::new() };
    let unrelated = format!("hoist-it-unrelated-{}:keep", suffix());
    leftovers.images.push(unrelated.clone());
    docker(&["tag", &shop.reference("chat-service", V1), &unrelated]);
    let user_v1_id = docker(&["image", "inspect", "--format", "{{.Id}}", &shop.reference("user-service", V1)]);
    let holder = format!("hoist-it-holder-{}", suffix());
    leftovers.containers.push(holder.clone());
    docker(&["create", "--name", &holder, &shop.reference("user-service", V1)]);

    // A dangling image of this project (rebuilt under the same tag), and one of nobody.
    let jar = shop.dir().join(format!("gateway/build/libs/shop-gateway-{V1}.jar"));
    let scratch = format!("hoist-it-scratch-{}:x", suffix());
    leftovers.images.push(scratch.clone());
    build_app_image(&jar, &scratch, Some(&shop.project));
    let dangling_ours = docker(&["image", "inspect", "--format", "{{.Id}}", &scratch]);
    leftovers.images.push(dangling_ours.clone());
    let other_jar = shop.dir().join(format!("user-service/build/libs/shop-user-service-{V1}.jar"));
    build_app_image(&other_jar, &scratch, Some(&shop.project));
    let scratch_now = docker(&["image", "inspect", "--format", "{{.Id}}", &scratch]);
    assert_ne!(dangling_ours, scratch_now);
    let foreign = format!("hoist-it-foreign-{}:x", suffix());
    build_app_image(&jar, &foreign, None);
    let dangling_foreign = docker(&["image", "inspect", "--format", "{{.Id}}", &foreign]);
    leftovers.images.push(foreign.clone());
    leftovers.images.push(dangling_foreign.clone());
    build_app_image(&other_jar, &foreign, None);

    shop.release(V2, &all, &[], None);
    deploy(&shop, V2, &[]).ok();
    shop.release(V3, &all, &[], None);
    let plan = deploy(&shop, V3, &["--dry-run", "--output", "json"]).ok().json();
    let planned: Vec<String> =
        plan["prune"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert!(planned.contains(&shop.reference("gateway", V1)), "{planned:?}");
    let done = deploy(&shop, V3, &["--output", "json"]).ok().json();
    let pruned: Vec<String> =
        done["pruned"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();

    // v1 is beyond keep = 2: its references are gone, except the one a container uses.
    assert!(!image_exists(&shop.reference("gateway", V1)), "{pruned:?}");
    assert!(!image_exists(&shop.reference("chat-service", V1)), "{pruned:?}");
    assert!(image_exists(&shop.reference("user-service", V1)), "in use by a container: {pruned:?}");
    assert!(image_exists(&user_v1_id));
    assert!(image_exists(&unrelated), "the test's own tag survives");
    // v2 and v3 stay.
    for tag in [V2, V3] {
        for s in all {
            assert!(image_exists(&shop.reference(s, tag)), "{s} {tag}");
        }
    }
    assert!(!image_exists(&dangling_ours), "the project's dangling image was pruned: {pruned:?}");
    assert!(image_exists(&dangling_foreign), "a dangling image that is not hoist's stays");

    // The holder container goes first, so the v1 image it pins is free when the shop's
    // own guard removes the test's references.
    drop(leftovers);
}

/// Issue test 6: a release whose image is missing from the registry changes nothing.
#[test]
fn a_pull_failure_leaves_the_running_release_untouched() {
    let shop = ShopDeploy::new("");
    shop.release(V1, &["chat-service", "gateway", "user-service"], &[], None);
    deploy(&shop, V1, &[]).ok();
    let before = shop.containers();
    // V4 has only two of its three images in the registry: gateway's is missing.
    for service in ["chat-service", "user-service"] {
        Cmd::new("skopeo")
            .args(["copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false"])
            .arg(format!("docker://{}", shop.reference(service, V1)))
            .arg(format!("docker://{}", shop.reference(service, V4)))
            .run()
            .unwrap();
    }
    let run = deploy(&shop, V4, &[]).fails(1);
    assert!(run.stderr.contains(&format!("the registry has no {}", shop.reference("gateway", V4))), "{}", run.stderr);
    hoist_snapshot!(ctx(&shop), "deploy_image_missing_from_registry", run);
    assert_eq!(shop.containers(), before);
    assert_eq!(all_versions(&shop), versions(V1, V1, V1));
    let history = hoist(shop.dir(), &["deploy", "history", "--output", "json"]).ok().json();
    assert_eq!(history["current"], V1);
    assert_eq!(history["records"].as_array().unwrap().len(), 1, "a refused deploy leaves no record");
}

/// A host without a registry: the release's images come from a `docker load` archive and
/// are pinned by image ID.
#[test]
fn deploy_from_an_image_archive() {
    let shop = ShopDeploy::new("");
    shop.release(V1, &["chat-service", "gateway", "user-service"], &[], None);
    let refs: Vec<String> = ["chat-service", "gateway", "user-service"].iter().map(|s| shop.reference(s, V1)).collect();
    for r in &refs {
        docker(&["pull", "--quiet", r]);
    }
    let ids: Vec<String> = refs.iter().map(|r| docker(&["image", "inspect", "--format", "{{.Id}}", r])).collect();
    let archive = shop.dir().join("release.tar");
    let mut save = vec!["save", "--output", archive.to_str().unwrap()];
    save.extend(refs.iter().map(String::as_str));
    docker(&save);
    let mut rm = vec!["image", "rm"];
    rm.extend(refs.iter().map(String::as_str));
    docker(&rm);
    let digests = docker(&[
        "image",
        "ls",
        "--digests",
        "--format",
        "{{.Repository}}@{{.Digest}}",
        "--filter",
        &format!("reference={}", shop.repository),
    ]);
    for d in digests.lines().filter(|l| !l.contains("<none>")) {
        docker(&["image", "rm", d]);
    }
    assert!(!image_exists(&refs[0]));

    let done = deploy(&shop, V1, &["--archive", "release.tar", "--output", "json"]).ok().json();
    for (pin, id) in done["pins"].as_array().unwrap().iter().zip(&ids) {
        assert_eq!(pin["acquired"], "loaded");
        assert_eq!(pin["image"].as_str().unwrap(), id, "pinned by image ID");
        assert_eq!(&shop.container_image(pin["service"].as_str().unwrap()), id);
    }
    assert_eq!(all_versions(&shop), versions(V1, V1, V1));

    // A missing archive is a clear error before anything happens.
    let run = deploy(&shop, V1, &["--archive", "nope.tar"]).fails(1);
    hoist_snapshot!(ctx(&shop), "deploy_archive_missing", run);
}

/// A service without a compose healthcheck is gated by its `hoist.toml` probe: running is
/// not enough, its HTTP probe must answer 2xx, or the release is rolled back.
#[test]
fn a_probe_gates_a_service_without_a_healthcheck() {
    let port = hoist_testkit::net::free_port();
    let shop = ShopDeploy::new("timeout = 20");
    // user-service without its healthcheck, on a fixed loopback port for the probe.
    let compose_file = shop.dir().join("docker-compose-prod.yaml");
    let compose = std::fs::read_to_string(&compose_file).unwrap();
    let start = compose.find("  user-service:\n").unwrap();
    let end = start + compose[start..].find("\n\n").unwrap();
    let health = start + compose[start..end].find("    healthcheck:\n").unwrap();
    let edited = format!("{}      - \"127.0.0.1:{port}:8080\"\n{}", &compose[..health], &compose[end..]);
    std::fs::write(&compose_file, edited).unwrap();
    let toml = shop.dir().join("hoist.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(&format!("\n[deploy.compose.probes.user-service]\nhttp = \"http://127.0.0.1:{port}/health\"\n"));
    std::fs::write(&toml, text).unwrap();

    shop.release(V1, &["chat-service", "gateway", "user-service"], &[], None);
    deploy(&shop, V1, &[]).ok();
    let user = &shop.containers()["user-service"];
    assert_eq!(docker(&["inspect", "--format", "{{if .State.Health}}has{{else}}none{{end}}", user]), "none");
    assert_eq!(shop.version("user-service").as_deref(), Some(V1));

    shop.release(V3, &["user-service"], &["user-service"], Some(V1));
    let run = deploy(&shop, V3, &[]).fails(1);
    assert!(run.stderr.contains("did not become healthy within 20s"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("http://127.0.0.1:{port}/health answered HTTP/1.1 500")), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("rolled back to {V1}")), "{}", run.stderr);
    assert_eq!(shop.version("user-service").as_deref(), Some(V1));
}

/// Remove `service`'s healthcheck from the shop's compose file: it has no health signal.
fn drop_healthcheck(shop: &ShopDeploy, service: &str) {
    let compose_file = shop.dir().join("docker-compose-prod.yaml");
    let compose = std::fs::read_to_string(&compose_file).unwrap();
    let start = compose.find(&format!("  {service}:\n")).unwrap();
    let end = start + compose[start..].find("\n\n").unwrap();
    let health = start + compose[start..end].find("    healthcheck:\n").unwrap();
    std::fs::write(&compose_file, format!("{}{}", &compose[..health], &compose[end..])).unwrap();
}

/// Issue 13, point 6: a service with neither a healthcheck nor a probe is healthy only
/// after staying up for the settle time; one that dies a few seconds in is rolled back.
#[test]
fn a_service_without_health_signal_must_stay_up_for_the_settle_time() {
    let shop = ShopDeploy::new("settle = 3\ntimeout = 60");
    drop_healthcheck(&shop, "user-service");
    shop.release(V1, &["chat-service", "gateway", "user-service"], &[], None);

    // Stays up: passes, after the settle time, and says why it waited.
    let run = deploy(&shop, V1, &["--output", "json"]).ok();
    assert!(
        run.stderr.contains("no health signal (no healthcheck, no [deploy.compose.probes]) for user-service"),
        "{}",
        run.stderr
    );
    let done = run.json();
    assert_eq!(done["no_health_signal"], serde_json::json!(["user-service"]), "{done}");
    let took = done["timings"]["user-service"].as_f64().unwrap();
    assert!(took >= 3.0, "user-service was judged after its 3 s settle time: {done}");
    assert_eq!(shop.version("user-service").as_deref(), Some(V1));
    kv_put(&shop, "greeting", "written-with-v1");

    // V3's user-service runs for a few seconds, then exits (its restart policy brings it
    // back): running at the first look, but not for the settle time. It is the probe class
    // connecting to an unused address of the project's network: the connect times out
    // after 2 s, on top of the JVM's start.
    shop.release(V3, &[], &[], Some(V1));
    let subnet = docker(&[
        "network",
        "inspect",
        &format!("{}_default", shop.project),
        "--format",
        "{{(index .IPAM.Config 0).Subnet}}",
    ]);
    let octets: Vec<&str> = subnet.split('.').take(3).collect();
    let unused = format!("http://{}.250:8080/", octets.join("."));
    let dies = shop.reference("user-service", V3);
    let ctx_dir = tempfile::TempDir::new().unwrap();
    let dockerfile = format!(
        "FROM {}\nENTRYPOINT [\"/opt/java/bin/java\", \"-cp\", \"/app.jar\", \"shop.HealthCheck\", \"{unused}\"]\n",
        shop.reference("user-service", V1)
    );
    std::fs::write(ctx_dir.path().join("Dockerfile"), dockerfile).unwrap();
    Cmd::new("docker").args(["build", "--quiet", "--tag", &dies]).arg(ctx_dir.path()).run().unwrap();
    docker(&["push", "--quiet", &dies]);
    docker(&["image", "rm", &dies]);
    // A settle time longer than the few seconds it lives.
    let toml = shop.dir().join("hoist.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(text.contains("settle = 3\n"), "{text}");
    std::fs::write(&toml, text.replace("settle = 3\n", "settle = 12\n")).unwrap();
    let before = shop.containers();
    let run = deploy(&shop, V3, &[]).fails(1);
    assert!(run.stderr.contains(&format!("release {V3} failed: `user-service`")), "{}", run.stderr);
    assert!(
        ["restarted within its 12s settle time", "keeps restarting", "is exited"]
            .iter()
            .any(|w| run.stderr.contains(w)),
        "failed because it went down, not at the deadline: {}",
        run.stderr
    );
    assert!(run.stderr.contains(&format!("rolled back to {V1}")), "{}", run.stderr);
    assert_eq!(shop.version("user-service").as_deref(), Some(V1));
    assert_eq!(kv_get(&shop, "greeting").as_deref(), Some("written-with-v1"), "data survived");
    let after = shop.containers();
    for service in ["chat-service", "gateway", "kv-store"] {
        assert_eq!(before[service], after[service], "{service} was never touched");
    }
    let history = hoist(shop.dir(), &["deploy", "history", "--output", "json"]).ok().json();
    let last = history["records"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["result"], "rolled_back", "{last}");
    assert_eq!(last["failed_service"], "user-service", "{last}");
}

/// Issue 13, point 6: the same stack started by a plain `docker-compose -p OTHER up -d`
/// from the project directory is found before anything changes.
#[test]
fn a_stack_running_under_another_project_name_is_detected() {
    let shop = ShopDeploy::new("");
    shop.release(V1, &["chat-service", "gateway", "user-service"], &[], None);
    let other = format!("{}-old", shop.project);
    struct Down(std::path::PathBuf, String);
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = Cmd::new("docker-compose")
                .args([
                    "--project-name",
                    &self.1,
                    "--file",
                    "docker-compose-prod.yaml",
                    "down",
                    "--volumes",
                    "--timeout",
                    "2",
                ])
                .current_dir(&self.0)
                .output();
        }
    }
    let _down = Down(shop.dir().to_path_buf(), other.clone());
    // The old way: compose from the repository under another name (only kv-store, whose
    // image exists without a release).
    Cmd::new("docker-compose")
        .args(["--project-name", &other, "--file", "docker-compose-prod.yaml", "up", "--detach", "kv-store"])
        .current_dir(shop.dir())
        .run()
        .unwrap();

    let run = deploy(&shop, V1, &[]).fails(1);
    assert!(run.stderr.contains(&format!("project = \"{other}\"")), "the hint names the project: {}", run.stderr);
    hoist_snapshot!(ctx(&shop), "deploy_other_project_runs_the_stack", run);
    assert!(shop.containers().is_empty(), "nothing of ours was started");
    assert!(!shop.state_dir().join(format!("history-{}.json", shop.project)).exists(), "no record");
    let plan = deploy(&shop, V1, &["--dry-run"]).fails(1);
    assert!(plan.stderr.contains(&format!("compose project `{other}`")), "the dry run says so too: {}", plan.stderr);
}

/// Issue 13, point 6: a [services] name that is not a compose service is refused before
/// the registry is asked, with the services the compose files have.
#[test]
fn a_service_missing_from_the_compose_files_is_refused() {
    let shop = ShopDeploy::new("");
    let toml = shop.dir().join("hoist.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, text.replace("[services.user-service]", "[services.user-svc]")).unwrap();
    // No release was pushed: the error is about the name, not a missing image.
    let run = deploy(&shop, V1, &[]).fails(1);
    assert!(run.stderr.contains("`user-svc` is not in the compose files"), "{}", run.stderr);
    hoist_snapshot!(ctx(&shop), "deploy_service_not_in_compose", run);
    assert!(shop.containers().is_empty());
}
