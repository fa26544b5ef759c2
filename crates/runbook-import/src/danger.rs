//! What a command does, as far as the importer must know: destroys data (a typed confirmation),
//! only reads (the run goes on when it fails), needs a terminal or never ends (a human runs
//! it), and what the text warns against running.

use std::sync::LazyLock;

use regex::Regex;

static DESTRUCTIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
        \bdrop\s+(database|table|schema|index|user|role|view)\b
        | \bdropdb\b
        | \btruncate\b
        | \brm\s+(-[a-z]*r[a-z]*f|-[a-z]*f[a-z]*r|-r\s+-f|-f\s+-r|-[a-z]*r\b|--recursive)
        | \bflushdb\b | \bflushall\b
        | \bprune\b
        | \bmkfs(\.[a-z0-9]+)?\b
        | \bdd\b.*\bof=
        | \bdelete\s+from\b
        | \b(kubectl|oc|helm)\b[^|;&\n]*\s(delete|uninstall|drain)\b
        | \b(docker|podman|docker-compose)\b[^|;&\n]*\s(rm|rmi|down\s+(-v|--volumes))\b
        | \b(docker|podman)\s+volume\s+rm\b
        | \bmc\s+rm\b | \baws\s+s3\s+rm\b | \bgsutil\s+(-m\s+)?rm\b
        | \bfind\b.*\s(-delete|-exec\s+rm)\b
        | \bgit\s+(reset\s+--hard|clean\s+-[a-z]*f|push\s+(-f|--force))\b
        | \b(reboot|shutdown|poweroff|halt)\b
        | \bkill\s+-(9|KILL)\b | \bpkill\b | \bkillall\b
        | \bpg_terminate_backend\b | \bclient\s+kill\b
        | \bredis-cli\b.*\bdel\b
        | --force\b | \s-f\s+[^|;&]*\b(delete|remove)\b
        ",
    )
    .expect("regex")
});

/// The destructive part of a command, if any.
pub fn destructive(cmd: &str) -> Option<String> {
    DESTRUCTIVE.find(cmd).map(|m| m.as_str().trim().to_owned())
}

static CONFIRM_TARGET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
        \bdrop\s+(?:database|table|schema|index|user|role|view)\s+(?:if\s+exists\s+)?([A-Za-z0-9_.]+)
        | \bdropdb\s+([A-Za-z0-9_.-]+)
        | \b(?:kubectl|oc)\s+delete\s+[a-z./-]+\s+([a-z0-9][a-z0-9.-]*)
        ",
    )
    .expect("regex")
});

/// What the operator should type to confirm: the thing destroyed when the command names it.
pub fn confirm_target(cmd: &str) -> Option<String> {
    // `kubectl -n ns delete pod NAME`: the second word after `delete` that is not an option.
    let words: Vec<&str> = cmd.split_whitespace().collect();
    if matches!(words.first(), Some(&"kubectl" | &"oc"))
        && let Some(at) = words.iter().position(|w| *w == "delete")
    {
        let mut plain = Vec::new();
        let mut i = at + 1;
        while i < words.len() {
            let w = words[i];
            if w.starts_with('-') {
                // `-n ns`, `--namespace ns`: the value goes with the option.
                if !w.contains('=')
                    && matches!(
                        w,
                        "-n" | "--namespace"
                            | "-l"
                            | "--selector"
                            | "-f"
                            | "--filename"
                            | "-o"
                            | "--context"
                    )
                {
                    i += 1;
                }
            } else {
                plain.push(w);
            }
            i += 1;
        }
        return match plain.as_slice() {
            [kind, name, ..] if !kind.contains('/') => Some((*name).to_owned()),
            [kind_name, ..] if kind_name.contains('/') => {
                kind_name.split('/').nth(1).map(str::to_owned)
            }
            _ => None,
        }
        .filter(|t| {
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        });
    }
    let caps = CONFIRM_TARGET.captures(cmd)?;
    let target = (1..caps.len()).find_map(|i| caps.get(i))?.as_str();
    (!target.is_empty() && !target.starts_with('-')).then(|| target.to_owned())
}

