//! Pushing images from the local layout into the repository.
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
//! either (their upload opens with a mount from the repository itself, which answers 201
//! when the blob is there), and only large unlisted ones a HEAD. `--dry-run` plans with
//! HEADs for every unlisted blob, changing nothing.
//!
//! Blobs the known-blobs cache lists are taken as present without a HEAD. The
//! registry still checks every manifest's blobs on PUT; when it answers
//! `MANIFEST_BLOB_UNKNOWN`, the cache is dropped and that image is pushed again the slow
//! way (HEAD each blob, upload what is missing, PUT again), so a stale cache costs time,
//! never a broken or partial image.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use hoist_oci::{ImageManifest, Layout, MediaType};
use serde::Serialize;

use crate::cache::BlobCache;
use crate::client::{Client, Progress};
use crate::digest::{check_digest, sha256};
use crate::error::RegistryError;

/// One image to push: a ref in the local layout and the tag it gets in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    pub source: String,
    pub tag: String,
}

/// What happens to a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
pub struct PlannedImage {
    pub source: String,
    pub tag: String,
    pub digest: String,
    /// What the tag points at in the registry now.
    pub existing: Option<String>,
    pub action: TagAction,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedBlob {
    pub digest: String,
    pub size: u64,
    /// False when the registry already has it.
    pub upload: bool,
    /// True when "already has it" comes from the known-blobs cache (no HEAD was sent).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// True when the registry was not asked yet (a small blob): its upload asks first.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unasked: bool,
    /// The tags whose images use it.
    pub used_by: Vec<String>,
}

/// What a push would do; `--dry-run` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct PushPlan {
    pub repository: String,
    pub images: Vec<PlannedImage>,
    /// Blobs of the images to create or replace, each once.
    pub blobs: Vec<PlannedBlob>,
    /// Sum of the sizes of blobs to upload.
    pub upload_bytes: u64,
}

/// What a push did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PushReport {
    pub repository: String,
    pub images: Vec<PlannedImage>,
    pub blobs_uploaded: usize,
    pub blobs_mounted: usize,
    /// Blobs the registry already had.
    pub blobs_skipped: usize,
    /// Sum of the sizes of the blobs uploaded.
    pub bytes_uploaded: u64,
    /// Body bytes handed to the network, retries included.
    pub bytes_sent: u64,
}

