//! The OCI image layout on disk: `oci-layout`, `index.json`, `blobs/sha256/<hex>`.
//!
//! Digests are oci-spec's [`Digest`] (`sha256:<hex>`; only sha256 is written). Refs are the
//! `org.opencontainers.image.ref.name` annotation of an `index.json` entry; one layout holds
//! every service's image (`<service>_<tag>`) and free-form base refs such as `shop-jre:17`
//! (skopeo splits `oci:DIR:REF` at the first `:`, so `oci:.hoist/oci:shop-jre:17` works).
//!
//! Writes never leave a half blob under its final name: a blob is written to a temp file in
//! the same directory, synced, then renamed. `index.json` is rewritten the same way, under
//! an exclusive lock on `index.json.lock` so concurrent hoist processes don't lose refs.
//! Besides the spec's files the directory holds `index.json.lock` and `.hoist-cache/`
//! (DiffID → compressed digest, so an unchanged layer is not compressed again); OCI tools
//! ignore both, and `hoist image export` leaves them out.
//! Temp files (`.tmp-*`) and import directories (`.hoist-import-*`) are locked by the run
//! that writes them; opening the layout for writing removes those of runs that were killed
//! ([`crate::scratch`]).
//! Written by hand rather than with `ocidir` because that crate brings openssl and cap-std.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::image::{
    ANNOTATION_REF_NAME, Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest, MediaType,
};
use sha2::{Digest as _, Sha256};

use crate::error::OciError;
use crate::json;

/// Prefix of the directories a rootfs tar is unpacked into during `hoist image import`.
pub(crate) const IMPORT_PREFIX: &str = ".hoist-import-";

/// The `oci-layout` file's content.
const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// The registry host of a ref that is a registry name (`docker.io/library/jre:17`,
/// `127.0.0.1:5000/base:1`, `localhost/x`), by Docker's rule: the first path component has
/// a `.` or a `:`, or is `localhost`. `None` for a local ref (`shop-jre:17`,
/// `hoist-testkit/shop-jre:17`). Bases fetched from a registry are kept in the layout
/// under their normalised name, which always has a host.
pub fn registry_host(name: &str) -> Option<&str> {
    let (first, _) = name.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

/// One image in the layout: its manifest descriptor, manifest and config.
#[derive(Debug, Clone)]
pub struct Image {
    pub descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
}

/// `sha256:<hex>` as a [`Digest`].
pub fn sha256_digest(hex: &str) -> Digest {
    Digest::from_str(&format!("sha256:{hex}")).expect("a sha256 hex string is a digest")
}

/// The sha256 digest of bytes.
pub fn digest_of(bytes: &[u8]) -> Digest {
    sha256_digest(&hex::encode(Sha256::digest(bytes)))
}

/// A ref name hoist accepts: what skopeo's `oci:` transport and OCI tags allow.
pub fn check_ref_name(name: &str) -> Result<(), OciError> {
    let bad = |m: &str| Err(OciError::BadRef { name: name.to_string(), message: m.to_string() });
    if name.is_empty() {
        return bad("empty");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-:/+@".contains(c)) {
        return bad("use letters, digits and . _ - : / + @");
    }
    if !name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) {
        return bad("must start with a letter or digit");
    }
    Ok(())
}

impl Layout {
    /// Open the layout in `dir`, creating an empty one if there is none.
    pub fn create_or_open(dir: &Path) -> Result<Layout, OciError> {
        let layout = Layout { dir: dir.to_path_buf() };
        fs::create_dir_all(layout.blobs_dir()).map_err(OciError::io(layout.blobs_dir()))?;
        layout.reclaim();
        let marker = dir.join("oci-layout");
        if !marker.is_file() {
            atomic_write(&marker, OCI_LAYOUT.as_bytes())?;
        }
        if !dir.join("index.json").is_file() {
            let _lock = layout.lock()?;
            if !dir.join("index.json").is_file() {
                layout.write_index(&empty_index())?;
            }
        }
        Ok(layout)
    }

