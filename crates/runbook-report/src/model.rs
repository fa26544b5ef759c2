//! The report's model: what a report shows, built once from the records (`build.rs`) and
//! rendered by `html.rs`, `markdown.rs` and as JSON. Serializable, with the JSON Schema of
//! `runbook-report/v1`.

use std::borrow::Cow;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::format_duration;
use runbook_transcript::{
    ActionKind, Delivery, EscalationReason, Outcome, PlaybookInfo, RunMode, RunOutcome, Stream,
    Verdict,
};

/// Everything a report shows, built once from the records.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Timeline {
    /// `runbook-report/v1`.
    #[schemars(extend("const" = "runbook-report/v1"))]
    pub format: &'static str,
    /// `None` when the transcript has no `run_started` record.
    pub run: Option<RunInfo>,
    /// Each time `runbook resume` continued the run, in order.
    pub resumes: Vec<Resume>,
    /// Step executions in the order they began; a step visited twice appears twice.
    pub steps: Vec<StepEntry>,
    /// Every page sent, in the order recorded.
    pub escalations: Vec<EscalationEntry>,
    /// How the run ended, with its steps counted by outcome.
    pub totals: Totals,
}

/// Who ran what, where, when.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RunInfo {
    /// The run's id.
    pub run_id: String,
    /// The playbook's name, title, version, file, digest and schedule.
    pub playbook: PlaybookInfo,
    /// The inventory file, when the run used one.
    pub inventory: Option<String>,
    /// Who started the run.
    pub operator: String,
    /// The machine it started on.
    pub hostname: String,
    /// Interactive, or unattended under a policy.
    pub mode: RunMode,
    /// The runbook version that started it.
    pub engine_version: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// Every value of the run, secrets as `***`.
    pub params: IndexMap<String, Value>,
}

/// `runbook resume` continued the run here.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Resume {
    #[serde(skip)]
    pub(crate) seq: u64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Where on the incident clock, in ms since the run first started.
    pub elapsed_ms: u64,
    /// Who resumed the run.
    pub operator: String,
    /// The machine it resumed on.
    pub hostname: String,
    /// Interactive, or unattended under a policy.
    pub mode: RunMode,
    /// The step it continued from, when the record names one.
    pub next_step: Option<String>,
    /// The playbook file had changed since the run's start.
    pub playbook_changed: bool,
    /// How long no process ran the run before this resume (on the incident clock).
    pub gap_ms: u64,
}

/// How a step ended, or that it never did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Passed.
    Ok,
    /// Passed, with a warning.
    Warning,
    /// Failed.
    Failed,
    /// Did not run: skipped by a `when`, the operator or a policy.
    Skipped,
    /// Stopped by the operator or a signal.
    Aborted,
    /// Started, but the transcript ends (or the run was resumed) before it finished.
    Unfinished,
}

impl Status {
    /// The class name and JSON value.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Aborted => "aborted",
            Status::Unfinished => "unfinished",
        }
    }

    /// The word a reader sees.
    pub fn label(self) -> &'static str {
        match self {
            Status::Unfinished => "did not finish",
            other => other.as_str(),
        }
    }

    /// Failed, aborted or cut short: worth a reader's attention first.
    pub fn is_bad(self) -> bool {
        matches!(self, Status::Failed | Status::Aborted | Status::Unfinished)
    }
}

impl From<Outcome> for Status {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Ok => Status::Ok,
            Outcome::Warning => Status::Warning,
            Outcome::Failed => Status::Failed,
            Outcome::Skipped => Status::Skipped,
            Outcome::Aborted => Status::Aborted,
        }
    }
}

