//! The README's main job, end to end: examples/demo/run.sh crashes the demo APEG service, runs
//! the P0 playbook unattended against it, and the transcript shows the failing check, the
//! restart and the passing verification. Real processes and a real HTTP service throughout.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::{BIN, closed_port, last_finished, outcome, read_transcript, root};

#[test]
fn the_demo_p0_restores_the_crashed_service() {
    let runbook = PathBuf::from(BIN);
    // A binary of this package (Cargo.toml), so cargo builds it with the tests.
    let service = PathBuf::from(env!("CARGO_BIN_EXE_demo-service"));
    let runs = tempfile::tempdir().unwrap();
    let port = closed_port();
    let out = Command::new(root().join("examples/demo/run.sh"))
        .env("RUNBOOK_BIN", &runbook)
        .env("DEMO_SERVICE_BIN", &service)
        .env("DEMO_PORT", port.to_string())
        .env("DEMO_RUNS", runs.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run.sh failed:\n{stdout}\n{stderr}");

    // The last line of stdout is the transcript's path.
    let transcript = PathBuf::from(stdout.lines().last().expect("a last line").trim());
    assert!(
        transcript.starts_with(runs.path()),
        "{}",
        transcript.display()
    );
    let records = read_transcript(&transcript);
    // Found down: the unit is inactive (a warning) and /health does not answer.
    let status = last_finished(&records, "service-status");
    assert_eq!(status["outcome"], "warning", "{status}");
    assert!(
        status["message"].as_str().unwrap().contains("inactive"),
        "{status}"
    );
    assert_eq!(
        last_finished(&records, "health-before")["outcome"],
        "failed"
    );
    // Restarted through the supervisor, then verified healthy.
    assert_eq!(last_finished(&records, "restart-service")["outcome"], "ok");
    let verify = last_finished(&records, "verify-health");
    assert_eq!(verify["outcome"], "ok", "{verify}");
    assert!(
        verify["captures"]["health_body"]
            .as_str()
            .unwrap()
            .contains("healthy")
    );
    let last = records.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["outcome"], "success");
    // The order is the procedure's: the failing check comes before the restart.
    let position = |step: &str| {
        records
            .iter()
            .position(|r| r["event"] == "step_finished" && r["step"] == step)
            .unwrap()
    };
    assert!(position("health-before") < position("restart-service"));
    assert!(position("restart-service") < position("verify-health"));
    // The report sits next to the transcript and tells the same story.
    let html = std::fs::read_to_string(transcript.with_extension("html")).expect("an HTML report");
    assert!(html.contains("verify-health") && html.contains("restart-service"));
    let markdown =
        std::fs::read_to_string(transcript.with_extension("md")).expect("a Markdown report");
    assert!(markdown.contains("restart-service"), "{markdown}");
    // The GPT Agent Platform's P0 ran against the same environment and restored it too.
    let gpt = stderr
        .lines()
        .find_map(|l| l.strip_prefix("==> GPT Agent P0 transcript: "))
        .expect("run.sh names the second transcript");
    let gpt = read_transcript(std::path::Path::new(gpt.trim()));
    assert_eq!(outcome(&gpt, "health"), "failed");
    assert_eq!(outcome(&gpt, "verify-restart"), "ok");
    assert_eq!(gpt.last().unwrap()["outcome"], "success");
    // Its checks pass or fail for real reasons: the real PostgreSQL and Redis answer, the
    // stand-ins for the cloud CLIs (pm2, vercel) too, and no step met a missing tool.
    for step in [
        "database",
        "redis",
        "openai",
        "deployments",
        "pm2-status",
        "restart",
    ] {
        assert_eq!(outcome(&gpt, step), "ok", "{step}");
    }
    let redis = gpt
        .iter()
        .find(|r| r["event"] == "output" && r["step"] == "redis")
        .expect("redis-cli printed");
    assert_eq!(redis["text"], "PONG");
    let database = gpt
        .iter()
        .filter(|r| r["event"] == "output" && r["step"] == "database")
        .map(|r| r["text"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(database.contains("PostgreSQL"), "{database}");
    // The Agentic Platform's P0 (the third): found down, restarted through its compose
    // stand-in, the real PostgreSQL ready, verified by a watch the drill's values shortened
    // from 30 minutes (templated durations).
    let agentic = stderr
        .lines()
        .find_map(|l| l.strip_prefix("==> Agentic Platform P0 transcript: "))
        .expect("run.sh names the third transcript");
    let agentic = read_transcript(std::path::Path::new(agentic.trim()));
    assert_eq!(outcome(&agentic, "verify-alert"), "failed");
    for step in [
        "service-status",
        "restart-api",
        "database-ready",
        "health-after-restart",
        "investigate",
        "verify/monitor",
        "verify",
    ] {
        assert_eq!(outcome(&agentic, step), "ok", "{step}");
    }
    let monitor = agentic
        .iter()
        .find(|r| r["event"] == "step_finished" && r["step"] == "verify/monitor")
        .unwrap();
    assert!(
        monitor["duration_ms"].as_u64().unwrap() < 60_000,
        "the watch ran the drill's 3s, not the seed's 30m: {monitor}"
    );
    assert_eq!(agentic.last().unwrap()["outcome"], "success");
    for (name, records) in [
        ("apeg", &records),
        ("gpt-agent", &gpt),
        ("agentic-platform", &agentic),
    ] {
        let missing: Vec<&Value> = records
            .iter()
            .filter(|r| r["event"] == "step_finished" && r["exit"] == 127)
            .collect();
        assert!(missing.is_empty(), "{name}: a tool is missing: {missing:?}");
    }
    // run.sh cleaned up: the service is stopped again.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the demo service is still running"
    );
}
