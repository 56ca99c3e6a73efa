//! Doing a push plan: tags that point at other images are refused before anything is
//! sent (unless forced), every blob the plan says the registry lacks goes up once across all
//! images (`Options::jobs` at a time) and nothing is asked again about the others, then
//! each image's manifest is put after all of its blobs are in.
//!
//! The plan's "the registry has it" is a hint, as the known-blobs cache is: the registry
//! checks every manifest's blobs on PUT, and when it answers `MANIFEST_BLOB_UNKNOWN` for an
//! image with a blob the push did not send, the cache is dropped and that image is pushed
//! again the slow way (HEAD each blob, upload what is missing, PUT again), so a stale plan
//! or cache costs time, never a broken or partial image.
//!
//! A blob the layout lacks (a base layer; the plan says `from`) is mounted from its base
//! repository when that is on the target's registry, else copied from the base's registry,
//! streamed through (see `client/blobs.rs`); an index's child manifests are put by digest
//! before the index itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use futures::{StreamExt, TryStreamExt};
use hoist_oci::Layout;

use super::{BlobOutcome, BlobResult, LocalImage, PushPlan, PushReport, PushRequest, TagAction, blob_path, read_local};
use crate::client::{Client, Progress};
use crate::copy::Sources;
use crate::digest::check_digest;
use crate::error::RegistryError;

impl Client {
    /// Push several images in one deduplicated pass: a plan that leaves small blobs to
    /// their upload's first request to ask about, then [`Client::push_planned`]. With
    /// `force`, tags that point at other images are moved; without it the push is refused
    /// before anything is sent.
    pub async fn push_images(
        &self,
        layout: &Layout,
        requests: &[PushRequest],
        force: bool,
    ) -> Result<PushReport, RegistryError> {
        let plan = self.plan_inner(layout, requests, true).await?;
        self.push_planned(layout, &plan, force).await
    }

