//! The summary of a run for machines (`run --format json`, `runbook-run/v1`), built from the
//! transcript's records, so it says exactly what the record says (secrets already masked): the
//! run's outcome, and for every step its outcome, the reason as a code, and the message.

use indexmap::IndexMap;
use runbook_transcript::{Event, Outcome, Record, RunOutcome, StepReason, Verdict};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The version of the summary's JSON form, written in [`RunSummaryJson::format`].
pub const RUN_FORMAT: &str = "runbook-run/v1";

/// What `runbook run --format json` (and `resume`) prints when the run ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "runbook run summary (runbook-run/v1)")]
pub struct RunSummaryJson {
    /// `runbook-run/v1`.
    #[schemars(extend("const" = "runbook-run/v1"))]
    pub format: String,
    /// The run's id, from `run_started`.
    pub run_id: String,
    /// The playbook's `metadata.name`.
    pub playbook: String,
    /// The playbook file, as given.
    pub file: String,
    /// The transcript with every record of the run.
    pub transcript: String,
    /// How the run ended, as its last `run_finished` says.
    pub outcome: RunOutcome,
    /// The process's exit code: 0 success, 1 failed, 3 aborted or interrupted.
    pub exit_code: u8,
    /// The incident clock at the end: wall time since the run first started.
    pub duration_ms: u64,
    /// The first step that failed, when one did.
    pub failed_step: Option<String>,
    /// Why the run stopped when no step decided it (a signal, a transcript write error,
    /// undelivered pages).
    pub reason: Option<String>,
    /// Steps whose last outcome was `ok`.
    pub steps_ok: u32,
    /// Steps whose last outcome was `warning`.
    pub steps_warning: u32,
    /// Steps whose last outcome was `failed`.
    pub steps_failed: u32,
    /// Steps whose last outcome was `skipped`.
    pub steps_skipped: u32,
    /// Pages that did not reach their channel.
    pub undelivered: u32,
    /// How many times the run was resumed.
    pub resumes: u32,
    /// Every step that finished, in the order they finished (a step visited twice by a goto
    /// loop is here twice; a step run again by a resume, once, as it last ended).
    pub steps: Vec<StepResult>,
}

/// How one visit of a step ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepResult {
    /// The step id; `parent/child` inside a sub-playbook.
    pub step: String,
    /// The step's name, from its `step_started` record; null when it never started.
    pub name: Option<String>,
    /// `run`, `manual`, `wait`, `parallel`, `playbook`, `report`.
    pub action: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why, as a code; null only for transcripts written before reasons were recorded.
    pub reason: Option<StepReason>,
    /// Why, in one line, for people.
    pub message: Option<String>,
    /// The last command's exit code; null when no command ran.
    pub exit: Option<i32>,
    /// How long it took, in milliseconds (time spent waiting for the operator left out).
    pub duration_ms: u64,
    /// How many times its command ran: attempts, or a watch's iterations.
    pub attempts: u32,
    /// Which visit of the step this was, from 1 (goto loops visit a step again).
    pub visit: u32,
    /// The expectations and checks that did not hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_checks: Vec<Verdict>,
}

/// The JSON Schema of the run summary (`runbook schema run`, `schemas/run.v1.json`).
pub fn schema() -> String {
    let schema = schemars::schema_for!(RunSummaryJson);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}

/// Builds the summary from a transcript's records (every invocation: the first run and its
/// resumes). `None` when the records hold no `run_finished`.
pub fn from_records(records: &[Record], file: &str, transcript: &str) -> Option<RunSummaryJson> {
    let mut run_id = String::new();
    let mut playbook = String::new();
    let mut resumes = 0;
    let mut finished = None;
    let mut started: IndexMap<&str, (&str, runbook_transcript::ActionKind)> = IndexMap::new();
    let mut steps: IndexMap<(String, u32), StepResult> = IndexMap::new();
    for record in records {
        match &record.event {
            Event::RunStarted(s) => {
                run_id = s.run_id.clone();
                playbook = s.playbook.name.clone();
            }
            Event::RunResumed(_) => resumes += 1,
            Event::StepStarted(s) => {
                started.insert(&s.step, (&s.name, s.action));
            }
            Event::StepFinished(f) => {
                let (name, action) = started
                    .get(f.step.as_str())
                    .map(|(n, a)| (Some((*n).to_owned()), Some(a.as_str().to_owned())))
                    .unwrap_or((None, None));
                let key = (f.step.clone(), f.visit);
                // A later record of the same visit (a resume ran it again) replaces the
                // earlier one, and takes its place at the end.
                steps.shift_remove(&key);
                steps.insert(
                    key,
                    StepResult {
                        step: f.step.clone(),
                        name,
                        action,
                        outcome: f.outcome,
                        reason: f.reason,
                        message: f.message.clone(),
                        exit: f.exit,
                        duration_ms: f.duration_ms,
                        attempts: f.attempts,
                        visit: f.visit,
                        failed_checks: f.verdicts.iter().filter(|v| !v.ok).cloned().collect(),
                    },
                );
            }
            Event::RunFinished(f) => finished = Some(f.clone()),
            _ => {}
        }
    }
    let finished = finished?;
    Some(RunSummaryJson {
        format: RUN_FORMAT.to_owned(),
        run_id,
        playbook,
        file: file.to_owned(),
        transcript: transcript.to_owned(),
        outcome: finished.outcome,
        exit_code: finished.exit_code,
        duration_ms: finished.duration_ms,
        failed_step: finished.failed_step,
        reason: finished.reason,
        steps_ok: finished.steps_ok,
        steps_warning: finished.steps_warning,
        steps_failed: finished.steps_failed,
        steps_skipped: finished.steps_skipped,
        undelivered: finished.undelivered,
        resumes,
        steps: steps.into_values().collect(),
    })
}
