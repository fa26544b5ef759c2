//! Secret redaction: every known secret value becomes `***` in anything shown or recorded.

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

impl Redactor {
    pub fn add(&mut self, secret: &str) {
        if secret.is_empty() || self.secrets.iter().any(|s| s == secret) {
            return;
        }
        self.secrets.push(secret.to_owned());
        // A rendered command holds the secret shell-quoted: mask that spelling too.
        if let Ok(quoted) = shlex::try_quote(secret)
            && quoted != secret
            && !self.secrets.iter().any(|s| *s == quoted)
        {
            self.secrets.push(quoted.into_owned());
        }
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if !out.contains(secret.as_str()) {
                continue;
            }
            out = if secret.chars().count() >= WHOLE_WORD_BELOW {
                out.replace(secret.as_str(), MASK)
            } else {
                replace_words(&out, secret)
            };
        }
        out
    }

    /// Redacts every string inside a JSON value.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        if self.secrets.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(s) => *s = self.redact(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.redact_json(v)),
            _ => {}
        }
    }
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
        let quoted = shlex::try_quote(secret).unwrap();
        assert_eq!(
            r.redact(&format!("login --password {quoted} now")),
            "login --password *** now"
        );
    }

    #[test]
    fn json_strings_are_redacted_deeply() {
        let mut r = Redactor::default();
        r.add("s3cret");
        let mut v = serde_json::json!({"a": ["pw=s3cret"], "b": 1});
        r.redact_json(&mut v);
        assert_eq!(v, serde_json::json!({"a": ["pw=***"], "b": 1}));
    }
}
