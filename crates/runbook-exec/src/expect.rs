//! Judging a command's result: expectations (exit, text matchers, JSON subset) and captures.

use regex::Regex;
use runbook_model::playbook::{Capture, ExitCodes, Expect, Matcher};
use runbook_transcript::Verdict;
use serde_json::Value;

/// Renders the text of a matcher (matchers may use templates).
pub type RenderText<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Judges every expectation; an empty expectation means exit 0.
pub fn judge(
    expect: Option<&Expect>,
    exit: i32,
    stdout: &str,
    stderr: &str,
    render: RenderText,
) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    let codes = expect
        .and_then(|e| e.exit.as_ref())
        .map_or(ExitCodes::One(0), |c| c.value.clone());
    let what = match &codes {
        ExitCodes::One(c) => format!("exit {c}"),
        ExitCodes::Any(c) => format!("exit in {c:?}"),
    };
    verdicts.push(Verdict {
        ok: codes.accepts(exit),
        what,
        got: Some(exit.to_string()),
    });
    let Some(expect) = expect else {
        return verdicts;
    };
    for (name, matcher, text) in [
        ("stdout", &expect.stdout, stdout),
        ("stderr", &expect.stderr, stderr),
    ] {
        if let Some(m) = matcher {
            matcher_verdicts(name, m, text, render, &mut verdicts);
        }
    }
    if let Some(wanted) = &expect.json {
        let what = format!("stdout JSON contains {}", wanted.value);
        let verdict = match serde_json::from_str::<Value>(stdout.trim()) {
            Ok(got) => Verdict {
                ok: json_subset(&wanted.value, &got),
                what,
                got: Some(shorten(&got.to_string())),
            },
            Err(err) => Verdict {
                ok: false,
                what,
                got: Some(format!("not JSON ({err})")),
            },
        };
        verdicts.push(verdict);
    }
    verdicts
}

fn matcher_verdicts(
    stream: &str,
    m: &Matcher,
    text: &str,
    render: RenderText,
    out: &mut Vec<Verdict>,
) {
    let got = || Some(shorten(text.trim()));
    let rendered = |t: &str| render(t).unwrap_or_else(|e| format!("<{e}>"));
    // A list: one verdict per text, so a failure names the text that was missing.
    for needle in m.contains.iter().flat_map(|t| t.iter()) {
        let needle = rendered(needle);
        out.push(Verdict {
            ok: text.contains(&needle),
            what: format!("{stream} contains {needle:?}"),
            got: got(),
        });
    }
    for needle in m.not_contains.iter().flat_map(|t| t.iter()) {
        let needle = rendered(needle);
        out.push(Verdict {
            ok: !text.contains(&needle),
            what: format!("{stream} does not contain {needle:?}"),
            got: got(),
        });
    }
    if let Some(wanted) = &m.equals {
        let wanted = rendered(wanted);
        out.push(Verdict {
            ok: text.trim() == wanted.trim(),
            what: format!("{stream} equals {wanted:?}"),
            got: got(),
        });
    }
    if let Some(pattern) = &m.matches {
        // Without the final line break, so `$` anchors at the end of the output as people expect.
        let what = format!("{stream} matches /{}/", pattern.value);
        match Regex::new(pattern) {
            Ok(re) => out.push(Verdict {
                ok: re.is_match(text.trim_end_matches(['\n', '\r'])),
                what,
                got: got(),
            }),
            Err(err) => out.push(Verdict {
                ok: false,
                what,
                got: Some(format!("the regex does not compile: {err}")),
            }),
        }
    }
}

/// Every key of `wanted` is in `got` with a matching value; arrays match element-wise by
/// prefix subset; scalars must be equal.
pub fn json_subset(wanted: &Value, got: &Value) -> bool {
    match (wanted, got) {
        (Value::Object(w), Value::Object(g)) => w
            .iter()
            .all(|(k, wv)| g.get(k).is_some_and(|gv| json_subset(wv, gv))),
        (Value::Array(w), Value::Array(g)) => {
            w.iter().all(|wv| g.iter().any(|gv| json_subset(wv, gv)))
        }
        // A YAML `200` and a JSON "200" are the same to an operator.
        (Value::String(w), Value::Number(g)) | (Value::Number(g), Value::String(w)) => {
            w == &g.to_string()
        }
        _ => wanted == got,
    }
}

/// Follows a dotted path (`data.items.0.name`) into a JSON value.
pub fn json_path<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    let mut current = value;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        current = match current {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Computes one capture; `Err` says why it could not be taken.
pub fn capture(spec: &Capture, exit: i32, stdout: &str, stderr: &str) -> Result<Value, String> {
    if let Some(path) = &spec.json {
        let parsed: Value =
            serde_json::from_str(stdout.trim()).map_err(|e| format!("stdout is not JSON: {e}"))?;
        return json_path(&parsed, path)
            .cloned()
            .ok_or_else(|| format!("no `{path}` in the JSON output"));
    }
    if let Some(pattern) = &spec.regex {
        let re = Regex::new(pattern).map_err(|e| e.to_string())?;
        let caps = re
            .captures(stdout)
            .ok_or_else(|| format!("/{}/ does not match the output", pattern.value))?;
        let m = caps
            .get(1)
            .or_else(|| caps.get(0))
            .map_or("", |m| m.as_str());
        return Ok(Value::String(m.to_owned()));
    }
    if spec.exit {
        return Ok(Value::from(exit));
    }
    if spec.stderr {
        return Ok(Value::String(stderr.trim().to_owned()));
    }
    Ok(Value::String(stdout.trim().to_owned()))
}

/// Keeps verdict texts short enough for a line and a transcript record.
pub fn shorten(text: &str) -> String {
    const MAX: usize = 300;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let cut = (0..=MAX)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    format!("{}…", &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_subset_matches_nested_keys() {
        let got = json!({"status": "healthy", "db": {"ok": true, "ms": 3}, "tags": ["a", "b"]});
        assert!(json_subset(&json!({"status": "healthy"}), &got));
        assert!(json_subset(
            &json!({"db": {"ok": true}, "tags": ["b"]}),
            &got
        ));
        assert!(!json_subset(&json!({"status": "down"}), &got));
        assert!(!json_subset(&json!({"missing": 1}), &got));
    }

    #[test]
    fn json_path_walks_objects_and_arrays() {
        let v = json!({"data": {"items": [{"name": "x"}]}});
        assert_eq!(json_path(&v, "data.items.0.name"), Some(&json!("x")));
        assert_eq!(json_path(&v, "data.nope"), None);
    }

    #[test]
    fn regex_capture_takes_the_first_group() {
        let spec = Capture {
            regex: Some(runbook_model::Spanned::new(
                r"(\d+)%".into(),
                runbook_model::Loc::default(),
            )),
            ..Default::default()
        };
        assert_eq!(capture(&spec, 0, "use 87% of /", "").unwrap(), json!("87"));
    }
}
