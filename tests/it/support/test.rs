//! The [`Test`] builder, in the style of just's: what to run, what must come out, then
//! [`Test::run`], which asserts all of it and returns the [`RunResult`] for more.
//!
//! ```ignore
//! let sb = Sandbox::new();
//! let r = sb
//!     .test()
//!     .playbook("hello", "steps:\n  - id: a\n    run: echo hi\n")
//!     .var("region", "eu")
//!     .status(0)
//!     .outcome("a", "ok")
//!     .run();
//! assert_eq!(r.output("a"), ["hi"]);
//! ```

use std::ffi::OsString;
use std::path::PathBuf;

use serde_json::Value;

use super::{Sandbox, events, read_transcript, run_finished, step_events};

/// One invocation of the binary in a [`Sandbox`] and what it must show.
#[must_use]
pub struct Test<'a> {
    sb: &'a Sandbox,
    playbook: Option<PathBuf>,
    inventory: Option<PathBuf>,
    vars: Vec<String>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
    status: Option<i32>,
    stdout: Vec<String>,
    stderr: Vec<String>,
    events: Option<Vec<String>>,
    outcomes: Vec<(String, String)>,
}

impl<'a> Test<'a> {
    /// Nothing to run yet; the exit code must be 0 unless [`Test::status`] says otherwise.
    pub fn new(sb: &'a Sandbox) -> Self {
        Test {
            sb,
            playbook: None,
            inventory: None,
            vars: Vec::new(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            status: Some(0),
            stdout: Vec::new(),
            stderr: Vec::new(),
            events: None,
            outcomes: Vec::new(),
        }
    }

    /// Writes `pb.yaml` (the header with `name`, then `body`) and runs it: `run --yes
    /// --operator tester pb.yaml --transcript run-N.jsonl`, then the args.
    pub fn playbook(self, name: &str, body: &str) -> Self {
        let path = self.sb.playbook("pb.yaml", name, body);
        self.playbook_file(path)
    }

    /// Runs a playbook already written (in the sandbox or a fixture).
    pub fn playbook_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.playbook = Some(path.into());
        self
    }

    /// Writes `inventory.yaml` (header added) and passes `-i inventory.yaml`.
    pub fn inventory(mut self, body: &str) -> Self {
        self.inventory = Some(self.sb.inventory("inventory.yaml", body));
        self
    }

    /// `--var NAME=VALUE`.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push(format!("{name}={value}"));
        self
    }

    /// More arguments: after the run's own, or the whole command line without a playbook.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable of the run, beside the sandbox's own.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Standard input (by default it is closed).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// The exit code the run must end with (0 by default).
    pub fn status(mut self, code: i32) -> Self {
        self.status = Some(code);
        self
    }

    /// Any exit code will do (the test looks at it itself).
    pub fn any_status(mut self) -> Self {
        self.status = None;
        self
    }

    /// Text stdout must contain.
    pub fn stdout_has(mut self, text: &str) -> Self {
        self.stdout.push(text.to_owned());
        self
    }

    /// Text stderr must contain.
    pub fn stderr_has(mut self, text: &str) -> Self {
        self.stderr.push(text.to_owned());
        self
    }

    /// The transcript's events, in order, `output` records left out.
    pub fn events(mut self, events: &[&str]) -> Self {
        self.events = Some(events.iter().map(|e| (*e).to_owned()).collect());
        self
    }

    /// The outcome of a step's last `step_finished` record.
    pub fn outcome(mut self, step: &str, outcome: &str) -> Self {
        self.outcomes.push((step.to_owned(), outcome.to_owned()));
        self
    }

    /// Runs the binary to its end, asserts every expectation, returns everything it left.
    #[track_caller]
    pub fn run(self) -> RunResult {
        let mut cmd = self.sb.command();
        let transcript = match &self.playbook {
            Some(playbook) => {
                let transcript = self.sb.next_transcript();
                cmd = self.sb.run_command(playbook, &transcript, &[]);
                Some(transcript)
            }
            None => None,
        };
        if let Some(inventory) = &self.inventory {
            cmd.arg("-i").arg(inventory);
        }
        for var in &self.vars {
            cmd.args(["--var", var]);
        }
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let out = match &self.stdin {
            None => cmd
                .stdin(std::process::Stdio::null())
                .output()
                .expect("start runbook"),
            Some(bytes) => {
                use std::io::Write;
                cmd.stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                let mut child = cmd.spawn().expect("start runbook");
                let mut input = child.stdin.take().expect("stdin");
                let bytes = bytes.clone();
                let writer = std::thread::spawn(move || {
                    let _ = input.write_all(&bytes);
                });
                let out = child.wait_with_output().expect("wait for runbook");
                let _ = writer.join();
                out
            }
        };
        let r = RunResult::read(&out, transcript.unwrap_or_default());
        if let Some(code) = self.status {
            r.assert_code(code);
        }
        for text in &self.stdout {
            assert!(
                r.stdout.contains(text.as_str()),
                "stdout lacks {text:?}\n{}",
                r.all()
            );
        }
        for text in &self.stderr {
            assert!(
                r.stderr.contains(text.as_str()),
                "stderr lacks {text:?}\n{}",
                r.all()
            );
        }
        if let Some(events) = &self.events {
            let got: Vec<&str> = r
                .records
                .iter()
                .filter(|r| r["event"] != "output")
                .map(|r| r["event"].as_str().unwrap_or_default())
                .collect();
            assert_eq!(got, *events, "transcript events\n{}", r.all());
        }
        for (step, outcome) in &self.outcomes {
            assert_eq!(
                r.outcome(step),
                *outcome,
                "outcome of `{step}`\n{}",
                r.all()
            );
        }
        r
    }
}

