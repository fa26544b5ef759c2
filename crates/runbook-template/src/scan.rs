//! Static scans of a template's text for `check`: places in a shell command where no value can
//! be written safely, and every way a template opts out of (or tries to opt out of) the quoting.
//!
//! The scans read the template linearly, as if every `{% if %}` branch were taken: the quoting
//! at render time follows the real output, so these are early warnings, not the safety net.

use crate::shell::{Lexer, PlaceError};

/// A placeholder written where no value can go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceProblem {
    /// Byte offset of the placeholder's `{{`.
    pub offset: usize,
    /// Length of the placeholder, `{{` to `}}`.
    pub len: usize,
    /// Why no value can go there.
    pub problem: PlaceError,
}

/// How a template touches the quoting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptOutKind {
    /// `| raw`: the value is inserted as shell code.
    Raw,
    /// A filter or tag that switches escaping off in minijinja (`safe`, `escape`, `e`,
    /// `forceescape`, `{% autoescape %}`): it does not switch the shell quoting off.
    Ignored,
}

/// One use of an opt-out, with the offset of its name in the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOut {
    /// Byte offset of the filter or tag name.
    pub offset: usize,
    /// The filter or tag name as written (`raw`, `safe`, `autoescape`, ...).
    pub name: String,
    /// Whether it really opts out (`raw`) or only looks like it.
    pub kind: OptOutKind,
}

/// Filters minijinja treats as "already escaped": none of them changes the shell quoting.
const IGNORED_FILTERS: &[&str] = &["safe", "escape", "e", "forceescape"];

/// Finds placeholders of a shell template that sit where no value can be written.
pub fn placeholder_problems(template: &str) -> Vec<PlaceProblem> {
    let mut found = Vec::new();
    let mut lexer = Lexer::new();
    let mut sink = String::new();
    for piece in pieces(template) {
        match piece {
            Piece::Literal(text) => lexer.literal(text),
            Piece::Placeholder { offset, len, inner } => {
                if let Some(problem) = lexer.static_problem() {
                    found.push(PlaceProblem {
                        offset,
                        len,
                        problem,
                    });
                }
                if filters(inner)
                    .last()
                    .is_some_and(|(_, name)| *name == "raw")
                {
                    // Its text is unknown; it is code, so the lexer cannot follow it.
                    continue;
                }
                sink.clear();
                let _ = lexer.value("x", &mut sink);
            }
            Piece::Tag { .. } => {}
        }
    }
    found
}

/// Every `raw`, `safe`, `escape`, `autoescape`... in a template, inside `{{ }}` or `{% %}`.
pub fn opt_outs(template: &str) -> Vec<OptOut> {
    let mut found = Vec::new();
    for piece in pieces(template) {
        let (start, inner) = match piece {
            Piece::Placeholder { offset, inner, .. } => (offset + 2, inner),
            Piece::Tag { offset, inner } => {
                let trimmed = inner.trim_start_matches(['-', '+']).trim_start();
                if trimmed.starts_with("autoescape") {
                    found.push(OptOut {
                        offset: offset + 2 + (inner.len() - trimmed.len()),
                        name: "autoescape".into(),
                        kind: OptOutKind::Ignored,
                    });
                }
                (offset + 2, inner)
            }
            Piece::Literal(_) => continue,
        };
        for (at, name) in filters(inner) {
            let kind = if name == "raw" {
                OptOutKind::Raw
            } else if IGNORED_FILTERS.contains(&name) {
                OptOutKind::Ignored
            } else {
                continue;
            };
            found.push(OptOut {
                offset: start + at,
                name: name.to_owned(),
                kind,
            });
        }
    }
    found
}

/// A part of a template's text.
enum Piece<'a> {
    Literal(&'a str),
    /// `{{ inner }}`, starting at `offset`, `len` bytes long.
    Placeholder {
        offset: usize,
        len: usize,
        inner: &'a str,
    },
    /// `{% inner %}` (a `{% raw %}` body comes back as a literal).
    Tag {
        offset: usize,
        inner: &'a str,
    },
}

/// Splits a template into literal text, placeholders and tags. Comments are dropped.
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut literal_start = 0;
    while let Some(rel) = template[i..].find('{') {
        let at = i + rel;
        let rest = &template[at..];
        let close = if rest.starts_with("{{") {
            "}}"
        } else if rest.starts_with("{%") {
            "%}"
        } else if rest.starts_with("{#") {
            "#}"
        } else {
            i = at + 1;
            continue;
        };
        if at > literal_start {
            out.push(Piece::Literal(&template[literal_start..at]));
        }
        let end = find_close(template, at + 2, close);
        let inner = &template[at + 2..end.min(template.len())];
        let after = (end + 2).min(template.len());
        match close {
            "}}" => out.push(Piece::Placeholder {
                offset: at,
                len: after - at,
                inner,
            }),
            "%}" => {
                out.push(Piece::Tag { offset: at, inner });
                let tag = inner.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
                if tag == "raw" {
                    let body_end = find_endraw(template, after);
                    out.push(Piece::Literal(&template[after..body_end]));
                    let resume = find_close(template, body_end + 2, "%}");
                    i = (resume + 2).min(template.len());
                    literal_start = i;
                    continue;
                }
            }
            _ => {}
        }
        i = after;
        literal_start = after;
    }
    if literal_start < template.len() {
        out.push(Piece::Literal(&template[literal_start..]));
    }
    out
}

