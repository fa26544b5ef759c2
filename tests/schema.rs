//! The JSON Schemas against real files: every playbook and inventory in the repository (and
//! every valid fixture) validates against `schemas/*.v1.json`, and passes `runbook check`.
//! A file the schema refuses but `check` accepts (or the reverse) means the two drifted.

mod common;

use std::path::{Path, PathBuf};

use common::{root, runbook, yaml_under};

/// Folders whose YAML must be valid, when they exist.
const FOLDERS: &[&str] = &[
    "playbooks",
    "inventories",
    "examples",
    "tests/fixtures/valid",
];

fn validator(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schemas").join(name)).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema)
        .unwrap_or_else(|err| panic!("schemas/{name} is not a valid JSON Schema: {err}"))
}

/// Parses YAML the way the loader does (strict booleans), into JSON.
fn yaml_to_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    serde_saphyr::from_str_with_options(&text, options)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

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
    let playbook = validator("playbook.v1.json");
    let inventory = validator("inventory.v1.json");
    let files = runbook_files();
    assert!(
        files
            .iter()
            .any(|p| p.starts_with(root().join("playbooks"))),
        "no playbooks found under playbooks/"
    );
    let mut failures = Vec::new();
    for path in &files {
        let value = yaml_to_json(path);
        let validator = match value["kind"].as_str() {
            Some("Inventory") => &inventory,
            _ => &playbook,
        };
        for error in validator.iter_errors(&value) {
            failures.push(format!(
                "{} at {}: {error}",
                path.strip_prefix(root()).unwrap().display(),
                error.instance_path()
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

#[test]
fn the_schema_refuses_what_check_refuses_for_its_shape() {
    // Shape errors (types, unknown fields, missing fields) are the schema's job too.
    let playbook = validator("playbook.v1.json");
    for name in [
        "invalid-yaml-unknown-field.yaml",
        "invalid-yaml-wrong-type.yaml",
        "unknown-version.yaml",
        "unknown-kind.yaml",
        "missing-version.yaml",
        "missing-kind.yaml",
    ] {
        let path = root().join("tests/fixtures/invalid").join(name);
        let value = yaml_to_json(&path);
        assert!(!playbook.is_valid(&value), "the schema accepts {name}");
    }
}
