//! `runbook check`: the fixtures in tests/fixtures/{valid,warnings,invalid}, every output
//! format, `--deny-warnings`, and folder walking.

use std::collections::BTreeMap;

use crate::support::{expected_codes, fixtures, runbook, settings};

#[test]
fn every_valid_fixture_passes() {
    let files = fixtures("valid");
    assert!(files.len() >= 5, "fixtures missing: {files:?}");
    for file in files {
        let out = runbook(["check"]).arg(&file).run();
        out.expect_code(0);
        assert_eq!(out.stdout, "", "{}: {}", file.display(), out.transcript());
        assert_eq!(out.stderr, "checked 1 file: no problems\n");
    }
}

#[test]
fn the_valid_folder_passes_as_a_whole() {
    let out = runbook(["check", "tests/fixtures/valid"]).run();
    out.expect_code(0);
    let count = fixtures("valid").len();
    assert_eq!(out.stderr, format!("checked {count} files: no problems\n"));
}

#[test]
fn every_warning_fixture_passes_with_its_warning() {
    for file in fixtures("warnings") {
        let out = runbook(["check", "--format", "json"]).arg(&file).run();
        out.expect_code(0);
        let report = out.json();
        assert_eq!(report["errors"], 0, "{}", file.display());
        assert_eq!(codes(&report), expected_codes(&file), "{}", file.display());
    }
}

#[test]
fn deny_warnings_fails_a_warning_only_file() {
    for file in fixtures("warnings") {
        let out = runbook(["check", "--deny-warnings"]).arg(&file).run();
        out.expect_code(2);
        assert!(
            out.stdout.starts_with("error["),
            "{}: a denied warning prints as an error\n{}",
            file.display(),
            out.transcript()
        );
    }
    let out = runbook([
        "check",
        "--deny-warnings",
        "--format",
        "json",
        "tests/fixtures/warnings/goto-loop.yaml",
    ])
    .run();
    out.expect_code(2);
    let report = out.json();
    assert_eq!(
        (report["errors"].as_u64(), report["warnings"].as_u64()),
        (Some(1), Some(0))
    );
}

#[test]
fn deny_warnings_passes_a_clean_file() {
    runbook([
        "check",
        "--deny-warnings",
        "tests/fixtures/valid/minimal.yaml",
    ])
    .run()
    .expect_code(0);
}

#[test]
fn every_invalid_fixture_fails_with_its_diagnostics() {
    let files = fixtures("invalid");
    assert!(files.len() >= 30, "fixtures missing: {files:?}");
    let _guard = settings().bind_to_scope();
    for file in files {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();

        let out = runbook(["check", "--format", "json"]).arg(&file).run();
        out.expect_code(2);
        assert_eq!(
            codes(&out.json()),
            expected_codes(&file),
            "{}: the codes differ from its `# expect:` line",
            file.display()
        );

        let out = runbook(["check"]).arg(&file).env("NO_COLOR", "1").run();
        out.expect_code(2);
        assert!(!out.stdout.contains('\x1b'), "colour when piped");
        insta::assert_snapshot!(format!("invalid-{stem}"), out.transcript());
    }
}

#[test]
fn json_format_reports_counts_and_places() {
    let out = runbook([
        "check",
        "--format",
        "json",
        "tests/fixtures/valid/minimal.yaml",
        "tests/fixtures/invalid/mixed-problems.yaml",
        "tests/fixtures/warnings/goto-loop.yaml",
    ])
    .run();
    out.expect_code(2);
    let report = out.json();
    assert_eq!(report["files"], 3);
    assert_eq!(report["errors"], 5);
    assert_eq!(report["warnings"], 3);
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 8);
    for d in diagnostics {
        for field in ["severity", "code", "message", "file", "line", "column"] {
            assert!(!d[field].is_null(), "`{field}` missing in {d}");
        }
    }
    let mut per_file = BTreeMap::new();
    for d in diagnostics {
        *per_file.entry(d["file"].as_str().unwrap()).or_insert(0) += 1;
    }
    assert_eq!(
        per_file,
        BTreeMap::from([
            ("tests/fixtures/invalid/mixed-problems.yaml", 7),
            ("tests/fixtures/warnings/goto-loop.yaml", 1),
        ])
    );
    let first = &diagnostics[0];
    assert_eq!(first["code"], "bad-name");
    let _guard = settings().bind_to_scope();
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(5), Some(9))
    );
    assert_eq!(
        first["hint"],
        "use lowercase words joined by `-`, like `apeg-p0-service-down`"
    );
    insta::assert_snapshot!("json-mixed", out.stdout);
}

