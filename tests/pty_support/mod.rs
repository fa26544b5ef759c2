//! Helpers for the end-to-end tests of the interactive operator: a sandbox folder, the real
//! binary in a pseudo-terminal (rexpect) with a cleared environment, everything it printed kept
//! as the "screen", and the transcript read back as JSON.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rexpect::process::WaitStatus;
use rexpect::reader::Options;
use rexpect::session::{PtySession, spawn_with_options};
use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_runbook");

/// How long one `expect` waits for its text.
pub const EXPECT_MS: u64 = 10_000;

/// A temporary folder: the working directory of every command started from it.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::Builder::new()
                .prefix("runbook-pty-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folder");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// Writes a playbook: the header (apiVersion, kind, metadata) then `body`.
    pub fn playbook(&self, rel: &str, name: &str, body: &str) -> PathBuf {
        let text = format!(
            "apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n  name: {name}\n  title: Test {name}\n  version: 1.0.0\n{body}"
        );
        self.write(rel, &text)
    }

    /// The binary with a cleared environment (PATH and HOME kept, TERM=dumb, `NO_COLOR=1`), the
    /// sandbox as working directory.
    pub fn command(&self) -> Command {
        self.command_term("dumb")
    }

    /// As [`Sandbox::command`], with another TERM.
    pub fn command_term(&self, term: &str) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_clear();
        for key in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        cmd.env("TERM", term);
        cmd.env("NO_COLOR", "1");
        cmd.current_dir(self.root());
        cmd
    }

    /// `runbook run PLAYBOOK --transcript T --operator alice ARGS...` in a terminal: no
    /// `--yes`, so it asks.
    pub fn run_pty(&self, playbook: &Path, transcript: &Path, args: &[&str]) -> Term {
        let mut cmd = self.command();
        cmd.arg("run")
            .arg(playbook)
            .arg("--transcript")
            .arg(transcript)
            .args(["--operator", "alice"])
            .args(args);
        Term::spawn(cmd)
    }

    /// `runbook ARGS...` in a terminal.
    pub fn pty(&self, args: &[&str]) -> Term {
        let mut cmd = self.command();
        cmd.args(args);
        Term::spawn(cmd)
    }

    /// `runbook ARGS...` without a terminal (stdin from /dev/null), to its end.
    pub fn output(&self, args: &[&str]) -> Output {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("start runbook");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `runbook ARGS...` in the background, without a terminal, output to null.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn runbook")
    }
}

/// How a command without a terminal ended.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// The binary running in a pseudo-terminal.
pub struct Term {
    session: PtySession,
    /// Everything read so far (what the operator saw), UTF-8 decoded.
    pub screen: String,
}

