//! The service's schema as OData publishes it: entity set names, the CSDL XML of
//! `$metadata` and the service document. Built from the caller's scopes only, so a
//! dataset or column the caller may not see is not named at all.

use std::io;

use dap_openapi::model::key_figures::KeyFigureSummary;
use dap_schema::{AccessScope, ColumnDef, ColumnType};

use super::key_figures;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, Event};

/// The schema namespace of every entity type.
pub const NAMESPACE: &str = "dap";

/// The entity set of a dataset: `oekonomi.posteringer` → `oekonomi_posteringer` (an
/// OData identifier has no dots).
pub fn set_name(dataset_id: &str) -> String {
    dataset_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The EDM type of a column and its facets.
fn edm(column: &ColumnDef) -> (&'static str, Option<(u8, i8)>) {
    match column.data_type {
        ColumnType::String => ("Edm.String", None),
        ColumnType::Int32 => ("Edm.Int32", None),
        ColumnType::Int64 => ("Edm.Int64", None),
        ColumnType::Float64 => ("Edm.Double", None),
        ColumnType::Decimal { precision, scale } => ("Edm.Decimal", Some((precision, scale))),
        ColumnType::Date => ("Edm.Date", None),
        ColumnType::Boolean => ("Edm.Boolean", None),
    }
}

/// The columns of `scope` the caller may see, in catalogue order.
pub fn visible_columns(scope: &AccessScope) -> Vec<&ColumnDef> {
    let dataset = scope.dataset();
    dataset
        .columns
        .iter()
        .filter(|c| scope.can_see(&c.name))
        .collect()
}

/// The entity key: the dataset's key columns the caller may see. Without one (a key
/// column hidden from the caller) every visible column is the key, as OData requires
/// entity types to have one.
fn key(scope: &AccessScope) -> Vec<String> {
    let keys: Vec<String> = scope
        .dataset()
        .key_columns
        .iter()
        .filter(|k| scope.can_see(k))
        .cloned()
        .collect();
    if keys.is_empty() {
        scope.visible_columns().to_vec()
    } else {
        keys
    }
}

/// The CSDL document (`$metadata`) of `scopes` and the key figures `figures`.
pub fn csdl(scopes: &[AccessScope], figures: &[KeyFigureSummary]) -> io::Result<Vec<u8>> {
    let mut w = Writer::new(Vec::new());
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
    w.create_element("edmx:Edmx")
        .with_attribute(("xmlns:edmx", "http://docs.oasis-open.org/odata/ns/edmx"))
        .with_attribute(("Version", "4.0"))
        .write_inner_content(|w| {
            w.create_element("edmx:DataServices")
                .write_inner_content(|w| {
                    w.create_element("Schema")
                        .with_attribute(("xmlns", "http://docs.oasis-open.org/odata/ns/edm"))
                        .with_attribute(("Namespace", NAMESPACE))
                        .write_inner_content(|w| {
                            for scope in scopes {
                                entity_type(w, scope)?;
                            }
                            for figure in figures {
                                key_figures::entity_type(w, figure)?;
                            }
                            container(w, scopes, figures)
                        })?;
                    Ok(())
                })?;
            Ok(())
        })?;
    Ok(w.into_inner())
}

fn entity_type(w: &mut Writer<Vec<u8>>, scope: &AccessScope) -> io::Result<()> {
    let keys = key(scope);
    let dataset = scope.dataset();
    let name = set_name(dataset.id.as_str());
    w.create_element("EntityType")
        .with_attribute(("Name", name.as_str()))
        .write_inner_content(|w| {
            w.create_element("Key").write_inner_content(|w| {
                for k in &keys {
                    w.create_element("PropertyRef")
                        .with_attribute(("Name", k.as_str()))
                        .write_empty()?;
                }
                Ok(())
            })?;
            for column in visible_columns(scope) {
                let (edm_type, facets) = edm(column);
                let not_null = keys.contains(&column.name) || column.name == dataset.tenant_column;
                let mut element = w
                    .create_element("Property")
                    .with_attribute(("Name", column.name.as_str()))
                    .with_attribute(("Type", edm_type));
                if not_null {
                    element = element.with_attribute(("Nullable", "false"));
                }
                if let Some((precision, scale)) = facets {
                    element = element
                        .with_attribute(("Precision", precision.to_string().as_str()))
                        .with_attribute(("Scale", scale.to_string().as_str()));
                }
                element.write_empty()?;
            }
            Ok(())
        })?;
    Ok(())
}

fn container(
    w: &mut Writer<Vec<u8>>,
    scopes: &[AccessScope],
    figures: &[KeyFigureSummary],
) -> io::Result<()> {
    let datasets = scopes.iter().map(|s| set_name(s.dataset().id.as_str()));
    let figures = figures.iter().map(|f| key_figures::set_name(&f.id));
    let names: Vec<String> = datasets.chain(figures).collect();
    w.create_element("EntityContainer")
        .with_attribute(("Name", "Container"))
        .write_inner_content(|w| {
            for name in &names {
                w.create_element("EntitySet")
                    .with_attribute(("Name", name.as_str()))
                    .with_attribute(("EntityType", format!("{NAMESPACE}.{name}").as_str()))
                    .write_empty()?;
            }
            Ok(())
        })?;
    Ok(())
}

/// The service document: one entry per entity set.
pub fn service_document(
    base: &str,
    scopes: &[AccessScope],
    figures: &[KeyFigureSummary],
) -> serde_json::Value {
    let datasets = scopes.iter().map(|s| set_name(s.dataset().id.as_str()));
    let figures = figures.iter().map(|f| key_figures::set_name(&f.id));
    let sets: Vec<serde_json::Value> = datasets
        .chain(figures)
        .map(|name| serde_json::json!({"name": name, "kind": "EntitySet", "url": name}))
        .collect();
    serde_json::json!({
        "@odata.context": format!("{base}/$metadata"),
        "value": sets,
    })
}
