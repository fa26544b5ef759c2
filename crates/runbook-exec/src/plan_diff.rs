//! What a change does to a plan: two resolved [`Plan`]s compared step by step.
//!
//! Steps are matched by their path (`id`, or `parent/child` inside a sub-playbook), so a
//! renamed step reads as one removed and one added. A step common to both is *moved* when its
//! place in the order changed (outside the longest common order) or it changed group, and
//! *changed* when a field of its resolved plan differs: commands and texts with a word diff,
//! everything else old → new. The flow is compared as the playbook writes it
//! (`on_success`, `on_failure`), not as `next_*`: inserting a step would otherwise change the
//! step before it. Destructive steps added or changed come first ([`PlanDiff::destructive`]).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use similar::{Algorithm, ChangeTag, DiffOp, TextDiff};

use crate::plan::{Plan, PlanRung, PlanStep, PlanValue, duration_text};

/// The version of the diff's JSON form, written in [`PlanDiff::format`].
pub const DIFF_FORMAT: &str = "runbook-plan-diff/v1";

/// Two plans compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "runbook plan diff (runbook-plan-diff/v1)")]
pub struct PlanDiff {
    /// `runbook-plan-diff/v1`.
    #[schemars(extend("const" = "runbook-plan-diff/v1"))]
    pub format: String,
    /// The plan before the change.
    pub old: Side,
    /// The plan after the change.
    pub new: Side,
    /// Destructive steps added, changed, newly marked or no longer marked: what a reviewer
    /// must read first.
    pub destructive: Vec<DestructiveChange>,
    /// How many steps were added, removed, moved, changed or left alone.
    pub summary: Summary,
    /// Title, version, severity, summary.
    pub metadata: Vec<FieldChange>,
    /// Params and vars whose value, origin or presence changed.
    pub values: Vec<ValueChange>,
    /// Rungs of the escalation ladder, matched by `after`.
    pub escalation: Vec<RungChange>,
    /// Steps added, removed, moved or changed, in the new order (removed ones where they were).
    pub steps: Vec<StepChange>,
}

/// One side of the comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Side {
    /// The file, as given (or as stored at `revision`).
    pub file: String,
    /// The git revision it was read from; null for a file on disk.
    pub revision: Option<String>,
    /// False when the playbook does not exist on this side (added or deleted by the change).
    pub exists: bool,
    /// The playbook's `metadata.name`; null when it does not exist on this side.
    pub name: Option<String>,
    /// The playbook's title; null when it does not exist on this side.
    pub title: Option<String>,
    /// The playbook's `metadata.version`, when it has one.
    pub version: Option<String>,
}

/// Steps counted by what the change did to them (a step both moved and changed counts in both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Steps only the new plan has.
    pub added: usize,
    /// Steps only the old plan has.
    pub removed: usize,
    /// Steps whose place in the order or whose group changed.
    pub moved: usize,
    /// Steps with a field that differs.
    pub changed: usize,
    /// Steps in both plans, in the same place, with the same fields.
    pub unchanged: usize,
}

impl Summary {
    /// True when nothing a reviewer would see differs.
    pub fn is_empty(&self) -> bool {
        self.added + self.removed + self.moved + self.changed == 0
    }
}

/// What happened to a step, a value or a rung.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Only the new plan has it.
    Added,
    /// Only the old plan has it.
    Removed,
    /// Both plans have it and it differs (for a step: it moved, or a field changed).
    Changed,
}

/// One field of a step (or of the metadata) before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FieldChange {
    /// The plan's field name (`command`, `timeout_ms`, `on_failure`, …).
    pub field: String,
    /// The typed value before; null when unset.
    pub old: Value,
    /// The typed value after; null when unset.
    pub new: Value,
    /// The value before as people read it (`60s`, `escalate to lead, then abort`).
    pub old_text: Option<String>,
    /// The value after as people read it.
    pub new_text: Option<String>,
    /// A word diff, for commands and texts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<Word>,
}

/// A run of words in a word diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Word {
    /// Whether the words are in both texts, only the old one or only the new one.
    pub op: WordOp,
    /// The words, with the spaces between them.
    pub text: String,
}

/// Whether a run of words is kept, deleted or inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WordOp {
    /// In both texts.
    Equal,
    /// Only in the old text.
    Delete,
    /// Only in the new text.
    Insert,
}

