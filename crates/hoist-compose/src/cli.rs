//! The user's compose CLI: `docker compose` (v2) where present, else `docker-compose` (v1).
//!
//! Both take the same arguments for everything hoist runs (`-p`, `-f`, `--project-directory`,
//! `up -d --no-build`, `config --hash`), so the two are one enum that differs only in the
//! program it starts. hoist never passes v2-only flags (`--wait`, `--pull`): it waits and
//! pulls itself, identically for both.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use hoist_cmd::Cmd;
use serde::Serialize;

/// Which compose is used, and how it is started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ComposeCli {
    /// The Compose v2 plugin: `docker compose …`.
    V2 { docker: PathBuf },
    /// The standalone `docker-compose` (v1, or a v2 standalone binary).
    V1 { program: PathBuf },
}

/// What probing the machine found (the input of [`ComposeCli::choose`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// `docker compose version` succeeded.
    pub plugin: bool,
    /// `docker-compose version` succeeded.
    pub standalone: bool,
}

/// Where one compose project lives: its name, the user's files, and hoist's override.
#[derive(Debug, Clone)]
pub struct Project<'a> {
    pub name: &'a str,
    /// The directory relative paths in the compose files resolve against.
    pub dir: &'a Path,
    /// The user's files, then hoist's override (later files win).
    pub files: &'a [PathBuf],
    /// `DOCKER_HOST` for a remote engine.
    pub docker_host: Option<&'a str>,
}

impl ComposeCli {
    /// Pick v2 when the plugin answers, else the standalone program.
    pub fn choose(probe: Probe) -> Option<ComposeCli> {
        if probe.plugin {
            Some(ComposeCli::V2 { docker: "docker".into() })
        } else if probe.standalone {
            Some(ComposeCli::V1 { program: "docker-compose".into() })
        } else {
            None
        }
    }

    /// Ask the machine which compose it has.
    pub fn detect() -> Option<ComposeCli> {
        let ok = |cmd: Cmd| cmd.output().map(|o| o.success()).unwrap_or(false);
        let plugin = ok(Cmd::new("docker").args(["compose", "version"]));
        // v1 is a Python program that takes half a second to start: finding it on PATH is
        // enough here, and a broken install fails on its first real command with its stderr.
        let standalone = !plugin && on_path("docker-compose");
        ComposeCli::choose(Probe { plugin, standalone })
    }

    /// `docker compose` or `docker-compose`, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            ComposeCli::V2 { .. } => "docker compose",
            ComposeCli::V1 { .. } => "docker-compose",
        }
    }

    /// The full argument list after the program for `args` on `project`.
    pub fn argv(&self, project: &Project<'_>, args: &[&str]) -> Vec<OsString> {
        let mut argv: Vec<OsString> = Vec::new();
        if let ComposeCli::V2 { .. } = self {
            argv.push("compose".into());
        }
        argv.push("--project-name".into());
        argv.push(project.name.into());
        argv.push("--project-directory".into());
        argv.push(project.dir.into());
        for file in project.files {
            argv.push("--file".into());
            argv.push(file.into());
        }
        argv.extend(args.iter().map(OsString::from));
        argv
    }

    /// A ready-to-run command for `args` on `project`.
    pub fn cmd(&self, project: &Project<'_>, args: &[&str]) -> Cmd {
        let program = match self {
            ComposeCli::V2 { docker } => docker,
            ComposeCli::V1 { program } => program,
        };
        let mut cmd = Cmd::new(program).args(self.argv(project, args)).current_dir(project.dir);
        if let Some(host) = project.docker_host {
            cmd = cmd.env("DOCKER_HOST", host);
        }
        cmd
    }

    /// Bring the project up without building; compose recreates only what changed.
    pub fn up(&self, project: &Project<'_>) -> Cmd {
        self.cmd(project, &["up", "--detach", "--no-build"])
    }

    /// Print `service hash` lines: compose's own recreate decision input.
    pub fn config_hash(&self, project: &Project<'_>) -> Cmd {
        self.cmd(project, &["config", "--hash=*"])
    }
}

