//! Administration: municipal IT administrators manage their municipality's machine
//! clients, personal tokens, settings and delegations and read its audit log; platform
//! operators manage the catalogue.
//!
//! A municipal administrator acts for exactly one municipality where they hold
//! `it-administration` ([`super::access::administered`]); every query and change is
//! confined to it, whatever an input says. Another municipality's records are
//! [`AppError::NotFound`], like records that do not exist.

pub mod audit_log;
pub mod catalogue;
pub mod clients;
pub mod delegations;
pub mod key_figures;
pub mod settings;
pub mod tokens;

use super::AppError;

/// An input may repeat the municipality (scripts do), but never name another one.
pub fn same_municipality(named: Option<&str>, acting: &str) -> Result<(), AppError> {
    match named {
        Some(named) if named != acting => Err(AppError::Forbidden(format!(
            "you administer {acting}; a request cannot name municipality '{}'",
            named.chars().take(8).collect::<String>()
        ))),
        _ => Ok(()),
    }
}

/// The dataset ids of input field `field`, without repeats: 1 to 100, each in the
/// catalogue (`is_known`).
pub fn known_datasets(
    field: &'static str,
    is_known: impl Fn(&str) -> bool,
    datasets: &[String],
) -> Result<Vec<String>, AppError> {
    if datasets.is_empty() || datasets.len() > 100 {
        return Err(AppError::invalid(field, "name 1 to 100 datasets"));
    }
    let mut out = Vec::new();
    for id in datasets {
        if !is_known(id) {
            return Err(AppError::invalid(
                field,
                format!(
                    "dataset '{}' is not in the catalogue: see GET /api/v1/datasets",
                    id.chars().take(130).collect::<String>()
                ),
            ));
        }
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    Ok(out)
}

/// A comma-separated list as stored in the control plane.
pub(crate) fn split(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Audit facts of a change in `municipality`, described by `what`.
fn changed(municipality: &str, what: String) -> super::AuditFacts {
    super::AuditFacts {
        municipality: Some(municipality.to_owned()),
        columns: Some(what),
        ..super::AuditFacts::default()
    }
}

/// Audit facts of a listing of `rows` records of `municipality`.
fn listed(municipality: &str, rows: usize) -> super::AuditFacts {
    super::AuditFacts {
        municipality: Some(municipality.to_owned()),
        rows_returned: Some(rows),
        ..super::AuditFacts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_may_repeat_the_municipality_but_not_name_another() {
        assert!(same_municipality(None, "0101").is_ok());
        assert!(same_municipality(Some("0101"), "0101").is_ok());
        let error = same_municipality(Some("0751"), "0101").unwrap_err();
        assert_eq!(error.code(), "forbidden");
        assert!(error.to_string().contains("'0751'"), "{error}");
    }

    #[test]
    fn datasets_must_be_known_and_are_deduplicated() {
        let known = |id: &str| id.starts_with("oekonomi.");
        let ids = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let got = known_datasets(
            "datasets",
            known,
            &ids(&["oekonomi.a", "oekonomi.b", "oekonomi.a"]),
        );
        assert_eq!(got.unwrap(), ids(&["oekonomi.a", "oekonomi.b"]));
        let unknown =
            known_datasets("datasets", known, &ids(&["oekonomi.a", "borger.x"])).unwrap_err();
        assert!(unknown.to_string().contains("'borger.x'"), "{unknown}");
        assert_eq!(
            unknown.field(),
            Some(&crate::app::InputField::Named("datasets"))
        );
        assert_eq!(
            known_datasets("datasets", known, &[]).unwrap_err().code(),
            "invalid_parameter"
        );
    }
}
