//! The municipality's own settings: datasets switched off, a higher NSIS requirement.

use chrono::Utc;
use dap_auth::Principal;
use dap_openapi::model::admin::{NewSettings, Settings};
use dap_schema::NsisLevel;
use dap_schema::admin::MunicipalitySettings;

use super::{changed, known_datasets, same_municipality, split};
use crate::app::access::administered;
use crate::app::{AppError, AuditFacts, Core};

/// The settings as administrators see them; a municipality without stored settings has
/// the platform's defaults.
fn view(municipality: &str, stored: Option<MunicipalitySettings>) -> Settings {
    match stored {
        Some(s) => Settings {
            municipality: s.municipality,
            disabled_datasets: split(&s.disabled_datasets),
            min_nsis: s.min_nsis,
            updated_at: Some(s.updated_at),
            updated_by: Some(s.updated_by),
        },
        None => Settings {
            municipality: municipality.into(),
            disabled_datasets: Vec::new(),
            min_nsis: None,
            updated_at: None,
            updated_by: None,
        },
    }
}

impl Core {
    /// The administered municipality's settings.
    pub fn municipality_settings(
        &self,
        principal: &Principal,
        acting: Option<&str>,
    ) -> Result<(Settings, AuditFacts), AppError> {
        let m = administered(principal, acting)?;
        let facts = AuditFacts {
            municipality: Some(m.to_string()),
            ..AuditFacts::default()
        };
        Ok((view(m.as_str(), self.admin.settings_of(m.as_str())), facts))
    }

    /// Replaces the administered municipality's settings; this replica applies them at
    /// once, the others within `lake.refresh_secs`.
    pub async fn replace_settings(
        &self,
        principal: &Principal,
        acting: Option<&str>,
        input: NewSettings,
    ) -> Result<(Settings, AuditFacts), AppError> {
        let m = administered(principal, acting)?;
        same_municipality(input.municipality.as_deref(), m.as_str())?;
        let disabled = if input.disabled_datasets.is_empty() {
            Vec::new()
        } else {
            let is_known = |id: &str| self.catalogue.get(id).is_some();
            known_datasets("disabled_datasets", is_known, &input.disabled_datasets)?
        };
        let min_nsis = match input.min_nsis.as_deref() {
            Some(level) => Some(
                level
                    .parse::<NsisLevel>()
                    .map_err(|e| AppError::invalid("min_nsis", e.to_string()))?
                    .to_string(),
            ),
            None => None,
        };
        let stored = MunicipalitySettings {
            municipality: m.to_string(),
            disabled_datasets: disabled.join(","),
            min_nsis,
            updated_at: Utc::now(),
            updated_by: principal.subject.chars().take(512).collect(),
        };
        self.control
            .put_municipality_settings(stored.clone())
            .await?;
        self.admin.reload(&self.control).await?;
        let facts = changed(
            m.as_str(),
            format!(
                "settings: disabled [{}], min_nsis {}",
                stored.disabled_datasets,
                stored.min_nsis.as_deref().unwrap_or("default")
            ),
        );
        Ok((view(m.as_str(), Some(stored)), facts))
    }
}
