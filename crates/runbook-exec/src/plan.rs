//! The plan: what a run would do, resolved against an environment but not executed. `plan`
//! prints it for reviewers, `plan --diff` compares two of them ([`crate::plan_diff`]).
//!
//! A plan never needs a value it does not have: a required param nothing sets is shown as
//! `⟨name⟩` (and listed in [`Plan::unset`]), values known only at run time (captures, inputs,
//! `steps.ID.*`, `run.*`) as `<name>`. Secrets are `***`. Every field is typed for machines
//! (durations in milliseconds, targets as host ids, expectations as objects); the JSON form is
//! versioned by [`PLAN_FORMAT`] and described by [`schema`].

use std::borrow::Cow;
use std::time::Duration;

use indexmap::IndexMap;
use runbook_model::playbook::{Capture, CheckStatus, ExitCodes, Expect, Matcher, ParamType};
use runbook_model::{Inventory, Playbook, Step};
use runbook_template::{Engine, Mode, TemplateValue, placeholder};
use runbook_transcript::Outcome;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::ContextParts;
use crate::program::{Action, Next, Program, StepIdx, Then};
use crate::vars::{Origin, Overrides, Vars, value_text};

/// The version of the plan's JSON form, written in [`Plan::format`].
pub const PLAN_FORMAT: &str = "runbook-plan/v1";

/// A resolved playbook, ready to print or compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "runbook plan (runbook-plan/v1)")]
pub struct Plan {
    /// `runbook-plan/v1`.
    #[schemars(extend("const" = "runbook-plan/v1"))]
    pub format: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.title`, else the name.
    pub title: String,
    /// `metadata.version`; null when unset.
    pub version: Option<String>,
    /// `P0` … `P4`.
    pub severity: Option<String>,
    /// `metadata.summary`; null when unset.
    pub summary: Option<String>,
    /// `metadata.owners`: who to ask about the playbook.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
    /// The playbook file, as given.
    pub file: String,
    /// The inventory file, as given.
    pub inventory: Option<String>,
    /// Every param and var the playbook declares, with its value.
    pub values: Vec<PlanValue>,
    /// Required params nothing sets: they show as `⟨name⟩`, and a run would ask for them
    /// (or refuse to start under `--yes`).
    pub unset: Vec<String>,
    /// The time-based escalation ladder.
    pub escalation: Vec<PlanRung>,
    /// The main steps, in order, numbered from `1`.
    pub steps: Vec<PlanStep>,
    /// The `finally` steps, in order, numbered `F1`, `F2`, …
    pub finally: Vec<PlanStep>,
}

/// A param or var with its resolved value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanValue {
    /// The param's or var's name.
    pub name: String,
    /// The value with its type (`"***"` for a secret); null when not set.
    pub value: Option<Value>,
    /// The value as text: `***` for a secret, `⟨name⟩` when not set.
    pub text: String,
    /// Where the value came from; null when not set.
    pub origin: Option<ValueOrigin>,
    /// Whether the value is secret (shown as `***`).
    pub secret: bool,
    /// False for a required param nothing sets.
    pub set: bool,
}

/// Where a value came from: `default` to `command-line` from lowest to highest precedence;
/// `with` (a sub-playbook's caller) decides over all of them; `operator` is never in a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ValueOrigin {
    /// A param's default or a playbook var.
    Default,
    /// A sub-playbook's `with:`.
    With,
    /// A param's `from_env` variable.
    Environment,
    /// The inventory's `vars`.
    Inventory,
    /// A `--var-file`.
    VarFile,
    /// A `--var` argument.
    CommandLine,
    /// An operator's answer.
    Operator,
}

impl From<Origin> for ValueOrigin {
    fn from(origin: Origin) -> Self {
        match origin {
            Origin::Default => ValueOrigin::Default,
            Origin::Environment => ValueOrigin::Environment,
            Origin::Inventory => ValueOrigin::Inventory,
            Origin::VarFile => ValueOrigin::VarFile,
            Origin::CommandLine => ValueOrigin::CommandLine,
            Origin::Operator => ValueOrigin::Operator,
        }
    }
}

impl std::fmt::Display for ValueOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ValueOrigin::Default => "default",
            ValueOrigin::With => "with",
            ValueOrigin::Environment => "environment",
            ValueOrigin::Inventory => "inventory",
            ValueOrigin::VarFile => "var file",
            ValueOrigin::CommandLine => "--var",
            ValueOrigin::Operator => "operator",
        })
    }
}

/// One rung of the escalation ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanRung {
    /// When it fires, on the incident clock.
    pub after_ms: u64,
    /// `after` as the playbook writes it (`15m`).
    pub after: String,
    /// Channel names, defined by the inventory.
    pub notify: Vec<String>,
    /// The rendered message.
    pub message: String,
    /// Since format 1.1: the condition the rung pages on, evaluated when it comes due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Since format 1.1: how often the rung repeats after `after`, as written (`15m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// `every` in milliseconds; absent for a rung that pages once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_ms: Option<u64>,
}

