//! Bring the project to a set of pins: write hoist's override file, let the user's compose
//! `up` recreate only what changed, check every pinned service runs the exact image, and
//! gate on health. compose's config hashes are cached by a digest of all its inputs, so a
//! deploy of what already runs costs no `config --hash` run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::Deployer;
use crate::error::ComposeError;
use crate::health;
use crate::pins;
use crate::state::{History, Pin, RunResult};

/// How many log lines a failure report shows.
pub const LOG_LINES: usize = 20;

impl Deployer {
    /// Write `pins` and bring the project to them; gate on health.
    pub(super) fn converge(
        &self,
        release: &str,
        pins: &[Pin],
        history: &History,
        say: &dyn Fn(&str),
    ) -> Result<Converged, Failure> {
        let fail = |reason: String| Failure { service: None, reason, logs: String::new(), recreated: Vec::new() };
        let override_file = self.override_path();
        let override_text = pins::render(release, pins);
        write_file(&override_file, override_text.as_bytes()).map_err(|e| fail(error_chain(&e)))?;
        let inputs = self.inputs_digest(&override_text);
        let before = self.containers().map_err(|e| fail(error_chain(&e)))?;
        let cached = history.records.iter().rev().find(|r| {
            r.result == RunResult::Succeeded && inputs.is_some() && r.inputs == inputs && !r.config_hashes.is_empty()
        });
        let hashes = match cached {
            Some(r) => r.config_hashes.clone(),
            None => self.hashes(Some(&override_file)).map_err(|e| fail(error_chain(&e)))?,
        };
        let changed = self.changed(&hashes, &before, pins);
        let all_healthy = || {
            before.values().all(|c| {
                matches!(
                    health::judge(c, self.target.probes.get(c.service().unwrap_or("")), health::run_probe),
                    health::Verdict::Healthy
                )
            })
        };
        // Nothing to do when compose itself would change nothing and everything is healthy.
        if !hashes.is_empty() && changed.is_empty() && all_healthy() {
            say(&format!("{release} is already running and healthy; nothing to do"));
            return Ok(Converged {
                recreated: Vec::new(),
                noop: true,
                inputs,
                hashes,
                timings: BTreeMap::new(),
                unsignalled: Vec::new(),
            });
        }
        say(&format!(
            "{} up ({}): {}",
            self.compose.name(),
            release,
            if changed.is_empty() { "restoring health".to_string() } else { changed.join(", ") }
        ));
        let files = self.files_with(&override_file);
        let up = self.compose.up(&self.project(&files)).stream(|_, line| tracing::debug!("compose: {line}"));
        let after = self.containers().map_err(|e| fail(error_chain(&e)))?;
        let recreated: Vec<String> =
            after.iter().filter(|(s, c)| before.get(*s).is_none_or(|b| b.id != c.id)).map(|(s, _)| s.clone()).collect();
        if let Err(e) = up {
            return Err(Failure {
                service: None,
                reason: format!("{} up failed: {e}", self.compose.name()),
                logs: String::new(),
                recreated,
            });
        }
        // Exactness: every pinned service runs the image ID hoist checked.
        for pin in pins {
            match after.get(&pin.service) {
                Some(c) if c.image == pin.image_id => {}
                Some(c) => {
                    return Err(Failure {
                        service: Some(pin.service.clone()),
                        reason: format!("runs image {} instead of {} ({})", c.image, pin.image_id, pin.image),
                        logs: String::new(),
                        recreated,
                    });
                }
                None => {
                    return Err(Failure {
                        service: Some(pin.service.clone()),
                        reason: "has no container after compose up (is it in the compose file?)".into(),
                        logs: String::new(),
                        recreated,
                    });
                }
            }
        }
        let mut gate: BTreeMap<String, String> =
            recreated.iter().filter_map(|s| after.get(s).map(|c| (s.clone(), c.id.clone()))).collect();
        // Services that were unhealthy before are gated too, so a rollback waits for them.
        for (s, c) in &after {
            if !matches!(health::judge(c, self.target.probes.get(s), |_| Err(String::new())), health::Verdict::Healthy)
            {
                gate.insert(s.clone(), c.id.clone());
            }
        }
        if !gate.is_empty() {
            say(&format!(
                "waiting up to {}s for {} to be healthy",
                self.target.timeout.as_secs(),
                gate.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        let unsignalled: Vec<String> = gate
            .keys()
            .filter(|s| after.get(*s).is_some_and(|c| !health::has_signal(c, self.target.probes.get(*s))))
            .cloned()
            .collect();
        if !unsignalled.is_empty() {
            say(&format!(
                "no health signal (no healthcheck, no [deploy.compose.probes]) for {}: each must stay up without restarting for {}s",
                unsignalled.join(", "),
                self.target.settle.as_secs()
            ));
        }
        let gate_times = health::Gate { timeout: self.target.timeout, settle: self.target.settle };
        let took = health::wait(&self.docker, &gate, &self.target.probes, gate_times).map_err(|u| Failure {
            logs: self.docker.logs_tail(&u.container, LOG_LINES),
            service: Some(u.service),
            reason: u.reason,
            recreated: recreated.clone(),
        })?;
        // The same inputs gave compose these hashes; the new containers carry them.
        // Milliseconds are all the poll can tell apart.
        let timings = took.into_iter().map(|(s, d)| (s, (d.as_secs_f64() * 1000.0).round() / 1000.0)).collect();
        Ok(Converged { recreated, noop: false, inputs, hashes, timings, unsignalled })
    }

    /// A digest of compose's inputs: the compose CLI, the user's files, hoist's override,
    /// the project's `.env`, and the values of the variables the files name (plus
    /// `COMPOSE_*` and `DOCKER_*`). `None` when a file cannot be read (no caching then).
    fn inputs_digest(&self, override_text: &str) -> Option<String> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(serde_json::to_string(&self.compose).unwrap_or_default().as_bytes());
        field(self.target.project.as_bytes());
        field(self.target.dir.as_os_str().as_encoded_bytes());
        let mut names: BTreeSet<String> = BTreeSet::new();
        for f in &self.target.files {
            let text = std::fs::read(self.target.dir.join(f)).ok()?;
            names.extend(variable_names(&String::from_utf8_lossy(&text)));
            field(f.as_os_str().as_encoded_bytes());
            field(&text);
        }
        field(override_text.as_bytes());
        field(&std::fs::read(self.target.dir.join(".env")).unwrap_or_default());
        for (k, v) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("COMPOSE_") || k.starts_with("DOCKER_") {
                names.insert(k);
            }
            let _ = v;
        }
        for name in names {
            field(name.as_bytes());
            field(std::env::var_os(&name).unwrap_or_default().as_encoded_bytes());
        }
        Some(format!("sha256:{:x}", h.finalize()))
    }
}

/// An error and its causes on one line each (compose's stderr is in the cause).
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!("\n{s}"));
        source = s.source();
    }
    text
}

