//! The HTTP side of the distribution API: one connection pool, the auth handshake
//! (anonymous, Basic, Bearer tokens cached per scope and refreshed on expiry or 401),
//! and retries with exponential backoff and jitter on 5xx, 429, resets and timeouts.
//!
//! Request-level retries are used only where repeating a request is harmless (HEAD, GET,
//! POST of an upload session, manifest PUT). A blob upload that fails is retried as a whole
//! with a fresh upload session, after a HEAD that finds out whether it landed after all.
//!
//! Everything that comes back is bounded (see `limits.rs`, `origin.rs`, `digest.rs`): each
//! request has a total deadline that its retries and backoff share
//! (`Options::request_timeout`; blobs `Options::blob_timeout` plus their size at
//! `Options::blob_min_rate`); every body is read with a cap (manifests
//! `Options::max_manifest_bytes`, tag pages `Options::max_page_bytes`, tokens and error
//! bodies fixed caps, blobs their descriptor's size); credentials go only to the registry's
//! own origin; every digest from outside is checked before use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::auth::{Auth, Challenge, Credential};
use crate::error::RegistryError;
use crate::limits::{Deadline, DeadlineKind, TOKEN_BODY_MAX, error_text, is_deadline, read_capped};
use crate::origin::{RedirectRefused, Target, classify, redirect_policy};
use crate::reference::{Repository, is_loopback};

/// Seconds: [`Options::request_timeout`] and [`Options::blob_timeout`].
pub const ENV_TIMEOUT: &str = "HOIST_REGISTRY_TIMEOUT";
/// KiB per second: [`Options::blob_min_rate`].
pub const ENV_MIN_RATE: &str = "HOIST_REGISTRY_MIN_RATE";

/// Manifest media types hoist asks for and accepts.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json";

/// Called with progress events; the CLI draws bars from them.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// What a push or pull is doing, for progress display.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A blob needs uploading (or downloading): its size.
    BlobStart { digest: String, size: u64 },
    /// More bytes of a blob went over the wire.
    BlobBytes { digest: String, bytes: u64 },
    /// The blob is in place.
    BlobDone { digest: String },
    /// A request or upload is retried after a failure.
    Retry { what: String, attempt: u32, reason: String },
    /// A manifest was put under a tag.
    Manifest { tag: String },
}

