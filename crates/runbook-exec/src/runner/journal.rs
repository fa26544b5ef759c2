//! The run's way out: every record is redacted, written to the transcript, then shown.
//!
//! A write that fails (a full disk, a file size limit) breaks the journal: nothing more is
//! written, the run is told to stop, and the transcript keeps only whole lines, so a resume
//! after freeing space continues from the last record that reached the disk.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use runbook_transcript::time::Clock;
use runbook_transcript::{Event, Record, Stream, TranscriptWriter};

use super::Observer;
use crate::redact::Redactor;

pub(super) struct Journal {
    writer: Mutex<Option<TranscriptWriter>>,
    observer: Arc<dyn Observer>,
    redactor: Mutex<Redactor>,
    broken: AtomicBool,
    error: Mutex<Option<String>>,
}

impl Journal {
    /// Creates the transcript, or opens it to append (`next_seq` of a resumed run).
    pub(super) fn open(
        path: &Path,
        next_seq: Option<u64>,
        clock: Clock,
        observer: Arc<dyn Observer>,
        redactor: Redactor,
    ) -> std::io::Result<Journal> {
        let writer = match next_seq {
            Some(seq) => TranscriptWriter::append(path, seq, clock)?,
            None => TranscriptWriter::create(path, clock)?,
        };
        Ok(Journal {
            writer: Mutex::new(Some(writer)),
            observer,
            redactor: Mutex::new(redactor),
            broken: AtomicBool::new(false),
            error: Mutex::new(None),
        })
    }

    pub(super) fn broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }

    /// The write error that broke the journal, if one did.
    pub(super) fn error(&self) -> Option<String> {
        self.error.lock().expect("lock").clone()
    }

    pub(super) fn add_secrets(&self, more: &Redactor) {
        self.redactor.lock().expect("redactor lock").merge(more);
    }

    pub(super) fn add_secret(&self, secret: &str) {
        self.redactor.lock().expect("redactor lock").add(secret);
    }

    pub(super) fn redact(&self, text: &str) -> String {
        self.redactor.lock().expect("redactor lock").redact(text)
    }

    /// See [`Redactor::mask_for_edit`]: a command the operator may edit, secrets as tokens.
    pub(super) fn mask_for_edit(&self, text: &str) -> (String, Vec<String>) {
        self.redactor
            .lock()
            .expect("redactor lock")
            .mask_for_edit(text)
    }

    /// Writes a record (a step boundary is synced to disk), then shows it. When the write
    /// fails, `failed` is called once and the record is still shown.
    pub(super) fn emit(&self, event: Event, failed: &dyn Fn(&str)) -> Record {
        let sync = matches!(
            event,
            Event::StepFinished(_)
                | Event::RunStarted(_)
                | Event::RunResumed(_)
                | Event::Escalation(_)
        );
        let record = self.write(event, sync, failed);
        self.observer.record(&record);
        record
    }

    /// One output line, already masked ([`Journal::redact_line`]): recorded unless it was spilled, then shown.
    pub(super) fn output(
        &self,
        step: &str,
        stream: Stream,
        line: &str,
        recorded: bool,
        failed: &dyn Fn(&str),
    ) {
        if recorded {
            self.write_redacted(
                Event::Output(runbook_transcript::Output {
                    step: step.to_owned(),
                    stream,
                    text: line.to_owned(),
                }),
                false,
                failed,
            );
        }
        self.observer.output(step, stream, line);
    }

    /// An output line with every known secret masked (borrowed when there is none to mask).
    pub(super) fn redact_line<'l>(&self, line: &'l str) -> std::borrow::Cow<'l, str> {
        self.redactor
            .lock()
            .expect("redactor lock")
            .redact_cow(line)
    }

    /// Tells the screen the run waits before an attempt or repetition (redacted).
    pub fn waiting(&self, step: &str, what: &str, delay: std::time::Duration) {
        let what = self.redact(what);
        self.observer.waiting(step, &what, delay);
    }

    fn write(&self, mut event: Event, sync: bool, failed: &dyn Fn(&str)) -> Record {
        redact_event(&self.redactor.lock().expect("redactor lock"), &mut event);
        self.write_redacted(event, sync, failed)
    }

    fn write_redacted(&self, event: Event, sync: bool, failed: &dyn Fn(&str)) -> Record {
        let mut guard = self.writer.lock().expect("transcript lock");
        let Some(writer) = guard.as_mut() else {
            return Record {
                seq: 0,
                ts: runbook_transcript::time::now(),
                elapsed_ms: 0,
                event,
            };
        };
        let record = writer.stamp(event);
        if self.broken() {
            return record;
        }
        if let Err(err) = writer.write_record(&record) {
            let message = err.to_string();
            tracing::error!("cannot write the transcript: {message}");
            self.broken.store(true, Ordering::SeqCst);
            *self.error.lock().expect("lock") = Some(message.clone());
            drop(guard);
            failed(&message);
            return record;
        }
        if sync {
            writer.sync();
        }
        record
    }

    /// Syncs and closes the transcript.
    pub(super) fn close(&self) -> std::io::Result<()> {
        match self.writer.lock().expect("transcript lock").take() {
            Some(writer) => writer.close(),
            None => Ok(()),
        }
    }
}

/// Masks every known secret in the free-text fields of an event: the one place records are
/// redacted on their way out. Enum-like fields (outcomes, decisions, ids) are left alone.
fn redact_event(r: &Redactor, event: &mut Event) {
    if r.is_empty() {
        return;
    }
    // A field is replaced only where a secret was masked in it.
    let text = |s: &mut String| {
        if let std::borrow::Cow::Owned(masked) = r.redact_cow(s) {
            *s = masked;
        }
    };
    let opt = |s: &mut Option<String>| {
        if let Some(s) = s {
            text(s);
        }
    };
    match event {
        Event::RunStarted(e) => {
            e.params.values_mut().for_each(|v| r.redact_json(v));
            e.overrides.iter_mut().for_each(|(_, v)| *v = r.redact(v));
        }
        Event::RunResumed(_) | Event::Process(_) => {}
        Event::StepStarted(e) => {
            text(&mut e.name);
            opt(&mut e.command);
        }
        Event::Output(e) => text(&mut e.text),
        Event::Prompt(e) => {
            text(&mut e.question);
            text(&mut e.answer);
        }
        Event::StepFinished(e) => {
            for v in &mut e.verdicts {
                text(&mut v.what);
                opt(&mut v.got);
            }
            e.captures.values_mut().for_each(|v| r.redact_json(v));
            e.inputs.values_mut().for_each(|v| r.redact_json(v));
            opt(&mut e.message);
            text(&mut e.stdout);
            text(&mut e.stderr);
            opt(&mut e.report);
        }
        Event::Escalation(e) => {
            text(&mut e.message);
            for d in &mut e.deliveries {
                opt(&mut d.error);
            }
        }
        Event::RunFinished(e) => opt(&mut e.reason),
    }
}
