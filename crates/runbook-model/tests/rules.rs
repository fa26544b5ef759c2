//! One test per validation rule: the smallest playbook (or inventory) that breaks exactly that
//! rule, with the diagnostic's code, severity, line and column. A final "clean" test shows a
//! playbook using every feature of FORMAT.md produces no diagnostic at all.
//!
//! Every YAML text below is dedented by [`yaml`], so line 1 is the `apiVersion:` line and
//! columns count from the left edge of the playbook as a user would see it in an editor.

use std::path::{Path, PathBuf};

use runbook_model::{Diagnostic, Document, Severity, check_bytes, check_file};

use Severity::{Error, Warning};

mod support;
use support::{check, show, yaml};

/// Checks `text` and asserts it produces exactly one diagnostic, at this place.
#[track_caller]
fn expect_one(
    text: &str,
    code: &str,
    severity: Severity,
    line: usize,
    column: usize,
) -> Diagnostic {
    let diagnostics = check(text);
    assert_eq!(
        diagnostics.len(),
        1,
        "expected exactly one `{code}`, got:\n{}",
        show(&diagnostics)
    );
    let d = diagnostics.into_iter().next().unwrap();
    assert_eq!(
        (d.code, d.severity, d.line, d.column),
        (code, severity, line, column),
        "unexpected diagnostic: {}",
        show(std::slice::from_ref(&d))
    );
    d
}

#[track_caller]
fn expect_clean(text: &str) {
    let diagnostics = check(text);
    assert!(
        diagnostics.is_empty(),
        "expected no diagnostics, got:\n{}",
        show(&diagnostics)
    );
}

// ---------------------------------------------------------------------------------------------
// Step ids and actions

#[test]
fn duplicate_id() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo one
          - id: a
            run: echo two
        "#,
        "duplicate-id",
        Error,
        8,
        9,
    );
    assert_eq!(d.message, "duplicate step id `a`");
    assert_eq!(d.hint.as_deref(), Some("first defined at line 6"));
}

#[test]
fn duplicate_id_nested_in_a_parallel_child() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: db
            run: echo one
          - id: deps
            parallel:
              - id: redis
                run: echo two
              - id: db
                run: echo three
        "#,
        "duplicate-id",
        Error,
        12,
        13,
    );
    assert_eq!(d.hint.as_deref(), Some("first defined at line 6"));
}

#[test]
fn duplicate_id_between_steps_and_finally() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo one
        finally:
          - id: a
            report: done
        "#,
        "duplicate-id",
        Error,
        9,
        9,
    );
}

#[test]
fn bad_id_empty() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: ""
            run: echo
        "#,
        "bad-id",
        Error,
        6,
        9,
    );
}

#[test]
fn no_action() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            name: does nothing
        "#,
        "no-action",
        Error,
        6,
        9,
    );
    assert_eq!(d.message, "step `a` has no action");
}

#[test]
fn many_actions() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            wait: 5s
        "#,
        "many-actions",
        Error,
        6,
        9,
    );
    assert!(d.message.contains("(run, wait)"), "{}", d.message);
}

#[test]
fn no_steps_warns() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps: []
        "#,
        "no-steps",
        Warning,
        2,
        7,
    );
}

// ---------------------------------------------------------------------------------------------
// Flow: goto targets, reachability, loops

#[test]
fn unknown_target_on_failure() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            on_failure: nope
        "#,
        "unknown-target",
        Error,
        8,
        17,
    );
    assert_eq!(d.message, "goto target `nope` is not a step");
    assert_eq!(d.hint.as_deref(), Some("the steps under `steps:` are: a"));
}

#[test]
fn unknown_target_on_success() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            on_success: nope
        "#,
        "unknown-target",
        Error,
        8,
        17,
    );
}

#[test]
fn unknown_target_escalate_then() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            on_failure: { escalate: oncall, then: nope }
        "#,
        "unknown-target",
        Error,
        8,
        43,
    );
}

#[test]
fn unknown_target_escalate_then_points_at_the_target() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            on_failure: { escalate: oncall, then: e }
        "#,
        "unknown-target",
        Error,
        8,
        43,
    );
}

#[test]
fn unknown_target_nested_step_is_not_a_goto_target() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            on_failure: child
          - id: group
            parallel:
              - id: child
                run: echo
        "#,
        "unknown-target",
        Error,
        8,
        17,
    );
    assert!(d.hint.unwrap().contains("nested"));
}

#[test]
fn unreachable() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            on_success: c
          - id: b
            run: echo
          - id: c
            run: echo
        "#,
        "unreachable",
        Warning,
        9,
        9,
    );
    assert_eq!(d.message, "no path reaches step `b`");
}

#[test]
fn goto_loop_without_max_visits_warns() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: restart
            run: echo restart
          - id: verify
            run: echo verify
            on_failure: restart
        "#,
        "goto-loop",
        Warning,
        8,
        9,
    );
    assert!(d.message.contains("`verify` can go back to `restart`"));
}

#[test]
fn goto_loop_through_on_success_warns() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
          - id: b
            run: echo
            on_success: a
        "#,
        "goto-loop",
        Warning,
        8,
        9,
    );
}

