//! The operator at 3 a.m. (issue 10): end-to-end tests of what a tired operator meets in a
//! real terminal — the end of input at every kind of question, the failure menu's default,
//! a mistyped confirm phrase, Ctrl-C in a retry delay or a watch interval, the step card —
//! each with the real binary in a pseudo-terminal, the screen asserted on its text.

use crate::support::*;

/// A `finally` step that leaves a mark: the run's report still happens when it stops.
const FINALLY: &str = r#"
finally:
  - id: report
    run: touch finally-ran
"#;

// ---------------------------------------------------------------------------------------------
// EOF (#8): the end of input at any question stops the run cleanly, resumable, recorded
// ---------------------------------------------------------------------------------------------

/// One kind of question: the playbook's steps, the answers that lead to it, the text that
/// shows it is asked, and the step it belongs to.
struct Question {
    kind: &'static str,
    steps: &'static str,
    /// (what shows, what is typed) before the question.
    answers: &'static [(&'static str, &'static str)],
    shown: &'static str,
    step: &'static str,
    /// On resume, when it differs: the answers, then what shows.
    resume: Option<(&'static [(&'static str, &'static str)], &'static str)>,
}

const QUESTIONS: &[Question] = &[
    Question {
        kind: "the step prompt",
        steps: "  - id: one\n    run: touch one-ran\n",
        answers: &[],
        shown: "Run it? [y]es",
        step: "one",
        resume: None,
    },
    Question {
        // After `continue`, a step's confirm question is the only one: yes or no.
        kind: "a confirm question (no abort choice)",
        steps: "  - id: zero\n    run: \"true\"\n  - id: one\n    confirm: Really?\n    run: touch one-ran\n",
        answers: &[("Run it?", "c")],
        shown: "Really? [y]es [n]o",
        step: "one",
        resume: Some((&[], "Really? [y]es [s]kip")),
    },
    Question {
        kind: "a destructive step's phrase",
        steps: "  - id: one\n    danger: destructive\n    run: touch one-ran\n",
        answers: &[("Run it?", "y")],
        shown: "Type `one` to run it",
        step: "one",
        resume: None,
    },
    Question {
        kind: "a manual step",
        steps: "  - id: one\n    manual: Do it by hand.\n  - id: two\n    run: touch one-ran\n",
        answers: &[],
        shown: "Done? [d]one [s]kip [f]ailed",
        step: "one",
        resume: None,
    },
    Question {
        kind: "a string input",
        steps: "  - id: one\n    manual: Open a ticket.\n    inputs:\n      ticket:\n        prompt: Ticket id\n  - id: two\n    run: echo {{ ticket }} > one-ran\n",
        answers: &[("Done?", "d")],
        shown: "Ticket id",
        step: "one",
        resume: None,
    },
    Question {
        kind: "a secret input",
        steps: "  - id: one\n    manual: Get the token.\n    inputs:\n      token:\n        prompt: Token\n        secret: true\n  - id: two\n    run: echo {{ token }} > one-ran\n",
        answers: &[("Done?", "d")],
        shown: "Token (hidden)",
        step: "one",
        resume: None,
    },
    Question {
        kind: "the failure menu",
        steps: "  - id: one\n    run: exit 1\n  - id: two\n    run: touch one-ran\n",
        answers: &[("Run it?", "y")],
        shown: "[r]etry",
        step: "one",
        resume: None,
    },
    Question {
        kind: "a wait",
        steps: "  - id: one\n    wait: 30s\n  - id: two\n    run: touch one-ran\n",
        answers: &[],
        shown: "Enter skips",
        step: "one",
        resume: None,
    },
];

