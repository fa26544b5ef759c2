//! Escalation on the incident clock: one task keeps every active ladder (the run's own and
//! those of the sub-playbooks running now), fires each rung when it is due, and delivers
//! every page concurrently, so a channel that hangs delays no step and no other page.
//!
//! **Invariant:** every page ends in an `escalation` record: delivered, failed with the
//! reason, or abandoned when the run ended and its delivery outlived the grace time.
//! A rung that became due while no process ran the run (between a crash and its resume)
//! fires when the run resumes, marked late by how much.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runbook_model::Inventory;
use runbook_template::{Engine, Mode};
use runbook_transcript::{Delivery, Event, Rung};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::Shared;
use super::context::Known;
use super::scope::{Scope, context_of, severity};
use crate::escalate::{self, Notice};

/// A page to send now.
pub(super) struct Page {
    /// `policy`, `failure` or `operator`.
    pub reason: runbook_transcript::EscalationReason,
    pub channels: Vec<String>,
    pub title: String,
    pub severity: String,
    pub message: String,
    pub step: Option<String>,
    pub rung: Option<Rung>,
    pub due_ms: Option<u64>,
    pub late_ms: u64,
    /// The run's report so far, sent with the message (a `notify:` step's `report: true`).
    pub report: Option<String>,
}

/// A playbook's ladder, with what the playbook knows: each rung's `when` and message are
/// evaluated against it when the rung comes due, not when the playbook starts.
pub(super) struct Ladder {
    pub title: String,
    pub severity: String,
    pub rungs: Vec<crate::program::Rung>,
    pub known: Arc<Known>,
}

enum Command {
    Enter {
        scope: String,
        ladder: Ladder,
    },
    Leave {
        scope: String,
    },
    /// A step finished: values a rung's `when` reads may have changed.
    Learned,
    Fire(Page),
    Finish {
        grace: Duration,
        done: oneshot::Sender<u32>,
    },
}

/// The handle the run holds; the work happens on its task.
#[derive(Default)]
pub(super) struct Escalator {
    tx: Mutex<Option<mpsc::UnboundedSender<Command>>>,
}

impl Escalator {
    /// Starts the clock's task. `resumed`: the rungs that already fired and the clock's
    /// reading at the last record before the resume (rungs due since then are late).
    pub(super) fn start(&self, shared: &Arc<Shared>, resumed: Option<(HashSet<Rung>, u64)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.tx.lock().expect("lock") = Some(tx);
        let down_since = resumed.as_ref().map(|_| shared.clock.elapsed_ms());
        let fired = resumed.map(|(fired, _)| fired).unwrap_or_default();
        let clock = Clock {
            shared: shared.clone(),
            fired,
            down_since,
            pending: Vec::new(),
            held: Vec::new(),
            inflight: JoinSet::new(),
            meta: HashMap::new(),
            next_id: 0,
            undelivered: 0,
        };
        tokio::spawn(clock.run(rx));
    }

    fn send(&self, command: Command) {
        if let Some(tx) = self.tx.lock().expect("lock").as_ref() {
            let _ = tx.send(command);
        }
    }

    /// A playbook's ladder joins the clock (`scope` is `""` for the run's own).
    pub(super) fn enter(&self, scope: &str, ladder: Ladder) {
        if !ladder.rungs.is_empty() {
            self.send(Command::Enter {
                scope: scope.to_owned(),
                ladder,
            });
        }
    }

    /// A sub-playbook ended: its rungs not yet due no longer apply.
    pub(super) fn leave(&self, scope: &str) {
        self.send(Command::Leave {
            scope: scope.to_owned(),
        });
    }

    /// The run learned values (a step finished): rungs waiting for their `when` are
    /// evaluated again.
    pub(super) fn learned(&self) {
        self.send(Command::Learned);
    }

    /// Sends a page now, without waiting for its delivery.
    pub(super) fn fire(&self, page: Page) {
        self.send(Command::Fire(page));
    }

    /// Stops the clock and waits up to `grace` for deliveries still under way; returns how
    /// many pages did not reach their channel.
    pub(super) async fn finish(&self, grace: Duration) -> u32 {
        let (done, wait) = oneshot::channel();
        self.send(Command::Finish { grace, done });
        *self.tx.lock().expect("lock") = None;
        wait.await.unwrap_or(0)
    }
}

impl Scope {
    /// This playbook's ladder.
    pub(super) fn ladder(&self) -> Ladder {
        let playbook = &self.program.playbook;
        Ladder {
            title: playbook.title().to_owned(),
            severity: severity(playbook),
            rungs: self.program.ladder.clone(),
            known: self.known.clone(),
        }
    }
}

/// What every rung of one ladder shares.
struct LadderInfo {
    title: String,
    severity: String,
    known: Arc<Known>,
}

/// A rung (or one repetition of a repeating rung) waiting for its time or its `when`.
struct PendingRung {
    rung: Rung,
    due: Duration,
    spec: Arc<crate::program::Rung>,
    ladder: Arc<LadderInfo>,
    /// Whether the log already said that its `when` cannot be evaluated (it says so once).
    warned: bool,
}

