//! `block:` (steps under one shared `when`) and `for_each:` (a step repeated per item), since
//! format 1.1: check, plan, run, resume and the report, on the real binary.

use std::time::Duration;

use crate::support::*;
use serde_json::json;

/// `runbook check FILE`: its exit code and everything it printed.
fn check(sb: &Sandbox, file: &str) -> (i32, String) {
    let out = sb.output(&["check", file]);
    (out.code, format!("{}{}", out.stdout, out.stderr))
}

// ---------------------------------------------------------------------------------------------
// block:
// ---------------------------------------------------------------------------------------------

const BLOCKS: &str = r#"
params:
  severity: { type: choice, choices: [P0, P1], default: P1 }
steps:
  - id: look
    run: echo looked >> effects
  - id: p0-response
    name: P0 response
    when: severity == "P0"
    block:
      - id: page-cto
        run: echo paged >> effects
      - id: freeze
        when: "'freeze' != ''"
        run: echo frozen >> effects
      - id: inner
        block:
          - id: status-page
            run: echo status >> effects
  - id: after
    run: echo after >> effects
"#;

#[test]
fn a_block_runs_its_steps_only_while_its_when_holds() {
    let sb = Sandbox::new();
    let pb = sb.playbook("pb.yaml", "blocks", BLOCKS);
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    assert_eq!(sb.read("effects"), "looked\nafter\n");
    for id in ["page-cto", "freeze", "status-page"] {
        let done = r.finished(id);
        assert_eq!(done["outcome"], "skipped", "{id}");
        assert_eq!(
            done["message"], "block `p0-response`: when: severity == \"P0\" is false",
            "{id}"
        );
    }
    assert!(
        r.of_step("step_finished", "p0-response").is_empty(),
        "a block has no record of its own: {}",
        r.dump()
    );

    std::fs::remove_file(sb.path("effects")).unwrap();
    let r = sb.run(&pb, &["--var", "severity=P0"]);
    r.assert_code(0);
    assert_eq!(
        sb.read("effects"),
        "looked\npaged\nfrozen\nstatus\nafter\n",
        "in order, nested blocks included"
    );
}

#[test]
fn a_goto_to_a_block_goes_to_its_first_step_and_plan_shows_the_block() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "block-goto",
        r#"
steps:
  - id: probe
    run: "false"
    on_failure: recover
  - id: skipped-over
    run: echo never >> effects
  - id: recover
    name: Recover
    block:
      - id: restart
        run: echo restarted >> effects
      - id: verify
        run: echo verified >> effects
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    assert_eq!(sb.read("effects"), "restarted\nverified\n");

    let plan = sb.output(&["plan", "pb.yaml", "--format", "json"]);
    plan.expect_code(0);
    let plan = plan.json();
    let steps = plan["steps"].as_array().unwrap();
    let ids: Vec<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["probe", "skipped-over", "restart", "verify"]);
    assert_eq!(steps[0]["next_failed"], json!({"step": "restart"}));
    assert_eq!(
        steps[2]["blocks"],
        json!([{"id": "recover", "name": "Recover"}])
    );

    let text = sb.output(&["plan", "pb.yaml"]);
    text.expect_code(0);
    assert!(
        text.stdout.contains("in block   recover"),
        "{}",
        text.stdout
    );

    // In the pull-request comment's flowchart the block is a box around its steps.
    let markdown = sb.output(&["plan", "pb.yaml", "--format", "markdown"]);
    markdown.expect_code(0);
    assert!(
        markdown.stdout.contains(
            "  subgraph b1[\"recover\"]\n    s3[\"3 restart\"]\n    s4[\"4 verify\"]\n  end\n"
        ),
        "{}",
        markdown.stdout
    );
}

