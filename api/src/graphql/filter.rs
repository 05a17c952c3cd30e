//! The GraphQL `where` → the core's filter tree ([`SpecTree`]): columns, operators and
//! values as written; the lake types them against the columns the caller may see, by the
//! same rules as every surface's filters.

use async_graphql::{Name, Value};
use dap_lake::predicate::{FilterSpec, MAX_IN_VALUES, MAX_TREE_DEPTH, Operator, SpecTree};

use super::error::invalid;
use super::resolve::GqlResult;

/// A `where` object → a tree of conditions.
pub(super) fn where_tree(value: &Value, depth: usize) -> GqlResult<SpecTree> {
    if depth > MAX_TREE_DEPTH {
        return Err(invalid(format!(
            "where nests and/or more than {MAX_TREE_DEPTH} levels"
        )));
    }
    let Value::Object(fields) = value else {
        return Err(invalid("where must be an object"));
    };
    let mut all = Vec::new();
    for (name, value) in fields {
        match (name.as_str(), value) {
            (_, Value::Null) => {}
            ("and" | "or", Value::List(items)) => {
                let branches = items
                    .iter()
                    .map(|item| where_tree(item, depth + 1))
                    .collect::<GqlResult<Vec<_>>>()?;
                all.push(if name.as_str() == "and" {
                    SpecTree::All(branches)
                } else {
                    SpecTree::Any(branches)
                });
            }
            (column, Value::Object(ops)) => {
                for (op, operand) in ops {
                    if !matches!(operand, Value::Null) {
                        all.push(SpecTree::Leaf(leaf(column, op, operand)?));
                    }
                }
            }
            _ => return Err(invalid("where has an unexpected shape")),
        }
    }
    Ok(SpecTree::All(all))
}

fn text(value: &Value) -> GqlResult<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(invalid("a filter value must be a scalar")),
    }
}

/// One condition: GraphQL's operator names (`isNull`) to the core's.
fn leaf(column: &str, op: &Name, operand: &Value) -> GqlResult<FilterSpec> {
    let operator = match op.as_str() {
        "isNull" => Some(Operator::IsNull),
        other => Operator::from_name(other).filter(|o| *o != Operator::IsNull),
    }
    .ok_or_else(|| invalid(format!("unknown operator {op}")))?;
    let values = match (operator, operand) {
        (Operator::In, Value::List(items)) => {
            if items.len() > MAX_IN_VALUES {
                return Err(invalid(format!("in takes at most {MAX_IN_VALUES} values")));
            }
            items.iter().map(text).collect::<GqlResult<Vec<_>>>()?
        }
        (_, value) => vec![text(value)?],
    };
    Ok(FilterSpec {
        column: column.to_owned(),
        operator,
        values,
    })
}
