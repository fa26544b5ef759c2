//! Validation rules of the format 1.1 additions to escalation rungs, run steps (`follow`,
//! `interactive`), graded checks (`checks` on manual steps, `notify`) and watch captures:
//! the smallest playbook breaking each rule, with the diagnostic's code, line and column, and
//! the clean uses next to them.

mod support;
use support::{check, show};

/// The (code, line, column) of every diagnostic.
#[track_caller]
fn places(text: &str) -> Vec<(&'static str, usize, usize)> {
    check(text)
        .iter()
        .map(|d| (d.code, d.line, d.column))
        .collect()
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
// Escalation rungs: `when`, `every`
// ---------------------------------------------------------------------------------------------

#[test]
fn a_rung_when_may_read_a_value_a_later_step_learns() {
    expect_clean(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata: { name: t }
        escalation:
          - after: 0s
            notify: [cto]
            when: "severity == 'P0'"
          - after: 15m
            every: 15m
            notify: [stakeholders]
            when: "status != 'resolved'"
        vars:
          status: open
        steps:
          - id: triage
            manual: Pick the severity
            inputs:
              severity: { prompt: Severity, type: choice, choices: [P0, P1] }
        "#,
    );
}

#[test]
fn a_rung_when_naming_nothing_is_an_error_at_the_name() {
    assert_eq!(
        places(
            r#"
            apiVersion: runbook/v1
            kind: Playbook
            metadata: { name: t }
            escalation:
              - after: 0s
                notify: [cto]
                when: "sevrity == 'P0'"
            steps:
              - id: a
                run: 'true'
            "#
        ),
        [("undefined-name", 7, 11)]
    );
}

#[test]
fn a_rung_every_must_be_a_duration_longer_than_zero() {
    assert_eq!(
        places(
            r#"
            apiVersion: runbook/v1
            kind: Playbook
            metadata: { name: t }
            escalation:
              - { after: 1m, every: 0s, notify: [lead] }
              - { after: 1m, every: 15, notify: [lead] }
            steps:
              - id: a
                run: 'true'
            "#
        ),
        [("bad-duration", 5, 25), ("bad-duration", 6, 25)]
    );
}

// ---------------------------------------------------------------------------------------------
// `follow` on run steps
// ---------------------------------------------------------------------------------------------

#[test]
fn follow_is_a_duration_on_a_run_step() {
    expect_clean(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata: { name: t }
        steps:
          - id: tail
            run: journalctl -f -u app
            follow: 5m
        "#,
    );
    assert_eq!(
        places(
            r#"
            apiVersion: runbook/v1
            kind: Playbook
            metadata: { name: t }
            steps:
              - id: tail
                run: journalctl -f -u app
                follow: 5 minutes
              - id: look
                manual: Look at the logs
                follow: 5m
              - id: both
                run: journalctl -f
                follow: 5m
                watch: { every: 1m, for: 10m }
            "#
        ),
        [
            ("bad-duration", 7, 13),
            ("misplaced-field", 8, 9),
            ("misplaced-field", 11, 9)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// `checks` on manual steps, over their inputs
// ---------------------------------------------------------------------------------------------

#[test]
fn checks_on_a_manual_step_read_its_inputs() {
    expect_clean(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata: { name: t }
        steps:
          - id: dashboard
            manual: Read the error rate
            inputs:
              error_rate: { prompt: "Error rate (%)", type: int }
            checks:
              - { if: "error_rate > 5", status: critical, notify: [oncall] }
        "#,
    );
    assert_eq!(
        places(
            r#"
            apiVersion: runbook/v1
            kind: Playbook
            metadata: { name: t }
            steps:
              - id: dashboard
                manual: Read the error rate
                inputs:
                  error_rate: { prompt: "Error rate (%)", type: int }
                checks:
                  - { if: "eror_rate > 5", status: critical }
              - id: pause
                wait: 1m
                checks:
                  - { if: "true", status: warning }
            "#
        ),
        [("undefined-name", 10, 15), ("misplaced-field", 11, 9)]
    );
}

// ---------------------------------------------------------------------------------------------
// `NAME_series` of a watch step's captures
// ---------------------------------------------------------------------------------------------

#[test]
fn a_watch_captures_series_is_declared_for_its_checks_and_later_steps_only() {
    expect_clean(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata: { name: t }
        steps:
          - id: watch-rss
            run: ps -o rss= -p 1
            watch: { every: 5s, for: 1m }
            capture:
              rss: { stdout: true }
            checks:
              - { if: "rss_series | increasing", status: critical }
          - id: later
            run: "echo {{ rss_series | max }}"
        "#,
    );
    assert_eq!(
        places(
            r#"
            apiVersion: runbook/v1
            kind: Playbook
            metadata: { name: t }
            steps:
              - id: once
                run: ps -o rss= -p 1
                capture:
                  rss: { stdout: true }
                checks:
                  - { if: "rss_series | increasing", status: critical }
            "#
        ),
        [("undefined-name", 10, 15)]
    );
}

// ---------------------------------------------------------------------------------------------
// `interactive` run steps
// ---------------------------------------------------------------------------------------------

#[test]
fn an_interactive_step_records_only_its_exit() {
    expect_clean(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata: { name: t }
        steps:
          - id: edit
            run: crontab -e
            interactive: true
            expect: { exit: [0, 1] }
        "#,
    );
    let diagnostics = check(
        r#"
        apiVersion: runbook/v1
        kind: Playbook
        metadata: { name: t }
        steps:
          - id: edit
            run: crontab -e
            interactive: true
            capture:
              out: { stdout: true }
            timeout: 5m
          - id: look
            manual: Edit the file
            interactive: true
        "#,
    );
    assert_eq!(
        diagnostics
            .iter()
            .map(|d| (d.code, d.line, d.column, d.message.as_str()))
            .collect::<Vec<_>>(),
        [
            (
                "misplaced-field",
                5,
                9,
                "step `edit` is interactive: capture, timeout cannot apply to it"
            ),
            (
                "misplaced-field",
                11,
                9,
                "step `look`: `interactive` needs a `run` action"
            ),
        ],
        "{}",
        show(&diagnostics)
    );
}
