//! The plan's Mermaid flowchart, for GitHub. Every edge comes from the engine's own
//! decisions (`next_ok`, `next_skipped`, `next_failed`, from `Program::next`); nothing is read
//! back from display text.
//!
//! It stays readable: a failure that stops the run (the default) draws no edge, parallel
//! children sit in a box of their own, so do the steps of a `block:`, and a sub-playbook is
//! one node. Labels are quoted and
//! escaped (`#quot;`, `#lt;`, `#35;` …) so no playbook text can break GitHub's renderer.

use std::fmt::Write;

use runbook_exec::plan::{NextStep, Plan, PlanStep, StepAction};

/// The sentence under the chart that says what the chart leaves out.
pub const LEGEND: &str = "Solid arrows: the step passed (or was skipped when it says so); dotted arrows: it failed. \
A failure without an arrow stops the run, and `finally` still runs.";

/// Longest label text before it is cut with `…`.
const MAX_LABEL: usize = 60;

/// The flowchart text (without the fence).
pub fn chart(plan: &Plan) -> String {
    let mut out = String::from("flowchart TD\n");
    let _ = writeln!(out, "  start([\"start\"])");
    let mut blocks = Blocks::default();
    for (i, step) in plan.steps.iter().enumerate() {
        let pad = blocks.enter(&mut out, step, "  ");
        node(&mut out, step, &main_id(i), &pad);
    }
    blocks.close_all(&mut out, "  ");
    if !plan.finally.is_empty() {
        let _ = writeln!(out, "  subgraph fin[\"finally: always runs\"]");
        for (i, step) in plan.finally.iter().enumerate() {
            let pad = blocks.enter(&mut out, step, "    ");
            node(&mut out, step, &finally_id(i), &pad);
        }
        blocks.close_all(&mut out, "    ");
        let _ = writeln!(out, "  end");
    }
    let _ = writeln!(out, "  done([\"done\"])");
    let stops = plan
        .steps
        .iter()
        .any(|s| s.next_failed == NextStep::Stop && s.on_failure.escalate.is_some());
    if stops {
        let _ = writeln!(out, "  stop([\"run fails\"])");
    }
    let after_main = if plan.finally.is_empty() {
        "done".to_owned()
    } else {
        finally_id(0)
    };
    let target = |next: &NextStep| -> String {
        match next {
            NextStep::Step(id) => plan
                .steps
                .iter()
                .position(|s| &s.id == id)
                .map_or_else(|| after_main.clone(), main_id),
            NextStep::Finally => after_main.clone(),
            NextStep::Stop => "stop".to_owned(),
        }
    };
    let first = if plan.steps.is_empty() {
        after_main.clone()
    } else {
        main_id(0)
    };
    let _ = writeln!(out, "  start --> {first}");
    for (i, step) in plan.steps.iter().enumerate() {
        let here = main_id(i);
        // A `fail` step never passes: only its skip goes on.
        if step.action == StepAction::Fail {
            if let Some(skipped) = &step.next_skipped {
                edge(&mut out, &here, "-->", "skipped", &target(skipped));
            }
            continue;
        }
        let ok = target(&step.next_ok);
        let mut ok_label: Vec<&str> = Vec::new();
        if step.on_success.is_some() {
            ok_label.push("ok");
        }
        let skipped = step.next_skipped.as_ref().map(&target);
        if skipped.as_ref() == Some(&ok) {
            ok_label.push(if ok_label.is_empty() {
                "ok or skipped"
            } else {
                "or skipped"
            });
        }
        edge(&mut out, &here, "-->", &ok_label.join(" "), &ok);
        if let Some(skipped) = skipped.filter(|t| *t != ok) {
            edge(&mut out, &here, "-.->", "skipped", &skipped);
        }
        // The default (stop the run) draws nothing; a page on the way is worth an edge.
        let failed = &step.next_failed;
        let escalate = step.on_failure.escalate.as_deref();
        if *failed != NextStep::Stop || escalate.is_some() {
            let label = match escalate {
                Some(channel) => format!("fail, page {channel}"),
                None => "fail".to_owned(),
            };
            edge(&mut out, &here, "-.->", &label, &target(failed));
        }
    }
    if stops && !plan.finally.is_empty() {
        let _ = writeln!(out, "  stop --> {}", finally_id(0));
    }
    for i in 0..plan.finally.len() {
        let next = if i + 1 < plan.finally.len() {
            finally_id(i + 1)
        } else {
            "done".to_owned()
        };
        let _ = writeln!(out, "  {} --> {next}", finally_id(i));
    }
    out
}

/// The `block:`s open around the steps drawn so far (since format 1.1): each is a box.
#[derive(Default)]
struct Blocks {
    /// The ids of the open blocks, outermost first.
    open: Vec<String>,
    /// Boxes drawn so far, for their ids.
    drawn: usize,
}

