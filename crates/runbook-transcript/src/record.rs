//! The records of a transcript. Each line is a [`Record`]: a sequence number, a timestamp and
//! one [`Event`], tagged by `"event"`.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A closed list of the words a transcript field takes, as an enum with the same wire format.
/// A word this build does not know (a newer engine wrote it) reads as `Unknown`, so an older
/// `runbook report` or `resume` still reads the file; the schema lists only the known words.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant,)+
            /// A word this build does not know.
            #[serde(other, rename = "unknown")]
            #[schemars(skip)]
            Unknown,
        }

        impl $name {
            /// The word as the transcript writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                    $name::Unknown => "unknown",
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// What kind of step started (`step_started.action`).
    ActionKind {
        /// A shell command (locally or on inventory hosts).
        Run = "run",
        /// Something a person does and confirms.
        Manual = "manual",
        /// A pause on the clock.
        Wait = "wait",
        /// A group of steps run side by side.
        Parallel = "parallel",
        /// A sub-playbook.
        Playbook = "playbook",
        /// A rendered report.
        Report = "report",
        /// A message sent to channels now (since format 1.1).
        Notify = "notify",
        /// The run ended as failed, with a reason (since format 1.1).
        Fail = "fail",
        /// The run ended early as succeeded, with a reason (since format 1.1).
        Succeed = "succeed",
        /// A step repeated per item: its repetitions follow as `step[N]` (since format 1.1).
        ForEach = "for_each",
    }
}

vocabulary! {
    /// What an answer did (`prompt.decision`).
    Decision {
        /// Run the step (as it is).
        Run = "run",
        /// Run the step with a command the operator edited.
        Edited = "edited",
        /// Skip the step.
        Skip = "skip",
        /// Stop the run.
        Abort = "abort",
        /// Try the step again.
        Retry = "retry",
        /// Follow the step's failure branch.
        Branch = "branch",
        /// Page the escalation ladder.
        Escalate = "escalate",
        /// Open a shell first (the answer lists what was typed in it).
        Shell = "shell",
        /// A manual step was done.
        Done = "done",
        /// A manual step failed.
        Fail = "fail",
        /// `confirm:` was declined.
        Declined = "declined",
        /// A policy refused a destructive step nobody could confirm.
        Refused = "refused",
    }
}

vocabulary! {
    /// Who answers the questions of a run (`run_started.mode`, `run_resumed.mode`).
    RunMode {
        /// A person at a terminal.
        Interactive = "interactive",
        /// Policies (`--yes`).
        Unattended = "unattended",
    }
}

vocabulary! {
    /// Why a page went out (`escalation.reason`).
    EscalationReason {
        /// A rung of the time-based policy came due on the incident clock.
        Policy = "policy",
        /// A step's `on_failure.escalate`.
        Failure = "failure",
        /// The operator chose to escalate after a failure.
        Operator = "operator",
        /// A graded check's `notify` (since format 1.1).
        Check = "check",
        /// A `notify:` step (since format 1.1).
        Notify = "notify",
    }
}

/// One line of the transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Record {
    /// The record's number: 0 for the first, counting on across resumes.
    pub seq: u64,
    /// RFC 3339, UTC, milliseconds.
    pub ts: String,
    /// Milliseconds since the run started: the incident clock.
    pub elapsed_ms: u64,
    /// What happened, tagged by `event`.
    #[serde(flatten)]
    pub event: Event,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A run began: the transcript's first record.
    RunStarted(RunStarted),
    /// `runbook resume` continued the run.
    RunResumed(RunResumed),
    /// A step, an attempt of it, or one host of a fan-out step began.
    StepStarted(StepStarted),
    /// A step's command runs in this process group.
    Process(Process),
    /// One line of a step's output.
    Output(Output),
    /// A question to the operator and its answer.
    Prompt(Prompt),
    /// A step, or one host of a fan-out step, ended.
    StepFinished(StepFinished),
    /// A page went out to channels, with how each delivery went.
    Escalation(Escalation),
    /// The run ended (each resumed run ends with one more).
    RunFinished(RunFinished),
}

