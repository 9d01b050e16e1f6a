//! Expression evaluation over Ion values. A value is `Option<Element>`: `None` is PartiQL's
//! MISSING, an Ion null is NULL. Comparisons between numbers are numeric across int, decimal
//! and float (`1 = 1.0`); other types compare within their own type only.

use std::cmp::Ordering;
use std::fmt;

use veritrail_core::ion_rs::{Decimal, Element, IonType, Value};

use super::ast::{BinOp, Expr, PathStep};

/// A value during evaluation: `None` is MISSING.
pub type Val = Option<Element>;

/// An evaluation error, with the byte offset of the expression when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    pub position: Option<usize>,
    pub message: String,
}

impl EvalError {
    pub fn new(position: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "at position {p}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Variables in scope: the FROM bindings, in order.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub bindings: Vec<(String, Element)>,
}

impl Env {
    /// Resolves a name: a binding by name (case-insensitive unless quoted), else a field of the
    /// bindings' values (unqualified names resolve against the FROM bindings).
    fn resolve(&self, name: &str, quoted: bool) -> Val {
        let same = |a: &str| {
            if quoted {
                a == name
            } else {
                a.eq_ignore_ascii_case(name)
            }
        };
        if let Some((_, v)) = self.bindings.iter().rev().find(|(n, _)| same(n)) {
            return Some(v.clone());
        }
        for (_, v) in self.bindings.iter().rev() {
            if let Some(st) = v.as_struct() {
                if let Some(f) = field(st, name, quoted) {
                    return Some(f.clone());
                }
            }
        }
        None
    }
}

fn field<'a>(
    st: &'a veritrail_core::ion_rs::Struct,
    name: &str,
    exact: bool,
) -> Option<&'a Element> {
    st.get(name).or_else(|| {
        if exact {
            None
        } else {
            st.iter()
                .find(|(k, _)| k.text().is_some_and(|t| t.eq_ignore_ascii_case(name)))
                .map(|(_, v)| v)
        }
    })
}

/// Parameters bound to `?` in order.
pub type Params<'a> = &'a [Element];

fn null() -> Element {
    Element::null(IonType::Null)
}

fn boolean(b: bool) -> Val {
    Some(Element::from(b))
}

/// True only for an Ion `true`.
pub fn truthy(v: &Val) -> bool {
    matches!(v.as_ref().and_then(Element::as_bool), Some(true))
}

/// Follows one path step.
pub fn step(v: &Val, s: &PathStep) -> Vec<Val> {
    let Some(e) = v else { return vec![None] };
    match s {
        PathStep::Field(name) => vec![e.as_struct().and_then(|st| field(st, name, false)).cloned()],
        PathStep::Index(i) => vec![
            e.as_sequence()
                .and_then(|seq| usize::try_from(*i).ok().and_then(|i| seq.get(i)))
                .cloned(),
        ],
        PathStep::Wildcard => match e.value() {
            Value::Struct(st) => st.iter().map(|(_, v)| Some(v.clone())).collect(),
            Value::List(seq) | Value::SExp(seq) => seq.iter().map(|v| Some(v.clone())).collect(),
            _ => vec![],
        },
    }
}

fn as_decimal(e: &Element) -> Option<Decimal> {
    match e.value() {
        Value::Int(i) => Some(Decimal::from(i.clone())),
        Value::Decimal(d) => Some(d.clone()),
        Value::Float(f) => Decimal::try_from(*f).ok(),
        _ => None,
    }
}