/// A param or var that was added, removed or changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ValueChange {
    /// The value's name.
    pub name: String,
    /// Added, removed or changed.
    pub change: Change,
    /// The value before; null when added.
    pub old: Option<PlanValue>,
    /// The value after; null when removed.
    pub new: Option<PlanValue>,
}

/// A rung of the escalation ladder that was added, removed or changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RungChange {
    /// Added, removed or changed.
    pub change: Change,
    /// The rung before; null when added.
    pub old: Option<PlanRung>,
    /// The rung after; null when removed.
    pub new: Option<PlanRung>,
}

/// A step's place before and after a move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Moved {
    /// The step's number before (`4`, `9.1`, `F2`).
    pub from: String,
    /// The step's number after.
    pub to: String,
}

/// A step that was added, removed, moved or changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StepChange {
    /// The step's path, which matches it across the plans (`parent/child` in a sub-playbook).
    pub path: String,
    /// The step's id.
    pub id: String,
    /// The name after (before, for a removed step).
    pub name: String,
    /// Added, removed, or changed (moved, a field changed, or both).
    pub change: Change,
    /// The step's number before (`4`, `9.1`, `F2`); null when added.
    pub old_number: Option<String>,
    /// The step's number after; null when removed.
    pub new_number: Option<String>,
    /// Where it moved from and to, when it moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved: Option<Moved>,
    /// The fields that differ (a changed step).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// The whole step (an added or removed one), without its children: they are entries of
    /// their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Box<PlanStep>>,
}

/// How a destructive step is affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DestructiveKind {
    /// A new destructive step.
    Added,
    /// A destructive step whose command, text or flow changed.
    Changed,
    /// An existing step now marked `danger: destructive`.
    Marked,
    /// A step no longer marked destructive: it no longer asks for a typed confirmation.
    Unmarked,
}

/// A destructive step the change affects: what a reviewer reads first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DestructiveChange {
    /// The step's path.
    pub path: String,
    /// The step's number in the new plan.
    pub number: String,
    /// The step's name.
    pub name: String,
    /// How the change affects it.
    pub kind: DestructiveKind,
    /// The phrase the operator types (after; before for `unmarked`).
    pub confirm_phrase: Option<String>,
    /// The resolved command after the change.
    pub command: Option<String>,
}

/// The JSON Schema of the diff (`runbook schema plan-diff`, `schemas/plan-diff.v1.json`).
pub fn schema() -> String {
    let schema = schemars::schema_for!(PlanDiff);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}

/// Compares two plans; a side that does not exist is `None`.
pub fn diff(old: Option<&Plan>, new: Option<&Plan>, old_side: Side, new_side: Side) -> PlanDiff {
    let empty = Plan {
        format: crate::plan::PLAN_FORMAT.to_owned(),
        name: String::new(),
        title: String::new(),
        version: None,
        severity: None,
        summary: None,
        owners: Vec::new(),
        file: String::new(),
        inventory: None,
        values: Vec::new(),
        unset: Vec::new(),
        escalation: Vec::new(),
        steps: Vec::new(),
        finally: Vec::new(),
    };
    let old_plan = old.unwrap_or(&empty);
    let new_plan = new.unwrap_or(&empty);
    let metadata = if old.is_some() && new.is_some() {
        metadata(old_plan, new_plan)
    } else {
        Vec::new()
    };
    let (steps, summary) = steps(old_plan, new_plan);
    let destructive = destructive(&steps, old_plan, new_plan);
    PlanDiff {
        format: DIFF_FORMAT.to_owned(),
        old: old_side,
        new: new_side,
        destructive,
        summary,
        metadata,
        values: values(&old_plan.values, &new_plan.values),
        escalation: escalation(&old_plan.escalation, &new_plan.escalation),
        steps,
    }
}

impl PlanDiff {
    /// True when the change makes no difference to the resolved plan.
    pub fn is_empty(&self) -> bool {
        self.summary.is_empty()
            && self.metadata.is_empty()
            && self.values.is_empty()
            && self.escalation.is_empty()
            && self.old.exists == self.new.exists
    }
}

