//! The distribution API client: [`Client`] for one repository, its [`Options`] and the
//! progress events it reports. The protocol itself lives in one file per concern, as
//! go-containerregistry splits it: `transport` (send, deadlines, redirects, retries),
//! `handshake` (challenge, bearer tokens and their cache; `auth.rs` only finds the
//! credentials), `blobs` (HEAD, mount, upload, download), `manifests` (get, put, digest),
//! `tags` (listing with `Link` paging) and `tls` (the CA certificates of `certs.d`).
//!
//! Everything that comes back is bounded (see `limits.rs`, `origin.rs`, `digest.rs`): each
//! request has a total deadline that its retries and backoff share
//! (`Options::request_timeout`; blobs `Options::blob_timeout` plus their size at
//! `Options::blob_min_rate`); every body is read with a cap (manifests
//! `Options::max_manifest_bytes`, tag pages `Options::max_page_bytes`, tokens and error
//! bodies fixed caps, blobs their descriptor's size); credentials go only to the registry's
//! own origin; every digest from outside is checked before use.

mod blobs;
mod handshake;
mod manifests;
mod tags;
mod tls;
mod transport;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::auth::Auth;
use crate::error::RegistryError;
use crate::limits::{Deadline, DeadlineKind};
use crate::origin::redirect_policy;
use crate::reference::Repository;

pub use manifests::{MANIFEST_ACCEPT, Manifest};

use handshake::Session;

/// Seconds: [`Options::request_timeout`] and [`Options::blob_timeout`].
pub const ENV_TIMEOUT: &str = "HOIST_REGISTRY_TIMEOUT";
/// KiB per second: [`Options::blob_min_rate`].
pub const ENV_MIN_RATE: &str = "HOIST_REGISTRY_MIN_RATE";

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

impl Client {
    /// A client for `repository` with `auth`.
    pub fn new(repository: Repository, auth: Auth, options: Options) -> Result<Client, RegistryError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("hoist/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .redirect(redirect_policy());
        if !repository.plain_http {
            builder = tls::configure(builder, &options.cert_dirs, &repository)?;
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
}
