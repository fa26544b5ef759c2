//! The HTML incident report: one self-contained page (inline CSS, no scripts, no fonts or
//! images to fetch) with a visual timeline — a bar per step placed by its start and duration
//! on the incident clock, coloured and labelled by outcome — and each step's output in a
//! collapsible `<details>`.
//!
//! The markup is the template `report.html.j2`. This file works out what it shows — a [`Page`]
//! with every time, duration and position already written out — and renders it in a minijinja
//! environment whose auto-escape is HTML: every value from the transcript is escaped on its way
//! into the page. The only value marked safe is our own `report.css`, and the environment has
//! no `safe` filter, so a `| safe` in the template is an error, not a hole.

use std::sync::{Arc, OnceLock};

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, Output, State, UndefinedBehavior, Value};
use serde::Serialize;

use crate::{
    DecisionEntry, EscalationEntry, Row, StepEntry, Timeline, clock, format_duration,
    run_outcome_name, stream_name, value_text,
};

const TEMPLATE_NAME: &str = "report.html.j2";
const TEMPLATE: &str = include_str!("report.html.j2");
const CSS: &str = include_str!("report.css");

/// About how many intervals the timeline's axis shows.
const TICKS: u32 = 4;

/// The HTML report could not be rendered. Its template is ours and the tests render every
/// part of it, so this is a bug in runbook, never a problem with the transcript.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the HTML report could not be rendered (a bug in runbook's report template): {0}")]
pub struct HtmlError(#[source] Arc<minijinja::Error>);

impl From<minijinja::Error> for HtmlError {
    fn from(err: minijinja::Error) -> Self {
        HtmlError(Arc::new(err))
    }
}

/// The environment with the page's template, compiled once per process.
fn environment() -> Result<&'static Environment<'static>, HtmlError> {
    static ENVIRONMENT: OnceLock<Result<Environment<'static>, HtmlError>> = OnceLock::new();
    ENVIRONMENT
        .get_or_init(|| {
            let mut env = Environment::new();
            env.set_syntax(
                SyntaxConfig::builder()
                    .trim_blocks(true)
                    .lstrip_blocks(true)
                    .keep_trailing_newline(true)
                    .build()?,
            );
            // Whatever the template's name says: this environment only ever writes HTML.
            env.set_auto_escape_callback(|_| AutoEscape::Html);
            env.set_formatter(write_value);
            // A misspelt field is an error the tests see, not an empty spot on the page.
            env.set_undefined_behavior(UndefinedBehavior::Strict);
            // Nothing from a run may be marked safe: `| safe` fails to render instead.
            env.remove_filter("safe");
            env.add_global("css", Value::from_safe_string(CSS.to_owned()));
            env.add_template(TEMPLATE_NAME, TEMPLATE)?;
            Ok(env)
        })
        .as_ref()
        .map_err(HtmlError::clone)
}

/// Writes a value into the page: text from a run HTML-escaped, our own safe text as it is,
/// anything else (numbers, and what strict undefined refuses) as minijinja would.
///
/// minijinja's own HTML escaping also writes `/` as `&#x2f;`, which no place in this page needs
/// (every value lands in element text or a double-quoted attribute) and which would turn each
/// URL and path in the page's source into noise; this escapes what markupsafe escapes, with
/// the spellings the page has always used.
fn write_value(out: &mut Output, state: &mut State, value: &Value) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(text) if *state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            let mut rest = text;
            while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
                out.write_str(&rest[..i])?;
                out.write_str(match rest.as_bytes()[i] {
                    b'&' => "&amp;",
                    b'<' => "&lt;",
                    b'>' => "&gt;",
                    b'"' => "&quot;",
                    _ => "&#39;",
                })?;
                rest = &rest[i + 1..];
            }
            Ok(out.write_str(rest)?)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// The page of a timeline whose texts already show control characters as escapes.
pub(crate) fn render(t: &Timeline) -> Result<String, HtmlError> {
    let template = environment()?.get_template(TEMPLATE_NAME)?;
    Ok(template.render(Value::from(Serde(Page::new(t))))?)
}

/// What the template shows, worked out from the timeline. Strings borrowed from the timeline
/// are the run's own text; the template escapes them all.
#[derive(Serialize)]
struct Page<'a> {
    title: &'a str,
    outcome: Badge,
    headline: String,
    /// The run has no `run_finished` record.
    unfinished: Option<Unfinished<'a>>,
    /// Finished, but stopped where `runbook resume` can continue it.
    resumable: bool,
    run: Option<RunFacts<'a>>,
    resumes: Vec<ResumeFacts<'a>>,
    finished_at: Option<&'a str>,
    failed_step: Option<&'a str>,
    pills: Vec<Pill>,
    params: Vec<Named<'a>>,
    chart: Chart<'a>,
    steps: Vec<Card<'a>>,
    escalations: Vec<EscalationRow<'a>>,
    /// The transcript's format, for the footer.
    transcript_format: &'static str,
    engine: Option<&'a str>,
}

/// The run's outcome as the headline's badge.
#[derive(Serialize)]
struct Badge {
    class: &'static str,
    word: String,
}

#[derive(Serialize)]
struct Unfinished<'a> {
    /// Where the transcript ends on the incident clock.
    at: String,
    running: Vec<&'a str>,
}

