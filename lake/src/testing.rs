//! Small Delta tables for the lake's own tests: the demo population schema, one row per
//! municipality and commit, change data feed on.

use std::path::Path;
use std::sync::Arc;

use dap_schema::{AccessScope, DatasetDef, MunicipalityCode, RowConstraint};
use deltalake::DeltaTable;
use deltalake::arrow::array::{Int32Array, Int64Array, StringArray};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::protocol::SaveMode;
use url::Url;

use crate::{Lake, LakeRuntime};

/// The demo population dataset, its table at `location` (relative to the lake root).
pub(crate) fn population(location: &str) -> DatasetDef {
    let mut def = crate::demo::datasets()
        .into_iter()
        .find(|d| d.id.as_str() == "borger.befolkning")
        .expect("demo dataset");
    def.location = location.to_owned();
    def
}

/// A lake rooted at `root`.
pub(crate) fn lake(root: &Path) -> Arc<Lake> {
    let runtime = Arc::new(LakeRuntime::new(1).expect("runtime"));
    Arc::new(Lake::local(root, runtime).expect("lake"))
}

/// Everything `code` may see of `def`, optionally narrowed by row constraints.
pub(crate) fn scope(def: &DatasetDef, code: &str, rows: Option<Vec<RowConstraint>>) -> AccessScope {
    let columns = def.columns.iter().map(|c| c.name.clone()).collect();
    let scope = AccessScope::granted_by_policy(
        Arc::new(def.clone()),
        MunicipalityCode::parse(code).expect("code"),
        columns,
        "tester".into(),
    );
    match rows {
        Some(rows) => scope.restricted_to(rows),
        None => scope,
    }
}

/// Appends one commit to the table at `root/location` (creating it): for each
/// `(municipality, sex)` one row, so tests can change one partition or one sex only.
pub(crate) async fn commit(root: &Path, location: &str, rows: &[(&str, &str)]) -> DeltaTable {
    let path = root.join(location);
    std::fs::create_dir_all(&path).expect("dir");
    let url = Url::from_directory_path(&path).expect("url");
    let table = match deltalake::open_table(url.clone()).await {
        Ok(existing) => existing,
        Err(_) => deltalake::DeltaTableBuilder::from_url(url)
            .expect("builder")
            .build()
            .expect("new table"),
    };
    let def = population(location);
    let n = rows.len();
    let batch = RecordBatch::try_new(
        crate::demo::arrow_schema(&def),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int32Array::from(vec![2026; n])),
            Arc::new(Int32Array::from(vec![1; n])),
            Arc::new(Int32Array::from(vec![40; n])),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from(vec![7; n])),
        ],
    )
    .expect("batch");
    table
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .with_partition_columns(["kommunekode"])
        .with_configuration([("delta.enableChangeDataFeed", Some("true"))])
        .await
        .expect("write")
}

/// The bytes of `range` of a Delta Sharing file, read as a download reads them.
pub(crate) async fn read_all(
    lake: &Arc<Lake>,
    body: &crate::files::FileBody,
    range: std::ops::Range<u64>,
) -> bytes::Bytes {
    use futures::TryStreamExt as _;
    let pieces: Vec<bytes::Bytes> = lake
        .read_file(body, range)
        .await
        .expect("read")
        .try_collect()
        .await
        .expect("pieces");
    bytes::Bytes::from(pieces.concat())
}
