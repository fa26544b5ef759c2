//! One procedure of the document to a playbook draft: steps from blocks, items and
//! sub-headings in order, with the parameters, variables, expectations, danger marks and notes
//! the import report lists.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use indexmap::IndexMap;
use regex::Regex;
use serde_json::Value;

use crate::danger;
use crate::draft::{Action, Draft, Expectation, Note, NoteKind, Param, Step};
use crate::escalation::{self, Policy, Rung};
use crate::expect::{self, Expect};
use crate::markdown::{Inline, Item, Node};
use crate::outline::{SectionNode, inline_commands};
use crate::params::{self, Hit, Kind};
use crate::shell;

/// What the whole document says that applies to each procedure.
pub struct DocContext<'a> {
    pub policy: &'a Policy,
    pub version: String,
    /// The level the document gives the word "critical" (`P1 (Critical)`), if any.
    pub critical: Option<String>,
}

/// Where a shell variable the runbook uses gets its value.
#[derive(Debug, Clone)]
enum Source {
    /// A playbook var (the runbook set it to a literal).
    Var(String),
    /// A capture of an earlier step (`X=$(cmd)`).
    Capture(String),
    /// A param (the runbook set it to a placeholder, or uses it without setting it).
    Param(String),
}

impl Source {
    fn name(&self) -> &str {
        match self {
            Source::Var(n) | Source::Capture(n) | Source::Param(n) => n,
        }
    }
}

/// Builds one procedure.
pub struct Builder<'d> {
    doc: &'d DocContext<'d>,
    draft: Draft,
    ids: HashSet<String>,
    shell_vars: HashMap<String, Source>,
    /// `export X=...`: environment for every later run step.
    exports: IndexMap<String, String>,
    pending_doc: Vec<String>,
    group: Option<String>,
    label: Option<String>,
    item: Option<String>,
    condition: Option<String>,
    /// The step an "Expected:" line refers to.
    last_run: Option<usize>,
    /// An "Expected:" with the example in the next block.
    awaiting_example: Option<usize>,
    forbidden: Vec<String>,
    forbid_next_block: bool,
    local_rungs: Vec<Rung>,
    summary_taken: bool,
}

static SEVERITY: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\bP([0-4])\b").expect("regex"));
static SEVERITY_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bseverity\b\W{0,6}P([0-4])\b").expect("regex"));
static CRITICAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bcritical\b").expect("regex"));
static TIMING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\s*\((?:[^)]*\d+\s*(?:-\s*\d+\s*)?(?:min|minutes|h|hours?|sec|seconds)[^)]*|\d{1,2}:\d{2}|[^)]*(?:every|before|after|1st|15th|each)[^)]*)\)\s*$")
        .expect("regex")
});
static NUMBER_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:\d+[.):]\s*|step\s+\d+\s*[:.-]?\s*|scenario\s+\d+\s*[:.-]\s*|issue\s*:\s*)",
    )
    .expect("regex")
});
static CONDITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(if|when|unless|in case|on failure|action on)\b|\bif (needed|required|necessary)\b|\bon failure\b")
        .expect("regex")
});
static SLEEP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^sleep\s+(\d+)([smh]?)$").expect("regex"));
static ASSIGN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^(export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$"#).expect("regex"));
static WATCH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^watch\s+(?:-n\s*(\d+)\s+)?(?:'([^']*)'|"([^"]*)"|(.+))$"#).expect("regex")
});
static SCRIPT_VARS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)(?:^|[\s;(])(?:export\s+|local\s+|readonly\s+)?([A-Za-z_][A-Za-z0-9_]*)=|\bfor\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\b|\bread\s+(?:-[a-z]+\s+)*([A-Za-z_][A-Za-z0-9_]*)")
        .expect("regex")
});

/// Verbs that open a human action ("Notify stakeholders", "Update status page").
const ACTION_VERBS: &[&str] = &[
    "check",
    "review",
    "verify",
    "create",
    "update",
    "notify",
    "contact",
    "page",
    "post",
    "document",
    "escalate",
    "inform",
    "announce",
    "email",
    "call",
    "schedule",
    "assign",
    "prioritize",
    "apply",
    "monitor",
    "run",
    "test",
    "restart",
    "rotate",
    "revoke",
    "wait",
    "collect",
    "approve",
    "track",
    "read",
    "assess",
    "identify",
    "fix",
    "profile",
    "enable",
    "disable",
    "add",
    "remove",
    "deploy",
    "rollback",
    "roll",
    "backup",
    "take",
    "stop",
    "start",
    "send",
    "open",
    "close",
    "ask",
    "talk",
    "confirm",
    "ensure",
    "set",
    "configure",
    "install",
    "upgrade",
    "implement",
    "optimize",
    "scale",
    "consider",
    "determine",
    "preserve",
    "isolate",
    "investigate",
    "analyze",
    "analyse",
    "clean",
    "delete",
    "archive",
    "report",
    "coordinate",
    "prepare",
    "perform",
    "clarify",
    "specify",
    "refer",
    "attempt",
    "generate",
    "regenerate",
    "refresh",
    "use",
    "increase",
    "reduce",
    "adjust",
    "move",
    "migrate",
    "restore",
    "re-enable",
    "merge",
    "submit",
    "make",
    "keep",
    "log",
    "record",
    "reboot",
    "retry",
    "validate",
    "measure",
    "compare",
    "share",
    "write",
    "fill",
    "mark",
    "resolve",
    "acknowledge",
    "declare",
    "engage",
    "alert",
    "begin",
    "complete",
    "finish",
    "follow",
    "go",
    "look",
    "note",
    "observe",
    "repeat",
    "replace",
    "reset",
    "switch",
    "triage",
    "watch",
    "gather",
    "inspect",
    "examine",
    "talk",
    "tell",
    "invalidate",
    "block",
    "unblock",
    "kill",
    "login",
    "log in",
    "sign",
    "rebuild",
    "redeploy",
];

