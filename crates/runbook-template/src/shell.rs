//! A small bash lexer that knows, at every point of a command, how a value written there must
//! be spelled to stay exactly one piece of data.
//!
//! Rendering a `run` command feeds it the playbook's literal text and asks it to write each
//! value: an unquoted word is single-quoted (or left bare when it only holds safe characters),
//! a value inside `"…"` has `\ $ ` "` escaped, inside `'…'` each `'` becomes `'\''`, inside
//! `$'…'` `\` and `'` are escaped, inside an unquoted here-document `\ $ `` ` are escaped. Places
//! where no spelling is safe (inside backquotes or `${…}`, right after a `\` or a `$`, a
//! here-document's delimiter) are errors, and so is a value that would end a here-document or
//! that would start a word with `-` (it would be read as an option).
//!
//! The lexer follows bash's rules for the constructs that change how text is read: quotes,
//! `$'…'`, backslashes, `$( )`, `( )`, `<( )`, `$(( ))`, `(( ))`, `${ }`, backquotes, comments,
//! here-documents (`<<`, `<<-`, quoted delimiters) and `case` patterns (whose `)` does not close
//! a `$(`). The same lexer scans templates statically for `check`.

use std::collections::VecDeque;

/// Why a value cannot be written where the template puts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceError {
    /// The value starts a word and begins with `-`: a command would read it as an option.
    Option,
    /// Inside backquotes, where quotes and backslashes are read twice.
    Backquote,
    /// Inside `${…}`.
    Parameter,
    /// Inside `$(( ))` / `(( ))`, where bash evaluates the text; only integers are allowed.
    Arithmetic,
    /// Right after an unescaped `\`: the value's first character would be escaped instead.
    AfterBackslash,
    /// Right after a `$`: the value would choose what is expanded.
    AfterDollar,
    /// As (part of) a here-document's delimiter word.
    HeredocWord,
    /// A line holding the value would equal the here-document's delimiter and end it.
    EndsHeredoc,
    /// A NUL byte, which no shell word can hold.
    Nul,
}

impl PlaceError {
    /// A sentence for people, without the value (it may be secret).
    pub fn explain(&self) -> &'static str {
        match self {
            PlaceError::Option => {
                "the value starts with `-` at the start of a word, so the command would read it as an option"
            }
            PlaceError::Backquote => "a value inside `...` backquotes cannot be quoted safely",
            PlaceError::Parameter => "a value inside ${...} cannot be quoted safely",
            PlaceError::Arithmetic => {
                "a value inside $(( )) or (( )) must be an integer: bash evaluates the text"
            }
            PlaceError::AfterBackslash => {
                "a value right after `\\` cannot be quoted safely: the backslash would escape it"
            }
            PlaceError::AfterDollar => {
                "a value right after `$` would choose what the shell expands"
            }
            PlaceError::HeredocWord => "a value cannot be a here-document's delimiter",
            PlaceError::EndsHeredoc => {
                "the value has a line equal to the here-document's delimiter, which would end it"
            }
            PlaceError::Nul => "a value containing a NUL byte cannot be passed to a shell",
        }
    }

    /// How to fix the template, where a fix is known.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            PlaceError::Option => Some(
                "put `--` before it, write it as `--option={{ x }}`, pass it through `env:`, or give the param `type: int`",
            ),
            PlaceError::Backquote => Some("write $( ... ) instead of `...`"),
            PlaceError::Parameter | PlaceError::AfterDollar => {
                Some("pass the value through `env:` and use the variable in the command")
            }
            PlaceError::Arithmetic => Some("give the param `type: int`"),
            _ => None,
        }
    }
}

impl std::fmt::Display for PlaceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.explain())
    }
}

/// Words after which the next word is again in command position (where `case` is a keyword).
const LEADING_KEYWORDS: &[&str] = &[
    "then", "do", "else", "elif", "if", "while", "until", "!", "{", "time",
];

/// Where a `case` statement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// Saw `case`, waiting for its word.
    Word,
    /// Saw the word, waiting for `in`.
    In,
    /// Reading a pattern: its `)` is not a closing parenthesis.
    Pattern,
    /// Reading the commands of a branch, up to `;;`, `;&` or `;;&`.
    Body,
}

