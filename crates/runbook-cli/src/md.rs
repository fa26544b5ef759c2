//! Writing text from playbooks into GitHub-flavoured Markdown so that it survives GitHub's
//! renderer: raw HTML and `<placeholder>` text would be parsed as tags and dropped by its
//! sanitizer, so every `<` outside code is written as `&lt;`; code goes into code spans and
//! fences long enough for the backticks it holds.
//!
//! The code span and fence themselves are `runbook_transcript::text`'s, shared with the
//! incident report; what differs here is the policy around them (text is trimmed, an empty
//! span is empty, prose keeps its Markdown).

use runbook_transcript::text::{code_span, fence_ticks};

/// Prose (a doc, a manual step's text): Markdown is kept, raw HTML is escaped. Code spans
/// and fenced blocks are left alone, since GitHub shows their content literally already.
pub fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<String> = None;
    for (i, line) in text.trim_end().lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let trimmed = line.trim_start();
        if let Some(open) = &fence {
            out.push_str(line);
            if trimmed.starts_with(open.as_str()) && trimmed.trim_end() == trimmed_fence(trimmed) {
                fence = None;
            }
            continue;
        }
        if let Some(open) = fence_marker(trimmed) {
            fence = Some(open);
            out.push_str(line);
            continue;
        }
        out.push_str(&escape_outside_code_spans(line));
    }
    out
}

/// Inline text (a name, a message, a table cell): one line, HTML escaped, pipes escaped.
pub fn inline(text: &str) -> String {
    let one = text.trim().replace(['\r', '\n'], " ");
    escape_outside_code_spans(&one).replace('|', "\\|")
}

/// A code span that holds any text: the backtick run is longer than any run inside, and
/// the text is padded when it starts or ends with a backtick.
pub fn code(text: &str) -> String {
    span(text, false)
}

/// A code span inside a table cell: pipes escaped (GitHub removes the backslash there, even
/// inside code).
pub fn cell_code(text: &str) -> String {
    span(text, true)
}

fn span(text: &str, in_table: bool) -> String {
    let one = text.trim().replace(['\r', '\n'], " ");
    if one.is_empty() {
        return String::new();
    }
    // Escaping `|` adds no backtick, and puts none at either end: the same fence.
    if in_table {
        code_span(&one.replace('|', "\\|"))
    } else {
        code_span(&one)
    }
}

/// A fenced code block with an info string; the fence is longer than any backtick run in the
/// text, so no content can close it.
pub fn fence(info: &str, text: &str) -> String {
    let ticks = fence_ticks(text);
    format!("{ticks}{info}\n{}\n{ticks}\n", text.trim_end())
}

/// Text for an HTML context we write ourselves (`<summary>`): `&`, `<`, `>` as entities.
pub fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\r', '\n'], " ")
}

/// The opening of a fenced block: three or more backticks or tildes.
fn fence_marker(line: &str) -> Option<String> {
    for c in ['`', '~'] {
        let n = line.chars().take_while(|&x| x == c).count();
        if n >= 3 {
            return Some(c.to_string().repeat(n));
        }
    }
    None
}

fn trimmed_fence(line: &str) -> &str {
    let c = line.chars().next().unwrap_or('`');
    let n = line.chars().take_while(|&x| x == c).count();
    &line[..n]
}

/// `<` becomes `&lt;` except inside code spans (a backtick run closed by a run of the same
/// length, as `CommonMark` reads them).
fn escape_outside_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '`' {
            let n = chars[i..].iter().take_while(|&&c| c == '`').count();
            // Find the closing run of exactly n backticks.
            let mut j = i + n;
            let mut close = None;
            while j < chars.len() {
                if chars[j] == '`' {
                    let m = chars[j..].iter().take_while(|&&c| c == '`').count();
                    if m == n {
                        close = Some(j);
                        break;
                    }
                    j += m;
                } else {
                    j += 1;
                }
            }
            match close {
                Some(j) => {
                    out.extend(&chars[i..j + n]);
                    i = j + n;
                }
                None => {
                    out.extend(&chars[i..i + n]);
                    i += n;
                }
            }
            continue;
        }
        match chars[i] {
            '<' => out.push_str("&lt;"),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_outside_code_is_escaped() {
        assert_eq!(
            prose("Run <cmd> then `a <b>` and <script>x</script>"),
            "Run &lt;cmd> then `a <b>` and &lt;script>x&lt;/script>"
        );
        assert_eq!(
            prose("text\n```\n<raw>\n```\n<after>"),
            "text\n```\n<raw>\n```\n&lt;after>"
        );
        assert_eq!(inline("a | b <c>"), "a \\| b &lt;c>");
    }

    #[test]
    fn code_spans_hold_backticks() {
        assert_eq!(code("ls"), "`ls`");
        assert_eq!(code("echo `date`"), "`` echo `date` ``");
        assert_eq!(code("a|b"), "`a|b`");
        assert_eq!(cell_code("a|b"), "`a\\|b`");
        assert_eq!(fence("sh", "echo ```x```"), "````sh\necho ```x```\n````\n");
    }
}
