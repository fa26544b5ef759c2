//! Faults injected into real runs: kill -9 at random instants (inside parallel groups,
//! sub-playbooks and goto loops), SIGHUP, a full disk (a file size limit), a long gap before
//! a resume, a hanging webhook. After each, the run says what happened and `resume --yes`
//! finishes it with no finished step run twice.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// Every step appends its id to `effects` as its last act; the loop step appends one line per
/// visit. Sleeps spread the run over about a second so kills land everywhere.
const PARENT: &str = r#"
steps:
  - id: first
    run: sleep 0.05; echo first >> effects
  - id: group
    parallel:
      - id: left
        run: sleep 0.15; echo left >> effects
      - id: right
        run: sleep 0.1; echo right >> effects
      - id: quick
        run: echo quick >> effects
  - id: child
    playbook: child.yaml
  - id: poll
    # The effects file is the counter: one append is the visit's only act, so a visit killed
    # before it leaves no trace (with a counter file of its own, a kill between writing the
    # counter and the effect lost `poll-3` for good).
    run: |
      n=$(( $(cat effects 2>/dev/null | grep -c '^poll-') + 1 ))
      sleep 0.03
      echo poll-$n >> effects
      [ $n -ge 3 ]
    max_visits: 5
    on_failure: poll
  - id: last
    run: sleep 0.05; echo last >> effects
finally:
  - id: wrap-up
    run: echo wrap-up >> effects
"#;

const CHILD: &str = "apiVersion: runbook/v1
kind: Playbook
metadata: { name: child }
steps:
  - id: c1
    run: sleep 0.08; echo c1 >> effects
  - id: c2
    run: sleep 0.08; echo c2 >> effects
";

/// The lines every complete run writes, once each.
const EFFECTS: [&str; 12] = [
    "first", "left", "right", "quick", "c1", "c2", "poll-1", "poll-2", "poll-3", "last", "wrap-up",
    "",
];

fn counts(sb: &Sandbox) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let text = std::fs::read_to_string(sb.path("effects")).unwrap_or_default();
    for line in text.lines() {
        *out.entry(line.to_owned()).or_insert(0) += 1;
    }
    out
}

/// The effect line of a transcript path (`child/c1` → `c1`; a poll visit → `poll-N`).
fn effect_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A small deterministic generator, seeded by the clock (the seed is printed on failure).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        self.0 >> 33
    }
}

/// One kill -9 `after` the start, then a resume; checks that nothing finished ran twice.
fn kill_and_resume(after: Duration, seed: u64) {
    let sb = Sandbox::new();
    sb.write("child.yaml", CHILD);
    let pb = sb.playbook("pb.yaml", "faults", PARENT);
    let (mut child, transcript) = sb.spawn_run(&pb, &[]);
    std::thread::sleep(after);
    let _ = child.kill();
    let status = child.wait().expect("wait");
    let ctx = format!("seed {seed}, kill after {after:?}");
    if status.success() {
        // The run was faster than the kill: nothing to resume.
        assert_eq!(counts(&sb).len(), EFFECTS.len() - 1, "{ctx}");
        return;
    }
    // Whatever the killed run recorded as finished is done (a torn last line is not a record).
    let before = std::fs::read_to_string(&transcript).unwrap_or_default();
    let records = read_partial(&transcript);
    if !records.iter().any(|r| r["event"] == "run_started") {
        // Killed before the transcript began: a new run is the only way on.
        return;
    }
    if records
        .last()
        .is_some_and(|r| r["event"] == "run_finished" && r["outcome"] == "success")
    {
        // Killed after the run's last record, on its way out: it is finished, every effect
        // happened once, and resume rightly refuses (tested below).
        assert_eq!(counts(&sb).len(), EFFECTS.len() - 1, "{ctx}");
        let out = sb.resume(&transcript, &[]);
        assert_eq!(out.code, Some(2), "{ctx}");
        return;
    }
    let mut running: Vec<String> = Vec::new();
    for r in &records {
        let step = r["step"].as_str().unwrap_or_default().to_owned();
        match r["event"].as_str().unwrap_or_default() {
            "step_started" => running.push(step),
            "step_finished" => running.retain(|x| *x != step),
            _ => {}
        }
    }
    let effects_before = counts(&sb);
    let out = sb.resume(&transcript, &[]);
    let stderr = &out.stderr;
    assert_eq!(out.code, Some(0), "{ctx}\n{stderr}\n{before}");
    for step in &running {
        assert!(
            stderr.contains(&format!("`{step}` had not finished")),
            "resume names `{step}` as running again ({ctx}):\n{stderr}"
        );
    }
    let after_counts = counts(&sb);
    // Steps that were in flight at the kill may have done their last act before the record
    // was written: they alone may show twice (and resume said it runs them again).
    let in_flight: Vec<&str> = running.iter().map(|p| effect_of(p)).collect();
    for effect in EFFECTS.iter().filter(|e| !e.is_empty()) {
        let times = after_counts.get(*effect).copied().unwrap_or(0);
        let polled = effect.starts_with("poll-") && in_flight.contains(&"poll");
        if in_flight.contains(effect) || polled {
            assert!(
                (1..=2).contains(&times),
                "`{effect}` {times} times ({ctx})\nbefore: {effects_before:?}\nafter: {after_counts:?}"
            );
        } else {
            assert_eq!(
                times, 1,
                "`{effect}` ran {times} times ({ctx})\nbefore: {effects_before:?}\nafter: {after_counts:?}\n{stderr}"
            );
        }
    }
    let end = out.records.last().expect("records");
    assert_eq!(end["event"], "run_finished", "{ctx}");
    assert_eq!(end["outcome"], "success", "{ctx}");
}

