//! The Dockerfile subset on the acme fixture's Gradle-generated Dockerfiles: each form
//! built by `hoist image build-file` and by `docker build` from the same Dockerfile and
//! context, then compared (config, the container's file system, what it prints); the
//! shell-form command on a base without a shell; a Spring Boot fat jar layered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use hoist_cmd::Cmd;

use crate::common::{TestContext, hoist_env};
use crate::hoist_snapshot;
use crate::image::{DockerCleanup, jre_rootfs};

const EPOCH: (&str, &str) = ("SOURCE_DATE_EPOCH", "1700000000");
const JAR: &str = "build/libs/orders-backend-server.jar";

/// A stand-in for Spring Boot's launcher: runs `Start-Class` from `BOOT-INF/classes` and
/// `BOOT-INF/lib`, out of the jar (unpacked to a temp dir) or out of the exploded jar,
/// which it tells apart as the real one does: by where its own class was loaded from.
const LAUNCHER: &str = r#"package org.springframework.boot.loader.launch;

import java.io.File;
import java.io.InputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

public class JarLauncher {
    public static void main(String[] args) throws Exception {
        File root = new File(JarLauncher.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        File dir = root;
        String mode = "exploded";
        if (!root.isDirectory()) {
            mode = "jar";
            dir = Files.createTempDirectory("boot").toFile();
            try (JarFile jar = new JarFile(root)) {
                for (Enumeration<JarEntry> e = jar.entries(); e.hasMoreElements();) {
                    JarEntry entry = e.nextElement();
                    if (entry.isDirectory()) continue;
                    Path out = dir.toPath().resolve(entry.getName());
                    Files.createDirectories(out.getParent());
                    try (InputStream in = jar.getInputStream(entry)) {
                        Files.copy(in, out, StandardCopyOption.REPLACE_EXISTING);
                    }
                }
            }
        }
        Manifest manifest;
        try (InputStream in = Files.newInputStream(dir.toPath().resolve("META-INF/MANIFEST.MF"))) {
            manifest = new Manifest(in);
        }
        List<URL> urls = new ArrayList<>();
        urls.add(new File(dir, "BOOT-INF/classes/").toURI().toURL());
        File[] libs = new File(dir, "BOOT-INF/lib").listFiles();
        if (libs != null) {
            Arrays.sort(libs);
            for (File lib : libs) urls.add(lib.toURI().toURL());
        }
        System.setProperty("launch.mode", mode);
        ClassLoader loader = new URLClassLoader(urls.toArray(new URL[0]), ClassLoader.getPlatformClassLoader());
        Class.forName(manifest.getMainAttributes().getValue("Start-Class"), true, loader)
            .getMethod("main", String[].class)
            .invoke(null, (Object) args);
    }
}
"#;

const DTO: &str = r#"package com.acme.dto;

public class Names {
    public static String name() { return "acme-dto"; }
}
"#;

/// The service: says which dependency it loaded, how it was launched, where and with what.
const APP: &str = r#"package com.acme.orders;

public class Application {
    public static void main(String[] args) {
        System.out.println("orders MARKER " + com.acme.dto.Names.name() + " " + System.getProperty("launch.mode")
            + " in " + System.getProperty("user.dir") + " " + java.util.Arrays.toString(args));
    }
}
"#;

/// The launcher, the DTO module's jar (`boot/BOOT-INF/lib/acme-dto.jar`) and the
/// application's classes (`boot/BOOT-INF/classes`, printing `marker`), compiled in a temp
/// dir. Jar entry dates are pinned, so the same sources give the same bytes.
fn compile(marker: &str) -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let write = |rel: &str, text: &str| {
        let p = w.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("src/JarLauncher.java", LAUNCHER);
    write("src/Names.java", DTO);
    write("src/Application.java", &APP.replace("MARKER", marker));
    run_in(w, &["javac", "-d", "boot/org-classes", "src/JarLauncher.java"]);
    run_in(w, &["javac", "-d", "dto", "src/Names.java"]);
    std::fs::create_dir_all(w.join("boot/BOOT-INF/lib")).unwrap();
    run_in(w, &["jar", "--create", DATE, "--file", "boot/BOOT-INF/lib/acme-dto.jar", "-C", "dto", "."]);
    run_in(
        w,
        &["javac", "-cp", "boot/BOOT-INF/lib/acme-dto.jar", "-d", "boot/BOOT-INF/classes", "src/Application.java"],
    );
    work
}

const DATE: &str = "--date=2023-11-14T22:13:20Z";

fn run_in(dir: &Path, args: &[&str]) {
    Cmd::new(args[0]).args(&args[1..]).current_dir(dir).run().unwrap();
}

/// Write a Spring Boot shaped fat jar at `jar`: the launcher at the root, the application
/// in `BOOT-INF/classes` (printing `marker`), the DTO module in `BOOT-INF/lib`.
fn fat_jar(jar: &Path, marker: &str) {
    let work = compile(marker);
    let w = work.path();
    let manifest =
        "Main-Class: org.springframework.boot.loader.launch.JarLauncher\nStart-Class: com.acme.orders.Application\n";
    std::fs::write(w.join("MANIFEST.MF"), manifest).unwrap();
    std::fs::create_dir_all(jar.parent().unwrap()).unwrap();
    let jar = jar.display().to_string();
    #[rustfmt::skip]
    run_in(w, &["jar", "--create", DATE, "--file", &jar, "--manifest", "MANIFEST.MF",
        "-C", "boot/org-classes", ".", "-C", "boot", "BOOT-INF"]);
}

/// A thin jar in `dir`: `orders.jar` whose `Class-Path` names `lib/acme-dto.jar` beside it.
fn thin_jar(dir: &Path) {
    let work = compile("thin");
    let w = work.path();
    std::fs::write(w.join("MANIFEST.MF"), "Main-Class: com.acme.orders.Application\nClass-Path: lib/acme-dto.jar\n")
        .unwrap();
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::copy(w.join("boot/BOOT-INF/lib/acme-dto.jar"), dir.join("lib/acme-dto.jar")).unwrap();
    let jar = dir.join("orders.jar").display().to_string();
    run_in(
        w,
        &["jar", "--create", DATE, "--file", &jar, "--manifest", "MANIFEST.MF", "-C", "boot/BOOT-INF/classes", "."],
    );
}

/// The JRE root filesystem plus `/bin/sh` (the host's dash and the libraries `ldd` names)
/// and `/usr/bin/java` on PATH: a base for shell-form commands, made once.
fn sh_rootfs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("acme-sh-jre-rootfs");
        if !dir.join("bin/sh").is_file() {
            let part = dir.with_extension(format!("part-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&part);
            Cmd::new("cp").arg("-a").arg(jre_rootfs()).arg(&part).run().unwrap();
            let dash = std::fs::canonicalize("/bin/sh").unwrap();
            std::fs::create_dir_all(part.join("bin")).unwrap();
            std::fs::copy(&dash, part.join("bin/sh")).unwrap();
            let ldd = Cmd::new("ldd").arg(&dash).read().unwrap();
            for lib in ldd.split_whitespace().filter(|w| w.starts_with('/')) {
                let to = part.join(lib.trim_start_matches('/'));
                if !to.exists() {
                    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                    std::fs::copy(lib, &to).unwrap();
                }
            }
            std::fs::create_dir_all(part.join("usr/bin")).unwrap();
            std::os::unix::fs::symlink("/opt/java/bin/java", part.join("usr/bin/java")).unwrap();
            if std::fs::rename(&part, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&part);
            }
        }
        dir
    })
}

