//! Statement text normalization: literals become `$n` placeholders, so that
//! the same statement with different constants is one query, and a
//! canonical key that identifies the statement whatever its layout.
//!
//! The tokens come from the query set's lexer ([`crate::queryset::lex`]),
//! which follows PostgreSQL's scanner (`src/backend/parser/scan.l`) for
//! everything that can hide a quote, a semicolon or a `$`: string constants
//! with every prefix (`E'…'`, `U&'…'`, `B'…'`, `X'…'`, `N'…'`), quoted
//! identifiers, dollar-quoted bodies, `--` and nested `/* */` comments.
//! Tokenizing never fails: a construct left open (a statement cut short in
//! a log) runs to the end of the text.
//!
//! What becomes a placeholder, as pg_stat_statements does it: plain string
//! constants and numbers. What stays, because a placeholder would change the
//! statement's meaning or make it invalid: positional `ORDER BY 1` and
//! `GROUP BY 1` items, type modifiers (`numeric(10,2)`, `varchar(20)`),
//! escape, bit and dollar-quoted strings, and `interval '1' day`. A typed
//! literal (`DATE '2024-01-01'`, and pg_stat_statements' own unrunnable
//! `date $1`) becomes a cast, `$1::date`, which PostgreSQL accepts.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Space,
    Comment,
    /// A keyword or an unquoted identifier.
    Word,
    QuotedIdent,
    /// A plain `'…'` or `N'…'` string constant: it becomes a placeholder.
    Str,
    /// `E'…'`, `U&'…'`, `B'…'`, `X'…'` and `$tag$…$tag$`: kept as written.
    OtherStr,
    Number,
    Param(usize),
    /// An operator (`=`, `<>`, `->>`, `::`) or other punctuation.
    Op,
    Open,
    Close,
    Comma,
    Semicolon,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

const OPERATOR_CHARS: &str = "+-*/<>=~!@#%^&|`?";

/// Splits `sql` into tokens that cover it exactly, from the query set's
/// lexer ([`crate::queryset::lex`]): the gaps between its tokens are
/// white space, a run of operator characters is one operator, and a
/// construct left open (a statement cut short in a log) runs to the end.
fn tokenize(sql: &str) -> Vec<Token> {
    use crate::queryset::lex::{self, Kind as Lexed, Strings};
    let (lexed, open) = lex::lex(sql, Strings::Standard);
    let mut tokens = Vec::with_capacity(lexed.len() * 2);
    let mut at = 0;
    // The white space before the token, then the token.
    let push = |tokens: &mut Vec<Token>, at: &mut usize, kind: Kind, start: usize, end: usize| {
        if start > *at {
            tokens.push(Token {
                kind: Kind::Space,
                start: *at,
                end: start,
            });
        }
        tokens.push(Token { kind, start, end });
        *at = end;
    };
    for t in &lexed {
        if t.start < at {
            // Inside an operator already taken.
            continue;
        }
        let text = &sql[t.start..t.end];
        let (kind, end) = match t.kind {
            Lexed::Word => (Kind::Word, t.end),
            Lexed::QuotedIdent => (Kind::QuotedIdent, t.end),
            Lexed::Str => (string_kind(text), t.end),
            Lexed::DollarStr => (Kind::OtherStr, t.end),
            // The lexer saturates a number past u32; so does this, past usize.
            Lexed::Param(n) if n == u32::MAX => (Kind::Param(usize::MAX), t.end),
            Lexed::Param(n) => (Kind::Param(n as usize), t.end),
            Lexed::Number => (Kind::Number, t.end),
            Lexed::Semicolon => (Kind::Semicolon, t.end),
            Lexed::LineComment | Lexed::BlockComment => (Kind::Comment, t.end),
            Lexed::Punct => match text {
                "(" | "[" => (Kind::Open, t.end),
                ")" | "]" => (Kind::Close, t.end),
                "," => (Kind::Comma, t.end),
                ":" if sql[t.start..].starts_with("::") => (Kind::Op, t.start + 2),
                _ if OPERATOR_CHARS.contains(text) => {
                    (Kind::Op, t.start + operator_len(&sql[t.start..]))
                }
                _ => (Kind::Op, t.end),
            },
        };
        push(&mut tokens, &mut at, kind, t.start, end);
    }
    if let Some(open) = open {
        let rest = &sql[open.offset..];
        let kind = match open.what {
            "quoted identifier" => Kind::QuotedIdent,
            "comment" => Kind::Comment,
            "string constant" => string_kind(rest),
            _ => Kind::OtherStr,
        };
        push(&mut tokens, &mut at, kind, open.offset, sql.len());
    } else if at < sql.len() {
        tokens.push(Token {
            kind: Kind::Space,
            start: at,
            end: sql.len(),
        });
    }
    tokens
}

