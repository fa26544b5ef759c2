//! Format 1.1 additions, end to end: the real binary on small playbooks, its transcript read
//! back (`notify:`, `fail:`, `succeed:`, list `contains:`, templated durations, steps that
//! never ran, `metadata.schedule`, `command` params).

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

// ---------------------------------------------------------------------------------------------
// notify:
// ---------------------------------------------------------------------------------------------

#[test]
fn notify_sends_the_message_and_the_report_so_far_with_secrets_masked() {
    let sink = HttpSink::start();
    let sb = Sandbox::new();
    let inv = sb.webhook_inventory(&sink.url, &["lead"]);
    let pb = sb.playbook(
        "pb.yaml",
        "notify-now",
        r#"
params:
  token: { secret: true, default: hunter2-secret }
  severity: { default: P0 }
steps:
  - id: look
    run: echo "checked with {{ token }}"
  - id: page-cto
    when: severity == "P0"
    notify:
      channels: [lead]
      message: "{{ severity }} declared; token {{ token }}"
      report: true
  - id: page-nobody
    when: severity == "P3"
    notify: { channels: [lead], message: never sent }
  - id: after
    run: echo after
"#,
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(0);
    assert_eq!(r.outcome("page-cto"), "ok");
    assert_eq!(r.finished("page-cto")["message"], "sent to lead");
    assert_eq!(r.outcome("page-nobody"), "skipped");
    assert_eq!(r.outcome("after"), "ok");

    let esc = r.events("escalation");
    assert_eq!(esc.len(), 1, "{}", r.dump());
    assert_eq!(esc[0]["reason"], "notify");
    assert_eq!(esc[0]["step"], "page-cto");
    assert_eq!(esc[0]["channels"], json!(["lead"]));
    assert_eq!(esc[0]["message"], "P0 declared; token ***");
    assert_eq!(esc[0]["deliveries"][0]["ok"], true);

    let requests = sink.take(1, Duration::from_secs(5));
    assert_eq!(requests.len(), 1);
    let body = requests[0].json();
    assert_eq!(body["reason"], "notify");
    assert_eq!(body["message"], "P0 declared; token ***");
    let report = str_of(&body["report"]);
    assert!(
        report.contains("look"),
        "the report so far names the steps: {report}"
    );
    assert!(str_of(&body["text"]).contains(report));
    let raw = &requests[0].body;
    assert!(!raw.contains("hunter2-secret"), "a secret was sent: {raw}");
    assert!(
        !std::fs::read_to_string(&r.transcript)
            .unwrap()
            .contains("hunter2-secret")
    );
}

#[test]
fn a_notify_step_already_finished_is_not_sent_again_on_resume() {
    let sb = Sandbox::new();
    let inv = sb.inventory(
        "inv.yaml",
        "channels:\n  pager: { command: \"cat >> sent.txt\" }\n",
    );
    let pb = sb.playbook(
        "pb.yaml",
        "notify-resume",
        r#"
steps:
  - id: tell
    notify: { channels: [pager], message: "started the drill" }
  - id: long
    run: "[ -e fast ] || sleep 30.23"
  - id: after
    run: echo after >> effects
"#,
    );
    let (mut child, transcript) = sb.spawn_run(&pb, &["-i", inv.to_str().unwrap()]);
    wait_for_process("sleep 30.23", Duration::from_secs(10));
    signal(child.id(), "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(10));
    kill_leftovers("sleep 30.23");
    assert_eq!(status.code(), Some(3));
    sb.write("fast", "");
    sb.resume(&transcript, &[]).assert_code(0);
    let sent = std::fs::read_to_string(sb.path("sent.txt")).unwrap();
    assert_eq!(sent, "started the drill\n", "sent exactly once");
    assert_eq!(
        std::fs::read_to_string(sb.path("effects")).unwrap(),
        "after\n"
    );
}

// ---------------------------------------------------------------------------------------------
// fail: and succeed:
// ---------------------------------------------------------------------------------------------

#[test]
fn fail_ends_the_run_as_failed_with_its_reason_after_finally() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "fail-now",
        r#"
params:
  replicas: { type: int, default: 0 }
steps:
  - id: count
    run: echo counted
  - id: stop-here
    when: replicas == 0
    fail: "no replica is left ({{ replicas }}); restore from backup"
  - id: never
    run: echo never >> effects
finally:
  - id: cleanup
    run: echo cleanup >> effects
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    let stop = r.finished("stop-here");
    assert_eq!(stop["outcome"], "failed");
    assert_eq!(stop["reason"], "fail");
    assert_eq!(
        stop["message"],
        "no replica is left (0); restore from backup"
    );
    assert!(r.of_step("step_finished", "never").is_empty());
    assert_eq!(
        std::fs::read_to_string(sb.path("effects")).unwrap(),
        "cleanup\n"
    );
    let end = r.run_finished();
    assert_eq!(end["outcome"], "failed");
    assert_eq!(end["failed_step"], "stop-here");
    assert_eq!(end["reason"], "no replica is left (0); restore from backup");
    assert!(
        r.stderr.contains("no replica is left (0)"),
        "the reason is on the screen: {}",
        r.stderr
    );

    // When the condition is false, the run goes on.
    let r = sb.run(&pb, &["--var", "replicas=2"]);
    r.assert_code(0);
    assert_eq!(r.outcome("stop-here"), "skipped");
    assert_eq!(r.outcome("never"), "ok");
}

#[test]
fn succeed_ends_the_run_early_as_succeeded_and_finally_runs() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "succeed-now",
        r#"
steps:
  - id: probe
    run: echo healthy
    capture: { state: { stdout: true } }
  - id: nothing-to-do
    when: state == "healthy"
    succeed: "the service is {{ state }}: nothing to repair"
  - id: repair
    run: echo repair >> effects
finally:
  - id: note
    run: echo note >> effects
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    let done = r.finished("nothing-to-do");
    assert_eq!(done["outcome"], "ok");
    assert_eq!(done["reason"], "succeed");
    assert!(r.of_step("step_finished", "repair").is_empty());
    assert_eq!(
        std::fs::read_to_string(sb.path("effects")).unwrap(),
        "note\n"
    );
    let end = r.run_finished();
    assert_eq!(end["outcome"], "success");
    assert_eq!(end["reason"], "the service is healthy: nothing to repair");
}