/// A name for Engine objects no other test (or test process) uses.
fn unique(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("hoist-it-df-{:x}-{}-{what}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// `rootfs` as a base on both sides: imported into the project's layout and into the
/// Engine, under the same name.
fn import_base(root: &Path, rootfs: &Path, cleanup: &mut DockerCleanup) -> String {
    let name = format!("{}:17", unique("base"));
    hoist_env(root, &["image", "import", &rootfs.display().to_string(), "--ref", &name], &[EPOCH]).ok();
    let tar = root.join("base.tar");
    Cmd::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .run()
        .unwrap();
    cleanup.0.push(format!("image {name}"));
    Cmd::new("docker").arg("import").arg(&tar).arg(&name).run().expect("docker import");
    std::fs::remove_file(tar).unwrap();
    name
}

/// The acme module `orders-backend-server` as a build context, its jar built, its
/// Dockerfile's FROM pointed at `base` (the only change: the tests have no amazoncorretto).
fn acme_context(dir: &Path, base: &str) -> PathBuf {
    let ctx = dir.join("orders-backend-server");
    let fixture = hoist_testkit::example_acme().join("orders-backend-server");
    Cmd::new("cp").arg("-r").arg(fixture).arg(&ctx).run().unwrap();
    fat_jar(&ctx.join(JAR), "v1");
    let df = ctx.join("Dockerfile");
    let text = std::fs::read_to_string(&df).unwrap();
    assert!(text.contains("COPY /build/libs/orders-backend-server.jar /app/app.jar"), "{text}");
    assert!(text.contains("\nENTRYPOINT java -jar app.jar"), "{text}");
    std::fs::write(&df, text.replace("FROM amazoncorretto:17-alpine3.16-jdk", &format!("FROM {base}"))).unwrap();
    ctx
}

/// A temp dir holding the acme context on a base made of `rootfs`, and what to remove
/// from the Engine afterwards.
fn acme(rootfs: &Path) -> (tempfile::TempDir, DockerCleanup, String, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let mut cleanup = DockerCleanup(Vec::new());
    let base = import_base(tmp.path(), rootfs, &mut cleanup);
    let ctx = acme_context(tmp.path(), &base);
    (tmp, cleanup, base, ctx)
}

/// Build `dockerfile` in `ctx` with hoist and load it into the Engine as `name`.
fn hoist_build(
    root: &Path,
    dockerfile: &Path,
    name: &str,
    extra: &[&str],
    cleanup: &mut DockerCleanup,
) -> serde_json::Value {
    let df = dockerfile.display().to_string();
    let mut args = vec!["image", "build-file", &df, "--ref", name, "--output", "json"];
    args.extend_from_slice(extra);
    let built = hoist_env(root, &args, &[EPOCH]).ok();
    let archive = root.join("hoist-image.tar");
    hoist_env(root, &["image", "export", name, "-o", &archive.display().to_string()], &[EPOCH]).ok();
    cleanup.0.push(format!("image {name}"));
    Cmd::new("docker").arg("load").arg("-i").arg(&archive).run().expect("docker load");
    std::fs::remove_file(archive).unwrap();
    let mut json = built.json();
    json["stderr"] = built.stderr.into();
    json
}

fn docker_build(ctx: &Path, dockerfile: &Path, name: &str, cleanup: &mut DockerCleanup) {
    cleanup.0.push(format!("image {name}"));
    Cmd::new("docker")
        .arg("build")
        .arg("-q")
        .arg("-f")
        .arg(dockerfile)
        .arg("-t")
        .arg(name)
        .arg(ctx)
        .run()
        .expect("docker build");
}

/// The runtime config Docker shows, for the keys a Dockerfile sets.
fn config(image: &str) -> BTreeMap<&'static str, serde_json::Value> {
    let out = Cmd::new("docker").args(["image", "inspect", image]).read().unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let c = &v[0]["Config"];
    ["Entrypoint", "Cmd", "WorkingDir", "Env", "ExposedPorts", "Shell", "User"]
        .into_iter()
        .map(|k| (k, c[k].clone()))
        .collect()
}

/// Every path of a container of `image` (type, mode, owner, size, name; no times).
fn listing(image: &str, cleanup: &mut DockerCleanup) -> Vec<String> {
    let id = Cmd::new("docker").args(["create", image]).read().unwrap().trim().to_string();
    cleanup.0.push(format!("container {id}"));
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("fs.tar");
    Cmd::new("docker").args(["export", "-o"]).arg(&tar).arg(&id).run().unwrap();
    let list = Cmd::new("tar").args(["--numeric-owner", "-tvf"]).arg(&tar).read().unwrap();
    list.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // mode owner size date time name...
            format!("{} {} {} {}", f[0], f[1], f[2], f[5..].join(" "))
        })
        .collect()
}

