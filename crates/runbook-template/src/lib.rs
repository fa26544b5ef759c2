//! Templating for runbook: one minijinja environment in which every value printed into a shell
//! command is written as data, quoted for the place it lands in, so a hostile value can never
//! become code.
//!
//! Two render modes share the environment: [`Mode::Shell`] (for `run` and channel commands) and
//! [`Mode::Text`] (messages, reports, confirmations; printed as is). In shell mode the quoting
//! is ours, not minijinja's: the template is rendered with output spans, the literal text of the
//! playbook is read by a bash lexer ([`shell`]) and every `{{ }}` output is written as one piece
//! of data for its place — one word outside quotes, escaped inside `"…"`, `'…'`, `$'…'` and
//! here-documents. No minijinja "safe" string changes that (`safe`, `tojson`, `escape`,
//! `autoescape`, captured blocks, macros); only a value whose last filter is our own `raw`
//! is written as code. Undefined names are errors (strict mode), and every render has a fuel
//! budget (work and memory) and a recursion limit, so a hostile template fails instead of
//! hanging. The static helpers ([`analyze`], [`analyze_expression`], [`scan`]) let the
//! validator find problems before anything runs.

#![forbid(unsafe_code)]

pub mod scan;
pub mod shell;

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, OutputSpan, OutputSpanKind, UndefinedBehavior};

pub use minijinja::value::{
    DynObject, Enumerator, Object, ObjectRepr, Value as TemplateValue, ValueKind,
};
pub use shell::PlaceError;

/// The template name of shell renders (the formatter keys on it).
const SHELL_TEMPLATE: &str = "run.sh";
const TEXT_TEMPLATE: &str = "text.txt";

/// The work one render may do (minijinja fuel: about one unit per instruction and per 64 bytes
/// of data created): about 16 MiB, far above any real command or report, and it bounds nested
/// loops and `replace` chains.
pub const FUEL: u64 = 250_000;

/// How deep templates may nest (macros calling macros, nested data).
pub const RECURSION_LIMIT: usize = 64;

/// How a rendered value is written into the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every `{{ }}` is written as data, quoted for its place in the shell command.
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
    /// A value read was undefined (a name not known yet, a missing key), as opposed to an
    /// error no later value can mend (a type error, too much work).
    pub undefined_value: bool,
}

impl TemplateError {
    fn from_minijinja(err: &minijinja::Error) -> Self {
        let kind = err.kind();
        let message = if kind == minijinja::ErrorKind::OutOfFuel {
            "template too expensive: it does more work or builds more text than a render may \
             (loops, repeated or replaced strings)"
                .to_owned()
        } else {
            match err.detail() {
                Some(detail) => format!("{kind}: {detail}"),
                None => kind.to_string(),
            }
        };
        TemplateError {
            message,
            line: err.line(),
            range: err.range(),
            undefined: None,
            undefined_value: kind == minijinja::ErrorKind::UndefinedError,
        }
    }

    fn plain(message: String) -> Self {
        TemplateError {
            message,
            line: None,
            range: None,
            undefined: None,
            undefined_value: false,
        }
    }
}

/// The output of `| raw`: written into a shell command as code, unquoted.
#[derive(Debug)]
struct Raw(String);

