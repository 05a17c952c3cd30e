//! Table maintenance for every dataset in the catalogue: compaction of each
//! municipality's partition, a checkpoint and a vacuum by the retention policy (see
//! `dap_lake::maintain`). Run by `dap maintain` and on a schedule in `dap serve`.

use std::sync::Arc;

use dap_lake::Lake;
use dap_lake::maintain::{MaintenancePolicy, MaintenanceReport};
use dap_schema::DatasetDef;

/// Maintains each dataset's table; one table that fails does not stop the others.
pub async fn maintain_all(
    lake: &Arc<Lake>,
    datasets: &[Arc<DatasetDef>],
    policy: &MaintenancePolicy,
) -> Vec<(String, Result<MaintenanceReport, dap_lake::Error>)> {
    let partitions: Vec<String> = dap_schema::municipalities()
        .iter()
        .map(|m| m.code.to_string())
        .collect();
    let mut out = Vec::with_capacity(datasets.len());
    for dataset in datasets {
        let report = lake
            .maintain(dataset, partitions.clone(), policy.clone())
            .await;
        match &report {
            Ok(r) => tracing::info!(
                dataset = %dataset.id,
                files_before = r.files_before,
                files_after = r.files_after,
                vacuumed = r.files_vacuumed,
                "table maintained"
            ),
            Err(error) => tracing::warn!(dataset = %dataset.id, %error, "table maintenance failed"),
        }
        out.push((dataset.id.to_string(), report));
    }
    out
}
