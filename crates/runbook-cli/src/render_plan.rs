//! Rendering a plan for people: a terminal view and a Markdown pull-request comment with a
//! Mermaid flowchart of the order and the failure branches.

use std::fmt::Write;

use runbook_exec::plan::{Plan, PlanStep};

use crate::style::Style;

/// The terminal view.
pub fn human(plan: &Plan, s: Style) -> String {
    let mut out = String::new();
    let mut meta = vec![plan.name.clone()];
    meta.extend(plan.version.clone());
    meta.extend(plan.severity.clone());
    let _ = writeln!(out, "{}  ({})", s.bold(&plan.title), meta.join(" "));
    let _ = writeln!(out, "{} {}", s.dim("file     "), plan.file);
    if let Some(inv) = &plan.inventory {
        let _ = writeln!(out, "{} {inv}", s.dim("inventory"));
    }
    if !plan.params.is_empty() {
        let _ = writeln!(out, "\n{}", s.bold("Values"));
        let width = plan.params.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for p in &plan.params {
            let value = one_line(&p.value);
            let _ = writeln!(
                out,
                "  {:<width$}  {}  {}",
                p.name,
                value,
                s.dim(&format!("({})", p.origin))
            );
        }
    }
    if !plan.escalation.is_empty() {
        let _ = writeln!(out, "\n{}", s.bold("Escalation"));
        for e in &plan.escalation {
            let _ = writeln!(
                out,
                "  after {:<6} → {}: {}",
                e.after,
                e.notify.join(", "),
                one_line(&e.message)
            );
        }
    }
    let _ = writeln!(out, "\n{}", s.bold("Steps"));
    for step in &plan.steps {
        human_step(&mut out, step, 1, s);
    }
    if !plan.finally.is_empty() {
        let _ = writeln!(out, "\n{}", s.bold("Finally (always runs)"));
        for step in &plan.finally {
            human_step(&mut out, step, 1, s);
        }
    }
    out
}

fn human_step(out: &mut String, step: &PlanStep, depth: usize, s: Style) {
    let pad = "  ".repeat(depth);
    let more = format!("{pad}   ");
    let title = if step.name == step.id {
        step.id.clone()
    } else {
        format!("{} · {}", step.id, step.name)
    };
    let _ = writeln!(
        out,
        "{pad}{} {}  {}",
        s.bold(&step.number),
        s.bold(&title),
        s.dim(&format!("[{} · {}]", step.action, step.target))
    );
    if let Some(when) = &step.when {
        let _ = writeln!(out, "{more}only when  {when}");
    }
    if let Some(confirm) = &step.confirm {
        let _ = writeln!(out, "{more}{}  {confirm}", s.warning("confirm"));
    }
    if let Some(phrase) = &step.destructive {
        let _ = writeln!(
            out,
            "{more}{}  type `{phrase}` to run it",
            s.error("DESTRUCTIVE")
        );
    }
    match step.action {
        "run" => {
            for (i, line) in step.detail.lines().enumerate() {
                let lead = if i == 0 { "$ " } else { "  " };
                let _ = writeln!(out, "{more}{}", s.command(&format!("{lead}{line}")));
            }
        }
        "manual" | "report" => {
            for line in step.detail.lines() {
                let _ = writeln!(out, "{more}│ {line}");
            }
        }
        "parallel" => {}
        _ => {
            let _ = writeln!(out, "{more}{} {}", step.action, step.detail);
        }
    }
    for item in &step.checklist {
        let _ = writeln!(out, "{more}[ ] {item}");
    }
    for input in &step.inputs {
        let _ = writeln!(out, "{more}asks     {input}");
    }
    let rows: [(&str, Option<String>); 6] = [
        (
            "expect",
            (!step.expect.is_empty()).then(|| step.expect.join("; ")),
        ),
        (
            "capture",
            (!step.captures.is_empty()).then(|| step.captures.join("; ")),
        ),
        (
            "checks",
            (!step.checks.is_empty()).then(|| step.checks.join("; ")),
        ),
        ("retry", step.retry.clone()),
        ("timeout", step.timeout.clone()),
        ("watch", step.watch.clone()),
    ];
    for (label, value) in rows {
        if let Some(value) = value {
            let _ = writeln!(out, "{more}{label:<8} {value}");
        }
    }
    if let Some(target) = &step.on_success {
        let _ = writeln!(out, "{more}on ok    → {target}");
    }
    let mut failure = step.on_failure.clone();
    if let Some(channel) = &step.escalate {
        failure = format!("escalate to {channel}, then {failure}");
    }
    if failure != "abort" || step.escalate.is_some() {
        let _ = writeln!(out, "{more}on fail  {failure}");
    }
    if let Some(error) = &step.error {
        let _ = writeln!(out, "{more}{}  {error}", s.error("error"));
    }
    for child in &step.children {
        human_step(out, child, depth + 1, s);
    }
}

