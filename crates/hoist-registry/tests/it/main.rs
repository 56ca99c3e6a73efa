//! Integration tests against a real `docker-registry` on 127.0.0.1 (and, for faults, the
//! testkit's TCP proxy in front of it), with images built by hoist-oci into a real layout;
//! hostile registries are the testkit's scripted server (`hostile.rs`).

mod auth;
mod bearer;
mod cache;
mod faults;
mod hostile;
mod index;
mod planned;
mod push;
mod tags;
mod tls;

use std::path::Path;
use std::time::Duration;

use hoist_oci::{Compression, ConfigSpec, ImagePlan, LayerSpec, Layout};
use hoist_registry::{Auth, Client, Options, PushRequest, Repository};

/// Deterministic, incompressible bytes (xorshift), so layer sizes are what they say.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A layout with a shared base image (one 6 MiB layer: big enough for the streamed
/// upload path) and one image per service `<service>_<release>` on top of it, each
/// with a small layer holding `code`.
pub fn build_release(layout_dir: &Path, release: &str, services: &[(&str, &str)]) -> (Layout, Vec<PushRequest>) {
    let layout = Layout::create_or_open(layout_dir).unwrap();
    if layout.resolve("base").is_err() {
        let mut base = LayerSpec::new("base");
        base.add_bytes("/opt/base/runtime.bin", noise(7, 6 * 1024 * 1024), 0o644).unwrap();
        base.add_bytes("/etc/hostname", b"hoist\n".to_vec(), 0o644).unwrap();
        let plan = ImagePlan {
            name: "base".into(),
            base: None,
            layers: vec![base],
            config: ConfigSpec::default(),
            epoch: 1,
            platforms: Vec::new(),
        };
        hoist_oci::build_image(&layout, &plan, Compression::default(), 1).unwrap();
    }
    let plans: Vec<ImagePlan> = services
        .iter()
        .map(|(service, code)| {
            let mut layer = LayerSpec::new(format!("{service} code"));
            layer.add_bytes(&format!("/app/{service}.txt"), code.as_bytes().to_vec(), 0o644).unwrap();
            ImagePlan {
                name: format!("{service}_{release}"),
                base: Some("base".into()),
                layers: vec![layer],
                config: ConfigSpec { cmd: Some(vec!["/bin/sh".into()]), ..ConfigSpec::default() },
                epoch: 1,
                platforms: Vec::new(),
            }
        })
        .collect();
    hoist_oci::build_images(&layout, &plans, Compression::default(), 2).unwrap();
    let requests = services
        .iter()
        .map(|(s, _)| PushRequest { source: format!("{s}_{release}"), tag: format!("{s}_{release}") })
        .collect();
    (layout, requests)
}

/// Options for tests: quick backoff so retries do not slow the suite.
pub fn test_options() -> Options {
    Options { backoff: Duration::from_millis(20), backoff_max: Duration::from_millis(200), ..Options::default() }
}

pub fn client(host: &str, auth: Auth) -> Client {
    Client::new(Repository::parse(&format!("{host}/shop"), false).unwrap(), auth, test_options()).unwrap()
}

/// `skopeo inspect` of a tag: the JSON skopeo prints.
pub fn skopeo_inspect(host: &str, tag: &str, creds: Option<&str>) -> serde_json::Value {
    let mut cmd = hoist_cmd::Cmd::new("skopeo").args(["inspect", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd = cmd.arg("--creds").secret_arg(c);
    }
    let out = cmd.arg(format!("docker://{host}/shop:{tag}")).read().expect("skopeo inspect");
    serde_json::from_str(&out).expect("skopeo prints JSON")
}