/// Languages of code meant for another console: a human pastes them there.
const ELSEWHERE: &[&str] = &[
    "sql",
    "psql",
    "promql",
    "python",
    "py",
    "javascript",
    "js",
    "typescript",
    "ts",
    "go",
    "ruby",
    "rb",
    "java",
    "csharp",
    "cs",
    "php",
    "lua",
    "perl",
    "r",
    "kql",
    "logql",
    "graphql",
    "cql",
    "redis",
    "mongodb",
    "powershell",
    "ps1",
    "pwsh",
];

impl<'d> Builder<'d> {
    pub fn new(doc: &'d DocContext<'d>, title: &str, line: usize, tags: Vec<String>) -> Self {
        let severity = SEVERITY
            .captures(title)
            .map(|c| format!("P{}", &c[1]))
            .or_else(|| {
                CRITICAL
                    .is_match(title)
                    .then(|| doc.critical.clone().unwrap_or_else(|| "P0".into()))
            });
        Builder {
            doc,
            draft: Draft {
                title: title.to_owned(),
                version: doc.version.clone(),
                severity,
                tags,
                first_line: line,
                ..Draft::default()
            },
            ids: HashSet::new(),
            shell_vars: HashMap::new(),
            exports: IndexMap::new(),
            pending_doc: Vec::new(),
            group: None,
            label: None,
            item: None,
            condition: None,
            last_run: None,
            awaiting_example: None,
            forbidden: Vec::new(),
            forbid_next_block: false,
            local_rungs: Vec::new(),
            summary_taken: false,
        }
    }

    /// Reads the procedure's blocks (its sub-headings included) and returns the draft.
    pub fn build(mut self, nodes: &[SectionNode], last_line: usize) -> Draft {
        self.draft.last_line = last_line;
        // Commands the text warns against, anywhere in the procedure, before any step.
        for node in nodes {
            if let SectionNode::Node(node) = node {
                self.collect_warnings(node);
            }
        }
        for node in nodes {
            match node {
                SectionNode::Heading { title, line } => self.heading(title, *line),
                SectionNode::Node(node) => self.node(node),
            }
        }
        self.finish()
    }

    fn collect_warnings(&mut self, node: &Node) {
        match node {
            Node::Para { inline, .. } => {
                self.forbidden
                    .extend(danger::warned_commands(&inline.text, &inline.codes));
            }
            Node::List { items, .. } => {
                for item in items {
                    self.forbidden
                        .extend(danger::warned_commands(&item.title.text, &item.title.codes));
                    for child in &item.children {
                        self.collect_warnings(child);
                    }
                }
            }
            Node::Quote { children, .. } => {
                for child in children {
                    self.collect_warnings(child);
                }
            }
            _ => {}
        }
    }

    fn heading(&mut self, title: &str, line: usize) {
        let name = step_title(title);
        self.note_condition(&name, line);
        self.group = Some(name);
        self.label = None;
        self.item = None;
        self.last_run = None;
        self.awaiting_example = None;
        if let Some(c) = SEVERITY_LINE.captures(title)
            && self.draft.severity.is_none()
        {
            self.draft.severity = Some(format!("P{}", &c[1]));
        }
    }

    fn node(&mut self, node: &Node) {
        match node {
            Node::Heading { title, line, .. } => self.heading(&title.text, *line),
            Node::Para { inline, line } => self.para(inline, *line),
            Node::Code {
                lang,
                attrs,
                body,
                line,
                ..
            } => self.code(lang, attrs, body, *line),
            Node::List { items, .. } => self.list(items),
            Node::Table { rows, .. } => {
                let text: Vec<String> = rows
                    .iter()
                    .map(|r| format!("| {} |", r.join(" | ")))
                    .collect();
                self.pending_doc.push(text.join("\n"));
            }
            Node::Quote { children, .. } => {
                for child in children {
                    self.node(child);
                }
            }
            Node::FrontMatter { .. } => {}
        }
    }

    /// The name a step gets from where it stands: the list item, the bold label, the
    /// sub-heading, the procedure.
    fn context_name(&self) -> String {
        self.item
            .clone()
            .or_else(|| self.label.clone())
            .or_else(|| self.group.clone())
            .unwrap_or_else(|| self.draft.title.clone())
    }

    fn note_condition(&mut self, text: &str, line: usize) {
        if CONDITION.is_match(text) {
            self.condition = Some(text.trim_end_matches(':').to_owned());
            self.draft.notes.push(Note::new(
                NoteKind::Condition,
                line,
                format!("\"{}\" could become a branch (`when:` or `on_failure:`); the steps under it run in order", text.trim_end_matches(':')),
            ));
        } else {
            self.condition = None;
        }
    }