#[test]
fn json_format_on_a_clean_file() {
    let out = runbook(["check", "--format", "json", "tests/fixtures/valid"]).run();
    out.expect_code(0);
    let report = out.json();
    assert_eq!(report["files"], fixtures("valid").len());
    assert_eq!(report["errors"], 0);
    assert_eq!(report["warnings"], 0);
    assert_eq!(report["diagnostics"], serde_json::json!([]));
    assert_eq!(out.stderr, "", "json keeps stderr quiet");
}

#[test]
fn github_format_annotates_file_line_and_column() {
    let out = runbook([
        "check",
        "--format",
        "github",
        "tests/fixtures/invalid/mixed-problems.yaml",
        "tests/fixtures/invalid/not-utf8.yaml",
    ])
    .run();
    out.expect_code(2);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 8, "{}", out.stdout);
    for line in &lines {
        let (kind, rest) = line
            .strip_prefix("::error file=")
            .map(|r| ("error", r))
            .or_else(|| line.strip_prefix("::warning file=").map(|r| ("warning", r)))
            .unwrap_or_else(|| panic!("not a workflow command: {line}"));
        let (props, message) = rest.split_once("::").unwrap();
        let props: Vec<&str> = props.split(',').collect();
        assert!(props[0].starts_with("tests/fixtures/invalid/"), "{line}");
        let line_no: usize = props[1].strip_prefix("line=").unwrap().parse().unwrap();
        let col: usize = props[2].strip_prefix("col=").unwrap().parse().unwrap();
        assert!(line_no >= 1 && col >= 1, "{line}");
        assert!(props[3].starts_with("title="), "{line}");
        assert!(
            !message.is_empty() && !message.contains('\n'),
            "{kind}: {line}"
        );
    }
    assert!(
        lines.contains(
            &"::error file=tests/fixtures/invalid/mixed-problems.yaml,line=9,col=17,title=unknown-target::goto target `restart` is not a step%0Ahint: the steps under `steps:` are: status, status, settle, raw"
        ),
        "{}",
        out.stdout
    );
    assert!(
        lines.iter().any(|l| l.starts_with(
            "::error file=tests/fixtures/invalid/not-utf8.yaml,line=6,col=13,title=not-utf8::"
        )),
        "{}",
        out.stdout
    );
    assert!(
        lines.iter().any(|l| l.starts_with(
            "::warning file=tests/fixtures/invalid/mixed-problems.yaml,line=16,col=34,title=raw::"
        )),
        "{}",
        out.stdout
    );
}

#[test]
fn github_format_escapes_properties_and_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd, name: here.yaml");
    std::fs::write(
        &path,
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n  name: t\nsteps:\n  - id: a\n    run: echo 100% {{ nope }}\n",
    )
    .unwrap();
    let out = runbook(["check", "--format", "github"]).arg(&path).run();
    out.expect_code(2);
    let line = out.stdout.lines().next().unwrap();
    assert!(
        line.contains("odd%2C name%3A here.yaml,line=7,col=23,"),
        "{line}"
    );
    assert!(line.ends_with("::`nope` is not declared%0Ahint: declare it under `params:` or `vars:`, or capture it in an earlier step"), "{line}");
}

#[test]
fn a_folder_is_checked_recursively_and_foreign_yaml_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "ops/a/ok.yaml",
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n  name: ok\nsteps:\n  - id: a\n    run: echo\n",
    );
    write(
        "ops/a/b/c/deep.yml",
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n  name: deep\nsteps:\n  - id: a\n    run: echo {{ nope }}\n",
    );
    write(
        "ops/inventory.yaml",
        "apiVersion: runbook/v1\nkind: Inventory\nhosts: {}\n",
    );
    // Not ours: no apiVersion or kind. Even broken YAML is left alone.
    write(
        "ops/docker-compose.yaml",
        "services:\n  web:\n    image: nginx\n",
    );
    write("ops/.github/workflows/ci.yml", "on: push\njobs: {}\n");
    write("ops/a/notes.yaml", "{ this is: [not even valid\n");
    write("ops/a/readme.md", "apiVersion: runbook/v1\n");
    // Hidden folders are skipped even when they hold playbooks.
    write(
        "ops/.cache/old.yaml",
        "apiVersion: runbook/v1\nkind: Playbook\n",
    );

    let out = runbook(["check", "--format", "json"])
        .arg(dir.path().join("ops"))
        .run();
    out.expect_code(2);
    let report = out.json();
    assert_eq!(report["files"], 3, "{}", out.stdout);
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{}", out.stdout);
    assert_eq!(diagnostics[0]["code"], "undefined-name");
    assert!(
        diagnostics[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("ops/a/b/c/deep.yml")
    );

    let _guard = settings().bind_to_scope();
    let out = runbook(["check"]).arg(dir.path().join("ops")).run();
    insta::assert_snapshot!("folder", out.transcript());

    std::fs::remove_file(dir.path().join("ops/a/b/c/deep.yml")).unwrap();
    let out = runbook(["check"]).arg(dir.path().join("ops")).run();
    out.expect_code(0);
    assert_eq!(out.stderr, "checked 2 files: no problems\n");
}

