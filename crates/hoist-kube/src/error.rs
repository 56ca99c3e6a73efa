//! hoist-kube's errors: each names the file and document, or the cluster call, and the fix.

use std::path::PathBuf;

use hoist_diag::{Diagnostic, Exit};

use crate::check::Duplicate;

/// Reading and checking manifests.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: no *.yaml, *.yml or *.json manifests in this directory or below it", path.display())]
    EmptyDir { path: PathBuf },
    #[error("{} links to {}, outside the manifest directory {}", link.display(), target.display(), root.display())]
    LinkOutside { link: PathBuf, target: PathBuf, root: PathBuf },
    #[error("{}:{line}:{column}: invalid YAML: {message}", path.display())]
    Yaml { path: PathBuf, line: u64, column: u64, message: String },
    #[error("{} document {index}{}: {message}", path.display(), if field.is_empty() { String::new() } else { format!(", field `{field}`") })]
    Invalid { path: PathBuf, index: usize, field: String, message: String },
    #[error("{}", duplicates_text(problems))]
    Duplicates { problems: Vec<Duplicate> },
}

fn duplicates_text(problems: &[Duplicate]) -> String {
    let mut out = format!(
        "server-side apply refuses {} that repeat{} a key of {} list:",
        if problems.len() == 1 {
            "1 manifest entry".to_string()
        } else {
            format!("{} manifest entries", problems.len())
        },
        if problems.len() == 1 { "s" } else { "" },
        if problems.len() == 1 { "its" } else { "their" },
    );
    for p in problems {
        out.push_str(&format!("\n  {p}"));
    }
    out
}

impl Diagnostic for ManifestError {
    fn exit(&self) -> Exit {
        match self {
            ManifestError::Read { .. }
            | ManifestError::EmptyDir { .. }
            | ManifestError::LinkOutside { .. }
            | ManifestError::Yaml { .. }
            | ManifestError::Invalid { .. }
            | ManifestError::Duplicates { .. } => Exit::User,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            ManifestError::Read { .. } | ManifestError::EmptyDir { .. } => {
                Some("pass manifest files or directories, or set `[deploy.kubernetes] manifests` in hoist.toml".into())
            }
            ManifestError::LinkOutside { .. } => Some(
                "a manifest directory is read as one tree: copy the file in, or name its path in `[deploy.kubernetes] manifests`".into(),
            ),
            ManifestError::Yaml { .. } => {
                Some("fix the YAML at that line; `kubectl apply --dry-run=client -f FILE` shows the same".into())
            }
            ManifestError::Duplicates { .. } => Some(
                "remove or merge the repeated entries; client-side `kubectl apply` silently keeps one of them, server-side apply rejects the object (`hoist render k8s` lists them too)".into(),
            ),
            ManifestError::Invalid { .. } => Some(
                "documents are counted from 0 per file; compare the field with `kubectl explain <kind>.<field>`".into(),
            ),
        }
    }
}

/// Rewriting images.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the digest `{digest}` of service `{service}` is not `sha256:` followed by 64 lowercase hex digits")]
    BadDigest { service: String, digest: String },
}

impl Diagnostic for RenderError {}

