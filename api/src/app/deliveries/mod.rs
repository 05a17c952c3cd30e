//! Deliveries: a municipality's systems write their own rows to a dataset.
//!
//! The one write path, for every surface: [`Core::plan_delivery`] decides whether the
//! caller may deliver (the read scope as for reads: 404 for a dataset they may not see;
//! then a delivery right of their own, else 403) and checks the options; the surface
//! streams the file into an [`UploadSink`] (size limit, content hash); [`Core::deliver`]
//! validates the whole file, applies it as one Delta commit to the caller's partition
//! only, once per delivery id, and stores the receipt. The surface runs both inside
//! [`Core::audited`], so refusals are audited like deliveries.

mod options;
pub mod rights;
mod upload;

use std::sync::Arc;

use dap_auth::Principal;
use dap_lake::deliver::{self, Delivery, Format, Mode};
use dap_openapi::model::deliveries::{DeliveryReceipt, DeliveryReceiptList};
use dap_schema::AccessScope;
use dap_schema::deliveries::DeliveryReceipt as StoredReceipt;

pub use options::{DeliveryParams, format_of};
pub use upload::{Upload, UploadSink};

use super::{AppError, AuditFacts, Core};

/// Receipts listed at most.
const RECEIPTS_LISTED: u64 = 1000;

/// How deliveries are received.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Largest file accepted, in bytes (larger: 413).
    pub max_bytes: u64,
    /// Most rows one delivery may hold (more: refused whole).
    pub max_rows: u64,
    /// Where uploads and staged files are kept while a delivery runs (the system's
    /// temporary directory when `None`).
    pub staging_dir: Option<std::path::PathBuf>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_bytes: 512 * 1024 * 1024,
            max_rows: 5_000_000,
            staging_dir: None,
        }
    }
}

/// A delivery the caller may make, with its options checked; the file comes next.
#[derive(Debug)]
pub struct DeliveryPlan {
    scope: AccessScope,
    mode: Mode,
    delivery_id: Option<String>,
    format: Format,
    by: String,
}

impl Core {
    /// Decides whether the caller may deliver `dataset` and checks the options, before
    /// any byte of the file is read.
    pub async fn plan_delivery(
        &self,
        principal: &Principal,
        dataset: &str,
        params: &DeliveryParams,
        content_type: Option<&str>,
    ) -> Result<DeliveryPlan, AppError> {
        let scope = self.scope(principal, dataset, params.municipality.as_deref())?;
        // A role narrowed by data constraints sees only some rows of the partition; a
        // delivery could change the others.
        if scope.row_constraints().is_some() {
            return Err(AppError::Forbidden(
                "your role is restricted by data constraints to part of the municipality's rows; deliveries need the unrestricted role".into(),
            ));
        }
        let municipality = scope.municipality().to_string();
        let may = self
            .control
            .may_deliver(
                dataset,
                &municipality,
                &principal.issuer,
                &principal.subject,
            )
            .await?;
        if !may {
            return Err(AppError::Forbidden(format!(
                "you have no delivery right for {dataset} in municipality {municipality}; your municipality's IT administration grants it (POST /api/v1/admin/delivery-rights)"
            )));
        }
        let format = format_of(content_type)?;
        let mode = params.mode(scope.dataset())?;
        let delivery_id = params.delivery_id()?;
        Ok(DeliveryPlan {
            scope,
            mode,
            delivery_id,
            format,
            by: principal.subject.chars().take(512).collect(),
        })
    }

    /// Where this replica receives a delivery's file: a fresh temporary directory.
    pub fn upload_sink(&self) -> Result<UploadSink, AppError> {
        UploadSink::create(
            self.deliveries.staging_dir.as_deref(),
            self.deliveries.max_bytes,
        )
    }

