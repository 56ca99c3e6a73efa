//! `hoist.toml` from bytes: the TOML parse, every section's validation, and the values
//! derived from a config that passed.
//!
//! Properties: an error is a user error naming the file; a config that loads gives its
//! tag format, policy and image-tag template without panicking (they `expect` what
//! validation promised), and its first release renders a git tag and, with a registry,
//! an OCI tag for every service.
#![no_main]

use std::path::Path;

use hoist_config::Config;
use hoist_version::names;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("/fuzz/project/hoist.toml");
    let config = match Config::parse(text, path, Path::new("/fuzz/project")) {
        Ok(c) => c,
        Err(e) => {
            hoist_fuzz::check_user_error(&e);
            assert!(e.to_string().contains("hoist.toml"), "an error that does not name the file: {e}");
            return;
        }
    };
    let format = config.version.tag_format();
    let policy = config.version.policy();
    let sha = "a".repeat(40);
    let first = format.render(&policy.initial, &sha);
    names::check_git_tag(&first).unwrap_or_else(|e| panic!("the initial release's tag is not a git tag: {e}"));
    let _ = config.project_name();
    for (name, service) in &config.services {
        let _ = config.resolve(service.dir_or(name));
        let _ = service.image.port_specs();
    }
    if let Some(registry) = &config.registry {
        let template = registry.image_tag_template();
        let _ = registry.service_separator();
        let version = policy.initial.to_string();
        let short = &sha[..config.version.sha_length];
        for name in config.services.keys() {
            let tag =
                template.render_with(&[("service", name), ("tag", &first), ("version", &version), ("sha", short)]);
            names::check_oci_tag(&tag).unwrap_or_else(|e| panic!("the initial release's image tag is refused: {e}"));
        }
    }
});
