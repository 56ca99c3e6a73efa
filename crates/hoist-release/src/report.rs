//! How the release tells its caller what is happening: one event type, one reporter trait.
//!
//! The adapters each take the callback shape that suits them (build lines, registry bytes,
//! compose and Kubernetes notes); this is where they meet, so a caller renders one stream:
//! talk on stderr, a bytes bar in a terminal, nothing at all in a test.

use crate::plan::StepKind;

/// Something a release (or one of its commands) reports while it works.
#[derive(Debug)]
pub enum Event<'a> {
    /// A note for humans (`--quiet` hides it).
    Say(&'a str),
    /// A detail shown with `--verbose`.
    Detail(&'a str),
    /// A warning: something the user should look at, though the work goes on.
    Warn(&'a str),
    /// A line of a build command's output.
    BuildLine {
        service: &'a str,
        line: &'a str,
    },
    /// A step starts.
    StepStart {
        step: StepKind,
    },
    /// A step ended; `skipped` when an earlier run's output was used.
    StepDone {
        step: StepKind,
        seconds: f64,
        skipped: bool,
    },
    /// Bytes of a transfer (push or pull): `total` grows as blobs start, `done` as they go.
    TransferStart {
        what: &'a str,
    },
    TransferTotal {
        add: u64,
    },
    TransferBytes {
        add: u64,
    },
    /// The transfer is over (the bar can go).
    TransferEnd,
    /// A request is tried again.
    Retry {
        what: &'a str,
        attempt: u32,
        reason: &'a str,
    },
}

/// Receives a release's events. Called from several threads.
pub trait Reporter: Sync + Send {
    fn event(&self, event: Event<'_>);

    fn say(&self, message: &str) {
        self.event(Event::Say(message));
    }

    fn detail(&self, message: &str) {
        self.event(Event::Detail(message));
    }

    fn warn(&self, message: &str) {
        self.event(Event::Warn(message));
    }
}

/// A reporter that drops every event (tests, and callers that only want the result).
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn event(&self, _: Event<'_>) {}
}
