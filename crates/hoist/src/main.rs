//! The `hoist` binary: turns arguments into library calls, renders output and errors,
//! and maps failures to exit codes (0 ok, 1 user or config error, 2 unexpected failure).

mod cli;
mod commands;
mod context;
mod output;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        // A mistyped flag or value is the user's to fix: exit 1 like every other user error
        // (clap's own default is 2, which here means an unexpected failure). Help and
        // `--version` go to stdout and exit 0.
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(1) } else { ExitCode::SUCCESS };
        }
    };
    init_tracing(cli.global.verbose, cli.global.quiet);
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(report) => {
            #[allow(clippy::print_stderr)]
            {
                eprint!("{}", output::terminal(&report.render()));
            }
            ExitCode::from(report.exit().code() as u8)
        }
    }
}

fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        // kube-client logs the errors hoist itself reports (with context and hint).
        (true, _) => "error,kube_client=off",
        (false, 0) => "warn,kube_client=off",
        (false, 1) => "warn,kube_client=off",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOIST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
}
