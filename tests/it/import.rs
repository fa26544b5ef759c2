//! `runbook import`, through the real binary: every seed and every public runbook of the corpus
//! in tests/fixtures/import imports into playbooks that `check` accepts; the seeds' imports
//! reproduce most of the commands of the hand-written playbooks in playbooks/<system>/; the
//! corpus's playbooks are held by snapshots; `plan --var` shows the resolved commands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use crate::support::{read_yaml, root, runbook, settings};

/// The seeds and the folder of hand-written playbooks for each.
const SEEDS: &[(&str, &str)] = &[
    ("000_d5f2281cf50c1d13.txt", "apeg"),
    ("001_e62cc5b908de2483.txt", "agentic-platform"),
    ("002_593e536455697e71.txt", "ai-estimator"),
    ("003_f2d0d1d940d2a7a4.txt", "gpt-agent"),
    ("004_c5697c093fa1bf1e.txt", "apex"),
];

/// Share of hand-written commands the import reproduces, per seed, at least: (exact, loose).
/// Measured values are printed by the test; these floors sit just under them.
const FLOORS: &[(&str, f64, f64)] = &[
    ("apeg", 38.0, 62.0),
    ("agentic-platform", 41.0, 77.0),
    ("ai-estimator", 64.0, 78.0),
    ("gpt-agent", 62.0, 76.0),
    ("apex", 47.0, 58.0),
];

/// A copy of shared/seeds kept in the repository, so the tests do not depend on what lies
/// beside the checkout.
fn seeds_dir() -> PathBuf {
    root().join("tests/fixtures/seeds")
}

/// Imports a Markdown file into a fresh folder; returns the folder and the report.
fn import(markdown: &Path) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = runbook([
        "import".as_ref(),
        markdown.as_os_str(),
        "-o".as_ref(),
        dir.path().as_os_str(),
    ])
    .run();
    out.expect_code(0);
    (dir, out.stdout)
}

fn playbooks_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// `check` exits 0 on the folder: warnings allowed, never an error.
fn assert_checks(dir: &Path) {
    let out = runbook(["check".as_ref(), dir.as_os_str()]).run();
    assert_eq!(
        out.code,
        0,
        "check failed on the import:\n{}",
        out.transcript()
    );
    assert!(
        !out.stdout.contains("error") && !out.stderr.contains("error["),
        "{}",
        out.transcript()
    );
}