/// Programs (or program + subcommand) that only read.
const READ_ONLY: &[&str] = &[
    "cat",
    "ls",
    "df",
    "du",
    "free",
    "uptime",
    "ps",
    "grep",
    "tail",
    "head",
    "wc",
    "stat",
    "lsof",
    "ss",
    "netstat",
    "dig",
    "nslookup",
    "ping",
    "uname",
    "date",
    "whoami",
    "id",
    "find",
    "journalctl",
    "dmesg",
    "iostat",
    "vmstat",
    "openssl",
    "curl",
    "wget",
    "jq",
    "echo",
    "printf",
    "test",
    "pg_isready",
    "sha256sum",
    "awk",
    "sort",
    "uniq",
    "which",
    "env",
    "node",
    "npm",
    "hostname",
    "lsb_release",
    "getent",
    "nginx",
    "promtool",
];
const READ_SUBCOMMANDS: &[&str] = &[
    "get",
    "describe",
    "logs",
    "status",
    "list",
    "ls",
    "ps",
    "top",
    "info",
    "show",
    "check",
    "version",
    "current",
    "history",
    "stats",
    "inspect",
    "events",
    "explain",
    "outdated",
    "audit",
    "certificates",
    "du",
    "ping",
    "df",
    "monit",
    "wait",
];

/// True when every simple command of `cmd` only reads, so a failure (a grep with no match, a
/// down service) is a finding, not a reason to stop.
pub fn read_only(cmd: &str) -> bool {
    if destructive(cmd).is_some()
        || cmd.contains('>') && !cmd.contains("2>&1") && !cmd.contains(">/dev/null")
    {
        return false;
    }
    cmd.split(['|', ';', '\n'])
        .flat_map(|s| s.split("&&"))
        .flat_map(|s| s.split("||"))
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.starts_with('#'))
        .all(|s| {
            let words: Vec<&str> = s
                .split_whitespace()
                .skip_while(|w| *w == "sudo" || w.contains('='))
                .collect();
            let Some(first) = words.first() else {
                return true;
            };
            if READ_ONLY.contains(first) {
                return true;
            }
            words
                .iter()
                .skip(1)
                .filter(|w| !w.starts_with('-'))
                .take(2)
                .any(|w| READ_SUBCOMMANDS.contains(w))
                && !s.contains(" restart")
        })
}

static INTERACTIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        ^(sudo\s+)?(top|htop|iftop|nethogs|nano|vi|vim|less|more|k9s)\s*$
        | ^(sudo\s+)?(nano|vi|vim|less|more)\s
        | \b(crontab\s+-e|pm2\s+monit|redis-cli\s+monitor|redis-cli\s+MONITOR|redis-cli\s+--stat)\b
        | \b(tail|journalctl|logs)\b[^|;&\n]*\s(-f|-F|--follow)(\s|$)
        | \b(rsh|exec\s+-it|exec\s+-ti|edit)\s
        | ^read\s | \s--inspect\b
        | \bpm2\s+logs\b[^|]*$
        ",
    )
    .expect("regex")
});

/// Needs a terminal, or never ends by itself: a human runs it.
pub fn interactive(cmd: &str) -> bool {
    let first_line = cmd.lines().next().unwrap_or_default().trim();
    (INTERACTIVE.is_match(first_line) || INTERACTIVE.is_match(cmd))
        && !cmd.contains("--nostream")
        && !first_line.starts_with("watch ")
}

