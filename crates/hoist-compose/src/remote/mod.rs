//! Deploy to a compose host over SSH: the transport ([`ssh`]), hoist's state on the host
//! ([`host`]: files written atomically, the lock with its heartbeat), and a [`Session`]
//! that makes a [`Target`] the usual [`crate::Deployer`] runs against.
//!
//! Engine and compose calls reach the host through ONE forwarded unix socket: the host
//! engine's socket, forwarded over the multiplexed connection to a private path here, is
//! the `DOCKER_HOST` of every `docker` and compose call. Chosen over running commands on
//! the host because no engine or compose call then passes through a remote shell (service
//! names, tags and image references travel as Docker API fields, never as shell text), the
//! host needs only the engine and sshd (no compose, no docker CLI), and every call is the
//! same one the local deploy makes. Chosen over Docker's own `ssh://` transport because that
//! runs `ssh` itself, per call, with options hoist cannot add (the ControlPath, the pinned
//! known_hosts). The pull is the host engine's: the credentials the docker CLI sends for it
//! travel in the API request and are never written on the host.
//!
//! Probes from `hoist.toml` run from the host: each probed `host:port` is forwarded over
//! the same connection, so the TCP connection to the service starts on the host.
//!
//! State on the host, under `remote_dir` (default `~/.hoist/<project>`): the history and
//! the pinned override (uploaded after every save, temp file + rename on the host), the
//! compose files of the release with the `.env` they read (`compose/`), and the lock.
//! Compose itself reads the copies kept here, so a bind mount's relative path means a path
//! on the runner: slice 1 supports services without relative bind mounts.

pub mod host;
pub mod ssh;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hoist_cmd::CmdError;
use hoist_diag::{Diagnostic, Exit};

pub use self::host::{HostLock, HostState, STALE_SECS};
pub use self::ssh::{Connection, SshUrl};
use crate::deploy::{StateSync, Target};
use crate::error::ComposeError;
use crate::health::ProbeSpec;

/// Why a remote host could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("`{url}` is not a host hoist can deploy to: {reason}")]
    Url { url: String, reason: String },
    #[error("{host}: the host key is {}", if *changed { "not the one pinned for it (it CHANGED)" } else { "unknown (no known_hosts entry pins it)" })]
    HostKey { host: String, name: String, bare: String, port: u16, changed: bool, files: Vec<String> },
    #[error("{host} cannot be reached over ssh:\n{stderr}")]
    Unreachable { host: String, stderr: String, command: String },
    #[error("{host}: a command over ssh failed")]
    Ssh {
        host: String,
        #[source]
        source: CmdError,
    },
    #[error("{host}: its sessions' DOCKER_HOST is `{value}`; hoist reaches only an engine on a unix socket")]
    EngineAddress { host: String, value: String },
    #[error("text with a NUL byte cannot be passed to a remote command: {text}")]
    Unquotable { text: String },
    #[error("cannot make {what}")]
    Local {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{host}: {}", locked_text(path, holder, *age, *stale))]
    Locked { host: String, path: String, holder: String, age: u64, stale: bool },
    #[error("{host}: hoist's state file {path} is unusable: {reason}")]
    State { host: String, path: String, reason: String },
    #[error("{count} hosts in [deploy.compose] hosts: deploying to several hosts (in batches) is not supported yet")]
    SeveralHosts { count: usize },
}

fn locked_text(path: &str, holder: &str, age: u64, stale: bool) -> String {
    if stale {
        format!("the deploy lock {path} is stale: {holder}, last heartbeat {age} s ago")
    } else {
        format!("another deploy holds the lock {path}: {holder} (heartbeat {age} s ago)")
    }
}

