//! End-to-end tests of `runbook run --yes`: the real binary on small playbooks, its transcript
//! read back line by line.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// Every complete line of a transcript that may have been cut off at any moment: all lines but
/// at most the last must parse, and seq must count up from 0.
fn check_torn_transcript(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut records = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        match serde_json::from_str::<Value>(line.trim_end_matches('\n')) {
            Ok(v) => records.push(v),
            Err(e) => assert!(
                last,
                "line {} of {} is not JSON ({e}): {line}",
                i + 1,
                lines.len()
            ),
        }
    }
    for (i, r) in records.iter().enumerate() {
        assert_eq!(
            u64_of(&r["seq"]),
            i as u64,
            "seq numbers must be consecutive: {r}"
        );
    }
    if let Some(first) = records.first() {
        assert_eq!(first["event"], "run_started");
    }
    records
}

// ---------------------------------------------------------------------------------------------
// Step kinds and outcomes
// ---------------------------------------------------------------------------------------------

#[test]
fn run_steps_ok_then_failed_aborts_the_run() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "basic",
        r#"
steps:
  - id: hello
    name: Say hello
    run: echo hello
  - id: boom
    run: echo about to fail >&2; exit 3
  - id: never
    run: touch never-ran
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);

    let started = r.run_started();
    assert_eq!(started["format"], "runbook-transcript/v1");
    assert_eq!(started["playbook"]["name"], "basic");
    assert_eq!(started["playbook"]["version"], "1.0.0");
    assert_eq!(str_of(&started["playbook"]["sha256"]).len(), 64);
    assert_eq!(started["operator"], "tester");
    assert_eq!(started["mode"], "unattended");
    assert_eq!(
        started["run_id"],
        r.transcript.file_stem().unwrap().to_str().unwrap()
    );
    for (i, rec) in r.records.iter().enumerate() {
        assert_eq!(u64_of(&rec["seq"]), i as u64);
    }

    let hello = r.started("hello");
    assert_eq!(hello.len(), 1);
    assert_eq!(hello[0]["command"], "echo hello");
    assert_eq!(hello[0]["name"], "Say hello");
    assert_eq!(hello[0]["action"], "run");
    assert_eq!(hello[0]["host"], "local");
    assert_eq!(r.output("hello"), ["hello"]);
    let f = r.finished("hello");
    assert_eq!(f["outcome"], "ok");
    assert_eq!(f["exit"], 0);
    assert_eq!(f["stdout"], "hello");

    let boom = r.finished("boom");
    assert_eq!(boom["outcome"], "failed");
    assert_eq!(boom["exit"], 3);
    assert_eq!(boom["stderr"], "about to fail");
    assert_eq!(boom["message"], "expected exit 0, got 3");
    assert_eq!(boom["verdicts"][0]["ok"], false);
    let stderr_lines: Vec<_> = r
        .of_step("output", "boom")
        .iter()
        .filter(|o| o["stream"] == "stderr")
        .map(|o| o["text"].clone())
        .collect();
    assert_eq!(stderr_lines, [json!("about to fail")]);

    assert!(r.started("never").is_empty());
    assert!(!sb.exists("never-ran"));

    let end = r.run_finished();
    assert_eq!(end["outcome"], "failed");
    assert_eq!(end["exit_code"], 1);
    assert_eq!(end["failed_step"], "boom");
    assert_eq!(end["steps_ok"], 1);
    assert_eq!(end["steps_failed"], 1);
    assert!(r.stderr.contains("boom"), "stderr: {}", r.stderr);
}

#[test]
fn expectations_exit_lists_text_matchers_and_json() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "expectations",
        r#"
steps:
  - id: exit-list
    run: exit 3
    expect: { exit: [0, 3] }
  - id: exit-list-miss
    run: exit 4
    expect: { exit: [0, 3] }
    on_failure: continue
  - id: stdout-ok
    run: echo alpha beta gamma
    expect:
      stdout: { contains: beta, not_contains: delta, matches: '(?m)^alpha\s+\w+ gamma$' }
  - id: contains-miss
    run: echo alpha
    expect: { stdout: { contains: beta } }
    on_failure: continue
  - id: not-contains-miss
    run: echo an ERROR here
    expect: { stdout: { not_contains: ERROR } }
    on_failure: continue
  - id: equals-ok
    run: printf '  exact  \n\n'
    expect: { stdout: { equals: exact } }
  - id: equals-miss
    run: echo exactly
    expect: { stdout: { equals: exact } }
    on_failure: continue
  - id: matches-miss
    run: echo v1.2
    expect: { stdout: { matches: '^v\d+\.\d+\.\d+$' } }
    on_failure: continue
  - id: stderr-ok
    run: echo out; echo warn disk >&2
    expect:
      stdout: { equals: out }
      stderr: { contains: warn, not_contains: out, matches: '(?m)disk$' }
  - id: stderr-miss
    run: echo fine >&2
    expect: { stderr: { matches: fatal } }
    on_failure: continue
  - id: stdout-is-not-stderr
    run: echo only-on-stdout
    expect: { stderr: { contains: only-on-stdout } }
    on_failure: continue
  - id: json-ok
    run: |
      echo '{"status":"healthy","db":{"ok":true,"ms":3},"code":200,"tags":["a","b"]}'
    expect:
      json: { status: healthy, db: { ok: true }, code: 200, tags: [b] }
  - id: json-miss
    run: |
      echo '{"status":"degraded"}'
    expect: { json: { status: healthy } }
    on_failure: continue
  - id: json-not-json
    run: echo not json
    expect: { json: { status: healthy } }
    on_failure: continue
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    for ok in [
        "exit-list",
        "stdout-ok",
        "equals-ok",
        "stderr-ok",
        "json-ok",
    ] {
        assert_eq!(r.outcome(ok), "ok", "{ok}: {}", r.finished(ok));
    }
    let misses = [
        ("exit-list-miss", "expected exit in [0, 3], got 4"),
        (
            "contains-miss",
            "expected stdout contains \"beta\", got alpha",
        ),
        (
            "not-contains-miss",
            "expected stdout does not contain \"ERROR\"",
        ),
        (
            "equals-miss",
            "expected stdout equals \"exact\", got exactly",
        ),
        ("matches-miss", "expected stdout matches"),
        ("stderr-miss", "expected stderr matches /fatal/"),
        ("stdout-is-not-stderr", "expected stderr contains"),
        ("json-miss", "expected stdout JSON contains"),
        ("json-not-json", "not JSON"),
    ];
    for (id, message) in misses {
        let f = r.finished(id);
        assert_eq!(f["outcome"], "failed", "{id}: {f}");
        assert!(
            str_of(&f["message"]).contains(message),
            "{id}: message {} should contain {message:?}",
            f["message"]
        );
    }
    // exit-list-miss: the exit code verdict is the failing one.
    assert_eq!(r.finished("exit-list-miss")["exit"], 4);
    let end = r.run_finished();
    assert_eq!(end["outcome"], "success");
    assert_eq!(end["steps_failed"], misses.len());
    assert_eq!(end["steps_ok"], 5);
}

#[test]
fn matches_dollar_anchors_at_the_end_of_the_output() {
    Sandbox::new()
        .test()
        .playbook(
            "matches-anchor",
            r#"
steps:
  - id: version
    run: echo v1.2.3
    expect: { stdout: { matches: '^v\d+\.\d+\.\d+$' } }
"#,
        )
        .outcome("version", "ok")
        .run();
}

