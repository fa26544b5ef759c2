//! The runbook executor: variables and their precedence, the plan a reviewer reads, and the
//! engine that runs a playbook (processes, expectations, branches, escalation), emitting events
//! that the transcript records and the CLI displays.
//!
//! **Invariant:** nothing here touches the terminal; the front end consumes events and answers
//! questions through the [`Operator`](operator::Operator) trait.

pub mod context;
pub mod error;
pub mod escalate;
pub mod expect;
pub mod operator;
pub mod plan;
pub mod plan_diff;
pub mod process;
pub mod program;
pub mod redact;
pub mod remote;
pub mod resume;
pub mod runner;
pub mod summary;
pub mod vars;

pub use error::Error;
pub use redact::Redactor;
pub use vars::{Origin, Overrides, Vars};