impl Diagnostic for RemoteError {
    fn exit(&self) -> Exit {
        match self {
            RemoteError::Ssh { .. } | RemoteError::Local { .. } => Exit::Unexpected,
            _ => Exit::User,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            RemoteError::Url { .. } => Some("write it as ssh://user@host or ssh://user@host:port".into()),
            RemoteError::HostKey { name, bare, port, changed: false, files, .. } => Some(format!(
                "check the host's key fingerprint (on the host: `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), then pin it: \
                 `ssh-keyscan -p {port} {bare} >> ~/.ssh/known_hosts` (compare `ssh-keygen -lf` of what it wrote), or add the line for \
                 `{name}` to the file [deploy.compose] known_hosts names (read: {})",
                files.join(", ")
            )),
            RemoteError::HostKey { name, bare, port, changed: true, .. } => Some(format!(
                "someone may be in the middle, or the host was reinstalled: deploy nothing until you have checked the new key's \
                 fingerprint on the host; then replace the old entry (`ssh-keygen -R '{name}'`, then `ssh-keyscan -p {port} {bare} \
                 >> ~/.ssh/known_hosts`, or the line in [deploy.compose] known_hosts)"
            )),
            RemoteError::Unreachable { command, .. } => {
                Some(format!("check the address, the network and your key; `{command}` shows ssh's own view"))
            }
            RemoteError::EngineAddress { .. } => {
                Some("let the host's engine listen on a unix socket (Docker's default /var/run/docker.sock)".into())
            }
            RemoteError::Locked { stale: true, .. } => Some(format!(
                "its holder stopped without releasing it (killed, or cut off for over {STALE_SECS} s): run again with --break-lock to remove it"
            )),
            RemoteError::Locked { stale: false, .. } => Some(format!(
                "wait for that deploy to finish; its heartbeat says it runs (a lock is stale after {STALE_SECS} s without one)"
            )),
            RemoteError::State { path, .. } => Some(format!("repair or remove {path} on the host")),
            RemoteError::SeveralHosts { .. } => {
                Some("deploy one host at a time with `hoist deploy compose --host ssh://…`".into())
            }
            _ => None,
        }
    }
}

/// Where a remote deploy goes: the host and hoist's directory there.
#[derive(Debug, Clone)]
pub struct RemoteHost {
    pub url: SshUrl,
    /// The project's pinned host keys, besides the user's known_hosts.
    pub known_hosts: Option<PathBuf>,
    /// hoist's directory on the host (`~/…` is the remote user's home).
    pub remote_dir: String,
}

impl RemoteHost {
    pub fn new(
        url: &str,
        known_hosts: Option<PathBuf>,
        remote_dir: Option<&str>,
        project: &str,
    ) -> Result<RemoteHost, RemoteError> {
        let url = SshUrl::parse(url)?;
        let remote_dir = match remote_dir {
            Some(d) => d.trim_end_matches('/').to_string(),
            None => format!("~/.hoist/{project}"),
        };
        if remote_dir.is_empty() || remote_dir.contains('\0') {
            return Err(RemoteError::Url {
                url: url.to_string(),
                reason: "[deploy.compose] remote_dir is empty".into(),
            });
        }
        Ok(RemoteHost { url, known_hosts, remote_dir })
    }
}

/// One run against one host: the connection, the forwarded engine socket, and a local
/// mirror of the project's files and state that the deployer works in.
#[derive(Debug)]
pub struct Session {
    pub host: RemoteHost,
    pub state: Arc<HostState>,
    mirror: tempfile::TempDir,
    socket: PathBuf,
}

impl Session {
    /// Connect (verifying the host key) and forward the host engine's socket.
    pub fn open(host: RemoteHost) -> Result<Session, RemoteError> {
        let conn = Connection::open(host.url.clone(), host.known_hosts.as_deref())?;
        let remote_socket = conn.docker_socket()?;
        let socket = conn.private_path("docker.sock");
        conn.forward_socket(&socket, &remote_socket)?;
        let mirror = tempfile::Builder::new()
            .prefix("hoist-remote-")
            .tempdir()
            .map_err(|e| RemoteError::Local { what: "a local directory for the remote deploy".into(), source: e })?;
        let state = Arc::new(HostState { conn, dir: host.remote_dir.clone() });
        Ok(Session { host, state, mirror, socket })
    }

    /// `unix://` of the forwarded engine socket.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The local copy of the project's files (compose files, `.env`).
    pub fn project_dir(&self) -> PathBuf {
        self.mirror.path().join("project")
    }

    fn state_dir(&self) -> PathBuf {
        self.mirror.path().join("state")
    }

    /// Take the host's deploy lock (heartbeat kept while it is held).
    pub fn lock(&self, what: &str, break_stale: bool, say: &dyn Fn(&str)) -> Result<HostLock, RemoteError> {
        HostLock::acquire(self.state.clone(), what, break_stale, say)
    }

