//! Going on past an unknown field: the key and its value are blanked out of the text (every
//! character but line breaks becomes a space), so the rest parses and keeps its lines and
//! columns. Found with the YAML event parser, so flow (`{ a: 1, rnu: x }`) and block styles,
//! multi-line values and nested ones are all cut at their real ends.

use serde_saphyr::granit_parser::{Event, Parser, Span, StructureStyle};

/// The text without the mapping entry whose key starts at `line`:`col` (1-based, columns in
/// characters); `None` when no key starts there or the text does not parse as events.
pub(crate) fn blank_pair(text: &str, line: usize, col: usize) -> Option<String> {
    let mut events: Vec<(Event<'_>, Span)> = Vec::new();
    for item in Parser::new_from_str(text) {
        let (event, span) = item.ok()?;
        events.push((event, span));
    }
    let key = key_at(&events, line, col)?;
    let value_end = node_end(&events, key + 1)?;
    let next = events.get(value_end + 1)?;
    let flow = matches!(enclosing(&events, key), Some(StructureStyle::Flow));
    let only_entry = matches!(
        events.get(key.wrapping_sub(1)),
        Some((Event::MappingStart(..), _))
    ) && matches!(next.0, Event::MappingEnd);
    let start = events[key].1.start.byte_offset()?;
    let value_stop = events[value_end].1.end.byte_offset()?;
    let end = next
        .1
        .start
        .byte_offset()
        .unwrap_or(value_stop)
        .max(value_stop);
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    let mut cut = blank(&text[start..end]);
    if only_entry && !flow {
        // A block mapping left empty would read as null: make it `{}`.
        cut.replace_range(..2.min(cut.len()), "{}");
    }
    out.push_str(&cut);
    out.push_str(&text[end..]);
    if flow && matches!(next.0, Event::MappingEnd) && !only_entry {
        // The last entry of a flow mapping: its comma goes too (`{ a: 1, }` is not YAML 1.2
        // everywhere).
        if let Some(comma) = text[..start].trim_end().strip_suffix(',') {
            let at = comma.len();
            out.replace_range(at..=at, " ");
        }
    }
    Some(out)
}

/// Index of the scalar event that is a mapping key and starts at `line`:`col`.
fn key_at(events: &[(Event<'_>, Span)], line: usize, col: usize) -> Option<usize> {
    // A stack of open collections: for mappings, whether the next node is a key.
    let mut stack: Vec<Option<bool>> = Vec::new();
    for (i, (event, span)) in events.iter().enumerate() {
        let is_key = matches!(stack.last(), Some(Some(true)));
        match event {
            Event::MappingStart(..) => {
                advance(&mut stack);
                stack.push(Some(true));
            }
            Event::SequenceStart(..) => {
                advance(&mut stack);
                stack.push(None);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            Event::Scalar(..) | Event::Alias(_) => {
                if is_key && span.start.line() == line && span.start.col() + 1 == col {
                    return Some(i);
                }
                advance(&mut stack);
            }
            _ => {}
        }
    }
    None
}

/// In a mapping, a node flips key → value → key.
fn advance(stack: &mut [Option<bool>]) {
    if let Some(Some(key_next)) = stack.last_mut() {
        *key_next = !*key_next;
    }
}

/// The index of the last event of the node that starts at `at`.
fn node_end(events: &[(Event<'_>, Span)], at: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, (event, _)) in events.iter().enumerate().skip(at) {
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
            Event::MappingEnd | Event::SequenceEnd => depth = depth.checked_sub(1)?,
            Event::Scalar(..) | Event::Alias(_) => {}
            _ => continue,
        }
        if depth == 0 {
            return Some(i);
        }
    }
    None
}

/// The style of the mapping that holds the event at `at`.
fn enclosing(events: &[(Event<'_>, Span)], at: usize) -> Option<StructureStyle> {
    let mut depth = 0usize;
    for (event, _) in events[..at].iter().rev() {
        match event {
            Event::MappingEnd | Event::SequenceEnd => depth += 1,
            Event::MappingStart(style, ..) if depth == 0 => return Some(*style),
            Event::SequenceStart(..) if depth == 0 => return None,
            Event::MappingStart(..) | Event::SequenceStart(..) => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Every character a space, line breaks kept.
fn blank(text: &str) -> String {
    text.chars()
        .map(|c| if c == '\n' || c == '\r' { c } else { ' ' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::blank_pair;

    #[test]
    fn block_entries_are_blanked_with_their_values() {
        let text = "steps:\n  - id: a\n    rnu: |\n      echo\n      more\n    when: x\n";
        assert_eq!(
            blank_pair(text, 3, 5).unwrap(),
            "steps:\n  - id: a\n          \n          \n          \n    when: x\n"
        );
        // The only entry of a block mapping leaves `{}`, not null.
        let text = "expect:\n  stdot: up\nrun: x\n";
        assert_eq!(
            blank_pair(text, 2, 3).unwrap(),
            "expect:\n  {}       \nrun: x\n"
        );
    }

    #[test]
    fn flow_entries_take_their_comma() {
        assert_eq!(
            blank_pair("a: { id: s, rnu: x, when: y }\n", 1, 13).unwrap(),
            "a: { id: s,         when: y }\n"
        );
        assert_eq!(
            blank_pair("a: { id: s, rnu: x }\n", 1, 13).unwrap(),
            "a: { id: s         }\n"
        );
        assert_eq!(
            blank_pair("a: { rnu: x }\n", 1, 6).unwrap(),
            "a: {        }\n"
        );
        assert_eq!(
            blank_pair("a: { b: 1 }\n", 1, 9),
            None,
            "a value, not a key"
        );
    }
}
