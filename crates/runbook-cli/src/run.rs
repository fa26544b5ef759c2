//! `runbook run` and `runbook resume`: execute a playbook, unattended (`--yes`) or with an
//! operator at the terminal, and continue one from its transcript.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use runbook_exec::operator::{Operator, Unattended};
use runbook_exec::process::Signals;
use runbook_exec::resume::{ResumeError, ResumePoint, resume_point};
use runbook_exec::runner::{self, RunRequest, RunSummary};
use runbook_template::Engine;
use runbook_transcript::{Event, RunOutcome};

use crate::args::{EnvArgs, ManualPolicy, ResumeArgs, RunArgs, RunFlags, RunFormat};
use crate::load::Loaded;
use crate::printer::Printer;
use crate::prompt::{Clock, Interactive};
use crate::{CliError, Exit, load, run_summary, style, write_stdout};

/// Where transcripts go unless `--transcript` says otherwise.
const RUNS_DIR: &str = ".runbook/runs";

pub fn run(args: &RunArgs, verbose: u8) -> Result<Exit, CliError> {
    let engine = Arc::new(Engine::new());
    // What is wrong with the files comes first: without a terminal, "no terminal" would hide
    // that the playbook does not exist.
    let mut loaded = load::load(&engine, &args.playbook, &args.env)?;
    let program = load::compile(&loaded)?;
    load::require_channels(&loaded)?;
    let interactive = wants_operator(&args.flags)?;
    if !interactive {
        load::require_params(&loaded.vars)?;
    }
    let operator_name = operator_name(&args.flags);
    if interactive {
        ask_missing_params(&engine, &mut loaded, &operator_name)?;
    }
    // Reserved once the run is about to start: a run given up at a question leaves nothing.
    let reserved = transcript_path(args.transcript.as_deref(), &loaded.playbook().metadata.name)?;
    let transcript = reserved.path().to_owned();
    execute(
        engine,
        loaded,
        program,
        &args.flags,
        interactive,
        operator_name,
        transcript,
        None,
        verbose,
    )
}