#[test]
fn goto_loop_with_max_visits_is_fine() {
    // The bound may sit on any step of the loop: the one jumping back or its target.
    expect_clean(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: restart
            run: echo restart
          - id: verify
            run: echo verify
            max_visits: 3
            on_failure: restart
        "#,
    );
    expect_clean(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: restart
            run: echo restart
            max_visits: 2
          - id: verify
            run: echo verify
            on_failure: restart
        "#,
    );
}

#[test]
fn forward_goto_is_not_a_loop() {
    expect_clean(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: status
            run: echo status
            on_failure: restart
          - id: restart
            run: echo restart
        "#,
    );
}

// ---------------------------------------------------------------------------------------------
// Durations, regexes, matchers, captures, retries

#[test]
fn bad_duration() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            wait: 10x
        "#,
        "bad-duration",
        Error,
        7,
        11,
    );
    assert!(d.message.contains("`10x`"), "{}", d.message);
}

#[test]
fn bad_duration_without_a_unit() {
    // `30` is read as the text "30": it parses as YAML, and the validator points at it.
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            timeout: 30
        "#,
        "bad-duration",
        Error,
        8,
        14,
    );
}

#[test]
fn bad_duration_in_escalation_retry_and_watch() {
    let diagnostics = check(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        escalation:
          - after: soon
            notify: [lead]
        steps:
          - id: a
            run: echo
            retry: { attempts: 2, delay: 1 }
            watch: { every: 1h 30m, for: 2w }
        "#,
    );
    let found: Vec<_> = diagnostics
        .iter()
        .map(|d| (d.code, d.line, d.column))
        .collect();
    assert_eq!(
        found,
        vec![
            ("bad-duration", 6, 12),
            ("bad-duration", 11, 34),
            ("bad-duration", 12, 21),
            ("bad-duration", 12, 34),
        ],
        "{}",
        show(&diagnostics)
    );
}

#[test]
fn bad_regex_in_expect() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            expect: { stdout: { matches: "(" } }
        "#,
        "bad-regex",
        Error,
        8,
        34,
    );
    assert!(d.message.contains("unclosed group"), "{}", d.message);
}

#[test]
fn bad_regex_in_capture() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            capture:
              pct: { regex: '(\d+%' }
        "#,
        "bad-regex",
        Error,
        9,
        21,
    );
}

#[test]
fn bad_matcher_empty() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            expect: { stdout: {} }
        "#,
        "bad-matcher",
        Error,
        8,
        23,
    );
}

#[test]
fn bad_capture_two_sources() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            capture:
              x: { json: a.b, stdout: true }
        "#,
        "bad-capture",
        Error,
        9,
        10,
    );
}

#[test]
fn bad_capture_no_source() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            capture:
              x: {}
        "#,
        "bad-capture",
        Error,
        9,
        10,
    );
}

#[test]
fn bad_retry() {
    let diagnostics = check(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            retry: { attempts: 0, backoff: 20.0 }
        "#,
    );
    let found: Vec<_> = diagnostics
        .iter()
        .map(|d| (d.code, d.line, d.column, d.message.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("bad-retry", 8, 12, "retry.attempts must be at least 1"),
            (
                "bad-retry",
                8,
                12,
                "retry.backoff must be between 1.0 and 10.0"
            ),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Templates

#[test]
fn template_syntax() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo {{ x + }}
        "#,
        "template-syntax",
        Error,
        7,
        22,
    );
    assert!(d.message.starts_with("template error: syntax error"));
}

#[test]
fn template_syntax_in_a_block_scalar_maps_to_the_file_line() {
    // The template is the *parsed* block (indentation stripped); the diagnostic must still
    // point at line 10 of the file, at the `}}` the parser choked on.
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: |
              set -e
              echo one
              echo {{ x + }}
              echo three
        "#,
        "template-syntax",
        Error,
        10,
        19,
    );
    assert_eq!(d.source_line, "      echo {{ x + }}");
}

#[test]
fn template_syntax_after_an_escaped_line_break() {
    // `\n` in a double-quoted scalar is a line break of the template but not of the file.
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            manual: "Step one.\nThen {% if %} step two."
        "#,
        "template-syntax",
        Error,
        7,
        36,
    );
}

#[test]
fn template_syntax_in_an_expression() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            when: "1 >"
            run: echo
        "#,
        "template-syntax",
        Error,
        7,
        11,
    );
    assert!(d.message.starts_with("expression error"));
}

#[test]
fn undefined_name_in_run() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo {{ nope }}
        "#,
        "undefined-name",
        Error,
        7,
        18,
    );
    assert_eq!(d.message, "`nope` is not declared");
    assert_eq!(d.width, 4);
}

#[test]
fn undefined_name_in_when_env_with_and_escalation() {
    let diagnostics = check(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        escalation:
          - after: 5m
            notify: [lead]
            message: "{{ n1 }}"
        steps:
          - id: a
            when: n2 > 1
            run: echo
            env: { A: "{{ n3 }}" }
          - id: b
            playbook: t.yaml
            with: { x: "{{ n4 }}" }
        "#,
    );
    let found: Vec<_> = diagnostics
        .iter()
        .filter(|d| d.code == "undefined-name")
        .map(|d| (d.message.as_str(), d.line, d.column))
        .collect();
    assert_eq!(
        found,
        vec![
            ("`n1` is not declared", 8, 18),
            ("`n2` is not declared", 11, 11),
            ("`n3` is not declared", 13, 19),
            ("`n4` is not declared", 16, 20),
        ],
        "{}",
        show(&diagnostics)
    );
}