#[test]
fn eof_at_every_kind_of_question_stops_the_run_cleanly_and_resumably() {
    for q in QUESTIONS {
        let sb = Sandbox::for_terminal();
        let pb = sb.playbook("pb.yaml", "eof", &format!("steps:\n{}{FINALLY}", q.steps));
        let t = sb.path("t.jsonl");
        let mut term = sb.run_pty(&pb, &t, &[]);
        for (shown, answer) in q.answers {
            term.expect(shown);
            term.send_line(answer);
        }
        term.expect(q.shown);
        // Ctrl-D at the start of a line: the terminal's end of input.
        term.ctrl_d();
        term.expect("end of input");
        let code = term.finish();
        assert_eq!(code, 3, "{}: EOF exits 3\n{}", q.kind, term.screen);
        assert!(
            term.count("is not an answer") == 0 && term.screen.len() < 20_000,
            "{}: no question loop\n{}",
            q.kind,
            term.screen
        );
        assert!(!sb.exists("one-ran"), "{}: nothing ran on EOF", q.kind);
        assert!(sb.exists("finally-ran"), "{}: finally still ran", q.kind);
        let records = read_complete_transcript(&t);
        let fin = run_finished(&records);
        assert_eq!(fin["outcome"], "interrupted", "{}: {fin}", q.kind);
        assert_eq!(fin["exit_code"], 3, "{}", q.kind);
        assert!(
            str_of(&fin["reason"]).contains("end of input"),
            "{}: the reason is recorded: {fin}",
            q.kind
        );
        // No answer was made up for the operator: no prompt record says `abort` or EOF.
        for p in events(&records, "prompt") {
            assert_ne!(p["answer"], "abort", "{}: {p}", q.kind);
            assert_ne!(p["answer"], "(EOF)", "{}: {p}", q.kind);
        }
        assert!(
            step_events(&records, "step_finished", q.step)
                .iter()
                .all(|r| r["outcome"] != "ok"),
            "{}: the step is not counted done",
            q.kind
        );
        // Resumable: resume asks that question again.
        let mut term = sb.pty(&["resume", t.to_str().unwrap(), "--operator", "alice"]);
        term.expect(&format!("resuming at `{}`", q.step));
        let (answers, shown) = q.resume.unwrap_or((q.answers, q.shown));
        for (shown, answer) in answers {
            term.expect(shown);
            term.send_line(answer);
        }
        term.expect(shown);
        term.ctrl_d();
        assert_eq!(term.finish(), 3, "{}: resumed\n{}", q.kind, term.screen);
    }
}

// ---------------------------------------------------------------------------------------------
// The failure menu's default (#3): Enter says where it goes, and never aborts
// ---------------------------------------------------------------------------------------------

#[test]
fn the_failure_menu_spells_out_where_enter_goes() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "menu",
        r#"
steps:
  - id: health
    run: exit 22
    on_failure: check-config
  - id: skipped-by-the-branch
    run: touch off-branch
  - id: check-config
    run: exit 1
    on_failure: continue
  - id: recent-logs
    run: echo logs-$((40 + 2))
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("Enter: go to check-config");
    term.expect_failure_prompt();
    term.send_line("?");
    term.expect("follow the playbook: go to check-config");
    term.expect_failure_prompt();
    term.send_line("");
    let screen = term.expect_run_prompt();
    assert!(screen.contains("check-config"), "{screen}");
    term.send_line("y");
    term.expect("Enter: continue to recent-logs");
    term.expect_failure_prompt();
    term.send_line("");
    let screen = term.expect_run_prompt();
    assert!(screen.contains("recent-logs"), "{screen}");
    term.send_line("y");
    term.expect("logs-42");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert!(!sb.exists("off-branch"));
    let records = read_complete_transcript(&t);
    let questions: Vec<&str> = events(&records, "prompt")
        .iter()
        .filter(|p| p["decision"] == "branch")
        .map(|p| str_of(&p["question"]))
        .collect();
    assert_eq!(questions.len(), 2, "{questions:?}");
    assert!(questions[0].starts_with("Enter: go to check-config"));
    assert!(questions[1].starts_with("Enter: continue to recent-logs"));
}

