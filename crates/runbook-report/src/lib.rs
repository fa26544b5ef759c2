//! The incident report of a run. [`Timeline::build`] reads a transcript's records once — the
//! run, each step with its wall time, duration, outcome, operator decisions and output head,
//! escalations, resumes and totals — and the model renders three ways: [`markdown`] for the
//! incident document (with an empty post-mortem to fill in), [`html`] as one self-contained
//! page with a visual timeline, [`json`] for tools.
//!
//! Pure functions from records to text: no I/O, no clock. Secrets are already `***` in the
//! transcript; every value is escaped for the format it lands in. The HTML page is the
//! template `report.html.j2`, rendered with HTML auto-escape (`html.rs`); its one possible
//! error, [`HtmlError`], is a bug in that template, which the tests render in every branch.

#![forbid(unsafe_code)]

mod build;
mod html;
mod markdown;
mod model;

pub use html::HtmlError;
pub use model::*;

use serde_json::Value;

use runbook_transcript::{Record, RunOutcome, Stream};

/// The format name of the JSON report.
pub const REPORT_FORMAT: &str = "runbook-report/v1";

/// Lines of each output stream a report keeps per step; the transcript and the spill file
/// hold the rest.
pub const OUTPUT_HEAD_LINES: usize = 30;

/// The JSON Schema of the JSON report (`runbook schema report`, `schemas/report.v1.json`).
pub fn schema() -> String {
    let mut generator = schemars::generate::SchemaSettings::default().into_generator();
    let mut schema = generator.root_schema_for::<Timeline>();
    schema.insert(
        "title".into(),
        "runbook incident report (runbook-report/v1)".into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}

/// The Markdown incident report of a transcript.
pub fn markdown(records: &[Record]) -> String {
    Timeline::build(records).markdown()
}

/// The HTML incident report of a transcript: one page, inline CSS, no scripts, no network
/// assets.
pub fn html(records: &[Record]) -> Result<String, HtmlError> {
    Timeline::build(records).html()
}

/// The JSON summary of a transcript (`runbook-report/v1`).
pub fn json(records: &[Record]) -> String {
    Timeline::build(records).json()
}

impl Timeline {
    /// The Markdown incident report, with an empty post-mortem to fill in.
    pub fn markdown(&self) -> String {
        markdown::render(&self.visible())
    }

    /// The HTML incident report: one page, inline CSS, no scripts, no network assets.
    pub fn html(&self) -> Result<String, HtmlError> {
        html::render(&self.visible())
    }

    /// The JSON report (`runbook-report/v1`), every text as recorded.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serializes") + "\n"
    }
}

/// `31ms`, `8.1s`, `2m05s`, `1h02m`, from milliseconds.
pub(crate) fn format_duration(ms: u64) -> String {
    runbook_transcript::time::format_duration(std::time::Duration::from_millis(ms))
}

/// `21:43:52` from an RFC 3339 timestamp; anything else as it is.
pub(crate) fn clock(ts: &str) -> &str {
    match ts.get(11..19) {
        Some(time) if ts.as_bytes().get(10) == Some(&b'T') => time,
        _ => ts,
    }
}

/// `success`, `failed`, `aborted`, `interrupted`.
pub(crate) fn run_outcome_name(outcome: RunOutcome) -> &'static str {
    match outcome {
        RunOutcome::Success => "success",
        RunOutcome::Failed => "failed",
        RunOutcome::Aborted => "aborted",
        RunOutcome::Interrupted => "interrupted",
    }
}

/// The stream's name as a label.
pub(crate) fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

/// A JSON value as one short line: strings bare, everything else as JSON.
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
