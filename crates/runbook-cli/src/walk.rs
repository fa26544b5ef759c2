//! Finding playbook and inventory files under the paths given on the command line.

use std::path::{Path, PathBuf};

/// Expands folders (recursively) into their `*.yaml` / `*.yml` files, sorted; files given
/// explicitly are kept whatever their name. Hidden folders, `target` and symlinks to folders
/// are skipped.
pub fn yaml_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, bool)>, (PathBuf, std::io::Error)> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            found.sort();
            out.extend(found.into_iter().map(|p| (p, false)));
        } else {
            out.push((path.clone(), true));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), (PathBuf, std::io::Error)> {
    let entries = std::fs::read_dir(dir).map_err(|e| (dir.to_owned(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| (dir.to_owned(), e))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // The entry itself, not a symlink's target: a link to a folder is not followed (a link
        // to its own parent would never end), a link to a file is read and checked there.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            if !name.starts_with('.') && name != "target" {
                walk(&path, out)?;
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// A YAML file found by walking a folder is ours when it names an `apiVersion` or `kind`;
/// other YAML (compose files, CI configs) is left alone.
pub fn looks_like_ours(bytes: &[u8]) -> bool {
    bytes
        .split(|b| *b == b'\n')
        .any(|line| line.starts_with(b"apiVersion:") || line.starts_with(b"kind:"))
}
