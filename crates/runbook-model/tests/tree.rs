//! The playbook tree: sub-playbooks read transitively and once each, paths relative to the
//! including file, cycles recorded rather than followed, and what the CLI and the runner ask
//! of it (names a `--var` may set, channels an inventory must define).

use std::path::Path;

use runbook_model::tree::{self, Target, Tree};
use runbook_model::{Document, Inventory, Severity, load};

/// A folder of files, written from `(relative path, text)` pairs.
fn files(list: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in list {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn playbook(name: &str, body: &str) -> String {
    format!("apiVersion: runbook/v1\nkind: Playbook\nmetadata:\n  name: {name}\n{body}")
}

fn inventory(dir: &Path, rel: &str) -> Inventory {
    match load::load_path(&dir.join(rel)).unwrap().1 {
        Document::Inventory(inv) => *inv,
        Document::Playbook(_) => panic!("{rel} is a playbook"),
    }
}

#[test]
fn sub_playbooks_are_read_transitively_and_once() {
    // top -> ops/a -> common/c, top -> ops/b -> common/c (a diamond: c is read once).
    let dir = files(&[
        (
            "top.yaml",
            &playbook(
                "top",
                "params:\n  base_url: {default: x}\nsteps:\n  - id: a\n    playbook: ops/a.yaml\n  - id: group\n    parallel:\n      - id: b\n        playbook: ops/b.yaml\n",
            ),
        ),
        (
            "ops/a.yaml",
            &playbook(
                "a",
                "vars:\n  region: eu\nsteps:\n  - id: c\n    playbook: ../common/c.yaml\n",
            ),
        ),
        (
            "ops/b.yaml",
            &playbook("b", "steps:\n  - id: c\n    playbook: ../common/c.yaml\n"),
        ),
        (
            "common/c.yaml",
            &playbook(
                "c",
                "params:\n  port: {type: int, default: 80}\nsteps:\n  - id: x\n    run: echo\n",
            ),
        ),
    ]);
    let tree = Tree::load(&dir.path().join("top.yaml")).unwrap();
    let names: Vec<&str> = tree
        .nodes
        .iter()
        .map(|n| n.playbook.metadata.name.as_str())
        .collect();
    assert_eq!(names, ["top", "a", "c", "b"]);
    assert_eq!(tree.root().includes.len(), 2, "the parallel child counts");
    assert_eq!(tree.nodes[3].includes[0].target, Target::Node(2));
    assert!(tree.cycles().is_empty());
    assert_eq!(
        tree.known_names().into_iter().collect::<Vec<_>>(),
        ["base_url", "port", "region"]
    );
    assert_eq!(tree.display(&tree.nodes[2].path), "common/c.yaml");
    assert!(tree.nodes[2].source.path.ends_with("/common/c.yaml"));
    assert!(!tree.nodes[2].source.path.contains(".."));
}

#[test]
fn cycles_are_recorded_not_followed() {
    let dir = files(&[
        (
            "a.yaml",
            &playbook("a", "steps:\n  - id: to-b\n    playbook: b.yaml\n"),
        ),
        (
            "b.yaml",
            &playbook(
                "b",
                "steps:\n  - id: to-a\n    playbook: ./sub/../a.yaml\n  - id: self\n    playbook: b.yaml\n",
            ),
        ),
        ("sub/keep", ""),
    ]);
    let root = dir.path().join("a.yaml");
    let tree = Tree::load(&root).unwrap();
    assert_eq!(tree.nodes.len(), 2);
    let chains: Vec<String> = tree
        .cycles()
        .iter()
        .map(|c| tree::chain_text(&root, c))
        .collect();
    assert_eq!(chains, ["a.yaml → b.yaml → a.yaml", "b.yaml → b.yaml"]);
}

#[test]
fn missing_and_unreadable_includes_are_marked() {
    let dir = files(&[
        (
            "a.yaml",
            &playbook(
                "a",
                "steps:\n  - id: gone\n    playbook: gone.yaml\n  - id: broken\n    playbook: broken.yaml\n",
            ),
        ),
        ("broken.yaml", "apiVersion: runbook/v1\nkind: Playbook\n: ["),
    ]);
    let tree = Tree::load(&dir.path().join("a.yaml")).unwrap();
    let targets: Vec<&Target> = tree.root().includes.iter().map(|i| &i.target).collect();
    assert_eq!(targets, [&Target::Missing, &Target::Unread]);
    assert_eq!(tree.root().includes[0].loc.line, 7);
}

#[test]
fn an_inventory_is_not_a_tree() {
    let dir = files(&[("inv.yaml", "apiVersion: runbook/v1\nkind: Inventory\n")]);
    let err = Tree::load(&dir.path().join("inv.yaml")).unwrap_err();
    assert_eq!(err[0].code, "not-a-playbook");
    let err = Tree::load(&dir.path().join("nope.yaml")).unwrap_err();
    assert_eq!(err[0].code, "unreadable");
}

#[test]
fn channels_missing_from_the_inventory_are_found_in_every_file() {
    let dir = files(&[
        (
            "p0.yaml",
            &playbook(
                "p0",
                "escalation:\n  - after: 15m\n    notify: [oncall, pager]\nsteps:\n  - id: restart\n    run: 'false'\n    on_failure: { escalate: leed, then: verify }\n  - id: verify\n    playbook: verify.yaml\n",
            ),
        ),
        (
            "verify.yaml",
            &playbook(
                "verify",
                "steps:\n  - id: health\n    run: 'false'\n    on_failure:\n      escalate: security\n",
            ),
        ),
        (
            "inv.yaml",
            "apiVersion: runbook/v1\nkind: Inventory\nchannels:\n  oncall: { webhook: 'https://x.example/hook' }\n  lead: { command: mail lead }\n",
        ),
    ]);
    let tree = Tree::load(&dir.path().join("p0.yaml")).unwrap();
    let uses = tree.channel_uses();
    let uses: Vec<(&str, usize, usize, Option<&str>)> = uses
        .iter()
        .map(|u| (u.channel.as_str(), u.node, u.loc.line, u.step.as_deref()))
        .collect();
    assert_eq!(
        uses,
        [
            ("oncall", 0, 7, None),
            ("pager", 0, 7, None),
            ("leed", 0, 11, Some("restart")),
            ("security", 1, 9, Some("health")),
        ]
    );
    let inv = inventory(dir.path(), "inv.yaml");
    let missing = tree::missing_channels(&tree, Some(&inv));
    let found: Vec<(&str, Option<&str>)> = missing
        .iter()
        .map(|m| (m.used.channel.as_str(), m.suggestion.as_deref()))
        .collect();
    assert_eq!(
        found,
        [("pager", None), ("leed", Some("lead")), ("security", None)]
    );
    let d = missing[1].diagnostic(&tree, Severity::Error);
    assert_eq!(
        (d.code, d.severity, d.line, d.column),
        ("unknown-channel", Severity::Error, 11, 29)
    );
    assert_eq!(d.message, "channel `leed` is not defined in the inventory");
    assert_eq!(d.hint.as_deref(), Some("did you mean `lead`?"));
    let d = missing[2].diagnostic(&tree, Severity::Warning);
    assert!(d.file.ends_with("verify.yaml"), "{}", d.file);
    assert_eq!(
        d.hint.as_deref(),
        Some("the inventory's channels are: oncall, lead")
    );
    // Without an inventory, every channel is missing.
    assert_eq!(tree::missing_channels(&tree, None).len(), 4);
}

#[test]
fn unset_params_are_those_only_the_command_line_could_fill() {
    let dir = files(&[
        (
            "p.yaml",
            &playbook(
                "p",
                "params:\n  domain: {}\n  token:\n    from_env: TOKEN\n  port: {default: 80}\n  region:\n    description: where\nsteps:\n  - id: a\n    run: echo {{ domain }} {{ token }} {{ port }} {{ region }}\n",
            ),
        ),
        (
            "inv.yaml",
            "apiVersion: runbook/v1\nkind: Inventory\nvars:\n  domain: example.com\n",
        ),
    ]);
    let tree = Tree::load(&dir.path().join("p.yaml")).unwrap();
    assert_eq!(tree::unset_params(&tree, None), ["domain", "region"]);
    let inv = inventory(dir.path(), "inv.yaml");
    assert_eq!(tree::unset_params(&tree, Some(&inv)), ["region"]);
    let d = tree::unset_param_diagnostics(&tree, Some(&inv));
    assert_eq!(
        (d[0].code, d[0].line, d[0].column),
        ("unset-param", 10, 3),
        "points at the name"
    );
}
