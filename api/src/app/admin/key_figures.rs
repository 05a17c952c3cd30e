//! Key-figure definitions as platform operators manage them: register, replace, list and
//! remove. A definition is checked against the catalogue before it is stored; one that
//! would allow small groups (a disclosure minimum below 3, a missing or sensitive unit
//! column) or names columns that do not exist is refused with the reason.

use dap_auth::Principal;
use dap_lake::benchmark::KeyFigureDef;
use dap_openapi::model::key_figures::KeyFigureDefinitions;

use crate::app::access::operator;
use crate::app::{AppError, AuditFacts, Core};

/// A key-figure definition from its JSON form (a REST body).
pub fn definition(value: serde_json::Value) -> Result<KeyFigureDef, AppError> {
    serde_json::from_value(value)
        .map_err(|e| AppError::InvalidParameter(format!("not a key-figure definition: {e}")))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Core {
    /// Every stored key-figure definition (platform operators).
    pub async fn stored_key_figures(
        &self,
        principal: &Principal,
    ) -> Result<(KeyFigureDefinitions, AuditFacts), AppError> {
        operator(&self.operators, principal)?;
        let all = self.key_figures.all();
        let key_figures = all
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(AppError::internal)?;
        let facts = AuditFacts {
            rows_returned: Some(key_figures.len()),
            ..AuditFacts::default()
        };
        Ok((KeyFigureDefinitions { key_figures }, facts))
    }

    /// One stored definition (platform operators).
    pub async fn stored_key_figure(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<(serde_json::Value, AuditFacts), AppError> {
        operator(&self.operators, principal)?;
        let all = self.key_figures.all();
        let def = all
            .iter()
            .find(|d| d.id == id)
            .ok_or_else(|| self.key_figure_not_found(id))?;
        let value = serde_json::to_value(def).map_err(AppError::internal)?;
        Ok((value, AuditFacts::default()))
    }

    /// Registers or replaces key figure `id` (platform operators), after checking it
    /// against the catalogue. `def` is the decoded body, or why it is not a definition.
    pub async fn put_key_figure(
        &self,
        principal: &Principal,
        id: &str,
        def: Result<KeyFigureDef, AppError>,
    ) -> Result<(serde_json::Value, AuditFacts), AppError> {
        operator(&self.operators, principal)?;
        let def = def?;
        if !valid_id(id) {
            return Err(AppError::InvalidParameter(
                "a key figure id is 1 to 64 lower-case letters, digits and '-'".into(),
            ));
        }
        if def.id != id {
            return Err(AppError::InvalidParameter(format!(
                "the body's id '{}' differs from the path's '{id}'",
                def.id.chars().take(64).collect::<String>()
            )));
        }
        self.benchmark_scope(&def)?;
        let json = serde_json::to_string(&def).map_err(AppError::internal)?;
        self.control
            .put_key_figure(id, json, &principal.subject)
            .await?;
        self.key_figures.reload(&self.control).await?;
        let facts = AuditFacts {
            columns: Some(format!(
                "key figure {id}: {}({}.{}), at least {} units of {}",
                def.numerator.aggregate.as_str(),
                def.numerator.dataset,
                def.numerator.column,
                def.disclosure.min_units,
                def.disclosure.unit_column
            )),
            ..AuditFacts::default()
        };
        let value = serde_json::to_value(&def).map_err(AppError::internal)?;
        Ok((value, facts))
    }

    /// Removes key figure `id` (platform operators).
    pub async fn delete_key_figure(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<((), AuditFacts), AppError> {
        operator(&self.operators, principal)?;
        if !self.control.delete_key_figure(id).await? {
            return Err(self.key_figure_not_found(id));
        }
        self.key_figures.reload(&self.control).await?;
        let facts = AuditFacts {
            columns: Some(format!("key figure {id} removed")),
            ..AuditFacts::default()
        };
        Ok(((), facts))
    }
}