    fn para(&mut self, inline: &Inline, line: usize) {
        let text = inline.text.trim();
        if inline.is_label() {
            let label = inline
                .lead_strong
                .clone()
                .unwrap_or_default()
                .trim_end_matches(':')
                .trim()
                .to_owned();
            if matches!(label.to_lowercase().as_str(), "steps" | "step") {
                return;
            }
            let label = step_title(&label);
            self.note_condition(&label, line);
            self.label = Some(label);
            self.item = None;
            self.last_run = None;
            return;
        }
        if let Some(rest) = expect::lead(text) {
            self.expectation(&rest, &inline.codes, text, line);
            return;
        }
        if let Some(sev) = SEVERITY_LINE.captures(text)
            && self.draft.severity.is_none()
        {
            self.draft.severity = Some(format!("P{}", &sev[1]));
        }
        if let Some(rung) = escalation::local(text, line) {
            self.local_rungs.push(rung);
        }
        if danger::warns(text) && text.ends_with(':') {
            self.forbid_next_block = true;
        }
        let metadata = inline.lead_strong.as_ref().is_some_and(|s| {
            s.ends_with(':')
                || text
                    .strip_prefix(s.as_str())
                    .is_some_and(|rest| rest.trim_start().starts_with(':'))
        });
        if !self.summary_taken && self.draft.steps.is_empty() && !metadata {
            self.summary_taken = true;
            self.draft.summary = Some(one_line(text, 300));
            return;
        }
        self.pending_doc.push(text.to_owned());
    }

    fn expectation(&mut self, rest: &str, codes: &[String], text: &str, line: usize) {
        let Some(index) = self.last_run else {
            self.pending_doc.push(text.to_owned());
            return;
        };
        if rest.is_empty() {
            self.awaiting_example = Some(index);
            return;
        }
        match expect::from_text(rest, codes) {
            Some(found) if self.draft.steps[index].expect.is_none() => {
                self.set_expect(index, found, line, text);
            }
            _ => {
                self.draft.steps[index].add_doc(text);
                self.draft.notes.push(Note::new(
                    NoteKind::Expectation,
                    line,
                    format!(
                        "\"{}\" kept as a note on step `{}`: not exact enough for `expect`",
                        one_line(text, 80),
                        self.draft.steps[index].id
                    ),
                ));
            }
        }
    }

    fn set_expect(&mut self, index: usize, found: Expect, line: usize, text: &str) {
        let step = &mut self.draft.steps[index];
        step.add_doc(text);
        let shown = match &found {
            Expect::Contains(t) => format!("stdout contains `{t}`"),
            Expect::Json(map) => format!("stdout JSON has {}", Value::Object(map.clone())),
        };
        step.expect = Some(match found {
            Expect::Contains(t) => Expectation::Contains(t),
            Expect::Json(m) => Expectation::Json(m),
        });
        // A step that checks something should not be passed over when it fails.
        step.continue_on_failure = false;
        let id = step.id.clone();
        self.draft.notes.push(Note::new(
            NoteKind::Mapped,
            line,
            format!("step `{id}` expects {shown}"),
        ));
    }

    fn code(&mut self, lang: &str, attrs: &str, body: &str, line: usize) {
        let runme = Runme::parse(attrs);
        if self.forbid_next_block {
            self.forbid_next_block = false;
            self.pending_doc.push(format!(
                "The runbook warns against running:\n\n```{lang}\n{}\n```",
                body.trim_end()
            ));
            self.draft.notes.push(Note::new(
                NoteKind::Warned,
                line,
                "a block the text warns against was kept out of the steps (shown in a doc)".into(),
            ));
            return;
        }
        let shellish = shell::is_shell_lang(lang)
            || (lang.is_empty() && shell::looks_like_shell(body) && !runme.any);
        if !shellish {
            if let Some(index) = self.awaiting_example.take() {
                match expect::from_example(body) {
                    Some(found) if self.draft.steps[index].expect.is_none() => {
                        let text = format!("Expected:\n\n```{lang}\n{}\n```", body.trim_end());
                        self.set_expect(index, found, line, &text);
                    }
                    _ => self.draft.steps[index]
                        .add_doc(&format!("Expected:\n\n```{lang}\n{}\n```", body.trim_end())),
                }
                return;
            }
            self.non_shell(lang, body, line);
            return;
        }
        self.awaiting_example = None;
        let block = shell::read_block(body, lang);
        if block.script {
            let name = runme
                .name
                .clone()
                .or_else(|| {
                    block
                        .chunks
                        .first()
                        .and_then(|c| c.comments.first())
                        .filter(|c| c.len() <= 60)
                        .cloned()
                })
                .unwrap_or_else(|| self.context_name());
            let text = body.trim_end().to_owned();
            self.draft.notes.push(Note::new(
                NoteKind::Mapped,
                line,
                format!("a script block (shebang, `set -e` or loops among other commands) is one step: \"{}\"", one_line(&name, 60)),
            ));
            self.run_step(&text, Some(name), line, &[], runme.id_hint());
            return;
        }
        let mut cwd: Option<String> = None;
        let mut first_in_block = true;
        for chunk in &block.chunks {
            let chunk_line = line + 1 + chunk.offset;
            if chunk.commands.is_empty() {
                self.loose_chunk(&chunk.comments, &chunk.other, chunk_line);
                continue;
            }
            if !chunk.other.is_empty() {
                self.pending_doc.push(format!(
                    "Lines of the runbook that are not commands (apply by hand if needed):\n\n```\n{}\n```",
                    chunk.other.join("\n")
                ));
                self.draft.notes.push(Note::new(
                    NoteKind::Ambiguous,
                    chunk_line,
                    format!(
                        "{} line(s) in a shell block are not commands (config, crontab or output?): kept in a doc: `{}`",
                        chunk.other.len(),
                        one_line(&chunk.other[0], 60)
                    ),
                ));
            }
            // A short comment (`# Kubernetes`) qualifies the item it sits in rather than
            // replacing its name.
            let base = chunk.comments.first().map(|c| {
                let c = step_title(c);
                match &self.item {
                    Some(item) if c.split_whitespace().count() <= 2 => format!("{item} ({c})"),
                    _ => c,
                }
            });
            for (n, command) in chunk.commands.iter().enumerate() {
                let cmd_line = line + 1 + command.offset;
                let name = if n == 0 {
                    base.clone().or_else(|| command.comment.clone())
                } else {
                    command.comment.clone().or_else(|| base.clone())
                };
                let name = name.or_else(|| {
                    // Runme names a block; a block of one command is that name.
                    (first_in_block && block.command_count() == 1)
                        .then(|| runme.name.clone())
                        .flatten()
                });
                if n == 0 && chunk.comments.len() > 1 {
                    self.pending_doc.push(chunk.comments[1..].join("\n"));
                }
                first_in_block = false;
                self.command(
                    &command.text,
                    name,
                    cmd_line,
                    &command.output,
                    &mut cwd,
                    &runme,
                );
            }
        }
        if let Some(content) = &block.file_content {
            self.manual_step(
                format!("Create the script shown in the runbook:\n\n```bash\n{content}\n```"),
                Some(format!("{}: create the script", self.context_name())),
                Vec::new(),
                line,
            );
        }
    }

