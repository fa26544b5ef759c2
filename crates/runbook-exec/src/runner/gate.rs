//! The questions before a step runs: the operator's go-ahead (run, edit, skip, abort), the
//! playbook's `confirm:`, and the typed phrase of a destructive step.

use runbook_transcript::{Outcome, StepReason};

use super::report::StepReport;
use super::scope::Scope;
use crate::operator::{BeforeStep, Operator, StepPreview};
use crate::program::{Place, StepIdx};
use runbook_template::Mode;

impl Scope {
    /// Asks the operator; `None` when a signal came while the question was open, or when
    /// the operator is gone (stdin ended): the run then stops. Once the run is stopping, or
    /// with nobody at the terminal, the policy answers at once.
    pub async fn ask<T: Send + 'static>(
        &self,
        question: impl FnOnce(&dyn Operator) -> T + Send + 'static,
    ) -> Option<T> {
        if !self.shared.interactive() {
            return Some(question(self.shared.operator()));
        }
        if let Some(why) = self.shared.operator.gone() {
            self.shared.operator_gone(&why);
            return None;
        }
        let operator = self.shared.operator.clone();
        let base = self.shared.signals();
        let mut signals = self.shared.signals.clone();
        // Questions take turns (parallel children): the next one is drawn whole, after the
        // previous one was answered, never two reading the same keyboard.
        let _turn = tokio::select! {
            turn = self.shared.asking.lock() => turn,
            _ = signals.wait_for(move |s| s.since(base)) => return None,
        };
        if let Some(why) = self.shared.operator.gone() {
            self.shared.operator_gone(&why);
            return None;
        }
        let task = tokio::task::spawn_blocking(move || question(&*operator));
        let answer = tokio::select! {
            answer = task => answer.ok(),
            _ = signals.wait_for(move |s| s.since(base)) => None,
        };
        // An answer given by the end of input is nobody's answer: the run stops.
        if let Some(why) = self.shared.operator.gone() {
            self.shared.operator_gone(&why);
            return None;
        }
        answer
    }

    /// "step N of M": among the main steps, or among `finally`.
    pub fn position(&self, idx: StepIdx) -> Option<(usize, usize)> {
        match self.program.node(idx).place {
            Place::Main(i) => Some((i + 1, self.program.main.len())),
            Place::Finally(i) => Some((i + 1, self.program.finally.len())),
            Place::Child { .. } => None,
        }
    }

    /// The parallel group a child step belongs to: id, name, doc.
    pub fn group_of(&self, idx: StepIdx) -> Option<(String, String, Option<String>)> {
        let Place::Child { group } = self.program.node(idx).place else {
            return None;
        };
        let step = &self.program.node(group).step;
        Some((
            step.id.value.clone(),
            step.title().to_owned(),
            step.doc.clone(),
        ))
    }

    /// What the operator must know before saying yes, beyond the command.
    fn modifiers(&self, idx: StepIdx) -> Vec<String> {
        let node = self.program.node(idx);
        let d = runbook_transcript::time::format_duration;
        let mut out = Vec::new();
        if let Some(it) = self.iteration_of(idx) {
            out.push(self.shared.redact(&format!(
                "for each: item {} of {}: {}",
                it.number, it.of, it.label
            )));
        }
        if node.retry.attempts > 1 {
            let mut text = format!("retry: {} attempts", node.retry.attempts);
            if !node.retry.delay.is_zero() {
                text.push_str(&format!(", {} apart", d(node.retry.delay)));
                if node.retry.backoff != 1.0 {
                    text.push_str(&format!(" (x{} each time)", node.retry.backoff));
                }
            }
            out.push(text);
        }
        if let Some(w) = node.watch {
            let until = if w.until.is_some() {
                ", until it passes"
            } else {
                ""
            };
            out.push(format!(
                "watch: every {} for {}{until}",
                d(w.every),
                d(w.duration)
            ));
        }
        if let Some(t) = node.timeout {
            out.push(format!(
                "timeout: {} (then its processes are stopped)",
                d(t)
            ));
        }
        if node.step.danger.is_some() {
            out.push("DESTRUCTIVE: its confirm phrase is asked next".to_owned());
        }
        out
    }

    /// Asks every question before a command runs. `Ok` carries the command to run (the
    /// operator may have edited it); `Err` the step's report when it does not run.
    pub async fn gate(&self, idx: StepIdx, command: String) -> Result<String, StepReport> {
        self.gate_on(idx, command, "local".to_owned()).await
    }

    /// As [`Scope::gate`], for a step that runs on `hosts` (shown to the operator).
    pub async fn gate_on(
        &self,
        idx: StepIdx,
        command: String,
        hosts: String,
    ) -> Result<String, StepReport> {
        let node = self.program.node(idx);
        let step = &node.step;
        let shown = self.shared.redact(&command);
        // Only a person edits: a policy never gets the second pass over the command.
        let (editable, secrets) = if self.shared.interactive() {
            let (editable, secrets) = self.shared.mask_for_edit(&command);
            (Some(editable), secrets)
        } else {
            (None, Vec::new())
        };
        let confirm = match &step.confirm {
            Some(question) => Some(
                self.render(question, Mode::Text, None)
                    .map(|q| self.shared.redact(&q))
                    .map_err(|e| StepReport::failed(format!("confirm: {e}")))?,
            ),
            None => None,
        };
        let preview = StepPreview {
            id: step.id.value.clone(),
            name: step.title().to_owned(),
            doc: step.doc.clone(),
            action: "run",
            command: Some(shown.clone()),
            editable,
            host: hosts,
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
            position: self.position(idx),
            modifiers: self.modifiers(idx),
            group: self.group_of(idx),
            confirm: confirm.clone(),
        };
        let Some(before) = self.ask(move |op| op.before_step(&preview)).await else {
            return Err(StepReport::stopped());
        };
        let mut command = command;
        let mut confirmed = false;
        match before.value {
            BeforeStep::Run => self.prompt(
                idx,
                before.question,
                before.answer,
                runbook_transcript::Decision::Run,
            ),
            BeforeStep::RunConfirmed => {
                self.prompt(
                    idx,
                    before.question,
                    before.answer,
                    runbook_transcript::Decision::Run,
                );
                confirmed = true;
            }
            BeforeStep::Edit(edited) => {
                self.prompt(
                    idx,
                    before.question,
                    before.answer,
                    runbook_transcript::Decision::Edited,
                );
                command = crate::redact::Redactor::unmask_edited(&edited, &secrets);
            }
            BeforeStep::Skip => {
                self.prompt(
                    idx,
                    before.question,
                    before.answer,
                    runbook_transcript::Decision::Skip,
                );
                return Err(StepReport::new(Outcome::Skipped)
                    .with_message("skipped by the operator")
                    .with_reason(StepReason::Operator));
            }
            BeforeStep::Abort => {
                self.prompt(
                    idx,
                    before.question,
                    before.answer,
                    runbook_transcript::Decision::Abort,
                );
                return Err(StepReport::aborted());
            }
        }
        if let Some(question) = confirm.filter(|_| !confirmed) {
            let id = step.id.value.clone();
            let Some(answer) = self.ask(move |op| op.confirm(&id, &question)).await else {
                return Err(StepReport::stopped());
            };
            let decision = if answer.value {
                runbook_transcript::Decision::Run
            } else {
                runbook_transcript::Decision::Declined
            };
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
            // A person skips it by saying so; a policy refuses it.
            let interactive = self.shared.interactive();
            let decision = match (answer.value, interactive) {
                (true, _) => runbook_transcript::Decision::Run,
                (false, true) => runbook_transcript::Decision::Skip,
                (false, false) => runbook_transcript::Decision::Refused,
            };
            self.prompt(idx, answer.question, answer.answer.clone(), decision);
            if !answer.value {
                return Err(if interactive {
                    StepReport::new(Outcome::Skipped)
                        .with_message("destructive step skipped by the operator")
                        .with_reason(StepReason::NotConfirmed)
                } else {
                    StepReport::new(Outcome::Failed)
                        .with_message(format!("destructive step not confirmed: {}", answer.answer))
                        .with_reason(StepReason::Unattended)
                });
            }
        }
        Ok(command)
    }
}
