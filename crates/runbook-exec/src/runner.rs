//! The engine: walks a playbook's steps, asks the [`Operator`] what it must, runs commands,
//! judges them, follows branches, escalates, and records every event in the transcript.
//!
//! **Invariant:** every event is written to the transcript before the observer sees it.
//! **Invariant:** a step's recorded command and output never contain a known secret.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use runbook_model::playbook::{CheckStatus, WatchUntil};
use runbook_model::{Document, Flow, Inventory, Playbook, Spanned, Step};
use runbook_template::{Engine, Mode, TemplateValue};
use runbook_transcript::{
    Event, Outcome, Output, PlaybookInfo, Prompt, Record, RunFinished, RunOutcome, RunResumed,
    RunStarted, StepFinished, StepStarted, Stream, TranscriptWriter, Verdict,
};
use serde_json::Value;
use tokio::sync::watch;

use crate::context::ContextParts;
use crate::error::Error;
use crate::escalate::{self, Notice};
use crate::expect;
use crate::operator::{
    AfterFailure, AfterInterrupt, Answered, BeforeStep, ManualAnswer, Operator, StepPreview,
};
use crate::process::{self, LineSink, ProcessSpec, Signals};
use crate::redact::Redactor;
use crate::resume::{Position, ResumePoint};
use crate::vars::{Overrides, Vars, value_text};

/// Output lines (per step and stream) written into the transcript; the rest is spilled.
const RECORDED_LINES: usize = 500;
/// Bytes of stdout/stderr kept in `steps.<id>` and the step_finished record.
const VIEW_BYTES: usize = 16 * 1024;
/// How deep sub-playbooks may nest.
const MAX_DEPTH: usize = 8;

/// Sees every record after it was written, and every output line (recorded or spilled).
pub trait Observer: Send + Sync {
    fn record(&self, record: &Record);
    fn output(&self, step: &str, stream: Stream, line: &str);
}

/// Everything a run needs.
pub struct RunRequest {
    pub engine: Arc<Engine>,
    pub playbook: Playbook,
    pub file: PathBuf,
    pub source_text: String,
    pub inventory: Option<(Arc<Inventory>, String)>,
    pub overrides: Overrides,
    pub vars: Vars,
    pub transcript: PathBuf,
    pub operator: Arc<dyn Operator>,
    pub observer: Arc<dyn Observer>,
    pub kill_grace: Duration,
    /// Ctrl-C and SIGTERM, counted by the front end.
    pub signals: watch::Receiver<Signals>,
    /// Continue a transcript instead of starting one.
    pub resume: Option<ResumePoint>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: String,
    pub outcome: RunOutcome,
    pub transcript: PathBuf,
    pub finished: RunFinished,
    pub steps: Vec<(String, Outcome, u64)>,
}

/// State shared by a run and its sub-playbooks.
struct Shared {
    writer: Mutex<TranscriptWriter>,
    observer: Arc<dyn Observer>,
    operator: Arc<dyn Operator>,
    redactor: Mutex<Redactor>,
    engine: Arc<Engine>,
    inventory: Option<Arc<Inventory>>,
    overrides: Overrides,
    signals: watch::Receiver<Signals>,
    run_id: String,
    started: Instant,
    /// The incident clock's time before this process (a resumed run).
    elapsed_before: Duration,
    /// When the run started, RFC 3339 (the first start, for a resumed run).
    started_at: String,
    escalation_level: AtomicU32,
    spill_dir: PathBuf,
    kill_grace: Duration,
    playbook_info: Value,
    failed_step: Mutex<Option<String>>,
    /// Outcomes in the order steps finished: (step, outcome, duration ms).
    outcomes: Mutex<Vec<(String, Outcome, u64)>>,
}

impl Shared {
    /// Writes a record, then shows it. A transcript that cannot be written stops nothing
    /// else but is reported once on the observer's channel.
    fn emit(&self, event: Event) -> Record {
        let mut writer = self.writer.lock().expect("transcript lock");
        let sync = matches!(
            event,
            Event::StepFinished(_)
                | Event::RunStarted(_)
                | Event::RunResumed(_)
                | Event::Escalation(_)
        );
        // The observer sees the record even when the disk refused it (reported once here).
        let record = writer.stamp(event);
        if let Err(err) = writer.write_record(&record) {
            tracing::error!("cannot write the transcript: {err}");
        }
        if sync {
            writer.sync();
        }
        drop(writer);
        self.observer.record(&record);
        record
    }

    fn redact(&self, text: &str) -> String {
        self.redactor.lock().expect("redactor lock").redact(text)
    }

    fn signals(&self) -> Signals {
        *self.signals.borrow()
    }

    /// SIGTERM stops any run; Ctrl-C stops an unattended one (an operator is asked instead).
    fn should_stop(&self) -> bool {
        let s = self.signals();
        s.terminated || (!self.operator.interactive() && s.interrupts > 0)
    }

    fn elapsed(&self) -> Duration {
        self.elapsed_before + self.started.elapsed()
    }
}

/// The result of one step, as later templates see it (`steps.<id>`).
#[derive(Debug, Clone, serde::Serialize)]
struct StepView {
    status: &'static str,
    exit: Option<i32>,
    stdout: String,
    stderr: String,
    duration: f64,
}

