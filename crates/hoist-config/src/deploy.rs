//! `[deploy.compose]` and `[deploy.kubernetes]`: where and how a release runs.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `[deploy]`
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    pub compose: Option<ComposeConfig>,
    pub kubernetes: Option<KubernetesConfig>,
}

/// `[deploy.compose]`
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ComposeConfig {
    /// The user's compose file(s), relative to the root. Never edited by hoist.
    pub files: Vec<String>,
    /// Compose project name; defaults to `[project] name`.
    #[serde(deserialize_with = "crate::project_name")]
    pub project: Option<String>,
    /// Seconds to wait for every recreated service to become healthy.
    pub timeout: u64,
    /// Seconds a recreated service with neither a healthcheck nor a probe must stay up
    /// without restarting before it counts as healthy.
    pub settle: u64,
    /// How many hoist releases' images to keep on the host when pruning.
    #[schemars(range(min = 1))]
    pub keep: usize,
    /// Where deploy history, locks and the override file live on the host (relative to root).
    pub state_dir: String,
    /// Health probes for services without a compose healthcheck.
    pub probes: BTreeMap<String, Probe>,
    /// Remote hosts to deploy to over SSH (`ssh://user@host[:port]`, `${VAR}` expanded);
    /// empty: the machine hoist runs on.
    pub hosts: Vec<String>,
    /// How many hosts move to a release at a time; each batch is health-gated.
    #[schemars(range(min = 1))]
    pub batch: usize,
    /// A known_hosts file (relative to the root) with the hosts' keys, used besides the
    /// user's own; host keys are always verified.
    pub known_hosts: Option<String>,
    /// Where hoist keeps its state on a remote host (override, history, lock); default
    /// `~/.hoist/<project>`.
    pub remote_dir: Option<String>,
}

impl Default for ComposeConfig {
    fn default() -> Self {
        ComposeConfig {
            files: vec!["docker-compose-prod.yaml".into()],
            project: None,
            timeout: 120,
            settle: 10,
            keep: 3,
            state_dir: ".hoist/deploy".into(),
            probes: BTreeMap::new(),
            hosts: Vec::new(),
            batch: 1,
            known_hosts: None,
            remote_dir: None,
        }
    }
}

/// `[deploy.compose.probes.<service>]`: one of `http` or `tcp`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// A URL that must answer 2xx, e.g. `http://127.0.0.1:18081/health`.
    pub http: Option<String>,
    /// `host:port` that must accept a connection.
    pub tcp: Option<String>,
}

/// `[deploy.kubernetes]`
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// Manifest files or directories, relative to the root.
    pub manifests: Vec<String>,
    /// kubeconfig context; defaults to the current one.
    pub context: Option<String>,
    /// Namespace for namespaced objects that do not set one.
    pub namespace: Option<String>,
    /// Seconds to wait for rollouts.
    #[schemars(range(min = 1))]
    pub timeout: u64,
    /// Pin images by digest (`@sha256:…`) from the registry.
    pub pin_digests: bool,
    /// How many releases of history (Secrets in the namespace) to keep for rollback.
    #[schemars(range(min = 2))]
    pub keep: usize,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        KubernetesConfig {
            manifests: vec!["k8s".into()],
            context: None,
            namespace: None,
            timeout: 300,
            pin_digests: false,
            keep: 10,
        }
    }
}

impl DeployConfig {
    pub(crate) fn validate<'a>(&self, services: impl Iterator<Item = &'a String>) -> Result<(), (String, String)> {
        let services: Vec<&String> = services.collect();
        if let Some(compose) = &self.compose {
            if compose.files.is_empty() {
                return Err(("deploy.compose.files".into(), "name at least one compose file".into()));
            }
            if compose.keep == 0 {
                return Err(("deploy.compose.keep".into(), "must keep at least 1 release".into()));
            }
            if compose.batch == 0 {
                return Err(("deploy.compose.batch".into(), "must move at least 1 host at a time".into()));
            }
            for (i, host) in compose.hosts.iter().enumerate() {
                if !host.starts_with("ssh://") || host.len() <= "ssh://".len() {
                    return Err((
                        format!("deploy.compose.hosts[{i}]"),
                        // Not the value: it may have come from a `${VAR}`.
                        "is not an SSH host; write ssh://user@host or ssh://user@host:port".into(),
                    ));
                }
            }
            for (name, probe) in &compose.probes {
                if !services.contains(&name) {
                    return Err((
                        format!("deploy.compose.probes.{name}"),
                        format!("`{name}` is not a service in [services]"),
                    ));
                }
                if probe.http.is_some() == probe.tcp.is_some() {
                    return Err((format!("deploy.compose.probes.{name}"), "set exactly one of `http` or `tcp`".into()));
                }
            }
        }
        if let Some(k8s) = &self.kubernetes {
            if k8s.manifests.is_empty() {
                return Err((
                    "deploy.kubernetes.manifests".into(),
                    "name at least one manifest file or directory".into(),
                ));
            }
            if k8s.timeout == 0 {
                return Err(("deploy.kubernetes.timeout".into(), "must be at least 1 second".into()));
            }
            if k8s.keep < 2 {
                return Err((
                    "deploy.kubernetes.keep".into(),
                    "must keep at least 2 releases: the new one and the one to roll back to".into(),
                ));
            }
        }
        Ok(())
    }
}
