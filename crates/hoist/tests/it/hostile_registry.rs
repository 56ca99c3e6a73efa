//! `hoist images`, `images --latest` and `pull` against hostile registries (the testkit's
//! scripted server on 127.0.0.1; "another host" on 127.0.0.2 records what reaches it):
//! exit 1 with one clear error, credentials nowhere else, memory and time bounded (peak RSS
//! measured by GNU time), nothing printed from a bad digest, nothing half pulled.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hoist_testkit::hostile::{HostileServer, Reply};
use serde_json::json;

use crate::common::{Run, TestContext, hoist_peak_rss};
use crate::hoist_snapshot;

const USER: &str = "ci";
const PASSWORD: &str = "pw-9c2e-hostile-never-printed";
const RELEASE: &str = "v1.0.0-abc1234";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Peak RSS allowed for a refused hostile answer (hoist itself needs a few tens of MiB; the
/// attacks reached 3.6 GB and 11.5 GB).
const RSS_BOUND_KIB: u64 = 150 * 1024;

struct Project {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    docker_config: PathBuf,
}

fn project(registry: &HostileServer) -> Project {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("project");
    let docker_config = tmp.path().join("docker");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&docker_config).unwrap();
    let toml = format!(
        "[version]\ntag_format = \"v{{version}}-{{sha}}\"\nsha_length = 7\n\n[services.api]\n\n[registry]\nrepository = \"{}/shop\"\n",
        registry.host()
    );
    std::fs::write(dir.join("hoist.toml"), toml).unwrap();
    Project { _tmp: tmp, dir, docker_config }
}

/// A registry asking for Basic credentials, with the release's one tag listed.
fn hostile_registry() -> HostileServer {
    let server = HostileServer::start();
    server.route("GET", "/v2/", Reply::new(401).header("WWW-Authenticate", r#"Basic realm="hostile""#));
    server.route("GET", "/v2/shop/tags/list", Reply::new(200).json(&json!({"tags": [format!("api_{RELEASE}")]})));
    server
}

fn run(p: &Project, args: &[&str], extra: &[(&str, &str)]) -> (Run, u64, Duration) {
    let mut env = vec![
        ("DOCKER_CONFIG", p.docker_config.to_str().unwrap()),
        ("HOIST_REGISTRY_USERNAME", USER),
        ("HOIST_REGISTRY_PASSWORD", PASSWORD),
    ];
    env.extend_from_slice(extra);
    let started = Instant::now();
    let (run, rss) = hoist_peak_rss(&p.dir, args, &env);
    (run, rss, started.elapsed())
}

#[track_caller]
fn assert_refused(run: &Run, rss: u64, needle: &str) {
    assert_eq!(run.code, 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(needle), "expected {needle:?} in:\n{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    assert!(!run.stderr.contains(PASSWORD) && !run.stdout.contains(PASSWORD), "{}", run.stderr);
    assert!(rss < RSS_BOUND_KIB, "peak RSS {rss} KiB");
}

fn has_auth(server: &HostileServer) -> usize {
    server.requests().iter().filter(|r| r.header("authorization").is_some()).count()
}

#[test]
fn tag_links_to_another_host_get_no_credentials() {
    let registry = hostile_registry();
    let other = HostileServer::start_on("127.0.0.2");
    other.route("*", "/", Reply::new(200).json(&json!({"tags": ["api_v9.9.9-0000000"]})));
    let link = format!(r#"<{}>; rel="next""#, other.url("/v2/shop/tags/list?last=x"));
    registry.route(
        "GET",
        "/v2/shop/tags/list",
        Reply::new(200).header("Link", link).json(&json!({"tags": [format!("api_{RELEASE}")]})),
    );
    let p = project(&registry);
    for (i, args) in [&["images", "--latest"][..], &["images", "--tag", RELEASE], &["pull", "--tag", RELEASE]]
        .into_iter()
        .enumerate()
    {
        let (out, rss, _) = run(&p, args, &[]);
        assert_refused(&out, rss, &other.host());
        assert!(out.stderr.contains("another origin"), "{args:?}: {}", out.stderr);
        hoist_snapshot!(TestContext::at(&p.dir), format!("link_to_another_host_{i}"), out);
    }
    assert_eq!(other.request_count(), 0, "{:#?}", other.requests());
    assert!(has_auth(&registry) >= 3, "the registry itself got the credentials");
}

#[test]
fn a_dripping_registry_ends_at_the_deadline() {
    // One byte a second: never a read timeout; the 2 s total deadline ends each command.
    let registry = hostile_registry();
    registry.route(
        "GET",
        "/v2/shop/tags/list",
        Reply::new(200).body(format!(r#"{{"tags":["api_{RELEASE}"]}}"#)).drip(Duration::from_secs(1)),
    );
    let p = project(&registry);
    for (i, args) in [&["images", "--latest"][..], &["pull", "--tag", RELEASE]].into_iter().enumerate() {
        let (out, rss, elapsed) = run(&p, args, &[("HOIST_REGISTRY_TIMEOUT", "2")]);
        hoist_snapshot!(TestContext::at(&p.dir), format!("dripping_registry_{i}"), out);
        assert_refused(&out, rss, "within its deadline of 2 s");
        assert!(out.stderr.contains(&format!("http://{}/v2/shop/tags/list", registry.host())), "{}", out.stderr);
        assert!(out.stderr.contains("HOIST_REGISTRY_TIMEOUT=SECONDS"), "{}", out.stderr);
        assert!(elapsed < Duration::from_secs(20), "{args:?} took {elapsed:?} (the old hang: > 200 s)");
    }
    // A bad setting is its own clear error.
    let (out, rss, _) = run(&p, &["images", "--latest"], &[("HOIST_REGISTRY_TIMEOUT", "soon")]);
    assert_refused(&out, rss, "HOIST_REGISTRY_TIMEOUT");
    hoist_snapshot!(TestContext::at(&p.dir), "bad_registry_timeout", out);
}

/// A manifest with one config blob and one 100-byte layer.
fn manifest_with_layer(layer: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    let digest = |b: &[u8]| format!("sha256:{}", hoist_testkit::sha256_hex(b));
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(layer), "size": layer.len()}],
    }))
    .unwrap();
    (manifest, config)
}

fn layout_refs(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(".hoist/oci/index.json")).unwrap_or_default()
}

