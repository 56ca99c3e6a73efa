//! Registry errors: each names the registry, repository, tag or digest it is about, and
//! says how to fix it. Credentials never appear in them.

use hoist_diag::{Diagnostic, Exit};

use crate::auth::CredentialSource;
use crate::limits::DeadlineKind;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("`{0}` is not a repository: expected `host[:port]/path`, e.g. `127.0.0.1:5000/shop`")]
    BadRepository(String),

    #[error("refusing plain HTTP to `{host}`: only loopback registries are reached without TLS")]
    InsecureRefused { host: String },

    #[error("TLS handshake with `{host}` failed")]
    Tls {
        host: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("cannot connect to the registry `{host}`")]
    Connect {
        host: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("{method} {url} failed after {attempts} attempt(s)")]
    Transport {
        method: String,
        url: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },

    #[error(
        "the registry `{host}` refused access to `{repository}` ({status}); credentials used: {source_desc}{}",
        detail_suffix(.reason)
    )]
    Unauthorized {
        host: String,
        repository: String,
        status: u16,
        source_desc: CredentialSource,
        /// What the registry or token service said: the challenge's `error` (e.g.
        /// `insufficient_scope`) and the body's message; empty when nothing.
        reason: String,
    },

    #[error("the repository `{repository}` does not exist on `{host}`")]
    RepositoryNotFound { host: String, repository: String },

    #[error("{method} {url}: the registry answered {status}{}", detail_suffix(.detail))]
    Status { method: String, url: String, status: u16, detail: String },

    #[error("the registry's authentication challenge from `{host}` is not understood: {challenge}")]
    BadChallenge { host: String, challenge: String },

    #[error("the token service `{realm}` did not give a token ({status}){}", detail_suffix(.detail))]
    Token { realm: String, status: u16, detail: String },

    #[error("cannot read the Docker config {path}: {message}")]
    DockerConfig { path: String, message: String },

    #[error("cannot use the CA certificate {path}: {message}")]
    CaCert { path: String, message: String },

    #[error("the credential helper `docker-credential-{helper}` failed for `{host}`")]
    CredentialHelper {
        helper: String,
        host: String,
        #[source]
        source: hoist_cmd::CmdError,
    },

    #[error("the credential helper `docker-credential-{helper}` answered something that is not its JSON format")]
    CredentialHelperOutput { helper: String },

    #[error("tag `{tag}` already points to {existing}, not to this release's {new}")]
    TagConflict { tag: String, existing: String, new: String },

    #[error("the push plan does not fit {what}: {reason}")]
    PlanMismatch { what: String, reason: String },

    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch { what: String, expected: String, actual: String },

    #[error("the registry sent {what} without a `{header}` header")]
    MissingHeader { what: String, header: String },

    #[error("the registry's answer for {what} is not valid JSON: {message}")]
    BadJson { what: String, message: String },

    #[error(
        "unsupported manifest media type `{media_type}` for `{reference}` (hoist pushes and pulls single-platform images)"
    )]
    UnsupportedManifest { reference: String, media_type: String },

    #[error("the image tag template `{template}` cannot be read back for --latest: {reason}")]
    Template { template: String, reason: String },

    #[error("local image layout")]
    Layout(#[from] hoist_oci::OciError),

    #[error("local image layout: {what}")]
    LayoutIo {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("the image `{0}` is not in the local layout")]
    MissingImage(String),

    #[error("blob {digest} of `{image}` is not in the local layout")]
    MissingBlob { image: String, digest: String },

    #[error("blob {digest} is not in the base repository `{repository}` any more")]
    BaseBlobGone { digest: String, repository: String },

    #[error(
        "the base `{reference}` an image was built on is not a registry reference, so its layers cannot be fetched"
    )]
    BadBase { reference: String },

    #[error("{method} {url} did not finish within its deadline of {} s ({attempts} attempt(s))", .limit.as_secs_f64())]
    Deadline { method: String, url: String, limit: std::time::Duration, kind: DeadlineKind, attempts: u32 },

    #[error("{what} from {url} is larger than {limit} bytes; refusing it")]
    TooLarge { what: String, url: String, limit: u64 },

    #[error("the registry `{registry}` pointed the tag list to another origin: {url}")]
    ForeignLink { registry: String, url: String },

    #[error("the registry `{registry}` sent hoist from HTTPS to plain HTTP: {url}")]
    Downgrade { registry: String, url: String },

    #[error("{method} {url}: redirect not followed: {reason}")]
    Redirect { method: String, url: String, reason: String },

    #[error("the tag list of `{registry}` loops: page {url} came again after {pages} page(s)")]
    LinkLoop { registry: String, url: String, pages: usize },

    #[error("the tag list of `{registry}` has more than {limit} {what}")]
    TooManyTags { registry: String, what: &'static str, limit: usize },

    #[error("the registry `{registry}` sent {value} as {what}, which is not a sha256 digest")]
    BadDigest { registry: String, what: String, value: String },

    #[error("{name}={value:?} is not valid: expected {expected}")]
    BadSetting { name: String, value: String, expected: String },
}