const ENDINGS: &str = r#"
params:
  severity: { type: choice, choices: [P0, P1], default: P0 }
steps:
  - id: probe
    run: echo healthy
    capture: { state: { stdout: true } }
  - id: page-cto
    when: severity == "P0"
    notify:
      channels: [cto, lead]
      message: "{{ severity }} declared"
      report: true
  - id: nothing-to-do
    when: state == "healthy"
    succeed: "the service is {{ state }}"
  - id: give-up
    fail: "{{ severity }}: the service cannot be repaired"
"#;

#[test]
fn plan_shows_notify_fail_and_succeed_with_the_engines_flow() {
    let sb = Sandbox::new();
    sb.playbook("pb.yaml", "endings", ENDINGS);
    // Plans name the playbook as given: relative, so the snapshots hold no temp folder.
    let planned = sb
        .output(&["plan", "pb.yaml", "--format", "json"])
        .expect_code(0)
        .json();
    let step = |id: &str| {
        planned["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };
    let notify = step("page-cto");
    assert_eq!(notify["action"], "notify");
    assert_eq!(
        notify["notify"],
        json!({"channels": ["cto", "lead"], "report": true})
    );
    assert_eq!(notify["text"], "P0 declared");
    let done = step("nothing-to-do");
    assert_eq!(done["action"], "succeed");
    assert_eq!(done["next_ok"], "finally");
    assert_eq!(done["next_skipped"], json!({"step": "give-up"}));
    let stop = step("give-up");
    assert_eq!(stop["action"], "fail");
    assert_eq!(stop["text"], "P0: the service cannot be repaired");
    assert_eq!(stop["next_failed"], "stop");

    let human = sb.output(&["plan", "pb.yaml"]);
    human.expect_code(0);
    let markdown = sb.output(&["plan", "pb.yaml", "--format", "markdown"]);
    markdown.expect_code(0);
    insta::assert_snapshot!("plan-endings-human", human.stdout);
    insta::assert_snapshot!("plan-endings-markdown", markdown.stdout);
}

// ---------------------------------------------------------------------------------------------
// contains: a list
// ---------------------------------------------------------------------------------------------

#[test]
fn contains_a_list_needs_every_text_and_names_the_missing_one() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "contains-list",
        r#"
params:
  service: { default: api }
steps:
  - id: all-there
    run: printf 'api active\nworkers 200\n'
    expect: { stdout: { contains: ["{{ service }} active", "200"], not_contains: [error, panic] } }
  - id: one-missing
    run: echo "api active"
    expect: { stdout: { contains: [active, ready] } }
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    assert_eq!(r.outcome("all-there"), "ok");
    let verdicts = r.finished("all-there")["verdicts"]
        .as_array()
        .unwrap()
        .clone();
    let what: Vec<&str> = verdicts.iter().map(|v| str_of(&v["what"])).collect();
    assert!(what.contains(&"stdout contains \"api active\""), "{what:?}");
    assert!(what.contains(&"stdout contains \"200\""), "{what:?}");
    assert!(
        what.contains(&"stdout does not contain \"panic\""),
        "{what:?}"
    );
    let failed = r.finished("one-missing");
    assert_eq!(failed["outcome"], "failed");
    let bad: Vec<&Value> = failed["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["ok"] == false)
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["what"], "stdout contains \"ready\"");

    let planned = sb
        .output(&["plan", "pb.yaml", "--format", "json"])
        .expect_code(0)
        .json();
    assert_eq!(planned["steps"][0]["expect"].as_array().unwrap().len(), 4);
    assert_eq!(
        planned["steps"][0]["expect"][0],
        json!({"kind": "output", "stream": "stdout", "op": "contains", "value": "api active"})
    );
}

#[test]
fn an_empty_contains_list_is_a_check_error() {
    let sb = Sandbox::new();
    sb.playbook(
        "pb.yaml",
        "empty-contains",
        "steps:\n  - id: a\n    run: echo hi\n    expect: { stdout: { contains: [] } }\n",
    );
    let stdout = sb
        .output(&["check", "pb.yaml"])
        .expect_code(2)
        .stdout
        .clone();
    assert!(
        stdout.contains("error[bad-matcher]: an empty list"),
        "{stdout}"
    );
    assert!(stdout.contains("pb.yaml:10:"), "{stdout}");
}

// ---------------------------------------------------------------------------------------------
// Templated durations
// ---------------------------------------------------------------------------------------------

const DRILL: &str = r#"
params:
  pause: { type: duration, default: 30m }
  limit: { default: 30m }
vars:
  step_every: 100ms
steps:
  - id: hold
    wait: "{{ pause }}"
  - id: slow
    run: sleep 5.31
    timeout: "{{ limit }}"
    on_failure: continue
  - id: poll
    run: "true"
    watch: { every: "{{ step_every }}", for: "{{ params.pause }}" }
"#;

#[test]
fn templated_durations_take_the_runs_values() {
    let sb = Sandbox::new();
    let pb = sb.playbook("pb.yaml", "drill", DRILL);
    let started = std::time::Instant::now();
    let r = sb.run(&pb, &["--var", "pause=300ms", "--var", "limit=200ms"]);
    r.assert_code(0);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the 30m defaults were used"
    );
    assert_eq!(r.started("hold")[0]["planned_ms"], 300);
    assert_eq!(r.finished("slow")["reason"], "timeout");
    assert_eq!(r.started("poll")[0]["planned_ms"], 300);
    assert_eq!(r.outcome("poll"), "ok");

    let planned = sb
        .output(&["plan", "pb.yaml", "--format", "json", "--var", "limit=2s"])
        .expect_code(0)
        .json();
    assert_eq!(planned["steps"][0]["wait_ms"], 1_800_000);
    assert_eq!(planned["steps"][1]["timeout_ms"], 2000);
    assert_eq!(planned["steps"][2]["watch"]["every_ms"], 100);
}

