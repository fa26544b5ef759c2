//! The compiled step program: a checked playbook turned into what the engine executes.
//!
//! Durations are parsed, flow targets are indices, every sub-playbook is compiled up front
//! from the [`Tree`] loaded with the playbook (an include cycle, a missing or invalid
//! sub-playbook are errors before anything runs; a sub-playbook included twice is compiled
//! once), and the escalation ladder is typed. [`Program::next`] is the one place that decides where a run goes after a step: the
//! runner, resume, `plan` and the Mermaid chart all ask it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use runbook_model::playbook::WatchUntil;
use runbook_model::tree::{Include, Target, Tree};
use runbook_model::{Flow, Playbook, Spanned, Step};
use runbook_transcript::Outcome;

/// How deep sub-playbooks may nest.
pub const MAX_DEPTH: usize = 8;

/// Index of a step in [`Program::steps`].
pub type StepIdx = usize;

/// A playbook ready to run.
#[derive(Debug, Clone)]
pub struct Program {
    /// The checked playbook it was compiled from.
    pub playbook: Arc<Playbook>,
    /// The playbook file, as given.
    pub file: PathBuf,
    /// Every step: main steps, `finally` steps and the children of parallel groups.
    pub steps: Vec<Node>,
    /// The main steps in order.
    pub main: Vec<StepIdx>,
    /// The `finally` steps in order.
    pub finally: Vec<StepIdx>,
    /// The time-based escalation policy.
    pub ladder: Vec<Rung>,
    by_id: HashMap<String, StepIdx>,
}

/// One step with everything the engine needs already parsed.
#[derive(Debug, Clone)]
pub struct Node {
    /// The step as the playbook writes it.
    pub step: Spanned<Step>,
    /// Where it sits: a main step, a `finally` step or a parallel child.
    pub place: Place,
    /// What it does, its parts compiled.
    pub action: Action,
    /// `timeout:`; `None` when the step has none.
    pub timeout: Option<Duration>,
    /// `retry:`; one attempt when the step has none.
    pub retry: RetryPolicy,
    /// `watch:`; `None` when the step runs once.
    pub watch: Option<WatchPolicy>,
    /// Where a passing main step goes when it says so (`on_success`).
    pub on_success: Option<StepIdx>,
    /// `on_failure:`: the channel notified and where the run goes.
    pub on_failure: FailurePolicy,
    /// How often the step may run in one run (`max_visits`, default 3).
    pub max_visits: u32,
    /// Since format 1.1: how long a streaming command is followed before it is stopped.
    pub follow: Option<Duration>,
    /// Durations written as templates (since format 1.1): zero until
    /// [`Program::render_durations`] fills them with the playbook's values.
    pub duration_templates: Vec<DurationTemplate>,
    /// The blocks this step is in, outermost first (since format 1.1): the step runs only
    /// while the `when` of each holds.
    pub blocks: Vec<Block>,
}

/// A `block:` around steps (since format 1.1): no step of its own, a shared condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The block's id: a goto to it goes to its first step.
    pub id: String,
    /// `name`, else the id.
    pub title: String,
    /// The expression every step of the block needs to hold to run.
    pub when: Option<String>,
}

/// A duration of a step written as a template (`timeout: "{{ drill_timeout }}"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationTemplate {
    /// The duration it fills.
    pub field: DurationField,
    /// The template as written.
    pub template: String,
    /// Where it is written, for the error when its value is not a duration.
    pub loc: runbook_model::Loc,
}

/// Which duration of a step a template fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationField {
    /// `wait:`.
    Wait,
    /// `timeout:`.
    Timeout,
    /// `retry.delay`.
    RetryDelay,
    /// `watch.every`.
    WatchEvery,
    /// `watch.for`.
    WatchFor,
}

