//! The seed playbooks: every file under playbooks/ and inventories/ passes
//! `check --deny-warnings`, and every playbook plans with its system's prod inventory (the plan
//! is a snapshot: it shows the seeds' own commands with the seeds' own values).

use crate::support::{Runbook, root, seed_playbooks, yaml_under};

/// `runbook ARGS...` at the workspace root, `NO_COLOR=1`.
fn runbook<const N: usize>(args: [&str; N]) -> Runbook {
    crate::support::runbook(args).env("NO_COLOR", "1")
}

#[test]
fn every_playbook_and_inventory_passes_check_with_warnings_denied() {
    let out = runbook([
        "check",
        "--deny-warnings",
        "playbooks",
        "inventories",
        "examples",
    ])
    .run();
    out.expect_code(0);
    assert!(out.stderr.contains("no problems"), "{}", out.stderr);
}

#[test]
fn every_system_has_playbooks_and_a_prod_inventory() {
    for system in [
        "apeg",
        "agentic-platform",
        "ai-estimator",
        "gpt-agent",
        "apex",
    ] {
        let dir = root().join("playbooks").join(system);
        assert!(
            yaml_under(&dir).len() >= 3,
            "playbooks/{system}/ should hold the seed's procedures"
        );
        assert!(
            root()
                .join(format!("inventories/{system}-prod.yaml"))
                .is_file(),
            "inventories/{system}-prod.yaml is missing"
        );
    }
}

/// Every playbook with its system's prod inventory and nothing else: no secret in the
/// environment, no `--var`. Required params that only a secret could fill show as `⟨name⟩`.
#[test]
fn every_playbook_plans_with_its_prod_inventory_alone() {
    let mut failures = Vec::new();
    let mut planned = 0;
    let mut placeholders = 0;
    for (rel, inventory) in seed_playbooks() {
        let out = runbook(["plan", &rel, "-i", &inventory]).run();
        let (stdout, stderr) = (out.stdout, out.stderr);
        if out.code != 0 {
            failures.push(format!("{rel}: exit {}\n{stderr}", out.code));
            continue;
        }
        if stdout.contains("(not set)") {
            placeholders += 1;
            assert!(
                stderr.contains("required param") && stderr.contains("not set"),
                "{rel}: an unset param is a warning\n{stderr}"
            );
        }
        let name = rel.trim_end_matches(".yaml").replace('/', "__");
        insta::with_settings!({ snapshot_path => "snapshots/playbooks", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(name, stdout);
        });
        planned += 1;
    }
    assert!(
        failures.is_empty(),
        "plans failed:\n{}",
        failures.join("\n")
    );
    assert!(planned >= 90, "only {planned} playbooks planned");
    // The seeds' secrets (database_url, db_password, API keys) are placeholders, not errors.
    assert!(
        placeholders >= 20,
        "only {placeholders} plans show a placeholder"
    );
}

/// Every secret a playbook declares, given a value on the command line: no format of the plan
/// shows it, nor does anything on stderr.
#[test]
fn no_plan_prints_a_secret() {
    let mut checked = 0;
    for (rel, inventory) in seed_playbooks() {
        let plan = runbook(["plan", &rel, "-i", &inventory, "--format", "json"])
            .run()
            .json();
        let secrets: Vec<String> = plan["values"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["secret"] == true)
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect();
        if secrets.is_empty() {
            continue;
        }
        for format in ["human", "markdown", "json"] {
            let mut cmd = runbook(["plan", &rel, "-i", &inventory, "--format", format]);
            for name in &secrets {
                cmd = cmd.args_from(["--var".to_owned(), format!("{name}=s3cr3t-{name}-value")]);
            }
            let out = cmd.run();
            let text = format!("{}{}", out.stdout, out.stderr);
            assert!(out.code == 0, "{rel} {format}:\n{text}");
            assert!(
                !text.contains("s3cr3t-"),
                "{rel} {format}: a secret leaked\n{text}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} playbooks declare secrets");
}

#[test]
fn the_p0_plan_shows_the_seed_commands_with_prod_values() {
    let out = runbook([
        "plan",
        "playbooks/apeg/p0-service-down.yaml",
        "-i",
        "inventories/apeg-prod.yaml",
    ])
    .run();
    out.expect_code(0);
    let stdout = &out.stdout;
    assert!(
        stdout.contains("$ sudo systemctl status apeg.service --no-pager"),
        "{stdout}"
    );
    assert!(
        stdout.contains("https://apeg.yourdomain.com/health"),
        "{stdout}"
    );
    assert!(
        stdout.contains("after 15m"),
        "the escalation timeline is shown:\n{stdout}"
    );
}

#[test]
fn the_readme_example_is_a_valid_playbook() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("```yaml\n").expect("a YAML example") + "```yaml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tour.yaml");
    std::fs::write(&path, &readme[start..end]).unwrap();
    runbook(["check", "--deny-warnings"])
        .arg(&path)
        .run()
        .expect_code(0);
}
