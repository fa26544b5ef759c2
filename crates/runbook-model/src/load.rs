//! Reading a file into the model: size, UTF-8 and YAML checks, then `apiVersion` and `kind`
//! dispatch. This is the one place where an older format version would be migrated.

use serde::Deserialize;

use crate::diagnostic::Diagnostic;
use crate::inventory::Inventory;
use crate::playbook::Playbook;
use crate::source::Source;
use crate::spanned::{Loc, Spanned};

/// The format versions this build reads, newest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["runbook/v1"];
/// The version written by `import` and described by `schema`.
pub const CURRENT_VERSION: &str = "runbook/v1";
/// Larger files are refused before parsing: no real playbook comes near it.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// A parsed file: a playbook or an inventory, told apart by `kind`.
#[derive(Debug, Clone)]
pub enum Document {
    /// A `kind: Playbook` file.
    Playbook(Box<Playbook>),
    /// A `kind: Inventory` file.
    Inventory(Box<Inventory>),
}

/// What a file holds, read from `kind` without parsing the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `kind: Playbook`.
    Playbook,
    /// `kind: Inventory`.
    Inventory,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    api_version: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
}

fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    // `run: true` or `equals: 200` in a text field is refused, as the JSON Schema refuses it,
    // rather than silently read as the text "true" or "200".
    options.no_schema = true;
    options.with_snippet = false;
    options
}

/// Reads and parses a file. Problems come back as diagnostics (never a panic).
pub fn load_path(path: &std::path::Path) -> Result<(Source, Document), Vec<Diagnostic>> {
    let bytes = read_source(path).map_err(|d| vec![d])?;
    load_bytes(&path.display().to_string(), bytes)
}

/// Reads a playbook, inventory or var file in bounded time and memory: only a regular file
/// (after symlinks) is read, at most [`MAX_FILE_BYTES`] of it.
///
/// The file is opened non-blocking, so a FIFO does not wait for a writer, then checked with
/// `fstat` on the open descriptor (no race with a swapped path): FIFOs, devices (`/dev/zero`)
/// and sockets are refused. The size limit is applied while reading, so a file that grows
/// does not get past it either.
pub fn read_source(path: &std::path::Path) -> Result<Vec<u8>, Diagnostic> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let display = path.display().to_string();
    let unreadable = |err: std::io::Error| {
        Diagnostic::file_error(
            "unreadable",
            &display,
            format!("cannot read {display}: {err}"),
        )
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(Diagnostic::file_error(
            "not-a-file",
            &display,
            format!(
                "{display} is not a regular file (a {}): refused",
                file_kind(meta.file_type())
            ),
        ));
    }
    let too_large = |size: u64| {
        Diagnostic::file_error(
            "too-large",
            &display,
            format!(
                "{display} is {size} bytes; files over {} MiB are refused",
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        )
    };
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

fn file_kind(kind: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "FIFO"
    } else if kind.is_char_device() {
        "character device"
    } else if kind.is_block_device() {
        "block device"
    } else if kind.is_socket() {
        "socket"
    } else if kind.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

/// Parses a file's bytes: size, UTF-8, YAML, then the document for its version and kind.
pub fn load_bytes(path: &str, bytes: Vec<u8>) -> Result<(Source, Document), Vec<Diagnostic>> {
    let source = decode(path, bytes)?;
    match parse_document_recovering(&source) {
        (Some(document), diagnostics) if diagnostics.is_empty() => Ok((source, document)),
        (_, diagnostics) => Err(diagnostics),
    }
}

/// Checks size and encoding and turns bytes into a [`Source`].
pub fn decode(path: &str, bytes: Vec<u8>) -> Result<Source, Vec<Diagnostic>> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(vec![Diagnostic::file_error(
            "too-large",
            path,
            format!(
                "{path} is {} bytes; files over {} MiB are refused",
                bytes.len(),
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        )]);
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source::new(path, text)),
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(&err.as_bytes()[..valid]).into_owned();
            let source = Source::new(path, lossy);
            let loc = source.loc_of_offset(valid);
            Err(vec![
                Diagnostic::error(
                    "not-utf8",
                    &source,
                    loc,
                    format!("invalid UTF-8 at byte {valid}"),
                )
                .with_hint("playbooks and inventories must be UTF-8 text"),
            ])
        }
    }
}

/// Reads `kind` (and checks `apiVersion`) without parsing the rest of the document.
pub fn sniff_kind(source: &Source) -> Result<Kind, Diagnostic> {
    let header = parse_header(source)?;
    check_version(source, &header)?;
    kind_of(source, &header)
}

/// Parses a source whose kind is decided by its own `kind` field.
pub fn parse_document(source: &Source) -> Result<Document, Diagnostic> {
    match parse_document_recovering(source) {
        (Some(document), diagnostics) if diagnostics.is_empty() => Ok(document),
        (_, mut diagnostics) => Err(diagnostics.swap_remove(0)),
    }
}

