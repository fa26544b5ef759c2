//! The Markdown plan and plan diff survive GitHub: rendered through a GFM renderer (comrak,
//! with GitHub's extensions), no text from a playbook turns into HTML GitHub's sanitizer
//! would drop, and the Mermaid chart avoids the constructs that break GitHub's renderer.

use std::collections::BTreeSet;

use crate::support::{runbook, seed_playbooks};

const HOSTILE: &str = "tests/fixtures/markdown/hostile.yaml";

/// The tags GitHub keeps (its sanitizer's allow list, as far as Markdown output goes).
const GITHUB_TAGS: &[&str] = &[
    "a",
    "blockquote",
    "br",
    "code",
    "del",
    "details",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "input",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "summary",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
];

/// Markdown to HTML as GitHub renders a comment: GFM tables, task lists, strikethrough,
/// autolinks, alerts; raw HTML passed through (the sanitizer is checked separately).
fn gfm(markdown: &str) -> String {
    let mut options = comrak::Options::default();
    options.extension.table = true;
    options.extension.tasklist = true;
    options.extension.strikethrough = true;
    options.extension.autolink = true;
    options.extension.alerts = true;
    options.render.r#unsafe = true;
    comrak::markdown_to_html(markdown, &options)
}

/// Every tag name in an HTML text.
fn tags(html: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = html.as_bytes();
    for (i, _) in html.match_indices('<') {
        let rest = &html[i + 1..];
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if !name.is_empty() && bytes.get(i + 1).is_some_and(|b| *b != b' ') {
            out.insert(name.to_ascii_lowercase());
        }
    }
    out
}

/// Asserts the HTML holds only tags GitHub keeps, and that the Markdown's own `<details>`
/// blocks are balanced: nothing from the playbook opened or closed one.
#[track_caller]
fn assert_survives_github(markdown: &str) -> String {
    let html = gfm(markdown);
    let unknown: Vec<String> = tags(&html)
        .into_iter()
        .filter(|t| !GITHUB_TAGS.contains(&t.as_str()))
        .collect();
    assert!(unknown.is_empty(), "tags GitHub drops: {unknown:?}\n{html}");
    assert_eq!(
        html.matches("<details>").count(),
        html.matches("</details>").count(),
        "{html}"
    );
    assert_eq!(
        html.matches("<summary>").count(),
        html.matches("</summary>").count(),
        "{html}"
    );
    html
}

#[test]
fn the_plan_of_a_hostile_playbook_keeps_every_word() {
    let out = runbook(["plan", HOSTILE, "--format", "markdown"]).run();
    out.expect_code(0);
    let html = assert_survives_github(&out.stdout);
    // Text that looks like HTML is shown as text, wherever it stands.
    for shown in [
        "Restore &lt;b&gt;the&lt;/b&gt; API | &quot;now&quot; #1",
        "&lt;script&gt;alert('summary')&lt;/script&gt;",
        "&lt;database_url&gt; checks",
        "Check &lt;status&gt; | &quot;quoted&quot;",
        "&lt;img src=x onerror=alert(1)&gt;",
        "<code>&lt;kept in code&gt;</code>",
        "&lt;pre&gt; stays &lt;/pre&gt;",
        "Edit &lt;config.yaml&gt; by hand: set <code>a | b</code>.",
        "&lt;br&gt; is not a line break here",
        "Ticket &lt;id&gt;?",
        "Fetches &lt;url&gt; &amp; checks &lt;/details&gt; closing",
        "Ticket &lt;&lt;ticket&gt;&gt;: &lt;steps.status.status&gt; &lt;/details&gt;",
        "&lt;/summary&gt;&lt;script&gt;x&lt;/script&gt;",
        "grep -E '&lt;[a-z]+&gt;' &amp;&amp; echo `date`",
        "<code>drop &lt;sessions&gt;</code>",
        "⟨database_url⟩",
    ] {
        assert!(html.contains(shown), "`{shown}` is not shown\n{html}");
    }
    // The checklist is a task list; the sub-playbook is collapsible; the warnings are alerts.
    assert_eq!(
        html.matches("<input type=\"checkbox\"").count(),
        2,
        "{html}"
    );
    assert_eq!(html.matches("<details>").count(), 1, "{html}");
    assert!(html.contains("markdown-alert-caution"), "{html}");
    assert!(html.contains("markdown-alert-warning"), "{html}");
}

