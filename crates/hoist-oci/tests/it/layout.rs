//! The layout: blobs by digest, refs in index.json, no half blob on failure.

use std::io::Write;

use hoist_oci::{Descriptor, Layout, MediaType, OciError};

#[test]
fn blobs_and_refs_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create_or_open(&dir.path().join("oci")).unwrap();
    let (digest, size) = layout.write_blob(b"hello").unwrap();
    assert_eq!(size, 5);
    assert_eq!(digest.to_string(), "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    assert!(layout.has_blob(&digest));
    assert_eq!(layout.read_blob(&digest).unwrap(), b"hello");

    let desc = Descriptor::new(MediaType::ImageManifest, size, digest.clone());
    layout.set_ref("shop-jre:17", desc.clone()).unwrap();
    layout.set_ref("a_v1", desc.clone()).unwrap();
    layout.set_ref("a_v1", desc).unwrap(); // replaces, not duplicates
    let refs: Vec<String> = layout.refs().unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(refs, ["a_v1", "shop-jre:17"]);

    let reopened = Layout::open(&dir.path().join("oci")).unwrap();
    assert_eq!(reopened.resolve("shop-jre:17").unwrap().digest(), &digest);
    match reopened.resolve("nope") {
        Err(OciError::RefNotFound { known, .. }) => assert_eq!(known, ["a_v1", "shop-jre:17"]),
        other => panic!("{other:?}"),
    }
    let msg = reopened.resolve("nope").unwrap_err().to_string();
    assert!(msg.contains("a_v1, shop-jre:17"), "{msg}");
    reopened.remove_ref("a_v1").unwrap();
    assert_eq!(reopened.refs().unwrap().len(), 1);
}

#[test]
fn a_damaged_blob_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create_or_open(dir.path()).unwrap();
    let (digest, _) = layout.write_blob(b"content").unwrap();
    std::fs::write(layout.blob_path(&digest), b"tampered").unwrap();
    assert!(matches!(layout.read_blob(&digest), Err(OciError::DigestMismatch { .. })));
}

#[test]
fn an_unfinished_blob_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create_or_open(dir.path()).unwrap();
    let mut w = layout.blob_writer().unwrap();
    w.write_all(&[7u8; 100_000]).unwrap();
    drop(w); // e.g. the disk filled up before finish()
    let entries: Vec<_> = std::fs::read_dir(dir.path().join("blobs/sha256")).unwrap().collect();
    assert!(entries.is_empty(), "{entries:?}");
}

#[test]
fn a_directory_without_oci_layout_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = Layout::open(dir.path()).unwrap_err();
    assert!(matches!(err, OciError::NotALayout { .. }));
}