#[test]
fn kill_9_at_random_instants_then_resume_runs_no_finished_step_twice() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    let mut rng = Lcg(seed);
    let instants: Vec<Duration> = (0..24)
        .map(|_| Duration::from_millis(rng.next() % 1100))
        .collect();
    // Four at a time: the steps mostly sleep.
    for chunk in instants.chunks(4) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|&at| std::thread::spawn(move || kill_and_resume(at, seed)))
            .collect();
        for h in handles {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

#[test]
fn kill_9_inside_a_parallel_group_and_a_sub_playbook() {
    // Deterministic instants: while `left` runs (after `quick` and `right` finished), and
    // while the sub-playbook's second step runs.
    for (marker, ids) in [("right", "group"), ("c1", "child")] {
        let sb = Sandbox::new();
        sb.write("child.yaml", CHILD);
        let pb = sb.playbook("pb.yaml", "faults", PARENT);
        let (mut child, transcript) = sb.spawn_run(&pb, &[]);
        assert!(
            wait_for(Duration::from_secs(10), || counts(&sb).contains_key(marker)),
            "`{marker}` never ran"
        );
        // Let its step_finished reach the transcript.
        std::thread::sleep(Duration::from_millis(20));
        child.kill().expect("kill -9");
        child.wait().expect("wait");
        let out = sb.resume(&transcript, &[]);
        let stderr = &out.stderr;
        assert_eq!(out.code, Some(0), "{stderr}");
        assert!(
            stderr.contains(&format!("`{ids}` had not finished")),
            "{stderr}"
        );
        let c = counts(&sb);
        assert_eq!(c.get(marker), Some(&1), "{marker} ran again: {c:?}");
        for effect in EFFECTS.iter().filter(|e| !e.is_empty()) {
            assert!(
                c.get(*effect).is_some_and(|n| *n >= 1),
                "{effect} missing: {c:?}"
            );
        }
        let resumed = out.events("run_resumed");
        assert_eq!(resumed.len(), 1);
        assert!(
            resumed[0]["rerun"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == ids)),
            "{}",
            resumed[0]
        );
    }
}

#[test]
fn sighup_stops_the_step_runs_finally_and_resumes() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "hangup",
        r#"
steps:
  - id: first
    run: echo first >> effects
  - id: long
    run: echo long-start >> effects; [ -e fast ] || sleep 30.17; echo long >> effects
  - id: after
    run: echo after >> effects
finally:
  - id: report
    run: echo report >> effects
"#,
    );
    let (mut child, transcript) = sb.spawn_run(&pb, &[]);
    wait_for_process("sleep 30.17", Duration::from_secs(10));
    signal(child.id(), "HUP");
    let status = wait_exit(&mut child, Duration::from_secs(10));
    let gone = gone_within("sleep 30.17", Duration::from_secs(2));
    assert_eq!(status.code(), Some(3), "SIGHUP ends the run with exit 3");
    assert!(gone, "the step's process group outlived the hangup");
    let records = read_transcript(&transcript);
    let end = records.last().unwrap();
    assert_eq!(end["event"], "run_finished");
    assert_eq!(end["outcome"], "interrupted");
    assert!(str_of(&end["reason"]).contains("SIGHUP"), "{end}");
    let c = counts(&sb);
    assert_eq!(c.get("report"), Some(&1), "finally ran: {c:?}");
    assert_eq!(c.get("long"), None);

    sb.write("fast", "");
    sb.resume(&transcript, &[]).assert_code(0);
    let c = counts(&sb);
    assert_eq!(c.get("first"), Some(&1), "{c:?}");
    assert_eq!(c.get("after"), Some(&1), "{c:?}");
    // The resumed run reaches its end: `finally` runs again there.
    assert_eq!(c.get("report"), Some(&2), "{c:?}");
    assert_transcript_valid(&transcript);
}

