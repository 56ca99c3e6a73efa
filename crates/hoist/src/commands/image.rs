//! `hoist image`, `hoist image import`, `hoist image export` (issue: image build).

use clap::Args;
use hoist_diag::Report;

use crate::context::Ctx;

#[derive(Debug, Args)]
pub struct ImageArgs {
    #[arg(long)]
    pub service: Vec<String>,
    #[arg(long)]
    pub tag: Option<String>,
}

pub fn run(_ctx: &Ctx, _args: ImageArgs) -> Result<(), Report> {
    Err(super::not_yet("image"))
}
