//! Transition shim for a test file outside tests/it/ that says `mod pty_support;`: the one harness,
//! tests/it/support, under its old name. Move the file into tests/it/ (a module of main.rs) and
//! write `use crate::pty_support;` instead.

#![allow(dead_code, unused_imports)]

#[path = "../it/support/mod.rs"]
mod support;

pub use support::pty_support::*;