#[test]
fn a_foreign_yaml_file_named_explicitly_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker-compose.yaml");
    std::fs::write(&path, "services:\n  web:\n    image: nginx\n").unwrap();
    let out = runbook(["check", "--format", "json"]).arg(&path).run();
    out.expect_code(2);
    assert_eq!(codes(&out.json()), ["missing-version"]);
}

#[test]
fn a_folder_without_playbooks_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), "services: {}\n").unwrap();
    let out = runbook(["check"]).arg(dir.path()).run();
    out.expect_code(2);
    assert_eq!(
        out.stderr,
        "error: no playbooks or inventories found\nhint: check looks for *.yaml and *.yml files with an `apiVersion` or `kind`\n"
    );
}

#[test]
fn a_missing_path_is_an_error() {
    let out = runbook(["check", "tests/fixtures/nowhere.yaml"]).run();
    out.expect_code(2);
    assert!(
        out.stdout
            .contains("error[unreadable]: cannot read tests/fixtures/nowhere.yaml"),
        "{}",
        out.transcript()
    );
}

#[test]
fn a_too_large_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let mut text = String::from("apiVersion: runbook/v1\nkind: Playbook\n");
    let filler = format!("# {}\n", "x".repeat(1021));
    while text.len() <= 9 * 1024 * 1024 {
        text.push_str(&filler);
    }
    std::fs::write(&path, text).unwrap();
    let out = runbook(["check"]).arg(&path).run();
    out.expect_code(2);
    let _guard = settings().bind_to_scope();
    insta::assert_snapshot!("too-large", out.transcript());
}

#[test]
fn colour_is_forced_with_color_always() {
    let out = runbook([
        "check",
        "--color",
        "always",
        "tests/fixtures/invalid/bad-name.yaml",
    ])
    .run();
    out.expect_code(2);
    assert!(out.stdout.contains("\x1b["), "{}", out.stdout);
    let out = runbook([
        "check",
        "--color",
        "never",
        "tests/fixtures/invalid/bad-name.yaml",
    ])
    .run();
    assert!(!out.stdout.contains("\x1b["), "{}", out.stdout);
}

#[test]
fn colour_follows_the_environment_under_color_auto() {
    let check = || runbook(["check", "tests/fixtures/invalid/bad-name.yaml"]);
    // A pipe gets no colour unless the environment forces it...
    let out = check().run();
    assert!(!out.stdout.contains("\x1b["), "{}", out.stdout);
    let out = check().env("CLICOLOR_FORCE", "1").run();
    assert!(out.stdout.contains("\x1b["), "{}", out.stdout);
    // ...and NO_COLOR wins over forcing it.
    let out = check()
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")
        .run();
    assert!(!out.stdout.contains("\x1b["), "{}", out.stdout);
    // `--color never` wins over the environment.
    let out = check()
        .arg("--color")
        .arg("never")
        .env("CLICOLOR_FORCE", "1")
        .run();
    assert!(!out.stdout.contains("\x1b["), "{}", out.stdout);
}

/// The codes of a JSON report's diagnostics, in order.
fn codes(report: &serde_json::Value) -> Vec<String> {
    report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn check_with_an_inventory_names_hosts_it_does_not_define() {
    let dir = tempfile::tempdir().unwrap();
    let playbook = dir.path().join("remote.yaml");
    std::fs::write(
        &playbook,
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata: { name: remote }\nsteps:\n  - { id: a, run: uptime, on: webb }\n  - { id: b, run: uptime, on: web }\n",
    )
    .unwrap();
    let out = runbook(["check", "--format", "json"])
        .arg(&playbook)
        .args_from(["-i", "tests/fixtures/valid/inventory-prod.yaml"])
        .run();
    out.expect_code(0);
    let report = out.json();
    assert_eq!(report["warnings"], 1, "{}", out.stdout);
    let d = &report["diagnostics"][0];
    assert_eq!(d["code"], "unknown-host");
    assert_eq!(d["line"], 5);
    assert_eq!(
        d["message"],
        "step `a` runs on `webb`, which is not a host or group of the inventory"
    );
    assert_eq!(d["hint"], "did you mean `web`?");
}