#[test]
fn captures_feed_later_commands_and_reports() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "captures",
        r#"
steps:
  - id: source
    run: |
      echo '{"data":{"version":"2.4.1","items":[{"name":"first"}]}}'
    capture:
      version: { json: data.version }
      item: { json: data.items.0.name }
  - id: disk
    run: echo /dev/sda1 87% /
    capture:
      pct: { regex: '(\d+)%' }
      line: { stdout: true }
  - id: code
    run: exit 4
    expect: { exit: 4 }
    capture:
      rc: { exit: true }
  - id: use
    run: echo {{ version }} {{ item }} {{ pct }} {{ rc }} {{ line }}
    expect: { stdout: { equals: "2.4.1 first 87 4 /dev/sda1 87% /" } }
  - id: summary
    report: "source={{ steps.source.status }} code={{ steps.code.status }} exit={{ steps.code.exit }} pct={{ pct }} use={{ steps.use.stdout }}"
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    assert_eq!(
        r.finished("source")["captures"],
        json!({"version": "2.4.1", "item": "first"})
    );
    assert_eq!(
        r.finished("disk")["captures"],
        json!({"pct": "87", "line": "/dev/sda1 87% /"})
    );
    assert_eq!(r.finished("code")["captures"], json!({"rc": 4}));
    assert_eq!(
        r.started("use")[0]["command"],
        "echo 2.4.1 first 87 4 '/dev/sda1 87% /'"
    );
    assert_eq!(r.output("use"), ["2.4.1 first 87 4 /dev/sda1 87% /"]);
    assert_eq!(r.outcome("use"), "ok");
    let summary = r.finished("summary");
    assert_eq!(summary["outcome"], "ok");
    assert_eq!(
        summary["report"],
        "source=ok code=ok exit=4 pct=87 use=2.4.1 first 87 4 /dev/sda1 87% /"
    );
    assert_eq!(r.started("summary")[0]["action"], "report");
}

#[test]
fn a_capture_that_cannot_be_taken_fails_the_step() {
    let sb = Sandbox::new();
    let r = sb
        .test()
        .playbook(
            "capture-miss",
            r#"
steps:
  - id: grab
    run: echo no percentage here
    capture:
      pct: { regex: '(\d+)%' }
  - id: after
    run: echo {{ pct }}
"#,
        )
        .status(1)
        .outcome("grab", "failed")
        .run();
    let f = r.finished("grab");
    assert!(str_of(&f["message"]).contains("capture pct"), "{f}");
    assert!(r.started("after").is_empty());
}

#[test]
fn graded_checks_ok_warning_critical() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "checks",
        r#"
params:
  pct: { type: int, default: 50 }
steps:
  - id: disk
    run: echo use {{ pct }}% of /
    capture:
      used: { regex: '(\d+)%' }
    checks:
      - if: "used | int >= 90"
        status: critical
        message: "disk {{ used }}% >= 90%"
      - if: "used | int >= 80"
        status: warning
        message: "disk {{ used }}% >= 80%"
      - if: "used | int < 10"
        status: ok
        message: plenty of room
  - id: after
    run: echo after
"#,
    );

    let with_pct = |pct: &str| sb.test().playbook_file(&pb).var("pct", pct);

    let r = with_pct("50").outcome("disk", "ok").run();
    let f = r.finished("disk");
    assert!(f.get("message").is_none(), "no check matched: {f}");
    assert_eq!(f["captures"]["used"], "50");

    let r = with_pct("5").outcome("disk", "ok").run();
    assert_eq!(r.finished("disk")["message"], "plenty of room");

    let r = with_pct("85").outcome("disk", "warning").run();
    let f = r.finished("disk");
    assert_eq!(f["message"], "disk 85% >= 80%");
    assert_eq!(r.outcome("after"), "ok", "a warning lets the run go on");
    let end = r.run_finished();
    assert_eq!(end["outcome"], "success");
    assert_eq!(end["steps_warning"], 1);

    let r = with_pct("95").status(1).outcome("disk", "failed").run();
    let f = r.finished("disk");
    assert_eq!(f["message"], "disk 95% >= 90%");
    assert!(r.started("after").is_empty(), "critical aborts the run");
    assert_eq!(r.run_finished()["failed_step"], "disk");
}

#[test]
fn retry_runs_again_until_it_passes() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "retry",
        r#"
steps:
  - id: flaky
    run: if [ -e marker ]; then echo second try; else touch marker; echo first try; exit 1; fi
    retry: { attempts: 3, delay: 150ms }
    expect: { stdout: { contains: second } }
  - id: hopeless
    run: echo nope; exit 1
    retry: { attempts: 2 }
    on_failure: continue
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    let attempts: Vec<u64> = r
        .started("flaky")
        .iter()
        .map(|v| u64_of(&v["attempt"]))
        .collect();
    assert_eq!(attempts, [1, 2]);
    assert_eq!(r.output("flaky"), ["first try", "second try"]);
    let f = r.finished("flaky");
    assert_eq!(f["outcome"], "ok");
    assert_eq!(f["attempts"], 2);
    assert!(
        u64_of(&f["duration_ms"]) >= 150,
        "the delay was waited: {f}"
    );
    assert_eq!(r.of_step("step_finished", "flaky").len(), 1);

    let h = r.finished("hopeless");
    assert_eq!(h["outcome"], "failed");
    assert_eq!(h["attempts"], 2);
    assert_eq!(r.started("hopeless").len(), 2);
}

#[test]
fn timeout_fails_the_step() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "timeout",
        r#"
steps:
  - id: slow
    run: echo started; sleep 5.123
    timeout: 300ms
  - id: never
    run: "true"
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    let f = r.finished("slow");
    assert_eq!(f["outcome"], "failed");
    assert!(str_of(&f["message"]).starts_with("timed out"), "{f}");
    assert!(u64_of(&f["duration_ms"]) >= 300, "{f}");
    assert!(u64_of(&f["duration_ms"]) < 3000, "{f}");
    assert_eq!(r.output("slow"), ["started"]);
    assert!(r.started("never").is_empty());
    assert!(processes_matching("sleep 5.123").is_empty());
}

#[test]
fn when_false_skips_the_step() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "when",
        r#"
params:
  enabled: { type: bool, default: false }
steps:
  - id: gated
    when: enabled
    run: touch gated-ran
  - id: inverse
    when: not enabled
    run: touch inverse-ran
  - id: on-status
    when: steps.gated.status == "skipped"
    run: touch status-ran
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    let f = r.finished("gated");
    assert_eq!(f["outcome"], "skipped");
    assert_eq!(f["message"], "when: enabled is false");
    assert!(r.started("gated").is_empty());
    assert!(!sb.exists("gated-ran"));
    assert_eq!(r.outcome("inverse"), "ok");
    assert!(sb.exists("inverse-ran"));
    assert!(sb.exists("status-ran"));
    assert_eq!(r.run_finished()["steps_skipped"], 1);

    let r = sb.run(&pb, &["--var", "enabled=true"]);
    r.assert_code(0);
    assert_eq!(r.outcome("gated"), "ok");
    assert_eq!(r.outcome("inverse"), "skipped");
    assert!(sb.exists("gated-ran"));
}

#[test]
fn on_failure_goto_and_on_success_goto() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "branches",
        r#"
