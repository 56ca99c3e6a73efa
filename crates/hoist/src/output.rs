//! stdout is data, stderr is talk: `--output json` prints one JSON document on stdout,
//! text mode prints the human form; progress and notes go to stderr unless `--quiet`.
//! Everything printed as text goes through [`terminal`] (hoist-diag's escaping rule).

use std::io::Write;

use serde::Serialize;

use crate::cli::OutputFormat;

/// Where a command's result and its talk go.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub format: OutputFormat,
    pub quiet: bool,
    pub verbose: u8,
}

impl Printer {
    /// Print the command's result: `value` as JSON, or `text` for humans.
    pub fn data<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        let mut out = std::io::stdout().lock();
        match self.format {
            OutputFormat::Json => {
                let json = serde_json::to_string_pretty(value).expect("output is serialisable");
                let _ = writeln!(out, "{json}");
            }
            OutputFormat::Text => {
                let text = terminal(&text()).into_owned();
                if !text.is_empty() {
                    let _ = write!(out, "{text}");
                    if !text.ends_with('\n') {
                        let _ = writeln!(out);
                    }
                }
            }
        }
        let _ = out.flush();
    }

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// A note for humans on stderr (suppressed by `--quiet`).
    pub fn say(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{}", terminal(&message.to_string()));
        }
    }

    /// A detail shown only with `--verbose`.
    pub fn detail(&self, message: impl std::fmt::Display) {
        if self.verbose > 0 && !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{}", terminal(&message.to_string()));
        }
    }
}

pub use hoist_diag::text::terminal;
