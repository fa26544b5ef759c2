//! The integration tests, one binary with a module per area: one build and one link instead of
//! one per file. The modules drive the real `runbook` binary; the shared harness is below.

mod support;

mod action;
mod blocks;
mod check;
mod check_notify;
mod cli;
mod demo;
mod docs;
mod escalation_rungs;
mod faults;
mod follow;
mod format_1_1;
mod hostile_values;
mod import;
mod interactive;
mod interactive_step;
mod manual_checks;
mod markdown;
mod operator;
mod outputs;
mod plan;
mod plan_diff;
mod playbooks;
mod report;
mod run;
mod schema;
mod seed_fixes;
mod ssh;
mod unattended;
mod watch_series;
