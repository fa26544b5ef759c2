//! The playbook model, format `runbook/v1`: every field of FORMAT.md as a serde type.
//!
//! Values the validator must point at are [`Spanned`]. Unknown fields are refused
//! (`deny_unknown_fields`), so a typo is an error at its line rather than a silent no-op.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::duration::DurationText;
use crate::spanned::Spanned;

/// What `metadata.name` must look like: kebab-case (shared by the validator and the schema).
pub const NAME_PATTERN: &str = r"^[a-z0-9]+(-[a-z0-9]+)*$";
/// What `metadata.version` must look like: a semantic version.
pub const VERSION_PATTERN: &str =
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$";

/// A duration with at least one non-zero part (an escalation rung's `every`).
pub const NONZERO_DURATION_PATTERN: &str =
    r"^([0-9]+(ms|s|m|h|d))*[0-9]*[1-9][0-9]*(ms|s|m|h|d)([0-9]+(ms|s|m|h|d))*$";

/// A playbook: metadata, inputs, steps and the policies around them.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "runbook playbook (runbook/v1)")]
pub struct Playbook {
    /// Format version: `runbook/v1`.
    #[schemars(extend("const" = "runbook/v1"))]
    pub api_version: Spanned<String>,
    /// Always `Playbook`.
    #[schemars(extend("const" = "Playbook"))]
    pub kind: Spanned<String>,
    /// Its name (required) and what `list`, `plan` and reports show about it.
    pub metadata: Metadata,
    /// Inputs, filled by defaults, the inventory, `--var` or the operator.
    #[serde(default)]
    pub params: IndexMap<String, Spanned<Param>>,
    /// Defaults for variables; overridden by the inventory, then `--var`.
    #[serde(default)]
    pub vars: IndexMap<String, Spanned<Value>>,
    /// Time-based escalation policy; the clock starts with the run.
    #[serde(default)]
    pub escalation: Vec<Spanned<Escalation>>,
    /// The procedure: the main steps, in order.
    pub steps: Vec<Spanned<Step>>,
    /// Steps that always run at the end, after success, failure or abort.
    #[serde(default, rename = "finally")]
    pub finally: Vec<Spanned<Step>>,
}

/// Who owns the playbook and what it is for.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Unique id, kebab-case.
    #[schemars(pattern(NAME_PATTERN))]
    pub name: Spanned<String>,
    /// A title for people, shown by `list`, `plan` and reports (default: the name).
    pub title: Option<String>,
    /// The playbook's own semantic version, recorded in every transcript.
    #[schemars(pattern(VERSION_PATTERN))]
    pub version: Option<Spanned<String>>,
    /// The incident severity the playbook is for; `list --severity` filters on it, and every
    /// page's subject starts with it.
    pub severity: Option<Severity>,
    /// Who maintains the playbook: teams or people.
    #[serde(default)]
    pub owners: Vec<String>,
    /// Labels; `list --tag` keeps the playbooks that have every tag it names.
    #[serde(default)]
    pub tags: Vec<String>,
    /// What the playbook is for, in a few sentences; shown by `plan`.
    pub summary: Option<String>,
    /// When the playbook runs routinely: a cron expression (`0 9 * * 1-5`, `@daily`),
    /// shown by `list` and in reports (since format 1.1). `runbook` does not schedule it.
    pub schedule: Option<Spanned<String>>,
}

/// Incident severity, P0 (worst) to P4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Severity {
    /// The worst: the highest severity.
    P0,
    /// One below P0.
    P1,
    /// One below P1.
    P2,
    /// One below P2.
    P3,
    /// The least severe.
    P4,
}

/// The type of a param or a manual step's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// Text (the default).
    #[default]
    String,
    /// An integer; a `--var` text such as `3` is converted.
    Int,
    /// `true` or `false`; `--var` also takes `yes`, `no`, `1` and `0`.
    Bool,
    /// A duration such as `30s`, `15m` or `1h30m`.
    Duration,
    /// One of the texts listed in `choices`.
    Choice,
    /// A command line, inserted into `run:` as shell code, not as a quoted value (since format
    /// 1.1): the author opts in; its value must come from the inventory, `--var` or a default.
    Command,
}

