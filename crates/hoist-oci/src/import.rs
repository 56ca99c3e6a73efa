//! `hoist image import`: an image from a root filesystem (a directory or a tar), like
//! `docker import`, or the image inside a `docker save` archive or an OCI archive, like
//! `docker load`. A tar is recognised by its content, never by its name: a `manifest.json`
//! array at its top is Docker's archive format, `oci-layout` + `index.json` an OCI image
//! layout (Docker 25+ writes both; the OCI layout is read then, so the manifest digest is
//! kept), anything else a root filesystem.
//!
//! Root filesystem: permission bits are kept (a rootfs needs its 1777 /tmp and 0755
//! binaries); owners become 0:0; absolute symlinks are kept (they point inside the image).
//!
//! A tar is unpacked within [`ArchiveLimits`] into a locked `.hoist-import-*` directory in
//! the layout (the blobs' filesystem), removed when the import ends, and by the next run
//! that opens the layout if this one is killed. An archive's entries are then read through
//! [`Unpacked`], which refuses names with `..` or a leading `/` and links that resolve
//! outside it; every digest the archive states is checked, and blobs are stored before the
//! ref is set, so a refused archive leaves nothing under the ref.

mod docker_archive;
mod oci_archive;

use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use oci_spec::image::Digest;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::archive::ArchiveLimits;
pub use crate::archive::open_tar;
use crate::error::{Limit, OciError};
use crate::image::{BuiltImage, ConfigSpec, ImagePlan, build_image};
use crate::layer::{Compression, LayerSpec};
use crate::layout::{Layout, sha256_digest};

/// The largest JSON document (manifest.json, index.json, a manifest or config) read from
/// an archive. Real ones are a few KiB; a config with a long history is below 1 MiB.
pub const MAX_ARCHIVE_JSON: u64 = 16 << 20;

/// What `hoist image import` recognised its source as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A directory or a tar of a root filesystem: one new layer.
    Rootfs,
    /// `docker save`'s archive (`manifest.json`, configs, layer tars).
    DockerArchive,
    /// A tar of an OCI image layout (`skopeo copy ... oci-archive:`).
    OciArchive,
}

/// Everything an import takes besides its source and ref.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The config of an image made from a root filesystem.
    pub config: ConfigSpec,
    /// The command-line flags that set `config` (`--env`, …): refused for an archive, whose
    /// image keeps its config byte for byte (its digest is the image's identity).
    pub config_flags: Vec<String>,
    pub epoch: u64,
    /// For a root filesystem's layer and for an archive's uncompressed layer tars.
    pub compression: Compression,
    pub limits: ArchiveLimits,
    /// The archive's image to take (`repo:tag`, or a digest), when it holds several.
    pub image: Option<String>,
}

/// What was imported.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub format: Format,
    /// The name the image had in the archive, if it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The config digest (an archive's is kept as it was; Docker's image ID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_digest: Option<String>,
    #[serde(flatten)]
    pub built: BuiltImage,
}

/// What `source` is, or the error that names it as missing.
fn source_metadata(source: &Path) -> Result<std::fs::Metadata, OciError> {
    std::fs::metadata(source).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => OciError::Missing { path: source.to_path_buf() },
        _ => OciError::Io { path: source.to_path_buf(), source: e },
    })
}

/// Import `source` as `name`: a directory or tar as a root filesystem, or the image of a
/// `docker save` or OCI archive (the format recognised by content).
pub fn import(layout: &Layout, source: &Path, name: &str, options: &ImportOptions) -> Result<ImportReport, OciError> {
    crate::layout::check_ref_name(name)?;
    let meta = source_metadata(source)?;
    if meta.is_dir() {
        return rootfs(layout, source, source, name, options);
    }
    let scratch = layout.scratch_dir()?;
    crate::archive::extract_tar(source, scratch.path(), &options.limits)?;
    let unpacked = Unpacked::new(scratch.path(), source)?;
    let format = unpacked.format()?;
    if format == Format::Rootfs {
        return rootfs(layout, scratch.path(), source, name, options);
    }
    if !options.config_flags.is_empty() {
        return Err(OciError::Invalid {
            path: source.to_path_buf(),
            what: "import",
            message: format!(
                "{} set the config of an image made from a root filesystem; this is a {} whose image keeps its own config (its digest would change otherwise)",
                options.config_flags.join(", "),
                format_name(format)
            ),
        });
    }
    let mut budget = options.limits.max_bytes;
    match format {
        Format::DockerArchive if !unpacked.has_oci_layout() => {
            docker_archive::import(layout, &unpacked, name, options, &mut budget)
        }
        _ => oci_archive::import(layout, &unpacked, name, options, format),
    }
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Rootfs => "root filesystem",
        Format::DockerArchive => "`docker save` archive",
        Format::OciArchive => "OCI archive",
    }
}