    /// A run of comments and non-command lines with no command in it.
    fn loose_chunk(&mut self, comments: &[String], other: &[String], line: usize) {
        if other.is_empty() {
            let action = comments.iter().any(|c| starts_with_verb(c));
            if action {
                let name = step_title(&comments[0]);
                self.manual_step(comments.join("\n"), Some(name), Vec::new(), line);
            } else {
                self.pending_doc.push(comments.join("\n"));
            }
            return;
        }
        let name = comments
            .first()
            .map(|c| step_title(c))
            .unwrap_or_else(|| format!("{}: apply by hand", self.context_name()));
        let mut text = String::new();
        if comments.len() > 1 {
            text.push_str(&comments[1..].join("\n"));
            text.push_str("\n\n");
        }
        text.push_str(&format!("```\n{}\n```", other.join("\n")));
        self.draft.notes.push(Note::new(
            NoteKind::Ambiguous,
            line,
            format!(
                "lines in a shell block that are not commands became a manual step: `{}`",
                one_line(&other[0], 60)
            ),
        ));
        self.manual_step(text, Some(name), Vec::new(), line);
    }

    fn non_shell(&mut self, lang: &str, body: &str, line: usize) {
        let fenced = format!("```{lang}\n{}\n```", body.trim_end());
        let what = if lang.is_empty() { "text" } else { lang };
        if ELSEWHERE.contains(&lang) {
            let name = self.context_name();
            self.draft.notes.push(Note::new(
                NoteKind::Manual,
                line,
                format!(
                    "a `{what}` block is for another console: a manual step \"{}\"",
                    one_line(&name, 60)
                ),
            ));
            self.manual_step(
                format!("Run this {what} where it belongs (a console, a REPL, the application):\n\n{fenced}"),
                Some(name),
                Vec::new(),
                line,
            );
            return;
        }
        let context = self.context_name();
        let edit = starts_with_verb(&context) && self.last_run.is_none() && !lang.is_empty();
        if edit {
            self.draft.notes.push(Note::new(
                NoteKind::Manual,
                line,
                format!(
                    "a `{what}` block under \"{}\" is a change to make by hand: a manual step",
                    one_line(&context, 60)
                ),
            ));
            self.manual_step(fenced, Some(context), Vec::new(), line);
        } else {
            self.pending_doc.push(fenced);
            self.draft.notes.push(Note::new(
                NoteKind::Doc,
                line,
                format!("a `{what}` block went into a step's doc"),
            ));
        }
    }

    fn list(&mut self, items: &[Item]) {
        let commands = items.iter().any(item_has_commands);
        if commands {
            let saved = self.item.clone();
            for item in items {
                self.command_item(item);
            }
            self.item = saved;
            return;
        }
        for item in items {
            if let Some(rung) = escalation::local(&item.title.text, item.line) {
                self.local_rungs.push(rung);
            }
            for child in &item.children {
                if let Node::List { items, .. } = child {
                    for sub in items {
                        if let Some(rung) = escalation::local(&sub.title.text, sub.line) {
                            self.local_rungs.push(rung);
                        }
                    }
                }
            }
        }
        let actions = items
            .iter()
            .filter(|i| starts_with_verb(&item_name(i)) || i.task.is_some())
            .count();
        let nested = items
            .iter()
            .any(|i| i.children.iter().any(|c| matches!(c, Node::List { .. })));
        if nested
            && items.iter().all(|i| {
                i.title.lead_strong.is_some()
                    || i.children.iter().any(|c| matches!(c, Node::List { .. }))
            })
        {
            // "1. **Document Issue**" with its actions under it: one manual step per item.
            for item in items {
                let name = step_title(&item_name(item));
                let checklist: Vec<String> = item
                    .children
                    .iter()
                    .flat_map(|c| match c {
                        Node::List { items, .. } => items.iter().map(item_text).collect(),
                        Node::Para { inline, .. } => vec![inline.text.clone()],
                        _ => Vec::new(),
                    })
                    .collect();
                let body_actions = checklist.iter().filter(|c| starts_with_verb(c)).count();
                if body_actions * 2 >= checklist.len().max(1) || starts_with_verb(&name) {
                    self.note_condition(&name, item.line);
                    self.manual_step(item_text(item), Some(name), checklist, item.line);
                } else {
                    let mut text = format!("**{}**", item_text(item));
                    for c in &checklist {
                        text.push_str(&format!("\n- {c}"));
                    }
                    self.pending_doc.push(text);
                }
            }
            return;
        }
        if actions * 2 >= items.len() && actions > 0 {
            let name = self.context_name();
            let checklist: Vec<String> = items.iter().map(item_text).collect();
            self.draft.notes.push(Note::new(
                NoteKind::Manual,
                items[0].line,
                format!(
                    "{} human action(s) under \"{}\" became a manual step with a checklist",
                    checklist.len(),
                    one_line(&name, 60)
                ),
            ));
            self.manual_step(format!("{name}:"), Some(name), checklist, items[0].line);
        } else {
            let text: Vec<String> = items
                .iter()
                .map(|i| format!("- {}", item_text(i)))
                .collect();
            self.pending_doc.push(text.join("\n"));
        }
    }

