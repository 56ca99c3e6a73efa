//! The Docker Engine, through the `docker` CLI: images, containers, pulls, loads, logs.
//!
//! The CLI rather than bollard: a deploy makes a handful of calls, the CLI reads the
//! user's contexts, credential helpers and `DOCKER_HOST` (including `ssh://`) exactly as
//! their compose does, and every failure names the command to rerun by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hoist_cmd::{Cmd, CmdError};
use serde::Deserialize;

/// The engine hoist talks to.
#[derive(Debug, Clone, Default)]
pub struct Docker {
    /// `DOCKER_HOST` (e.g. `ssh://user@host`); `None` for the local engine.
    pub host: Option<String>,
}

/// What `docker image inspect` says about one image.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageInfo {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "RepoDigests", default)]
    pub repo_digests: Option<Vec<String>>,
}

/// What `docker container inspect` says about one container.
#[derive(Debug, Clone, Deserialize)]
pub struct ContainerInfo {
    #[serde(rename = "Id")]
    pub id: String,
    /// The image ID the container runs.
    #[serde(rename = "Image")]
    pub image: String,
    #[serde(rename = "Name")]
    pub name: String,
    /// How often the engine restarted it (its restart policy); a settle wait watches it.
    #[serde(rename = "RestartCount", default)]
    pub restart_count: i64,
    #[serde(rename = "State")]
    pub state: State,
    #[serde(rename = "Config")]
    pub config: ContainerConfig,
}