#[test]
fn enter_never_aborts_when_the_playbook_stops_at_a_failure() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "menu-abort",
        &format!("steps:\n  - id: health\n    run: exit 22\n  - id: later\n    run: touch later-ran\n{FINALLY}"),
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    let screen = term.expect_failure_prompt();
    assert!(
        screen.contains("[f]ail the run (the playbook's on_failure: abort)"),
        "{screen}"
    );
    assert!(!screen.contains("Enter:"), "no Enter default: {screen}");
    // Enter alone decides nothing here.
    term.send_line("");
    term.expect("Enter alone does nothing here");
    term.expect_failure_prompt();
    term.send_line("f");
    // `finally` (the incident report) still asks, as after any failure.
    let screen = term.expect_run_prompt();
    assert!(screen.contains("report"), "{screen}");
    term.send_line("y");
    term.expect("FAILED in");
    assert_eq!(term.finish(), 1, "{}", term.screen);
    assert!(!sb.exists("later-ran"));
    assert!(sb.exists("finally-ran"));
    let records = read_complete_transcript(&t);
    let decisions: Vec<&str> = step_events(&records, "prompt", "health")
        .iter()
        .filter_map(|p| p["decision"].as_str())
        .collect();
    assert_eq!(decisions, ["run", "branch"]);
    assert_eq!(run_finished(&records)["outcome"], "failed");
}

// ---------------------------------------------------------------------------------------------
// A mistyped confirm phrase (#6): asked again, never a silent skip
// ---------------------------------------------------------------------------------------------

#[test]
fn a_mistyped_confirm_phrase_is_asked_again_then_the_right_one_runs() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "phrase",
        r#"
steps:
  - id: restart
    danger: destructive
    confirm_phrase: restart apeg
    run: touch restarted
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("Type `restart apeg` to run it, or `skip`");
    term.send_line("restart apge");
    term.expect("That is not the phrase: the step has not run. Type it again, or `skip`.");
    term.expect("Type `restart apeg` to run it, or `skip`");
    // Enter alone decides nothing either.
    term.send_line("");
    term.expect("Enter alone does nothing here");
    term.expect("Type `restart apeg` to run it, or `skip`");
    assert!(!sb.exists("restarted"), "nothing ran on a typo");
    term.send_line("restart apeg");
    term.expect("succeeded");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert!(sb.exists("restarted"));
    let records = read_complete_transcript(&t);
    let last = step_events(&records, "prompt", "restart")
        .last()
        .copied()
        .cloned()
        .unwrap();
    assert_eq!(last["decision"], "run");
    assert_eq!(last["answer"], "restart apeg (after 1 mistyped phrase)");
    assert_eq!(run_finished(&records)["outcome"], "success");
}

// ---------------------------------------------------------------------------------------------
// `runbook run x 2>&1 | tee incident.log` (#7): asks on the terminal
// ---------------------------------------------------------------------------------------------

#[test]
fn a_run_piped_into_tee_asks_on_the_terminal() {
    let sb = Sandbox::for_terminal();
    sb.playbook(
        "pb.yaml",
        "tee",
        "steps:\n  - id: one\n    run: echo out-$((6 * 7))\n",
    );
    let mut term = Term::spawn(sb.shell(&format!(
        "set -o pipefail; '{BIN}' run pb.yaml --transcript t.jsonl --operator alice 2>&1 | tee incident.log"
    )));
    let screen = term.expect_run_prompt();
    assert!(screen.contains("$ echo out-$((6 * 7))"), "{screen}");
    term.send_line("y");
    term.expect("out-42");
    term.expect("succeeded");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    let log = sb.read("incident.log");
    assert!(log.contains("out-42"), "the log has the output: {log}");
    assert!(log.contains("succeeded"), "the log has the outcome: {log}");
    let records = read_complete_transcript(&sb.path("t.jsonl"));
    assert_eq!(records[0]["mode"], "interactive");
    assert_eq!(run_finished(&records)["outcome"], "success");
}

// ---------------------------------------------------------------------------------------------
// Ctrl-C in a retry delay or a watch interval (#2): asks, and the wait is visible
// ---------------------------------------------------------------------------------------------

