//! The report's tests across its formats, and the transcripts they are built from.

use super::*;
use crate::build::head;
use indexmap::IndexMap;
use runbook_transcript::{Delivery, Event, Outcome, PlaybookInfo, RunFinished};
use runbook_transcript::{
    Escalation, Output, Prompt, RunResumed, RunStarted, StepFinished, StepStarted,
};

/// A vocabulary word as a transcript line would carry it.
pub(crate) fn word<T: serde::de::DeserializeOwned>(word: &str) -> T {
    serde_json::from_value(Value::String(word.into())).unwrap()
}

/// Records with consecutive sequence numbers and a clock that starts at 03:12:00.
pub(crate) struct Script(Vec<Record>);

impl Script {
    pub(crate) fn new() -> Self {
        let mut s = Script(Vec::new());
        s.push(0, Event::RunStarted(started()));
        s
    }

    /// Records without the `run_started` one.
    pub(crate) fn without_start() -> Self {
        Script(Vec::new())
    }

    pub(crate) fn push(&mut self, ms: u64, event: Event) -> &mut Self {
        let secs = 12 * 60 + ms / 1000;
        self.0.push(Record {
            seq: self.0.len() as u64,
            ts: format!(
                "2026-01-15T03:{:02}:{:02}.{:03}Z",
                secs / 60,
                secs % 60,
                ms % 1000
            ),
            elapsed_ms: ms,
            event,
        });
        self
    }

    pub(crate) fn start(&mut self, ms: u64, step: &str, action: &str, attempt: u32) -> &mut Self {
        self.push(
            ms,
            Event::StepStarted(StepStarted {
                step: step.into(),
                name: format!("Step {step}"),
                action: word(action),
                command: (action == "run").then(|| format!("check {step}")),
                host: "local".into(),
                attempt,
                visit: 1,
                planned_ms: None,
            }),
        )
    }

    pub(crate) fn output(&mut self, ms: u64, step: &str, text: &str) -> &mut Self {
        self.push(
            ms,
            Event::Output(Output {
                step: step.into(),
                stream: Stream::Stdout,
                text: text.into(),
            }),
        )
    }

    pub(crate) fn prompt(
        &mut self,
        ms: u64,
        step: &str,
        answer: &str,
        decision: &str,
    ) -> &mut Self {
        self.push(
            ms,
            Event::Prompt(Prompt {
                step: step.into(),
                question: format!("Run {step}?"),
                answer: answer.into(),
                operator: "alice".into(),
                decision: Some(word(decision)),
            }),
        )
    }

    pub(crate) fn finish(&mut self, ms: u64, step: &str, outcome: Outcome, took: u64) -> &mut Self {
        self.push(ms, Event::StepFinished(finished(step, outcome, took)))
    }

    pub(crate) fn end(&mut self, ms: u64, outcome: RunOutcome, failed: Option<&str>) -> &mut Self {
        self.push(
            ms,
            Event::RunFinished(RunFinished {
                outcome,
                exit_code: outcome.exit_code(),
                duration_ms: ms,
                failed_step: failed.map(Into::into),
                steps_ok: 1,
                steps_warning: 0,
                steps_failed: 1,
                steps_skipped: 0,
                undelivered: 0,
                reason: None,
            }),
        )
    }

    pub(crate) fn timeline(&self) -> Timeline {
        Timeline::build(&self.0)
    }
}

pub(crate) fn started() -> RunStarted {
    RunStarted {
        format: runbook_transcript::FORMAT.into(),
        run_id: "r1".into(),
        playbook: PlaybookInfo {
            name: "web-down".into(),
            title: "Web <down> & out".into(),
            version: Some("1.0.0".into()),
            file: "web.yaml".into(),
            sha256: "0".repeat(64),
            schedule: None,
        },
        inventory: None,
        params: IndexMap::from([("token".to_owned(), Value::from("***"))]),
        secrets: vec!["token".into()],
        overrides: Vec::new(),
        var_files: Vec::new(),
        operator: "alice".into(),
        hostname: "ops-1".into(),
        engine_version: "0.1.0".into(),
        mode: word("interactive"),
        step_ids: Vec::new(),
        clock_start_ms: None,
    }
}

