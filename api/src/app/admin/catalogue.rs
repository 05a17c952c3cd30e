//! The catalogue as platform operators manage it: register and update datasets, classify
//! columns, map a read role to a dataset, declare data constraints on columns.

use dap_auth::Principal;
use dap_openapi::model::admin::Catalogue;
use dap_schema::{DatasetDef, DatasetId};

use crate::app::access::operator;
use crate::app::{AppError, AuditFacts, Core};

/// A dataset definition from its JSON form (a REST body).
pub fn definition(value: serde_json::Value) -> Result<DatasetDef, AppError> {
    serde_json::from_value(value)
        .map_err(|e| AppError::InvalidParameter(format!("not a dataset definition: {e}")))
}

/// What a definition must satisfy before it is stored.
fn validate(id: &str, def: &DatasetDef) -> Result<(), String> {
    DatasetId::parse(id).map_err(|e| e.to_string())?;
    if def.id.as_str() != id {
        return Err(format!(
            "the body's id '{}' differs from the path's '{id}'",
            def.id.as_str()
        ));
    }
    if def.domain != def.id.domain() {
        return Err(format!(
            "domain must be '{}', the id's first part",
            def.id.domain()
        ));
    }
    if def.location.trim().is_empty() || def.location.split(['/', '\\']).any(|s| s == "..") {
        return Err("location must be a URL or a path inside the lake root (no '..')".into());
    }
    validate_columns(def)?;
    if dap_auth::roles::short_name(&def.read_role).as_deref() != Some(def.read_role.as_str())
        || def.read_role.len() > 64
    {
        return Err("read_role must be a role short name, e.g. laes-oekonomi".into());
    }
    Ok(())
}

/// Columns: some, uniquely named; a string tenant column; key columns that exist.
fn validate_columns(def: &DatasetDef) -> Result<(), String> {
    if def.columns.is_empty() {
        return Err("a dataset needs columns".into());
    }
    let mut names: Vec<&str> = def.columns.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err("column names must be unique".into());
    }
    let tenant = def
        .columns
        .iter()
        .find(|c| c.name == def.tenant_column)
        .ok_or_else(|| format!("tenant_column '{}' is not a column", def.tenant_column))?;
    if tenant.data_type != dap_schema::ColumnType::String {
        return Err("the tenant column must be a string column (four-digit codes)".into());
    }
    for key in &def.key_columns {
        if !def.columns.iter().any(|c| &c.name == key) {
            return Err(format!("key column '{key}' is not a column"));
        }
    }
    Ok(())
}

impl Core {
    /// The whole catalogue as stored (platform operators).
    pub async fn stored_catalogue(
        &self,
        principal: &Principal,
    ) -> Result<(Catalogue, AuditFacts), AppError> {
        operator(&self.operators, principal)?;
        let datasets = self.control.load_catalogue().await?;
        let facts = AuditFacts {
            rows_returned: Some(datasets.len()),
            ..AuditFacts::default()
        };
        let datasets = datasets
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(AppError::internal)?;
        Ok((Catalogue { datasets }, facts))
    }

    /// Registers or replaces the definition of dataset `id` (platform operators); every
    /// replica picks it up within `lake.refresh_secs`, this one at once. `def` is the
    /// decoded input, or why it is not a definition: reported only to an operator.
    pub async fn put_dataset(
        &self,
        principal: &Principal,
        id: &str,
        def: Result<DatasetDef, AppError>,
    ) -> Result<(DatasetDef, AuditFacts), AppError> {
        operator(&self.operators, principal)?;
        let def = def?;
        validate(id, &def).map_err(AppError::InvalidParameter)?;
        // The table must exist and match the declared columns before anyone can read
        // it: a wrong definition is the operator's to fix now, not a 500 for readers.
        self.lake.check_table(&def).await?;
        self.control.upsert_dataset(&def).await?;
        self.catalogue.reload(&self.control).await?;
        self.forget_unlisted_tables();
        let facts = AuditFacts {
            columns: Some(format!(
                "catalogue: {} read by {} (min NSIS {})",
                def.id.as_str(),
                def.read_role,
                def.min_nsis
            )),
            ..AuditFacts::default()
        };
        Ok((def, facts))
    }

    /// Removes dataset `id` from the catalogue (platform operators): it answers 404 on
    /// every surface from now on; the table itself is left alone.
    pub async fn delete_dataset(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<((), AuditFacts), AppError> {
        operator(&self.operators, principal)?;
        let id = DatasetId::parse(id).map_err(|e| AppError::InvalidParameter(e.to_string()))?;
        if !self.control.delete_dataset(&id).await? {
            return Err(AppError::DatasetNotFound);
        }
        self.catalogue.reload(&self.control).await?;
        self.forget_unlisted_tables();
        let facts = AuditFacts {
            columns: Some(format!("catalogue: {} removed", id.as_str())),
            ..AuditFacts::default()
        };
        Ok(((), facts))
    }
}
