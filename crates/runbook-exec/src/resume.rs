//! Resuming a run from its transcript.
//!
//! A resumed run walks its program from the start again, but every step the transcript shows
//! finished is *replayed*: its recorded outcome, captures and answers are restored and the
//! flow goes on from it, so nothing finished runs twice, at any depth (parallel children,
//! sub-playbooks, goto loops). What is not done runs: a step that was running, an aborted
//! one, and the failure that stopped the run.
//!
//! **Invariant:** a step is counted as done only when its `step_finished` record is in the
//! transcript; a step that was running when the process died is run again (and resume says
//! so first).
//! **Invariant:** `finally` steps of a run that reached its end (a `run_finished` record)
//! run again at the end of the resumed run; those of a run that died during `finally` are
//! done.

use std::collections::{HashMap, HashSet, VecDeque};

use indexmap::IndexMap;

use runbook_transcript::{Event, Outcome, Record, RunOutcome, RunStarted, Rung, StepFinished};

use crate::program::{Next, Place, Program};

/// The finished steps of a transcript, in the order each path finished: the n-th time a
/// resumed run reaches a path, it takes the n-th record.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    done: HashMap<String, VecDeque<StepFinished>>,
}

impl Replay {
    /// The record of the next visit of `path`, if the run already finished it.
    pub fn take(&mut self, path: &str) -> Option<StepFinished> {
        self.done.get_mut(path)?.pop_front()
    }

    /// The record of `path` finished in `visit`, if it is the next one left of that path.
    pub fn take_visit(&mut self, path: &str, visit: u32) -> Option<StepFinished> {
        let queue = self.done.get_mut(path)?;
        if queue.front()?.visit != visit {
            return None;
        }
        queue.pop_front()
    }

    /// How many finished visits are left to replay.
    pub fn len(&self) -> usize {
        self.done.values().map(VecDeque::len).sum()
    }

    /// Whether every finished visit was replayed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Everything a resumed run starts from.
#[derive(Debug, Clone)]
pub struct ResumePoint {
    /// The run's `run_started` record.
    pub started: RunStarted,
    /// The timestamp of the `run_started` record.
    pub started_ts: String,
    /// When the incident clock started (Unix ms): it keeps running across the gap.
    pub clock_start_ms: u64,
    /// The `seq` the resumed run's first record takes.
    pub next_seq: u64,
    /// The incident clock at the last record: the run was not running since.
    pub last_elapsed_ms: u64,
    /// The finished step visits the resumed run replays instead of running them.
    pub replay: Replay,
    /// Rungs of the time-based policy that already fired.
    pub fired: HashSet<Rung>,
    /// Escalation records so far (levels continue from here).
    pub escalations: u32,
    /// Steps that were running (or were cut short) when the run stopped, with the process
    /// group their command ran in.
    pub interrupted: Vec<(String, Option<i32>)>,
    /// The first step of the main flow (or `finally:ID`) the resumed run will execute.
    pub next_step: Option<String>,
}

/// Why a transcript cannot be resumed.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// The transcript has no `run_started` record.
    #[error("the transcript has no run_started record")]
    NoStart,
    /// The run already finished successfully.
    #[error("the run already finished successfully; there is nothing to resume")]
    Finished,
    /// The playbook's step ids differ from those the run started with (what changed); `--force`
    /// resumes anyway.
    #[error("the playbook's steps changed since the run started ({0})")]
    StepsChanged(String),
}

