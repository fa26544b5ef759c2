//! The published JSON Schemas under schemas/, compiled, and what a value or a transcript must
//! be against them.

use std::path::Path;

use serde_json::Value;

use super::{read_transcript, root};

/// One published JSON Schema, `schemas/FILE`, compiled once for many values.
pub struct Schema {
    file: String,
    validator: jsonschema::Validator,
}

impl Schema {
    /// Reads and compiles `schemas/FILE`; panics unless it is a valid JSON Schema.
    pub fn load(file: &str) -> Schema {
        let text = std::fs::read_to_string(root().join("schemas").join(file))
            .unwrap_or_else(|err| panic!("read schemas/{file}: {err}"));
        let schema: Value = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("schemas/{file} is not JSON: {err}"));
        let validator = jsonschema::validator_for(&schema)
            .unwrap_or_else(|err| panic!("schemas/{file} is not a valid JSON Schema: {err}"));
        Schema {
            file: file.to_owned(),
            validator,
        }
    }

    /// Every error of `value` against the schema, as `MESSAGE at PATH`; none when it is valid.
    pub fn errors(&self, value: &Value) -> Vec<String> {
        self.validator
            .iter_errors(value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    /// Asserts `value` is valid against the schema; `what` names it in the failure message.
    #[track_caller]
    pub fn assert_valid(&self, what: &str, value: &Value) {
        let errors = self.errors(value);
        assert!(
            errors.is_empty(),
            "{what} against schemas/{}:\n{}\n{value}",
            self.file,
            errors.join("\n")
        );
    }
}

/// Asserts every record of the transcript at `path` is valid against the published transcript
/// schema.
#[track_caller]
pub fn assert_transcript_valid(path: &Path) {
    let schema = Schema::load("transcript.v1.json");
    for record in read_transcript(path) {
        schema.assert_valid("a record", &record);
    }
}
