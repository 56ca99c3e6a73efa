//! Assemble images: a base (manifest and config only, never its layers), new layers, and a
//! config; written into the layout and given a ref.
//!
//! The base config is edited as JSON rather than through oci-spec's types so fields those
//! types don't know (Docker's `Healthcheck`, `OnBuild`) survive unchanged.

use std::collections::BTreeMap;

use oci_spec::image::{Descriptor, MediaType};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::OciError;
use crate::layer::{BuiltLayer, Compression, LayerSpec, write_layers};
use crate::layout::Layout;

/// The runtime config hoist sets; `None`/empty keeps the base's value.
#[derive(Debug, Clone, Default)]
pub struct ConfigSpec {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// Set in order; a key the base has is replaced in place.
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// `8080/tcp`
    pub ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    /// SHELL: what shell-form commands of images built on this one run.
    pub shell: Option<Vec<String>>,
    /// Give a base without `PATH` Docker's default one, as `docker build` does on FROM.
    pub default_path: bool,
}

/// The `PATH` Docker gives a Linux image whose base has none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything one image is made from.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    /// The ref the image gets in the layout.
    pub name: String,
    /// A ref in the same layout, or `None` for an image from scratch.
    pub base: Option<String>,
    pub layers: Vec<LayerSpec>,
    pub config: ConfigSpec,
    /// Layer mtimes and the `created` time (seconds since the epoch).
    pub epoch: u64,
}

/// What was written for one image.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltImage {
    pub name: String,
    pub digest: String,
    pub size: u64,
    /// Size of the config blob.
    pub config_size: u64,
    pub layers: Vec<LayerReport>,
    #[serde(skip)]
    pub descriptor: Descriptor,
    /// Seconds spent on this image: its own layers (hashing, compressing what is new) and
    /// writing its config and manifest. Not printed by `hoist image` (timings vary).
    #[serde(skip)]
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    pub description: String,
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
    /// False when the layout already had this layer.
    pub new: bool,
}

/// Build several images into one layout; layers of all images are written in parallel and
/// a layer they share is written once.
pub fn build_images(
    layout: &Layout,
    plans: &[ImagePlan],
    compression: Compression,
    jobs: usize,
) -> Result<Vec<BuiltImage>, OciError> {
    // Resolve every base first, so a missing base fails before any compression.
    let bases: Vec<Option<crate::Image>> = plans
        .iter()
        // An index base (from a registry) serves its linux/amd64 manifest until per-platform
        // builds choose the platform.
        .map(|p| p.base.as_deref().map(|b| layout.image_for(b, &crate::Platform::default_target())).transpose())
        .collect::<Result<_, _>>()?;
    for p in plans {
        crate::layout::check_ref_name(&p.name)?;
    }
    let mut all_specs = Vec::new();
    let mut spans = Vec::new();
    for (i, p) in plans.iter().enumerate() {
        let start = all_specs.len();
        // Different epochs mean different tars; layers are grouped per epoch below.
        all_specs.extend(p.layers.iter().cloned().map(|l| (p.epoch, l)));
        spans.push((i, start, all_specs.len()));
    }
    let mut built: Vec<Option<BuiltLayer>> = vec![None; all_specs.len()];
    let mut epochs: Vec<u64> = all_specs.iter().map(|(e, _)| *e).collect();
    epochs.sort_unstable();
    epochs.dedup();
    for epoch in epochs {
        let idx: Vec<usize> = (0..all_specs.len()).filter(|&i| all_specs[i].0 == epoch).collect();
        let specs: Vec<LayerSpec> = idx.iter().map(|&i| all_specs[i].1.clone()).collect();
        for (i, b) in idx.into_iter().zip(write_layers(layout, &specs, epoch, compression, jobs)?) {
            built[i] = Some(b);
        }
    }
    let mut out = Vec::new();
    for ((i, start, end), base) in spans.into_iter().zip(bases) {
        let layers: Vec<BuiltLayer> = built[start..end].iter().map(|b| b.clone().expect("written")).collect();
        let started = std::time::Instant::now();
        let mut image = assemble(layout, &plans[i], base.as_ref(), &layers)?;
        image.seconds = layers.iter().map(|l| l.seconds).sum::<f64>() + started.elapsed().as_secs_f64();
        out.push(image);
    }
    Ok(out)
}

/// Build one image.
pub fn build_image(
    layout: &Layout,
    plan: &ImagePlan,
    compression: Compression,
    jobs: usize,
) -> Result<BuiltImage, OciError> {
    Ok(build_images(layout, std::slice::from_ref(plan), compression, jobs)?.remove(0))
}