steps:
  - id: check
    run: test -e fixed
    on_failure: fix
    on_success: done
  - id: fix
    run: touch fixed
    on_success: check
  - id: done
    run: echo done
    on_success: last
  - id: jumped-over
    run: touch jumped-over-ran
  - id: last
    run: echo last
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    let visits: Vec<(u64, &str)> = r
        .events("step_started")
        .iter()
        .map(|v| (u64_of(&v["visit"]), str_of(&v["step"])))
        .collect();
    assert_eq!(
        visits,
        [
            (1, "check"),
            (1, "fix"),
            (2, "check"),
            (1, "done"),
            (1, "last")
        ]
    );
    let checks = r.of_step("step_finished", "check");
    assert_eq!(checks[0]["outcome"], "failed");
    assert_eq!(checks[1]["outcome"], "ok");
    assert!(!sb.exists("jumped-over-ran"));
    let end = r.run_finished();
    assert_eq!(end["outcome"], "success");
    assert_eq!(end["steps_failed"], 0, "check ended ok: {end}");
}

#[test]
fn a_goto_loop_beyond_max_visits_fails_the_run() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "loop",
        r#"
steps:
  - id: restart
    run: echo restart
    max_visits: 2
  - id: verify
    run: exit 1
    on_failure: restart
  - id: never
    run: touch never-ran
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    assert_eq!(r.started("restart").len(), 2);
    assert_eq!(r.started("verify").len(), 2);
    let last = r.finished("restart");
    assert_eq!(last["outcome"], "failed");
    assert!(
        str_of(&last["message"]).contains("max_visits is 2"),
        "{last}"
    );
    assert!(!sb.exists("never-ran"));
    let end = r.run_finished();
    assert_eq!(end["outcome"], "failed");
    assert_eq!(end["failed_step"], "restart");
}

#[test]
fn on_failure_continue_goes_on() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "continue",
        r#"
steps:
  - id: optional
    run: exit 9
    on_failure: continue
  - id: next
    run: echo {{ steps.optional.status }} {{ steps.optional.exit }}
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    assert_eq!(r.outcome("optional"), "failed");
    assert_eq!(r.output("next"), ["failed 9"]);
}

#[test]
fn wait_pauses() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "wait",
        r#"
steps:
  - id: settle
    wait: 300ms
  - id: after
    run: echo after
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    assert_eq!(r.started("settle")[0]["action"], "wait");
    let f = r.finished("settle");
    assert_eq!(f["outcome"], "ok");
    assert!(u64_of(&f["duration_ms"]) >= 300, "{f}");
    let before = u64_of(&r.started("settle")[0]["elapsed_ms"]);
    let after = u64_of(&r.started("after")[0]["elapsed_ms"]);
    assert!(after - before >= 300);
}

#[test]
fn watch_repeats_until_success_and_watches_the_whole_time() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "watch",
        r#"
steps:
  - id: poll
    run: k=$(cat count 2>/dev/null || echo 0); k=$((k+1)); echo $k > count; echo try $k; [ $k -ge 3 ]
    watch: { every: 200ms, for: 1s, until: success }
  - id: monitor
    run: echo tick
    watch: { every: 200ms, for: 1s }
  - id: breaks
    run: k=$(cat count2 2>/dev/null || echo 0); k=$((k+1)); echo $k > count2; [ $k -lt 2 ]
    watch: { every: 100ms, for: 1s }
    on_failure: continue
  - id: never-passes
    run: exit 1
    watch: { every: 100ms, for: 300ms, until: success }
    on_failure: continue
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);

    let polls = r.started("poll");
    let attempts: Vec<u64> = polls.iter().map(|v| u64_of(&v["attempt"])).collect();
    assert_eq!(attempts, [1, 2, 3]);
    let spread = u64_of(&polls[2]["elapsed_ms"]) - u64_of(&polls[0]["elapsed_ms"]);
    assert!(spread >= 400, "repetitions 200ms apart: {spread}ms");
    let f = r.finished("poll");
    assert_eq!(f["outcome"], "ok");
    assert_eq!(f["attempts"], 3);
    assert_eq!(r.output("poll"), ["try 1", "try 2", "try 3"]);

    let m = r.finished("monitor");
    assert_eq!(m["outcome"], "ok");
    let reps = r.started("monitor").len();
    assert!(
        (4..=6).contains(&reps),
        "about 1s / 200ms repetitions: {reps}"
    );
    assert!(u64_of(&m["duration_ms"]) >= 750, "{m}");

    let b = r.finished("breaks");
    assert_eq!(b["outcome"], "failed");
    assert_eq!(b["attempts"], 2);
    assert!(
        str_of(&b["message"]).contains("failed on repetition 2"),
        "{b}"
    );

    let np = r.finished("never-passes");
    assert_eq!(np["outcome"], "failed");
    assert!(
        str_of(&np["message"]).contains("did not pass within"),
        "{np}"
    );
}

#[test]
fn parallel_children_run_concurrently() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "parallel",
        r#"
steps:
  - id: both
    parallel:
      - id: left
        run: sleep 0.6; echo left
      - id: right
        run: sleep 0.6; echo right
  - id: after
    run: echo {{ steps.left.status }} {{ steps.right.status }}
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    let first_finish = r.position(|v| {
        v["event"] == "step_finished" && (v["step"] == "left" || v["step"] == "right")
    });
    for child in ["left", "right"] {
        let start = r.position(|v| v["event"] == "step_started" && v["step"] == child);
        assert!(
            start < first_finish,
            "{child} starts before either child finishes"
        );
        assert_eq!(r.outcome(child), "ok");
        assert_eq!(r.output(child), [child]);
    }
    let both = r.finished("both");
    assert_eq!(both["outcome"], "ok");
    assert_eq!(r.started("both")[0]["action"], "parallel");
    let started = u64_of(&r.started("left")[0]["elapsed_ms"])
        .min(u64_of(&r.started("right")[0]["elapsed_ms"]));
    let finished =
        u64_of(&r.finished("left")["elapsed_ms"]).max(u64_of(&r.finished("right")["elapsed_ms"]));
    assert!(
        finished - started < 1100,
        "two 600ms children took {}ms: not concurrent",
        finished - started
    );
    assert!(u64_of(&both["duration_ms"]) < 1100, "{both}");
    assert_eq!(r.output("after"), ["ok ok"]);
    let both_end = r.position(|v| v["event"] == "step_finished" && v["step"] == "both");
    assert!(both_end > first_finish);
}

#[test]
fn a_failing_parallel_child_fails_the_group() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "parallel-fail",
        r#"
steps:
  - id: group
    parallel:
      - id: bad
        run: exit 2
      - id: good
        run: sleep 0.2; touch good-ran
  - id: never
    run: touch never-ran
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    assert_eq!(r.outcome("bad"), "failed");
    assert_eq!(r.outcome("good"), "ok");
    assert!(sb.exists("good-ran"));
    let g = r.finished("group");
    assert_eq!(g["outcome"], "failed");
    assert_eq!(g["message"], "failed: bad");
    assert!(!sb.exists("never-ran"));
    assert_eq!(r.run_finished()["failed_step"], "group");
}

