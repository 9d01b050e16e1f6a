//! A recursive-descent parser for QLDB's PartiQL statements. Errors carry the byte offset of
//! the token where parsing stopped.

use veritrail_core::ion_rs::Element;

use super::SyntaxError;
use super::ast::*;
use super::lexer::{Tok, Token, lex};

/// Parses one statement (a trailing `;` is allowed).
pub fn parse(text: &str) -> Result<Statement, SyntaxError> {
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        at: 0,
        params: 0,
        end: text.len(),
    };
    let stmt = p.statement()?;
    p.eat_sym(";");
    if let Some(t) = p.peek() {
        return Err(SyntaxError::new(
            t.pos,
            "unexpected text after the end of the statement",
        ));
    }
    Ok(stmt)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    params: usize,
    end: usize,
}

const RESERVED: &[&str] = &[
    "select", "from", "where", "as", "at", "by", "and", "or", "not", "in", "is", "null", "missing",
    "between", "like", "inner", "join", "on", "value", "set", "insert", "into", "update", "delete",
    "remove", "create", "drop", "table", "index", "true", "false", "escape", "left", "cross",
];

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn pos(&self) -> usize {
        self.peek().map_or(self.end, |t| t.pos)
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError::new(self.pos(), msg))
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(kw))
    }

    fn is_kw_at(&self, offset: usize, kw: &str) -> bool {
        matches!(self.tokens.get(self.at + offset), Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SyntaxError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            self.err(format!("expected {}", kw.to_uppercase()))
        }
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Sym(x), .. }) if *x == s)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), SyntaxError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            self.err(format!("expected `{s}`"))
        }
    }

    /// An identifier: a non-reserved word or a quoted identifier.
    fn ident(&mut self) -> Result<String, SyntaxError> {
        match self.peek().map(|t| t.tok.clone()) {
            Some(Tok::Word(w)) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&w)) => {
                self.at += 1;
                Ok(w)
            }
            Some(Tok::Quoted(q)) => {
                self.at += 1;
                Ok(q)
            }
            _ => self.err("expected a name"),
        }
    }

    fn statement(&mut self) -> Result<Statement, SyntaxError> {
        if self.eat_kw("create") {
            if self.eat_kw("table") {
                return Ok(Statement::CreateTable {
                    name: self.ident()?,
                });
            }
            self.expect_kw("index")?;
            self.expect_kw("on")?;
            let table = self.ident()?;
            self.expect_sym("(")?;
            let field = self.ident()?;
            self.expect_sym(")")?;
            return Ok(Statement::CreateIndex { table, field });
        }
        if self.eat_kw("drop") {
            self.expect_kw("table")?;
            return Ok(Statement::DropTable {
                name: self.ident()?,
            });
        }
        if self.eat_kw("insert") {
            self.expect_kw("into")?;
            let table = self.ident()?;
            self.eat_kw("value");
            let value = self.expr()?;
            return Ok(Statement::Insert { table, value });
        }
        if self.is_kw("select") {
            return Ok(Statement::Select(self.select()?));
        }
        if self.eat_kw("update") {
            let source = self.source()?;
            let sets = self.set_list()?;
            let filter = self.where_clause()?;
            return Ok(Statement::Update {
                source,
                sets,
                filter,
            });
        }
        if self.eat_kw("delete") {
            self.expect_kw("from")?;
            let source = self.source()?;
            let filter = self.where_clause()?;
            return Ok(Statement::Delete { source, filter });
        }
        if self.eat_kw("from") {
            let source = self.source()?;
            let filter = self.where_clause()?;
            if self.eat_kw("insert") {
                self.expect_kw("into")?;
                let target = self.postfix()?;
                self.expect_kw("value")?;
                let value = self.expr()?;
                return Ok(Statement::FromInsert {
                    source,
                    filter,
                    target,
                    value,
                });
            }
            if self.is_kw("set") {
                let sets = self.set_list()?;
                return Ok(Statement::FromSet {
                    source,
                    filter,
                    sets,
                });
            }
            if self.eat_kw("remove") {
                let target = self.postfix()?;
                return Ok(Statement::FromRemove {
                    source,
                    filter,
                    target,
                });
            }
            return self.err("expected INSERT INTO, SET or REMOVE after FROM … WHERE …");
        }
        if self.is_kw("exec") {
            return self.err("EXEC (redact_revision) is not supported yet");
        }
        self.err("expected a statement: SELECT, INSERT, UPDATE, DELETE, FROM, CREATE or DROP")
    }

    fn set_list(&mut self) -> Result<Vec<(Expr, Expr)>, SyntaxError> {
        self.expect_kw("set")?;
        let mut sets = Vec::new();
        loop {
            let target = self.postfix()?;
            self.expect_sym("=")?;
            let value = self.expr()?;
            sets.push((target, value));
            if !self.eat_sym(",") {
                return Ok(sets);
            }
        }
    }

    fn where_clause(&mut self) -> Result<Option<Expr>, SyntaxError> {
        if self.eat_kw("where") {
            Ok(Some(self.expr()?))
        } else {
            Ok(None)
        }
    }

    fn select(&mut self) -> Result<Select, SyntaxError> {
        self.expect_kw("select")?;
        let projection = if self.eat_sym("*") {
            Projection::Star
        } else if self.eat_kw("value") {
            Projection::Value(self.expr()?)
        } else {
            let mut items = Vec::new();
            loop {
                // `alias.*`
                if matches!(
                    self.peek().map(|t| &t.tok),
                    Some(Tok::Word(_) | Tok::Quoted(_))
                ) && matches!(
                    self.tokens.get(self.at + 1).map(|t| &t.tok),
                    Some(Tok::Sym("."))
                ) && matches!(
                    self.tokens.get(self.at + 2).map(|t| &t.tok),
                    Some(Tok::Sym("*"))
                ) {
                    let name = self.ident()?;
                    self.at += 2;
                    items.push(ProjectItem::AllOf(name));
                } else {
                    let expr = self.expr()?;
                    let alias = if self.eat_kw("as") {
                        Some(self.ident()?)
                    } else {
                        None
                    };
                    items.push(ProjectItem::Expr { expr, alias });
                }
                if !self.eat_sym(",") {
                    break;
                }
            }
            Projection::Items(items)
        };
        self.expect_kw("from")?;
        let mut from = vec![Join {
            source: self.source()?,
            on: None,
        }];
        loop {
            if self.eat_sym(",") {
                from.push(Join {
                    source: self.source()?,
                    on: None,
                });
            } else if self.is_kw("inner") || self.is_kw("join") || self.is_kw("cross") {
                let inner = self.eat_kw("inner") || !self.eat_kw("cross");
                self.expect_kw("join")?;
                let source = self.source()?;
                let on = if inner {
                    self.expect_kw("on")?;
                    Some(self.expr()?)
                } else {
                    None
                };
                from.push(Join { source, on });
            } else {
                break;
            }
        }
        let filter = self.where_clause()?;
        Ok(Select {
            projection,
            from,
            filter,
        })
    }

    fn source(&mut self) -> Result<Source, SyntaxError> {
        let pos = self.pos();
        let name = self.ident()?;
        let kind = if name.eq_ignore_ascii_case("history") && self.eat_sym("(") {
            let table = match self.peek().map(|t| t.tok.clone()) {
                Some(Tok::Str(s)) => {
                    self.at += 1;
                    s
                }
                _ => self.ident()?,
            };
            let mut bounds = Vec::new();
            while self.eat_sym(",") {
                bounds.push(self.expr()?);
            }
            self.expect_sym(")")?;
            if bounds.len() > 2 {
                return Err(SyntaxError::new(
                    pos,
                    "history() takes a table and at most two times",
                ));
            }
            let mut b = bounds.into_iter();
            SourceKind::History {
                table,
                start: b.next(),
                end: b.next(),
            }
        } else if name.eq_ignore_ascii_case("information_schema") {
            self.expect_sym(".")?;
            let t = self.ident()?;
            if !t.eq_ignore_ascii_case("user_tables") {
                return Err(SyntaxError::new(
                    pos,
                    "only information_schema.user_tables exists",
                ));
            }
            SourceKind::UserTables
        } else if let Some(t) = name.strip_prefix("_ql_committed_") {
            SourceKind::Committed(t.to_owned())
        } else {
            SourceKind::Table(name)
        };
        let mut source = Source {
            kind,
            alias: None,
            at: None,
            by: None,
            pos,
        };
        if self.eat_kw("as") {
            source.alias = Some(self.ident()?);
        } else if let Some(Token {
            tok: Tok::Word(w), ..
        }) = self.peek()
        {
            if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(w)) {
                source.alias = Some(self.ident()?);
            }
        }
        if self.eat_kw("at") {
            source.at = Some(self.ident()?);
        }
        if self.eat_kw("by") {
            source.by = Some(self.ident()?);
        }
        Ok(source)
    }

    pub fn expr(&mut self) -> Result<Expr, SyntaxError> {
        self.or()
    }

    fn or(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.and()?;
        while self.eat_kw("or") {
            left = Expr::Bin(BinOp::Or, Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.not()?;
        while self.eat_kw("and") {
            left = Expr::Bin(BinOp::And, Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, SyntaxError> {
        if self.eat_kw("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, SyntaxError> {
        let left = self.additive()?;
        let op = match self.peek().map(|t| &t.tok) {
            Some(Tok::Sym("=")) => Some(BinOp::Eq),
            Some(Tok::Sym("<>" | "!=")) => Some(BinOp::Ne),
            Some(Tok::Sym("<")) => Some(BinOp::Lt),
            Some(Tok::Sym(">")) => Some(BinOp::Gt),
            Some(Tok::Sym("<=")) => Some(BinOp::Le),
            Some(Tok::Sym(">=")) => Some(BinOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.at += 1;
            return Ok(Expr::Bin(op, Box::new(left), Box::new(self.additive()?)));
        }
        if self.eat_kw("is") {
            let negated = self.eat_kw("not");
            if self.eat_kw("null") {
                return Ok(Expr::IsNull {
                    expr: Box::new(left),
                    negated,
                });
            }
            if self.eat_kw("missing") {
                return Ok(Expr::IsMissing {
                    expr: Box::new(left),
                    negated,
                });
            }
            return self.err("expected NULL or MISSING after IS");
        }
        let negated = if self.is_kw("not")
            && (self.is_kw_at(1, "in") || self.is_kw_at(1, "between") || self.is_kw_at(1, "like"))
        {
            self.at += 1;
            true
        } else {
            false
        };
        if self.eat_kw("in") {
            self.expect_sym("(")?;
            let mut list = vec![self.expr()?];
            while self.eat_sym(",") {
                list.push(self.expr()?);
            }
            self.expect_sym(")")?;
            return Ok(Expr::In {
                expr: Box::new(left),
                list,
                negated,
            });
        }
        if self.eat_kw("between") {
            let low = self.additive()?;
            self.expect_kw("and")?;
            let high = self.additive()?;
            return Ok(Expr::Between {
                expr: Box::new(left),
                low: Box::new(low),
                high: Box::new(high),
                negated,
            });
        }
        if self.eat_kw("like") {
            let pattern = self.additive()?;
            return Ok(Expr::Like {
                expr: Box::new(left),
                pattern: Box::new(pattern),
                negated,
            });
        }
        if negated {
            return self.err("expected IN, BETWEEN or LIKE after NOT");
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek().map(|t| &t.tok) {
                Some(Tok::Sym("+")) => BinOp::Add,
                Some(Tok::Sym("-")) => BinOp::Sub,
                Some(Tok::Sym("||")) => BinOp::Concat,
                _ => return Ok(left),
            };
            self.at += 1;
            left = Expr::Bin(op, Box::new(left), Box::new(self.multiplicative()?));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, SyntaxError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek().map(|t| &t.tok) {
                Some(Tok::Sym("*")) => BinOp::Mul,
                Some(Tok::Sym("/")) => BinOp::Div,
                Some(Tok::Sym("%")) => BinOp::Mod,
                _ => return Ok(left),
            };
            self.at += 1;
            left = Expr::Bin(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        if self.eat_sym("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, SyntaxError> {
        let base = self.primary()?;
        let mut steps = Vec::new();
        loop {
            if self.is_sym(".") {
                if matches!(
                    self.tokens.get(self.at + 1).map(|t| &t.tok),
                    Some(Tok::Sym("*"))
                ) {
                    self.at += 2;
                    steps.push(PathStep::Wildcard);
                    continue;
                }
                self.at += 1;
                let name = match self.peek().map(|t| t.tok.clone()) {
                    Some(Tok::Word(w)) => w,
                    Some(Tok::Quoted(q)) => q,
                    _ => return self.err("expected a field name after `.`"),
                };
                self.at += 1;
                steps.push(PathStep::Field(name));
            } else if self.eat_sym("[") {
                match self.peek().map(|t| t.tok.clone()) {
                    Some(Tok::Number(n)) => {
                        self.at += 1;
                        let i = n.parse::<i64>().map_err(|_| {
                            SyntaxError::new(self.pos(), "expected a whole-number index")
                        })?;
                        steps.push(PathStep::Index(i));
                    }
                    Some(Tok::Str(s)) => {
                        self.at += 1;
                        steps.push(PathStep::Field(s));
                    }
                    Some(Tok::Sym("*")) => {
                        self.at += 1;
                        steps.push(PathStep::Wildcard);
                    }
                    _ => return self.err("expected an index, a 'field' or * inside [ ]"),
                }
                self.expect_sym("]")?;
            } else {
                break;
            }
        }
        Ok(if steps.is_empty() {
            base
        } else {
            Expr::Path(Box::new(base), steps)
        })
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let Some(token) = self.peek().cloned() else {
            return self.err("expected an expression, found the end of the statement");
        };
        let pos = token.pos;
        match token.tok {
            Tok::Param => {
                self.at += 1;
                let index = self.params;
                self.params += 1;
                Ok(Expr::Param { index, pos })
            }
            Tok::Str(s) => {
                self.at += 1;
                Ok(Expr::Lit(Element::string(s)))
            }
            Tok::Number(n) => {
                self.at += 1;
                let e = Element::read_one(n.as_bytes())
                    .map_err(|_| SyntaxError::new(pos, format!("`{n}` is not a number")))?;
                Ok(Expr::Lit(e))
            }
            Tok::Ion(text) => {
                self.at += 1;
                let e = Element::read_one(text.as_bytes())
                    .map_err(|e| SyntaxError::new(pos, format!("invalid Ion literal: {e}")))?;
                Ok(Expr::Lit(e))
            }
            Tok::Quoted(q) => {
                self.at += 1;
                Ok(Expr::Var {
                    name: q,
                    quoted: true,
                    pos,
                })
            }
            Tok::Sym("(") => {
                self.at += 1;
                let e = self.expr()?;
                self.expect_sym(")")?;
                Ok(e)
            }
            Tok::Sym("{") => {
                self.at += 1;
                let mut fields = Vec::new();
                if !self.eat_sym("}") {
                    loop {
                        let key = self.expr()?;
                        self.expect_sym(":")?;
                        let value = self.expr()?;
                        fields.push((key, value));
                        if self.eat_sym("}") {
                            break;
                        }
                        self.expect_sym(",")?;
                    }
                }
                Ok(Expr::Struct(fields))
            }
            Tok::Sym("[") => {
                self.at += 1;
                Ok(Expr::List(self.items("]")?))
            }
            Tok::Sym("<<") => {
                self.at += 1;
                Ok(Expr::Bag(self.items(">>")?))
            }
            Tok::Word(w) => {
                let lower = w.to_ascii_lowercase();
                match lower.as_str() {
                    "null" => {
                        self.at += 1;
                        Ok(Expr::Lit(Element::null(
                            veritrail_core::ion_rs::IonType::Null,
                        )))
                    }
                    "missing" => {
                        self.at += 1;
                        Ok(Expr::Call {
                            name: "missing".into(),
                            args: vec![],
                            pos,
                        })
                    }
                    "true" | "false" => {
                        self.at += 1;
                        Ok(Expr::Lit(Element::from(lower == "true")))
                    }
                    _ if matches!(
                        self.tokens.get(self.at + 1).map(|t| &t.tok),
                        Some(Tok::Sym("("))
                    ) =>
                    {
                        self.at += 2;
                        if lower == "count" && self.eat_sym("*") {
                            self.expect_sym(")")?;
                            return Ok(Expr::CountStar);
                        }
                        let args = if self.eat_sym(")") {
                            Vec::new()
                        } else {
                            let mut args = vec![self.expr()?];
                            while self.eat_sym(",") {
                                args.push(self.expr()?);
                            }
                            self.expect_sym(")")?;
                            args
                        };
                        Ok(Expr::Call {
                            name: lower,
                            args,
                            pos,
                        })
                    }
                    _ if RESERVED.contains(&lower.as_str()) => {
                        self.err(format!("unexpected keyword {}", w.to_uppercase()))
                    }
                    _ => {
                        self.at += 1;
                        Ok(Expr::Var {
                            name: w,
                            quoted: false,
                            pos,
                        })
                    }
                }
            }
            Tok::Sym(s) => self.err(format!("unexpected `{s}`")),
        }
    }

    fn items(&mut self, close: &str) -> Result<Vec<Expr>, SyntaxError> {
        let mut items = Vec::new();
        if self.eat_sym(close) {
            return Ok(items);
        }
        loop {
            items.push(self.expr()?);
            if self.eat_sym(close) {
                return Ok(items);
            }
            self.expect_sym(",")?;
        }
    }
}
