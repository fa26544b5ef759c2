//! End-to-end tests of the interactive operator and of `runbook resume`: the real binary in a
//! pseudo-terminal (no `--yes`, so it asks), answers typed line by line, then the screen and the
//! transcript checked. The kill -9 resume tests run unattended (`--yes`) without a terminal.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// The transcript's records of one step's prompts: (answer, decision).
fn prompts(records: &[Value], step: &str) -> Vec<(String, String)> {
    step_events(records, "prompt", step)
        .iter()
        .map(|p| {
            (
                str_of(&p["answer"]).to_owned(),
                p["decision"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn assert_prompt_operator(records: &[Value], name: &str) {
    for p in events(records, "prompt") {
        assert_eq!(p["operator"], name, "every prompt names the operator: {p}");
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Answering the step prompt
// ---------------------------------------------------------------------------------------------

#[test]
fn yes_runs_the_step_enter_alone_does_not_and_help_is_shown() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "answers",
        r#"
steps:
  - id: greet
    name: Say hello
    doc: "Prints a **greeting**."
    run: echo hello-$((40 + 2))
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    let before = term.expect_run_prompt();
    assert!(before.contains("greet"), "the step's header: {before}");
    assert!(before.contains("Say hello"), "the step's name: {before}");
    assert!(before.contains("Prints a greeting."), "the doc: {before}");
    assert!(before.contains("runs on local"), "{before}");
    assert!(
        before.contains("$ echo hello-$((40 + 2))"),
        "the command: {before}"
    );

    // Enter alone: nothing runs, the prompt says so and asks again.
    term.send_line("");
    term.expect("Enter alone does nothing here");
    term.expect_run_prompt();
    // `?`: the help.
    term.send_line("?");
    term.expect("change the command for this run (recorded)");
    term.expect("stop the run here");
    term.expect_run_prompt();
    assert!(
        !term.screen.contains("hello-42"),
        "nothing ran before `y`:\n{}",
        term.screen
    );
    // Neither Enter alone nor `?` is an answer: nothing is recorded but run_started.
    assert_eq!(read_partial(&t).len(), 1);

    term.send_line("y");
    term.expect("hello-42");
    term.expect("succeeded");
    assert_eq!(term.finish(), 0, "{}", term.screen);

    let records = read_complete_transcript(&t);
    assert_eq!(records[0]["event"], "run_started");
    assert_eq!(records[0]["mode"], "interactive");
    assert_eq!(records[0]["operator"], "alice");
    // Only the answer that decided something is recorded.
    assert_eq!(
        prompts(&records, "greet"),
        vec![("y".to_owned(), "run".to_owned())]
    );
    let prompt = one(&records, "prompt", "greet");
    assert_eq!(prompt["operator"], "alice");
    assert!(
        str_of(&prompt["question"]).starts_with("Run it?"),
        "{prompt}"
    );
    // The answer came first, then the step started.
    let started = one(&records, "step_started", "greet");
    assert!(u64_of(&prompt["seq"]) < u64_of(&started["seq"]));
    assert_eq!(started["command"], "echo hello-$((40 + 2))");
    assert!(
        step_events(&records, "output", "greet")
            .iter()
            .any(|o| o["text"] == "hello-42")
    );
    assert_eq!(outcome(&records, "greet"), "ok");
    assert_eq!(run_finished(&records)["outcome"], "success");
}

#[test]
fn skip_edit_continue_and_confirm_still_asks() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "choices",
        r#"
steps:
  - id: skipped
    run: touch skipped-ran
  - id: edited
    run: echo original-command
  - id: cont
    run: echo cont-$((1 + 1))
  - id: ordinary
    run: echo ordinary-$((2 + 1))
  - id: guarded
    confirm: Really run guarded now?
    run: echo guarded-$((3 + 1))
  - id: declined
    confirm: Really run declined now?
    run: touch declined-ran
  - id: last
    run: echo last-$((4 + 1))
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);

    // s: skip.
    let screen = term.expect_run_prompt();
    assert!(screen.contains("$ touch skipped-ran"), "{screen}");
    term.send_line("s");

    // e: edit; the new command runs instead.
    let screen = term.expect_run_prompt();
    assert!(screen.contains("$ echo original-command"), "{screen}");
    term.send_line("e");
    term.expect("New command");
    term.send_line("echo edited-$((5 + 5))");
    // The edit is shown, and runs on a yes.
    term.expect("$ echo edited-$((5 + 5))");
    term.expect("Run the edited command? [y]es [n]o");
    term.send_line("y");
    term.expect("edited-10");

    // c: continue; this and the following ordinary steps run without asking.
    let screen = term.expect_run_prompt();
    assert!(screen.contains("$ echo cont-$((1 + 1))"), "{screen}");
    term.send_line("c");
    term.expect("cont-2");
    term.expect("ordinary-3");
    // ... but a step with `confirm:` still asks.
    let screen = term.expect("Really run guarded now? [y]es [n]o");
    assert!(
        !screen.contains("Run it?"),
        "no step prompt after `continue`: {screen}"
    );
    term.send_line("y");
    term.expect("guarded-4");
    term.expect("Really run declined now? [y]es [n]o");
    term.send_line("n");
    term.expect("last-5");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert_eq!(
        term.count("Run it?"),
        3,
        "asked before skipped, edited, cont only:\n{}",
        term.screen
    );
    assert!(
        !term.screen.contains("│ original-command"),
        "the original command did not run:\n{}",
        term.screen
    );
    assert!(!sb.exists("skipped-ran"), "a skipped step does not run");
    assert!(!sb.exists("declined-ran"), "a declined step does not run");

    let records = read_complete_transcript(&t);
    assert_prompt_operator(&records, "alice");
    // skip
    assert_eq!(
        prompts(&records, "skipped"),
        vec![("s".to_owned(), "skip".to_owned())]
    );
    assert!(step_events(&records, "step_started", "skipped").is_empty());
    assert_eq!(outcome(&records, "skipped"), "skipped");
    // edit
    assert_eq!(
        prompts(&records, "edited"),
        vec![(
            "edit: echo edited-$((5 + 5))".to_owned(),
            "edited".to_owned()
        )]
    );
    assert_eq!(
        one(&records, "step_started", "edited")["command"],
        "echo edited-$((5 + 5))"
    );
    assert!(
        step_events(&records, "output", "edited")
            .iter()
            .all(|o| o["text"] != "original-command")
    );
    assert_eq!(outcome(&records, "edited"), "ok");
    // continue
    assert_eq!(
        prompts(&records, "cont"),
        vec![("c".to_owned(), "run".to_owned())]
    );
    assert_eq!(
        prompts(&records, "ordinary"),
        vec![("yes (continue)".to_owned(), "run".to_owned())]
    );
    assert_eq!(outcome(&records, "ordinary"), "ok");
    // confirm: asked after continue
    let guarded = prompts(&records, "guarded");
    assert_eq!(guarded.len(), 2, "{guarded:?}");
    assert_eq!(guarded[0].0, "yes (continue)");
    assert_eq!(guarded[1], ("y".to_owned(), "run".to_owned()));
    assert!(
        step_events(&records, "prompt", "guarded")
            .iter()
            .any(|p| p["question"] == "Really run guarded now?")
    );
    assert_eq!(outcome(&records, "guarded"), "ok");
    let declined = prompts(&records, "declined");
    assert_eq!(declined[1], ("n".to_owned(), "declined".to_owned()));
    assert_eq!(outcome(&records, "declined"), "skipped");
    assert!(step_events(&records, "step_started", "declined").is_empty());
    assert_eq!(outcome(&records, "last"), "ok");
    let fin = run_finished(&records);
    assert_eq!(fin["outcome"], "success");
    assert_eq!(fin["steps_skipped"], 2);
}

// ---------------------------------------------------------------------------------------------
// 2. Destructive steps
// ---------------------------------------------------------------------------------------------

#[test]
fn destructive_step_runs_only_with_the_exact_phrase() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "destructive",
        r#"
params:
  db:
    type: string
    default: orders
steps:
  - id: drop-wrong
    danger: destructive
    confirm_phrase: "drop {{ db }}"
    run: touch dropped-1
  - id: drop-right
    danger: destructive
    run: touch dropped-2
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("DANGER `drop-wrong` is destructive:");
    term.expect("touch dropped-1");
    term.expect("Type `drop orders` to run it, or `skip`");
    term.send_line("drop order");
    // A typo is not a decision: the phrase is asked again, and `skip` skips.
    term.expect("That is not the phrase: the step has not run. Type it again, or `skip`.");
    term.expect("Type `drop orders` to run it, or `skip`");
    term.send_line("skip");
    term.expect("Skipped: the step does not run.");

    term.expect_run_prompt();
    term.send_line("y");
    // The default phrase is the step id.
    term.expect("Type `drop-right` to run it");
    term.send_line("drop-right");
    assert_eq!(term.finish(), 0, "{}", term.screen);

    assert!(
        !sb.exists("dropped-1"),
        "a wrong phrase does not run the step"
    );
    assert!(sb.exists("dropped-2"), "the right phrase runs it");
    let records = read_complete_transcript(&t);
    assert_prompt_operator(&records, "alice");
    assert_eq!(
        prompts(&records, "drop-wrong"),
        vec![
            ("y".to_owned(), "run".to_owned()),
            (
                "skip (after 1 mistyped phrase)".to_owned(),
                "skip".to_owned()
            )
        ]
    );
    assert!(step_events(&records, "step_started", "drop-wrong").is_empty());
    assert_eq!(outcome(&records, "drop-wrong"), "skipped");
    assert_eq!(
        prompts(&records, "drop-right"),
        vec![
            ("y".to_owned(), "run".to_owned()),
            ("drop-right".to_owned(), "run".to_owned())
        ]
    );
    assert_eq!(outcome(&records, "drop-right"), "ok");
}

// ---------------------------------------------------------------------------------------------
// 3. Manual steps with inputs
// ---------------------------------------------------------------------------------------------

#[test]
fn manual_step_shows_its_checklist_and_checks_inputs() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "manual",
        r#"
steps:
  - id: open-ticket
    manual: |
      Open a ticket in the **tracker**.
    checklist:
      - Title says what broke
      - Severity is set
    inputs:
      ticket:
        prompt: Ticket number
        type: int
  - id: use
    run: echo ticket={{ ticket }}
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect("open-ticket");
    term.expect("Open a ticket in the tracker.");
    term.expect("[ ] Title says what broke");
    term.expect("[ ] Severity is set");
    term.expect("Done? [d]one [s]kip [f]ailed [?]");
    term.send_line("d");
    term.expect("Ticket number");
    term.send_line("abc");
    term.expect("`abc` is not an integer");
    term.expect("Ticket number");
    term.send_line("42");
    let screen = term.expect_run_prompt();
    assert!(
        screen.contains("$ echo ticket=42"),
        "the answer is in the next command: {screen}"
    );
    term.send_line("y");
    term.expect("ticket=42");
    assert_eq!(term.finish(), 0, "{}", term.screen);

    let records = read_complete_transcript(&t);
    assert_prompt_operator(&records, "alice");
    assert_eq!(
        prompts(&records, "open-ticket"),
        vec![("d".to_owned(), "done".to_owned())]
    );
    let done = one(&records, "step_finished", "open-ticket");
    assert_eq!(done["outcome"], "ok");
    assert_eq!(done["inputs"], json!({"ticket": 42}));
    assert_eq!(
        one(&records, "step_started", "use")["command"],
        "echo ticket=42"
    );
    assert!(
        step_events(&records, "output", "use")
            .iter()
            .any(|o| o["text"] == "ticket=42")
    );
    assert_eq!(run_finished(&records)["outcome"], "success");
}

// ---------------------------------------------------------------------------------------------
// 4. After a failure
// ---------------------------------------------------------------------------------------------

#[test]
fn after_a_failure_enter_follows_the_playbooks_branch() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "branch",
        r#"
steps:
  - id: check
    run: echo status=degraded
    expect:
      stdout:
        contains: status=ok
    on_failure: repair
  - id: not-on-the-branch
    run: touch branch-skipped-ran
  - id: repair
    run: echo repaired-$((6 * 7))
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("FAILED check");
    let screen = term.expect_failure_prompt();
    assert!(
        screen.contains("expected stdout contains"),
        "expected: {screen}"
    );
    assert!(screen.contains("status=ok"), "expected: {screen}");
    assert!(screen.contains("got      status=degraded"), "got: {screen}");
    // Enter: branch (the default).
    term.send_line("");
    let screen = term.expect_run_prompt();
    assert!(
        screen.contains("repair") && !screen.contains("not-on-the-branch"),
        "the branch goes to `repair`: {screen}"
    );
    term.send_line("y");
    term.expect("repaired-42");
    let code = term.finish();

    assert!(!sb.exists("branch-skipped-ran"));
    let records = read_complete_transcript(&t);
    assert_prompt_operator(&records, "alice");
    assert_eq!(
        prompts(&records, "check"),
        vec![
            ("y".to_owned(), "run".to_owned()),
            ("(Enter)".to_owned(), "branch".to_owned())
        ]
    );
    assert_eq!(outcome(&records, "check"), "failed");
    let verdicts = &one(&records, "step_finished", "check")["verdicts"];
    assert!(
        verdicts
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["ok"] == false && v["got"] == "status=degraded"),
        "{verdicts}"
    );
    assert!(
        records.iter().all(|r| r["step"] != "not-on-the-branch"),
        "the step off the branch is never visited"
    );
    assert_eq!(outcome(&records, "repair"), "ok");
    // As under --yes: a failure the playbook handles (goto) leaves the run successful.
    assert_eq!(code, 0, "{}", term.screen);
    let fin = run_finished(&records);
    assert_eq!(fin["outcome"], "success");
    assert_eq!(fin["steps_failed"], 1);
}

