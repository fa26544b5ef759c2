//! The incident report of a run. [`Timeline::build`] reads a transcript's records once — the
//! run, each step with its wall time, duration, outcome, operator decisions and output head,
//! escalations, resumes and totals — and the model renders three ways: [`markdown`] for the
//! incident document (with an empty post-mortem to fill in), [`html`] as one self-contained
//! page with a visual timeline, [`json`] for tools.
//!
//! Pure functions from records to text: no I/O, no clock. Secrets are already `***` in the
//! transcript; every value is escaped for the format it lands in.

mod html;
mod markdown;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::record::{
    ActionKind, Delivery, EscalationReason, Event, Outcome, PlaybookInfo, Record, RunFinished,
    RunMode, RunOutcome, Stream, Verdict,
};

/// The format name of the JSON report.
pub const REPORT_FORMAT: &str = "runbook-report/v1";

/// Lines of each output stream a report keeps per step; the transcript and the spill file
/// hold the rest.
pub const OUTPUT_HEAD_LINES: usize = 30;

/// The JSON Schema of the JSON report (`runbook schema report`, `schemas/report.v1.json`).
pub fn schema() -> String {
    let mut generator = schemars::generate::SchemaSettings::default().into_generator();
    let mut schema = generator.root_schema_for::<Timeline>();
    schema.insert(
        "title".into(),
        "runbook incident report (runbook-report/v1)".into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}

/// The Markdown incident report of a transcript.
pub fn markdown(records: &[Record]) -> String {
    Timeline::build(records).markdown()
}

/// The HTML incident report: one page, inline CSS, no scripts, no network assets.
pub fn html(records: &[Record]) -> String {
    Timeline::build(records).html()
}

/// The JSON summary of a transcript (`runbook-report/v1`).
pub fn json(records: &[Record]) -> String {
    Timeline::build(records).json()
}

/// Everything a report shows, built once from the records.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Timeline {
    /// `runbook-report/v1`.
    #[schemars(extend("const" = "runbook-report/v1"))]
    pub format: &'static str,
    /// `None` when the transcript has no `run_started` record.
    pub run: Option<RunInfo>,
    pub resumes: Vec<Resume>,
    /// Step executions in the order they began; a step visited twice appears twice.
    pub steps: Vec<StepEntry>,
    pub escalations: Vec<EscalationEntry>,
    pub totals: Totals,
}

/// Who ran what, where, when.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RunInfo {
    pub run_id: String,
    pub playbook: PlaybookInfo,
    pub inventory: Option<String>,
    pub operator: String,
    pub hostname: String,
    pub mode: RunMode,
    pub engine_version: String,
    pub started_at: String,
    /// Every value of the run, secrets as `***`.
    pub params: IndexMap<String, Value>,
}

/// `runbook resume` continued the run here.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Resume {
    #[serde(skip)]
    seq: u64,
    pub at: String,
    pub elapsed_ms: u64,
    pub operator: String,
    pub hostname: String,
    pub mode: RunMode,
    pub next_step: Option<String>,
    pub playbook_changed: bool,
    /// How long no process ran the run before this resume (on the incident clock).
    pub gap_ms: u64,
}

/// How a step ended, or that it never did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Failed,
    Skipped,
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
    seq: u64,
    pub step: String,
    pub name: String,
    /// What kind of step it is; empty in JSON when the step was never recorded as started.
    #[serde(serialize_with = "action_word")]
    #[schemars(with = "String")]
    pub action: Option<ActionKind>,
    pub host: String,
    /// Nesting under `parallel` and `playbook` steps.
    pub depth: u32,
    pub visit: u32,
    pub attempts: u32,
    /// The command as run (after an operator's edit), secrets as `***`.
    pub command: Option<String>,
    /// The operator edited the command before it ran.
    pub edited: bool,
    pub started_at: String,
    pub start_ms: u64,
    pub duration_ms: u64,
    pub outcome: Status,
    pub exit: Option<i32>,
    /// Why, in one line.
    pub message: Option<String>,
    pub verdicts: Vec<Verdict>,
    pub captures: IndexMap<String, Value>,
    /// A manual step's answers.
    pub inputs: IndexMap<String, Value>,
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
    pub at: String,
    pub elapsed_ms: u64,
    pub question: String,
    pub answer: String,
    /// What the answer did.
    pub decision: Option<crate::record::Decision>,
    pub operator: String,
}