    /// An item of a list that holds commands: its title names the steps made from its blocks.
    fn command_item(&mut self, item: &Item) {
        let title = step_title(&item_name(item));
        self.note_condition(&title, item.line);
        if let Some(rung) = escalation::local(&item.title.text, item.line) {
            self.local_rungs.push(rung);
        }
        self.item = Some(title.clone());
        self.last_run = None;
        self.awaiting_example = None;
        if let Some(rest) = expect::lead(&item.title.text) {
            self.expectation(&rest, &item.title.codes, &item.title.text, item.line);
        } else {
            let inline: Vec<String> = inline_commands(&item.title).cloned().collect();
            if inline.is_empty() {
                let nested = item.children.iter().any(|c| matches!(c, Node::List { .. }));
                if !item_has_commands(item) && !nested {
                    if starts_with_verb(&title) {
                        self.manual_step(
                            item_text(item),
                            Some(title.clone()),
                            Vec::new(),
                            item.line,
                        );
                    } else {
                        self.pending_doc.push(item_text(item));
                    }
                }
            } else {
                // "Check service logs: `journalctl -u estimator -n 100`".
                let before = item
                    .title
                    .text
                    .split('`')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .trim_end_matches(':')
                    .trim_end_matches(" via")
                    .trim()
                    .to_owned();
                let name = if before.is_empty() {
                    title.clone()
                } else {
                    step_title(&before)
                };
                self.draft.notes.push(Note::new(
                    NoteKind::Mapped,
                    item.line,
                    format!(
                        "{} command(s) written inline in a bullet became run steps",
                        inline.len()
                    ),
                ));
                let mut cwd = None;
                for code in inline {
                    self.command(
                        &code,
                        Some(name.clone()),
                        item.line,
                        &[],
                        &mut cwd,
                        &Runme::default(),
                    );
                }
            }
        }
        for child in &item.children {
            self.node(child);
        }
        self.item = None;
    }

    /// One command of a block (or a bullet): a run, wait, capture or manual step, a var, or
    /// nothing when the text warns against it.
    fn command(
        &mut self,
        text: &str,
        name: Option<String>,
        line: usize,
        output: &[String],
        cwd: &mut Option<String>,
        runme: &Runme,
    ) {
        let trimmed = text.trim();
        if let Some(bad) = self
            .forbidden
            .iter()
            .find(|f| normalize(trimmed).contains(&normalize(f)))
            .cloned()
        {
            self.pending_doc.push(format!(
                "The runbook warns against `{bad}`; not a step: `{trimmed}`"
            ));
            self.draft.notes.push(Note::new(
                NoteKind::Warned,
                line,
                format!(
                    "`{}` is what the text warns against: not a run step",
                    one_line(trimmed, 60)
                ),
            ));
            return;
        }
        if let Some(caps) = SLEEP.captures(trimmed) {
            let unit = if caps[2].is_empty() { "s" } else { &caps[2] };
            let wait = format!("{}{unit}", &caps[1]);
            let id = self.unique_id(&format!("wait-{wait}"));
            let doc = self.take_doc();
            self.push_step(Step {
                id,
                name: Some(name.unwrap_or_else(|| format!("Wait {wait}"))),
                doc,
                action: Action::Wait(wait),
                line,
                ..Step::default()
            });
            return;
        }
        if let Some(dir) = trimmed.strip_prefix("cd ")
            && !dir.contains(['&', ';', '|'])
            && !trimmed.contains('\n')
        {
            let dir = dir.trim();
            *cwd = Some(match cwd.as_deref() {
                Some(base)
                    if !dir.starts_with('/') && !dir.starts_with('~') && !dir.starts_with('$') =>
                {
                    format!("{base}/{dir}")
                }
                _ => dir.to_owned(),
            });
            return;
        }
        if !trimmed.contains('\n')
            && let Some(caps) = ASSIGN.captures(trimmed)
            && (!caps[3].contains(char::is_whitespace)
                || caps[3].starts_with(['"', '\''])
                || caps[3].starts_with("$("))
        {
            let export = caps.get(1).is_some();
            let var = caps[2].to_owned();
            let value = caps[3].to_owned();
            if self.assignment(&var, &value, export, name.clone(), line, cwd.as_deref()) {
                return;
            }
        }
        let one_shot = danger::one_shot(trimmed);
        if let Some(rewritten) = &one_shot {
            self.draft.notes.push(Note::new(
                NoteKind::Human,
                line,
                format!("`{trimmed}` runs until stopped; the step runs `{rewritten}` instead, which prints once"),
            ));
        }
        let trimmed = one_shot.as_deref().unwrap_or(trimmed);
        // `watch CMD` becomes a step that repeats CMD, interactive or not.
        if let Some(caps) = WATCH.captures(trimmed) {
            let every = caps.get(1).map_or("2", |m| m.as_str());
            let inner = caps
                .get(2)
                .or_else(|| caps.get(3))
                .or_else(|| caps.get(4))
                .map_or("", |m| m.as_str());
            self.watch_step(inner, every, name, line, cwd.as_deref());
            return;
        }
        if danger::interactive(trimmed) {
            let name = name.unwrap_or_else(|| self.context_name());
            self.draft.notes.push(Note::new(
                NoteKind::Manual,
                line,
                format!(
                    "`{}` needs a terminal or never ends: a manual step",
                    one_line(trimmed, 60)
                ),
            ));
            self.manual_step(
                format!("Run in a terminal (it needs one, or runs until stopped):\n\n```bash\n{trimmed}\n```"),
                Some(name),
                Vec::new(),
                line,
            );
            return;
        }
        let full = with_cwd(trimmed, cwd.as_deref());
        let index = self.run_step(&full, name, line, output, runme.id_hint());
        match expect::from_output(output) {
            Some(found) if !output.is_empty() => {
                let text = format!("Expected output: `{}`", output.join(" ").trim());
                self.set_expect(index, found, line, &text);
            }
            _ if !output.is_empty() => {
                self.draft.steps[index].add_doc(&format!(
                    "Example output:\n\n```\n{}\n```",
                    output.join("\n")
                ));
            }
            _ => {}
        }
    }

