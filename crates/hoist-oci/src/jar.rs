//! How an artifact becomes layers, so a release that changes only application code makes
//! one small new layer (as Jib does).
//!
//! * Spring Boot fat jar (`BOOT-INF/`): exploded into `/app`, split by `BOOT-INF/layers.idx`
//!   when present, else into dependencies, spring-boot-loader, snapshot-dependencies and
//!   application; run as `java -cp /app <Main-Class>` (Spring Boot's JarLauncher).
//! * Thin jar whose `Class-Path` names jars beside it (`lib/*.jar`, as Gradle's
//!   `installDist` or Maven's `dependency:copy-dependencies` make): dependencies, snapshot
//!   dependencies, and the application jar. Class-Path entries resolve against the jar's
//!   directory, so with the default `/app.jar` (the one `hoist dockerfile` uses too) the
//!   jars land in `/lib/`; `artifact_path = "/app/app.jar"` keeps them in `/app/lib/`.
//! * Any other jar, or `whole`: one layer at `artifact_path` (default `/app.jar`).
//!   A non-jar file: `/app/<name>`.
//!
//! The artifact and every jar named by `Class-Path` must resolve, through symlinks, inside
//! the project ([`crate::layer::resolve_inside`]): a `lib/dep.jar` linked to `/etc/shadow`
//! is refused, not copied. A jar that is exploded is held to [`ArchiveLimits`] (its central
//! directory is checked before any entry is read), may not hold a file `x` and `x/y`
//! (no image can have both), and its `MANIFEST.MF` and `layers.idx` are read up to 1 MiB.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use crate::archive::{ArchiveLimits, admit_zip, read_text_bounded};
use crate::error::OciError;
use crate::layer::{Entry, LayerSpec, Source, image_path, resolve_inside};

/// `META-INF/MANIFEST.MF` and `BOOT-INF/layers.idx` are read up to this size.
const MAX_INDEX: u64 = 1 << 20;

/// The layers and the default command of an artifact.
#[derive(Debug, Clone)]
pub struct ArtifactLayers {
    /// `spring-boot`, `thin-jar`, `jar` or `file`.
    pub kind: &'static str,
    pub layers: Vec<LayerSpec>,
    pub entrypoint: Vec<String>,
    pub workdir: String,
}

fn jar_err(path: &Path, e: impl std::fmt::Display) -> OciError {
    OciError::Invalid { path: path.to_path_buf(), what: "jar", message: e.to_string() }
}

/// Split an artifact into layers under `/app`. `split = false` keeps a jar whole.
/// `target` overrides where a whole jar or file goes. Files must resolve inside the
/// artifact's directory.
pub fn artifact_layers(artifact: &Path, split: bool, target: Option<&str>) -> Result<ArtifactLayers, OciError> {
    let root = artifact.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    artifact_layers_verified(root, artifact, None, split, target)
}

