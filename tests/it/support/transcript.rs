//! Transcripts read back as JSON records, and lookups in them.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A JSON string's text; panics, showing the value, when it is not a string.
pub fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// A JSON number as a `u64`; panics, showing the value, when it is not one.
pub fn u64_of(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Reads a transcript: every line must be a JSON object.
pub fn read_transcript(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read the transcript {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("transcript line {} is not JSON ({e}): {line}", i + 1))
        })
        .collect()
}

/// Reads a complete transcript: as [`read_transcript`], and it ends with a newline and `seq`
/// counts up from 0.
pub fn read_complete_transcript(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read the transcript {}: {e}", path.display()));
    assert!(
        text.ends_with('\n'),
        "a complete transcript ends with a newline"
    );
    let records = read_transcript(path);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["seq"].as_u64(), Some(i as u64), "seq counts up: {r}");
    }
    records
}

/// The records parsed so far of a transcript that is still being written (a torn last line is
/// left out).
pub fn read_partial(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// Records of one event kind.
pub fn events<'a>(records: &'a [Value], event: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["event"] == event).collect()
}

/// Records of one event kind for one step.
pub fn step_events<'a>(records: &'a [Value], event: &str, step: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["event"] == event && r["step"] == step)
        .collect()
}

/// The one record of `event` for `step` (panics unless there is exactly one).
pub fn one<'a>(records: &'a [Value], event: &str, step: &str) -> &'a Value {
    let found = step_events(records, event, step);
    assert_eq!(
        found.len(),
        1,
        "expected one {event} of `{step}`, found {}: {found:#?}",
        found.len()
    );
    found[0]
}

/// A step's last `step_finished` record (a retried or revisited step has several).
pub fn last_finished<'a>(records: &'a [Value], step: &str) -> &'a Value {
    step_events(records, "step_finished", step)
        .last()
        .unwrap_or_else(|| panic!("`{step}` has no step_finished record"))
}

/// The outcome of a step's (last) `step_finished` record.
pub fn outcome(records: &[Value], step: &str) -> String {
    last_finished(records, step)["outcome"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The last record, which must be `run_finished`.
pub fn run_finished(records: &[Value]) -> &Value {
    let last = records.last().expect("an empty transcript");
    assert_eq!(last["event"], "run_finished", "the last record: {last}");
    last
}

/// Polls the (growing) transcript until a record matches `pred`.
pub fn wait_for_record(path: &Path, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(r) = read_partial(path).into_iter().find(|r| pred(r)) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no matching record in {} after {timeout:?}:\n{}",
            path.display(),
            std::fs::read_to_string(path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Moves a transcript's incident clock back by `by`, as if the run had started that much
/// earlier and sat stopped since: a test double for a long gap between a crash and its resume
/// (waiting minutes in a test is not an option).
pub fn backdate(transcript: &Path, by: Duration) {
    let text = std::fs::read_to_string(transcript).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        if v["event"] == "run_started" {
            let start = v["clock_start_ms"].as_u64().expect("clock_start_ms");
            v["clock_start_ms"] = Value::from(start - by.as_millis() as u64);
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }
    std::fs::write(transcript, out).unwrap();
}
