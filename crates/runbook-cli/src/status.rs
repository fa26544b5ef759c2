//! The status line: the terminal's last row, kept for the incident clock, the current step and
//! the next escalation while an operator works a run. It ticks by itself once a second, so the
//! clock is current while a question waits for minutes.
//!
//! The row is reserved with a scroll region (DECSTBM): everything else the run prints scrolls
//! above it, and the line is drawn with the cursor saved and restored, so it never moves what
//! the operator is typing. Only on a terminal that understands it (not `TERM=dumb`, a known
//! size); programs that take the whole terminal (`$EDITOR`, the `!` shell) get it back whole
//! while they run ([`StatusLine::suspend`]).

use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::prompt::{Clock, to_operator};
use crate::style::Style;

/// The status line of one interactive run; gone (the terminal given back whole) on drop.
pub struct StatusLine {
    shared: Arc<Shared>,
    ticker: Option<JoinHandle<()>>,
}

struct Shared {
    clock: Clock,
    style: Style,
    /// "step 4 of 9 · resources": set when a step's card is shown.
    step: Mutex<String>,
    /// A question waits for the operator's answer.
    waiting: AtomicBool,
    /// The terminal's rows when the region was last set; 0 while suspended.
    rows: AtomicU16,
    stop: AtomicBool,
    /// Wakes the ticker early: at the end, and when the step changes.
    wake: (Mutex<bool>, Condvar),
}

impl StatusLine {
    /// Reserves the last row and starts the ticker, when the operator's terminal can do it.
    pub fn start(clock: Clock, style: Style) -> Option<StatusLine> {
        let term = std::env::var("TERM").unwrap_or_default();
        if term.is_empty() || term == "dumb" {
            return None;
        }
        let (rows, cols) = terminal_size()?;
        if rows < 4 {
            return None;
        }
        let shared = Arc::new(Shared {
            clock,
            style,
            step: Mutex::new(String::new()),
            waiting: AtomicBool::new(false),
            rows: AtomicU16::new(0),
            stop: AtomicBool::new(false),
            wake: (Mutex::new(false), Condvar::new()),
        });
        shared.reserve(rows);
        shared.draw(cols);
        let ticker = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("status-line".into())
                .spawn(move || shared.tick())
                .ok()
        };
        Some(StatusLine { shared, ticker })
    }

    /// Shows `text` (the current step) on the line, now.
    pub fn set_step(&self, text: String) {
        *self
            .shared
            .step
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = text;
        self.shared.nudge();
    }

    /// Says on the line that a question waits for the operator (or no longer does).
    pub fn set_waiting(&self, waiting: bool) {
        if self.shared.waiting.swap(waiting, Ordering::SeqCst) != waiting {
            self.shared.nudge();
        }
    }

    /// Gives the terminal back whole until the guard drops (an editor, a shell).
    pub fn suspend(&self) -> Suspended<'_> {
        self.shared.release();
        Suspended(self)
    }
}

/// While it lives, the status line is off and the last row belongs to someone else.
pub struct Suspended<'s>(&'s StatusLine);

impl Drop for Suspended<'_> {
    fn drop(&mut self) {
        if let Some((rows, cols)) = terminal_size() {
            self.0.shared.reserve(rows);
            self.0.shared.draw(cols);
        }
    }
}

impl Drop for StatusLine {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.nudge();
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
        self.shared.release();
    }
}