#[test]
fn ctrl_c_in_a_retry_delay_asks_and_skip_goes_on() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "retry-delay",
        &format!(
            r#"
steps:
  - id: health
    run: echo try >> tries.log; exit 22
    retry: {{ attempts: 6, delay: 4s }}
  - id: after
    run: touch after-ran
{FINALLY}"#
        ),
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("attempt 1 of 6 failed (exit 22), retrying in 4s");
    term.ctrl_c();
    term.expect("[r]etry [s]kip [a]bort");
    term.send_line("s");
    term.expect_run_prompt();
    term.send_line("y");
    // `finally`
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("succeeded");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert_eq!(
        sb.read("tries.log").lines().count(),
        1,
        "no attempt after Ctrl-C"
    );
    assert!(sb.exists("after-ran"));
    assert!(sb.exists("finally-ran"));
    let records = read_complete_transcript(&t);
    let last = step_events(&records, "prompt", "health")
        .last()
        .copied()
        .unwrap();
    assert_eq!(last["decision"], "skip");
    let done = one(&records, "step_finished", "health");
    assert_eq!(done["outcome"], "skipped");
    assert!(str_of(&done["message"]).contains("retry delay"), "{done}");
}

#[test]
fn ctrl_c_between_watch_repetitions_asks_and_abort_is_resumable() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "watch-interval",
        &format!(
            r#"
steps:
  - id: watching
    run: echo tick >> ticks.log
    watch: {{ every: 5s, for: 1m }}
  - id: after
    run: touch after-ran
{FINALLY}"#
        ),
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("repetition 1 passed, next in 5s");
    term.ctrl_c();
    term.expect("[r]etry [s]kip [a]bort");
    term.send_line("a");
    // `finally` (the incident report) still runs.
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("resume with: runbook resume");
    assert_eq!(term.finish(), 3, "{}", term.screen);
    assert!(!sb.exists("after-ran"));
    assert!(sb.exists("finally-ran"), "finally ran after the abort");
    let records = read_complete_transcript(&t);
    let last = step_events(&records, "prompt", "watching")
        .last()
        .copied()
        .unwrap();
    assert_eq!(last["decision"], "abort");
    assert_eq!(run_finished(&records)["outcome"], "aborted");
}

// ---------------------------------------------------------------------------------------------
// The step card (#5) and the summary (#11)
// ---------------------------------------------------------------------------------------------

#[test]
fn the_card_says_the_position_and_how_the_step_runs_and_the_summary_names_handled_failures() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "card",
        r#"
steps:
  - id: health
    run: exit 22
    retry: { attempts: 2, delay: 1s }
    timeout: 30s
    on_failure: restart
  - id: restart
    danger: destructive
    run: touch restarted
  - id: watching
    run: "true"
    watch: { every: 1s, for: 2s }
  - id: settle
    wait: 1s
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    let card = term.expect_run_prompt();
    assert!(card.contains("step 1 of 4 · health"), "{card}");
    assert!(card.contains("retry: 2 attempts, 1.0s apart"), "{card}");
    assert!(card.contains("timeout: 30.0s"), "{card}");
    term.send_line("y");
    term.expect("attempt 1 of 2 failed (exit 22), retrying in 1s");
    term.expect("Enter: go to restart");
    term.expect_failure_prompt();
    term.send_line("");
    let card = term.expect_run_prompt();
    assert!(card.contains("step 2 of 4 · restart"), "{card}");
    assert!(
        card.contains("DESTRUCTIVE: its confirm phrase is asked next"),
        "{card}"
    );
    term.send_line("y");
    term.expect("Type `restart` to run it, or `skip`");
    term.send_line("restart");
    let card = term.expect_run_prompt();
    assert!(card.contains("step 3 of 4 · watching"), "{card}");
    assert!(card.contains("watch: every 1.0s for 2.0s"), "{card}");
    term.send_line("y");
    term.expect("succeeded");
    // The wait is labelled as a step.
    assert!(
        term.screen.contains("── settle · wait 1.0s"),
        "{}",
        term.screen
    );
    let summary = term.expect("transcript:");
    assert!(
        summary.contains("1 failure handled by the playbook (health)"),
        "{summary}"
    );
    assert!(!summary.contains("1 failed"), "{summary}");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert!(sb.exists("restarted"));
}

