//! Pulling a tag from the repository into the local layout: manifest, config and layers,
//! each verified against its digest, blobs the layout already has skipped.
//!
//! A tag that is an image index (a multi-platform release) is pulled as the index plus the
//! image of this host's platform only: the layout is where `hoist image export` and
//! `docker load` take images from, and they run here; the other platforms' manifests stay
//! in the registry (the index still names them, as one fetched from a registry does).

use futures::{StreamExt, TryStreamExt};
use hoist_oci::{Descriptor, ImageManifest, Layout, MediaType, Platform};
use serde::Serialize;

use crate::client::{Client, Progress};
use crate::digest::check_digest;
use crate::error::RegistryError;

/// What a pull did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PullReport {
    pub tag: String,
    /// The ref it got in the layout.
    pub reference: String,
    pub digest: String,
    /// The platform whose image was pulled, when the tag is an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub blobs_fetched: usize,
    pub blobs_present: usize,
    pub bytes_fetched: u64,
}

impl Client {
    /// Bring `tag` into `layout` under the ref `ref_name`; an index with this host's
    /// platform's image ([`hoist_oci::index::host_platform`]).
    pub async fn pull_image(&self, layout: &Layout, tag: &str, ref_name: &str) -> Result<PullReport, RegistryError> {
        self.pull_image_for(layout, tag, ref_name, &hoist_oci::index::host_platform()).await
    }

    /// As [`Client::pull_image`], taking `platform`'s image of an index.
    pub async fn pull_image_for(
        &self,
        layout: &Layout,
        tag: &str,
        ref_name: &str,
        platform: &Platform,
    ) -> Result<PullReport, RegistryError> {
        let top = self.get_manifest(tag).await?;
        let top_type = media_type_of(&top.media_type);
        if !hoist_oci::layout::is_index(&MediaType::from(top_type.as_str())) {
            let (mut report, bytes, media_type) = self.pull_manifest(layout, tag, top, top_type).await?;
            let (digest, size) = layout.write_blob(&bytes)?;
            check_digest(&format!("manifest `{tag}`"), &report.digest, digest.as_ref())?;
            layout.set_ref(ref_name, Descriptor::new(MediaType::from(media_type.as_str()), size, digest))?;
            report.reference = ref_name.to_string();
            return Ok(report);
        }
        // The index is stored (without a ref yet) first, so the platform's entry is chosen
        // by the layout's own rule, the one builds use.
        let (index_digest, index_size) = layout.write_blob(&top.bytes)?;
        check_digest(&format!("manifest `{tag}`"), &top.digest, index_digest.as_ref())?;
        let index_desc = Descriptor::new(MediaType::from(top_type.as_str()), index_size, index_digest);
        let entry = layout.platform_manifest(tag, index_desc.clone(), platform)?;
        let child_digest = entry.digest().to_string();
        crate::digest::validate(
            &self.inner.repo.host,
            &format!("a manifest digest in the index `{tag}`"),
            &child_digest,
        )?;
        let child = self.get_manifest(&child_digest).await?;
        let child_type =
            if child.media_type.is_empty() { entry.media_type().to_string() } else { media_type_of(&child.media_type) };
        let (mut report, bytes, _) = self.pull_manifest(layout, &child_digest, child, child_type).await?;
        let (written, _) = layout.write_blob(&bytes)?;
        check_digest(&format!("manifest {child_digest} of `{tag}`"), &child_digest, written.as_ref())?;
        layout.set_ref(ref_name, index_desc)?;
        report.tag = tag.to_string();
        report.reference = ref_name.to_string();
        report.digest = top.digest;
        report.platform = Some(platform.to_string());
        Ok(report)
    }

    /// Fetch one image manifest's config and layers into the layout (the caller stores
    /// the manifest and the ref); returns the report, the manifest bytes and media type.
    async fn pull_manifest(
        &self,
        layout: &Layout,
        tag: &str,
        manifest: crate::client::Manifest,
        media_type: String,
    ) -> Result<(PullReport, bytes::Bytes, String), RegistryError> {
        if media_type != MediaType::ImageManifest.to_string()
            && media_type != "application/vnd.docker.distribution.manifest.v2+json"
        {
            return Err(RegistryError::UnsupportedManifest { reference: tag.to_string(), media_type });
        }
        let parsed = ImageManifest::from_reader(&manifest.bytes[..])
            // The parser's message may quote the registry's bytes: shown escaped.
            .map_err(|e| RegistryError::BadJson {
                what: format!("the manifest of `{tag}`"),
                message: crate::digest::escape(&e.to_string()),
            })?;
        let mut blobs = vec![parsed.config().clone()];
        blobs.extend(parsed.layers().iter().cloned());
        // The layout and the URLs see only digests hoist verifies.
        for d in &blobs {
            crate::digest::validate(
                &self.inner.repo.host,
                &format!("a blob digest in the manifest of `{tag}`"),
                d.digest().as_ref(),
            )?;
        }
        let jobs = self.inner.opts.jobs.max(1);
        let results: Vec<Option<u64>> = futures::stream::iter(blobs)
            .map(|d| async move {
                if layout.has_blob(d.digest()) {
                    return Ok(None);
                }
                let digest = d.digest().to_string();
                self.progress(Progress::BlobStart { digest: digest.clone(), size: d.size() });
                let mut writer = layout.blob_writer()?;
                let size = self.download_blob(&digest, d.size(), &mut writer).await?;
                let (written, _) = writer.finish()?;
                check_digest(&format!("blob {digest} of `{tag}`"), &digest, written.as_ref())?;
                self.progress(Progress::BlobDone { digest });
                Ok::<_, RegistryError>(Some(size))
            })
            .buffer_unordered(jobs)
            .try_collect()
            .await?;
        let report = PullReport {
            tag: tag.to_string(),
            reference: String::new(),
            digest: manifest.digest,
            platform: None,
            blobs_fetched: results.iter().filter(|r| r.is_some()).count(),
            blobs_present: results.iter().filter(|r| r.is_none()).count(),
            bytes_fetched: results.iter().flatten().sum(),
        };
        Ok((report, manifest.bytes, media_type))
    }
}

/// The media type of a `Content-Type` header (parameters dropped); an empty one is an
/// OCI manifest, as registries that omit it serve.
fn media_type_of(content_type: &str) -> String {
    if content_type.is_empty() {
        MediaType::ImageManifest.to_string()
    } else {
        content_type.split(';').next().unwrap_or_default().trim().to_string()
    }
}