impl DecisionEntry {
    /// What the answer did, as a word; `answered` when the record does not say.
    pub fn word(&self) -> &'static str {
        self.decision
            .map_or("answered", crate::record::Decision::as_str)
    }

    /// Whether the operator edited the command.
    pub fn edited(&self) -> bool {
        self.decision == Some(crate::record::Decision::Edited)
    }
}

/// The first lines of one output stream.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OutputHead {
    pub stream: Stream,
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
    seq: u64,
    pub at: String,
    pub elapsed_ms: u64,
    pub level: u32,
    pub reason: EscalationReason,
    pub step: Option<String>,
    pub channels: Vec<String>,
    pub message: String,
    pub deliveries: Vec<Delivery>,
    pub delivered: usize,
    pub failed: usize,
    /// How late a rung fired: it came due while no process ran the run.
    pub late_ms: u64,
}

impl EscalationEntry {
    /// The reason, with how late the page went out when it was.
    pub fn reason_text(&self) -> String {
        if self.late_ms == 0 {
            self.reason.to_string()
        } else {
            format!(
                "{} (late by {})",
                self.reason,
                crate::time::format_duration(std::time::Duration::from_millis(self.late_ms))
            )
        }
    }
}

impl Resume {
    /// `stopped for 2m00s`, when there was a gap worth naming.
    pub fn gap_text(&self) -> String {
        if self.gap_ms < 1000 {
            String::new()
        } else {
            format!(
                " after the run was stopped for {}",
                crate::time::format_duration(std::time::Duration::from_millis(self.gap_ms))
            )
        }
    }
}

