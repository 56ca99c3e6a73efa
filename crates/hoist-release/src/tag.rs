//! Which release a command works on: the PR title, the tags, HEAD, and `--tag`.
//!
//! Shared by `version`, `tag` and every later step, so they all agree on the release.

use std::path::{Path, PathBuf};

use hoist_config::Config;
use hoist_diag::Report;
use hoist_git::Git;
use hoist_version::naming::ReleaseRef;
use hoist_version::{Next, NextRelease, Release, Scan, TagFormat};
use serde::{Deserialize, Serialize};

use crate::inline;
use crate::report::Reporter;

/// The release a build, image, push or deploy step works on.
pub type ReleaseTag = ReleaseRef;

/// Where the PR title came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TitleSource {
    /// `--pr-title`
    Flag,
    /// `pull_request.title` in `$GITHUB_EVENT_PATH`
    GithubEvent,
    /// The body's first line of a `Merge pull request #N` commit.
    MergeCommit,
    /// HEAD's subject (a squash merge puts the PR title there).
    Commit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Title {
    pub text: String,
    pub source: TitleSource,
}

/// The repository's release state at HEAD.
#[derive(Debug)]
pub struct State {
    pub git: Git,
    pub head: String,
    pub format: TagFormat,
    pub scan: Scan,
}

impl State {
    /// Open the repository at `dir`, make sure its tags are present, and sort them.
    pub fn load(config: &Config, dir: &Path, reporter: &dyn Reporter) -> Result<State, Report> {
        let git = Git::open(dir)?;
        let head = git.head()?;
        ensure_tags(&git, config, reporter)?;
        let format = config.version.tag_format();
        let scan = hoist_version::scan(&config.version.formats(), &git.tags_in_history()?);
        for ignored in &scan.ignored {
            reporter.detail(&format!("ignored tag {}: {}", inline(&ignored.tag), inline(&ignored.reason.to_string())));
        }
        Ok(State { git, head, format, scan })
    }

    /// A release tags the branch it is cut from; a detached HEAD is refused unless allowed
    /// (CI checkouts of a merge commit are detached).
    pub fn require_branch(&self, allow_detached: bool) -> Result<(), Report> {
        if !allow_detached && self.git.branch()?.is_none() {
            return Err(Report::user(format!("HEAD is detached (at {})", &self.head[..12]))
                .with_hint("check out the branch you release from (`git checkout main`), or pass --allow-detached"));
        }
        Ok(())
    }

    /// The release tag on HEAD, if HEAD is already released.
    pub fn head_release(&self) -> Option<&Release> {
        self.scan.at_commit(&self.head)
    }

    /// The latest release before HEAD's own (HEAD's tag would otherwise be its own base).
    pub fn previous(&self) -> Option<&Release> {
        self.scan.releases.iter().find(|r| r.commit != self.head)
    }

    /// Decide the next release from a PR title.
    pub fn next(&self, config: &Config, title: &str) -> Result<Next, Report> {
        hoist_version::next(&config.version.policy(), &self.format, self.previous(), title, &self.head).map_err(|e| {
            Report::user(inline(&e.to_string())).with_hint("keep one of [major], [minor] or [patch] in the PR title")
        })
    }
}

/// In a shallow clone (GitHub's default checkout) the tags that define the last release
/// are missing; fetch them, or say exactly what to change.
fn ensure_tags(git: &Git, config: &Config, reporter: &dyn Reporter) -> Result<(), Report> {
    if !git.is_shallow()? {
        return Ok(());
    }
    let remote = &config.version.remote;
    reporter.say(&format!("shallow clone: fetching tags and history from `{}`", inline(remote)));
    git.fetch_tags(remote).map_err(|e| {
        Report::from(e)
            .context("this is a shallow clone, and its release tags could not be fetched")
            .with_hint("check out the full history: with actions/checkout set `fetch-depth: 0`, or run `git fetch --unshallow --tags`")
    })
}

/// Where the PR title may come from, as the caller found it (the flag, and
/// `$GITHUB_EVENT_PATH` read from the environment by the CLI's settings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TitleInput {
    /// `--pr-title`
    pub flag: Option<String>,
    /// `$GITHUB_EVENT_PATH`
    pub event_path: Option<PathBuf>,
}

/// The PR title: `--pr-title`, else the GitHub event payload, else HEAD's commit message.
pub fn pr_title(input: &TitleInput, git: &Git) -> Result<Title, Report> {
    if let Some(text) = &input.flag {
        return Ok(Title { text: text.to_string(), source: TitleSource::Flag });
    }
    if let Some(path) = &input.event_path
        && let Some(text) = event_title(path)?
    {
        return Ok(Title { text, source: TitleSource::GithubEvent });
    }
    let message = git.message("HEAD")?;
    if is_merge_subject(&message.subject)
        && let Some(first) = message.body.lines().map(str::trim).find(|l| !l.is_empty())
    {
        return Ok(Title { text: first.to_string(), source: TitleSource::MergeCommit });
    }
    Ok(Title { text: message.subject, source: TitleSource::Commit })
}

