//! A real CNCF distribution registry (`docker-registry`) on a free 127.0.0.1 port, with
//! temp storage and optional auth (htpasswd, or Bearer tokens from a
//! [`TokenServer`](crate::token::TokenServer)), or serving TLS with a CA of its own on a
//! non-loopback address; killed on drop.
//!
//! ```no_run
//! let registry = hoist_testkit::Registry::start();
//! let repo = format!("{}/shop", registry.host()); // 127.0.0.1:PORT/shop
//! ```
//!
//! The server runs for the whole test, so it is spawned with `std::process` rather than
//! through `hoist_cmd::Cmd`, which only runs programs to completion.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::token::TokenServer;

/// The Debian package's binary; override with `HOIST_TEST_REGISTRY_BIN`.
pub const DEFAULT_BIN: &str = "/usr/bin/docker-registry";

/// A running registry; stopped and its storage removed on drop.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    ip: String,
    port: u16,
    tmp: TempDir,
    credentials: Option<(String, String)>,
    /// The CA of its certificate (PEM), when it serves TLS.
    ca_pem: Option<String>,
}

/// A server certificate for `ip`, signed by a CA of its own: (CA PEM, cert PEM, key PEM).
fn tls_files(ip: &str) -> (String, String, String) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "hoist test registry CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().expect("CA key")).expect("CA cert");
    let key = rcgen::KeyPair::generate().expect("server key");
    let mut server = rcgen::CertificateParams::new(vec![ip.to_string()]).expect("server params");
    server.distinguished_name.push(rcgen::DnType::CommonName, ip);
    let cert = server.signed_by(&key, &ca).expect("server cert");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// An IPv4 address of this machine that is not a loopback one (`hostname -I`, else
/// `ip -4 -o addr`), so a client treats a registry there like a remote one (TLS by default).
pub fn non_loopback_ipv4() -> Option<String> {
    let listed = |program: &str, args: &[&str]| -> Option<String> {
        let out = Command::new(program).args(args).output().ok()?;
        String::from_utf8_lossy(&out.stdout)
            .split(|c: char| c.is_whitespace() || c == '/')
            .filter_map(|a| a.parse::<std::net::Ipv4Addr>().ok())
            .find(|ip| !ip.is_loopback() && !ip.is_unspecified() && !ip.is_broadcast())
            .map(|ip| ip.to_string())
    };
    listed("hostname", &["-I"]).or_else(|| listed("ip", &["-4", "-o", "addr"]))
}

/// How the registry checks its callers.
#[derive(Debug)]
enum AuthSetup {
    Anonymous,
    Htpasswd { user: String, password: String },
    Token { realm: String, service: String, issuer: String, root_pem: String, user: String, password: String },
}

impl AuthSetup {
    fn credentials(&self) -> Option<(String, String)> {
        match self {
            AuthSetup::Anonymous => None,
            AuthSetup::Htpasswd { user, password } | AuthSetup::Token { user, password, .. } => {
                Some((user.clone(), password.clone()))
            }
        }
    }

    /// The config's `auth:` section, writing the files it names into `dir`.
    fn config(&self, dir: &std::path::Path) -> String {
        match self {
            AuthSetup::Anonymous => String::new(),
            AuthSetup::Htpasswd { user, password } => {
                let htpasswd = dir.join("htpasswd");
                let hash = bcrypt::hash(password, 5).expect("bcrypt");
                std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
                format!("auth:\n  htpasswd:\n    realm: hoist-test\n    path: {}\n", htpasswd.display())
            }
            AuthSetup::Token { realm, service, issuer, root_pem, .. } => {
                let bundle = dir.join("token-root.pem");
                std::fs::write(&bundle, root_pem).unwrap();
                format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                    bundle.display()
                )
            }
        }
    }
}

impl Registry {
    /// An anonymous registry (no auth).
    pub fn start() -> Registry {
        Registry::spawn(AuthSetup::Anonymous)
    }

    /// An anonymous plain-HTTP registry listening on `ip` (e.g. the test hosts' gateway,
    /// [`crate::hosts::GATEWAY`]), not on loopback.
    pub fn start_on(ip: &str) -> Registry {
        Registry::spawn_on(ip, AuthSetup::Anonymous, false)
    }

    /// A registry that requires HTTP Basic auth against an htpasswd file with one user.
    pub fn start_with_htpasswd(user: &str, password: &str) -> Registry {
        Registry::spawn(AuthSetup::Htpasswd { user: user.to_string(), password: password.to_string() })
    }

