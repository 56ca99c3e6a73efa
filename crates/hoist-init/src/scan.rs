//! What `hoist init` finds in a repository: Gradle subprojects, Maven modules, Dockerfiles,
//! compose files and a Kubernetes directory. Best effort: it reads the files as text and
//! never runs the build tool.

use std::path::Path;

use regex::Regex;
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Detected {
    pub name: String,
    pub build_system: Option<String>,
    pub build_command: Option<Vec<String>>,
    pub services: Vec<ServiceGuess>,
    pub compose_files: Vec<String>,
    pub k8s_dir: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceGuess {
    pub name: String,
    pub dir: String,
    pub artifact: Option<String>,
    pub dockerfile: Option<String>,
    /// Directories of the Gradle modules its build file uses (`project(':dto')`): its
    /// inputs besides its own directory.
    pub uses: Vec<String>,
}

/// Look at `root` and guess a configuration.
pub fn scan(root: &Path) -> Detected {
    let dir_name = std::fs::canonicalize(root)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".into());
    let mut d = Detected { name: service_name(&dir_name), ..Detected::default() };

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
        for path in subprojects {
            let build =
                ["build.gradle.kts", "build.gradle"].iter().map(|f| root.join(&path).join(f)).find(|p| p.is_file());
            let uses = build
                .and_then(|b| std::fs::read_to_string(b).ok())
                .map(|t| gradle_project_deps(&t))
                .unwrap_or_default()
                .into_iter()
                .filter(|u| *u != path)
                .collect();
            d.services.push(ServiceGuess {
                name: service_name(path.rsplit('/').next().unwrap_or(&path)),
                artifact: Some(format!("{path}/build/libs/*-{{tag}}.jar")),
                dir: path,
                dockerfile: None,
                uses,
            });
        }
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
                dockerfile: None,
                uses: Vec::new(),
            });
        }
    }

    // Dockerfiles: attach to a known service directory, or make a service of their own.
    for df in dockerfiles(root) {
        let dir = Path::new(&df).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(s) = d.services.iter_mut().find(|s| s.dir == dir) {
            s.dockerfile = Some(df);
        } else if !dir.is_empty() {
            d.services.push(ServiceGuess {
                name: service_name(dir.rsplit('/').next().unwrap_or(&dir)),
                dir,
                artifact: None,
                dockerfile: Some(df),
                uses: Vec::new(),
            });
        }
    }
    d.services.sort_by(|a, b| a.name.cmp(&b.name));
    d.services.dedup_by(|a, b| a.name == b.name);

    let mut compose: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_compose_file(n))
        .collect();
    compose.sort();
    d.compose_files = compose;
    d.k8s_dir =
        ["k8s", "kubernetes", "deploy/k8s", "manifests"].iter().find(|p| root.join(p).is_dir()).map(|p| p.to_string());
    d
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
    fn maven_modules_and_names() {
        assert_eq!(maven_modules("<modules><module>api</module>\n<module> web/ </module></modules>"), ["api", "web"]);
        assert_eq!(service_name("User_Service"), "user-service");
        assert_eq!(service_name("--x--"), "x");
        assert!(is_compose_file("docker-compose-prod.yaml"));
        assert!(is_compose_file("compose.yml"));
        assert!(!is_compose_file("docker-compose.txt"));
    }
}
