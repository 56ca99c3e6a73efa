//! A "public" registry of the tests' own holding base images the way Docker Hub serves
//! them: `library/jre:17` as an OCI image index of two platforms (linux/amd64: the JRE
//! root filesystem; linux/arm64/v8: a small root filesystem of its own), and
//! `library/jre-list:17` as a Docker manifest list of the same two, in Docker's schema 2.
//!
//! The images are made with hoist itself (`hoist image import`, `hoist image build-file`)
//! and put on the registry with skopeo; the indexes are PUT by curl. The arm64 image's
//! config is rewritten to say arm64 (its content is never run). The per-platform
//! manifests also carry tags of their own (`17-amd64`, `17-arm64`), as Docker Hub's
//! official images do.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hoist_testkit::{Registry, sha256_hex};
use serde_json::{Value, json};

use crate::common::hoist;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The source layout (made once per test process): refs `jre-amd64`, `jre-arm64`.
fn source_layout() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("hoist-it-bases-{}", std::process::id()));
        let layout = dir.join(".hoist/oci");
        if layout.join("index.json").is_file() {
            return dir;
        }
        std::fs::create_dir_all(&dir).unwrap();
        hoist(&dir, &["image", "import", crate::release::jre_rootfs().to_str().unwrap(), "--ref", "jre-amd64"]).ok();
        let arm = dir.join("arm64-rootfs");
        std::fs::create_dir_all(arm.join("etc")).unwrap();
        std::fs::write(arm.join("etc/platform"), "linux/arm64\n").unwrap();
        hoist(&dir, &["image", "import", arm.to_str().unwrap(), "--ref", "jre-arm64"]).ok();
        set_platform(&layout, "jre-arm64", "arm64", Some("v8"));
        dir
    })
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

/// Write `bytes` as a blob; returns its digest.
fn write_blob(layout: &Path, bytes: &[u8]) -> String {
    let digest = format!("sha256:{}", sha256_hex(bytes));
    std::fs::write(blob_path(layout, &digest), bytes).unwrap();
    digest
}

/// Rewrite the config of ref `name` to say `architecture` (and `variant`), and the ref to
/// point at the new manifest.
fn set_platform(layout: &Path, name: &str, architecture: &str, variant: Option<&str>) {
    let index_path = layout.join("index.json");
    let mut index = read_json(&index_path);
    let entry = index["manifests"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("{name} in {}", index_path.display()));
    let mut manifest = read_json(&blob_path(layout, entry["digest"].as_str().unwrap()));
    let mut config = read_json(&blob_path(layout, manifest["config"]["digest"].as_str().unwrap()));
    config["architecture"] = json!(architecture);
    if let Some(v) = variant {
        config["variant"] = json!(v);
    }
    let config_bytes = serde_json::to_vec(&config).unwrap();
    manifest["config"]["digest"] = json!(write_blob(layout, &config_bytes));
    manifest["config"]["size"] = json!(config_bytes.len());
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    entry["digest"] = json!(write_blob(layout, &manifest_bytes));
    entry["size"] = json!(manifest_bytes.len());
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
}

/// `skopeo copy` a ref of `layout` to `dest` (`docker://…`), optionally as Docker schema 2.
fn skopeo_push(layout: &Path, name: &str, dest: &str, docker_format: bool) {
    let mut cmd = hoist_cmd::Cmd::new("skopeo").args(["copy", "--quiet", "--dest-tls-verify=false"]);
    if docker_format {
        cmd = cmd.args(["--format", "v2s2"]);
    }
    cmd.arg(format!("oci:{}:{name}", layout.display())).arg(dest).run().unwrap_or_else(|e| panic!("{e}"));
}

/// The raw manifest at `reference` (`HOST/repo:tag`), as skopeo reads it.
pub fn raw_manifest(reference: &str) -> Vec<u8> {
    hoist_cmd::Cmd::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .run()
        .map(|o| o.stdout.into_bytes())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// PUT a manifest or index with curl.
fn put_manifest(host: &str, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, bytes).unwrap();
    hoist_cmd::Cmd::new("curl")
        .args(["-fsS", "-X", "PUT", "-H"])
        .arg(format!("Content-Type: {media_type}"))
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!("http://{host}/v2/{repo}/manifests/{reference}"))
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A registry of its own with the two bases.
pub struct PublicBases {
    pub registry: Registry,
    /// Bumped by [`PublicBases::move_tag`].
    revision: std::cell::Cell<u32>,
}

impl PublicBases {
    pub fn start() -> PublicBases {
        let bases = PublicBases { registry: Registry::start(), revision: std::cell::Cell::new(1) };
        let layout = source_layout().join(".hoist/oci");
        bases.publish(&layout, "library/jre", "17", "jre-amd64", false);
        bases.publish(&layout, "library/jre-list", "17", "jre-amd64", true);
        bases
    }

