//! One playbook instance walking its steps: the main steps as [`Program::next`] directs,
//! then `finally`. A step a resumed run already finished is replayed from the transcript
//! (its outcome, captures and answers restored), never run again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use indexmap::IndexMap;
use runbook_template::{Mode, TemplateValue};
use runbook_transcript::{Event, Outcome, RunOutcome, StepFinished, StepReason, StepStarted};
use serde_json::Value;

use super::Shared;
use super::context::{Known, StepView};
use super::report::StepReport;
use crate::program::{Action, Next, Program, StepIdx};
use crate::vars::Vars;

pub(super) struct Scope {
    pub shared: Arc<Shared>,
    pub program: Arc<Program>,
    pub known: Arc<Known>,
    /// `parent/` for the steps of a sub-playbook.
    pub prefix: String,
    visits: Mutex<HashMap<StepIdx, u32>>,
    /// When each running step's action began (after the operator's go-ahead), so a step's
    /// duration does not count the time spent at its prompt.
    began: Mutex<HashMap<StepIdx, Instant>>,
    /// Time a running step spent waiting for the operator (the failure menu, the shell, the
    /// question after Ctrl-C): not part of its duration.
    asked: Mutex<HashMap<StepIdx, std::time::Duration>>,
    /// A running watch's captures, one value per repetition, by capture name (format 1.1).
    pub(super) series: Mutex<HashMap<StepIdx, IndexMap<String, Vec<Value>>>>,
    /// Set in the scope of one repetition of a `for_each` step (since format 1.1).
    pub(super) iteration: Option<Iteration>,
}

/// One repetition of a `for_each` step: its records are `step[number]`.
#[derive(Debug, Clone)]
pub(super) struct Iteration {
    pub step: StepIdx,
    /// From 1.
    pub number: usize,
    pub of: usize,
    /// The item as one short line, for people (the journal masks secrets in it).
    pub label: String,
    /// Whether the step's `when` reads the item: decided per repetition then, else once for
    /// all of them, before the first.
    pub when_per_item: bool,
}

impl Scope {
    pub fn new(shared: Arc<Shared>, program: Arc<Program>, vars: Vars, prefix: String) -> Scope {
        let known = Arc::new(Known::new(&program.playbook, &vars.values));
        Scope {
            shared,
            program,
            known,
            prefix,
            visits: Mutex::default(),
            began: Mutex::default(),
            asked: Mutex::default(),
            series: Mutex::default(),
            iteration: None,
        }
    }

    /// The scope of one repetition of the `for_each` step `idx`: the same playbook instance,
    /// which sees the item under its name.
    pub(super) fn for_item(
        &self,
        idx: StepIdx,
        (number, of): (usize, usize),
        item: &Value,
        when_per_item: bool,
    ) -> Scope {
        let name = self.program.node(idx).step.item_name();
        Scope {
            shared: self.shared.clone(),
            program: self.program.clone(),
            known: self.known.with_item(name, item),
            prefix: self.prefix.clone(),
            visits: Mutex::default(),
            began: Mutex::default(),
            asked: Mutex::default(),
            series: Mutex::default(),
            iteration: Some(Iteration {
                step: idx,
                number,
                of,
                label: item_label(item),
                when_per_item,
            }),
        }
    }

    /// The repetition of step `idx` this scope runs, if it is one.
    pub(super) fn iteration_of(&self, idx: StepIdx) -> Option<&Iteration> {
        self.iteration.as_ref().filter(|it| it.step == idx)
    }

    /// The step's id as the transcript names it (`parent/child` in a sub-playbook,
    /// `step[2]` for a `for_each` step's second item).
    pub fn path(&self, idx: StepIdx) -> String {
        let id = &self.program.node(idx).step.id.value;
        match self.iteration_of(idx) {
            Some(it) => format!("{}{id}[{}]", self.prefix, it.number),
            None => format!("{}{id}", self.prefix),
        }
    }

    /// The step's display name; a repetition says which item it is.
    pub fn title(&self, idx: StepIdx) -> String {
        let title = self.program.node(idx).step.title();
        match self.iteration_of(idx) {
            Some(it) => format!("{title} [{}/{}: {}]", it.number, it.of, it.label),
            None => title.to_owned(),
        }
    }