/// Orders two values of comparable types; `None` when they cannot be compared.
pub fn compare(a: &Element, b: &Element) -> Option<Ordering> {
    if a.is_null() || b.is_null() {
        return None;
    }
    match (a.value(), b.value()) {
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Float(x), _) if as_decimal(b).is_some() => {
            let y = decimal_f64(&as_decimal(b)?);
            x.partial_cmp(&y)
        }
        (_, Value::Float(y)) if as_decimal(a).is_some() => {
            let x = decimal_f64(&as_decimal(a)?);
            x.partial_cmp(y)
        }
        _ if as_decimal(a).is_some() && as_decimal(b).is_some() => {
            as_decimal(a)?.partial_cmp(&as_decimal(b)?)
        }
        (Value::String(x), Value::String(y)) => Some(x.text().cmp(y.text())),
        (Value::Symbol(x), Value::Symbol(y)) => Some(x.text().cmp(&y.text())),
        (Value::String(x), Value::Symbol(y)) => Some(Some(x.text()).cmp(&y.text())),
        (Value::Symbol(x), Value::String(y)) => Some(x.text().cmp(&Some(y.text()))),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => x.partial_cmp(y),
        (Value::Blob(x), Value::Blob(y)) | (Value::Clob(x), Value::Clob(y)) => {
            Some(x.as_ref().cmp(y.as_ref()))
        }
        _ => None,
    }
}

fn decimal_f64(d: &Decimal) -> f64 {
    d.to_string().replace('d', "e").parse().unwrap_or(f64::NAN)
}

/// PartiQL equality: numeric across number types, structural otherwise.
pub fn equal(a: &Element, b: &Element) -> bool {
    match compare(a, b) {
        Some(o) => o == Ordering::Equal,
        None => !a.is_null() && !b.is_null() && a == b,
    }
}

fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    // % is any run, _ any one character.
    veritrail_core::wildcard::glob(&p, &t, '%', '_')
}

fn arith(op: BinOp, a: &Element, b: &Element) -> Option<Element> {
    if let (Value::Int(x), Value::Int(y)) = (a.value(), b.value()) {
        let (x, y) = (x.as_i64()?, y.as_i64()?);
        return match op {
            BinOp::Add => x.checked_add(y).map(Element::from),
            BinOp::Sub => x.checked_sub(y).map(Element::from),
            BinOp::Mul => x.checked_mul(y).map(Element::from),
            BinOp::Div if y != 0 => Some(Element::from(x / y)),
            BinOp::Mod if y != 0 => Some(Element::from(x % y)),
            _ => None,
        };
    }
    let (x, y) = (as_decimal(a)?, as_decimal(b)?);
    let (xf, yf) = (decimal_f64(&x), decimal_f64(&y));
    let r = match op {
        BinOp::Add => xf + yf,
        BinOp::Sub => xf - yf,
        BinOp::Mul => xf * yf,
        BinOp::Div if yf != 0.0 => xf / yf,
        BinOp::Mod if yf != 0.0 => xf % yf,
        _ => return None,
    };
    if matches!(a.ion_type(), IonType::Float) || matches!(b.ion_type(), IonType::Float) {
        return Some(Element::from(r));
    }
    // Decimal arithmetic: exact for + and -, to 15 significant digits otherwise.
    let text = format!("{r}");
    Element::read_one(if text.contains('.') || text.contains('e') {
        text.replace('e', "d")
    } else {
        format!("{text}.")
    })
    .ok()
}

/// Evaluates an expression.
///
/// Recursion goes through this small dispatcher and one helper per kind of expression, so each
/// level of a (parser-bounded) nested expression costs the stack little, even unoptimised.
pub fn eval(expr: &Expr, env: &Env, params: Params<'_>) -> Result<Val, EvalError> {
    match expr {
        Expr::Lit(e) => Ok(Some(e.clone())),
        Expr::Param { index, pos } => param(*index, *pos, params),
        Expr::Var { name, quoted, .. } => Ok(env.resolve(name, *quoted)),
        Expr::Path(base, steps) => path(base, steps, env, params),
        Expr::Struct(fields) => structure(fields, env, params),
        Expr::List(items) | Expr::Bag(items) => list(items, env, params),
        Expr::Bin(op, a, b) => binary(*op, a, b, env, params),
        Expr::Not(a) => not(a, env, params),
        Expr::Neg(a) => negate(a, env, params),
        Expr::IsNull { expr, negated } => is_null(expr, *negated, env, params),
        Expr::IsMissing { expr, negated } => {
            Ok(boolean(eval(expr, env, params)?.is_none() != *negated))
        }
        Expr::In {
            expr,
            list,
            negated,
        } => member(expr, list, *negated, env, params),
        Expr::Between {
            expr,
            low,
            high,
            negated,
        } => between(expr, low, high, *negated, env, params),
        Expr::Like {
            expr,
            pattern,
            negated,
        } => like_op(expr, pattern, *negated, env, params),
        Expr::CountStar => Err(EvalError::new(
            None,
            "COUNT(*) is allowed only as the whole projection",
        )),
        Expr::Call { name, args, pos } => call(name, args, *pos, env, params),
    }
}

