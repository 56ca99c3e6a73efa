//! Before a deploy changes anything: every service hoist pins exists in the user's compose
//! files, and no other compose project (an old `docker-compose up -d` from the repository,
//! which names the project after the directory) already runs this stack.
//!
//! The compose files are read the way compose reads them: `config` prints the merged
//! model, so `extends`, several `-f` files and interpolation are compose's own business.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::{Deployer, ReleaseImages};
use crate::engine::ContainerInfo;
use crate::error::ComposeError;

/// What hoist reads of the merged compose model.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Model {
    #[serde(default)]
    pub services: BTreeMap<String, ModelService>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ModelService {
    #[serde(default)]
    pub container_name: Option<String>,
}

/// Containers of another project (or of none) that run this stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreign {
    /// The compose project they belong to; `None` for containers not made by compose.
    pub project: Option<String>,
    /// `name (service)` per container.
    pub containers: Vec<String>,
}

impl Deployer {
    /// The merged compose model of the user's files (hoist's override left out).
    pub fn model(&self) -> Result<&Model, ComposeError> {
        if let Some(m) = self.model.get() {
            return Ok(m);
        }
        let model = self.read_model()?;
        Ok(self.model.get_or_init(|| model))
    }

    fn read_model(&self) -> Result<Model, ComposeError> {
        let files: Vec<_> = self.target.files.iter().map(|f| self.target.dir.join(f)).collect();
        let out = self.compose.cmd(&self.project(&files), &["config"]).run().map_err(|e| ComposeError::Up {
            compose: self.compose.name().into(),
            after: "the compose files do not load; nothing running was changed".into(),
            source: e,
        })?;
        serde_saphyr::from_str(&out.stdout).map_err(|e| {
            ComposeError::Invalid(format!("cannot read the output of `{} config`: {e}", self.compose.name()))
        })
    }

    /// The checks that come before any pull: the release's services exist in the compose
    /// files, and no other project runs them.
    pub fn preflight(&self, release: &ReleaseImages) -> Result<(), ComposeError> {
        let model = self.check_services(release)?;
        let containers = self.docker.all_containers()?;
        match foreign(&self.target, model, &containers).into_iter().next() {
            Some(f) => Err(ComposeError::OtherProject {
                project: f.project,
                ours: self.target.project.clone(),
                containers: f.containers,
            }),
            None => Ok(()),
        }
    }

    /// Every service of the release is a service of the compose files (the CLI checks it
    /// before it asks the registry for digests).
    pub fn check_services(&self, release: &ReleaseImages) -> Result<&Model, ComposeError> {
        let model = self.model()?;
        let missing: Vec<String> =
            release.images.iter().map(|w| &w.service).filter(|s| !model.services.contains_key(*s)).cloned().collect();
        if !missing.is_empty() {
            return Err(ComposeError::UnknownServices {
                missing,
                known: model.services.keys().cloned().collect(),
                files: self.target.files.clone(),
            });
        }
        Ok(model)
    }
}

/// Containers outside `target`'s project that run its stack, grouped by their project: the
/// same `container_name` (compose could not create ours), or one of its services started
/// from the same directory or the same compose files.
pub fn foreign(target: &super::Target, model: &Model, containers: &[ContainerInfo]) -> Vec<Foreign> {
    let names: BTreeSet<&str> = model.services.values().filter_map(|s| s.container_name.as_deref()).collect();
    let dir = target.dir.to_string_lossy();
    let files: BTreeSet<String> =
        target.files.iter().map(|f| target.dir.join(f).to_string_lossy().into_owned()).collect();
    let mut by_project: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
    for c in containers {
        let project = c.label("com.docker.compose.project");
        if project == Some(target.project.as_str()) || c.one_off() {
            continue;
        }
        let name = c.name.trim_start_matches('/');
        let same_stack = c.service().is_some_and(|s| model.services.contains_key(s))
            && (c.label("com.docker.compose.project.working_dir") == Some(dir.as_ref())
                || c.label("com.docker.compose.project.config_files")
                    .is_some_and(|l| l.split(',').any(|f| files.contains(f.trim()))));
        if names.contains(name) || same_stack {
            let what = match c.service() {
                Some(s) => format!("{name} ({s})"),
                None => name.to_string(),
            };
            by_project.entry(project.map(String::from)).or_default().push(what);
        }
    }
    by_project.into_iter().map(|(project, containers)| Foreign { project, containers }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ContainerConfig, State};

    fn container(name: &str, labels: &[(&str, &str)]) -> ContainerInfo {
        ContainerInfo {
            id: format!("id-{name}"),
            image: "sha256:x".into(),
            name: format!("/{name}"),
            restart_count: 0,
            state: State {
                status: "running".into(),
                running: true,
                restarting: false,
                exit_code: 0,
                started_at: String::new(),
                health: None,
            },
            config: ContainerConfig {
                labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            },
        }
    }

    #[test]
    fn finds_the_stack_under_another_project() {
        let target = super::super::Target {
            project: "acme".into(),
            dir: "/srv/acme".into(),
            files: vec!["docker-compose-prod.yaml".into()],
            state_dir: "/srv/acme/.hoist/deploy".into(),
            docker_host: None,
            timeout: std::time::Duration::from_secs(1),
            settle: std::time::Duration::from_secs(1),
            keep: 1,
            probes: BTreeMap::new(),
            sync: None,
        };
        let model: Model = serde_saphyr::from_str(
            "services:\n  order-server:\n    container_name: order-server\n    image: x\n  postgres:\n    image: postgres\n",
        )
        .unwrap();
        let svc = |p: &str, s: &str, dir: &str, files: &str| {
            vec![
                ("com.docker.compose.project", p.to_string()),
                ("com.docker.compose.service", s.to_string()),
                ("com.docker.compose.project.working_dir", dir.to_string()),
                ("com.docker.compose.project.config_files", files.to_string()),
            ]
        };
        let mk = |name: &str, l: Vec<(&str, String)>| {
            let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
            container(name, &l)
        };
        let cases: Vec<(ContainerInfo, Option<Option<&str>>)> = vec![
            // Ours: never foreign.
            (mk("acme-postgres-1", svc("acme", "postgres", "/srv/acme", "/srv/acme/docker-compose-prod.yaml")), None),
            // The old `docker-compose up -d`: project = directory name, same container_name.
            (
                mk("order-server", svc("acme-repo", "order-server", "/elsewhere", "/elsewhere/dc.yaml")),
                Some(Some("acme-repo")),
            ),
            // Same directory, a service of ours, no container_name.
            (
                mk("other-postgres-1", svc("other", "postgres", "/srv/acme", "/srv/acme/docker-compose.yaml")),
                Some(Some("other")),
            ),
            // Same compose file from another directory.
            (
                mk("x-postgres-1", svc("x", "postgres", "/tmp", "/srv/acme/docker-compose-prod.yaml,/tmp/o.yaml")),
                Some(Some("x")),
            ),
            // Somebody else's postgres: another directory, other files.
            (mk("shop-postgres-1", svc("shop", "postgres", "/srv/shop", "/srv/shop/docker-compose.yaml")), None),
            // `docker run --name order-server`: no project at all.
            (container("order-server", &[]), Some(None)),
            (container("unrelated", &[]), None),
        ];
        for (c, want) in cases {
            let got = foreign(&target, &model, std::slice::from_ref(&c));
            let got = got.first().map(|f| f.project.as_deref());
            assert_eq!(got, want, "{}", c.name);
        }
    }
}