/// A finished invocation: what the binary printed and the records of its transcript.
#[derive(Debug)]
pub struct RunResult {
    /// `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The transcript's records (none when there is no transcript).
    pub records: Vec<Value>,
    pub transcript: PathBuf,
}

impl RunResult {
    /// What `out` printed, and the transcript at `transcript` when it exists.
    pub fn read(out: &std::process::Output, transcript: PathBuf) -> RunResult {
        let records = if transcript.is_file() {
            read_transcript(&transcript)
        } else {
            Vec::new()
        };
        RunResult {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            records,
            transcript,
        }
    }

    /// A run started in the background ([`super::Sandbox::spawn_run`]) that ended with
    /// `status`: its transcript read back. Its output went to null: none is kept.
    pub fn of_spawned(status: std::process::ExitStatus, transcript: PathBuf) -> RunResult {
        RunResult {
            code: status.code(),
            stdout: String::new(),
            stderr: String::new(),
            records: read_transcript(&transcript),
            transcript,
        }
    }

    /// Panics with the output when the exit code differs.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "exit code; {}", self.all());
        self
    }

    /// Everything, for failure messages.
    pub fn all(&self) -> String {
        format!(
            "stderr:\n{}\nstdout:\n{}\ntranscript:\n{}",
            self.stderr,
            self.stdout,
            self.dump()
        )
    }

    /// The transcript's records, one JSON line each.
    pub fn dump(&self) -> String {
        self.records
            .iter()
            .map(std::string::ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The records of one event kind (see [`events`]).
    pub fn events(&self, kind: &str) -> Vec<&Value> {
        events(&self.records, kind)
    }

    /// The records of one event kind for one step (see [`step_events`]).
    pub fn of_step(&self, kind: &str, step: &str) -> Vec<&Value> {
        step_events(&self.records, kind, step)
    }

    /// A step's `step_started` records, one per attempt or visit.
    pub fn started(&self, step: &str) -> Vec<&Value> {
        self.of_step("step_started", step)
    }

    /// The last `step_finished` record of a step.
    pub fn finished(&self, step: &str) -> &Value {
        self.of_step("step_finished", step)
            .last()
            .copied()
            .unwrap_or_else(|| panic!("no step_finished for `{step}`:\n{}", self.dump()))
    }

    /// The outcome of a step's last `step_finished` record.
    pub fn outcome(&self, step: &str) -> String {
        self.finished(step)["outcome"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Recorded stdout lines of a step.
    pub fn output(&self, step: &str) -> Vec<String> {
        self.of_step("output", step)
            .iter()
            .filter(|r| r["stream"] == "stdout")
            .map(|r| r["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The `run_started` record.
    pub fn run_started(&self) -> &Value {
        self.events("run_started")
            .first()
            .copied()
            .expect("a run_started record")
    }

    /// The last record, which must be `run_finished` (see [`run_finished`]).
    pub fn run_finished(&self) -> &Value {
        run_finished(&self.records)
    }

    /// The index of the first record matching `pred`.
    pub fn position(&self, pred: impl Fn(&Value) -> bool) -> usize {
        self.records
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("no such record in:\n{}", self.dump()))
    }
}