/// Every `run` of a playbook, nested steps included.
fn runs(doc: &serde_json::Value) -> Vec<String> {
    fn walk(steps: &serde_json::Value, out: &mut Vec<String>) {
        for step in steps.as_array().into_iter().flatten() {
            if let Some(run) = step.get("run").and_then(|r| r.as_str()) {
                out.push(run.to_owned());
            }
            for nested in ["parallel", "block"] {
                if let Some(children) = step.get(nested) {
                    walk(children, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&doc["steps"], &mut out);
    walk(&doc["finally"], &mut out);
    out
}

/// `{{ name }}`, and `$NAME` / `${NAME}`: the value of an environment variable is a
/// placeholder too (the import declares a param for it).
static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{.*?\}\}|\$\{[A-Z][A-Z0-9_]*\}|\$[A-Z][A-Z0-9_]*").unwrap());
/// Stands for any placeholder: `{{ service }}` in one playbook matches `apeg.service` in the
/// other.
const ANY: char = '\u{1}';

/// A command as comparable units: one per line and per `&&`, `cd DIR` dropped (a playbook may
/// spell the same folder as `cd X && cmd` or as a previous `cd X`), whitespace collapsed,
/// quotes dropped (moving quotes around a placeholder changes no command), placeholders made
/// wildcards, comments gone.
fn units(cmd: &str) -> Vec<Vec<String>> {
    let cmd = cmd.replace("{% raw %}", "").replace("{% endraw %}", "");
    let cmd = PLACEHOLDER.replace_all(&cmd, ANY.to_string().as_str());
    let cmd = cmd.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in cmd.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = match line.find(" # ") {
            Some(at) => &line[..at],
            None => line,
        };
        for part in line.split(" && ") {
            let words: Vec<String> = part
                .split_whitespace()
                .map(|w| w.replace(['"', '\''], ""))
                .filter(|w| !w.is_empty())
                .collect();
            // `cd DIR`, `set -e` and `|| true` are scaffolding around the commands compared.
            let words: Vec<String> = words
                .into_iter()
                .filter(|w| !matches!(w.as_str(), "{" | "}" | ";" | "true;"))
                .collect();
            let words = match words.iter().position(|w| w == "||") {
                Some(at) if words[at + 1..].iter().all(|w| w == "true") => words[..at].to_vec(),
                _ => words,
            };
            if words.is_empty()
                || (words[0] == "cd" && words.len() == 2)
                || (words[0] == "set"
                    && words
                        .iter()
                        .skip(1)
                        .all(|w| w.starts_with('-') || w == "pipefail"))
            {
                continue;
            }
            out.push(words);
        }
    }
    out
}

fn word_matches(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let pattern = |w: &str| {
        let parts: Vec<String> = w.split(ANY).map(regex::escape).collect();
        Regex::new(&format!("^{}$", parts.join(".*"))).unwrap()
    };
    (a.contains(ANY) && pattern(a).is_match(b)) || (b.contains(ANY) && pattern(b).is_match(a))
}

/// Exact: the same words in the same order.
fn exact(hand: &[String], imported: &[String]) -> bool {
    hand.len() == imported.len() && hand.iter().zip(imported).all(|(a, b)| word_matches(a, b))
}

/// Up to options and values: the hand-written command's program and literal words (options,
/// `sudo` and placeholders aside) appear in this order in the imported command, which starts
/// with the same program. `--no-pager`, `-fsS --max-time 5` or `-f {{ compose_file }}` added
/// by hand, or a literal the import kept where the hand-written playbook has a param, do not
/// count against the import.
fn loose(hand: &[String], imported: &[String]) -> bool {
    let value = |w: &String| w.chars().all(|c| c.is_ascii_digit() || "smhd.".contains(c));
    let hand: Vec<&String> = hand
        .iter()
        .enumerate()
        .filter(|(i, w)| {
            let after_option = *i > 0 && hand[i - 1].starts_with('-') && !hand[i - 1].contains('=');
            let skipped = w.starts_with('-')
                || w.contains(ANY)
                || w.as_str() == "sudo"
                || (after_option && value(w));
            !skipped
        })
        .map(|(_, w)| w)
        .collect();
    let imported: Vec<&String> = imported.iter().filter(|w| w.as_str() != "sudo").collect();
    let (Some(first), Some(program)) = (hand.first(), imported.first()) else {
        return false;
    };
    if !word_matches(first, program) {
        return false;
    }
    let mut rest = imported.iter();
    hand.iter().all(|h| rest.any(|i| word_matches(h, i)))
}

/// For one seed: (hand-written commands, matched exactly, matched loosely, the missed ones).
fn coverage(imported_dir: &Path, system: &str) -> (usize, usize, usize, Vec<String>) {
    let imported: Vec<Vec<String>> = playbooks_in(imported_dir)
        .iter()
        .flat_map(|p| runs(&read_yaml(p)))
        .flat_map(|r| units(&r))
        .collect();
    let mut total = 0;
    let mut strict = 0;
    let mut near = 0;
    let mut missed = Vec::new();
    for file in playbooks_in(&root().join("playbooks").join(system)) {
        for run in runs(&read_yaml(&file)) {
            let hand = units(&run);
            if hand.is_empty() {
                continue;
            }
            total += 1;
            if hand.iter().all(|h| imported.iter().any(|i| exact(h, i))) {
                strict += 1;
                near += 1;
            } else if hand.iter().all(|h| imported.iter().any(|i| loose(h, i))) {
                near += 1;
            } else {
                missed.push(run.lines().next().unwrap_or_default().to_owned());
            }
        }
    }
    (total, strict, near, missed)
}

#[test]
fn every_seed_imports_into_playbooks_that_pass_check() {
    let mut table = BTreeMap::new();
    for (seed, system) in SEEDS {
        let (dir, report) = import(&seeds_dir().join(seed));
        let files = playbooks_in(dir.path());
        assert!(files.len() >= 8, "{seed}: only {} playbooks", files.len());
        assert!(report.starts_with("# Import report: "), "{report}");
        assert_checks(dir.path());
        let (total, strict, near, missed) = coverage(dir.path(), system);
        let pct = |n: usize| 100.0 * n as f64 / total.max(1) as f64;
        println!(
            "{system:<17} {total:>4} hand-written commands: {:5.1}% imported exactly, {:5.1}% up to options",
            pct(strict),
            pct(near)
        );
        if std::env::var_os("IMPORT_MISSED").is_some() {
            for m in &missed {
                println!("    missed: {m}");
            }
        }
        table.insert(*system, (pct(strict), pct(near)));
    }
    for (system, exact_floor, loose_floor) in FLOORS {
        let (strict, near) = table[system];
        assert!(
            strict >= *exact_floor,
            "{system}: {strict:.1}% exact < {exact_floor}%"
        );
        assert!(
            near >= *loose_floor,
            "{system}: {near:.1}% up to options < {loose_floor}%"
        );
    }
}

/// The corpus of public runbooks (and our own samples): each imports, passes `check`, and its
/// playbooks and report are snapshots.
#[test]
fn corpus_imports_pass_check_and_match_snapshots() {
    let dir = root().join("tests/fixtures/import");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md") && !p.ends_with("SOURCES.md"))
        .collect();
    sources.sort();
    assert!(sources.len() >= 7, "corpus missing: {sources:?}");
    let licences = std::fs::read_to_string(dir.join("SOURCES.md")).unwrap();
    for source in sources {
        let stem = source.file_stem().unwrap().to_string_lossy().into_owned();
        if !stem.starts_with("own-") {
            assert!(
                licences.contains(&format!("`{stem}.md`")),
                "{stem}.md has no licence line in SOURCES.md"
            );
        }
        let (out, report) = import(&source);
        assert_checks(out.path());
        let settings = settings();
        settings.bind(|| {
            insta::assert_snapshot!(format!("{stem}--report"), report);
            for file in playbooks_in(out.path()) {
                let name = file.file_stem().unwrap().to_string_lossy().into_owned();
                insta::assert_snapshot!(
                    format!("{stem}--{name}"),
                    std::fs::read_to_string(&file).unwrap()
                );
            }
        });
    }
}

#[test]
fn plan_of_an_imported_playbook_shows_commands_resolved_with_var() {
    let (dir, _) = import(&root().join("tests/fixtures/import/openshift-collector-node-down.md"));
    let playbook = dir.path().join("collector-node-down.yaml");
    let out = runbook([
        "plan".as_ref(),
        playbook.as_os_str(),
        "--var".as_ref(),
        "pod_name=collector-x7k2p".as_ref(),
        "--var".as_ref(),
        "node_name=worker-3".as_ref(),
        "--var".as_ref(),
        "servicemonitor_name=collector".as_ref(),
        "--var".as_ref(),
        "name=instance".as_ref(),
        "--var".as_ref(),
        "namespace=openshift-logging".as_ref(),
        "--var".as_ref(),
        "collector_config_map=collector-config".as_ref(),
    ])
    .run();
    out.expect_code(0);
    assert!(
        out.stdout
            .contains("oc describe pod collector-x7k2p -n openshift-logging"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("oc describe node worker-3"),
        "{}",
        out.stdout
    );
    // Without the values, plan shows each as a visible placeholder; --strict refuses.
    let out = runbook(["plan".as_ref(), playbook.as_os_str()]).run();
    assert_eq!(out.code, 0, "{}", out.transcript());
    assert!(out.stdout.contains("⟨node_name⟩"), "{}", out.stdout);
    let out = runbook(["plan".as_ref(), "--strict".as_ref(), playbook.as_os_str()]).run();
    assert_eq!(out.code, 2, "{}", out.transcript());
}

#[test]
fn import_refuses_to_overwrite_and_writes_the_report_where_asked() {
    let dir = tempfile::tempdir().unwrap();
    let source = root().join("tests/fixtures/import/prometheus-operator-kube-pod-crash-looping.md");
    let report = dir.path().join("report.md");
    let args = |force: bool| {
        let mut a: Vec<std::ffi::OsString> = vec![
            "import".into(),
            source.clone().into(),
            "-o".into(),
            dir.path().join("out").into(),
            "--report".into(),
            report.clone().into(),
        ];
        if force {
            a.push("--force".into());
        }
        a
    };
    let out = runbook(args(false)).run();
    out.expect_code(0);
    assert!(
        out.stdout.is_empty(),
        "the report goes to the file: {}",
        out.stdout
    );
    assert!(out.stderr.contains("wrote 1 playbook(s)"), "{}", out.stderr);
    assert!(
        std::fs::read_to_string(&report)
            .unwrap()
            .contains("kube-pod-crash-looping.yaml")
    );
    let again = runbook(args(false)).run();
    again.expect_code(2);
    assert!(
        again.stderr.contains("exists; nothing was written"),
        "{}",
        again.stderr
    );
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    runbook(args(true)).run().expect_code(0);
}

#[test]
fn import_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let prose = dir.path().join("notes.md");
    std::fs::write(&prose, "# Notes\n\nNothing to run here.\n").unwrap();
    let out = runbook([
        "import".as_ref(),
        prose.as_os_str(),
        "-o".as_ref(),
        dir.path().join("o").as_os_str(),
    ])
    .run();
    out.expect_code(2);
    assert!(out.stderr.contains("no procedure found"), "{}", out.stderr);
    let latin1 = dir.path().join("latin1.md");
    std::fs::write(&latin1, b"# Caf\xe9\n\n```bash\nls\n```\n").unwrap();
    let out = runbook(["import".as_ref(), latin1.as_os_str()]).run();
    out.expect_code(2);
    assert!(out.stderr.contains("is not UTF-8"), "{}", out.stderr);
    let out = runbook(["import", "tests/fixtures/import/nowhere.md"]).run();
    out.expect_code(2);
    assert!(out.stderr.contains("cannot read"), "{}", out.stderr);
}
