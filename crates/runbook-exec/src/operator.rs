//! The questions a run asks, and the unattended answers to them. The interactive front end
//! implements [`Operator`] with prompts; the engine never touches the terminal itself.

use runbook_transcript::Verdict;

/// What to do before a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeforeStep {
    /// Run the step as it is.
    Run,
    /// Run it: the operator said yes to the step's own `confirm:` question, asked in place
    /// of "Run it?" (so it is not asked twice).
    RunConfirmed,
    /// Run this command instead, for this run only (recorded).
    Edit(String),
    /// Skip the step; the run goes on.
    Skip,
    /// Stop the run here (`finally` still runs).
    Abort,
}

/// What to do after a step failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// Follow the playbook's `on_failure` (the default).
    Branch,
    /// Run the step again.
    Retry,
    /// Count the step as skipped and go on with the next one.
    Skip,
    /// Page the escalation channels, then ask again.
    Escalate,
    /// The operator looked around in a shell (then is asked again): the commands typed
    /// there, as its history recorded them, for the transcript.
    Shell(Vec<String>),
    /// Stop the run here (`finally` still runs).
    Abort,
}

/// Where the playbook sends the run after a step failed: what "follow the playbook" does,
/// computed by the runner (from [`Program::next`]) so the operator sees the target.
///
/// [`Program::next`]: crate::program::Program::next
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Branch {
    /// `on_failure: <step>`: go to that step.
    Goto(String),
    /// `on_failure: continue`: on with the next step (`None`: no step follows).
    Continue(Option<String>),
    /// `on_failure: abort` (the default): the run (or a parallel child's group) fails here;
    /// `finally` still runs.
    Stop,
}

impl Branch {
    /// What following the playbook does, in words: "go to check-config".
    pub fn describe(&self) -> String {
        match self {
            Branch::Goto(id) => format!("go to {id}"),
            Branch::Continue(Some(id)) => format!("continue to {id}"),
            Branch::Continue(None) => "continue (no step follows)".to_owned(),
            Branch::Stop => "stop: the step fails the run (on_failure: abort)".to_owned(),
        }
    }
}

/// The operator's report on a manual step.
#[derive(Debug, Clone, PartialEq)]
pub enum ManualAnswer {
    /// Done, with the answers to the step's inputs, by name.
    Done(Vec<(String, serde_json::Value)>),
    /// Not done; the run goes on.
    Skip,
    /// It could not be done: the step fails.
    Fail,
}

/// A fan-out to more hosts than this asks the operator to type the host count (after "Run
/// it?"): a slip of `on:` or `--limit` should not reach the whole fleet on one keystroke.
pub const CONFIRM_HOSTS_ABOVE: usize = 5;

/// The answer to "type the host count" before a large fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostsConfirm {
    /// Run on every host (the count was typed, or a policy answered).
    Run,
    /// Skip the step.
    Skip,
    /// Stop the run.
    Abort,
}

impl HostsConfirm {
    /// The decision as the transcript records it.
    pub fn label(self) -> runbook_transcript::Decision {
        use runbook_transcript::Decision;
        match self {
            HostsConfirm::Run => Decision::Run,
            HostsConfirm::Skip => Decision::Skip,
            HostsConfirm::Abort => Decision::Abort,
        }
    }
}

/// A fan-out step that failed beyond its `max_fail`, as its failure menu shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsFailed {
    /// The step's hosts.
    pub total: usize,
    /// The failed hosts and why (masked), in the order of the step's hosts.
    pub failed: Vec<(String, String)>,
    /// Hosts of later batches that did not start.
    pub not_started: usize,
    /// The failures the step tolerates.
    pub max_fail: usize,
}

/// What to do after Ctrl-C stopped a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterInterrupt {
    /// Run the step again.
    Retry,
    /// Count the step as skipped and go on.
    Skip,
    /// Stop the run (`finally` still runs).
    Abort,
}

impl AfterInterrupt {
    /// The decision as the transcript records it.
    pub fn label(&self) -> runbook_transcript::Decision {
        use runbook_transcript::Decision;
        match self {
            AfterInterrupt::Retry => Decision::Retry,
            AfterInterrupt::Skip => Decision::Skip,
            AfterInterrupt::Abort => Decision::Abort,
        }
    }
}

