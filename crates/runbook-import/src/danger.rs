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
        | \s(-f|--follow)(\s|$) | \btail\s+-f\b | \blogs\s+-f\b
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
        assert!(interactive("sudo journalctl -u apeg.service -f"));
        assert!(interactive("oc -n x rsh pod"));
        assert!(!interactive("top -b -n 1 | head -20"));
        assert_eq!(
            warned_commands("Never run `kill -9` on the primary.", &["kill -9".into()]),
            ["kill -9"]
        );
    }
}
