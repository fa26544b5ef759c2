//! The defects the playbook audit found (issue 14, "Then the playbooks"), each shown by running
//! the real playbook under playbooks/ with stand-ins for the tools it calls.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::{HttpSink, RunResult, Sandbox, Term, git, one, read_transcript, root};

/// A playbook of the repository.
fn book(rel: &str) -> PathBuf {
    root().join("playbooks").join(rel)
}

fn outcome<'a>(records: &'a [Value], step: &str) -> &'a Value {
    &one(records, "step_finished", step)["outcome"]
}

/// Item: ai-estimator triage. A P1 chosen at triage pages the senior engineer at once (a
/// `notify:` step with `when:`), and a "no" security answer pages nobody.
#[test]
fn ai_estimator_triage_pages_the_senior_engineer_for_a_p1() {
    let sink = HttpSink::start();
    let sb = Sandbox::new();
    let inv = sb.webhook_inventory_by_channel(
        &sink.url,
        &[
            "senior-engineer",
            "infrastructure-manager",
            "cto",
            "security-manager",
            "development-team",
            "ops-team",
        ],
    );
    let path = sb.stand_ins(&[
        ("curl", "exit 7"),
        ("journalctl", "exit 0"),
        ("systemctl", "exit 3"),
    ]);
    let t = sb.path("t.jsonl");
    let mut cmd = sb.run_pty_command(
        &book("ai-estimator/incident-response.yaml"),
        &t,
        &["-i", inv.to_str().unwrap()],
    );
    cmd.env("PATH", &path);
    let mut term = Term::spawn(cmd);
    term.expect_run_prompt();
    term.send_line("c");
    // The health check fails (no API here); its on_failure is continue.
    term.expect("Enter: continue to quick-errors");
    term.send_line("");
    term.expect("Done? [d]one [s]kip [f]ailed [?]");
    term.send_line("d");
    term.expect("Incident level");
    term.send_line("P1");
    term.expect("Security incident?");
    term.send_line("no");
    term.expect("Possibility of data loss?");
    term.send_line("no");

    // The senior engineer from the triage's notify step, the Infrastructure Manager from
    // the P1 playbook's first rung.
    let pages = sink.take(2, Duration::from_secs(20));
    assert!(!pages.is_empty(), "no page arrived\n{}", term.screen);
    let senior: Vec<_> = pages
        .iter()
        .filter(|p| p.request_line.contains("to=senior-engineer"))
        .collect();
    assert_eq!(senior.len(), 1, "{pages:#?}");
    let body = senior[0].json();
    assert_eq!(body["reason"], "notify", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("AI Estimator P1"),
        "{body}"
    );
    drop(term);

    let records = read_transcript(&t);
    assert_eq!(*outcome(&records, "escalate-p1"), "ok");
    assert_eq!(*outcome(&records, "escalate-security"), "skipped");
    assert_eq!(*outcome(&records, "escalate-data-loss"), "skipped");
}

