//! Remote steps against a real sshd on loopback ([`Sshd`]: its own host key, an authorized key,
//! a free port, a dedicated unprivileged user). Ten inventory hosts are aliases of that one
//! server.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_step_runs_on_one_host_as_its_user_with_its_values() {
    let sshd = Sshd::start();
    let sb = Sandbox::new();
    let inv = sshd.inventory(&sb, 1, "");
    let pb = sb.playbook(
        "pb.yaml",
        "one-host",
        r#"
params:
  greeting: { type: string, default: "hello; $(touch /tmp/never)" }
steps:
  - id: who
    on: web-1
    run: echo "$(whoami) on $RUNBOOK_HOST says {{ greeting }}"
    expect: { stdout: { contains: "runbook-ssh on web-1" } }
    capture: { said: { stdout: true } }
"#,
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(0);
    assert_eq!(
        r.output("who@web-1"),
        vec!["runbook-ssh on web-1 says hello; $(touch /tmp/never)"]
    );
    assert_eq!(r.outcome("who@web-1"), "ok");
    assert_eq!(r.outcome("who"), "ok");
    assert_eq!(
        r.finished("who")["captures"]["said"]["web-1"],
        "runbook-ssh on web-1 says hello; $(touch /tmp/never)"
    );
}

#[test]
fn a_group_fans_out_in_serial_batches_and_max_fail_stops_the_rest() {
    let sshd = Sshd::start();
    let sb = Sandbox::new();
    let inv = sshd.inventory(&sb, 10, "");
    let log = sshd.path("shared/log");
    let pb = sb.playbook(
        "pb.yaml",
        "fleet",
        &format!(
            r#"
steps:
  - id: all
    on: web
    serial: [1, "30%"]
    run: echo "$RUNBOOK_HOST" >> {log}
  - id: some-fail
    on: web
    serial: 2
    max_fail: 1
    run: case "$RUNBOOK_HOST" in web-3|web-4) exit 7;; esac
"#,
            log = log.display()
        ),
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap(), "--forks", "3"]);
    r.assert_code(1);
    let mut ran = lines(&log);
    ran.sort();
    let mut want: Vec<String> = (1..=10).map(|i| format!("web-{i}")).collect();
    want.sort();
    assert_eq!(ran, want, "every host ran `all` once");
    // The ramp: web-1 alone first, then batches of 3.
    let first_start = r
        .records
        .iter()
        .position(|v| {
            v["event"] == "step_started"
                && v["step"].as_str().unwrap_or_default().starts_with("all@")
        })
        .unwrap();
    assert_eq!(r.records[first_start]["step"], "all@web-1");
    let web1_end = r.position(|v| v["event"] == "step_finished" && v["step"] == "all@web-1");
    let web2_start = r.position(|v| v["event"] == "step_started" && v["step"] == "all@web-2");
    assert!(
        web1_end < web2_start,
        "the canary finished before the next batch"
    );
    // max_fail 1: web-3 and web-4 (batch 2) fail; batches after it never start.
    let fail = r.finished("some-fail");
    assert_eq!(fail["outcome"], "failed");
    assert!(
        str_of(&fail["message"]).contains("2 of 10 hosts failed (max_fail 1)"),
        "{fail}"
    );
    assert!(
        r.started("some-fail@web-5").is_empty(),
        "later batches did not start"
    );
    assert_eq!(r.outcome("some-fail@web-1"), "ok");
}

#[test]
fn an_unreachable_host_and_a_changed_host_key_are_failed_hosts_not_a_hung_run() {
    let sshd = Sshd::start();
    let sb = Sandbox::new();
    // A known_hosts that holds another key for the alias: ssh must refuse it.
    let wrong = sshd.path("wrong_known_hosts");
    let other_key = sshd.keygen("other_key");
    let other = std::fs::read_to_string(other_key.with_extension("pub")).unwrap();
    std::fs::write(&wrong, format!("runbook-test {other}")).unwrap();
    let closed = closed_port();
    let extra = format!(
        "{}  down: {{ address: 127.0.0.1, port: {closed}, user: {SSH_USER} }}\n",
        sshd.host("spoofed", &wrong)
    );
    let inv = sshd.inventory(&sb, 1, &extra);
    let pb = sb.playbook(
        "pb.yaml",
        "unreachable",
        "steps:\n  - { id: a, on: web-1, run: 'true' }\n  - { id: b, on: down, run: 'true', on_failure: continue }\n  - { id: c, on: spoofed, run: touch /tmp/runbook-spoofed-ran, on_failure: continue }\n",
    );
    let started = Instant::now();
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(0);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(r.outcome("a@web-1"), "ok");
    assert_eq!(r.outcome("b@down"), "failed");
    assert!(
        str_of(&r.finished("b@down")["message"]).contains("unreachable"),
        "{}",
        r.finished("b@down")
    );
    assert_eq!(r.outcome("c@spoofed"), "failed");
    let why = str_of(&r.finished("c@spoofed")["message"]).to_owned();
    assert!(why.contains("unreachable"), "{why}");
    // Refused for its key, not for the network.
    assert!(why.contains("Host key verification failed"), "{why}");
    assert!(!Path::new("/tmp/runbook-spoofed-ran").exists());
}

