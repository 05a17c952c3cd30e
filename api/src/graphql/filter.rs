//! The GraphQL `where` → the lake's filter tree. Every condition goes through
//! `Filter::parse`, so types and column visibility are checked exactly as in REST.

use async_graphql::{Name, Value};
use dap_lake::predicate::{Condition, Filter, FilterTree};
use dap_schema::ColumnDef;

use super::error::{field_error, from_lake};
use super::resolve::GqlResult;

/// A `where` object → filters on visible columns, parsed by the lake's filter language.
pub(super) fn where_tree(
    value: &Value,
    visible: &[&ColumnDef],
    depth: usize,
) -> GqlResult<FilterTree> {
    let too_deep = || {
        field_error(
            "invalid_parameter",
            format!(
                "where nests and/or more than {} levels",
                dap_lake::predicate::MAX_TREE_DEPTH
            ),
        )
    };
    if depth > dap_lake::predicate::MAX_TREE_DEPTH {
        return Err(too_deep());
    }
    let Value::Object(fields) = value else {
        return Err(field_error("invalid_parameter", "where must be an object"));
    };
    let mut all = Vec::new();
    for (name, value) in fields {
        match (name.as_str(), value) {
            (_, Value::Null) => {}
            ("and" | "or", Value::List(items)) => {
                let branches = items
                    .iter()
                    .map(|item| where_tree(item, visible, depth + 1))
                    .collect::<GqlResult<Vec<_>>>()?;
                all.push(if name.as_str() == "and" {
                    FilterTree::All(branches)
                } else {
                    FilterTree::Any(branches)
                });
            }
            (column, Value::Object(ops)) => {
                for (op, operand) in ops {
                    if !matches!(operand, Value::Null) {
                        all.push(FilterTree::Leaf(leaf(column, op, operand, visible)?));
                    }
                }
            }
            _ => {
                return Err(field_error(
                    "invalid_parameter",
                    "where has an unexpected shape",
                ));
            }
        }
    }
    Ok(FilterTree::All(all))
}

fn text(value: &Value) -> GqlResult<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(field_error(
            "invalid_parameter",
            "a filter value must be a scalar",
        )),
    }
}

/// One condition, through `Filter::parse` so the REST rules (types, visibility) apply.
fn leaf(column: &str, op: &Name, operand: &Value, visible: &[&ColumnDef]) -> GqlResult<Filter> {
    let parse = |op: &str, value: &str| {
        Filter::parse(&format!("{column}:{op}:{value}"), visible).map_err(from_lake)
    };
    match (op.as_str(), operand) {
        ("in", Value::List(items)) => {
            if items.len() > dap_lake::predicate::MAX_IN_VALUES {
                return Err(field_error(
                    "invalid_parameter",
                    format!(
                        "in takes at most {} values",
                        dap_lake::predicate::MAX_IN_VALUES
                    ),
                ));
            }
            let mut literals = Vec::new();
            for item in items {
                match parse("eq", &text(item)?)?.condition {
                    Condition::Compare(_, literal) => literals.push(literal),
                    _ => return Err(field_error("invalid_parameter", "in takes values")),
                }
            }
            // `in: []` must match nothing, like SQL; refuse it instead of guessing.
            if literals.is_empty() {
                return Err(field_error(
                    "invalid_parameter",
                    "in needs at least one value",
                ));
            }
            Ok(Filter {
                column: column.to_owned(),
                condition: Condition::In(literals),
            })
        }
        ("isNull", value) => parse("is_null", &text(value)?),
        (op @ ("eq" | "ne" | "lt" | "lte" | "gt" | "gte" | "prefix"), value) => {
            parse(op, &text(value)?)
        }
        (other, _) => Err(field_error(
            "invalid_parameter",
            format!("unknown operator {other}"),
        )),
    }
}