    /// Runs the main steps, then `finally`; returns how the playbook ended.
    pub async fn run(&self) -> RunOutcome {
        let mut outcome = self.run_main().await;
        if self.shared.journal.broken() {
            return RunOutcome::Interrupted;
        }
        if outcome == RunOutcome::Interrupted {
            self.shared.begin_stopping();
        }
        for &idx in &self.program.finally {
            if self.shared.should_stop() {
                outcome = RunOutcome::Interrupted;
                if self.finally_ends() {
                    break;
                }
            }
            let report = self.visit(idx, 1).await;
            if report.interrupted {
                outcome = RunOutcome::Interrupted;
                if self.finally_ends() {
                    break;
                }
                continue;
            }
            if report.outcome == Outcome::Failed && outcome == RunOutcome::Success {
                outcome = RunOutcome::Failed;
                self.shared.mark_failed(self.path(idx));
            }
        }
        outcome
    }

    /// A signal came during `finally`: the first one lets the rest of it run, unattended; a
    /// further one (or a transcript that cannot be written) ends it. True when it ends.
    fn finally_ends(&self) -> bool {
        if self.shared.is_stopping() || self.shared.journal.broken() {
            return true;
        }
        self.shared.begin_stopping();
        false
    }

    async fn run_main(&self) -> RunOutcome {
        let mut next = self
            .program
            .main
            .first()
            .map_or(Next::Finally, |&first| Next::Step(first));
        loop {
            let idx = match next {
                Next::Step(idx) => idx,
                Next::Finally => return RunOutcome::Success,
                Next::Stop => return RunOutcome::Failed,
            };
            let node = self.program.node(idx);
            let visit = {
                let mut visits = self.visits.lock().expect("visits lock");
                let v = visits.entry(idx).or_insert(0);
                *v += 1;
                *v
            };
            if visit > node.max_visits {
                let message = format!(
                    "step `{}` would run a {} time; max_visits is {}",
                    node.step.id.value,
                    ordinal(visit),
                    node.max_visits
                );
                let report = StepReport::failed(message).with_reason(StepReason::VisitLimit);
                self.finish(idx, visit, &report, 0);
                self.shared.mark_failed(self.path(idx));
                return RunOutcome::Failed;
            }
            let report = self.visit(idx, visit).await;
            if report.interrupted {
                return RunOutcome::Interrupted;
            }
            if report.abort {
                return RunOutcome::Aborted;
            }
            let passed = report.outcome.passed();
            if !passed
                && !report.replayed
                && let Some(channel) = &node.on_failure.escalate
            {
                self.escalate(
                    vec![channel.clone()],
                    runbook_transcript::EscalationReason::Failure,
                    Some(self.path(idx)),
                    report.message.as_deref(),
                );
            }
            if self.prefix.is_empty()
                && matches!(node.action, Action::Fail | Action::Succeed)
                && report.outcome != Outcome::Skipped
                && let Some(message) = &report.message
            {
                // The step that ended the run says why.
                self.shared
                    .stop_reason
                    .lock()
                    .expect("lock")
                    .get_or_insert_with(|| message.clone());
            }
            next = self.program.next_after(idx, report.outcome);
            if next == Next::Stop {
                self.shared.mark_failed(self.path(idx));
            }
        }
    }

    /// One visit of a step: replayed when a resumed run already finished it, else executed,
    /// recorded, and made known to later steps.
    pub async fn visit(&self, idx: StepIdx, visit: u32) -> StepReport {
        let path = self.path(idx);
        let replayed = self.shared.replay.lock().expect("replay lock").take(&path);
        if let Some(done) = replayed {
            return self.restore(idx, done);
        }
        let started = Instant::now();
        let mut report = Box::pin(self.execute(idx, visit)).await;
        let began = self.began.lock().expect("lock").remove(&idx);
        let asked = self
            .asked
            .lock()
            .expect("lock")
            .remove(&idx)
            .unwrap_or_default();
        let elapsed = began.unwrap_or(started).elapsed().saturating_sub(asked);
        self.finish(idx, visit, &report, elapsed.as_millis() as u64);
        self.learn(idx, &report.captures, &report.inputs);
        self.known.finished(
            &self.program.node(idx).step.id,
            &StepView {
                status: report.outcome.as_str(),
                exit: report.exit,
                stdout: &report.stdout,
                stderr: &report.stderr,
                duration: elapsed.as_secs_f64(),
            },
        );
        // A repetition's output goes on into its step's (`steps.<id>.stdout`).
        if self.iteration.is_none() {
            report.stdout.clear();
            report.stderr.clear();
        }
        // A rung waiting for its `when` may apply now.
        self.shared.escalator.learned();
        report
    }

