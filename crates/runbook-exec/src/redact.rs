//! Secret redaction: every known secret value becomes `***` in anything shown or recorded.
//!
//! A secret is known in every spelling the engine or a common tool writes it in: as it is,
//! quoted for each place of a shell command (one word, inside `"…"`, inside `'…'`), escaped
//! in a JSON string, percent-encoded in a URL, and line by line when it spans lines (output is
//! redacted one line at a time, so a PEM key must be masked line by line). Values inside the
//! engine are never masked; redaction is for what leaves it.

use std::borrow::Cow;

/// Replaces secret values with `***`. Longest first, so a secret containing another is
/// replaced whole.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Secrets shorter than this are masked only where they stand as a whole word: masking every
/// `x` of a one-letter test value would garble all output and protect nothing.
const WHOLE_WORD_BELOW: usize = 4;

/// Replaces `word` where it is not part of a longer alphanumeric word.
fn replace_words(text: &str, word: &str) -> String {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(i) = rest.find(word) {
        let before = rest[..i]
            .chars()
            .next_back()
            .or(if i == 0 { prev } else { None });
        let after = rest[i + word.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_some_and(is_word) || after.is_some_and(is_word) {
            out.push_str(word);
        } else {
            out.push_str(MASK);
        }
        prev = word.chars().next_back();
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    out
}

/// Lines of a multi-line secret shorter than this are not masked on their own: a `}` or an
/// empty line is not a secret, and masking it everywhere would garble all output.
const MIN_LINE: usize = 8;

/// Elements of a secret list or map shorter than this are not masked on their own (an `a`
/// or a `true` is no secret, and masking it everywhere would garble all output).
const MIN_LEAF: usize = 6;

/// The texts of a secret value to mask: the whole of it, and for a list or a map each text or
/// number inside it (what a `for_each` over it, or `{{ keys[0] }}`, shows one at a time).
pub fn secret_texts(value: &serde_json::Value) -> Vec<String> {
    fn leaves(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Array(items) => items.iter().for_each(|v| leaves(v, out)),
            serde_json::Value::Object(map) => map.values().for_each(|v| leaves(v, out)),
            serde_json::Value::String(text) if text.chars().count() >= MIN_LEAF => {
                out.push(text.clone());
            }
            serde_json::Value::Number(n) if n.to_string().len() >= MIN_LEAF => {
                out.push(n.to_string());
            }
            _ => {}
        }
    }
    let mut out = vec![crate::vars::value_text(value)];
    if value.is_array() || value.is_object() {
        leaves(value, &mut out);
    }
    out
}

impl Redactor {
    /// Adds a secret with every spelling of it the engine or a common tool produces.
    pub fn add(&mut self, secret: &str) {
        if secret.is_empty() || self.secrets.iter().any(|s| s == secret) {
            return;
        }
        let mut spellings = vec![secret.to_owned()];
        if secret.contains('\n') {
            spellings.extend(
                secret
                    .lines()
                    .map(|l| l.trim_end_matches('\r'))
                    .filter(|l| l.trim().chars().count() >= MIN_LINE)
                    .map(str::to_owned),
            );
        }
        let mut encoded = Vec::new();
        for text in &spellings {
            encoded.extend(encodings(text));
        }
        spellings.extend(encoded);
        for spelling in spellings {
            if !spelling.is_empty() && !self.secrets.contains(&spelling) {
                self.secrets.push(spelling);
            }
        }
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Adds every secret `other` knows (a sub-playbook's, an inventory's).
    pub fn merge(&mut self, other: &Redactor) {
        for secret in &other.secrets {
            if !self.secrets.contains(secret) {
                self.secrets.push(secret.clone());
            }
        }
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Whether there is no secret to mask.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every known secret masked.
    pub fn redact(&self, text: &str) -> String {
        self.redact_cow(text).into_owned()
    }

    /// `text` with every known secret masked; borrowed, with nothing allocated, when it holds
    /// none (most output lines, most strings of a record).
    pub fn redact_cow<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if !out.contains(secret.as_str()) {
                continue;
            }
            if secret.chars().count() >= WHOLE_WORD_BELOW {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            } else {
                let masked = replace_words(&out, secret);
                // Found only inside longer words: nothing was masked.
                if masked != *out {
                    out = Cow::Owned(masked);
                }
            }
        }
        out
    }

    /// `text` for an operator to edit without seeing its secrets: each secret in it becomes a
    /// numbered token (`***1***`), and the spellings come back in token order so
    /// [`Redactor::unmask_edited`] can put them back where the operator left the tokens.
    pub fn mask_for_edit(&self, text: &str) -> (String, Vec<String>) {
        // Segments already masked are not searched again: a short secret (`1`) would
        // otherwise be found inside a token.
        enum Piece<'t> {
            Text(Cow<'t, str>),
            Token(usize),
        }
        let mut pieces = vec![Piece::Text(Cow::Borrowed(text))];
        let mut found: Vec<String> = Vec::new();
        for secret in &self.secrets {
            let whole_word = secret.chars().count() < WHOLE_WORD_BELOW;
            let mut next = Vec::with_capacity(pieces.len());
            for piece in pieces {
                let Piece::Text(part) = piece else {
                    next.push(piece);
                    continue;
                };
                let mut rest: &str = &part;
                let mut text = String::new();
                let mut any = false;
                while let Some(i) = rest.find(secret.as_str()) {
                    let end = i + secret.len();
                    let is_word = |c: char| c.is_alphanumeric() || c == '_';
                    let inside_word = whole_word
                        && (rest[..i].chars().next_back().is_some_and(is_word)
                            || rest[end..].chars().next().is_some_and(is_word));
                    text.push_str(&rest[..i]);
                    if inside_word {
                        text.push_str(secret);
                    } else {
                        any = true;
                        next.push(Piece::Text(Cow::Owned(std::mem::take(&mut text))));
                        let n = match found.iter().position(|f| f == secret) {
                            Some(n) => n,
                            None => {
                                found.push(secret.clone());
                                found.len() - 1
                            }
                        };
                        next.push(Piece::Token(n));
                    }
                    rest = &rest[end..];
                }
                if any {
                    text.push_str(rest);
                    next.push(Piece::Text(Cow::Owned(text)));
                } else {
                    next.push(Piece::Text(part));
                }
            }
            pieces = next;
        }
        let mut out = String::with_capacity(text.len());
        for piece in pieces {
            match piece {
                Piece::Text(t) => out.push_str(&t),
                Piece::Token(n) => out.push_str(&edit_token(n)),
            }
        }
        (out, found)
    }

    /// The command an operator edited from [`Redactor::mask_for_edit`]: each token still in
    /// it becomes its secret again, as it was spelled there. Anything else is as typed.
    pub fn unmask_edited(edited: &str, spellings: &[String]) -> String {
        let mut out = edited.to_owned();
        // Highest first: `***12***` is not `***1***` followed by text.
        for (n, spelling) in spellings.iter().enumerate().rev() {
            out = out.replace(&edit_token(n), spelling);
        }
        out
    }

    /// Redacts every string inside a JSON value.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        if self.secrets.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(s) => {
                if let Cow::Owned(masked) = self.redact_cow(s) {
                    *s = masked;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.redact_json(v)),
            _ => {}
        }
    }
}

