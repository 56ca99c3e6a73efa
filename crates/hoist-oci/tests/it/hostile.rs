//! Hostile and careless input to the image builder, each made by the test itself: what
//! `.dockerignore` excludes (checked against the real `docker build`), symlinks out of the
//! project, archive bombs (gzip, sparse, deep, many entries, huge headers, zip), jars that
//! no image can hold, and the leftovers of killed runs. Each asserts the clear error, the
//! bound that held, and that nothing was left behind.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use hoist_cmd::Cmd;
use hoist_diag::{Diagnostic, Exit};
use hoist_oci::archive::{ArchiveLimits, extract_tar};
use hoist_oci::{Compression, ConfigSpec, ImagePlan, LayerSpec, Layout, Limit, OciError, build_image, jar};

// ---------------------------------------------------------------- helpers

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn limit_of(e: &OciError) -> Option<Limit> {
    match e {
        OciError::ArchiveLimit { limit, .. } => Some(*limit),
        OciError::AtLine { error, .. } => limit_of(error),
        _ => None,
    }
}

/// Names in `dir` (not recursive), sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// What a killed or failed run could leave in a layout.
fn leftovers(layout: &Path) -> Vec<String> {
    let mut out: Vec<String> =
        names(layout).into_iter().filter(|n| n.starts_with(".tmp-") || n.starts_with(".hoist-import-")).collect();
    out.extend(names(&layout.join("blobs/sha256")).into_iter().filter(|n| n.starts_with(".tmp-")));
    out
}

fn gz(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A tar header block (GNU format) for `name`; long names are not needed here.
fn header(name: &str, size: u64, kind: tar::EntryType) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(kind);
    h.set_cksum();
    h.as_bytes().to_vec()
}

/// A gzip stream of members: `head`, then `copies` times one member of 64 MiB of `fill`
/// (compressed once, so a test makes a multi-GB bomb in a second), then `tail`, then
/// incompressible padding that the tar reader never reaches, until the file is `on_disk`
/// bytes: the size of a bomb on disk is chosen, not a side effect.
fn gzip_bomb(path: &Path, head: &[u8], fill: u8, copies: u64, tail: &[u8], on_disk: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(&gz(head, 6)).unwrap();
    let member = gz(&vec![fill; 64 << 20], 9);
    for _ in 0..copies {
        out.write_all(&member).unwrap();
    }
    out.write_all(&gz(tail, 6)).unwrap();
    out.flush().unwrap();
    let written = out.get_ref().metadata().unwrap().len();
    if on_disk > written {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..on_disk - written)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        out.write_all(&gz(&noise, 0)).unwrap();
    }
    out.flush().unwrap();
}

fn octal12(dst: &mut [u8; 12], v: u64) {
    let s = format!("{v:011o}");
    dst[..s.len()].copy_from_slice(s.as_bytes());
    if s.len() < 12 {
        dst[s.len()] = 0;
    }
}

/// A GNU sparse tar: `name` of `real_size` bytes whose only data is `data` (≤ 512 bytes) at
/// the very end; the rest is a hole. The archive is 2.5 KB whatever `real_size` is.
fn sparse_tar(path: &Path, name: &str, real_size: u64, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_size(512);
    let g = h.as_gnu_mut().unwrap();
    octal12(&mut g.sparse[0].offset, real_size - 512);
    octal12(&mut g.sparse[0].numbytes, 512);
    octal12(&mut g.realsize, real_size);
    h.set_cksum();
    let mut bytes = h.as_bytes().to_vec();
    let mut block = data.to_vec();
    block.resize(512, 0);
    bytes.extend(block);
    bytes.extend([0u8; 1024]);
    write(path, bytes);
}

/// Every entry of an image's layer `i`: path (no trailing `/`) → `f`, `d` or `l`, and size.
fn layer_entries(layout: &Layout, name: &str, i: usize) -> BTreeMap<String, (char, u64)> {
    let image = layout.image(name).unwrap();
    let blob = layout.open_blob(image.manifest.layers()[i].digest()).unwrap();
    tar_entries(flate2::read::GzDecoder::new(blob))
}

