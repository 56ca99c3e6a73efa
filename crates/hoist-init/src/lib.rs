//! `hoist init`: scans a repository and writes a commented `hoist.toml`, and on request a
//! GitHub Actions release workflow. Scanning reads files; rendering is pure text.

mod scan;
mod workflow;

use std::path::{Path, PathBuf};

use hoist_diag::{Diagnostic, Exit};

pub use scan::{Detected, ServiceGuess, scan};
pub use workflow::{WorkflowOptions, workflow};

/// Where the workflow goes.
pub const WORKFLOW_PATH: &str = ".github/workflows/release.yml";

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{} already exists; hoist init never overwrites a file", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Diagnostic for InitError {
    fn exit(&self) -> Exit {
        match self {
            InitError::Exists(_) => Exit::User,
            InitError::Io { .. } => Exit::Unexpected,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            InitError::Exists(p) => Some(format!("move {} away first, or edit it by hand", p.display())),
            InitError::Io { .. } => None,
        }
    }
}

/// Write `contents` to `path` only if nothing is there (create_new: no race either).
pub fn write_new(path: &Path, contents: &str) -> Result<(), InitError> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| InitError::Io { path: parent.to_path_buf(), source })?;
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            InitError::Exists(path.to_path_buf())
        } else {
            InitError::Io { path: path.to_path_buf(), source }
        }
    })?;
    file.write_all(contents.as_bytes()).map_err(|source| InitError::Io { path: path.to_path_buf(), source })
}

/// The commented `hoist.toml` for what was detected.
pub fn config_text(d: &Detected) -> String {
    let mut s = String::new();
    s.push_str("# hoist.toml, written by `hoist init`. Every key: docs/config.md.\n");
    s.push_str("# Check the lines marked TODO, then try `hoist version` and `hoist build --dry-run`.\n\n");
    s.push_str(&format!("[project]\nname = {}\n\n", quote(&d.name)));
    s.push_str("[version]\n");
    s.push_str("# Release tags look like v5.0.2-b321ac7: the version, then the release commit's hash.\n");
    s.push_str("tag_format = \"v{version}-{sha}\"\n");
    s.push_str("# A PR title with [major], [minor] or [patch] makes a release; without one, nothing is released.\n");
    s.push_str("default_bump = \"none\"\n\n");
    s.push_str("[build]\n");
    match &d.build_command {
        Some(cmd) => {
            s.push_str(&format!("# Found {}.\n", d.build_system.as_deref().unwrap_or("a build")));
            s.push_str(&format!("command = {}\n", toml_list(cmd)));
        }
        None => s.push_str(
            "# TODO: the project-wide build, as an argument list, e.g.\n# command = [\"make\", \"VERSION={tag}\"]\n",
        ),
    }
    s.push('\n');
    if d.services.is_empty() {
        s.push_str(
            "# TODO: one table per service, e.g.\n# [services.api]\n# artifact = \"api/build/libs/api-{tag}.jar\"\n\n",
        );
    }
    for svc in &d.services {
        s.push_str(&format!("[services.{}]\n", svc.name));
        if svc.dir != svc.name {
            s.push_str(&format!("dir = {}\n", quote(&svc.dir)));
        }
        if let Some(a) = &svc.artifact {
            s.push_str(&format!("artifact = {}\n", quote(a)));
        }
        if !svc.uses.is_empty() {
            let mut paths = vec![svc.dir.clone()];
            paths.extend(svc.uses.iter().cloned());
            s.push_str("# Its inputs: its directory and the Gradle modules it uses (project(':…')); a release\n");
            s.push_str("# in which none of them changed carries it (no build, no restart).\n");
            s.push_str(&format!("paths = {}\n", toml_list(&paths)));
        }
        if let Some(df) = &svc.dockerfile {
            s.push_str(&format!(
                "[services.{}.image]\n# Found an existing Dockerfile.\ndockerfile = {}\n",
                svc.name,
                quote(df)
            ));
        }
        s.push('\n');
    }
    s.push_str("[image]\n# TODO: the base image every service builds on (import one with `hoist image import DIR --ref NAME`).\n");
    s.push_str("# base = \"eclipse-temurin-jre:17\"\n\n");
    s.push_str("# [registry]\n# TODO: the ONE repository all images go to, tagged <service>_<tag>.\n");
    s.push_str("# repository = \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/");
    s.push_str(&d.name);
    s.push_str("\"\n\n");
    if !d.compose_files.is_empty() {
        s.push_str("[deploy.compose]\n# Found a compose file; hoist pins each service's image in an override file and never edits this one.\n");
        s.push_str(&format!("files = {}\n\n", toml_list(&d.compose_files)));
    }
    if let Some(k8s) = &d.k8s_dir {
        s.push_str("[deploy.kubernetes]\n# Found Kubernetes manifests.\n");
        s.push_str(&format!("manifests = [{}]\n", quote(k8s)));
    }
    s
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|i| quote(i)).collect::<Vec<_>>().join(", "))
}
