//! Rendering a plan diff: a terminal view (a word diff in git's `[-old-]{+new+}` notation,
//! coloured when it may be) and a Markdown pull-request comment (destructive changes first in
//! a caution box, a table of steps, then each change with `diff` blocks GitHub colours).

use std::fmt::Write;

use runbook_exec::plan::PlanValue;
use runbook_exec::plan_diff::{
    Change, DestructiveChange, DestructiveKind, FieldChange, PlanDiff, Side, StepChange, WordOp,
};
use runbook_transcript::text::one_line;

use crate::md;
use crate::render_plan::{human_details, markdown_body};
use crate::style::Style;

/// The terminal view.
pub fn human(diff: &PlanDiff, s: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} {}", s.bold("Plan diff"), title(diff));
    let _ = writeln!(out, "  {}  {}", s.dim("old"), side_text(&diff.old));
    let _ = writeln!(out, "  {}  {}", s.dim("new"), side_text(&diff.new));
    if diff.is_empty() {
        let _ = writeln!(out, "\nNo change to the plan.");
        return out;
    }
    if !diff.destructive.is_empty() {
        out.push('\n');
        for d in &diff.destructive {
            let _ = writeln!(
                out,
                "{}  {} {} · {}: {}",
                s.error("DESTRUCTIVE"),
                d.number,
                d.path,
                d.name,
                destructive_words(d)
            );
            if let Some(command) = &d.command {
                let _ = writeln!(
                    out,
                    "             {}",
                    s.command(&format!("$ {}", one_line(command)))
                );
            }
        }
    }
    if !diff.metadata.is_empty() {
        let _ = writeln!(out, "\n{}", s.bold("Metadata"));
        for f in &diff.metadata {
            human_field(&mut out, f, "  ~ ", s);
        }
    }
    if !diff.values.is_empty() {
        let _ = writeln!(out, "\n{}", s.bold("Values"));
        for v in &diff.values {
            let text = |p: &Option<PlanValue>| p.as_ref().map(value_text).unwrap_or_default();
            let line = match v.change {
                Change::Added => s.ok(&format!("  + {}  {}", v.name, text(&v.new))),
                Change::Removed => s.error(&format!("  - {}  {}", v.name, text(&v.old))),
                Change::Changed => format!("  ~ {}  {} → {}", v.name, text(&v.old), text(&v.new)),
            };
            let _ = writeln!(out, "{line}");
        }
    }
    if !diff.escalation.is_empty() {
        let _ = writeln!(out, "\n{}", s.bold("Escalation"));
        for r in &diff.escalation {
            let rung = |r: &runbook_exec::plan::PlanRung| {
                format!(
                    "{}{} → {}: {}",
                    r.timing(),
                    r.when
                        .as_ref()
                        .map(|w| format!(" when {w}"))
                        .unwrap_or_default(),
                    r.notify.join(", "),
                    one_line(&r.message)
                )
            };
            if let Some(old) = &r.old {
                let _ = writeln!(out, "{}", s.error(&format!("  - {}", rung(old))));
            }
            if let Some(new) = &r.new {
                let _ = writeln!(out, "{}", s.ok(&format!("  + {}", rung(new))));
            }
        }
    }
    let _ = writeln!(out, "\n{}  {}", s.bold("Steps"), counts(diff));
    for change in &diff.steps {
        human_step(&mut out, change, s);
    }
    out
}

