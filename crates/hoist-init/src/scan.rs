//! What `hoist init` finds in a repository: Gradle subprojects, Maven modules, Dockerfiles,
//! compose files and a Kubernetes directory. Best effort: it reads the files as text and
//! never runs the build tool.

use std::path::Path;

use hoist_version::naming::image_repository;
use regex::Regex;
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Detected {
    pub name: String,
    pub build_system: Option<String>,
    pub build_command: Option<Vec<String>>,
    pub services: Vec<ServiceGuess>,
    /// Modules and folders that are not released, each with the reason.
    pub skipped: Vec<Skipped>,
    /// The compose file(s) the deploy uses.
    pub compose_files: Vec<String>,
    /// Why those: `None` when hoist could not tell which one runs in production.
    pub compose_reason: Option<String>,
    /// Every compose file at the root.
    pub compose_found: Vec<String>,
    /// The compose project the stack runs under today (the old `docker-compose up -d` in
    /// the checkout): its directory name.
    pub compose_project: Option<String>,
    pub k8s_dir: Option<String>,
    /// Manifest files under `k8s_dir`, recursively.
    pub k8s_files: Vec<String>,
    /// Images in the manifests that look like the project's but name no service.
    pub k8s_unmatched: Vec<String>,
    /// The release tag formats of the history (filled by the caller, which reads git).
    pub tags: Option<crate::TagHistory>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceGuess {
    pub name: String,
    pub dir: String,
    pub artifact: Option<String>,
    pub dockerfile: Option<String>,
    /// Directories of the Gradle modules its build file uses (`project(':dto')`): its
    /// inputs besides its own directory.
    pub uses: Vec<String>,
    /// The image name its compose and Kubernetes files use (without tag or digest).
    pub placeholder: Option<String>,
    /// The `FROM` of its Dockerfile.
    pub base: Option<String>,
    /// The host port its compose service publishes first.
    pub port: Option<u16>,
    /// Whether the production compose file runs it.
    pub in_compose: bool,
    /// Whether its compose service has a healthcheck.
    pub healthcheck: bool,
    /// A Spring Boot module (it has an actuator health URL to suggest).
    pub spring_boot: bool,
    /// Manifests whose image names it.
    pub k8s: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: String,
    pub why: String,
}

/// A Gradle module as its build file describes it.
struct Module {
    path: String,
    uses: Vec<String>,
    /// `bootJar { archiveFileName = "…" }`
    boot_jar: Option<String>,
    spring_boot: bool,
    library: bool,
}

/// A compose service that builds from the repository.
struct Built {
    name: String,
    context: String,
    dockerfile: String,
    image: Option<String>,
    port: Option<u16>,
    healthcheck: bool,
}

/// Look at `root` and guess a configuration.
pub fn scan(root: &Path) -> Detected {
    let dir_name = std::fs::canonicalize(root)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".into());
    let mut d = Detected { name: service_name(&dir_name), ..Detected::default() };

    let mut modules = Vec::new();
    let gradle = ["settings.gradle.kts", "settings.gradle"].iter().map(|f| root.join(f)).find(|p| p.is_file());
    if let Some(settings) = gradle {
        let text = std::fs::read_to_string(&settings).unwrap_or_default();
        let (name, subprojects) = gradle_settings(&text);
        if let Some(n) = name {
            d.name = service_name(&n);
        }
        let wrapper = if root.join("gradlew").is_file() { "./gradlew" } else { "gradle" };
        d.build_system = Some(format!("Gradle ({})", settings.file_name().unwrap().to_string_lossy()));
        d.build_command = Some(
            [wrapper, "build", "--build-cache", "--parallel", "-Pversion={tag}"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
        modules = subprojects.into_iter().map(|path| gradle_module(root, path)).collect();
    } else if root.join("pom.xml").is_file() {
        let text = std::fs::read_to_string(root.join("pom.xml")).unwrap_or_default();
        let wrapper = if root.join("mvnw").is_file() { "./mvnw" } else { "mvn" };
        d.build_system = Some("Maven (pom.xml)".into());
        d.build_command = Some([wrapper, "-B", "package", "-Drevision={tag}"].iter().map(|s| s.to_string()).collect());
        for module in maven_modules(&text) {
            d.services.push(ServiceGuess {
                name: service_name(module.rsplit('/').next().unwrap_or(&module)),
                artifact: Some(format!("{module}/target/*-{{tag}}.jar")),
                dir: module,
                ..ServiceGuess::default()
            });
        }
    }

    d.compose_found = compose_files_in(root);
    let (prod, reason) = production_compose(root, &d.compose_found);
    d.compose_reason = reason;
    d.compose_files = prod.iter().cloned().collect();
    if !d.compose_files.is_empty() {
        d.compose_project = Some(compose_project_name(&dir_name));
    }
    d.k8s_dir =
        ["k8s", "kubernetes", "deploy/k8s", "manifests"].iter().find(|p| root.join(p).is_dir()).map(|p| p.to_string());
    let k8s_images = match &d.k8s_dir {
        Some(dir) => {
            d.k8s_files = manifest_files(root, dir);
            d.k8s_files.iter().flat_map(|f| manifest_images(root, f).into_iter().map(move |i| (f.clone(), i))).collect()
        }
        None => Vec::new(),
    };

    let built = prod.as_deref().map(|f| compose_built(&root.join(f))).unwrap_or_default();
    for m in modules.iter().filter(|m| m.library) {
        d.skipped.push(Skipped {
            path: m.path.clone(),
            why: "a library module (java-library without Spring Boot): the services that use it list it in their paths"
                .into(),
        });
    }
    if built.is_empty() {
        // No compose service builds from here: every application module is a service.
        for m in modules.iter().filter(|m| !m.library) {
            d.services.push(module_service(service_name(m.path.rsplit('/').next().unwrap_or(&m.path)), m));
        }
        // Dockerfiles: attach to a known service directory, or make a service of their own.
        for df in dockerfiles(root) {
            let dir = Path::new(&df).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            if let Some(s) = d.services.iter_mut().find(|s| s.dir == dir) {
                s.base = dockerfile_base(&root.join(&df));
                s.dockerfile = Some(df);
            } else if !dir.is_empty() && !d.skipped.iter().any(|s| s.path == dir) {
                d.services.push(ServiceGuess {
                    name: service_name(dir.rsplit('/').next().unwrap_or(&dir)),
                    dir,
                    base: dockerfile_base(&root.join(&df)),
                    dockerfile: Some(df),
                    ..ServiceGuess::default()
                });
            }
        }
        d.services.sort_by(|a, b| a.name.cmp(&b.name));
        d.services.dedup_by(|a, b| a.name == b.name);
    } else {
        // The production compose file names the deployed services, under their deploy names.
        let prod = prod.as_deref().unwrap_or_default();
        for b in &built {
            let mut svc = match modules.iter().find(|m| m.path == b.context) {
                Some(m) => module_service(service_name(&b.name), m),
                None => ServiceGuess { name: service_name(&b.name), dir: b.context.clone(), ..ServiceGuess::default() },
            };
            let df =
                if b.context.is_empty() { b.dockerfile.clone() } else { format!("{}/{}", b.context, b.dockerfile) };
            if root.join(&df).is_file() {
                svc.base = dockerfile_base(&root.join(&df));
                svc.dockerfile = Some(df);
            }
            svc.placeholder = b.image.as_deref().map(image_repository).filter(|p| *p != svc.name).map(str::to_string);
            svc.port = b.port;
            svc.healthcheck = b.healthcheck;
            svc.in_compose = true;
            d.services.push(svc);
        }
        for m in modules.iter().filter(|m| !m.library && !d.services.iter().any(|s| s.dir == m.path)) {
            d.skipped.push(Skipped {
                path: m.path.clone(),
                why: format!("built by Gradle, but no service of {prod} builds from it (never deployed)"),
            });
        }
        for (folder, what) in foreign_folders(root, &modules, &d) {
            d.skipped.push(Skipped {
                path: format!("{folder}/"),
                why: format!("{what}, but not in the Gradle build nor in {prod} (not part of the release)"),
            });
        }
    }

    // Kubernetes: which manifest names which service, and which project-looking image no service.
    let prefixes = [format!("{}_", d.name), format!("{}-", d.name), format!("{}/", d.name)];
    for (file, image) in &k8s_images {
        let name = image_repository(image);
        let named = |s: &ServiceGuess| match &s.placeholder {
            Some(p) => p == name,
            // Without a compose file to say, `<project>_<service>` names it too.
            None => s.name == name || prefixes.iter().any(|p| name.strip_prefix(p.as_str()) == Some(s.name.as_str())),
        };
        match d.services.iter_mut().find(|s| named(s)) {
            Some(s) => {
                if s.name != name {
                    s.placeholder = Some(name.to_string());
                }
                if !s.k8s.contains(file) {
                    s.k8s.push(file.clone());
                }
            }
            None if prefixes.iter().any(|p| name.starts_with(p.as_str())) && !d.k8s_unmatched.contains(image) => {
                d.k8s_unmatched.push(image.clone())
            }
            None => {}
        }
    }
    d
}

fn module_service(name: String, m: &Module) -> ServiceGuess {
    let artifact = match &m.boot_jar {
        Some(jar) => format!("{}/build/libs/{jar}", m.path),
        None => format!("{}/build/libs/*-{{tag}}.jar", m.path),
    };
    ServiceGuess {
        name,
        dir: m.path.clone(),
        artifact: Some(artifact),
        uses: m.uses.iter().filter(|u| **u != m.path).cloned().collect(),
        spring_boot: m.spring_boot,
        ..ServiceGuess::default()
    }
}

fn gradle_module(root: &Path, path: String) -> Module {
    let build = ["build.gradle.kts", "build.gradle"].iter().map(|f| root.join(&path).join(f)).find(|p| p.is_file());
    let text = build.and_then(|b| std::fs::read_to_string(b).ok()).unwrap_or_default();
    let spring_boot = text.contains("org.springframework.boot") || text.contains("bootJar");
    let library = !spring_boot && text.contains("java-library");
    Module { uses: gradle_project_deps(&text), path, boot_jar: boot_jar_name(&text), spring_boot, library }
}

/// `bootJar { archiveFileName = "x.jar" }` (Groovy or `.set("x.jar")` in Kotlin) → `x.jar`;
/// none when the name is computed (`"${…}"`).
fn boot_jar_name(text: &str) -> Option<String> {
    Regex::new(
        r#"(?s)bootJar\s*(?:\{|\(|\.configure\s*\{)[^}]*?archiveFileName(?:\.set\s*\()?\s*=?\s*["']([^"'$]+)["']"#,
    )
    .expect("valid")
    .captures(text)
    .map(|c| c[1].to_string())
}

/// The production compose file: the one whose name says `prod`, else the one a deploy
/// script runs (`docker-compose -f X`), else the only one; with the reason.
fn production_compose(root: &Path, found: &[String]) -> (Option<String>, Option<String>) {
    if let Some(f) = found.iter().find(|f| f.contains("prod")) {
        return (Some(f.clone()), Some("its name says prod".into()));
    }
    let re = Regex::new(r#"docker[- ]compose\b[^\n]*?\s(?:-f|--file)[ =]["']?([^\s"';&|]+)"#).expect("valid");
    for script in scripts(root) {
        let text = std::fs::read_to_string(root.join(&script)).unwrap_or_default();
        for c in re.captures_iter(&text) {
            let f = c[1].trim_start_matches("./");
            if found.iter().any(|x| x == f) {
                return (Some(f.to_string()), Some(format!("{script} runs it")));
            }
        }
    }
    match found {
        [only] => (Some(only.clone()), Some("the only one".into())),
        [] => (None, Some("none found".into())),
        [first, ..] => (Some(first.clone()), None),
    }
}

/// Shell scripts at the root and in `scripts/`, as root-relative paths.
fn scripts(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["", "scripts"] {
        for e in std::fs::read_dir(root.join(dir)).into_iter().flatten().filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".sh") && e.path().is_file() {
                out.push(if dir.is_empty() { name } else { format!("{dir}/{name}") });
            }
        }
    }
    out.sort();
    out
}

/// The name docker-compose v1 gives a stack started in `dir` without `-p`.
fn compose_project_name(dir: &str) -> String {
    let name: String = dir
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    let name = name.trim_start_matches(['-', '_']).to_string();
    if name.is_empty() { "app".into() } else { name }
}

/// The services of a compose file that have a `build:`, in the file's order.
fn compose_built(path: &Path) -> Vec<Built> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let Ok(doc) = serde_saphyr::from_str::<serde_json::Value>(&text) else { return Vec::new() };
    let Some(services) = doc.get("services").and_then(|s| s.as_object()) else { return Vec::new() };
    let mut out = Vec::new();
    for (name, svc) in services {
        let (context, dockerfile) = match svc.get("build") {
            Some(serde_json::Value::String(c)) => (c.clone(), "Dockerfile".to_string()),
            Some(b @ serde_json::Value::Object(_)) => (
                b.get("context").and_then(|c| c.as_str()).unwrap_or(".").to_string(),
                b.get("dockerfile").and_then(|c| c.as_str()).unwrap_or("Dockerfile").to_string(),
            ),
            _ => continue,
        };
        let context = context.trim_start_matches("./").trim_end_matches('/');
        let context = if context == "." { "" } else { context };
        let port = svc.get("ports").and_then(|p| p.as_array()).and_then(|ports| ports.iter().find_map(host_port));
        out.push(Built {
            name: name.clone(),
            context: context.to_string(),
            dockerfile,
            image: svc.get("image").and_then(|i| i.as_str()).map(str::to_string),
            port,
            healthcheck: svc.get("healthcheck").is_some_and(|h| !h.get("disable").is_some_and(|d| d == true)),
        });
    }
    out
}

/// The published host port of a compose `ports:` entry (`"8081:8081"`,
/// `"127.0.0.1:8081:8081/tcp"`, `{published: 8081}`); none for a bare container port.
fn host_port(entry: &serde_json::Value) -> Option<u16> {
    match entry {
        serde_json::Value::String(s) => {
            let parts: Vec<&str> = s.split('/').next()?.split(':').collect();
            (parts.len() >= 2).then(|| parts[parts.len() - 2].parse().ok()).flatten()
        }
        serde_json::Value::Number(_) => None,
        serde_json::Value::Object(o) => match o.get("published")? {
            serde_json::Value::String(s) => s.parse().ok(),
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            _ => None,
        },
        _ => None,
    }
}

/// The first `FROM` of a Dockerfile.
fn dockerfile_base(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        let first = words.next()?;
        if !first.eq_ignore_ascii_case("FROM") {
            return None;
        }
        words.find(|w| !w.starts_with("--")).map(str::to_string)
    })
}

