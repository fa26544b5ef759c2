//! The questions before a step runs: the operator's go-ahead (run, edit, skip, abort), the
//! playbook's `confirm:`, and the typed phrase of a destructive step.

use runbook_transcript::{Outcome, StepReason};

use super::report::StepReport;
use super::scope::Scope;
use crate::operator::{BeforeStep, Operator, StepPreview};
use crate::program::StepIdx;
use runbook_template::Mode;

impl Scope {
    /// Asks the operator; `None` when a signal came while the question was open. Once the
    /// run is stopping, or with nobody at the terminal, the policy answers at once.
    pub async fn ask<T: Send + 'static>(
        &self,
        question: impl FnOnce(&dyn Operator) -> T + Send + 'static,
    ) -> Option<T> {
        if !self.shared.interactive() {
            return Some(question(self.shared.operator()));
        }
        let operator = self.shared.operator.clone();
        let base = self.shared.signals();
        let mut signals = self.shared.signals.clone();
        let task = tokio::task::spawn_blocking(move || question(&*operator));
        tokio::select! {
            answer = task => answer.ok(),
            _ = signals.wait_for(move |s| s.since(base)) => None,
        }
    }

    /// Asks every question before a command runs. `Ok` carries the command to run (the
    /// operator may have edited it); `Err` the step's report when it does not run.
    pub async fn gate(&self, idx: StepIdx, command: String) -> Result<String, StepReport> {
        let node = self.program.node(idx);
        let step = &node.step;
        let shown = self.shared.redact(&command);
        let preview = StepPreview {
            id: step.id.value.clone(),
            name: step.title().to_owned(),
            doc: step.doc.clone(),
            action: "run",
            command: Some(shown.clone()),
            host: "local".to_owned(),
            expect: step
                .expect
                .as_ref()
                .map(|e| {
                    crate::plan::describe_expect(e, &|t| {
                        self.shared
                            .redact(&self.render(t, Mode::Text, None).unwrap_or_else(|e| e))
                    })
                })
                .unwrap_or_default(),
        };
        let Some(before) = self.ask(move |op| op.before_step(&preview)).await else {
            return Err(StepReport::stopped());
        };
        let mut command = command;
        match before.value {
            BeforeStep::Run => self.prompt(idx, before.question, before.answer, "run"),
            BeforeStep::Edit(edited) => {
                self.prompt(idx, before.question, before.answer, "edited");
                command = edited;
            }
            BeforeStep::Skip => {
                self.prompt(idx, before.question, before.answer, "skip");
                return Err(StepReport::new(Outcome::Skipped)
                    .with_message("skipped by the operator")
                    .with_reason(StepReason::Operator));
            }
            BeforeStep::Abort => {
                self.prompt(idx, before.question, before.answer, "abort");
                return Err(StepReport::aborted());
            }
        }
        if let Some(question) = &step.confirm {
            let question = self
                .render(question, Mode::Text, None)
                .map_err(|e| StepReport::template(format!("confirm: {e}")))?;
            let question = self.shared.redact(&question);
            let id = step.id.value.clone();
            let Some(answer) = self.ask(move |op| op.confirm(&id, &question)).await else {
                return Err(StepReport::stopped());
            };
            let decision = if answer.value { "run" } else { "declined" };
            self.prompt(idx, answer.question, answer.answer, decision);
            if !answer.value {
                return Err(StepReport::new(Outcome::Skipped)
                    .with_message("not confirmed")
                    .with_reason(StepReason::NotConfirmed));
            }
        }
        if step.danger.is_some() {
            let phrase = self
                .render(step.confirm_phrase_template(), Mode::Text, None)
                .map_err(|e| StepReport::template(format!("confirm_phrase: {e}")))?;
            let id = step.id.value.clone();
            let shown = self.shared.redact(&command);
            let Some(answer) = self
                .ask(move |op| op.destructive(&id, &shown, &phrase))
                .await
            else {
                return Err(StepReport::stopped());
            };
            let decision = if answer.value { "run" } else { "refused" };
            self.prompt(idx, answer.question, answer.answer.clone(), decision);
            if !answer.value {
                let (outcome, reason) = if self.shared.interactive() {
                    (Outcome::Skipped, StepReason::NotConfirmed)
                } else {
                    (Outcome::Failed, StepReason::Unattended)
                };
                return Err(StepReport::new(outcome)
                    .with_message(format!("destructive step not confirmed: {}", answer.answer))
                    .with_reason(reason));
            }
        }
        Ok(command)
    }
}
