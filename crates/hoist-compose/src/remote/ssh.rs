//! The SSH transport: the system `ssh` (so `~/.ssh/config`, agents, `ProxyJump` and
//! known_hosts work as users expect), one multiplexed connection per host per run.
//!
//! The first command opens the master (`ControlMaster=auto`, `ControlPath` in a private
//! temp dir, `ControlPersist` so it outlives that command); every later command, forward
//! and the engine socket ride on it; [`Connection`]'s drop closes it (`ssh -O exit`). A
//! runner killed mid-run leaves a master that exits by itself after [`PERSIST_SECS`] idle.
//!
//! Host keys are always verified (`StrictHostKeyChecking=yes`) against the user's
//! known_hosts plus `[deploy.compose] known_hosts`: an unknown or changed key is
//! [`RemoteError::HostKey`], which names the host and how to pin it.
//!
//! A command over ssh is one string for the remote login shell: [`Connection::run`] takes
//! an argument list and quotes every argument (POSIX single quotes, `shlex`), so no text
//! passes through that shell unquoted.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use hoist_cmd::{Cmd, CmdError};

use super::RemoteError;

/// How long a master whose runner is gone stays up with nothing to do.
pub const PERSIST_SECS: u64 = 60;

/// `ssh://[user@]host[:port]`, checked so none of it can be read as an ssh option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshUrl {
    pub user: Option<String>,
    pub host: String,
    pub port: u16,
}

impl SshUrl {
    pub fn parse(text: &str) -> Result<SshUrl, RemoteError> {
        let bad = |why: &str| RemoteError::Url { url: text.to_string(), reason: why.to_string() };
        let rest = text.strip_prefix("ssh://").ok_or_else(|| bad("it must start with ssh://"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        if let Some(u) = user
            && (u.is_empty()
                || u.starts_with('-')
                || !u.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(bad("the user may hold only letters, digits, `.`, `_` and `-`"));
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("an IPv6 address needs its closing `]`"))?;
            if h.is_empty() || !h.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
                return Err(bad("not an IPv6 address in `[…]`"));
            }
            (h.to_string(), after.strip_prefix(':'))
        } else {
            let (h, p) = match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            };
            if h.is_empty()
                || h.starts_with(['-', '.'])
                || !h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            {
                return Err(bad("the host must be a name or an address (letters, digits, `.`, `-`)"));
            }
            (h.to_string(), p)
        };
        let port = match port {
            None => 22,
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| bad("the port must be 1-65535"))?,
        };
        Ok(SshUrl { user: user.map(String::from), host, port })
    }

    /// How known_hosts names this host: `host`, or `[host]:port` off port 22.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 { self.host.clone() } else { format!("[{}]:{}", self.host, self.port) }
    }
}

impl fmt::Display for SshUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = self.user.as_ref().map(|u| format!("{u}@")).unwrap_or_default();
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        write!(f, "ssh://{user}{host}:{}", self.port)
    }
}

/// Quote `argv` into one command string for a POSIX shell.
pub fn shell_command(argv: &[&str]) -> Result<String, RemoteError> {
    let mut out = Vec::with_capacity(argv.len());
    for a in argv {
        let q = shlex::try_quote(a).map_err(|_| RemoteError::Unquotable { text: a.escape_debug().to_string() })?;
        out.push(q.into_owned());
    }
    Ok(out.join(" "))
}

/// One multiplexed connection to one host.
pub struct Connection {
    pub url: SshUrl,
    dir: tempfile::TempDir,
    known_hosts: Vec<PathBuf>,
    program: OsString,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").field("url", &self.url.to_string()).finish()
    }
}

