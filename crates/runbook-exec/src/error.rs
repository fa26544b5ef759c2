//! The executor's errors: problems found before or outside a step (a failing step is an
//! outcome, not an error).

use std::path::PathBuf;

use runbook_model::Diagnostic;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    VarFile { path: PathBuf, message: String },
    #[error("{what}: {message}")]
    Template { what: String, message: String },
    #[error("value of `{name}`: {why}")]
    BadValue { name: String, why: String },
    #[error("required param{} not set: {}", if .0.len() == 1 { "" } else { "s" }, .0.join(", "))]
    MissingParams(Vec<String>),
    #[error("{} is invalid", path.display())]
    Invalid {
        path: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
    #[error("step `{step}`: `on: {target}` names no host or group of the inventory")]
    UnknownTarget { step: String, target: String },
    #[error("step `{step}` runs on `{target}`, which needs an inventory (-i)")]
    NoInventory { step: String, target: String },
    #[error("cannot write the transcript {}: {source}", path.display())]
    Transcript {
        path: PathBuf,
        source: std::io::Error,
    },
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