// ---------------------------------------------------------------------------------------------
// Parallel groups (#1): one question at a time, the group shown, the waiting child named
// ---------------------------------------------------------------------------------------------

#[test]
fn a_parallel_group_asks_one_child_at_a_time_and_names_who_waits() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "parallel",
        r#"
steps:
  - id: resources
    name: Resources
    doc: Look at CPU and disk at once.
    parallel:
      - id: top
        run: for i in 1 2 3; do echo top-$i; sleep 0.2; done
      - id: disk
        run: echo disk-$((6 * 7))
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    let card = term.expect_run_prompt();
    assert!(
        card.contains("parallel group resources"),
        "the group is named: {card}"
    );
    assert!(card.contains("Look at CPU and disk at once."), "{card}");
    assert!(card.contains("top waits for your answer"), "{card}");
    // Only one question is open.
    let more = term.shown_during(std::time::Duration::from_millis(500));
    assert!(
        !more.contains("Run it?"),
        "a second question at once: {more}"
    );
    term.send_line("y");
    // The second child's card comes whole, and the first one's output does not hide it: the
    // question is drawn again below anything printed while it is open.
    let card = term.expect("disk waits for your answer");
    assert!(!card.contains("Run it?"), "{card}");
    term.expect_run_prompt();
    let more = term.shown_during(std::time::Duration::from_millis(900));
    if more.contains("top-") {
        assert!(
            more.trim_end().ends_with("[?] ›") || more.contains("Run it?"),
            "the question is drawn again after output: {more:?}"
        );
    }
    term.send_line("y");
    term.expect("disk-42");
    term.expect("succeeded");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    let records = read_complete_transcript(&t);
    assert_eq!(
        step_events(&records, "prompt", "resources/top").len()
            + step_events(&records, "prompt", "top").len(),
        1
    );
    assert_eq!(run_finished(&records)["outcome"], "success");
}

// ---------------------------------------------------------------------------------------------
// The clock and escalations (#4): an escalation notice never hides the open question
// ---------------------------------------------------------------------------------------------

#[test]
fn an_escalation_while_a_question_is_open_draws_the_question_again() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "escalate-redraw",
        r#"
escalation:
  - { after: 1s, notify: [oncall] }
  - { after: 1h, notify: [lead] }
steps:
  - id: fix
    manual: Fix it by hand.
"#,
    );
    let inventory = sb.inventory(
        "inv.yaml",
        "channels:\n  oncall: { command: \"cat >> notified.log\" }\n  lead: { command: \"cat >> lead.log\" }\n",
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &["-i", inventory.to_str().unwrap()]);
    let card = term.expect("Done? [d]one [s]kip [f]ailed [?]");
    assert!(card.contains("next escalation: oncall in"), "{card}");
    term.expect("ESCALATION");
    // The question comes back below the notice, under the clock as it is now.
    let redraw = term.expect("Done? [d]one [s]kip [f]ailed [?]");
    assert!(
        redraw.contains("next escalation: lead in 00:59:5"),
        "the clock is current: {redraw}"
    );
    term.send_line("d");
    term.expect("succeeded");
    assert_eq!(term.finish(), 0, "{}", term.screen);
}

// ---------------------------------------------------------------------------------------------
// A step's duration (#9): the operator's time in the failure menu is not the step's
// ---------------------------------------------------------------------------------------------

#[test]
fn a_steps_duration_leaves_out_the_time_in_the_failure_menu() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "duration",
        "steps:\n  - id: quick\n    run: exit 1\n    on_failure: continue\n",
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect_failure_prompt();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    term.send_line("");
    term.expect("failure handled by the playbook");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    let records = read_complete_transcript(&t);
    let done = one(&records, "step_finished", "quick");
    assert!(
        done["duration_ms"].as_u64().unwrap() < 1000,
        "the menu's 1.5s is not the step's: {done}"
    );
}

