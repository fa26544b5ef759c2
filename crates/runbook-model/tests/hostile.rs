//! Hostile and broken input: whatever the bytes, `check_bytes` returns error diagnostics and
//! never panics, overflows the stack or runs away with memory.
//!
//! These tests run on the test harness's threads (2 MiB stacks, like tokio's workers), which
//! is where deep recursion would show first.

use std::path::Path;

use proptest::prelude::*;
use runbook_model::{Checked, Diagnostic, Severity, check_bytes};

fn check(bytes: impl Into<Vec<u8>>) -> Checked {
    check_bytes(Path::new("hostile.yaml"), bytes.into())
}

fn show(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| format!("  {} {}:{} {}\n", d.code, d.line, d.column, d.message))
        .collect()
}

/// Asserts the input was refused with exactly one error of `code`; returns it.
#[track_caller]
fn refused(bytes: impl Into<Vec<u8>>, code: &str) -> Diagnostic {
    let checked = check(bytes);
    assert!(
        checked.document.is_none(),
        "expected `{code}`, but the input parsed; diagnostics:\n{}",
        show(&checked.diagnostics)
    );
    assert_eq!(
        checked
            .diagnostics
            .iter()
            .map(|d| (d.code, d.severity))
            .collect::<Vec<_>>(),
        vec![(code, Severity::Error)],
        "{}",
        show(&checked.diagnostics)
    );
    let d = checked.diagnostics.into_iter().next().unwrap();
    // Rendering must cope with whatever place the diagnostic points at.
    let _ = d.render_human(false);
    let _ = d.render_github();
    d
}

const HEADER: &str = "apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n  name: t\n";

// ---------------------------------------------------------------------------------------------
// Not YAML, not UTF-8, nothing at all