#[inline(never)]
fn param(index: usize, pos: usize, params: Params<'_>) -> Result<Val, EvalError> {
    let p = params.get(index).cloned().ok_or_else(|| {
        EvalError::new(
            Some(pos),
            format!(
                "parameter {} was not given ({} given)",
                index + 1,
                params.len()
            ),
        )
    })?;
    Ok(Some(p))
}

#[inline(never)]
fn path(base: &Expr, steps: &[PathStep], env: &Env, params: Params<'_>) -> Result<Val, EvalError> {
    let mut vals = vec![eval(base, env, params)?];
    for s in steps {
        vals = vals.iter().flat_map(|v| step(v, s)).collect();
    }
    Ok(if steps.iter().any(|s| matches!(s, PathStep::Wildcard)) {
        Some(Element::from(
            Element::sequence_builder()
                .push_all(vals.into_iter().flatten())
                .build_list(),
        ))
    } else {
        vals.into_iter().next().flatten()
    })
}

#[inline(never)]
fn structure(fields: &[(Expr, Expr)], env: &Env, params: Params<'_>) -> Result<Val, EvalError> {
    let mut b = Element::struct_builder();
    for (k, v) in fields {
        let key = eval(k, env, params)?;
        let Some(name) = key.as_ref().and_then(Element::as_text).map(str::to_owned) else {
            return Err(EvalError::new(None, "a struct field name must be text"));
        };
        if let Some(value) = eval(v, env, params)? {
            b = b.with_field(name, value);
        }
    }
    Ok(Some(Element::from(b.build())))
}

#[inline(never)]
fn list(items: &[Expr], env: &Env, params: Params<'_>) -> Result<Val, EvalError> {
    let mut out = Vec::new();
    for i in items {
        if let Some(v) = eval(i, env, params)? {
            out.push(v);
        }
    }
    Ok(Some(Element::from(
        Element::sequence_builder().push_all(out).build_list(),
    )))
}

#[inline(never)]
fn binary(op: BinOp, a: &Expr, b: &Expr, env: &Env, params: Params<'_>) -> Result<Val, EvalError> {
    let (x, y) = (eval(a, env, params)?, eval(b, env, params)?);
    match op {
        BinOp::And => {
            return Ok(match (bool_of(&x), bool_of(&y)) {
                (Some(false), _) | (_, Some(false)) => boolean(false),
                (Some(true), Some(true)) => boolean(true),
                _ => Some(null()),
            });
        }
        BinOp::Or => {
            return Ok(match (bool_of(&x), bool_of(&y)) {
                (Some(true), _) | (_, Some(true)) => boolean(true),
                (Some(false), Some(false)) => boolean(false),
                _ => Some(null()),
            });
        }
        _ => {}
    }
    let (Some(x), Some(y)) = (x, y) else {
        return Ok(None);
    };
    if x.is_null() || y.is_null() {
        return Ok(Some(null()));
    }
    Ok(match op {
        BinOp::Eq => boolean(equal(&x, &y)),
        BinOp::Ne => boolean(!equal(&x, &y)),
        BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => match compare(&x, &y) {
            None => Some(null()),
            Some(o) => boolean(match op {
                BinOp::Lt => o == Ordering::Less,
                BinOp::Gt => o == Ordering::Greater,
                BinOp::Le => o != Ordering::Greater,
                _ => o != Ordering::Less,
            }),
        },
        BinOp::Concat => match (x.as_text(), y.as_text()) {
            (Some(a), Some(b)) => Some(Element::string(format!("{a}{b}"))),
            _ => Some(null()),
        },
        _ => Some(arith(op, &x, &y).unwrap_or_else(null)),
    })
}