pub fn resume(args: &ResumeArgs, verbose: u8) -> Result<Exit, CliError> {
    let engine = Arc::new(Engine::new());
    let transcript = match &args.transcript {
        Some(path) => path.clone(),
        None => latest_transcript()?,
    };
    let read = runbook_transcript::read_transcript(&transcript).map_err(|e| {
        CliError::new(Exit::Invalid, e.to_string())
            .hint("resume takes a transcript written by `runbook run`")
    })?;
    let started = read
        .records
        .iter()
        .find_map(|r| match &r.event {
            Event::RunStarted(s) => Some(s.clone()),
            _ => None,
        })
        .ok_or_else(|| {
            CliError::new(
                Exit::Invalid,
                format!("{} has no run_started record", transcript.display()),
            )
        })?;
    let playbook_path = PathBuf::from(&started.playbook.file);
    if !playbook_path.is_file() {
        return Err(CliError::new(
            Exit::Invalid,
            format!("the playbook {} is gone", playbook_path.display()),
        )
        .hint("run `runbook resume` from the folder the run was started in"));
    }
    // The run's own values first, then what this command line adds.
    let mut env = EnvArgs {
        inventory: args
            .env
            .inventory
            .clone()
            .or_else(|| started.inventory.clone().map(PathBuf::from)),
        vars: Vec::new(),
        var_files: started.var_files.iter().map(PathBuf::from).collect(),
    };
    env.var_files.extend(args.env.var_files.iter().cloned());
    let mut withheld = Vec::new();
    for (k, v) in &started.overrides {
        if v == runbook_exec::redact::MASK && started.secrets.contains(k) {
            withheld.push(k.clone());
        } else {
            env.vars.push(format!("{k}={v}"));
        }
    }
    let recorded = env.vars.len();
    env.vars.extend(args.env.vars.iter().cloned());
    let mut loaded = load::load_after(&engine, &playbook_path, &env, recorded)?;
    let program = load::compile(&loaded)?;
    load::require_channels(&loaded)?;
    let point = resume_point(&read.records, &program, args.force).map_err(|e| match e {
        ResumeError::StepsChanged(_) => CliError::new(Exit::Invalid, e.to_string())
            .hint("pass --force to resume anyway (steps are matched by id), or start a new run"),
        ResumeError::Finished => CliError::new(Exit::Invalid, e.to_string()),
        ResumeError::NoStart => CliError::new(Exit::Invalid, e.to_string()),
    })?;
    let interactive = wants_operator(&args.flags)?;
    let s = style::stderr();
    if point.started.playbook.sha256
        != runbook_exec::runner::sha256_hex(loaded.source().text.as_bytes())
    {
        eprintln!(
            "{}: {} changed since the run started (its sha256 differs)",
            s.warning("warning"),
            playbook_path.display()
        );
    }
    if read.torn_tail {
        eprintln!(
            "{}: the transcript's last line was cut off when the run stopped; it is dropped",
            s.warning("note")
        );
    }
    for name in &withheld {
        if !args
            .env
            .vars
            .iter()
            .any(|v| v.starts_with(&format!("{name}=")))
        {
            eprintln!(
                "{}: secret --var `{name}` is not in the transcript; pass it again with --var if the run needs it",
                s.warning("note")
            );
        }
    }
    let operator_name = operator_name(&args.flags);
    if interactive {
        ask_missing_params(&engine, &mut loaded, &operator_name)?;
    } else {
        load::require_params(&loaded.vars)?;
    }
    for step in runbook_exec::resume::stop_leftovers(&point, Duration::from_secs(2)) {
        eprintln!(
            "{}: `{step}` was still running from the stopped run; its processes were stopped",
            s.warning("note")
        );
    }
    for (step, _) in &point.interrupted {
        eprintln!("`{step}` had not finished when the run stopped: it runs again");
    }
    let gap = runbook_transcript::time::Clock::since(point.clock_start_ms)
        .elapsed_ms()
        .saturating_sub(point.last_elapsed_ms);
    eprintln!(
        "the run was stopped for {}; the incident clock counts that time",
        runbook_transcript::time::format_duration(Duration::from_millis(gap))
    );
    match &point.next_step {
        Some(next) => eprintln!(
            "resuming at `{next}` ({} finished step visit{} replayed)",
            point.replay.len(),
            if point.replay.len() == 1 { "" } else { "s" }
        ),
        None => eprintln!("resuming: only the end of the run is left"),
    }
    execute(
        engine,
        loaded,
        program,
        &args.flags,
        interactive,
        operator_name,
        transcript,
        Some(point),
        verbose,
    )
}

/// Decides between an operator and `--yes`: answers come from stdin, so a person is there
/// when stdin is a terminal (stderr may go to a pipe, as in `2>&1 | tee log`: the questions
/// then go to the terminal itself); a run whose stdin is not a terminal needs `--yes` (or
/// `--interactive`, to answer from a pipe).
fn wants_operator(flags: &RunFlags) -> Result<bool, CliError> {
    if flags.yes {
        return Ok(false);
    }
    if flags.interactive || std::io::stdin().is_terminal() {
        return Ok(true);
    }
    Err(CliError::new(Exit::Invalid, "no terminal to ask the operator on")
        .hint("pass --yes for an unattended run (manual steps: --manual skip; destructive steps: --allow-destructive)"))
}

