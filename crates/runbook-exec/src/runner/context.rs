//! The template context of a running playbook, built incrementally: each value, capture and
//! finished step is converted once, when it becomes known, and a render looks names up on
//! demand. So rendering a step costs the same after 5 steps as after 5,000.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use indexmap::IndexMap;
use runbook_model::Playbook;
use runbook_template::{Enumerator, Object, ObjectRepr, TemplateValue};
use serde_json::Value;

/// What a playbook instance knows: its values, and what its steps learned.
#[derive(Debug)]
pub(super) struct Known {
    /// Values, `params` and `metadata`, converted once.
    base: Arc<BTreeMap<String, TemplateValue>>,
    /// Captures and operator answers of earlier steps.
    captures: Arc<RwLock<IndexMap<String, TemplateValue>>>,
    /// `steps.<id>`.
    steps: Arc<Steps>,
    /// The `type: command` params: a host's own value for one is code too, as `plan` has it.
    commands: Arc<Vec<String>>,
    /// The item of a `for_each` step, by its name (since format 1.1): set only in the view
    /// of one repetition ([`Known::with_item`]).
    item: Option<(String, TemplateValue)>,
}

#[derive(Debug, Default)]
struct Steps(RwLock<IndexMap<String, TemplateValue>>);

impl Object for Steps {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &TemplateValue) -> Option<TemplateValue> {
        self.0
            .read()
            .expect("steps lock")
            .get(key.as_str()?)
            .cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys = self.0.read().expect("steps lock");
        Enumerator::Values(
            keys.keys()
                .map(|k| TemplateValue::from(k.as_str()))
                .collect(),
        )
    }
}

/// `env.NAME`: reads the process environment on lookup; an unset name is undefined.
#[derive(Debug)]
struct EnvObject;

impl Object for EnvObject {
    fn get_value(self: &Arc<Self>, key: &TemplateValue) -> Option<TemplateValue> {
        std::env::var(key.as_str()?).ok().map(TemplateValue::from)
    }
}

/// The result of one step, as later templates see it (`steps.<id>`).
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct StepView<'a> {
    pub status: &'a str,
    pub exit: Option<i32>,
    pub stdout: &'a str,
    pub stderr: &'a str,
    pub duration: f64,
}

impl StepView<'static> {
    /// A step that has not run in this run (yet).
    pub const NOT_RUN: StepView<'static> = StepView {
        status: "not_run",
        exit: None,
        stdout: "",
        stderr: "",
        duration: 0.0,
    };
}

impl Known {
    pub(super) fn new(playbook: &Playbook, values: &IndexMap<String, Value>) -> Known {
        let mut base: BTreeMap<String, TemplateValue> = values
            .iter()
            .map(|(k, v)| (k.clone(), crate::context::param_value(playbook, k, v)))
            .collect();
        let params: BTreeMap<&str, &Value> = playbook
            .params
            .keys()
            .filter_map(|name| values.get(name).map(|v| (name.as_str(), v)))
            .collect();
        base.insert("params".into(), runbook_template::context(&params));
        base.insert(
            "metadata".into(),
            runbook_template::context(&playbook.metadata),
        );
        // Every step is in `steps` from the start (since format 1.1): one that has not run
        // (yet) reads `status: not_run`, so a report needs no `'id' in steps` guard.
        let not_run = runbook_template::context(&StepView::NOT_RUN);
        let steps: IndexMap<String, TemplateValue> = playbook
            .all_steps()
            .iter()
            .map(|s| (s.id.value.clone(), not_run.clone()))
            .collect();
        Known {
            base: Arc::new(base),
            captures: Arc::default(),
            steps: Arc::new(Steps(RwLock::new(steps))),
            commands: Arc::new(
                playbook
                    .params
                    .iter()
                    .filter(|(_, p)| p.kind == runbook_model::ParamType::Command)
                    .map(|(name, _)| name.clone())
                    .collect(),
            ),
            item: None,
        }
    }

