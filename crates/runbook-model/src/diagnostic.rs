//! Diagnostics: one problem found in a file, with its place, and the three ways to print them
//! (rustc-style for people, JSON for tools, GitHub workflow annotations for pull requests).

use annotate_snippets::{AnnotationKind, Group, Level as SnippetLevel, Renderer, Snippet};
use serde::Serialize;

use crate::source::Source;
use crate::spanned::Loc;

/// How bad a diagnostic is. Errors fail `check`; warnings do with `--deny-warnings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A problem that fails `check`.
    Error,
    /// A likely mistake; fails `check` only with `--deny-warnings`.
    Warning,
}

/// One problem in one file, with the source line it points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Diagnostic {
    /// Whether it is an error or a warning.
    pub severity: Severity,
    /// A stable kebab-case name for the rule (`undefined-name`, `unknown-target`, ...).
    pub code: &'static str,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The file's path as given (or as reached through an include).
    pub file: String,
    /// The 1-based line; 0 for a problem with the file itself.
    pub line: usize,
    /// The 1-based column in characters; 0 for a problem with the file itself.
    pub column: usize,
    /// Characters to underline, at least 1.
    #[serde(skip)]
    pub width: usize,
    /// The text of the line, quoted under the message.
    #[serde(skip)]
    pub source_line: String,
    /// How to fix it, when a fix is known (printed as `help:` or `hint:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at `loc` in `source`, quoting that line.
    pub fn new(
        severity: Severity,
        code: &'static str,
        source: &Source,
        loc: Loc,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            file: source.path.clone(),
            line: loc.line,
            column: loc.col.max(1),
            width: 1,
            source_line: source.line(loc.line).to_owned(),
            hint: None,
        }
    }

    /// An error at `loc` in `source`.
    pub fn error(
        code: &'static str,
        source: &Source,
        loc: Loc,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Error, code, source, loc, message)
    }

    /// A warning at `loc` in `source`.
    pub fn warning(
        code: &'static str,
        source: &Source,
        loc: Loc,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Warning, code, source, loc, message)
    }

    /// A problem with the file itself (unreadable, not UTF-8), with no line to quote.
    pub fn file_error(code: &'static str, path: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            file: path.to_owned(),
            line: 0,
            column: 0,
            width: 0,
            source_line: String::new(),
            hint: None,
        }
    }

    /// Adds the fix to suggest.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Underlines `width` characters (clamped to the rest of the line).
    pub fn with_width(mut self, width: usize) -> Self {
        self.width = width.max(1);
        self
    }

    /// Whether it fails `check` (warnings do not).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders rustc-style: the message, `--> file:line:col`, the line, a caret, `help:`.
    pub fn render_human(&self, color: bool) -> String {
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let level = match self.severity {
            Severity::Error => SnippetLevel::ERROR,
            Severity::Warning => SnippetLevel::WARNING,
        };
        let title = level.primary_title(&self.message).id(self.code);
        let mut groups = Vec::new();
        if self.line == 0 {
            groups.push(
                Group::with_title(title).element(annotate_snippets::Origin::path(&self.file)),
            );
        } else {
            let line = &self.source_line;
            let start = line
                .char_indices()
                .nth(self.column - 1)
                .map_or(line.len(), |(i, _)| i);
            let end = line[start..]
                .char_indices()
                .nth(self.width.max(1))
                .map_or(line.len(), |(i, _)| start + i);
            let snippet = Snippet::source(line.as_str())
                .line_start(self.line)
                .path(self.file.as_str())
                .annotation(AnnotationKind::Primary.span(start..end.max(start)));
            groups.push(Group::with_title(title).element(snippet));
        }
        if let Some(hint) = &self.hint {
            groups.push(Group::with_title(
                SnippetLevel::HELP.secondary_title(hint.as_str()),
            ));
        }
        renderer.render(&groups).clone()
    }

    /// A GitHub Actions workflow command that annotates the pull request's diff.
    pub fn render_github(&self) -> String {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = self.message.clone();
        if let Some(hint) = &self.hint {
            message.push_str("\nhint: ");
            message.push_str(hint);
        }
        format!(
            "::{kind} file={},line={},col={},title={}::{}",
            escape_property(&self.file),
            self.line.max(1),
            self.column.max(1),
            escape_property(self.code),
            escape_data(&message)
        )
    }
}

// GitHub's workflow-command escaping: data escapes %, CR, LF; properties also : and ,.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The version of `check --format json`, written in [`CheckReport::format`].
pub const CHECK_FORMAT: &str = "runbook-check/v1";

/// What `runbook check --format json` prints.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(title = "runbook check report (runbook-check/v1)")]
pub struct CheckReport<'a> {
    /// `runbook-check/v1`.
    #[schemars(extend("const" = "runbook-check/v1"))]
    pub format: &'static str,
    /// Files checked.
    pub files: usize,
    /// How many diagnostics are errors.
    pub errors: usize,
    /// How many diagnostics are warnings.
    pub warnings: usize,
    /// Every problem found, file by file.
    pub diagnostics: &'a [Diagnostic],
}

/// The JSON Schema of the check report (`runbook schema check`, `schemas/check.v1.json`).
pub fn check_schema() -> String {
    let schema = schemars::schema_for!(CheckReport<'static>);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}

/// Sorts by file, line, column, so output is stable whatever order rules ran in.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.file.as_str(), a.line, a.column, a.severity, a.code).cmp(&(
            b.file.as_str(),
            b.line,
            b.column,
            b.severity,
            b.code,
        ))
    });
}
