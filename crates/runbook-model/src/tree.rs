//! A playbook with the sub-playbooks its `playbook:` steps include, transitively: each file
//! read once, each path relative to the file that names it (as the runner resolves it), and
//! include cycles found instead of followed.
//!
//! `check` refuses cycles from here; `plan`, `run` and `resume` ask it which names a `--var`
//! may set (values flow into sub-playbooks) and which escalation channels the playbooks name,
//! to compare with an inventory.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use crate::diagnostic::{Diagnostic, Severity};
use crate::inventory::Inventory;
use crate::load::{self, Document};
use crate::playbook::Playbook;
use crate::source::Source;
use crate::spanned::Loc;
use crate::suggest::did_you_mean;

/// How many files deep a chain of includes is followed; deeper ones are not read.
const MAX_CHAIN: usize = 32;

/// A playbook and every playbook it includes. `nodes[0]` is the root; each file appears once.
#[derive(Debug)]
pub struct Tree {
    /// Every playbook file, the root first.
    pub nodes: Vec<Node>,
}

/// One playbook file of a [`Tree`].
#[derive(Debug)]
pub struct Node {
    /// The path as the runner reaches it: the including file's folder joined with the
    /// `playbook:` text (the root: as given).
    pub path: PathBuf,
    /// The file's text.
    pub source: Source,
    /// The parsed playbook.
    pub playbook: Playbook,
    /// Its `playbook:` steps, in file order (nested `parallel` steps included).
    pub includes: Vec<Include>,
}

/// One `playbook:` step and what it leads to.
#[derive(Debug, Clone)]
pub struct Include {
    /// The id of the step.
    pub step: String,
    /// Where the `playbook:` value is written.
    pub loc: Loc,
    /// The path as written.
    pub written: String,
    /// The path resolved against the including file's folder.
    pub path: PathBuf,
    /// What the include leads to: a playbook of the tree, or a cycle.
    pub target: Target,
}

/// What an include leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A playbook of the tree: an index into [`Tree::nodes`].
    Node(usize),
    /// A file that is already being included further up: the chain of files, from the one
    /// included again to the one including it, then that one again.
    Cycle(Vec<PathBuf>),
    /// No such file.
    Missing,
    /// A file that does not parse as a playbook (reported when that file is checked), or a
    /// chain of includes too deep to follow.
    Unread,
}

/// The fields a `playbook:` step contributes, taken before the walk borrows the tree.
struct IncludeStep {
    step: String,
    loc: Loc,
    written: String,
}

fn include_steps(playbook: &Playbook) -> Vec<IncludeStep> {
    playbook
        .all_steps()
        .into_iter()
        .filter_map(|s| {
            s.playbook.as_ref().map(|p| IncludeStep {
                step: s.id.value.clone(),
                loc: p.loc,
                written: p.value.clone(),
            })
        })
        .collect()
}

/// Reads includes depth first, each file once.
#[derive(Default)]
struct Walker {
    nodes: Vec<Node>,
    /// Files read, by identity (canonical path when it exists).
    index: HashMap<PathBuf, usize>,
    /// The files being included right now: identity and path.
    stack: Vec<(PathBuf, PathBuf)>,
}

/// A file's identity: two spellings of one file (`a/../b.yaml`, `b.yaml`) are the same file.
fn identity(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| normalize(path))
}

/// Removes `.` and folds `name/..` without touching the file system (for display and for
/// identities of files that do not exist).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

impl Walker {
    fn includes(&mut self, dir: &Path, steps: Vec<IncludeStep>) -> Vec<Include> {
        steps
            .into_iter()
            .map(|s| {
                let path = dir.join(&s.written);
                let target = self.target(&path);
                Include {
                    step: s.step,
                    loc: s.loc,
                    written: s.written,
                    path,
                    target,
                }
            })
            .collect()
    }

