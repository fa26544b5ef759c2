//! Reading a shell code block the way an operator would: `$ ` prompts and the output under them,
//! comments that name the command below, `\` continuations, multi-line quotes, heredocs and
//! loops that stay one command, and lines that are not commands at all (YAML pasted into a bash
//! block, crontab entries, config lines).

use std::sync::LazyLock;

use regex::Regex;

/// Languages whose fenced blocks are shell commands.
const SHELL_LANGS: &[&str] = &[
    "bash",
    "sh",
    "shell",
    "zsh",
    "console",
    "shell-session",
    "shellsession",
    "sh-session",
    "terminal",
    "ksh",
    "command",
    "cmd-bash",
];

/// Programs an operator runs: a line starting with one of these is a command.
const KNOWN: &[&str] = &[
    "alembic",
    "ansible",
    "apt",
    "apt-get",
    "awk",
    "aws",
    "az",
    "base64",
    "bash",
    "bc",
    "brew",
    "cat",
    "cd",
    "celery",
    "certbot",
    "chmod",
    "chown",
    "chronyc",
    "column",
    "conda",
    "consul",
    "cp",
    "createdb",
    "crictl",
    "crontab",
    "curl",
    "cut",
    "date",
    "dd",
    "deno",
    "df",
    "dig",
    "dmesg",
    "dnf",
    "docker",
    "docker-compose",
    "dropdb",
    "du",
    "echo",
    "env",
    "etcdctl",
    "exit",
    "export",
    "fail2ban-client",
    "find",
    "free",
    "gcloud",
    "git",
    "go",
    "grep",
    "gunzip",
    "gzip",
    "head",
    "helm",
    "host",
    "hostname",
    "htop",
    "iftop",
    "iostat",
    "ip",
    "iptables",
    "jq",
    "journalctl",
    "kill",
    "killall",
    "kubectl",
    "kustomize",
    "less",
    "ln",
    "logger",
    "ls",
    "lsb_release",
    "lsof",
    "mail",
    "make",
    "mc",
    "mkdir",
    "mktemp",
    "mongo",
    "mongosh",
    "mount",
    "mv",
    "mysql",
    "mysqldump",
    "nano",
    "nc",
    "netstat",
    "nethogs",
    "nginx",
    "node",
    "nohup",
    "npm",
    "npx",
    "nslookup",
    "oc",
    "openssl",
    "pg_basebackup",
    "pg_ctl",
    "pg_dump",
    "pg_dumpall",
    "pg_isready",
    "pg_restore",
    "pgrep",
    "php",
    "pip",
    "pip3",
    "pkill",
    "pm2",
    "podman",
    "poetry",
    "popd",
    "printf",
    "promtool",
    "ps",
    "psql",
    "pushd",
    "pwd",
    "pytest",
    "python",
    "python3",
    "read",
    "reboot",
    "redis-cli",
    "rm",
    "rmdir",
    "rsync",
    "ruby",
    "runme",
    "scp",
    "sed",
    "service",
    "set",
    "sha256sum",
    "shutdown",
    "sleep",
    "sort",
    "source",
    "sqlite3",
    "ss",
    "ssh",
    "stat",
    "sudo",
    "supervisorctl",
    "sync",
    "systemctl",
    "tail",
    "tar",
    "tee",
    "terraform",
    "test",
    "time",
    "timeout",
    "top",
    "touch",
    "tr",
    "traceroute",
    "ufw",
    "umount",
    "uname",
    "uniq",
    "unset",
    "unzip",
    "uptime",
    "useradd",
    "vault",
    "vercel",
    "vi",
    "vim",
    "vmstat",
    "watch",
    "wc",
    "wget",
    "which",
    "whoami",
    "xargs",
    "yarn",
    "yum",
    "zcat",
    "zip",
    "cargo",
    "rustc",
    "kubeadm",
    "kubelet",
    "minikube",
    "kind",
    "k9s",
    "istioctl",
    "argocd",
    "flux",
    "velero",
    "eksctl",
    "doctl",
    "heroku",
    "fly",
    "flyctl",
    "wrangler",
    "gh",
    "glab",
    "snyk",
    "trivy",
    "nmap",
    "tcpdump",
    "strace",
    "perf",
    "nvidia-smi",
    "virtctl",
    "ceph",
    "rados",
    "rbd",
    "nodetool",
    "cqlsh",
    "kafka-topics",
    "rabbitmqctl",
    "mongodump",
    "mongorestore",
    "redis-server",
    "caddy",
    "apachectl",
    "httpd",
    "a2ensite",
    "update-ca-certificates",
    "ntpq",
    "timedatectl",
    "hostnamectl",
    "loginctl",
    "resolvectl",
    "nmcli",
    "tc",
    "sysctl",
    "ulimit",
    "swapoff",
    "swapon",
    "fsck",
    "mkfs",
    "lsblk",
    "blkid",
    "parted",
    "growpart",
    "resize2fs",
    "xfs_growfs",
    "pvcreate",
    "lvextend",
    "getent",
    "id",
    "groups",
    "passwd",
    "chage",
    "last",
    "w",
    "who",
    "history",
    "alias",
    "type",
    "command",
    "true",
    "false",
    "yes",
    "seq",
    "diff",
    "cmp",
    "comm",
    "paste",
    "join",
    "split",
    "csplit",
    "fold",
    "fmt",
    "nl",
    "od",
    "xxd",
    "hexdump",
    "strings",
    "file",
    "realpath",
    "dirname",
    "basename",
    "readlink",
    "tree",
    "gpg",
    "ssh-keygen",
    "ssh-add",
    "keytool",
    "java",
    "mvn",
    "gradle",
    "dotnet",
    "composer",
    "bundle",
    "rake",
    "rails",
    "gem",
    "uv",
    "pipenv",
    "virtualenv",
    "tox",
    "nox",
    "ruff",
    "mypy",
    "black",
    "isort",
    "flake8",
    "eslint",
    "prettier",
    "tsc",
    "ts-node",
    "bun",
    "pnpm",
    "lerna",
    "nx",
    // Shell keywords and builtins that open a line.
    "for",
    "while",
    "until",
    "if",
    "case",
    "function",
    "select",
    "exec",
    "eval",
    "trap",
    "declare",
    "local",
    "readonly",
    "let",
    "wait",
    "shift",
    "getopts",
    "[[",
];

