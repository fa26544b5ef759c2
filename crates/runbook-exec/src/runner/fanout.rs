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
use runbook_transcript::Outcome;
use serde_json::Value;

use super::report::StepReport;
use super::scope::Scope;
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
        let forks = Arc::new(tokio::sync::Semaphore::new(self.shared.forks.max(1)));
        let mut results: Vec<HostResult> = Vec::with_capacity(hosts.len());
        let mut next = 0;
        let mut stopped_early = false;
        for size in batches {
            let batch: Vec<(usize, &HostTarget)> =
                hosts.iter().enumerate().skip(next).take(size).collect();
            next += size;
            let runs = batch.iter().map(|&(i, host)| {
                let forks = forks.clone();
                let command = commands[i].clone();
                let control = control.clone();
                async move {
                    let _slot = forks.acquire().await.ok();
                    self.on_host(idx, host, command, &control, visit).await
                }
            });
            results.extend(super::actions::join_all(runs).await);
            let failed = results.iter().filter(|r| !r.outcome.passed()).count();
            if results.iter().any(|r| r.interrupted) || failed > allowed {
                stopped_early = next < hosts.len();
                break;
            }
        }
        let failed: Vec<&HostResult> = results.iter().filter(|r| !r.outcome.passed()).collect();
        let mut report = if failed.len() > allowed {
            let mut message = format!(
                "{} of {} hosts failed (max_fail {allowed}): {}",
                failed.len(),
                hosts.len(),
                failed
                    .iter()
                    .map(|r| format!("{} ({})", r.host, r.message.as_deref().unwrap_or("failed")))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if stopped_early {
                message.push_str(&format!("; {} hosts not started", hosts.len() - next));
            }
            StepReport::failed(message)
        } else if !failed.is_empty() {
            StepReport::new(Outcome::Warning).with_message(format!(
                "{} of {} hosts failed, within max_fail {allowed}: {}",
                failed.len(),
                hosts.len(),
                failed
                    .iter()
                    .map(|r| r.host.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else if results.iter().any(|r| r.outcome == Outcome::Warning) {
            StepReport::new(Outcome::Warning)
        } else {
            StepReport::new(Outcome::Ok)
        };
        if results.iter().any(|r| r.interrupted) {
            return StepReport::stopped();
        }
        // Captures of a fan-out step are maps from host to value.
        for name in node.step.capture.keys() {
            let per_host: serde_json::Map<String, Value> = results
                .iter()
                .filter_map(|r| r.captures.get(name).map(|v| (r.host.clone(), v.clone())))
                .collect();
            report
                .captures
                .insert(name.clone(), Value::Object(per_host));
        }
        report.attempts = 1;
        report
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
                        1,
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
            grace: self.shared.kill_grace,
            remote,
        };
        let mut delay = node.retry.delay;
        let mut attempt = 1;
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
            if report.interrupted || report.outcome.passed() || attempt >= node.retry.attempts {
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
            captures: report.captures,
            interrupted: report.interrupted,
        }
    }
}