impl PlanRung {
    /// `after 15m` or `after 15m, every 15m`.
    pub fn timing(&self) -> String {
        match &self.every {
            Some(every) => format!("after {}, every {every}", self.after),
            None => format!("after {}", self.after),
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepAction {
    /// A bash command.
    Run,
    /// Instructions for a person.
    Manual,
    /// A pause.
    Wait,
    /// A group whose children run concurrently.
    Parallel,
    /// A sub-playbook.
    Playbook,
    /// A Markdown report rendered from the run's state.
    Report,
    /// A message to channels, sent at once (since format 1.1).
    Notify,
    /// Ends the run as failed (since format 1.1).
    Fail,
    /// Ends the run early as succeeded (since format 1.1).
    Succeed,
}

impl StepAction {
    /// The action's field name in the playbook (`run`, `manual`, …).
    pub fn keyword(self) -> &'static str {
        match self {
            StepAction::Run => "run",
            StepAction::Manual => "manual",
            StepAction::Wait => "wait",
            StepAction::Parallel => "parallel",
            StepAction::Playbook => "playbook",
            StepAction::Report => "report",
            StepAction::Notify => "notify",
            StepAction::Fail => "fail",
            StepAction::Succeed => "succeed",
        }
    }
}

/// Where a step runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Target {
    /// The inventory group or host the step runs on: its `on:`, else the inventory's
    /// `target:`; null for the local machine.
    pub on: Option<String>,
    /// Host ids from the inventory; `["local"]` for a local step, empty when `on:` names
    /// nothing the inventory defines.
    pub hosts: Vec<String>,
    /// A fan-out's `serial:` resolved: the hosts of each batch, in order. Empty when every
    /// host is in one batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batches: Vec<Vec<String>>,
    /// A fan-out's `max_fail` resolved: how many of its hosts may fail, counted over the
    /// whole step (not per batch). Absent for a local step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fail: Option<usize>,
    /// The command on each host where it differs from the step's `command` (the first
    /// host's), through the inventory's group and host vars.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub commands: IndexMap<String, String>,
    /// The operator types the host count before it runs (more than 5 hosts, interactive).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm_count: bool,
}

impl Target {
    fn local() -> Self {
        Target {
            on: None,
            hosts: vec!["local".to_owned()],
            batches: Vec::new(),
            max_fail: None,
            commands: IndexMap::new(),
            confirm_count: false,
        }
    }

    /// How it fans out, in words: "batches 1 · 3 · 3, `max_fail` 0 (over the step)", or
    /// `None` on this machine.
    pub fn fan_out(&self) -> Option<String> {
        let max_fail = self.max_fail?;
        let mut parts = Vec::new();
        if !self.batches.is_empty() {
            parts.push(format!(
                "batches {}",
                self.batches
                    .iter()
                    .map(|b| b.join(", "))
                    .collect::<Vec<_>>()
                    .join(" │ ")
            ));
        }
        parts.push(format!("max_fail {max_fail} (over the whole step)"));
        if self.confirm_count {
            parts.push(format!(
                "the operator types the host count ({})",
                self.hosts.len()
            ));
        }
        Some(parts.join(" · "))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.on {
            None => f.write_str("local"),
            Some(on) if self.hosts.is_empty() => f.write_str(on),
            Some(on) => write!(f, "{on} ({})", self.hosts.join(", ")),
        }
    }
}

/// How a text expectation compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchOp {
    /// The output contains the text.
    Contains,
    /// The output does not contain the text.
    NotContains,
    /// The whole output, trimmed, is the text.
    Equals,
    /// The regex (Rust syntax) matches somewhere in the output.
    Matches,
}

/// One expectation of a `run` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expectation {
    /// The exit code is one of these.
    Exit {
        /// The accepted exit codes.
        codes: Vec<i32>,
    },
    /// A test on stdout or stderr; `value` is rendered (a regex for `matches`).
    Output {
        /// `stdout` or `stderr`.
        stream: String,
        /// How the output is compared.
        op: MatchOp,
        /// The text, rendered; for `matches`, the regex as written.
        value: String,
    },
    /// stdout parsed as JSON contains this subset.
    Json {
        /// The JSON that stdout must contain, as written.
        subset: Value,
    },
}

impl std::fmt::Display for Expectation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expectation::Exit { codes } if codes.len() == 1 => write!(f, "exit {}", codes[0]),
            Expectation::Exit { codes } => {
                let codes: Vec<String> = codes.iter().map(i32::to_string).collect();
                write!(f, "exit in {}", codes.join("|"))
            }
            Expectation::Output { stream, op, value } => match op {
                MatchOp::Contains => write!(f, "{stream} contains {value:?}"),
                MatchOp::NotContains => write!(f, "{stream} does not contain {value:?}"),
                MatchOp::Equals => write!(f, "{stream} equals {value:?}"),
                MatchOp::Matches => write!(f, "{stream} matches /{value}/"),
            },
            Expectation::Json { subset } => write!(f, "json ⊇ {subset}"),
        }
    }
}

/// Where a capture takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CaptureFrom {
    /// A dotted path into stdout parsed as JSON.
    Json,
    /// A regex on stdout: its first group, or the whole match.
    Regex,
    /// The whole stdout, trimmed.
    Stdout,
    /// The whole stderr, trimmed.
    Stderr,
    /// The exit code.
    Exit,
}

/// A value a step captures for later steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanCapture {
    /// The variable the value becomes.
    pub name: String,
    /// Where the value is taken from.
    pub from: CaptureFrom,
    /// The dotted path (`json`) or the regex (`regex`).
    pub pattern: Option<String>,
}

impl std::fmt::Display for PlanCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pattern = self.pattern.as_deref().unwrap_or("");
        match self.from {
            CaptureFrom::Json => write!(f, "{} ← json {pattern}", self.name),
            CaptureFrom::Regex => write!(f, "{} ← regex /{pattern}/", self.name),
            CaptureFrom::Stdout => write!(f, "{} ← stdout", self.name),
            CaptureFrom::Stderr => write!(f, "{} ← stderr", self.name),
            CaptureFrom::Exit => write!(f, "{} ← exit code", self.name),
        }
    }
}

/// A graded check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanCheck {
    /// The status the step gets when the condition holds.
    pub status: CheckStatus,
    /// The condition, as written.
    #[serde(rename = "if")]
    pub condition: String,
    /// The message, rendered (run-time values as `<name>`).
    pub message: Option<String>,
    /// Since format 1.1: channels notified when this check decides the step's status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
}

impl std::fmt::Display for PlanCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = match self.status {
            CheckStatus::Ok => "ok",
            CheckStatus::Warning => "warning",
            CheckStatus::Critical => "critical",
        };
        write!(f, "{status} if {}", self.condition)?;
        if !self.notify.is_empty() {
            write!(f, " → notify {}", self.notify.join(", "))?;
        }
        Ok(())
    }
}

/// `retry:` with its delay in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanRetry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The pause after the first failed attempt, in milliseconds.
    pub delay_ms: u64,
    /// What the pause is multiplied by after each attempt (1.0 keeps it).
    pub backoff: f64,
}

