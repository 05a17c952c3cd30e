//! Limits checked on a parsed request before anything runs: aliases, dataset fields and
//! an estimated cost in which every row of a page costs its selected fields.
//!
//! async-graphql's own complexity limit counts each field once, so `first: 100000` on a
//! wide row would pass it; this estimate multiplies the row selection by `first`.

use std::collections::HashSet;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{Request, Value, Variables};

use crate::app::AppError;

/// Largest estimated cost of one operation.
pub const MAX_COST: u64 = 50_000;
/// Most aliases in one operation.
pub const MAX_ALIASES: usize = 16;
/// Most dataset fields (pages and aggregates) in one operation.
pub const MAX_DATASET_FIELDS: usize = 10;
/// Most operations in one batch.
pub const MAX_BATCH: usize = 10;
/// Deepest selection nesting (async-graphql's limit); standard introspection queries
/// (graphql-core, GraphiQL) nest about 13 levels.
pub const MAX_DEPTH: usize = 15;
/// Deepest bracket nesting in the query text, checked before parsing.
pub const MAX_NESTING: usize = 32;
/// Cost of each group of an aggregate, times its selected fields.
pub const GROUP_COST: u64 = 100;
/// Page size when `first` is absent.
pub const DEFAULT_FIRST: u64 = 100;
/// Fragment expansion depth at which the estimate gives up (cycles are invalid anyway).
const MAX_WALK: usize = 24;

/// The root fields that read a dataset.
#[derive(Debug, Default, Clone)]
pub struct DatasetFields {
    pub pages: HashSet<String>,
    pub aggregates: HashSet<String>,
}

/// What one operation asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Estimate {
    pub cost: u64,
    pub aliases: usize,
    pub dataset_fields: usize,
}

