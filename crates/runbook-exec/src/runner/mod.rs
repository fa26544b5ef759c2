//! The engine: walks a compiled [`Program`], asks the [`Operator`] what it must, runs
//! commands, judges them, follows branches, escalates, and records every event.
//!
//! Where things live: `journal` writes records and stops the run when it cannot;
//! `scope` walks one playbook's steps (the flow itself is [`Program::next`]) and replays
//! what a resumed run already finished; `gate` holds the questions before a step;
//! `command` runs a step's command with retries and watches; `judge` turns a result into
//! an outcome; `actions` has the other actions (manual, wait, report, parallel,
//! sub-playbook); `escalation` keeps the incident clock's ladder and delivers pages.
//!
//! **Invariant:** every event is written to the transcript before the observer sees it, and
//! a run whose transcript cannot be written stops: no step runs unrecorded.
//! **Invariant:** a step's recorded command and output never contain a known secret.

mod actions;
mod command;
mod context;
mod escalation;
mod fanout;
mod gate;
mod journal;
mod judge;
mod repeat;
pub(crate) use repeat::items_of;
mod report;
mod scope;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indexmap::IndexMap;
use runbook_model::Inventory;
use runbook_template::Engine;
use runbook_transcript::time::Clock;
use runbook_transcript::{
    Event, Outcome, PlaybookInfo, Record, RunFinished, RunOutcome, RunResumed, RunStarted, Stream,
};
use serde_json::Value;
use tokio::sync::watch;

use crate::error::Error;
use crate::operator::{Operator, Unattended};
use crate::process::Signals;
use crate::program::Program;
use crate::resume::ResumePoint;
use crate::vars::{Overrides, Vars};

use escalation::Escalator;
use journal::Journal;
use scope::Scope;

/// Sees every record after it was written, and every output line (recorded or spilled).
pub trait Observer: Send + Sync {
    /// Called with each record once it is in the transcript.
    fn record(&self, record: &Record);
    /// Called with each line of a step's output (`step@host` for one host), secrets masked.
    fn output(&self, step: &str, stream: Stream, line: &str);
    /// The run waits before the step's next attempt or repetition (`retry` delay, `watch`
    /// interval): what happened and how long it waits, for the screen. Not a record.
    fn waiting(&self, _step: &str, _what: &str, _delay: Duration) {}
}

/// Everything a run needs.
pub struct RunRequest {
    /// The template engine that renders commands, messages and values.
    pub engine: Arc<Engine>,
    /// The compiled playbook to run.
    pub program: Arc<Program>,
    /// The playbook file's text, whose SHA-256 the transcript records.
    pub source_text: String,
    /// The inventory, with its path as the transcript records it.
    pub inventory: Option<(Arc<Inventory>, String)>,
    /// `--var` and `--var-file` as given, recorded so a resume can restore them.
    pub overrides: Overrides,
    /// The run's merged values.
    pub vars: Vars,
    /// The transcript file to create (or to append to, with `resume`).
    pub transcript: PathBuf,
    /// Who answers the run's questions.
    pub operator: Arc<dyn Operator>,
    /// Who sees the records and output lines (the CLI's printer).
    pub observer: Arc<dyn Observer>,
    /// Time between SIGTERM (or SIGINT) and SIGKILL when a step's process group is stopped.
    pub kill_grace: Duration,
    /// How long `finally` may take after the run was stopped (SIGTERM, SIGHUP, Ctrl-C under
    /// `--yes`); then it is cut short.
    pub finally_grace: Duration,
    /// How long pages still being delivered may hold up the end of the run.
    pub delivery_grace: Duration,
    /// A run whose steps succeeded but whose pages did not all reach their channel exits 1.
    pub undelivered_fails: bool,
    /// How many hosts a fan-out step runs on at once.
    pub forks: usize,
    /// `--limit`: only these hosts (`web-*`, `db-1,db-2`).
    pub limit: Option<HostLimit>,
    /// Ctrl-C, SIGTERM and SIGHUP, counted by the front end.
    pub signals: watch::Receiver<Signals>,
    /// Continue a transcript instead of starting one.
    pub resume: Option<ResumePoint>,
}

/// `--limit`: host name patterns (`*` matches any run of characters), comma-separated.
#[derive(Debug, Clone)]
pub struct HostLimit(Vec<String>);

