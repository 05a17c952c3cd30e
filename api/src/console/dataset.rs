//! One dataset: a page of the caller's rows with a filter builder (the API's typed
//! operators), sorting, paging, time travel by version or date, the versions that
//! changed their rows, and downloads in every format (links to the REST export, which
//! the session cookie opens).

use actix_web::{HttpRequest, HttpResponse, web};
use dap_lake::RowQuery;
use dap_lake::arrow::util::display::{ArrayFormatter, FormatOptions};
use dap_lake::predicate::{FilterSpec, Operator};
use dap_lake::query::OrderBy;
use dap_openapi::model::datasets::{DatasetDetail, VersionList};
use dap_openapi::model::deliveries::DeliveryReceiptList;
use maud::{Markup, html};

use super::Failure;
use super::catalogue::columns_table;
use super::form::{FormView, Refused};
use super::layout::{self, when};
use super::session::Fields;
use super::session::Viewer;
use crate::app::datasets::Target;
use crate::app::paging::{Page, PageRequest};
use crate::app::{AppError, Core, ErrorClass};

const PAGE_SIZES: [u64; 4] = [25, 50, 100, 500];

/// The page's query as the form states it: strings, typed once in [`Self::row_query`].
#[derive(Debug, Default, Clone)]
struct State {
    filters: Vec<(String, String, String)>,
    sort: Option<String>,
    descending: bool,
    limit: u64,
    cursor: Option<String>,
    version: Option<String>,
    as_of: Option<String>,
}

impl State {
    fn parse(query: &str) -> Self {
        let mut state = Self {
            limit: PAGE_SIZES[0],
            ..Self::default()
        };
        let (mut columns, mut operators, mut values) = (Vec::new(), Vec::new(), Vec::new());
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "fc" => columns.push(value.trim().to_owned()),
                "fo" => operators.push(value.trim().to_owned()),
                "fv" => values.push(value.trim().to_owned()),
                "sort" => state.sort = text(&value),
                "dir" => state.descending = value == "desc",
                "limit" => {
                    state.limit = value
                        .parse()
                        .ok()
                        .filter(|n| PAGE_SIZES.contains(n))
                        .unwrap_or(PAGE_SIZES[0]);
                }
                "cursor" => state.cursor = text(&value),
                "version" => state.version = text(&value),
                "as_of" => state.as_of = text(&value),
                _ => {}
            }
        }
        for (i, column) in columns.into_iter().enumerate() {
            if column.is_empty() || state.filters.len() >= 50 {
                continue;
            }
            let operator = operators.get(i).cloned().unwrap_or_else(|| "eq".into());
            let value = values.get(i).cloned().unwrap_or_default();
            state.filters.push((column, operator, value));
        }
        state
    }

    /// The typed query; a form mistake says what is wrong and how to fix it.
    fn row_query(&self) -> Result<RowQuery, AppError> {
        let filters = self
            .filters
            .iter()
            .map(|(column, op, value)| {
                let operator = Operator::from_name(op).ok_or_else(|| AppError::InvalidField {
                    field: crate::app::InputField::Filter(column.clone()),
                    message: format!(
                        "unknown operator '{}'; operators: {}",
                        op.chars().take(20).collect::<String>(),
                        dap_lake::predicate::OPERATORS
                    ),
                })?;
                let values = match operator {
                    Operator::In => value.split(',').map(|v| v.trim().to_owned()).collect(),
                    _ => vec![value.clone()],
                };
                Ok(FilterSpec {
                    column: column.clone(),
                    operator,
                    values,
                })
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        let version = self
            .version
            .as_deref()
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    AppError::invalid("version", "version must be a whole number, e.g. 1")
                })
            })
            .transpose()?;
        let as_of = self
            .as_of
            .as_deref()
            .map(|v| {
                dap_lake::as_of::parse(v).map_err(|e| AppError::invalid("as_of", e.to_string()))
            })
            .transpose()?;
        Ok(RowQuery {
            filters,
            order: self
                .sort
                .iter()
                .map(|column| OrderBy {
                    column: column.clone(),
                    descending: self.descending,
                })
                .collect(),
            limit: Some(self.limit),
            version,
            as_of,
            ..RowQuery::default()
        })
    }

    /// The query string of this state (without the cursor), for links.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        for (c, o, v) in &self.filters {
            pairs.push(("fc", c.clone()));
            pairs.push(("fo", o.clone()));
            pairs.push(("fv", v.clone()));
        }
        if let Some(sort) = &self.sort {
            pairs.push(("sort", sort.clone()));
            pairs.push(("dir", if self.descending { "desc" } else { "asc" }.into()));
        }
        pairs.push(("limit", self.limit.to_string()));
        if let Some(v) = &self.version {
            pairs.push(("version", v.clone()));
        }
        if let Some(a) = &self.as_of {
            pairs.push(("as_of", a.clone()));
        }
        pairs
    }

    /// The REST export of this state in `format` (extra parameters appended).
    fn export_link(&self, id: &str, format: &str, extra: &[(&str, &str)]) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("format", format);
        for (k, v) in extra {
            q.append_pair(k, v);
        }
        for (c, o, v) in &self.filters {
            q.append_pair("filter", &format!("{c}:{o}:{v}"));
        }
        if let Some(sort) = &self.sort {
            let dir = if self.descending { "desc" } else { "asc" };
            q.append_pair("order_by", &format!("{sort}:{dir}"));
        }
        if let Some(v) = &self.version {
            q.append_pair("version", v);
        }
        if let Some(a) = &self.as_of {
            q.append_pair("as_of", a);
        }
        format!("/api/v1/datasets/{id}/export?{}", q.finish())
    }
}