    /// The same knowledge with one `for_each` item named: what a repetition learns is
    /// learned by the playbook, the item is seen by the repetition only. An item is data,
    /// never code, wherever it came from.
    pub(super) fn with_item(&self, name: &str, value: &Value) -> Arc<Known> {
        Arc::new(Known {
            base: self.base.clone(),
            captures: self.captures.clone(),
            steps: self.steps.clone(),
            commands: self.commands.clone(),
            item: Some((name.to_owned(), runbook_template::context(value))),
        })
    }

    /// The values and captures known now, as text (name, value), for the operator's shell
    /// (a `type: command` value as its command line); names that cannot be environment
    /// variables are left out.
    pub(super) fn texts(&self) -> Vec<(String, String)> {
        let captures = self.captures.read().expect("captures lock");
        let mut out: IndexMap<String, String> = IndexMap::new();
        let item = self.item.as_ref().map(|(name, value)| (name, value));
        for (name, value) in self.base.iter().chain(captures.iter()).chain(item) {
            let text = match runbook_template::code_text(value) {
                Some(code) => Some(code.to_owned()),
                None if value.as_str().is_some()
                    || matches!(
                        value.kind(),
                        runbook_template::ValueKind::Number | runbook_template::ValueKind::Bool
                    ) =>
                {
                    Some(value.to_string())
                }
                None => None,
            };
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if let Some(text) = text.filter(|_| valid) {
                out.insert(name.clone(), text);
            }
        }
        out.into_iter().collect()
    }

    /// Learns a value that is shell code (a `type: command` input).
    pub(super) fn learn_code(&self, name: &str, text: &str) {
        self.captures
            .write()
            .expect("captures lock")
            .insert(name.to_owned(), runbook_template::code(text));
    }

    pub(super) fn learn(&self, name: &str, value: &Value) {
        self.captures
            .write()
            .expect("captures lock")
            .insert(name.to_owned(), runbook_template::context(value));
    }

    pub(super) fn finished(&self, id: &str, view: &StepView) {
        self.steps
            .0
            .write()
            .expect("steps lock")
            .insert(id.to_owned(), runbook_template::context(view));
    }

    /// The root context of one render.
    pub(super) fn context(
        self: &Arc<Self>,
        host: &str,
        run: TemplateValue,
        incident: TemplateValue,
        own: Option<&IndexMap<String, Value>>,
    ) -> TemplateValue {
        TemplateValue::from_object(Root {
            known: self.clone(),
            own: own.map(|own| {
                own.iter()
                    .map(|(k, v)| {
                        let command = self.commands.contains(k);
                        (k.clone(), crate::context::template_value(command, v))
                    })
                    .collect()
            }),
            host: TemplateValue::from(host),
            run,
            incident,
        })
    }
}

/// The root of a render: built-ins, then this step's own captures, then earlier captures and
/// answers, then values.
#[derive(Debug)]
struct Root {
    known: Arc<Known>,
    own: Option<IndexMap<String, TemplateValue>>,
    host: TemplateValue,
    run: TemplateValue,
    incident: TemplateValue,
}

impl Object for Root {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &TemplateValue) -> Option<TemplateValue> {
        let name = key.as_str()?;
        match name {
            "host" => return Some(self.host.clone()),
            "run" => return Some(self.run.clone()),
            "incident" => return Some(self.incident.clone()),
            "env" => return Some(TemplateValue::from_object(EnvObject)),
            "steps" => return Some(TemplateValue::from_dyn_object(self.known.steps.clone())),
            "params" | "metadata" => return self.known.base.get(name).cloned(),
            _ => {}
        }
        if let Some((_, item)) = self.known.item.as_ref().filter(|(n, _)| n == name) {
            return Some(item.clone());
        }
        if let Some(v) = self.own.as_ref().and_then(|own| own.get(name)) {
            return Some(v.clone());
        }
        if let Some(v) = self.known.captures.read().expect("captures lock").get(name) {
            return Some(v.clone());
        }
        self.known.base.get(name).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }
}