#[test]
fn every_seed_plan_and_a_diff_survive_github() {
    for (playbook, inventory) in [
        (
            "playbooks/gpt-agent/p0-service-outage.yaml",
            "inventories/gpt-agent-prod.yaml",
        ),
        (
            "playbooks/apeg/p0-service-down.yaml",
            "inventories/apeg-prod.yaml",
        ),
        (
            "tests/fixtures/valid/full.yaml",
            "tests/fixtures/valid/inventory-prod.yaml",
        ),
    ] {
        let out = runbook(["plan", playbook, "-i", inventory, "--format", "markdown"]).run();
        out.expect_code(0);
        assert_survives_github(&out.stdout);
    }
    let out = runbook([
        "plan",
        "--diff",
        "tests/fixtures/valid/full.yaml",
        HOSTILE,
        "--format",
        "markdown",
    ])
    .run();
    out.expect_code(0);
    let html = assert_survives_github(&out.stdout);
    assert!(html.contains("Drop &lt;tables&gt;"), "{html}");
}

/// Node ids Mermaid reads as keywords.
const RESERVED: &[&str] = &[
    "end",
    "graph",
    "flowchart",
    "subgraph",
    "style",
    "class",
    "classDef",
    "click",
    "linkStyle",
    "direction",
    "default",
];

/// Checks a chart line by line against the small grammar the renderer writes: quoted labels
/// with only Mermaid's own entities, known shapes, edges between defined nodes, balanced
/// subgraphs, no reserved or `o`/`x`-led ids, no edge to the stop node from every step.
fn check_mermaid(chart: &str, what: &str) {
    let mut lines = chart.lines();
    assert_eq!(lines.next(), Some("flowchart TD"), "{what}");
    let mut defined: BTreeSet<String> = BTreeSet::new();
    let mut edges: Vec<(String, String)> = Vec::new();
    defined.extend(["start", "done", "stop"].map(String::from));
    let mut depth = 0i32;
    let id_ok = |id: &str| {
        !id.is_empty()
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !RESERVED.contains(&id)
            && !id.starts_with(['o', 'x'])
    };
    let label_ok = |label: &str| {
        let plain = label.replace("<br/>", "");
        !plain.contains(['"', '<', '>', '`'])
            && plain.match_indices('#').all(|(i, _)| {
                let rest = &plain[i + 1..];
                let entity: String = rest
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                !entity.is_empty() && rest[entity.len()..].starts_with(';')
            })
    };
    for line in lines {
        let t = line.trim();
        if t == "end" {
            depth -= 1;
            assert!(depth >= 0, "{what}: unbalanced end\n{chart}");
            continue;
        }
        if t == "direction LR" {
            continue;
        }
        if let Some(rest) = t.strip_prefix("subgraph ") {
            let (id, label) = rest.split_once("[\"").expect("subgraph ID[\"label\"]");
            let label = label.strip_suffix("\"]").expect("a closed label");
            assert!(id_ok(id) && label_ok(label), "{what}: {t}");
            defined.insert(id.to_owned());
            depth += 1;
            continue;
        }
        let words: Vec<&str> = t.split(' ').collect();
        if words.len() >= 3
            && (words[1] == "-->"
                || words[1] == "-.->"
                || words[1].starts_with("-->|")
                || words[1].starts_with("-.->|"))
        {
            // `A --> B`, `A -.-> B`, `A -->|"label"| B` (labels may hold spaces).
            let from = words[0];
            let to = *words.last().unwrap();
            if let Some(start) = t.find("|\"") {
                let end = t.rfind("\"|").unwrap();
                assert!(label_ok(&t[start + 2..end]), "{what}: {t}");
            }
            assert!(id_ok(from) && id_ok(to), "{what}: {t}");
            edges.push((from.to_owned(), to.to_owned()));
            continue;
        }
        // A node: ID, an opening shape, a quoted label, the closing shape.
        let at = t
            .find('"')
            .unwrap_or_else(|| panic!("{what}: not a node: {t}"));
        let (head, rest) = t.split_at(at);
        let shape = ["[/", "([", "[[", "{{", "[", ">", "(((", "("]
            .into_iter()
            .find(|s| head.ends_with(s))
            .unwrap_or_else(|| panic!("{what}: unknown shape: {t}"));
        let id = &head[..head.len() - shape.len()];
        let close = match shape {
            "[/" => "\"/]",
            "([" => "\"])",
            "[[" => "\"]]",
            "{{" => "\"}}",
            "(((" => "\")))",
            "(" => "\")",
            _ => "\"]",
        };
        let label = rest[1..]
            .strip_suffix(close)
            .unwrap_or_else(|| panic!("{what}: {t}"));
        assert!(id_ok(id) && label_ok(label), "{what}: {t}");
        defined.insert(id.to_owned());
    }
    assert_eq!(depth, 0, "{what}: unbalanced subgraphs\n{chart}");
    for (from, to) in &edges {
        assert!(
            defined.contains(from) && defined.contains(to),
            "{what}: {from} --> {to}\n{chart}"
        );
    }
    // Readable: a plain failure (stop the run) draws no edge; only a page on the way does.
    for line in chart.lines().filter(|l| l.ends_with(" stop")) {
        assert!(line.contains("page "), "{what}: {line}\n{chart}");
    }
}

