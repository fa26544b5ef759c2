//! The runbook command line: arguments, commands, everything printed to the terminal, prompts.
//! The libraries below it return values and emit events; only this crate decides how they look
//! and which exit code they mean.

mod args;
mod check;
mod diff;
mod error;
mod import;
mod list;
mod load;
mod md;
mod mermaid;
mod plan;
mod printer;
// The terminal's echo (termios) and waiting on stdin go through libc. Pedantic lints wait
// for the prompt's rework (issue 10) to land.
#[allow(unsafe_code, clippy::pedantic)]
mod prompt;
mod render_diff;
mod render_plan;
mod report;
mod run;
mod run_summary;
// The terminal's size (TIOCGWINSZ) goes through libc.
#[allow(unsafe_code)]
mod status;
mod style;
mod suggest;
mod walk;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

pub use args::Cli;
use args::{Command, SchemaKind};
pub use error::{CliError, Exit};

/// Parses the arguments, runs the command, prints any error once, returns the exit code.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let err = suggest::improve(err, &args);
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                Exit::Invalid as u8
            } else {
                0
            });
        }
    };
    style::init(cli.color);
    init_tracing(cli.verbose);
    match run(cli) {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(err) => {
            err.print();
            ExitCode::from(err.exit as u8)
        }
    }
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> Result<Exit, CliError> {
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::List(args) => list::run(&args),
        Command::Run(args) => run::run(&args, cli.verbose),
        Command::Resume(args) => run::resume(&args, cli.verbose),
        Command::Report(args) => report::run(&args),
        Command::Import(args) => import::run(&args),
        Command::Schema(args) => {
            let text = match args.kind {
                SchemaKind::Playbook => runbook_model::schema::playbook_schema(),
                SchemaKind::Inventory => runbook_model::schema::inventory_schema(),
                SchemaKind::Transcript => runbook_transcript::schema(),
                SchemaKind::Plan => runbook_exec::plan::schema(),
                SchemaKind::PlanDiff => runbook_exec::plan_diff::schema(),
                SchemaKind::Run => runbook_exec::summary::schema(),
                SchemaKind::Report => runbook_report::schema(),
                SchemaKind::Check => runbook_model::diagnostic::check_schema(),
            };
            write_stdout(&text)?;
            Ok(Exit::Success)
        }
        Command::Completions { shell } => {
            let mut out = std::io::stdout().lock();
            clap_complete::generate(shell, &mut Cli::command(), "runbook", &mut out);
            Ok(Exit::Success)
        }
    }
}

/// Diagnostics on stderr: warnings by default, more with -v / -vv, or `RUST_LOG`.
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(printer::LogWriter)
        // The same decision as our own output on stderr.
        .with_ansi(style::stderr().color)
        .without_time()
        .try_init();
}

/// Writes data to stdout; a closed pipe (`| head`) is not an error.
pub(crate) fn write_stdout(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(CliError::new(
            Exit::Invalid,
            format!("cannot write to stdout: {err}"),
        )),
    }
}
