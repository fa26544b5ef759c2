//! `runbook plan --diff`: real edits of seed playbooks (a changed command, an added
//! destructive step, a removed branch, a changed escalation, a moved step), compared as two
//! files and against a git revision, in the three formats.

use std::path::Path;

use crate::support::{Output, copy_dir, git_init_committed, root, runbook, settings};

const P0: &str = "playbooks/apeg/p0-service-down.yaml";
const INVENTORY: &str = "inventories/apeg-prod.yaml";

/// A copy of playbooks/ and inventories/ in a temporary folder, with `old/` and `new/` trees
/// so both sides keep the sub-playbooks they include.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        for side in ["old", "new"] {
            copy_dir(
                &root().join("playbooks"),
                &dir.path().join(side).join("playbooks"),
            );
        }
        copy_dir(&root().join("inventories"), &dir.path().join("inventories"));
        Tree { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Edits the new side of a playbook: every `(from, to)` must match once.
    fn edit(&self, playbook: &str, edits: &[(&str, &str)]) {
        let path = self.path().join("new").join(playbook);
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (from, to) in edits {
            assert_eq!(text.matches(from).count(), 1, "`{from}` in {playbook}");
            text = text.replace(from, to);
        }
        std::fs::write(&path, text).unwrap();
    }

    fn diff(&self, playbook: &str, format: &str) -> Output {
        runbook([
            "plan",
            "--diff",
            &format!("old/{playbook}"),
            &format!("new/{playbook}"),
            "-i",
            INVENTORY,
            "--format",
            format,
        ])
        .env("NO_COLOR", "1")
        .current_dir(self.path())
        .run()
    }
}

/// The three formats of one diff, each a snapshot; the JSON is returned for assertions.
fn snapshots(tree: &Tree, playbook: &str, name: &str) -> serde_json::Value {
    let _guard = settings().bind_to_scope();
    let human = tree.diff(playbook, "human");
    human.expect_code(0);
    insta::assert_snapshot!(format!("{name}-human"), human.stdout);
    let markdown = tree.diff(playbook, "markdown");
    markdown.expect_code(0);
    insta::assert_snapshot!(format!("{name}-markdown"), markdown.stdout);
    let json = tree.diff(playbook, "json");
    json.expect_code(0);
    insta::assert_snapshot!(format!("{name}-json"), json.stdout);
    json.json()
}