/// The state of the clock's task.
struct Clock {
    shared: Arc<Shared>,
    fired: HashSet<Rung>,
    /// The clock's reading when this process took the run over after a gap, if it did.
    down_since: Option<u64>,
    pending: Vec<PendingRung>,
    /// Rungs that came due while their `when` did not hold: each pages once it does.
    held: Vec<PendingRung>,
    inflight: JoinSet<(u64, Vec<Delivery>)>,
    meta: HashMap<u64, (Page, u32)>,
    next_id: u64,
    undelivered: u32,
}

impl Clock {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let finish = loop {
            let next_due = self.pending.iter().map(|p| p.due).min();
            let wake = next_due.map(|d| self.shared.clock.instant_at(d));
            tokio::select! {
                command = rx.recv() => match command {
                    Some(Command::Enter { scope, ladder }) => self.enter(scope, ladder),
                    Some(Command::Leave { scope }) => {
                        self.pending.retain(|p| p.rung.scope != scope);
                        self.held.retain(|p| p.rung.scope != scope);
                    }
                    Some(Command::Learned) => self.reconsider(),
                    Some(Command::Fire(page)) => self.deliver(page),
                    Some(Command::Finish { grace, done }) => break Some((grace, done)),
                    None => break None,
                },
                () = sleep_until(wake) => self.fire_due(),
                Some(done) = self.inflight.join_next(), if !self.inflight.is_empty() => {
                    if let Ok((id, deliveries)) = done {
                        self.record(id, deliveries);
                    }
                }
            }
        };
        let Some((grace, done)) = finish else {
            return;
        };
        let deadline = tokio::time::Instant::now() + grace;
        while !self.inflight.is_empty() {
            tokio::select! {
                Some(finished) = self.inflight.join_next() => {
                    if let Ok((id, deliveries)) = finished {
                        self.record(id, deliveries);
                    }
                }
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.inflight.abort_all();
        let abandoned: Vec<u64> = self.meta.keys().copied().collect();
        for id in abandoned {
            let channels = self.meta[&id].0.channels.clone();
            let deliveries = channels
                .into_iter()
                .map(|channel| Delivery {
                    channel,
                    ok: false,
                    error: Some(format!(
                        "abandoned: still being delivered {} after the run ended",
                        runbook_transcript::time::format_duration(grace)
                    )),
                    duration_ms: 0,
                })
                .collect();
            self.record(id, deliveries);
        }
        let _ = done.send(self.undelivered);
    }

    fn enter(&mut self, scope: String, ladder: Ladder) {
        let info = Arc::new(LadderInfo {
            title: ladder.title,
            severity: ladder.severity,
            known: ladder.known,
        });
        let now = self.shared.clock.elapsed();
        for (index, spec) in ladder.rungs.into_iter().enumerate() {
            let index = index as u32;
            let repeat = if spec.every.is_some() {
                // A resumed run goes on with the cadence after the last page it recorded.
                let next = self
                    .fired
                    .iter()
                    .filter(|r| r.scope == scope && r.index == index)
                    .map(|r| r.repeat + 1)
                    .max()
                    .unwrap_or(0);
                spec.repetition_at(now, next)
            } else {
                let first = Rung {
                    scope: scope.clone(),
                    index,
                    repeat: 0,
                };
                if self.fired.contains(&first) {
                    continue;
                }
                0
            };
            self.pending.push(PendingRung {
                rung: Rung {
                    scope: scope.clone(),
                    index,
                    repeat,
                },
                due: spec.due(repeat),
                spec: Arc::new(spec),
                ladder: info.clone(),
                warned: false,
            });
        }
        self.fire_due();
    }

    /// Fires every rung whose time has come and whose `when` holds; a repeating rung is
    /// scheduled again whatever its `when` said this time.
    fn fire_due(&mut self) {
        let now = self.shared.clock.elapsed();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.due <= now);
        self.pending = later;
        for p in due {
            if p.spec.every.is_some() {
                let repeat = p.spec.repetition_at(now, p.rung.repeat + 1);
                self.pending.push(PendingRung {
                    rung: Rung {
                        repeat,
                        ..p.rung.clone()
                    },
                    due: p.spec.due(repeat),
                    spec: p.spec.clone(),
                    ladder: p.ladder.clone(),
                    warned: false,
                });
            }
            let mut p = p;
            if self.applies(&mut p) {
                self.page(p);
            } else if p.spec.every.is_none() {
                self.held.push(p);
            } else {
                tracing::info!(rung = ?p.rung, "escalation rung skipped: its `when` is false");
            }
        }
    }

    /// Held rungs whose `when` holds now page.
    fn reconsider(&mut self) {
        for mut p in std::mem::take(&mut self.held) {
            if self.applies(&mut p) {
                self.page(p);
            } else {
                self.held.push(p);
            }
        }
    }