/// As [`artifact_layers`], with the artifact's recorded sha256 checked as it is read, and
/// the artifact and its Class-Path jars resolving inside `root` (the project).
pub fn artifact_layers_verified(
    root: &Path,
    artifact: &Path,
    sha256: Option<&str>,
    split: bool,
    target: Option<&str>,
) -> Result<ArtifactLayers, OciError> {
    let shown = artifact;
    // From here on the artifact is read at its resolved path, checked to be in the project.
    let real = resolve_inside(artifact, root)?;
    let artifact = real.as_path();
    let add_artifact = |layer: &mut LayerSpec, dest: &str, mode: Option<u32>| match sha256 {
        Some(h) => layer.add_verified_file(dest, artifact, h, mode.unwrap_or(0o644)),
        None => layer.add_file(dest, artifact, mode),
    };
    let meta = std::fs::metadata(artifact).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => OciError::Missing { path: artifact.to_path_buf() },
        _ => OciError::Io { path: artifact.to_path_buf(), source: e },
    })?;
    if !meta.is_file() {
        return Err(OciError::Invalid {
            path: shown.to_path_buf(),
            what: "artifact",
            message: "it is not a file".into(),
        });
    }
    let name = shown.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "app".into());
    let is_jar = name.ends_with(".jar") || name.ends_with(".war");
    if !is_jar {
        let dest = target.map(String::from).unwrap_or_else(|| format!("/app/{name}"));
        let mut layer = LayerSpec::new(format!("artifact {name}"));
        layer.add_file(&dest, artifact, None)?;
        return Ok(ArtifactLayers {
            kind: "file",
            layers: vec![layer],
            entrypoint: vec![dest],
            workdir: "/app".into(),
        });
    }
    let file = File::open(artifact).map_err(OciError::io(artifact))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| jar_err(artifact, e))?;
    let manifest = read_manifest(&mut zip, artifact)?;
    let jar_target = target.unwrap_or("/app.jar").to_string();
    let whole = |kind| -> Result<ArtifactLayers, OciError> {
        let mut layer = LayerSpec::new(format!("application {name}"));
        add_artifact(&mut layer, &jar_target, Some(0o644))?;
        Ok(ArtifactLayers {
            kind,
            layers: vec![layer],
            entrypoint: vec!["java".into(), "-jar".into(), jar_target.clone()],
            workdir: "/app".into(),
        })
    };
    if !split {
        return whole("jar");
    }
    if is_spring_boot(&zip) {
        return spring_boot(artifact, &mut zip, &manifest, "/app");
    }
    let class_path = attr(&manifest, "Class-Path").unwrap_or_default();
    // Class-Path entries resolve against the jar's own directory in the image.
    // With the default `/app.jar` that is `/lib/*.jar`, as the generated Dockerfile does.
    let jar_dir = jar_target.rsplit_once('/').map(|(d, _)| d).unwrap_or("").to_string();
    // Beside the artifact as the build left it (not beside what a link points to).
    let dir = shown.parent().unwrap_or(Path::new("."));
    let mut deps = LayerSpec::new("dependencies");
    let mut snapshots = LayerSpec::new("snapshot-dependencies");
    for entry in class_path.split_whitespace() {
        let rel = image_path(entry)
            .map_err(|_| jar_err(artifact, format!("Class-Path entry `{entry}` leaves the jar's directory")))?;
        if entry.starts_with('/') || entry.contains(':') {
            return Err(jar_err(artifact, format!("Class-Path entry `{entry}` is not a relative path")));
        }
        let source = dir.join(&rel);
        if !source.is_file() {
            continue; // an optional entry that isn't there is skipped by the JVM too
        }
        let source = resolve_inside(&source, root)?;
        let layer = if entry.contains("SNAPSHOT") { &mut snapshots } else { &mut deps };
        layer.add_file(&format!("{jar_dir}/{rel}"), &source, Some(0o644))?;
    }
    if deps.is_empty() && snapshots.is_empty() {
        return whole("jar");
    }
    let mut app = LayerSpec::new(format!("application {name}"));
    add_artifact(&mut app, &jar_target, Some(0o644))?;
    Ok(ArtifactLayers {
        kind: "thin-jar",
        layers: [deps, snapshots, app].into_iter().filter(|l| !l.is_empty()).collect(),
        entrypoint: vec!["java".into(), "-jar".into(), jar_target.clone()],
        workdir: "/app".into(),
    })
}

/// A Spring Boot fat jar that a Dockerfile copies, exploded under `dir` (the directory it
/// was copied into) as an artifact is under `/app`; `None` when it is not one.
pub fn exploded_spring_boot(jar: &Path, dir: &str) -> Result<Option<ArtifactLayers>, OciError> {
    let file = File::open(jar).map_err(OciError::io(jar))?;
    let Ok(mut zip) = zip::ZipArchive::new(BufReader::new(file)) else { return Ok(None) };
    if !is_spring_boot(&zip) {
        return Ok(None);
    }
    let manifest = read_manifest(&mut zip, jar)?;
    spring_boot(jar, &mut zip, &manifest, dir).map(Some)
}

/// A command that runs a jar (`[java, flags…, -jar, X, args…]`, `runs(X)` true) made to run
/// it exploded: `-jar X` becomes `launcher` (`-cp DIR <Main-Class>`), the rest is kept.
pub fn replace_dash_jar(argv: &[String], runs: impl Fn(&str) -> bool, launcher: &[String]) -> Option<Vec<String>> {
    let i = argv.windows(2).position(|w| w[0] == "-jar" && runs(&w[1]))?;
    let mut out = argv[..i].to_vec();
    out.extend(launcher.iter().cloned());
    out.extend(argv[i + 2..].iter().cloned());
    Some(out)
}

