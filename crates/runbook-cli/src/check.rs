//! `runbook check`: validate files and folders, print every problem.

use runbook_model::tree::{self, Tree};
use runbook_model::{Diagnostic, Document, Inventory, Severity};
use runbook_transcript::text::plural;

use crate::args::{CheckArgs, CheckFormat};
use crate::{CliError, Exit, style, walk, write_stdout};

pub fn run(args: &CheckArgs) -> Result<Exit, CliError> {
    let mut files = walk::yaml_files(&args.paths).map_err(|(path, err)| {
        CliError::new(
            Exit::Invalid,
            format!("cannot read {}: {err}", path.display()),
        )
    })?;
    let mut diagnostics = Vec::new();
    let mut checked = 0;
    // The inventory is checked like any file, and first: its problems explain the rest.
    let inventory = match &args.inventory {
        Some(path) => {
            let same = |p: &std::path::Path| match (p.canonicalize(), path.canonicalize()) {
                (Ok(a), Ok(b)) => a == b,
                _ => p == path,
            };
            files.retain(|(p, _)| !same(p));
            checked += 1;
            let result = runbook_model::check_file(path);
            let inventory = match (&result.document, result.has_errors()) {
                (Some(Document::Inventory(inv)), false) => Some(inv.clone()),
                (Some(Document::Playbook(_)), _) => {
                    return Err(CliError::new(
                        Exit::Invalid,
                        format!("{} is a playbook, not an inventory", path.display()),
                    )
                    .hint("-i takes a file with `kind: Inventory`"));
                }
                _ => None,
            };
            diagnostics.extend(result.diagnostics);
            inventory
        }
        None => None,
    };
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
        let result = runbook_model::check_bytes(path, bytes);
        let errors = result.has_errors();
        diagnostics.extend(result.diagnostics);
        if let (Some(inventory), Some(source), Some(Document::Playbook(playbook)), false) =
            (&inventory, result.source, result.document, errors)
        {
            diagnostics.extend(with_inventory(path, source, *playbook, inventory));
        }
    }
    // A sub-playbook's channel is reported through each playbook that includes it, and when
    // it is checked itself: once is enough.
    let mut seen = std::collections::HashSet::new();
    diagnostics.retain(|d| {
        let file = tree::normalize(std::path::Path::new(&d.file));
        seen.insert((file, d.line, d.column, d.code, d.message.clone()))
    });
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
            let report = runbook_model::diagnostic::CheckReport {
                format: runbook_model::diagnostic::CHECK_FORMAT,
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

/// What a valid playbook lacks in this environment: channels it escalates to that the
/// inventory does not define, hosts or groups its `on:` steps name that it does not define
/// (in it and its sub-playbooks), required params nothing sets.
fn with_inventory(
    path: &std::path::Path,
    source: runbook_model::Source,
    playbook: runbook_model::Playbook,
    inventory: &Inventory,
) -> Vec<Diagnostic> {
    let tree = Tree::new(path, source, playbook);
    let mut out = tree::unset_param_diagnostics(&tree, Some(inventory));
    out.extend(tree::unknown_target_diagnostics(&tree, inventory));
    out.extend(
        tree::missing_channels(&tree, Some(inventory))
            .iter()
            .map(|m| m.diagnostic(&tree, Severity::Warning)),
    );
    out
}