/// The chart inside a plan's Markdown.
fn chart_of(markdown: &str) -> String {
    let start = markdown.find("```mermaid\n").expect("a chart") + "```mermaid\n".len();
    let end = start + markdown[start..].find("```").unwrap();
    markdown[start..end].to_owned()
}

#[test]
fn every_seed_plan_survives_github_and_its_chart_avoids_what_breaks_mermaid() {
    let mut charts = 0;
    let hostile = runbook(["plan", HOSTILE, "--format", "markdown"]).run();
    check_mermaid(&chart_of(&hostile.stdout), HOSTILE);
    for (rel, inventory) in seed_playbooks() {
        let out = runbook(["plan", &rel, "-i", &inventory, "--format", "markdown"]).run();
        out.expect_code(0);
        check_mermaid(&chart_of(&out.stdout), &rel);
        assert_survives_github(&out.stdout);
        charts += 1;
    }
    assert!(charts >= 90, "{charts}");
}

#[test]
fn the_chart_draws_groups_skips_and_only_the_failures_that_go_somewhere() {
    let out = runbook(["plan", HOSTILE, "--format", "markdown"]).run();
    let chart = chart_of(&out.stdout);
    // Parallel children in a box; a `when` step's skip follows the engine (on to its
    // `on_success`); the default failure (stop) draws nothing, a page before stopping does.
    assert!(chart.contains("  subgraph s4[\"4 group · at once\"]\n    direction LR\n    s4_1[\"4.1 one\"]\n    s4_2[\"4.2 two\"]\n  end\n"), "{chart}");
    assert!(
        chart.contains("  s2 -->|\"ok or skipped\"| s7\n"),
        "{chart}"
    );
    assert!(chart.contains("  s1 -.->|\"fail\"| s3\n"), "{chart}");
    assert!(
        chart.contains("  s6 -.->|\"fail, page lead\"| stop\n"),
        "{chart}"
    );
    assert!(!chart.contains("s3 -.->"), "{chart}");
    assert!(chart.contains("  s5[[\"5 sub\"]]\n"), "{chart}");
}
