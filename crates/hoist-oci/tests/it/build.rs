//! Building images: read back by skopeo, reproducible, layered, and bad input refused.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use hoist_cmd::Cmd;
use hoist_oci::{Compression, ConfigSpec, ImagePlan, LayerSpec, Layout, OciError, build_image, jar};

fn skopeo_inspect(layout: &Path, name: &str) -> serde_json::Value {
    let out = Cmd::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:{name}", layout.display()))
        .read()
        .expect("skopeo inspect");
    serde_json::from_str(&out).expect("skopeo prints JSON")
}

fn plan(name: &str, layers: Vec<LayerSpec>, epoch: u64) -> ImagePlan {
    let mut config = ConfigSpec { entrypoint: Some(vec!["/app/run".into()]), ..ConfigSpec::default() };
    config.labels.insert("org.opencontainers.image.version".into(), "1.0.0".into());
    config.ports.push("8080/tcp".into());
    config.env.push(("PORT".into(), "8080".into()));
    ImagePlan { name: name.into(), base: None, layers, config, epoch, platforms: Vec::new() }
}

/// A small tree with a file, an executable, a subdirectory and an inside symlink.
fn tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    std::fs::write(dir.join("a.txt"), "hello\n").unwrap();
    std::fs::write(dir.join("sub/deeper/b.bin"), vec![3u8; 200_000]).unwrap();
    std::fs::write(dir.join("run"), "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("sub/deeper/b.bin", dir.join("link")).unwrap();
}

#[test]
fn skopeo_reads_an_image_with_a_colon_ref_and_copies_it() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    tree(&src);
    let layout = Layout::create_or_open(&tmp.path().join("oci")).unwrap();
    let mut layer = LayerSpec::new("files");
    layer.add_tree(&src, "/app", false, false).unwrap();
    let built =
        build_image(&layout, &plan("shop-jre:17", vec![layer], 1_700_000_000), Compression::default(), 2).unwrap();

    let info = skopeo_inspect(layout.dir(), "shop-jre:17");
    assert_eq!(info["Digest"], built.digest);
    assert_eq!(info["Labels"]["org.opencontainers.image.version"], "1.0.0");
    assert_eq!(info["Created"], "2023-11-14T22:13:20Z");
    assert_eq!(info["Layers"].as_array().unwrap().len(), 1);

    // An independent client copies it (verifying every digest) into another layout.
    let copy = tmp.path().join("copy");
    Cmd::new("skopeo")
        .args(["copy", "--preserve-digests"])
        .arg(format!("oci:{}:shop-jre:17", layout.dir().display()))
        .arg(format!("oci:{}:again", copy.display()))
        .run()
        .expect("skopeo copy");
    assert_eq!(skopeo_inspect(&copy, "again")["Digest"], built.digest);
}

