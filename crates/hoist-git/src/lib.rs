//! The git adapter: every git call hoist makes, through the `git` CLI.
//!
//! The CLI rather than libgit2 or gix, so that users' credential helpers, SSH agents and
//! CI tokens work unchanged (gix cannot push yet; uv and release-plz made the same
//! choice). Every call goes through `hoist_cmd::Cmd`, so a failure carries the command,
//! the directory and git's stderr. Untrusted text (tag messages from PR titles) is passed
//! as a single argument or on stdin, never through a shell.

use std::path::{Path, PathBuf};

use hoist_cmd::{Cmd, CmdError};
use hoist_diag::{Diagnostic, Exit};
use hoist_version::TagRef;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{} is not inside a git repository", .0.display())]
    NotARepo(PathBuf),
    #[error("the repository at {} has no commits yet", .0.display())]
    NoCommits(PathBuf),
    #[error("git remote `{remote}` does not exist in {}", dir.display())]
    NoRemote { remote: String, dir: PathBuf },
    #[error("tag `{tag}` already exists on remote `{remote}` and points to {remote_commit}, not {local_commit}")]
    TagConflict { tag: String, remote: String, local_commit: String, remote_commit: String },
    #[error(transparent)]
    Cmd(#[from] CmdError),
}

impl Diagnostic for GitError {
    fn exit(&self) -> Exit {
        match self {
            GitError::Cmd(e) => e.exit(),
            _ => Exit::User,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            GitError::NotARepo(_) => Some("run hoist inside a git checkout, or pass -C DIR".into()),
            GitError::NoCommits(_) => Some("commit something first; a release tags a commit".into()),
            GitError::NoRemote { remote, .. } => Some(format!(
                "add the remote (`git remote add {remote} URL`) or set `[version] remote` in hoist.toml"
            )),
            GitError::TagConflict { .. } => Some(
                "another run released this version first; fetch the tags (`git fetch --tags`) and run again for the next version"
                    .into(),
            ),
            GitError::Cmd(e) => e.hint(),
        }
    }
}

/// The environment variable holding a token for pushing tags over HTTPS (e.g. GitHub's
/// `GITHUB_TOKEN` in a workflow).
pub const TOKEN_ENV: &str = "HOIST_GIT_TOKEN";

/// A git work tree.
#[derive(Clone)]
pub struct Git {
    root: PathBuf,
    /// `HOIST_GIT_TOKEN` as read when the repository was opened.
    token: Option<String>,
}

impl std::fmt::Debug for Git {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself.
        f.debug_struct("Git").field("root", &self.root).field("token", &self.token.as_ref().map(|_| "***")).finish()
    }
}

/// The outcome of pushing one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    Pushed,
    /// The remote already had this tag at the same commit.
    AlreadyThere,
}

/// A commit's message, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub body: String,
}

