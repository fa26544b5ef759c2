//! The docs tell the truth about the code: every crate and the test harness are on the
//! ARCHITECTURE.md map, and every field of a step and of a playbook in the JSON Schema is
//! described in docs/format.md.

use crate::support::root;

#[test]
fn every_crate_is_on_the_architecture_map() {
    let map = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    for entry in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            map.contains(&format!("crates/{name}")),
            "ARCHITECTURE.md does not mention crates/{name}"
        );
    }
}

/// The integration-test binary and its harness are on the map, and every harness file the map
/// names exists.
#[test]
fn every_test_module_is_on_the_architecture_map() {
    let map = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    for dir in ["tests/it", "tests/it/support"] {
        assert!(
            map.contains(&format!("`{dir}/`")),
            "ARCHITECTURE.md lacks {dir}/"
        );
    }
    for name in [
        "sandbox",
        "test",
        "transcript",
        "pty",
        "fixtures",
        "process",
        "http",
        "sshd",
        "schema",
    ] {
        assert!(
            root().join(format!("tests/it/support/{name}.rs")).is_file()
                && map.contains(&format!("`{name}.rs`")),
            "ARCHITECTURE.md names tests/it/support/{name}.rs, which must exist"
        );
    }
}

#[test]
fn every_source_file_the_architecture_map_names_exists() {
    let map = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let sources: Vec<String> = ["crates", "src", "tests"]
        .into_iter()
        .flat_map(|dir| {
            walkdir::WalkDir::new(root().join(dir))
                .into_iter()
                .flatten()
        })
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".rs"))
        .collect();
    let named = regex::Regex::new(r"`([a-z_/]+\.rs)`").unwrap();
    for name in named.captures_iter(&map).map(|c| c[1].to_owned()) {
        assert!(
            sources.iter().any(|p| p.ends_with(&format!("/{name}"))),
            "ARCHITECTURE.md names `{name}`, which is not a source file"
        );
    }
}

#[test]
fn every_schema_field_is_in_the_format_reference() {
    let reference = std::fs::read_to_string(root().join("docs/format.md")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/playbook.v1.json")).unwrap(),
    )
    .unwrap();
    let defs = &schema["$defs"];
    let mut missing = Vec::new();
    for (owner, properties) in [
        ("playbook", &schema["properties"]),
        ("step", &defs["Step"]["properties"]),
    ] {
        for field in properties.as_object().expect("an object schema").keys() {
            if !reference.contains(&format!("`{field}"))
                && !reference.contains(&format!("{field}:"))
            {
                missing.push(format!("{owner}.{field}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/format.md does not describe: {}",
        missing.join(", ")
    );
}

/// Snapshots of the one test binary live in tests/it/snapshots: a `.snap` left in tests/snapshots
/// for a module that moved into tests/it would never be read, and its test would fail asking for
/// a new one. Move it to `tests/it/snapshots/it__NAME.snap`.
#[test]
fn no_snapshot_of_a_moved_module_is_left_behind() {
    let moved: Vec<String> = std::fs::read_dir(root().join("tests/it"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".rs").map(|m| format!("{m}__"))
        })
        .collect();
    let stray: Vec<_> = walkdir::WalkDir::new(root().join("tests/snapshots"))
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".snap") && moved.iter().any(|m| name.starts_with(m)))
        .collect();
    assert!(
        stray.is_empty(),
        "snapshots in tests/snapshots of modules now in tests/it (move each to \
         tests/it/snapshots/it__NAME.snap): {stray:?}"
    );
}