    /// `X=value`, `export X=value`, `X=$(cmd)`: the runbook sets a variable. True when handled.
    fn assignment(
        &mut self,
        var: &str,
        value: &str,
        export: bool,
        name: Option<String>,
        line: usize,
        cwd: Option<&str>,
    ) -> bool {
        let key = params::snake(var);
        if let Some(inner) = value.strip_prefix("$(").and_then(|v| v.strip_suffix(')')) {
            let full = with_cwd(inner, cwd);
            let index = self.run_step(
                &full,
                name.or_else(|| Some(format!("Set {var}"))),
                line,
                &[],
                None,
            );
            self.draft.steps[index].capture = Some(key.clone());
            self.draft.steps[index].continue_on_failure = false;
            self.shell_vars
                .insert(var.to_owned(), Source::Capture(key.clone()));
            if export {
                self.exports
                    .insert(var.to_owned(), format!("{{{{ {key} }}}}"));
            }
            self.draft.notes.push(Note::new(
                NoteKind::Mapped,
                line,
                format!(
                    "`{var}=$(...)` became a capture `{key}` of step `{}`",
                    self.draft.steps[index].id
                ),
            ));
            return true;
        }
        if value.contains('$') || value.contains('`') {
            return false;
        }
        let literal = value.trim_matches(|c| c == '"' || c == '\'');
        let hits = params::find(literal, &|_| false);
        let source = if hits.len() == 1 && hits[0].start == 0 && hits[0].end == literal.len() {
            // `PVC_NAME='<persistentvolumeclaim label from alert>'`: a value to fill in.
            self.declare_param(
                &key,
                Param {
                    description: format!("`{var}` in the runbook: {}", hits[0].text),
                    line,
                    from: hits[0].text.clone(),
                    ..Param::default()
                },
            );
            Source::Param(key.clone())
        } else {
            self.draft.vars.insert(key.clone(), literal.to_owned());
            self.draft.notes.push(Note::new(
                NoteKind::Mapped,
                line,
                format!(
                    "`{var}` is set by the runbook: var `{key}` = `{}` (override with --var)",
                    one_line(literal, 50)
                ),
            ));
            Source::Var(key.clone())
        };
        self.shell_vars.insert(var.to_owned(), source);
        if export {
            self.exports
                .insert(var.to_owned(), format!("{{{{ {key} }}}}"));
        }
        true
    }

    fn watch_step(
        &mut self,
        inner: &str,
        every: &str,
        name: Option<String>,
        line: usize,
        cwd: Option<&str>,
    ) {
        let inner = danger::one_shot(inner).unwrap_or_else(|| inner.trim().to_owned());
        let full = with_cwd(&inner, cwd);
        let index = self.run_step(&full, name, line, &[], None);
        self.draft.steps[index].watch = Some((format!("{every}s"), "5m".into()));
        self.draft.notes.push(Note::new(
            NoteKind::Human,
            line,
            format!("`watch -n {every}` became a `watch` of step `{}` every {every}s for 5m: set how long to watch", self.draft.steps[index].id),
        ));
    }

    /// A run step from command text (placeholders become params). Returns its index.
    fn run_step(
        &mut self,
        text: &str,
        name: Option<String>,
        line: usize,
        _output: &[String],
        id_hint: Option<String>,
    ) -> usize {
        let template = self.template(text, line);
        let name = name.unwrap_or_else(|| self.context_name());
        let id = self.unique_id(id_hint.as_deref().unwrap_or(&name));
        let mut step = Step {
            id,
            name: Some(name),
            doc: self.take_doc(),
            action: Action::Run(template),
            line,
            env: self.exports.clone(),
            ..Step::default()
        };
        if let Some(found) = danger::destructive(text) {
            step.danger = true;
            step.confirm_phrase = danger::confirm_target(text)
                .filter(|t| !t.contains(['<', '$', '{', '[']))
                .or_else(|| Some(step.id.clone()));
            self.draft.notes.push(Note::new(
                NoteKind::Danger,
                line,
                format!(
                    "step `{}` is destructive (`{}`): the operator types `{}` to run it",
                    step.id,
                    one_line(&found, 40),
                    step.confirm_phrase.as_deref().unwrap_or_default()
                ),
            ));
        } else if danger::read_only(text) {
            step.continue_on_failure = true;
        }
        if let Some(condition) = &self.condition {
            step.add_doc(&format!("Only when: {condition}."));
        }
        self.push_step(step);
        let index = self.draft.steps.len() - 1;
        self.last_run = Some(index);
        index
    }

