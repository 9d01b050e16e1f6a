//! A pull lexer for JSON text that reports errors and positions the way Jackson does.
//!
//! EventBridge compiles patterns with event-ruler, which walks Jackson's token stream and reports
//! the parser's location with every refusal. To give the same messages at the same columns, this
//! lexer mirrors the parts of Jackson's behaviour that are visible in those messages:
//!
//! - after a field name, the `:` and the start of the value are read ahead, so a refusal made
//!   right after a name points past the value's first token;
//! - a string value is read lazily: until its text is asked for, the location is just after the
//!   opening quote;
//! - columns count UTF-16 units from the line start, `\r\n` is one line break;
//! - trailing content after the root value is not examined.
//!
//! Events are read with the same lexer ([`Lexer::skip_value`] walks past what no rule reads: in
//! one pass over the bytes when it is plain JSON, token by token otherwise, so an error is still
//! worded as Jackson words it).
//! No recursion: nesting is tracked on an explicit stack whose depth the caller can bound.

use std::borrow::Cow;
use std::fmt::Write as _;

/// One token. String values carry no text: ask [`Lexer::string_text`] (which moves the location
/// past the closing quote, as Jackson's `getText` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    StartObject,
    EndObject,
    StartArray,
    EndArray,
    FieldName(Cow<'a, str>),
    String,
    Number(&'a str),
    True,
    False,
    Null,
}

/// A syntax error: Jackson's message and the byte offset it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub message: String,
    pub offset: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Object,
    Array,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    kind: Kind,
    start: usize,
    has_items: bool,
}

/// The lexer. `location()` is where Jackson's `getCurrentLocation()` would point.
#[derive(Debug)]
pub(crate) struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    loc: usize,
    stack: Vec<Frame>,
    pending: Option<Token<'a>>,
    /// Start (just after the opening quote) of a string value whose text was not read yet.
    unread_string: Option<usize>,
    max_depth: usize,
}

