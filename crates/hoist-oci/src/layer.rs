//! Reproducible layers: a sorted tree of entries becomes a tar, then a compressed blob.
//!
//! Rules that make the same inputs give the same digest: entries sorted by path, every
//! parent directory present, uid/gid 0 with empty owner names, mtime = the given epoch,
//! modes from fixed rules (dirs 0755, files 0644 or 0755 if any execute bit, links 0777;
//! rootfs import keeps the permission bits it was given), GNU headers, gzip with header
//! mtime 0 at a pinned level (flate2's miniz backend) or single-threaded zstd.
//!
//! A layer is written in up to two streaming passes, never holding a file in memory:
//! pass 1 computes the DiffID only; if a blob for that DiffID, compression and level is
//! already in the layout, nothing is compressed. Otherwise pass 2 computes DiffID and
//! digest in one pass while compressing, and a DiffID different from pass 1's means a
//! file changed while it was read.
//!
//! A layer is a tree: a path is a file, a link or a directory, never two of them, so an
//! entry under a file or link, or a file over a directory that has entries, is refused when
//! it is added (a tar holding both would unpack differently in every runtime). Paths are at
//! most [`MAX_DEPTH`] directories deep.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use oci_spec::image::{Descriptor, Digest, MediaType};
use sha2::{Digest as _, Sha256};

use crate::error::OciError;
use crate::layout::sha256_digest;

/// Layer compression, pinned so digests are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip { level: u32 },
    Zstd { level: i32 },
}

impl Default for Compression {
    fn default() -> Self {
        Compression::Gzip { level: 1 }
    }
}

impl Compression {
    pub fn media_type(self) -> MediaType {
        match self {
            Compression::Gzip { .. } => MediaType::ImageLayerGzip,
            Compression::Zstd { .. } => MediaType::ImageLayerZstd,
        }
    }

    fn cache_name(self) -> String {
        match self {
            Compression::Gzip { level } => format!("gzip-{level}"),
            Compression::Zstd { level } => format!("zstd-{level}"),
        }
    }
}

/// Where a file's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file on disk, expected to have this size.
    Path(PathBuf),
    /// Bytes made by hoist (small: manifests, generated files).
    Bytes(Arc<[u8]>),
    /// A file on disk whose sha256 (hex) is known: checked as it is read.
    Verified { path: PathBuf, sha256: String },
    /// One entry of a zip/jar archive.
    Zip { archive: PathBuf, index: usize },
}

/// One entry in a layer.
#[derive(Debug, Clone)]
pub enum Entry {
    Dir { mode: u32 },
    File { source: Source, size: u64, mode: u32 },
    Symlink { target: String },
}

/// The content of one layer: image paths (no leading `/`) to entries.
#[derive(Debug, Clone, Default)]
pub struct LayerSpec {
    /// Said in the image history (`created_by`).
    pub description: String,
    entries: BTreeMap<String, Entry>,
    /// Scratch directories the entries' files live in (an unpacked ADD tar): removed when
    /// the last copy of this spec is dropped, so files are read from disk, never memory.
    keep: Vec<Arc<crate::scratch::ScratchDir>>,
}

/// The deepest image path a layer takes, in directories (real trees stay far below it;
/// deeper ones only come from hostile archives, and cost time at every level).
pub const MAX_DEPTH: usize = 256;

/// What a tree walk does with one entry (see [`LayerSpec::add_tree_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    Keep,
    /// Leave this entry out but walk into it (a directory with re-included entries).
    SkipSelf,
    /// Leave this entry and everything under it out.
    SkipTree,
}

/// A layer as written: its descriptor and DiffID, and whether it was compressed now.
#[derive(Debug, Clone)]
pub struct BuiltLayer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    pub description: String,
    /// False when the layout already had it (nothing compressed).
    pub compressed_now: bool,
    /// Seconds spent on this layer: hashing its tar and, when new, compressing it. A layer
    /// shared by several specs counts for the first.
    pub seconds: f64,
}

