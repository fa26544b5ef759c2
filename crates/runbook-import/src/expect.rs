//! "Expected: `active (running)`", "should return `ok`", a JSON example under "Expected:": what
//! the runbook says a command prints, made into an `expect` when it can be exact, else kept as
//! a note for the operator.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// An expectation the importer can state exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// stdout contains this text.
    Contains(String),
    /// stdout, parsed as JSON, contains this object.
    Json(serde_json::Map<String, Value>),
}

static LEAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(?:\*\*)?(?:expected(?:\s+output|\s+result)?|should\s+(?:return|print|show|output)|you\s+should\s+see|output\s+should\s+be)\b(?:\*\*)?\s*:?\s*(?:\*\*)?\s*(.*)$",
    )
    .expect("regex")
});

/// If the text states an expected output, what follows the lead-in ("Expected:"), possibly
/// empty when the example is in the next block.
pub fn lead(text: &str) -> Option<String> {
    let first = text.lines().next().unwrap_or_default();
    let caps = LEAD.captures(first)?;
    let rest = text[first.len()..].trim();
    let mut out = caps[1].trim().to_owned();
    if !rest.is_empty() {
        out.push(' ');
        out.push_str(rest);
    }
    Some(out.trim().to_owned())
}

/// Makes an expectation from the words after the lead-in and the inline code spans of the
/// sentence: exact when the words are exactly one code span, one quoted string, or one token.
pub fn from_text(rest: &str, codes: &[String]) -> Option<Expect> {
    let rest = rest.trim().trim_end_matches('.').trim();
    if codes.len() == 1 && rest.trim_matches('`') == codes[0] {
        return from_example(&codes[0]);
    }
    let unquoted = rest.trim_matches('"');
    if rest.len() >= 2 && rest.starts_with('"') && rest.ends_with('"') && !unquoted.contains('"') {
        return from_example(unquoted);
    }
    if !rest.is_empty()
        && !rest.contains(char::is_whitespace)
        && !rest.contains('`')
        && rest.len() <= 40
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
        && rest.to_lowercase() != "none"
    {
        return Some(Expect::Contains(rest.to_owned()));
    }
    None
}

/// An example output: JSON objects become a subset match (fields whose values look like
/// examples — numbers, versions, `...` — left out), one short line a `contains`.
pub fn from_example(text: &str) -> Option<Expect> {
    let text = text.trim();
    if text.starts_with('{')
        && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text)
    {
        let kept: serde_json::Map<String, Value> = map
            .into_iter()
            .filter(|(_, v)| match v {
                Value::String(s) => {
                    !s.is_empty() && !s.contains("...") && !s.chars().any(|c| c.is_ascii_digit())
                }
                Value::Bool(_) => true,
                _ => false,
            })
            .collect();
        return (!kept.is_empty()).then_some(Expect::Json(kept));
    }
    if text.is_empty() || text.contains('\n') || text.len() > 60 || text.contains("...") {
        return None;
    }
    Some(Expect::Contains(text.to_owned()))
}

/// Output lines printed under a prompted command: an exact expectation only when it is one
/// short line with nothing that changes from run to run (digits, dates, ages).
pub fn from_output(lines: &[String]) -> Option<Expect> {
    let lines: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    match lines.as_slice() {
        [one] if one.starts_with('{') => from_example(one),
        [one] if one.len() <= 40 && !one.chars().any(|c| c.is_ascii_digit()) => from_example(one),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leads_and_exact_forms() {
        let rest = lead("Expected: `active (running)`").unwrap();
        assert_eq!(
            from_text(&rest, &["active (running)".into()]),
            Some(Expect::Contains("active (running)".into()))
        );
        assert_eq!(lead("Expected:").as_deref(), Some(""));
        let rest = lead("Expected: No errors (or only known non-critical errors)").unwrap();
        assert_eq!(from_text(&rest, &[]), None);
        let rest = lead("Expected output: \"ok\"").unwrap();
        assert_eq!(from_text(&rest, &[]), Some(Expect::Contains("ok".into())));
        assert_eq!(lead("Review the logs"), None);
        let Some(Expect::Json(map)) =
            from_example(r#"{"status": "healthy", "version": "1.0.0", "timestamp": "..."}"#)
        else {
            panic!()
        };
        assert_eq!(map.len(), 1);
        assert_eq!(
            from_output(&["PONG".into()]),
            Some(Expect::Contains("PONG".into()))
        );
        assert_eq!(from_output(&["NAME AGE".into(), "x 28d".into()]), None);
    }
}