    /// Open an existing layout.
    pub fn open(dir: &Path) -> Result<Layout, OciError> {
        if !dir.join("oci-layout").is_file() {
            return Err(OciError::NotALayout { path: dir.to_path_buf() });
        }
        Ok(Layout { dir: dir.to_path_buf() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Remove the temp files and import directories of killed runs (not of live ones).
    /// Returns what was removed.
    pub fn reclaim(&self) -> Vec<PathBuf> {
        let mut removed = crate::scratch::sweep(&self.dir, &[".tmp-", IMPORT_PREFIX]);
        removed.extend(crate::scratch::sweep(&self.blobs_dir(), &[".tmp-"]));
        if let Ok(caches) = fs::read_dir(self.dir.join(".hoist-cache")) {
            for cache in caches.flatten() {
                removed.extend(crate::scratch::sweep(&cache.path(), &[".tmp-"]));
            }
        }
        removed
    }

    /// A locked scratch directory inside the layout (same filesystem as the blobs), for a
    /// rootfs being imported.
    pub(crate) fn scratch_dir(&self) -> Result<crate::scratch::ScratchDir, OciError> {
        crate::scratch::temp_dir(&self.dir, IMPORT_PREFIX).map_err(OciError::io(&self.dir))
    }

    fn blobs_dir(&self) -> PathBuf {
        self.dir.join("blobs").join("sha256")
    }

    /// Every ref name with its manifest descriptor, in index order.
    pub fn refs(&self) -> Result<Vec<(String, Descriptor)>, OciError> {
        let index = self.read_index()?;
        Ok(index
            .manifests()
            .iter()
            .filter_map(|d| {
                let name = d.annotations().as_ref()?.get(ANNOTATION_REF_NAME)?;
                Some((name.clone(), d.clone()))
            })
            .collect())
    }

    /// The manifest descriptor of a ref; the error lists the refs that exist.
    pub fn resolve(&self, name: &str) -> Result<Descriptor, OciError> {
        let refs = self.refs()?;
        if let Some((_, d)) = refs.iter().find(|(n, _)| n == name) {
            return Ok(d.clone());
        }
        Err(OciError::RefNotFound {
            name: name.to_string(),
            layout: self.dir.clone(),
            known: refs.into_iter().map(|(n, _)| n).collect(),
        })
    }

    /// Manifest and config of a ref (digests verified; no layer is read).
    pub fn image(&self, name: &str) -> Result<Image, OciError> {
        let descriptor = self.resolve(name)?;
        self.image_at(descriptor)
    }

    /// Manifest and config of a ref for `platform`: the ref itself when it is an image
    /// manifest (whatever its config's platform: a single-platform base serves every
    /// target, as a `FROM` does), or the index entry (OCI index or Docker manifest list)
    /// that serves `platform`. Only the chosen manifest and its config must be in the
    /// layout: an index fetched from a registry lists manifests whose blobs never came.
    pub fn image_for(&self, name: &str, platform: &crate::Platform) -> Result<Image, OciError> {
        let descriptor = self.resolve(name)?;
        let d = self.platform_manifest(name, descriptor, platform)?;
        self.image_at(d)
    }

    /// The manifest descriptor of `descriptor` for `platform`: itself for a manifest, the
    /// matching entry of an index.
    pub fn platform_manifest(
        &self,
        name: &str,
        descriptor: Descriptor,
        platform: &crate::Platform,
    ) -> Result<Descriptor, OciError> {
        if !is_index(descriptor.media_type()) {
            return Ok(descriptor);
        }
        let bytes = self.read_blob(descriptor.digest())?;
        let index = ImageIndex::from_reader(&bytes[..]).map_err(|e| OciError::Invalid {
            path: self.blob_path(descriptor.digest()),
            what: "image index",
            message: e.to_string(),
        })?;
        platform.pick(&index).cloned().map_err(|available| OciError::NoPlatform {
            name: name.to_string(),
            platform: platform.to_string(),
            available,
        })
    }

    /// Manifest and config behind a manifest descriptor.
    pub fn image_at(&self, descriptor: Descriptor) -> Result<Image, OciError> {
        let bytes = self.read_blob(descriptor.digest())?;
        let manifest = ImageManifest::from_reader(&bytes[..]).map_err(|e| OciError::Invalid {
            path: self.blob_path(descriptor.digest()),
            what: "image manifest",
            message: e.to_string(),
        })?;
        let config_bytes = self.read_blob(manifest.config().digest())?;
        let config = ImageConfiguration::from_reader(&config_bytes[..]).map_err(|e| OciError::Invalid {
            path: self.blob_path(manifest.config().digest()),
            what: "image config",
            message: e.to_string(),
        })?;
        Ok(Image { descriptor, manifest, config })
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs").join(digest.algorithm().as_ref()).join(digest.digest())
    }

    /// A blob's bytes, checked against its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, OciError> {
        let path = self.blob_path(digest);
        let bytes = fs::read(&path).map_err(|e| self.missing_or_io(digest, &path, e))?;
        let actual = digest_of(&bytes);
        if actual.digest() != digest.digest() {
            return Err(OciError::DigestMismatch { path, expected: digest.to_string(), actual: actual.to_string() });
        }
        Ok(bytes)
    }

    /// A blob opened for streaming (the caller verifies as it reads, e.g. with [`VerifyingReader`]).
    pub fn open_blob(&self, digest: &Digest) -> Result<File, OciError> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| self.missing_or_io(digest, &path, e))
    }

