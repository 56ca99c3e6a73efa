//! `hoist render k8s` and `hoist deploy k8s` (issue: Kubernetes deploy).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use hoist_diag::Report;

use crate::context::Ctx;

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(subcommand)]
    pub target: RenderTarget,
}

#[derive(Debug, Subcommand)]
pub enum RenderTarget {
    /// Render Kubernetes manifests with the release's images, in apply order.
    K8s {
        /// The release tag (default: the release at HEAD).
        #[arg(long)]
        tag: Option<String>,
        /// Manifest files or directories (default: `[deploy.kubernetes] manifests`).
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct K8sArgs {
    #[arg(long)]
    pub tag: Option<String>,
    #[arg(long)]
    pub context: Option<String>,
    #[arg(long)]
    pub namespace: Option<String>,
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub diff: bool,
}

pub fn render(_ctx: &Ctx, _args: RenderArgs) -> Result<(), Report> {
    Err(super::not_yet("render k8s"))
}

pub fn deploy(_ctx: &Ctx, _args: K8sArgs) -> Result<(), Report> {
    Err(super::not_yet("deploy k8s"))
}