/// Normalise an image path: strip leading `/` and `./`, reject `..`.
pub fn image_path(path: &str) -> Result<String, OciError> {
    let mut parts = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(OciError::BadImagePath { path: path.to_string(), message: "may not contain `..`".into() });
            }
        }
    }
    if parts.len() > MAX_DEPTH {
        let shown: String = path.chars().take(80).collect();
        return Err(OciError::BadImagePath {
            path: format!("{shown}…"),
            message: format!("is {} directories deep, over the bound of {MAX_DEPTH}", parts.len()),
        });
    }
    Ok(parts.join("/"))
}

fn kind_of(entry: &Entry) -> &'static str {
    match entry {
        Entry::Dir { .. } => "directory",
        Entry::File { .. } => "file",
        Entry::Symlink { .. } => "symlink",
    }
}

/// The one rule for files that go into a layer from a directory they must stay in (the
/// project, the build context): `path` with every symlink resolved must lie inside `root`
/// (itself resolved). Returns the resolved path, which is what is read from then on, so a
/// link swapped after the check changes nothing.
pub fn resolve_inside(path: &Path, root: &Path) -> Result<PathBuf, OciError> {
    let not_found = |e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            OciError::Missing { path: path.to_path_buf() }
        } else {
            OciError::Io { path: path.to_path_buf(), source: e }
        }
    };
    let root = std::fs::canonicalize(root).map_err(OciError::io(root))?;
    let real = std::fs::canonicalize(path).map_err(not_found)?;
    if !real.starts_with(&root) {
        return Err(OciError::OutsideRoot { path: path.to_path_buf(), resolved: real, root });
    }
    Ok(real)
}

/// Fixed mode rule for files: 0755 if any execute bit, else 0644.
pub fn file_mode(mode: u32) -> u32 {
    if mode & 0o111 != 0 { 0o755 } else { 0o644 }
}

impl LayerSpec {
    pub fn new(description: impl Into<String>) -> Self {
        LayerSpec { description: description.into(), entries: BTreeMap::new(), keep: Vec::new() }
    }