/// A plain `'…'` or `N'…'` constant becomes a placeholder; `E'…'`,
/// `U&'…'`, `B'…'` and `X'…'` stay as written.
fn string_kind(text: &str) -> Kind {
    match text.as_bytes().first() {
        Some(b'\'' | b'n' | b'N') => Kind::Str,
        _ => Kind::OtherStr,
    }
}

/// An operator is the longest run of operator characters that does not
/// start a comment.
fn operator_len(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() && OPERATOR_CHARS.as_bytes().contains(&bytes[i]) {
        if i > 0 && (rest[i..].starts_with("--") || rest[i..].starts_with("/*")) {
            break;
        }
        i += 1;
    }
    i.max(1)
}

/// A value that a placeholder stood for, taken from the statement's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// A numeric constant as written (`42`, `1.5`).
    Number(String),
    /// A string constant's value, with doubled quotes undone.
    Text(String),
}

impl Literal {
    /// The value in PostgreSQL's text input form.
    pub fn as_text(&self) -> &str {
        match self {
            Literal::Number(text) | Literal::Text(text) => text,
        }
    }
}

/// One statement with its literals replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The statement as it will be written: literals replaced by `$n`,
    /// comments removed, line breaks and indentation kept, no trailing
    /// semicolon.
    pub text: String,
    /// The canonical form: significant tokens separated by one space,
    /// unquoted words in lower case. Two texts with the same key are the
    /// same statement.
    pub key: String,
    /// The statement's own placeholders (`$1` .. `$own_params`) before any
    /// literal was replaced.
    pub own_params: usize,
    /// The values of the placeholders that replaced literals, by number.
    pub literals: Vec<(usize, Literal)>,
}

/// Splits a text into its statements at top-level semicolons (a log line
/// of the simple protocol may hold several) and normalizes each; empty
/// statements are dropped.
pub fn normalize_all(sql: &str) -> Vec<Normalized> {
    let tokens = tokenize(sql);
    tokens
        .split(|t| t.kind == Kind::Semicolon)
        .filter(|part| part.iter().any(|t| significant(t.kind)))
        .map(|part| normalize_tokens(sql, part))
        .collect()
}

/// The canonical key of a statement text (see [`Normalized::key`]); a
/// trailing semicolon is ignored. The text is not normalized first: a
/// literal typed in by hand where a placeholder was makes another key.
pub fn key(sql: &str) -> String {
    let tokens = tokenize(sql);
    let mut end = tokens.len();
    while end > 0 && !significant(tokens[end - 1].kind) {
        end -= 1;
    }
    if end > 0 && tokens[end - 1].kind == Kind::Semicolon {
        end -= 1;
    }
    key_of(sql, &tokens[..end])
}

/// The significant tokens of a text, unquoted words in lower case.
pub fn significant_tokens(sql: &str) -> Vec<String> {
    tokenize(sql)
        .into_iter()
        .filter(|t| significant(t.kind))
        .map(|t| {
            let text = &sql[t.start..t.end];
            if t.kind == Kind::Word {
                text.to_lowercase()
            } else {
                text.to_owned()
            }
        })
        .collect()
}

fn significant(kind: Kind) -> bool {
    !matches!(kind, Kind::Space | Kind::Comment)
}

fn key_of(sql: &str, tokens: &[Token]) -> String {
    let mut key = String::new();
    for t in tokens.iter().filter(|t| significant(t.kind)) {
        if !key.is_empty() {
            key.push(' ');
        }
        let text = &sql[t.start..t.end];
        if t.kind == Kind::Word {
            key.push_str(&text.to_lowercase());
        } else {
            key.push_str(text);
        }
    }
    key
}

