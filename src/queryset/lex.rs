//! planguard's one PostgreSQL lexer: where statements end, which `$n`
//! placeholders a statement uses and which comments lead a file (the query
//! set), and the tokens capture normalizes (`capture::normalize`).
//!
//! It follows the rules of PostgreSQL's own scanner (`src/backend/parser/
//! scan.l`) for everything that can hide a semicolon or a `$n`: string
//! constants (`'…'`, `E'…'`, `U&'…'`, `B'…'`, `X'…'`, `N'…'`), quoted
//! identifiers, dollar-quoted bodies, `--` comments and nested `/* */`
//! comments. Everything else is a word, a number or a single character.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A keyword or an unquoted identifier.
    Word,
    /// A `"quoted identifier"`.
    QuotedIdent,
    /// A string constant in single quotes, with any prefix.
    Str,
    /// A `$tag$ … $tag$` body.
    DollarStr,
    /// A `$n` placeholder, with its number (saturated at `u32::MAX`).
    Param(u32),
    Number,
    Semicolon,
    LineComment,
    BlockComment,
    /// Any other character: operators, parentheses, commas.
    Punct,
}

/// One token: its kind and its byte range in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// Comments are not significant; everything else is.
    pub fn is_significant(&self) -> bool {
        !matches!(self.kind, Kind::LineComment | Kind::BlockComment)
    }

    /// Whether this is the word `word` (ASCII case-insensitive).
    pub fn is_word(&self, text: &str, word: &str) -> bool {
        self.kind == Kind::Word && text[self.start..self.end].eq_ignore_ascii_case(word)
    }
}

/// How backslashes behave in plain `'…'` strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strings {
    /// `standard_conforming_strings = on`, the default since PostgreSQL 9.1:
    /// a backslash is an ordinary character.
    Standard,
    /// `standard_conforming_strings = off`: a backslash escapes the next
    /// character, so `\'` does not end the string.
    Legacy,
}

/// A construct that never ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LexError {
    /// What was left open, e.g. "string constant".
    pub what: &'static str,
    /// Where it started (byte offset).
    pub offset: usize,
}

impl LexError {
    /// One sentence with a 1-based line and column in `text`.
    pub fn describe(&self, text: &str) -> String {
        let (line, column) = line_col(text, self.offset);
        format!(
            "unterminated {} starting at line {line}, column {column}",
            self.what
        )
    }
}

/// The tokens of `text`, up to the first construct that never ends; that
/// error comes back alongside the tokens before it.
pub(crate) fn lex(text: &str, strings: Strings) -> (Vec<Token>, Option<LexError>) {
    let b = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let c = b[i];
        let next = b.get(i + 1).copied();
        let lexed = match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                i += 1;
                continue;
            }
            b'-' if next == Some(b'-') => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |n| i + n);
                Ok((Kind::LineComment, end))
            }
            b'/' if next == Some(b'*') => block_comment(b, i),
            b'\'' => quoted(b, i + 1, strings == Strings::Legacy, "string constant")
                .map(|end| (Kind::Str, end)),
            b'e' | b'E' if next == Some(b'\'') => {
                quoted(b, i + 2, true, "string constant").map(|end| (Kind::Str, end))
            }
            b'b' | b'B' | b'x' | b'X' | b'n' | b'N' if next == Some(b'\'') => {
                quoted(b, i + 2, strings == Strings::Legacy, "string constant")
                    .map(|end| (Kind::Str, end))
            }
            b'u' | b'U' if next == Some(b'&') && b.get(i + 2) == Some(&b'\'') => {
                quoted(b, i + 3, false, "string constant").map(|end| (Kind::Str, end))
            }
            b'u' | b'U' if next == Some(b'&') && b.get(i + 2) == Some(&b'"') => {
                quoted_ident(b, i + 3).map(|end| (Kind::QuotedIdent, end))
            }
            b'"' => quoted_ident(b, i + 1).map(|end| (Kind::QuotedIdent, end)),
            b'$' => dollar(b, i),
            b';' => Ok((Kind::Semicolon, i + 1)),
            c if is_ident_start(c) => {
                let end = b[i..]
                    .iter()
                    .position(|&c| !is_ident_cont(c))
                    .map_or(b.len(), |n| i + n);
                Ok((Kind::Word, end))
            }
            c if c.is_ascii_digit() || (c == b'.' && next.is_some_and(|n| n.is_ascii_digit())) => {
                Ok((Kind::Number, i + number_len(&b[i..])))
            }
            _ => Ok((Kind::Punct, i + 1)),
        };
        match lexed {
            Ok((kind, end)) => {
                tokens.push(Token { kind, start, end });
                i = end;
            }
            Err(what) => {
                return (
                    tokens,
                    Some(LexError {
                        what,
                        offset: start,
                    }),
                );
            }
        }
    }
    (tokens, None)
}