/// One input of the playbook.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Param {
    /// The value's type (default `string`): `--var` values are converted to it, and every value
    /// is checked against it.
    #[serde(default, rename = "type")]
    pub kind: ParamType,
    /// Without a default the param is required, unless its `from_env` variable is set.
    pub default: Option<Spanned<Value>>,
    /// What the param is for; shown when the operator is asked for it.
    pub description: Option<String>,
    /// Never printed, never written to a transcript or report.
    #[serde(default, deserialize_with = "crate::strict::bool")]
    pub secret: bool,
    /// Read from this environment variable when set.
    pub from_env: Option<String>,
    /// The allowed values of a `choice`.
    #[serde(default)]
    pub choices: Vec<String>,
}

/// One rung of the time-based escalation policy.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// Time since the run started.
    pub after: Spanned<DurationText>,
    /// Channel names, defined in the inventory.
    pub notify: Vec<Spanned<String>>,
    /// A text template; defaults to a message naming the playbook and the elapsed time.
    pub message: Option<Spanned<String>>,
    /// Since format 1.1: an expression evaluated when the rung comes due (and again as the
    /// run learns values, until it holds); the rung pages only once it is true.
    pub when: Option<Spanned<String>>,
    /// Since format 1.1: the rung repeats this often after `after`, until its playbook ends.
    /// Longer than zero.
    #[schemars(extend("pattern" = NONZERO_DURATION_PATTERN))]
    pub every: Option<Spanned<DurationText>>,
}

/// A `notify:` action: a message to channels, sent now (since format 1.1).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// Channel names, defined in the inventory.
    #[schemars(length(min = 1))]
    pub channels: Vec<Spanned<String>>,
    /// A text template.
    pub message: Spanned<String>,
    /// Also send the run's report so far (Markdown, from the transcript).
    #[serde(default, deserialize_with = "crate::strict::bool")]
    pub report: bool,
}

/// Only `destructive` exists: the step needs a typed confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Danger {
    /// The step cannot be undone: the operator types `confirm_phrase` before it runs, and
    /// `--yes` fails it unless `--allow-destructive`.
    Destructive,
}

/// One step. Exactly one action field (`run`, `manual`, `wait`, `parallel`, `playbook`,
/// `report`, `notify`, `fail`, `succeed`, or `block` for a group of steps) must be set: the
/// schema says so, and the validator points at the step.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    { "required": ["run"], "properties": { "run": { "not": { "type": "null" } } } },
    { "required": ["manual"], "properties": { "manual": { "not": { "type": "null" } } } },
    { "required": ["wait"], "properties": { "wait": { "not": { "type": "null" } } } },
    { "required": ["parallel"], "properties": { "parallel": { "not": { "type": "null" } } } },
    { "required": ["playbook"], "properties": { "playbook": { "not": { "type": "null" } } } },
    { "required": ["report"], "properties": { "report": { "not": { "type": "null" } } } },
    { "required": ["notify"], "properties": { "notify": { "not": { "type": "null" } } } },
    { "required": ["fail"], "properties": { "fail": { "not": { "type": "null" } } } },
    { "required": ["succeed"], "properties": { "succeed": { "not": { "type": "null" } } } },
    { "required": ["block"], "properties": { "block": { "not": { "type": "null" } } } },
]))]
pub struct Step {
    /// Unique within the playbook, nested steps included.
    #[schemars(length(min = 1))]
    pub id: Spanned<String>,
    /// A title for people, shown to the operator and in reports (default: the id).
    pub name: Option<String>,
    /// Markdown shown to the operator before the step.
    pub doc: Option<String>,

    // --- actions: exactly one ---
    /// A bash command (template; every value shell-quoted).
    pub run: Option<Spanned<String>>,
    /// Instructions for a human; the operator confirms done / skip / fail.
    pub manual: Option<Spanned<String>>,
    /// Pause for this long (a countdown the operator can skip).
    pub wait: Option<Spanned<DurationText>>,
    /// Children run concurrently; the group fails if any child fails.
    pub parallel: Option<Vec<Spanned<Step>>>,
    /// A sub-playbook, relative to this file.
    pub playbook: Option<Spanned<String>>,
    /// A Markdown template rendered from the run's state.
    pub report: Option<Spanned<String>>,
    /// Send a message to escalation channels now (since format 1.1).
    pub notify: Option<Spanned<Notify>>,
    /// End the run as failed, with this reason (a text template; since format 1.1).
    pub fail: Option<Spanned<String>>,
    /// End the run now as succeeded, with this reason: the remaining main steps do not run,
    /// `finally` does (a text template; since format 1.1).
    pub succeed: Option<Spanned<String>>,
    /// Steps that share this step's `when:` (since format 1.1). They run in order, as if
    /// listed in place of the block, each only while the block's `when` holds; a block has
    /// only `id`, `name`, `doc` and `when` besides its steps, and no record of its own.
    pub block: Option<Vec<Spanned<Step>>>,

