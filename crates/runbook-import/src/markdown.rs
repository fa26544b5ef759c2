//! Markdown (`CommonMark` + GFM) to a small block tree: headings, paragraphs, lists with their
//! items, fenced code, tables. Inline content keeps only what the importer reads: the text, the
//! inline code spans and a bold lead (`**Check status**`). Every node carries its source line.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// Inline content of a paragraph, heading, list item or table cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inline {
    /// The text with inline code kept in backticks and links reduced to their text.
    pub text: String,
    /// The inline code spans, in order.
    pub codes: Vec<String>,
    /// A bold span that opens the text (`**Restart Service**`), without its markers.
    pub lead_strong: Option<String>,
}

impl Inline {
    /// True when the whole text is one bold span, maybe followed by a colon (`**Diagnosis:**`).
    pub fn is_label(&self) -> bool {
        match &self.lead_strong {
            Some(strong) => {
                let rest = self.text.trim().trim_start_matches(strong.as_str()).trim();
                rest.is_empty() || rest == ":"
            }
            None => false,
        }
    }
}

/// One list item: its own first paragraph, and what is nested under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub line: usize,
    pub title: Inline,
    /// `Some(done)` for a GFM task list item (`- [ ] …`).
    pub task: Option<bool>,
    pub children: Vec<Node>,
}

/// A block of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Heading {
        line: usize,
        level: u8,
        title: Inline,
    },
    Para {
        line: usize,
        inline: Inline,
    },
    Code {
        line: usize,
        /// The first word of the info string, lowercased (`bash`, `console`, empty for none).
        lang: String,
        /// The rest of the info string (Runme annotations: `{"name": "x"}`, `{ name=x }`).
        attrs: String,
        body: String,
        /// Indented code (four spaces) rather than a fence.
        indented: bool,
    },
    List {
        line: usize,
        ordered: bool,
        items: Vec<Item>,
    },
    Table {
        line: usize,
        /// The header row first.
        rows: Vec<Vec<String>>,
    },
    Quote {
        line: usize,
        children: Vec<Node>,
    },
    /// YAML front matter (`---` … `---` at the top).
    FrontMatter {
        line: usize,
        text: String,
    },
}

/// What is being built while events arrive.
enum Frame {
    /// The document, a block quote or a list item's nested blocks.
    Blocks(Vec<Node>),
    List {
        line: usize,
        ordered: bool,
        items: Vec<Item>,
    },
    Item {
        line: usize,
        title: Option<Inline>,
        task: Option<bool>,
        children: Vec<Node>,
    },
    Quote {
        line: usize,
        children: Vec<Node>,
    },
}