#[test]
fn a_full_disk_stops_the_run_and_resume_finishes_it() {
    let sb = Sandbox::new();
    // Each step writes lines into the transcript; a 16 KiB file size limit cuts it part-way.
    let mut body = String::from("steps:\n");
    for i in 1..=12 {
        body.push_str(&format!(
            "  - id: s{i}\n    run: echo s{i} >> effects; seq 1 60 | sed 's/^/line of output number /'\n"
        ));
    }
    let pb = sb.playbook("pb.yaml", "disk-full", &body);
    let transcript = sb.path("full.jsonl");
    let script = format!(
        "ulimit -f 16; exec {} run --yes --operator tester {} --transcript {}",
        BIN,
        pb.display(),
        transcript.display()
    );
    let out = sb.shell(&script).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("cannot be written"), "{stderr}");
    assert!(stderr.contains("runbook resume"), "{stderr}");
    // Only whole lines; the run stopped rather than going on unrecorded.
    let text = std::fs::read_to_string(&transcript).unwrap();
    assert!(text.ends_with('\n'), "a torn line was left");
    let records = read_transcript(&transcript);
    let finished: Vec<String> = records
        .iter()
        .filter(|r| r["event"] == "step_finished")
        .map(|r| str_of(&r["step"]).to_owned())
        .collect();
    assert!(
        finished.len() < 12,
        "the limit should stop the run: {finished:?}"
    );
    let ran_before = counts(&sb);
    assert!(
        ran_before.len() <= finished.len() + 1,
        "steps ran after the transcript broke: {ran_before:?} vs {finished:?}"
    );

    // Space again: the resume finishes it, nothing recorded as finished runs twice.
    sb.resume(&transcript, &[]).assert_code(0);
    let c = counts(&sb);
    for i in 1..=12 {
        let id = format!("s{i}");
        let times = c.get(&id).copied().unwrap_or(0);
        if finished.contains(&id) {
            assert_eq!(times, 1, "{id}: {c:?}");
        } else {
            assert!((1..=2).contains(&times), "{id}: {c:?}");
        }
    }
}

#[test]
fn a_rung_due_during_a_long_gap_fires_late_on_resume_and_the_report_shows_the_gap() {
    let sink = HttpSink::start();
    let sb = Sandbox::new();
    let inv = sb.webhook_inventory(&sink.url, &["lead"]);
    let pb = sb.playbook(
        "pb.yaml",
        "late",
        r#"
escalation:
  - after: 1m
    notify: [lead]
    message: "unresolved after a minute"
steps:
  - id: first
    run: echo first >> effects
  - id: slow
    run: "[ -e fast ] || sleep 20.31; echo slow >> effects"
"#,
    );
    let (mut child, transcript) = sb.spawn_run(&pb, &["-i", inv.to_str().unwrap()]);
    wait_for_process("sleep 20.31", Duration::from_secs(10));
    child.kill().unwrap();
    child.wait().unwrap();
    kill_leftovers("sleep 20.31");
    backdate(&transcript, Duration::from_secs(120));
    sb.write("fast", "");

    let started = Instant::now();
    let mut resumed = sb
        .resume_command(&transcript, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The page that became due in the gap goes out at once, not after the slow step.
    let got = sink.take(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1, "the late page was not delivered");
    assert!(started.elapsed() < Duration::from_secs(5));
    let body = got[0].json();
    assert_eq!(body["message"], "unresolved after a minute");
    assert!(u64_of(&body["run"]["late_seconds"]) >= 55, "{body}");
    let status = wait_exit(&mut resumed, Duration::from_secs(30));
    let mut err = String::new();
    resumed
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("the run was stopped for 2m"), "{err}");
    assert_eq!(status.code(), Some(0), "{err}");

    let records = read_transcript(&transcript);
    let esc: Vec<&Value> = records
        .iter()
        .filter(|r| r["event"] == "escalation")
        .collect();
    assert_eq!(esc.len(), 1);
    assert!(u64_of(&esc[0]["late_ms"]) >= 55_000, "{}", esc[0]);
    assert_eq!(u64_of(&esc[0]["due_ms"]), 60_000);
    let resumed = records
        .iter()
        .find(|r| r["event"] == "run_resumed")
        .unwrap();
    assert!(u64_of(&resumed["gap_ms"]) >= 119_000, "{resumed}");
    let end = records.last().unwrap();
    assert!(
        u64_of(&end["duration_ms"]) >= 120_000,
        "the true duration: {end}"
    );

    let md = sb.report(&transcript, "markdown").stdout;
    assert!(md.contains("stopped for 2m"), "{md}");
    assert!(md.contains("late"), "{md}");
}

