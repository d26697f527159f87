//! The token and statement layer shared by dhcpd.leases and dhcpd.conf.
//!
//! ISC dhcpd reads both files with one lexer (common/conflex.c): `#` starts a comment
//! to the end of the line, `"..."` is a string in which `\` escapes the next character
//! (`\n`, `\t`, `\r`, `\\`, `\"` and three octal digits `\ooo`, which the lease file
//! uses for every non-printable byte of a `uid` or `server-duid`), and `{`, `}`, `;`
//! and `,` are tokens of their own. Everything else between those is a word: names,
//! numbers, addresses, colon-separated hex and dates alike. (conflex.c splits words
//! more finely, but every statement read here is recognised by its words.)
//!
//! On top of the tokens, [`parse`] builds the statement tree both grammars share: a
//! statement is words ended by `;`, or words followed by a `{ ... }` block of
//! statements (`subnet ... { }`, `lease ... { }`, `on commit { }`, `failover peer "x"
//! state { }`, `if ... { } else { }`), so a reader can skip any statement it does not
//! know, nested braces included, and point at every one by line and column.

use std::fmt;

/// A place in the input, both 1-based (column in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A syntax error and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

impl SyntaxError {
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        SyntaxError {
            pos,
            message: message.into(),
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// One token's kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// Anything that is not a string or punctuation.
    Word(String),
    /// A quoted string's bytes after escapes (octal escapes may make them non-UTF-8).
    Str(Vec<u8>),
    LBrace,
    RBrace,
    Semi,
    Comma,
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

impl Token {
    /// The word, if this is one.
    pub fn word(&self) -> Option<&str> {
        match &self.tok {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }

    /// The token as dhcpd's configuration would spell it (strings quoted, lossy).
    pub fn text(&self) -> String {
        match &self.tok {
            Tok::Word(w) => w.clone(),
            Tok::Str(b) => format!("\"{}\"", String::from_utf8_lossy(b)),
            Tok::LBrace => "{".into(),
            Tok::RBrace => "}".into(),
            Tok::Semi => ";".into(),
            Tok::Comma => ",".into(),
        }
    }
}

/// Splits `input` into tokens; comments and white space are dropped.
pub fn tokenize(input: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    let (mut line, mut col) = (1usize, 1usize);
    // Advances over one character, keeping line and column.
    macro_rules! bump {
        () => {{
            let c = chars.next();
            if c == Some('\n') {
                line += 1;
                col = 1;
            } else if c.is_some() {
                col += 1;
            }
            c
        }};
    }
    while let Some(&c) = chars.peek() {
        let pos = Pos { line, col };
        match c {
            c if c.is_whitespace() => {
                bump!();
            }
            '#' => {
                while let Some(&c) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    bump!();
                }
            }
            '{' | '}' | ';' | ',' => {
                bump!();
                let tok = match c {
                    '{' => Tok::LBrace,
                    '}' => Tok::RBrace,
                    ';' => Tok::Semi,
                    _ => Tok::Comma,
                };
                out.push(Token { tok, pos });
            }
            '"' => {
                bump!();
                let mut bytes = Vec::new();
                loop {
                    let here = Pos { line, col };
                    match bump!() {
                        None => {
                            return Err(SyntaxError::new(pos, "unterminated string"));
                        }
                        Some('"') => break,
                        Some('\\') => match bump!() {
                            None => return Err(SyntaxError::new(pos, "unterminated string")),
                            Some('n') => bytes.push(b'\n'),
                            Some('t') => bytes.push(b'\t'),
                            Some('r') => bytes.push(b'\r'),
                            Some(d @ '0'..='7') => {
                                // conflex.c: exactly three octal digits, at most 0377.
                                let mut v = d.to_digit(8).unwrap_or(0);
                                for _ in 0..2 {
                                    match chars.peek().and_then(|c| c.to_digit(8)) {
                                        Some(x) => {
                                            bump!();
                                            v = v * 8 + x;
                                        }
                                        None => {
                                            return Err(SyntaxError::new(
                                                here,
                                                "octal escape needs three digits (\\ooo)",
                                            ))
                                        }
                                    }
                                }
                                let b = u8::try_from(v).map_err(|_| {
                                    SyntaxError::new(here, format!("octal escape \\{v:o} > \\377"))
                                })?;
                                bytes.push(b);
                            }
                            Some(other) => {
                                let mut buf = [0; 4];
                                bytes.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                            }
                        },
                        Some(other) => {
                            let mut buf = [0; 4];
                            bytes.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                        }
                    }
                }
                out.push(Token {
                    tok: Tok::Str(bytes),
                    pos,
                });
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '{' | '}' | ';' | ',' | '"' | '#') {
                        break;
                    }
                    w.push(c);
                    bump!();
                }
                out.push(Token {
                    tok: Tok::Word(w),
                    pos,
                });
            }
        }
    }
    Ok(out)
}

/// One statement: its tokens up to `;` or `{`, and its block if it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stmt {
    pub words: Vec<Token>,
    pub block: Option<Vec<Stmt>>,
    pub pos: Pos,
}

impl Stmt {
    /// The i-th token as a word (lower-cased comparisons are the caller's).
    pub fn word(&self, i: usize) -> Option<&str> {
        self.words.get(i).and_then(Token::word)
    }

    /// Whether the statement's first words are exactly `ws`.
    pub fn starts_with(&self, ws: &[&str]) -> bool {
        ws.iter().enumerate().all(|(i, w)| self.word(i) == Some(*w))
    }