#[test]
fn sub_playbook_with_params() {
    let sb = Sandbox::new();
    sb.playbook(
        "lib/child.yaml",
        "child",
        r#"
params:
  greeting: { type: string }
  times: { type: int, default: 1 }
steps:
  - id: say
    run: echo {{ greeting }}
  - id: count
    run: echo $(( {{ times }} * 10 ))
"#,
    );
    let pb = sb.playbook(
        "pb.yaml",
        "parent",
        r#"
params:
  who: { type: string, default: world }
steps:
  - id: sub
    playbook: lib/child.yaml
    with: { greeting: "hello {{ who }}", times: 2 }
  - id: after
    run: echo {{ steps.sub.status }}
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    let sub = r.started("sub");
    assert_eq!(sub[0]["action"], "playbook");
    assert_eq!(r.started("sub/say")[0]["command"], "echo 'hello world'");
    assert_eq!(r.output("sub/say"), ["hello world"]);
    assert_eq!(r.output("sub/count"), ["20"]);
    assert_eq!(r.outcome("sub/say"), "ok");
    assert_eq!(r.outcome("sub"), "ok");
    assert!(r.started("say").is_empty(), "child steps are prefixed");
    let order = [
        r.position(|v| v["event"] == "step_started" && v["step"] == "sub"),
        r.position(|v| v["event"] == "step_started" && v["step"] == "sub/say"),
        r.position(|v| v["event"] == "step_finished" && v["step"] == "sub/count"),
        r.position(|v| v["event"] == "step_finished" && v["step"] == "sub"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert_eq!(r.output("after"), ["ok"]);

    // The parent's --var reaches the `with:` template.
    let r = sb.run(&pb, &["--var", "who=ops team"]);
    r.assert_code(0);
    assert_eq!(r.output("sub/say"), ["hello ops team"]);
}

#[test]
fn a_failing_sub_playbook_fails_the_parent() {
    let sb = Sandbox::new();
    sb.playbook(
        "child.yaml",
        "child-fails",
        r#"
steps:
  - id: boom
    run: exit 5
  - id: unreached
    run: touch child-unreached
"#,
    );
    let pb = sb.playbook(
        "pb.yaml",
        "parent-of-failure",
        r#"
steps:
  - id: sub
    playbook: child.yaml
  - id: never
    run: touch never-ran
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    assert_eq!(r.outcome("sub/boom"), "failed");
    let f = r.finished("sub");
    assert_eq!(f["outcome"], "failed");
    assert!(str_of(&f["message"]).contains("child-fails"), "{f}");
    assert!(!sb.exists("child-unreached"));
    assert!(!sb.exists("never-ran"));
    assert_eq!(r.run_finished()["failed_step"], "sub/boom");
}

#[test]
fn finally_runs_after_a_failure() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "finally",
        r#"
steps:
  - id: break
    run: exit 2
  - id: unreached
    run: touch unreached
finally:
  - id: cleanup
    run: echo cleaning; touch cleaned
  - id: summary
    report: |
      break was {{ steps.break.status }} (exit {{ steps.break.exit }})
      failed step: {{ run.failed_step }}
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    assert!(!sb.exists("unreached"));
    assert!(sb.exists("cleaned"));
    assert_eq!(r.outcome("cleanup"), "ok");
    assert_eq!(r.output("cleanup"), ["cleaning"]);
    let summary = r.finished("summary");
    assert_eq!(summary["outcome"], "ok");
    assert_eq!(
        str_of(&summary["report"]).trim_end(),
        "break was failed (exit 2)\nfailed step: break"
    );
    assert!(r.stderr.contains("break was failed"), "the report is shown");
    let break_end = r.position(|v| v["event"] == "step_finished" && v["step"] == "break");
    let cleanup = r.position(|v| v["event"] == "step_started" && v["step"] == "cleanup");
    assert!(cleanup > break_end);
    let end = r.run_finished();
    assert_eq!(end["outcome"], "failed");
    assert_eq!(end["failed_step"], "break");
}

#[test]
fn a_failing_finally_step_fails_a_successful_run() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "finally-fails",
        r#"
steps:
  - id: fine
    run: "true"
finally:
  - id: cleanup
    run: exit 1
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    assert_eq!(r.outcome("fine"), "ok");
    assert_eq!(r.run_finished()["failed_step"], "cleanup");
}

#[test]
fn manual_step_under_yes_fails_unless_skipped() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "manual",
        r#"
steps:
  - id: status-page
    manual: |
      Post an update on the status page.
  - id: next
    run: touch next-ran
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    let f = r.finished("status-page");
    assert_eq!(f["outcome"], "failed");
    assert!(
        str_of(&f["message"]).contains("manual step not done"),
        "{f}"
    );
    assert_eq!(r.started("status-page")[0]["action"], "manual");
    let prompt = r.of_step("prompt", "status-page");
    assert_eq!(prompt.len(), 1);
    assert_eq!(prompt[0]["decision"], "fail");
    assert!(!sb.exists("next-ran"));
    assert_eq!(r.run_finished()["failed_step"], "status-page");

    let r = sb.run(&pb, &["--manual", "skip"]);
    r.assert_code(0);
    assert_eq!(r.outcome("status-page"), "skipped");
    assert_eq!(r.of_step("prompt", "status-page")[0]["decision"], "skip");
    assert!(sb.exists("next-ran"));
}

#[test]
fn destructive_step_is_refused_under_yes_without_allow_destructive() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "destructive",
        r#"
params:
  db: { type: string, default: apeg }
steps:
  - id: drop
    danger: destructive
    confirm_phrase: "{{ db }}"
    run: touch dropped-{{ db }}
  - id: after
    run: touch after-ran
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    assert!(!sb.exists("dropped-apeg"));
    assert!(!sb.exists("after-ran"));
    let f = r.finished("drop");
    assert_eq!(f["outcome"], "failed");
    assert!(
        str_of(&f["message"]).contains("destructive step not confirmed"),
        "{f}"
    );
    let prompt = r.of_step("prompt", "drop");
    assert_eq!(prompt[0]["decision"], "refused");
    assert!(str_of(&prompt[0]["question"]).contains("apeg"));
    assert!(r.stderr.contains("refused"), "stderr: {}", r.stderr);

    let r = sb.run(&pb, &["--allow-destructive"]);
    r.assert_code(0);
    assert!(sb.exists("dropped-apeg"));
    assert!(sb.exists("after-ran"));
    assert_eq!(r.of_step("prompt", "drop")[0]["decision"], "run");
}

#[test]
fn a_missing_required_param_is_exit_2_before_anything_runs() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "missing-param",
        r#"
params:
  domain: { type: string }
  token: { type: string, secret: true, from_env: TEST_TOKEN_UNSET }
steps:
  - id: first
    run: touch started {{ domain }} {{ token }}
"#,
    );
    let transcript = sb.next_transcript();
    let out = sb.run_command(&pb, &transcript, &[]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("domain"), "stderr: {stderr}");
    assert!(stderr.contains("token"), "stderr: {stderr}");
    assert!(
        !transcript.exists(),
        "no transcript for a run that never started"
    );
    assert!(!sb.exists("started"));

    // With both filled it runs.
    let r = sb.run_env(
        &pb,
        &["--var", "domain=example.com"],
        &[("TEST_TOKEN_UNSET", "x")],
    );
    r.assert_code(0);
    assert!(sb.exists("started"));
}

#[test]
fn json_format_prints_a_summary() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "json-summary",
        r#"
steps:
  - id: a
    run: echo a
  - id: b
    run: exit 1
    on_failure: continue
  - id: c
    when: "false"
    run: "true"
  - id: d
    run: exit 1