#[test]
fn a_timeout_leaves_no_process_on_the_remote_side() {
    let sshd = Sshd::start();
    let sb = Sandbox::new();
    let inv = sshd.inventory(&sb, 2, "");
    let pb = sb.playbook(
        "pb.yaml",
        "remote-timeout",
        "steps:\n  - id: slow\n    on: web\n    timeout: 1s\n    run: (sleep 31.77 &); sleep 31.78\n",
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(1);
    assert!(str_of(&r.finished("slow@web-1")["message"]).contains("timed out"));
    let gone = gone_within("sleep 31.7", Duration::from_secs(6));
    assert!(gone, "a remote process outlived its step");
}

#[test]
fn kill_9_mid_fan_out_then_resume_runs_no_finished_host_twice_and_retries_only_failed_hosts() {
    let sshd = Sshd::start();
    let sb = Sandbox::new();
    let inv = sshd.inventory(&sb, 6, "");
    let log = sshd.path("shared/log");
    let gate = sshd.path("shared/gate");
    let pb = sb.playbook(
        "pb.yaml",
        "resumable-fleet",
        &format!(
            r#"
steps:
  - id: roll
    on: web
    serial: 2
    run: |
      echo "$RUNBOOK_HOST" >> {log}
      if [ "$RUNBOOK_HOST" = web-5 ] && [ ! -e {gate} ]; then sleep 30.91; fi
"#,
            log = log.display(),
            gate = gate.display()
        ),
    );
    let (mut child, transcript) = sb.spawn_run(&pb, &["-i", inv.to_str().unwrap()]);
    assert!(wait_for(Duration::from_secs(30), || {
        lines(&log).iter().any(|l| l == "web-5")
    }));
    child.kill().unwrap();
    child.wait().unwrap();
    let finished: Vec<String> = read_partial(&transcript)
        .iter()
        .filter(|r| r["event"] == "step_finished" && r["outcome"] == "ok")
        .filter_map(|r| str_of(&r["step"]).strip_prefix("roll@").map(str::to_owned))
        .collect();
    assert!(
        finished.len() >= 4,
        "the first two batches finished: {finished:?}"
    );
    std::fs::write(&gate, "").unwrap();
    let out = sb.resume(&transcript, &[]);
    kill_leftovers("sleep 30.91");
    out.assert_code(0);
    let ran = lines(&log);
    // A host recorded as finished never runs again; the hosts in flight at the kill do.
    for host in (1..=6).map(|i| format!("web-{i}")) {
        let times = ran.iter().filter(|l| **l == host).count();
        if finished.contains(&host) {
            assert_eq!(times, 1, "{host}: {ran:?}");
        } else {
            assert!(times >= 1, "{host}: {ran:?}");
        }
    }
    assert!(!finished.contains(&"web-5".to_owned()));
    assert_eq!(ran.iter().filter(|l| *l == "web-5").count(), 2, "{ran:?}");
}

#[test]
fn the_inventorys_target_moves_a_playbook_without_on_and_limit_keeps_some_hosts() {
    let sshd = Sshd::start();
    let sb = Sandbox::new();
    let kh = sshd.path("known_hosts");
    let mut hosts = String::new();
    for i in 1..=3 {
        hosts.push_str(&sshd.host(&format!("web-{i}"), &kh));
    }
    let remote = sb.inventory(
        "remote.yaml",
        &format!("target: web\nhosts:\n{hosts}  here: {{ connection: local }}\ngroups:\n  web: [web-1, web-2, web-3]\n"),
    );
    let local = sb.inventory("local.yaml", "hosts:\n  here: { connection: local }\n");
    // No `on:` anywhere: where it runs is the inventory's business.
    let pb = sb.playbook(
        "pb.yaml",
        "movable",
        "steps:\n  - id: where\n    run: echo \"$(whoami) ${RUNBOOK_HOST:-local}\"\n  - id: here\n    on: here\n    run: echo \"$(whoami) ${RUNBOOK_HOST:-none}\"\n  - id: mine\n    on: local\n    run: echo mine\n",
    );
    let r = sb.run(
        &pb,
        &[
            "-i",
            remote.to_str().unwrap(),
            "--limit",
            "web-1,web-3,here",
        ],
    );
    r.assert_code(0);
    assert_eq!(r.output("where@web-1"), vec![format!("{SSH_USER} web-1")]);
    assert_eq!(r.output("where@web-3"), vec![format!("{SSH_USER} web-3")]);
    assert!(
        r.started("where@web-2").is_empty(),
        "--limit left web-2 out"
    );
    // A `connection: local` host runs here, as this user, under its inventory name.
    let me = String::from_utf8(Command::new("whoami").output().unwrap().stdout).unwrap();
    assert_eq!(r.output("here@here"), vec![format!("{} here", me.trim())]);
    // `on: local` is this machine whatever --limit says.
    assert_eq!(r.output("mine"), vec!["mine"]);

    // The same playbook with an inventory without a target runs `where` on this machine.
    let r = sb.run(&pb, &["-i", local.to_str().unwrap()]);
    r.assert_code(0);
    assert_eq!(r.output("where"), vec![format!("{} local", me.trim())]);
}

// ---------------------------------------------------------------------------------------------
// The operator at a fan-out: the host count, the failure menu, Ctrl-C (a real terminal)
// ---------------------------------------------------------------------------------------------

/// Whether the (growing) transcript records `roll` on `host` as finished.
fn roll_finished(transcript: &Path, host: &str) -> bool {
    read_partial(transcript)
        .iter()
        .any(|r| r["event"] == "step_finished" && r["step"] == format!("roll@{host}"))
}

fn host_runs(log: &Path, host: &str) -> usize {
    lines(log).iter().filter(|l| *l == host).count()
}

#[test]
fn a_large_fan_out_asks_for_the_host_count_and_the_failure_menu_retries_only_the_failed_hosts() {
    let sshd = Sshd::start();
    let sb = Sandbox::for_terminal();
    let inv = sshd.inventory(&sb, 7, "");
    let log = sshd.path("shared/log");
    let gate = sshd.path("shared/gate");
    let pb = sb.playbook(
        "pb.yaml",
        "confirm-fleet",
        &format!(
            r#"
steps:
  - id: roll
    on: web
    run: |
      echo "$RUNBOOK_HOST" >> {log}
      case "$RUNBOOK_HOST" in web-3|web-6) [ -e {gate} ] || exit 7;; esac
  - id: after
    run: touch after-ran
"#,
            log = log.display(),
            gate = gate.display()
        ),
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &["-i", inv.to_str().unwrap()]);
    term.expect("7 hosts (web-1, web-2, web-3, web-4, web-5, web-6, web-7)");
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("reaches more than 5 hosts");
    term.expect("How many hosts?");
    // A wrong count runs nothing and asks again.
    term.send_line("6");
    term.expect("`6` is not the number of hosts: nothing ran");
    term.expect("How many hosts?");
    assert!(lines(&log).is_empty(), "nothing ran before the count");
    term.send_line("7");
    term.expect("FAILED roll: 2 of 7 hosts failed (max_fail 0)");
    let menu = term.expect("[r]etry the 2 hosts [s]kip them [e]scalate [a]bort [?]");
    assert!(menu.contains("web-3, web-6: "), "grouped by reason: {menu}");
    assert!(menu.contains("5 passed (never run again)"), "{menu}");
    std::fs::write(&gate, "").unwrap();
    term.send_line("r");
    term.expect_run_prompt();
    term.send_line("y");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert!(sb.exists("after-ran"));
    // The hosts that passed ran once; the failed ones once more.
    for i in 1..=7 {
        let host = format!("web-{i}");
        let want = if i == 3 || i == 6 { 2 } else { 1 };
        assert_eq!(host_runs(&log, &host), want, "{host}: {:?}", lines(&log));
    }
    let records = read_transcript(&t);
    let asked = step_events(&records, "prompt", "roll");
    let count = asked
        .iter()
        .find(|p| str_of(&p["question"]).contains("type their number"))
        .expect("the host count is recorded");
    assert_eq!(count["answer"], "7 (after 1 wrong count)");
    assert_eq!(count["decision"], "run");
    assert!(asked.iter().any(|p| p["decision"] == "retry"), "{asked:?}");
    let attempts = |host: &str| -> Vec<u64> {
        records
            .iter()
            .filter(|r| r["event"] == "step_started" && r["step"] == format!("roll@{host}"))
            .map(|r| r["attempt"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(attempts("web-3"), vec![1, 2], "the retry is attempt 2");
    assert_eq!(attempts("web-1"), vec![1]);
    let outcomes: Vec<&str> = records
        .iter()
        .filter(|r| r["event"] == "step_finished" && r["step"] == "roll@web-6")
        .map(|r| str_of(&r["outcome"]))
        .collect();
    assert_eq!(outcomes, vec!["failed", "ok"], "each attempt recorded");
    let roll = last_finished(&records, "roll");
    assert_eq!(roll["outcome"], "ok", "{roll}");
}

#[test]
fn the_host_count_can_be_skipped_the_failed_hosts_skipped_and_eof_stops_the_run() {
    let sshd = Sshd::start();
    let sb = Sandbox::for_terminal();
    let inv = sshd.inventory(&sb, 6, "");
    let log = sshd.path("shared/log");
    let pb = sb.playbook(
        "pb.yaml",
        "skip-fleet",
        &format!(
            r#"
steps:
  - id: first
    on: web
    run: echo "first $RUNBOOK_HOST" >> {log}
  - id: second
    on: web
    run: |
      echo "second $RUNBOOK_HOST" >> {log}
      [ "$RUNBOOK_HOST" != web-2 ]
  - id: third
    on: web
    run: echo "third $RUNBOOK_HOST" >> {log}
"#,
            log = log.display()
        ),
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &["-i", inv.to_str().unwrap()]);
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("How many hosts?");
    term.send_line("skip");
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("How many hosts?");
    term.send_line("6");
    // on_failure is abort: Enter does nothing, `skip` accepts the failed host.
    term.expect("[f]ail the run (the playbook's on_failure: abort) [r]etry the 1 host [s]kip them");
    term.send_line("s");
    term.expect_run_prompt();
    term.send_line("y");
    term.expect("How many hosts?");
    term.ctrl_d();
    term.expect("end of input");
    assert_eq!(term.finish(), 3, "{}", term.screen);
    let ran = lines(&log);
    assert!(!ran.iter().any(|l| l.starts_with("first")), "{ran:?}");
    assert!(!ran.iter().any(|l| l.starts_with("third")), "{ran:?}");
    assert_eq!(ran.iter().filter(|l| l.starts_with("second")).count(), 6);
    let records = read_transcript(&t);
    let first = last_finished(&records, "first");
    assert_eq!(first["outcome"], "skipped");
    assert!(
        str_of(&first["message"]).contains("not confirmed"),
        "{first}"
    );
    let second = last_finished(&records, "second");
    assert_eq!(second["outcome"], "warning");
    let why = str_of(&second["message"]);
    assert!(
        why.contains("skipped by the operator") && why.contains("web-2"),
        "{why}"
    );
    assert_eq!(outcome(&records, "second@web-2"), "failed");
    let fin = run_finished(&records);
    assert_eq!(fin["outcome"], "interrupted", "{fin}");
    assert!(str_of(&fin["reason"]).contains("end of input"), "{fin}");
}

#[test]
fn ctrl_c_mid_fan_out_stops_the_remote_groups_and_resume_runs_only_unfinished_hosts() {
    let sshd = Sshd::start();
    let sb = Sandbox::new();
    let inv = sshd.inventory(&sb, 8, "");
    let log = sshd.path("shared/log");
    let gate = sshd.path("shared/gate");
    let pb = sb.playbook(
        "pb.yaml",
        "interrupted-fleet",
        &format!(
            r#"
steps:
  - id: roll
    on: web
    serial: 3
    run: |
      echo "$RUNBOOK_HOST" >> {log}
      if [ "$RUNBOOK_HOST" = web-5 ] && [ ! -e {gate} ]; then (sleep 31.55 &); sleep 31.56; fi
"#,
            log = log.display(),
            gate = gate.display()
        ),
    );
    let (mut child, transcript) = sb.spawn_run(&pb, &["-i", inv.to_str().unwrap()]);
    // web-4 and web-6 finished; web-5 sleeps on the host (web-7 and web-8 wait for its batch).
    assert!(wait_for(Duration::from_secs(30), || {
        roll_finished(&transcript, "web-4")
            && roll_finished(&transcript, "web-6")
            && !processes_matching("sleep 31.56").is_empty()
    }));
    signal(child.id(), "INT");
    let status = wait_exit(&mut child, Duration::from_secs(20));
    // Only the remote wrapper can have stopped these: they are the sshd user's processes.
    let gone = gone_within("sleep 31.5", Duration::from_secs(6));
    assert!(gone, "a remote process outlived Ctrl-C");
    assert_eq!(status.code(), Some(3), "an interrupted run exits 3");
    let records = read_transcript(&transcript);
    let roll = last_finished(&records, "roll");
    assert_eq!(roll["outcome"], "aborted", "{roll}");
    assert!(
        !records
            .iter()
            .any(|r| r["event"] == "step_started" && r["step"] == "roll@web-7"),
        "the next batch never started"
    );
    std::fs::write(&gate, "").unwrap();
    sb.resume(&transcript, &[]).assert_code(0);
    for i in 1..=8 {
        let host = format!("web-{i}");
        // web-5 was in flight: it runs again; every other host runs exactly once.
        let want = if i == 5 { 2 } else { 1 };
        assert_eq!(host_runs(&log, &host), want, "{host}: {:?}", lines(&log));
    }
}

#[test]
fn ctrl_c_mid_fan_out_in_a_terminal_asks_and_retry_runs_only_the_unfinished_hosts() {
    let sshd = Sshd::start();
    let sb = Sandbox::for_terminal();
    let inv = sshd.inventory(&sb, 3, "");
    let log = sshd.path("shared/log");
    let gate = sshd.path("shared/gate");
    let pb = sb.playbook(
        "pb.yaml",
        "ctrl-c-fleet",
        &format!(
            r#"
steps:
  - id: roll
    on: web
    run: |
      echo "$RUNBOOK_HOST" >> {log}
      if [ "$RUNBOOK_HOST" = web-2 ] && [ ! -e {gate} ]; then sleep 31.44; fi
"#,
            log = log.display(),
            gate = gate.display()
        ),
    );
    let t = sb.path("t.jsonl");
    let mut term = sb.run_pty(&pb, &t, &["-i", inv.to_str().unwrap()]);
    term.expect_run_prompt();
    term.send_line("y");
    // web-1 and web-3 finished (recorded: a host whose record is not written yet runs again);
    // web-2 sleeps on the host.
    assert!(wait_for(Duration::from_secs(20), || {
        !processes_matching("sleep 31.44").is_empty()
            && roll_finished(&t, "web-1")
            && roll_finished(&t, "web-3")
    }));
    term.ctrl_c();
    term.expect("`roll` was stopped (Ctrl-C)");
    term.expect("[r]etry [s]kip [a]bort");
    let gone = gone_within("sleep 31.44", Duration::from_secs(6));
    assert!(gone, "the remote group was stopped before the question");
    std::fs::write(&gate, "").unwrap();
    term.send_line("r");
    assert_eq!(term.finish(), 0, "{}", term.screen);
    assert_eq!(host_runs(&log, "web-1"), 1);
    assert_eq!(host_runs(&log, "web-2"), 2);
    assert_eq!(host_runs(&log, "web-3"), 1);
    let records = read_transcript(&t);
    assert!(
        step_events(&records, "prompt", "roll")
            .iter()
            .any(|p| p["decision"] == "retry")
    );
}

#[test]
fn every_step_on_a_host_goes_through_its_one_master_connection() {
    let sshd = Sshd::start();
    let sb = Sandbox::new();
    let inv = sshd.inventory(&sb, 2, "");
    let pb = sb.playbook(
        "pb.yaml",
        "one-connection",
        "steps:\n  - { id: a, on: web, run: 'true' }\n  - { id: b, on: web, run: 'true' }\n  - { id: c, on: web, run: 'true' }\n",
    );
    sb.run(&pb, &["-i", inv.to_str().unwrap()]).assert_code(0);
    // A second run within ControlPersist reuses the masters too.
    sb.run(&pb, &["-i", inv.to_str().unwrap()]).assert_code(0);
    let log = std::fs::read_to_string(sshd.path("sshd.log")).unwrap_or_default();
    let logins = log.matches("Accepted publickey").count();
    assert_eq!(
        logins, 2,
        "one login per host, for 6 steps and 2 runs:\n{log}"
    );
    // No connection is left behind but the two masters.
    // This server's client key is in no other test's command line (ports get reused).
    let key = sshd.path("client_key").display().to_string();
    let ssh: Vec<u32> = processes_matching(&key)
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "ssh")
        })
        .collect();
    assert_eq!(ssh.len(), 2, "{ssh:?}");
}
