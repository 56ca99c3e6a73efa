//! Docker's archive format (`docker save` before Docker 25): `manifest.json` lists each
//! image's config (`<hex>.json`, named by its digest) and layer tars (`<id>/layer.tar`,
//! uncompressed; a layer saved twice is a link to the first). The config is stored as it
//! is, so the image keeps its ID; each layer is checked against the config's DiffID and
//! stored compressed (an already compressed one as it is), and an OCI manifest is made.

use std::fs::File;
use std::io::{self, Read, Seek, Write};

use oci_spec::image::{Descriptor, Digest, ImageConfiguration, MediaType};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::{Candidate, Format, ImportOptions, ImportReport, Unpacked, pick};
use crate::error::{Limit, OciError};
use crate::image::{BuiltImage, LayerReport};
use crate::layer::Compression;
use crate::layout::{Layout, digest_of, sha256_digest};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

pub(super) fn import(
    layout: &Layout,
    u: &Unpacked,
    name: &str,
    options: &ImportOptions,
    budget: &mut u64,
) -> Result<ImportReport, OciError> {
    let (_, entries): (_, Vec<Entry>) = u.json("manifest.json", "manifest.json")?;
    let candidates: Vec<Candidate> = entries
        .iter()
        .map(|e| Candidate {
            names: e.repo_tags.clone().unwrap_or_default(),
            digest: Unpacked::stated_digest(&e.config).map(|d| d.to_string()).unwrap_or_else(|| e.config.clone()),
        })
        .collect();
    let i = pick(u.archive, "manifest.json", &candidates, options.image.as_deref())?;
    let entry = &entries[i];

    let (config_bytes, config): (Vec<u8>, ImageConfiguration) = u.json(&entry.config, "manifest.json")?;
    let config_digest = digest_of(&config_bytes);
    if let Some(stated) = Unpacked::stated_digest(&entry.config)
        && stated != config_digest
    {
        return Err(u.bad(&entry.config, format!("does not match the digest its name states (found {config_digest})")));
    }
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != entry.layers.len() {
        return Err(u.bad(
            &entry.config,
            format!(
                "the config lists {} layers (rootfs.diff_ids), manifest.json {}",
                diff_ids.len(),
                entry.layers.len()
            ),
        ));
    }

    let mut descriptors = Vec::new();
    let mut layers = Vec::new();
    for (rel, diff_id) in entry.layers.iter().zip(diff_ids) {
        let expected: Digest = diff_id.parse().map_err(|e| u.bad(&entry.config, format!("DiffID `{diff_id}`: {e}")))?;
        let (descriptor, new) = store_layer(layout, u, rel, &expected, options.compression, budget)?;
        layers.push(LayerReport {
            description: rel.clone(),
            digest: descriptor.digest().to_string(),
            diff_id: expected.to_string(),
            size: descriptor.size(),
            new,
        });
        descriptors.push(descriptor);
    }

    let (digest, config_size) = layout.write_blob(&config_bytes)?;
    let config_descriptor = Descriptor::new(MediaType::ImageConfig, config_size, digest);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MediaType::ImageManifest.to_string(),
        "config": config_descriptor,
        "layers": descriptors,
    });
    let descriptor = layout.write_json(MediaType::ImageManifest, &manifest)?;
    layout.set_ref(name, descriptor.clone())?;
    Ok(ImportReport {
        format: Format::DockerArchive,
        image: entry.repo_tags.as_ref().and_then(|t| t.first().cloned()),
        config_digest: Some(config_digest.to_string()),
        built: BuiltImage {
            name: name.to_string(),
            digest: descriptor.digest().to_string(),
            size: descriptor.size(),
            config_size,
            layers,
            descriptor,
            platforms: Vec::new(),
            seconds: 0.0,
        },
    })
}

#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Gzip,
    Zstd,
}

