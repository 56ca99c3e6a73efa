//! Builds every service with the release version and records its artifact.
//!
//! A build command is an argument list from `hoist.toml`. `{tag}`, `{version}`, `{sha}` and
//! `{service}` are substituted inside single arguments and never re-split, and no shell is
//! involved unless the user writes one. The project-wide command runs first, then the
//! per-service commands in parallel (bounded by `jobs`), each output line prefixed with the
//! service name. Every service must then have exactly one artifact matching its pattern;
//! its size and sha256 are recorded for the image and release steps.
//!
//! Build commands run without hoist's own secrets ([`is_scrubbed`]): their output is
//! streamed to the CI log. Artifact patterns are expanded by hand (walkdir + `glob::Pattern`)
//! rather than with `glob::glob`, because the walk must stay inside the project (no
//! symlinked directory is followed, every match is resolved and checked) and be bounded
//! ([`Limits`]): `glob::glob` follows links and cannot be stopped part way.

mod dockerfile;
mod error;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use hoist_cmd::Cmd;
use hoist_config::Config;
use hoist_version::Template;
use serde::{Deserialize, Serialize};

pub use dockerfile::{Dockerfile, GENERATED_HEADER, Written, dockerfiles, write_dockerfiles};
pub use error::BuildError;

/// The release values substituted into commands and artifact paths.
pub use hoist_version::naming::ReleaseRef;

/// `{tag}`, `{version}`, `{sha}` and, for a service's build, `{service}`.
fn values<'a>(release: &'a ReleaseRef, service: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut v = release.values().to_vec();
    if let Some(s) = service {
        v.push(("service", s));
    }
    v
}

/// One command to run, fully substituted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Step {
    /// The service it builds, or `None` for the project-wide command.
    pub service: Option<String>,
    pub argv: Vec<String>,
    pub dir: PathBuf,
    pub env: BTreeMap<String, String>,
}

/// What `hoist build` will do: serialisable, printed by `--dry-run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BuildPlan {
    pub release: ReleaseRef,
    pub project: Option<Step>,
    pub services: Vec<ServicePlan>,
    pub jobs: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServicePlan {
    pub name: String,
    pub step: Option<Step>,
    /// The artifact pattern with the release substituted, relative to the root.
    pub artifact: Option<String>,
}

/// A built artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Artifact {
    pub service: String,
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