fn metadata(old: &Plan, new: &Plan) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let text = |v: &Option<String>| v.clone();
    for (field, a, b) in [
        ("title", Some(old.title.clone()), Some(new.title.clone())),
        ("version", text(&old.version), text(&new.version)),
        ("severity", text(&old.severity), text(&new.severity)),
        ("summary", text(&old.summary), text(&new.summary)),
    ] {
        if a != b {
            out.push(field_change(
                field,
                json(&a),
                json(&b),
                a,
                b,
                field == "summary",
            ));
        }
    }
    out
}

fn values(old: &[PlanValue], new: &[PlanValue]) -> Vec<ValueChange> {
    let old_by: IndexMap<&str, &PlanValue> = old.iter().map(|v| (v.name.as_str(), v)).collect();
    let new_by: IndexMap<&str, &PlanValue> = new.iter().map(|v| (v.name.as_str(), v)).collect();
    let mut out = Vec::new();
    for v in new {
        match old_by.get(v.name.as_str()) {
            None => out.push(ValueChange {
                name: v.name.clone(),
                change: Change::Added,
                old: None,
                new: Some(v.clone()),
            }),
            Some(o) if *o != v => out.push(ValueChange {
                name: v.name.clone(),
                change: Change::Changed,
                old: Some((*o).clone()),
                new: Some(v.clone()),
            }),
            Some(_) => {}
        }
    }
    for v in old {
        if !new_by.contains_key(v.name.as_str()) {
            out.push(ValueChange {
                name: v.name.clone(),
                change: Change::Removed,
                old: Some(v.clone()),
                new: None,
            });
        }
    }
    out
}

fn escalation(old: &[PlanRung], new: &[PlanRung]) -> Vec<RungChange> {
    let mut out = Vec::new();
    let mut used = vec![false; old.len()];
    let mut unmatched = Vec::new();
    for rung in new {
        let same_time = old
            .iter()
            .enumerate()
            .find(|(i, o)| !used[*i] && o.after_ms == rung.after_ms);
        match same_time {
            Some((i, o)) => {
                used[i] = true;
                if o != rung {
                    out.push(RungChange {
                        change: Change::Changed,
                        old: Some(o.clone()),
                        new: Some(rung.clone()),
                    });
                }
            }
            None => unmatched.push(rung),
        }
    }
    // A rung whose time changed but that pages a channel it paged before is the same rung,
    // changed.
    for rung in unmatched {
        let same_channels = old
            .iter()
            .enumerate()
            .find(|(i, o)| !used[*i] && o.notify.iter().any(|c| rung.notify.contains(c)));
        match same_channels {
            Some((i, o)) => {
                used[i] = true;
                out.push(RungChange {
                    change: Change::Changed,
                    old: Some(o.clone()),
                    new: Some(rung.clone()),
                });
            }
            None => out.push(RungChange {
                change: Change::Added,
                old: None,
                new: Some(rung.clone()),
            }),
        }
    }
    for (i, o) in old.iter().enumerate() {
        if !used[i] {
            out.push(RungChange {
                change: Change::Removed,
                old: Some(o.clone()),
                new: None,
            });
        }
    }
    out.sort_by_key(|r| r.new.as_ref().or(r.old.as_ref()).map_or(0, |r| r.after_ms));
    out
}

/// A step with where it sits: the group or section that holds it.
struct Placed<'a> {
    step: &'a PlanStep,
    parent: String,
}

