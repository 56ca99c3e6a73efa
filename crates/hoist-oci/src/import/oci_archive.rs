//! A tar of an OCI image layout (`oci-layout`, `index.json`, `blobs/`), as `skopeo copy
//! ... oci-archive:` and Docker 25+'s `docker save` write it: the chosen index entry and
//! every blob under it are copied as they are (each checked against its descriptor's digest
//! and size), so the image keeps its manifest digest. An index keeps the manifests the
//! archive holds; ones it lacks stay listed, as for a base resolved from a registry.

use oci_spec::image::{ANNOTATION_REF_NAME, Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use serde::Deserialize;

use super::{Candidate, Format, ImportOptions, ImportReport, Unpacked, pick};
use crate::error::OciError;
use crate::image::{BuiltImage, LayerReport};
use crate::layout::{Layout, is_index};

/// containerd's (and Docker 25's) annotation with the image's full name.
const CONTAINERD_NAME: &str = "io.containerd.image.name";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciLayoutFile {
    image_layout_version: String,
}

pub(super) fn import(
    layout: &Layout,
    u: &Unpacked,
    name: &str,
    options: &ImportOptions,
    format: Format,
) -> Result<ImportReport, OciError> {
    let (_, marker): (_, OciLayoutFile) = u.json("oci-layout", "oci-layout")?;
    if !marker.image_layout_version.starts_with("1.") {
        return Err(
            u.bad("oci-layout", format!("image layout version {} (hoist reads 1.x)", marker.image_layout_version))
        );
    }
    let (_, index): (_, ImageIndex) = u.json("index.json", "index.json")?;
    let candidates: Vec<Candidate> = index
        .manifests()
        .iter()
        .map(|d| Candidate {
            names: d
                .annotations()
                .iter()
                .flat_map(|a| [a.get(ANNOTATION_REF_NAME), a.get(CONTAINERD_NAME)])
                .flatten()
                .cloned()
                .collect(),
            digest: d.digest().to_string(),
        })
        .collect();
    let i = pick(u.archive, "index.json", &candidates, options.image.as_deref())?;
    let chosen = &index.manifests()[i];

    let mut copy = Copy { layout, u, layers: Vec::new(), config_digest: None };
    copy.descriptor(chosen, 0)?;
    let mut descriptor = Descriptor::new(chosen.media_type().clone(), chosen.size(), chosen.digest().clone());
    descriptor.set_platform(chosen.platform().clone());
    layout.set_ref(name, descriptor.clone())?;
    let config_size = match &copy.config_digest {
        Some((_, size)) => *size,
        None => 0,
    };
    Ok(ImportReport {
        format,
        image: candidates[i].names.iter().find(|n| n.contains(':')).or(candidates[i].names.first()).cloned(),
        config_digest: copy.config_digest.map(|(d, _)| d),
        built: BuiltImage {
            name: name.to_string(),
            digest: descriptor.digest().to_string(),
            size: descriptor.size(),
            config_size,
            layers: copy.layers,
            descriptor,
            platforms: Vec::new(),
            seconds: 0.0,
        },
    })
}

struct Copy<'a, 'b> {
    layout: &'a Layout,
    u: &'a Unpacked<'b>,
    layers: Vec<LayerReport>,
    /// The config of the manifest imported (of the first one, for an index).
    config_digest: Option<(String, u64)>,
}

impl Copy<'_, '_> {
    /// Copy what `d` needs, children before the blob that lists them.
    fn descriptor(&mut self, d: &Descriptor, depth: usize) -> Result<(), OciError> {
        let rel = Unpacked::blob_name(d.digest());
        if is_index(d.media_type()) {
            if depth > 1 {
                return Err(self.u.bad(&rel, "an index nested more than twice"));
            }
            let index: ImageIndex = self.u.json_blob(d, "the index")?;
            let mut held = 0;
            for m in index.manifests() {
                // Absent is allowed (as from a registry); anything there is checked in full.
                if self.u.holds(&Unpacked::blob_name(m.digest())) {
                    self.descriptor(m, depth + 1)?;
                    held += 1;
                }
            }
            if held == 0 {
                return Err(self.u.bad(&rel, "the archive holds none of the manifests this index lists"));
            }
        } else {
            let manifest: ImageManifest = self.u.json_blob(d, "the index")?;
            let config = manifest.config();
            let config_rel = Unpacked::blob_name(config.digest());
            let image_config: ImageConfiguration = self.u.json_blob(config, "the manifest")?;
            let diff_ids = image_config.rootfs().diff_ids();
            for (i, l) in manifest.layers().iter().enumerate() {
                let layer_rel = Unpacked::blob_name(l.digest());
                let new = self.u.copy_blob(self.layout, &layer_rel, l.digest(), Some(l.size()))?;
                self.layers.push(LayerReport {
                    description: layer_rel,
                    digest: l.digest().to_string(),
                    diff_id: diff_ids.get(i).cloned().unwrap_or_default(),
                    size: l.size(),
                    new,
                });
            }
            self.u.copy_blob(self.layout, &config_rel, config.digest(), Some(config.size()))?;
            self.config_digest.get_or_insert((config.digest().to_string(), config.size()));
        }
        self.u.copy_blob(self.layout, &rel, d.digest(), Some(d.size()))?;
        Ok(())
    }
}