/// A here-document waiting for its body, or being read.
#[derive(Debug, Clone)]
struct Heredoc {
    delimiter: String,
    /// `<<-`: leading tabs are stripped before comparing a line with the delimiter.
    strip_tabs: bool,
    /// A quoted delimiter: the body is literal (no expansion, no escapes).
    literal: bool,
    /// The current line, up to one character more than the delimiter.
    line: String,
    line_long: bool,
    /// The current line holds (part of) a value.
    tainted: bool,
}

impl Heredoc {
    fn line_ends_it(&self) -> bool {
        if self.line_long {
            return false;
        }
        let line = if self.strip_tabs {
            self.line.trim_start_matches('\t')
        } else {
            &self.line
        };
        line == self.delimiter
    }

    fn push(&mut self, c: char) {
        if self.line.len() <= self.delimiter.len() + 64 {
            self.line.push(c);
        } else {
            self.line_long = true;
        }
    }

    fn new_line(&mut self) {
        self.line.clear();
        self.line_long = false;
        self.tainted = false;
    }
}

/// Reading the delimiter word after `<<`.
#[derive(Debug, Clone, Default)]
struct DelimiterReader {
    strip_tabs: bool,
    word: String,
    started: bool,
    literal: bool,
    quote: Option<char>,
    escape: bool,
}

/// Unquoted command text: the top level, or the inside of `$( )`.
#[derive(Debug, Clone)]
struct Command {
    /// Pushed by `$(`: its closing `)` pops it. The outermost frame is never popped.
    sub: bool,
    /// Open `(` (subshells, `<(`, groups of an extended glob) inside this frame.
    parens: u32,
    /// A word has begun (an opening quote begins one).
    in_word: bool,
    /// Nothing of the current word's content has been read yet (opening quotes do not count).
    word_empty: bool,
    /// The current word's text, when it is short and has no value in it.
    word: String,
    word_literal: bool,
    /// The current word is the first of a simple command.
    #[allow(clippy::struct_field_names, reason = "the shell's term for it")]
    command_position: bool,
    /// A literal `--` word was seen in the current simple command.
    options_ended: bool,
    /// Consecutive `<` just read.
    less: u8,
    /// A `;` just read (for `;;` in a `case`).
    semicolon: bool,
    /// A `(` just read at the start of a word: a second one opens `(( ))`.
    open_paren: bool,
    delimiter: Option<DelimiterReader>,
    /// Here-documents announced on the current line.
    pending: Vec<Heredoc>,
    cases: Vec<Case>,
}

impl Command {
    fn new(sub: bool) -> Self {
        Command {
            sub,
            parens: 0,
            in_word: false,
            word_empty: true,
            word: String::new(),
            word_literal: true,
            command_position: true,
            options_ended: false,
            less: 0,
            semicolon: false,
            open_paren: false,
            delimiter: None,
            pending: Vec::new(),
            cases: Vec::new(),
        }
    }

    /// An opening quote: a word begins, but it has no content yet.
    fn open_word(&mut self) {
        self.in_word = true;
    }

    /// A character (or value) that is part of the current word.
    fn word_char(&mut self, c: Option<char>) {
        self.in_word = true;
        self.word_empty = false;
        match c {
            Some(c) if self.word_literal && self.word.len() < 16 => self.word.push(c),
            Some(_) => {}
            None => self.word_literal = false,
        }
    }

    /// Ends the current word (at a blank or an operator).
    fn end_word(&mut self) {
        if !self.in_word {
            return;
        }
        let literal = self.word_literal.then_some(self.word.as_str());
        match (literal, self.cases.last().copied()) {
            (Some("esac"), Some(Case::Pattern)) => {
                self.cases.pop();
            }
            (Some("esac"), Some(Case::Body)) if self.command_position => {
                self.cases.pop();
            }
            (_, Some(Case::Word)) => *self.cases.last_mut().expect("a case") = Case::In,
            (Some("in"), Some(Case::In)) => {
                *self.cases.last_mut().expect("a case") = Case::Pattern;
            }
            (Some("case"), None | Some(Case::Body)) if self.command_position => {
                self.cases.push(Case::Word);
            }
            _ => {}
        }
        if literal == Some("--") {
            self.options_ended = true;
        }
        self.command_position =
            self.command_position && literal.is_some_and(|w| LEADING_KEYWORDS.contains(&w));
        self.word.clear();
        self.in_word = false;
        self.word_empty = true;
        self.word_literal = true;
    }