impl Git {
    /// Open the repository containing `dir`.
    pub fn open(dir: &Path) -> Result<Git, GitError> {
        let out = Cmd::new("git").args(["rev-parse", "--show-toplevel"]).current_dir(dir).output()?;
        if !out.success() {
            return Err(GitError::NotARepo(dir.to_path_buf()));
        }
        let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty());
        Ok(Git { root: PathBuf::from(out.stdout.trim()), token })
    }

    /// Use this token for HTTPS remotes instead of `HOIST_GIT_TOKEN` (`None`: no token).
    pub fn with_token(mut self, token: Option<String>) -> Git {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn git(&self) -> Cmd {
        // LC_ALL=C so messages we match on (rejections) are in English.
        Cmd::new("git").current_dir(&self.root).env("LC_ALL", "C").env("GIT_TERMINAL_PROMPT", "0")
    }

    /// git for commands that talk to `remote`. With `HOIST_GIT_TOKEN` set (CI with
    /// `persist-credentials: false`), the token goes to git as an HTTP header through
    /// `GIT_CONFIG_*` environment variables: never on a command line, where it could be
    /// read from the process list or end up in an error message.
    ///
    /// The header is scoped to the remote's own URLs (`http.<url>.extraHeader`, as
    /// actions/checkout does), so a submodule, a redirect target or any other host git
    /// talks to in the same run never receives it, and only to `https://` ones: over plain
    /// HTTP it would travel in clear text, so it is withheld with a warning.
    fn remote_git(&self, remote: &str) -> Result<Cmd, GitError> {
        let cmd = self.git();
        let Some(token) = &self.token else { return Ok(cmd) };
        let (scoped, plain) = token_scopes(&self.remote_urls(remote)?);
        for url in &plain {
            tracing::warn!(
                "{TOKEN_ENV} is not sent to remote `{}` at {}: it is plain HTTP; use an https:// URL",
                remote.escape_debug(),
                url.escape_debug()
            );
        }
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
        let mut n: usize = std::env::var("GIT_CONFIG_COUNT").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut cmd = cmd;
        for url in &scoped {
            cmd = cmd
                .env(format!("GIT_CONFIG_KEY_{n}"), format!("http.{url}.extraHeader"))
                .env(format!("GIT_CONFIG_VALUE_{n}"), format!("AUTHORIZATION: basic {basic}"));
            n += 1;
        }
        Ok(cmd.env("GIT_CONFIG_COUNT", n.to_string()))
    }

    /// Every URL git may use for `remote`: fetch and push, after `insteadOf` rewriting.
    fn remote_urls(&self, remote: &str) -> Result<Vec<String>, GitError> {
        let mut urls = Vec::new();
        for push in [false, true] {
            let mut cmd = self.git().args(["remote", "get-url", "--all"]);
            if push {
                cmd = cmd.arg("--push");
            }
            let out = cmd.arg("--").arg(remote).output()?;
            if !out.success() {
                // Not a configured remote (git then treats the name as a URL itself).
                continue;
            }
            for url in out.stdout.lines().map(str::trim).filter(|u| !u.is_empty()) {
                if !urls.iter().any(|u| u == url) {
                    urls.push(url.to_string());
                }
            }
        }
        Ok(urls)
    }

    /// The full SHA of HEAD.
    pub fn head(&self) -> Result<String, GitError> {
        let out = self.git().args(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]).output()?;
        if !out.success() {
            return Err(GitError::NoCommits(self.root.clone()));
        }
        Ok(out.stdout.trim().to_string())
    }

    /// The branch HEAD is on, or `None` when detached (CI checkouts often are).
    pub fn branch(&self) -> Result<Option<String>, GitError> {
        let out = self.git().args(["symbolic-ref", "--quiet", "--short", "HEAD"]).output()?;
        Ok(out.success().then(|| out.stdout.trim().to_string()))
    }

    /// Every tag in the repository, each with the commit it points to (peeled) and where
    /// that commit sits in HEAD's history ([`TagRef::position`]): its index in
    /// `git rev-list --topo-order --reverse HEAD`, so a descendant always comes after its
    /// ancestors, or `None` when HEAD cannot reach it.
    pub fn tags_in_history(&self) -> Result<Vec<TagRef>, GitError> {
        let mut tags = self.all_tags()?;
        if tags.is_empty() {
            return Ok(tags);
        }
        let history = self.git().args(["rev-list", "--topo-order", "--reverse", "HEAD", "--"]).run()?;
        let tagged: std::collections::HashSet<&str> = tags.iter().map(|t| t.commit.as_str()).collect();
        let positions: std::collections::HashMap<String, usize> = history
            .stdout
            .lines()
            .enumerate()
            .filter(|(_, commit)| tagged.contains(commit))
            .map(|(i, commit)| (commit.to_string(), i))
            .collect();
        for tag in &mut tags {
            tag.position = positions.get(&tag.commit).copied();
        }
        Ok(tags)
    }

    /// Every tag in the repository, reachable or not ([`TagRef::position`] left `None`).
    pub fn all_tags(&self) -> Result<Vec<TagRef>, GitError> {
        let out = self
            .git()
            .args(["for-each-ref", "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)", "refs/tags"])
            .run()?;
        Ok(parse_tag_lines(&out.stdout))
    }

    /// The commit message of `rev`.
    pub fn message(&self, rev: &str) -> Result<Message, GitError> {
        let text = self.git().args(["log", "-1", "--format=%B", rev, "--"]).read()?;
        let mut lines = text.lines();
        let subject = lines.next().unwrap_or("").trim().to_string();
        let body = lines.collect::<Vec<_>>().join("\n").trim().to_string();
        Ok(Message { subject, body })
    }

    /// Committer time of `rev`, seconds since the epoch.
    pub fn commit_time(&self, rev: &str) -> Result<i64, GitError> {
        let text = self.git().args(["log", "-1", "--format=%ct", rev, "--"]).read()?;
        text.trim().parse().map_err(|_| {
            GitError::Cmd(CmdError::Failed {
                command: format!("git log -1 --format=%ct {rev}"),
                dir: self.root.display().to_string(),
                status: "unexpected output".into(),
                stderr: text,
            })
        })
    }

    /// The paths that differ between the trees of commits `from` and `to` (git compares
    /// tree and blob hashes, never file dates). A rename lists both its old and new path.
    pub fn changed_paths(&self, from: &str, to: &str) -> Result<Vec<String>, GitError> {
        let out = self
            .git()
            .args(["-c", "core.quotePath=false", "diff", "--name-only", "-z", "--no-renames", "--no-ext-diff"])
            .arg(from)
            .arg(to)
            .arg("--")
            .run()?;
        Ok(split_nul(&out.stdout))
    }

    /// Paths of the work tree that differ from HEAD: modified, staged, deleted and
    /// untracked files (ignored ones excluded). A release builds from the work tree, so
    /// these are inputs too.
    pub fn dirty_paths(&self) -> Result<Vec<String>, GitError> {
        let out = self.git().args(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"]).run()?;
        // Each entry is `XY <path>`; with -z paths are verbatim, NUL-terminated.
        Ok(split_nul(&out.stdout).into_iter().filter_map(|e| e.get(3..).map(str::to_string)).collect())
    }

    /// Whether this is a shallow clone (GitHub's checkout defaults to depth 1).
    pub fn is_shallow(&self) -> Result<bool, GitError> {
        Ok(self.git().args(["rev-parse", "--is-shallow-repository"]).read()? == "true")
    }

    /// Whether `remote` is configured.
    pub fn has_remote(&self, remote: &str) -> Result<bool, GitError> {
        let out = self.git().args(["remote"]).read()?;
        Ok(out.lines().any(|l| l.trim() == remote))
    }

    fn require_remote(&self, remote: &str) -> Result<(), GitError> {
        if self.has_remote(remote)? {
            Ok(())
        } else {
            Err(GitError::NoRemote { remote: remote.into(), dir: self.root.clone() })
        }
    }

    /// Fetch the remote's tags; in a shallow clone also the history they need.
    pub fn fetch_tags(&self, remote: &str) -> Result<(), GitError> {
        self.require_remote(remote)?;
        let mut cmd = self.remote_git(remote)?.arg("fetch").arg("--quiet").arg("--tags").arg("--force");
        if self.is_shallow()? {
            cmd = cmd.arg("--unshallow");
        }
        cmd.arg(remote).run()?;
        Ok(())
    }

    /// Create an annotated tag at `commit`. The message goes in through stdin (`-F -`), so
    /// no byte of it is interpreted by anything.
    pub fn create_tag(&self, name: &str, commit: &str, message: &str) -> Result<(), GitError> {
        let message = if message.trim().is_empty() { name } else { message };
        self.git()
            .args(["tag", "--annotate", "--cleanup=verbatim", "--file=-", "--", name, commit])
            .stdin(message.as_bytes().to_vec())
            .run()?;
        Ok(())
    }

    /// The commit a local tag points to, if it exists.
    pub fn tag_commit(&self, name: &str) -> Result<Option<String>, GitError> {
        let out =
            self.git().args(["rev-parse", "--verify", "--quiet", &format!("refs/tags/{name}^{{commit}}")]).output()?;
        Ok(out.success().then(|| out.stdout.trim().to_string()))
    }

    /// Delete a local tag (used only to undo a tag this run created).
    pub fn delete_tag(&self, name: &str) -> Result<(), GitError> {
        self.git().args(["tag", "--delete", "--", name]).run()?;
        Ok(())
    }

    /// The commit a tag points to on the remote, if the remote has it.
    pub fn remote_tag_commit(&self, remote: &str, name: &str) -> Result<Option<String>, GitError> {
        let refname = format!("refs/tags/{name}");
        let text = self
            .remote_git(remote)?
            .args(["ls-remote", "--tags", remote, &refname, &format!("{refname}^{{}}")])
            .read()?;
        let mut direct = None;
        let mut peeled = None;
        for line in text.lines() {
            if let Some((sha, r)) = line.split_once('\t') {
                if r.ends_with("^{}") {
                    peeled = Some(sha.to_string());
                } else {
                    direct = Some(sha.to_string());
                }
            }
        }
        Ok(peeled.or(direct))
    }

    /// Push exactly one tag; never forced. A rejection because the remote already has the
    /// tag becomes [`GitError::TagConflict`] (or `AlreadyThere` when it is the same commit).
    pub fn push_tag(&self, remote: &str, name: &str) -> Result<PushOutcome, GitError> {
        self.require_remote(remote)?;
        let refspec = format!("refs/tags/{name}:refs/tags/{name}");
        let cmd = self.remote_git(remote)?.args(["push", "--porcelain", "--no-verify", remote, &refspec]);
        let out = cmd.output()?;
        if out.success() {
            return Ok(PushOutcome::Pushed);
        }
        let local = self.tag_commit(name)?.unwrap_or_default();
        if let Some(remote_commit) = self.remote_tag_commit(remote, name)? {
            if remote_commit == local {
                return Ok(PushOutcome::AlreadyThere);
            }
            return Err(GitError::TagConflict {
                tag: name.into(),
                remote: remote.into(),
                local_commit: local,
                remote_commit,
            });
        }
        Err(GitError::Cmd(CmdError::Failed {
            command: cmd.display(),
            dir: self.root.display().to_string(),
            status: describe(&out),
            stderr: hoist_cmd::tail(&out.stderr, hoist_cmd::TAIL_LINES),
        }))
    }
}