/// Runs a playbook to its end and returns how it went.
pub async fn run(request: RunRequest) -> Result<RunSummary, Error> {
    let RunRequest {
        engine,
        playbook,
        file,
        source_text,
        inventory,
        overrides,
        vars,
        transcript,
        operator,
        observer,
        kill_grace,
        signals,
        resume,
    } = request;
    let writer = match &resume {
        Some(point) => TranscriptWriter::append(&transcript, point.next_seq, point.elapsed_ms),
        None => TranscriptWriter::create(&transcript),
    }
    .map_err(|source| Error::Transcript {
        path: transcript.clone(),
        source,
    })?;
    let run_id = transcript
        .file_stem()
        .map_or_else(|| "run".to_owned(), |s| s.to_string_lossy().into_owned());
    let spill_dir = transcript.with_extension("out");
    let playbook_info = PlaybookInfo {
        name: playbook.metadata.name.value.clone(),
        title: playbook.title().to_owned(),
        version: playbook.metadata.version.as_ref().map(|v| v.value.clone()),
        file: file.display().to_string(),
        sha256: sha256_hex(source_text.as_bytes()),
    };
    let redactor = vars.redactor();
    let shared = Arc::new(Shared {
        writer: Mutex::new(writer),
        observer,
        operator: operator.clone(),
        redactor: Mutex::new(redactor.clone()),
        engine: engine.clone(),
        inventory: inventory.as_ref().map(|(i, _)| i.clone()),
        overrides: overrides.clone(),
        signals,
        run_id: run_id.clone(),
        started: Instant::now(),
        elapsed_before: Duration::from_millis(resume.as_ref().map_or(0, |r| r.elapsed_ms)),
        started_at: resume
            .as_ref()
            .map_or_else(runbook_transcript::time::now, |r| r.started_ts.clone()),
        escalation_level: AtomicU32::new(resume.as_ref().map_or(0, |r| r.escalations)),
        spill_dir,
        kill_grace,
        playbook_info: serde_json::to_value(&playbook_info).unwrap_or(Value::Null),
        failed_step: Mutex::new(resume.as_ref().and_then(|r| r.failed_step.clone())),
        outcomes: Mutex::new(Vec::new()),
    });
    let mode = if operator.interactive() {
        "interactive"
    } else {
        "unattended"
    }
    .to_owned();
    let params = vars
        .values
        .keys()
        .map(|name| (name.clone(), redacted_value(&vars, name)))
        .collect();
    let mut state = State::default();
    let mut position = Position::Main(0);
    let mut policy_fired = 0;
    if let Some(point) = &resume {
        shared.emit(Event::RunResumed(RunResumed {
            operator: operator.name().to_owned(),
            hostname: hostname(),
            next_step: point.next_step(&playbook),
            playbook_changed: point.started.playbook.sha256 != playbook_info.sha256,
            sha256: playbook_info.sha256.clone(),
            mode: mode.clone(),
        }));
        state.captures = point.captures.clone();
        for (id, step) in &point.steps {
            state.views.insert(
                id.clone(),
                StepView {
                    status: step.outcome.as_str(),
                    exit: step.exit,
                    stdout: step.stdout.clone(),
                    stderr: step.stderr.clone(),
                    duration: step.duration_ms as f64 / 1000.0,
                },
            );
            shared.outcomes.lock().expect("lock").push((
                id.clone(),
                step.outcome,
                step.duration_ms,
            ));
        }
        state.visits = point.visits.clone();
        position = point.position;
        policy_fired = point.policy_fired as usize;
    } else {
        shared.emit(Event::RunStarted(RunStarted {
            format: runbook_transcript::FORMAT.to_owned(),
            run_id: run_id.clone(),
            playbook: playbook_info,
            inventory: inventory.as_ref().map(|(_, p)| p.clone()),
            params,
            secrets: vars.secret_names.iter().cloned().collect(),
            overrides: overrides
                .vars
                .iter()
                .map(|(k, v)| (k.clone(), redactor.redact(v)))
                .collect(),
            var_files: overrides
                .var_files
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            operator: operator.name().to_owned(),
            hostname: hostname(),
            engine_version: env!("CARGO_PKG_VERSION").to_owned(),
            mode,
            step_ids: playbook
                .all_steps()
                .iter()
                .map(|s| s.id.value.clone())
                .collect(),
        }));
    }

    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let runner = Runner {
        shared: shared.clone(),
        playbook: &playbook,
        vars,
        dir,
        prefix: String::new(),
        depth: 0,
        state: Mutex::new(state),
    };
    let timer = runner.start_escalation_timer(policy_fired);
    let outcome = runner.run_playbook(position).await;
    timer.abort();

    let outcomes = shared.outcomes.lock().expect("outcomes lock").clone();
    let count = |o: Outcome| last_outcomes(&outcomes).filter(|x| *x == o).count() as u32;
    let finished = RunFinished {
        outcome,
        exit_code: outcome.exit_code(),
        duration_ms: shared.elapsed().as_millis() as u64,
        failed_step: shared.failed_step.lock().expect("lock").clone(),
        steps_ok: count(Outcome::Ok),
        steps_warning: count(Outcome::Warning),
        steps_failed: count(Outcome::Failed),
        steps_skipped: count(Outcome::Skipped),
    };
    shared.emit(Event::RunFinished(finished.clone()));
    drop(runner);
    let shared = Arc::try_unwrap(shared).map_err(|_| ()).ok();
    if let Some(shared) = shared {
        let writer = shared.writer.into_inner().expect("transcript lock");
        writer.close().map_err(|source| Error::Transcript {
            path: transcript.clone(),
            source,
        })?;
    }
    Ok(RunSummary {
        run_id,
        outcome,
        transcript,
        finished,
        steps: outcomes,
    })
}

/// The last outcome of each step (a step visited twice counts once, as it ended).
fn last_outcomes(outcomes: &[(String, Outcome, u64)]) -> impl Iterator<Item = Outcome> {
    let mut last: IndexMap<&str, Outcome> = IndexMap::new();
    for (id, outcome, _) in outcomes {
        last.insert(id, *outcome);
    }
    last.into_values().collect::<Vec<_>>().into_iter()
}

fn redacted_value(vars: &Vars, name: &str) -> Value {
    if vars.secret_names.contains(name) {
        Value::String(crate::redact::MASK.into())
    } else {
        vars.values.get(name).cloned().unwrap_or(Value::Null)
    }
}

/// Per-playbook state: captures, step results, visits.
#[derive(Default)]
struct State {
    captures: IndexMap<String, Value>,
    views: IndexMap<String, StepView>,
    visits: HashMap<String, u32>,
    /// When each running step's action began (after the operator's go-ahead), so a step's
    /// duration does not count the time spent at its prompt.
    began: HashMap<String, Instant>,
}

/// What a step ended as, and the data that goes with it.
struct StepReport {
    outcome: Outcome,
    exit: Option<i32>,
    attempts: u32,
    verdicts: Vec<Verdict>,
    captures: IndexMap<String, Value>,
    message: Option<String>,
    stdout: String,
    stderr: String,
    spilled: Option<String>,
    report: Option<String>,
    inputs: IndexMap<String, Value>,
    interrupted: bool,
    /// The operator chose to abort the run.
    abort: bool,
}

impl StepReport {
    fn new(outcome: Outcome) -> Self {
        StepReport {
            outcome,
            exit: None,
            attempts: 0,
            verdicts: Vec::new(),
            captures: IndexMap::new(),
            message: None,
            stdout: String::new(),
            stderr: String::new(),
            spilled: None,
            report: None,
            inputs: IndexMap::new(),
            interrupted: false,
            abort: false,
        }
    }

    /// A Ctrl-C or SIGTERM stopped the run while this step ran or asked.
    fn stopped() -> Self {
        let mut report = StepReport::new(Outcome::Aborted).with_message("interrupted");
        report.interrupted = true;
        report
    }

    fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
}

struct Runner<'p> {
    shared: Arc<Shared>,
    playbook: &'p Playbook,
    vars: Vars,
    dir: PathBuf,
    /// `parent/` for the steps of a sub-playbook.
    prefix: String,
    depth: usize,
    state: Mutex<State>,
}

impl Runner<'_> {
    /// Runs the steps, then `finally`; returns the run's outcome.
    async fn run_playbook(&self, position: Position) -> RunOutcome {
        let (main_start, finally_start) = match position {
            Position::Main(i) => (Some(i), 0),
            Position::Finally(i) => (None, i),
        };
        let mut outcome = match main_start {
            Some(i) => self.run_main(i).await,
            None if self.shared.failed_step.lock().expect("lock").is_some() => RunOutcome::Failed,
            None => RunOutcome::Success,
        };
        // An interrupted run leaves `finally` to the resumed run: the operator wants control back.
        if outcome == RunOutcome::Interrupted {
            return outcome;
        }
        for step in self.playbook.finally.iter().skip(finally_start) {
            let report = self.step(step).await;
            if report.interrupted {
                return RunOutcome::Interrupted;
            }
            if report.outcome == Outcome::Failed && outcome == RunOutcome::Success {
                outcome = RunOutcome::Failed;
                self.mark_failed(&step.id);
            }
        }
        outcome
    }

    async fn run_main(&self, start: usize) -> RunOutcome {
        let steps = &self.playbook.steps;
        let index: HashMap<&str, usize> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let mut i = start;
        while i < steps.len() {
            let step = &steps[i];
            let visit = {
                let mut state = self.state.lock().expect("state lock");
                let v = state.visits.entry(step.id.value.clone()).or_insert(0);
                *v += 1;
                *v
            };
            if visit > step.visit_limit() {
                let message = format!(
                    "step `{}` would run a {} time; max_visits is {}",
                    step.id.value,
                    ordinal(visit),
                    step.visit_limit()
                );
                self.finish(
                    &step.id,
                    &StepReport::new(Outcome::Failed).with_message(message),
                    0,
                );
                self.mark_failed(&step.id);
                return RunOutcome::Failed;
            }
            let report = self.step_visit(step, visit).await;
            if report.interrupted {
                return RunOutcome::Interrupted;
            }
            if report.abort {
                return RunOutcome::Aborted;
            }
            let next = if report.outcome.passed() {
                step.on_success
                    .as_ref()
                    .and_then(|t| index.get(t.as_str()).copied())
                    .unwrap_or(i + 1)
            } else {
                if let Some(channel) = step.on_failure.as_ref().and_then(|f| f.escalate()) {
                    self.escalate(
                        vec![channel.to_owned()],
                        "failure",
                        Some(&step.id),
                        report.message.as_deref(),
                    )
                    .await;
                }
                match step.failure_flow() {
                    Flow::Abort => {
                        self.mark_failed(&step.id);
                        return RunOutcome::Failed;
                    }
                    Flow::Continue => i + 1,
                    Flow::Goto(target) => match index.get(target.as_str()) {
                        Some(&t) => t,
                        None => return RunOutcome::Failed,
                    },
                }
            };
            i = next;
        }
        RunOutcome::Success
    }

    fn mark_failed(&self, id: &str) {
        let mut failed = self.shared.failed_step.lock().expect("lock");
        if failed.is_none() {
            *failed = Some(format!("{}{id}", self.prefix));
        }
    }

    /// A step outside the main loop (finally, parallel children): visit 1.
    async fn step(&self, step: &Spanned<Step>) -> StepReport {
        self.step_visit(step, 1).await
    }

    async fn step_visit(&self, step: &Spanned<Step>, visit: u32) -> StepReport {
        let started = Instant::now();
        let mut report = Box::pin(self.execute(step, visit)).await;
        let began = self
            .state
            .lock()
            .expect("state lock")
            .began
            .remove(step.id.as_str());
        let elapsed = began.unwrap_or(started).elapsed();
        self.finish(&step.id, &report, elapsed.as_millis() as u64);
        // What later steps see: captures and answers, and `steps.<id>`.
        let mut state = self.state.lock().expect("state lock");
        let learned = std::mem::take(&mut report.captures)
            .into_iter()
            .chain(std::mem::take(&mut report.inputs));
        state.captures.extend(learned);
        state.views.insert(
            step.id.value.clone(),
            StepView {
                status: report.outcome.as_str(),
                exit: report.exit,
                stdout: std::mem::take(&mut report.stdout),
                stderr: std::mem::take(&mut report.stderr),
                duration: elapsed.as_secs_f64(),
            },
        );
        drop(state);
        report
    }

    /// Records the end of a step.
    fn finish(&self, id: &str, report: &StepReport, duration_ms: u64) {
        let step = format!("{}{id}", self.prefix);
        self.shared.emit(Event::StepFinished(StepFinished {
            step: step.clone(),
            outcome: report.outcome,
            exit: report.exit,
            duration_ms,
            attempts: report.attempts,
            verdicts: report.verdicts.clone(),
            captures: report.captures.clone(),
            message: report.message.clone(),
            stdout: report.stdout.clone(),
            stderr: report.stderr.clone(),
            spilled: report.spilled.clone(),
            report: report.report.clone(),
            inputs: report.inputs.clone(),
        }));
        self.shared
            .outcomes
            .lock()
            .expect("lock")
            .push((step, report.outcome, duration_ms));
    }

    fn context(&self, host: &str, own: Option<&IndexMap<String, Value>>) -> TemplateValue {
        let state = self.state.lock().expect("state lock");
        let mut captures: IndexMap<String, TemplateValue> = state
            .captures
            .iter()
            .map(|(k, v)| (k.clone(), runbook_template::context(v)))
            .collect();
        if let Some(own) = own {
            captures.extend(
                own.iter()
                    .map(|(k, v)| (k.clone(), runbook_template::context(v))),
            );
        }
        let steps = runbook_template::context(&state.views);
        drop(state);
        let elapsed = self.shared.elapsed();
        let failed = self.shared.failed_step.lock().expect("lock").clone();
        let run = runbook_template::context(&serde_json::json!({
            "id": self.shared.run_id,
            "elapsed": runbook_transcript::time::format_duration(elapsed),
            "elapsed_seconds": elapsed.as_secs(),
            "operator": self.shared.operator.name(),
            "failed_step": failed,
        }));
        let incident = runbook_template::context(&serde_json::json!({
            "elapsed": runbook_transcript::time::format_duration(elapsed),
            "elapsed_minutes": elapsed.as_secs() / 60,
            "started": self.shared.started_at,
        }));
        ContextParts {
            playbook: self.playbook,
            values: &self.vars.values,
            captures: &captures,
            steps,
            host,
            run,
            incident,
        }
        .build()
    }

    fn render(
        &self,
        text: &str,
        mode: Mode,
        own: Option<&IndexMap<String, Value>>,
    ) -> Result<String, String> {
        if !text.contains("{{") && !text.contains("{%") {
            return Ok(text.to_owned());
        }
        self.shared
            .engine
            .render(text, &self.context("local", own), mode)
            .map_err(|e| e.message)
    }

    fn prompt(&self, step: &str, question: String, answer: String, decision: &str) {
        if question.is_empty() && !self.shared.operator.interactive() {
            return;
        }
        self.shared.emit(Event::Prompt(Prompt {
            step: format!("{}{step}", self.prefix),
            question: self.shared.redact(&question),
            answer: self.shared.redact(&answer),
            operator: self.shared.operator.name().to_owned(),
            decision: Some(decision.to_owned()),
        }));
    }

    /// Runs one step's action and judges it.
    async fn execute(&self, step: &Spanned<Step>, visit: u32) -> StepReport {
        if let Some(when) = &step.when {
            let ctx = self.context("local", None);
            match self.shared.engine.is_true(when, &ctx) {
                Ok(true) => {}
                Ok(false) => {
                    return StepReport::new(Outcome::Skipped)
                        .with_message(format!("when: {} is false", when.value));
                }
                Err(err) => {
                    return StepReport::new(Outcome::Failed)
                        .with_message(format!("when: {}", err.message));
                }
            }
        }
        if self.shared.should_stop() {
            return StepReport::stopped();
        }
        if step.run.is_some() {
            self.run_step(step, visit).await
        } else if let Some(manual) = &step.manual {
            self.manual_step(step, manual, visit).await
        } else if let Some(wait) = &step.wait {
            self.wait_step(step, wait.parse().unwrap_or_default(), visit)
                .await
        } else if let Some(children) = &step.parallel {
            self.parallel_step(step, children, visit).await
        } else if let Some(path) = &step.playbook {
            self.sub_playbook(step, path, visit).await
        } else if let Some(report) = &step.report {
            self.started(step, "report", None, 1, visit);
            match self.render(report, Mode::Text, None) {
                Ok(text) => {
                    let mut r = StepReport::new(Outcome::Ok);
                    r.report = Some(self.shared.redact(&text));
                    r
                }
                Err(e) => StepReport::new(Outcome::Failed).with_message(format!("report: {e}")),
            }
        } else {
            StepReport::new(Outcome::Failed).with_message("the step has no action")
        }
    }

    fn started(&self, step: &Step, action: &str, command: Option<&str>, attempt: u32, visit: u32) {
        self.state
            .lock()
            .expect("state lock")
            .began
            .entry(step.id.value.clone())
            .or_insert_with(Instant::now);

        self.shared.emit(Event::StepStarted(StepStarted {
            step: format!("{}{}", self.prefix, step.id.value),
            name: step.title().to_owned(),
            action: action.to_owned(),
            command: command.map(|c| self.shared.redact(c)),
            host: "local".to_owned(),
            attempt,
            visit,
            planned_ms: step
                .wait
                .as_ref()
                .or(step.watch.as_ref().map(|w| &w.duration))
                .and_then(|d| d.parse().ok())
                .map(|d: Duration| d.as_millis() as u64),
        }));
    }

    async fn run_step(&self, step: &Spanned<Step>, visit: u32) -> StepReport {
        let template = step.run.as_ref().expect("a run step");
        let mut command = match self.render(template, Mode::Shell, None) {
            Ok(command) => command,
            Err(e) => {
                return StepReport::new(Outcome::Failed)
                    .with_message(format!("command template: {e}"));
            }
        };
        if let Some(on) = &step.on {
            return StepReport::new(Outcome::Failed).with_message(format!(
                "`on: {}`: remote steps over SSH are not supported by this build",
                on.value
            ));
        }
        let shown = self.shared.redact(&command);
        let operator = self.shared.operator.clone();
        let preview = StepPreview {
            id: step.id.value.clone(),
            name: step.title().to_owned(),
            doc: step.doc.clone(),
            action: "run",
            command: Some(shown.clone()),
            host: "local".to_owned(),
            expect: step
                .expect
                .as_ref()
                .map(|e| {
                    crate::plan::describe_expect(e, &|t| {
                        self.render(t, Mode::Text, None).unwrap_or_else(|e| e)
                    })
                })
                .unwrap_or_default(),
        };
        let Some(before) = self.ask(move |op| op.before_step(&preview)).await else {
            return StepReport::stopped();
        };
        match before.value {
            BeforeStep::Run => self.prompt(&step.id, before.question, before.answer, "run"),
            BeforeStep::Edit(edited) => {
                self.prompt(&step.id, before.question, before.answer, "edited");
                command = edited;
            }
            BeforeStep::Skip => {
                self.prompt(&step.id, before.question, before.answer, "skip");
                return StepReport::new(Outcome::Skipped).with_message("skipped by the operator");
            }
            BeforeStep::Abort => {
                self.prompt(&step.id, before.question, before.answer, "abort");
                let mut r =
                    StepReport::new(Outcome::Aborted).with_message("aborted by the operator");
                r.abort = true;
                return r;
            }
        }
        if let Some(question) = &step.confirm {
            let question = match self.render(question, Mode::Text, None) {
                Ok(q) => q,
                Err(e) => {
                    return StepReport::new(Outcome::Failed).with_message(format!("confirm: {e}"));
                }
            };
            let id = step.id.value.clone();
            let Some(answer) = self.ask(move |op| op.confirm(&id, &question)).await else {
                return StepReport::stopped();
            };
            let decision = if answer.value { "run" } else { "declined" };
            self.prompt(&step.id, answer.question, answer.answer, decision);
            if !answer.value {
                return StepReport::new(Outcome::Skipped).with_message("not confirmed");
            }
        }
        if step.danger.is_some() {
            let phrase = match self.render(step.confirm_phrase_template(), Mode::Text, None) {
                Ok(p) => p,
                Err(e) => {
                    return StepReport::new(Outcome::Failed)
                        .with_message(format!("confirm_phrase: {e}"));
                }
            };
            let (id, shown) = (step.id.value.clone(), shown.clone());
            let Some(answer) = self
                .ask(move |op| op.destructive(&id, &shown, &phrase))
                .await
            else {
                return StepReport::stopped();
            };
            let decision = if answer.value { "run" } else { "refused" };
            self.prompt(&step.id, answer.question, answer.answer.clone(), decision);
            if !answer.value {
                let outcome = if operator.interactive() {
                    Outcome::Skipped
                } else {
                    Outcome::Failed
                };
                return StepReport::new(outcome)
                    .with_message(format!("destructive step not confirmed: {}", answer.answer));
            }
        }
        let mut env = Vec::with_capacity(step.env.len() + 2);
        for (name, value) in &step.env {
            match self.render(value, Mode::Text, None) {
                Ok(v) => env.push((name.clone(), v)),
                Err(e) => {
                    return StepReport::new(Outcome::Failed)
                        .with_message(format!("env {name}: {e}"));
                }
            }
        }
        env.push(("RUNBOOK_RUN_ID".into(), self.shared.run_id.clone()));
        env.push(("RUNBOOK_STEP".into(), step.id.value.clone()));
        let spec = ProcessSpec {
            script: command.clone(),
            env,
            timeout: step.timeout.as_ref().and_then(|t| t.parse().ok()),
            grace: self.shared.kill_grace,
        };
        if let Some(watch) = &step.watch {
            return self
                .watch(
                    step,
                    &spec,
                    &command,
                    watch.every.parse().unwrap_or_default(),
                    watch.duration.parse().unwrap_or_default(),
                    watch.until,
                    visit,
                )
                .await;
        }
        let attempts = step.retry.as_ref().map_or(1, |r| r.attempts.max(1));
        let mut delay = step
            .retry
            .as_ref()
            .and_then(|r| r.delay.as_ref())
            .and_then(|d| d.parse().ok())
            .unwrap_or(Duration::ZERO);
        let backoff = step.retry.as_ref().and_then(|r| r.backoff).unwrap_or(1.0);
        let mut attempt = 1;
        loop {
            let mut report = self.attempt(step, &spec, &command, attempt, visit).await;
            report.attempts = attempt;
            if report.interrupted {
                // An operator decides what an interrupted step becomes; a policy stops the run.
                if !operator.interactive() || self.shared.signals().terminated {
                    return report;
                }
                let id = step.id.value.clone();
                let Some(decision) = self.ask(move |op| op.after_interrupt(&id)).await else {
                    return StepReport::stopped();
                };
                let label = decision.value.label();
                self.prompt(&step.id, decision.question, decision.answer, label);
                report.interrupted = false;
                match decision.value {
                    AfterInterrupt::Retry => {
                        attempt += 1;
                        continue;
                    }
                    AfterInterrupt::Skip => {
                        report.outcome = Outcome::Skipped;
                        report.message = Some("interrupted, then skipped by the operator".into());
                    }
                    AfterInterrupt::Abort => report.abort = true,
                }
                return report;
            }
            if report.outcome.passed() {
                return report;
            }
            if attempt < attempts {
                if !delay.is_zero() && self.sleep(delay).await {
                    return StepReport::stopped();
                }
                delay = delay.mul_f64(backoff);
                attempt += 1;
                continue;
            }
            if !operator.interactive() {
                return report;
            }
            // The operator decides, as often as it takes (an escalation asks again).
            loop {
                let (id, verdicts, message) = (
                    step.id.value.clone(),
                    report.verdicts.clone(),
                    report.message.clone(),
                );
                let Some(decision) = self
                    .ask(move |op| op.after_failure(&id, &verdicts, message.as_deref()))
                    .await
                else {
                    return StepReport::stopped();
                };
                let label = decision.value.label();
                self.prompt(&step.id, decision.question, decision.answer, label);
                match decision.value {
                    AfterFailure::Retry => break,
                    AfterFailure::Skip => {
                        report.outcome = Outcome::Skipped;
                        report.message = Some(format!(
                            "failed, then skipped by the operator: {}",
                            report.message.unwrap_or_default()
                        ));
                        return report;
                    }
                    AfterFailure::Escalate => {
                        let channels = self.escalation_channels();
                        self.escalate(
                            channels,
                            "operator",
                            Some(&step.id),
                            report.message.as_deref(),
                        )
                        .await;
                    }
                    AfterFailure::Abort => {
                        report.abort = true;
                        return report;
                    }
                    AfterFailure::Branch => return report,
                }
            }
            attempt += 1;
        }
    }

    /// Where an operator's "escalate now" goes: the next rung of the policy not yet reached,
    /// else the last one.
    fn escalation_channels(&self) -> Vec<String> {
        let elapsed = self.shared.elapsed();
        let rungs = &self.playbook.escalation;
        rungs
            .iter()
            .find(|r| r.after.parse().is_ok_and(|a| a > elapsed))
            .or(rungs.last())
            .map(|r| r.notify.iter().map(|c| c.value.clone()).collect())
            .unwrap_or_default()
    }

    /// Repeats the command every `every` for `duration`.
    #[allow(clippy::too_many_arguments)]
    async fn watch(
        &self,
        step: &Step,
        spec: &ProcessSpec,
        command: &str,
        every: Duration,
        duration: Duration,
        until: Option<WatchUntil>,
        visit: u32,
    ) -> StepReport {
        let started = Instant::now();
        let mut iteration = 1;
        loop {
            let mut report = self.attempt(step, spec, command, iteration, visit).await;
            report.attempts = iteration;
            if report.interrupted {
                return report;
            }
            let passed = report.outcome.passed();
            match until {
                Some(WatchUntil::Success) if passed => return report,
                None if !passed => {
                    report.message = Some(format!(
                        "failed on repetition {iteration}: {}",
                        report.message.unwrap_or_default()
                    ));
                    return report;
                }
                _ => {}
            }
            if started.elapsed() + every > duration {
                if until.is_some() {
                    report.message = Some(format!(
                        "did not pass within {}",
                        runbook_transcript::time::format_duration(duration)
                    ));
                }
                return report;
            }
            if self.sleep(every).await {
                report.interrupted = true;
                report.outcome = Outcome::Aborted;
                return report;
            }
            iteration += 1;
        }
    }

    /// Sleeps; true when interrupted.
    async fn sleep(&self, duration: Duration) -> bool {
        let base = self.shared.signals();
        let mut signals = self.shared.signals.clone();
        tokio::select! {
            () = tokio::time::sleep(duration) => false,
            _ = signals.wait_for(move |s| s.since(base)) => true,
        }
    }

    /// Asks the operator; `None` when a Ctrl-C (or SIGTERM) came while the question was open.
    async fn ask<T: Send + 'static>(
        &self,
        question: impl FnOnce(&dyn Operator) -> T + Send + 'static,
    ) -> Option<T> {
        let operator = self.shared.operator.clone();
        if !operator.interactive() {
            return Some(question(&*operator));
        }
        let base = self.shared.signals();
        let mut signals = self.shared.signals.clone();
        let task = tokio::task::spawn_blocking(move || question(&*operator));
        tokio::select! {
            answer = task => answer.ok(),
            _ = signals.wait_for(move |s| s.since(base)) => None,
        }
    }

    /// One execution of the command, judged.
    async fn attempt(
        &self,
        step: &Step,
        spec: &ProcessSpec,
        command: &str,
        attempt: u32,
        visit: u32,
    ) -> StepReport {
        let base = self.shared.signals();
        self.started(step, "run", Some(command), attempt, visit);
        let id = format!("{}{}", self.prefix, step.id.value);
        let redactor = self.shared.redactor.lock().expect("redactor lock").clone();
        let mut sink = StepOutput::new(&self.shared, &id, redactor, visit, attempt);
        let mut signals = self.shared.signals.clone();
        tracing::debug!(step = %id, attempt, timeout = ?spec.timeout, "starting bash");
        let result = match process::run(spec, &mut sink, &mut signals, base).await {
            Ok(result) => result,
            Err(err) => {
                return StepReport::new(Outcome::Failed)
                    .with_message(format!("cannot start bash: {err}"));
            }
        };
        let spilled = sink.spill_path.clone();
        let stdout = &result.stdout.text;
        let stderr = &result.stderr.text;
        let mut report = StepReport::new(Outcome::Ok);
        report.exit = Some(result.exit);
        report.stdout = self.shared.redact(&head(stdout, VIEW_BYTES));
        report.stderr = self.shared.redact(&head(stderr, VIEW_BYTES));
        report.spilled = spilled.map(|p| p.display().to_string());
        if result.interrupted {
            report.outcome = Outcome::Aborted;
            report.interrupted = true;
            report.message = Some("interrupted".into());
            return report;
        }
        if result.timed_out {
            report.outcome = Outcome::Failed;
            report.message = Some(format!(
                "timed out after {}",
                step.timeout.as_ref().map_or("?", |t| t.0.as_str())
            ));
            return report;
        }
        let render = |t: &str| self.render(t, Mode::Text, None);
        report.verdicts = expect::judge(step.expect.as_ref(), result.exit, stdout, stderr, &render);
        for v in &mut report.verdicts {
            v.got = v.got.as_deref().map(|g| self.shared.redact(g));
        }
        let mut own = IndexMap::new();
        for (name, spec) in &step.capture {
            match expect::capture(spec, result.exit, stdout, stderr) {
                Ok(value) => {
                    own.insert(name.clone(), value);
                }
                Err(why) => report.verdicts.push(Verdict {
                    what: format!("capture {name}"),
                    ok: false,
                    got: Some(why),
                }),
            }
        }
        if let Some(failed) = report.verdicts.iter().find(|v| !v.ok) {
            report.outcome = Outcome::Failed;
            report.message = Some(match &failed.got {
                Some(got) => format!("expected {}, got {}", failed.what, one_line(got)),
                None => format!("expected {}", failed.what),
            });
        } else {
            for check in &step.checks {
                let ctx = self.context("local", Some(&own));
                match self.shared.engine.is_true(&check.condition, &ctx) {
                    Ok(false) => continue,
                    Ok(true) => {
                        let message = check
                            .message
                            .as_ref()
                            .map(|m| self.render(m, Mode::Text, Some(&own)).unwrap_or_else(|e| e))
                            .unwrap_or_else(|| {
                                format!("{}: {}", status_word(check.status), check.condition.value)
                            });
                        report.verdicts.push(Verdict {
                            what: format!("check {}", check.condition.value),
                            ok: check.status != CheckStatus::Critical,
                            got: Some(message.clone()),
                        });
                        report.outcome = match check.status {
                            CheckStatus::Ok => Outcome::Ok,
                            CheckStatus::Warning => Outcome::Warning,
                            CheckStatus::Critical => Outcome::Failed,
                        };
                        report.message = Some(self.shared.redact(&message));
                        break;
                    }
                    Err(err) => {
                        report.outcome = Outcome::Failed;
                        report.message = Some(format!(
                            "check `{}`: {}",
                            check.condition.value, err.message
                        ));
                        break;
                    }
                }
            }
        }
        let redactor = self.shared.redactor.lock().expect("redactor lock").clone();
        for value in own.values_mut() {
            redactor.redact_json(value);
        }
        report.captures = own;
        report
    }

    async fn manual_step(
        &self,
        step: &Step,
        instructions: &Spanned<String>,
        visit: u32,
    ) -> StepReport {
        let text = match self.render(instructions, Mode::Text, None) {
            Ok(t) => t,
            Err(e) => return StepReport::new(Outcome::Failed).with_message(format!("manual: {e}")),
        };
        self.started(step, "manual", None, 1, visit);
        let inputs: Vec<_> = step
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        let (id, checklist) = (step.id.value.clone(), step.checklist.clone());
        let Some(answer) = self
            .ask(move |op| op.manual(&id, &text, &checklist, &inputs))
            .await
        else {
            return StepReport::stopped();
        };
        match answer.value {
            ManualAnswer::Done(values) => {
                self.prompt(&step.id, answer.question, answer.answer, "done");
                let mut report = StepReport::new(Outcome::Ok);
                for (name, value) in values {
                    let secret = step.inputs.get(&name).is_some_and(|i| i.secret);
                    if secret {
                        self.shared
                            .redactor
                            .lock()
                            .expect("lock")
                            .add(&value_text(&value));
                    }
                    self.state
                        .lock()
                        .expect("lock")
                        .captures
                        .insert(name.clone(), value.clone());
                    report.inputs.insert(
                        name,
                        if secret {
                            Value::String(crate::redact::MASK.into())
                        } else {
                            value
                        },
                    );
                }
                report
            }
            ManualAnswer::Skip | ManualAnswer::Fail => {
                // Later steps may read the answers: a question not asked keeps its default
                // (recorded, so a resumed run has it too).
                let defaults: IndexMap<String, Value> = step
                    .inputs
                    .iter()
                    .filter_map(|(name, input)| input.default.clone().map(|d| (name.clone(), d)))
                    .collect();
                let mut report = if answer.value == ManualAnswer::Fail {
                    self.prompt(&step.id, answer.question, answer.answer.clone(), "fail");
                    StepReport::new(Outcome::Failed)
                        .with_message(format!("manual step not done: {}", answer.answer))
                } else {
                    self.prompt(&step.id, answer.question, answer.answer.clone(), "skip");
                    StepReport::new(Outcome::Skipped).with_message(answer.answer)
                };
                report.inputs = defaults;
                report
            }
        }
    }

    async fn wait_step(&self, step: &Step, duration: Duration, visit: u32) -> StepReport {
        self.started(step, "wait", None, 1, visit);
        if self.shared.operator.interactive() {
            // A countdown the operator can cut short; Ctrl-C asks what to do (recorded, as for
            // a command): retry waits again, skip ends the wait, abort stops the run.
            loop {
                let id = step.id.value.clone();
                let Some(decision) = (match self.ask(move |op| op.wait(&id, duration)).await {
                    Some(Answered {
                        value: true,
                        question,
                        answer,
                    }) => {
                        self.prompt(&step.id, question, answer, "skip");
                        return StepReport::new(Outcome::Ok)
                            .with_message("wait cut short by the operator");
                    }
                    Some(_) => return StepReport::new(Outcome::Ok),
                    None => {
                        let id = step.id.value.clone();
                        self.ask(move |op| op.after_interrupt(&id)).await
                    }
                }) else {
                    return StepReport::stopped();
                };
                let label = decision.value.label();
                self.prompt(&step.id, decision.question, decision.answer, label);
                match decision.value {
                    AfterInterrupt::Retry => continue,
                    AfterInterrupt::Skip => {
                        return StepReport::new(Outcome::Ok)
                            .with_message("wait cut short by the operator");
                    }
                    AfterInterrupt::Abort => {
                        let mut r = StepReport::new(Outcome::Aborted)
                            .with_message("aborted by the operator");
                        r.abort = true;
                        return r;
                    }
                }
            }
        }
        if self.sleep(duration).await {
            return StepReport::stopped();
        }
        StepReport::new(Outcome::Ok)
    }

    async fn parallel_step(
        &self,
        step: &Step,
        children: &[Spanned<Step>],
        visit: u32,
    ) -> StepReport {
        self.started(step, "parallel", None, 1, visit);
        let reports = futures_join(children.iter().map(|c| self.step(c))).await;
        let failed: Vec<&str> = children
            .iter()
            .zip(&reports)
            .filter(|(c, r)| !r.outcome.passed() && !matches!(c.failure_flow(), Flow::Continue))
            .map(|(c, _)| c.id.as_str())
            .collect();
        let mut report = if failed.is_empty() {
            let warned = reports.iter().any(|r| r.outcome == Outcome::Warning);
            StepReport::new(if warned {
                Outcome::Warning
            } else {
                Outcome::Ok
            })
        } else {
            StepReport::new(Outcome::Failed).with_message(format!("failed: {}", failed.join(", ")))
        };
        report.interrupted = reports.iter().any(|r| r.interrupted);
        report.abort = reports.iter().any(|r| r.abort);
        report
    }

    async fn sub_playbook(&self, step: &Step, path: &Spanned<String>, visit: u32) -> StepReport {
        self.started(step, "playbook", Some(path), 1, visit);
        if self.depth + 1 > MAX_DEPTH {
            return StepReport::new(Outcome::Failed)
                .with_message(Error::TooDeep(MAX_DEPTH).to_string());
        }
        let file = self.dir.join(path.as_str());
        let checked = runbook_model::check_file(&file);
        let playbook = match (checked.has_errors(), checked.document) {
            (false, Some(Document::Playbook(pb))) => *pb,
            _ => {
                return StepReport::new(Outcome::Failed).with_message(format!(
                    "sub-playbook {} is not a valid playbook; run `runbook check` on it",
                    file.display()
                ));
            }
        };
        let mut overrides = self.shared.overrides.clone();
        // `with:` values are rendered in the parent's context and win over everything else.
        for (name, value) in &step.with {
            let text = value_text(&value.value);
            match self.render(&text, Mode::Text, None) {
                Ok(v) => overrides.vars.push((name.clone(), v)),
                Err(e) => {
                    return StepReport::new(Outcome::Failed)
                        .with_message(format!("with {name}: {e}"));
                }
            }
        }
        let vars = match Vars::resolve(
            &self.shared.engine,
            &playbook,
            self.shared.inventory.as_deref(),
            &overrides,
            &|n| std::env::var(n).ok(),
        ) {
            Ok(v) => v,
            Err(e) => return StepReport::new(Outcome::Failed).with_message(e.to_string()),
        };
        if !vars.missing.is_empty() {
            return StepReport::new(Outcome::Failed)
                .with_message(Error::MissingParams(vars.missing.clone()).to_string());
        }
        {
            let mut redactor = self.shared.redactor.lock().expect("lock");
            for name in &vars.secret_names {
                if let Some(v) = vars.values.get(name) {
                    redactor.add(&value_text(v));
                }
            }
        }
        let child = Runner {
            shared: self.shared.clone(),
            playbook: &playbook,
            vars,
            dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
            prefix: format!("{}{}/", self.prefix, step.id.value),
            depth: self.depth + 1,
            state: Mutex::default(),
        };
        let outcome = Box::pin(child.run_playbook(Position::Main(0))).await;
        let mut report = match outcome {
            RunOutcome::Success => StepReport::new(Outcome::Ok),
            RunOutcome::Failed => StepReport::new(Outcome::Failed).with_message(format!(
                "sub-playbook {} failed",
                playbook.metadata.name.value
            )),
            RunOutcome::Aborted => {
                let mut r = StepReport::new(Outcome::Aborted);
                r.abort = true;
                r
            }
            RunOutcome::Interrupted => {
                let mut r = StepReport::new(Outcome::Aborted);
                r.interrupted = true;
                r
            }
        };
        report.attempts = 1;
        report
    }

    /// Delivers a notice now and records it.
    async fn escalate(
        &self,
        channels: Vec<String>,
        reason: &str,
        step: Option<&str>,
        why: Option<&str>,
    ) {
        let level = self.shared.escalation_level.fetch_add(1, Ordering::SeqCst) + 1;
        let elapsed = runbook_transcript::time::format_duration(self.shared.elapsed());
        let subject = format!(
            "[{}] {} — escalation level {level}",
            self.playbook
                .metadata
                .severity
                .map_or("runbook".into(), |s| format!("{s:?}")),
            self.playbook.title()
        );
        let message = match step {
            Some(step) => format!(
                "Step `{step}` failed after {elapsed}: {}",
                why.unwrap_or("see the transcript")
            ),
            None => format!("{} unresolved after {elapsed}", self.playbook.title()),
        };
        let message = self.shared.redact(&message);
        fire(
            &self.shared,
            level,
            reason,
            channels,
            subject,
            message,
            step.map(|s| format!("{}{s}", self.prefix)),
        )
        .await;
    }

    /// The time-based policy: a task that fires each rung when its time comes.
    fn start_escalation_timer(&self, already_fired: usize) -> tokio::task::JoinHandle<()> {
        let shared = self.shared.clone();
        let mut rungs: Vec<(Duration, Vec<String>, String)> = Vec::new();
        for rung in self.playbook.escalation.iter().skip(already_fired) {
            let after = rung.after.parse().unwrap_or_default();
            let message = match &rung.message {
                Some(m) => self.render(m, Mode::Text, None).unwrap_or_else(|e| {
                    format!("{} (message template: {e})", self.playbook.title())
                }),
                None => format!(
                    "{} unresolved after {}",
                    self.playbook.title(),
                    rung.after.0
                ),
            };
            rungs.push((
                after,
                rung.notify.iter().map(|c| c.value.clone()).collect(),
                self.shared.redact(&message),
            ));
        }
        let title = self.playbook.title().to_owned();
        let severity = self
            .playbook
            .metadata
            .severity
            .map_or("runbook".into(), |s| format!("{s:?}"));
        tokio::spawn(async move {
            for (after, channels, message) in rungs {
                let wait = after.saturating_sub(shared.elapsed());
                tokio::time::sleep(wait).await;
                let level = shared.escalation_level.fetch_add(1, Ordering::SeqCst) + 1;
                let subject = format!("[{severity}] {title} — escalation level {level}");
                fire(&shared, level, "policy", channels, subject, message, None).await;
            }
        })
    }
}

