//! How hoist's errors say what went wrong, why, and how to fix it.
//!
//! Libraries return their own typed errors (one `thiserror` enum per phase) and implement
//! [`Diagnostic`] on them to say whether the user can fix it (exit 1) and how (a hint).
//! The CLI collects them into a [`Report`] and renders
//!
//! ```text
//! error: <what failed>
//!   caused by: <source>
//!   caused by: <its source>
//! hint: <the fix>
//! ```
//!
//! This is written by hand because it is twenty lines and the exact layout is part of
//! hoist's interface; miette would bring a renderer we would then have to restyle.

pub mod text;

use std::fmt;

/// The exit codes hoist promises: 0 ok, 1 user or config error, 2 unexpected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// Bad input, bad config, or a state the user can fix (exit 1).
    User,
    /// Anything else: a bug, an I/O failure, a crashed tool (exit 2).
    Unexpected,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> i32 {
        match self {
            Exit::User => 1,
            Exit::Unexpected => 2,
        }
    }
}

/// Implemented by every library error so the top level can classify and help.
pub trait Diagnostic: std::error::Error {
    /// Whether the user can fix this. Defaults to an unexpected failure.
    fn exit(&self) -> Exit {
        Exit::Unexpected
    }
    /// A line that tells the user what to do about it.
    fn hint(&self) -> Option<String> {
        None
    }
}

/// The error the CLI carries up to `main`: the cause chain plus the classification.
///
/// It deliberately does not implement `std::error::Error`, so that any
/// `Diagnostic` converts into it with `?`.
pub struct Report {
    exit: Exit,
    hint: Option<String>,
    error: anyhow::Error,
}

impl Report {
    /// A user error (exit 1) made from a message.
    pub fn user(message: impl fmt::Display) -> Self {
        Report { exit: Exit::User, hint: None, error: anyhow::anyhow!("{message}") }
    }

    /// An unexpected failure (exit 2) made from a message.
    pub fn unexpected(message: impl fmt::Display) -> Self {
        Report { exit: Exit::Unexpected, hint: None, error: anyhow::anyhow!("{message}") }
    }

    /// Wrap any error as an unexpected failure.
    pub fn from_error(error: impl Into<anyhow::Error>) -> Self {
        Report { exit: Exit::Unexpected, hint: None, error: error.into() }
    }

    /// Replace or add the hint.
    pub fn with_hint(mut self, hint: impl fmt::Display) -> Self {
        self.hint = Some(hint.to_string());
        self
    }

    /// Add context above the current error (it becomes the first `caused by:`).
    pub fn context(mut self, context: impl fmt::Display + Send + Sync + 'static) -> Self {
        self.error = self.error.context(context);
        self
    }

    /// Mark as a user error.
    pub fn as_user(mut self) -> Self {
        self.exit = Exit::User;
        self
    }

    pub fn exit(&self) -> Exit {
        self.exit
    }

    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The messages from the outermost error to the root cause.
    pub fn chain(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for cause in self.error.chain() {
            let text = cause.to_string();
            // thiserror messages often repeat their source with `: {0}`; skip exact repeats.
            if out.last().is_some_and(|prev| prev == &text) {
                continue;
            }
            out.push(text);
        }
        out
    }

    /// Render as hoist prints it on stderr.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let chain = self.chain();
        let mut iter = chain.iter();
        if let Some(first) = iter.next() {
            push_indented(&mut out, "error: ", first);
        }
        for cause in iter {
            push_indented(&mut out, "  caused by: ", cause);
        }
        if let Some(hint) = &self.hint {
            push_indented(&mut out, "hint: ", hint);
        }
        out
    }
}

fn push_indented(out: &mut String, label: &str, text: &str) {
    let pad = " ".repeat(label.len());
    for (i, line) in text.lines().enumerate() {
        out.push_str(if i == 0 { label } else { &pad });
        out.push_str(line);
        out.push('\n');
    }
    if text.is_empty() {
        out.push_str(label);
        out.push('\n');
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl<E> From<E> for Report
where
    E: Diagnostic + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Report { exit: error.exit(), hint: error.hint(), error: anyhow::Error::new(error) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Inner;
    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("permission denied")
        }
    }
    impl std::error::Error for Inner {}

    #[derive(Debug)]
    struct Outer(Inner);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("cannot read hoist.toml")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    impl Diagnostic for Outer {
        fn exit(&self) -> Exit {
            Exit::User
        }
        fn hint(&self) -> Option<String> {
            Some("check the file's permissions".into())
        }
    }

    #[test]
    fn renders_chain_and_hint() {
        let report = Report::from(Outer(Inner));
        assert_eq!(report.exit().code(), 1);
        assert_eq!(
            report.render(),
            "error: cannot read hoist.toml\n  caused by: permission denied\nhint: check the file's permissions\n"
        );
    }

    #[test]
    fn multi_line_messages_are_indented() {
        let report = Report::unexpected("build failed\nline two");
        assert_eq!(report.exit().code(), 2);
        assert_eq!(report.render(), "error: build failed\n       line two\n");
    }
}
