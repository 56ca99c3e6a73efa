//! The Dockerfile subset: `hoist_oci::dockerfile::plan` on a Dockerfile from bytes, over a
//! small fixed context (a file, a directory, a tar for ADD), then each planned layer's tar.
//!
//! Properties: an error is a user error; a plan's files all land at normalised absolute
//! paths inside the image; its layers serialise.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// The build context, made once per process: `app.jar`, `conf/app.conf`, `assets.tar`.
fn context() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = hoist_fuzz::scratch().join("context");
        std::fs::create_dir_all(dir.join("conf")).unwrap();
        std::fs::write(dir.join("app.jar"), b"not really a jar").unwrap();
        std::fs::write(dir.join("conf/app.conf"), b"port = 8080\n").unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(6);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "static/index.html", &b"hello\n"[..]).unwrap();
        std::fs::write(dir.join("assets.tar"), tar.into_inner().unwrap()).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let context = context();
    let run = hoist_fuzz::run_dir();
    let dockerfile = run.path().join("Dockerfile");
    std::fs::write(&dockerfile, data).unwrap();
    let args = BTreeMap::from([("VERSION".to_string(), "1.2.3".to_string())]);
    let plan = match hoist_oci::dockerfile::plan(&dockerfile, context, &args) {
        Ok(p) => p,
        Err(e) => {
            hoist_fuzz::check_user_error(&e);
            return;
        }
    };
    for layer in plan.layers {
        if let Err(e) = hoist_oci::layer::diff_id(&layer, 0) {
            hoist_fuzz::check_user_error(&e);
        }
        for path in layer.into_entries().keys() {
            assert!(
                !path.starts_with('/') && !path.split('/').any(|c| c.is_empty() || c == "." || c == ".."),
                "a layer entry at `{path}`"
            );
        }
    }
});
