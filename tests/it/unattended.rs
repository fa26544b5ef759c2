//! Unattended runs as cron and CI start them: transcripts into a folder, file errors before
//! terminal errors, `--var` typos refused with a suggestion, and escalation channels an
//! inventory does not define, shown by `plan`.

use std::path::Path;
use std::time::Instant;

use crate::support::{Sandbox, read_transcript, root, runbook, settings};

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `20261122T213005Z-nightly.jsonl` or `...-nightly-2.jsonl`: the stamp and the suffix.
fn split_name(name: &str) -> (&str, Option<&str>) {
    let (stamp, rest) = name.split_once('-').expect("stamp-name");
    assert!(
        stamp.len() == 16
            && stamp.as_bytes()[8] == b'T'
            && stamp.ends_with('Z')
            && stamp[..8].bytes().all(|b| b.is_ascii_digit())
            && stamp[9..15].bytes().all(|b| b.is_ascii_digit()),
        "{name}"
    );
    let rest = rest.strip_suffix(".jsonl").expect(".jsonl");
    let suffix = rest.strip_prefix("nightly").expect("the playbook's name");
    (stamp, suffix.strip_prefix('-'))
}

const NIGHTLY: &str = "steps:\n  - id: work\n    run: echo done >> work.log\n";

#[test]
fn runs_into_one_folder_each_get_a_new_transcript() {
    let sb = Sandbox::new();
    sb.playbook("nightly.yaml", "nightly", NIGHTLY);
    let started = Instant::now();
    // `runs/` does not exist yet: the trailing slash says it is a folder. Then it exists,
    // and the plain name is enough.
    for arg in ["runs/", "runs/", "runs", "runs", "runs/"] {
        sb.output(&["run", "--yes", "nightly.yaml", "--transcript", arg])
            .expect_code(0);
    }
    let fast = started.elapsed().as_millis() < 1000;
    let names = files_in(&sb.path("runs"));
    assert_eq!(names.len(), 5, "{names:?}");
    let mut suffixes = Vec::new();
    for name in &names {
        let (_, suffix) = split_name(name);
        suffixes.push(suffix.map(str::to_owned));
        let records = read_transcript(&sb.path("runs").join(name));
        let last = records.last().expect("records");
        assert_eq!(last["event"], "run_finished", "{name}");
        assert_eq!(last["outcome"], "success", "{name}");
    }
    assert_eq!(
        std::fs::read_to_string(sb.path("work.log")).unwrap(),
        "done\n".repeat(5)
    );
    // Five runs within one second span at most two seconds: some shared a second, and the
    // later one got a numbered name instead of failing.
    if fast {
        assert!(
            suffixes.iter().any(|s| s.as_deref() == Some("2")),
            "{names:?}"
        );
    }
}

