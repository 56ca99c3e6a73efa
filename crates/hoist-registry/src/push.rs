//! Pushing images from the local layout into the repository: the plan and its types here,
//! doing it in `push/execute.rs`.
//!
//! Plan first (which tags exist, which blobs the registry lacks), then upload every
//! missing blob once across all images, in parallel with a bound; put each image's
//! manifest only after all of its blobs are in, so no tag ever points at a partial image.
//! Releases are immutable: a tag that already points at the same digest is left alone, and
//! one that points elsewhere is refused unless forced (checked before anything is sent).
//!
//! A push asks about a blob in as few requests as it can, because on a small release the
//! request heads are a good part of the bytes sent: blobs the known-blobs cache
//! (`cache.rs`) lists get no request at all, small unlisted ones (`small_blob_max`) no HEAD
//! either in [`Client::push_images`] (their upload opens with a mount from the repository
//! itself, which answers 201 when the blob is there), and only large unlisted ones a HEAD.
//! [`Client::plan`] (`--dry-run`, and `hoist release` before it pushes) sends a HEAD for
//! every unlisted blob, changing nothing; [`Client::push_planned`] then asks nothing again.
//!
//! Blobs the known-blobs cache lists are taken as present without a HEAD. The
//! registry still checks every manifest's blobs on PUT; when it answers
//! `MANIFEST_BLOB_UNKNOWN`, the cache is dropped and that image is pushed again the slow
//! way (HEAD each blob, upload what is missing, PUT again), so a stale cache costs time,
//! never a broken or partial image.
//!
//! Layers the layout lacks are allowed when the manifest names its base
//! (`org.opencontainers.image.base.name`, see `copy.rs`): they stay in that registry
//! repository and reach the target by, in order, being there already (HEAD or the cache),
//! a cross-repository mount when both are on the same registry, or a copy streamed from
//! the base's registry into the upload, digest verified on the way (`client/blobs.rs`).
//! A layout ref that is an OCI index (or Docker manifest list) is pushed as its child
//! manifests' blobs, each child manifest by digest, then the index under the tag.

mod execute;

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use hoist_oci::{ImageManifest, Layout, MediaType};
use oci_spec::image::ImageIndex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cache::BlobCache;
use crate::client::Client;
use crate::digest::sha256;
use crate::error::RegistryError;

/// One image to push: a ref in the local layout and the tag it gets in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PushRequest {
    pub source: String,
    pub tag: String,
}