    /// Validates the received file and applies it once; answers with the receipt.
    pub async fn deliver(
        &self,
        plan: DeliveryPlan,
        upload: Upload,
    ) -> Result<(DeliveryReceipt, AuditFacts), AppError> {
        let dataset = plan.scope.dataset().id.to_string();
        let municipality = plan.scope.municipality().to_string();
        let fingerprint = fingerprint(&upload.sha256, &plan.mode);
        let delivery_id = plan
            .delivery_id
            .clone()
            .unwrap_or_else(|| format!("sha256-{fingerprint}"));
        let mode = plan.mode.name();
        if let Some(stored) = self
            .control
            .delivery_receipt(&dataset, &municipality, &delivery_id)
            .await?
        {
            let applied = Recorded {
                mode: Some(&stored.mode),
                fingerprint: stored.fingerprint.as_deref(),
            };
            if !applied.is(mode, &fingerprint) {
                return Err(id_in_use(
                    &delivery_id,
                    plan.delivery_id.is_some(),
                    Some(&stored),
                ));
            }
            let receipt = wire(&stored, true);
            return Ok((receipt.clone(), facts(&receipt)));
        }
        let staged = upload.dir.path().join("staged.parquet");
        let rows = {
            let def = plan.scope.dataset().clone();
            let (tenant, mode, format) = (municipality.clone(), plan.mode.clone(), plan.format);
            let (input, output) = (upload.path.clone(), staged.clone());
            let max_rows = self.deliveries.max_rows;
            tokio::task::spawn_blocking(move || {
                deliver::stage(&def, &tenant, &mode, format, &input, &output, max_rows)
            })
            .await
            .map_err(AppError::internal)??
            .map_err(AppError::DeliveryRejected)?
        };
        let delivery = Delivery {
            id: delivery_id.clone(),
            mode: plan.mode.clone(),
            staged,
            rows,
            by: plan.by.clone(),
            fingerprint: fingerprint.clone(),
        };
        let applied = Arc::clone(&self.lake)
            .deliver(&plan.scope, delivery)
            .await?;
        // Applied before, its receipt lost: the commit says what was delivered.
        let recorded = Recorded {
            mode: applied.mode.as_deref(),
            fingerprint: applied.fingerprint.as_deref(),
        };
        if applied.replayed && !recorded.is(mode, &fingerprint) {
            return Err(id_in_use(&delivery_id, plan.delivery_id.is_some(), None));
        }
        let stored = StoredReceipt {
            dataset,
            municipality,
            delivery_id,
            mode: plan.mode.name().to_owned(),
            table_version: i64::try_from(applied.version).unwrap_or(i64::MAX),
            rows_inserted: signed(applied.inserted),
            rows_updated: signed(applied.updated),
            rows_deleted: signed(applied.deleted),
            delivered_at: applied.committed_at,
            delivered_by: plan.by,
            fingerprint: recorded.fingerprint.map(str::to_owned),
        };
        self.control.insert_delivery_receipt(stored.clone()).await?;
        // A concurrent retry may have stored its receipt first: answer with the stored one.
        let stored = self
            .control
            .delivery_receipt(&stored.dataset, &stored.municipality, &stored.delivery_id)
            .await?
            .unwrap_or(stored);
        let receipt = wire(&stored, applied.replayed);
        drop(upload);
        Ok((receipt.clone(), facts(&receipt)))
    }