#[test]
fn captures_and_inputs_are_visible_after_their_step_only() {
    let diagnostics = check(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: early
            run: echo {{ version }}
          - id: probe
            run: echo 1.2
            capture: { version: { stdout: true } }
            checks:
              - if: version == "0"
                status: critical
                message: "bad {{ version }}"
          - id: ask
            manual: Open a ticket.
            inputs:
              ticket: { prompt: Ticket URL }
          - id: late
            when: version and ticket
            run: echo {{ version }} {{ ticket }}
        "#,
    );
    assert_eq!(
        diagnostics
            .iter()
            .map(|d| (d.code, d.line, d.column))
            .collect::<Vec<_>>(),
        vec![("undefined-name", 7, 18)],
        "{}",
        show(&diagnostics)
    );
}

#[test]
fn parallel_child_cannot_read_a_sibling_capture() {
    // Children run concurrently: `b` may start before `a` has captured anything. After the
    // group, every child's captures are visible.
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: group
            parallel:
              - id: a
                run: echo 1
                capture: { v: { stdout: true } }
              - id: b
                run: echo {{ v }}
          - id: after
            run: echo {{ v }}
        "#,
        "undefined-name",
        Error,
        12,
        22,
    );
}

#[test]
fn undefined_name_in_a_block_scalar_maps_to_the_file_line() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: |
              echo ok
              echo {{ k }}
        "#,
        "undefined-name",
        Error,
        9,
        15,
    );
}

#[test]
fn undefined_name_points_at_the_placeholder_not_an_earlier_substring() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo {{ o }}
        "#,
        "undefined-name",
        Error,
        7,
        18,
    );
}

#[test]
fn unknown_step() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo {{ steps.zz.status }}
        "#,
        "unknown-step",
        Error,
        7,
        18,
    );
    assert_eq!(d.message, "`steps.zz`: no step has the id `zz`");
}

#[test]
fn known_step_references_are_fine() {
    expect_clean(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
        finally:
          - id: summary
            report: "a was {{ steps.a.status }} in {{ steps.a.duration }}"
        "#,
    );
}

#[test]
fn placeholders_inside_quotes_are_fine() {
    // Each value is quoted for the quotes it lands in: `"…"`, `'…'`, `$'…'`, here-documents.
    expect_clean(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: |
              curl -H "Authorization: Bearer {{ metadata.name }}" 'x{{ metadata.name }}' $'{{ metadata.name }}'
              cat <<EOF
              {{ metadata.name }}
              EOF
        "#,
    );
}

#[test]
fn unsafe_placeholder_in_backquotes() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo `cat {{ metadata.name }}`
        "#,
        "unsafe-placeholder",
        Error,
        7,
        20,
    );
    assert!(d.message.contains("backquotes"), "{}", d.message);
    assert_eq!(d.width, "{{ metadata.name }}".len());
    assert!(d.hint.as_deref().unwrap().contains("$( ... )"));
}

#[test]
fn unsafe_placeholder_in_a_block_scalar() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: |
              echo one
              echo ${HOME:-{{ metadata.name }}}
        "#,
        "unsafe-placeholder",
        Error,
        9,
        20,
    );
}

#[test]
fn unsafe_placeholder_after_a_backslash_dollar_or_as_a_heredoc_delimiter() {
    let diagnostics = check(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo \{{ metadata.name }} ${{ metadata.name }}; cat <<{{ metadata.name }}
        "#,
    );
    let found: Vec<_> = diagnostics.iter().map(|d| (d.code, d.column)).collect();
    assert_eq!(
        found,
        vec![
            ("unsafe-placeholder", 16),
            ("unsafe-placeholder", 37),
            ("unsafe-placeholder", 64)
        ],
        "{}",
        show(&diagnostics)
    );
}

#[test]
fn every_ignored_opt_out_is_reported_where_it_is_written() {
    let diagnostics = check(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: "{% set x = metadata.name | safe %}{% autoescape false %}echo {{ x }} {{ metadata.name | e }} {{ metadata.name | escape }}{% endautoescape %}"
        "#,
    );
    let found: Vec<_> = diagnostics
        .iter()
        .map(|d| (d.code, d.severity, d.line, d.column, d.width))
        .collect();
    assert_eq!(
        found,
        vec![
            ("ignored-opt-out", Warning, 7, 38, 4),
            ("ignored-opt-out", Warning, 7, 48, 10),
            ("ignored-opt-out", Warning, 7, 99, 1),
            ("ignored-opt-out", Warning, 7, 123, 6),
        ],
        "{}",
        show(&diagnostics)
    );
    assert!(
        diagnostics[0]
            .message
            .contains("`safe` does not switch off")
    );
}

