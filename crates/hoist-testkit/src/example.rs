//! The example project (`examples/shop`) copied into throwaway directories.

use std::path::Path;

/// Copy `examples/shop` into `dest` (created), leaving out build output and hoist state.
pub fn copy_example(dest: &Path) {
    copy_dir(&crate::example_shop(), dest);
}

fn copy_dir(src: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "build" || name == ".hoist" {
            continue;
        }
        let from = entry.path();
        let to = dest.join(&name);
        let meta = std::fs::symlink_metadata(&from).unwrap();
        if meta.is_dir() {
            copy_dir(&from, &to);
        } else if meta.is_file() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
}
