//! What a mirror mirrors: server, dataset, municipality and columns. Kept as `dap.mirror.*`
//! table properties in the Delta log (and in the state file of a Parquet mirror), so a
//! mirror copied elsewhere still knows what it is, and a pull that would mix two sources
//! in one table can be refused before it writes anything.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use url::Url;

const SERVER: &str = "dap.mirror.server";
const DATASET: &str = "dap.mirror.dataset";
const MUNICIPALITY: &str = "dap.mirror.municipality";
const COLUMNS: &str = "dap.mirror.columns";
const KEYS: [&str; 4] = [SERVER, DATASET, MUNICIPALITY, COLUMNS];

/// One column as the server describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

/// The source of a mirror's rows. Two pulls may write into one table only when their
/// identities are equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct MirrorIdentity {
    pub server: String,
    pub dataset: String,
    pub municipality: String,
    pub columns: Vec<Column>,
}

impl MirrorIdentity {
    /// The identity of a pull from `server`; the base URL is kept without query, fragment or
    /// credentials and with one trailing slash, so `http://h:8080` and `http://h:8080/` agree.
    pub fn new(server: &Url, dataset: &str, municipality: &str, columns: Vec<Column>) -> Self {
        let mut base = server.clone();
        base.set_query(None);
        base.set_fragment(None);
        // Neither can fail on a URL that has a host; a URL without one keeps its text.
        let _ = base.set_username("");
        let _ = base.set_password(None);
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Self {
            server: base.to_string(),
            dataset: dataset.to_owned(),
            municipality: municipality.to_owned(),
            columns,
        }
    }

    /// The Delta application id under which the pulled version is recorded.
    pub fn app_id(&self) -> String {
        format!("dap-pull:{}:{}", self.dataset, self.municipality)
    }

    /// The `dap.mirror.*` table properties.
    pub fn to_properties(&self) -> anyhow::Result<HashMap<String, String>> {
        Ok(HashMap::from([
            (SERVER.to_owned(), self.server.clone()),
            (DATASET.to_owned(), self.dataset.clone()),
            (MUNICIPALITY.to_owned(), self.municipality.clone()),
            (COLUMNS.to_owned(), serde_json::to_string(&self.columns)?),
        ]))
    }

    /// The identity a table's properties record: `None` when it records none at all (a
    /// table not made by dap pull), an error when it records only part of one.
    pub fn from_properties(properties: &HashMap<String, String>) -> Option<anyhow::Result<Self>> {
        if KEYS.iter().all(|k| !properties.contains_key(*k)) {
            return None;
        }
        let get = |key: &str| {
            properties
                .get(key)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("the table property {key} is missing"))
        };
        Some((|| {
            let columns = serde_json::from_str(&get(COLUMNS)?)
                .map_err(|e| anyhow::anyhow!("the table property {COLUMNS} is not valid: {e}"))?;
            Ok(Self {
                server: get(SERVER)?,
                dataset: get(DATASET)?,
                municipality: get(MUNICIPALITY)?,
                columns,
            })
        })())
    }

    /// What differs between this recorded identity and the one a pull asks for, one
    /// phrase per property; empty when they are equal.
    pub fn differences(&self, wanted: &Self) -> Vec<String> {
        let mut out = Vec::new();
        for (what, mine, theirs) in [
            ("server", &self.server, &wanted.server),
            ("dataset", &self.dataset, &wanted.dataset),
            ("municipality", &self.municipality, &wanted.municipality),
        ] {
            if mine != theirs {
                out.push(format!(
                    "{what}: {mine} in the mirror, {theirs} in this pull"
                ));
            }
        }
        if self.columns != wanted.columns {
            out.push(format!(
                "columns: {}",
                column_changes(&self.columns, &wanted.columns)
            ));
        }
        out
    }
}