// ---------------------------------------------------------------------------------------------
// The `!` shell and `e`dit (#10)
// ---------------------------------------------------------------------------------------------

#[test]
fn the_shell_has_the_playbooks_values_says_it_is_in_a_run_and_is_recorded() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "shell",
        r#"
params:
  service: { type: string, default: apeg.service }
  token: { type: string, default: hunter2-secret, secret: true }
  restart_cmd: { type: command, default: "systemctl restart apeg" }
steps:
  - id: health
    run: exit 7
"#,
    );
    let t = sb.path("t.jsonl");
    let mut cmd = sb.run_pty_command(&pb, &t, &[]);
    cmd.env("SHELL", "/bin/bash")
        // No user rc file: the test does not depend on this machine's.
        .env("HOME", sb.root());
    let mut term = Term::spawn(cmd);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect_failure_prompt();
    term.send_line("!");
    term.expect("inside the run (step health)");
    term.expect("$service");
    term.expect("(runbook: health)");
    term.send_line("echo svc=$service token=${token:-unset}");
    term.expect("svc=apeg.service token=unset");
    // A command value is there too, as the command line it is.
    term.send_line("echo \"cmd=[$restart_cmd]\"");
    term.expect("cmd=[systemctl restart apeg]");
    term.send_line("exit");
    // Back at the same question.
    term.expect_failure_prompt();
    term.send_line("s");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    let records = read_complete_transcript(&t);
    let shell = step_events(&records, "prompt", "health")
        .into_iter()
        .find(|p| p["decision"] == "shell")
        .cloned()
        .unwrap_or_else(|| panic!("no shell prompt: {records:#?}"));
    assert!(
        str_of(&shell["answer"]).contains("echo svc=$service token=${token:-unset}"),
        "what was typed is recorded: {shell}"
    );
}

#[test]
fn edit_fills_the_editor_with_the_command_and_shows_the_edit_before_it_runs() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "edit",
        "steps:\n  - id: greet\n    run: echo hello-world\n",
    );
    let editor = sb.write_executable("editor.sh", "#!/bin/sh\nsed -i 's/world/there/' \"$1\"\n");
    let t = sb.path("t.jsonl");
    let mut cmd = sb.run_pty_command(&pb, &t, &[]);
    cmd.env("EDITOR", &editor);
    let mut term = Term::spawn(cmd);
    term.expect_run_prompt();
    term.send_line("e");
    term.expect("edited (for this run only):");
    term.expect("$ echo hello-there");
    term.expect("Run the edited command? [y]es [n]o");
    assert!(!term.screen.contains("hello-there\r\n  ok"), "not run yet");
    // No: back to the step's own question; then edit again and run it.
    term.send_line("n");
    term.expect_run_prompt();
    term.send_line("e");
    term.expect("Run the edited command? [y]es [n]o");
    term.send_line("y");
    term.expect("succeeded");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    let records = read_complete_transcript(&t);
    assert_eq!(
        one(&records, "step_started", "greet")["command"],
        "echo hello-there"
    );
}

// ---------------------------------------------------------------------------------------------
// A secret input is not echoed
// ---------------------------------------------------------------------------------------------

#[test]
fn a_secret_input_is_not_echoed_and_not_recorded() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "secret-input",
        r#"
steps:
  - id: token
    manual: Get a token from the vault.
    inputs:
      token:
        prompt: Token
        secret: true
  - id: use
    run: test -n {{ token }} && echo token-is-set
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect("Done? [d]one [s]kip [f]ailed [?]");
    term.send_line("d");
    term.expect("Token (hidden)");
    term.send_line("hunter2-xyzzy");
    let card = term.expect_run_prompt();
    assert!(!card.contains("hunter2-xyzzy"), "echoed: {card}");
    term.send_line("y");
    term.expect("token-is-set");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert!(!term.screen.contains("hunter2-xyzzy"), "{}", term.screen);
    assert!(!sb.read("t.jsonl").contains("hunter2-xyzzy"));
}