pub(crate) fn finished(step: &str, outcome: Outcome, took: u64) -> StepFinished {
    StepFinished {
        step: step.into(),
        outcome,
        visit: 1,
        exit: Some(i32::from(outcome == Outcome::Failed)),
        duration_ms: took,
        attempts: 1,
        verdicts: Vec::new(),
        captures: IndexMap::new(),
        message: (outcome == Outcome::Failed).then(|| "expected exit 0, got 1".into()),
        reason: None,
        stdout: String::new(),
        stderr: String::new(),
        spilled: None,
        report: None,
        inputs: IndexMap::new(),
    }
}

#[test]
fn output_and_names_are_escaped_in_html_and_markdown() {
    let mut s = Script::new();
    s.start(0, "logs", "run", 1)
        .output(5, "logs", "<script>alert('x')</script>")
        .output(5, "logs", "a & b \"c\"")
        .finish(6, "logs", Outcome::Ok, 6)
        .end(7, RunOutcome::Success, None);
    let t = s.timeline();
    assert_eq!(
        t.steps[0].output[0].text,
        "<script>alert('x')</script>\na & b \"c\""
    );

    let html = t.html().unwrap();
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(html.contains("a &amp; b &quot;c&quot;"));
    assert!(html.contains("<title>Incident report: Web &lt;down&gt; &amp; out</title>"));
    // Self-contained: nothing to fetch.
    for needle in ["<link", "src=", "@import", "url(", "http://", "https://"] {
        assert!(!html.contains(needle), "{needle} in the page");
    }

    let md = t.markdown();
    assert!(
        md.starts_with("# Incident report: Web &lt;down&gt; & out\n"),
        "{md}"
    );
    // Output stays verbatim, inside a fence.
    assert!(md.contains("```text\n<script>alert('x')</script>\na & b \"c\"\n```"));
}

#[test]
fn control_sequences_in_output_are_visible_in_html_and_markdown() {
    let mut t = Script::new();
    t.start(0, "check", "run", 1)
        .output(5, "check", "\x1b[2K\r\x1b[32mok\x1b[0m \x1b]0;owned\x07")
        .finish(10, "check", Outcome::Failed, 10)
        .end(20, RunOutcome::Failed, Some("check"));
    let timeline = t.timeline();
    for page in [timeline.markdown(), timeline.html().unwrap()] {
        assert!(!page.contains('\x1b') && !page.contains('\x07') && !page.contains('\r'));
        assert!(page.contains("\\x1b[2K\\r\\x1b[32mok"), "{page}");
    }
    // The JSON report keeps the recorded text (JSON escapes it).
    assert!(timeline.json().contains("\\u001b[2K"));
}

#[test]
fn a_torn_transcript_reports_the_run_as_unfinished_and_resumable() {
    let mut s = Script::new();
    s.start(0, "status", "run", 1)
        .finish(20, "status", Outcome::Ok, 20)
        .start(21, "restart", "run", 1)
        .output(40, "restart", "stopping");
    let t = s.timeline();
    assert!(!t.totals.finished);
    assert!(t.totals.resumable);
    assert_eq!(t.totals.outcome, None);
    assert_eq!(t.totals.duration_ms, 40);
    assert_eq!(t.totals.running, vec!["restart".to_owned()]);
    assert_eq!((t.totals.ok, t.totals.unfinished), (1, 1));
    let restart = &t.steps[1];
    assert_eq!(restart.outcome, Status::Unfinished);
    assert_eq!(restart.duration_ms, 19);
    assert_eq!(restart.output[0].text, "stopping");

    let md = t.markdown();
    assert!(
        md.contains("**Run did not finish (40ms recorded)**"),
        "{md}"
    );
    assert!(md.contains(
        "> **The run did not finish.** The transcript ends at T+40ms, while `restart` was running"
    ));
    assert!(md.contains("resumable"));
    assert!(md.contains("| `restart` Step restart | **did not finish** | 19ms |"));
    let html = t.html().unwrap();
    assert!(html.contains("DID NOT FINISH"));
    assert!(html.contains("class=\"g-row o-unfinished\""));
    let json: Value = serde_json::from_str(&t.json()).unwrap();
    assert_eq!(json["totals"]["finished"], false);
    assert_eq!(json["steps"][1]["outcome"], "unfinished");
}

