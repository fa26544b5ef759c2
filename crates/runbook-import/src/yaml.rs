//! Writes a draft as a `runbook/v1` playbook: plain YAML, one field per line, multi-line text
//! as literal blocks, every other string quoted only when YAML needs it. Returns the line span
//! of every step so a `check` diagnostic can be traced back to its step.

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::build::squash;
use crate::draft::{Action, Draft, Expectation, Step};

/// The YAML text and, for each step, its first and last line (1-based).
pub struct Emitted {
    pub text: String,
    pub step_lines: Vec<(usize, usize)>,
}

/// Writes the playbook. `source` names the Markdown file in the header comment.
pub fn emit(draft: &Draft, source: &str) -> Emitted {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Imported by `runbook import` from {} (lines {}-{}).\n# Review it before use: see the import report and docs/import.md.",
        source, draft.first_line, draft.last_line
    );
    out.push_str("apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n");
    field(&mut out, 2, "name", &draft.name);
    field(&mut out, 2, "title", &draft.title);
    field(&mut out, 2, "version", &draft.version);
    if let Some(sev) = &draft.severity {
        field(&mut out, 2, "severity", sev);
    }
    if !draft.tags.is_empty() {
        let tags: Vec<String> = draft.tags.iter().map(|t| scalar(t)).collect();
        let _ = writeln!(out, "  tags: [{}]", tags.join(", "));
    }
    if let Some(summary) = &draft.summary {
        field(&mut out, 2, "summary", summary);
    }
    if !draft.params.is_empty() {
        out.push_str("\nparams:\n");
        for (name, param) in &draft.params {
            let _ = writeln!(out, "  {name}:");
            out.push_str("    type: string\n");
            field(&mut out, 4, "description", &param.description);
            if param.secret {
                out.push_str("    secret: true\n");
            }
            if let Some(env) = &param.from_env {
                field(&mut out, 4, "from_env", env);
            }
        }
    }
    if !draft.vars.is_empty() {
        out.push_str("\nvars:\n");
        for (name, value) in &draft.vars {
            field(&mut out, 2, name, value);
        }
    }
    if !draft.escalation.is_empty() {
        out.push_str("\nescalation:\n");
        // Rungs at the same time notify together.
        let mut i = 0;
        while i < draft.escalation.len() {
            let after = &draft.escalation[i].after;
            let mut channels = Vec::new();
            while i < draft.escalation.len() && &draft.escalation[i].after == after {
                channels.push(scalar(&draft.escalation[i].channel));
                i += 1;
            }
            let _ = writeln!(
                out,
                "  - after: {after}\n    notify: [{}]",
                channels.join(", ")
            );
        }
    }
    out.push_str("\nsteps:\n");
    let mut step_lines = Vec::new();
    for step in &draft.steps {
        let start = out.lines().count() + 1;
        emit_step(&mut out, step);
        let end = out.lines().count();
        step_lines.push((start, end));
    }
    Emitted {
        text: out,
        step_lines,
    }
}