/// Refuses text nested deeper than [`MAX_NESTING`] before the recursive parser sees it.
pub fn check_nesting(query: &str) -> Result<(), AppError> {
    let (mut depth, mut max) = (0usize, 0usize);
    let (mut in_string, mut escaped, mut comment) = (false, false, false);
    for c in query.chars() {
        if comment {
            comment = c != '\n';
            continue;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '#' => comment = true,
            '{' | '[' | '(' => {
                depth += 1;
                max = max.max(depth);
            }
            '}' | ']' | ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if max > MAX_NESTING {
        return Err(AppError::QueryTooComplex(format!(
            "the query is nested {max} levels deep; at most {MAX_NESTING}"
        )));
    }
    Ok(())
}

/// Parses `request` (async-graphql reuses the parse) and refuses it when an operation
/// exceeds a limit.
pub fn check(request: &mut Request, fields: &DatasetFields) -> Result<(), AppError> {
    check_nesting(&request.query)?;
    let variables = request.variables.clone();
    let document = request
        .parsed_query()
        .map_err(|e| AppError::InvalidQuery(e.message))?;
    for estimate in estimates(document, &variables, fields) {
        if estimate.aliases > MAX_ALIASES {
            return Err(AppError::TooManyAliases(format!(
                "the operation uses {} aliases; at most {MAX_ALIASES}",
                estimate.aliases
            )));
        }
        if estimate.dataset_fields > MAX_DATASET_FIELDS {
            return Err(AppError::QueryTooComplex(format!(
                "the operation reads {} dataset fields; at most {MAX_DATASET_FIELDS}",
                estimate.dataset_fields
            )));
        }
        if estimate.cost > MAX_COST {
            return Err(AppError::QueryTooComplex(format!(
                "the operation's estimated cost is {} (each row costs its selected fields); at most {MAX_COST}: ask for fewer rows (first) or fewer fields",
                estimate.cost
            )));
        }
    }
    Ok(())
}

/// The estimate of every operation in `document`.
pub fn estimates(
    document: &ExecutableDocument,
    variables: &Variables,
    fields: &DatasetFields,
) -> Vec<Estimate> {
    let walker = Walker {
        document,
        variables,
        fields,
    };
    let sets: Vec<&SelectionSet> = match &document.operations {
        DocumentOperations::Single(op) => vec![&op.node.selection_set.node],
        DocumentOperations::Multiple(ops) => {
            ops.values().map(|op| &op.node.selection_set.node).collect()
        }
    };
    sets.into_iter()
        .map(|set| {
            let mut estimate = Estimate::default();
            estimate.cost = walker.cost(set, &mut estimate, 0, true);
            estimate
        })
        .collect()
}

struct Walker<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    fields: &'a DatasetFields,
}

impl Walker<'_> {
    fn cost(&self, set: &SelectionSet, estimate: &mut Estimate, depth: usize, root: bool) -> u64 {
        if depth > MAX_WALK {
            return MAX_COST + 1;
        }
        let mut total: u64 = 0;
        for item in &set.items {
            let cost = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    if field.alias.is_some() {
                        estimate.aliases += 1;
                    }
                    let name = field.name.node.as_str();
                    let rows = match root {
                        true if self.fields.pages.contains(name) => {
                            let first = field
                                .arguments
                                .iter()
                                .find(|(n, _)| n.node.as_str() == "first")
                                .map(|(_, v)| {
                                    self.number(v.node.clone().into_const_with(|name| {
                                        self.variables.get(&name).cloned().ok_or(())
                                    }))
                                })
                                .unwrap_or(Some(DEFAULT_FIRST));
                            Some(first.unwrap_or(u64::MAX))
                        }
                        true if self.fields.aggregates.contains(name) => Some(GROUP_COST),
                        _ => None,
                    };
                    match rows {
                        Some(rows) => {
                            estimate.dataset_fields += 1;
                            self.rows_cost(&field.selection_set.node, estimate, depth, rows)
                                .saturating_add(1)
                        }
                        None => self
                            .cost(&field.selection_set.node, estimate, depth + 1, false)
                            .saturating_add(1),
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.cost(&fragment.node.selection_set.node, estimate, depth + 1, root)
                }
                Selection::FragmentSpread(spread) => self
                    .document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .map(|f| self.cost(&f.node.selection_set.node, estimate, depth + 1, root))
                    .unwrap_or(0),
            };
            total = total.saturating_add(cost);
        }
        total
    }

    /// A dataset field's selection: `nodes` and `groups` cost `rows` times their fields.
    fn rows_cost(
        &self,
        set: &SelectionSet,
        estimate: &mut Estimate,
        depth: usize,
        rows: u64,
    ) -> u64 {
        if depth > MAX_WALK {
            return MAX_COST + 1;
        }
        let mut total: u64 = 0;
        for item in &set.items {
            let cost = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    if field.alias.is_some() {
                        estimate.aliases += 1;
                    }
                    let inner = self.cost(&field.selection_set.node, estimate, depth + 1, false);
                    match field.name.node.as_str() {
                        "nodes" | "groups" => rows.saturating_mul(inner.max(1)).saturating_add(1),
                        _ => inner.saturating_add(1),
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.rows_cost(&fragment.node.selection_set.node, estimate, depth + 1, rows)
                }
                Selection::FragmentSpread(spread) => self
                    .document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .map(|f| self.rows_cost(&f.node.selection_set.node, estimate, depth + 1, rows))
                    .unwrap_or(0),
            };
            total = total.saturating_add(cost);
        }
        total
    }

    /// A whole-number argument (variables substituted); `None` when it is unknown (a
    /// variable not given). A value of another type costs nothing: validation refuses
    /// it before anything runs, with a message that names the argument, which a cost
    /// refusal would hide.
    fn number(&self, value: Result<Value, ()>) -> Option<u64> {
        match value.ok()? {
            Value::Number(n) => n.as_u64().or(n.as_i64().map(|_| 0)),
            Value::Null => Some(DEFAULT_FIRST),
            _ => Some(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> DatasetFields {
        DatasetFields {
            pages: HashSet::from(["t".to_owned()]),
            aggregates: HashSet::from(["t_aggregate".to_owned()]),
        }
    }

    fn estimate(query: &str, variables: serde_json::Value) -> Estimate {
        let document = async_graphql::parser::parse_query(query).unwrap_or_else(|e| panic!("{e}"));
        let variables = Variables::from_json(variables);
        estimates(&document, &variables, &fields()).remove(0)
    }

    #[test]
    fn rows_multiply_their_fields_and_variables_count() {
        let small = estimate(
            "{ t(first: 10) { nodes { a b c } pageInfo { hasNextPage } } }",
            serde_json::json!({}),
        );
        assert_eq!(small.cost, 1 + (10 * 3 + 1) + 2);
        assert_eq!(small.dataset_fields, 1);
        let wide = estimate(
            "query Q($n: Int) { t(first: $n) { ...F } } fragment F on X { nodes { a b c d e } }",
            serde_json::json!({"n": 100000}),
        );
        assert!(wide.cost > MAX_COST, "{wide:?}");
        let unknown = estimate(
            "query Q($n: Int) { t(first: $n) { nodes { a } } }",
            serde_json::json!({}),
        );
        assert!(
            unknown.cost > MAX_COST,
            "an unknown page size is the worst case"
        );
        let aliases = estimate(
            "{ a: t { nodes { x: a } } b: t_aggregate { groups { count } } me { subject } }",
            serde_json::json!({}),
        );
        assert_eq!(aliases.aliases, 3);
        assert_eq!(aliases.dataset_fields, 2);
    }

    #[test]
    fn deep_text_is_refused_before_parsing() {
        let deep = format!("{}{}", "{a".repeat(40), "}".repeat(40));
        assert!(check_nesting(&deep).is_err());
        assert!(check_nesting(r#"{ t(where: {a: {eq: "{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"}}) { nodes { a } } }"#).is_ok());
    }
}