/// Manifest files under `dir`, recursively, sorted.
fn manifest_files(root: &Path, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_string()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(root.join(&d)).into_iter().flatten().filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = format!("{d}/{name}");
            if name.starts_with('.') {
                continue;
            }
            if e.path().is_dir() {
                stack.push(rel);
            } else if [".yaml", ".yml", ".json"].iter().any(|x| name.ends_with(x)) {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

/// The `image:` values of a manifest, read as text (any kind of object, any nesting).
fn manifest_images(root: &Path, file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
    let re = Regex::new(r#"(?m)^[\s-]*"?image"?\s*:\s*["']?([^\s"',#]+)"#).expect("valid");
    re.captures_iter(&text).map(|c| c[1].to_string()).collect()
}

/// Top-level folders with a compose file or Dockerfiles of their own that neither the build
/// nor the deployed services use, with what they hold.
fn foreign_folders(root: &Path, modules: &[Module], d: &Detected) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(root).into_iter().flatten().filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    let all_dockerfiles = dockerfiles(root);
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let used = |p: &str| p == name || p.starts_with(&format!("{name}/"));
        if !e.path().is_dir()
            || name.starts_with('.')
            || modules.iter().any(|m| used(&m.path))
            || d.services.iter().any(|s| used(&s.dir))
            || d.k8s_dir.as_deref().is_some_and(used)
        {
            continue;
        }
        let compose = compose_files_in(&e.path());
        let dockerfiles = all_dockerfiles.iter().filter(|df| df.starts_with(&format!("{name}/"))).count();
        let what = match (compose.first(), dockerfiles) {
            (None, 0) => continue,
            (Some(c), 0) => format!("its own compose file ({name}/{c})"),
            (None, n) => format!("{n} Dockerfile(s) of its own"),
            (Some(c), n) => format!("its own compose file ({name}/{c}) and {n} Dockerfile(s)"),
        };
        out.push((name, what));
    }
    out
}

/// The compose files directly in `dir`, by name.
fn compose_files_in(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_compose_file(n))
        .collect();
    found.sort();
    found
}

