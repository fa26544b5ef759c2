//! The GitHub Action (action.yml), run locally: its steps' own scripts, in order, with the
//! environment GitHub gives them (inputs and expressions substituted, `GITHUB_STEP_SUMMARY`
//! and `GITHUB_OUTPUT` pointing at files, `gh` replaced by a stub that records the comment),
//! on a git repository where a branch changes seed playbooks. Also: the pre-commit hook and the
//! example workflows name what exists.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::support::{Sandbox, copy_dir, git, git_init_committed, read_yaml, root};

/// What `${{ ... }}` expressions read: `inputs.*`, `github.*`, `steps.ID.outputs.*`.
struct Context {
    values: BTreeMap<String, String>,
}

impl Context {
    fn get(&self, name: &str) -> String {
        self.values.get(name.trim()).cloned().unwrap_or_default()
    }

    /// Replaces every `${{ name }}`.
    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("a closed expression") + start;
            out.push_str(&self.get(&rest[start + 3..end]));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// The `if:` forms the action uses: `a == 'x'`, `a != ''`, joined by `&&`.
    fn holds(&self, condition: &str) -> bool {
        condition.split("&&").all(|part| {
            let (lhs, rhs, equal) = match part.split_once("==") {
                Some((l, r)) => (l, r, true),
                None => {
                    let (l, r) = part.split_once("!=").expect("== or !=");
                    (l, r, false)
                }
            };
            let literal = rhs.trim().trim_matches('\'');
            (self.get(lhs) == literal) == equal
        })
    }
}

/// `key=value` and `key<<EOF ... EOF` lines of a `GITHUB_OUTPUT` file.
fn outputs(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((key, delimiter)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            out.insert(key.to_owned(), value.join("\n"));
        } else if let Some((key, value)) = line.split_once('=') {
            out.insert(key.to_owned(), value.to_owned());
        }
    }
    out
}

struct StepRun {
    name: String,
    ran: bool,
    code: i32,
    stdout: String,
    stderr: String,
}