impl std::fmt::Display for PlanRetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} attempts", self.attempts)?;
        if self.delay_ms > 0 {
            write!(f, ", {} apart", duration_text(self.delay_ms))?;
        }
        if self.backoff != 1.0 {
            write!(f, ", backoff ×{}", self.backoff)?;
        }
        Ok(())
    }
}

/// `watch:` with its durations in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanWatch {
    /// The pause between two repetitions, in milliseconds.
    pub every_ms: u64,
    /// How long the watch lasts, in milliseconds.
    pub for_ms: u64,
    /// Stops at the first passing repetition.
    pub until_success: bool,
}

impl std::fmt::Display for PlanWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "every {} for {}",
            duration_text(self.every_ms),
            duration_text(self.for_ms)
        )?;
        if self.until_success {
            f.write_str(", until it passes")?;
        }
        Ok(())
    }
}

/// A question a manual step asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanInput {
    /// The variable the answer becomes.
    pub name: String,
    /// The question, as written.
    pub prompt: String,
    /// The answer's type.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// The default answer, as written; null when there is none.
    pub default: Option<Value>,
    /// The answer is typed without echo and masked as `***`.
    pub secret: bool,
}

/// What happens when the step fails, as the playbook writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanFailure {
    /// Where the run goes after the failure.
    pub then: FailureThen,
    /// The step `then: goto` goes to.
    pub goto: Option<String>,
    /// A channel paged at once.
    pub escalate: Option<String>,
}

/// Where a failed step sends the run, as `on_failure` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FailureThen {
    /// Stop the run (`finally` still runs).
    Abort,
    /// Go on with the next step.
    Continue,
    /// Go to the step `goto` names, then on in order from there.
    Goto,
}

impl std::fmt::Display for PlanFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(channel) = &self.escalate {
            write!(f, "escalate to {channel}, then ")?;
        }
        match (self.then, &self.goto) {
            (FailureThen::Goto, Some(target)) => write!(f, "go to {target}"),
            (FailureThen::Continue, _) => f.write_str("continue"),
            _ => f.write_str("abort"),
        }
    }
}

/// Where the run goes after a step, as the engine decides it ([`Program::next`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NextStep {
    /// This step (an id of the same playbook).
    Step(String),
    /// The main steps are done: `finally` runs.
    Finally,
    /// The run (or the parallel group) fails; `finally` still runs.
    Stop,
}

impl std::fmt::Display for NextStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NextStep::Step(id) => f.write_str(id),
            NextStep::Finally => f.write_str("(finally)"),
            NextStep::Stop => f.write_str("(stop)"),
        }
    }
}

/// Where a `notify` step sends its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanNotify {
    /// Channel names, defined by the inventory.
    pub channels: Vec<String>,
    /// The run's report so far goes with the message.
    pub report: bool,
}

/// A destructive step: the operator types the phrase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanDanger {
    /// `destructive`.
    pub level: String,
    /// The phrase the operator must type, rendered.
    pub confirm_phrase: String,
}

/// A `block:` around a step (since format 1.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanBlock {
    /// The block's id (a goto to it goes to its first step).
    pub id: String,
    /// `name`, else the id.
    pub name: String,
    /// The condition every step of the block needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// What a `for_each` step repeats over (since format 1.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanForEach {
    /// The name the item has in the step's templates.
    #[serde(rename = "as")]
    pub name: String,
    /// The expression, when the items are computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// The items as text, when known before the run (written in the playbook, or read
    /// from values); null when only the run knows them (they come from a step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
}

impl std::fmt::Display for PlanBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.when {
            Some(when) => write!(f, "{}: when {when}", self.id),
            None => f.write_str(&self.id),
        }
    }
}

impl std::fmt::Display for PlanForEach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} in ", self.name)?;
        match (&self.expression, &self.items) {
            (Some(expression), Some(items)) => write!(f, "{expression} ({})", items.join(", ")),
            (Some(expression), None) => write!(f, "{expression} (known at run time)"),
            (None, Some(items)) => f.write_str(&items.join(", ")),
            (None, None) => f.write_str("no items"),
        }
    }
}