/// A webhook sink, an inventory whose channel `senior` posts to it, and `NAME.yaml`: a
/// sub-playbook whose ladder pages `senior` with `message` after 1 s and whose one step runs
/// `run`.
fn sub_playbook_with_a_rung(
    sb: &Sandbox,
    name: &str,
    message: &str,
    run: &str,
) -> (HttpSink, std::path::PathBuf) {
    let sink = HttpSink::start();
    let inv = sb.webhook_inventory(&sink.url, &["senior"]);
    sb.write(
        &format!("{name}.yaml"),
        &format!(
            "apiVersion: runbook/v1\nkind: Playbook\nmetadata: {{ name: {name}, title: {name} outage, severity: P1 }}\n\
             escalation:\n  - after: 1s\n    notify: [senior]\n    message: {message}\n\
             steps:\n  - id: fix\n    run: {run}\n"
        ),
    );
    (sink, inv)
}

#[test]
fn a_sub_playbooks_ladder_pages_on_the_incident_clock() {
    let sb = Sandbox::new();
    let (sink, inv) = sub_playbook_with_a_rung(&sb, "p1", "P1 still open", "sleep 2");
    let pb = sb.playbook(
        "pb.yaml",
        "triage",
        "steps:\n  - id: classify\n    run: 'true'\n  - id: p1\n    playbook: p1.yaml\n",
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(0);
    let got = sink.take(1, Duration::from_secs(1));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["message"], "P1 still open");
    let esc = r.events("escalation");
    assert_eq!(esc.len(), 1);
    assert_eq!(esc[0]["rung"]["scope"], "p1/");
    assert_eq!(esc[0]["late_ms"].as_u64().unwrap_or(0), 0);
    // On time: due at 1 s on the incident clock, recorded soon after.
    let at = u64_of(&esc[0]["elapsed_ms"]);
    assert!((1000..1900).contains(&at), "fired at {at} ms");
}

#[test]
fn a_hanging_webhook_delays_no_step_and_ends_abandoned() {
    // A receiver that accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let sb = Sandbox::new();
    let inv = sb.webhook_inventory(&url, &["stuck"]);
    let pb = sb.playbook(
        "pb.yaml",
        "hanging",
        r#"
steps:
  - id: broken
    run: exit 1
    on_failure: { escalate: stuck, then: continue }
  - id: next
    run: echo next
"#,
    );
    let started = Instant::now();
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap(), "--allow-undelivered"]);
    let took = started.elapsed();
    r.assert_code(0);
    let broken_end = u64_of(&r.finished("broken")["duration_ms"]);
    let next_start = r.started("next")[0]["elapsed_ms"].as_u64().unwrap();
    let broken_at = r.finished("broken")["elapsed_ms"].as_u64().unwrap();
    assert!(
        next_start - broken_at < 500,
        "the next step waited for the webhook: {broken_at} → {next_start} ({broken_end})"
    );
    // The run ends after the delivery grace time, with the page recorded as abandoned.
    assert!(took < Duration::from_secs(9), "{took:?}");
    let esc = r.events("escalation");
    assert_eq!(esc.len(), 1);
    let d = &esc[0]["deliveries"][0];
    assert_eq!(d["ok"], false);
    assert!(str_of(&d["error"]).contains("abandoned"), "{d}");
    assert_eq!(r.run_finished()["undelivered"], 1);
}

