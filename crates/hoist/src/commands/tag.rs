//! `hoist tag`: create the next release tag at HEAD, annotated with the PR title, and
//! push that one tag. Never bumps twice, never force-pushes.

use clap::Args;
use hoist_diag::Report;
use hoist_git::{GitError, PushOutcome};
use hoist_version::Next;
use serde::Serialize;

use crate::context::Ctx;
use hoist_release::tag::{State, Title, pr_title};

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The merged PR's title (default: the GitHub event payload, else HEAD's commit message).
    #[arg(long, value_name = "TEXT")]
    pub pr_title: Option<String>,
    /// Push the tag to the remote.
    #[arg(long)]
    pub push: bool,
    /// The remote to push to (default: `[version] remote`, "origin").
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Say what would be done, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Tag even when HEAD is detached.
    #[arg(long)]
    pub allow_detached: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    /// Nothing to release.
    None,
    /// HEAD already carries a release tag.
    Existing,
    WouldCreate,
    Created,
}

#[derive(Debug, Serialize)]
struct TagReport {
    action: Action,
    /// The release tag, or null when there is nothing to release.
    release: Option<String>,
    version: Option<String>,
    commit: String,
    title: Title,
    remote: Option<String>,
    /// Whether the tag is on the remote after this run.
    pushed: bool,
    dry_run: bool,
}

pub fn run(ctx: &Ctx, args: TagArgs) -> Result<(), Report> {
    let config = ctx.config()?;
    let state = State::load(config, &ctx.dir, ctx.reporter().as_ref())?;
    state.require_branch(args.allow_detached)?;
    let title = pr_title(&ctx.title(args.pr_title.as_deref())?, &state.git)?;
    let remote = args.remote.clone().unwrap_or_else(|| config.version.remote.clone());
    let push_remote = args.push.then(|| remote.clone());

    let mut report = TagReport {
        action: Action::None,
        release: None,
        version: None,
        commit: state.head.clone(),
        title,
        remote: push_remote.clone(),
        pushed: false,
        dry_run: args.dry_run,
    };

    let mut created = false;
    if let Some(existing) = state.head_release() {
        report.action = Action::Existing;
        report.release = Some(existing.tag.clone());
        report.version = Some(existing.version.to_string());
    } else {
        match state.next(config, &report.title.text)? {
            Next::None => {}
            Next::Release(next) => {
                report.release = Some(next.tag.clone());
                report.version = Some(next.version.to_string());
                if let Some(commit) = state.git.tag_commit(&next.tag)? {
                    // A tag of that name exists but is not reachable from HEAD: another
                    // branch released this version.
                    return Err(Report::user(format!(
                        "tag `{}` already exists and points to {commit}, which is not HEAD's history",
                        next.tag
                    ))
                    .with_hint("merge the released branch first, or release from the commit that tag is on"));
                }
                if args.dry_run {
                    report.action = Action::WouldCreate;
                } else {
                    let message = format!("Release {}\n\n{}\n", next.tag, report.title.text);
                    state.git.create_tag(&next.tag, &state.head, &message)?;
                    report.action = Action::Created;
                    created = true;
                }
            }
        }
    }

    if let (Some(remote), Some(tag)) = (&push_remote, &report.release)
        && !args.dry_run
    {
        match state.git.push_tag(remote, tag) {
            Ok(PushOutcome::Pushed | PushOutcome::AlreadyThere) => report.pushed = true,
            Err(err @ GitError::TagConflict { .. }) => {
                // Undo our local tag so the remote's can come in, then bring it in.
                if created {
                    let _ = state.git.delete_tag(tag);
                }
                let _ = state.git.fetch_tags(remote);
                return Err(err.into());
            }
            Err(err) => {
                return Err(Report::from(err)
                    .context(format!("tag `{tag}` was created locally but could not be pushed to `{remote}`"))
                    .with_hint("fix access to the remote and run again: the existing tag is reused, not bumped"));
            }
        }
    }

    ctx.out.data(&report, || text(&report));
    Ok(())
}

fn text(r: &TagReport) -> String {
    let tag = r.release.as_deref().unwrap_or("");
    let pushed = match (&r.remote, r.pushed) {
        (Some(remote), true) => format!(", pushed to {remote}"),
        (Some(remote), false) if r.dry_run => format!(", would push to {remote}"),
        _ => String::new(),
    };
    match r.action {
        Action::None => format!("no release: the PR title has no release marker: {:?}\n", r.title.text),
        Action::Existing => format!("HEAD is already released as {tag}; nothing to do{pushed}\n"),
        Action::WouldCreate => format!("would create {tag} at {}{pushed}\n", &r.commit[..12]),
        Action::Created => format!("created {tag} at {}{pushed}\n", &r.commit[..12]),
    }
}
