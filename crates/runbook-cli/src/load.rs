//! Loading what `plan` and `run` need: the playbook (validated), the inventory, the values.

use std::path::{Path, PathBuf};

use runbook_exec::{Overrides, Vars};
use runbook_model::tree::{self, Tree};
use runbook_model::{Diagnostic, Document, Inventory, Playbook, Severity, Source};
use runbook_template::Engine;

use crate::args::EnvArgs;
use crate::{CliError, Exit, style};

/// A valid playbook with its environment, ready to plan or run.
pub struct Loaded {
    pub path: PathBuf,
    /// The playbook (the root) and the sub-playbooks it includes.
    pub tree: Tree,
    pub inventory: Option<(Inventory, String)>,
    pub overrides: Overrides,
    pub vars: Vars,
    pub warnings: usize,
}

impl Loaded {
    pub fn playbook(&self) -> &Playbook {
        &self.tree.root().playbook
    }

    pub fn source(&self) -> &Source {
        &self.tree.root().source
    }
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
/// Every `--var` key must be a param or var of the playbook or of a sub-playbook.
pub fn load(engine: &Engine, path: &Path, env: &EnvArgs) -> Result<Loaded, CliError> {
    load_after(engine, path, env, 0)
}

/// [`load`] where the first `recorded` entries of `env.vars` come from a transcript (resume):
/// they were checked when the run started, and a playbook changed since must not make the
/// run impossible to resume, so only the keys after them are checked.
pub fn load_after(
    engine: &Engine,
    path: &Path,
    env: &EnvArgs,
    recorded: usize,
) -> Result<Loaded, CliError> {
    let (source, playbook, warnings) = playbook(path)?;
    let tree = Tree::new(path, source, playbook);
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
    let keys: Vec<&str> = overrides
        .vars
        .iter()
        .skip(recorded)
        .map(|(k, _)| k.as_str())
        .collect();
    check_var_keys(&tree, &keys)?;
    let vars = Vars::resolve(
        engine,
        &tree.root().playbook,
        inventory.as_ref().map(|(i, _)| i),
        &overrides,
        &|name| std::env::var(name).ok(),
    )?;
    Ok(Loaded {
        path: path.to_owned(),
        tree,
        inventory,
        overrides,
        vars,
        warnings,
    })
}

/// Compiles the playbook for the engine, from the tree `check` already read.
pub fn compile(
    loaded: &Loaded,
) -> Result<std::sync::Arc<runbook_exec::program::Program>, CliError> {
    runbook_exec::program::Program::compile(&loaded.tree)
        .map(std::sync::Arc::new)
        .map_err(|e| CliError::new(Exit::Invalid, e.to_string()))
}

/// Renders the playbook's templated durations from its values (since format 1.1): a value
/// that is not a duration stops the run before anything runs, at its line.
pub fn render_durations(
    engine: &runbook_template::Engine,
    loaded: &Loaded,
    program: std::sync::Arc<runbook_exec::program::Program>,
) -> Result<std::sync::Arc<runbook_exec::program::Program>, CliError> {
    if !program.has_duration_templates() {
        return Ok(program);
    }
    program
        .render_durations(&|t| loaded.vars.render_static(engine, t))
        .map(std::sync::Arc::new)
        .map_err(|e| {
            CliError::new(Exit::Invalid, e.to_string())
                .hint("set the value to a duration like 30s, 15m or 1h30m (--var NAME=VALUE)")
        })
}

/// Refuses a run whose playbook (or a sub-playbook) pages a channel the inventory does not
/// define: a misspelled channel fails now, at its line, not when the page is due.
pub fn require_channels(loaded: &Loaded) -> Result<(), CliError> {
    let inventory = loaded.inventory.as_ref().map(|(i, _)| i);
    let missing = tree::missing_channels(&loaded.tree, inventory);
    if missing.is_empty() {
        return Ok(());
    }
    let diagnostics: Vec<Diagnostic> = missing
        .iter()
        .map(|m| {
            let d = m.diagnostic(&loaded.tree, Severity::Error);
            match inventory {
                Some(_) => d,
                None => {
                    d.with_hint("pass the environment's inventory with -i; it defines the channels")
                }
            }
        })
        .collect();
    print_diagnostics(&diagnostics);
    Err(CliError::silent(Exit::Invalid))
}

/// A `--var` key nothing reads is a typo: the default would be used without a word.
/// (An inventory and `--var-file` may carry extra keys: they serve many playbooks.)
fn check_var_keys(tree: &Tree, keys: &[&str]) -> Result<(), CliError> {
    let known = tree.known_names();
    let mut unknown: Vec<&str> = Vec::new();
    for key in keys {
        if !known.contains(key) && !unknown.contains(key) {
            unknown.push(key);
        }
    }
    if unknown.is_empty() {
        return Ok(());
    }
    let name = &tree.root().playbook.metadata.name.value;
    let subs = if tree.nodes.len() > 1 {
        " or its sub-playbooks"
    } else {
        ""
    };
    let list = unknown
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let message = if unknown.len() == 1 {
        format!("--var {list} is not a param or var of `{name}`{subs}")
    } else {
        format!("--var {list} are not params or vars of `{name}`{subs}")
    };
    let mut err = CliError::new(Exit::Invalid, message);
    let mut suggested = false;
    for key in &unknown {
        if let Some(close) = runbook_model::suggest::did_you_mean(key, known.iter().copied()) {
            err = err.hint(if unknown.len() == 1 {
                format!("did you mean `{close}`?")
            } else {
                format!("`{key}`: did you mean `{close}`?")
            });
            suggested = true;
        }
    }
    if !suggested || unknown.len() > 1 {
        let names = known.iter().copied().collect::<Vec<_>>();
        err = err.hint(if names.is_empty() {
            "the playbook declares no params or vars".to_owned()
        } else {
            format!("the params and vars are: {}", names.join(", "))
        });
    }
    Err(err)
}

/// Escalation channels the playbooks name that the inventory lacks, as warnings on stderr.
/// Without an inventory there is nothing to compare with: a one-line note says so.
pub fn warn_missing_channels(loaded: &Loaded) {
    let inventory = loaded.inventory.as_ref().map(|(i, _)| i);
    let missing = tree::missing_channels(&loaded.tree, inventory);
    if missing.is_empty() {
        return;
    }
    if inventory.is_none() {
        let mut names: Vec<&str> = missing.iter().map(|m| m.used.channel.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        eprintln!(
            "note: escalation channels {} are not checked without an inventory (-i)",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        return;
    }
    let diagnostics: Vec<Diagnostic> = missing
        .iter()
        .map(|m| m.diagnostic(&loaded.tree, Severity::Warning))
        .collect();
    print_diagnostics(&diagnostics);
}

/// Refuses to go on when a required param has no value.
pub fn require_params(vars: &Vars) -> Result<(), CliError> {
    if vars.missing.is_empty() {
        return Ok(());
    }
    Err(runbook_exec::Error::MissingParams(vars.missing.clone()).into())
}
