//! Compiling an event pattern: event-ruler's `JsonRuleCompiler`, refusal for refusal.
//!
//! The compiler walks the lexer's tokens in the same order as event-ruler does, so a refused
//! pattern gets the same reason at the same location. A pattern compiles to one or more
//! sub-rules (`$or` expands into their cross product); each sub-rule is a set of field paths,
//! each with its alternatives (any may match). When the `$or`-aware reading refuses a pattern
//! that has a `$or` key, the pattern is read once more with `$or` as a plain field name, as
//! event-ruler's `Machine.addRule` does (its legacy `RuleCompiler`); if that also fails, the first
//! reading's reason is reported.

use std::collections::BTreeMap;
use std::fmt;

use crate::ip::{self, IpRange};
use crate::json::{Lexer, SyntaxError, Token, describe_location};
use crate::number::{self, NumberKey};
use crate::text::{Unit, Wildcard, fold_units, reversed_units};

/// A pattern EventBridge would refuse: `InvalidEventPatternException`, with its wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEventPattern {
    reason: String,
    /// Where a parse refusal pointed (to repeat it when event-ruler re-raises the refusal).
    offset: Option<usize>,
}

impl InvalidEventPattern {
    /// The AWS error code.
    pub const CODE: &'static str = "InvalidEventPatternException";

    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            offset: None,
        }
    }

    fn at(message: &str, src: &str, offset: usize) -> Self {
        Self {
            reason: format!("{message}\n at {}", describe_location(src, offset)),
            offset: Some(offset),
        }
    }

    /// event-ruler catches a refusal inside an anything-but list and raises its message again,
    /// so the location appears twice.
    fn raised_again(self, src: &str) -> Self {
        match self.offset {
            Some(offset) => Self::at(&self.reason, src, offset),
            None => self,
        }
    }

    /// The AWS error code, `InvalidEventPatternException`.
    pub fn code(&self) -> &'static str {
        Self::CODE
    }

    /// event-ruler's reason, with Jackson's location when event-ruler gives one
    /// (`Empty arrays are not allowed\n at [Source: (String)"…"; line: 1, column: 8]`).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The message EventBridge returns: `Event pattern is not valid. Reason: …`.
    pub fn message(&self) -> String {
        format!("Event pattern is not valid. Reason: {}", self.reason)
    }
}

impl fmt::Display for InvalidEventPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for InvalidEventPattern {}

/// Bounds on a pattern, checked before and while it is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatternLimits {
    /// Length in characters (UTF-16 units). EventBridge's default quota is 2048, adjustable up to
    /// the API's maximum of 4096.
    pub max_chars: usize,
    /// Sub-rules after `$or` expansion.
    pub max_combinations: usize,
    /// Nesting of objects and arrays.
    pub max_depth: usize,
}

impl Default for PatternLimits {
    fn default() -> Self {
        Self {
            max_chars: 2048,
            max_combinations: 1000,
            // Far beyond any real pattern (4096 characters at most); the compiler recurses once
            // per level, so this also bounds its stack.
            max_depth: 256,
        }
    }
}

/// One way a value may match.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Matcher {
    /// A string equal to this one.
    Exact(String),
    /// A number, `true`, `false` or `null` written exactly like this.
    Literal(String),
    /// A number equal to this one (any spelling).
    NumericEq(NumberKey),
    /// A number in this range.
    Range {
        low: NumberKey,
        low_open: bool,
        high: NumberKey,
        high_open: bool,
    },
    /// A string that is an IP address in this range.
    Ip(IpRange),
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(Vec<Unit>),
    PrefixIgnoreCase(Vec<Unit>),
    /// Units already reversed, to match from the end.
    SuffixIgnoreCase(Vec<Unit>),
    Wildcard(Wildcard),
    AnythingBut(AnythingBut),
    /// Any value (the field is present as a leaf).
    Exists,
    /// No leaf at this path (consistent with the array elements chosen so far).
    Absent,
}