    /// A command separator: `;`, `&`, `|`, a newline, a parenthesis.
    fn end_command(&mut self) {
        self.end_word();
        self.command_position = true;
        self.options_ended = false;
    }
}

#[derive(Debug, Clone)]
enum Frame {
    Command(Command),
    Double,
    Single,
    AnsiC,
    Backquote,
    /// `${…}`, with its nested braces; `in_double` when it sits inside `"…"`.
    Parameter {
        depth: u32,
        in_double: bool,
    },
    /// `$(( ))` or `(( ))`: nested parentheses, and whether a first `)` was just read.
    Arithmetic {
        depth: u32,
        closing: bool,
    },
    Comment,
    Heredoc(Heredoc),
}

/// The lexer's state after some text. Feed it literal text with [`Lexer::literal`] and write
/// values with [`Lexer::value`].
#[derive(Debug, Clone)]
pub struct Lexer {
    stack: Vec<Frame>,
    /// The previous character was an unescaped `\` (where backslashes escape).
    escape: bool,
    /// The previous character was an unescaped `$`.
    dollar: bool,
    /// A `$(` was just opened: a second `(` makes it `$((`.
    fresh_substitution: bool,
    /// Here-documents of one line whose bodies come after the current one.
    queue: VecDeque<Heredoc>,
    /// A problem found in literal text after a value (a tainted line ending a here-document).
    error: Option<PlaceError>,
}

impl Default for Lexer {
    fn default() -> Self {
        Self::new()
    }
}

impl Lexer {
    /// A lexer at the start of a command, outside any quotes.
    pub fn new() -> Self {
        Lexer {
            stack: vec![Frame::Command(Command::new(false))],
            escape: false,
            dollar: false,
            fresh_substitution: false,
            queue: VecDeque::new(),
            error: None,
        }
    }

    /// A problem the literal text revealed (a value's line ending a here-document).
    pub fn take_error(&mut self) -> Option<PlaceError> {
        self.error.take()
    }

    /// Reads literal playbook text.
    pub fn literal(&mut self, text: &str) {
        for c in text.chars() {
            self.step(c);
        }
    }

