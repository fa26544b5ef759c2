//! `runbook import`: a Markdown runbook to playbooks in a folder, and the import report.

use std::path::{Path, PathBuf};

use crate::args::ImportArgs;
use crate::{CliError, Exit, write_stdout};

/// Larger than any runbook a person writes; refuses to read a disk image by mistake.
const MAX_BYTES: u64 = 8 * 1024 * 1024;

pub fn run(args: &ImportArgs) -> Result<Exit, CliError> {
    let shown = args.runbook.display().to_string();
    let size = std::fs::metadata(&args.runbook)
        .map_err(|err| CliError::new(Exit::Invalid, format!("cannot read {shown}: {err}")))?
        .len();
    if size > MAX_BYTES {
        return Err(CliError::new(
            Exit::Invalid,
            format!("{shown} is {size} bytes; a runbook over 8 MiB is not imported"),
        ));
    }
    let bytes = std::fs::read(&args.runbook)
        .map_err(|err| CliError::new(Exit::Invalid, format!("cannot read {shown}: {err}")))?;
    let text = String::from_utf8(bytes).map_err(|err| {
        CliError::new(
            Exit::Invalid,
            format!(
                "{shown} is not UTF-8 (byte {})",
                err.utf8_error().valid_up_to()
            ),
        )
        .hint("convert it first, e.g. `iconv -f latin1 -t utf-8`")
    })?;
    let source = args
        .runbook
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown.clone());
    let import = runbook_import::import(&text, &source);
    let report = import.report();
    if import.playbooks.is_empty() {
        emit_report(args, &report)?;
        return Err(CliError::new(
            Exit::Invalid,
            format!("{shown}: no procedure found (no shell commands, no list of actions)"),
        )
        .hint("`runbook import` looks for fenced shell blocks, commands in bullets and numbered actions under a heading"));
    }
    let dir = args
        .output
        .clone()
        .unwrap_or_else(|| default_dir(&args.runbook));
    let targets: Vec<PathBuf> = import
        .playbooks
        .iter()
        .map(|p| dir.join(p.file_name()))
        .collect();
    if !args.force
        && let Some(existing) = targets.iter().find(|t| t.exists())
    {
        return Err(CliError::new(
            Exit::Invalid,
            format!("{} exists; nothing was written", existing.display()),
        )
        .hint("pass --force to overwrite, or -o DIR for another folder"));
    }
    std::fs::create_dir_all(&dir).map_err(|err| {
        CliError::new(
            Exit::Invalid,
            format!("cannot create {}: {err}", dir.display()),
        )
    })?;
    for (playbook, target) in import.playbooks.iter().zip(&targets) {
        std::fs::write(target, &playbook.yaml).map_err(|err| {
            CliError::new(
                Exit::Invalid,
                format!("cannot write {}: {err}", target.display()),
            )
        })?;
    }
    emit_report(args, &report)?;
    let steps: usize = import
        .playbooks
        .iter()
        .map(|p| p.run_steps + p.manual_steps + p.wait_steps)
        .sum();
    eprintln!(
        "wrote {} playbook(s), {} step(s), to {}/; next: runbook check {}",
        import.playbooks.len(),
        steps,
        dir.display().to_string().trim_end_matches('/'),
        dir.display()
    );
    Ok(Exit::Success)
}

fn emit_report(args: &ImportArgs, report: &str) -> Result<(), CliError> {
    match &args.report {
        Some(path) => std::fs::write(path, report).map_err(|err| {
            CliError::new(
                Exit::Invalid,
                format!("cannot write {}: {err}", path.display()),
            )
        }),
        None => write_stdout(report),
    }
}

/// `ops/RUNBOOK.md` → `./RUNBOOK/`.
fn default_dir(runbook: &Path) -> PathBuf {
    let stem = runbook
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imported".into());
    PathBuf::from(stem)
}
