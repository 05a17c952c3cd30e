//! The catalogue: the datasets the signed-in person sees, by domain, with search, the
//! freshness of their municipality's data, and the columns with types and
//! classification.

use actix_web::{HttpResponse, web};
use dap_openapi::model::datasets::{ColumnInfo, DatasetDetail, DatasetSummary};
use maud::{Markup, html};

use super::Failure;
use super::layout::{self, when};
use super::session::Viewer;
use crate::app::Core;
use crate::app::datasets::Target;
use crate::rest::input::Query;

#[derive(Debug, serde::Deserialize)]
pub struct CatalogueQuery {
    q: Option<String>,
    domain: Option<String>,
}

/// True when the dataset matches the search words (id, titles, descriptions).
fn matches(d: &DatasetSummary, words: &str) -> bool {
    let text = format!(
        "{} {} {} {} {}",
        d.id, d.title.da, d.title.en, d.description.da, d.description.en
    )
    .to_lowercase();
    words
        .to_lowercase()
        .split_whitespace()
        .all(|w| text.contains(w))
}

/// `GET /console/datasets`.
pub async fn catalogue(
    viewer: Viewer,
    core: web::Data<Core>,
    query: Query<CatalogueQuery>,
) -> Result<HttpResponse, Failure> {
    let query = viewer.input(&core, query).await?;
    let lang = viewer.lang;
    let work = async {
        let (list, facts) = core.list_datasets(&viewer.principal).await?;
        let mut details = Vec::new();
        for d in &list.datasets {
            let target = Target {
                dataset: &d.id,
                municipality: viewer.acting(),
            };
            // A dataset listed but not readable yet (e.g. a higher NSIS level) is shown
            // without freshness.
            let detail = core.describe_dataset(&viewer.principal, target).await.ok();
            details.push(detail.map(|(detail, _)| detail));
        }
        Ok((
            list.datasets.into_iter().zip(details).collect::<Vec<_>>(),
            facts,
        ))
    };
    let all = core
        .audited(&viewer.ctx, &viewer.principal, None, work)
        .await
        .map_err(|e| viewer.fail(e))?;
    let mut domains: Vec<&str> = all.iter().map(|(d, _)| d.domain.as_str()).collect();
    domains.sort_unstable();
    domains.dedup();
    let words = query.q.clone().unwrap_or_default();
    let domain = query.domain.clone().filter(|d| !d.is_empty());
    let shown: Vec<&(DatasetSummary, Option<DatasetDetail>)> = all
        .iter()
        .filter(|(d, _)| domain.as_deref().is_none_or(|x| d.domain == x))
        .filter(|(d, _)| matches(d, &words))
        .collect();
    let body = html! {
        h1 { (lang.t("catalogue.title")) }
        form.filters role="search" method="get" action="/console/datasets" {
            div {
                label for="q" { (lang.t("catalogue.search_label")) }
                input id="q" type="search" name="q" value=(words);
            }
            div {
                label for="domain" { (lang.t("catalogue.domain")) }
                select id="domain" name="domain" {
                    option value="" { (lang.t("catalogue.all_domains")) }
                    @for d in &domains {
                        option value=(d) selected[domain.as_deref() == Some(*d)] { (d) }
                    }
                }
            }
            button type="submit" { (lang.t("catalogue.search")) }
        }
        p role="status" { (shown.len()) " " (lang.t("catalogue.count")) }
        @if shown.is_empty() {
            p { (lang.t("catalogue.none")) }
        }
        @for d in &domains {
            @let in_domain: Vec<_> = shown.iter().filter(|(s, _)| s.domain == *d).collect();
            @if !in_domain.is_empty() {
                section aria-labelledby={ "domain-" (d) } {
                    h2 id={ "domain-" (d) } { (d) }
                    @for (summary, detail) in in_domain {
                        (dataset_card(&viewer, summary, detail.as_ref()))
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &viewer.shell(),
        lang.t("catalogue.title"),
        body,
    ))
}

fn dataset_card(viewer: &Viewer, d: &DatasetSummary, detail: Option<&DatasetDetail>) -> Markup {
    let lang = viewer.lang;
    html! {
        article.card.dataset {
            h3 { a href={ "/console/datasets/" (d.id) } { (lang.pick(&d.title.da, &d.title.en)) } }
            p.id { code { (d.id) } }
            p { (lang.pick(&d.description.da, &d.description.en)) }
            @match detail {
                Some(detail) => {
                    p.fresh {
                        (lang.t("catalogue.updated")) ": "
                        strong { (detail.updated_at.as_ref().map(when).unwrap_or_else(|| "–".into())) }
                        " · " (lang.t("catalogue.version")) " " (detail.table_version)
                    }
                    details {
                        summary { (lang.t("catalogue.columns")) " (" (detail.columns.len()) ")" }
                        (columns_table(viewer, &detail.columns, &d.id))
                    }
                }
                None => { p.fresh { (lang.t("catalogue.unavailable")) } }
            }
        }
    }
}

/// The columns the caller sees, with type, classification and description.
pub fn columns_table(viewer: &Viewer, columns: &[ColumnInfo], id: &str) -> Markup {
    let lang = viewer.lang;
    html! {
        table.columns {
            caption.visually-hidden { (lang.t("catalogue.columns")) " " (id) }
            thead { tr {
                th scope="col" { (lang.t("column.name")) }
                th scope="col" { (lang.t("column.type")) }
                th scope="col" { (lang.t("column.classification")) }
                th scope="col" { (lang.t("column.description")) }
            } }
            tbody {
                @for c in columns {
                    tr {
                        th scope="row" { code { (c.name) } }
                        td { (c.data_type) }
                        td { span class={ "tag " (c.classification) } { (c.classification) } }
                        td { (c.description) }
                    }
                }
            }
        }
    }
}