    // --- modifiers ---
    /// Params for a sub-playbook.
    #[serde(default, rename = "with")]
    pub with: IndexMap<String, Spanned<Value>>,
    /// Environment variables for the step's process (templates, not shell-quoted).
    #[serde(default)]
    pub env: IndexMap<String, Spanned<String>>,
    /// What a `run` step's result must look like; without it, exit code 0 passes.
    pub expect: Option<Expect>,
    /// Values taken from the step's result, by name: variables for this step's `checks` and
    /// every later step.
    #[serde(default)]
    pub capture: IndexMap<String, Spanned<Capture>>,
    /// Graded checks of a `run` or `manual` step: the first whose `if` holds decides the step's
    /// status.
    #[serde(default)]
    pub checks: Vec<Spanned<Check>>,
    /// Run a failed `run` step again: `attempts` in all, `delay` apart.
    pub retry: Option<Spanned<Retry>>,
    /// How long the command may run: then its whole process group gets SIGTERM (SIGKILL 2 s
    /// later) and the step fails. Since format 1.1 it may be a template over params and vars.
    pub timeout: Option<Spanned<DurationText>>,
    /// Repeat the command every `every` for `for`; the step fails at the first repetition that
    /// fails.
    pub watch: Option<Spanned<Watch>>,
    /// An expression; false means the step is skipped (and recorded as skipped).
    pub when: Option<Spanned<String>>,
    /// Where the run goes when the step fails: `abort` (default), `continue`, a step id of the
    /// same list, or `{escalate: CHANNEL, then: ...}`.
    pub on_failure: Option<Spanned<OnFailure>>,
    /// A step id to go to when this step succeeds.
    pub on_success: Option<Spanned<String>>,
    /// Asked before the step runs, even in step-by-step mode (text template).
    pub confirm: Option<Spanned<String>>,
    /// `destructive`: the operator types `confirm_phrase` before the step runs.
    pub danger: Option<Danger>,
    /// What the operator types to confirm a destructive step (defaults to the step id).
    pub confirm_phrase: Option<Spanned<String>>,
    /// Bound on goto loops: how often this step may run in one run (default 3).
    #[serde(default, deserialize_with = "crate::strict::opt_u32")]
    pub max_visits: Option<u32>,
    /// Questions asked when a manual step runs; the answers become variables.
    #[serde(default)]
    pub inputs: IndexMap<String, Spanned<Input>>,
    /// A checklist shown with a manual step.
    #[serde(default)]
    pub checklist: Vec<String>,
    /// An inventory group or host: the step runs over SSH on each host.
    pub on: Option<Spanned<String>>,
    /// Hosts per batch (a count, a percentage, or a ramp such as `[1, "10%", "100%"]`);
    /// default: every host, `--forks` at a time, the next as soon as one finishes.
    pub serial: Option<crate::hosts::Serial>,
    /// Hosts of this step allowed to fail (a count or a percentage, over the whole step);
    /// one more stops its next batches and fails the step. Default 0.
    pub max_fail: Option<crate::hosts::HostCount>,
    /// Since format 1.1: a `run` step that streams (`journalctl -f`) is followed this long,
    /// then its process group is stopped, which counts as exit 0; its output is judged as usual.
    pub follow: Option<Spanned<DurationText>>,
    /// Since format 1.1: the command gets the terminal (`crontab -e`, `nano .env`); only its
    /// exit code is recorded. Needs an operator: refused under `--yes` unless `--manual skip`.
    #[serde(default, deserialize_with = "crate::strict::bool")]
    pub interactive: bool,
    /// Since format 1.1: the step runs once for each item, in order — a list written here,
    /// or an expression (like `when`) whose value is a list, or text, whose non-empty lines
    /// are the items (a captured output).
    pub for_each: Option<Spanned<ForEach>>,
    /// Since format 1.1: the name an item has in the step's templates (default `item`).
    #[serde(rename = "as")]
    pub item_name: Option<Spanned<String>>,
}

/// The name an item of `for_each` has when the step does not say (`as:`).
pub const DEFAULT_ITEM_NAME: &str = "item";