#[test]
fn plan_shows_a_templated_duration_of_an_unset_param_as_unset_not_zero() {
    let sb = Sandbox::new();
    sb.playbook(
        "pb.yaml",
        "drill-unset",
        r#"
params:
  pause: { type: duration }
  limit: { type: duration }
steps:
  - id: hold
    wait: "{{ pause }}"
  - id: slow
    run: sleep 1
    timeout: "{{ limit }}"
  - id: poll
    run: "true"
    watch: { every: 1s, for: "{{ pause }}" }
"#,
    );
    let planned = sb
        .output(&["plan", "pb.yaml", "--format", "json"])
        .expect_code(0)
        .json();
    let (hold, slow) = (&planned["steps"][0], &planned["steps"][1]);
    assert!(hold.get("wait_ms").is_none(), "{hold}");
    assert_eq!(hold["unset_durations"], json!({"wait": "⟨pause⟩"}));
    assert!(slow.get("timeout_ms").is_none(), "{slow}");
    assert_eq!(slow["unset_durations"], json!({"timeout": "⟨limit⟩"}));
    let text = sb
        .output(&["plan", "pb.yaml"])
        .expect_code(0)
        .stdout
        .clone();
    assert!(text.contains("unset    timeout ⟨limit⟩"), "{text}");
    assert!(!text.contains("timeout  0s"), "{text}");
    assert!(text.contains("unset    watch.for ⟨pause⟩"), "{text}");
    assert!(!text.contains("for 0s"), "{text}");
}

