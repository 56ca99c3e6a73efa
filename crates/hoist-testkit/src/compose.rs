//! The shop example deployed with Docker Compose on the real engine: a copy of the project
//! with a unique compose project name, its release images pushed to a real registry, and
//! a drop guard that takes it all down again.
//!
//! Images are made the plain Docker way (a `docker import`ed JRE root file system, then
//! `FROM` it + `COPY app.jar`), pushed with `docker push`, and the local tags removed, so
//! the deploy under test really pulls. An unchanged service is "re-released" by copying
//! its manifest to the new tag inside the registry with skopeo (same digest), the way a
//! pipeline that only rebuilds what changed would.
//!
//! Host ports are ephemeral (`127.0.0.1::8080`), so tests run in parallel.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hoist_cmd::Cmd;
use tempfile::TempDir;

use crate::registry::Registry;

/// The app services of the example.
pub const SERVICES: [&str; 3] = ["chat-service", "gateway", "user-service"];

/// The shared JRE base image (built once per machine, reused).
pub const JRE_IMAGE: &str = "hoist-testkit/shop-jre:17";
/// The kv-store image (fixed, like `shop-kv-store:1` in the example).
pub const KV_IMAGE: &str = "hoist-testkit/shop-kv-store:1";

const ENTRYPOINT: &str = r#"["/opt/java/bin/java","-XX:TieredStopAtLevel=1","-Xshare:auto","-XX:+UseSerialGC","-Xss256k","-XX:MaxRAM=128m","-jar","/app.jar"]"#;

fn docker(args: &[&str]) -> String {
    Cmd::new("docker").args(args).read().unwrap_or_else(|e| panic!("{e}"))
}

fn docker_ok(args: &[&str]) -> bool {
    Cmd::new("docker").args(args).output().map(|o| o.success()).unwrap_or(false)
}

/// A random lowercase suffix for names that must not collide between parallel tests.
pub fn suffix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let n = u64::from(nanos)
        ^ (u64::from(std::process::id()) << 20)
        ^ COUNTER.fetch_add(7919, std::sync::atomic::Ordering::SeqCst);
    format!("{:x}", n & 0xff_ffff)
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Make `JRE_IMAGE` and `KV_IMAGE` unless the engine has them.
pub fn base_images() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if !docker_ok(&["image", "inspect", JRE_IMAGE]) {
            let tmp = TempDir::new().unwrap();
            let rootfs = tmp.path().join("rootfs");
            Cmd::new(crate::example_shop().join("base/make-jre-rootfs.sh")).arg(&rootfs).run().unwrap();
            let tar = tmp.path().join("rootfs.tar");
            Cmd::new("tar")
                .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
                .arg(&rootfs)
                .arg("-cf")
                .arg(&tar)
                .arg(".")
                .run()
                .unwrap();
            Cmd::new("docker").arg("import").arg(&tar).arg(JRE_IMAGE).run().unwrap();
        }
        if !docker_ok(&["image", "inspect", KV_IMAGE]) {
            let tmp = TempDir::new().unwrap();
            let src = tmp.path().join("shop");
            crate::example::copy_example(&src);
            Cmd::new(src.join("build.sh")).arg("--deps").current_dir(&src).run().unwrap();
            build_app_image(&src.join("kv-store/build/libs/shop-kv-store.jar"), KV_IMAGE, None);
        }
    });
}

/// `FROM JRE_IMAGE` + `/app.jar`, tagged `tag`, optionally labelled for a hoist project.
pub fn build_app_image(jar: &Path, tag: &str, project_label: Option<&str>) {
    let labels: Vec<(&str, &str)> = project_label.map(|p| ("dev.hoist.project", p)).into_iter().collect();
    build_labelled_image(jar, tag, &labels);
}

/// The label that makes a [`ShopDeploy`]'s release images its own (see [`ShopDeploy::release`]).
pub const DEPLOY_LABEL: &str = "dev.hoist.testkit.deploy";

/// [`build_app_image`] with any labels.
pub fn build_labelled_image(jar: &Path, tag: &str, labels: &[(&str, &str)]) {
    let ctx = TempDir::new().unwrap();
    std::fs::copy(jar, ctx.path().join("app.jar")).unwrap();
    let mut dockerfile = format!("FROM {JRE_IMAGE}\nCOPY app.jar /app.jar\nENTRYPOINT {ENTRYPOINT}\n");
    for (k, v) in labels {
        dockerfile.push_str(&format!("LABEL {k}=\"{v}\"\n"));
    }
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    // The legacy builder's cache is shared by parallel tests: an intermediate image removed
    // by another test mid-build fails the build once; a retry starts from what exists.
    let build = Cmd::new("docker").args(["build", "--quiet", "--tag", tag]).arg(ctx.path());
    let mut last = None;
    for _ in 0..3 {
        match build.run() {
            Ok(_) => return,
            Err(e) => last = Some(e),
        }
    }
    panic!("{}", last.expect("tried"));
}

