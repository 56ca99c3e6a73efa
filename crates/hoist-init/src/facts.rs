//! What the workflows need from an existing `hoist.toml`, read from the file as written:
//! `${VAR}` values stay unexpanded (they are set in CI, not where `hoist init` runs), and
//! the variables they name become the workflow's repository variables.

use serde::Deserialize;

/// The parts of `hoist.toml` the workflows depend on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFacts {
    /// `[registry] repository`, as written.
    pub repository: Option<String>,
    /// `[deploy.compose]`, when present.
    pub compose: Option<ComposeFacts>,
    /// `[deploy.kubernetes]` is present.
    pub kubernetes: bool,
    /// Every `${VAR}` the expanded keys use, sorted, without the runner's own
    /// (`GITHUB_*`, `RUNNER_*`).
    pub vars: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComposeFacts {
    /// `hosts`, as written (`ssh://deploy@${HOST_1}`).
    pub hosts: Vec<String>,
    /// `known_hosts`: a committed file with the hosts' keys.
    pub known_hosts: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Raw {
    #[serde(default)]
    project: RawProject,
    registry: Option<RawRegistry>,
    #[serde(default)]
    deploy: RawDeploy,
}

#[derive(Debug, Default, Deserialize)]
struct RawProject {
    source: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawRegistry {
    repository: Option<String>,
    #[serde(default)]
    mount_from: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawDeploy {
    compose: Option<RawCompose>,
    kubernetes: Option<RawKubernetes>,
}

#[derive(Debug, Default, Deserialize)]
struct RawCompose {
    #[serde(default)]
    hosts: Vec<String>,
    known_hosts: Option<String>,
    #[serde(default)]
    probes: std::collections::BTreeMap<String, RawProbe>,
}

#[derive(Debug, Default, Deserialize)]
struct RawProbe {
    http: Option<String>,
    tcp: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawKubernetes {
    context: Option<String>,
}

/// Read the facts from `hoist.toml`'s text. Only TOML syntax and the types of these keys
/// are checked here; `hoist release` validates the whole file where it runs.
///
/// ```
/// let text = "[deploy.compose]\nhosts = [\"ssh://deploy@${HOST_A}\", \"ssh://${USER_B}@${HOST_B}:2222\"]\n";
/// let facts = hoist_init::config_facts(text).unwrap();
/// assert_eq!(facts.compose.unwrap().hosts.len(), 2);
/// assert_eq!(facts.vars, ["HOST_A", "HOST_B", "USER_B"]);
/// ```
pub fn config_facts(text: &str) -> Result<ConfigFacts, toml::de::Error> {
    let raw: Raw = toml::from_str(text)?;
    let mut written: Vec<&str> = Vec::new();
    written.extend(raw.project.source.as_deref());
    if let Some(r) = &raw.registry {
        written.extend(r.repository.as_deref());
        written.extend(r.mount_from.iter().map(String::as_str));
    }
    if let Some(c) = &raw.deploy.compose {
        written.extend(c.hosts.iter().map(String::as_str));
        for p in c.probes.values() {
            written.extend(p.http.as_deref());
            written.extend(p.tcp.as_deref());
        }
    }
    if let Some(k) = &raw.deploy.kubernetes {
        written.extend(k.context.as_deref());
    }
    let mut vars: Vec<String> = written.iter().flat_map(|w| var_names(w)).collect();
    vars.retain(|v| !v.starts_with("GITHUB_") && !v.starts_with("RUNNER_"));
    vars.sort();
    vars.dedup();
    Ok(ConfigFacts {
        repository: raw.registry.and_then(|r| r.repository),
        compose: raw.deploy.compose.map(|c| ComposeFacts { hosts: c.hosts, known_hosts: c.known_hosts }),
        kubernetes: raw.deploy.kubernetes.is_some(),
        vars,
    })
}

/// The well-formed `${NAME}`s in a value (the loader reports the malformed ones).
fn var_names(value: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        let mut chars = name.chars();
        if chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            names.push(name.to_string());
        }
        rest = &after[end + 1..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_names_table() {
        let cases: &[(&str, &[&str])] = &[
            ("ssh://deploy@${HOST}", &["HOST"]),
            ("${REGISTRY}/shop", &["REGISTRY"]),
            ("${A}${B}:${A}", &["A", "B", "A"]),
            ("plain", &[]),
            ("$HOST ${ not a var} ${1X} ${OK_1}", &["OK_1"]),
            ("${UNCLOSED", &[]),
            ("price $1", &[]),
        ];
        for (value, want) in cases {
            assert_eq!(var_names(value), *want, "{value}");
        }
    }

    #[test]
    fn facts_of_a_config() {
        let text = r#"
[project]
source = "https://${GITHUB_SERVER}/acme/shop"
[registry]
repository = "${REGISTRY}/shop"
[deploy.compose]
hosts = ["ssh://deploy@${HOST_A}"]
known_hosts = "deploy/known_hosts"
[deploy.compose.probes.api]
http = "http://${API_ADDR}/health"
[deploy.kubernetes]
context = "${KUBE_CONTEXT}"
"#;
        let f = config_facts(text).unwrap();
        assert_eq!(f.repository.as_deref(), Some("${REGISTRY}/shop"));
        let c = f.compose.unwrap();
        assert_eq!(c.hosts, ["ssh://deploy@${HOST_A}"]);
        assert_eq!(c.known_hosts.as_deref(), Some("deploy/known_hosts"));
        assert!(f.kubernetes);
        // The runner's own variables are not repository variables.
        assert_eq!(f.vars, ["API_ADDR", "HOST_A", "KUBE_CONTEXT", "REGISTRY"]);
        assert_eq!(config_facts("").unwrap(), ConfigFacts::default());
        assert!(config_facts("[deploy.compose]\nhosts = \"ssh://x\"\n").is_err(), "hosts must be a list");
    }
}
