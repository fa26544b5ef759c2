//! The Markdown incident report: summary, timeline table, steps with their decisions and
//! output, escalations, and an empty post-mortem. Text from the transcript is escaped (or put
//! in code spans and fences long enough), so output such as `<script>` stays text.

use std::fmt::Write as _;

use crate::{
    Row, StepEntry, Timeline, clock, format_duration, run_outcome_name, stream_name, value_text,
};
use runbook_transcript::text::{code_span, fence_ticks, one_line, plural};

pub(crate) fn render(t: &Timeline) -> String {
    let mut out = String::new();
    let totals = &t.totals;
    let _ = writeln!(out, "# Incident report: {}\n", text(t.title()));
    let _ = writeln!(
        out,
        "**Run {}** — {}.\n",
        text(&totals.headline()),
        totals.counts()
    );
    if !totals.finished {
        let running = if totals.running.is_empty() {
            String::new()
        } else {
            format!(
                ", while {} was running",
                totals
                    .running
                    .iter()
                    .map(|s| code(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let _ = writeln!(
            out,
            "> **The run did not finish.** The transcript ends at T+{}{running}, with no \
             `run_finished` record. It is resumable: `runbook resume TRANSCRIPT`.\n",
            format_duration(totals.duration_ms)
        );
    } else if totals.resumable {
        let _ = writeln!(
            out,
            "> The run was stopped; it is resumable: `runbook resume TRANSCRIPT`.\n"
        );
    }
    summary(&mut out, t);
    timeline(&mut out, t);
    steps(&mut out, t);
    escalations(&mut out, t);
    out.push_str(
        "## Post-mortem\n\n\
         ### Root cause\n\n\
         <!-- What failed, and why. -->\n\n\
         ### Impact\n\n\
         <!-- Who and what was affected, from when to when. -->\n\n\
         ### Action items\n\n\
         - [ ] <!-- action, owner, due date -->\n",
    );
    out
}

fn summary(out: &mut String, t: &Timeline) {
    let totals = &t.totals;
    out.push_str("| | |\n|---|---|\n");
    if let Some(run) = &t.run {
        let version = run
            .playbook
            .version
            .as_deref()
            .map_or(String::new(), |v| format!(" {}", cell(v)));
        let _ = writeln!(
            out,
            "| Playbook | {}{version} ({}) |",
            cell_code(&run.playbook.name),
            cell_code(&run.playbook.file)
        );
        if let Some(schedule) = &run.playbook.schedule {
            let _ = writeln!(out, "| Schedule | {} |", cell_code(schedule));
        }
        let _ = writeln!(out, "| Run | {} |", cell_code(&run.run_id));
        let _ = writeln!(out, "| Started | {} |", cell(&run.started_at));
        let _ = writeln!(
            out,
            "| Operator | {} on {}, {} |",
            cell(&run.operator),
            cell_code(&run.hostname),
            cell(run.mode.as_str())
        );
        if let Some(inventory) = &run.inventory {
            let _ = writeln!(out, "| Inventory | {} |", cell_code(inventory));
        }
        if !run.params.is_empty() {
            let values: Vec<String> = run
                .params
                .iter()
                .map(|(k, v)| cell_code(&format!("{k}={}", value_text(v))))
                .collect();
            let _ = writeln!(out, "| Values | {} |", values.join(" "));
        }
    } else {
        out.push_str("| Run | no `run_started` record in the transcript |\n");
    }
    for resume in &t.resumes {
        let _ = writeln!(
            out,
            "| Resumed | {} by {} on {}{}{} |",
            cell(&resume.at),
            cell(&resume.operator),
            cell_code(&resume.hostname),
            cell(&resume.gap_text()),
            if resume.playbook_changed {
                " (the playbook had changed)"
            } else {
                ""
            }
        );
    }
    let outcome = match (totals.outcome, totals.exit_code) {
        (Some(o), Some(code)) => format!("{} (exit {code})", run_outcome_name(o)),
        _ => "did not finish".to_owned(),
    };
    let _ = writeln!(out, "| Outcome | **{outcome}** |");
    if let Some(at) = &totals.finished_at {
        let _ = writeln!(out, "| Finished | {} |", cell(at));
    }
    let _ = writeln!(
        out,
        "| Duration | {} |",
        format_duration(totals.duration_ms)
    );
    let _ = writeln!(out, "| Steps | {} |", totals.counts());
    if let Some(step) = &totals.failed_step {
        let _ = writeln!(out, "| Failed step | {} |", cell_code(step));
    }
    if !t.escalations.is_empty() {
        let delivered: usize = t.escalations.iter().map(|e| e.delivered).sum();
        let failed: usize = t.escalations.iter().map(|e| e.failed).sum();
        let _ = writeln!(
            out,
            "| Escalations | {} ({delivered} delivered, {failed} failed) |",
            t.escalations.len()
        );
    }
    out.push('\n');
}

fn timeline(out: &mut String, t: &Timeline) {
    out.push_str("## Timeline\n\n");
    out.push_str("| Time (UTC) | T+ | Step | Outcome | Took | Notes |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    if let Some(run) = &t.run {
        let _ = writeln!(
            out,
            "| {} | 0ms | run started | | | by {} on {} |",
            cell(clock(&run.started_at)),
            cell(&run.operator),
            cell_code(&run.hostname)
        );
    }
    for row in t.rows() {
        match row {
            Row::Step(s) => {
                let mut notes = Vec::new();
                if s.attempts > 1 {
                    notes.push(format!("{} attempts", s.attempts));
                }
                if let Some(message) = &s.message {
                    notes.push(cell(message));
                }
                for d in &s.decisions {
                    let decision = cell(d.word());
                    // `--manual skip` says the same in the answer and the message.
                    if d.answer.is_empty()
                        || d.answer == d.word()
                        || s.message.as_deref() == Some(d.answer.as_str())
                    {
                        notes.push(format!("decided {decision}"));
                    } else if d.edited() {
                        notes.push(format!("decided {decision}: {}", cell_code(&d.answer)));
                    } else {
                        notes.push(format!("decided {decision}: {}", cell(&d.answer)));
                    }
                }
                let indent = "↳ ".repeat(s.depth as usize);
                let name = if s.name.is_empty() || s.name == s.step {
                    String::new()
                } else {
                    format!(" {}", cell(&s.name))
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {indent}{}{name} | {} | {} | {} |",
                    cell(clock(&s.started_at)),
                    format_duration(s.start_ms),
                    cell_code(&s.step),
                    outcome_word(s),
                    format_duration(s.duration_ms),
                    notes.join("; ")
                );
            }
            Row::Escalation(e) => {
                let deliveries: Vec<String> = e
                    .deliveries
                    .iter()
                    .map(|d| {
                        if d.ok {
                            format!("{} ok", cell(&d.channel))
                        } else {
                            format!(
                                "{} FAILED: {}",
                                cell(&d.channel),
                                cell(d.error.as_deref().unwrap_or("no reason given"))
                            )
                        }
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "| {} | {} | escalation, level {} ({}) | {} delivered, {} failed | | {} |",
                    cell(clock(&e.at)),
                    format_duration(e.elapsed_ms),
                    e.level,
                    cell(e.reason.as_str()),
                    e.delivered,
                    e.failed,
                    deliveries.join(", ")
                );
            }
            Row::Resumed(r) => {
                let next = r
                    .next_step
                    .as_deref()
                    .map_or(String::new(), |s| format!("from {}", cell_code(s)));
                let _ = writeln!(
                    out,
                    "| {} | {} | run resumed | | | by {}{} {next} |",
                    cell(clock(&r.at)),
                    format_duration(r.elapsed_ms),
                    cell(&r.operator),
                    cell(&r.gap_text())
                );
            }
        }
    }
    let totals = &t.totals;
    match (&totals.finished_at, totals.outcome) {
        (Some(at), Some(outcome)) => {
            let failed = totals
                .failed_step
                .as_deref()
                .map_or(String::new(), |s| format!("failed at {}", cell_code(s)));
            let _ = writeln!(
                out,
                "| {} | {} | run finished | **{}** | {} | {failed} |",
                cell(clock(at)),
                format_duration(totals.duration_ms),
                run_outcome_name(outcome),
                format_duration(totals.duration_ms)
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "| | {} | transcript ends | **did not finish** | | no `run_finished` record |",
                format_duration(totals.duration_ms)
            );
        }
    }
    out.push('\n');
}

fn steps(out: &mut String, t: &Timeline) {
    out.push_str("## Steps\n\n");
    if t.steps.is_empty() {
        out.push_str("No step was recorded.\n\n");
        return;
    }
    for (n, s) in t.steps.iter().enumerate() {
        step(out, n + 1, s);
    }
}

fn step(out: &mut String, n: usize, s: &StepEntry) {
    let name = if s.name.is_empty() || s.name == s.step {
        String::new()
    } else {
        format!(" — {}", text(&s.name))
    };
    let _ = writeln!(
        out,
        "### {n}. {}{name}: {}\n",
        code(&s.step),
        outcome_word(s)
    );
    let mut when = format!(
        "{} (T+{}), took {}",
        text(&s.started_at),
        format_duration(s.start_ms),
        format_duration(s.duration_ms)
    );
    if let Some(exit) = s.exit {
        let _ = write!(when, ", exit {exit}");
    }
    if s.attempts > 1 {
        let _ = write!(when, ", {} attempts", s.attempts);
    }
    if s.visit > 1 {
        let _ = write!(when, ", visit {}", s.visit);
    }
    let _ = writeln!(out, "- **When:** {when}");
    if let Some(action) = s.action {
        let host = if s.host.is_empty() || s.host == "local" {
            String::new()
        } else {
            format!(" on {}", code(&s.host))
        };
        let _ = writeln!(out, "- **Action:** {}{host}", text(action.as_str()));
    }
    if let Some(message) = &s.message {
        let _ = writeln!(out, "- **Why:** {}", text(message));
    }
    if let Some(command) = &s.command {
        let label = if s.edited {
            "Command (edited by the operator)"
        } else {
            "Command"
        };
        if command.contains('\n') {
            let _ = writeln!(out, "- **{label}:**\n\n{}", fence("sh", command, "  "));
        } else {
            let _ = writeln!(out, "- **{label}:** {}", code(command));
        }
    }
    for d in &s.decisions {
        let question = if d.question.is_empty() {
            String::new()
        } else {
            format!("{} → ", text(&d.question))
        };
        let decision = d.word();
        let answer = if d.answer.is_empty() || d.answer == decision {
            format!("**{}**", text(decision))
        } else {
            format!("{} (**{}**)", text(&d.answer), text(decision))
        };
        let _ = writeln!(
            out,
            "- **Decision:** {question}{answer}, by {} at {}",
            text(&d.operator),
            text(clock(&d.at))
        );
    }
    if !s.verdicts.is_empty() {
        out.push_str("- **Checks:**\n");
        for v in &s.verdicts {
            let got = v
                .got
                .as_deref()
                .map_or(String::new(), |g| format!(" — got {}", code(&one_line(g))));
            let mark = if v.ok { "✓ ok" } else { "✗ FAILED" };
            let _ = writeln!(out, "  - {mark}: {}{got}", text(&v.what));
        }
    }
    for (label, values) in [("Captured", &s.captures), ("Inputs", &s.inputs)] {
        if !values.is_empty() {
            let list: Vec<String> = values
                .iter()
                .map(|(k, v)| format!("{} = {}", code(k), code(&one_line(&value_text(v)))))
                .collect();
            let _ = writeln!(out, "- **{label}:** {}", list.join(", "));
        }
    }
    if let Some(spilled) = &s.spilled {
        let _ = writeln!(out, "- **Full output:** {}", code(spilled));
    }
    out.push('\n');
    for o in &s.output {
        let more = if o.omitted_lines > 0 {
            format!(", first {} shown, {} more", o.lines, o.omitted_lines)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{} ({}{more}):\n",
            stream_name(o.stream),
            plural(o.lines + o.omitted_lines, "line")
        );
        let _ = writeln!(out, "{}", fence("text", &o.text, ""));
    }
    if let Some(report) = &s.report {
        out.push_str("report:\n\n");
        let _ = writeln!(out, "{}", fence("markdown", report, ""));
    }
}

fn escalations(out: &mut String, t: &Timeline) {
    out.push_str("## Escalations\n\n");
    if t.escalations.is_empty() {
        out.push_str("None.\n\n");
        return;
    }
    out.push_str("| Time (UTC) | T+ | Level | Reason | Step | Channels | Deliveries | Message |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for e in &t.escalations {
        let deliveries: Vec<String> = e
            .deliveries
            .iter()
            .map(|d| match (&d.error, d.ok) {
                (_, true) => format!("{} ok", cell(&d.channel)),
                (Some(err), false) => format!("{} FAILED: {}", cell(&d.channel), cell(err)),
                (None, false) => format!("{} FAILED", cell(&d.channel)),
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(clock(&e.at)),
            format_duration(e.elapsed_ms),
            e.level,
            cell(&e.reason_text()),
            e.step.as_deref().map_or(String::new(), cell_code),
            e.channels
                .iter()
                .map(|c| cell(c))
                .collect::<Vec<_>>()
                .join(", "),
            if deliveries.is_empty() {
                "none recorded".to_owned()
            } else {
                deliveries.join("; ")
            },
            cell(&e.message)
        );
    }
    out.push('\n');
}

fn outcome_word(s: &StepEntry) -> String {
    if s.outcome.is_bad() {
        format!("**{}**", s.outcome.label())
    } else {
        s.outcome.label().to_owned()
    }
}

/// Inline text with Markdown and HTML syntax escaped, on one line.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // Only where it could start an entity, so `&&` stays readable.
            '&' if chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '#') =>
            {
                out.push_str("&amp;");
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Text for a table cell (the same escaping: `|` is already escaped).
fn cell(s: &str) -> String {
    text(s)
}

/// A code span, with a backtick run longer than any inside it.
fn code(s: &str) -> String {
    if s.is_empty() {
        return "(empty)".to_owned();
    }
    code_span(&s.replace(['\n', '\r'], " "))
}

/// A code span inside a table cell: GitHub splits cells at `|` even in code spans.
fn cell_code(s: &str) -> String {
    code(s).replace('|', "\\|")
}

/// A fenced block longer than any backtick fence inside it, each line indented by `indent`.
fn fence(lang: &str, body: &str, indent: &str) -> String {
    let ticks = fence_ticks(body);
    let mut out = format!("{indent}{ticks}{lang}\n");
    for line in body.lines() {
        let _ = writeln!(out, "{indent}{line}");
    }
    let _ = writeln!(out, "{indent}{ticks}");
    out
}
