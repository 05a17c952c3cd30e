//! Key figures as OData entity sets, `noegletal_<id>`: one entity per cell of the key
//! figure for the caller's municipality, after disclosure control, exactly as
//! `/api/v1/key-figures/{id}` answers it (the core's [`Core::key_figure`], audited).
//! A key figure is an aggregate table of bounded size, so `$top`/`$skip` cut the core's
//! answer and the next link is the same query with a later `$skip`.
//!
//! `$filter` takes what the core takes: `eq` and `in` on dimensions, joined by `and`.
//! `$orderby` is not offered (cells come in dimension order): 501.

use std::io;

use actix_web::{HttpRequest, HttpResponse};
use dap_auth::Principal;
use dap_lake::predicate::{FilterSpec, Operator, SpecTree};
use dap_openapi::model::key_figures::{KeyFigureCell, KeyFigureSummary};
use quick_xml::Writer;
use serde_json::{Map, Value, json};

use super::error::ODataError;
use super::options::Options;
use super::{JSON, base, max_page_size, odata_response, refused};
use crate::app::key_figures::{ComparisonGroup, KeyFigureRequest};
use crate::app::{AppError, Core};
use crate::rest::extract::request_context;

/// The prefix of every key figure's entity set.
pub const PREFIX: &str = "noegletal_";

/// The entity set of a key figure: `nettoudgift-pr-indbygger` →
/// `noegletal_nettoudgift_pr_indbygger`.
pub fn set_name(id: &str) -> String {
    format!("{PREFIX}{}", super::metadata::set_name(id))
}

/// The properties of a key figure's entities as (name, EDM type, nullable): the cell's
/// key, who it belongs to, its dimensions (text; a category is null in a total) and its
/// value with its status, suppression reason and rank. REST's `status` and `reason` are
/// `value_status` and `suppression_reason` here, so that a dimension named `status` (a
/// dataset column) keeps its name.
fn properties(summary: &KeyFigureSummary) -> Vec<(String, &'static str, bool)> {
    let fixed = |name: &str, edm, nullable| (name.to_owned(), edm, nullable);
    let mut out = vec![
        fixed("cell", "Edm.String", false),
        fixed("municipality", "Edm.String", true),
        fixed("name", "Edm.String", false),
        fixed("own", "Edm.Boolean", false),
    ];
    for dimension in &summary.dimensions {
        out.push((dimension.column.clone(), "Edm.String", true));
    }
    out.extend([
        fixed("total", "Edm.Boolean", false),
        fixed("value", "Edm.Double", true),
        fixed("value_status", "Edm.String", false),
        fixed("suppression_reason", "Edm.String", true),
        fixed("rank", "Edm.Int32", true),
    ]);
    out
}

/// Whether a key figure can be an entity set: its dimension names are OData
/// identifiers and none is named like a fixed property.
pub fn publishable(summary: &KeyFigureSummary) -> bool {
    let names: Vec<String> = properties(summary).into_iter().map(|p| p.0).collect();
    let unique: std::collections::BTreeSet<&String> = names.iter().collect();
    unique.len() == names.len() && names.iter().all(|n| super::options::identifier(n))
}

/// The CSDL entity type of a key figure.
pub fn entity_type(w: &mut Writer<Vec<u8>>, summary: &KeyFigureSummary) -> io::Result<()> {
    let name = set_name(&summary.id);
    w.create_element("EntityType")
        .with_attribute(("Name", name.as_str()))
        .write_inner_content(|w| {
            w.create_element("Key").write_inner_content(|w| {
                w.create_element("PropertyRef")
                    .with_attribute(("Name", "cell"))
                    .write_empty()?;
                Ok(())
            })?;
            for (property, edm, nullable) in properties(summary) {
                let mut element = w
                    .create_element("Property")
                    .with_attribute(("Name", property.as_str()))
                    .with_attribute(("Type", edm));
                if !nullable {
                    element = element.with_attribute(("Nullable", "false"));
                }
                element.write_empty()?;
            }
            Ok(())
        })?;
    Ok(())
}

