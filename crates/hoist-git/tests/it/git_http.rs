//! A tiny git smart-HTTP server for tests: real `git http-backend` behind a minimal
//! HTTP/1.1 front, over TLS (its own CA) or plain, on any loopback address, recording the
//! head of every request it receives. Test code: panics are the error handling.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A CA that signs one server certificate per address.
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name.push(rcgen::DnType::CommonName, "hoist-git test CA");
        let issuer = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    fn server_config(&self, ip: &str) -> Arc<rustls::ServerConfig> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![ip.to_string()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, ip);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            )
            .unwrap();
        Arc::new(config)
    }
}

/// What the server does with a request.
#[derive(Debug, Clone)]
enum Mode {
    Serve,
    /// Answer `302 Found` to the same path on another base URL.
    Redirect(String),
}

pub struct GitHttpServer {
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl GitHttpServer {
    /// Serve the bare repositories under `root` at `https://IP:PORT/` (or `http://` when
    /// `ca` is `None`).
    pub fn start(ip: &str, root: &Path, ca: Option<&TestCa>) -> GitHttpServer {
        Self::start_mode(ip, root, ca, Mode::Serve)
    }

    /// Answer every request with a redirect to `target` (a base URL), same path.
    pub fn redirect(ip: &str, ca: Option<&TestCa>, target: &str) -> GitHttpServer {
        Self::start_mode(ip, Path::new("/nonexistent"), ca, Mode::Redirect(target.to_string()))
    }

    fn start_mode(ip: &str, root: &Path, ca: Option<&TestCa>, mode: Mode) -> GitHttpServer {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let tls = ca.map(|ca| ca.server_config(ip));
        let base = format!("{}://{ip}:{port}", if tls.is_some() { "https" } else { "http" });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, root) = (seen.clone(), root.to_path_buf());
        // The accept thread ends with the test process; each test uses its own ports.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (log, root, tls, mode) = (log.clone(), root.clone(), tls.clone(), mode.clone());
                std::thread::spawn(move || {
                    conn.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
                    match tls {
                        Some(config) => {
                            let session = rustls::ServerConnection::new(config).unwrap();
                            handle(rustls::StreamOwned::new(session, conn), &root, &log, &mode);
                        }
                        None => handle(conn, &root, &log, &mode),
                    }
                });
            }
        });
        GitHttpServer { base, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// One request per connection (`Connection: close`), which git's curl handles fine.
fn handle<S: Read + Write>(stream: S, root: &Path, log: &Mutex<Vec<Seen>>, mode: &Mode) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let seen = Seen { method, target, headers };
    log.lock().unwrap().push(seen.clone());
    let body = read_body(&mut reader, &seen);
    let response = match mode {
        Mode::Redirect(to) => format!(
            "HTTP/1.1 302 Found\r\nLocation: {to}{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            seen.target
        )
        .into_bytes(),
        Mode::Serve => backend(root, &seen, &body),
    };
    let stream = reader.get_mut();
    let _ = stream.write_all(&response);
    let _ = stream.flush();
}

fn read_body<R: BufRead>(reader: &mut R, seen: &Seen) -> Vec<u8> {
    let mut body = Vec::new();
    if seen.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = seen.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body).unwrap();
    }
    body
}

/// Run `git http-backend` as a CGI program and turn its answer into an HTTP response.
fn backend(root: &Path, seen: &Seen, body: &[u8]) -> Vec<u8> {
    let (path, query) = seen.target.split_once('?').unwrap_or((&seen.target, ""));
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REQUEST_METHOD", &seen.method)
        .env("CONTENT_LENGTH", body.len().to_string())
        // Pushes are allowed without a login: the test asserts on what git sends.
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.receivepack")
        .env("GIT_CONFIG_VALUE_0", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(ct) = seen.header("content-type") {
        cmd.env("CONTENT_TYPE", ct);
    }
    if let Some(ce) = seen.header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", ce);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = body.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let raw = out.stdout;
    let (head_len, sep) = match raw.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => (at, 4),
        None => (raw.windows(2).position(|w| w == b"\n\n").unwrap_or(raw.len()), 2),
    };
    let head = String::from_utf8_lossy(&raw[..head_len]).into_owned();
    let content = raw.get(head_len + sep..).unwrap_or_default();
    let mut status = "200 OK".to_string();
    let mut response = String::new();
    for h in head.lines().map(str::trim_end).filter(|h| !h.is_empty()) {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            _ => response.push_str(&format!("{h}\r\n")),
        }
    }
    let mut bytes =
        format!("HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n", content.len())
            .into_bytes();
    bytes.extend_from_slice(content);
    bytes
}
