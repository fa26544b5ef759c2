//! The rest of the command line: `list`, `schema` (and its freshness), `--help`,
//! `--version`, `completions`, and argument errors.

use crate::support::{fixtures, root, runbook, settings};

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
            "fleet",
            "format-1-1",
            "apeg-p0-service-down",
            "minimal",
            "quoted-placeholders",
            "required-param",
            "rotate-credentials",
        ]
    );
    let row = |name: &str| rows.iter().find(|r| r["name"] == name).unwrap();
    let full = row("apeg-p0-service-down");
    assert_eq!(full["title"], "P0: APEG service down");
    assert_eq!(full["version"], "1.2.0");
    assert_eq!(full["severity"], "P0");
    assert_eq!(full["steps"], 15);
    assert_eq!(full["file"], "tests/fixtures/valid/full.yaml");
    assert_eq!(full["tags"], serde_json::json!(["apeg", "incident"]));
    // What a playbook does not set is null, not the table's `-`.
    let minimal = row("minimal");
    assert_eq!(minimal["version"], serde_json::Value::Null);
    assert_eq!(minimal["severity"], serde_json::Value::Null);
    assert_eq!(minimal["tags"], serde_json::json!([]));
    assert_eq!(
        minimal["title"], "minimal",
        "the title falls back to the name"
    );
}

#[test]
fn list_an_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = runbook(["list"]).arg(dir.path()).run();
    out.expect_code(0);
    assert_eq!(out.stdout, "NAME  TITLE  VERSION  SEV  STEPS  FILE  TAGS\n");
}

#[test]
fn list_a_missing_path_is_an_error() {
    let out = runbook(["list", "playbooks", "does-not-exist"]).run();
    out.expect_code(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: does-not-exist: no such file or folder\nhint: list takes folders of playbooks (searched recursively) or playbook files\n"
    );
}

#[test]
fn list_filters_by_severity_and_tags() {
    let names = |args: &[&str]| -> Vec<String> {
        let out = runbook(["list", "playbooks", "--format", "json"])
            .args_from(args.iter().copied())
            .run();
        out.expect_code(0);
        out.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let p0 = names(&["--severity", "P0"]);
    assert!(p0.len() >= 5, "{p0:?}");
    assert!(p0.contains(&"apeg-p0-service-down".to_owned()), "{p0:?}");
    // Severities are alternatives, case does not matter; both ways of repeating work.
    let p0_p1 = names(&["--severity", "p0,P1"]);
    assert_eq!(p0_p1, names(&["--severity", "P0", "--severity", "p1"]));
    assert!(p0_p1.len() > p0.len());
    assert!(p0.iter().all(|n| p0_p1.contains(n)));
    // Tags narrow: every tag given must be there.
    let weekly = names(&["--tag", "weekly"]);
    assert!(weekly.len() >= 3, "{weekly:?}");
    let weekly_db = names(&["--tag", "weekly,database"]);
    assert_eq!(weekly_db, ["gpt-agent-weekly-database-maintenance"]);
    assert_eq!(names(&["--tag", "weekly", "--tag", "database"]), weekly_db);
    assert_eq!(
        names(&["--tag", "weekly", "--severity", "P0"]),
        Vec::<String>::new()
    );
    let out = runbook(["list", "playbooks", "--severity", "P0", "--tag", "apeg"]).run();
    out.expect_code(0);
    let _guard = settings().bind_to_scope();
    insta::assert_snapshot!(out.transcript());
    let out = runbook(["list", "playbooks", "--severity", "P9"]).run();
    out.expect_code(2);
    assert!(
        out.stderr.contains("[possible values: P0, P1, P2, P3, P4]"),
        "{}",
        out.stderr
    );
}

#[test]
fn schema_transcript_is_fresh() {
    let out = runbook(["schema", "transcript"]).run();
    out.expect_code(0);
    let checked_in =
        std::fs::read_to_string(root().join("schemas/transcript.v1.json")).unwrap_or_default();
    assert!(
        out.stdout == checked_in,
        "schemas/transcript.v1.json is stale: run `cargo run -- schema transcript > schemas/transcript.v1.json`"
    );
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

#[test]
fn words_from_other_tools_lead_to_check() {
    for word in ["validate", "lint", "verify"] {
        let out = runbook([word, "playbooks/"]).run();
        out.expect_code(2);
        assert!(
            out.stderr.starts_with(&format!(
                "error: unrecognized subcommand '{word}'\n\n  tip: a similar subcommand exists: 'check'\n"
            )),
            "{}",
            out.stderr
        );
    }
    // A real typo still gets clap's own suggestion.
    let out = runbook(["chek", "playbooks/"]).run();
    out.expect_code(2);
    assert!(out.stderr.contains("'check'"), "{}", out.stderr);
    let _guard = settings().bind_to_scope();
    insta::assert_snapshot!(runbook(["validate", "playbooks/"]).run().transcript());
}

#[test]
fn dry_run_flags_of_other_tools_lead_to_plan() {
    for flag in ["--dry-run", "--check", "-n", "--dry-run=true"] {
        let out = runbook(["run", "tests/fixtures/valid/minimal.yaml", flag]).run();
        out.expect_code(2);
        assert!(
            out.stderr.contains(
                "\n  tip: `runbook plan PLAYBOOK` shows every step with its resolved command, without running anything\n"
            ),
            "{flag}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("to pass '"), "{}", out.stderr);
    }
    // Before the playbook too, and only for `run`.
    let out = runbook(["run", "--dry-run", "tests/fixtures/valid/minimal.yaml"]).run();
    assert!(
        out.stderr.contains("runbook plan PLAYBOOK"),
        "{}",
        out.stderr
    );
    let out = runbook(["check", "--dry-run", "playbooks/"]).run();
    out.expect_code(2);
    assert!(!out.stderr.contains("runbook plan"), "{}", out.stderr);
    let _guard = settings().bind_to_scope();
    insta::assert_snapshot!(
        runbook(["run", "--dry-run", "tests/fixtures/valid/minimal.yaml"])
            .run()
            .transcript()
    );
}