    /// Keep `dir` (which entries' files are in) until this spec and its copies are dropped.
    pub fn keep_alive(&mut self, dir: Arc<crate::scratch::ScratchDir>) {
        self.keep.push(dir);
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Add an entry at an image path (normalised); parents are added when written.
    pub fn insert(&mut self, path: &str, entry: Entry) -> Result<(), OciError> {
        let path = image_path(path)?;
        if path.is_empty() {
            return Ok(()); // the root itself
        }
        self.check_tree(&path, &entry)?;
        self.entries.insert(path, entry);
        Ok(())
    }

    /// `path` may not lie under a file or link, and a non-directory may not replace a
    /// directory that has entries.
    fn check_tree(&self, path: &str, entry: &Entry) -> Result<(), OciError> {
        let conflict = |at: &str, first, child: &str| OciError::PathConflict {
            origin: self.description.clone(),
            path: at.to_string(),
            first,
            child: child.to_string(),
        };
        let mut p = path;
        while let Some((parent, _)) = p.rsplit_once('/') {
            if let Some(e) = self.entries.get(parent)
                && !matches!(e, Entry::Dir { .. })
            {
                return Err(conflict(parent, kind_of(e), path));
            }
            p = parent;
        }
        if !matches!(entry, Entry::Dir { .. }) {
            let prefix = format!("{path}/");
            if let Some((child, _)) = self.entries.range(prefix.clone()..).next()
                && child.starts_with(&prefix)
            {
                return Err(conflict(path, kind_of(entry), child));
            }
        }
        Ok(())
    }

    /// Add a file from disk (its size read now, checked when it is read).
    pub fn add_file(&mut self, path: &str, source: &Path, mode: Option<u32>) -> Result<(), OciError> {
        let meta = std::fs::metadata(source).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                OciError::Missing { path: source.to_path_buf() }
            } else {
                OciError::Io { path: source.to_path_buf(), source: e }
            }
        })?;
        use std::os::unix::fs::PermissionsExt;
        let mode = mode.unwrap_or_else(|| file_mode(meta.permissions().mode()));
        self.insert(path, Entry::File { source: Source::Path(source.to_path_buf()), size: meta.len(), mode })
    }

    /// Add a file whose sha256 is known (a recorded build artifact); a different content
    /// when it is read is reported as a change.
    pub fn add_verified_file(&mut self, path: &str, source: &Path, sha256: &str, mode: u32) -> Result<(), OciError> {
        let meta = std::fs::metadata(source).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => OciError::Missing { path: source.to_path_buf() },
            _ => OciError::Io { path: source.to_path_buf(), source: e },
        })?;
        let source = Source::Verified { path: source.to_path_buf(), sha256: sha256.to_string() };
        self.insert(path, Entry::File { source, size: meta.len(), mode })
    }

    pub fn add_bytes(&mut self, path: &str, bytes: impl Into<Arc<[u8]>>, mode: u32) -> Result<(), OciError> {
        let bytes = bytes.into();
        let size = bytes.len() as u64;
        self.insert(path, Entry::File { source: Source::Bytes(bytes), size, mode })
    }

    pub fn add_dir(&mut self, path: &str) -> Result<(), OciError> {
        self.insert(path, Entry::Dir { mode: 0o755 })
    }

    /// Add a directory tree from disk at `dest` (rootfs import, COPY of a directory).
    ///
    /// `keep_modes` keeps permission bits (a rootfs); otherwise the fixed rules apply.
    /// Symlinks are kept as links; a relative link that leaves `root` is refused, and so is
    /// an absolute one unless `allow_absolute_links` (inside a rootfs, `/` is the image's).
    pub fn add_tree(
        &mut self,
        root: &Path,
        dest: &str,
        keep_modes: bool,
        allow_absolute_links: bool,
    ) -> Result<(), OciError> {
        self.add_tree_with(root, dest, keep_modes, allow_absolute_links, &mut |_, _| Visit::Keep).map(|_| ())
    }

    /// As [`add_tree`](Self::add_tree), asking `filter` about every entry (its path relative
    /// to `root`, `""` for the root, and whether it is a directory) in walk order: parents
    /// before children, names sorted. Returns how many entries were added.
    pub fn add_tree_with(
        &mut self,
        root: &Path,
        dest: &str,
        keep_modes: bool,
        allow_absolute_links: bool,
        filter: &mut dyn FnMut(&str, bool) -> Visit,
    ) -> Result<usize, OciError> {
        use std::os::unix::fs::PermissionsExt;
        let dest = image_path(dest)?;
        let join = |rel: &str| {
            if dest.is_empty() {
                rel.to_string()
            } else if rel.is_empty() {
                dest.clone()
            } else {
                format!("{dest}/{rel}")
            }
        };
        let mut added = 0;
        let mut walk = walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name().into_iter();
        while let Some(item) = walk.next() {
            let item = item.map_err(|e| {
                let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
                OciError::Io { path, source: e.into_io_error().unwrap_or_else(|| io::Error::other("walk failed")) }
            })?;
            let rel = item.path().strip_prefix(root).expect("walkdir stays under root");
            let rel_str = rel.to_string_lossy().replace('\\', "/");
            let meta = item.path().symlink_metadata().map_err(OciError::io(item.path()))?;
            let mode = meta.permissions().mode() & 0o7777;
            let ft = meta.file_type();
            match filter(&rel_str, ft.is_dir()) {
                Visit::Keep => {}
                Visit::SkipSelf => continue,
                Visit::SkipTree => {
                    if ft.is_dir() {
                        walk.skip_current_dir();
                    }
                    continue;
                }
            }
            if item.depth() > MAX_DEPTH {
                return Err(OciError::BadImagePath {
                    path: item.path().display().to_string().chars().take(80).collect::<String>() + "…",
                    message: format!("is {} directories deep, over the bound of {MAX_DEPTH}", item.depth()),
                });
            }
            added += 1;
            if ft.is_dir() {
                if rel_str.is_empty() && dest.is_empty() {
                    continue;
                }
                self.insert(&join(&rel_str), Entry::Dir { mode: if keep_modes { mode } else { 0o755 } })?;
            } else if ft.is_symlink() {
                let target = std::fs::read_link(item.path()).map_err(OciError::io(item.path()))?;
                check_link(root, rel, &target, allow_absolute_links)?;
                self.insert(&join(&rel_str), Entry::Symlink { target: target.to_string_lossy().into_owned() })?;
            } else if ft.is_file() {
                // Opened now so an unreadable file is reported before any work is done.
                File::open(item.path()).map_err(OciError::io(item.path()))?;
                let mode = if keep_modes { mode } else { file_mode(mode) };
                self.insert(
                    &join(&rel_str),
                    Entry::File { source: Source::Path(item.path().to_path_buf()), size: meta.len(), mode },
                )?;
            }
            // Sockets, fifos and devices have no place in an image layer; they are skipped.
        }
        Ok(added)
    }

    /// Move the entries whose path `take` picks into a new layer (sharing the scratch
    /// directories their files may live in).
    pub fn split_off(&mut self, description: impl Into<String>, take: impl Fn(&str) -> bool) -> LayerSpec {
        let (taken, kept) = std::mem::take(&mut self.entries).into_iter().partition(|(p, _)| take(p));
        self.entries = kept;
        LayerSpec { description: description.into(), entries: taken, keep: self.keep.clone() }
    }

    /// The entries, without the added parents.
    pub fn entries(&self) -> &BTreeMap<String, Entry> {
        &self.entries
    }

    /// The entries, without the added parents.
    pub fn into_entries(self) -> BTreeMap<String, Entry> {
        self.entries
    }

    /// Entries with every missing parent directory added, in path order.
    fn complete(&self) -> BTreeMap<String, Entry> {
        let mut all = self.entries.clone();
        for path in self.entries.keys() {
            let mut p = path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                all.entry(parent.to_string()).or_insert(Entry::Dir { mode: 0o755 });
                p = parent;
            }
        }
        all
    }
}

