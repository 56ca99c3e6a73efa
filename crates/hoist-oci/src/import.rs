//! `hoist image import`: an image from a root filesystem (a directory or a tar), like
//! `docker import`. Permission bits are kept (a rootfs needs its 1777 /tmp and 0755
//! binaries); owners become 0:0; absolute symlinks are kept (they point inside the image).
//!
//! A tar is unpacked within [`ArchiveLimits`] into a locked `.hoist-import-*` directory in
//! the layout (the blobs' filesystem), removed when the import ends, and by the next run
//! that opens the layout if this one is killed.

use std::path::Path;

use crate::archive::ArchiveLimits;
pub use crate::archive::open_tar;
use crate::error::OciError;
use crate::image::{BuiltImage, ConfigSpec, ImagePlan, build_image};
use crate::layer::{Compression, LayerSpec};
use crate::layout::Layout;

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
    let meta = std::fs::metadata(source).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => OciError::Missing { path: source.to_path_buf() },
        _ => OciError::Io { path: source.to_path_buf(), source: e },
    })?;
    let _scratch;
    let root = if meta.is_dir() {
        source.to_path_buf()
    } else {
        let scratch = layout.scratch_dir()?;
        crate::archive::extract_tar(source, scratch.path(), limits)?;
        let root = scratch.path().to_path_buf();
        _scratch = scratch;
        root
    };
    let mut layer = LayerSpec::new(format!("import {}", source.file_name().unwrap_or_default().to_string_lossy()));
    layer.add_tree(&root, "/", true, true)?;
    let plan =
        ImagePlan { name: name.to_string(), base: None, layers: vec![layer], config, epoch, platforms: Vec::new() };
    build_image(layout, &plan, compression, 1)
}

/// Unpack a tar into `dest` within the default [`ArchiveLimits`], refusing any entry (or
/// hard link) that leaves the root.
pub fn extract_tar(path: &Path, dest: &Path) -> Result<(), OciError> {
    crate::archive::extract_tar(path, dest, &ArchiveLimits::default()).map(|_| ())
}
