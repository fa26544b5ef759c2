//! Running one command: `bash -o pipefail` in its own process group, output read in bounded
//! chunks and handed over line by line, a timeout or an interrupt that stops the whole group
//! (SIGTERM, a grace period, SIGKILL), so no grandchild outlives its step.
//!
//! **Invariant:** the script is never in a process's argv. `/proc/PID/cmdline` is readable by
//! every user of the machine, so a secret in a rendered command would leak there for the whole
//! step. bash gets a fixed `-c` program that evaluates the script from an environment variable
//! (`/proc/PID/environ` is readable by the owner only) and unsets it first, so the commands
//! the script starts do not inherit it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use runbook_transcript::Stream;
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::sync::{mpsc, watch};

/// Lines longer than this are cut; the rest of the line is dropped (and counted).
pub const MAX_LINE: usize = 64 * 1024;
/// How much of each stream is kept in memory for expectations and captures.
pub const KEEP_BYTES: usize = 1024 * 1024;
/// How long the pipes may stay open after the command exited (a daemon it started may hold
/// them); then reading stops so the step can finish.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(250);

/// Signals from the operator's terminal: each Ctrl-C counts; SIGTERM and SIGHUP (the
/// terminal closed) stop the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals {
    /// Ctrl-C presses so far.
    pub interrupts: u32,
    /// SIGTERM arrived.
    pub terminated: bool,
    /// SIGHUP arrived (the terminal closed).
    pub hangup: bool,
    /// SIGTERM and SIGHUP deliveries, counted: a second one cuts a stopping run's `finally`.
    pub stops: u32,
}

impl Signals {
    /// Whether something arrived since `base` was taken.
    pub fn since(&self, base: Signals) -> bool {
        self.interrupts > base.interrupts
            || self.stops > base.stops
            || (self.terminated && !base.terminated)
            || (self.hangup && !base.hangup)
    }
}

/// What to run and how.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// The bash script (the rendered command); locally it goes in an environment variable, never
    /// in argv.
    pub script: String,
    /// Environment variables set for the script (the step's `env:`, `RUNBOOK_*`).
    pub env: Vec<(String, String)>,
    /// How long it may run before its process group is stopped; `None` for no limit.
    pub timeout: Option<Duration>,
    /// Follow a stream this long, then stop its process group: the end the step asked for.
    pub follow: Option<Duration>,
    /// Time between SIGTERM (or SIGINT) and SIGKILL.
    pub grace: Duration,
    /// Run on another host: this `ssh` command line, which reads the script on its stdin.
    pub remote: Option<Vec<String>>,
}

/// The head of one output stream, and how much there was in all.
#[derive(Debug, Clone, Default)]
pub struct Kept {
    /// The stream's first lines, up to [`KEEP_BYTES`], each ending in a line break.
    pub text: String,
    /// Bytes in the whole stream, line breaks counted.
    pub total_bytes: u64,
    /// Lines were left out of `text`: the stream was longer than [`KEEP_BYTES`].
    pub truncated: bool,
}

impl Kept {
    fn push_line(&mut self, line: &str) {
        self.total_bytes += line.len() as u64 + 1;
        if self.text.len() + line.len() < KEEP_BYTES {
            self.text.push_str(line);
            self.text.push('\n');
        } else {
            self.truncated = true;
        }
    }
}

/// How the command ended.
#[derive(Debug, Clone)]
pub struct ProcessResult {
    /// The exit code, or 128 + signal when a signal ended it.
    pub exit: i32,
    /// It ran past its `timeout` and was stopped.
    pub timed_out: bool,
    /// Stopped at the end of its `follow` duration (then `exit` is 0).
    pub followed: bool,
    /// A signal (Ctrl-C, SIGTERM, SIGHUP) that arrived while it ran stopped it.
    pub interrupted: bool,
    /// The head of its stdout.
    pub stdout: Kept,
    /// The head of its stderr.
    pub stderr: Kept,
    /// How long it ran, until its output was drained.
    pub duration: Duration,
}

/// Receives each line as it arrives (already cut to [`MAX_LINE`]).
pub trait LineSink {
    /// Takes one line of `stream`, without its line break.
    fn line(&mut self, stream: Stream, line: &str);
}