// ---------------------------------------------------------------------------------------------
// One confirmation, not two (#9)
// ---------------------------------------------------------------------------------------------

#[test]
fn a_step_with_its_own_confirm_question_asks_it_once() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "confirm-once",
        "steps:\n  - id: restart\n    confirm: Restart apeg.service now?\n    run: touch restarted\n",
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    let card = term.expect("Restart apeg.service now? [y]es [s]kip [e]dit [c]ontinue [a]bort [?]");
    assert!(!card.contains("Run it?"), "{card}");
    term.send_line("y");
    term.expect("succeeded");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert_eq!(
        term.count("Restart apeg.service now?"),
        1,
        "{}",
        term.screen
    );
    assert!(sb.exists("restarted"));
    let records = read_complete_transcript(&t);
    let prompts = step_events(&records, "prompt", "restart");
    assert_eq!(prompts.len(), 1, "{prompts:?}");
    assert_eq!(prompts[0]["decision"], "run");
}

// ---------------------------------------------------------------------------------------------
// The clock ticks by itself (#4): a status line on the terminal's last row
// ---------------------------------------------------------------------------------------------

/// The binary in a terminal of 24 rows that understands cursor movement (TERM=xterm), every
/// byte it writes kept: `sh` sizes the terminal, then becomes `runbook run`.
fn sized_terminal(sb: &Sandbox, pb: &std::path::Path, t: &std::path::Path) -> Term {
    let mut cmd = sb.run_pty_command(pb, t, &[]);
    cmd.env("TERM", "xterm");
    Term::spawn_raw_after_stty(cmd, "rows 24 cols 100")
}

#[test]
fn the_status_line_ticks_while_a_question_waits_and_gives_the_terminal_back() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "status",
        "steps:\n  - id: check-logs\n    manual: Read the logs.\n  - id: after\n    run: echo after-ran\n",
    );
    let t = sb.path("t.jsonl");
    let mut term = sized_terminal(&sb, &pb, &t);
    // The last row is reserved: a scroll region over rows 1-23.
    term.expect("\x1b[1;23r");
    term.expect("Done? [d]one [s]kip [f]ailed [?]");
    // Nobody answers for 2.5 s: the line is drawn again each second, on row 24, with the
    // step and that it waits.
    let shown = term.shown_during(std::time::Duration::from_millis(2500));
    let drawn: Vec<&str> = shown
        .split("\x1b[24;1H\x1b[2K")
        .skip(1)
        .filter_map(|rest| rest.split('\x1b').next())
        .collect();
    let clocks: std::collections::BTreeSet<&str> = drawn
        .iter()
        .filter(|line| line.contains("check-logs · waiting for your answer"))
        .filter_map(|line| line.strip_prefix("⏱ "))
        .map(|line| &line[..8])
        .collect();
    assert!(
        clocks.len() >= 2,
        "the clock did not tick while the question waited: {drawn:?}"
    );
    term.send_line("d");
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("after-ran");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    // At the end the whole terminal is given back (the region reset, the row cleared).
    let end = term
        .screen
        .rfind("\x1b[r")
        .expect("the scroll region is reset");
    assert!(
        term.screen[end..].contains("succeeded"),
        "the summary comes after the terminal is given back"
    );
}

