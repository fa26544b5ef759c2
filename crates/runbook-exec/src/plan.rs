//! The plan: what a run would do, resolved against an environment but not executed. `plan`
//! prints it for reviewers; values known only at run time show as `<name>`.

use indexmap::IndexMap;
use runbook_model::playbook::{Capture, CheckStatus, Expect, Matcher};
use runbook_model::{Flow, Inventory, Playbook, Spanned, Step};
use runbook_template::{Engine, Mode, TemplateValue, placeholder};
use serde::Serialize;

use crate::context::ContextParts;
use crate::program::{Next, Program};
use crate::vars::{Origin, Vars};

/// A resolved playbook, ready to print.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub name: String,
    pub title: String,
    pub version: Option<String>,
    pub severity: Option<String>,
    pub file: String,
    pub inventory: Option<String>,
    pub params: Vec<PlanValue>,
    pub escalation: Vec<PlanEscalation>,
    pub steps: Vec<PlanStep>,
    pub finally: Vec<PlanStep>,
}

/// A param or var with its resolved value (secrets as `***`) and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct PlanValue {
    pub name: String,
    pub value: String,
    pub origin: Origin,
    pub secret: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanEscalation {
    pub after: String,
    pub notify: Vec<String>,
    pub message: String,
}

/// One step as it would run.
#[derive(Debug, Clone, Serialize)]
pub struct PlanStep {
    pub number: String,
    pub id: String,
    pub name: String,
    pub action: &'static str,
    /// The resolved command, script text, wait or sub-playbook.
    pub detail: String,
    /// `local`, or the hosts of `on:`.
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    pub expect: Vec<String>,
    pub captures: Vec<String>,
    pub checks: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    /// The phrase a destructive step needs typed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destructive: Option<String>,
    pub inputs: Vec<String>,
    pub checklist: Vec<String>,
    pub on_success: Option<String>,
    pub on_failure: String,
    /// Where the run goes when the step passes: a step id, `finally` (the main steps are
    /// done) — as the engine decides it ([`Program::next`]).
    pub next_ok: String,
    /// Where it goes when the step fails: a step id, `finally`, or `stop` (the run fails).
    pub next_failed: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalate: Option<String>,
    pub max_visits: Option<u32>,
    pub children: Vec<PlanStep>,
    /// A template that could not be rendered with the values at hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Builds the plan. Missing required params must have been reported before.
pub fn build(
    engine: &Engine,
    program: &Program,
    file: &str,
    inventory: Option<(&Inventory, &str)>,
    vars: &Vars,
) -> Plan {
    let playbook: &Playbook = &program.playbook;
    let redactor = vars.redactor();
    let mut captures: IndexMap<String, TemplateValue> = IndexMap::new();
    for step in playbook.all_steps() {
        for name in step.capture.keys().chain(step.inputs.keys()) {
            captures.insert(name.clone(), placeholder(name));
        }
    }
    let steps_value = {
        let map: IndexMap<String, TemplateValue> = playbook
            .all_steps()
            .iter()
            .map(|s| {
                let fields: IndexMap<&str, TemplateValue> =
                    ["status", "exit", "stdout", "stderr", "duration"]
                        .into_iter()
                        .map(|f| (f, placeholder(&format!("steps.{}.{f}", s.id.value))))
                        .collect();
                (s.id.value.clone(), TemplateValue::from_pairs(fields))
            })
            .collect();
        TemplateValue::from_pairs(map)
    };
    let run_value = TemplateValue::from_pairs([
        ("id", placeholder("run.id")),
        ("elapsed", placeholder("run.elapsed")),
        ("operator", placeholder("run.operator")),
        ("failed_step", placeholder("run.failed_step")),
    ]);
    let incident_value = TemplateValue::from_pairs([
        ("elapsed", placeholder("incident.elapsed")),
        ("started", placeholder("incident.started")),
    ]);
    let planner = Planner {
        engine,
        program,
        playbook,
        inventory: inventory.map(|(i, _)| i),
        vars,
        captures,
        steps_value,
        run_value,
        incident_value,
        redact: &|s: &str| redactor.redact(s),
    };
    let params = vars
        .values
        .keys()
        .map(|name| PlanValue {
            name: name.clone(),
            value: vars.display(name),
            origin: vars.origins.get(name).copied().unwrap_or(Origin::Default),
            secret: vars.secret_names.contains(name),
        })
        .collect();
    let escalation = playbook
        .escalation
        .iter()
        .map(|rung| PlanEscalation {
            after: rung.after.0.clone(),
            notify: rung.notify.iter().map(|c| c.value.clone()).collect(),
            message: rung
                .message
                .as_ref()
                .map(|m| {
                    planner
                        .text(m, "local")
                        .unwrap_or_else(|e| format!("<error: {e}>"))
                })
                .unwrap_or_else(|| {
                    format!("{} unresolved after {}", playbook.title(), rung.after.0)
                }),
        })
        .collect();
    Plan {
        name: playbook.metadata.name.value.clone(),
        title: playbook.title().to_owned(),
        version: playbook.metadata.version.as_ref().map(|v| v.value.clone()),
        severity: playbook.metadata.severity.map(|s| format!("{s:?}")),
        file: file.to_owned(),
        inventory: inventory.map(|(_, path)| path.to_owned()),
        params,
        escalation,
        steps: planner.steps(&playbook.steps, ""),
        finally: planner.steps(&playbook.finally, "F"),
    }
}

struct Planner<'a> {
    engine: &'a Engine,
    program: &'a Program,
    playbook: &'a Playbook,
    inventory: Option<&'a Inventory>,
    vars: &'a Vars,
    captures: IndexMap<String, TemplateValue>,
    steps_value: TemplateValue,
    run_value: TemplateValue,
    incident_value: TemplateValue,
    redact: &'a dyn Fn(&str) -> String,
}

