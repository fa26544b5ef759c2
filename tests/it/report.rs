//! `runbook report`: the Markdown and HTML reports of a fixed transcript (snapshots), JSON, a
//! torn transcript, `-o`, errors, and the HTML page rendered by headless Chromium.
//!
//! The fixtures in tests/fixtures/transcripts are transcripts with fixed times and host names:
//! `p0-escalated.jsonl` is an interactive P0 run with an edited command, an escalation with a
//! failed delivery and output holding `<script>`; `demo-p0-torn.jsonl` is a recorded demo run
//! killed mid-step, its last line cut short.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{output_within, runbook, settings};

const ESCALATED: &str = "tests/fixtures/transcripts/p0-escalated.jsonl";
const TORN: &str = "tests/fixtures/transcripts/demo-p0-torn.jsonl";

#[test]
fn markdown_report_of_a_fixed_transcript() {
    let out = runbook(["report", ESCALATED]).run();
    out.expect_code(0);
    assert_eq!(out.stderr, "");
    // The default format; the same as asking for it.
    let explicit = runbook(["report", ESCALATED, "--format", "markdown"]).run();
    assert_eq!(explicit.stdout, out.stdout);
    let _guard = settings().bind_to_scope();
    insta::assert_snapshot!("markdown-p0-escalated", out.stdout);
}

#[test]
fn html_report_of_a_fixed_transcript() {
    let out = runbook(["report", ESCALATED, "--format", "html"]).run();
    out.expect_code(0);
    assert_eq!(out.stderr, "");
    // The page carries report.css verbatim; the snapshot keeps the page's shape.
    let css = std::fs::read_to_string(
        crate::support::root().join("crates/runbook-report/src/report.css"),
    )
    .unwrap();
    assert!(out.stdout.contains(&format!("<style>\n{css}</style>")));
    let mut settings = settings();
    settings.add_filter(
        r"(?s)<style>\n.*</style>",
        "<style>\n[report.css]\n</style>",
    );
    let _guard = settings.bind_to_scope();
    insta::assert_snapshot!("html-p0-escalated", out.stdout);
}

#[test]
fn json_report_summarises_the_run() {
    let out = runbook(["report", ESCALATED, "--format", "json"]).run();
    out.expect_code(0);
    let report = out.json();
    assert_eq!(report["format"], "runbook-report/v1");
    assert_eq!(report["run"]["playbook"]["name"], "apeg-p0-service-down");
    assert_eq!(report["run"]["operator"], "alice");
    let totals = &report["totals"];
    assert_eq!(totals["finished"], true);
    assert_eq!(totals["outcome"], "aborted");
    assert_eq!(totals["exit_code"], 3);
    assert_eq!(totals["duration_ms"], 240_119);
    assert_eq!(totals["failed_step"], "verify-health");
    assert_eq!(totals["resumable"], true);
    assert_eq!(
        (totals["ok"].as_u64(), totals["failed"].as_u64()),
        (Some(5), Some(1))
    );

    let steps = report["steps"].as_array().unwrap();
    let ids: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "service-status",
            "health-before",
            "recent-logs",
            "incident-log",
            "restart-service",
            "settle",
            "verify-health"
        ]
    );
    let restart = &steps[4];
    assert_eq!(restart["edited"], true);
    assert_eq!(restart["decisions"][0]["decision"], "edited");
    assert_eq!(restart["start_ms"], 130_021);
    assert_eq!(restart["duration_ms"], 2_429);
    let verify = &steps[6];
    assert_eq!(verify["outcome"], "aborted");
    assert_eq!(verify["attempts"], 2);
    assert_eq!(verify["decisions"].as_array().unwrap().len(), 2);

    let escalation = &report["escalations"][0];
    assert_eq!(escalation["level"], 1);
    assert_eq!(escalation["delivered"], 1);
    assert_eq!(escalation["failed"], 1);
    assert_eq!(
        escalation["deliveries"][1]["error"],
        "HTTP 500 from events.pagerduty.com"
    );
}

#[test]
fn a_torn_transcript_is_reported_as_unfinished() {
    let out = runbook(["report", TORN]).run();
    out.expect_code(0);
    assert!(
        out.stderr.starts_with("note: the last line of") && out.stderr.contains("cut short"),
        "{}",
        out.transcript()
    );
    assert!(
        out.stdout
            .contains("**Run did not finish (215ms recorded)**")
    );
    assert!(out.stdout.contains(
        "The transcript ends at T+215ms, while `resources` was running, with no `run_finished` record. It is resumable"
    ));
    assert!(
        out.stdout.contains(
            "| 09:30:00 | 47ms | `resources` Check resource usage | **did not finish** | 168ms |  |"
        ),
        "{}",
        out.stdout
    );
    let json = runbook(["report", TORN, "--format", "json"]).run().json();
    assert_eq!(json["totals"]["finished"], false);
    assert_eq!(json["totals"]["outcome"], serde_json::Value::Null);
    assert_eq!(json["totals"]["running"][0], "resources");
}