/// One step as it would run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanStep {
    /// `3`, `9.1` (a parallel child), `11.2` (a sub-playbook's step), `F1` (`finally`).
    pub number: String,
    /// The step's id in its playbook.
    pub id: String,
    /// The path a transcript records: `parent/child` inside a sub-playbook.
    pub path: String,
    /// `name`, else the id.
    pub name: String,
    /// What the step does.
    pub action: StepAction,
    /// The resolved command of a `run` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The rendered text of a `manual`, `report`, `fail` or `succeed` step, or the message
    /// of a `notify` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A `wait` step's pause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
    /// A `notify` step's channels and whether the report so far goes with the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<PlanNotify>,
    /// A sub-playbook: its plan with the values `with:` gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playbook: Option<Box<Plan>>,
    /// `with:` of a sub-playbook step, rendered.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub with: IndexMap<String, String>,
    /// Where the step runs: this machine or inventory hosts.
    pub target: Target,
    /// The step's `doc`: Markdown for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// The condition; false means skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Since format 1.1: the blocks the step is in, outermost first; it runs only while the
    /// `when` of each holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<PlanBlock>,
    /// Since format 1.1: the items the step repeats over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<PlanForEach>,
    /// `env:` of a `run` step, rendered.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// A `run` step's expectations, texts rendered; absent without `expect:` (exit 0 passes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<Expectation>,
    /// Values the step captures for later steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub captures: Vec<PlanCapture>,
    /// Graded checks, in order: the first whose `if` holds decides the step's status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<PlanCheck>,
    /// `retry:`; absent for a single attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<PlanRetry>,
    /// `timeout:` in milliseconds; absent without one, or when its template reads an unset param
    /// (see `unset_durations`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Since format 1.1: how long a streaming command is followed, then stopped (a success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_ms: Option<u64>,
    /// Since format 1.1: durations written as templates that read an unset param, by field
    /// (`timeout`, `wait`, `retry.delay`, `watch.every`, `watch.for`), as they would read
    /// (`⟨drill_timeout⟩`); their numbers above are not known.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub unset_durations: IndexMap<String, String>,
    /// Since format 1.1: the command gets the operator's terminal; only its exit is recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interactive: bool,
    /// `watch:`; absent when the command runs once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<PlanWatch>,
    /// Asked before the step runs, rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    /// Present for a destructive step: the phrase the operator types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub danger: Option<PlanDanger>,
    /// The questions a manual step asks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<PlanInput>,
    /// The checklist shown with a manual step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checklist: Vec<String>,
    /// `on_success:` as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<String>,
    /// `on_failure:` as written: the channel paged and where the run goes.
    pub on_failure: PlanFailure,
    /// Where the run goes when the step passes.
    pub next_ok: NextStep,
    /// Where it goes when the step is skipped (its `when` is false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_skipped: Option<NextStep>,
    /// Where it goes when the step fails.
    pub next_failed: NextStep,
    /// How often the step may run in one run.
    pub max_visits: u32,
    /// The steps of a parallel group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<PlanStep>,
    /// Templates that could not be rendered with the values at hand.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl PlanStep {
    /// The step's main content as one text: the command, the text, the wait, the
    /// sub-playbook or the size of the group.
    pub fn detail(&self) -> String {
        if let Some(command) = &self.command {
            return command.clone();
        }
        if let Some(text) = &self.text {
            return text.clone();
        }
        if let Some(ms) = self.wait_ms {
            return duration_text(ms);
        }
        if let Some(wait) = self.unset_durations.get("wait") {
            return wait.clone();
        }
        if let Some(sub) = &self.playbook {
            let with: Vec<String> = self.with.iter().map(|(k, v)| format!("{k}={v}")).collect();
            return if with.is_empty() {
                sub.file.clone()
            } else {
                format!("{} with {}", sub.file, with.join(", "))
            };
        }
        if self.action == StepAction::Parallel {
            return format!("{} steps at once", self.children.len());
        }
        String::new()
    }

    /// Every step under this one: parallel children and sub-playbook steps, depth first.
    pub fn descendants(&self) -> Vec<&PlanStep> {
        let mut out = Vec::new();
        fn walk<'a>(step: &'a PlanStep, out: &mut Vec<&'a PlanStep>) {
            for child in &step.children {
                out.push(child);
                walk(child, out);
            }
            if let Some(sub) = &step.playbook {
                for child in sub.steps.iter().chain(&sub.finally) {
                    out.push(child);
                    walk(child, out);
                }
            }
        }
        walk(self, &mut out);
        out
    }
}

impl Plan {
    /// Every step, depth first: main steps, their children and sub-playbook steps, `finally`.
    pub fn all_steps(&self) -> Vec<&PlanStep> {
        let mut out = Vec::new();
        for step in self.steps.iter().chain(&self.finally) {
            out.push(step);
            out.extend(step.descendants());
        }
        out
    }

    /// How many steps have a template that could not be rendered, at any depth.
    pub fn error_count(&self) -> usize {
        self.all_steps()
            .iter()
            .filter(|s| !s.errors.is_empty())
            .count()
    }

    /// Required params nothing sets, here and in sub-playbooks (`step/param` for those).
    pub fn all_unset(&self) -> Vec<String> {
        let mut out = self.unset.clone();
        for step in self.all_steps() {
            if let Some(sub) = &step.playbook {
                out.extend(sub.unset.iter().map(|n| format!("{}/{n}", step.path)));
            }
        }
        out
    }
}

/// A duration in milliseconds as the playbook format writes it: `90s` → `1m30s`.
pub fn duration_text(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

/// The JSON Schema of the plan (`runbook schema plan`, `schemas/plan.v1.json`).
pub fn schema() -> String {
    let schema = schemars::schema_for!(Plan);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}

/// How a required param nothing sets is shown: `⟨name⟩`, visibly not a real value.
pub fn unset_placeholder(name: &str) -> String {
    format!("⟨{name}⟩")
}

/// Where the values come from: the same inputs as a run.
pub struct PlanInputs<'a> {
    /// Renders the plan's templates, as a run would.
    pub engine: &'a Engine,
    /// The playbook file, as given.
    pub file: &'a str,
    /// The inventory and its file, as given; `None` without one.
    pub inventory: Option<(&'a Inventory, &'a str)>,
    /// `--var` and `--var-file` values.
    pub overrides: &'a Overrides,
    /// The process environment, for `from_env`.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Builds the plan of a compiled program with its resolved values. Required params that are
/// not set become `⟨name⟩` placeholders; nothing here fails.
pub fn build(inputs: &PlanInputs<'_>, program: &Program, vars: &Vars) -> Plan {
    Planner::new(inputs, program, vars, "", "", IndexMap::new(), None).plan(inputs.file)
}

/// Plans one playbook (a sub-playbook gets its own planner, with its own values).
struct Planner<'a> {
    inputs: &'a PlanInputs<'a>,
    program: &'a Program,
    playbook: &'a Playbook,
    vars: &'a Vars,
    /// Values the context takes over from `vars`: placeholders for captures, inputs and
    /// unset params, and vars rendered again with those placeholders.
    extra: IndexMap<String, TemplateValue>,
    /// Text values of the vars rendered again (for the values table).
    rerendered: IndexMap<String, String>,
    /// A sub-playbook's `with:` values: rendered text, and whether it is known only at run
    /// time (it reads a capture, an input, `steps`, `run` or `incident`).
    with: IndexMap<String, (String, bool)>,
    steps_value: TemplateValue,
    run_value: TemplateValue,
    incident_value: TemplateValue,
    redactor: crate::redact::Redactor,
    /// `parent/` for a sub-playbook's steps.
    path_prefix: String,
    /// `11.` for a sub-playbook's step numbers.
    number_prefix: String,
}