/// Plan the builds of `services` (all when empty) for `release`.
pub fn plan(
    config: &Config,
    release: &ReleaseRef,
    services: &[String],
    jobs: Option<usize>,
) -> Result<BuildPlan, BuildError> {
    for s in services {
        if !config.services.contains_key(s) {
            return Err(BuildError::UnknownService {
                name: s.clone(),
                known: config.services.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        }
    }
    let root = config.root.clone();
    let env = |service: Option<&str>| {
        let mut env = config.build.env.clone();
        env.insert("HOIST_TAG".into(), release.tag.clone());
        env.insert("HOIST_VERSION".into(), release.version.clone());
        env.insert("HOIST_SHA".into(), release.sha.clone());
        if let Some(s) = service {
            env.insert("HOIST_SERVICE".into(), s.to_string());
        }
        env
    };
    let project = config.build.command.as_ref().map(|argv| Step {
        service: None,
        argv: substitute(argv, &values(release, None)),
        dir: root.clone(),
        env: env(None),
    });
    let selected = config.services.iter().filter(|(name, _)| services.is_empty() || services.contains(name));
    let services = selected
        .map(|(name, svc)| ServicePlan {
            name: name.clone(),
            step: svc.build.as_ref().map(|argv| Step {
                service: Some(name.clone()),
                argv: substitute(argv, &values(release, Some(name))),
                dir: root.clone(),
                env: env(Some(name)),
            }),
            artifact: svc.artifact.as_ref().map(|a| render(a, &values(release, Some(name)))),
        })
        .collect();
    let jobs = jobs
        .or(config.build.jobs)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
        .max(1);
    Ok(BuildPlan { release: release.clone(), project, services, jobs })
}

fn render(template: &str, values: &[(&str, &str)]) -> String {
    // Templates were validated when the config was loaded.
    Template::parse(template, hoist_config::BUILD_PLACEHOLDERS)
        .map(|t| t.render_with(values))
        .unwrap_or_else(|_| template.to_string())
}

fn substitute(argv: &[String], values: &[(&str, &str)]) -> Vec<String> {
    argv.iter().map(|a| render(a, values)).collect()
}

/// Where build output lines go: `(service or "build", line)`.
pub trait Sink: Sync {
    fn line(&self, who: &str, line: &str);
}

impl<F: Fn(&str, &str) + Sync> Sink for F {
    fn line(&self, who: &str, line: &str) {
        self(who, line)
    }
}

/// What a build run produced: the artifacts, and how long each service's own build took.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Built {
    pub artifacts: Vec<Artifact>,
    /// Seconds of each service's own build command (not the project-wide one).
    pub service_seconds: BTreeMap<String, f64>,
    /// Seconds of the project-wide build command, when there is one.
    pub project_seconds: Option<f64>,
}

/// Run the plan, then find and hash every artifact. Nothing is returned (so nothing is
/// claimed as released) unless every build succeeded.
pub fn execute(plan: &BuildPlan, root: &Path, sink: &dyn Sink) -> Result<Built, BuildError> {
    let mut project_seconds = None;
    if let Some(step) = &plan.project {
        let started = std::time::Instant::now();
        run_step(step, "build", sink)?;
        project_seconds = Some(started.elapsed().as_secs_f64());
    }
    let steps: Vec<&Step> = plan.services.iter().filter_map(|s| s.step.as_ref()).collect();
    let service_seconds = run_parallel(&steps, plan.jobs, sink)?;
    Ok(Built { artifacts: collect(plan, root)?, service_seconds, project_seconds })
}

/// Find and hash the artifacts of a plan without building (for later steps).
pub fn collect(plan: &BuildPlan, root: &Path) -> Result<Vec<Artifact>, BuildError> {
    let mut out = Vec::new();
    for s in &plan.services {
        let Some(pattern) = &s.artifact else { continue };
        let path = find_artifact(root, &s.name, pattern)?;
        let (size, sha256) = hash_file(&path)?;
        out.push(Artifact { service: s.name.clone(), path, size, sha256 });
    }
    Ok(out)
}

fn run_step(step: &Step, who: &str, sink: &dyn Sink) -> Result<(), BuildError> {
    let mut program = PathBuf::from(&step.argv[0]);
    // `./gradlew` means the project's gradlew, whatever directory hoist was started in.
    if program.is_relative() && program.components().count() > 1 {
        program = step.dir.join(program);
    }
    let mut cmd = Cmd::new(program).args(&step.argv[1..]).current_dir(&step.dir);
    for (k, _) in std::env::vars_os() {
        if is_scrubbed(&k) {
            cmd = cmd.env_remove(k);
        }
    }
    for (k, v) in &step.env {
        cmd = cmd.env(k, v);
    }
    cmd.stream(|_, line| sink.line(who, line)).map_err(|source| BuildError::Command {
        service: step.service.clone(),
        program: step.argv[0].clone(),
        source,
    })
}

/// The rule for what build commands do not inherit: every `HOIST_*` variable (hoist's
/// namespace: `HOIST_GIT_TOKEN`, `HOIST_REGISTRY_USERNAME`/`_PASSWORD` and any later one),
/// and the GitHub Actions OIDC request pair, which `hoist init --github-actions` enables for
/// the ECR login and which would let a build mint cloud credentials. The `HOIST_TAG`,
/// `HOIST_VERSION`, `HOIST_SHA` and `HOIST_SERVICE` a build sees are set by hoist afresh.
pub const SCRUBBED_ENV: &[&str] = &["HOIST_*", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL"];

/// Whether `name` is kept out of build commands' environment ([`SCRUBBED_ENV`]).
pub fn is_scrubbed(name: &OsStr) -> bool {
    let name = name.as_encoded_bytes();
    SCRUBBED_ENV.iter().any(|rule| match rule.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix.as_bytes()),
        None => name == rule.as_bytes(),
    })
}

/// Run per-service steps with at most `jobs` at once. After the first failure no new
/// build starts; the ones running finish, and the first failure is reported.
fn run_parallel(steps: &[&Step], jobs: usize, sink: &dyn Sink) -> Result<BTreeMap<String, f64>, BuildError> {
    let next = AtomicUsize::new(0);
    let seconds: Mutex<BTreeMap<String, f64>> = Mutex::new(BTreeMap::new());
    let failed = AtomicBool::new(false);
    let errors: Mutex<Vec<(usize, BuildError)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(steps.len()) {
            scope.spawn(|| {
                loop {
                    if failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(step) = steps.get(i) else { break };
                    let who = step.service.as_deref().unwrap_or("build");
                    let started = std::time::Instant::now();
                    match run_step(step, who, sink) {
                        Ok(()) => {
                            let secs = started.elapsed().as_secs_f64();
                            seconds.lock().expect("not poisoned").insert(who.to_string(), secs);
                        }
                        Err(e) => {
                            failed.store(true, Ordering::SeqCst);
                            errors.lock().expect("not poisoned").push((i, e));
                        }
                    }
                }
            });
        }
    });
    let mut errors = errors.into_inner().expect("not poisoned");
    errors.sort_by_key(|(i, _)| *i);
    match errors.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(seconds.into_inner().expect("not poisoned")),
    }
}