/// `$filter` as the core's dimension filters: `eq` and `in` joined by `and`.
fn dimension_filters(tree: Option<&SpecTree>) -> Result<Vec<FilterSpec>, ODataError> {
    let refuse = || {
        ODataError::not_implemented(
            "$filter on a key figure supports eq and in on its dimensions joined by and, e.g. aar eq '2024' and funktion in ('5.22.07','3.22.01')".into(),
        )
    };
    let leaf = |tree: &SpecTree| match tree {
        SpecTree::Leaf(spec) if matches!(spec.operator, Operator::Eq | Operator::In) => {
            Ok(spec.clone())
        }
        _ => Err(refuse()),
    };
    match tree {
        None => Ok(Vec::new()),
        Some(SpecTree::All(branches)) => branches.iter().map(leaf).collect(),
        Some(other) => Ok(vec![leaf(other)?]),
    }
}

/// One cell as an entity.
fn entity(cell: &KeyFigureCell, summary: &KeyFigureSummary, select: Option<&[String]>) -> Value {
    let key: Vec<&str> = std::iter::once(cell.municipality.as_deref().unwrap_or("DK"))
        .chain(
            summary
                .dimensions
                .iter()
                .map(|d| cell.dimensions.get(&d.column).map_or("*", String::as_str)),
        )
        .collect();
    let mut out = Map::new();
    let mut put = |name: &str, value: Value| {
        if select.is_none_or(|s| s.iter().any(|c| c == name)) {
            out.insert(name.to_owned(), value);
        }
    };
    put("cell", json!(key.join("|")));
    put("municipality", json!(cell.municipality));
    put("name", json!(cell.name));
    put("own", json!(cell.own));
    for dimension in &summary.dimensions {
        put(
            &dimension.column,
            json!(cell.dimensions.get(&dimension.column)),
        );
    }
    put("total", json!(cell.total));
    put("value", json!(cell.value));
    put("value_status", json!(cell.status));
    put("suppression_reason", json!(cell.reason));
    put("rank", json!(cell.rank));
    Value::Object(out)
}

/// Reads the options a key figure set takes, or the refusal.
fn read_options(req: &HttpRequest) -> Result<(Options, Vec<FilterSpec>), ODataError> {
    let options = Options::parse(req.query_string())?;
    if !options.order.is_empty() {
        return Err(ODataError::not_implemented(
            "$orderby is not supported on a key figure: its cells come in dimension order".into(),
        ));
    }
    if options.skiptoken.is_some() {
        return Err(ODataError::bad_request(
            "$skiptoken is not one dap issued; follow @odata.nextLink unchanged".into(),
        ));
    }
    let filters = dimension_filters(options.filter.as_ref())?;
    Ok((options, filters))
}

/// `GET /odata/noegletal_<id>` (or its `/$count` when `count_only`).
pub async fn read(
    req: &HttpRequest,
    core: &Core,
    principal: &Principal,
    set: &str,
    count_only: bool,
) -> Result<HttpResponse, ODataError> {
    let ctx = request_context(req);
    let (options, filters) = match read_options(req) {
        Ok(read) => read,
        Err(error) => {
            let set = Some(set.chars().take(130).collect());
            return Err(refused(core, &ctx, principal, set, error).await);
        }
    };
    let municipality = options.municipality.as_deref();
    let work = async {
        let (list, _) = core.list_key_figures(principal, municipality).await?;
        let summary = list
            .key_figures
            .into_iter()
            .filter(publishable)
            .find(|s| set_name(&s.id) == set)
            .ok_or_else(|| core.key_figure_not_found(set))?;
        let properties: Vec<String> = properties(&summary).into_iter().map(|p| p.0).collect();
        if let Some(unknown) = options
            .select
            .iter()
            .flatten()
            .find(|c| !properties.contains(*c))
        {
            return Err(AppError::UnknownColumn(format!(
                "unknown property '{}' in $select; properties: {}",
                unknown.chars().take(64).collect::<String>(),
                properties.join(", ")
            )));
        }
        let request = KeyFigureRequest {
            id: &summary.id,
            municipality,
            year: None,
            filters: filters.clone(),
            group: ComparisonGroup::All,
        };
        let (table, facts) = core.key_figure(principal, request).await?;
        Ok(((summary, table.cells), facts))
    };
    let (summary, cells) = core.audited(&ctx, principal, None, work).await?;
    if count_only {
        return Ok(odata_response(actix_web::http::StatusCode::OK)
            .content_type(actix_web::http::header::ContentType::plaintext())
            .body(cells.len().to_string()));
    }
    respond(req, core, set, &options, &summary, &cells)
}