/// What an `anything-but` excludes; everything else (of any type) matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum AnythingBut {
    Strings(Vec<String>),
    Numbers(Vec<NumberKey>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    IgnoreCase(Vec<Vec<Unit>>),
    Wildcards(Vec<Wildcard>),
}

/// One conjunction of field conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubRule {
    /// Field paths (dot-joined) in event-ruler's order, each with its alternatives.
    pub fields: Vec<(String, Vec<Matcher>)>,
}

/// A compiled event pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    pub(crate) sub_rules: Vec<SubRule>,
}

impl Pattern {
    /// Compiles `text` with the default limits.
    pub fn compile(text: &str) -> Result<Self, InvalidEventPattern> {
        Self::compile_with(text, &PatternLimits::default())
    }

    /// Compiles `text` within `limits`.
    pub fn compile_with(text: &str, limits: &PatternLimits) -> Result<Self, InvalidEventPattern> {
        let chars: usize = text.chars().map(char::len_utf16).sum();
        if chars > limits.max_chars {
            return Err(InvalidEventPattern::new(format!(
                "Event pattern is {chars} characters long, over the limit of {} (EventBridge's quota; at most 4096)",
                limits.max_chars
            )));
        }
        match Compiler::run(text, limits, Mode::WithOr) {
            Ok(sub_rules) => Ok(Self::new(text, sub_rules)),
            Err(first) => {
                if text.contains("$or")
                    && let Ok(sub_rules) = Compiler::run(text, limits, Mode::Legacy)
                {
                    return Ok(Self::new(text, sub_rules));
                }
                Err(first)
            }
        }
    }

    fn new(text: &str, rules: Vec<BTreeMap<String, Vec<Matcher>>>) -> Self {
        let sub_rules = rules
            .into_iter()
            .map(|rule| {
                let mut fields: Vec<(String, Vec<Matcher>)> = rule.into_iter().collect();
                fields.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
                SubRule { fields }
            })
            .collect();
        Self {
            source: text.to_owned(),
            sub_rules,
        }
    }

    /// The pattern's text, as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The field paths the pattern reads (dot-joined, e.g. `detail.eventName`).
    pub fn fields(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .sub_rules
            .iter()
            .flat_map(|r| r.fields.iter().map(|(p, _)| p.as_str()))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl std::str::FromStr for Pattern {
    type Err = InvalidEventPattern;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::compile(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// event-ruler's `JsonRuleCompiler`: `$or` is the or-relationship.
    WithOr,
    /// event-ruler's `RuleCompiler`: `$or` is a field name; fewer anything-but forms.
    Legacy,
}

/// Field names event-ruler reserves inside `$or` objects (its `Constants`).
const RESERVED_IN_OR: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
];

type Rule = BTreeMap<String, Vec<Matcher>>;

const ONE_KEY: &str = "Only one key allowed in match expression";
const TOO_MANY: &str = "Too many elements in numeric expression";

struct Compiler<'a> {
    lx: Lexer<'a>,
    mode: Mode,
    max_combinations: usize,
}

impl<'a> Compiler<'a> {
    fn run(
        text: &'a str,
        limits: &PatternLimits,
        mode: Mode,
    ) -> Result<Vec<Rule>, InvalidEventPattern> {
        let mut c = Compiler {
            lx: Lexer::new(text, limits.max_depth),
            mode,
            max_combinations: limits.max_combinations,
        };
        let mut rules = Vec::new();
        if c.next()? != Some(Token::StartObject) {
            return Err(c.barf("Filter is not an object"));
        }
        let mut path = Vec::new();
        c.object(&mut rules, &mut path, false)?;
        Ok(rules)
    }

    fn barf(&self, message: &str) -> InvalidEventPattern {
        InvalidEventPattern::at(message, self.lx.source(), self.lx.location())
    }

    fn syntax(&self, e: SyntaxError) -> InvalidEventPattern {
        InvalidEventPattern::at(&e.message, self.lx.source(), e.offset)
    }

