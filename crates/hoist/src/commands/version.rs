//! `hoist version`: the current release and the next one.

use clap::Args;
use hoist_diag::Report;
use hoist_version::{Ignored, Next, NextRelease, Release};
use serde::Serialize;

use super::github;
use crate::context::Ctx;
use hoist_release::tag::{State, Title, pr_title};

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// The merged PR's title (default: the GitHub event payload, else HEAD's commit message).
    #[arg(long, value_name = "TEXT")]
    pub pr_title: Option<String>,
    /// Check the PR title's marker before the merge (the pull-request workflow's job): a
    /// marker with a typo (`[mnior]`) or two different markers fail; inside GitHub Actions
    /// the verdict and the next version go to the job summary.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Serialize)]
struct VersionReport<'a> {
    head: &'a str,
    title: Title,
    /// The latest release reachable from HEAD.
    current: Option<&'a Release>,
    /// HEAD's own release tag, when HEAD is already released.
    head_release: Option<&'a Release>,
    /// The release this merge makes; null when there is nothing to release.
    release: Option<NextRelease>,
    ignored: &'a [Ignored],
}

pub fn run(ctx: &Ctx, args: VersionArgs) -> Result<(), Report> {
    let config = ctx.config()?;
    let state = State::load(config, &ctx.dir, ctx.reporter().as_ref())?;
    let title = pr_title(&ctx.title(args.pr_title.as_deref())?, &state.git)?;
    let policy = config.version.policy();
    if args.check
        && let Some(miss) = policy.markers.near_miss(&title.text)
    {
        let report = Report::user(format!(
            "the PR title has `[{}]`, which is no release marker",
            hoist_diag::text::inline(&miss.written)
        ))
        .with_hint(format!(
            "did you mean [{}]? Edit the PR title: {}",
            miss.meant,
            marker_words(&policy.markers)
        ));
        return Err(refuse(report)?);
    }
    let head_release = state.head_release();
    let release = match head_release {
        Some(_) => None,
        None => match state.next(config, &title.text) {
            Ok(Next::Release(n)) => Some(n),
            Ok(Next::None) => None,
            Err(report) if args.check => return Err(refuse(report)?),
            Err(report) => return Err(report),
        },
    };
    if args.check {
        let verdict = match (&release, head_release) {
            (_, Some(h)) => github::Verdict::Released { tag: h.tag.clone() },
            (Some(n), None) => github::Verdict::Release {
                version: n.version.to_string(),
                current: state.scan.latest().map(|c| c.version.to_string()),
                why: match n.reason {
                    hoist_version::BumpReason::Marker => format!("`[{}]` in the title", n.bump),
                    hoist_version::BumpReason::Default => {
                        format!("no marker in the title, so `default_bump = \"{}\"`", n.bump)
                    }
                },
                tag_format: config.version.tag_format.clone(),
            },
            (None, None) => github::Verdict::Nothing { words: marker_words(&policy.markers) },
        };
        github::write_summary(&verdict.markdown())?;
    }
    let report = VersionReport {
        head: &state.head,
        title,
        current: state.scan.latest(),
        head_release,
        release,
        ignored: &state.scan.ignored,
    };
    ctx.out.data(&report, || text(&report));
    Ok(())
}

fn text(r: &VersionReport<'_>) -> String {
    let mut out = String::new();
    match r.current {
        Some(c) => out.push_str(&format!("current: {} ({})\n", c.tag, c.version)),
        None => out.push_str("current: none (no release tag reachable from HEAD)\n"),
    }
    match (&r.release, r.head_release) {
        (_, Some(h)) => out.push_str(&format!("next:    none, HEAD is already released as {}\n", h.tag)),
        (Some(n), None) => {
            let why = match n.reason {
                hoist_version::BumpReason::Marker => format!("[{}] in the PR title", n.bump),
                hoist_version::BumpReason::Default => format!("default_bump = \"{}\"", n.bump),
            };
            let first = if n.initial { ", the first release" } else { "" };
            out.push_str(&format!("next:    {} ({}, {why}{first})\n", n.tag, n.version));
        }
        (None, None) => {
            out.push_str(&format!("next:    none, the PR title has no release marker: {:?}\n", r.title.text))
        }
    }
    out
}

/// A refused title: the reason into the job summary too, so the PR shows it.
fn refuse(report: Report) -> Result<Report, Report> {
    github::write_summary(&github::Verdict::Refused { reason: report.render().to_string() }.markdown())?;
    Ok(report)
}

fn marker_words(m: &hoist_version::Markers) -> String {
    let all: Vec<String> = m.major.iter().chain(&m.minor).chain(&m.patch).map(|w| format!("[{w}]")).collect();
    format!("one of {}", all.join(", "))
}
