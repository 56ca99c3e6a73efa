//! The CLI's reporter: renders the library's events as talk on stderr (quiet with
//! `--quiet`), build output prefixed by its service, and a bytes bar for transfers, drawn
//! only when stderr is a terminal and the output is for humans.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use hoist_release::{Event, Reporter};

use crate::output::{Printer, terminal};

#[derive(Debug)]
pub struct Terminal {
    out: Printer,
    /// The width service names are right-aligned to in build output.
    width: usize,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Terminal {
    pub fn new(out: Printer, width: usize) -> Terminal {
        Terminal { out, width, bar: Mutex::new(None) }
    }

    fn bar(&self) -> std::sync::MutexGuard<'_, Option<indicatif::ProgressBar>> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Reporter for Terminal {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Say(m) | Event::Warn(m) => self.out.say(m),
            Event::Detail(m) => self.out.detail(m),
            Event::BuildLine { service, line } => {
                if !self.out.quiet {
                    let width = self.width;
                    let _ = writeln!(std::io::stderr().lock(), "{}", terminal(&format!("{service:>width$} | {line}")));
                }
            }
            Event::StepStart { step } => self.out.detail(format!("step {}", step.as_str())),
            Event::StepDone { step, seconds, skipped } => {
                if !skipped {
                    self.out.detail(format!("step {} done in {seconds:.1}s", step.as_str()));
                }
            }
            Event::TransferStart { what } => {
                if self.out.quiet || self.out.is_json() || !std::io::stderr().is_terminal() {
                    return;
                }
                let bar = indicatif::ProgressBar::new(0);
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                bar.set_message(what.to_string());
                *self.bar() = Some(bar);
            }
            Event::TransferTotal { add } => {
                if let Some(bar) = self.bar().as_ref() {
                    bar.inc_length(add);
                }
            }
            Event::TransferBytes { add } => {
                if let Some(bar) = self.bar().as_ref() {
                    bar.inc(add);
                }
            }
            Event::Retry { what, attempt, reason } => {
                let line = format!("retrying {what} (attempt {attempt} failed: {reason})");
                match self.bar().as_ref() {
                    Some(bar) => bar.println(terminal(&line)),
                    None => self.out.detail(line),
                }
            }
            Event::TransferEnd => {
                if let Some(bar) = self.bar().take() {
                    bar.finish_and_clear();
                }
            }
        }
    }
}