impl Planner<'_> {
    fn context(&self, host: &str) -> TemplateValue {
        ContextParts {
            playbook: self.playbook,
            values: &self.vars.values,
            captures: &self.captures,
            steps: self.steps_value.clone(),
            host,
            run: self.run_value.clone(),
            incident: self.incident_value.clone(),
        }
        .build()
    }

    fn render(&self, text: &str, host: &str, mode: Mode) -> Result<String, String> {
        self.engine
            .render(text, &self.context(host), mode)
            .map(|s| (self.redact)(&s))
            .map_err(|e| e.message)
    }

    fn text(&self, text: &str, host: &str) -> Result<String, String> {
        self.render(text, host, Mode::Text)
    }

    fn flow_target(&self, next: Next) -> String {
        match next {
            Next::Step(idx) => self.program.node(idx).step.id.value.clone(),
            Next::Finally => "finally".to_owned(),
            Next::Stop => "stop".to_owned(),
        }
    }

    fn steps(&self, steps: &[Spanned<Step>], prefix: &str) -> Vec<PlanStep> {
        steps
            .iter()
            .enumerate()
            .map(|(i, s)| self.step(s, &format!("{prefix}{}", i + 1)))
            .collect()
    }

    fn step(&self, step: &Step, number: &str) -> PlanStep {
        let error: std::cell::RefCell<Option<String>> = std::cell::RefCell::new(None);
        let (target, host) = match &step.on {
            Some(on) => {
                let hosts = self.inventory.and_then(|i| i.resolve_target(on));
                match hosts {
                    Some(hosts) => (
                        format!("{} ({})", on.value, hosts.join(", ")),
                        hosts.first().cloned().unwrap_or_default(),
                    ),
                    None => {
                        error.borrow_mut().get_or_insert_with(|| {
                            format!("`on: {}` is not a host or group of the inventory", on.value)
                        });
                        (on.value.clone(), "<host>".to_owned())
                    }
                }
            }
            None => ("local".to_owned(), "local".to_owned()),
        };
        let note = |result: Result<String, String>| -> String {
            result.unwrap_or_else(|e| {
                error.borrow_mut().get_or_insert_with(|| e.clone());
                format!("<error: {e}>")
            })
        };
        let action = step.action().map_or("none", |a| a.keyword());
        let detail = if let Some(run) = &step.run {
            note(self.render(run, &host, Mode::Shell))
        } else if let Some(manual) = &step.manual {
            note(self.text(manual, &host))
        } else if let Some(wait) = &step.wait {
            wait.0.clone()
        } else if let Some(path) = &step.playbook {
            let with: Vec<String> = step
                .with
                .iter()
                .map(|(k, v)| {
                    let text = crate::vars::value_text(&v.value);
                    format!("{k}={}", note(self.text(&text, &host)))
                })
                .collect();
            if with.is_empty() {
                path.value.clone()
            } else {
                format!("{} with {}", path.value, with.join(", "))
            }
        } else if let Some(report) = &step.report {
            note(self.text(report, &host))
        } else if step.parallel.is_some() {
            format!(
                "{} steps at once",
                step.parallel.as_ref().map_or(0, Vec::len)
            )
        } else {
            String::new()
        };
        let confirm = step.confirm.as_ref().map(|c| note(self.text(c, &host)));
        let destructive = step
            .danger
            .map(|_| note(self.text(step.confirm_phrase_template(), &host)));
        let expect = step
            .expect
            .as_ref()
            .map(|e| describe_expect(e, &|t| note(self.text(t, &host))))
            .unwrap_or_default();
        let checks = step
            .checks
            .iter()
            .map(|c| {
                let status = match c.status {
                    CheckStatus::Ok => "ok",
                    CheckStatus::Warning => "warning",
                    CheckStatus::Critical => "critical",
                };
                format!("{status} if {}", c.condition.value)
            })
            .collect();
        let captures = step
            .capture
            .iter()
            .map(|(name, c)| format!("{name} ← {}", describe_capture(c)))
            .collect();
        let inputs = step
            .inputs
            .iter()
            .map(|(name, i)| format!("{name}: {}", i.prompt))
            .collect();
        let on_failure = match step.failure_flow() {
            Flow::Abort => "abort".to_owned(),
            Flow::Continue => "continue".to_owned(),
            Flow::Goto(target) => format!("→ {target}"),
        };
        let (next_ok, next_failed) = match self.program.find(&step.id) {
            Some(idx) => (
                self.flow_target(self.program.next(idx, true)),
                self.flow_target(self.program.next(idx, false)),
            ),
            None => (String::new(), String::new()),
        };
        PlanStep {
            next_ok,
            next_failed,
            number: number.to_owned(),
            id: step.id.value.clone(),
            name: step.title().to_owned(),
            action,
            detail,
            target,
            doc: step.doc.clone(),
            when: step.when.as_ref().map(|w| w.value.clone()),
            expect,
            captures,
            checks,
            retry: step.retry.as_ref().map(|r| {
                let mut text = format!("{} attempts", r.attempts);
                if let Some(delay) = &r.delay {
                    text.push_str(&format!(", {} apart", delay.0));
                }
                if let Some(backoff) = r.backoff {
                    text.push_str(&format!(", backoff ×{backoff}"));
                }
                text
            }),
            timeout: step.timeout.as_ref().map(|t| t.0.clone()),
            watch: step.watch.as_ref().map(|w| {
                let until = if w.until.is_some() {
                    ", until it passes"
                } else {
                    ""
                };
                format!("every {} for {}{until}", w.every.0, w.duration.0)
            }),
            confirm,
            destructive,
            inputs,
            checklist: step.checklist.clone(),
            on_success: step.on_success.as_ref().map(|s| s.value.clone()),
            on_failure,
            escalate: step
                .on_failure
                .as_ref()
                .and_then(|f| f.escalate())
                .map(str::to_owned),
            max_visits: step.max_visits,
            children: step
                .parallel
                .as_ref()
                .map(|c| self.steps(c, &format!("{number}.")))
                .unwrap_or_default(),
            error: error.into_inner(),
        }
    }
}

