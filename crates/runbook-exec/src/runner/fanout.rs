//! A `run` step on inventory hosts: each host's command rendered with its own values, one
//! question for the whole step, `forks` hosts at a time (the next starts as soon as one
//! finishes), in `serial` batches, judged per host; the step fails when more hosts failed than
//! `max_fail` allows (counted over the whole step), and its later batches do not start.
//!
//! Each host is recorded as `step@host` (started, output, finished), so a resumed run replays
//! the hosts that finished and runs the step again only where it did not.

use std::sync::Arc;
use std::time::Instant;

use indexmap::IndexMap;
use runbook_template::Mode;
use runbook_transcript::{Outcome, StepReason};
use serde_json::Value;

use super::command::Interrupted;
use super::report::StepReport;
use super::scope::Scope;
use crate::operator::{AfterFailure, CONFIRM_HOSTS_ABOVE, HostsConfirm, HostsFailed};
use crate::process::ProcessSpec;
use crate::program::StepIdx;
use crate::remote::{self, HostTarget};

/// One host's result.
struct HostResult {
    host: String,
    outcome: Outcome,
    message: Option<String>,
    captures: IndexMap<String, Value>,
    interrupted: bool,
    /// The last attempt number it ran (0 when replayed from a resumed run).
    attempts: u32,
}

/// What every round of a fan-out shares.
struct Fleet<'a> {
    hosts: &'a [HostTarget],
    commands: &'a [String],
    batches: &'a [usize],
    allowed: usize,
    control: &'a std::path::Path,
    visit: u32,
}

impl Scope {
    /// The hosts a step runs on: its `on:`, else the inventory's `target`; `None` for this
    /// machine.
    pub(super) fn hosts_of(&self, idx: StepIdx) -> Result<Option<Vec<HostTarget>>, String> {
        let node = self.program.node(idx);
        let inventory = self.shared.inventory.as_deref();
        let target = match (&node.step.on, inventory.and_then(|i| i.target.as_ref())) {
            (Some(on), _) => on.value.clone(),
            (None, Some(target)) => target.value.clone(),
            (None, None) => return Ok(None),
        };
        if target == "local" {
            return Ok(None);
        }
        let hosts = remote::resolve(inventory, &target).ok_or_else(|| match inventory {
            Some(_) => format!("`{target}` is not a host or group of the inventory"),
            None => format!("`on: {target}` needs an inventory (-i) that defines it"),
        })?;
        let hosts: Vec<HostTarget> = hosts
            .into_iter()
            .filter(|h| {
                self.shared
                    .limit
                    .as_ref()
                    .is_none_or(|l| l.matches(&h.name))
            })
            .collect();
        if hosts.is_empty() {
            return Err(format!("`{target}`: no host is left after --limit"));
        }
        Ok(Some(hosts))
    }

