//! Graded checks that notify (format 1.1): a check with `notify:` pages its channels when it
//! decides the step's status, recorded as an `escalation` with reason `check`, against a real
//! local webhook receiver.

use std::time::Duration;

use crate::support::*;

#[test]
fn a_warning_check_notifies_its_channel_once_the_step_ends() {
    let sink = HttpSink::start();
    let sb = Sandbox::new();
    let inv = sb.webhook_inventory(&sink.url, &["oncall"]);
    let pb = sb.playbook(
        "pb.yaml",
        "thresholds",
        r#"
steps:
  - id: disk
    run: echo 87
    capture:
      used: { stdout: true }
    checks:
      - if: "used | int >= 95"
        status: critical
        notify: [oncall]
      - if: "used | int >= 80"
        status: warning
        message: "disk {{ used }}% full"
        notify: [oncall]
  - id: queue
    run: echo 3
    capture:
      depth: { stdout: true }
    checks:
      - if: "depth | int > 100"
        status: warning
        notify: [oncall]
"#,
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(0);
    assert_eq!(r.outcome("disk"), "warning");
    assert_eq!(r.outcome("queue"), "ok");
    let esc = r.events("escalation");
    assert_eq!(
        esc.len(),
        1,
        "only the check that held notifies: {}",
        r.dump()
    );
    assert_eq!(esc[0]["reason"], "check");
    assert_eq!(esc[0]["step"], "disk");
    assert_eq!(esc[0]["channels"], serde_json::json!(["oncall"]));
    assert_eq!(esc[0]["message"], "Step `disk` warning: disk 87% full");
    assert_eq!(esc[0]["deliveries"][0]["ok"], true);
    let disk_end = r.position(|v| v["event"] == "step_finished" && v["step"] == "disk");
    assert!(disk_end < r.position(|v| v["event"] == "escalation"));

    let got = sink.take(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1);
    let body = got[0].json();
    assert_eq!(body["reason"], "check");
    assert_eq!(body["message"], "Step `disk` warning: disk 87% full");

    let md = sb.report(&r.transcript, "markdown").stdout;
    assert!(md.contains("escalation, level 1 (check)"), "{md}");
}

#[test]
fn a_retried_step_notifies_once_for_its_final_check() {
    let sink = HttpSink::start();
    let sb = Sandbox::new();
    let inv = sb.webhook_inventory(&sink.url, &["oncall"]);
    let pb = sb.playbook(
        "pb.yaml",
        "retried",
        r#"
steps:
  - id: errors
    run: echo 12
    retry: { attempts: 3 }
    capture:
      rate: { stdout: true }
    checks:
      - if: "rate | int > 10"
        status: critical
        notify: [oncall]
    on_failure: continue
"#,
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(0);
    assert_eq!(r.outcome("errors"), "failed");
    assert_eq!(r.finished("errors")["attempts"], 3);
    assert_eq!(r.events("escalation").len(), 1, "{}", r.dump());
    assert_eq!(sink.take(1, Duration::from_secs(5)).len(), 1);
    assert!(sink.take(1, Duration::from_millis(300)).is_empty());
}

#[test]
fn a_check_channel_the_inventory_lacks_is_refused_before_any_step() {
    let sb = Sandbox::new();
    let inv = sb.inventory("inv.yaml", "channels:\n  lead: { command: 'true' }\n");
    let pb = sb.playbook(
        "pb.yaml",
        "missing",
        r#"
steps:
  - id: disk
    run: echo 87 > touched
    capture:
      used: { stdout: true }
    checks:
      - { if: "true", status: warning, notify: [oncal] }
"#,
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(2);
    assert!(r.stderr.contains("oncal"), "{}", r.stderr);
    assert!(r.stderr.contains("pb.yaml:14:49"), "{}", r.stderr);
    assert!(!sb.exists("touched"));
}

#[test]
fn plan_shows_who_a_check_notifies() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "plan-notify",
        "steps:\n  - id: disk\n    run: echo 87\n    capture:\n      used: { stdout: true }\n    checks:\n      - { if: \"used | int >= 80\", status: warning, notify: [oncall, lead] }\n",
    );
    let plan = sb
        .output(&["plan", "--format", "json", pb.to_str().unwrap()])
        .json();
    assert_eq!(
        plan["steps"][0]["checks"][0]["notify"],
        serde_json::json!(["oncall", "lead"])
    );
    let text = sb.output(&["plan", pb.to_str().unwrap()]).stdout;
    assert!(
        text.contains("warning if used | int >= 80 → notify oncall, lead"),
        "{text}"
    );
}