impl DurationField {
    /// The field as the playbook names it (`retry.delay`).
    pub fn name(self) -> &'static str {
        match self {
            DurationField::Wait => "wait",
            DurationField::Timeout => "timeout",
            DurationField::RetryDelay => "retry.delay",
            DurationField::WatchEvery => "watch.every",
            DurationField::WatchFor => "watch.for",
        }
    }
}

/// Whether a duration is written as a template rather than as a duration.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

impl Node {
    /// Renders this step's templated durations; returns why each one that is not a duration
    /// could not be filled (it stays as it was).
    pub fn fill_durations(
        &mut self,
        render: &dyn Fn(&str) -> Result<String, String>,
    ) -> Vec<(runbook_model::Loc, String)> {
        let mut problems = Vec::new();
        for t in self.duration_templates.clone() {
            let value = render(&t.template).and_then(|text| {
                runbook_model::duration::parse_duration(text.trim()).map_err(|_| {
                    format!(
                        "is `{}`, not a duration like 30s, 15m or 1h30m",
                        text.trim()
                    )
                })
            });
            let value = match value {
                Ok(value) => value,
                Err(why) => {
                    problems.push((t.loc, format!("{} `{}` {why}", t.field.name(), t.template)));
                    continue;
                }
            };
            match t.field {
                DurationField::Wait => self.action = Action::Wait(value),
                DurationField::Timeout => self.timeout = Some(value),
                DurationField::RetryDelay => self.retry.delay = value,
                DurationField::WatchEvery => {
                    if let Some(w) = &mut self.watch {
                        w.every = value;
                    }
                }
                DurationField::WatchFor => {
                    if let Some(w) = &mut self.watch {
                        w.duration = value;
                    }
                }
            }
        }
        problems
    }
}

/// Where a step sits in its playbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The n-th main step.
    Main(usize),
    /// The n-th `finally` step.
    Finally(usize),
    /// A child of a parallel group.
    Child {
        /// The parallel group's step.
        group: StepIdx,
    },
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// A bash command (the template is the step's `run`).
    Run,
    /// Instructions for a person, who says done, skip or fail.
    Manual,
    /// A pause this long.
    Wait(Duration),
    /// A parallel group: its children, in order.
    Parallel(Vec<StepIdx>),
    /// A sub-playbook, compiled.
    Playbook(Arc<Program>),
    /// A Markdown report rendered from the run's state.
    Report,
    /// Send a message to channels now (since format 1.1).
    Notify,
    /// End the run as failed (since format 1.1).
    Fail,
    /// End the run as succeeded: on to `finally` (since format 1.1).
    Succeed,
}

impl Action {
    /// The action's field name in the playbook (`run`, `manual`, …).
    pub fn keyword(&self) -> &'static str {
        match self {
            Action::Run => "run",
            Action::Manual => "manual",
            Action::Wait(_) => "wait",
            Action::Parallel(_) => "parallel",
            Action::Playbook(_) => "playbook",
            Action::Report => "report",
            Action::Notify => "notify",
            Action::Fail => "fail",
            Action::Succeed => "succeed",
        }
    }
}

/// `retry:` with its durations parsed; one attempt when the step has none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The pause after the first failed attempt.
    pub delay: Duration,
    /// What the pause is multiplied by after each attempt (1.0 keeps it).
    pub backoff: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 1,
            delay: Duration::ZERO,
            backoff: 1.0,
        }
    }
}

/// `watch:` with its durations parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchPolicy {
    /// The pause between two repetitions.
    pub every: Duration,
    /// How long the watch lasts (`for`).
    pub duration: Duration,
    /// `success`: stop at the first repetition that passes.
    pub until: Option<WatchUntil>,
}

/// `on_failure:`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailurePolicy {
    /// A channel notified at once.
    pub escalate: Option<String>,
    /// Where the run goes after the failure (and after notifying).
    pub then: Then,
}

/// Where a failed step sends the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Stop: the run (or, for a parallel child, the group) fails.
    Abort,
    /// Go on as if the step had passed.
    Continue,
    /// Go to this step, then on in order from there.
    Goto(StepIdx),
}