#[test]
fn the_same_inputs_give_the_same_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let digests: Vec<String> = (0..2)
        .map(|i| {
            let src = tmp.path().join(format!("src{i}"));
            tree(&src);
            // Other mtimes on disk, another layout, another wall time.
            let when = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 * (i + 1));
            std::fs::File::options().write(true).open(src.join("a.txt")).unwrap().set_modified(when).unwrap();
            let layout = Layout::create_or_open(&tmp.path().join(format!("oci{i}"))).unwrap();
            let mut layer = LayerSpec::new("files");
            layer.add_tree(&src, "/app", false, false).unwrap();
            let mut p = plan("img", vec![layer], 1_600_000_000);
            p.config.labels.extend((0..20).map(|n| (format!("label{n}"), n.to_string())));
            build_image(&layout, &p, Compression::default(), 2).unwrap().digest
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn a_layer_already_in_the_layout_is_not_compressed_again() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    tree(&src);
    let layout = Layout::create_or_open(&tmp.path().join("oci")).unwrap();
    let mk = || {
        let mut layer = LayerSpec::new("files");
        layer.add_tree(&src, "/app", false, false).unwrap();
        layer
    };
    let first = build_image(&layout, &plan("a", vec![mk()], 1), Compression::default(), 1).unwrap();
    let second = build_image(&layout, &plan("b", vec![mk()], 1), Compression::default(), 1).unwrap();
    assert!(first.layers[0].new);
    assert!(!second.layers[0].new);
    assert_eq!(first.layers[0].digest, second.layers[0].digest);
    // zstd is another blob for the same content
    let z = build_image(&layout, &plan("c", vec![mk()], 1), Compression::Zstd { level: 3 }, 1).unwrap();
    assert!(z.layers[0].new);
    assert_eq!(z.layers[0].diff_id, first.layers[0].diff_id);
    assert_ne!(z.layers[0].digest, first.layers[0].digest);
    let raw =
        Cmd::new("skopeo").args(["inspect", "--raw"]).arg(format!("oci:{}:c", layout.dir().display())).read().unwrap();
    let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(raw["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
}

#[test]
fn a_base_image_contributes_manifest_and_config_only() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    tree(&src);
    let layout = Layout::create_or_open(&tmp.path().join("oci")).unwrap();
    let mut base_layer = LayerSpec::new("base");
    base_layer.add_tree(&src, "/", true, true).unwrap();
    let mut base_plan = plan("base:1", vec![base_layer], 5);
    base_plan.config.env = vec![("PATH".into(), "/bin".into()), ("PORT".into(), "1".into())];
    let base = build_image(&layout, &base_plan, Compression::default(), 1).unwrap();
    // Base layers may be absent (a lazily pulled base): building must not need them.
    std::fs::remove_file(layout.blob_path(&base.layers[0].digest.parse().unwrap())).unwrap();

    let mut app = LayerSpec::new("app");
    app.add_bytes("/app/app.txt", b"v2".to_vec(), 0o644).unwrap();
    let mut p = plan("svc_v2", vec![app], 9);
    p.base = Some("base:1".into());
    p.config.env = vec![("PORT".into(), "8080".into())];
    let img = build_image(&layout, &p, Compression::default(), 1).unwrap();
    let image = layout.image("svc_v2").unwrap();
    assert_eq!(image.manifest.layers().len(), 2);
    assert_eq!(image.manifest.layers()[0].digest().to_string(), base.layers[0].digest);
    let env = image.config.config().as_ref().unwrap().env().clone().unwrap();
    assert_eq!(env, ["PATH=/bin", "PORT=8080"]);
    assert_eq!(img.layers.len(), 1);

    let missing = build_image(&layout, &ImagePlan { base: Some("nope:1".into()), ..p }, Compression::default(), 1);
    let msg = missing.unwrap_err().to_string();
    assert!(msg.contains("nope:1") && msg.contains("base:1") && msg.contains("svc_v2"), "{msg}");
}

fn write_jar(path: &Path, entries: &[(&str, Vec<u8>)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in entries {
        z.start_file(*name, opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn a_spring_boot_jar_changes_only_its_application_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::create_or_open(&tmp.path().join("oci")).unwrap();
    let mut digests = Vec::new();
    for (i, class) in [b"class v1".to_vec(), b"class v2".to_vec()].into_iter().enumerate() {
        let jar_path = tmp.path().join(format!("app{i}.jar"));
        write_jar(
            &jar_path,
            &[
                (
                    "META-INF/MANIFEST.MF",
                    b"Manifest-Version: 1.0\nMain-Class: org.springframework.boot.loader.launch.JarLauncher\n".to_vec(),
                ),
                ("org/springframework/boot/loader/launch/JarLauncher.class", b"loader".to_vec()),
                ("BOOT-INF/lib/dep-1.0.jar", vec![1u8; 50_000]),
                ("BOOT-INF/lib/snap-1.0-SNAPSHOT.jar", vec![2u8; 10_000]),
                ("BOOT-INF/classes/shop/App.class", class),
            ],
        );
        let layered = jar::artifact_layers(&jar_path, true, None).unwrap();
        assert_eq!(layered.kind, "spring-boot");
        let names: Vec<&str> = layered.layers.iter().map(|l| l.description.as_str()).collect();
        assert_eq!(names, ["dependencies", "spring-boot-loader", "snapshot-dependencies", "application"]);
        assert_eq!(layered.entrypoint.last().unwrap(), "org.springframework.boot.loader.launch.JarLauncher");
        let img = build_image(&layout, &plan("svc", layered.layers, 7), Compression::default(), 2).unwrap();
        digests.push(img.layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>());
    }
    assert_eq!(digests[0][..3], digests[1][..3], "dependency layers stay the same");
    assert_ne!(digests[0][3], digests[1][3], "the application layer changes");
}

#[test]
fn a_thin_jar_with_lib_splits_and_a_plain_jar_stays_whole() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("lib")).unwrap();
    std::fs::write(tmp.path().join("lib/a-1.0.jar"), vec![5u8; 1000]).unwrap();
    std::fs::write(tmp.path().join("lib/b-2.0-SNAPSHOT.jar"), vec![6u8; 1000]).unwrap();
    let thin = tmp.path().join("svc-1.jar");
    write_jar(&thin, &[("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\nClass-Path: lib/a-1.0.jar lib/b-2.0-SNAP\n SHOT.jar lib/missing.jar\nMain-Class: x.Main\n".to_vec()), ("x/Main.class", b"m".to_vec())]);
    let l = jar::artifact_layers(&thin, true, None).unwrap();
    assert_eq!(l.kind, "thin-jar");
    assert_eq!(
        l.layers.iter().map(|l| l.description.as_str()).collect::<Vec<_>>(),
        ["dependencies", "snapshot-dependencies", "application svc-1.jar"]
    );
    assert_eq!(jar::artifact_layers(&thin, false, None).unwrap().layers.len(), 1, "`whole` keeps it one layer");

    let plain = tmp.path().join("plain.jar");
    write_jar(&plain, &[("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\nMain-Class: x.Main\n".to_vec())]);
    let l = jar::artifact_layers(&plain, true, None).unwrap();
    assert_eq!((l.kind, l.layers.len()), ("jar", 1));

    assert!(matches!(jar::artifact_layers(&tmp.path().join("gone.jar"), true, None), Err(OciError::Missing { .. })));
}

#[test]
fn a_symlink_escaping_the_root_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::os::unix::fs::symlink("../../etc/passwd", src.join("d/evil")).unwrap();
    let mut layer = LayerSpec::new("x");
    let err = layer.add_tree(&src, "/", false, false).unwrap_err();
    assert!(matches!(err, OciError::SymlinkEscapes { .. }), "{err}");
}

#[test]
fn a_file_that_changes_while_read_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("big");
    std::fs::write(&f, vec![1u8; 1000]).unwrap();
    let mut layer = LayerSpec::new("x");
    layer.add_file("/big", &f, None).unwrap();
    std::fs::write(&f, vec![1u8; 2000]).unwrap(); // changed after its size was taken
    let layout = Layout::create_or_open(&tmp.path().join("oci")).unwrap();
    let err = build_image(&layout, &plan("x", vec![layer], 1), Compression::default(), 1).unwrap_err();
    assert!(matches!(err, OciError::Changed { .. }), "{err}");
}

