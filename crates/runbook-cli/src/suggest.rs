//! Better "did you mean" for argument errors: words from other tools (`validate`, `lint`,
//! `--dry-run`) lead to the runbook command that does it, where clap's spelling distance
//! would suggest `list` for `validate` and nothing for `--dry-run`.

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// Subcommand names users bring from other tools, and ours.
const COMMANDS: &[(&str, &str)] = &[
    ("validate", "check"),
    ("lint", "check"),
    ("verify", "check"),
    ("dry-run", "plan"),
    ("preview", "plan"),
    ("exec", "run"),
    ("execute", "run"),
    ("continue", "resume"),
    ("ls", "list"),
];

/// Flags of `run` that mean "show me, don't do it" elsewhere (make -n, ansible --check).
const DRY_RUN_FLAGS: &[&str] = &["--dry-run", "--dryrun", "--check", "--plan", "-n", "-C"];

/// Rewrites the suggestion of a parse error when a better one is known. `args` are the
/// command line without the program name.
pub fn improve(mut err: clap::Error, args: &[String]) -> clap::Error {
    match err.kind() {
        ErrorKind::InvalidSubcommand => {
            let Some(ContextValue::String(typed)) = err.get(ContextKind::InvalidSubcommand) else {
                return err;
            };
            if let Some((_, ours)) = COMMANDS.iter().find(|(theirs, _)| *theirs == typed) {
                err.insert(
                    ContextKind::SuggestedSubcommand,
                    ContextValue::Strings(vec![(*ours).to_owned()]),
                );
            }
            err
        }
        ErrorKind::UnknownArgument => {
            let Some(ContextValue::String(flag)) = err.get(ContextKind::InvalidArg) else {
                return err;
            };
            let flag = flag.split('=').next().unwrap_or_default();
            if subcommand(args) == Some("run") && DRY_RUN_FLAGS.contains(&flag) {
                err.insert(
                    ContextKind::Suggested,
                    ContextValue::StyledStrs(vec![
                        "`runbook plan PLAYBOOK` shows every step with its resolved command, without running anything"
                            .into(),
                    ]),
                );
            }
            err
        }
        _ => err,
    }
}

/// The first word that is not an option: the subcommand.
fn subcommand(args: &[String]) -> Option<&str> {
    let mut words = args.iter().map(String::as_str);
    while let Some(word) = words.next() {
        if word == "--color" {
            words.next();
        } else if !word.starts_with('-') {
            return Some(word);
        }
    }
    None
}
