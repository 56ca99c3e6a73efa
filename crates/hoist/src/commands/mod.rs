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
use hoist_release::carry::CarryPlan;
use hoist_release::tag::ReleaseTag;

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

/// What a single step (`hoist build`, `image`, `push`) works on: the services named with
/// `--service`, else those the release builds, as `hoist release` decides (the others
/// are carried). Says on stderr which are carried. The list is never empty: `None` means
/// every service is carried and the step has nothing to do.
pub(crate) fn step_services(
    ctx: &Ctx,
    release: &ReleaseTag,
    named: &[String],
    all: bool,
) -> Result<(Option<Vec<String>>, Option<CarryPlan>), Report> {
    if !named.is_empty() {
        return Ok((Some(named.to_vec()), None));
    }
    let config = ctx.config()?;
    let carry = hoist_release::carry::for_step(config, &ctx.dir, release, all, ctx.reporter().as_ref())?;
    for (service, c) in carry.carried() {
        ctx.out.say(format!(
            "{service}: carried from {} (unchanged since {})",
            c.from,
            carry.since.as_deref().unwrap_or("?")
        ));
    }
    let services = carry.uncarried(config);
    Ok(((!services.is_empty()).then_some(services), Some(carry)))
}
