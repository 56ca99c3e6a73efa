//! Bring a release's images into the engine and check them: pull by digest from the
//! registry, `docker load` an archive, or take what the engine already has; then verify the
//! image ID the engine holds and say whose the image is (hoist's, so prune may remove it,
//! or someone else's). A failure here stops the deploy before anything running is touched.

use std::collections::BTreeMap;

use hoist_version::naming::image_repository;

use super::{Deployer, ReleaseImages, Source, Wanted};
use crate::engine::ImageInfo;
use crate::error::ComposeError;
use crate::state::{Acquired, Healthy, History, Pin};

impl Deployer {
    /// Bring every wanted image into the engine and check it; return the pins.
    pub(super) fn acquire(
        &self,
        release: &ReleaseImages,
        history: &History,
        say: &dyn Fn(&str),
    ) -> Result<Vec<Pin>, ComposeError> {
        // Images hoist brought in earlier stay hoist's even when already present now.
        let owned: BTreeMap<String, Acquired> = history
            .records
            .iter()
            .flat_map(|r| r.pins.iter())
            .filter(|p| p.acquired != Acquired::Present)
            .map(|p| (p.image_id.clone(), p.acquired))
            .collect();
        let keep_owner = |id: &str, fresh: Acquired| owned.get(id).copied().unwrap_or(fresh);
        let mut pins = Vec::new();
        match &release.source {
            Source::Registry => {
                // One engine call for what is already here (the common, no-op case).
                let mut lookups = Vec::new();
                for w in &release.images {
                    lookups.push(w.reference.clone());
                    if let Some(d) = &w.digest {
                        lookups.push(format!("{}@{d}", image_repository(&w.reference)));
                    }
                }
                let present = self.docker.images(&lookups)?;
                for w in &release.images {
                    let (digest, info, acquired) = match &w.digest {
                        Some(digest) => {
                            let by_digest = format!("{}@{digest}", image_repository(&w.reference));
                            match present.get(&by_digest).cloned() {
                                Some(info) => (digest.clone(), info, Acquired::Present),
                                None => {
                                    say(&format!("pulling {by_digest}"));
                                    self.pull(&w.service, &by_digest)?;
                                    (digest.clone(), self.must_have(&w.service, &by_digest)?, Acquired::Pulled)
                                }
                            }
                        }
                        // No digest from the caller: the engine resolves the tag (exact
                        // match) and verifies what it pulls; the digest is read back.
                        None => {
                            let had = self.docker.image(&w.reference)?.map(|i| i.id);
                            say(&format!("pulling {}", w.reference));
                            self.pull(&w.service, &w.reference)?;
                            let info = self.must_have(&w.service, &w.reference)?;
                            let repo = image_repository(&w.reference);
                            let digest = info
                                .repo_digests
                                .iter()
                                .flatten()
                                .find_map(|d| d.strip_prefix(&format!("{repo}@")).map(String::from))
                                .ok_or_else(|| ComposeError::MissingImage {
                                    service: w.service.clone(),
                                    reference: w.reference.clone(),
                                    hint:
                                        "the engine recorded no registry digest for it; push it to the registry again"
                                            .into(),
                                })?;
                            let fresh =
                                if had.as_ref() == Some(&info.id) { Acquired::Present } else { Acquired::Pulled };
                            (digest, info, fresh)
                        }
                    };
                    let by_digest = format!("{}@{digest}", image_repository(&w.reference));
                    let w = &Wanted { digest: Some(digest.clone()), ..w.clone() };
                    // The readable tag next to the digest, for `docker images` and humans.
                    if present.get(&w.reference).is_none_or(|t| t.id != info.id) {
                        self.docker.tag(&by_digest, &w.reference)?;
                    }
                    let acquired = keep_owner(&info.id, acquired);
                    pins.push(Pin {
                        service: w.service.clone(),
                        image: pin_image(&release.source, w, &info.id),
                        reference: w.reference.clone(),
                        digest: Some(digest),
                        image_id: info.id,
                        acquired,
                        extra: Default::default(),
                    });
                }
            }
            Source::Archive(archive) => {
                let mut before = BTreeMap::new();
                for w in &release.images {
                    before.insert(w.service.clone(), self.docker.image(&w.reference)?.map(|i| i.id));
                }
                let up_to_date = release.images.iter().all(|w| match (&before[&w.service], &w.image_id) {
                    (Some(have), Some(want)) => have == want,
                    _ => false,
                });
                if !up_to_date {
                    say(&format!("loading {}", archive.display()));
                    self.docker
                        .load(archive)
                        .map_err(|source| ComposeError::Load { archive: archive.clone(), source })?;
                }
                let hint = |w: &Wanted| {
                    format!("{} does not contain {}; export the release again", archive.display(), w.reference)
                };
                for w in &release.images {
                    let info = self.local_image(w, hint)?;
                    let fresh = if before[&w.service].as_ref() == Some(&info.id) {
                        Acquired::Present
                    } else {
                        Acquired::Loaded
                    };
                    let acquired = keep_owner(&info.id, fresh);
                    pins.push(local_pin(&release.source, w, info, acquired));
                }
            }
            Source::Engine => {
                let hint = |_: &Wanted| {
                    "build or load the image into this engine first, or deploy from the registry".to_string()
                };
                for w in &release.images {
                    let info = self.local_image(w, hint)?;
                    let acquired = keep_owner(&info.id, Acquired::Present);
                    pins.push(local_pin(&release.source, w, info, acquired));
                }
            }
        }
        Ok(pins)
    }

