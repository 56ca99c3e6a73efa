//! `hoist build` and `hoist dockerfile` (issue: build).

use clap::Args;
use hoist_diag::Report;

use crate::context::Ctx;

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[arg(long)]
    pub tag: Option<String>,
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
}

#[derive(Debug, Args)]
pub struct DockerfileArgs {
    #[arg(long)]
    pub write: bool,
    #[arg(long)]
    pub tag: Option<String>,
}

pub fn run(_ctx: &Ctx, _args: BuildArgs) -> Result<(), Report> {
    Err(super::not_yet("build"))
}

pub fn dockerfile(_ctx: &Ctx, _args: DockerfileArgs) -> Result<(), Report> {
    Err(super::not_yet("dockerfile"))
}
