//! The docs tell the truth about the code: every crate is on the ARCHITECTURE.md map, and every
//! field of a step and of a playbook in the JSON Schema is described in docs/format.md.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

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
