//! Escalation paths written as tables ("Escalate To | Timing") or lists ("Team lead (if not
//! resolved in 30 minutes)"), and "if not resolved in 15 min → page the senior engineer"
//! inside a procedure: rungs of an `escalation:` ladder whose channel names the inventory
//! defines.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::markdown::{Item, Node};

/// One rung: after this long on the incident clock, notify this channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rung {
    /// A duration in the format's syntax: `30m`, `1h`, `0m`.
    pub after: String,
    pub minutes: u64,
    pub channel: String,
    pub line: usize,
    /// The text it came from, for the report.
    pub source: String,
}

/// The document's escalation policy: rungs for any incident, and rungs for one severity.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub general: Vec<Rung>,
    pub by_severity: BTreeMap<String, Vec<Rung>>,
}

static DURATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(\d+)\s*(minutes?|mins?|m|hours?|hrs?|h)\b").expect("regex"));
static IMMEDIATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bimmediate(ly)?\b").expect("regex"));
static SEVERITY: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\bP([0-4])\b").expect("regex"));
static ROLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(engineer|lead|manager|cto|ceo|director|on-?call|team|sre|admin|owner|vp|head|support|security|senior|primary|secondary|dba|devops|responder)\b",
    )
    .expect("regex")
});
static LOCAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:not\s+resolved|unresolved|not\s+recovered|still\s+down|not\s+fixed)\D{0,20}?(\d+)\s*(minutes?|mins?|m|hours?|hrs?|h)\b[^A-Za-z]*(?:page|escalate(?:\s+to)?|notify|call|contact|alert)\s+(?:the\s+)?([A-Za-z][A-Za-z /-]{2,40})",
    )
    .expect("regex")
});

/// Minutes in a text ("After 30 min", "> 2 hours", "Immediately").
pub fn minutes(text: &str) -> Option<u64> {
    if let Some(caps) = DURATION.captures(text) {
        let n: u64 = caps[1].parse().ok()?;
        let unit = caps[2].to_lowercase();
        return Some(if unit.starts_with('h') { n * 60 } else { n });
    }
    IMMEDIATE.is_match(text).then_some(0)
}

