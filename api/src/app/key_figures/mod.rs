//! Key figures: the one operation that reads across municipalities (DESIGN invariant 9).
//!
//! **Who may see them**: every authenticated caller acting for a municipality (a person,
//! a machine client or a personal access token), whatever its read roles: key figures
//! are shared among the municipalities, and they are aggregates after disclosure control.
//! No read role on the underlying datasets is needed, and none is granted by this path.
//!
//! The computation runs in the lake through a [`BenchmarkScope`], which only this module
//! creates (from a catalogue definition). It returns suppressed aggregates, never rows.
//! The suppression is computed once over the whole table (all municipalities, all
//! dimension values), so no request parameter changes which cells are withheld: a filter
//! or a comparison group only chooses which of the same published cells to show, and
//! group statistics (rank, quartiles) use published cells only. The totals of the
//! fixed groups (the five regions, the size bands, the country) are part of that one
//! suppression, so two requests (say, a region and a size band) show cells of one
//! protected table and cannot be differenced; a caller-chosen group gets no total.

pub mod export;
mod shape;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use dap_auth::Principal;
use dap_lake::benchmark::{BenchmarkScope, BenchmarkTable, KeyFigureDef, SizeBands};
use dap_lake::predicate::{FilterSpec, Operator};
use dap_openapi::model::key_figures::{KeyFigureList, KeyFigureTable};
use dap_schema::{ControlPlane, MunicipalityCode};

use super::{AppError, AuditFacts, Core};

/// The key-figure definitions of the catalogue, and the tables computed from them (per
/// definition and source table versions).
#[derive(Debug, Default)]
pub struct KeyFigures {
    definitions: RwLock<Arc<Vec<KeyFigureDef>>>,
    computed: Arc<Mutex<HashMap<String, Computed>>>,
    /// One computation at a time per key figure: requests that find the table out of
    /// date wait for the one computing it instead of each reading every partition.
    computing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A computed table and what it was computed from.
type Computed = (KeyFigureDef, Vec<u64>, Arc<BenchmarkTable>);

impl KeyFigures {
    /// Replaces the served definitions with the stored ones. A stored definition that no
    /// longer parses is skipped (and logged): it serves nothing until an operator fixes it.
    pub async fn reload(&self, control: &ControlPlane) -> dap_schema::Result<()> {
        let mut fresh = Vec::new();
        for stored in control.key_figures().await? {
            match serde_json::from_str::<KeyFigureDef>(&stored.definition) {
                Ok(def) => fresh.push(def),
                Err(error) => {
                    tracing::warn!(id = %stored.id, %error, "stored key figure does not parse")
                }
            }
        }
        if let Ok(mut definitions) = self.definitions.write() {
            *definitions = Arc::new(fresh);
        }
        Ok(())
    }

    /// Every definition, whoever asks.
    pub fn all(&self) -> Arc<Vec<KeyFigureDef>> {
        self.definitions
            .read()
            .map(|d| Arc::clone(&d))
            .unwrap_or_default()
    }

    /// The lock held while `id` is computed.
    fn computing(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut computing = self.computing.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(computing.entry(id.to_owned()).or_default())
    }

    fn cached(&self, def: &KeyFigureDef, versions: &[u64]) -> Option<Arc<BenchmarkTable>> {
        let cache = self.computed.lock().ok()?;
        let (cached_def, cached_versions, table) = cache.get(&def.id)?;
        (cached_def == def && cached_versions == versions).then(|| Arc::clone(table))
    }
}

/// Which municipalities to compare with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComparisonGroup {
    /// All 98, with the country total.
    All,
    /// The caller's region, with the region's total and the country total.
    Region,
    /// The municipalities in the caller's size band (population), with the band's total
    /// and the country total.
    Size,
    /// The country total, with the caller's own municipality.
    Country,
    /// The named municipalities plus the caller's own, with the country total (no group
    /// total: an arbitrary group's total could be differenced).
    Selected(Vec<MunicipalityCode>),
}