/// Runs the command to its end, its timeout, or an interrupt: a signal counted after `base`
/// (taken by the caller before anything of the step began, so a Ctrl-C that lands while the
/// process is being spawned still counts).
///
/// `spawned` is called once the process exists, with its process group, before any of its
/// output is read (the runner records the start of the step there).
pub async fn run(
    spec: &ProcessSpec,
    sink: &mut dyn LineSink,
    interrupt: &mut watch::Receiver<Signals>,
    base: Signals,
    spawned: &mut dyn FnMut(Option<i32>),
) -> std::io::Result<ProcessResult> {
    let started = Instant::now();
    let mut command = match &spec.remote {
        Some(argv) => crate::remote::command(argv),
        None => bash(&spec.script, &spec.env),
    };
    command
        .stdin(if spec.remote.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // No `pre_exec` (e.g. a parent-death signal): it would force a full fork, whose cost grows
    // with this process's memory; without one the spawn is a posix_spawn that stays flat.
    // A step that outlives a killed runbook is stopped by `resume` (by its process group).
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            spawned(None);
            return Err(err);
        }
    };
    let pgid = child.id().map(|id| id as i32);
    spawned(pgid);
    // A remote step reads its script on stdin, which then stays open: when it closes (the
    // step ends, or `ssh` is stopped), the remote side stops the step's process group.
    let _stdin = match (&spec.remote, child.stdin.take()) {
        (Some(_), Some(mut stdin)) => {
            use tokio::io::AsyncWriteExt;
            let payload = crate::remote::payload(&spec.script, &spec.env);
            let _ = stdin.write_all(&payload).await;
            Some(stdin)
        }
        _ => None,
    };
    let (tx, mut rx) = mpsc::channel::<(Stream, Vec<u8>)>(16);
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pump(out, Stream::Stdout, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pump(err, Stream::Stderr, tx.clone()));
    }
    drop(tx);

    let mut lines = LineSplitter::default();
    let mut stdout = Kept::default();
    let mut stderr = Kept::default();
    let mut deliver =
        |stream: Stream, chunk: &[u8], lines: &mut LineSplitter, sink: &mut dyn LineSink| {
            let kept = match stream {
                Stream::Stdout => &mut stdout,
                Stream::Stderr => &mut stderr,
            };
            lines.feed(stream, chunk, &mut |s, line| {
                kept.push_line(line);
                sink.line(s, line);
            });
        };

    let deadline = spec.timeout.map(|t| tokio::time::Instant::now() + t);
    let follow_end = spec.follow.map(|t| tokio::time::Instant::now() + t);
    let mut followed = false;
    let mut timed_out = false;
    let mut interrupted = false;
    let mut unsignalled = false;
    let mut status = None;
    let mut pipes_open = true;
    while status.is_none() {
        tokio::select! {
            chunk = rx.recv(), if pipes_open => match chunk {
                Some((stream, bytes)) => deliver(stream, &bytes, &mut lines, sink),
                None => pipes_open = false,
            },
            exit = child.wait() => status = Some(exit?),
            () = sleep_until(deadline), if !timed_out && !interrupted && !followed => {
                timed_out = true;
                status = Some(stop(&mut child, pgid, libc::SIGTERM, spec.grace).await?);
            }
            () = sleep_until(follow_end), if !timed_out && !interrupted && !followed => {
                followed = true;
                status = Some(stop(&mut child, pgid, libc::SIGTERM, spec.grace).await?);
            }
            signalled = interrupt.wait_for(|s| s.since(base)), if !interrupted && !timed_out && !followed && !unsignalled => {
                if signalled.is_ok() {
                    interrupted = true;
                    status = Some(stop(&mut child, pgid, libc::SIGINT, spec.grace).await?);
                } else {
                    // Nobody can signal any more (the sender is gone): stop listening.
                    unsignalled = true;
                }
            }
        }
    }
    let killed_by_sigint = status.is_some_and(|s| exit_code(s) == 128 + libc::SIGINT);
    if !interrupted && !timed_out && !followed && killed_by_sigint {
        // The terminal's SIGINT can reach a child spawned in that instant before the runtime
        // has counted it for us: give the count a moment to arrive.
        let mut waiting = interrupt.clone();
        let _ = tokio::time::timeout(
            Duration::from_millis(200),
            waiting.wait_for(|s| s.since(base)),
        )
        .await;
    }
    interrupted |= !timed_out && !followed && interrupt.borrow().since(base);
    if interrupted || timed_out || followed {
        // Whatever the group started must not outlive the step.
        if let Some(pgid) = pgid {
            signal_group(pgid, libc::SIGKILL);
        }
    }
    // Drain what is left; a daemon started by the step may keep the pipes open.
    let drain_until = tokio::time::Instant::now() + DRAIN_AFTER_EXIT;
    while pipes_open {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some((stream, bytes)) => deliver(stream, &bytes, &mut lines, sink),
                None => pipes_open = false,
            },
            () = tokio::time::sleep_until(drain_until) => pipes_open = false,
        }
    }
    lines.finish(&mut |s, line| {
        match s {
            Stream::Stdout => stdout.push_line(line),
            Stream::Stderr => stderr.push_line(line),
        }
        sink.line(s, line);
    });
    // Stopping a followed stream is the step's own end, not a failure of the command.
    let exit = if followed {
        0
    } else {
        exit_code(status.expect("loop ends with a status"))
    };
    Ok(ProcessResult {
        exit,
        timed_out,
        followed,
        interrupted,
        stdout,
        stderr,
        duration: started.elapsed(),
    })
}

