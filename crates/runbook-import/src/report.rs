//! The import report as Markdown: per playbook, what was mapped and what needs a human; then
//! the sections that did not become playbooks.

use std::fmt::Write as _;

use crate::{Import, NoteKind};

pub fn render(import: &Import) -> String {
    let mut out = String::new();
    let steps: usize = import
        .playbooks
        .iter()
        .map(|p| p.run_steps + p.manual_steps + p.wait_steps)
        .sum();
    let human: usize = import
        .playbooks
        .iter()
        .map(|p| p.notes.iter().filter(|n| n.kind.needs_human()).count())
        .sum();
    let _ = writeln!(out, "# Import report: {}\n", import.source);
    let _ = writeln!(
        out,
        "{} playbook(s), {} step(s); {} point(s) need a human; {} section(s) not imported.\n",
        import.playbooks.len(),
        steps,
        human,
        import.skipped.len()
    );
    for p in &import.playbooks {
        let _ = writeln!(out, "## {} — `{}`\n", p.title, p.file_name());
        let _ = writeln!(
            out,
            "Lines {}-{}{}. Steps: {} run, {} manual, {} wait. Params: {}.\n",
            p.lines.0,
            p.lines.1,
            p.severity
                .as_ref()
                .map(|s| format!(", severity {s}"))
                .unwrap_or_default(),
            p.run_steps,
            p.manual_steps,
            p.wait_steps,
            if p.params.is_empty() {
                "none".to_owned()
            } else {
                p.params
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        let mut notes = p.notes.clone();
        notes.sort_by_key(|n| (n.kind.needs_human(), n.line));
        let mapped: Vec<_> = notes.iter().filter(|n| !n.kind.needs_human()).collect();
        let needs: Vec<_> = notes.iter().filter(|n| n.kind.needs_human()).collect();
        if !mapped.is_empty() {
            out.push_str("Mapped:\n\n");
            for n in mapped {
                let _ = writeln!(out, "- {}{}", line_ref(n.line), n.text);
            }
            out.push('\n');
        }
        if !needs.is_empty() {
            out.push_str("Needs a human:\n\n");
            for n in needs {
                let kind = match n.kind {
                    NoteKind::Condition => "branch? ",
                    NoteKind::Ambiguous => "ambiguous: ",
                    NoteKind::Check => "",
                    _ => "",
                };
                let _ = writeln!(out, "- {}{kind}{}", line_ref(n.line), n.text);
            }
            out.push('\n');
        }
        if p.params.iter().any(|_| true) {
            let _ = writeln!(
                out,
                "Fill the params with `--var NAME=VALUE`, a `--var-file` or the inventory's `vars`.\n"
            );
        }
    }
    if !import.skipped.is_empty() {
        out.push_str("## Not imported\n\n");
        for s in &import.skipped {
            let _ = writeln!(out, "- line {}: \"{}\": {}", s.line, s.title, s.reason);
        }
    }
    out
}

fn line_ref(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!("line {line}: ")
    }
}