const VALID_VALUE: &str = "expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')";

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str, max_depth: usize) -> Self {
        Self {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            loc: 0,
            stack: Vec::new(),
            pending: None,
            unread_string: None,
            max_depth,
        }
    }

    pub(crate) fn source(&self) -> &'a str {
        self.src
    }

    /// Where the last token ended (Jackson's current location), as a byte offset.
    pub(crate) fn location(&self) -> usize {
        self.loc
    }

    fn err(&self, message: impl Into<String>, offset: usize) -> SyntaxError {
        SyntaxError {
            message: message.into(),
            offset,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                _ => break,
            }
        }
    }

    /// The character at `pos` (a whole UTF-8 sequence).
    fn char_at(&self, pos: usize) -> char {
        self.src
            .get(pos..)
            .and_then(|s| s.chars().next())
            .unwrap_or('\u{fffd}')
    }

    /// Reads the character at `pos` and returns an "Unexpected character" error after it.
    fn unexpected(&mut self, what: &str) -> SyntaxError {
        let c = self.char_at(self.pos);
        self.pos += c.len_utf8();
        self.err(
            format!("Unexpected character ({}): {what}", char_desc(c)),
            self.pos,
        )
    }

    /// The next token, `None` at the end of input at the root.
    pub(crate) fn next_token(&mut self) -> Result<Option<Token<'a>>, SyntaxError> {
        if let Some(t) = self.pending.take() {
            return Ok(Some(t));
        }
        if let Some(start) = self.unread_string.take() {
            self.scan_string(start, false)?;
        }
        self.skip_ws();
        let Some(c) = self.peek() else {
            return match self.stack.last() {
                None => {
                    self.loc = self.pos;
                    Ok(None)
                }
                Some(frame) => {
                    let name = match frame.kind {
                        Kind::Object => "Object",
                        Kind::Array => "Array",
                    };
                    let start = describe_location(self.src, frame.start);
                    Err(self.err(
                        format!(
                            "Unexpected end-of-input: expected close marker for {name} (start marker at {start})"
                        ),
                        self.pos,
                    ))
                }
            };
        };
        if c == b']' || c == b'}' {
            if let Some(frame) = self.stack.last().copied() {
                let closes = matches!((frame.kind, c), (Kind::Object, b'}') | (Kind::Array, b']'));
                // (After a comma this is not reached: the comma is consumed below and the close
                // marker is then refused as a value.)
                if closes {
                    self.pos += 1;
                    self.loc = self.pos;
                    self.stack.pop();
                    return Ok(Some(if c == b'}' {
                        Token::EndObject
                    } else {
                        Token::EndArray
                    }));
                }
                {
                    self.pos += 1;
                    let (expected, name) = match frame.kind {
                        Kind::Object => ('}', "Object"),
                        Kind::Array => (']', "Array"),
                    };
                    let start = describe_location(self.src, frame.start);
                    return Err(self.err(
                        format!(
                            "Unexpected close marker '{}': expected '{expected}' (for {name} starting at {start})",
                            c as char
                        ),
                        self.pos,
                    ));
                }
            }
        }
        let Some(frame) = self.stack.last().copied() else {
            return self.value_start().map(Some);
        };
        if frame.has_items {
            if c != b',' {
                let what = match frame.kind {
                    Kind::Object => "was expecting comma to separate Object entries",
                    Kind::Array => "was expecting comma to separate Array entries",
                };
                return Err(self.unexpected(what));
            }
            self.pos += 1;
            self.skip_ws();
            if self.peek().is_none() {
                let name = match frame.kind {
                    Kind::Object => "Object",
                    Kind::Array => "Array",
                };
                return Err(self.err(
                    format!("Unexpected end-of-input within/between {name} entries"),
                    self.pos,
                ));
            }
        }
        if let Some(top) = self.stack.last_mut() {
            top.has_items = true;
        }
        match frame.kind {
            Kind::Array => self.value_start().map(Some),
            Kind::Object => {
                if self.peek() != Some(b'"') {
                    return Err(self.unexpected("was expecting double-quote to start field name"));
                }
                self.pos += 1;
                let start = self.pos;
                let name = self.scan_string(start, true).map_err(|mut e| {
                    if e.message.starts_with("Unexpected end-of-input") {
                        e.message = "Unexpected end-of-input in field name".into();
                    }
                    e
                })?;
                self.skip_ws();
                match self.peek() {
                    None => return Err(self.err("Unexpected end-of-input in field name", self.pos)),
                    Some(b':') => self.pos += 1,
                    Some(_) => {
                        return Err(self
                            .unexpected("was expecting a colon to separate field name and value"));
                    }
                }
                self.skip_ws();
                if self.peek().is_none() {
                    return Err(self.err(
                        "Unexpected end-of-input within/between Object entries",
                        self.pos,
                    ));
                }
                let value = self.value_start()?;
                self.pending = Some(value);
                Ok(Some(Token::FieldName(name.unwrap_or(Cow::Borrowed("")))))
            }
        }
    }

    fn push(&mut self, kind: Kind, start: usize) -> Result<(), SyntaxError> {
        if self.stack.len() >= self.max_depth {
            return Err(self.err(
                format!(
                    "Document nesting depth ({}) exceeds the maximum allowed ({}, from `StreamReadConstraints.getMaxNestingDepth()`)",
                    self.stack.len() + 1,
                    self.max_depth
                ),
                self.pos,
            ));
        }
        self.stack.push(Frame {
            kind,
            start,
            has_items: false,
        });
        Ok(())
    }

    /// Reads the start of a value at `pos` (whitespace already skipped).
    fn value_start(&mut self) -> Result<Token<'a>, SyntaxError> {
        let Some(c) = self.peek() else {
            return Err(self.err("Unexpected end-of-input: expected a value", self.pos));
        };
        let start = self.pos;
        let token = match c {
            b'{' => {
                self.pos += 1;
                self.push(Kind::Object, start)?;
                Token::StartObject
            }
            b'[' => {
                self.pos += 1;
                self.push(Kind::Array, start)?;
                Token::StartArray
            }
            b'"' => {
                self.pos += 1;
                self.unread_string = Some(self.pos);
                Token::String
            }
            b'-' | b'0'..=b'9' => Token::Number(self.number()?),
            b'+' => {
                self.pos += 1;
                return Err(self.err(
                    "Unexpected character ('+' (code 43)) in numeric value: JSON spec does not allow numbers to have plus signs: enable `JsonReadFeature.ALLOW_LEADING_PLUS_SIGN_FOR_NUMBERS` to allow",
                    self.pos,
                ));
            }
            b't' | b'f' | b'n' | b'N' | b'I' | b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'$' => {
                self.literal()?
            }
            _ => return Err(self.unexpected(VALID_VALUE)),
        };
        self.loc = self.pos;
        Ok(token)
    }

    /// `true`, `false` or `null`; anything else that starts like a word is an unknown token.
    fn literal(&mut self) -> Result<Token<'a>, SyntaxError> {
        let start = self.pos;
        let mut end = start;
        while end < self.bytes.len() {
            let c = self.char_at(end);
            if c.is_alphanumeric() || c == '_' || c == '$' {
                end += c.len_utf8();
            } else {
                break;
            }
        }
        let word = &self.src[start..end];
        self.pos = end;
        match word {
            "true" => Ok(Token::True),
            "false" => Ok(Token::False),
            "null" => Ok(Token::Null),
            "NaN" | "Infinity" => Err(self.err(
                format!(
                    "Non-standard token '{word}': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow"
                ),
                self.pos,
            )),
            _ => Err(self.err(
                format!(
                    "Unrecognized token '{word}': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
                ),
                self.pos,
            )),
        }
    }

    fn number_error(&mut self, what: &str) -> SyntaxError {
        match self.peek() {
            None => self.err(
                format!("Unexpected end-of-input in a Number value: {what}"),
                self.pos,
            ),
            Some(_) => {
                let c = self.char_at(self.pos);
                self.pos += c.len_utf8();
                self.err(
                    format!(
                        "Unexpected character ({}) in numeric value: {what}",
                        char_desc(c)
                    ),
                    self.pos,
                )
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<&'a str, SyntaxError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.number_error(
                    "expected digit (0-9) to follow minus sign, for valid numeric value",
                ));
            }
        }
        if self.peek() == Some(b'0') {
            self.pos += 1;
            if matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err(
                    "Invalid numeric value: Leading zeroes not allowed",
                    self.pos,
                ));
            }
        } else {
            self.digits();
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.number_error("Decimal point not followed by a digit"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.number_error("Exponent indicator not followed by a digit"));
            }
        }
        Ok(&self.src[start..self.pos])
    }

    /// Scans a string body starting at `start` (just after the opening quote); `want` decodes it.
    fn scan_string(
        &mut self,
        start: usize,
        want: bool,
    ) -> Result<Option<Cow<'a, str>>, SyntaxError> {
        let bytes = self.bytes;
        let mut pos = plain_run_end(bytes, start);
        // Fast path: no escapes.
        while let Some(&b) = bytes.get(pos) {
            match b {
                b'"' => {
                    self.pos = pos + 1;
                    self.loc = self.pos;
                    return Ok(want.then(|| Cow::Borrowed(&self.src[start..pos])));
                }
                b'\\' => break,
                0..=0x1f => {
                    self.pos = pos + 1;
                    return Err(self.control_char(b));
                }
                _ => pos += 1,
            }
        }
        let mut out = String::new();
        if want {
            out.push_str(&self.src[start..pos]);
        }
        loop {
            let Some(&b) = bytes.get(pos) else {
                self.pos = pos;
                return Err(self.err(
                    "Unexpected end-of-input: was expecting closing quote for a string value",
                    pos,
                ));
            };
            match b {
                b'"' => {
                    self.pos = pos + 1;
                    self.loc = self.pos;
                    return Ok(want.then_some(Cow::Owned(out)));
                }
                b'\\' => {
                    pos += 1;
                    let Some(&e) = bytes.get(pos) else {
                        self.pos = pos;
                        return Err(
                            self.err("Unexpected end-of-input in character escape sequence", pos)
                        );
                    };
                    pos += 1;
                    let decoded = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            self.pos = pos;
                            let unit = self.hex4()?;
                            pos = self.pos;
                            if (0xD800..0xDC00).contains(&unit)
                                && bytes.get(pos) == Some(&b'\\')
                                && bytes.get(pos + 1) == Some(&b'u')
                            {
                                self.pos = pos + 2;
                                let low = self.hex4()?;
                                if (0xDC00..0xE000).contains(&low) {
                                    pos = self.pos;
                                    let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                                    char::from_u32(c).unwrap_or('\u{fffd}')
                                } else {
                                    // A high surrogate alone: keep the following escape for the
                                    // next turn of the loop.
                                    '\u{fffd}'
                                }
                            } else {
                                char::from_u32(unit).unwrap_or('\u{fffd}')
                            }
                        }
                        _ => {
                            self.pos = pos;
                            let c = self.char_at(pos - 1);
                            return Err(self.err(
                                format!("Unrecognized character escape {}", char_desc(c)),
                                pos - 1 + c.len_utf8(),
                            ));
                        }
                    };
                    if want {
                        out.push(decoded);
                    }
                }
                0..=0x1f => {
                    self.pos = pos + 1;
                    return Err(self.control_char(b));
                }
                _ => {
                    let run_start = pos;
                    while let Some(&c) = bytes.get(pos) {
                        if c == b'"' || c == b'\\' || c < 0x20 {
                            break;
                        }
                        pos += 1;
                    }
                    if want {
                        out.push_str(&self.src[run_start..pos]);
                    }
                }
            }
        }
    }

    fn control_char(&self, b: u8) -> SyntaxError {
        self.err(
            format!(
                "Illegal unquoted character ((CTRL-CHAR, code {b})): has to be escaped using backslash to be included in string value"
            ),
            self.pos,
        )
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut value = 0u32;
        for _ in 0..4 {
            let Some(b) = self.peek() else {
                return Err(self.err(
                    "Unexpected end-of-input in character escape sequence",
                    self.pos,
                ));
            };
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => {
                    return Err(
                        self.unexpected("expected a hex-digit for character escape sequence")
                    );
                }
            };
            self.pos += 1;
            value = value * 16 + u32::from(digit);
        }
        Ok(value)
    }

    /// The text of the string value just returned by [`Lexer::next_token`].
    pub(crate) fn string_text(&mut self) -> Result<Cow<'a, str>, SyntaxError> {
        match self.unread_string.take() {
            Some(start) => Ok(self.scan_string(start, true)?.unwrap_or(Cow::Borrowed(""))),
            None => Ok(Cow::Borrowed("")),
        }
    }

    /// Skips the value whose first token was just returned (a no-op for scalars other than an
    /// unread string, whose body is still checked).
    pub(crate) fn skip_value(&mut self, first: &Token<'a>) -> Result<(), SyntaxError> {
        match first {
            Token::StartObject | Token::StartArray => {
                if self.pending.is_none()
                    && let Some(end) = self.skip_plain_container(*first == Token::StartObject)
                {
                    self.pos = end;
                    self.loc = end;
                    self.stack.pop();
                    return Ok(());
                }
                let depth = self.stack.len();
                while self.stack.len() >= depth {
                    if self.next_token()?.is_none() {
                        break;
                    }
                }
                Ok(())
            }
            Token::String => self.string_text().map(|_| ()),
            _ => Ok(()),
        }
    }
}