/// The `Class-Path` entries of a jar's manifest (none when it is not a jar or has none).
pub fn class_path(jar: &Path) -> Result<Vec<String>, OciError> {
    let file = File::open(jar).map_err(OciError::io(jar))?;
    let Ok(mut zip) = zip::ZipArchive::new(BufReader::new(file)) else { return Ok(Vec::new()) };
    let manifest = read_manifest(&mut zip, jar)?;
    Ok(attr(&manifest, "Class-Path").unwrap_or_default().split_whitespace().map(String::from).collect())
}

fn is_spring_boot(zip: &zip::ZipArchive<BufReader<File>>) -> bool {
    zip.index_for_name("BOOT-INF/classes/").is_some()
        || (0..zip.len()).any(|i| name_at(zip, i).is_some_and(|n| n.starts_with("BOOT-INF/")))
}

fn name_at(zip: &zip::ZipArchive<BufReader<File>>, i: usize) -> Option<String> {
    zip.name_for_index(i).and_then(Result::ok).map(|n| n.into_owned())
}

fn read_manifest(zip: &mut zip::ZipArchive<BufReader<File>>, path: &Path) -> Result<String, OciError> {
    let Ok(f) = zip.by_name("META-INF/MANIFEST.MF") else {
        return Ok(String::new());
    };
    let text = read_text_bounded(f, MAX_INDEX, path, "META-INF/MANIFEST.MF")?;
    // Manifest lines continue on the next line when it starts with one space.
    Ok(text.replace("\r\n", "\n").replace("\n ", ""))
}

fn attr(manifest: &str, key: &str) -> Option<String> {
    manifest.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(|v| v.trim().to_string()))
}

/// `BOOT-INF/layers.idx`: `- "name":` lines followed by `  - "prefix"` lines.
fn parse_layers_idx(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let unq =
            |s: &str| s.trim().trim_start_matches("- ").trim().trim_end_matches(':').trim_matches('"').to_string();
        if line.starts_with("- ") {
            out.push((unq(line), Vec::new()));
        } else if line.trim_start().starts_with("- ")
            && let Some(last) = out.last_mut()
        {
            last.1.push(unq(line));
        }
    }
    out
}

fn spring_boot(
    artifact: &Path,
    zip: &mut zip::ZipArchive<BufReader<File>>,
    manifest: &str,
    dir: &str,
) -> Result<ArtifactLayers, OciError> {
    let dir = dir.trim_end_matches('/');
    let main = attr(manifest, "Main-Class")
        .ok_or_else(|| jar_err(artifact, "a Spring Boot jar without Main-Class in META-INF/MANIFEST.MF"))?;
    admit_zip(zip, artifact, &ArchiveLimits::default())?;
    let idx = match zip.by_name("BOOT-INF/layers.idx") {
        Ok(f) => {
            let t = read_text_bounded(f, MAX_INDEX, artifact, "BOOT-INF/layers.idx")?;
            let layers = parse_layers_idx(&t);
            if layers.is_empty() {
                return Err(OciError::Invalid {
                    path: artifact.to_path_buf(),
                    what: "jar",
                    message: "BOOT-INF/layers.idx names no layer (`- \"name\":` lines)".into(),
                });
            }
            Some(layers)
        }
        Err(_) => None,
    };
    check_file_tree(zip, artifact)?;
    let layer_names: Vec<String> = match &idx {
        Some(l) => l.iter().map(|(n, _)| n.clone()).collect(),
        None => {
            ["dependencies", "spring-boot-loader", "snapshot-dependencies", "application"].map(String::from).to_vec()
        }
    };
    let mut layers: Vec<LayerSpec> = layer_names.iter().map(|n| LayerSpec::new(n.clone())).collect();
    for i in 0..zip.len() {
        let f = zip.by_index_raw(i).map_err(|e| jar_err(artifact, e))?;
        let name = f.name().map_err(|e| jar_err(artifact, e))?.into_owned();
        if f.is_dir() {
            continue;
        }
        let size = f.size();
        let rel = image_path(&name)
            .map_err(|_| OciError::TarEscapes { entry: name.clone(), archive: artifact.to_path_buf() })?;
        if name.starts_with('/') {
            return Err(OciError::TarEscapes { entry: name, archive: artifact.to_path_buf() });
        }
        let which = match &idx {
            Some(l) => l
                .iter()
                .position(|(_, prefixes)| {
                    prefixes
                        .iter()
                        .any(|p| name.starts_with(p.as_str()) || (p.ends_with('/') && name == p.trim_end_matches('/')))
                })
                .unwrap_or(l.len() - 1),
            None => {
                if name.starts_with("BOOT-INF/lib/") {
                    if name.contains("SNAPSHOT") { 2 } else { 0 }
                } else if name.starts_with("org/springframework/boot/loader/") {
                    1
                } else {
                    3
                }
            }
        };
        layers[which].insert(
            &format!("{dir}/{rel}"),
            Entry::File { source: Source::Zip { archive: artifact.to_path_buf(), index: i }, size, mode: 0o644 },
        )?;
    }
    Ok(ArtifactLayers {
        kind: "spring-boot",
        layers: layers.into_iter().filter(|l| !l.is_empty()).collect(),
        entrypoint: vec!["java".into(), "-cp".into(), dir.into(), main],
        workdir: dir.into(),
    })
}

