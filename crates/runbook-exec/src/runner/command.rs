//! A `run` step: render the command, pass the gate, run it (again on `retry`, repeatedly on
//! `watch`), record its output (the first lines in the transcript, the rest in a spill file),
//! and hand the result to the judge.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use runbook_model::playbook::WatchUntil;
use runbook_template::Mode;
use runbook_transcript::{Outcome, Stream};

use super::report::StepReport;
use super::scope::Scope;
use crate::operator::{AfterFailure, AfterInterrupt};
use crate::process::{self, LineSink, ProcessSpec};
use crate::program::{StepIdx, WatchPolicy};

/// Output lines (per step and stream) written into the transcript; the rest is spilled.
const RECORDED_LINES: usize = 500;

impl Scope {
    pub(super) async fn run_step(&self, idx: StepIdx, visit: u32) -> StepReport {
        let node = self.program.node(idx);
        let template = node.step.run.as_ref().expect("a run step");
        let command = match self.render(template, Mode::Shell, None) {
            Ok(command) => command,
            Err(e) => return StepReport::template(format!("command template: {e}")),
        };
        if let Some(on) = &node.step.on {
            return StepReport::failed(format!(
                "`on: {}`: remote steps over SSH are not supported by this build",
                on.value
            ))
            .with_reason(runbook_transcript::StepReason::Unsupported);
        }
        let command = match self.gate(idx, command).await {
            Ok(command) => command,
            Err(report) => return report,
        };
        let mut env = Vec::with_capacity(node.step.env.len() + 2);
        for (name, value) in &node.step.env {
            match self.render(value, Mode::Text, None) {
                Ok(v) => env.push((name.clone(), v)),
                Err(e) => return StepReport::template(format!("env {name}: {e}")),
            }
        }
        env.push(("RUNBOOK_RUN_ID".into(), self.shared.run_id.clone()));
        env.push(("RUNBOOK_STEP".into(), node.step.id.value.clone()));
        let spec = ProcessSpec {
            script: command,
            env,
            timeout: node.timeout,
            grace: self.shared.kill_grace,
        };
        if let Some(watch) = node.watch {
            return self.watch(idx, &spec, watch, visit).await;
        }
        let retry = node.retry;
        let mut delay = retry.delay;
        let mut attempt = 1;
        loop {
            let mut report = self.attempt(idx, &spec, attempt, visit).await;
            report.attempts = attempt;
            if report.interrupted {
                // An operator decides what an interrupted step becomes; a policy stops the run.
                if !self.shared.interactive() || self.shared.should_stop() {
                    return report;
                }
                let id = node.step.id.value.clone();
                let Some(decision) = self.ask(move |op| op.after_interrupt(&id)).await else {
                    return StepReport::stopped();
                };
                let label = decision.value.label();
                self.prompt(idx, decision.question, decision.answer, label);
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
            if attempt < retry.attempts {
                if !delay.is_zero() && self.sleep(delay).await {
                    return StepReport::stopped();
                }
                delay = delay.mul_f64(retry.backoff);
                attempt += 1;
                continue;
            }
            if !self.shared.interactive() {
                return report;
            }
            // The operator decides, as often as it takes (an escalation asks again).
            loop {
                let (id, verdicts, message) = (
                    node.step.id.value.clone(),
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
                self.prompt(idx, decision.question, decision.answer, label);
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
                            Some(self.path(idx)),
                            report.message.as_deref(),
                        );
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
        let ladder = &self.program.ladder;
        ladder
            .iter()
            .find(|r| r.after > elapsed)
            .or(ladder.last())
            .map(|r| r.notify.clone())
            .unwrap_or_default()
    }

    /// Repeats the command every `every` for `duration`.
    async fn watch(
        &self,
        idx: StepIdx,
        spec: &ProcessSpec,
        watch: WatchPolicy,
        visit: u32,
    ) -> StepReport {
        let started = Instant::now();
        let mut iteration = 1;
        loop {
            let mut report = self.attempt(idx, spec, iteration, visit).await;
            report.attempts = iteration;
            if report.interrupted {
                return report;
            }
            let passed = report.outcome.passed();
            match watch.until {
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
            if started.elapsed() + watch.every > watch.duration {
                if watch.until.is_some() {
                    report.message = Some(format!(
                        "did not pass within {}",
                        runbook_transcript::time::format_duration(watch.duration)
                    ));
                }
                return report;
            }
            if self.sleep(watch.every).await {
                report.interrupted = true;
                report.outcome = Outcome::Aborted;
                return report;
            }
            iteration += 1;
        }
    }

    /// Sleeps; true when a signal came first.
    pub(super) async fn sleep(&self, duration: Duration) -> bool {
        let base = self.shared.signals();
        let mut signals = self.shared.signals.clone();
        tokio::select! {
            () = tokio::time::sleep(duration) => false,
            _ = signals.wait_for(move |s| s.since(base)) => true,
        }
    }

    /// One execution of the command, judged.
    async fn attempt(
        &self,
        idx: StepIdx,
        spec: &ProcessSpec,
        attempt: u32,
        visit: u32,
    ) -> StepReport {
        let base = self.shared.signals();
        let path = self.path(idx);
        let mut sink = StepOutput::new(self, &path, visit, attempt);
        let mut signals = self.shared.signals.clone();
        tracing::debug!(step = %path, attempt, timeout = ?spec.timeout, "starting bash");
        // Recorded before the process exists: a kill in between leaves a step that shows as
        // running (and runs again), never a process nothing recorded.
        self.started(idx, "run", Some(&spec.script), attempt, visit);
        let result = process::run(spec, &mut sink, &mut signals, base, &mut |pgid| {
            if let Some(pgid) = pgid {
                self.shared.emit(runbook_transcript::Event::Process(
                    runbook_transcript::Process {
                        step: path.clone(),
                        attempt,
                        pgid,
                    },
                ));
            }
        })
        .await;
        let result = match result {
            Ok(result) => result,
            Err(err) => return StepReport::failed(format!("cannot start bash: {err}")),
        };
        let mut report = StepReport::new(Outcome::Ok);
        report.spilled = sink.spill_path.take().map(|p| p.display().to_string());
        report.exit = Some(result.exit);
        if result.interrupted {
            report.outcome = Outcome::Aborted;
            report.interrupted = true;
            report.message = Some("interrupted".into());
            report.reason = Some(runbook_transcript::StepReason::Interrupted);
            report.stdout = super::judge::head(&result.stdout.text);
            report.stderr = super::judge::head(&result.stderr.text);
            return report;
        }
        self.judge(idx, &result, report)
    }
}

/// Records output lines: the first ones in the transcript, the rest in a spill file.
struct StepOutput<'a> {
    scope: &'a Scope,
    step: &'a str,
    recorded: [usize; 2],
    spill: Option<std::io::BufWriter<std::fs::File>>,
    spill_path: Option<PathBuf>,
    spill_failed: bool,
    visit: u32,
    attempt: u32,
}

impl<'a> StepOutput<'a> {
    fn new(scope: &'a Scope, step: &'a str, visit: u32, attempt: u32) -> Self {
        StepOutput {
            scope,
            step,
            recorded: [0, 0],
            spill: None,
            spill_path: None,
            spill_failed: false,
            visit,
            attempt,
        }
    }

    fn open_spill(&mut self) {
        let name = format!(
            "{}-v{}-a{}",
            self.step.replace('/', "__"),
            self.visit,
            self.attempt
        );
        match create_spill(&self.scope.shared.spill_dir, &name) {
            Ok((file, path)) => {
                self.spill = Some(std::io::BufWriter::with_capacity(256 * 1024, file));
                self.spill_path = Some(path);
            }
            Err(err) => {
                self.spill_failed = true;
                tracing::warn!("cannot spill output: {err}");
            }
        }
    }
}

/// Creates a new spill file in the run's spill folder without following a symlink planted in
/// its place: the folder must be a real folder, and the file is new (`O_EXCL`, `O_NOFOLLOW`).
fn create_spill(dir: &Path, name: &str) -> std::io::Result<(std::fs::File, PathBuf)> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = std::fs::symlink_metadata(dir)?;
            if !meta.file_type().is_dir() {
                return Err(std::io::Error::other(format!(
                    "{} is not a folder (a symlink?)",
                    dir.display()
                )));
            }
        }
        Err(err) => return Err(err),
    }
    for n in 1..100 {
        let file_name = if n == 1 {
            format!("{name}.log")
        } else {
            format!("{name}-{n}.log")
        };
        let path = dir.join(file_name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
        {
            Ok(file) => return Ok((file, path)),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Err(std::io::Error::other("too many spill files for one step"))
}

impl LineSink for StepOutput<'_> {
    fn line(&mut self, stream: Stream, line: &str) {
        let slot = usize::from(stream == Stream::Stderr);
        let recorded = self.recorded[slot] < RECORDED_LINES;
        if recorded {
            self.recorded[slot] += 1;
        } else {
            if self.spill.is_none() && !self.spill_failed {
                self.open_spill();
            }
            if let Some(spill) = &mut self.spill {
                let tag = if slot == 0 { "" } else { "[stderr] " };
                let line = self.scope.shared.redact(line);
                let _ = writeln!(spill, "{tag}{line}");
            }
        }
        let shared = &self.scope.shared;
        shared
            .journal
            .output(self.step, stream, line, recorded, &|e| {
                shared.journal_failed(e)
            });
    }
}