/// The one-shot spelling of a command that would otherwise run until stopped: `top` → `top -b
/// -n 1`, `docker stats` → `docker stats --no-stream`, `pm2 logs` → `pm2 logs --nostream`.
pub fn one_shot(cmd: &str) -> Option<String> {
    let cmd = cmd.trim();
    if cmd.contains('\n') {
        return None;
    }
    let (sudo, rest) = match cmd.strip_prefix("sudo ") {
        Some(rest) => ("sudo ", rest.trim_start()),
        None => ("", cmd),
    };
    if rest == "top" {
        return Some(format!("{sudo}top -b -n 1"));
    }
    let first_pipe = rest.split('|').next().unwrap_or_default();
    if rest.starts_with("docker stats") && !first_pipe.contains("--no-stream") {
        return Some(format!(
            "{sudo}{}",
            rest.replacen("docker stats", "docker stats --no-stream", 1)
        ));
    }
    if rest.starts_with("pm2 logs")
        && !first_pipe.contains("--nostream")
        && !first_pipe.contains(" -f")
    {
        let end = first_pipe.trim_end().len();
        return Some(format!("{sudo}{} --nostream{}", &rest[..end], &rest[end..]));
    }
    None
}

static WARNING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(never|do\s+not|don'?t|avoid|must\s+not|should\s+not)\b").expect("regex")
});

/// True when a sentence warns against doing something.
pub fn warns(text: &str) -> bool {
    WARNING.is_match(text)
}

/// The commands a paragraph warns against: inline code after "never", "do not", "avoid" in
/// the same sentence.
pub fn warned_commands(text: &str, codes: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for sentence in text.split_inclusive(['.', '!', '\n']) {
        let Some(m) = WARNING.find(sentence) else {
            continue;
        };
        for code in codes {
            if let Some(at) = sentence.find(&format!("`{code}`"))
                && at > m.start()
            {
                out.push(code.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destructive_commands() {
        for cmd in [
            "rm -rf /tmp/x",
            "psql -c \"DROP DATABASE agentic_db;\"",
            "redis-cli FLUSHALL",
            "kubectl delete certificate apex-api-tls -n apex",
            "docker system prune -a --volumes",
            "podman rmi abc",
            "git push --force origin main",
            "find /x -mtime +30 -delete",
        ] {
            assert!(destructive(cmd).is_some(), "{cmd}");
        }
        for cmd in [
            "kubectl get pods",
            "rm notes.txt",
            "docker compose ps",
            "curl -f x",
        ] {
            assert!(destructive(cmd).is_none(), "{cmd}");
        }
        assert_eq!(
            confirm_target("kubectl delete certificate apex-api-tls -n apex").as_deref(),
            Some("apex-api-tls")
        );
        assert_eq!(
            confirm_target("psql -c \"DROP DATABASE agentic_db;\"").as_deref(),
            Some("agentic_db")
        );
    }

    #[test]
    fn read_only_and_interactive() {
        assert!(read_only("kubectl get pods -n apex | grep api"));
        assert!(read_only("sudo systemctl status nginx"));
        assert!(!read_only("sudo systemctl restart nginx"));
        assert!(!read_only("docker-compose -f x.yml restart api"));
        assert!(interactive("top"));
        assert_eq!(one_shot("top").as_deref(), Some("top -b -n 1"));
        assert_eq!(
            one_shot("pm2 logs gpt-agent --lines 100 --err").as_deref(),
            Some("pm2 logs gpt-agent --lines 100 --err --nostream")
        );
        assert_eq!(
            one_shot("pm2 logs app | grep -i heap").as_deref(),
            Some("pm2 logs app --nostream | grep -i heap")
        );
        assert_eq!(
            one_shot("docker stats").as_deref(),
            Some("docker stats --no-stream")
        );
        assert!(interactive("sudo journalctl -u apeg.service -f"));
        assert!(interactive("oc -n x rsh pod"));
        assert!(!interactive("top -b -n 1 | head -20"));
        assert!(!interactive(
            "for i in 1 2; do\n  curl -f http://x && echo OK\ndone"
        ));
        assert!(interactive("docker compose logs -f api"));
        assert_eq!(
            warned_commands("Never run `kill -9` on the primary.", &["kill -9".into()]),
            ["kill -9"]
        );
    }
}
