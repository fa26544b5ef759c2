//! Markdown runbooks to playbooks. [`import`] reads a runbook (`CommonMark` + GFM, through
//! pulldown-cmark), finds its procedures, and writes each as a `runbook/v1` playbook: steps
//! from numbered items, sub-headings and shell blocks; params from placeholders; `expect` from
//! "Expected:" lines; `danger: destructive` on commands that destroy; manual steps for human
//! actions; an escalation ladder from escalation tables. Every playbook is checked with the
//! same validator as `runbook check` before it is returned, and a step `check` refuses is
//! turned into a manual step, so what comes out passes `check`. The [`Import`] also carries the
//! report of what was decided and what needs a human.
//!
//! **Invariant:** no terminal or file I/O here: text in, text out.
//! **Invariant:** every returned playbook has no `check` error.

#![forbid(unsafe_code)]

mod build;
mod danger;
mod draft;
mod escalation;
mod expect;
mod markdown;
mod outline;
mod params;
mod report;
mod shell;
mod yaml;

use std::collections::HashSet;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

pub use draft::{Note, NoteKind};

use build::{Builder, DocContext, slug};
use draft::Draft;
use outline::{Section, SectionNode, has_commands, has_commands_deep, pure_phase, step_like};

/// One playbook made from one procedure.
#[derive(Debug, Clone)]
pub struct Playbook {
    /// `metadata.name`; the file is `<name>.yaml`.
    pub name: String,
    /// `metadata.title`: the procedure's heading.
    pub title: String,
    /// `metadata.severity`, when the runbook names one.
    pub severity: Option<String>,
    /// The playbook's YAML text.
    pub yaml: String,
    /// Lines of the Markdown it came from.
    pub lines: (usize, usize),
    /// How many `run` steps it has.
    pub run_steps: usize,
    /// How many `manual` steps it has.
    pub manual_steps: usize,
    /// How many `wait` steps it has.
    pub wait_steps: usize,
    /// The names of its params.
    pub params: Vec<String>,
    /// What was decided and what needs a human, for the report.
    pub notes: Vec<Note>,
}

impl Playbook {
    /// The file name to write it to: `<name>.yaml`.
    pub fn file_name(&self) -> String {
        format!("{}.yaml", self.name)
    }
}

/// A section of the Markdown that did not become a playbook, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The section's heading.
    pub title: String,
    /// The heading's line.
    pub line: usize,
    /// Why it is not a procedure.
    pub reason: String,
}

/// What an import produced.
#[derive(Debug, Clone)]
pub struct Import {
    /// The Markdown file's name, as shown in headers and the report.
    pub source: String,
    /// One playbook per procedure found.
    pub playbooks: Vec<Playbook>,
    /// The sections that did not become playbooks.
    pub skipped: Vec<Skipped>,
}

impl Import {
    /// The import report, as Markdown.
    pub fn report(&self) -> String {
        report::render(self)
    }
}

static VERSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?im)^\W*(?:document\s+)?version\W*[:|]\W*v?(\d+(?:\.\d+){0,2})\b").expect("regex")
});
static CRITICAL_LEVEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bP([0-4])\b\W{1,6}critical\b").expect("regex"));