/// How the client behaves; the defaults suit ECR and a local registry alike.
#[derive(Clone)]
pub struct Options {
    /// Parallel blob transfers.
    pub jobs: usize,
    /// Extra attempts after the first, for each request or blob upload.
    pub retries: u32,
    /// The first backoff; it doubles per attempt, with jitter, up to `backoff_max`.
    pub backoff: Duration,
    pub backoff_max: Duration,
    /// Blobs up to this size are uploaded in one PUT; larger ones are streamed in a PATCH.
    pub monolithic_max: u64,
    /// Other repositories of the same registry to mount missing blobs from.
    pub mount_from: Vec<String>,
    /// Blobs up to this size that the known-blobs cache does not list get no HEAD before
    /// a push: the upload opens with a mount from the repository itself, which answers
    /// 201 when the blob is already there and opens the upload session when it is not.
    /// One request (and round trip) instead of two; where a registry ignores the mount,
    /// at most this many bytes are sent again. Not used when `mount_from` is set.
    pub small_blob_max: u64,
    pub connect_timeout: Duration,
    /// No bytes for this long is a timeout (retried).
    pub read_timeout: Duration,
    /// The total deadline of each request that is not a blob transfer (the `/v2/` check, a
    /// token, a HEAD, a manifest, a tag page, an upload session): every attempt, backoff
    /// and the body share it. `HOIST_REGISTRY_TIMEOUT` sets it (seconds).
    pub request_timeout: Duration,
    /// The fixed part of a blob transfer's total deadline (all its attempts): this plus the
    /// blob's size at `blob_min_rate`. `HOIST_REGISTRY_TIMEOUT` sets it too.
    pub blob_timeout: Duration,
    /// Bytes per second a blob transfer is allowed to be as slow as (`HOIST_REGISTRY_MIN_RATE`,
    /// in KiB/s).
    pub blob_min_rate: u64,
    /// The largest manifest or index accepted (distribution's own limit is 4 MiB).
    pub max_manifest_bytes: u64,
    /// The largest tag-list page accepted (a page of 1000 tags of 128 characters is 135 KB).
    pub max_page_bytes: u64,
    /// At most this many tags, and this many pages, are read from a repository.
    pub max_tags: usize,
    pub max_tag_pages: usize,
    /// Directories in Docker's `certs.d` layout: every `<dir>/<host[:port]>/*.crt` holds CA
    /// certificates trusted for that registry on top of the system's (a private CA).
    pub cert_dirs: Vec<PathBuf>,
    /// Remember which blobs the repository holds after a push (a file next to the layout)
    /// and skip their HEADs next time; a manifest PUT that finds one missing drops it.
    pub blob_cache: bool,
    pub progress: Option<ProgressFn>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            jobs: 4,
            retries: 5,
            backoff: Duration::from_millis(250),
            backoff_max: Duration::from_secs(15),
            monolithic_max: 4 * 1024 * 1024,
            mount_from: Vec::new(),
            small_blob_max: 32 * 1024,
            cert_dirs: vec![PathBuf::from("/etc/docker/certs.d"), PathBuf::from("/etc/containers/certs.d")],
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(60),
            blob_timeout: Duration::from_secs(120),
            blob_min_rate: 256 * 1024,
            max_manifest_bytes: 4 * 1024 * 1024,
            max_page_bytes: 4 * 1024 * 1024,
            max_tags: 100_000,
            max_tag_pages: 2_000,
            blob_cache: true,
            progress: None,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("jobs", &self.jobs)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .field("monolithic_max", &self.monolithic_max)
            .field("mount_from", &self.mount_from)
            .field("small_blob_max", &self.small_blob_max)
            .field("cert_dirs", &self.cert_dirs)
            .field("blob_cache", &self.blob_cache)
            .field("request_timeout", &self.request_timeout)
            .field("blob_timeout", &self.blob_timeout)
            .field("blob_min_rate", &self.blob_min_rate)
            .field("max_manifest_bytes", &self.max_manifest_bytes)
            .field("max_page_bytes", &self.max_page_bytes)
            .field("max_tags", &self.max_tags)
            .field("max_tag_pages", &self.max_tag_pages)
            .finish_non_exhaustive()
    }
}

impl Options {
    /// The defaults with [`ENV_TIMEOUT`] and [`ENV_MIN_RATE`] applied from the environment.
    pub fn from_env() -> Result<Options, RegistryError> {
        Options::from_env_with(|k| std::env::var(k).ok())
    }

    /// [`Options::from_env`] with the environment given (for tests).
    pub fn from_env_with(env: impl Fn(&str) -> Option<String>) -> Result<Options, RegistryError> {
        let mut options = Options::default();
        let number = |name: &str, expected: &str| -> Result<Option<u64>, RegistryError> {
            let Some(value) = env(name).filter(|v| !v.trim().is_empty()) else { return Ok(None) };
            match value.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err(RegistryError::BadSetting {
                    name: name.to_string(),
                    value: value.chars().take(40).collect(),
                    expected: expected.to_string(),
                }),
            }
        };
        if let Some(secs) = number(ENV_TIMEOUT, "a whole number of seconds above 0")? {
            options.request_timeout = Duration::from_secs(secs);
            options.blob_timeout = Duration::from_secs(secs);
        }
        if let Some(kib) = number(ENV_MIN_RATE, "a whole number of KiB per second above 0")? {
            options.blob_min_rate = kib.saturating_mul(1024);
        }
        Ok(options)
    }

    /// The total deadline of a blob transfer of `size` bytes.
    pub fn blob_deadline(&self, size: u64) -> Duration {
        self.blob_timeout + Duration::from_secs(size / self.blob_min_rate.max(1))
    }
}

/// What a request needs to be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Pull,
    Push,
}

