//! `hoist deploy compose`, `hoist deploy history`, `hoist rollback` (issue: compose deploy).

use clap::Args;
use hoist_diag::Report;

use crate::context::Ctx;

#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// The release tag to deploy (default: the release at HEAD).
    #[arg(long)]
    pub tag: Option<String>,
    /// Print what would be pulled, recreated and pruned.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The release to go back to (default: the one before the current).
    #[arg(long)]
    pub to: Option<String>,
}

pub fn deploy(_ctx: &Ctx, _args: ComposeArgs) -> Result<(), Report> {
    Err(super::not_yet("deploy compose"))
}

pub fn history(_ctx: &Ctx, _args: HistoryArgs) -> Result<(), Report> {
    Err(super::not_yet("deploy history"))
}

pub fn rollback(_ctx: &Ctx, _args: RollbackArgs) -> Result<(), Report> {
    Err(super::not_yet("rollback"))
}
