//! Typed, versioned machine output: every JSON a command prints has a published schema
//! (`runbook schema NAME`, checked in under schemas/ and fresh), and real outputs validate
//! against it: the plan of every seed playbook, a plan diff, a run's summary with a reason for
//! every step, and the report of that run.

use serde_json::{Value, json};

use crate::support::{Output, RunResult, Sandbox, Schema, root, seed_playbooks};

/// Every schema `runbook schema` publishes, with its file under schemas/.
const SCHEMAS: [(&str, &str); 8] = [
    ("playbook", "playbook.v1.json"),
    ("inventory", "inventory.v1.json"),
    ("transcript", "transcript.v1.json"),
    ("plan", "plan.v1.json"),
    ("plan-diff", "plan-diff.v1.json"),
    ("run", "run.v1.json"),
    ("report", "report.v1.json"),
    ("check", "check.v1.json"),
];

#[test]
fn every_schema_is_published_and_fresh() {
    let sb = Sandbox::new();
    for (name, file) in SCHEMAS {
        let Output {
            code,
            stdout,
            stderr,
        } = sb.output(&["schema", name]);
        assert_eq!(code, 0, "{stderr}");
        let checked_in =
            std::fs::read_to_string(root().join("schemas").join(file)).unwrap_or_default();
        assert!(
            stdout == checked_in,
            "schemas/{file} is stale: run `cargo run -- schema {name} > schemas/{file}`"
        );
        Schema::load(file);
    }
    // Each output names its version, and its schema says which.
    for (file, format) in [
        ("plan.v1.json", "runbook-plan/v1"),
        ("plan-diff.v1.json", "runbook-plan-diff/v1"),
        ("run.v1.json", "runbook-run/v1"),
        ("report.v1.json", "runbook-report/v1"),
        ("check.v1.json", "runbook-check/v1"),
    ] {
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("schemas").join(file)).unwrap(),
        )
        .unwrap();
        assert_eq!(schema["properties"]["format"]["const"], format, "{file}");
    }
}