fn operator_name(flags: &RunFlags) -> String {
    flags
        .operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Asks the operator for required params nothing filled (a secret one without echo), then
/// renders the vars that were waiting for them.
fn ask_missing_params(
    engine: &Engine,
    loaded: &mut Loaded,
    operator: &str,
) -> Result<(), CliError> {
    let mut answers = Vec::new();
    for name in loaded.vars.missing.clone() {
        let param = &loaded.tree.root().playbook.params[&name];
        loop {
            let what = param.description.as_deref().unwrap_or("required");
            let hidden = if param.secret { ", hidden" } else { "" };
            crate::prompt::to_operator(|out| {
                let _ = write!(
                    out,
                    "  {name} ({}{hidden}) › ",
                    runbook_transcript::visible_line(what)
                );
                let _ = out.flush();
            });
            let Some(line) = crate::prompt::read_answer(param.secret) else {
                return Err(runbook_exec::Error::MissingParams(loaded.vars.missing.clone()).into());
            };
            match runbook_exec::vars::coerce_value(
                param.kind,
                &param.choices,
                &serde_json::Value::String(line.trim().to_owned()),
            ) {
                Ok(value) if !line.trim().is_empty() => {
                    answers.push((name.clone(), value));
                    break;
                }
                Ok(_) => eprintln!("  a value is needed"),
                // The reason quotes the answer: not a hidden one.
                Err(_) if param.secret => eprintln!(
                    "  that is not a valid {}",
                    format!("{:?}", param.kind).to_lowercase()
                ),
                Err(why) => eprintln!("  {why}"),
            }
        }
    }
    let playbook = loaded.playbook().clone();
    loaded.vars.answer_missing(engine, &playbook, answers)?;
    let _ = operator;
    Ok(())
}

/// An unattended run cannot hand the terminal to an `interactive: true` step (format 1.1): it
/// refuses before anything runs, naming the first such step, unless `--manual skip`.
fn refuse_interactive_steps(program: &runbook_exec::program::Program) -> Result<(), CliError> {
    fn first(
        program: &runbook_exec::program::Program,
    ) -> Option<(std::path::PathBuf, usize, usize, String)> {
        program.steps.iter().find_map(|node| {
            if node.step.interactive {
                let loc = node.step.id.loc;
                return Some((
                    program.file.clone(),
                    loc.line,
                    loc.col,
                    node.step.id.value.clone(),
                ));
            }
            match &node.action {
                runbook_exec::program::Action::Playbook(sub) => first(sub),
                _ => None,
            }
        })
    }
    match first(program) {
        None => Ok(()),
        Some((file, line, column, id)) => Err(CliError::new(
            Exit::Invalid,
            format!(
                "{}:{line}:{column}: step `{id}` is interactive (it needs the terminal), and this run is unattended",
                file.display()
            ),
        )
        .hint("run it at a terminal without --yes, or pass --manual skip to skip it")),
    }
}

#[allow(clippy::too_many_arguments)]
fn execute(
    engine: Arc<Engine>,
    loaded: Loaded,
    program: Arc<runbook_exec::program::Program>,
    flags: &RunFlags,
    interactive: bool,
    operator_name: String,
    transcript: PathBuf,
    resume: Option<ResumePoint>,
    verbose: u8,
) -> Result<Exit, CliError> {
    let program = load::render_durations(&engine, &loaded, program)?;
    let s = style::stderr();
    // Ctrl-C and SIGTERM, counted for the runner and for the prompts (a countdown stops).
    let (signal_tx, signal_rx) = tokio::sync::watch::channel(Signals::default());
    let printer = Arc::new(Printer::new(
        flags.format == RunFormat::Human,
        s,
        verbose > 0,
        interactive,
    ));
    if !interactive && flags.manual != ManualPolicy::Skip {
        refuse_interactive_steps(&program)?;
    }
    let operator: Arc<dyn Operator> = if interactive {
        let deadlines = loaded
            .playbook()
            .escalation
            .iter()
            .filter_map(|r| {
                r.after.parse().ok().map(|at| {
                    (
                        at,
                        r.notify
                            .iter()
                            .map(|c| c.value.clone())
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
                })
            })
            .collect();
        let clock = Clock {
            clock: match &resume {
                Some(point) => runbook_transcript::time::Clock::since(point.clock_start_ms),
                None => runbook_transcript::time::Clock::start(),
            },
            deadlines,
        };
        let printer = printer.clone();
        Arc::new(
            Interactive::new(operator_name, s, clock, signal_rx.clone())
                .pausing(move || printer.pause())
                .with_status_line(),
        )
    } else {
        Arc::new(Unattended {
            operator: operator_name,
            skip_manual: flags.manual == ManualPolicy::Skip,
            allow_destructive: flags.allow_destructive,
        })
    };
    printer.begin(loaded.playbook(), &transcript);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            CliError::new(
                Exit::Invalid,
                format!("cannot start the async runtime: {e}"),
            )
        })?;
    let summary: RunSummary = runtime.block_on(async {
        listen_for_signals(signal_tx);
        runner::run(RunRequest {
            engine: engine.clone(),
            program,
            source_text: loaded.source().text.clone(),
            inventory: loaded.inventory.clone().map(|(i, p)| (Arc::new(i), p)),
            overrides: loaded.overrides.clone(),
            vars: loaded.vars.clone(),
            transcript: transcript.clone(),
            operator,
            observer: printer.clone(),
            kill_grace: Duration::from_secs(2),
            finally_grace: flags.finally_grace,
            delivery_grace: Duration::from_secs(5),
            undelivered_fails: !interactive && !flags.allow_undelivered,
            forks: flags.forks,
            limit: flags
                .limit
                .as_deref()
                .map(runbook_exec::runner::HostLimit::parse),
            signals: signal_rx,
            resume,
        })
        .await
    })?;
    // Prompt threads may still wait for a line that will never come; do not wait for them.
    runtime.shutdown_background();
    printer.end(&summary);
    if flags.format == RunFormat::Json || run_summary::job_summary_wanted() {
        let json = run_summary::json(&loaded, &summary);
        if flags.format == RunFormat::Json {
            write_stdout(&(serde_json::to_string_pretty(&json).unwrap_or_default() + "\n"))?;
        }
        run_summary::write_job_summary(&json, loaded.playbook().title());
    }
    if let Some(error) = &summary.journal_error {
        return Err(CliError::new(
            Exit::Aborted,
            format!(
                "the run stopped: the transcript {} cannot be written ({error})",
                summary.transcript.display()
            ),
        )
        .hint(format!(
            "every step it records as finished is done; free space, then `runbook resume {}`",
            summary.transcript.display()
        )));
    }
    let undelivered = summary.finished.undelivered;
    if undelivered > 0 {
        eprintln!(
            "{}: {undelivered} page{} did not reach {} channel (see the transcript)",
            s.warning("warning"),
            if undelivered == 1 { "" } else { "s" },
            if undelivered == 1 { "its" } else { "their" },
        );
    }
    Ok(match summary.outcome {
        RunOutcome::Success if summary.finished.exit_code == 1 => {
            eprintln!("hint: pass --allow-undelivered to let such a run succeed");
            Exit::Failed
        }
        RunOutcome::Success => Exit::Success,
        RunOutcome::Failed => Exit::Failed,
        RunOutcome::Aborted | RunOutcome::Interrupted => Exit::Aborted,
    })
}

