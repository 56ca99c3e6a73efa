//! Config errors: each names the file, and the line and key where there is one.

use std::path::{Path, PathBuf};

use hoist_diag::{Diagnostic, Exit};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{}: `{key}`: {message}", path.display())]
    Invalid { path: PathBuf, key: String, message: String },
    #[error("{}: `{key}`: {problem}", path.display())]
    Env { path: PathBuf, key: String, problem: crate::env::EnvError },
}

impl ConfigError {
    pub(crate) fn parse(path: &Path, text: &str, error: &toml::de::Error) -> Self {
        let (line, column) = match error.span() {
            Some(span) => line_col(text, span.start),
            None => (1, 1),
        };
        ConfigError::Parse { path: path.to_path_buf(), line, column, message: error.message().trim().to_string() }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

impl Diagnostic for ConfigError {
    fn exit(&self) -> Exit {
        Exit::User
    }
    fn hint(&self) -> Option<String> {
        match self {
            ConfigError::Read { .. } => Some("check the path given with --config, or run `hoist init`".into()),
            ConfigError::Parse { .. } | ConfigError::Invalid { .. } => {
                Some("every key is documented in docs/config.md".into())
            }
            ConfigError::Env { problem, .. } => Some(match problem.var() {
                Some(var) => format!("set {var} in the environment, or write the value in hoist.toml"),
                None => "write `${NAME}` with a variable name of letters, digits and `_`, or the value itself".into(),
            }),
        }
    }
}