    fn missing_or_io(&self, digest: &Digest, path: &Path, e: io::Error) -> OciError {
        if e.kind() == io::ErrorKind::NotFound {
            OciError::BlobMissing { digest: digest.to_string(), layout: self.dir.clone() }
        } else {
            OciError::Io { path: path.to_path_buf(), source: e }
        }
    }

    /// A writer for a new blob; [`BlobWriter::finish`] names it by its digest.
    pub fn blob_writer(&self) -> Result<BlobWriter, OciError> {
        let dir = self.blobs_dir();
        let file = crate::scratch::temp_file(&dir, ".tmp-").map_err(OciError::io(&dir))?;
        Ok(BlobWriter { file: io::BufWriter::with_capacity(1 << 16, file), hasher: Sha256::new(), size: 0, dir })
    }

    /// Store bytes as a blob (a no-op when it exists).
    pub fn write_blob(&self, bytes: &[u8]) -> Result<(Digest, u64), OciError> {
        let digest = digest_of(bytes);
        if self.has_blob(&digest) {
            return Ok((digest, bytes.len() as u64));
        }
        let mut w = self.blob_writer()?;
        w.write_all(bytes).map_err(OciError::io(self.blobs_dir()))?;
        w.finish()
    }

    /// Serialise (canonically) and store a JSON blob; returns its descriptor.
    pub fn write_json<T: serde::Serialize>(&self, media_type: MediaType, value: &T) -> Result<Descriptor, OciError> {
        let bytes = json::canonical(value);
        let (digest, size) = self.write_blob(&bytes)?;
        Ok(Descriptor::new(media_type, size, digest))
    }

    /// Point `name` at a manifest, replacing an existing ref of that name.
    pub fn set_ref(&self, name: &str, manifest: Descriptor) -> Result<(), OciError> {
        check_ref_name(name)?;
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let mut manifest = manifest;
        let mut annotations = manifest.annotations().clone().unwrap_or_default();
        annotations.insert(ANNOTATION_REF_NAME.to_string(), name.to_string());
        manifest.set_annotations(Some(annotations));
        let mut entries: Vec<Descriptor> =
            index.manifests().iter().filter(|d| ref_name(d) != Some(name)).cloned().collect();
        entries.push(manifest);
        entries.sort_by(|a, b| ref_name(a).cmp(&ref_name(b)));
        index.set_manifests(entries);
        self.write_index(&index)
    }