/// The token that stands for the `n`-th (from 0) secret of a command being edited.
fn edit_token(n: usize) -> String {
    format!("{MASK}{}{MASK}", n + 1)
}

/// The spellings of `text` other than itself: shell-quoted for each place of a command, JSON
/// string escaping, URL percent-encoding.
fn encodings(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    runbook_template::shell::quote_word(text, &mut word);
    out.push(word);
    // Inside "…" and '…' of a rendered command.
    out.push(
        text.chars()
            .flat_map(|c| {
                let escape = matches!(c, '\\' | '$' | '`' | '"');
                escape.then_some('\\').into_iter().chain([c])
            })
            .collect(),
    );
    out.push(text.replace('\'', r"'\''"));
    if let Ok(json) = serde_json::to_string(text) {
        let json = &json[1..json.len() - 1];
        // minijinja's `tojson` also escapes the characters HTML reads.
        out.push(
            json.replace('\'', "\\u0027")
                .replace('<', "\\u003c")
                .replace('>', "\\u003e")
                .replace('&', "\\u0026"),
        );
        out.push(json.to_owned());
    }
    out.push(percent_encode(text));
    out.retain(|s| s != text);
    out
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_secret_wins() {
        let mut r = Redactor::default();
        r.add("abc");
        r.add("abcdef");
        assert_eq!(r.redact("x abcdef y abc"), "x *** y ***");
    }

    #[test]
    fn short_secrets_are_masked_as_whole_words_only() {
        let mut r = Redactor::default();
        r.add("x");
        assert_eq!(r.redact("--max-time x ax x"), "--max-time *** ax ***");
        r.add("pw1");
        assert_eq!(r.redact("pw1 pw12 =pw1;"), "*** pw12 =***;");
    }

    #[test]
    fn the_shell_quoted_spelling_is_masked_too() {
        let mut r = Redactor::default();
        let secret = "it's \"q\" $ecret";
        r.add(secret);
        let mut quoted = String::new();
        runbook_template::shell::quote_word(secret, &mut quoted);
        assert_eq!(
            r.redact(&format!("login --password {quoted} now")),
            "login --password *** now"
        );
    }

    #[test]
    fn every_quoting_of_a_rendered_command_is_masked() {
        let mut r = Redactor::default();
        let secret = "p@ss 'w\"ord$";
        r.add(secret);
        let engine = runbook_template::Engine::new();
        let ctx = runbook_template::context(&serde_json::json!({ "s": secret }));
        for template in [
            "login {{ s }}",
            "login \"pw={{ s }}\"",
            "login 'pw={{ s }}'",
            "login $'{{ s }}'",
            "curl -d {{ {'pw': s} | tojson }}",
        ] {
            let shown = engine
                .render(template, &ctx, runbook_template::Mode::Shell)
                .unwrap();
            let redacted = r.redact(&shown);
            assert!(
                !redacted.contains("ss 'w")
                    && !redacted.contains("w\\\"ord")
                    && !redacted.contains("ss%20"),
                "{template}: {shown} → {redacted}"
            );
        }
    }

    #[test]
    fn a_multi_line_secret_is_masked_whole_and_line_by_line() {
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAMwAAAAtzc2gtZW\n}\n-----END OPENSSH PRIVATE KEY-----\n";
        let mut r = Redactor::default();
        r.add(key);
        assert_eq!(r.redact(&format!("key: {key}")), "key: ***");
        assert_eq!(r.redact("  AAAAMwAAAAtzc2gtZW"), "  ***");
        assert_eq!(
            r.redact("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"),
            "***"
        );
        // A line too short to be a secret on its own stays.
        assert_eq!(r.redact("if x { y }"), "if x { y }");
        // The JSON spelling (a var file shown as JSON) is masked too.
        let json = serde_json::to_string(key).unwrap();
        assert_eq!(r.redact(&json), "\"***\"");
    }

    #[test]
    fn json_strings_are_redacted_deeply() {
        let mut r = Redactor::default();
        r.add("s3cret");
        let mut v = serde_json::json!({"a": ["pw=s3cret"], "b": 1});
        r.redact_json(&mut v);
        assert_eq!(v, serde_json::json!({"a": ["pw=***"], "b": 1}));
    }

    #[test]
    fn text_without_a_secret_is_borrowed() {
        let mut r = Redactor::default();
        r.add("hunter2-long");
        assert!(matches!(r.redact_cow("nothing here"), Cow::Borrowed(_)));
        assert_eq!(r.redact_cow("pw=hunter2-long"), "pw=***");
        // A short secret that stands only inside words leaves the text as it was.
        r.add("ab");
        assert!(matches!(r.redact_cow("tabby"), Cow::Borrowed("tabby")));
    }

    #[test]
    fn an_edit_keeps_its_secrets_without_showing_them() {
        let mut r = Redactor::default();
        r.add("s3cr3t-token");
        r.add("1");
        let command = "curl -H 'Authorization: Bearer s3cr3t-token' --retry 1 https://x/1";
        let (editable, spellings) = r.mask_for_edit(command);
        assert_eq!(
            editable,
            "curl -H 'Authorization: Bearer ***1***' --retry ***2*** https://x/***2***"
        );
        assert!(!editable.contains("s3cr3t"));
        // The operator changes the URL and moves nothing else.
        let edited = editable.replace("https://x/***2***", "https://y/");
        assert_eq!(
            Redactor::unmask_edited(&edited, &spellings),
            "curl -H 'Authorization: Bearer s3cr3t-token' --retry 1 https://y/"
        );
        // Unchanged, the round trip gives the command back byte for byte.
        assert_eq!(Redactor::unmask_edited(&editable, &spellings), command);
    }

    #[test]
    fn an_edit_of_a_quoted_spelling_puts_that_spelling_back() {
        let mut r = Redactor::default();
        r.add("it's secret");
        let command = "echo 'it'\\''s secret' | wc -c";
        let (editable, spellings) = r.mask_for_edit(command);
        assert_eq!(editable, "echo '***1***' | wc -c");
        assert_eq!(
            Redactor::unmask_edited("echo '***1***' | wc -l", &spellings),
            "echo 'it'\\''s secret' | wc -l"
        );
    }
}