/// Counts Ctrl-C (SIGINT) and notes SIGTERM and SIGHUP for the runner. SIGXFSZ (a file size
/// limit) is caught too, so a transcript write past the limit fails with an error the run
/// handles instead of killing the process.
/// The handlers are in place when this returns, before any step runs.
fn listen_for_signals(tx: tokio::sync::watch::Sender<Signals>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup), Ok(mut xfsz)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::from_raw(libc::SIGXFSZ)),
    ) else {
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                // A signal for runbook is one for its interactive command too, if one runs
                // (the keyboard's Ctrl-C goes to the command alone: this one was sent).
                _ = int.recv() => {
                    runbook_exec::process::signal_foreground(libc::SIGINT);
                    tx.send_modify(|s| s.interrupts += 1);
                }
                _ = term.recv() => {
                    runbook_exec::process::signal_foreground(libc::SIGTERM);
                    tx.send_modify(|s| {
                        s.terminated = true;
                        s.stops += 1;
                    });
                }
                _ = hup.recv() => {
                    runbook_exec::process::signal_foreground(libc::SIGHUP);
                    tx.send_modify(|s| {
                        s.hangup = true;
                        s.stops += 1;
                    });
                }
                _ = xfsz.recv() => tracing::warn!("a file size limit was reached (SIGXFSZ)"),
            }
        }
    });
}

