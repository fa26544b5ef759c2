//! `runbook list`: the playbooks under folders, as a table or JSON, filtered by severity and
//! tags.

use runbook_model::Document;
use serde::Serialize;

use crate::args::{ListArgs, ListFormat};
use crate::{CliError, Exit, style, walk, write_stdout};

/// One playbook. In JSON a field the playbook does not set is `null`.
#[derive(Serialize)]
struct Row {
    name: String,
    title: String,
    version: Option<String>,
    severity: Option<String>,
    /// `metadata.schedule` (since format 1.1).
    schedule: Option<String>,
    tags: Vec<String>,
    steps: usize,
    file: String,
}

pub fn run(args: &ListArgs) -> Result<Exit, CliError> {
    // A path that is not there is a mistake, not an empty list.
    for path in &args.paths {
        if !path.exists() {
            return Err(CliError::new(
                Exit::Invalid,
                format!("{}: no such file or folder", path.display()),
            )
            .hint("list takes folders of playbooks (searched recursively) or playbook files"));
        }
    }
    let files = walk::yaml_files(&args.paths).map_err(|(path, err)| {
        CliError::new(
            Exit::Invalid,
            format!("cannot read {}: {err}", path.display()),
        )
    })?;
    let severities: Vec<String> = args.severity.iter().map(|s| format!("{s:?}")).collect();
    let mut rows = Vec::new();
    let mut broken = 0;
    for (path, explicit) in files {
        let bytes = match runbook_model::load::read_source(&path) {
            Ok(bytes) => bytes,
            Err(err) if explicit => {
                return Err(CliError::new(
                    Exit::Invalid,
                    format!("cannot read {}: {}", path.display(), err.message),
                ));
            }
            Err(_) => continue,
        };
        if !explicit && !walk::looks_like_ours(&bytes) {
            continue;
        }
        let checked = runbook_model::check_bytes(&path, bytes);
        if checked.has_errors() {
            broken += 1;
            continue;
        }
        let Some(Document::Playbook(pb)) = checked.document else {
            continue;
        };
        let severity = pb.metadata.severity.map(|s| format!("{s:?}"));
        if !severities.is_empty() && !severity.as_ref().is_some_and(|s| severities.contains(s)) {
            continue;
        }
        if !args.tag.iter().all(|t| pb.metadata.tags.contains(t)) {
            continue;
        }
        rows.push(Row {
            name: pb.metadata.name.value.clone(),
            title: pb.title().to_owned(),
            version: pb.metadata.version.as_ref().map(|v| v.value.clone()),
            severity,
            schedule: pb.metadata.schedule.as_ref().map(|s| s.value.clone()),
            tags: pb.metadata.tags.clone(),
            steps: pb.all_steps().len(),
            file: path.display().to_string(),
        });
    }
    match args.format {
        ListFormat::Json => {
            let mut text = serde_json::to_string_pretty(&rows).unwrap_or_default();
            text.push('\n');
            write_stdout(&text)?;
        }
        ListFormat::Human => write_stdout(&table(&rows))?,
    }
    if broken > 0 {
        let paths: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
        eprintln!(
            "{broken} invalid file(s) not listed; run `runbook check {}`",
            paths.join(" ")
        );
    }
    Ok(Exit::Success)
}

/// The rows as aligned columns; `-` where a playbook sets nothing. The SCHEDULE column is
/// there only when a playbook has a schedule.
fn table(rows: &[Row]) -> String {
    // Tags last: they are the longest and the least often read.
    let scheduled = rows.iter().any(|r| r.schedule.is_some());
    let mut header = vec!["NAME", "TITLE", "VERSION", "SEV"];
    if scheduled {
        header.push("SCHEDULE");
    }
    header.extend(["STEPS", "FILE", "TAGS"]);
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![
                r.name.clone(),
                r.title.clone(),
                dash(&r.version),
                dash(&r.severity),
            ];
            if scheduled {
                row.push(dash(&r.schedule));
            }
            row.extend([
                r.steps.to_string(),
                r.file.clone(),
                if r.tags.is_empty() {
                    "-".into()
                } else {
                    r.tags.join(",")
                },
            ]);
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cols: &[String]| -> String {
        let mut out = String::new();
        for (i, (cell, &w)) in cols.iter().zip(&widths).enumerate() {
            if i + 1 == cols.len() {
                out.push_str(cell);
            } else {
                let pad = w - cell.chars().count();
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let s = style::stdout();
    let header: Vec<String> = header.into_iter().map(String::from).collect();
    let mut text = s.bold(line(&header).trim_end()) + "\n";
    for row in &cells {
        text.push_str(&line(row));
    }
    text
}
