//! Templating for runbook: one minijinja environment in which every value printed into a shell
//! command is quoted as a single shell word, so a hostile value can never become code.
//!
//! Two render modes share the environment: [`Mode::Shell`] (for `run`, auto-escaped through
//! [`shlex::try_quote`]) and [`Mode::Text`] (messages, reports, confirmations; printed as is).
//! `{{ x | raw }}` opts out of the quoting. Undefined names are errors (strict mode), and the
//! static helpers ([`analyze`], [`analyze_expression`], [`placeholders_in_quotes`]) let the
//! validator find problems before anything runs.

mod quotes;

use std::collections::BTreeSet;

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

pub use minijinja::value::{DynObject, Enumerator, Object, ObjectRepr, Value as TemplateValue};
pub use quotes::{placeholders_in_quotes, raw_uses};

/// The template name that turns shell quoting on (the auto-escape callback keys on it).
const SHELL_TEMPLATE: &str = "run.sh";
const TEXT_TEMPLATE: &str = "text.txt";

/// How a rendered value is written into the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every `{{ }}` becomes exactly one shell word (quoted when it needs to be).
    Shell,
    /// Values are written as they are: for messages, Markdown and confirmations.
    Text,
}

/// A template that failed to compile or render, with its place inside the template text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// What went wrong, without location decoration.
    pub message: String,
    /// 1-based line inside the template source, when known.
    pub line: Option<usize>,
    /// Byte range inside the template source, when known.
    pub range: Option<std::ops::Range<usize>>,
    /// The name that was undefined, for an undefined-variable error.
    pub undefined: Option<String>,
}

impl TemplateError {
    fn from_minijinja(err: &minijinja::Error) -> Self {
        let kind = err.kind();
        let message = match err.detail() {
            Some(detail) => format!("{kind}: {detail}"),
            None => kind.to_string(),
        };
        TemplateError {
            message,
            line: err.line(),
            range: err.range(),
            undefined: None,
        }
    }
}

/// The shared template engine. Cheap to share by reference; build it once per process.
pub struct Engine {
    env: Environment<'static>,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Engine")
    }
}

impl Engine {
    /// Builds the environment: strict undefined, shell escaping for [`Mode::Shell`], `raw`.
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Bound the work one template may do: a playbook is input, input may be hostile.
        env.set_recursion_limit(64);
        env.set_auto_escape_callback(|name| {
            if name == SHELL_TEMPLATE {
                AutoEscape::Custom("shell".into())
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(|out, state, value| {
            if matches!(state.auto_escape(), AutoEscape::Custom(_)) && !value.is_safe() {
                let text = value_to_word(value);
                let quoted = shlex::try_quote(&text).map_err(|_| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        "a value containing a NUL byte cannot be passed to a shell",
                    )
                })?;
                out.write_str(&quoted).map_err(minijinja::Error::from)
            } else {
                out.write_str(&value_to_word(value))
                    .map_err(minijinja::Error::from)
            }
        });
        env.add_filter("raw", |value: Value| {
            Value::from_safe_string(value_to_word(&value))
        });
        env.add_filter("shell_quote", |value: Value| {
            let text = value_to_word(&value);
            Value::from_safe_string(
                shlex::try_quote(&text)
                    .map(|q| q.into_owned())
                    .unwrap_or_default(),
            )
        });
        Engine { env }
    }

    /// Renders `source` with `ctx`; in [`Mode::Shell`] every value is one shell word.
    pub fn render(&self, source: &str, ctx: &Value, mode: Mode) -> Result<String, TemplateError> {
        guard(source, false)?;
        let name = match mode {
            Mode::Shell => SHELL_TEMPLATE,
            Mode::Text => TEXT_TEMPLATE,
        };
        self.env
            .render_named_str(name, source, ctx)
            .map_err(|err| self.explain_undefined(source, ctx, &err))
    }

