//! The runbook transcript (`runbook-transcript/v1`): one JSON object per line, appended and
//! flushed as a run happens. It is the audit log, the input of the incident reports (the
//! `runbook-report` crate), and what resume continues from.
//!
//! **Invariant:** every record is written with one `write` of a whole line, so a process killed
//! at any moment leaves every line parseable except at most a torn last one, which the reader
//! skips.

#![forbid(unsafe_code)]

pub mod reader;
pub mod record;
pub mod text;
pub mod time;
pub mod visible;
pub mod writer;

pub use reader::{ReadError, Transcript, read_transcript};
pub use record::*;
pub use visible::{visible, visible_line};
pub use writer::TranscriptWriter;

/// The format name written in every `run_started` record.
pub const FORMAT: &str = "runbook-transcript/v1";

/// The JSON Schema of one transcript line (what `schemas/transcript.v1.json` holds).
pub fn schema() -> String {
    let schema = schemars::schema_for!(Record);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}