#[test]
fn after_a_failure_r_retries_the_step() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "retry",
        r#"
steps:
  - id: flaky
    run: |
      if [ -e marker ]; then echo second-try-ok; else touch marker; echo first-try-fails; exit 1; fi
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("first-try-fails");
    let screen = term.expect_failure_prompt();
    assert!(screen.contains("expected exit 0"), "{screen}");
    assert!(screen.contains("got      1"), "{screen}");
    term.send_line("r");
    term.expect("second-try-ok");
    term.expect("succeeded");
    assert_eq!(term.finish(), 0, "{}", term.screen);

    let records = read_complete_transcript(&t);
    assert_eq!(
        prompts(&records, "flaky"),
        vec![
            ("y".to_owned(), "run".to_owned()),
            ("r".to_owned(), "retry".to_owned())
        ]
    );
    let attempts: Vec<u64> = step_events(&records, "step_started", "flaky")
        .iter()
        .map(|r| u64_of(&r["attempt"]))
        .collect();
    assert_eq!(attempts, vec![1, 2]);
    let done = one(&records, "step_finished", "flaky");
    assert_eq!(done["outcome"], "ok");
    assert_eq!(done["attempts"], 2);
    assert_eq!(run_finished(&records)["outcome"], "success");
}

#[test]
fn after_a_failure_a_aborts_the_run() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "abort",
        r#"