/// Imports a Markdown runbook. `source` names it (a file name) in the playbooks' headers.
pub fn import(markdown: &str, source: &str) -> Import {
    let nodes = markdown::parse(markdown);
    let policy = escalation::policy(&nodes);
    let version = VERSION
        .captures(markdown)
        .map(|c| semver(&c[1]))
        .unwrap_or_else(|| "0.1.0".into());
    let critical = CRITICAL_LEVEL
        .captures(markdown)
        .map(|c| format!("P{}", &c[1]));
    let doc = DocContext {
        policy: &policy,
        version,
        critical,
    };
    let root = outline::outline(&nodes);
    let mut procedures: Vec<(&Section, Vec<String>)> = Vec::new();
    let mut skipped = Vec::new();
    select(&root, &mut Vec::new(), &mut procedures, &mut skipped);

    // A section ends where the next heading of its level or above starts.
    let headings: Vec<(usize, u8)> = nodes
        .iter()
        .filter_map(|n| match n {
            markdown::Node::Heading { line, level, .. } => Some((*line, *level)),
            _ => None,
        })
        .collect();
    let total_lines = markdown.lines().count().max(1);
    let end_of = |section: &Section| {
        headings
            .iter()
            .find(|(line, level)| *line > section.line && *level <= section.level)
            .map_or(total_lines, |(line, _)| line.saturating_sub(1))
    };
    let mut names: HashSet<String> = HashSet::new();
    let mut playbooks = Vec::new();
    for (section, parents) in procedures {
        let mut nodes: Vec<SectionNode> = Vec::new();
        section.all_nodes(&mut nodes);
        let tags = tags(&parents, section);
        let builder = Builder::new(&doc, &section.title, section.line, tags);
        let mut draft = builder.build(&nodes, end_of(section));
        if draft.steps.is_empty() {
            skipped.push(Skipped {
                title: section.title.clone(),
                line: section.line,
                reason: "no step could be made from it".into(),
            });
            continue;
        }
        draft.name = unique_name(&mut names, &playbook_name(section, &parents));
        playbooks.push(finish(draft, source));
    }
    skipped.sort_by_key(|s| s.line);
    Import {
        source: source.to_owned(),
        playbooks,
        skipped,
    }
}

/// Picks the procedures of the tree: `parents` are the titles above the section.
fn select<'a>(
    section: &'a Section<'a>,
    parents: &mut Vec<String>,
    out: &mut Vec<(&'a Section<'a>, Vec<String>)>,
    skipped: &mut Vec<Skipped>,
) {
    let own = has_commands(&section.nodes);
    let with_commands: Vec<&Section> = section
        .children
        .iter()
        .filter(|c| has_commands_deep(c))
        .collect();
    let is_root = section.level == 0;
    if !own && with_commands.is_empty() {
        if !is_root && manual_procedure(section) {
            out.push((section, parents.clone()));
            return;
        }
        if !is_root && section.children.is_empty() && !section.nodes.is_empty() {
            skipped.push(Skipped {
                title: section.title.clone(),
                line: section.line,
                reason: "no commands and no list of actions".into(),
            });
        }
        recurse(section, parents, out, skipped);
        return;
    }
    let phases = with_commands.iter().all(|c| step_like(&c.title))
        && (own || with_commands.len() >= 2 || with_commands.iter().all(|c| pure_phase(&c.title)));
    if !is_root && (with_commands.is_empty() || phases) {
        out.push((section, parents.clone()));
        return;
    }
    if !is_root && own {
        // Commands above sub-procedures: a procedure of its own, named after the section.
        out.push((section, parents.clone()));
    }
    recurse(section, parents, out, skipped);
}

fn recurse<'a>(
    section: &'a Section<'a>,
    parents: &mut Vec<String>,
    out: &mut Vec<(&'a Section<'a>, Vec<String>)>,
    skipped: &mut Vec<Skipped>,
) {
    if section.level > 0 {
        parents.push(section.title.clone());
    }
    for child in &section.children {
        select(child, parents, out, skipped);
    }
    if section.level > 0 {
        parents.pop();
    }
}

static MANUAL_TITLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bP[0-4]\b|checklist|procedure|maintenance|rotation|response|rollback|recovery|review|daily|weekly|monthly")
        .expect("regex")
});

/// A section without commands that is still a procedure: an incident or checklist heading
/// over a list of actions.
fn manual_procedure(section: &Section) -> bool {
    if !MANUAL_TITLE.is_match(&section.title) {
        return false;
    }
    let mut nodes = Vec::new();
    section.all_nodes(&mut nodes);
    nodes.iter().any(|n| match n {
        SectionNode::Node(markdown::Node::List { items, .. }) => {
            items.len() >= 2
                && items.iter().all(|i| {
                    i.task.is_some()
                        || i.title.lead_strong.is_some()
                            && i.children
                                .iter()
                                .any(|c| matches!(c, markdown::Node::List { .. }))
                        || build::step_title(&i.title.text)
                            .split_whitespace()
                            .next()
                            .is_some_and(|w| w.chars().next().is_some_and(char::is_uppercase))
                })
                && items
                    .iter()
                    .any(|i| i.task.is_some() || !i.title.text.contains("**"))
        }
        _ => false,
    })
}

static SCHEDULE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^(every|each|\d+(st|nd|rd|th))\b").expect("regex"));