/// Which of a remote's URLs get the token header (`https://`), and which are refused it
/// for being plain `http://`. Other schemes (ssh, file) never use HTTP headers.
fn token_scopes(urls: &[String]) -> (Vec<String>, Vec<String>) {
    let scheme = |url: &str, s: &str| url.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s));
    let scoped = urls.iter().filter(|u| scheme(u, "https://")).cloned().collect();
    let plain = urls.iter().filter(|u| scheme(u, "http://")).cloned().collect();
    (scoped, plain)
}

fn describe(out: &hoist_cmd::Output) -> String {
    match out.status.code() {
        Some(c) => format!("exit code {c}"),
        None => "terminated".into(),
    }
}

fn split_nul(text: &str) -> Vec<String> {
    text.split('\0').filter(|p| !p.is_empty()).map(str::to_string).collect()
}

fn parse_tag_lines(text: &str) -> Vec<TagRef> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split('\0');
            let name = parts.next()?.to_string();
            let object = parts.next()?.to_string();
            let peeled = parts.next().unwrap_or("").to_string();
            if name.is_empty() {
                return None;
            }
            Some(TagRef { name, commit: if peeled.is_empty() { object } else { peeled }, position: None })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_only_for_https_urls() {
        let urls: Vec<String> = [
            "https://github.com/acme/shop.git",
            "HTTPS://h/x",
            "http://h/y",
            "git@github.com:a/b",
            "/srv/x.git",
            "ssh://h/z",
        ]
        .map(String::from)
        .to_vec();
        let (scoped, plain) = token_scopes(&urls);
        assert_eq!(scoped, ["https://github.com/acme/shop.git", "HTTPS://h/x"]);
        assert_eq!(plain, ["http://h/y"]);
    }

    #[test]
    fn parses_lightweight_and_annotated() {
        let text = "v1.0.0\0aaa\0\nv1.1.0\0tagobj\0bbb\n";
        let tags = parse_tag_lines(text);
        assert_eq!(
            tags,
            vec![
                TagRef { name: "v1.0.0".into(), commit: "aaa".into(), position: None },
                TagRef { name: "v1.1.0".into(), commit: "bbb".into(), position: None },
            ]
        );
    }
}