fn assemble(
    layout: &Layout,
    plan: &ImagePlan,
    base: Option<&crate::Image>,
    layers: &[BuiltLayer],
) -> Result<BuiltImage, OciError> {
    let created = rfc3339(plan.epoch);
    let mut config: Map<String, Value> = match base {
        Some(b) => match serde_json::to_value(&b.config).expect("config serialises") {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        None => {
            let mut m = Map::new();
            m.insert("architecture".into(), json!(host_arch()));
            m.insert("os".into(), json!("linux"));
            m
        }
    };
    // Re-read the base config's raw JSON, so fields oci-spec drops are kept.
    if let Some(b) = base {
        let raw = layout.read_blob(b.manifest.config().digest())?;
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&raw) {
            config = m;
        }
    }
    config.insert("created".into(), json!(created));
    let runtime = config.entry("config").or_insert_with(|| json!({}));
    if !runtime.is_object() {
        *runtime = json!({});
    }
    apply(runtime.as_object_mut().expect("object"), &plan.config);

    let rootfs = config.entry("rootfs").or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    if !rootfs.get("diff_ids").is_some_and(Value::is_array) {
        *rootfs = json!({"type": "layers", "diff_ids": []});
    }
    let diff_ids = rootfs.get_mut("diff_ids").and_then(Value::as_array_mut).expect("array");
    for l in layers {
        diff_ids.push(json!(l.diff_id.to_string()));
    }
    let history = config.entry("history").or_insert_with(|| json!([]));
    if !history.is_array() {
        *history = json!([]);
    }
    let history = history.as_array_mut().expect("array");
    for l in layers {
        history.push(json!({"created": created, "created_by": format!("hoist: {}", l.description)}));
    }
    if layers.is_empty() {
        history.push(json!({"created": created, "created_by": "hoist: config", "empty_layer": true}));
    }
    let config_desc = layout.write_json(MediaType::ImageConfig, &Value::Object(config))?;

    let mut manifest_layers: Vec<Value> = Vec::new();
    if let Some(b) = base {
        for l in b.manifest.layers() {
            let mut v = serde_json::to_value(l).expect("descriptor serialises");
            // A base from a Docker manifest list: same bytes, the OCI name of the type.
            if let Some(oci) = v.get("mediaType").and_then(Value::as_str).and_then(oci_layer_type) {
                v["mediaType"] = json!(oci);
            }
            manifest_layers.push(v);
        }
    }
    for l in layers {
        manifest_layers.push(serde_json::to_value(&l.descriptor).expect("descriptor serialises"));
    }
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": serde_json::to_value(&config_desc).expect("descriptor serialises"),
        "layers": manifest_layers,
    });
    // A base from a registry (its ref is the registry name, `host/path:tag`): the
    // pre-defined OCI annotations say which, so a push knows where the base layers that
    // the layout does not hold can be mounted or copied from.
    if let (Some(name), Some(b)) = (plan.base.as_deref(), base)
        && crate::layout::registry_host(name).is_some()
    {
        manifest["annotations"] = json!({
            oci_spec::image::ANNOTATION_BASE_IMAGE_NAME: name,
            oci_spec::image::ANNOTATION_BASE_IMAGE_DIGEST: b.descriptor.digest().to_string(),
        });
    }
    let desc = layout.write_json(MediaType::ImageManifest, &manifest)?;
    layout.set_ref(&plan.name, desc.clone())?;
    Ok(BuiltImage {
        name: plan.name.clone(),
        digest: desc.digest().to_string(),
        size: desc.size(),
        config_size: config_desc.size(),
        layers: layers
            .iter()
            .map(|l| LayerReport {
                description: l.description.clone(),
                digest: l.descriptor.digest().to_string(),
                diff_id: l.diff_id.to_string(),
                size: l.descriptor.size(),
                new: l.compressed_now,
            })
            .collect(),
        descriptor: desc,
        seconds: 0.0,
    })
}

fn apply(rt: &mut Map<String, Value>, spec: &ConfigSpec) {
    if let Some(ep) = &spec.entrypoint {
        rt.insert("Entrypoint".into(), json!(ep));
        // As in Docker: a new ENTRYPOINT drops the base's CMD unless CMD is set too.
        if spec.cmd.is_none() {
            rt.remove("Cmd");
        }
    }
    if let Some(cmd) = &spec.cmd {
        rt.insert("Cmd".into(), json!(cmd));
    }
    let mut env: Vec<String> = rt
        .get("Env")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    if spec.default_path && !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(DEFAULT_PATH.into());
        rt.insert("Env".into(), json!(env));
    }
    if !spec.env.is_empty() {
        for (k, v) in &spec.env {
            let line = format!("{k}={v}");
            match env.iter_mut().find(|e| e.split_once('=').map(|(ek, _)| ek) == Some(k.as_str())) {
                Some(slot) => *slot = line,
                None => env.push(line),
            }
        }
        rt.insert("Env".into(), json!(env));
    }
    if let Some(w) = &spec.workdir {
        rt.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &spec.user {
        rt.insert("User".into(), json!(u));
    }
    let mut add_set = |key: &str, items: &[String]| {
        if items.is_empty() {
            return;
        }
        let set = rt.entry(key).or_insert_with(|| json!({}));
        if !set.is_object() {
            *set = json!({});
        }
        for p in items {
            set.as_object_mut().expect("object").insert(p.clone(), json!({}));
        }
    };
    add_set("ExposedPorts", &spec.ports);
    add_set("Volumes", &spec.volumes);
    if !spec.labels.is_empty() {
        let labels = rt.entry("Labels").or_insert_with(|| json!({}));
        if !labels.is_object() {
            *labels = json!({});
        }
        for (k, v) in &spec.labels {
            labels.as_object_mut().expect("object").insert(k.clone(), json!(v));
        }
    }
    if let Some(s) = &spec.stop_signal {
        rt.insert("StopSignal".into(), json!(s));
    }
    if let Some(s) = &spec.shell {
        rt.insert("Shell".into(), json!(s));
    }
}

/// The OCI media type of a Docker schema 2 layer type (the bytes are the same).
fn oci_layer_type(media_type: &str) -> Option<&'static str> {
    match media_type {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => Some("application/vnd.oci.image.layer.v1.tar+gzip"),
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
            Some("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")
        }
        _ => None,
    }
}

/// The GOARCH name of this machine.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a unix time (civil-from-days, Howard Hinnant's algorithm;
/// by hand to keep chrono out of this crate for one function).
pub fn rfc3339(epoch: u64) -> String {
    let secs = epoch as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_577_836_800), "2020-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_764_111_599), "2025-11-25T22:59:59Z");
    }
}
