//! What every command starts from: the directory it works in, the loaded config, the
//! environment hoist reads (resolved once), the printer and the reporter.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use hoist_config::Config;
use hoist_diag::Report;
use hoist_release::Env;
use hoist_release::tag::TitleInput;

use crate::cli::GlobalArgs;
use crate::output::Printer;
use crate::progress::Terminal;

#[derive(Debug)]
pub struct Ctx {
    /// The directory hoist runs in (after `-C`), absolute. Relative paths in arguments are
    /// relative to it, as with git and cargo; the process's own directory is never changed.
    pub dir: PathBuf,
    /// Whether `-C` named another directory than the process's own.
    moved: bool,
    config_path: Option<PathBuf>,
    config: OnceLock<Config>,
    env: OnceLock<Env>,
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
        let config_path = global.config.as_ref().map(|p| dir.join(p));
        Ok(Ctx {
            moved: global.directory.is_some(),
            dir,
            config_path,
            config: OnceLock::new(),
            env: OnceLock::new(),
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

    /// What hoist reads from the environment (`SOURCE_DATE_EPOCH`, `GITHUB_EVENT_PATH`).
    pub fn env(&self) -> Result<&Env, Report> {
        if let Some(e) = self.env.get() {
            return Ok(e);
        }
        let env = Env::from_vars(|k| std::env::var(k).ok())?;
        Ok(self.env.get_or_init(|| env))
    }

    /// Where the PR title may come from: `--pr-title`, then the event payload.
    pub fn title(&self, flag: Option<&str>) -> Result<TitleInput, Report> {
        Ok(TitleInput { flag: flag.map(str::to_string), event_path: self.env()?.github_event_path.clone() })
    }

    /// A path from an argument that messages show as the user wrote it: relative to
    /// `-C DIR`, and as given without `-C`.
    pub fn path(&self, p: &Path) -> PathBuf {
        if self.moved { self.dir.join(p) } else { p.to_path_buf() }
    }

    /// The reporter for library calls: talk on stderr, a bytes bar in a terminal.
    pub fn reporter(&self) -> Arc<Terminal> {
        let width = self.config().map(|c| c.services.keys().map(String::len).max().unwrap_or(5)).unwrap_or(5);
        Arc::new(Terminal::new(self.out, width.max(5)))
    }

    /// The release a command works on: `--tag`, else HEAD's, else the next one.
    pub fn release(&self, tag: Option<&str>, title: Option<&str>) -> Result<hoist_release::tag::ReleaseTag, Report> {
        let config = self.config()?;
        hoist_release::tag::resolve(config, &self.dir, tag, &self.title(title)?, self.reporter().as_ref())
    }
}
