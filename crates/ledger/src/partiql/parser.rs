//! A recursive-descent parser for QLDB's PartiQL statements. Errors carry the byte offset of
//! the token where parsing stopped.
//!
//! Hostile statements are bounded before anything recursive runs over them: the text is at
//! most [`MAX_STATEMENT_CHARS`] characters, expressions nest at most [`MAX_EXPRESSION_DEPTH`]
//! levels (counted both while parsing and in the finished tree, so a long left-leaning chain
//! such as `a OR a OR …` counts too), lists hold at most [`MAX_LIST_ITEMS`] items, paths at
//! most [`MAX_PATH_STEPS`] steps, and Ion literals are measured before `ion-rs` reads them.

use veritrail_core::ion_rs::Element;

use super::SyntaxError;
use super::ast::*;
use super::lexer::{Tok, Token, lex};
use crate::limits::{
    ION_LITERAL, MAX_EXPRESSION_DEPTH, MAX_LIST_ITEMS, MAX_PATH_STEPS, MAX_STATEMENT_CHARS,
};
use veritrail_core::ion_input::{self, IonInputError};

/// Parses one statement (a trailing `;` is allowed).
pub fn parse(text: &str) -> Result<Statement, SyntaxError> {
    if let Some((position, _)) = text.char_indices().nth(MAX_STATEMENT_CHARS) {
        return Err(SyntaxError::new(
            position,
            format!("the statement is longer than {MAX_STATEMENT_CHARS} characters"),
        ));
    }
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        at: 0,
        params: 0,
        end: text.len(),
        nesting: 0,
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
    /// Expressions being parsed inside one another right now.
    nesting: usize,
}

/// An expression and the depth of its tree (a leaf is 1).
struct Node {
    expr: Expr,
    depth: usize,
}

fn too_deep(position: usize) -> SyntaxError {
    SyntaxError::new(
        position,
        format!("the expression nests deeper than {MAX_EXPRESSION_DEPTH} levels"),
    )
}

/// A node over `children`, refused when the tree grows deeper than the limit.
fn node(
    position: usize,
    expr: Expr,
    children: impl IntoIterator<Item = usize>,
) -> Result<Node, SyntaxError> {
    let depth = children.into_iter().max().unwrap_or(0) + 1;
    if depth > MAX_EXPRESSION_DEPTH {
        return Err(too_deep(position));
    }
    Ok(Node { expr, depth })
}

fn too_many(position: usize) -> SyntaxError {
    SyntaxError::new(
        position,
        format!("a list, struct or argument list holds at most {MAX_LIST_ITEMS} items"),
    )
}

/// `left op right`, with the position of the operator.
fn bin(position: usize, op: BinOp, left: Node, right: Node) -> Result<Node, SyntaxError> {
    let depths = [left.depth, right.depth];
    node(
        position,
        Expr::Bin(op, Box::new(left.expr), Box::new(right.expr)),
        depths,
    )
}

/// `a op b op c …` as a balanced tree (for an associative `op`), operands kept in order.
fn balanced(position: usize, op: BinOp, mut operands: Vec<Node>) -> Result<Node, SyntaxError> {
    if operands.len() <= 1 {
        return operands
            .pop()
            .ok_or_else(|| SyntaxError::new(position, "an operator without operands"));
    }
    let right = operands.split_off(operands.len() / 2);
    let left = balanced(position, op, operands)?;
    let right = balanced(position, op, right)?;
    bin(position, op, left, right)
}

/// How tightly operators bind, loosest first.
const NOT_BP: u8 = 3;
const COMPARISON_BP: u8 = 4;
const NEG_BP: u8 = 7;

/// An operator after an operand.
#[derive(Debug, Clone, Copy)]
enum Infix {
    Bin(BinOp),
    Is,
    In,
    Between,
    Like,
}

impl Infix {
    fn binding_power(self) -> u8 {
        match self {
            Self::Bin(BinOp::Or) => 1,
            Self::Bin(BinOp::And) => 2,
            Self::Bin(BinOp::Add | BinOp::Sub | BinOp::Concat) => 5,
            Self::Bin(BinOp::Mul | BinOp::Div | BinOp::Mod) => 6,
            Self::Bin(_) | Self::Is | Self::In | Self::Between | Self::Like => COMPARISON_BP,
        }
    }
}

