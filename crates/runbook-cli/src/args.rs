//! Command-line arguments (clap derive). `--help` teaches: every command has examples.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  runbook check playbooks/                       find every error before anything runs
  runbook plan playbooks/apeg/p0-service-down.yaml -i inventories/apeg-prod.yaml
  runbook run playbooks/apeg/p0-service-down.yaml -i inventories/apeg-prod.yaml
  runbook run --yes nightly.yaml --format json   unattended, for cron or CI
  runbook report .runbook/runs/<run>.jsonl --format html > timeline.html

Exit codes: 0 success (warnings allowed), 1 a step failed, 2 invalid input, 3 aborted or interrupted.";

/// Executable runbooks: YAML playbooks checked, planned and run with a recorded transcript.
#[derive(Debug, Parser)]
#[command(name = "runbook", version, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    #[allow(
        missing_docs,
        reason = "a doc comment here would become clap's help text"
    )]
    #[command(subcommand)]
    pub command: Command,
    /// More diagnostics on stderr (-v info, -vv debug); `RUST_LOG` works too.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// When to use colour; `NO_COLOR` is respected under `auto`.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate playbooks and inventories (files or folders, recursively).
    #[command(
        after_help = "Examples:\n  runbook check playbooks/\n  runbook check --format github --deny-warnings playbooks/ inventories/\n  runbook check playbooks/apeg/ -i inventories/apeg-prod.yaml    each playbook with this environment"
    )]
    Check(CheckArgs),
    /// Show every step of a playbook with its resolved commands, without running anything;
    /// or, with --diff, what a change does to them.
    #[command(
        after_help = "Examples:\n  runbook plan playbook.yaml -i inventories/prod.yaml\n  runbook plan playbook.yaml --var domain=example.com --format markdown > plan.md\n  runbook plan --diff origin/main playbook.yaml -i inventories/prod.yaml    what this branch changes\n  runbook plan --diff old.yaml new.yaml --format markdown                    two files\n\nA required param nothing sets is shown as ⟨name⟩ (a warning; --strict makes it an error):\nplan never needs a secret."
    )]
    Plan(PlanArgs),
    /// Run a playbook: interactively on a terminal, unattended with --yes.
    #[command(
        after_help = "Examples:\n  runbook run playbook.yaml -i inventories/prod.yaml\n  runbook run --yes --format json playbook.yaml --var domain=example.com"
    )]
    Run(RunArgs),
    /// Continue an interrupted or failed run from its transcript.
    #[command(
        after_help = "Examples:\n  runbook resume                       the newest run under .runbook/runs/\n  runbook resume .runbook/runs/20261122T213005Z-apeg-p0-service-down.jsonl --yes"
    )]
    Resume(ResumeArgs),
    /// Render a run's transcript as an incident report: timeline, decisions, escalations,
    /// totals and an empty post-mortem.
    #[command(
        after_help = "Examples:\n  runbook report .runbook/runs/<run>.jsonl                       Markdown on stdout\n  runbook report .runbook/runs/<run>.jsonl --format html -o timeline.html\n  runbook report .runbook/runs/<run>.jsonl --format json | jq .totals"
    )]
    Report(ReportArgs),
    /// List the playbooks under folders: name, title, version, severity, steps, tags.
    #[command(
        after_help = "Examples:\n  runbook list playbooks/\n  runbook list playbooks/ --severity P0,P1       what to open in an incident\n  runbook list playbooks/ --tag weekly           the weekly maintenance\n  runbook list playbooks/ --format json | jq -r '.[].file'"
    )]
    List(ListArgs),
    /// Turn a Markdown runbook into playbooks (one per procedure) and an import report.
    #[command(
        after_help = "Examples:\n  runbook import RUNBOOK.md                     playbooks in ./RUNBOOK/, the report on stdout\n  runbook import ops.md -o playbooks/ops --report import-report.md\n  runbook check playbooks/ops && runbook plan playbooks/ops/p0-service-down.yaml --var domain=example.org"
    )]
    Import(ImportArgs),
    /// Print a JSON Schema: of playbooks and inventories (for editors), of the transcript, and
    /// of every JSON output (check, plan, plan diff, run, report).
    #[command(
        after_help = "Examples:\n  runbook schema playbook > schemas/playbook.v1.json\n  runbook schema plan          what `plan --format json` prints"
    )]
    Schema(SchemaArgs),
    /// Print shell completions.
    #[command(
        after_help = "Example:\n  runbook completions bash > ~/.local/share/bash-completion/completions/runbook"
    )]
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Human,
    Json,
    Github,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files or folders; folders are searched for *.yaml and *.yml.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Also check each playbook against this inventory: escalation channels it does not
    /// define, and required params that nothing but --var would set, are warnings.
    #[arg(short, long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
}