/// What happens to a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TagAction {
    /// The tag already points at this image: nothing to do.
    Unchanged,
    /// A new tag.
    Create,
    /// The tag points elsewhere and `force` moves it.
    Replace,
    /// The tag points elsewhere; refused without `force`.
    Conflict,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedImage {
    pub source: String,
    pub tag: String,
    pub digest: String,
    /// What the tag points at in the registry now.
    pub existing: Option<String>,
    pub action: TagAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedBlob {
    pub digest: String,
    pub size: u64,
    /// False when the registry already has it.
    pub upload: bool,
    /// True when "already has it" comes from the known-blobs cache (no HEAD was sent).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// True when the registry was not asked yet (a small blob): its upload asks first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unasked: bool,
    /// The tags whose images use it.
    pub used_by: Vec<String>,
    /// Not in the layout: the base repository (`host/path`) it is mounted or copied from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// What a push would do; `--dry-run` prints it, [`Client::push_planned`] does it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PushPlan {
    pub repository: String,
    pub images: Vec<PlannedImage>,
    /// Blobs of the images to create or replace, each once.
    pub blobs: Vec<PlannedBlob>,
    /// Sum of the sizes of blobs to upload.
    pub upload_bytes: u64,
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PushReport {
    pub repository: String,
    pub images: Vec<PlannedImage>,
    pub blobs_uploaded: usize,
    pub blobs_mounted: usize,
    /// Blobs the registry already had.
    pub blobs_skipped: usize,
    /// Sum of the sizes of the blobs uploaded.
    pub bytes_uploaded: u64,
    /// Blobs copied from their base's registry (streamed, not stored).
    #[serde(default)]
    pub blobs_copied: usize,
    /// Sum of the sizes of the blobs copied.
    #[serde(default)]
    pub bytes_copied: u64,
    /// Body bytes handed to the network, retries included.
    pub bytes_sent: u64,
    /// What became of each blob of the plan, in the plan's order.
    #[serde(default)]
    pub blobs: Vec<BlobOutcome>,
}

impl PushReport {
    /// The report of one image (for single-image callers).
    pub fn image(&self, tag: &str) -> Option<&PlannedImage> {
        self.images.iter().find(|i| i.tag == tag)
    }
}

/// What became of one blob in a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BlobOutcome {
    pub digest: String,
    pub size: u64,
    pub outcome: BlobResult,
    /// The base repository a blob the layout lacks came from (mounted or copied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlobResult {
    /// Its bytes went up.
    Uploaded,
    /// Mounted from another repository of the registry (`Options::mount_from`, or the
    /// base repository of a layer the layout lacks).
    Mounted,
    /// Copied from the base's registry, streamed through hoist.
    Copied,
    /// The registry had it: the plan found it there (a HEAD or the known-blobs cache), or
    /// a small blob's upload did.
    Present,
}

/// An image (or index) as read from the layout: verified manifest bytes and its blobs.
pub(crate) struct LocalImage {
    request: PushRequest,
    digest: String,
    media_type: String,
    bytes: Bytes,
    /// An index's child manifests (digest, media type, bytes), put by digest before it.
    children: Vec<(String, String, Bytes)>,
    /// Every blob of the image (of all children of an index), each once, config first.
    pub(crate) blobs: Vec<(String, u64)>,
    /// Blobs the layout lacks → the base repository they are in.
    pub(crate) remote: BTreeMap<String, String>,
}

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

fn is_manifest(media_type: &MediaType) -> bool {
    matches!(media_type, MediaType::ImageManifest) || media_type.to_string() == DOCKER_MANIFEST
}

pub(crate) fn read_local(layout: &Layout, request: &PushRequest) -> Result<LocalImage, RegistryError> {
    let descriptor = layout.resolve(&request.source)?;
    let media_type = descriptor.media_type().to_string();
    let missing = |digest: String| RegistryError::MissingBlob { image: request.source.clone(), digest };
    // read_blob checks the digest.
    let read = |d: &hoist_oci::Digest| match layout.read_blob(d) {
        Err(hoist_oci::OciError::BlobMissing { .. }) => Err(missing(d.to_string())),
        other => other.map_err(RegistryError::from),
    };
    let bytes = read(descriptor.digest())?;
    let mut local = LocalImage {
        request: request.clone(),
        digest: descriptor.digest().to_string(),
        media_type: media_type.clone(),
        bytes: Bytes::new(),
        children: Vec::new(),
        blobs: Vec::new(),
        remote: BTreeMap::new(),
    };
    if hoist_oci::layout::is_index(descriptor.media_type()) {
        let index = ImageIndex::from_reader(&bytes[..]).map_err(|e| RegistryError::BadJson {
            what: format!("the index of `{}`", request.source),
            message: e.to_string(),
        })?;
        for child in index.manifests() {
            if !is_manifest(child.media_type()) {
                return Err(RegistryError::UnsupportedManifest {
                    reference: format!("{}@{}", request.source, child.digest()),
                    media_type: child.media_type().to_string(),
                });
            }
            let child_bytes = read(child.digest())?;
            add_manifest_blobs(layout, request, &child_bytes, &mut local)?;
            local.children.push((child.digest().to_string(), child.media_type().to_string(), Bytes::from(child_bytes)));
        }
    } else if is_manifest(descriptor.media_type()) {
        add_manifest_blobs(layout, request, &bytes, &mut local)?;
    } else {
        return Err(RegistryError::UnsupportedManifest { reference: request.source.clone(), media_type });
    }
    local.bytes = Bytes::from(bytes);
    Ok(local)
}

/// Add a manifest's config and layers to `local`'s blobs. A layer the layout lacks is
/// taken from the manifest's base repository; without one (or for the config) it is
/// [`RegistryError::MissingBlob`].
fn add_manifest_blobs(
    layout: &Layout,
    request: &PushRequest,
    bytes: &[u8],
    local: &mut LocalImage,
) -> Result<(), RegistryError> {
    let manifest = ImageManifest::from_reader(bytes).map_err(|e| RegistryError::BadJson {
        what: format!("the manifest of `{}`", request.source),
        message: e.to_string(),
    })?;
    let base = manifest.annotations().as_ref().and_then(|a| a.get(crate::copy::BASE_NAME));
    let layers = manifest.layers().iter().map(|l| (l.digest().to_string(), l.size(), true));
    let config = std::iter::once((manifest.config().digest().to_string(), manifest.config().size(), false));
    for (digest, size, is_layer) in config.chain(layers) {
        let missing = || RegistryError::MissingBlob { image: request.source.clone(), digest: digest.clone() };
        let d = digest.parse::<hoist_oci::Digest>().map_err(|_| missing())?;
        if !layout.has_blob(&d) {
            match base {
                Some(base) if is_layer => {
                    let repo = crate::copy::base_repository(base)?;
                    local.remote.insert(digest.clone(), repo.to_string());
                }
                _ => return Err(missing()),
            }
        }
        if !local.blobs.iter().any(|(b, _)| *b == digest) {
            local.blobs.push((digest, size));
        }
    }
    Ok(())
}

fn blob_path(layout: &Layout, digest: &str) -> PathBuf {
    match digest.parse::<hoist_oci::Digest>() {
        Ok(d) => layout.blob_path(&d),
        Err(_) => layout.dir().join("blobs").join("invalid"),
    }
}

impl Client {
    /// Say what pushing `requests` would do, changing nothing in the registry.
    pub async fn plan(&self, layout: &Layout, requests: &[PushRequest]) -> Result<PushPlan, RegistryError> {
        self.plan_inner(layout, requests, false).await
    }

    /// With `defer_small`, small blobs the cache does not list are left `unasked`.
    async fn plan_inner(
        &self,
        layout: &Layout,
        requests: &[PushRequest],
        defer_small: bool,
    ) -> Result<PushPlan, RegistryError> {
        let locals: Vec<LocalImage> = requests.iter().map(|r| read_local(layout, r)).collect::<Result<_, _>>()?;
        let jobs = self.inner.opts.jobs.max(1);
        let existing: Vec<Option<String>> = futures::stream::iter(locals.iter())
            .map(|l| self.manifest_digest(&l.request.tag))
            .buffered(jobs)
            .try_collect()
            .await?;
        let mut images = Vec::new();
        let mut wanted: BTreeMap<String, (u64, Vec<String>, Option<String>)> = BTreeMap::new();
        for (local, existing) in locals.iter().zip(existing) {
            let action = match &existing {
                None => TagAction::Create,
                Some(d) if *d == local.digest => TagAction::Unchanged,
                Some(_) => TagAction::Conflict,
            };
            if action != TagAction::Unchanged {
                for (digest, size) in &local.blobs {
                    let from = local.remote.get(digest).cloned();
                    wanted.entry(digest.clone()).or_insert((*size, Vec::new(), from)).1.push(local.request.tag.clone());
                }
            }
            images.push(PlannedImage {
                source: local.request.source.clone(),
                tag: local.request.tag.clone(),
                digest: local.digest.clone(),
                existing,
                action,
            });
        }
        let known = self.blob_cache(layout).map(|c| c.load()).unwrap_or_default();
        // With other repositories to mount from, a small blob is asked by a HEAD as before:
        // the first mount that opens a session ends the asking.
        let small_max = if self.inner.opts.mount_from.is_empty() { self.inner.opts.small_blob_max } else { 0 };
        let known_state: Vec<Known> = futures::stream::iter(wanted.iter())
            .map(|(d, (size, _, _))| {
                let cached = known.get(d) == Some(size);
                async move {
                    Ok::<_, RegistryError>(if cached {
                        Known::Cached
                    } else if defer_small && *size <= small_max {
                        Known::Unasked
                    } else if self.blob_exists(d).await?.is_some() {
                        Known::Present
                    } else {
                        Known::Missing
                    })
                }
            })
            .buffered(jobs)
            .try_collect()
            .await?;
        let blobs: Vec<PlannedBlob> = wanted
            .into_iter()
            .zip(known_state)
            .map(|((digest, (size, used_by, from)), known)| PlannedBlob {
                digest,
                size,
                upload: matches!(known, Known::Missing | Known::Unasked),
                cached: known == Known::Cached,
                unasked: known == Known::Unasked,
                used_by,
                from,
            })
            .collect();
        let upload_bytes = blobs.iter().filter(|b| b.upload).map(|b| b.size).sum();
        Ok(PushPlan { repository: self.inner.repo.to_string(), images, blobs, upload_bytes })
    }

    /// The known-blobs cache of this repository for `layout`, unless turned off.
    fn blob_cache(&self, layout: &Layout) -> Option<BlobCache> {
        self.inner.opts.blob_cache.then(|| BlobCache::new(layout.dir(), &self.inner.repo))
    }
}

/// What the plan knows of a blob before the push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// The known-blobs cache lists it.
    Cached,
    /// A HEAD found it.
    Present,
    /// A HEAD did not find it.
    Missing,
    /// Small and not listed: not asked yet.
    Unasked,
}