/// One execution of a step.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StepEntry {
    #[serde(skip)]
    pub(crate) seq: u64,
    /// The step's id.
    pub step: String,
    /// The step's name (its id when the step was never recorded as started).
    pub name: String,
    /// What kind of step it is; empty in JSON when the step was never recorded as started.
    #[serde(serialize_with = "action_word")]
    #[schemars(with = "String")]
    pub action: Option<ActionKind>,
    /// Where it ran: `local`, or an inventory host.
    pub host: String,
    /// Nesting under `parallel` and `playbook` steps.
    pub depth: u32,
    /// Which visit of the step this is: a flow that comes back runs it again.
    pub visit: u32,
    /// Attempts made: more than 1 after retries.
    pub attempts: u32,
    /// The command as run (after an operator's edit), secrets as `***`.
    pub command: Option<String>,
    /// The operator edited the command before it ran.
    pub edited: bool,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// Where it started on the incident clock, in ms.
    pub start_ms: u64,
    /// How long it took, in ms; up to the last record when it never finished.
    pub duration_ms: u64,
    /// How it ended.
    pub outcome: Status,
    /// Its command's exit status, when it ran one.
    pub exit: Option<i32>,
    /// Why, in one line.
    pub message: Option<String>,
    /// Each expectation and check, judged.
    pub verdicts: Vec<Verdict>,
    /// Values taken from its output.
    pub captures: IndexMap<String, Value>,
    /// A manual step's answers.
    pub inputs: IndexMap<String, Value>,
    /// The questions put about it and their answers, in order.
    pub decisions: Vec<DecisionEntry>,
    /// The head of each stream that printed anything.
    pub output: Vec<OutputHead>,
    /// Where the full output went.
    pub spilled: Option<String>,
    /// A `report` step's rendered text.
    pub report: Option<String>,
}

#[allow(
    clippy::ref_option,
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's serialize_with passes a reference"
)]
fn action_word<S: serde::Serializer>(
    action: &Option<ActionKind>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(action.map_or("", ActionKind::as_str))
}

impl StepEntry {
    /// Where the step ended on the incident clock.
    pub fn end_ms(&self) -> u64 {
        self.start_ms + self.duration_ms
    }
}

/// A question put to the operator (or answered by policy) and what the answer did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DecisionEntry {
    /// When the answer came (RFC 3339, UTC).
    pub at: String,
    /// Where on the incident clock, in ms.
    pub elapsed_ms: u64,
    /// The question as asked.
    pub question: String,
    /// The answer as given: for `edited`, the command as edited.
    pub answer: String,
    /// What the answer did.
    pub decision: Option<runbook_transcript::Decision>,
    /// Who answered.
    pub operator: String,
}

impl DecisionEntry {
    /// What the answer did, as a word; `answered` when the record does not say.
    pub fn word(&self) -> &'static str {
        self.decision
            .map_or("answered", runbook_transcript::Decision::as_str)
    }

    /// Whether the operator edited the command.
    pub fn edited(&self) -> bool {
        self.decision == Some(runbook_transcript::Decision::Edited)
    }
}

/// The first lines of one output stream.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OutputHead {
    /// Which stream.
    pub stream: Stream,
    /// Its first lines, joined by newlines.
    pub text: String,
    /// Lines in `text`.
    pub lines: usize,
    /// Lines recorded but left out of `text`.
    pub omitted_lines: usize,
}

/// An escalation and how its deliveries went.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EscalationEntry {
    #[serde(skip)]
    pub(crate) seq: u64,
    /// When it was sent (RFC 3339, UTC).
    pub at: String,
    /// Where on the incident clock, in ms.
    pub elapsed_ms: u64,
    /// 1-based position in the policy; on-failure escalations count as the next level.
    pub level: u32,
    /// Why the page went out.
    pub reason: EscalationReason,
    /// The step it is about, if any.
    pub step: Option<String>,
    /// The channels it went to.
    pub channels: Vec<String>,
    /// The message sent.
    pub message: String,
    /// How each channel's delivery went.
    pub deliveries: Vec<Delivery>,
    /// Deliveries that arrived.
    pub delivered: usize,
    /// Deliveries that failed.
    pub failed: usize,
    /// How late a rung fired: it came due while no process ran the run.
    pub late_ms: u64,
    /// Which page of a repeating rung this is (0 for the first; since format 1.1).
    #[serde(skip_serializing_if = "is_first")]
    pub repeat: u32,
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_first(repeat: &u32) -> bool {
    *repeat == 0
}

