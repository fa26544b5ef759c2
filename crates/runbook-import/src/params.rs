//! Placeholders in commands (`<pod-name>`, `$NAMESPACE`, `your-domain.com`, `/path/to/app`)
//! and the rewrite that turns them into `{{ name }}` without ever leaving one inside shell
//! quotes: a placeholder that is a whole quoted string loses the quotes, one inside a longer
//! quoted string closes and reopens them around itself (`"a "{{ x }}" b"`). Literal template
//! syntax already in a command (Go templates, `${#a[@]}`) is wrapped in `{% raw %}`.

use std::sync::LazyLock;

use regex::Regex;

/// What kind of placeholder was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `<pod-name>`, `<POD_NAME>`.
    Angle,
    /// `[deployment-url]`.
    Bracket,
    /// `$NAMESPACE`, `${POD}` (the variable's name).
    Dollar(String),
    /// `api.yourdomain.com`, `your-domain.com`, `ops@example.com`.
    Host,
    /// `/path/to/app`.
    PathTo,
    /// `your-username`, `YOUR_API_KEY`.
    Your,
    /// `username:password`.
    UserPass,
}

/// One placeholder in a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
    /// The text as written.
    pub text: String,
    /// A parameter name proposed for it.
    pub name: String,
}

static ANGLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"<([A-Za-z][A-Za-z0-9 _./:"'-]{0,60})>"#).expect("regex"));
static BRACKET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[([a-z][a-z0-9]*(?:-[a-z0-9]+)+)\]").expect("regex"));
static DOLLAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))").expect("regex")
});
static HOST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:[a-z0-9._+-]+@)?(?:[a-z0-9-]+\.)*(?:your-?domain|example)\.(?:com|org|net)\b|(?:[a-z0-9-]+\.)*your-[a-z0-9-]+(?:\.[a-z0-9-]+)+",
    )
    .expect("regex")
});
static PATH_TO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"/path/to/([A-Za-z0-9._-]+)").expect("regex"));
static YOUR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:[Yy]our[-_]([a-z0-9]+(?:[-_][a-z0-9]+)*)|YOUR_([A-Z0-9]+(?:_[A-Z0-9]+)*))\b")
        .expect("regex")
});
static USERPASS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\busername:password\b").expect("regex"));

/// Variables every shell has: never placeholders.
const WELL_KNOWN: &[&str] = &[
    "HOME",
    "USER",
    "PATH",
    "PWD",
    "OLDPWD",
    "SHELL",
    "TERM",
    "HOSTNAME",
    "LANG",
    "TMPDIR",
    "EDITOR",
    "RANDOM",
    "SECONDS",
    "UID",
    "EUID",
    "PPID",
    "IFS",
    "LINENO",
    "BASH_SOURCE",
    "FUNCNAME",
    "PIPESTATUS",
    "REPLY",
    "OPTARG",
    "OPTIND",
    "LOGNAME",
    "DISPLAY",
    "KUBECONFIG",
    "GOPATH",
    "RUNBOOK_RUN_ID",
    "RUNBOOK_STEP",
];

/// Finds the placeholders of a command. `defined` holds the variables the runbook (or this
/// command's own script) sets itself: they are not placeholders.
pub fn find(cmd: &str, defined: &dyn Fn(&str) -> bool) -> Vec<Hit> {
    let quotes = quote_map(cmd);
    let mut hits: Vec<Hit> = Vec::new();
    let mut add = |start: usize, end: usize, kind: Kind, name: String| {
        if hits.iter().any(|h| start < h.end && h.start < end) {
            return;
        }
        hits.push(Hit {
            start,
            end,
            kind,
            text: cmd[start..end].to_owned(),
            name,
        });
    };
    for m in USERPASS.find_iter(cmd) {
        add(m.start(), m.end(), Kind::UserPass, "username".into());
    }
    for m in HOST.find_iter(cmd) {
        add(m.start(), m.end(), Kind::Host, host_name(m.as_str()));
    }
    for caps in PATH_TO.captures_iter(cmd) {
        let m = caps.get(0).expect("match");
        add(
            m.start(),
            m.end(),
            Kind::PathTo,
            format!("{}_dir", snake(&caps[1])),
        );
    }
    for caps in ANGLE.captures_iter(cmd) {
        let m = caps.get(0).expect("match");
        // `<<EOF` and `<<<` are redirections, `<a href>` is not in commands.
        if m.start() > 0 && cmd.as_bytes()[m.start() - 1] == b'<' {
            continue;
        }
        add(m.start(), m.end(), Kind::Angle, snake(&caps[1]));
    }
    for caps in BRACKET.captures_iter(cmd) {
        let m = caps.get(0).expect("match");
        if quotes[m.start()] == Quote::Single {
            continue;
        }
        add(m.start(), m.end(), Kind::Bracket, snake(&caps[1]));
    }
    for caps in YOUR.captures_iter(cmd) {
        let m = caps.get(0).expect("match");
        let rest = caps
            .get(1)
            .or_else(|| caps.get(2))
            .map_or("", |g| g.as_str());
        add(m.start(), m.end(), Kind::Your, snake(rest));
    }
    for caps in DOLLAR.captures_iter(cmd) {
        let m = caps.get(0).expect("match");
        let var = caps
            .get(1)
            .or_else(|| caps.get(2))
            .map_or("", |g| g.as_str());
        let escaped = m.start() > 0 && cmd.as_bytes()[m.start() - 1] == b'\\';
        // Only UPPER_CASE names: lower-case ones are a script's own variables.
        let upper = var
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && var.chars().any(|c| c.is_ascii_uppercase());
        if escaped
            || quotes[m.start()] == Quote::Single
            || !upper
            || WELL_KNOWN.contains(&var)
            || defined(var)
        {
            continue;
        }
        add(m.start(), m.end(), Kind::Dollar(var.to_owned()), snake(var));
    }
    hits.sort_by_key(|h| h.start);
    hits
}