#[test]
fn a_file_that_cannot_be_read_is_reported_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("vanishing"), "x").unwrap();
    let mut layer = LayerSpec::new("x");
    layer.add_tree(&src, "/", false, false).unwrap();
    // Gone (or unreadable) by the time it is read: the error names it, no image is made.
    std::fs::remove_file(src.join("vanishing")).unwrap();
    let layout = Layout::create_or_open(&tmp.path().join("oci")).unwrap();
    let err = build_image(&layout, &plan("x", vec![layer], 1), Compression::default(), 1).unwrap_err();
    assert!(err.to_string().contains("vanishing"), "{err}");
    assert!(layout.refs().unwrap().is_empty());
}

#[test]
fn an_artifact_whose_hash_differs_from_the_build_record_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("app.bin");
    std::fs::write(&f, "built").unwrap();
    let recorded = "0".repeat(64); // what `hoist build` recorded, before something rewrote it
    let mut layer = LayerSpec::new("app");
    layer.add_verified_file("/app/app.bin", &f, &recorded, 0o755).unwrap();
    let layout = Layout::create_or_open(&tmp.path().join("oci")).unwrap();
    let err = build_image(&layout, &plan("x", vec![layer], 1), Compression::default(), 1).unwrap_err();
    assert!(matches!(err, OciError::Changed { .. }), "{err}");
    assert!(err.to_string().contains("app.bin"), "{err}");
}