mod artifact;
mod record;

pub use artifact::{Limits, find_artifact, find_artifact_bounded, hash_file};
pub use record::{RECORD_VERSION, intact, load_record, record_path, save_record};

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str, root: &Path) -> Config {
        Config::parse(text, &root.join("hoist.toml"), root).unwrap()
    }

    fn release() -> ReleaseRef {
        ReleaseRef::new("v1.2.3-abc1234", "1.2.3", "abc1234")
    }

    #[test]
    fn plan_substitutes_inside_single_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(
            r#"
[build]
command = ["./gradlew", "build", "--build-cache", "--parallel", "-Pversion={tag}"]
[services.user-service]
build = ["./build.sh", "{tag}", "{service}", "a b; $(x) {version}"]
artifact = "user-service/build/libs/shop-user-service-{tag}.jar"
"#,
            dir.path(),
        );
        let p = plan(&c, &release(), &[], Some(3)).unwrap();
        assert_eq!(
            p.project.as_ref().unwrap().argv,
            ["./gradlew", "build", "--build-cache", "--parallel", "-Pversion=v1.2.3-abc1234"]
        );
        let s = &p.services[0];
        assert_eq!(s.step.as_ref().unwrap().argv, ["./build.sh", "v1.2.3-abc1234", "user-service", "a b; $(x) 1.2.3"]);
        assert_eq!(s.artifact.as_deref(), Some("user-service/build/libs/shop-user-service-v1.2.3-abc1234.jar"));
        let env = &s.step.as_ref().unwrap().env;
        assert_eq!(env["HOIST_TAG"], "v1.2.3-abc1234");
        assert_eq!(env["HOIST_VERSION"], "1.2.3");
        assert_eq!(env["HOIST_SHA"], "abc1234");
        assert_eq!(env["HOIST_SERVICE"], "user-service");
        assert_eq!(p.jobs, 3);
    }

    #[test]
    fn unknown_service_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let c = config("[services.a]\n[services.b]\n", dir.path());
        let err = plan(&c, &release(), &["c".into()], None).unwrap_err().to_string();
        assert!(err.contains("`c`") && err.contains("a, b"), "{err}");
    }

    #[test]
    fn artifact_matching() {
        let dir = tempfile::tempdir().unwrap();
        let libs = dir.path().join("svc/build/libs");
        std::fs::create_dir_all(&libs).unwrap();
        std::fs::write(libs.join("svc-v1.jar"), b"jar").unwrap();
        std::fs::write(libs.join("svc-v1-plain.jar"), b"jar2").unwrap();
        let one = find_artifact(dir.path(), "svc", "svc/build/libs/svc-v1.jar").unwrap();
        assert!(one.ends_with("svc-v1.jar"));
        let err = find_artifact(dir.path(), "svc", "svc/build/libs/svc-v1*.jar").unwrap_err().to_string();
        assert!(err.contains("2 files") && err.contains("svc-v1-plain.jar"), "{err}");
        let err = find_artifact(dir.path(), "svc", "svc/build/libs/svc-v2.jar").unwrap_err().to_string();
        assert!(err.contains("no file matches") && err.contains("svc-v1.jar"), "{err}");
        let (size, sha) = hash_file(&one).unwrap();
        assert_eq!(size, 3);
        assert_eq!(sha, "0163f1eea7894350060624d315234d40c508ab251ba121714e234503045faadd");
    }

    #[test]
    fn an_artifact_that_resolves_outside_the_project_is_refused() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let (root, outside) = (tmp.path().join("p"), tmp.path().join("outside"));
        std::fs::create_dir_all(root.join("svc/build/libs")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"s").unwrap();
        symlink(outside.join("secret"), root.join("svc/build/libs/app.jar")).unwrap();
        symlink("/etc/shadow", root.join("svc/build/libs/shadow.jar")).unwrap();
        symlink(&outside, root.join("out")).unwrap();
        let real_outside = std::fs::canonicalize(&outside).unwrap();
        for (pattern, artifact, target) in [
            ("svc/build/libs/app.jar", "svc/build/libs/app.jar", real_outside.join("secret")),
            ("svc/build/libs/app*.jar", "svc/build/libs/app.jar", real_outside.join("secret")),
            ("svc/build/libs/shadow.jar", "svc/build/libs/shadow.jar", PathBuf::from("/etc/shadow")),
            ("out/secret", "out/secret", real_outside.join("secret")),
            ("out/*", "out", real_outside.clone()),
        ] {
            let err = find_artifact(&root, "svc", pattern).unwrap_err();
            assert!(matches!(err, BuildError::Escapes { .. }), "{pattern}: {err:?}");
            let msg = err.to_string();
            assert!(msg.contains(&root.join(artifact).display().to_string()), "{pattern}: {msg}");
            assert!(msg.contains(&format!("resolves to {}", target.display())), "{pattern}: {msg}");
            assert_eq!(hoist_diag::Diagnostic::exit(&err), hoist_diag::Exit::User);
        }
        // A link that stays inside the project is an artifact like any file.
        std::fs::write(root.join("svc/build/real.jar"), b"jar").unwrap();
        symlink("../real.jar", root.join("svc/build/libs/inside.jar")).unwrap();
        let found = find_artifact(&root, "svc", "svc/build/libs/ins*.jar").unwrap();
        assert_eq!(found, root.join("svc/build/libs/inside.jar"));
        assert_eq!(hash_file(&found).unwrap().0, 3);
    }

    #[test]
    fn expansion_stays_inside_and_is_bounded() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/app.jar"), b"jar").unwrap();
        // Neither the file system root nor a loop is walked: symlinked directories are not followed.
        symlink("/", root.join("a/up")).unwrap();
        symlink(".", root.join("a/loop")).unwrap();
        assert_eq!(find_artifact(root, "svc", "**/*.jar").unwrap(), root.join("a/b/app.jar"));
        assert_eq!(find_artifact(root, "svc", "./a/**/app.jar").unwrap(), root.join("a/b/app.jar"));

        std::fs::create_dir_all(root.join("many")).unwrap();
        for i in 0..60 {
            std::fs::write(root.join(format!("many/{i:02}.txt")), b"x").unwrap();
        }
        let tight = Limits { max_walk: 50, max_matches: 5 };
        let err = find_artifact_bounded(root, "svc", "many/**/*.jar", tight).unwrap_err();
        assert!(matches!(err, BuildError::WalkTooLong { limit: 50, .. }), "{err:?}");
        assert!(err.to_string().contains("looked at 50 entries"), "{err}");
        let err =
            find_artifact_bounded(root, "svc", "many/*.txt", Limits { max_walk: 1000, max_matches: 5 }).unwrap_err();
        match &err {
            BuildError::SeveralArtifacts { count, found, .. } => {
                assert_eq!(count, "5 or more");
                assert_eq!(found.len(), 5);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("matches 5 or more files"), "{err}");
    }

    #[test]
    fn absolute_and_climbing_patterns_are_refused_before_any_walk() {
        let tmp = tempfile::tempdir().unwrap();
        for pattern in ["/**/*", "/etc/shadow", "../*", "a/../../etc/passwd", "~/x.jar"] {
            let err = find_artifact(tmp.path(), "svc", pattern).unwrap_err();
            assert!(matches!(err, BuildError::BadPattern { .. }), "{pattern}: {err:?}");
            assert!(err.to_string().contains(pattern), "{err}");
        }
    }

    #[test]
    fn a_record_pointing_outside_the_project_is_not_used() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, outside) = (tmp.path().join("p"), tmp.path().join("o.jar"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(&outside, b"jar").unwrap();
        std::fs::write(root.join("in.jar"), b"jar").unwrap();
        let (size, sha256) = hash_file(&outside).unwrap();
        let art = |path: PathBuf| Artifact { service: "s".into(), path, size, sha256: sha256.clone() };
        let cfg = config("", &root);
        save_record(&cfg, "v1", &[art(root.join("in.jar"))]).unwrap();
        assert!(load_record(&cfg, "v1").is_some());
        save_record(&cfg, "v1", &[art(outside.clone())]).unwrap();
        assert!(load_record(&cfg, "v1").is_none());
        // A record of another format version is not used: the build runs again.
        std::fs::write(record_path(&cfg, "v1"), br#"{"version": 2, "artifacts": []}"#).unwrap();
        assert!(load_record(&cfg, "v1").is_none());
        std::fs::write(record_path(&cfg, "v1"), b"[]").unwrap();
        assert!(load_record(&cfg, "v1").is_none());
    }

    #[test]
    fn hoists_secrets_are_scrubbed_from_builds() {
        for name in [
            "HOIST_GIT_TOKEN",
            "HOIST_REGISTRY_PASSWORD",
            "HOIST_REGISTRY_USERNAME",
            "HOIST_LOG",
            "HOIST_X",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        ] {
            assert!(is_scrubbed(OsStr::new(name)), "{name}");
        }
        for name in
            ["PATH", "HOME", "JAVA_HOME", "GRADLE_OPTS", "hoist_x", "XHOIST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKENX"]
        {
            assert!(!is_scrubbed(OsStr::new(name)), "{name}");
        }
    }
}