"#,
    );
    let r = sb.run(&pb, &["--format", "json"]);
    r.assert_code(1);
    let summary: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", r.stdout));
    assert_eq!(summary["outcome"], "failed");
    assert_eq!(summary["exit_code"], 1);
    assert_eq!(summary["playbook"], "json-summary");
    assert_eq!(summary["failed_step"], "d");
    assert_eq!(summary["run_id"], r.run_started()["run_id"]);
    assert_eq!(
        std::path::Path::new(str_of(&summary["transcript"])),
        r.transcript.as_path()
    );
    let steps: Vec<(&str, &str)> = summary["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|v| (str_of(&v["step"]), str_of(&v["outcome"])))
        .collect();
    assert_eq!(
        steps,
        [
            ("a", "ok"),
            ("b", "failed"),
            ("c", "skipped"),
            ("d", "failed")
        ]
    );

    let ok = sb.playbook(
        "ok.yaml",
        "json-ok",
        "steps:\n  - id: only\n    run: echo hi\n",
    );
    let r = sb.run(&ok, &["--format", "json"]);
    r.assert_code(0);
    let summary: Value = serde_json::from_str(&r.stdout).expect("JSON summary");
    assert_eq!(summary["outcome"], "success");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["failed_step"], Value::Null);
    assert!(!r.stdout.contains("hi\n"), "step output stays off stdout");
}

// ---------------------------------------------------------------------------------------------
// Hostile values
// ---------------------------------------------------------------------------------------------

const HOSTILE: [&str; 5] = [
    "$(touch PWNED)",
    "`touch PWNED2`",
    "a; touch PWNED3",
    "'quote\"s",
    "first line\nsecond $(touch PWNED4) line",
];
const MARKERS: [&str; 4] = ["PWNED", "PWNED2", "PWNED3", "PWNED4"];

fn hostile_playbook_body() -> String {
    let mut body = String::from("params:\n");
    for i in 1..=HOSTILE.len() {
        body.push_str(&format!("  v{i}: {{ type: string }}\n"));
    }
    body.push_str("steps:\n");
    for i in 1..=HOSTILE.len() {
        body.push_str(&format!("  - id: echo-{i}\n    run: echo {{{{ v{i} }}}}\n"));
    }
    body
}

fn assert_echoed_exactly(sb: &Sandbox, r: &RunResult, prefix: &str) {
    r.assert_code(0);
    for m in MARKERS {
        assert!(!sb.exists(m), "{m} exists: a value was executed");
    }
    for (i, value) in HOSTILE.iter().enumerate() {
        let id = format!("{prefix}{}", i + 1);
        let f = r.finished(&id);
        assert_eq!(f["outcome"], "ok", "{f}");
        assert_eq!(str_of(&f["stdout"]), *value, "{id} echoed something else");
        let lines: Vec<&str> = value.lines().collect();
        assert_eq!(r.output(&id), lines, "{id} output records");
    }
}

#[test]
fn hostile_values_from_var_are_never_executed() {
    let sb = Sandbox::new();
    let pb = sb.playbook("pb.yaml", "hostile-var", &hostile_playbook_body());
    let vars: Vec<String> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, v)| format!("v{}={v}", i + 1))
        .collect();
    let mut args = Vec::new();
    for v in &vars {
        args.push("--var");
        args.push(v.as_str());
    }
    let r = sb.run(&pb, &args);
    assert_echoed_exactly(&sb, &r, "echo-");
    // The overrides are recorded as given.
    let overrides = &r.run_started()["overrides"];
    assert_eq!(overrides[0], json!(["v1", HOSTILE[0]]));
}

#[test]
fn hostile_values_from_the_inventory_are_never_executed() {
    let sb = Sandbox::new();
    let pb = sb.playbook("pb.yaml", "hostile-inventory", &hostile_playbook_body());
    let mut inv = String::from("vars:\n");
    for (i, v) in HOSTILE.iter().enumerate() {
        inv.push_str(&format!("  v{}: {}\n", i + 1, Value::String(v.to_string())));
    }
    let inv = sb.inventory("inv.yaml", &inv);
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    assert_echoed_exactly(&sb, &r, "echo-");
    assert_eq!(r.run_started()["params"]["v3"], HOSTILE[2]);
}

