//! Pulling a tag from the repository into the local layout: manifest, config and layers,
//! each verified against its digest, blobs the layout already has skipped.

use futures::{StreamExt, TryStreamExt};
use hoist_oci::{Descriptor, ImageManifest, Layout, MediaType};
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
    pub blobs_fetched: usize,
    pub blobs_present: usize,
    pub bytes_fetched: u64,
}

impl Client {
    /// Bring `tag` into `layout` under the ref `ref_name`.
    pub async fn pull_image(&self, layout: &Layout, tag: &str, ref_name: &str) -> Result<PullReport, RegistryError> {
        let manifest = self.get_manifest(tag).await?;
        let media_type = if manifest.media_type.is_empty() {
            MediaType::ImageManifest.to_string()
        } else {
            manifest.media_type.split(';').next().unwrap_or_default().trim().to_string()
        };
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
        let (digest, size) = layout.write_blob(&manifest.bytes)?;
        check_digest(&format!("manifest `{tag}`"), &manifest.digest, digest.as_ref())?;
        layout.set_ref(ref_name, Descriptor::new(MediaType::from(media_type.as_str()), size, digest))?;
        Ok(PullReport {
            tag: tag.to_string(),
            reference: ref_name.to_string(),
            digest: manifest.digest,
            blobs_fetched: results.iter().filter(|r| r.is_some()).count(),
            blobs_present: results.iter().filter(|r| r.is_none()).count(),
            bytes_fetched: results.iter().flatten().sum(),
        })
    }
}
