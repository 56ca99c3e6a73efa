//! Transport: sending one request by its deadline, with credentials only to the registry's
//! own origin, one re-authentication on 401, and retries with exponential backoff and
//! jitter on 5xx, 429, resets and timeouts; redirects refused by `origin.rs` and TLS
//! failures become their own errors; an unexpected answer becomes an error that says
//! what the registry said.
//!
//! Request-level retries are used only where repeating a request is harmless (HEAD, GET,
//! POST of an upload session, manifest PUT). A blob upload that fails is retried as a whole
//! with a fresh upload session (see `push.rs`), after a HEAD that finds out whether it
//! landed after all.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Deserialize;

use super::tls::is_tls;
use super::{Access, Client, Progress};
use crate::digest::check_digest;
use crate::error::RegistryError;
use crate::limits::{Deadline, error_text, is_deadline};
use crate::origin::{RedirectRefused, Target, classify};

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl Client {
    /// Sleep before attempt `attempt + 1`: exponential with "equal jitter", never past
    /// `deadline` (the next attempt then finds it passed).
    pub(crate) async fn backoff(&self, attempt: u32, deadline: &Deadline) {
        let base = self.inner.opts.backoff.as_millis() as u64;
        let cap = self.inner.opts.backoff_max.as_millis() as u64;
        let exp = base.saturating_mul(1u64 << attempt.saturating_sub(1).min(20)).min(cap).max(1);
        let ms = exp / 2 + rand::random_range(0..=exp / 2);
        tokio::time::sleep(Duration::from_millis(ms).min(deadline.remaining())).await;
    }

    pub(super) async fn retry_note(&self, what: &str, attempt: u32, reason: &str, deadline: &Deadline) {
        tracing::debug!("{what}: attempt {attempt} failed ({reason}); retrying");
        self.progress(Progress::Retry { what: what.to_string(), attempt, reason: reason.to_string() });
        self.backoff(attempt, deadline).await;
    }
    pub(crate) fn transport_error(&self, e: reqwest::Error, method: &str, url: &str, attempts: u32) -> RegistryError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if let Some(refused) = s.downcast_ref::<RedirectRefused>() {
                return RegistryError::Redirect {
                    method: method.to_string(),
                    url: url.to_string(),
                    reason: refused.to_string(),
                };
            }
            source = s.source();
        }
        if is_tls(&e) {
            return RegistryError::Tls { host: self.host().to_string(), source: e };
        }
        if e.is_connect() {
            return RegistryError::Connect { host: self.host().to_string(), source: e };
        }
        RegistryError::Transport { method: method.to_string(), url: url.to_string(), attempts, source: e }
    }

    /// Send a request built by `make`, by `deadline`: with the registry's credentials when
    /// it goes to the registry's own origin, with none elsewhere (an upload `Location` on
    /// another host); on 401 re-authenticate once; with `retry`, repeat on transport
    /// errors, 5xx and 429 while the deadline allows. The response's body is bounded by the
    /// same deadline.
    pub(crate) async fn send(
        &self,
        access: Access,
        retry: bool,
        deadline: &Deadline,
        make: impl Fn() -> Result<RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        let mut attempt = 0;
        let mut reauthed = false;
        loop {
            attempt += 1;
            let mut request = make()?.build().map_err(|e| RegistryError::Transport {
                method: "?".into(),
                url: self.inner.repo.to_string(),
                attempts: attempt,
                source: e,
            })?;
            let method = request.method().to_string();
            let url = request.url().to_string();
            let own = classify(&self.inner.base, request.url())? == Target::Own;
            let auth = if own { self.authorization(access, None, deadline).await? } else { None };
            if let Some(value) = &auth {
                let value = value.parse().map_err(|_| RegistryError::BadChallenge {
                    host: self.host().to_string(),
                    challenge: "the credential does not fit in an HTTP header".into(),
                })?;
                request.headers_mut().insert(AUTHORIZATION, value);
            }
            let left = deadline.remaining();
            if left.is_zero() {
                return Err(deadline.error(&method, &url, attempt - 1));
            }
            *request.timeout_mut() = Some(left);
            let what = format!("{method} {}", request.url().path());
            match self.inner.http.execute(request).await {
                Err(e) if is_deadline(&e, deadline) => return Err(deadline.error(&method, &url, attempt)),
                Err(e) if retry && retryable_error(&e) && attempt <= self.inner.opts.retries => {
                    self.retry_note(&what, attempt, &e.to_string(), deadline).await;
                }
                Err(e) => return Err(self.transport_error(e, &method, &url, attempt)),
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && own && !reauthed => {
                    // An expired token, or a registry whose challenge changed: ask again once.
                    reauthed = true;
                    attempt -= 1;
                    self.authorization(access, Some(auth.as_deref()), deadline).await?;
                }
                Ok(resp) if retry && retryable_status(resp.status()) && attempt <= self.inner.opts.retries => {
                    self.retry_note(&what, attempt, &resp.status().to_string(), deadline).await;
                }
                Ok(resp) => return Ok(resp),
            }
        }
    }

    /// Turn a response with an unexpected status into an error that says what it means.
    pub(crate) async fn fail(&self, resp: Response, method: &str) -> RegistryError {
        let status = resp.status();
        let url = resp.url().to_string();
        let headers = resp.headers().clone();
        let body = error_text(resp).await;
        let codes: Vec<String> = serde_json::from_str::<ErrorBody>(&body)
            .map(|b| b.errors.into_iter().map(|e| e.code).collect())
            .unwrap_or_default();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return self.unauthorized(status, &headers, &body);
        }
        if status == StatusCode::NOT_FOUND && codes.iter().any(|c| c == "NAME_UNKNOWN") {
            return RegistryError::RepositoryNotFound {
                host: self.host().to_string(),
                repository: self.inner.repo.path.clone(),
            };
        }
        RegistryError::Status { method: method.to_string(), url, status: status.as_u16(), detail: error_detail(&body) }
    }

    /// A `Docker-Content-Digest` on an answer, when present, must be valid and `expected`.
    pub(super) fn check_header_digest(&self, headers: &HeaderMap, expected: &str) -> Result<(), RegistryError> {
        match headers.get("docker-content-digest") {
            Some(value) => {
                let text = String::from_utf8_lossy(value.as_bytes());
                let actual = crate::digest::validate(self.host(), "a Docker-Content-Digest", &text)?;
                check_digest("the registry's Docker-Content-Digest", expected, &actual)
            }
            None => Ok(()),
        }
    }
}

pub(super) fn retryable_status(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

pub(super) fn retryable_error(e: &reqwest::Error) -> bool {
    !is_tls(e) && (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body())
}

pub(super) fn error_detail(body: &str) -> String {
    if let Ok(b) = serde_json::from_str::<ErrorBody>(body) {
        let parts: Vec<String> = b.errors.iter().map(|e| format!("{}: {}", e.code, e.message)).collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    body.chars().take(200).collect::<String>().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_detail(r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#),
            "NAME_UNKNOWN: repository name not known to registry"
        );
        assert_eq!(error_detail("plain"), "plain");
    }
}