steps:
  - id: broken
    run: exit 4
  - id: later
    run: touch later-ran
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    let screen = term.expect_failure_prompt();
    assert!(screen.contains("got      4"), "{screen}");
    term.send_line("a");
    term.expect("aborted");
    term.expect("resume with: runbook resume");
    assert_eq!(term.finish(), 3, "{}", term.screen);

    assert!(!sb.exists("later-ran"));
    let records = read_complete_transcript(&t);
    assert_eq!(
        prompts(&records, "broken").last().unwrap(),
        &("a".to_owned(), "abort".to_owned())
    );
    assert!(step_events(&records, "step_started", "later").is_empty());
    let fin = run_finished(&records);
    assert_eq!(fin["outcome"], "aborted");
    assert_eq!(fin["exit_code"], 3);
}

// ---------------------------------------------------------------------------------------------
// 5. Ctrl-C
// ---------------------------------------------------------------------------------------------

/// `long-2-started` is output only: the command line shown before it runs does not contain it.
const LONG_STEP: &str = r#"
steps:
  - id: long
    run: echo long-$((1 + 1))-started; sleep 30
  - id: after
    run: echo after-$((8 + 1))
"#;

#[test]
fn ctrl_c_stops_the_step_and_skip_goes_on() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook("pb.yaml", "ctrlc", LONG_STEP);
    let t = sb.path("t.jsonl");
    let started = Instant::now();
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("long-2-started");
    term.ctrl_c();
    term.expect("`long` was stopped (Ctrl-C). Ctrl-C again aborts the run.");
    term.expect("[r]etry [s]kip [a]bort");
    term.send_line("s");
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("after-9");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the sleep was cut short"
    );

    let records = read_complete_transcript(&t);
    assert_eq!(
        prompts(&records, "long").last().unwrap(),
        &("s".to_owned(), "skip".to_owned())
    );
    let long = one(&records, "step_finished", "long");
    assert_eq!(long["outcome"], "skipped");
    assert!(u64_of(&long["duration_ms"]) < 25_000, "{long}");
    assert_eq!(outcome(&records, "after"), "ok");
    assert_eq!(run_finished(&records)["outcome"], "success");
}

