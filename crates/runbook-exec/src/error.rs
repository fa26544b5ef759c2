//! The executor's errors: problems found before or outside a step (a failing step is an
//! outcome, not an error).

use std::path::PathBuf;

use runbook_model::Diagnostic;

/// Why a run, a plan or loading its values could not go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A `--var-file` is not a YAML map of values.
    #[error("{}: {message}", path.display())]
    VarFile {
        /// The file as given.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A template could not be rendered.
    #[error("{what}: {message}")]
    Template {
        /// What holds the template, such as a variable.
        what: String,
        /// The template engine's error.
        message: String,
    },
    /// A value does not fit its param (type, choices, duration syntax).
    #[error("value of `{name}`: {why}")]
    BadValue {
        /// The param.
        name: String,
        /// Why the value does not fit.
        why: String,
    },
    /// Required params that nothing set, by name.
    #[error("required param{} not set: {}", if .0.len() == 1 { "" } else { "s" }, .0.join(", "))]
    MissingParams(Vec<String>),
    /// A playbook failed `check`.
    #[error("{} is invalid", path.display())]
    Invalid {
        /// The playbook.
        path: PathBuf,
        /// Its problems.
        diagnostics: Vec<Diagnostic>,
    },
    /// A step's `on:` names no host or group of the inventory.
    #[error("step `{step}`: `on: {target}` names no host or group of the inventory")]
    UnknownTarget {
        /// The step's id.
        step: String,
        /// Its `on:` value.
        target: String,
    },
    /// A step runs on inventory hosts and the run has no inventory.
    #[error("step `{step}` runs on `{target}`, which needs an inventory (-i)")]
    NoInventory {
        /// The step's id.
        step: String,
        /// Its `on:` value (or the inventory's `target:`).
        target: String,
    },
    /// The transcript could not be created, written or closed.
    #[error("cannot write the transcript {}: {source}", path.display())]
    Transcript {
        /// The transcript.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Sub-playbooks nest deeper than this many levels.
    #[error("sub-playbook nesting is deeper than {0} levels")]
    TooDeep(usize),
}

impl Error {
    /// A hint line for the operator, where a fix is known.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::MissingParams(names) => Some(format!(
                "set {} with --var {}=VALUE, an inventory (-i) or a --var-file",
                if names.len() == 1 { "it" } else { "them" },
                names[0]
            )),
            Error::UnknownTarget { .. } => {
                Some("check `hosts:` and `groups:` in the inventory".into())
            }
            Error::NoInventory { .. } => {
                Some("pass the environment's inventory with -i FILE".into())
            }
            _ => None,
        }
    }
}