/// One rung of the time-based policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rung {
    /// When the rung comes due on the incident clock.
    pub after: Duration,
    /// Channel names, defined by the inventory.
    pub notify: Vec<String>,
    /// A text template; `None` for the default message.
    pub message: Option<String>,
    /// The text the playbook wrote for `after` (`15m`), for messages.
    pub after_text: String,
    /// Since format 1.1: the rung pages only once this expression holds (evaluated when due).
    pub when: Option<String>,
    /// Since format 1.1: the rung repeats this often after `after` until its playbook ends.
    pub every: Option<Duration>,
    /// The text the playbook wrote for `every`.
    pub every_text: Option<String>,
}

impl Rung {
    /// When repetition `repeat` (0 for the first page) comes due on the incident clock.
    pub fn due(&self, repeat: u32) -> Duration {
        match self.every {
            Some(every) => self.after + every.saturating_mul(repeat),
            None => self.after,
        }
    }

    /// The latest repetition due by `now`, never one before `at_least`: when several
    /// came due at once (the run was down, or a sub-playbook joined late), only the latest
    /// of them is paged.
    pub fn repetition_at(&self, now: Duration, at_least: u32) -> u32 {
        let Some(every) = self.every.filter(|e| !e.is_zero()) else {
            return at_least;
        };
        let overdue = now.saturating_sub(self.after).as_millis() / every.as_millis();
        let latest_due = if now >= self.after {
            u32::try_from(overdue).unwrap_or(u32::MAX)
        } else {
            0
        };
        latest_due.max(at_least)
    }
}

/// Where the run goes after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Run this step.
    Step(StepIdx),
    /// The main steps are done: go on with `finally`.
    Finally,
    /// The step's failure stops the run (`finally` still runs).
    Stop,
}

/// Why a playbook cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The playbook or a sub-playbook cannot be compiled: `what` says why.
    #[error("{}: {what}", file.display())]
    Invalid {
        /// The file at fault.
        file: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A sub-playbook includes itself, directly or through others.
    #[error("sub-playbook {} includes itself: {}", file.display(), chain.join(" → "))]
    Cycle {
        /// The sub-playbook that includes itself.
        file: PathBuf,
        /// The files of the cycle, in include order.
        chain: Vec<String>,
    },
    /// Sub-playbooks nest deeper than [`MAX_DEPTH`] levels.
    #[error("sub-playbook nesting is deeper than {MAX_DEPTH} levels at {}", file.display())]
    TooDeep {
        /// The sub-playbook one level too deep.
        file: PathBuf,
    },
    /// Templated durations whose values are not durations (since format 1.1).
    #[error("{}", problems.iter().map(|(loc, why)| format!("{}:{}:{}: {why}", file.display(), loc.line, loc.col)).collect::<Vec<_>>().join("\n"))]
    Durations {
        /// The playbook file.
        file: PathBuf,
        /// Each template's place in the file and why its value is not a duration.
        problems: Vec<(runbook_model::Loc, String)>,
    },
}

impl Program {
    /// Compiles a checked playbook (the tree's root) and, recursively, its sub-playbooks.
    pub fn compile(tree: &Tree) -> Result<Program, CompileError> {
        let root = tree.root();
        Compiler {
            tree,
            done: HashMap::new(),
        }
        .program(&root.playbook, &root.path, &root.includes, 0)
    }

    /// The step at this index (which must come from this program).
    pub fn node(&self, idx: StepIdx) -> &Node {
        &self.steps[idx]
    }

    /// The step with this id, nested and `finally` steps included.
    pub fn find(&self, id: &str) -> Option<StepIdx> {
        self.by_id.get(id).copied()
    }