    /// What a step captured and was told becomes known to the steps after it; an input of
    /// `type: command` is shell code, as a command param is (since format 1.1).
    fn learn(
        &self,
        idx: StepIdx,
        captures: &IndexMap<String, serde_json::Value>,
        inputs: &IndexMap<String, serde_json::Value>,
    ) {
        for (name, value) in captures {
            self.known.learn(name, value);
        }
        let step = &self.program.node(idx).step;
        for (name, value) in inputs {
            match (step.inputs.get(name), value) {
                (Some(input), serde_json::Value::String(text))
                    if input.kind == runbook_model::ParamType::Command =>
                {
                    self.known.learn_code(name, text);
                }
                _ => self.known.learn(name, value),
            }
        }
    }

    /// A step the transcript shows finished: what it learned becomes known again.
    fn restore(&self, idx: StepIdx, done: StepFinished) -> StepReport {
        tracing::debug!(step = %done.step, outcome = done.outcome.as_str(), "replayed");
        // A replayed `for_each` step takes its repetitions' records of the same visit too:
        // what they were told becomes known again, and a later visit runs its own items.
        if self.iteration_of(idx).is_none() && self.program.node(idx).step.for_each.is_some() {
            let path = self.path(idx);
            for n in 1.. {
                let taken = self
                    .shared
                    .replay
                    .lock()
                    .expect("replay lock")
                    .take_visit(&format!("{path}[{n}]"), done.visit);
                let Some(repetition) = taken else { break };
                self.learn(idx, &repetition.captures, &repetition.inputs);
            }
        }
        self.learn(idx, &done.captures, &done.inputs);
        self.known.finished(
            &self.program.node(idx).step.id,
            &StepView {
                status: done.outcome.as_str(),
                exit: done.exit,
                stdout: &done.stdout,
                stderr: &done.stderr,
                duration: done.duration_ms as f64 / 1000.0,
            },
        );
        // A repetition is part of its step, which the run's step counts count once.
        if self.iteration_of(idx).is_none() {
            self.shared.outcomes.lock().expect("lock").push((
                done.step.clone(),
                done.outcome,
                done.duration_ms,
            ));
        }
        self.shared.escalator.learned();
        let mut report = StepReport::new(done.outcome);
        report.message = done.message;
        report.reason = done.reason;
        report.replayed = true;
        if self.iteration.is_some() {
            report.captures = done.captures;
            report.stdout = done.stdout;
            report.stderr = done.stderr;
        }
        report
    }

    /// Records the end of a step.
    pub fn finish(&self, idx: StepIdx, visit: u32, report: &StepReport, duration_ms: u64) {
        // A repetition is part of its step, which the run's step counts count once.
        let counted = self.iteration_of(idx).is_none();
        self.finish_as(self.path(idx), visit, report, duration_ms, counted);
    }

    /// Records the end of a step (or of one host of it, `step@host`, which the run's step
    /// counts leave out).
    pub fn finish_as(
        &self,
        step: String,
        visit: u32,
        report: &StepReport,
        duration_ms: u64,
        counted: bool,
    ) {
        let mut inputs = report.inputs.clone();
        for name in &report.secret_inputs {
            inputs.insert(name.clone(), Value::String(crate::redact::MASK.into()));
        }
        self.shared.emit(Event::StepFinished(StepFinished {
            step: step.clone(),
            outcome: report.outcome,
            visit,
            exit: report.exit,
            duration_ms,
            attempts: report.attempts,
            verdicts: report.verdicts.clone(),
            captures: report.captures.clone(),
            message: report.message.clone(),
            reason: Some(report.reason()),
            stdout: report.stdout.clone(),
            stderr: report.stderr.clone(),
            spilled: report.spilled.clone(),
            report: report.report.clone(),
            inputs,
        }));
        if let Some(notice) = &report.check_notice {
            self.notify_check(&step, notice);
        }
        if counted {
            self.shared
                .outcomes
                .lock()
                .expect("lock")
                .push((step, report.outcome, duration_ms));
        }
    }