#[test]
fn the_action_checks_and_posts_the_plan_diff_of_a_pull_request() {
    let sb = Sandbox::new();
    let repo = sb.path("repo");
    copy_dir(&root().join("playbooks"), &repo.join("playbooks"));
    copy_dir(&root().join("inventories"), &repo.join("inventories"));
    git_init_committed(&repo);
    git(&repo, &["checkout", "-q", "-b", "change"]);
    // The pull request: a destructive step added to the P0, and a new playbook with a typo.
    let p0 = repo.join("playbooks/apeg/p0-service-down.yaml");
    let text = std::fs::read_to_string(&p0).unwrap().replace(
        "  - id: incident-log\n",
        "  - id: wipe-cache\n    name: Wipe the response cache\n    run: rm -rf {{ app_dir }}/cache\n    danger: destructive\n\n  - id: incident-log\n",
    );
    std::fs::write(&p0, text).unwrap();
    std::fs::write(
        repo.join("playbooks/apeg/typo.yaml"),
        "apiVersion: runbook/v1\nkind: Playbook\nmetadata: { name: typo }\nsteps:\n  - id: a\n    rnu: echo a\n",
    )
    .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "change"]);

    // What GitHub gives the steps.
    let action = read_yaml(&root().join("action.yml"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_runbook"))
        .parent()
        .unwrap()
        .to_owned();
    let gh_log = sb.path("gh.log");
    let gh = sb.write_executable(
        "bin/gh",
        &format!(
            "#!/usr/bin/env bash\n# A stand-in for the GitHub CLI: records each call and the body it posts.\necho \"gh $*\" >> {log}\nfor a in \"$@\"; do case \"$a\" in body=@*) cat \"${{a#body=@}}\" >> {log};; esac; done\n",
            log = gh_log.display()
        ),
    );
    let stub_dir = gh.parent().unwrap();
    let summary = sb.path("step-summary.md");
    let runner_temp = sb.path("runner-temp");
    std::fs::create_dir_all(&runner_temp).unwrap();

    let mut context = Context {
        values: BTreeMap::new(),
    };
    for (name, input) in action["inputs"].as_object().unwrap() {
        let default = input["default"].as_str().unwrap_or("").to_owned();
        context.values.insert(format!("inputs.{name}"), default);
    }
    for (key, value) in [
        ("inputs.inventory", "inventories/{dir}-prod.yaml".to_owned()),
        ("inputs.base", "main".to_owned()),
        ("inputs.github-token", "test-token".to_owned()),
        ("github.action_path", root().display().to_string()),
        ("github.base_ref", String::new()),
        ("github.repository", "ops/runbooks".to_owned()),
        ("github.event.pull_request.number", "12".to_owned()),
    ] {
        context.values.insert(key.to_owned(), value);
    }

    let mut runs: Vec<StepRun> = Vec::new();
    for (i, step) in action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let name = step["name"].as_str().unwrap().to_owned();
        if let Some(condition) = step["if"].as_str()
            && !context.holds(condition)
        {
            runs.push(StepRun {
                name,
                ran: false,
                code: 0,
                stdout: String::new(),
                stderr: String::new(),
            });
            continue;
        }
        assert_eq!(step["shell"], "bash", "{name}");
        let script = sb.path(&format!("step-{i}.sh"));
        std::fs::write(&script, step["run"].as_str().unwrap()).unwrap();
        let output_file = sb.path(&format!("output-{i}"));
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .current_dir(&repo)
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:{}:{}",
                    stub_dir.display(),
                    bin_dir.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_OUTPUT", &output_file)
            .env("RUNNER_TEMP", &runner_temp)
            .env("NO_COLOR", "1");
        if let Some(env) = step["env"].as_object() {
            for (key, value) in env {
                cmd.env(key, context.substitute(value.as_str().unwrap_or("")));
            }
        }
        let out = cmd.output().unwrap();
        if let Some(id) = step["id"].as_str() {
            for (key, value) in outputs(&output_file) {
                context
                    .values
                    .insert(format!("steps.{id}.outputs.{key}"), value);
            }
        }
        runs.push(StepRun {
            name,
            ran: true,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let show = |r: &StepRun| {
        format!(
            "{} (ran: {}, exit {})\n{}\n{}",
            r.name, r.ran, r.code, r.stdout, r.stderr
        )
    };
    let all: String = runs.iter().map(show).collect::<Vec<_>>().join("\n---\n");

    // 1. runbook is on PATH: nothing is installed.
    assert!(runs[0].ran && runs[0].code == 0, "{all}");
    assert!(runs[0].stdout.starts_with("runbook "), "{all}");
    // 2. The review: annotations for the typo, the plan diffs in the job summary.
    let review = &runs[1];
    assert_eq!(review.code, 0, "{all}");
    assert!(
        review.stdout.contains(
            "::error file=playbooks/apeg/typo.yaml,line=6,col=5,title=unknown-field::unknown field `rnu`%0Ahint: did you mean `run`?"
        ),
        "{all}"
    );
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.starts_with("# runbook: 2 playbook(s) changed since `main`\n"),
        "{text}"
    );
    assert!(
        text.contains("## Plan diff: P0: APEG service down\n"),
        "{text}"
    );
    assert!(
        text.contains("> [!CAUTION]\n> **Destructive steps added or changed**\n>\n> - 5 `wipe-cache` Wipe the response cache: added"),
        "{text}"
    );
    assert!(text.contains("`rm -rf /opt/apeg/cache`"), "{text}");
    assert!(
        text.contains("runbook could not plan `playbooks/apeg/typo.yaml`"),
        "{text}"
    );
    assert_eq!(
        context.get("steps.review.outputs.changed"),
        "playbooks/apeg/p0-service-down.yaml\nplaybooks/apeg/typo.yaml"
    );
    // 3. The comment: one POST with the marker and the same diff.
    assert!(runs[2].ran && runs[2].code == 0, "{all}");
    let log = std::fs::read_to_string(&gh_log).unwrap();
    assert!(
        log.contains("gh api repos/ops/runbooks/issues/12/comments --paginate"),
        "{log}"
    );
    assert!(
        log.contains("gh api -X POST repos/ops/runbooks/issues/12/comments -F body=@"),
        "{log}"
    );
    assert!(
        log.contains("<!-- runbook-plan-diff -->\n# runbook: 2 playbook(s) changed"),
        "{log}"
    );
    // 4. The check's errors fail the job, after the summary and the comment.
    assert!(runs[3].ran && runs[3].code == 1, "{all}");
}

#[test]
fn the_action_says_so_when_no_playbook_changed() {
    let sb = Sandbox::new();
    let repo = sb.path("repo");
    copy_dir(
        &root().join("playbooks/common"),
        &repo.join("playbooks/common"),
    );
    git_init_committed(&repo);
    std::fs::write(repo.join("README.md"), "not a playbook\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "docs"]);
    let action = read_yaml(&root().join("action.yml"));
    let review = &action["runs"]["steps"][1];
    let script = sb.path("review.sh");
    std::fs::write(&script, review["run"].as_str().unwrap()).unwrap();
    let output_file = sb.path("output");
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script)
        .current_dir(&repo)
        .env("PLAYBOOKS", "playbooks")
        .env("INVENTORY", "")
        .env("BASE", "")
        .env("BASE_REF", "")
        .env("GITHUB_OUTPUT", &output_file)
        .env("GITHUB_STEP_SUMMARY", sb.path("summary"))
        .env("RUNNER_TEMP", sb.root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "runbook: no playbook changed since HEAD~1\n"
    );
    assert_eq!(outputs(&output_file)["check-failed"], "0");
}

#[test]
fn the_pre_commit_hook_and_the_example_workflows_name_what_exists() {
    let hooks = read_yaml(&root().join(".pre-commit-hooks.yaml"));
    let hook = &hooks[0];
    assert_eq!(hook["id"], "runbook-check");
    assert_eq!(hook["entry"], "runbook check --deny-warnings");
    assert_eq!(hook["language"], "rust");
    // The hook's file pattern takes the seed playbooks and inventories, not other YAML.
    let pattern = regex_lite(hook["files"].as_str().unwrap());
    assert!(pattern("playbooks/apeg/p0-service-down.yaml"));
    assert!(pattern("inventories/apeg-prod.yaml"));
    assert!(!pattern(".github/workflows/ci.yml"));

    let action = read_yaml(&root().join("action.yml"));
    let inputs = action["inputs"].as_object().unwrap();
    let review = read_yaml(&root().join("docs/examples/runbook-review.yml"));
    let steps = review["jobs"]["review"]["steps"].as_array().unwrap();
    let uses = steps
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.contains("/runbook@")))
        .expect("the example uses the action");
    for key in uses["with"].as_object().unwrap().keys() {
        assert!(
            inputs.contains_key(key),
            "the example sets `{key}`, not an input"
        );
    }
    let checkout = &steps[0];
    assert_eq!(
        checkout["with"]["fetch-depth"], 0,
        "the base must be fetched"
    );
    assert_eq!(
        review["permissions"]["pull-requests"], "write",
        "the comment needs it"
    );
    // The nightly example runs a playbook and inventory that exist.
    let nightly =
        std::fs::read_to_string(root().join("docs/examples/runbook-nightly.yml")).unwrap();
    for path in [
        "playbooks/apeg/nightly-job-review.yaml",
        "inventories/apeg-prod.yaml",
    ] {
        assert!(
            nightly.contains(path) && root().join(path).is_file(),
            "{path}"
        );
    }
}

/// The anchored `^(a|b)/.*\.ya?ml$` form the hook uses, without a regex crate.
fn regex_lite(pattern: &str) -> impl Fn(&str) -> bool {
    let inner = pattern
        .strip_prefix("^(")
        .and_then(|p| p.strip_suffix(r")/.*\.ya?ml$"))
        .expect("the hook's pattern form")
        .to_owned();
    move |path: &str| {
        let folders: Vec<&str> = inner.split('|').collect();
        folders.iter().any(|f| path.starts_with(&format!("{f}/")))
            && (path.ends_with(".yaml") || path.ends_with(".yml"))
    }
}