/// rexpect hands over each byte as one `char`: give the bytes back and decode them.
fn decode(raw: &str) -> String {
    let bytes: Vec<u8> = raw.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

impl Term {
    pub fn spawn(cmd: Command) -> Term {
        Self::spawn_with(cmd, true)
    }

    /// As [`Term::spawn`], keeping every byte the binary wrote, escape sequences included.
    pub fn spawn_raw(cmd: Command) -> Term {
        Self::spawn_with(cmd, false)
    }

    fn spawn_with(cmd: Command, strip_ansi: bool) -> Term {
        let options = Options::new()
            .timeout_ms(Some(EXPECT_MS))
            .strip_ansi_escape_codes(strip_ansi);
        let session = spawn_with_options(cmd, options).expect("start runbook in a pty");
        Term {
            session,
            screen: String::new(),
        }
    }

    /// Waits for `needle` (ASCII: the reader sees bytes) and returns what came before it.
    pub fn expect(&mut self, needle: &str) -> String {
        match self.session.exp_string(needle) {
            Ok(before) => {
                let before = decode(&before);
                self.screen.push_str(&before);
                self.screen.push_str(needle);
                before
            }
            Err(err) => panic!(
                "waiting for {needle:?}: {}\n--- screen so far ---\n{}",
                decode(&err.to_string()),
                self.screen
            ),
        }
    }

    /// Waits for the first of `needles` to show; returns its index.
    pub fn expect_any(&mut self, needles: &[&str]) -> usize {
        let wanted = needles
            .iter()
            .map(|n| rexpect::ReadUntil::String((*n).to_owned()))
            .collect();
        match self.session.exp_any(wanted) {
            Ok((before, found)) => {
                self.screen.push_str(&decode(&before));
                self.screen.push_str(&found);
                needles.iter().position(|n| *n == found).unwrap_or(0)
            }
            Err(err) => panic!(
                "waiting for one of {needles:?}: {}\n--- screen so far ---\n{}",
                decode(&err.to_string()),
                self.screen
            ),
        }
    }

    /// Waits for the step prompt ("Run it? ...").
    pub fn expect_run_prompt(&mut self) -> String {
        self.expect("Run it? [y]es [s]kip [e]dit [c]ontinue [a]bort [?]")
    }

    /// Waits for the after-failure prompt.
    pub fn expect_failure_prompt(&mut self) -> String {
        self.expect("[r]etry [s]kip [e]scalate [!]shell [a]bort [?]")
    }

    /// Types a line and Enter.
    pub fn send_line(&mut self, line: &str) {
        self.session.send_line(line).expect("write to the pty");
        self.session.flush().expect("flush the pty");
    }

    /// Ctrl-C: the terminal sends SIGINT to the foreground process group.
    pub fn ctrl_c(&mut self) {
        self.session.send_control('c').expect("send Ctrl-C");
    }

    /// Ctrl-D at the start of a line: the terminal's end of input (a read returns 0).
    pub fn ctrl_d(&mut self) {
        self.session.send_control('d').expect("send Ctrl-D");
    }

    /// Reads to the end of the output and returns the exit code.
    pub fn finish(&mut self) -> i32 {
        match self.session.exp_eof() {
            Ok(rest) => self.screen.push_str(&decode(&rest)),
            Err(err) => panic!(
                "waiting for the end: {}\n--- screen so far ---\n{}",
                decode(&err.to_string()),
                self.screen
            ),
        }
        match self.session.process().wait() {
            Ok(WaitStatus::Exited(_, code)) => code,
            other => panic!("runbook did not exit normally: {other:?}\n{}", self.screen),
        }
    }

    /// Everything shown during the next `d` (the terminal is read, nothing waited for).
    pub fn shown_during(&mut self, d: Duration) -> String {
        let deadline = Instant::now() + d;
        let mut raw = String::new();
        while Instant::now() < deadline {
            match self.session.try_read() {
                Some(c) => raw.push(c),
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let text = decode(&raw);
        self.screen.push_str(&text);
        text
    }

    pub fn count(&self, needle: &str) -> usize {
        self.screen.matches(needle).count()
    }
}

// ---------------------------------------------------------------------------------------------
// Transcripts
// ---------------------------------------------------------------------------------------------

/// Reads a complete transcript: every line must be a JSON object, seq counting up from 0.
pub fn read_transcript(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read the transcript {}: {e}", path.display()));
    assert!(
        text.ends_with('\n'),
        "a complete transcript ends with a newline"
    );
    let records: Vec<Value> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {line}", i + 1))
        })
        .collect();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["seq"].as_u64(), Some(i as u64), "seq counts up: {r}");
    }
    records
}

/// The records parsed so far of a transcript that is still being written (a torn last line is
/// left out).
pub fn read_partial(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// Records of one event kind.
pub fn events<'a>(records: &'a [Value], event: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["event"] == event).collect()
}

/// Records of one event kind for one step.
pub fn step_events<'a>(records: &'a [Value], event: &str, step: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["event"] == event && r["step"] == step)
        .collect()
}

/// The one record of `event` for `step` (panics unless there is exactly one).
pub fn one<'a>(records: &'a [Value], event: &str, step: &str) -> &'a Value {
    let found = step_events(records, event, step);
    assert_eq!(
        found.len(),
        1,
        "expected one {event} of `{step}`, found {}: {found:#?}",
        found.len()
    );
    found[0]
}

/// The outcome of a step's (last) `step_finished` record.
pub fn outcome(records: &[Value], step: &str) -> String {
    step_events(records, "step_finished", step)
        .last()
        .unwrap_or_else(|| panic!("`{step}` has no step_finished record"))["outcome"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The last record, which must be `run_finished`.
pub fn run_finished(records: &[Value]) -> &Value {
    let last = records.last().expect("an empty transcript");
    assert_eq!(last["event"], "run_finished", "the last record: {last}");
    last
}

/// Polls the (growing) transcript until a record matches `pred`.
pub fn wait_for_record(path: &Path, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(r) = read_partial(path).into_iter().find(|r| pred(r)) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no matching record in {} after {timeout:?}:\n{}",
            path.display(),
            std::fs::read_to_string(path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
