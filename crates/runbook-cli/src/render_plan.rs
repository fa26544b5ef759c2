//! Rendering a plan for people: a terminal view, and a Markdown pull-request comment with a
//! Mermaid flowchart and every step in full (docs, checklists, captures, branches,
//! sub-playbooks collapsible), escaped so that GitHub shows all of it.

use std::fmt::Write;

use runbook_exec::plan::{Plan, PlanStep, PlanValue, StepAction, duration_text};
use runbook_transcript::text::one_line;

use crate::md;
use crate::style::Style;

/// The terminal view.
pub fn human(plan: &Plan, s: Style) -> String {
    let mut out = String::new();
    let mut meta = vec![plan.name.clone()];
    meta.extend(plan.version.clone());
    meta.extend(plan.severity.clone());
    let _ = writeln!(out, "{}  ({})", s.bold(&plan.title), meta.join(" "));
    let _ = writeln!(out, "{} {}", s.dim("file     "), plan.file);
    if !plan.owners.is_empty() {
        let _ = writeln!(out, "{} {}", s.dim("owners   "), plan.owners.join(", "));
    }
    if let Some(inv) = &plan.inventory {
        let _ = writeln!(out, "{} {inv}", s.dim("inventory"));
    }
    human_values(&mut out, &plan.values, "", s);
    if !plan.escalation.is_empty() {
        let _ = writeln!(out, "\n{}", s.bold("Escalation"));
        for e in &plan.escalation {
            let _ = writeln!(
                out,
                "  {:<12} → {}: {}",
                e.timing(),
                e.notify.join(", "),
                one_line(&e.message)
            );
            if let Some(when) = &e.when {
                let _ = writeln!(out, "  {:<12}   {}", "", s.dim(&format!("when {when}")));
            }
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

fn human_values(out: &mut String, values: &[PlanValue], pad: &str, s: Style) {
    if values.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{pad}{}", s.bold("Values"));
    let width = values
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(0);
    for p in values {
        let origin = match p.origin {
            Some(origin) if p.set => s.dim(&format!("({origin})")),
            _ => s.warning("(not set)"),
        };
        let _ = writeln!(
            out,
            "{pad}  {:<width$}  {}  {origin}",
            p.name,
            one_line(&p.text),
        );
    }
}

/// A step's title: `id · name`, or the id alone.
pub fn title(step: &PlanStep) -> String {
    if step.name == step.id {
        step.id.clone()
    } else {
        format!("{} · {}", step.id, step.name)
    }
}

fn human_step(out: &mut String, step: &PlanStep, depth: usize, s: Style) {
    let pad = "  ".repeat(depth);
    let more = format!("{pad}   ");
    let _ = writeln!(
        out,
        "{pad}{} {}  {}",
        s.bold(&step.number),
        s.bold(&title(step)),
        s.dim(&format!("[{} · {}]", step.action.keyword(), step.target))
    );
    for line in human_details(step, s) {
        let _ = writeln!(out, "{more}{line}");
    }
    for child in &step.children {
        human_step(out, child, depth + 1, s);
    }
    if let Some(sub) = &step.playbook {
        for child in &sub.steps {
            human_step(out, child, depth + 1, s);
        }
        if !sub.finally.is_empty() {
            let _ = writeln!(out, "{more}{}", s.dim("finally:"));
            for child in &sub.finally {
                human_step(out, child, depth + 1, s);
            }
        }
    }
}

/// The lines under a step's title in the terminal view (also used by the diff).
pub fn human_details(step: &PlanStep, s: Style) -> Vec<String> {
    let mut lines = Vec::new();
    for block in &step.blocks {
        lines.push(format!("in block   {block}"));
    }
    if let Some(for_each) = &step.for_each {
        lines.push(format!("for each   {for_each}"));
    }
    if let Some(when) = &step.when {
        lines.push(format!("only when  {when}"));
    }
    if let Some(confirm) = &step.confirm {
        lines.push(format!("{}  {confirm}", s.warning("confirm")));
    }
    if let Some(danger) = &step.danger {
        lines.push(format!(
            "{}  type `{}` to run it",
            s.error("DESTRUCTIVE"),
            danger.confirm_phrase
        ));
    }
    match step.action {
        StepAction::Run => {
            for (i, line) in step.detail().lines().enumerate() {
                let lead = if i == 0 { "$ " } else { "  " };
                lines.push(s.command(&format!("{lead}{line}")));
            }
        }
        StepAction::Manual | StepAction::Report => {
            for line in step.detail().lines() {
                lines.push(format!("│ {line}"));
            }
        }
        StepAction::Parallel => {}
        StepAction::Wait | StepAction::Playbook => {
            lines.push(format!("{} {}", step.action.keyword(), step.detail()));
        }
        StepAction::Notify => {
            if let Some(notify) = &step.notify {
                let report = if notify.report {
                    " (with the report so far)"
                } else {
                    ""
                };
                lines.push(format!("notify   {}{report}", notify.channels.join(", ")));
            }
            for line in step.detail().lines() {
                lines.push(format!("│ {line}"));
            }
        }
        StepAction::Fail | StepAction::Succeed => {
            let ends = if step.action == StepAction::Fail {
                s.error("ends the run: failed")
            } else {
                "ends the run: succeeded".to_owned()
            };
            lines.push(format!("{ends}  {}", step.detail()));
        }
    }
    lines.extend(human_fan_out(step, s));
    for item in &step.checklist {
        lines.push(format!("[ ] {item}"));
    }
    for input in &step.inputs {
        lines.push(format!("asks     {}: {}", input.name, input.prompt));
    }
    for (name, value) in &step.env {
        lines.push(format!("env      {name}={value}"));
    }
    let join = |items: Vec<String>| (!items.is_empty()).then(|| items.join("; "));
    let rows: [(&str, Option<String>); 8] = [
        (
            "expect",
            join(
                step.expect
                    .iter()
                    .map(std::string::ToString::to_string)
                    .collect(),
            ),
        ),
        (
            "capture",
            join(
                step.captures
                    .iter()
                    .map(std::string::ToString::to_string)
                    .collect(),
            ),
        ),
        (
            "checks",
            join(
                step.checks
                    .iter()
                    .map(std::string::ToString::to_string)
                    .collect(),
            ),
        ),
        (
            "retry",
            step.retry.as_ref().map(std::string::ToString::to_string),
        ),
        ("timeout", step.timeout_ms.map(duration_text)),
        (
            "terminal",
            step.interactive.then(|| {
                "handed to the command (interactive); only its exit is recorded".to_owned()
            }),
        ),
        (
            "follow",
            step.follow_ms
                .map(|f| format!("{}, then stopped", duration_text(f))),
        ),
        (
            "watch",
            step.watch
                .as_ref()
                .filter(|_| !watch_unset(step))
                .map(std::string::ToString::to_string),
        ),
    ];
    for (label, value) in rows {
        if let Some(value) = value {
            lines.push(format!("{label:<8} {value}"));
        }
    }
    for (field, text) in unset_durations(step) {
        lines.push(format!("{:<8} {field} {text}", "unset"));
    }
    if let Some(target) = &step.on_success {
        lines.push(format!("on ok    → {target}"));
    }
    let failure = step.on_failure.to_string();
    if failure != "abort" {
        lines.push(format!("on fail  {failure}"));
    }
    for error in &step.errors {
        lines.push(format!("{}  {error}", s.error("error")));
    }
    lines
}

/// "1 host differs", "2 hosts differ".
fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 host {one}")
    } else {
        format!("{n} hosts {many}")
    }
}

/// A fan-out's lines: batches and `max_fail`, then each host whose command differs.
fn human_fan_out(step: &PlanStep, s: Style) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(fan) = step.target.fan_out() {
        lines.push(format!("fan-out  {fan}"));
    }
    if !step.target.commands.is_empty() {
        lines.push(format!(
            "{} (its inventory vars); the command above runs on the others:",
            plural(step.target.commands.len(), "differs", "differ")
        ));
    }
    for (host, command) in &step.target.commands {
        lines.push(format!("  on {host}:"));
        for (i, line) in command.lines().enumerate() {
            let lead = if i == 0 { "    $ " } else { "      " };
            lines.push(s.command(&format!("{lead}{line}")));
        }
    }
    lines
}