    fn next(&mut self) -> Result<Option<Token<'a>>, InvalidEventPattern> {
        self.lx.next_token().map_err(|e| self.syntax(e))
    }

    /// The next token, which must exist (the lexer refuses an early end inside a value).
    fn token(&mut self) -> Result<Token<'a>, InvalidEventPattern> {
        match self.next()? {
            Some(t) => Ok(t),
            None => Err(self.barf("Unexpected end-of-input")),
        }
    }

    fn text(&mut self) -> Result<String, InvalidEventPattern> {
        self.lx
            .string_text()
            .map(|c| c.into_owned())
            .map_err(|e| self.syntax(e))
    }

    /// Jackson's `getText()` of a token that is not a string value.
    fn token_text(t: &Token<'_>) -> String {
        match t {
            Token::StartObject => "{".into(),
            Token::EndObject => "}".into(),
            Token::StartArray => "[".into(),
            Token::EndArray => "]".into(),
            Token::FieldName(n) => n.to_string(),
            Token::String => String::new(),
            Token::Number(n) => (*n).to_string(),
            Token::True => "true".into(),
            Token::False => "false".into(),
            Token::Null => "null".into(),
        }
    }

    fn expect_end(&mut self, message: &str) -> Result<(), InvalidEventPattern> {
        if self.token()? != Token::EndObject {
            return Err(self.barf(message));
        }
        Ok(())
    }

    fn object(
        &mut self,
        rules: &mut Vec<Rule>,
        path: &mut Vec<String>,
        in_or: bool,
    ) -> Result<(), InvalidEventPattern> {
        let mut fields_present = false;
        loop {
            let name = match self.token()? {
                Token::EndObject => break,
                Token::FieldName(n) => n.into_owned(),
                other => {
                    return Err(
                        self.barf(&format!("Unexpected token {}", Self::token_text(&other)))
                    );
                }
            };
            fields_present = true;
            if self.mode == Mode::WithOr && name == "$or" {
                self.or(rules, path)?;
                continue;
            }
            if in_or && RESERVED_IN_OR.contains(&name.as_str()) {
                return Err(self.barf(&format!(
                    "{name} is Ruler reserved fieldName which cannot be used inside $or."
                )));
            }
            match self.token()? {
                Token::StartObject => {
                    path.push(name);
                    self.object(rules, path, in_or)?;
                    path.pop();
                }
                Token::StartArray => {
                    let mut full = path.join(".");
                    if !full.is_empty() {
                        full.push('.');
                    }
                    full.push_str(&name);
                    self.values(rules, full)?;
                }
                _ => return Err(self.barf(&format!("\"{name}\" must be an object or an array"))),
            }
        }
        if !fields_present {
            return Err(self.barf("Empty objects are not allowed"));
        }
        Ok(())
    }

    fn or(
        &mut self,
        rules: &mut Vec<Rule>,
        path: &mut Vec<String>,
    ) -> Result<(), InvalidEventPattern> {
        let current = std::mem::take(rules);
        if self.token()? != Token::StartArray {
            return Err(self.barf("It must be an Array followed with $or."));
        }
        let mut count = 0;
        loop {
            match self.token()? {
                Token::EndArray => break,
                Token::StartObject => {
                    count += 1;
                    let mut branch = current.clone();
                    if branch.is_empty() {
                        branch.push(Rule::new());
                    }
                    self.object(&mut branch, path, true)?;
                    rules.extend(branch);
                    if rules.len() > self.max_combinations {
                        return Err(self.barf(&format!(
                            "The $or expressions expand to more than {} combinations",
                            self.max_combinations
                        )));
                    }
                }
                _ => {
                    return Err(
                        self.barf("Only JSON object is allowed in array of $or relationship.")
                    );
                }
            }
        }
        if count < 2 {
            return Err(self.barf("There must have at least 2 Objects in $or relationship."));
        }
        Ok(())
    }

    fn values(&mut self, rules: &mut Vec<Rule>, name: String) -> Result<(), InvalidEventPattern> {
        let mut values = Vec::new();
        loop {
            match self.token()? {
                Token::EndArray => break,
                Token::StartObject => values.push(self.match_expression()?),
                Token::String => {
                    let text = self.text()?;
                    match ip::parse(&text) {
                        Some(addr) => values.push(Matcher::Ip(IpRange {
                            low: addr,
                            high: addr,
                        })),
                        None => values.push(Matcher::Exact(text)),
                    }
                }
                Token::Number(n) => {
                    if let Some(k) = number::comparable(n) {
                        values.push(Matcher::NumericEq(k));
                    }
                    values.push(Matcher::Literal(n.to_owned()));
                }
                Token::True => values.push(Matcher::Literal("true".into())),
                Token::False => values.push(Matcher::Literal("false".into())),
                Token::Null => values.push(Matcher::Literal("null".into())),
                _ => {
                    return Err(
                        self.barf("Match value must be String, number, true, false, or null")
                    );
                }
            }
        }
        if values.is_empty() {
            return Err(self.barf("Empty arrays are not allowed"));
        }
        if rules.is_empty() {
            rules.push(Rule::new());
        }
        for rule in rules.iter_mut() {
            rule.insert(name.clone(), values.clone());
        }
        Ok(())
    }

    fn string_or(&mut self, message: &str) -> Result<String, InvalidEventPattern> {
        if self.token()? != Token::String {
            return Err(self.barf(message));
        }
        self.text()
    }

    fn match_expression(&mut self) -> Result<Matcher, InvalidEventPattern> {
        let name = match self.token()? {
            Token::FieldName(n) => n.into_owned(),
            _ => return Err(self.barf("Match expression name not found")),
        };
        match name.as_str() {
            "exactly" => {
                let text = self.string_or("exact match pattern must be a string")?;
                self.expect_end(ONE_KEY)?;
                Ok(Matcher::Exact(text))
            }
            "prefix" | "suffix" => {
                let prefix = name == "prefix";
                match self.token()? {
                    Token::StartObject => self.affix_ignore_case(prefix),
                    Token::String => {
                        let text = self.text()?;
                        self.expect_end(ONE_KEY)?;
                        Ok(if prefix {
                            Matcher::Prefix(text)
                        } else {
                            Matcher::Suffix(text)
                        })
                    }
                    _ => Err(self.barf(if prefix {
                        "prefix match pattern must be a string"
                    } else {
                        "suffix match pattern must be a string"
                    })),
                }
            }
            "numeric" => {
                if self.token()? != Token::StartArray {
                    return Err(self.barf("Value of numeric must be an array."));
                }
                let m = self.numeric()?;
                self.expect_end(TOO_MANY)?;
                Ok(m)
            }
            "anything-but" => self.anything_but(),
            "exists" => {
                let m = match self.token()? {
                    Token::True => Matcher::Exists,
                    Token::False => Matcher::Absent,
                    _ => {
                        return Err(self.barf("exists match pattern must be either true or false."));
                    }
                };
                self.expect_end(ONE_KEY)?;
                Ok(m)
            }
            "cidr" => {
                let text = self.string_or("prefix match pattern must be a string")?;
                // event-ruler raises these outside its parser, so they carry no location.
                let range = ip::parse_cidr(&text).map_err(InvalidEventPattern::new)?;
                self.expect_end(ONE_KEY)?;
                Ok(Matcher::Ip(range))
            }
            "equals-ignore-case" => {
                let text = self.string_or("equals-ignore-case match pattern must be a string")?;
                self.expect_end(ONE_KEY)?;
                Ok(Matcher::EqualsIgnoreCase(fold_units(&text)))
            }
            "wildcard" => {
                let text = self.string_or("wildcard match pattern must be a string")?;
                let w = Wildcard::parse(&text).map_err(|m| self.barf(&m))?;
                self.expect_end(ONE_KEY)?;
                Ok(Matcher::Wildcard(w))
            }
            _ => Err(self.barf(&format!("Unrecognized match type {name}"))),
        }
    }

    /// `{"prefix": {"equals-ignore-case": "…"}}` (and suffix), after the inner `{`.
    fn affix_ignore_case(&mut self, prefix: bool) -> Result<Matcher, InvalidEventPattern> {
        let (kind, title) = if prefix {
            ("prefix", "Prefix")
        } else {
            ("suffix", "Suffix")
        };
        let name = match self.token()? {
            Token::FieldName(n) => n.into_owned(),
            _ => return Err(self.barf(&format!("{title} expression name not found"))),
        };
        if name != "equals-ignore-case" {
            return Err(self.barf(&format!("Unsupported {kind} pattern: {name}")));
        }
        let text = self.string_or("equals-ignore-case match pattern must be a string")?;
        self.expect_end(ONE_KEY)?;
        self.expect_end(ONE_KEY)?;
        let units = fold_units(&text);
        Ok(if prefix {
            Matcher::PrefixIgnoreCase(units)
        } else {
            Matcher::SuffixIgnoreCase(reversed_units(&units))
        })
    }

    fn numeric(&mut self) -> Result<Matcher, InvalidEventPattern> {
        let op = match self.token()? {
            Token::String => self.text()?,
            other => {
                return Err(self.barf(&format!(
                    "Invalid member in numeric match: {}",
                    Self::token_text(&other)
                )));
            }
        };
        let token = self.token()?;
        let Token::Number(value) = token else {
            let label = if op == "=" { "equals" } else { op.as_str() };
            return Err(match op.as_str() {
                "=" | ">=" | ">" | "<=" | "<" => {
                    self.barf(&format!("Value of {label} must be numeric"))
                }
                _ => self.barf(&format!("Unrecognized numeric range operator: {op}")),
            });
        };
        match op.as_str() {
            "=" => {
                if self.token()? != Token::EndArray {
                    return Err(self.barf(TOO_MANY));
                }
                Ok(Matcher::NumericEq(self.comparable(value)?))
            }
            ">=" | ">" => {
                let low_open = op == ">";
                match self.token()? {
                    Token::EndArray => Ok(Matcher::Range {
                        low: self.comparable(value)?,
                        low_open,
                        high: number::max_key(),
                        high_open: false,
                    }),
                    next => self.range_top(next, value, low_open),
                }
            }
            "<=" | "<" => {
                if self.token()? != Token::EndArray {
                    return Err(self.barf(TOO_MANY));
                }
                Ok(Matcher::Range {
                    low: number::min_key(),
                    low_open: false,
                    high: self.comparable(value)?,
                    high_open: op == "<",
                })
            }
            _ => Err(self.barf(&format!("Unrecognized numeric range operator: {op}"))),
        }
    }

    fn comparable(&self, text: &str) -> Result<NumberKey, InvalidEventPattern> {
        number::comparable(text)
            .ok_or_else(|| self.barf(&format!("Cannot compare number : {text}")))
    }

    fn range_top(
        &mut self,
        token: Token<'a>,
        bottom: &str,
        low_open: bool,
    ) -> Result<Matcher, InvalidEventPattern> {
        let op = match token {
            Token::String => self.text()?,
            other => {
                return Err(self.barf(&format!(
                    "Bad value in numeric range: {}",
                    Self::token_text(&other)
                )));
            }
        };
        let high_open = match op.as_str() {
            "<" => true,
            "<=" => false,
            _ => return Err(self.barf(&format!("Bad numeric range operator: {op}"))),
        };
        let Token::Number(top) = self.token()? else {
            return Err(self.barf(&format!("Value of {op} must be numeric")));
        };
        if self.token()? != Token::EndArray {
            return Err(self.barf("Too many terms in numeric range expression"));
        }
        let low = self.comparable(bottom)?;
        let high = self.comparable(top)?;
        if low >= high {
            return Err(self.barf("Bottom must be less than top"));
        }
        Ok(Matcher::Range {
            low,
            low_open,
            high,
            high_open,
        })
    }

    fn anything_but(&mut self) -> Result<Matcher, InvalidEventPattern> {
        #[derive(PartialEq, Clone, Copy)]
        enum Kind {
            Values,
            IgnoreCase,
            Prefix,
            Suffix,
            Wildcard,
        }
        let mut kind = Kind::Values;
        let mut token = self.token()?;
        if token == Token::StartObject {
            let name = match self.token()? {
                Token::FieldName(n) => n.into_owned(),
                _ => return Err(self.barf("Anything-But expression name not found")),
            };
            kind = match name.as_str() {
                "equals-ignore-case" => Kind::IgnoreCase,
                "prefix" => Kind::Prefix,
                "suffix" => Kind::Suffix,
                "wildcard" if self.mode == Mode::WithOr => Kind::Wildcard,
                _ => return Err(self.barf(&format!("Unsupported anything-but pattern: {name}"))),
            };
            token = self.token()?;
        }
        let legacy_single =
            self.mode == Mode::Legacy && matches!(kind, Kind::Prefix | Kind::Suffix);
        if !matches!(token, Token::StartArray | Token::String | Token::Number(_))
            || (legacy_single && token != Token::String)
        {
            if legacy_single {
                return Err(self.barf("prefix/suffix match pattern must be a string"));
            }
            return Err(
                self.barf("Value of anything-but must be an array or single string/number value.")
            );
        }
        let not_string = |kind: Kind| match kind {
            Kind::IgnoreCase => {
                "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
            }
            Kind::Wildcard => "wildcard match pattern must be a string",
            _ => "prefix/suffix match pattern must be a string",
        };
        let mut strings = Vec::new();
        let mut numbers = Vec::new();
        if token == Token::StartArray {
            loop {
                let src = self.lx.source();
                let again = |e: InvalidEventPattern| e.raised_again(src);
                match self.token().map_err(again)? {
                    Token::EndArray => break,
                    Token::String => {
                        let text = self.text().map_err(again)?;
                        if matches!(kind, Kind::Prefix | Kind::Suffix) && text.is_empty() {
                            return Err(again(self.barf("Null prefix/suffix not allowed")));
                        }
                        strings.push(text);
                    }
                    Token::Number(n) if kind == Kind::Values => {
                        numbers.push(self.comparable(n)?);
                    }
                    _ if kind == Kind::Values => {
                        return Err(again(self.barf(
                            "Inside anything but list, start|null|boolean is not supported.",
                        )));
                    }
                    _ => return Err(again(self.barf(not_string(kind)))),
                }
            }
            // event-ruler accepts `{"prefix": []}` and the like, then fails adding it to a
            // machine (NullPointerException): refuse it here, as an empty array.
            if kind != Kind::Values && strings.is_empty() {
                return Err(self.barf("Empty arrays are not allowed"));
            }
            if kind == Kind::Values && strings.is_empty() == numbers.is_empty() {
                return Err(self.barf(
                    "Inside anything but list, either all values are number or string, mixed type is not supported",
                ));
            }
        } else {
            match token {
                Token::String => {
                    let text = self.text()?;
                    if matches!(kind, Kind::Prefix | Kind::Suffix) && text.is_empty() {
                        return Err(self.barf("Null prefix/suffix not allowed"));
                    }
                    strings.push(text);
                }
                Token::Number(n) if kind == Kind::Values => {
                    // event-ruler raises this one outside its parser: no location.
                    let k = number::comparable(n).ok_or_else(|| {
                        InvalidEventPattern::new(format!("Cannot compare number : {n}"))
                    })?;
                    numbers.push(k);
                }
                _ => return Err(self.barf(not_string(kind))),
            }
        }
        let excluded = match kind {
            Kind::Values if numbers.is_empty() => AnythingBut::Strings(strings),
            Kind::Values => AnythingBut::Numbers(numbers),
            Kind::IgnoreCase => {
                AnythingBut::IgnoreCase(strings.iter().map(|s| fold_units(s)).collect())
            }
            Kind::Prefix => AnythingBut::Prefixes(strings),
            Kind::Suffix => AnythingBut::Suffixes(strings),
            Kind::Wildcard => {
                let mut w = Vec::with_capacity(strings.len());
                for s in &strings {
                    w.push(Wildcard::parse(s).map_err(|m| self.barf(&m))?);
                }
                AnythingBut::Wildcards(w)
            }
        };
        self.expect_end(TOO_MANY)?;
        if kind != Kind::Values {
            self.expect_end(TOO_MANY)?;
        }
        Ok(Matcher::AnythingBut(excluded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(p: &str) -> String {
        Pattern::compile(p).unwrap_err().reason().to_owned()
    }

    #[test]
    fn or_expands_into_sub_rules() {
        let p = Pattern::compile(
            r#"{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization"]},{"namespace":["AWS/EC2"],"$or":[{"a":[1]},{"b":[2]}]},{"scope":["Service"]}]}"#,
        )
        .unwrap();
        assert_eq!(p.sub_rules.len(), 4);
        assert!(
            p.sub_rules
                .iter()
                .all(|r| r.fields.iter().any(|(f, _)| f == "source"))
        );
    }

    #[test]
    fn refusals_carry_event_rulers_reason_and_jacksons_location() {
        assert_eq!(
            reason(r#"{"key": [{"wildcard": "abc**def"}]}"#),
            "Consecutive wildcard characters at pos 4\n at [Source: (String)\"{\"key\": [{\"wildcard\": \"abc**def\"}]}\"; line: 1, column: 33]"
        );
        assert_eq!(
            reason(r#"{"a":"xyz"}"#),
            "\"a\" must be an object or an array\n at [Source: (String)\"{\"a\":\"xyz\"}\"; line: 1, column: 7]"
        );
        assert_eq!(
            reason(r#"{"a":[{"numeric":[">",5,"<",5]}]}"#),
            "Bottom must be less than top\n at [Source: (String)\"{\"a\":[{\"numeric\":[\">\",5,\"<\",5]}]}\"; line: 1, column: 31]"
        );
        assert_eq!(
            reason(r#"{"a":[{"cidr":"10.0.0.0/32"}]}"#),
            "IPv4 mask bits must be < 32"
        );
        assert!(Pattern::compile("{}").unwrap_err().message().starts_with(
            "Event pattern is not valid. Reason: Empty objects are not allowed\n at [Source:"
        ));
    }

    #[test]
    fn empty_anything_but_lists_are_refused() {
        for kind in ["prefix", "suffix", "equals-ignore-case", "wildcard"] {
            let p = format!(r#"{{"a":[{{"anything-but":{{"{kind}":[]}}}}]}}"#);
            assert!(
                reason(&p).starts_with("Empty arrays are not allowed"),
                "{p}"
            );
        }
    }

    #[test]
    fn legacy_or_is_a_field_name() {
        let p =
            Pattern::compile(r#"{"source":["x"],"$or":{"metricType":["MetricType"]}}"#).unwrap();
        assert_eq!(p.fields(), vec!["$or.metricType", "source"]);
        // Both readings fail: the $or reading's reason is given.
        assert!(reason(r#"{"$or":[{"a":[1]}]}"#).starts_with("There must have at least 2 Objects"));
    }

    #[test]
    fn limits_are_enforced() {
        let long = format!(r#"{{"a":["{}"]}}"#, "x".repeat(3000));
        assert!(reason(&long).contains("over the limit of 2048"));
        let mut p = String::from("{");
        for i in 0..12 {
            p.push_str(&format!(r#""$or":[{{"a{i}":[1]}},{{"b{i}":[1]}}],"#));
            p.push_str(&format!(r#""n{i}":{{"#));
        }
        p.push_str(r#""z":[1]"#);
        p.push_str(&"}".repeat(13));
        assert!(
            reason(&p).contains("more than 1000 combinations"),
            "{}",
            reason(&p)
        );
    }
}
