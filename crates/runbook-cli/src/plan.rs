//! `runbook plan`: the dry run a reviewer reads.

use runbook_template::Engine;

use crate::args::{PlanArgs, PlanFormat};
use crate::{CliError, Exit, load, render_plan, style, write_stdout};

pub fn run(args: &PlanArgs) -> Result<Exit, CliError> {
    let engine = Engine::new();
    let loaded = load::load(&engine, &args.playbook, &args.env)?;
    load::require_params(&loaded.vars)?;
    let program = load::compile(&loaded)?;
    let plan = runbook_exec::plan::build(
        &engine,
        &program,
        &loaded.path.display().to_string(),
        loaded.inventory.as_ref().map(|(i, p)| (i, p.as_str())),
        &loaded.vars,
    );
    let text = match args.format {
        PlanFormat::Human => render_plan::human(&plan, style::stdout()),
        PlanFormat::Markdown => render_plan::markdown(&plan),
        PlanFormat::Json => serde_json::to_string_pretty(&plan).unwrap_or_default() + "\n",
    };
    write_stdout(&text)?;
    if loaded.warnings > 0 {
        eprintln!(
            "note: {} warning(s); see `runbook check {}`",
            loaded.warnings,
            args.playbook.display()
        );
    }
    // After the plan, where a reader looks last: pages that would go nowhere.
    load::warn_missing_channels(&loaded);
    let errors = plan
        .steps
        .iter()
        .chain(&plan.finally)
        .filter(|s| s.error.is_some())
        .count();
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