/// The pull-request comment: summary, values, escalation, the flowchart, then every step.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Plan: {}\n", md::inline(&plan.title));
    let _ = writeln!(out, "{}\n", facts(plan));
    if let Some(summary) = &plan.summary {
        let _ = writeln!(out, "{}\n", quote(&md::prose(summary)));
    }
    let destructive: Vec<&PlanStep> = plan
        .all_steps()
        .into_iter()
        .filter(|s| s.danger.is_some())
        .collect();
    if !destructive.is_empty() {
        let _ = writeln!(out, "> [!WARNING]");
        let _ = writeln!(
            out,
            "> **{} destructive step{}**, each asks for a typed confirmation: {}\n",
            destructive.len(),
            if destructive.len() == 1 { "" } else { "s" },
            destructive
                .iter()
                .map(|s| format!("{} {}", s.number, md::code(&s.path)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let unset = plan.all_unset();
    if !unset.is_empty() {
        let _ = writeln!(out, "> [!NOTE]");
        let _ = writeln!(
            out,
            "> Not set here (a run asks for {}): {}\n",
            if unset.len() == 1 { "it" } else { "them" },
            unset
                .iter()
                .map(|n| md::code(n))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    markdown_values(&mut out, &plan.values, "###");
    if !plan.escalation.is_empty() {
        let _ = writeln!(out, "### Escalation\n");
        for e in &plan.escalation {
            let when = e
                .when
                .as_ref()
                .map(|w| format!(" (when {})", md::code(w)))
                .unwrap_or_default();
            let every = e
                .every
                .as_ref()
                .map(|every| format!(", every **{every}**"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "- after **{}**{every}{when} → {}: {}",
                e.after,
                e.notify
                    .iter()
                    .map(|c| md::code(c))
                    .collect::<Vec<_>>()
                    .join(", "),
                md::inline(&e.message)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "### Flow\n\n```mermaid\n{}```\n\n{}\n",
        crate::mermaid::chart(plan),
        crate::mermaid::LEGEND
    );
    let _ = writeln!(out, "### Steps\n");
    for step in &plan.steps {
        markdown_step(&mut out, step, 4);
    }
    if !plan.finally.is_empty() {
        let _ = writeln!(out, "### Finally (always runs)\n");
        for step in &plan.finally {
            markdown_step(&mut out, step, 4);
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn facts(plan: &Plan) -> String {
    let mut facts = vec![md::code(&plan.name)];
    facts.extend(
        plan.version
            .as_ref()
            .map(|v| format!("version {}", md::inline(v))),
    );
    facts.extend(plan.severity.clone());
    facts.push(format!("file {}", md::code(&plan.file)));
    if !plan.owners.is_empty() {
        let owners: Vec<String> = plan.owners.iter().map(|o| md::inline(o)).collect();
        facts.push(format!("owners {}", owners.join(", ")));
    }
    if let Some(inv) = &plan.inventory {
        facts.push(format!("inventory {}", md::code(inv)));
    }
    facts.join(" · ")
}

fn markdown_values(out: &mut String, values: &[PlanValue], heading: &str) {
    if values.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{heading} Values\n\n| name | value | from |\n|---|---|---|"
    );
    for p in values {
        let (value, from) = if p.set {
            (
                md::cell_code(&p.text),
                p.origin.map(|o| o.to_string()).unwrap_or_default(),
            )
        } else {
            (md::cell_code(&p.text), "**not set**".to_owned())
        };
        let _ = writeln!(out, "| {} | {value} | {from} |", md::cell_code(&p.name));
    }
    out.push('\n');
}

/// One step in full: heading, warnings, doc, the action, then a list of its modifiers.
pub fn markdown_step(out: &mut String, step: &PlanStep, level: usize) {
    let hashes = "#".repeat(level.min(6));
    let name = if step.name == step.id {
        String::new()
    } else {
        format!(" · {}", md::inline(&step.name))
    };
    let _ = writeln!(
        out,
        "{hashes} {} {}{name}\n",
        step.number,
        md::code(&step.id)
    );
    out.push_str(&markdown_body(step));
    for child in &step.children {
        markdown_step(out, child, level + 1);
    }
    if let Some(sub) = &step.playbook {
        let count = sub.steps.len() + sub.finally.len();
        let _ = writeln!(
            out,
            "<details><summary>Sub-playbook <code>{}</code>: {} ({count} step{})</summary>\n",
            md::html(&sub.file),
            md::html(&sub.title),
            if count == 1 { "" } else { "s" }
        );
        markdown_values(out, &sub.values, &"#".repeat((level + 1).min(6)));
        for child in &sub.steps {
            markdown_step(out, child, level + 1);
        }
        if !sub.finally.is_empty() {
            let _ = writeln!(out, "*finally:*\n");
            for child in &sub.finally {
                markdown_step(out, child, level + 1);
            }
        }
        let _ = writeln!(out, "</details>\n");
    }
}

/// Everything under a step's heading (also used by the diff for added and removed steps).
pub fn markdown_body(step: &PlanStep) -> String {
    let mut out = String::new();
    let mut facts = vec![format!(
        "{} on {}",
        step.action.keyword(),
        md::inline(&step.target.to_string())
    )];
    for block in &step.blocks {
        let when = block
            .when
            .as_ref()
            .map(|w| format!(" when {}", md::code(w)))
            .unwrap_or_default();
        facts.push(format!("in block {}{when}", md::code(&block.id)));
    }
    if let Some(for_each) = &step.for_each {
        facts.push(format!("for each {}", md::code(&for_each.to_string())));
    }
    if let Some(when) = &step.when {
        facts.push(format!("only when {}", md::code(when)));
    }
    let _ = writeln!(out, "*{}*\n", facts.join(" · "));
    if let Some(danger) = &step.danger {
        let _ = writeln!(
            out,
            "> [!CAUTION]\n> **Destructive**: the operator types {} to run it.\n",
            md::code(&danger.confirm_phrase)
        );
    }
    if let Some(confirm) = &step.confirm {
        let _ = writeln!(out, "**Asks first:** {}\n", md::inline(confirm));
    }
    if let Some(doc) = &step.doc {
        let _ = writeln!(out, "{}\n", quote(&md::prose(doc)));
    }
    match step.action {
        StepAction::Run => {
            out.push_str(&md::fence("sh", &step.detail()));
            if !step.target.commands.is_empty() {
                let _ = writeln!(
                    out,
                    "\nWhere the inventory's vars make it differ (the command above runs on the other hosts):"
                );
            }
            for (host, command) in &step.target.commands {
                let _ = writeln!(out, "\non {}:\n", md::code(host));
                out.push_str(&md::fence("sh", command));
            }
        }
        StepAction::Manual | StepAction::Report => {
            let _ = writeln!(out, "{}", md::prose(&step.detail()));
        }
        StepAction::Wait => {
            let _ = writeln!(out, "Waits {}.", step.detail());
        }
        StepAction::Notify => {
            if let Some(notify) = &step.notify {
                let channels: Vec<String> = notify.channels.iter().map(|c| md::code(c)).collect();
                let report = if notify.report {
                    ", with the run's report so far"
                } else {
                    ""
                };
                let _ = writeln!(out, "Notifies {}{report}:\n", channels.join(", "));
            }
            let _ = writeln!(out, "{}", quote(&md::prose(&step.detail())));
        }
        StepAction::Fail => {
            let _ = writeln!(
                out,
                "Ends the run as **failed**: {}",
                md::inline(&step.detail())
            );
        }
        StepAction::Succeed => {
            let _ = writeln!(
                out,
                "Ends the run as **succeeded** (`finally` still runs): {}",
                md::inline(&step.detail())
            );
        }
        StepAction::Parallel => {
            let _ = writeln!(
                out,
                "Runs {} steps at once; the group fails if one of them fails.",
                step.children.len()
            );
        }
        StepAction::Playbook => {
            let with: Vec<String> = step
                .with
                .iter()
                .map(|(k, v)| format!("{} = {}", md::code(k), md::code(v)))
                .collect();
            let file = step
                .playbook
                .as_ref()
                .map_or(String::new(), |p| p.file.clone());
            let _ = write!(out, "Runs the playbook {}", md::code(&file));
            if !with.is_empty() {
                let _ = write!(out, " with {}", with.join(", "));
            }
            out.push_str(".\n");
        }
    }
    out.push('\n');
    let mut items: Vec<String> = Vec::new();
    if !step.checklist.is_empty() {
        let list: Vec<String> = step
            .checklist
            .iter()
            .map(|c| format!("  - [ ] {}", md::inline(c)))
            .collect();
        items.push(format!("checklist:\n{}", list.join("\n")));
    }
    for input in &step.inputs {
        let mut text = format!(
            "asks {}: {}",
            md::code(&input.name),
            md::inline(&input.prompt)
        );
        if input.secret {
            text.push_str(" (secret)");
        }
        items.push(text);
    }
    for (name, value) in &step.env {
        items.push(format!("env {}", md::code(&format!("{name}={value}"))));
    }
    for e in &step.expect {
        items.push(format!("expect {}", md::code(&e.to_string())));
    }
    for c in &step.captures {
        items.push(format!("capture {}", md::code(&c.to_string())));
    }
    for c in &step.checks {
        let mut text = format!("check {}", md::code(&c.to_string()));
        if let Some(message) = &c.message {
            text.push_str(&format!(": {}", md::inline(message)));
        }
        items.push(text);
    }
    if let Some(r) = &step.retry {
        items.push(format!("retry {r}"));
    }
    if let Some(t) = step.timeout_ms {
        items.push(format!("timeout {}", duration_text(t)));
    }
    if step.interactive {
        items.push(
            "**interactive**: the command gets the terminal; only its exit is recorded".to_owned(),
        );
    }
    if let Some(f) = step.follow_ms {
        items.push(format!("follow {}, then stopped", duration_text(f)));
    }
    if let Some(w) = step.watch.as_ref().filter(|_| !watch_unset(step)) {
        items.push(format!("watch {w}"));
    }
    for (field, text) in unset_durations(step) {
        items.push(format!("{field} {} (a param not set)", md::inline(text)));
    }
    if let Some(target) = &step.on_success {
        items.push(format!("**on success** → {}", md::code(target)));
    }
    if let Some(failure) = markdown_failure(step) {
        items.push(format!("**on failure**: {failure}"));
    }
    for error in &step.errors {
        items.push(format!("**error**: {}", md::inline(error)));
    }
    if let Some(fan) = step.target.fan_out() {
        items.insert(0, format!("fan-out: {}", md::inline(&fan)));
    }
    for item in items {
        let _ = writeln!(out, "- {item}");
    }
    if !out.ends_with("\n\n") {
        out.push('\n');
    }
    out
}

/// Where a failure goes, when it is not the default (stop the run).
fn markdown_failure(step: &PlanStep) -> Option<String> {
    use runbook_exec::plan::FailureThen;
    let f = &step.on_failure;
    let then = match (f.then, &f.goto) {
        (FailureThen::Goto, Some(target)) => format!("go to {}", md::code(target)),
        (FailureThen::Continue, _) => "continue".to_owned(),
        _ if f.escalate.is_some() => "stop the run".to_owned(),
        _ => return None,
    };
    Some(match &f.escalate {
        Some(channel) => format!("page {}, then {then}", md::code(channel)),
        None => then,
    })
}

/// A block quote of Markdown (empty lines keep the `>`).
fn quote(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                ">".to_owned()
            } else {
                format!("> {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The durations of a step that read an unset param (the wait is its detail already).
fn unset_durations(step: &PlanStep) -> impl Iterator<Item = (&str, &String)> {
    step.unset_durations
        .iter()
        .filter(|(field, _)| *field != "wait")
        .map(|(field, text)| (field.as_str(), text))
}

/// Whether a watch's durations read an unset param: its numbers are not known, and the
/// unset lines say what they read.
fn watch_unset(step: &PlanStep) -> bool {
    step.unset_durations.keys().any(|k| k.starts_with("watch."))
}
