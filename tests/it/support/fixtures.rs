//! The binary at the workspace root (fixture paths in its output stay relative), the fixtures
//! under tests/fixtures, and insta settings that filter temp paths.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Output, cleared, root};

/// A `runbook` invocation at the workspace root: arguments, extra environment, stdin, working
/// directory. The environment holds only `PATH` and what [`Runbook::env`] adds.
#[must_use]
pub struct Runbook {
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdin: Vec<u8>,
    dir: PathBuf,
}

/// Starts building `runbook ARGS...`.
pub fn runbook<I, S>(args: I) -> Runbook
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    Runbook {
        args: args.into_iter().map(Into::into).collect(),
        env: Vec::new(),
        stdin: Vec::new(),
        dir: root().to_owned(),
    }
}

impl Runbook {
    /// One more argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// More arguments.
    pub fn args_from<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable, beside `PATH`.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Standard input (empty by default).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    /// Where it runs instead of the workspace root.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = dir.into();
        self
    }

    /// Runs the binary with only `PATH` (and what [`Runbook::env`] added) in its environment.
    pub fn run(self) -> Output {
        let mut cmd = assert_cmd::Command::from_std(cleared(super::BIN, &["PATH"]));
        cmd.args(&self.args)
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .write_stdin(self.stdin)
            // A hang is a bug too; this bounds it instead of blocking the test run forever.
            .timeout(Duration::from_secs(120));
        Output::of(&cmd.output().expect("runbook runs"))
    }
}

/// The `*.yaml` files under `tests/fixtures/<kind>`, recursively, sorted, relative to the root.
pub fn fixtures(kind: &str) -> Vec<PathBuf> {
    yaml_under(&root().join("tests/fixtures").join(kind))
        .into_iter()
        .map(|p| p.strip_prefix(root()).unwrap().to_owned())
        .collect()
}

/// Every seed playbook with its system's prod inventory, as paths from the workspace root:
/// `playbooks/SYSTEM/*.yaml` with `inventories/SYSTEM-prod.yaml`. A folder without a prod
/// inventory (`playbooks/common`: sub-playbooks, planned through their callers) is left out.
pub fn seed_playbooks() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut systems: Vec<_> = std::fs::read_dir(root().join("playbooks"))
        .unwrap()
        .flatten()
        .collect();
    systems.sort_by_key(std::fs::DirEntry::file_name);
    for system_dir in systems {
        let system = system_dir.file_name().to_string_lossy().into_owned();
        let inventory = format!("inventories/{system}-prod.yaml");
        if !root().join(&inventory).is_file() {
            continue;
        }
        for path in yaml_under(&system_dir.path()) {
            let rel = path
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((rel, inventory.clone()));
        }
    }
    out
}

/// Every `*.yaml` / `*.yml` file under `dir`, sorted; hidden folders are skipped.
pub fn yaml_under(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .filter(|p| {
            p.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    files
}

/// Parses YAML as the loader does (strict booleans: `yes` and `on` stay strings) into JSON.
pub fn parse_yaml(text: &str) -> Result<serde_json::Value, String> {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    serde_saphyr::from_str_with_options(text, options).map_err(|err| err.to_string())
}

/// Reads a YAML file into JSON as [`parse_yaml`] does; panics, naming the file, unless it is
/// YAML.
pub fn read_yaml(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
    parse_yaml(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Copies the folder `from` (the workspace's `playbooks/`, say) to `to`, creating it.
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target: PathBuf = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The codes a fixture declares on its first line: `# expect: code, code`.
pub fn expected_codes(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(root().join(path)).unwrap();
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let first = String::from_utf8_lossy(first);
    let list = first
        .strip_prefix("# expect:")
        .unwrap_or_else(|| panic!("{} lacks a `# expect: CODE` first line", path.display()));
    list.split(',').map(|c| c.trim().to_owned()).collect()
}

/// Insta settings for output that may hold temp paths: each becomes `[TMP]`.
pub fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(true);
    settings.set_omit_expression(true);
    let tmp = std::env::temp_dir();
    let tmp = tmp.to_string_lossy();
    let tmp = tmp.trim_end_matches('/');
    settings.add_filter(
        &format!(r"{}/\.tmp[A-Za-z0-9]+", escape_regex(tmp)),
        "[TMP]",
    );
    settings
}

fn escape_regex(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