/// Is this fenced block's language shell?
pub fn is_shell_lang(lang: &str) -> bool {
    SHELL_LANGS.contains(&lang)
}

/// One command of a block, joined across continuation lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub text: String,
    /// Lines printed under a `$ ` prompt, before the next prompt.
    pub output: Vec<String>,
    /// Line within the block, from 0.
    pub offset: usize,
    /// A ` # comment` after the command on its line.
    pub comment: Option<String>,
}

/// A run of lines between blank lines: the comments above, the commands, and lines that are not
/// commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunk {
    pub comments: Vec<String>,
    pub commands: Vec<Command>,
    pub other: Vec<String>,
    pub offset: usize,
}

/// A shell block read line by line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Block {
    pub chunks: Vec<Chunk>,
    /// The block is a script (a shebang, `set -e`, loops among other commands): it runs whole.
    pub script: bool,
    /// Lines were written with `$ ` prompts.
    pub prompted: bool,
    /// The text from a shebang in the middle of the block on: a file's content, not commands.
    pub file_content: Option<String>,
}

impl Block {
    pub fn command_count(&self) -> usize {
        self.chunks.iter().map(|c| c.commands.len()).sum()
    }
}

/// Reads a shell block.
pub fn read_block(body: &str, lang: &str) -> Block {
    let lines: Vec<&str> = body.lines().collect();
    let prompted = lang == "console"
        || lang == "shell-session"
        || lang == "sh-session"
        || lines
            .iter()
            .any(|l| l.trim_start().starts_with("$ ") || l.trim() == "$");
    if prompted {
        read_prompted(&lines)
    } else {
        read_plain(&lines)
    }
}