#[test]
fn tojson_is_not_an_opt_out() {
    // `tojson` output is quoted like any value, so it is not reported.
    expect_clean(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: curl -d {{ metadata | tojson }} localhost
        "#,
    );
}

#[test]
fn channel_commands_follow_the_shell_rules() {
    let diagnostics = check(
        r#"
        apiVersion: runbook/v1
        kind: Inventory
        channels:
          a: { command: "mail -s {{ subject | raw }} lead@example.com" }
          b: { command: "mail -s `echo {{ subject }}` lead@example.com" }
          c: { command: "mail -s {{ subject | tojson | safe }} lead@example.com" }
          d: { command: "mail -s \"[{{ level }}] {{ subject }}\" lead@example.com" }
        "#,
    );
    let found: Vec<_> = diagnostics
        .iter()
        .map(|d| (d.code, d.line, d.column))
        .collect();
    assert_eq!(
        found,
        vec![
            ("raw", 4, 39),
            ("unsafe-placeholder", 5, 32),
            ("ignored-opt-out", 6, 48),
        ],
        "{}",
        show(&diagnostics)
    );
    assert!(diagnostics[1].message.starts_with("channel `b`: "));
}

#[test]
fn quotes_only_matter_in_run() {
    // Text templates are not shell commands: quotes around a placeholder are just text.
    expect_clean(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            manual: "Type '{{ metadata.name }}' in the console"
        "#,
    );
}

#[test]
fn raw_block_with_go_template_braces_is_accepted() {
    expect_clean(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: names
            run: docker ps --format {% raw %}'{{.Names}}'{% endraw %}
        "#,
    );
}

#[test]
fn raw_filter_warns() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo {{ metadata.name | raw }}
        "#,
        "raw",
        Warning,
        7,
        34,
    );
    assert_eq!(d.width, 3);
}

#[test]
fn raw_inside_quotes_is_the_authors_choice() {
    // `| raw` opts out of quoting, so the quotes are deliberate: only the raw warning.
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo "{{ metadata.name | raw }}"
        "#,
        "raw",
        Warning,
        7,
        35,
    );
}

#[test]
fn destructive_unmarked() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: |
              cd /var/lib/app
              rm -rf ./cache
        "#,
        "destructive-unmarked",
        Warning,
        9,
        7,
    );
    assert!(d.message.starts_with("`rm -rf`"), "{}", d.message);
}

#[test]
fn destructive_marked_is_fine() {
    expect_clean(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            danger: destructive
            confirm_phrase: "{{ metadata.name }}"
            run: dropdb {{ metadata.name }}
        "#,
    );
}

// ---------------------------------------------------------------------------------------------
// Params, vars, names

#[test]
fn bad_param_choice_without_choices() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        params:
          mode: { type: choice }
        steps:
          - id: a
            run: echo {{ mode }}
        "#,
        "bad-param",
        Error,
        6,
        9,
    );
}

#[test]
fn bad_param_default_of_the_wrong_type() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        params:
          n: { type: int, default: abc }
        steps:
          - id: a
            run: echo {{ n }}
        "#,
        "bad-param",
        Error,
        6,
        28,
    );
    assert_eq!(
        d.message,
        "default of param `n`: expected an integer, got `abc`"
    );
}

#[test]
fn bad_param_default_not_among_choices() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        params:
          mode:
            type: choice
            choices: [fast, safe]
            default: reckless
        steps:
          - id: a
            run: echo {{ mode }}
        "#,
        "bad-param",
        Error,
        9,
        14,
    );
}

#[test]
fn reserved_name_param() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        params:
          host: { type: string, default: x }
        steps:
          - id: a
            run: echo
        "#,
        "reserved-name",
        Error,
        6,
        9,
    );
    assert_eq!(d.message, "param `host` shadows the built-in `host`");
}

#[test]
fn reserved_name_var_and_capture() {
    let diagnostics = check(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        vars:
          env: prod
        steps:
          - id: a
            run: echo
            capture:
              steps: { stdout: true }
        "#,
    );
    let found: Vec<_> = diagnostics
        .iter()
        .map(|d| (d.code, d.line, d.message.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("reserved-name", 6, "var `env` shadows the built-in `env`"),
            (
                "reserved-name",
                11,
                "capture `steps` shadows the built-in `steps`"
            ),
        ]
    );
}

#[test]
fn bad_name() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: Service_Down
        steps:
          - id: a
            run: echo
        "#,
        "bad-name",
        Error,
        4,
        9,
    );
}

#[test]
fn bad_version() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
          version: "1.2"
        steps:
          - id: a
            run: echo
        "#,
        "bad-version",
        Error,
        5,
        12,
    );
}

// ---------------------------------------------------------------------------------------------
// Misplaced modifiers and sub-playbooks

#[test]
fn misplaced_field() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            wait: 5s
            retry: { attempts: 2 }
        "#,
        "misplaced-field",
        Error,
        6,
        9,
    );
    assert_eq!(d.message, "step `a`: `retry` needs a `run` action");
}