async fn fire(
    shared: &Shared,
    level: u32,
    reason: &str,
    channels: Vec<String>,
    subject: String,
    message: String,
    step: Option<String>,
) {
    let failed = shared
        .failed_step
        .lock()
        .expect("lock")
        .clone()
        .or_else(|| step.clone());
    let notice = Notice {
        level,
        reason: reason.to_owned(),
        subject,
        message: message.clone(),
        playbook: shared.playbook_info.clone(),
        run: serde_json::json!({
            "id": shared.run_id,
            "elapsed": runbook_transcript::time::format_duration(shared.elapsed()),
            "elapsed_seconds": shared.elapsed().as_secs(),
            "failed_step": failed,
        }),
    };
    tracing::info!(level, reason, ?channels, "escalating");
    let redactor = shared.redactor.lock().expect("lock").clone();
    let deliveries = escalate::deliver(
        &shared.engine,
        shared.inventory.as_deref(),
        &channels,
        &notice,
        &redactor,
    )
    .await;
    shared.emit(Event::Escalation(runbook_transcript::Escalation {
        level,
        reason: reason.to_owned(),
        channels,
        message,
        step,
        deliveries,
    }));
}

/// Records output lines: the first ones in the transcript, the rest in a spill file.
struct StepOutput<'a> {
    shared: &'a Shared,
    step: &'a str,
    redactor: Redactor,
    recorded: [usize; 2],
    spill: Option<std::io::BufWriter<std::fs::File>>,
    spill_path: Option<PathBuf>,
    visit: u32,
    attempt: u32,
}

