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
    #[error("image `{name}` has no manifest for {platform}; it has: {}", list(.available))]
    NoPlatform { name: String, platform: String, available: Vec<String> },
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
    /// A file that would go into a layer resolves (through symlinks) outside the
    /// directory it must come from: the project, or the build context.
    #[error("{path} resolves to {resolved}, outside {root}")]
    OutsideRoot { path: PathBuf, resolved: PathBuf, root: PathBuf },
    /// Two entries of one layer (or one jar) claim a path as a file and as a directory.
    #[error("{origin}: `{path}` is both a {first} and the parent of `{child}`")]
    PathConflict { origin: String, path: String, first: &'static str, child: String },
    #[error("the image path `{path}` {message}")]
    BadImagePath { path: String, message: String },
    /// An archive (tar, gzip/zstd tar, jar) passed one of its bounds.
    #[error("{archive}: {message}")]
    ArchiveLimit { archive: PathBuf, limit: Limit, message: String },
    /// A `docker save` or OCI archive whose content is not what it states: an entry that is
    /// missing, leaves the archive, or does not match its digest or DiffID.
    #[error("{archive}: entry `{entry}`: {message}")]
    BadArchive { archive: PathBuf, entry: String, message: String },
    /// An archive of several images and no `--image`, or one that names none of them.
    #[error("{archive}: {message}")]
    ArchiveImage { archive: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    DockerIgnore { path: PathBuf, line: usize, message: String },
    /// An error met while carrying out one Dockerfile instruction, with its line.
    #[error("{path}:{line}: {error}")]
    AtLine { path: PathBuf, line: usize, error: Box<OciError> },
    #[error("{0}")]
    Other(String),
}

/// Which bound of [`crate::archive::ArchiveLimits`] an archive passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Size,
    Entries,
    Ratio,
    Depth,
    /// Headers, long names and PAX records of one entry.
    Metadata,
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
            OciError::AtLine { error, .. } => error.exit(),
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
            OciError::NoPlatform { .. } => Some(
                "build for a platform the image has (`[image] platforms`, `--platform`), or use a base that has it".into(),
            ),
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
            OciError::AtLine { error, .. } => error.hint(),
            OciError::OutsideRoot { .. } => Some(
                "only files inside it go into the image: copy the file in instead of linking to it".into(),
            ),
            OciError::PathConflict { .. } => {
                Some("an image path is a file or a directory, not both: rename or remove one of them".into())
            }
            OciError::BadArchive { .. } => Some(
                "the archive is damaged or altered, or was not written by `docker save` or `skopeo copy ... oci-archive:`; write it again".into(),
            ),
            OciError::ArchiveImage { .. } => {
                Some("name the image to import with `--image REPO:TAG` (or its digest), as listed".into())
            }
            OciError::DockerIgnore { .. } => Some(
                "the patterns are Docker's (Go filepath.Match plus `**`); fix or remove the line".into(),
            ),
            OciError::ArchiveLimit { limit, .. } => Some(match limit {
                Limit::Size | Limit::Entries | Limit::Ratio => "a genuine archive this large can be imported with a higher bound (`hoist image import --max-size SIZE --max-entries N --max-ratio R`); otherwise it is damaged or hostile".into(),
                Limit::Depth => "no real root filesystem nests this deep; the archive is damaged or hostile".into(),
                Limit::Metadata => "a tar entry's headers are larger than any real archive needs; the archive is damaged or hostile".into(),
            }),
            OciError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                Some("the disk is full; free space and retry (no half-written blob was kept)".into())
            }
            _ => None,
        }
    }
}