#[test]
fn the_status_line_gives_the_terminal_to_the_editor_and_follows_a_resize_made_there() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "status-editor",
        "steps:\n  - id: greet\n    run: echo hello-world\n",
    );
    // The editor makes the terminal taller (as a window resized meanwhile), then edits.
    let editor = sb.write_executable(
        "editor.sh",
        "#!/bin/sh\nstty rows 30 cols 100\necho EDITOR-RAN\nsed -i 's/world/there/' \"$1\"\n",
    );
    let t = sb.path("t.jsonl");
    let mut cmd = sb.run_pty_command(&pb, &t, &[]);
    cmd.env("TERM", "xterm").env("EDITOR", &editor);
    let mut term = Term::spawn_raw_after_stty(cmd, "rows 24 cols 100");
    term.expect("\x1b[1;23r");
    term.expect("[e]dit");
    term.send_line("e");
    term.expect("EDITOR-RAN");
    // Back from the editor, the line is on the new last row: a region over rows 1-29.
    term.expect("\x1b[1;29r");
    term.expect("Run the edited command? [y]es [n]o");
    term.send_line("y");
    term.expect("hello-there");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    let screen = &term.screen;
    let editor_at = screen.find("EDITOR-RAN").unwrap();
    let reset_before = screen[..editor_at].rfind("\x1b[r");
    assert!(
        reset_before.is_some_and(|at| at > screen.find("\x1b[1;23r").unwrap()),
        "the terminal was not given back to the editor: {screen:?}"
    );
    assert!(
        !screen[editor_at..].contains("\x1b[1;23r"),
        "the old size came back after the resize"
    );
}

#[test]
fn the_status_line_follows_the_terminal_resized_while_a_question_waits() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "status-resize.yaml",
        "status-resize",
        "steps:\n  - id: look\n    manual: Look around.\n",
    );
    let t = sb.path("t.jsonl");
    let mut term = sized_terminal(&sb, &pb, &t);
    term.expect("\x1b[1;23r");
    term.expect("Done? [d]one [s]kip [f]ailed [?]");
    // The window grows: set the size of runbook's terminal from outside, as a terminal
    // emulator does (the kernel signals SIGWINCH).
    let pid = processes_matching("status-resize.yaml")
        .into_iter()
        .next()
        .expect("runbook is running");
    let tty = std::fs::read_link(format!("/proc/{pid}/fd/0")).expect("runbook's terminal");
    let resized = std::process::Command::new("stty")
        .arg("-F")
        .arg(&tty)
        .args(["rows", "40", "cols", "100"])
        .status()
        .expect("run stty");
    assert!(resized.success());
    // Within a tick the region and the line move to the new last row.
    term.expect("\x1b[1;39r");
    term.expect("\x1b[40;1H");
    term.send_line("d");
    assert_eq!(term.finish(), 0, "{}", term.screen);
}

#[test]
fn editing_a_command_that_holds_a_secret_keeps_the_secret_and_never_shows_it() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "edit-secret",
        r#"
params:
  token: { type: string, secret: true, default: "tok-Secret-7788" }
steps:
  - id: call
    run: printf '%s' {{ token }} > first.txt
"#,
    );
    // The editor changes where the output goes and leaves the secret's token in place.
    let editor = sb.write_executable(
        "editor.sh",
        "#!/bin/sh\ncp \"$1\" seen-by-editor.txt\nsed -i 's/first.txt/second.txt/' \"$1\"\n",
    );
    let t = sb.path("t.jsonl");
    let mut cmd = sb.run_pty_command(&pb, &t, &[]);
    cmd.env("EDITOR", &editor);
    let mut term = Term::spawn(cmd);
    term.expect_run_prompt();
    term.send_line("e");
    term.expect("***1*** stands for a secret of the run");
    term.expect("$ printf '%s' ***1*** > second.txt");
    term.expect("Run the edited command? [y]es [n]o");
    term.send_line("y");
    term.expect("succeeded");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    // The edited command ran with the real secret; the editor's file never held it.
    assert_eq!(sb.read("second.txt"), "tok-Secret-7788");
    assert!(!sb.exists("first.txt"));
    assert_eq!(
        sb.read("seen-by-editor.txt"),
        "printf '%s' ***1*** > first.txt\n"
    );
    assert!(!term.screen.contains("tok-Secret-7788"), "{}", term.screen);
    let text = sb.read("t.jsonl");
    assert!(!text.contains("tok-Secret-7788"));
    let records = read_complete_transcript(&t);
    assert_eq!(
        one(&records, "step_started", "call")["command"],
        "printf '%s' *** > second.txt"
    );
}
