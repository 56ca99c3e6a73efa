//! `hoist image import` of a rootfs tar (plain, gzip or zstd) from bytes:
//! `hoist_oci::import::import_rootfs` into a fresh layout in a temp dir.
//!
//! Bounded: an input whose decompressed size passes [`MAX_UNPACKED`] is only read through
//! (what the importer's own bounds do with it is tested in hoist-oci), so a small bomb cannot
//! fill the disk of the machine running the fuzzer. Properties: an error is a user error;
//! nothing is written outside the run's directory (a sentinel beside it stays alone and
//! no new entry appears next to it); an import that succeeds can be read back.
#![no_main]

use std::io::Read;

use hoist_oci::import::{import_rootfs, open_tar};
use hoist_oci::{Compression, ConfigSpec, Layout};
use libfuzzer_sys::fuzz_target;

const MAX_UNPACKED: u64 = 64 << 20;

fuzz_target!(|data: &[u8]| {
    let run = hoist_fuzz::run_dir();
    let source = run.path().join("rootfs.tar");
    std::fs::write(&source, data).unwrap();
    if let Ok(reader) = open_tar(&source) {
        let mut unpacked = 0u64;
        let mut limited = reader.take(MAX_UNPACKED + 1);
        let mut buf = [0u8; 1 << 16];
        while let Ok(n) = limited.read(&mut buf) {
            if n == 0 {
                break;
            }
            unpacked += n as u64;
        }
        if unpacked > MAX_UNPACKED {
            return;
        }
    }
    let jail = run.path().join("jail");
    let layout_dir = jail.join("layout");
    std::fs::create_dir_all(&layout_dir).unwrap();
    std::fs::write(jail.join("sentinel"), b"untouched").unwrap();
    let layout = Layout::create_or_open(&layout_dir).unwrap();
    match import_rootfs(&layout, &source, "rootfs", ConfigSpec::default(), 0, Compression::Zstd { level: 1 }) {
        Ok(built) => {
            let image = layout.image("rootfs").unwrap_or_else(|e| panic!("imported image does not read back: {e}"));
            assert_eq!(image.descriptor.digest().to_string(), built.digest);
        }
        Err(e) => hoist_fuzz::check_user_error(&e),
    }
    assert_eq!(std::fs::read(jail.join("sentinel")).unwrap(), b"untouched");
    let mut around: Vec<String> =
        std::fs::read_dir(run.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    around.sort();
    assert_eq!(around, ["jail", "rootfs.tar"], "the import wrote beside its layout");
    let mut in_jail: Vec<String> =
        std::fs::read_dir(&jail).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    in_jail.sort();
    assert_eq!(in_jail, ["layout", "sentinel"], "the import wrote beside its layout");
});