impl<'a> Planner<'a> {
    fn new(
        inputs: &'a PlanInputs<'a>,
        program: &'a Program,
        vars: &'a Vars,
        path_prefix: &str,
        number_prefix: &str,
        with: IndexMap<String, (String, bool)>,
        outer: Option<&crate::redact::Redactor>,
    ) -> Self {
        let playbook: &Playbook = &program.playbook;
        let mut extra: IndexMap<String, TemplateValue> = IndexMap::new();
        for step in playbook.all_steps() {
            for name in step.capture.keys().chain(step.inputs.keys()) {
                extra.insert(name.clone(), placeholder(name));
            }
            // A step's item differs at each repetition: shown as its name.
            if step.for_each.is_some() {
                let name = step.item_name();
                extra.insert(name.to_owned(), placeholder(name));
            }
        }
        for name in &vars.missing {
            extra.insert(
                name.clone(),
                runbook_template::placeholder_text(&unset_placeholder(name)),
            );
        }
        for (name, (text, runtime)) in &with {
            if *runtime {
                extra.insert(name.clone(), TemplateValue::from_safe_string(text.clone()));
            }
        }
        let steps_value = {
            let map: IndexMap<String, TemplateValue> = playbook
                .all_steps()
                .iter()
                .map(|s| {
                    let fields: IndexMap<&str, TemplateValue> =
                        ["status", "exit", "stdout", "stderr", "duration"]
                            .into_iter()
                            .map(|f| (f, placeholder(&format!("steps.{}.{f}", s.id.value))))
                            .collect();
                    (s.id.value.clone(), TemplateValue::from_pairs(fields))
                })
                .collect();
            TemplateValue::from_pairs(map)
        };
        let run_value = TemplateValue::from_pairs([
            ("id", placeholder("run.id")),
            ("elapsed", placeholder("run.elapsed")),
            ("elapsed_seconds", placeholder("run.elapsed_seconds")),
            ("operator", placeholder("run.operator")),
            ("failed_step", placeholder("run.failed_step")),
        ]);
        let incident_value = TemplateValue::from_pairs([
            ("elapsed", placeholder("incident.elapsed")),
            ("elapsed_minutes", placeholder("incident.elapsed_minutes")),
            ("started", placeholder("incident.started")),
        ]);
        let mut planner = Planner {
            inputs,
            program,
            playbook,
            vars,
            extra,
            rerendered: IndexMap::new(),
            with,
            steps_value,
            run_value,
            incident_value,
            redactor: {
                // A sub-playbook masks its caller's secrets too, as the run's journal does.
                let mut redactor = outer.cloned().unwrap_or_default();
                for name in &vars.secret_names {
                    if let Some(value) = vars.values.get(name) {
                        for text in crate::redact::secret_texts(value) {
                            redactor.add(&text);
                        }
                    }
                }
                redactor
            },
            path_prefix: path_prefix.to_owned(),
            number_prefix: number_prefix.to_owned(),
        };
        planner.rerender_vars();
        planner
    }

    /// Vars whose template reads an unset param were left unrendered when the values were
    /// merged; render them now, in declaration order, with the placeholders.
    fn rerender_vars(&mut self) {
        if self.vars.missing.is_empty() {
            return;
        }
        for (name, declared) in &self.playbook.vars {
            let Value::String(template) = &declared.value else {
                continue;
            };
            let untouched = self.vars.values.get(name) == Some(&declared.value);
            if !untouched || !(template.contains("{{") || template.contains("{%")) {
                continue;
            }
            if let Ok(text) = self.render(template, "local", Mode::Text) {
                self.extra
                    .insert(name.clone(), TemplateValue::from(text.clone()));
                self.rerendered.insert(name.clone(), text);
            }
        }
    }

    fn plan(&self, file: &str) -> Plan {
        let playbook = self.playbook;
        let values = playbook
            .params
            .keys()
            .chain(playbook.vars.keys())
            .map(|name| self.value(name))
            .collect();
        let local = self.context("local");
        let escalation = self
            .program
            .ladder
            .iter()
            .map(|rung| PlanRung {
                after_ms: millis(rung.after),
                after: rung.after_text.clone(),
                notify: rung.notify.clone(),
                message: match &rung.message {
                    Some(m) => self
                        .render_in(&local, m, Mode::Text)
                        .unwrap_or_else(|e| format!("<error: {e}>")),
                    None => format!("{} unresolved after {}", playbook.title(), rung.after_text),
                },
                when: rung.when.clone(),
                every: rung.every_text.clone(),
                every_ms: rung.every.map(millis),
            })
            .collect();
        Plan {
            format: PLAN_FORMAT.to_owned(),
            name: playbook.metadata.name.value.clone(),
            title: playbook.title().to_owned(),
            version: playbook.metadata.version.as_ref().map(|v| v.value.clone()),
            severity: playbook.metadata.severity.map(|s| format!("{s:?}")),
            summary: playbook.metadata.summary.clone(),
            owners: playbook.metadata.owners.clone(),
            file: file.to_owned(),
            inventory: self.inputs.inventory.map(|(_, path)| path.to_owned()),
            values,
            unset: self.vars.missing.clone(),
            escalation,
            steps: self.list(&self.program.main, &self.number_prefix),
            finally: self.list(&self.program.finally, &format!("{}F", self.number_prefix)),
        }
    }