fn read_prompted(lines: &[&str]) -> Block {
    let mut block = Block {
        prompted: true,
        ..Block::default()
    };
    let mut chunk = Chunk::default();
    let mut open: Option<Open> = None;
    for (i, raw) in lines.iter().enumerate() {
        let trimmed = raw.trim_start();
        if let Some(state) = open.as_mut() {
            let text = trimmed.strip_prefix("> ").unwrap_or(raw);
            if let Some(cmd) = chunk.commands.last_mut() {
                cmd.text.push('\n');
                cmd.text.push_str(text);
            }
            if !state.feed(text) {
                open = None;
            }
            continue;
        }
        let prompt = trimmed
            .strip_prefix("$ ")
            .or_else(|| (trimmed == "$").then_some(""));
        match prompt {
            Some(command) => {
                let command = command.trim();
                if command.is_empty() {
                    continue;
                }
                if let Some(comment) = command.strip_prefix('#') {
                    if !chunk.commands.is_empty() {
                        block.chunks.push(std::mem::take(&mut chunk));
                    }
                    chunk.comments.push(comment.trim().to_owned());
                    continue;
                }
                let (text, comment) = split_comment(command);
                let mut state = Open::default();
                if state.feed(&text) {
                    open = Some(state);
                }
                if chunk.commands.is_empty() && chunk.comments.is_empty() {
                    chunk.offset = i;
                }
                chunk.commands.push(Command {
                    text,
                    output: Vec::new(),
                    offset: i,
                    comment,
                });
            }
            None => {
                if raw.trim().is_empty() {
                    // Output may hold blank lines; a blank line ends a chunk only before output.
                    if chunk.commands.last().is_some_and(|c| !c.output.is_empty()) {
                        block.chunks.push(std::mem::take(&mut chunk));
                    }
                } else if let Some(cmd) = chunk.commands.last_mut() {
                    cmd.output.push(raw.to_string());
                } else if let Some(comment) = trimmed.strip_prefix('#') {
                    chunk.comments.push(comment.trim().to_owned());
                } else {
                    chunk.other.push(raw.to_string());
                }
            }
        }
    }
    if !chunk.commands.is_empty() || !chunk.comments.is_empty() || !chunk.other.is_empty() {
        block.chunks.push(chunk);
    }
    block
}

fn read_plain(lines: &[&str]) -> Block {
    let mut block = Block::default();
    let mut chunk = Chunk::default();
    let mut open: Option<Open> = None;
    let mut compound = false;
    for (i, raw) in lines.iter().enumerate() {
        let trimmed = raw.trim();
        if let Some(state) = open.as_mut() {
            if let Some(cmd) = chunk.commands.last_mut() {
                cmd.text.push('\n');
                cmd.text.push_str(raw);
            }
            if state.depth > 0 || state.heredoc.is_some() {
                compound = true;
            }
            if !state.feed(raw) {
                open = None;
            }
            continue;
        }
        if trimmed.is_empty() {
            if !chunk.commands.is_empty() || !chunk.comments.is_empty() || !chunk.other.is_empty() {
                block.chunks.push(std::mem::take(&mut chunk));
            }
            continue;
        }
        if trimmed.starts_with("#!") {
            if i == 0 {
                block.script = true;
                continue;
            }
            // A script's text shown inside the block: what follows is a file, not commands.
            block.file_content = Some(lines[i..].join("\n"));
            break;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if !chunk.commands.is_empty() || !chunk.other.is_empty() {
                block.chunks.push(std::mem::take(&mut chunk));
                chunk.offset = i;
            }
            if chunk.comments.is_empty() {
                chunk.offset = i;
            }
            chunk.comments.push(comment.trim().to_owned());
            continue;
        }
        if !looks_like_command(trimmed) {
            if chunk.commands.is_empty() && chunk.comments.is_empty() && chunk.other.is_empty() {
                chunk.offset = i;
            }
            chunk.other.push(raw.trim_end().to_owned());
            continue;
        }
        if trimmed.starts_with("set -e") || trimmed == "set -euo pipefail" {
            block.script = true;
        }
        let (text, comment) = split_comment(trimmed);
        let mut state = Open::default();
        if state.feed(&text) {
            open = Some(state);
        }
        if chunk.commands.is_empty() && chunk.comments.is_empty() && chunk.other.is_empty() {
            chunk.offset = i;
        }
        chunk.commands.push(Command {
            text,
            output: Vec::new(),
            offset: i,
            comment,
        });
    }
    if !chunk.commands.is_empty() || !chunk.comments.is_empty() || !chunk.other.is_empty() {
        block.chunks.push(chunk);
    }
    if compound && block.command_count() > 1 {
        block.script = true;
    }
    block
}