#[test]
fn a_templated_duration_that_is_not_one_stops_the_run_before_it_starts() {
    let sb = Sandbox::new();
    let pb = sb.playbook("pb.yaml", "drill", DRILL);
    let r = sb.run(&pb, &["--var", "limit=soon"]);
    r.assert_code(2);
    assert!(r.records.is_empty(), "nothing ran: {}", r.dump());
    assert!(
        r.stderr
            .contains("pb.yaml:18:14: timeout `{{ limit }}` is `soon`, not a duration"),
        "{}",
        r.stderr
    );
    let planned = sb
        .output(&["plan", "pb.yaml", "--format", "json", "--var", "limit=soon"])
        // The plan is shown, with the problem on its step, and exits 2 as for any template
        // it cannot resolve.
        .expect_code(2)
        .json();
    assert_eq!(
        planned["steps"][1]["errors"],
        json!(["timeout `{{ limit }}` is `soon`, not a duration like 30s, 15m or 1h30m"])
    );
}

#[test]
fn a_duration_template_may_read_only_params_and_vars() {
    let sb = Sandbox::new();
    sb.playbook(
        "pb.yaml",
        "late-duration",
        r#"
steps:
  - id: ask
    run: echo 5s
    capture: { pause: { stdout: true } }
  - id: hold
    wait: "{{ pause }}"
"#,
    );
    let stdout = sb
        .output(&["check", "pb.yaml"])
        .expect_code(2)
        .stdout
        .clone();
    assert!(
        stdout
            .contains("error[bad-duration]: a duration can read only params and vars, not `pause`"),
        "{stdout}"
    );
    assert!(stdout.contains("pb.yaml:13:15"), "{stdout}");
}

// ---------------------------------------------------------------------------------------------
// Steps that never ran
// ---------------------------------------------------------------------------------------------

#[test]
fn steps_that_never_ran_read_not_run_in_templates() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "not-run",
        r#"
steps:
  - id: check
    run: echo checked
  - id: quiet
    when: "false"
    run: echo never
  - id: stop
    fail: stopped early
  - id: repair
    run: echo repair
finally:
  - id: summary
    report: "check={{ steps.check.status }} quiet={{ steps.quiet.status }} repair={{ steps.repair.status }} exit={{ steps.repair.exit }} summary={{ steps.summary.status }}"
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    assert_eq!(
        r.finished("summary")["report"],
        "check=ok quiet=skipped repair=not_run exit= summary=not_run"
    );
}

// ---------------------------------------------------------------------------------------------
// metadata.schedule
// ---------------------------------------------------------------------------------------------

#[test]
fn a_schedule_is_checked_listed_and_reported() {
    let sb = Sandbox::new();
    sb.write(
        "pbs/morning.yaml",
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n  name: morning\n  schedule: \"0 9 * * 1-5\"\nsteps:\n  - { id: look, run: echo fine }\n",
    );
    sb.write(
        "pbs/adhoc.yaml",
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata: { name: adhoc }\nsteps:\n  - { id: look, run: echo fine }\n",
    );
    let out = sb.output(&["list", "pbs"]);
    out.expect_code(0);
    insta::assert_snapshot!("list-with-schedule", out.stdout);
    let rows = sb.output(&["list", "pbs", "--format", "json"]).json();
    let schedules: Vec<&Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.get("schedule").unwrap_or(&Value::Null))
        .collect();
    assert_eq!(schedules, [&Value::Null, &json!("0 9 * * 1-5")]);

    let r = sb.run(&sb.path("pbs/morning.yaml"), &[]);
    r.assert_code(0);
    assert_eq!(r.run_started()["playbook"]["schedule"], "0 9 * * 1-5");
    let markdown = sb
        .output(&["report", r.transcript.to_str().unwrap()])
        .stdout;
    assert!(
        markdown.contains("| Schedule | `0 9 * * 1-5` |"),
        "{markdown}"
    );

    sb.write(
        "bad.yaml",
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n  name: bad\n  schedule: \"0 25 * * *\"\nsteps:\n  - { id: look, run: echo fine }\n",
    );
    let stdout = sb
        .output(&["check", "bad.yaml"])
        .expect_code(2)
        .stdout
        .clone();
    assert!(
        stdout.contains(
            "error[bad-schedule]: metadata.schedule: hour `25`: `25` is not a number from 0 to 23"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("bad.yaml:5:13"), "{stdout}");
}