#[test]
fn check_refuses_a_block_that_does_something_itself_and_blocks_in_parallel_groups() {
    let sb = Sandbox::new();
    sb.playbook(
        "pb.yaml",
        "bad-blocks",
        r#"
steps:
  - id: acting-block
    run: echo hi
    block:
      - id: a
        run: echo a
  - id: retried-block
    retry: { attempts: 2 }
    block:
      - id: b
        run: echo b
  - id: empty
    block: []
  - id: group
    parallel:
      - id: nested
        block:
          - id: c
            run: echo c
  - id: reads-block
    run: echo {{ steps['retried-block'].status }} {{ steps.empty.status }}
"#,
    );
    let (code, text) = check(&sb, "pb.yaml");
    assert_eq!(code, 2, "{text}");
    for expected in [
        "block `acting-block` also has run",
        "block `retried-block`: retry cannot apply to a block",
        "block `empty` has no steps",
        "`nested` is a block inside a parallel group",
        "`steps.empty`: no step has the id `empty`",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// for_each:
// ---------------------------------------------------------------------------------------------

#[test]
fn for_each_runs_the_step_per_item_with_each_item_as_data() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "for-each",
        r#"
vars:
  services: [api, "$(touch pwned)", worker]
steps:
  - id: restart
    name: Restart
    for_each: services
    as: service
    run: echo "restart {{ service }}" >> effects
    capture:
      last: { stdout: true }
  - id: after
    run: echo "after {{ last }} {{ steps.restart.status }}" >> effects
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    assert!(!sb.exists("pwned"), "an item ran as code");
    assert_eq!(
        sb.read("effects"),
        "restart api\nrestart $(touch pwned)\nrestart worker\nafter  ok\n"
    );
    for (n, item) in [(1, "api"), (2, "$(touch pwned)"), (3, "worker")] {
        let path = format!("restart[{n}]");
        assert_eq!(r.outcome(&path), "ok");
        let started = r.started(&path);
        assert_eq!(started[0]["name"], format!("Restart [{n}/3: {item}]"));
    }
    let step = r.finished("restart");
    assert_eq!(step["outcome"], "ok");
    assert_eq!(step["message"], "3 items: 3 ok");
    let end = r.run_finished();
    assert_eq!(end["outcome"], "success");
}

#[test]
fn for_each_reads_the_lines_a_step_printed_and_a_failed_item_stops_the_rest() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "for-each-lines",
        r#"
steps:
  - id: list
    run: printf 'db-1\n\ndb-2\ndb-3\n'
  - id: vacuum
    for_each: steps.list.stdout
    run: |
      echo "vacuum {{ item }}" >> effects
      [ "{{ item }}" != db-2 ]
  - id: never
    run: echo never >> effects
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    assert_eq!(sb.read("effects"), "vacuum db-1\nvacuum db-2\n");
    assert_eq!(r.outcome("vacuum[1]"), "ok");
    assert_eq!(r.outcome("vacuum[2]"), "failed");
    assert!(r.of_step("step_started", "vacuum[3]").is_empty());
    let step = r.finished("vacuum");
    assert_eq!(step["outcome"], "failed");
    assert!(
        step["message"]
            .as_str()
            .unwrap()
            .starts_with("3 items: 1 ok, 1 failed, 1 not run; item 2 failed"),
        "{step}"
    );
    assert!(r.of_step("step_finished", "never").is_empty());
}

#[test]
fn for_each_with_on_failure_continue_runs_every_item_and_when_filters_items() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "for-each-continue",
        r#"
steps:
  - id: probe
    for_each: [{ name: a, port: 1 }, { name: b, port: 2 }, { name: c, port: 3 }]
    as: target
    when: target.name != "b"
    run: |
      echo "{{ target.name }}:{{ target.port }}" >> effects
      [ {{ target.port }} -lt 3 ]
    on_failure: continue
  - id: after
    run: echo after >> effects
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    assert_eq!(sb.read("effects"), "a:1\nc:3\nafter\n");
    assert_eq!(r.outcome("probe[2]"), "skipped");
    assert_eq!(r.outcome("probe[3]"), "failed");
    assert_eq!(r.outcome("probe"), "failed");
    assert_eq!(r.outcome("after"), "ok");
}

#[test]
fn a_resumed_for_each_runs_only_the_items_that_did_not_finish() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "for-each-resume",
        r#"
