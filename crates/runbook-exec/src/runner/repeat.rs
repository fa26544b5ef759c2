//! Steps that run under a shared condition or more than once (since format 1.1): the `when` of
//! the blocks around a step, and a `for_each` step's repetitions.
//!
//! A repetition is recorded as `step[n]` (n from 1) with the item in its name, then the step
//! itself is recorded with the outcome of all of them; so a resumed run replays each finished
//! repetition (the n-th visit of `step[n]` takes the n-th record) and runs only the rest.

use indexmap::IndexMap;
use runbook_template::{TemplateValue, ValueKind};
use runbook_transcript::{Outcome, StepReason};
use serde_json::Value;

use super::report::StepReport;
use super::scope::Scope;
use crate::program::{StepIdx, Then};

/// The most items a `for_each` step repeats over: more is a mistake (the wrong output read as
/// the list), not a procedure someone steps through.
const MAX_ITEMS: usize = 10_000;

impl Scope {
    /// A step whose block's `when` is false is skipped, and says which block.
    pub(super) fn outside_its_blocks(&self, idx: StepIdx) -> Option<StepReport> {
        let node = self.program.node(idx);
        node.blocks.iter().find_map(|block| {
            let when = block.when.as_ref()?;
            self.unless(when, &format!("block `{}`: ", block.id))
        })
    }

    /// Runs a `for_each` step: each item in order, in its own repetition; a failed item stops
    /// the rest unless the step's failure lets the run go on (`on_failure: continue`).
    pub(super) async fn for_each_step(&self, idx: StepIdx, visit: u32) -> StepReport {
        let step = &self.program.node(idx).step;
        // A `when` that does not read the item is decided once, for all of them.
        let when_per_item = step
            .when
            .as_ref()
            .is_some_and(|when| reads(when, step.item_name()));
        if let Some(when) = step.when.as_ref().filter(|_| !when_per_item)
            && let Some(skipped) = self.unless(when, "")
        {
            return skipped;
        }
        let items = match self.items(idx) {
            Ok(items) => items,
            Err(why) => return StepReport::template(format!("for_each: {why}")),
        };
        if items.len() > MAX_ITEMS {
            return StepReport::template(format!(
                "for_each: {} items, more than the {MAX_ITEMS} a step repeats over",
                items.len()
            ));
        }
        if items.is_empty() {
            return StepReport::new(Outcome::Skipped)
                .with_message("for_each: no items")
                .with_reason(StepReason::When);
        }
        // The step itself starts: a report and resume see it open until it ends.
        self.started(idx, runbook_transcript::ActionKind::ForEach, None, 1, visit);
        let stops_at_failure = self.program.node(idx).on_failure.then != Then::Continue;
        let mut tally = Tally::default();
        let mut captures = IndexMap::new();
        let (mut stdout, mut stderr) = (String::new(), String::new());
        for (i, item) in items.iter().enumerate() {
            let number = i + 1;
            if self.shared.should_stop() {
                return StepReport::stopped();
            }
            let repetition = self.for_item(idx, (number, items.len()), item, when_per_item);
            let report = Box::pin(repetition.visit(idx, visit)).await;
            if report.interrupted || report.abort {
                return report;
            }
            captures.extend(report.captures);
            for (all, one) in [(&mut stdout, &report.stdout), (&mut stderr, &report.stderr)] {
                if !one.is_empty() {
                    all.push_str(one);
                    all.push('\n');
                }
            }
            tally.count(number, report.outcome, report.message);
            if report.outcome == Outcome::Failed && stops_at_failure {
                break;
            }
        }
        let mut report = tally.report(items.len());
        report.captures = captures;
        // One after the other, a line each at least, kept as any step's output is.
        report.stdout = super::judge::head(&stdout);
        report.stderr = super::judge::head(&stderr);
        report
    }

    /// The items of a `for_each` step: as written, or the expression's list, or the
    /// non-empty lines of its text. Items are data wherever they came from.
    fn items(&self, idx: StepIdx) -> Result<Vec<Value>, String> {
        let step = &self.program.node(idx).step;
        let for_each = step.for_each.as_ref().expect("a for_each step");
        let expression = match &for_each.value {
            runbook_model::playbook::ForEach::Items(items) => return Ok(items.clone()),
            runbook_model::playbook::ForEach::Expression(expression) => expression,
        };
        let value = self
            .shared
            .engine
            .eval(expression, &self.context(None))
            .map_err(|e| e.message)?;
        items_of(&value).map_err(|kind| {
            format!("`{expression}` is {kind}, not a list or text whose lines are the items")
        })
    }
}