#[test]
fn misplaced_field_every_modifier() {
    // Each case: a modifier and the message naming what it needs; always on step `a`, line 6.
    let cases = [
        ("manual: x\n    with: { u: v }", "`with` needs a `playbook`"),
        (
            "run: x\n    inputs: { u: { prompt: U } }",
            "`inputs/checklist` needs a `manual` action",
        ),
        (
            "run: x\n    checklist: [one]",
            "`inputs/checklist` needs a `manual` action",
        ),
        (
            "wait: 1s\n    expect: { exit: 0 }",
            "`expect` needs a `run` action",
        ),
        (
            "manual: x\n    capture: { v: { stdout: true } }",
            "`capture` needs a `run` action",
        ),
        (
            "wait: 1s\n    watch: { every: 1s, for: 5s }",
            "`watch` needs a `run` action",
        ),
        ("manual: x\n    on: web", "`on` needs a `run` action"),
        ("wait: 1s\n    env: { A: b }", "`env` needs a `run` action"),
        (
            "run: x\n    serial: 1",
            "`serial/max_fail` needs `on:` hosts",
        ),
        (
            "run: x\n    max_fail: 1",
            "`serial/max_fail` needs `on:` hosts",
        ),
        (
            "run: x\n    confirm_phrase: yes-really",
            "`confirm_phrase` needs `danger: destructive`",
        ),
        (
            "wait: 1s\n    checks: [{ if: 'true', status: ok }]",
            "`checks` needs a `run` or `manual` action",
        ),
    ];
    for (step, message) in cases {
        let text = format!(
            "apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n  name: t\nsteps:\n  - id: a\n    {step}\n"
        );
        let diagnostics = check_bytes(Path::new("t.yaml"), text.into_bytes()).diagnostics;
        let found: Vec<_> = diagnostics
            .iter()
            .map(|d| (d.code, d.line, d.column, d.message.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![(
                "misplaced-field",
                6,
                9,
                format!("step `a`: {message}").as_str()
            )],
            "case {step:?}"
        );
    }
}

#[test]
fn missing_playbook() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            playbook: ../nowhere/verify.yaml
        "#,
        "missing-playbook",
        Error,
        7,
        15,
    );
    assert_eq!(d.message, "sub-playbook `../nowhere/verify.yaml` not found");
    assert_eq!(d.width, "../nowhere/verify.yaml".len());
}

#[test]
fn unknown_param_of_a_sub_playbook() {
    let scratch = Scratch::new("unknown-param");
    scratch.write("common/verify.yaml", SUB);
    let path = scratch.write(
        "ops/p.yaml",
        &yaml(
            r#"
            apiVersion: runbook/v1
            kind: Playbook
            metadata:
              name: t
            steps:
              - id: verify
                playbook: ../common/verify.yaml
                with: { url: "https://example.com", timeout: 5s }
            "#,
        ),
    );
    let diagnostics = check_file(&path).diagnostics;
    let found: Vec<_> = diagnostics
        .iter()
        .map(|d| (d.code, d.severity, d.line, d.column, d.message.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![(
            "unknown-param",
            Error,
            8,
            41,
            "`timeout` is not a param of sub-playbook `../common/verify.yaml`"
        )],
        "{}",
        show(&diagnostics)
    );
    assert_eq!(diagnostics[0].hint.as_deref(), Some("its params are: url"));
}

#[test]
fn unset_param_of_a_sub_playbook_warns() {
    let scratch = Scratch::new("unset-param");
    scratch.write("common/verify.yaml", SUB);
    let path = scratch.write(
        "ops/p.yaml",
        &yaml(
            r#"
            apiVersion: runbook/v1
            kind: Playbook
            metadata:
              name: t
            steps:
              - id: verify
                playbook: ../common/verify.yaml
            "#,
        ),
    );
    let diagnostics = check_file(&path).diagnostics;
    let found: Vec<_> = diagnostics
        .iter()
        .map(|d| (d.code, d.severity, d.line, d.column))
        .collect();
    assert_eq!(
        found,
        vec![("unset-param", Warning, 7, 15)],
        "{}",
        show(&diagnostics)
    );
}

// ---------------------------------------------------------------------------------------------
// Loading: version, kind, encoding, YAML

#[test]
fn unknown_version() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v9
        kind: Playbook
        metadata:
          name: t
        steps: []
        "#,
        "unknown-version",
        Error,
        1,
        13,
    );
    assert_eq!(d.hint.as_deref(), Some("this runbook reads: runbook/v1"));
}

#[test]
fn unknown_kind() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbok
        "#,
        "unknown-kind",
        Error,
        2,
        7,
    );
}

#[test]
fn missing_version() {
    expect_one(
        r#"
        kind: Playbook
        metadata:
          name: t
        steps: []
        "#,
        "missing-version",
        Error,
        1,
        1,
    );
}

#[test]
fn missing_kind() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        metadata:
          name: t
        steps: []
        "#,
        "missing-kind",
        Error,
        1,
        1,
    );
}

#[test]
fn empty() {
    expect_one("", "empty", Error, 1, 1);
    expect_one("# nothing here\n---\n", "empty", Error, 1, 1);
}