/// The playbook a run runs (`run_started.playbook`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlaybookInfo {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.title`, or the name when it has none.
    pub title: String,
    /// `metadata.version`, when set.
    pub version: Option<String>,
    /// The playbook file's path as given to `run`.
    pub file: String,
    /// The SHA-256 of the playbook file, in hex, so resume can tell when it changed.
    pub sha256: String,
    /// `metadata.schedule`, a cron expression (since format 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// The run began: who ran what, with which values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunStarted {
    /// The transcript's format: `runbook-transcript/v1`.
    pub format: String,
    /// The run's id: the transcript file's name without its extension.
    pub run_id: String,
    /// The playbook run.
    pub playbook: PlaybookInfo,
    /// The inventory file's path; `null` for a run without one.
    pub inventory: Option<String>,
    /// Every value of the run, secrets as `***`.
    pub params: IndexMap<String, Value>,
    /// Names of the secret values (their values are never written).
    #[serde(default)]
    pub secrets: Vec<String>,
    /// `--var` overrides as given (secrets as `***`), so resume can restore them.
    #[serde(default)]
    pub overrides: Vec<(String, String)>,
    /// `--var-file` paths, in the order given.
    #[serde(default)]
    pub var_files: Vec<String>,
    /// Who ran it: `--operator`, else `$USER`.
    pub operator: String,
    /// The machine it ran on.
    pub hostname: String,
    /// The version of `runbook` that ran it.
    pub engine_version: String,
    /// Who answers the questions.
    pub mode: RunMode,
    /// Every step id in file order (nested and `finally` included), so resume can tell
    /// whether the playbook's steps changed.
    #[serde(default)]
    pub step_ids: Vec<String>,
    /// When the incident clock started, in milliseconds since the Unix epoch: the clock is
    /// wall time from here, across every resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_start_ms: Option<u64>,
}

/// `runbook resume` continued this transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunResumed {
    /// Who resumed it: `--operator`, else `$USER`.
    pub operator: String,
    /// The machine it resumed on.
    pub hostname: String,
    /// The step the run continues with (`finally:ID` for a `finally` step), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
    /// The playbook file changed since the run started.
    pub playbook_changed: bool,
    /// The SHA-256 of the playbook file now, in hex.
    pub sha256: String,
    /// Who answers the questions from here on.
    pub mode: RunMode,
    /// How long no process ran the run: from its last record before this resume to now.
    #[serde(default)]
    pub gap_ms: u64,
    /// Steps that were running when the process stopped; they run again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rerun: Vec<String>,
}

/// A step began: a command once per attempt; a fan-out step once, then per host and attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepStarted {
    /// The step id; steps of a sub-playbook are `parent/child`.
    pub step: String,
    /// The step's name, or its id when it has none.
    pub name: String,
    /// What kind of step it is.
    pub action: ActionKind,
    /// The rendered command, secrets as `***`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Where it runs: `local`, or the inventory host's name.
    pub host: String,
    /// Which attempt this is, from 1 (`retry` runs a command again).
    pub attempt: u32,
    /// Which visit of the step this is, from 1 (goto loops visit a step again).
    pub visit: u32,
    /// How long a `wait`, or the whole of a `watch`, is planned to take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_ms: Option<u64>,
}

/// A step's command is running in this process group (written right after it started, so a
/// resume can stop a group that outlived a killed run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Process {
    /// The step (`step@host` for one host of a fan-out step).
    pub step: String,
    /// Which attempt of the step's command, from 1.
    pub attempt: u32,
    /// The process group id of the command on this machine (for a remote step, of its `ssh`).
    pub pgid: i32,
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Lines of a step's output, up to the recorded limit (the rest goes to the spill file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Output {
    /// The step (`step@host` for one host of a fan-out step).
    pub step: String,
    /// Which stream the line came from.
    pub stream: Stream,
    /// One line, without its line break, secrets as `***`.
    pub text: String,
}

/// A question asked of the operator and the answer (or the policy that answered it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Prompt {
    /// The step the question is about.
    pub step: String,
    /// The question as shown.
    pub question: String,
    /// The answer as given (or as the policy gave it).
    pub answer: String,
    /// Who answered: the run's operator.
    pub operator: String,
    /// What the answer did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

/// The outcome of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It did what it should.
    Ok,
    /// It passed with a warning (a graded check warned, hosts failed within `max_fail`).
    Warning,
    /// It did not do what it should.
    Failed,
    /// It did not run: its `when` was false, or the operator skipped it.
    Skipped,
    /// The run stopped here: the operator aborted it, or a signal interrupted it.
    Aborted,
}

impl Outcome {
    /// The word as the transcript writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Warning => "warning",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Aborted => "aborted",
        }
    }

    /// Whether the run goes on as after a success.
    pub fn passed(&self) -> bool {
        matches!(self, Outcome::Ok | Outcome::Warning | Outcome::Skipped)
    }
}

