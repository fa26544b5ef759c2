//! `runbook plan`: the dry run a reviewer reads, and `plan --diff`, what a change does to it.

use std::path::Path;

use runbook_exec::plan::{Plan, PlanInputs};
use runbook_template::Engine;

use crate::args::{EnvArgs, PlanArgs, PlanFormat};
use crate::load::{self, Loaded};
use crate::{CliError, Exit, diff, render_plan, style, write_stdout};

pub fn run(args: &PlanArgs) -> Result<Exit, CliError> {
    let engine = Engine::new();
    if let Some(old) = &args.diff {
        return diff::run(&engine, args, old);
    }
    let planned = plan_file(&engine, &args.playbook, &args.env, false)?;
    let plan = &planned.plan;
    let unset = plan.all_unset();
    if args.strict && !unset.is_empty() {
        return Err(runbook_exec::Error::MissingParams(unset).into());
    }
    let text = match args.format {
        PlanFormat::Human => render_plan::human(plan, style::stdout()),
        PlanFormat::Markdown => render_plan::markdown(plan),
        PlanFormat::Json => serde_json::to_string_pretty(plan).unwrap_or_default() + "\n",
    };
    write_stdout(&text)?;
    if planned.loaded.warnings > 0 {
        eprintln!(
            "note: {} warning(s); see `runbook check {}`",
            planned.loaded.warnings,
            args.playbook.display()
        );
    }
    warn_unset(&unset);
    // After the plan, where a reader looks last: pages that would go nowhere.
    load::warn_missing_channels(&planned.loaded);
    step_errors(plan)
}

/// A plan and what it was built from.
pub struct Planned {
    pub plan: Plan,
    pub loaded: Loaded,
}

/// Loads, compiles and plans one playbook. With `lenient_vars`, `--var` keys the playbook
/// does not know are not refused (the old side of a diff may not have a param the new one
/// adds).
pub fn plan_file(
    engine: &Engine,
    path: &Path,
    env: &EnvArgs,
    lenient_vars: bool,
) -> Result<Planned, CliError> {
    let loaded = if lenient_vars {
        load::load_after(engine, path, env, env.vars.len())?
    } else {
        load::load(engine, path, env)?
    };
    let program = load::compile(&loaded)?;
    let file = path.display().to_string();
    let inputs = PlanInputs {
        engine,
        file: &file,
        inventory: loaded.inventory.as_ref().map(|(i, p)| (i, p.as_str())),
        overrides: &loaded.overrides,
        env: &|name| std::env::var(name).ok(),
    };
    let plan = runbook_exec::plan::build(&inputs, &program, &loaded.vars);
    Ok(Planned { plan, loaded })
}

/// Unset required params are a warning: the plan shows them as `⟨name⟩`.
pub fn warn_unset(unset: &[String]) {
    if unset.is_empty() {
        return;
    }
    let s = style::stderr();
    let shown: Vec<String> = unset
        .iter()
        .map(|n| runbook_exec::plan::unset_placeholder(n.rsplit('/').next().unwrap_or(n)))
        .collect();
    eprintln!(
        "{}: required param{} not set: {} (shown as {})",
        s.warning("warning"),
        if unset.len() == 1 { "" } else { "s" },
        unset.join(", "),
        shown.join(", ")
    );
    eprintln!(
        "{}: a run needs {}: --var {}=VALUE, an inventory (-i) or a --var-file; --strict makes this an error",
        s.hint("hint"),
        if unset.len() == 1 { "it" } else { "them" },
        unset[0].rsplit('/').next().unwrap_or(&unset[0])
    );
}

/// Templates that cannot be rendered are errors: the plan would not show what runs.
pub fn step_errors(plan: &Plan) -> Result<Exit, CliError> {
    let errors = plan.error_count();
    if errors > 0 {
        return Err(CliError::new(
            Exit::Invalid,
            format!(
                "{errors} step(s) cannot be resolved with these values (shown as <error: ...>)"
            ),
        ));
    }
    Ok(Exit::Success)
}
