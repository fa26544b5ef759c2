//! A source file's text with line lookups, for diagnostics that quote the offending line.

use crate::spanned::Loc;

/// A file's path and text, with the byte offset at which each line starts.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as given, shown in diagnostics.
    pub path: String,
    /// The whole file, as read.
    pub text: String,
    line_starts: Vec<usize>,
}

impl Source {
    /// Indexes the lines of `text`, read from `path`.
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source {
            path: path.into(),
            text,
            line_starts,
        }
    }

    /// The text of a 1-based line, without its line break.
    pub fn line(&self, line: usize) -> &str {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |&next| next - 1);
        self.text[start..end].trim_end_matches('\r')
    }

    /// How many lines the text has (a text ending in a line break has an empty last line).
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// The 1-based line and character column of a byte offset.
    pub fn loc_of_offset(&self, offset: usize) -> Loc {
        let offset = offset.min(self.text.len());
        let line_idx = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line_idx];
        let col = self
            .text
            .get(start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        Loc {
            line: line_idx + 1,
            col,
            offset: Some(offset),
        }
    }

    /// Maps a byte offset inside a template string to its place in the file.
    ///
    /// The template is the *parsed* YAML string, so block scalars have lost their indentation
    /// and quoted ones their quotes: the template line is searched for in the file, starting at
    /// the value's own line. Falls back to the value's location when it cannot be found.
    pub fn locate_in_value(&self, value: Loc, template: &str, offset: usize) -> Loc {
        let offset = offset.min(template.len());
        let line_start = template[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = template[offset..]
            .find('\n')
            .map_or(template.len(), |i| offset + i);
        let template_line = &template[line_start..line_end];
        let needle = template_line.trim_start();
        let skipped = template_line.len() - needle.len();
        if needle.is_empty() {
            return value;
        }
        let lines_before = template[..line_start].matches('\n').count();
        let first = value.line.max(1);
        let last = (first + lines_before + 2).min(self.line_count());
        for line in first..=last {
            let text = self.line(line);
            let from = if line == value.line {
                text.char_indices()
                    .nth(value.col.saturating_sub(1))
                    .map_or(0, |(i, _)| i)
            } else {
                0
            };
            if let Some(found) = text.get(from..).and_then(|t| t.find(needle)) {
                let byte = from + found + (offset - line_start - skipped);
                let col = text
                    .get(..byte.min(text.len()))
                    .map_or(1, |s| s.chars().count() + 1);
                return Loc {
                    line,
                    col,
                    offset: None,
                };
            }
        }
        value
    }

    /// Finds `needle` at or after a location (same line or the next few), for pointing at a
    /// name inside a value.
    pub fn find_after(&self, from: Loc, needle: &str) -> Option<Loc> {
        let last = (from.line + 40).min(self.line_count());
        for line in from.line.max(1)..=last {
            let text = self.line(line);
            let start = if line == from.line {
                text.char_indices()
                    .nth(from.col.saturating_sub(1))
                    .map_or(text.len(), |(i, _)| i)
            } else {
                0
            };
            if let Some(found) = text.get(start..).and_then(|t| find_word(t, needle)) {
                let col = text[..start + found].chars().count() + 1;
                return Some(Loc {
                    line,
                    col,
                    offset: None,
                });
            }
        }
        None
    }
}

/// Finds `needle` where it is not part of a longer name (`e` is not found in `escalate`).
pub fn find_word(haystack: &str, needle: &str) -> Option<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let mut from = 0;
    while let Some(i) = haystack[from..].find(needle).map(|i| i + from) {
        let before = haystack[..i].chars().next_back();
        let after = haystack[i + needle.len()..].chars().next();
        let edge_ok = |c: Option<char>, inner: Option<char>| {
            c.is_none_or(|c| !is_word(c) || !inner.is_some_and(is_word))
        };
        if edge_ok(before, needle.chars().next()) && edge_ok(after, needle.chars().next_back()) {
            return Some(i);
        }
        from = i + needle.len().max(1);
        if from > haystack.len() {
            break;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_offsets() {
        let src = Source::new("f.yaml", "a: 1\nbb: 2\r\nccc: 3");
        assert_eq!(src.line(2), "bb: 2");
        assert_eq!(src.line(3), "ccc: 3");
        assert_eq!(src.line(9), "");
        let loc = src.loc_of_offset(7);
        assert_eq!((loc.line, loc.col), (2, 3));
    }

    #[test]
    fn locates_template_offsets_in_block_scalars() {
        let text = "steps:\n  - run: |\n      echo one\n      echo {{ two }}\n";
        let src = Source::new("f.yaml", text);
        let template = "echo one\necho {{ two }}\n";
        let at = template.find("{{").unwrap();
        let loc = src.locate_in_value(Loc::new(2, 12), template, at);
        assert_eq!((loc.line, loc.col), (4, 12));
    }

    #[test]
    fn locates_template_offsets_in_plain_scalars() {
        let src = Source::new("f.yaml", "  run: echo {{ x }}\n");
        let loc = src.locate_in_value(Loc::new(1, 8), "echo {{ x }}", 5);
        assert_eq!((loc.line, loc.col), (1, 13));
    }
}