/// Store one layer tar as a blob, checking that its uncompressed bytes hash to `diff_id`:
/// an uncompressed tar is compressed with `compression`, a compressed one kept as it is.
/// Uncompressed bytes count against `budget` (a gzip layer may be a bomb).
fn store_layer(
    layout: &Layout,
    u: &Unpacked,
    rel: &str,
    diff_id: &Digest,
    compression: Compression,
    budget: &mut u64,
) -> Result<(Descriptor, bool), OciError> {
    let path = u.file(rel, "manifest.json")?;
    let mut f = File::open(&path).map_err(OciError::io(&path))?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(OciError::io(&path))?;
    f.rewind().map_err(OciError::io(&path))?;
    let kind = if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Kind::Gzip
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Kind::Zstd
    } else {
        Kind::Plain
    };
    let stated = Unpacked::stated_digest(rel);
    let io_err = |e: io::Error| match e.get_ref().and_then(|i| i.downcast_ref::<OverBudget>()) {
        Some(_) => OciError::ArchiveLimit {
            archive: u.archive.to_path_buf(),
            limit: Limit::Size,
            message: format!("layer `{rel}` brings the uncompressed size of the layers past the bound"),
        },
        None => u.bad(rel, format!("cannot be read as a layer: {e}")),
    };
    let mut blob = Hashed { inner: layout.blob_writer()?, hasher: Sha256::new() };
    let mut uncompressed = Counted { hasher: Sha256::new(), budget: *budget };
    let media_type = match kind {
        Kind::Plain => {
            let mut tee = Tee { inner: &mut f, out: &mut uncompressed };
            match compression {
                Compression::Gzip { level } => {
                    let mut gz = flate2::GzBuilder::new().mtime(0).write(&mut blob, flate2::Compression::new(level));
                    io::copy(&mut tee, &mut gz).map_err(io_err)?;
                    gz.finish().map_err(io_err)?;
                }
                Compression::Zstd { level } => {
                    let mut z = zstd::Encoder::new(&mut blob, level).map_err(io_err)?;
                    io::copy(&mut tee, &mut z).map_err(io_err)?;
                    z.finish().map_err(io_err)?;
                }
            }
            compression.media_type()
        }
        Kind::Gzip | Kind::Zstd => {
            let mut tee = Tee { inner: &mut f, out: &mut blob };
            match kind {
                Kind::Gzip => {
                    io::copy(&mut flate2::read::MultiGzDecoder::new(&mut tee), &mut uncompressed).map_err(io_err)?
                }
                _ => io::copy(&mut zstd::Decoder::new(&mut tee).map_err(io_err)?, &mut uncompressed).map_err(io_err)?,
            };
            // Whatever follows the compressed stream is part of the blob, as the archive has it.
            io::copy(&mut tee, &mut io::sink()).map_err(io_err)?;
            if matches!(kind, Kind::Gzip) { MediaType::ImageLayerGzip } else { MediaType::ImageLayerZstd }
        }
    };
    *budget = uncompressed.budget;
    let actual = sha256_digest(&hex::encode(uncompressed.hasher.finalize()));
    if &actual != diff_id {
        return Err(u.bad(rel, format!("its content hashes to {actual}, but the config's DiffID for it is {diff_id}")));
    }
    let digest = sha256_digest(&hex::encode(blob.hasher.finalize()));
    // A compressed entry named by its digest must match it; an uncompressed one named
    // `blobs/sha256/<DiffID>` was checked as its DiffID above.
    if let Some(stated) = stated.filter(|_| !matches!(kind, Kind::Plain))
        && stated != digest
    {
        return Err(u.bad(rel, format!("does not match the digest its name states (found {digest})")));
    }
    let new = !layout.has_blob(&digest);
    let (digest, size) = blob.inner.finish()?;
    Ok((Descriptor::new(media_type, size, digest), new))
}

/// The blob being written, hashed so the import knows its digest before storing it.
struct Hashed {
    inner: crate::layout::BlobWriter,
    hasher: Sha256,
}

impl Write for Hashed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads from `inner`, writing what it reads to `out`.
struct Tee<'a, R, W> {
    inner: &'a mut R,
    out: &'a mut W,
}

impl<R: Read, W: Write> Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Hashes uncompressed layer bytes, failing once they pass the budget.
struct Counted {
    hasher: Sha256,
    budget: u64,
}

#[derive(Debug)]
struct OverBudget;
impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("over the archive's size bound")
    }
}
impl std::error::Error for OverBudget {}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.budget = self.budget.checked_sub(buf.len() as u64).ok_or_else(|| io::Error::other(OverBudget))?;
        self.hasher.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
