//! Paths inside a document that SET, `FROM … INSERT INTO` and REMOVE change. Their depth is
//! bounded by the parser ([`crate::limits::MAX_PATH_STEPS`]).

use veritrail_core::ion_rs::Element;

use super::{DbError, invalid};
use crate::partiql::ast::{Expr, PathStep};

/// The steps of a SET/INSERT/REMOVE target inside the document: `alias.a.b` or `a.b`.
pub(super) fn target_steps(target: &Expr, binding: &str) -> Result<Vec<PathStep>, DbError> {
    match target {
        Expr::Var { name, .. } if !name.eq_ignore_ascii_case(binding) => {
            Ok(vec![PathStep::Field(name.clone())])
        }
        Expr::Path(base, steps) => match &**base {
            Expr::Var { name, .. } if name.eq_ignore_ascii_case(binding) => Ok(steps.clone()),
            Expr::Var { name, .. } => {
                let mut all = vec![PathStep::Field(name.clone())];
                all.extend(steps.iter().cloned());
                Ok(all)
            }
            _ => Err(invalid(None, "the target must be a path into the document")),
        },
        _ => Err(invalid(None, "the target must be a path into the document")),
    }
}

pub(super) fn set_path(
    doc: &Element,
    steps: &[PathStep],
    value: Element,
) -> Result<Element, DbError> {
    let Some((first, rest)) = steps.split_first() else {
        return Ok(value);
    };
    match first {
        PathStep::Field(name) => {
            let st = doc.as_struct();
            let child = st
                .and_then(|s| s.get(name.as_str()))
                .cloned()
                .unwrap_or_else(|| Element::from(Element::struct_builder().build()));
            let new_child = set_path(&child, rest, value)?;
            let mut b = Element::struct_builder();
            let mut replaced = false;
            if let Some(s) = st {
                for (k, v) in s.iter() {
                    if k.text() == Some(name.as_str()) && !replaced {
                        b = b.with_field(name.as_str(), new_child.clone());
                        replaced = true;
                    } else {
                        b = b.with_field(k.text().unwrap_or(""), v.clone());
                    }
                }
            }
            if !replaced {
                b = b.with_field(name.as_str(), new_child);
            }
            Ok(Element::from(b.build()))
        }
        PathStep::Index(i) => {
            let seq = doc
                .as_sequence()
                .ok_or_else(|| invalid(None, "an index step needs a list"))?;
            let i = usize::try_from(*i).map_err(|_| invalid(None, "a negative list index"))?;
            let mut items: Vec<Element> = seq.iter().cloned().collect();
            let slot = items
                .get_mut(i)
                .ok_or_else(|| invalid(None, format!("list index {i} is out of range")))?;
            *slot = set_path(slot, rest, value)?;
            Ok(Element::from(
                Element::sequence_builder().push_all(items).build_list(),
            ))
        }
        PathStep::Wildcard => Err(invalid(None, "a wildcard cannot be assigned")),
    }
}

pub(super) fn remove_path(doc: &Element, steps: &[PathStep]) -> Element {
    match steps {
        [] => doc.clone(),
        [PathStep::Field(name)] => match doc.as_struct() {
            Some(st) => Element::from(st.clone_builder().remove_field(name.as_str()).build()),
            None => doc.clone(),
        },
        [PathStep::Field(name), rest @ ..] => {
            match doc.as_struct().and_then(|s| s.get(name.as_str())) {
                Some(child) => set_path(doc, &steps[..1], remove_path(child, rest))
                    .unwrap_or_else(|_| doc.clone()),
                None => doc.clone(),
            }
        }
        _ => doc.clone(),
    }
}