fn human_step(out: &mut String, change: &StepChange, s: Style) {
    let pad = "      ";
    match change.change {
        Change::Added | Change::Removed => {
            let (mark, paint): (&str, fn(&Style, &str) -> String) =
                if change.change == Change::Added {
                    ("+", Style::ok)
                } else {
                    ("-", Style::error)
                };
            let Some(step) = &change.step else { return };
            let _ = writeln!(
                out,
                "  {}  {}",
                paint(
                    &s,
                    &format!("{mark} {} {}", step.number, crate::render_plan::title(step))
                ),
                s.dim(&format!("[{} · {}]", step.action.keyword(), step.target))
            );
            for line in human_details(step, s) {
                let _ = writeln!(out, "{pad}{line}");
            }
        }
        Change::Changed => {
            let number = change.new_number.as_deref().unwrap_or("");
            let name = if change.name == change.id {
                change.id.clone()
            } else {
                format!("{} · {}", change.id, change.name)
            };
            let mark = if change.fields.is_empty() { "↕" } else { "~" };
            let _ = writeln!(out, "  {}", s.bold(&format!("{mark} {number} {name}")));
            if let Some(moved) = &change.moved {
                let _ = writeln!(out, "{pad}moved     {} → {}", moved.from, moved.to);
            }
            for f in &change.fields {
                human_field(out, f, pad, s);
            }
        }
    }
}

fn human_field(out: &mut String, f: &FieldChange, pad: &str, s: Style) {
    let label = field_label(&f.field);
    let body = if f.words.is_empty() {
        format!(
            "{} → {}",
            f.old_text.as_deref().unwrap_or("(none)"),
            f.new_text.as_deref().unwrap_or("(none)")
        )
    } else {
        let mut text = String::new();
        for w in &f.words {
            match w.op {
                WordOp::Equal => text.push_str(&w.text),
                WordOp::Delete => text.push_str(&s.error(&format!("[-{}-]", w.text))),
                WordOp::Insert => text.push_str(&s.ok(&format!("{{+{}+}}", w.text))),
            }
        }
        text
    };
    let indent = format!("{pad}{:<9} ", "");
    for (i, line) in body.lines().enumerate() {
        if i == 0 {
            let _ = writeln!(out, "{pad}{label:<9} {line}");
        } else {
            let _ = writeln!(out, "{indent}{line}");
        }
    }
}

/// How a field is called in a diff.
fn field_label(field: &str) -> &str {
    match field {
        "timeout_ms" => "timeout",
        "wait_ms" => "wait",
        "on_failure" => "on fail",
        "on_success" => "on ok",
        "max_visits" => "visits",
        other => other,
    }
}

fn destructive_words(d: &DestructiveChange) -> String {
    let phrase = d
        .confirm_phrase
        .as_ref()
        .map(|p| format!(" (type `{p}` to run it)"))
        .unwrap_or_default();
    match d.kind {
        DestructiveKind::Added => format!("added{phrase}"),
        DestructiveKind::Changed => format!("changed{phrase}"),
        DestructiveKind::Marked => format!("now marked destructive{phrase}"),
        DestructiveKind::Unmarked => {
            "no longer marked destructive: it runs without a typed confirmation".to_owned()
        }
    }
}

fn value_text(v: &PlanValue) -> String {
    let origin = match v.origin {
        Some(o) if v.set => o.to_string(),
        _ => "not set".to_owned(),
    };
    format!("{} ({origin})", one_line(&v.text))
}

fn title(diff: &PlanDiff) -> String {
    diff.new
        .title
        .clone()
        .or_else(|| diff.old.title.clone())
        .unwrap_or_else(|| diff.new.file.clone())
}

fn side_text(side: &Side) -> String {
    let mut text = match &side.revision {
        Some(rev) => format!("{} at {rev}", side.file),
        None => side.file.clone(),
    };
    if side.exists {
        let mut meta: Vec<String> = side.name.iter().cloned().collect();
        meta.extend(side.version.clone());
        if !meta.is_empty() {
            text.push_str(&format!("  ({})", meta.join(" ")));
        }
    } else {
        text.push_str("  (does not exist)");
    }
    text
}

fn counts(diff: &PlanDiff) -> String {
    let s = &diff.summary;
    format!(
        "{} added, {} removed, {} moved, {} changed, {} unchanged",
        s.added, s.removed, s.moved, s.changed, s.unchanged
    )
}

