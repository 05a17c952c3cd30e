//! Response fields in the order the query selected them, as the GraphQL specification
//! requires ("Serialized Map Ordering"): clients that read a response positionally, and
//! people reading it, rely on it.
//!
//! async-graphql resolves the fields of a query object concurrently and inserts each
//! result when its future finishes, so a cheap field (`me`) lands before a dataset page
//! that was selected first. The executor is not ours to change; instead the executed
//! response is put back into selection order here, for every object at every depth,
//! from the same parsed document the executor ran.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{Name, Value};

/// Fragment nesting beyond which the plan stops (such a query fails validation anyway).
const MAX_DEPTH: usize = 64;

/// The response keys of one selection, in order, each with the plan of its own value.
#[derive(Debug, Default)]
struct Plan {
    keys: Vec<(Name, Plan)>,
}

impl Plan {
    /// Merges `set` (with its fragments expanded) into the plan: a response key keeps the
    /// place of its first occurrence, and its sub-selections merge, as in the
    /// specification's CollectFields.
    fn collect(&mut self, document: &ExecutableDocument, set: &SelectionSet, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let key = &field.node.response_key().node;
                    let index = match self.keys.iter().position(|(k, _)| k == key) {
                        Some(index) => index,
                        None => {
                            self.keys.push((key.clone(), Plan::default()));
                            self.keys.len() - 1
                        }
                    };
                    if let Some((_, child)) = self.keys.get_mut(index) {
                        child.collect(document, &field.node.selection_set.node, depth + 1);
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.collect(document, &fragment.node.selection_set.node, depth + 1);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node)
                    {
                        self.collect(document, &fragment.node.selection_set.node, depth + 1);
                    }
                }
            }
        }
    }

    /// Puts `value`'s objects (in lists too) into the plan's order; keys the plan does
    /// not know (none are expected) keep their place after the known ones.
    fn apply(&self, value: &mut Value) {
        match value {
            Value::List(items) => items.iter_mut().for_each(|item| self.apply(item)),
            Value::Object(map) if !self.keys.is_empty() => {
                let position = |key: &Name| {
                    self.keys
                        .iter()
                        .position(|(k, _)| k == key)
                        .unwrap_or(usize::MAX)
                };
                // Mostly in order already (the cells of a row): then nothing moves. A
                // stable sort keeps unknown keys in their order after the known ones.
                if !map.keys().map(position).is_sorted() {
                    map.sort_by_cached_key(|key, _| position(key));
                }
                for (key, field) in map.iter_mut() {
                    if let Some((_, child)) = self.keys.iter().find(|(k, _)| k == key) {
                        child.apply(field);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Reorders `data`, the result of the operation `operation` (or the only one) of
/// `document`, into selection order.
pub fn in_selection_order(
    document: &ExecutableDocument,
    operation: Option<&str>,
    data: &mut Value,
) {
    let selected = match &document.operations {
        DocumentOperations::Single(op) => Some(op),
        DocumentOperations::Multiple(ops) => match operation {
            Some(name) => ops.get(name),
            None if ops.len() == 1 => ops.values().next(),
            None => None,
        },
    };
    if let Some(op) = selected {
        let mut plan = Plan::default();
        plan.collect(document, &op.node.selection_set.node, 0);
        plan.apply(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(value: &Value) -> Vec<String> {
        match value {
            Value::Object(map) => map.keys().map(ToString::to_string).collect(),
            _ => Vec::new(),
        }
    }

    fn object(entries: &[(&str, Value)]) -> Value {
        Value::Object(
            entries
                .iter()
                .map(|(k, v)| (Name::new(k), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn objects_lists_aliases_and_fragments_follow_the_selection() {
        let document = async_graphql::parser::parse_query(
            "query A { t { nodes { b a } } ...F x: me { s } } fragment F on Query { datasets { id } }",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // As the executor may finish them: cheapest first, row fields in schema order.
        let row = object(&[("a", Value::from(1)), ("b", Value::from(2))]);
        let mut data = object(&[
            ("x", object(&[("s", Value::from("me"))])),
            (
                "datasets",
                Value::List(vec![object(&[("id", Value::from("d"))])]),
            ),
            (
                "t",
                object(&[("nodes", Value::List(vec![row.clone(), row]))]),
            ),
        ]);
        in_selection_order(&document, Some("A"), &mut data);
        assert_eq!(keys(&data), ["t", "datasets", "x"]);
        let Value::Object(map) = &data else {
            panic!("object")
        };
        let nodes = map.get("t").map(|t| match t {
            Value::Object(t) => t.get("nodes").cloned(),
            _ => None,
        });
        let Some(Some(Value::List(rows))) = nodes else {
            panic!("rows")
        };
        assert!(rows.iter().all(|r| keys(r) == ["b", "a"]));
    }

    /// Keys the selection does not name keep their order after the named ones; objects
    /// already in order stay as they are, nested ones are still put in order.
    #[test]
    fn unknown_keys_follow_in_their_order_and_ordered_objects_stay() {
        let document = async_graphql::parser::parse_query("{ c a { y x } b }")
            .unwrap_or_else(|e| panic!("{e}"));
        let inner = || object(&[("x", Value::from(1)), ("y", Value::from(2))]);
        let mut data = object(&[
            ("u", Value::from(0)),
            ("b", Value::from(1)),
            ("a", inner()),
            ("v", Value::from(2)),
            ("c", Value::from(3)),
        ]);
        in_selection_order(&document, None, &mut data);
        assert_eq!(keys(&data), ["c", "a", "b", "u", "v"]);
        let mut ordered = object(&[("c", Value::from(3)), ("a", inner()), ("b", Value::from(1))]);
        in_selection_order(&document, None, &mut ordered);
        assert_eq!(keys(&ordered), ["c", "a", "b"]);
        for data in [&data, &ordered] {
            let Value::Object(map) = data else {
                panic!("object")
            };
            assert_eq!(keys(&map["a"]), ["y", "x"]);
        }
    }
}
