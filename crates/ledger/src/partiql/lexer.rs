//! Tokens of QLDB's PartiQL: keywords are case-insensitive, `'strings'`, `"quoted identifiers"`,
//! `` `Ion literals` ``, `?` parameters, numbers, `<<`/`>>` bag brackets and operators.
//! Every token carries its byte offset so errors can point at the statement.

use super::SyntaxError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A bare identifier or keyword (compared case-insensitively by the parser).
    Word(String),
    /// `"identifier"`: case-sensitive, never a keyword.
    Quoted(String),
    Str(String),
    /// Number text, as written.
    Number(String),
    /// Ion text between backticks.
    Ion(String),
    Param,
    Sym(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
}

const SYMBOLS: &[&str] = &[
    "<<", ">>", "<=", ">=", "<>", "!=", "||", "=", "<", ">", ",", ".", "(", ")", "[", "]", "{",
    "}", ":", "*", "+", "-", "/", "%", ";",
];

pub fn lex(text: &str) -> Result<Vec<Token>, SyntaxError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'-' && bytes.get(i + 1) == Some(&b'-') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            let end = text[i + 2..]
                .find("*/")
                .ok_or_else(|| SyntaxError::new(i, "unterminated comment"))?;
            i += end + 4;
            continue;
        }
        let start = i;
        let tok = match c {
            b'\'' | b'"' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&b) = bytes.get(i) else {
                        return Err(SyntaxError::new(start, "unterminated quoted text"));
                    };
                    if b == quote {
                        if bytes.get(i + 1) == Some(&quote) {
                            s.push(char::from(quote));
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
                    s.push(ch);
                    i += ch.len_utf8();
                }
                if quote == b'\'' {
                    Tok::Str(s)
                } else {
                    Tok::Quoted(s)
                }
            }
            b'`' => {
                let end = text[i + 1..].find('`').ok_or_else(|| {
                    SyntaxError::new(i, "unterminated Ion literal (missing closing backtick)")
                })?;
                let ion = text[i + 1..i + 1 + end].to_owned();
                i += end + 2;
                Tok::Ion(ion)
            }
            b'?' => {
                i += 1;
                Tok::Param
            }
            b'0'..=b'9' => {
                while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                    i += 1;
                }
                if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                    i += 1;
                    if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
                        i += 1;
                    }
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                Tok::Number(text[start..i].to_owned())
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$')
                {
                    i += 1;
                }
                Tok::Word(text[start..i].to_owned())
            }
            _ => {
                let sym = SYMBOLS
                    .iter()
                    .find(|s| text[i..].starts_with(**s))
                    .ok_or_else(|| {
                        SyntaxError::new(
                            i,
                            format!(
                                "unexpected character `{}`",
                                text[i..].chars().next().unwrap_or(' ')
                            ),
                        )
                    })?;
                i += sym.len();
                Tok::Sym(sym)
            }
        };
        out.push(Token { tok, pos: start });
    }
    Ok(out)
}
