//! Registry JSON: an image manifest or index as a registry (or a copied layout) serves it,
//! read the way hoist reads it, plus the `WWW-Authenticate` challenge parser.
//!
//! The bytes are stored as a blob of a fresh layout and read through
//! `Layout::image_at` (manifest, then its config blob, digests checked), as `index.json`
//! through `Layout::refs`, and parsed directly as `ImageManifest` and `ImageIndex`
//! (what pull and push do with a registry's answer). Properties: an error is a user
//! error; a manifest that parses survives hoist's canonical JSON and parses back equal.
#![no_main]

use hoist_oci::{Descriptor, ImageConfiguration, ImageManifest, Layout, MediaType, canonical_json};
use hoist_registry::auth::Challenge;
use libfuzzer_sys::fuzz_target;
use oci_spec::image::ImageIndex;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = std::str::from_utf8(data)
        && let Some(c) = Challenge::parse(header)
    {
        assert!(!c.scheme.is_empty() && c.scheme == c.scheme.to_ascii_lowercase());
        let _ = c.param("realm");
    }

    if let Ok(m) = ImageManifest::from_reader(data) {
        let bytes = canonical_json(&m);
        let back = ImageManifest::from_reader(&bytes[..]).unwrap_or_else(|e| panic!("canonical manifest: {e}"));
        assert_eq!(back, m);
    }
    if let Ok(i) = ImageIndex::from_reader(data) {
        let bytes = canonical_json(&i);
        let back = ImageIndex::from_reader(&bytes[..]).unwrap_or_else(|e| panic!("canonical index: {e}"));
        assert_eq!(back, i);
    }

    // A manifest names its config by digest, which the fuzzer cannot forge: the bytes
    // after the first NUL are the config, and a manifest that parses is pointed at them.
    let (head, config) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b"{}"[..]),
    };
    let run = hoist_fuzz::run_dir();
    let layout = Layout::create_or_open(run.path()).unwrap();
    let manifest_bytes = match ImageManifest::from_reader(head) {
        Ok(mut m) => {
            let (digest, size) = layout.write_blob(config).unwrap();
            let mut desc = m.config().clone();
            desc.set_digest(digest);
            desc.set_size(size);
            m.set_config(desc);
            canonical_json(&m)
        }
        Err(_) => head.to_vec(),
    };
    let (digest, size) = layout.write_blob(&manifest_bytes).unwrap();
    match layout.image_at(Descriptor::new(MediaType::ImageManifest, size, digest)) {
        Ok(image) => assert_eq!(image.config, ImageConfiguration::from_reader(config).unwrap()),
        Err(e) => hoist_fuzz::check_user_error(&e),
    }
    std::fs::write(run.path().join("index.json"), head).unwrap();
    match layout.refs() {
        Ok(refs) => {
            for (name, _) in refs {
                match layout.image(&name) {
                    Ok(_) => {}
                    Err(e) => hoist_fuzz::check_user_error(&e),
                }
            }
        }
        Err(e) => hoist_fuzz::check_user_error(&e),
    }
});
