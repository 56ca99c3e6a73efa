//! Hostile registries, played by the testkit's scripted server on 127.0.0.1, with a second
//! one on 127.0.0.2 as "another host" that records what reaches it. One test per rule:
//! credentials only to their own origin, total deadlines, bounded sizes, validated digests.
//! Each asserts the clear error, the bound that held (requests, bytes, elapsed well under
//! the old hang) and that no credential reached the other origin.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hoist_diag::{Diagnostic, Exit};
use hoist_registry::{Auth, Client, DeadlineKind, Options, RegistryError, Repository};
use hoist_testkit::hostile::{HostileServer, Recorded, Reply};
use serde_json::json;

use crate::{build_release, test_options};

const USER: &str = "ci";
const PASSWORD: &str = "pw-hostile-never-elsewhere";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A "registry" that asks for Basic credentials at `/v2/` and then answers what the test scripts.
fn hostile_registry() -> HostileServer {
    let server = HostileServer::start();
    server.route("GET", "/v2/", Reply::new(401).header("WWW-Authenticate", r#"Basic realm="hostile""#));
    server
}

/// Another host: 127.0.0.2, where nothing of ours belongs.
fn other_host() -> HostileServer {
    HostileServer::start_on("127.0.0.2")
}

fn client_with(server: &HostileServer, options: Options) -> Client {
    let repo = Repository::parse(&format!("{}/shop", server.host()), false).unwrap();
    Client::new(repo, Auth::basic(USER, PASSWORD), options).unwrap()
}

fn with_auth(requests: &[Recorded]) -> usize {
    requests.iter().filter(|r| r.header("authorization").is_some()).count()
}

#[track_caller]
fn assert_user_error(err: &RegistryError) {
    assert_eq!(err.exit(), Exit::User, "{err:?}");
    assert!(err.hint().is_some(), "no hint: {err}");
    assert!(!err.to_string().contains(PASSWORD) && !format!("{err:?}").contains(PASSWORD), "{err:?}");
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hoist_testkit::sha256_hex(bytes))
}

/// A manifest of one config blob and one layer, with their declared sizes.
fn manifest(config: &[u8], layer_digest: &str, layer_size: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}],
    }))
    .unwrap()
}

// ----- 1. credentials only to their own origin -----------------------------------------