#[test]
fn output_file_takes_its_format_from_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("timeline.html");
    let out = runbook(["report", ESCALATED, "-o"]).arg(&html).run();
    out.expect_code(0);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, format!("wrote {}\n", html.display()));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");

    let json = dir.path().join("report.json");
    runbook(["report", ESCALATED, "--output"])
        .arg(&json)
        .run()
        .expect_code(0);
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(value["format"], "runbook-report/v1");

    // --format wins over the extension.
    let md = dir.path().join("report.html");
    runbook(["report", ESCALATED, "--format", "markdown", "-o"])
        .arg(&md)
        .run()
        .expect_code(0);
    assert!(
        std::fs::read_to_string(&md)
            .unwrap()
            .starts_with("# Incident report")
    );
}

#[test]
fn a_missing_transcript_is_invalid_input_with_a_hint() {
    let out = runbook(["report", "no/such/run.jsonl"]).run();
    out.expect_code(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: cannot read no/such/run.jsonl: No such file or directory (os error 2)\n\
         hint: `runbook run` writes transcripts under .runbook/runs/ (or where --transcript said)\n"
    );
}

#[test]
fn a_corrupt_or_empty_transcript_is_invalid_input_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.jsonl");
    std::fs::write(&corrupt, "{\"not\": \"a record\"}\n{}\n").unwrap();
    let out = runbook(["report"]).arg(&corrupt).run();
    out.expect_code(2);
    assert!(
        out.stderr.starts_with(&format!(
            "error: {}:1: not a transcript record:",
            corrupt.display()
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("\nhint: a transcript is the JSONL file"),
        "{}",
        out.stderr
    );

    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let out = runbook(["report"]).arg(&empty).run();
    out.expect_code(2);
    assert!(out.stderr.contains("is empty: no run was recorded"));
    assert!(out.stderr.contains("hint: "));

    let out = runbook(["report", ESCALATED, "-o", "no/such/dir/report.md"]).run();
    out.expect_code(2);
    assert!(
        out.stderr
            .starts_with("error: cannot write no/such/dir/report.md:"),
        "{}",
        out.stderr
    );
}

/// The browser, if one is installed (scripts/test.sh installs `chromium`).
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Runs headless Chromium on a page with a fresh profile; its stdout.
fn headless(browser: &Path, page: &Path, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(page);
    output_within(cmd, Duration::from_secs(90)).stdout
}

#[test]
fn the_html_report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        eprintln!(
            "skipped: chromium is not installed (scripts/test.sh installs it: apt-get install chromium)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    runbook(["report", ESCALATED, "--format", "html", "-o"])
        .arg(&page)
        .run()
        .expect_code(0);

    let dom = headless(&browser, &page, &["--dump-dom".to_owned()]);
    assert!(dom.contains("<h1>P0: APEG service down</h1>"), "{dom}");
    for id in [
        "service-status",
        "health-before",
        "recent-logs",
        "incident-log",
        "restart-service",
        "settle",
        "verify-health",
    ] {
        // Once as a timeline row, once as a step card.
        assert_eq!(
            dom.matches(&format!("data-step=\"{id}\"")).count(),
            2,
            "{id}"
        );
    }
    // The timeline: one bar per step, an escalation marker, the end of the run.
    assert!(dom.contains("class=\"gantt\""));
    assert_eq!(dom.matches("class=\"g-bar\"").count(), 7);
    assert!(dom.contains("escalation, level 1"));
    assert!(dom.contains("run finished"));
    // Output is text: the `<script>` in the logs did not become an element.
    assert!(!dom.contains("<script"), "a script element in the DOM");
    assert!(dom.contains("&lt;script&gt;alert('owned')&lt;/script&gt;"));
    // Collapsible output; a failed step's starts open.
    assert!(dom.contains("<details class=\"out\"><summary>stdout · 4 lines</summary>"));
    assert!(dom.contains("<details class=\"out\" open=\"\"><summary>stderr · 1 line</summary>"));

    // A screenshot, kept under the target dir for a human to look at.
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-p0-escalated.png");
    let _ = std::fs::remove_file(&png);
    headless(
        &browser,
        &page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,1600".to_owned(),
        ],
    );
    let size = std::fs::metadata(&png)
        .unwrap_or_else(|err| panic!("no screenshot at {}: {err}", png.display()))
        .len();
    // A blank 1200x1600 page is under 10 kB; the report is well over.
    assert!(size > 40_000, "screenshot is only {size} bytes");
    eprintln!("screenshot: {}", png.display());
}