#[test]
fn not_utf8() {
    let mut bytes = yaml(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
          title: caf
        "#,
    )
    .into_bytes();
    // Latin-1 "café": the é is byte 0xE9, the 13th character of line 5.
    let at = bytes.windows(3).position(|w| w == b"caf").unwrap() + 3;
    bytes.insert(at, 0xE9);
    let diagnostics = check_bytes(Path::new("t.yaml"), bytes).diagnostics;
    assert_eq!(diagnostics.len(), 1, "{}", show(&diagnostics));
    let d = &diagnostics[0];
    assert_eq!(
        (d.code, d.severity, d.line, d.column),
        ("not-utf8", Error, 5, 13)
    );
}

#[test]
fn too_large() {
    let mut text = yaml(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        "#,
    );
    let filler = format!("# {}\n", "x".repeat(1021));
    while text.len() <= 9 * 1024 * 1024 {
        text.push_str(&filler);
    }
    let diagnostics = check_bytes(Path::new("t.yaml"), text.into_bytes()).diagnostics;
    assert_eq!(diagnostics.len(), 1, "{}", show(&diagnostics));
    let d = &diagnostics[0];
    assert_eq!((d.code, d.severity), ("too-large", Error));
    assert!(d.message.contains("over 8 MiB"), "{}", d.message);
}

#[test]
fn invalid_yaml() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata: { name: t
        steps: []
        "#,
        "invalid-yaml",
        Error,
        4,
        6,
    );
}

#[test]
fn invalid_yaml_unknown_field_points_at_the_typo() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            on_falure: abort
        "#,
        "unknown-field",
        Error,
        8,
        5,
    );
    assert_eq!(d.message, "unknown field `on_falure`");
    assert_eq!(d.hint.as_deref(), Some("did you mean `on_failure`?"));
}

#[test]
fn unknown_fields_do_not_hide_the_other_errors() {
    let text = r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
          titel: T
        steps:
          - { id: a, run: echo, tiemout: 5s, on_failure: nowhere }
          - id: b
            run: echo
            expect:
              stdot: { contains: x }
            zzzzzz: 1
          - id: a
            run: echo
        "#;
    let diagnostics = check(text);
    let found: Vec<(&str, usize, Option<&str>)> = diagnostics
        .iter()
        .map(|d| (d.code, d.line, d.hint.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            ("unknown-field", 5, Some("did you mean `title`?")),
            ("unknown-field", 7, Some("did you mean `timeout`?")),
            (
                "unknown-target",
                7,
                Some("the steps under `steps:` are: a, b, a")
            ),
            ("unknown-field", 11, Some("did you mean `stdout`?")),
            ("unknown-field", 12, diagnostics[4].hint.as_deref()),
            ("duplicate-id", 13, Some("first defined at line 7")),
        ],
        "{}",
        show(&diagnostics)
    );
    // Nothing close: the hint lists what the step may hold.
    let no_match = &diagnostics[4];
    assert_eq!(no_match.message, "unknown field `zzzzzz`");
    assert!(
        no_match
            .hint
            .as_deref()
            .is_some_and(|h| h.starts_with("expected one of: id, name, doc, run,")),
        "{:?}",
        no_match.hint
    );
}

#[test]
fn exit_code_of_the_wrong_type_says_what_is_expected() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            expect: { exit: zero }
        "#,
        "invalid-yaml",
        Error,
        8,
        // serde-saphyr places errors raised by a visitor at the enclosing flow mapping.
        15,
    );
    assert!(!d.message.contains("untagged enum"), "{}", d.message);
    assert!(d.message.contains("an exit code"), "{}", d.message);
}

#[test]
fn syntax_error_inside_an_exit_code_is_a_syntax_error() {
    let diagnostics = check(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: echo
            expect: { exit: 0
          - id: b
            run: echo
        "#,
    );
    assert_eq!(diagnostics.len(), 1, "{}", show(&diagnostics));
    let d = &diagnostics[0];
    assert_eq!(d.code, "invalid-yaml");
    assert!(!d.message.contains("untagged enum"), "{}", d.message);
}

// ---------------------------------------------------------------------------------------------
// Inventories

#[test]
fn unknown_host() {
    let d = expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Inventory
        hosts:
          web-1: { address: 10.0.0.11 }
        groups:
          web: [web-1, web-9]
        "#,
        "unknown-host",
        Error,
        6,
        16,
    );
    assert_eq!(
        d.message,
        "group `web` lists `web-9`, which is not under `hosts:`"
    );
}

#[test]
fn bad_channel_not_http() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Inventory
        channels:
          lead: { webhook: "ftp://example.com/hook" }
        "#,
        "bad-channel",
        Error,
        4,
        9,
    );
}

#[test]
fn bad_channel_needs_exactly_one_way() {
    for channel in [
        "{}",
        r#"{ webhook: "https://example.com", command: "mail x" }"#,
    ] {
        let text =
            format!("apiVersion: runbook/v1\nkind: Inventory\nchannels:\n  lead: {channel}\n");
        let diagnostics = check_bytes(Path::new("t.yaml"), text.into_bytes()).diagnostics;
        let found: Vec<_> = diagnostics
            .iter()
            .map(|d| (d.code, d.line, d.column, d.message.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![(
                "bad-channel",
                4,
                9,
                "channel `lead` needs exactly one of `webhook` and `command`"
            )]
        );
    }
}

#[test]
fn template_syntax_in_a_channel_command() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Inventory
        channels:
          lead: { command: "mail -s {{ subject lead@example.com" }
        "#,
        "template-syntax",
        Error,
        4,
        40,
    );
}

