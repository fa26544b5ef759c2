//! Judging a finished command: the timeout, the expectations, the captures, then the graded
//! checks (the first whose condition holds decides). Values stay as they are here; the
//! journal masks secrets when the result is recorded.

use indexmap::IndexMap;
use runbook_model::playbook::{CheckStatus, SERIES_SUFFIX};
use runbook_template::Mode;
use runbook_transcript::{Outcome, StepReason, Verdict};

use super::report::{CheckNotice, StepReport};
use super::scope::Scope;
use crate::expect;
use crate::process::ProcessResult;
use crate::program::StepIdx;

/// Bytes of stdout/stderr kept in `steps.<id>` and the `step_finished` record.
const VIEW_BYTES: usize = 16 * 1024;

impl Scope {
    pub(super) fn judge(
        &self,
        idx: StepIdx,
        result: &ProcessResult,
        mut report: StepReport,
    ) -> StepReport {
        let node = self.program.node(idx);
        let step = &node.step;
        let stdout = &result.stdout.text;
        let stderr = &result.stderr.text;
        report.stdout = head(stdout);
        report.stderr = head(stderr);
        if result.timed_out {
            report.outcome = Outcome::Failed;
            report.reason = Some(StepReason::Timeout);
            report.message = Some(format!(
                "timed out after {}",
                step.timeout.as_ref().map_or("?", |t| t.0.as_str())
            ));
            return report;
        }
        let render = |t: &str| self.render(t, Mode::Text, None);
        report.verdicts = expect::judge(step.expect.as_ref(), result.exit, stdout, stderr, &render);
        // The exit code's verdict comes first, then the expectations, then the captures.
        let expectations = report.verdicts.len();
        let mut own = IndexMap::new();
        for (name, spec) in &step.capture {
            match expect::capture(spec, result.exit, stdout, stderr) {
                Ok(value) => {
                    own.insert(name.clone(), value);
                }
                Err(why) => report.verdicts.push(Verdict {
                    what: format!("capture {name}"),
                    ok: false,
                    got: Some(why),
                }),
            }
        }
        if node.watch.is_some() && !own.is_empty() {
            self.extend_series(idx, &mut own);
        }
        if let Some(at) = report.verdicts.iter().position(|v| !v.ok) {
            let failed = &report.verdicts[at];
            report.outcome = Outcome::Failed;
            report.reason = Some(match at {
                0 => StepReason::Exit,
                at if at < expectations => StepReason::Expectation,
                _ => StepReason::Capture,
            });
            report.message = Some(match &failed.got {
                Some(got) => format!(
                    "expected {}, got {}",
                    failed.what,
                    runbook_transcript::text::one_line(got)
                ),
                None => format!("expected {}", failed.what),
            });
        } else if node.watch.is_some() {
            // A check over a series waits for the end of the watch (`final_grade`).
            self.grade_where(step, &own, &mut report, &|check| !reads_series(step, check));
        } else {
            self.grade(step, &own, &mut report);
        }
        if result.followed {
            report.verdicts.push(Verdict {
                what: format!(
                    "follow {}",
                    step.follow.as_ref().map_or("?", |f| f.0.as_str())
                ),
                ok: true,
                got: Some("stopped at the end of its follow duration".to_owned()),
            });
        }
        report.captures = own;
        report
    }

    /// The graded checks: the first that holds sets the outcome and the message. `own` is
    /// what the step itself learned: a command's captures, a manual step's answers.
    pub(super) fn grade(
        &self,
        step: &runbook_model::Step,
        own: &IndexMap<String, serde_json::Value>,
        report: &mut StepReport,
    ) {
        self.grade_where(step, own, report, &|_| true);
    }

    /// Adds this repetition's captures to the watch's series, and each series (`NAME_series`,
    /// oldest first; text that reads as a number is a number) to what the step learned.
    fn extend_series(&self, idx: StepIdx, own: &mut IndexMap<String, serde_json::Value>) {
        let mut all = self.series.lock().expect("series lock");
        let series = all.entry(idx).or_default();
        for (name, value) in own.iter() {
            series
                .entry(name.clone())
                .or_default()
                .push(as_number(value));
        }
        for (name, values) in series.iter() {
            own.insert(
                format!("{name}{SERIES_SUFFIX}"),
                serde_json::Value::Array(values.clone()),
            );
        }
    }