/// A copy of the shop example with its own compose project and registry.
#[derive(Debug)]
pub struct ShopDeploy {
    tmp: TempDir,
    /// The compose project (and `[project] name`), unique per test.
    pub project: String,
    pub registry: Registry,
    /// `127.0.0.1:PORT/<project>`
    pub repository: String,
}

impl ShopDeploy {
    /// Copy the example, give it a unique project name, its registry and ephemeral ports.
    /// `compose_extra` is appended to `[deploy.compose]` in hoist.toml.
    pub fn new(compose_extra: &str) -> ShopDeploy {
        ShopDeploy::with_registry(compose_extra, Registry::start(), false)
    }

    /// For a deploy to test hosts: `registry` listens where the hosts reach it (see
    /// [`crate::hosts::gateway_registry`]), so hoist.toml marks it `insecure` (plain HTTP off
    /// loopback), and the example's fixed host ports stay (each host has its own addresses).
    pub fn remote(compose_extra: &str, registry: Registry) -> ShopDeploy {
        ShopDeploy::with_registry(compose_extra, registry, true)
    }

    fn with_registry(compose_extra: &str, registry: Registry, remote: bool) -> ShopDeploy {
        base_images();
        let tmp = TempDir::new().unwrap();
        let project = format!("hoist-it-{}", suffix());
        let repository = format!("{}/{project}", registry.host());
        let shop = ShopDeploy { tmp, project, registry, repository };
        crate::example::copy_example(shop.dir());

        let compose_path = shop.dir().join("docker-compose-prod.yaml");
        let mut compose = std::fs::read_to_string(&compose_path).unwrap();
        if !remote {
            for port in 18080..=18083 {
                compose = compose.replace(&format!("\"{port}:8080\""), "\"127.0.0.1::8080\"");
            }
        }
        compose = compose.replace("image: shop-kv-store:1", &format!("image: {KV_IMAGE}"));
        std::fs::write(&compose_path, compose).unwrap();

        let toml_path = shop.dir().join("hoist.toml");
        let mut toml = std::fs::read_to_string(&toml_path).unwrap();
        toml = toml.replace("name = \"shop\"", &format!("name = \"{}\"", shop.project));
        let mut registry_keys = format!("repository = \"{}\"", shop.repository);
        if remote {
            registry_keys.push_str("\ninsecure = true");
        }
        toml = toml.replace("repository = \"127.0.0.1:5000/shop\"", &registry_keys);
        toml = set_compose_keys(&toml, compose_extra);
        assert!(toml.contains(&shop.repository) && toml.contains(&shop.project), "hoist.toml layout changed:\n{toml}");
        std::fs::write(&toml_path, toml).unwrap();
        shop
    }

    /// The project directory.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// `repository:<service>_<tag>`
    pub fn reference(&self, service: &str, tag: &str) -> String {
        format!("{}:{service}_{tag}", self.repository)
    }

    /// Push release `tag` to the registry: `changed` services are built from source (with
    /// the broken-health switch for those in `broken`); the others are copied from release
    /// `base` inside the registry. Local tags are removed afterwards.
    pub fn release(&self, tag: &str, changed: &[&str], broken: &[&str], base: Option<&str>) {
        for service in SERVICES {
            let marker = self.dir().join(service).join("broken");
            if broken.contains(&service) {
                std::fs::write(&marker, "").unwrap();
            } else {
                let _ = std::fs::remove_file(&marker);
            }
        }
        if !changed.is_empty() {
            Cmd::new(self.dir().join("build.sh"))
                .arg(tag)
                .args(changed.iter().copied())
                .current_dir(self.dir())
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .run()
                .unwrap();
        }
        for service in SERVICES {
            let reference = self.reference(service, tag);
            if changed.contains(&service) {
                let jar = self.dir().join(service).join(format!("build/libs/shop-{service}-{tag}.jar"));
                // The jars are reproducible and the same release tags recur in every test,
                // so without this label the engine's build cache gives parallel tests the
                // very same image IDs: another test's container then uses "this test's"
                // image, and prune rightly keeps it.
                build_labelled_image(&jar, &reference, &[(DEPLOY_LABEL, &self.project)]);
                self.push(&reference);
                docker(&["image", "rm", &reference]);
            } else {
                let base = base.unwrap_or_else(|| panic!("{service} unchanged in {tag} needs a base release"));
                self.skopeo_copy(&self.reference(service, base), &reference);
            }
        }
    }