#[test]
fn unknown_secret() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Inventory
        vars: { token: abc }
        secrets: [token, pasword]
        "#,
        "unknown-secret",
        Warning,
        4,
        18,
    );
}

#[test]
fn secrets_may_live_in_host_and_group_vars() {
    expect_clean(
        r#"
        apiVersion: runbook/v1
        kind: Inventory
        secrets: [host_token, group_token]
        hosts:
          web-1: { vars: { host_token: a } }
        groups:
          web:
            hosts: [web-1]
            vars: { group_token: b }
        "#,
    );
}

#[test]
fn group_with_an_unknown_field_is_refused() {
    let checked = check(
        r#"
        apiVersion: runbook/v1
        kind: Inventory
        hosts: { web-1: {} }
        groups:
          web: { hosts: [web-1], varz: { weight: 5 } }
        "#,
    );
    assert!(
        checked.iter().any(|d| d.is_error() && d.line == 5),
        "accepted:\n{}",
        show(&checked)
    );
}

#[test]
fn name_clash() {
    expect_one(
        r#"
        apiVersion: runbook/v1
        kind: Inventory
        hosts:
          web: {}
        groups:
          web: [web]
        "#,
        "name-clash",
        Error,
        6,
        8,
    );
}

// ---------------------------------------------------------------------------------------------
// Collecting and ordering

#[test]
fn every_problem_is_collected_and_sorted_by_place() {
    let diagnostics = check(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: Bad_Name
        steps:
          - id: a
            run: echo {{ nope }}
            on_failure: nowhere
          - id: a
            wait: forever
        "#,
    );
    let found: Vec<_> = diagnostics.iter().map(|d| (d.line, d.code)).collect();
    assert_eq!(
        found,
        vec![
            (4, "bad-name"),
            (7, "undefined-name"),
            (8, "unknown-target"),
            (9, "duplicate-id"),
            (10, "bad-duration"),
        ],
        "{}",
        show(&diagnostics)
    );
}

// ---------------------------------------------------------------------------------------------
// A playbook with every feature is clean

/// FORMAT.md's complete example, plus the features it does not show (choice and duration
/// params, matchers, every capture source, backoff, watch until, checklists, env, raw text).
/// One change from FORMAT.md: `psql -c "DROP DATABASE {{ db_name }}"` puts a placeholder in
/// quotes, which the contract's own lint rule rejects; the string is built in the template.
const FULL: &str = r#"
# yaml-language-server: $schema=../../schemas/playbook.v1.json
apiVersion: runbook/v1
kind: Playbook
metadata:
  name: apeg-p0-service-down
  title: "P0: APEG service down"
  version: 1.2.0
  severity: P0
  owners: ["@sre-oncall"]
  tags: [apeg, incident]
  summary: Restore the APEG API when it is unreachable.

params:
  service:
    type: string
    default: apeg.service
    description: systemd unit
  domain: { type: string }
  db_host: { type: string, default: 127.0.0.1 }
  redis_host: { type: string, default: 127.0.0.1 }
  db_name: { type: string, default: apeg }
  recreate_db: { type: bool, default: false }
  db_password:
    type: string
    secret: true
    from_env: APEG_DB_PASSWORD
  workers: { type: int, default: 4 }
  grace: { type: duration, default: 30s }
  mode: { type: choice, choices: [fast, safe], default: safe }

vars:
  health_url: "https://{{ domain }}/health"
  labels: ["{{ service }}", plain]

escalation:
  - after: 15m
    notify: [senior-engineer]
    message: "{{ metadata.title }} unresolved after 15 minutes"
  - after: 30m
    notify: [team-lead]