    /// Runs one step's action and judges it.
    async fn execute(&self, idx: StepIdx, visit: u32) -> StepReport {
        let node = self.program.node(idx);
        if self.iteration_of(idx).is_none() {
            if let Some(skipped) = self.outside_its_blocks(idx) {
                return skipped;
            }
            if node.step.for_each.is_some() {
                return self.for_each_step(idx, visit).await;
            }
        }
        // In a repetition, a `when` that does not read the item was decided once, before it.
        if let Some(when) = &node.step.when
            && self.iteration_of(idx).is_none_or(|it| it.when_per_item)
            && let Some(skipped) = self.unless(when, "")
        {
            return skipped;
        }
        if self.shared.should_stop() {
            return StepReport::stopped();
        }
        match &node.action {
            Action::Run => self.run_step(idx, visit).await,
            Action::Manual => self.manual_step(idx, visit).await,
            Action::Wait(duration) => self.wait_step(idx, *duration, visit).await,
            Action::Parallel(children) => self.parallel_step(idx, children, visit).await,
            Action::Playbook(sub) => self.sub_playbook(idx, sub.clone(), visit).await,
            Action::Report => self.report_step(idx, visit),
            Action::Notify => self.notify_step(idx, visit),
            Action::Fail | Action::Succeed => self.end_step(idx, visit),
        }
    }

    /// A step's condition (its `when`, or a block's, said in `what`): `None` when it holds,
    /// else the step's report — skipped when false, failed when it cannot be evaluated.
    pub(super) fn unless(&self, when: &str, what: &str) -> Option<StepReport> {
        match self.shared.engine.is_true(when, &self.context(None)) {
            Ok(true) => None,
            Ok(false) => Some(
                StepReport::new(Outcome::Skipped)
                    .with_message(format!("{what}when: {when} is false"))
                    .with_reason(StepReason::When),
            ),
            Err(err) => Some(StepReport::template(format!("{what}when: {}", err.message))),
        }
    }

    /// Counts time the operator took over a question while the step ran.
    pub fn add_asked(&self, idx: StepIdx, took: std::time::Duration) {
        *self.asked.lock().expect("lock").entry(idx).or_default() += took;
    }

    /// Records that a step's action begins (an attempt of a command, a wait, a group).
    pub fn started(
        &self,
        idx: StepIdx,
        action: runbook_transcript::ActionKind,
        command: Option<&str>,
        attempt: u32,
        visit: u32,
    ) {
        self.started_on(idx, None, action, command, attempt, visit);
    }

    /// As [`Scope::started`], for one host of a fan-out (recorded as `step@host`).
    pub fn started_on(
        &self,
        idx: StepIdx,
        host: Option<&str>,
        action: runbook_transcript::ActionKind,
        command: Option<&str>,
        attempt: u32,
        visit: u32,
    ) {
        let node = self.program.node(idx);
        self.began
            .lock()
            .expect("lock")
            .entry(idx)
            .or_insert_with(Instant::now);
        let planned = match &node.action {
            // A `for_each` step's own start: its repetitions say how long each takes.
            _ if action == runbook_transcript::ActionKind::ForEach => None,
            Action::Wait(d) => Some(*d),
            _ => node.watch.map(|w| w.duration).or(node.follow),
        };
        self.shared.emit(Event::StepStarted(StepStarted {
            step: match host {
                Some(host) => format!("{}@{host}", self.path(idx)),
                None => self.path(idx),
            },
            name: self.title(idx),
            action,
            command: command.map(str::to_owned),
            host: host.unwrap_or("local").to_owned(),
            attempt,
            visit,
            planned_ms: planned.map(|d| d.as_millis() as u64),
        }));
    }