    /// Do exactly what `plan` (from [`Client::plan`], or read back from a release record)
    /// says, asking the registry nothing the plan already asked: blobs it found there (or
    /// the cache listed) get no request at all, the others are mounted or uploaded (an
    /// `unasked` small blob's upload opens with a mount from this repository, which finds
    /// it if it is there), then each image's manifest is put. A `Conflict` tag is refused
    /// unless `force`, before anything is sent. The layout must still hold the planned
    /// images ([`RegistryError::PlanMismatch`] otherwise).
    pub async fn push_planned(
        &self,
        layout: &Layout,
        plan: &PushPlan,
        force: bool,
    ) -> Result<PushReport, RegistryError> {
        let sent_before = self.bytes_sent();
        let mut images = plan.images.clone();
        for image in &mut images {
            // A plan read back may say Replace: moving a tag is never done without `force`.
            if matches!(image.action, TagAction::Conflict | TagAction::Replace) {
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
        let locals = self.planned_locals(layout, plan)?;
        let jobs = self.inner.opts.jobs.max(1);
        let sources = Sources::new(&self.inner.opts, Some(self.repository().host.as_str()));
        let mut results: Vec<BlobResult> = vec![BlobResult::Present; plan.blobs.len()];
        let sent: Vec<(usize, BlobResult)> =
            futures::stream::iter(plan.blobs.iter().enumerate().filter(|(_, b)| b.upload))
                .map(|(i, b)| {
                    let sources = &sources;
                    async move {
                        let src = blob_src(layout, sources, &b.digest, b.from.as_deref())?;
                        Ok::<_, RegistryError>((i, self.ensure_blob(&src, &b.digest, b.size, b.unasked).await?))
                    }
                })
                .buffer_unordered(jobs)
                .try_collect()
                .await?;
        for (i, result) in sent {
            results[i] = result;
        }

        // Every blob of every image is in: now the manifests.
        let to_put: Vec<&LocalImage> = locals
            .iter()
            .zip(&images)
            .filter(|(_, p)| matches!(p.action, TagAction::Create | TagAction::Replace))
            .map(|(l, _)| l)
            .collect();
        let unsent: BTreeSet<&str> = plan
            .blobs
            .iter()
            .zip(&results)
            .filter(|(_, r)| **r == BlobResult::Present)
            .map(|(b, _)| b.digest.as_str())
            .collect();
        let cache = self.blob_cache(layout);
        // One image recovers at a time, so images sharing a lost blob upload it once.
        let recovering = tokio::sync::Mutex::new(());
        let recovered: Vec<Vec<(String, BlobResult)>> = futures::stream::iter(to_put)
            .map(|local| {
                let (unsent, cache, recovering, sources) = (&unsent, &cache, &recovering, &sources);
                async move {
                    let tag = &local.request.tag;
                    let mut outcomes = Vec::new();
                    let digest = match self.put_local(local).await {
                        Err(e)
                            if is_blob_unknown(&e) && local.blobs.iter().any(|(d, _)| unsent.contains(d.as_str())) =>
                        {
                            tracing::debug!(
                                "{tag}: the registry lacks a blob taken as present ({e}); dropping the blob cache"
                            );
                            self.progress(Progress::Retry {
                                what: format!("manifest of `{tag}` (a blob the cache or plan listed is gone)"),
                                attempt: 1,
                                reason: e.to_string(),
                            });
                            if let Some(c) = cache {
                                c.drop_all();
                            }
                            let _guard = recovering.lock().await;
                            for (d, size) in &local.blobs {
                                if self.blob_exists(d).await?.is_none() {
                                    let src = blob_src(layout, sources, d, local.remote.get(d).map(String::as_str))?;
                                    outcomes.push((d.clone(), self.ensure_blob(&src, d, *size, false).await?));
                                }
                            }
                            self.put_local(local).await?
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
        let index: BTreeMap<&str, usize> = plan.blobs.iter().enumerate().map(|(i, b)| (b.digest.as_str(), i)).collect();
        for (digest, result) in recovered.into_iter().flatten() {
            // planned_locals made sure every blob of an image to put is in the plan.
            if let Some(&i) = index.get(digest.as_str()) {
                results[i] = result;
            }
        }
        // Every image is complete in the registry (it checked each manifest's blobs, or the
        // tag already pointed there): remember its blobs for the next push.
        if let Some(cache) = &cache {
            let blobs: BTreeMap<String, u64> = locals.iter().flat_map(|l| l.blobs.iter().cloned()).collect();
            if let Err(e) = cache.record(&blobs) {
                tracing::warn!("cannot write the blob cache {}: {e}", cache.path().display());
            }
        }
        let blobs: Vec<BlobOutcome> = plan
            .blobs
            .iter()
            .zip(results)
            .map(|(b, outcome)| BlobOutcome {
                digest: b.digest.clone(),
                size: b.size,
                outcome,
                from: b.from.clone().filter(|_| matches!(outcome, BlobResult::Mounted | BlobResult::Copied)),
            })
            .collect();
        let count = |r: BlobResult| blobs.iter().filter(|b| b.outcome == r).count();
        let bytes = |r: BlobResult| blobs.iter().filter(|b| b.outcome == r).map(|b| b.size).sum();
        Ok(PushReport {
            repository: plan.repository.clone(),
            images,
            blobs_uploaded: count(BlobResult::Uploaded),
            blobs_mounted: count(BlobResult::Mounted),
            blobs_skipped: count(BlobResult::Present),
            bytes_uploaded: bytes(BlobResult::Uploaded),
            blobs_copied: count(BlobResult::Copied),
            bytes_copied: bytes(BlobResult::Copied),
            bytes_sent: self.bytes_sent() - sent_before,
            blobs,
        })
    }

    /// The plan's images as the layout holds them, checked against the plan: made for this
    /// repository, each image still the digest the plan saw, and every blob of an image to
    /// put among the plan's blobs with its size (else it would go unsent and the manifest
    /// be refused).
    fn planned_locals(&self, layout: &Layout, plan: &PushPlan) -> Result<Vec<LocalImage>, RegistryError> {
        let repository = self.inner.repo.to_string();
        if plan.repository != repository {
            return Err(RegistryError::PlanMismatch {
                what: format!("the repository `{repository}`"),
                reason: format!("it was made for `{}`", plan.repository),
            });
        }
        let planned: BTreeMap<&str, u64> = plan.blobs.iter().map(|b| (b.digest.as_str(), b.size)).collect();
        plan.images
            .iter()
            .map(|image| {
                let local = read_local(layout, &PushRequest { source: image.source.clone(), tag: image.tag.clone() })?;
                let mismatch = |reason: String| RegistryError::PlanMismatch {
                    what: format!("the local image `{}`", image.source),
                    reason,
                };
                if local.digest != image.digest {
                    return Err(mismatch(format!("it is {} now, the plan has {}", local.digest, image.digest)));
                }
                if image.action != TagAction::Unchanged {
                    for (digest, size) in &local.blobs {
                        if planned.get(digest.as_str()) != Some(size) {
                            return Err(mismatch(format!("its blob {digest} ({size} bytes) is not in the plan")));
                        }
                    }
                }
                Ok(local)
            })
            .collect()
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

    /// Put an image's manifest under its tag; for an index, each child manifest by its
    /// digest first. Returns the digest the registry gave the tag.
    async fn put_local(&self, local: &LocalImage) -> Result<String, RegistryError> {
        for (digest, media_type, bytes) in &local.children {
            let got = self.put_manifest(digest, bytes.clone(), media_type).await?;
            check_digest(&format!("manifest {digest} of `{}`", local.request.tag), digest, &got)?;
        }
        self.put_manifest(&local.request.tag, local.bytes.clone(), &local.media_type).await
    }

    /// Make sure the repository has the blob: mount it where configured (or from its base
    /// repository when that is on this registry), else upload it from the layout or copy
    /// it from its base's registry, retrying the whole transfer on transient failures (a
    /// HEAD first each time, so a retry never re-sends what already landed). An `unasked`
    /// blob is first "mounted" from this repository itself: 201 means it is there already.
    async fn ensure_blob(
        &self,
        src: &BlobSrc,
        digest: &str,
        size: u64,
        unasked: bool,
    ) -> Result<BlobResult, RegistryError> {
        let mut session = None;
        let own = unasked.then(|| self.inner.repo.path.clone());
        let base = match src {
            BlobSrc::Base(c)
                if c.repository().host == self.inner.repo.host && c.repository().path != self.inner.repo.path =>
            {
                Some(c.repository().path.clone())
            }
            _ => None,
        };
        let others = if unasked { &[][..] } else { &self.inner.opts.mount_from[..] };
        for from in own.iter().chain(base.iter()).chain(others) {
            match self.mount(digest, from).await {
                Ok(None) => {
                    return Ok(if Some(from) == own.as_ref() { BlobResult::Present } else { BlobResult::Mounted });
                }
                // The repository itself lacks it: the base repository may still mount it.
                Ok(Some(location)) if Some(from) == own.as_ref() && base.is_some() => session = Some(location),
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
            let sent = match src {
                BlobSrc::File(path) => self.upload_blob(path, digest, size, session.take(), &deadline).await,
                BlobSrc::Base(source) => self.copy_blob_from(source, digest, size, session.take(), &deadline).await,
            };
            match sent {
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
        Ok(match src {
            BlobSrc::File(_) => BlobResult::Uploaded,
            BlobSrc::Base(_) => BlobResult::Copied,
        })
    }
}

/// Where a blob's bytes come from.
enum BlobSrc {
    /// The layout's file.
    File(PathBuf),
    /// Not in the layout: the client of its base repository.
    Base(Client),
}

/// A blob's source: the layout when it has it, else the base repository `from` names.
fn blob_src(layout: &Layout, sources: &Sources, digest: &str, from: Option<&str>) -> Result<BlobSrc, RegistryError> {
    let path = blob_path(layout, digest);
    match from {
        Some(repository) if !path.is_file() => Ok(BlobSrc::Base(sources.client(repository)?)),
        _ => Ok(BlobSrc::File(path)),
    }
}

/// Whether a manifest PUT was refused because the registry lacks one of its blobs
/// (distribution: 400 `MANIFEST_BLOB_UNKNOWN`; some registries answer 404 `BLOB_UNKNOWN`).
fn is_blob_unknown(e: &RegistryError) -> bool {
    matches!(e, RegistryError::Status { status: 400 | 404, detail, .. } if detail.contains("BLOB_UNKNOWN"))
}
