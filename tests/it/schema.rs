//! The JSON Schemas against real files: every playbook and inventory in the repository (and
//! every valid fixture) validates against `schemas/*.v1.json`, and passes `runbook check`.
//! A file the schema refuses but `check` accepts (or the reverse) means the two drifted.

use std::path::{Path, PathBuf};

use crate::support::{Schema, fixtures, parse_yaml, read_yaml, root, runbook, yaml_under};

/// Folders whose YAML must be valid, when they exist.
const FOLDERS: &[&str] = &[
    "playbooks",
    "inventories",
    "examples",
    "tests/fixtures/valid",
];

/// The runbook files under the folders above; YAML without `apiVersion:` / `kind:` is not ours.
fn runbook_files() -> Vec<PathBuf> {
    FOLDERS
        .iter()
        .map(|f| root().join(f))
        .filter(|dir| dir.is_dir())
        .flat_map(|dir| yaml_under(&dir))
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            text.lines()
                .any(|l| l.starts_with("apiVersion:") || l.starts_with("kind:"))
        })
        .collect()
}

#[test]
fn every_file_validates_against_the_schema() {
    let playbook = Schema::load("playbook.v1.json");
    let inventory = Schema::load("inventory.v1.json");
    let files = runbook_files();
    assert!(
        files
            .iter()
            .any(|p| p.starts_with(root().join("playbooks"))),
        "no playbooks found under playbooks/"
    );
    let mut failures = Vec::new();
    for path in &files {
        let value = read_yaml(path);
        let schema = match value["kind"].as_str() {
            Some("Inventory") => &inventory,
            _ => &playbook,
        };
        for error in schema.errors(&value) {
            failures.push(format!(
                "{}: {error}",
                path.strip_prefix(root()).unwrap().display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} schema error(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_file_passes_check() {
    let folders: Vec<&str> = FOLDERS
        .iter()
        .copied()
        .filter(|f| root().join(f).is_dir())
        .collect();
    let out = runbook(["check", "--format", "json"])
        .args_from(folders.iter().copied())
        .run();
    let report = out.json();
    assert_eq!(
        report["errors"],
        0,
        "runbook check {}:\n{}",
        folders.join(" "),
        serde_json::to_string_pretty(&report["diagnostics"]).unwrap()
    );
    out.expect_code(0);
    assert_eq!(
        report["files"].as_u64().unwrap() as usize,
        runbook_files().len()
    );
}

/// The error codes of `check` for rules the JSON Schema cannot express, and why. A file the
/// schema accepts but `check` refuses must fail only these rules; anything else is a rule of
/// shape (types, fields, patterns, ranges) that the schema is missing. The reverse, a file the
/// schema refuses and `check` accepts, is never expected.
const SCHEMA_BLIND: &[(&str, &str)] = &[
    ("duplicate-id", "ids are compared across the whole file"),
    ("unknown-target", "a goto names another step's id"),
    ("unknown-step", "`steps.ID` in a template names a step"),
    ("undefined-name", "names are read out of templates"),
    ("template-syntax", "templates are parsed by minijinja"),
    ("unsafe-placeholder", "shell quoting inside a template"),
    ("reserved-name", "a name must not shadow a built-in"),
    ("bad-regex", "regexes are compiled"),
    ("missing-playbook", "a sub-playbook is another file"),
    (
        "unknown-param",
        "`with:` keys are the sub-playbook's params",
    ),
    ("include-cycle", "includes are followed through other files"),
    ("unknown-host", "group members name hosts of the same file"),
    ("name-clash", "host and group names are compared"),
    ("bad-param", "a default is checked against the param's type"),
    ("misplaced-field", "modifiers depend on the step's action"),
    (
        "bad-capture",
        "exactly one source, where `stdout: false` is none",
    ),
];

/// Parses a file as the editor's YAML plugin would; `None` when it is not YAML at all.
fn parse_for_schema(path: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_yaml(&text).ok()
}

#[test]
fn the_schema_and_check_agree_on_every_file() {
    let playbook = Schema::load("playbook.v1.json");
    let inventory = Schema::load("inventory.v1.json");
    let mut files: Vec<PathBuf> = ["valid", "warnings", "invalid"]
        .iter()
        .flat_map(|kind| fixtures(kind))
        .collect();
    files.extend(
        runbook_files()
            .into_iter()
            .map(|p| p.strip_prefix(root()).unwrap().to_owned()),
    );
    files.sort();
    files.dedup();
    assert!(
        files.iter().any(|f| f.starts_with("playbooks/")),
        "no seed playbooks"
    );

    // One `check` over every file; the errors of each, by file.
    let out = runbook(["check", "--format", "json"])
        .args_from(&files)
        .run();
    let report = out.json();
    let mut errors: std::collections::BTreeMap<String, Vec<String>> =
        std::collections::BTreeMap::new();
    for d in report["diagnostics"].as_array().unwrap() {
        if d["severity"] == "error" {
            errors
                .entry(d["file"].as_str().unwrap().to_owned())
                .or_default()
                .push(d["code"].as_str().unwrap().to_owned());
        }
    }

    let mut disagreements = Vec::new();
    let mut blind_seen = std::collections::BTreeSet::new();
    for file in &files {
        let name = file.display().to_string();
        let schema_errors: Vec<String> = match parse_for_schema(&root().join(file)) {
            None => vec!["not YAML".into()],
            Some(value) => {
                let schema = match value["kind"].as_str() {
                    Some("Inventory") => &inventory,
                    _ => &playbook,
                };
                schema.errors(&value)
            }
        };
        let check_errors = errors.get(&name).cloned().unwrap_or_default();
        match (schema_errors.is_empty(), check_errors.is_empty()) {
            (true, true) | (false, false) => {}
            (false, true) => disagreements.push(format!(
                "{name}: check accepts it, the schema refuses it:\n    {}",
                schema_errors.join("\n    ")
            )),
            (true, false) => {
                for code in &check_errors {
                    if SCHEMA_BLIND.iter().any(|(c, _)| c == code) {
                        blind_seen.insert(code.clone());
                    } else {
                        disagreements.push(format!(
                            "{name}: the schema accepts it, check refuses it with `{code}`, a rule the schema should express"
                        ));
                    }
                }
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s):\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    // Every exception is used by a fixture, so the list cannot grow stale.
    for (code, why) in SCHEMA_BLIND {
        assert!(
            blind_seen.contains(*code),
            "`{code}` ({why}) is listed as invisible to the schema, but no schema-valid fixture fails it"
        );
    }
}