fn flatten(plan: &Plan) -> Vec<Placed<'_>> {
    fn walk<'a>(steps: &'a [PlanStep], parent: &str, out: &mut Vec<Placed<'a>>) {
        for step in steps {
            out.push(Placed {
                step,
                parent: parent.to_owned(),
            });
            walk(&step.children, &step.path, out);
            if let Some(sub) = &step.playbook {
                walk(&sub.steps, &step.path, out);
                walk(&sub.finally, &format!("{}/finally", step.path), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&plan.steps, "", &mut out);
    walk(&plan.finally, "finally", &mut out);
    out
}

fn steps(old: &Plan, new: &Plan) -> (Vec<StepChange>, Summary) {
    let old_steps = flatten(old);
    let new_steps = flatten(new);
    let old_by: IndexMap<&str, usize> = old_steps
        .iter()
        .enumerate()
        .map(|(i, p)| (p.step.path.as_str(), i))
        .collect();
    let new_by: IndexMap<&str, usize> = new_steps
        .iter()
        .enumerate()
        .map(|(i, p)| (p.step.path.as_str(), i))
        .collect();
    // The longest common order of the steps both sides have: the others moved.
    let old_common: Vec<&str> = old_steps
        .iter()
        .map(|p| p.step.path.as_str())
        .filter(|p| new_by.contains_key(p))
        .collect();
    let new_common: Vec<&str> = new_steps
        .iter()
        .map(|p| p.step.path.as_str())
        .filter(|p| old_by.contains_key(p))
        .collect();
    let mut in_order: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for op in similar::capture_diff_slices(Algorithm::Myers, &old_common, &new_common) {
        if let DiffOp::Equal { old_index, len, .. } = op {
            in_order.extend(&old_common[old_index..old_index + len]);
        }
    }
    let mut summary = Summary::default();
    let mut out: Vec<StepChange> = Vec::new();
    let removed = |p: &Placed<'_>| StepChange {
        path: p.step.path.clone(),
        id: p.step.id.clone(),
        name: p.step.name.clone(),
        change: Change::Removed,
        old_number: Some(p.step.number.clone()),
        new_number: None,
        moved: None,
        fields: Vec::new(),
        step: Some(Box::new(shallow(p.step))),
    };
    // Removed steps are listed where they were: before the first new step that followed them.
    let mut old_cursor = 0;
    let mut emit_removed_until =
        |limit: usize, out: &mut Vec<StepChange>, summary: &mut Summary| {
            while old_cursor < limit {
                let p = &old_steps[old_cursor];
                if !new_by.contains_key(p.step.path.as_str()) {
                    out.push(removed(p));
                    summary.removed += 1;
                }
                old_cursor += 1;
            }
        };
    for placed in &new_steps {
        let step = placed.step;
        match old_by.get(step.path.as_str()) {
            None => {
                out.push(StepChange {
                    path: step.path.clone(),
                    id: step.id.clone(),
                    name: step.name.clone(),
                    change: Change::Added,
                    old_number: None,
                    new_number: Some(step.number.clone()),
                    moved: None,
                    fields: Vec::new(),
                    step: Some(Box::new(shallow(step))),
                });
                summary.added += 1;
            }
            Some(&i) => {
                if in_order.contains(step.path.as_str()) {
                    emit_removed_until(i, &mut out, &mut summary);
                }
                let before = &old_steps[i];
                let moved = (!in_order.contains(step.path.as_str())
                    || before.parent != placed.parent)
                    .then(|| Moved {
                        from: before.step.number.clone(),
                        to: step.number.clone(),
                    });
                let fields = step_fields(before.step, step);
                if moved.is_some() {
                    summary.moved += 1;
                }
                if !fields.is_empty() {
                    summary.changed += 1;
                }
                if moved.is_none() && fields.is_empty() {
                    summary.unchanged += 1;
                    continue;
                }
                out.push(StepChange {
                    path: step.path.clone(),
                    id: step.id.clone(),
                    name: step.name.clone(),
                    change: Change::Changed,
                    old_number: Some(before.step.number.clone()),
                    new_number: Some(step.number.clone()),
                    moved,
                    fields,
                    step: None,
                });
            }
        }
    }
    emit_removed_until(old_steps.len(), &mut out, &mut summary);
    (out, summary)
}

/// A step without its children and sub-playbook steps (they are entries of their own).
fn shallow(step: &PlanStep) -> PlanStep {
    let mut copy = step.clone();
    copy.children.clear();
    if let Some(sub) = &mut copy.playbook {
        sub.steps.clear();
        sub.finally.clear();
    }
    copy
}

fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn field_change(
    field: &str,
    old: Value,
    new: Value,
    old_text: Option<String>,
    new_text: Option<String>,
    words: bool,
) -> FieldChange {
    let words = match (&old_text, &new_text) {
        (Some(a), Some(b)) if words => word_diff(a, b),
        _ => Vec::new(),
    };
    FieldChange {
        field: field.to_owned(),
        old,
        new,
        old_text,
        new_text,
        words,
    }
}

/// Words (and the whitespace between them) kept, deleted and inserted, runs merged.
pub fn word_diff(old: &str, new: &str) -> Vec<Word> {
    let diff = TextDiff::from_words(old, new);
    let mut out: Vec<Word> = Vec::new();
    for change in diff.iter_all_changes() {
        let op = match change.tag() {
            ChangeTag::Equal => WordOp::Equal,
            ChangeTag::Delete => WordOp::Delete,
            ChangeTag::Insert => WordOp::Insert,
        };
        match out.last_mut() {
            Some(last) if last.op == op => last.text.push_str(change.value()),
            _ => out.push(Word {
                op,
                text: change.value().to_owned(),
            }),
        }
    }
    out
}