/// The largest event payload read (GitHub's are a few hundred KiB at most).
const MAX_EVENT_BYTES: u64 = 16 << 20;

/// `pull_request.title` from the event payload at `path`: `None` for an event without a
/// pull request (a push, a manual run); an error for a pull request whose title is not a
/// string, rather than silently deciding the release from the commit instead.
fn event_title(path: &std::path::Path) -> Result<Option<String>, Report> {
    use std::io::Read as _;
    let shown = path.display();
    let unreadable = |e: std::io::Error| Report::user(format!("cannot read the GitHub event payload {shown}: {e}"));
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_EVENT_BYTES + 1).read_to_string(&mut text))
        .map_err(unreadable)?;
    if text.len() as u64 > MAX_EVENT_BYTES {
        return Err(Report::user(format!(
            "the GitHub event payload {shown} is larger than {} MiB",
            MAX_EVENT_BYTES >> 20
        )));
    }
    let event: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Report::user(format!("the GitHub event payload {shown} is not JSON: {e}")))?;
    let Some(pr) = event.get("pull_request") else { return Ok(None) };
    let wrong = |what: &str| {
        Report::user(format!("the GitHub event payload {shown}: `pull_request.title` is {what}, not a string"))
            .with_hint("pass the title with --pr-title, or unset GITHUB_EVENT_PATH to read it from HEAD's commit")
    };
    match pr.get("title") {
        Some(serde_json::Value::String(title)) => Ok(Some(title.clone())),
        Some(serde_json::Value::Null) => Err(wrong("null")),
        Some(serde_json::Value::Bool(_)) => Err(wrong("a boolean")),
        Some(serde_json::Value::Number(_)) => Err(wrong("a number")),
        Some(serde_json::Value::Array(_)) => Err(wrong("an array")),
        Some(serde_json::Value::Object(_)) => Err(wrong("an object")),
        None if pr.is_object() => Err(wrong("missing")),
        None => Err(Report::user(format!("the GitHub event payload {shown}: `pull_request` is not an object"))),
    }
}

fn is_merge_subject(subject: &str) -> bool {
    subject.starts_with("Merge pull request #")
}

/// The release at a scanned tag.
pub fn from_release(r: &Release, format: &TagFormat) -> ReleaseTag {
    let sha = format.parse(&r.tag).ok().and_then(|p| p.sha).unwrap_or_else(|| short(&r.commit, format.sha_len()));
    ReleaseRef { tag: r.tag.clone(), version: r.version.to_string(), sha, commit: Some(r.commit.clone()) }
}

/// The next release, decided.
pub fn from_next(n: &NextRelease, format: &TagFormat) -> ReleaseTag {
    ReleaseRef {
        tag: n.tag.clone(),
        version: n.version.to_string(),
        sha: short(&n.commit, format.sha_len()),
        commit: Some(n.commit.clone()),
    }
}

fn short(commit: &str, len: usize) -> String {
    commit[..len.min(commit.len())].to_string()
}

/// The release to work on: `--tag TAG`, else HEAD's release tag, else the next release
/// decided from the PR title.
pub fn resolve(
    config: &Config,
    dir: &Path,
    explicit: Option<&str>,
    title: &TitleInput,
    reporter: &dyn Reporter,
) -> Result<ReleaseTag, Report> {
    let format = config.version.tag_format();
    if let Some(tag) = explicit {
        // An earlier format's tag names a release too (`--tag v5.0.1` before the switch).
        let formats = config.version.formats();
        let parsed = formats.parse(tag).map_err(|e| {
            let text = e.to_string();
            let why = inline(&text);
            Report::user(match e {
                // Its message lists every format already.
                hoist_version::TagMismatch::NoFormat(_) => format!("--tag `{}` {why}", inline(tag)),
                _ => format!("--tag `{}` does not match the tag format `{}`: {why}", inline(tag), format.as_str()),
            })
        })?;
        let sha = parsed.sha.clone().unwrap_or_default();
        // Outside a git checkout (a deploy host) the tag alone is enough.
        let commit = Git::open(&config.root).ok().and_then(|g| g.tag_commit(tag).ok().flatten());
        return Ok(ReleaseRef { tag: tag.to_string(), version: parsed.version.to_string(), sha, commit });
    }
    let state = State::load(config, dir, reporter)?;
    if let Some(r) = state.head_release() {
        return Ok(from_release(r, &state.format));
    }
    let title = pr_title(title, &state.git)?;
    match state.next(config, &title.text)? {
        Next::Release(n) => Ok(from_next(&n, &state.format)),
        Next::None => {
            Err(Report::user(format!("no release: the PR title `{}` has no release marker", inline(&title.text)))
                .with_hint(
                    "pass --tag TAG, put [major], [minor] or [patch] in the PR title, or set `[version] default_bump`",
                ))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn merge_subjects() {
        assert!(super::is_merge_subject("Merge pull request #12 from acme/fix"));
        assert!(!super::is_merge_subject("[patch] Merge things"));
    }
}