/// The digest of manifest bytes (what a tag will point to).
pub fn manifest_digest(bytes: &[u8]) -> String {
    sha256(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> PushReport {
        PushReport {
            repository: "127.0.0.1:5000/shop".into(),
            images: vec![PlannedImage {
                source: "api_v1".into(),
                tag: "api_v1".into(),
                digest: format!("sha256:{}", "a".repeat(64)),
                existing: None,
                action: TagAction::Create,
            }],
            blobs_uploaded: 1,
            blobs_mounted: 1,
            blobs_skipped: 1,
            bytes_uploaded: 3,
            blobs_copied: 1,
            bytes_copied: 3,
            bytes_sent: 6,
            blobs: [BlobResult::Uploaded, BlobResult::Mounted, BlobResult::Present, BlobResult::Copied]
                .into_iter()
                .enumerate()
                .map(|(i, outcome)| BlobOutcome {
                    digest: format!("sha256:{}", i.to_string().repeat(64)),
                    size: 3,
                    outcome,
                    from: (outcome == BlobResult::Copied).then(|| "127.0.0.1:5001/library/jre".into()),
                })
                .collect(),
        }
    }

    /// Release records hold reports and read them back; outcomes are snake_case words.
    #[test]
    fn reports_read_back_and_name_outcomes_in_snake_case() {
        let report = report();
        let json = serde_json::to_value(&report).unwrap();
        let words: Vec<&str> =
            json["blobs"].as_array().unwrap().iter().map(|b| b["outcome"].as_str().unwrap()).collect();
        assert_eq!(words, ["uploaded", "mounted", "present", "copied"]);
        assert_eq!(json["blobs"][3]["from"], "127.0.0.1:5001/library/jre");
        assert!(json["blobs"][0].get("from").is_none(), "{json}");
        assert_eq!(serde_json::from_value::<PushReport>(json).unwrap(), report);
    }

    /// The schemas describe what is serialised: the same fields, the outcome's three words.
    #[test]
    fn the_report_schema_names_every_serialised_field() {
        let schema = serde_json::to_value(schemars::schema_for!(PushReport)).unwrap();
        let printed = serde_json::to_value(report()).unwrap();
        let mut properties: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        let mut fields: Vec<&String> = printed.as_object().unwrap().keys().collect();
        properties.sort();
        fields.sort();
        assert_eq!(properties, fields);
        let text = schema.to_string();
        for word in ["uploaded", "mounted", "present", "copied", "create", "conflict"] {
            assert!(text.contains(&format!("\"{word}\"")), "{word} missing from {text}");
        }
    }

    /// A plan's optional flags are left out when false and read back as false.
    #[test]
    fn plans_read_back_with_their_flags() {
        let blob = |cached: bool, unasked: bool| PlannedBlob {
            digest: format!("sha256:{}", "b".repeat(64)),
            size: 9,
            upload: !cached,
            cached,
            unasked,
            used_by: vec!["api_v1".into()],
            from: None,
        };
        let plan = PushPlan {
            repository: "127.0.0.1:5000/shop".into(),
            images: report().images,
            blobs: vec![blob(false, false), blob(true, false), blob(false, true)],
            upload_bytes: 18,
        };
        let json = serde_json::to_value(&plan).unwrap();
        assert!(json["blobs"][0].get("cached").is_none() && json["blobs"][0].get("unasked").is_none(), "{json}");
        assert_eq!(json["blobs"][1]["cached"], true);
        assert_eq!(serde_json::from_value::<PushPlan>(json).unwrap(), plan);
        let schema = serde_json::to_value(schemars::schema_for!(PushPlan)).unwrap();
        let required = schema["required"].as_array().unwrap();
        assert_eq!(required.len(), 4, "{schema}");
        let request = serde_json::to_value(schemars::schema_for!(PushRequest)).unwrap();
        assert_eq!(request["required"], serde_json::json!(["source", "tag"]));
    }
}
