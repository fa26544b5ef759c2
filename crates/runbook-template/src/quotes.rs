//! Static scans of a `run` template's text: placeholders written inside shell quotes (they would
//! defeat the automatic quoting) and uses of the `raw` opt-out.

/// A `{{ }}` placeholder found inside shell quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotedPlaceholder {
    /// Byte offset of the opening `{{` in the template.
    pub offset: usize,
    /// The quote character the placeholder sits in: `'` or `"`.
    pub quote: char,
}

/// Finds placeholders that sit inside single or double shell quotes.
///
/// A placeholder that opts out with `| raw` is the author's explicit choice and is not listed
/// (it is reported by [`raw_uses`] instead).
pub fn placeholders_in_quotes(template: &str) -> Vec<QuotedPlaceholder> {
    let bytes = template.as_bytes();
    let mut found = Vec::new();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"{{") {
            let end = find(bytes, i + 2, b"}}").unwrap_or(bytes.len());
            let inner = &template[i + 2..end.min(template.len())];
            if let Some(q) = quote
                && !uses_raw(inner)
            {
                found.push(QuotedPlaceholder {
                    offset: i,
                    quote: q as char,
                });
            }
            i = end + 2;
            continue;
        }
        if rest.starts_with(b"{%") || rest.starts_with(b"{#") {
            let close: &[u8] = if rest[1] == b'%' { b"%}" } else { b"#}" };
            let end = find(bytes, i + 2, close).map_or(bytes.len(), |e| e + 2);
            let tag = template[i + 2..end.saturating_sub(2).max(i + 2)]
                .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
            i = end;
            if tag == "raw" {
                // Literal text (e.g. Go templates like '{{.Names}}'): its quotes still count,
                // its braces are not placeholders.
                let body_end = find_endraw(template, i);
                quote = track_quotes(&bytes[i..body_end], quote);
                i = body_end;
            }
            continue;
        }
        i += shell_quote_step(bytes, i, &mut quote);
    }
    found
}

/// Byte offsets of every `raw` (or `safe`) filter applied inside a `{{ }}` placeholder.
pub fn raw_uses(template: &str) -> Vec<usize> {
    let bytes = template.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(start) = find(bytes, i, b"{{") {
        let end = find(bytes, start + 2, b"}}").unwrap_or(bytes.len());
        let inner = &template[start + 2..end];
        if uses_raw(inner) {
            let at = inner
                .find("raw")
                .or_else(|| inner.find("safe"))
                .unwrap_or_default();
            found.push(start + 2 + at);
        }
        i = end;
    }
    found
}

/// The offset of the `{% endraw %}` tag after `from` (or the end of the text).
fn find_endraw(template: &str, from: usize) -> usize {
    let bytes = template.as_bytes();
    let mut i = from;
    while let Some(start) = find(bytes, i, b"{%") {
        let end = find(bytes, start + 2, b"%}").unwrap_or(bytes.len());
        let tag = template[start + 2..end]
            .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        if tag == "endraw" {
            return start;
        }
        i = start + 2;
    }
    bytes.len()
}

/// Runs the shell quote state machine over literal text.
fn track_quotes(text: &[u8], mut quote: Option<u8>) -> Option<u8> {
    let mut i = 0;
    while i < text.len() {
        i += shell_quote_step(text, i, &mut quote);
    }
    quote
}

/// Reads one character of shell text at `i`, updating the open quote; returns how many bytes
/// it consumed (a backslash escape takes two, outside single quotes).
fn shell_quote_step(text: &[u8], i: usize, quote: &mut Option<u8>) -> usize {
    let c = text[i];
    match *quote {
        None => match c {
            b'\\' => return 2,
            b'\'' | b'"' => *quote = Some(c),
            _ => {}
        },
        Some(b'\'') => {
            if c == b'\'' {
                *quote = None;
            }
        }
        Some(_) => match c {
            b'\\' => return 2,
            b'"' => *quote = None,
            _ => {}
        },
    }
    1
}

fn uses_raw(inner: &str) -> bool {
    inner.split('|').skip(1).any(|filter| {
        let name = filter.trim_start();
        let name = name
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        name == "raw" || name == "safe"
    })
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from >= haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_placeholders_in_double_and_single_quotes() {
        let t = r#"psql -c "DROP DATABASE {{ db }}" && echo '{{ x }}' {{ ok }}"#;
        let found = placeholders_in_quotes(t);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].quote, '"');
        assert_eq!(&t[found[0].offset..found[0].offset + 8], "{{ db }}");
        assert_eq!(found[1].quote, '\'');
    }

    #[test]
    fn escaped_quotes_and_jinja_blocks_do_not_open_quotes() {
        let t = r#"echo \"{{ a }} {% if x == "y" %}{{ b }}{% endif %} {# it's #} {{ c }}"#;
        assert!(placeholders_in_quotes(t).is_empty());
    }

    #[test]
    fn raw_blocks_are_literal_but_keep_quote_state() {
        let t = r#"docker ps --format {% raw %}'{{.Names}}'{% endraw %} {{ a }} {% raw %}"{% endraw %}{{ b }}""#;
        let found = placeholders_in_quotes(t);
        assert_eq!(found.len(), 1);
        assert_eq!(&t[found[0].offset..found[0].offset + 7], "{{ b }}");
    }

    #[test]
    fn raw_inside_quotes_is_the_authors_choice() {
        let t = r#"echo "{{ a | raw }}""#;
        assert!(placeholders_in_quotes(t).is_empty());
        assert_eq!(raw_uses(t).len(), 1);
    }

    #[test]
    fn raw_uses_point_at_the_filter() {
        let t = "a {{ x }} {{ y|raw }} {{ z | safe }}";
        let uses = raw_uses(t);
        assert_eq!(uses.len(), 2);
        assert_eq!(&t[uses[0]..uses[0] + 3], "raw");
        assert_eq!(&t[uses[1]..uses[1] + 4], "safe");
    }
}
