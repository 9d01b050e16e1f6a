//! QLDB's PartiQL subset (`../shared/specs/qldb.md` §6): lexer, parser and evaluator.
//!
//! The `partiql-parser` crate (0.15) was evaluated first: its grammar covers queries only (no
//! INSERT, UPDATE, DELETE, CREATE, `FROM … INSERT INTO`), so this is a focused parser for the
//! statements QLDB applications send.

pub mod ast;
pub mod eval;
pub mod lexer;
pub mod parser;

use std::fmt;

pub use parser::parse;

/// A statement that does not parse, with the byte offset where parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub position: usize,
    pub message: String,
}

impl SyntaxError {
    pub fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "syntax error at position {}: {}",
            self.position, self.message
        )
    }
}

impl std::error::Error for SyntaxError {}

/// QLDB's PartiQL reserved words (the developer guide's list: SQL-92's and PartiQL's), sorted.
/// A table cannot be named by one.
const RESERVED_WORDS: &[&str] = &[
    "ABSOLUTE",
    "ACTION",
    "ADD",
    "ALL",
    "ALLOCATE",
    "ALTER",
    "AND",
    "ANY",
    "ARE",
    "AS",
    "ASC",
    "ASSERTION",
    "AT",
    "AUTHORIZATION",
    "AVG",
    "BAG",
    "BEGIN",
    "BETWEEN",
    "BIT",
    "BIT_LENGTH",
    "BLOB",
    "BOOL",
    "BOOLEAN",
    "BOTH",
    "BY",
    "CASCADE",
    "CASCADED",
    "CASE",
    "CAST",
    "CATALOG",
    "CHAR",
    "CHARACTER",
    "CHARACTER_LENGTH",
    "CHAR_LENGTH",
    "CHECK",
    "CLOB",
    "CLOSE",
    "COALESCE",
    "COLLATE",
    "COLLATION",
    "COLUMN",
    "COMMIT",
    "CONNECT",
    "CONNECTION",
    "CONSTRAINT",
    "CONSTRAINTS",
    "CONTINUE",
    "CONVERT",
    "CORRESPONDING",
    "COUNT",
    "CREATE",
    "CROSS",
    "CURRENT",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "CURRENT_USER",
    "CURSOR",
    "DATE",
    "DATE_ADD",
    "DATE_DIFF",
    "DAY",
    "DEALLOCATE",
    "DEC",
    "DECIMAL",
    "DECLARE",
    "DEFAULT",
    "DEFERRABLE",
    "DEFERRED",
    "DELETE",
    "DESC",
    "DESCRIBE",
    "DESCRIPTOR",
    "DIAGNOSTICS",
    "DISCONNECT",
    "DISTINCT",
    "DOMAIN",
    "DOUBLE",
    "DROP",
    "ELSE",
    "END",
    "END-EXEC",
    "ESCAPE",
    "EXCEPT",
    "EXCEPTION",
    "EXEC",
    "EXECUTE",
    "EXISTS",
    "EXTERNAL",
    "EXTRACT",
    "FALSE",
    "FETCH",
    "FIRST",
    "FLOAT",
    "FOR",
    "FOREIGN",
    "FOUND",
    "FROM",
    "FULL",
    "GET",
    "GLOBAL",
    "GO",
    "GOTO",
    "GRANT",
    "GROUP",
    "HAVING",
    "HOUR",
    "IDENTITY",
    "IMMEDIATE",
    "IN",
    "INDEX",
    "INDICATOR",
    "INITIALLY",
    "INNER",
    "INPUT",
    "INSENSITIVE",
    "INSERT",
    "INT",
    "INTEGER",
    "INTERSECT",
    "INTERVAL",
    "INTO",
    "IS",
    "ISOLATION",
    "JOIN",
    "KEY",
    "LANGUAGE",
    "LAST",
    "LEADING",
    "LEFT",
    "LEVEL",
    "LIKE",
    "LIMIT",
    "LIST",
    "LOCAL",
    "LOWER",
    "MATCH",
    "MAX",
    "MIN",
    "MINUTE",
    "MISSING",
    "MODULE",
    "MONTH",
    "NAMES",
    "NATIONAL",
    "NATURAL",
    "NCHAR",
    "NEXT",
    "NO",
    "NOT",
    "NULL",
    "NULLIF",
    "NUMERIC",
    "OCTET_LENGTH",
    "OF",
    "ON",
    "ONLY",
    "OPEN",
    "OPTION",
    "OR",
    "ORDER",
    "OUTER",
    "OUTPUT",
    "OVERLAPS",
    "PAD",
    "PARTIAL",
    "PIVOT",
    "POSITION",
    "PRECISION",
    "PREPARE",
    "PRESERVE",
    "PRIMARY",
    "PRIOR",
    "PRIVILEGES",
    "PROCEDURE",
    "PUBLIC",
    "READ",
    "REAL",
    "REFERENCES",
    "RELATIVE",
    "REMOVE",
    "RESTRICT",
    "REVOKE",
    "RIGHT",
    "ROLLBACK",
    "ROWS",
    "SCHEMA",
    "SCROLL",
    "SECOND",
    "SECTION",
    "SELECT",
    "SESSION",
    "SESSION_USER",
    "SET",
    "SEXP",
    "SIZE",
    "SMALLINT",
    "SOME",
    "SPACE",
    "SQL",
    "SQLCODE",
    "SQLERROR",
    "SQLSTATE",
    "STRING",
    "STRUCT",
    "SUBSTRING",
    "SUM",
    "SYMBOL",
    "SYSTEM_USER",
    "TABLE",
    "TEMPORARY",
    "THEN",
    "TIME",
    "TIMESTAMP",
    "TIMEZONE_HOUR",
    "TIMEZONE_MINUTE",
    "TO",
    "TRAILING",
    "TRANSACTION",
    "TRANSLATE",
    "TRANSLATION",
    "TRIM",
    "TRUE",
    "TUPLE",
    "TXID",
    "UNDROP",
    "UNION",
    "UNIQUE",
    "UNKNOWN",
    "UNPIVOT",
    "UPDATE",
    "UPPER",
    "USAGE",
    "USER",
    "USING",
    "VALUE",
    "VALUES",
    "VARCHAR",
    "VARYING",
    "VIEW",
    "WHEN",
    "WHENEVER",
    "WHERE",
    "WITH",
    "WORK",
    "WRITE",
    "YEAR",
    "ZONE",
];