/// The significant tokens of each statement, split at semicolons; empty
/// statements (`;;`, a trailing `;`, comments only) are left out.
pub(crate) fn statements(tokens: &[Token]) -> Vec<Vec<Token>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for token in tokens.iter().filter(|t| t.is_significant()) {
        if token.kind == Kind::Semicolon {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push(*token);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The highest `$n` among the tokens, 0 when there is none.
pub(crate) fn highest_param(tokens: &[Token]) -> u32 {
    tokens
        .iter()
        .filter_map(|t| match t.kind {
            Kind::Param(n) => Some(n),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.bytes().filter(|&c| c == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

/// Length of a numeric constant: `42`, `1.5`, `.5`, `1e-3`, `0x1F`,
/// `1_000` (scan.l's decinteger, numeric, real and the 16+ forms).
fn number_len(bytes: &[u8]) -> usize {
    let digits = |from: usize| {
        from + bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'_')
            .count()
    };
    if bytes.len() > 2 && bytes[0] == b'0' && matches!(bytes[1] | 0x20, b'x' | b'o' | b'b') {
        return 2 + bytes[2..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
    }
    let mut i = digits(0);
    // `1..2` is not a number followed by `.2`; PostgreSQL has no such
    // syntax, but do not swallow an operator either.
    if bytes.get(i) == Some(&b'.') && bytes.get(i + 1) != Some(&b'.') {
        i = digits(i + 1);
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(i + 1), Some(b'+' | b'-')));
        if bytes.get(i + 1 + sign).is_some_and(u8::is_ascii_digit) {
            i = digits(i + 1 + sign);
        }
    }
    i.max(1)
}

// scan.l: ident_start [A-Za-z\200-\377_], ident_cont adds [0-9\$].
fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_ident_cont(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == b'$'
}

/// A `/* */` comment; they nest in PostgreSQL, unlike in the SQL standard.
fn block_comment(b: &[u8], start: usize) -> Result<(Kind, usize), &'static str> {
    let mut depth = 0usize;
    let mut i = start;
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Ok((Kind::BlockComment, i));
                }
            }
            _ => i += 1,
        }
    }
    Err("comment")
}

