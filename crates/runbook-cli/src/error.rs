//! The CLI's error: a message, hints, and the exit code it means. Rendered once, in `main`.

use crate::style;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Everything passed (warnings allowed).
    Success = 0,
    /// A step failed.
    Failed = 1,
    /// Invalid input: playbook, inventory, arguments.
    Invalid = 2,
    /// Aborted or interrupted; the run can be resumed.
    Aborted = 3,
}

/// An error to print as `error: ...` followed by `hint: ...` lines.
#[derive(Debug)]
pub struct CliError {
    /// The documented exit code it maps to.
    pub exit: Exit,
    /// The `error:` line; empty when the error was already printed.
    pub message: String,
    /// The `hint:` lines under it.
    pub hints: Vec<String>,
}

impl CliError {
    /// An error with its exit code and message, no hints yet.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            exit,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    /// Adds a `hint:` line.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// An error that has already been printed (diagnostics): only the exit code remains.
    pub fn silent(exit: Exit) -> Self {
        CliError::new(exit, String::new())
    }

    /// Prints the error and its hints to stderr, once, at the edge.
    pub fn print(&self) {
        if self.message.is_empty() {
            return;
        }
        let s = style::stderr();
        let mut text = format!("{}: {}\n", s.error("error"), self.message);
        for hint in &self.hints {
            text.push_str(&format!("{}: {hint}\n", s.hint("hint")));
        }
        eprint!("{text}");
    }
}

impl From<runbook_exec::Error> for CliError {
    fn from(err: runbook_exec::Error) -> Self {
        let hint = err.hint();
        let mut out = CliError::new(Exit::Invalid, err.to_string());
        out.hints.extend(hint);
        out
    }
}
