//! Small text helpers shared by the reports (`runbook-report`) and the CLI's renderers (plans,
//! plan diffs, `check`'s summary): one spelling of a count, of a line cut short, and of the
//! pieces every Markdown writer needs (a code span and a fence no content can close).

/// `1 file`, `2 files`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The first line of `text`, with ` …` when more lines follow.
pub fn one_line(text: &str) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("").to_owned();
    if lines.next().is_some() {
        first + " …"
    } else {
        first
    }
}

/// The longest run of `c` in `text`.
pub fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in text.chars() {
        if ch == c {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// `text` (one line) as a Markdown code span: the backtick run is longer than any inside it,
/// and the text is padded when it starts or ends with a backtick.
pub fn code_span(text: &str) -> String {
    let ticks = "`".repeat(longest_run(text, '`') + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// The backticks of a fenced block around `body`: at least three, and more than any run
/// inside it, so no content can close the block.
pub fn fence_ticks(body: &str) -> String {
    "`".repeat((longest_run(body, '`') + 1).max(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_and_code() {
        assert_eq!(plural(1, "file"), "1 file");
        assert_eq!(plural(0, "error"), "0 errors");
        assert_eq!(one_line("a\nb"), "a …");
        assert_eq!(one_line("a"), "a");
        assert_eq!(one_line(""), "");
        assert_eq!(code_span("ls"), "`ls`");
        assert_eq!(code_span("echo `date`"), "`` echo `date` ``");
        assert_eq!(code_span("a``b"), "```a``b```");
        assert_eq!(fence_ticks("plain"), "```");
        assert_eq!(fence_ticks("echo ````"), "`````");
    }
}