    pub(super) async fn fan_out(
        &self,
        idx: StepIdx,
        hosts: Vec<HostTarget>,
        visit: u32,
    ) -> StepReport {
        let node = self.program.node(idx);
        let template = node.step.run.as_ref().expect("a run step");
        // Each host's command, with its group and host vars over the run's values.
        let mut commands = Vec::with_capacity(hosts.len());
        for host in &hosts {
            let own = crate::vars::host_values(
                &IndexMap::new(),
                self.shared.inventory.as_deref(),
                &host.name,
            );
            let ctx = self.context_on(&host.name, Some(&own));
            match self.shared.engine.render(template, &ctx, Mode::Shell) {
                Ok(command) => commands.push(command),
                Err(e) => {
                    return StepReport::failed(format!(
                        "command template on {}: {}",
                        host.name, e.message
                    ));
                }
            }
        }
        let batches = node
            .step
            .serial
            .as_ref()
            .map_or_else(|| vec![hosts.len()], |s| s.batches(hosts.len()));
        let allowed = node.step.max_fail.map_or(0, |m| m.of(hosts.len()));
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        let label = format!(
            "{} host{} ({}){}",
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" },
            names.join(", "),
            if batches.len() > 1 {
                format!(", batches of {batches:?}")
            } else {
                String::new()
            }
        );
        let edited = match self.gate_on(idx, commands[0].clone(), label).await {
            Ok(command) => command,
            Err(report) => return report,
        };
        if edited != commands[0] {
            for command in &mut commands {
                command.clone_from(&edited);
            }
        }
        if hosts.len() > CONFIRM_HOSTS_ABOVE
            && self.shared.interactive()
            && let Err(report) = self.confirm_hosts(idx, hosts.len()).await
        {
            return report;
        }
        self.started(
            idx,
            runbook_transcript::ActionKind::Run,
            Some(&commands[0]),
            1,
            visit,
        );
        let control = match remote::control_dir() {
            Ok(dir) => dir,
            Err(e) => return StepReport::failed(format!("ssh control folder: {e}")),
        };
        let fleet = Fleet {
            hosts: &hosts,
            commands: &commands,
            batches: &batches,
            allowed,
            control: &control,
            visit,
        };
        // Each host's latest result; a retry (after Ctrl-C or from the failure menu) runs
        // again only the hosts without a passed one.
        let mut results: Vec<Option<HostResult>> = (0..hosts.len()).map(|_| None).collect();
        let mut attempts = vec![0u32; hosts.len()];
        loop {
            self.round(idx, &fleet, &mut results, &mut attempts).await;
            if results.iter().flatten().any(|r| r.interrupted) {
                match self.after_interrupt(idx, "interrupted").await {
                    Interrupted::Stop(report) => return report,
                    Interrupted::Retry => continue,
                    Interrupted::Decided(mut decided) => {
                        decided.attempts = attempts.iter().copied().max().unwrap_or(1);
                        return decided;
                    }
                }
            }
            let mut report = self.sum_up(idx, &fleet, &results);
            report.attempts = attempts.iter().copied().max().unwrap_or(1);
            if report.outcome.passed() || !self.shared.interactive() {
                return report;
            }
            match self.hosts_failed_menu(idx, &fleet, &results, report).await {
                Ok(report) => return report,
                Err(()) => continue,
            }
        }
    }

    /// Before a fan-out to many hosts: the operator types the host count (recorded).
    async fn confirm_hosts(&self, idx: StepIdx, count: usize) -> Result<(), StepReport> {
        let id = self.program.node(idx).step.id.value.clone();
        let asked = Instant::now();
        let answer = self.ask(move |op| op.confirm_hosts(&id, count)).await;
        self.add_asked(idx, asked.elapsed());
        let Some(answer) = answer else {
            return Err(StepReport::stopped());
        };
        self.prompt(idx, answer.question, answer.answer, answer.value.label());
        match answer.value {
            HostsConfirm::Run => Ok(()),
            HostsConfirm::Skip => Err(StepReport::new(Outcome::Skipped)
                .with_message(format!("the {count} hosts were not confirmed"))
                .with_reason(StepReason::NotConfirmed)),
            HostsConfirm::Abort => Err(StepReport::aborted()),
        }
    }

    /// One pass over the batches, running the hosts without a passed result (all of them
    /// the first time). Stops after the batch where a host was interrupted or failures went
    /// beyond `max_fail`.
    async fn round(
        &self,
        idx: StepIdx,
        fleet: &Fleet<'_>,
        results: &mut [Option<HostResult>],
        attempts: &mut [u32],
    ) {
        let forks = Arc::new(tokio::sync::Semaphore::new(self.shared.forks.max(1)));
        // A host that has not passed starts afresh: its earlier failure no longer counts.
        for slot in results.iter_mut() {
            if slot.as_ref().is_some_and(|r| !r.outcome.passed()) {
                *slot = None;
            }
        }
        let mut next = 0;
        for &size in fleet.batches {
            let batch: Vec<usize> = (next..(next + size).min(fleet.hosts.len()))
                .filter(|&i| results[i].is_none())
                .collect();
            next += size;
            let runs = batch.iter().map(|&i| {
                let forks = forks.clone();
                let command = fleet.commands[i].clone();
                let first_attempt = attempts[i] + 1;
                async move {
                    let _slot = forks.acquire().await.ok();
                    let result = self
                        .on_host(
                            idx,
                            &fleet.hosts[i],
                            command,
                            fleet.control,
                            fleet.visit,
                            first_attempt,
                        )
                        .await;
                    (i, result)
                }
            });
            for (i, result) in super::actions::join_all(runs).await {
                attempts[i] = attempts[i].max(result.attempts);
                results[i] = Some(result);
            }
            let failed = results.iter().flatten().filter(|r| !r.outcome.passed());
            if results.iter().flatten().any(|r| r.interrupted) || failed.count() > fleet.allowed {
                break;
            }
        }
    }