/// The end of a single-quoted constant whose body starts at `i`: `''` is a
/// quote, and with `backslashes` a backslash escapes the next byte.
fn quoted(
    b: &[u8],
    mut i: usize,
    backslashes: bool,
    what: &'static str,
) -> Result<usize, &'static str> {
    while i < b.len() {
        match b[i] {
            b'\\' if backslashes => i += 2,
            b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(what)
}

fn quoted_ident(b: &[u8], mut i: usize) -> Result<usize, &'static str> {
    while i < b.len() {
        match b[i] {
            b'"' if b.get(i + 1) == Some(&b'"') => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err("quoted identifier")
}

/// `$n`, a `$tag$ … $tag$` body, or a lone `$`.
fn dollar(b: &[u8], start: usize) -> Result<(Kind, usize), &'static str> {
    let after = start + 1;
    if b.get(after).is_some_and(u8::is_ascii_digit) {
        let end = b[after..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map_or(b.len(), |n| after + n);
        // The digits are ASCII, so this slice is valid UTF-8.
        let n = std::str::from_utf8(&b[after..end])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u32::MAX);
        return Ok((Kind::Param(n), end));
    }
    // scan.l: dolqdelim \$({dolq_start}{dolq_cont}*)?\$ where dolq_start is
    // an identifier start and dolq_cont adds digits (but not `$`).
    let mut i = after;
    if b.get(i).is_some_and(|&c| is_ident_start(c)) {
        i += 1;
        while b
            .get(i)
            .is_some_and(|&c| is_ident_start(c) || c.is_ascii_digit())
        {
            i += 1;
        }
    }
    if b.get(i) != Some(&b'$') {
        return Ok((Kind::Punct, after));
    }
    let delimiter = &b[start..=i];
    let body = i + 1;
    match b[body..]
        .windows(delimiter.len())
        .position(|w| w == delimiter)
    {
        Some(n) => Ok((Kind::DollarStr, body + n + delimiter.len())),
        None => Err("dollar-quoted string"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        let (tokens, error) = lex(text, Strings::Standard);
        assert_eq!(error, None, "{text}");
        tokens
            .iter()
            .map(|t| (t.kind, &text[t.start..t.end]))
            .collect()
    }

    #[test]
    fn tokens_that_can_hide_semicolons() {
        assert_eq!(
            kinds(
                "SELECT 'a;''b', E'c\\';', \"d;\"\"e\", $$f;$$, $x$ $$; $x$ -- g;\n/* h /* i; */ ; */;"
            ),
            vec![
                (Kind::Word, "SELECT"),
                (Kind::Str, "'a;''b'"),
                (Kind::Punct, ","),
                (Kind::Str, "E'c\\';'"),
                (Kind::Punct, ","),
                (Kind::QuotedIdent, "\"d;\"\"e\""),
                (Kind::Punct, ","),
                (Kind::DollarStr, "$$f;$$"),
                (Kind::Punct, ","),
                (Kind::DollarStr, "$x$ $$; $x$"),
                (Kind::LineComment, "-- g;"),
                (Kind::BlockComment, "/* h /* i; */ ; */"),
                (Kind::Semicolon, ";"),
            ]
        );
    }

    #[test]
    fn placeholders_and_dollars_in_names() {
        assert_eq!(
            kinds("a$1 $1 $12::int $ b$$c$$"),
            vec![
                (Kind::Word, "a$1"),
                (Kind::Param(1), "$1"),
                (Kind::Param(12), "$12"),
                (Kind::Punct, ":"),
                (Kind::Punct, ":"),
                (Kind::Word, "int"),
                (Kind::Punct, "$"),
                (Kind::Word, "b$$c$$"),
            ]
        );
        let (tokens, _) = lex(
            "SELECT $2, '$9', $$ $7 $$, \"$8\" -- $6\n, $1",
            Strings::Standard,
        );
        assert_eq!(highest_param(&tokens), 2);
        let (tokens, _) = lex("SELECT $99999999999", Strings::Standard);
        assert_eq!(highest_param(&tokens), u32::MAX);
    }

    #[test]
    fn string_prefixes() {
        assert_eq!(
            kinds("U&'x' u&\"y\" B'01' x'1F' N'n' e'\\''"),
            vec![
                (Kind::Str, "U&'x'"),
                (Kind::QuotedIdent, "u&\"y\""),
                (Kind::Str, "B'01'"),
                (Kind::Str, "x'1F'"),
                (Kind::Str, "N'n'"),
                (Kind::Str, "e'\\''"),
            ]
        );
    }

    #[test]
    fn backslashes_depend_on_standard_strings() {
        let text = r"'a\''; DROP TABLE x; --'";
        let (standard, error) = lex(text, Strings::Standard);
        assert_eq!(error, None);
        assert_eq!(standard.len(), 1, "one string");
        let (legacy, error) = lex(text, Strings::Legacy);
        assert_eq!(error, None);
        assert_eq!(statements(&legacy).len(), 2);
    }

    #[test]
    fn unterminated_constructs_say_where() {
        for (text, what) in [
            ("SELECT 'a", "string constant"),
            ("SELECT \"a", "quoted identifier"),
            ("SELECT $x$ a $y$", "dollar-quoted string"),
            ("SELECT /* /* */", "comment"),
        ] {
            let (_, error) = lex(text, Strings::Standard);
            let error = error.unwrap();
            assert_eq!((error.what, error.offset), (what, 7), "{text}");
        }
        let (tokens, error) = lex("SELECT 1;\n  'open", Strings::Standard);
        assert_eq!(tokens.len(), 3);
        assert_eq!(
            error.unwrap().describe("SELECT 1;\n  'open"),
            "unterminated string constant starting at line 2, column 3"
        );
    }

    #[test]
    fn statements_split_on_semicolons_only() {
        let text = "-- c\n;; SELECT 1; /* x */ ; SELECT (2;3) ;";
        let (tokens, _) = lex(text, Strings::Standard);
        let split = statements(&tokens);
        assert_eq!(split.len(), 3);
        assert_eq!(&text[split[0][0].start..split[0][0].end], "SELECT");
    }

    #[test]
    fn line_and_column_count_characters() {
        let text = "ab\nçé x";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, text.find('x').unwrap()), (2, 4));
    }
}