fn run_image(image: &str) -> String {
    let out = Cmd::new("docker").args(["run", "--rm", image]).output().unwrap();
    assert!(out.status.success(), "docker run {image}: {}", out.stderr);
    out.stdout.trim().to_string()
}

#[test]
fn each_dockerfile_form_builds_as_docker_builds_it() {
    let (tmp, mut cleanup, base, ctx) = acme(sh_rootfs());
    let root = tmp.path();
    // The fixture's own Dockerfile, then the other forms over the same context.
    let forms = [
        ("gradle", None, "orders v1 acme-dto jar in /app []"),
        (
            "shell-cmd",
            Some(format!(
                "FROM {base}\nENV GREETING=hello\nCOPY /build/libs/orders-backend-server.jar /srv/\nWORKDIR /app\nSHELL [\"/bin/sh\", \"-eu\", \"-c\"]\nCMD java -jar /srv/orders-backend-server.jar \"$GREETING\" two\n"
            )),
            "orders v1 acme-dto jar in /app [hello, two]",
        ),
        (
            "exec",
            Some(format!(
                "FROM {base}\nCOPY build/libs/*.jar /app/app.jar\nENTRYPOINT [\"/opt/java/bin/java\", \"-jar\", \"/app/app.jar\"]\nCMD [\"--port\", \"8081\"]\n"
            )),
            "orders v1 acme-dto jar in / [--port, 8081]",
        ),
    ];
    for (form, text, says) in forms {
        let dockerfile = match text {
            None => ctx.join("Dockerfile"),
            Some(t) => {
                let p = ctx.join(format!("Dockerfile.{form}"));
                std::fs::write(&p, t).unwrap();
                p
            }
        };
        let ours = format!("{}:hoist", unique(form));
        let theirs = format!("{}:docker", unique(form));
        hoist_build(root, &dockerfile, &ours, &[], &mut cleanup);
        docker_build(&ctx, &dockerfile, &theirs, &mut cleanup);
        let cfg = config(&ours);
        assert_eq!(cfg, config(&theirs), "{form}: the config");
        if form == "gradle" {
            // Docker's exact shell form.
            assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/sh", "-c", "java -jar app.jar"]));
        }
        assert_eq!(listing(&ours, &mut cleanup), listing(&theirs, &mut cleanup), "{form}: the file system");
        assert_eq!(run_image(&ours), says, "{form}: hoist's image");
        assert_eq!(run_image(&theirs), says, "{form}: docker's image");
    }
}