    /// Push `amd64_ref` and `jre-arm64` under `<tag>-amd64`/`<tag>-arm64` and put an index
    /// (or, `docker`, a manifest list) of both at `<repo>:<tag>`.
    fn publish(&self, layout: &Path, repo: &str, tag: &str, amd64_ref: &str, docker: bool) {
        let host = self.registry.host();
        let mut entries = Vec::new();
        for (name, arch, variant) in [(amd64_ref, "amd64", None), ("jre-arm64", "arm64", Some("v8"))] {
            let dest = format!("{host}/{repo}:{tag}-{arch}");
            skopeo_push(layout, name, &format!("docker://{dest}"), docker);
            let raw = raw_manifest(&dest);
            let mut platform = json!({ "architecture": arch, "os": "linux" });
            if let Some(v) = variant {
                platform["variant"] = json!(v);
            }
            entries.push(json!({
                "mediaType": if docker { DOCKER_MANIFEST } else { OCI_MANIFEST },
                "digest": format!("sha256:{}", sha256_hex(&raw)),
                "size": raw.len(),
                "platform": platform,
            }));
        }
        let media_type = if docker { DOCKER_LIST } else { OCI_INDEX };
        let index = json!({ "schemaVersion": 2, "mediaType": media_type, "manifests": entries });
        put_manifest(&host, repo, tag, media_type, &serde_json::to_vec(&index).unwrap());
    }

    /// `HOST/library/jre:17` (an OCI index).
    pub fn jre(&self) -> String {
        format!("{}/library/jre:17", self.registry.host())
    }

    /// `HOST/library/jre-list:17` (a Docker manifest list).
    pub fn jre_list(&self) -> String {
        format!("{}/library/jre-list:17", self.registry.host())
    }

    /// The digest `reference` points to now (sha256 of its raw manifest or index).
    pub fn digest(&self, reference: &str) -> String {
        format!("sha256:{}", sha256_hex(&raw_manifest(reference)))
    }

    /// The digest of `platform`'s (`amd64`, `arm64`) manifest in the index at `reference`.
    pub fn platform_digest(&self, reference: &str, arch: &str) -> String {
        let index: Value = serde_json::from_slice(&raw_manifest(reference)).unwrap();
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["architecture"] == arch)
            .map(|m| m["digest"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{arch} in {reference}"))
    }

    /// Upstream moves `library/jre:17` to a new build: the amd64 image gets one more file
    /// (`/etc/jre-revision`), arm64 stays; returns the new index digest.
    pub fn move_tag(&self) -> String {
        let rev = self.revision.get() + 1;
        self.revision.set(rev);
        let dir = source_layout();
        let name = format!("jre-amd64-r{rev}");
        let ctx = dir.join(format!("rev{rev}"));
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(ctx.join("jre-revision"), format!("{rev}\n")).unwrap();
        std::fs::write(ctx.join("Dockerfile"), "FROM jre-amd64\nCOPY jre-revision /etc/jre-revision\n").unwrap();
        hoist(
            dir,
            &[
                "image",
                "build-file",
                ctx.join("Dockerfile").to_str().unwrap(),
                "--context",
                ctx.to_str().unwrap(),
                "--ref",
                &name,
            ],
        )
        .ok();
        self.publish(&dir.join(".hoist/oci"), "library/jre", "17", &name, false);
        self.digest(&self.jre())
    }
}

#[test]
fn the_public_registry_serves_an_index_and_a_manifest_list() {
    let bases = PublicBases::start();
    let index: Value = serde_json::from_slice(&raw_manifest(&bases.jre())).unwrap();
    assert_eq!(index["mediaType"], OCI_INDEX);
    let list: Value = serde_json::from_slice(&raw_manifest(&bases.jre_list())).unwrap();
    assert_eq!(list["mediaType"], DOCKER_LIST);
    for reference in [bases.jre(), bases.jre_list()] {
        let amd = bases.platform_digest(&reference, "amd64");
        let arm = bases.platform_digest(&reference, "arm64");
        assert_ne!(amd, arm);
        // Each platform's config says its architecture.
        let host = bases.registry.host();
        let repo = reference.trim_start_matches(&format!("{host}/")).split(':').next().unwrap().to_string();
        let config: Value = serde_json::from_str(
            &hoist_cmd::Cmd::new("skopeo")
                .args(["inspect", "--config", "--raw", "--tls-verify=false"])
                .arg(format!("docker://{host}/{repo}@{arm}"))
                .read()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(config["architecture"], "arm64", "{reference}");
    }
    let before = bases.digest(&bases.jre());
    let after = bases.move_tag();
    assert_ne!(before, after);
    assert_eq!(bases.digest(&bases.jre_list()), bases.digest(&bases.jre_list()));
}
