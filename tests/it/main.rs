//! The integration tests, one binary with a module per area: one build and one link instead of
//! one per file. The modules drive the real `runbook` binary; the shared harness is below.

#[path = "../common/mod.rs"]
mod common;
#[path = "../pty_support/mod.rs"]
mod pty_support;
#[path = "../run_support/mod.rs"]
mod run_support;

mod action;
mod check;
mod cli;
mod demo;
mod docs;
mod faults;
mod hostile_values;
mod import;
mod interactive;
mod markdown;
mod operator;
mod outputs;
mod plan;
mod plan_diff;
mod playbooks;
mod report;
mod run;
mod schema;
mod ssh;
mod unattended;
