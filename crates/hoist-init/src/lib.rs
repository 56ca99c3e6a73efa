//! `hoist init`: scans a repository and writes a commented `hoist.toml`, and on request a
//! GitHub Actions release workflow. Scanning reads files; rendering is pure text.

mod facts;
mod history;
mod scan;
mod workflow;

use std::path::{Path, PathBuf};

use hoist_diag::{Diagnostic, Exit};

pub use facts::{ComposeFacts, ConfigFacts, config_facts};
pub use history::{TagHistory, tag_history};
pub use scan::{Detected, ServiceGuess, Skipped, scan};
pub use workflow::{
    Deploy, Install, KubeAuth, PR_WORKFLOW_PATH, RunStep, Target, WORKFLOW_PATH, WorkflowOptions, choose_deploy,
    deploy_steps, ecr_region, pr_workflow, setup_needs, workflow,
};

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
    #[error("cannot read {}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    /// The workflows cannot be written as asked (a flag and hoist.toml disagree).
    #[error("{message}")]
    Workflow { message: String, hint: String },
}

impl Diagnostic for InitError {
    fn exit(&self) -> Exit {
        match self {
            InitError::Exists(_) | InitError::Config { .. } | InitError::Workflow { .. } => Exit::User,
            InitError::Io { .. } => Exit::Unexpected,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            InitError::Exists(p) => Some(format!("move {} away first, or edit it by hand", p.display())),
            InitError::Io { .. } => None,
            InitError::Config { .. } => {
                Some("fix hoist.toml first (`hoist version` shows the line and the key)".into())
            }
            InitError::Workflow { hint, .. } => Some(hint.clone()),
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

/// Add `.hoist/` (hoist's local state) to `<root>/.gitignore` unless a line already
/// ignores it; true when the file changed.
pub fn ignore_state_dir(root: &Path) -> Result<bool, InitError> {
    let path = root.join(".gitignore");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(InitError::Io { path, source }),
    };
    if text
        .lines()
        .any(|l| matches!(l.trim(), ".hoist" | ".hoist/" | "/.hoist" | "/.hoist/" | ".hoist/*" | "/.hoist/*"))
    {
        return Ok(false);
    }
    let mut new = text;
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str("# hoist's local state (image layout, records, deploy history)\n.hoist/\n");
    std::fs::write(&path, new).map_err(|source| InitError::Io { path, source })?;
    Ok(true)
}

/// The commented `hoist.toml` for what was detected.
pub fn config_text(d: &Detected) -> String {
    let mut s = String::new();
    s.push_str("# hoist.toml, written by `hoist init`. Every key: docs/config.md.\n");
    s.push_str("# Check the lines marked TODO, then try `hoist version` and `hoist release --dry-run`.\n\n");
    s.push_str(&format!("[project]\nname = {}\n\n", quote(&d.name)));
    version_text(&mut s, d);
    s.push_str("[build]\n");
    match &d.build_command {
        Some(cmd) => {
            s.push_str(&format!(
                "# Found {}: one project-wide build makes every artifact.\n",
                d.build_system.as_deref().unwrap_or("a build")
            ));
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
    if !d.skipped.is_empty() {
        s.push_str("# Not released (add a [services.<name>] table to release one):\n");
        for k in &d.skipped {
            s.push_str(&format!("# - {}: {}\n", k.path, k.why));
        }
        s.push('\n');
    }
    for svc in &d.services {
        service_text(&mut s, d, svc);
    }
    image_text(&mut s, d);
    s.push_str("# [registry]\n# TODO: the ONE repository all images go to, tagged <service>_<tag>.\n");
    s.push_str("# repository = \"123456789012.dkr.ecr.eu-west-1.amazonaws.com/");
    s.push_str(&d.name);
    s.push_str("\"\n\n");
    compose_text(&mut s, d);
    if let Some(k8s) = &d.k8s_dir {
        s.push_str("[deploy.kubernetes]\n");
        if d.k8s_files.is_empty() {
            s.push_str("# Found a Kubernetes directory.\n");
        } else {
            s.push_str(&format!("# Found {} manifest file(s) under {k8s}/, read recursively.\n", d.k8s_files.len()));
        }
        for image in &d.k8s_unmatched {
            s.push_str(&format!(
                "# TODO: the manifests use {image}, which looks like this project's but is no service's placeholder: add the service or set its placeholder.\n"
            ));
        }
        s.push_str(&format!("manifests = [{}]\n", quote(k8s)));
    }
    s
}

fn version_text(s: &mut String, d: &Detected) {
    s.push_str("[version]\n");
    match &d.tags {
        Some(h) => {
            s.push_str(&format!(
                "# The latest release tag: {} ({} release tags in the history).\n",
                h.newest, h.releases
            ));
            s.push_str(&format!("tag_format = {}\n", quote(&h.format)));
            if !h.earlier.is_empty() {
                s.push_str("# Older tags have another format: they still count as release history.\n");
                s.push_str(&format!("tag_formats = {}\n", toml_list(&h.earlier)));
            }
            if let Some(n) = h.sha_length {
                s.push_str(&format!("sha_length = {n}\n"));
            }
        }
        None => {
            s.push_str("# Release tags look like v5.0.2-b321ac7: the version, then the release commit's hash.\n");
            s.push_str("tag_format = \"v{version}-{sha}\"\n");
        }
    }
    s.push_str("# A PR title with [major], [minor] or [patch] makes a release; without one, nothing is released.\n");
    s.push_str("default_bump = \"none\"\n\n");
}

fn service_text(s: &mut String, d: &Detected, svc: &ServiceGuess) {
    s.push_str(&format!("[services.{}]\n", svc.name));
    if svc.dir != svc.name {
        s.push_str(&format!("dir = {}\n", quote(&svc.dir)));
    }
    match &svc.artifact {
        Some(a) if a.contains('*') => {
            s.push_str("# TODO: check the jar name the build writes (this is a guess).\n");
            s.push_str(&format!("artifact = {}\n", quote(a)));
        }
        Some(a) => s.push_str(&format!("artifact = {}\n", quote(a))),
        None if svc.in_compose && svc.dockerfile.is_none() => s.push_str(&format!(
            "# TODO: {} is no module of the build and has no Dockerfile: set its artifact or image.dockerfile.\n",
            if svc.dir.is_empty() { "the root" } else { svc.dir.as_str() }
        )),
        None => {}
    }
    if !svc.uses.is_empty() {
        let mut paths = vec![svc.dir.clone()];
        paths.extend(svc.uses.iter().cloned());
        s.push_str("# Its inputs: its directory and the Gradle modules it uses (project(':…')); a release\n");
        s.push_str("# in which none of them changed carries it (no build, no restart).\n");
        s.push_str(&format!("paths = {}\n", toml_list(&paths)));
    }
    if let Some(p) = &svc.placeholder {
        let r#where = match (d.compose_files.first(), svc.k8s.is_empty()) {
            (Some(c), false) => format!("{c} and {}", svc.k8s.join(", ")),
            (Some(c), true) => c.clone(),
            (None, _) => svc.k8s.join(", "),
        };
        s.push_str(&format!("# The image name in {where}; hoist puts the release's image in its place.\n"));
        s.push_str(&format!("placeholder = {}\n", quote(p)));
    }
    if let Some(df) = &svc.dockerfile {
        s.push_str(&format!(
            "[services.{}.image]\n# Its Dockerfile makes the image (the artifact is what it copies).\ndockerfile = {}\n",
            svc.name,
            quote(df)
        ));
    }
    s.push('\n');
}

fn image_text(s: &mut String, d: &Detected) {
    let mut bases: Vec<&str> = d.services.iter().filter_map(|s| s.base.as_deref()).collect();
    bases.sort();
    bases.dedup();
    s.push_str("[image]\n");
    match bases.as_slice() {
        [] => {
            s.push_str("# TODO: the base image every service builds on (import one with `hoist image import DIR --ref NAME`).\n");
            s.push_str("# base = \"eclipse-temurin-jre:17\"\n\n");
        }
        bases => {
            s.push_str(&format!(
                "# The Dockerfiles build FROM {}; hoist reads a base from its local layout, by that name.\n",
                bases.join(", ")
            ));
            s.push_str("# TODO: import each once before the first real release (a dry run does not need it), e.g.\n");
            s.push_str(&format!(
                "#   docker create --name base {b} && docker export base > base.tar\n#   hoist image import base.tar --ref {b} --env PATH=… (the ENV `docker image inspect {b}` shows)\n",
                b = bases[0]
            ));
            s.push_str(&format!("base = {}\n\n", quote(bases[0])));
        }
    }
}

fn compose_text(s: &mut String, d: &Detected) {
    if d.compose_files.is_empty() {
        return;
    }
    s.push_str("[deploy.compose]\n");
    match &d.compose_reason {
        Some(why) => s.push_str(&format!(
            "# The production compose file ({why}); hoist pins each service's image in an override file and never edits it.\n"
        )),
        None => s.push_str(&format!(
            "# TODO: which compose file runs in production? Found {}; took the first.\n",
            d.compose_found.join(", ")
        )),
    }
    s.push_str(&format!("files = {}\n", toml_list(&d.compose_files)));
    if let Some(project) = &d.compose_project {
        s.push_str(&format!(
            "# TODO: the stack already runs under the name of the directory the host starts it from\n# (`docker-compose up -d` there); set that name here, so hoist takes the running stack over.\nproject = {}\n",
            quote(project)
        ));
    }
    let silent: Vec<&ServiceGuess> =
        d.services.iter().filter(|s| s.in_compose && !s.healthcheck && s.port.is_some()).collect();
    let unknown: Vec<&str> = d
        .services
        .iter()
        .filter(|s| s.in_compose && !s.healthcheck && s.port.is_none())
        .map(|s| s.name.as_str())
        .collect();
    if !silent.is_empty() || !unknown.is_empty() {
        s.push_str("# No healthcheck: without a probe, a recreated service counts as healthy once it has run\n");
        s.push_str("# `settle` seconds (default 10) without restarting.\n");
    }
    for svc in silent {
        let port = svc.port.expect("filtered");
        s.push_str(&format!("# TODO: a probe for {} (its published port is {port}), e.g.\n", svc.name));
        if svc.spring_boot {
            s.push_str(&format!(
                "# [deploy.compose.probes.{}]\n# http = \"http://127.0.0.1:{port}/actuator/health\"\n",
                svc.name
            ));
        } else {
            s.push_str(&format!("# [deploy.compose.probes.{}]\n# tcp = \"127.0.0.1:{port}\"\n", svc.name));
        }
    }
    if !unknown.is_empty() {
        s.push_str(&format!(
            "# TODO: {} publish(es) no port: add a healthcheck to the compose file, or wait on `settle`.\n",
            unknown.join(", ")
        ));
    }
    s.push('\n');
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_dir_is_ignored_once() {
        for (before, after) in [
            (None, "# hoist's local state (image layout, records, deploy history)\n.hoist/\n"),
            (Some("build/"), "build/\n# hoist's local state (image layout, records, deploy history)\n.hoist/\n"),
            (Some("build/\n/.hoist\n"), "build/\n/.hoist\n"),
            (Some(".hoist/*\n"), ".hoist/*\n"),
            (Some("  .hoist/  \n"), "  .hoist/  \n"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(".gitignore");
            if let Some(text) = before {
                std::fs::write(&path, text).unwrap();
            }
            let changed = ignore_state_dir(dir.path()).unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), after, "{before:?}");
            assert_eq!(changed, before.is_none_or(|b| b == "build/"), "{before:?}");
            assert!(!ignore_state_dir(dir.path()).unwrap(), "twice: {before:?}");
        }
    }
}