impl Connection {
    /// Connect (opening the master) and check that a shell answers. `known_hosts` is the
    /// project's pinned keys, used besides the user's own.
    pub fn open(url: SshUrl, known_hosts: Option<&Path>) -> Result<Connection, RemoteError> {
        let dir = tempfile::Builder::new()
            .prefix("hoist-ssh-")
            .tempdir()
            .map_err(|e| RemoteError::Local { what: "a private directory for the ssh connection".into(), source: e })?;
        let mut files = vec![PathBuf::from("~/.ssh/known_hosts"), PathBuf::from("~/.ssh/known_hosts2")];
        if let Some(k) = known_hosts {
            if k.to_string_lossy().contains('"') {
                return Err(RemoteError::Url {
                    url: url.to_string(),
                    reason: format!("the known_hosts path {} holds a `\"`", k.display()),
                });
            }
            files.push(k.to_path_buf());
        }
        // `HOIST_SSH` names another ssh client (the same options as OpenSSH's).
        let program = std::env::var_os("HOIST_SSH").unwrap_or_else(|| "ssh".into());
        let conn = Connection { url, dir, known_hosts: files, program };
        conn.check()?;
        Ok(conn)
    }

    fn control_path(&self) -> PathBuf {
        self.dir.path().join("ctl")
    }