/// Item: gpt-agent emergency rollback. Checking out another version in production's `app_dir`
/// is destructive: under `--yes` it is refused and the repository stays where it was; with
/// `--allow-destructive` it goes back to the inventory's `rollback_version`.
#[test]
fn the_pm2_rollback_of_production_needs_a_typed_confirmation() {
    let sb = Sandbox::new();
    let app = sb.path("app");
    std::fs::create_dir_all(&app).unwrap();
    git(&app, &["init", "-q", "-b", "main"]);
    git(&app, &["commit", "-q", "--allow-empty", "-m", "v1"]);
    git(&app, &["tag", "v1.0.0"]);
    git(
        &app,
        &["commit", "-q", "--allow-empty", "-m", "v2 (broken)"],
    );
    let head = git(&app, &["rev-parse", "HEAD"]);
    let v1 = git(&app, &["rev-parse", "v1.0.0"]);
    // `git fetch --tags` has no remote here: a stand-in git that ignores fetch.
    let real_git = String::from_utf8(
        std::process::Command::new("bash")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let path = sb.stand_ins(&[
        (
            "git",
            &format!(
                "[ \"$1\" = fetch ] && exit 0; exec {} \"$@\"",
                real_git.trim()
            ),
        ),
        ("npm", "exit 0"),
        ("pm2", "echo pm2 \"$@\""),
        ("curl", "echo '{\"status\":\"ok\"}'"),
        ("mail", "cat >/dev/null"),
    ]);
    let inv = root().join("inventories/gpt-agent-prod.yaml");
    let args = [
        "-i",
        inv.to_str().unwrap(),
        "--var",
        &format!("app_dir={}", app.display()),
    ];

    let refused = sb.run_env(
        &book("gpt-agent/emergency-rollback.yaml"),
        &args,
        &[("PATH", &path)],
    );
    assert_ne!(refused.code, Some(0), "{}", refused.all());
    assert_eq!(*outcome(&refused.records, "git-checkout"), "failed");
    assert!(
        refused
            .records
            .iter()
            .all(|r| !(r["event"] == "step_started" && r["step"] == "pm2-restart")),
        "the restart ran after a refused checkout"
    );
    assert_eq!(git(&app, &["rev-parse", "HEAD"]), head, "the checkout ran");

    let mut allowed_args = args.to_vec();
    allowed_args.push("--allow-destructive");
    let allowed = sb.run_env(
        &book("gpt-agent/emergency-rollback.yaml"),
        &allowed_args,
        &[("PATH", &path)],
    );
    assert_eq!(
        *outcome(&allowed.records, "git-checkout"),
        "ok",
        "{}",
        allowed.all()
    );
    assert_eq!(
        git(&app, &["rev-parse", "HEAD"]),
        v1,
        "not back on rollback_version"
    );
}

/// Item: apeg memory leak. The unit's process is already gone (`MainPID` 0): the watch passes
/// every repetition, and its `_series` check says so instead of the step aborting the run.
#[test]
fn the_memory_watch_passes_when_the_process_is_gone() {
    let sb = Sandbox::new();
    let r = run_memory_watch(&sb, 0, &["watch_every=200ms", "watch_for=1s"]);
    let watch = one(&r.records, "step_finished", "watch-process");
    assert_eq!(watch["outcome"], "warning", "{}", r.all());
    assert!(
        watch["message"]
            .as_str()
            .unwrap()
            .contains("no running process"),
        "{watch}"
    );
    let series = watch["captures"]["rss_kib_series"].as_array().unwrap();
    assert!(series.len() >= 2, "{watch}");
    assert!(series.iter().all(|v| v == 0), "{watch}");
    // The run went on past the watch.
    assert_eq!(*outcome(&r.records, "restart"), "ok", "{}", r.all());
}

/// Item: apeg memory leak. A process whose RSS keeps growing is reported as a leak.
#[test]
fn the_memory_watch_reports_a_growing_process() {
    let sb = Sandbox::new();
    // A process that grows: a bash loop appending to a variable.
    let mut grower = std::process::Command::new("bash")
        .args([
            "-c",
            "s=x; while :; do s=$s$s$s$s; s=${s:0:200000000}; sleep 0.1; done",
        ])
        .spawn()
        .unwrap();
    let r = run_memory_watch(
        &sb,
        grower.id(),
        &[
            "watch_every=300ms",
            "watch_for=1500ms",
            "leak_growth_kib=1000",
        ],
    );
    let _ = grower.kill();
    let _ = grower.wait();
    let watch = one(&r.records, "step_finished", "watch-process");
    assert_eq!(watch["outcome"], "warning", "{}", r.all());
    assert!(
        watch["message"]
            .as_str()
            .unwrap()
            .contains("Memory is growing"),
        "{watch}"
    );
}

/// The apeg memory-leak playbook, unattended with manual steps skipped, where `systemctl`
/// says the unit's `MainPID` is `main_pid`; `vars` are more `--var NAME=VALUE`.
fn run_memory_watch(sb: &Sandbox, main_pid: u32, vars: &[&str]) -> RunResult {
    let inv = sb.inventory(
        "inv.yaml",
        "channels:\n  on-call: { command: \"cat >/dev/null\" }\n",
    );
    let path = sb.stand_ins(&[
        ("systemctl", &format!("echo {main_pid}")),
        ("sudo", "exit 0"),
    ]);
    let mut args = vec![
        "-i",
        inv.to_str().unwrap(),
        "--manual",
        "skip",
        "--var",
        "base_url=http://127.0.0.1:1",
    ];
    for var in vars {
        args.extend(["--var", var]);
    }
    sb.run_env(
        &book("apeg/troubleshoot-memory-leak.yaml"),
        &args,
        &[("PATH", &path)],
    )
}

/// The channels of backup-database.yaml, which the migration includes.
const BACKUP_CHANNELS: &str = "  oncall-primary: { command: \"cat >/dev/null\" }\n  ops-email: { command: \"cat >/dev/null\" }\n";

/// Item: apex zero-downtime migration. New 5xx responses while monitoring fail the watch,
/// which leads to the downgrade, and the run ends failed with `fail:`'s reason.
#[test]
fn new_5xx_responses_after_the_migration_roll_it_back() {
    let sb = Sandbox::new();
    let sink = HttpSink::start();
    let inv = sb.inventory(
        "inv.yaml",
        &format!(
            "channels:\n  engineering-lead: {{ webhook: \"{}\" }}\n{}",
            sink.url, BACKUP_CHANNELS
        ),
    );
    sb.write("backups/apex_full_2026.sql.gz", "backup");
    let counter = sb.path("scrapes");
    let path = sb.stand_ins(
        &[
            (
                "kubectl",
                "case \"$*\" in *'alembic current'*) echo 'abc1234 (head)';; esac; exit 0",
            ),
            ("pytest", "exit 0"),
            (
                // Every scrape shows 3 more 5xx responses.
                "curl",
                &format!(
                    "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}\n\
                     echo 'http_requests_total{{method=\"GET\",status=\"200\"}} 100'\n\
                     echo \"http_requests_total{{method=\\\"GET\\\",status=\\\"500\\\"}} $((n*3))\"",
                    c = counter.display()
                ),
            ),
        ],
    );
    let r = run_migration(&sb, &inv, &path, &["--allow-destructive"]);
    let monitor = one(&r.records, "step_finished", "monitor");
    assert_eq!(monitor["outcome"], "failed", "{}", r.all());
    assert!(
        monitor["message"].as_str().unwrap().contains("new 5xx"),
        "{monitor}"
    );
    assert_eq!(
        *outcome(&r.records, "rollback-downgrade"),
        "ok",
        "{}",
        r.all()
    );
    assert_eq!(*outcome(&r.records, "rollback-outcome"), "failed");
    let finished = r.run_finished();
    assert_eq!(finished["outcome"], "failed", "{finished}");
    assert!(
        finished["reason"]
            .as_str()
            .unwrap()
            .contains("migration rolled back"),
        "{finished}"
    );
    assert_eq!(r.code, Some(1), "{}", r.all());
}

/// The apex migration, unattended with manual steps skipped, against stand-in hosts, its
/// monitoring window shortened to a second; `extra` arguments after the inventory's.
fn run_migration(sb: &Sandbox, inv: &Path, path: &str, extra: &[&str]) -> RunResult {
    let backups = format!("backup_dir={}", sb.path("backups").display());
    let mut args = vec!["-i", inv.to_str().unwrap(), "--manual", "skip"];
    args.extend_from_slice(extra);
    args.extend([
        "--var",
        "api_host=api.example.test",
        "--var",
        "db_host=db.example.test",
        "--var",
        &backups,
        "--var",
        "monitor_every=200ms",
        "--var",
        "monitor_for=1s",
    ]);
    sb.run_env(
        &book("apex/zero-downtime-migration.yaml"),
        &args,
        &[("PATH", path)],
    )
}

/// The same migration with no 5xx while monitoring closes the window and succeeds.
#[test]
fn a_clean_monitoring_window_completes_the_migration() {
    let sb = Sandbox::new();
    let inv = sb.inventory(
        "inv.yaml",
        &format!(
            "channels:\n  engineering-lead: {{ command: \"cat >/dev/null\" }}\n{BACKUP_CHANNELS}"
        ),
    );
    sb.write("backups/apex_full_2026.sql.gz", "backup");
    let path = sb.stand_ins(&[
        (
            "kubectl",
            "case \"$*\" in *'alembic current'*) echo 'abc1234 (head)';; esac; exit 0",
        ),
        ("pytest", "exit 0"),
        (
            "curl",
            "echo 'http_requests_total{method=\"GET\",status=\"500\"} 7'",
        ),
    ]);
    let r = run_migration(&sb, &inv, &path, &[]);
    assert_eq!(*outcome(&r.records, "monitor"), "ok", "{}", r.all());
    assert!(
        r.records
            .iter()
            .all(|x| !(x["event"] == "step_started" && x["step"] == "rollback-downgrade")),
        "rolled back without 5xx: {}",
        r.all()
    );
    assert_eq!(*outcome(&r.records, "complete"), "skipped", "{}", r.all());
}
