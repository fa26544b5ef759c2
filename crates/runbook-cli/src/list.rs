//! `runbook list`: the playbooks under a folder, as a table.

use runbook_model::Document;
use serde::Serialize;

use crate::args::{ListArgs, ListFormat};
use crate::{CliError, Exit, style, walk, write_stdout};

#[derive(Serialize)]
struct Row {
    name: String,
    title: String,
    version: String,
    severity: String,
    steps: usize,
    file: String,
}

pub fn run(args: &ListArgs) -> Result<Exit, CliError> {
    let files = walk::yaml_files(std::slice::from_ref(&args.dir)).map_err(|(path, err)| {
        CliError::new(
            Exit::Invalid,
            format!("cannot read {}: {err}", path.display()),
        )
    })?;
    let mut rows = Vec::new();
    let mut broken = 0;
    for (path, _) in files {
        let Ok(bytes) = runbook_model::load::read_source(&path) else {
            continue;
        };
        if !walk::looks_like_ours(&bytes) {
            continue;
        }
        let checked = runbook_model::check_bytes(&path, bytes);
        if checked.has_errors() {
            broken += 1;
            continue;
        }
        if let Some(Document::Playbook(pb)) = checked.document {
            rows.push(Row {
                name: pb.metadata.name.value.clone(),
                title: pb.title().to_owned(),
                version: pb
                    .metadata
                    .version
                    .as_ref()
                    .map_or("-".into(), |v| v.value.clone()),
                severity: pb
                    .metadata
                    .severity
                    .map_or("-".into(), |s| format!("{s:?}")),
                steps: pb.all_steps().len(),
                file: path.display().to_string(),
            });
        }
    }
    match args.format {
        ListFormat::Json => {
            let mut text = serde_json::to_string_pretty(&rows).unwrap_or_default();
            text.push('\n');
            write_stdout(&text)?;
        }
        ListFormat::Human => {
            let header = ["NAME", "TITLE", "VERSION", "SEV", "STEPS", "FILE"];
            let cells: Vec<[String; 6]> = rows
                .iter()
                .map(|r| {
                    [
                        r.name.clone(),
                        r.title.clone(),
                        r.version.clone(),
                        r.severity.clone(),
                        r.steps.to_string(),
                        r.file.clone(),
                    ]
                })
                .collect();
            let mut widths = header.map(|h| h.chars().count());
            for row in &cells {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let s = style::stdout();
            let line = |cols: &[String]| -> String {
                let mut out = String::new();
                for (i, (cell, w)) in cols.iter().zip(widths).enumerate() {
                    if i + 1 == cols.len() {
                        out.push_str(cell);
                    } else {
                        out.push_str(&format!("{cell:<w$}  "));
                    }
                }
                out.trim_end().to_owned() + "\n"
            };
            let mut text = s.bold(line(&header.map(String::from)).trim_end()) + "\n";
            for row in &cells {
                text.push_str(&line(row));
            }
            write_stdout(&text)?;
        }
    }
    if broken > 0 {
        eprintln!(
            "{broken} invalid file(s) not listed; run `runbook check {}`",
            args.dir.display()
        );
    }
    Ok(Exit::Success)
}