#[test]
fn a_shell_form_entrypoint_on_a_base_without_a_shell_is_refused_at_its_line() {
    let (tmp, mut cleanup, base, ctx) = acme(jre_rootfs());
    let root = tmp.path();
    let dockerfile = ctx.join("Dockerfile");
    let df = dockerfile.display().to_string();
    let run = hoist_env(root, &["image", "build-file", &df, "--ref", "orders:1"], &[EPOCH]).fails(1);
    let named = TestContext::at(root).with_filter(&base, "[BASE]");
    hoist_snapshot!(named, "build_file_shell_form_without_a_shell", run);
    assert!(!hoist_env(root, &["image", "ls"], &[]).ok().stdout.contains("orders:1"));

    // What the error saves the user from: Docker builds it, and the container cannot start.
    let theirs = format!("{}:docker", unique("noshell"));
    docker_build(&ctx, &dockerfile, &theirs, &mut cleanup);
    let container = unique("noshell-run");
    cleanup.0.push(format!("container {container}"));
    let out = Cmd::new("docker").args(["run", "--name", &container, &theirs]).output().unwrap();
    assert!(!out.status.success(), "{}", out.stdout);
    assert!(out.stderr.contains("/bin/sh"), "{}", out.stderr);

    // The exec form the hint names builds on the same base.
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    std::fs::write(
        &dockerfile,
        text.replace("ENTRYPOINT java -jar app.jar", "ENTRYPOINT [\"/opt/java/bin/java\",\"-jar\",\"app.jar\"]"),
    )
    .unwrap();
    hoist_env(root, &["image", "build-file", &df, "--ref", "orders:2"], &[EPOCH]).ok();
}