/// Why a step ended as it did, for machines (`message` says it for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepReason {
    /// Everything the step expects held.
    Passed,
    /// A graded check decided the outcome (ok, warning or critical).
    Check,
    /// The exit code is not one the step accepts.
    Exit,
    /// An expectation on stdout, stderr or JSON failed.
    Expectation,
    /// A capture found nothing to take.
    Capture,
    /// The step ran past its `timeout`.
    Timeout,
    /// Its `when` was false.
    When,
    /// The operator decided: skipped, aborted, a manual step not done, a wait cut short.
    Operator,
    /// The operator declined `confirm:` or did not type a destructive step's phrase.
    NotConfirmed,
    /// Nobody could answer (`--yes`): a destructive step without `--allow-destructive`, a
    /// manual step under `--manual fail`.
    Unattended,
    /// A template (command, `when`, check, message, `with:`) could not be rendered.
    Template,
    /// A child of the parallel group failed.
    Group,
    /// The sub-playbook failed.
    SubPlaybook,
    /// The step would run more often than `max_visits`.
    VisitLimit,
    /// A signal (Ctrl-C, SIGTERM, SIGHUP) stopped it.
    Interrupted,
    /// This build cannot run it (a remote step).
    Unsupported,
    /// The step could not be started.
    Error,
    /// A `fail:` step ended the run as failed (since format 1.1).
    Fail,
    /// A `succeed:` step ended the run early as succeeded (since format 1.1).
    Succeed,
}

impl StepReason {
    /// The word as the transcript writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            StepReason::Passed => "passed",
            StepReason::Check => "check",
            StepReason::Exit => "exit",
            StepReason::Expectation => "expectation",
            StepReason::Capture => "capture",
            StepReason::Timeout => "timeout",
            StepReason::When => "when",
            StepReason::Operator => "operator",
            StepReason::NotConfirmed => "not_confirmed",
            StepReason::Unattended => "unattended",
            StepReason::Template => "template",
            StepReason::Group => "group",
            StepReason::SubPlaybook => "sub_playbook",
            StepReason::VisitLimit => "visit_limit",
            StepReason::Interrupted => "interrupted",
            StepReason::Unsupported => "unsupported",
            StepReason::Error => "error",
            StepReason::Fail => "fail",
            StepReason::Succeed => "succeed",
        }
    }
}

/// One expectation or check and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    /// The expectation or check, in words (`stdout contains "ok"`).
    pub what: String,
    /// Whether it held.
    pub ok: bool,
    /// What the step gave instead (shortened), when there is something to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub got: Option<String>,
}

/// A step ended: its outcome, why, and what it left for later steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepFinished {
    /// The step (`step@host` for one host of a fan-out step).
    pub step: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Which visit of the step this was (goto loops visit a step again).
    #[serde(default = "first_visit")]
    pub visit: u32,
    /// The last command's exit code (128 + the signal's number when a signal ended it); absent
    /// when no command ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    /// How long it took in milliseconds, from its action's start, without the time spent waiting
    /// for the operator.
    pub duration_ms: u64,
    /// How many times its command ran: attempts, or a watch's iterations.
    pub attempts: u32,
    /// Every expectation and check of the last attempt, and whether it held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verdicts: Vec<Verdict>,
    /// Values the step captured, by name (secrets as `***`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub captures: IndexMap<String, Value>,
    /// Why, in one line: the failed expectation, the check message, the skip reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why, as a code (added within v1: older transcripts have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<StepReason>,
    /// The first kilobytes of stdout/stderr, for `steps.<id>.stdout` after a resume.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    /// The first 16 KiB of stderr, for `steps.<id>.stderr` after a resume.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// Where the full output went when it was longer than the transcript keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spilled: Option<String>,
    /// A rendered `report` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// Answers of a manual step's inputs (secrets as `***`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub inputs: IndexMap<String, Value>,
}

fn first_visit() -> u32 {
    1
}

/// A delivery attempt to one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Delivery {
    /// The channel's name in the inventory.
    pub channel: String,
    /// Whether the channel took the page.
    pub ok: bool,
    /// Why the delivery failed, secrets as `***`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long the delivery took.
    #[serde(default)]
    pub duration_ms: u64,
}