fn emit_step(out: &mut String, step: &Step) {
    let _ = writeln!(out, "  - id: {}", scalar(&step.id));
    if let Some(name) = &step.name {
        field(out, 4, "name", name);
    }
    if let Some(doc) = &step.doc {
        field(out, 4, "doc", doc);
    }
    match &step.action {
        Action::Run(cmd) => field(out, 4, "run", cmd),
        Action::Manual(text) => field(out, 4, "manual", &raw_if_templated(text)),
        Action::Wait(d) => field(out, 4, "wait", d),
    }
    if !step.checklist.is_empty() {
        out.push_str("    checklist:\n");
        for item in &step.checklist {
            let _ = writeln!(out, "      - {}", scalar(&squash(item)));
        }
    }
    if !step.env.is_empty() {
        out.push_str("    env:\n");
        for (k, v) in &step.env {
            field(out, 6, k, v);
        }
    }
    if let Some(expect) = &step.expect {
        out.push_str("    expect:\n");
        match expect {
            Expectation::Contains(text) => {
                out.push_str("      stdout:\n");
                field(out, 8, "contains", &raw_if_templated(text));
            }
            Expectation::Json(map) => {
                out.push_str("      json:\n");
                for (k, v) in map {
                    match v {
                        Value::Bool(b) => {
                            let _ = writeln!(out, "        {}: {b}", scalar(k));
                        }
                        Value::String(s) => field(out, 8, &scalar(k), &raw_if_templated(s)),
                        other => field(out, 8, &scalar(k), &other.to_string()),
                    }
                }
            }
        }
    }
    if let Some(capture) = &step.capture {
        let _ = writeln!(out, "    capture:\n      {capture}:\n        stdout: true");
    }
    if let Some((every, duration)) = &step.watch {
        let _ = writeln!(
            out,
            "    watch:\n      every: {every}\n      for: {duration}"
        );
    }
    if step.danger {
        out.push_str("    danger: destructive\n");
        if let Some(phrase) = &step.confirm_phrase {
            field(out, 4, "confirm_phrase", &raw_if_templated(phrase));
        }
    }
    if step.continue_on_failure {
        out.push_str("    on_failure: continue\n");
    }
    out.push('\n');
}

/// Text shown to people is a template too: literal `{{` in it is kept as written.
fn raw_if_templated(text: &str) -> String {
    if (text.contains("{{") || text.contains("{%") || text.contains("{#"))
        && !text.contains("{% raw %}")
        && !text.contains("endraw")
    {
        format!("{{% raw %}}{text}{{% endraw %}}")
    } else {
        text.to_owned()
    }
}

/// `key: value` at an indent; multi-line values as a literal block.
fn field(out: &mut String, indent: usize, key: &str, value: &str) {
    let pad = " ".repeat(indent);
    if value.contains('\n') && !value.contains('\r') && !value.contains('\t') {
        let body = value.trim_end_matches('\n');
        let chomp = "-";
        // A first line that starts with a space needs an explicit indentation indicator.
        let indicator = if body.starts_with(' ') { "2" } else { "" };
        let _ = writeln!(out, "{pad}{key}: |{indicator}{chomp}");
        for line in body.lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, "{pad}  {line}");
            }
        }
    } else {
        let _ = writeln!(out, "{pad}{key}: {}", scalar(value));
    }
}

static PLAIN_OK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_./()@+~^=][^\x00-\x1f]*$").expect("regex"));
static NUMBERISH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[-+]?(\d[\d_]*(\.\d*)?([eE][-+]?\d+)?|\.\d+|0x[0-9a-fA-F]+|0o[0-7]+|\.inf|\.nan)$",
    )
    .expect("regex")
});

/// A one-line scalar: plain when YAML reads it back as the same string, else double-quoted.
pub fn scalar(value: &str) -> String {
    let special = matches!(
        value.to_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~" | "y" | "n"
    );
    let plain = PLAIN_OK.is_match(value)
        && !special
        && !NUMBERISH.is_match(value)
        && !value.contains(": ")
        && !value.contains(" #")
        && !value.ends_with(':')
        && !value.ends_with(' ')
        && !value.contains(['\t', '\n', '"', '\'', '`'])
        && !value.starts_with(['{', '[', '&', '*', '!', '|', '>', '%', '@', '`', '#', '-', '?', ':', ','])
        // Versions like 1.0.0 are fine plain; a date would be read as a timestamp by some.
        && !looks_like_date(value);
    if plain {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn looks_like_date(value: &str) -> bool {
    value.len() >= 8
        && value.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && value.as_bytes()[4] == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars() {
        assert_eq!(scalar("apeg.service"), "apeg.service");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("8000"), "\"8000\"");
        assert_eq!(scalar("1.0.0"), "1.0.0");
        assert_eq!(scalar("{{ x }}"), "\"{{ x }}\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(
            scalar("kubectl get pods -n apex"),
            "kubectl get pods -n apex"
        );
    }
}