    /// Turns command text into a template: placeholders to `{{ name }}`, declared as params.
    fn template(&mut self, text: &str, line: usize) -> String {
        let local: HashSet<String> = SCRIPT_VARS
            .captures_iter(text)
            .filter_map(|c| c.get(1).or_else(|| c.get(2)).or_else(|| c.get(3)))
            .map(|m| m.as_str().to_owned())
            .collect();
        let hits = params::find(text, &|var| local.contains(var));
        let mut edits: Vec<(Hit, String)> = Vec::new();
        for hit in hits {
            let replacement = match &hit.kind {
                Kind::Dollar(var) => {
                    let name = match self.shell_vars.get(var) {
                        Some(source) => source.name().to_owned(),
                        None => {
                            let name = hit.name.clone();
                            self.declare_param(
                                &name,
                                Param {
                                    description: format!(
                                        "environment variable `${var}` in the runbook"
                                    ),
                                    from_env: Some(var.clone()),
                                    secret: secret_name(var),
                                    line,
                                    from: format!("${var}"),
                                },
                            );
                            self.shell_vars
                                .insert(var.clone(), Source::Param(name.clone()));
                            name
                        }
                    };
                    format!("{{{{ {name} }}}}")
                }
                Kind::UserPass => {
                    for (n, secret) in [("username", false), ("password", true)] {
                        self.declare_param(
                            n,
                            Param {
                                description: format!("`{}` in the runbook", hit.text),
                                secret,
                                line,
                                from: hit.text.clone(),
                                ..Param::default()
                            },
                        );
                    }
                    "{{ username }}:{{ password }}".to_owned()
                }
                _ => {
                    let name = hit.name.clone();
                    self.declare_param(
                        &name,
                        Param {
                            description: format!("placeholder `{}` in the runbook", hit.text),
                            secret: secret_name(&name),
                            line,
                            from: hit.text.clone(),
                            ..Param::default()
                        },
                    );
                    format!("{{{{ {name} }}}}")
                }
            };
            edits.push((hit, replacement));
        }
        let (out, skipped) = params::rewrite(text, &edits);
        for hit in skipped {
            self.draft.notes.push(Note::new(
                NoteKind::Human,
                line,
                format!(
                    "placeholder `{}` sits inside literal template syntax and was left as written",
                    hit.text
                ),
            ));
        }
        for word in possible_placeholders(text) {
            self.draft.notes.push(Note::new(
                NoteKind::Human,
                line,
                format!("`{word}` may be a placeholder: not replaced"),
            ));
        }
        out
    }

    fn declare_param(&mut self, name: &str, param: Param) {
        if self.draft.params.contains_key(name) {
            return;
        }
        self.draft.notes.push(Note::new(
            NoteKind::Param,
            param.line,
            format!("param `{name}` ← {}", param.from),
        ));
        self.draft.params.insert(name.to_owned(), param);
    }

    fn manual_step(
        &mut self,
        text: String,
        name: Option<String>,
        checklist: Vec<String>,
        line: usize,
    ) {
        let name = name.unwrap_or_else(|| self.context_name());
        let id = self.unique_id(&name);
        let mut doc = self.take_doc();
        if let Some(condition) = &self.condition {
            let note = format!("Only when: {condition}.");
            doc = Some(match doc {
                Some(d) => format!("{d}\n\n{note}"),
                None => note,
            });
        }
        self.push_step(Step {
            id,
            name: Some(name),
            doc,
            action: Action::Manual(text),
            checklist,
            line,
            ..Step::default()
        });
        self.last_run = None;
    }

    fn push_step(&mut self, step: Step) {
        self.draft.steps.push(step);
    }

    fn take_doc(&mut self) -> Option<String> {
        if self.pending_doc.is_empty() {
            return None;
        }
        let doc = self.pending_doc.join("\n\n");
        self.pending_doc.clear();
        Some(doc)
    }

    fn unique_id(&mut self, name: &str) -> String {
        let base = slug(name, 40);
        let base = if base.is_empty() {
            "step".to_owned()
        } else {
            base
        };
        let mut id = base.clone();
        let mut n = 2;
        while self.ids.contains(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        self.ids.insert(id.clone());
        id
    }

    fn finish(mut self) -> Draft {
        if let Some(doc) = self.take_doc() {
            match self.draft.steps.last_mut() {
                Some(step) => step.add_doc(&doc),
                None => self.draft.leftover = Some(doc),
            }
        }
        // The ladder: the document's (for this severity, or for any incident), then the
        // procedure's own "if not resolved in N min" rules.
        let mut rungs: Vec<Rung> = Vec::new();
        let incident = self.draft.severity.is_some()
            || self
                .draft
                .tags
                .iter()
                .chain(std::iter::once(&slug(&self.draft.title, 60)))
                .any(|t| {
                    [
                        "incident",
                        "outage",
                        "scenario",
                        "emergency",
                        "down",
                        "p0",
                        "p1",
                    ]
                    .iter()
                    .any(|w| t.contains(w))
                });
        if incident {
            let by_severity = self
                .draft
                .severity
                .as_ref()
                .and_then(|s| self.doc.policy.by_severity.get(s));
            match by_severity {
                Some(list) => rungs.extend(list.iter().cloned()),
                None => rungs.extend(self.doc.policy.general.iter().cloned()),
            }
        }
        rungs.append(&mut self.local_rungs);
        rungs.sort_by_key(|r| r.minutes);
        let mut seen = HashSet::new();
        rungs.retain(|r| seen.insert((r.minutes, r.channel.clone())));
        for r in &rungs {
            self.draft.notes.push(Note::new(
                NoteKind::Escalation,
                r.line,
                format!(
                    "escalation after {} to channel `{}` (define it in the inventory): \"{}\"",
                    r.after,
                    r.channel,
                    one_line(&r.source, 70)
                ),
            ));
        }
        self.draft.escalation = rungs;
        self.draft
    }
}

/// Runme's annotations of a fence: `{"name":"x","interactive":"false"}` or `{ name=x }`.
#[derive(Debug, Default)]
struct Runme {
    name: Option<String>,
    any: bool,
}

impl Runme {
    fn parse(attrs: &str) -> Runme {
        let attrs = attrs.trim();
        if !attrs.starts_with('{') {
            return Runme::default();
        }
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(attrs) {
            return Runme {
                name: map.get("name").and_then(Value::as_str).map(str::to_owned),
                any: true,
            };
        }
        let inner = attrs.trim_start_matches('{').trim_end_matches('}');
        let name = inner.split_whitespace().find_map(|kv| {
            kv.strip_prefix("name=")
                .map(|v| v.trim_matches('"').to_owned())
        });
        Runme { name, any: true }
    }