/// Talking to the cluster.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("cannot reach the Kubernetes cluster of context `{context}` at {url}")]
    Unreachable {
        context: String,
        url: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "the Kubernetes API server of context `{context}` at {url} did not answer {verb} {object} within {seconds}s"
    )]
    CallTimeout { verb: String, object: String, seconds: f64, context: String, url: String },
    #[error("forbidden: cannot {verb} {resource} in {}: {message}", namespace_text(namespace.as_deref()))]
    Forbidden { verb: String, resource: String, namespace: Option<String>, message: String },
    #[error("conflict applying {object}: {message}")]
    Conflict { object: String, message: String },
    #[error("the API server rejected {verb} {object}: {message}")]
    Rejected { verb: String, object: String, code: u16, message: String },
    #[error("{verb} {object} failed")]
    Api {
        verb: String,
        object: String,
        #[source]
        source: kube::Error,
    },
    #[error("the cluster does not serve {api_version} {kind} ({object})")]
    UnknownKind {
        api_version: String,
        kind: String,
        object: String,
        #[source]
        source: kube::Error,
    },
    #[error("{object} did not become ready within {seconds}s: {last}")]
    Timeout { object: String, seconds: u64, last: String },
    #[error("{object} failed: {reason}")]
    Failed { object: String, reason: String },
    #[error("release {release} failed and was rolled back to {previous}")]
    RolledBack {
        release: String,
        previous: String,
        #[source]
        cause: Box<DeployError>,
    },
    #[error("release {release} failed, and rolling back to {previous} failed too: {rollback}")]
    RollbackFailed {
        release: String,
        previous: String,
        rollback: Box<DeployError>,
        #[source]
        cause: Box<DeployError>,
    },
    #[error("the release history Secret {name} in namespace {namespace} is unreadable: {message}")]
    History { namespace: String, name: String, message: String },
    #[error(
        "the release history Secret {name} in namespace {namespace} has history format version {version}, newer than this hoist reads ({supported}): upgrade hoist"
    )]
    HistoryTooNew { namespace: String, name: String, version: u64, supported: u32 },
    #[error(
        "{gone} of the {before} objects release {previous} applied are not in the manifests{} ({after} object{}): pruning would delete more than half of the release",
        if sources.is_empty() { String::new() } else { format!(" read from {}", sources.join(", ")) },
        if *after == 1 { "" } else { "s" }
    )]
    Shrink { previous: String, before: usize, gone: usize, after: usize, sources: Vec<String> },
    #[error("cannot load the Kubernetes client configuration: {message}")]
    Config { message: String },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

fn namespace_text(ns: Option<&str>) -> String {
    match ns {
        Some(ns) => format!("namespace `{ns}`"),
        None => "the cluster scope".to_string(),
    }
}

impl Diagnostic for DeployError {
    fn exit(&self) -> Exit {
        match self {
            DeployError::Api { .. } | DeployError::History { .. } => Exit::Unexpected,
            DeployError::RolledBack { cause, .. } | DeployError::RollbackFailed { cause, .. } => cause.exit(),
            _ => Exit::User,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            DeployError::Unreachable { context, .. } => Some(format!(
                "check `kubectl --context {context} cluster-info`; pick another context with --context or `[deploy.kubernetes] context`"
            )),
            DeployError::CallTimeout { context, .. } => Some(format!(
                "check the API server's health (`kubectl --context {context} get --raw /readyz`) and the network to it, then deploy again"
            )),
            DeployError::Forbidden { verb, resource, namespace, .. } => Some(format!(
                "grant the deploying user `{verb}` on `{resource}`{}: `kubectl auth can-i {verb} {resource}{}` shows the answer",
                namespace.as_deref().map(|n| format!(" in `{n}`")).unwrap_or_default(),
                namespace.as_deref().map(|n| format!(" -n {n}")).unwrap_or_default(),
            )),
            DeployError::Conflict { .. } => Some(
                "another field manager owns these fields; change them through hoist's manifests, or take them over with `hoist deploy k8s --force-conflicts`"
                    .into(),
            ),
            DeployError::Config { .. } => Some(
                "set $KUBECONFIG or create ~/.kube/config, and name an existing context with --context or `[deploy.kubernetes] context`".into(),
            ),
            DeployError::UnknownKind { .. } => Some("install the CRD first, or add it to the manifests".into()),
            DeployError::Timeout { .. } => Some(
                "see `kubectl describe` and the pods' events; raise `[deploy.kubernetes] timeout` if the rollout is just slow".into(),
            ),
            DeployError::Failed { .. } => Some("see `kubectl describe` and the pods' logs".into()),
            DeployError::Shrink { .. } => Some(
                "nothing was applied or deleted; check the paths in `[deploy.kubernetes] manifests`, and if the release really drops those objects, deploy again with `--allow-shrink`".into(),
            ),
            DeployError::HistoryTooNew { .. } => Some(
                "a newer hoist deployed this project here; upgrade hoist to that version or later (`hoist --version` shows this one) and deploy again"
                    .into(),
            ),
            DeployError::RolledBack { cause, .. } => cause.hint(),
            DeployError::Manifest(e) => e.hint(),
            _ => None,
        }
    }
}