fn tar_entries(r: impl Read) -> BTreeMap<String, (char, u64)> {
    let mut out = BTreeMap::new();
    for e in tar::Archive::new(r).entries().unwrap() {
        let e = e.unwrap();
        let kind = match e.header().entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            _ => 'f',
        };
        let path = e.path().unwrap().to_string_lossy().trim_end_matches('/').to_string();
        out.insert(path, (kind, e.size()));
    }
    out
}

fn write_jar(path: &Path, entries: &[(&str, &[u8])]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in entries {
        z.start_file(*name, opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

const BOOT_MANIFEST: &[u8] = b"Manifest-Version: 1.0\nMain-Class: org.springframework.boot.loader.launch.JarLauncher\n";

// ---------------------------------------------------------------- .dockerignore (item 3)

/// Removes the test's image from the Engine even when an assertion fails.
struct EngineImage(String);
impl Drop for EngineImage {
    fn drop(&mut self) {
        let _ = Cmd::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

#[test]
fn dockerignore_leaves_out_what_docker_build_leaves_out() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path().join("ctx");
    for f in [
        ".env",
        "a.key",
        "keep.key",
        "sub/b.key",
        "sub/keep.key",
        ".git/HEAD",
        ".git/objects/ab/cd",
        "dir/x",
        "dir/sub/y",
        "abs/z",
        "nested/abs/z",
        "a/x/y/b/f",
        "a/b/f",
        "a/bb/f",
        "build/keep/this",
        "build/other",
        "src/main.rs",
        "docs/readme.md",
        "docs/notes.txt",
        "**literal",
        "x.KEY",
        "dir/sub/keep-me",
        "x/y",
        "x/z",
    ] {
        write(&ctx.join(f), format!("content of {f}\n"));
    }
    std::fs::write(ctx.join(".env"), "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n").unwrap();
    std::os::unix::fs::symlink("src/main.rs", ctx.join("link")).unwrap();
    std::fs::create_dir_all(ctx.join("empty")).unwrap();
    write(
        &ctx.join(".dockerignore"),
        "# secrets and build output\n.env\n**/*.key\n!keep.key\n.git\ndir/\n/abs\na/**/b\nbuild\n!build/keep\n  docs/*.txt  \n\\*\\*literal\nx/y\n!x\n!**/keep-me\n",
    );
    // A whole-context COPY, and a link copied on its own (it becomes a file named as the link).
    write(&ctx.join("Dockerfile"), "FROM scratch\nCOPY . /ctx/\nCOPY link keep.key /one/\nCMD [\"/none\"]\n");

    // hoist's native builder.
    let p = hoist_oci::dockerfile::plan(&ctx.join("Dockerfile"), &ctx, &BTreeMap::new()).unwrap();
    let layout = Layout::create_or_open(&tmp.path().join("oci")).unwrap();
    build_image(
        &layout,
        &ImagePlan {
            name: "ctx:1".into(),
            base: None,
            layers: p.layers,
            config: p.config,
            epoch: 0,
            platforms: Vec::new(),
        },
        Compression::default(),
        1,
    )
    .unwrap();
    let ours: Vec<BTreeMap<String, (char, u64)>> = (0..2).map(|i| layer_entries(&layout, "ctx:1", i)).collect();

    // The real `docker build` on the same context, its layer read from `docker save`.
    let name = format!("hoist-it-dockerignore:{:x}", std::process::id());
    let _cleanup = EngineImage(name.clone());
    Cmd::new("docker")
        .args(["build", "-q", "-t", &name])
        .arg(&ctx)
        .env("DOCKER_BUILDKIT", "0")
        .run()
        .expect("docker build");
    let saved = tmp.path().join("saved.tar");
    Cmd::new("docker").args(["save", "-o"]).arg(&saved).arg(&name).run().expect("docker save");
    let outer = tempfile::tempdir().unwrap();
    tar::Archive::new(std::fs::File::open(&saved).unwrap()).unpack(outer.path()).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outer.path().join("manifest.json")).unwrap()).unwrap();
    let layers = manifest[0]["Layers"].as_array().unwrap();
    let theirs: Vec<BTreeMap<String, (char, u64)>> = layers
        .iter()
        .map(|l| tar_entries(std::fs::File::open(outer.path().join(l.as_str().unwrap())).unwrap()))
        .collect();

    // Every path, its kind and its size, layer by layer.
    assert_eq!(ours, theirs, "hoist's layers and docker build's differ");
    assert_eq!(ours[1]["one/link"], ('f', "content of src/main.rs\n".len() as u64));
    let ours: BTreeMap<String, char> = ours[0].iter().map(|(p, (k, _))| (p.clone(), *k)).collect();
    // And the rules did something: secrets, keys and .git are out, exceptions are in.
    for gone in [
        "ctx/.env",
        "ctx/a.key",
        "ctx/sub/keep.key",
        "ctx/.git",
        "ctx/dir",
        "ctx/abs",
        "ctx/a/b",
        "ctx/a/x/y/b",
        "ctx/build/other",
        "ctx/docs/notes.txt",
        "ctx/**literal",
        "ctx/dir/sub/keep-me",
        "ctx/x/y",
    ] {
        assert!(!ours.contains_key(gone), "{gone} is in the layer");
    }
    for kept in [
        "ctx/keep.key",
        "ctx/build/keep/this",
        "ctx/nested/abs/z",
        "ctx/a/bb/f",
        "ctx/x.KEY",
        "ctx/x/z",
        "ctx/empty",
        "ctx/Dockerfile",
        "ctx/.dockerignore",
    ] {
        assert!(ours.contains_key(kept), "{kept} is missing: {ours:?}");
    }
    assert_eq!(ours["ctx/link"], 'l');
}

#[test]
fn copy_of_an_excluded_file_is_refused_and_a_glob_skips_it() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path();
    write(&ctx.join(".env"), "SECRET=1\n");
    write(&ctx.join("app.conf"), "a\n");
    write(&ctx.join("secret.conf"), "s\n");
    write(&ctx.join(".dockerignore"), ".env\nsecret.conf\n");
    std::os::unix::fs::symlink(".env", ctx.join("env-link")).unwrap();
    let df = ctx.join("Dockerfile");
    let run = |text: &str| {
        write(&df, text);
        hoist_oci::dockerfile::plan(&df, ctx, &BTreeMap::new())
    };
    for (text, what) in [("FROM scratch\nCOPY .env /x\n", ".env"), ("FROM scratch\nCOPY env-link /x\n", "env-link")] {
        let err = run(text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(":2:") && msg.contains(what) && msg.contains(".dockerignore"), "{msg}");
        assert_eq!(err.exit(), Exit::User);
    }
    let p = run("FROM scratch\nCOPY *.conf /etc/\n").unwrap();
    let entries: Vec<String> = p.layers[0].clone().into_entries().into_keys().collect();
    assert_eq!(entries, ["etc/app.conf"]);
    let err = run("FROM scratch\nCOPY secret.* /etc/\n").unwrap_err();
    assert!(err.to_string().contains("1 excluded by .dockerignore"), "{err}");

    // A Dockerfile's own ignore file (BuildKit's `<Dockerfile>.dockerignore`) comes first.
    write(&ctx.join("Dockerfile.dockerignore"), "app.conf\n");
    let err = run("FROM scratch\nCOPY app.conf /x\n").unwrap_err();
    assert!(err.to_string().contains("Dockerfile.dockerignore excludes it"), "{err}");
    assert!(run("FROM scratch\nCOPY .env /x\n").is_ok(), "the context's .dockerignore is not read then");
    std::fs::remove_file(ctx.join("Dockerfile.dockerignore")).unwrap();

    write(&ctx.join(".dockerignore"), "ok\n[unclosed\n");
    let err = run("FROM scratch\nCOPY app.conf /x\n").unwrap_err();
    assert!(err.to_string().contains(".dockerignore:2:"), "{err}");
    assert_eq!(err.exit(), Exit::User);
}

// ---------------------------------------------------------------- symlinks out (item 4)

#[test]
fn copy_of_a_link_out_of_the_context_is_refused_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path().join("ctx");
    write(&ctx.join("ok"), "ok");
    std::os::unix::fs::symlink("/etc/passwd", ctx.join("shadow")).unwrap();
    std::fs::create_dir_all(tmp.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("../elsewhere", ctx.join("dirlink")).unwrap();
    let df = ctx.join("Dockerfile");
    for (text, line) in [
        ("FROM scratch\nCOPY shadow /etc/x\n", ":2:"),
        ("FROM scratch\nCOPY ok /\nADD dirlink /x/\n", ":3:"),
        ("FROM scratch\nCOPY sh* /x/\n", ":2:"),
    ] {
        write(&df, text);
        let err = hoist_oci::dockerfile::plan(&df, &ctx, &BTreeMap::new()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(line) && msg.contains("outside"), "{text:?}: {msg}");
        assert_eq!(err.exit(), Exit::User, "{msg}");
    }
}

#[test]
fn an_artifact_or_a_lib_jar_linked_out_of_the_project_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    let libs = project.join("build/libs");
    std::fs::create_dir_all(libs.join("lib")).unwrap();
    write(&libs.join("lib/good-1.0.jar"), vec![1u8; 100]);
    std::os::unix::fs::symlink("/etc/passwd", libs.join("lib/dep-1.0.jar")).unwrap();
    let jar_path = libs.join("svc.jar");
    write_jar(
        &jar_path,
        &[
            (
                "META-INF/MANIFEST.MF",
                b"Manifest-Version: 1.0\nClass-Path: lib/good-1.0.jar lib/dep-1.0.jar\nMain-Class: x.Main\n",
            ),
            ("x/Main.class", b"m"),
        ],
    );
    let err = jar::artifact_layers_verified(&project, &jar_path, None, true, None).unwrap_err();
    match &err {
        OciError::OutsideRoot { path, resolved, .. } => {
            assert!(path.ends_with("lib/dep-1.0.jar"), "{err}");
            assert_eq!(resolved, Path::new("/etc/passwd"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.exit(), Exit::User);

    // The artifact itself, a link to a file outside the project.
    let outside = tmp.path().join("outside.jar");
    std::fs::copy(&jar_path, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, libs.join("linked.jar")).unwrap();
    let err = jar::artifact_layers_verified(&project, &libs.join("linked.jar"), None, false, None).unwrap_err();
    assert!(matches!(err, OciError::OutsideRoot { .. }), "{err}");
    // A link that stays inside the project is fine (and read at its target).
    std::os::unix::fs::symlink("lib/good-1.0.jar", libs.join("inside.bin")).unwrap();
    let l = jar::artifact_layers_verified(&project, &libs.join("inside.bin"), None, true, None).unwrap();
    assert_eq!(l.kind, "file");
}

// ---------------------------------------------------------------- archive bounds (item 7)

#[test]
fn a_gzip_bomb_is_refused_by_its_ratio_before_anything_is_unpacked() {
    let tmp = tempfile::tempdir().unwrap();
    // 20 MB on disk, a 3 GiB file inside: 150:1, the reproduced bomb.
    let bomb = tmp.path().join("rootfs.tar.gz");
    gzip_bomb(&bomb, &header("big.bin", 3 << 30, tar::EntryType::Regular), 0, 48, &[0u8; 1024], 20 << 20);
    assert!(std::fs::metadata(&bomb).unwrap().len() <= 21 << 20);
    let layout_dir = tmp.path().join("oci");
    let layout = Layout::create_or_open(&layout_dir).unwrap();
    let started = Instant::now();
    let err =
        hoist_oci::import::import_rootfs(&layout, &bomb, "bomb:1", ConfigSpec::default(), 0, Compression::default())
            .unwrap_err();
    assert_eq!(limit_of(&err), Some(Limit::Ratio), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("rootfs.tar.gz") && msg.contains("big.bin") && msg.contains("100:1"), "{msg}");
    assert_eq!(err.exit(), Exit::User);
    assert!(err.hint().unwrap().contains("--max-ratio"));
    // Refused at the header: nothing was unpacked, nothing is left.
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(leftovers(&layout_dir).is_empty(), "{:?}", leftovers(&layout_dir));
    assert!(layout.refs().unwrap().is_empty());

    // Unpacking into a directory shows the same: the directory stays empty.
    let dest = tmp.path().join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    let err = extract_tar(&bomb, &dest, &ArchiveLimits::default()).unwrap_err();
    assert_eq!(limit_of(&err), Some(Limit::Ratio));
    assert!(names(&dest).is_empty());
}

#[test]
fn a_sparse_entry_counts_at_its_full_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    // 2.5 KB on disk claiming 9 GiB: over the size bound.
    let big = tmp.path().join("nine.tar");
    sparse_tar(&big, "disk.img", 9 << 30, b"tail");
    let err = extract_tar(&big, &dest, &ArchiveLimits::default()).unwrap_err();
    assert_eq!(limit_of(&err), Some(Limit::Size), "{err}");
    assert!(err.to_string().contains("8.0 GiB"), "{err}");
    // 6.3 GB: under the size bound, far over the ratio.
    let six = tmp.path().join("six.tar");
    sparse_tar(&six, "disk.img", 6_300_000_000, b"tail");
    let err = extract_tar(&six, &dest, &ArchiveLimits::default()).unwrap_err();
    assert_eq!(limit_of(&err), Some(Limit::Ratio), "{err}");
    assert!(names(&dest).is_empty());
    // Through ADD, the error carries the Dockerfile's line.
    std::fs::copy(&six, tmp.path().join("assets.tar")).unwrap();
    write(&tmp.path().join("Dockerfile"), "FROM scratch\n\nADD assets.tar /srv/\n");
    let err = hoist_oci::dockerfile::plan(&tmp.path().join("Dockerfile"), tmp.path(), &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains("Dockerfile:3:"), "{err}");
    assert_eq!((limit_of(&err), err.exit()), (Some(Limit::Ratio), Exit::User));
}

#[test]
fn add_of_a_sparse_tar_reads_its_files_from_disk_and_removes_them_after() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path().join("ctx");
    sparse_tar(&ctx.join("data.tar"), "db/data.bin", 64 << 20, b"the end");
    write(&ctx.join("Dockerfile"), "FROM scratch\nADD data.tar /srv/\n");
    let p = hoist_oci::dockerfile::plan(&ctx.join("Dockerfile"), &ctx, &BTreeMap::new()).unwrap();
    // The unpacked tar lives in a locked scratch directory while the plan does.
    let scratch: Vec<String> =
        names(&std::env::temp_dir()).into_iter().filter(|n| n.starts_with(".hoist-add-")).collect();
    assert!(!scratch.is_empty());
    let layout = Layout::create_or_open(&tmp.path().join("oci")).unwrap();
    build_image(
        &layout,
        &ImagePlan {
            name: "data:1".into(),
            base: None,
            layers: p.layers,
            config: p.config,
            epoch: 0,
            platforms: Vec::new(),
        },
        Compression::default(),
        1,
    )
    .unwrap();
    let entries = layer_entries(&layout, "data:1", 0);
    assert_eq!(entries["srv/db/data.bin"], ('f', 64 << 20));
    assert_eq!(entries["srv"].0, 'd');
    // Plan dropped (moved into the build and gone): its scratch directory is removed.
    for s in scratch {
        // Another test's may still be alive; ours is the one we saw and it must be gone
        // unless it belongs to a concurrent test, which holds its lock.
        let path = std::env::temp_dir().join(&s);
        if path.exists() {
            let f = std::fs::File::open(&path).unwrap();
            assert!(f.try_lock().is_err(), "{s} is left over and unlocked");
        }
    }
}

#[test]
fn a_path_1600_directories_deep_is_refused_quickly() {
    let tmp = tempfile::tempdir().unwrap();
    let deep = format!("{}f", "d/".repeat(1600));
    let path = tmp.path().join("deep.tar");
    let mut t = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    t.append_data(&mut h, &deep, &b"x"[..]).unwrap();
    t.finish().unwrap();
    drop(t);
    let layout_dir = tmp.path().join("oci");
    let layout = Layout::create_or_open(&layout_dir).unwrap();
    let started = Instant::now();
    let err =
        hoist_oci::import::import_rootfs(&layout, &path, "deep:1", ConfigSpec::default(), 0, Compression::default())
            .unwrap_err();
    assert_eq!(limit_of(&err), Some(Limit::Depth), "{err}");
    assert!(err.to_string().contains("1601 directories deep"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(leftovers(&layout_dir).is_empty());

    // The same depth as a directory on disk (a rootfs dir, or a COPY source).
    let dir = tmp.path().join("rootfs");
    std::fs::create_dir_all(dir.join(deep.trim_end_matches("/f"))).unwrap();
    let started = Instant::now();
    let err =
        hoist_oci::import::import_rootfs(&layout, &dir, "deep:2", ConfigSpec::default(), 0, Compression::default())
            .unwrap_err();
    assert!(matches!(err, OciError::BadImagePath { .. }), "{err}");
    assert!(err.to_string().contains("over the bound of 256"), "{err}");
    assert_eq!(err.exit(), Exit::User);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn a_tar_with_more_entries_than_its_bound_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("many.tar");
    let mut t = tar::Builder::new(std::fs::File::create(&path).unwrap());
    for i in 0..150 {
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        t.append_data(&mut h, format!("f{i}"), &b"x"[..]).unwrap();
    }
    t.finish().unwrap();
    drop(t);
    let layout_dir = tmp.path().join("oci");
    let layout = Layout::create_or_open(&layout_dir).unwrap();
    let limits = ArchiveLimits { max_entries: 100, ..ArchiveLimits::default() };
    let err = hoist_oci::import::import_rootfs_with(
        &layout,
        &path,
        "many:1",
        ConfigSpec::default(),
        0,
        Compression::default(),
        &limits,
    )
    .unwrap_err();
    assert_eq!(limit_of(&err), Some(Limit::Entries), "{err}");
    assert!(err.to_string().contains("more than 100 entries"), "{err}");
    assert!(leftovers(&layout_dir).is_empty(), "the half-unpacked tree is removed");
    // With the default bound it imports.
    hoist_oci::import::import_rootfs(&layout, &path, "many:1", ConfigSpec::default(), 0, Compression::default())
        .unwrap();
    assert_eq!(layer_entries(&layout, "many:1", 0).len(), 150);
}

#[test]
fn a_4_gib_long_name_is_refused_after_its_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("longname.tar.gz");
    // A GNU long-name entry of 4 GiB: the tar reader would hold it all in memory.
    gzip_bomb(&path, &header("././@LongLink", 4 << 30, tar::EntryType::GNULongName), b'a', 64, &[0u8; 1024], 0);
    let dest = tmp.path().join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    let started = Instant::now();
    let err = extract_tar(&path, &dest, &ArchiveLimits::default()).unwrap_err();
    assert_eq!(limit_of(&err), Some(Limit::Metadata), "{err}");
    assert!(err.to_string().contains("1.0 MiB"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(names(&dest).is_empty());
}

#[test]
fn a_jar_bomb_is_refused_from_its_central_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("app.jar");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    z.start_file("META-INF/MANIFEST.MF", stored).unwrap();
    z.write_all(BOOT_MANIFEST).unwrap();
    z.start_file("BOOT-INF/classes/App.class", stored).unwrap();
    z.write_all(b"c").unwrap();
    z.start_file("BOOT-INF/lib/zeros.jar", deflated).unwrap();
    z.write_all(&vec![0u8; 64 << 20]).unwrap();
    // 140 more directory entries for the same data: 9 GiB declared, 70 KB on disk.
    for i in 0..140 {
        z.shallow_copy_file("BOOT-INF/lib/zeros.jar", &format!("BOOT-INF/lib/copy-{i}.jar")).unwrap();
    }
    z.finish().unwrap();
    let started = Instant::now();
    let err = jar::artifact_layers(&path, true, None).unwrap_err();
    assert!(matches!(limit_of(&err), Some(Limit::Ratio | Limit::Size)), "{err}");
    assert!(err.to_string().contains("app.jar"), "{err}");
    assert_eq!(err.exit(), Exit::User);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

// ---------------------------------------------------------------- jars no image can hold (item 8)

#[test]
fn an_empty_layers_idx_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("app.jar");
    for idx in [&b""[..], b"\n\n", b"  - \"BOOT-INF/lib/\"\n"] {
        write_jar(
            &path,
            &[
                ("META-INF/MANIFEST.MF", BOOT_MANIFEST),
                ("BOOT-INF/layers.idx", idx),
                ("BOOT-INF/classes/App.class", b"c"),
            ],
        );
        let err = jar::artifact_layers(&path, true, None).unwrap_err();
        assert!(err.to_string().contains("layers.idx names no layer"), "{err}");
        assert_eq!(err.exit(), Exit::User);
    }
}

#[test]
fn a_jar_with_x_and_x_slash_y_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("app.jar");
    write_jar(
        &path,
        &[
            ("META-INF/MANIFEST.MF", BOOT_MANIFEST),
            ("BOOT-INF/classes/x", b"file"),
            ("BOOT-INF/classes/x/y", b"under it"),
        ],
    );
    let err = jar::artifact_layers(&path, true, None).unwrap_err();
    match &err {
        OciError::PathConflict { path: p, child, .. } => {
            assert_eq!((p.as_str(), child.as_str()), ("BOOT-INF/classes/x", "BOOT-INF/classes/x/y"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("app.jar"), "{err}");
    assert_eq!(err.exit(), Exit::User);
    // Kept whole, the jar is one file and fine.
    assert_eq!(jar::artifact_layers(&path, false, None).unwrap().layers.len(), 1);
}

#[test]
fn a_layer_refuses_a_path_under_a_file_or_a_file_over_a_directory() {
    let mut l = LayerSpec::new("COPY a b /x/");
    l.add_bytes("/x/a", b"file".to_vec(), 0o644).unwrap();
    let err = l.add_bytes("/x/a/b", b"under".to_vec(), 0o644).unwrap_err();
    assert!(err.to_string().contains("`x/a` is both a file and the parent of `x/a/b`"), "{err}");
    l.add_bytes("/d/e", b"in d".to_vec(), 0o644).unwrap();
    assert!(matches!(l.add_bytes("/d", b"over d".to_vec(), 0o644), Err(OciError::PathConflict { .. })));
    l.insert("/ln", hoist_oci::Entry::Symlink { target: "/etc".into() }).unwrap();
    let err = l.add_bytes("/ln/shadow", b"through a link".to_vec(), 0o644).unwrap_err();
    assert!(err.to_string().contains("symlink"), "{err}");
    // Replacing a file by a file, or adding a directory over a directory, is fine.
    l.add_bytes("/x/a", b"again".to_vec(), 0o644).unwrap();
    l.add_dir("/d").unwrap();
}

// ---------------------------------------------------------------- leftovers (item 10)

#[test]
fn leftovers_of_killed_runs_are_reclaimed_and_live_ones_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("oci");
    let layout = Layout::create_or_open(&dir).unwrap();
    // What a killed run leaves: files and directories that no process holds a lock on.
    write(&dir.join("blobs/sha256/.tmp-killed1"), vec![7u8; 100_000]);
    write(&dir.join(".hoist-import-killed2/usr/lib/big"), vec![7u8; 100_000]);
    write(&dir.join(".tmp-killed3"), "{\"manifests\":[]}");
    write(&dir.join(".hoist-cache/gzip-1/.tmp-killed4"), "x");
    // A live run: a blob half written and an import directory in use.
    let mut live = layout.blob_writer().unwrap();
    live.write_all(&[1u8; 50_000]).unwrap();
    let live_dir = hoist_oci::scratch::temp_dir(&dir, ".hoist-import-").unwrap();
    write(&live_dir.path().join("etc/hostname"), "live\n");
    let live_tmp: Vec<String> = names(&dir.join("blobs/sha256"))
        .into_iter()
        .filter(|n| n.starts_with(".tmp-") && n != ".tmp-killed1")
        .collect();
    assert_eq!(live_tmp.len(), 1);
    // Not a hoist temp name: never touched.
    write(&dir.join("blobs/sha256/notes.txt"), "mine");

    let reopened = Layout::create_or_open(&dir).unwrap(); // the next run
    let mut left = leftovers(&dir);
    left.sort();
    let live_name = live_dir.path().file_name().unwrap().to_string_lossy().into_owned();
    let mut want = vec![live_name, live_tmp[0].clone()];
    want.sort();
    assert_eq!(left, want, "only the live run's entries remain");
    assert!(!dir.join(".hoist-cache/gzip-1/.tmp-killed4").exists());
    assert!(dir.join("blobs/sha256/notes.txt").exists());
    assert_eq!(std::fs::read_to_string(live_dir.path().join("etc/hostname")).unwrap(), "live\n");
    // The live run finishes normally.
    let (digest, size) = live.finish().unwrap();
    assert_eq!(size, 50_000);
    assert!(reopened.has_blob(&digest));
    drop(live_dir);
    assert!(reopened.reclaim().is_empty());
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
}

// ---------------------------------------------------------------- COPY exit code (item 12)

#[test]
fn copy_to_a_destination_with_dot_dot_is_a_user_error_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    write(&tmp.path().join("a"), "a");
    let df = tmp.path().join("Dockerfile");
    for text in
        ["FROM scratch\nWORKDIR /srv\nCOPY a ../../../etc/x\n", "FROM scratch\nARG D=..\nWORKDIR /srv\nCOPY a $D/x\n"]
    {
        write(&df, text);
        let err = hoist_oci::dockerfile::plan(&df, tmp.path(), &BTreeMap::new()).unwrap_err();
        let msg = err.to_string();
        let line = text.lines().count();
        assert!(msg.starts_with(&format!("{}:{line}:", df.display())), "{msg}");
        assert!(msg.contains("climbs with `..`"), "{msg}");
        assert_eq!(err.exit(), Exit::User);
        assert!(err.hint().unwrap().contains("/etc/x") || err.hint().unwrap().contains("/x"), "{:?}", err.hint());
    }
    // An error from deeper down (a tar entry escaping) also names the line, as a user error.
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..6].copy_from_slice(b"../esc");
    h.set_size(0);
    h.set_mode(0o644);
    h.set_cksum();
    let mut bytes = h.as_bytes().to_vec();
    bytes.extend([0u8; 1024]);
    write(&tmp.path().join("evil.tar"), bytes);
    write(&df, "FROM scratch\nADD evil.tar /x/\n");
    let err = hoist_oci::dockerfile::plan(&df, tmp.path(), &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains("Dockerfile:2:") && err.to_string().contains("escapes"), "{err}");
    assert_eq!(err.exit(), Exit::User);
}
