//! The rest of the command line: `list`, `schema` (and its freshness), `--help`,
//! `--version`, `completions`, and argument errors.

mod common;

use common::{fixtures, root, runbook, settings};

#[test]
fn list_the_fixtures() {
    // Lists every fixture that parses (validation is `check`'s job): adding a fixture changes
    // this snapshot; review it with `INSTA_UPDATE=always cargo test --test cli`.
    let out = runbook(["list", "tests/fixtures"]).run();
    out.expect_code(0);
    let _guard = settings().bind_to_scope();
    insta::assert_snapshot!(out.transcript());
}

#[test]
fn list_as_json() {
    let out = runbook(["list", "tests/fixtures/valid", "--format", "json"]).run();
    out.expect_code(0);
    let rows = out.json();
    let rows = rows.as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "bounded-loop",
            "common-verify-http",
            "docker-names",
            "apeg-p0-service-down",
            "minimal",
            "quoted-placeholders",
            "required-param",
            "rotate-credentials",
        ]
    );
    let full = &rows[3];
    assert_eq!(full["title"], "P0: APEG service down");
    assert_eq!(full["version"], "1.2.0");
    assert_eq!(full["severity"], "P0");
    assert_eq!(full["steps"], 15);
    assert_eq!(full["file"], "tests/fixtures/valid/full.yaml");
}

#[test]
fn list_an_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = runbook(["list"]).arg(dir.path()).run();
    out.expect_code(0);
    assert_eq!(out.stdout, "NAME  TITLE  VERSION  SEV  STEPS  FILE\n");
}

#[test]
fn schema_playbook_is_fresh() {
    let out = runbook(["schema"]).run();
    out.expect_code(0);
    let file = root().join("schemas/playbook.v1.json");
    let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        out.stdout == checked_in,
        "schemas/playbook.v1.json is stale: run `cargo run -- schema > schemas/playbook.v1.json`"
    );
    let explicit = runbook(["schema", "playbook"]).run();
    assert_eq!(explicit.stdout, out.stdout);
}

#[test]
fn schema_inventory_is_fresh() {
    let out = runbook(["schema", "inventory"]).run();
    out.expect_code(0);
    let file = root().join("schemas/inventory.v1.json");
    let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        out.stdout == checked_in,
        "schemas/inventory.v1.json is stale: run `cargo run -- schema inventory > schemas/inventory.v1.json`"
    );
}

#[test]
fn schemas_describe_the_format() {
    let playbook = runbook(["schema"]).run().json();
    assert_eq!(playbook["title"], "runbook playbook (runbook/v1)");
    assert_eq!(playbook["properties"]["apiVersion"]["const"], "runbook/v1");
    assert_eq!(playbook["properties"]["kind"]["const"], "Playbook");
    let required = playbook["required"].as_array().unwrap();
    for field in ["apiVersion", "kind", "metadata", "steps"] {
        assert!(required.iter().any(|r| r == field), "{field} not required");
    }
    let inventory = runbook(["schema", "inventory"]).run().json();
    assert_eq!(inventory["properties"]["kind"]["const"], "Inventory");
}

#[test]
fn help_teaches_with_examples_and_exit_codes() {
    let out = runbook(["--help"]).run();
    out.expect_code(0);
    for needle in [
        "Usage: runbook",
        "check",
        "plan",
        "list",
        "schema",
        "completions",
        "Examples:",
        "runbook check playbooks/",
        "Exit codes: 0 success",
        "2 invalid input",
    ] {
        assert!(
            out.stdout.contains(needle),
            "`{needle}` missing:\n{}",
            out.stdout
        );
    }
    for command in ["check", "plan", "run", "completions"] {
        let out = runbook([command, "--help"]).run();
        out.expect_code(0);
        assert!(
            out.stdout.contains("Example"),
            "`runbook {command} --help` has no example:\n{}",
            out.stdout
        );
    }
}

#[test]
fn help_opens_with_what_runbook_is() {
    // Not the runbook-cli crate's description, which is written for developers.
    let out = runbook(["--help"]).run();
    assert!(
        out.stdout.starts_with("Executable runbooks"),
        "{}",
        out.stdout
    );
}

#[test]
fn version() {
    let out = runbook(["--version"]).run();
    out.expect_code(0);
    assert_eq!(
        out.stdout,
        format!("runbook {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = runbook(["check", "--version"]).run();
    out.expect_code(0);
    assert!(out.stdout.contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn completions() {
    let out = runbook(["completions", "bash"]).run();
    out.expect_code(0);
    assert!(out.stdout.contains("_runbook()"), "{}", out.stdout);
    assert!(
        out.stdout.contains("complete -F _runbook"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--deny-warnings"), "{}", out.stdout);
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = runbook(["completions", shell]).run();
        out.expect_code(0);
        assert!(out.stdout.contains("runbook"), "{shell}");
    }
    let out = runbook(["completions", "tcsh"]).run();
    out.expect_code(2);
}

#[test]
fn unknown_command_is_invalid_input() {
    let out = runbook(["frobnicate"]).run();
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("error: unrecognized subcommand 'frobnicate'"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
}

#[test]
fn unknown_flag_is_invalid_input() {
    let out = runbook(["check", "--frobnicate", "tests/fixtures/valid"]).run();
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("error: unexpected argument '--frobnicate' found"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_flag_values_are_invalid_input() {
    for args in [
        vec!["check", "--format", "xml", "tests/fixtures/valid"],
        vec!["check"],
        vec!["plan"],
        vec![
            "plan",
            "tests/fixtures/valid/minimal.yaml",
            "--format",
            "pdf",
        ],
        vec![
            "plan",
            "tests/fixtures/valid/minimal.yaml",
            "--var",
            "novalue",
        ],
        vec!["schema", "runbook"],
        vec!["--color", "sometimes", "check", "tests/fixtures/valid"],
        vec![],
    ] {
        let out = runbook(args.iter().copied()).run();
        assert_eq!(out.code, 2, "runbook {args:?}\n{}", out.transcript());
        assert!(!out.stderr.is_empty(), "runbook {args:?}: says nothing");
    }
}

#[test]
fn stdin_is_not_read() {
    // Nothing here prompts: a closed or noisy stdin changes nothing.
    let out = runbook(["check", "tests/fixtures/valid/minimal.yaml"])
        .stdin("y\ny\ny\n")
        .run();
    out.expect_code(0);
}

#[test]
fn fixtures_are_where_the_tests_expect_them() {
    assert!(fixtures("valid").iter().any(|p| p.ends_with("full.yaml")));
    assert!(
        fixtures("invalid")
            .iter()
            .any(|p| p.ends_with("not-utf8.yaml"))
    );
}
