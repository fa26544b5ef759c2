//! The one harness of the integration tests: a sandbox folder that runs the real `runbook`
//! binary in a cleared environment, the [`Test`] builder (playbook, inventory, vars, args,
//! expected exit, output and transcript events), transcripts read back as JSON, the binary in a
//! pseudo-terminal ([`Term`]), fixtures and insta settings, the published JSON Schemas, process lookups through /proc, a
//! loopback HTTP sink for webhooks and a loopback sshd for remote steps.
//!
//! Every test file is a module of tests/it/main.rs and names what it uses here as
//! `crate::support::...`; a file left outside main.rs does not find these names, and does not
//! compile.

// Not every test module uses every helper.
#![allow(dead_code)]

mod fixtures;
mod http;
mod process;
mod pty;
mod sandbox;
mod schema;
mod sshd;
mod test;
mod transcript;

pub use fixtures::*;
pub use http::*;
pub use process::*;
pub use pty::*;
pub use sandbox::*;
pub use schema::*;
pub use sshd::*;
pub use test::*;
pub use transcript::*;
