//! A fault-injecting TCP proxy for HTTP/1.1, to put in front of a real server.
//!
//! It forces one request per connection (it rewrites `Connection: close` into each request),
//! reads each request's head, and then either forwards the exchange byte for byte or
//! injects the fault chosen for that request: drop the connection, reset it after some
//! body bytes (mid-upload), or answer a status such as 503. It counts every byte the
//! client sends upstream, so tests can assert how much a push really sent.
//!
//! Hand-written on std threads: a proxy that understands just enough HTTP to pick the
//! n-th matching request is smaller than wiring a general proxy crate to do it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to do to a chosen request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection right after reading the request head, with no response.
    Drop,
    /// Forward the head and this many body bytes upstream, then reset both connections.
    ResetAfter(u64),
    /// Answer this status (e.g. 503) without forwarding the request.
    Status(u16),
}

#[derive(Debug)]
struct Rule {
    method: String,
    path_contains: String,
    nth: usize,
    fault: Fault,
    seen: usize,
    fired: bool,
}

#[derive(Debug, Default)]
struct State {
    rules: Mutex<Vec<Rule>>,
    bytes_up: AtomicU64,
    fired: AtomicU64,
    log: Mutex<Vec<String>>,
    stop: AtomicBool,
}

/// A running proxy to `upstream` (`127.0.0.1:PORT`); stops accepting on drop.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    state: Arc<State>,
}

impl FaultProxy {
    /// Listen on a free 127.0.0.1 port and forward to `upstream`.
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let upstream = upstream.to_string();
        crate::net::serve(
            listener,
            state.clone(),
            |st| st.stop.load(Ordering::SeqCst),
            move |conn, st| handle(conn, &upstream, st),
        );
        FaultProxy { port, state }
    }

    /// `127.0.0.1:PORT` of the proxy.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Inject `fault` into the `nth` (1-based) request whose method is `method` (or any,
    /// with `"*"`) and whose path contains `path_contains`.
    pub fn fail(&self, method: &str, path_contains: &str, nth: usize, fault: Fault) {
        self.state.rules.lock().unwrap().push(Rule {
            method: method.to_string(),
            path_contains: path_contains.to_string(),
            nth: nth.max(1),
            fault,
            seen: 0,
            fired: false,
        });
    }

    /// Bytes the clients sent upstream (request heads and bodies) since the last reset.
    pub fn bytes_up(&self) -> u64 {
        self.state.bytes_up.load(Ordering::SeqCst)
    }

    pub fn reset_bytes(&self) {
        self.state.bytes_up.store(0, Ordering::SeqCst);
    }

    /// How many faults have been injected.
    pub fn faults_fired(&self) -> u64 {
        self.state.fired.load(Ordering::SeqCst)
    }

    /// Rules that have not fired yet (a test that expects every fault to fire checks this).
    pub fn faults_pending(&self) -> usize {
        self.state.rules.lock().unwrap().iter().filter(|r| !r.fired).count()
    }

    /// Each request seen, as `METHOD path` plus ` -> fault` when one was injected.
    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn handle(mut client: TcpStream, upstream: &str, state: &State) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(60)));
    let Some((head, leftover)) = crate::net::read_request_head(&mut client) else { return };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("").to_string();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut new_head = format!("{request_line}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            new_head.push_str(line);
            new_head.push_str("\r\n");
        }
    }
    new_head.push_str("Connection: close\r\n\r\n");

    let fault = {
        let mut rules = state.rules.lock().unwrap();
        let mut chosen = None;
        // Every rule counts every request it matches, so `nth` means the nth such request
        // overall; when two rules pick the same request the first added wins and the other
        // is not spent.
        for rule in rules.iter_mut().filter(|r| !r.fired) {
            if (rule.method == "*" || rule.method.eq_ignore_ascii_case(&method)) && path.contains(&rule.path_contains) {
                rule.seen += 1;
                if rule.seen >= rule.nth && chosen.is_none() {
                    rule.fired = true;
                    chosen = Some(rule.fault);
                }
            }
        }
        chosen
    };
    let entry = match fault {
        Some(f) => format!("{method} {path} -> {f:?}"),
        None => format!("{method} {path}"),
    };
    state.log.lock().unwrap().push(entry);
    if fault.is_some() {
        state.fired.fetch_add(1, Ordering::SeqCst);
    }

    match fault {
        Some(Fault::Drop) => {
            let _ = client.shutdown(Shutdown::Both);
        }
        Some(Fault::Status(code)) => {
            let body = format!("{{\"errors\":[{{\"code\":\"UNAVAILABLE\",\"message\":\"injected {code}\"}}]}}");
            let resp = format!(
                "HTTP/1.1 {code} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(resp.as_bytes());
            let _ = client.flush();
            // Give the client a moment to read the answer before the socket goes away.
            std::thread::sleep(Duration::from_millis(20));
            let _ = client.shutdown(Shutdown::Both);
        }
        Some(Fault::ResetAfter(limit)) => {
            let Ok(mut up) = TcpStream::connect(upstream) else { return };
            let _ = up.write_all(new_head.as_bytes());
            state.bytes_up.fetch_add(new_head.len() as u64, Ordering::SeqCst);
            let mut sent = 0u64;
            let mut pending = leftover;
            let mut chunk = [0u8; 16 * 1024];
            loop {
                let take = (limit - sent).min(pending.len() as u64) as usize;
                if take > 0 {
                    let _ = up.write_all(&pending[..take]);
                    state.bytes_up.fetch_add(take as u64, Ordering::SeqCst);
                    sent += take as u64;
                }
                if sent >= limit {
                    break;
                }
                match client.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => pending = chunk[..n].to_vec(),
                }
            }
            reset(&client);
            reset(&up);
        }
        None => {
            let Ok(mut up) = TcpStream::connect(upstream) else {
                let _ = client.shutdown(Shutdown::Both);
                return;
            };
            if up.write_all(new_head.as_bytes()).is_err() || up.write_all(&leftover).is_err() {
                return;
            }
            state.bytes_up.fetch_add((new_head.len() + leftover.len()) as u64, Ordering::SeqCst);
            let (Ok(mut client_r), Ok(mut up_w)) = (client.try_clone(), up.try_clone()) else { return };
            // The pump counts into its own counter, added to the total when it ends.
            let counter = Arc::new(AtomicU64::new(0));
            let c2 = counter.clone();
            let pump = std::thread::spawn(move || {
                copy_until_closed(&mut client_r, &mut up_w, |n| {
                    c2.fetch_add(n as u64, Ordering::SeqCst);
                });
                let _ = up_w.shutdown(Shutdown::Write);
            });
            copy_until_closed(&mut up, &mut client, |_| {});
            let _ = client.shutdown(Shutdown::Both);
            let _ = up.shutdown(Shutdown::Both);
            let _ = pump.join();
            state.bytes_up.fetch_add(counter.load(Ordering::SeqCst), Ordering::SeqCst);
        }
    }
}

/// Copy `from` into `to` until either side closes or fails, telling `sent` each chunk's size.
fn copy_until_closed(from: &mut TcpStream, to: &mut TcpStream, sent: impl Fn(usize)) {
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match from.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&chunk[..n]).is_err() {
                    break;
                }
                sent(n);
            }
        }
    }
}

/// Close with RST (linger 0), as a crashed peer or a middlebox would.
fn reset(stream: &TcpStream) {
    // Dropping a socket with linger 0 sends RST; the caller drops it right after.
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}