    /// Ends the text: a here-document whose last line is a value's and equals its delimiter.
    pub fn finish(&mut self) -> Result<(), PlaceError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(Frame::Heredoc(h)) = self.stack.last()
            && h.tainted
            && h.line_ends_it()
        {
            return Err(PlaceError::EndsHeredoc);
        }
        Ok(())
    }

    fn top(&mut self) -> &mut Frame {
        self.stack.last_mut().expect("the outermost frame stays")
    }

    fn push(&mut self, frame: Frame) {
        self.stack.push(frame);
    }

    fn pop(&mut self) {
        if self.stack.len() > 1 {
            self.stack.pop();
        }
    }

    /// The command frame a quote opened in, when the quote sits directly on it.
    fn word_owner(&mut self) -> Option<&mut Command> {
        let n = self.stack.len();
        match &self.stack[n - 1] {
            Frame::Command(_) => {}
            Frame::Double | Frame::Single | Frame::AnsiC if n >= 2 => {}
            _ => return None,
        }
        let index = if matches!(self.stack[n - 1], Frame::Command(_)) {
            n - 1
        } else {
            n - 2
        };
        match &mut self.stack[index] {
            Frame::Command(cmd) => Some(cmd),
            _ => None,
        }
    }

    /// Marks the enclosing word as started (a character inside quotes).
    fn touch_word(&mut self, c: Option<char>) {
        if let Some(cmd) = self.word_owner() {
            cmd.word_char(c);
        }
    }

    /// `$(`: a command substitution, which the next `(` turns into `$((` arithmetic.
    fn open_substitution(&mut self) {
        self.push(Frame::Command(Command::new(true)));
        self.fresh_substitution = true;
    }

    /// A character where double quotes' rules hold (inside `"…"`, in an unquoted
    /// here-document's body): `\` escapes, `` ` ``, `$(` and `${` open expansions.
    fn double_quoted_char(&mut self, c: char, dollar: bool) {
        match c {
            '\\' => self.escape = true,
            '`' => self.push(Frame::Backquote),
            '$' => self.dollar = !dollar,
            '(' if dollar => self.open_substitution(),
            '{' if dollar => self.push(Frame::Parameter {
                depth: 0,
                in_double: true,
            }),
            _ => {}
        }
    }

    fn step(&mut self, c: char) {
        let dollar = std::mem::take(&mut self.dollar);
        if std::mem::take(&mut self.fresh_substitution) && c == '(' {
            self.pop();
            self.push(Frame::Arithmetic {
                depth: 0,
                closing: false,
            });
            return;
        }
        let escaped = std::mem::take(&mut self.escape);
        match self.top() {
            Frame::Single => {
                if c == '\'' {
                    self.pop();
                } else {
                    self.touch_word(Some(c));
                }
            }
            Frame::AnsiC => {
                if escaped {
                } else if c == '\\' {
                    self.escape = true;
                } else if c == '\'' {
                    self.pop();
                    return;
                }
                self.touch_word(Some(c));
            }
            Frame::Double => {
                if !escaped {
                    if c == '"' {
                        self.pop();
                        return;
                    }
                    self.double_quoted_char(c, dollar);
                }
                // The word owner is the frame below the quote; nested frames have no owner.
                if let [.., Frame::Command(cmd), Frame::Double] = self.stack.as_mut_slice() {
                    cmd.word_char((!matches!(c, '\\' | '$' | '`')).then_some(c));
                }
            }
            Frame::Backquote => {
                if escaped {
                } else if c == '\\' {
                    self.escape = true;
                } else if c == '`' {
                    self.pop();
                }
            }
            Frame::Parameter { depth, in_double } => {
                let in_double = *in_double;
                if escaped {
                    return;
                }
                match c {
                    '\\' => self.escape = true,
                    '{' => *depth += 1,
                    '}' if *depth == 0 => self.pop(),
                    '}' => *depth -= 1,
                    '"' => self.push(Frame::Double),
                    '\'' if !in_double => self.push(Frame::Single),
                    '`' => self.push(Frame::Backquote),
                    '$' => self.dollar = !dollar,
                    '(' if dollar => self.open_substitution(),
                    _ => {}
                }
            }
            Frame::Arithmetic { depth, closing } => match c {
                '(' if dollar => {
                    *closing = false;
                    self.open_substitution();
                }
                '(' => {
                    *depth += 1;
                    *closing = false;
                }
                ')' if *depth > 0 => *depth -= 1,
                ')' if *closing => self.pop(),
                ')' => *closing = true,
                '$' => {
                    *closing = false;
                    self.dollar = !dollar;
                }
                _ => *closing = false,
            },
            Frame::Comment => {
                if c == '\n' {
                    self.pop();
                    self.step(c);
                }
            }
            Frame::Heredoc(h) => {
                let literal = h.literal;
                if c == '\n' {
                    if h.line_ends_it() {
                        if h.tainted {
                            self.error.get_or_insert(PlaceError::EndsHeredoc);
                        }
                        self.pop();
                        if let Some(next) = self.queue.pop_front() {
                            self.push(Frame::Heredoc(next));
                        }
                    } else {
                        h.new_line();
                    }
                    return;
                }
                h.push(c);
                if !literal && !escaped {
                    self.double_quoted_char(c, dollar);
                }
            }
            Frame::Command(_) => self.command_char(c, escaped, dollar),
        }
    }

    fn command_char(&mut self, c: char, escaped: bool, dollar: bool) {
        let Some(Frame::Command(cmd)) = self.stack.last_mut() else {
            return;
        };
        if let Some(reader) = cmd.delimiter.as_mut() {
            if read_delimiter(reader, c) {
                return;
            }
            // The word ended at `c`: the here-document's body starts after this line.
            let reader = cmd.delimiter.take().expect("a reader");
            cmd.pending.push(Heredoc {
                delimiter: reader.word,
                strip_tabs: reader.strip_tabs,
                literal: reader.literal,
                line: String::new(),
                line_long: false,
                tainted: false,
            });
        }
        if escaped {
            // `\` + newline joins lines; any other escaped character is part of the word.
            if c != '\n' {
                cmd.word_char(Some(c));
            }
            return;
        }
        let less = std::mem::take(&mut cmd.less);
        if less == 2 && c != '<' {
            let mut reader = DelimiterReader {
                strip_tabs: c == '-',
                ..DelimiterReader::default()
            };
            if c == '-' || read_delimiter(&mut reader, c) {
                cmd.delimiter = Some(reader);
                return;
            }
            // `<<` directly followed by an operator: not a here-document bash would accept.
        }
        if c == ')' {
            // `esac)` closes the case first, then the parenthesis.
            cmd.end_word();
        }
        let semicolon = std::mem::take(&mut cmd.semicolon);
        let open_paren = std::mem::take(&mut cmd.open_paren);
        let in_pattern = cmd.cases.last() == Some(&Case::Pattern);
        match c {
            '\\' => {
                cmd.word_char(Some(c));
                self.escape = true;
            }
            '\'' => {
                cmd.open_word();
                self.push(if dollar { Frame::AnsiC } else { Frame::Single });
            }
            '"' => {
                cmd.open_word();
                self.push(Frame::Double);
            }
            '`' => {
                cmd.word_char(None);
                self.push(Frame::Backquote);
            }
            '$' => {
                cmd.word_char(None);
                // A `$` right after a `$` completes `$$` (the shell's PID).
                self.dollar = !dollar;
            }
            '{' if dollar => self.push(Frame::Parameter {
                depth: 0,
                in_double: false,
            }),
            '(' if dollar => self.open_substitution(),
            '(' if open_paren => {
                // `((`: arithmetic, not two subshells.
                cmd.parens = cmd.parens.saturating_sub(1);
                self.push(Frame::Arithmetic {
                    depth: 0,
                    closing: false,
                });
            }
            '(' if in_pattern && !cmd.in_word => {}
            '(' => {
                let word_start = !cmd.in_word;
                cmd.end_command();
                cmd.parens += 1;
                cmd.open_paren = word_start;
            }
            ')' if cmd.parens > 0 => {
                cmd.parens -= 1;
                cmd.end_command();
            }
            ')' if in_pattern => {
                cmd.end_command();
                *cmd.cases.last_mut().expect("a case") = Case::Body;
            }
            ')' if cmd.sub => {
                cmd.end_word();
                self.pop();
                // The substitution is part of the enclosing word.
                self.touch_word(None);
            }
            ')' => cmd.end_command(),
            '#' if !cmd.in_word => self.push(Frame::Comment),
            ' ' | '\t' => cmd.end_word(),
            '\n' => {
                cmd.end_command();
                let mut pending = std::mem::take(&mut cmd.pending).into_iter();
                if let Some(first) = pending.next() {
                    self.queue.extend(pending);
                    self.push(Frame::Heredoc(first));
                }
            }
            ';' => {
                cmd.end_command();
                if semicolon && cmd.cases.last() == Some(&Case::Body) {
                    *cmd.cases.last_mut().expect("a case") = Case::Pattern;
                } else {
                    cmd.semicolon = true;
                }
            }
            '&' if semicolon && cmd.cases.last() == Some(&Case::Body) => {
                cmd.end_command();
                *cmd.cases.last_mut().expect("a case") = Case::Pattern;
            }
            '|' if in_pattern => cmd.end_word(),
            '&' | '|' => cmd.end_command(),
            '<' => {
                cmd.end_word();
                cmd.less = less + 1;
            }
            '>' => cmd.end_word(),
            _ => cmd.word_char(Some(c)),
        }
    }

    /// Writes `value` into `out`, spelled for the place the lexer is at.
    pub fn value(&mut self, value: &str, out: &mut String) -> Result<(), PlaceError> {
        if value.contains('\0') {
            return Err(PlaceError::Nul);
        }
        if std::mem::take(&mut self.escape) {
            return Err(PlaceError::AfterBackslash);
        }
        if std::mem::take(&mut self.dollar) {
            return Err(PlaceError::AfterDollar);
        }
        self.fresh_substitution = false;
        let word_start = self.at_word_start();
        let options_ended = self.options_ended();
        if word_start && !options_ended && value.starts_with('-') && !is_number(value) {
            return Err(PlaceError::Option);
        }
        match self.top() {
            Frame::Command(cmd) => {
                if cmd.delimiter.is_some() || cmd.less == 2 {
                    return Err(PlaceError::HeredocWord);
                }
                cmd.less = 0;
                cmd.open_paren = false;
                cmd.semicolon = false;
                if !value.is_empty() {
                    quote_word(value, out);
                    cmd.word_char(None);
                } else if !cmd.in_word {
                    // An empty value where no word has begun is still a word, with no content.
                    out.push_str("''");
                    cmd.open_word();
                }
            }
            Frame::Double => {
                for c in value.chars() {
                    if matches!(c, '\\' | '$' | '`' | '"') {
                        out.push('\\');
                    }
                    out.push(c);
                }
                if !value.is_empty() {
                    self.touch_word(None);
                }
            }
            Frame::Single => {
                out.push_str(&value.replace('\'', r"'\''"));
                if !value.is_empty() {
                    self.touch_word(None);
                }
            }
            Frame::AnsiC => {
                for c in value.chars() {
                    if matches!(c, '\\' | '\'') {
                        out.push('\\');
                    }
                    out.push(c);
                }
                if !value.is_empty() {
                    self.touch_word(None);
                }
            }
            Frame::Comment => out.push_str(&value.replace('\n', "\\n")),
            Frame::Heredoc(h) => {
                let literal = h.literal;
                h.tainted = true;
                for c in value.chars() {
                    if !literal && matches!(c, '\\' | '$' | '`') {
                        out.push('\\');
                        h.push('\\');
                    }
                    out.push(c);
                    if c == '\n' {
                        if h.line_ends_it() {
                            return Err(PlaceError::EndsHeredoc);
                        }
                        h.new_line();
                        h.tainted = true;
                    } else {
                        h.push(c);
                    }
                }
            }
            Frame::Backquote => return Err(PlaceError::Backquote),
            Frame::Parameter { .. } => return Err(PlaceError::Parameter),
            Frame::Arithmetic { closing, .. } => {
                let digits = value.strip_prefix('-').unwrap_or(value);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(PlaceError::Arithmetic);
                }
                *closing = false;
                out.push_str(value);
            }
        }
        Ok(())
    }

    /// A value here would begin a shell word (possibly inside opening quotes).
    fn at_word_start(&self) -> bool {
        let n = self.stack.len();
        let owner = match &self.stack[n - 1] {
            Frame::Command(cmd) => return cmd.word_empty && cmd.delimiter.is_none(),
            Frame::Double | Frame::Single | Frame::AnsiC if n >= 2 => &self.stack[n - 2],
            _ => return false,
        };
        matches!(owner, Frame::Command(cmd) if cmd.word_empty)
    }

    fn options_ended(&self) -> bool {
        self.stack.iter().rev().find_map(|f| match f {
            Frame::Command(cmd) => Some(cmd.options_ended),
            _ => None,
        }) == Some(true)
    }

    /// Whether a value written here would be refused whatever it holds (for `check`).
    pub fn static_problem(&self) -> Option<PlaceError> {
        if self.escape {
            return Some(PlaceError::AfterBackslash);
        }
        if self.dollar {
            return Some(PlaceError::AfterDollar);
        }
        match self.stack.last().expect("a frame") {
            Frame::Command(cmd) if cmd.delimiter.is_some() || cmd.less == 2 => {
                Some(PlaceError::HeredocWord)
            }
            Frame::Backquote => Some(PlaceError::Backquote),
            Frame::Parameter { .. } => Some(PlaceError::Parameter),
            _ => None,
        }
    }
}