impl AfterFailure {
    /// The decision as the transcript records it.
    pub fn label(&self) -> runbook_transcript::Decision {
        use runbook_transcript::Decision;
        match self {
            AfterFailure::Branch => Decision::Branch,
            AfterFailure::Retry => Decision::Retry,
            AfterFailure::Skip => Decision::Skip,
            AfterFailure::Escalate => Decision::Escalate,
            AfterFailure::Shell(_) => Decision::Shell,
            AfterFailure::Abort => Decision::Abort,
        }
    }
}

/// A step as shown to the operator before it runs (secrets already masked).
#[derive(Debug, Clone, Default)]
pub struct StepPreview {
    /// The step's id (`parent/child` in a sub-playbook).
    pub id: String,
    /// The step's name, or its id.
    pub name: String,
    /// The step's `doc`, when it has one.
    pub doc: Option<String>,
    /// The kind of step (`run`).
    pub action: &'static str,
    /// The rendered command, secrets masked.
    pub command: Option<String>,
    /// The command for the operator to edit: each secret a numbered token (`***1***`) that
    /// the runner turns back into the secret, so an edit never sees nor loses one.
    pub editable: Option<String>,
    /// Where it runs: `local`, or its hosts.
    pub host: String,
    /// The step's expectations, in words.
    pub expect: Vec<String>,
    /// "step 3 of 9" among the playbook's main steps (`finally` steps: of `finally`).
    pub position: Option<(usize, usize)>,
    /// How the step runs beyond its command, said before the question: "retry: 6 attempts,
    /// 4s apart", "watch: every 30s for 30m", "timeout: 60s", "DESTRUCTIVE: ...".
    pub modifiers: Vec<String>,
    /// The step's `confirm:` question (rendered, masked): asked in place of "Run it?".
    pub confirm: Option<String>,
    /// The parallel group this step belongs to: its id, name and doc.
    pub group: Option<(String, String, Option<String>)>,
}

/// One question asked during a run: the prompt, the answer, what it decided.
#[derive(Debug, Clone)]
pub struct Answered<T> {
    /// What was decided.
    pub value: T,
    /// The question as asked; empty when a policy answered without asking (then no prompt is
    /// recorded).
    pub question: String,
    /// The answer as given, or the policy that gave it.
    pub answer: String,
}

/// The source of every decision a run needs from a person.
///
/// Methods block; the runner calls them off its async threads.
pub trait Operator: Send + Sync {
    /// Whether this operator is a person (interactive) or a policy.
    fn interactive(&self) -> bool;
    /// Who answers, as the transcript records it (`--operator`, else `$USER`).
    fn name(&self) -> &str;
    /// Before a step runs: run it, run an edited command, skip it or abort the run.
    fn before_step(&self, step: &StepPreview) -> Answered<BeforeStep>;
    /// A `confirm:` question; true runs the step.
    fn confirm(&self, step: &str, question: &str) -> Answered<bool>;
    /// A destructive step: true only when the phrase was typed exactly.
    fn destructive(&self, step: &str, command: &str, phrase: &str) -> Answered<bool>;
    /// A manual step: the operator does it (answering its `inputs`), skips it or fails it.
    fn manual(
        &self,
        step: &str,
        instructions: &str,
        checklist: &[String],
        inputs: &[(String, runbook_model::playbook::Input)],
    ) -> Answered<ManualAnswer>;
    /// After a step failed (its retries spent): `branch` is where the playbook goes; `values`
    /// are the playbook's values and captures that are not secret, for the operator's shell.
    fn after_failure(
        &self,
        step: &str,
        verdicts: &[Verdict],
        message: Option<&str>,
        branch: &Branch,
        values: &[(String, String)],
    ) -> Answered<AfterFailure>;
    /// After Ctrl-C stopped a step: retry it, skip it or abort the run.
    fn after_interrupt(&self, step: &str) -> Answered<AfterInterrupt> {
        Answered {
            value: AfterInterrupt::Abort,
            question: format!("`{step}` was interrupted"),
            answer: "abort".into(),
        }
    }
    /// Before a fan-out to more than [`CONFIRM_HOSTS_ABOVE`] hosts: the operator types the
    /// host count to run it (or skips or aborts).
    fn confirm_hosts(&self, step: &str, hosts: usize) -> Answered<HostsConfirm> {
        Answered {
            value: HostsConfirm::Run,
            question: format!("`{step}` runs on {hosts} hosts"),
            answer: "yes (policy)".into(),
        }
    }
    /// After a fan-out step failed beyond its `max_fail`: follow the playbook, retry the
    /// hosts that did not pass (only those), skip them (the step becomes a warning and the
    /// run goes on), escalate, or abort. `Shell` is never answered here.
    fn after_hosts_failed(
        &self,
        step: &str,
        _failed: &HostsFailed,
        _branch: &Branch,
    ) -> Answered<AfterFailure> {
        Answered {
            value: AfterFailure::Branch,
            question: format!("`{step}` failed on some hosts"),
            answer: "follow the playbook (policy)".into(),
        }
    }