    fn target(&mut self, path: &Path) -> Target {
        if !path.is_file() {
            return Target::Missing;
        }
        let key = identity(path);
        if let Some(at) = self.stack.iter().position(|(k, _)| *k == key) {
            let mut chain: Vec<PathBuf> = self.stack[at..].iter().map(|(_, p)| p.clone()).collect();
            chain.push(path.to_owned());
            return Target::Cycle(chain);
        }
        if let Some(&i) = self.index.get(&key) {
            return Target::Node(i);
        }
        // Too deep, or too large to be a playbook (checked before reading it into memory).
        let too_large =
            std::fs::metadata(path).is_ok_and(|m| m.len() > load::MAX_FILE_BYTES as u64);
        if self.stack.len() >= MAX_CHAIN || too_large {
            return Target::Unread;
        }
        let Ok((mut source, Document::Playbook(playbook))) = load::load_path(path) else {
            return Target::Unread;
        };
        // Diagnostics name the file as a person would write it: `common/x.yaml`, not
        // `playbooks/apeg/../common/./x.yaml`.
        source.path = normalize(path).display().to_string();
        let i = self.push(path, key, source, *playbook);
        Target::Node(i)
    }

    /// Adds a file and reads what it includes.
    fn push(&mut self, path: &Path, key: PathBuf, source: Source, playbook: Playbook) -> usize {
        let steps = include_steps(&playbook);
        let i = self.nodes.len();
        self.nodes.push(Node {
            path: path.to_owned(),
            source,
            playbook,
            includes: Vec::new(),
        });
        self.index.insert(key.clone(), i);
        self.stack.push((key, path.to_owned()));
        let dir = path.parent().unwrap_or(Path::new("")).to_owned();
        let includes = self.includes(&dir, steps);
        self.stack.pop();
        self.nodes[i].includes = includes;
        i
    }
}

/// The sub-playbooks of a playbook that is borrowed, not owned (the validator's case): the
/// includes of the root, and the nodes they index.
pub(crate) fn walk_borrowed(file: &Path, playbook: &Playbook) -> (Vec<Include>, Vec<Node>) {
    let mut walker = Walker::default();
    walker.stack.push((identity(file), file.to_owned()));
    let dir = file.parent().unwrap_or(Path::new(""));
    let includes = walker.includes(dir, include_steps(playbook));
    (includes, walker.nodes)
}

/// The first include cycle reachable through `include`, if any.
pub(crate) fn cycle_through<'n>(include: &'n Include, nodes: &'n [Node]) -> Option<&'n [PathBuf]> {
    let mut seen = HashSet::new();
    let mut todo = vec![include];
    while let Some(inc) = todo.pop() {
        match &inc.target {
            Target::Cycle(chain) => return Some(chain),
            Target::Node(i) if seen.insert(*i) => {
                todo.extend(nodes[*i].includes.iter().rev());
            }
            _ => {}
        }
    }
    None
}

impl Tree {
    /// Reads a playbook and everything it includes. A root that does not parse as a playbook
    /// is an error; an include that does not is left out ([`Target::Unread`]).
    pub fn load(path: &Path) -> Result<Tree, Vec<Diagnostic>> {
        let (source, document) = load::load_path(path)?;
        match document {
            Document::Playbook(playbook) => Ok(Tree::new(path, source, *playbook)),
            Document::Inventory(_) => Err(vec![
                Diagnostic::error(
                    "not-a-playbook",
                    &source,
                    Loc::new(1, 1),
                    format!("{} is an inventory, not a playbook", path.display()),
                )
                .with_hint("give the playbook's path; an inventory goes after -i"),
            ]),
        }
    }

    /// The tree of a playbook already read.
    pub fn new(path: &Path, source: Source, playbook: Playbook) -> Tree {
        let mut walker = Walker::default();
        walker.push(path, identity(path), source, playbook);
        Tree {
            nodes: walker.nodes,
        }
    }

    /// The playbook the tree was read from.
    pub fn root(&self) -> &Node {
        &self.nodes[0]
    }