/// The offset of `close` after `from`, skipping string literals; the end of the text if none.
fn find_close(template: &str, from: usize, close: &str) -> usize {
    let bytes = template.as_bytes();
    unquoted(template, from)
        .find(|&(i, _)| bytes[i..].starts_with(close.as_bytes()))
        .map_or(template.len(), |(i, _)| i)
}

/// The bytes of `text` from `from` on that stand outside string literals (`'…'`, `"…"`, with
/// backslash escapes inside them), with their offsets.
fn unquoted(text: &str, from: usize) -> impl Iterator<Item = (usize, u8)> + '_ {
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    text.bytes().enumerate().skip(from).filter(move |&(_, b)| {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if b == b'\\' => escaped = true,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None => return true,
        }
        false
    })
}

/// The offset of the `{% endraw %}` tag after `from` (or the end of the text).
fn find_endraw(template: &str, from: usize) -> usize {
    let mut i = from;
    while let Some(rel) = template[i..].find("{%") {
        let start = i + rel;
        let end = template[start + 2..]
            .find("%}")
            .map_or(template.len(), |e| start + 2 + e);
        let tag = template[start + 2..end]
            .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        if tag == "endraw" {
            return start;
        }
        i = start + 2;
    }
    template.len()
}

/// The filters applied in an expression: (offset of the name in `inner`, name). String literals
/// are skipped, so `"a|b"` holds no filter.
fn filters(inner: &str) -> Vec<(usize, &str)> {
    let bytes = inner.as_bytes();
    unquoted(inner, 0)
        .filter(|&(_, b)| b == b'|')
        .filter_map(|(bar, _)| {
            let mut start = bar + 1;
            while start < bytes.len() && bytes[start].is_ascii_whitespace() {
                start += 1;
            }
            let mut end = start;
            while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                end += 1;
            }
            (end > start).then(|| (start, &inner[start..end]))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(template: &str) -> Vec<(String, OptOutKind)> {
        opt_outs(template)
            .into_iter()
            .map(|o| {
                assert_eq!(&template[o.offset..o.offset + o.name.len()], o.name);
                (o.name, o.kind)
            })
            .collect()
    }

    #[test]
    fn every_opt_out_is_found_where_it_is_written() {
        let t = "{% set x = v | safe %}{% autoescape false %}echo {{ x }} {{ y|raw }} {{ z | e }} \
                 {{ w | escape | upper }}{% endautoescape %} {{ '|safe' }} {{ j | tojson }}";
        assert_eq!(
            names(t),
            vec![
                ("safe".into(), OptOutKind::Ignored),
                ("autoescape".into(), OptOutKind::Ignored),
                ("raw".into(), OptOutKind::Raw),
                ("e".into(), OptOutKind::Ignored),
                ("escape".into(), OptOutKind::Ignored),
            ]
        );
    }

    #[test]
    fn quotes_are_fine_backquotes_are_not() {
        let t =
            r#"curl -H "Authorization: Bearer {{ token }}" '{{ a }}' `cat {{ f }}` ${x:-{{ y }}}"#;
        let found = placeholder_problems(t);
        let problems: Vec<_> = found.iter().map(|p| p.problem.clone()).collect();
        assert_eq!(problems, vec![PlaceError::Backquote, PlaceError::Parameter]);
        assert_eq!(
            &t[found[0].offset..found[0].offset + found[0].len],
            "{{ f }}"
        );
    }

    #[test]
    fn raw_blocks_are_literal_but_keep_quote_state() {
        let t = r#"docker ps --format {% raw %}'{{.Names}}' `{% endraw %}{{ b }}`"#;
        let found = placeholder_problems(t);
        assert_eq!(found.len(), 1);
        assert_eq!(&t[found[0].offset..found[0].offset + 7], "{{ b }}");
    }

    #[test]
    fn raw_placeholders_are_not_followed() {
        assert!(placeholder_problems("echo {{ a | raw }} {{ b }}").is_empty());
    }

    #[test]
    fn text_that_is_not_ascii_is_read_whole() {
        // A multi-byte character outside a string literal, inside `{{ }}` and `{% %}`.
        let t = "echo é {{ é | raw }} {% if ü %}{{ 'ü|safe' | e }}{% endif %} {{ ß";
        assert!(placeholder_problems(t).is_empty());
        assert_eq!(
            names(t),
            vec![
                ("raw".into(), OptOutKind::Raw),
                ("e".into(), OptOutKind::Ignored)
            ]
        );
    }
}
