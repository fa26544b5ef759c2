//! `runbook run`: execute a playbook, unattended (`--yes`) or with an operator at the terminal.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use runbook_exec::operator::{Operator, Unattended};
use runbook_exec::runner::{self, RunRequest};
use runbook_template::Engine;
use runbook_transcript::RunOutcome;
use serde::Serialize;

use crate::args::{ManualPolicy, RunArgs, RunFormat};
use crate::printer::Printer;
use crate::{CliError, Exit, load, style, write_stdout};

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
    let loaded = load::load(&engine, &args.playbook, &args.env)?;
    let interactive = !args.yes;
    if interactive && !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(CliError::new(Exit::Invalid, "no terminal to ask the operator on")
            .hint("pass --yes for an unattended run (manual steps: --manual skip; destructive steps: --allow-destructive)"));
    }
    if interactive {
        return Err(CliError::new(
            Exit::Invalid,
            "the interactive operator mode is not in this build yet",
        )
        .hint("pass --yes for an unattended run"));
    }
    load::require_params(&loaded.vars)?;
    let operator_name = args
        .operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let operator: Arc<dyn Operator> = Arc::new(Unattended {
        operator: operator_name,
        skip_manual: args.manual == ManualPolicy::Skip,
        allow_destructive: args.allow_destructive,
    });
    let transcript = args
        .transcript
        .clone()
        .unwrap_or_else(|| default_transcript(&loaded.playbook.metadata.name));
    let printer = Arc::new(Printer::new(
        args.format == RunFormat::Human,
        style::stderr(),
        verbose > 0,
    ));
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
    let summary = runtime.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let terminated = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                () = terminated => {},
            }
            let _ = tx.send(true);
        });
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
            interrupt: rx,
        })
        .await
    })?;
    printer.end(&summary);
    if args.format == RunFormat::Json {
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

/// `.runbook/runs/<UTC time>-<playbook>.jsonl` under the current folder.
fn default_transcript(name: &str) -> PathBuf {
    let stamp = runbook_transcript::time::compact(std::time::SystemTime::now());
    let mut path = PathBuf::from(".runbook/runs").join(format!("{stamp}-{name}.jsonl"));
    // Two runs in the same second get distinct files.
    let mut n = 2;
    while path.exists() {
        path = PathBuf::from(".runbook/runs").join(format!("{stamp}-{name}-{n}.jsonl"));
        n += 1;
    }
    path
}