#[test]
fn hostile_values_from_a_capture_are_never_executed() {
    let sb = Sandbox::new();
    let mut body = String::from("steps:\n");
    for (i, v) in HOSTILE.iter().enumerate() {
        let i = i + 1;
        sb.write(&format!("hostile-{i}.txt"), &format!("{v}\n"));
        body.push_str(&format!(
            "  - id: read-{i}\n    run: cat hostile-{i}.txt\n    capture:\n      c{i}: {{ stdout: true }}\n"
        ));
    }
    for i in 1..=HOSTILE.len() {
        body.push_str(&format!("  - id: echo-{i}\n    run: echo {{{{ c{i} }}}}\n"));
    }
    let pb = sb.playbook("pb.yaml", "hostile-capture", &body);
    let r = sb.run(&pb, &[]);
    assert_echoed_exactly(&sb, &r, "echo-");
    assert_eq!(r.finished("read-1")["captures"]["c1"], HOSTILE[0]);
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

#[test]
fn secrets_never_reach_any_file_or_output() {
    const PASSWORD: &str = "pw-ENV-hunter2x";
    const TOKEN: &str = "tok-INV-7Qz4xY";
    let sb = Sandbox::new();
    let inv = sb.inventory(
        "inv.yaml",
        &format!(
            r#"
vars:
  api_token: {TOKEN}
secrets: [api_token]
channels:
  pager: {{ command: "tee -a escalations.txt" }}
"#
        ),
    );
    let pb = sb.playbook(
        "pb.yaml",
        "secrets",
        r#"
params:
  db_password: { type: string, secret: true, from_env: TEST_DB_PASSWORD }
  api_token: { type: string }
escalation:
  - after: 0s
    notify: [pager]
    message: "policy: token {{ api_token }} pw {{ db_password }}"
steps:
  - id: login
    run: echo connecting with {{ db_password }} and {{ api_token }}
    capture:
      seen: { stdout: true }
  - id: spill
    run: for i in $(seq 1 600); do echo $i {{ db_password }} {{ api_token }}; done
  - id: to-stderr
    run: echo err {{ api_token }} >&2
  - id: uses-capture
    run: echo captured {{ seen }}
  - id: fails
    run: echo {{ db_password }}
    expect: { stdout: { equals: nope } }
    on_failure: { escalate: pager, then: continue }
finally:
  - id: summary
    report: "pw={{ db_password }} token={{ api_token }} seen={{ seen }}"
"#,
    );
    let env = [("TEST_DB_PASSWORD", PASSWORD)];
    let human = sb.run_env(&pb, &["-v", "-i", inv.to_str().unwrap()], &env);
    human.assert_code(0);
    let json = sb.run_env(
        &pb,
        &["--format", "json", "-i", inv.to_str().unwrap()],
        &env,
    );
    json.assert_code(0);

    // The secrets really were used (the commands saw them), and are shown as ***.
    for r in [&human, &json] {
        let started = r.run_started();
        assert_eq!(started["params"]["db_password"], "***");
        assert_eq!(started["params"]["api_token"], "***");
        let secrets = started["secrets"].as_array().unwrap();
        assert!(secrets.contains(&json!("db_password")) && secrets.contains(&json!("api_token")));
        assert_eq!(
            r.started("login")[0]["command"],
            "echo connecting with *** and ***"
        );
        assert_eq!(r.output("login"), ["connecting with *** and ***"]);
        assert_eq!(
            r.finished("login")["captures"]["seen"],
            "connecting with *** and ***"
        );
        assert_eq!(r.output("spill").len(), 500);
        assert_eq!(r.output("spill")[0], "1 *** ***");
        let spilled = r.finished("spill")["spilled"].clone();
        let spill = std::fs::read_to_string(str_of(&spilled)).expect("spill file");
        assert_eq!(spill.lines().count(), 100);
        assert_eq!(spill.lines().next(), Some("501 *** ***"));
        assert_eq!(r.finished("fails")["outcome"], "failed");
        assert_eq!(
            r.finished("summary")["report"],
            "pw=*** token=*** seen=connecting with *** and ***"
        );
        let escalations = r.events("escalation");
        assert_eq!(escalations.len(), 2, "{}", r.dump());
        assert!(
            escalations
                .iter()
                .any(|e| e["message"] == "policy: token *** pw ***")
        );
        let failure = escalations
            .iter()
            .find(|e| e["reason"] == "failure")
            .expect("failure escalation");
        assert!(str_of(&failure["message"]).contains("***"), "{failure}");
        assert!(failure["deliveries"][0]["ok"].as_bool().unwrap());
    }
    let delivered = std::fs::read_to_string(sb.path("escalations.txt")).expect("escalations");
    assert!(
        delivered.contains("policy: token *** pw ***"),
        "{delivered}"
    );

    // Nothing written anywhere contains a secret.
    let mut written: Vec<(String, String)> = vec![
        ("human stdout".into(), human.stdout.clone()),
        ("human stderr".into(), human.stderr.clone()),
        ("json stdout".into(), json.stdout.clone()),
        ("json stderr".into(), json.stderr.clone()),
    ];
    assert!(
        human.stderr.contains("connecting with *** and ***"),
        "-v shows output live: {}",
        human.stderr
    );
    let mut spill_files = 0;
    for path in files_under(sb.root()) {
        if path == inv {
            continue; // the inventory is where the token comes from
        }
        if path
            .parent()
            .is_some_and(|p| p.extension().is_some_and(|e| e == "out"))
        {
            spill_files += 1;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        written.push((path.display().to_string(), text));
    }
    assert_eq!(spill_files, 2, "one spill file per run");
    for (what, text) in &written {
        for secret in [PASSWORD, TOKEN] {
            assert!(
                !text.contains(secret),
                "{what} contains the secret {secret}"
            );
        }
    }
}

#[test]
fn a_secret_that_needs_escaping_is_still_redacted_in_the_command() {
    const PASSWORD: &str = "it's \"q\" $ecret";
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "secret-quoting",
        r#"
params:
  pw: { type: string, secret: true, from_env: TEST_PW }
steps:
  - id: use
    run: echo {{ pw }}
"#,
    );
    let r = sb.run_env(&pb, &["-v"], &[("TEST_PW", PASSWORD)]);
    r.assert_code(0);
    assert_eq!(r.output("use"), ["***"], "the output is redacted");
    let transcript = std::fs::read_to_string(&r.transcript).unwrap();
    for (what, text) in [("transcript", &transcript), ("stderr", &r.stderr)] {
        assert!(
            !text.contains("$ecret"),
            "{what} holds the secret in quoted form: {}",
            r.started("use")[0]["command"]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Processes and signals
// ---------------------------------------------------------------------------------------------

#[test]
fn a_timeout_kills_grandchildren() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "grandchildren",
        r#"
steps:
  - id: spawner
    run: "(sleep 32.77; touch LATE) & sleep 30.33"
    timeout: 500ms
"#,
    );
    let r = sb.run(&pb, &[]);
    let gone = wait_for(Duration::from_secs(1), || {
        processes_matching("sleep 32.77").is_empty() && processes_matching("sleep 30.33").is_empty()
    });
    let survivors = processes_matching("sleep 32.77");
    kill_leftovers("sleep 32.77");
    kill_leftovers("sleep 30.33");
    r.assert_code(1);
    let f = r.finished("spawner");
    assert_eq!(f["outcome"], "failed");
    assert!(str_of(&f["message"]).starts_with("timed out"), "{f}");
    assert!(
        gone,
        "processes of the timed-out step outlived it: {survivors:?}"
    );
    assert!(!sb.exists("LATE"));
}

#[test]
fn sigkill_at_any_moment_leaves_a_readable_transcript() {
    let sb = Sandbox::new();
    let mut body = String::from("steps:\n");
    for i in 0..150 {
        body.push_str(&format!("  - id: quick-{i}\n    run: echo quick {i}\n"));
    }
    body.push_str("  - id: long\n    run: echo long; sleep 7.31\n");
    let pb = sb.playbook("pb.yaml", "kill-nine", &body);
    let mut lengths = Vec::new();
    for delay_ms in [0u64, 50, 200, 500, u64::MAX] {
        let (mut child, transcript) = sb.spawn_run(&pb, &[]);
        assert!(
            wait_for(Duration::from_secs(5), || transcript.exists()),
            "the transcript appears"
        );
        if delay_ms == u64::MAX {
            // Kill in the middle of the long step.
            wait_for_record(&transcript, Duration::from_secs(20), |v| {
                v["event"] == "output" && v["step"] == "long"
            });
        } else {
            std::thread::sleep(Duration::from_millis(delay_ms));
        }
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        let records = check_torn_transcript(&transcript);
        lengths.push(records.len());
        if delay_ms == u64::MAX {
            assert!(
                records
                    .iter()
                    .any(|v| v["event"] == "step_started" && v["step"] == "long")
            );
            assert!(!records.iter().any(|v| v["event"] == "run_finished"));
        }
    }
    kill_leftovers("sleep 7.31");
    assert!(
        lengths.last() > lengths.first(),
        "later kills see longer transcripts: {lengths:?}"
    );
}

fn interrupt_ends_the_run(signal_name: &str, sleep: &str) {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "interrupt",
        &format!(
            r#"
steps:
  - id: first
    run: echo first
  - id: long
    run: echo waiting; sleep {sleep}
  - id: never
    run: touch never-ran
finally:
  - id: cleanup
    run: touch cleanup-ran
"#
        ),
    );
    let needle = format!("sleep {sleep}");
    let (mut child, transcript) = sb.spawn_run(&pb, &[]);
    let running = wait_for(Duration::from_secs(10), || {
        !processes_matching(&needle).is_empty()
    });
    if !running {
        let _ = child.kill();
        panic!("the long step never started");
    }
    signal(child.id(), signal_name);
    let status = wait_exit(&mut child, Duration::from_secs(10));
    let gone = gone_within(&needle, Duration::from_secs(1));
    assert_eq!(
        status.code(),
        Some(3),
        "SIG{signal_name} ends the run with exit 3"
    );
    assert!(gone, "the step's sleep outlived the interrupt");

    let r = RunResult::of_spawned(status, transcript);
    let end = r.run_finished();
    assert_eq!(end["outcome"], "interrupted");
    assert_eq!(end["exit_code"], 3);
    assert_eq!(r.outcome("first"), "ok");
    let long = r.finished("long");
    assert_eq!(long["outcome"], "aborted");
    assert_eq!(long["message"], "interrupted");
    assert!(u64_of(&long["duration_ms"]) < 5000);
    assert!(r.started("never").is_empty());
    assert!(!sb.exists("never-ran"));
    // A cancelled run still runs `finally` (cleanup, the incident report), then exits 3.
    assert_eq!(r.outcome("cleanup"), "ok");
    assert!(sb.exists("cleanup-ran"));
    assert!(
        str_of(&end["reason"]).contains(if signal_name == "TERM" {
            "SIGTERM"
        } else {
            "Ctrl-C"
        }),
        "{end}"
    );
}

#[test]
fn sigterm_interrupts_the_run() {
    interrupt_ends_the_run("TERM", "29.41");
}

#[test]
fn sigint_interrupts_the_run() {
    interrupt_ends_the_run("INT", "29.42");
}

// ---------------------------------------------------------------------------------------------
// Escalation
// ---------------------------------------------------------------------------------------------

#[test]
fn on_failure_escalation_posts_to_a_webhook() {
    let sink = HttpSink::start();
    let sb = Sandbox::new();
    let inv = sb.inventory(
        "inv.yaml",
        &format!(
            "channels:\n  oncall: {{ webhook: \"{}\", headers: {{ X-Test: yes-header }} }}\n",
            sink.url
        ),
    );
    let pb = sb.playbook(
        "pb.yaml",
        "webhook-failure",
        r#"
steps:
  - id: health
    run: echo unhealthy; exit 7
    on_failure: { escalate: oncall, then: continue }
  - id: after
    run: echo after
"#,
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(0);
    assert_eq!(r.outcome("health"), "failed");
    assert_eq!(r.outcome("after"), "ok");

    let requests = sink.take(1, Duration::from_secs(5));
    assert_eq!(requests.len(), 1, "{requests:?}");
    let req = &requests[0];
    assert!(req.request_line.starts_with("POST /hook "), "{req:?}");
    assert!(
        req.header("content-type")
            .is_some_and(|v| v.starts_with("application/json"))
    );
    assert_eq!(req.header("x-test"), Some("yes-header"));
    let body = req.json();
    assert_eq!(body["playbook"]["name"], "webhook-failure");
    assert_eq!(body["run"]["id"], r.run_started()["run_id"]);
    assert_eq!(body["level"], 1);
    assert_eq!(body["reason"], "failure");
    assert_eq!(body["run"]["failed_step"], "health");
    assert_eq!(body["channel"], "oncall");
    let message = str_of(&body["message"]);
    assert!(message.contains("health"), "{message}");
    assert!(message.contains("expected exit 0, got 7"), "{message}");
    assert!(str_of(&body["text"]).contains(message));

    let esc = r.events("escalation");
    assert_eq!(esc.len(), 1);
    assert_eq!(esc[0]["level"], 1);
    assert_eq!(esc[0]["reason"], "failure");
    assert_eq!(esc[0]["step"], "health");
    assert_eq!(esc[0]["channels"], json!(["oncall"]));
    assert_eq!(esc[0]["message"], body["message"]);
    assert_eq!(
        json!([{"channel": esc[0]["deliveries"][0]["channel"], "ok": esc[0]["deliveries"][0]["ok"]}]),
        json!([{"channel": "oncall", "ok": true}])
    );
    let health_end = r.position(|v| v["event"] == "step_finished" && v["step"] == "health");
    let esc_at = r.position(|v| v["event"] == "escalation");
    // The page is delivered while the run goes on: its record follows the failure.
    assert!(health_end < esc_at);
    assert!(r.stderr.contains("ESCALATION"), "{}", r.stderr);
}

#[test]
fn time_based_escalation_fires_during_the_run() {
    let sink = HttpSink::start();
    let sb = Sandbox::new();
    let inv = sb.webhook_inventory(&sink.url, &["oncall"]);
    let pb = sb.playbook(
        "pb.yaml",
        "webhook-policy",
        r#"
escalation:
  - after: 1s
    notify: [oncall]
    message: "{{ metadata.title }} still unresolved"
  - after: 10m
    notify: [oncall]
steps:
  - id: hold
    wait: 1800ms
  - id: after
    run: echo after
"#,
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(0);
    let esc = r.events("escalation");
    assert_eq!(esc.len(), 1, "only the 1s rung fires: {}", r.dump());
    assert_eq!(esc[0]["reason"], "policy");
    assert_eq!(esc[0]["level"], 1);
    assert_eq!(esc[0]["message"], "Test webhook-policy still unresolved");
    assert!(esc[0].get("step").is_none());
    assert_eq!(esc[0]["deliveries"][0]["ok"], true);
    let at = u64_of(&esc[0]["elapsed_ms"]);
    assert!((1000..1800).contains(&at), "fired at {at}ms");
    let hold_start = r.position(|v| v["event"] == "step_started" && v["step"] == "hold");
    let esc_pos = r.position(|v| v["event"] == "escalation");
    let hold_end = r.position(|v| v["event"] == "step_finished" && v["step"] == "hold");
    assert!(hold_start < esc_pos && esc_pos < hold_end);

    let requests = sink.take(1, Duration::from_secs(5));
    assert_eq!(requests.len(), 1);
    let body = requests[0].json();
    assert_eq!(body["reason"], "policy");
    assert_eq!(body["level"], 1);
    assert_eq!(body["message"], "Test webhook-policy still unresolved");
    assert_eq!(body["playbook"]["name"], "webhook-policy");
    assert_eq!(body["run"]["failed_step"], Value::Null);
}

#[test]
fn a_page_that_cannot_be_delivered_fails_an_unattended_run_unless_allowed() {
    let port = closed_port();
    let sb = Sandbox::new();
    let inv = sb.webhook_inventory(
        &format!("http://127.0.0.1:{port}/secret-token"),
        &["oncall"],
    );
    let pb = sb.playbook(
        "pb.yaml",
        "webhook-closed",
        r#"
steps:
  - id: health
    run: exit 1
    on_failure: { escalate: oncall, then: continue }
  - id: after
    run: echo after
"#,
    );
    // The steps went on; the failed page makes the unattended run exit 1 and says why.
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("1 page did not reach its channel"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--allow-undelivered"), "{}", r.stderr);
    let esc = r.events("escalation");
    assert_eq!(esc.len(), 1);
    let delivery = &esc[0]["deliveries"][0];
    assert_eq!(delivery["channel"], "oncall");
    assert_eq!(delivery["ok"], false);
    // Why it failed, but not the URL: a chat webhook's URL is its credential.
    assert!(
        str_of(&delivery["error"]).contains("Connection refused")
            && !str_of(&delivery["error"]).contains(&port.to_string())
            && !str_of(&delivery["error"]).contains("secret-token"),
        "{delivery}"
    );
    assert_eq!(r.outcome("after"), "ok");
    let end = r.run_finished();
    assert_eq!(end["outcome"], "success");
    assert_eq!(end["exit_code"], 1);
    assert_eq!(end["undelivered"], 1);
    assert_eq!(end["reason"], "1 page not delivered");

    let r = sb.run(&pb, &["-i", inv.to_str().unwrap(), "--allow-undelivered"]);
    r.assert_code(0);
    assert_eq!(r.run_finished()["exit_code"], 0);
}

#[test]
fn a_command_channel_gets_the_message_on_stdin() {
    let sb = Sandbox::new();
    let inv = sb.inventory(
        "inv.yaml",
        r#"
channels:
  pager: { command: "tee -a esc-{{ level }}.txt" }
  broken: { command: "cat >/dev/null; echo no route >&2; exit 4" }
"#,
    );
    let pb = sb.playbook(
        "pb.yaml",
        "command-channel",
        r#"
steps:
  - id: health
    run: exit 1
    on_failure: { escalate: pager, then: continue }
  - id: second
    run: exit 1
    on_failure: { escalate: broken, then: continue }
"#,
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap(), "--allow-undelivered"]);
    r.assert_code(0);
    // Pages are delivered concurrently: their records come in the order they finish.
    let mut esc = r.events("escalation");
    esc.sort_by_key(|e| u64_of(&e["level"]));
    assert_eq!(esc.len(), 2);
    assert_eq!(esc[0]["deliveries"][0]["channel"], "pager");
    assert_eq!(esc[0]["deliveries"][0]["ok"], true);
    let got = std::fs::read_to_string(sb.path("esc-1.txt")).expect("the channel command ran");
    assert_eq!(got, format!("{}\n", str_of(&esc[0]["message"])));
    assert!(got.contains("health"));
    assert_eq!(esc[1]["level"], 2);
    let d = &esc[1]["deliveries"][0];
    assert_eq!(d["ok"], false);
    assert!(str_of(&d["error"]).contains("no route"), "{d}");
}

// ---------------------------------------------------------------------------------------------
// Large output
// ---------------------------------------------------------------------------------------------

#[test]
fn large_output_is_bounded_in_the_transcript_and_spilled() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "large-output",
        r#"
steps:
  - id: flood
    run: seq -f 'line %g' 1 50000
    expect:
      stdout: { matches: '^line 1\nline 2\nline 3\n', contains: line 50000 }
    capture:
      first: { regex: 'line (\d+)' }
  - id: after
    run: echo {{ first }}
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    let out = r.output("flood");
    assert_eq!(out.len(), 500);
    assert_eq!(out[0], "line 1");
    assert_eq!(out[499], "line 500");
    let f = r.finished("flood");
    assert_eq!(f["outcome"], "ok");
    assert_eq!(f["captures"]["first"], "1");
    assert!(str_of(&f["stdout"]).starts_with("line 1\nline 2\n"));
    assert!(str_of(&f["stdout"]).len() <= 17 * 1024);
    let spilled = std::path::PathBuf::from(str_of(&f["spilled"]));
    let out_dir = r.transcript.with_extension("out");
    assert_eq!(spilled.parent(), Some(out_dir.as_path()));
    let spill = std::fs::read_to_string(&spilled).expect("spill file");
    let lines: Vec<&str> = spill.lines().collect();
    assert_eq!(lines.len(), 49_500);
    assert_eq!(lines[0], "line 501");
    assert_eq!(lines[49_499], "line 50000");
    assert_eq!(r.output("after"), ["1"]);
    let size = std::fs::metadata(&r.transcript).unwrap().len();
    assert!(size < 200_000, "transcript is {size} bytes");
}

/// A cancelled run's `finally` is bounded: a second signal, or `--finally-grace`, cuts it short.
/// Its sleeps are `sleep {sleep}1` and `sleep {sleep}2`: each test its own, so no test stops
/// another's.
fn cancelled_finally(extra: &[&str], second_signal: bool, sleep: &str) -> (RunResult, Duration) {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "bounded-finally",
        &format!(
            r#"
steps:
  - id: long
    run: sleep {sleep}1
finally:
  - id: slow-cleanup
    run: touch cleanup-started; sleep {sleep}2
  - id: never
    run: touch never-ran
"#
        ),
    );
    let (mut child, transcript) = sb.spawn_run(&pb, extra);
    wait_for_process(&format!("sleep {sleep}1"), Duration::from_secs(10));
    let started = std::time::Instant::now();
    signal(child.id(), "TERM");
    assert!(wait_for(Duration::from_secs(10), || sb.exists("cleanup-started")));
    if second_signal {
        signal(child.id(), "TERM");
    }
    let status = wait_exit(&mut child, Duration::from_secs(20));
    let took = started.elapsed();
    kill_leftovers(&format!("sleep {sleep}"));
    assert_eq!(status.code(), Some(3));
    assert!(!sb.exists("never-ran"), "the rest of finally was skipped");
    (RunResult::of_spawned(status, transcript), took)
}

#[test]
fn a_second_signal_cuts_finally_short() {
    let (r, took) = cancelled_finally(&[], true, "30.6");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(r.outcome("slow-cleanup"), "aborted");
    assert!(r.started("never").is_empty());
    assert_eq!(r.run_finished()["outcome"], "interrupted");
}

#[test]
fn finally_after_a_cancel_is_bounded_by_its_grace_time() {
    let (r, took) = cancelled_finally(&["--finally-grace", "1s"], false, "30.8");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(r.outcome("slow-cleanup"), "aborted");
    assert_eq!(r.run_finished()["outcome"], "interrupted");
}

/// Answers piped to `--interactive` arrive together; the Enter that skips a wait is already
/// read into stdin's buffer by the question before it, and must still end the wait.
#[test]
fn a_piped_enter_skips_a_wait_even_when_it_arrived_with_the_previous_answer() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "waits",
        "steps:\n  - id: one\n    run: \"true\"\n  - id: settle\n    wait: 60s\n  - id: two\n    run: \"true\"\n",
    );
    let transcript = sb.next_transcript();
    let mut cmd = sb.command();
    cmd.args(["run", "--interactive", "--operator", "tester"])
        .arg(&pb)
        .arg("--transcript")
        .arg(&transcript)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let started = std::time::Instant::now();
    let mut child = cmd.spawn().expect("spawn runbook");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"y\n\ny\n").unwrap();
    }
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the wait did not see the Enter"
    );
    assert_eq!(status.code(), Some(0));
    let records = read_transcript(&transcript);
    let skipped = records
        .iter()
        .find(|r| r["event"] == "prompt" && r["step"] == "settle")
        .expect("the wait's prompt record");
    assert_eq!(skipped["answer"], "(Enter) skip the rest");
}

