//! The one wrapper through which hoist runs external programs (git, compose, docker, builds).
//!
//! Every failure carries the command line, the directory it ran in and the tail of its
//! stderr, so an error names exactly what to rerun by hand. Arguments are passed as a list
//! and never through a shell: untrusted text (PR titles, tags) stays one argument.
//! Arguments marked secret are shown as `***` everywhere.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use hoist_diag::{Diagnostic, Exit};

/// How many trailing lines of output an error keeps.
pub const TAIL_LINES: usize = 20;

/// A command to run: program, arguments, directory and environment.
#[derive(Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<Arg>,
    dir: Option<PathBuf>,
    env: BTreeMap<OsString, Option<OsString>>,
    stdin: Option<Vec<u8>>,
}

#[derive(Clone)]
struct Arg {
    value: OsString,
    secret: bool,
}

/// What a finished command produced.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }
}

/// Why a command could not be run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("`{program}` was not found on PATH (running `{command}` in {dir})")]
    NotFound { program: String, command: String, dir: String },
    #[error("could not start `{command}` in {dir}")]
    Spawn {
        command: String,
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed in {dir} ({status}){}", tail_suffix(.stderr))]
    Failed { command: String, dir: String, status: String, stderr: String },
}

fn tail_suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() { String::new() } else { format!(":\n{}", stderr.trim_end()) }
}

impl CmdError {
    /// The rendered command line (secrets masked).
    pub fn command(&self) -> &str {
        match self {
            CmdError::NotFound { command, .. } | CmdError::Spawn { command, .. } | CmdError::Failed { command, .. } => {
                command
            }
        }
    }

    /// The stderr tail of a failed command, if it ran.
    pub fn stderr(&self) -> Option<&str> {
        match self {
            CmdError::Failed { stderr, .. } => Some(stderr),
            _ => None,
        }
    }
}

impl Diagnostic for CmdError {
    fn exit(&self) -> Exit {
        match self {
            CmdError::NotFound { .. } => Exit::User,
            _ => Exit::Unexpected,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            CmdError::NotFound { program, .. } => {
                Some(format!("install `{program}` or put it on PATH, then run again"))
            }
            _ => None,
        }
    }
}

impl Cmd {
    pub fn new(program: impl Into<OsString>) -> Self {
        Cmd { program: program.into(), args: Vec::new(), dir: None, env: BTreeMap::new(), stdin: None }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(Arg { value: arg.into(), secret: false });
        self
    }

