//! Whose inputs a set of changed paths touches: each service's `paths`, `[release]
//! shared` (every service), `ignore` and the deploy files (no service), and the rest
//! (counted as shared: a file hoist cannot place might be read by any build). Pure: the
//! paths come from git (`carry.rs`), the patterns from hoist.toml.
//!
//! Patterns are globs (`*` stays inside one path component, `**` crosses them); a pattern
//! without glob characters names a file or a directory and everything under it, so
//! `common` and `common/**` mean the same.

use std::collections::BTreeMap;

use hoist_config::Config;
use serde::{Deserialize, Serialize};

/// One pattern of `paths`, `shared` or `ignore`.
#[derive(Debug, Clone)]
enum Matcher {
    /// A file or directory: the path itself or anything under it.
    Prefix(String),
    Glob(glob::Pattern),
}

impl Matcher {
    fn new(pattern: &str) -> Matcher {
        let trimmed = pattern.trim_end_matches('/');
        if trimmed.contains(['*', '?', '[']) {
            // Config validation already parsed it; an unparsable one matches literally.
            match glob::Pattern::new(trimmed) {
                Ok(p) => Matcher::Glob(p),
                Err(_) => Matcher::Prefix(trimmed.to_string()),
            }
        } else {
            Matcher::Prefix(trimmed.trim_start_matches("./").to_string())
        }
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            Matcher::Prefix(p) => {
                p.is_empty() || path == p || path.strip_prefix(p.as_str()).is_some_and(|r| r.starts_with('/'))
            }
            Matcher::Glob(g) => g.matches_with(
                path,
                glob::MatchOptions {
                    case_sensitive: true,
                    require_literal_separator: true,
                    require_literal_leading_dot: false,
                },
            ),
        }
    }
}

fn any(matchers: &[Matcher], path: &str) -> bool {
    matchers.iter().any(|m| m.matches(path))
}

/// The patterns of a project, compiled once.
#[derive(Debug, Clone)]
pub struct Inputs {
    services: Vec<(String, Vec<Matcher>)>,
    shared: Vec<Matcher>,
    ignore: Vec<Matcher>,
    deploy: Vec<Matcher>,
}

impl Inputs {
    /// From hoist.toml: every service's `paths` (default: its directory), `[release]`
    /// shared and ignore, and the deploy files (compose files, Kubernetes manifests), which
    /// every deploy applies as they are and no image is made of.
    pub fn from_config(config: &Config) -> Inputs {
        let compile = |list: &[String]| list.iter().map(|p| Matcher::new(p)).collect::<Vec<_>>();
        let services = config.services.iter().map(|(name, s)| (name.clone(), compile(&s.input_paths(name)))).collect();
        let mut deploy: Vec<String> = Vec::new();
        if let Some(c) = &config.deploy.compose {
            deploy.extend(c.files.iter().cloned());
        }
        if let Some(k) = &config.deploy.kubernetes {
            deploy.extend(k.manifests.iter().cloned());
        }
        // Absolute deploy paths are outside the tree git reports on.
        deploy.retain(|p| !std::path::Path::new(p).is_absolute());
        Inputs {
            services,
            shared: compile(&config.release.shared),
            ignore: compile(&config.release.ignore),
            deploy: compile(&deploy),
        }
    }

    /// Sort `changed` (paths relative to the project root; `None` for a path outside it)
    /// by whose input each is. A path under `shared` touches every service; one under a
    /// service's `paths` is that service's even when it also matches `ignore` (a `.md`
    /// resource inside a service is part of it).
    pub fn classify<'a>(&self, changed: impl IntoIterator<Item = ChangedPath<'a>>) -> Touched {
        let mut touched = Touched::default();
        for (name, _) in &self.services {
            touched.services.entry(name.clone()).or_default();
        }
        for path in changed {
            let path = match path {
                ChangedPath::Inside(p) => p,
                ChangedPath::Outside(p) => {
                    touched.unowned.push(p.to_string());
                    continue;
                }
            };
            // Shared wins: it touches every service, whatever else it is.
            if any(&self.shared, path) {
                touched.shared.push(path.to_string());
                continue;
            }
            let mut owned = false;
            for (name, matchers) in &self.services {
                if any(matchers, path) {
                    touched.services.get_mut(name).expect("every service has an entry").push(path.to_string());
                    owned = true;
                }
            }
            if owned {
                continue;
            }
            if any(&self.deploy, path) || any(&self.ignore, path) {
                touched.ignored.push(path.to_string());
            } else {
                touched.unowned.push(path.to_string());
            }
        }
        touched
    }
}