impl HostLimit {
    /// Reads a `--limit` value.
    pub fn parse(text: &str) -> HostLimit {
        HostLimit(
            text.split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
        )
    }

    /// Whether the host's name matches one of the patterns.
    pub fn matches(&self, host: &str) -> bool {
        self.0.iter().any(|p| glob(p.as_bytes(), host.as_bytes()))
    }
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((c, rest)) => text
            .split_first()
            .is_some_and(|(t, tr)| t == c && glob(rest, tr)),
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The run's id (the transcript file's name without its extension).
    pub run_id: String,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// The transcript written.
    pub transcript: PathBuf,
    /// The `run_finished` record.
    pub finished: RunFinished,
    /// Every step's outcome in the order they finished: (step, outcome, duration ms).
    pub steps: Vec<(String, Outcome, u64)>,
    /// The transcript could not be written (the run stopped there).
    pub journal_error: Option<String>,
}

/// State shared by a run and its sub-playbooks.
struct Shared {
    journal: Journal,
    operator: Arc<dyn Operator>,
    /// Answers questions once the run is stopping: nobody is asked any more.
    stopping_operator: Unattended,
    engine: Arc<Engine>,
    inventory: Option<Arc<Inventory>>,
    overrides: Overrides,
    /// The front end's signals merged with the run's own reasons to stop.
    signals: watch::Receiver<Signals>,
    signal_tx: watch::Sender<Signals>,
    run_id: String,
    clock: Clock,
    /// When the run started, RFC 3339 (the first start, for a resumed run).
    started_at: String,
    spill_dir: PathBuf,
    /// The transcript file, read back for a `notify:` step's report so far.
    transcript: PathBuf,
    kill_grace: Duration,
    finally_grace: Duration,
    forks: usize,
    limit: Option<HostLimit>,
    playbook_info: Value,
    failed_step: Mutex<Option<String>>,
    /// Outcomes in the order steps finished: (step, outcome, duration ms).
    outcomes: Mutex<Vec<(String, Outcome, u64)>>,
    /// What a resumed run already finished, consumed as the run walks past it.
    replay: Mutex<crate::resume::Replay>,
    escalator: Escalator,
    escalation_level: AtomicU32,
    /// Set once the run is stopping: `finally` runs without asking anyone.
    stopping: AtomicBool,
    /// The signals when the run began stopping; one more cuts `finally` short.
    stop_base: Mutex<Signals>,
    /// Why the run stopped when no step decided it.
    stop_reason: Mutex<Option<String>>,
    /// One question at a time: children of a parallel group take turns at the terminal.
    asking: tokio::sync::Mutex<()>,
}

impl Shared {
    fn signals(&self) -> Signals {
        *self.signals.borrow()
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn interactive(&self) -> bool {
        self.operator.interactive() && !self.is_stopping()
    }

    fn operator(&self) -> &dyn Operator {
        if self.is_stopping() {
            &self.stopping_operator
        } else {
            &*self.operator
        }
    }

    /// Whether the run must stop before its next step: SIGTERM or SIGHUP, Ctrl-C with
    /// nobody to ask, or a transcript that cannot be written. Once `finally` runs, only a
    /// further signal (or the grace time) stops it.
    fn should_stop(&self) -> bool {
        let s = self.signals();
        if self.journal.broken() {
            return true;
        }
        if self.is_stopping() {
            return s.since(*self.stop_base.lock().expect("lock"));
        }
        s.terminated || s.hangup || (!self.operator.interactive() && s.interrupts > 0)
    }

    /// Enters the stopping state (idempotent): `finally` runs unattended, within the grace
    /// time; a further signal or the end of the grace time cuts it short.
    fn begin_stopping(self: &Arc<Self>) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        let s = self.signals();
        *self.stop_base.lock().expect("lock") = s;
        let reason = if s.hangup {
            "SIGHUP: the terminal closed"
        } else if s.terminated {
            "SIGTERM"
        } else {
            "interrupted (Ctrl-C)"
        };
        self.stop_reason
            .lock()
            .expect("lock")
            .get_or_insert_with(|| reason.to_owned());
        let shared = self.clone();
        let grace = self.finally_grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            tracing::warn!("finally took longer than its grace time; cutting it short");
            shared.signal_tx.send_modify(|s| s.interrupts += 1);
        });
    }

    /// Stops the run because nobody can answer its questions any more (stdin ended): as a
    /// SIGTERM would, so it ends interrupted and resumable, with the reason recorded.
    fn operator_gone(&self, why: &str) {
        if self.is_stopping() {
            self.stop_reason
                .lock()
                .expect("lock")
                .get_or_insert_with(|| why.to_owned());
            return;
        }
        self.stop_with(why.to_owned());
    }

    /// Stops the run because its transcript cannot be written.
    fn journal_failed(&self, error: &str) {
        self.stop_with(format!("the transcript cannot be written: {error}"));
    }

    /// Records why the run stops (the first reason wins) and stops it as a SIGTERM does.
    fn stop_with(&self, reason: String) {
        self.stop_reason.lock().expect("lock").get_or_insert(reason);
        self.signal_tx.send_modify(|s| {
            s.terminated = true;
            s.stops += 1;
        });
    }

    fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    fn redact(&self, text: &str) -> String {
        self.journal.redact(text)
    }

    fn mask_for_edit(&self, text: &str) -> (String, Vec<String>) {
        self.journal.mask_for_edit(text)
    }

    fn emit(&self, event: Event) -> Record {
        self.journal.emit(event, &|e| self.journal_failed(e))
    }

    fn mark_failed(&self, path: String) {
        self.failed_step.lock().expect("lock").get_or_insert(path);
    }
}

