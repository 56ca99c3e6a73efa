//! What every command starts from: the working directory, the loaded config, the printer.

use std::path::PathBuf;
use std::sync::OnceLock;

use hoist_config::Config;
use hoist_diag::Report;

use crate::cli::GlobalArgs;
use crate::output::Printer;

#[derive(Debug)]
pub struct Ctx {
    /// The directory hoist runs in (after `-C`), absolute.
    pub dir: PathBuf,
    config_path: Option<PathBuf>,
    config: OnceLock<Config>,
    pub out: Printer,
}

impl Ctx {
    pub fn new(global: &GlobalArgs) -> Result<Ctx, Report> {
        let cwd = std::env::current_dir()
            .map_err(|e| Report::unexpected(format!("cannot read the current directory: {e}")))?;
        let dir = match &global.directory {
            Some(d) => {
                let d = cwd.join(d);
                if !d.is_dir() {
                    return Err(Report::user(format!("-C {}: no such directory", d.display())));
                }
                std::fs::canonicalize(&d).unwrap_or(d)
            }
            None => cwd,
        };
        // Relative paths in arguments are relative to -C DIR, as with git and cargo.
        std::env::set_current_dir(&dir)
            .map_err(|e| Report::unexpected(format!("cannot change to {}: {e}", dir.display())))?;
        let config_path = global.config.as_ref().map(|p| dir.join(p));
        Ok(Ctx {
            dir,
            config_path,
            config: OnceLock::new(),
            out: Printer { format: global.output, quiet: global.quiet, verbose: global.verbose },
        })
    }

    /// `hoist.toml`, loaded on first use: `--config FILE`, else `./hoist.toml`, else defaults.
    pub fn config(&self) -> Result<&Config, Report> {
        if let Some(c) = self.config.get() {
            return Ok(c);
        }
        let config = match &self.config_path {
            Some(path) => Config::load(path)?,
            None => Config::discover(&self.dir)?,
        };
        Ok(self.config.get_or_init(|| config))
    }

    /// The git repository hoist runs in (found from the working directory, as git does).
    pub fn git(&self) -> Result<hoist_git::Git, Report> {
        Ok(hoist_git::Git::open(&self.dir)?)
    }
}

/// The local OCI image layout of the project (`[image] layout`, resolved against the root).
pub fn layout_dir(config: &Config) -> PathBuf {
    config.resolve(&config.image.layout)
}

/// The async runtime for the network clients (registry, Kubernetes), built per command.
pub fn runtime() -> Result<tokio::runtime::Runtime, Report> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Report::unexpected(format!("cannot start the async runtime: {e}")))
}