impl EscalationEntry {
    /// The reason, with which repetition of its rung it was and how late it went out.
    pub fn reason_text(&self) -> String {
        let mut text = self.reason.to_string();
        if self.repeat > 0 {
            text.push_str(&format!(", repeat {}", self.repeat));
        }
        if self.late_ms > 0 {
            text.push_str(&format!(" (late by {})", format_duration(self.late_ms)));
        }
        text
    }
}

impl Resume {
    /// ` after the run was stopped for 2m00s`, when there was a gap worth naming.
    pub fn gap_text(&self) -> String {
        self.stopped_for()
            .map(|took| format!(" after the run was stopped for {took}"))
            .unwrap_or_default()
    }

    /// `2m00s`: how long no process ran the run before this resume, when a second or more.
    pub fn stopped_for(&self) -> Option<String> {
        (self.gap_ms >= 1000).then(|| format_duration(self.gap_ms))
    }
}

/// How the run ended, or that it has not.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Totals {
    /// A `run_finished` record closes the transcript (after its last resume).
    pub finished: bool,
    /// How the run ended; none when it did not finish.
    pub outcome: Option<RunOutcome>,
    /// `runbook run`'s exit code; none when the run did not finish.
    pub exit_code: Option<u8>,
    /// When it finished (RFC 3339, UTC).
    pub finished_at: Option<String>,
    /// The run's length, or up to the last record when it did not finish.
    pub duration_ms: u64,
    /// The step whose failure ended the run.
    pub failed_step: Option<String>,
    /// Steps that passed (as `run_finished` counts them, else counted here).
    pub ok: u32,
    /// Steps that passed with a warning.
    pub warning: u32,
    /// Steps that failed.
    pub failed: u32,
    /// Steps skipped.
    pub skipped: u32,
    /// Step executions aborted.
    pub aborted: u32,
    /// Step executions that never finished.
    pub unfinished: u32,
    /// Steps that were running when the transcript ends.
    pub running: Vec<String>,
    /// `runbook resume` can continue it: it did not finish, or was aborted or interrupted.
    pub resumable: bool,
}

impl Totals {
    /// One line: "succeeded in 16.0s", "FAILED in 8.1s", "did not finish (215ms recorded)".
    pub fn headline(&self) -> String {
        let took = format_duration(self.duration_ms);
        match self.outcome {
            Some(RunOutcome::Success) => format!("succeeded in {took}"),
            Some(RunOutcome::Failed) => format!("FAILED in {took}"),
            Some(RunOutcome::Aborted) => format!("aborted after {took}"),
            Some(RunOutcome::Interrupted) => format!("interrupted after {took}"),
            None => format!("did not finish ({took} recorded)"),
        }
    }

    /// The class name of the outcome.
    pub fn class(&self) -> &'static str {
        match self.outcome {
            Some(RunOutcome::Success) => "ok",
            Some(RunOutcome::Failed) => "failed",
            Some(RunOutcome::Aborted | RunOutcome::Interrupted) => "aborted",
            None => "unfinished",
        }
    }

    /// "9 ok, 0 warning, 1 failed, 3 skipped" (aborted and unfinished only when there are any).
    pub fn counts(&self) -> String {
        let mut text = format!(
            "{} ok, {} warning, {} failed, {} skipped",
            self.ok, self.warning, self.failed, self.skipped
        );
        if self.aborted > 0 {
            text.push_str(&format!(", {} aborted", self.aborted));
        }
        if self.unfinished > 0 {
            text.push_str(&format!(", {} did not finish", self.unfinished));
        }
        text
    }
}