    /// The end of a watch that passed: every check is graded once more, those over a series
    /// included, and the first that holds decides the step.
    pub(super) fn final_grade(&self, idx: StepIdx, report: &mut StepReport) {
        let step = &self.program.node(idx).step;
        self.series.lock().expect("series lock").remove(&idx);
        if !report.outcome.passed() || !step.checks.iter().any(|c| reads_series(step, c)) {
            return;
        }
        report.verdicts.retain(|v| !v.what.starts_with("check "));
        report.outcome = Outcome::Ok;
        report.message = None;
        report.reason = None;
        report.check_notice = None;
        let own = report.captures.clone();
        self.grade(step, &own, report);
    }

    /// The graded checks `include` admits, in order: the first that holds decides.
    fn grade_where(
        &self,
        step: &runbook_model::Step,
        own: &IndexMap<String, serde_json::Value>,
        report: &mut StepReport,
        include: &dyn Fn(&runbook_model::playbook::Check) -> bool,
    ) {
        for check in step.checks.iter().filter(|c| include(c)) {
            let ctx = self.context(Some(own));
            match self.shared.engine.is_true(&check.condition, &ctx) {
                Ok(false) => continue,
                Ok(true) => {
                    let message = check
                        .message
                        .as_ref()
                        .map(|m| self.render(m, Mode::Text, Some(own)).unwrap_or_else(|e| e))
                        .unwrap_or_else(|| {
                            format!("{}: {}", status_word(check.status), check.condition.value)
                        });
                    report.verdicts.push(Verdict {
                        what: format!("check {}", check.condition.value),
                        ok: check.status != CheckStatus::Critical,
                        got: Some(message.clone()),
                    });
                    report.outcome = match check.status {
                        CheckStatus::Ok => Outcome::Ok,
                        CheckStatus::Warning => Outcome::Warning,
                        CheckStatus::Critical => Outcome::Failed,
                    };
                    if !check.notify.is_empty() {
                        report.check_notice = Some(CheckNotice {
                            channels: check.notify.iter().map(|c| c.value.clone()).collect(),
                            status: status_word(check.status),
                            message: message.clone(),
                        });
                    }
                    report.message = Some(message);
                    report.reason = Some(StepReason::Check);
                    return;
                }
                Err(err) => {
                    report.outcome = Outcome::Failed;
                    report.reason = Some(StepReason::Template);
                    report.message = Some(format!(
                        "check `{}`: {}",
                        check.condition.value, err.message
                    ));
                    return;
                }
            }
        }
    }
}

/// Whether a check reads a series of its own step's captures (then it waits for the end).
fn reads_series(step: &runbook_model::Step, check: &runbook_model::playbook::Check) -> bool {
    runbook_template::analyze_expression(&check.condition).is_ok_and(|names| {
        names.iter().any(|n| {
            n.strip_suffix(SERIES_SUFFIX)
                .is_some_and(|stem| step.capture.contains_key(stem))
        })
    })
}

/// A captured text that reads as a number becomes one, so a series compares numerically.
fn as_number(value: &serde_json::Value) -> serde_json::Value {
    let Some(text) = value.as_str() else {
        return value.clone();
    };
    let text = text.trim();
    if let Ok(n) = text.parse::<i64>() {
        return n.into();
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => f.into(),
        _ => value.clone(),
    }
}

/// The first [`VIEW_BYTES`] of an output, in whole lines (a line longer than that is cut at
/// a character boundary): a template reading it, a `for_each` over its lines, never sees half
/// a line as if it were a whole one.
pub(super) fn head(text: &str) -> String {
    if text.len() <= VIEW_BYTES {
        return text.trim_end().to_owned();
    }
    let cut = (0..=VIEW_BYTES)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    let cut = text[..cut].rfind('\n').unwrap_or(cut);
    text[..cut].to_owned()
}

fn status_word(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Ok => "ok",
        CheckStatus::Warning => "warning",
        CheckStatus::Critical => "critical",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_output_is_kept_in_whole_lines() {
        let text: String = (0..5000).map(|i| format!("db-{i}\n")).collect();
        let kept = head(&text);
        assert!(kept.len() <= VIEW_BYTES);
        let last = kept.lines().last().unwrap();
        assert!(text.lines().any(|l| l == last), "a cut line: {last}");
        let one_line = "x".repeat(VIEW_BYTES + 10);
        assert_eq!(head(&one_line).len(), VIEW_BYTES);
    }
}