/// The environment variable that carries the script to bash (and is unset before it runs).
pub const SCRIPT_VAR: &str = "RUNBOOK_SCRIPT";

/// The fixed program bash runs: the variable is expanded into `eval`'s argument first, then
/// unset by the script's first line, before any of the script's own commands run.
const EVAL_SCRIPT: &str = "eval \"unset RUNBOOK_SCRIPT\n$RUNBOOK_SCRIPT\"";

/// `bash --noprofile --norc -o pipefail` running `script`, with `env` added to the
/// environment, in a process group of its own; the script is not in any argv.
pub fn bash(script: &str, env: &[(String, String)]) -> Command {
    let mut command = Command::new("bash");
    command
        .args(["--noprofile", "--norc", "-o", "pipefail", "-c", EVAL_SCRIPT])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env(SCRIPT_VAR, script)
        .process_group(0)
        .kill_on_drop(true);
    command
}

/// Runs an `interactive: true` step's bash (format 1.1) as the terminal's foreground job, as a
/// shell runs one: in a process group of its own that the terminal is handed to, so the keys
/// that signal (Ctrl-C, Ctrl-\\) reach the command and not runbook, which would take them for
/// the operator stopping the run; the terminal is taken back when it exits. Without a
/// controlling terminal it runs in runbook's group. Returns its exit code (128 + a signal).
pub fn run_in_foreground(script: &str, env: &[(String, String)]) -> std::io::Result<i32> {
    let mut command = std::process::Command::new("bash");
    command
        .args(["--noprofile", "--norc", "-o", "pipefail", "-c", EVAL_SCRIPT])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env(SCRIPT_VAR, script);
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok();
    if let Some(tty) = &tty {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let fd = tty.as_raw_fd();
        command.process_group(0);
        // SAFETY: between fork and exec the child only calls async-signal-safe functions.
        #[allow(unsafe_code, reason = "job control between fork and exec")]
        unsafe {
            command.pre_exec(move || {
                give_terminal(fd, libc::getpid());
                // Ctrl-Z would stop the command with the terminal in its hands, and no shell
                // here to resume it: the key does nothing (an ignored signal stays ignored
                // across exec).
                libc::signal(libc::SIGTSTP, libc::SIG_IGN);
                Ok(())
            });
        }
    }
    let mut child = command.spawn()?;
    FOREGROUND.store(child.id() as i32, std::sync::atomic::Ordering::SeqCst);
    if let Some(tty) = &tty {
        use std::os::fd::AsRawFd;
        // Also from here: whichever of the two runs first, the child has the terminal
        // before it reads a key.
        give_terminal(tty.as_raw_fd(), child.id() as i32);
    }
    let status = child.wait();
    FOREGROUND.store(0, std::sync::atomic::Ordering::SeqCst);
    if let Some(tty) = &tty {
        use std::os::fd::AsRawFd;
        give_terminal(tty.as_raw_fd(), own_process_group());
    }
    Ok(exit_code(status?))
}

