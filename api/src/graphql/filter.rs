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
    // An object with one condition is that condition: wrapping it would spend a level
    // of the lake's depth limit on every `and`/`or` the caller nests.
    Ok(match all.len() {
        1 => all.pop().unwrap_or(SpecTree::All(Vec::new())),
        _ => SpecTree::All(all),
    })
}

fn text(value: &Value) -> GqlResult<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(invalid("a filter value must be a scalar")),
    }
}

/// An operator's GraphQL name: the core's name in camelCase (`is_null` → `isNull`).
pub(super) fn graphql_name(operator: Operator) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in operator.name().chars() {
        match (c, upper) {
            ('_', _) => upper = true,
            (c, true) => {
                out.push(c.to_ascii_uppercase());
                upper = false;
            }
            (c, false) => out.push(c),
        }
    }
    out
}

/// One condition: GraphQL's operator names (`isNull`) to the core's.
fn leaf(column: &str, op: &Name, operand: &Value) -> GqlResult<FilterSpec> {
    let operator = Operator::ALL
        .into_iter()
        .find(|o| graphql_name(*o) == op.as_str())
        .ok_or_else(|| invalid(format!("unknown operator {op}")))?;
    let values = match (operator.takes_list(), operand) {
        (true, Value::List(items)) => {
            if items.len() > MAX_IN_VALUES {
                return Err(invalid(format!(
                    "{op} takes at most {MAX_IN_VALUES} values"
                )));
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
