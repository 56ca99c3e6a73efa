//! One module per subcommand; each converts its arguments into library calls.

pub mod build;
pub mod compose;
pub mod deploy;
pub mod github;
pub mod image;
pub mod init;
pub mod kube;
pub mod registry;
pub mod release;
pub mod tag;
pub mod version;

use hoist_diag::Report;

use crate::cli::{Cli, Command};
use crate::context::Ctx;

pub fn run(cli: Cli) -> Result<(), Report> {
    let ctx = Ctx::new(&cli.global)?;
    match cli.command {
        Command::Version(args) => version::run(&ctx, args),
        Command::Tag(args) => tag::run(&ctx, args),
        Command::Build(args) => build::run(&ctx, args),
        Command::Dockerfile(args) => build::dockerfile(&ctx, args),
        Command::Image(args) => image::run(&ctx, args),
        Command::Push(args) => registry::push(&ctx, args),
        Command::Images(args) => registry::images(&ctx, args),
        Command::Pull(args) => registry::pull(&ctx, args),
        Command::Render(args) => kube::render(&ctx, args),
        Command::Deploy(args) => deploy::run(&ctx, args),
        Command::Release(args) => release::run(&ctx, args),
        Command::Init(args) => init::run(&ctx, args),
        Command::Rollback(args) => compose::rollback(&ctx, args),
    }
}
