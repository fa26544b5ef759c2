//! Escalation rungs of format 1.1, against a real local webhook receiver: `when:` (a rung
//! applies depending on a value the run learns) and `every:` (a rung repeats until its
//! playbook ends), through run, resume, plan and report.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// The rungs (`index`, `repeat`) of the policy pages a transcript recorded, in order.
fn policy_pages(records: &[Value]) -> Vec<(u64, u64)> {
    records
        .iter()
        .filter(|r| r["event"] == "escalation" && r["reason"] == "policy")
        .map(|r| {
            (
                u64_of(&r["rung"]["index"]),
                r["rung"]["repeat"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn a_rung_with_when_pages_once_the_value_it_reads_is_chosen() {
    let sink = HttpSink::start();
    let sb = Sandbox::new();
    let inv = sb.webhook_inventory_by_channel(&sink.url, &["cto", "lead"]);
    let pb = sb.playbook(
        "pb.yaml",
        "severity-ladder",
        r#"
escalation:
  - after: 500ms
    notify: [cto]
    when: "severity == 'P0'"
    message: "{{ severity }} incident: CTO paged"
  - after: 500ms
    notify: [lead]
    when: "severity == 'P1'"
steps:
  - id: triage
    run: sleep 1.5; echo P0
    capture:
      severity: { stdout: true }
  - id: settle
    wait: 1s
"#,
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(0);
    let esc = r.events("escalation");
    assert_eq!(esc.len(), 1, "only the P0 rung applies: {}", r.dump());
    assert_eq!(esc[0]["channels"], serde_json::json!(["cto"]));
    assert_eq!(esc[0]["message"], "P0 incident: CTO paged");
    // Due at 500 ms, while the severity was not known yet; paged once the triage told it.
    assert_eq!(u64_of(&esc[0]["due_ms"]), 500);
    assert!(u64_of(&esc[0]["elapsed_ms"]) >= 1500, "{}", esc[0]);
    let triage_end = r.position(|v| v["event"] == "step_finished" && v["step"] == "triage");
    let page = r.position(|v| v["event"] == "escalation");
    assert!(triage_end < page);

    let got = sink.take(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].request_line.contains("/hook?to=cto "),
        "{}",
        got[0].request_line
    );
    assert_eq!(got[0].json()["message"], "P0 incident: CTO paged");
}

#[test]
fn a_repeating_rung_pages_on_its_cadence_while_its_when_holds() {
    let sink = HttpSink::start();
    let sb = Sandbox::new();
    let inv = sb.webhook_inventory(&sink.url, &["stakeholders"]);
    let pb = sb.playbook(
        "pb.yaml",
        "updates",
        r#"
vars:
  status: open
escalation:
  - after: 1s
    every: 2s
    notify: [stakeholders]
    when: "status != 'resolved'"
steps:
  - id: investigate
    wait: 4s
  - id: resolve
    run: echo resolved
    capture:
      status: { stdout: true }
  - id: monitor
    wait: 3500ms
"#,
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(0);
    // Pages at 1 s and 3 s; the ones due at 5 s and 7 s find the incident resolved.
    assert_eq!(policy_pages(&r.records), [(0, 0), (0, 1)], "{}", r.dump());
    let esc = r.events("escalation");
    assert_eq!(u64_of(&esc[0]["due_ms"]), 1000);
    assert_eq!(u64_of(&esc[1]["due_ms"]), 3000);
    assert_eq!(esc[1]["message"], "Test updates unresolved after 3.0s");
    assert_eq!(sink.take(2, Duration::from_secs(5)).len(), 2);

    let md = sb.report(&r.transcript, "markdown").stdout;
    assert!(md.contains("policy, repeat 1"), "{md}");
}

#[test]
fn a_repeating_rung_stops_when_its_playbook_ends() {
    let sink = HttpSink::start();
    let sb = Sandbox::new();
    let inv = sb.webhook_inventory(&sink.url, &["stakeholders"]);
    sb.write(
        "p1.yaml",
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata: { name: p1 }\n\
         escalation:\n  - { after: 500ms, every: 1s, notify: [stakeholders] }\n\
         steps:\n  - { id: fix, wait: 1800ms }\n",
    );
    let pb = sb.playbook(
        "pb.yaml",
        "triage",
        "steps:\n  - { id: p1, playbook: p1.yaml }\n  - { id: after, wait: 2s }\n",
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(0);
    // 500 ms and 1.5 s inside the sub-playbook; nothing once it ended at 1.8 s.
    assert_eq!(policy_pages(&r.records), [(0, 0), (0, 1)], "{}", r.dump());
    let p1_end = r.position(|v| v["event"] == "step_finished" && v["step"] == "p1");
    let last_page = r
        .records
        .iter()
        .rposition(|v| v["event"] == "escalation")
        .unwrap();
    assert!(last_page < p1_end, "{}", r.dump());
}

#[test]
fn a_resumed_run_goes_on_with_the_cadence_and_sends_no_page_twice() {
    let sink = HttpSink::start();
    let sb = Sandbox::new();
    let inv = sb.webhook_inventory(&sink.url, &["stakeholders"]);
    let pb = sb.playbook(
        "pb.yaml",
        "cadence",
        r#"
escalation:
  - after: 1m
    every: 1m
    notify: [stakeholders]
steps:
  - id: first
    run: echo first >> effects
  - id: slow
    run: "[ -e fast ] || sleep 20.47; echo slow >> effects"
"#,
    );
    let (mut child, transcript) = sb.spawn_run(&pb, &["-i", inv.to_str().unwrap()]);
    wait_for_process("sleep 20.47", Duration::from_secs(10));
    child.kill().unwrap();
    child.wait().unwrap();
    kill_leftovers("sleep 20.47");
    assert_eq!(policy_pages(&read_transcript(&transcript)), []);

    // Down for 2m30s: the pages due at 1m and 2m collapse into one, late (repeat 1).
    backdate(&transcript, Duration::from_secs(150));
    let mut resumed = sb.spawn_resume(&transcript, &[]);
    assert!(wait_for(Duration::from_secs(10), || policy_pages(
        &read_transcript(&transcript)
    )
    .len()
        == 1));
    assert_eq!(sink.take(1, Duration::from_secs(5)).len(), 1);
    resumed.kill().unwrap();
    resumed.wait().unwrap();
    kill_leftovers("sleep 20.47");

    // Down another minute: the 3m page is due; the 2m one is not sent again.
    backdate(&transcript, Duration::from_secs(60));
    sb.write("fast", "");
    let mut resumed = sb.spawn_resume(&transcript, &[]);
    let status = wait_exit(&mut resumed, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
    let records = read_transcript(&transcript);
    assert_eq!(policy_pages(&records), [(0, 1), (0, 2)]);
    let esc: Vec<&Value> = records
        .iter()
        .filter(|r| r["event"] == "escalation")
        .collect();
    assert_eq!(u64_of(&esc[0]["due_ms"]), 120_000);
    assert_eq!(u64_of(&esc[1]["due_ms"]), 180_000);
    assert!(u64_of(&esc[1]["late_ms"]) >= 30_000, "{}", esc[1]);
    assert_eq!(sink.take(1, Duration::from_secs(5)).len(), 1);
    // No finished step ran twice.
    let effects = std::fs::read_to_string(sb.path("effects")).unwrap();
    assert_eq!(effects, "first\nslow\n");
}

#[test]
fn plan_shows_a_rungs_cadence_and_condition() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "plan-rungs",
        r#"
vars:
  status: open
escalation:
  - after: 15m
    every: 15m
    notify: [stakeholders]
    when: "status != 'resolved'"
steps:
  - id: a
    run: 'true'
"#,
    );
    let pb = pb.to_str().unwrap();
    let plan = sb
        .output(&["plan", "--format", "json", pb])
        .expect_code(0)
        .json();
    let rung = &plan["escalation"][0];
    assert_eq!(rung["every"], "15m");
    assert_eq!(u64_of(&rung["every_ms"]), 900_000);
    assert_eq!(rung["when"], "status != 'resolved'");
    let text = sb.output(&["plan", pb]).stdout;
    insta::assert_snapshot!(
        text.lines()
            .skip_while(|l| !l.starts_with("Escalation"))
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn a_rung_whose_when_cannot_be_evaluated_waits_and_the_log_says_so_once() {
    let sb = Sandbox::new();
    let inv = sb.inventory(
        "inv.yaml",
        "channels:\n  cto: { command: \"cat >> pages.txt\" }\n",
    );
    // Before `probe` runs its output is empty, which `int` cannot read: no false page, and a
    // warning instead of a silent wait.
    let pb = sb.playbook(
        "pb.yaml",
        "undecidable-rung",
        r#"
escalation:
  - after: 200ms
    notify: [cto]
    when: "steps.probe.stdout | int > 100"
steps:
  - id: settle
    wait: 1s
  - id: probe
    run: echo 5
  - id: settle-again
    wait: 500ms
"#,
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(0);
    assert!(r.events("escalation").is_empty(), "{}", r.dump());
    assert!(!sb.exists("pages.txt"));
    assert_eq!(
        r.stderr
            .matches("escalation rung 1 (after 200ms) waits: its `when` cannot be evaluated yet")
            .count(),
        1,
        "{}",
        r.stderr
    );
}