#[derive(Serialize)]
struct RunFacts<'a> {
    playbook: &'a str,
    version: Option<&'a str>,
    file: &'a str,
    schedule: Option<&'a str>,
    id: &'a str,
    started_at: &'a str,
    operator: &'a str,
    hostname: &'a str,
    mode: &'static str,
    inventory: Option<&'a str>,
}

#[derive(Serialize)]
struct ResumeFacts<'a> {
    at: &'a str,
    operator: &'a str,
    hostname: &'a str,
    stopped_for: Option<String>,
    playbook_changed: bool,
}

/// One of the totals under the header.
#[derive(Serialize)]
struct Pill {
    class: &'static str,
    count: String,
    what: &'static str,
}

/// A value with its name: a param, a capture, a manual step's input.
#[derive(Serialize)]
struct Named<'a> {
    name: &'a str,
    value: String,
}

/// The visual timeline: an axis, a row per step, escalation and resume, and the run's ends.
#[derive(Serialize)]
struct Chart<'a> {
    /// Where the ticks' lines stand, in percent of the span.
    lines: Vec<String>,
    ticks: Vec<Tick>,
    started: Option<Started<'a>>,
    rows: Vec<ChartRow<'a>>,
    end: End,
}

#[derive(Serialize)]
struct Tick {
    left: String,
    at: String,
    /// `first` and `last` keep the label inside the axis.
    edge: Option<&'static str>,
}

#[derive(Serialize)]
struct Started<'a> {
    clock: &'a str,
    operator: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum ChartRow<'a> {
    Step(Bar<'a>),
    Escalation(Mark<'a>),
    Resumed(Resumed<'a>),
}

/// A step's bar on the timeline.
#[derive(Serialize)]
struct Bar<'a> {
    /// The number of the step's card.
    n: usize,
    class: &'static str,
    step: &'a str,
    name: &'a str,
    clock: &'a str,
    at: String,
    /// Nesting under `parallel` and `playbook` steps, in rem.
    indent: String,
    /// The operator's decisions, as words.
    decided: Option<String>,
    left: String,
    width: String,
    tip: String,
    outcome: &'static str,
    took: String,
}

/// An escalation's mark on the timeline.
#[derive(Serialize)]
struct Mark<'a> {
    clock: &'a str,
    at: String,
    level: u32,
    message: &'a str,
    left: String,
    delivered: usize,
    failed: usize,
}

#[derive(Serialize)]
struct Resumed<'a> {
    clock: &'a str,
    at: String,
    left: String,
    operator: &'a str,
    stopped_for: Option<String>,
}

/// The last row: the run finished, or its transcript ends.
#[derive(Serialize)]
struct End {
    clock: String,
    at: String,
    left: String,
    what: &'static str,
    class: &'static str,
    outcome: &'static str,
}

/// A step's card.
#[derive(Serialize)]
struct Card<'a> {
    n: usize,
    class: &'static str,
    step: &'a str,
    /// The step's name when it says more than its id.
    name: Option<&'a str>,
    outcome: &'static str,
    /// Failed, aborted or cut short: its output starts open.
    bad: bool,
    clock: &'a str,
    at: String,
    took: String,
    exit: Option<i32>,
    /// Shown from the second attempt, visit on.
    attempts: Option<u32>,
    visit: Option<u32>,
    action: Option<&'static str>,
    /// Shown when the step ran on an inventory host.
    host: Option<&'a str>,
    message: Option<&'a str>,
    command: Option<&'a str>,
    edited: bool,
    decisions: Vec<Decision<'a>>,
    verdicts: Vec<VerdictLine<'a>>,
    values: Vec<Values<'a>>,
    output: Vec<OutputBlock<'a>>,
    report: Option<&'a str>,
    spilled: Option<&'a str>,
}

#[derive(Serialize)]
struct Decision<'a> {
    /// What the answer did.
    word: &'static str,
    question: Option<&'a str>,
    /// The answer when it says more than the decision's word.
    answer: Option<&'a str>,
    /// The answer is the edited command.
    edited: bool,
    operator: &'a str,
    clock: &'a str,
}

#[derive(Serialize)]
struct VerdictLine<'a> {
    ok: bool,
    what: &'a str,
    got: Option<&'a str>,
}

/// Captured values or a manual step's inputs.
#[derive(Serialize)]
struct Values<'a> {
    label: &'static str,
    items: Vec<Named<'a>>,
}

#[derive(Serialize)]
struct OutputBlock<'a> {
    stream: &'static str,
    /// `4 lines`: every line recorded.
    lines: String,
    /// How many lines `text` holds, when some were left out.
    shown: Option<usize>,
    text: &'a str,
}

#[derive(Serialize)]
struct EscalationRow<'a> {
    clock: &'a str,
    at: String,
    level: u32,
    reason: String,
    step: Option<&'a str>,
    channels: String,
    deliveries: Vec<DeliveryLine<'a>>,
    message: &'a str,
}

#[derive(Serialize)]
struct DeliveryLine<'a> {
    ok: bool,
    channel: &'a str,
    error: Option<&'a str>,
}

