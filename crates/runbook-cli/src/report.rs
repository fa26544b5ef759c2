//! `runbook report`: a run's transcript as an incident report (Markdown, HTML or JSON), on
//! stdout or in a file. The rendering lives in `runbook_report`.

use std::path::Path;

use runbook_transcript::{ReadError, read_transcript};

use crate::args::{ReportArgs, ReportFormat};
use crate::{CliError, Exit, write_stdout};

pub fn run(args: &ReportArgs) -> Result<Exit, CliError> {
    let transcript = read_transcript(&args.transcript).map_err(read_error)?;
    if transcript.torn_tail {
        eprintln!(
            "note: the last line of {} was cut short (the run was killed while writing it) and is left out",
            args.transcript.display()
        );
    }
    let timeline = runbook_report::Timeline::build(&transcript.records);
    let text = match format(args) {
        ReportFormat::Markdown => timeline.markdown(),
        ReportFormat::Html => timeline.html().map_err(|err| {
            CliError::new(Exit::Invalid, err.to_string())
                .hint("`--format markdown` and `--format json` still report this transcript")
        })?,
        ReportFormat::Json => timeline.json(),
    };
    match &args.output {
        None => write_stdout(&text)?,
        Some(path) => {
            std::fs::write(path, &text).map_err(|err| {
                CliError::new(
                    Exit::Invalid,
                    format!("cannot write {}: {err}", path.display()),
                )
                .hint("check that the folder exists and is writable, or leave out -o for stdout")
            })?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(Exit::Success)
}

/// `--format`, else what the output file's extension says, else Markdown.
fn format(args: &ReportArgs) -> ReportFormat {
    if let Some(format) = args.format {
        return format;
    }
    let ext = args
        .output
        .as_deref()
        .and_then(Path::extension)
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("html" | "htm") => ReportFormat::Html,
        Some("json") => ReportFormat::Json,
        _ => ReportFormat::Markdown,
    }
}

fn read_error(err: ReadError) -> CliError {
    let hint = match &err {
        ReadError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            "`runbook run` writes transcripts under .runbook/runs/ (or where --transcript said)"
        }
        ReadError::Io { .. } => "check the path and its permissions",
        ReadError::Corrupt { .. } => {
            "a transcript is the JSONL file `runbook run` writes; only its last line may be cut short"
        }
        ReadError::Empty { .. } => {
            "the run stopped before it recorded anything; there is nothing to report"
        }
        ReadError::Version { .. } => "read it with the runbook version that wrote it",
    };
    CliError::new(Exit::Invalid, err.to_string()).hint(hint)
}