    /// The one decision of where the run goes after a main step that `passed` or not.
    /// `finally` steps and parallel children go on in their own order; for them this
    /// answers whether a failure stops their group.
    pub fn next(&self, at: StepIdx, passed: bool) -> Next {
        let node = &self.steps[at];
        let following = || match node.place {
            Place::Main(i) => self
                .main
                .get(i + 1)
                .map_or(Next::Finally, |&s| Next::Step(s)),
            Place::Finally(i) => self
                .finally
                .get(i + 1)
                .map_or(Next::Finally, |&s| Next::Step(s)),
            Place::Child { .. } => Next::Finally,
        };
        if passed {
            return match node.on_success {
                Some(target) if matches!(node.place, Place::Main(_)) => Next::Step(target),
                _ => following(),
            };
        }
        match node.on_failure.then {
            Then::Abort if !matches!(node.place, Place::Finally(_)) => Next::Stop,
            Then::Goto(target) if matches!(node.place, Place::Main(_)) => Next::Step(target),
            _ => following(),
        }
    }

    /// Where the run goes after a step that ended with `outcome`: [`Program::next`], except
    /// that a `succeed` main step that ran (was not skipped) ends the main steps, and a
    /// `fail` step that ran stops the run wherever it is.
    pub fn next_after(&self, at: StepIdx, outcome: Outcome) -> Next {
        let node = &self.steps[at];
        match (&node.action, node.place) {
            (Action::Succeed, Place::Main(_))
                if matches!(outcome, Outcome::Ok | Outcome::Warning) =>
            {
                Next::Finally
            }
            (Action::Fail, Place::Main(_) | Place::Child { .. }) if outcome == Outcome::Failed => {
                Next::Stop
            }
            _ => self.next(at, outcome.passed()),
        }
    }

    /// Whether a step of this playbook (not of its sub-playbooks) has a templated duration.
    pub fn has_duration_templates(&self) -> bool {
        self.steps.iter().any(|n| !n.duration_templates.is_empty())
    }

    /// This playbook with its templated durations rendered from its values (params and
    /// vars; a sub-playbook's are rendered when it is entered, with its own). Every
    /// duration that is not one is an error, with its place in the file.
    pub fn render_durations(
        &self,
        render: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<Program, CompileError> {
        let mut program = self.clone();
        let mut problems = Vec::new();
        for node in &mut program.steps {
            problems.extend(node.fill_durations(render));
        }
        if problems.is_empty() {
            return Ok(program);
        }
        Err(CompileError::Durations {
            file: self.file.clone(),
            problems,
        })
    }

    /// The program and step a transcript path names (`step`, `parent/child` inside a
    /// sub-playbook, `step[2]` for the second item of a `for_each`).
    pub fn resolve(&self, path: &str) -> Option<(&Program, StepIdx)> {
        let (head, rest) = match path.split_once('/') {
            Some((head, rest)) => (head, Some(rest)),
            None => (path, None),
        };
        let idx = self.find(iteration_of(head).0)?;
        match (rest, &self.steps[idx].action) {
            (None, _) => Some((self, idx)),
            (Some(rest), Action::Playbook(sub)) => sub.resolve(rest),
            (Some(_), _) => None,
        }
    }

    /// Every step id of this playbook, nested and `finally` included, in file order.
    pub fn step_ids(&self) -> Vec<String> {
        self.playbook
            .all_steps()
            .iter()
            .map(|s| s.id.value.clone())
            .collect()
    }
}

/// A transcript path's step and `for_each` item: `restart[2]` is item 2 of `restart`
/// (numbered from 1).
pub fn iteration_of(path: &str) -> (&str, Option<usize>) {
    if let Some(open) = path.strip_suffix(']').and_then(|p| p.rfind('['))
        && let Ok(item) = path[open + 1..path.len() - 1].parse::<usize>()
    {
        return (&path[..open], Some(item));
    }
    (path, None)
}

/// The durations of a step written as templates.
fn duration_templates(step: &Step) -> Vec<DurationTemplate> {
    let watch = step.watch.as_ref();
    [
        (DurationField::Wait, step.wait.as_ref()),
        (DurationField::Timeout, step.timeout.as_ref()),
        (
            DurationField::RetryDelay,
            step.retry.as_ref().and_then(|r| r.delay.as_ref()),
        ),
        (DurationField::WatchEvery, watch.map(|w| &w.every)),
        (DurationField::WatchFor, watch.map(|w| &w.duration)),
    ]
    .into_iter()
    .filter_map(|(field, text)| {
        let text = text?;
        is_template(&text.0).then(|| DurationTemplate {
            field,
            template: text.0.clone(),
            loc: text.loc,
        })
    })
    .collect()
}

struct Compiler<'t> {
    tree: &'t Tree,
    /// Sub-playbooks already compiled, by their index in the tree.
    done: HashMap<usize, Arc<Program>>,
}