    /// A registry that requires Bearer tokens from `tokens` (its realm, service and issuer,
    /// with its signing certificate as the root bundle). The token server must outlive it.
    pub fn start_with_token_auth(tokens: &TokenServer) -> Registry {
        let (user, password) = tokens.credentials();
        Registry::spawn(AuthSetup::Token {
            realm: tokens.realm(),
            service: tokens.service().to_string(),
            issuer: tokens.issuer().to_string(),
            root_pem: tokens.root_cert_pem().to_string(),
            user: user.to_string(),
            password: password.to_string(),
        })
    }

    /// An anonymous registry serving TLS on a non-loopback address of this machine, with a
    /// certificate from a CA of its own ([`Registry::ca_pem`]): what a client meets at a
    /// remote registry with a private CA. Panics when the machine has no such address.
    pub fn start_tls() -> Registry {
        let ip = non_loopback_ipv4().expect("a non-loopback IPv4 address on this machine (`hostname -I`)");
        Registry::spawn_on(&ip, AuthSetup::Anonymous, true)
    }

    /// `IP:PORT` (`127.0.0.1:PORT` unless started with [`Registry::start_tls`]).
    pub fn host(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// The PEM of the CA that signed the TLS certificate, for a TLS registry.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The storage root (to look at blobs on disk).
    pub fn storage(&self) -> PathBuf {
        self.tmp.path().join("storage")
    }

    /// The user and password given to [`Registry::start_with_htpasswd`], or those the
    /// token server of [`Registry::start_with_token_auth`] accepts.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// A scratch directory that lives as long as the registry (for config.json files).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.tmp.path().join("scratch").join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Write a Docker `config.json` with inline credentials for this registry into a fresh
    /// directory and return that directory (use it as `DOCKER_CONFIG`).
    pub fn docker_config(&self, name: &str, user: &str, password: &str) -> PathBuf {
        let dir = self.scratch(name);
        let auth = base64(&format!("{user}:{password}"));
        let json = format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, self.host());
        std::fs::write(dir.join("config.json"), json).unwrap();
        dir
    }

    fn spawn(auth: AuthSetup) -> Registry {
        Registry::spawn_on("127.0.0.1", auth, false)
    }

    fn spawn_on(ip: &str, auth: AuthSetup, tls: bool) -> Registry {
        let bin = std::env::var("HOIST_TEST_REGISTRY_BIN").unwrap_or_else(|_| DEFAULT_BIN.to_string());
        assert!(
            std::path::Path::new(&bin).exists(),
            "{bin} not found: install the Debian package `docker-registry` (or set HOIST_TEST_REGISTRY_BIN)"
        );
        // A port can be taken between probing and binding; try a few.
        let mut last_err = String::new();
        for _ in 0..5 {
            let tmp = tempfile::Builder::new().prefix("hoist-registry-").tempdir().expect("tempdir");
            let port = free_port_on(ip);
            let storage = tmp.path().join("storage");
            std::fs::create_dir_all(&storage).unwrap();
            let mut config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: {ip}:{port}\n",
                storage.display()
            );
            let ca_pem = tls.then(|| {
                let (ca, cert, key) = tls_files(ip);
                std::fs::write(tmp.path().join("server.crt"), cert).unwrap();
                std::fs::write(tmp.path().join("server.key"), key).unwrap();
                config.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    tmp.path().join("server.crt").display(),
                    tmp.path().join("server.key").display()
                ));
                ca
            });
            config.push_str(&auth.config(tmp.path()));
            let config_path = tmp.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = std::fs::File::create(tmp.path().join("registry.log")).unwrap();
            let mut child = Command::new(&bin)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
            if wait_ready(ip, port, &mut child) {
                return Registry { child, ip: ip.to_string(), port, tmp, credentials: auth.credentials(), ca_pem };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_err = std::fs::read_to_string(tmp.path().join("registry.log")).unwrap_or_default();
        }
        panic!("docker-registry did not start:\n{last_err}");
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    free_port_on("127.0.0.1")
}

fn free_port_on(ip: &str) -> u16 {
    TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}:0: {e}")).local_addr().unwrap().port()
}

/// Wait until `GET /v2/` answers (any status; a TLS server answers plain HTTP with a 400),
/// or the process exits.
fn wait_ready(ip: &str, port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut s) = TcpStream::connect((ip, port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let req = format!("GET /v2/ HTTP/1.1\r\nHost: {ip}:{port}\r\nConnection: close\r\n\r\n");
            if s.write_all(req.as_bytes()).is_ok() {
                let mut buf = [0u8; 12];
                if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.") {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(super::base64("user:pass"), "dXNlcjpwYXNz");
    }
}