/// The pull-request comment.
pub fn markdown(diff: &PlanDiff) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Plan diff: {}\n", md::inline(&title(diff)));
    let change = match (&diff.old.revision, &diff.new.revision) {
        (Some(old), Some(new)) => format!(
            "{} · {} → {}",
            md::code(&diff.new.file),
            md::code(old),
            md::code(new)
        ),
        (Some(old), None) => format!(
            "{} · {} → this change",
            md::code(&diff.new.file),
            md::code(old)
        ),
        _ => format!(
            "{} → {}",
            md::code(&diff.old.file),
            md::code(&diff.new.file)
        ),
    };
    let existence = match (diff.old.exists, diff.new.exists) {
        (false, true) => " · **new playbook**",
        (true, false) => " · **playbook deleted**",
        _ => "",
    };
    let _ = writeln!(out, "{change}{existence}\n");
    if diff.is_empty() {
        let _ = writeln!(out, "No change to the plan.");
        return out;
    }
    if !diff.destructive.is_empty() {
        let _ = writeln!(out, "> [!CAUTION]");
        let _ = writeln!(out, "> **Destructive steps added or changed**");
        let _ = writeln!(out, ">");
        for d in &diff.destructive {
            let command = d
                .command
                .as_ref()
                .map(|c| format!(": {}", md::code(&one_line(c))))
                .unwrap_or_default();
            let name = if d.name == d.path.rsplit('/').next().unwrap_or(&d.path) {
                String::new()
            } else {
                format!(" {}", md::inline(&d.name))
            };
            let _ = writeln!(
                out,
                "> - {} {}{name}: {}{command}",
                d.number,
                md::code(&d.path),
                md::inline(&destructive_words(d)),
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "**{}**\n", counts(diff));
    if !diff.metadata.is_empty() {
        let _ = writeln!(
            out,
            "### Metadata\n\n| field | before | after |\n|---|---|---|"
        );
        for f in &diff.metadata {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                f.field,
                md::inline(f.old_text.as_deref().unwrap_or("")),
                md::inline(f.new_text.as_deref().unwrap_or(""))
            );
        }
        out.push('\n');
    }
    if !diff.values.is_empty() {
        let _ = writeln!(
            out,
            "### Values\n\n| | name | before | after |\n|---|---|---|---|"
        );
        for v in &diff.values {
            let cell = |p: &Option<PlanValue>| match p {
                Some(p) => {
                    let origin = match p.origin {
                        Some(o) if p.set => o.to_string(),
                        _ => "**not set**".to_owned(),
                    };
                    format!("{} ({origin})", md::cell_code(&p.text))
                }
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                mark(v.change),
                md::cell_code(&v.name),
                cell(&v.old),
                cell(&v.new)
            );
        }
        out.push('\n');
    }
    if !diff.escalation.is_empty() {
        let _ = writeln!(out, "### Escalation\n");
        for r in &diff.escalation {
            let rung = |r: &runbook_exec::plan::PlanRung| {
                format!(
                    "after **{}**{}{} → {}: {}",
                    r.after,
                    r.every
                        .as_ref()
                        .map(|e| format!(", every **{e}**"))
                        .unwrap_or_default(),
                    r.when
                        .as_ref()
                        .map(|w| format!(" (when {})", md::code(w)))
                        .unwrap_or_default(),
                    r.notify
                        .iter()
                        .map(|c| md::code(c))
                        .collect::<Vec<_>>()
                        .join(", "),
                    md::inline(&r.message)
                )
            };
            match (&r.old, &r.new) {
                (Some(old), Some(new)) => {
                    let _ = writeln!(out, "- ✏️ ~~{}~~<br>{}", rung(old), rung(new));
                }
                (Some(old), None) => {
                    let _ = writeln!(out, "- ➖ ~~{}~~", rung(old));
                }
                (None, Some(new)) => {
                    let _ = writeln!(out, "- ➕ {}", rung(new));
                }
                (None, None) => {}
            }
        }
        out.push('\n');
    }
    if diff.steps.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "### Steps\n\n| | # | step | change |\n|---|---|---|---|"
    );
    for c in &diff.steps {
        let number = match (&c.old_number, &c.new_number, &c.moved) {
            (_, Some(new), Some(m)) => format!("{new} (was {})", m.from),
            (_, Some(new), None) => new.clone(),
            (Some(old), None, _) => old.clone(),
            _ => String::new(),
        };
        let what = match c.change {
            Change::Added => "added".to_owned(),
            Change::Removed => "removed".to_owned(),
            Change::Changed => {
                let mut parts: Vec<String> = Vec::new();
                if c.moved.is_some() {
                    parts.push("moved".to_owned());
                }
                parts.extend(c.fields.iter().map(|f| field_label(&f.field).to_owned()));
                parts.join(", ")
            }
        };
        let _ = writeln!(
            out,
            "| {} | {number} | {}{} | {what} |",
            step_mark(c),
            md::cell_code(&c.path),
            if c.name == c.id {
                String::new()
            } else {
                format!(" {}", md::inline(&c.name))
            }
        );
    }
    out.push('\n');
    for c in &diff.steps {
        markdown_step(&mut out, c);
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn mark(change: Change) -> &'static str {
    match change {
        Change::Added => "➕",
        Change::Removed => "➖",
        Change::Changed => "✏️",
    }
}

