//! Manifests: the digest a tag points to (HEAD, falling back to the body), a manifest's
//! bytes (capped, digest computed and checked), and putting one under a tag.

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use super::{Access, Client};
use crate::digest::{check_digest, sha256};
use crate::error::RegistryError;
use crate::limits::read_capped;

/// Manifest media types hoist asks for and accepts.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json";

impl Client {
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
}

impl Client {
    /// Tag the manifest `from` names as `to` as well: its bytes, fetched (digest checked)
    /// and put back under the new tag. The digest stays the same and no blob moves, so an
    /// image carried into a new release costs one GET and one PUT.
    pub async fn retag(&self, from: &str, to: &str) -> Result<String, RegistryError> {
        let manifest = self.get_manifest(from).await?;
        let digest = self.put_manifest(to, manifest.bytes, &manifest.media_type).await?;
        check_digest(&format!("manifest `{to}` re-tagged from `{from}`"), &manifest.digest, &digest)?;
        Ok(digest)
    }

    /// A small blob (an image config) whose descriptor says `size` bytes, read into
    /// memory and verified; refused above `Options::max_manifest_bytes`, so a descriptor
    /// from outside cannot make hoist buffer a layer.
    pub async fn get_small_blob(&self, digest: &str, size: u64) -> Result<Vec<u8>, RegistryError> {
        let limit = self.inner.opts.max_manifest_bytes;
        if size > limit {
            return Err(RegistryError::TooLarge {
                what: format!("blob {digest} (its descriptor declares {size} bytes)"),
                url: self.inner.repo.url(&format!("blobs/{digest}")),
                limit,
            });
        }
        let mut out = Vec::with_capacity(size as usize);
        self.download_blob(digest, size, &mut out).await?;
        Ok(out)
    }
}

/// A manifest as fetched.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: String,
}