/// What keeps a command open across lines.
#[derive(Debug, Default)]
struct Open {
    quote: Option<char>,
    heredoc: Option<String>,
    depth: i32,
}

impl Open {
    /// Reads one more line; true while the command goes on.
    fn feed(&mut self, line: &str) -> bool {
        if let Some(end) = &self.heredoc {
            if line.trim() == end {
                self.heredoc = None;
            }
            return self.heredoc.is_some() || self.depth > 0 || self.quote.is_some();
        }
        let mut chars = line.chars().peekable();
        let mut word = String::new();
        let mut escaped_end = false;
        while let Some(c) = chars.next() {
            escaped_end = false;
            match self.quote {
                Some('\'') => {
                    if c == '\'' {
                        self.quote = None;
                    }
                    continue;
                }
                Some(q) => {
                    if c == '\\' {
                        chars.next();
                    } else if c == q {
                        self.quote = None;
                    }
                    continue;
                }
                None => {}
            }
            match c {
                '\\' => {
                    if chars.next().is_none() {
                        escaped_end = true;
                    }
                }
                '\'' | '"' => self.quote = Some(c),
                '#' if word.is_empty() => break,
                c if c.is_whitespace() || c == ';' || c == '&' || c == '|' => {
                    self.word(&word);
                    word.clear();
                }
                _ => word.push(c),
            }
        }
        self.word(&word);
        if let Some(caps) = HEREDOC.captures(line) {
            self.heredoc = Some(caps[1].to_owned());
        }
        escaped_end || self.quote.is_some() || self.heredoc.is_some() || self.depth > 0
    }

    fn word(&mut self, word: &str) {
        match word {
            "do" | "if" | "case" | "{" => self.depth += 1,
            "done" | "fi" | "esac" | "}" => self.depth -= 1,
            _ => {}
        }
        if self.depth < 0 {
            self.depth = 0;
        }
    }
}

static HEREDOC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?"#).expect("regex"));

/// Splits ` # comment` off a one-line command (outside quotes, after whitespace).
pub fn split_comment(line: &str) -> (String, Option<String>) {
    if line.contains('\n') {
        return (line.to_owned(), None);
    }
    let mut quote: Option<char> = None;
    let mut prev_space = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            prev_space = false;
            continue;
        }
        match quote {
            Some(q) => {
                if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\\' => escaped = true,
                '\'' | '"' => quote = Some(c),
                '#' if prev_space => {
                    let comment = line[i + 1..].trim();
                    return (
                        line[..i].trim_end().to_owned(),
                        (!comment.is_empty()).then(|| comment.to_owned()),
                    );
                }
                _ => {}
            },
        }
        prev_space = c.is_whitespace();
    }
    (line.to_owned(), None)
}

static ASSIGNMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*=").expect("regex"));

/// `CACHE_TTL = 3600`, `wal_level = replica`: a config or code line, not a command.
static CONFIG_ASSIGNMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_.]*\s+=\s").expect("regex"));

/// Is this line (trimmed, not a comment) a command rather than config, output or prose?
pub fn looks_like_command(line: &str) -> bool {
    let line = line.trim();
    let Some(first) = line.split_whitespace().next() else {
        return false;
    };
    if ASSIGNMENT.is_match(line) {
        return true;
    }
    if first.ends_with(':')
        || first.starts_with('-')
        || first.starts_with(|c: char| c.is_ascii_digit() || c == '*' || c == '<' || c == '|')
        || first.contains('(')
        || matches!(first, "{" | "}" | "]")
    {
        return false;
    }
    if CONFIG_ASSIGNMENT.is_match(line) || first.contains("\":") || first.starts_with('"') {
        return false;
    }
    if ASSIGNMENT.is_match(line) {
        return true;
    }
    let name = first.trim_start_matches("sudo ");
    if KNOWN.contains(&name) {
        return true;
    }
    if name.starts_with("./") || name.starts_with("~/") || name.ends_with(".sh") {
        return true;
    }
    if name.starts_with('/') {
        // `/usr/local/bin/backup.sh` is a program; `/incident create` is a chat command.
        return name.matches('/').count() >= 2;
    }
    // An unknown lowercase program with options or arguments that look like it.
    let plain = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    plain
        && line
            .split_whitespace()
            .skip(1)
            .any(|w| w.starts_with('-') && w.len() > 1)
}

