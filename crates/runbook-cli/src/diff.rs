//! `runbook plan --diff OLD NEW`: what a change does to the resolved plan.
//!
//! OLD is another playbook file, or a git revision: the same path at that revision
//! (`origin/main`, `HEAD~1`), or `REV:PATH` for a file that was renamed. A revision's
//! playbook is read with `git show` into a temporary folder laid out like the repository,
//! with the sub-playbooks it includes read from the same revision, so both sides are planned
//! the same way with the same inventory and values.

use std::path::{Component, Path, PathBuf};
use std::process::Command;

use runbook_exec::plan::{Plan, PlanStep};
use runbook_exec::plan_diff::{self, Side};
use runbook_model::Document;
use runbook_template::Engine;

use crate::args::{PlanArgs, PlanFormat};
use crate::plan::{plan_file, step_errors, warn_unset};
use crate::{CliError, Exit, render_diff, style, write_stdout};

pub fn run(engine: &Engine, args: &PlanArgs, old_spec: &str) -> Result<Exit, CliError> {
    let new_path = &args.playbook;
    let new_exists = new_path.is_file();
    let old = resolve_old(old_spec, new_path)?;
    let (old_plan, old_side, _tmp) = match &old {
        Old::File(path) => {
            let planned = plan_file(engine, path, &args.env, true)?;
            let side = side(&planned.plan, path.display().to_string(), None);
            (Some(planned.plan), side, None)
        }
        Old::Git { rev, path } => {
            let tmp = tempfile::Builder::new()
                .prefix("runbook-diff-")
                .tempdir()
                .map_err(|e| {
                    CliError::new(
                        Exit::Invalid,
                        format!(
                            "cannot create a folder in {}: {e}",
                            std::env::temp_dir().display()
                        ),
                    )
                })?;
            let plan = plan_at(engine, args, rev, path, tmp.path())?;
            let display = path.display().to_string();
            let side = match &plan {
                Some(plan) => side(plan, display, Some(rev.clone())),
                None => absent(display, Some(rev.clone())),
            };
            (plan, side, Some(tmp))
        }
    };
    let (new_plan, new_side) = if new_exists {
        let planned = plan_file(engine, new_path, &args.env, old_plan.is_some())?;
        let side = side(&planned.plan, new_path.display().to_string(), None);
        (Some(planned.plan), side)
    } else {
        if old_plan.is_none() {
            return Err(CliError::new(
                Exit::Invalid,
                format!("{} does not exist on either side", new_path.display()),
            ));
        }
        (None, absent(new_path.display().to_string(), None))
    };
    let unset = new_plan.as_ref().map(Plan::all_unset).unwrap_or_default();
    if args.strict && !unset.is_empty() {
        return Err(runbook_exec::Error::MissingParams(unset).into());
    }
    let diff = plan_diff::diff(old_plan.as_ref(), new_plan.as_ref(), old_side, new_side);
    let text = match args.format {
        PlanFormat::Human => render_diff::human(&diff, style::stdout()),
        PlanFormat::Markdown => render_diff::markdown(&diff),
        PlanFormat::Json => serde_json::to_string_pretty(&diff).unwrap_or_default() + "\n",
    };
    write_stdout(&text)?;
    warn_unset(&unset);
    match &new_plan {
        Some(plan) => step_errors(plan),
        None => Ok(Exit::Success),
    }
}

fn side(plan: &Plan, file: String, revision: Option<String>) -> Side {
    Side {
        file,
        revision,
        exists: true,
        name: Some(plan.name.clone()),
        title: Some(plan.title.clone()),
        version: plan.version.clone(),
    }
}

/// A side whose playbook does not exist (or, at a revision, cannot be planned).
fn absent(file: String, revision: Option<String>) -> Side {
    Side {
        file,
        revision,
        exists: false,
        name: None,
        title: None,
        version: None,
    }
}

/// The playbook `path` as it is at `rev`, planned from a copy under `tmp` laid out like the
/// repository (with the sub-playbooks it includes from the same revision), its files named
/// as in the repository. None when it does not exist at `rev` or cannot be planned there.
fn plan_at(
    engine: &Engine,
    args: &PlanArgs,
    rev: &str,
    path: &Path,
    tmp: &Path,
) -> Result<Option<Plan>, CliError> {
    let repo = Repo::find(args.playbook.parent().unwrap_or(Path::new(".")))?;
    let rel = repo.relative(path)?;
    if !repo.materialize(rev, &rel, tmp, 0)? {
        return Ok(None);
    }
    let display = path.display().to_string();
    match plan_file(engine, &tmp.join(&rel), &args.env, true) {
        Ok(planned) => {
            let mut plan = planned.plan;
            plan.file = display;
            rewrite_files(&mut plan, &|f| {
                Path::new(f).strip_prefix(tmp).ok().map(|rel| {
                    runbook_model::tree::normalize(&repo.cdup.join(rel))
                        .display()
                        .to_string()
                })
            });
            Ok(Some(plan))
        }
        Err(err) => {
            err.print();
            eprintln!("note: {display} at {rev} cannot be planned; it is compared as absent");
            Ok(None)
        }
    }
}

