//! `runbook plan`: the dry run, in its three formats, with an inventory, secrets, and the
//! errors that stop it before anything would run.

use crate::support::{Output, runbook, settings};

const FULL: &str = "tests/fixtures/valid/full.yaml";
const SECRETS: &str = "tests/fixtures/valid/secrets.yaml";
const INVENTORY: &str = "tests/fixtures/valid/inventory-prod.yaml";

/// Secret values the fixtures receive; none may ever be printed.
const DB_PASSWORD: &str = "pw-Hunter2-secret";
const API_TOKEN: &str = "tok-9f8e7d6c";

fn plan(playbook: &str, format: &str) -> Output {
    runbook(["plan", playbook, "-i", INVENTORY, "--format", format])
        .env("NO_COLOR", "1")
        .env("APEG_DB_PASSWORD", DB_PASSWORD)
        .run()
}

#[test]
fn human() {
    let out = plan(FULL, "human");
    out.expect_code(0);
    assert!(!out.stdout.contains('\x1b'), "NO_COLOR is respected");
    assert!(out.stdout.contains("$ systemctl is-active apeg.service"));
    assert!(
        out.stdout
            .contains("$ curl -fsS https://apeg.example.com/health")
    );
    assert!(out.stdout.contains("[run · web (web-1, web-2)]"));
    assert!(out.stdout.contains("$ psql -c 'DROP DATABASE apeg'"));
    assert!(out.stdout.contains("DESTRUCTIVE  type `apeg` to run it"));
    let _guard = settings().bind_to_scope();
    insta::assert_snapshot!(out.transcript());
}

#[test]
fn markdown() {
    let out = plan(FULL, "markdown");
    out.expect_code(0);
    let md = &out.stdout;
    assert!(md.starts_with("## Plan: P0: APEG service down\n"), "{md}");
    assert!(md.contains("\n```mermaid\nflowchart TD\n"), "{md}");
    assert!(
        md.contains("\n### Steps\n\n#### 1 `service-status` · Check service status\n"),
        "{md}"
    );
    // One heading per step, nested, sub-playbook and `finally` steps included.
    let headings = md
        .lines()
        .filter(|l| l.starts_with("#### ") || l.starts_with("##### "))
        .count();
    assert_eq!(headings, 17, "{md}");
    // The failure branches are drawn: the goto back to restart-service, and the page before
    // the run stops; a plain failure (stop the run) draws nothing.
    assert!(md.contains("s6 -.->|\"fail\"| s4"), "{md}");
    assert!(
        md.contains("s4 -.->|\"fail, page senior-engineer\"| stop"),
        "{md}"
    );
    assert!(!md.contains("s2 -.->"), "{md}");
    // A `when` step: skipped goes where passing goes, as the engine decides.
    assert!(md.contains("s7 -->|\"ok or skipped\"| s8"), "{md}");
    // Parallel children in a box of their own; the sub-playbook collapsible.
    assert!(
        md.contains("subgraph s9[\"9 dependencies · at once\"]"),
        "{md}"
    );
    assert!(md.contains("<details><summary>Sub-playbook <code>"), "{md}");
    let _guard = settings().bind_to_scope();
    insta::assert_snapshot!(out.transcript());
}