/// The pull-request comment: summary, values, escalation, a table of steps, the flowchart.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Plan: {}\n", md_text(&plan.title));
    let mut facts = vec![format!("`{}`", plan.name)];
    facts.extend(plan.version.as_ref().map(|v| format!("version {v}")));
    facts.extend(plan.severity.clone());
    facts.push(format!("file `{}`", plan.file));
    if let Some(inv) = &plan.inventory {
        facts.push(format!("inventory `{inv}`"));
    }
    let _ = writeln!(out, "{}\n", facts.join(" · "));
    if !plan.params.is_empty() {
        let _ = writeln!(out, "### Values\n\n| name | value | from |\n|---|---|---|");
        for p in &plan.params {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                p.name,
                md_code(&p.value),
                p.origin
            );
        }
        out.push('\n');
    }
    if !plan.escalation.is_empty() {
        let _ = writeln!(out, "### Escalation\n");
        for e in &plan.escalation {
            let _ = writeln!(
                out,
                "- after **{}** → {}: {}",
                e.after,
                e.notify.join(", "),
                md_text(&e.message)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "### Steps\n\n| # | step | runs on | action | expect | on failure |\n|---|---|---|---|---|---|"
    );
    let mut rows = Vec::new();
    flatten(&plan.steps, &mut rows);
    flatten(&plan.finally, &mut rows);
    for step in rows {
        let mut action = match step.action {
            "run" => md_code(&step.detail),
            "manual" => format!("manual: {}", md_text(&step.detail)),
            "report" => "report".to_owned(),
            "parallel" => step.detail.clone(),
            other => format!("{other} {}", md_code(&step.detail)),
        };
        if let Some(phrase) = &step.destructive {
            action.push_str(&format!("<br>⚠️ **destructive**: type {}", md_code(phrase)));
        }
        if let Some(confirm) = &step.confirm {
            action.push_str(&format!("<br>confirm: {}", md_text(confirm)));
        }
        if let Some(when) = &step.when {
            action.push_str(&format!("<br>only when {}", md_code(when)));
        }
        let mut expect: Vec<String> = step.expect.iter().map(|e| md_text(e)).collect();
        expect.extend(step.checks.iter().map(|c| md_text(c)));
        let mut extra = Vec::new();
        extra.extend(step.retry.as_ref().map(|r| format!("retry {r}")));
        extra.extend(step.timeout.as_ref().map(|t| format!("timeout {t}")));
        extra.extend(step.watch.as_ref().map(|w| format!("watch {w}")));
        expect.extend(extra);
        let mut failure = md_text(&step.on_failure);
        if let Some(channel) = &step.escalate {
            failure = format!("escalate {channel}, then {failure}");
        }
        let name = if step.name == step.id {
            format!("`{}`", step.id)
        } else {
            format!("`{}` {}", step.id, md_text(&step.name))
        };
        let _ = writeln!(
            out,
            "| {} | {name} | {} | {action} | {} | {failure} |",
            step.number,
            md_text(&step.target),
            expect.join("<br>")
        );
    }
    let _ = writeln!(out, "\n### Flow\n\n```mermaid\n{}```", mermaid(plan));
    out
}

fn flatten<'a>(steps: &'a [PlanStep], out: &mut Vec<&'a PlanStep>) {
    for step in steps {
        out.push(step);
        flatten(&step.children, out);
    }
}