    /// Every include cycle, once each, as chains of files.
    pub fn cycles(&self) -> Vec<&[PathBuf]> {
        self.nodes
            .iter()
            .flat_map(|n| &n.includes)
            .filter_map(|i| match &i.target {
                Target::Cycle(chain) => Some(chain.as_slice()),
                _ => None,
            })
            .collect()
    }

    /// The names a value from outside may set: the params and vars of every playbook of the
    /// tree (`--var` values reach sub-playbooks too).
    pub fn known_names(&self) -> BTreeSet<&str> {
        self.nodes
            .iter()
            .flat_map(|n| {
                n.playbook
                    .params
                    .keys()
                    .chain(n.playbook.vars.keys())
                    .map(String::as_str)
            })
            .collect()
    }

    /// Every place a playbook of the tree names an escalation channel: the `notify` lists of
    /// its escalation rungs and of its steps' checks, `on_failure: {escalate: ...}` and the
    /// `notify:` of its steps.
    pub fn channel_uses(&self) -> Vec<ChannelUse> {
        let mut out = Vec::new();
        for (node, n) in self.nodes.iter().enumerate() {
            for rung in &n.playbook.escalation {
                for channel in &rung.notify {
                    out.push(ChannelUse {
                        channel: channel.value.clone(),
                        node,
                        loc: channel.loc,
                        step: None,
                    });
                }
            }
            for step in n.playbook.all_steps() {
                let from_checks = step.checks.iter().flat_map(|c| &c.notify);
                let from_notify = step.notify.iter().flat_map(|notify| &notify.channels);
                for channel in from_checks.chain(from_notify) {
                    out.push(ChannelUse {
                        channel: channel.value.clone(),
                        node,
                        loc: channel.loc,
                        step: Some(step.id.value.clone()),
                    });
                }
                if let Some(on_failure) = &step.on_failure
                    && let Some(channel) = on_failure.escalate()
                {
                    out.push(ChannelUse {
                        channel: channel.to_owned(),
                        node,
                        loc: n
                            .source
                            .find_after(on_failure.loc, channel)
                            .unwrap_or(on_failure.loc),
                        step: Some(step.id.value.clone()),
                    });
                }
            }
        }
        out
    }

    /// How a file of the tree is shown: relative to the root's folder when it is inside it.
    pub fn display(&self, path: &Path) -> String {
        display_from(&self.root().path, path)
    }
}

fn display_from(root: &Path, path: &Path) -> String {
    let root_dir = normalize(root.parent().unwrap_or(Path::new("")));
    let path = normalize(path);
    match path.strip_prefix(&root_dir) {
        Ok(rel) if root_dir != Path::new(".") => rel.display().to_string(),
        _ => path.display().to_string(),
    }
}

/// The chain of a cycle as `a.yaml → b.yaml → a.yaml`, relative to `root`'s folder.
pub fn chain_text(root: &Path, chain: &[PathBuf]) -> String {
    chain
        .iter()
        .map(|p| display_from(root, p))
        .collect::<Vec<_>>()
        .join(" → ")
}

/// A channel named by a playbook of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelUse {
    /// The channel's name as written.
    pub channel: String,
    /// The playbook that names it: an index into [`Tree::nodes`].
    pub node: usize,
    /// Where the name is written.
    pub loc: Loc,
    /// The step whose `on_failure` escalates to it; `None` for an escalation rung.
    pub step: Option<String>,
}

/// A channel a playbook escalates to that the inventory does not define.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingChannel {
    /// Where the playbook names the channel.
    pub used: ChannelUse,
    /// The inventory's channel closest to the name, when one is close.
    pub suggestion: Option<String>,
    /// Every channel the inventory defines.
    pub defined: Vec<String>,
}

/// The channels the playbooks of `tree` name that `inventory` does not define (every one of
/// them without an inventory), in file order.
pub fn missing_channels(tree: &Tree, inventory: Option<&Inventory>) -> Vec<MissingChannel> {
    let defined: Vec<String> = inventory
        .map(|i| i.channels.keys().cloned().collect())
        .unwrap_or_default();
    tree.channel_uses()
        .into_iter()
        .filter(|u| !defined.contains(&u.channel))
        .map(|used| MissingChannel {
            suggestion: did_you_mean(&used.channel, defined.iter().map(String::as_str))
                .map(str::to_owned),
            used,
            defined: defined.clone(),
        })
        .collect()
}