impl RegistryError {
    /// Whether trying again (with a fresh upload session) may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            RegistryError::Transport { .. } | RegistryError::Connect { .. } => true,
            // 404/416 after a reset: the upload session is gone or out of step.
            RegistryError::Status { status, .. } => *status >= 500 || matches!(status, 404 | 416 | 429),
            _ => false,
        }
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() { String::new() } else { format!(": {detail}") }
}

impl Diagnostic for RegistryError {
    fn exit(&self) -> Exit {
        match self {
            RegistryError::Layout(e) => e.exit(),
            RegistryError::BadRepository(_)
            | RegistryError::InsecureRefused { .. }
            | RegistryError::Tls { .. }
            | RegistryError::Connect { .. }
            | RegistryError::Unauthorized { .. }
            | RegistryError::RepositoryNotFound { .. }
            | RegistryError::DockerConfig { .. }
            | RegistryError::CaCert { .. }
            | RegistryError::CredentialHelper { .. }
            | RegistryError::CredentialHelperOutput { .. }
            | RegistryError::TagConflict { .. }
            | RegistryError::PlanMismatch { .. }
            | RegistryError::Template { .. }
            | RegistryError::MissingImage(_)
            | RegistryError::MissingBlob { .. }
            | RegistryError::BadBase { .. }
            | RegistryError::BaseBlobGone { .. }
            // A registry that is this slow, this big, or sends this is broken or hostile:
            // the hints say what to check or raise.
            | RegistryError::Deadline { .. }
            | RegistryError::TooLarge { .. }
            | RegistryError::ForeignLink { .. }
            | RegistryError::Downgrade { .. }
            | RegistryError::Redirect { .. }
            | RegistryError::LinkLoop { .. }
            | RegistryError::TooManyTags { .. }
            | RegistryError::BadDigest { .. }
            | RegistryError::BadSetting { .. } => Exit::User,
            _ => Exit::Unexpected,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            RegistryError::BadRepository(_) => "set `[registry] repository` in hoist.toml".into(),
            RegistryError::InsecureRefused { host } => {
                format!("serve `{host}` over TLS, or set `[registry] insecure = true` if plain HTTP is intended")
            }
            RegistryError::Tls { host, .. } => format!(
                "check that `{host}` serves a certificate this machine trusts: install its CA in the system store or as /etc/docker/certs.d/{host}/ca.crt; or set `[registry] insecure = true` for a plain-HTTP registry"
            ),
            RegistryError::CaCert { .. } => {
                "a `*.crt` file under certs.d must hold PEM certificates (-----BEGIN CERTIFICATE-----)".into()
            }
            RegistryError::Connect { host, .. } => {
                format!("check that the registry `{host}` is running and reachable from here")
            }
            RegistryError::Unauthorized { host, repository, source_desc, reason, .. } => match source_desc {
                CredentialSource::None { .. } => format!(
                    "log in with `docker login {host}` (or an ECR credential helper), or set HOIST_REGISTRY_USERNAME and HOIST_REGISTRY_PASSWORD"
                ),
                _ if reason.contains("insufficient_scope") => format!(
                    "the credentials were accepted but do not allow this on `{repository}`: check the repository name, and that the account may push to it (ECR: the IAM policy's ecr:* actions on the repository)"
                ),
                _ if reason.contains("invalid_token") => format!(
                    "`{host}` refused a token its own token service issued: check this machine's clock, then log in again"
                ),
                CredentialSource::Env => {
                    "check HOIST_REGISTRY_USERNAME and HOIST_REGISTRY_PASSWORD (they take precedence over config.json)"
                        .into()
                }
                CredentialSource::DockerConfig { path, .. } => {
                    format!("run `docker login {host}` again to refresh the entry in {path}")
                }
                CredentialSource::Helper { helper, .. } => format!(
                    "refresh the credentials of `docker-credential-{helper}` (for ECR: check the AWS profile and region; tokens last 12 hours)"
                ),
                CredentialSource::Explicit => "check the credentials passed to hoist".into(),
            },
            RegistryError::RepositoryNotFound { repository, .. } => format!(
                "create the repository first: ECR does not create repositories on push (`aws ecr create-repository --repository-name {}`); on other registries, check `[registry] repository`",
                repository
            ),
            RegistryError::TagConflict { .. } => {
                "releases are immutable: tag a new release, or pass --force to move the tag".into()
            }
            RegistryError::PlanMismatch { .. } => {
                "the layout or the repository changed since the plan was made: plan the push again".into()
            }
            RegistryError::CredentialHelper { helper, .. } => {
                format!(
                    "check that `docker-credential-{helper}` is on PATH and works: `echo HOST | docker-credential-{helper} get`"
                )
            }
            RegistryError::Layout(e) => return hoist_diag::Diagnostic::hint(e),
            RegistryError::MissingImage(_) | RegistryError::MissingBlob { .. } => {
                "build the images first with `hoist image`".into()
            }
            RegistryError::BaseBlobGone { .. } => {
                "the base was deleted or garbage-collected upstream: pin a base that exists (`hoist image update-base`) and build the images again".into()
            }
            RegistryError::BadBase { .. } => {
                "import the base into the layout with `hoist image import`, or build on a base from a registry (`[image] base = \"HOST/REPO:TAG\"`)".into()
            }
            RegistryError::Template { .. } => "use `--tag TAG`, or an image tag like `{service}_{tag}`".into(),
            RegistryError::Deadline { kind: DeadlineKind::Request, .. } => format!(
                "a registry or token service this slow is overloaded, broken or hostile; if it is only slow, raise the deadline with {}=SECONDS (default {} s)",
                crate::client::ENV_TIMEOUT,
                crate::client::Options::default().request_timeout.as_secs()
            ),
            RegistryError::Deadline { kind: DeadlineKind::Blob, .. } => format!(
                "blob transfers get {}=SECONDS (default {} s) plus their size at {}=KIB_PER_SECOND (default {} KiB/s); raise either for a slow link",
                crate::client::ENV_TIMEOUT,
                crate::client::Options::default().blob_timeout.as_secs(),
                crate::client::ENV_MIN_RATE,
                crate::client::Options::default().blob_min_rate / 1024
            ),
            RegistryError::TooLarge { .. } => {
                "the registry is broken or hostile: distribution itself refuses manifests over 4 MiB, and a blob never exceeds the size its descriptor declares".into()
            }
            RegistryError::ForeignLink { .. } => {
                "hoist lists tags only from the registry's own origin (scheme, host, port) and sends credentials nowhere else; check `[registry] repository` and the registry's proxy settings (its external URL)".into()
            }
            RegistryError::Downgrade { .. } | RegistryError::Redirect { .. } => {
                "hoist never leaves TLS once it started with it, nor follows more than 10 redirects; check the registry's external URL and its proxy".into()
            }
            RegistryError::LinkLoop { .. } => {
                "the registry's `Link` pagination is broken; report it to the registry's operators".into()
            }
            RegistryError::TooManyTags { .. } => {
                "prune old tags in the repository, or raise `Options::max_tags` / `max_tag_pages` in library use".into()
            }
            RegistryError::BadDigest { .. } => {
                "the registry is broken or hostile: a digest is `sha256:` and 64 lowercase hex digits; nothing was used from it".into()
            }
            RegistryError::BadSetting { .. } => "fix or unset the variable".into(),
            RegistryError::DigestMismatch { .. } => {
                "the data was corrupted in transit or on disk; run again, and rebuild the image if it repeats".into()
            }
            _ => return None,
        })
    }
}