/// Ctrl-C just as the step starts (its command line is on the screen, the process may still
/// be being spawned, in the terminal's foreground group) must interrupt it too. Under load it
/// sometimes comes out as a failure instead ("FAILED long: expected exit 0, got 130", the
/// after-failure prompt): the child, not yet in its own process group, dies of the terminal's
/// SIGINT, and `process::run` sees the exit before the runtime has forwarded the Ctrl-C, so the
/// step is judged as failed and the Ctrl-C is then folded into the next question's baseline.
#[test]
fn ctrl_c_as_a_step_starts_interrupts_it() {
    for _ in 0..3 {
        let sb = Sandbox::for_terminal();
        let pb = sb.playbook("pb.yaml", "ctrlc0", LONG_STEP);
        let t = sb.path("t.jsonl");
        let mut term = sb.run_pty(&pb, &t, &[]);
        term.expect_run_prompt();
        term.send_line("y");
        term.expect("long  $ echo long-");
        term.ctrl_c();
        let which = term.expect_any(&["[r]etry [s]kip [a]bort", "[e]scalate [!]shell"]);
        assert_eq!(
            which,
            0,
            "asked as after a failure:\n{}\n{}",
            term.screen,
            std::fs::read_to_string(&t).unwrap_or_default()
        );
        term.send_line("a");
        assert_eq!(term.finish(), 3, "{}", term.screen);
        let records = read_complete_transcript(&t);
        assert_eq!(
            prompts(&records, "long").last().unwrap(),
            &("a".to_owned(), "abort".to_owned())
        );
        assert_eq!(run_finished(&records)["outcome"], "aborted");
    }
}

#[test]
fn a_second_ctrl_c_at_the_interrupt_prompt_aborts_the_run() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook("pb.yaml", "ctrlc2", LONG_STEP);
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("long-2-started");
    term.ctrl_c();
    term.expect("[r]etry [s]kip [a]bort");
    term.ctrl_c();
    term.expect("interrupted in");
    assert_eq!(term.finish(), 3, "{}", term.screen);

    // Complete: every line parses (read_complete_transcript checks), and it ends with run_finished.
    let records = read_complete_transcript(&t);
    let fin = run_finished(&records);
    assert_eq!(fin["outcome"], "interrupted");
    assert_eq!(fin["exit_code"], 3);
    assert_eq!(outcome(&records, "long"), "aborted");
    assert!(step_events(&records, "step_started", "after").is_empty());
}

/// On a terminal that draws spinners, a question asked while a step's spinner runs (after a
/// failure, after Ctrl-C) must not be drawn over: the spinner stops before the question.
#[test]
fn no_spinner_draws_over_a_question() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "spinner",
        r#"
steps:
  - id: boom
    name: Boom step
    run: exit 3
  - id: long
    name: Long step
    run: echo long-$((1 + 1))-started; sleep 30