/// Reads one character of a here-document delimiter word; false when the word ended before it.
fn read_delimiter(reader: &mut DelimiterReader, c: char) -> bool {
    if reader.escape {
        reader.escape = false;
        reader.word.push(c);
        reader.started = true;
        return true;
    }
    if let Some(q) = reader.quote {
        if c == q {
            reader.quote = None;
        } else {
            reader.word.push(c);
        }
        return true;
    }
    match c {
        ' ' | '\t' if !reader.started => true,
        '\'' | '"' => {
            reader.quote = Some(c);
            reader.literal = true;
            reader.started = true;
            true
        }
        '\\' => {
            reader.escape = true;
            reader.literal = true;
            true
        }
        ' ' | '\t' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')' => !reader.started,
        _ => {
            reader.word.push(c);
            reader.started = true;
            true
        }
    }
}

/// `-5`, `-1.5`: a negative number is a value, not an option.
fn is_number(value: &str) -> bool {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// One unquoted shell word holding exactly `value`: bare when every character is plainly
/// literal, double-quoted when it holds a `'` but nothing double quotes expand, single-quoted
/// otherwise (a `'` inside becomes `'\''`).
pub fn quote_word(value: &str, out: &mut String) {
    // No `,` (brace expansion), `~` (tilde expansion), globs or anything the shell reads.
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@+=%".contains(c);
    if !value.is_empty() && value.chars().all(plain) {
        out.push_str(value);
    } else if value.contains('\'') && !value.contains(['"', '$', '`', '\\']) {
        // Reads better than '\'' for text with apostrophes; nothing inside is special.
        out.push('"');
        out.push_str(value);
        out.push('"');
    } else {
        out.push('\'');
        out.push_str(&value.replace('\'', r"'\''"));
        out.push('\'');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders `parts` (literal, value, literal, value, ...) through the lexer.
    fn render(parts: &[&str]) -> Result<String, PlaceError> {
        let mut lexer = Lexer::new();
        let mut out = String::new();
        for (i, part) in parts.iter().enumerate() {
            if i % 2 == 0 {
                lexer.literal(part);
                out.push_str(part);
                if let Some(e) = lexer.take_error() {
                    return Err(e);
                }
            } else {
                lexer.value(part, &mut out)?;
            }
        }
        lexer.finish()?;
        Ok(out)
    }

    #[test]
    fn bare_and_quoted_words() {
        assert_eq!(
            render(&["echo ", "apeg.service"]).unwrap(),
            "echo apeg.service"
        );
        assert_eq!(render(&["echo ", "a b"]).unwrap(), "echo 'a b'");
        assert_eq!(render(&["echo ", "it's"]).unwrap(), r#"echo "it's""#);
        assert_eq!(render(&["echo ", "it's $x"]).unwrap(), r"echo 'it'\''s $x'");
        assert_eq!(render(&["echo ", ""]).unwrap(), "echo ''");
        assert_eq!(render(&["echo x", ""]).unwrap(), "echo x");
    }

    #[test]
    fn each_quote_gets_its_own_escaping() {
        assert_eq!(
            render(&["echo \"a ", "$(x) `y` \"z\" \\"]).unwrap(),
            r#"echo "a \$(x) \`y\` \"z\" \\"#
        );
        assert_eq!(render(&["echo 'a ", "it's"]).unwrap(), r"echo 'a it'\''s");
        assert_eq!(
            render(&["echo $'a ", r"\x41'"]).unwrap(),
            r"echo $'a \\x41\'"
        );
    }

    #[test]
    fn substitutions_inside_double_quotes_are_commands_again() {
        assert_eq!(
            render(&["echo \"$(cat ", "a b", ")\" ", "c d"]).unwrap(),
            "echo \"$(cat 'a b')\" 'c d'"
        );
        // After the substitution closes, the double quotes go on.
        assert_eq!(
            render(&["echo \"$(date) ", "$x", "\""]).unwrap(),
            "echo \"$(date) \\$x\""
        );
    }

    #[test]
    fn case_patterns_do_not_close_a_substitution() {
        let out = render(&[
            "echo \"$(case $x in a) echo;; (b|c) echo;; esac) ",
            "$y",
            "\"",
        ])
        .unwrap();
        assert!(out.ends_with("\\$y\""), "{out}");
    }

    #[test]
    fn places_without_a_safe_spelling_are_errors() {
        assert_eq!(
            render(&["echo `cat ", "x", "`"]),
            Err(PlaceError::Backquote)
        );
        assert_eq!(
            render(&["echo ${x:-", "x", "}"]),
            Err(PlaceError::Parameter)
        );
        assert_eq!(render(&["echo \\", "x"]), Err(PlaceError::AfterBackslash));
        assert_eq!(render(&["echo \"\\", "x"]), Err(PlaceError::AfterBackslash));
        assert_eq!(render(&["echo $", "HOME"]), Err(PlaceError::AfterDollar));
        assert_eq!(render(&["cat <<", "EOF"]), Err(PlaceError::HeredocWord));
        assert_eq!(
            render(&["echo $(( 1 + ", "x", " ))"]),
            Err(PlaceError::Arithmetic)
        );
        assert_eq!(
            render(&["echo $(( 1 + ", "-2", " ))"]).unwrap(),
            "echo $(( 1 + -2 ))"
        );
        assert_eq!(
            render(&["(( i = ", "a[$(id)]", " ))"]),
            Err(PlaceError::Arithmetic)
        );
    }

    #[test]
    fn options_are_refused_at_the_start_of_a_word_only() {
        assert_eq!(
            render(&["ssh ", "-oProxyCommand=x", " uptime"]),
            Err(PlaceError::Option)
        );
        assert_eq!(render(&["ssh \"", "-o", "\""]), Err(PlaceError::Option));
        assert_eq!(render(&["ssh '", "-o", "'"]), Err(PlaceError::Option));
        assert!(render(&["ssh --host=", "-o"]).is_ok());
        assert!(render(&["ssh -- ", "-o"]).is_ok());
        assert!(render(&["head -n ", "-5"]).is_ok());
        // `--` ends options for its own command only.
        assert_eq!(render(&["a -- b; ssh ", "-o"]), Err(PlaceError::Option));
        // An empty value does not start the word.
        assert_eq!(render(&["ssh ", "", "", "-o"]), Err(PlaceError::Option));
    }

    #[test]
    fn here_documents() {
        assert_eq!(
            render(&["cat <<EOF\n", "$HOME `x` \\", "\nEOF\necho ", "a b"]).unwrap(),
            "cat <<EOF\n\\$HOME \\`x\\` \\\\\nEOF\necho 'a b'"
        );
        assert_eq!(
            render(&["cat <<'EOF'\n", "$HOME", "\nEOF\n"]).unwrap(),
            "cat <<'EOF'\n$HOME\nEOF\n"
        );
        assert_eq!(
            render(&["cat <<EOF\n", "x\nEOF\ntouch PWNED", "\nEOF\n"]),
            Err(PlaceError::EndsHeredoc)
        );
        assert_eq!(
            render(&["cat <<-EOF\n", "x\n\t\tEOF", "\nEOF\n"]),
            Err(PlaceError::EndsHeredoc)
        );
        assert_eq!(
            render(&["cat <<EOF\n", "EO", "F\nEOF\n"]),
            Err(PlaceError::EndsHeredoc)
        );
        // Two here-documents on one line are read in order.
        assert_eq!(
            render(&["cat <<A <<'B'\n", "$a", "\nA\n", "$b", "\nB\necho ", "c d"]).unwrap(),
            "cat <<A <<'B'\n\\$a\nA\n$b\nB\necho 'c d'"
        );
        // A here-string is a plain word.
        assert_eq!(render(&["cat <<< ", "a b"]).unwrap(), "cat <<< 'a b'");
    }

    #[test]
    fn comments_keep_values_on_their_line() {
        assert_eq!(
            render(&["# restart ", "a\ntouch PWNED", "\necho ", "x"]).unwrap(),
            "# restart a\\ntouch PWNED\necho x"
        );
        assert_eq!(render(&["echo a#", "b c"]).unwrap(), "echo a#'b c'");
    }

    #[test]
    fn ordinary_shell_around_values_is_followed() {
        // `$$` is complete: a value may follow it.
        assert_eq!(render(&["echo $$", "a b"]).unwrap(), "echo $$'a b'");
        // A top-level case goes back to commands after `esac`.
        assert_eq!(
            render(&[
                "case $x in\n  a|b) echo;;\n  *) :;;\nesac\necho \"",
                "$y",
                "\""
            ])
            .unwrap(),
            "case $x in\n  a|b) echo;;\n  *) :;;\nesac\necho \"\\$y\""
        );
        assert_eq!(render(&["arr=(x ", "a b", ")"]).unwrap(), "arr=(x 'a b')");
        assert_eq!(
            render(&["[[ $a =~ ^(x|y)$ ]] && echo \"", "$z", "\""]).unwrap(),
            "[[ $a =~ ^(x|y)$ ]] && echo \"\\$z\""
        );
        assert_eq!(
            render(&["echo ${#arr[@]} $((1 << 2)) \"", "$q", "\""]).unwrap(),
            "echo ${#arr[@]} $((1 << 2)) \"\\$q\""
        );
        assert_eq!(render(&["echo \\\\", "a b"]).unwrap(), "echo \\\\'a b'");
    }

    #[test]
    fn static_problems() {
        let mut l = Lexer::new();
        l.literal("echo `x ");
        assert_eq!(l.static_problem(), Some(PlaceError::Backquote));
        let mut l = Lexer::new();
        l.literal("echo \"a ");
        assert_eq!(l.static_problem(), None);
    }
}