impl<'a> Page<'a> {
    fn new(t: &'a Timeline) -> Self {
        let totals = &t.totals;
        let unfinished = (!totals.finished).then(|| Unfinished {
            at: format_duration(totals.duration_ms),
            running: totals.running.iter().map(String::as_str).collect(),
        });
        Page {
            title: t.title(),
            outcome: Badge {
                class: totals.class(),
                word: totals.outcome.map_or_else(
                    || "DID NOT FINISH".to_owned(),
                    |o| run_outcome_name(o).to_uppercase(),
                ),
            },
            headline: totals.headline(),
            unfinished,
            resumable: totals.finished && totals.resumable,
            run: t.run.as_ref().map(|run| RunFacts {
                playbook: &run.playbook.name,
                version: run.playbook.version.as_deref(),
                file: &run.playbook.file,
                schedule: run.playbook.schedule.as_deref(),
                id: &run.run_id,
                started_at: &run.started_at,
                operator: &run.operator,
                hostname: &run.hostname,
                mode: run.mode.as_str(),
                inventory: run.inventory.as_deref(),
            }),
            resumes: t
                .resumes
                .iter()
                .map(|r| ResumeFacts {
                    at: &r.at,
                    operator: &r.operator,
                    hostname: &r.hostname,
                    stopped_for: r.stopped_for(),
                    playbook_changed: r.playbook_changed,
                })
                .collect(),
            finished_at: totals.finished_at.as_deref(),
            failed_step: totals.failed_step.as_deref(),
            pills: pills(t),
            params: t.run.as_ref().map_or_else(Vec::new, |run| {
                run.params
                    .iter()
                    .map(|(name, value)| named(name, value))
                    .collect()
            }),
            chart: Chart::new(t),
            steps: t
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| Card::new(i + 1, s))
                .collect(),
            escalations: t.escalations.iter().map(EscalationRow::new).collect(),
            transcript_format: runbook_transcript::FORMAT,
            engine: t.run.as_ref().map(|r| r.engine_version.as_str()),
        }
    }
}

fn pills(t: &Timeline) -> Vec<Pill> {
    let totals = &t.totals;
    let pill = |class, n: u32, what| Pill {
        class,
        count: n.to_string(),
        what,
    };
    let mut pills = vec![
        pill("ok", totals.ok, "ok"),
        pill("warning", totals.warning, "warning"),
        pill("failed", totals.failed, "failed"),
        pill("skipped", totals.skipped, "skipped"),
    ];
    if totals.aborted > 0 {
        pills.push(pill("aborted", totals.aborted, "aborted"));
    }
    if totals.unfinished > 0 {
        pills.push(pill("unfinished", totals.unfinished, "did not finish"));
    }
    pills.push(Pill {
        class: "time",
        count: format_duration(totals.duration_ms),
        what: "duration",
    });
    if !t.escalations.is_empty() {
        pills.push(Pill {
            class: "escalation",
            count: t.escalations.len().to_string(),
            what: "escalation(s)",
        });
    }
    pills
}

fn named<'a>(name: &'a str, value: &serde_json::Value) -> Named<'a> {
    Named {
        name,
        value: value_text(value),
    }
}

impl<'a> Chart<'a> {
    fn new(t: &'a Timeline) -> Self {
        let span = t.span_ms();
        let ticks = ticks(span);
        let rows = t
            .rows()
            .into_iter()
            .scan(0, |n, row| {
                Some(match row {
                    Row::Step(s) => {
                        *n += 1;
                        ChartRow::Step(Bar::new(*n, s, span))
                    }
                    Row::Escalation(e) => ChartRow::Escalation(Mark {
                        clock: clock(&e.at),
                        at: format_duration(e.elapsed_ms),
                        level: e.level,
                        message: &e.message,
                        left: percent(place(e.elapsed_ms, 0, span).0),
                        delivered: e.delivered,
                        failed: e.failed,
                    }),
                    Row::Resumed(r) => ChartRow::Resumed(Resumed {
                        clock: clock(&r.at),
                        at: format_duration(r.elapsed_ms),
                        left: percent(place(r.elapsed_ms, 0, span).0),
                        operator: &r.operator,
                        stopped_for: r.stopped_for(),
                    }),
                })
            })
            .collect();
        let totals = &t.totals;
        let (clock_text, what, class, outcome) = match (&totals.finished_at, totals.outcome) {
            (Some(at), Some(o)) => (
                clock(at).to_owned(),
                "run finished",
                totals.class(),
                run_outcome_name(o),
            ),
            _ => (
                String::new(),
                "transcript ends",
                "unfinished",
                "did not finish",
            ),
        };
        Chart {
            lines: ticks
                .iter()
                .filter(|&&at| at > 0)
                .map(|&at| percent(place(at, 0, span).0))
                .collect(),
            ticks: ticks
                .iter()
                .map(|&at| {
                    let left = place(at, 0, span).0;
                    Tick {
                        left: percent(left),
                        at: format_duration(at),
                        edge: if at == 0 {
                            Some("first")
                        } else if left > 92.0 {
                            Some("last")
                        } else {
                            None
                        },
                    }
                })
                .collect(),
            started: t.run.as_ref().map(|run| Started {
                clock: clock(&run.started_at),
                operator: &run.operator,
            }),
            rows,
            end: End {
                clock: clock_text,
                at: format_duration(totals.duration_ms),
                left: percent(place(totals.duration_ms, 0, span).0),
                what,
                class,
                outcome,
            },
        }
    }
}