fn rootfs(
    layout: &Layout,
    root: &Path,
    source: &Path,
    name: &str,
    options: &ImportOptions,
) -> Result<ImportReport, OciError> {
    if let Some(image) = &options.image {
        return Err(OciError::Invalid {
            path: source.to_path_buf(),
            what: "import",
            message: format!(
                "--image {image} picks an image of a `docker save` or OCI archive; this is a root filesystem (no manifest.json, no oci-layout)"
            ),
        });
    }
    let built = rootfs_image(layout, root, source, name, options.config.clone(), options.epoch, options.compression)?;
    Ok(ImportReport { format: Format::Rootfs, image: None, config_digest: None, built })
}

fn rootfs_image(
    layout: &Layout,
    root: &Path,
    source: &Path,
    name: &str,
    config: ConfigSpec,
    epoch: u64,
    compression: Compression,
) -> Result<BuiltImage, OciError> {
    let mut layer = LayerSpec::new(format!("import {}", source.file_name().unwrap_or_default().to_string_lossy()));
    layer.add_tree(root, "/", true, true)?;
    let plan =
        ImagePlan { name: name.to_string(), base: None, layers: vec![layer], config, epoch, platforms: Vec::new() };
    build_image(layout, &plan, compression, 1)
}

/// Import `source` (a directory, or a tar, optionally gzip or zstd compressed) as one layer.
pub fn import_rootfs(
    layout: &Layout,
    source: &Path,
    name: &str,
    config: ConfigSpec,
    epoch: u64,
    compression: Compression,
) -> Result<BuiltImage, OciError> {
    import_rootfs_with(layout, source, name, config, epoch, compression, &ArchiveLimits::default())
}

/// As [`import_rootfs`], holding a tar to `limits`.
pub fn import_rootfs_with(
    layout: &Layout,
    source: &Path,
    name: &str,
    config: ConfigSpec,
    epoch: u64,
    compression: Compression,
    limits: &ArchiveLimits,
) -> Result<BuiltImage, OciError> {
    crate::layout::check_ref_name(name)?;
    let meta = source_metadata(source)?;
    if meta.is_dir() {
        return rootfs_image(layout, source, source, name, config, epoch, compression);
    }
    let scratch = layout.scratch_dir()?;
    crate::archive::extract_tar(source, scratch.path(), limits)?;
    rootfs_image(layout, scratch.path(), source, name, config, epoch, compression)
}

/// Unpack a tar into `dest` within the default [`ArchiveLimits`], refusing any entry (or
/// hard link) that leaves the root.
pub fn extract_tar(path: &Path, dest: &Path) -> Result<(), OciError> {
    crate::archive::extract_tar(path, dest, &ArchiveLimits::default()).map(|_| ())
}

/// An archive unpacked into a scratch directory; its entries are opened only by names that
/// stay inside it.
pub(crate) struct Unpacked<'a> {
    root: PathBuf,
    archive: &'a Path,
}

impl<'a> Unpacked<'a> {
    fn new(root: &Path, archive: &'a Path) -> Result<Self, OciError> {
        let root = std::fs::canonicalize(root).map_err(OciError::io(root))?;
        Ok(Unpacked { root, archive })
    }

    fn bad(&self, entry: &str, message: impl Into<String>) -> OciError {
        OciError::BadArchive { archive: self.archive.to_path_buf(), entry: entry.to_string(), message: message.into() }
    }

    /// A regular file at the top, not through a link (a rootfs may link anything anywhere).
    fn top_file(&self, name: &str) -> bool {
        std::fs::symlink_metadata(self.root.join(name)).is_ok_and(|m| m.is_file())
    }

    /// Whether the archive has an entry of that name (of any kind: a link is still checked
    /// by [`Unpacked::file`] when it is read).
    fn holds(&self, rel: &str) -> bool {
        let p = Path::new(rel);
        p.components().all(|c| matches!(c, Component::Normal(_)))
            && std::fs::symlink_metadata(self.root.join(p)).is_ok()
    }

    fn has_oci_layout(&self) -> bool {
        self.top_file("oci-layout") && self.top_file("index.json")
    }

    fn format(&self) -> Result<Format, OciError> {
        if self.top_file("manifest.json") {
            let mut head = [0u8; 64];
            let path = self.root.join("manifest.json");
            let n = std::fs::File::open(&path).and_then(|mut f| f.read(&mut head)).map_err(OciError::io(&path))?;
            if head[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
                return Ok(Format::DockerArchive);
            }
        }
        if self.has_oci_layout() {
            return Ok(Format::OciArchive);
        }
        // Docker before 1.10 saved `repositories` and `<id>/{json,layer.tar}`, no manifest.json:
        // not a root filesystem, and without a config there is no image to keep.
        if self.top_file("repositories")
            && std::fs::read_dir(&self.root)
                .map_err(OciError::io(&self.root))?
                .flatten()
                .any(|e| std::fs::symlink_metadata(e.path().join("layer.tar")).is_ok_and(|m| m.is_file()))
        {
            return Err(self.bad(
                "repositories",
                "a `docker save` archive of Docker before 1.10 (no manifest.json, no image config); save the image again with a current Docker",
            ));
        }
        Ok(Format::Rootfs)
    }

