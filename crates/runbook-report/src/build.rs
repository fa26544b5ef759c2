//! Builds the report's model from a transcript's records, in one pass: steps matched to their
//! starts and decisions, output heads, escalations, resumes and totals.

use indexmap::IndexMap;

use crate::model::{
    DecisionEntry, EscalationEntry, OutputHead, Resume, RunInfo, Status, StepEntry, Timeline,
    Totals,
};
use crate::{OUTPUT_HEAD_LINES, REPORT_FORMAT};
use runbook_transcript::{ActionKind, Event, Record, RunFinished, RunOutcome, Stream};

impl Timeline {
    /// Reads the records once. Never fails: a torn or partial transcript gives a partial report.
    pub fn build(records: &[Record]) -> Timeline {
        let mut builder = Builder::default();
        for record in records {
            builder.record(record);
        }
        builder.finish()
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
                    repeat: e.rung.as_ref().map_or(0, |r| r.repeat),
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
    if decision.decision == Some(runbook_transcript::Decision::Edited) {
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
pub(crate) fn head(stream: Stream, text: &str) -> OutputHead {
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