#[test]
fn decisions_edits_and_escalations_are_shown() {
    let mut s = Script::new();
    // The edit is asked before the step starts; the start carries the edited command.
    s.prompt(10, "restart", "systemctl restart web && sleep 1", "edited")
        .start(11, "restart", "run", 1)
        .prompt(31, "restart", "escalate", "escalate")
        .push(
            32,
            Event::Escalation(Escalation {
                level: 1,
                reason: word("operator"),
                channels: vec!["slack".into(), "pager".into()],
                message: "web is down".into(),
                step: Some("restart".into()),
                deliveries: vec![
                    Delivery {
                        channel: "slack".into(),
                        ok: true,
                        error: None,
                        duration_ms: 40,
                    },
                    Delivery {
                        channel: "pager".into(),
                        ok: false,
                        error: Some("HTTP 500 <boom>".into()),
                        duration_ms: 90,
                    },
                ],
                rung: None,
                due_ms: None,
                late_ms: 0,
            }),
        )
        .finish(33, "restart", Outcome::Failed, 22)
        .end(40, RunOutcome::Failed, Some("restart"));
    let t = s.timeline();
    assert_eq!(t.steps.len(), 1);
    let restart = &t.steps[0];
    assert!(restart.edited);
    assert_eq!(restart.command.as_deref(), Some("check restart"));
    let decisions: Vec<_> = restart.decisions.iter().map(DecisionEntry::word).collect();
    assert_eq!(decisions, ["edited", "escalate"]);
    assert_eq!(t.escalations[0].delivered, 1);
    assert_eq!(t.escalations[0].failed, 1);

    let md = t.markdown();
    assert!(
        md.contains("- **Command (edited by the operator):** `check restart`"),
        "{md}"
    );
    assert!(
        md.contains("decided edited: `systemctl restart web && sleep 1`"),
        "{md}"
    );
    assert!(md.contains("| 03:12:00 | 32ms | escalation, level 1 (operator) | 1 delivered, 1 failed | | slack ok, pager FAILED: HTTP 500 &lt;boom&gt; |"), "{md}");
    assert!(md.contains("| Failed step | `restart` |"));
    assert!(md.contains("### Root cause"));
    assert!(md.contains("### Action items"));

    let html = t.html().unwrap();
    assert!(
        html.contains("<span class=\"decision\">edited</span>"),
        "{html}"
    );
    assert!(html.contains("✗ pager failed: HTTP 500 &lt;boom&gt;"));
    assert!(html.contains("✓ slack delivered"));
    assert!(html.contains("escalation, level 1"));

    let json: Value = serde_json::from_str(&t.json()).unwrap();
    assert_eq!(json["format"], REPORT_FORMAT);
    assert_eq!(json["steps"][0]["edited"], true);
    assert_eq!(json["steps"][0]["decisions"][0]["decision"], "edited");
    assert_eq!(
        json["escalations"][0]["deliveries"][1]["error"],
        "HTTP 500 <boom>"
    );
    assert_eq!(json["totals"]["outcome"], "failed");
    assert_eq!(json["totals"]["failed_step"], "restart");
}