/// `metadata.name` from the heading; a schedule heading ("Every Monday") takes its parent's
/// name first.
fn playbook_name(section: &Section, parents: &[String]) -> String {
    let title = build::step_title(&section.title);
    let title = title.trim_start_matches("Issue:").trim();
    let mut name = slug(title, 48);
    if SCHEDULE.is_match(title)
        && let Some(parent) = parents.last()
    {
        name = slug(&format!("{parent} {title}"), 48);
    }
    if name.is_empty() {
        name = "procedure".into();
    }
    name
}

fn unique_name(names: &mut HashSet<String>, base: &str) -> String {
    let mut name = base.to_owned();
    let mut n = 2;
    while names.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    names.insert(name.clone());
    name
}

fn tags(parents: &[String], section: &Section) -> Vec<String> {
    let mut tags = vec!["imported".to_owned()];
    // The chapter the procedure sits in (below the document's title).
    if let Some(chapter) = parents.iter().rev().find(|p| !p.is_empty()) {
        let tag = slug(chapter, 30);
        if !tag.is_empty() && !tags.contains(&tag) && parents.len() > 1 {
            tags.push(tag);
        }
    }
    if let Some(sev) = Regex::new(r"\bP([0-4])\b")
        .ok()
        .and_then(|r| r.captures(&section.title).map(|c| format!("p{}", &c[1])))
    {
        tags.push(sev);
    }
    tags
}

fn semver(text: &str) -> String {
    let mut parts: Vec<&str> = text.split('.').collect();
    while parts.len() < 3 {
        parts.push("0");
    }
    parts.join(".")
}

/// Writes the draft as YAML and checks it as `runbook check` would; a step `check` refuses
/// becomes a manual step (at most a few rounds), and the warnings join the notes.
fn finish(mut draft: Draft, source: &str) -> Playbook {
    let path = Path::new("imported").join(format!("{}.yaml", draft.name));
    let mut rounds = 0;
    let (emitted, warnings) = loop {
        let emitted = yaml::emit(&draft, source);
        let checked = runbook_model::check_bytes(&path, emitted.text.clone().into_bytes());
        let errors: Vec<&runbook_model::Diagnostic> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .collect();
        if errors.is_empty() || rounds >= 4 {
            let warnings: Vec<runbook_model::Diagnostic> = checked
                .diagnostics
                .iter()
                .filter(|d| !d.is_error())
                .cloned()
                .collect();
            break (emitted, warnings);
        }
        rounds += 1;
        let mut fixed = false;
        for err in errors {
            let step = emitted
                .step_lines
                .iter()
                .position(|&(s, e)| err.line >= s && err.line <= e);
            match step {
                Some(i) => {
                    let line = draft.steps[i].line;
                    let id = draft.steps[i].id.clone();
                    draft.steps[i].demote(&err.message);
                    draft.notes.push(Note::new(
                        NoteKind::Human,
                        line,
                        format!(
                            "step `{id}` became manual: `check` said \"{}\"",
                            err.message
                        ),
                    ));
                    fixed = true;
                }
                None => {
                    // Outside the steps (a var, a param): drop the vars, the likeliest cause.
                    if !draft.vars.is_empty() {
                        draft.vars.clear();
                        fixed = true;
                    }
                }
            }
        }
        if !fixed {
            rounds = 4;
        }
    };
    for w in warnings {
        draft.notes.push(Note::new(
            NoteKind::Check,
            0,
            format!(
                "`check` warns at line {} of the playbook: {} ({})",
                w.line, w.message, w.code
            ),
        ));
    }
    let count = |f: fn(&draft::Action) -> bool| draft.steps.iter().filter(|s| f(&s.action)).count();
    Playbook {
        name: draft.name.clone(),
        title: draft.title.clone(),
        severity: draft.severity.clone(),
        yaml: emitted.text,
        lines: (draft.first_line, draft.last_line),
        run_steps: count(|a| matches!(a, draft::Action::Run(_))),
        manual_steps: count(|a| matches!(a, draft::Action::Manual(_))),
        wait_steps: count(|a| matches!(a, draft::Action::Wait(_))),
        params: draft.params.keys().cloned().collect(),
        notes: draft.notes,
    }
}