/// Every field of a step that a reviewer would see change.
fn step_fields(old: &PlanStep, new: &PlanStep) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut push =
        |field: &str, a: Value, b: Value, ta: Option<String>, tb: Option<String>, words: bool| {
            if a != b {
                out.push(field_change(field, a, b, ta, tb, words));
            }
        };
    let list = |items: Vec<String>| (!items.is_empty()).then(|| items.join("; "));
    push(
        "name",
        json(&old.name),
        json(&new.name),
        Some(old.name.clone()),
        Some(new.name.clone()),
        false,
    );
    push(
        "action",
        json(&old.action),
        json(&new.action),
        Some(old.action.keyword().to_owned()),
        Some(new.action.keyword().to_owned()),
        false,
    );
    push(
        "target",
        json(&old.target),
        json(&new.target),
        Some(old.target.to_string()),
        Some(new.target.to_string()),
        false,
    );
    push(
        "command",
        json(&old.command),
        json(&new.command),
        old.command.clone(),
        new.command.clone(),
        true,
    );
    push(
        "text",
        json(&old.text),
        json(&new.text),
        old.text.clone(),
        new.text.clone(),
        true,
    );
    push(
        "wait_ms",
        json(&old.wait_ms),
        json(&new.wait_ms),
        old.wait_ms.map(duration_text),
        new.wait_ms.map(duration_text),
        false,
    );
    let file = |s: &PlanStep| s.playbook.as_ref().map(|p| p.file.clone());
    push(
        "playbook",
        json(&file(old)),
        json(&file(new)),
        file(old),
        file(new),
        false,
    );
    let pairs =
        |m: &IndexMap<String, String>| list(m.iter().map(|(k, v)| format!("{k}={v}")).collect());
    push(
        "with",
        json(&old.with),
        json(&new.with),
        pairs(&old.with),
        pairs(&new.with),
        false,
    );
    push(
        "doc",
        json(&old.doc),
        json(&new.doc),
        old.doc.clone(),
        new.doc.clone(),
        true,
    );
    push(
        "when",
        json(&old.when),
        json(&new.when),
        old.when.clone(),
        new.when.clone(),
        false,
    );
    let blocks = |s: &PlanStep| list(s.blocks.iter().map(ToString::to_string).collect());
    push(
        "blocks",
        json(&old.blocks),
        json(&new.blocks),
        blocks(old),
        blocks(new),
        false,
    );
    push(
        "for_each",
        json(&old.for_each),
        json(&new.for_each),
        old.for_each.as_ref().map(ToString::to_string),
        new.for_each.as_ref().map(ToString::to_string),
        false,
    );
    let notify = |s: &PlanStep| {
        s.notify.as_ref().map(|n| {
            let report = if n.report { " with the report" } else { "" };
            format!("{}{report}", n.channels.join(", "))
        })
    };
    push(
        "notify",
        json(&old.notify),
        json(&new.notify),
        notify(old),
        notify(new),
        false,
    );
    let interactive = |s: &PlanStep| s.interactive.then(|| "the terminal".to_owned());
    push(
        "interactive",
        json(&old.interactive),
        json(&new.interactive),
        interactive(old),
        interactive(new),
        false,
    );
    push(
        "env",
        json(&old.env),
        json(&new.env),
        pairs(&old.env),
        pairs(&new.env),
        false,
    );
    push(
        "expect",
        json(&old.expect),
        json(&new.expect),
        texts(&old.expect, std::string::ToString::to_string),
        texts(&new.expect, std::string::ToString::to_string),
        false,
    );
    push(
        "captures",
        json(&old.captures),
        json(&new.captures),
        texts(&old.captures, std::string::ToString::to_string),
        texts(&new.captures, std::string::ToString::to_string),
        false,
    );
    let check = |c: &crate::plan::PlanCheck| match &c.message {
        Some(m) => format!("{c}: {m}"),
        None => c.to_string(),
    };
    push(
        "checks",
        json(&old.checks),
        json(&new.checks),
        texts(&old.checks, check),
        texts(&new.checks, check),
        false,
    );
    push(
        "retry",
        json(&old.retry),
        json(&new.retry),
        old.retry.as_ref().map(std::string::ToString::to_string),
        new.retry.as_ref().map(std::string::ToString::to_string),
        false,
    );
    push(
        "timeout_ms",
        json(&old.timeout_ms),
        json(&new.timeout_ms),
        old.timeout_ms.map(duration_text),
        new.timeout_ms.map(duration_text),
        false,
    );
    push(
        "follow_ms",
        json(&old.follow_ms),
        json(&new.follow_ms),
        old.follow_ms.map(duration_text),
        new.follow_ms.map(duration_text),
        false,
    );
    push(
        "watch",
        json(&old.watch),
        json(&new.watch),
        old.watch.as_ref().map(std::string::ToString::to_string),
        new.watch.as_ref().map(std::string::ToString::to_string),
        false,
    );
    push(
        "confirm",
        json(&old.confirm),
        json(&new.confirm),
        old.confirm.clone(),
        new.confirm.clone(),
        false,
    );
    let danger = |s: &PlanStep| {
        s.danger
            .as_ref()
            .map(|d| format!("destructive (type `{}`)", d.confirm_phrase))
    };
    push(
        "danger",
        json(&old.danger),
        json(&new.danger),
        danger(old),
        danger(new),
        false,
    );
    let input = |i: &crate::plan::PlanInput| format!("{}: {}", i.name, i.prompt);
    push(
        "inputs",
        json(&old.inputs),
        json(&new.inputs),
        texts(&old.inputs, input),
        texts(&new.inputs, input),
        false,
    );
    push(
        "checklist",
        json(&old.checklist),
        json(&new.checklist),
        list(old.checklist.clone()),
        list(new.checklist.clone()),
        false,
    );
    push(
        "on_success",
        json(&old.on_success),
        json(&new.on_success),
        old.on_success.clone(),
        new.on_success.clone(),
        false,
    );
    push(
        "on_failure",
        json(&old.on_failure),
        json(&new.on_failure),
        Some(old.on_failure.to_string()),
        Some(new.on_failure.to_string()),
        false,
    );
    push(
        "max_visits",
        json(&old.max_visits),
        json(&new.max_visits),
        Some(old.max_visits.to_string()),
        Some(new.max_visits.to_string()),
        false,
    );
    out
}