/// A link target, resolved lexically from the link's directory, must stay under the root.
fn check_link(root: &Path, rel: &Path, target: &Path, allow_absolute: bool) -> Result<(), OciError> {
    let escapes =
        || OciError::SymlinkEscapes { path: root.join(rel), target: target.to_path_buf(), root: root.to_path_buf() };
    if target.is_absolute() {
        return if allow_absolute { Ok(()) } else { Err(escapes()) };
    }
    let mut depth: i64 = rel.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(escapes());
        }
    }
    Ok(())
}

/// Write the layer's tar stream into `out`.
fn write_tar(spec: &LayerSpec, epoch: u64, out: impl Write) -> Result<(), OciError> {
    let mut zips: HashMap<PathBuf, zip::ZipArchive<io::BufReader<File>>> = HashMap::new();
    let mut tar = tar::Builder::new(out);
    for (path, entry) in spec.complete() {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(epoch);
        let io_err = |source: io::Error| OciError::Io { path: PathBuf::from(&path), source };
        match entry {
            Entry::Dir { mode } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(mode);
                header.set_size(0);
                tar.append_data(&mut header, format!("{path}/"), io::empty()).map_err(io_err)?;
            }
            Entry::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                tar.append_link(&mut header, &path, &target).map_err(io_err)?;
            }
            Entry::File { source, size, mode } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(mode);
                header.set_size(size);
                match source {
                    Source::Bytes(bytes) => tar.append_data(&mut header, &path, &bytes[..]).map_err(io_err)?,
                    Source::Path(file) => {
                        let f = File::open(&file).map_err(OciError::io(&file))?;
                        let reader = Exact::new(f, size, file.clone());
                        tar.append_data(&mut header, &path, reader).map_err(|e| unwrap_changed(e, &file))?;
                    }
                    Source::Verified { path: file, sha256 } => {
                        let f = File::open(&file).map_err(OciError::io(&file))?;
                        let mut reader = HashReader { inner: Exact::new(f, size, file.clone()), hasher: Sha256::new() };
                        tar.append_data(&mut header, &path, &mut reader).map_err(|e| unwrap_changed(e, &file))?;
                        let actual = hex::encode(reader.hasher.finalize());
                        if actual != sha256 {
                            return Err(OciError::Changed {
                                path: file,
                                what: format!("sha256 {actual}, but the build recorded {sha256}"),
                            });
                        }
                    }
                    Source::Zip { archive, index } => {
                        if !zips.contains_key(&archive) {
                            let f = File::open(&archive).map_err(OciError::io(&archive))?;
                            let z = zip::ZipArchive::new(io::BufReader::new(f)).map_err(|e| OciError::Invalid {
                                path: archive.clone(),
                                what: "jar",
                                message: e.to_string(),
                            })?;
                            zips.insert(archive.clone(), z);
                        }
                        let z = zips.get_mut(&archive).expect("inserted");
                        let zf = z.by_index(index).map_err(|e| OciError::Invalid {
                            path: archive.clone(),
                            what: "jar",
                            message: e.to_string(),
                        })?;
                        let reader = Exact::new(zf, size, archive.clone());
                        tar.append_data(&mut header, &path, reader).map_err(|e| match unwrap_changed(e, &archive) {
                            // A jar can't change under us unnoticed (its digest is checked); a
                            // size mismatch is an entry whose data disagrees with its directory.
                            OciError::Changed { what, .. } => OciError::Invalid {
                                path: archive.clone(),
                                what: "jar",
                                message: format!(
                                    "entry `{path}` does not hold the {size} bytes its central directory declares ({})",
                                    what.trim_start_matches("it ")
                                ),
                            },
                            other => other,
                        })?;
                    }
                }
            }
        }
    }
    tar.into_inner().map_err(OciError::io("<layer>"))?.flush().map_err(OciError::io("<layer>"))?;
    Ok(())
}

