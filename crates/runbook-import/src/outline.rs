//! The heading tree of a document, and which sections are procedures: a section with commands
//! whose sub-sections are its steps or phases ("1. Detect", "Diagnosis", "Mitigation") is one
//! procedure; a section whose sub-sections are procedures of their own is only a chapter.

use std::sync::LazyLock;

use regex::Regex;

use crate::markdown::{Inline, Node};
use crate::shell;

/// A heading and what is under it.
#[derive(Debug)]
pub struct Section<'a> {
    pub title: String,
    pub level: u8,
    pub line: usize,
    /// The blocks between this heading and its first sub-heading.
    pub nodes: Vec<&'a Node>,
    pub children: Vec<Section<'a>>,
}

impl<'a> Section<'a> {
    /// Every block of the section in document order, sub-headings included.
    pub fn all_nodes<'s>(&'s self, out: &mut Vec<SectionNode<'s>>)
    where
        'a: 's,
    {
        for node in &self.nodes {
            out.push(SectionNode::Node(node));
        }
        for child in &self.children {
            out.push(SectionNode::Heading {
                title: &child.title,
                line: child.line,
            });
            child.all_nodes(out);
        }
    }
}

/// A block of a procedure, or one of its sub-headings.
#[derive(Debug, Clone, Copy)]
pub enum SectionNode<'a> {
    Heading { title: &'a str, line: usize },
    Node(&'a Node),
}

/// Builds the heading tree. The root (level 0) holds what comes before the first heading.
pub fn outline(nodes: &[Node]) -> Section<'_> {
    let mut stack: Vec<Section> = vec![Section {
        title: String::new(),
        level: 0,
        line: 1,
        nodes: Vec::new(),
        children: Vec::new(),
    }];
    for node in nodes {
        if let Node::Heading { level, title, line } = node {
            while stack.len() > 1 && stack.last().is_some_and(|s| s.level >= *level) {
                let done = stack.pop().expect("non-empty");
                stack.last_mut().expect("root").children.push(done);
            }
            stack.push(Section {
                title: clean_title(&title.text),
                level: *level,
                line: *line,
                nodes: Vec::new(),
                children: Vec::new(),
            });
        } else {
            stack.last_mut().expect("root").nodes.push(node);
        }
    }
    while stack.len() > 1 {
        let done = stack.pop().expect("non-empty");
        stack.last_mut().expect("root").children.push(done);
    }
    stack.pop().expect("root")
}

/// A heading's text without emoji and decoration.
pub fn clean_title(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric() || c.is_ascii() || " –—’".contains(*c))
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

static NUMBERED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^(\d+[.):]|step\s+\d+|phase\s+\d+)").expect("regex"));
static PHASE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^(?:\d+[.):]\s*)?(?:meaning|impact|symptoms?|diagnos\w*|investigat\w*|triage|assess\w*|resolution|resolv\w*|mitigat\w*|fix|solutions?|remediat\w*|recovery|verif\w*|validat\w*|prevent\w*|post-?incident|post-?mortem|follow-?up|roll\s?back|preparation|prepare|execution|steps|procedure|checklist|actions?|initial\s+response|immediate|escalat\w*|communicat\w*|clean\s?up|root\s+cause|causes?|workaround|prerequisites?|overview|background|summary|notes|detection|context|monitor\w*|if|when|on|after|before|during|general)\b
        | \b(?:steps|procedure|process|execution)\s*(?:\([^)]*\))?$",
    )
    .expect("regex")
});

/// A heading that is only a phase or a numbered step: never a procedure's name on its own.
pub fn pure_phase(title: &str) -> bool {
    NUMBERED.is_match(title)
        || PHASE.find(title).is_some_and(|m| {
            m.start() == 0
                && !title[m.end()..].trim().contains(' ')
                && PHASE.is_match(&title[..m.end()])
                && !title.to_lowercase().ends_with("process")
        })
}

/// Is a sub-heading a step or phase of its parent ("1. Detect", "Diagnosis", "Migration
/// Steps", "If Restart Fails") rather than a procedure of its own ("Database Recovery")?
pub fn step_like(title: &str) -> bool {
    NUMBERED.is_match(title) || PHASE.is_match(title)
}

/// Does any block hold a command (a shell block with commands, or a command in a bullet)?
pub fn has_commands(nodes: &[&Node]) -> bool {
    nodes.iter().any(|n| node_has_commands(n))
}

fn node_has_commands(node: &Node) -> bool {
    match node {
        Node::Code {
            lang, body, attrs, ..
        } => {
            let shellish = shell::is_shell_lang(lang)
                || (lang.is_empty() && attrs.is_empty() && shell::looks_like_shell(body));
            shellish && shell::read_block(body, lang).command_count() > 0
        }
        Node::List { items, .. } => items.iter().any(|item| {
            inline_commands(&item.title).next().is_some()
                || item.children.iter().any(node_has_commands)
        }),
        Node::Quote { children, .. } => children.iter().any(node_has_commands),
        _ => false,
    }
}

/// The inline code spans of a bullet that are commands.
pub fn inline_commands(inline: &Inline) -> impl Iterator<Item = &String> {
    inline.codes.iter().filter(|c| shell::inline_is_command(c))
}

/// Does the section or any sub-section hold commands?
pub fn has_commands_deep(section: &Section) -> bool {
    has_commands(&section.nodes) || section.children.iter().any(has_commands_deep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::parse;

    #[test]
    fn tree_and_step_like_headings() {
        let nodes = parse("# A\n\n## B\n\ntext\n\n### 1. C\n\n```bash\nls -la\n```\n\n## D\n");
        let root = outline(&nodes);
        assert_eq!(root.children.len(), 1);
        let a = &root.children[0];
        assert_eq!(a.children.len(), 2);
        assert_eq!(a.children[0].children[0].title, "1. C");
        assert!(has_commands_deep(&a.children[0]));
        assert!(!has_commands_deep(&a.children[1]));
        assert!(step_like("1. Detection & Alert"));
        assert!(step_like("Diagnosis"));
        assert!(step_like("If Restart Fails"));
        assert!(!step_like("Scenario 1: API Service Down"));
        assert!(!step_like("P0: Service Down"));
        assert!(!step_like("Database Recovery"));
        assert!(!step_like("Morning Checklist"));
        assert!(step_like("Migration Steps"));
        assert!(step_like("Rollback Procedure"));
    }
}
