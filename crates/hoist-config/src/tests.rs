use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/p/hoist.toml"), Path::new("/p"))
}

#[test]
fn empty_file_gives_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.version.tag_format, "v{version}-{sha}");
    assert_eq!(c.version.sha_length, 7);
    assert_eq!(c.version.initial, "0.1.0");
    assert_eq!(c.version.remote, "origin");
    assert_eq!(c.image.layout, ".hoist/oci");
    assert!(c.registry.is_none());
    assert_eq!(c.version.policy().default_bump, None);
}

#[test]
fn full_example_parses() {
    let text = r#"
[project]
name = "shop"
source = "https://github.com/acme/shop"

[version]
tag_format = "v{version}-{sha}"
sha_length = 8
initial = "1.0.0"
default_bump = "patch"
[version.markers]
major = ["major", "breaking"]

[build]
command = ["./gradlew", "build", "--build-cache", "--parallel", "-Pversion={tag}"]
jobs = 2

[services.user-service]
artifact = "user-service/build/libs/shop-user-service-{tag}.jar"
[services.user-service.image]
ports = [8080, "9090/udp"]

[image]
base = "shop-jre:17"

[registry]
repository = "127.0.0.1:5000/shop"

[deploy.compose]
files = ["docker-compose-prod.yaml"]
[deploy.compose.probes.user-service]
http = "http://127.0.0.1:18081/health"

[deploy.kubernetes]
manifests = ["k8s"]
"#;
    let c = parse(text).unwrap();
    assert_eq!(c.project_name(), "shop");
    assert_eq!(c.version.sha_length, 8);
    assert_eq!(c.version.policy().markers.major, ["major", "breaking"]);
    assert_eq!(c.services["user-service"].image.port_specs(), ["8080/tcp", "9090/udp"]);
    assert_eq!(c.registry.as_ref().unwrap().image_tag, "{service}_{tag}");
    assert_eq!(c.registry.as_ref().unwrap().service_separator().as_deref(), Some("_"));
    assert_eq!(c.resolve("k8s"), Path::new("/p/k8s"));
}

#[test]
fn errors_name_file_line_and_key() {
    let cases: &[(&str, &[&str])] = &[
        ("[version]\ntag_formt = \"v{version}\"\n", &["/p/hoist.toml:2:1", "tag_formt"]),
        ("[version]\nsha_length = \"seven\"\n", &["/p/hoist.toml:2:14", "invalid type"]),
        ("[nope]\n", &["/p/hoist.toml:1:2", "nope"]),
        ("[services.a]\nartifact = 3\n", &["/p/hoist.toml:2:12"]),
        ("[version]\ntag_format = \"v{version}-{hash}\"\n", &["`version.tag_format`", "{hash}"]),
        ("[version]\nsha_length = 50\n", &["`version.sha_length`"]),
        ("[version]\ninitial = \"1.0\"\n", &["`version.initial`"]),
        ("[version]\ndefault_bump = \"huge\"\n", &["2:16", "unknown variant"]),
        ("[version.markers]\nminor = [\"patch\"]\n", &["used for two bumps"]),
        ("[build]\ncommand = [\"make\", \"-Dv={unknown}\"]\n", &["`build.command`", "{unknown}"]),
        ("[build]\ncommand = []\n", &["`build.command`", "program name"]),
        ("[services.Bad_Name]\n", &["`services.Bad_Name`", "lowercase"]),
        ("[services.a]\nartifact = \"{nope}.jar\"\n", &["`services.a.artifact`", "{nope}"]),
        ("[services.a.image]\nports = [70000]\n", &["`services.a.image.ports`"]),
        ("[registry]\nrepository = \"https://r.example/shop\"\n", &["`registry.repository`", "scheme"]),
        ("[registry]\nrepository = \"r.example/shop:latest\"\n", &["`registry.repository`"]),
        ("[registry]\nrepository = \"r/shop\"\nimage_tag = \"{tag}\"\n", &["`registry.image_tag`", "{service}"]),
        (
            "[version]\ntag_format = \"v{version}+{sha}\"\n[services.a]\n[registry]\nrepository = \"r/shop\"\n",
            &["`version.tag_format`", "`+`"],
        ),
        ("[services.user_service]\n[registry]\nrepository = \"r/shop\"\n", &["lowercase"]),
        (
            "[services.user-service]\n[registry]\nrepository = \"r/shop\"\nimage_tag = \"{service}-{tag}\"\n",
            &["`services.user-service`", "contains `-`"],
        ),
        ("[deploy.compose]\nkeep = 0\n", &["`deploy.compose.keep`"]),
        ("[deploy.compose.probes.ghost]\nhttp = \"http://x\"\n", &["not a service"]),
        ("[project]\nname = \"../../etc\"\n", &["/p/hoist.toml:2:8", "project name `../../etc`"]),
        ("[project]\nsource = \"x\"\nname = \"Shop\"\n", &["/p/hoist.toml:3:8", "lowercase"]),
        ("[project]\nname = \"\"\n", &["/p/hoist.toml:2:8", "project name ``"]),
        ("[project]\nname = \"a/b\"\n", &["2:8", "`a/b`"]),
        ("[project]\nname = \"-x\"\n", &["2:8"]),
        ("[project]\nname = 3\n", &["2:8", "invalid type"]),
        ("[deploy.compose]\nproject = \"shop.prod\"\n", &["/p/hoist.toml:2:11", "`shop.prod`"]),
        ("[deploy.compose]\nproject = \"..\"\n", &["2:11", "`..`"]),
    ];
    for (text, wants) in cases {
        let err = parse(text).expect_err(text).to_string();
        for want in *wants {
            assert!(err.contains(want), "{text:?}\n  gave: {err}\n  missing: {want}");
        }
    }
}

