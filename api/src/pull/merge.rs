//! Applying a change feed to a Delta mirror: one MERGE on the dataset's key columns.

use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitProperties;

use super::delta::CHANGE_COLUMNS;

/// MERGE the last change per key: deletes delete, inserts and post-images upsert. The
/// commit carries `properties` (the pulled version), so rows and version move together.
pub(super) async fn apply_changes(
    table: DeltaTable,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    keys: &[String],
    properties: CommitProperties,
) -> anyhow::Result<()> {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| !CHANGE_COLUMNS.contains(&n.as_str()))
        .collect();
    let quote = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    let ctx = SessionContext::new();
    ctx.register_table(
        "changes",
        Arc::new(MemTable::try_new(schema, vec![batches])?),
    )?;
    let keys_sql = keys.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ");
    let cols_sql = columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    // The last change per key wins. Within one commit an insert or post-image beats a
    // delete (a rewritten row), and a pre-image without a post-image (a row that left the
    // caller's municipality) counts as a delete.
    let latest = ctx
        .sql(&format!(
            "SELECT {cols_sql}, CASE WHEN \"_change_type\" = 'update_preimage' THEN 'delete' ELSE \"_change_type\" END AS \"_change_type\" FROM (\
               SELECT *, row_number() OVER (PARTITION BY {keys_sql} ORDER BY \"_commit_version\" DESC, \
                 CASE \"_change_type\" WHEN 'update_preimage' THEN 2 WHEN 'delete' THEN 1 ELSE 0 END) AS dap_rank \
               FROM changes) WHERE dap_rank = 1"
        ))
        .await?;
    let on = keys
        .iter()
        .map(|k| format!("target.{q} = source.{q}", q = quote(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let upsert = "source._change_type <> 'delete'";
    let columns_update = columns.clone();
    let columns_insert = columns;
    table
        .merge(latest, on)
        .with_source_alias("source")
        .with_target_alias("target")
        .when_matched_delete(|d| d.predicate("source._change_type = 'delete'"))?
        .when_matched_update(move |u| {
            columns_update.iter().fold(u.predicate(upsert), |u, c| {
                u.update(c.as_str(), format!("source.{}", quote(c)))
            })
        })?
        .when_not_matched_insert(move |i| {
            columns_insert.iter().fold(i.predicate(upsert), |i, c| {
                i.set(c.as_str(), format!("source.{}", quote(c)))
            })
        })?
        .with_commit_properties(properties)
        .await?;
    Ok(())
}
