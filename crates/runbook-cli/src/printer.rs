//! What a run shows on stderr: a line per step outcome, live output on a terminal (or with
//! -v), a spinner while a step runs, escalations loudly. Piped, it prints plain lines.
//!
//! **Invariant:** every text that comes from a run (output, commands, messages, answers) goes
//! through [`visible`] before the terminal: escape sequences in step output are shown, never
//! obeyed. Colour comes only from [`Style`].

use std::collections::{HashMap, VecDeque};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use runbook_exec::runner::{Observer, RunSummary};
use runbook_model::Playbook;
use runbook_transcript::text::plural;
use runbook_transcript::time::format_duration;
use runbook_transcript::{
    ActionKind, Decision, Event, Outcome, Record, RunOutcome, Stream, visible, visible_line,
};

use crate::style::Style;

/// The spinner or countdown on screen, if any: one at a time, shared with the log writer so
/// that log lines print above it instead of through it.
static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn active_bar() -> std::sync::MutexGuard<'static, Option<ProgressBar>> {
    ACTIVE_BAR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn stop_spinner() {
    if let Some(bar) = active_bar().take() {
        bar.finish_and_clear();
    }
}

/// A `tracing` writer for stderr that suspends the active bar while a log line is written.
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = BufferedLogLine;
    fn make_writer(&'a self) -> Self::Writer {
        BufferedLogLine(Vec::new())
    }
}

/// One formatted event, written whole when dropped.
pub struct BufferedLogLine(Vec<u8>);

