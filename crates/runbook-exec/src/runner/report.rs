//! What a step ended as, and the data that goes with it into `step_finished`.

use indexmap::IndexMap;
use runbook_transcript::{Outcome, StepReason, Verdict};
use serde_json::Value;

pub(super) struct StepReport {
    pub outcome: Outcome,
    pub exit: Option<i32>,
    pub attempts: u32,
    pub verdicts: Vec<Verdict>,
    pub captures: IndexMap<String, Value>,
    pub message: Option<String>,
    /// Why, as a code; when unset, the outcome decides (`passed`, `error`, …).
    pub reason: Option<StepReason>,
    pub stdout: String,
    pub stderr: String,
    pub spilled: Option<String>,
    pub report: Option<String>,
    /// Answers of a manual step, as later steps see them.
    pub inputs: IndexMap<String, Value>,
    /// Names among `inputs` whose answers are secret (recorded as `***`).
    pub secret_inputs: Vec<String>,
    /// A signal stopped the run while this step ran or asked.
    pub interrupted: bool,
    /// The operator chose to abort the run.
    pub abort: bool,
    /// Restored from a resumed run's transcript, not run again.
    pub replayed: bool,
    /// The check that decided the step names channels to notify (sent once the step ends).
    pub check_notice: Option<CheckNotice>,
}

/// A check's notification: its channels and what it says.
pub(super) struct CheckNotice {
    pub channels: Vec<String>,
    pub status: &'static str,
    pub message: String,
}

impl StepReport {
    pub fn new(outcome: Outcome) -> Self {
        StepReport {
            outcome,
            exit: None,
            attempts: 0,
            verdicts: Vec::new(),
            captures: IndexMap::new(),
            message: None,
            reason: None,
            stdout: String::new(),
            stderr: String::new(),
            spilled: None,
            report: None,
            inputs: IndexMap::new(),
            secret_inputs: Vec::new(),
            interrupted: false,
            abort: false,
            replayed: false,
            check_notice: None,
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        StepReport::new(Outcome::Failed).with_message(message)
    }

    /// A template that could not be rendered failed the step.
    pub fn template(message: impl Into<String>) -> Self {
        StepReport::failed(message).with_reason(StepReason::Template)
    }

    /// A Ctrl-C, SIGTERM or SIGHUP stopped the run while this step ran or asked.
    pub fn stopped() -> Self {
        let mut report = StepReport::new(Outcome::Aborted)
            .with_message("interrupted")
            .with_reason(StepReason::Interrupted);
        report.interrupted = true;
        report
    }

    /// The operator aborted the run here.
    pub fn aborted() -> Self {
        let mut report = StepReport::new(Outcome::Aborted)
            .with_message("aborted by the operator")
            .with_reason(StepReason::Operator);
        report.abort = true;
        report
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    pub fn with_reason(mut self, reason: StepReason) -> Self {
        self.reason = Some(reason);
        self
    }

    /// The reason recorded: the one set, else what the outcome implies.
    pub fn reason(&self) -> StepReason {
        self.reason.unwrap_or(match self.outcome {
            Outcome::Ok | Outcome::Warning => StepReason::Passed,
            Outcome::Skipped => StepReason::Operator,
            Outcome::Failed => StepReason::Error,
            Outcome::Aborted => StepReason::Interrupted,
        })
    }
}
