//! `runbook run` and `runbook resume`: execute a playbook, unattended (`--yes`) or with an
//! operator at the terminal, and continue one from its transcript.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use runbook_exec::operator::{Operator, Unattended};
use runbook_exec::process::Signals;
use runbook_exec::resume::{ResumeError, ResumePoint, resume_point};
use runbook_exec::runner::{self, RunRequest, RunSummary};
use runbook_template::Engine;
use runbook_transcript::{Event, RunOutcome};
use serde::Serialize;

use crate::args::{EnvArgs, ManualPolicy, ResumeArgs, RunArgs, RunFlags, RunFormat};
use crate::load::Loaded;
use crate::printer::Printer;
use crate::prompt::{Clock, Interactive};
use crate::{CliError, Exit, load, style, write_stdout};

/// Where transcripts go unless `--transcript` says otherwise.
const RUNS_DIR: &str = ".runbook/runs";

#[derive(Serialize)]
struct JsonSummary<'a> {
    run_id: &'a str,
    playbook: &'a str,
    outcome: RunOutcome,
    exit_code: u8,
    transcript: String,
    duration_ms: u64,
    failed_step: Option<&'a str>,
    steps: Vec<JsonStep<'a>>,
}

#[derive(Serialize)]
struct JsonStep<'a> {
    step: &'a str,
    outcome: &'static str,
    duration_ms: u64,
}