impl PushReport {
    /// The report of one image (for single-image callers).
    pub fn image(&self, tag: &str) -> Option<&PlannedImage> {
        self.images.iter().find(|i| i.tag == tag)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlobOutcome {
    Mounted,
    Uploaded,
    /// The registry had it already (a small blob's upload found it).
    Present,
}

/// An image as read from the layout: verified manifest bytes and its blobs.
struct LocalImage {
    request: PushRequest,
    digest: String,
    media_type: String,
    bytes: Bytes,
    blobs: Vec<(String, u64)>,
}

fn read_local(layout: &Layout, request: &PushRequest) -> Result<LocalImage, RegistryError> {
    let descriptor = layout.resolve(&request.source)?;
    let media_type = descriptor.media_type().to_string();
    if !matches!(descriptor.media_type(), MediaType::ImageManifest)
        && media_type != "application/vnd.docker.distribution.manifest.v2+json"
    {
        return Err(RegistryError::UnsupportedManifest { reference: request.source.clone(), media_type });
    }
    // read_blob checks the digest.
    let bytes = layout.read_blob(descriptor.digest())?;
    let manifest = ImageManifest::from_reader(&bytes[..]).map_err(|e| RegistryError::BadJson {
        what: format!("the manifest of `{}`", request.source),
        message: e.to_string(),
    })?;
    let mut blobs = vec![(manifest.config().digest().to_string(), manifest.config().size())];
    blobs.extend(manifest.layers().iter().map(|l| (l.digest().to_string(), l.size())));
    for (digest, _) in &blobs {
        let d = digest
            .parse()
            .map_err(|_| RegistryError::MissingBlob { image: request.source.clone(), digest: digest.clone() })?;
        if !layout.has_blob(&d) {
            return Err(RegistryError::MissingBlob { image: request.source.clone(), digest: digest.clone() });
        }
    }
    Ok(LocalImage {
        request: request.clone(),
        digest: descriptor.digest().to_string(),
        media_type,
        bytes: Bytes::from(bytes),
        blobs,
    })
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
        Ok(self.plan_inner(layout, requests, false).await?.0)
    }

    /// With `defer_small`, small blobs the cache does not list are left `unasked`.
    async fn plan_inner(
        &self,
        layout: &Layout,
        requests: &[PushRequest],
        defer_small: bool,
    ) -> Result<(PushPlan, Vec<LocalImage>), RegistryError> {
        let locals: Vec<LocalImage> = requests.iter().map(|r| read_local(layout, r)).collect::<Result<_, _>>()?;
        let jobs = self.inner.opts.jobs.max(1);
        let existing: Vec<Option<String>> = futures::stream::iter(locals.iter())
            .map(|l| self.manifest_digest(&l.request.tag))
            .buffered(jobs)
            .try_collect()
            .await?;
        let mut images = Vec::new();
        let mut wanted: BTreeMap<String, (u64, Vec<String>)> = BTreeMap::new();
        for (local, existing) in locals.iter().zip(existing) {
            let action = match &existing {
                None => TagAction::Create,
                Some(d) if *d == local.digest => TagAction::Unchanged,
                Some(_) => TagAction::Conflict,
            };
            if action != TagAction::Unchanged {
                for (digest, size) in &local.blobs {
                    wanted.entry(digest.clone()).or_insert((*size, Vec::new())).1.push(local.request.tag.clone());
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
            .map(|(d, (size, _))| {
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
            .map(|((digest, (size, used_by)), known)| PlannedBlob {
                digest,
                size,
                upload: matches!(known, Known::Missing | Known::Unasked),
                cached: known == Known::Cached,
                unasked: known == Known::Unasked,
                used_by,
            })
            .collect();
        let upload_bytes = blobs.iter().filter(|b| b.upload).map(|b| b.size).sum();
        let plan = PushPlan { repository: self.inner.repo.to_string(), images, blobs, upload_bytes };
        Ok((plan, locals))
    }

    /// Push several images in one deduplicated pass. With `force`, tags that point at
    /// other images are moved; without it the push is refused before anything is sent.
    pub async fn push_images(
        &self,
        layout: &Layout,
        requests: &[PushRequest],
        force: bool,
    ) -> Result<PushReport, RegistryError> {
        let sent_before = self.bytes_sent();
        let (mut plan, locals) = self.plan_inner(layout, requests, true).await?;
        for image in &mut plan.images {
            if image.action == TagAction::Conflict {
                if !force {
                    return Err(RegistryError::TagConflict {
                        tag: image.tag.clone(),
                        existing: image.existing.clone().unwrap_or_default(),
                        new: image.digest.clone(),
                    });
                }
                image.action = TagAction::Replace;
            }
        }
        let mut report = PushReport { repository: plan.repository.clone(), ..PushReport::default() };
        report.blobs_skipped = plan.blobs.iter().filter(|b| !b.upload).count();
        let jobs = self.inner.opts.jobs.max(1);
        let outcomes: Vec<(BlobOutcome, u64)> = futures::stream::iter(plan.blobs.iter().filter(|b| b.upload))
            .map(|b| {
                let path = blob_path(layout, &b.digest);
                async move {
                    let outcome = self.ensure_blob(&path, &b.digest, b.size, b.unasked).await?;
                    Ok::<_, RegistryError>((outcome, b.size))
                }
            })
            .buffer_unordered(jobs)
            .try_collect()
            .await?;
        for (outcome, size) in outcomes {
            report.count(outcome, size);
        }
        // Every blob of every image is in: now the manifests.
        let to_put: Vec<&LocalImage> = locals
            .iter()
            .zip(&plan.images)
            .filter(|(_, p)| matches!(p.action, TagAction::Create | TagAction::Replace))
            .map(|(l, _)| l)
            .collect();
        let cached: BTreeSet<&str> = plan.blobs.iter().filter(|b| b.cached).map(|b| b.digest.as_str()).collect();
        let cache = self.blob_cache(layout);
        // One image recovers at a time, so images sharing a lost blob upload it once.
        let recovering = tokio::sync::Mutex::new(());
        let recovered: Vec<Vec<(BlobOutcome, u64)>> = futures::stream::iter(to_put)
            .map(|local| {
                let (cached, cache, recovering) = (&cached, &cache, &recovering);
                async move {
                    let tag = &local.request.tag;
                    let mut outcomes = Vec::new();
                    let digest = match self.put_manifest(tag, local.bytes.clone(), &local.media_type).await {
                        Err(e)
                            if is_blob_unknown(&e) && local.blobs.iter().any(|(d, _)| cached.contains(d.as_str())) =>
                        {
                            tracing::debug!("{tag}: the registry lacks a cached blob ({e}); dropping the blob cache");
                            self.progress(Progress::Retry {
                                what: format!("manifest of `{tag}` (a blob the cache listed is gone)"),
                                attempt: 1,
                                reason: e.to_string(),
                            });
                            if let Some(c) = cache {
                                c.drop_all();
                            }
                            let _guard = recovering.lock().await;
                            for (d, size) in &local.blobs {
                                if self.blob_exists(d).await?.is_none() {
                                    let path = blob_path(layout, d);
                                    outcomes.push((self.ensure_blob(&path, d, *size, false).await?, *size));
                                }
                            }
                            self.put_manifest(tag, local.bytes.clone(), &local.media_type).await?
                        }
                        other => other?,
                    };
                    check_digest(&format!("manifest of `{tag}`"), &local.digest, &digest)?;
                    self.progress(Progress::Manifest { tag: tag.clone() });
                    Ok::<_, RegistryError>(outcomes)
                }
            })
            .buffer_unordered(jobs)
            .try_collect()
            .await?;
        for (outcome, size) in recovered.into_iter().flatten() {
            report.count(outcome, size);
            report.blobs_skipped = report.blobs_skipped.saturating_sub(1);
        }
        // Every image is complete in the registry (it checked each manifest's blobs, or the
        // tag already pointed there): remember its blobs for the next push.
        if let Some(cache) = &cache {
            let blobs: BTreeMap<String, u64> = locals.iter().flat_map(|l| l.blobs.iter().cloned()).collect();
            if let Err(e) = cache.record(&blobs) {
                tracing::warn!("cannot write the blob cache {}: {e}", cache.path().display());
            }
        }
        report.images = plan.images;
        report.bytes_sent = self.bytes_sent() - sent_before;
        Ok(report)
    }

    /// The known-blobs cache of this repository for `layout`, unless turned off.
    fn blob_cache(&self, layout: &Layout) -> Option<BlobCache> {
        self.inner.opts.blob_cache.then(|| BlobCache::new(layout.dir(), &self.inner.repo))
    }

    /// Push one image from the layout under `tag`.
    pub async fn push_image(
        &self,
        layout: &Layout,
        source: &str,
        tag: &str,
        force: bool,
    ) -> Result<PushReport, RegistryError> {
        self.push_images(layout, &[PushRequest { source: source.to_string(), tag: tag.to_string() }], force).await
    }

    /// Make sure the repository has the blob: mount it where configured, else upload it,
    /// retrying the whole upload on transient failures (a HEAD first each time, so a
    /// retry never re-sends what already landed). An `unasked` blob is first "mounted"
    /// from this repository itself: 201 means it is there already.
    async fn ensure_blob(
        &self,
        path: &std::path::Path,
        digest: &str,
        size: u64,
        unasked: bool,
    ) -> Result<BlobOutcome, RegistryError> {
        let mut session = None;
        let own = unasked.then(|| self.inner.repo.path.clone());
        let others = if unasked { &[][..] } else { &self.inner.opts.mount_from[..] };
        for from in own.iter().chain(others) {
            match self.mount(digest, from).await {
                Ok(None) => {
                    return Ok(if Some(from) == own.as_ref() { BlobOutcome::Present } else { BlobOutcome::Mounted });
                }
                Ok(Some(location)) => {
                    session = Some(location);
                    break;
                }
                Err(e) => tracing::debug!("mounting {digest} from {from} failed: {e}"),
            }
        }
        // Only bytes that go up count towards the progress bar: mounted and present blobs
        // never started.
        self.progress(Progress::BlobStart { digest: digest.to_string(), size });
        // One deadline for every attempt at this blob: retries are bounded in time too.
        let deadline = self.blob_deadline(size);
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 && self.blob_exists(digest).await?.is_some() {
                break;
            }
            match self.upload_blob(path, digest, size, session.take(), &deadline).await {
                Ok(_) => break,
                Err(e) if e.is_retryable() && attempt <= self.inner.opts.retries && !deadline.expired() => {
                    let what = format!("upload of {digest}");
                    tracing::debug!("{what}: attempt {attempt} failed ({e}); retrying");
                    self.progress(Progress::Retry { what, attempt, reason: e.to_string() });
                    self.backoff(attempt, &deadline).await;
                }
                Err(e) => return Err(e),
            }
        }
        self.progress(Progress::BlobDone { digest: digest.to_string() });
        Ok(BlobOutcome::Uploaded)
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

impl PushReport {
    fn count(&mut self, outcome: BlobOutcome, size: u64) {
        match outcome {
            BlobOutcome::Mounted => self.blobs_mounted += 1,
            BlobOutcome::Uploaded => {
                self.blobs_uploaded += 1;
                self.bytes_uploaded += size;
            }
            BlobOutcome::Present => self.blobs_skipped += 1,
        }
    }
}

/// Whether a manifest PUT was refused because the registry lacks one of its blobs
/// (distribution: 400 `MANIFEST_BLOB_UNKNOWN`; some registries answer 404 `BLOB_UNKNOWN`).
fn is_blob_unknown(e: &RegistryError) -> bool {
    matches!(e, RegistryError::Status { status: 400 | 404, detail, .. } if detail.contains("BLOB_UNKNOWN"))
}

/// The digest of manifest bytes (what a tag will point to).
pub fn manifest_digest(bytes: &[u8]) -> String {
    sha256(bytes)
}