fn is_compose_file(name: &str) -> bool {
    let yaml = name.ends_with(".yml") || name.ends_with(".yaml");
    yaml && (name.starts_with("docker-compose") || name.starts_with("compose"))
}

/// `rootProject.name` and the included subprojects as paths (`:a:b` → `a/b`).
fn gradle_settings(text: &str) -> (Option<String>, Vec<String>) {
    let name_re = Regex::new(r#"rootProject\.name\s*=\s*["']([^"']+)["']"#).expect("valid");
    let include_re = Regex::new(r#"(?m)^\s*include\s*\(?([^)\n]*)"#).expect("valid");
    let quoted = Regex::new(r#"["']([^"']+)["']"#).expect("valid");
    let name = name_re.captures(text).map(|c| c[1].to_string());
    let mut subprojects = Vec::new();
    for cap in include_re.captures_iter(text) {
        for q in quoted.captures_iter(&cap[1]) {
            let path = q[1].trim_start_matches(':').replace(':', "/");
            if !path.is_empty() && !subprojects.contains(&path) {
                subprojects.push(path);
            }
        }
    }
    (name, subprojects)
}

/// The modules a Gradle build file depends on, as directories: `project(':a:b')`,
/// `project(path: ':dto')`, `project(":dto")` → `a/b`, `dto`.
fn gradle_project_deps(text: &str) -> Vec<String> {
    let re = Regex::new(r#"project\s*\(\s*(?:path\s*[:=]\s*)?["']:([^"']+)["']"#).expect("valid");
    let mut out: Vec<String> = Vec::new();
    for c in re.captures_iter(text) {
        let dir = c[1].replace(':', "/");
        if !dir.is_empty() && !out.contains(&dir) {
            out.push(dir);
        }
    }
    out
}

fn maven_modules(text: &str) -> Vec<String> {
    let re = Regex::new(r"<module>\s*([^<\s]+)\s*</module>").expect("valid");
    re.captures_iter(text).map(|c| c[1].trim_end_matches('/').to_string()).collect()
}

/// `Dockerfile`s at most two directories deep, as root-relative paths.
fn dockerfiles(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let skip = |n: &str| n.starts_with('.') || n == "node_modules" || n == "target" || n == "build";
    let Ok(top) = std::fs::read_dir(root) else { return out };
    for e in top.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.path().is_dir() || skip(&name) {
            continue;
        }
        if e.path().join("Dockerfile").is_file() {
            out.push(format!("{name}/Dockerfile"));
        }
        for sub in std::fs::read_dir(e.path()).into_iter().flatten().filter_map(Result::ok) {
            let sname = sub.file_name().to_string_lossy().into_owned();
            if sub.path().is_dir() && !skip(&sname) && sub.path().join("Dockerfile").is_file() {
                out.push(format!("{name}/{sname}/Dockerfile"));
            }
        }
    }
    out.sort();
    out
}

/// A name hoist accepts for a service: lowercase letters, digits and `-`.
fn service_name(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_string();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    if s.is_empty() { "app".into() } else { s.chars().take(63).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradle_settings_table() {
        let cases: &[(&str, Option<&str>, &[&str])] = &[
            (
                "rootProject.name = 'shop'\ninclude 'user-service', 'chat-service'\n",
                Some("shop"),
                &["user-service", "chat-service"],
            ),
            (
                "rootProject.name = \"shop\"\ninclude(\":user-service\")\ninclude(\":libs:common\")\n",
                Some("shop"),
                &["user-service", "libs/common"],
            ),
            ("include ':a'\ninclude ':b'\n", None, &["a", "b"]),
            ("// nothing\n", None, &[]),
        ];
        for (text, name, subs) in cases {
            let (n, s) = gradle_settings(text);
            assert_eq!(n.as_deref(), *name, "{text}");
            assert_eq!(s, subs.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{text}");
        }
    }

    #[test]
    fn gradle_project_dependencies_are_directories() {
        for (text, want) in [
            ("dependencies { implementation project(':shared-dto') }", vec!["shared-dto"]),
            ("implementation(project(\":libs:dto\"))\napi project(path: ':common')", vec!["libs/dto", "common"]),
            ("implementation project(':a')\ntestImplementation project(':a')", vec!["a"]),
            ("implementation 'org.springframework.boot:spring-boot-starter-web'", vec![]),
            ("// project(\"not-a-path\")", vec![]),
        ] {
            assert_eq!(gradle_project_deps(text), want, "{text}");
        }
    }

    #[test]
    fn boot_jar_names() {
        for (text, want) in [
            ("bootJar {\n    archiveFileName = \"api-gateway.jar\"\n}", Some("api-gateway.jar")),
            ("tasks.bootJar { archiveFileName.set(\"x.jar\") }", Some("x.jar")),
            ("bootJar { archiveFileName = \"${project.name}.jar\" }", None),
            ("jar { archiveFileName = 'lib.jar' }", None),
            ("plugins { id 'org.springframework.boot' }", None),
        ] {
            assert_eq!(boot_jar_name(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn compose_ports_and_project_names() {
        let port = |v: serde_json::Value| host_port(&v);
        assert_eq!(port(serde_json::json!("8081:8081")), Some(8081));
        assert_eq!(port(serde_json::json!("127.0.0.1:18081:8081/tcp")), Some(18081));
        assert_eq!(port(serde_json::json!("8081")), None);
        assert_eq!(port(serde_json::json!(8081)), None);
        assert_eq!(port(serde_json::json!({"target": 8081, "published": "9091"})), Some(9091));
        assert_eq!(port(serde_json::json!({"target": 8081, "published": 9092})), Some(9092));
        assert_eq!(compose_project_name("Acme App.git"), "acmeappgit");
        assert_eq!(compose_project_name("acme-try"), "acme-try");
        assert_eq!(compose_project_name("__x"), "x");
    }

    #[test]
    fn the_production_compose_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let files = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let pick = |found: &[String]| production_compose(root, found);
        // A name with `prod` wins.
        let found = files(&["docker-compose-prod.yaml", "docker-compose.yaml"]);
        assert_eq!(pick(&found), (Some("docker-compose-prod.yaml".into()), Some("its name says prod".into())));
        // Else the one a deploy script runs.
        std::fs::create_dir(root.join("scripts")).unwrap();
        std::fs::write(
            root.join("scripts/ship.sh"),
            "#!/bin/sh
docker-compose --file ./compose.live.yml up -d
",
        )
        .unwrap();
        let found = files(&["compose.live.yml", "docker-compose.yaml"]);
        assert_eq!(pick(&found), (Some("compose.live.yml".into()), Some("scripts/ship.sh runs it".into())));
        // A script naming a file that is not there says nothing; two candidates are a TODO.
        let found = files(&["docker-compose.a.yml", "docker-compose.b.yml"]);
        assert_eq!(pick(&found), (Some("docker-compose.a.yml".into()), None));
        assert_eq!(pick(&files(&["compose.yml"])), (Some("compose.yml".into()), Some("the only one".into())));
        assert_eq!(pick(&[]).0, None);
    }

    #[test]
    fn maven_modules_and_names() {
        assert_eq!(maven_modules("<modules><module>api</module>\n<module> web/ </module></modules>"), ["api", "web"]);
        assert_eq!(service_name("User_Service"), "user-service");
        assert_eq!(service_name("--x--"), "x");
        assert!(is_compose_file("docker-compose-prod.yaml"));
        assert!(is_compose_file("compose.yml"));
        assert!(!is_compose_file("docker-compose.txt"));
    }
}