    /// The receipts of the caller's municipality for `dataset`, newest first. Readable
    /// by whoever may read all of the dataset's rows for the municipality.
    pub async fn list_deliveries(
        &self,
        principal: &Principal,
        dataset: &str,
        municipality: Option<&str>,
    ) -> Result<(DeliveryReceiptList, AuditFacts), AppError> {
        let scope = self.scope(principal, dataset, municipality)?;
        // A receipt counts rows of the whole partition and dates its commit: a reader
        // narrowed to some rows may learn neither of the others' (their history is not
        // theirs, invariant 8).
        if scope.row_constraints().is_some() {
            return Err(AppError::Forbidden(
                "your role is restricted by data constraints to part of the municipality's rows; delivery receipts count and date the whole municipality's rows, so only an unrestricted role may list them".into(),
            ));
        }
        let stored = self
            .control
            .delivery_receipts(dataset, scope.municipality().as_str(), RECEIPTS_LISTED)
            .await?;
        let facts = AuditFacts {
            municipality: Some(scope.municipality().to_string()),
            rows_returned: Some(stored.len()),
            ..AuditFacts::default()
        };
        let receipts = stored.iter().map(|r| wire(r, false)).collect();
        Ok((DeliveryReceiptList { receipts }, facts))
    }
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

/// What a delivery is, beyond its id: the file's SHA-256 for an upsert (the id a
/// delivery without one has always had), else a SHA-256 of that with the mode and the
/// period, so that the same file deleted or replacing another period is another delivery.
fn fingerprint(file_sha256: &str, mode: &Mode) -> String {
    use sha2::{Digest, Sha256};
    let described = match mode {
        Mode::Upsert => return file_sha256.to_owned(),
        Mode::Delete => format!("{file_sha256}\ndelete"),
        Mode::Replace(period) => format!("{file_sha256}\nreplace\n{period}"),
    };
    Sha256::digest(described.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a delivery applied before under an id was, as far as it was recorded.
struct Recorded<'a> {
    mode: Option<&'a str>,
    fingerprint: Option<&'a str>,
}

impl Recorded<'_> {
    /// Whether it was the delivery of `mode` and `fingerprint` (a retry). A record
    /// without a fingerprint (written before they were kept) is compared by its mode; one
    /// without either cannot tell, and is taken as the same delivery, as before.
    fn is(&self, mode: &str, fingerprint: &str) -> bool {
        match (self.fingerprint, self.mode) {
            (Some(recorded), _) => recorded == fingerprint,
            (None, Some(recorded)) => recorded == mode,
            (None, None) => true,
        }
    }
}

/// The refusal of a delivery sent under the id of another one (`chosen`: the caller
/// named the id; otherwise it is the default one, of an older delivery of the same file).
fn id_in_use(id: &str, chosen: bool, stored: Option<&StoredReceipt>) -> AppError {
    let when = stored.map_or_else(String::new, |r| {
        format!(
            " (a {} delivery at table version {}, {})",
            r.mode,
            r.table_version,
            r.delivered_at.to_rfc3339()
        )
    });
    if !chosen {
        return AppError::DeliveryIdInUse(format!(
            "this file was applied before in another mode under the default delivery id '{id}'{when}; nothing was written. Give this delivery a new delivery_id of its own"
        ));
    }
    AppError::DeliveryIdInUse(format!(
        "delivery_id '{id}' names a delivery applied before{when} with another file, mode or period; nothing was written. Resend that delivery unchanged to get its receipt, or give this one a new delivery_id"
    ))
}

fn wire(r: &StoredReceipt, replayed: bool) -> DeliveryReceipt {
    DeliveryReceipt {
        dataset: r.dataset.clone(),
        municipality: r.municipality.clone(),
        delivery_id: r.delivery_id.clone(),
        mode: r.mode.clone(),
        table_version: unsigned(r.table_version),
        rows_inserted: unsigned(r.rows_inserted),
        rows_updated: unsigned(r.rows_updated),
        rows_deleted: unsigned(r.rows_deleted),
        delivered_at: r.delivered_at,
        replayed,
    }
}

fn facts(r: &DeliveryReceipt) -> AuditFacts {
    AuditFacts {
        municipality: Some(r.municipality.clone()),
        table_version: Some(r.table_version),
        columns: Some(format!(
            "delivery {} ({}{}): {} inserted, {} updated, {} deleted",
            r.delivery_id,
            r.mode,
            if r.replayed { ", applied before" } else { "" },
            r.rows_inserted,
            r.rows_updated,
            r.rows_deleted
        )),
        ..AuditFacts::default()
    }
}
