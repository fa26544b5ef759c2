//! Text from a step (its output, a message quoting it, a value) made safe to show: terminal
//! control characters are written out as visible escapes (`\x1b[2K`, `\r`, `\x08`,
//! `\u{202e}`), so output can neither erase lines, print a fake `ok`, retitle the window, clear
//! the screen, nor reorder text with bidirectional overrides. The terminal printer and the
//! Markdown and HTML reports use it; colour comes only from us.

use std::borrow::Cow;

/// `text` with every control character but newline and tab written as a visible escape.
pub fn visible(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// Like [`visible`], for text that must stay on one line: newlines are escaped too.
pub fn visible_line(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

fn escape(text: &str, one_line: bool) -> Cow<'_, str> {
    let hidden = |c: char| match c {
        '\n' => one_line,
        '\t' => false,
        c => c.is_control() || is_bidi_control(c),
    };
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !hidden(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// Characters that reorder how text is displayed (the "Trojan Source" ones).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_sequences_become_visible() {
        assert_eq!(visible("plain text\tok"), "plain text\tok");
        assert!(matches!(visible("plain"), Cow::Borrowed(_)));
        assert_eq!(visible("\x1b[2K\rok"), "\\x1b[2K\\rok");
        assert_eq!(visible("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
        assert_eq!(visible("ab\x08\x08ok\x7f"), "ab\\x08\\x08ok\\x7f");
        assert_eq!(visible("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(visible("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(visible("a\nb"), "a\nb");
        assert_eq!(visible_line("a\nb"), "a\\nb");
    }
}
