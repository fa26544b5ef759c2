//! The engine with a scripted operator: flow, judging and resume, checked on the records a
//! run writes, without a terminal.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runbook_model::Document;
use runbook_template::Engine;
use runbook_transcript::{Event, Outcome, Record, RunOutcome, Stream, Verdict};

use super::{Observer, RunRequest, run};
use crate::operator::{AfterFailure, Answered, BeforeStep, ManualAnswer, Operator, StepPreview};
use crate::process::Signals;
use crate::program::Program;
use crate::vars::{Overrides, Vars};

/// Answers from a script, in order; records what it was asked.
#[derive(Default)]
struct Scripted {
    after_failure: Mutex<VecDeque<AfterFailure>>,
    asked: Mutex<Vec<String>>,
}

fn answered<T>(value: T, answer: &str) -> Answered<T> {
    Answered {
        value,
        question: "scripted".into(),
        answer: answer.into(),
    }
}

impl Operator for Scripted {
    fn interactive(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "script"
    }
    fn before_step(&self, step: &StepPreview) -> Answered<BeforeStep> {
        self.asked
            .lock()
            .unwrap()
            .push(format!("before {}", step.id));
        answered(BeforeStep::Run, "y")
    }
    fn confirm(&self, _: &str, _: &str) -> Answered<bool> {
        answered(true, "y")
    }
    fn destructive(&self, _: &str, _: &str, _: &str) -> Answered<bool> {
        answered(false, "no")
    }
    fn manual(
        &self,
        _: &str,
        _: &str,
        _: &[String],
        _: &[(String, runbook_model::playbook::Input)],
    ) -> Answered<ManualAnswer> {
        answered(ManualAnswer::Done(Vec::new()), "done")
    }
    fn after_failure(
        &self,
        step: &str,
        _: &[Verdict],
        _: Option<&str>,
        _: &crate::operator::Branch,
        _: &[(String, String)],
    ) -> Answered<AfterFailure> {
        self.asked.lock().unwrap().push(format!("failed {step}"));
        let next = self
            .after_failure
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(AfterFailure::Branch);
        let label = next.label();
        answered(next, label.as_str())
    }
}

#[derive(Default)]
struct Records(Mutex<Vec<Record>>);

impl Observer for Records {
    fn record(&self, record: &Record) {
        self.0.lock().unwrap().push(record.clone());
    }
    fn output(&self, _: &str, _: Stream, _: &str) {}
}

fn program(dir: &Path, yaml: &str) -> Arc<Program> {
    let text = format!("apiVersion: runbook/v1\nkind: Playbook\nmetadata: {{ name: t }}\n{yaml}");
    let file = dir.join("t.yaml");
    std::fs::write(&file, &text).unwrap();
    let checked = runbook_model::check_file(&file);
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let (Some(source), Some(Document::Playbook(pb))) = (checked.source, checked.document) else {
        panic!("a playbook")
    };
    Arc::new(Program::compile(&runbook_model::Tree::new(&file, source, *pb)).unwrap())
}

async fn execute(
    program: &Arc<Program>,
    operator: Arc<dyn Operator>,
    transcript: &Path,
    resume: Option<crate::resume::ResumePoint>,
) -> (RunOutcome, Vec<Record>) {
    let engine = Arc::new(Engine::new());
    let vars = Vars::resolve(
        &engine,
        &program.playbook,
        None,
        &Overrides::default(),
        &|_| None,
    )
    .unwrap();
    let records = Arc::new(Records::default());
    let (_tx, signals) = tokio::sync::watch::channel(Signals::default());
    let summary = run(RunRequest {
        engine,
        program: program.clone(),
        source_text: String::new(),
        inventory: None,
        overrides: Overrides::default(),
        vars,
        transcript: transcript.to_owned(),
        operator,
        observer: records.clone(),
        kill_grace: Duration::from_millis(200),
        finally_grace: Duration::from_secs(5),
        delivery_grace: Duration::from_millis(200),
        undelivered_fails: false,
        forks: 8,
        limit: None,
        signals,
        resume,
    })
    .await
    .unwrap();
    let got = records.0.lock().unwrap().clone();
    (summary.outcome, got)
}