#[test]
fn a_misspelled_channel_fails_the_run_before_any_step() {
    let sb = Sandbox::new();
    let inv = sb.inventory(
        "inv.yaml",
        "channels:\n  senior-engineer: { command: cat }\n",
    );
    sb.write(
        "sub.yaml",
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata: { name: sub }\nescalation:\n  - after: 5m\n    notify: [team-lead]\nsteps:\n  - { id: s, run: 'true' }\n",
    );
    let pb = sb.playbook(
        "pb.yaml",
        "typo",
        r#"
escalation:
  - after: 15m
    notify: [senior-engneer]
steps:
  - id: touch
    run: touch ran
  - id: sub
    playbook: sub.yaml
"#,
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(2);
    assert!(r.stderr.contains("`senior-engneer`"), "{}", r.stderr);
    assert!(r.stderr.contains("`team-lead`"), "{}", r.stderr);
    assert!(r.records.is_empty(), "nothing was recorded");
    assert!(!sb.exists("ran"), "no step ran");
}

#[test]
fn an_include_cycle_fails_the_run_before_any_step() {
    let sb = Sandbox::new();
    sb.write(
        "b.yaml",
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata: { name: b }\nsteps:\n  - { id: back, playbook: pb.yaml }\n",
    );
    let pb = sb.playbook(
        "pb.yaml",
        "a",
        "steps:\n  - { id: touch, run: touch ran }\n  - { id: b, playbook: b.yaml }\n",
    );
    let r = sb.run(&pb, &[]);
    r.assert_code(2);
    assert!(r.stderr.contains("include-cycle"), "{}", r.stderr);
    assert!(
        r.stderr.contains("pb.yaml → b.yaml → pb.yaml"),
        "{}",
        r.stderr
    );
    assert!(!sb.exists("ran"));
}

#[test]
fn a_step_left_running_by_a_killed_run_is_stopped_before_resume_runs_it() {
    let sb = Sandbox::new();
    // A step's process group outlives a runbook killed with -9 (nothing can stop it then),
    // until the resume stops the group before anything runs.
    let pb = sb.playbook(
        "pb.yaml",
        "leftover",
        "steps:\n  - id: bg\n    run: '[ -e second ] && exit 0; (sleep 40.23 &) ; sleep 40.24'\n",
    );
    let (mut child, transcript) = sb.spawn_run(&pb, &[]);
    wait_for_process("sleep 40.23", Duration::from_secs(10));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !processes_matching("sleep 40.24").is_empty(),
        "the step's group lives on"
    );
    // Resume: the leftover group is stopped first; the step runs again (quickly now).
    sb.write("second", "");
    let out = sb.resume(&transcript, &[]);
    let left = processes_matching("sleep 40.2");
    kill_leftovers("sleep 40.2");
    let err = &out.stderr;
    assert_eq!(out.code, Some(0), "{err}");
    assert!(left.is_empty(), "the leftover outlived the resume");
    assert!(
        err.contains("`bg` was still running from the stopped run; its processes were stopped"),
        "{err}"
    );
}

#[test]
fn every_kind_of_record_validates_against_the_published_schema() {
    let sb = Sandbox::new();
    let inv = sb.inventory("inv.yaml", "channels:\n  log: { command: cat }\n");
    sb.write("child.yaml", CHILD);
    let pb = sb.playbook(
        "pb.yaml",
        "schema",
        r#"
params:
  token: { type: string, default: s3cret-value, secret: true }
steps:
  - id: out
    run: echo {{ token }}; echo err >&2
    capture: { word: { stdout: true } }
  - id: fails
    run: exit 3
    on_failure: { escalate: log, then: continue }
  - id: drop
    run: rm -rf nothing-here
    danger: destructive
    on_failure: continue
  - id: ask
    manual: Do the thing
    inputs: { who: { prompt: Who?, default: me } }
  - id: pause
    wait: 10ms
  - id: group
    parallel:
      - { id: a, run: 'true' }
  - id: child
    playbook: child.yaml
finally:
  - id: summary
    report: "done by {{ who }}"
"#,
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap(), "--manual", "skip"]);
    r.assert_code(0);
    for kind in [
        "run_started",
        "step_started",
        "output",
        "prompt",
        "step_finished",
        "escalation",
        "run_finished",
    ] {
        assert!(
            !r.events(kind).is_empty(),
            "no {kind} record:\n{}",
            r.dump()
        );
    }
    assert!(!r.dump().contains("s3cret-value"));
    assert_transcript_valid(&r.transcript);
}

#[test]
fn a_sub_playbooks_rungs_not_yet_due_end_with_it() {
    let sb = Sandbox::new();
    let (sink, inv) = sub_playbook_with_a_rung(&sb, "quick", "quick is still open", "'true'");
    let pb = sb.playbook(
        "pb.yaml",
        "after-quick",
        "steps:\n  - id: quick\n    playbook: quick.yaml\n  - id: linger\n    run: sleep 1.6\n",
    );
    let r = sb.run(&pb, &["-i", inv.to_str().unwrap()]);
    r.assert_code(0);
    // The sub-playbook ended before its rung was due: nobody is paged for it afterwards.
    assert!(sink.take(1, Duration::from_millis(300)).is_empty());
    assert!(r.events("escalation").is_empty(), "{}", r.dump());
}