impl Object for Raw {
    fn is_true(self: &Arc<Self>) -> bool {
        !self.0.is_empty()
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The text of a value made by [`code`] (a `type: command` value); `None` for any other value.
pub fn code_text(value: &Value) -> Option<&str> {
    value.downcast_object_ref::<Raw>().map(|raw| raw.0.as_str())
}

/// A value that is shell code by the author's choice (a `type: command` param): written into
/// a shell command unquoted, like the output of `| raw`; text anywhere else.
pub fn code(text: &str) -> Value {
    Value::from_object(Raw(text.to_owned()))
}

/// A value `plan` does not know yet (`<steps.x.stdout>`): shown as is, read as one word.
#[derive(Debug)]
struct Placeholder(String);

impl Object for Placeholder {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    /// A field of a value `plan` does not have is not known either: `<item>.name` reads as
    /// `<item.name>` (a map item, a capture parsed as JSON).
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str().map_or_else(|| key.to_string(), str::to_owned);
        let text = &self.0;
        let inner = |open: char, close: char| {
            text.strip_prefix(open)
                .and_then(|t| t.strip_suffix(close))
                .map(|inner| format!("{open}{inner}.{key}{close}"))
        };
        let field = inner('<', '>')
            .or_else(|| inner('⟨', '⟩'))
            .unwrap_or_else(|| format!("{text}.{key}"));
        Some(Value::from_object(Placeholder(field)))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Markers around raw and placeholder outputs in a shell render. They hold a random nonce, so
/// no value can forge one; they never leave [`Engine::render`].
#[derive(Debug)]
struct Marks {
    raw: String,
    placeholder: String,
    end: String,
    /// An empty value: minijinja records no span for empty output, but `''` is still a word.
    empty: String,
}

impl Marks {
    fn new() -> Self {
        let nonce = |salt: u64| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(salt);
            h.finish()
        };
        let id = format!("{:016x}{:016x}", nonce(1), nonce(2));
        Marks {
            raw: format!("\u{FDD0}{id}R"),
            placeholder: format!("\u{FDD0}{id}P"),
            end: format!("\u{FDD0}{id}E"),
            empty: format!("\u{FDD0}{id}Z"),
        }
    }

    /// The text between `start` and the end marker when `text` is exactly one marked output.
    fn whole<'t>(&self, text: &'t str, start: &str) -> Option<&'t str> {
        let inner = text.strip_prefix(start)?.strip_suffix(self.end.as_str())?;
        (!inner.contains(self.end.as_str())).then_some(inner)
    }

    /// `text` with every marker removed: a raw output inside a larger value is data too.
    fn strip(&self, text: &str) -> String {
        if !text.contains('\u{FDD0}') {
            return text.to_owned();
        }
        text.replace(self.raw.as_str(), "")
            .replace(self.placeholder.as_str(), "")
            .replace(self.end.as_str(), "")
            .replace(self.empty.as_str(), "")
    }
}

/// The shared template engine. Cheap to share by reference; build it once per process.
pub struct Engine {
    env: Environment<'static>,
    marks: Arc<Marks>,
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
    /// Builds the environment: strict undefined, fuel, our formatter, `raw`, `shell_quote`.
    pub fn new() -> Self {
        let marks = Arc::new(Marks::new());
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Bound the work one template may do: a playbook is input, input may be hostile.
        env.set_recursion_limit(RECURSION_LIMIT);
        env.set_fuel(Some(FUEL));
        // minijinja's escaping is not ours: the formatter below ignores its "safe" flag.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        let formatter_marks = marks.clone();
        env.set_formatter(move |out, state, value| {
            if state.name() == SHELL_TEMPLATE {
                let marks = &formatter_marks;
                if let Some(raw) = value.downcast_object_ref::<Raw>() {
                    return write_marked(out, &marks.raw, &raw.0, &marks.end);
                }
                if let Some(p) = value.downcast_object_ref::<Placeholder>() {
                    return write_marked(out, &marks.placeholder, &p.0, &marks.end);
                }
            }
            let text = value_to_word(value);
            if text.is_empty() && state.name() == SHELL_TEMPLATE {
                return out
                    .write_str(&formatter_marks.empty)
                    .map_err(minijinja::Error::from);
            }
            out.write_str(&text).map_err(minijinja::Error::from)
        });
        env.add_filter("raw", |value: Value| {
            if value.downcast_object_ref::<Raw>().is_some() {
                value
            } else {
                Value::from_object(Raw(value_to_word(&value)))
            }
        });
        // Since format 1.1, for a watch's series (`rss_series | increasing`): whether the
        // values grew (never fell, and the last is above the first), or shrank.
        env.add_filter("increasing", |values: Vec<Value>| {
            trend(&values, |a, b| a <= b)
        });
        env.add_filter("decreasing", |values: Vec<Value>| {
            trend(&values, |a, b| a >= b)
        });
        // The last value minus the first (0 for fewer than two numbers).
        env.add_filter("growth", |values: Vec<Value>| {
            let numbers: Vec<f64> = values.iter().filter_map(number).collect();
            match (numbers.first(), numbers.last()) {
                (Some(first), Some(last)) if numbers.len() >= 2 => {
                    let growth = last - first;
                    // Whole numbers stay whole (`+40`, not `+40.0`).
                    if growth.fract() == 0.0 && growth.abs() < 9.0e15 {
                        Value::from(growth as i64)
                    } else {
                        Value::from(growth)
                    }
                }
                _ => Value::from(0),
            }
        });
        // For text templates that show a command to copy; a run command quotes values already.
        env.add_filter("shell_quote", |value: Value| {
            let mut out = String::new();
            shell::quote_word(&value_to_word(&value), &mut out);
            out
        });
        Engine { env, marks }
    }

