//! The binary in a pseudo-terminal (rexpect): everything it printed is kept as the "screen".

use std::process::Command;
use std::time::{Duration, Instant};

use rexpect::process::WaitStatus;
use rexpect::reader::Options;
use rexpect::session::{PtySession, spawn_with_options};

/// How long one `expect` waits for its text.
pub const EXPECT_MS: u64 = 10_000;

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
    /// Starts `cmd` in a pseudo-terminal; the screen keeps its text, escape sequences taken out.
    pub fn spawn(cmd: Command) -> Term {
        Self::spawn_with(cmd, true)
    }

    /// As [`Term::spawn`], keeping every byte the binary wrote, escape sequences included.
    pub fn spawn_raw(cmd: Command) -> Term {
        Self::spawn_with(cmd, false)
    }

    /// As [`Term::spawn_raw`], the terminal set up with `stty SETTINGS` first (rexpect's starts
    /// with echo off and no size): `sh` runs `stty`, then becomes `cmd`, with its environment and
    /// working directory.
    pub fn spawn_raw_after_stty(cmd: Command, settings: &str) -> Term {
        let mut sh = Command::new("sh");
        sh.env_clear()
            .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .args(["-c", &format!("stty {settings}; exec \"$0\" \"$@\"")])
            .arg(cmd.get_program())
            .args(cmd.get_args());
        if let Some(dir) = cmd.get_current_dir() {
            sh.current_dir(dir);
        }
        Self::spawn_raw(sh)
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

    /// Ctrl-`key` (`'z'` for Ctrl-Z), as the keyboard sends it.
    pub fn send_control(&mut self, key: char) {
        self.session.send_control(key).expect("send a control key");
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

    /// How often `needle` is on the screen so far.
    pub fn count(&self, needle: &str) -> usize {
        self.screen.matches(needle).count()
    }
}
