//! Bounds on what comes from a registry or token service: a total deadline for each request
//! (every attempt, backoff and the body included) and a size cap on every body read.
//!
//! A per-read timeout alone never fires against a server that sends one byte every few
//! seconds, and `Content-Length` is only a claim: so bodies are read chunk by chunk, each
//! chunk waited for only until the request's deadline, and reading stops as soon as more
//! than the cap arrived.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::Response;

use crate::error::RegistryError;

/// Error bodies are only shown (shortened): read at most this much of them.
pub(crate) const ERROR_BODY_MAX: u64 = 64 * 1024;
/// A token answer is a JWT or an opaque token plus a few fields; real ones are a few KiB.
pub(crate) const TOKEN_BODY_MAX: u64 = 1024 * 1024;

/// Which option governs a deadline, for the hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineKind {
    /// `Options::request_timeout` (`HOIST_REGISTRY_TIMEOUT`).
    Request,
    /// `Options::blob_timeout` + size / `Options::blob_min_rate`
    /// (`HOIST_REGISTRY_TIMEOUT`, `HOIST_REGISTRY_MIN_RATE`).
    Blob,
}

/// When a request must be done by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    end: Instant,
    limit: Duration,
    kind: DeadlineKind,
}

impl Deadline {
    pub(crate) fn new(limit: Duration, kind: DeadlineKind) -> Deadline {
        Deadline { end: Instant::now() + limit, limit, kind }
    }

    /// Time left; zero once passed.
    pub(crate) fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    pub(crate) fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// A deadline of `limit` from now, but no later than this one.
    pub(crate) fn capped(&self, limit: Duration, kind: DeadlineKind) -> Deadline {
        let own = Deadline::new(limit, kind);
        if own.end < self.end { own } else { *self }
    }

    pub(crate) fn error(&self, method: &str, url: &str, attempts: u32) -> RegistryError {
        RegistryError::Deadline {
            method: method.to_string(),
            url: url.to_string(),
            limit: self.limit,
            kind: self.kind,
            attempts,
        }
    }
}

/// A transport error, or the deadline when that is what ended the request.
pub(crate) fn is_deadline(e: &reqwest::Error, deadline: &Deadline) -> bool {
    e.is_timeout() && deadline.remaining() < Duration::from_millis(50)
}

/// The body of `resp`, at most `cap` bytes, by `deadline`. `what` names the body in errors
/// (`the manifest `api_v1``); `method` is the request's.
pub(crate) async fn read_capped(
    mut resp: Response,
    cap: u64,
    what: &str,
    method: &str,
    deadline: &Deadline,
) -> Result<Bytes, RegistryError> {
    let url = resp.url().to_string();
    let too_large = || RegistryError::TooLarge { what: what.to_string(), url: url.clone(), limit: cap };
    if resp.content_length().is_some_and(|n| n > cap) {
        return Err(too_large());
    }
    let mut buf = BytesMut::new();
    loop {
        let chunk = match tokio::time::timeout(deadline.remaining(), resp.chunk()).await {
            Err(_) => return Err(deadline.error(method, &url, 1)),
            Ok(Err(e)) if is_deadline(&e, deadline) => return Err(deadline.error(method, &url, 1)),
            Ok(Err(e)) => {
                return Err(RegistryError::Transport { method: method.to_string(), url, attempts: 1, source: e });
            }
            Ok(Ok(None)) => return Ok(buf.freeze()),
            Ok(Ok(Some(chunk))) => chunk,
        };
        if (buf.len() + chunk.len()) as u64 > cap {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
}

/// Up to [`ERROR_BODY_MAX`] bytes of an error answer's body, as text; whatever arrived
/// when the body fails or the response's own deadline passes.
pub(crate) async fn error_text(mut resp: Response) -> String {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = ERROR_BODY_MAX as usize - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= ERROR_BODY_MAX as usize {
            break;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}