/// Parses a source and goes on past unknown fields: each is reported (with the closest known
/// field) and left out, so one typo does not hide the other problems of the file. The
/// document is returned when the rest parses, for validation to find what else is wrong; it
/// comes with errors then, and must not be used for anything but checking.
pub fn parse_document_recovering(source: &Source) -> (Option<Document>, Vec<Diagnostic>) {
    let header = match parse_header(source)
        .and_then(|h| check_version(source, &h).map(|v| (h, v)))
        .and_then(|(h, v)| kind_of(source, &h).map(|k| (v, k)))
    {
        Ok(header) => header,
        Err(diagnostic) => return (None, vec![diagnostic]),
    };
    // Migration point: a future runbook/v2 reader would parse older versions into their own
    // types here and convert them into the current model before validation sees them.
    match header {
        ("runbook/v1", Kind::Playbook) => {
            let (playbook, diagnostics) = parse_recovering::<Playbook>(source);
            (
                playbook.map(|p| Document::Playbook(Box::new(p))),
                diagnostics,
            )
        }
        ("runbook/v1", Kind::Inventory) => {
            let (inventory, diagnostics) = parse_recovering::<Inventory>(source);
            (
                inventory.map(|i| Document::Inventory(Box::new(i))),
                diagnostics,
            )
        }
        _ => unreachable!("check_version accepts only SUPPORTED_VERSIONS"),
    }
}

/// How many unknown fields one file may report before parsing gives up.
const MAX_UNKNOWN_FIELDS: usize = 100;

/// Deserializes `T`; an unknown field is reported and blanked out of the text (positions
/// kept), then parsing starts again. Any other error ends it.
fn parse_recovering<T: for<'de> Deserialize<'de>>(source: &Source) -> (Option<T>, Vec<Diagnostic>) {
    let mut text = std::borrow::Cow::Borrowed(source.text.as_str());
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    for _ in 0..=MAX_UNKNOWN_FIELDS {
        let err = match serde_saphyr::from_str_with_options::<T>(&text, options()) {
            Ok(value) => return (Some(value), diagnostics),
            Err(err) => err,
        };
        let diagnostic = yaml_error(source, &err);
        let unknown = unknown_field(&diagnostic.message);
        let blanked = unknown
            .as_ref()
            .and_then(|_| crate::recover::blank_pair(&text, diagnostic.line, diagnostic.column));
        match (unknown, blanked) {
            (Some((field, expected)), Some(next)) => {
                let mut d = Diagnostic::error(
                    "unknown-field",
                    source,
                    Loc::new(diagnostic.line, diagnostic.column),
                    format!("unknown field `{field}`"),
                )
                .with_width(field.chars().count());
                d = match crate::suggest::did_you_mean(&field, expected.iter().map(String::as_str))
                {
                    Some(close) => d.with_hint(format!("did you mean `{close}`?")),
                    None if expected.is_empty() => d,
                    None => d.with_hint(format!("expected one of: {}", expected.join(", "))),
                };
                // The same place twice means the text did not change: stop there.
                if diagnostics
                    .last()
                    .is_some_and(|last: &Diagnostic| last.line == d.line && last.column == d.column)
                {
                    return (None, diagnostics);
                }
                diagnostics.push(d);
                text = std::borrow::Cow::Owned(next);
            }
            _ => {
                diagnostics.push(diagnostic);
                return (None, diagnostics);
            }
        }
    }
    (None, diagnostics)
}

/// `unknown field `x`, expected one of a, b` → (`x`, [a, b]).
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = match rest.trim_start_matches(',').trim() {
        r if r.starts_with("expected one of ") => r["expected one of ".len()..]
            .split(", ")
            .map(|s| s.trim_matches('`').to_owned())
            .collect(),
        r if r.starts_with("expected ") => {
            vec![r["expected ".len()..].trim_matches('`').to_owned()]
        }
        _ => Vec::new(),
    };
    Some((field.to_owned(), expected))
}

fn parse_header(source: &Source) -> Result<Header, Diagnostic> {
    if source.text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---"
    }) {
        return Err(Diagnostic::error(
            "empty",
            source,
            Loc::new(1, 1),
            "empty document: expected a playbook or an inventory",
        )
        .with_hint(format!(
            "start the file with `apiVersion: {CURRENT_VERSION}` and `kind: Playbook`"
        )));
    }
    match quick_header(source) {
        Some(header) => Ok(header),
        None => parse_as::<Header>(source),
    }
}