    /// Remove a ref (its blobs stay; they may be shared).
    pub fn remove_ref(&self, name: &str) -> Result<(), OciError> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let before = index.manifests().len();
        let entries: Vec<Descriptor> =
            index.manifests().iter().filter(|d| ref_name(d) != Some(name)).cloned().collect();
        if entries.len() == before {
            drop(_lock);
            return Err(OciError::RefNotFound {
                name: name.to_string(),
                layout: self.dir.clone(),
                known: self.refs()?.into_iter().map(|(n, _)| n).collect(),
            });
        }
        index.set_manifests(entries);
        self.write_index(&index)
    }

    fn read_index(&self) -> Result<ImageIndex, OciError> {
        let path = self.dir.join("index.json");
        let bytes = fs::read(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                OciError::NotALayout { path: self.dir.clone() }
            } else {
                OciError::Io { path: path.clone(), source: e }
            }
        })?;
        ImageIndex::from_reader(&bytes[..]).map_err(|e| OciError::Invalid {
            path,
            what: "index.json",
            message: e.to_string(),
        })
    }

    fn write_index(&self, index: &ImageIndex) -> Result<(), OciError> {
        atomic_write(&self.dir.join("index.json"), &json::canonical(index))
    }

    fn lock(&self) -> Result<File, OciError> {
        let path = self.dir.join("index.json.lock");
        let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(OciError::io(&path))?;
        file.lock().map_err(OciError::io(&path))?;
        Ok(file)
    }
}

/// An OCI image index or a Docker manifest list.
pub fn is_index(media_type: &MediaType) -> bool {
    matches!(media_type, MediaType::ImageIndex)
        || media_type.to_string() == "application/vnd.docker.distribution.manifest.list.v2+json"
}

fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations().as_ref()?.get(ANNOTATION_REF_NAME).map(String::as_str)
}

fn empty_index() -> ImageIndex {
    let mut index = ImageIndex::default();
    index.set_media_type(Some(MediaType::ImageIndex));
    index.set_manifests(Vec::new());
    index
}

/// Write a file by temp file + fsync + rename.
pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = crate::scratch::temp_file(dir, ".tmp-").map_err(OciError::io(dir))?;
    tmp.write_all(bytes).map_err(OciError::io(path))?;
    tmp.as_file().sync_all().map_err(OciError::io(path))?;
    tmp.persist(path).map_err(|e| OciError::Io { path: path.to_path_buf(), source: e.error })?;
    Ok(())
}

/// A blob being written: hashes as it writes; [`finish`](BlobWriter::finish) syncs and renames
/// it to `blobs/sha256/<digest>`. Dropped without `finish`, the temp file is removed.
#[derive(Debug)]
pub struct BlobWriter {
    file: io::BufWriter<tempfile::NamedTempFile>,
    hasher: Sha256,
    size: u64,
    dir: PathBuf,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Sync and move the blob under its digest; returns the digest and size.
    pub fn finish(self) -> Result<(Digest, u64), OciError> {
        let digest = sha256_digest(&hex::encode(self.hasher.finalize()));
        let tmp =
            self.file.into_inner().map_err(|e| OciError::Io { path: self.dir.clone(), source: e.into_error() })?;
        let target = self.dir.join(digest.digest());
        if target.is_file() {
            // Same digest, same bytes: keep the existing blob; the temp file is deleted on drop.
            return Ok((digest, self.size));
        }
        tmp.as_file().sync_all().map_err(OciError::io(&target))?;
        tmp.persist(&target).map_err(|e| OciError::Io { path: target.clone(), source: e.error })?;
        Ok((digest, self.size))
    }
}

/// Wraps a reader and checks, at end of stream, that what was read has the expected digest.
#[derive(Debug)]
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    expected: Digest,
    path: PathBuf,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: Digest, path: PathBuf) -> Self {
        VerifyingReader { inner, hasher: Sha256::new(), expected, path }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            let actual = hex::encode(self.hasher.clone().finalize());
            if actual != self.expected.digest() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} does not match its digest {} (found sha256:{actual})",
                        self.path.display(),
                        self.expected
                    ),
                ));
            }
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts_of_refs() {
        for (name, host) in [
            ("docker.io/library/jre:17", Some("docker.io")),
            ("127.0.0.1:5000/library/jre:17", Some("127.0.0.1:5000")),
            ("localhost/x:1", Some("localhost")),
            ("shop-jre:17", None),
            ("hoist-testkit/shop-jre:17", None),
        ] {
            assert_eq!(registry_host(name), host, "{name}");
        }
    }
}
