//! `hoist deploy compose --host`, `hoist deploy history --host` and `hoist rollback --host`
//! against real test hosts (`hoist_testkit::hosts::TestHost`: a network namespace with its
//! own sshd and dockerd), pulling from a registry on the hosts' gateway.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hoist_testkit::compose::{KV_IMAGE, SERVICES, ShopDeploy, suffix};
use hoist_testkit::hosts::{TestHost, gateway_registry};

use crate::common::{Run, TestContext, escape, hoist_env};
use crate::hoist_snapshot;

/// The shop's context for snapshots: the host's address and the project's place vary.
fn ctx(shop: &ShopDeploy) -> TestContext {
    TestContext::at(shop.dir())
        .with_filter(&escape(&shop.dir().display().to_string()), "[PROJECT_DIR]")
        .with_filter(r"10\.231\.\d+\.2", "[TEST_HOST]")
}

const V1: &str = "v1.0.0-aaaaaaa";
const V2: &str = "v1.1.0-bbbbbbb";
const V3: &str = "v1.2.0-ccccccc";

/// The example's fixed host ports (each test host has its own address).
fn port(service: &str) -> u16 {
    match service {
        "gateway" => 18080,
        "user-service" => 18081,
        "chat-service" => 18082,
        "kv-store" => 18083,
        other => panic!("no port for {other}"),
    }
}

/// A started host with the fixed kv-store image, and the shop pinned to its key.
fn setup(compose_extra: &str) -> (ShopDeploy, TestHost) {
    let registry = gateway_registry();
    let host = TestHost::start();
    host.load_images(&[KV_IMAGE]);
    let shop = ShopDeploy::remote(&format!("timeout = 90\nknown_hosts = \"pinned_hosts\"\n{compose_extra}"), registry);
    std::fs::copy(host.known_hosts(), shop.dir().join("pinned_hosts")).unwrap();
    (shop, host)
}

fn run(shop: &ShopDeploy, host: &TestHost, args: &[&str]) -> Run {
    hoist_env(shop.dir(), args, &[("PATH", &host.path_env())])
}

fn deploy(shop: &ShopDeploy, host: &TestHost, tag: &str) -> Run {
    let url = host.ssh_url();
    run(shop, host, &["deploy", "compose", "--host", &url, "--tag", tag, "--output", "json"])
}

fn version(host: &TestHost, service: &str) -> Option<String> {
    host.http_get(port(service), "/version").filter(|(s, _)| *s == 200).map(|(_, b)| b)
}

