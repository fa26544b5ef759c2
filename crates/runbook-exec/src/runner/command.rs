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
use crate::operator::{AfterFailure, AfterInterrupt, Branch};
use crate::process::{self, LineSink, ProcessSpec};
use crate::program::{Next, StepIdx, Then, WatchPolicy};

/// Output lines (per step and stream) written into the transcript; the rest is spilled.
const RECORDED_LINES: usize = 500;

impl Scope {
    pub(super) async fn run_step(&self, idx: StepIdx, visit: u32) -> StepReport {
        let node = self.program.node(idx);
        let template = node.step.run.as_ref().expect("a run step");
        // On inventory hosts the command is rendered per host, with each host's vars.
        match self.hosts_of(idx) {
            Ok(Some(hosts)) => return self.fan_out(idx, hosts, visit).await,
            Ok(None) => {}
            Err(why) => return StepReport::failed(why),
        }
        let command = match self.render(template, Mode::Shell, None) {
            Ok(command) => command,
            Err(e) => return StepReport::template(format!("command template: {e}")),
        };
        let command = match self.gate(idx, command).await {
            Ok(command) => command,
            Err(report) => return report,
        };
        let env = match self.step_env(idx, None) {
            Ok(env) => env,
            Err(why) => return StepReport::template(why),
        };
        if node.step.interactive {
            return self.hand_over(idx, command, env, visit).await;
        }
        let spec = ProcessSpec {
            script: command,
            env,
            timeout: node.timeout,
            follow: node.follow,
            grace: self.shared.kill_grace,
            remote: None,
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
                match self.after_interrupt(idx, "interrupted").await {
                    Interrupted::Stop(report) => return report,
                    Interrupted::Retry => {
                        attempt += 1;
                        continue;
                    }
                    Interrupted::Decided(mut decided) => {
                        decided.exit = report.exit;
                        decided.attempts = attempt;
                        decided.stdout = report.stdout;
                        decided.stderr = report.stderr;
                        return decided;
                    }
                }
            }
            if report.outcome.passed() {
                return report;
            }
            if attempt < retry.attempts {
                if !delay.is_zero() {
                    let what = format!(
                        "attempt {attempt} of {} failed ({}), retrying in {}",
                        retry.attempts,
                        why_failed(&report),
                        short_duration(delay)
                    );
                    self.shared.journal.waiting(&self.path(idx), &what, delay);
                    if self.sleep(delay).await {
                        // Ctrl-C in the delay asks, as during the command; retry runs the
                        // next attempt now.
                        match self
                            .after_interrupt(idx, "interrupted in its retry delay")
                            .await
                        {
                            Interrupted::Stop(report) => return report,
                            Interrupted::Retry => {}
                            Interrupted::Decided(mut decided) => {
                                decided.exit = report.exit;
                                decided.attempts = attempt;
                                decided.verdicts = report.verdicts;
                                return decided;
                            }
                        }
                    }
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
                let (id, verdicts, message, branch) = (
                    node.step.id.value.clone(),
                    report.verdicts.clone(),
                    report.message.clone(),
                    self.failure_branch(idx),
                );
                // The shell gets the values a command sees, but never a secret one.
                let values: Vec<(String, String)> = self
                    .known
                    .texts()
                    .into_iter()
                    .filter(|(_, v)| self.shared.redact(v) == *v)
                    .collect();
                let asked = Instant::now();
                let decision = self
                    .ask(move |op| {
                        op.after_failure(&id, &verdicts, message.as_deref(), &branch, &values)
                    })
                    .await;
                self.add_asked(idx, asked.elapsed());
                let Some(decision) = decision else {
                    return StepReport::stopped();
                };
                let label = decision.value.label();
                let answer = match &decision.value {
                    AfterFailure::Shell(typed) if !typed.is_empty() => {
                        format!("{}: {}", decision.answer, typed.join("; "))
                    }
                    _ => decision.answer,
                };
                self.prompt(idx, decision.question, answer, label);
                match decision.value {
                    AfterFailure::Shell(_) => {}
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
                            runbook_transcript::EscalationReason::Operator,
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

    /// An `interactive: true` step (format 1.1): the operator's terminal runs the command;
    /// its exit code is judged, no output is captured.
    async fn hand_over(
        &self,
        idx: StepIdx,
        command: String,
        env: Vec<(String, String)>,
        visit: u32,
    ) -> StepReport {
        if !self.shared.interactive() {
            // `--manual skip` (the run refuses to start otherwise), or a run that is stopping.
            return StepReport::new(Outcome::Skipped)
                .with_message("an interactive step needs an operator at a terminal")
                .with_reason(runbook_transcript::StepReason::Unattended);
        }
        self.started(
            idx,
            runbook_transcript::ActionKind::Run,
            Some(&command),
            1,
            visit,
        );
        let started = Instant::now();
        let id = self.path(idx);
        let Some(handed) = self.ask(move |op| op.hand_over(&id, &command, &env)).await else {
            return StepReport::stopped();
        };
        let exit = match handed {
            Some(Ok(exit)) => exit,
            Some(Err(err)) => return StepReport::failed(format!("cannot start bash: {err}")),
            None => {
                return StepReport::new(Outcome::Skipped)
                    .with_message("an interactive step needs an operator at a terminal")
                    .with_reason(runbook_transcript::StepReason::Unattended);
            }
        };
        let result = process::ProcessResult {
            exit,
            timed_out: false,
            followed: false,
            interrupted: false,
            stdout: process::Kept::default(),
            stderr: process::Kept::default(),
            duration: started.elapsed(),
        };
        let mut report = StepReport::new(Outcome::Ok);
        report.exit = Some(exit);
        report.attempts = 1;
        self.judge(idx, &result, report)
    }

    /// Where the playbook sends the run when this step fails, as the operator is told.
    pub(super) fn failure_branch(&self, idx: StepIdx) -> Branch {
        let node = self.program.node(idx);
        let id = |t: StepIdx| self.program.node(t).step.id.value.clone();
        match (self.program.next(idx, false), node.on_failure.then) {
            (Next::Step(t), Then::Goto(_)) => Branch::Goto(id(t)),
            (Next::Step(t), _) => Branch::Continue(Some(id(t))),
            (Next::Finally, _) => Branch::Continue(None),
            (Next::Stop, _) => Branch::Stop,
        }
    }

    /// Where an operator's "escalate now" goes: the next rung of the policy not yet reached,
    /// else the last one.
    pub(super) fn escalation_channels(&self) -> Vec<String> {
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
        self.series.lock().expect("series lock").remove(&idx);
        loop {
            let mut report = self.attempt(idx, spec, iteration, visit).await;
            report.attempts = iteration;
            if report.interrupted {
                match self.after_interrupt(idx, "interrupted").await {
                    Interrupted::Stop(stopped) => return stopped,
                    Interrupted::Retry => {
                        iteration += 1;
                        continue;
                    }
                    Interrupted::Decided(mut decided) => {
                        decided.exit = report.exit;
                        decided.attempts = iteration;
                        return decided;
                    }
                }
            }
            let passed = report.outcome.passed();
            match watch.until {
                Some(WatchUntil::Success) if passed => {
                    self.final_grade(idx, &mut report);
                    return report;
                }
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
                self.final_grade(idx, &mut report);
                return report;
            }
            let what = format!(
                "repetition {iteration} {}, next in {}",
                if passed { "passed" } else { "failed" },
                short_duration(watch.every)
            );
            self.shared
                .journal
                .waiting(&self.path(idx), &what, watch.every);
            if self.sleep(watch.every).await {
                // Ctrl-C between repetitions asks, as during the command; retry repeats now.
                match self
                    .after_interrupt(idx, "interrupted between repetitions")
                    .await
                {
                    Interrupted::Stop(stopped) => return stopped,
                    Interrupted::Retry => {}
                    Interrupted::Decided(mut decided) => {
                        decided.exit = report.exit;
                        decided.attempts = iteration;
                        decided.verdicts = report.verdicts;
                        return decided;
                    }
                }
            }
            iteration += 1;
        }
    }

    /// After Ctrl-C stopped a step's command or its wait between attempts: an operator
    /// decides (recorded); a policy, or a run that must stop, stops.
    pub(super) async fn after_interrupt(&self, idx: StepIdx, what: &str) -> Interrupted {
        if !self.shared.interactive() || self.shared.should_stop() {
            return Interrupted::Stop(StepReport::stopped());
        }
        let id = self.program.node(idx).step.id.value.clone();
        let asked = Instant::now();
        let decision = self.ask(move |op| op.after_interrupt(&id)).await;
        self.add_asked(idx, asked.elapsed());
        let Some(decision) = decision else {
            return Interrupted::Stop(StepReport::stopped());
        };
        let label = decision.value.label();
        self.prompt(idx, decision.question, decision.answer, label);
        match decision.value {
            AfterInterrupt::Retry => Interrupted::Retry,
            AfterInterrupt::Skip => Interrupted::Decided(
                StepReport::new(Outcome::Skipped)
                    .with_message(format!("{what}, then skipped by the operator")),
            ),
            AfterInterrupt::Abort => Interrupted::Decided(StepReport::aborted()),
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
        let path = self.path(idx);
        let (result, spilled) = self
            .spawn_recorded(idx, &path, None, spec, attempt, visit)
            .await;
        let result = match result {
            Ok(result) => result,
            Err(err) => return StepReport::failed(format!("cannot start bash: {err}")),
        };
        let mut report = StepReport::new(Outcome::Ok);
        report.spilled = spilled;
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

    /// The environment of a step's process: its `env:` rendered, and `RUNBOOK_RUN_ID`,
    /// `RUNBOOK_STEP` (and `RUNBOOK_HOST` on an inventory host). `Err` says which template
    /// failed.
    pub(super) fn step_env(
        &self,
        idx: StepIdx,
        host: Option<&str>,
    ) -> Result<Vec<(String, String)>, String> {
        let step = &self.program.node(idx).step;
        let mut env = Vec::with_capacity(step.env.len() + 3);
        for (name, value) in &step.env {
            match self.render(value, Mode::Text, None) {
                Ok(v) => env.push((name.clone(), v)),
                Err(e) => return Err(format!("env {name}: {e}")),
            }
        }
        env.push(("RUNBOOK_RUN_ID".into(), self.shared.run_id.clone()));
        env.push(("RUNBOOK_STEP".into(), step.id.value.clone()));
        if let Some(host) = host {
            env.push(("RUNBOOK_HOST".into(), host.to_owned()));
        }
        Ok(env)
    }

    /// One process of a step, recorded: `step_started` before it exists (a kill in between
    /// leaves a step that shows as running, never a process nothing recorded), its `process`
    /// record once it does, its output as it comes. `label` is the step's path, or
    /// `step@host` on an inventory host. Returns the result and the spill file, if any.
    pub(super) async fn spawn_recorded(
        &self,
        idx: StepIdx,
        label: &str,
        host: Option<&str>,
        spec: &ProcessSpec,
        attempt: u32,
        visit: u32,
    ) -> (std::io::Result<process::ProcessResult>, Option<String>) {
        let base = self.shared.signals();
        let mut sink = StepOutput::new(self, label, visit, attempt);
        let mut signals = self.shared.signals.clone();
        tracing::debug!(step = %label, attempt, timeout = ?spec.timeout, "starting a step's process");
        self.started_on(
            idx,
            host,
            runbook_transcript::ActionKind::Run,
            Some(&spec.script),
            attempt,
            visit,
        );
        let result = process::run(spec, &mut sink, &mut signals, base, &mut |pgid| {
            if let Some(pgid) = pgid {
                self.shared.emit(runbook_transcript::Event::Process(
                    runbook_transcript::Process {
                        step: label.to_owned(),
                        attempt,
                        pgid,
                    },
                ));
            }
        })
        .await;
        let spilled = sink.spill_path.take().map(|p| p.display().to_string());
        (result, spilled)
    }
}

/// What the operator decided after Ctrl-C.
pub(super) enum Interrupted {
    /// The run stops (a policy, a further signal, nobody left to answer).
    Stop(StepReport),
    /// Run the command (again) now.
    Retry,
    /// Skipped or aborted: the step's report.
    Decided(StepReport),
}

/// A delay as the operator reads it: `4s`, `2m30s`, or `1.5s` below a minute.
fn short_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) || ms < 1000 {
        return runbook_transcript::time::format_duration(d);
    }
    let s = ms / 1000;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

/// Why an attempt failed, in a few words: "exit 22", or its message.
fn why_failed(report: &StepReport) -> String {
    match (report.exit, &report.message) {
        (Some(code), _) if code != 0 => format!("exit {code}"),
        (_, Some(message)) => message.lines().next().unwrap_or_default().to_owned(),
        (Some(code), None) => format!("exit {code}"),
        (None, None) => "failed".to_owned(),
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
        let scope = self.scope;
        let shared = &scope.shared;
        // Masked once, here: the spill file, the transcript and the screen all get this.
        let line = shared.journal.redact_line(line);
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
                let _ = writeln!(spill, "{tag}{line}");
            }
        }
        shared
            .journal
            .output(self.step, stream, &line, recorded, &|e| {
                shared.journal_failed(e);
            });
    }
}