/// Where this run's transcript goes, reserved: the file is created empty (atomically, so two
/// runs started in the same second never get the same one) and the run writes into it.
/// `--transcript DIR` (an existing folder, or a path that ends in `/`) gets a new file there
/// named like the default; a file path must not exist, since a transcript is never
/// overwritten or mixed with another run's.
fn transcript_path(arg: Option<&Path>, name: &str) -> Result<Reserved, CliError> {
    let cannot = |path: &Path, err: std::io::Error| {
        CliError::new(
            Exit::Invalid,
            format!("cannot create the transcript {}: {err}", path.display()),
        )
    };
    let Some(arg) = arg else {
        let dir = Path::new(RUNS_DIR);
        return new_transcript(dir, name).map_err(|e| cannot(dir, e));
    };
    if arg.is_dir() || arg.as_os_str().as_encoded_bytes().ends_with(b"/") {
        return new_transcript(arg, name).map_err(|e| cannot(arg, e));
    }
    match reserve(arg) {
        Ok(reserved) => Ok(reserved),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let folder = arg
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| "./".to_owned(), |p| format!("{}/", p.display()));
            Err(CliError::new(
                Exit::Invalid,
                format!("the transcript {} already exists", arg.display()),
            )
            .hint("a transcript is never overwritten: give a new file, or a folder to get a new file in it on every run")
            .hint(format!("for scheduled runs: --transcript {folder}")))
        }
        Err(err) => Err(cannot(arg, err)),
    }
}

/// `<dir>/<UTC time>-<playbook>.jsonl`; runs in the same second get `-2`, `-3`, ...
fn new_transcript(dir: &Path, name: &str) -> std::io::Result<Reserved> {
    let stamp = runbook_transcript::time::compact(std::time::SystemTime::now());
    let mut path = dir.join(format!("{stamp}-{name}.jsonl"));
    let mut n = 2;
    loop {
        match reserve(&path) {
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                path = dir.join(format!("{stamp}-{name}-{n}.jsonl"));
                n += 1;
            }
            other => return other,
        }
    }
}

/// Creates `path` empty, refusing one that exists (its folder is made if needed).
fn reserve(path: &Path) -> std::io::Result<Reserved> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    Ok(Reserved(path.to_owned()))
}

/// A transcript file reserved for this run; removed again if the run ends before writing to
/// it (bad input found after the name was taken), so no empty transcript is left behind.
struct Reserved(PathBuf);

impl Reserved {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if std::fs::metadata(&self.0).is_ok_and(|m| m.len() == 0) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// The most recently written transcript under `.runbook/runs/`.
fn latest_transcript() -> Result<PathBuf, CliError> {
    let none = || {
        CliError::new(Exit::Invalid, format!("no transcripts under {RUNS_DIR}/"))
            .hint("pass the transcript's path: runbook resume PATH")
    };
    let entries = std::fs::read_dir(RUNS_DIR).map_err(|_| none())?;
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        // An empty file is a name reserved by a run that never started (or starts now).
        .filter(|e| e.metadata().is_ok_and(|m| m.len() > 0))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, p)| p)
        .ok_or_else(none)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transcript_name_once_given_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let first = new_transcript(dir.path(), "pb").unwrap();
        assert!(first.path().is_file(), "the name is reserved by its file");
        let second = new_transcript(dir.path(), "pb").unwrap();
        assert_ne!(first.path(), second.path());
        // Dropped unwritten, a reservation goes away.
        let path = first.path().to_owned();
        drop(first);
        assert!(!path.exists());
        // Written to, it stays.
        std::fs::write(second.path(), "{}\n").unwrap();
        let kept = second.path().to_owned();
        drop(second);
        assert!(kept.is_file());
    }
}
