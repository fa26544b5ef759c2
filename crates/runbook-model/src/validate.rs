//! Validation: every rule of FORMAT.md checked on a parsed playbook or inventory, collecting
//! every problem with its place instead of stopping at the first.
//!
//! **Invariant:** validation never fails; it returns the list of problems (possibly empty).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use runbook_template as template;
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::duration::DurationText;
use crate::inventory::Inventory;
use crate::playbook::SERIES_SUFFIX;
use crate::playbook::{Capture, Escalation, Flow, Matcher, Param, ParamType, Playbook, Step};
use crate::source::Source;
use crate::spanned::{Loc, Spanned};
use crate::tree::{self, Include, Target};

/// Names every template may read without declaring them.
pub const BUILTINS: &[&str] = &[
    "metadata", "params", "steps", "host", "env", "run", "incident",
];

static DESTRUCTIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
        \bdrop\s+(database|table|schema|index|user|role)\b
        | \bdropdb\b
        | \btruncate\b
        | \brm\s+(-[a-z]*r[a-z]*f|-[a-z]*f[a-z]*r|-r\s+-f|-f\s+-r|--recursive\s+--force|--force\s+--recursive)
        | \bflushdb\b | \bflushall\b
        | \bprune\b.*--volumes
        | \bmkfs(\.[a-z0-9]+)?\b
        | \bdd\b.*\bof=
        | \bdelete\s+from\b
        ",
    )
    .expect("static regex")
});

static KEBAB: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(crate::playbook::NAME_PATTERN).expect("static regex"));
static SEMVER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(crate::playbook::VERSION_PATTERN).expect("static regex"));

/// How a template is rendered, which decides the rules that apply to it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TemplateKind {
    /// A shell command: placeholders are quoted, so quotes around them and `raw` are checked.
    Shell,
    /// Text shown to people or sent to a channel.
    Text,
}

/// Checks a playbook. `file` is its path: sub-playbook paths are relative to its folder, and
/// an include cycle through it is an error. Without a path, sub-playbooks are not checked.
pub fn validate_playbook(
    source: &Source,
    playbook: &Playbook,
    file: Option<&Path>,
) -> Vec<Diagnostic> {
    let has_includes = playbook.all_steps().iter().any(|s| s.playbook.is_some());
    let (includes, nodes) = match file {
        Some(file) if has_includes => tree::walk_borrowed(file, playbook),
        _ => (Vec::new(), Vec::new()),
    };
    let mut v = Validator {
        src: source,
        out: Vec::new(),
        declared: HashSet::new(),
        step_ids: HashSet::new(),
        static_names: playbook
            .params
            .keys()
            .chain(playbook.vars.keys())
            .map(String::as_str)
            .collect(),
        watch_captures: HashSet::new(),
        file,
        includes: includes.iter().map(|i| (i.loc, i)).collect(),
        nodes: &nodes,
    };
    v.run(playbook);
    v.out
}

struct Validator<'a> {
    src: &'a Source,
    out: Vec<Diagnostic>,
    /// Names a template may read at the current point of the walk.
    declared: HashSet<&'a str>,
    /// Every step id in the playbook, for `steps.<id>` references.
    step_ids: HashSet<&'a str>,
    /// The params and vars: what a templated duration may read.
    static_names: HashSet<&'a str>,
    /// Captures of `watch` steps so far: each is also a list, `NAME_series` (format 1.1).
    watch_captures: HashSet<&'a str>,
    /// The playbook's file, when it has one.
    file: Option<&'a Path>,
    /// Its `playbook:` steps by the place of their path, and the files they lead to.
    includes: HashMap<Loc, &'a Include>,
    nodes: &'a [tree::Node],
}

impl<'a> Validator<'a> {
    fn run(&mut self, pb: &'a Playbook) {
        self.metadata(pb);
        self.schedule(pb);
        self.declared.extend(BUILTINS.iter().copied());
        for (name, param) in &pb.params {
            self.reserved(name, param.loc, "param");
            self.param(name, param);
            self.declared.insert(name);
        }
        for (name, value) in &pb.vars {
            self.reserved(name, value.loc, "var");
            self.declared.insert(name);
        }
        for value in pb.vars.values() {
            self.value_templates(value);
        }
        self.ids(pb);
        for rung in &pb.escalation {
            self.literal_duration(&rung.after);
        }
        if pb.steps.is_empty() {
            self.out.push(Diagnostic::warning(
                "no-steps",
                self.src,
                pb.kind.loc,
                "the playbook has no steps",
            ));
        }
        for step in &pb.steps {
            self.step(step);
        }
        for step in &pb.finally {
            self.step(step);
            if step.succeed.is_some() {
                self.ends_early_misplaced(step, "`finally`");
            }
        }
        // A rung's `when` and message are evaluated when it comes due: they may read any value
        // a step of the playbook learns (an answer, a capture), so they are checked after it.
        for rung in &pb.escalation {
            self.rung_conditions(rung);
        }
        self.targets(&pb.steps, "steps");
        self.targets(&pb.finally, "finally");
        self.flow_graph(&pb.steps);
    }

    /// Since format 1.1: a rung's `when` and `every`.
    fn rung_conditions(&mut self, rung: &Spanned<Escalation>) {
        if let Some(when) = &rung.when {
            self.expression(when, &[]);
        }
        if let Some(message) = &rung.message {
            self.template(message, TemplateKind::Text, &[]);
        }
        if let Some(every) = &rung.every {
            match every.parse() {
                Ok(d) if d.is_zero() => self.out.push(
                    Diagnostic::error(
                        "bad-duration",
                        self.src,
                        every.loc,
                        "escalation `every` must be longer than zero",
                    )
                    .with_width(every.0.chars().count().max(1)),
                ),
                Ok(_) => {}
                Err(_) => self.literal_duration(every),
            }
        }
    }