#[test]
fn a_changed_command_is_a_word_diff() {
    let tree = Tree::new();
    tree.edit(
        P0,
        &[("--since \"5 minutes ago\"", "--since \"15 minutes ago\"")],
    );
    let diff = snapshots(&tree, P0, "changed-command");
    assert_eq!(diff["format"], "runbook-plan-diff/v1");
    assert_eq!(diff["summary"]["changed"], 1);
    assert_eq!(diff["summary"]["added"], 0);
    assert_eq!(diff["destructive"], serde_json::json!([]));
    let step = &diff["steps"][0];
    assert_eq!(step["path"], "recent-logs");
    let field = &step["fields"][0];
    assert_eq!(field["field"], "command");
    let words: Vec<(String, String)> = field["words"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["op"] != "equal")
        .map(|w| {
            (
                w["op"].as_str().unwrap().into(),
                w["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        words,
        [
            ("delete".into(), "\"5".into()),
            ("insert".into(), "\"15".into())
        ]
    );
}

#[test]
fn an_added_destructive_step_is_called_out_first() {
    let tree = Tree::new();
    tree.edit(
        P0,
        &[(
            "  - id: incident-log\n",
            "  - id: wipe-cache\n    name: Wipe the response cache\n    run: rm -rf {{ app_dir }}/cache\n    danger: destructive\n\n  - id: incident-log\n",
        )],
    );
    let diff = snapshots(&tree, P0, "added-destructive");
    assert_eq!(
        diff["destructive"],
        serde_json::json!([{
            "path": "wipe-cache",
            "number": "5",
            "name": "Wipe the response cache",
            "kind": "added",
            "confirm_phrase": "wipe-cache",
            "command": "rm -rf /opt/apeg/cache",
        }])
    );
    assert_eq!(diff["summary"]["added"], 1);
    // Inserting a step renumbers the ones after it, but they did not move or change.
    assert_eq!(diff["summary"]["moved"], 0);
    assert_eq!(diff["summary"]["changed"], 0);
    let human = tree.diff(P0, "human");
    assert!(
        human
            .stdout
            .lines()
            .nth(4)
            .unwrap()
            .starts_with("DESTRUCTIVE  5 wipe-cache"),
        "{}",
        human.stdout
    );
    let md = tree.diff(P0, "markdown");
    let caution = md.stdout.find("> [!CAUTION]").unwrap();
    assert!(
        caution < md.stdout.find("### Steps").unwrap(),
        "{}",
        md.stdout
    );
}

#[test]
fn a_removed_branch_shows_where_the_failure_goes_now() {
    let tree = Tree::new();
    tree.edit(
        P0,
        &[(
            "    on_success: status-page-resolved\n    on_failure: check-config\n",
            "    on_success: status-page-resolved\n",
        )],
    );
    let diff = snapshots(&tree, P0, "removed-branch");
    let step = &diff["steps"][0];
    assert_eq!(step["path"], "verify-health");
    assert_eq!(step["fields"][0]["field"], "on_failure");
    assert_eq!(step["fields"][0]["old_text"], "go to check-config");
    assert_eq!(step["fields"][0]["new_text"], "abort");
    assert_eq!(diff["summary"]["changed"], 1);
}

#[test]
fn a_changed_escalation_is_one_rung_changed() {
    let tree = Tree::new();
    tree.edit(
        P0,
        &[(
            "  - after: 30m\n    notify: [apeg-lead]\n",
            "  - after: 20m\n    notify: [apeg-lead, senior-engineer]\n",
        )],
    );
    let diff = snapshots(&tree, P0, "changed-escalation");
    assert_eq!(diff["escalation"].as_array().unwrap().len(), 1);
    let rung = &diff["escalation"][0];
    assert_eq!(rung["change"], "changed");
    assert_eq!(rung["old"]["after_ms"], 1_800_000);
    assert_eq!(rung["new"]["after_ms"], 1_200_000);
    assert_eq!(
        rung["new"]["notify"],
        serde_json::json!(["apeg-lead", "senior-engineer"])
    );
    assert!(diff["summary"]["changed"] == 0 && diff["steps"] == serde_json::json!([]));
}

#[test]
fn a_moved_step_and_a_removed_one() {
    let tree = Tree::new();
    let path = tree.path().join("new").join(P0);
    let text = std::fs::read_to_string(&path).unwrap();
    // Move `check-port` before `check-config`, and drop `nginx-config`.
    let start = text.find("  - id: check-port\n").unwrap();
    let end = text.find("  - id: nginx-status\n").unwrap();
    let port = text[start..end].to_owned();
    let mut text = format!("{}{}", &text[..start], &text[end..]);
    let at = text.find("  - id: check-config\n").unwrap();
    text.insert_str(at, &port);
    let start = text.find("  - id: nginx-config\n").unwrap();
    let end = text.find("  - id: apply-fix\n").unwrap();
    text.replace_range(start..end, "");
    std::fs::write(&path, text).unwrap();
    let out = tree.diff(P0, "json");
    out.expect_code(0);
    let diff = out.json();
    assert_eq!(diff["summary"]["moved"], 1, "{}", out.stdout);
    assert_eq!(diff["summary"]["removed"], 1, "{}", out.stdout);
    let moved = diff["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == "check-port")
        .unwrap();
    assert_eq!(
        moved["moved"],
        serde_json::json!({"from": "12", "to": "10"})
    );
    let removed = diff["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["change"] == "removed")
        .unwrap();
    assert_eq!(removed["path"], "nginx-config");
    assert_eq!(removed["step"]["command"], "sudo nginx -t");
}

#[test]
fn no_change_says_so() {
    let tree = Tree::new();
    let out = tree.diff(P0, "human");
    out.expect_code(0);
    assert!(
        out.stdout.ends_with("\nNo change to the plan.\n"),
        "{}",
        out.stdout
    );
    let json = tree.diff(P0, "json").json();
    assert_eq!(json["steps"], serde_json::json!([]));
    assert_eq!(json["summary"]["unchanged"], 19);
}

#[test]
fn against_a_git_revision() {
    let tree = Tree::new();
    let repo = tree.path().join("new");
    copy_dir(&root().join("inventories"), &repo.join("inventories"));
    git_init_committed(&repo);
    tree.edit(
        P0,
        &[("--since \"5 minutes ago\"", "--since \"15 minutes ago\"")],
    );
    let out = runbook([
        "plan", "--diff", "HEAD", P0, "-i", INVENTORY, "--format", "json",
    ])
    .current_dir(&repo)
    .run();
    out.expect_code(0);
    let diff = out.json();
    assert_eq!(diff["old"]["revision"], "HEAD");
    assert_eq!(diff["old"]["file"], P0);
    assert_eq!(diff["summary"]["changed"], 1);
    // The sub-playbooks came from the same revision: nothing else differs.
    assert_eq!(diff["steps"].as_array().unwrap().len(), 1, "{}", out.stdout);
    // A playbook the change adds: every step is new.
    std::fs::copy(repo.join(P0), repo.join("playbooks/apeg/p0-copy.yaml")).unwrap();
    let out = runbook([
        "plan",
        "--diff",
        "HEAD",
        "playbooks/apeg/p0-copy.yaml",
        "-i",
        INVENTORY,
        "--format",
        "markdown",
    ])
    .current_dir(&repo)
    .run();
    out.expect_code(0);
    assert!(out.stdout.contains("**new playbook**"), "{}", out.stdout);
    assert!(
        out.stdout.contains("**19 added, 0 removed"),
        "{}",
        out.stdout
    );
    // A revision that does not exist.
    let out = runbook(["plan", "--diff", "no-such-branch", P0])
        .current_dir(&repo)
        .run();
    out.expect_code(2);
    assert!(
        out.stderr.starts_with(
            "error: --diff no-such-branch: no such file, and not a git revision here\n"
        ),
        "{}",
        out.stderr
    );
}
