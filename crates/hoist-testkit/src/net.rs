//! Loopback helpers: free ports and a tiny HTTP/1.0 GET for probing services under test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET http://127.0.0.1:PORT/PATH`: `Some((status, body))`, or `None` if nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_get_at("127.0.0.1", port, path)
}

/// `GET http://IP:PORT/PATH` (a test host's address, say), as [`http_get`].
pub fn http_get_at(ip: &str, port: u16, path: &str) -> Option<(u16, String)> {
    let addr = format!("{ip}:{port}").parse().ok()?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {ip}\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Poll until `GET path` answers 200, for at most `timeout`; returns the body.
pub fn wait_http_ok(port: u16, path: &str, timeout: Duration) -> Option<String> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some((200, body)) = http_get(port, path) {
            return Some(body);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// Accept connections on `listener` in a background thread, each handled on a thread of
/// its own, until `stopped(&state)` holds when the next connection comes in (the test
/// servers' owners wake the loop with one last connection on drop).
pub(crate) fn serve<S, H>(listener: TcpListener, state: Arc<S>, stopped: fn(&S) -> bool, handle: H)
where
    S: Send + Sync + 'static,
    H: Fn(TcpStream, &S) + Send + Sync + 'static,
{
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if stopped(&state) {
                break;
            }
            let Ok(conn) = conn else { continue };
            let (state, handle) = (state.clone(), handle.clone());
            std::thread::spawn(move || handle(conn, &state));
        }
    });
}

/// Read an HTTP request head (up to 64 KiB) from `conn`: the head as text, without the blank
/// line that ends it, and the body bytes read along with it. `None` when the peer closes or
/// the head is too long.
pub(crate) fn read_request_head(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..at]).into_owned();
            return Some((head, buf[at + 4..].to_vec()));
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
