//! Variables: where each value comes from and which one wins.
//!
//! Lowest to highest: param defaults and playbook `vars`, a param's `from_env`, inventory
//! `vars`, group vars, host vars (per host, for remote steps), `--var-file`, `--var`, operator
//! answers.
//!
//! **Invariant:** only playbook text is a template. A param default or a playbook var that still
//! holds the playbook's own text is rendered (`"https://{{ domain }}/"`); every value from
//! outside the playbook (environment, inventory, `--var-file`, `--var`, a sub-playbook's
//! `with:`, answers) is data and is never rendered, so `{{ x }}` in a password stays those
//! characters. A var rendered from a secret is itself secret.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use runbook_model::{Inventory, ParamType, Playbook};
use runbook_template::{Engine, Mode, TemplateValue};
use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::redact::Redactor;

/// Where a value came from, shown by `plan` next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A param's default or a playbook var.
    Default,
    /// A param's `from_env`.
    Environment,
    /// The inventory's `vars`.
    Inventory,
    /// A `--var-file`.
    VarFile,
    /// A `--var` argument.
    CommandLine,
    /// The operator's answer for a required param nothing else set.
    Operator,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Origin::Default => "default",
            Origin::Environment => "environment",
            Origin::Inventory => "inventory",
            Origin::VarFile => "var file",
            Origin::CommandLine => "--var",
            Origin::Operator => "operator",
        })
    }
}

/// Values given on the command line, before they are merged.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--var-file` paths, in order.
    pub var_files: Vec<PathBuf>,
    /// `--var k=v`, in order.
    pub vars: Vec<(String, String)>,
}

impl Overrides {
    /// Parses one `--var` argument.
    pub fn parse_var(text: &str) -> Result<(String, String), String> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))?;
        if key.is_empty() {
            return Err(format!("`{text}` has an empty key"));
        }
        Ok((key.to_owned(), value.to_owned()))
    }
}

/// The merged values of a run, with their origins and the secrets among them.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    /// Every value by name: params and playbook vars, merged by precedence.
    pub values: IndexMap<String, Value>,
    /// Where each value came from, by name.
    pub origins: IndexMap<String, Origin>,
    /// Names whose values are secret (params with `secret: true`, inventory `secrets:`, and
    /// playbook vars rendered from one of them).
    pub secret_names: BTreeSet<String>,
    /// Required params nothing filled.
    pub missing: Vec<String>,
    /// Names whose current value is the playbook's own text (a template).
    templates: BTreeSet<String>,
    /// Secret texts that are not values of the run: webhook URLs and channel header values,
    /// host and group vars named under `secrets:`.
    pub other_secrets: Vec<String>,
}

impl Vars {
    /// Renders a text template from the values alone (each by its name and under
    /// `params`), for what must be known before any step runs: templated durations.
    pub fn render_static(&self, engine: &Engine, template: &str) -> Result<String, String> {
        let mut map: serde_json::Map<String, Value> = self
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        map.insert("params".into(), Value::Object(map.clone()));
        engine
            .render(
                template,
                &runbook_template::context(&map),
                runbook_template::Mode::Text,
            )
            .map_err(|e| e.message)
    }