#[test]
fn a_gzipped_rootfs_tar_imports_with_its_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("rootfs.tar.gz");
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
    let mut t = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o1777);
    h.set_size(0);
    t.append_data(&mut h, "tmp/", std::io::empty()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(4);
    t.append_data(&mut h, "bin/tool", &b"tool"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    t.append_link(&mut h, "usr/bin/tool", "/bin/tool").unwrap();
    t.into_inner().unwrap().finish().unwrap();
    let layout = Layout::create_or_open(&tmp.path().join("oci")).unwrap();
    let built =
        hoist_oci::import::import_rootfs(&layout, &path, "base:1", ConfigSpec::default(), 0, Compression::default())
            .unwrap();
    assert_eq!(skopeo_inspect(layout.dir(), "base:1")["Digest"], built.digest);
    // Read the layer back: modes kept, owners 0, absolute link kept.
    let image = layout.image("base:1").unwrap();
    let blob = layout.open_blob(image.manifest.layers()[0].digest()).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(blob));
    let mut seen = Vec::new();
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        seen.push((e.path().unwrap().display().to_string(), h.mode().unwrap() & 0o7777));
    }
    assert!(seen.contains(&("tmp/".to_string(), 0o1777)) || seen.contains(&("tmp".to_string(), 0o1777)), "{seen:?}");
    assert!(seen.iter().any(|(p, m)| p == "bin/tool" && *m == 0o755), "{seen:?}");
    assert!(seen.iter().any(|(p, _)| p == "usr/bin/tool"), "{seen:?}");
    let paths: Vec<&String> = seen.iter().map(|(p, _)| p).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "entries are sorted");
}

