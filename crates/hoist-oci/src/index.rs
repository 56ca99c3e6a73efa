//! Multi-platform images: the OCI image index that names one manifest per platform, and
//! which of an index's images a single-image consumer (`docker load`, this host) takes.
//!
//! An index built by hoist lists its platforms in the plan's order, each entry with its
//! `platform`; the per-platform manifests get no ref of their own (the index's ref keeps
//! them, and skopeo, registries and `Layout::image_for` all reach them through it).

use oci_spec::image::MediaType;
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::OciError;
use crate::image::BuiltImage;
use crate::layout::{Image, Layout, is_index};
use crate::platform::Platform;

/// One platform's manifest of an index.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformImage {
    pub platform: String,
    pub digest: String,
    /// Size of the manifest.
    pub size: u64,
    pub config_digest: String,
    pub config_size: u64,
}

/// The OCI image index JSON of `(platform, manifest)` entries, in the given order.
pub fn index_json(entries: &[(Platform, &oci_spec::image::Descriptor)]) -> Value {
    let manifests: Vec<Value> = entries
        .iter()
        .map(|(p, d)| {
            let mut platform = json!({"os": p.os, "architecture": p.architecture});
            if let Some(v) = &p.variant {
                platform["variant"] = json!(v);
            }
            json!({
                "mediaType": d.media_type().to_string(),
                "digest": d.digest().to_string(),
                "size": d.size(),
                "platform": platform,
            })
        })
        .collect();
    json!({
        "schemaVersion": 2,
        "mediaType": MediaType::ImageIndex.to_string(),
        "manifests": manifests,
    })
}

/// Write the index of the per-platform images and point `name` at it. The result reports
/// the index (digest, size), the shared new layers and each platform's manifest.
pub(crate) fn write_index(
    layout: &Layout,
    name: &str,
    images: Vec<(Platform, BuiltImage)>,
) -> Result<BuiltImage, OciError> {
    let entries: Vec<(Platform, &oci_spec::image::Descriptor)> =
        images.iter().map(|(p, i)| (p.clone(), &i.descriptor)).collect();
    let desc = layout.write_json(MediaType::ImageIndex, &index_json(&entries))?;
    layout.set_ref(name, desc.clone())?;
    let mut platforms = Vec::new();
    for (p, i) in &images {
        let image = layout.image_at(i.descriptor.clone())?;
        platforms.push(PlatformImage {
            platform: p.to_string(),
            digest: i.digest.clone(),
            size: i.size,
            config_digest: image.manifest.config().digest().to_string(),
            config_size: i.config_size,
        });
    }
    let first =
        images.into_iter().next().map(|(_, i)| i).ok_or_else(|| OciError::Other("an index of no image".into()))?;
    Ok(BuiltImage {
        name: name.to_string(),
        digest: desc.digest().to_string(),
        size: desc.size(),
        config_size: platforms.iter().map(|p| p.config_size).sum(),
        layers: first.layers,
        descriptor: desc,
        seconds: 0.0,
        platforms,
    })
}

/// This machine's platform (`linux/<GOARCH>`): the image an engine here runs.
pub fn host_platform() -> Platform {
    Platform { os: "linux".into(), architecture: crate::image::host_arch().into(), variant: None }
}

/// The one image of ref `name` that a consumer of single images gets: the ref itself when
/// it is a manifest, else the index entry for `platform`. Docker's archive format
/// (`manifest.json`) holds one image per tag, so `hoist image export` of an index ref
/// exports the host platform's image this way (`export_image(layout, name, &host_platform())`).
pub fn export_image(layout: &Layout, name: &str, platform: &Platform) -> Result<Image, OciError> {
    layout.image_for(name, platform)
}

/// Whether the ref `name` is an image index (or a Docker manifest list).
pub fn is_index_ref(layout: &Layout, name: &str) -> Result<bool, OciError> {
    Ok(is_index(layout.resolve(name)?.media_type()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_entries_carry_their_platform() {
        let d1 = oci_spec::image::Descriptor::new(MediaType::ImageManifest, 10, crate::digest_of(b"a"));
        let d2 = oci_spec::image::Descriptor::new(MediaType::ImageManifest, 20, crate::digest_of(b"b"));
        let amd: Platform = "linux/amd64".parse().unwrap();
        let arm: Platform = "linux/arm64/v8".parse().unwrap();
        let v = index_json(&[(amd, &d1), (arm, &d2)]);
        assert_eq!(v["mediaType"], "application/vnd.oci.image.index.v1+json");
        assert_eq!(v["manifests"][0]["platform"], json!({"os": "linux", "architecture": "amd64"}));
        assert_eq!(v["manifests"][1]["platform"], json!({"os": "linux", "architecture": "arm64", "variant": "v8"}));
        assert_eq!(v["manifests"][1]["digest"], crate::digest_of(b"b").to_string());
        assert_eq!(v["manifests"][1]["size"], 20);
        // It parses as an OCI index.
        let index = oci_spec::image::ImageIndex::from_reader(&serde_json::to_vec(&v).unwrap()[..]).unwrap();
        assert_eq!(index.manifests().len(), 2);
    }
}
