//! Prune: remove hoist's own images of releases beyond the last `keep`, and dangling images
//! that are hoist's or labelled for this project. Never an image a container uses, a kept
//! release pins, or one hoist found already in the engine (someone else's).

use std::collections::BTreeSet;

use hoist_version::naming::image_repository;

use super::Deployer;
use crate::error::ComposeError;
use crate::state::{Acquired, History, RunResult};

/// The label that marks an image as built for a hoist project; dangling images carrying
/// it for this project are pruned.
pub const PROJECT_LABEL: &str = "dev.hoist.project";

impl Deployer {
    /// Prune now, for the current history.
    pub fn prune(&self, dry_run: bool, say: &dyn Fn(&str)) -> Result<Vec<String>, ComposeError> {
        self.ping()?;
        let history = self.history()?;
        if dry_run {
            return Ok(self.prune_candidates(&history)?.into_iter().map(|(r, _)| r).collect());
        }
        self.prune_with(&history, say)
    }

    pub(super) fn prune_with(&self, history: &History, say: &dyn Fn(&str)) -> Result<Vec<String>, ComposeError> {
        let mut removed = Vec::new();
        for (reference, _id) in self.prune_candidates(history)? {
            match self.docker.remove_image(&reference) {
                Ok(()) => {
                    say(&format!("pruned {reference}"));
                    removed.push(reference);
                }
                // Someone started a container on it since we looked: keep it.
                Err(e) => tracing::warn!("kept {reference}: {e}"),
            }
        }
        Ok(removed)
    }

    /// (reference or ID to remove, image ID): hoist's images of releases beyond the last
    /// `keep`, and dangling images that are hoist's or labelled for this project; never an
    /// image a container uses or a kept release pins.
    pub(super) fn prune_candidates(&self, history: &History) -> Result<Vec<(String, String)>, ComposeError> {
        let kept = history.kept_releases(self.target.keep);
        let states = history.healthy_states();
        let mut kept_ids: BTreeSet<String> = BTreeSet::new();
        for r in &history.records {
            if kept.contains(&r.release) || r.result == RunResult::InProgress {
                kept_ids.extend(r.pins.iter().map(|p| p.image_id.clone()));
            }
        }
        for s in &states {
            if kept.contains(&s.release) {
                kept_ids.extend(s.pins.iter().map(|p| p.image_id.clone()));
            }
        }
        let in_use = self.docker.images_in_use()?;
        let owned: BTreeSet<&str> = history
            .records
            .iter()
            .flat_map(|r| r.pins.iter())
            .filter(|p| p.acquired != Acquired::Present)
            .map(|p| p.image_id.as_str())
            .collect();
        let mut out: Vec<(String, String)> = Vec::new();
        let mut seen = BTreeSet::new();
        for pin in history.records.iter().flat_map(|r| r.pins.iter()) {
            if pin.acquired == Acquired::Present
                || kept_ids.contains(&pin.image_id)
                || in_use.contains(&pin.image_id)
                || pin.image_id.is_empty()
            {
                continue;
            }
            let mut refs = vec![pin.reference.clone()];
            if let Some(d) = &pin.digest {
                refs.push(format!("{}@{d}", image_repository(&pin.reference)));
            }
            for r in refs {
                if seen.contains(&r) {
                    continue;
                }
                // Only while the reference still names the image hoist put there.
                if self.docker.image(&r)?.is_some_and(|i| i.id == pin.image_id) {
                    seen.insert(r.clone());
                    out.push((r, pin.image_id.clone()));
                }
            }
        }
        for (id, labels) in self.docker.dangling_images()? {
            let ours = owned.contains(id.as_str()) || labels.get(PROJECT_LABEL) == Some(&self.target.project);
            if ours && !in_use.contains(&id) && !kept_ids.contains(&id) && seen.insert(id.clone()) {
                out.push((id.clone(), id));
            }
        }
        Ok(out)
    }
}