steps:
  - id: service-status
    name: Check service status
    doc: |
      Expected: `active (running)`.
    run: systemctl is-active {{ service }}
    expect:
      exit: 0
      stdout: { contains: active }
    on_failure: restart-service

  - id: health
    name: Verify API health
    run: curl -fsS --max-time 5 {{ health_url }}
    retry: { attempts: 5, delay: 2s, backoff: 2.0 }
    expect:
      json: { status: healthy }
    capture:
      api_version: { json: version }

  - id: disk
    name: Check disk usage
    run: df --output=pcent / | tail -n 1
    capture:
      disk_pct: { regex: '(\d+)%' }
    checks:
      - if: "disk_pct | int >= 90"
        status: critical
        message: "disk {{ disk_pct }}% >= 90%"
      - if: "disk_pct | int >= 80"
        status: warning

  - id: restart-service
    name: Restart the service
    confirm: "Restart {{ service }} on {{ host }}?"
    run: sudo systemctl restart {{ service }}
    timeout: 60s
    on_failure:
      escalate: senior-engineer
      then: abort

  - id: settle
    wait: 30s

  - id: verify
    run: curl -fsS {{ health_url }}
    expect: { json: { status: healthy } }
    max_visits: 3
    on_failure: restart-service

  - id: recreate-db
    name: Recreate the database
    when: "recreate_db"
    danger: destructive
    confirm_phrase: "{{ db_name }}"
    run: psql -c {{ "DROP DATABASE " ~ db_name }}

  - id: status-page
    name: Update the status page
    manual: |
      Post an update on the status page.
    checklist: [Post the update, Link the incident]
    inputs:
      incident_url: { prompt: "Incident ticket URL", type: string }

  - id: dependencies
    name: Check dependencies
    parallel:
      - id: db
        run: pg_isready -h {{ db_host }}
      - id: redis
        run: redis-cli -h {{ redis_host }} ping
        expect: { stdout: { equals: PONG } }

  - id: restart-web
    name: Rolling restart of the web tier
    on: web
    serial: 2
    max_fail: 0
    run: sudo systemctl restart nginx

  - id: common-verify
    playbook: ../common/verify-http.yaml
    with: { url: "{{ health_url }}" }

  - id: monitor
    name: Monitor for 30 minutes
    watch: { every: 30s, for: 30m, until: success }
    run: curl -fsS {{ health_url }}
    expect: { exit: [0, 22] }
    on_failure: continue

  - id: logs
    run: journalctl -u {{ service }} -n {{ workers }} --since {{ grace }} | grep {{ mode }}
    env: { PGPASSWORD: "{{ db_password }}", INCIDENT: "{{ incident_url }}" }
    expect:
      stdout: { not_contains: panic, matches: '^\w' }
      stderr: { equals: "" }
    capture:
      raw_out: { stdout: true }
      raw_err: { stderr: true }
      code: { exit: true }
    on_success: containers

  - id: containers
    run: docker ps --format {% raw %}'{{.Names}}'{% endraw %} | grep -c {{ api_version }}

finally:
  - id: summary
    report: |
      Service {{ service }}: {{ steps.verify.status }}; API {{ api_version | default("unknown") }}.
      Logs exit {{ code }}, labels {{ labels | join(", ") }}.
"#;

const SUB: &str = r#"
apiVersion: runbook/v1
kind: Playbook
metadata:
  name: common-verify-http
params:
  url: { type: string }
steps:
  - id: get
    run: curl -fsS {{ url }}
"#;

const INVENTORY: &str = r#"
apiVersion: runbook/v1
kind: Inventory
vars:
  domain: apeg.yourdomain.com
  db_host: 127.0.0.1
  api_token: s3cret
secrets: [api_token]
hosts:
  web-1: { address: 10.0.0.11, user: deploy, port: 22, vars: { role: primary } }
  web-2: { address: 10.0.0.12 }
  web-3: {}
groups:
  web: [web-1, web-2]
  canary:
    hosts: [web-3]
    vars: { weight: 5 }
channels:
  senior-engineer: { webhook: "https://hooks.example.com/T000/B000" }
  team-lead: { command: "mail -s {{ subject }} lead@example.com" }
  pager:
    webhook: "https://pager.example.com/v1"
    headers: { Authorization: "Bearer x" }
"#;

/// A scratch folder under the system temp dir, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("runbook-rules-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text.trim_start()).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn clean_playbook_with_every_feature() {
    let scratch = Scratch::new("clean");
    let path = scratch.write("apeg/p0.yaml", FULL);
    scratch.write("common/verify-http.yaml", SUB);
    let checked = check_file(&path);
    assert!(
        checked.diagnostics.is_empty(),
        "expected no diagnostics, got:\n{}",
        show(&checked.diagnostics)
    );
    let Some(Document::Playbook(playbook)) = checked.document else {
        panic!("not parsed as a playbook");
    };
    assert_eq!(playbook.all_steps().len(), 17);
    assert_eq!(playbook.params.len(), 10);
}

#[test]
fn clean_inventory_with_every_feature() {
    let checked = check_bytes(Path::new("inv.yaml"), INVENTORY.trim_start().into());
    assert!(
        checked.diagnostics.is_empty(),
        "expected no diagnostics, got:\n{}",
        show(&checked.diagnostics)
    );
    assert!(matches!(checked.document, Some(Document::Inventory(_))));
}

#[test]
fn crlf_line_endings_keep_lines_and_columns() {
    let text = yaml(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata:
          name: t
        steps:
          - id: a
            run: |
              echo one
              echo {{ x + }}
        "#,
    )
    .replace('\n', "\r\n");
    let diagnostics = check_bytes(Path::new("t.yaml"), text.into_bytes()).diagnostics;
    let found: Vec<_> = diagnostics
        .iter()
        .map(|d| (d.code, d.line, d.column, d.source_line.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![("template-syntax", 9, 19, "      echo {{ x + }}")]
    );
}

#[test]
fn non_ascii_text_in_a_template_is_a_diagnostic_not_a_panic() {
    // `check` used to cut a template in the middle of `é` while looking for its end.
    let diagnostics = check(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata: { name: accents }
        steps:
          - id: a
            run: echo {{ é }}
          - id: b
            report: "{% if ü %}x{% endif %}"
        "#,
    );
    // A panic would surface as an `internal` diagnostic; the template's own problem must.
    assert!(
        diagnostics.iter().all(|d| d.code != "internal")
            && diagnostics.iter().any(|d| d.severity == Error),
        "{}",
        show(&diagnostics)
    );
}
