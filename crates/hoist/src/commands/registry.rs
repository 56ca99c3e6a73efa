//! `hoist push`, `hoist images`, `hoist pull` (issue: registry).

use clap::Args;
use hoist_diag::Report;

use crate::context::Ctx;

#[derive(Debug, Args)]
pub struct PushArgs {
    #[arg(long)]
    pub tag: Option<String>,
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    #[arg(long, conflicts_with = "latest")]
    pub tag: Option<String>,
    #[arg(long)]
    pub latest: bool,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    #[arg(long)]
    pub tag: Option<String>,
}

pub fn push(_ctx: &Ctx, _args: PushArgs) -> Result<(), Report> {
    Err(super::not_yet("push"))
}

pub fn images(_ctx: &Ctx, _args: ImagesArgs) -> Result<(), Report> {
    Err(super::not_yet("images"))
}

pub fn pull(_ctx: &Ctx, _args: PullArgs) -> Result<(), Report> {
    Err(super::not_yet("pull"))
}
