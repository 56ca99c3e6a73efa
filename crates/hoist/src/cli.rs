//! Command-line arguments. Each subcommand's arguments live beside its code in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;

#[derive(Debug, Parser)]
#[command(name = "hoist", version, about = "Release and deploy multi-service applications", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Run as if hoist was started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// Use this config file instead of ./hoist.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Say more on stderr (-v: details such as ignored tags; -vv: debug logs).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Say only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the current release and the next one.
    Version(commands::version::VersionArgs),
    /// Create (and optionally push) the next release tag at HEAD.
    Tag(commands::tag::TagArgs),
    /// Build every service with the release version.
    Build(commands::build::BuildArgs),
    /// Print or write the per-service Dockerfiles of the original pipeline.
    Dockerfile(commands::build::DockerfileArgs),
    /// Build images into the local OCI layout, or import and export images.
    Image(commands::image::ImageArgs),
    /// Push the release's images to the registry repository.
    Push(commands::registry::PushArgs),
    /// List the release images in the registry repository.
    Images(commands::registry::ImagesArgs),
    /// Bring a release's images from the registry into the local layout.
    Pull(commands::registry::PullArgs),
    /// Render manifests with the release's images.
    Render(commands::kube::RenderArgs),
    /// Deploy a release.
    Deploy(commands::deploy::DeployArgs),
    /// The whole flow on a merge: version, tag, build, images, push, deploy.
    Release(commands::release::ReleaseArgs),
    /// Write a commented hoist.toml for this repository (and a release workflow).
    Init(commands::init::InitArgs),
    /// Go back to an earlier release on this host.
    Rollback(commands::compose::RollbackArgs),
}