    /// An image the engine already holds (loaded from an archive, or built locally), checked
    /// against the image ID the caller expects.
    fn local_image(&self, w: &Wanted, hint: impl Fn(&Wanted) -> String) -> Result<ImageInfo, ComposeError> {
        let info = self.docker.image(&w.reference)?.ok_or_else(|| ComposeError::MissingImage {
            service: w.service.clone(),
            reference: w.reference.clone(),
            hint: hint(w),
        })?;
        if let Some(want) = &w.image_id
            && want != &info.id
        {
            return Err(ComposeError::ImageMismatch {
                service: w.service.clone(),
                reference: w.reference.clone(),
                expected: want.clone(),
                got: info.id,
            });
        }
        Ok(info)
    }

    fn pull(&self, service: &str, reference: &str) -> Result<(), ComposeError> {
        self.docker.pull(reference).map_err(|source| ComposeError::Pull {
            service: service.to_string(),
            reference: reference.to_string(),
            source,
        })
    }

    fn must_have(&self, service: &str, reference: &str) -> Result<ImageInfo, ComposeError> {
        self.docker.image(reference)?.ok_or_else(|| ComposeError::MissingImage {
            service: service.to_string(),
            reference: reference.to_string(),
            hint: "the engine lost the image right after pulling it; run again".into(),
        })
    }

    /// Before a rollback: the target's images must still be here (prune keeps the last
    /// releases); a registry image that was pruned is pulled again by digest.
    pub(super) fn ensure_present(&self, target: &Healthy, say: &dyn Fn(&str)) -> Result<(), ComposeError> {
        for pin in &target.pins {
            if self.docker.image(&pin.image)?.is_none() {
                match &pin.digest {
                    Some(d) => {
                        let by_digest = format!("{}@{d}", image_repository(&pin.reference));
                        say(&format!("pulling {by_digest} again"));
                        self.docker.pull(&by_digest).map_err(|source| ComposeError::Pull {
                            service: pin.service.clone(),
                            reference: by_digest.clone(),
                            source,
                        })?;
                    }
                    None => {
                        return Err(ComposeError::MissingImage {
                            service: pin.service.clone(),
                            reference: pin.image.clone(),
                            hint: format!(
                                "load the images of {} again, or deploy it with `hoist deploy compose --tag {}`",
                                target.release, target.release
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// The pin of an image the engine holds locally (no registry digest to add).
fn local_pin(source: &Source, w: &Wanted, info: ImageInfo, acquired: Acquired) -> Pin {
    Pin {
        service: w.service.clone(),
        image: pin_image(source, w, &info.id),
        reference: w.reference.clone(),
        digest: w.digest.clone(),
        image_id: info.id,
        acquired,
        extra: Default::default(),
    }
}

/// What the override names. It must be the same text for the same image in every
/// release, because compose hashes the `image:` string into its recreate decision: a tag
/// in it (`repo:svc_v2@…`) would recreate every unchanged service. So a registry image is
/// pinned as `repo@digest` and any other by its image ID; the tag is in the comment above
/// it and in the history.
pub(super) fn pin_image(source: &Source, w: &Wanted, image_id: &str) -> String {
    match (source, &w.digest) {
        (Source::Registry, Some(d)) => format!("{}@{d}", image_repository(&w.reference)),
        _ => image_id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_images() {
        let w = Wanted {
            service: "a".into(),
            reference: "r:5000/shop:a_v1".into(),
            digest: Some("sha256:00".into()),
            image_id: None,
        };
        assert_eq!(pin_image(&Source::Registry, &w, "sha256:ff"), "r:5000/shop@sha256:00");
        assert_eq!(pin_image(&Source::Archive("/x.tar".into()), &w, "sha256:ff"), "sha256:ff");
        assert_eq!(pin_image(&Source::Engine, &w, "sha256:ff"), "sha256:ff");
    }
}