/// A client for one repository. Cheap to clone; clones share connections and tokens.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("repository", &self.inner.repo)
            .field("auth", &self.inner.auth)
            .field("options", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    http: reqwest::Client,
    pub(crate) repo: Repository,
    /// `repo.base_url()` parsed: the origin credentials are sent to.
    base: url::Url,
    auth: Auth,
    pub(crate) opts: Options,
    session: tokio::sync::Mutex<Session>,
    /// Every body byte handed to the network, retries included.
    pub(crate) bytes_sent: AtomicU64,
}

#[derive(Default)]
struct Session {
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
    /// A client for `repository` with `auth`.
    pub fn new(repository: Repository, auth: Auth, options: Options) -> Result<Client, RegistryError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("hoist/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .redirect(redirect_policy());
        if !repository.plain_http {
            builder = builder.tls_certs_merge(registry_cas(&options.cert_dirs, &repository.host)?);
        }
        let http =
            builder.build().map_err(|source| RegistryError::Connect { host: repository.host.clone(), source })?;
        let base = url::Url::parse(&repository.base_url())
            .map_err(|_| RegistryError::BadRepository(repository.to_string()))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                repo: repository,
                auth,
                opts: options,
                session: tokio::sync::Mutex::new(Session::default()),
                bytes_sent: AtomicU64::new(0),
            }),
        })
    }

    pub fn repository(&self) -> &Repository {
        &self.inner.repo
    }

    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// Body bytes sent so far by this client, retries included.
    pub fn bytes_sent(&self) -> u64 {
        self.inner.bytes_sent.load(Ordering::SeqCst)
    }

    pub(crate) fn progress(&self, event: Progress) {
        if let Some(p) = &self.inner.opts.progress {
            p(&event);
        }
    }

    fn host(&self) -> &str {
        &self.inner.repo.host
    }

    /// A deadline of [`Options::request_timeout`] from now.
    pub(crate) fn request_deadline(&self) -> Deadline {
        Deadline::new(self.inner.opts.request_timeout, DeadlineKind::Request)
    }

    /// The deadline of a whole blob transfer of `size` bytes, all its attempts included.
    pub(crate) fn blob_deadline(&self, size: u64) -> Deadline {
        Deadline::new(self.inner.opts.blob_deadline(size), DeadlineKind::Blob)
    }

    /// A small request made on the way of `outer`: its own deadline, but never past `outer`.
    fn inner_deadline(&self, outer: &Deadline) -> Deadline {
        outer.capped(self.inner.opts.request_timeout, DeadlineKind::Request)
    }

    /// Sleep before attempt `attempt + 1`: exponential with "equal jitter", never past
    /// `deadline` (the next attempt then finds it passed).
    pub(crate) async fn backoff(&self, attempt: u32, deadline: &Deadline) {
        let base = self.inner.opts.backoff.as_millis() as u64;
        let cap = self.inner.opts.backoff_max.as_millis() as u64;
        let exp = base.saturating_mul(1u64 << attempt.saturating_sub(1).min(20)).min(cap).max(1);
        let ms = exp / 2 + rand::random_range(0..=exp / 2);
        tokio::time::sleep(Duration::from_millis(ms).min(deadline.remaining())).await;
    }

    /// The `Authorization` value for `access`, doing the `/v2/` handshake and the token
    /// request when needed. `rejected` is the value (or `None`) a 401 just refused: a new
    /// token is fetched unless another request already replaced that one, so parallel
    /// requests refused together fetch one token, not one each.
    async fn authorization(
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

    async fn retry_note(&self, what: &str, attempt: u32, reason: &str, deadline: &Deadline) {
        tracing::debug!("{what}: attempt {attempt} failed ({reason}); retrying");
        self.progress(Progress::Retry { what: what.to_string(), attempt, reason: reason.to_string() });
        self.backoff(attempt, deadline).await;
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

    // ----- blobs -------------------------------------------------------------------------

    /// The blob's size when the repository has it.
    pub async fn blob_exists(&self, digest: &str) -> Result<Option<u64>, RegistryError> {
        let url = self.inner.repo.url(&format!("blobs/{digest}"));
        let deadline = self.request_deadline();
        let resp = self.send(Access::Pull, true, &deadline, || Ok(self.inner.http.head(&url))).await?;
        match resp.status() {
            StatusCode::OK => Ok(Some(content_length(resp.headers()).unwrap_or(0))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.fail(resp, "HEAD").await),
        }
    }

    /// Try to mount `digest` from `from`; `Ok(None)` means mounted, `Ok(Some(url))` is an
    /// upload session the registry opened instead.
    pub(crate) async fn mount(&self, digest: &str, from: &str) -> Result<Option<String>, RegistryError> {
        let mut url = url::Url::parse(&self.inner.repo.url("blobs/uploads/")).expect("repository URL");
        url.query_pairs_mut().append_pair("mount", digest).append_pair("from", from);
        let deadline = self.request_deadline();
        let resp = self
            .send(Access::Push, true, &deadline, || Ok(self.inner.http.post(url.clone()).header(CONTENT_LENGTH, 0)))
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => Ok(Some(self.location(&resp, "the mount answer")?)),
            _ => Err(self.fail(resp, "POST").await),
        }
    }

    /// Open an upload session, by `outer` at the latest; returns its URL.
    pub(crate) async fn start_upload(&self, outer: &Deadline) -> Result<String, RegistryError> {
        let url = self.inner.repo.url("blobs/uploads/");
        let deadline = self.inner_deadline(outer);
        let resp = self
            .send(Access::Push, true, &deadline, || Ok(self.inner.http.post(&url).header(CONTENT_LENGTH, 0)))
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.fail(resp, "POST").await);
        }
        self.location(&resp, "a new upload session")
    }

    /// The `Location` of an upload answer, resolved against the request's URL. Another
    /// origin is allowed (it gets no credentials, see `origin.rs`), plain HTTP from an
    /// HTTPS registry is not.
    fn location(&self, resp: &Response, what: &str) -> Result<String, RegistryError> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::MissingHeader { what: what.to_string(), header: "Location".into() })?;
        let url = resp.url().join(loc).map_err(|_| RegistryError::MissingHeader {
            what: format!("{what} (its Location {} is not a URL)", crate::digest::escape(loc)),
            header: "Location".into(),
        })?;
        if classify(&self.inner.base, &url)? == Target::Foreign {
            tracing::debug!("{what}: Location {url} is on another origin; no credentials go there");
        }
        Ok(url.into())
    }

    /// Upload one blob from a file in a fresh session (or `session`), verifying its digest.
    /// Returns the bytes sent.
    pub(crate) async fn upload_blob(
        &self,
        path: &Path,
        digest: &str,
        size: u64,
        session: Option<String>,
        deadline: &Deadline,
    ) -> Result<u64, RegistryError> {
        let location = match session {
            Some(l) => l,
            None => self.start_upload(deadline).await?,
        };
        let io = |e: std::io::Error| RegistryError::LayoutIo { what: format!("reading blob {digest}"), source: e };
        if size <= self.inner.opts.monolithic_max {
            let data = Bytes::from(tokio::fs::read(path).await.map_err(io)?);
            check_digest(&format!("local blob {}", path.display()), digest, &sha256(&data))?;
            let put_url = with_digest(&location, digest);
            let len = data.len() as u64;
            let resp = self
                .send(Access::Push, false, deadline, || {
                    Ok(self
                        .inner
                        .http
                        .put(&put_url)
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .header(CONTENT_LENGTH, len)
                        .body(data.clone()))
                })
                .await?;
            self.inner.bytes_sent.fetch_add(len, Ordering::SeqCst);
            self.progress(Progress::BlobBytes { digest: digest.to_string(), bytes: len });
            if !matches!(resp.status(), StatusCode::CREATED | StatusCode::NO_CONTENT) {
                return Err(self.fail(resp, "PUT").await);
            }
            self.check_header_digest(resp.headers(), digest)?;
            return Ok(len);
        }

        // Large blob: one streaming PATCH, hashed as it goes, then a PUT with the digest.
        let hasher = Arc::new(std::sync::Mutex::new(Sha256::new()));
        let sent = Arc::new(AtomicU64::new(0));
        let session_url = location.clone();
        let resp = {
            let hasher = hasher.clone();
            let sent = sent.clone();
            let path = path.to_path_buf();
            let digest_s = digest.to_string();
            let client = self.clone();
            self.send(Access::Push, false, deadline, move || {
                let file = std::fs::File::open(&path).map_err(io)?;
                *hasher.lock().expect("hasher") = Sha256::new();
                let stream = file_stream(file, hasher.clone(), sent.clone(), client.clone(), digest_s.clone());
                Ok(client
                    .inner
                    .http
                    .patch(&location)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, size)
                    .body(reqwest::Body::wrap_stream(stream)))
            })
            .await?
        };
        // ECR answers a PATCH with 201; the spec says 202.
        if !matches!(resp.status(), StatusCode::ACCEPTED | StatusCode::CREATED | StatusCode::NO_CONTENT) {
            return Err(self.fail(resp, "PATCH").await);
        }
        let next = match self.location(&resp, "the PATCH answer") {
            Err(e @ RegistryError::Downgrade { .. }) => return Err(e),
            other => other.unwrap_or(session_url),
        };
        let actual = format!("sha256:{}", hex::encode(hasher.lock().expect("hasher").clone().finalize()));
        check_digest(&format!("local blob {}", path.display()), digest, &actual)?;
        let put_url = with_digest(&next, digest);
        let put_deadline = self.inner_deadline(deadline);
        let resp = self
            .send(Access::Push, false, &put_deadline, || Ok(self.inner.http.put(&put_url).header(CONTENT_LENGTH, 0)))
            .await?;
        if !matches!(resp.status(), StatusCode::CREATED | StatusCode::NO_CONTENT) {
            return Err(self.fail(resp, "PUT").await);
        }
        self.check_header_digest(resp.headers(), digest)?;
        Ok(sent.load(Ordering::SeqCst))
    }

    /// Stream the blob `digest` of `size` bytes (its descriptor's) into `sink`, verifying its
    /// digest. Stops with an error as soon as more than `size` bytes arrived, and at the
    /// blob deadline. Returns its size.
    pub(crate) async fn download_blob(
        &self,
        digest: &str,
        size: u64,
        sink: &mut (dyn std::io::Write + Send),
    ) -> Result<u64, RegistryError> {
        let digest = &crate::digest::validate(self.host(), "the digest of a blob to fetch", digest)?;
        let url = self.inner.repo.url(&format!("blobs/{digest}"));
        let deadline = self.blob_deadline(size);
        let mut resp = self.send(Access::Pull, true, &deadline, || Ok(self.inner.http.get(&url))).await?;
        if resp.status() != StatusCode::OK {
            return Err(self.fail(resp, "GET").await);
        }
        let too_large = |url: &str| RegistryError::TooLarge {
            what: format!("blob {digest} (its descriptor declares {size} bytes)"),
            url: url.to_string(),
            limit: size,
        };
        let got_url = resp.url().to_string();
        if resp.content_length().is_some_and(|n| n > size) {
            return Err(too_large(&got_url));
        }
        let mut hasher = Sha256::new();
        let mut got = 0u64;
        loop {
            let chunk = match tokio::time::timeout(deadline.remaining(), resp.chunk()).await {
                Err(_) => return Err(deadline.error("GET", &got_url, 1)),
                Ok(Err(e)) if is_deadline(&e, &deadline) => return Err(deadline.error("GET", &got_url, 1)),
                Ok(Err(e)) => return Err(self.transport_error(e, "GET", &got_url, 1)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => chunk,
            };
            got += chunk.len() as u64;
            if got > size {
                return Err(too_large(&got_url));
            }
            hasher.update(&chunk);
            sink.write_all(&chunk)
                .map_err(|e| RegistryError::LayoutIo { what: format!("writing blob {digest}"), source: e })?;
            self.progress(Progress::BlobBytes { digest: digest.to_string(), bytes: chunk.len() as u64 });
        }
        check_digest(
            &format!("blob {digest} from {}", self.inner.repo),
            digest,
            &format!("sha256:{}", hex::encode(hasher.finalize())),
        )?;
        Ok(got)
    }

    // ----- manifests and tags ------------------------------------------------------------

    /// The digest a tag (or digest) points to, or `None` when there is no such manifest.
    pub async fn manifest_digest(&self, reference: &str) -> Result<Option<String>, RegistryError> {
        let url = self.inner.repo.url(&format!("manifests/{reference}"));
        let deadline = self.request_deadline();
        let resp = self
            .send(Access::Pull, true, &deadline, || Ok(self.inner.http.head(&url).header(ACCEPT, MANIFEST_ACCEPT)))
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::OK => match resp.headers().get("docker-content-digest") {
                Some(value) => {
                    let text = String::from_utf8_lossy(value.as_bytes());
                    let what = format!("the Docker-Content-Digest of `{reference}`");
                    Ok(Some(crate::digest::validate(self.host(), &what, &text)?))
                }
                // Not every registry sends the header on HEAD; the body says for sure.
                None => Ok(Some(self.get_manifest(reference).await?.digest)),
            },
            _ => Err(self.fail(resp, "HEAD").await),
        }
    }

    /// The manifest bytes (at most `Options::max_manifest_bytes`), media type and digest
    /// (computed, and checked against the reference when it is a digest).
    pub async fn get_manifest(&self, reference: &str) -> Result<Manifest, RegistryError> {
        let url = self.inner.repo.url(&format!("manifests/{reference}"));
        let deadline = self.request_deadline();
        let resp = self
            .send(Access::Pull, true, &deadline, || Ok(self.inner.http.get(&url).header(ACCEPT, MANIFEST_ACCEPT)))
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(self.fail(resp, "GET").await);
        }
        let media_type = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let header_digest = match resp.headers().get("docker-content-digest") {
            Some(value) => {
                let text = String::from_utf8_lossy(value.as_bytes());
                let what = format!("the Docker-Content-Digest of `{reference}`");
                Some(crate::digest::validate(self.host(), &what, &text)?)
            }
            None => None,
        };
        let what = format!("the manifest `{reference}`");
        let bytes = read_capped(resp, self.inner.opts.max_manifest_bytes, &what, "GET", &deadline).await?;
        let digest = sha256(&bytes);
        if reference.starts_with("sha256:") {
            check_digest(&format!("manifest {reference}"), reference, &digest)?;
        }
        if let Some(h) = header_digest {
            check_digest(&format!("manifest `{reference}`"), &h, &digest)?;
        }
        Ok(Manifest { bytes, media_type, digest })
    }

    /// Put a manifest under `reference` (a tag); returns its digest.
    pub async fn put_manifest(&self, reference: &str, bytes: Bytes, media_type: &str) -> Result<String, RegistryError> {
        let url = self.inner.repo.url(&format!("manifests/{reference}"));
        let deadline = self.request_deadline();
        let resp = self
            .send(Access::Push, true, &deadline, || {
                Ok(self.inner.http.put(&url).header(CONTENT_TYPE, media_type).body(bytes.clone()))
            })
            .await?;
        if !matches!(resp.status(), StatusCode::CREATED | StatusCode::OK | StatusCode::NO_CONTENT) {
            return Err(self.fail(resp, "PUT").await);
        }
        let digest = sha256(&bytes);
        // ECR omits Location; the digest header, when present, must agree.
        self.check_header_digest(resp.headers(), &digest)?;
        Ok(digest)
    }

    /// Every tag of the repository, following `Link` pagination with pages of at most 1000
    /// (ECR's limit). Bounded: each page by `Options::max_page_bytes`, the whole by
    /// `Options::max_tags` and `Options::max_tag_pages`; a `Link` to another origin or to a
    /// page already read ends the listing with an error (a partial list could make another
    /// release look like the latest). Tags that break the OCI tag grammar are dropped.
    pub async fn list_tags(&self) -> Result<Vec<String>, RegistryError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let opts = &self.inner.opts;
        let mut url = url::Url::parse(&format!("{}?n=1000", self.inner.repo.url("tags/list"))).expect("repository URL");
        let mut seen = std::collections::HashSet::new();
        let mut tags = Vec::new();
        let mut dropped = 0usize;
        loop {
            if seen.len() >= opts.max_tag_pages {
                return Err(RegistryError::TooManyTags {
                    registry: self.host().to_string(),
                    what: "pages",
                    limit: opts.max_tag_pages,
                });
            }
            seen.insert(url.to_string());
            let deadline = self.request_deadline();
            let resp = self.send(Access::Pull, true, &deadline, || Ok(self.inner.http.get(url.clone()))).await?;
            if resp.status() != StatusCode::OK {
                return Err(self.fail(resp, "GET").await);
            }
            let page_url = resp.url().clone();
            let next = resp.headers().get("link").and_then(|v| v.to_str().ok()).and_then(next_link);
            let body = read_capped(resp, opts.max_page_bytes, "a tag-list page", "GET", &deadline).await?;
            let page: Page = serde_json::from_slice(&body)
                .map_err(|e| RegistryError::BadJson { what: "the tag list".into(), message: e.to_string() })?;
            for tag in page.tags.unwrap_or_default() {
                if hoist_version::names::check_oci_tag(&tag).is_err() {
                    dropped += 1;
                    continue;
                }
                if tags.len() >= opts.max_tags {
                    return Err(RegistryError::TooManyTags {
                        registry: self.host().to_string(),
                        what: "tags",
                        limit: opts.max_tags,
                    });
                }
                tags.push(tag);
            }
            let Some(link) = next else { break };
            // RFC 8288: a relative target is relative to the URL the page came from.
            let next_url = page_url.join(&link).map_err(|_| RegistryError::ForeignLink {
                registry: self.host().to_string(),
                url: crate::digest::escape(&link),
            })?;
            if classify(&self.inner.base, &next_url)? != Target::Own {
                return Err(RegistryError::ForeignLink {
                    registry: self.host().to_string(),
                    url: next_url.to_string(),
                });
            }
            if seen.contains(next_url.as_str()) {
                return Err(RegistryError::LinkLoop {
                    registry: self.host().to_string(),
                    url: next_url.to_string(),
                    pages: seen.len(),
                });
            }
            url = next_url;
        }
        if dropped > 0 {
            tracing::warn!("ignored {dropped} tag(s) of {} that are not valid OCI tags", self.inner.repo);
        }
        Ok(tags)
    }

    /// A `Docker-Content-Digest` on an answer, when present, must be valid and `expected`.
    fn check_header_digest(&self, headers: &HeaderMap, expected: &str) -> Result<(), RegistryError> {
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

/// A manifest as fetched.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: String,
}