    fn metadata(&mut self, pb: &Playbook) {
        let name = &pb.metadata.name;
        if !KEBAB.is_match(name) {
            self.out.push(
                Diagnostic::error(
                    "bad-name",
                    self.src,
                    name.loc,
                    format!("metadata.name `{}` is not kebab-case", name.value),
                )
                .with_width(name.chars().count())
                .with_hint("use lowercase words joined by `-`, like `apeg-p0-service-down`"),
            );
        }
        if let Some(version) = &pb.metadata.version
            && !SEMVER.is_match(version)
        {
            self.out.push(
                Diagnostic::error(
                    "bad-version",
                    self.src,
                    version.loc,
                    format!(
                        "metadata.version `{}` is not a semantic version",
                        version.value
                    ),
                )
                .with_hint("write MAJOR.MINOR.PATCH, like 1.2.0"),
            );
        }
    }

    /// `metadata.schedule` (since format 1.1) is a cron expression.
    fn schedule(&mut self, pb: &Playbook) {
        if let Some(schedule) = &pb.metadata.schedule
            && let Err(why) = crate::cron::check_cron(schedule)
        {
            self.out.push(
                Diagnostic::error(
                    "bad-schedule",
                    self.src,
                    schedule.loc,
                    format!("metadata.schedule: {why}"),
                )
                .with_width(schedule.chars().count().max(1))
                .with_hint(
                    "write a cron expression like `0 9 * * 1-5` (09:00 on weekdays) or `@daily`",
                ),
            );
        }
    }

    fn reserved(&mut self, name: &str, loc: Loc, what: &str) {
        if BUILTINS.contains(&name) {
            self.out.push(
                Diagnostic::error(
                    "reserved-name",
                    self.src,
                    loc,
                    format!("{what} `{name}` shadows the built-in `{name}`"),
                )
                .with_hint(format!("built-ins are: {}", BUILTINS.join(", "))),
            );
        }
    }

    fn param(&mut self, name: &str, param: &Spanned<Param>) {
        if param.kind == ParamType::Choice && param.choices.is_empty() {
            self.out.push(Diagnostic::error(
                "bad-param",
                self.src,
                param.loc,
                format!("param `{name}` is a choice but lists no `choices`"),
            ));
        }
        if let Some(default) = &param.default
            && let Err(why) = check_value_type(param.kind, &param.choices, &default.value)
        {
            self.out.push(Diagnostic::error(
                "bad-param",
                self.src,
                default.loc,
                format!("default of param `{name}`: {why}"),
            ));
        }
    }

    /// Duplicate step ids anywhere, nested and `finally` included.
    fn ids(&mut self, pb: &'a Playbook) {
        let mut seen: HashMap<&str, Loc> = HashMap::new();
        let blocks = pb.blocks();
        for step in pb.all_steps().into_iter().chain(blocks.iter().copied()) {
            let id = &step.id;
            if let Some(first) = seen.get(id.as_str()) {
                self.out.push(
                    Diagnostic::error(
                        "duplicate-id",
                        self.src,
                        id.loc,
                        format!("duplicate step id `{}`", id.value),
                    )
                    .with_width(id.chars().count())
                    .with_hint(format!("first defined at line {}", first.line)),
                );
            } else {
                seen.insert(id, id.loc);
            }
            if id.is_empty() {
                self.out.push(Diagnostic::error(
                    "bad-id",
                    self.src,
                    id.loc,
                    "a step id cannot be empty",
                ));
            }
            if step.block.is_none() {
                self.step_ids.insert(id);
            }
        }
    }

    fn step(&mut self, spanned: &'a Spanned<Step>) {
        let step = &spanned.value;
        if let Some(children) = &step.block {
            self.block(spanned, children);
            return;
        }
        // A `for_each` item is a name in this step's own templates only (since format 1.1).
        let item = self.for_each(step);
        self.step_body(spanned);
        if let Some(name) = item {
            self.declared.remove(name);
        }
    }

    /// A `block:` (since format 1.1): its `when`, nothing else of a step's, and its steps.
    fn block(&mut self, spanned: &'a Spanned<Step>, children: &'a [Spanned<Step>]) {
        let step = &spanned.value;
        let names: Vec<_> = step
            .action_keywords()
            .into_iter()
            .filter(|k| *k != "block")
            .collect();
        if !names.is_empty() {
            self.out.push(
                Diagnostic::error(
                    "many-actions",
                    self.src,
                    step.id.loc,
                    format!(
                        "block `{}` also has {}: a block holds steps and does nothing itself",
                        step.id.value,
                        names.join(", ")
                    ),
                )
                .with_hint("move the action into a step of the block"),
            );
        }
        let extra = block_fields(step);
        if !extra.is_empty() {
            self.out.push(
                Diagnostic::error(
                    "misplaced-field",
                    self.src,
                    step.id.loc,
                    format!(
                        "block `{}`: {} cannot apply to a block",
                        step.id.value,
                        extra.join(", ")
                    ),
                )
                .with_hint("a block takes only id, name, doc and when; put the rest on its steps"),
            );
        }
        if children.is_empty() {
            self.out.push(Diagnostic::error(
                "empty-block",
                self.src,
                step.id.loc,
                format!("block `{}` has no steps", step.id.value),
            ));
        }
        if let Some(when) = &step.when {
            self.expression(when, &[]);
        }
        for child in children {
            self.step(child);
        }
    }