fn step_mark(c: &StepChange) -> &'static str {
    match c.change {
        Change::Changed if c.fields.is_empty() => "↕️",
        other => mark(other),
    }
}

fn markdown_step(out: &mut String, c: &StepChange) {
    let number = c
        .new_number
        .as_deref()
        .or(c.old_number.as_deref())
        .unwrap_or("");
    let name = if c.name == c.id {
        String::new()
    } else {
        format!(" · {}", md::inline(&c.name))
    };
    let _ = writeln!(
        out,
        "#### {} {number} {}{name}\n",
        step_mark(c),
        md::code(&c.path)
    );
    match c.change {
        Change::Added => {
            if let Some(step) = &c.step {
                out.push_str(&markdown_body(step));
            }
        }
        Change::Removed => {
            if let Some(step) = &c.step {
                let _ = writeln!(
                    out,
                    "<details><summary>Removed step</summary>\n\n{}</details>\n",
                    markdown_body(step)
                );
            }
        }
        Change::Changed => {
            if let Some(moved) = &c.moved {
                let _ = writeln!(out, "Moved from {} to {}.\n", moved.from, moved.to);
            }
            let mut items = Vec::new();
            for f in &c.fields {
                let label = field_label(&f.field);
                let multi = f.old_text.as_deref().unwrap_or("").contains('\n')
                    || f.new_text.as_deref().unwrap_or("").contains('\n');
                if !f.words.is_empty() || multi {
                    let _ = write!(out, "**{label}**\n\n{}\n", diff_block(f));
                } else {
                    let text = |t: &Option<String>| match t {
                        Some(t) => md::code(t),
                        None => "*(none)*".to_owned(),
                    };
                    items.push(format!(
                        "**{label}**: {} → {}",
                        text(&f.old_text),
                        text(&f.new_text)
                    ));
                }
            }
            for item in &items {
                let _ = writeln!(out, "- {item}");
            }
            if !items.is_empty() {
                out.push('\n');
            }
        }
    }
}

/// A fenced `diff` block: removed lines, then added lines, unchanged lines as context.
fn diff_block(f: &FieldChange) -> String {
    let old = f.old_text.as_deref().unwrap_or("");
    let new = f.new_text.as_deref().unwrap_or("");
    let mut text = String::new();
    let diff = similar::TextDiff::from_lines(old, new);
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Equal => ' ',
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
        };
        let line = change.value().trim_end_matches('\n');
        let _ = writeln!(text, "{sign} {line}");
    }
    md::fence("diff", &text)
}