    fn id_hint(&self) -> Option<String> {
        self.name.clone()
    }
}

fn item_has_commands(item: &Item) -> bool {
    inline_commands(&item.title).next().is_some()
        || crate::outline::has_commands(&item.children.iter().collect::<Vec<_>>())
}

/// An item's name: its bold lead, else its text.
fn item_name(item: &Item) -> String {
    item.title
        .lead_strong
        .clone()
        .unwrap_or_else(|| item.title.text.clone())
}

fn item_text(item: &Item) -> String {
    if item.title.text.is_empty() {
        // `- >10 errors` parses as a quote inside the item: its text is the item's.
        let mut text = String::new();
        collect_text(&item.children, &mut text);
        return text.trim().to_owned();
    }
    item.title.text.replace('\n', " ")
}

fn collect_text(nodes: &[Node], out: &mut String) {
    for node in nodes {
        match node {
            Node::Para { inline, .. } => {
                out.push_str(&inline.text);
                out.push(' ');
            }
            Node::Quote { children, .. } => {
                out.push('>');
                collect_text(children, out);
            }
            _ => {}
        }
    }
}

/// A heading, label or comment made into a step name: no numbering, no timing.
pub fn step_title(text: &str) -> String {
    let text = text.trim().trim_end_matches(':').trim();
    let text = NUMBER_PREFIX.replace(text, "");
    let text = TIMING.replace(&text, "");
    let text = text.trim().trim_end_matches(':').trim();
    one_line(text, 80)
}

fn starts_with_verb(text: &str) -> bool {
    let text = text
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    let first = text.split_whitespace().next().unwrap_or_default();
    let first = first.trim_end_matches([':', ',', '.']);
    ACTION_VERBS.contains(&first)
}

/// Kebab-case, at most `max` characters, cut at a dash.
pub fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    // One CamelCase word (an alert name) splits at its humps: KubePodCrashLooping.
    let camel = !text.trim().contains(' ');
    let mut prev_lower = false;
    for c in text.chars() {
        if camel && prev_lower && c.is_ascii_uppercase() && !out.ends_with('-') {
            out.push('-');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = out.trim_end_matches('-').to_owned();
    if out.len() > max {
        let cut = out[..max].rfind('-').unwrap_or(max);
        out.truncate(cut);
    }
    out.trim_end_matches('-').to_owned()
}

/// `text` on one line: every run of whitespace (newlines too) is one space.
pub fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// [`squash`]ed and cut to `max` characters, `…` marking the cut.
pub fn one_line(text: &str, max: usize) -> String {
    let joined = squash(text);
    if joined.chars().count() <= max {
        return joined;
    }
    let cut: String = joined.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

fn with_cwd(cmd: &str, cwd: Option<&str>) -> String {
    match cwd {
        Some(dir) if !cmd.starts_with("cd ") => format!("cd {dir} && {cmd}"),
        _ => cmd.to_owned(),
    }
}

fn normalize(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn secret_name(name: &str) -> bool {
    let upper = name.to_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
        "DATABASE_URL",
        "DB_URL",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

static CAPS_WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[_./-]([A-Z]{4,}(?:_[A-Z]+)*)[_./-]").expect("regex"));

/// ALL-CAPS words inside paths and file names (`backup_TIMESTAMP.sql.gz`): maybe
/// placeholders, reported rather than replaced.
fn possible_placeholders(text: &str) -> Vec<String> {
    let mut out: Vec<String> = CAPS_WORD
        .captures_iter(text)
        .map(|c| c[1].to_owned())
        .filter(|w| {
            ![
                "HEAD", "README", "LICENSE", "NOTICE", "JSON", "YAML", "HTTP", "HTTPS",
            ]
            .contains(&w.as_str())
        })
        .collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_slugs() {
        assert_eq!(
            step_title(
                "1. **Immediate Actions (0-5 min)**"
                    .replace("**", "")
                    .as_str()
            ),
            "Immediate Actions"
        );
        assert_eq!(
            step_title("Scenario 1: API Returns 500 Errors"),
            "API Returns 500 Errors"
        );
        assert_eq!(step_title("Morning Check (09:00)"), "Morning Check");
        assert_eq!(step_title("Step 1: Service Restart"), "Service Restart");
        assert_eq!(slug("P0: Service Down", 40), "p0-service-down");
        assert!(starts_with_verb("Notify stakeholders"));
        assert!(!starts_with_verb("Health check failed"));
        assert_eq!(
            possible_placeholders("gunzip backups/backup_db_TIMESTAMP.sql.gz"),
            ["TIMESTAMP"]
        );
    }
}