/// Which columns only the mirror has, which only the server sends, which changed type.
fn column_changes(mine: &[Column], theirs: &[Column]) -> String {
    let find = |cols: &[Column], name: &str| cols.iter().find(|c| c.name == name).cloned();
    let mut parts = Vec::new();
    let only_mine: Vec<&str> = mine
        .iter()
        .filter(|c| find(theirs, &c.name).is_none())
        .map(|c| c.name.as_str())
        .collect();
    if !only_mine.is_empty() {
        parts.push(format!(
            "the mirror has {} and this pull does not",
            only_mine.join(", ")
        ));
    }
    let only_theirs: Vec<&str> = theirs
        .iter()
        .filter(|c| find(mine, &c.name).is_none())
        .map(|c| c.name.as_str())
        .collect();
    if !only_theirs.is_empty() {
        parts.push(format!(
            "this pull has {} and the mirror does not",
            only_theirs.join(", ")
        ));
    }
    for c in mine {
        if let Some(t) = find(theirs, &c.name).filter(|t| t.data_type != c.data_type) {
            parts.push(format!(
                "{} is {} in the mirror and {} now",
                c.name, c.data_type, t.data_type
            ));
        }
    }
    if parts.is_empty() {
        parts.push("the same columns in another order".into());
    }
    parts.join("; ")
}

/// The error of a pull whose identity differs from the mirror's.
pub(super) fn refusal(
    dir: &Path,
    recorded: &MirrorIdentity,
    differences: &[String],
) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is a mirror of dataset {} for municipality {} from server {}, and this pull differs \
         ({}). Refusing to mix them in one table: pull into another folder, or pass --replace to \
         replace the mirror's contents with a full pull (one commit).",
        dir.display(),
        recorded.dataset,
        recorded.municipality,
        recorded.server,
        differences.join("; "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, data_type: &str) -> Column {
        Column {
            name: name.into(),
            data_type: data_type.into(),
        }
    }

    fn identity(municipality: &str, columns: Vec<Column>) -> MirrorIdentity {
        let server = Url::parse("http://dap.example:8080").expect("url");
        MirrorIdentity::new(&server, "aeldre.hjemmepleje", municipality, columns)
    }

    #[test]
    fn properties_round_trip_and_partial_properties_are_an_error() {
        let id = identity(
            "0101",
            vec![col("kommunekode", "string"), col("cpr", "string")],
        );
        let props = id.to_properties().expect("props");
        assert_eq!(props["dap.mirror.server"], "http://dap.example:8080/");
        let back = MirrorIdentity::from_properties(&props)
            .expect("some")
            .expect("ok");
        assert_eq!(back, id);

        assert!(MirrorIdentity::from_properties(&HashMap::new()).is_none());
        let mut partial = props.clone();
        partial.remove("dap.mirror.columns");
        let error = MirrorIdentity::from_properties(&partial)
            .expect("some")
            .expect_err("partial");
        assert!(error.to_string().contains("dap.mirror.columns"), "{error}");
    }

    #[test]
    fn the_server_url_is_normalised_but_not_guessed() {
        let a = MirrorIdentity::new(
            &Url::parse("http://h:1/dap?x=1").expect("url"),
            "d",
            "0101",
            vec![],
        );
        let b = MirrorIdentity::new(
            &Url::parse("http://u:p@h:1/dap/").expect("url"),
            "d",
            "0101",
            vec![],
        );
        assert_eq!(a, b);
        let c = MirrorIdentity::new(
            &Url::parse("http://localhost:1/dap/").expect("url"),
            "d",
            "0101",
            vec![],
        );
        assert_eq!(a.differences(&c).len(), 1);
    }

    #[test]
    fn differences_name_each_property_and_each_column() {
        let mine = identity("0101", vec![col("a", "int32"), col("cpr", "string")]);
        let theirs = identity("0147", vec![col("a", "int64"), col("b", "date")]);
        let diffs = mine.differences(&theirs);
        assert_eq!(diffs.len(), 2, "{diffs:?}");
        assert_eq!(
            diffs[0],
            "municipality: 0101 in the mirror, 0147 in this pull"
        );
        assert!(diffs[1].contains("the mirror has cpr"), "{}", diffs[1]);
        assert!(diffs[1].contains("this pull has b"), "{}", diffs[1]);
        assert!(
            diffs[1].contains("a is int32 in the mirror and int64 now"),
            "{}",
            diffs[1]
        );
        assert!(mine.differences(&mine).is_empty());
        let reordered = identity("0101", vec![col("cpr", "string"), col("a", "int32")]);
        assert_eq!(
            mine.differences(&reordered),
            vec!["columns: the same columns in another order".to_owned()]
        );
    }

    #[test]
    fn the_refusal_names_the_flag() {
        let mine = identity("0101", vec![]);
        let theirs = identity("0147", vec![]);
        let text = refusal(Path::new("/m"), &mine, &mine.differences(&theirs)).to_string();
        assert!(text.contains("0101") && text.contains("0147") && text.contains("--replace"));
    }
}
