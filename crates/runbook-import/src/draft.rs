//! A playbook as the importer builds it, before it is written as YAML, and the notes the
//! import report shows for it.

use indexmap::IndexMap;

use crate::escalation::Rung;

/// One playbook being built from one procedure.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub name: String,
    pub title: String,
    pub version: String,
    pub severity: Option<String>,
    pub tags: Vec<String>,
    pub summary: Option<String>,
    pub params: IndexMap<String, Param>,
    pub vars: IndexMap<String, String>,
    pub escalation: Vec<Rung>,
    pub steps: Vec<Step>,
    pub notes: Vec<Note>,
    /// Prose of a procedure with no step to carry it.
    pub leftover: Option<String>,
    pub first_line: usize,
    pub last_line: usize,
}

/// A param the importer declared for a placeholder.
#[derive(Debug, Clone, Default)]
pub struct Param {
    pub description: String,
    pub from_env: Option<String>,
    pub secret: bool,
    /// The text it replaces (`<pod-name>`, `$NAMESPACE`).
    pub from: String,
    pub line: usize,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Run(String),
    Manual(String),
    Wait(String),
}

impl Default for Action {
    fn default() -> Self {
        Action::Manual(String::new())
    }
}

/// An exact expectation.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    Contains(String),
    Json(serde_json::Map<String, serde_json::Value>),
}

/// One step.
#[derive(Debug, Clone, Default)]
pub struct Step {
    pub id: String,
    pub name: Option<String>,
    pub doc: Option<String>,
    pub action: Action,
    pub env: IndexMap<String, String>,
    pub expect: Option<Expectation>,
    /// Capture stdout into this variable.
    pub capture: Option<String>,
    /// `(every, for)`.
    pub watch: Option<(String, String)>,
    pub danger: bool,
    pub confirm_phrase: Option<String>,
    pub continue_on_failure: bool,
    pub checklist: Vec<String>,
    /// Source line in the Markdown.
    pub line: usize,
}

impl Step {
    /// Appends a paragraph to the step's doc.
    pub fn add_doc(&mut self, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        self.doc = Some(match self.doc.take() {
            Some(doc) if !doc.is_empty() => format!("{doc}\n\n{text}"),
            _ => text.to_owned(),
        });
    }

    /// A run step that `check` refused becomes a manual step showing the command.
    pub fn demote(&mut self, why: &str) {
        if let Action::Run(cmd) = &self.action {
            let text = format!(
                "Run by hand (the import could not make it a checked step: {why}):\n\n```bash\n{cmd}\n```"
            );
            self.action = Action::Manual(text);
        } else if let Action::Manual(text) = &self.action {
            // A manual text `check` refuses (template syntax): shown raw.
            self.action = Action::Manual(format!("{{% raw %}}{text}{{% endraw %}}"));
        }
        self.env.clear();
        self.expect = None;
        self.capture = None;
        self.watch = None;
        self.continue_on_failure = false;
    }
}

/// What a note of the import report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoteKind {
    /// Something mapped: a capture, an expectation, a var, inline commands.
    Mapped,
    /// A placeholder or environment variable became a param.
    Param,
    /// Expected output became an `expect`.
    Expectation,
    /// A command was marked destructive.
    Danger,
    /// An escalation table or list became the ladder.
    Escalation,
    /// Prose became a manual step.
    Manual,
    /// Text was kept as a step's documentation.
    Doc,
    /// Left out because the text warns against it.
    Warned,
    /// Needs a human: prose conditions that could be branches.
    Condition,
    /// Needs a human: lines that could be commands or not.
    Ambiguous,
    /// Needs a human: anything else (guessed durations, possible placeholders, demoted steps).
    Human,
    /// A warning `check` gives on the playbook.
    Check,
}

impl NoteKind {
    /// Does the note ask a person to decide something?
    pub fn needs_human(self) -> bool {
        matches!(
            self,
            NoteKind::Condition | NoteKind::Ambiguous | NoteKind::Human | NoteKind::Check
        )
    }
}

/// One line of the import report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// What it is about.
    pub kind: NoteKind,
    /// Line in the Markdown.
    pub line: usize,
    /// The note itself, one line of Markdown.
    pub text: String,
}

impl Note {
    /// A note of `kind` about line `line`.
    pub fn new(kind: NoteKind, line: usize, text: String) -> Self {
        Note { kind, line, text }
    }
}