/// The parameter name for a placeholder host.
fn host_name(host: &str) -> String {
    if let Some((local, _)) = host.split_once('@') {
        return format!("{}_email", snake(local));
    }
    let labels: Vec<String> = host
        .split('.')
        .filter(|l| {
            let l = l.to_lowercase();
            !matches!(
                l.as_str(),
                "your-domain" | "yourdomain" | "example" | "com" | "org" | "net" | "www"
            )
        })
        .map(|l| l.trim_start_matches("your-").to_lowercase())
        .collect();
    match labels.first() {
        Some(first) if !first.is_empty() => format!("{}_host", snake(first)),
        _ => "domain".into(),
    }
}

/// Words that add nothing to a parameter's name.
const STOP: &[&str] = &[
    "the", "a", "an", "of", "from", "to", "for", "in", "on", "my", "your", "label", "field",
    "above", "output", "value", "here", "insert", "by", "with",
];

/// A parameter name (`snake_case`, starting with a letter) from free text.
pub fn snake(text: &str) -> String {
    let words: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let kept: Vec<&String> = words
        .iter()
        .filter(|w| !STOP.contains(&w.as_str()))
        .take(4)
        .collect();
    let chosen: Vec<&String> = if kept.is_empty() {
        words.iter().take(3).collect()
    } else {
        kept
    };
    let mut name = chosen
        .iter()
        .map(|w| w.as_str())
        .collect::<Vec<_>>()
        .join("_");
    if name.is_empty() {
        name = "value".into();
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "p_");
    }
    if RESERVED.contains(&name.as_str()) {
        name.push_str("_name");
    }
    name
}

/// Names a playbook may not declare (built-ins) or a template cannot use (keywords).
const RESERVED: &[&str] = &[
    "metadata", "params", "steps", "host", "env", "run", "incident", "in", "is", "and", "or",
    "not", "if", "else", "true", "false", "none", "loop", "self", "super",
];

/// The quote a byte sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    None,
    Single,
    Double,
}

/// The quote state at every byte of a command (the quote characters themselves count as
/// inside).
pub fn quote_map(cmd: &str) -> Vec<Quote> {
    let bytes = cmd.as_bytes();
    let mut out = vec![Quote::None; bytes.len() + 1];
    let mut state = Quote::None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match state {
            Quote::None => match b {
                b'\\' => {
                    out[i] = state;
                    if i + 1 < bytes.len() {
                        out[i + 1] = state;
                    }
                    i += 2;
                    continue;
                }
                b'\'' => {
                    state = Quote::Single;
                    out[i] = state;
                }
                b'"' => {
                    state = Quote::Double;
                    out[i] = state;
                }
                _ => out[i] = state,
            },
            Quote::Single => {
                out[i] = state;
                if b == b'\'' {
                    state = Quote::None;
                }
            }
            Quote::Double => {
                out[i] = state;
                if b == b'\\' && i + 1 < bytes.len() {
                    out[i + 1] = state;
                    i += 2;
                    continue;
                }
                if b == b'"' {
                    state = Quote::None;
                }
            }
        }
        i += 1;
    }
    out
}