#[test]
fn runs_started_together_into_one_folder_each_get_their_own_transcript() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "together",
        "params:\n  who: { type: string }\nsteps:\n  - id: hello\n    run: echo hello {{ who }}\n",
    );
    // Started at once, most in the same second: each must reserve a name of its own.
    let children: Vec<_> = (0..6)
        .map(|i| {
            sb.command()
                .args(["run", "--yes", "--operator", "tester"])
                .arg(&pb)
                .args(["--transcript", "runs/", "--var", &format!("who=run-{i}")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn runbook")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut whos: Vec<String> = std::fs::read_dir(sb.path("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .map(|p| {
            let records = read_complete_transcript(&p);
            assert_eq!(events(&records, "run_started").len(), 1, "{}", p.display());
            let out = step_events(&records, "output", "hello");
            str_of(&out[0]["text"]).to_owned()
        })
        .collect();
    whos.sort();
    let expected: Vec<String> = (0..6).map(|i| format!("hello run-{i}")).collect();
    assert_eq!(whos, expected, "one transcript per run, none shared");

    // A run refused after its name was taken leaves no empty transcript behind.
    let out = sb.output(&[
        "run",
        "--yes",
        pb.to_str().unwrap(),
        "--transcript",
        "runs/",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let left: Vec<_> = std::fs::read_dir(sb.path("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left.len(), 6, "{left:?}");
    assert!(left.iter().all(|p| std::fs::metadata(p).unwrap().len() > 0));
}

#[test]
fn resume_without_a_path_passes_over_an_empty_reserved_transcript() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "resume-latest",
        "steps:\n  - id: needs-fix\n    run: test -e fixed\n  - id: after\n    run: echo after >> effects\n",
    );
    let out = sb
        .command()
        .args(["run", "--yes", "--operator", "tester"])
        .arg(&pb)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // A run that reserved its name and never started (given up at a question) leaves an
    // empty file, newer than the run to resume.
    std::thread::sleep(std::time::Duration::from_millis(20));
    sb.write(".runbook/runs/29991231T235959Z-resume-latest.jsonl", "");
    sb.write("fixed", "");
    let out = sb.output(&["resume", "--yes", "--operator", "tester"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(sb.read("effects"), "after\n");
}