/// A page sent to channels, and how each delivery went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Escalation {
    /// The page's number in the run, from 1, counting every page of every reason and
    /// continuing across resumes.
    pub level: u32,
    /// Why the page went out: the clock, a step's `on_failure`, the operator, a graded check's
    /// `notify` or a `notify:` step (the last two since format 1.1).
    pub reason: EscalationReason,
    /// The channels paged, by name.
    pub channels: Vec<String>,
    /// The message sent, secrets as `***`.
    pub message: String,
    /// The step the page is about (it failed, or its check or `notify:` sent it); absent for a
    /// policy rung.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// One delivery per channel, in the order of `channels`.
    pub deliveries: Vec<Delivery>,
    /// The rung of the time-based policy (`policy` only): its playbook (`""` for the run's
    /// own, else the sub-playbook step's path) and its index in that ladder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rung: Option<Rung>,
    /// When the rung was due on the incident clock (`policy` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_ms: Option<u64>,
    /// How late it fired: it became due while no process was running the run.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub late_ms: u64,
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Which rung of which ladder fired.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Rung {
    /// The ladder: `""` for the run's own, `parent/` (the sub-playbook step's path and a slash)
    /// for a sub-playbook's.
    pub scope: String,
    /// The rung's index in its ladder, from 0.
    pub index: u32,
    /// Which page of a repeating rung (`every:`, since format 1.1): 0 for the first.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub repeat: u32,
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    /// It reached the end of its steps without a failure that stops it (exit 0).
    Success,
    /// A failure stopped it (a failed step, a `fail:` step, `max_visits`), or a `finally` step
    /// failed (exit 1).
    Failed,
    /// The operator, or a policy under `--yes`, chose to stop it (exit 3).
    Aborted,
    /// A signal, or a transcript that could not be written, stopped it (exit 3).
    Interrupted,
}

impl RunOutcome {
    /// The documented exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunOutcome::Success => 0,
            RunOutcome::Failed => 1,
            RunOutcome::Aborted | RunOutcome::Interrupted => 3,
        }
    }
}

/// The run ended: its outcome and its steps counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunFinished {
    /// How it ended.
    pub outcome: RunOutcome,
    /// The exit code: the outcome's, or 1 for a success whose pages did not all arrive when
    /// that fails the run.
    pub exit_code: u8,
    /// Milliseconds on the incident clock: since the run first started, across resumes.
    pub duration_ms: u64,
    /// The first step that failed, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    /// Steps whose last outcome was `ok` (one count per step path; hosts of a fan-out step are
    /// not counted).
    pub steps_ok: u32,
    /// Steps whose last outcome was `warning`.
    pub steps_warning: u32,
    /// Steps whose last outcome was `failed`.
    pub steps_failed: u32,
    /// Steps whose last outcome was `skipped`.
    pub steps_skipped: u32,
    /// Pages that did not reach their channel (failed or abandoned deliveries).
    #[serde(default)]
    pub undelivered: u32,
    /// Why the run stopped when it was not a step (a transcript that cannot be written, a
    /// signal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_words_keep_their_wire_format() {
        let line = r#"{"seq":3,"ts":"2026-11-22T21:30:05.123Z","elapsed_ms":5,"event":"prompt","step":"restart","question":"Run restart?","answer":"e","operator":"alice","decision":"edited"}"#;
        let record: Record = serde_json::from_str(line).unwrap();
        let Event::Prompt(prompt) = &record.event else {
            panic!("{record:?}")
        };
        assert_eq!(prompt.decision, Some(Decision::Edited));
        assert_eq!(serde_json::to_string(&record).unwrap(), line);
        for (word, kind) in [("run", ActionKind::Run), ("playbook", ActionKind::Playbook)] {
            assert_eq!(serde_json::to_value(kind).unwrap(), word);
            assert_eq!(kind.to_string(), word);
        }
        assert_eq!(
            serde_json::to_value(RunMode::Unattended).unwrap(),
            "unattended"
        );
        assert_eq!(
            serde_json::from_value::<EscalationReason>("failure".into()).unwrap(),
            EscalationReason::Failure
        );
    }

    #[test]
    fn a_word_from_a_newer_engine_reads_as_unknown() {
        let line = r#"{"seq":1,"ts":"2026-11-22T21:30:05.123Z","elapsed_ms":0,"event":"step_started","step":"a","name":"A","action":"teleport","host":"local","attempt":1,"visit":1}"#;
        let record: Record = serde_json::from_str(line).unwrap();
        let Event::StepStarted(started) = record.event else {
            panic!("{record:?}")
        };
        assert_eq!(started.action, ActionKind::Unknown);
        assert_eq!(
            serde_json::from_value::<Decision>("postpone".into()).unwrap(),
            Decision::Unknown
        );
    }
}
