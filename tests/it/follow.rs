//! `follow: DURATION` on a run step (format 1.1): a streaming command is followed for its
//! duration, then its whole process group is stopped, which counts as success; its output is
//! judged as usual.

use std::time::Duration;

use crate::support::*;

#[test]
fn a_followed_stream_is_stopped_at_its_end_and_passes() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "follow-logs",
        r#"
steps:
  - id: tail
    run: "sleep 30.71 & while true; do echo tick; sleep 0.2; done"
    follow: 1s
    expect:
      stdout: { contains: tick }
  - id: after
    run: echo after
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    assert_eq!(r.outcome("tail"), "ok", "{}", r.dump());
    let tail = r.finished("tail");
    assert_eq!(tail["exit"], 0);
    let ms = tail["duration_ms"].as_u64().unwrap();
    assert!((900..5000).contains(&ms), "followed for {ms} ms");
    assert!(
        r.output("tail").iter().filter(|l| *l == "tick").count() >= 3,
        "{}",
        r.dump()
    );
    assert_eq!(r.started("tail")[0]["planned_ms"], 1000);
    // The whole group stopped: the background sleep did not outlive the step.
    assert!(
        wait_for(Duration::from_secs(3), || processes_matching("sleep 30.71")
            .is_empty()),
        "a grandchild of the followed step survived"
    );
    assert_eq!(r.outcome("after"), "ok");
}

#[test]
fn a_followed_streams_output_is_judged_as_usual() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "follow-judged",
        r#"
steps:
  - id: tail
    run: "while true; do echo 'level=error boom'; sleep 0.2; done"
    follow: 600ms
    expect:
      stdout: { not_contains: "level=error" }
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    assert_eq!(r.outcome("tail"), "failed");
    assert_eq!(r.finished("tail")["reason"], "expectation");
}

#[test]
fn a_stream_that_ends_on_its_own_is_judged_by_its_exit() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "follow-ends",
        r#"
steps:
  - id: tail
    run: "echo gone; exit 3"
    follow: 5s
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    assert_eq!(r.finished("tail")["exit"], 3);
    assert!(r.finished("tail")["duration_ms"].as_u64().unwrap() < 4000);
}

#[test]
fn plan_shows_how_long_a_stream_is_followed() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "follow-plan",
        "steps:\n  - id: tail\n    run: journalctl -f -u app\n    follow: 5m\n",
    );
    let pb = pb.to_str().unwrap();
    let plan = sb.output(&["plan", "--format", "json", pb]).json();
    assert_eq!(plan["steps"][0]["follow_ms"], 300_000);
    let text = sb.output(&["plan", pb]).stdout;
    assert!(text.contains("follow   5m, then stopped"), "{text}");
    let md = sb.output(&["plan", "--format", "markdown", pb]).stdout;
    assert!(md.contains("follow 5m, then stopped"), "{md}");
}
