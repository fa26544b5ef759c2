//! Loading what `plan` and `run` need: the playbook (validated), the inventory, the values.

use std::path::{Path, PathBuf};

use runbook_exec::{Overrides, Vars};
use runbook_model::{Diagnostic, Document, Inventory, Playbook, Source};
use runbook_template::Engine;

use crate::args::EnvArgs;
use crate::{CliError, Exit, style};

/// A valid playbook with its environment, ready to plan or run.
pub struct Loaded {
    pub path: PathBuf,
    pub source: Source,
    pub playbook: Playbook,
    pub inventory: Option<(Inventory, String)>,
    pub overrides: Overrides,
    pub vars: Vars,
    pub warnings: usize,
}

/// Prints diagnostics on stderr, rustc-style.
pub fn print_diagnostics(diagnostics: &[Diagnostic]) {
    let color = style::stderr().color;
    for d in diagnostics {
        eprintln!("{}\n", d.render_human(color));
    }
}

/// Reads and validates a playbook; errors are printed and become exit 2.
pub fn playbook(path: &Path) -> Result<(Source, Playbook, usize), CliError> {
    let checked = runbook_model::check_file(path);
    if checked.has_errors() {
        print_diagnostics(&checked.diagnostics);
        return Err(CliError::silent(Exit::Invalid));
    }
    let warnings = checked.diagnostics.len();
    match (checked.source, checked.document) {
        (Some(source), Some(Document::Playbook(pb))) => Ok((source, *pb, warnings)),
        _ => Err(CliError::new(
            Exit::Invalid,
            format!("{} is not a playbook", path.display()),
        )
        .hint("its `kind` is not `Playbook`")),
    }
}

/// Reads and validates an inventory.
pub fn inventory(path: &Path) -> Result<Inventory, CliError> {
    let checked = runbook_model::check_file(path);
    if checked.has_errors() {
        print_diagnostics(&checked.diagnostics);
        return Err(CliError::silent(Exit::Invalid));
    }
    match checked.document {
        Some(Document::Inventory(inv)) => Ok(*inv),
        _ => Err(CliError::new(
            Exit::Invalid,
            format!("{} is not an inventory", path.display()),
        )
        .hint("-i takes a file with `kind: Inventory`")),
    }
}

/// Everything `plan` and `run` start from. Missing required params are left in `vars.missing`.
pub fn load(engine: &Engine, path: &Path, env: &EnvArgs) -> Result<Loaded, CliError> {
    let (source, playbook, warnings) = playbook(path)?;
    let inventory = match &env.inventory {
        Some(p) => Some((inventory(p)?, p.display().to_string())),
        None => None,
    };
    let mut overrides = Overrides {
        var_files: env.var_files.clone(),
        vars: Vec::new(),
    };
    for text in &env.vars {
        let pair = Overrides::parse_var(text)
            .map_err(|why| CliError::new(Exit::Invalid, format!("--var {why}")))?;
        overrides.vars.push(pair);
    }
    let vars = Vars::resolve(
        engine,
        &playbook,
        inventory.as_ref().map(|(i, _)| i),
        &overrides,
        &|name| std::env::var(name).ok(),
    )?;
    Ok(Loaded {
        path: path.to_owned(),
        source,
        playbook,
        inventory,
        overrides,
        vars,
        warnings,
    })
}

/// Compiles the playbook for the engine: sub-playbooks loaded, include cycles refused.
pub fn compile(
    loaded: &Loaded,
) -> Result<std::sync::Arc<runbook_exec::program::Program>, CliError> {
    runbook_exec::program::Program::compile(loaded.playbook.clone(), &loaded.path)
        .map(std::sync::Arc::new)
        .map_err(|e| CliError::new(Exit::Invalid, e.to_string()))
}

/// Refuses a run whose playbook (or a sub-playbook) pages a channel the inventory does not
/// define: a misspelled channel fails now, not when the page is due.
pub fn require_channels(
    program: &runbook_exec::program::Program,
    inventory: Option<&Inventory>,
) -> Result<(), CliError> {
    let mut missing: Vec<String> = Vec::new();
    for (channel, file, place) in program.channels() {
        if inventory.is_some_and(|i| i.channels.contains_key(&channel)) {
            continue;
        }
        let line = format!("`{channel}` ({}, {place})", file.display());
        if !missing.contains(&line) {
            missing.push(line);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let what = if inventory.is_some() {
        "the inventory defines no channel"
    } else {
        "no inventory (-i) defines the channel"
    };
    Err(CliError::new(
        Exit::Invalid,
        format!("{what} {}", missing.join(", ")),
    )
    .hint("define it under `channels:` in the inventory (a webhook or a command), or fix its name in the playbook"))
}

/// Refuses to go on when a required param has no value.
pub fn require_params(vars: &Vars) -> Result<(), CliError> {
    if vars.missing.is_empty() {
        return Ok(());
    }
    Err(runbook_exec::Error::MissingParams(vars.missing.clone()).into())
}