/// Sub-playbook file names, rewritten (the temporary copy's paths back to the repository's).
fn rewrite_files(plan: &mut Plan, f: &dyn Fn(&str) -> Option<String>) {
    fn walk(steps: &mut [PlanStep], f: &dyn Fn(&str) -> Option<String>) {
        for step in steps {
            walk(&mut step.children, f);
            if let Some(sub) = &mut step.playbook {
                if let Some(file) = f(&sub.file) {
                    sub.file = file;
                }
                walk(&mut sub.steps, f);
                walk(&mut sub.finally, f);
            }
        }
    }
    walk(&mut plan.steps, f);
    walk(&mut plan.finally, f);
}

enum Old {
    File(PathBuf),
    Git { rev: String, path: PathBuf },
}

/// OLD is a file when one exists by that name, else a git revision (`REV` or `REV:PATH`).
fn resolve_old(spec: &str, new_path: &Path) -> Result<Old, CliError> {
    if Path::new(spec).is_file() {
        return Ok(Old::File(PathBuf::from(spec)));
    }
    let (rev, path) = match spec.split_once(':') {
        Some((rev, path)) if !rev.is_empty() && !path.is_empty() => {
            (rev.to_owned(), PathBuf::from(path))
        }
        _ => (spec.to_owned(), new_path.to_owned()),
    };
    let dir = new_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let verified = git(
        dir,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    );
    match verified {
        Ok(_) => Ok(Old::Git { rev, path }),
        Err(_) => Err(CliError::new(
            Exit::Invalid,
            format!("--diff {spec}: no such file, and not a git revision here"),
        )
        .hint(
            "give the old playbook's file, or a revision such as origin/main, HEAD~1 or REV:PATH",
        )),
    }
}

/// Runs git in `dir`; stdout on success, stderr as the error.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// The git repository a playbook lives in.
struct Repo {
    /// The top-level folder, canonical.
    top: PathBuf,
    /// The top-level folder relative to the current folder (`../../`, or empty).
    cdup: PathBuf,
}

impl Repo {
    fn find(dir: &Path) -> Result<Repo, CliError> {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).trim().to_owned();
        let top = git(dir, &["rev-parse", "--show-toplevel"])
            .map(text)
            .map_err(|e| CliError::new(Exit::Invalid, format!("not in a git repository: {e}")))?;
        let cdup = git(Path::new("."), &["rev-parse", "--show-cdup"])
            .map(text)
            .unwrap_or_default();
        Ok(Repo {
            top: PathBuf::from(top)
                .canonicalize()
                .map_err(|e| CliError::new(Exit::Invalid, format!("git top level: {e}")))?,
            cdup: PathBuf::from(cdup),
        })
    }

    /// A path given on the command line, relative to the repository's top level.
    fn relative(&self, path: &Path) -> Result<PathBuf, CliError> {
        let absolute = std::env::current_dir()
            .map_err(|e| CliError::new(Exit::Invalid, format!("current folder: {e}")))?
            .join(path);
        let absolute = runbook_model::tree::normalize(&absolute);
        // The file may not exist (deleted by the change); its folder usually does.
        let (dir, name) = (absolute.parent(), absolute.file_name());
        let canonical = match (dir.and_then(|d| d.canonicalize().ok()), name) {
            (Some(dir), Some(name)) => dir.join(name),
            _ => absolute.clone(),
        };
        canonical
            .strip_prefix(&self.top)
            .map(Path::to_path_buf)
            .map_err(|_| {
                CliError::new(
                    Exit::Invalid,
                    format!("{} is outside the git repository", path.display()),
                )
            })
    }

    /// Writes `rel` as it is at `rev` under `root`, and the sub-playbooks it includes.
    /// False when the file does not exist at `rev`.
    fn materialize(
        &self,
        rev: &str,
        rel: &Path,
        root: &Path,
        depth: usize,
    ) -> Result<bool, CliError> {
        let target = root.join(rel);
        if target.exists() {
            return Ok(true);
        }
        if depth > runbook_exec::program::MAX_DEPTH {
            return Ok(false);
        }
        let spec = format!("{rev}:{}", rel.display());
        let Ok(bytes) = git(&self.top, &["show", &spec]) else {
            return Ok(false);
        };
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                CliError::new(
                    Exit::Invalid,
                    format!("cannot write {}: {e}", dir.display()),
                )
            })?;
        }
        std::fs::write(&target, &bytes).map_err(|e| {
            CliError::new(
                Exit::Invalid,
                format!("cannot write {}: {e}", target.display()),
            )
        })?;
        // Sub-playbooks from the same revision (a missing one makes `check` say so).
        if let Ok((_, Document::Playbook(playbook))) =
            runbook_model::load::load_bytes(&rel.display().to_string(), bytes)
        {
            let dir = rel.parent().unwrap_or(Path::new(""));
            for step in playbook.all_steps() {
                if let Some(sub) = &step.playbook {
                    let sub_rel = runbook_model::tree::normalize(&dir.join(sub.as_str()));
                    if sub_rel
                        .components()
                        .any(|c| matches!(c, Component::ParentDir | Component::RootDir))
                    {
                        continue;
                    }
                    self.materialize(rev, &sub_rel, root, depth + 1)?;
                }
            }
        }
        Ok(true)
    }
}