/// Types whose `type 'literal'` form becomes `$n::type`.
const LITERAL_TYPES: &[&str] = &[
    "date",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "interval",
    "numeric",
    "decimal",
    "int",
    "int2",
    "int4",
    "int8",
    "integer",
    "smallint",
    "bigint",
    "real",
    "float",
    "float4",
    "float8",
    "boolean",
    "bool",
    "text",
    "varchar",
    "char",
    "uuid",
    "json",
    "jsonb",
    "inet",
    "cidr",
    "macaddr",
    "money",
    "bytea",
    "point",
    "tsquery",
    "tsvector",
];

/// Words after which a `,`-separated list is positional (`ORDER BY 1`).
const CLAUSE_ENDS: &[&str] = &[
    "limit",
    "offset",
    "having",
    "window",
    "fetch",
    "for",
    "union",
    "intersect",
    "except",
    "returning",
];

/// Words that may follow a positional `ORDER BY` item.
const ORDER_ITEM_FOLLOWERS: &[&str] = &["asc", "desc", "nulls", "using", "order", "group"];

const INTERVAL_FIELDS: &[&str] = &["year", "month", "day", "hour", "minute", "second"];

struct Normalizer<'a> {
    sql: &'a str,
    /// The significant tokens of the statement.
    tokens: Vec<Token>,
}

impl Normalizer<'_> {
    fn text(&self, i: usize) -> &str {
        let t = self.tokens[i];
        &self.sql[t.start..t.end]
    }

    fn is_word(&self, i: usize, words: &[&str]) -> bool {
        self.tokens[i].kind == Kind::Word
            && words.iter().any(|w| self.text(i).eq_ignore_ascii_case(w))
    }

    /// The type words of a typed literal ending just before token `i`
    /// (`date`, `timestamp with time zone`), as the index of the first one.
    fn literal_type_start(&self, i: usize) -> Option<usize> {
        if i >= 4
            && self.is_word(i - 1, &["zone"])
            && self.is_word(i - 2, &["time"])
            && self.is_word(i - 3, &["with", "without"])
            && self.is_word(i - 4, &["timestamp", "time"])
        {
            return Some(i - 4);
        }
        if i >= 1 && self.is_word(i - 1, LITERAL_TYPES) {
            // `x.date 'a'` and `::date 'a'` are not typed literals.
            let qualified = i >= 2
                && matches!(self.text(i - 2), "." | "::")
                && self.tokens[i - 2].kind == Kind::Op;
            if !qualified {
                return Some(i - 1);
            }
        }
        None
    }

    /// Whether the number at `i` is a whole positional `ORDER BY` or
    /// `GROUP BY` item.
    fn positional(&self, i: usize, by_list: bool) -> bool {
        if !by_list || i == 0 {
            return false;
        }
        let before_ok = self.is_word(i - 1, &["by"]) || self.tokens[i - 1].kind == Kind::Comma;
        let after_ok = match self.tokens.get(i + 1) {
            None => true,
            Some(t) => {
                matches!(t.kind, Kind::Comma | Kind::Close)
                    || self.is_word(i + 1, ORDER_ITEM_FOLLOWERS)
                    || self.is_word(i + 1, CLAUSE_ENDS)
            }
        };
        before_ok && after_ok
    }

    /// Whether a `(` at `i` opens a type modifier (`::numeric(10, 2)`,
    /// `AS varchar(20)`, `::character varying(20)`).
    fn opens_typmod(&self, i: usize) -> bool {
        let mut j = i;
        let mut words = 0;
        while j > 0 && self.tokens[j - 1].kind == Kind::Word && words < 3 {
            if self.is_word(j - 1, &["as", "materialized", "not"]) {
                break;
            }
            j -= 1;
            words += 1;
        }
        words > 0
            && j > 0
            && ((self.tokens[j - 1].kind == Kind::Op && self.text(j - 1) == "::")
                || self.is_word(j - 1, &["as"]))
    }
}

