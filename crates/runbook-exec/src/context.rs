//! The template context a step sees: values, built-ins (`metadata`, `params`, `steps`, `host`,
//! `env`, `run`, `incident`), and captures and inputs of earlier steps.

use std::collections::BTreeMap;
use std::sync::Arc;

use indexmap::IndexMap;
use runbook_model::Playbook;
use runbook_template::TemplateValue;
use serde_json::Value;

/// `env.NAME`: reads the process environment on lookup; an unset name is undefined.
#[derive(Debug)]
struct EnvObject;

impl runbook_template::Object for EnvObject {
    fn get_value(self: &Arc<Self>, key: &TemplateValue) -> Option<TemplateValue> {
        let name = key.as_str()?;
        std::env::var(name).ok().map(TemplateValue::from)
    }
}

/// The parts of a context; the executor and `plan` fill them differently.
pub struct ContextParts<'a> {
    /// The playbook: its params say which values are shell code, its metadata is `metadata`.
    pub playbook: &'a Playbook,
    /// The run's values by name (params and vars), each also under `params` when it is a param.
    pub values: &'a IndexMap<String, Value>,
    /// Captures and manual inputs of earlier steps, by name; they hide values of the same name.
    pub captures: &'a IndexMap<String, TemplateValue>,
    /// `steps`: what each finished step left (status, exit, output, duration).
    pub steps: TemplateValue,
    /// `host`: the inventory host the step runs on, or `local`.
    pub host: &'a str,
    /// `run`: the run's id, elapsed time, operator and failed step.
    pub run: TemplateValue,
    /// `incident`: the incident clock's elapsed time and start.
    pub incident: TemplateValue,
}

impl ContextParts<'_> {
    /// The context: the values, then captures over them, then the built-ins.
    pub fn build(&self) -> TemplateValue {
        let mut map: BTreeMap<String, TemplateValue> = BTreeMap::new();
        for (name, value) in self.values {
            map.insert(name.clone(), param_value(self.playbook, name, value));
        }
        let params: BTreeMap<&str, &Value> = self
            .playbook
            .params
            .keys()
            .filter_map(|name| self.values.get(name).map(|v| (name.as_str(), v)))
            .collect();
        map.insert("params".into(), runbook_template::context(&params));
        for (name, value) in self.captures {
            map.insert(name.clone(), value.clone());
        }
        map.insert(
            "metadata".into(),
            runbook_template::context(&self.playbook.metadata),
        );
        map.insert("steps".into(), self.steps.clone());
        map.insert("host".into(), TemplateValue::from(self.host));
        map.insert("env".into(), TemplateValue::from_object(EnvObject));
        map.insert("run".into(), self.run.clone());
        map.insert("incident".into(), self.incident.clone());
        TemplateValue::from_pairs(map)
    }
}

/// A value for the template context: a `type: command` param's is shell code (since format
/// 1.1), every other value is data.
pub fn param_value(playbook: &Playbook, name: &str, value: &Value) -> TemplateValue {
    let command = playbook
        .params
        .get(name)
        .is_some_and(|p| p.kind == runbook_model::ParamType::Command);
    template_value(command, value)
}

/// A value as a template reads it: shell code when it fills a `type: command` param (and is
/// text), data otherwise.
pub fn template_value(command: bool, value: &Value) -> TemplateValue {
    match value {
        Value::String(text) if command => runbook_template::code(text),
        _ => runbook_template::context(value),
    }
}
