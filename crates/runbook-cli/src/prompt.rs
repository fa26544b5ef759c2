//! The operator at the terminal: every question of a run, asked on stderr and answered with a
//! word or its first letter and Enter. Enter alone never runs a step.
//!
//! Text from the run (commands, messages, output quoted in verdicts) is shown through
//! [`visible`], so escape sequences are never obeyed. A secret input is read without echo,
//! and a secret default is never shown.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use runbook_exec::operator::{
    AfterFailure, AfterInterrupt, Answered, BeforeStep, Branch, HostsConfirm, HostsFailed,
    ManualAnswer, Operator, StepPreview,
};
use runbook_exec::process::Signals;
use runbook_model::ParamType;
use runbook_model::playbook::Input;
use runbook_transcript::time::format_duration;
use runbook_transcript::{Verdict, visible, visible_line};
use serde_json::Value;

use crate::status::StatusLine;
use crate::style::Style;

/// The incident clock: when the run started (on the clock) and the escalation deadlines.
#[derive(Debug, Clone)]
pub struct Clock {
    /// The incident clock: wall time since the run first started.
    pub clock: runbook_transcript::time::Clock,
    pub deadlines: Vec<(Duration, String)>,
}

impl Clock {
    fn line(&self, s: Style) -> String {
        s.dim(&self.text())
    }

    /// "⏱ 00:12:03 · next escalation: cto in 00:02:57", as it is now.
    pub fn text(&self) -> String {
        let elapsed = self.clock.elapsed();
        let mut text = format!("⏱ {}", clock(elapsed));
        if let Some((at, who)) = self.deadlines.iter().find(|(at, _)| *at > elapsed) {
            text.push_str(&format!(
                " · next escalation: {who} in {}",
                clock(*at - elapsed)
            ));
        }
        text
    }
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

/// Answers questions from the person at the terminal.
pub struct Interactive {
    name: String,
    style: Style,
    clock: Clock,
    /// "continue": stop asking before ordinary steps for the rest of the run.
    continue_all: AtomicBool,
    /// Stdin reached its end: nobody can answer any more, and the run stops.
    closed: AtomicBool,
    /// Ctrl-C and SIGTERM as the run counts them: a countdown stops at one, so it does not
    /// go on reading stdin behind the question the runner asks next.
    signals: tokio::sync::watch::Receiver<Signals>,
    /// Called before anything is shown: clears the printer's spinner.
    pause: Box<dyn Fn() + Send + Sync>,
    /// The clock and the current step on the terminal's last row, ticking by itself.
    status: Option<StatusLine>,
}

impl Interactive {
    pub fn new(
        name: String,
        style: Style,
        clock: Clock,
        signals: tokio::sync::watch::Receiver<Signals>,
    ) -> Self {
        Interactive {
            name,
            style,
            clock,
            continue_all: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            signals,
            pause: Box::new(|| {}),
            status: None,
        }
    }

    /// Keeps the clock and the current step on the terminal's last row (when it can).
    pub fn with_status_line(mut self) -> Self {
        self.status = StatusLine::start(self.clock.clone(), self.style);
        self
    }

    /// Gives the terminal back whole to a program that takes it (an editor, a shell).
    fn whole_terminal(&self) -> Option<crate::status::Suspended<'_>> {
        self.status.as_ref().map(StatusLine::suspend)
    }

    /// `pause` runs before every line the operator is shown (see [`Printer::pause`]).
    ///
    /// [`Printer::pause`]: crate::printer::Printer::pause
    pub fn pausing(mut self, pause: impl Fn() + Send + Sync + 'static) -> Self {
        self.pause = Box::new(pause);
        self
    }

    fn say(&self, text: &str) {
        (self.pause)();
        to_operator(|out| {
            let _ = writeln!(out, "{text}");
        });
    }

    /// Reads one answer; `None` at the end of input (nobody is there to answer: the run
    /// stops, see [`Operator::gone`]).
    fn ask(&self, question: &str) -> Option<String> {
        self.ask_with(question, false)
    }

    /// Reads one answer, without echoing it when `hidden` (and stdin is a terminal).
    fn ask_with(&self, question: &str, hidden: bool) -> Option<String> {
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        (self.pause)();
        let line = format!("{} {} ", question, self.style.bold("›"));
        to_operator(|out| {
            let _ = write!(out, "{line}");
            let _ = out.flush();
        });
        *open_question() = Some(OpenQuestion {
            line,
            clock: self.clock.clone(),
            style: self.style,
        });
        if let Some(status) = &self.status {
            status.set_waiting(true);
        }
        let answer = read_answer(hidden).map(|l| l.trim().to_owned());
        if let Some(status) = &self.status {
            status.set_waiting(false);
        }
        *open_question() = None;
        if answer.is_none() {
            self.end_of_input();
        }
        answer
    }