steps:
  - id: drain
    for_each: [node-1, node-2, node-3]
    run: |
      echo "start {{ item }}" >> effects
      if [ "{{ item }}" = node-2 ] && [ ! -e fast ]; then sleep 30.53; fi
      echo "done {{ item }}" >> effects
  - id: after
    run: echo after >> effects
"#,
    );
    let (mut child, transcript) = sb.spawn_run(&pb, &[]);
    wait_for_process("sleep 30.53", Duration::from_secs(20));
    signal(child.id(), "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(10));
    kill_leftovers("sleep 30.53");
    assert_eq!(status.code(), Some(3));
    assert_eq!(
        sb.read("effects"),
        "start node-1\ndone node-1\nstart node-2\n"
    );

    sb.write("fast", "");
    let r = sb.resume(&transcript, &[]);
    r.assert_code(0);
    assert_eq!(
        sb.read("effects"),
        "start node-1\ndone node-1\nstart node-2\nstart node-2\ndone node-2\nstart node-3\ndone node-3\nafter\n",
        "node-1 did not run again; node-2, cut short, ran again"
    );
    let finished: Vec<String> = r
        .events("step_finished")
        .iter()
        .map(|f| {
            format!(
                "{}={}",
                f["step"].as_str().unwrap(),
                f["outcome"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        finished
            .iter()
            .filter(|f| f.starts_with("drain[1]"))
            .count(),
        1,
        "{finished:?}"
    );
    assert_eq!(r.outcome("drain"), "ok");
    assert_eq!(r.finished("drain")["message"], "3 items: 3 ok");
}

#[test]
fn check_and_plan_know_the_item_name_only_in_its_step() {
    let sb = Sandbox::new();
    sb.playbook(
        "bad.yaml",
        "bad-for-each",
        r#"
params:
  host: { default: web-1 }
steps:
  - id: shadow
    for_each: [a]
    as: host
    run: echo {{ host }}
  - id: braces
    for_each: "{{ hosts }}"
    run: echo {{ item }}
  - id: later
    run: echo {{ item }}
  - id: lonely
    as: thing
    run: echo hi
  - id: group
    for_each: [a, b]
    parallel:
      - id: child
        run: echo child
"#,
    );
    let (code, text) = check(&sb, "bad.yaml");
    assert_eq!(code, 2, "{text}");
    for expected in [
        "the item name `host` of step `shadow` is already a name its templates read",
        "`for_each` is an expression, like `when`, not a template",
        "`item` is not declared",
        "step `lonely`: `as` needs `for_each`",
        "step `group`: `for_each` cannot repeat a `parallel` step",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    sb.playbook(
        "pb.yaml",
        "plan-for-each",
        r#"
vars:
  services: [api, worker]
steps:
  - id: list
    run: echo db-1
  - id: restart
    for_each: services
    as: service
    run: systemctl restart {{ service }}
  - id: vacuum
    for_each: steps.list.stdout
    run: vacuumdb {{ item }}
"#,
    );
    let plan = sb.output(&["plan", "pb.yaml", "--format", "json"]);
    plan.expect_code(0);
    let plan = plan.json();
    let restart = &plan["steps"][1];
    assert_eq!(
        restart["for_each"],
        json!({"as": "service", "expression": "services", "items": ["api", "worker"]})
    );
    assert_eq!(restart["command"], "systemctl restart <service>");
    assert_eq!(
        plan["steps"][2]["for_each"],
        json!({"as": "item", "expression": "steps.list.stdout"})
    );
    let text = sb.output(&["plan", "pb.yaml"]);
    assert!(
        text.stdout
            .contains("for each   service in services (api, worker)"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("for each   item in steps.list.stdout (known at run time)"),
        "{}",
        text.stdout
    );
}

#[test]
fn the_operator_is_asked_per_item_and_told_which_one() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "for-each-operator",
        r#"
steps:
  - id: restart
    for_each: [api, worker]
    as: service
    run: echo "restarted {{ service }}" >> effects
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect("for each: item 1 of 2: api");
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("for each: item 2 of 2: worker");
    term.expect_run_prompt();
    term.send_line("s");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert_eq!(sb.read("effects"), "restarted api\n");
    let records = read_transcript(&t);
    let finished: Vec<(String, String)> = events(&records, "step_finished")
        .iter()
        .map(|f| {
            (
                f["step"].as_str().unwrap().to_owned(),
                f["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        finished,
        [
            ("restart[1]".to_owned(), "ok".to_owned()),
            ("restart[2]".to_owned(), "skipped".to_owned()),
            ("restart".to_owned(), "ok".to_owned()),
        ]
    );
}

#[test]
fn the_report_shows_each_repetition_and_the_step() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "for-each-report",
        r#"
steps:
  - id: ping
    name: Ping
    for_each: [db-1, "<b>db-2</b>"]
    run: echo "pong {{ item }}"
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    let markdown = sb.report(&r.transcript, "markdown");
    markdown.expect_code(0);
    for expected in [
        "`ping[1]` — Ping \\[1/2: db-1\\]: ok",
        "`ping[2]` — Ping \\[2/2: &lt;b&gt;db-2&lt;/b&gt;\\]: ok",
        "pong db-1",
        "| `ping` Ping | ok |",
        "2 items: 2 ok",
    ] {
        assert!(
            markdown.stdout.contains(expected),
            "missing {expected:?} in:\n{}",
            markdown.stdout
        );
    }
    // The step itself opens the timeline (`action: for_each`), its repetitions follow.
    let at = |needle: &str| markdown.stdout.find(needle).unwrap();
    assert!(at("| `ping` Ping |") < at("| `ping[1]` Ping"));
    assert_eq!(r.started("ping")[0]["action"], "for_each");
    let html = sb.report(&r.transcript, "html");
    html.expect_code(0);
    assert!(
        html.stdout.contains("Ping [2/2: &lt;b&gt;db-2&lt;/b&gt;]"),
        "{}",
        html.stdout
    );
    assert!(!html.stdout.contains("<b>db-2</b>"));
}

#[test]
fn for_each_runs_a_sub_playbook_per_item_with_its_own_values() {
    let sb = Sandbox::new();
    sb.playbook(
        "probe.yaml",
        "probe",
        r#"
params:
  port: { type: int }
steps:
  - id: knock
    run: echo "knock {{ port }}" >> effects
"#,
    );
    let pb = sb.playbook(
        "pb.yaml",
        "for-each-sub",
        r#"
steps:
  - id: ports
    for_each: [8080, 9090]
    as: port
    playbook: probe.yaml
    with: { port: "{{ port }}" }
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    assert_eq!(sb.read("effects"), "knock 8080\nknock 9090\n");
    assert_eq!(r.outcome("ports[1]/knock"), "ok");
    assert_eq!(r.outcome("ports[2]/knock"), "ok");
    assert_eq!(r.outcome("ports"), "ok");

    let plan = sb.output(&["plan", "pb.yaml", "--format", "json"]);
    plan.expect_code(0);
    let plan = plan.json();
    let step = &plan["steps"][0];
    assert!(step.get("errors").is_none(), "{step}");
    assert_eq!(step["with"]["port"], "<port>");
    assert_eq!(step["for_each"]["items"], json!(["8080", "9090"]));
}

#[test]
fn plan_diff_names_a_changed_block_items_channels_and_terminal() {
    let sb = Sandbox::new();
    let old = r#"
steps:
  - id: p0
    when: "severity == 'P0'"
    block:
      - id: page
        notify: { channels: [lead], message: hi }
  - id: each
    for_each: [a, b]
    run: echo {{ item }}
  - id: edit
    run: crontab -e
"#;
    let new = old
        .replace("'P0'", "'P1'")
        .replace("[lead]", "[lead, cto]")
        .replace("[a, b]", "[a, b, c]")
        .replace("run: crontab -e", "run: crontab -e\n    interactive: true");
    let params = "params:\n  severity: { default: P0 }\n";
    sb.playbook("old.yaml", "diffed", &format!("{params}{old}"));
    sb.playbook("new.yaml", "diffed", &format!("{params}{new}"));
    sb.inventory(
        "inv.yaml",
        "channels:\n  lead: { command: cat }\n  cto: { command: cat }\n",
    );
    let out = sb.output(&[
        "plan", "--diff", "old.yaml", "new.yaml", "-i", "inv.yaml", "--format", "json",
    ]);
    out.expect_code(0);
    let diff = out.json();
    let changed: Vec<String> = diff["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            let id = s["id"].as_str().unwrap().to_owned();
            s["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |f| format!("{id}.{}", f["field"].as_str().unwrap()))
        })
        .collect();
    assert_eq!(
        changed,
        [
            "page.blocks",
            "page.notify",
            "each.for_each",
            "edit.interactive"
        ]
    );
    assert_eq!(diff["steps"][1]["fields"][0]["new_text"], "item in a, b, c");
}

#[test]
fn a_resumed_run_replays_the_finished_steps_of_a_block_and_keeps_its_condition() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "block-resume",
        r#"
params:
  platform: { default: kubernetes }
steps:
  - id: kubernetes
    when: platform == "kubernetes"
    block:
      - id: first
        run: echo first >> effects
      - id: second
        run: |
          echo second >> effects
          [ -e fast ] || sleep 30.89
  - id: compose
    when: platform == "compose"
    block:
      - id: compose-only
        run: echo compose >> effects
  - id: after
    run: echo after >> effects
"#,
    );
    let (mut child, transcript) = sb.spawn_run(&pb, &[]);
    wait_for_process("sleep 30.89", Duration::from_secs(20));
    signal(child.id(), "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(10));
    kill_leftovers("sleep 30.89");
    assert_eq!(status.code(), Some(3));

    sb.write("fast", "");
    let r = sb.resume(&transcript, &[]);
    r.assert_code(0);
    assert_eq!(
        sb.read("effects"),
        "first\nsecond\nsecond\nafter\n",
        "first did not run again, second (cut short) did, the compose block stayed skipped"
    );
    assert_eq!(r.outcome("compose-only"), "skipped");
}

#[test]
fn for_each_over_too_many_items_fails_the_step_before_any_runs() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "for-each-bound",
        &format!(
            "steps:\n  - id: each\n    for_each: [{}]\n    run: echo {{{{ item }}}} >> effects\n",
            (1..=10_001)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    assert_eq!(
        r.finished("each")["message"],
        "for_each: 10001 items, more than the 10000 a step repeats over"
    );
    assert!(!sb.exists("effects"));
}

#[test]
fn a_resumed_run_replays_each_visit_of_a_for_each_with_its_own_items_answers_and_counts() {
    let body = r#"
steps:
  - id: ask
    for_each: [a, b]
    manual: check {{ item }}
    inputs: { reading: { prompt: r, default: "42" } }
  - id: items
    max_visits: 5
    for_each: [a, b]
    run: |
      echo "run {{ item }}" >> effects
      if [ ! -e fast ] && [ $(wc -l < effects) -eq 3 ]; then sleep 30.93; fi
  - id: gate
    run: |
      n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count
      test $n -ge 2
    on_failure: items
    max_visits: 5
  - id: use
    run: echo "reading={{ reading }}" >> effects
"#;
    let counts = |r: &RunResult| {
        let end = r.run_finished();
        ["steps_ok", "steps_warning", "steps_failed", "steps_skipped"].map(|k| end[k].clone())
    };
    // Stopped in the second visit of `items`, at its first item.
    let sb = Sandbox::new();
    let pb = sb.playbook("pb.yaml", "for-each-revisit", body);
    let (mut child, transcript) = sb.spawn_run(&pb, &["--manual", "skip"]);
    wait_for_process("sleep 30.93", Duration::from_secs(20));
    signal(child.id(), "TERM");
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(10)).code(),
        Some(3)
    );
    kill_leftovers("sleep 30.93");
    sb.write("fast", "");
    let resumed = sb.resume(&transcript, &["--manual", "skip"]);
    resumed.assert_code(0);
    assert_eq!(
        sb.read("effects"),
        "run a\nrun b\nrun a\nrun a\nrun b\nreading=42\n",
        "the second visit ran its own items again; the answers of the first are known"
    );
    // The same counts as a run that was never stopped.
    let fresh = Sandbox::new();
    let pb = fresh.playbook("pb.yaml", "for-each-revisit", body);
    fresh.write("fast", "");
    let whole = fresh.run(&pb, &["--manual", "skip"]);
    whole.assert_code(0);
    assert_eq!(
        fresh.read("effects"),
        "run a\nrun b\nrun a\nrun b\nreading=42\n"
    );
    assert_eq!(counts(&resumed), counts(&whole));
}

#[test]
fn repetitions_output_is_line_by_line_and_a_when_without_the_item_is_decided_once() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "for-each-lines-once",
        r#"
steps:
  - id: probe
    run: echo no
    capture: { done: { stdout: true } }
  - id: find
    for_each: [db-1, db-2, db-3]
    when: done == "no"
    run: echo "{{ item }}-replica"; echo yes > /dev/null
    capture: { done: { regex: '(replica)' } }
  - id: use
    for_each: steps.find.stdout
    run: echo "restart {{ item }}" >> effects
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(0);
    // `done` changed after the first item: the step's when was decided once, before it.
    assert_eq!(r.finished("find")["message"], "3 items: 3 ok");
    assert_eq!(
        sb.read("effects"),
        "restart db-1-replica\nrestart db-2-replica\nrestart db-3-replica\n"
    );
}

#[test]
fn for_each_over_an_undefined_value_fails_instead_of_repeating_nothing() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "for-each-typo",
        r#"
steps:
  - id: list
    run: echo '{"hosts":["a","b"]}'
    capture: { doc: { json: "." } }
  - id: per-host
    for_each: doc.hostz
    run: echo restart {{ item }}
"#,
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    let done = r.finished("per-host");
    assert_eq!(done["outcome"], "failed");
    assert!(
        done["message"].as_str().unwrap().contains("is undefined"),
        "{done}"
    );
}

#[test]
fn check_refuses_a_capture_named_as_the_item_and_plan_reads_fields_of_map_items() {
    let sb = Sandbox::new();
    sb.playbook(
        "clash.yaml",
        "for-each-clash",
        r#"
steps:
  - id: s
    for_each: [x1, x2]
    as: svc
    run: echo "got-{{ svc }}"
    capture: { svc: { stdout: true } }
"#,
    );
    let (code, text) = check(&sb, "clash.yaml");
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("step `s` captures or asks `svc`, the name of its item"),
        "{text}"
    );

    sb.playbook(
        "maps.yaml",
        "for-each-maps",
        r#"
steps:
  - id: each
    for_each: [{ name: api, port: 80 }, { name: web, port: 81 }]
    run: echo {{ item.name }} {{ item.port }}
"#,
    );
    let plan = sb.output(&["plan", "maps.yaml", "--format", "json"]);
    plan.expect_code(0);
    assert_eq!(
        plan.json()["steps"][0]["command"],
        "echo <item.name> <item.port>"
    );
}

#[test]
fn the_items_of_a_secret_list_are_masked_one_by_one() {
    let sb = Sandbox::new();
    let inv = sb.inventory(
        "inv.yaml",
        "vars:\n  keys: [key-alpha-123456, key-beta-654321]\nsecrets: [keys]\n",
    );
    let pb = sb.playbook(
        "pb.yaml",
        "for-each-secret",
        r#"
vars:
  keys: []
steps:
  - id: rotate
    for_each: keys
    as: key
    run: echo "rotating {{ key }}"
"#,
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(0);
    assert_eq!(r.finished("rotate")["message"], "2 items: 2 ok");
    let plan = sb.output(&["plan", "pb.yaml", "-i", "inv.yaml", "--format", "json"]);
    plan.expect_code(0);
    let report = sb.report(&r.transcript, "markdown");
    for (what, text) in [
        (
            "transcript",
            std::fs::read_to_string(&r.transcript).unwrap(),
        ),
        ("output", format!("{}{}", r.stdout, r.stderr)),
        ("plan", plan.stdout.clone()),
        ("report", report.stdout.clone()),
    ] {
        for secret in ["key-alpha-123456", "key-beta-654321"] {
            assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
        }
    }
    assert!(
        r.started("rotate[1]")[0]["name"]
            .as_str()
            .unwrap()
            .contains("***")
    );
}