    /// Evaluates a `when` / `checks[].if` expression to a boolean (jinja truthiness).
    pub fn is_true(&self, expression: &str, ctx: &Value) -> Result<bool, TemplateError> {
        guard(expression, true)?;
        let compiled = self
            .env
            .compile_expression(expression)
            .map_err(|e| TemplateError::from_minijinja(&e))?;
        compiled
            .eval(ctx.clone())
            .map(|v| v.is_true())
            .map_err(|err| self.explain_undefined(expression, ctx, &err))
    }

    /// Turns minijinja's bare "undefined value" into a message that names the variable.
    fn explain_undefined(
        &self,
        source: &str,
        ctx: &Value,
        err: &minijinja::Error,
    ) -> TemplateError {
        let mut out = TemplateError::from_minijinja(err);
        if err.kind() == minijinja::ErrorKind::UndefinedError {
            // Look in the failing expression first: the template may use other names that are
            // undefined but guarded (`| default`).
            let failing = err.range().and_then(|r| source.get(r)).map(str::to_owned);
            let missing = failing
                .as_deref()
                .and_then(|expr| analyze_expression(expr).ok())
                .filter(|names| !names.is_empty())
                .map_or_else(
                    || analyze(source).or_else(|_| analyze_expression(source)),
                    Ok,
                )
                .map(|names| {
                    names
                        .into_iter()
                        .find(|name| ctx.get_attr(name).map(|v| v.is_undefined()).unwrap_or(true))
                })
                .ok()
                .flatten();
            if let Some(name) = missing {
                out.message = format!("undefined variable `{name}`");
                out.undefined = Some(name);
            }
        }
        out
    }
}

/// Writes a value the way a shell word should see it: strings bare, none as empty.
fn value_to_word(value: &Value) -> String {
    if value.is_none() || value.is_undefined() {
        String::new()
    } else if let Some(s) = value.as_str() {
        s.to_owned()
    } else {
        value.to_string()
    }
}

/// Operators one template may hold. minijinja's compiler recurses once per operator of a
/// chain, so an absurd template (`1 + 1 + ...` 100,000 times) would overflow the stack.
pub const MAX_OPERATORS: usize = 2000;

/// Refuses templates too complex to compile safely.
fn guard(source: &str, whole_is_expression: bool) -> Result<(), TemplateError> {
    let is_op = |c: char| {
        matches!(
            c,
            '+' | '-' | '*' | '/' | '%' | '~' | '(' | '[' | '|' | '.' | ','
        )
    };
    let count = if whole_is_expression {
        source.chars().filter(|c| is_op(*c)).count()
    } else {
        let mut count = 0;
        let mut rest = source;
        while let Some(open) = rest.find("{{").or_else(|| rest.find("{%")) {
            let after = &rest[open + 2..];
            let end = after
                .find("}}")
                .or_else(|| after.find("%}"))
                .unwrap_or(after.len());
            count += after[..end].chars().filter(|c| is_op(*c)).count();
            rest = &after[end..];
        }
        count
    };
    if count > MAX_OPERATORS {
        return Err(TemplateError {
            message: format!(
                "template too complex: {count} operators (the limit is {MAX_OPERATORS})"
            ),
            line: None,
            range: None,
            undefined: None,
        });
    }
    Ok(())
}

/// Compiles a template and returns the root names it reads from its context.
pub fn analyze(source: &str) -> Result<BTreeSet<String>, TemplateError> {
    guard(source, false)?;
    let env = lint_env();
    let template = env
        .template_from_str(source)
        .map_err(|e| TemplateError::from_minijinja(&e))?;
    Ok(template.undeclared_variables(false).into_iter().collect())
}

/// Like [`analyze`], with nested names (`steps.verify.status`) for finer checks.
pub fn analyze_nested(source: &str) -> Result<BTreeSet<String>, TemplateError> {
    guard(source, false)?;
    let env = lint_env();
    let template = env
        .template_from_str(source)
        .map_err(|e| TemplateError::from_minijinja(&e))?;
    Ok(template.undeclared_variables(true).into_iter().collect())
}