    fn value(&self, name: &str) -> PlanValue {
        let secret = self.vars.secret_names.contains(name);
        let origin = match self.with.get(name) {
            Some(_) => Some(ValueOrigin::With),
            None => self.vars.origins.get(name).copied().map(ValueOrigin::from),
        };
        // A `with:` value known only at run time, or a var rendered again with placeholders.
        let shown = match self.with.get(name) {
            Some((text, true)) => Some(text),
            _ => self.rerendered.get(name),
        };
        if let Some(text) = shown {
            return PlanValue {
                name: name.to_owned(),
                value: Some(Value::String(text.clone())),
                text: text.clone(),
                origin,
                secret,
                set: true,
            };
        }
        match self.vars.values.get(name) {
            Some(_) if secret => PlanValue {
                name: name.to_owned(),
                value: Some(Value::String(crate::redact::MASK.to_owned())),
                text: crate::redact::MASK.to_owned(),
                origin,
                secret,
                set: true,
            },
            Some(value) => {
                // A value that holds a secret known elsewhere (a caller's) is masked too.
                let (text, value) = match self.redactor.redact_cow(&value_text(value)) {
                    Cow::Borrowed(text) => (text.to_owned(), value.clone()),
                    Cow::Owned(text) => (text.clone(), Value::String(text)),
                };
                PlanValue {
                    name: name.to_owned(),
                    value: Some(value),
                    text,
                    origin,
                    secret,
                    set: true,
                }
            }
            None => PlanValue {
                name: name.to_owned(),
                value: None,
                text: unset_placeholder(name),
                origin: None,
                secret,
                set: false,
            },
        }
    }

    fn context(&self, host: &str) -> TemplateValue {
        ContextParts {
            playbook: self.playbook,
            values: &self.vars.values,
            captures: &self.extra,
            steps: self.steps_value.clone(),
            host,
            run: self.run_value.clone(),
            incident: self.incident_value.clone(),
        }
        .build()
    }

    /// The context on one inventory host: its group and host vars over the run's values, as
    /// the runner layers them. This machine (`local`) has none.
    fn context_on(&self, host: &str) -> TemplateValue {
        let inventory = self.inputs.inventory.map(|(i, _)| i);
        let own = crate::vars::host_values(&IndexMap::new(), inventory, host);
        if own.is_empty() {
            return self.context(host);
        }
        let mut values = self.vars.values.clone();
        values.extend(own);
        ContextParts {
            playbook: self.playbook,
            values: &values,
            captures: &self.extra,
            steps: self.steps_value.clone(),
            host,
            run: self.run_value.clone(),
            incident: self.incident_value.clone(),
        }
        .build()
    }

    fn render(&self, text: &str, host: &str, mode: Mode) -> Result<String, String> {
        self.render_in(&self.context(host), text, mode)
    }

    /// Renders with a context built once for all the texts of a step (or of the ladder).
    fn render_in(&self, ctx: &TemplateValue, text: &str, mode: Mode) -> Result<String, String> {
        self.inputs
            .engine
            .render(text, ctx, mode)
            .map(|s| self.redactor.redact(&s))
            .map_err(|e| e.message)
    }

    fn list(&self, indices: &[StepIdx], prefix: &str) -> Vec<PlanStep> {
        indices
            .iter()
            .enumerate()
            .map(|(i, &idx)| self.step(idx, &format!("{prefix}{}", i + 1)))
            .collect()
    }

    fn next(&self, next: Next) -> NextStep {
        match next {
            Next::Step(idx) => NextStep::Step(self.program.node(idx).step.id.value.clone()),
            Next::Finally => NextStep::Finally,
            Next::Stop => NextStep::Stop,
        }
    }

