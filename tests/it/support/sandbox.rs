//! The sandbox: a temporary folder that is the working directory of every command started from
//! it, and the binary in a cleared environment.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{RunResult, Term, Test, read_transcript};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_runbook");

/// The workspace root: fixture paths are relative to it.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `program` with an empty environment but for `keep` (copied from the test's own).
pub fn cleared(program: impl AsRef<OsStr>, keep: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear();
    for key in keep {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    cmd
}

/// A temporary folder: the working directory of every command started from it. Commands get
/// PATH and HOME, `NO_COLOR=1`, and TERM only when the sandbox was made [`Sandbox::with_term`].
pub struct Sandbox {
    dir: tempfile::TempDir,
    runs: std::cell::Cell<u32>,
    term: Option<String>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

/// How a command ended and what it printed.
#[derive(Debug)]
pub struct Output {
    /// -1 when a signal ended it.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// What a finished process printed, as text.
    pub fn of(out: &std::process::Output) -> Output {
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The three parts as one text, for snapshots and failure messages.
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Asserts the exit code, showing everything the command printed when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            code,
            "unexpected exit code\n{}",
            self.transcript()
        );
        self
    }

    /// Stdout as JSON; panics, showing it, when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}):\n{}", self.stdout))
    }
}

impl Sandbox {
    /// A new empty folder, removed when the sandbox is dropped.
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::Builder::new()
                .prefix("runbook-test-")
                .tempdir()
                .expect("temp dir"),
            runs: std::cell::Cell::new(0),
            term: None,
        }
    }

    /// A sandbox for the binary in a pseudo-terminal ([`Term`]): its commands get `TERM=dumb`,
    /// a terminal without cursor movement, so what the binary draws reads as plain text.
    pub fn for_terminal() -> Self {
        Self::new().with_term("dumb")
    }

    /// Commands get `TERM=term` too.
    pub fn with_term(mut self, term: &str) -> Self {
        self.term = Some(term.to_owned());
        self
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path in the folder (the file need not exist).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file, and the folders it is in; returns its path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folder");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// Writes an executable file (a script: `text` starts with its `#!` line).
    pub fn write_executable(&self, rel: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.write(rel, text);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("make it executable");
        path
    }

    /// Writes bash stand-ins for commands under `bin/`, one `(name, script)` each, and returns
    /// a PATH that finds them first (for the binary's `PATH`, with [`Sandbox::run_env`]).
    pub fn stand_ins(&self, tools: &[(&str, &str)]) -> String {
        for (name, script) in tools {
            self.write_executable(&format!("bin/{name}"), &format!("#!/bin/bash\n{script}\n"));
        }
        format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// A file's text; empty when it does not exist.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// Whether a file (or folder) exists in the sandbox.
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

    /// Writes an inventory: the header then `body`.
    pub fn inventory(&self, rel: &str, body: &str) -> PathBuf {
        self.write(
            rel,
            &format!("apiVersion: runbook/v1\nkind: Inventory\n{body}"),
        )
    }

    /// Writes `inv.yaml`, an inventory whose `channels` each post to the webhook at `url` (an
    /// [`super::HttpSink`]'s, say).
    pub fn webhook_inventory(&self, url: &str, channels: &[&str]) -> PathBuf {
        self.webhook_channels(channels, |_| url.to_owned())
    }

    /// As [`Sandbox::webhook_inventory`], each channel posting to `URL?to=CHANNEL`: the request
    /// line names the channel it was sent to.
    pub fn webhook_inventory_by_channel(&self, url: &str, channels: &[&str]) -> PathBuf {
        self.webhook_channels(channels, |channel| format!("{url}?to={channel}"))
    }

    fn webhook_channels(&self, channels: &[&str], url: impl Fn(&str) -> String) -> PathBuf {
        let mut body = String::from("channels:\n");
        for channel in channels {
            body.push_str(&format!(
                "  {channel}: {{ webhook: \"{}\" }}\n",
                url(channel)
            ));
        }
        self.inventory("inv.yaml", &body)
    }

    /// A fresh transcript path for the next run: `run-1.jsonl`, `run-2.jsonl`, ...
    pub fn next_transcript(&self) -> PathBuf {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        self.path(&format!("run-{n}.jsonl"))
    }

    /// `program` with the sandbox's environment, in the sandbox.
    fn cleared(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = cleared(program, &["PATH", "HOME"]);
        if let Some(term) = &self.term {
            cmd.env("TERM", term);
        }
        cmd.env("NO_COLOR", "1");
        cmd.current_dir(self.root());
        cmd
    }

    /// The bare command: the binary, the sandbox's environment and working directory.
    pub fn command(&self) -> Command {
        self.cleared(BIN)
    }

    /// `bash -c SCRIPT` in the sandbox, with the same environment as the binary.
    pub fn shell(&self, script: &str) -> Command {
        let mut cmd = self.cleared("bash");
        cmd.args(["-c", script]);
        cmd
    }

    /// `runbook run --yes --operator tester PLAYBOOK --transcript TRANSCRIPT ARGS...`
    pub fn run_command(&self, playbook: &Path, transcript: &Path, args: &[&str]) -> Command {
        let mut cmd = self.command();
        cmd.args(["run", "--yes", "--operator", "tester"])
            .arg(playbook)
            .arg("--transcript")
            .arg(transcript)
            .args(args);
        cmd
    }

    /// Runs to the end and reads everything back.
    pub fn run(&self, playbook: &Path, args: &[&str]) -> RunResult {
        self.run_env(playbook, args, &[])
    }

    /// Runs with extra environment variables.
    pub fn run_env(&self, playbook: &Path, args: &[&str], env: &[(&str, &str)]) -> RunResult {
        let transcript = self.next_transcript();
        let mut cmd = self.run_command(playbook, &transcript, args);
        cmd.envs(env.iter().copied());
        RunResult::read(&cmd.output().expect("start runbook"), transcript)
    }

    /// `runbook resume --yes --operator tester TRANSCRIPT ARGS...`
    pub fn resume_command(&self, transcript: &Path, args: &[&str]) -> Command {
        let mut cmd = self.command();
        cmd.args(["resume", "--yes", "--operator", "tester"])
            .arg(transcript)
            .args(args);
        cmd
    }

    /// Resumes the run of `transcript` to its end and reads everything back.
    pub fn resume(&self, transcript: &Path, args: &[&str]) -> RunResult {
        let out = self
            .resume_command(transcript, args)
            .output()
            .expect("start runbook resume");
        RunResult::read(&out, transcript.to_owned())
    }

    /// Resumes the run of `transcript` in the background (no stdin, output to null).
    pub fn spawn_resume(&self, transcript: &Path, args: &[&str]) -> Child {
        self.resume_command(transcript, args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn runbook resume")
    }

    /// A [`Test`] in this sandbox.
    pub fn test(&self) -> Test<'_> {
        Test::new(self)
    }

    /// Starts the run in the background (stdout/stderr to null); returns it and its transcript.
    pub fn spawn_run(&self, playbook: &Path, args: &[&str]) -> (Child, PathBuf) {
        let transcript = self.next_transcript();
        let mut cmd = self.run_command(playbook, &transcript, args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        (cmd.spawn().expect("spawn runbook"), transcript)
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

    /// `runbook ARGS...` without a terminal (stdin from /dev/null), to its end.
    pub fn output(&self, args: &[&str]) -> Output {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("start runbook");
        Output::of(&out)
    }

    /// `runbook run PLAYBOOK --transcript T --operator alice ARGS...`, for a terminal: no
    /// `--yes`, so it asks. [`Sandbox::run_pty`] starts it; this is for a test that sets more
    /// (another TERM, SHELL, EDITOR) before [`Term::spawn`].
    pub fn run_pty_command(&self, playbook: &Path, transcript: &Path, args: &[&str]) -> Command {
        let mut cmd = self.command();
        cmd.arg("run")
            .arg(playbook)
            .arg("--transcript")
            .arg(transcript)
            .args(["--operator", "alice"])
            .args(args);
        cmd
    }

    /// [`Sandbox::run_pty_command`] started in a terminal.
    pub fn run_pty(&self, playbook: &Path, transcript: &Path, args: &[&str]) -> Term {
        Term::spawn(self.run_pty_command(playbook, transcript, args))
    }

    /// `runbook report TRANSCRIPT --format FORMAT` (markdown, html, json), to its end.
    pub fn report(&self, transcript: &Path, format: &str) -> Output {
        let transcript = transcript.to_str().expect("a UTF-8 path");
        self.output(&["report", transcript, "--format", format])
    }

    /// `runbook ARGS...` in a terminal.
    pub fn pty(&self, args: &[&str]) -> Term {
        let mut cmd = self.command();
        cmd.args(args);
        Term::spawn(cmd)
    }

    /// The records of a transcript in this sandbox (see [`read_transcript`]).
    pub fn records(&self, rel: &str) -> Vec<serde_json::Value> {
        read_transcript(&self.path(rel))
    }
}