fn unwrap_changed(e: io::Error, path: &Path) -> OciError {
    if e.get_ref().is_some_and(|inner| inner.to_string().starts_with("CHANGED:")) {
        let what = e.get_ref().map(|i| i.to_string()).unwrap_or_default().trim_start_matches("CHANGED:").to_string();
        return OciError::Changed { path: path.to_path_buf(), what };
    }
    OciError::Io { path: path.to_path_buf(), source: e }
}

/// Yields exactly `size` bytes, or fails if the source is shorter or longer (it changed).
struct Exact<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Exact<R> {
    fn new(inner: R, size: u64, _path: PathBuf) -> Self {
        Exact { inner, remaining: size }
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other("CHANGED:it grew after its size was taken")),
            };
        }
        let max = buf.len().min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::other("CHANGED:it shrank after its size was taken"));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Hashes what is read through it.
struct HashReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Counts and hashes what passes through to `inner`.
struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The DiffID of a layer without writing anything.
pub fn diff_id(spec: &LayerSpec, epoch: u64) -> Result<Digest, OciError> {
    let mut w = HashWriter { inner: io::sink(), hasher: Sha256::new(), size: 0 };
    write_tar(spec, epoch, io::BufWriter::with_capacity(1 << 16, &mut w))?;
    Ok(sha256_digest(&hex::encode(w.hasher.finalize())))
}

mod write;
pub use write::{default_jobs, write_layer, write_layers};
