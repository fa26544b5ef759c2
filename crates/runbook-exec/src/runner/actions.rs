//! The actions other than `run`: manual steps, waits, reports, parallel groups and
//! sub-playbooks.

use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use runbook_template::Mode;
use runbook_transcript::{Outcome, RunOutcome, StepReason};
use serde_json::Value;

use super::report::StepReport;
use super::scope::Scope;
use crate::operator::{AfterInterrupt, Answered, ManualAnswer};
use crate::program::{Next, Program, StepIdx};
use crate::vars::{Vars, value_text};

impl Scope {
    pub(super) async fn manual_step(&self, idx: StepIdx, visit: u32) -> StepReport {
        let step = &self.program.node(idx).step;
        let instructions = step.manual.as_ref().expect("a manual step");
        let text = match self.render(instructions, Mode::Text, None) {
            Ok(t) => self.shared.redact(&t),
            Err(e) => return StepReport::template(format!("manual: {e}")),
        };
        self.started(idx, runbook_transcript::ActionKind::Manual, None, 1, visit);
        let inputs: Vec<_> = step
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect();
        let (id, checklist) = (step.id.value.clone(), step.checklist.clone());
        let Some(answer) = self
            .ask(move |op| op.manual(&id, &text, &checklist, &inputs))
            .await
        else {
            return StepReport::stopped();
        };
        match answer.value {
            ManualAnswer::Done(values) => {
                self.prompt(
                    idx,
                    answer.question,
                    answer.answer,
                    runbook_transcript::Decision::Done,
                );
                let mut report = StepReport::new(Outcome::Ok);
                for (name, value) in values {
                    if step.inputs.get(&name).is_some_and(|i| i.secret) {
                        self.shared.journal.add_secret(&value_text(&value));
                        report.secret_inputs.push(name.clone());
                    }
                    report.inputs.insert(name, value);
                }
                // Since format 1.1: the answers are graded like a command's captures.
                let answers = report.inputs.clone();
                self.grade(step, &answers, &mut report);
                report
            }
            ManualAnswer::Skip | ManualAnswer::Fail => {
                // Later steps may read the answers: a question not asked keeps its default
                // (recorded, so a resumed run has it too).
                let defaults: IndexMap<String, Value> = step
                    .inputs
                    .iter()
                    .filter_map(|(name, input)| input.default.clone().map(|d| (name.clone(), d)))
                    .collect();
                // Under --yes the policy answered, not a person.
                let who = if self.shared.interactive() {
                    StepReason::Operator
                } else {
                    StepReason::Unattended
                };
                let mut report = if answer.value == ManualAnswer::Fail {
                    self.prompt(
                        idx,
                        answer.question,
                        answer.answer.clone(),
                        runbook_transcript::Decision::Fail,
                    );
                    StepReport::failed(format!("manual step not done: {}", answer.answer))
                } else {
                    self.prompt(
                        idx,
                        answer.question,
                        answer.answer.clone(),
                        runbook_transcript::Decision::Skip,
                    );
                    StepReport::new(Outcome::Skipped).with_message(answer.answer)
                };
                report.reason = Some(who);
                report.inputs = defaults;
                report
            }
        }
    }

    pub(super) async fn wait_step(
        &self,
        idx: StepIdx,
        duration: Duration,
        visit: u32,
    ) -> StepReport {
        self.started(idx, runbook_transcript::ActionKind::Wait, None, 1, visit);
        if !self.shared.interactive() {
            if self.sleep(duration).await {
                return StepReport::stopped();
            }
            return StepReport::new(Outcome::Ok);
        }
        // A countdown the operator can cut short; Ctrl-C asks what to do (recorded, as for a
        // command): retry waits again, skip ends the wait, abort stops the run.
        let id = self.program.node(idx).step.id.value.clone();
        loop {
            let question_id = id.clone();
            let decision = match self.ask(move |op| op.wait(&question_id, duration)).await {
                Some(Answered {
                    value: true,
                    question,
                    answer,
                }) => {
                    self.prompt(idx, question, answer, runbook_transcript::Decision::Skip);
                    return StepReport::new(Outcome::Ok)
                        .with_message("wait cut short by the operator")
                        .with_reason(StepReason::Operator);
                }
                Some(_) => return StepReport::new(Outcome::Ok),
                None => {
                    let question_id = id.clone();
                    self.ask(move |op| op.after_interrupt(&question_id)).await
                }
            };
            let Some(decision) = decision else {
                return StepReport::stopped();
            };
            let label = decision.value.label();
            self.prompt(idx, decision.question, decision.answer, label);
            match decision.value {
                AfterInterrupt::Retry => continue,
                AfterInterrupt::Skip => {
                    return StepReport::new(Outcome::Ok)
                        .with_message("wait cut short by the operator")
                        .with_reason(StepReason::Operator);
                }
                AfterInterrupt::Abort => return StepReport::aborted(),
            }
        }
    }