impl Blocks {
    /// Closes the boxes `step` is not in and opens those it is in; returns the padding for
    /// its node.
    fn enter(&mut self, out: &mut String, step: &PlanStep, pad: &str) -> String {
        let shared = self
            .open
            .iter()
            .zip(&step.blocks)
            .take_while(|(open, block)| **open == block.id)
            .count();
        while self.open.len() > shared {
            self.open.pop();
            let _ = writeln!(out, "{pad}{}end", "  ".repeat(self.open.len()));
        }
        for block in &step.blocks[shared..] {
            self.drawn += 1;
            let text = match &block.when {
                Some(when) => format!("{} · when {when}", block.id),
                None => block.id.clone(),
            };
            let _ = writeln!(
                out,
                "{pad}{}subgraph b{}[\"{}\"]",
                "  ".repeat(self.open.len()),
                self.drawn,
                label(&text, None)
            );
            self.open.push(block.id.clone());
        }
        format!("{pad}{}", "  ".repeat(self.open.len()))
    }

    fn close_all(&mut self, out: &mut String, pad: &str) {
        while self.open.pop().is_some() {
            let _ = writeln!(out, "{pad}{}end", "  ".repeat(self.open.len()));
        }
    }
}

fn main_id(i: usize) -> String {
    format!("s{}", i + 1)
}

fn finally_id(i: usize) -> String {
    format!("f{}", i + 1)
}

/// A node, or for a parallel group a box holding its children.
fn node(out: &mut String, step: &PlanStep, id: &str, pad: &str) {
    if step.action == StepAction::Parallel {
        let _ = writeln!(
            out,
            "{pad}subgraph {id}[\"{}\"]",
            label(&format!("{} {} · at once", step.number, step.id), None)
        );
        let _ = writeln!(out, "{pad}  direction LR");
        for (i, child) in step.children.iter().enumerate() {
            node(out, child, &format!("{id}_{}", i + 1), &format!("{pad}  "));
        }
        let _ = writeln!(out, "{pad}end");
        return;
    }
    let (open, close) = match step.action {
        _ if step.danger.is_some() => ("{{", "}}"),
        StepAction::Manual => ("[/", "/]"),
        StepAction::Wait => ("([", "])"),
        StepAction::Playbook => ("[[", "]]"),
        StepAction::Report => (">", "]"),
        StepAction::Notify => (">", "]"),
        StepAction::Fail | StepAction::Succeed => ("(((", ")))"),
        _ => ("[", "]"),
    };
    let name = (step.name != step.id).then_some(step.name.as_str());
    let mut text = label(&format!("{} {}", step.number, step.id), name);
    if step.danger.is_some() {
        text.push_str("<br/>⚠ destructive");
    }
    // A fan-out says where and how wide: the hosts and batches, not each host's command.
    if step.target.max_fail.is_some() {
        let on = step.target.on.as_deref().unwrap_or_default();
        let n = step.target.hosts.len();
        let mut fan = format!("on {on}: {n} host{}", if n == 1 { "" } else { "s" });
        if !step.target.batches.is_empty() {
            let sizes: Vec<String> = step
                .target
                .batches
                .iter()
                .map(|b| b.len().to_string())
                .collect();
            fan.push_str(&format!(", batches {}", sizes.join("/")));
        }
        text.push_str("<br/>");
        text.push_str(&escape(&cut(&fan)));
    }
    let _ = writeln!(out, "{pad}{id}{open}\"{text}\"{close}");
}

fn edge(out: &mut String, from: &str, arrow: &str, text: &str, to: &str) {
    if text.is_empty() {
        let _ = writeln!(out, "  {from} {arrow} {to}");
    } else {
        let _ = writeln!(out, "  {from} {arrow}|\"{}\"| {to}", escape(text));
    }
}

/// A quoted label: the first line, then the name on a second line.
fn label(head: &str, name: Option<&str>) -> String {
    let mut text = escape(&cut(head));
    if let Some(name) = name {
        text.push_str("<br/>");
        text.push_str(&escape(&cut(name)));
    }
    text
}

fn cut(text: &str) -> String {
    let one = text.replace(['\r', '\n'], " ");
    if one.chars().count() <= MAX_LABEL {
        return one;
    }
    let mut short: String = one.chars().take(MAX_LABEL - 1).collect();
    short.push('…');
    short
}

/// Mermaid's entity escapes for text inside a quoted label: `#` first, since the others
/// produce it.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '`' => out.push_str("#96;"),
            '|' => out.push_str("#124;"),
            '&' => out.push_str("#38;"),
            c => out.push(c),
        }
    }
    out
}