fn normalize_tokens(sql: &str, all: &[Token]) -> Normalized {
    let own_params = all
        .iter()
        .filter_map(|t| match t.kind {
            Kind::Param(n) => Some(n),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let n = Normalizer {
        sql,
        tokens: all
            .iter()
            .copied()
            .filter(|t| significant(t.kind))
            .collect(),
    };
    // What to print for each significant token: None drops it.
    let mut out: Vec<Option<String>> = (0..n.tokens.len())
        .map(|i| Some(n.text(i).to_owned()))
        .collect();
    let mut literals = Vec::new();
    let mut next = own_params;
    // Per parenthesis depth: (inside a positional BY list, inside a typmod).
    let mut depth: Vec<(bool, bool)> = vec![(false, false)];
    for i in 0..n.tokens.len() {
        let (by_list, typmod) = depth.last().copied().unwrap_or_default();
        match n.tokens[i].kind {
            Kind::Open => depth.push((false, n.opens_typmod(i))),
            Kind::Close if depth.len() > 1 => {
                depth.pop();
            }
            Kind::Word => {
                let level = depth.last_mut().expect("depth is never empty");
                if n.is_word(i, &["by"]) && i > 0 && n.is_word(i - 1, &["order", "group"]) {
                    level.0 = true;
                } else if n.is_word(i, CLAUSE_ENDS) {
                    level.0 = false;
                }
            }
            Kind::Number if !typmod && !n.positional(i, by_list) => {
                // `$99999999999999999999` in a log is read as usize::MAX.
                next = next.saturating_add(1);
                let text = n.text(i).to_owned();
                out[i] = Some(format!("${next}"));
                literals.push((next, Literal::Number(text)));
            }
            Kind::Str => {
                let raw = n.text(i);
                let quoted = raw.trim_start_matches(['n', 'N']);
                let inner = quoted
                    .strip_prefix('\'')
                    .map(|s| s.strip_suffix('\'').unwrap_or(s))
                    .unwrap_or(quoted);
                let value = inner.replace("''", "'");
                let interval_field = n.is_word(i.saturating_sub(1), &["interval"])
                    && i + 1 < n.tokens.len()
                    && n.is_word(i + 1, INTERVAL_FIELDS);
                if interval_field {
                    continue;
                }
                next = next.saturating_add(1);
                out[i] = Some(typed(&n, &mut out, i, &format!("${next}")));
                literals.push((next, Literal::Text(value)));
            }
            Kind::Param(_) => {
                let param = n.text(i).to_owned();
                out[i] = Some(typed(&n, &mut out, i, &param));
            }
            _ => {}
        }
    }
    let text = layout(sql, all, &n.tokens, &out);
    let key = key(&text);
    Normalized {
        text,
        key,
        own_params,
        literals,
    }
}

/// `placeholder` for the literal at `i`, as `$n::type` when a type name
/// precedes it (whose tokens are then dropped from `out`).
fn typed(n: &Normalizer<'_>, out: &mut [Option<String>], i: usize, placeholder: &str) -> String {
    match n.literal_type_start(i) {
        Some(first) => {
            let words: Vec<String> = (first..i).map(|j| n.text(j).to_lowercase()).collect();
            for slot in &mut out[first..i] {
                *slot = None;
            }
            format!("{placeholder}::{}", words.join(" "))
        }
        None => placeholder.to_owned(),
    }
}

/// Prints the significant tokens with the replacements, keeping line breaks
/// and indentation from the original (the statement's author laid it out),
/// one space for any other run of whitespace and comments.
fn layout(
    sql: &str,
    all: &[Token],
    significant_tokens: &[Token],
    out: &[Option<String>],
) -> String {
    let mut text = String::new();
    let mut gap = String::new();
    let mut k = 0;
    for t in all {
        if !significant(t.kind) {
            gap.push_str(&sql[t.start..t.end]);
            continue;
        }
        debug_assert_eq!(significant_tokens[k].start, t.start);
        let replacement = out[k].as_deref();
        k += 1;
        let Some(piece) = replacement else { continue };
        if !text.is_empty() {
            text.push_str(&separator(&gap));
        }
        gap.clear();
        text.push_str(piece);
    }
    trim_lines(&text)
}

fn separator(gap: &str) -> String {
    if gap.is_empty() {
        return String::new();
    }
    match gap.rfind('\n') {
        Some(n) => {
            let indent: String = gap[n + 1..]
                .chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .collect();
            format!("\n{indent}")
        }
        None => " ".to_owned(),
    }
}

fn trim_lines(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Normalized {
        let mut all = normalize_all(sql);
        assert_eq!(all.len(), 1, "{sql}");
        all.remove(0)
    }

    #[test]
    fn a_placeholder_number_past_usize_does_not_overflow() {
        // Regression (fuzz/regressions/server_log): the literals after an
        // absurd `$n` were numbered by adding one to usize::MAX.
        let n = one("SELECT $99999999999999999999999 + 1, 'x'");
        assert_eq!(n.own_params, usize::MAX);
        assert_eq!(n.literals.len(), 2);
    }

    #[test]
    fn literals_become_numbered_placeholders() {
        let n = one("SELECT * FROM orders WHERE customer_id = 42 AND status = 'it''s' LIMIT 20");
        assert_eq!(
            n.text,
            "SELECT * FROM orders WHERE customer_id = $1 AND status = $2 LIMIT $3"
        );
        assert_eq!(
            n.literals,
            vec![
                (1, Literal::Number("42".into())),
                (2, Literal::Text("it's".into())),
                (3, Literal::Number("20".into()))
            ]
        );
    }

    #[test]
    fn the_same_statement_with_other_literals_has_the_same_key() {
        let a = one("select *  from Orders where id = 1 /* app */");
        let b = one("SELECT *\nFROM orders\nWHERE id = 99999;");
        assert_eq!(a.key, b.key);
        assert_eq!(a.key, "select * from orders where id = $1");
    }

    #[test]
    fn existing_placeholders_are_kept_and_new_ones_follow() {
        let n = one("SELECT * FROM t WHERE a = $2 AND b = $1 AND c = 'x'");
        assert_eq!(n.own_params, 2);
        assert_eq!(n.text, "SELECT * FROM t WHERE a = $2 AND b = $1 AND c = $3");
    }

    #[test]
    fn positional_order_by_and_typmods_stay() {
        let n = one(
            "SELECT a, count(*) FROM t WHERE b::numeric(10,2) > 1.5 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5",
        );
        assert_eq!(
            n.text,
            "SELECT a, count(*) FROM t WHERE b::numeric(10,2) > $1 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $2"
        );
        let n = one("SELECT CAST(a AS varchar(20)) FROM t ORDER BY a + 1");
        assert_eq!(
            n.text,
            "SELECT CAST(a AS varchar(20)) FROM t ORDER BY a + $1"
        );
    }

    #[test]
    fn typed_literals_become_casts() {
        let n = one(
            "SELECT * FROM t WHERE d > DATE '2024-01-01' AND ts < timestamp with time zone 'now'",
        );
        assert_eq!(
            n.text,
            "SELECT * FROM t WHERE d > $1::date AND ts < $2::timestamp with time zone"
        );
        // pg_stat_statements writes `date $1`, which does not parse.
        let n = one("SELECT * FROM t WHERE d > date $1 AND x.date = $2");
        assert_eq!(n.text, "SELECT * FROM t WHERE d > $1::date AND x.date = $2");
        let n = one("SELECT now() - interval '1' day");
        assert_eq!(n.text, "SELECT now() - interval '1' day");
    }

    #[test]
    fn quotes_comments_and_dollar_bodies_hide_everything() {
        let n = one(r#"SELECT "a;'b", E'x\'y', $f$ 1; '2' $f$, U&"d" FROM t -- 3; '4'"#);
        assert_eq!(
            n.text,
            r#"SELECT "a;'b", E'x\'y', $f$ 1; '2' $f$, U&"d" FROM t"#
        );
        assert!(n.literals.is_empty());
    }

    #[test]
    fn several_statements_are_split() {
        let all = normalize_all("BEGIN; SELECT 1;; COMMIT;");
        let texts: Vec<&str> = all.iter().map(|n| n.text.as_str()).collect();
        assert_eq!(texts, vec!["BEGIN", "SELECT $1", "COMMIT"]);
    }

    #[test]
    fn layout_keeps_lines_and_indentation_without_comments() {
        let n = one("SELECT a,  \n\t\t  b -- note\n\t\tFROM t /* x */ WHERE a=1");
        assert_eq!(n.text, "SELECT a,\n\t\t  b\n\t\tFROM t WHERE a=$1");
    }

    #[test]
    fn cut_short_text_does_not_panic() {
        for sql in [
            "SELECT 'abc",
            "SELECT /* x",
            "SELECT $a$ b",
            "SELECT \"x",
            "SELECT E'\\",
            "$",
            "1e",
            "0x",
        ] {
            let _ = normalize_all(sql);
            let _ = key(sql);
        }
    }

    #[test]
    fn numbers_in_all_their_forms() {
        let n = one("SELECT 1.5e-3, .5, 0x1F, 1_000, 3. FROM t");
        assert_eq!(n.text, "SELECT $1, $2, $3, $4, $5 FROM t");
    }
}