#[derive(Debug, Clone, Deserialize)]
pub struct State {
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "Running")]
    pub running: bool,
    #[serde(rename = "Restarting", default)]
    pub restarting: bool,
    #[serde(rename = "ExitCode", default)]
    pub exit_code: i64,
    /// When its process last started (RFC 3339, as the engine writes it).
    #[serde(rename = "StartedAt", default)]
    pub started_at: String,
    #[serde(rename = "Health", default)]
    pub health: Option<Health>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Health {
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "FailingStreak", default)]
    pub failing_streak: i64,
    #[serde(rename = "Log", default)]
    pub log: Option<Vec<HealthLog>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HealthLog {
    #[serde(rename = "ExitCode", default)]
    pub exit_code: i64,
    #[serde(rename = "Output", default)]
    pub output: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContainerConfig {
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
}

impl ContainerInfo {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.config.labels.as_ref()?.get(key).map(String::as_str)
    }

    /// The compose service this container belongs to.
    pub fn service(&self) -> Option<&str> {
        self.label("com.docker.compose.service")
    }

    /// A `run` container rather than the service's own.
    pub fn one_off(&self) -> bool {
        self.label("com.docker.compose.oneoff").is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

impl Docker {
    pub fn cmd(&self) -> Cmd {
        let cmd = Cmd::new("docker");
        match &self.host {
            Some(host) => cmd.arg("--host").arg(host),
            None => cmd,
        }
    }

    /// The engine answers at all (one clear error before anything else happens).
    pub fn ping(&self) -> Result<(), CmdError> {
        self.cmd().args(["version", "--format", "{{.Server.Version}}"]).run().map(|_| ())
    }

    /// Inspect one image by reference or ID; `None` when the engine does not have it.
    pub fn image(&self, reference: &str) -> Result<Option<ImageInfo>, CmdError> {
        let out = match self.cmd().args(["image", "inspect", "--", reference]).run() {
            Ok(out) => out,
            Err(e) if e.stderr().is_some_and(|s| s.contains("No such image") || s.contains("No such object")) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let mut list: Vec<ImageInfo> = serde_json::from_str(&out.stdout).unwrap_or_default();
        Ok(if list.is_empty() { None } else { Some(list.remove(0)) })
    }

    /// Inspect many images in one call: reference (or ID) → image, for those the engine has.
    pub fn images(&self, references: &[String]) -> Result<BTreeMap<String, ImageInfo>, CmdError> {
        if references.is_empty() {
            return Ok(BTreeMap::new());
        }
        let cmd = self.cmd().args(["image", "inspect", "--"]).args(references);
        let out = cmd.output()?;
        // Missing images make the exit status 1; the ones found are still printed.
        let list: Vec<ImageInfo> = match serde_json::from_str(&out.stdout) {
            Ok(list) => list,
            Err(_) if out.stderr.contains("No such") => Vec::new(),
            Err(_) => return cmd.run().map(|_| BTreeMap::new()),
        };
        let mut found = BTreeMap::new();
        for r in references {
            let hit = list.iter().find(|i| {
                &i.id == r
                    || i.repo_tags.iter().flatten().any(|t| t == r)
                    || i.repo_digests.iter().flatten().any(|d| d == r)
            });
            if let Some(info) = hit {
                found.insert(r.clone(), info.clone());
            }
        }
        Ok(found)
    }

    /// `docker pull REF`.
    pub fn pull(&self, reference: &str) -> Result<(), CmdError> {
        self.cmd().args(["pull", "--quiet", reference]).run().map(|_| ())
    }

    /// `docker tag SOURCE TARGET`.
    pub fn tag(&self, source: &str, target: &str) -> Result<(), CmdError> {
        self.cmd().args(["tag", source, target]).run().map(|_| ())
    }

    /// `docker load --input FILE`.
    pub fn load(&self, archive: &Path) -> Result<(), CmdError> {
        self.cmd().args(["load", "--quiet", "--input"]).arg(archive).run().map(|_| ())
    }

    /// Untag a reference (or remove an image by ID). Never forced: the engine refuses to
    /// remove an image a container uses.
    pub fn remove_image(&self, reference: &str) -> Result<(), CmdError> {
        self.cmd().args(["image", "rm", "--no-prune", reference]).run().map(|_| ())
    }

    /// The containers (running or not) of a compose project, service containers only.
    pub fn project_containers(&self, project: &str) -> Result<Vec<ContainerInfo>, CmdError> {
        let ids = self
            .cmd()
            .args(["ps", "--all", "--no-trunc", "--quiet", "--filter"])
            .arg(format!("label=com.docker.compose.project={project}"))
            .read()?;
        let ids: Vec<&str> = ids.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let all = self.inspect_containers(&ids)?;
        Ok(all.into_iter().filter(|c| !c.one_off()).collect())
    }

    /// Every container on the engine (any project, running or not).
    pub fn all_containers(&self) -> Result<Vec<ContainerInfo>, CmdError> {
        let ids = self.cmd().args(["ps", "--all", "--no-trunc", "--quiet"]).read()?;
        let ids: Vec<&str> = ids.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        self.inspect_containers(&ids)
    }

    pub fn inspect_containers(&self, ids: &[&str]) -> Result<Vec<ContainerInfo>, CmdError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let out = self.cmd().args(["container", "inspect"]).args(ids).output()?;
        // A container removed between `ps` and `inspect` makes inspect fail for it alone;
        // the others are still printed.
        Ok(serde_json::from_str(&out.stdout).unwrap_or_default())
    }

    /// The image IDs every container on the engine (any project, running or not) uses.
    pub fn images_in_use(&self) -> Result<BTreeSet<String>, CmdError> {
        let ids = self.cmd().args(["ps", "--all", "--no-trunc", "--quiet"]).read()?;
        let ids: Vec<&str> = ids.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        if ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let out = self.cmd().args(["container", "inspect", "--format", "{{.Image}}"]).args(&ids).output()?;
        Ok(out.stdout.lines().map(str::trim).filter(|l| l.starts_with("sha256:")).map(String::from).collect())
    }

    /// Dangling images (no tag left), as full IDs, with their labels.
    pub fn dangling_images(&self) -> Result<Vec<(String, BTreeMap<String, String>)>, CmdError> {
        let ids = self.cmd().args(["image", "ls", "--quiet", "--no-trunc", "--filter", "dangling=true"]).read()?;
        let ids: BTreeSet<&str> = ids.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = ids.into_iter().collect();
        let out =
            self.cmd().args(["image", "inspect", "--format", "{{.Id}} {{json .Config.Labels}}"]).args(&ids).output()?;
        Ok(out
            .stdout
            .lines()
            .filter_map(|l| {
                let (id, labels) = l.split_once(' ')?;
                let labels: BTreeMap<String, String> =
                    serde_json::from_str::<Option<_>>(labels).ok().flatten().unwrap_or_default();
                Some((id.to_string(), labels))
            })
            .collect())
    }

    /// The last `n` lines a container wrote (stdout and stderr).
    pub fn logs_tail(&self, id: &str, n: usize) -> String {
        match self.cmd().args(["logs", "--tail"]).arg(n.to_string()).arg(id).output() {
            Ok(out) => {
                let mut text = out.stdout;
                if !out.stderr.trim().is_empty() {
                    if !text.is_empty() && !text.ends_with('\n') {
                        text.push('\n');
                    }
                    text.push_str(&out.stderr);
                }
                hoist_cmd::tail(&text, n)
            }
            Err(e) => format!("(no logs: {e})"),
        }
    }
}
