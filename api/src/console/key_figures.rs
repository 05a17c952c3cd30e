//! Key figures: the list, and one figure as a chart of the municipality against the
//! comparison group and the country over time, with the same numbers as a table,
//! suppressed cells shown as suppressed, the definition and the disclosure rule, and the
//! table as a download (the REST CSV).

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use dap_openapi::model::key_figures::{GroupStatistics, KeyFigureCell, KeyFigureTable};
use dap_schema::MunicipalityCode;
use maud::{Markup, html};

use super::Failure;
use super::chart::{self, Series};
use super::i18n::Lang;
use super::layout;
use super::session::Viewer;
use crate::app::key_figures::{ComparisonGroup, KeyFigureRequest};
use crate::app::{AppError, Core, ErrorClass};
use crate::rest::input::Query;

/// `GET /console/key-figures`.
pub async fn list(viewer: Viewer, core: web::Data<Core>) -> Result<HttpResponse, Failure> {
    let lang = viewer.lang;
    let work = core.list_key_figures(&viewer.principal, viewer.acting());
    let list = core
        .audited(&viewer.ctx, &viewer.principal, None, work)
        .await
        .map_err(|e| viewer.fail(e))?;
    let body = html! {
        h1 { (lang.t("key_figures.title")) }
        p { (lang.t("key_figures.help")) }
        @for k in &list.key_figures {
            article.card {
                h2 { a href={ "/console/key-figures/" (k.id) } { (lang.pick(&k.title.da, &k.title.en)) } }
                p { (lang.pick(&k.description.da, &k.description.en)) }
                p.fresh { (lang.t("key_figures.unit")) ": " (k.unit) }
            }
        }
    };
    Ok(layout::page(
        &viewer.shell(),
        lang.t("key_figures.title"),
        body,
    ))
}

#[derive(Debug, serde::Deserialize)]
pub struct FigureQuery {
    group: Option<String>,
    codes: Option<String>,
    category: Option<String>,
}