/// What converging did.
#[derive(Debug)]
pub(super) struct Converged {
    pub(super) recreated: Vec<String>,
    pub(super) noop: bool,
    pub(super) inputs: Option<String>,
    pub(super) hashes: BTreeMap<String, String>,
    /// Seconds each gated service took to become healthy after `up`.
    pub(super) timings: BTreeMap<String, f64>,
    /// Gated services with neither a healthcheck nor a probe, judged by the settle time.
    pub(super) unsignalled: Vec<String>,
}

/// The variable names a compose file interpolates (`$NAME`, `${NAME…}`); `$$` is a literal.
fn variable_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            if b.get(i + 1) == Some(&b'$') {
                i += 2;
                continue;
            }
            let start = if b.get(i + 1) == Some(&b'{') { i + 2 } else { i + 1 };
            let mut end = start;
            while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                end += 1;
            }
            if end > start {
                out.insert(text[start..end].to_string());
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Why converging failed (before it becomes an error with the rollback's outcome).
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) service: Option<String>,
    pub(super) reason: String,
    pub(super) logs: String,
    pub(super) recreated: Vec<String>,
}

impl Failure {
    pub(super) fn describe(&self) -> String {
        match &self.service {
            Some(s) => format!("`{s}` {}", self.reason),
            None => self.reason.clone(),
        }
    }

    pub(super) fn into_error(self, release: &str, after: String) -> ComposeError {
        ComposeError::Unhealthy {
            release: release.to_string(),
            service: self.service.unwrap_or_else(|| "compose".into()),
            reason: self.reason,
            logs: self.logs,
            after,
        }
    }
}

/// Write `bytes` to `path`, creating its directory.
pub(super) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ComposeError> {
    let err = |e: std::io::Error| ComposeError::State { path: path.to_path_buf(), message: e.to_string() };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::write(path, bytes).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolated_variable_names() {
        let text = "image: ${REGISTRY:-x}/a:$TAG\nprice: $$5\nenv: ${A_B?err} $1 ${}";
        let got: Vec<String> = variable_names(text).into_iter().collect();
        assert_eq!(got, ["1", "A_B", "REGISTRY", "TAG"]);
    }
}
