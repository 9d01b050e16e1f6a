//! The syntax tree of the PartiQL subset QLDB applications use (`../shared/specs/qldb.md` §6).

use veritrail_core::ion_rs::Element;

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    CreateTable {
        name: String,
        /// Byte offset of the name, for errors.
        pos: usize,
    },
    DropTable {
        name: String,
    },
    CreateIndex {
        table: String,
        field: String,
    },
    Insert {
        table: String,
        value: Expr,
    },
    Select(Select),
    Update {
        source: Source,
        sets: Vec<(Expr, Expr)>,
        filter: Option<Expr>,
    },
    Delete {
        source: Source,
        filter: Option<Expr>,
    },
    /// `FROM T AS v WHERE … INSERT INTO v.path VALUE e`: appends to a list inside documents.
    FromInsert {
        source: Source,
        filter: Option<Expr>,
        target: Expr,
        value: Expr,
    },
    /// `FROM T AS v WHERE … SET v.path = e, …`
    FromSet {
        source: Source,
        filter: Option<Expr>,
        sets: Vec<(Expr, Expr)>,
    },
    /// `FROM T AS v WHERE … REMOVE v.path`
    FromRemove {
        source: Source,
        filter: Option<Expr>,
        target: Expr,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub projection: Projection,
    pub from: Vec<Join>,
    pub filter: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    Star,
    Value(Expr),
    Items(Vec<ProjectItem>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProjectItem {
    /// `expr [AS name]`.
    Expr { expr: Expr, alias: Option<String> },
    /// `alias.*`.
    AllOf(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    pub source: Source,
    /// `INNER JOIN … ON cond`; comma joins have none.
    pub on: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    /// A user table.
    Table(String),
    /// `_ql_committed_T`.
    Committed(String),
    /// `history(T [, start [, end]])`.
    History {
        table: String,
        start: Option<Expr>,
        end: Option<Expr>,
    },
    /// `information_schema.user_tables`.
    UserTables,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub kind: SourceKind,
    pub alias: Option<String>,
    /// `AT i`: the position (unused by tables, kept for completeness).
    pub at: Option<String>,
    /// `BY id`: binds the document id.
    pub by: Option<String>,
    /// Byte offset in the statement, for errors.
    pub pos: usize,
}

impl Source {
    /// The name the source's rows are bound to.
    pub fn binding(&self) -> String {
        if let Some(a) = &self.alias {
            return a.clone();
        }
        match &self.kind {
            SourceKind::Table(t) => t.clone(),
            SourceKind::Committed(t) => format!("_ql_committed_{t}"),
            SourceKind::History { table, .. } => table.clone(),
            SourceKind::UserTables => "user_tables".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    And,
    Or,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Concat,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PathStep {
    Field(String),
    /// `[n]`.
    Index(i64),
    /// `.*` or `[*]`.
    Wildcard,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Lit(Element),
    Param {
        index: usize,
        pos: usize,
    },
    Var {
        name: String,
        quoted: bool,
        pos: usize,
    },
    Path(Box<Expr>, Vec<PathStep>),
    Struct(Vec<(Expr, Expr)>),
    List(Vec<Expr>),
    Bag(Vec<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    IsMissing {
        expr: Box<Expr>,
        negated: bool,
    },
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        negated: bool,
    },
    CountStar,
    Call {
        name: String,
        args: Vec<Expr>,
        pos: usize,
    },
}