/// The comparison group the form names; codes that are not municipality codes are the
/// form's mistake.
fn group_of(query: &FigureQuery) -> Result<ComparisonGroup, AppError> {
    match query.group.as_deref() {
        None | Some("") | Some("all") => return Ok(ComparisonGroup::All),
        Some("selected") => {}
        Some(group) => return ComparisonGroup::parse(Some(group)),
    }
    query
        .codes
        .as_deref()
        .unwrap_or_default()
        .split([',', ' '])
        .filter(|c| !c.trim().is_empty())
        .map(|code| {
            MunicipalityCode::parse(code.trim()).map_err(|_| {
                AppError::InvalidParameter(format!(
                    "'{}' is not a municipality code; give four-digit codes separated by commas, e.g. 0147,0151",
                    code.chars().take(10).collect::<String>()
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(ComparisonGroup::Selected)
}

/// `GET /console/key-figures/{figure}`.
pub async fn figure(
    viewer: Viewer,
    core: web::Data<Core>,
    id: web::Path<String>,
    query: Query<FigureQuery>,
) -> Result<HttpResponse, Failure> {
    let query = viewer.input(&core, query).await?;
    let lang = viewer.lang;
    let work = async {
        let group = group_of(&query)?;
        let request = KeyFigureRequest {
            id: &id,
            municipality: viewer.acting(),
            year: None,
            filters: Vec::new(),
            group,
        };
        core.key_figure(&viewer.principal, request).await
    };
    let (table, error) = match core
        .audited(&viewer.ctx, &viewer.principal, None, work)
        .await
    {
        Ok(table) => (Some(table), None),
        Err(e) if e.class() == ErrorClass::BadRequest => (None, Some(e.public_message())),
        Err(e) => return Err(viewer.fail(e)),
    };
    let selected = query.group.as_deref() == Some("selected");
    let chosen = |g: &str| query.group.as_deref() == Some(g);
    let all = !["selected", "region", "size"].iter().any(|g| chosen(g));
    let codes = query.codes.clone().unwrap_or_default();
    let title = table
        .as_ref()
        .map(|t| {
            lang.pick(&t.summary.title.da, &t.summary.title.en)
                .to_owned()
        })
        .unwrap_or_else(|| id.to_string());
    let category_dim = table.as_ref().and_then(|t| {
        t.summary
            .dimensions
            .iter()
            .find(|d| d.kind == "category")
            .map(|d| d.column.clone())
    });
    let categories: Vec<String> = match (&table, &category_dim) {
        (Some(t), Some(c)) => {
            let mut v: Vec<String> = t
                .cells
                .iter()
                .filter_map(|cell| cell.dimensions.get(c).cloned())
                .collect();
            v.sort();
            v.dedup();
            v
        }
        _ => Vec::new(),
    };
    let category = query.category.clone().filter(|c| categories.contains(c));
    let mut csv = url::form_urlencoded::Serializer::new(String::new());
    csv.append_pair("format", "csv");
    if selected && !codes.trim().is_empty() {
        csv.append_pair("group", &codes.replace(' ', ""));
    } else if chosen("region") || chosen("size") {
        csv.append_pair("group", query.group.as_deref().unwrap_or("all"));
    }
    let body = html! {
        p.crumbs { a href="/console/key-figures" { (lang.t("key_figures.title")) } " › " (id) }
        h1 { (title) }
        form.filters method="get" action={ "/console/key-figures/" (id) } aria-describedby=[error.as_ref().map(|_| "group-error")] {
            fieldset {
                legend { (lang.t("key_figures.group")) }
                div.check {
                    input type="radio" id="group-all" name="group" value="all" checked[all];
                    label for="group-all" { (lang.t("key_figures.all")) }
                }
                div.check {
                    input type="radio" id="group-region" name="group" value="region" checked[chosen("region")];
                    label for="group-region" { (lang.t("key_figures.region")) }
                }
                div.check {
                    input type="radio" id="group-size" name="group" value="size" checked[chosen("size")];
                    label for="group-size" { (lang.t("key_figures.size")) }
                }
                div.check {
                    input type="radio" id="group-selected" name="group" value="selected" checked[selected];
                    label for="group-selected" { (lang.t("key_figures.selected")) }
                }
                label for="codes" { (lang.t("key_figures.codes")) }
                input id="codes" name="codes" value=(codes) inputmode="numeric" aria-describedby=[error.as_ref().map(|_| "group-error")];
                (layout::form_error(error.as_deref(), "group-error"))
            }
            @if !categories.is_empty() {
                label for="category" { (lang.t("key_figures.category")) " (" (category_dim.as_deref().unwrap_or_default()) ")" }
                select id="category" name="category" {
                    option value="" { (lang.t("key_figures.total")) }
                    @for c in &categories {
                        option value=(c) selected[category.as_deref() == Some(c.as_str())] { (c) }
                    }
                }
            }
            button type="submit" { (lang.t("key_figures.show")) }
        }
        @if let Some(t) = &table {
            (figure_body(lang, t, category_dim.as_deref(), category.as_deref()))
            p { a href={ "/api/v1/key-figures/" (id) "?" (csv.finish()) } download { (lang.t("key_figures.download")) } }
        }
    };
    let mut response = layout::page(&viewer.shell(), &title, body);
    if error.is_some() {
        *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

/// True when a cell or statistic is at slice value `at` of the chosen category (or the
/// total over categories when none is chosen, or when the figure has no categories).
fn chosen(
    dimensions: &BTreeMap<String, String>,
    total: bool,
    slice: Option<(&str, &str)>,
    category_dim: Option<&str>,
    category: Option<&str>,
) -> bool {
    let at = slice
        .is_none_or(|(column, value)| dimensions.get(column).map(String::as_str) == Some(value));
    let in_category = match (category_dim, category) {
        (Some(dim), Some(c)) => !total && dimensions.get(dim).map(String::as_str) == Some(c),
        (Some(_), None) => total,
        (None, _) => true,
    };
    at && in_category
}

fn status_text(lang: Lang, cell: &KeyFigureCell) -> String {
    match (cell.status, cell.reason) {
        ("suppressed", Some("too_few_units")) => format!(
            "{} ({})",
            lang.t("key_figures.suppressed"),
            lang.t("key_figures.too_few_units")
        ),
        ("suppressed", Some(_)) => format!(
            "{} ({})",
            lang.t("key_figures.suppressed"),
            lang.t("key_figures.complementary")
        ),
        ("suppressed", None) => lang.t("key_figures.suppressed").to_owned(),
        ("not_defined", _) => lang.t("key_figures.not_defined").to_owned(),
        _ => String::new(),
    }
}

fn figure_body(
    lang: Lang,
    t: &KeyFigureTable,
    category_dim: Option<&str>,
    category: Option<&str>,
) -> Markup {
    let s = &t.summary;
    let slice_dim = s
        .dimensions
        .iter()
        .find(|d| d.kind == "slice")
        .map(|d| d.column.clone());
    let mut labels: Vec<String> = match &slice_dim {
        Some(c) => t
            .cells
            .iter()
            .filter_map(|cell| cell.dimensions.get(c).cloned())
            .collect(),
        None => vec![String::new()],
    };
    labels.sort();
    labels.dedup();
    let slice = slice_dim.as_deref();
    let find_cell =
        |label: &str, pick: &dyn Fn(&KeyFigureCell) -> bool| -> Option<&KeyFigureCell> {
            let at = slice.map(|c| (c, label));
            t.cells
                .iter()
                .find(|c| pick(c) && chosen(&c.dimensions, c.total, at, category_dim, category))
        };
    let own: Vec<Option<&KeyFigureCell>> = labels
        .iter()
        .map(|l| find_cell(l, &|c| c.own && c.municipality.is_some()))
        .collect();
    let country: Vec<Option<&KeyFigureCell>> = labels
        .iter()
        .map(|l| find_cell(l, &|c| c.municipality.is_none()))
        .collect();
    let median: Vec<Option<&GroupStatistics>> = labels
        .iter()
        .map(|l| {
            let at = slice.map(|c| (c, l.as_str()));
            t.statistics
                .iter()
                .find(|st| chosen(&st.dimensions, st.total, at, category_dim, category))
        })
        .collect();
    let own_name = own
        .iter()
        .flatten()
        .next()
        .map(|c| c.name.clone())
        .unwrap_or_else(|| t.municipality.clone());
    let group_name = match t.group {
        "all" => lang.t("key_figures.all"),
        "region" => lang.t("key_figures.region"),
        "size" => lang.t("key_figures.size"),
        _ => lang.t("key_figures.selected"),
    };
    let series = [
        Series {
            name: own_name.clone(),
            class: "own",
            values: own.iter().map(|c| c.and_then(|c| c.value)).collect(),
            withheld: own
                .iter()
                .map(|c| c.is_some_and(|c| c.status != "published"))
                .collect(),
        },
        Series {
            name: format!("{} ({group_name})", lang.t("key_figures.median")),
            class: "median",
            values: median.iter().map(|m| m.and_then(|m| m.median)).collect(),
            withheld: vec![false; labels.len()],
        },
        Series {
            name: lang.t("key_figures.country").to_owned(),
            class: "country",
            values: country.iter().map(|c| c.and_then(|c| c.value)).collect(),
            withheld: country
                .iter()
                .map(|c| c.is_some_and(|c| c.status != "published"))
                .collect(),
        },
    ];
    let value = |v: Option<f64>| v.map(|v| format!("{v:.*}", usize::from(s.decimals)));
    let chart_title = format!(
        "{} — {} {} ({})",
        lang.pick(&s.title.da, &s.title.en),
        own_name,
        lang.t("key_figures.over_time"),
        category.unwrap_or(lang.t("key_figures.total"))
    );
    let description = labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "{l}: {} {}, {} {}, {} {}",
                own_name,
                own[i]
                    .map(|c| value(c.value).unwrap_or_else(|| status_text(lang, c)))
                    .unwrap_or_else(|| "–".into()),
                lang.t("key_figures.median"),
                value(median[i].and_then(|m| m.median)).unwrap_or_else(|| "–".into()),
                lang.t("key_figures.country"),
                country[i]
                    .and_then(|c| value(c.value))
                    .unwrap_or_else(|| "–".into()),
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    html! {
        div.figure {
            section.chart-box aria-labelledby="chart-heading" {
                h2 id="chart-heading" { (lang.t("key_figures.chart")) " (" (s.unit) ")" }
                (chart::line_chart(&chart_title, &description, &labels, &series, s.decimals, lang.t("key_figures.suppressed")))
                ul.legend {
                    @for se in &series {
                        li { span class={ "swatch " (se.class) } aria-hidden="true" {} (se.name) }
                    }
                }
            }
            section aria-labelledby="table-heading" {
                h2 id="table-heading" { (lang.t("key_figures.table")) }
                table.figure-table {
                    caption { (chart_title) ", " (s.unit) }
                    thead { tr {
                        th scope="col" { (slice_dim.as_deref().unwrap_or_default()) }
                        th scope="col" { (own_name) }
                        th scope="col" { (lang.t("key_figures.median")) " (" (group_name) ")" }
                        th scope="col" { (lang.t("key_figures.country")) }
                    } }
                    tbody {
                        @for (i, l) in labels.iter().enumerate() {
                            tr {
                                th scope="row" { (l) }
                                td.num data-own-status=[own[i].map(|c| c.status)] {
                                    @match own[i] {
                                        Some(c) => { @match value(c.value) { Some(v) => { (v) }, None => { em.suppressed { (status_text(lang, c)) } } } }
                                        None => { "–" }
                                    }
                                }
                                td.num { (value(median[i].and_then(|m| m.median)).unwrap_or_else(|| "–".into())) }
                                td.num {
                                    @match country[i] {
                                        Some(c) => { @match value(c.value) { Some(v) => { (v) }, None => { em.suppressed { (status_text(lang, c)) } } } }
                                        None => { "–" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="definition-heading" {
            h2 id="definition-heading" { (lang.t("key_figures.definition")) }
            p { (lang.pick(&s.description.da, &s.description.en)) }
            dl {
                dt { (lang.t("key_figures.measure")) } dd { code { (s.measure) } }
                dt { (lang.t("key_figures.unit")) } dd { (s.unit) }
                dt { (lang.t("connect.datasets")) } dd { (s.datasets.join(", ")) }
            }
            h3 { (lang.t("key_figures.disclosure")) }
            p { (lang.t("key_figures.disclosure_text")) " " strong { (s.disclosure.min_units) } ". "
                (lang.t("key_figures.unit_column")) " " code { (s.disclosure.unit_column) } "." }
            p { (s.disclosure.method) }
        }
    }
}
