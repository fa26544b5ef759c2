//! The end of a run for machines and for CI: the `runbook-run/v1` JSON summary, and, on
//! GitHub Actions (`$GITHUB_STEP_SUMMARY` set), a Markdown job summary appended to that file.

use std::io::Write;

use runbook_exec::runner::RunSummary;
use runbook_exec::summary::{RunSummaryJson, StepResult};
use runbook_transcript::{Outcome, RunOutcome};

use crate::load::Loaded;
use crate::md;

/// The run's summary for machines, from its transcript (so it says what the record says);
/// from the runner's own account when the transcript cannot be read back.
pub fn json(loaded: &Loaded, summary: &RunSummary) -> RunSummaryJson {
    let file = loaded.path.display().to_string();
    let transcript = summary.transcript.display().to_string();
    runbook_transcript::read_transcript(&summary.transcript)
        .ok()
        .and_then(|read| runbook_exec::summary::from_records(&read.records, &file, &transcript))
        .unwrap_or_else(|| RunSummaryJson {
            format: runbook_exec::summary::RUN_FORMAT.to_owned(),
            run_id: summary.run_id.clone(),
            playbook: loaded.playbook().metadata.name.value.clone(),
            file,
            transcript,
            outcome: summary.outcome,
            exit_code: summary.finished.exit_code,
            duration_ms: summary.finished.duration_ms,
            failed_step: summary.finished.failed_step.clone(),
            reason: summary.finished.reason.clone(),
            steps_ok: summary.finished.steps_ok,
            steps_warning: summary.finished.steps_warning,
            steps_failed: summary.finished.steps_failed,
            steps_skipped: summary.finished.steps_skipped,
            undelivered: summary.finished.undelivered,
            resumes: 0,
            steps: summary
                .steps
                .iter()
                .map(|(step, outcome, ms)| StepResult {
                    step: step.clone(),
                    name: None,
                    action: None,
                    outcome: *outcome,
                    reason: None,
                    message: None,
                    exit: None,
                    duration_ms: *ms,
                    attempts: 0,
                    visit: 1,
                    failed_checks: Vec::new(),
                })
                .collect(),
        })
}

/// Whether a job summary is expected: GitHub Actions sets `GITHUB_STEP_SUMMARY`.
pub fn job_summary_wanted() -> bool {
    std::env::var_os("GITHUB_STEP_SUMMARY").is_some_and(|v| !v.is_empty())
}

/// Appends the run's job summary to `$GITHUB_STEP_SUMMARY`; a failure to write it is a
/// warning, never the run's failure.
pub fn write_job_summary(run: &RunSummaryJson, title: &str) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|v| !v.is_empty()) else {
        return;
    };
    let text = job_summary(run, title);
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(err) = written {
        eprintln!(
            "warning: cannot write the job summary to {}: {err}",
            std::path::Path::new(&path).display()
        );
    }
}

/// The job summary: the outcome first, then one row per step.
pub fn job_summary(run: &RunSummaryJson, title: &str) -> String {
    let (icon, word) = match run.outcome {
        RunOutcome::Success => ("✅", "success"),
        RunOutcome::Failed => ("❌", "failed"),
        RunOutcome::Aborted => ("⛔", "aborted"),
        RunOutcome::Interrupted => ("⛔", "interrupted"),
    };
    let mut out = format!("### {icon} runbook run: {} — {word}\n\n", md::inline(title));
    out.push_str(&format!(
        "{} · run {} · {} · exit {} · transcript {}\n\n",
        md::code(&run.playbook),
        md::code(&run.run_id),
        runbook_exec::plan::duration_text(run.duration_ms),
        run.exit_code,
        md::code(&run.transcript)
    ));
    let mut facts = vec![format!("{} ok", run.steps_ok)];
    for (n, what) in [
        (run.steps_warning, "warning"),
        (run.steps_failed, "failed"),
        (run.steps_skipped, "skipped"),
    ] {
        if n > 0 {
            facts.push(format!("{n} {what}"));
        }
    }
    if let Some(step) = &run.failed_step {
        facts.push(format!("failed at {}", md::code(step)));
    }
    if let Some(reason) = &run.reason {
        facts.push(md::inline(reason));
    }
    if run.undelivered > 0 {
        facts.push(format!("**{} page(s) not delivered**", run.undelivered));
    }
    out.push_str(&format!("{}\n\n", facts.join(" · ")));
    if !run.steps.is_empty() {
        out.push_str("| step | outcome | reason | message | took |\n|---|---|---|---|---|\n");
        for step in &run.steps {
            out.push_str(&row(step));
        }
        out.push('\n');
    }
    out
}

fn row(step: &StepResult) -> String {
    let icon = match step.outcome {
        Outcome::Ok => "✅",
        Outcome::Warning => "⚠️",
        Outcome::Failed => "❌",
        Outcome::Skipped => "⏭️",
        Outcome::Aborted => "⛔",
    };
    let name = match &step.name {
        Some(name) if name != step.step.rsplit('/').next().unwrap_or("") => {
            format!("{} {}", md::cell_code(&step.step), md::inline(name))
        }
        _ => md::cell_code(&step.step),
    };
    format!(
        "| {name} | {icon} {} | {} | {} | {} |\n",
        step.outcome.as_str(),
        step.reason.map(|r| r.as_str()).unwrap_or(""),
        step.message.as_deref().map(md::inline).unwrap_or_default(),
        runbook_exec::plan::duration_text(step.duration_ms)
    )
}