    fn step(&self, idx: StepIdx, number: &str) -> PlanStep {
        let mut node = self.program.node(idx);
        // Templated durations rendered with the plan's values; an unset param leaves the
        // duration unknown (shown as none), anything else that is not a duration an error.
        let filled;
        let mut duration_errors = Vec::new();
        let mut unset_durations = IndexMap::new();
        if !node.duration_templates.is_empty() {
            let mut copy = node.clone();
            let ctx = self.context("local");
            for t in &node.duration_templates {
                if let Ok(text) = self.render_in(&ctx, &t.template, Mode::Text)
                    && text.contains('⟨')
                {
                    unset_durations.insert(t.field.name().to_owned(), text);
                }
            }
            for (_, why) in copy.fill_durations(&|t| self.render_in(&ctx, t, Mode::Text)) {
                if !why.contains('⟨') {
                    duration_errors.push(why);
                }
            }
            filled = copy;
            node = &filled;
        }
        let unknown = |field: &str| unset_durations.contains_key(field);
        let step: &Step = &node.step;
        let mut errors: Vec<String> = Vec::new();
        let inventory = self.inputs.inventory.map(|(i, _)| i);
        // Where the runner sends it: `on:`, else the inventory's `target:`.
        let on = step
            .on
            .as_ref()
            .map(|on| on.value.clone())
            .or_else(|| inventory.and_then(|i| i.target.as_ref().map(|t| t.value.clone())))
            .filter(|on| on != "local");
        let target = match on {
            Some(on) => {
                let hosts = inventory.and_then(|i| i.resolve_target(&on));
                if hosts.is_none() {
                    errors.push(format!(
                        "`on: {on}` is not a host or group of the inventory"
                    ));
                }
                let hosts = hosts.unwrap_or_default();
                let mut batches = Vec::new();
                if let Some(serial) = &step.serial {
                    let mut rest = hosts.iter();
                    for size in serial.batches(hosts.len()) {
                        batches.push(rest.by_ref().take(size).cloned().collect());
                    }
                }
                if batches.len() < 2 {
                    batches.clear();
                }
                Target {
                    on: Some(on),
                    max_fail: Some(step.max_fail.map_or(0, |m| m.of(hosts.len()))),
                    confirm_count: hosts.len() > crate::operator::CONFIRM_HOSTS_ABOVE,
                    hosts,
                    batches,
                    commands: IndexMap::new(),
                }
            }
            None if step.on.is_some() => Target {
                on: Some("local".to_owned()),
                ..Target::local()
            },
            None => Target::local(),
        };
        let host = match &target.on {
            Some(_) => target
                .hosts
                .first()
                .cloned()
                .unwrap_or_else(|| "<host>".to_owned()),
            None => "local".to_owned(),
        };
        errors.extend(duration_errors);
        let errors = std::cell::RefCell::new(errors);
        let note = |result: Result<String, String>| -> String {
            result.unwrap_or_else(|e| {
                errors.borrow_mut().push(e.clone());
                format!("<error: {e}>")
            })
        };
        let ctx = self.context_on(&host);
        let text = |t: &str| note(self.render_in(&ctx, t, Mode::Text));
        let action = match node.action {
            Action::Run => StepAction::Run,
            Action::Manual => StepAction::Manual,
            Action::Wait(_) => StepAction::Wait,
            Action::Parallel(_) => StepAction::Parallel,
            Action::Playbook(_) => StepAction::Playbook,
            Action::Report => StepAction::Report,
            Action::Notify => StepAction::Notify,
            Action::Fail => StepAction::Fail,
            Action::Succeed => StepAction::Succeed,
        };
        let command = step
            .run
            .as_ref()
            .map(|run| note(self.render_in(&ctx, run, Mode::Shell)));
        // Each further host's command, kept where its vars make it differ.
        let mut target = target;
        if let (Some(run), Some(first)) = (&step.run, &command)
            && target.on.is_some()
        {
            for other in target.hosts.iter().skip(1) {
                let rendered = note(self.render_in(&self.context_on(other), run, Mode::Shell));
                if rendered != *first {
                    target.commands.insert(other.clone(), rendered);
                }
            }
        }
        let body = step
            .manual
            .as_ref()
            .or(step.report.as_ref())
            .or(step.notify.as_ref().map(|n| &n.message))
            .or(step.fail.as_ref())
            .or(step.succeed.as_ref())
            .map(|t| text(t));
        let with: IndexMap<String, (String, bool)> = step
            .with
            .iter()
            .map(|(k, v)| {
                let template = value_text(&v.value);
                (k.clone(), (text(&template), self.reads_runtime(&template)))
            })
            .collect();
        let playbook = match &node.action {
            Action::Playbook(sub) => match self.sub_plan(idx, sub, with.clone(), number) {
                Ok(plan) => Some(Box::new(plan)),
                Err(e) => {
                    errors.borrow_mut().push(e);
                    None
                }
            },
            _ => None,
        };
        let path = format!("{}{}", self.path_prefix, step.id.value);
        let expect = step
            .expect
            .as_ref()
            .map(|e| expectations(e, &text))
            .unwrap_or_default();
        let passed = |outcome: Outcome| self.next(self.program.next_after(idx, outcome));
        PlanStep {
            number: number.to_owned(),
            id: step.id.value.clone(),
            path: path.clone(),
            name: step.title().to_owned(),
            action,
            command,
            text: body,
            wait_ms: match node.action {
                Action::Wait(d) if !unknown("wait") => Some(millis(d)),
                _ => None,
            },
            notify: step.notify.as_ref().map(|n| PlanNotify {
                channels: n.channels.iter().map(|c| c.value.clone()).collect(),
                report: n.report,
            }),
            playbook,
            with: with.into_iter().map(|(k, (v, _))| (k, v)).collect(),
            target,
            doc: step.doc.clone(),
            when: step.when.as_ref().map(|w| w.value.clone()),
            blocks: node
                .blocks
                .iter()
                .map(|b| PlanBlock {
                    id: b.id.clone(),
                    name: b.title.clone(),
                    when: b.when.clone(),
                })
                .collect(),
            for_each: step.for_each.as_ref().map(|f| self.for_each(step, f)),
            env: step.env.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
            expect,
            captures: step
                .capture
                .iter()
                .map(|(name, c)| capture(name, c))
                .collect(),
            checks: step
                .checks
                .iter()
                .map(|c| PlanCheck {
                    status: c.status,
                    condition: c.condition.value.clone(),
                    // A message usually computes with run-time values: as written if so.
                    message: c.message.as_ref().map(|m| {
                        self.render_in(&ctx, m, Mode::Text)
                            .unwrap_or_else(|_| m.value.clone())
                    }),
                    notify: c.notify.iter().map(|n| n.value.clone()).collect(),
                })
                .collect(),
            retry: step.retry.as_ref().map(|_| PlanRetry {
                attempts: node.retry.attempts,
                delay_ms: millis(node.retry.delay),
                backoff: node.retry.backoff,
            }),
            timeout_ms: node.timeout.filter(|_| !unknown("timeout")).map(millis),
            follow_ms: node.follow.map(millis),
            interactive: step.interactive,
            unset_durations: unset_durations.clone(),
            watch: node.watch.map(|w| PlanWatch {
                every_ms: millis(w.every),
                for_ms: millis(w.duration),
                until_success: w.until.is_some(),
            }),
            confirm: step.confirm.as_ref().map(|c| text(c)),
            danger: step.danger.map(|_| PlanDanger {
                level: "destructive".to_owned(),
                confirm_phrase: text(step.confirm_phrase_template()),
            }),
            inputs: step
                .inputs
                .iter()
                .map(|(name, i)| PlanInput {
                    name: name.clone(),
                    prompt: i.prompt.clone(),
                    kind: i.kind,
                    // A secret's default is never shown, in a plan as at the prompt.
                    default: match &i.default {
                        Some(_) if i.secret => Some(Value::String(crate::redact::MASK.to_owned())),
                        other => other.clone(),
                    },
                    secret: i.secret,
                })
                .collect(),
            checklist: step.checklist.clone(),
            on_success: step.on_success.as_ref().map(|s| s.value.clone()),
            on_failure: PlanFailure {
                then: match node.on_failure.then {
                    Then::Abort => FailureThen::Abort,
                    Then::Continue => FailureThen::Continue,
                    Then::Goto(_) => FailureThen::Goto,
                },
                goto: match node.on_failure.then {
                    Then::Goto(target) => Some(self.program.node(target).step.id.value.clone()),
                    _ => None,
                },
                escalate: node.on_failure.escalate.clone(),
            },
            // The engine's own decisions: a skipped step goes where a passing one goes.
            next_ok: passed(Outcome::Ok),
            next_skipped: (step.when.is_some()
                || step.for_each.is_some()
                || node.blocks.iter().any(|b| b.when.is_some()))
            .then(|| passed(Outcome::Skipped)),
            next_failed: passed(Outcome::Failed),
            max_visits: node.max_visits,
            children: match &node.action {
                Action::Parallel(children) => children
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| self.step(c, &format!("{number}.{}", i + 1)))
                    .collect(),
                _ => Vec::new(),
            },
            errors: errors.into_inner(),
        }
    }

    /// A sub-playbook's plan, with the values a run would give it: `with:` first, then the
    /// same inventory, `--var-file` and `--var`, then its own defaults.
    fn sub_plan(
        &self,
        idx: StepIdx,
        sub: &Program,
        with: IndexMap<String, (String, bool)>,
        number: &str,
    ) -> Result<Plan, String> {
        let mut overrides = self.inputs.overrides.clone();
        // A value known only at run time is not checked against the param's type here.
        overrides.vars.extend(
            with.iter()
                .filter(|(_, (_, runtime))| !runtime)
                .map(|(k, (v, _))| (k.clone(), v.clone())),
        );
        let file = runbook_model::tree::normalize(&sub.file)
            .display()
            .to_string();
        let mut vars = Vars::resolve(
            self.inputs.engine,
            &sub.playbook,
            self.inputs.inventory.map(|(i, _)| i),
            &overrides,
            self.inputs.env,
        )
        .map_err(|e| format!("sub-playbook {file}: {e}"))?;
        vars.missing.retain(|name| !with.contains_key(name));
        let path = format!(
            "{}{}/",
            self.path_prefix,
            self.program.node(idx).step.id.value
        );
        let planner = Planner::new(
            self.inputs,
            sub,
            &vars,
            &path,
            &format!("{number}."),
            with,
            Some(&self.redactor),
        );
        Ok(planner.plan(&file))
    }

    /// A `for_each` step's items: as written, or the expression's value when the plan's
    /// values decide it (not when it reads what a step learns).
    fn for_each(
        &self,
        step: &Step,
        for_each: &runbook_model::Spanned<runbook_model::playbook::ForEach>,
    ) -> PlanForEach {
        let text = |v: &Value| self.redactor.redact(&value_text(v));
        let (expression, items) = match &for_each.value {
            runbook_model::playbook::ForEach::Items(items) => {
                (None, Some(items.iter().map(text).collect()))
            }
            runbook_model::playbook::ForEach::Expression(expression) => {
                let known = !self.reads_runtime(&format!("{{{{ {expression} }}}}"));
                let items = known
                    .then(|| {
                        let value = self
                            .inputs
                            .engine
                            .eval(expression, &self.context("local"))
                            .ok()?;
                        crate::runner::items_of(&value).ok()
                    })
                    .flatten()
                    .filter(|items| !items.iter().any(|i| value_text(i).contains('⟨')));
                (
                    Some(expression.clone()),
                    items.map(|items| items.iter().map(text).collect()),
                )
            }
        };
        PlanForEach {
            name: step.item_name().to_owned(),
            expression,
            items,
        }
    }

    /// Whether a template reads a value known only at run time: a capture, an input, a
    /// `for_each` item, `steps`, `run` or `incident`.
    fn reads_runtime(&self, template: &str) -> bool {
        let Ok(names) = runbook_template::analyze(template) else {
            return false;
        };
        let learned = |n: &str| {
            self.playbook.all_steps().iter().any(|s| {
                s.capture.contains_key(n)
                    || s.inputs.contains_key(n)
                    || (s.for_each.is_some() && s.item_name() == n)
            })
        };
        names
            .iter()
            .any(|n| matches!(n.as_str(), "steps" | "run" | "incident") || learned(n))
    }
}