#[test]
fn retries_merge_and_parallel_children_nest() {
    let mut s = Script::new();
    s.start(0, "health", "run", 1)
        .output(5, "health", "503")
        .start(2005, "health", "run", 2)
        .output(2010, "health", "200")
        .finish(2010, "health", Outcome::Ok, 2010)
        .start(2011, "checks", "parallel", 1)
        .start(2011, "disk", "run", 1)
        .start(2011, "top", "run", 1)
        .finish(2015, "disk", Outcome::Ok, 4)
        .finish(2200, "top", Outcome::Ok, 189)
        .finish(2200, "checks", Outcome::Ok, 189)
        // Skipped by `when`: no start record.
        .finish(2201, "notify", Outcome::Skipped, 0)
        .end(2201, RunOutcome::Success, None);
    let t = s.timeline();
    let ids: Vec<(&str, u32)> = t.steps.iter().map(|s| (s.step.as_str(), s.depth)).collect();
    assert_eq!(
        ids,
        [
            ("health", 0),
            ("checks", 0),
            ("disk", 1),
            ("top", 1),
            ("notify", 0)
        ]
    );
    assert_eq!(t.steps[0].attempts, 2);
    assert_eq!(t.steps[0].output[0].text, "503\n200");
    assert_eq!(t.steps[4].outcome, Status::Skipped);
    assert_eq!(t.steps[4].start_ms, 2201);
    assert!(t.markdown().contains("| ↳ `disk` Step disk | ok | 4ms |"));
}

#[test]
fn a_resume_closes_what_was_running() {
    let mut s = Script::new();
    s.start(0, "restart", "run", 1).push(
        5000,
        Event::RunResumed(RunResumed {
            operator: "bob".into(),
            hostname: "ops-2".into(),
            next_step: Some("restart".into()),
            playbook_changed: false,
            sha256: String::new(),
            mode: word("interactive"),
            gap_ms: 4000,
            rerun: vec!["restart".into()],
        }),
    );
    s.start(5001, "restart", "run", 1)
        .finish(5100, "restart", Outcome::Ok, 99)
        .end(5100, RunOutcome::Success, None);
    let t = s.timeline();
    let outcomes: Vec<Status> = t.steps.iter().map(|s| s.outcome).collect();
    assert_eq!(outcomes, [Status::Unfinished, Status::Ok]);
    assert!(t.totals.finished);
    assert!(!t.totals.resumable);
    let kinds: Vec<&str> = t
        .rows()
        .iter()
        .map(|r| match r {
            Row::Step(_) => "step",
            Row::Escalation(_) => "escalation",
            Row::Resumed(_) => "resumed",
        })
        .collect();
    assert_eq!(kinds, ["step", "resumed", "step"]);
    assert!(t.markdown().contains(
        "| run resumed | | | by bob after the run was stopped for 4.0s from `restart` |"
    ));
}

#[test]
fn a_question_whose_step_never_started_is_still_shown() {
    let mut s = Script::new();
    s.prompt(10, "wipe", "yes", "run");
    let t = s.timeline();
    assert_eq!(t.steps.len(), 1);
    assert_eq!(t.steps[0].step, "wipe");
    assert_eq!(t.steps[0].outcome, Status::Unfinished);
    assert_eq!(t.steps[0].decisions[0].answer, "yes");
    assert_eq!(t.totals.duration_ms, 10);
}

#[test]
fn long_output_keeps_its_head() {
    let text: Vec<String> = (1..=45).map(|i| format!("line {i}")).collect();
    let h = head(Stream::Stdout, &text.join("\n"));
    assert_eq!((h.lines, h.omitted_lines), (OUTPUT_HEAD_LINES, 15));
    assert!(h.text.ends_with("line 30"));
}

#[test]
fn durations_and_clocks() {
    assert_eq!(format_duration(31), "31ms");
    assert_eq!(format_duration(8083), "8.1s");
    assert_eq!(format_duration(125_000), "2m05s");
    assert_eq!(format_duration(3_720_000), "1h02m");
    assert_eq!(clock("2026-01-15T03:12:00.123Z"), "03:12:00");
    assert_eq!(clock("yesterday"), "yesterday");
}
