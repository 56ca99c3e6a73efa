//! `hoist init [--github-actions]`: write a commented hoist.toml (and a release workflow).

use clap::{Args, ValueEnum};
use hoist_diag::Report;
use hoist_init::{Install, KubeAuth, PR_WORKFLOW_PATH, Target, WORKFLOW_PATH, WorkflowOptions};
use serde::Serialize;

use crate::context::Ctx;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Also write .github/workflows/release.yml (every merged PR released and deployed) and
    /// .github/workflows/pr-title.yml (every PR's title marker checked).
    #[arg(long)]
    pub github_actions: bool,
    /// Only the workflows, not hoist.toml.
    #[arg(long, requires = "github_actions")]
    pub workflow_only: bool,
    /// Where the workflow deploys (default: what hoist.toml configures).
    #[arg(long, value_enum, requires = "github_actions")]
    pub deploy: Option<DeployTo>,
    /// Log in to the cluster through the cloud's OIDC (no stored keys) instead of a
    /// KUBECONFIG secret.
    #[arg(long, value_enum, requires = "github_actions")]
    pub cloud: Option<Cloud>,
    /// Install this hoist version from crates.io in the workflows (default: this binary's).
    #[arg(long, value_name = "VERSION", conflicts_with = "hoist_rev", requires = "github_actions")]
    pub hoist_version: Option<String>,
    /// Install hoist from this commit (the full SHA) of --hoist-git instead.
    #[arg(long, value_name = "SHA", requires = "github_actions")]
    pub hoist_rev: Option<String>,
    /// The repository --hoist-rev is a commit of.
    #[arg(long, value_name = "URL", requires = "hoist_rev", default_value = env!("CARGO_PKG_REPOSITORY"))]
    pub hoist_git: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeployTo {
    Compose,
    K8s,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Cloud {
    /// Amazon EKS: aws-actions/configure-aws-credentials, then `aws eks update-kubeconfig`.
    Eks,
    /// Google GKE: google-github-actions/auth, then get-gke-credentials.
    Gke,
}

#[derive(Debug, Serialize)]
struct InitReport {
    written: Vec<String>,
    /// The existing hoist.toml `--github-actions` left as it was.
    kept: Option<String>,
    /// Lines marked `# TODO:` in the written hoist.toml.
    todos: usize,
    detected: hoist_init::Detected,
    /// With `--github-actions`: where release.yml deploys, and the secrets and variables
    /// the workflows read.
    workflow: Option<WorkflowReport>,
}

#[derive(Debug, Serialize)]
struct WorkflowReport {
    deploy: &'static str,
    needs: Vec<String>,
}

pub fn run(ctx: &Ctx, args: InitArgs) -> Result<(), Report> {
    let root = &ctx.dir;
    if args.github_actions {
        // Both workflows or neither, and nothing else written either when one is there: a
        // half-written pair would deploy without the title check.
        for path in [root.join(WORKFLOW_PATH), root.join(PR_WORKFLOW_PATH)] {
            if path.exists() {
                return Err(hoist_init::InitError::Exists(path).into());
            }
        }
    }
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
    let mut workflow = None;
    if args.github_actions {
        let options = workflow_options(ctx, &args, git.as_ref())?;
        workflow = Some(WorkflowReport { deploy: options.deploy.describe(), needs: hoist_init::setup_needs(&options) });
        let (release, pr) = (root.join(WORKFLOW_PATH), root.join(PR_WORKFLOW_PATH));
        hoist_init::write_new(&release, &hoist_init::workflow(&options))?;
        written.push(release.display().to_string());
        hoist_init::write_new(&pr, &hoist_init::pr_workflow(&options))?;
        written.push(pr.display().to_string());
    }
    let report = InitReport { written, kept, todos, detected, workflow };
    ctx.out.data(&report, || {
        let mut s = String::new();
        for w in &report.written {
            s.push_str(&format!("wrote {w}\n"));
        }
        if let Some(k) = &report.kept {
            s.push_str(&format!("kept {k} as it is\n"));
        }
        if let Some(w) = &report.workflow {
            s.push_str(&format!(
                "release.yml deploys to {}\nset in GitHub (Settings > Secrets and variables > Actions):\n",
                w.deploy
            ));
            for n in &w.needs {
                s.push_str(&format!("  {n}\n"));
            }
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

/// The workflows' options: the pin from the flags, the deploy target and the registry
/// from hoist.toml as written (its `${VAR}`s are set in CI, not here).
fn workflow_options(ctx: &Ctx, args: &InitArgs, git: Option<&hoist_git::Git>) -> Result<WorkflowOptions, Report> {
    let bad_flag = |flag: &str, message: String| Report::user(format!("{flag}: {message}"));
    let install = match (&args.hoist_version, &args.hoist_rev) {
        (_, Some(rev)) => Install::rev(&args.hoist_git, rev).map_err(|m| bad_flag("--hoist-rev", m))?,
        (Some(v), None) => Install::version(v).map_err(|m| bad_flag("--hoist-version", m))?,
        (None, None) => WorkflowOptions::default().install,
    };
    let path = ctx.dir.join(hoist_config::FILE_NAME);
    let facts = match std::fs::read_to_string(&path) {
        Ok(text) => hoist_init::config_facts(&text)
            .map_err(|e| hoist_init::InitError::Config { path: path.clone(), message: e.message().to_string() })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => hoist_init::ConfigFacts::default(),
        Err(e) => return Err(hoist_init::InitError::Config { path, message: e.to_string() }.into()),
    };
    let want = args.deploy.map(|d| match d {
        DeployTo::Compose => Target::Compose,
        DeployTo::K8s => Target::Kubernetes,
        DeployTo::None => Target::None,
    });
    let cloud = args.cloud.map(|c| match c {
        Cloud::Eks => KubeAuth::Eks,
        Cloud::Gke => KubeAuth::Gke,
    });
    let deploy = hoist_init::choose_deploy(&facts, want, cloud)?;
    let branch = git.and_then(|g| g.branch().ok().flatten()).unwrap_or_else(|| "main".into());
    Ok(WorkflowOptions { branch, repository: facts.repository, install, deploy, vars: facts.vars })
}