#[test]
fn a_transcript_file_that_exists_is_refused_and_the_folder_form_is_named() {
    let sb = Sandbox::new();
    sb.playbook("nightly.yaml", "nightly", NIGHTLY);
    let args = [
        "run",
        "--yes",
        "nightly.yaml",
        "--transcript",
        "logs/nightly.jsonl",
    ];
    sb.output(&args).expect_code(0);
    let before = std::fs::read(sb.path("logs/nightly.jsonl")).unwrap();
    let out = sb.output(&args);
    out.expect_code(2);
    assert_eq!(
        out.stderr,
        "error: the transcript logs/nightly.jsonl already exists\n\
         hint: a transcript is never overwritten: give a new file, or a folder to get a new file in it on every run\n\
         hint: for scheduled runs: --transcript logs/\n"
    );
    assert_eq!(
        std::fs::read(sb.path("logs/nightly.jsonl")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::read_to_string(sb.path("work.log")).unwrap(),
        "done\n",
        "the second run did nothing"
    );
    // In the current folder the hint says `./`.
    sb.output(&["run", "--yes", "nightly.yaml", "--transcript", "t.jsonl"])
        .expect_code(0);
    let out = sb.output(&["run", "--yes", "nightly.yaml", "--transcript", "t.jsonl"]);
    out.expect_code(2);
    assert!(
        out.stderr
            .ends_with("hint: for scheduled runs: --transcript ./\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_missing_file_is_reported_before_a_missing_terminal() {
    let sb = Sandbox::new();
    let out = sb.output(&["run", "missing.yaml"]);
    out.expect_code(2);
    assert!(
        out.stderr
            .starts_with("error[unreadable]: cannot read missing.yaml: No such file or directory"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("terminal"), "{}", out.stderr);
    let out = sb.output(&["resume", "missing.jsonl"]);
    out.expect_code(2);
    assert!(out.stderr.contains("missing.jsonl"), "{}", out.stderr);
    assert!(!out.stderr.contains("terminal"), "{}", out.stderr);
    // A playbook that is there, without --yes and without a terminal: now it is the terminal.
    sb.playbook("nightly.yaml", "nightly", NIGHTLY);
    let out = sb.output(&["run", "nightly.yaml"]);
    out.expect_code(2);
    assert!(
        out.stderr
            .starts_with("error: no terminal to ask the operator on\n"),
        "{}",
        out.stderr
    );
    assert!(!sb.exists("work.log"));
}

/// A playbook reading `base_url`, with a sub-playbook whose param and var a `--var` may set.
fn with_sub_playbook(sb: &Sandbox) {
    sb.playbook(
        "deploy.yaml",
        "deploy",
        r#"params:
  base_url: { default: "http://localhost" }
steps:
  - id: gate
    run: test -f go
  - id: check
    playbook: common/health.yaml
    with: { url: "{{ base_url }}/health" }
"#,
    );
    sb.playbook(
        "common/health.yaml",
        "health",
        r#"params:
  url: {}
  port: { type: int, default: 80 }
vars:
  region: eu
steps:
  - id: probe
    run: echo probe {{ url }} {{ port }} {{ region }} >> probe.log
"#,
    );
}

#[test]
fn an_unknown_var_is_refused_with_a_suggestion() {
    let sb = Sandbox::new();
    with_sub_playbook(&sb);
    sb.write("go", "");
    let expected = "error: --var `bse_url` is not a param or var of `deploy` or its sub-playbooks\n\
                    hint: did you mean `base_url`?\n";
    let out = sb.output(&["run", "--yes", "deploy.yaml", "--var", "bse_url=http://x"]);
    out.expect_code(2);
    assert_eq!(out.stderr, expected);
    assert!(!sb.exists(".runbook"), "no transcript: nothing started");
    assert!(!sb.exists("probe.log"));
    let out = sb.output(&["plan", "deploy.yaml", "--var", "bse_url=http://x"]);
    out.expect_code(2);
    assert_eq!(out.stderr, expected);
    assert_eq!(out.stdout, "");

    let out = sb.output(&[
        "plan",
        "deploy.yaml",
        "--var",
        "prot=1",
        "--var",
        "zone=x",
        "--var",
        "prot=2",
    ]);
    out.expect_code(2);
    assert_eq!(
        out.stderr,
        "error: --var `prot`, `zone` are not params or vars of `deploy` or its sub-playbooks\n\
         hint: `prot`: did you mean `port`?\n\
         hint: the params and vars are: base_url, port, region, url\n"
    );

    // The sub-playbook's param and var are known; an inventory and a var file may carry
    // keys that this playbook does not read.
    sb.inventory(
        "inv.yaml",
        "vars:\n  base_url: http://inv\n  other_team: x\n",
    );
    sb.write("extra.yaml", "unrelated: 1\nport: 81\n");
    let out = sb.output(&[
        "run",
        "--yes",
        "deploy.yaml",
        "-i",
        "inv.yaml",
        "--var-file",
        "extra.yaml",
        "--var",
        "port=8080",
        "--var",
        "region=us",
    ]);
    out.expect_code(0);
    assert_eq!(
        std::fs::read_to_string(sb.path("probe.log")).unwrap(),
        "probe http://inv/health 8080 us\n"
    );
}

#[test]
fn resume_refuses_an_unknown_var_but_not_the_runs_own() {
    let sb = Sandbox::new();
    with_sub_playbook(&sb);
    let out = sb.output(&[
        "run",
        "--yes",
        "deploy.yaml",
        "--var",
        "base_url=http://a",
        "--transcript",
        "t.jsonl",
    ]);
    out.expect_code(1);
    let out = sb.output(&["resume", "t.jsonl", "--yes", "--var", "bse_url=http://b"]);
    out.expect_code(2);
    assert_eq!(
        out.stderr,
        "error: --var `bse_url` is not a param or var of `deploy` or its sub-playbooks\n\
         hint: did you mean `base_url`?\n"
    );
    // The playbook drops `base_url` since the run started: the run's own --var does not
    // make it impossible to resume.
    sb.playbook(
        "deploy.yaml",
        "deploy",
        "steps:\n  - id: gate\n    run: test -f go\n  - id: check\n    playbook: common/health.yaml\n    with: { url: http://c }\n",
    );
    sb.write("go", "");
    let out = sb.output(&["resume", "t.jsonl", "--yes", "--force"]);
    out.expect_code(0);
    assert_eq!(
        std::fs::read_to_string(sb.path("probe.log")).unwrap(),
        "probe http://c 80 eu\n"
    );
}

/// A P0 playbook paging three channels (one misspelled, one the inventory lacks), with a
/// sub-playbook that escalates to a fourth.
fn paging(sb: &Sandbox) {
    sb.playbook(
        "p0.yaml",
        "p0",
        r#"escalation:
  - after: 15m
    notify: [oncall, pager]
steps:
  - id: restart
    run: "true"
    on_failure: { escalate: leed, then: verify }
  - id: verify
    playbook: common/verify.yaml
"#,
    );
    sb.playbook(
        "common/verify.yaml",
        "verify",
        "steps:\n  - id: health\n    run: \"true\"\n    on_failure: { escalate: security }\n",
    );
    sb.inventory(
        "prod.yaml",
        "channels:\n  oncall: { webhook: \"https://hooks.example.com/T0\" }\n  lead: { command: \"mail lead@example.com\" }\n",
    );
}

#[test]
fn plan_warns_about_channels_the_inventory_does_not_define() {
    let sb = Sandbox::new();
    paging(&sb);
    let out = sb.output(&["plan", "p0.yaml", "-i", "prod.yaml"]);
    out.expect_code(0);
    assert!(out.stdout.contains("oncall, pager"), "{}", out.stdout);
    let _guard = settings().bind_to_scope();
    insta::assert_snapshot!("plan-channels-stderr", out.stderr);
    // Without an inventory there is nothing to compare with: one note, no warnings.
    let out = sb.output(&["plan", "p0.yaml"]);
    out.expect_code(0);
    assert_eq!(
        out.stderr,
        "note: escalation channels `leed`, `oncall`, `pager`, `security` are not checked without an inventory (-i)\n"
    );
    // A complete inventory: nothing to say.
    sb.inventory(
        "full.yaml",
        "channels:\n  oncall: { command: \"true\" }\n  pager: { command: \"true\" }\n  leed: { command: \"true\" }\n  security: { command: \"true\" }\n",
    );
    let out = sb.output(&["plan", "p0.yaml", "-i", "full.yaml"]);
    out.expect_code(0);
    assert_eq!(out.stderr, "");
}

#[test]
fn check_with_an_inventory_checks_the_pair() {
    let sb = Sandbox::new();
    paging(&sb);
    sb.playbook(
        "needs.yaml",
        "needs",
        "params:\n  domain: {}\n  region: {}\n  token: { from_env: TOKEN }\nsteps:\n  - id: a\n    run: echo {{ domain }} {{ region }} {{ token }}\n",
    );
    sb.inventory("env.yaml", "vars:\n  domain: example.com\n");
    let out = sb.output(&["check", "p0.yaml", "-i", "prod.yaml"]);
    out.expect_code(0);
    let _guard = settings().bind_to_scope();
    insta::assert_snapshot!("check-inventory", out.transcript());
    let out = sb.output(&["check", "needs.yaml", "--inventory", "env.yaml"]);
    out.expect_code(0);
    insta::assert_snapshot!("check-inventory-params", out.transcript());
    // Without -i neither is a problem of the playbook.
    sb.output(&["check", "p0.yaml", "needs.yaml"])
        .expect_code(0);
    let out = sb.output(&[
        "check",
        "--deny-warnings",
        "--format",
        "json",
        ".",
        "-i",
        "prod.yaml",
    ]);
    out.expect_code(2);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let codes: Vec<(&str, &str)> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["file"].as_str().unwrap(), d["code"].as_str().unwrap()))
        .collect();
    // `security`, in common/verify.yaml, is reached through p0.yaml too: reported once.
    assert_eq!(
        codes,
        [
            ("./common/verify.yaml", "unknown-channel"),
            ("./needs.yaml", "unset-param"),
            ("./needs.yaml", "unset-param"),
            ("./p0.yaml", "unknown-channel"),
            ("./p0.yaml", "unknown-channel"),
        ],
        "{}",
        out.stdout
    );
    // -i takes an inventory; a broken one is reported like any file.
    let out = sb.output(&["check", "p0.yaml", "-i", "needs.yaml"]);
    out.expect_code(2);
    assert_eq!(
        out.stderr,
        "error: needs.yaml is a playbook, not an inventory\nhint: -i takes a file with `kind: Inventory`\n"
    );
    sb.inventory("broken.yaml", "channels:\n  x: {}\n");
    let out = sb.output(&["check", "p0.yaml", "-i", "broken.yaml"]);
    out.expect_code(2);
    assert!(out.stdout.contains("error[bad-channel]"), "{}", out.stdout);
}

/// The `runbook run` command lines of the README's cron and systemd recipes.
fn readme_schedules() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    readme
        .lines()
        .filter_map(|l| {
            l.split_once("runbook run ")
                .filter(|_| l.contains("* *") || l.starts_with("ExecStart="))
        })
        .map(|(_, rest)| {
            let rest = rest.split(">>").next().unwrap();
            rest.split_whitespace().map(str::to_owned).collect()
        })
        .collect()
}

#[test]
fn the_readme_schedules_name_real_files_and_flags() {
    let schedules = readme_schedules();
    assert_eq!(schedules.len(), 2, "a crontab line and a systemd ExecStart");
    for args in schedules {
        assert_eq!(args[0], "--yes", "{args:?}");
        let at = args
            .iter()
            .position(|a| a == "--transcript")
            .expect("--transcript");
        assert!(args[at + 1].ends_with('/'), "a folder: {args:?}");
        // The same playbook and inventory, planned instead of run.
        let mut plan = vec!["plan".to_owned()];
        let mut skip = false;
        for (i, a) in args.iter().enumerate().skip(1) {
            if skip {
                skip = false;
            } else if a == "--transcript" || (a == "--format" && args.get(i + 1).is_some()) {
                skip = true;
            } else {
                plan.push(a.clone());
            }
        }
        let out = runbook(plan.iter()).run();
        out.expect_code(0);
    }
}
