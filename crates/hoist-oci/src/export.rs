//! `hoist image export`: an archive that both OCI tools and `docker load` read.
//!
//! It holds the OCI layout files (`oci-layout`, `index.json`, `blobs/`) plus Docker's
//! `manifest.json`, as Docker 25+ writes it: Engines before 25 (this machine has 20.10)
//! only read `manifest.json`; they decompress gzip layers themselves (zstd layers, the
//! opt-in, need an Engine that reads zstd: 23 or later). Every blob is
//! checked against its digest while it is copied. The archive is written to a locked temp
//! file ([`crate::scratch`]) and renamed, and its entries are in a fixed order with fixed metadata.
//! Blobs the layout lacks (base layers that stay in their registry) are read from the other
//! layouts given to [`export_from`]: hoist's shared blob cache, filled beforehand.

use std::collections::BTreeSet;
use std::io::BufWriter;
use std::path::Path;

use oci_spec::image::{ANNOTATION_REF_NAME, Digest};
use serde::Serialize;
use serde_json::json;

use crate::error::OciError;
use crate::layout::{Layout, VerifyingReader};

/// One image to export: its ref in the layout and the `repo:tag` Docker shows.
#[derive(Debug, Clone, Serialize)]
pub struct ExportItem {
    pub name: String,
    pub repo_tag: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub path: String,
    pub images: Vec<ExportItem>,
    pub blobs: usize,
    pub bytes: u64,
}

/// Write `items` into the archive `out`. Every blob (base layers too) must be present.
pub fn export(layout: &Layout, items: &[ExportItem], out: &Path) -> Result<ExportReport, OciError> {
    export_from(layout, &[], items, out)
}

/// [`export`], reading each blob from `layout` or, when it lacks it, the first of `more`
/// that has it (the shared blob cache).
pub fn export_from(
    layout: &Layout,
    more: &[&Layout],
    items: &[ExportItem],
    out: &Path,
) -> Result<ExportReport, OciError> {
    let holder = |d: &Digest| std::iter::once(layout).chain(more.iter().copied()).find(|l| l.has_blob(d));
    let mut blobs: BTreeSet<String> = BTreeSet::new();
    let mut index_entries = Vec::new();
    let mut docker = Vec::new();
    for item in items {
        // Docker's archive holds one image per tag: an index ref exports this machine's
        // platform's image (the one `docker load` here runs).
        let image = crate::index::export_image(layout, &item.name, &crate::index::host_platform())?;
        for l in image.manifest.layers() {
            if holder(l.digest()).is_none() {
                return Err(OciError::BlobMissing {
                    digest: l.digest().to_string(),
                    layout: layout.dir().to_path_buf(),
                });
            }
        }
        blobs.insert(image.descriptor.digest().to_string());
        blobs.insert(image.manifest.config().digest().to_string());
        blobs.extend(image.manifest.layers().iter().map(|l| l.digest().to_string()));
        let mut d = serde_json::to_value(&image.descriptor).expect("descriptor serialises");
        d["annotations"] = json!({ ANNOTATION_REF_NAME: item.name, "io.containerd.image.name": item.repo_tag });
        index_entries.push(d);
        let path = |d: &Digest| format!("blobs/{}/{}", d.algorithm(), d.digest());
        docker.push(json!({
            "Config": path(image.manifest.config().digest()),
            "RepoTags": [item.repo_tag],
            "Layers": image.manifest.layers().iter().map(|l| path(l.digest())).collect::<Vec<_>>(),
        }));
    }
    let index =
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index_entries});

    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // A killed export's temp archive is locked by nobody: the next export removes it.
    crate::scratch::sweep(dir, &[".hoist-export-"]);
    let tmp = crate::scratch::temp_file(dir, ".hoist-export-").map_err(OciError::io(dir))?;
    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, tmp));
    let io_err = |e: std::io::Error| OciError::Io { path: out.to_path_buf(), source: e };
    let put =
        |tar: &mut tar::Builder<_>, name: &str, size: u64, data: &mut dyn std::io::Read| -> Result<(), OciError> {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(size);
            h.set_mtime(0);
            tar.append_data(&mut h, name, data).map_err(io_err)
        };
    let dir_entry = |tar: &mut tar::Builder<_>, name: &str| -> Result<(), OciError> {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(0);
        tar.append_data(&mut h, name, std::io::empty()).map_err(io_err)
    };
    dir_entry(&mut tar, "blobs/")?;
    dir_entry(&mut tar, "blobs/sha256/")?;
    let mut bytes = 0;
    for b in &blobs {
        let digest: Digest = b.parse().map_err(|e| OciError::Other(format!("bad digest {b}: {e}")))?;
        let from = holder(&digest).unwrap_or(layout);
        let path = from.blob_path(&digest);
        let f = from.open_blob(&digest)?;
        let size = f.metadata().map_err(OciError::io(&path))?.len();
        bytes += size;
        let mut r = VerifyingReader::new(f, digest.clone(), path.clone());
        put(&mut tar, &format!("blobs/sha256/{}", digest.digest()), size, &mut r)?;
    }
    let oci_layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    put(&mut tar, "oci-layout", oci_layout.len() as u64, &mut &oci_layout[..])?;
    let index = crate::json::canonical(&index);
    put(&mut tar, "index.json", index.len() as u64, &mut &index[..])?;
    let manifest = serde_json::to_vec(&docker).expect("json");
    put(&mut tar, "manifest.json", manifest.len() as u64, &mut &manifest[..])?;
    let tmp = tar.into_inner().map_err(io_err)?.into_inner().map_err(|e| io_err(e.into_error()))?;
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(out).map_err(|e| io_err(e.error))?;
    Ok(ExportReport { path: out.display().to_string(), images: items.to_vec(), blobs: blobs.len(), bytes })
}