#[inline(never)]
fn not(a: &Expr, env: &Env, params: Params<'_>) -> Result<Val, EvalError> {
    Ok(match bool_of(&eval(a, env, params)?) {
        Some(b) => boolean(!b),
        None => Some(null()),
    })
}

#[inline(never)]
fn negate(a: &Expr, env: &Env, params: Params<'_>) -> Result<Val, EvalError> {
    Ok(eval(a, env, params)?
        .map(|x| arith(BinOp::Sub, &Element::from(0i64), &x).unwrap_or_else(null)))
}

#[inline(never)]
fn is_null(expr: &Expr, negated: bool, env: &Env, params: Params<'_>) -> Result<Val, EvalError> {
    let v = eval(expr, env, params)?;
    let is = v.as_ref().is_none_or(Element::is_null);
    Ok(boolean(is != negated))
}

#[inline(never)]
fn member(
    expr: &Expr,
    list: &[Expr],
    negated: bool,
    env: &Env,
    params: Params<'_>,
) -> Result<Val, EvalError> {
    let Some(x) = eval(expr, env, params)? else {
        return Ok(None);
    };
    let mut found = false;
    for item in list {
        let v = eval(item, env, params)?;
        // `x IN (?)` with a list parameter tests membership in the list.
        match v.as_ref().map(|e| e.value()) {
            Some(Value::List(seq)) if list.len() == 1 => found |= seq.iter().any(|e| equal(&x, e)),
            _ => found |= v.as_ref().is_some_and(|e| equal(&x, e)),
        }
    }
    Ok(boolean(found != negated))
}

#[inline(never)]
fn between(
    expr: &Expr,
    low: &Expr,
    high: &Expr,
    negated: bool,
    env: &Env,
    params: Params<'_>,
) -> Result<Val, EvalError> {
    let (x, l, h) = (
        eval(expr, env, params)?,
        eval(low, env, params)?,
        eval(high, env, params)?,
    );
    Ok(match (x, l, h) {
        (Some(x), Some(l), Some(h)) => match (compare(&x, &l), compare(&x, &h)) {
            (Some(a), Some(b)) => {
                boolean((a != Ordering::Less && b != Ordering::Greater) != negated)
            }
            _ => Some(null()),
        },
        _ => None,
    })
}

#[inline(never)]
fn like_op(
    expr: &Expr,
    pattern: &Expr,
    negated: bool,
    env: &Env,
    params: Params<'_>,
) -> Result<Val, EvalError> {
    let (x, p) = (eval(expr, env, params)?, eval(pattern, env, params)?);
    Ok(
        match (
            x.as_ref().and_then(Element::as_text),
            p.as_ref().and_then(Element::as_text),
        ) {
            (Some(t), Some(p)) => boolean(like(t, p) != negated),
            _ => Some(null()),
        },
    )
}

fn bool_of(v: &Val) -> Option<bool> {
    v.as_ref().and_then(Element::as_bool)
}