    /// A private path next to the control socket (forwarded sockets).
    pub fn private_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn base(&self) -> Cmd {
        let known = self
            .known_hosts
            .iter()
            .map(|p| {
                let s = p.to_string_lossy();
                if s.contains(char::is_whitespace) { format!("\"{s}\"") } else { s.into_owned() }
            })
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = Cmd::new(&self.program)
            .arg("-o")
            .arg(format!("ControlPath={}", self.control_path().display()))
            .args(["-o", "ControlMaster=auto", "-o"])
            .arg(format!("ControlPersist={PERSIST_SECS}"))
            .args(["-o", "StrictHostKeyChecking=yes", "-o"])
            .arg(format!("UserKnownHostsFile={known}"))
            .args(["-o", "BatchMode=yes", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"])
            .args(["-o", "ConnectTimeout=15", "-p"])
            .arg(self.url.port.to_string());
        if let Some(u) = &self.url.user {
            cmd = cmd.arg("-l").arg(u);
        }
        cmd
    }

    /// `argv` run on the host, every argument quoted for its shell.
    pub fn run(&self, argv: &[&str]) -> Result<Cmd, RemoteError> {
        let line = shell_command(argv)?;
        Ok(self.base().args(["-T", "--"]).arg(&self.url.host).arg(line))
    }

    /// A `sh -c SCRIPT` on the host with its positional arguments (`$1`…); the script is
    /// hoist's own text, the arguments are quoted.
    pub fn script(&self, script: &str, args: &[&str]) -> Result<Cmd, RemoteError> {
        let mut argv = vec!["sh", "-c", script, "hoist"];
        argv.extend_from_slice(args);
        self.run(&argv)
    }

    /// Run and map ssh's own failures (exit 255) to what they mean.
    pub fn exec(&self, cmd: &Cmd) -> Result<hoist_cmd::Output, RemoteError> {
        let out = cmd.output().map_err(|e| RemoteError::Ssh { host: self.url.to_string(), source: e })?;
        if out.success() {
            return Ok(out);
        }
        if out.status.code() == Some(255) {
            return Err(self.ssh_failure(&out.stderr, cmd));
        }
        Err(RemoteError::Ssh { host: self.url.to_string(), source: failed(cmd, &out) })
    }

    fn ssh_failure(&self, stderr: &str, cmd: &Cmd) -> RemoteError {
        if stderr.contains("Host key verification failed") || stderr.contains("host key is known") {
            let changed = stderr.contains("IDENTIFICATION HAS CHANGED") || stderr.contains("Offending");
            return RemoteError::HostKey {
                host: self.url.to_string(),
                name: self.url.known_hosts_name(),
                port: self.url.port,
                bare: self.url.host.clone(),
                changed,
                files: self.known_hosts.iter().map(|p| p.display().to_string()).collect(),
            };
        }
        RemoteError::Unreachable {
            host: self.url.to_string(),
            stderr: hoist_cmd::tail(stderr, 6).trim_end().to_string(),
            command: cmd.display(),
        }
    }

    fn check(&self) -> Result<(), RemoteError> {
        let cmd = self.run(&["true"])?;
        self.exec(&cmd).map(|_| ())
    }

    /// What the host's engine listens on: its sessions' `DOCKER_HOST` (a `unix://` socket),
    /// else Docker's default socket.
    pub fn docker_socket(&self) -> Result<String, RemoteError> {
        let cmd = self.script(r#"printf '%s' "${DOCKER_HOST:-}""#, &[])?;
        let out = self.exec(&cmd)?.stdout;
        let value = out.trim();
        if value.is_empty() {
            return Ok("/var/run/docker.sock".into());
        }
        match value.strip_prefix("unix://") {
            Some(path) if path.starts_with('/') => Ok(path.to_string()),
            _ => Err(RemoteError::EngineAddress { host: self.url.to_string(), value: value.to_string() }),
        }
    }

    /// Forward a local unix socket to one on the host, over the master.
    pub fn forward_socket(&self, local: &Path, remote: &str) -> Result<(), RemoteError> {
        let spec = format!("{}:{remote}", local.display());
        let cmd = self.base().args(["-O", "forward", "-L"]).arg(spec).arg("--").arg(&self.url.host);
        self.exec(&cmd).map(|_| ())
    }

    /// Forward a free local port to `host:port` as the host sees it (its own loopback):
    /// what connects to the returned port connects from the host.
    pub fn forward_tcp(&self, target: &str) -> Result<u16, RemoteError> {
        let local = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| RemoteError::Local { what: "a free local port".into(), source: e })?
            .port();
        let spec = format!("127.0.0.1:{local}:{target}");
        let cmd = self.base().args(["-O", "forward", "-L"]).arg(spec).arg("--").arg(&self.url.host);
        self.exec(&cmd)?;
        Ok(local)
    }
}

fn failed(cmd: &Cmd, out: &hoist_cmd::Output) -> CmdError {
    CmdError::Failed {
        command: cmd.display(),
        dir: ".".into(),
        status: format!("{}", out.status),
        stderr: hoist_cmd::tail(if out.stderr.trim().is_empty() { &out.stdout } else { &out.stderr }, 20),
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let cmd = self.base().args(["-O", "exit", "--"]).arg(&self.url.host);
        let _ = cmd.output();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let ok = [
            ("ssh://deploy@app1.example.com", Some("deploy"), "app1.example.com", 22),
            ("ssh://root@10.231.2.2:2222", Some("root"), "10.231.2.2", 2222),
            ("ssh://host", None, "host", 22),
            ("ssh://u@[fd00::2]:22/", Some("u"), "fd00::2", 22),
        ];
        for (text, user, host, port) in ok {
            let u = SshUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((u.user.as_deref(), u.host.as_str(), u.port), (user, host, port), "{text}");
        }
        let bad = [
            "host",
            "http://host",
            "ssh://",
            "ssh://-oProxyCommand=x",
            "ssh://u@-host",
            "ssh://-u@host",
            "ssh://u@host:0",
            "ssh://u@host:99999",
            "ssh://u@ho st",
            "ssh://u@host;reboot",
            "ssh://u;x@host",
            "ssh://u@[fd00::2",
        ];
        for text in bad {
            assert!(SshUrl::parse(text).is_err(), "{text} must be refused");
        }
        assert_eq!(SshUrl::parse("ssh://h:2222").unwrap().known_hosts_name(), "[h]:2222");
        assert_eq!(SshUrl::parse("ssh://h").unwrap().known_hosts_name(), "h");
    }

    /// What the remote shell gets back from the quoted string is exactly the arguments.
    #[test]
    fn commands_are_quoted_for_the_remote_shell() {
        let hostile = ["a b", "$(touch /tmp/x)", "`id`", "x;y", "'q'", "\"dq\"", "a\nb", "*", "~", ""];
        let line = shell_command(&hostile).unwrap();
        let out = Cmd::new("sh").arg("-c").arg(format!("printf '%s\\0' {line}")).read().unwrap();
        let got: Vec<&str> = out.split('\0').collect();
        assert_eq!(&got[..hostile.len()], &hostile[..], "{line}");
        assert!(shell_command(&["a\0b"]).is_err());
    }
}