// ---------------------------------------------------------------------------------------------
// `type: command` params
// ---------------------------------------------------------------------------------------------

const COMMAND_PARAM: &str = r#"
params:
  restart_cmd: { type: command, default: "echo one && echo two" }
  label: { type: string, default: "a && b" }
steps:
  - id: restart
    run: "{{ restart_cmd }}; echo {{ label }}"
"#;

#[test]
fn a_command_param_runs_as_code_and_a_string_param_stays_data() {
    let sb = Sandbox::new();
    let pb = sb.playbook("pb.yaml", "command-param", COMMAND_PARAM);
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    // The command's `&&` is code (two echos); the string's `&&` is one quoted word.
    assert_eq!(r.output("restart"), ["one", "two", "a && b"]);
    assert_eq!(
        r.started("restart")[0]["command"],
        "echo one && echo two; echo 'a && b'"
    );
    // From --var too: the inventory or the command line fills it, still as code.
    let r = sb.run(&pb, &["--var", "restart_cmd=echo x || echo y"]);
    r.assert_code(0);
    assert_eq!(r.output("restart"), ["x", "a && b"]);
    // plan shows what runs, the same way.
    let text = sb.output(&["plan", "pb.yaml"]).stdout;
    assert!(
        text.contains("$ echo one && echo two; echo 'a && b'"),
        "{text}"
    );
}

#[test]
fn check_refuses_an_empty_command_and_warns_about_one_typed_at_run_time() {
    let sb = Sandbox::new();
    sb.playbook(
        "pb.yaml",
        "typed-command",
        r#"
params:
  restart_cmd: { type: command, default: "" }
steps:
  - id: fix
    manual: Type the command that fixes it.
    inputs:
      fix: { prompt: Fix, type: command, default: "true" }
  - id: apply
    run: "{{ fix }}"
"#,
    );
    let out = sb.output(&["check", "pb.yaml"]);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(out.code, 2, "{all}");
    assert!(all.contains("expected a command line, got ``"), "{all}");
    assert!(
        all.contains(
            "warning[typed-command]: input `fix` of step `fix` is a command typed at run time"
        ),
        "{all}"
    );
}

#[test]
fn a_command_typed_at_run_time_runs_as_code() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "typed-command-run",
        r#"
steps:
  - id: fix
    manual: Type the command that fixes it.
    inputs:
      fix: { prompt: Fix, type: command, default: "echo fixed && echo twice" }
  - id: apply
    run: "{{ fix }}"
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect("Done? [d]one [s]kip [f]ailed [?]");
    term.send_line("d");
    term.expect("Fix");
    term.send_line("");
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("twice");
    assert_eq!(term.finish(), 0, "{}", term.screen);
}

/// A host's own value for a command param is code too, in the run as in `plan`.
#[test]
fn a_hosts_own_command_is_code_in_the_run_as_in_the_plan() {
    let sb = Sandbox::new();
    let inv = sb.inventory(
        "inv.yaml",
        "hosts:\n  box-a: { connection: local }\n  box-b: { connection: local, vars: { restart_cmd: \"echo b-one && echo b-two\" } }\ngroups:\n  boxes: [box-a, box-b]\n",
    );
    let pb = sb.playbook(
        "pb.yaml",
        "host-command",
        r#"
params:
  restart_cmd: { type: command, default: "echo one && echo two" }
steps:
  - id: restart
    on: boxes
    run: "{{ restart_cmd }}"
"#,
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(0);
    assert_eq!(r.output("restart@box-a"), ["one", "two"]);
    assert_eq!(r.output("restart@box-b"), ["b-one", "b-two"]);
    let text = sb.output(&["plan", "pb.yaml", "-i", "inv.yaml"]).stdout;
    assert!(text.contains("$ echo b-one && echo b-two"), "{text}");
}
