//! `hoist deploy compose|k8s|history`: dispatch to the engine.

use clap::{Args, Subcommand};
use hoist_diag::Report;

use crate::context::Ctx;

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(subcommand)]
    pub engine: Engine,
}

#[derive(Debug, Subcommand)]
pub enum Engine {
    /// Deploy to this host (or --host) with Docker Compose.
    Compose(super::compose::ComposeArgs),
    /// Deploy to a Kubernetes cluster.
    K8s(super::kube::K8sArgs),
    /// List the deploys recorded on this host.
    History(super::compose::HistoryArgs),
}

pub fn run(ctx: &Ctx, args: DeployArgs) -> Result<(), Report> {
    match args.engine {
        Engine::Compose(a) => super::compose::deploy(ctx, a),
        Engine::K8s(a) => super::kube::deploy(ctx, a),
        Engine::History(a) => super::compose::history(ctx, a),
    }
}
