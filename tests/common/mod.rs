//! The harness shared by the integration tests: a builder that runs the real `runbook` binary
//! in a cleared environment, fixture lookup, and insta settings that filter temp paths.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The workspace root: the binary runs here, so fixture paths in its output stay relative.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A `runbook` invocation: arguments, extra environment, stdin, working directory.
#[must_use]
pub struct Runbook {
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdin: Vec<u8>,
    dir: PathBuf,
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
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
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args_from<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = dir.into();
        self
    }

    /// Runs the binary with only `PATH` (and what [`Runbook::env`] added) in its environment.
    pub fn run(self) -> Output {
        let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_runbook"));
        cmd.args(&self.args)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .write_stdin(self.stdin)
            // A hang is a bug too; this bounds it instead of blocking the test run forever.
            .timeout(Duration::from_secs(120));
        let out = cmd.output().expect("runbook runs");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Output {
    /// The three parts as one text, for snapshots.
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Asserts the exit code, showing everything the run printed when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            code,
            "unexpected exit code\n{}",
            self.transcript()
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}):\n{}", self.stdout))
    }
}

/// The `*.yaml` files under `tests/fixtures/<kind>`, recursively, sorted, relative to the root.
pub fn fixtures(kind: &str) -> Vec<PathBuf> {
    yaml_under(&root().join("tests/fixtures").join(kind))
        .into_iter()
        .map(|p| p.strip_prefix(root()).unwrap().to_owned())
        .collect()
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