/// `90` → `1h30m`, `30` → `30m`, `0` → `0m`.
pub fn duration_text(minutes: u64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

/// A channel name from a role: `CTO/Dev Manager` → `cto-dev-manager`.
pub fn channel(role: &str) -> String {
    let mut out = String::new();
    for c in role.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

fn rung(minutes: u64, role: &str, line: usize, source: &str) -> Option<Rung> {
    let role = role.trim();
    if !ROLE.is_match(role) {
        return None;
    }
    let channel = channel(role);
    (!channel.is_empty()).then(|| Rung {
        after: duration_text(minutes),
        minutes,
        channel,
        line,
        source: source.trim().to_owned(),
    })
}

/// Reads the document's escalation tables and "Escalation" lists.
pub fn policy(nodes: &[Node]) -> Policy {
    let mut policy = Policy::default();
    let mut under_escalation = false;
    for node in nodes {
        match node {
            Node::Heading { title, .. } => {
                under_escalation = title.text.to_lowercase().contains("escalation");
            }
            Node::Table { rows, line } => table(rows, *line, &mut policy),
            Node::List { items, .. } if under_escalation => list(items, &mut policy),
            _ => {}
        }
    }
    policy
}

fn table(rows: &[Vec<String>], line: usize, policy: &mut Policy) {
    let Some(header) = rows.first() else {
        return;
    };
    let lower: Vec<String> = header.iter().map(|h| h.to_lowercase()).collect();
    let time_col = lower.iter().position(|h| {
        h.contains("timing") || h.contains("escalation") || h == "when" || h.contains("after")
    });
    let role_col = lower
        .iter()
        .position(|h| h.contains("escalate to") || h.contains("notify"))
        .or_else(|| {
            lower
                .iter()
                .position(|h| h == "role" || h.contains("contact"))
        });
    let (Some(time_col), Some(role_col)) = (time_col, role_col) else {
        return;
    };
    // A table of situations applies per severity; a table of roles to every incident.
    let situational = lower
        .first()
        .is_some_and(|h| h.contains("situation") || h.contains("condition"));
    for (i, row) in rows.iter().enumerate().skip(1) {
        let (Some(time), Some(role)) = (row.get(time_col), row.get(role_col)) else {
            continue;
        };
        let Some(m) = minutes(time) else {
            continue;
        };
        let source = row.join(" | ");
        let Some(r) = rung(m, role, line + i + 1, &source) else {
            continue;
        };
        match SEVERITY.captures(&source) {
            Some(caps) => policy
                .by_severity
                .entry(format!("P{}", &caps[1]))
                .or_default()
                .push(r),
            None if !situational => policy.general.push(r),
            None => {}
        }
    }
}

fn list(items: &[Item], policy: &mut Policy) {
    for item in items {
        let text = &item.title.text;
        let role = match &item.title.lead_strong {
            // `**L2** - Engineering lead notified (...)`: the role is after the code.
            Some(strong) if is_level_code(strong) => text
                .trim_start_matches(strong.as_str())
                .trim_start_matches([' ', '-', '–', ':'])
                .split(['(', ','])
                .next()
                .unwrap_or_default()
                .trim()
                .trim_end_matches(" notified")
                .trim_end_matches(" investigates")
                .trim_end_matches(" paged")
                .to_owned(),
            Some(strong) => strong.clone(),
            None => text
                .split(['(', '-', ','])
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        };
        let severity = SEVERITY.captures(text).map(|c| format!("P{}", &c[1]));
        let m = match (minutes(text), &severity) {
            (Some(m), _) => m,
            (None, Some(_)) => 0,
            (None, None) => continue,
        };
        let Some(r) = rung(m, &role, item.line, text) else {
            continue;
        };
        match severity {
            Some(s) => policy.by_severity.entry(s).or_default().push(r),
            None => policy.general.push(r),
        }
    }
}

/// `L2`, `T1`: an escalation level's code, not a role.
fn is_level_code(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 2 && b[0].is_ascii_uppercase() && b[1].is_ascii_digit()
}

/// "If not resolved in 15 min → Page senior engineer" in a procedure's text.
pub fn local(text: &str, line: usize) -> Option<Rung> {
    let caps = LOCAL.captures(text)?;
    let n: u64 = caps[1].parse().ok()?;
    let m = if caps[2].to_lowercase().starts_with('h') {
        n * 60
    } else {
        n
    };
    let role = caps[3]
        .split(['.', ',', ';', '('])
        .next()
        .unwrap_or_default()
        .trim();
    let channel = channel(role);
    (!channel.is_empty()).then(|| Rung {
        after: duration_text(m),
        minutes: m,
        channel,
        line,
        source: text.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::parse;

    #[test]
    fn tables_lists_and_local_rules() {
        let doc = "## Escalation Path\n\n1. **On-call engineer** (first responder)\n2. **Team lead** (if issue not resolved in 30 minutes)\n3. **CTO** (if major outage > 2 hours)\n\n## Escalation\n\n| Situation | Escalate To | Timing |\n|---|---|---|\n| P1 incident occurs | Infrastructure Manager | Immediately |\n| P1 not recovered within 30 min | CTO/Dev Manager | After 30 min |\n| Security incident | Security Manager | Immediately |\n";
        let p = policy(&parse(doc));
        let general: Vec<(&str, &str)> = p
            .general
            .iter()
            .map(|r| (r.after.as_str(), r.channel.as_str()))
            .collect();
        assert_eq!(general, [("30m", "team-lead"), ("2h", "cto")]);
        let p1: Vec<(&str, &str)> = p.by_severity["P1"]
            .iter()
            .map(|r| (r.after.as_str(), r.channel.as_str()))
            .collect();
        assert_eq!(
            p1,
            [("0m", "infrastructure-manager"), ("30m", "cto-dev-manager")]
        );
        let r = local("If not resolved in 15 min → Page senior engineer", 3).unwrap();
        assert_eq!(
            (r.after.as_str(), r.channel.as_str()),
            ("15m", "senior-engineer")
        );
    }
}