"#,
    );
    let t = sb.path("t.jsonl");
    let mut cmd = sb.run_pty_command(&pb, &t, &[]);
    cmd.env("TERM", "xterm");
    let mut term = Term::spawn(cmd);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect_failure_prompt();
    let shown = term.shown_during(Duration::from_millis(600));
    assert!(
        !shown.contains("Boom step"),
        "the spinner went on over the question: {shown:?}"
    );
    term.send_line("s");
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("long-2-started");
    term.ctrl_c();
    term.expect("[r]etry [s]kip [a]bort");
    let shown = term.shown_during(Duration::from_millis(600));
    assert!(
        !shown.contains("Long step"),
        "the spinner went on over the question: {shown:?}"
    );
    term.send_line("a");
    assert_eq!(term.finish(), 3, "{}", term.screen);
    let records = read_complete_transcript(&t);
    assert_eq!(outcome(&records, "boom"), "skipped");
    assert_eq!(run_finished(&records)["outcome"], "aborted");
}

// ---------------------------------------------------------------------------------------------
// 6. Waits
// ---------------------------------------------------------------------------------------------

const WAIT: &str = r#"
steps:
  - id: pause
    wait: 30s
  - id: after
    run: echo after-wait
"#;

fn check_wait_cut_short(t: &std::path::Path) {
    let records = read_complete_transcript(t);
    let done = one(&records, "step_finished", "pause");
    assert_eq!(done["outcome"], "ok");
    assert_eq!(done["message"], "wait cut short by the operator");
    assert!(u64_of(&done["duration_ms"]) < 15_000, "{done}");
    let p = one(&records, "prompt", "pause");
    assert_eq!(p["decision"], "skip");
    assert_eq!(p["operator"], "alice");
    let fin = run_finished(&records);
    assert_eq!(fin["outcome"], "success");
    assert!(
        u64_of(&fin["elapsed_ms"]) < 15_000,
        "the run took far less than the 30 s wait: {fin}"
    );
}

#[test]
fn enter_cuts_a_wait_short() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook("pb.yaml", "wait", WAIT);
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    // TERM=dumb has no countdown bar: one line says what is going on.
    term.expect("wait 30.0s (pause)");
    term.expect("Enter skips the rest");
    term.send_line("");
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("after-wait");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    check_wait_cut_short(&t);
}

#[test]
fn a_wait_shows_a_countdown_on_a_capable_terminal() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook("pb.yaml", "countdown", WAIT);
    let t = sb.path("t.jsonl");
    let mut cmd = sb.run_pty_command(&pb, &t, &[]);
    cmd.env("TERM", "xterm");
    let mut term = Term::spawn(cmd);
    // The bar's message counts down: "29.8s left · Enter skips".
    term.expect("s left");
    term.expect("Enter skips");
    term.send_line("");
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("after-wait");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    check_wait_cut_short(&t);
}

/// Ctrl-C during a wait asks retry/skip/abort; the answers are recorded, `r` waits again, and
/// the countdown stops reading the terminal (it once swallowed the next answer typed).
#[test]
fn ctrl_c_during_a_wait_asks_and_no_answer_is_lost() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook("pb.yaml", "waitc", WAIT);
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect("Enter skips the rest");
    term.ctrl_c();
    term.expect("`pause` was stopped (Ctrl-C)");
    term.expect("[r]etry [s]kip [a]bort");
    term.send_line("r");
    // The wait starts again.
    term.expect("Enter skips the rest");
    std::thread::sleep(Duration::from_millis(300));
    term.ctrl_c();
    term.expect("[r]etry [s]kip [a]bort");
    term.send_line("s");
    term.expect_run_prompt();
    // Give a countdown left behind time to take the line (it did within 200 ms).
    std::thread::sleep(Duration::from_millis(300));
    term.send_line("y");
    term.expect("after-wait");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    let records = read_complete_transcript(&t);
    assert_eq!(
        prompts(&records, "pause"),
        vec![
            ("r".to_owned(), "retry".to_owned()),
            ("s".to_owned(), "skip".to_owned())
        ]
    );
    let done = one(&records, "step_finished", "pause");
    assert_eq!(done["outcome"], "ok");
    assert_eq!(done["message"], "wait cut short by the operator");
    assert_eq!(
        prompts(&records, "after"),
        vec![("y".to_owned(), "run".to_owned())]
    );
    assert!(u64_of(&run_finished(&records)["elapsed_ms"]) < 15_000);
}

// ---------------------------------------------------------------------------------------------
// 7. Resume after kill -9 (unattended)
// ---------------------------------------------------------------------------------------------

/// Steps that append their id to log.txt. `slow-a` and `slow-b` wait (in short sleeps) until
/// the file `go-slow-a` (`go-slow-b`) exists, so the test decides when they end, and a step
/// left running by a killed run ends too.
const KILLABLE: &str = r#"
steps:
  - id: first
    run: echo first >> log.txt
  - id: cap
    run: echo cap >> log.txt; echo token-abc123
    capture:
      token:
        regex: 'token-(\w+)'
  - id: slow-a
    run: |
      echo slow-a >> log.txt
      for i in $(seq 200); do [ -e go-slow-a ] && break; sleep 0.05; done
  - id: middle
    run: echo middle >> log.txt
  - id: slow-b
    run: |
      echo slow-b >> log.txt
      for i in $(seq 200); do [ -e go-slow-b ] && break; sleep 0.05; done
  - id: use
    run: echo "use token=$TOKEN" >> log.txt
    env:
      TOKEN: "{{ token }}"