#[test]
fn dockerfile_subset_builds_and_run_is_refused_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(ctx.join("conf")).unwrap();
    std::fs::write(ctx.join("app.jar"), "jar").unwrap();
    std::fs::write(ctx.join("conf/a.properties"), "a=1").unwrap();
    // a local tar for ADD
    let mut t = tar::Builder::new(std::fs::File::create(ctx.join("assets.tar")).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    t.append_data(&mut h, "static/x.css", &b"css"[..]).unwrap();
    t.finish().unwrap();
    drop(t);
    let layout = Layout::create_or_open(&tmp.path().join("oci")).unwrap();
    let df = ctx.join("Dockerfile");
    std::fs::write(
        &df,
        "# comment\nARG VERSION=1\nFROM scratch\nENV APP_HOME=/srv \\\n    MODE=\"prod x\"\nWORKDIR $APP_HOME\nCOPY app.jar ./\nCOPY conf/ /etc/app/\nADD assets.tar /srv/www/\nLABEL org.opencontainers.image.version=$VERSION\nEXPOSE 8080 9000/udp\nUSER 1000\nVOLUME [\"/data\"]\nSTOPSIGNAL SIGTERM\nENTRYPOINT [\"java\", \"-jar\", \"/srv/app.jar\"]\nCMD --serve\n",
    )
    .unwrap();
    let args = BTreeMap::from([("VERSION".to_string(), "2.0".to_string())]);
    let p = hoist_oci::dockerfile::plan(&df, &ctx, &args).unwrap();
    assert_eq!(p.base, None);
    assert_eq!(p.layers.len(), 3);
    let img = build_image(
        &layout,
        &ImagePlan {
            name: "kv:1".into(),
            base: p.base,
            layers: p.layers,
            config: p.config,
            epoch: 1,
            platforms: Vec::new(),
        },
        Compression::default(),
        2,
    )
    .unwrap();
    let info = skopeo_inspect(layout.dir(), "kv:1");
    assert_eq!(info["Digest"], img.digest);
    assert_eq!(info["Labels"]["org.opencontainers.image.version"], "2.0");
    let config = layout.image("kv:1").unwrap().config;
    let c = config.config().as_ref().unwrap();
    assert_eq!(c.working_dir().as_deref(), Some("/srv"));
    // As `docker build` does, a base without PATH (here `scratch`) gets Docker's default.
    assert_eq!(c.env().as_ref().unwrap(), &[hoist_oci::image::DEFAULT_PATH, "APP_HOME=/srv", "MODE=prod x"]);
    assert_eq!(c.cmd().as_ref().unwrap(), &["/bin/sh", "-c", "--serve"]);
    assert_eq!(c.user().as_deref(), Some("1000"));
    let mut ports = c.exposed_ports().clone().unwrap();
    ports.sort();
    assert_eq!(ports, ["8080/tcp", "9000/udp"]);

    std::fs::write(&df, "FROM scratch\nCOPY app.jar /\n\nRUN apt-get install -y curl\n").unwrap();
    let err = hoist_oci::dockerfile::plan(&df, &ctx, &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains(":4: RUN"), "{err}");
    assert!(hoist_diag::Diagnostic::hint(&err).unwrap().contains("base image"));

    std::fs::write(&df, "FROM scratch\nHEALTHCHECK CMD true\n").unwrap();
    let err = hoist_oci::dockerfile::plan(&df, &ctx, &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains(":2: HEALTHCHECK is not supported"), "{err}");

    std::fs::write(&df, "FROM scratch\nCOPY ../outside /\n").unwrap();
    let err = hoist_oci::dockerfile::plan(&df, &ctx, &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains(":2:"), "{err}");
}

#[test]
fn a_tar_entry_escaping_its_root_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("evil.tar");
    // Written byte by byte: the tar crate refuses to write `..` names itself.
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..13].copy_from_slice(b"../escape.txt");
    h.set_size(1);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut bytes = h.as_bytes().to_vec();
    bytes.extend([b'x']);
    bytes.resize(512 * 2, 0);
    bytes.extend([0u8; 1024]);
    std::fs::write(&path, bytes).unwrap();
    let layout = Layout::create_or_open(&tmp.path().join("oci")).unwrap();
    let err =
        hoist_oci::import::import_rootfs(&layout, &path, "evil:1", ConfigSpec::default(), 0, Compression::default())
            .unwrap_err();
    assert!(matches!(err, OciError::TarEscapes { .. }), "{err}");
    assert!(!tmp.path().join("escape.txt").exists());
}

#[test]
fn a_spring_boot_layers_idx_decides_the_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let jar_path = tmp.path().join("app.jar");
    let idx = "- \"dependencies\":\n  - \"BOOT-INF/lib/\"\n- \"spring-boot-loader\":\n  - \"org/\"\n- \"snapshot-dependencies\":\n- \"application\":\n  - \"BOOT-INF/classes/\"\n  - \"BOOT-INF/classpath.idx\"\n  - \"BOOT-INF/layers.idx\"\n  - \"META-INF/\"\n";
    write_jar(
        &jar_path,
        &[
            (
                "META-INF/MANIFEST.MF",
                b"Manifest-Version: 1.0\nMain-Class: org.springframework.boot.loader.JarLauncher\n".to_vec(),
            ),
            ("BOOT-INF/layers.idx", idx.as_bytes().to_vec()),
            ("org/springframework/boot/loader/JarLauncher.class", b"l".to_vec()),
            ("BOOT-INF/lib/dep-1.0-SNAPSHOT.jar", vec![1u8; 100]),
            ("BOOT-INF/classes/App.class", b"c".to_vec()),
        ],
    );
    let l = jar::artifact_layers(&jar_path, true, None).unwrap();
    // The index puts the SNAPSHOT jar in `dependencies` (its prefix rule), and the empty
    // snapshot layer is left out.
    let names: Vec<&str> = l.layers.iter().map(|l| l.description.as_str()).collect();
    assert_eq!(names, ["dependencies", "spring-boot-loader", "application"]);
    assert_eq!(l.layers.iter().map(|l| l.len()).collect::<Vec<_>>(), [1, 1, 3]);
}