    /// `docker push`, or for a registry off loopback (which this machine's engine only
    /// reaches over TLS) a copy from the engine with skopeo.
    fn push(&self, reference: &str) {
        if self.registry.host().starts_with("127.") {
            docker(&["push", "--quiet", reference]);
        } else {
            Cmd::new("skopeo")
                .args(["copy", "--quiet", "--dest-tls-verify=false"])
                .arg(format!("docker-daemon:{reference}"))
                .arg(format!("docker://{reference}"))
                .run()
                .unwrap();
        }
    }

    fn skopeo_copy(&self, from: &str, to: &str) {
        Cmd::new("skopeo")
            .args(["copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false"])
            .arg(format!("docker://{from}"))
            .arg(format!("docker://{to}"))
            .run()
            .unwrap();
    }

    /// The manifest digest of a reference in the registry (skopeo, as a cross-check).
    pub fn registry_digest(&self, reference: &str) -> String {
        Cmd::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
            .arg(format!("docker://{reference}"))
            .read()
            .unwrap()
    }

    /// Service → container ID of this project's running service containers.
    pub fn containers(&self) -> BTreeMap<String, String> {
        let out = docker(&[
            "ps",
            "--no-trunc",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--format",
            "{{.Label \"com.docker.compose.service\"}} {{.ID}}",
        ]);
        out.lines().filter_map(|l| l.split_once(' ')).map(|(s, id)| (s.to_string(), id.to_string())).collect()
    }

    /// The image ID a service's container runs.
    pub fn container_image(&self, service: &str) -> String {
        let id = self.containers().remove(service).unwrap_or_else(|| panic!("no container for {service}"));
        docker(&["container", "inspect", "--format", "{{.Image}}", &id])
    }

    /// The host port of a service's 8080.
    pub fn port(&self, service: &str) -> u16 {
        let id = self.containers().remove(service).unwrap_or_else(|| panic!("no container for {service}"));
        let out = docker(&["port", &id, "8080/tcp"]);
        let line = out.lines().next().unwrap_or_else(|| panic!("{service} publishes no port"));
        line.rsplit(':').next().unwrap().trim().parse().unwrap()
    }

    /// `GET /version` of a service.
    pub fn version(&self, service: &str) -> Option<String> {
        crate::net::http_get(self.port(service), "/version").filter(|(s, _)| *s == 200).map(|(_, b)| b)
    }

    /// The hoist state directory (history, lock, override).
    pub fn state_dir(&self) -> PathBuf {
        self.dir().join(".hoist/deploy")
    }

    /// The named volume of the kv-store.
    pub fn kv_volume(&self) -> String {
        format!("{}_kv-data", self.project)
    }
}

/// `extra` (`key = value` lines) set in `[deploy.compose]`, replacing keys already there.
fn set_compose_keys(toml: &str, extra: &str) -> String {
    let start = toml.find("[deploy.compose]\n").expect("hoist.toml has [deploy.compose]") + "[deploy.compose]\n".len();
    let end = toml[start..].find("\n[").map(|i| start + i + 1).unwrap_or(toml.len());
    let keys: Vec<&str> = extra.lines().filter_map(|l| l.split_once('=')).map(|(k, _)| k.trim()).collect();
    let kept: Vec<&str> = toml[start..end]
        .lines()
        .filter(|l| !l.split_once('=').is_some_and(|(k, _)| keys.contains(&k.trim())))
        .collect();
    let mut section = String::new();
    for l in extra.lines().chain(kept) {
        section.push_str(l);
        section.push('\n');
    }
    format!("{}{}{}", &toml[..start], section, &toml[end..])
}

impl Drop for ShopDeploy {
    fn drop(&mut self) {
        // `down` without -v keeps volumes, as a normal run would; this test's volume is
        // removed explicitly afterwards.
        let _ = Cmd::new("docker-compose")
            .args(["--project-name", &self.project, "--file", "docker-compose-prod.yaml", "down", "--timeout", "2"])
            .current_dir(self.dir())
            .output();
        let _ = Cmd::new("docker").args(["volume", "rm", &self.kv_volume()]).output();
        let refs = Cmd::new("docker")
            .args(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}", "--filter"])
            .arg(format!("reference={}", self.repository))
            .read()
            .unwrap_or_default();
        let digests = Cmd::new("docker")
            .args(["image", "ls", "--digests", "--format", "{{.Repository}}@{{.Digest}}", "--filter"])
            .arg(format!("reference={}", self.repository))
            .read()
            .unwrap_or_default();
        let all: Vec<&str> = refs.lines().chain(digests.lines()).filter(|l| !l.contains("<none>")).collect();
        if !all.is_empty() {
            let _ = Cmd::new("docker").args(["image", "rm"]).args(all).output();
        }
    }
}