#[test]
fn every_seed_plan_validates() {
    let sb = Sandbox::new();
    let schema = Schema::load("plan.v1.json");
    let mut checked = 0;
    for (rel, inventory) in seed_playbooks() {
        let out = sb.output(&[
            "plan",
            root().join(&rel).to_str().unwrap(),
            "-i",
            root().join(&inventory).to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert_eq!(out.code, 0, "{rel}: {}", out.stderr);
        let plan = out.json();
        assert_eq!(plan["format"], "runbook-plan/v1");
        schema.assert_valid(&rel, &plan);
        checked += 1;
    }
    assert!(checked >= 90, "{checked}");
}

#[test]
fn a_plan_diff_validates() {
    let sb = Sandbox::new();
    let old = sb.playbook(
        "old.yaml",
        "diffed",
        "escalation:\n  - { after: 15m, notify: [lead] }\nsteps:\n  - { id: a, run: echo a, timeout: 30s }\n  - { id: b, run: echo b }\n",
    );
    let new = sb.playbook(
        "new.yaml",
        "diffed",
        "escalation:\n  - { after: 10m, notify: [lead] }\nsteps:\n  - { id: b, run: echo b }\n  - { id: a, run: echo A, timeout: 1m }\n  - { id: c, run: rm -rf /tmp/x, danger: destructive }\n",
    );
    let diff = sb
        .output(&[
            "plan",
            "--diff",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
            "--format",
            "json",
        ])
        .expect_code(0)
        .json();
    Schema::load("plan-diff.v1.json").assert_valid("the diff", &diff);
    assert_eq!(
        diff["summary"],
        json!({"added": 1, "removed": 0, "moved": 1, "changed": 1, "unchanged": 0})
    );
    assert_eq!(diff["destructive"][0]["kind"], "added");
    let a = diff["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == "a")
        .unwrap();
    assert_eq!(a["fields"][1]["field"], "timeout_ms");
    assert_eq!(a["fields"][1]["old"], 30_000);
    assert_eq!(a["fields"][1]["new"], 60_000);
}

/// A run whose steps end every common way, under --yes.
fn mixed_run(sb: &Sandbox) -> RunResult {
    let pb = sb.playbook(
        "mixed.yaml",
        "mixed",
        r#"
steps:
  - id: passes
    run: echo ok
  - id: wrong-exit
    run: exit 3
    on_failure: continue
  - id: wrong-output
    run: echo down
    expect: { stdout: { contains: up } }
    on_failure: continue
  - id: graded
    run: echo 85
    capture: { pct: { stdout: true } }
    checks:
      - { if: "pct | int > 80", status: warning, message: "at {{ pct }}%" }
  - id: skipped
    when: "false"
    run: "true"
  - id: slow
    run: sleep 5
    timeout: 200ms
    on_failure: continue
  - id: destructive
    run: "true"
    danger: destructive
    on_failure: continue
  - id: manual
    manual: Do it by hand.
"#,
    );
    sb.run(&pb, &["--format", "json"])
}

#[test]
fn a_run_summary_gives_every_step_a_reason_and_validates() {
    let sb = Sandbox::new();
    let r = mixed_run(&sb);
    r.assert_code(1);
    let summary: Value = serde_json::from_str(&r.stdout).unwrap();
    Schema::load("run.v1.json").assert_valid("the run summary", &summary);
    assert_eq!(summary["format"], "runbook-run/v1");
    assert_eq!(summary["outcome"], "failed");
    assert_eq!(summary["failed_step"], "manual");
    let steps: Vec<(&str, &str, &str)> = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap(),
                s["outcome"].as_str().unwrap(),
                s["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("passes", "ok", "passed"),
            ("wrong-exit", "failed", "exit"),
            ("wrong-output", "failed", "expectation"),
            ("graded", "warning", "check"),
            ("skipped", "skipped", "when"),
            ("slow", "failed", "timeout"),
            ("destructive", "failed", "unattended"),
            ("manual", "failed", "unattended"),
        ]
    );
    let by_step = |id: &str| {
        summary["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_step("wrong-exit")["message"], "expected exit 0, got 3");
    assert_eq!(by_step("wrong-exit")["exit"], 3);
    assert_eq!(by_step("graded")["message"], "at 85%");
    assert_eq!(by_step("skipped")["message"], "when: false is false");
    assert_eq!(
        by_step("wrong-output")["failed_checks"][0]["what"],
        "stdout contains \"up\""
    );
    // The reason is in the transcript too, so the record and the summary agree.
    assert_eq!(r.finished("slow")["reason"], "timeout");

    // The report of the same run validates against its schema.
    let report = sb.report(&r.transcript, "json").expect_code(0).json();
    Schema::load("report.v1.json").assert_valid("the report", &report);
    // And every record against the transcript's.
    let transcript = Schema::load("transcript.v1.json");
    for record in &r.records {
        transcript.assert_valid("a record", record);
    }
}

#[test]
fn a_run_writes_a_job_summary_when_github_asks_for_one() {
    let sb = Sandbox::new();
    let pb = sb.playbook(
        "pb.yaml",
        "job-summary",
        "steps:\n  - { id: a, name: Say hi, run: echo hi }\n  - { id: b, run: exit 1 }\n",
    );
    let summary_file = sb.path("step-summary.md");
    std::fs::write(&summary_file, "earlier step\n").unwrap();
    let r = sb.run_env(
        &pb,
        &[],
        &[("GITHUB_STEP_SUMMARY", summary_file.to_str().unwrap())],
    );
    r.assert_code(1);
    let text = std::fs::read_to_string(&summary_file).unwrap();
    assert!(
        text.starts_with("earlier step\n### ❌ runbook run: Test job-summary — failed\n"),
        "{text}"
    );
    assert!(
        text.contains("| `a` Say hi | ✅ ok | passed |  |"),
        "{text}"
    );
    assert!(
        text.contains("| `b` | ❌ failed | exit | expected exit 0, got 1 |"),
        "{text}"
    );
    assert!(text.contains("failed at `b`"), "{text}");
    // Without the variable, nothing is written anywhere.
    let r = sb.run(&pb, &[]);
    r.assert_code(1);
    assert_eq!(std::fs::read_to_string(&summary_file).unwrap(), text);
}

#[test]
fn a_check_report_validates() {
    let sb = Sandbox::new();
    let fixtures = root().join("tests/fixtures");
    let Output {
        code,
        stdout,
        stderr,
    } = sb.output(&["check", "--format", "json", fixtures.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["format"], "runbook-check/v1");
    assert!(report["errors"].as_u64().unwrap() > 30, "{stdout}");
    Schema::load("check.v1.json").assert_valid("the check report", &report);
}