    /// The step's report from its hosts' results.
    fn sum_up(
        &self,
        idx: StepIdx,
        fleet: &Fleet<'_>,
        results: &[Option<HostResult>],
    ) -> StepReport {
        let total = fleet.hosts.len();
        let allowed = fleet.allowed;
        let failed: Vec<&HostResult> = results
            .iter()
            .flatten()
            .filter(|r| !r.outcome.passed())
            .collect();
        let not_started = results.iter().filter(|r| r.is_none()).count();
        let mut report = if failed.len() > allowed {
            let mut message = format!(
                "{} of {total} hosts failed (max_fail {allowed}): {}",
                failed.len(),
                failed
                    .iter()
                    .map(|r| format!("{} ({})", r.host, r.message.as_deref().unwrap_or("failed")))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if not_started > 0 {
                message.push_str(&format!("; {not_started} hosts not started"));
            }
            StepReport::failed(message)
        } else if !failed.is_empty() {
            StepReport::new(Outcome::Warning).with_message(format!(
                "{} of {total} hosts failed, within max_fail {allowed}: {}",
                failed.len(),
                failed
                    .iter()
                    .map(|r| r.host.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else if results
            .iter()
            .flatten()
            .any(|r| r.outcome == Outcome::Warning)
        {
            StepReport::new(Outcome::Warning)
        } else {
            StepReport::new(Outcome::Ok)
        };
        // Captures of a fan-out step are maps from host to value.
        for name in self.program.node(idx).step.capture.keys() {
            let per_host: serde_json::Map<String, Value> = results
                .iter()
                .flatten()
                .filter_map(|r| r.captures.get(name).map(|v| (r.host.clone(), v.clone())))
                .collect();
            report
                .captures
                .insert(name.clone(), Value::Object(per_host));
        }
        report
    }

    /// The failure menu of a fan-out step: `Ok` is the step's report, `Err` runs the hosts
    /// that did not pass again.
    async fn hosts_failed_menu(
        &self,
        idx: StepIdx,
        fleet: &Fleet<'_>,
        results: &[Option<HostResult>],
        mut report: StepReport,
    ) -> Result<StepReport, ()> {
        let failed = HostsFailed {
            total: fleet.hosts.len(),
            failed: results
                .iter()
                .flatten()
                .filter(|r| !r.outcome.passed())
                .map(|r| {
                    let why = r.message.as_deref().unwrap_or("failed");
                    (r.host.clone(), self.shared.redact(why))
                })
                .collect(),
            not_started: results.iter().filter(|r| r.is_none()).count(),
            max_fail: fleet.allowed,
        };
        // The operator decides, as often as it takes (an escalation asks again).
        loop {
            let id = self.program.node(idx).step.id.value.clone();
            let branch = self.failure_branch(idx);
            let shown = failed.clone();
            let asked = Instant::now();
            let decision = self
                .ask(move |op| op.after_hosts_failed(&id, &shown, &branch))
                .await;
            self.add_asked(idx, asked.elapsed());
            let Some(decision) = decision else {
                return Ok(StepReport::stopped());
            };
            let label = decision.value.label();
            self.prompt(idx, decision.question, decision.answer, label);
            match decision.value {
                AfterFailure::Retry => return Err(()),
                AfterFailure::Skip => {
                    report.outcome = Outcome::Warning;
                    report.reason = Some(StepReason::Operator);
                    report.message = Some(format!(
                        "failed hosts skipped by the operator: {}",
                        report.message.unwrap_or_default()
                    ));
                    return Ok(report);
                }
                AfterFailure::Escalate => {
                    let channels = self.escalation_channels();
                    self.escalate(
                        channels,
                        runbook_transcript::EscalationReason::Operator,
                        Some(self.path(idx)),
                        report.message.as_deref(),
                    );
                }
                AfterFailure::Abort => {
                    report.abort = true;
                    return Ok(report);
                }
                AfterFailure::Branch => return Ok(report),
                AfterFailure::Shell(_) => {}
            }
        }
    }

    /// The step on one host: replayed when a resumed run finished it there, else connected,
    /// run (with the step's retries), judged and recorded as `step@host`.
    async fn on_host(
        &self,
        idx: StepIdx,
        host: &HostTarget,
        command: String,
        control: &std::path::Path,
        visit: u32,
        first_attempt: u32,
    ) -> HostResult {
        let node = self.program.node(idx);
        let label = format!("{}@{}", self.path(idx), host.name);
        let done = self.shared.replay.lock().expect("replay lock").take(&label);
        if let Some(done) = done {
            return HostResult {
                host: host.name.clone(),
                outcome: done.outcome,
                message: done.message,
                captures: done.captures,
                interrupted: false,
                attempts: 0,
            };
        }
        let began = Instant::now();
        let env = match self.step_env(idx, Some(&host.name)) {
            Ok(env) => env,
            Err(why) => {
                return self.host_done(label, host, visit, StepReport::template(why), began);
            }
        };
        let remote = match &host.ssh {
            Some(ssh) => {
                if let Err(why) = remote::connect(ssh, control).await {
                    self.started_on(
                        idx,
                        Some(&host.name),
                        runbook_transcript::ActionKind::Run,
                        Some(&command),
                        first_attempt,
                        visit,
                    );
                    return self.host_done(label, host, visit, StepReport::failed(why), began);
                }
                Some(remote::step_args(ssh, control))
            }
            None => None,
        };
        let spec = ProcessSpec {
            script: command,
            env,
            timeout: node.timeout,
            follow: node.follow,
            grace: self.shared.kill_grace,
            remote,
        };
        let mut delay = node.retry.delay;
        let mut attempt = first_attempt;
        loop {
            let (result, spilled) = self
                .spawn_recorded(idx, &label, Some(&host.name), &spec, attempt, visit)
                .await;
            let mut report = match result {
                Err(err) => StepReport::failed(format!("cannot start ssh: {err}")),
                Ok(result) if result.interrupted => {
                    let mut r = StepReport::stopped();
                    r.exit = Some(result.exit);
                    r
                }
                Ok(result) => {
                    let mut r = StepReport::new(Outcome::Ok);
                    r.exit = Some(result.exit);
                    r.spilled = spilled;
                    // ssh itself failing (exit 255) is the connection, not the command.
                    if host.ssh.is_some() && result.exit == 255 && !result.timed_out {
                        r.outcome = Outcome::Failed;
                        r.message = Some(format!(
                            "ssh failed: {}",
                            result
                                .stderr
                                .text
                                .lines()
                                .next_back()
                                .unwrap_or("connection lost")
                        ));
                        r
                    } else {
                        self.judge(idx, &result, r)
                    }
                }
            };
            report.attempts = attempt;
            let spent = attempt + 1 - first_attempt >= node.retry.attempts;
            if report.interrupted || report.outcome.passed() || spent {
                return self.host_done(label, host, visit, report, began);
            }
            if !delay.is_zero() && self.sleep(delay).await {
                return self.host_done(label, host, visit, StepReport::stopped(), began);
            }
            delay = delay.mul_f64(node.retry.backoff);
            attempt += 1;
        }
    }

    fn host_done(
        &self,
        label: String,
        host: &HostTarget,
        visit: u32,
        report: StepReport,
        began: Instant,
    ) -> HostResult {
        self.finish_as(
            label,
            visit,
            &report,
            began.elapsed().as_millis() as u64,
            false,
        );
        HostResult {
            host: host.name.clone(),
            outcome: report.outcome,
            message: report.message,
            attempts: report.attempts.max(1),
            captures: report.captures,
            interrupted: report.interrupted,
        }
    }
}