    pub(super) fn report_step(&self, idx: StepIdx, visit: u32) -> StepReport {
        self.started(idx, runbook_transcript::ActionKind::Report, None, 1, visit);
        let template = self
            .program
            .node(idx)
            .step
            .report
            .as_ref()
            .expect("a report");
        match self.render(template, Mode::Text, None) {
            Ok(text) => {
                let mut report = StepReport::new(Outcome::Ok);
                report.report = Some(text);
                report
            }
            Err(e) => StepReport::template(format!("report: {e}")),
        }
    }

    /// A `notify:` step: the message (and the report so far) goes to its channels as a page
    /// does; the step does not wait for the delivery, which ends in an `escalation` record.
    pub(super) fn notify_step(&self, idx: StepIdx, visit: u32) -> StepReport {
        self.started(idx, runbook_transcript::ActionKind::Notify, None, 1, visit);
        let step = &self.program.node(idx).step;
        let notify = step.notify.as_ref().expect("a notify step");
        let message = match self.render(&notify.message, Mode::Text, None) {
            Ok(text) => text,
            Err(e) => return StepReport::template(format!("notify message: {e}")),
        };
        // The transcript already holds every record up to this step, secrets masked.
        let report = notify.report.then(|| {
            match runbook_transcript::read_transcript(&self.shared.transcript) {
                Ok(t) => runbook_report::markdown(&t.records),
                Err(e) => format!("(the report could not be read: {e})"),
            }
        });
        let channels: Vec<String> = notify.channels.iter().map(|c| c.value.clone()).collect();
        let sent = format!("sent to {}", channels.join(", "));
        let playbook = &self.program.playbook;
        self.shared.escalator.fire(super::escalation::Page {
            reason: runbook_transcript::EscalationReason::Notify,
            channels,
            title: playbook.title().to_owned(),
            severity: super::scope::severity(playbook),
            message,
            step: Some(self.path(idx)),
            rung: None,
            due_ms: None,
            late_ms: 0,
            report,
        });
        StepReport::new(Outcome::Ok).with_message(sent)
    }

    /// A `fail:` or `succeed:` step: its message says why the run ends; where it goes
    /// is [`Program::next_after`]'s decision.
    pub(super) fn end_step(&self, idx: StepIdx, visit: u32) -> StepReport {
        let step = &self.program.node(idx).step;
        let (action, template, failed) = match (&step.fail, &step.succeed) {
            (Some(text), _) => (runbook_transcript::ActionKind::Fail, text, true),
            (None, Some(text)) => (runbook_transcript::ActionKind::Succeed, text, false),
            (None, None) => unreachable!("an end step"),
        };
        self.started(idx, action, None, 1, visit);
        let message = match self.render(template, Mode::Text, None) {
            Ok(text) => text,
            Err(e) => return StepReport::template(format!("{action}: {e}")),
        };
        if failed {
            StepReport::failed(message).with_reason(StepReason::Fail)
        } else {
            StepReport::new(Outcome::Ok)
                .with_message(message)
                .with_reason(StepReason::Succeed)
        }
    }

