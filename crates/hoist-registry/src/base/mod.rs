//! Base images from registries, as Jib and ko take them: a reference normalised as Docker
//! does (`reference`), resolved to the manifest and config of each wanted platform and kept
//! in the local layout under its normalised name, without ever fetching a layer (`resolve`).
//! Pinning the digests (`hoist.lock`) is the caller's: this module resolves a tag, or
//! fetches a digest it is given.

mod reference;
mod resolve;

pub use reference::{BadReference, BaseRef, DOCKER_HUB, DOCKER_HUB_API, DOCKER_HUB_AUTH_KEY};
pub use resolve::{Resolved, resolve};

use hoist_diag::{Diagnostic, Exit};

use crate::error::RegistryError;

/// What can go wrong resolving a base image; each names the reference.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    #[error(transparent)]
    BadReference(#[from] BadReference),

    #[error("the base image `{reference}` does not exist on the registry `{registry}`{}", suffix(.detail))]
    NotFound { reference: String, registry: String, detail: String },

    #[error("the base image `{reference}` has no manifest for {platform}; it has: {}", list(.available))]
    NoPlatform { reference: String, platform: String, available: Vec<String> },

    #[error("hoist.lock pins `{reference}` to {digest}, which the registry `{registry}` no longer has")]
    PinnedGone { reference: String, digest: String, registry: String },

    #[error("cannot reach the registry of the base image `{reference}` at {url}")]
    Unreachable {
        reference: String,
        url: String,
        #[source]
        source: RegistryError,
    },

    #[error("the registry `{registry}` served {what} for `{reference}`, which is not an image: {message}")]
    BadManifest { reference: String, registry: String, what: String, message: String },

    #[error("base image `{reference}`")]
    Registry {
        reference: String,
        #[source]
        source: RegistryError,
    },

    #[error("local image layout")]
    Layout(#[from] hoist_oci::OciError),
}

fn suffix(d: &str) -> String {
    if d.is_empty() { String::new() } else { format!(" ({d})") }
}

fn list(items: &[String]) -> String {
    if items.is_empty() { "no platform at all".into() } else { items.join(", ") }
}

impl Diagnostic for BaseError {
    fn exit(&self) -> Exit {
        match self {
            BaseError::Registry { source, .. } => source.exit(),
            BaseError::Layout(e) => e.exit(),
            _ => Exit::User,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            BaseError::BadReference(_) => {
                "write it as `docker pull` takes it: `eclipse-temurin:17-jre`, `ghcr.io/org/image:tag`, `name@sha256:…`"
                    .into()
            }
            BaseError::NotFound { .. } => "check the name and tag as `docker pull` spells them (Docker Hub's official images are `name:tag`, others `org/name:tag` or `host/path:tag`); a private image needs `docker login` first".into(),
            BaseError::NoPlatform { .. } => {
                "build for a platform the base has (`[image] platforms` in hoist.toml, or `--platform`), or choose a base that has this one".into()
            }
            BaseError::PinnedGone { .. } => {
                "the tag was moved and the old image deleted upstream: run `hoist image update-base` to pin what the reference points to now, and commit hoist.lock".into()
            }
            BaseError::Unreachable { .. } => {
                "check the network and the registry's name; with hoist.lock and the layout's cached manifests, builds work offline".into()
            }
            BaseError::BadManifest { .. } => "the registry is broken or hostile; nothing from it was used".into(),
            BaseError::Registry { source, .. } => return source.hint(),
            BaseError::Layout(e) => return e.hint(),
        })
    }
}