    /// Merges every source for a playbook. Missing required params are listed, not errors,
    /// so an interactive run can ask for them.
    pub fn resolve(
        engine: &Engine,
        playbook: &Playbook,
        inventory: Option<&Inventory>,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vars, Error> {
        let mut vars = Vars::default();
        for (name, param) in &playbook.params {
            if param.secret {
                vars.secret_names.insert(name.clone());
            }
            if let Some(default) = &param.default {
                vars.set(name, default.value.clone(), Origin::Default);
                vars.templates.insert(name.clone());
            }
            if let Some(value) = param.from_env.as_deref().and_then(env) {
                vars.set(name, Value::String(value), Origin::Environment);
            }
        }
        for (name, value) in &playbook.vars {
            vars.set(name, value.value.clone(), Origin::Default);
            vars.templates.insert(name.clone());
        }
        if let Some(inventory) = inventory {
            for (name, value) in &inventory.vars {
                vars.set(name, value.value.clone(), Origin::Inventory);
            }
            vars.secret_names
                .extend(inventory.secrets.iter().map(|s| s.value.clone()));
            vars.other_secrets = inventory_secrets(inventory);
        }
        // A secret input's default is what a skipped manual step answers: secret from the start.
        for step in playbook.all_steps() {
            for input in step.inputs.values() {
                if input.secret
                    && let Some(default) = &input.default
                {
                    vars.other_secrets.push(value_text(default));
                }
            }
        }
        for path in &overrides.var_files {
            for (name, value) in read_var_file(path)? {
                vars.set(&name, value, Origin::VarFile);
            }
        }
        for (name, value) in &overrides.vars {
            vars.set(name, Value::String(value.clone()), Origin::CommandLine);
        }
        // Missing params first: a var that reads one is left unrendered, and the error names
        // the param rather than the var.
        vars.missing = playbook
            .params
            .keys()
            .filter(|name| !vars.values.contains_key(*name))
            .cloned()
            .collect();
        vars.render_templates(engine, playbook)?;
        vars.coerce(playbook)?;
        Ok(vars)
    }

    /// Sets a value from outside the playbook: data, never rendered.
    pub fn set(&mut self, name: &str, value: Value, origin: Origin) {
        self.values.insert(name.to_owned(), value);
        self.origins.insert(name.to_owned(), origin);
        self.templates.remove(name);
    }

    /// Renders the values that are still the playbook's own text (param defaults and vars like
    /// `https://{{ domain }}`), in declaration order, so a var may use params and the vars
    /// declared before it. A var that reads a secret becomes secret.
    fn render_templates(&mut self, engine: &Engine, playbook: &Playbook) -> Result<(), Error> {
        let names: Vec<String> = self.values.keys().cloned().collect();
        for name in names {
            if !self.templates.contains(&name) {
                continue;
            }
            let Some(Value::String(text)) = self.values.get(&name) else {
                continue;
            };
            if !text.contains("{{") && !text.contains("{%") {
                continue;
            }
            let reads_secret = runbook_template::analyze(text)
                .map(|names| names.iter().any(|n| self.secret_names.contains(n)))
                .unwrap_or(false);
            if reads_secret {
                self.secret_names.insert(name.clone());
            }
            let ctx = self.context_with_metadata(playbook);
            let rendered = match engine.render(text, &ctx, Mode::Text) {
                Ok(rendered) => rendered,
                Err(err)
                    if err
                        .undefined
                        .as_ref()
                        .is_some_and(|u| self.missing.contains(u)) =>
                {
                    continue;
                }
                Err(err) => {
                    return Err(Error::Template {
                        what: format!("variable `{name}`"),
                        message: err.message,
                    });
                }
            };
            // Rendered once: the output holds values, which are data from now on.
            self.templates.remove(&name);
            self.values.insert(name, Value::String(rendered));
        }
        Ok(())
    }

    /// Sets the answers to missing params and renders the vars that were waiting for them.
    pub fn answer_missing(
        &mut self,
        engine: &Engine,
        playbook: &Playbook,
        answers: Vec<(String, Value)>,
    ) -> Result<(), Error> {
        for (name, value) in answers {
            self.set(&name, value, Origin::Operator);
        }
        self.missing.retain(|name| {
            !self
                .origins
                .get(name)
                .is_some_and(|o| *o == Origin::Operator)
        });
        self.render_templates(engine, playbook)
    }

    /// Turns `--var` strings into the declared type of their param (`int`, `bool`).
    fn coerce(&mut self, playbook: &Playbook) -> Result<(), Error> {
        for (name, param) in &playbook.params {
            let Some(value) = self.values.get_mut(name) else {
                continue;
            };
            let secret = self.secret_names.contains(name);
            let coerced =
                coerce_value(param.kind, &param.choices, value).map_err(|why| Error::BadValue {
                    name: name.clone(),
                    // The reason quotes the value: not when it is a secret.
                    why: if secret {
                        format!("the value is not a valid {:?}", param.kind).to_lowercase()
                    } else {
                        why
                    },
                })?;
            *value = coerced;
        }
        Ok(())
    }

    fn context_with_metadata(&self, playbook: &Playbook) -> TemplateValue {
        let mut map: IndexMap<&str, Value> = self
            .values
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        map.insert(
            "metadata",
            serde_json::to_value(&playbook.metadata).unwrap_or(Value::Null),
        );
        runbook_template::context(&map)
    }

    /// A redactor for every secret value currently known, and the inventory's other secrets.
    pub fn redactor(&self) -> Redactor {
        let mut redactor = Redactor::default();
        for name in &self.secret_names {
            if let Some(value) = self.values.get(name) {
                for text in crate::redact::secret_texts(value) {
                    redactor.add(&text);
                }
            }
        }
        for secret in &self.other_secrets {
            redactor.add(secret);
        }
        redactor
    }

    /// The value as a person should see it: secrets as `***`.
    pub fn display(&self, name: &str) -> String {
        match self.values.get(name) {
            Some(_) if self.secret_names.contains(name) => "***".to_owned(),
            Some(value) => value_text(value),
            None => "<missing>".to_owned(),
        }
    }
}

/// Group and host vars for one host, layered on the run's values.
pub fn host_values(
    base: &IndexMap<String, Value>,
    inventory: Option<&Inventory>,
    host: &str,
) -> IndexMap<String, Value> {
    let mut values = base.clone();
    if let Some(inventory) = inventory {
        for group in inventory.groups.values() {
            if group.hosts().iter().any(|h| h == host)
                && let Some(vars) = group.vars()
            {
                values.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        if let Some(h) = inventory.hosts.get(host) {
            values.extend(h.vars.iter().map(|(k, v)| (k.clone(), v.value.clone())));
        }
    }
    values
}

/// Secrets of an inventory that are not run values: webhook URLs (a Slack-style URL is a
/// credential), channel header values, and host and group vars named under `secrets:`.
pub fn inventory_secrets(inventory: &Inventory) -> Vec<String> {
    let mut out = Vec::new();
    for channel in inventory.channels.values() {
        out.extend(channel.webhook.iter().cloned());
        out.extend(channel.headers.values().cloned());
    }
    let secret = |name: &str| inventory.secrets.iter().any(|s| s.value == name);
    for host in inventory.hosts.values() {
        for (name, value) in &host.vars {
            if secret(name) {
                out.extend(crate::redact::secret_texts(&value.value));
            }
        }
    }
    for group in inventory.groups.values() {
        for (name, value) in group.vars().into_iter().flatten() {
            if secret(name) {
                out.extend(crate::redact::secret_texts(value));
            }
        }
    }
    out
}

/// A value as text: strings bare, everything else as JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Converts a value to a param's type; strings from the command line become ints and bools.
pub fn coerce_value(kind: ParamType, choices: &[String], value: &Value) -> Result<Value, String> {
    let coerced = match (kind, value) {
        (ParamType::Int, Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("`{s}` is not an integer"))?,
        (ParamType::Bool, Value::String(s)) => match s.trim() {
            "true" | "yes" | "1" => Value::Bool(true),
            "false" | "no" | "0" => Value::Bool(false),
            other => return Err(format!("`{other}` is not true or false")),
        },
        (ParamType::String, Value::Number(n)) => Value::String(n.to_string()),
        _ => value.clone(),
    };
    runbook_model::validate::check_value_type(kind, choices, &coerced)?;
    Ok(coerced)
}

fn read_var_file(path: &Path) -> Result<IndexMap<String, Value>, Error> {
    let bytes = runbook_model::load::read_source(path).map_err(|d| {
        // The diagnostic names the file first; the error prints it already.
        let shown = path.display().to_string();
        let message = d
            .message
            .strip_prefix(&shown)
            .unwrap_or(&d.message)
            .trim_start();
        let message = message.strip_prefix("is ").unwrap_or(message);
        Error::VarFile {
            path: path.to_owned(),
            message: message.to_owned(),
        }
    })?;
    let text = String::from_utf8(bytes).map_err(|_| Error::VarFile {
        path: path.to_owned(),
        message: "not UTF-8 text".to_owned(),
    })?;
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.with_snippet = false;
    serde_saphyr::from_str_with_options::<IndexMap<String, Value>>(&text, options).map_err(|err| {
        Error::VarFile {
            path: path.to_owned(),
            message: err.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use runbook_model::Document;

    fn document(yaml: &str) -> Document {
        let checked = runbook_model::check_bytes(Path::new("t.yaml"), yaml.as_bytes().to_vec());
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        checked.document.expect("a document")
    }

    fn playbook(yaml: &str) -> Playbook {
        match document(yaml) {
            Document::Playbook(p) => *p,
            Document::Inventory(_) => panic!("not a playbook"),
        }
    }

    const PLAYBOOK: &str = "apiVersion: runbook/v1\nkind: Playbook\nmetadata: { name: t }\n\
        params:\n  password: { type: string, secret: true }\n  user: { type: string, default: app }\n\
        vars:\n  dsn: \"postgres://{{ user }}:{{ password }}@db/app\"\n  url: \"https://{{ user }}.example.com\"\n\
        steps:\n  - id: a\n    run: echo {{ dsn }} {{ url }}\n";

    fn resolve(vars: &[(&str, &str)]) -> Result<Vars, Error> {
        let overrides = Overrides {
            var_files: vec![],
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        Vars::resolve(
            &Engine::new(),
            &playbook(PLAYBOOK),
            None,
            &overrides,
            &|_| None,
        )
    }

    #[test]
    fn values_from_outside_are_never_rendered() {
        let vars = resolve(&[
            ("password", "{{ password | reverse }}"),
            ("user", "{% for i in range(99999999) %}x{% endfor %}"),
        ])
        .unwrap();
        assert_eq!(vars.values["password"], "{{ password | reverse }}");
        assert_eq!(
            vars.values["user"],
            "{% for i in range(99999999) %}x{% endfor %}"
        );
        // The playbook's own vars are templates, filled with those values as data.
        assert_eq!(
            vars.values["dsn"],
            "postgres://{% for i in range(99999999) %}x{% endfor %}:{{ password | reverse }}@db/app"
        );
    }

    #[test]
    fn an_override_of_a_playbook_var_is_data_too() {
        let vars = resolve(&[("password", "pw"), ("url", "{{ password }}")]).unwrap();
        assert_eq!(vars.values["url"], "{{ password }}");
    }

    #[test]
    fn a_var_rendered_from_a_secret_is_secret() {
        let vars = resolve(&[("password", "hunter2-long")]).unwrap();
        assert!(vars.secret_names.contains("dsn"));
        assert!(!vars.secret_names.contains("url"));
        assert_eq!(vars.display("dsn"), "***");
        let redactor = vars.redactor();
        assert_eq!(redactor.redact("postgres://app:hunter2-long@db/app"), "***");
    }

    #[test]
    fn answers_to_missing_params_fill_the_vars_waiting_for_them_once() {
        let mut vars = resolve(&[]).unwrap();
        assert_eq!(vars.missing, vec!["password".to_owned()]);
        vars.answer_missing(
            &Engine::new(),
            &playbook(PLAYBOOK),
            vec![("password".into(), Value::String("{{ user }}".into()))],
        )
        .unwrap();
        assert!(vars.missing.is_empty());
        assert_eq!(vars.values["dsn"], "postgres://app:{{ user }}@db/app");
        assert_eq!(vars.values["url"], "https://app.example.com");
        assert!(vars.secret_names.contains("dsn"));
    }

    #[test]
    fn a_secret_input_default_is_secret_and_errors_do_not_quote_secrets() {
        let pb = playbook(
            "apiVersion: runbook/v1\nkind: Playbook\nmetadata: { name: t }\n\
             params:\n  pin: { type: int, secret: true }\n\
             steps:\n  - id: ask\n    manual: get it\n    inputs:\n      token: { prompt: T, secret: true, default: default-Secret-4242 }\n",
        );
        let overrides = |pin: &str| Overrides {
            var_files: vec![],
            vars: vec![("pin".into(), pin.into())],
        };
        let vars = Vars::resolve(&Engine::new(), &pb, None, &overrides("1234"), &|_| None).unwrap();
        assert_eq!(vars.redactor().redact("t=default-Secret-4242"), "t=***");
        let err = Vars::resolve(&Engine::new(), &pb, None, &overrides("s3cret-pin"), &|_| {
            None
        })
        .unwrap_err()
        .to_string();
        assert!(!err.contains("s3cret-pin"), "{err}");
        assert!(err.contains("not a valid int"), "{err}");
    }

    #[test]
    fn webhook_urls_headers_and_secret_host_vars_are_secrets() {
        let Document::Inventory(inventory) = document(
            "apiVersion: runbook/v1\nkind: Inventory\nsecrets: [token]\n\
             hosts:\n  web-1: { vars: { token: host-token-123 } }\n\
             channels:\n  oncall: { webhook: \"https://hooks.example.com/T0/B0/xyzzy\", headers: { X-Token: header-secret-1 } }\n",
        ) else {
            panic!("not an inventory")
        };
        let vars = Vars::resolve(
            &Engine::new(),
            &playbook(PLAYBOOK),
            Some(&inventory),
            &Overrides {
                var_files: vec![],
                vars: vec![("password".into(), "pw".into())],
            },
            &|_| None,
        )
        .unwrap();
        let r = vars.redactor();
        assert_eq!(
            r.redact("POST https://hooks.example.com/T0/B0/xyzzy header-secret-1 host-token-123"),
            "POST *** *** ***"
        );
    }
}
