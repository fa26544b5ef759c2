//! Helpers for the end-to-end tests of `runbook run --yes`: a sandbox folder, the real binary
//! with a cleared environment, the transcript read back as JSON, a loopback HTTP sink for
//! webhooks, and process lookups through /proc.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_runbook");

/// A temporary folder that is the working directory of every command run in it.
pub struct Sandbox {
    dir: tempfile::TempDir,
    runs: std::cell::Cell<u32>,
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
                .prefix("runbook-run-")
                .tempdir()
                .expect("temp dir"),
            runs: std::cell::Cell::new(0),
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

    /// Writes a playbook: the header (apiVersion, kind, metadata.name) then `body`.
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

    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// A fresh transcript path for the next run: `run-1.jsonl`, `run-2.jsonl`, ...
    pub fn next_transcript(&self) -> PathBuf {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        self.path(&format!("run-{n}.jsonl"))
    }

    /// The bare command: the binary, a cleared environment (PATH and HOME kept), the sandbox
    /// as working directory.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_clear();
        for key in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        cmd.env("NO_COLOR", "1");
        cmd.current_dir(self.root());
        cmd
    }

    /// `bash -c SCRIPT` in the sandbox, with the same cleared environment as the binary.
    pub fn shell(&self, script: &str) -> Command {
        let mut cmd = Command::new("bash");
        cmd.env_clear();
        for key in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        cmd.env("NO_COLOR", "1");
        cmd.current_dir(self.root()).args(["-c", script]);
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
        let out = cmd.output().expect("start runbook");
        let records = if transcript.exists() {
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

    /// Starts the run in the background (stdout/stderr to null); returns it and its transcript.
    pub fn spawn(&self, playbook: &Path, args: &[&str]) -> (Child, PathBuf) {
        let transcript = self.next_transcript();
        let mut cmd = self.run_command(playbook, &transcript, args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        (cmd.spawn().expect("spawn runbook"), transcript)
    }
}

/// Reads a complete transcript: every line must be a JSON object.
pub fn read_transcript(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read the transcript");
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("transcript line {} is not JSON ({e}): {line}", i + 1))
        })
        .collect()
}

/// The records of a finished run, and what the binary printed.
#[derive(Debug)]
pub struct RunResult {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub records: Vec<Value>,
    pub transcript: PathBuf,
}

impl RunResult {
    /// Panics with the output when the exit code differs.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code; stderr:\n{}\nstdout:\n{}\ntranscript:\n{}",
            self.stderr,
            self.stdout,
            self.dump()
        );
        self
    }

    pub fn dump(&self) -> String {
        self.records
            .iter()
            .map(std::string::ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn events(&self, kind: &str) -> Vec<&Value> {
        self.records.iter().filter(|r| r["event"] == kind).collect()
    }

    pub fn of_step(&self, kind: &str, step: &str) -> Vec<&Value> {
        self.records
            .iter()
            .filter(|r| r["event"] == kind && r["step"] == step)
            .collect()
    }

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

    pub fn run_started(&self) -> &Value {
        self.events("run_started")
            .first()
            .copied()
            .expect("a run_started record")
    }

    pub fn run_finished(&self) -> &Value {
        let last = self.records.last().expect("a non-empty transcript");
        assert_eq!(last["event"], "run_finished", "last record: {last}");
        last
    }

    /// The index of the first record matching `pred`.
    pub fn position(&self, pred: impl Fn(&Value) -> bool) -> usize {
        self.records
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("no such record in:\n{}", self.dump()))
    }
}

/// Polls until `cond` holds or `timeout` passes; returns whether it held.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for a child to exit, killing it (and failing) after `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("runbook did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends a signal (by name: TERM, INT, KILL) to one process id.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Live (non-zombie) processes whose command line contains `needle`.
pub fn processes_matching(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !cmdline.contains(needle) {
            continue;
        }
        // Zombies have an empty command line, but check the state anyway.
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(") ")
                    .map(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'))
            })
            .unwrap_or(true);
        if !zombie {
            found.push(pid);
        }
    }
    found
}

/// Kills (SIGKILL) processes this test started that are still alive, found by a unique token.
pub fn kill_leftovers(needle: &str) {
    for pid in processes_matching(needle) {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
    }
}

/// One HTTP request received by [`HttpSink`].
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub request_line: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpRequest {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("webhook body is not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A loopback HTTP server that answers 200 to every request and hands the requests over.
pub struct HttpSink {
    pub url: String,
    rx: mpsc::Receiver<HttpRequest>,
}

impl HttpSink {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let tx = tx.clone();
                std::thread::spawn(move || {
                    if let Some(req) = serve(stream)
                        && tx.send(req).is_err()
                    {
                        // The test is over.
                    }
                });
            }
        });
        HttpSink { url, rx }
    }

    /// Requests received so far, waiting up to `timeout` for at least `n`.
    pub fn take(&self, n: usize, timeout: Duration) -> Vec<HttpRequest> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(req) => out.push(req),
                Err(_) => break,
            }
        }
        while let Ok(req) = self.rx.try_recv() {
            out.push(req);
        }
        out
    }
}

/// Reads one request (Content-Length or chunked body) and answers 200.
fn serve(stream: TcpStream) -> Option<HttpRequest> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body).ok()?;
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    let mut stream = stream;
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    );
    let _ = stream.flush();
    Some(HttpRequest {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("address").port()
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .collect()
}