impl Lexer<'_> {
    /// The end of the object or array just opened (`object`: which one), when everything up to
    /// its close marker is plain JSON: the common shapes of strings, escapes, numbers and
    /// literals, nesting well inside the limit. `None` for anything else (an error, or something
    /// merely unusual): the caller then skips token by token, which finds the same end or reports
    /// the error as Jackson words it. Nothing is decoded and no token is made, so skipping a
    /// subtree no rule names costs a pass over its bytes.
    fn skip_plain_container(&self, object: bool) -> Option<usize> {
        let b = self.bytes;
        let ws = |mut pos: usize| {
            while matches!(b.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                pos += 1;
            }
            pos
        };
        // Open containers, innermost in bit `depth - 1` (1: object); at most 64 here.
        let mut objects = u64::from(object);
        let mut depth = 1usize;
        let mut pos = self.pos;
        let mut may_close = true;
        loop {
            // A value (after its field name in an object), or a close marker after an opening.
            pos = ws(pos);
            let in_object = objects >> (depth - 1) & 1 == 1;
            let mut c = *b.get(pos)?;
            let close = if in_object { b'}' } else { b']' };
            if may_close && c == close {
                pos += 1;
                depth -= 1;
                if depth == 0 {
                    return Some(pos);
                }
            } else {
                if in_object {
                    if c != b'"' {
                        return None;
                    }
                    pos = ws(plain_string_end(b, pos + 1)?);
                    if b.get(pos) != Some(&b':') {
                        return None;
                    }
                    pos = ws(pos + 1);
                    c = *b.get(pos)?;
                }
                match c {
                    b'{' | b'[' => {
                        if depth >= 64 || self.stack.len() + depth >= self.max_depth {
                            return None;
                        }
                        objects = objects & !(1 << depth) | u64::from(c == b'{') << depth;
                        depth += 1;
                        pos += 1;
                        may_close = true;
                        continue;
                    }
                    b'"' => pos = plain_string_end(b, pos + 1)?,
                    b'-' | b'0'..=b'9' => pos = plain_number_end(b, pos)?,
                    b't' if b.get(pos..pos + 4) == Some(b"true") => pos += 4,
                    b'f' if b.get(pos..pos + 5) == Some(b"false") => pos += 5,
                    b'n' if b.get(pos..pos + 4) == Some(b"null") => pos += 4,
                    _ => return None,
                }
            }
            // After a value: a comma, or close markers.
            loop {
                pos = ws(pos);
                let c = *b.get(pos)?;
                if c == b',' {
                    pos += 1;
                    may_close = false;
                    break;
                }
                let close = if objects >> (depth - 1) & 1 == 1 {
                    b'}'
                } else {
                    b']'
                };
                if c != close {
                    return None;
                }
                pos += 1;
                depth -= 1;
                if depth == 0 {
                    return Some(pos);
                }
            }
        }
    }
}

