//! The HTTP side of the distribution API: one connection pool, the auth handshake
//! (anonymous, Basic, Bearer tokens cached per scope and refreshed on expiry or 401),
//! and retries with exponential backoff and jitter on 5xx, 429, resets and timeouts.
//!
//! Request-level retries are used only where repeating a request is harmless (HEAD, GET,
//! POST of an upload session, manifest PUT). A blob upload that fails is retried as a whole
//! with a fresh upload session, after a HEAD that finds out whether it landed after all.

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
use crate::reference::{Repository, is_loopback};

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
            .finish_non_exhaustive()
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
            .read_timeout(options.read_timeout);
        if !repository.plain_http {
            builder = builder.tls_certs_merge(registry_cas(&options.cert_dirs, &repository.host)?);
        }
        let http =
            builder.build().map_err(|source| RegistryError::Connect { host: repository.host.clone(), source })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
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

    /// Sleep before attempt `attempt + 1`: exponential with "equal jitter".
    pub(crate) async fn backoff(&self, attempt: u32) {
        let base = self.inner.opts.backoff.as_millis() as u64;
        let cap = self.inner.opts.backoff_max.as_millis() as u64;
        let exp = base.saturating_mul(1u64 << attempt.saturating_sub(1).min(20)).min(cap).max(1);
        let ms = exp / 2 + rand::random_range(0..=exp / 2);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// The `Authorization` value for `access`, doing the `/v2/` handshake and the token
    /// request when needed. `rejected` is the value (or `None`) a 401 just refused: a new
    /// token is fetched unless another request already replaced that one, so parallel
    /// requests refused together fetch one token, not one each.
    async fn authorization(
        &self,
        access: Access,
        rejected: Option<Option<&str>>,
    ) -> Result<Option<String>, RegistryError> {
        let refresh = rejected.is_some();
        let mut session = self.inner.session.lock().await;
        if session.challenge.is_none() || refresh && session.challenge == Some(None) {
            session.challenge = Some(self.ping().await?);
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
                let (token, expiry) = self.fetch_token(&challenge, &scopes).await?;
                session.tokens.insert(key, (token.clone(), expiry));
                Ok(Some(format!("Bearer {token}")))
            }
            _ => {
                Err(RegistryError::BadChallenge { host: self.host().to_string(), challenge: challenge.scheme.clone() })
            }
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
    async fn ping(&self) -> Result<Option<Challenge>, RegistryError> {
        let url = format!("{}/v2/", self.inner.repo.base_url());
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.inner.http.get(&url).send().await {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED => {
                    let header = resp.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
                    return Challenge::parse(header).map(Some).ok_or_else(|| RegistryError::BadChallenge {
                        host: self.host().to_string(),
                        challenge: header.to_string(),
                    });
                }
                Ok(resp) if retryable_status(resp.status()) && attempt <= self.inner.opts.retries => {
                    self.retry_note("GET /v2/", attempt, &resp.status().to_string()).await;
                }
                Ok(_) => return Ok(None),
                Err(e) if retryable_error(&e) && attempt <= self.inner.opts.retries => {
                    self.retry_note("GET /v2/", attempt, &e.to_string()).await;
                }
                Err(e) => return Err(self.transport_error(e, "GET", &url, attempt)),
            }
        }
    }

    async fn retry_note(&self, what: &str, attempt: u32, reason: &str) {
        tracing::debug!("{what}: attempt {attempt} failed ({reason}); retrying");
        self.progress(Progress::Retry { what: what.to_string(), attempt, reason: reason.to_string() });
        self.backoff(attempt).await;
    }

    async fn fetch_token(&self, challenge: &Challenge, scopes: &[String]) -> Result<(String, Instant), RegistryError> {
        let realm = challenge.param("realm").unwrap_or_default().to_string();
        let parsed = url::Url::parse(&realm).map_err(|_| RegistryError::BadChallenge {
            host: self.host().to_string(),
            challenge: format!("realm `{realm}` is not a URL"),
        })?;
        let realm_host = parsed.host_str().unwrap_or_default().to_string();
        if parsed.scheme() != "https" && !is_loopback(&realm_host) && !self.inner.repo.plain_http {
            return Err(RegistryError::InsecureRefused { host: realm_host });
        }
        let service = challenge.param("service").unwrap_or_default();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = match &self.inner.auth.credential {
                Credential::IdentityToken(refresh) => {
                    let mut form = vec![
                        ("grant_type", "refresh_token".to_string()),
                        ("refresh_token", refresh.clone()),
                        ("service", service.to_string()),
                        ("client_id", "hoist".to_string()),
                    ];
                    form.push(("scope", scopes.join(" ")));
                    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
                    self.inner
                        .http
                        .post(parsed.clone())
                        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(body)
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
                    rb
                }
            };
            let resp = match request.send().await {
                Ok(r) => r,
                Err(e) if retryable_error(&e) && attempt <= self.inner.opts.retries => {
                    self.retry_note("token request", attempt, &e.to_string()).await;
                    continue;
                }
                Err(e) => return Err(self.transport_error(e, "GET", &realm, attempt)),
            };
            let status = resp.status();
            if retryable_status(status) && attempt <= self.inner.opts.retries {
                self.retry_note("token request", attempt, &status.to_string()).await;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                let headers = resp.headers().clone();
                let body = resp.text().await.unwrap_or_default();
                return Err(self.unauthorized(status, &headers, &body));
            }
            if !status.is_success() {
                let detail = error_detail(&resp.text().await.unwrap_or_default());
                return Err(RegistryError::Token { realm, status: status.as_u16(), detail });
            }
            let answer: TokenAnswer = resp.json().await.map_err(|e| RegistryError::BadJson {
                what: format!("the token from {realm}"),
                message: e.to_string(),
            })?;
            let token =
                answer.token.or(answer.access_token).filter(|t| !t.is_empty()).ok_or_else(|| RegistryError::Token {
                    realm: realm.clone(),
                    status: status.as_u16(),
                    detail: "no token in the answer".into(),
                })?;
            // Refresh a little before the registry would refuse it.
            let life = answer.expires_in.unwrap_or(60).max(10);
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
        if is_tls(&e) {
            return RegistryError::Tls { host: self.host().to_string(), source: e };
        }
        if e.is_connect() {
            return RegistryError::Connect { host: self.host().to_string(), source: e };
        }
        RegistryError::Transport { method: method.to_string(), url: url.to_string(), attempts, source: e }
    }

    /// Send a request built by `make` with auth; on 401 re-authenticate once; with `retry`,
    /// repeat on transport errors, 5xx and 429.
    pub(crate) async fn send(
        &self,
        access: Access,
        retry: bool,
        make: impl Fn() -> Result<RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        let mut attempt = 0;
        let mut reauthed = false;
        loop {
            attempt += 1;
            let auth = self.authorization(access, None).await?;
            let mut request = make()?.build().map_err(|e| RegistryError::Transport {
                method: "?".into(),
                url: self.inner.repo.to_string(),
                attempts: attempt,
                source: e,
            })?;
            if let Some(value) = &auth {
                request.headers_mut().insert(AUTHORIZATION, value.parse().expect("header value"));
            }
            let method = request.method().to_string();
            let url = request.url().to_string();
            let what = format!("{method} {}", request.url().path());
            match self.inner.http.execute(request).await {
                Err(e) if retry && retryable_error(&e) && attempt <= self.inner.opts.retries => {
                    self.retry_note(&what, attempt, &e.to_string()).await;
                }
                Err(e) => return Err(self.transport_error(e, &method, &url, attempt)),
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !reauthed => {
                    // An expired token, or a registry whose challenge changed: ask again once.
                    reauthed = true;
                    attempt -= 1;
                    self.authorization(access, Some(auth.as_deref())).await?;
                }
                Ok(resp) if retry && retryable_status(resp.status()) && attempt <= self.inner.opts.retries => {
                    self.retry_note(&what, attempt, &resp.status().to_string()).await;
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
        let body = resp.text().await.unwrap_or_default();
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
        let resp = self.send(Access::Pull, true, || Ok(self.inner.http.head(&url))).await?;
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
        let resp =
            self.send(Access::Push, true, || Ok(self.inner.http.post(url.clone()).header(CONTENT_LENGTH, 0))).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => Ok(Some(self.location(&resp, "the mount answer")?)),
            _ => Err(self.fail(resp, "POST").await),
        }
    }

    /// Open an upload session; returns its URL.
    pub(crate) async fn start_upload(&self) -> Result<String, RegistryError> {
        let url = self.inner.repo.url("blobs/uploads/");
        let resp = self.send(Access::Push, true, || Ok(self.inner.http.post(&url).header(CONTENT_LENGTH, 0))).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.fail(resp, "POST").await);
        }
        self.location(&resp, "a new upload session")
    }

    fn location(&self, resp: &Response, what: &str) -> Result<String, RegistryError> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::MissingHeader { what: what.to_string(), header: "Location".into() })?;
        let base = url::Url::parse(&self.inner.repo.base_url()).expect("base URL");
        Ok(base.join(loc).map(String::from).unwrap_or_else(|_| loc.to_string()))
    }

    /// Upload one blob from a file in a fresh session (or `session`), verifying its digest.
    /// Returns the bytes sent.
    pub(crate) async fn upload_blob(
        &self,
        path: &Path,
        digest: &str,
        size: u64,
        session: Option<String>,
    ) -> Result<u64, RegistryError> {
        let location = match session {
            Some(l) => l,
            None => self.start_upload().await?,
        };
        let io = |e: std::io::Error| RegistryError::LayoutIo { what: format!("reading blob {digest}"), source: e };
        if size <= self.inner.opts.monolithic_max {
            let data = Bytes::from(tokio::fs::read(path).await.map_err(io)?);
            check_digest(&format!("local blob {}", path.display()), digest, &sha256(&data))?;
            let put_url = with_digest(&location, digest);
            let len = data.len() as u64;
            let resp = self
                .send(Access::Push, false, || {
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
            check_header_digest(resp.headers(), digest)?;
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
            self.send(Access::Push, false, move || {
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
        let next = self.location(&resp, "the PATCH answer").unwrap_or(session_url);
        let actual = format!("sha256:{}", hex::encode(hasher.lock().expect("hasher").clone().finalize()));
        check_digest(&format!("local blob {}", path.display()), digest, &actual)?;
        let put_url = with_digest(&next, digest);
        let resp =
            self.send(Access::Push, false, || Ok(self.inner.http.put(&put_url).header(CONTENT_LENGTH, 0))).await?;
        if !matches!(resp.status(), StatusCode::CREATED | StatusCode::NO_CONTENT) {
            return Err(self.fail(resp, "PUT").await);
        }
        check_header_digest(resp.headers(), digest)?;
        Ok(sent.load(Ordering::SeqCst))
    }

    /// Stream a blob into `sink`, verifying its digest. Returns its size.
    pub(crate) async fn download_blob(
        &self,
        digest: &str,
        sink: &mut (dyn std::io::Write + Send),
    ) -> Result<u64, RegistryError> {
        let url = self.inner.repo.url(&format!("blobs/{digest}"));
        let mut resp = self.send(Access::Pull, true, || Ok(self.inner.http.get(&url))).await?;
        if resp.status() != StatusCode::OK {
            return Err(self.fail(resp, "GET").await);
        }
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        loop {
            let chunk = resp.chunk().await.map_err(|e| self.transport_error(e, "GET", &url, 1))?;
            let Some(chunk) = chunk else { break };
            hasher.update(&chunk);
            size += chunk.len() as u64;
            sink.write_all(&chunk)
                .map_err(|e| RegistryError::LayoutIo { what: format!("writing blob {digest}"), source: e })?;
            self.progress(Progress::BlobBytes { digest: digest.to_string(), bytes: chunk.len() as u64 });
        }
        check_digest(
            &format!("blob {digest} from {}", self.inner.repo),
            digest,
            &format!("sha256:{}", hex::encode(hasher.finalize())),
        )?;
        Ok(size)
    }

    // ----- manifests and tags ------------------------------------------------------------

    /// The digest a tag (or digest) points to, or `None` when there is no such manifest.
    pub async fn manifest_digest(&self, reference: &str) -> Result<Option<String>, RegistryError> {
        let url = self.inner.repo.url(&format!("manifests/{reference}"));
        let resp =
            self.send(Access::Pull, true, || Ok(self.inner.http.head(&url).header(ACCEPT, MANIFEST_ACCEPT))).await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::OK => match resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()) {
                Some(d) => Ok(Some(d.to_string())),
                // Not every registry sends the header on HEAD; the body says for sure.
                None => Ok(Some(self.get_manifest(reference).await?.digest)),
            },
            _ => Err(self.fail(resp, "HEAD").await),
        }
    }

    /// The manifest bytes, media type and digest (computed, and checked against the
    /// reference when it is a digest).
    pub async fn get_manifest(&self, reference: &str) -> Result<Manifest, RegistryError> {
        let url = self.inner.repo.url(&format!("manifests/{reference}"));
        let resp =
            self.send(Access::Pull, true, || Ok(self.inner.http.get(&url).header(ACCEPT, MANIFEST_ACCEPT))).await?;
        if resp.status() != StatusCode::OK {
            return Err(self.fail(resp, "GET").await);
        }
        let media_type = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let header_digest = resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(String::from);
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e, "GET", &url, 1))?;
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
        let resp = self
            .send(Access::Push, true, || {
                Ok(self.inner.http.put(&url).header(CONTENT_TYPE, media_type).body(bytes.clone()))
            })
            .await?;
        if !matches!(resp.status(), StatusCode::CREATED | StatusCode::OK | StatusCode::NO_CONTENT) {
            return Err(self.fail(resp, "PUT").await);
        }
        let digest = sha256(&bytes);
        // ECR omits Location; the digest header, when present, must agree.
        check_header_digest(resp.headers(), &digest)?;
        Ok(digest)
    }

    /// Every tag of the repository, following `Link` pagination with pages of at most 1000
    /// (ECR's limit).
    pub async fn list_tags(&self) -> Result<Vec<String>, RegistryError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let base = url::Url::parse(&self.inner.repo.base_url()).expect("base URL");
        let mut url = format!("{}?n=1000", self.inner.repo.url("tags/list"));
        let mut tags = Vec::new();
        for _ in 0..100_000 {
            let resp = self.send(Access::Pull, true, || Ok(self.inner.http.get(&url))).await?;
            if resp.status() != StatusCode::OK {
                return Err(self.fail(resp, "GET").await);
            }
            let next = resp.headers().get("link").and_then(|v| v.to_str().ok()).and_then(next_link);
            let page: Page = resp
                .json()
                .await
                .map_err(|e| RegistryError::BadJson { what: "the tag list".into(), message: e.to_string() })?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(link) => url = base.join(&link).map(String::from).unwrap_or(link),
                None => break,
            }
        }
        Ok(tags)
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

fn check_header_digest(headers: &HeaderMap, expected: &str) -> Result<(), RegistryError> {
    match headers.get("docker-content-digest").and_then(|v| v.to_str().ok()) {
        Some(d) => check_digest("the registry's Docker-Content-Digest", expected, d),
        None => Ok(()),
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
