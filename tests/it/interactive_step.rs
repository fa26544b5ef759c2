//! `interactive: true` on a run step (format 1.1): the command gets the terminal (the real
//! binary in a pseudo-terminal), only its exit code is recorded; an unattended run refuses it
//! before anything runs, unless `--manual skip`.

use crate::support::*;

const PLAYBOOK: &str = r#"
steps:
  - id: before
    run: echo before > ran-before
  - id: edit-crontab
    run: "read -r -p 'new schedule: ' line; echo \"$line\" > typed; exit 4"
    interactive: true
    expect: { exit: 4 }
  - id: after
    run: cat typed
"#;

#[test]
fn the_command_gets_the_terminal_and_only_its_exit_is_recorded() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook("pb.yaml", "interactive-step", PLAYBOOK);
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("handing the terminal to step edit-crontab");
    term.expect("new schedule: ");
    term.send_line("*/5 * * * *");
    term.expect_run_prompt();
    term.send_line("y");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert_eq!(sb.read("typed"), "*/5 * * * *\n");

    let records = read_complete_transcript(&t);
    let done = one(&records, "step_finished", "edit-crontab");
    assert_eq!(done["outcome"], "ok");
    assert_eq!(done["exit"], 4);
    assert_eq!(done["stdout"].as_str().unwrap_or_default(), "");
    // No output captured: what was typed and shown stays on the terminal.
    assert!(step_events(&records, "output", "edit-crontab").is_empty());
    assert!(
        step_events(&records, "output", "after")
            .iter()
            .any(|o| o["text"] == "*/5 * * * *")
    );
}

#[test]
fn an_unattended_run_refuses_an_interactive_step_before_anything_runs() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook("pb.yaml", "interactive-step", PLAYBOOK);
    let out = sb.output(&[
        "run",
        "--yes",
        pb.to_str().unwrap(),
        "--transcript",
        sb.path("t.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(out.code, 2);
    let err = &out.stderr;
    let line = std::fs::read_to_string(&pb)
        .unwrap()
        .lines()
        .position(|l| l.contains("id: edit-crontab"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!(
            "pb.yaml:{line}:9: step `edit-crontab` is interactive"
        )),
        "{err}"
    );
    assert!(err.contains("--manual skip"), "{err}");
    assert!(!sb.exists("ran-before"));
    assert!(!sb.exists("t.jsonl"));
}

#[test]
fn an_unattended_run_with_manual_skip_skips_it() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "interactive-skip",
        "steps:\n  - id: edit\n    run: nano .env\n    interactive: true\n  - id: after\n    run: echo after\n",
    );
    let t = sb.path("t.jsonl");
    let out = sb.output(&[
        "run",
        "--yes",
        "--manual",
        "skip",
        pb.to_str().unwrap(),
        "--transcript",
        t.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records = read_complete_transcript(&t);
    let edit = one(&records, "step_finished", "edit");
    assert_eq!(edit["outcome"], "skipped");
    assert_eq!(edit["reason"], "unattended");
    assert_eq!(outcome(&records, "after"), "ok");
}

#[test]
fn ctrl_c_in_an_interactive_command_reaches_the_command_not_the_run() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "interactive-ctrl-c",
        r#"
steps:
  - id: console
    run: |
      echo console-ready
      sleep 30.47
      echo never-printed
    interactive: true
    on_failure: continue
  - id: after
    run: echo after-ran
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("console-ready");
    // The operator cancels what the console is doing, as in psql: the key goes to the
    // command's process group, which the terminal belongs to while it runs.
    wait_for_process("sleep 30.47", std::time::Duration::from_secs(10));
    term.ctrl_c();
    // The step ends with the command (SIGINT: 130); the run goes on (`on_failure:
    // continue`), not interrupted.
    term.expect("expected exit 0, got 130");
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("after-ran");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert!(!term.screen.contains("interrupted"), "{}", term.screen);
    let records = read_complete_transcript(&t);
    let done = one(&records, "step_finished", "console");
    assert_eq!(done["exit"], 130, "{done}");
    assert_eq!(done["outcome"], "failed");
    assert_eq!(one(&records, "step_finished", "after")["outcome"], "ok");
}

#[test]
fn ctrl_z_does_not_wedge_an_interactive_command_and_a_stop_signal_reaches_it() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "interactive-ctrl-z",
        r#"
steps:
  - id: console
    run: |
      echo console-ready
      sleep 30.59
    interactive: true
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("console-ready");
    wait_for_process("sleep 30.59", std::time::Duration::from_secs(10));
    // Ctrl-Z: no shell here could resume a stopped command, so it is not stopped.
    term.send_control('z');
    std::thread::sleep(std::time::Duration::from_millis(300));
    let sleep_pid = processes_matching("sleep 30.59")[0];
    let state = std::fs::read_to_string(format!("/proc/{sleep_pid}/stat")).unwrap();
    let state = state
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert_ne!(state, "T", "the command was stopped by Ctrl-Z");
    // SIGTERM to runbook: the run stops, and so does the command it handed the terminal to.
    let runbook = processes_matching("interactive-ctrl-z")
        .into_iter()
        .chain(processes_matching(pb.to_str().unwrap()))
        .find(|&pid| pid != sleep_pid)
        .expect("runbook is running");
    signal(runbook, "TERM");
    assert!(
        gone_within("sleep 30.59", std::time::Duration::from_secs(5)),
        "the interactive command outlived the run"
    );
    assert_eq!(term.finish(), 3, "{}", term.screen);
}