/// A jar may hold `x` or `x/y`, not both: an image path is a file or a directory.
fn check_file_tree(zip: &zip::ZipArchive<BufReader<File>>, artifact: &Path) -> Result<(), OciError> {
    let mut files = BTreeSet::new();
    for i in 0..zip.len() {
        let Some(name) = name_at(zip, i) else { continue };
        if !name.ends_with('/')
            && let Ok(p) = image_path(&name)
        {
            files.insert(p);
        }
    }
    for f in &files {
        let mut p = f.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if files.contains(parent) {
                return Err(OciError::PathConflict {
                    origin: artifact.display().to_string(),
                    path: parent.to_string(),
                    first: "file",
                    child: f.clone(),
                });
            }
            p = parent;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn layers_idx() {
        let t = "- \"dependencies\":\n  - \"BOOT-INF/lib/\"\n- \"spring-boot-loader\":\n  - \"org/\"\n- \"application\":\n  - \"BOOT-INF/classes/\"\n  - \"META-INF/\"\n";
        let l = super::parse_layers_idx(t);
        assert_eq!(l.len(), 3);
        assert_eq!(l[0], ("dependencies".to_string(), vec!["BOOT-INF/lib/".to_string()]));
        assert_eq!(l[2].1, ["BOOT-INF/classes/", "META-INF/"]);
    }

    #[test]
    fn manifest_attrs() {
        let m = "Manifest-Version: 1.0\nClass-Path: lib/a.jar lib/b.jar\nMain-Class: x.Main\n";
        assert_eq!(super::attr(m, "Class-Path").as_deref(), Some("lib/a.jar lib/b.jar"));
        assert_eq!(super::attr(m, "Main-Class").as_deref(), Some("x.Main"));
    }

    #[test]
    fn replace_dash_jar_swaps_only_the_jar_it_is_told_of() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let launcher = v(&["-cp", "/app", "L"]);
        let cases: &[(&[&str], Option<&[&str]>)] = &[
            (&["java", "-jar", "/app/app.jar"], Some(&["java", "-cp", "/app", "L"])),
            (
                &["/opt/java/bin/java", "-Xss256k", "-jar", "/app/app.jar", "--x"],
                Some(&["/opt/java/bin/java", "-Xss256k", "-cp", "/app", "L", "--x"]),
            ),
            (&["java", "-jar", "/other.jar"], None),
            (&["java", "-javaagent:/app/app.jar", "-cp", "x", "M"], None),
            (&["java", "-jar"], None),
            (&["/bin/app"], None),
        ];
        for (argv, expected) in cases {
            let got = super::replace_dash_jar(&v(argv), |j| j == "/app/app.jar", &launcher);
            assert_eq!(got, expected.map(v), "{argv:?}");
        }
    }
}