/// Items as one text, `; ` between them; `None` for none.
fn texts<T>(items: &[T], f: impl Fn(&T) -> String) -> Option<String> {
    (!items.is_empty()).then(|| items.iter().map(f).collect::<Vec<_>>().join("; "))
}

fn destructive(steps: &[StepChange], old: &Plan, new: &Plan) -> Vec<DestructiveChange> {
    let old_all: IndexMap<&str, &PlanStep> = old
        .all_steps()
        .into_iter()
        .map(|s| (s.path.as_str(), s))
        .collect();
    let new_all: IndexMap<&str, &PlanStep> = new
        .all_steps()
        .into_iter()
        .map(|s| (s.path.as_str(), s))
        .collect();
    let mut out = Vec::new();
    for change in steps {
        let before = old_all.get(change.path.as_str()).copied();
        let after = new_all.get(change.path.as_str()).copied();
        let kind = match (change.change, before, after) {
            (Change::Added, _, Some(s)) if s.danger.is_some() => DestructiveKind::Added,
            (Change::Changed, Some(b), Some(a)) => match (b.danger.is_some(), a.danger.is_some()) {
                (false, true) => DestructiveKind::Marked,
                (true, false) => DestructiveKind::Unmarked,
                (true, true) if !change.fields.is_empty() => DestructiveKind::Changed,
                _ => continue,
            },
            _ => continue,
        };
        let shown = if kind == DestructiveKind::Unmarked {
            before
        } else {
            after
        };
        out.push(DestructiveChange {
            path: change.path.clone(),
            number: change
                .new_number
                .clone()
                .or_else(|| change.old_number.clone())
                .unwrap_or_default(),
            name: change.name.clone(),
            kind,
            confirm_phrase: shown
                .and_then(|s| s.danger.as_ref())
                .map(|d| d.confirm_phrase.clone()),
            command: after.and_then(|s| s.command.clone()),
        });
    }
    out
}