"#;

const KILLABLE_IDS: [&str; 6] = ["first", "cap", "slow-a", "middle", "slow-b", "use"];

fn log_lines(sb: &Sandbox) -> Vec<String> {
    sb.read("log.txt").lines().map(str::to_owned).collect()
}

/// Runs KILLABLE with --yes, kill -9s it `delay` after `step` started (and wrote its log
/// line), and returns the transcript.
fn run_and_kill(sb: &Sandbox, step: &str, delay: Duration) -> std::path::PathBuf {
    let pb = sb.playbook("pb.yaml", "killable", KILLABLE);
    let t = sb.path("t.jsonl");
    // The slow steps before `step` go straight through.
    for slow in ["slow-a", "slow-b"].into_iter().take_while(|s| *s != step) {
        sb.write(&format!("go-{slow}"), "");
    }
    let mut child = sb.spawn(&[
        "run",
        pb.to_str().unwrap(),
        "--yes",
        "--operator",
        "bob",
        "--transcript",
        t.to_str().unwrap(),
    ]);
    wait_for_record(&t, Duration::from_secs(10), |r| {
        r["event"] == "step_started" && r["step"] == step
    });
    // Its first line is in the log before the kill, so the rerun shows as a second line.
    assert!(
        wait_for(Duration::from_secs(10), || log_lines(sb)
            .iter()
            .any(|l| l == step)),
        "`{step}` never wrote its line"
    );
    std::thread::sleep(delay);
    child.kill().expect("kill -9"); // SIGKILL
    let status = child.wait().expect("wait for runbook");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "runbook was killed"
    );
    t
}

#[test]
fn resume_after_kill_9_at_several_moments() {
    for (step, delay_ms) in [("slow-a", 0), ("slow-a", 250), ("slow-b", 100)] {
        let sb = Sandbox::for_terminal();
        let t = run_and_kill(&sb, step, Duration::from_millis(delay_ms));
        let before = read_partial(&t);
        assert!(
            events(&before, "run_finished").is_empty(),
            "killed before the end"
        );
        let finished_before: Vec<String> = events(&before, "step_finished")
            .iter()
            .map(|r| str_of(&r["step"]).to_owned())
            .collect();
        assert!(!finished_before.contains(&step.to_owned()));

        // The step left running by the killed run ends now, and the resumed run's too.
        sb.write("go-slow-a", "");
        sb.write("go-slow-b", "");
        let out = sb.output(&["resume", t.to_str().unwrap(), "--yes", "--operator", "bob"]);
        let ctx = format!("kill at {step} +{delay_ms}ms: {out:?}");
        assert_eq!(out.code, 0, "{ctx}");
        assert!(
            out.stderr.contains(&format!(
                "`{step}` had not finished when the run stopped: it runs again"
            )),
            "{ctx}"
        );

        // Every step exactly once, except the one that was running: twice.
        let log = log_lines(&sb);
        for id in KILLABLE_IDS.iter().filter(|id| **id != "use") {
            let times = log.iter().filter(|l| l == id).count();
            let want = if *id == step { 2 } else { 1 };
            assert_eq!(times, want, "`{id}` in the log {log:?} ({ctx})");
        }
        for id in &finished_before {
            assert_eq!(
                log.iter().filter(|l| *l == id).count(),
                1,
                "finished step `{id}` ran again: {log:?}"
            );
        }
        // The capture from before the kill reaches the last step.
        assert_eq!(
            log.iter()
                .filter(|l| l.starts_with("use "))
                .collect::<Vec<_>>(),
            vec!["use token=abc123"],
            "{ctx}"
        );

        let records = read_complete_transcript(&t);
        let resumed = events(&records, "run_resumed");
        assert_eq!(resumed.len(), 1, "{ctx}");
        assert_eq!(resumed[0]["next_step"], step);
        assert_eq!(resumed[0]["playbook_changed"], false);
        assert_eq!(resumed[0]["mode"], "unattended");
        let fin = run_finished(&records);
        assert_eq!(fin["outcome"], "success", "{ctx}");
        assert_eq!(fin["steps_ok"], 6, "{fin}");
        // Each step finished once in all.
        for id in KILLABLE_IDS {
            assert_eq!(
                step_events(&records, "step_finished", id).len(),
                1,
                "`{id}` ({ctx})"
            );
        }
        assert_eq!(
            step_events(&records, "step_started", step).len(),
            2,
            "{ctx}"
        );

        // Nothing left to resume.
        let again = sb.output(&["resume", t.to_str().unwrap(), "--yes"]);
        assert_eq!(again.code, 2, "{again:?}");
        assert!(again.stderr.contains("nothing to resume"), "{again:?}");
    }
}

/// A run that stops at a failure (`--yes`): `gate` fails until the file `open` exists.
const GATED: &str = r#"
steps:
  - id: one
    run: echo one >> log.txt
  - id: gate
    run: test -e open && echo gate >> log.txt
  - id: three
    run: echo three >> log.txt