    /// An argument that must never be shown (a password, a token).
    pub fn secret_arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(Arg { value: arg.into(), secret: true });
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(|a| Arg { value: a.into(), secret: false }));
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.insert(key.into(), Some(value.into()));
        self
    }

    pub fn env_remove(mut self, key: impl Into<OsString>) -> Self {
        self.env.insert(key.into(), None);
        self
    }

    /// Bytes written to the program's stdin (then closed).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    pub fn program(&self) -> &std::ffi::OsStr {
        &self.program
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The command line as a user would type it, secrets masked. For display only.
    pub fn display(&self) -> String {
        let mut out = quote(&self.program.to_string_lossy());
        for arg in &self.args {
            out.push(' ');
            if arg.secret {
                out.push_str("***");
            } else {
                out.push_str(&quote(&arg.value.to_string_lossy()));
            }
        }
        out
    }

    fn dir_display(&self) -> String {
        match &self.dir {
            Some(d) => d.display().to_string(),
            None => std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_else(|_| ".".into()),
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(self.args.iter().map(|a| &a.value));
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd
    }

    fn spawn_error(&self, source: std::io::Error) -> CmdError {
        if source.kind() == std::io::ErrorKind::NotFound {
            CmdError::NotFound {
                program: self.program.to_string_lossy().into_owned(),
                command: self.display(),
                dir: self.dir_display(),
            }
        } else {
            CmdError::Spawn { command: self.display(), dir: self.dir_display(), source }
        }
    }

    fn failed(&self, status: ExitStatus, stderr: &str) -> CmdError {
        CmdError::Failed {
            command: self.display(),
            dir: self.dir_display(),
            status: describe_status(status),
            stderr: tail(stderr, TAIL_LINES),
        }
    }

    /// Run to completion, capturing stdout and stderr, whatever the exit status.
    pub fn output(&self) -> Result<Output, CmdError> {
        tracing::debug!(command = %self.display(), dir = %self.dir_display(), "run");
        let mut cmd = self.command();
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().map_err(|e| self.spawn_error(e))?;
        if let Some(bytes) = &self.stdin {
            let mut stdin = child.stdin.take().expect("stdin is piped");
            let bytes = bytes.clone();
            // A writer thread, so a program that fills its stdout before reading stdin cannot deadlock us.
            std::thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            });
        }
        let out = child.wait_with_output().map_err(|e| self.spawn_error(e))?;
        Ok(Output {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Run and require success; the error carries the command, directory and stderr.
    pub fn run(&self) -> Result<Output, CmdError> {
        let out = self.output()?;
        if out.status.success() {
            Ok(out)
        } else {
            let detail = if out.stderr.trim().is_empty() { &out.stdout } else { &out.stderr };
            Err(self.failed(out.status, detail))
        }
    }

    /// Run and return trimmed stdout on success.
    pub fn read(&self) -> Result<String, CmdError> {
        Ok(self.run()?.stdout.trim_end().to_string())
    }

    /// Run, calling `on_line` for every line of stdout and stderr as it arrives
    /// (interleaved in arrival order per stream). On failure the error carries the
    /// last [`TAIL_LINES`] lines of the combined output.
    pub fn stream(&self, mut on_line: impl FnMut(Stream, &str) + Send) -> Result<(), CmdError> {
        tracing::debug!(command = %self.display(), dir = %self.dir_display(), "stream");
        let mut cmd = self.command();
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().map_err(|e| self.spawn_error(e))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel::<(Stream, String)>();
        let tx2 = tx.clone();
        let t1 = std::thread::spawn(move || pump(stdout, Stream::Stdout, tx));
        let t2 = std::thread::spawn(move || pump(stderr, Stream::Stderr, tx2));
        let mut last: std::collections::VecDeque<String> = std::collections::VecDeque::new();
        for (stream, line) in rx {
            on_line(stream, &line);
            if last.len() == TAIL_LINES {
                last.pop_front();
            }
            last.push_back(line);
        }
        let _ = t1.join();
        let _ = t2.join();
        let status = child.wait().map_err(|e| self.spawn_error(e))?;
        if status.success() {
            Ok(())
        } else {
            let joined: Vec<String> = last.into_iter().collect();
            Err(self.failed(status, &joined.join("\n")))
        }
    }
}

/// Which output stream a streamed line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

fn pump(reader: impl Read, stream: Stream, tx: std::sync::mpsc::Sender<(Stream, String)>) {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end_matches(['\n', '\r']).to_string();
                if tx.send((stream, line)).is_err() {
                    break;
                }
            }
        }
    }
}

impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cmd").field("command", &self.display()).field("dir", &self.dir).finish()
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                if let Some(sig) = status.signal() {
                    return format!("killed by signal {sig}");
                }
            }
            "terminated".into()
        }
    }
}

/// Quote for display the way a POSIX shell would need it. Never used to build a command.
fn quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%^".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_and_masks() {
        let cmd = Cmd::new("git").arg("tag").arg("-m").arg("fix $(rm -rf /)").secret_arg("hunter2");
        assert_eq!(cmd.display(), "git tag -m 'fix $(rm -rf /)' ***");
    }

    #[test]
    fn not_found_names_program() {
        let err = Cmd::new("hoist-no-such-program-xyz").run().unwrap_err();
        assert!(matches!(err, CmdError::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("hoist-no-such-program-xyz"));
        assert_eq!(err.exit(), Exit::User);
    }

    #[test]
    fn failure_carries_dir_and_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let err = Cmd::new("sh").args(["-c", "echo boom >&2; exit 3"]).current_dir(dir.path()).run().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("exit code 3"), "{text}");
        assert!(text.contains("boom"), "{text}");
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
    }

    #[test]
    fn arguments_are_not_split_or_interpreted() {
        let out = Cmd::new("printf").arg("%s|").arg("a b; $(echo x) `y`").read().unwrap();
        assert_eq!(out, "a b; $(echo x) `y`|");
    }

    #[test]
    fn stdin_is_fed() {
        let out = Cmd::new("cat").stdin("hello").read().unwrap();
        assert_eq!(out, "hello");
    }

    #[test]
    fn stream_delivers_lines_and_tail_on_failure() {
        let mut seen = Vec::new();
        let err = Cmd::new("sh")
            .args(["-c", "for i in $(seq 1 30); do echo line$i; done; exit 1"])
            .stream(|_, l| seen.push(l.to_string()))
            .unwrap_err();
        assert_eq!(seen.len(), 30);
        let stderr = err.stderr().unwrap();
        assert!(stderr.starts_with("line11"), "{stderr}");
        assert!(stderr.ends_with("line30"), "{stderr}");
    }
}