/// Compiles an expression (`when`, `checks[].if`) and returns the root names it reads.
pub fn analyze_expression(expression: &str) -> Result<BTreeSet<String>, TemplateError> {
    guard(expression, true)?;
    let env = lint_env();
    let compiled = env
        .compile_expression(expression)
        .map_err(|e| TemplateError::from_minijinja(&e))?;
    Ok(compiled.undeclared_variables(false).into_iter().collect())
}

/// A bare environment for static analysis: compiling needs no filters or escaping.
fn lint_env() -> Environment<'static> {
    Environment::new()
}

/// Builds a template context from any serializable value.
pub fn context<T: serde::Serialize>(value: &T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// A value that prints as itself, unquoted: used by `plan` for values known only at run time.
pub fn placeholder(label: &str) -> Value {
    Value::from_safe_string(format!("<{label}>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> Value {
        let map: std::collections::BTreeMap<&str, &str> = pairs.iter().copied().collect();
        Value::from(minijinja::value::Serde(&map))
    }

    #[test]
    fn safe_values_stay_bare() {
        let engine = Engine::new();
        let out = engine
            .render(
                "systemctl is-active {{ s }}",
                &ctx(&[("s", "apeg.service")]),
                Mode::Shell,
            )
            .unwrap();
        assert_eq!(out, "systemctl is-active apeg.service");
    }

    #[test]
    fn hostile_values_become_one_quoted_word() {
        let engine = Engine::new();
        for hostile in [
            "$(touch /tmp/pwned)",
            "`id`",
            "a; rm -rf /",
            "it's",
            "a\nb",
            "\"x\"",
        ] {
            let out = engine
                .render("echo {{ v }}", &ctx(&[("v", hostile)]), Mode::Shell)
                .unwrap();
            let words = shlex::split(&out).expect("valid shell words");
            assert_eq!(
                words,
                vec!["echo".to_string(), hostile.to_string()],
                "{out}"
            );
        }
    }

    #[test]
    fn raw_opts_out_of_quoting() {
        let engine = Engine::new();
        let out = engine
            .render("echo {{ v | raw }}", &ctx(&[("v", "a b")]), Mode::Shell)
            .unwrap();
        assert_eq!(out, "echo a b");
    }

    #[test]
    fn text_mode_does_not_quote() {
        let engine = Engine::new();
        let out = engine
            .render("Restart {{ v }}?", &ctx(&[("v", "a b")]), Mode::Text)
            .unwrap();
        assert_eq!(out, "Restart a b?");
    }

    #[test]
    fn undefined_is_an_error_naming_the_variable() {
        let engine = Engine::new();
        let err = engine
            .render("echo {{ nope }}", &ctx(&[]), Mode::Shell)
            .unwrap_err();
        assert_eq!(err.undefined.as_deref(), Some("nope"));
        assert!(err.message.contains("nope"));
    }

    #[test]
    fn the_undefined_name_is_the_one_that_failed() {
        let engine = Engine::new();
        let err = engine
            .render("{{ a | default('x') }} {{ b }}", &ctx(&[]), Mode::Text)
            .unwrap_err();
        assert_eq!(err.undefined.as_deref(), Some("b"));
    }

    #[test]
    fn expressions_use_jinja_truthiness() {
        let engine = Engine::new();
        assert!(
            engine
                .is_true("pct | int >= 90", &ctx(&[("pct", "93")]))
                .unwrap()
        );
        assert!(
            !engine
                .is_true("pct | int >= 90", &ctx(&[("pct", "12")]))
                .unwrap()
        );
    }

    #[test]
    fn analyze_lists_root_names_only() {
        let names = analyze("{{ a }} {{ steps.x.status }} {% for i in items %}{{ i }}{% endfor %}")
            .unwrap();
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            vec!["a", "items", "steps"]
        );
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = analyze("line one\n{{ a + }}").unwrap_err();
        assert_eq!(err.line, Some(2));
    }
}
