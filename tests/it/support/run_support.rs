//! Transition names: what `tests/run_support` offered (runs with `--yes` in a sandbox, the
//! transcript read back, webhooks, processes). New tests use `crate::support` directly.

// Not every old name is still used: they stay for the tests being written against them.
#![allow(unused_imports)]

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Child;

pub use super::{
    BIN, HttpRequest, HttpSink, RunResult, backdate, closed_port, files_under, kill_leftovers,
    processes_matching, read_transcript, signal, wait_exit, wait_for,
};

/// The one [`super::Sandbox`], where `spawn` starts a run.
#[derive(Default)]
pub struct Sandbox(super::Sandbox);

impl Sandbox {
    pub fn new() -> Self {
        Sandbox(super::Sandbox::new())
    }

    /// Starts the run in the background (stdout/stderr to null); returns it and its transcript.
    pub fn spawn(&self, playbook: &Path, args: &[&str]) -> (Child, PathBuf) {
        self.0.spawn_run(playbook, args)
    }
}

impl Deref for Sandbox {
    type Target = super::Sandbox;

    fn deref(&self) -> &super::Sandbox {
        &self.0
    }
}