/// Whether an executable named `program` is on PATH.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Parse `config --hash` output (`service hash` per line).
pub fn parse_hashes(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let service = parts.next()?;
            let hash = parts.next()?;
            (parts.next().is_none() && hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()))
                .then(|| (service.to_string(), hash.to_string()))
        })
        .collect()
}

/// Compose project names: both v1 and v2 accept lowercase letters, digits, `-` and `_`,
/// starting with a letter or digit. v1 would silently strip anything else, and the
/// container labels would then not match the name hoist looks for.
pub fn check_project_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_PROJECT_NAME
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "compose project name `{}` must be 1 to {MAX_PROJECT_NAME} lowercase letters, digits, `-` or `_`, starting with a letter or digit",
            name.escape_debug()
        ))
    }
}

/// The name is part of state file names (`history-<name>.json.corrupt-<time>` must stay
/// under the 255 bytes a file name may have).
pub const MAX_PROJECT_NAME: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choose_prefers_v2() {
        let cases = [
            (true, true, Some("docker compose")),
            (true, false, Some("docker compose")),
            (false, true, Some("docker-compose")),
            (false, false, None),
        ];
        for (plugin, standalone, want) in cases {
            let got = ComposeCli::choose(Probe { plugin, standalone });
            assert_eq!(got.as_ref().map(ComposeCli::name), want, "{plugin} {standalone}");
        }
    }

    #[test]
    fn argv_for_both() {
        let files = [PathBuf::from("/p/docker-compose-prod.yaml"), PathBuf::from("/p/.hoist/deploy/override.yaml")];
        let project = Project { name: "shop", dir: Path::new("/p"), files: &files, docker_host: None };
        let common = "--project-name shop --project-directory /p --file /p/docker-compose-prod.yaml --file /p/.hoist/deploy/override.yaml";
        let cases: [(ComposeCli, &[&str], String); 4] = [
            (
                ComposeCli::V2 { docker: "docker".into() },
                &["up", "--detach", "--no-build"],
                format!("compose {common} up --detach --no-build"),
            ),
            (
                ComposeCli::V1 { program: "docker-compose".into() },
                &["up", "--detach", "--no-build"],
                format!("{common} up --detach --no-build"),
            ),
            (
                ComposeCli::V2 { docker: "docker".into() },
                &["config", "--hash=*"],
                format!("compose {common} config --hash=*"),
            ),
            (
                ComposeCli::V1 { program: "docker-compose".into() },
                &["config", "--hash=*"],
                format!("{common} config --hash=*"),
            ),
        ];
        for (cli, args, want) in cases {
            let got: Vec<String> = cli.argv(&project, args).iter().map(|a| a.to_string_lossy().into_owned()).collect();
            assert_eq!(got.join(" "), want);
        }
        let up = ComposeCli::V2 { docker: "docker".into() }.up(&project);
        assert_eq!(up.program(), "docker");
        assert_eq!(up.dir(), Some(Path::new("/p")));
        let up = ComposeCli::V1 { program: "docker-compose".into() }.up(&project);
        assert_eq!(up.program(), "docker-compose");
    }

    #[test]
    fn hashes_parse_and_skip_noise() {
        let text = format!("user-service {}\nWARNING something\nkv-store {}\n\n", "a".repeat(64), "0".repeat(64));
        let got = parse_hashes(&text);
        assert_eq!(got.len(), 2);
        assert_eq!(got["user-service"], "a".repeat(64));
        assert!(parse_hashes("").is_empty(), "v2.23's empty answer parses to nothing");
    }

    #[test]
    fn project_names() {
        for ok in ["shop", "shop-1", "a_b", "9lives"] {
            assert!(check_project_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Shop", "-shop", "_x", "sh op", "shop.prod", "../x", "a/b", &"a".repeat(MAX_PROJECT_NAME + 1)] {
            assert!(check_project_name(bad).is_err(), "{bad}");
        }
        assert!(check_project_name(&"a".repeat(MAX_PROJECT_NAME)).is_ok());
    }
}