#[test]
fn huge_answers_are_refused_with_bounded_memory() {
    // A 1 GiB manifest, without a Content-Length: read up to 4 MiB, then refused.
    let registry = hostile_registry();
    registry.route(
        "GET",
        "/v2/shop/manifests/",
        Reply::new(200).header("Content-Type", OCI_MANIFEST).repeat(b' ', 1 << 30).close_delimited(),
    );
    let p = project(&registry);
    let (out, rss, _) = run(&p, &["pull", "--tag", RELEASE], &[]);
    assert_refused(&out, rss, "is larger than 4194304 bytes");
    hoist_snapshot!(TestContext::at(&p.dir), "huge_manifest", out);
    assert!(registry.body_bytes_out() < 64 << 20, "{}", registry.body_bytes_out());

    // A self-pointing Link: one page, then an error (it made 77,578 requests).
    let registry = hostile_registry();
    registry.route(
        "GET",
        "/v2/shop/tags/list",
        Reply::new(200).header("Link", r#"</v2/shop/tags/list?n=1000>; rel="next""#).body(r#"{"tags":["a"]}"#),
    );
    let p = project(&registry);
    let (out, rss, _) = run(&p, &["images", "--latest"], &[]);
    assert_refused(&out, rss, "loops");
    hoist_snapshot!(TestContext::at(&p.dir), "self_pointing_link", out);
    assert_eq!(registry.request_count(), 2, "/v2/ and one page: {:#?}", registry.requests());

    // A layer declared as 100 bytes that streams 3 GB: stops past 100, nothing half pulled.
    let layer = vec![b'L'; 100];
    let (manifest, config) = manifest_with_layer(&layer);
    let registry = hostile_registry();
    registry.route("GET", "/v2/shop/manifests/", Reply::new(200).header("Content-Type", OCI_MANIFEST).body(manifest));
    let config_path = format!("/v2/shop/blobs/sha256:{}", hoist_testkit::sha256_hex(&config));
    let layer_path = format!("/v2/shop/blobs/sha256:{}", hoist_testkit::sha256_hex(&layer));
    registry.route("GET", &config_path, Reply::new(200).body(config));
    registry.route("GET", &layer_path, Reply::new(200).repeat(b'L', 3_000_000_000).close_delimited());
    let p = project(&registry);
    let (out, rss, _) = run(&p, &["pull", "--tag", RELEASE], &[]);
    assert_refused(&out, rss, "its descriptor declares 100 bytes");
    hoist_snapshot!(TestContext::at(&p.dir), "layer_longer_than_declared", out);
    assert!(registry.body_bytes_out() < 64 << 20, "{}", registry.body_bytes_out());
    assert!(!layout_refs(&p.dir).contains(RELEASE), "no ref for a half pull: {}", layout_refs(&p.dir));
}

#[test]
fn a_bad_digest_from_the_registry_is_refused_not_printed() {
    const EVIL: &str = r#"sha256:NOT-A-DIGEST ../../x "'; $(id)"#;
    let registry = hostile_registry();
    registry.route("HEAD", "/v2/shop/manifests/", Reply::new(200).header("Docker-Content-Digest", EVIL));
    let p = project(&registry);
    for (i, args) in
        [&["images", "--tag", RELEASE][..], &["images", "--latest", "--output", "json"]].into_iter().enumerate()
    {
        let (out, rss, _) = run(&p, args, &[]);
        hoist_snapshot!(TestContext::at(&p.dir), format!("bad_digest_{i}"), out);
        assert_refused(&out, rss, "which is not a sha256 digest");
        assert!(out.stderr.contains(&registry.host()), "{}", out.stderr);
        assert!(out.stderr.contains(&format!("{EVIL:?}")), "shown escaped: {}", out.stderr);
        assert!(out.stdout.is_empty(), "nothing printed as a result: {}", out.stdout);
    }
}