/// Where the run of bytes from `pos` that need no attention in a string ends: at the first `"`,
/// `\\` or control character (or the end), found eight bytes at a time.
fn plain_run_end(b: &[u8], mut pos: usize) -> usize {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(pos..pos + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        // Zero bytes of `w ^ "…"` are quotes (the has-zero-byte test: its lowest flag is exact);
        // bytes under 0x20 are flagged by subtracting 0x20 from each.
        let quote = w ^ (LOW * u64::from(b'"'));
        let backslash = w ^ (LOW * u64::from(b'\\'));
        let flags = (quote.wrapping_sub(LOW) & !quote
            | backslash.wrapping_sub(LOW) & !backslash
            | w.wrapping_sub(LOW * 0x20) & !w)
            & HIGH;
        if flags != 0 {
            return pos + (flags.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    pos
}

/// The end (after the closing quote) of a string whose body starts at `pos`, when it has only
/// plain bytes and the short escapes (`\\uXXXX` included); `None` otherwise.
fn plain_string_end(b: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        pos = plain_run_end(b, pos);
        match *b.get(pos)? {
            b'"' => return Some(pos + 1),
            b'\\' => match *b.get(pos + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => pos += 2,
                b'u' if b.get(pos + 2..pos + 6)?.iter().all(u8::is_ascii_hexdigit) => pos += 6,
                _ => return None,
            },
            0..=0x1f => return None,
            _ => pos += 1,
        }
    }
}

/// The end of a number starting at `pos` written as JSON's grammar has it; `None` otherwise.
fn plain_number_end(b: &[u8], mut pos: usize) -> Option<usize> {
    let digits = |mut pos: usize| {
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        (pos, pos - start)
    };
    if b.get(pos) == Some(&b'-') {
        pos += 1;
    }
    let (end, n) = digits(pos);
    if n == 0 || (n > 1 && b[pos] == b'0') {
        return None;
    }
    pos = end;
    if b.get(pos) == Some(&b'.') {
        let (end, n) = digits(pos + 1);
        if n == 0 {
            return None;
        }
        pos = end;
    }
    if matches!(b.get(pos), Some(b'e' | b'E')) {
        pos += 1;
        if matches!(b.get(pos), Some(b'+' | b'-')) {
            pos += 1;
        }
        let (end, n) = digits(pos);
        if n == 0 {
            return None;
        }
        pos = end;
    }
    Some(pos)
}

/// Jackson's description of a character in messages: `'x' (code 120)`.
pub(crate) fn char_desc(c: char) -> String {
    let code = c as u32;
    if c.is_control() {
        format!("(CTRL-CHAR, code {code})")
    } else if code > 255 {
        format!("'{c}' (code {code} / 0x{code:x})")
    } else {
        format!("'{c}' (code {code})")
    }
}

/// Jackson's description of a location in a string source:
/// `[Source: (String)"…"; line: 1, column: 7]`, the source cut after 500 characters.
pub(crate) fn describe_location(src: &str, offset: usize) -> String {
    const SNIPPET: usize = 500;
    let (line, column) = line_and_column(src, offset);
    let mut out = String::from("[Source: (String)\"");
    let units: usize = src.chars().map(char::len_utf16).sum();
    if units <= SNIPPET {
        out.push_str(src);
        out.push('"');
    } else {
        let mut taken = 0;
        for c in src.chars() {
            if taken + c.len_utf16() > SNIPPET {
                break;
            }
            taken += c.len_utf16();
            out.push(c);
        }
        let _ = write!(out, "\"[truncated {} chars]", units - taken);
    }
    let _ = write!(out, "; line: {line}, column: {column}]");
    out
}

/// 1-based line and column (in UTF-16 units) of a byte offset, as Jackson counts them: `\r`,
/// `\n` and `\r\n` end lines between tokens; inside a string they are just characters (Jackson
/// refuses them there before it counts them).
pub(crate) fn line_and_column(src: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = src.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if i >= offset {
            break;
        }
        if in_string {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => escaped = false,
            }
            column += c.len_utf16();
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                column += 1;
            }
            '\n' => {
                line += 1;
                column = 1;
            }
            '\r' => {
                if let Some(&(j, '\n')) = chars.peek()
                    && j < offset
                {
                    chars.next();
                }
                line += 1;
                column = 1;
            }
            _ => column += c.len_utf16(),
        }
    }
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(src: &str) -> Result<Vec<(Token<'_>, usize)>, SyntaxError> {
        let mut lexer = Lexer::new(src, 100);
        let mut out = Vec::new();
        while let Some(t) = lexer.next_token()? {
            if t == Token::String {
                lexer.string_text()?;
            }
            out.push((t, lexer.location()));
        }
        Ok(out)
    }

    /// Skips the container opened by `text`'s first token token by token (the way the fast skip
    /// falls back to): its end, or the error.
    fn slow_skip(text: &str, max_depth: usize) -> Result<usize, SyntaxError> {
        let mut lexer = Lexer::new(text, max_depth);
        lexer.next_token()?;
        while !lexer.stack.is_empty() {
            if lexer.next_token()?.is_none() {
                break;
            }
        }
        Ok(lexer.pos)
    }

    #[test]
    fn plain_skip_ends_where_tokens_end_or_leaves_it_to_them() {
        let samples = [
            r#"{}"#,
            r#"[]"#,
            r#"{"a":1,"b":[true,false,null,{"c":"d"}],"e":{}}"#,
            r#"[ 1 , -2.5e+10 , 0 , -0.0 , 3E7 , "x\"\\\/\b\f\n\r\t\u00e9y" ]"#,
            "{\n\t\"k\" :\r\n [ ] }",
            r#"{"é":"ünïcode ✓","long":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"bbbbbbbbbbbbbbbb"}"#,
            r#"[[[[[[[[]]]]]]]]"#,
            r#"{"a":1} trailing"#,
            // Errors and unusual shapes: the token walk decides.
            r#"[01]"#,
            r#"[1.]"#,
            r#"[-]"#,
            r#"[1e]"#,
            r#"[tru]"#,
            r#"[truex]"#,
            r#"[NaN]"#,
            r#"["\u12G4"]"#,
            r#"["\x"]"#,
            "[\"a\u{1}b\"]",
            r#"[1,]"#,
            r#"{,}"#,
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            r#"{"a":1]"#,
            r#"[1}"#,
            r#"[1 2]"#,
            r#"{"a":"#,
            r#"["abc"#,
            r#"[1"#,
            r#"{"a":[1,{"b":2}}"#,
            r#"[+1]"#,
            r#"[.5]"#,
            r#"{'a':1}"#,
        ];
        for text in samples {
            for max_depth in [3, 100] {
                let mut lexer = Lexer::new(text, max_depth);
                let first = lexer.next_token().unwrap().unwrap();
                let fast = lexer.skip_plain_container(first == Token::StartObject);
                let slow = slow_skip(text, max_depth);
                if let Some(end) = fast {
                    assert_eq!(slow, Ok(end), "{text} (depth {max_depth})");
                }
                if slow.is_err() {
                    assert_eq!(fast, None, "{text} (depth {max_depth})");
                }
            }
        }
        // Plain JSON is skipped fast.
        let mut lexer = Lexer::new(samples[2], 100);
        lexer.next_token().unwrap();
        assert_eq!(lexer.skip_plain_container(true), Some(samples[2].len()));
    }

    #[test]
    fn plain_runs_stop_at_the_first_quote_backslash_or_control() {
        for len in 0..20 {
            for stop in [b'"', b'\\', 0x1f, 0] {
                let mut text = vec![b'a'; len];
                text.extend_from_slice(&[stop, b'"']);
                text.extend_from_slice(b"zzzzzzzzzz");
                assert_eq!(plain_run_end(&text, 0), len, "len {len} stop {stop}");
            }
            // Bytes just above the special ones are plain.
            let mut text: Vec<u8> = (0..len).map(|i| [b'#', b']', 0x20, 0xff][i % 4]).collect();
            text.extend_from_slice(b"\"zzzzzzzz");
            assert_eq!(plain_run_end(&text, 0), len);
            // Short of a word, the caller's byte loop reads the rest.
            assert_eq!(plain_run_end(&text[..len], 0), len - len % 8);
        }
    }

    #[test]
    fn reads_a_document_and_reports_jackson_locations() {
        let toks = tokens(r#"{"a": [1, "x\u00e9", true]}"#).unwrap();
        assert_eq!(toks[0], (Token::StartObject, 1));
        // The name reads ahead through the `[`.
        assert_eq!(toks[1], (Token::FieldName("a".into()), 7));
        assert_eq!(toks[2], (Token::StartArray, 7));
        assert_eq!(toks[3], (Token::Number("1"), 8));
        assert_eq!(toks.len(), 8);
    }

    #[test]
    fn syntax_errors_carry_jacksons_wording() {
        let e = tokens(r#"{"a":[1,]}"#).unwrap_err();
        assert!(
            e.message
                .starts_with("Unexpected character (']' (code 93)): expected a valid value")
        );
        assert_eq!(e.offset, 9);
        let e = tokens(r#"{a:1}"#).unwrap_err();
        assert_eq!(
            e.message,
            "Unexpected character ('a' (code 97)): was expecting double-quote to start field name"
        );
        let e = tokens(r#"{"a":[01]}"#).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid numeric value: Leading zeroes not allowed"
        );
        let e = tokens(r#"{"a":[1}"#).unwrap_err();
        assert!(e.message.starts_with("Unexpected close marker '}': expected ']' (for Array starting at [Source: (String)\"{\"a\":[1}\"; line: 1, column: 6])"), "{}", e.message);
        let e = tokens(r#"{"a":["x\qy"]}"#).unwrap_err();
        assert_eq!(e.message, "Unrecognized character escape 'q' (code 113)");
        let e = tokens("{\"a\":[\"x\ny\"]}").unwrap_err();
        assert!(
            e.message
                .starts_with("Illegal unquoted character ((CTRL-CHAR, code 10))")
        );
        let e = tokens(r#"{"a":[tru]}"#).unwrap_err();
        assert!(e.message.starts_with("Unrecognized token 'tru'"));
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        let deep = "[".repeat(10_000);
        let e = tokens(&deep).unwrap_err();
        assert!(e.message.contains("nesting depth"), "{}", e.message);
    }

    #[test]
    fn locations_count_utf16_units_and_crlf_once() {
        assert_eq!(line_and_column("{\"😀\":1}", "{\"😀\"".len()), (1, 6));
        assert_eq!(line_and_column("{\r\n\"a\"", 4), (2, 2));
        let long = format!("{{\"a\":\"{}\"}}", "x".repeat(600));
        let d = describe_location(&long, 3);
        assert!(
            d.ends_with("\"[truncated 108 chars]; line: 1, column: 4]"),
            "{d}"
        );
    }
}
