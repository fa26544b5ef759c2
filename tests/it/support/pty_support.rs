//! Transition names: what `tests/pty_support` offered (the binary in a pseudo-terminal, in a
//! sandbox with TERM=dumb; transcripts read back whole). New tests use `crate::support`.

// Not every old name is still used: they stay for the tests being written against them.
#![allow(unused_imports)]

use std::ops::Deref;

pub use super::{
    BIN, EXPECT_MS, Term, events, one, outcome, read_complete_transcript as read_transcript,
    read_partial, run_finished, step_events, wait_for_record,
};

/// The one [`super::Sandbox`], with TERM=dumb; `output` gives the exit code as an `Option`.
pub struct Sandbox(super::Sandbox);

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox(super::Sandbox::new().with_term("dumb"))
    }

    /// `runbook ARGS...` without a terminal (stdin from /dev/null), to its end.
    pub fn output(&self, args: &[&str]) -> Output {
        let out = self
            .0
            .command()
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("start runbook");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Deref for Sandbox {
    type Target = super::Sandbox;

    fn deref(&self) -> &super::Sandbox {
        &self.0
    }
}

/// How a command without a terminal ended.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}
