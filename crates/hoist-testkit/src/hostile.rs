//! A scriptable hostile HTTP/1.1 server on a loopback address, for tests that play a
//! broken or malicious registry, token service or "other host" (bind it to 127.0.0.2).
//!
//! Each route answers a scripted [`Reply`]: any status and headers, a body that is bytes
//! or N repetitions of one byte (streamed, never held in memory, so a "3 GB" body costs
//! nothing), a `Content-Length` that is true, absent (close-delimited) or a lie, and
//! optionally one byte at a time with a pause between (a slow-loris server). Every request
//! head is recorded with all its headers (Authorization included) and the size of its
//! body, and the body bytes the server wrote are counted, so a test can assert what
//! reached which host and how much a client read before it stopped.
//!
//! ```no_run
//! use hoist_testkit::hostile::{HostileServer, Reply};
//! let server = HostileServer::start();
//! server.route("GET", "/v2/", Reply::new(200));
//! server.route("GET", "/v2/shop/manifests/", Reply::new(200).repeat(b'{', 1 << 30));
//! ```
//!
//! Hand-written on std threads like the fault proxy and the token service: one request per
//! connection (`Connection: close`), which every HTTP client handles, and full control over
//! every byte, which a real server framework would not give (lying lengths, dripped heads).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The request target: path and query, as sent.
    pub target: String,
    /// Every header, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes read from the client.
    pub body_len: u64,
}

impl Recorded {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// What a reply's body is.
#[derive(Debug, Clone)]
pub enum Body {
    Bytes(Vec<u8>),
    /// `len` copies of `byte`, generated as they are written.
    Repeat {
        byte: u8,
        len: u64,
    },
}

/// What the `Content-Length` header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// The body's real length.
    Exact,
    /// No `Content-Length`: the body ends when the connection closes.
    CloseDelimited,
    /// This number, whatever the body really is.
    Claim(u64),
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub length: Length,
    /// Write the whole answer (head and body) one byte at a time, this long apart.
    pub drip: Option<Duration>,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Body::Bytes(Vec::new()), length: Length::Exact, drip: None }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Reply {
        self.body = Body::Bytes(bytes.into());
        self
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json(self, value: &serde_json::Value) -> Reply {
        self.header("Content-Type", "application/json").body(serde_json::to_vec(value).expect("JSON"))
    }

    /// A body of `len` copies of `byte`.
    pub fn repeat(mut self, byte: u8, len: u64) -> Reply {
        self.body = Body::Repeat { byte, len };
        self
    }

    pub fn close_delimited(mut self) -> Reply {
        self.length = Length::CloseDelimited;
        self
    }

    pub fn claim_length(mut self, len: u64) -> Reply {
        self.length = Length::Claim(len);
        self
    }

    pub fn drip(mut self, every: Duration) -> Reply {
        self.drip = Some(every);
        self
    }

    fn body_len(&self) -> u64 {
        match &self.body {
            Body::Bytes(b) => b.len() as u64,
            Body::Repeat { len, .. } => *len,
        }
    }
}

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct Route {
    method: String,
    prefix: String,
    handler: Handler,
}

#[derive(Default)]
struct State {
    routes: Mutex<Vec<Route>>,
    requests: Mutex<Vec<Recorded>>,
    body_bytes_out: AtomicU64,
    stop: AtomicBool,
}

/// A running hostile server; stops accepting on drop (and running answers stop writing).
pub struct HostileServer {
    ip: String,
    port: u16,
    state: Arc<State>,
}

impl std::fmt::Debug for HostileServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostileServer").field("host", &self.host()).finish_non_exhaustive()
    }
}

impl HostileServer {
    /// On a free port of 127.0.0.1.
    pub fn start() -> HostileServer {
        HostileServer::start_on("127.0.0.1")
    }

    /// On a free port of `ip` (`127.0.0.2` is "another host" on Linux).
    pub fn start_on(ip: &str) -> HostileServer {
        let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}: {e}"));
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        crate::net::serve(listener, state.clone(), |st| st.stop.load(Ordering::SeqCst), handle);
        HostileServer { ip: ip.to_string(), port, state }
    }

    /// `IP:PORT`.
    pub fn host(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// `http://IP:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host())
    }

    /// Answer `reply` to requests with `method` (`"*"`: any) whose target starts with
    /// `prefix`. Routes added later win over earlier ones.
    pub fn route(&self, method: &str, prefix: &str, reply: Reply) {
        self.route_fn(method, prefix, move |_| reply.clone());
    }

    /// Like [`HostileServer::route`], with the answer computed from the request.
    pub fn route_fn(&self, method: &str, prefix: &str, f: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) {
        self.state.routes.lock().unwrap().push(Route {
            method: method.to_string(),
            prefix: prefix.to_string(),
            handler: Arc::new(f),
        });
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// Body bytes written to clients (heads not counted); a client that hangs up early
    /// leaves this far below what the replies declared, give or take socket buffers.
    pub fn body_bytes_out(&self) -> u64 {
        self.state.body_bytes_out.load(Ordering::SeqCst)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect((self.ip.as_str(), self.port));
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 | 302 | 307 | 308 => "Redirect",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500..=599 => "Server Error",
        _ => "Scripted",
    }
}