#[test]
fn project_name_rule() {
    for ok in ["shop", "0shop", "a_b-c", "x"] {
        assert!(check_project_name(ok).is_ok(), "{ok}");
        let c = parse(&format!("[project]\nname = \"{ok}\"\n[deploy.compose]\nproject = \"{ok}\"\n")).unwrap();
        assert_eq!(c.project_name(), ok);
        assert_eq!(c.deploy.compose.unwrap().project.as_deref(), Some(ok));
    }
    for bad in ["", "Shop", "-shop", "_x", "sh op", "shop.prod", "..", "../x", "a/b", "a\\b", "é", "a\n"] {
        assert!(check_project_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn plus_format_is_fine_without_images() {
    let c = parse("[version]\ntag_format = \"v{version}+{sha}\"\n").unwrap();
    assert_eq!(c.version.tag_format().as_str(), "v{version}+{sha}");
}

#[test]
fn discover_without_file_gives_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::discover(dir.path()).unwrap();
    assert!(c.path.is_none());
    assert_eq!(c.root, dir.path());
}

#[test]
fn load_missing_file_is_a_read_error() {
    let err = Config::load(Path::new("/nonexistent/hoist.toml")).unwrap_err();
    assert!(err.to_string().contains("cannot read /nonexistent/hoist.toml"), "{err}");
}

#[test]
fn kubernetes_section_defaults_and_limits() {
    let c = parse("[deploy.kubernetes]\nmanifests = [\"k8s\"]\n").unwrap();
    let k = c.deploy.kubernetes.unwrap();
    assert_eq!((k.timeout, k.keep, k.pin_digests), (300, 10, false));
    for (text, want) in [
        ("[deploy.kubernetes]\nmanifests = []\n", "`deploy.kubernetes.manifests`"),
        ("[deploy.kubernetes]\ntimeout = 0\n", "`deploy.kubernetes.timeout`"),
        ("[deploy.kubernetes]\nkeep = 1\n", "`deploy.kubernetes.keep`"),
        ("[deploy.kubernetes]\nkeeps = 3\n", "keeps"),
    ] {
        let err = parse(text).expect_err(text).to_string();
        assert!(err.contains(want), "{text:?} gave {err}");
    }
}

#[test]
fn earlier_tag_formats_are_validated_like_the_current_one() {
    let c = parse("[version]\ntag_formats = [\"v{version}\", \"shop-{version}+{sha}\"]\n").unwrap();
    let formats = c.version.formats();
    assert_eq!(formats.current().as_str(), "v{version}-{sha}");
    let commit = "abf2154c0ffee00000000000000000000000000f";
    assert_eq!(formats.read("v5.0.1", commit).unwrap().version.to_string(), "5.0.1");
    assert_eq!(formats.read("shop-4.0.0+abf2154", commit).unwrap().version.to_string(), "4.0.0");
    for (text, want) in [
        (
            "[version]\ntag_formats = [\"v{version}\", \"v{sha}\"]\n",
            "`version.tag_formats[1]`: tag format `v{sha}` must contain `{version}`",
        ),
        ("[version]\ntag_formats = [\"v{hash}\"]\n", "`version.tag_formats[0]`: unknown placeholder `{hash}`"),
        (
            "[version]\ntag_formats = [\"v {version}\"]\n",
            "`version.tag_formats[0]`: tag format `v {version}` gives an invalid git tag",
        ),
        ("[version]\ntag_formats = \"v{version}\"\n", "invalid type"),
    ] {
        let err = parse(text).expect_err(text).to_string();
        assert!(err.contains(want), "{text:?} gave {err}");
    }
}

/// The keys that expand `${VAR}`, each with its value written through a variable.
#[test]
fn variables_expand_in_registry_host_and_url_keys_only() {
    let env = |name: &str| match name {
        "REGISTRY" => Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com".to_string()),
        "ORG" => Some("acme".to_string()),
        "PROBE_HOST" => Some("127.0.0.1".to_string()),
        "KUBE_CONTEXT" => Some("prod-eu".to_string()),
        _ => None,
    };
    let text = r#"
[project]
name = "shop"
source = "https://github.com/${ORG}/shop"
[services.api]
[services.web]
[registry]
repository = "${REGISTRY}/shop"
mount_from = ["${REGISTRY}/base"]
image_tag = "{service}_{tag}"
[deploy.compose.probes.api]
http = "http://${PROBE_HOST}:8080/health"
[deploy.compose.probes.web]
tcp = "${PROBE_HOST}:5432"
[deploy.kubernetes]
context = "${KUBE_CONTEXT}"
namespace = "${NOT_EXPANDED}"
"#;
    let c = Config::parse_with_env(text, Path::new("/p/hoist.toml"), Path::new("/p"), &env).unwrap();
    let registry = c.registry.as_ref().unwrap();
    assert_eq!(registry.repository, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop");
    assert_eq!(registry.mount_from, ["123456789012.dkr.ecr.eu-west-1.amazonaws.com/base"]);
    assert_eq!(c.project.source.as_deref(), Some("https://github.com/acme/shop"));
    let compose = c.deploy.compose.as_ref().unwrap();
    assert_eq!(compose.probes["api"].http.as_deref(), Some("http://127.0.0.1:8080/health"));
    assert_eq!(compose.probes["web"].tcp.as_deref(), Some("127.0.0.1:5432"));
    let k8s = c.deploy.kubernetes.as_ref().unwrap();
    assert_eq!(k8s.context.as_deref(), Some("prod-eu"));
    // Not a place: kept as written.
    assert_eq!(k8s.namespace.as_deref(), Some("${NOT_EXPANDED}"));
}

#[test]
fn variable_errors_name_the_key_and_the_variable_never_the_value() {
    let env = |name: &str| match name {
        "SECRET" => Some("user:pa55@registry.internal:5000".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    let parse_env = |text: &str| Config::parse_with_env(text, Path::new("/p/hoist.toml"), Path::new("/p"), &env);
    // (text, message, hint fragment)
    let cases = [
        (
            "[registry]\nrepository = \"${REGISTRY}/shop\"\n",
            "/p/hoist.toml: `registry.repository`: `${REGISTRY}/shop` uses `${REGISTRY}`, which is not set",
            "set REGISTRY in the environment, or write the value",
        ),
        (
            "[registry]\nrepository = \"${EMPTY}/shop\"\n",
            "/p/hoist.toml: `registry.repository`: `${EMPTY}/shop` uses `${EMPTY}`, which is set but empty",
            "set EMPTY in the environment",
        ),
        (
            "[deploy.kubernetes]\ncontext = \"${KUBE\"\n",
            "/p/hoist.toml: `deploy.kubernetes.context`: `${KUBE` has a `${` without its closing `}`",
            "variable name",
        ),
        (
            "[services.api]\n[deploy.compose.probes.api]\nhttp = \"${SECRET}/${MISSING}\"\n",
            "/p/hoist.toml: `deploy.compose.probes.api.http`: `${SECRET}/${MISSING}` uses `${MISSING}`, which is not set",
            "set MISSING",
        ),
        // Expanded, then invalid: the message quotes the file, not the secret.
        (
            "[registry]\nrepository = \"${SECRET}/shop\"\n",
            "/p/hoist.toml: `registry.repository`: `${SECRET}/shop` must be `host[:port]/path`",
            "docs/config.md",
        ),
    ];
    for (text, want, hint) in cases {
        let err = parse_env(text).expect_err(text);
        let shown = err.to_string();
        assert!(shown.starts_with(want), "{text:?}\n  gave: {shown}\n  want: {want}");
        assert!(!shown.contains("pa55"), "{shown}");
        let got_hint = hoist_diag::Diagnostic::hint(&err).unwrap_or_default();
        assert!(got_hint.contains(hint), "{text:?}: hint {got_hint}");
        assert_eq!(hoist_diag::Diagnostic::exit(&err), hoist_diag::Exit::User);
    }
}