impl Shared {
    fn tick(&self) {
        loop {
            // Sleeps to the next whole second of the clock, so it turns like a clock.
            let into = self.clock.clock.elapsed().subsec_millis();
            let wait = Duration::from_millis(u64::from(1000 - into));
            let (lock, cvar) = &self.wake;
            let mut woken = lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !*woken {
                woken = cvar
                    .wait_timeout(woken, wait)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
            *woken = false;
            drop(woken);
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            let rows = self.rows.load(Ordering::SeqCst);
            if rows == 0 {
                continue; // suspended
            }
            // A resized terminal: the region follows its new last row.
            let size = terminal_size();
            if let Some((now, _)) = size
                && now != rows
                && now >= 4
            {
                self.reserve(now);
            }
            self.draw(size.map_or(80, |(_, cols)| cols));
        }
    }

    fn nudge(&self) {
        let (lock, cvar) = &self.wake;
        *lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        cvar.notify_one();
    }

    /// Makes the last row the status line's: a new line first, so nothing on the screen is
    /// lost under it, then the scroll region above it (which homes the cursor: saved around).
    fn reserve(&self, rows: u16) {
        self.rows.store(rows, Ordering::SeqCst);
        write_all(&format!("\n\x1b7\x1b[1;{}r\x1b8\x1b[1A", rows - 1));
    }

    /// Gives the whole terminal back and clears the last row.
    fn release(&self) {
        let rows = self.rows.swap(0, Ordering::SeqCst);
        if rows == 0 {
            return;
        }
        write_all(&format!("\x1b7\x1b[r\x1b[{rows};1H\x1b[2K\x1b8"));
    }

    /// Draws the line on a terminal `cols` wide.
    fn draw(&self, cols: u16) {
        let rows = self.rows.load(Ordering::SeqCst);
        if rows == 0 {
            return;
        }
        let cols = usize::from(cols);
        let step = self
            .step
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let waiting = self.waiting.load(Ordering::SeqCst);
        let text = status_text(&self.clock, &step, waiting, cols);
        // One write: the line never lands half-way through other output.
        write_all(&format!(
            "\x1b7\x1b[{rows};1H\x1b[2K{}\x1b8",
            self.style.dim(&text)
        ));
    }
}

/// The line itself: clock, step, next escalation, cut to the terminal's width.
fn status_text(clock: &Clock, step: &str, waiting: bool, cols: usize) -> String {
    let mut text = clock.text();
    let mut middle = String::new();
    if !step.is_empty() {
        middle.push_str(&format!(" · {step}"));
    }
    if waiting {
        middle.push_str(" · waiting for your answer");
    }
    let at = text.find(" · ").unwrap_or(text.len());
    text.insert_str(at, &middle);
    if text.chars().count() >= cols {
        text = text
            .chars()
            .take(cols.saturating_sub(2))
            .collect::<String>()
            + "…";
    }
    text
}

fn write_all(text: &str) {
    to_operator(|out| {
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    });
}

/// Rows and columns of the operator's terminal (stderr, else /dev/tty).
/// Asked once a second: /dev/tty is opened only when neither stderr nor stdin is the terminal.
fn terminal_size() -> Option<(u16, u16)> {
    use std::os::fd::AsRawFd;
    size_of(2).or_else(|| size_of(0)).or_else(|| {
        let tty = std::fs::File::open("/dev/tty").ok()?;
        size_of(tty.as_raw_fd())
    })
}

fn size_of(fd: std::os::fd::RawFd) -> Option<(u16, u16)> {
    // SAFETY: winsize is plain data; TIOCGWINSZ fills it or fails without touching it.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd (or the call fails with EBADF/ENOTTY) and a valid pointer.
    let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0 && size.ws_row > 0;
    ok.then(|| (size.ws_row, size.ws_col.max(20)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock_at(elapsed: Duration, deadline: Option<Duration>) -> Clock {
        let start = runbook_transcript::time::unix_ms(std::time::SystemTime::now())
            - elapsed.as_millis() as u64;
        Clock {
            clock: runbook_transcript::time::Clock::since(start),
            deadlines: deadline
                .map(|d| (d, "oncall".to_owned()))
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn the_line_puts_the_step_between_clock_and_escalation() {
        let clock = clock_at(Duration::from_secs(65), Some(Duration::from_secs(300)));
        let text = status_text(&clock, "step 4 of 9 · resources", true, 200);
        assert!(
            text.starts_with("⏱ 00:01:0") && text.contains(" · step 4 of 9 · resources · waiting for your answer · next escalation: oncall in 00:03:5"),
            "{text}"
        );
    }

    #[test]
    fn a_narrow_terminal_cuts_the_line() {
        let clock = clock_at(Duration::from_secs(5), None);
        let text = status_text(
            &clock,
            "step 1 of 2 · a-step-with-a-very-long-name",
            false,
            24,
        );
        assert_eq!(text.chars().count(), 23, "{text}");
        assert!(text.ends_with('…'));
    }
}
