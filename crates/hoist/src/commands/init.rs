//! `hoist init [--github-actions]`: write a commented hoist.toml (and a release workflow).

use clap::Args;
use hoist_diag::Report;
use hoist_init::{WORKFLOW_PATH, WorkflowOptions};
use serde::Serialize;

use crate::context::Ctx;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Also write .github/workflows/release.yml, which runs hoist on every merged PR.
    #[arg(long)]
    pub github_actions: bool,
    /// Only the workflow, not hoist.toml.
    #[arg(long, requires = "github_actions")]
    pub workflow_only: bool,
}

#[derive(Debug, Serialize)]
struct InitReport {
    written: Vec<String>,
    /// The existing hoist.toml `--github-actions` left as it was.
    kept: Option<String>,
    /// Lines marked `# TODO:` in the written hoist.toml.
    todos: usize,
    detected: hoist_init::Detected,
}

pub fn run(ctx: &Ctx, args: InitArgs) -> Result<(), Report> {
    let root = &ctx.dir;
    let mut detected = hoist_init::scan(root);
    let git = hoist_git::Git::open(root).ok();
    // Read-only: the release tags reachable from HEAD, oldest commit first, say which tag
    // formats the history has.
    let mut reachable: Vec<(usize, String)> = git
        .as_ref()
        .and_then(|g| g.tags_in_history().ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| Some((t.position?, t.name)))
        .collect();
    reachable.sort();
    let tags: Vec<String> = reachable.into_iter().map(|(_, name)| name).collect();
    detected.tags = hoist_init::tag_history(&tags);
    let mut written = Vec::new();
    let mut kept = None;
    let mut todos = 0;
    let config_path = root.join(hoist_config::FILE_NAME);
    if args.github_actions && config_path.exists() {
        // Adding the workflow to a project already set up: its config stays as it is.
        kept = Some(config_path.display().to_string());
    } else if !args.workflow_only {
        let text = hoist_init::config_text(&detected);
        todos = text.lines().filter(|l| l.contains("# TODO:")).count();
        hoist_init::write_new(&config_path, &text)?;
        written.push(config_path.display().to_string());
        if hoist_init::ignore_state_dir(root)? {
            written.push(root.join(".gitignore").display().to_string());
        }
    }
    if args.github_actions {
        let config = hoist_config::Config::discover(root).ok();
        let branch = git.as_ref().and_then(|g| g.branch().ok().flatten()).unwrap_or_else(|| "main".into());
        let options = WorkflowOptions {
            branch,
            repository: config.and_then(|c| c.registry.map(|r| r.repository)),
            ..WorkflowOptions::default()
        };
        let path = root.join(WORKFLOW_PATH);
        hoist_init::write_new(&path, &hoist_init::workflow(&options))?;
        written.push(path.display().to_string());
    }
    let report = InitReport { written, kept, todos, detected };
    ctx.out.data(&report, || {
        let mut s = String::new();
        for w in &report.written {
            s.push_str(&format!("wrote {w}\n"));
        }
        if let Some(k) = &report.kept {
            s.push_str(&format!("kept {k} as it is\n"));
        }
        let d = &report.detected;
        if let Some(b) = &d.build_system {
            s.push_str(&format!("found {b}\n"));
        }
        if !d.services.is_empty() {
            let names: Vec<&str> = d.services.iter().map(|s| s.name.as_str()).collect();
            s.push_str(&format!("services: {}\n", names.join(", ")));
        }
        if report.todos > 0 {
            s.push_str(&format!("{} lines of hoist.toml are marked TODO: check them\n", report.todos));
        }
        for k in &d.skipped {
            s.push_str(&format!("not released: {}: {}\n", k.path, k.why));
        }
        s
    });
    Ok(())
}