    /// The template context now; `own` holds the step's own captures (for its checks).
    pub fn context(&self, own: Option<&IndexMap<String, Value>>) -> TemplateValue {
        self.context_on("local", own)
    }

    /// The context on one host: `host` is its name, `own` its group and host vars.
    pub fn context_on(&self, host: &str, own: Option<&IndexMap<String, Value>>) -> TemplateValue {
        context_of(&self.shared, &self.known, host, own)
    }

    pub fn render(
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
            .render(text, &self.context(own), mode)
            .map_err(|e| e.message)
    }

    /// Records a question and its answer.
    pub fn prompt(
        &self,
        idx: StepIdx,
        question: String,
        answer: String,
        decision: runbook_transcript::Decision,
    ) {
        if question.is_empty() && !self.shared.interactive() {
            return;
        }
        self.shared.emit(Event::Prompt(runbook_transcript::Prompt {
            step: self.path(idx),
            question,
            answer,
            operator: self.shared.operator.name().to_owned(),
            decision: Some(decision),
        }));
    }

    /// Sends a check's notification (since format 1.1), once its step ended: a retried
    /// step notifies for the check that decided its final outcome only.
    fn notify_check(&self, step: &str, notice: &super::report::CheckNotice) {
        let playbook = &self.program.playbook;
        self.shared.escalator.fire(super::escalation::Page {
            reason: runbook_transcript::EscalationReason::Check,
            channels: notice.channels.clone(),
            title: playbook.title().to_owned(),
            severity: severity(playbook),
            message: format!("Step `{step}` {}: {}", notice.status, notice.message),
            step: Some(step.to_owned()),
            rung: None,
            due_ms: None,
            late_ms: 0,
            report: None,
        });
    }

    /// Pages now (a step's `on_failure: {escalate}`, or the operator's "escalate now"); the
    /// delivery goes on while the run does.
    pub fn escalate(
        &self,
        channels: Vec<String>,
        reason: runbook_transcript::EscalationReason,
        step: Option<String>,
        why: Option<&str>,
    ) {
        let elapsed = runbook_transcript::time::format_duration(self.shared.elapsed());
        let playbook = &self.program.playbook;
        let message = match &step {
            Some(step) => format!(
                "Step `{step}` failed after {elapsed}: {}",
                why.unwrap_or("see the transcript")
            ),
            None => format!("{} unresolved after {elapsed}", playbook.title()),
        };
        self.shared.escalator.fire(super::escalation::Page {
            reason,
            channels,
            title: playbook.title().to_owned(),
            severity: severity(playbook),
            message,
            step,
            rung: None,
            due_ms: None,
            late_ms: 0,
            report: None,
        });
    }
}

/// The template context of a playbook instance now: what it `known`s, with the run's and the
/// incident's built-ins (also used by the incident clock, which outlives no scope's values).
pub(super) fn context_of(
    shared: &Shared,
    known: &Arc<Known>,
    host: &str,
    own: Option<&IndexMap<String, Value>>,
) -> TemplateValue {
    let elapsed = shared.elapsed();
    let format = runbook_transcript::time::format_duration;
    let failed = shared.failed_step.lock().expect("lock").clone();
    let run = runbook_template::context(&serde_json::json!({
        "id": shared.run_id,
        "elapsed": format(elapsed),
        "elapsed_seconds": elapsed.as_secs(),
        "operator": shared.operator.name(),
        "failed_step": failed,
    }));
    let incident = runbook_template::context(&serde_json::json!({
        "elapsed": format(elapsed),
        "elapsed_minutes": elapsed.as_secs() / 60,
        "started": shared.started_at,
    }));
    known.context(host, run, incident, own)
}

pub(super) fn severity(playbook: &runbook_model::Playbook) -> String {
    playbook
        .metadata
        .severity
        .map_or("runbook".into(), |s| format!("{s:?}"))
}

/// An item as one short line: text as it is, other values as JSON; cut at 60 characters.
fn item_label(item: &Value) -> String {
    let text = match item {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let line = text.lines().next().unwrap_or("");
    match line.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None if line.len() < text.len() => format!("{line}…"),
        None => line.to_owned(),
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