/// A flowchart: solid arrows for the order, dotted ones for failure branches.
pub fn mermaid(plan: &Plan) -> String {
    let mut out = String::from("flowchart TD\n");
    let node = |prefix: &str, i: usize| format!("{prefix}{}", i + 1);
    let index_of = |steps: &[PlanStep], id: &str| steps.iter().position(|s| s.id == id);
    let _ = writeln!(out, "  start([start])");
    for (section, steps, prefix) in [("steps", &plan.steps, "s"), ("finally", &plan.finally, "f")] {
        if steps.is_empty() {
            continue;
        }
        if section == "finally" {
            let _ = writeln!(out, "  subgraph finally");
        }
        for (i, step) in steps.iter().enumerate() {
            let mut label = format!("{} {}", step.number, step.id);
            if step.name != step.id {
                label.push_str(&format!("<br/>{}", step.name));
            }
            let shape = match step.action {
                "manual" => ("[/", "/]"),
                "wait" => ("([", "])"),
                _ if step.destructive.is_some() => ("{{", "}}"),
                _ => ("[", "]"),
            };
            let _ = writeln!(
                out,
                "  {}{}\"{}\"{}",
                node(prefix, i),
                shape.0,
                mermaid_label(&label),
                shape.1
            );
        }
        if section == "finally" {
            let _ = writeln!(out, "  end");
        }
    }
    let _ = writeln!(out, "  done([done])");
    // Every edge comes from the engine's own decision (`next_ok`, `next_failed`).
    let has_stop = plan.steps.iter().any(|s| s.next_failed == "stop");
    if has_stop {
        let _ = writeln!(out, "  abort([abort])");
    }
    let end_main = if plan.finally.is_empty() {
        "done".to_owned()
    } else {
        "f1".to_owned()
    };
    let target = |id: &str| match id {
        "finally" => end_main.clone(),
        "stop" => "abort".to_owned(),
        id => index_of(&plan.steps, id).map_or_else(|| end_main.clone(), |t| node("s", t)),
    };
    let first = plan
        .steps
        .first()
        .map_or(end_main.clone(), |_| node("s", 0));
    let _ = writeln!(out, "  start --> {first}");
    for (i, step) in plan.steps.iter().enumerate() {
        let here = node("s", i);
        let next = if i + 1 < plan.steps.len() {
            node("s", i + 1)
        } else {
            end_main.clone()
        };
        let success = target(&step.next_ok);
        let _ = writeln!(out, "  {here} --> {success}");
        if step.when.is_some() && success != next {
            let _ = writeln!(out, "  {here} -. skipped .-> {next}");
        }
        let label = if step.escalate.is_some() {
            "fail, escalate"
        } else {
            "fail"
        };
        let _ = writeln!(out, "  {here} -. {label} .-> {}", target(&step.next_failed));
    }
    if has_stop && !plan.finally.is_empty() {
        let _ = writeln!(out, "  abort --> f1");
    }
    for i in 0..plan.finally.len() {
        let next = if i + 1 < plan.finally.len() {
            node("f", i + 1)
        } else {
            "done".to_owned()
        };
        let _ = writeln!(out, "  {} --> {next}", node("f", i));
    }
    out
}

fn mermaid_label(text: &str) -> String {
    text.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
        .replace("#lt;br/#gt;", "<br/>")
}

fn one_line(text: &str) -> String {
    let first = text.lines().next().unwrap_or("");
    if text.lines().nth(1).is_some() {
        format!("{first} …")
    } else {
        first.to_owned()
    }
}

/// Text for a table cell: pipes escaped, line breaks as <br>.
fn md_text(text: &str) -> String {
    text.trim_end().replace('|', "\\|").replace('\n', "<br>")
}

/// A code span for a table cell; multi-line commands keep their breaks.
fn md_code(text: &str) -> String {
    let text = text.trim_end();
    if text.is_empty() {
        return String::new();
    }
    let ticks = if text.contains('`') { "``" } else { "`" };
    text.lines()
        .map(|line| format!("{ticks}{}{ticks}", line.replace('|', "\\|")))
        .collect::<Vec<_>>()
        .join("<br>")
}
