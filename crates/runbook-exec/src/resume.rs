//! Resuming a run from its transcript: what finished, what the run knew, where to go on.
//!
//! **Invariant:** a step is counted as done only when its `step_finished` record is in the
//! transcript; a step that was running when the process died is run again.

use std::collections::HashMap;

use indexmap::IndexMap;
use runbook_model::{Flow, Playbook};
use runbook_transcript::{Event, Outcome, Record, RunOutcome, RunStarted};
use serde_json::Value;

/// Where a resumed run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The main steps, from this index.
    Main(usize),
    /// The `finally` steps, from this index.
    Finally(usize),
}

/// A step result restored from the transcript (`steps.<id>` for later templates).
#[derive(Debug, Clone)]
pub struct RestoredStep {
    pub outcome: Outcome,
    pub exit: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration_ms: u64,
}

/// Everything a resumed run starts from.
#[derive(Debug, Clone)]
pub struct ResumePoint {
    pub started: RunStarted,
    /// The timestamp of the run_started record.
    pub started_ts: String,
    pub next_seq: u64,
    pub elapsed_ms: u64,
    pub position: Position,
    pub captures: IndexMap<String, Value>,
    pub steps: IndexMap<String, RestoredStep>,
    pub visits: HashMap<String, u32>,
    /// Escalation records so far (levels continue from here).
    pub escalations: u32,
    /// Time-based rungs already fired (they are not fired again).
    pub policy_fired: u32,
    pub failed_step: Option<String>,
    /// The step that was running when the process stopped, if any.
    pub interrupted_step: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("the transcript has no run_started record")]
    NoStart,
    #[error("the run already finished successfully; there is nothing to resume")]
    Finished,
    #[error("the playbook's steps changed since the run started ({0})")]
    StepsChanged(String),
}

impl ResumePoint {
    /// The step the resumed run starts with, for display.
    pub fn next_step(&self, playbook: &Playbook) -> Option<String> {
        match self.position {
            Position::Main(i) => playbook.steps.get(i).map(|s| s.id.value.clone()),
            Position::Finally(i) => playbook
                .finally
                .get(i)
                .map(|s| format!("finally:{}", s.id.value)),
        }
    }
}

/// Works out where to go on. `force` accepts a playbook whose steps changed.
pub fn resume_point(
    records: &[Record],
    playbook: &Playbook,
    force: bool,
) -> Result<ResumePoint, ResumeError> {
    let (started, started_ts) = records
        .iter()
        .find_map(|r| match &r.event {
            Event::RunStarted(s) => Some((s.clone(), r.ts.clone())),
            _ => None,
        })
        .ok_or(ResumeError::NoStart)?;
    let ids: Vec<String> = playbook
        .all_steps()
        .iter()
        .map(|s| s.id.value.clone())
        .collect();
    if !force && !started.step_ids.is_empty() && started.step_ids != ids {
        let added: Vec<&str> = ids
            .iter()
            .filter(|i| !started.step_ids.contains(i))
            .map(String::as_str)
            .collect();
        let removed: Vec<&str> = started
            .step_ids
            .iter()
            .filter(|i| !ids.contains(i))
            .map(String::as_str)
            .collect();
        let what = match (added.is_empty(), removed.is_empty()) {
            (true, true) => "reordered".to_owned(),
            _ => format!("added: {}; removed: {}", list(&added), list(&removed)),
        };
        return Err(ResumeError::StepsChanged(what));
    }
    if let Some(Record {
        event: Event::RunFinished(f),
        ..
    }) = records.last()
        && f.outcome == RunOutcome::Success
    {
        return Err(ResumeError::Finished);
    }

    let mut captures = IndexMap::new();
    let mut steps = IndexMap::new();
    let mut visits: HashMap<String, u32> = HashMap::new();
    let mut escalations = 0;
    let mut policy_fired = 0;
    let mut failed_step = None;
    // The last top-level step event: (id, finished outcome or None while running).
    let mut last: Option<(String, Option<Outcome>)> = None;
    for record in records {
        match &record.event {
            Event::StepStarted(s) if !s.step.contains('/') => {
                last = Some((s.step.clone(), None));
            }
            Event::StepFinished(f) => {
                for (k, v) in f.captures.iter().chain(&f.inputs) {
                    captures.insert(k.clone(), v.clone());
                }
                if f.step.contains('/') {
                    continue;
                }
                steps.insert(
                    f.step.clone(),
                    RestoredStep {
                        outcome: f.outcome,
                        exit: f.exit,
                        stdout: f.stdout.clone(),
                        stderr: f.stderr.clone(),
                        duration_ms: f.duration_ms,
                    },
                );
                *visits.entry(f.step.clone()).or_default() += 1;
                last = Some((f.step.clone(), Some(f.outcome)));
            }
            Event::Escalation(e) => {
                escalations += 1;
                if e.reason == "policy" {
                    policy_fired += 1;
                }
            }
            Event::RunFinished(f) => failed_step = f.failed_step.clone(),
            _ => {}
        }
    }
    let main: HashMap<&str, usize> = playbook
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let fin: HashMap<&str, usize> = playbook
        .finally
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut interrupted_step = None;
    let position = match &last {
        None => Position::Main(0),
        Some((id, outcome)) => {
            let id = id.as_str();
            let running_or_stopped = matches!(outcome, None | Some(Outcome::Aborted));
            if running_or_stopped {
                interrupted_step = Some(id.to_owned());
                // A step cut short counts as not run: its visit is given back.
                if outcome.is_some()
                    && let Some(v) = visits.get_mut(id)
                {
                    *v = v.saturating_sub(1);
                }
                match (main.get(id), fin.get(id)) {
                    (Some(&i), _) => Position::Main(i),
                    (None, Some(&i)) => Position::Finally(i),
                    _ => Position::Main(0),
                }
            } else if let Some(&i) = fin.get(id).filter(|_| !main.contains_key(id)) {
                Position::Finally(i + 1)
            } else if let Some(&i) = main.get(id) {
                let step = &playbook.steps[i];
                let outcome = outcome.expect("finished");
                if outcome.passed() {
                    Position::Main(
                        step.on_success
                            .as_ref()
                            .and_then(|t| main.get(t.as_str()).copied())
                            .unwrap_or(i + 1),
                    )
                } else {
                    match step.failure_flow() {
                        // The run stopped at this failure: resuming tries the step again.
                        Flow::Abort => {
                            if let Some(v) = visits.get_mut(id) {
                                *v = v.saturating_sub(1);
                            }
                            failed_step = None;
                            Position::Main(i)
                        }
                        Flow::Continue => Position::Main(i + 1),
                        Flow::Goto(t) => {
                            Position::Main(main.get(t.as_str()).copied().unwrap_or(i + 1))
                        }
                    }
                }
            } else {
                Position::Main(0)
            }
        }
    };
    let position = match position {
        Position::Main(i) if i >= playbook.steps.len() => Position::Finally(0),
        p => p,
    };
    let last_record = records.last();
    Ok(ResumePoint {
        started,
        started_ts,
        next_seq: last_record.map_or(0, |r| r.seq + 1),
        elapsed_ms: last_record.map_or(0, |r| r.elapsed_ms),
        position,
        captures,
        steps,
        visits,
        escalations,
        policy_fired,
        failed_step,
        interrupted_step,
    })
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
