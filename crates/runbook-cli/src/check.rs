//! `runbook check`: validate files and folders, print every problem.

use runbook_model::{Diagnostic, Severity};
use serde::Serialize;

use crate::args::{CheckArgs, CheckFormat};
use crate::{CliError, Exit, style, walk, write_stdout};

#[derive(Serialize)]
struct JsonReport<'a> {
    files: usize,
    errors: usize,
    warnings: usize,
    diagnostics: &'a [Diagnostic],
}

pub fn run(args: &CheckArgs) -> Result<Exit, CliError> {
    let files = walk::yaml_files(&args.paths).map_err(|(path, err)| {
        CliError::new(
            Exit::Invalid,
            format!("cannot read {}: {err}", path.display()),
        )
    })?;
    let mut diagnostics = Vec::new();
    let mut checked = 0;
    for (path, explicit) in &files {
        let bytes = match runbook_model::load::read_source(path) {
            Ok(bytes) => bytes,
            Err(diagnostic) => {
                // Also for a FIFO or device named *.yaml inside a folder: refused, loudly.
                checked += 1;
                diagnostics.push(diagnostic);
                continue;
            }
        };
        if !explicit && !walk::looks_like_ours(&bytes) {
            continue;
        }
        checked += 1;
        diagnostics.extend(runbook_model::check_bytes(path, bytes).diagnostics);
    }
    if checked == 0 && diagnostics.is_empty() {
        return Err(
            CliError::new(Exit::Invalid, "no playbooks or inventories found")
                .hint("check looks for *.yaml and *.yml files with an `apiVersion` or `kind`"),
        );
    }
    if args.deny_warnings {
        for d in &mut diagnostics {
            d.severity = Severity::Error;
        }
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    match args.format {
        CheckFormat::Human => {
            let color = style::stdout().color;
            let mut text = String::new();
            for d in &diagnostics {
                text.push_str(&d.render_human(color));
                text.push_str("\n\n");
            }
            write_stdout(&text)?;
            let s = style::stderr();
            let files = plural(checked, "file");
            let summary = match (errors, warnings) {
                (0, 0) => format!("{} {files}: no problems", s.ok("checked")),
                _ => format!(
                    "{} {files}: {}, {}",
                    s.bold("checked"),
                    plural(errors, "error"),
                    plural(warnings, "warning")
                ),
            };
            eprintln!("{summary}");
        }
        CheckFormat::Json => {
            let report = JsonReport {
                files: checked,
                errors,
                warnings,
                diagnostics: &diagnostics,
            };
            let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
            text.push('\n');
            write_stdout(&text)?;
        }
        CheckFormat::Github => {
            let mut text = String::new();
            for d in &diagnostics {
                text.push_str(&d.render_github());
                text.push('\n');
            }
            write_stdout(&text)?;
        }
    }
    Ok(if errors > 0 {
        Exit::Invalid
    } else {
        Exit::Success
    })
}

pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
