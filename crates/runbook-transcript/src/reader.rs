//! Reading a transcript back: every whole line, skipping a torn last one.

use std::path::{Path, PathBuf};

use crate::record::Record;

/// Why a transcript could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The transcript.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A line other than the last is not a record.
    #[error("{}:{line}: not a transcript record: {message}", path.display())]
    Corrupt {
        /// The transcript.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// The file holds no whole record.
    #[error("{} is empty: no run was recorded", path.display())]
    Empty {
        /// The transcript.
        path: PathBuf,
    },
    /// Its `run_started` names another format.
    #[error("{} is a `{found}` transcript; this runbook reads {}", path.display(), crate::FORMAT)]
    Version {
        /// The transcript.
        path: PathBuf,
        /// The format it names.
        found: String,
    },
}

/// A transcript read back.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// Every whole record, in file order.
    pub records: Vec<Record>,
    /// The last line was cut short (the process died while writing it) and was skipped.
    pub torn_tail: bool,
}

/// The `format` of a `run_started` line when it is not the one this crate reads.
fn other_format(line: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    if value.get("event")?.as_str()? != "run_started" {
        return None;
    }
    let format = value.get("format")?.as_str()?;
    (format != crate::FORMAT).then(|| format.to_owned())
}

/// Reads every record. A line that does not parse is an error unless it is the last one.
pub fn read_transcript(path: &Path) -> Result<Transcript, ReadError> {
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let mut records = Vec::with_capacity(lines.len());
    let mut torn_tail = false;
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        // A newer format is refused by name, before its records fail to parse one by one.
        if records.is_empty()
            && let Some(found) = other_format(line)
        {
            return Err(ReadError::Version {
                path: path.to_owned(),
                found,
            });
        }
        match serde_json::from_str::<Record>(line) {
            Ok(record) => records.push(record),
            Err(_) if i + 1 == lines.len() => torn_tail = true,
            Err(err) => {
                return Err(ReadError::Corrupt {
                    path: path.to_owned(),
                    line: i + 1,
                    message: err.to_string(),
                });
            }
        }
    }
    if records.is_empty() {
        return Err(ReadError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(Transcript { records, torn_tail })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Event, Output, Stream};
    use crate::writer::TranscriptWriter;

    fn output(text: &str) -> Event {
        Event::Output(Output {
            step: "s".into(),
            stream: Stream::Stdout,
            text: text.into(),
        })
    }

    #[test]
    fn another_format_version_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(
            &path,
            r#"{"seq":0,"ts":"2027-01-01T00:00:00.000Z","elapsed_ms":0,"event":"run_started","format":"runbook-transcript/v2"}"#,
        )
        .unwrap();
        let err = read_transcript(&path).unwrap_err();
        assert!(matches!(err, ReadError::Version { .. }), "{err}");
        assert!(err.to_string().contains("runbook-transcript/v2"), "{err}");
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_append_cuts_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let mut w = TranscriptWriter::create(&path, crate::time::Clock::start()).unwrap();
        w.write(output("one")).unwrap();
        w.write(output("two")).unwrap();
        w.close().unwrap();
        // Simulate a kill in the middle of a write.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(br#"{"seq":2,"ts":"2026-"#);
        std::fs::write(&path, &bytes).unwrap();
        let t = read_transcript(&path).unwrap();
        assert_eq!(t.records.len(), 2);
        assert!(t.torn_tail);
        let mut w = TranscriptWriter::append(&path, 2, crate::time::Clock::start()).unwrap();
        w.write(output("three")).unwrap();
        w.close().unwrap();
        let t = read_transcript(&path).unwrap();
        assert!(!t.torn_tail);
        assert_eq!(
            t.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn a_corrupt_middle_line_is_an_error_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, "garbage\n{}\n").unwrap();
        let err = read_transcript(&path).unwrap_err();
        assert!(matches!(err, ReadError::Corrupt { line: 1, .. }), "{err}");
    }
}
