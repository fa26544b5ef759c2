//! What the rule tests share: a playbook written inline, checked, its diagnostics shown.

#![allow(dead_code)]

use std::path::Path;

use runbook_model::{Diagnostic, check_bytes};

/// Strips a raw string's leading newline and its common indentation.
pub fn yaml(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect()
}

/// The diagnostics of `text` (after [`yaml`]).
pub fn check(text: &str) -> Vec<Diagnostic> {
    check_bytes(Path::new("t.yaml"), yaml(text).into_bytes()).diagnostics
}

/// One line per diagnostic, for assertion messages.
pub fn show(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| {
            format!(
                "  {:?} {} {}:{} {}\n",
                d.severity, d.code, d.line, d.column, d.message
            )
        })
        .collect()
}