/// How the run ended, or that it has not.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Totals {
    /// A `run_finished` record closes the transcript (after its last resume).
    pub finished: bool,
    pub outcome: Option<RunOutcome>,
    pub exit_code: Option<u8>,
    pub finished_at: Option<String>,
    /// The run's length, or up to the last record when it did not finish.
    pub duration_ms: u64,
    pub failed_step: Option<String>,
    pub ok: u32,
    pub warning: u32,
    pub failed: u32,
    pub skipped: u32,
    pub aborted: u32,
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
    Step(&'a StepEntry),
    Escalation(&'a EscalationEntry),
    Resumed(&'a Resume),
}

impl Timeline {
    /// Reads the records once. Never fails: a torn or partial transcript gives a partial report.
    pub fn build(records: &[Record]) -> Timeline {
        let mut builder = Builder::default();
        for record in records {
            builder.record(record);
        }
        builder.finish()
    }

    pub fn markdown(&self) -> String {
        markdown::render(&self.visible())
    }

    pub fn html(&self) -> String {
        html::render(&self.visible())
    }

    /// A copy whose every text shows control characters as visible escapes, for the formats
    /// people read (the JSON report keeps the recorded text; JSON escapes them itself).
    pub fn visible(&self) -> Timeline {
        fn text(s: &mut String) {
            if let std::borrow::Cow::Owned(v) = crate::visible(s) {
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
        let mut t = self.clone();
        if let Some(run) = &mut t.run {
            let p = &mut run.playbook;
            [&mut p.name, &mut p.title, &mut p.file]
                .into_iter()
                .for_each(text);
            opt(&mut p.version);
            opt(&mut run.inventory);
            [&mut run.operator, &mut run.hostname]
                .into_iter()
                .for_each(text);
            run.params.values_mut().for_each(value);
        }
        for r in &mut t.resumes {
            [&mut r.operator, &mut r.hostname]
                .into_iter()
                .for_each(text);
            opt(&mut r.next_step);
        }
        for s in &mut t.steps {
            [&mut s.step, &mut s.name, &mut s.host]
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
            s.captures
                .values_mut()
                .chain(s.inputs.values_mut())
                .for_each(value);
            for d in &mut s.decisions {
                [&mut d.question, &mut d.answer, &mut d.operator]
                    .into_iter()
                    .for_each(text);
            }
            s.output.iter_mut().for_each(|o| text(&mut o.text));
        }
        for e in &mut t.escalations {
            text(&mut e.message);
            opt(&mut e.step);
            e.channels.iter_mut().for_each(text);
            for d in &mut e.deliveries {
                text(&mut d.channel);
                opt(&mut d.error);
            }
        }
        opt(&mut t.totals.failed_step);
        t.totals.running.iter_mut().for_each(text);
        t
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serializes") + "\n"
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

/// Output lines of a step still running, from `output` records.
#[derive(Default)]
struct Live {
    lines: [Vec<String>; 2],
    total: [usize; 2],
}

#[derive(Default)]
struct Builder {
    run: Option<RunInfo>,
    resumes: Vec<Resume>,
    steps: Vec<StepEntry>,
    live: Vec<Live>,
    escalations: Vec<EscalationEntry>,
    /// Indexes of started steps not finished yet, in start order.
    open: Vec<usize>,
    /// Prompts asked before their step's `step_started` (confirm, destructive, edit).
    pending: Vec<(String, u64, DecisionEntry)>,
    finished: Option<(RunFinished, String)>,
    last_elapsed: u64,
}

impl Builder {
    fn record(&mut self, record: &Record) {
        match &record.event {
            Event::RunStarted(s) => {
                if self.run.is_none() {
                    self.run = Some(RunInfo {
                        run_id: s.run_id.clone(),
                        playbook: s.playbook.clone(),
                        inventory: s.inventory.clone(),
                        operator: s.operator.clone(),
                        hostname: s.hostname.clone(),
                        mode: s.mode,
                        engine_version: s.engine_version.clone(),
                        started_at: record.ts.clone(),
                        params: s.params.clone(),
                    });
                }
            }
            Event::RunResumed(r) => {
                // Whatever was running when the process stopped never finished.
                self.close_open();
                self.finished = None;
                self.resumes.push(Resume {
                    seq: record.seq,
                    at: record.ts.clone(),
                    elapsed_ms: record.elapsed_ms,
                    operator: r.operator.clone(),
                    hostname: r.hostname.clone(),
                    mode: r.mode,
                    next_step: r.next_step.clone(),
                    playbook_changed: r.playbook_changed,
                    gap_ms: r.gap_ms,
                });
            }
            Event::StepStarted(s) => {
                let same = self
                    .find_open(&s.step)
                    .filter(|&i| self.steps[i].visit == s.visit);
                if let Some(i) = same {
                    // A retry: the same execution, one more attempt.
                    let entry = &mut self.steps[i];
                    entry.attempts = entry.attempts.max(s.attempt);
                    if s.command.is_some() {
                        entry.command = s.command.clone();
                    }
                    return;
                }
                let mut entry = self.new_entry(record.seq, &record.ts, &s.step, record.elapsed_ms);
                entry.name = s.name.clone();
                entry.action = Some(s.action);
                entry.host = s.host.clone();
                entry.visit = s.visit;
                entry.attempts = s.attempt;
                entry.command = s.command.clone();
                self.steps.push(entry);
                self.live.push(Live::default());
                self.open.push(self.steps.len() - 1);
            }
            Event::Output(o) => {
                if let Some(i) = self.find_open(&o.step) {
                    let live = &mut self.live[i];
                    let k = stream_index(o.stream);
                    live.total[k] += 1;
                    if live.lines[k].len() < OUTPUT_HEAD_LINES {
                        live.lines[k].push(o.text.clone());
                    }
                }
            }
            Event::Prompt(p) => {
                let decision = DecisionEntry {
                    at: record.ts.clone(),
                    elapsed_ms: record.elapsed_ms,
                    question: p.question.clone(),
                    answer: p.answer.clone(),
                    decision: p.decision,
                    operator: p.operator.clone(),
                };
                match self.find_open(&p.step) {
                    Some(i) => attach(&mut self.steps[i], decision),
                    None => self.pending.push((p.step.clone(), record.seq, decision)),
                }
            }
            Event::StepFinished(f) => {
                let i = match self.find_open(&f.step) {
                    Some(i) => {
                        self.open.retain(|&o| o != i);
                        i
                    }
                    None => {
                        // Skipped before it started (`when`, a declined confirm): no start record.
                        let start = record.elapsed_ms.saturating_sub(f.duration_ms);
                        let mut entry = self.new_entry(record.seq, &record.ts, &f.step, start);
                        entry.name = f.step.clone();
                        self.steps.push(entry);
                        self.live.push(Live::default());
                        self.steps.len() - 1
                    }
                };
                let entry = &mut self.steps[i];
                entry.outcome = f.outcome.into();
                entry.duration_ms = f.duration_ms;
                entry.attempts = entry.attempts.max(f.attempts);
                entry.exit = f.exit;
                entry.message = f.message.clone();
                entry.verdicts = f.verdicts.clone();
                entry.captures = f.captures.clone();
                entry.inputs = f.inputs.clone();
                entry.spilled = f.spilled.clone();
                entry.report = f.report.clone();
                entry.output = if f.stdout.is_empty() && f.stderr.is_empty() {
                    live_heads(&self.live[i])
                } else {
                    [(Stream::Stdout, &f.stdout), (Stream::Stderr, &f.stderr)]
                        .into_iter()
                        .filter(|(_, text)| !text.is_empty())
                        .map(|(stream, text)| head(stream, text))
                        .collect()
                };
            }
            Event::Escalation(e) => {
                let delivered = e.deliveries.iter().filter(|d| d.ok).count();
                self.escalations.push(EscalationEntry {
                    seq: record.seq,
                    at: record.ts.clone(),
                    elapsed_ms: record.elapsed_ms,
                    level: e.level,
                    reason: e.reason,
                    step: e.step.clone(),
                    channels: e.channels.clone(),
                    message: e.message.clone(),
                    deliveries: e.deliveries.clone(),
                    delivered,
                    failed: e.deliveries.len() - delivered,
                    late_ms: e.late_ms,
                });
            }
            Event::RunFinished(f) => self.finished = Some((f.clone(), record.ts.clone())),
            // Bookkeeping for resume: which process group a command ran in.
            Event::Process(_) => {}
        }
        self.last_elapsed = self.last_elapsed.max(record.elapsed_ms);
    }

    /// The innermost running execution of `step`.
    fn find_open(&self, step: &str) -> Option<usize> {
        self.open
            .iter()
            .rev()
            .copied()
            .find(|&i| self.steps[i].step == step)
    }

    /// A new execution of `step`, with the prompts that were waiting for it.
    fn new_entry(&mut self, seq: u64, ts: &str, step: &str, start_ms: u64) -> StepEntry {
        let depth = self
            .open
            .iter()
            .filter(|&&i| {
                matches!(
                    self.steps[i].action,
                    Some(ActionKind::Parallel | ActionKind::Playbook)
                )
            })
            .count() as u32;
        let mut entry = StepEntry {
            seq,
            step: step.to_owned(),
            name: String::new(),
            action: None,
            host: String::new(),
            depth,
            visit: 1,
            attempts: 0,
            command: None,
            edited: false,
            started_at: ts.to_owned(),
            start_ms,
            duration_ms: 0,
            outcome: Status::Unfinished,
            exit: None,
            message: None,
            verdicts: Vec::new(),
            captures: IndexMap::new(),
            inputs: IndexMap::new(),
            decisions: Vec::new(),
            output: Vec::new(),
            spilled: None,
            report: None,
        };
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(id, _, _)| id == step);
        self.pending = rest;
        for (_, _, decision) in mine {
            attach(&mut entry, decision);
        }
        entry
    }

    /// Marks every running step as not finished, up to the last record seen.
    fn close_open(&mut self) {
        for i in std::mem::take(&mut self.open) {
            let entry = &mut self.steps[i];
            entry.outcome = Status::Unfinished;
            entry.duration_ms = self.last_elapsed.saturating_sub(entry.start_ms);
            entry.output = live_heads(&self.live[i]);
        }
    }

    fn finish(mut self) -> Timeline {
        self.close_open();
        // A question whose step never started: the transcript ends right after it.
        for (step, seq, decision) in std::mem::take(&mut self.pending) {
            let (at, elapsed) = (decision.at.clone(), decision.elapsed_ms);
            let mut entry = self.new_entry(seq, &at, &step, elapsed);
            entry.name = step.clone();
            attach(&mut entry, decision);
            self.steps.push(entry);
        }
        let count = |status: Status| -> u32 {
            self.steps.iter().filter(|s| s.outcome == status).count() as u32
        };
        let running: Vec<String> = self
            .steps
            .iter()
            .filter(|s| s.outcome == Status::Unfinished)
            .map(|s| s.step.clone())
            .collect();
        let totals = match &self.finished {
            Some((f, ts)) => Totals {
                finished: true,
                outcome: Some(f.outcome),
                exit_code: Some(f.exit_code),
                finished_at: Some(ts.clone()),
                duration_ms: f.duration_ms,
                failed_step: f.failed_step.clone(),
                ok: f.steps_ok,
                warning: f.steps_warning,
                failed: f.steps_failed,
                skipped: f.steps_skipped,
                aborted: count(Status::Aborted),
                unfinished: count(Status::Unfinished),
                running,
                resumable: matches!(f.outcome, RunOutcome::Aborted | RunOutcome::Interrupted),
            },
            None => Totals {
                finished: false,
                outcome: None,
                exit_code: None,
                finished_at: None,
                duration_ms: self.last_elapsed,
                failed_step: None,
                ok: count(Status::Ok),
                warning: count(Status::Warning),
                failed: count(Status::Failed),
                skipped: count(Status::Skipped),
                aborted: count(Status::Aborted),
                unfinished: count(Status::Unfinished),
                running,
                resumable: true,
            },
        };
        Timeline {
            format: REPORT_FORMAT,
            run: self.run,
            resumes: self.resumes,
            steps: self.steps,
            escalations: self.escalations,
            totals,
        }
    }
}

fn attach(entry: &mut StepEntry, decision: DecisionEntry) {
    if decision.decision == Some(crate::record::Decision::Edited) {
        entry.edited = true;
    }
    entry.decisions.push(decision);
}

fn stream_index(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

/// The first [`OUTPUT_HEAD_LINES`] lines of a stream's text.
fn head(stream: Stream, text: &str) -> OutputHead {
    let all: Vec<&str> = text.lines().collect();
    let kept = all.len().min(OUTPUT_HEAD_LINES);
    OutputHead {
        stream,
        text: all[..kept].join("\n"),
        lines: kept,
        omitted_lines: all.len() - kept,
    }
}

fn live_heads(live: &Live) -> Vec<OutputHead> {
    [Stream::Stdout, Stream::Stderr]
        .into_iter()
        .filter(|&s| live.total[stream_index(s)] > 0)
        .map(|stream| {
            let k = stream_index(stream);
            OutputHead {
                stream,
                text: live.lines[k].join("\n"),
                lines: live.lines[k].len(),
                omitted_lines: live.total[k] - live.lines[k].len(),
            }
        })
        .collect()
}

/// `31ms`, `8.1s`, `2m05s`, `1h02m`, from milliseconds.
pub fn format_duration(ms: u64) -> String {
    crate::time::format_duration(std::time::Duration::from_millis(ms))
}

/// `21:43:52` from an RFC 3339 timestamp; anything else as it is.
pub fn clock(ts: &str) -> &str {
    match ts.get(11..19) {
        Some(time) if ts.as_bytes().get(10) == Some(&b'T') => time,
        _ => ts,
    }
}

/// `success`, `failed`, `aborted`, `interrupted`.
pub fn run_outcome_name(outcome: RunOutcome) -> &'static str {
    match outcome {
        RunOutcome::Success => "success",
        RunOutcome::Failed => "failed",
        RunOutcome::Aborted => "aborted",
        RunOutcome::Interrupted => "interrupted",
    }
}

/// The stream's name as a label.
pub fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

/// A JSON value as one short line: strings bare, everything else as JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{
        Escalation, Output, Prompt, RunResumed, RunStarted, StepFinished, StepStarted,
    };

    /// A vocabulary word as a transcript line would carry it.
    fn word<T: serde::de::DeserializeOwned>(word: &str) -> T {
        serde_json::from_value(Value::String(word.into())).unwrap()
    }

    /// Records with consecutive sequence numbers and a clock that starts at 03:12:00.
    struct Script(Vec<Record>);

    impl Script {
        fn new() -> Self {
            let mut s = Script(Vec::new());
            s.push(0, Event::RunStarted(started()));
            s
        }

        fn push(&mut self, ms: u64, event: Event) -> &mut Self {
            let secs = 12 * 60 + ms / 1000;
            self.0.push(Record {
                seq: self.0.len() as u64,
                ts: format!(
                    "2026-01-15T03:{:02}:{:02}.{:03}Z",
                    secs / 60,
                    secs % 60,
                    ms % 1000
                ),
                elapsed_ms: ms,
                event,
            });
            self
        }

        fn start(&mut self, ms: u64, step: &str, action: &str, attempt: u32) -> &mut Self {
            self.push(
                ms,
                Event::StepStarted(StepStarted {
                    step: step.into(),
                    name: format!("Step {step}"),
                    action: word(action),
                    command: (action == "run").then(|| format!("check {step}")),
                    host: "local".into(),
                    attempt,
                    visit: 1,
                    planned_ms: None,
                }),
            )
        }

        fn output(&mut self, ms: u64, step: &str, text: &str) -> &mut Self {
            self.push(
                ms,
                Event::Output(Output {
                    step: step.into(),
                    stream: Stream::Stdout,
                    text: text.into(),
                }),
            )
        }

        fn prompt(&mut self, ms: u64, step: &str, answer: &str, decision: &str) -> &mut Self {
            self.push(
                ms,
                Event::Prompt(Prompt {
                    step: step.into(),
                    question: format!("Run {step}?"),
                    answer: answer.into(),
                    operator: "alice".into(),
                    decision: Some(word(decision)),
                }),
            )
        }

        fn finish(&mut self, ms: u64, step: &str, outcome: Outcome, took: u64) -> &mut Self {
            self.push(ms, Event::StepFinished(finished(step, outcome, took)))
        }

        fn end(&mut self, ms: u64, outcome: RunOutcome, failed: Option<&str>) -> &mut Self {
            self.push(
                ms,
                Event::RunFinished(RunFinished {
                    outcome,
                    exit_code: outcome.exit_code(),
                    duration_ms: ms,
                    failed_step: failed.map(Into::into),
                    steps_ok: 1,
                    steps_warning: 0,
                    steps_failed: 1,
                    steps_skipped: 0,
                    undelivered: 0,
                    reason: None,
                }),
            )
        }

        fn timeline(&self) -> Timeline {
            Timeline::build(&self.0)
        }
    }

    fn started() -> RunStarted {
        RunStarted {
            format: crate::FORMAT.into(),
            run_id: "r1".into(),
            playbook: PlaybookInfo {
                name: "web-down".into(),
                title: "Web <down> & out".into(),
                version: Some("1.0.0".into()),
                file: "web.yaml".into(),
                sha256: "0".repeat(64),
            },
            inventory: None,
            params: IndexMap::from([("token".to_owned(), Value::from("***"))]),
            secrets: vec!["token".into()],
            overrides: Vec::new(),
            var_files: Vec::new(),
            operator: "alice".into(),
            hostname: "ops-1".into(),
            engine_version: "0.1.0".into(),
            mode: word("interactive"),
            step_ids: Vec::new(),
            clock_start_ms: None,
        }
    }

    fn finished(step: &str, outcome: Outcome, took: u64) -> StepFinished {
        StepFinished {
            step: step.into(),
            outcome,
            visit: 1,
            exit: Some(i32::from(outcome == Outcome::Failed)),
            duration_ms: took,
            attempts: 1,
            verdicts: Vec::new(),
            captures: IndexMap::new(),
            message: (outcome == Outcome::Failed).then(|| "expected exit 0, got 1".into()),
            reason: None,
            stdout: String::new(),
            stderr: String::new(),
            spilled: None,
            report: None,
            inputs: IndexMap::new(),
        }
    }

    #[test]
    fn output_and_names_are_escaped_in_html_and_markdown() {
        let mut s = Script::new();
        s.start(0, "logs", "run", 1)
            .output(5, "logs", "<script>alert('x')</script>")
            .output(5, "logs", "a & b \"c\"")
            .finish(6, "logs", Outcome::Ok, 6)
            .end(7, RunOutcome::Success, None);
        let t = s.timeline();
        assert_eq!(
            t.steps[0].output[0].text,
            "<script>alert('x')</script>\na & b \"c\""
        );

        let html = t.html();
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("a &amp; b &quot;c&quot;"));
        assert!(html.contains("<title>Incident report: Web &lt;down&gt; &amp; out</title>"));
        // Self-contained: nothing to fetch.
        for needle in ["<link", "src=", "@import", "url(", "http://", "https://"] {
            assert!(!html.contains(needle), "{needle} in the page");
        }

        let md = t.markdown();
        assert!(
            md.starts_with("# Incident report: Web &lt;down&gt; & out\n"),
            "{md}"
        );
        // Output stays verbatim, inside a fence.
        assert!(md.contains("```text\n<script>alert('x')</script>\na & b \"c\"\n```"));
    }

    #[test]
    fn control_sequences_in_output_are_visible_in_html_and_markdown() {
        let mut t = Script::new();
        t.start(0, "check", "run", 1)
            .output(5, "check", "\x1b[2K\r\x1b[32mok\x1b[0m \x1b]0;owned\x07")
            .finish(10, "check", Outcome::Failed, 10)
            .end(20, RunOutcome::Failed, Some("check"));
        let timeline = t.timeline();
        for page in [timeline.markdown(), timeline.html()] {
            assert!(!page.contains('\x1b') && !page.contains('\x07') && !page.contains('\r'));
            assert!(page.contains("\\x1b[2K\\r\\x1b[32mok"), "{page}");
        }
        // The JSON report keeps the recorded text (JSON escapes it).
        assert!(timeline.json().contains("\\u001b[2K"));
    }

    #[test]
    fn a_torn_transcript_reports_the_run_as_unfinished_and_resumable() {
        let mut s = Script::new();
        s.start(0, "status", "run", 1)
            .finish(20, "status", Outcome::Ok, 20)
            .start(21, "restart", "run", 1)
            .output(40, "restart", "stopping");
        let t = s.timeline();
        assert!(!t.totals.finished);
        assert!(t.totals.resumable);
        assert_eq!(t.totals.outcome, None);
        assert_eq!(t.totals.duration_ms, 40);
        assert_eq!(t.totals.running, vec!["restart".to_owned()]);
        assert_eq!((t.totals.ok, t.totals.unfinished), (1, 1));
        let restart = &t.steps[1];
        assert_eq!(restart.outcome, Status::Unfinished);
        assert_eq!(restart.duration_ms, 19);
        assert_eq!(restart.output[0].text, "stopping");

        let md = t.markdown();
        assert!(
            md.contains("**Run did not finish (40ms recorded)**"),
            "{md}"
        );
        assert!(md.contains("> **The run did not finish.** The transcript ends at T+40ms, while `restart` was running"));
        assert!(md.contains("resumable"));
        assert!(md.contains("| `restart` Step restart | **did not finish** | 19ms |"));
        let html = t.html();
        assert!(html.contains("DID NOT FINISH"));
        assert!(html.contains("class=\"g-row o-unfinished\""));
        let json: Value = serde_json::from_str(&t.json()).unwrap();
        assert_eq!(json["totals"]["finished"], false);
        assert_eq!(json["steps"][1]["outcome"], "unfinished");
    }

    #[test]
    fn decisions_edits_and_escalations_are_shown() {
        let mut s = Script::new();
        // The edit is asked before the step starts; the start carries the edited command.
        s.prompt(10, "restart", "systemctl restart web && sleep 1", "edited")
            .start(11, "restart", "run", 1)
            .prompt(31, "restart", "escalate", "escalate")
            .push(
                32,
                Event::Escalation(Escalation {
                    level: 1,
                    reason: word("operator"),
                    channels: vec!["slack".into(), "pager".into()],
                    message: "web is down".into(),
                    step: Some("restart".into()),
                    deliveries: vec![
                        Delivery {
                            channel: "slack".into(),
                            ok: true,
                            error: None,
                            duration_ms: 40,
                        },
                        Delivery {
                            channel: "pager".into(),
                            ok: false,
                            error: Some("HTTP 500 <boom>".into()),
                            duration_ms: 90,
                        },
                    ],
                    rung: None,
                    due_ms: None,
                    late_ms: 0,
                }),
            )
            .finish(33, "restart", Outcome::Failed, 22)
            .end(40, RunOutcome::Failed, Some("restart"));
        let t = s.timeline();
        assert_eq!(t.steps.len(), 1);
        let restart = &t.steps[0];
        assert!(restart.edited);
        assert_eq!(restart.command.as_deref(), Some("check restart"));
        let decisions: Vec<_> = restart.decisions.iter().map(DecisionEntry::word).collect();
        assert_eq!(decisions, ["edited", "escalate"]);
        assert_eq!(t.escalations[0].delivered, 1);
        assert_eq!(t.escalations[0].failed, 1);

        let md = t.markdown();
        assert!(
            md.contains("- **Command (edited by the operator):** `check restart`"),
            "{md}"
        );
        assert!(
            md.contains("decided edited: `systemctl restart web && sleep 1`"),
            "{md}"
        );
        assert!(md.contains("| 03:12:00 | 32ms | escalation, level 1 (operator) | 1 delivered, 1 failed | | slack ok, pager FAILED: HTTP 500 &lt;boom&gt; |"), "{md}");
        assert!(md.contains("| Failed step | `restart` |"));
        assert!(md.contains("### Root cause"));
        assert!(md.contains("### Action items"));

        let html = t.html();
        assert!(
            html.contains("<span class=\"decision\">edited</span>"),
            "{html}"
        );
        assert!(html.contains("✗ pager failed: HTTP 500 &lt;boom&gt;"));
        assert!(html.contains("✓ slack delivered"));
        assert!(html.contains("escalation, level 1"));

        let json: Value = serde_json::from_str(&t.json()).unwrap();
        assert_eq!(json["format"], REPORT_FORMAT);
        assert_eq!(json["steps"][0]["edited"], true);
        assert_eq!(json["steps"][0]["decisions"][0]["decision"], "edited");
        assert_eq!(
            json["escalations"][0]["deliveries"][1]["error"],
            "HTTP 500 <boom>"
        );
        assert_eq!(json["totals"]["outcome"], "failed");
        assert_eq!(json["totals"]["failed_step"], "restart");
    }

    #[test]
    fn retries_merge_and_parallel_children_nest() {
        let mut s = Script::new();
        s.start(0, "health", "run", 1)
            .output(5, "health", "503")
            .start(2005, "health", "run", 2)
            .output(2010, "health", "200")
            .finish(2010, "health", Outcome::Ok, 2010)
            .start(2011, "checks", "parallel", 1)
            .start(2011, "disk", "run", 1)
            .start(2011, "top", "run", 1)
            .finish(2015, "disk", Outcome::Ok, 4)
            .finish(2200, "top", Outcome::Ok, 189)
            .finish(2200, "checks", Outcome::Ok, 189)
            // Skipped by `when`: no start record.
            .finish(2201, "notify", Outcome::Skipped, 0)
            .end(2201, RunOutcome::Success, None);
        let t = s.timeline();
        let ids: Vec<(&str, u32)> = t.steps.iter().map(|s| (s.step.as_str(), s.depth)).collect();
        assert_eq!(
            ids,
            [
                ("health", 0),
                ("checks", 0),
                ("disk", 1),
                ("top", 1),
                ("notify", 0)
            ]
        );
        assert_eq!(t.steps[0].attempts, 2);
        assert_eq!(t.steps[0].output[0].text, "503\n200");
        assert_eq!(t.steps[4].outcome, Status::Skipped);
        assert_eq!(t.steps[4].start_ms, 2201);
        assert!(t.markdown().contains("| ↳ `disk` Step disk | ok | 4ms |"));
    }

    #[test]
    fn a_resume_closes_what_was_running() {
        let mut s = Script::new();
        s.start(0, "restart", "run", 1).push(
            5000,
            Event::RunResumed(RunResumed {
                operator: "bob".into(),
                hostname: "ops-2".into(),
                next_step: Some("restart".into()),
                playbook_changed: false,
                sha256: String::new(),
                mode: word("interactive"),
                gap_ms: 4000,
                rerun: vec!["restart".into()],
            }),
        );
        s.start(5001, "restart", "run", 1)
            .finish(5100, "restart", Outcome::Ok, 99)
            .end(5100, RunOutcome::Success, None);
        let t = s.timeline();
        let outcomes: Vec<Status> = t.steps.iter().map(|s| s.outcome).collect();
        assert_eq!(outcomes, [Status::Unfinished, Status::Ok]);
        assert!(t.totals.finished);
        assert!(!t.totals.resumable);
        let kinds: Vec<&str> = t
            .rows()
            .iter()
            .map(|r| match r {
                Row::Step(_) => "step",
                Row::Escalation(_) => "escalation",
                Row::Resumed(_) => "resumed",
            })
            .collect();
        assert_eq!(kinds, ["step", "resumed", "step"]);
        assert!(t.markdown().contains(
            "| run resumed | | | by bob after the run was stopped for 4.0s from `restart` |"
        ));
    }

    #[test]
    fn a_question_whose_step_never_started_is_still_shown() {
        let mut s = Script::new();
        s.prompt(10, "wipe", "yes", "run");
        let t = s.timeline();
        assert_eq!(t.steps.len(), 1);
        assert_eq!(t.steps[0].step, "wipe");
        assert_eq!(t.steps[0].outcome, Status::Unfinished);
        assert_eq!(t.steps[0].decisions[0].answer, "yes");
        assert_eq!(t.totals.duration_ms, 10);
    }

    #[test]
    fn long_output_keeps_its_head() {
        let text: Vec<String> = (1..=45).map(|i| format!("line {i}")).collect();
        let h = head(Stream::Stdout, &text.join("\n"));
        assert_eq!((h.lines, h.omitted_lines), (OUTPUT_HEAD_LINES, 15));
        assert!(h.text.ends_with("line 30"));
    }

    #[test]
    fn durations_and_clocks() {
        assert_eq!(format_duration(31), "31ms");
        assert_eq!(format_duration(8083), "8.1s");
        assert_eq!(format_duration(125_000), "2m05s");
        assert_eq!(format_duration(3_720_000), "1h02m");
        assert_eq!(clock("2026-01-15T03:12:00.123Z"), "03:12:00");
        assert_eq!(clock("yesterday"), "yesterday");
    }
}