/// Is an inline code span (in a bullet) clearly a command, not a name or a path?
pub fn inline_is_command(code: &str) -> bool {
    let code = code.trim();
    let words: Vec<&str> = code.split_whitespace().collect();
    if words.len() < 2 || code.contains('\n') || code.contains("...") || code.contains('…') {
        return false;
    }
    let first = words[0];
    (KNOWN.contains(&first) || first == "sudo") && looks_like_command(code)
}

/// Does an untagged block read as shell?
pub fn looks_like_shell(body: &str) -> bool {
    let mut commands = 0;
    let mut others = 0;
    for line in body.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let t = t.strip_prefix("$ ").unwrap_or(t);
        let first = t.split_whitespace().next().unwrap_or_default();
        if looks_like_command(t) && (KNOWN.contains(&first) || first == "sudo") {
            commands += 1;
        } else {
            others += 1;
        }
    }
    // At least two thirds of the lines are commands.
    commands > 0 && commands > 2 * others
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_and_output() {
        let b = read_block(
            "$ redis-cli ping\nPONG\n$ oc get x \\\n> --all\nNAME AGE\n",
            "console",
        );
        assert!(b.prompted);
        let cmds = &b.chunks[0].commands;
        assert_eq!(cmds[0].text, "redis-cli ping");
        assert_eq!(cmds[0].output, ["PONG"]);
        assert_eq!(cmds[1].text, "oc get x \\\n--all");
        assert_eq!(cmds[1].output, ["NAME AGE"]);
    }

    #[test]
    fn chunks_comments_continuations() {
        let b = read_block(
            "# Check service status\nsudo systemctl status apeg.service\n\n# Check logs\ndocker-compose exec api \\\n    python -c \"import x\"\ndocker stats  # Check resource usage\n",
            "bash",
        );
        assert!(!b.script);
        assert_eq!(b.chunks.len(), 2);
        assert_eq!(b.chunks[0].comments, ["Check service status"]);
        assert_eq!(b.chunks[1].commands.len(), 2);
        assert!(b.chunks[1].commands[0].text.contains("python -c"));
        assert_eq!(b.chunks[1].commands[1].text, "docker stats");
        assert_eq!(
            b.chunks[1].commands[1].comment.as_deref(),
            Some("Check resource usage")
        );
    }

    #[test]
    fn loops_quotes_and_config_lines() {
        let b = read_block(
            "for i in {1..10}; do\n  curl -f x && echo OK\n  sleep 2\ndone\n",
            "bash",
        );
        assert_eq!(b.command_count(), 1);
        let b = read_block("psql -c \"\nSELECT 1\nFROM t;\n\"\n", "bash");
        assert_eq!(b.command_count(), 1);
        let b = read_block(
            "# Increase pool size\nenvironment:\n  DATABASE_POOL_SIZE: 30\n\ndocker-compose restart api\n0 3 * * * cd /opt && x\n",
            "bash",
        );
        assert_eq!(b.chunks[0].other.len(), 2);
        assert_eq!(b.chunks[1].commands.len(), 1);
        assert_eq!(b.chunks[1].other.len(), 1);
        assert!(!looks_like_command("maxmemory 2gb"));
        assert!(looks_like_command("promtool check rules x --strict"));
        assert!(!looks_like_command("/incident create \"x\""));
        assert!(looks_like_command("/usr/local/bin/backup.sh"));
        assert!(looks_like_command("X=$(redis-cli ROLE | sed -n 3p)"));
        assert!(looks_like_command(
            "psql -c \"DELETE FROM t WHERE a = 'b';\""
        ));
        assert!(!looks_like_command("CACHE_TTL = 3600"));
    }

    #[test]
    fn untagged_blocks() {
        assert!(looks_like_shell("kubectl get pods\nkubectl logs x\n"));
        assert!(!looks_like_shell(
            "Apache HTTPD (Port 443/80)\n   ↓\nsystemd estimator.service\n"
        ));
    }
}