/// What a `for_each` step repeats over.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ForEach {
    /// The items, written in the playbook (values, not templates).
    Items(Vec<Value>),
    /// An expression read when the step comes up: a list, or text whose non-empty lines are
    /// the items.
    Expression(String),
}

// Hand-written for the same reason as `OnFailure`: an untagged enum would hide both type and
// syntax errors behind "did not match any variant".
impl<'de> Deserialize<'de> for ForEach {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ForEach;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of items, or an expression such as `services`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ForEach, E> {
                Ok(ForEach::Expression(v.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ForEach, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Value>()? {
                    items.push(item);
                }
                Ok(ForEach::Items(items))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// What the step's result must look like.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Accepted exit codes (default 0).
    pub exit: Option<Spanned<ExitCodes>>,
    /// Tests on the command's standard output.
    pub stdout: Option<Spanned<Matcher>>,
    /// Tests on the command's standard error.
    pub stderr: Option<Spanned<Matcher>>,
    /// Subset match against stdout parsed as JSON.
    pub json: Option<Spanned<Value>>,
}

/// One exit code or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ExitCodes {
    /// A single exit code.
    One(i32),
    /// Any of these exit codes.
    Any(Vec<i32>),
}

// Hand-written for the same reason as `OnFailure`: an untagged enum would hide both type and
// syntax errors behind "did not match any variant".
impl<'de> Deserialize<'de> for ExitCodes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ExitCodes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an exit code (0-255) or a list of them")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ExitCodes, E> {
                i32::try_from(v)
                    .map(ExitCodes::One)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ExitCodes, E> {
                i32::try_from(v)
                    .map(ExitCodes::One)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ExitCodes, A::Error> {
                let mut codes = Vec::new();
                while let Some(code) = seq.next_element::<ExitCode>()? {
                    codes.push(code.0);
                }
                Ok(ExitCodes::Any(codes))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// One exit code in a list, read strictly (a quoted `"0"` is a string).
struct ExitCode(i32);

impl<'de> Deserialize<'de> for ExitCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::strict::i32(deserializer).map(ExitCode)
    }
}

impl ExitCodes {
    /// Whether `code` is one of the accepted exit codes.
    pub fn accepts(&self, code: i32) -> bool {
        match self {
            ExitCodes::One(c) => *c == code,
            ExitCodes::Any(codes) => codes.contains(&code),
        }
    }
}

/// A text expectation; every field that is set must hold, and at least one is set.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [
    { "required": ["contains"], "properties": { "contains": { "not": { "type": "null" } } } },
    { "required": ["not_contains"], "properties": { "not_contains": { "not": { "type": "null" } } } },
    { "required": ["equals"], "properties": { "equals": { "not": { "type": "null" } } } },
    { "required": ["matches"], "properties": { "matches": { "not": { "type": "null" } } } },
]))]
pub struct Matcher {
    /// A text the output contains; a list: every one of them (since format 1.1).
    pub contains: Option<Texts>,
    /// A text the output does not contain; a list: none of them (since format 1.1).
    pub not_contains: Option<Texts>,
    /// The whole output, surrounding whitespace trimmed.
    pub equals: Option<String>,
    /// A regular expression (Rust `regex` syntax) searched in the output.
    pub matches: Option<Spanned<String>>,
}

/// One text or a list of them (`contains: ok` or `contains: [ok, ready]`; since format 1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Texts {
    /// A single text.
    One(String),
    /// Several texts, each its own verdict.
    All(Vec<String>),
}

impl Texts {
    /// Every text, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        match self {
            Texts::One(text) => std::slice::from_ref(text).iter(),
            Texts::All(texts) => texts.iter(),
        }
    }
}

impl<'t> IntoIterator for &'t Texts {
    type Item = &'t String;
    type IntoIter = std::slice::Iter<'t, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl JsonSchema for Texts {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Texts".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A text, or a list of texts (since format 1.1)",
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" }, "minItems": 1 },
            ],
        })
    }
}