/// A line of the timeline, in transcript order.
pub enum Row<'a> {
    /// A step's execution.
    Step(&'a StepEntry),
    /// A page sent.
    Escalation(&'a EscalationEntry),
    /// `runbook resume` continued the run.
    Resumed(&'a Resume),
}

impl Timeline {
    /// A copy whose every text shows control characters as visible escapes, for the formats
    /// people read (the JSON report keeps the recorded text; JSON escapes them itself).
    pub fn visible(&self) -> Timeline {
        fn text(s: &mut String) {
            if let Cow::Owned(v) = runbook_transcript::visible(s) {
                *s = v;
            }
        }
        fn opt(s: &mut Option<String>) {
            if let Some(s) = s {
                text(s);
            }
        }
        fn value(v: &mut Value) {
            match v {
                Value::String(s) => text(s),
                Value::Array(items) => items.iter_mut().for_each(value),
                Value::Object(map) => map.values_mut().for_each(value),
                _ => {}
            }
        }
        /// Names and values alike; names are checked identifiers when a run writes them, but
        /// a transcript is a file anyone can edit.
        fn values(map: &mut IndexMap<String, Value>) {
            if map
                .keys()
                .any(|k| matches!(runbook_transcript::visible(k), Cow::Owned(_)))
            {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(mut k, v)| {
                        text(&mut k);
                        (k, v)
                    })
                    .collect();
            }
            map.values_mut().for_each(value);
        }
        let mut t = self.clone();
        if let Some(run) = &mut t.run {
            let p = &mut run.playbook;
            [&mut p.name, &mut p.title, &mut p.file, &mut p.sha256]
                .into_iter()
                .for_each(text);
            [&mut p.version, &mut p.schedule, &mut run.inventory]
                .into_iter()
                .for_each(opt);
            [
                &mut run.run_id,
                &mut run.operator,
                &mut run.hostname,
                &mut run.engine_version,
                &mut run.started_at,
            ]
            .into_iter()
            .for_each(text);
            values(&mut run.params);
        }
        for r in &mut t.resumes {
            [&mut r.at, &mut r.operator, &mut r.hostname]
                .into_iter()
                .for_each(text);
            opt(&mut r.next_step);
        }
        for s in &mut t.steps {
            [&mut s.step, &mut s.name, &mut s.host, &mut s.started_at]
                .into_iter()
                .for_each(text);
            [
                &mut s.command,
                &mut s.message,
                &mut s.spilled,
                &mut s.report,
            ]
            .into_iter()
            .for_each(opt);
            for v in &mut s.verdicts {
                text(&mut v.what);
                opt(&mut v.got);
            }
            values(&mut s.captures);
            values(&mut s.inputs);
            for d in &mut s.decisions {
                [&mut d.at, &mut d.question, &mut d.answer, &mut d.operator]
                    .into_iter()
                    .for_each(text);
            }
            s.output.iter_mut().for_each(|o| text(&mut o.text));
        }
        for e in &mut t.escalations {
            text(&mut e.at);
            text(&mut e.message);
            opt(&mut e.step);
            e.channels.iter_mut().for_each(text);
            for d in &mut e.deliveries {
                text(&mut d.channel);
                opt(&mut d.error);
            }
        }
        opt(&mut t.totals.finished_at);
        opt(&mut t.totals.failed_step);
        t.totals.running.iter_mut().for_each(text);
        t
    }

    /// The playbook's title, or a stand-in when the start is missing.
    pub fn title(&self) -> &str {
        self.run
            .as_ref()
            .map_or("unknown run", |r| r.playbook.title.as_str())
    }

    /// Steps, escalations and resumes merged in the order they were recorded.
    pub fn rows(&self) -> Vec<Row<'_>> {
        let mut rows: Vec<(u64, Row<'_>)> = Vec::new();
        rows.extend(self.steps.iter().map(|s| (s.seq, Row::Step(s))));
        rows.extend(self.escalations.iter().map(|e| (e.seq, Row::Escalation(e))));
        rows.extend(self.resumes.iter().map(|r| (r.seq, Row::Resumed(r))));
        rows.sort_by_key(|(seq, _)| *seq);
        rows.into_iter().map(|(_, row)| row).collect()
    }

    /// The span the visual timeline covers, never zero.
    pub fn span_ms(&self) -> u64 {
        self.steps
            .iter()
            .map(StepEntry::end_ms)
            .chain(self.escalations.iter().map(|e| e.elapsed_ms))
            .chain([self.totals.duration_ms])
            .max()
            .unwrap_or(0)
            .max(1)
    }
}
