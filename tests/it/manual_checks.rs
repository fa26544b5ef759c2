//! `checks:` on manual steps (format 1.1): the operator's typed answers are graded like a
//! command's captures, in a real terminal.

use serde_json::json;

use crate::support::*;

fn metrics_playbook(sb: &Sandbox) -> std::path::PathBuf {
    sb.playbook(
        "pb.yaml",
        "metrics",
        r#"
steps:
  - id: read-dashboard
    manual: Read the error rate off the dashboard.
    inputs:
      error_rate:
        prompt: Error rate (%)
        type: int
    checks:
      - if: "error_rate > 5"
        status: critical
        message: "error rate {{ error_rate }}% is above 5%"
      - if: "error_rate > 1"
        status: warning
        message: "error rate {{ error_rate }}% is elevated"
  - id: next
    run: echo next
"#,
    )
}

#[test]
fn a_manual_steps_answer_is_graded_by_its_checks() {
    let sb = Sandbox::for_terminal();
    let pb = metrics_playbook(&sb);
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect("Done? [d]one [s]kip [f]ailed [?]");
    term.send_line("d");
    term.expect("Error rate (%)");
    term.send_line("3");
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("next");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert!(
        term.screen.contains("error rate 3% is elevated"),
        "{}",
        term.screen
    );

    let records = read_complete_transcript(&t);
    let done = one(&records, "step_finished", "read-dashboard");
    assert_eq!(done["outcome"], "warning");
    assert_eq!(done["reason"], "check");
    assert_eq!(done["message"], "error rate 3% is elevated");
    assert_eq!(done["inputs"], json!({"error_rate": 3}));
    assert_eq!(run_finished(&records)["outcome"], "success");
}

#[test]
fn a_critical_answer_fails_the_manual_step() {
    let sb = Sandbox::for_terminal();
    let pb = metrics_playbook(&sb);
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect("Done? [d]one [s]kip [f]ailed [?]");
    term.send_line("d");
    term.expect("Error rate (%)");
    term.send_line("9");
    assert_eq!(term.finish(), 1, "{}", term.screen);
    let records = read_complete_transcript(&t);
    let done = one(&records, "step_finished", "read-dashboard");
    assert_eq!(done["outcome"], "failed");
    assert_eq!(done["message"], "error rate 9% is above 5%");
    assert!(step_events(&records, "step_started", "next").is_empty());
}