fn kv(host: &TestHost, method: &str, key: &str, value: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect((host.ip().as_str(), port("kv-store"))).unwrap();
    write!(stream, "{method} /kv/{key} HTTP/1.0\r\nHost: x\r\nContent-Length: {}\r\n\r\n{value}", value.len()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Deploy v1 and v2 over SSH, a broken v3 that rolls back on the host with its data, and
/// `hoist rollback --host`; the state lives on the host under a `remote_dir` full of shell
/// metacharacters, which must be taken as one literal path.
#[test]
fn deploy_update_broken_release_and_rollback_on_a_remote_host() {
    let scratch = std::env::temp_dir().join(format!("hoist-it-remote-{}", suffix()));
    std::fs::create_dir_all(&scratch).unwrap();
    let marker = scratch.join("pwned");
    let remote_dir = format!("{}/st ate$(touch {m});`touch {m}`'\"x", scratch.display(), m = marker.display());
    let (shop, host) = setup(&format!("remote_dir = {}", toml_string(&remote_dir)));
    shop.release(V1, &SERVICES, &[], None);

    // v1, pulled by the host from the registry; nothing runs on this machine.
    let done = deploy(&shop, &host, V1).ok().json();
    assert_eq!(done["result"], "succeeded", "{done}");
    for s in SERVICES {
        assert_eq!(version(&host, s).as_deref(), Some(V1), "{s} on {}", host.ip());
    }
    assert!(shop.containers().is_empty(), "nothing of the project runs on the runner: {:?}", shop.containers());
    let on_host = host.docker(&["ps", "--format", "{{.Label \"com.docker.compose.service\"}}"]);
    assert_eq!(on_host.lines().count(), 4, "{on_host}");
    for pin in done["pins"].as_array().unwrap() {
        let reference = pin["reference"].as_str().unwrap();
        assert_eq!(pin["digest"].as_str().unwrap(), shop.registry_digest(reference), "pinned by digest");
    }

    // The state and the release's compose file are on the host, at the literal path.
    let state = PathBuf::from(&remote_dir);
    assert!(!marker.exists(), "a remote shell ran text from remote_dir");
    let history_file = state.join(format!("history-{}.json", shop.project));
    assert!(history_file.is_file(), "no history at {}", history_file.display());
    assert!(state.join(format!("override-{}.yaml", shop.project)).is_file());
    assert_eq!(
        std::fs::read(state.join("compose/docker-compose-prod.yaml")).unwrap(),
        std::fs::read(shop.dir().join("docker-compose-prod.yaml")).unwrap()
    );
    assert!(!state.join("lock").exists(), "the lock is released after the deploy");
    assert!(!shop.state_dir().join(format!("history-{}.json", shop.project)).exists(), "no state on the runner");
    assert!(kv(&host, "PUT", "greeting", "before-v2").starts_with("HTTP/1.1 2"));

    // v2 changes user-service only.
    shop.release(V2, &["user-service"], &[], Some(V1));
    let done = deploy(&shop, &host, V2).ok().json();
    assert_eq!(done["recreated"], serde_json::json!(["user-service"]), "{done}");
    assert_eq!(version(&host, "user-service").as_deref(), Some(V2));
    assert_eq!(version(&host, "chat-service").as_deref(), Some(V1), "the carried image stays");

    // The history, read over ssh, lists both.
    let url = host.ssh_url();
    let history = run(&shop, &host, &["deploy", "history", "--host", &url, "--output", "json"]).ok().json();
    let releases: Vec<&str> =
        history["records"].as_array().unwrap().iter().map(|r| r["release"].as_str().unwrap()).collect();
    assert_eq!(releases, [V1, V2]);
    assert_eq!(history["current"], V2);
    // Without --host, this machine's history: empty.
    let local = run(&shop, &host, &["deploy", "history", "--output", "json"]).ok().json();
    assert_eq!(local["records"], serde_json::json!([]));

    // v3's user-service never becomes healthy: rolled back on the host, data intact.
    shop.release(V3, &["user-service"], &["user-service"], Some(V2));
    let failed = deploy(&shop, &host, V3).fails(1);
    assert!(
        failed.stderr.contains("user-service") && failed.stderr.contains(&format!("rolled back to {V2}")),
        "{}",
        failed.stderr
    );
    assert_eq!(version(&host, "user-service").as_deref(), Some(V2));
    assert_eq!(kv(&host, "GET", "greeting", "").rsplit("\r\n\r\n").next(), Some("before-v2"));
    let history = run(&shop, &host, &["deploy", "history", "--host", &url, "--output", "json"]).ok().json();
    let last = history["records"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["release"].as_str(), last["result"].as_str()), (Some(V3), Some("rolled_back")), "{last}");

    // `hoist rollback --host` goes back to v1 on the host.
    let done = run(&shop, &host, &["rollback", "--host", &url, "--output", "json"]).ok().json();
    assert_eq!(done["release"], V1, "{done}");
    assert_eq!(version(&host, "user-service").as_deref(), Some(V1));
    assert_eq!(kv(&host, "GET", "greeting", "").rsplit("\r\n\r\n").next(), Some("before-v2"));
    assert!(!marker.exists(), "a remote shell ran text from remote_dir");
    let _ = std::fs::remove_dir_all(&scratch);
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// An unknown host key and a changed one are refused before anything runs there: exit 1,
/// the message names the host and how to pin its key. A hostile tag never reaches it.
#[test]
fn unknown_and_changed_host_keys_are_refused() {
    let registry = gateway_registry();
    let mut host = TestHost::start();
    let shop = ShopDeploy::remote("known_hosts = \"pinned_hosts\"", registry);
    let url = host.ssh_url();
    let history = |shop: &ShopDeploy, host: &TestHost| run(shop, host, &["deploy", "history", "--host", &url]);

    // No pin at all.
    std::fs::write(shop.dir().join("pinned_hosts"), "").unwrap();
    let unknown = history(&shop, &host).fails(1);
    assert!(unknown.stderr.contains(&url) && unknown.stderr.contains("unknown"), "{}", unknown.stderr);
    assert!(unknown.stderr.contains(&format!("ssh-keyscan -p 22 {}", host.ip())), "{}", unknown.stderr);
    assert!(unknown.stderr.contains("[deploy.compose] known_hosts"), "{}", unknown.stderr);
    hoist_snapshot!(ctx(&shop), "remote_host_key_unknown", unknown);

    // Pinned: it connects (an empty history).
    std::fs::copy(host.known_hosts(), shop.dir().join("pinned_hosts")).unwrap();
    let ok = history(&shop, &host).ok();
    assert!(ok.stdout.contains("no deploys"), "{}", ok.stdout);

    // The host's key changes: refused.
    host.regenerate_host_key();
    let changed = history(&shop, &host).fails(1);
    assert!(changed.stderr.contains(&url) && changed.stderr.contains("CHANGED"), "{}", changed.stderr);
    assert!(changed.stderr.contains("ssh-keygen -R"), "{}", changed.stderr);
    assert!(!changed.stderr.contains("StrictHostKeyChecking=no"), "{}", changed.stderr);
    hoist_snapshot!(ctx(&shop), "remote_host_key_changed", changed);

    // A tag with shell metacharacters is refused, and nothing ran on the host.
    std::fs::copy(host.known_hosts(), shop.dir().join("pinned_hosts")).unwrap();
    let marker = host.home().join("pwned");
    let tag = format!("v1.0.0-aaaaaaa;touch {}", marker.display());
    let bad = run(&shop, &host, &["deploy", "compose", "--host", &url, "--tag", &tag]).fails(1);
    assert!(!marker.exists(), "{}", bad.stderr);
    let tag = format!("v1.0.0-aaaaaaa$(touch {})", marker.display());
    run(&shop, &host, &["deploy", "compose", "--host", &url, "--tag", &tag]).fails(1);
    assert!(!marker.exists());
}

/// Two deploys to one host from two processes: the second is refused while the first holds
/// the host's lock. The first killed with SIGKILL leaves a lock whose heartbeat stops: the
/// next deploy calls it stale and `--break-lock` removes it and deploys.
#[test]
fn the_host_lock_serialises_deploys_and_a_killed_runner_leaves_a_stale_lock() {
    let (shop, host) = setup("");
    shop.release(V1, &SERVICES, &[], None);
    let url = host.ssh_url();
    let lock = host.home().join(format!(".hoist/{}/lock", shop.project));

    let mut first: std::process::Child = TestContext::at(shop.dir())
        .command()
        .args(["deploy", "compose", "--host", &url, "--tag", V1])
        .env("PATH", host.path_env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&lock.join("owner"), Duration::from_secs(60));

    let second = deploy(&shop, &host, V1).fails(1);
    assert!(second.stderr.contains("another deploy holds the lock"), "{}", second.stderr);
    assert!(second.stderr.contains(&format!("deploy {V1}")), "the holder is named: {}", second.stderr);

    // SIGKILL: no cleanup runs; the lock stays, its heartbeat stops.
    Command::new("kill").args(["-KILL", &first.id().to_string()]).status().unwrap();
    first.wait().unwrap();
    assert!(lock.join("owner").is_file(), "the killed run's lock is still there");
    let start = Instant::now();
    let stale = loop {
        let r = deploy(&shop, &host, V1);
        if r.stderr.contains("is stale:") || start.elapsed() > Duration::from_secs(90) {
            break r;
        }
        assert!(r.stderr.contains("another deploy holds the lock"), "{}", r.stderr);
        std::thread::sleep(Duration::from_secs(3));
    };
    let stale = stale.fails(1);
    assert!(stale.stderr.contains("--break-lock"), "{}", stale.stderr);

    let url2 = url.clone();
    let done =
        run(&shop, &host, &["deploy", "compose", "--host", &url2, "--tag", V1, "--break-lock", "--output", "json"])
            .ok();
    assert!(done.stderr.contains("removed a stale deploy lock"), "{}", done.stderr);
    assert_eq!(done.json()["result"], "succeeded");
    assert_eq!(version(&host, "gateway").as_deref(), Some(V1));
    assert!(!lock.exists());
}

fn wait_for(path: &Path, timeout: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < timeout, "{} did not appear", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Several `[deploy.compose] hosts` need batches, which this hoist does not have yet: one
/// clear error before anything connects; a malformed `--host` is refused the same way.
#[test]
fn several_hosts_and_bad_host_urls_are_refused() {
    let shop = ShopDeploy::new("hosts = [\"ssh://deploy@10.231.250.2\", \"ssh://deploy@10.231.251.2\"]");
    let run = crate::common::hoist(shop.dir(), &["deploy", "compose", "--tag", V1]).fails(1);
    assert!(run.stderr.contains("2 hosts") && run.stderr.contains("not supported yet"), "{}", run.stderr);
    assert!(run.stderr.contains("--host ssh://"), "{}", run.stderr);
    for bad in ["ssh://-oProxyCommand=touch", "ssh://root@host;id", "root@host"] {
        let run = crate::common::hoist(shop.dir(), &["deploy", "history", "--host", bad]).fails(1);
        assert!(run.stderr.contains(bad) && run.stderr.contains("ssh://user@host"), "{bad}: {}", run.stderr);
    }
}