#[test]
fn not_yaml() {
    for text in [
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata: {name: t\n",
        "apiVersion: runbook/v1\nkind: Playbook\nsteps: [\n",
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n  name: 'unterminated\n",
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n\tname: t\n",
        "apiVersion: runbook/v1\nkind: Playbook\n: : : ]]] }}}\n",
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata: *nowhere\n",
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata: !!binary x\n",
        "{{{{{{{{",
        "]",
        "%YAML 9.9\n---\na: b\n",
        "apiVersion: runbook/v1\nkind: Playbook\nparams:\n  a: 1\n  a: 2\n",
    ] {
        let checked = check(text);
        assert!(checked.has_errors(), "{text:?} was accepted");
        assert!(checked.document.is_none(), "{text:?} parsed");
        for d in &checked.diagnostics {
            assert!(d.line >= 1, "{text:?}: {}", show(&checked.diagnostics));
        }
    }
}

#[test]
fn not_yaml_points_at_the_problem() {
    let d = refused(
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n\tname: t\n",
        "invalid-yaml",
    );
    assert_eq!((d.line, d.column), (4, 2), "{}", d.message);
    assert!(d.message.contains("tab"), "{}", d.message);
}

#[test]
fn not_utf8_points_at_the_bad_byte() {
    // Line 5: `  title: Zürich ` then a lone continuation byte after two valid multi-byte chars.
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice("  title: Zürich ✓".as_bytes());
    bytes.push(0x80);
    bytes.extend_from_slice(b"\nsteps: []\n");
    let d = refused(bytes, "not-utf8");
    // Columns count characters: `  title: Zürich ✓` is 17 characters, the bad byte is the 18th.
    assert_eq!((d.line, d.column), (5, 18));
    assert!(d.message.contains(&format!("byte {}", HEADER.len() + 20)));
}

#[test]
fn not_utf8_first_byte() {
    let d = refused(vec![0xFF, 0xFE, b'a', b':', b' ', b'b'], "not-utf8");
    assert_eq!((d.line, d.column), (1, 1));
}

#[test]
fn not_utf8_utf16_file() {
    let utf16: Vec<u8> = "apiVersion: runbook/v1\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(utf16);
    refused(bytes, "not-utf8");
}

#[test]
fn empty_file() {
    for text in ["", "\n", "   \n\n\t\n", "---\n", "---\n---\n"] {
        let d = refused(text, "empty");
        assert_eq!((d.line, d.column), (1, 1), "{text:?}");
    }
}

#[test]
fn comment_only_file() {
    let d = refused("# a playbook, one day\n# TODO\n\n", "empty");
    assert!(d.hint.unwrap().contains("apiVersion: runbook/v1"));
}

#[test]
fn document_end_marker_only() {
    let checked = check("---\n...\n");
    assert!(checked.has_errors() && checked.document.is_none());
}

#[test]
fn not_a_mapping() {
    for text in ["- a\n- b\n", "just text\n", "42\n", "null\n", "~\n", "[]\n"] {
        let checked = check(text);
        assert!(
            checked.has_errors() && checked.document.is_none(),
            "{text:?}: {}",
            show(&checked.diagnostics)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Size and resource bombs

#[test]
fn nine_mib_file_is_too_large() {
    let mut text = String::from(HEADER);
    text.push_str("steps:\n");
    let step = "  - id: s\n    run: echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n";
    while text.len() < 9 * 1024 * 1024 {
        text.push_str(step);
    }
    let d = refused(text, "too-large");
    assert_eq!(d.line, 0, "a file-level problem has no line");
    assert!(d.message.contains("8 MiB"), "{}", d.message);
}

#[test]
fn billion_laughs() {
    let text = format!(
        "{HEADER}vars:\n  \
         a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n  \
         b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n  \
         c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n  \
         d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n  \
         e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n  \
         f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n  \
         g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n  \
         h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n  \
         i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n\
         steps:\n  - id: a\n    run: echo\n"
    );
    let d = refused(text, "invalid-yaml");
    assert!(d.line >= 6, "{}:{} {}", d.line, d.column, d.message);
}

#[test]
fn alias_bomb_in_steps() {
    // Aliases of whole steps: each expansion would also be validated (and re-reported).
    let mut text = format!("{HEADER}x: &s0\n  - id: a\n    run: echo\n");
    for i in 1..40 {
        let prev = i - 1;
        text.push_str(&format!(
            "x{i}: &s{i} [*s{prev}, *s{prev}, *s{prev}, *s{prev}]\n"
        ));
    }
    text.push_str("steps: *s39\n");
    let checked = check(text);
    assert!(checked.has_errors() && checked.document.is_none());
}

#[test]
fn self_referencing_alias() {
    let checked = check(format!("{HEADER}vars:\n  a: &a [*a]\nsteps: []\n"));
    assert!(checked.has_errors() && checked.document.is_none());
}

#[test]
fn deep_flow_sequences() {
    let text = format!(
        "{HEADER}vars:\n  x: {}{}\nsteps: []\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    refused(text, "invalid-yaml");
}

#[test]
fn deep_unclosed_flow_sequences() {
    refused(
        format!("{HEADER}vars:\n  x: {}\n", "[".repeat(10_000)),
        "invalid-yaml",
    );
}

#[test]
fn deep_flow_mappings() {
    let text = format!(
        "{HEADER}vars:\n  x: {}1{}\nsteps: []\n",
        "{a: ".repeat(10_000),
        "}".repeat(10_000)
    );
    refused(text, "invalid-yaml");
}

#[test]
fn deep_block_mappings_compact() {
    // `? ? ? x` opens one block mapping per `?` on a single line: 10,000 levels in 20 KB.
    let text = format!(
        "{HEADER}vars:\n  x:\n    {}x\nsteps: []\n",
        "? ".repeat(10_000)
    );
    refused(text, "invalid-yaml");
}

#[test]
fn deep_block_sequences_compact() {
    let text = format!(
        "{HEADER}vars:\n  x:\n    {}x\nsteps: []\n",
        "- ".repeat(10_000)
    );
    refused(text, "invalid-yaml");
}

#[test]
fn deep_block_mappings_indented() {
    // One more space per level: 3,000 levels is 4.5 MB, under the size limit, so the parser
    // (not the size check) must refuse it.
    let mut text = format!("{HEADER}vars:\n");
    for depth in 0..3_000 {
        text.push_str(&" ".repeat(depth + 2));
        text.push_str("k:\n");
    }
    text.push_str(&" ".repeat(3_002));
    text.push_str("v\nsteps: []\n");
    refused(text, "invalid-yaml");
}

#[test]
fn deep_block_mappings_ten_thousand() {
    // 10,000 levels of indentation do not fit under the size limit: refused before parsing.
    let mut text = format!("{HEADER}vars:\n");
    for depth in 0..10_000 {
        text.push_str(&" ".repeat(depth + 2));
        text.push_str("k:\n");
    }
    let checked = check(text);
    assert!(checked.has_errors() && checked.document.is_none());
}

/// A playbook whose steps nest `parallel` inside `parallel`, `depth` levels deep.
fn nested_parallel(depth: usize) -> String {
    let mut text = format!("{HEADER}steps:\n");
    let mut indent = String::from("  ");
    for i in 0..depth {
        text.push_str(&format!("{indent}- id: p{i}\n{indent}  parallel:\n"));
        indent.push_str("    ");
    }
    text.push_str(&format!("{indent}- id: leaf\n{indent}  run: echo\n"));
    text
}

/// Runs `f` on a thread with the main thread's usual 8 MiB stack, where the binary parses.
fn on_main_sized_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn deep_parallel_nesting() {
    // YAML's depth budget stops the nesting at about 30 levels, before the stack does (on the
    // stack size `runbook` runs with).
    on_main_sized_stack(|| {
        let checked = check(nested_parallel(30));
        assert!(
            checked.diagnostics.is_empty(),
            "{}",
            show(&checked.diagnostics)
        );
        let d = refused(nested_parallel(100), "invalid-yaml");
        assert!(d.message.contains("budget"), "{}", d.message);
    });
}

#[test]
fn deep_parallel_nesting_on_a_small_stack() {
    // Runs on the test harness thread (2 MiB). Within the depth budget, so it must parse.
    let checked = check(nested_parallel(20));
    assert!(
        checked.diagnostics.is_empty(),
        "{}",
        show(&checked.diagnostics)
    );
}

#[test]
fn deep_template_nesting() {
    // minijinja's parser has its own recursion limit: each case is a template-syntax error.
    let cases = [
        format!(
            "    run: \"echo {{{{ {}1{} }}}}\"\n",
            "(".repeat(10_000),
            ")".repeat(10_000)
        ),
        format!(
            "    run: \"echo {{{{ {}{} }}}}\"\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        ),
        format!(
            "    run: \"{}x{}\"\n",
            "{% if true %}".repeat(5_000),
            "{% endif %}".repeat(5_000)
        ),
        format!(
            "    when: \"{}1{}\"\n    run: echo\n",
            "(".repeat(10_000),
            ")".repeat(10_000)
        ),
    ];
    for case in cases {
        let text = format!("{HEADER}steps:\n  - id: a\n{case}");
        let d = refused_or_errors(text);
        assert_eq!(d.code, "template-syntax", "{}", d.message);
    }
}

/// The first error of an input that parses but does not validate.
#[track_caller]
fn refused_or_errors(text: String) -> Diagnostic {
    let checked = check(text);
    assert!(checked.has_errors(), "{}", show(&checked.diagnostics));
    checked
        .diagnostics
        .into_iter()
        .find(Diagnostic::is_error)
        .unwrap()
}

/// A `run` whose one placeholder is `1 + 1 + ...` with `terms` additions.
fn long_chain(terms: usize) -> String {
    format!(
        "{HEADER}steps:\n  - id: a\n    run: \"echo {{{{ 1{} }}}}\"\n",
        " + 1".repeat(terms)
    )
}

#[test]
fn long_template_chains() {
    // Long but flat: accepted.
    let checked = check(long_chain(2_000));
    assert!(
        checked.diagnostics.is_empty(),
        "{}",
        show(&checked.diagnostics)
    );
}

#[test]
fn very_long_template_chain_is_refused_not_a_crash() {
    let checked = on_main_sized_stack(|| check(long_chain(100_000)));
    assert!(checked.has_errors(), "{}", show(&checked.diagnostics));
}

#[test]
fn regex_bomb() {
    let text = format!(
        "{HEADER}steps:\n  - id: a\n    run: echo\n    expect: {{ stdout: {{ matches: \"((a{{1000}}){{1000}}){{1000}}\" }} }}\n"
    );
    let d = refused_or_errors(text);
    assert_eq!(d.code, "bad-regex", "{}", d.message);
}

#[test]
fn huge_numbers() {
    for (field, code) in [
        ("    wait: 99999999999999999999999s\n", "bad-duration"),
        (
            "    run: echo\n    max_visits: 99999999999\n",
            "invalid-yaml",
        ),
        (
            "    run: echo\n    expect: { exit: 99999999999 }\n",
            "invalid-yaml",
        ),
        (
            "    run: echo\n    retry: { attempts: -1 }\n",
            "invalid-yaml",
        ),
    ] {
        let text = format!("{HEADER}steps:\n  - id: a\n{field}");
        let d = refused_or_errors(text);
        assert_eq!(d.code, code, "{field:?}: {}", d.message);
    }
}

// ---------------------------------------------------------------------------------------------
// Wrong types

#[test]
fn wrong_types() {
    // (YAML after the header, the line the error must point at)
    let cases: &[(&str, usize)] = &[
        ("steps: \"run everything\"\n", 5),
        ("steps: {id: a}\n", 5),
        ("steps:\n  - run echo\n", 6),
        ("steps:\n  - id: [a]\n    run: echo\n", 6),
        ("steps:\n  - id: a\n    run: [echo, hi]\n", 7),
        (
            "steps:\n  - id: a\n    run: echo\n    expect: { exit: zero }\n",
            8,
        ),
        ("steps:\n  - id: a\n    run: echo\n    expect: [exit]\n", 8),
        ("steps:\n  - id: a\n    run: echo\n    on_failure: [a]\n", 8),
        (
            "steps:\n  - id: a\n    run: echo\n    on_failure: { then: a }\n",
            8,
        ),
        ("steps:\n  - id: a\n    run: echo\n    danger: yes\n", 8),
        ("steps:\n  - id: a\n    run: echo\n    retry: 3\n", 8),
        (
            "steps:\n  - id: a\n    run: echo\n    max_visits: many\n",
            8,
        ),
        ("steps:\n  - id: a\n    run: echo\n    capture: [x]\n", 8),
        ("steps:\n  - id: a\n    parallel: { id: b }\n", 7),
        ("params: [a, b]\nsteps: []\n", 5),
        ("params:\n  a: { type: float }\nsteps: []\n", 6),
        ("params:\n  a: { secret: \"yes\" }\nsteps: []\n", 6),
        ("vars: [a]\nsteps: []\n", 5),
        ("escalation: { after: 5m }\nsteps: []\n", 5),
        (
            "escalation:\n  - after: 5m\n    notify: lead\nsteps: []\n",
            7,
        ),
    ];
    for (rest, line) in cases {
        let text = format!("{HEADER}{rest}");
        let checked = check(text.clone());
        let errors: Vec<_> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .collect();
        assert!(!errors.is_empty(), "accepted:\n{text}");
        assert_eq!(
            errors[0].line,
            *line,
            "wrong line for:\n{text}\n{}",
            show(&checked.diagnostics)
        );
    }
}

#[test]
fn wrong_types_in_metadata_and_header() {
    let cases: &[(&str, &str, usize)] = &[
        (
            "apiVersion: runbook/v1\nkind: Playbook\nmetadata: [a, b]\nsteps: []\n",
            "invalid-yaml",
            3,
        ),
        (
            "apiVersion: runbook/v1\nkind: Playbook\nmetadata: name\nsteps: []\n",
            "invalid-yaml",
            3,
        ),
        (
            "apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n  name: [t]\nsteps: []\n",
            "invalid-yaml",
            4,
        ),
        (
            "apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n  name: t\n  severity: P9\nsteps: []\n",
            "invalid-yaml",
            5,
        ),
        (
            "apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n  name: t\n  owners: sre\nsteps: []\n",
            "invalid-yaml",
            5,
        ),
        (
            "apiVersion: [runbook/v1]\nkind: Playbook\n",
            "invalid-yaml",
            1,
        ),
        (
            "apiVersion: runbook/v1\nkind: { name: Playbook }\n",
            "invalid-yaml",
            2,
        ),
        ("apiVersion: 1\nkind: Playbook\n", "unknown-version", 1),
        ("apiVersion: runbook/v1\nkind: 3\n", "unknown-kind", 2),
        (
            "apiVersion: runbook/v1\nkind: Inventory\nhosts: [web-1]\n",
            "invalid-yaml",
            3,
        ),
        (
            "apiVersion: runbook/v1\nkind: Inventory\nhosts:\n  a: { port: 99999 }\n",
            "invalid-yaml",
            4,
        ),
        (
            "apiVersion: runbook/v1\nkind: Inventory\ngroups:\n  a: 3\n",
            "invalid-yaml",
            4,
        ),
        (
            "apiVersion: runbook/v1\nkind: Inventory\nsecrets: token\n",
            "invalid-yaml",
            3,
        ),
    ];
    for (text, code, line) in cases {
        let d = refused(*text, code);
        assert_eq!(d.line, *line, "{text}\n{}", d.message);
    }
}

// ---------------------------------------------------------------------------------------------
// Never panic, whatever the bytes

const VALID: &str = r#"apiVersion: runbook/v1
kind: Playbook
metadata:
  name: fuzz-me
  version: 1.0.0
params:
  service: { type: string, default: apeg.service }
  n: { type: int, default: 3 }
  mode: { type: choice, choices: [a, b], default: a }
vars:
  url: "https://{{ service }}/health"
escalation:
  - after: 15m
    notify: [lead]
    message: "{{ metadata.name }} late"
steps:
  - id: status
    run: |
      systemctl is-active {{ service }}
      docker ps --format {% raw %}'{{.Names}}'{% endraw %}
    expect: { exit: [0, 3], stdout: { contains: active, matches: '^a' } }
    capture: { state: { regex: '(\w+)' } }
    checks:
      - if: "state == 'failed'"
        status: critical
        message: "{{ state }}"
    on_failure: restart
  - id: restart
    confirm: "Restart {{ service }}?"
    run: sudo systemctl restart {{ service }}
    retry: { attempts: 2, delay: 1s, backoff: 2.0 }
    timeout: 30s
    max_visits: 2
    on_failure: { escalate: lead, then: status }
  - id: group
    parallel:
      - id: one
        run: echo {{ n }}
      - id: two
        wait: 1s
  - id: ask
    manual: Check {{ url }}
    inputs: { ticket: { prompt: Ticket } }
finally:
  - id: report
    report: "{{ steps.status.status }} {{ ticket }}"
"#;

/// Bytes that mean something to YAML, minijinja or the shell scanner.
const SIGNIFICANT: &[&[u8]] = &[
    b":",
    b"-",
    b"- ",
    b"[",
    b"]",
    b"{",
    b"}",
    b"{{",
    b"}}",
    b"{%",
    b"%}",
    b"&a",
    b"*a",
    b"!",
    b"!!str",
    b"|",
    b">",
    b"'",
    b"\"",
    b"#",
    b"\n",
    b"\r\n",
    b"\t",
    b"  ",
    b"---",
    b"...",
    b"?",
    b"%",
    b"@",
    b"`",
    b",",
    b"\\",
    b"\0",
    b"\xff",
    b"\xc3",
    "é".as_bytes(),
    "✓".as_bytes(),
    b"{% raw %}",
    b"{% endraw %}",
    b"| raw",
    b"~",
    b"null",
    b"<<: *a",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, what: usize },
    InsertBytes { at: usize, bytes: Vec<u8> },
    DuplicateLine { line: usize },
    SwapLines { a: usize, b: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..40usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), any::<usize>()).prop_map(|(at, what)| Mutation::Insert { at, what }),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::InsertBytes { at, bytes }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(mut bytes: Vec<u8>, mutation: &Mutation) -> Vec<u8> {
    let len = bytes.len().max(1);
    match mutation {
        Mutation::Delete { at, len: n } => {
            let at = at % len;
            let end = (at + n).min(bytes.len());
            bytes.drain(at.min(end)..end);
        }
        Mutation::Insert { at, what } => {
            let at = at % (bytes.len() + 1);
            let what = SIGNIFICANT[what % SIGNIFICANT.len()];
            bytes.splice(at..at, what.iter().copied());
        }
        Mutation::InsertBytes { at, bytes: new } => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, new.iter().copied());
        }
        Mutation::DuplicateLine { line } => {
            let mut lines: Vec<Vec<u8>> =
                bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
            let i = line % lines.len();
            lines.insert(i, lines[i].clone());
            bytes = lines.join(&b'\n');
        }
        Mutation::SwapLines { a, b } => {
            let mut lines: Vec<Vec<u8>> =
                bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
            let n = lines.len();
            lines.swap(a % n, b % n);
            bytes = lines.join(&b'\n');
        }
        Mutation::Truncate { at } => bytes.truncate(at % len),
    }
    bytes
}

/// What must hold for any input: no panic (implicit), a place for every diagnostic that
/// renders, errors whenever nothing parsed.
fn assert_sane(bytes: Vec<u8>) {
    let lines = bytes.split(|b| *b == b'\n').count();
    let checked = check(bytes);
    if checked.document.is_none() {
        assert!(checked.has_errors(), "nothing parsed, yet no error");
    }
    for d in &checked.diagnostics {
        assert!(d.line <= lines, "line {} of {lines}: {}", d.line, d.message);
        assert!(!d.message.is_empty());
        let _ = d.render_human(false);
        let _ = d.render_human(true);
        let _ = d.render_github();
    }
}

#[test]
fn the_fuzz_seed_is_valid() {
    let checked = check(VALID);
    assert!(
        checked.diagnostics.is_empty(),
        "{}",
        show(&checked.diagnostics)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        assert_sane(bytes);
    }

    #[test]
    fn arbitrary_text_after_a_valid_header_never_panics(rest in "\\PC{0,400}") {
        assert_sane(format!("{HEADER}{rest}").into_bytes());
    }

    #[test]
    fn mutated_playbooks_never_panic(mutations in proptest::collection::vec(mutation(), 1..8)) {
        let bytes = mutations.iter().fold(VALID.as_bytes().to_vec(), apply);
        assert_sane(bytes);
    }
}