/// A value's items: a list's elements, or the non-empty lines of a text (trimmed).
pub(crate) fn items_of(value: &TemplateValue) -> Result<Vec<Value>, &'static str> {
    match value.kind() {
        ValueKind::Seq | ValueKind::Iterable => Ok(value
            .try_iter()
            .map_err(|_| "not a list")?
            .map(|v| serde_json::to_value(&v).unwrap_or(Value::Null))
            .collect()),
        ValueKind::String => Ok(value
            .as_str()
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| Value::String(l.to_owned()))
            .collect()),
        ValueKind::None => Ok(Vec::new()),
        ValueKind::Undefined => Err("undefined"),
        ValueKind::Map => Err("a map"),
        ValueKind::Number => Err("a number"),
        ValueKind::Bool => Err("a boolean"),
        _ => Err("not a list"),
    }
}

/// Whether an expression reads `name`.
fn reads(expression: &str, name: &str) -> bool {
    runbook_template::analyze_expression(expression).map_or(true, |names| names.contains(name))
}

/// The outcomes of a step's repetitions so far.
#[derive(Default)]
struct Tally {
    ran: usize,
    ok: usize,
    warned: usize,
    skipped: usize,
    /// Each failed item: its number and why.
    failed: Vec<(usize, Option<String>)>,
}

impl Tally {
    fn count(&mut self, number: usize, outcome: Outcome, message: Option<String>) {
        self.ran += 1;
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Warning => self.warned += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Failed | Outcome::Aborted => self.failed.push((number, message)),
        }
    }

    /// The step's own outcome: failed when an item failed, skipped when every item was,
    /// a warning when one warned; the message counts them.
    fn report(&self, total: usize) -> StepReport {
        let mut parts = Vec::new();
        for (n, word) in [
            (self.ok, "ok"),
            (self.warned, "warning"),
            (self.skipped, "skipped"),
            (self.failed.len(), "failed"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {word}"));
            }
        }
        let not_run = total - self.ran;
        if not_run > 0 {
            parts.push(format!("{not_run} not run"));
        }
        let mut message = format!(
            "{}: {}",
            runbook_transcript::text::plural(total, "item"),
            parts.join(", ")
        );
        if let Some((number, why)) = self.failed.first() {
            message.push_str(&format!("; item {number} failed"));
            if let Some(why) = why {
                message.push_str(&format!(": {why}"));
            }
            return StepReport::failed(message).with_reason(StepReason::Group);
        }
        let outcome = if self.skipped == self.ran {
            Outcome::Skipped
        } else if self.warned > 0 {
            Outcome::Warning
        } else {
            Outcome::Ok
        };
        let report = StepReport::new(outcome).with_message(message);
        if outcome == Outcome::Skipped {
            return report.with_reason(StepReason::When);
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_a_list_or_the_lines_of_a_text() {
        let list = runbook_template::context(&["api", "worker"]);
        assert_eq!(items_of(&list).unwrap(), vec!["api", "worker"]);
        let text = TemplateValue::from("api\n\n  worker  \n");
        assert_eq!(items_of(&text).unwrap(), vec!["api", "worker"]);
        let maps = runbook_template::context(&[serde_json::json!({"name": "api", "port": 8080})]);
        assert_eq!(
            items_of(&maps).unwrap(),
            vec![serde_json::json!({"name": "api", "port": 8080})]
        );
        assert_eq!(items_of(&TemplateValue::from(3)).unwrap_err(), "a number");
    }

    #[test]
    fn a_failed_item_fails_the_step_and_says_which() {
        let mut tally = Tally::default();
        tally.count(1, Outcome::Ok, None);
        tally.count(2, Outcome::Failed, Some("exit 1".into()));
        let report = tally.report(4);
        assert_eq!(report.outcome, Outcome::Failed);
        assert_eq!(
            report.message.as_deref(),
            Some("4 items: 1 ok, 1 failed, 2 not run; item 2 failed: exit 1")
        );
    }

    #[test]
    fn every_item_skipped_skips_the_step() {
        let mut tally = Tally::default();
        tally.count(1, Outcome::Skipped, None);
        tally.count(2, Outcome::Skipped, None);
        assert_eq!(tally.report(2).outcome, Outcome::Skipped);
        let mut tally = Tally::default();
        tally.count(1, Outcome::Skipped, None);
        tally.count(2, Outcome::Warning, None);
        assert_eq!(tally.report(2).outcome, Outcome::Warning);
    }
}