/// Parses Markdown into top-level nodes. Never fails: any text is some Markdown.
pub fn parse(text: &str) -> Vec<Node> {
    let lines = LineIndex::new(text);
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS;
    let mut stack: Vec<Frame> = vec![Frame::Blocks(Vec::new())];
    // Inline content being collected, and where it goes when it ends.
    let mut inline: Option<Inline> = None;
    let mut inline_line = 1;
    let mut strong_depth = 0usize;
    let mut strong_text: Option<String> = None;
    let mut code: Option<(usize, String, String, bool, String)> = None;
    let mut table: Option<(usize, Vec<Vec<String>>)> = None;
    let mut cell: Option<String> = None;
    let mut front: Option<(usize, String)> = None;

    for (event, range) in Parser::new_ext(text, options).into_offset_iter() {
        let line = lines.line(range.start);
        if let Some((_, body)) = front.as_mut() {
            match event {
                Event::Text(t) => body.push_str(&t),
                Event::End(TagEnd::MetadataBlock(_)) => {
                    let (line, text) = front.take().unwrap_or_default();
                    push(&mut stack, Node::FrontMatter { line, text });
                }
                _ => {}
            }
            continue;
        }
        if let Some((_, _, _, _, body)) = code.as_mut() {
            match event {
                Event::Text(t) => body.push_str(&t),
                Event::End(TagEnd::CodeBlock) => {
                    let (line, lang, attrs, indented, body) = code.take().unwrap_or_default();
                    close_item_title(&mut stack, &mut inline);
                    push(
                        &mut stack,
                        Node::Code {
                            line,
                            lang,
                            attrs,
                            body,
                            indented,
                        },
                    );
                }
                _ => {}
            }
            continue;
        }
        if let Some(text) = cell.as_mut() {
            match event {
                Event::Text(t) => text.push_str(&t),
                Event::Code(c) => {
                    text.push('`');
                    text.push_str(&c);
                    text.push('`');
                }
                Event::SoftBreak | Event::HardBreak => text.push(' '),
                Event::End(TagEnd::TableCell) => {
                    let done = cell.take().unwrap_or_default();
                    if let Some((_, rows)) = table.as_mut()
                        && let Some(row) = rows.last_mut()
                    {
                        row.push(done.trim().to_owned());
                    }
                }
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(Tag::MetadataBlock(_)) => front = Some((line, String::new())),
            Event::Start(Tag::CodeBlock(kind)) => {
                close_item_title(&mut stack, &mut inline);
                let (lang, attrs, indented) = match kind {
                    CodeBlockKind::Fenced(info) => {
                        let info = info.trim();
                        let (lang, attrs) = match info.find(|c: char| c.is_whitespace() || c == '{')
                        {
                            Some(at) => (&info[..at], info[at..].trim()),
                            None => (info, ""),
                        };
                        (lang.to_lowercase(), attrs.to_owned(), false)
                    }
                    CodeBlockKind::Indented => (String::new(), String::new(), true),
                };
                code = Some((line, lang, attrs, indented, String::new()));
            }
            Event::Start(Tag::Table(_)) => {
                close_item_title(&mut stack, &mut inline);
                table = Some((line, Vec::new()));
            }
            Event::Start(Tag::TableHead | Tag::TableRow) => {
                if let Some((_, rows)) = table.as_mut() {
                    rows.push(Vec::new());
                }
            }
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::Table) => {
                if let Some((line, rows)) = table.take() {
                    push(&mut stack, Node::Table { line, rows });
                }
            }
            Event::Start(Tag::Heading { .. } | Tag::Paragraph) => {
                // A list item's first paragraph is its title: keep collecting into it.
                let item_title_open = matches!(stack.last(), Some(Frame::Item { title: None, .. }))
                    && inline.is_some();
                if !item_title_open {
                    inline = Some(Inline::default());
                    inline_line = line;
                }
            }
            Event::End(TagEnd::Heading(level)) => {
                let title = finish(inline.take());
                push(
                    &mut stack,
                    Node::Heading {
                        line: inline_line,
                        level: heading_level(level),
                        title,
                    },
                );
            }
            Event::End(TagEnd::Paragraph) => {
                if matches!(stack.last(), Some(Frame::Item { title: None, .. })) {
                    close_item_title(&mut stack, &mut inline);
                } else if let Some(done) = inline.take() {
                    push(
                        &mut stack,
                        Node::Para {
                            line: inline_line,
                            inline: finish(Some(done)),
                        },
                    );
                }
            }
            Event::Start(Tag::List(first)) => {
                close_item_title(&mut stack, &mut inline);
                stack.push(Frame::List {
                    line,
                    ordered: first.is_some(),
                    items: Vec::new(),
                });
            }
            Event::End(TagEnd::List(_)) => {
                if let Some(Frame::List {
                    line,
                    ordered,
                    items,
                }) = stack.pop()
                {
                    push(
                        &mut stack,
                        Node::List {
                            line,
                            ordered,
                            items,
                        },
                    );
                }
            }
            Event::Start(Tag::Item) => {
                stack.push(Frame::Item {
                    line,
                    title: None,
                    task: None,
                    children: Vec::new(),
                });
                inline = Some(Inline::default());
                inline_line = line;
            }
            Event::TaskListMarker(done) => {
                if let Some(Frame::Item { task, .. }) = stack.last_mut() {
                    *task = Some(done);
                }
            }
            Event::End(TagEnd::Item) => {
                close_item_title(&mut stack, &mut inline);
                if let Some(Frame::Item {
                    line,
                    title,
                    task,
                    children,
                }) = stack.pop()
                    && let Some(Frame::List { items, .. }) = stack.last_mut()
                {
                    items.push(Item {
                        line,
                        title: title.unwrap_or_default(),
                        task,
                        children,
                    });
                }
            }
            Event::Start(Tag::BlockQuote(_)) => {
                close_item_title(&mut stack, &mut inline);
                stack.push(Frame::Quote {
                    line,
                    children: Vec::new(),
                });
            }
            Event::End(TagEnd::BlockQuote(_)) => {
                if let Some(Frame::Quote { line, children }) = stack.pop() {
                    push(&mut stack, Node::Quote { line, children });
                }
            }
            Event::Start(Tag::Strong) => {
                strong_depth += 1;
                if strong_depth == 1
                    && let Some(buf) = inline.as_ref()
                    && buf.text.trim().is_empty()
                    && buf.lead_strong.is_none()
                {
                    strong_text = Some(String::new());
                }
            }
            Event::End(TagEnd::Strong) => {
                strong_depth = strong_depth.saturating_sub(1);
                if strong_depth == 0
                    && let Some(done) = strong_text.take()
                    && let Some(buf) = inline.as_mut()
                {
                    buf.lead_strong = Some(done.trim().to_owned());
                }
            }
            Event::Text(t) => {
                if let Some(buf) = inline.as_mut() {
                    buf.text.push_str(&t);
                }
                if let Some(s) = strong_text.as_mut() {
                    s.push_str(&t);
                }
            }
            Event::Code(c) => {
                if let Some(buf) = inline.as_mut() {
                    buf.text.push('`');
                    buf.text.push_str(&c);
                    buf.text.push('`');
                    buf.codes.push(c.to_string());
                }
                if let Some(s) = strong_text.as_mut() {
                    s.push_str(&c);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(buf) = inline.as_mut() {
                    buf.text.push('\n');
                }
                if let Some(s) = strong_text.as_mut() {
                    s.push(' ');
                }
            }
            _ => {}
        }
    }
    // Unclosed frames cannot happen with pulldown-cmark, but never lose what was read.
    let mut out = Vec::new();
    while let Some(frame) = stack.pop() {
        if let Frame::Blocks(nodes) = frame {
            out = nodes;
        }
    }
    out
}

/// Ends an item's title (its first paragraph, or its text up to a nested block).
fn close_item_title(stack: &mut [Frame], inline: &mut Option<Inline>) {
    if let Some(Frame::Item { title, .. }) = stack.last_mut()
        && title.is_none()
    {
        *title = Some(finish(inline.take()));
    }
}

fn finish(inline: Option<Inline>) -> Inline {
    let mut inline = inline.unwrap_or_default();
    inline.text = inline.text.trim().to_owned();
    inline
}

fn push(stack: &mut [Frame], node: Node) {
    match stack.last_mut() {
        Some(Frame::Blocks(nodes)) => nodes.push(node),
        Some(Frame::Item { children, .. } | Frame::Quote { children, .. }) => {
            children.push(node);
        }
        // A list holds items only; a stray node (never produced by the parser) is dropped.
        Some(Frame::List { .. }) | None => {}
    }
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// Byte offset to 1-based line number.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_keep_their_code_and_titles() {
        let nodes = parse(
            "# T\n\n1. **Check Service Status**\n   ```bash\n   sudo systemctl status x\n   ```\n\n   Expected: `active`\n\n2. Next\n",
        );
        assert!(matches!(&nodes[0], Node::Heading { level: 1, .. }));
        let Node::List { items, ordered, .. } = &nodes[1] else {
            panic!("{nodes:?}")
        };
        assert!(ordered);
        assert_eq!(
            items[0].title.lead_strong.as_deref(),
            Some("Check Service Status")
        );
        assert!(
            matches!(&items[0].children[0], Node::Code { lang, body, line: 4, .. } if lang == "bash" && body.contains("systemctl"))
        );
        assert!(
            matches!(&items[0].children[1], Node::Para { inline, .. } if inline.codes == ["active"])
        );
        assert_eq!(items[1].title.text, "Next");
    }

    #[test]
    fn runme_attributes_and_tables() {
        let nodes =
            parse("```sh {\"name\":\"echo\"}\necho hi\n```\n\n| a | b |\n|---|---|\n| 1 | `x` |\n");
        assert!(
            matches!(&nodes[0], Node::Code { lang, attrs, .. } if lang == "sh" && attrs == "{\"name\":\"echo\"}")
        );
        assert!(matches!(&nodes[1], Node::Table { rows, .. } if rows[1] == ["1", "`x`"]));
    }
}