impl Compiler<'_> {
    fn program(
        &mut self,
        playbook: &Playbook,
        file: &Path,
        includes: &[Include],
        depth: usize,
    ) -> Result<Program, CompileError> {
        let invalid = |what: String| CompileError::Invalid {
            file: file.to_owned(),
            what,
        };
        let mut program = Program {
            playbook: Arc::new(playbook.clone()),
            file: file.to_owned(),
            steps: Vec::new(),
            main: Vec::new(),
            finally: Vec::new(),
            ladder: Vec::new(),
            by_id: HashMap::new(),
        };
        // Indices first, so gotos can be resolved whatever their direction. A block's steps
        // take its place in its list (since format 1.1).
        /// A step, its place, and the blocks around it.
        type Placed<'a> = (&'a Spanned<Step>, Place, Vec<&'a Spanned<Step>>);
        let mut order: Vec<Placed> = Vec::new();
        fn collect<'a>(
            steps: &'a [Spanned<Step>],
            place: &dyn Fn(usize) -> Place,
            order: &mut Vec<Placed<'a>>,
        ) {
            for (i, unfolded) in runbook_model::playbook::unfold(steps)
                .into_iter()
                .enumerate()
            {
                let idx = order.len();
                let step = unfolded.step;
                order.push((step, place(i), unfolded.blocks));
                if let Some(children) = &step.parallel {
                    collect(children, &|_| Place::Child { group: idx }, order);
                }
            }
        }
        collect(&playbook.steps, &Place::Main, &mut order);
        collect(&playbook.finally, &Place::Finally, &mut order);
        for (idx, (step, place, _)) in order.iter().enumerate() {
            if program.by_id.insert(step.id.value.clone(), idx).is_some() {
                return Err(invalid(format!(
                    "step id `{}` is used twice",
                    step.id.value
                )));
            }
            match place {
                Place::Main(_) => program.main.push(idx),
                Place::Finally(_) => program.finally.push(idx),
                Place::Child { .. } => {}
            }
        }
        // A goto to a block goes to its first step.
        let mut block_targets: HashMap<String, StepIdx> = HashMap::new();
        for (idx, (_, _, blocks)) in order.iter().enumerate() {
            for block in blocks {
                block_targets.entry(block.id.value.clone()).or_insert(idx);
            }
        }
        for (id, idx) in block_targets {
            if program.by_id.insert(id.clone(), idx).is_some() {
                return Err(invalid(format!("step id `{id}` is used twice")));
            }
        }
        let target = |id: &str| {
            program
                .by_id
                .get(id)
                .copied()
                .ok_or_else(|| invalid(format!("no step `{id}` to go to")))
        };
        // A template is zero until the values are known (`render_durations`).
        let duration = |d: &Spanned<runbook_model::duration::DurationText>, what: &str| {
            if is_template(&d.0) && what != "escalation after" {
                return Ok(Duration::ZERO);
            }
            d.parse()
                .map_err(|e| invalid(format!("{what} `{}`: {e}", d.0)))
        };
        let mut nodes = Vec::with_capacity(order.len());
        for (idx, (step, place, blocks)) in order.iter().enumerate() {
            let action = if step.run.is_some() {
                Action::Run
            } else if step.manual.is_some() {
                Action::Manual
            } else if let Some(wait) = &step.wait {
                Action::Wait(duration(wait, "wait")?)
            } else if step.parallel.is_some() {
                Action::Parallel(
                    (idx + 1..order.len())
                        .filter(|&c| order[c].1 == Place::Child { group: idx })
                        .collect(),
                )
            } else if step.playbook.is_some() {
                let include = includes
                    .iter()
                    .find(|i| i.step == step.id.value)
                    .ok_or_else(|| invalid(format!("`{}` includes nothing", step.id.value)))?;
                Action::Playbook(self.sub(include, depth + 1)?)
            } else if step.report.is_some() {
                Action::Report
            } else if step.notify.is_some() {
                Action::Notify
            } else if step.fail.is_some() {
                Action::Fail
            } else if step.succeed.is_some() {
                Action::Succeed
            } else {
                return Err(invalid(format!("step `{}` has no action", step.id.value)));
            };
            let retry = match &step.retry {
                Some(r) => RetryPolicy {
                    attempts: r.attempts.max(1),
                    delay: r
                        .delay
                        .as_ref()
                        .map(|d| duration(d, "retry delay"))
                        .transpose()?
                        .unwrap_or_default(),
                    backoff: r.backoff.unwrap_or(1.0),
                },
                None => RetryPolicy::default(),
            };
            let watch = match &step.watch {
                Some(w) => Some(WatchPolicy {
                    every: duration(&w.every, "watch every")?,
                    duration: duration(&w.duration, "watch for")?,
                    until: w.until,
                }),
                None => None,
            };
            let then = match step.failure_flow() {
                Flow::Abort => Then::Abort,
                Flow::Continue => Then::Continue,
                Flow::Goto(id) => Then::Goto(target(&id)?),
            };
            nodes.push(Node {
                step: (*step).clone(),
                place: *place,
                action,
                timeout: step
                    .timeout
                    .as_ref()
                    .map(|t| duration(t, "timeout"))
                    .transpose()?,
                retry,
                watch,
                on_success: step
                    .on_success
                    .as_ref()
                    .map(|t| target(t.as_str()))
                    .transpose()?,
                on_failure: FailurePolicy {
                    escalate: step
                        .on_failure
                        .as_ref()
                        .and_then(|f| f.escalate())
                        .map(str::to_owned),
                    then,
                },
                max_visits: step.visit_limit(),
                follow: step
                    .follow
                    .as_ref()
                    .map(|f| duration(f, "follow"))
                    .transpose()?,
                duration_templates: duration_templates(step),
                blocks: blocks
                    .iter()
                    .map(|b| Block {
                        id: b.id.value.clone(),
                        title: b.title().to_owned(),
                        when: b.when.as_ref().map(|w| w.value.clone()),
                    })
                    .collect(),
            });
        }
        for rung in &playbook.escalation {
            program.ladder.push(Rung {
                after: duration(&rung.after, "escalation after")?,
                notify: rung.notify.iter().map(|c| c.value.clone()).collect(),
                message: rung.message.as_ref().map(|m| m.value.clone()),
                after_text: rung.after.0.clone(),
                when: rung.when.as_ref().map(|w| w.value.clone()),
                every: rung
                    .every
                    .as_ref()
                    .map(|e| duration(e, "escalation every"))
                    .transpose()?,
                every_text: rung.every.as_ref().map(|e| e.0.clone()),
            });
        }
        program.steps = nodes;
        Ok(program)
    }

    fn sub(&mut self, include: &Include, depth: usize) -> Result<Arc<Program>, CompileError> {
        let file = include.path.clone();
        let index = match &include.target {
            Target::Node(index) => *index,
            Target::Cycle(chain) => {
                return Err(CompileError::Cycle {
                    file,
                    chain: chain.iter().map(|p| p.display().to_string()).collect(),
                });
            }
            Target::Missing | Target::Unread => {
                return Err(CompileError::Invalid {
                    file,
                    what: "not a valid playbook; run `runbook check` on it".into(),
                });
            }
        };
        if depth > MAX_DEPTH {
            return Err(CompileError::TooDeep { file });
        }
        if let Some(done) = self.done.get(&index) {
            return Ok(done.clone());
        }
        let node = &self.tree.nodes[index];
        let problems = runbook_model::validate::validate_playbook(
            &node.source,
            &node.playbook,
            Some(&node.path),
        );
        if problems.iter().any(runbook_model::Diagnostic::is_error) {
            return Err(CompileError::Invalid {
                file,
                what: "not a valid playbook; run `runbook check` on it".into(),
            });
        }
        let program = Arc::new(self.program(&node.playbook, &node.path, &node.includes, depth)?);
        self.done.insert(index, program.clone());
        Ok(program)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runbook_model::Document;

    fn compile(yaml: &str) -> Program {
        let text =
            format!("apiVersion: runbook/v1\nkind: Playbook\nmetadata: {{ name: t }}\n{yaml}");
        let checked = runbook_model::check_bytes(Path::new("t.yaml"), text.into_bytes());
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        let (Some(source), Some(Document::Playbook(pb))) = (checked.source, checked.document)
        else {
            panic!("not a playbook")
        };
        Program::compile(&Tree::new(Path::new("t.yaml"), source, *pb)).expect("compiles")
    }

    fn id(p: &Program, next: Next) -> String {
        match next {
            Next::Step(i) => p.steps[i].step.id.value.clone(),
            Next::Finally => "<finally>".into(),
            Next::Stop => "<stop>".into(),
        }
    }

    #[test]
    fn next_follows_order_branches_and_stops() {
        let p = compile(
            "steps:
  - { id: a, run: 'true', on_failure: c }
  - { id: b, run: 'true', on_success: d }
  - { id: c, run: 'true', on_failure: continue }
  - { id: d, run: 'true' }
  - id: g
    parallel:
      - { id: g1, run: 'true' }
      - { id: g2, run: 'true', on_failure: continue }
finally:
  - { id: f1, report: x }
  - { id: f2, report: y }
",
        );
        let at = |s: &str| p.find(s).unwrap();
        assert_eq!(id(&p, p.next(at("a"), true)), "b");
        assert_eq!(id(&p, p.next(at("a"), false)), "c");
        assert_eq!(id(&p, p.next(at("b"), true)), "d");
        assert_eq!(id(&p, p.next(at("b"), false)), "<stop>");
        assert_eq!(id(&p, p.next(at("c"), false)), "d");
        assert_eq!(id(&p, p.next(at("g"), true)), "<finally>");
        assert_eq!(id(&p, p.next(at("g1"), false)), "<stop>");
        assert_eq!(id(&p, p.next(at("g2"), false)), "<finally>");
        // A failing `finally` step never stops the others.
        assert_eq!(id(&p, p.next(at("f1"), false)), "f2");
        assert_eq!(id(&p, p.next(at("f2"), false)), "<finally>");
        let Action::Parallel(children) = &p.node(at("g")).action else {
            panic!("a group")
        };
        assert_eq!(children, &vec![at("g1"), at("g2")]);
        assert_eq!(p.main.len(), 5);
        assert_eq!(p.finally, vec![at("f1"), at("f2")]);
    }

    #[test]
    fn fail_stops_and_succeed_ends_the_main_steps_unless_skipped() {
        let p = compile(
            "steps:
  - { id: stop, when: 'false', fail: gone }
  - { id: done, when: 'true', succeed: fine }
  - { id: after, run: 'true' }
  - id: g
    parallel:
      - { id: g1, fail: child }
finally:
  - { id: f1, fail: late }
  - { id: f2, report: y }
",
        );
        let at = |s: &str| p.find(s).unwrap();
        assert_eq!(id(&p, p.next_after(at("stop"), Outcome::Failed)), "<stop>");
        assert_eq!(id(&p, p.next_after(at("stop"), Outcome::Skipped)), "done");
        assert_eq!(id(&p, p.next_after(at("done"), Outcome::Ok)), "<finally>");
        assert_eq!(id(&p, p.next_after(at("done"), Outcome::Skipped)), "after");
        // A `succeed` whose message cannot be rendered failed: the run stops.
        assert_eq!(id(&p, p.next_after(at("done"), Outcome::Failed)), "<stop>");
        assert_eq!(id(&p, p.next_after(at("g1"), Outcome::Failed)), "<stop>");
        // In `finally` a failure never stops the other steps.
        assert_eq!(id(&p, p.next_after(at("f1"), Outcome::Failed)), "f2");
        assert!(matches!(p.node(at("stop")).action, Action::Fail));
        assert!(matches!(p.node(at("done")).action, Action::Succeed));
    }

    #[test]
    fn durations_are_parsed_once() {
        let p = compile(
            "steps:
  - id: a
    run: 'true'
    timeout: 90s
    retry: { attempts: 3, delay: 2s, backoff: 2.0 }
    watch: { every: 5s, for: 1m }
  - { id: w, wait: 1m30s }
escalation:
  - { after: 15m, notify: [lead] }
",
        );
        let a = p.node(p.find("a").unwrap());
        assert_eq!(a.timeout, Some(Duration::from_secs(90)));
        assert_eq!(
            a.retry,
            RetryPolicy {
                attempts: 3,
                delay: Duration::from_secs(2),
                backoff: 2.0
            }
        );
        assert_eq!(a.watch.unwrap().duration, Duration::from_secs(60));
        assert!(matches!(
            p.node(p.find("w").unwrap()).action,
            Action::Wait(d) if d == Duration::from_secs(90)
        ));
        assert_eq!(p.ladder[0].after, Duration::from_secs(900));
        assert_eq!(p.ladder[0].notify, ["lead"]);
    }

    #[test]
    fn an_include_cycle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, sub: &str| {
            std::fs::write(
                dir.path().join(name),
                format!(
                    "apiVersion: runbook/v1\nkind: Playbook\nmetadata: {{ name: {} }}\nsteps:\n  - {{ id: s, playbook: {sub} }}\n",
                    name.trim_end_matches(".yaml")
                ),
            )
            .unwrap();
        };
        write("a.yaml", "b.yaml");
        write("b.yaml", "a.yaml");
        let tree = Tree::load(&dir.path().join("a.yaml")).expect("a playbook");
        let err = Program::compile(&tree).unwrap_err();
        // `check` reports the cycle in b.yaml itself; compiling refuses either way.
        assert!(
            matches!(
                err,
                CompileError::Cycle { .. } | CompileError::Invalid { .. }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("b.yaml"), "{err}");
    }

    #[test]
    fn a_sub_playbook_included_twice_is_compiled_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("verify.yaml"),
            "apiVersion: runbook/v1\nkind: Playbook\nmetadata: { name: verify }\nsteps:\n  - { id: v, run: 'true' }\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("main.yaml"),
            "apiVersion: runbook/v1\nkind: Playbook\nmetadata: { name: main }\nsteps:\n  - { id: first, playbook: verify.yaml }\n  - { id: again, playbook: verify.yaml }\n",
        )
        .unwrap();
        let tree = Tree::load(&dir.path().join("main.yaml")).expect("a playbook");
        let p = Program::compile(&tree).expect("compiles");
        let sub = |id: &str| match &p.node(p.find(id).unwrap()).action {
            Action::Playbook(sub) => sub.clone(),
            _ => panic!("a playbook step"),
        };
        assert!(Arc::ptr_eq(&sub("first"), &sub("again")));
        assert_eq!(sub("first").playbook.metadata.name.value, "verify");
    }
}