    /// Whether a due rung's `when` holds now. A name the run has not learned yet (the
    /// operator has not answered) is not an error: the rung waits. Any other error (a value
    /// of the wrong type: maybe a step that has not run yet, maybe a mistake) holds it too,
    /// and is said once, on the run's log, so a rung never waits unseen.
    fn applies(&self, p: &mut PendingRung) -> bool {
        let Some(when) = &p.spec.when else {
            return true;
        };
        let ctx = context_of(&self.shared, &p.ladder.known, "local", None);
        match self.shared.engine.is_true(when, &ctx) {
            Ok(holds) => holds,
            Err(err) if err.undefined_value => {
                tracing::debug!(rung = ?p.rung, error = %err.message, "escalation `when` not decidable yet");
                false
            }
            Err(err) => {
                if !p.warned {
                    tracing::warn!(
                        "escalation rung {} (after {}) waits: its `when` cannot be evaluated yet: {}",
                        p.rung.index + 1,
                        p.spec.after_text,
                        err.message
                    );
                }
                p.warned = true;
                false
            }
        }
    }

    /// Pages a due rung, its message rendered now.
    fn page(&mut self, p: PendingRung) {
        let now = self.shared.clock.elapsed();
        let due_ms = p.due.as_millis() as u64;
        // Late only when it came due while no process was running the run.
        let late_ms = match self.down_since {
            Some(resumed_at) if due_ms < resumed_at => {
                (now.as_millis() as u64).saturating_sub(due_ms)
            }
            _ => 0,
        };
        let title = &p.ladder.title;
        let message = match &p.spec.message {
            Some(template) => {
                let ctx = context_of(&self.shared, &p.ladder.known, "local", None);
                self.shared
                    .engine
                    .render(template, &ctx, Mode::Text)
                    .unwrap_or_else(|e| format!("{title} (message template: {})", e.message))
            }
            None if p.rung.repeat == 0 => {
                format!("{title} unresolved after {}", p.spec.after_text)
            }
            None => format!(
                "{title} unresolved after {}",
                runbook_transcript::time::format_duration(p.due)
            ),
        };
        self.fired.insert(p.rung.clone());
        self.deliver(Page {
            reason: runbook_transcript::EscalationReason::Policy,
            channels: p.spec.notify.clone(),
            title: title.clone(),
            severity: p.ladder.severity.clone(),
            message,
            step: None,
            rung: Some(p.rung),
            due_ms: Some(due_ms),
            late_ms,
            report: None,
        });
    }

    /// Starts delivering a page to each of its channels at once.
    fn deliver(&mut self, mut page: Page) {
        let shared = &self.shared;
        let level = shared
            .escalation_level
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        page.message = shared.redact(&page.message);
        let report = page.report.take().map(|r| shared.redact(&r));
        let elapsed = shared.clock.elapsed();
        let failed = shared
            .failed_step
            .lock()
            .expect("lock")
            .clone()
            .or_else(|| page.step.clone());
        let notice = Notice {
            level,
            reason: page.reason,
            subject: format!(
                "[{}] {} — escalation level {level}",
                page.severity, page.title
            ),
            message: page.message.clone(),
            playbook: shared.playbook_info.clone(),
            run: serde_json::json!({
                "id": shared.run_id,
                "elapsed": runbook_transcript::time::format_duration(elapsed),
                "elapsed_seconds": elapsed.as_secs(),
                "failed_step": failed,
                "late_seconds": page.late_ms / 1000,
            }),
            report,
        };
        tracing::info!(level, reason = %page.reason, channels = ?page.channels, "escalating");
        let id = self.next_id;
        self.next_id += 1;
        let engine: Arc<Engine> = shared.engine.clone();
        let inventory: Option<Arc<Inventory>> = shared.inventory.clone();
        let channels = page.channels.clone();
        self.meta.insert(id, (page, level));
        self.inflight.spawn(async move {
            let mut each = JoinSet::new();
            for (i, name) in channels.iter().enumerate() {
                let (engine, inventory, notice, name) = (
                    engine.clone(),
                    inventory.clone(),
                    notice.clone(),
                    name.clone(),
                );
                each.spawn(async move {
                    (
                        i,
                        escalate::deliver_one(&engine, inventory.as_deref(), &name, &notice).await,
                    )
                });
            }
            let mut deliveries: Vec<Option<Delivery>> = channels.iter().map(|_| None).collect();
            while let Some(Ok((i, delivery))) = each.join_next().await {
                deliveries[i] = Some(delivery);
            }
            (id, deliveries.into_iter().flatten().collect())
        });
    }

    fn record(&mut self, id: u64, deliveries: Vec<Delivery>) {
        let Some((page, level)) = self.meta.remove(&id) else {
            return;
        };
        self.undelivered += deliveries.iter().filter(|d| !d.ok).count() as u32;
        self.shared
            .emit(Event::Escalation(runbook_transcript::Escalation {
                level,
                reason: page.reason,
                channels: page.channels,
                message: page.message,
                step: page.step,
                deliveries,
                rung: page.rung,
                due_ms: page.due_ms,
                late_ms: page.late_ms,
            }));
    }
}

async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