    /// Renders `source` with `ctx`; in [`Mode::Shell`] every value is written as data.
    pub fn render(&self, source: &str, ctx: &Value, mode: Mode) -> Result<String, TemplateError> {
        guard(source, false)?;
        match mode {
            Mode::Text => self
                .env
                .render_named_str(TEXT_TEMPLATE, source, ctx)
                .map_err(|err| Self::explain_undefined(source, ctx, &err)),
            Mode::Shell => {
                let template = self
                    .env
                    .template_from_named_str(SHELL_TEMPLATE, source)
                    .map_err(|err| TemplateError::from_minijinja(&err))?;
                let (output, spans) = template
                    .render_with_spans(ctx)
                    .map_err(|err| Self::explain_undefined(source, ctx, &err))?;
                self.quote(source, &output, &spans)
            }
        }
    }

    /// Writes a shell render's output: literal text as it is, each expression's output as data
    /// quoted for its place, raw outputs as code.
    fn quote(
        &self,
        source: &str,
        output: &str,
        spans: &[OutputSpan],
    ) -> Result<String, TemplateError> {
        let marks = &self.marks;
        let mut lexer = shell::Lexer::new();
        let mut out = String::with_capacity(output.len() + output.len() / 8 + 8);
        let mut scratch = String::new();
        let mut pos = 0;
        let fail = |span: Option<&OutputSpan>, problem: PlaceError| {
            let expression = span
                .map(|s| source.get(s.source_range()).unwrap_or("").trim())
                .filter(|e| !e.is_empty());
            let mut message = match expression {
                Some(e) if span.is_some_and(|s| s.kind() != OutputSpanKind::Raw) => {
                    format!("`{{{{ {e} }}}}`: {}", problem.explain())
                }
                _ => problem.explain().to_owned(),
            };
            if let Some(hint) = problem.hint() {
                message.push_str(&format!("; {hint}"));
            }
            TemplateError {
                message,
                line: span.map(OutputSpan::line),
                range: span.map(OutputSpan::source_range),
                undefined: None,
                undefined_value: false,
            }
        };
        for span in spans {
            let range = span.output_range();
            if range.start > pos {
                // Output no span accounts for is treated as a value, the safe side.
                let data = marks.strip(&output[pos..range.start]);
                lexer.value(&data, &mut out).map_err(|e| fail(None, e))?;
            }
            let text = &output[range.clone()];
            if span.kind() == OutputSpanKind::Raw {
                lexer.literal(text);
                out.push_str(text);
            } else if let Some(code) = marks.whole(text, &marks.raw) {
                lexer.literal(code);
                out.push_str(code);
            } else if let Some(label) = marks.whole(text, &marks.placeholder) {
                // Shown as is; read as one plain word so the lexer stays in step.
                out.push_str(label);
                scratch.clear();
                let _ = lexer.value("x", &mut scratch);
            } else {
                let data = marks.strip(text);
                lexer
                    .value(&data, &mut out)
                    .map_err(|e| fail(Some(span), e))?;
            }
            if let Some(problem) = lexer.take_error() {
                return Err(fail(Some(span), problem));
            }
            pos = range.end;
        }
        if pos < output.len() {
            let data = marks.strip(&output[pos..]);
            lexer.value(&data, &mut out).map_err(|e| fail(None, e))?;
        }
        lexer.finish().map_err(|e| fail(spans.last(), e))?;
        Ok(out)
    }

    /// Evaluates a `when` / `checks[].if` expression to a boolean (jinja truthiness).
    pub fn is_true(&self, expression: &str, ctx: &Value) -> Result<bool, TemplateError> {
        self.eval(expression, ctx).map(|v| v.is_true())
    }

    /// Evaluates an expression (`when`, a `for_each` since format 1.1) to its value.
    pub fn eval(&self, expression: &str, ctx: &Value) -> Result<Value, TemplateError> {
        guard(expression, true)?;
        let compiled = self
            .env
            .compile_expression(expression)
            .map_err(|e| TemplateError::from_minijinja(&e))?;
        compiled
            .eval(ctx.clone())
            .map_err(|err| Self::explain_undefined(expression, ctx, &err))
    }