pub fn run(args: &RunArgs, verbose: u8) -> Result<Exit, CliError> {
    let engine = Arc::new(Engine::new());
    let interactive = wants_operator(&args.flags)?;
    let mut loaded = load::load(&engine, &args.playbook, &args.env)?;
    if !interactive {
        load::require_params(&loaded.vars)?;
    }
    let operator_name = operator_name(&args.flags);
    if interactive {
        ask_missing_params(&engine, &mut loaded, &operator_name)?;
    }
    let transcript = args
        .transcript
        .clone()
        .unwrap_or_else(|| default_transcript(&loaded.playbook.metadata.name));
    execute(
        engine,
        loaded,
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
    let interactive = wants_operator(&args.flags)?;
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
    env.vars.extend(args.env.vars.iter().cloned());
    let mut loaded = load::load(&engine, &playbook_path, &env)?;
    let point = resume_point(&read.records, &loaded.playbook, args.force).map_err(|e| match e {
        ResumeError::StepsChanged(_) => CliError::new(Exit::Invalid, e.to_string())
            .hint("pass --force to resume anyway (steps are matched by id), or start a new run"),
        ResumeError::Finished => CliError::new(Exit::Invalid, e.to_string()),
        ResumeError::NoStart => CliError::new(Exit::Invalid, e.to_string()),
    })?;
    let s = style::stderr();
    if point.started.playbook.sha256
        != runbook_exec::runner::sha256_hex(loaded.source.text.as_bytes())
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
    match (&point.interrupted_step, point.next_step(&loaded.playbook)) {
        (Some(step), _) => eprintln!("resuming at `{step}`, which had not finished"),
        (None, Some(next)) => eprintln!("resuming at `{next}`"),
        (None, None) => eprintln!("resuming: only the end of the run is left"),
    }
    execute(
        engine,
        loaded,
        &args.flags,
        interactive,
        operator_name,
        transcript,
        Some(point),
        verbose,
    )
}

/// Decides between an operator and `--yes`; a run without a terminal needs `--yes`.
fn wants_operator(flags: &RunFlags) -> Result<bool, CliError> {
    if flags.yes {
        return Ok(false);
    }
    if flags.interactive || (std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
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
    use std::io::Write;
    let mut answers = Vec::new();
    for name in loaded.vars.missing.clone() {
        let param = &loaded.playbook.params[&name];
        loop {
            let mut err = std::io::stderr().lock();
            let what = param.description.as_deref().unwrap_or("required");
            let hidden = if param.secret { ", hidden" } else { "" };
            let _ = write!(
                err,
                "  {name} ({}{hidden}) › ",
                runbook_transcript::visible_line(what)
            );
            let _ = err.flush();
            drop(err);
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
    loaded
        .vars
        .answer_missing(engine, &loaded.playbook, answers)?;
    let _ = operator;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn execute(
    engine: Arc<Engine>,
    loaded: Loaded,
    flags: &RunFlags,
    interactive: bool,
    operator_name: String,
    transcript: PathBuf,
    resume: Option<ResumePoint>,
    verbose: u8,
) -> Result<Exit, CliError> {
    let s = style::stderr();
    // Ctrl-C and SIGTERM, counted for the runner and for the prompts (a countdown stops).
    let (signal_tx, signal_rx) = tokio::sync::watch::channel(Signals::default());
    let printer = Arc::new(Printer::new(
        flags.format == RunFormat::Human,
        s,
        verbose > 0,
        interactive,
    ));
    let operator: Arc<dyn Operator> = if interactive {
        let deadlines = loaded
            .playbook
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
            started: Instant::now(),
            before: Duration::from_millis(resume.as_ref().map_or(0, |r| r.elapsed_ms)),
            deadlines,
        };
        let printer = printer.clone();
        Arc::new(
            Interactive::new(operator_name, s, clock, signal_rx.clone())
                .pausing(move || printer.pause()),
        )
    } else {
        Arc::new(Unattended {
            operator: operator_name,
            skip_manual: flags.manual == ManualPolicy::Skip,
            allow_destructive: flags.allow_destructive,
        })
    };
    printer.begin(&loaded.playbook, &transcript);

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
        tokio::spawn(forward_signals(signal_tx));
        runner::run(RunRequest {
            engine: engine.clone(),
            playbook: loaded.playbook.clone(),
            file: loaded.path.clone(),
            source_text: loaded.source.text.clone(),
            inventory: loaded.inventory.clone().map(|(i, p)| (Arc::new(i), p)),
            overrides: loaded.overrides.clone(),
            vars: loaded.vars.clone(),
            transcript: transcript.clone(),
            operator,
            observer: printer.clone(),
            kill_grace: Duration::from_secs(2),
            signals: signal_rx,
            resume,
        })
        .await
    })?;
    // Prompt threads may still wait for a line that will never come; do not wait for them.
    runtime.shutdown_background();
    printer.end(&summary);
    if flags.format == RunFormat::Json {
        let json = JsonSummary {
            run_id: &summary.run_id,
            playbook: &loaded.playbook.metadata.name,
            outcome: summary.outcome,
            exit_code: summary.outcome.exit_code(),
            transcript: summary.transcript.display().to_string(),
            duration_ms: summary.finished.duration_ms,
            failed_step: summary.finished.failed_step.as_deref(),
            steps: summary
                .steps
                .iter()
                .map(|(s, o, d)| JsonStep {
                    step: s,
                    outcome: o.as_str(),
                    duration_ms: *d,
                })
                .collect(),
        };
        write_stdout(&(serde_json::to_string_pretty(&json).unwrap_or_default() + "\n"))?;
    }
    Ok(match summary.outcome {
        RunOutcome::Success => Exit::Success,
        RunOutcome::Failed => Exit::Failed,
        RunOutcome::Aborted | RunOutcome::Interrupted => Exit::Aborted,
    })
}

/// Counts Ctrl-C (SIGINT) and notes SIGTERM for the runner.
async fn forward_signals(tx: tokio::sync::watch::Sender<Signals>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    loop {
        tokio::select! {
            _ = int.recv() => tx.send_modify(|s| s.interrupts += 1),
            _ = term.recv() => tx.send_modify(|s| s.terminated = true),
        }
    }
}

/// `.runbook/runs/<UTC time>-<playbook>.jsonl` under the current folder.
fn default_transcript(name: &str) -> PathBuf {
    let stamp = runbook_transcript::time::compact(std::time::SystemTime::now());
    let mut path = Path::new(RUNS_DIR).join(format!("{stamp}-{name}.jsonl"));
    // Two runs in the same second get distinct files.
    let mut n = 2;
    while path.exists() {
        path = Path::new(RUNS_DIR).join(format!("{stamp}-{name}-{n}.jsonl"));
        n += 1;
    }
    path
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
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, p)| p)
        .ok_or_else(none)
}