impl<'a> Bar<'a> {
    fn new(n: usize, s: &'a StepEntry, span: u64) -> Self {
        let (left, width) = place(s.start_ms, s.duration_ms, span);
        let label = s.outcome.label();
        Bar {
            n,
            class: s.outcome.as_str(),
            step: &s.step,
            name: &s.name,
            clock: clock(&s.started_at),
            at: format_duration(s.start_ms),
            indent: indent(s.depth),
            decided: (!s.decisions.is_empty()).then(|| {
                s.decisions
                    .iter()
                    .map(DecisionEntry::word)
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            left: percent(left),
            width: percent(width),
            tip: format!(
                "{}: {label}, T+{} for {}",
                s.step,
                format_duration(s.start_ms),
                format_duration(s.duration_ms)
            ),
            outcome: label,
            took: format_duration(s.duration_ms),
        }
    }
}

impl<'a> Card<'a> {
    fn new(n: usize, s: &'a StepEntry) -> Self {
        let values = [("Captured", &s.captures), ("Inputs", &s.inputs)]
            .into_iter()
            .filter(|(_, values)| !values.is_empty())
            .map(|(label, values)| Values {
                label,
                items: values.iter().map(|(k, v)| named(k, v)).collect(),
            })
            .collect();
        Card {
            n,
            class: s.outcome.as_str(),
            step: &s.step,
            name: (!s.name.is_empty() && s.name != s.step).then_some(s.name.as_str()),
            outcome: s.outcome.label(),
            bad: s.outcome.is_bad(),
            clock: clock(&s.started_at),
            at: format_duration(s.start_ms),
            took: format_duration(s.duration_ms),
            exit: s.exit,
            attempts: (s.attempts > 1).then_some(s.attempts),
            visit: (s.visit > 1).then_some(s.visit),
            action: s.action.map(runbook_transcript::ActionKind::as_str),
            host: (!s.host.is_empty() && s.host != "local").then_some(s.host.as_str()),
            message: s.message.as_deref(),
            command: s.command.as_deref(),
            edited: s.edited,
            decisions: s.decisions.iter().map(Decision::new).collect(),
            verdicts: s
                .verdicts
                .iter()
                .map(|v| VerdictLine {
                    ok: v.ok,
                    what: &v.what,
                    got: v.got.as_deref(),
                })
                .collect(),
            values,
            output: s
                .output
                .iter()
                .map(|o| OutputBlock {
                    stream: stream_name(o.stream),
                    lines: runbook_transcript::text::plural(o.lines + o.omitted_lines, "line"),
                    shown: (o.omitted_lines > 0).then_some(o.lines),
                    text: &o.text,
                })
                .collect(),
            report: s.report.as_deref(),
            spilled: s.spilled.as_deref(),
        }
    }
}

impl<'a> Decision<'a> {
    fn new(d: &'a DecisionEntry) -> Self {
        let word = d.word();
        Decision {
            word,
            question: (!d.question.is_empty()).then_some(d.question.as_str()),
            answer: (!d.answer.is_empty() && d.answer != word).then_some(d.answer.as_str()),
            edited: d.edited(),
            operator: &d.operator,
            clock: clock(&d.at),
        }
    }
}

impl<'a> EscalationRow<'a> {
    fn new(e: &'a EscalationEntry) -> Self {
        EscalationRow {
            clock: clock(&e.at),
            at: format_duration(e.elapsed_ms),
            level: e.level,
            reason: e.reason_text(),
            step: e.step.as_deref(),
            channels: e.channels.join(", "),
            deliveries: e
                .deliveries
                .iter()
                .map(|d| DeliveryLine {
                    ok: d.ok,
                    channel: &d.channel,
                    error: d.error.as_deref(),
                })
                .collect(),
            message: &e.message,
        }
    }
}

/// Round times for the axis: 0 and multiples of a step a clock reader likes (1, 2, 5 × 10ⁿ
/// below a second; 1, 2, 5, 10, 15, 30 s; 1, 2, 5, 10, 15, 30 min; hours), about [`TICKS`]
/// intervals.
fn ticks(span: u64) -> Vec<u64> {
    const STEPS: [u64; 21] = [
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000,
        120_000, 300_000, 600_000, 900_000, 1_800_000,
    ];
    let rough = (span / u64::from(TICKS)).max(1);
    let step = STEPS
        .into_iter()
        .find(|&s| s >= rough)
        .unwrap_or_else(|| rough.div_ceil(3_600_000) * 3_600_000);
    (0..=span / step).map(|i| i * step).collect()
}

/// `left` and `width` of a bar, in percent of the span.
fn place(start: u64, length: u64, span: u64) -> (f64, f64) {
    let span = span as f64;
    let left = (start as f64 / span * 100.0).clamp(0.0, 100.0);
    let width = (length as f64 / span * 100.0).clamp(0.0, 100.0 - left);
    (left, width)
}

/// A percentage for a style attribute.
fn percent(value: f64) -> String {
    format!("{value:.3}")
}

/// A step's indent under `parallel` and `playbook` steps: 1.2rem a level, in tenths so that
/// depth 3 is `3.6`, not `3.5999999999999996`.
fn indent(depth: u32) -> String {
    let tenths = depth * 12;
    if tenths.is_multiple_of(10) {
        (tenths / 10).to_string()
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use indexmap::IndexMap;
    use runbook_transcript::{
        Delivery, Escalation, Event, Outcome, PlaybookInfo, Prompt, RunFinished, RunOutcome,
        RunResumed, Rung, StepStarted, Verdict,
    };
    use serde_json::Value as Json;

    use super::*;
    use crate::tests::{Script, finished, started, word};

    /// Markup only this field holds, live HTML if the field reached the page unescaped, and a
    /// terminal escape that erases the line.
    fn hostile(field: &str) -> String {
        format!("<x-{field} a='1'>\"&amp;</x-{field}>\x1b[2K\r")
    }

    /// [`hostile`] as the page must show it: every markup character escaped, the control
    /// characters written out.
    fn escaped(field: &str) -> String {
        format!("&lt;x-{field} a=&#39;1&#39;&gt;&quot;&amp;amp;&lt;/x-{field}&gt;\\x1b[2K\\r")
    }

    /// Every text of a transcript that comes from the run — its playbook, values, output,
    /// operators, channels — and reaches the page.
    const RUN_FIELDS: &[&str] = &[
        "title",
        "playbook",
        "version",
        "file",
        "schedule",
        "run-id",
        "operator",
        "hostname",
        "inventory",
        "param-name",
        "param-value",
        "engine",
        "step",
        "step-name",
        "host",
        "command",
        "question",
        "answer",
        "edited-answer",
        "prompt-operator",
        "stdout",
        "stderr",
        "message",
        "verdict",
        "verdict-got",
        "capture-name",
        "capture-value",
        "input-name",
        "input-value",
        "report",
        "spilled",
        "escalation-message",
        "channel",
        "delivery-error",
        "resume-operator",
        "resume-hostname",
        "failed-step",
    ];

    /// A failed run with [`hostile`] text in every one of [`RUN_FIELDS`].
    fn hostile_run() -> Timeline {
        let h = hostile;
        let step = h("step");
        let mut run = started();
        run.playbook = PlaybookInfo {
            name: h("playbook"),
            title: h("title"),
            version: Some(h("version")),
            file: h("file"),
            sha256: String::new(),
            schedule: Some(h("schedule")),
        };
        run.run_id = h("run-id");
        run.operator = h("operator");
        run.hostname = h("hostname");
        run.inventory = Some(h("inventory"));
        run.engine_version = h("engine");
        run.params = IndexMap::from([(h("param-name"), Json::from(h("param-value")))]);
        let prompt = |question: String, answer: String, decision: Option<&str>| {
            Event::Prompt(Prompt {
                step: step.clone(),
                question,
                answer,
                operator: h("prompt-operator"),
                decision: decision.map(word),
            })
        };
        let mut done = finished(&step, Outcome::Failed, 10);
        done.message = Some(h("message"));
        done.stdout = h("stdout");
        done.stderr = h("stderr");
        done.verdicts = vec![Verdict {
            what: h("verdict"),
            ok: false,
            got: Some(h("verdict-got")),
        }];
        done.captures = IndexMap::from([(h("capture-name"), Json::from(h("capture-value")))]);
        done.inputs = IndexMap::from([(h("input-name"), Json::from(h("input-value")))]);
        done.report = Some(h("report"));
        done.spilled = Some(h("spilled"));

        let mut s = Script::without_start();
        s.push(0, Event::RunStarted(run))
            .push(1, prompt(h("question"), h("edited-answer"), Some("edited")))
            .push(
                2,
                Event::StepStarted(StepStarted {
                    step: step.clone(),
                    name: h("step-name"),
                    action: word("run"),
                    command: Some(h("command")),
                    host: h("host"),
                    attempt: 1,
                    visit: 1,
                    planned_ms: None,
                }),
            )
            .push(3, prompt(String::new(), h("answer"), None))
            .push(12, Event::StepFinished(done))
            .push(
                13,
                Event::Escalation(Escalation {
                    level: 1,
                    reason: word("failure"),
                    channels: vec![h("channel")],
                    message: h("escalation-message"),
                    step: Some(step.clone()),
                    deliveries: vec![Delivery {
                        channel: h("channel"),
                        ok: false,
                        error: Some(h("delivery-error")),
                        duration_ms: 5,
                    }],
                    rung: None,
                    due_ms: None,
                    late_ms: 0,
                }),
            )
            .push(
                20,
                Event::RunResumed(RunResumed {
                    operator: h("resume-operator"),
                    hostname: h("resume-hostname"),
                    next_step: None,
                    playbook_changed: false,
                    sha256: String::new(),
                    mode: word("interactive"),
                    gap_ms: 0,
                    rerun: Vec::new(),
                }),
            )
            .push(
                30,
                Event::RunFinished(RunFinished {
                    outcome: RunOutcome::Failed,
                    exit_code: 1,
                    duration_ms: 30,
                    failed_step: Some(h("failed-step")),
                    steps_ok: 0,
                    steps_warning: 0,
                    steps_failed: 1,
                    steps_skipped: 0,
                    undelivered: 1,
                    reason: None,
                }),
            );
        s.timeline()
    }

    /// The element names on a page.
    fn tags(page: &str) -> BTreeSet<&str> {
        page.match_indices('<')
            .filter_map(|(i, _)| {
                let name = page[i + 1..].split([' ', '>', '/']).next()?;
                (!name.is_empty()).then_some(name)
            })
            .collect()
    }

    /// Every element the page is made of: no text from a run adds one.
    const OUR_TAGS: &[&str] = &[
        "!DOCTYPE", "a", "article", "b", "body", "br", "code", "dd", "details", "div", "dl", "dt",
        "footer", "h1", "h2", "h3", "head", "header", "html", "i", "li", "main", "meta", "p",
        "pre", "q", "section", "small", "span", "strong", "style", "summary", "table", "tbody",
        "td", "th", "thead", "title", "tr", "ul",
    ];

    #[test]
    fn every_field_a_run_controls_is_escaped() {
        let page = hostile_run().html().unwrap();
        for field in RUN_FIELDS {
            assert!(
                !page.contains(&format!("<x-{field}")),
                "{field} reached the page as markup:\n{page}"
            );
            assert!(
                page.contains(&escaped(field)),
                "{field} is not on the page, escaped:\n{page}"
            );
        }
        let unknown: Vec<&str> = tags(&page)
            .into_iter()
            .filter(|tag| !OUR_TAGS.contains(tag))
            .collect();
        assert!(
            unknown.is_empty(),
            "elements the template does not write: {unknown:?}"
        );

        // The steps a torn transcript ends in, named in the notice.
        let mut torn = Script::new();
        torn.start(0, &hostile("running"), "run", 1);
        let page = torn.timeline().html().unwrap();
        assert!(!page.contains("<x-running"), "{page}");
        assert!(
            page.contains(&format!(
                "while <code>{}</code> was running",
                escaped("running")
            )),
            "{page}"
        );
    }

    #[test]
    fn no_field_brings_a_control_character_into_a_report() {
        let timeline = hostile_run();
        for (format, page) in [
            ("html", timeline.html().unwrap()),
            ("markdown", timeline.markdown()),
        ] {
            let hidden: Vec<char> = page
                .chars()
                .filter(|&c| c.is_control() && c != '\n')
                .collect();
            assert!(hidden.is_empty(), "{format}: {hidden:?}\n{page}");
        }
    }

    #[test]
    fn the_template_has_no_way_to_mark_text_safe() {
        let env = environment().unwrap();
        let err = env
            .template_from_str("{{ text | safe }}")
            .unwrap()
            .render(minijinja::context! { text => "<b>" })
            .unwrap_err();
        assert_eq!(err.kind(), minijinja::ErrorKind::UnknownFilter);
        let page = env
            .template_from_str("{{ text }} {{ n }}")
            .unwrap()
            .render(minijinja::context! { text => "<a href='/x'>\"&\"</a>", n => 7 })
            .unwrap();
        assert_eq!(
            page,
            "&lt;a href=&#39;/x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt; 7"
        );
    }

    /// A run that takes every branch the page has on one side: a retried, edited, escalated
    /// failure on a host, nested steps, a skipped one, a manual and a report step, two
    /// resumes, and an aborted end.
    fn eventful_run() -> Timeline {
        let mut run = started();
        run.playbook.schedule = Some("0 3 * * *".into());
        run.inventory = Some("prod.yaml".into());
        run.params.insert("replicas".into(), Json::from(3));
        let mut s = Script::without_start();
        s.push(0, Event::RunStarted(run))
            .prompt(1, "restart", "systemctl restart web", "edited")
            .push(
                2,
                Event::StepStarted(StepStarted {
                    step: "restart".into(),
                    name: "Restart the service".into(),
                    action: word("run"),
                    command: Some("systemctl restart web".into()),
                    host: "db-1".into(),
                    attempt: 1,
                    visit: 1,
                    planned_ms: None,
                }),
            )
            .push(3, prompt("restart", "", "retry", Some("retry")))
            .push(4, prompt("restart", "Go on?", "", Some("skip")))
            .push(5, prompt("restart", "", "why not", Some("branch")))
            .push(6, prompt("restart", "", "", None))
            .start(1000, "restart", "run", 2);
        let mut restart = finished("restart", Outcome::Failed, 2000);
        restart.attempts = 2;
        restart.exit = Some(7);
        restart.verdicts = vec![
            Verdict {
                what: "exit 0".into(),
                ok: false,
                got: Some("7".into()),
            },
            Verdict {
                what: "stdout contains ok".into(),
                ok: true,
                got: None,
            },
        ];
        restart.captures = IndexMap::from([
            ("pid".to_owned(), Json::from(42)),
            ("state".to_owned(), Json::from("down")),
        ]);
        restart.stdout = (1..=45).map(|i| format!("line {i}\n")).collect();
        restart.stderr = "refused".into();
        restart.spilled = Some("run.out/restart.log".into());
        s.push(2002, Event::StepFinished(restart))
            .start(2003, "checks", "parallel", 1)
            .start(2003, "disk", "run", 1)
            .output(2004, "disk", "12% used")
            .finish(2005, "disk", Outcome::Ok, 2)
            .finish(2006, "checks", Outcome::Ok, 3)
            .finish(2007, "notify", Outcome::Skipped, 0)
            .start(2008, "ask", "manual", 1);
        let mut ask = finished("ask", Outcome::Ok, 10);
        ask.inputs = IndexMap::from([
            ("ticket".to_owned(), Json::from("INC-1")),
            ("ack".to_owned(), Json::from(true)),
        ]);
        s.push(2018, Event::StepFinished(ask))
            .start(2019, "summary", "report", 1);
        let mut summary = finished("summary", Outcome::Ok, 1);
        summary.report = Some("web is back".into());
        s.push(2020, Event::StepFinished(summary))
            .push(2100, escalation(Some("restart"), 0, 0))
            .push(2200, escalation(None, 2, 4000))
            .start(2300, "wait", "wait", 1)
            .push(2400, resumed(120_000, true))
            .push(2401, resumed(10, false))
            .push(
                2500,
                Event::StepStarted(StepStarted {
                    step: "wait".into(),
                    name: "wait".into(),
                    action: word("wait"),
                    command: None,
                    host: "local".into(),
                    attempt: 1,
                    visit: 2,
                    planned_ms: None,
                }),
            );
        let mut wait = finished("wait", Outcome::Aborted, 100);
        wait.visit = 2;
        wait.exit = None;
        s.push(2600, Event::StepFinished(wait))
            .end(2700, RunOutcome::Aborted, Some("restart"));
        s.timeline()
    }

    fn prompt(step: &str, question: &str, answer: &str, decision: Option<&str>) -> Event {
        Event::Prompt(Prompt {
            step: step.into(),
            question: question.into(),
            answer: answer.into(),
            operator: "bob".into(),
            decision: decision.map(word),
        })
    }

    fn escalation(step: Option<&str>, repeat: u32, late_ms: u64) -> Event {
        let deliveries = if step.is_some() {
            vec![
                Delivery {
                    channel: "slack".into(),
                    ok: true,
                    error: None,
                    duration_ms: 3,
                },
                Delivery {
                    channel: "pager".into(),
                    ok: false,
                    error: Some("HTTP 500".into()),
                    duration_ms: 9,
                },
                Delivery {
                    channel: "mail".into(),
                    ok: false,
                    error: None,
                    duration_ms: 1,
                },
            ]
        } else {
            Vec::new()
        };
        Event::Escalation(Escalation {
            level: if step.is_some() { 1 } else { 2 },
            reason: word(if step.is_some() { "operator" } else { "policy" }),
            channels: deliveries.iter().map(|d| d.channel.clone()).collect(),
            message: "web is down".into(),
            step: step.map(Into::into),
            deliveries,
            rung: Some(Rung {
                scope: "run".into(),
                index: 0,
                repeat,
            }),
            due_ms: None,
            late_ms,
        })
    }

    fn resumed(gap_ms: u64, playbook_changed: bool) -> Event {
        Event::RunResumed(RunResumed {
            operator: "carol".into(),
            hostname: "ops-2".into(),
            next_step: Some("wait".into()),
            playbook_changed,
            sha256: String::new(),
            mode: word("interactive"),
            gap_ms,
            rerun: Vec::new(),
        })
    }

    /// Asserts each piece is on the page.
    #[track_caller]
    fn assert_shows(page: &str, pieces: &[&str]) {
        for piece in pieces {
            assert!(
                page.contains(piece),
                "{piece:?} is not on the page:\n{page}"
            );
        }
    }

    /// Every branch of the template, each side taken by one of four runs, renders: with strict
    /// undefined values, a misspelt field in any branch fails here, not in someone's report.
    #[test]
    fn every_part_of_the_template_renders() {
        let page = eventful_run().html().unwrap();
        assert_shows(
            &page,
            &[
                // Header: stopped but resumable, every fact, both resumes, the totals, values.
                "<p class=\"notice\">The run was stopped; it is resumable:",
                "<dd><code>web-down</code> 1.0.0<br><small>web.yaml</small></dd>",
                "<dt>Schedule</dt><dd><code>0 3 * * *</code></dd>",
                "<dt>Inventory</dt><dd><code>prod.yaml</code></dd>",
                "by carol on <code>ops-2</code> after the run was stopped for 2m00s (the playbook had changed)</dd>",
                "by carol on <code>ops-2</code></dd>",
                "<dt>Finished</dt><dd>2026-01-15T03:12:02.700Z</dd>",
                "<dt>Failed step</dt><dd><code>restart</code></dd>",
                "<li class=\"o-aborted\"><b>1</b> aborted</li>",
                "<li class=\"o-unfinished\"><b>1</b> did not finish</li>",
                "<li class=\"o-time\"><b>2.7s</b> duration</li>",
                "<li class=\"o-escalation\"><b>2</b> escalation(s)</li>",
                "<tr><th><code>replicas</code></th><td><code>3</code></td></tr>",
                // The chart: lines, ticks, every kind of row.
                "<i style=\"left:37.037%\"></i>",
                "<span class=\"tick first\" style=\"left:0.000%\">+0ms</span>",
                "<span class=\"tick\" style=\"left:37.037%\">+1.0s</span>",
                "<span class=\"g-time\">03:12:00<small>+0ms</small></span>",
                "<code>restart</code> <span class=\"tag\">edited, retry, skip, branch, answered</span></a>",
                "style=\"padding-left:1.2rem\" title=\"Step disk\"><code>disk</code></a>",
                "title=\"web is down\">◆</span>",
                "<span class=\"g-out\">1 delivered, 2 failed</span>",
                "<span class=\"g-out\">by carol after the run was stopped for 2m00s</span>",
                "<span class=\"g-out\">by carol</span>",
                "<span class=\"g-step\">run finished</span>",
                "<span class=\"badge o-aborted\">aborted</span></span>",
                // Cards: every fact of a step.
                "<h3><code>restart</code> <span class=\"name\">Restart the service</span></h3>",
                "<h3><code>notify</code></h3>",
                "took 2.0s · exit 7 · 2 attempts · run · on <code>db-1</code></p>",
                "took 100ms · visit 2 · wait</p>",
                "<p class=\"why\">expected exit 0, got 1</p>",
                "<span class=\"label\">Command <span class=\"tag\">edited by the operator</span></span><pre>check restart</pre>",
                "<span class=\"label\">Command</span><pre>check disk</pre>",
                "<q>Run restart?</q> → <code>systemctl restart web</code>",
                "<span class=\"decision\">retry</span>",
                "<q>Go on?</q>",
                "<span class=\"decision\">branch</span> <b>why not</b>",
                "<span class=\"decision\">answered</span>",
                "<li class=\"v-bad\"><span class=\"mark\">✗ failed</span> exit 0 <small>got <code>7</code></small></li>",
                "<li class=\"v-ok\"><span class=\"mark\">✓ ok</span> stdout contains ok</li>",
                "<span class=\"label\">Captured</span> <code>pid</code> = <code>42</code>, <code>state</code> = <code>down</code></p>",
                "<span class=\"label\">Inputs</span> <code>ticket</code> = <code>INC-1</code>, <code>ack</code> = <code>true</code></p>",
                "<details class=\"out\" open><summary>stdout · 45 lines, first 30 shown</summary><pre>line 1\nline 2\n",
                "<details class=\"out\" open><summary>stderr · 1 line</summary><pre>refused</pre></details>",
                "<details class=\"out\"><summary>stdout · 1 line</summary><pre>12% used</pre></details>",
                "<details class=\"out\" open><summary>report</summary><pre>web is back</pre></details>",
                "<span class=\"label\">Full output</span> <code>run.out/restart.log</code>",
                // Escalations: with a step and deliveries, without either.
                "<td><code>restart</code></td>",
                "<li class=\"v-ok\">✓ slack delivered</li>",
                "<li class=\"v-bad\">✗ pager failed: HTTP 500</li>",
                "<li class=\"v-bad\">✗ mail failed</li>",
                "<td>policy, repeat 2 (late by 4.0s)</td>",
                "<td></td>",
                "<li>none recorded</li>",
                "(engine 0.1.0).</footer>",
            ],
        );

        // Nothing recorded at all: every fact missing.
        let page = Timeline::build(&[]).html().unwrap();
        assert_shows(
            &page,
            &[
                "<title>Incident report: unknown run</title>",
                "The transcript ends at T+0ms, with no <code>run_finished</code> record.",
                "<dd>no <code>run_started</code> record in the transcript</dd>",
                "<span class=\"g-step\">transcript ends</span>",
                "<span class=\"badge o-unfinished\">did not finish</span></span>",
                "<p>No step was recorded.</p>",
                "<p>None.</p>",
                "transcript.</footer>",
            ],
        );
        assert!(!page.contains("<details class=\"params\">"), "{page}");
        assert!(!page.contains("run started"), "{page}");

        // Cut short while two steps ran.
        let mut torn = Script::new();
        torn.start(0, "checks", "parallel", 1)
            .start(1, "disk", "run", 1)
            .start(1, "top", "run", 1)
            .finish(5, "disk", Outcome::Ok, 4);
        let page = torn.timeline().html().unwrap();
        assert_shows(
            &page,
            &["while <code>checks</code>, <code>top</code> was running, with no"],
        );

        // A plain success: no notice, no version, a tick near the end.
        let mut plain = Script::without_start();
        let mut run = started();
        run.playbook.version = None;
        plain
            .push(0, Event::RunStarted(run))
            .start(0, "status", "run", 1)
            .output(10, "status", "active")
            .finish(215, "status", Outcome::Ok, 215)
            .end(215, RunOutcome::Success, None);
        let page = plain.timeline().html().unwrap();
        assert_shows(
            &page,
            &[
                "<dd><code>web-down</code><br><small>web.yaml</small></dd>",
                "<span class=\"tick last\" style=\"left:93.023%\">+200ms</span>",
                "<details class=\"out\"><summary>stdout · 1 line</summary><pre>active</pre></details>",
            ],
        );
        assert!(!page.contains("class=\"notice\""), "{page}");
        assert!(!page.contains("<dt>Schedule</dt>"), "{page}");
    }

    #[test]
    fn axis_ticks_and_indents_are_round() {
        assert_eq!(ticks(215), [0, 100, 200]);
        assert_eq!(ticks(3_700_001), [0, 1_800_000, 3_600_000]);
        assert_eq!(ticks(0), [0]);
        let indents: Vec<String> = (0..4).map(indent).collect();
        assert_eq!(indents, ["0", "1.2", "2.4", "3.6"]);
    }
}
