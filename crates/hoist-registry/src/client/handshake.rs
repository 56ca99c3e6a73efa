//! The auth handshake: `GET /v2/` for the registry's challenge, then per request the
//! `Authorization` it asks for (Basic from the credential, or a Bearer token fetched from
//! the challenge's realm for the scopes the request needs). Tokens are cached per scope
//! set and refreshed before they expire or when a 401 refuses one. Where the credential
//! comes from (env, `config.json`, helpers) is `auth.rs`'s business, not this file's.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use serde::Deserialize;

use super::transport::{error_detail, retryable_error, retryable_status};
use super::{Access, Client};
use crate::auth::{Challenge, Credential};
use crate::error::RegistryError;
use crate::limits::{Deadline, TOKEN_BODY_MAX, error_text, is_deadline, read_capped};
use crate::reference::is_loopback;

#[derive(Default)]
pub(super) struct Session {
    /// `None` until `/v2/` was asked; then the challenge, or `Some(None)` for open access.
    challenge: Option<Option<Challenge>>,
    tokens: HashMap<String, (String, Instant)>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl Client {
    /// The `Authorization` value for `access`, doing the `/v2/` handshake and the token
    /// request when needed. `rejected` is the value (or `None`) a 401 just refused: a new
    /// token is fetched unless another request already replaced that one, so parallel
    /// requests refused together fetch one token, not one each.
    pub(super) async fn authorization(
        &self,
        access: Access,
        rejected: Option<Option<&str>>,
        deadline: &Deadline,
    ) -> Result<Option<String>, RegistryError> {
        let refresh = rejected.is_some();
        let mut session = self.inner.session.lock().await;
        if session.challenge.is_none() || refresh && session.challenge == Some(None) {
            session.challenge = Some(self.ping(&self.inner_deadline(deadline)).await?);
        }
        let Some(Some(challenge)) = session.challenge.clone() else {
            return Ok(None);
        };
        match challenge.scheme.as_str() {
            "basic" => Ok(self.inner.auth.credential.basic_header()),
            "bearer" => {
                let scopes = self.scopes(access);
                let key = scopes.join(" ");
                if let Some((token, expiry)) = session.tokens.get(&key)
                    && Instant::now() < *expiry
                {
                    let value = format!("Bearer {token}");
                    if rejected.is_none_or(|r| r != Some(value.as_str())) {
                        return Ok(Some(value));
                    }
                }
                let (token, expiry) = self.fetch_token(&challenge, &scopes, &self.inner_deadline(deadline)).await?;
                session.tokens.insert(key, (token.clone(), expiry));
                Ok(Some(format!("Bearer {token}")))
            }
            _ => Err(RegistryError::BadChallenge {
                host: self.host().to_string(),
                challenge: crate::digest::escape(&challenge.scheme),
            }),
        }
    }

    fn scopes(&self, access: Access) -> Vec<String> {
        let path = &self.inner.repo.path;
        match access {
            Access::Pull => vec![format!("repository:{path}:pull")],
            Access::Push => {
                // Push goes first: some token services only read the first scope.
                let mut s = vec![format!("repository:{path}:push,pull")];
                s.extend(self.inner.opts.mount_from.iter().map(|r| format!("repository:{r}:pull")));
                s
            }
        }
    }

    /// `GET /v2/`: 200 means open access; 401 carries the challenge.
    async fn ping(&self, deadline: &Deadline) -> Result<Option<Challenge>, RegistryError> {
        let url = format!("{}/v2/", self.inner.repo.base_url());
        let mut attempt = 0;
        loop {
            attempt += 1;
            if deadline.expired() {
                return Err(deadline.error("GET", &url, attempt - 1));
            }
            match self.inner.http.get(&url).timeout(deadline.remaining()).send().await {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED => {
                    let header = resp.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
                    return Challenge::parse(header).map(Some).ok_or_else(|| RegistryError::BadChallenge {
                        host: self.host().to_string(),
                        challenge: crate::digest::escape(header),
                    });
                }
                Ok(resp) if retryable_status(resp.status()) && attempt <= self.inner.opts.retries => {
                    self.retry_note("GET /v2/", attempt, &resp.status().to_string(), deadline).await;
                }
                Ok(_) => return Ok(None),
                Err(e) if is_deadline(&e, deadline) => return Err(deadline.error("GET", &url, attempt)),
                Err(e) if retryable_error(&e) && attempt <= self.inner.opts.retries => {
                    self.retry_note("GET /v2/", attempt, &e.to_string(), deadline).await;
                }
                Err(e) => return Err(self.transport_error(e, "GET", &url, attempt)),
            }
        }
    }

    async fn fetch_token(
        &self,
        challenge: &Challenge,
        scopes: &[String],
        deadline: &Deadline,
    ) -> Result<(String, Instant), RegistryError> {
        let raw_realm = challenge.param("realm").unwrap_or_default();
        let parsed = url::Url::parse(raw_realm).map_err(|_| RegistryError::BadChallenge {
            host: self.host().to_string(),
            challenge: format!("realm {} is not a URL", crate::digest::escape(raw_realm)),
        })?;
        let realm = parsed.to_string();
        let realm_host = parsed.host_str().unwrap_or_default().to_string();
        if parsed.scheme() != "https" && !is_loopback(&realm_host) && !self.inner.repo.plain_http {
            return Err(RegistryError::InsecureRefused { host: realm_host });
        }
        let service = challenge.param("service").unwrap_or_default();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (method, request) = match &self.inner.auth.credential {
                Credential::IdentityToken(refresh) => {
                    let mut form = vec![
                        ("grant_type", "refresh_token".to_string()),
                        ("refresh_token", refresh.clone()),
                        ("service", service.to_string()),
                        ("client_id", "hoist".to_string()),
                    ];
                    form.push(("scope", scopes.join(" ")));
                    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
                    let rb = self
                        .inner
                        .http
                        .post(parsed.clone())
                        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(body);
                    ("POST", rb)
                }
                cred => {
                    let mut url = parsed.clone();
                    {
                        let mut q = url.query_pairs_mut();
                        if !service.is_empty() {
                            q.append_pair("service", service);
                        }
                        for s in scopes {
                            q.append_pair("scope", s);
                        }
                    }
                    let mut rb = self.inner.http.get(url);
                    if let Some(basic) = cred.basic_header() {
                        rb = rb.header(AUTHORIZATION, basic);
                    }
                    ("GET", rb)
                }
            };
            if deadline.expired() {
                return Err(deadline.error(method, &realm, attempt - 1));
            }
            let resp = match request.timeout(deadline.remaining()).send().await {
                Ok(r) => r,
                Err(e) if is_deadline(&e, deadline) => return Err(deadline.error(method, &realm, attempt)),
                Err(e) if retryable_error(&e) && attempt <= self.inner.opts.retries => {
                    self.retry_note("token request", attempt, &e.to_string(), deadline).await;
                    continue;
                }
                Err(e) => return Err(self.transport_error(e, method, &realm, attempt)),
            };
            let status = resp.status();
            if retryable_status(status) && attempt <= self.inner.opts.retries {
                self.retry_note("token request", attempt, &status.to_string(), deadline).await;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                let headers = resp.headers().clone();
                let body = error_text(resp).await;
                return Err(self.unauthorized(status, &headers, &body));
            }
            if !status.is_success() {
                let detail = error_detail(&error_text(resp).await);
                return Err(RegistryError::Token { realm, status: status.as_u16(), detail });
            }
            let what = format!("the token answer of {realm}");
            let body = read_capped(resp, TOKEN_BODY_MAX, &what, method, deadline).await?;
            let answer: TokenAnswer = serde_json::from_slice(&body)
                .map_err(|e| RegistryError::BadJson { what: what.clone(), message: e.to_string() })?;
            let token =
                answer.token.or(answer.access_token).filter(|t| !t.is_empty()).ok_or_else(|| RegistryError::Token {
                    realm: realm.clone(),
                    status: status.as_u16(),
                    detail: "no token in the answer".into(),
                })?;
            // It goes into a header: visible ASCII only (JWTs and opaque tokens are).
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(RegistryError::Token {
                    realm: realm.clone(),
                    status: status.as_u16(),
                    detail: "the token holds characters an HTTP header cannot carry".into(),
                });
            }
            // Refresh a little before the registry would refuse it; a day at most, whatever
            // the service claims.
            let life = answer.expires_in.unwrap_or(60).clamp(10, 24 * 3600);
            let expiry = Instant::now() + Duration::from_secs(life.saturating_sub(5));
            return Ok((token, expiry));
        }
    }

    /// A refusal, with what the answer said about it: the `error` of its challenge
    /// (`insufficient_scope`, `invalid_token`) and the message of its body.
    pub(crate) fn unauthorized(&self, status: StatusCode, headers: &HeaderMap, body: &str) -> RegistryError {
        let challenge_error = headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(Challenge::parse)
            .and_then(|c| c.param("error").map(str::to_string));
        let reason = [challenge_error.unwrap_or_default(), error_detail(body)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        RegistryError::Unauthorized {
            host: self.host().to_string(),
            repository: self.inner.repo.path.clone(),
            status: status.as_u16(),
            source_desc: self.inner.auth.source.clone(),
            reason,
        }
    }
}