pub(crate) fn describe_expect(expect: &Expect, text: &dyn Fn(&str) -> String) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(exit) = &expect.exit {
        out.push(match &exit.value {
            runbook_model::playbook::ExitCodes::One(c) => format!("exit {c}"),
            runbook_model::playbook::ExitCodes::Any(c) => {
                format!(
                    "exit in {}",
                    c.iter().map(i32::to_string).collect::<Vec<_>>().join("|")
                )
            }
        });
    }
    for (stream, matcher) in [("stdout", &expect.stdout), ("stderr", &expect.stderr)] {
        if let Some(m) = matcher {
            out.extend(describe_matcher(stream, m, text));
        }
    }
    if let Some(json) = &expect.json {
        out.push(format!("json ⊇ {}", json.value));
    }
    out
}

fn describe_matcher(stream: &str, m: &Matcher, text: &dyn Fn(&str) -> String) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = &m.contains {
        out.push(format!("{stream} contains {:?}", text(s)));
    }
    if let Some(s) = &m.not_contains {
        out.push(format!("{stream} does not contain {:?}", text(s)));
    }
    if let Some(s) = &m.equals {
        out.push(format!("{stream} equals {:?}", text(s)));
    }
    if let Some(s) = &m.matches {
        out.push(format!("{stream} matches /{}/", s.value));
    }
    out
}

fn describe_capture(c: &Capture) -> String {
    if let Some(path) = &c.json {
        format!("json {path}")
    } else if let Some(re) = &c.regex {
        format!("regex /{}/", re.value)
    } else if c.stderr {
        "stderr".into()
    } else if c.exit {
        "exit code".into()
    } else {
        "stdout".into()
    }
}