"#;

fn failed_run(sb: &Sandbox) -> (std::path::PathBuf, std::path::PathBuf) {
    let pb = sb.playbook("pb.yaml", "gated", GATED);
    let t = sb.path("t.jsonl");
    let out = sb.output(&[
        "run",
        pb.to_str().unwrap(),
        "--yes",
        "--transcript",
        t.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{out:?}");
    (pb, t)
}

#[test]
fn resume_refuses_added_steps_unless_forced() {
    let sb = Sandbox::for_terminal();
    let (pb, t) = failed_run(&sb);
    let text = std::fs::read_to_string(&pb).unwrap();
    std::fs::write(
        &pb,
        format!("{text}  - id: four\n    run: echo four >> log.txt\n"),
    )
    .unwrap();
    sb.write("open", "");

    let out = sb.output(&["resume", t.to_str().unwrap(), "--yes"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("steps changed"), "{out:?}");
    assert!(out.stderr.contains("added: four"), "{out:?}");
    assert!(out.stderr.contains("hint"), "{out:?}");
    assert!(out.stderr.contains("--force"), "{out:?}");
    assert_eq!(log_lines(&sb), vec!["one"], "nothing ran");
    assert!(events(&read_complete_transcript(&t), "run_resumed").is_empty());

    let out = sb.output(&["resume", t.to_str().unwrap(), "--yes", "--force"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(log_lines(&sb), vec!["one", "gate", "three", "four"]);
    let records = read_complete_transcript(&t);
    let resumed = one_event(&records, "run_resumed");
    assert_eq!(resumed["next_step"], "gate");
    assert_eq!(resumed["playbook_changed"], true);
    assert_eq!(run_finished(&records)["outcome"], "success");
}

fn one_event<'a>(records: &'a [Value], event: &str) -> &'a Value {
    let found = events(records, event);
    assert_eq!(found.len(), 1, "one {event}: {found:?}");
    found[0]
}

#[test]
fn resume_warns_when_only_the_playbook_text_changed() {
    let sb = Sandbox::for_terminal();
    let (pb, t) = failed_run(&sb);
    let text = std::fs::read_to_string(&pb).unwrap();
    std::fs::write(&pb, format!("# fixed the gate\n{text}")).unwrap();
    sb.write("open", "");

    let out = sb.output(&["resume", t.to_str().unwrap(), "--yes"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("warning"), "{out:?}");
    assert!(
        out.stderr
            .contains("changed since the run started (its sha256 differs)"),
        "{out:?}"
    );
    assert!(out.stderr.contains("resuming at `gate`"), "{out:?}");
    assert_eq!(log_lines(&sb), vec!["one", "gate", "three"]);
    let records = read_complete_transcript(&t);
    let resumed = one_event(&records, "run_resumed");
    assert_eq!(resumed["playbook_changed"], true);
    assert_ne!(resumed["sha256"], records[0]["playbook"]["sha256"]);
    assert_eq!(run_finished(&records)["outcome"], "success");
}

#[test]
fn resume_without_an_argument_takes_the_newest_transcript() {
    let sb = Sandbox::for_terminal();
    // No transcript yet.
    let out = sb.output(&["resume", "--yes"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("no transcripts under .runbook/runs/"),
        "{out:?}"
    );

    let older = sb.playbook(
        "older.yaml",
        "older",
        "steps:\n  - id: older-fails\n    run: test -e open && echo older >> log.txt\n",
    );
    let newer = sb.playbook(
        "newer.yaml",
        "newer",
        "steps:\n  - id: newer-fails\n    run: test -e open && echo newer >> log.txt\n",
    );
    for pb in [&older, &newer] {
        let out = sb.output(&["run", pb.to_str().unwrap(), "--yes"]);
        assert_eq!(out.code, 1, "{out:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let runs: Vec<_> = std::fs::read_dir(sb.path(".runbook/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    sb.write("open", "");

    let out = sb.output(&["resume", "--yes"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("resuming at `newer-fails`"), "{out:?}");
    assert_eq!(log_lines(&sb), vec!["newer"]);
    for path in runs {
        let records = read_complete_transcript(&path);
        let is_newer = records[0]["playbook"]["name"] == "newer";
        assert_eq!(
            events(&records, "run_resumed").len(),
            usize::from(is_newer),
            "{}",
            path.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Interactive resume
// ---------------------------------------------------------------------------------------------

#[test]
fn interactive_resume_offers_the_unfinished_step_again() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "iresume",
        r#"
steps:
  - id: one
    run: echo one >> log.txt
  - id: two
    run: echo two >> log.txt
  - id: three
    run: echo three >> log.txt
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    let screen = term.expect_run_prompt();
    assert!(screen.contains("$ echo two >> log.txt"), "{screen}");
    term.send_line("a");
    term.expect("resume with: runbook resume");
    assert_eq!(term.finish(), 3, "{}", term.screen);
    assert_eq!(log_lines(&sb), vec!["one"]);
    assert_eq!(
        run_finished(&read_complete_transcript(&t))["outcome"],
        "aborted"
    );

    let mut term = sb.pty(&["resume", t.to_str().unwrap(), "--operator", "carol"]);
    term.expect("`two` had not finished when the run stopped: it runs again");
    term.expect("resuming at `two`");
    let screen = term.expect_run_prompt();
    assert!(screen.contains("$ echo two >> log.txt"), "{screen}");
    assert!(!screen.contains("$ echo one"), "`one` is not offered again");
    term.send_line("y");
    let screen = term.expect_run_prompt();
    assert!(screen.contains("$ echo three >> log.txt"), "{screen}");
    term.send_line("y");
    term.expect("succeeded");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert_eq!(log_lines(&sb), vec!["one", "two", "three"]);

    let records = read_complete_transcript(&t);
    let resumed = one_event(&records, "run_resumed");
    assert_eq!(resumed["mode"], "interactive");
    assert_eq!(resumed["operator"], "carol");
    assert_eq!(resumed["next_step"], "two");
    let two = prompts(&records, "two");
    assert_eq!(
        two,
        vec![
            ("a".to_owned(), "abort".to_owned()),
            ("y".to_owned(), "run".to_owned())
        ]
    );
    let after_resume: Vec<&Value> = records
        .iter()
        .skip_while(|r| r["event"] != "run_resumed")
        .filter(|r| r["event"] == "prompt")
        .collect();
    assert!(after_resume.iter().all(|p| p["operator"] == "carol"));
    assert_eq!(outcome(&records, "two"), "ok");
    assert_eq!(run_finished(&records)["outcome"], "success");
}

/// Ctrl-C while a question is open ends the run as interrupted; resume asks that question
/// again, and the incident clock goes on from where it stopped.
#[test]
fn ctrl_c_at_a_prompt_interrupts_and_resume_asks_again() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "ctrlc-prompt",
        r#"
steps:
  - id: one
    run: echo one >> log.txt
  - id: two
    run: echo two >> log.txt
"#,
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &[]);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect_run_prompt();
    term.ctrl_c();
    term.expect("interrupted in");
    assert_eq!(term.finish(), 3, "{}", term.screen);
    assert_eq!(log_lines(&sb), vec!["one"]);
    let records = read_complete_transcript(&t);
    assert_eq!(run_finished(&records)["outcome"], "interrupted");
    assert!(step_events(&records, "step_started", "two").is_empty());
    let stopped_at = u64_of(&run_finished(&records)["elapsed_ms"]);

    let mut term = sb.pty(&["resume", t.to_str().unwrap(), "--operator", "alice"]);
    term.expect("resuming at `two`");
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("succeeded");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert_eq!(log_lines(&sb), vec!["one", "two"]);
    let records = read_complete_transcript(&t);
    let resumed = one_event(&records, "run_resumed");
    assert!(u64_of(&resumed["elapsed_ms"]) >= stopped_at, "{resumed}");
    assert_eq!(outcome(&records, "two"), "ok");
    assert_eq!(step_events(&records, "step_finished", "one").len(), 1);
    assert_eq!(run_finished(&records)["outcome"], "success");
}

#[test]
fn after_a_failure_escalate_notifies_now_and_shell_comes_back_to_the_question() {
    let sb = Sandbox::for_terminal();
    let pb = sb.playbook(
        "pb.yaml",
        "escalate-now",
        r#"
escalation:
  - { after: 10m, notify: [oncall] }
steps:
  - id: check
    run: echo broken; exit 1
"#,
    );
    let inventory = sb.inventory(
        "inv.yaml",
        "channels:\n  oncall: { command: \"cat >> notified.log\" }\n",
    );
    let shell = sb.write_executable("fake-shell.sh", "#!/bin/sh\ntouch shell-was-here\n");
    let t = sb.path("t.jsonl");
    let mut cmd = sb.run_pty_command(&pb, &t, &["-i", inventory.to_str().unwrap()]);
    cmd.env("SHELL", &shell);
    let mut term = Term::spawn(cmd);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("FAILED check");
    term.expect_failure_prompt();
    term.send_line("e");
    // Escalating does not decide the step: the question comes back.
    term.expect_failure_prompt();
    term.send_line("!");
    term.expect_failure_prompt();
    term.send_line("s");
    assert_eq!(term.finish(), 0, "{}", term.screen);

    assert!(
        sb.read("notified.log").contains("Step `check` failed"),
        "the channel got the message now"
    );
    assert!(sb.exists("shell-was-here"), "the operator's shell ran");
    let records = read_complete_transcript(&t);
    let escalations = events(&records, "escalation");
    assert_eq!(escalations.len(), 1);
    assert_eq!(escalations[0]["reason"], "operator");
    assert_eq!(escalations[0]["channels"][0], "oncall");
    assert_eq!(escalations[0]["deliveries"][0]["ok"], true);
    let decisions: Vec<&str> = step_events(&records, "prompt", "check")
        .iter()
        .filter_map(|p| p["decision"].as_str())
        .collect();
    assert_eq!(decisions, ["run", "escalate", "shell", "skip"]);
    assert_eq!(
        step_events(&records, "step_finished", "check")[0]["outcome"],
        "skipped"
    );
}