/// Where values come from: shared by plan and run.
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// The environment's inventory: values, hosts, groups, channels.
    #[arg(short, long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Set a value (highest precedence after operator answers); repeatable.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// A YAML file of values; repeatable.
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Human,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The playbook (with --diff: its new version).
    pub playbook: PathBuf,
    #[command(flatten)]
    pub env: EnvArgs,
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
    /// Compare with OLD: another playbook file, or a git revision (`origin/main`,
    /// `HEAD~1`; the same path at that revision, or `REV:PATH` for a renamed file). Shows
    /// steps added, removed, moved and changed; destructive ones first.
    #[arg(long, value_name = "OLD")]
    pub diff: Option<String>,
    /// A required param nothing sets is an error (exit 2) instead of a warning.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ManualPolicy {
    /// A manual step fails the run when nobody can do it.
    Fail,
    /// A manual step is recorded as skipped.
    Skip,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub playbook: PathBuf,
    #[command(flatten)]
    pub env: EnvArgs,
    /// Where to write the transcript (default: .runbook/runs/<time>-<name>.jsonl).
    #[arg(long, value_name = "PATH")]
    pub transcript: Option<PathBuf>,
    #[command(flatten)]
    pub flags: RunFlags,
}

/// How a run is driven: shared by `run` and `resume`.
#[derive(Debug, Args)]
pub struct RunFlags {
    /// Unattended: no questions; manual and destructive steps follow --manual and
    /// --allow-destructive.
    #[arg(short, long, conflicts_with = "interactive")]
    pub yes: bool,
    /// Ask before every step even when stdin is not a terminal.
    #[arg(long)]
    pub interactive: bool,
    /// What a manual step does under --yes.
    #[arg(long, value_enum, default_value_t = ManualPolicy::Fail)]
    pub manual: ManualPolicy,
    /// Let destructive steps run under --yes.
    #[arg(long)]
    pub allow_destructive: bool,
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    pub format: RunFormat,
    /// Who runs it, recorded in the transcript (default: $USER).
    #[arg(long)]
    pub operator: Option<String>,
    /// How long `finally` may run after the run was stopped (SIGTERM, SIGHUP, Ctrl-C under
    /// --yes); a second signal cuts it short at once.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub finally_grace: std::time::Duration,
    /// Under --yes, a page that could not be delivered does not fail the run (exit 1 by
    /// default).
    #[arg(long)]
    pub allow_undelivered: bool,
    /// How many hosts a step runs on at once (the next starts as soon as one finishes).
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub forks: usize,
    /// Run remote steps only on these hosts: names or `*` patterns, comma-separated
    /// (`web-*`, `db-1,db-2`).
    #[arg(long, value_name = "PATTERN")]
    pub limit: Option<String>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    runbook_model::duration::parse_duration(text)
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The transcript to continue (default: the newest under .runbook/runs/).
    pub transcript: Option<PathBuf>,
    /// Values as for `run`; the transcript's own --var and --var-file come first.
    #[command(flatten)]
    pub env: EnvArgs,
    /// Resume even though the playbook's steps changed since the run started.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub flags: RunFlags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Markdown,
    /// One self-contained page with a visual timeline.
    Html,
    Json,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The transcript of a run (JSONL, as `run` writes under .runbook/runs/).
    pub transcript: PathBuf,
    /// Default: from the extension of -o (.html, .json, .md), else markdown.
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Write the report to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Human,
    Json,
}

/// Incident severity, for `list --severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum SeverityArg {
    P0,
    P1,
    P2,
    P3,
    P4,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Folders (searched recursively) or files.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = ListFormat::Human)]
    pub format: ListFormat,
    /// Only playbooks of these severities (repeatable, or comma-separated: P0,P1).
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        value_delimiter = ',',
        value_name = "SEV"
    )]
    pub severity: Vec<SeverityArg>,
    /// Only playbooks with every one of these tags (repeatable, or comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "TAG")]
    pub tag: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    Playbook,
    Inventory,
    /// One line of a run's transcript (`runbook-transcript/v1`).
    Transcript,
    /// `runbook plan --format json` (`runbook-plan/v1`).
    Plan,
    /// `runbook plan --diff ... --format json` (`runbook-plan-diff/v1`).
    PlanDiff,
    /// `runbook run --format json` (`runbook-run/v1`).
    Run,
    /// `runbook report --format json` (`runbook-report/v1`).
    Report,
    /// `runbook check --format json` (`runbook-check/v1`).
    Check,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[arg(value_enum, default_value_t = SchemaKind::Playbook)]
    pub kind: SchemaKind,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The Markdown runbook (`CommonMark` + GitHub tables and task lists).
    pub runbook: PathBuf,
    /// Folder for the playbooks (default: one named after the runbook, in the current folder).
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Write the import report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Overwrite playbooks that already exist.
    #[arg(long)]
    pub force: bool,
}