#[test]
fn a_shell_form_command_is_checked_against_the_bases_layers_as_stacked() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::create_or_open(&tmp.path().join("oci")).unwrap();
    // Merged /usr: `/bin` links to `usr/bin`, where `sh` links to `dash`.
    let mut usr = LayerSpec::new("usr");
    usr.insert("/bin", hoist_oci::Entry::Symlink { target: "usr/bin".into() }).unwrap();
    usr.add_bytes("/usr/bin/dash", b"\x7fELF".to_vec(), 0o755).unwrap();
    usr.insert("/usr/bin/sh", hoist_oci::Entry::Symlink { target: "dash".into() }).unwrap();
    // An upper layer that deletes the shell, as `rm /usr/bin/dash` in a RUN would.
    let mut rm = LayerSpec::new("rm");
    rm.add_bytes("/usr/bin/.wh.dash", Vec::new(), 0o644).unwrap();
    build_image(&layout, &plan("with-sh:1", vec![usr.clone()], 1), Compression::default(), 1).unwrap();
    build_image(&layout, &plan("sh-removed:1", vec![usr, rm], 1), Compression::default(), 1).unwrap();

    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("dash"), b"\x7fELF").unwrap();
    let df = ctx.join("Dockerfile");
    let check = |text: &str| {
        std::fs::write(&df, text).unwrap();
        hoist_oci::dockerfile::plan(&df, &ctx, &BTreeMap::new()).unwrap().check_shell(&layout)
    };
    check("FROM with-sh:1\nENTRYPOINT echo hi\n").unwrap();
    let err = check("FROM sh-removed:1\nWORKDIR /app\nENTRYPOINT echo hi\n").unwrap_err();
    assert!(matches!(err, OciError::Dockerfile { line: 3, .. }), "{err:?}");
    assert!(err.to_string().contains("has no /bin/sh"), "{err}");
    // The exec form runs no shell; a shell-form CMD under it is only arguments.
    check("FROM sh-removed:1\nENTRYPOINT [\"/app/run\"]\nCMD echo hi\n").unwrap();
    // A shell-form CMD is what runs when there is no ENTRYPOINT.
    let err = check("FROM scratch\nCMD echo hi\n").unwrap_err();
    assert!(matches!(err, OciError::Dockerfile { line: 2, .. }), "{err:?}");
    // The Dockerfile's own layers count, and SHELL names the program.
    check("FROM sh-removed:1\nCOPY dash /usr/bin/dash\nCMD echo hi\n").unwrap();
    let err = check("FROM with-sh:1\nSHELL [\"/bin/bash\", \"-c\"]\nCMD echo hi\n").unwrap_err();
    assert!(err.to_string().contains("runs `/bin/bash -c`"), "{err}");
    // A base whose layers were never fetched cannot be looked into: the runtime will tell.
    let base = layout.image("sh-removed:1").unwrap();
    std::fs::remove_file(layout.blob_path(base.manifest.layers()[1].digest())).unwrap();
    check("FROM sh-removed:1\nCMD echo hi\n").unwrap();
    // Nor a base not imported yet: planning needs none, and the build names it.
    check("FROM amazoncorretto:17-alpine3.16-jdk\nCMD echo hi\n").unwrap();
}
