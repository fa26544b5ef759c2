//! Finding playbook and inventory files under the paths given on the command line.

use std::ffi::OsStr;
use std::path::PathBuf;

use walkdir::WalkDir;

/// Expands folders (recursively) into their `*.yaml` / `*.yml` files, sorted; files given
/// explicitly are kept whatever their name. Hidden folders, `target` and symlinks to folders
/// are skipped.
pub fn yaml_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, bool)>, (PathBuf, std::io::Error)> {
    let mut out = Vec::new();
    for path in paths {
        if !path.is_dir() {
            out.push((path.clone(), true));
            continue;
        }
        // Symlinks are not followed (walkdir's default): a link to a folder is not entered (a
        // link to its own parent would never end), a link to a file is read and checked there.
        // Sorting siblings by name gives the order of sorted paths.
        let walker = WalkDir::new(path)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_type().is_dir() || entered(e.file_name()));
        for entry in walker {
            let entry = entry.map_err(|err| {
                let at = err.path().unwrap_or(path).to_owned();
                (at, std::io::Error::from(err))
            })?;
            if !entry.file_type().is_dir() && is_yaml(entry.file_name()) {
                out.push((entry.into_path(), false));
            }
        }
    }
    Ok(out)
}

/// Folders a walk enters: not hidden ones (`.git`) and not `target`.
fn entered(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    !name.starts_with('.') && name != "target"
}

fn is_yaml(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// A YAML file found by walking a folder is ours when it names an `apiVersion` or `kind`;
/// other YAML (compose files, CI configs) is left alone.
pub fn looks_like_ours(bytes: &[u8]) -> bool {
    bytes
        .split(|b| *b == b'\n')
        .any(|line| line.starts_with(b"apiVersion:") || line.starts_with(b"kind:"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn walks_sorted_skipping_hidden_target_and_linked_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for folder in ["a", "a/deep", ".git", "target", "elsewhere"] {
            std::fs::create_dir_all(root.join(folder)).unwrap();
        }
        for file in [
            "b.yaml",
            "a.yml",
            "a/deep/x.yaml",
            "a/notes.txt",
            ".git/hidden.yaml",
            "target/built.yaml",
            "elsewhere/outside.yaml",
        ] {
            std::fs::write(root.join(file), "kind: Playbook\n").unwrap();
        }
        // A loop (a link to the walk's own root), a link to a folder and one to a file.
        symlink(root, root.join("a/loop")).unwrap();
        symlink(root.join("elsewhere"), root.join("linked")).unwrap();
        symlink(root.join("elsewhere/outside.yaml"), root.join("c.yaml")).unwrap();

        let found = yaml_files(&[root.join("a"), root.to_owned()]).unwrap();
        let names: Vec<String> = found
            .iter()
            .map(|(path, explicit)| {
                assert!(!explicit);
                path.strip_prefix(root).unwrap().display().to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "a/deep/x.yaml",
                "a/deep/x.yaml",
                "a.yml",
                "b.yaml",
                "c.yaml",
                "elsewhere/outside.yaml",
            ]
        );
    }

    #[test]
    fn explicit_files_are_kept_whatever_their_name() {
        let found = yaml_files(&[PathBuf::from("no/such/file.txt")]).unwrap();
        assert_eq!(found, [(PathBuf::from("no/such/file.txt"), true)]);
    }
}