    /// The file an archive's document names: relative, no `..`, and (through any links the
    /// archive holds) still inside the archive.
    fn file(&self, rel: &str, what: &str) -> Result<PathBuf, OciError> {
        let p = Path::new(rel);
        if rel.is_empty() || p.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(self.bad(rel, format!("{what} names a path that is not inside the archive")));
        }
        let joined = self.root.join(p);
        let real = std::fs::canonicalize(&joined).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => self.bad(rel, format!("{what} names it, but the archive does not hold it")),
            _ => OciError::Io { path: joined.clone(), source: e },
        })?;
        if !real.starts_with(&self.root) {
            return Err(self.bad(rel, format!("{what} names a link that points outside the archive")));
        }
        if !real.is_file() {
            return Err(self.bad(rel, format!("{what} names it, but it is not a file")));
        }
        Ok(real)
    }

    /// A JSON document of at most [`MAX_ARCHIVE_JSON`] bytes: its bytes and its value.
    fn json<T: serde::de::DeserializeOwned>(&self, rel: &str, what: &str) -> Result<(Vec<u8>, T), OciError> {
        let path = self.file(rel, what)?;
        let len = std::fs::metadata(&path).map_err(OciError::io(&path))?.len();
        if len > MAX_ARCHIVE_JSON {
            return Err(OciError::ArchiveLimit {
                archive: self.archive.to_path_buf(),
                limit: Limit::Metadata,
                message: format!("entry `{rel}` ({what}) is larger than {}", crate::archive::human(MAX_ARCHIVE_JSON)),
            });
        }
        let bytes = std::fs::read(&path).map_err(OciError::io(&path))?;
        let value =
            serde_json::from_slice(&bytes).map_err(|e| self.bad(rel, format!("{what} is not valid JSON: {e}")))?;
        Ok((bytes, value))
    }

    /// A JSON blob of an OCI layout, checked against its descriptor before it is parsed.
    fn json_blob<T: serde::de::DeserializeOwned>(
        &self,
        d: &oci_spec::image::Descriptor,
        what: &str,
    ) -> Result<T, OciError> {
        let rel = Self::blob_name(d.digest());
        let path = self.file(&rel, what)?;
        let len = std::fs::metadata(&path).map_err(OciError::io(&path))?.len();
        if len != d.size() {
            return Err(self.bad(&rel, format!("{what} says {} bytes, the entry has {len}", d.size())));
        }
        let (bytes, _): (_, serde_json::Value) = self.json(&rel, what)?;
        let actual = crate::layout::digest_of(&bytes);
        if actual.digest() != d.digest().digest() {
            return Err(self.bad(&rel, format!("does not match its digest {} (found {actual})", d.digest())));
        }
        serde_json::from_slice(&bytes).map_err(|e| self.bad(&rel, format!("not what {what} says it is: {e}")))
    }

    /// `blobs/<algorithm>/<hex>`, the entry of a digest in an OCI layout.
    fn blob_name(digest: &Digest) -> String {
        format!("blobs/{}/{}", digest.algorithm(), digest.digest())
    }

    /// The digest an entry's name states (`blobs/sha256/<hex>`, Docker's `<hex>.json`).
    fn stated_digest(rel: &str) -> Option<Digest> {
        let hex = rel.strip_prefix("blobs/sha256/").or_else(|| rel.strip_suffix(".json"))?;
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
            .then(|| sha256_digest(hex))
    }

    /// Copy an entry into the layout as a blob, checking its digest (and size) on the way;
    /// a blob that does not match is never stored. Returns whether the layout lacked it.
    fn copy_blob(&self, layout: &Layout, rel: &str, digest: &Digest, size: Option<u64>) -> Result<bool, OciError> {
        if digest.algorithm().as_ref() != "sha256" {
            return Err(self.bad(rel, format!("digest {digest}: only sha256 is supported")));
        }
        let path = self.file(rel, "the image")?;
        let mut f = std::fs::File::open(&path).map_err(OciError::io(&path))?;
        let len = f.metadata().map_err(OciError::io(&path))?.len();
        if let Some(size) = size
            && size != len
        {
            return Err(self.bad(rel, format!("its descriptor says {size} bytes, the entry has {len}")));
        }
        let new = !layout.has_blob(digest);
        let mut hasher = Sha256::new();
        let mut w = layout.blob_writer()?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).map_err(OciError::io(&path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            w.write_all(&buf[..n]).map_err(OciError::io(layout.dir()))?;
        }
        let actual = hex::encode(hasher.finalize());
        if actual != digest.digest() {
            return Err(self.bad(rel, format!("does not match its digest {digest} (found sha256:{actual})")));
        }
        w.finish()?;
        Ok(new)
    }
}