    /// The statement's words as written, for reports.
    pub fn text(&self) -> String {
        let mut s = self
            .words
            .iter()
            .map(Token::text)
            .collect::<Vec<_>>()
            .join(" ");
        if self.block.is_some() {
            s.push_str(" { ... }");
        }
        s
    }

    /// Where token `i` is (the statement's start if there is none).
    pub fn pos_of(&self, i: usize) -> Pos {
        self.words.get(i).map_or(self.pos, |t| t.pos)
    }
}

/// Tokenizes and groups `input` into statements.
pub fn parse(input: &str) -> Result<Vec<Stmt>, SyntaxError> {
    let toks = tokenize(input)?;
    let mut it = toks.into_iter().peekable();
    let end = Pos {
        line: input.lines().count().max(1),
        col: input.lines().last().map_or(1, |l| l.chars().count() + 1),
    };
    let stmts = block(&mut it, None, end)?;
    Ok(stmts)
}

fn block(
    it: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
    open: Option<Pos>,
    end: Pos,
) -> Result<Vec<Stmt>, SyntaxError> {
    let mut out = Vec::new();
    let mut words: Vec<Token> = Vec::new();
    loop {
        let Some(t) = it.next() else {
            if let Some(open) = open {
                return Err(SyntaxError::new(
                    end,
                    format!("end of file inside the block opened at {open} (missing `}}`)"),
                ));
            }
            if let Some(first) = words.first() {
                return Err(SyntaxError::new(
                    end,
                    format!(
                        "end of file in the statement begun at {} (missing `;`)",
                        first.pos
                    ),
                ));
            }
            return Ok(out);
        };
        match t.tok {
            Tok::Semi => {
                // A lone `;` (after a block, say) is an empty statement dhcpd tolerates.
                if let Some(first) = words.first() {
                    let pos = first.pos;
                    out.push(Stmt {
                        words: std::mem::take(&mut words),
                        block: None,
                        pos,
                    });
                }
            }
            Tok::LBrace => {
                let pos = words.first().map_or(t.pos, |w| w.pos);
                let inner = block(it, Some(t.pos), end)?;
                out.push(Stmt {
                    words: std::mem::take(&mut words),
                    block: Some(inner),
                    pos,
                });
            }
            Tok::RBrace => {
                if let Some(first) = words.first() {
                    return Err(SyntaxError::new(
                        t.pos,
                        format!(
                            "expecting `;` before `}}` (statement begun at {})",
                            first.pos
                        ),
                    ));
                }
                if open.is_none() {
                    return Err(SyntaxError::new(t.pos, "`}` without a matching `{`"));
                }
                return Ok(out);
            }
            Tok::Word(_) | Tok::Str(_) | Tok::Comma => words.push(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_take_octal_and_character_escapes() {
        let t = tokenize(r#"uid "\001\000\014a\"b\\c\n";"#).unwrap();
        assert_eq!(t[0].tok, Tok::Word("uid".into()));
        assert_eq!(
            t[1].tok,
            Tok::Str(vec![1, 0, 0o14, b'a', b'"', b'b', b'\\', b'c', b'\n'])
        );
        assert_eq!(t[2].tok, Tok::Semi);
        // Bytes above 0177 are not UTF-8, and stay bytes.
        let t = tokenize(r#""\377\200""#).unwrap();
        assert_eq!(t[0].tok, Tok::Str(vec![0xff, 0x80]));
    }

    #[test]
    fn comments_run_to_the_end_of_the_line_and_positions_count_from_one() {
        let t = tokenize("# head\n  a b; # tail \"not a string\n}").unwrap();
        assert_eq!(t[0].pos, Pos { line: 2, col: 3 });
        assert_eq!(t[1].pos, Pos { line: 2, col: 5 });
        assert_eq!(t[2].tok, Tok::Semi);
        assert_eq!(t[3].pos, Pos { line: 3, col: 1 });
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn a_hash_inside_a_string_is_not_a_comment() {
        let t = tokenize(r#"client-hostname "a#b";"#).unwrap();
        assert_eq!(t[1].tok, Tok::Str(b"a#b".to_vec()));
    }

    #[test]
    fn errors_say_line_and_column() {
        let e = tokenize("a;\n  uid \"abc\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 7 });
        assert_eq!(e.to_string(), "2:7: unterminated string");
        let e = tokenize("x \"\\01x\"").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 4 });
        let e = parse("lease 1.2.3.4 {\n  starts 1\n}\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 3, col: 1 });
        assert!(e.message.contains("expecting `;`"), "{e}");
        let e = parse("a {\n b;\n").unwrap_err();
        assert!(e.message.contains("opened at 1:3"), "{e}");
        let e = parse("a;\n}\n").unwrap_err();
        assert_eq!(e.to_string(), "2:1: `}` without a matching `{`");
        let e = parse("a b").unwrap_err();
        assert!(e.message.contains("missing `;`"), "{e}");
    }

    #[test]
    fn statements_nest_and_unknown_blocks_can_be_skipped_whole() {
        let s = parse(
            "lease 192.0.2.1 {\n  on expiry { set x = \"}\"; if a { b; } }\n  ends never;\n}\n;\nx;",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        let inner = s[0].block.as_ref().unwrap();
        assert_eq!(inner.len(), 2);
        assert!(inner[0].starts_with(&["on", "expiry"]));
        assert_eq!(inner[0].block.as_ref().unwrap().len(), 2);
        assert!(inner[1].starts_with(&["ends", "never"]));
        assert_eq!(inner[1].pos, Pos { line: 3, col: 3 });
        assert_eq!(s[1].text(), "x");
    }
}