/// Reads top-level `apiVersion:` and `kind:` lines without parsing the document, which would
/// otherwise be parsed twice. Anything unusual (flow style, anchors, multi-line values) falls
/// back to a real parse.
fn quick_header(source: &Source) -> Option<Header> {
    let mut api_version = None;
    let mut kind = None;
    for (i, line) in source.text.lines().enumerate() {
        let (slot, key) = if line.starts_with("apiVersion:") {
            (&mut api_version, "apiVersion:")
        } else if line.starts_with("kind:") {
            (&mut kind, "kind:")
        } else {
            continue;
        };
        if slot.is_some() {
            return None;
        }
        let rest = &line[key.len()..];
        let value = rest.split(" #").next().unwrap_or("").trim();
        let col = key.len() + 1 + (rest.len() - rest.trim_start().len());
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')));
        let text = unquoted.unwrap_or(value);
        if text.is_empty() || text.contains(['&', '*', '!', '{', '[', '|', '>', '"', '\'', '\\']) {
            return None;
        }
        *slot = Some(Spanned::new(text.to_owned(), Loc::new(i + 1, col)));
    }
    Some(Header {
        api_version: Some(api_version?),
        kind: Some(kind?),
    })
}

fn check_version(source: &Source, header: &Header) -> Result<&'static str, Diagnostic> {
    let supported = SUPPORTED_VERSIONS.join(", ");
    let Some(version) = &header.api_version else {
        return Err(Diagnostic::error(
            "missing-version",
            source,
            Loc::new(1, 1),
            "missing `apiVersion`",
        )
        .with_hint(format!(
            "add `apiVersion: {CURRENT_VERSION}` (supported: {supported})"
        )));
    };
    SUPPORTED_VERSIONS
        .iter()
        .find(|v| **v == version.as_str())
        .copied()
        .ok_or_else(|| {
            Diagnostic::error(
                "unknown-version",
                source,
                version.loc,
                format!("unsupported apiVersion `{}`", version.value),
            )
            .with_width(version.chars().count())
            .with_hint(format!("this runbook reads: {supported}"))
        })
}

fn kind_of(source: &Source, header: &Header) -> Result<Kind, Diagnostic> {
    match header.kind.as_ref().map(|k| (k.as_str(), k.loc)) {
        Some(("Playbook", _)) => Ok(Kind::Playbook),
        Some(("Inventory", _)) => Ok(Kind::Inventory),
        Some((other, loc)) => Err(Diagnostic::error(
            "unknown-kind",
            source,
            loc,
            format!("unknown kind `{other}`"),
        )
        .with_width(other.chars().count())
        .with_hint("kind is `Playbook` or `Inventory`")),
        None => Err(
            Diagnostic::error("missing-kind", source, Loc::new(1, 1), "missing `kind`")
                .with_hint("add `kind: Playbook` or `kind: Inventory`"),
        ),
    }
}

/// Deserializes the whole source as `T`, turning a YAML or type error into a diagnostic.
pub fn parse_as<T: for<'de> Deserialize<'de>>(source: &Source) -> Result<T, Diagnostic> {
    serde_saphyr::from_str_with_options::<T>(&source.text, options())
        .map_err(|err| yaml_error(source, &err))
}

fn yaml_error(source: &Source, err: &serde_saphyr::Error) -> Diagnostic {
    let reported = err.location().map_or(Loc::new(1, 1), |l| {
        Loc::new(l.line() as usize, l.column() as usize)
    });
    let mut message = err.to_string();
    // At the end of a file without a last newline the parser names the line after it: point
    // at the end of the last line instead (a diagnostic's place is always in the file).
    let lines = source.text.split('\n').count().max(1);
    let loc = if reported.line > lines {
        let last = source.text.rsplit('\n').next().unwrap_or("");
        Loc::new(lines, last.chars().count() + 1)
    } else {
        reported
    };
    // The location is printed by the diagnostic itself; drop serde-saphyr's own suffix.
    for suffix in [
        format!(" at line {} column {}", reported.line, reported.col),
        format!(" at line {}, column {}", reported.line, reported.col),
    ] {
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_owned();
        }
    }
    let message = message
        .lines()
        .next()
        .unwrap_or("invalid YAML")
        .trim()
        .to_owned();
    // Types as YAML 1.2 reads them, the same as the JSON Schema: say how to write the value.
    if let Some(value) = message
        .strip_prefix("The string value [")
        .and_then(|m| m.strip_suffix("] must be quoted"))
    {
        return Diagnostic::error(
            "invalid-yaml",
            source,
            loc,
            format!("`{value}` is not text in YAML, and this field is text"),
        )
        .with_hint(format!("quote it: \"{value}\""));
    }
    let diagnostic = Diagnostic::error("invalid-yaml", source, loc, &message);
    if message.starts_with("invalid type: string") && message.contains("unquoted") {
        return diagnostic.with_hint("remove the quotes: a quoted value is text in YAML");
    }
    diagnostic
}