impl ComparisonGroup {
    /// Parses `all` (the default), `region`, `size`, `country` or comma-separated
    /// municipality codes.
    pub fn parse(raw: Option<&str>) -> Result<Self, AppError> {
        match raw.map(str::trim) {
            None | Some("all") => Ok(Self::All),
            Some("region") => Ok(Self::Region),
            Some("size") => Ok(Self::Size),
            Some("country") => Ok(Self::Country),
            Some(list) => list
                .split(',')
                .map(|code| {
                    MunicipalityCode::parse(code.trim()).map_err(|_| {
                        AppError::InvalidParameter(format!(
                            "group: '{}' is not a comparison group; give all, region, size, country or four-digit municipality codes separated by commas (e.g. 0147,0151)",
                            code.chars().take(10).collect::<String>()
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Self::Selected),
        }
    }

    /// From a group's kind (`all`, `region`, `size`, `country` or `selected`) and, for
    /// `selected` only, the municipality codes (a typed surface's two arguments).
    pub fn from_parts(kind: &str, codes: &[String]) -> Result<Self, AppError> {
        match (kind, codes.is_empty()) {
            ("selected", false) => Self::parse(Some(&codes.join(","))),
            ("selected", true) => Err(AppError::InvalidParameter(
                "the selected group needs municipality codes to compare with (e.g. 0147, 0151)"
                    .into(),
            )),
            (kind, true) if kind != "selected" => Self::parse(Some(kind)),
            (kind, _) => Err(AppError::InvalidParameter(format!(
                "municipality codes to compare with go with the selected group only, not {kind}"
            ))),
        }
    }

    /// The group's name in answers.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Region => "region",
            Self::Size => "size",
            Self::Country => "country",
            Self::Selected(_) => "selected",
        }
    }
}

/// One key figure, for one caller.
#[derive(Debug, Clone)]
pub struct KeyFigureRequest<'a> {
    pub id: &'a str,
    pub municipality: Option<&'a str>,
    /// The year: a filter on the key figure's year dimension.
    pub year: Option<&'a str>,
    /// Filters on dimensions: `eq` or `in` on a dimension column.
    pub filters: Vec<FilterSpec>,
    pub group: ComparisonGroup,
}

/// A filter on a dimension, checked: the column and the accepted values.
#[derive(Debug, Clone)]
pub(crate) struct DimensionFilter {
    pub column: String,
    pub values: Vec<String>,
}

impl Core {
    /// The key figures the caller may see (every one whose datasets are in the catalogue).
    pub async fn list_key_figures(
        &self,
        principal: &Principal,
        municipality: Option<&str>,
    ) -> Result<(KeyFigureList, AuditFacts), AppError> {
        let acting = principal.acting_for(municipality)?;
        let key_figures: Vec<_> = self
            .key_figures
            .all()
            .iter()
            .filter_map(|d| self.benchmark_scope(d).ok())
            .map(|s| shape::summary(&s))
            .collect();
        let facts = AuditFacts {
            municipality: Some(acting.to_string()),
            rows_returned: Some(key_figures.len()),
            ..AuditFacts::default()
        };
        Ok((
            KeyFigureList {
                municipality: acting.to_string(),
                key_figures,
            },
            facts,
        ))
    }

    /// One key figure for the caller's comparison group, after disclosure control.
    pub async fn key_figure(
        &self,
        principal: &Principal,
        request: KeyFigureRequest<'_>,
    ) -> Result<(KeyFigureTable, AuditFacts), AppError> {
        let acting = principal.acting_for(request.municipality)?;
        let scope = self
            .key_figures
            .all()
            .iter()
            .find(|d| d.id == request.id)
            .and_then(|d| self.benchmark_scope(d).ok())
            .ok_or_else(|| self.key_figure_not_found(request.id))?;
        let mut specs = request.filters.clone();
        if let Some(year) = request.year {
            specs.push(year_filter(&scope, year)?);
        }
        let filters = dimension_filters(scope.definition(), &specs)?;
        if request.group == ComparisonGroup::Size && scope.size_bands().is_none() {
            return Err(AppError::InvalidParameter(
                "group=size needs the population dataset borger.befolkning in the catalogue; use all, region, country or municipality codes".into(),
            ));
        }
        let table = self.computed(&scope).await?;
        let answer = shape::table(&scope, &table, &acting, &request.group, &filters)?;
        let facts = AuditFacts {
            municipality: Some(acting.to_string()),
            table_version: table.versions.first().map(|(_, v)| *v),
            columns: Some(format!("key figure {}", scope.definition().id)),
            filter: Some(describe(&filters, &request.group)),
            rows_returned: Some(answer.cells.len()),
        };
        Ok((answer, facts))
    }

    pub(crate) fn benchmark_scope(
        &self,
        definition: &KeyFigureDef,
    ) -> Result<BenchmarkScope, AppError> {
        BenchmarkScope::for_key_figure(definition, |id| {
            self.catalogue.get(id).map(|d| d.as_ref().clone())
        })
        .map_err(AppError::from)
    }

    pub(crate) fn key_figure_not_found(&self, id: &str) -> AppError {
        let all = self.key_figures.all();
        let known: Vec<&str> = all
            .iter()
            .filter(|d| self.benchmark_scope(d).is_ok())
            .map(|d| d.id.as_str())
            .collect();
        AppError::KeyFigureNotFound(format!(
            "no key figure '{}'; key figures: {}",
            id.chars().take(64).collect::<String>(),
            known.join(", ")
        ))
    }

    /// The suppressed table at the datasets' current versions: computed once per set of
    /// versions, so a request does not rescan every partition; requests arriving while
    /// it is computed wait for that computation (after a delivery, a burst of requests
    /// would otherwise each read every municipality's partition at once).
    async fn computed(&self, scope: &BenchmarkScope) -> Result<Arc<BenchmarkTable>, AppError> {
        let def = scope.definition();
        let versions = self.lake.benchmark_versions(scope).await?;
        if let Some(table) = self.key_figures.cached(def, &versions) {
            return Ok(table);
        }
        let computing = self.key_figures.computing(&def.id).lock_owned().await;
        // The versions as they are now: a commit while another request computed the
        // figure makes its table out of date for everyone, and one computation follows.
        let versions = self.lake.benchmark_versions(scope).await?;
        if let Some(table) = self.key_figures.cached(def, &versions) {
            return Ok(table);
        }
        // Computed and kept apart from this request, holding the lock until it is kept:
        // a request that goes away meanwhile (its client gone, GraphQL's execution
        // timeout) leaves the table to those waiting for it.
        let lake = Arc::clone(&self.lake);
        let kept = Arc::clone(&self.key_figures.computed);
        let scope = scope.clone();
        let computation = tokio::spawn(async move {
            let _computing = computing;
            let table = Arc::new(lake.benchmark(&scope).await?);
            let def = scope.definition().clone();
            let computed: Vec<u64> = table.versions.iter().map(|(_, v)| *v).collect();
            if let Ok(mut cache) = kept.lock() {
                cache.insert(def.id.clone(), (def, computed, Arc::clone(&table)));
            }
            Ok::<_, dap_lake::Error>(table)
        });
        let table = computation
            .await
            .map_err(|stopped| AppError::internal(anyhow::anyhow!("key figure: {stopped}")))??;
        Ok(table)
    }
}

/// `year` as a filter on the key figure's year dimension (the size bands' year column).
fn year_filter(scope: &BenchmarkScope, year: &str) -> Result<FilterSpec, AppError> {
    let column = SizeBands::danish().year_column;
    if !scope
        .definition()
        .dimensions
        .iter()
        .any(|d| d.column == column)
    {
        return Err(AppError::InvalidParameter(format!(
            "key figure {} has no year dimension ({column}); leave out year",
            scope.definition().id
        )));
    }
    Ok(FilterSpec {
        column,
        operator: Operator::Eq,
        values: vec![year.chars().take(16).collect()],
    })
}

/// Checks filters against the definition's dimensions: only `eq` and `in` on a
/// dimension column (a key figure cannot be regrouped or filtered on anything else).
fn dimension_filters(
    definition: &KeyFigureDef,
    specs: &[FilterSpec],
) -> Result<Vec<DimensionFilter>, AppError> {
    let columns: Vec<&str> = definition
        .dimensions
        .iter()
        .map(|d| d.column.as_str())
        .collect();
    specs
        .iter()
        .map(|spec| {
            if !columns.contains(&spec.column.as_str()) {
                return Err(AppError::InvalidParameter(format!(
                    "'{}' is not a dimension of key figure {}; its dimensions: {}",
                    spec.column.chars().take(64).collect::<String>(),
                    definition.id,
                    columns.join(", ")
                )));
            }
            if !matches!(spec.operator, Operator::Eq | Operator::In) {
                return Err(AppError::InvalidParameter(format!(
                    "a key figure's dimensions take eq or in filters only (e.g. filter={}:eq:VALUE)",
                    spec.column
                )));
            }
            Ok(DimensionFilter {
                column: spec.column.clone(),
                values: spec.values.clone(),
            })
        })
        .collect()
}

fn describe(filters: &[DimensionFilter], group: &ComparisonGroup) -> String {
    let mut parts: Vec<String> = filters
        .iter()
        .map(|f| format!("{} in [{}]", f.column, f.values.join(", ")))
        .collect();
    parts.push(match group {
        ComparisonGroup::Selected(codes) => format!(
            "group [{}]",
            codes
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => format!("group {}", other.as_str()),
    });
    parts.join(" and ")
}
