//! Colour decisions: on for a terminal unless `NO_COLOR` is set, off when piped; output must make
//! sense without colour.

use std::io::IsTerminal;
use std::sync::OnceLock;

use crate::args::ColorChoice;

static CHOICE: OnceLock<ColorChoice> = OnceLock::new();

pub fn init(choice: ColorChoice) {
    let _ = CHOICE.set(choice);
}

fn enabled(is_terminal: bool) -> bool {
    match CHOICE.get().copied().unwrap_or(ColorChoice::Auto) {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            is_terminal
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
        }
    }
}

/// A painter for one stream.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

pub fn stdout() -> Style {
    Style {
        color: enabled(std::io::stdout().is_terminal()),
    }
}

pub fn stderr() -> Style {
    Style {
        color: enabled(std::io::stderr().is_terminal()),
    }
}

// The painters are passed around as `fn(&Style, &str) -> String`.
#[allow(clippy::trivially_copy_pass_by_ref)]
impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    pub fn error(&self, t: &str) -> String {
        self.paint("1;31", t)
    }
    pub fn warning(&self, t: &str) -> String {
        self.paint("1;33", t)
    }
    pub fn ok(&self, t: &str) -> String {
        self.paint("1;32", t)
    }
    pub fn hint(&self, t: &str) -> String {
        self.paint("1;36", t)
    }
    pub fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
    pub fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
    pub fn command(&self, t: &str) -> String {
        self.paint("36", t)
    }
}