fn respond(
    req: &HttpRequest,
    core: &Core,
    set: &str,
    options: &Options,
    summary: &KeyFigureSummary,
    cells: &[KeyFigureCell],
) -> Result<HttpResponse, ODataError> {
    let total = cells.len() as u64;
    let size = options.page_size(max_page_size(req));
    let start = options.skip.min(total);
    let end_by_top = options
        .top
        .map_or(total, |t| start.saturating_add(t).min(total));
    let end = start.saturating_add(size).min(end_by_top);
    let page: Vec<Value> = cells
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(end - start).unwrap_or(usize::MAX))
        .map(|c| entity(c, summary, options.select.as_deref()))
        .collect();
    let base = base(req, core);
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{base}/$metadata#{set}")),
    );
    if options.count {
        body.insert("@odata.count".into(), json!(total));
    }
    body.insert("value".into(), Value::Array(page));
    if end < end_by_top {
        // The rest of the same query: a later $skip, and what is left of $top.
        let mut pairs: Vec<(String, String)> = options
            .pairs
            .iter()
            .filter(|(n, _)| n != "$skip" && n != "$top")
            .cloned()
            .collect();
        pairs.push(("$skip".into(), end.to_string()));
        if options.top.is_some() {
            pairs.push(("$top".into(), (end_by_top - end).to_string()));
        }
        let query = serde_urlencoded::to_string(&pairs).map_err(AppError::internal)?;
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{base}/{set}?{query}")),
        );
    }
    let mut response = odata_response(actix_web::http::StatusCode::OK);
    if max_page_size(req).is_some() {
        response.insert_header(("Preference-Applied", format!("odata.maxpagesize={size}")));
    }
    Ok(response
        .content_type(JSON)
        .body(Value::Object(body).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(column: &str, operator: Operator, values: &[&str]) -> FilterSpec {
        FilterSpec {
            column: column.into(),
            operator,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    #[test]
    fn filters_are_eq_and_in_on_dimensions_joined_by_and() {
        let eq = spec("aar", Operator::Eq, &["2024"]);
        let within = spec("funktion", Operator::In, &["a", "b"]);
        let both = SpecTree::All(vec![
            SpecTree::Leaf(eq.clone()),
            SpecTree::Leaf(within.clone()),
        ]);

        assert_eq!(dimension_filters(None).ok(), Some(Vec::new()));
        assert_eq!(
            dimension_filters(Some(&SpecTree::Leaf(eq.clone()))).ok(),
            Some(vec![eq.clone()])
        );
        assert_eq!(
            dimension_filters(Some(&both)).ok(),
            Some(vec![eq.clone(), within])
        );
        let or = SpecTree::Any(vec![SpecTree::Leaf(eq.clone())]);
        let ne = SpecTree::Leaf(spec("aar", Operator::Ne, &["2024"]));
        for refused in [or, ne] {
            let error = dimension_filters(Some(&refused)).expect_err("refused");
            assert_eq!(error.status.as_u16(), 501);
        }
    }
}