#[inline(never)]
fn call(
    name: &str,
    args: &[Expr],
    pos: usize,
    env: &Env,
    params: Params<'_>,
) -> Result<Val, EvalError> {
    let vals: Vec<Val> = args
        .iter()
        .map(|a| eval(a, env, params))
        .collect::<Result<_, _>>()?;
    let text = |i: usize| {
        vals.get(i)
            .and_then(|v| v.as_ref())
            .and_then(Element::as_text)
    };
    Ok(match (name, vals.len()) {
        ("missing", 0) => None,
        ("upper", 1) => text(0).map(|t| Element::string(t.to_uppercase())),
        ("lower", 1) => text(0).map(|t| Element::string(t.to_lowercase())),
        ("char_length" | "character_length", 1) => {
            text(0).map(|t| Element::from(t.chars().count() as i64))
        }
        ("exists", 1) => boolean(
            vals[0]
                .as_ref()
                .and_then(Element::as_sequence)
                .is_some_and(|s| !s.is_empty()),
        ),
        ("coalesce", _) => vals.into_iter().flatten().find(|v| !v.is_null()),
        _ => {
            return Err(EvalError::new(
                Some(pos),
                format!("unknown function {name}/{}", args.len()),
            ));
        }
    })
}

/// The key under which a value is indexed: equal values (by [`equal`]) get equal keys.
pub fn index_key(v: &Element) -> Option<Vec<u8>> {
    if v.is_null() {
        return None;
    }
    if let Some(d) = as_decimal(v) {
        if !matches!(v.ion_type(), IonType::Float) || v.as_float().is_some_and(f64::is_finite) {
            let f = decimal_f64(&d);
            return Some(format!("n:{f:e}").into_bytes());
        }
    }
    Some(match v.value() {
        Value::String(s) => format!("s:{}", s.text()).into_bytes(),
        Value::Symbol(s) => format!("s:{}", s.text().unwrap_or("")).into_bytes(),
        _ => {
            let mut k = b"h:".to_vec();
            k.extend_from_slice(veritrail_core::ion_hash(v).as_bytes());
            k
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partiql::ast::Statement;
    use crate::partiql::parse;

    fn where_of(cond: &str) -> Expr {
        let Statement::Select(s) = parse(&format!("SELECT * FROM T WHERE {cond}")).unwrap() else {
            panic!()
        };
        s.filter.unwrap()
    }

    fn check(cond: &str, doc: &str) -> Val {
        let env = Env {
            bindings: vec![("t".into(), Element::read_one(doc).unwrap())],
        };
        eval(&where_of(cond), &env, &[Element::from(5i64)]).unwrap()
    }

    #[test]
    fn three_valued_logic_and_numeric_equality() {
        let doc = "{a:1, b:1.0, c:null, s:\"Seattle\", l:[1,2,3], n:{x:2019-01-01T}}";
        assert!(truthy(&check("a = b", doc)));
        assert!(truthy(&check("t.a = 1e0", doc)));
        assert!(!truthy(&check("c = 1", doc)));
        assert!(truthy(&check("c IS NULL", doc)));
        assert!(truthy(&check("zz IS MISSING", doc)));
        assert!(truthy(&check("zz IS NULL", doc)));
        assert!(truthy(&check("s LIKE 'Sea%'", doc)));
        assert!(truthy(&check("s LIKE '_eattl_'", doc)));
        assert!(!truthy(&check("s LIKE 'sea%'", doc)));
        assert!(truthy(&check("a IN (3, 1)", doc)));
        assert!(truthy(&check("a NOT IN (3, 4)", doc)));
        assert!(truthy(&check("l[1] BETWEEN 2 AND ?", doc)));
        assert!(truthy(&check("a < 2 AND NOT (a > 1)", doc)));
        assert!(truthy(&check("a <> 2 OR c = 1", doc)));
        assert!(truthy(&check("n.x < `2020-01-01T`", doc)));
        assert!(truthy(&check("a + 2 = 3 AND b * 2 = 2", doc)));
    }

    #[test]
    fn index_keys_agree_with_equality() {
        let k = |t: &str| index_key(&Element::read_one(t).unwrap());
        assert_eq!(k("1"), k("1.0"));
        assert_eq!(k("1"), k("1e0"));
        assert_ne!(k("1"), k("2"));
        assert_eq!(k("\"a\""), k("a"));
        assert_eq!(k("null"), None);
    }
}