fn finished(records: &[Record]) -> Vec<(String, Outcome)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::StepFinished(f) => Some((f.step.clone(), f.outcome)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_operator_retries_then_skips_and_the_flow_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let p = program(
        dir.path(),
        "steps:
  - id: flaky
    run: exit 4
    expect: { exit: 0 }
  - id: after
    run: echo after
",
    );
    let operator = Arc::new(Scripted::default());
    operator
        .after_failure
        .lock()
        .unwrap()
        .extend([AfterFailure::Retry, AfterFailure::Skip]);
    let (outcome, records) = execute(&p, operator.clone(), &dir.path().join("t.jsonl"), None).await;
    assert_eq!(outcome, RunOutcome::Success);
    assert_eq!(
        finished(&records),
        vec![
            ("flaky".to_owned(), Outcome::Skipped),
            ("after".to_owned(), Outcome::Ok)
        ]
    );
    let Event::StepFinished(flaky) = &records
        .iter()
        .find(|r| matches!(&r.event, Event::StepFinished(f) if f.step == "flaky"))
        .unwrap()
        .event
    else {
        unreachable!()
    };
    // Two attempts, each judged: exit 4 against exit 0.
    assert_eq!(flaky.attempts, 2);
    assert_eq!(flaky.verdicts[0].got.as_deref(), Some("4"));
    assert_eq!(
        *operator.asked.lock().unwrap(),
        [
            "before flaky",
            "failed flaky",
            "failed flaky",
            "before after"
        ]
    );
}

#[tokio::test]
async fn checks_grade_a_capture_and_branches_follow() {
    let dir = tempfile::tempdir().unwrap();
    let p = program(
        dir.path(),
        "steps:
  - id: disk
    run: echo 93%
    capture: { pct: { regex: '(\\d+)%' } }
    checks:
      - { if: 'pct | int >= 90', status: critical, message: 'disk {{ pct }}%' }
    on_failure: clean
  - id: skipped-by-branch
    run: 'true'
  - id: clean
    run: echo cleaning
",
    );
    let operator = Arc::new(Scripted::default());
    let (outcome, records) = execute(&p, operator, &dir.path().join("t.jsonl"), None).await;
    assert_eq!(outcome, RunOutcome::Success);
    let steps = finished(&records);
    assert_eq!(
        steps,
        vec![
            ("disk".to_owned(), Outcome::Failed),
            ("clean".to_owned(), Outcome::Ok)
        ]
    );
    let message = records.iter().find_map(|r| match &r.event {
        Event::StepFinished(f) if f.step == "disk" => f.message.clone(),
        _ => None,
    });
    assert_eq!(message.as_deref(), Some("disk 93%"));
}

#[tokio::test]
async fn resume_replays_what_finished_and_runs_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let count = dir.path().join("count");
    let p = program(
        dir.path(),
        &format!(
            "steps:
  - id: once
    run: echo x >> {count}; echo token-42
    capture: {{ token: {{ regex: 'token-(\\d+)' }} }}
  - id: gate
    run: test -e {gate}
  - id: use
    run: echo {{{{ token }}}} >> {count}
",
            count = count.display(),
            gate = dir.path().join("gate").display()
        ),
    );
    let transcript = dir.path().join("t.jsonl");
    let unattended: Arc<dyn Operator> = Arc::new(crate::operator::Unattended {
        operator: "cron".into(),
        skip_manual: false,
        allow_destructive: false,
    });
    let (outcome, _) = execute(&p, unattended.clone(), &transcript, None).await;
    assert_eq!(outcome, RunOutcome::Failed);
    std::fs::write(dir.path().join("gate"), "").unwrap();
    let read = runbook_transcript::read_transcript(&transcript).unwrap();
    let point = crate::resume::resume_point(&read.records, &p, false).unwrap();
    // The failure that stopped the run is not done; the step before it is.
    assert_eq!(point.next_step.as_deref(), Some("gate"));
    assert_eq!(point.replay.len(), 1);
    let (outcome, records) = execute(&p, unattended, &transcript, Some(point)).await;
    assert_eq!(outcome, RunOutcome::Success);
    // `once` ran once in all; its capture reached `use` through the transcript.
    assert_eq!(std::fs::read_to_string(&count).unwrap(), "x\n42\n");
    assert_eq!(
        finished(&records),
        vec![
            ("gate".to_owned(), Outcome::Ok),
            ("use".to_owned(), Outcome::Ok)
        ]
    );
}