// Hand-written for the same reason as `OnFailure`: an untagged enum would hide the YAML
// location and say only "did not match any variant". An unquoted number is refused as in a
// list of texts (YAML reads it as a number; the schema says text).
impl<'de> Deserialize<'de> for Texts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Texts;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a text or a list of texts")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Texts, E> {
                Ok(Texts::One(v.to_owned()))
            }
            // A bare number is its text, as a `String` field reads it (list items must be
            // quoted: the reader refuses a number where it expects text).
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Texts, E> {
                Ok(Texts::One(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Texts, E> {
                Ok(Texts::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Texts, A::Error> {
                let mut texts = Vec::new();
                while let Some(text) = seq.next_element::<String>()? {
                    texts.push(text);
                }
                Ok(Texts::All(texts))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Where a captured value comes from; exactly one field.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    /// A dotted path into stdout parsed as JSON (`data.items.0.name`).
    pub json: Option<String>,
    /// A regular expression on stdout; the first group (or the whole match).
    pub regex: Option<Spanned<String>>,
    /// The whole stdout, trimmed.
    #[serde(default, deserialize_with = "crate::strict::bool")]
    pub stdout: bool,
    /// The whole stderr, trimmed.
    #[serde(default, deserialize_with = "crate::strict::bool")]
    pub stderr: bool,
    /// The exit code.
    #[serde(default, deserialize_with = "crate::strict::bool")]
    pub exit: bool,
}

/// How a graded check rates the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// The step passes.
    Ok,
    /// The step passes with a warning, reported; the run goes on.
    Warning,
    /// The step fails.
    Critical,
}

/// A graded check: the first whose `if` holds decides the status.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// An expression over captures and variables.
    #[serde(rename = "if")]
    pub condition: Spanned<String>,
    /// The status the step gets when `if` holds: `ok`, `warning` or `critical`.
    pub status: CheckStatus,
    /// A text template shown and recorded when the check matches.
    pub message: Option<Spanned<String>>,
    /// Since format 1.1: channels notified when this check decides the step's status (a
    /// warning that must reach someone), recorded like every page.
    #[serde(default)]
    pub notify: Vec<Spanned<String>>,
}

/// Run the step again when it fails.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Total attempts, the first included.
    #[serde(deserialize_with = "crate::strict::u32")]
    #[schemars(range(min = 1))]
    pub attempts: u32,
    /// The pause after a failed attempt (default none), multiplied by `backoff` each time.
    /// Since format 1.1 it may be a template over params and vars.
    pub delay: Option<Spanned<DurationText>>,
    /// Multiplier applied to the delay after each attempt (default 1.0), from 1.0 to 10.0.
    #[serde(default, deserialize_with = "crate::strict::opt_f64")]
    #[schemars(range(min = 1.0, max = 10.0))]
    pub backoff: Option<f64>,
}

/// In a `watch` step, each capture `NAME` is also kept as `NAME_series`: one value per
/// repetition, oldest first (format 1.1).
pub const SERIES_SUFFIX: &str = "_series";

/// Repeat the step every `every` for `for`; each repetition must meet `expect`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    /// The pause between two repetitions.
    pub every: Spanned<DurationText>,
    /// How long the watch lasts.
    #[serde(rename = "for")]
    pub duration: Spanned<DurationText>,
    /// `success`: stop at the first passing repetition instead of watching the whole time.
    pub until: Option<WatchUntil>,
}

/// When a watch ends early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WatchUntil {
    /// Stop at the first repetition that passes; fail when none passes in time.
    Success,
}

/// One question of a manual step.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The question shown to the operator.
    pub prompt: String,
    /// The answer's type (default `string`).
    #[serde(default, rename = "type")]
    pub kind: ParamType,
    /// The answer Enter keeps (never shown when secret); also taken when the step is skipped
    /// or fails.
    pub default: Option<Value>,
    /// The allowed answers of a `choice` input.
    #[serde(default)]
    pub choices: Vec<String>,
    /// The answer is typed without echo and masked as `***` wherever it would appear.
    #[serde(default, deserialize_with = "crate::strict::bool")]
    pub secret: bool,
}

/// Where the run goes after a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Flow {
    /// Stop the run (the `finally` steps still run).
    Abort,
    /// Go on with the next step.
    Continue,
    /// Go to a step id, then go on in order from there.
    #[serde(untagged)]
    Goto(String),
}

impl Flow {
    fn parse(text: &str) -> Flow {
        match text {
            "abort" => Flow::Abort,
            "continue" => Flow::Continue,
            other => Flow::Goto(other.to_owned()),
        }
    }

    /// The step id a goto goes to; `None` for `abort` and `continue`.
    pub fn target(&self) -> Option<&str> {
        match self {
            Flow::Goto(id) => Some(id),
            _ => None,
        }
    }
}