impl<'a> StepOutput<'a> {
    fn new(
        shared: &'a Shared,
        step: &'a str,
        redactor: Redactor,
        visit: u32,
        attempt: u32,
    ) -> Self {
        StepOutput {
            shared,
            step,
            redactor,
            recorded: [0, 0],
            spill: None,
            spill_path: None,
            visit,
            attempt,
        }
    }
}

impl LineSink for StepOutput<'_> {
    fn line(&mut self, stream: Stream, line: &str) {
        let redacted;
        let line = if self.redactor.is_empty() {
            line
        } else {
            redacted = self.redactor.redact(line);
            &redacted
        };
        let slot = usize::from(stream == Stream::Stderr);
        if self.recorded[slot] < RECORDED_LINES {
            self.recorded[slot] += 1;
            let event = Event::Output(Output {
                step: self.step.to_owned(),
                stream,
                text: line.to_owned(),
            });
            let mut writer = self.shared.writer.lock().expect("transcript lock");
            if let Err(err) = writer.write(event) {
                tracing::error!("cannot write the transcript: {err}");
            }
        } else {
            if self.spill.is_none() {
                let name = format!(
                    "{}-v{}-a{}.log",
                    self.step.replace('/', "__"),
                    self.visit,
                    self.attempt
                );
                let path = self.shared.spill_dir.join(name);
                let file = std::fs::create_dir_all(&self.shared.spill_dir)
                    .and_then(|()| std::fs::File::create(&path));
                match file {
                    Ok(f) => {
                        self.spill = Some(std::io::BufWriter::with_capacity(256 * 1024, f));
                        self.spill_path = Some(path);
                    }
                    Err(err) => tracing::warn!("cannot spill output: {err}"),
                }
            }
            if let Some(spill) = &mut self.spill {
                use std::io::Write;
                let tag = if slot == 0 { "" } else { "[stderr] " };
                let _ = writeln!(spill, "{tag}{line}");
            }
        }
        self.shared.observer.output(self.step, stream, line);
    }
}

/// Joins futures concurrently on the current task (children of a `parallel` step).
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let futures: Vec<_> = futures.map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut pending: Vec<_> = futures.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, fut)| match fut.as_mut().poll(cx) {
            std::task::Poll::Ready(out) => {
                results[*i] = Some(out);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results
        .into_iter()
        .map(|r| r.expect("every future completed"))
        .collect()
}

fn head(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.trim_end().to_owned();
    }
    let cut = (0..=max)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    text[..cut].to_owned()
}

fn one_line(text: &str) -> String {
    let first = text.lines().next().unwrap_or("");
    if text.lines().nth(1).is_some() {
        format!("{first} …")
    } else {
        first.to_owned()
    }
}

fn status_word(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Ok => "ok",
        CheckStatus::Warning => "warning",
        CheckStatus::Critical => "critical",
    }
}

fn ordinal(n: u32) -> String {
    match n % 10 {
        1 if n % 100 != 11 => format!("{n}st"),
        2 if n % 100 != 12 => format!("{n}nd"),
        3 if n % 100 != 13 => format!("{n}rd"),
        _ => format!("{n}th"),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// The SHA-256 of the playbook file, recorded so resume can tell when it changed.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