fn leaf(expr: Expr) -> Node {
    Node { expr, depth: 1 }
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
                let pos = self.pos();
                return Ok(Statement::CreateTable {
                    name: self.ident()?,
                    pos,
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

    /// An expression, as statements hold them.
    pub fn expr(&mut self) -> Result<Expr, SyntaxError> {
        Ok(self.nested()?.expr)
    }

    /// An expression: operators by precedence climbing, so one level of nesting costs the
    /// parser's stack a few frames whatever the operator. Its recursion is bounded here.
    fn nested(&mut self) -> Result<Node, SyntaxError> {
        self.expr_bp(0)
    }

    /// An expression whose operators bind at least as tightly as `min_bp`.
    fn expr_bp(&mut self, min_bp: u8) -> Result<Node, SyntaxError> {
        if self.nesting >= MAX_EXPRESSION_DEPTH {
            return Err(too_deep(self.pos()));
        }
        self.nesting += 1;
        let result = self.operators(min_bp);
        self.nesting -= 1;
        result
    }

    fn operators(&mut self, min_bp: u8) -> Result<Node, SyntaxError> {
        let mut left = self.prefix(min_bp)?;
        // Comparisons do not chain: `a = b = c` is an error, as in SQL.
        let mut compared = false;
        while let Some((op, negated)) = self.infix() {
            let bp = op.binding_power();
            if bp < min_bp || (bp == COMPARISON_BP && compared) {
                break;
            }
            compared |= bp == COMPARISON_BP;
            left = self.infix_tail(left, op, negated)?;
        }
        if self.is_kw("not") && min_bp <= COMPARISON_BP && !compared {
            return self.err("expected IN, BETWEEN or LIKE after NOT");
        }
        Ok(left)
    }

    /// An operand, with the prefix operators before it.
    #[inline(never)]
    fn prefix(&mut self, min_bp: u8) -> Result<Node, SyntaxError> {
        let position = self.pos();
        // NOT applies to a whole comparison (`NOT a = 1`), so only where one may start.
        let (inner, make): (_, fn(Box<Expr>) -> Expr) = if min_bp <= NOT_BP && self.eat_kw("not") {
            (self.expr_bp(NOT_BP)?, Expr::Not)
        } else if self.eat_sym("-") {
            (self.expr_bp(NEG_BP)?, Expr::Neg)
        } else if self.eat_sym("(") {
            // Handled here rather than in `primary`, to keep the frames that each level of
            // parentheses puts on the stack few and small.
            let inner = self.nested()?;
            self.expect_sym(")")?;
            return self.path_steps(position, inner);
        } else {
            return self.postfix_node();
        };
        let depth = inner.depth;
        node(position, make(Box::new(inner.expr)), [depth])
    }

    /// What follows `left` from the operator at the current token on.
    #[inline(never)]
    fn infix_tail(&mut self, left: Node, op: Infix, negated: bool) -> Result<Node, SyntaxError> {
        let position = self.pos();
        self.at += if negated { 2 } else { 1 };
        let bp = op.binding_power();
        Ok(match op {
            Infix::Bin(op @ (BinOp::And | BinOp::Or)) => {
                // AND and OR are associative: a chain becomes a balanced tree, so a long
                // list of alternatives stays shallow.
                let mut operands = vec![left, self.expr_bp(bp + 1)?];
                while matches!(self.infix(), Some((Infix::Bin(next), false)) if next == op) {
                    self.at += 1;
                    operands.push(self.expr_bp(bp + 1)?);
                }
                balanced(position, op, operands)?
            }
            Infix::Bin(op) => {
                let right = self.expr_bp(bp + 1)?;
                bin(position, op, left, right)?
            }
            Infix::Is => {
                let negated = self.eat_kw("not");
                let depth = left.depth;
                let expr = Box::new(left.expr);
                if self.eat_kw("null") {
                    node(position, Expr::IsNull { expr, negated }, [depth])?
                } else if self.eat_kw("missing") {
                    node(position, Expr::IsMissing { expr, negated }, [depth])?
                } else {
                    return self.err("expected NULL or MISSING after IS");
                }
            }
            Infix::In => {
                self.expect_sym("(")?;
                let items = self.items(")")?;
                if items.is_empty() {
                    return Err(SyntaxError::new(position, "IN needs at least one value"));
                }
                let mut depths = vec![left.depth];
                depths.extend(items.iter().map(|n| n.depth));
                let expr = Expr::In {
                    expr: Box::new(left.expr),
                    list: items.into_iter().map(|n| n.expr).collect(),
                    negated,
                };
                node(position, expr, depths)?
            }
            Infix::Between => {
                let low = self.expr_bp(COMPARISON_BP + 1)?;
                self.expect_kw("and")?;
                let high = self.expr_bp(COMPARISON_BP + 1)?;
                let depths = [left.depth, low.depth, high.depth];
                let expr = Expr::Between {
                    expr: Box::new(left.expr),
                    low: Box::new(low.expr),
                    high: Box::new(high.expr),
                    negated,
                };
                node(position, expr, depths)?
            }
            Infix::Like => {
                let pattern = self.expr_bp(COMPARISON_BP + 1)?;
                let depths = [left.depth, pattern.depth];
                let expr = Expr::Like {
                    expr: Box::new(left.expr),
                    pattern: Box::new(pattern.expr),
                    negated,
                };
                node(position, expr, depths)?
            }
        })
    }

    /// The operator at the current token, if any, and whether it is negated (`NOT IN`).
    fn infix(&self) -> Option<(Infix, bool)> {
        let word = |offset: usize| match self.tokens.get(self.at + offset).map(|t| &t.tok) {
            Some(Tok::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        };
        let special = |w: &str| match w {
            "in" => Some(Infix::In),
            "between" => Some(Infix::Between),
            "like" => Some(Infix::Like),
            _ => None,
        };
        let bin = |op| Some((Infix::Bin(op), false));
        match &self.peek()?.tok {
            Tok::Sym("=") => bin(BinOp::Eq),
            Tok::Sym("<>" | "!=") => bin(BinOp::Ne),
            Tok::Sym("<") => bin(BinOp::Lt),
            Tok::Sym(">") => bin(BinOp::Gt),
            Tok::Sym("<=") => bin(BinOp::Le),
            Tok::Sym(">=") => bin(BinOp::Ge),
            Tok::Sym("+") => bin(BinOp::Add),
            Tok::Sym("-") => bin(BinOp::Sub),
            Tok::Sym("||") => bin(BinOp::Concat),
            Tok::Sym("*") => bin(BinOp::Mul),
            Tok::Sym("/") => bin(BinOp::Div),
            Tok::Sym("%") => bin(BinOp::Mod),
            Tok::Word(_) => match word(0)?.as_str() {
                "or" => bin(BinOp::Or),
                "and" => bin(BinOp::And),
                "is" => Some((Infix::Is, false)),
                "not" => special(&word(1)?).map(|op| (op, true)),
                w => special(w).map(|op| (op, false)),
            },
            _ => None,
        }
    }

    /// A path (`a.b[0]`), as SET, INSERT INTO and REMOVE name their targets.
    fn postfix(&mut self) -> Result<Expr, SyntaxError> {
        Ok(self.postfix_node()?.expr)
    }

    fn postfix_node(&mut self) -> Result<Node, SyntaxError> {
        let position = self.pos();
        let base = self.primary()?;
        self.path_steps(position, base)
    }

    /// The path steps after `base`, if any.
    #[inline(never)]
    fn path_steps(&mut self, position: usize, base: Node) -> Result<Node, SyntaxError> {
        let mut steps = Vec::new();
        loop {
            if steps.len() > MAX_PATH_STEPS {
                return Err(SyntaxError::new(
                    self.pos(),
                    format!("a path has at most {MAX_PATH_STEPS} steps"),
                ));
            }
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
        if steps.is_empty() {
            return Ok(base);
        }
        let depth = base.depth;
        node(position, Expr::Path(Box::new(base.expr), steps), [depth])
    }

    fn primary(&mut self) -> Result<Node, SyntaxError> {
        let Some(token) = self.peek().cloned() else {
            return self.err("expected an expression, found the end of the statement");
        };
        let pos = token.pos;
        match token.tok {
            Tok::Param => {
                self.at += 1;
                let index = self.params;
                self.params += 1;
                Ok(leaf(Expr::Param { index, pos }))
            }
            Tok::Str(s) => {
                self.at += 1;
                Ok(leaf(Expr::Lit(Element::string(s))))
            }
            Tok::Number(n) => {
                self.at += 1;
                let e = Element::read_one(n.as_bytes())
                    .map_err(|_| SyntaxError::new(pos, format!("`{n}` is not a number")))?;
                Ok(leaf(Expr::Lit(e)))
            }
            Tok::Ion(text) => {
                self.at += 1;
                let e = ion_input::read_one(text.as_bytes(), ION_LITERAL).map_err(|e| match e {
                    IonInputError::TooDeep { offset, limit } => SyntaxError::new(
                        pos + 1 + offset,
                        format!("the Ion literal nests containers deeper than {limit} levels"),
                    ),
                    other => SyntaxError::new(pos, format!("invalid Ion literal: {other}")),
                })?;
                Ok(leaf(Expr::Lit(e)))
            }
            Tok::Quoted(q) => {
                self.at += 1;
                Ok(leaf(Expr::Var {
                    name: q,
                    quoted: true,
                    pos,
                }))
            }
            Tok::Sym("{") => self.struct_literal(pos),
            Tok::Sym("[") => self.collection(pos, "]", Expr::List),
            Tok::Sym("<<") => self.collection(pos, ">>", Expr::Bag),
            Tok::Word(w) => self.word(pos, w),
            Tok::Sym(s) => self.err(format!("unexpected `{s}`")),
        }
    }

    #[inline(never)]
    fn struct_literal(&mut self, pos: usize) -> Result<Node, SyntaxError> {
        self.at += 1;
        let mut fields = Vec::new();
        let mut depths = Vec::new();
        if !self.eat_sym("}") {
            loop {
                if fields.len() >= MAX_LIST_ITEMS {
                    return Err(too_many(self.pos()));
                }
                let key = self.nested()?;
                self.expect_sym(":")?;
                let value = self.nested()?;
                depths.extend([key.depth, value.depth]);
                fields.push((key.expr, value.expr));
                if self.eat_sym("}") {
                    break;
                }
                self.expect_sym(",")?;
            }
        }
        node(pos, Expr::Struct(fields), depths)
    }

    /// `[…]` or `<<…>>`.
    #[inline(never)]
    fn collection(
        &mut self,
        pos: usize,
        close: &str,
        make: fn(Vec<Expr>) -> Expr,
    ) -> Result<Node, SyntaxError> {
        self.at += 1;
        let items = self.items(close)?;
        let depths: Vec<usize> = items.iter().map(|n| n.depth).collect();
        node(
            pos,
            make(items.into_iter().map(|n| n.expr).collect()),
            depths,
        )
    }

    /// A word where an expression starts: a literal keyword, a call or a name.
    #[inline(never)]
    fn word(&mut self, pos: usize, w: String) -> Result<Node, SyntaxError> {
        let lower = w.to_ascii_lowercase();
        match lower.as_str() {
            "null" => {
                self.at += 1;
                Ok(leaf(Expr::Lit(Element::null(
                    veritrail_core::ion_rs::IonType::Null,
                ))))
            }
            "missing" => {
                self.at += 1;
                Ok(leaf(Expr::Call {
                    name: "missing".into(),
                    args: vec![],
                    pos,
                }))
            }
            "true" | "false" => {
                self.at += 1;
                Ok(leaf(Expr::Lit(Element::from(lower == "true"))))
            }
            _ if matches!(
                self.tokens.get(self.at + 1).map(|t| &t.tok),
                Some(Tok::Sym("("))
            ) =>
            {
                self.at += 2;
                if lower == "count" && self.eat_sym("*") {
                    self.expect_sym(")")?;
                    return Ok(leaf(Expr::CountStar));
                }
                let args = self.items(")")?;
                let depths: Vec<usize> = args.iter().map(|n| n.depth).collect();
                let args = args.into_iter().map(|n| n.expr).collect();
                node(
                    pos,
                    Expr::Call {
                        name: lower,
                        args,
                        pos,
                    },
                    depths,
                )
            }
            _ if RESERVED.contains(&lower.as_str()) => {
                self.err(format!("unexpected keyword {}", w.to_uppercase()))
            }
            _ => {
                self.at += 1;
                Ok(leaf(Expr::Var {
                    name: w,
                    quoted: false,
                    pos,
                }))
            }
        }
    }

    /// Comma-separated expressions up to `close` (which may follow at once).
    fn items(&mut self, close: &str) -> Result<Vec<Node>, SyntaxError> {
        let mut items = Vec::new();
        if self.eat_sym(close) {
            return Ok(items);
        }
        loop {
            if items.len() >= MAX_LIST_ITEMS {
                return Err(too_many(self.pos()));
            }
            items.push(self.nested()?);
            if self.eat_sym(close) {
                return Ok(items);
            }
            self.expect_sym(",")?;
        }
    }
}