#[test]
fn a_fat_jar_copied_by_a_dockerfile_gets_spring_boot_layers_and_starts() {
    let (tmp, mut cleanup, base, ctx) = acme(sh_rootfs());
    let root = tmp.path();
    let dockerfile = ctx.join("Dockerfile");
    let ours = format!("{}:hoist", unique("fat"));
    let built = hoist_build(root, &dockerfile, &ours, &["--layering", "auto"], &mut cleanup);
    let layers: Vec<&str> =
        built["layers"].as_array().unwrap().iter().map(|l| l["description"].as_str().unwrap()).collect();
    let copy = "COPY /build/libs/orders-backend-server.jar /app/app.jar";
    assert_eq!(
        layers,
        [format!("{copy} (dependencies)"), format!("{copy} (spring-boot-loader)"), format!("{copy} (application)")],
        "{built}"
    );
    let stderr = built["stderr"].as_str().unwrap();
    assert!(
        stderr.contains("the Spring Boot jar /app/app.jar is exploded into /app as 3 layers (dependencies, spring-boot-loader, application); the ENTRYPOINT runs `-cp /app org.springframework.boot.loader.launch.JarLauncher`"),
        "{stderr}"
    );
    let cfg = config(&ours);
    assert_eq!(
        cfg["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c", "java -cp /app org.springframework.boot.loader.launch.JarLauncher"])
    );
    // It starts, exploded (the launcher found its classes in a directory, not a jar).
    assert_eq!(run_image(&ours), "orders v1 acme-dto exploded in /app []");

    // A change to application code makes one new layer: the application's.
    fat_jar(&ctx.join(JAR), "v2");
    let again = format!("{}:hoist", unique("fat"));
    let rebuilt = hoist_build(root, &dockerfile, &again, &["--layering", "auto"], &mut cleanup);
    let new: Vec<&str> = rebuilt["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["new"] == true)
        .map(|l| l["description"].as_str().unwrap())
        .collect();
    assert_eq!(new, [format!("{copy} (application)")], "{rebuilt}");
    assert_eq!(run_image(&again), "orders v2 acme-dto exploded in /app []");

    // A jar the command does not run with `java -jar` stays whole, and the user is told.
    std::fs::write(
        ctx.join("Dockerfile.agent"),
        format!("FROM {base}\nCOPY {JAR} /app/agent.jar\nENTRYPOINT [\"java\", \"-javaagent:/app/agent.jar\", \"-version\"]\n"),
    )
    .unwrap();
    let whole = hoist_env(
        root,
        &[
            "image",
            "build-file",
            &ctx.join("Dockerfile.agent").display().to_string(),
            "--ref",
            "agent:1",
            "--layering",
            "auto",
            "--output",
            "json",
        ],
        &[EPOCH],
    )
    .ok();
    assert_eq!(whole.json()["layers"].as_array().unwrap().len(), 1, "{}", whole.stdout);
    assert!(whole.stderr.contains("the Spring Boot jar /app/agent.jar is kept whole: its ENTRYPOINT does not run it with `java -jar /app/agent.jar`"), "{}", whole.stderr);
}