/// Runs a playbook to its end and returns how it went.
pub async fn run(request: RunRequest) -> Result<RunSummary, Error> {
    let RunRequest {
        engine,
        program,
        source_text,
        inventory,
        overrides,
        vars,
        transcript,
        operator,
        observer,
        kill_grace,
        finally_grace,
        delivery_grace,
        undelivered_fails,
        forks,
        limit,
        signals: outer_signals,
        resume,
    } = request;
    let playbook = &program.playbook;
    let clock = match &resume {
        Some(point) => Clock::since(point.clock_start_ms),
        None => Clock::start(),
    };
    let journal = Journal::open(
        &transcript,
        resume.as_ref().map(|p| p.next_seq),
        clock,
        observer,
        vars.redactor(),
    )
    .map_err(|source| Error::Transcript {
        path: transcript.clone(),
        source,
    })?;
    let run_id = match &resume {
        Some(point) => point.started.run_id.clone(),
        None => transcript
            .file_stem()
            .map_or_else(|| "run".to_owned(), |s| s.to_string_lossy().into_owned()),
    };
    let spill_dir = transcript.with_extension("out");
    let playbook_info = PlaybookInfo {
        name: playbook.metadata.name.value.clone(),
        title: playbook.title().to_owned(),
        version: playbook.metadata.version.as_ref().map(|v| v.value.clone()),
        file: program.file.display().to_string(),
        sha256: sha256_hex(source_text.as_bytes()),
        schedule: playbook.metadata.schedule.as_ref().map(|s| s.value.clone()),
    };
    let (signal_tx, signals) = watch::channel(*outer_signals.borrow());
    let shared = Arc::new(Shared {
        journal,
        stopping_operator: Unattended {
            operator: operator.name().to_owned(),
            skip_manual: true,
            allow_destructive: false,
        },
        operator: operator.clone(),
        engine: engine.clone(),
        inventory: inventory.as_ref().map(|(i, _)| i.clone()),
        overrides: overrides.clone(),
        signals,
        signal_tx,
        run_id: run_id.clone(),
        clock,
        started_at: resume.as_ref().map_or_else(
            || runbook_transcript::time::rfc3339(std::time::SystemTime::now()),
            |r| r.started_ts.clone(),
        ),
        spill_dir,
        transcript: transcript.clone(),
        kill_grace,
        finally_grace,
        forks,
        limit,
        playbook_info: serde_json::to_value(&playbook_info).unwrap_or(Value::Null),
        failed_step: Mutex::new(None),
        outcomes: Mutex::new(Vec::new()),
        replay: Mutex::new(
            resume
                .as_ref()
                .map(|r| r.replay.clone())
                .unwrap_or_default(),
        ),
        escalator: Escalator::default(),
        escalation_level: AtomicU32::new(resume.as_ref().map_or(0, |r| r.escalations)),
        stopping: AtomicBool::new(false),
        stop_base: Mutex::new(Signals::default()),
        stop_reason: Mutex::new(None),
        asking: tokio::sync::Mutex::new(()),
    });
    // The front end's signals reach the run through its own channel, which the run also uses
    // to stop itself (a transcript that cannot be written).
    let forward = {
        let mut outer = outer_signals;
        let tx = shared.signal_tx.clone();
        tokio::spawn(async move {
            while outer.changed().await.is_ok() {
                let now = *outer.borrow();
                tx.send_modify(|s| {
                    s.interrupts = s.interrupts.max(now.interrupts);
                    s.stops = s.stops.max(now.stops);
                    s.terminated |= now.terminated;
                    s.hangup |= now.hangup;
                });
            }
        })
    };
    let mode = if operator.interactive() {
        runbook_transcript::RunMode::Interactive
    } else {
        runbook_transcript::RunMode::Unattended
    };
    match &resume {
        Some(point) => {
            shared.emit(Event::RunResumed(RunResumed {
                operator: operator.name().to_owned(),
                hostname: hostname(),
                next_step: point.next_step.clone(),
                playbook_changed: point.started.playbook.sha256 != playbook_info.sha256,
                sha256: playbook_info.sha256.clone(),
                mode,
                gap_ms: clock.elapsed_ms().saturating_sub(point.last_elapsed_ms),
                rerun: point.interrupted.iter().map(|(s, _)| s.clone()).collect(),
            }));
        }
        None => {
            // The journal masks secrets in these values on the way out, as in every record.
            shared.emit(Event::RunStarted(RunStarted {
                format: runbook_transcript::FORMAT.to_owned(),
                run_id: run_id.clone(),
                playbook: playbook_info,
                inventory: inventory.as_ref().map(|(_, p)| p.clone()),
                params: vars
                    .values
                    .keys()
                    .map(|name| (name.clone(), redacted_value(&vars, name)))
                    .collect(),
                secrets: vars.secret_names.iter().cloned().collect(),
                overrides: overrides.vars.clone(),
                var_files: overrides
                    .var_files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                operator: operator.name().to_owned(),
                hostname: hostname(),
                engine_version: env!("CARGO_PKG_VERSION").to_owned(),
                mode,
                step_ids: program.step_ids(),
                clock_start_ms: Some(clock.start_unix_ms()),
            }));
        }
    }
    shared.escalator.start(
        &shared,
        resume
            .as_ref()
            .map(|r| (r.fired.clone(), r.last_elapsed_ms)),
    );

    let scope = Scope::new(shared.clone(), program.clone(), vars, String::new());
    shared.escalator.enter("", scope.ladder());
    let outcome = scope.run().await;
    drop(scope);

    let undelivered = shared.escalator.finish(delivery_grace).await;
    forward.abort();
    let outcomes = shared.outcomes.lock().expect("outcomes lock").clone();
    let count = |o: Outcome| last_outcomes(&outcomes).filter(|x| *x == o).count() as u32;
    let exit_code = match outcome {
        RunOutcome::Success if undelivered > 0 && undelivered_fails => 1,
        _ => outcome.exit_code(),
    };
    let mut reason = shared.stop_reason.lock().expect("lock").clone();
    if exit_code == 1 && outcome == RunOutcome::Success {
        reason = Some(format!(
            "{undelivered} page{} not delivered",
            if undelivered == 1 { "" } else { "s" }
        ));
    }
    let finished = RunFinished {
        outcome,
        exit_code,
        duration_ms: shared.clock.elapsed_ms(),
        failed_step: shared.failed_step.lock().expect("lock").clone(),
        steps_ok: count(Outcome::Ok),
        steps_warning: count(Outcome::Warning),
        steps_failed: count(Outcome::Failed),
        steps_skipped: count(Outcome::Skipped),
        undelivered,
        reason,
    };
    shared.emit(Event::RunFinished(finished.clone()));
    let journal_error = shared.journal.error();
    shared.journal.close().map_err(|source| Error::Transcript {
        path: transcript.clone(),
        source,
    })?;
    Ok(RunSummary {
        run_id,
        outcome,
        transcript,
        finished,
        steps: outcomes,
        journal_error,
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
    digest.iter().fold(String::with_capacity(64), |mut hex, b| {
        use std::fmt::Write;
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

#[cfg(test)]
mod tests;