/// Rewrites a command: each `(hit, replacement)` is replaced by the template text (`{{ x }}`),
/// with the quotes moved so that no placeholder sits inside shell quotes; words holding
/// literal template syntax are wrapped in `{% raw %}`. Returns the template and the hits it
/// had to leave (inside a raw word).
pub fn rewrite(cmd: &str, edits: &[(Hit, String)]) -> (String, Vec<Hit>) {
    let quotes = quote_map(cmd);
    let raw_words = literal_template_words(cmd, &quotes);
    let mut skipped = Vec::new();
    // (start, end, replacement), applied from the end.
    let mut changes: Vec<(usize, usize, String)> = Vec::new();
    for (hit, replacement) in edits {
        if raw_words.iter().any(|&(s, e)| hit.start < e && s < hit.end) {
            skipped.push(hit.clone());
            continue;
        }
        let q = quotes[hit.start];
        let change = match q {
            Quote::None => (hit.start, hit.end, replacement.clone()),
            Quote::Single | Quote::Double => {
                let qc = if q == Quote::Single { '\'' } else { '"' };
                let (open, close) = enclosing(cmd, &quotes, hit.start, q);
                if open + 1 == hit.start && close == hit.end {
                    // The whole quoted string is the placeholder: the quotes go.
                    (open, close + 1, replacement.clone())
                } else {
                    (hit.start, hit.end, format!("{qc}{replacement}{qc}"))
                }
            }
        };
        changes.push(change);
    }
    for &(s, e) in &raw_words {
        changes.push((s, s, "{% raw %}".into()));
        changes.push((e, e, "{% endraw %}".into()));
    }
    // Later positions first; at one position, the end of a raw word before its start.
    changes.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut out = cmd.to_owned();
    for (s, e, text) in changes {
        out.replace_range(s..e, &text);
    }
    (out, skipped)
}

/// The quote characters around byte `at`, which sits inside a quote of kind `q`.
fn enclosing(cmd: &str, quotes: &[Quote], at: usize, q: Quote) -> (usize, usize) {
    let bytes = cmd.as_bytes();
    let qb = if q == Quote::Single { b'\'' } else { b'"' };
    let mut open = at;
    while open > 0 {
        open -= 1;
        if bytes[open] == qb && quotes[open] == q && (open == 0 || quotes[open - 1] != q) {
            break;
        }
    }
    let mut close = at;
    while close < bytes.len() {
        if bytes[close] == qb && quotes[close] == q && quotes.get(close + 1) != Some(&q) {
            break;
        }
        close += 1;
    }
    (open, close.min(bytes.len().saturating_sub(1)))
}

/// Byte ranges of the shell words that contain `{{`, `{%` or `{#` as written.
fn literal_template_words(cmd: &str, quotes: &[Quote]) -> Vec<(usize, usize)> {
    let bytes = cmd.as_bytes();
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'{' && matches!(bytes[i + 1], b'{' | b'%' | b'#') {
            let is_space = |j: usize| bytes[j].is_ascii_whitespace() && quotes[j] == Quote::None;
            let mut s = i;
            while s > 0 && !is_space(s - 1) {
                s -= 1;
            }
            let mut e = i;
            while e < bytes.len() && !is_space(e) {
                e += 1;
            }
            if out.last().is_none_or(|&(_, le)| s >= le) {
                out.push((s, e));
            }
            i = e;
            continue;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(cmd: &str) -> Vec<String> {
        find(cmd, &|_| false).into_iter().map(|h| h.name).collect()
    }

    #[test]
    fn finds_the_usual_placeholders() {
        assert_eq!(
            names("kubectl -n $NAMESPACE get pod ${POD}"),
            ["namespace", "pod"]
        );
        assert_eq!(names("oc describe pod <POD_NAME> -n x"), ["pod_name"]);
        assert_eq!(
            names("curl https://apeg.yourdomain.com/health"),
            ["apeg_host"]
        );
        assert_eq!(names("curl https://your-domain.com/api"), ["domain"]);
        assert_eq!(
            names("vercel rollback [deployment-url]"),
            ["deployment_url"]
        );
        assert_eq!(names("ls /path/to/backups/estimator"), ["backups_dir"]);
        assert_eq!(names("mail ops@example.com"), ["ops_email"]);
        assert_eq!(
            names("awk '{print $NF}' | grep $HOME"),
            Vec::<String>::new()
        );
        assert_eq!(names("cat <<EOF"), Vec::<String>::new());
    }

    #[test]
    fn quotes_move_around_placeholders() {
        let cmd = r#"psql -c "DROP DATABASE <db>;" && echo "<db>""#;
        let hits = find(cmd, &|_| false);
        let edits: Vec<(Hit, String)> = hits.into_iter().map(|h| (h, "{{ db }}".into())).collect();
        let (out, _) = rewrite(cmd, &edits);
        assert_eq!(
            out,
            r#"psql -c "DROP DATABASE "{{ db }}";" && echo {{ db }}"#
        );
        assert!(runbook_template_free_of_quoted(&out));
    }

    #[test]
    fn go_templates_are_raw() {
        let cmd = "oc get x -o template --template='{{range .items}}{{.n}}{{end}}' -n $NS";
        let hits = find(cmd, &|_| false);
        let edits: Vec<(Hit, String)> = hits.into_iter().map(|h| (h, "{{ ns }}".into())).collect();
        let (out, _) = rewrite(cmd, &edits);
        assert_eq!(
            out,
            "oc get x -o template {% raw %}--template='{{range .items}}{{.n}}{{end}}'{% endraw %} -n {{ ns }}"
        );
    }

    fn runbook_template_free_of_quoted(text: &str) -> bool {
        // Outside the template crate here: a rough check that every `{{` is outside quotes.
        let quotes = quote_map(text);
        text.match_indices("{{")
            .all(|(i, _)| quotes[i] == Quote::None)
    }
}
