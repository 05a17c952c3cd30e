//! GraphQL answers follow the query's selection order, at the root (dataset pages,
//! aggregates, `me`, `datasets`) and in every object below it, with aliases and
//! fragments: the specification requires it and positional clients rely on it.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::json;

use crate::helpers::spawn_app;

/// A JSON value that remembers the order of object keys (the workspace's serde_json
/// does not, and turning on `preserve_order` would change every crate's maps).
#[derive(Debug)]
enum Ordered {
    Object(Vec<(String, Ordered)>),
    List(Vec<Ordered>),
    Leaf,
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Ordered>()? {
                    entries.push((k, v));
                }
                Ok(Ordered::Object(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Ordered>()? {
                    items.push(item);
                }
                Ok(Ordered::List(items))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Ordered, E> {
                Ok(Ordered::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Ordered, E> {
                Ok(Ordered::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Ordered, E> {
                Ok(Ordered::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Ordered, E> {
                Ok(Ordered::Leaf)
            }
            fn visit_str<E>(self, _: &str) -> Result<Ordered, E> {
                Ok(Ordered::Leaf)
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Leaf)
            }
            fn visit_none<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Leaf)
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Ordered {
    fn get(&self, key: &str) -> Option<&Ordered> {
        match self {
            Self::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Self::List(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            Self::Leaf => None,
        }
    }

    /// The value at a `/`-separated path (list items by index).
    fn at(&self, path: &str) -> Option<&Ordered> {
        path.split('/')
            .filter(|p| !p.is_empty())
            .try_fold(self, |v, key| v.get(key))
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            Self::Object(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

/// Paths in a response, each with the keys of its object in the order they must come.
type Expected = Vec<(&'static str, Vec<&'static str>)>;

#[tokio::test]
async fn the_response_follows_the_selection_order_of_every_object() {
    let app = spawn_app().await;
    let token = app.analyst("0101");
    let cases: Vec<(&str, Expected)> = vec![
        (
            "{ oekonomi_posteringer(first: 2) { nodes { beloeb posteringsid } tableVersion } me { subject roles } datasets { title id } }",
            vec![
                ("data", vec!["oekonomi_posteringer", "me", "datasets"]),
                ("data/oekonomi_posteringer", vec!["nodes", "tableVersion"]),
                (
                    "data/oekonomi_posteringer/nodes/0",
                    vec!["beloeb", "posteringsid"],
                ),
                (
                    "data/oekonomi_posteringer/nodes/1",
                    vec!["beloeb", "posteringsid"],
                ),
                ("data/me", vec!["subject", "roles"]),
                ("data/datasets/0", vec!["title", "id"]),
            ],
        ),
        (
            "{ datasets { id } oekonomi_posteringer_aggregate(groupBy: [aar]) { groups { count key { aar } } tableVersion } me { roles subject } oekonomi_posteringer(first: 1) { pageInfo { endCursor hasNextPage } nodes { posteringsid beloeb } } }",
            vec![
                (
                    "data",
                    vec![
                        "datasets",
                        "oekonomi_posteringer_aggregate",
                        "me",
                        "oekonomi_posteringer",
                    ],
                ),
                ("data/me", vec!["roles", "subject"]),
                (
                    "data/oekonomi_posteringer_aggregate",
                    vec!["groups", "tableVersion"],
                ),
                (
                    "data/oekonomi_posteringer_aggregate/groups/0",
                    vec!["count", "key"],
                ),
                ("data/oekonomi_posteringer", vec!["pageInfo", "nodes"]),
                (
                    "data/oekonomi_posteringer/pageInfo",
                    vec!["endCursor", "hasNextPage"],
                ),
                (
                    "data/oekonomi_posteringer/nodes/0",
                    vec!["posteringsid", "beloeb"],
                ),
            ],
        ),
        (
            "query Q { ...Catalogue zz: me { subject } a: oekonomi_posteringer(first: 1) { nodes { funktion ... on OekonomiPosteringerRow { beloeb } aar } } me { roles } } fragment Catalogue on Query { datasets { id } }",
            vec![
                ("data", vec!["datasets", "zz", "a", "me"]),
                ("data/a/nodes/0", vec!["funktion", "beloeb", "aar"]),
            ],
        ),
    ];
    for (query, expected) in cases {
        let response = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&token)
            .json(&json!({"query": query}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200);
        let text = response.text().await.expect("body");
        let body: Ordered = serde_json::from_str(&text).expect("JSON");
        assert!(body.get("errors").is_none(), "{query}: {text}");
        for (path, keys) in expected {
            let value = body
                .at(path)
                .unwrap_or_else(|| panic!("{path} missing: {text}"));
            assert_eq!(value.keys(), keys, "{query}: {path} in {text}");
        }
    }
}
