//! The OCI distribution API client: auth, blob HEAD/mount/upload, manifests, tags, pull.
//!
//! All of a project's images go into ONE repository, tagged `<service>_<tag>` (the
//! `[registry] image_tag` template). This crate pushes them there from the local OCI
//! layout, finds one release's images among the tags again, and pulls them back.
//!
//! ```no_run
//! # async fn demo(layout: &hoist_oci::Layout) -> Result<(), hoist_registry::RegistryError> {
//! use hoist_registry::{Auth, Client, Options, PushRequest, Repository};
//! let repo = Repository::parse("127.0.0.1:5000/shop", false)?;
//! let auth = Auth::resolve(&repo.host)?; // env, then ~/.docker/config.json, else anonymous
//! let client = Client::new(repo, auth, Options::default())?;
//! let requests = vec![PushRequest { source: "api_v1.0.0-abc1234".into(), tag: "api_v1.0.0-abc1234".into() }];
//! let plan = client.plan(layout, &requests).await?; // what --dry-run prints
//! let report = client.push_planned(layout, &plan, false).await?; // that plan, no HEAD again
//! let tags = client.list_tags().await?;
//! # let _ = (plan, report, tags); Ok(()) }
//! ```
//!
//! - [`Client::push_images`] / [`Client::push_image`]: HEAD each large blob and skip what
//!   the registry has (small ones, `Options::small_blob_max`, are asked by their upload's
//!   first request, a mount from the repository itself), else mount
//!   (`Options::mount_from`) or upload (one PUT up to
//!   `Options::monolithic_max`, else one streamed PATCH; 201/202/204 accepted); every blob
//!   of all the images goes up once, `Options::jobs` at a time; each manifest is put only
//!   after its blobs; a tag that exists with the same digest is a no-op, with another digest
//!   a [`RegistryError::TagConflict`] unless `force`. Returns a [`PushReport`] with each
//!   blob's [`BlobOutcome`] (uploaded, mounted or present).
//! - Known-blobs cache (`Options::blob_cache`, on by default): after a successful push the
//!   digests the repository holds are kept in `<layout>/.hoist-cache/registry/<host_repo>.json`;
//!   the next push and plan skip the HEAD for those. A manifest PUT refused with
//!   `MANIFEST_BLOB_UNKNOWN` (the registry lost or collected a blob) drops the file and
//!   pushes that image again with HEADs and uploads.
//! - [`Client::plan`]: the same decisions without writing ([`PushPlan`], every unlisted blob
//!   asked by a HEAD); [`Client::push_planned`] does a plan without asking again
//!   (`push_images` is `plan` + `push_planned`). Plans and reports are `Deserialize` and
//!   `JsonSchema`, so a release record can hold them and be read back.
//! - [`Client::list_tags`] (pages of 1000, `Link` headers), [`select_release`],
//!   [`latest_releases`], [`Client::resolve_release`] ([`ReleaseImage`]s with digests).
//! - [`Client::pull_image`]: a tag into the layout, digests verified.
//! - [`Auth`]: `HOIST_REGISTRY_USERNAME`/`HOIST_REGISTRY_PASSWORD`, Docker `config.json`
//!   (`auths`, `credsStore`, `credHelpers`), anonymous; Basic and Bearer challenges, tokens
//!   cached per scope and refreshed. Secrets are never in `Debug`, logs or errors.
//! - Retries with exponential backoff and jitter on 5xx, 429, resets and timeouts
//!   (`Options::retries`); a failed blob upload restarts in a new session after a HEAD.
//! - Hostile registries are bounded: a total deadline per request, retries included
//!   (`Options::request_timeout`, blobs `blob_timeout` + size at `blob_min_rate`;
//!   `HOIST_REGISTRY_TIMEOUT`, `HOIST_REGISTRY_MIN_RATE` via [`Options::from_env`]); capped
//!   bodies (manifests 4 MiB, tag pages, tokens, error bodies; a blob stops at its declared
//!   size); bounded, loop-free tag pagination; credentials only to the registry's own
//!   origin (`origin.rs`); every digest from outside validated ([`digest::validate`]).
//! - TLS by default, with the system's roots plus a private CA from Docker's `certs.d`
//!   layout (`Options::cert_dirs`); plain HTTP only for loopback registries or `insecure`.
//!
//! Hand-written on reqwest rather than `oci-client`: that crate's `push()` uploads every
//! layer (no HEAD, no mount), takes layers in memory, rejects ECR's 201 on PATCH in its
//! streaming path, and has no `config.json` or credential helper support.

pub mod auth;
pub mod base;
pub mod blobcache;
mod cache;
pub mod client;
pub mod copy;
pub mod digest;
pub mod error;
pub mod limits;
mod origin;
pub mod pull;
pub mod push;
pub mod reference;
pub mod release;

pub use auth::{Auth, Credential, CredentialSource};
pub use base::{BaseError, BaseRef, Resolved};
pub use client::{Client, Manifest, Options, Progress, ProgressFn};
pub use error::RegistryError;
pub use limits::DeadlineKind;
pub use pull::PullReport;
pub use push::{BlobOutcome, BlobResult, PlannedBlob, PlannedImage, PushPlan, PushReport, PushRequest, TagAction};
pub use reference::Repository;
pub use release::{ReleaseImage, latest_releases, select_release, service_of};