    pub(super) async fn parallel_step(
        &self,
        idx: StepIdx,
        children: &[StepIdx],
        visit: u32,
    ) -> StepReport {
        self.started(
            idx,
            runbook_transcript::ActionKind::Parallel,
            None,
            1,
            visit,
        );
        let reports = join_all(children.iter().map(|&c| self.visit(c, 1))).await;
        // A child fails its group unless its own `on_failure` lets the run go on.
        let failed: Vec<&str> = children
            .iter()
            .zip(&reports)
            .filter(|&(&c, r)| !r.outcome.passed() && self.program.next(c, false) == Next::Stop)
            .map(|(&c, _)| self.program.node(c).step.id.as_str())
            .collect();
        let mut report = if failed.is_empty() {
            let warned = reports.iter().any(|r| r.outcome == Outcome::Warning);
            StepReport::new(if warned {
                Outcome::Warning
            } else {
                Outcome::Ok
            })
        } else {
            StepReport::failed(format!("failed: {}", failed.join(", ")))
                .with_reason(StepReason::Group)
        };
        report.interrupted = reports.iter().any(|r| r.interrupted);
        report.abort = reports.iter().any(|r| r.abort);
        if report.interrupted {
            report.outcome = Outcome::Aborted;
            report.message = Some("interrupted".into());
            report.reason = Some(StepReason::Interrupted);
        } else if report.abort {
            report.outcome = Outcome::Aborted;
            report.message = Some("aborted by the operator".into());
            report.reason = Some(StepReason::Operator);
        }
        report
    }

    pub(super) async fn sub_playbook(
        &self,
        idx: StepIdx,
        sub: Arc<Program>,
        visit: u32,
    ) -> StepReport {
        let step = &self.program.node(idx).step;
        let path = step.playbook.as_ref().expect("a playbook step");
        self.started(
            idx,
            runbook_transcript::ActionKind::Playbook,
            Some(path),
            1,
            visit,
        );
        let mut overrides = self.shared.overrides.clone();
        // `with:` values are rendered in the parent's context and win over everything else.
        for (name, value) in &step.with {
            let text = value_text(&value.value);
            match self.render(&text, Mode::Text, None) {
                Ok(v) => overrides.vars.push((name.clone(), v)),
                Err(e) => return StepReport::template(format!("with {name}: {e}")),
            }
        }
        let vars = match Vars::resolve(
            &self.shared.engine,
            &sub.playbook,
            self.shared.inventory.as_deref(),
            &overrides,
            &|n| std::env::var(n).ok(),
        ) {
            Ok(v) => v,
            Err(e) => return StepReport::failed(e.to_string()),
        };
        if !vars.missing.is_empty() {
            return StepReport::failed(
                crate::Error::MissingParams(vars.missing.clone()).to_string(),
            );
        }
        // Its templated durations take its own values (since format 1.1).
        let sub = if sub.has_duration_templates() {
            match sub.render_durations(&|t| vars.render_static(&self.shared.engine, t)) {
                Ok(filled) => Arc::new(filled),
                Err(e) => return StepReport::template(e.to_string()),
            }
        } else {
            sub
        };
        // The child's secrets (its own, and values derived from them) join the run's redactor.
        self.shared.journal.add_secrets(&vars.redactor());
        let prefix = format!("{}/", self.path(idx));
        let child = Scope::new(self.shared.clone(), sub.clone(), vars, prefix.clone());
        // The child's ladder joins the incident clock while it runs.
        let ladder = child.ladder();
        self.shared.escalator.enter(&prefix, ladder);
        let outcome = Box::pin(child.run()).await;
        self.shared.escalator.leave(&prefix);
        let mut report = match outcome {
            RunOutcome::Success => StepReport::new(Outcome::Ok),
            RunOutcome::Failed => StepReport::failed(format!(
                "sub-playbook {} failed",
                sub.playbook.metadata.name.value
            ))
            .with_reason(StepReason::SubPlaybook),
            RunOutcome::Aborted => StepReport::aborted(),
            RunOutcome::Interrupted => StepReport::stopped(),
        };
        report.attempts = 1;
        report
    }
}

/// Joins futures concurrently on the current task (children of a `parallel` step).
pub(super) async fn join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let futures: Vec<_> = futures.map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut pending: Vec<_> = futures.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, fut)| match fut.as_mut().poll(cx) {
            std::task::Poll::Ready(out) => {
                results[*i] = Some(out);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results
        .into_iter()
        .map(|r| r.expect("every future completed"))
        .collect()
}
