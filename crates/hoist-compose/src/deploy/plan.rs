//! What a deploy would do, decided without changing anything: which images are pulled or
//! loaded, which services compose recreates (its own config hash, or another image) and
//! which stay, and what prune removes afterwards. The deploy itself decides with the same
//! helpers, so `--dry-run` and the real run agree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hoist_version::naming::image_repository;
use serde::{Deserialize, Serialize};

use super::acquire::pin_image;
use super::converge::write_file;
use super::{Deployer, ReleaseImages, Source, record};
use crate::cli;
use crate::engine::ContainerInfo;
use crate::error::ComposeError;
use crate::pins;
use crate::state::{Acquired, Action, Pin, RunResult};

/// What a deploy would do (`--dry-run`).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Plan {
    pub project: String,
    pub release: String,
    pub compose: String,
    pub override_file: PathBuf,
    /// References that would be pulled or loaded (absent from the engine).
    pub pull: Vec<String>,
    /// Services whose container would be created or recreated.
    pub recreate: Vec<String>,
    /// Services left as they are.
    pub unchanged: Vec<String>,
    /// The release running now, as far as this host's history knows.
    pub current: Option<String>,
    /// What prune would remove after the deploy succeeds.
    pub prune: Vec<String>,
}

impl Deployer {
    /// Service → running container of this project.
    pub(super) fn containers(&self) -> Result<BTreeMap<String, ContainerInfo>, ComposeError> {
        let mut out = BTreeMap::new();
        for c in self.docker.project_containers(&self.target.project)? {
            if let Some(s) = c.service() {
                out.insert(s.to_string(), c.clone());
            }
        }
        Ok(out)
    }

    /// compose's own config hash per service with `override_file` merged.
    pub(super) fn hashes(&self, override_file: Option<&Path>) -> Result<BTreeMap<String, String>, ComposeError> {
        let files = match override_file {
            Some(f) => self.files_with(f),
            None => self.target.files.iter().map(|f| self.target.dir.join(f)).collect(),
        };
        let out = self.compose.config_hash(&self.project(&files)).run().map_err(|e| ComposeError::Up {
            compose: self.compose.name().into(),
            after: "the compose files do not load; nothing running was changed".into(),
            source: e,
        })?;
        Ok(cli::parse_hashes(&out.stdout))
    }

    /// Services compose would recreate: no container, another config hash, another image.
    pub(super) fn changed(
        &self,
        hashes: &BTreeMap<String, String>,
        containers: &BTreeMap<String, ContainerInfo>,
        pins: &[Pin],
    ) -> Vec<String> {
        let mut out = Vec::new();
        for (service, hash) in hashes {
            let Some(c) = containers.get(service) else {
                out.push(service.clone());
                continue;
            };
            let image_differs = pins.iter().any(|p| &p.service == service && p.image_id != c.image);
            if c.label("com.docker.compose.config-hash") != Some(hash.as_str()) || image_differs {
                out.push(service.clone());
            }
        }
        out
    }

    /// Plan a deploy without changing anything.
    pub fn plan(&self, release: &ReleaseImages) -> Result<Plan, ComposeError> {
        self.ping()?;
        self.preflight(release)?;
        let history = self.history()?;
        let mut pull = Vec::new();
        let mut present_pins = Vec::new();
        let mut missing = BTreeSet::new();
        for w in &release.images {
            let lookup = match (&release.source, &w.digest) {
                (Source::Registry, Some(d)) => format!("{}@{d}", image_repository(&w.reference)),
                _ => w.reference.clone(),
            };
            match self.docker.image(&lookup)? {
                Some(info) if w.image_id.as_ref().is_none_or(|id| id == &info.id) => present_pins.push(Pin {
                    service: w.service.clone(),
                    image: pin_image(&release.source, w, &info.id),
                    reference: w.reference.clone(),
                    digest: w.digest.clone(),
                    image_id: info.id,
                    acquired: Acquired::Present,
                    extra: Default::default(),
                }),
                _ => {
                    pull.push(lookup);
                    missing.insert(w.service.clone());
                }
            }
        }
        let containers = self.containers()?;
        let plan_file = self.target.state_dir.join(format!("override-{}.plan.yaml", self.target.project));
        // With no image present yet there is nothing to pin (and compose v1 would read an
        // override with an empty `services:` as a version-1 file).
        let hashes = if present_pins.is_empty() {
            self.hashes(None)
        } else {
            write_file(&plan_file, pins::render(&release.tag, &present_pins).as_bytes())?;
            let hashes = self.hashes(Some(&plan_file));
            let _ = std::fs::remove_file(&plan_file);
            hashes
        };
        let hashes = hashes?;
        let mut recreate = self.changed(&hashes, &containers, &present_pins);
        recreate.extend(missing.iter().cloned());
        recreate.sort();
        recreate.dedup();
        let unchanged = hashes.keys().filter(|s| !recreate.contains(s)).cloned().collect();

        // Prune as it would run after this release succeeds.
        let mut after = history.clone();
        let mut pins_after = present_pins.clone();
        for w in release.images.iter().filter(|w| missing.contains(&w.service)) {
            pins_after.push(Pin {
                service: w.service.clone(),
                image: pin_image(&release.source, w, w.image_id.as_deref().unwrap_or_default()),
                reference: w.reference.clone(),
                digest: w.digest.clone(),
                image_id: w.image_id.clone().unwrap_or_default(),
                acquired: Acquired::Pulled,
                extra: Default::default(),
            });
        }
        after.records.push(record(&history, Action::Deploy, &release.tag, pins_after, RunResult::Succeeded));
        let prune = self.prune_candidates(&after)?.into_iter().map(|(r, _)| r).collect();
        Ok(Plan {
            project: self.target.project.clone(),
            release: release.tag.clone(),
            compose: self.compose.name().into(),
            override_file: self.override_path(),
            pull,
            recreate,
            unchanged,
            current: history.current().map(|c| c.release),
            prune,
        })
    }
}