    /// Since format 1.1: hands the terminal to an `interactive: true` step's command
    /// (`crontab -e`) until it exits, and returns its exit code; `None` when there is no
    /// terminal to hand over (a policy answers).
    fn hand_over(
        &self,
        _step: &str,
        _script: &str,
        _env: &[(String, String)],
    ) -> Option<std::io::Result<i32>> {
        None
    }
    /// Why nobody can answer any more (stdin reached its end), once that happened. The
    /// runner then stops the run as interrupted: `finally` runs unattended, exit 3, resumable.
    /// Whatever the question returned after that is not used.
    fn gone(&self) -> Option<String> {
        None
    }
    /// Shows a wait's countdown; true when the operator skipped the rest of it. Only called
    /// for interactive operators (unattended waits just sleep).
    fn wait(&self, _step: &str, duration: std::time::Duration) -> Answered<bool> {
        std::thread::sleep(duration);
        Answered {
            value: false,
            question: String::new(),
            answer: String::new(),
        }
    }
}

/// How an unattended run (`--yes`) answers.
#[derive(Debug, Clone)]
pub struct Unattended {
    /// Who the run is recorded as run by.
    pub operator: String,
    /// `--manual skip`: skip manual steps; otherwise they fail.
    pub skip_manual: bool,
    /// `--allow-destructive`: run destructive steps; otherwise they are refused.
    pub allow_destructive: bool,
}

impl Operator for Unattended {
    fn interactive(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        &self.operator
    }

    fn before_step(&self, _: &StepPreview) -> Answered<BeforeStep> {
        Answered {
            value: BeforeStep::Run,
            question: String::new(),
            answer: "yes (--yes)".into(),
        }
    }

    fn confirm(&self, _: &str, question: &str) -> Answered<bool> {
        Answered {
            value: true,
            question: question.to_owned(),
            answer: "yes (--yes)".into(),
        }
    }

    fn destructive(&self, _: &str, _: &str, phrase: &str) -> Answered<bool> {
        let question = format!("type `{phrase}` to run this destructive step");
        if self.allow_destructive {
            Answered {
                value: true,
                question,
                answer: "allowed (--allow-destructive)".into(),
            }
        } else {
            Answered {
                value: false,
                question,
                answer: "refused (--yes without --allow-destructive)".into(),
            }
        }
    }

    fn manual(
        &self,
        _: &str,
        instructions: &str,
        _: &[String],
        _: &[(String, runbook_model::playbook::Input)],
    ) -> Answered<ManualAnswer> {
        let question = instructions
            .lines()
            .next()
            .unwrap_or("manual step")
            .to_owned();
        if self.skip_manual {
            Answered {
                value: ManualAnswer::Skip,
                question,
                answer: "skipped (--manual skip)".into(),
            }
        } else {
            Answered {
                value: ManualAnswer::Fail,
                question,
                answer: "nobody to do it (--yes; use --manual skip)".into(),
            }
        }
    }

    fn after_failure(
        &self,
        _: &str,
        _: &[Verdict],
        _: Option<&str>,
        _: &Branch,
        _: &[(String, String)],
    ) -> Answered<AfterFailure> {
        Answered {
            value: AfterFailure::Branch,
            question: String::new(),
            answer: "follow the playbook (--yes)".into(),
        }
    }
}
