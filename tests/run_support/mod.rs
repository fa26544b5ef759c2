//! Transition shim for a test file outside tests/it/ that says `mod run_support;`: the one harness,
//! tests/it/support, under its old name. Move the file into tests/it/ (a module of main.rs) and
//! write `use crate::run_support;` instead.

#![allow(dead_code, unused_imports)]

#[path = "../it/support/mod.rs"]
mod support;

pub use support::run_support::*;