/// The process group of the `interactive: true` command running now, 0 when none.
static FOREGROUND: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Passes a signal that stops runbook (SIGTERM, SIGHUP, a SIGINT sent to its pid) on to the
/// `interactive: true` command running in its own process group, if one is: the run stops,
/// so the command does too, rather than being left running where nothing would find it.
#[allow(unsafe_code, reason = "killpg through libc")]
pub fn signal_foreground(signal: i32) {
    let pgid = FOREGROUND.load(std::sync::atomic::Ordering::SeqCst);
    if pgid > 1 {
        // SAFETY: a plain libc call; a group that is gone makes it fail harmlessly.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

/// Makes `pgid` the foreground process group of the terminal `fd`. A process outside the
/// foreground group that asks is sent SIGTTOU, which would stop it: ignored for the call.
#[allow(
    unsafe_code,
    reason = "tcsetpgrp and a signal disposition through libc"
)]
fn give_terminal(fd: std::os::fd::RawFd, pgid: i32) {
    // SAFETY: plain libc calls on a descriptor we hold open; the disposition is put back.
    unsafe {
        let before = libc::signal(libc::SIGTTOU, libc::SIG_IGN);
        libc::tcsetpgrp(fd, pgid);
        libc::signal(libc::SIGTTOU, before);
    }
}

/// This process's group.
#[allow(unsafe_code, reason = "getpgrp through libc")]
fn own_process_group() -> i32 {
    // SAFETY: getpgrp cannot fail.
    unsafe { libc::getpgrp() }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Whether a process group still has a member.
#[allow(unsafe_code, reason = "killpg through libc")]
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: killpg with signal 0 only checks for existence and permission.
    pgid > 1 && unsafe { libc::killpg(pgid, 0) } == 0
}

/// Stops a process group left by an earlier run (SIGTERM, `grace`, SIGKILL); true when it
/// was still there.
pub fn stop_group(pgid: i32, grace: Duration) -> bool {
    if !group_alive(pgid) {
        return false;
    }
    signal_group(pgid, libc::SIGTERM);
    let until = Instant::now() + grace;
    while group_alive(pgid) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    if group_alive(pgid) {
        signal_group(pgid, libc::SIGKILL);
    }
    true
}

#[allow(unsafe_code, reason = "killpg through libc")]
fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: killpg has no memory-safety preconditions; a stale group id fails with ESRCH.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

/// Signals the whole group, waits up to `grace`, then kills it.
async fn stop(
    child: &mut tokio::process::Child,
    pgid: Option<i32>,
    first: i32,
    grace: Duration,
) -> std::io::Result<std::process::ExitStatus> {
    if let Some(pgid) = pgid {
        signal_group(pgid, first);
        if first == libc::SIGINT {
            // bash waits for a foreground child to die of SIGINT; SIGTERM follows for the rest.
            signal_group(pgid, libc::SIGTERM);
        }
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            if let Some(pgid) = pgid {
                signal_group(pgid, libc::SIGKILL);
            }
            child.wait().await
        }
    }
}