    /// Turns minijinja's bare "undefined value" into a message that names the variable.
    fn explain_undefined(source: &str, ctx: &Value, err: &minijinja::Error) -> TemplateError {
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

fn write_marked(
    out: &mut minijinja::Output<'_>,
    start: &str,
    text: &str,
    end: &str,
) -> Result<(), minijinja::Error> {
    out.write_str(start)
        .and_then(|()| out.write_str(text))
        .and_then(|()| out.write_str(end))
        .map_err(minijinja::Error::from)
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
        return Err(TemplateError::plain(format!(
            "template too complex: {count} operators (the limit is {MAX_OPERATORS})"
        )));
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
    Ok(without_globals(
        template.undeclared_variables(false).into_iter().collect(),
    ))
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
    Ok(without_globals(
        compiled.undeclared_variables(false).into_iter().collect(),
    ))
}

/// A bare environment for static analysis: compiling needs no filters or escaping. Built once
/// per process, not once per template analyzed.
fn lint_env() -> &'static Environment<'static> {
    static LINT: std::sync::LazyLock<Environment<'static>> =
        std::sync::LazyLock::new(Environment::new);
    &LINT
}

/// Drops the environment's global functions (`range`, `dict`, `namespace`, `debug`) from a
/// set of names a template reads: they are always defined.
fn without_globals(mut names: BTreeSet<String>) -> BTreeSet<String> {
    for (global, _) in lint_env().globals() {
        names.remove(global);
    }
    names
}

/// Builds a template context from any serializable value.
pub fn context<T: serde::Serialize>(value: &T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// A value that prints as itself, unquoted: used by `plan` for values known only at run time.
pub fn placeholder(label: &str) -> Value {
    Value::from_object(Placeholder(format!("<{label}>")))
}

/// A placeholder shown exactly as `text` (`⟨name⟩` for a value `plan` does not have): written
/// as is, never quoted, so a reviewer reads the command as it would be.
pub fn placeholder_text(text: &str) -> Value {
    Value::from_object(Placeholder(text.to_owned()))
}

/// A value as a number: a number, or text that reads as one (captures are text).
fn number(value: &Value) -> Option<f64> {
    if let Ok(n) = f64::try_from(value.clone()) {
        return Some(n);
    }
    value.as_str().and_then(|s| s.trim().parse().ok())
}

/// True when there are at least two numbers, each pair in order holds `step`, and the last
/// differs from the first (a flat series neither increases nor decreases).
fn trend(values: &[Value], step: fn(f64, f64) -> bool) -> bool {
    let numbers: Vec<f64> = values.iter().filter_map(number).collect();
    numbers.len() >= 2
        && numbers.len() == values.len()
        && numbers.windows(2).all(|w| step(w[0], w[1]))
        && numbers.first() != numbers.last()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> Value {
        let map: std::collections::BTreeMap<&str, &str> = pairs.iter().copied().collect();
        Value::from(minijinja::value::Serde(&map))
    }

    #[test]
    fn series_filters_tell_growth() {
        let engine = Engine::new();
        let ctx = |series: serde_json::Value| context(&serde_json::json!({ "s": series }));
        let holds = |expr: &str, series| engine.is_true(expr, &ctx(series)).unwrap();
        let show = |expr: &str, series| {
            engine
                .render(&format!("{{{{ {expr} }}}}"), &ctx(series), Mode::Text)
                .unwrap()
        };
        let growing = serde_json::json!([100, 110, 110, 130]);
        assert!(holds("s | increasing", growing.clone()));
        assert!(!holds("s | decreasing", growing.clone()));
        assert_eq!(show("s | growth", growing.clone()), "30");
        assert_eq!(show("s | max", growing), "130");
        assert_eq!(show("s | growth", serde_json::json!([1, 2.5])), "1.5");
        assert_eq!(show("s | growth", serde_json::json!([7])), "0");
        // Text that reads as a number counts; a dip, a flat line or one value is no trend.
        assert!(holds("s | increasing", serde_json::json!(["1", "2"])));
        assert!(!holds("s | increasing", serde_json::json!([1, 3, 2])));
        assert!(!holds("s | increasing", serde_json::json!([5, 5])));
        assert!(!holds("s | increasing", serde_json::json!([5])));
        assert!(holds("s | decreasing", serde_json::json!([9, 4])));
        assert!(!holds("s | increasing", serde_json::json!([1, "n/a", 3])));
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
    fn no_safe_string_switches_the_quoting_off() {
        let engine = Engine::new();
        let hostile = "$(touch /tmp/pwned) `id`; it's";
        for template in [
            "echo {{ v | tojson }}",
            "{% set x = v | safe %}echo {{ x }}",
            "{% autoescape false %}echo {{ v }}{% endautoescape %}",
            "{% autoescape true %}echo {{ v }}{% endautoescape %}",
            "echo {{ v | escape }}",
            "echo {{ v | e | safe }}",
            "echo {{ (v ~ '') | safe }}",
            "{% set x %}{{ v }}{% endset %}echo {{ x }}",
            "{% macro m(a) %}{{ a }}{% endmacro %}echo {{ m(v) }}",
            "echo {% filter upper %}{{ v }}{% endfilter %}",
            "echo {{ [v] | join(' ') }}",
            "echo {{ v | raw ~ '' }}",
            "{% set x = v | raw %}echo {{ x ~ '' }}",
        ] {
            let out = engine
                .render(template, &ctx(&[("v", hostile)]), Mode::Shell)
                .unwrap_or_else(|e| panic!("{template}: {e}"));
            let words = shlex::split(&out).expect("valid shell words");
            assert_eq!(words.len(), 2, "{template} → {out}");
            assert!(
                words[1].contains("$(touch") || words[1].contains("$(TOUCH"),
                "{template} → {out}"
            );
        }
    }

    #[test]
    fn raw_is_ours_and_only_where_it_is_written() {
        let engine = Engine::new();
        let c = ctx(&[("v", "a b")]);
        let render = |t: &str| engine.render(t, &c, Mode::Shell).unwrap();
        assert_eq!(render("echo {{ v | raw }}"), "echo a b");
        assert_eq!(render("echo {{ v | upper | raw }}"), "echo A B");
        assert_eq!(render("echo {{ v | raw | upper }}"), "echo 'A B'");
        assert_eq!(render("echo {{ 'x' ~ v | raw }}"), "echo 'xa b'");
        assert_eq!(render("echo {{ v | raw }}{{ v }}"), "echo a b'a b'");
        // Raw text is code: its quotes count for the values after it.
        assert_eq!(render("echo {{ '\"' | raw }}{{ v }}\""), "echo \"a b\"");
        assert_eq!(
            engine.render("{{ v | raw }}", &c, Mode::Text).unwrap(),
            "a b"
        );
    }

    #[test]
    fn placeholders_show_as_themselves() {
        let engine = Engine::new();
        let c = Value::from(std::collections::BTreeMap::from([(
            "p".to_owned(),
            placeholder("steps.a.stdout"),
        )]));
        assert_eq!(
            engine
                .render("echo {{ p }} \"{{ p }}\"", &c, Mode::Shell)
                .unwrap(),
            "echo <steps.a.stdout> \"<steps.a.stdout>\""
        );
        assert_eq!(
            engine.render("{{ p }}", &c, Mode::Text).unwrap(),
            "<steps.a.stdout>"
        );
    }

    #[test]
    fn a_value_that_would_be_an_option_fails_the_render() {
        let engine = Engine::new();
        let err = engine
            .render(
                "ssh {{ server }} uptime",
                &ctx(&[("server", "-oProxyCommand=touch PWNED")]),
                Mode::Shell,
            )
            .unwrap_err();
        assert!(
            err.message
                .starts_with("`{{ server }}`: the value starts with `-`"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("PWNED"));
        assert_eq!(err.range, Some(7..13));
        let ok = engine
            .render(
                "ssh -- {{ server }} uptime",
                &ctx(&[("server", "-o")]),
                Mode::Shell,
            )
            .unwrap();
        assert_eq!(ok, "ssh -- -o uptime");
    }

    #[test]
    fn hostile_templates_run_out_of_fuel() {
        let engine = Engine::new();
        let started = std::time::Instant::now();
        for template in [
            "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
            "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            "{{ 'x' * 100000000 }}",
            "{{ ('x' * 1000) | replace('x', 'x' * 1000) | replace('x', 'x' * 1000) }}",
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        ] {
            let err = engine
                .render(template, &ctx(&[]), Mode::Text)
                .expect_err(template);
            assert!(
                err.message.contains("too expensive") || err.message.contains("recursion"),
                "{template}: {}",
                err.message
            );
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
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
