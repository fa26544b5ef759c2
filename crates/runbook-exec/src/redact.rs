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

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

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
}
