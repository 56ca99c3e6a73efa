//! `hoist image import`: an image from a root filesystem (a directory or a tar), like
//! `docker import`. Permission bits are kept (a rootfs needs its 1777 /tmp and 0755
//! binaries); owners become 0:0; absolute symlinks are kept (they point inside the image).

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Component, Path};

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
    crate::layout::check_ref_name(name)?;
    let meta = std::fs::metadata(source).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => OciError::Missing { path: source.to_path_buf() },
        _ => OciError::Io { path: source.to_path_buf(), source: e },
    })?;
    let _tmp;
    let root = if meta.is_dir() {
        source.to_path_buf()
    } else {
        let tmp = tempfile::Builder::new()
            .prefix(".hoist-import-")
            .tempdir_in(layout.dir())
            .map_err(OciError::io(layout.dir()))?;
        extract_tar(source, tmp.path())?;
        let root = tmp.path().to_path_buf();
        _tmp = tmp;
        root
    };
    let mut layer = LayerSpec::new(format!("import {}", source.file_name().unwrap_or_default().to_string_lossy()));
    layer.add_tree(&root, "/", true, true)?;
    let plan = ImagePlan { name: name.to_string(), base: None, layers: vec![layer], config, epoch };
    build_image(layout, &plan, compression, 1)
}

/// Open a tar that may be gzip- or zstd-compressed (detected by magic bytes).
pub fn open_tar(path: &Path) -> Result<Box<dyn Read>, OciError> {
    let mut f = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => OciError::Missing { path: path.to_path_buf() },
        _ => OciError::Io { path: path.to_path_buf(), source: e },
    })?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(OciError::io(path))?;
    f.rewind().map_err(OciError::io(path))?;
    let r = BufReader::new(f);
    Ok(if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(r))
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Box::new(zstd::Decoder::with_buffer(r).map_err(OciError::io(path))?)
    } else {
        Box::new(r)
    })
}

/// Extract a tar into `dest`, refusing any entry (or hard link) that leaves the root.
/// Devices and fifos are skipped: they don't belong in an image layer.
pub fn extract_tar(path: &Path, dest: &Path) -> Result<(), OciError> {
    let mut archive = tar::Archive::new(open_tar(path)?);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    let bad = |e: std::io::Error| OciError::Invalid { path: path.to_path_buf(), what: "tar", message: e.to_string() };
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = entry.path().map_err(bad)?.into_owned();
        let escapes = |p: &Path| p.components().any(|c| matches!(c, Component::ParentDir));
        if escapes(&name) {
            return Err(OciError::TarEscapes { entry: name.display().to_string(), archive: path.to_path_buf() });
        }
        if let Some(link) = entry.link_name().map_err(bad)?
            && entry.header().entry_type() == tar::EntryType::Link
            && escapes(&link)
        {
            return Err(OciError::TarEscapes { entry: link.display().to_string(), archive: path.to_path_buf() });
        }
        match entry.header().entry_type() {
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => continue,
            _ => {}
        }
        if !entry.unpack_in(dest).map_err(bad)? {
            return Err(OciError::TarEscapes { entry: name.display().to_string(), archive: path.to_path_buf() });
        }
    }
    Ok(())
}