#[tokio::test]
async fn a_tag_list_link_to_another_origin_ends_the_listing_and_gets_nothing() {
    let registry = hostile_registry();
    let other = other_host();
    other.route("*", "/", Reply::new(200).json(&json!({"name": "shop", "tags": ["api_v9.9.9-evil000"]})));
    let link = format!(r#"<{}>; rel="next""#, other.url("/v2/shop/tags/list?last=api_v1&n=1000"));
    registry.route(
        "GET",
        "/v2/shop/tags/list",
        Reply::new(200).header("Link", link).json(&json!({"name": "shop", "tags": ["api_v1.0.0-abc1234"]})),
    );
    let client = client_with(&registry, test_options());
    let err = client.list_tags().await.unwrap_err();
    assert!(matches!(err, RegistryError::ForeignLink { .. }), "{err:?}");
    assert!(err.to_string().contains(&other.host()), "the error names the other origin: {err}");
    assert_user_error(&err);
    // The same path serves `images`, `images --latest` and `pull` (resolve_release).
    let template = hoist_version::Template::parse("{service}_{tag}", &["service", "tag", "version", "sha"]).unwrap();
    let values = [("tag", "v1.0.0-abc1234"), ("version", "1.0.0"), ("sha", "abc1234")];
    assert!(matches!(client.resolve_release(&template, &values).await, Err(RegistryError::ForeignLink { .. })));

    assert_eq!(other.request_count(), 0, "nothing went to the other host: {:#?}", other.requests());
    let own = registry.requests();
    assert!(with_auth(&own) >= 2, "the registry itself got the credentials: {own:#?}");
}

#[tokio::test]
async fn an_upload_location_on_another_origin_gets_the_blobs_but_no_credentials() {
    let registry = hostile_registry();
    let other = other_host();
    // Uploads land elsewhere, as a registry behind a storage front might send them.
    registry.route("POST", "/v2/shop/blobs/uploads/", Reply::new(202).header("Location", other.url("/upload/s1")));
    registry.route("PUT", "/v2/shop/manifests/", Reply::new(201));
    other.route("PUT", "/upload/", Reply::new(201));
    other.route("PATCH", "/upload/", Reply::new(202).header("Location", other.url("/upload/s1?part=2")));

    let tmp = tempfile::tempdir().unwrap();
    let (layout, requests) = build_release(tmp.path(), "v1.0.0-abc1234", &[("api", "api 1")]);
    let client = client_with(&registry, test_options());
    let report = client.push_images(&layout, &requests, false).await.unwrap();

    let elsewhere = other.requests();
    assert_eq!(with_auth(&elsewhere), 0, "a credential reached the other origin: {elsewhere:#?}");
    let bytes_there: u64 = elsewhere.iter().map(|r| r.body_len).sum();
    assert_eq!(bytes_there, report.bytes_uploaded, "{report:#?}");
    assert!(bytes_there > 6 * 1024 * 1024, "the streamed base layer went there too: {bytes_there}");
    assert!(elsewhere.iter().any(|r| r.method == "PATCH"), "{elsewhere:#?}");
    let own = registry.requests();
    let manifest_put = own.iter().find(|r| r.method == "PUT" && r.target.contains("/manifests/")).unwrap();
    assert!(manifest_put.header("authorization").is_some_and(|a| a.starts_with("Basic ")), "{manifest_put:#?}");
}

#[tokio::test]
async fn a_blob_redirect_to_another_origin_loses_the_credentials() {
    let registry = hostile_registry();
    let other = other_host();
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    let layer = b"layer bytes served by a CDN".to_vec();
    let body = manifest(&config, &sha256(&layer), layer.len() as u64);
    registry.route("GET", "/v2/shop/manifests/", Reply::new(200).header("Content-Type", OCI_MANIFEST).body(body));
    registry.route_fn("GET", "/v2/shop/blobs/", {
        let cdn = other.url("/cdn");
        move |r| Reply::new(307).header("Location", format!("{cdn}{}", r.path()))
    });
    other.route("GET", &format!("/cdn/v2/shop/blobs/{}", sha256(&config)), Reply::new(200).body(config.clone()));
    other.route("GET", &format!("/cdn/v2/shop/blobs/{}", sha256(&layer)), Reply::new(200).body(layer.clone()));

    let tmp = tempfile::tempdir().unwrap();
    let layout = hoist_oci::Layout::create_or_open(tmp.path()).unwrap();
    let report = client_with(&registry, test_options()).pull_image(&layout, "api_v1", "api").await.unwrap();
    assert_eq!(report.blobs_fetched, 2);
    let elsewhere = other.requests();
    assert_eq!(elsewhere.len(), 2, "{elsewhere:#?}");
    assert_eq!(with_auth(&elsewhere), 0, "a credential followed the redirect: {elsewhere:#?}");
    assert!(with_auth(&registry.requests()) >= 3);
}

// ----- 6. total deadlines ----------------------------------------------------------------

#[tokio::test]
async fn a_server_that_drips_bytes_ends_at_the_total_deadline() {
    // One byte a second never trips a per-read timeout (120 s); the total deadline (2 s
    // here, 60 s by default) does, wherever the drip is: the head, a body, the token.
    let timeout = Duration::from_secs(2);
    let options = Options { request_timeout: timeout, blob_timeout: timeout, blob_min_rate: 1 << 30, ..test_options() };
    let drip = Duration::from_secs(1);
    let tags = br#"{"name":"shop","tags":["api_v1.0.0-abc1234","api_v1.1.0-def5678"]}"#.to_vec();
    let scenarios: Vec<(&str, Box<dyn Fn(&HostileServer)>, DeadlineKind)> = vec![
        (
            "tag list body",
            Box::new(move |s| s.route("GET", "/v2/shop/tags/list", Reply::new(200).body(tags.clone()).drip(drip))),
            DeadlineKind::Request,
        ),
        (
            "manifest head",
            Box::new(move |s| s.route("HEAD", "/v2/shop/manifests/", Reply::new(200).drip(drip))),
            DeadlineKind::Request,
        ),
        (
            "the /v2/ check",
            Box::new(move |s| {
                s.route("GET", "/v2/", Reply::new(401).header("WWW-Authenticate", "Basic realm=x").drip(drip));
            }),
            DeadlineKind::Request,
        ),
        (
            "the token service",
            Box::new(move |s| {
                let realm = s.url("/token");
                let challenge = format!(r#"Bearer realm="{realm}",service="hostile""#);
                s.route("GET", "/v2/", Reply::new(401).header("WWW-Authenticate", challenge));
                s.route("GET", "/token", Reply::new(200).body(r#"{"token":"abcdefghijklmnop"}"#).drip(drip));
            }),
            DeadlineKind::Request,
        ),
        (
            "a blob",
            Box::new(move |s| {
                s.route("GET", &format!("/v2/shop/blobs/{}", sha256(b"{}")), Reply::new(200).body("{}"));
                s.route(
                    "GET",
                    &format!("/v2/shop/blobs/{}", sha256(&[b'x'; 64])),
                    Reply::new(200).repeat(b'x', 64).drip(drip),
                );
            }),
            DeadlineKind::Blob,
        ),
    ];
    for (what, script, kind) in scenarios {
        let registry = hostile_registry();
        script(&registry);
        let client = client_with(&registry, options.clone());
        let started = Instant::now();
        let err = match what {
            "tag list body" | "the /v2/ check" | "the token service" => client.list_tags().await.map(|_| ()),
            "manifest head" => client.manifest_digest("api_v1").await.map(|_| ()),
            _ => {
                let tmp = tempfile::tempdir().unwrap();
                let layout = hoist_oci::Layout::create_or_open(tmp.path()).unwrap();
                let digest = sha256(&[b'x'; 64]);
                let config = b"{}".to_vec();
                let body = manifest(&config, &digest, 64);
                registry.route(
                    "GET",
                    "/v2/shop/manifests/",
                    Reply::new(200).header("Content-Type", OCI_MANIFEST).body(body),
                );
                client.pull_image(&layout, "api_v1", "api").await.map(|_| ())
            }
        }
        .unwrap_err();
        let elapsed = started.elapsed();
        let RegistryError::Deadline { url, limit, kind: got_kind, .. } = &err else { panic!("{what}: {err:?}") };
        assert_eq!(*got_kind, kind, "{what}");
        assert!(url.contains(&registry.host()), "{what}: the error names the URL: {err}");
        assert_eq!(*limit, timeout, "{what}");
        assert!(err.to_string().contains("2 s"), "{what}: {err}");
        assert!(err.hint().unwrap().contains("HOIST_REGISTRY_TIMEOUT"), "{what}: {:?}", err.hint());
        assert_user_error(&err);
        // Bounded by the deadline (plus connection teardown), far from the old hang (> 200 s).
        assert!(elapsed < Duration::from_secs(8), "{what}: took {elapsed:?}");
        assert!(registry.request_count() <= 6, "{what}: {:#?}", registry.requests());
    }
}

#[tokio::test]
async fn retries_share_one_deadline() {
    // A registry that always answers 503: with 20 retries and long backoffs the count
    // alone would allow minutes; the request's deadline ends it.
    let registry = hostile_registry();
    registry.route("*", "/v2/shop/", Reply::new(503));
    let options = Options {
        retries: 20,
        backoff: Duration::from_millis(800),
        backoff_max: Duration::from_secs(30),
        request_timeout: Duration::from_secs(3),
        ..test_options()
    };
    let started = Instant::now();
    let err = client_with(&registry, options).list_tags().await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, RegistryError::Deadline { .. }), "{err:?}");
    assert!(elapsed < Duration::from_secs(6), "took {elapsed:?}");
    let attempts = registry.requests().iter().filter(|r| r.path().ends_with("/tags/list")).count();
    assert!((2..=6).contains(&attempts), "{attempts} attempts");

    // And the count still bounds them when the deadline is far away.
    let registry = hostile_registry();
    registry.route("*", "/v2/shop/", Reply::new(503));
    let options = Options { retries: 2, request_timeout: Duration::from_secs(600), ..test_options() };
    let err = client_with(&registry, options).list_tags().await.unwrap_err();
    assert!(matches!(err, RegistryError::Status { status: 503, .. }), "{err:?}");
    assert_eq!(registry.requests().iter().filter(|r| r.path().ends_with("/tags/list")).count(), 3);
}

#[test]
fn deadlines_come_from_the_environment_with_clear_errors() {
    let defaults = Options::default();
    assert!(defaults.request_timeout <= Duration::from_secs(60), "{defaults:?}");
    assert_eq!(defaults.max_manifest_bytes, 4 * 1024 * 1024);
    // A 100 MB layer at the default floor and rate: bounded, and not absurdly short.
    let blob = defaults.blob_deadline(100_000_000);
    assert!(blob > Duration::from_secs(300) && blob < Duration::from_secs(3600), "{blob:?}");

    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    };
    let o = Options::from_env_with(env(&[("HOIST_REGISTRY_TIMEOUT", "7"), ("HOIST_REGISTRY_MIN_RATE", "10")])).unwrap();
    assert_eq!(
        (o.request_timeout, o.blob_timeout, o.blob_min_rate),
        (Duration::from_secs(7), Duration::from_secs(7), 10 * 1024)
    );
    assert_eq!(o.blob_deadline(10 * 1024 * 30), Duration::from_secs(37));
    for bad in ["0", "-1", "ten", "1e3"] {
        let pairs: &'static [(&str, &str)] = Box::leak(Box::new([("HOIST_REGISTRY_TIMEOUT", bad)]));
        let err = Options::from_env_with(env(pairs)).unwrap_err();
        assert!(
            matches!(err, RegistryError::BadSetting { .. }) && err.to_string().contains("HOIST_REGISTRY_TIMEOUT"),
            "{err}"
        );
        assert_eq!(err.exit(), Exit::User);
    }
}

// ----- 7. sizes from outside ---------------------------------------------------------------

#[tokio::test]
async fn manifests_token_pages_and_error_bodies_are_capped() {
    const GIB: u64 = 1 << 30;
    let cases: Vec<(&str, Box<dyn Fn(&HostileServer)>)> = vec![
        (
            "a 1 GiB manifest, declared",
            Box::new(|s| {
                s.route(
                    "GET",
                    "/v2/shop/manifests/",
                    Reply::new(200).header("Content-Type", OCI_MANIFEST).repeat(b' ', GIB),
                )
            }),
        ),
        (
            "a 1 GiB manifest, close-delimited",
            Box::new(|s| {
                s.route(
                    "GET",
                    "/v2/shop/manifests/",
                    Reply::new(200).header("Content-Type", OCI_MANIFEST).repeat(b' ', GIB).close_delimited(),
                );
            }),
        ),
        (
            "a 1 GiB tag page",
            Box::new(|s| s.route("GET", "/v2/shop/tags/list", Reply::new(200).repeat(b'[', GIB).close_delimited())),
        ),
        (
            "a 1 GiB token",
            Box::new(|s| {
                let challenge = format!(r#"Bearer realm="{}",service="hostile""#, s.url("/token"));
                s.route("GET", "/v2/", Reply::new(401).header("WWW-Authenticate", challenge));
                s.route("GET", "/token", Reply::new(200).repeat(b'a', GIB).close_delimited());
            }),
        ),
        (
            "a 1 GiB error body",
            Box::new(|s| s.route("GET", "/v2/shop/tags/list", Reply::new(500).repeat(b'e', GIB).close_delimited())),
        ),
    ];
    for (what, script) in cases {
        let registry = hostile_registry();
        script(&registry);
        let client = client_with(&registry, Options { retries: 1, ..test_options() });
        let started = Instant::now();
        let result = if what.contains("manifest") {
            client.get_manifest("api_v1").await.map(|_| ())
        } else {
            client.list_tags().await.map(|_| ())
        };
        let err = result.unwrap_err();
        match what {
            w if w.contains("error body") => {
                assert!(matches!(err, RegistryError::Status { status: 500, .. }), "{what}: {err:?}");
                assert!(err.to_string().len() < 1000, "{what}: the shown detail is short");
            }
            _ => {
                assert!(matches!(err, RegistryError::TooLarge { .. }), "{what}: {err:?}");
                assert!(err.to_string().contains(&registry.host()), "{what}: {err}");
                assert_user_error(&err);
            }
        }
        if what.contains("manifest, ") {
            assert!(err.to_string().contains("4194304 bytes"), "{what}: {err}");
        }
        // The client hung up early: the server wrote what fits in socket buffers at most.
        let out = registry.body_bytes_out();
        assert!(out < 64 * 1024 * 1024, "{what}: the server wrote {out} bytes");
        assert!(started.elapsed() < Duration::from_secs(20), "{what}");
    }
}

#[tokio::test]
async fn tag_pagination_is_bounded_and_loop_free() {
    // A Link that points to the page itself: one request, then an error naming it.
    let registry = hostile_registry();
    registry.route(
        "GET",
        "/v2/shop/tags/list",
        Reply::new(200).header("Link", r#"</v2/shop/tags/list?n=1000>; rel="next""#).body(r#"{"tags":["a"]}"#),
    );
    let err = client_with(&registry, test_options()).list_tags().await.unwrap_err();
    assert!(matches!(err, RegistryError::LinkLoop { pages: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("/v2/shop/tags/list?n=1000"), "{err}");
    assert_user_error(&err);
    assert_eq!(registry.request_count(), 2, "/v2/ and one page: {:#?}", registry.requests());

    // A loop of two pages.
    let registry = hostile_registry();
    registry.route(
        "GET",
        "/v2/shop/tags/list",
        Reply::new(200).header("Link", r#"</v2/shop/tags/list?last=b>; rel="next""#).body(r#"{"tags":["a"]}"#),
    );
    registry.route(
        "GET",
        "/v2/shop/tags/list?last=b",
        Reply::new(200).header("Link", r#"</v2/shop/tags/list?n=1000>; rel="next""#).body(r#"{"tags":["b"]}"#),
    );
    let err = client_with(&registry, test_options()).list_tags().await.unwrap_err();
    assert!(matches!(err, RegistryError::LinkLoop { pages: 2, .. }), "{err:?}");
    assert_eq!(registry.request_count(), 3);

    // Endless fresh pages: the page bound ends it, after exactly that many requests.
    let registry = hostile_registry();
    let n = Arc::new(AtomicUsize::new(0));
    registry.route_fn("GET", "/v2/shop/tags/list", move |_| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        Reply::new(200)
            .header("Link", format!(r#"</v2/shop/tags/list?last=t{i}>; rel="next""#))
            .body(format!(r#"{{"tags":["t{i}"]}}"#))
    });
    let options = Options { max_tag_pages: 50, ..test_options() };
    let err = client_with(&registry, options).list_tags().await.unwrap_err();
    assert!(matches!(err, RegistryError::TooManyTags { what: "pages", limit: 50, .. }), "{err:?}");
    assert_eq!(registry.requests().iter().filter(|r| r.path().ends_with("/tags/list")).count(), 50);

    // Too many tags in one page (a registry ignoring `n`), and invalid tags dropped.
    let registry = hostile_registry();
    let many: Vec<String> = (0..5000).map(|i| format!("t{i}")).collect();
    registry.route("GET", "/v2/shop/tags/list", Reply::new(200).json(&json!({"tags": many})));
    let err = client_with(&registry, Options { max_tags: 1000, ..test_options() }).list_tags().await.unwrap_err();
    assert!(matches!(err, RegistryError::TooManyTags { what: "tags", limit: 1000, .. }), "{err:?}");
    let registry = hostile_registry();
    registry.route(
        "GET",
        "/v2/shop/tags/list",
        Reply::new(200).json(&json!({"tags": ["ok", "../x", "$(id)", "a\nb", "-x", "y"]})),
    );
    let tags = client_with(&registry, test_options()).list_tags().await.unwrap();
    assert_eq!(tags, vec!["ok", "y"]);
}

#[tokio::test]
async fn a_blob_stops_at_its_declared_size() {
    // The manifest declares a 100-byte layer; the registry streams 3 GB.
    let layer = vec![b'L'; 100];
    let config = b"{}".to_vec();
    for (what, reply) in [
        ("declared", Reply::new(200).repeat(b'L', 3_000_000_000)),
        ("close-delimited", Reply::new(200).repeat(b'L', 3_000_000_000).close_delimited()),
    ] {
        let registry = hostile_registry();
        let body = manifest(&config, &sha256(&layer), 100);
        registry.route("GET", "/v2/shop/manifests/", Reply::new(200).header("Content-Type", OCI_MANIFEST).body(body));
        registry.route("GET", &format!("/v2/shop/blobs/{}", sha256(&config)), Reply::new(200).body(config.clone()));
        registry.route("GET", &format!("/v2/shop/blobs/{}", sha256(&layer)), reply);
        let tmp = tempfile::tempdir().unwrap();
        let layout = hoist_oci::Layout::create_or_open(tmp.path()).unwrap();
        let client = client_with(&registry, Options { jobs: 1, ..test_options() });
        let err = client.pull_image(&layout, "api_v1", "api").await.unwrap_err();
        assert!(matches!(&err, RegistryError::TooLarge { limit: 100, .. }), "{what}: {err:?}");
        assert!(err.to_string().contains(&sha256(&layer)), "{what}: {err}");
        assert_user_error(&err);
        let out = registry.body_bytes_out();
        assert!(out < 64 * 1024 * 1024, "{what}: the server wrote {out} bytes");
        // Nothing half done: no ref, no layer blob, no temp file.
        assert!(layout.resolve("api").is_err(), "{what}");
        let blobs: Vec<_> =
            std::fs::read_dir(tmp.path().join("blobs/sha256")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(blobs.iter().all(|n| n.to_string_lossy() == hoist_testkit::sha256_hex(&config)), "{what}: {blobs:?}");
    }

    // The right size with other bytes: the digest check refuses it.
    let registry = hostile_registry();
    let body = manifest(&config, &sha256(&layer), 100);
    registry.route("GET", "/v2/shop/manifests/", Reply::new(200).header("Content-Type", OCI_MANIFEST).body(body));
    registry.route("GET", &format!("/v2/shop/blobs/{}", sha256(&config)), Reply::new(200).body(config.clone()));
    registry.route("GET", &format!("/v2/shop/blobs/{}", sha256(&layer)), Reply::new(200).repeat(b'M', 100));
    let tmp = tempfile::tempdir().unwrap();
    let layout = hoist_oci::Layout::create_or_open(tmp.path()).unwrap();
    let err = client_with(&registry, test_options()).pull_image(&layout, "api_v1", "api").await.unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err:?}");
}

// ----- 8. digests from outside -------------------------------------------------------------

#[tokio::test]
async fn digests_from_the_registry_are_validated_before_use() {
    const EVIL: &str = r#"sha256:NOT-A-DIGEST ../../x "'; $(id)"#;
    // On HEAD (what `hoist images` prints and deploys hand to `docker pull`).
    let registry = hostile_registry();
    registry.route("HEAD", "/v2/shop/manifests/", Reply::new(200).header("Docker-Content-Digest", EVIL));
    let client = client_with(&registry, test_options());
    let err = client.manifest_digest("api_v1").await.unwrap_err();
    let RegistryError::BadDigest { registry: named, value, .. } = &err else { panic!("{err:?}") };
    assert_eq!(*named, registry.host());
    assert_eq!(value, &format!("{EVIL:?}"), "shown escaped");
    assert!(err.to_string().contains("Docker-Content-Digest of `api_v1`"), "{err}");
    assert_user_error(&err);
    let images = vec![hoist_registry::ReleaseImage {
        service: "api".into(),
        release: "v1".into(),
        tag: "api_v1".into(),
        digest: None,
    }];
    assert!(matches!(client.with_digests(images).await, Err(RegistryError::BadDigest { .. })));

    // On GET, on a PUT's answer, and inside a pulled manifest.
    let config = b"{}".to_vec();
    let cases: Vec<(&str, Box<dyn Fn(&HostileServer)>)> = vec![
        (
            "manifest GET header",
            Box::new(|s| {
                s.route(
                    "GET",
                    "/v2/shop/manifests/",
                    Reply::new(200).header("Docker-Content-Digest", "sha256:ABC").body(manifest(
                        b"{}",
                        &sha256(b"x"),
                        1,
                    )),
                );
            }),
        ),
        (
            "manifest PUT answer",
            Box::new(|s| {
                s.route("PUT", "/v2/shop/manifests/", Reply::new(201).header("Docker-Content-Digest", "sha512:00"))
            }),
        ),
        (
            "layer digest in a manifest",
            Box::new(|s| {
                // Fine by the OCI grammar (oci-spec parses it), not a digest hoist verifies.
                let evil = "md5+evil:0123456789abcdef";
                s.route(
                    "GET",
                    "/v2/shop/manifests/",
                    Reply::new(200).header("Content-Type", OCI_MANIFEST).body(manifest(b"{}", evil, 1)),
                );
            }),
        ),
    ];
    for (what, script) in cases {
        let registry = hostile_registry();
        script(&registry);
        let client = client_with(&registry, test_options());
        let tmp = tempfile::tempdir().unwrap();
        let layout = hoist_oci::Layout::create_or_open(tmp.path()).unwrap();
        let err = match what {
            "manifest PUT answer" => client
                .put_manifest("api_v1", manifest(&config, &sha256(b"x"), 1).into(), OCI_MANIFEST)
                .await
                .map(|_| ()),
            _ => client.pull_image(&layout, "api_v1", "api").await.map(|_| ()),
        }
        .unwrap_err();
        assert!(matches!(err, RegistryError::BadDigest { .. }), "{what}: {err:?}");
        assert!(err.to_string().contains(&registry.host()), "{what}: {err}");
        assert_user_error(&err);
        // Nothing was fetched with it.
        assert!(
            !registry.requests().iter().any(|r| r.target.contains("/blobs/")),
            "{what}: {:#?}",
            registry.requests()
        );
    }
}