/// A changed path as git reports it, placed against the project root.
#[derive(Debug, Clone, Copy)]
pub enum ChangedPath<'a> {
    /// Relative to the project root.
    Inside(&'a str),
    /// Outside the project root (relative to the repository's top).
    Outside(&'a str),
}

/// Which inputs a change touched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Touched {
    /// Per service, its changed paths (empty: unchanged).
    pub services: BTreeMap<String, Vec<String>>,
    /// Changed paths under `[release] shared`: every service builds.
    pub shared: Vec<String>,
    /// Changed paths under no service, not shared and not ignored: counted as shared.
    pub unowned: Vec<String>,
    /// Changed paths no image is made of (`[release] ignore`, the deploy files).
    pub ignored: Vec<String>,
}

impl Touched {
    /// Whether every service must build: something shared (or unplaced) changed.
    pub fn all(&self) -> bool {
        !self.shared.is_empty() || !self.unowned.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text, Path::new("/p/hoist.toml"), Path::new("/p")).unwrap()
    }

    const SHOP: &str = r#"
[services.user-service]
[services.chat-service]
paths = ["chat-service", "common/**"]
[services.web]
dir = "frontend/web/"
[deploy.compose]
files = ["docker-compose-prod.yaml"]
[deploy.kubernetes]
manifests = ["k8s"]
"#;

    /// (changed path, the services it touches, or "shared" / "unowned" / "ignored")
    #[test]
    fn sorts_paths_by_whose_input_they_are() {
        let inputs = Inputs::from_config(&config(SHOP));
        for (path, want) in [
            ("user-service/src/Main.java", "user-service"),
            ("user-service", "user-service"),
            ("user-service-old/x", "unowned"),
            ("chat-service/build.gradle", "chat-service"),
            ("common/src/Dto.java", "chat-service"),
            ("frontend/web/index.html", "web"),
            ("frontend/other/x", "unowned"),
            ("build.gradle", "shared"),
            ("settings.gradle.kts", "shared"),
            ("gradle/wrapper/gradle-wrapper.properties", "shared"),
            ("hoist.toml", "shared"),
            ("README.md", "ignored"),
            ("docs/adr/1.md", "ignored"),
            ("docs/diagram.png", "ignored"),
            (".github/workflows/release.yml", "ignored"),
            ("LICENSE", "ignored"),
            // A .md inside a service is the service's (it may be a resource).
            ("user-service/src/main/resources/help.md", "user-service"),
            ("docker-compose-prod.yaml", "ignored"),
            ("docker-compose.yaml", "unowned"),
            ("k8s/apps/user-deployment.yaml", "ignored"),
            ("scripts/deploy.sh", "unowned"),
        ] {
            let t = inputs.classify([ChangedPath::Inside(path)]);
            let got: Vec<&str> = t.services.iter().filter(|(_, p)| !p.is_empty()).map(|(s, _)| s.as_str()).collect();
            let got = match (got.as_slice(), t.shared.len(), t.unowned.len(), t.ignored.len()) {
                ([one], 0, 0, 0) => one.to_string(),
                ([], 1, 0, 0) => "shared".into(),
                ([], 0, 1, 0) => "unowned".into(),
                ([], 0, 0, 1) => "ignored".into(),
                other => format!("{other:?}"),
            };
            assert_eq!(got, want, "{path}");
            assert_eq!(t.all(), want == "shared" || want == "unowned", "{path}");
        }
    }

    #[test]
    fn a_path_outside_the_project_is_unowned_and_every_service_is_listed() {
        let inputs = Inputs::from_config(&config(SHOP));
        let t = inputs.classify([ChangedPath::Outside("../lib/x"), ChangedPath::Inside("user-service/a")]);
        assert_eq!(t.unowned, vec!["../lib/x"]);
        assert_eq!(t.services.keys().collect::<Vec<_>>(), vec!["chat-service", "user-service", "web"]);
        assert_eq!(t.services["user-service"], vec!["user-service/a"]);
        assert!(t.services["chat-service"].is_empty());
    }

    #[test]
    fn release_shared_replaces_the_defaults() {
        let c = config(&format!("{SHOP}\n[release]\nshared = [\"build.sh\", \"common\"]\nignore = []\n"));
        let inputs = Inputs::from_config(&c);
        assert_eq!(inputs.classify([ChangedPath::Inside("build.sh")]).shared, vec!["build.sh"]);
        // common/ is chat-service's own input and shared: shared wins, every service builds.
        assert_eq!(inputs.classify([ChangedPath::Inside("common/Dto.java")]).shared, vec!["common/Dto.java"]);
        assert_eq!(inputs.classify([ChangedPath::Inside("build.gradle")]).unowned, vec!["build.gradle"]);
        assert_eq!(inputs.classify([ChangedPath::Inside("README.md")]).unowned, vec!["README.md"]);
    }
}