impl MissingChannel {
    /// The problem as a diagnostic at the place the channel is named. `plan` and `check -i`
    /// make it a warning; a run that would page into the void makes it an error.
    pub fn diagnostic(&self, tree: &Tree, severity: Severity) -> Diagnostic {
        let node = &tree.nodes[self.used.node];
        let hint = match (&self.suggestion, self.defined.is_empty()) {
            (Some(s), _) => format!("did you mean `{s}`?"),
            (None, true) => "the inventory defines no channels; add it under `channels:`".into(),
            (None, false) => format!("the inventory's channels are: {}", self.defined.join(", ")),
        };
        Diagnostic::new(
            severity,
            "unknown-channel",
            &node.source,
            self.used.loc,
            format!(
                "channel `{}` is not defined in the inventory",
                self.used.channel
            ),
        )
        .with_width(self.used.channel.chars().count())
        .with_hint(hint)
    }
}

/// A param the root playbook requires that nothing but `--var` (or the operator) can fill:
/// no default, no `from_env`, and the inventory does not set it.
pub fn unset_params<'t>(tree: &'t Tree, inventory: Option<&Inventory>) -> Vec<&'t str> {
    tree.root()
        .playbook
        .params
        .iter()
        .filter(|(name, p)| {
            p.default.is_none()
                && p.from_env.is_none()
                && !inventory.is_some_and(|i| i.vars.contains_key(*name))
        })
        .map(|(name, _)| name.as_str())
        .collect()
}

/// [`unset_params`] as warnings at each param's declaration.
pub fn unset_param_diagnostics(tree: &Tree, inventory: Option<&Inventory>) -> Vec<Diagnostic> {
    let root = tree.root();
    unset_params(tree, inventory)
        .into_iter()
        .map(|name| {
            let param = &root.playbook.params[name];
            // The value starts on the name's line or the next one: point at the name.
            let from = Loc::new(param.loc.line.saturating_sub(1).max(1), 1);
            let loc = root
                .source
                .find_after(from, name)
                .filter(|l| l.line <= param.loc.line)
                .unwrap_or(param.loc);
            Diagnostic::warning(
                "unset-param",
                &root.source,
                loc,
                format!("param `{name}` is required and the inventory does not set it"),
            )
            .with_width(name.chars().count())
            .with_hint(format!(
                "add `{name}` under the inventory's `vars:`, give it a `default`, or pass --var {name}=..."
            ))
        })
        .collect()
}

/// Steps whose `on:` names no host or group of the inventory (in the playbook and the
/// sub-playbooks it includes), as warnings at the `on:` value.
pub fn unknown_target_diagnostics(tree: &Tree, inventory: &Inventory) -> Vec<Diagnostic> {
    let known: Vec<&str> = inventory
        .hosts
        .keys()
        .chain(inventory.groups.keys())
        .map(String::as_str)
        .collect();
    let mut out = Vec::new();
    for node in &tree.nodes {
        for step in node.playbook.all_steps() {
            let Some(on) = &step.on else { continue };
            if inventory.resolve_target(on).is_some() {
                continue;
            }
            let hint = match did_you_mean(on, known.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None if known.is_empty() => {
                    "the inventory defines no hosts or groups; add it under `hosts:` or `groups:`"
                        .to_owned()
                }
                None => format!("the inventory's hosts and groups are: {}", known.join(", ")),
            };
            out.push(
                Diagnostic::warning(
                    "unknown-host",
                    &node.source,
                    on.loc,
                    format!(
                        "step `{}` runs on `{}`, which is not a host or group of the inventory",
                        step.id.value, on.value
                    ),
                )
                .with_width(on.value.chars().count())
                .with_hint(hint),
            );
        }
    }
    out
}