/// Reads a pipe in bounded chunks and forwards them.
async fn pump<R: tokio::io::AsyncRead + Unpin>(
    mut reader: R,
    stream: Stream,
    tx: mpsc::Sender<(Stream, Vec<u8>)>,
) {
    loop {
        let mut buf = vec![0u8; 64 * 1024];
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                buf.truncate(n);
                if tx.send((stream, buf)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Splits chunks into lines per stream, cutting lines at [`MAX_LINE`].
#[derive(Default)]
struct LineSplitter {
    partial: [Vec<u8>; 2],
    overflow: [bool; 2],
}

impl LineSplitter {
    fn slot(stream: Stream) -> usize {
        match stream {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }

    fn feed(&mut self, stream: Stream, mut chunk: &[u8], emit: &mut dyn FnMut(Stream, &str)) {
        let i = Self::slot(stream);
        while let Some(nl) = chunk.iter().position(|b| *b == b'\n') {
            self.append(i, &chunk[..nl]);
            let line = String::from_utf8_lossy(&self.partial[i]);
            emit(stream, line.trim_end_matches('\r'));
            self.partial[i].clear();
            self.overflow[i] = false;
            chunk = &chunk[nl + 1..];
        }
        self.append(i, chunk);
    }

    fn append(&mut self, i: usize, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.partial[i].len());
        if bytes.len() > room {
            self.overflow[i] = true;
        }
        self.partial[i].extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn finish(&mut self, emit: &mut dyn FnMut(Stream, &str)) {
        for (i, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            if !self.partial[i].is_empty() {
                let line = String::from_utf8_lossy(&self.partial[i]).into_owned();
                emit(stream, &line);
                self.partial[i].clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Lines(Vec<(Stream, String)>);
    impl LineSink for Lines {
        fn line(&mut self, stream: Stream, line: &str) {
            self.0.push((stream, line.to_owned()));
        }
    }

    fn spec(script: &str) -> ProcessSpec {
        ProcessSpec {
            follow: None,
            script: script.into(),
            env: vec![],
            timeout: None,
            grace: Duration::from_secs(2),
            remote: None,
        }
    }

    #[tokio::test]
    async fn streams_lines_of_both_streams_and_the_exit_code() {
        let (_tx, mut rx) = watch::channel(Signals::default());
        let mut lines = Lines::default();
        let r = run(
            &spec("echo one; echo two >&2; printf three; exit 7"),
            &mut lines,
            &mut rx,
            Signals::default(),
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(r.exit, 7);
        assert_eq!(r.stdout.text, "one\nthree\n");
        assert_eq!(r.stderr.text, "two\n");
        assert!(lines.0.contains(&(Stream::Stderr, "two".into())));
    }

    #[tokio::test]
    async fn pipefail_makes_a_failing_pipeline_fail() {
        let (_tx, mut rx) = watch::channel(Signals::default());
        let r = run(
            &spec("false | cat"),
            &mut Lines::default(),
            &mut rx,
            Signals::default(),
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(r.exit, 1);
    }

    #[tokio::test]
    async fn a_signal_counted_after_the_base_interrupts() {
        // The Ctrl-C arrived before the process started, but after the step began.
        let (tx, mut rx) = watch::channel(Signals::default());
        tx.send_modify(|s| s.interrupts += 1);
        let r = run(
            &spec("sleep 5"),
            &mut Lines::default(),
            &mut rx,
            Signals::default(),
            &mut |_| {},
        )
        .await
        .unwrap();
        assert!(r.interrupted);
        assert!(r.duration < Duration::from_secs(4));
    }

    #[tokio::test]
    async fn the_script_is_in_no_argv_and_not_inherited() {
        let (_tx, mut rx) = watch::channel(Signals::default());
        let mut lines = Lines::default();
        let secret = "s3cret-in-the-script";
        let script = format!(
            "t={secret}; sleep 0.3 & p=$!; \
             for i in $(seq 50); do grep -q sleep /proc/$p/cmdline && break; sleep 0.01; done; \
             cat /proc/$$/cmdline /proc/$p/cmdline | tr '\\0' ' '; echo; \
             env | grep -c {SCRIPT_VAR} ; wait"
        );
        let r = run(
            &spec(&script),
            &mut lines,
            &mut rx,
            Signals::default(),
            &mut |_| {},
        )
        .await
        .unwrap();
        let out = &r.stdout.text;
        assert!(
            out.starts_with("bash --noprofile --norc -o pipefail -c eval"),
            "{out}"
        );
        assert!(out.contains("sleep 0.3"), "{out}");
        assert!(!out.contains(secret), "{out}");
        assert!(out.ends_with("\n0\n"), "{out}");
    }

    #[tokio::test]
    async fn exit_codes_syntax_errors_and_multi_line_scripts_behave_as_with_c() {
        let (_tx, mut rx) = watch::channel(Signals::default());
        let cases = [
            ("exit 3", 3, ""),
            ("echo a\necho \"$LINENO\" >/dev/null\nfalse", 1, "a\n"),
            ("echo one\nif then", 2, "one\n"),
            ("set -e\nfalse\necho not reached", 1, ""),
            ("cat <<EOF\nx $((1+1))\nEOF", 0, "x 2\n"),
        ];
        for (script, exit, stdout) in cases {
            let r = run(
                &spec(script),
                &mut Lines::default(),
                &mut rx,
                Signals::default(),
                &mut |_| {},
            )
            .await
            .unwrap();
            assert_eq!((r.exit, r.stdout.text.as_str()), (exit, stdout), "{script}");
        }
    }

    #[tokio::test]
    async fn long_lines_are_cut() {
        let (_tx, mut rx) = watch::channel(Signals::default());
        let mut lines = Lines::default();
        let script = format!(
            "head -c {} /dev/zero | tr '\\0' x; echo; echo after",
            MAX_LINE * 3
        );
        run(
            &spec(&script),
            &mut lines,
            &mut rx,
            Signals::default(),
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(lines.0[0].1.len(), MAX_LINE);
        assert_eq!(lines.0[1].1, "after");
    }
}
