//! Transition names: what `tests/common` offered (the binary at the workspace root, fixtures,
//! insta settings). New tests use `crate::support` directly.

// Not every old name is still used: they stay for the tests being written against them.
#![allow(unused_imports)]

pub use super::{Output, Runbook, expected_codes, fixtures, root, runbook, settings, yaml_under};
