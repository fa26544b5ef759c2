//! Appending records: one `write` per line, so a kill leaves whole lines; `fdatasync` at step
//! boundaries runs on a helper thread, off the path of the run.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::SystemTime;

use crate::record::{Event, Record};
use crate::time::{self, Clock};

/// The open transcript of a run.
pub struct TranscriptWriter {
    file: File,
    path: PathBuf,
    seq: u64,
    clock: Clock,
    syncer: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    buf: Vec<u8>,
    /// Bytes of whole lines in the file: a failed write is cut back to here.
    len: u64,
}

impl std::fmt::Debug for TranscriptWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranscriptWriter")
            .field("path", &self.path)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl TranscriptWriter {
    /// Creates a new transcript (and its folder); refuses to overwrite an existing file, but
    /// takes an empty one: the caller reserved the name by creating it, so no other run does.
    pub fn create(path: &Path, clock: Clock) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(file) => file,
            Err(err)
                if err.kind() == std::io::ErrorKind::AlreadyExists
                    && std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) =>
            {
                OpenOptions::new().write(true).open(path)?
            }
            Err(err) => return Err(err),
        };
        Ok(Self::with_file(file, path, 0, clock, 0))
    }

    /// Opens an existing transcript to append to it (resume), continuing its numbering and its
    /// incident clock. A torn last line is cut off first so the file stays line-aligned.
    pub fn append(path: &Path, next_seq: u64, clock: Clock) -> std::io::Result<Self> {
        let text = std::fs::read(path)?;
        let keep = match text.last() {
            Some(b'\n') | None => text.len(),
            Some(_) => text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1),
        };
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(keep as u64)?;
        let mut file = OpenOptions::new().append(true).open(path)?;
        file.flush()?;
        Ok(Self::with_file(file, path, next_seq, clock, keep as u64))
    }

    fn with_file(file: File, path: &Path, seq: u64, clock: Clock, len: u64) -> Self {
        let syncer = file.try_clone().ok().map(|clone| {
            let (tx, rx) = mpsc::channel::<()>();
            let handle = std::thread::Builder::new()
                .name("transcript-sync".into())
                .spawn(move || {
                    while rx.recv().is_ok() {
                        // Coalesce requests that queued up while the last sync ran.
                        while rx.try_recv().is_ok() {}
                        let _ = clone.sync_data();
                    }
                    let _ = clone.sync_data();
                })
                .expect("spawn the transcript sync thread");
            (tx, handle)
        });
        TranscriptWriter {
            file,
            path: path.to_owned(),
            seq,
            clock,
            syncer,
            buf: Vec::with_capacity(512),
            len,
        }
    }

    /// The transcript's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Milliseconds on the incident clock.
    pub fn elapsed_ms(&self) -> u64 {
        self.clock.elapsed_ms()
    }

    /// Appends one event as one line, written in one call.
    pub fn write(&mut self, event: Event) -> std::io::Result<Record> {
        let record = self.stamp(event);
        self.write_record(&record)?;
        Ok(record)
    }

    /// Numbers and timestamps an event: the record `write_record` writes.
    pub fn stamp(&mut self, event: Event) -> Record {
        let record = Record {
            seq: self.seq,
            ts: time::rfc3339(SystemTime::now()),
            elapsed_ms: self.elapsed_ms(),
            event,
        };
        self.seq += 1;
        record
    }

    /// Writes a stamped record as one line, in one call. A write that fails part-way (a full
    /// disk, a file size limit) is cut back off, so the file keeps only whole lines.
    pub fn write_record(&mut self, record: &Record) -> std::io::Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, record)?;
        self.buf.push(b'\n');
        match self.file.write_all(&self.buf) {
            Ok(()) => {
                self.len += self.buf.len() as u64;
                Ok(())
            }
            Err(err) => {
                let _ = self.file.set_len(self.len);
                Err(err)
            }
        }
    }

    /// Asks for the data to reach the disk (step boundaries); returns at once.
    pub fn sync(&self) {
        if let Some((tx, _)) = &self.syncer {
            let _ = tx.send(());
        }
    }

    /// Syncs and waits for it: the end of a run.
    pub fn close(mut self) -> std::io::Result<()> {
        if let Some((tx, handle)) = self.syncer.take() {
            drop(tx);
            let _ = handle.join();
        }
        self.file.sync_data()
    }
}

impl Drop for TranscriptWriter {
    fn drop(&mut self) {
        if let Some((tx, handle)) = self.syncer.take() {
            drop(tx);
            let _ = handle.join();
        }
    }
}