/// A step's `expect:` as typed expectations, their texts rendered.
fn expectations(e: &Expect, text: &dyn Fn(&str) -> String) -> Vec<Expectation> {
    let mut out = Vec::new();
    if let Some(exit) = &e.exit {
        out.push(Expectation::Exit {
            codes: match &exit.value {
                ExitCodes::One(c) => vec![*c],
                ExitCodes::Any(c) => c.clone(),
            },
        });
    }
    for (stream, matcher) in [("stdout", &e.stdout), ("stderr", &e.stderr)] {
        if let Some(m) = matcher {
            out.extend(matchers(stream, m, text));
        }
    }
    if let Some(json) = &e.json {
        out.push(Expectation::Json {
            subset: json.value.clone(),
        });
    }
    out
}

/// Expectations as the operator reads them before a step runs (the runner's preview).
pub(crate) fn describe_expect(e: &Expect, text: &dyn Fn(&str) -> String) -> Vec<String> {
    expectations(e, text)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn matchers(stream: &str, m: &Matcher, text: &dyn Fn(&str) -> String) -> Vec<Expectation> {
    let mut out = Vec::new();
    let mut push = |op, value: String| {
        out.push(Expectation::Output {
            stream: stream.to_owned(),
            op,
            value,
        });
    };
    for s in m.contains.iter().flat_map(|t| t.iter()) {
        push(MatchOp::Contains, text(s));
    }
    for s in m.not_contains.iter().flat_map(|t| t.iter()) {
        push(MatchOp::NotContains, text(s));
    }
    if let Some(s) = &m.equals {
        push(MatchOp::Equals, text(s));
    }
    if let Some(s) = &m.matches {
        push(MatchOp::Matches, s.value.clone());
    }
    out
}

fn capture(name: &str, c: &Capture) -> PlanCapture {
    let (from, pattern) = if let Some(path) = &c.json {
        (CaptureFrom::Json, Some(path.clone()))
    } else if let Some(re) = &c.regex {
        (CaptureFrom::Regex, Some(re.value.clone()))
    } else if c.stderr {
        (CaptureFrom::Stderr, None)
    } else if c.exit {
        (CaptureFrom::Exit, None)
    } else {
        (CaptureFrom::Stdout, None)
    };
    PlanCapture {
        name: name.to_owned(),
        from,
        pattern,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written() {
        assert_eq!(duration_text(90_000), "1m30s");
        assert_eq!(duration_text(1_800_000), "30m");
        assert_eq!(duration_text(500), "500ms");
        assert_eq!(duration_text(0), "0s");
        assert_eq!(duration_text(90_061_001), "1d1h1m1s1ms");
    }
}