/// What happens when a step fails: `abort`, `continue`, a step id, or
/// `{escalate: CHANNEL, then: ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum OnFailure {
    /// `abort`, `continue` or a step id, with nobody notified.
    Flow(Flow),
    /// Notify a channel at once, then go where `then` says.
    Escalate {
        /// A channel notified at once.
        escalate: String,
        /// Where the run goes after notifying (default `abort`).
        #[serde(default = "default_then")]
        then: Flow,
    },
}

fn default_then() -> Flow {
    Flow::Abort
}

impl OnFailure {
    /// Where the run goes after the failure (after notifying, for an escalation).
    pub fn flow(&self) -> &Flow {
        match self {
            OnFailure::Flow(flow) => flow,
            OnFailure::Escalate { then, .. } => then,
        }
    }

    /// The channel notified at once, if any.
    pub fn escalate(&self) -> Option<&str> {
        match self {
            OnFailure::Flow(_) => None,
            OnFailure::Escalate { escalate, .. } => Some(escalate),
        }
    }
}

// Hand-written rather than `untagged`: serde's untagged enums buffer their input, which loses
// the YAML locations and replaces precise errors with "did not match any variant".
impl<'de> Deserialize<'de> for OnFailure {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OnFailure;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`abort`, `continue`, a step id, or {escalate: CHANNEL, then: ...}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OnFailure, E> {
                Ok(OnFailure::Flow(Flow::parse(v)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<OnFailure, A::Error> {
                let mut escalate = None;
                let mut then = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "escalate" => escalate = Some(map.next_value::<String>()?),
                        "then" => then = Some(Flow::parse(&map.next_value::<String>()?)),
                        other => {
                            return Err(serde::de::Error::unknown_field(
                                other,
                                &["escalate", "then"],
                            ));
                        }
                    }
                }
                let escalate =
                    escalate.ok_or_else(|| serde::de::Error::missing_field("escalate"))?;
                Ok(OnFailure::Escalate {
                    escalate,
                    then: then.unwrap_or(Flow::Abort),
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The action a step performs, borrowed from the step.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// `run:`, a bash command template.
    Run(&'a Spanned<String>),
    /// `manual:`, instructions for a person.
    Manual(&'a Spanned<String>),
    /// `wait:`, a pause.
    Wait(&'a Spanned<DurationText>),
    /// `parallel:`, steps run concurrently.
    Parallel(&'a [Spanned<Step>]),
    /// `playbook:`, a sub-playbook's path, relative to this file.
    Playbook(&'a Spanned<String>),
    /// `report:`, a Markdown template.
    Report(&'a Spanned<String>),
    /// `notify:`, a message to channels.
    Notify(&'a Spanned<Notify>),
    /// `fail:`, the reason the run fails.
    Fail(&'a Spanned<String>),
    /// `succeed:`, the reason the run ends early.
    Succeed(&'a Spanned<String>),
    /// `block:`, steps under one `when`.
    Block(&'a [Spanned<Step>]),
}

impl Action<'_> {
    /// The action's field name in the playbook (`run`, `manual`, …).
    pub fn keyword(&self) -> &'static str {
        match self {
            Action::Run(_) => "run",
            Action::Manual(_) => "manual",
            Action::Wait(_) => "wait",
            Action::Parallel(_) => "parallel",
            Action::Playbook(_) => "playbook",
            Action::Report(_) => "report",
            Action::Notify(_) => "notify",
            Action::Fail(_) => "fail",
            Action::Succeed(_) => "succeed",
            Action::Block(_) => "block",
        }
    }
}

impl Step {
    /// Every action field that is set, in declaration order (valid steps have exactly one).
    pub fn actions(&self) -> Vec<Action<'_>> {
        let mut out = Vec::with_capacity(1);
        if let Some(v) = &self.run {
            out.push(Action::Run(v));
        }
        if let Some(v) = &self.manual {
            out.push(Action::Manual(v));
        }
        if let Some(v) = &self.wait {
            out.push(Action::Wait(v));
        }
        if let Some(v) = &self.parallel {
            out.push(Action::Parallel(v));
        }
        if let Some(v) = &self.playbook {
            out.push(Action::Playbook(v));
        }
        if let Some(v) = &self.report {
            out.push(Action::Report(v));
        }
        if let Some(v) = &self.notify {
            out.push(Action::Notify(v));
        }
        if let Some(v) = &self.fail {
            out.push(Action::Fail(v));
        }
        if let Some(v) = &self.succeed {
            out.push(Action::Succeed(v));
        }
        if let Some(v) = &self.block {
            out.push(Action::Block(v));
        }
        out
    }

    /// The keywords of every action field that is set (`run`, `block`, ...).
    pub fn action_keywords(&self) -> Vec<&'static str> {
        self.actions().iter().map(Action::keyword).collect()
    }

    /// The single action of a validated step.
    pub fn action(&self) -> Option<Action<'_>> {
        self.actions().into_iter().next()
    }

    /// A display name: `name`, else the id.
    pub fn title(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// The name an item of `for_each` has in this step's templates.
    pub fn item_name(&self) -> &str {
        self.item_name
            .as_deref()
            .map_or(DEFAULT_ITEM_NAME, String::as_str)
    }

    /// The on-failure policy, `abort` when unset.
    pub fn failure_flow(&self) -> Flow {
        self.on_failure
            .as_ref()
            .map_or(Flow::Abort, |f| f.flow().clone())
    }

    /// The bound on visits of this step in one run.
    pub fn visit_limit(&self) -> u32 {
        self.max_visits.unwrap_or(DEFAULT_MAX_VISITS)
    }

    /// The phrase a destructive step's operator must type: `confirm_phrase`, else the id.
    pub fn confirm_phrase_template(&self) -> &str {
        self.confirm_phrase
            .as_deref()
            .map_or(&self.id, |p| p.as_str())
    }
}

/// How often a step may run in one run unless it says otherwise.
pub const DEFAULT_MAX_VISITS: u32 = 3;

impl Playbook {
    /// Every step, nested ones and `finally` included, depth first in file order. The steps
    /// of a `block` are here, the block itself is not: it is no step of its own
    /// ([`Playbook::blocks`]).
    pub fn all_steps(&self) -> Vec<&Spanned<Step>> {
        fn walk<'a>(steps: &'a [Spanned<Step>], out: &mut Vec<&'a Spanned<Step>>) {
            for step in steps {
                match (&step.block, &step.parallel) {
                    (Some(children), _) => walk(children, out),
                    (None, Some(children)) => {
                        out.push(step);
                        walk(children, out);
                    }
                    (None, None) => out.push(step),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.steps, &mut out);
        walk(&self.finally, &mut out);
        out
    }

    /// Every `block` (since format 1.1), nested ones included, in file order.
    pub fn blocks(&self) -> Vec<&Spanned<Step>> {
        fn walk<'a>(steps: &'a [Spanned<Step>], out: &mut Vec<&'a Spanned<Step>>) {
            for step in steps {
                if let Some(children) = step.block.as_ref().or(step.parallel.as_ref()) {
                    if step.block.is_some() {
                        out.push(step);
                    }
                    walk(children, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.steps, &mut out);
        walk(&self.finally, &mut out);
        out
    }
}

/// One step of a list with its blocks unfolded: the step and the blocks around it, outermost
/// first (since format 1.1).
#[derive(Debug, Clone)]
pub struct Unfolded<'a> {
    /// A step of the list, never a block.
    pub step: &'a Spanned<Step>,
    /// The blocks it is in, outermost first.
    pub blocks: Vec<&'a Spanned<Step>>,
}

/// A list of steps (`steps` or `finally`) as it runs: each block replaced by its steps, in
/// order. A goto to a block goes to its first step.
pub fn unfold(steps: &[Spanned<Step>]) -> Vec<Unfolded<'_>> {
    fn walk<'a>(
        steps: &'a [Spanned<Step>],
        blocks: &mut Vec<&'a Spanned<Step>>,
        out: &mut Vec<Unfolded<'a>>,
    ) {
        for step in steps {
            match &step.block {
                Some(children) => {
                    blocks.push(step);
                    walk(children, blocks, out);
                    blocks.pop();
                }
                None => out.push(Unfolded {
                    step,
                    blocks: blocks.clone(),
                }),
            }
        }
    }
    let mut out = Vec::new();
    walk(steps, &mut Vec::new(), &mut out);
    out
}

impl Playbook {
    /// The playbook's display title: `metadata.title`, else its name.
    pub fn title(&self) -> &str {
        self.metadata
            .title
            .as_deref()
            .unwrap_or(&self.metadata.name)
    }
}