/// Works out what a resumed run replays and where it goes on. `force` accepts a playbook
/// whose steps changed (steps are matched by id).
pub fn resume_point(
    records: &[Record],
    program: &Program,
    force: bool,
) -> Result<ResumePoint, ResumeError> {
    let (started, started_ts) = records
        .iter()
        .find_map(|r| match &r.event {
            Event::RunStarted(s) => Some((s.clone(), r.ts.clone())),
            _ => None,
        })
        .ok_or(ResumeError::NoStart)?;
    let ids = program.step_ids();
    if !force && !started.step_ids.is_empty() && started.step_ids != ids {
        return Err(ResumeError::StepsChanged(describe_change(
            &started.step_ids,
            &ids,
        )));
    }
    if let Some(Record {
        event: Event::RunFinished(f),
        ..
    }) = records.last()
        && f.outcome == RunOutcome::Success
    {
        return Err(ResumeError::Finished);
    }
    let last_end = records
        .iter()
        .rposition(|r| matches!(r.event, Event::RunFinished(_)));

    let mut replay = Replay::default();
    let mut fired = HashSet::new();
    let mut escalations = 0;
    let mut untagged_policy = 0;
    // The last thing each path did, in the order paths first appear: started (with the
    // process group of its latest attempt) or finished.
    let mut last: IndexMap<&str, (Option<Outcome>, Option<i32>)> = IndexMap::new();
    for (at, record) in records.iter().enumerate() {
        match &record.event {
            Event::StepStarted(s) => {
                last.insert(&s.step, (None, None));
            }
            Event::Process(p) => {
                last.entry(&p.step).or_default().1 = Some(p.pgid);
            }
            Event::StepFinished(f) => {
                last.entry(&f.step).or_default().0 = Some(f.outcome);
                if is_done(program, f, last_end.is_some_and(|end| end > at)) {
                    replay
                        .done
                        .entry(f.step.clone())
                        .or_default()
                        .push_back(f.clone());
                }
            }
            Event::Escalation(e) => {
                escalations += 1;
                if e.reason == runbook_transcript::EscalationReason::Policy {
                    let rung = e.rung.clone().unwrap_or_else(|| {
                        untagged_policy += 1;
                        Rung {
                            scope: String::new(),
                            index: untagged_policy - 1,
                            repeat: 0,
                        }
                    });
                    fired.insert(rung);
                }
            }
            _ => {}
        }
    }
    let interrupted = last
        .into_iter()
        .filter(|(_, (outcome, _))| matches!(outcome, None | Some(Outcome::Aborted)))
        .map(|(path, (_, pgid))| (path.to_owned(), pgid))
        .collect();
    let next_step = next_step(program, &replay);
    let last_record = records.last();
    Ok(ResumePoint {
        clock_start_ms: started
            .clock_start_ms
            .or_else(|| runbook_transcript::time::parse_rfc3339_ms(&started_ts))
            .unwrap_or(0),
        started,
        started_ts,
        next_seq: last_record.map_or(0, |r| r.seq + 1),
        last_elapsed_ms: last_record.map_or(0, |r| r.elapsed_ms),
        replay,
        fired,
        escalations,
        interrupted,
        next_step,
    })
}

/// Whether a finished record counts as done. Not done: a step cut short (aborted), the
/// failure that stopped its playbook or group, and a `finally` step of a run that reached its
/// end since (the resumed run's end runs `finally` again).
fn is_done(program: &Program, f: &StepFinished, run_ended_since: bool) -> bool {
    // One host of a fan-out (`step@host`): done when it passed there.
    if let Some((step, _host)) = f.step.rsplit_once('@') {
        return program.resolve(step).is_some() && f.outcome.passed();
    }
    let Some((owner, idx)) = program.resolve(&f.step) else {
        return false;
    };
    match f.outcome {
        Outcome::Aborted => false,
        Outcome::Failed if owner.next(idx, false) == Next::Stop => false,
        _ => !(run_ended_since && matches!(owner.node(idx).place, Place::Finally(_))),
    }
}

/// Where the resumed run will first execute something, following the main flow over what
/// it replays.
fn next_step(program: &Program, replay: &Replay) -> Option<String> {
    let mut replay = replay.clone();
    let mut next = program
        .main
        .first()
        .map_or(Next::Finally, |&s| Next::Step(s));
    // Each replayed visit consumes a record, so the walk ends.
    loop {
        match next {
            Next::Step(idx) => {
                let id = &program.node(idx).step.id.value;
                match replay.take(id) {
                    Some(done) => next = program.next(idx, done.outcome.passed()),
                    None => return Some(id.clone()),
                }
            }
            Next::Stop => return None,
            Next::Finally => {
                return program.finally.iter().find_map(|&idx| {
                    let id = &program.node(idx).step.id.value;
                    replay.take(id).is_none().then(|| format!("finally:{id}"))
                });
            }
        }
    }
}

fn describe_change(before: &[String], now: &[String]) -> String {
    let added: Vec<&str> = now
        .iter()
        .filter(|i| !before.contains(i))
        .map(String::as_str)
        .collect();
    let removed: Vec<&str> = before
        .iter()
        .filter(|i| !now.contains(i))
        .map(String::as_str)
        .collect();
    if added.is_empty() && removed.is_empty() {
        return "reordered".to_owned();
    }
    let list = |items: &[&str]| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    format!("added: {}; removed: {}", list(&added), list(&removed))
}

/// Stops the process groups of steps that were running when the run stopped and are still
/// alive (a step that outlived its runbook); returns the steps whose group was stopped.
/// A group counts as the step's only when one of its processes carries this run's
/// `RUNBOOK_RUN_ID`, so a process id reused since is never touched.
pub fn stop_leftovers(point: &ResumePoint, grace: std::time::Duration) -> Vec<String> {
    point
        .interrupted
        .iter()
        .filter_map(|(step, pgid)| {
            let pgid = (*pgid)?;
            let ours = group_belongs_to_run(pgid, &point.started.run_id);
            (ours && crate::process::stop_group(pgid, grace)).then(|| step.clone())
        })
        .collect()
}

fn group_belongs_to_run(pgid: i32, run_id: &str) -> bool {
    let marker = format!("RUNBOOK_RUN_ID={run_id}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // Fields after the command name (which may hold spaces): state, ppid, pgrp, ...
        let pgrp = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2))
            .and_then(|p| p.parse::<i32>().ok());
        pgrp == Some(pgid)
            && std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == marker.as_bytes()))
    })
}