#[test]
fn json() {
    let out = plan(FULL, "json");
    out.expect_code(0);
    let plan = out.json();
    assert_eq!(plan["format"], "runbook-plan/v1");
    assert_eq!(plan["name"], "apeg-p0-service-down");
    assert_eq!(plan["inventory"], INVENTORY);
    assert_eq!(plan["steps"].as_array().unwrap().len(), 12);
    assert_eq!(plan["finally"].as_array().unwrap().len(), 1);
    let verify = &plan["steps"][5];
    assert_eq!(verify["id"], "verify");
    assert_eq!(
        verify["on_failure"],
        serde_json::json!({"then": "goto", "goto": "restart-service", "escalate": null})
    );
    assert_eq!(
        verify["next_failed"],
        serde_json::json!({"step": "restart-service"})
    );
    assert_eq!(
        verify["next_ok"],
        serde_json::json!({"step": "recreate-db"})
    );
    assert_eq!(verify["max_visits"], 3);
    // Typed values: durations in milliseconds, targets as host ids, expectations as objects.
    let restart = &plan["steps"][3];
    assert_eq!(restart["timeout_ms"], 60_000);
    assert_eq!(restart["next_failed"], "stop");
    assert_eq!(plan["steps"][4]["wait_ms"], 30_000);
    assert_eq!(
        plan["steps"][9]["target"],
        serde_json::json!({"on": "web", "hosts": ["web-1", "web-2"], "max_fail": 0})
    );
    assert_eq!(
        plan["steps"][0]["expect"][1],
        serde_json::json!({"kind": "output", "stream": "stdout", "op": "contains", "value": "active"})
    );
    assert_eq!(plan["escalation"][0]["after_ms"], 900_000);
    let deps = &plan["steps"][8];
    assert_eq!(
        deps["children"][1]["command"],
        "redis-cli -h 127.0.0.1 ping"
    );
    let sub = &plan["steps"][10]["playbook"];
    assert_eq!(sub["steps"][0]["path"], "common-verify/get");
    let password = plan["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "db_password")
        .unwrap();
    assert_eq!(password["value"], "***");
    assert_eq!(password["text"], "***");
    assert_eq!(password["secret"], true);
    assert_eq!(password["origin"], "environment");
    let _guard = settings().bind_to_scope();
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn secrets_are_never_shown() {
    for format in ["human", "markdown", "json"] {
        let out = plan(SECRETS, format);
        out.expect_code(0);
        for secret in [DB_PASSWORD, API_TOKEN] {
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "{format}: `{secret}` leaked\n{}",
                out.transcript()
            );
        }
        assert!(out.stdout.contains("***"), "{format}\n{}", out.stdout);
    }
    let out = plan(SECRETS, "human");
    assert!(out.stdout.contains("--password ***"), "{}", out.stdout);
    assert!(
        out.stdout.contains("'Authorization: Bearer ***'"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("retire the old password ***."),
        "{}",
        out.stdout
    );
    let _guard = settings().bind_to_scope();
    insta::assert_snapshot!(out.transcript());
}

#[test]
fn secret_from_the_command_line_is_hidden_too() {
    let out = runbook([
        "plan",
        SECRETS,
        "--var",
        "domain=db.example.com",
        "--var",
        "api_token=cli-token-123",
        "--var",
        &format!("db_password={DB_PASSWORD}"),
        "--format",
        "json",
    ])
    .run();
    out.expect_code(0);
    assert!(!out.stdout.contains(DB_PASSWORD), "{}", out.stdout);
    // api_token is secret only through the inventory's `secrets:`; without it, it shows.
    assert!(out.stdout.contains("cli-token-123"), "{}", out.stdout);
}

#[test]
fn missing_required_param_is_a_visible_placeholder() {
    let out = runbook(["plan", "tests/fixtures/valid/required-param.yaml"])
        .env("NO_COLOR", "1")
        .run();
    out.expect_code(0);
    assert!(
        out.stdout
            .contains("$ curl -fsS https://⟨domain⟩:443/health"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("domain  ⟨domain⟩  (not set)"),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stderr,
        "warning: required param not set: domain (shown as ⟨domain⟩)\nhint: a run needs it: --var domain=VALUE, an inventory (-i) or a --var-file; --strict makes this an error\n"
    );
    let json = runbook([
        "plan",
        "tests/fixtures/valid/required-param.yaml",
        "--format",
        "json",
    ])
    .run();
    json.expect_code(0);
    let plan = json.json();
    assert_eq!(plan["unset"], serde_json::json!(["domain"]));
    let domain = &plan["values"][0];
    assert_eq!(domain["set"], false);
    assert_eq!(domain["value"], serde_json::Value::Null);
    assert_eq!(domain["text"], "⟨domain⟩");
    let md = runbook([
        "plan",
        "tests/fixtures/valid/required-param.yaml",
        "--format",
        "markdown",
    ])
    .run();
    assert!(
        md.stdout
            .contains("| `domain` | `⟨domain⟩` | **not set** |"),
        "{}",
        md.stdout
    );
}

#[test]
fn strict_makes_an_unset_param_an_error() {
    let out = runbook([
        "plan",
        "tests/fixtures/valid/required-param.yaml",
        "--strict",
    ])
    .run();
    out.expect_code(2);
    assert_eq!(out.stdout, "", "nothing is planned");
    assert_eq!(
        out.stderr,
        "error: required param not set: domain\nhint: set it with --var domain=VALUE, an inventory (-i) or a --var-file\n"
    );
}

#[test]
fn missing_required_param_is_filled_by_var() {
    let out = runbook([
        "plan",
        "tests/fixtures/valid/required-param.yaml",
        "--var",
        "domain=example.org",
        "--var",
        "port=8443",
    ])
    .run();
    out.expect_code(0);
    assert!(
        out.stdout
            .contains("$ curl -fsS https://example.org:8443/health"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("domain  example.org  (--var)"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_var_built_from_an_unset_param_shows_the_placeholder() {
    let out = runbook(["plan", FULL, "--var", "db_host=db", "--format", "json"])
        .env("APEG_DB_PASSWORD", DB_PASSWORD)
        .run();
    assert!(
        out.stderr.contains("required param not set: domain"),
        "{}",
        out.stderr
    );
    let plan = out.json();
    let health = plan["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "health_url")
        .unwrap();
    assert_eq!(health["text"], "https://⟨domain⟩/health");
    assert_eq!(
        plan["steps"][1]["command"],
        "curl -fsS --max-time 5 'https://⟨domain⟩/health'"
    );
}

#[test]
fn bad_value_for_a_typed_param() {
    let out = runbook([
        "plan",
        "tests/fixtures/valid/required-param.yaml",
        "--var",
        "domain=example.org",
        "--var",
        "port=https",
    ])
    .run();
    out.expect_code(2);
    assert_eq!(
        out.stderr,
        "error: value of `port`: `https` is not an integer\n"
    );
}

#[test]
fn an_invalid_playbook_is_not_planned() {
    let out = runbook(["plan", "tests/fixtures/invalid/unknown-target.yaml"])
        .env("NO_COLOR", "1")
        .run();
    out.expect_code(2);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.starts_with("error[unknown-target]: goto target `restart-servce` is not a step\n --> tests/fixtures/invalid/unknown-target.yaml:9:17\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_inventory_is_not_a_playbook() {
    let out = runbook(["plan", INVENTORY]).run();
    out.expect_code(2);
    assert_eq!(
        out.stderr,
        format!("error: {INVENTORY} is not a playbook\nhint: its `kind` is not `Playbook`\n")
    );
}

#[test]
fn a_playbook_is_not_an_inventory() {
    let out = runbook(["plan", FULL, "-i", FULL]).run();
    out.expect_code(2);
    assert!(
        out.stderr
            .contains(&format!("error: {FULL} is not an inventory")),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unknown_on_target_is_an_error() {
    // `on: web` needs the inventory's group: without one, the step cannot be resolved.
    let out = runbook(["plan", FULL, "--var", "domain=example.org"])
        .env("APEG_DB_PASSWORD", DB_PASSWORD)
        .run();
    out.expect_code(2);
    assert!(
        out.stdout
            .contains("error  `on: web` is not a host or group of the inventory"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("1 step(s) cannot be resolved with these values"),
        "{}",
        out.stderr
    );
}

#[test]
fn plan_warns_about_warnings() {
    let out = runbook(["plan", "tests/fixtures/warnings/goto-loop.yaml"]).run();
    out.expect_code(0);
    assert_eq!(
        out.stderr,
        "note: 1 warning(s); see `runbook check tests/fixtures/warnings/goto-loop.yaml`\n"
    );
}

#[test]
fn a_callers_secret_is_masked_in_its_sub_playbooks_plan() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("parent.yaml"),
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata: { name: parent }\nparams:\n  token: { secret: true }\nsteps:\n  - id: call\n    playbook: sub.yaml\n    with: { url: \"https://x/?t={{ token }}\" }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sub.yaml"),
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata: { name: sub }\nparams:\n  url: {}\n  token: { default: none }\nsteps:\n  - { id: get, run: \"curl {{ url }} -H {{ token }}\" }\n",
    )
    .unwrap();
    for format in ["human", "markdown", "json"] {
        let out = runbook([
            "plan",
            "parent.yaml",
            "--var",
            "token=s3cr3t-value",
            "--format",
            format,
        ])
        .current_dir(dir.path())
        .run();
        out.expect_code(0);
        assert!(!out.stdout.contains("s3cr3t"), "{format}\n{}", out.stdout);
        assert!(out.stdout.contains("***"), "{format}\n{}", out.stdout);
    }
}

const FLEET: &str = "tests/fixtures/valid/fleet.yaml";
const FLEET_INVENTORY: &str = "tests/fixtures/valid/inventory-fleet.yaml";

fn fleet_plan(format: &str) -> Output {
    runbook(["plan", FLEET, "-i", FLEET_INVENTORY, "--format", format])
        .env("NO_COLOR", "1")
        .run()
}

/// A fan-out resolved per host (issue 11): which hosts, which batches, `max_fail` over the
/// step, the count question, and the command on each host whose vars change it.
#[test]
fn a_fan_out_is_resolved_per_host_in_every_format() {
    let out = fleet_plan("json");
    out.expect_code(0);
    let plan = out.json();
    let drain = &plan["steps"][0]["target"];
    assert_eq!(
        drain["batches"],
        serde_json::json!([["web-1"], ["web-2", "web-3", "web-4"], ["web-5", "web-6"]]),
        "serial [1, 50%] over 6 hosts: a canary, then 3, then the rest"
    );
    assert_eq!(drain["max_fail"], 2, "25% of 6 hosts, rounded up");
    assert_eq!(drain["confirm_count"], true, "more than 5 hosts");
    // web-3's own `pool` var changes its command; the others run the step's command.
    assert_eq!(
        plan["steps"][0]["command"],
        "lb-drain --pool main --release 2.4.1 \"$RUNBOOK_HOST\""
    );
    assert_eq!(
        drain["commands"],
        serde_json::json!({"web-3": "lb-drain --pool canary --release 2.4.1 \"$RUNBOOK_HOST\""})
    );
    let restart = &plan["steps"][1]["target"];
    assert_eq!(restart["max_fail"], 1);
    assert!(restart.get("batches").is_none(), "one batch: no batches");
    assert!(restart.get("commands").is_none(), "the same everywhere");
    let local = &plan["steps"][2]["target"];
    assert!(
        local.get("max_fail").is_none(),
        "a local step is no fan-out"
    );

    let human = fleet_plan("human");
    human.expect_code(0);
    assert!(human.stdout.contains(
        "fan-out  batches web-1 │ web-2, web-3, web-4 │ web-5, web-6 · max_fail 2 (over the whole step)"
    ));
    assert!(human.stdout.contains("$ lb-drain --pool canary"));
    let markdown = fleet_plan("markdown");
    markdown.expect_code(0);
    assert!(
        markdown
            .stdout
            .contains("on `web-3`:\n\n```sh\nlb-drain --pool canary")
    );
    assert!(
        markdown
            .stdout
            .contains("s1[\"1 drain<br/>Drain each host from its own load balancer<br/>on web: 6 hosts, batches 1/3/2\"]"),
        "{}",
        markdown.stdout
    );
    let _guard = settings().bind_to_scope();
    insta::assert_snapshot!("fleet-human", human.transcript());
    insta::assert_snapshot!("fleet-markdown", markdown.transcript());
}

/// A step without `on:` goes where the inventory's `target:` sends it, as in a run.
#[test]
fn the_inventorys_target_is_where_a_step_without_on_is_planned() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.yaml");
    std::fs::write(
        &inv,
        "apiVersion: runbook/v1\nkind: Inventory\ntarget: web\nhosts:\n  web-1: {}\n  web-2: {}\ngroups:\n  web: [web-1, web-2]\n",
    )
    .unwrap();
    let out = runbook([
        "plan",
        "tests/fixtures/valid/minimal.yaml",
        "-i",
        inv.to_str().unwrap(),
        "--format",
        "json",
    ])
    .run();
    out.expect_code(0);
    let plan = out.json();
    assert_eq!(
        plan["steps"][0]["target"],
        serde_json::json!({"on": "web", "hosts": ["web-1", "web-2"], "max_fail": 0})
    );
}

#[test]
fn a_secret_inputs_default_is_not_shown_in_any_format() {
    let sb = crate::support::Sandbox::new();
    sb.playbook(
        "pb.yaml",
        "secret-input",
        r#"
steps:
  - id: rotate
    manual: Rotate the key.
    inputs:
      new_key: { prompt: "New key", secret: true, default: "sk-default-4242" }
      note: { prompt: "Note", default: "rotated" }
"#,
    );
    for format in ["human", "markdown", "json"] {
        let out = sb.output(&["plan", "pb.yaml", "--format", format]);
        out.expect_code(0);
        assert!(
            !out.stdout.contains("sk-default-4242"),
            "{format}: {}",
            out.stdout
        );
    }
    let json = sb.output(&["plan", "pb.yaml", "--format", "json"]).json();
    let inputs = &json["steps"][0]["inputs"];
    assert_eq!(inputs[0]["default"], "***");
    assert_eq!(inputs[1]["default"], "rotated");
}
