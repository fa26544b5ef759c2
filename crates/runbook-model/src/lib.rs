//! The runbook playbook model: the serde types of format `runbook/v1` (playbooks and
//! inventories), loading with version dispatch, validation that collects every problem with
//! its file, line and column, the diagnostics printers, and the JSON Schemas.
//!
//! **Invariant:** nothing here panics on input; every problem is a [`Diagnostic`].
//! **Invariant:** nothing here touches the terminal; rendering returns strings.

#![forbid(unsafe_code)]
// Diagnostics travel on the cold error path only; boxing them would buy nothing measurable.
#![allow(clippy::result_large_err)]

pub mod cron;
pub mod diagnostic;
pub mod duration;
pub mod hosts;
pub mod inventory;
pub mod load;
pub mod playbook;
mod recover;
pub mod schema;
pub mod source;
pub mod spanned;
mod strict;
pub mod suggest;
pub mod tree;
pub mod validate;

use std::path::Path;

pub use diagnostic::{Diagnostic, Severity};
pub use inventory::{Channel, Group, Host, Inventory};
pub use load::{CURRENT_VERSION, Document, Kind, SUPPORTED_VERSIONS};
pub use playbook::{Action, Flow, OnFailure, Param, ParamType, Playbook, Step};
pub use source::Source;
pub use spanned::{Loc, Spanned};
pub use tree::Tree;

/// A file read and checked: its source, what it holds (when it parsed), and its problems.
#[derive(Debug)]
pub struct Checked {
    /// The file's text, when it could be read.
    pub source: Option<Source>,
    /// The playbook or inventory, when it parsed.
    pub document: Option<Document>,
    /// Every problem found, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// Whether any diagnostic is an error (warnings alone pass).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Reads, parses and validates one file.
pub fn check_file(path: &Path) -> Checked {
    match load::read_source(path) {
        Ok(bytes) => check_bytes(path, bytes),
        Err(diagnostic) => Checked {
            source: None,
            document: None,
            diagnostics: vec![diagnostic],
        },
    }
}

/// Parses and validates a file's bytes; `path` names it in diagnostics and locates
/// sub-playbooks.
pub fn check_bytes(path: &Path, bytes: Vec<u8>) -> Checked {
    // Parsing and template compilation recurse with the input's nesting: run them on a thread
    // whose stack does not depend on the caller's (test threads and tokio workers get 2 MiB).
    // The stack is reserved, not committed: only what is touched costs memory.
    let owned = path.to_owned();
    let worker = std::thread::Builder::new()
        .name("check".into())
        .stack_size(CHECK_STACK)
        .spawn(move || check_bytes_here(&owned, bytes));
    match worker {
        Ok(handle) => handle.join().unwrap_or_else(|_| Checked {
            source: None,
            document: None,
            diagnostics: vec![Diagnostic::file_error(
                "internal",
                &path.display().to_string(),
                "internal error while checking this file",
            )],
        }),
        Err(_) => Checked {
            source: None,
            document: None,
            diagnostics: vec![Diagnostic::file_error(
                "internal",
                &path.display().to_string(),
                "cannot start a thread to check this file",
            )],
        },
    }
}

/// Stack for checking one file.
const CHECK_STACK: usize = 256 * 1024 * 1024;

fn check_bytes_here(path: &Path, bytes: Vec<u8>) -> Checked {
    let display = path.display().to_string();
    let source = match load::decode(&display, bytes) {
        Ok(source) => source,
        Err(diagnostics) => {
            return Checked {
                source: None,
                document: None,
                diagnostics,
            };
        }
    };
    // Unknown fields are reported and left out, so the rest is still parsed and validated.
    let (document, mut diagnostics) = load::parse_document_recovering(&source);
    let Some(document) = document else {
        return Checked {
            source: Some(source),
            document: None,
            diagnostics,
        };
    };
    diagnostics.extend(match &document {
        Document::Playbook(playbook) => validate::validate_playbook(&source, playbook, Some(path)),
        Document::Inventory(inventory) => validate::validate_inventory(&source, inventory),
    });
    diagnostic::sort(&mut diagnostics);
    Checked {
        source: Some(source),
        document: Some(document),
        diagnostics,
    }
}