#[test]
fn a_service_built_from_its_dockerfile_follows_its_layering() {
    let (tmp, mut cleanup, _base, _ctx) = acme(sh_rootfs());
    let root = tmp.path();
    Cmd::new("git").args(["init", "-q"]).current_dir(root).run().unwrap();
    let toml = |layering: &str| {
        format!(
            "[project]\nname = \"acme\"\n\n[services.order-server]\ndir = \"orders-backend-server\"\n\n[services.order-server.image]\ndockerfile = \"orders-backend-server/Dockerfile\"\nlayering = \"{layering}\"\n"
        )
    };
    let tag = "v5.0.2-abc1234";
    std::fs::write(root.join("hoist.toml"), toml("auto")).unwrap();
    let run = hoist_env(root, &["image", "--tag", tag, "--output", "json"], &[EPOCH]).ok();
    let image = &run.json()["images"][0];
    assert_eq!(image["kind"], "dockerfile", "{}", run.stdout);
    let layers = image["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "{}", run.stdout);
    assert!(layers[2]["description"].as_str().unwrap().ends_with("(application)"), "{}", run.stdout);
    assert!(
        run.stderr.contains("note: ") && run.stderr.contains("is exploded into /app as 3 layers"),
        "{}",
        run.stderr
    );
    let repo = unique("svc");
    let layout_ref = format!("order-server_{tag}");
    hoist_env(root, &["image", "export", &layout_ref, "--repo", &repo, "-o", "svc.tar"], &[]).ok();
    let loaded = format!("{repo}:{layout_ref}");
    cleanup.0.push(format!("image {loaded}"));
    Cmd::new("docker").arg("load").arg("-i").arg(root.join("svc.tar")).run().expect("docker load");
    assert_eq!(run_image(&loaded), "orders v1 acme-dto exploded in /app []");

    // `whole` keeps the jar as the Dockerfile copies it: one layer, run as a jar.
    std::fs::write(root.join("hoist.toml"), toml("whole")).unwrap();
    let run = hoist_env(root, &["image", "--tag", tag, "--output", "json", "--dry-run"], &[EPOCH]).ok();
    let layers = run.json()[0]["layers"].as_array().unwrap().len();
    assert_eq!(layers, 1, "{}", run.stdout);
    assert!(!run.stderr.contains("exploded"), "{}", run.stderr);
}

#[test]
fn a_thin_jar_and_its_lib_copied_together_split_and_build_as_docker_builds_them() {
    let (tmp, mut cleanup, base, ctx) = acme(sh_rootfs());
    let root = tmp.path();
    thin_jar(&ctx.join("build/libs/thin"));
    let dockerfile = ctx.join("Dockerfile.thin");
    let text =
        format!("FROM {base}\nCOPY /build/libs/thin/ /app/\nENTRYPOINT [\"java\", \"-jar\", \"/app/orders.jar\"]\n");
    std::fs::write(&dockerfile, text).unwrap();
    let ours = format!("{}:hoist", unique("thin"));
    let theirs = format!("{}:docker", unique("thin"));
    let built = hoist_build(root, &dockerfile, &ours, &["--layering", "auto"], &mut cleanup);
    let layers: Vec<&str> =
        built["layers"].as_array().unwrap().iter().map(|l| l["description"].as_str().unwrap()).collect();
    assert_eq!(layers, ["COPY /build/libs/thin/ /app/ (dependencies)", "COPY /build/libs/thin/ /app/ (application)"]);
    docker_build(&ctx, &dockerfile, &theirs, &mut cleanup);
    // The same files at the same paths, only in two layers.
    assert_eq!(config(&ours), config(&theirs));
    assert_eq!(listing(&ours, &mut cleanup), listing(&theirs, &mut cleanup));
    assert_eq!(run_image(&ours), "orders thin acme-dto null in / []");
    assert_eq!(run_image(&theirs), "orders thin acme-dto null in / []");
}