fn link(id: &str, pairs: &[(&str, String)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    format!("/console/datasets/{id}?{}", q.finish())
}

/// `GET /console/datasets/{id}`.
pub async fn dataset_page(
    req: HttpRequest,
    viewer: Viewer,
    core: web::Data<Core>,
    id: web::Path<String>,
) -> Result<HttpResponse, Failure> {
    let lang = viewer.lang;
    let target = Target {
        dataset: &id,
        municipality: viewer.acting(),
    };
    let work = async {
        let (detail, facts) = core.describe_dataset(&viewer.principal, target).await?;
        let (versions, _) = core.versions(&viewer.principal, target).await?;
        // The municipality's recent deliveries, unless the viewer's role is narrowed to
        // part of its rows (then the section is left out).
        let receipts = match core
            .list_deliveries(&viewer.principal, &id, viewer.acting())
            .await
        {
            Ok((receipts, _)) => Some(receipts),
            Err(e) if e.class() == ErrorClass::Forbidden => None,
            Err(e) => return Err(e),
        };
        Ok(((detail, versions, receipts), facts))
    };
    let (detail, versions, receipts) = core
        .audited(&viewer.ctx, &viewer.principal, Some(&id), work)
        .await
        .map_err(|e| viewer.fail(e))?;
    let state = State::parse(req.query_string());
    let read = async {
        let request = PageRequest {
            query: state.row_query()?,
            cursor: state.cursor.clone(),
            surface: "console",
        };
        core.read_page(&viewer.principal, target, request).await
    };
    let page = match core
        .audited(&viewer.ctx, &viewer.principal, Some(&id), read)
        .await
    {
        Ok(page) => Ok(page),
        // The caller's mistake is shown next to its field; anything else is a page.
        Err(e) if e.class() == ErrorClass::BadRequest => {
            Err(Refused::new("query", Fields::default(), &e))
        }
        Err(e) => return Err(viewer.fail(e)),
    };
    let title = lang
        .pick(&detail.summary.title.da, &detail.summary.title.en)
        .to_owned();
    let body = html! {
        p.crumbs { a href="/console/datasets" { (lang.t("nav.catalogue")) } " › " code { (id) } }
        h1 { (title) }
        p { (lang.pick(&detail.summary.description.da, &detail.summary.description.en)) }
        p.fresh {
            (lang.t("catalogue.updated")) ": "
            strong { (detail.updated_at.as_ref().map(when).unwrap_or_else(|| "–".into())) }
            " · " (lang.t("catalogue.version")) " " (detail.table_version)
        }
        (query_form(&viewer, &detail, &state, FormView::new("query", page.as_ref().err(), QUERY_FIELDS, "query-error")))
        @if let Ok(page) = &page {
            (rows_table(&viewer, &detail, page, &state))
        }
        (downloads(&viewer, &detail, &state))
        p { a href={ "/console/connect?dataset=" (id) } { (lang.t("dataset.connect")) } }
        (versions_table(&viewer, &versions, &state))
        @if let Some(receipts) = &receipts {
            (deliveries_table(&viewer, receipts))
        }
        section aria-labelledby="columns-heading" {
            h2 id="columns-heading" { (lang.t("catalogue.columns")) }
            (columns_table(&viewer, &detail.columns, &id))
        }
    };
    Ok(layout::page(&viewer.shell(), &title, body))
}

/// The query form's fields a mistake can be shown next to.
const QUERY_FIELDS: &[&str] = &["filter", "version", "as_of"];

fn query_form(viewer: &Viewer, detail: &DatasetDetail, state: &State, f: FormView<'_>) -> Markup {
    let lang = viewer.lang;
    let id = &detail.summary.id;
    // The rows shown, plus one empty row to add a filter without the script.
    let mut rows = state.filters.clone();
    rows.push((String::new(), "eq".into(), String::new()));
    html! {
        form.query method="get" action={ "/console/datasets/" (id) } aria-describedby=[f.form_described()] {
            fieldset.filters-builder {
                legend { (lang.t("dataset.filters")) }
                p.help id="filter-help" { (lang.t("dataset.filter_help")) }
                div data-filter-rows {
                    @for (i, (column, op, value)) in rows.iter().enumerate() {
                        (filter_row(viewer, detail, i, (column.as_str(), op.as_str(), value.as_str()), f.filter_message(column)))
                    }
                }
                button type="button" data-add-filter hidden { (lang.t("dataset.filter_add")) }
            }
            (f.form_message())
            div.row {
                div {
                    label for="sort" { (lang.t("dataset.sort")) }
                    select id="sort" name="sort" {
                        option value="" { (lang.t("dataset.sort_none")) }
                        @for c in &detail.columns {
                            option value=(c.name) selected[state.sort.as_deref() == Some(c.name.as_str())] { (c.name) }
                        }
                    }
                }
                div {
                    label for="dir" { (lang.t("dataset.direction")) }
                    select id="dir" name="dir" {
                        option value="asc" selected[!state.descending] { (lang.t("dataset.ascending")) }
                        option value="desc" selected[state.descending] { (lang.t("dataset.descending")) }
                    }
                }
                div {
                    label for="limit" { (lang.t("dataset.page_size")) }
                    select id="limit" name="limit" {
                        @for n in PAGE_SIZES {
                            option value=(n) selected[state.limit == n] { (n) }
                        }
                    }
                }
                div {
                    label for="version" { (lang.t("dataset.version")) }
                    input id="version" name="version" type="number" min="0" inputmode="numeric" value=[state.version.as_deref()]
                        aria-invalid=[f.invalid("version")] aria-describedby=[f.described("version", "version", None)];
                    (f.message("version", "version"))
                }
                div {
                    label for="as_of" { (lang.t("dataset.as_of")) }
                    input id="as_of" name="as_of" type="date" value=[state.as_of.as_deref()]
                        aria-invalid=[f.invalid("as_of")] aria-describedby=[f.described("as_of", "as_of", None)];
                    (f.message("as_of", "as_of"))
                }
            }
            div.actions {
                button type="submit" { (lang.t("dataset.apply")) }
                a href={ "/console/datasets/" (id) } { (lang.t("dataset.reset")) }
            }
        }
    }
}

/// One filter of the builder; `error` is the core's message about it, shown next to
/// its value.
fn filter_row(
    viewer: &Viewer,
    detail: &DatasetDetail,
    i: usize,
    (column, op, value): (&str, &str, &str),
    error: Option<&str>,
) -> Markup {
    let lang = viewer.lang;
    let n = i + 1;
    html! {
        div.filter data-filter-row {
            div {
                label for={ "fc-" (i) } { (lang.t("dataset.filter_column")) " " (n) }
                select id={ "fc-" (i) } name="fc" {
                    option value="" { "—" }
                    @for c in &detail.columns {
                        option value=(c.name) selected[c.name == column] { (c.name) " (" (c.data_type) ")" }
                    }
                }
            }
            div {
                label for={ "fo-" (i) } { (lang.t("dataset.filter_operator")) " " (n) }
                select id={ "fo-" (i) } name="fo" {
                    @for o in Operator::ALL {
                        option value=(o.name()) selected[o.name() == op] { (o.name()) }
                    }
                }
            }
            div {
                label for={ "fv-" (i) } { (lang.t("dataset.filter_value")) " " (n) }
                input id={ "fv-" (i) } name="fv" value=(value)
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=(error.map_or_else(|| "filter-help".to_owned(), |_| format!("fv-{i}-error filter-help")));
                @if let Some(message) = error {
                    p.error.field-error id={ "fv-" (i) "-error" } { (message) }
                }
            }
            button type="button" data-remove-filter hidden { (lang.t("dataset.filter_remove")) " " (n) }
        }
    }
}

fn rows_table(viewer: &Viewer, detail: &DatasetDetail, page: &Page, state: &State) -> Markup {
    let lang = viewer.lang;
    let id = &detail.summary.id;
    let batch = page.batch.as_ref();
    let options = FormatOptions::default();
    let formatters: Vec<Option<ArrayFormatter<'_>>> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).ok())
        .collect();
    let n = batch.num_rows();
    let mut next = state.pairs();
    if let Some(cursor) = &page.next_cursor {
        next.push(("cursor", cursor.clone()));
    }
    html! {
        section aria-labelledby="rows-heading" {
            h2 id="rows-heading" { (lang.t("dataset.rows")) }
            p role="status" id="rows-status" {
                @if n == 0 {
                    (lang.t("dataset.no_rows"))
                } @else {
                    (lang.t("dataset.showing")) " " (page.offset + 1) "–" (page.offset + n as u64)
                    " " (lang.t("dataset.of_version")) " " (page.version)
                }
            }
            @if n > 0 {
                div.scroll tabindex="0" role="region" aria-labelledby="rows-heading" {
                    table.rows {
                        caption.visually-hidden { (lang.t("dataset.table_caption")) " " (id) }
                        thead { tr { @for c in &page.columns { th scope="col" { (c) } } } }
                        tbody {
                            @for row in 0..n {
                                tr {
                                    @for f in &formatters {
                                        td { @if let Some(f) = f { (f.value(row).to_string()) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label=(lang.t("dataset.rows")) {
                @if state.cursor.is_some() {
                    a href=(link(id, &state.pairs())) { (lang.t("dataset.first")) }
                }
                @if page.next_cursor.is_some() {
                    a rel="next" href=(link(id, &next)) { (lang.t("dataset.next")) }
                }
            }
        }
    }
}

fn downloads(viewer: &Viewer, detail: &DatasetDetail, state: &State) -> Markup {
    let lang = viewer.lang;
    let id = &detail.summary.id;
    let danish = [("delimiter", ";"), ("decimal", "comma"), ("bom", "true")];
    let items: [(&str, String); 7] = [
        // The Danish-Excel CSV is named in the page's language.
        ("XLSX (Excel)", state.export_link(id, "xlsx", &[])),
        (
            lang.t("dataset.csv_danish"),
            state.export_link(id, "csv", &danish),
        ),
        ("CSV", state.export_link(id, "csv", &[])),
        ("Parquet", state.export_link(id, "parquet", &[])),
        ("JSON", state.export_link(id, "json", &[])),
        ("NDJSON", state.export_link(id, "ndjson", &[])),
        ("Arrow IPC", state.export_link(id, "arrow", &[])),
    ];
    html! {
        section aria-labelledby="download-heading" {
            h2 id="download-heading" { (lang.t("dataset.download")) }
            p { (lang.t("dataset.download_help")) }
            p.excel { (lang.t("dataset.excel").replace("{code}", &detail.municipality)) }
            ul.downloads {
                @for (name, href) in &items {
                    li { a href=(href) download data-format=(name) { (name) } }
                }
            }
        }
    }
}

/// This page's query at another version (instead of a version or date chosen).
fn version_link(id: &str, state: &State, version: u64) -> String {
    let mut pairs = state.pairs();
    pairs.retain(|(k, _)| *k != "version" && *k != "as_of");
    pairs.push(("version", version.to_string()));
    link(id, &pairs)
}

fn versions_table(viewer: &Viewer, versions: &VersionList, state: &State) -> Markup {
    let lang = viewer.lang;
    let id = &versions.dataset;
    html! {
        section aria-labelledby="versions-heading" {
            h2 id="versions-heading" { (lang.t("dataset.versions")) }
            p { (lang.t("dataset.versions_help")) }
            table.versions {
                caption.visually-hidden { (lang.t("dataset.versions")) }
                thead { tr {
                    th scope="col" { (lang.t("dataset.version")) }
                    th scope="col" { (lang.t("dataset.time")) }
                    th scope="col" { (lang.t("dataset.operation")) }
                    th scope="col" { (lang.t("dataset.inserted")) }
                    th scope="col" { (lang.t("dataset.updated")) }
                    th scope="col" { (lang.t("dataset.deleted")) }
                    th scope="col" { span.visually-hidden { (lang.t("dataset.show_version")) } }
                } }
                tbody {
                    @for (i, v) in versions.versions.iter().enumerate() {
                        tr {
                            th scope="row" { (v.version) @if i == 0 { " (" (lang.t("dataset.current")) ")" } }
                            td { (v.timestamp.as_ref().map(when).unwrap_or_default()) }
                            td { (v.operation.as_deref().unwrap_or_default()) }
                            td { (v.rows_inserted.map(|n| n.to_string()).unwrap_or_default()) }
                            td { (v.rows_updated.map(|n| n.to_string()).unwrap_or_default()) }
                            td { (v.rows_deleted.map(|n| n.to_string()).unwrap_or_default()) }
                            td { a href=(version_link(id, state, v.version)) { (lang.t("dataset.show_version")) " " (v.version) } }
                        }
                    }
                }
            }
        }
    }
}

fn deliveries_table(viewer: &Viewer, list: &DeliveryReceiptList) -> Markup {
    let lang = viewer.lang;
    html! {
        section aria-labelledby="deliveries-heading" {
            h2 id="deliveries-heading" { (lang.t("dataset.deliveries")) }
            @if list.receipts.is_empty() {
                p { (lang.t("dataset.no_deliveries")) }
            } @else {
                table.deliveries {
                    caption.visually-hidden { (lang.t("dataset.deliveries")) }
                    thead { tr {
                        th scope="col" { (lang.t("dataset.delivery_id")) }
                        th scope="col" { (lang.t("dataset.time")) }
                        th scope="col" { (lang.t("dataset.delivery_mode")) }
                        th scope="col" { (lang.t("dataset.version")) }
                        th scope="col" { (lang.t("dataset.inserted")) }
                        th scope="col" { (lang.t("dataset.updated")) }
                        th scope="col" { (lang.t("dataset.deleted")) }
                    } }
                    tbody {
                        @for r in &list.receipts {
                            tr data-delivery=(r.delivery_id) {
                                th scope="row" { code { (r.delivery_id) } }
                                td { (when(&r.delivered_at)) }
                                td { (r.mode) }
                                td { (r.table_version) }
                                td { (r.rows_inserted) }
                                td { (r.rows_updated) }
                                td { (r.rows_deleted) }
                            }
                        }
                    }
                }
            }
        }
    }
}