/// True when `word` is a PartiQL reserved word, in any case.
pub fn is_reserved_word(word: &str) -> bool {
    RESERVED_WORDS
        .binary_search(&word.to_ascii_uppercase().as_str())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::ast::*;
    use super::*;

    /// Every statement of spec §6 (the DMV sample, pyqldb and the seed queries) parses.
    #[test]
    fn every_statement_of_the_spec_parses() {
        let statements = [
            "CREATE TABLE Person",
            "DROP TABLE Person",
            "CREATE INDEX ON Person (GovId)",
            "INSERT INTO Person ?",
            "INSERT INTO Person VALUE {'FirstName' : 'Raul', 'LastName' : 'Lewis', 'DOB' : `1963-08-19T`}",
            "INSERT INTO Person << ?, ? >>",
            "SELECT * FROM Person",
            "SELECT * FROM Person AS p WHERE p.GovId = ?",
            "SELECT VALUE f FROM T WHERE f = ?",
            "SELECT VALUE f FROM T WHERE f IS NULL",
            "SELECT VALUE f FROM T WHERE f IN (?, ?)",
            "SELECT id FROM Person AS t BY id WHERE t.GovId = ?",
            "SELECT p.* FROM Person AS p BY pid WHERE pid = ?",
            "SELECT Owners.SecondaryOwners FROM VehicleRegistration AS v WHERE v.VIN = ?",
            "SELECT Vehicle FROM Vehicle INNER JOIN VehicleRegistration AS r ON Vehicle.VIN = r.VIN WHERE r.Owners.PrimaryOwner.PersonId = ?",
            "SELECT COUNT(*) FROM T",
            "UPDATE VehicleRegistration AS r SET r.Owners.PrimaryOwner.PersonId = ? WHERE r.VIN = ?",
            "UPDATE T SET Name = ?",
            "DELETE FROM DriversLicense AS d WHERE d.LicenseNumber = ?",
            "DELETE FROM T",
            "FROM VehicleRegistration AS v WHERE v.VIN = ? INSERT INTO v.Owners.SecondaryOwners VALUE ?",
            "SELECT * FROM _ql_committed_VehicleRegistration WHERE data.VIN = ?",
            "SELECT data.Owners.PrimaryOwner, metadata.version FROM history(VehicleRegistration, `2019-06-05T20:53:00Z`, `2019-06-05T21:00:00Z`) AS h WHERE h.metadata.id = ?",
            "SELECT VALUE name FROM information_schema.user_tables WHERE status = 'ACTIVE'",
            "SELECT VALUE indexes[0] FROM information_schema.user_tables WHERE status='ACTIVE' AND name='T'",
            "SELECT accountId, balance, metadata.txTime FROM history(Accounts) AS a WHERE a.data.accountId = 'ACC-001'",
            "SELECT * FROM T WHERE a <> 1 AND b < 2 OR NOT c >= 3 AND d BETWEEN 1 AND 5 AND e LIKE 'x%' AND f IS NOT MISSING",
        ];
        for s in statements {
            parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        }
    }

    #[test]
    fn parameters_are_numbered_and_paths_nest() {
        let Statement::Update { sets, filter, .. } =
            parse("UPDATE T AS r SET r.a.b = ? WHERE r.c[0] = ?").unwrap()
        else {
            panic!("not an update")
        };
        assert!(matches!(sets[0].1, Expr::Param { index: 0, .. }));
        let Some(Expr::Bin(BinOp::Eq, left, right)) = filter else {
            panic!()
        };
        assert!(matches!(*right, Expr::Param { index: 1, .. }));
        assert!(matches!(*left, Expr::Path(_, ref steps) if steps.len() == 2));
    }

    #[test]
    fn errors_point_at_the_position() {
        let e = parse("SELECT * FORM T").unwrap_err();
        assert_eq!(e.position, 9);
        assert!(e.to_string().contains("position 9"), "{e}");
        let e = parse("SELECT * FROM T WHERE a = 'open").unwrap_err();
        assert_eq!(e.position, 26);
        let e = parse("INSERT INTO T VALUE `{a:`").unwrap_err();
        assert!(e.message.contains("invalid Ion literal"));
        assert!(parse("SELECT * FROM T extra junk here").is_err());
        assert!(parse("").is_err());
    }
}