impl std::io::Write for BufferedLogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for BufferedLogLine {
    fn drop(&mut self) {
        let write = || {
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), &self.0);
        };
        match active_bar().as_ref() {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

/// Lines of a failed step's output repeated under its outcome when they were not shown live.
const TAIL_LINES: usize = 15;

pub struct Printer {
    enabled: bool,
    style: Style,
    live_output: bool,
    tails: Mutex<HashMap<String, VecDeque<String>>>,
    terminal: bool,
    /// An operator is at the terminal: waits are drawn by the prompt.
    interactive: bool,
}

impl Printer {
    pub fn new(enabled: bool, style: Style, verbose: bool, interactive: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        Printer {
            enabled,
            style,
            // An operator watches the output as it comes, also through `| tee log`.
            live_output: terminal || verbose || interactive,
            tails: Mutex::default(),
            terminal,
            interactive,
        }
    }

    fn say(&self, line: &str) {
        if !self.enabled {
            return;
        }
        crate::prompt::above_question(|| match active_bar().as_ref() {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        });
    }

    pub fn begin(&self, playbook: &Playbook, transcript: &Path) {
        let s = self.style;
        let version = playbook
            .metadata
            .version
            .as_ref()
            .map_or(String::new(), |v| format!(" {}", v.value));
        self.say(&format!(
            "{} {}{}",
            s.bold("▶"),
            s.bold(&visible_line(playbook.title())),
            s.dim(&visible_line(&version))
        ));
        self.say(&format!("  transcript: {}", transcript.display()));
    }

    pub fn end(&self, summary: &RunSummary) {
        let s = self.style;
        let f = &summary.finished;
        let word = match summary.outcome {
            RunOutcome::Success => s.ok("succeeded"),
            RunOutcome::Failed => s.error("FAILED"),
            RunOutcome::Aborted => s.warning("aborted"),
            RunOutcome::Interrupted => s.warning("interrupted"),
        };
        // A failure the playbook handled (a branch, `continue`) did not fail the run: say so,
        // and name them, rather than "succeeded … 8 failed".
        let failures = if summary.outcome == RunOutcome::Success && f.steps_failed > 0 {
            // Each step's last outcome, in the order steps first finished.
            let mut last: Vec<(&str, Outcome)> = Vec::new();
            let mut at: HashMap<&str, usize> = HashMap::new();
            for (step, outcome, _) in &summary.steps {
                match at.get(step.as_str()) {
                    Some(&i) => last[i].1 = *outcome,
                    None => {
                        at.insert(step, last.len());
                        last.push((step, *outcome));
                    }
                }
            }
            let handled: Vec<&str> = last
                .iter()
                .filter(|(_, o)| *o == Outcome::Failed)
                .map(|(s, _)| *s)
                .collect();
            format!(
                "{} handled by the playbook ({})",
                plural(f.steps_failed as usize, "failure"),
                handled
                    .iter()
                    .map(|h| visible_line(h).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            format!("{} failed", f.steps_failed)
        };
        let mut line = format!(
            "{} {word} in {}: {} ok, {} warning, {failures}, {} skipped",
            s.bold("■"),
            format_duration(Duration::from_millis(f.duration_ms)),
            f.steps_ok,
            f.steps_warning,
            f.steps_skipped
        );
        if let Some(step) = &f.failed_step {
            line.push_str(&format!(" (failed at `{step}`)"));
        }
        self.say(&line);
        if matches!(
            summary.outcome,
            RunOutcome::Interrupted | RunOutcome::Aborted
        ) {
            self.say(&format!(
                "  resume with: runbook resume {}",
                summary.transcript.display()
            ));
        }
        self.say(&format!("  transcript: {}", summary.transcript.display()));
    }

    fn start_spinner(&self, text: String) {
        if !self.enabled || !self.terminal {
            return;
        }
        // The previous attempt's spinner goes first: none is left behind on the screen.
        stop_spinner();
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {msg} {elapsed}").expect("static template"),
        );
        bar.set_message(text);
        bar.enable_steady_tick(Duration::from_millis(100));
        *active_bar() = Some(bar);
    }

    /// A bar that fills over the planned time (waits, watches), on a terminal only.
    fn start_countdown(&self, text: String, planned: Duration) {
        if !self.enabled || !self.terminal {
            return;
        }
        stop_spinner();
        let bar = ProgressBar::new(planned.as_millis() as u64);
        bar.set_style(
            ProgressStyle::with_template("  {msg} {bar:30} {elapsed} of {len_text}")
                .expect("static template")
                .with_key(
                    "len_text",
                    move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&format_duration(planned));
                    },
                ),
        );
        bar.set_message(text);
        let ticker = bar.clone();
        let started = std::time::Instant::now();
        std::thread::spawn(move || {
            while !ticker.is_finished() {
                ticker.set_position(started.elapsed().as_millis() as u64);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        *active_bar() = Some(bar);
    }

    /// Clears the spinner or countdown before the operator is asked something: a bar that
    /// went on drawing would write over the question.
    #[allow(
        clippy::unused_self,
        reason = "callers need not know the bar is process-wide"
    )]
    pub fn pause(&self) {
        stop_spinner();
    }
}

impl Observer for Printer {
    fn record(&self, record: &Record) {
        let s = self.style;
        match &record.event {
            Event::StepStarted(started) => {
                let what = started
                    .command
                    .as_deref()
                    .map_or(started.action.to_string(), |c| {
                        visible_line(c.lines().next().unwrap_or("")).into_owned()
                    });
                let step = visible_line(&started.step);
                let attempt = if started.attempt > 1 {
                    format!(" (attempt {})", started.attempt)
                } else {
                    String::new()
                };
                if self.live_output && started.action == ActionKind::Run {
                    self.say(&format!(
                        "  {} {step}{attempt}  {}",
                        s.dim("→"),
                        s.command(&format!("$ {what}"))
                    ));
                }
                match (started.action, started.planned_ms) {
                    // An operator's prompt draws manual steps and waits itself.
                    (ActionKind::Manual, _) => {}
                    (ActionKind::Wait, _) if self.interactive => {}
                    (_, Some(_)) if started.attempt > 1 => {
                        if let Some(bar) = active_bar().as_ref() {
                            bar.set_message(format!("{step} repetition {}", started.attempt));
                        }
                    }
                    (action, Some(planned)) => self.start_countdown(
                        format!("{action} {step}"),
                        Duration::from_millis(planned),
                    ),
                    _ => self.start_spinner(format!("{step} {}", visible_line(&started.name))),
                }
            }
            Event::StepFinished(done) => {
                stop_spinner();
                let (word, painted) = match done.outcome {
                    Outcome::Ok => ("ok", s.ok("ok  ")),
                    Outcome::Warning => ("warn", s.warning("warn")),
                    Outcome::Failed => ("FAIL", s.error("FAIL")),
                    Outcome::Skipped => ("skip", s.dim("skip")),
                    Outcome::Aborted => ("stop", s.warning("stop")),
                };
                let _ = word;
                let mut line = format!(
                    "  {painted} {} {}",
                    visible_line(&done.step),
                    s.dim(&format!(
                        "({})",
                        format_duration(Duration::from_millis(done.duration_ms))
                    ))
                );
                if let Some(message) = &done.message {
                    line.push_str(&format!(": {}", visible(message)));
                }
                self.say(&line);
                if let Some(report) = &done.report {
                    for l in report.lines() {
                        self.say(&format!("    │ {}", visible_line(l)));
                    }
                }
                let tail = self.tails.lock().expect("tails lock").remove(&done.step);
                if done.outcome == Outcome::Failed
                    && !self.live_output
                    && let Some(tail) = tail
                {
                    for l in tail {
                        self.say(&format!("    │ {}", visible_line(&l)));
                    }
                }
            }
            Event::Escalation(e) => {
                let delivered: Vec<String> = e
                    .deliveries
                    .iter()
                    .map(|d| {
                        let channel = visible_line(&d.channel);
                        if d.ok {
                            format!("{channel} ✓")
                        } else {
                            format!("{channel} ✗ {}", visible(d.error.as_deref().unwrap_or("")))
                        }
                    })
                    .collect();
                self.say(&format!(
                    "  {} level {} → {}: {}",
                    s.error("ESCALATION"),
                    e.level,
                    delivered.join(", "),
                    visible(&e.message)
                ));
            }
            Event::Prompt(p) if p.decision == Some(Decision::Refused) => {
                self.say(&format!(
                    "  {} {}: {}",
                    s.warning("refused"),
                    visible_line(&p.step),
                    visible_line(&p.answer)
                ));
            }
            _ => {}
        }
    }

    fn waiting(&self, step: &str, what: &str, _delay: Duration) {
        let asks = if self.interactive {
            " · Ctrl-C asks what to do"
        } else {
            ""
        };
        self.say(&format!(
            "  {} {}: {}{asks}",
            self.style.dim("…"),
            visible_line(step),
            visible_line(what)
        ));
    }

    fn output(&self, step: &str, stream: Stream, line: &str) {
        if self.live_output {
            let mark = if stream == Stream::Stderr {
                "┆"
            } else {
                "│"
            };
            self.say(&format!(
                "    {} {}",
                self.style.dim(mark),
                visible_line(line)
            ));
        } else {
            // Kept as they came: only a failed step's last lines are shown (and escaped then).
            let mut tails = self.tails.lock().expect("tails lock");
            let tail = tails.entry(step.to_owned()).or_default();
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.to_owned());
        }
    }
}