    /// A `for_each` step's items (since format 1.1); returns the item's name when it was
    /// declared for the step's templates (the caller forgets it after the step).
    fn for_each(&mut self, step: &'a Step) -> Option<&'a str> {
        let Some(for_each) = &step.for_each else {
            if let Some(name) = &step.item_name {
                self.out.push(
                    Diagnostic::error(
                        "misplaced-field",
                        self.src,
                        name.loc,
                        format!("step `{}`: `as` needs `for_each`", step.id.value),
                    )
                    .with_hint("remove `as`, or give the step `for_each:` items"),
                );
            }
            return None;
        };
        match &for_each.value {
            crate::playbook::ForEach::Expression(expr) => {
                if expr.contains("{{") || expr.contains("{%") {
                    self.out.push(
                        Diagnostic::error(
                            "template-syntax",
                            self.src,
                            for_each.loc,
                            "`for_each` is an expression, like `when`, not a template",
                        )
                        .with_hint(
                            "write `for_each: services`, not `for_each: \"{{ services }}\"`",
                        ),
                    );
                } else {
                    self.expression(&Spanned::new(expr.clone(), for_each.loc), &[]);
                }
            }
            crate::playbook::ForEach::Items(items) => {
                if items.is_empty() {
                    self.out.push(Diagnostic::warning(
                        "no-items",
                        self.src,
                        for_each.loc,
                        format!(
                            "step `{}` repeats over no items: it never runs",
                            step.id.value
                        ),
                    ));
                }
            }
        }
        let repeatable = step.run.is_some()
            || step.manual.is_some()
            || step.playbook.is_some()
            || step.notify.is_some()
            || step.report.is_some()
            || step.wait.is_some();
        if !repeatable && !step.actions().is_empty() {
            self.out.push(
                Diagnostic::error(
                    "misplaced-field",
                    self.src,
                    step.id.loc,
                    format!(
                        "step `{}`: `for_each` cannot repeat a `{}` step",
                        step.id.value,
                        step.actions()[0].keyword()
                    ),
                )
                .with_hint("repeat a run, manual, playbook, notify, report or wait step"),
            );
        }
        let name: &'a str = step.item_name();
        let loc = step.item_name.as_ref().map_or(for_each.loc, |n| n.loc);
        let identifier = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !identifier {
            self.out.push(
                Diagnostic::error(
                    "bad-name",
                    self.src,
                    loc,
                    format!("`as: {name}` is not a name a template can read"),
                )
                .with_hint("use lowercase letters, digits and `_`, like `service`"),
            );
            return None;
        }
        if step.capture.contains_key(name) || step.inputs.contains_key(name) {
            self.out.push(
                Diagnostic::error(
                    "reserved-name",
                    self.src,
                    loc,
                    format!(
                        "step `{}` captures or asks `{name}`, the name of its item",
                        step.id.value
                    ),
                )
                .with_hint("name the item with `as:`, or the capture, differently"),
            );
            return None;
        }
        if self.declared.contains(name) {
            self.out.push(
                Diagnostic::error(
                    "reserved-name",
                    self.src,
                    loc,
                    format!(
                        "the item name `{name}` of step `{}` is already a name its templates read",
                        step.id.value
                    ),
                )
                .with_hint("name the item with `as:`, like `as: service`"),
            );
            return None;
        }
        self.declared.insert(name);
        Some(name)
    }

    fn step_body(&mut self, spanned: &'a Spanned<Step>) {
        let step = &spanned.value;
        let names = step.action_keywords();
        match names.len() {
            0 => self.out.push(
                Diagnostic::error(
                    "no-action",
                    self.src,
                    step.id.loc,
                    format!("step `{}` has no action", step.id.value),
                )
                .with_hint(
                    "give it one of: run, manual, wait, parallel, playbook, report, notify, fail, succeed, block",
                ),
            ),
            1 => {}
            _ => {
                self.out.push(
                    Diagnostic::error(
                        "many-actions",
                        self.src,
                        step.id.loc,
                        format!(
                            "step `{}` has {} actions ({}); a step has exactly one",
                            step.id.value,
                            names.len(),
                            names.join(", ")
                        ),
                    )
                    .with_hint("split it into one step per action"),
                );
            }
        }
        // A step's checks read its own captures, or (since format 1.1) a manual step's inputs.
        let own: Vec<&str> = step
            .capture
            .keys()
            .chain(step.inputs.keys())
            .map(String::as_str)
            .collect();

        if step.watch.is_some() {
            self.watch_captures
                .extend(step.capture.keys().map(String::as_str));
        }
        if let Some(when) = &step.when {
            self.expression(when, &[]);
        }
        if let Some(run) = &step.run {
            self.template(run, TemplateKind::Shell, &[]);
            if step.danger.is_none()
                && let Some(found) = DESTRUCTIVE.find(run)
            {
                let loc = self.src.locate_in_value(run.loc, run, found.start());
                self.out.push(
                    Diagnostic::warning("destructive-unmarked", self.src, loc, format!("`{}` looks destructive, but the step is not marked", found.as_str()))
                        .with_width(found.as_str().chars().count())
                        .with_hint("add `danger: destructive` (and a `confirm_phrase`) so the operator must confirm it"),
                );
            }
        }
        if let Some(notify) = &step.notify {
            self.template(&notify.message, TemplateKind::Text, &[]);
        }
        for text in [
            &step.manual,
            &step.report,
            &step.confirm,
            &step.confirm_phrase,
            &step.fail,
            &step.succeed,
        ]
        .into_iter()
        .flatten()
        {
            self.template(text, TemplateKind::Text, &[]);
        }
        for value in step.env.values() {
            self.template(value, TemplateKind::Text, &[]);
        }
        for value in step.with.values() {
            self.value_templates(value);
        }
        for duration in [&step.wait, &step.timeout, &step.follow]
            .into_iter()
            .flatten()
        {
            self.duration(duration);
        }
        if let Some(retry) = &step.retry {
            if retry.attempts == 0 {
                self.out.push(Diagnostic::error(
                    "bad-retry",
                    self.src,
                    retry.loc,
                    "retry.attempts must be at least 1",
                ));
            }
            if let Some(delay) = &retry.delay {
                self.duration(delay);
            }
            if retry.backoff.is_some_and(|b| !(1.0..=10.0).contains(&b)) {
                self.out.push(Diagnostic::error(
                    "bad-retry",
                    self.src,
                    retry.loc,
                    "retry.backoff must be between 1.0 and 10.0",
                ));
            }
        }
        if let Some(watch) = &step.watch {
            self.duration(&watch.every);
            self.duration(&watch.duration);
        }
        if let Some(expect) = &step.expect {
            for matcher in [&expect.stdout, &expect.stderr].into_iter().flatten() {
                self.matcher(matcher);
            }
        }
        for (name, capture) in &step.capture {
            self.reserved(name, capture.loc, "capture");
            self.capture(name, capture);
        }
        for check in &step.checks {
            self.expression(&check.condition, &own);
            if let Some(message) = &check.message {
                self.template(message, TemplateKind::Text, &own);
            }
        }
        self.misplaced(spanned);
        if let Some(path) = &step.playbook
            && let Some(include) = self.includes.get(&path.loc).copied()
        {
            self.include(step, path, include);
        }
        if let Some(children) = &step.parallel {
            for child in children.iter().filter(|c| c.succeed.is_some()) {
                self.ends_early_misplaced(child, "a parallel group");
            }
            for child in children.iter().filter(|c| c.block.is_some()) {
                self.out.push(
                    Diagnostic::error(
                        "misplaced-field",
                        self.src,
                        child.id.loc,
                        format!(
                            "`{}` is a block inside a parallel group: the steps of a group run at once, a block's in order",
                            child.id.value
                        ),
                    )
                    .with_hint("list the steps in the group, each with the `when` they need"),
                );
            }
            // Children run at once: each sees only what was declared before the group, and
            // what they capture or ask becomes visible after it.
            let before = self.declared.clone();
            let mut after = before.clone();
            for child in children {
                self.declared.clone_from(&before);
                self.step(child);
                after.extend(self.declared.iter().copied());
            }
            self.declared = after;
        }
        // A command typed at run time runs as code (since format 1.1): allowed, never quiet.
        for (name, input) in &step.inputs {
            if input.kind == ParamType::Command {
                self.out.push(Diagnostic::warning(
                    "typed-command",
                    self.src,
                    step.id.loc,
                    format!(
                        "input `{name}` of step `{}` is a command typed at run time: what the operator types runs as code",
                        step.id.value
                    ),
                ));
            }
        }
        // What this step captures or asks is visible to the steps after it.
        self.declared.extend(own);
        self.declared.extend(step.inputs.keys().map(String::as_str));
    }

    /// A `playbook:` step: the file exists, no include cycle goes through it, and `with:`
    /// fits the sub-playbook's params.
    fn include(&mut self, step: &Step, path: &Spanned<String>, include: &Include) {
        if include.target == Target::Missing {
            self.out.push(
                Diagnostic::error(
                    "missing-playbook",
                    self.src,
                    path.loc,
                    format!("sub-playbook `{}` not found", path.value),
                )
                .with_width(path.chars().count())
                .with_hint(format!(
                    "the path is relative to this file's folder: {}",
                    include.path.display()
                )),
            );
            return;
        }
        if let Some(chain) = tree::cycle_through(include, self.nodes) {
            let root = self.file.unwrap_or(Path::new(""));
            let through_this = chain
                .first()
                .is_some_and(|first| tree::normalize(first) == tree::normalize(root));
            let what = match (&include.target, through_this) {
                (Target::Cycle(_), true) => "is this playbook itself",
                (_, true) => "includes this playbook again",
                (_, false) => "leads into an include cycle",
            };
            self.out.push(
                Diagnostic::error(
                    "include-cycle",
                    self.src,
                    path.loc,
                    format!(
                        "sub-playbook `{}` {what}: {}",
                        path.value,
                        tree::chain_text(root, chain)
                    ),
                )
                .with_width(path.chars().count())
                .with_hint("a playbook cannot include itself, directly or through others: the run would never end"),
            );
        }
        if let Target::Node(i) = include.target {
            self.sub_playbook_params(step, path, &self.nodes[i].playbook);
        }
    }

    /// `with:` must name params of the sub-playbook; its required params should be given.
    fn sub_playbook_params(&mut self, step: &Step, path: &Spanned<String>, sub: &Playbook) {
        for (name, value) in &step.with {
            if !sub.params.contains_key(name) {
                let loc = self.src.find_after(step.id.loc, name).unwrap_or(value.loc);
                self.out.push(
                    Diagnostic::error(
                        "unknown-param",
                        self.src,
                        loc,
                        format!("`{name}` is not a param of sub-playbook `{}`", path.value),
                    )
                    .with_width(name.chars().count())
                    .with_hint(format!(
                        "its params are: {}",
                        sub.params
                            .keys()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
        }
        for (name, param) in &sub.params {
            if param.default.is_none() && param.from_env.is_none() && !step.with.contains_key(name)
            {
                self.out.push(
                    Diagnostic::warning("unset-param", self.src, path.loc, format!("sub-playbook `{}` needs `{name}`, which `with:` does not set", path.value))
                        .with_width(path.chars().count())
                        .with_hint(format!("add `{name}: ...` under `with:` (otherwise it must come from the inventory or --var)")),
                );
            }
        }
    }

    /// `succeed:` where it cannot end anything early: every step of a parallel group and of
    /// `finally` runs anyway.
    fn ends_early_misplaced(&mut self, step: &Spanned<Step>, place: &str) {
        self.out.push(
            Diagnostic::error(
                "misplaced-field",
                self.src,
                step.id.loc,
                format!(
                    "step `{}`: `succeed` cannot end the run early from {place}",
                    step.id.value
                ),
            )
            .with_hint("put it among the main steps, or use `report:` to say how it ended"),
        );
    }

    /// Modifiers that only make sense with certain actions.
    fn misplaced(&mut self, spanned: &Spanned<Step>) {
        let step = &spanned.value;
        let is_run = step.run.is_some();
        let mut wrong = |field: &str, needs: &str| {
            self.out.push(
                Diagnostic::error(
                    "misplaced-field",
                    self.src,
                    step.id.loc,
                    format!("step `{}`: `{field}` needs {needs}", step.id.value),
                )
                .with_hint(format!("remove `{field}` or give the step {needs}")),
            );
        };
        if !step.with.is_empty() && step.playbook.is_none() {
            wrong("with", "a `playbook`");
        }
        if (!step.inputs.is_empty() || !step.checklist.is_empty()) && step.manual.is_none() {
            wrong("inputs/checklist", "a `manual` action");
        }
        for (field, set) in [
            ("expect", step.expect.is_some()),
            ("capture", !step.capture.is_empty()),
            ("retry", step.retry.is_some()),
            ("watch", step.watch.is_some()),
            ("on", step.on.is_some()),
            ("env", !step.env.is_empty()),
            ("follow", step.follow.is_some()),
            ("interactive", step.interactive),
        ] {
            if set && !is_run {
                wrong(field, "a `run` action");
            }
        }
        if (step.serial.is_some() || step.max_fail.is_some()) && step.on.is_none() {
            wrong("serial/max_fail", "`on:` hosts");
        }
        if step.confirm_phrase.is_some() && step.danger.is_none() {
            wrong("confirm_phrase", "`danger: destructive`");
        }
        if !step.checks.is_empty() && !is_run && step.manual.is_none() {
            wrong("checks", "a `run` or `manual` action");
        }
        if step.interactive && is_run {
            let expects_output = step
                .expect
                .as_ref()
                .is_some_and(|e| e.stdout.is_some() || e.stderr.is_some() || e.json.is_some());
            let refused: Vec<&str> = [
                ("capture", !step.capture.is_empty()),
                ("expect stdout/stderr/json", expects_output),
                ("watch", step.watch.is_some()),
                ("follow", step.follow.is_some()),
                ("retry", step.retry.is_some()),
                ("timeout", step.timeout.is_some()),
                ("on", step.on.is_some()),
            ]
            .into_iter()
            .filter_map(|(field, set)| set.then_some(field))
            .collect();
            if !refused.is_empty() {
                self.out.push(
                    Diagnostic::error(
                        "misplaced-field",
                        self.src,
                        step.id.loc,
                        format!(
                            "step `{}` is interactive: {} cannot apply to it",
                            step.id.value,
                            refused.join(", ")
                        ),
                    )
                    .with_hint("an interactive command has the terminal to itself; only its exit code is recorded"),
                );
            }
        }
        if step.follow.is_some() && step.watch.is_some() {
            self.out.push(
                Diagnostic::error(
                    "misplaced-field",
                    self.src,
                    step.id.loc,
                    format!(
                        "step `{}`: `follow` and `watch` do not go together",
                        step.id.value
                    ),
                )
                .with_hint("a followed stream runs once, for its duration; a watch repeats a command that ends"),
            );
        }
        // A `fail` step always fails and a `succeed` step always ends the run: a branch
        // after either would never be taken.
        if step.fail.is_some() || step.succeed.is_some() {
            let action = if step.fail.is_some() {
                "fail"
            } else {
                "succeed"
            };
            for (field, set) in [
                ("on_failure", step.on_failure.is_some()),
                ("on_success", step.on_success.is_some()),
            ] {
                if set {
                    self.out.push(
                        Diagnostic::error(
                            "misplaced-field",
                            self.src,
                            step.id.loc,
                            format!(
                                "step `{}`: `{field}` never applies to a `{action}` step, which ends the run",
                                step.id.value
                            ),
                        )
                        .with_hint(format!("remove `{field}`")),
                    );
                }
            }
        }
    }

    fn matcher(&mut self, matcher: &Spanned<Matcher>) {
        let m = &matcher.value;
        if m.contains.is_none()
            && m.not_contains.is_none()
            && m.equals.is_none()
            && m.matches.is_none()
        {
            self.out.push(
                Diagnostic::error("bad-matcher", self.src, matcher.loc, "empty matcher")
                    .with_hint("use one of: contains, not_contains, equals, matches"),
            );
        }
        if let Some(pattern) = &m.matches {
            self.regex(pattern);
        }
        for texts in [&m.contains, &m.not_contains].into_iter().flatten() {
            if texts.iter().next().is_none() {
                self.out.push(
                    Diagnostic::error("bad-matcher", self.src, matcher.loc, "an empty list")
                        .with_hint("list at least one text, or remove the field"),
                );
            }
        }
        let lists = [&m.contains, &m.not_contains]
            .into_iter()
            .flatten()
            .flat_map(|texts| texts.iter());
        for text in lists.chain(&m.equals) {
            self.template(
                &Spanned::new(text.clone(), matcher.loc),
                TemplateKind::Text,
                &[],
            );
        }
    }

    fn capture(&mut self, name: &str, capture: &Spanned<Capture>) {
        let c = &capture.value;
        let sources = [
            c.json.is_some(),
            c.regex.is_some(),
            c.stdout,
            c.stderr,
            c.exit,
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            self.out.push(
                Diagnostic::error(
                    "bad-capture",
                    self.src,
                    capture.loc,
                    format!("capture `{name}` must name exactly one source"),
                )
                .with_hint(
                    "one of: json: PATH, regex: PATTERN, stdout: true, stderr: true, exit: true",
                ),
            );
        }
        if let Some(pattern) = &c.regex {
            self.regex(pattern);
        }
    }

    fn regex(&mut self, pattern: &Spanned<String>) {
        // Parsing validates the syntax without building the automaton, which costs ~50x more.
        // Counted repetitions can make a short pattern too big to compile: build those.
        let result = regex_syntax::Parser::new()
            .parse(pattern)
            .map(|_| ())
            .map_err(|e| e.to_string())
            .and_then(|()| {
                if pattern.contains('{') {
                    regex::Regex::new(pattern)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                } else {
                    Ok(())
                }
            });
        if let Err(err) = result {
            let why = err.clone();
            let why = why
                .lines()
                .last()
                .unwrap_or("invalid regular expression")
                .trim();
            self.out.push(
                Diagnostic::error(
                    "bad-regex",
                    self.src,
                    pattern.loc,
                    format!("invalid regular expression: {why}"),
                )
                .with_width(pattern.chars().count()),
            );
        }
    }

    /// A duration that cannot be a template: the ladder's `after` is read before the run has
    /// values to render it with.
    fn literal_duration(&mut self, duration: &Spanned<DurationText>) {
        if let Err(why) = duration.parse() {
            self.out.push(
                Diagnostic::error("bad-duration", self.src, duration.loc, why)
                    .with_width(duration.0.chars().count().max(1)),
            );
        }
    }

    fn duration(&mut self, duration: &Spanned<DurationText>) {
        if duration.0.contains("{{") || duration.0.contains("{%") {
            self.duration_template(duration);
            return;
        }
        if let Err(why) = duration.parse() {
            self.out.push(
                Diagnostic::error("bad-duration", self.src, duration.loc, why)
                    .with_width(duration.0.chars().count().max(1)),
            );
        }
    }

    /// A templated duration (since format 1.1) is rendered before any step runs: it may read
    /// params and vars only. Whether the value is a duration is known at run start (a
    /// `type: duration` param's default is checked here).
    fn duration_template(&mut self, duration: &Spanned<DurationText>) {
        let text = Spanned::new(duration.0.clone(), duration.loc);
        let Ok(names) = template::analyze(&text) else {
            // Reported with its place by the template rules.
            self.template(&text, TemplateKind::Text, &[]);
            return;
        };
        for name in names {
            if name == "params" || self.static_names.contains(name.as_str()) {
                continue;
            }
            let loc = name_offset(&text, &name).map_or(text.loc, |offset| {
                self.src.locate_in_value(text.loc, &text, offset)
            });
            self.out.push(
                Diagnostic::error(
                    "bad-duration",
                    self.src,
                    loc,
                    format!("a duration can read only params and vars, not `{name}`"),
                )
                .with_width(name.chars().count())
                .with_hint("durations are rendered when the run starts, before any step captures or asks anything"),
            );
        }
    }

    /// Strings inside a free-form value (a var, a `with` param) are text templates.
    fn value_templates(&mut self, value: &Spanned<Value>) {
        let mut strings = Vec::new();
        collect_strings(&value.value, &mut strings);
        for text in strings {
            if text.contains("{{") || text.contains("{%") {
                let spanned = Spanned::new(text.to_owned(), value.loc);
                self.template(&spanned, TemplateKind::Text, &[]);
            }
        }
    }

    fn template(&mut self, text: &Spanned<String>, kind: TemplateKind, own: &[&str]) {
        if !text.contains("{{") && !text.contains("{%") {
            return;
        }
        match template::analyze(text) {
            Ok(names) => self.names(text, &names, own),
            Err(err) => {
                let offset = err
                    .range
                    .as_ref()
                    .map(|r| r.start)
                    .unwrap_or_else(|| line_offset(text, err.line));
                let loc = self.src.locate_in_value(text.loc, text, offset);
                self.out.push(
                    Diagnostic::error("template-syntax", self.src, loc, format!("template error: {}", err.message))
                        .with_hint("a literal `{{` in a command can be written as {{ '{{' }}, or wrap the text in {% raw %}...{% endraw %}"),
                );
                return;
            }
        }
        if text.contains("steps.") {
            self.step_references(text);
        }
        if kind == TemplateKind::Shell {
            let src = self.src;
            self.out
                .extend(shell_template_rules(src, text.loc, text, ""));
        }
    }

    fn expression(&mut self, expr: &Spanned<String>, own: &[&str]) {
        match template::analyze_expression(expr) {
            Ok(names) => self.names(expr, &names, own),
            Err(err) => self.out.push(Diagnostic::error(
                "template-syntax",
                self.src,
                expr.loc,
                format!("expression error: {}", err.message),
            )),
        }
    }

    fn names(
        &mut self,
        text: &Spanned<String>,
        names: &std::collections::BTreeSet<String>,
        own: &[&str],
    ) {
        for name in names {
            if self.declared.contains(name.as_str()) || own.contains(&name.as_str()) {
                continue;
            }
            if name
                .strip_suffix(SERIES_SUFFIX)
                .is_some_and(|stem| self.watch_captures.contains(stem))
            {
                continue;
            }
            let loc = name_offset(text, name).map_or(text.loc, |offset| {
                self.src.locate_in_value(text.loc, text, offset)
            });
            self.out.push(
                Diagnostic::error(
                    "undefined-name",
                    self.src,
                    loc,
                    format!("`{name}` is not declared"),
                )
                .with_width(name.chars().count())
                .with_hint(
                    "declare it under `params:` or `vars:`, or capture it in an earlier step",
                ),
            );
        }
    }

    /// `steps.<id>` must name a step of this playbook.
    fn step_references(&mut self, text: &Spanned<String>) {
        let Ok(nested) = template::analyze_nested(text) else {
            return;
        };
        for path in nested {
            let mut parts = path.split('.');
            if parts.next() != Some("steps") {
                continue;
            }
            if let Some(id) = parts.next()
                && !self.step_ids.contains(id)
            {
                let loc = self
                    .src
                    .find_after(text.loc, &format!("steps.{id}"))
                    .unwrap_or(text.loc);
                self.out.push(
                    Diagnostic::error(
                        "unknown-step",
                        self.src,
                        loc,
                        format!("`steps.{id}`: no step has the id `{id}`"),
                    )
                    .with_width(id.len() + 6),
                );
            }
        }
    }

    /// Goto targets (`on_failure`, `then`, `on_success`) must be steps of the same list (a
    /// block's steps are in its list, and a block is a target: its first step).
    fn targets(&mut self, steps: &[Spanned<Step>], section: &str) {
        let unfolded = crate::playbook::unfold(steps);
        let ids: HashSet<&str> = unfolded
            .iter()
            .flat_map(|u| std::iter::once(u.step).chain(u.blocks.iter().copied()))
            .map(|s| s.id.as_str())
            .collect();
        for step in unfolded.iter().map(|u| u.step) {
            let mut targets = Vec::new();
            if let Some(on_failure) = &step.on_failure
                && let Some(target) = on_failure.flow().target()
            {
                targets.push((target, on_failure.loc));
            }
            if let Some(on_success) = &step.on_success {
                targets.push((on_success.as_str(), on_success.loc));
            }
            for (target, loc) in targets {
                if ids.contains(target) {
                    continue;
                }
                let loc = self.src.find_after(loc, target).unwrap_or(loc);
                let hint = if self.step_ids.contains(target) {
                    format!(
                        "`{target}` is nested or in another section; a goto can only reach a step listed directly under `{section}:`"
                    )
                } else {
                    format!(
                        "the steps under `{section}:` are: {}",
                        unfolded
                            .iter()
                            .map(|u| u.step.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                self.out.push(
                    Diagnostic::error(
                        "unknown-target",
                        self.src,
                        loc,
                        format!("goto target `{target}` is not a step"),
                    )
                    .with_width(target.chars().count())
                    .with_hint(hint),
                );
            }
        }
    }

    /// Steps that no path reaches, and goto loops that nothing bounds explicitly.
    fn flow_graph(&mut self, steps: &[Spanned<Step>]) {
        let unfolded = crate::playbook::unfold(steps);
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, u) in unfolded.iter().enumerate() {
            index.insert(u.step.id.as_str(), i);
            // A goto to a block goes to its first step.
            for block in &u.blocks {
                index.entry(block.id.as_str()).or_insert(i);
            }
        }
        let guarded: Vec<bool> = unfolded.iter().map(|u| !u.blocks.is_empty()).collect();
        let steps: Vec<&Spanned<Step>> = unfolded.iter().map(|u| u.step).collect();
        let n = steps.len();
        // Successors of each step; `n` stands for the end of the run.
        let mut gotos: Vec<(usize, usize)> = Vec::new();
        let succ: Vec<Vec<usize>> = steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let mut next = Vec::with_capacity(3);
                if step.when.is_some() || guarded[i] {
                    next.push(i + 1);
                }
                // `fail` stops the run and `succeed` ends it: neither goes on in order.
                if step.fail.is_some() {
                    return next;
                }
                if step.succeed.is_some() {
                    next.push(n);
                    return next;
                }
                match step.on_success.as_ref().and_then(|t| index.get(t.as_str())) {
                    Some(&t) => {
                        next.push(t);
                        gotos.push((i, t));
                    }
                    None => next.push(i + 1),
                }
                match step.failure_flow() {
                    Flow::Abort => {}
                    Flow::Continue => next.push(i + 1),
                    Flow::Goto(target) => {
                        if let Some(&t) = index.get(target.as_str()) {
                            next.push(t);
                            gotos.push((i, t));
                        }
                    }
                }
                next
            })
            .collect();
        let reach = |from: usize| -> Vec<bool> {
            let mut seen = vec![false; n + 1];
            let mut queue = VecDeque::from([from]);
            seen[from] = true;
            while let Some(i) = queue.pop_front() {
                if i >= n {
                    continue;
                }
                for &j in &succ[i] {
                    let j = j.min(n);
                    if !seen[j] {
                        seen[j] = true;
                        queue.push_back(j);
                    }
                }
            }
            seen
        };
        if n == 0 {
            return;
        }
        let from_start = reach(0);
        for (i, step) in steps.iter().enumerate() {
            if !from_start[i] {
                self.out.push(
                    Diagnostic::warning("unreachable", self.src, step.id.loc, format!("no path reaches step `{}`", step.id.value))
                        .with_width(step.id.chars().count())
                        .with_hint("the steps before it always jump past it or stop the run; remove it or make it a goto target"),
                );
            }
        }
        let mut reported = HashSet::new();
        for (from, to) in gotos {
            if to > from || !reported.insert((to, from)) {
                continue;
            }
            let loops = to == from || reach(to)[from];
            let bounded = steps[to..=from].iter().any(|s| s.max_visits.is_some());
            if loops && !bounded {
                let target = &steps[to].id;
                self.out.push(
                    Diagnostic::warning(
                        "goto-loop",
                        self.src,
                        steps[from].id.loc,
                        format!("`{}` can go back to `{}`: a loop bounded only by the default max_visits ({})", steps[from].id.value, target.value, crate::playbook::DEFAULT_MAX_VISITS),
                    )
                    .with_width(steps[from].id.chars().count())
                    .with_hint(format!("set `max_visits` on a step of the loop (e.g. `{}`) to state the bound", steps[from].id.value)),
                );
            }
        }
    }
}

/// The fields of a block besides `id`, `name`, `doc`, `when` and `block`: none may be set.
fn block_fields(step: &Step) -> Vec<&'static str> {
    [
        ("with", !step.with.is_empty()),
        ("env", !step.env.is_empty()),
        ("expect", step.expect.is_some()),
        ("capture", !step.capture.is_empty()),
        ("checks", !step.checks.is_empty()),
        ("retry", step.retry.is_some()),
        ("timeout", step.timeout.is_some()),
        ("watch", step.watch.is_some()),
        ("on_failure", step.on_failure.is_some()),
        ("on_success", step.on_success.is_some()),
        ("confirm", step.confirm.is_some()),
        ("danger", step.danger.is_some()),
        ("confirm_phrase", step.confirm_phrase.is_some()),
        ("max_visits", step.max_visits.is_some()),
        ("inputs", !step.inputs.is_empty()),
        ("checklist", !step.checklist.is_empty()),
        ("on", step.on.is_some()),
        ("serial", step.serial.is_some()),
        ("max_fail", step.max_fail.is_some()),
        ("follow", step.follow.is_some()),
        ("interactive", step.interactive),
        ("for_each", step.for_each.is_some()),
        ("as", step.item_name.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect()
}

/// Where a name is read in a template: the first whole-word use inside a tag.
fn name_offset(template: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(open) = template[from..].find(['{']).map(|i| i + from) {
        let kind = template[open + 1..].chars().next();
        let close = match kind {
            Some('{') => "}}",
            Some('%') => "%}",
            _ => {
                from = open + 1;
                continue;
            }
        };
        let end = template[open + 2..]
            .find(close)
            .map_or(template.len(), |i| open + 2 + i);
        if let Some(i) = crate::source::find_word(&template[open + 2..end], name) {
            return Some(open + 2 + i);
        }
        from = end;
    }
    None
}

fn line_offset(text: &str, line: Option<usize>) -> usize {
    match line {
        Some(l) if l > 1 => text
            .match_indices('\n')
            .nth(l - 2)
            .map_or(0, |(i, _)| i + 1),
        _ => 0,
    }
}

fn collect_strings<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Checks that a value fits a param or input type; the message says what was expected.
pub fn check_value_type(kind: ParamType, choices: &[String], value: &Value) -> Result<(), String> {
    match (kind, value) {
        (ParamType::String, Value::String(_) | Value::Number(_)) => Ok(()),
        (ParamType::Int, Value::Number(n)) if n.is_i64() => Ok(()),
        (ParamType::Int, Value::String(s)) if s.parse::<i64>().is_ok() => Ok(()),
        (ParamType::Bool, Value::Bool(_)) => Ok(()),
        (ParamType::Bool, Value::String(s)) if matches!(s.as_str(), "true" | "false") => Ok(()),
        (ParamType::Duration, Value::String(s)) => crate::duration::parse_duration(s).map(|_| ()),
        (ParamType::Command, Value::String(s)) if !s.trim().is_empty() => Ok(()),
        (ParamType::Choice, Value::String(s)) if choices.iter().any(|c| c == s) => Ok(()),
        (ParamType::Choice, other) => Err(format!(
            "{} is not one of: {}",
            display(other),
            choices.join(", ")
        )),
        (kind, other) => Err(format!(
            "expected {}, got {}",
            type_name(kind),
            display(other)
        )),
    }
}

fn type_name(kind: ParamType) -> &'static str {
    match kind {
        ParamType::String => "a string",
        ParamType::Int => "an integer",
        ParamType::Bool => "true or false",
        ParamType::Duration => "a duration like 30s",
        ParamType::Command => "a command line",
        ParamType::Choice => "one of the choices",
    }
}

fn display(value: &Value) -> String {
    match value {
        Value::String(s) => format!("`{s}`"),
        other => other.to_string(),
    }
}

/// The rules of a shell template (`run`, a channel's `command`): placeholders where no value can
/// be written, and every opt-out of the quoting. `what` prefixes messages (`channel `x`: `).
fn shell_template_rules(src: &Source, loc: Loc, text: &str, what: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for found in template::scan::placeholder_problems(text) {
        let at = src.locate_in_value(loc, text, found.offset);
        let mut d = Diagnostic::error(
            "unsafe-placeholder",
            src,
            at,
            format!("{what}{}", found.problem.explain()),
        )
        .with_width(found.len);
        if let Some(hint) = found.problem.hint() {
            d = d.with_hint(hint);
        }
        out.push(d);
    }
    for opt_out in template::scan::opt_outs(text) {
        let at = src.locate_in_value(loc, text, opt_out.offset);
        let d = match opt_out.kind {
            template::scan::OptOutKind::Raw => Diagnostic::warning(
                "raw",
                src,
                at,
                format!("{what}`raw` inserts the value unquoted: it can become shell code"),
            )
            .with_hint("make sure the value can only come from the playbook or a trusted inventory"),
            template::scan::OptOutKind::Ignored => Diagnostic::warning(
                "ignored-opt-out",
                src,
                at,
                format!(
                    "{what}`{}` does not switch off the shell quoting: every value is still written as data",
                    opt_out.name
                ),
            )
            .with_hint("remove it; to insert a value as shell code, end its placeholder with `| raw`"),
        };
        out.push(d.with_width(opt_out.name.chars().count()));
    }
    out
}

/// Checks an inventory: its default target, group members, channels, secrets.
pub fn validate_inventory(source: &Source, inventory: &Inventory) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(target) = &inventory.target
        && inventory.resolve_target(target).is_none()
    {
        out.push(Diagnostic::error(
            "unknown-target-host",
            source,
            target.loc,
            format!(
                "target `{}` is not `local`, a host or a group of this inventory",
                target.value
            ),
        ));
    }
    for (name, host) in &inventory.hosts {
        for option in &host.ssh_options {
            if option.starts_with('-') || !option.contains('=') {
                out.push(Diagnostic::error(
                    "bad-ssh-option",
                    source,
                    host.loc,
                    format!("host `{name}`: ssh option `{option}` is not NAME=VALUE (it is passed as `-o NAME=VALUE`)"),
                ));
            }
        }
    }
    for (name, group) in &inventory.groups {
        for host in group.hosts() {
            if !inventory.hosts.contains_key(host) {
                let loc = source.find_after(group.loc, host).unwrap_or(group.loc);
                out.push(
                    Diagnostic::error(
                        "unknown-host",
                        source,
                        loc,
                        format!("group `{name}` lists `{host}`, which is not under `hosts:`"),
                    )
                    .with_width(host.chars().count()),
                );
            }
        }
        if inventory.hosts.contains_key(name) {
            out.push(Diagnostic::error(
                "name-clash",
                source,
                group.loc,
                format!("`{name}` is both a host and a group"),
            ));
        }
    }
    for (name, channel) in &inventory.channels {
        match (&channel.webhook, &channel.command) {
            (Some(_), Some(_)) | (None, None) => out.push(Diagnostic::error(
                "bad-channel",
                source,
                channel.loc,
                format!("channel `{name}` needs exactly one of `webhook` and `command`"),
            )),
            (Some(url), None) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                out.push(Diagnostic::error(
                    "bad-channel",
                    source,
                    channel.loc,
                    format!("channel `{name}`: webhook `{url}` is not an http(s) URL"),
                ));
            }
            (None, Some(command)) => match template::analyze(command) {
                Err(err) => {
                    let offset = err
                        .range
                        .as_ref()
                        .map(|r| r.start)
                        .unwrap_or_else(|| line_offset(command, err.line));
                    out.push(Diagnostic::error(
                        "template-syntax",
                        source,
                        source.locate_in_value(command.loc, command, offset),
                        format!("channel `{name}`: template error: {}", err.message),
                    ));
                }
                Ok(_) => out.extend(shell_template_rules(
                    source,
                    command.loc,
                    command,
                    &format!("channel `{name}`: "),
                )),
            },
            _ => {}
        }
    }
    let mut known: HashSet<&str> = inventory.vars.keys().map(String::as_str).collect();
    for host in inventory.hosts.values() {
        known.extend(host.vars.keys().map(String::as_str));
    }
    for group in inventory.groups.values() {
        known.extend(
            group
                .vars()
                .into_iter()
                .flat_map(|v| v.keys().map(String::as_str)),
        );
    }
    for secret in &inventory.secrets {
        if !known.contains(secret.as_str()) {
            out.push(
                Diagnostic::warning(
                    "unknown-secret",
                    source,
                    secret.loc,
                    format!(
                        "`{}` is listed as secret but no vars define it",
                        secret.value
                    ),
                )
                .with_width(secret.chars().count()),
            );
        }
    }
    out
}
