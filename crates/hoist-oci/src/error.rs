//! The one error type of hoist-oci: every variant names the path, ref or line it is about.

use std::path::PathBuf;

use hoist_diag::{Diagnostic, Exit};

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an OCI image layout (no `oci-layout` file)")]
    NotALayout { path: PathBuf },
    #[error("{path}: invalid {what}: {message}")]
    Invalid { path: PathBuf, what: &'static str, message: String },
    #[error("image `{name}` is not in the layout {layout}; it has: {}", list(.known))]
    RefNotFound { name: String, layout: PathBuf, known: Vec<String> },
    #[error("blob {digest} is missing from the layout {layout}")]
    BlobMissing { digest: String, layout: PathBuf },
    #[error("blob {path} does not match its digest: expected {expected}, found {actual}")]
    DigestMismatch { path: PathBuf, expected: String, actual: String },
    #[error("{path} changed while it was being read ({what})")]
    Changed { path: PathBuf, what: String },
    #[error("the symlink {path} points to {target}, outside the root {root}")]
    SymlinkEscapes { path: PathBuf, target: PathBuf, root: PathBuf },
    #[error("tar entry `{entry}` in {archive} escapes the root")]
    TarEscapes { entry: String, archive: PathBuf },
    #[error("{path}: no such file")]
    Missing { path: PathBuf },
    #[error("{path}:{line}: {message}")]
    Dockerfile { path: PathBuf, line: usize, message: String, hint: Option<String> },
    #[error("invalid ref name `{name}`: {message}")]
    BadRef { name: String, message: String },
    #[error("{0}")]
    Other(String),
}

fn list(known: &[String]) -> String {
    if known.is_empty() { "no images".to_string() } else { known.join(", ") }
}

impl OciError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> OciError {
        let path = path.into();
        move |source| OciError::Io { path, source }
    }
}

impl Diagnostic for OciError {
    fn exit(&self) -> Exit {
        match self {
            OciError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => Exit::Unexpected,
            OciError::Io { .. } | OciError::Other(_) => Exit::Unexpected,
            _ => Exit::User,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            OciError::NotALayout { .. } => {
                Some("build an image first (`hoist image`) or point `[image] layout` at an OCI layout".into())
            }
            OciError::RefNotFound { .. } => {
                Some("import the base with `hoist image import DIR --ref NAME`, or build the image first".into())
            }
            OciError::BlobMissing { .. } => Some(
                "a base pulled without its layers needs them now: `hoist pull` it again; otherwise rebuild the image"
                    .into(),
            ),
            OciError::DigestMismatch { .. } => {
                Some("the layout is damaged; rebuild the image (the blob is written again)".into())
            }
            OciError::Changed { .. } => {
                Some("something rewrote the file during the build; run the build again when it is done".into())
            }
            OciError::SymlinkEscapes { .. } => {
                Some("make the link relative and inside the directory, or copy the file in".into())
            }
            OciError::Dockerfile { hint, .. } => hint.clone(),
            OciError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                Some("the disk is full; free space and retry (no half-written blob was kept)".into())
            }
            _ => None,
        }
    }
}