/// One image an archive offers, for `--image`.
pub(crate) struct Candidate {
    /// Its names (`repo:tag`, ref names).
    pub names: Vec<String>,
    /// The digest `--image` may also give (config for Docker's format, manifest for OCI).
    pub digest: String,
}

/// Docker shows `docker.io/library/x` as `x`; either spelling picks it.
fn same_name(wanted: &str, name: &str) -> bool {
    wanted == name
        || name.strip_prefix("docker.io/library/") == Some(wanted)
        || name.strip_prefix("docker.io/") == Some(wanted)
        || wanted.strip_prefix("docker.io/library/") == Some(name)
        || wanted.strip_prefix("docker.io/") == Some(name)
}

/// The candidate `wanted` names, or the only one; otherwise an error listing them.
pub(crate) fn pick(
    archive: &Path,
    list: &str,
    candidates: &[Candidate],
    wanted: Option<&str>,
) -> Result<usize, OciError> {
    // Sorted: `docker save` lists the images in no fixed order.
    let shown = || {
        let mut names: Vec<String> =
            candidates.iter().map(|c| if c.names.is_empty() { c.digest.clone() } else { c.names.join(" ") }).collect();
        names.sort();
        names.join(", ")
    };
    let which = |message: String| OciError::ArchiveImage { archive: archive.to_path_buf(), message };
    match wanted {
        Some(w) => {
            let hits: Vec<usize> = (0..candidates.len())
                .filter(|&i| candidates[i].digest == w || candidates[i].names.iter().any(|n| same_name(w, n)))
                .collect();
            match hits[..] {
                [one] => Ok(one),
                [] => Err(which(format!("{list} has no image `{w}`; it has: {}", shown()))),
                _ => Err(which(format!("`{w}` names {} images in {list}; give a digest: {}", hits.len(), shown()))),
            }
        }
        None => match candidates.len() {
            0 => Err(OciError::BadArchive {
                archive: archive.to_path_buf(),
                entry: list.to_string(),
                message: "lists no image".into(),
            }),
            1 => Ok(0),
            n => Err(which(format!("{list} lists {n} images; pick one with --image: {}", shown()))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_docker_shows_short_pick_the_same_image() {
        for (wanted, name, same) in [
            ("shop:1", "shop:1", true),
            ("shop:1", "docker.io/library/shop:1", true),
            ("docker.io/library/shop:1", "shop:1", true),
            ("acme/shop:1", "docker.io/acme/shop:1", true),
            ("shop:1", "shop:2", false),
            ("shop:1", "127.0.0.1:5000/shop:1", false),
            ("library/shop:1", "shop:1", false),
        ] {
            assert_eq!(same_name(wanted, name), same, "{wanted} vs {name}");
        }
    }

    #[test]
    fn pick_takes_the_only_image_or_the_named_one() {
        let a = Path::new("a.tar");
        let c = |names: &[&str], d: &str| Candidate {
            names: names.iter().map(|s| s.to_string()).collect(),
            digest: d.into(),
        };
        let two = [c(&["x:1"], "sha256:aa"), c(&[], "sha256:bb")];
        assert_eq!(pick(a, "manifest.json", &two[..1], None).unwrap(), 0);
        assert_eq!(pick(a, "manifest.json", &two, Some("x:1")).unwrap(), 0);
        assert_eq!(pick(a, "manifest.json", &two, Some("sha256:bb")).unwrap(), 1);
        let err = pick(a, "manifest.json", &two, None).unwrap_err().to_string();
        assert!(err.contains("manifest.json lists 2 images; pick one with --image: sha256:bb, x:1"), "{err}");
        let err = pick(a, "manifest.json", &two, Some("y:1")).unwrap_err().to_string();
        assert!(err.contains("has no image `y:1`"), "{err}");
        assert!(pick(a, "index.json", &[], None).unwrap_err().to_string().contains("lists no image"));
    }

    #[test]
    fn digests_stated_by_entry_names() {
        let hex = "a".repeat(64);
        assert_eq!(Unpacked::stated_digest(&format!("blobs/sha256/{hex}")), Some(sha256_digest(&hex)));
        assert_eq!(Unpacked::stated_digest(&format!("{hex}.json")), Some(sha256_digest(&hex)));
        assert_eq!(Unpacked::stated_digest("0123/layer.tar"), None);
        assert_eq!(Unpacked::stated_digest("config.json"), None);
    }
}