/// Read and count the request body (Content-Length or chunked), discarding it.
fn drain_body(conn: &mut TcpStream, head: &str, mut leftover: Vec<u8>) -> u64 {
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let mut chunk = vec![0u8; 64 * 1024];
    if let Some(len) = header("content-length").and_then(|v| v.parse::<u64>().ok()) {
        let mut got = leftover.len() as u64;
        while got < len {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n as u64,
            }
        }
        return got.min(len);
    }
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        // Enough of chunked decoding to find the end: sizes, data, the 0-size last chunk.
        let mut total = 0u64;
        loop {
            while !leftover.windows(2).any(|w| w == b"\r\n") {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => leftover.extend_from_slice(&chunk[..n]),
                }
            }
            let at = leftover.windows(2).position(|w| w == b"\r\n").unwrap();
            let line = String::from_utf8_lossy(&leftover[..at]).to_string();
            let size = u64::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
            leftover.drain(..at + 2);
            let need = size + 2;
            while (leftover.len() as u64) < need {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => return total + leftover.len() as u64,
                    Ok(n) => leftover.extend_from_slice(&chunk[..n]),
                }
            }
            leftover.drain(..need as usize);
            total += size;
            if size == 0 {
                return total;
            }
        }
    }
    0
}

fn handle(mut conn: TcpStream, state: &State) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Some((head, leftover)) = crate::net::read_request_head(&mut conn) else { return };
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body_len = drain_body(&mut conn, &head, leftover);
    let recorded = Recorded { method, target, headers, body_len };
    state.requests.lock().unwrap().push(recorded.clone());
    let handler = state
        .routes
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|r| {
            (r.method == "*" || r.method.eq_ignore_ascii_case(&recorded.method))
                && recorded.target.starts_with(&r.prefix)
        })
        .map(|r| r.handler.clone());
    let reply = match handler {
        Some(h) => h(&recorded),
        None => Reply::new(404).json(&serde_json::json!({"errors": [{"code": "NOT_FOUND", "message": "no route"}]})),
    };
    let _ = write_reply(&mut conn, &reply, recorded.method == "HEAD", state);
    let _ = conn.shutdown(Shutdown::Both);
}

fn write_reply(conn: &mut TcpStream, reply: &Reply, head_only: bool, state: &State) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match reply.length {
        Length::Exact => head.push_str(&format!("Content-Length: {}\r\n", reply.body_len())),
        Length::Claim(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
        Length::CloseDelimited => {}
    }
    head.push_str("Connection: close\r\n\r\n");
    let stopped = || state.stop.load(Ordering::SeqCst);
    let mut write = |bytes: &[u8], counted: bool| -> std::io::Result<()> {
        match reply.drip {
            Some(every) => {
                for b in bytes {
                    if stopped() {
                        return Err(std::io::ErrorKind::Interrupted.into());
                    }
                    conn.write_all(std::slice::from_ref(b))?;
                    conn.flush()?;
                    if counted {
                        state.body_bytes_out.fetch_add(1, Ordering::SeqCst);
                    }
                    std::thread::sleep(every);
                }
            }
            None => {
                conn.write_all(bytes)?;
                if counted {
                    state.body_bytes_out.fetch_add(bytes.len() as u64, Ordering::SeqCst);
                }
            }
        }
        Ok(())
    };
    write(head.as_bytes(), false)?;
    if head_only {
        return Ok(());
    }
    match &reply.body {
        Body::Bytes(b) => write(b, true)?,
        Body::Repeat { byte, len } => {
            let block = vec![*byte; 64 * 1024];
            let mut left = *len;
            while left > 0 {
                if stopped() {
                    return Err(std::io::ErrorKind::Interrupted.into());
                }
                let n = left.min(block.len() as u64) as usize;
                write(&block[..n], true)?;
                left -= n as u64;
            }
        }
    }
    conn.flush()
}