/// `<url>; rel="next"` from a `Link` header.
pub(crate) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        let t = target.trim();
        is_next.then(|| t.trim_start_matches('<').trim_end_matches('>').to_string())
    })
}

fn with_digest(location: &str, digest: &str) -> String {
    match url::Url::parse(location) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair("digest", digest);
            u.into()
        }
        Err(_) => format!("{location}{}digest={digest}", if location.contains('?') { '&' } else { '?' }),
    }
}

pub(crate) fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub(crate) fn check_digest(what: &str, expected: &str, actual: &str) -> Result<(), RegistryError> {
    if expected == actual {
        Ok(())
    } else {
        Err(RegistryError::DigestMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

fn retryable_status(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

fn retryable_error(e: &reqwest::Error) -> bool {
    !is_tls(e) && (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body())
}

/// rustls errors reach us as text inside io errors; a connect error over https whose
/// cause is invalid data is a handshake that failed (a plain-HTTP server answering, say).
fn is_tls(e: &reqwest::Error) -> bool {
    let https = e.url().is_some_and(|u| u.scheme() == "https");
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        let text = s.to_string().to_ascii_lowercase();
        if ["certificate", "tls", "handshake", "corrupt message", "alert received"].iter().any(|w| text.contains(w)) {
            return true;
        }
        if https
            && e.is_connect()
            && s.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData)
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// The CA certificates `cert_dirs` hold for `host` (`<dir>/<host>/*.crt`, as Docker and
/// skopeo read them). A missing directory is no error; an unreadable or empty file is.
fn registry_cas(cert_dirs: &[PathBuf], host: &str) -> Result<Vec<reqwest::Certificate>, RegistryError> {
    let mut certs = Vec::new();
    for dir in cert_dirs {
        let Ok(entries) = std::fs::read_dir(dir.join(host)) else { continue };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "crt"))
            .collect();
        files.sort();
        for path in files {
            let fail = |message: String| RegistryError::CaCert { path: path.display().to_string(), message };
            let pem = std::fs::read(&path).map_err(|e| fail(e.to_string()))?;
            let found = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| fail(e.to_string()))?;
            if found.is_empty() {
                return Err(fail("no PEM certificate in it".into()));
            }
            tracing::debug!("trusting {} CA certificate(s) from {} for {host}", found.len(), path.display());
            certs.extend(found);
        }
    }
    Ok(certs)
}

fn error_detail(body: &str) -> String {
    if let Ok(b) = serde_json::from_str::<ErrorBody>(body) {
        let parts: Vec<String> = b.errors.iter().map(|e| format!("{}: {}", e.code, e.message)).collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    body.chars().take(200).collect::<String>().trim().to_string()
}

/// Read a file in chunks on the blocking pool, hashing and counting what is handed out.
fn file_stream(
    file: std::fs::File,
    hasher: Arc<std::sync::Mutex<Sha256>>,
    sent: Arc<AtomicU64>,
    client: Client,
    digest: String,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    const CHUNK: usize = 1024 * 1024;
    futures::stream::try_unfold(Some(file), move |file| {
        let hasher = hasher.clone();
        let sent = sent.clone();
        let client = client.clone();
        let digest = digest.clone();
        async move {
            let Some(mut file) = file else { return Ok(None) };
            let (file, buf) = tokio::task::spawn_blocking(move || {
                use std::io::Read;
                let mut buf = vec![0u8; CHUNK];
                let mut filled = 0;
                while filled < CHUNK {
                    let n = file.read(&mut buf[filled..])?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                buf.truncate(filled);
                Ok::<_, std::io::Error>((file, buf))
            })
            .await
            .map_err(std::io::Error::other)??;
            if buf.is_empty() {
                return Ok(None);
            }
            hasher.lock().expect("hasher").update(&buf);
            let n = buf.len() as u64;
            sent.fetch_add(n, Ordering::SeqCst);
            client.inner.bytes_sent.fetch_add(n, Ordering::SeqCst);
            client.progress(Progress::BlobBytes { digest, bytes: n });
            Ok(Some((Bytes::from(buf), Some(file))))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/shop/tags/list?last=b&n=1000>; rel="next""#).as_deref(),
            Some("/v2/shop/tags/list?last=b&n=1000")
        );
        assert_eq!(
            next_link(r#"<https://r/x?last=a>; rel="prev", <https://r/y?last=z>; rel="next""#).as_deref(),
            Some("https://r/y?last=z")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }

    #[test]
    fn digest_query_is_appended() {
        assert_eq!(
            with_digest("http://h/v2/s/blobs/uploads/u?_state=abc", "sha256:00"),
            "http://h/v2/s/blobs/uploads/u?_state=abc&digest=sha256%3A00"
        );
        assert_eq!(
            with_digest("http://h/v2/s/blobs/uploads/u", "sha256:00"),
            "http://h/v2/s/blobs/uploads/u?digest=sha256%3A00"
        );
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_detail(r#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#),
            "NAME_UNKNOWN: repository name not known to registry"
        );
        assert_eq!(error_detail("plain"), "plain");
    }
}
