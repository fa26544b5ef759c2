//! The quoting checked by the shell it is for: every template puts hostile values in a
//! different place of a command, bash runs the rendered command, and the value must arrive
//! byte for byte — or the render must refuse it — and nothing a value holds may run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use runbook_template::{Engine, Mode, TemplateValue};

const VALUES: &[&str] = &[
    "plain",
    "a b",
    "$(touch PWNED)",
    "`touch PWNED`",
    "a;touch PWNED",
    "a && touch PWNED",
    "'",
    "\"",
    "\\",
    "a\\",
    "\\'",
    "'\"'\"'",
    "'; touch PWNED; '",
    "\"; touch PWNED; \"",
    "\\\"; touch PWNED; \\\"",
    "a\nb",
    "\nEOF\ntouch PWNED\n",
    "$HOME",
    "${HOME}",
    "$((1+1))",
    "!",
    "*",
    "~",
    "{a,b}",
    "é ü ✓",
    "{{ x }}",
    "%s",
    ")",
    ") ; touch PWNED ; (",
    "')\ntouch PWNED\n#",
    "\\x41\\'",
    "",
    "-n",
    "-oProxyCommand=touch PWNED",
    "-5",
];

/// (template, what the command prints around the value: prefix, suffix).
const TEMPLATES: &[(&str, &str, &str)] = &[
    ("printf '%s' {{ v }}", "", ""),
    ("printf '%s' x{{ v }}y", "x", "y"),
    ("printf '%s' \"pre {{ v }} post\"", "pre ", " post"),
    ("printf '%s' 'pre {{ v }} post'", "pre ", " post"),
    ("printf '%s' $'pre {{ v }} post'", "pre ", " post"),
    ("printf '%s' \"$(printf '%s' {{ v }})\"", "", ""),
    ("printf '%s' \"$(printf '%s' \"<{{ v }}>\")\"", "<", ">"),
    ("printf '%s' \"$(date >/dev/null) {{ v }}\"", " ", ""),
    (
        "x=$(case a in a) printf '%s' \"{{ v }}\";; (b|c) :;; esac); printf '%s' \"$x\" \"{{ v }}\"",
        "",
        "",
    ),
    ("cat <<EOF\n{{ v }}\nEOF", "", "\n"),
    ("cat <<'EOF'\n{{ v }}\nEOF", "", "\n"),
    ("cat <<\"EOF\" | cat\npre {{ v }}\nEOF", "pre ", "\n"),
    ("# a comment {{ v }}\nprintf '%s' {{ v }}", "", ""),
    ("cat <<< {{ v }}", "", "\n"),
    ("printf '%s' \"${HOME:+x}{{ v }}\"", "x", ""),
    ("f() { shift; printf '%s' \"$1\"; }; f -- {{ v }}", "", ""),
    ("f() { printf '%s' \"$1\"; }; f {{ v }}", "", ""),
];

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("runbook-template-bash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn expected(template: &str, value: &str, prefix: &str, suffix: &str) -> String {
    // The case template prints the value twice; the others once.
    let once = format!("{prefix}{value}{suffix}");
    if template.contains("case a in") {
        format!("{}{value}", value.trim_end_matches('\n'))
    } else if template.contains("$(printf '%s' {{ v }})") && value.ends_with('\n') {
        // Command substitution drops trailing newlines: that is bash, not quoting.
        once.trim_end_matches('\n').to_owned()
    } else {
        once
    }
}

#[test]
fn every_value_arrives_intact_in_every_place_or_is_refused() {
    let engine = Engine::new();
    let dir = scratch();
    let mut ran = 0;
    // Every ASCII character but NUL, in one value and one by one.
    let all_ascii: String = (1u8..128).map(char::from).collect();
    let singles: Vec<String> = (1u8..128).map(|b| format!("a{}b", char::from(b))).collect();
    let mut values: Vec<&str> = VALUES.to_vec();
    values.push(&all_ascii);
    values.extend(singles.iter().map(String::as_str));
    for (template, prefix, suffix) in TEMPLATES {
        for value in &values {
            let value: &str = value;
            let ctx = TemplateValue::from(BTreeMap::from([("v".to_owned(), value.to_owned())]));
            let script = match engine.render(template, &ctx, Mode::Shell) {
                Ok(script) => script,
                Err(err) => {
                    // Only the documented refusals: a delimiter line in a here-document, a
                    // word that would be an option.
                    let option = err.message.contains("starts with `-`") && value.starts_with('-');
                    let heredoc = err.message.contains("here-document") && value.contains("EOF");
                    assert!(
                        option || heredoc,
                        "{template:?} with {value:?}: {}",
                        err.message
                    );
                    continue;
                }
            };
            let out = Command::new("bash")
                .args(["--noprofile", "--norc", "-c", &script])
                .current_dir(&dir)
                .env("HOME", "/home/someone")
                .output()
                .unwrap();
            ran += 1;
            assert!(
                !dir.join("PWNED").exists(),
                "{template:?} with {value:?} ran code: {script}"
            );
            let want = expected(template, value, prefix, suffix);
            if template.contains("$(printf '%s' {{ v }})") && value.is_empty() {
                continue;
            }
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                want,
                "{template:?} with {value:?}\nscript: {script}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    assert!(ran > 2000, "{ran}");
    let _ = std::fs::remove_dir_all(&dir);
}