    /// Stdin ended: no question is asked any more, and the operator is [`Operator::gone`].
    fn end_of_input(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            self.say(&format!(
                "\n  {} end of input: nobody is left to answer; the run stops (resumable)",
                self.style.warning("EOF")
            ));
        }
    }

    /// Asks until the answer is one of `choices` (by word or first letter). At the end of
    /// input it returns the choice that does the least (`abort`, `no`, `skip`, else the last
    /// one) with the answer `(EOF)`; the runner does not use it (see [`Operator::gone`]).
    fn choose(
        &self,
        question: &str,
        choices: &[&'static str],
        default: Option<&'static str>,
        help: &str,
    ) -> (&'static str, String) {
        loop {
            let Some(answer) = self.ask(question) else {
                let safest = ["abort", "no", "skip"]
                    .into_iter()
                    .find_map(|c| choices.iter().find(|x| **x == c))
                    .or(choices.last())
                    .copied()
                    .unwrap_or("abort");
                return (safest, EOF_ANSWER.to_owned());
            };
            if answer.is_empty() {
                if let Some(d) = default {
                    return (d, "(Enter)".to_owned());
                }
                self.say("  Enter alone does nothing here: type a word or its first letter (? for help).");
                continue;
            }
            if answer == "?" || answer == "help" || answer == "h" {
                self.say(help);
                // The help also tells the time: the card's clock may be minutes old.
                self.say(&format!("  {}", self.clock.line(self.style)));
                continue;
            }
            let lower = answer.to_lowercase();
            if let Some(choice) = choices
                .iter()
                .find(|c| **c == lower || (lower.len() == 1 && c.starts_with(&lower)))
            {
                return (choice, answer);
            }
            self.say(&format!("  `{answer}` is not an answer here (? for help)."));
        }
    }

    /// The step card's first line: position, id and name, the incident clock.
    fn header(&self, id: &str, name: &str, position: Option<(usize, usize)>) {
        let s = self.style;
        let mut title = step_title(id, position);
        if let Some(status) = &self.status {
            status.set_step(title.clone());
        }
        if name != id {
            title.push_str(&format!(" · {name}"));
        }
        self.say(&format!(
            "\n{} {}   {}",
            s.bold("──"),
            s.bold(&title),
            self.clock.line(s)
        ));
    }

    /// Lets the operator change a command: in `$VISUAL`/`$EDITOR` with the command filled
    /// in, else typed at the prompt. Shows the result and runs it only on a yes; `None` keeps
    /// the step's own command (unchanged, declined, or the end of input).
    fn edit(&self, command: &str) -> Option<String> {
        let s = self.style;
        let editor = std::env::var("VISUAL")
            .or_else(|_| std::env::var("EDITOR"))
            .ok()
            .filter(|e| !e.trim().is_empty());
        if command.contains("***1***") {
            self.say(&format!(
                "  {} stands for a secret of the run: keep it where the secret goes",
                s.command("***1***")
            ));
        }
        let edited = match editor {
            Some(editor) => {
                let dir = tempfile::Builder::new()
                    .prefix("runbook-edit-")
                    .tempdir()
                    .ok()?;
                let file = dir.path().join("command.sh");
                std::fs::write(&file, format!("{command}\n")).ok()?;
                self.say(&format!("  editing the command in {editor}"));
                // The editor's own words may hold arguments (`code --wait`): bash splits them.
                let _whole = self.whole_terminal();
                let status = std::process::Command::new("bash")
                    .arg("-c")
                    .arg(format!("{editor} \"$1\""))
                    .arg("runbook-edit")
                    .arg(&file)
                    .status();
                match status {
                    Ok(st) if st.success() => {}
                    _ => {
                        self.say("  the editor failed: the command is unchanged");
                        return None;
                    }
                }
                std::fs::read_to_string(&file)
                    .ok()?
                    .trim_end_matches('\n')
                    .to_owned()
            }
            None => {
                self.say(&format!(
                    "  Type the whole new command ($EDITOR is not set); Enter keeps {}",
                    s.command(&format!(
                        "$ {}",
                        visible_line(command.lines().next().unwrap_or(""))
                    ))
                ));
                self.ask("  New command")?
            }
        };
        if edited.trim().is_empty() || edited == command {
            self.say("  The command is unchanged.");
            return None;
        }
        self.say(&format!("  {}", s.warning("edited (for this run only):")));
        for (i, line) in edited.lines().enumerate() {
            self.say(&format!(
                "  {}",
                s.command(&format!(
                    "{}{}",
                    if i == 0 { "$ " } else { "  " },
                    visible_line(line)
                ))
            ));
        }
        let (choice, _) = self.choose(
            "Run the edited command? [y]es [n]o",
            &["yes", "no"],
            None,
            "  yes runs the edited command; no goes back to the step's question",
        );
        (choice == "yes").then_some(edited)
    }

    /// Opens the operator's `$SHELL` inside the run: the playbook's values (not the secret
    /// ones) and RUNBOOK_RUN/RUNBOOK_STEP in its environment, a prompt that says so (bash),
    /// and its history kept; returns the commands typed, for the transcript.
    fn shell(&self, step: &str, values: &[(String, String)]) -> Vec<String> {
        let shell = std::env::var("SHELL").unwrap_or_else(|_| "bash".into());
        let names: Vec<&str> = values.iter().map(|(n, _)| n.as_str()).collect();
        self.say(&format!(
            "  starting {shell} inside the run (step {}); exit it to come back to this question",
            visible_line(step)
        ));
        if !names.is_empty() {
            self.say(&format!(
                "  the playbook's values are in its environment: {}",
                visible_line(
                    &names
                        .iter()
                        .map(|n| format!("${n}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("runbook-shell-")
            .tempdir()
            .ok();
        let history = dir.as_ref().map(|d| d.path().join("history"));
        let mut command = std::process::Command::new(&shell);
        command
            .envs(values.iter().map(|(n, v)| (n, v)))
            .env("RUNBOOK_STEP", step)
            .env("PS1", format!("(runbook: {step}) \\w \\$ "));
        if let Some(history) = &history {
            command.env("HISTFILE", history);
        }
        // bash: its own rc file keeps the user's one, then marks the prompt and writes the
        // history after every command.
        if let (Some(dir), true) = (&dir, shell.ends_with("bash")) {
            let rc = dir.path().join("rc");
            let text = format!(
                "[ -f ~/.bashrc ] && . ~/.bashrc\nPS1='(runbook: {}) '\"$PS1\"\nHISTFILE={}\nPROMPT_COMMAND='history -a'\n",
                step.replace('\'', ""),
                shlex_quote(
                    &history
                        .as_ref()
                        .expect("with the dir")
                        .display()
                        .to_string()
                )
            );
            if std::fs::write(&rc, text).is_ok() {
                command.arg("--rcfile").arg(&rc).arg("-i");
            }
        }
        let whole = self.whole_terminal();
        let ran = command.status();
        drop(whole);
        if let Err(err) = ran {
            self.say(&format!("  cannot start {shell}: {err}"));
        }
        history
            .and_then(|h| std::fs::read_to_string(h).ok())
            .map(|text| {
                text.lines()
                    .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// "step 4 of 9 · resources", or the id alone outside the main steps' count.
fn step_title(id: &str, position: Option<(usize, usize)>) -> String {
    let id = visible_line(id);
    match position {
        Some((n, m)) => format!("step {n} of {m} · {id}"),
        None => id.into_owned(),
    }
}

/// A path quoted for a bash rc file.
fn shlex_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Markdown for a terminal: headings and **bold** in bold, `code` in colour, the rest as is.
pub fn render_markdown(text: &str, s: Style) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let rendered = if let Some(h) = trimmed.strip_prefix('#') {
            s.bold(h.trim_start_matches('#').trim())
        } else {
            let mut buf = String::new();
            let mut rest = line;
            while let Some(start) = rest.find(['`', '*']) {
                buf.push_str(&rest[..start]);
                let tail = &rest[start..];
                let (marker, paint): (&str, fn(&Style, &str) -> String) = if tail.starts_with("**")
                {
                    ("**", Style::bold)
                } else if tail.starts_with('`') {
                    ("`", Style::command)
                } else {
                    ("*", Style::bold)
                };
                let body = &tail[marker.len()..];
                match body.find(marker) {
                    Some(end) if end > 0 => {
                        buf.push_str(&paint(&s, &body[..end]));
                        rest = &body[end + marker.len()..];
                    }
                    _ => {
                        buf.push_str(marker);
                        rest = body;
                    }
                }
            }
            buf.push_str(rest);
            buf
        };
        out.push_str("  ");
        out.push_str(&rendered);
        out.push('\n');
    }
    out
}

/// A destructive step's answer as recorded: how many tries were mistyped before it.
fn with_mistyped(answer: String, mistyped: u32) -> String {
    match mistyped {
        0 => answer,
        1 => format!("{answer} (after 1 mistyped phrase)"),
        n => format!("{answer} (after {n} mistyped phrases)"),
    }
}

/// The answer recorded when stdin ended at a question.
const EOF_ANSWER: &str = "(EOF)";

const STEP_HELP: &str = "  yes       run the step
  skip      do not run it (recorded as skipped)
  edit      change the command for this run (recorded)
  continue  run this and the following steps without asking (confirmations still ask)
  abort     stop the run here (resume it later with `runbook resume`)";

const FAILURE_HELP: &str = "  retry     run the step again
  skip      mark it skipped and go on with the next step
  escalate  notify the next escalation level now, then ask again
  shell     open $SHELL to look around; exit it to come back here
  abort     stop the run here (resume it later with `runbook resume`)";

impl Operator for Interactive {
    fn interactive(&self) -> bool {
        true
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn hand_over(
        &self,
        step: &str,
        script: &str,
        env: &[(String, String)],
    ) -> Option<std::io::Result<i32>> {
        self.say(&format!(
            "  handing the terminal to step {}; it ends when the command exits",
            visible_line(step)
        ));
        // The whole terminal, status line included, is the command's until it exits.
        let _whole = self.whole_terminal();
        Some(runbook_exec::process::run_in_foreground(script, env))
    }

    fn gone(&self) -> Option<String> {
        self.closed
            .load(Ordering::SeqCst)
            .then(|| "end of input (EOF) at a question: nobody is left to answer".to_owned())
    }

    fn before_step(&self, step: &StepPreview) -> Answered<BeforeStep> {
        // A step with its own `confirm:` question asks that one instead of "Run it?": one
        // question, not two. (In `continue` mode only the confirm question is asked.)
        let owned;
        let question = match &step.confirm {
            Some(confirm) if !self.continue_all.load(Ordering::Relaxed) => {
                owned = format!(
                    "{} [y]es [s]kip [e]dit [c]ontinue [a]bort [?]",
                    visible_line(confirm)
                );
                owned.as_str()
            }
            _ => "Run it? [y]es [s]kip [e]dit [c]ontinue [a]bort [?]",
        };
        let yes = if step.confirm.is_some() {
            BeforeStep::RunConfirmed
        } else {
            BeforeStep::Run
        };
        if self.continue_all.load(Ordering::Relaxed) {
            // No card, but the status line still says which step runs.
            if let Some(status) = &self.status {
                status.set_step(step_title(&step.id, step.position));
            }
            return Answered {
                value: BeforeStep::Run,
                question: question.into(),
                answer: "yes (continue)".into(),
            };
        }
        let s = self.style;
        if let Some((id, name, doc)) = &step.group {
            // A child of a parallel group: the group first, and that this child waits.
            let title = if name == id {
                id.clone()
            } else {
                format!("{id} · {name}")
            };
            self.say(&format!(
                "\n{} parallel group {}: its steps run at the same time; each asks in turn",
                s.bold("══"),
                s.bold(&visible_line(&title))
            ));
            if let Some(doc) = doc {
                self.say(render_markdown(doc, s).trim_end());
            }
        }
        self.header(&step.id, &step.name, step.position);
        if let Some((id, ..)) = &step.group {
            self.say(&format!(
                "  {} waits for your answer (in group {})",
                s.bold(&visible_line(&step.id)),
                visible_line(id)
            ));
        }
        if let Some(doc) = &step.doc {
            self.say(render_markdown(doc, s).trim_end());
        }
        self.say(&format!(
            "  {} {}",
            s.dim("runs on"),
            visible_line(&step.host)
        ));
        if let Some(command) = &step.command {
            for (i, line) in command.lines().enumerate() {
                let line = visible_line(line);
                self.say(&format!(
                    "  {}",
                    s.command(&format!("{}{line}", if i == 0 { "$ " } else { "  " }))
                ));
            }
        }
        if !step.expect.is_empty() {
            self.say(&format!(
                "  {} {}",
                s.dim("expect "),
                visible(&step.expect.join("; "))
            ));
        }
        // Retries, watches, timeouts and danger change what "yes" means: said before it.
        for m in &step.modifiers {
            let line = visible_line(m);
            self.say(&format!(
                "  {}",
                if m.starts_with("DESTRUCTIVE") {
                    s.error(&line)
                } else {
                    line.into_owned()
                }
            ));
        }
        let (choice, answer) = loop {
            let (choice, answer) = self.choose(
                question,
                &["yes", "skip", "edit", "continue", "abort"],
                None,
                STEP_HELP,
            );
            if choice != "edit" {
                break (choice, answer);
            }
            // An edit is shown, and runs only on a yes; otherwise the step is asked again.
            let editable = step.editable.as_deref().or(step.command.as_deref());
            if let Some(edited) = editable.and_then(|c| self.edit(c)) {
                return Answered {
                    value: BeforeStep::Edit(edited.clone()),
                    question: question.into(),
                    answer: format!("edit: {edited}"),
                };
            }
        };
        let value = match choice {
            "yes" => yes,
            "skip" => BeforeStep::Skip,
            "abort" => BeforeStep::Abort,
            _ => {
                self.continue_all.store(true, Ordering::Relaxed);
                yes
            }
        };
        Answered {
            value,
            question: question.into(),
            answer,
        }
    }

    fn confirm(&self, step: &str, question: &str) -> Answered<bool> {
        self.say(&format!("  {} {step}", self.style.warning("confirm")));
        let q = format!("{} [y]es [n]o", visible(question));
        let (choice, answer) =
            self.choose(&q, &["yes", "no"], None, "  yes runs the step; no skips it");
        Answered {
            value: choice == "yes",
            question: question.to_owned(),
            answer,
        }
    }

    fn destructive(&self, step: &str, command: &str, phrase: &str) -> Answered<bool> {
        let s = self.style;
        self.say(&format!("  {} `{step}` is destructive:", s.error("DANGER")));
        for line in command.lines() {
            self.say(&format!("    {}", s.error(&visible_line(line))));
        }
        let question = format!("Type `{phrase}` to run it, or `skip`");
        let mut mistyped = 0;
        loop {
            let Some(answer) = self.ask(&visible(&question)) else {
                return Answered {
                    value: false,
                    question,
                    answer: EOF_ANSWER.to_owned(),
                };
            };
            // The phrase wins over the words, should a playbook choose `skip` as its phrase.
            if answer == phrase {
                return Answered {
                    value: true,
                    question,
                    answer: with_mistyped(answer, mistyped),
                };
            }
            match answer.to_lowercase().as_str() {
                "skip" => {
                    self.say("  Skipped: the step does not run.");
                    return Answered {
                        value: false,
                        question,
                        answer: with_mistyped(answer, mistyped),
                    };
                }
                "" => self.say("  Enter alone does nothing here: type the phrase, or `skip`."),
                "?" | "help" => self.say(
                    "  The phrase runs this destructive step; `skip` does not run it (recorded); Ctrl-C stops the run.",
                ),
                _ => {
                    mistyped += 1;
                    self.say("  That is not the phrase: the step has not run. Type it again, or `skip`.");
                }
            }
        }
    }

    fn manual(
        &self,
        step: &str,
        instructions: &str,
        checklist: &[String],
        inputs: &[(String, Input)],
    ) -> Answered<ManualAnswer> {
        let s = self.style;
        self.header(step, "manual step", None);
        self.say(render_markdown(&visible(instructions), s).trim_end());
        for item in checklist {
            self.say(&format!("  [ ] {}", visible_line(item)));
        }
        let question = "Done? [d]one [s]kip [f]ailed [?]";
        let (choice, answer) = self.choose(
            question,
            &["done", "skip", "failed"],
            None,
            "  done: you did it; skip: not needed; failed: it could not be done",
        );
        let value = match choice {
            "done" => {
                let mut values = Vec::new();
                for (name, input) in inputs {
                    values.push((name.clone(), self.input(input)));
                }
                ManualAnswer::Done(values)
            }
            "skip" => ManualAnswer::Skip,
            _ => ManualAnswer::Fail,
        };
        Answered {
            value,
            question: format!("{}: {question}", instructions.lines().next().unwrap_or("")),
            answer,
        }
    }

    fn after_failure(
        &self,
        step: &str,
        verdicts: &[Verdict],
        message: Option<&str>,
        branch: &Branch,
        values: &[(String, String)],
    ) -> Answered<AfterFailure> {
        let s = self.style;
        self.say(&format!(
            "  {} {step}: {}",
            s.error("FAILED"),
            visible(message.unwrap_or(""))
        ));
        for v in verdicts.iter().filter(|v| !v.ok) {
            self.say(&format!("    expected {}", visible(&v.what)));
            if let Some(got) = &v.got {
                self.say(&format!(
                    "    got      {}",
                    visible_line(got.lines().next().unwrap_or(""))
                ));
            }
        }
        // Enter follows the playbook, and says where that goes; when the playbook stops the
        // run there, Enter does nothing: stopping takes a word.
        let stops = *branch == Branch::Stop;
        let question = if stops {
            "[f]ail the run (the playbook's on_failure: abort) [r]etry [s]kip [e]scalate [!]shell [a]bort [?]".to_owned()
        } else {
            format!(
                "Enter: {} · [r]etry [s]kip [e]scalate [!]shell [a]bort [?]",
                visible_line(&branch.describe())
            )
        };
        let help = format!(
            "  {}\n{FAILURE_HELP}",
            if stops {
                "fail      follow the playbook: the step fails the run (finally runs; exit 1)"
                    .to_owned()
            } else {
                format!(
                    "Enter     follow the playbook: {} (also `branch`)",
                    visible_line(&branch.describe())
                )
            }
        );
        let (choice, answer) = self.choose(
            &question,
            &[
                "branch", "fail", "retry", "skip", "escalate", "shell", "!", "abort",
            ],
            (!stops).then_some("branch"),
            &help,
        );
        let value = match choice {
            "branch" | "fail" => AfterFailure::Branch,
            "retry" => AfterFailure::Retry,
            "skip" => AfterFailure::Skip,
            "escalate" => AfterFailure::Escalate,
            "abort" => AfterFailure::Abort,
            // The runner records the shell session and asks again.
            _ => AfterFailure::Shell(self.shell(step, values)),
        };
        Answered {
            value,
            question,
            answer,
        }
    }

    fn after_interrupt(&self, step: &str) -> Answered<AfterInterrupt> {
        self.say(&format!(
            "\n  {} `{step}` was stopped (Ctrl-C). Ctrl-C again aborts the run.",
            self.style.warning("interrupted")
        ));
        let question = "[r]etry [s]kip [a]bort";
        let (choice, answer) = self.choose(
            question,
            &["retry", "skip", "abort"],
            None,
            "  retry: run it again; skip: go on without it; abort: stop the run",
        );
        let value = match choice {
            "retry" => AfterInterrupt::Retry,
            "skip" => AfterInterrupt::Skip,
            _ => AfterInterrupt::Abort,
        };
        Answered {
            value,
            question: question.into(),
            answer,
        }
    }

    fn wait(&self, step: &str, duration: Duration) -> Answered<bool> {
        let bar = ProgressBar::new(duration.as_millis() as u64);
        bar.set_style(
            ProgressStyle::with_template("  wait {bar:30} {msg}").expect("static template"),
        );
        // A wait is a step too: its card says which and for how long.
        self.header(step, &format!("wait {}", format_duration(duration)), None);
        let started = Instant::now();
        let question = format!("wait {} ({step})", format_duration(duration));
        if bar.is_hidden() {
            // No countdown on this terminal (TERM=dumb): say once what is going on.
            self.say(&format!("  {question} · Enter skips the rest"));
        }
        let base = *self.signals.borrow();
        let signalled = || self.signals.borrow().since(base);
        while started.elapsed() < duration && !signalled() {
            let left = duration.saturating_sub(started.elapsed());
            bar.set_position(started.elapsed().as_millis() as u64);
            bar.set_message(format!("{} left · Enter skips", format_duration(left)));
            // After a Ctrl-C the next line answers the runner's next question, not this one.
            let timeout = left.min(Duration::from_millis(200));
            let Ok(read) = next_line(Some(timeout), || !signalled()) else {
                continue;
            };
            bar.finish_and_clear();
            if read.is_none() {
                self.end_of_input();
                return Answered {
                    value: false,
                    question,
                    answer: EOF_ANSWER.into(),
                };
            }
            return Answered {
                value: true,
                question,
                answer: "(Enter) skip the rest".into(),
            };
        }
        bar.finish_and_clear();
        Answered {
            value: false,
            question,
            answer: String::new(),
        }
    }

    fn confirm_hosts(&self, step: &str, hosts: usize) -> Answered<HostsConfirm> {
        self.ask_host_count(step, hosts)
    }

    fn after_hosts_failed(
        &self,
        step: &str,
        failed: &HostsFailed,
        branch: &Branch,
    ) -> Answered<AfterFailure> {
        self.hosts_failed_menu(step, failed, branch)
    }
}

impl Interactive {
    /// Asks one input until it has the right type. A secret one is read without echo and its
    /// default is not shown.
    fn input(&self, input: &Input) -> Value {
        let default = input.default.as_ref().map(runbook_exec::vars::value_text);
        let mut question = format!("  {}", visible_line(&input.prompt));
        if !input.choices.is_empty() {
            question.push_str(&format!(" ({})", input.choices.join("/")));
        }
        match &default {
            Some(_) if input.secret => question.push_str(" [Enter keeps the default]"),
            Some(d) => question.push_str(&format!(" [{}]", visible_line(d))),
            None => {}
        }
        if input.secret {
            question.push_str(" (hidden)");
        }
        loop {
            let Some(mut answer) = self.ask_with(&question, input.secret) else {
                // Not used: the run stops (see `Operator::gone`).
                return Value::Null;
            };
            if answer.is_empty()
                && let Some(d) = &default
            {
                answer = d.clone();
            }
            if answer.is_empty() {
                self.say("  an answer is needed");
                continue;
            }
            match runbook_exec::vars::coerce_value(
                input.kind,
                &input.choices,
                &Value::String(answer),
            ) {
                Ok(value)
                    if !(input.kind == ParamType::String
                        && value.as_str().is_some_and(str::is_empty)) =>
                {
                    return value;
                }
                Ok(_) => self.say("  an answer is needed"),
                // The reason quotes the answer: not a hidden one.
                Err(_) if input.secret => self.say("  that answer does not fit; try again"),
                Err(why) => self.say(&format!("  {}", visible_line(&why))),
            }
        }
    }
}

/// The question waiting for an answer, as drawn: what prints meanwhile (output of a
/// parallel child, an escalation) goes above it, and it is drawn again below.
fn open_question() -> std::sync::MutexGuard<'static, Option<OpenQuestion>> {
    static OPEN: Mutex<Option<OpenQuestion>> = Mutex::new(None);
    OPEN.lock().unwrap_or_else(|e| e.into_inner())
}

/// A question on the screen: its line, and the clock to draw above it when it is redrawn.
struct OpenQuestion {
    line: String,
    clock: Clock,
    style: Style,
}

/// Writes something asynchronous (step output, an escalation notice) with `write`; when a
/// question is open, on a line of its own above it, and the question is drawn again under
/// the incident clock as it is now, so nothing hides what is being asked and the clock and
/// the next escalation are current.
pub fn above_question(write: impl FnOnce()) {
    let open = open_question();
    match open.as_ref() {
        None => write(),
        Some(question) => {
            to_operator(|out| {
                let _ = writeln!(out);
                let _ = out.flush();
            });
            write();
            to_operator(|out| {
                let _ = write!(
                    out,
                    "  {}\n{}",
                    question.clock.line(question.style),
                    question.line
                );
                let _ = out.flush();
            });
        }
    }
}

/// The terminal, opened once when stderr is not one (`runbook run x 2>&1 | tee log`).
static TTY: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();

/// Writes what the operator must see — questions, step cards, notices: on stderr when it is
/// a terminal, else on the terminal itself (/dev/tty) when there is one, so a run piped into
/// `tee` still asks where the operator looks. Without either, on stderr.
pub fn to_operator(write: impl FnOnce(&mut dyn Write)) {
    let tty = TTY.get_or_init(|| {
        if std::io::stderr().is_terminal() {
            return None;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/tty")
            .ok()
            .map(Mutex::new)
    });
    match tty {
        Some(tty) => {
            let mut tty = tty.lock().unwrap_or_else(|e| e.into_inner());
            write(&mut *tty);
            let _ = tty.flush();
        }
        None => write(&mut std::io::stderr().lock()),
    }
}

/// Reads one line from stdin, without echo when `hidden` and stdin is a terminal; `None` at
/// EOF.
pub fn read_answer(hidden: bool) -> Option<String> {
    let echo_off = hidden.then(EchoOff::new).flatten();
    let read = next_line(None, || true).unwrap_or(None);
    if echo_off.is_some() {
        // The operator's Enter was not echoed either.
        to_operator(|out| {
            let _ = writeln!(out);
        });
    }
    drop(echo_off);
    read
}

/// The terminal's echo switched off while it lives (a secret is typed); restored on drop, also
/// when the read fails or panics.
struct EchoOff {
    saved: libc::termios,
}

impl EchoOff {
    /// `None` when stdin is not a terminal (nothing to hide on a pipe).
    fn new() -> Option<EchoOff> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails without touching it.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 and a valid pointer to a termios on the stack.
        if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
            return None;
        }
        let mut quiet = saved;
        quiet.c_lflag &= !(libc::ECHO | libc::ECHOE | libc::ECHOK);
        quiet.c_lflag |= libc::ICANON;
        // SAFETY: fd 0 and a valid termios.
        if unsafe { libc::tcsetattr(0, libc::TCSANOW, &quiet) } != 0 {
            return None;
        }
        Some(EchoOff { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: fd 0 and the termios read before echo was switched off.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &self.saved);
        }
    }
}

/// The next line of stdin (`None` at its end), waiting at most `timeout` when one is given.
///
/// Lines are read on a helper thread, one per request, and handed over a channel: a wait can
/// stop waiting for Enter and the line still goes to the next question. (`poll(2)` on fd 0
/// could not see lines std's buffered stdin already held, as piped answers arrive together.)
/// A read is only requested when a question wants a line, so nothing is taken from stdin
/// behind the back of the operator's shell or editor. A line that arrives when `wanted` says
/// no (the question was abandoned) is kept for the next one.
fn next_line(
    timeout: Option<Duration>,
    wanted: impl Fn() -> bool,
) -> Result<Option<String>, mpsc::RecvTimeoutError> {
    struct Reader {
        ask: mpsc::Sender<()>,
        lines: mpsc::Receiver<Option<String>>,
        /// A line was requested and has not been taken yet.
        asked: bool,
        /// A line read for a question that no longer wanted it.
        kept: Option<Option<String>>,
    }
    static READER: OnceLock<Mutex<Reader>> = OnceLock::new();
    let reader = READER.get_or_init(|| {
        let (ask, asked) = mpsc::channel::<()>();
        let (give, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for () in asked {
                let mut line = String::new();
                let read = match std::io::stdin().lock().read_line(&mut line) {
                    Ok(0) | Err(_) => None,
                    Ok(_) => Some(line),
                };
                if give.send(read).is_err() {
                    break;
                }
            }
        });
        Mutex::new(Reader {
            ask,
            lines,
            asked: false,
            kept: None,
        })
    });
    let mut reader = reader
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !wanted() {
        return Err(mpsc::RecvTimeoutError::Timeout);
    }
    if let Some(kept) = reader.kept.take() {
        return Ok(kept);
    }
    if !reader.asked {
        // The thread lives as long as the process: a failed send cannot happen.
        let _ = reader.ask.send(());
        reader.asked = true;
    }
    let read = match timeout {
        Some(timeout) => reader.lines.recv_timeout(timeout)?,
        // A reader thread that is gone is the end of input.
        None => reader.lines.recv().unwrap_or(None),
    };
    reader.asked = false;
    if !wanted() {
        reader.kept = Some(read);
        return Err(mpsc::RecvTimeoutError::Timeout);
    }
    Ok(read)
}

const HOST_COUNT_HELP: &str =
    "  The step runs on every host the card lists. Type how many there are to run it;
  `skip` does not run it (recorded); `abort` stops the run (resume it later).";

/// The fan-out questions (issue 11): the host count before a large fan-out, and the failure
/// menu of a step that failed on some hosts.
impl Interactive {
    fn ask_host_count(&self, step: &str, hosts: usize) -> Answered<HostsConfirm> {
        let s = self.style;
        self.say(&format!(
            "  {} `{}` reaches more than {} hosts: type their number to go on.",
            s.warning("confirm"),
            visible_line(step),
            runbook_exec::operator::CONFIRM_HOSTS_ABOVE
        ));
        let question = "How many hosts? (the number, `skip` or `abort`)";
        let recorded = format!("`{step}` runs on {hosts} hosts: type their number");
        let mut mistyped = 0;
        loop {
            let Some(answer) = self.ask(question) else {
                return Answered {
                    value: HostsConfirm::Abort,
                    question: recorded,
                    answer: EOF_ANSWER.to_owned(),
                };
            };
            let value = match answer.to_lowercase().as_str() {
                "" => {
                    self.say("  Enter alone does nothing here: type the number of hosts, `skip` or `abort`.");
                    continue;
                }
                "?" | "help" | "h" => {
                    self.say(HOST_COUNT_HELP);
                    continue;
                }
                "skip" | "s" => HostsConfirm::Skip,
                "abort" | "a" => HostsConfirm::Abort,
                typed if typed.parse::<usize>() == Ok(hosts) => HostsConfirm::Run,
                _ => {
                    mistyped += 1;
                    self.say(&format!(
                        "  `{}` is not the number of hosts: nothing ran. Count them on the card and type it again, or `skip` / `abort`.",
                        visible_line(&answer)
                    ));
                    continue;
                }
            };
            let answer = match mistyped {
                0 => answer,
                1 => format!("{answer} (after 1 wrong count)"),
                n => format!("{answer} (after {n} wrong counts)"),
            };
            return Answered {
                value,
                question: recorded,
                answer,
            };
        }
    }

    fn hosts_failed_menu(
        &self,
        step: &str,
        failed: &HostsFailed,
        branch: &Branch,
    ) -> Answered<AfterFailure> {
        let s = self.style;
        self.say(&format!(
            "  {} {step}: {} of {} hosts failed (max_fail {})",
            s.error("FAILED"),
            failed.failed.len(),
            failed.total,
            failed.max_fail
        ));
        // Hosts that failed for the same reason are one line: 40 hosts behind one broken
        // bastion read as one problem.
        let mut by_reason: Vec<(&str, Vec<&str>)> = Vec::new();
        for (host, why) in &failed.failed {
            match by_reason.iter_mut().find(|(w, _)| *w == why.as_str()) {
                Some((_, hosts)) => hosts.push(host),
                None => by_reason.push((why, vec![host])),
            }
        }
        for (why, hosts) in &by_reason {
            self.say(&format!(
                "    {}: {}",
                visible_line(&hosts.join(", ")),
                visible_line(why)
            ));
        }
        let passed = failed.total - failed.failed.len() - failed.not_started;
        let mut note = format!("    {passed} passed (never run again)");
        if failed.not_started > 0 {
            note.push_str(&format!(", {} not started", failed.not_started));
        }
        self.say(&note);
        let again = failed.failed.len() + failed.not_started;
        let retry = format!(
            "[r]etry the {again} host{}",
            if again == 1 { "" } else { "s" }
        );
        let stops = *branch == Branch::Stop;
        let question = if stops {
            format!(
                "[f]ail the run (the playbook's on_failure: abort) {retry} [s]kip them [e]scalate [a]bort [?]"
            )
        } else {
            format!(
                "Enter: {} · {retry} [s]kip them [e]scalate [a]bort [?]",
                visible_line(&branch.describe())
            )
        };
        let help = format!(
            "  {}
  retry     run the step again on the hosts that failed or did not start, only those
  skip      accept the failed hosts: the step is a warning and the run goes on
  escalate  notify the next escalation level now, then ask again
  abort     stop the run here (resume it later with `runbook resume`)",
            if stops {
                "fail      follow the playbook: the step fails the run (finally runs; exit 1)"
                    .to_owned()
            } else {
                format!(
                    "Enter     follow the playbook: {} (also `branch`)",
                    visible_line(&branch.describe())
                )
            }
        );
        let (choice, answer) = self.choose(
            &question,
            &["branch", "fail", "retry", "skip", "escalate", "abort"],
            (!stops).then_some("branch"),
            &help,
        );
        let value = match choice {
            "branch" | "fail" => AfterFailure::Branch,
            "retry" => AfterFailure::Retry,
            "skip" => AfterFailure::Skip,
            "escalate" => AfterFailure::Escalate,
            _ => AfterFailure::Abort,
        };
        Answered {
            value,
            question,
            answer,
        }
    }
}