    /// Copy the host's history and override into the local state dir.
    pub fn fetch_state(&self, project: &str) -> Result<(), RemoteError> {
        let dir = self.state_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| RemoteError::Local { what: format!("{}", dir.display()), source: e })?;
        for name in state_files(project) {
            if let Some(bytes) = self.state.read(&name)? {
                std::fs::write(dir.join(&name), bytes)
                    .map_err(|e| RemoteError::Local { what: format!("{}", dir.join(&name).display()), source: e })?;
            }
        }
        Ok(())
    }

    /// Put the release's files (relative path → bytes) in the local mirror and, with
    /// `upload`, on the host (`compose/` under the remote dir), each written atomically.
    pub fn put_files(&self, files: &BTreeMap<String, Vec<u8>>, upload: bool) -> Result<(), RemoteError> {
        for (rel, bytes) in files {
            let local = self.project_dir().join(rel);
            if let Some(parent) = local.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| RemoteError::Local { what: format!("{}", parent.display()), source: e })?;
            }
            std::fs::write(&local, bytes)
                .map_err(|e| RemoteError::Local { what: format!("{}", local.display()), source: e })?;
            if upload {
                self.state.write(&format!("compose/{rel}"), bytes)?;
            }
        }
        Ok(())
    }

    /// The host's copies of the files of the release deployed last (for a rollback).
    pub fn fetch_files(&self, rels: &[String]) -> Result<BTreeMap<String, Vec<u8>>, RemoteError> {
        let mut out = BTreeMap::new();
        for rel in rels {
            if let Some(bytes) = self.state.read(&format!("compose/{rel}"))? {
                out.insert(rel.clone(), bytes);
            }
        }
        Ok(out)
    }

    /// `base` (the local target from hoist.toml) pointed at the host: the forwarded
    /// engine, the mirror's files, the local copy of the state (uploaded after each save),
    /// the probes forwarded to run from the host.
    pub fn target(&self, base: Target, files: Vec<PathBuf>) -> Result<Target, RemoteError> {
        let mut probes = BTreeMap::new();
        for (service, probe) in base.probes {
            let forwarded = match &probe {
                ProbeSpec::Tcp(addr) => ProbeSpec::Tcp(format!("127.0.0.1:{}", self.state.conn.forward_tcp(addr)?)),
                ProbeSpec::Http(url) => match crate::health::split_http_url(url) {
                    Ok((addr, path)) => {
                        ProbeSpec::Http(format!("http://127.0.0.1:{}{path}", self.state.conn.forward_tcp(&addr)?))
                    }
                    // The probe's own error is reported where it is judged.
                    Err(_) => probe.clone(),
                },
            };
            probes.insert(service, forwarded);
        }
        let state = self.state.clone();
        let project = base.project.clone();
        let sync: StateSync = StateSync(Arc::new(move |dir: &Path| {
            for name in state_files(&project) {
                if let Ok(bytes) = std::fs::read(dir.join(&name)) {
                    state.write(&name, &bytes).map_err(|e| ComposeError::Remote(Box::new(e)))?;
                }
            }
            Ok(())
        }));
        Ok(Target {
            dir: self.project_dir(),
            files,
            state_dir: self.state_dir(),
            docker_host: Some(self.docker_host()),
            probes,
            sync: Some(sync),
            ..base
        })
    }
}

/// The state files of `project` that live on the host.
fn state_files(project: &str) -> [String; 2] {
    [format!("history-{project}.json"), format!("override-{project}.yaml")]
}

/// The files of the release to copy: each compose file (relative to the project root)
/// and the `.env` next to them, from `commit` (`git show`) or, without one, the worktree.
pub fn release_files(
    root: &Path,
    files: &[PathBuf],
    commit: Option<&str>,
) -> Result<BTreeMap<String, Vec<u8>>, ComposeError> {
    let mut rels = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(f);
        if rel.is_absolute() || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
            return Err(ComposeError::Invalid(format!(
                "compose file {}: a remote deploy copies files inside the project only",
                f.display()
            )));
        }
        rels.push(rel.to_string_lossy().into_owned());
    }
    let mut out = BTreeMap::new();
    for (rel, optional) in rels.iter().map(|r| (r.clone(), false)).chain([(".env".to_string(), true)]) {
        let bytes = match commit {
            Some(c) => {
                let cmd = hoist_cmd::Cmd::new("git").arg("show").arg(format!("{c}:{rel}")).current_dir(root);
                let o = cmd.output()?;
                if o.success() {
                    Some(o.stdout.into_bytes())
                } else if optional {
                    None
                } else {
                    cmd.run()?;
                    None
                }
            }
            None => match std::fs::read(root.join(&rel)) {
                Ok(b) => Some(b),
                Err(_) if optional => None,
                Err(e) => {
                    return Err(ComposeError::State { path: root.join(&rel), message: e.to_string() });
                }
            },
        };
        if let Some(b) = bytes {
            out.insert(rel, b);
        }
    }
    Ok(out)
}
