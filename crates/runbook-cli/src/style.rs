//! Colour decisions and painters. Whether a stream gets colour is decided once, by anstream
//! (`--color`, then `NO_COLOR`, `CLICOLOR_FORCE`, `CLICOLOR`, `TERM=dumb` and whether the
//! stream is a terminal), for our own output and tracing's log lines alike. Output must make
//! sense without colour.

use anstream::{AutoStream, ColorChoice as Decision};
use anstyle::{AnsiColor, Effects};

use crate::args::ColorChoice;

/// Makes `--color` the process-wide choice; `auto` leaves it to the environment.
pub fn init(choice: ColorChoice) {
    let decision = match choice {
        ColorChoice::Auto => Decision::Auto,
        ColorChoice::Always => Decision::AlwaysAnsi,
        ColorChoice::Never => Decision::Never,
    };
    decision.write_global();
}

fn colored(decision: Decision) -> bool {
    decision != Decision::Never
}

/// A painter for one stream.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

/// The painter for stdout.
pub fn stdout() -> Style {
    Style {
        color: colored(AutoStream::choice(&std::io::stdout())),
    }
}

/// The painter for stderr (also what tracing's log lines use).
pub fn stderr() -> Style {
    Style {
        color: colored(AutoStream::choice(&std::io::stderr())),
    }
}

// The painters are passed around as `fn(&Style, &str) -> String`.
#[allow(clippy::trivially_copy_pass_by_ref)]
impl Style {
    fn paint(&self, style: anstyle::Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }
    /// `error:` and failures: bold red.
    pub fn error(&self, t: &str) -> String {
        self.paint(AnsiColor::Red.on_default().bold(), t)
    }
    /// `warning:` and warnings: bold yellow.
    pub fn warning(&self, t: &str) -> String {
        self.paint(AnsiColor::Yellow.on_default().bold(), t)
    }
    /// Success: bold green.
    pub fn ok(&self, t: &str) -> String {
        self.paint(AnsiColor::Green.on_default().bold(), t)
    }
    /// `hint:` lines: bold cyan.
    pub fn hint(&self, t: &str) -> String {
        self.paint(AnsiColor::Cyan.on_default().bold(), t)
    }
    /// Emphasis.
    pub fn bold(&self, t: &str) -> String {
        self.paint(anstyle::Style::new().bold(), t)
    }
    /// Secondary text.
    pub fn dim(&self, t: &str) -> String {
        self.paint(anstyle::Style::new().effects(Effects::DIMMED), t)
    }
    /// Commands: cyan.
    pub fn command(&self, t: &str) -> String {
        self.paint(AnsiColor::Cyan.on_default(), t)
    }
}
