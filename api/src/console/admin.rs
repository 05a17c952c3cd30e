//! IT administration of the signed-in person's municipality (role
//! `it-administration`; the core decides, this page only shows its answers): machine
//! clients (register — secret shown once — rotate, disable, delete), the municipality's
//! personal tokens (revoke), delegations, settings, and the audit log with filters,
//! export and the chain's verification status.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use dap_openapi::model::admin::{
    AuditParams, ClientList, DelegationList, MunicipalTokenList, NewClient, NewDelegation,
    NewSettings, Settings,
};
use dap_openapi::model::datasets::DatasetSummary;
use maud::{Markup, html};

use super::Failure;
use super::layout::{self, when};
use super::session::{Fields, Submitted, Viewer};
use crate::app::admin::audit_log::AuditSelection;
use crate::app::{AppError, Core, ErrorClass};

/// What the page shows besides the lists: a secret just issued, a form's error.
#[derive(Debug, Default)]
struct Notice {
    secret: Option<(String, String)>,
    error: Option<(&'static str, String)>,
}

struct Overview {
    clients: ClientList,
    tokens: MunicipalTokenList,
    delegations: DelegationList,
    settings: Settings,
    datasets: Vec<DatasetSummary>,
}

/// `GET /console/admin`.
pub async fn overview(viewer: Viewer, core: web::Data<Core>) -> Result<HttpResponse, Failure> {
    render(&viewer, &core, Notice::default()).await
}

async fn render(viewer: &Viewer, core: &Core, notice: Notice) -> Result<HttpResponse, Failure> {
    let lang = viewer.lang;
    let p = &viewer.principal;
    let work = async {
        let (clients, facts) = core.list_clients(p, None).await?;
        let (tokens, _) = core.municipal_tokens(p, None).await?;
        let (delegations, _) = core.delegations(p, None).await?;
        let (settings, _) = core.municipality_settings(p, None)?;
        let datasets = core
            .catalogue
            .all()
            .iter()
            .map(|d| crate::app::datasets::summary(d))
            .collect();
        let overview = Overview {
            clients,
            tokens,
            delegations,
            settings,
            datasets,
        };
        Ok((overview, facts))
    };
    let o = core
        .audited(&viewer.ctx, p, None, work)
        .await
        .map_err(|e| viewer.fail(e))?;
    let error = |form: &str| {
        notice
            .error
            .as_ref()
            .filter(|(f, _)| *f == form)
            .map(|(_, m)| m.as_str())
    };
    let body = html! {
        h1 { (lang.t("admin.title")) " — " (lang.t("municipality")) " " (o.settings.municipality) }
        (clients_section(viewer, &o, &notice, error("client")))
        (tokens_section(viewer, &o))
        (delegations_section(viewer, &o, error("delegation")))
        (settings_section(viewer, &o, error("settings")))
    };
    let mut response = layout::page(&viewer.shell(), lang.t("admin.title"), body);
    if notice.error.is_some() {
        *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

fn dataset_checks(prefix: &str, datasets: &[DatasetSummary], checked: &[String]) -> Markup {
    html! {
        div.checks {
            @for d in datasets {
                div.check {
                    input type="checkbox" id={ (prefix) "-" (d.id) } name="dataset" value=(d.id) checked[checked.contains(&d.id)];
                    label for={ (prefix) "-" (d.id) } { (d.id) }
                }
            }
        }
    }
}

fn clients_section(viewer: &Viewer, o: &Overview, notice: &Notice, error: Option<&str>) -> Markup {
    let lang = viewer.lang;
    html! {
        section aria-labelledby="clients-heading" {
            h2 id="clients-heading" { (lang.t("admin.clients")) }
            p { (lang.t("admin.clients_help")) }
            @if let Some((client, secret)) = &notice.secret {
                p { (lang.t("admin.client_id")) ": " code data-client-id { (client) } }
                (layout::secret_once(lang, lang.t("admin.secret"), secret, lang.t("admin.secret_once")))
            }
            form.card method="post" action="/console/admin/clients" aria-describedby=[error.map(|_| "client-error")] {
                input type="hidden" name="csrf" value=(viewer.csrf);
                (layout::form_error(error, "client-error"))
                label for="client-name" { (lang.t("admin.client_name")) }
                input id="client-name" name="name" required maxlength="100" autocomplete="off";
                label for="client-description" { (lang.t("admin.client_description")) }
                input id="client-description" name="description" maxlength="500" autocomplete="off";
                fieldset {
                    legend { (lang.t("connect.datasets")) }
                    (dataset_checks("client", &o.datasets, &[]))
                }
                label for="client-days" { (lang.t("admin.days")) }
                input id="client-days" name="days" type="number" min="1" max="730" value="365" inputmode="numeric";
                button type="submit" { (lang.t("admin.register")) }
            }
            @if o.clients.clients.is_empty() {
                p { (lang.t("admin.no_clients")) }
            } @else {
                table.clients {
                    caption.visually-hidden { (lang.t("admin.clients")) }
                    thead { tr {
                        th scope="col" { (lang.t("admin.client_name")) }
                        th scope="col" { (lang.t("admin.client_id")) }
                        th scope="col" { (lang.t("connect.datasets")) }
                        th scope="col" { (lang.t("connect.expires")) }
                        th scope="col" { (lang.t("admin.status")) }
                        th scope="col" { span.visually-hidden { (lang.t("admin.status")) } }
                    } }
                    tbody {
                        @for c in &o.clients.clients {
                            tr data-client=(c.client_id) {
                                th scope="row" {
                                    (c.name)
                                    @if let Some(d) = &c.description { br; small { (d) } }
                                }
                                td { code { (c.client_id) } }
                                td { (c.datasets.join(", ")) }
                                td { (when(&c.expires_at)) }
                                td.status { @if c.disabled { (lang.t("admin.disabled")) } @else { (lang.t("admin.active")) } }
                                td.actions {
                                    @for (action, label) in [("rotate", "admin.rotate"), ("disable", "admin.disable"), ("delete", "admin.delete")] {
                                        @if !(c.disabled && action != "delete") {
                                            form.inline method="post" action={ "/console/admin/clients/" (c.client_id) "/" (action) } {
                                                input type="hidden" name="csrf" value=(viewer.csrf);
                                                button type="submit" data-action=(action) aria-label={ (lang.t(label)) " " (c.client_id) } { (lang.t(label)) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn tokens_section(viewer: &Viewer, o: &Overview) -> Markup {
    let lang = viewer.lang;
    html! {
        section aria-labelledby="mtokens-heading" {
            h2 id="mtokens-heading" { (lang.t("admin.tokens")) }
            @if o.tokens.tokens.is_empty() {
                p { (lang.t("admin.no_tokens")) }
            } @else {
                table {
                    caption.visually-hidden { (lang.t("admin.tokens")) }
                    thead { tr {
                        th scope="col" { (lang.t("connect.name")) }
                        th scope="col" { (lang.t("admin.owner")) }
                        th scope="col" { (lang.t("connect.datasets")) }
                        th scope="col" { (lang.t("connect.expires")) }
                        th scope="col" { (lang.t("admin.status")) }
                    } }
                    tbody {
                        @for t in &o.tokens.tokens {
                            tr {
                                th scope="row" { (t.name) }
                                td { (t.subject) }
                                td { (t.datasets.join(", ")) }
                                td { (when(&t.expires_at)) }
                                td {
                                    @if let Some(at) = &t.revoked_at {
                                        (lang.t("connect.revoked")) " " (when(at))
                                    } @else {
                                        form.inline method="post" action={ "/console/admin/tokens/" (t.id) "/revoke" } {
                                            input type="hidden" name="csrf" value=(viewer.csrf);
                                            button type="submit" aria-label={ (lang.t("connect.revoke")) " " (t.name) } { (lang.t("connect.revoke")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn delegations_section(viewer: &Viewer, o: &Overview, error: Option<&str>) -> Markup {
    let lang = viewer.lang;
    html! {
        section aria-labelledby="delegations-heading" {
            h2 id="delegations-heading" { (lang.t("admin.delegations")) }
            p { (lang.t("admin.delegations_help")) }
            form.card method="post" action="/console/admin/delegations" aria-describedby=[error.map(|_| "delegation-error")] {
                input type="hidden" name="csrf" value=(viewer.csrf);
                (layout::form_error(error, "delegation-error"))
                label for="grantee" { (lang.t("admin.grantee")) }
                input id="grantee" name="grantee_cvr" inputmode="numeric" maxlength="8" required;
                fieldset {
                    legend { (lang.t("connect.datasets")) }
                    (dataset_checks("delegation", &o.datasets, &[]))
                }
                label for="valid-until" { (lang.t("admin.valid_until")) }
                input id="valid-until" name="valid_until" type="date" required;
                button type="submit" { (lang.t("admin.delegate")) }
            }
            @if o.delegations.delegations.is_empty() {
                p { (lang.t("admin.no_delegations")) }
            } @else {
                table {
                    caption.visually-hidden { (lang.t("admin.delegations")) }
                    thead { tr {
                        th scope="col" { (lang.t("admin.grantee")) }
                        th scope="col" { (lang.t("admin.direction")) }
                        th scope="col" { (lang.t("connect.datasets")) }
                        th scope="col" { (lang.t("admin.valid_until")) }
                        th scope="col" { (lang.t("admin.status")) }
                    } }
                    tbody {
                        @for d in &o.delegations.delegations {
                            tr {
                                th scope="row" { (d.grantee_cvr) }
                                td { (d.direction) }
                                td { (d.datasets.join(", ")) }
                                td { (when(&d.valid_until)) }
                                td {
                                    @if let Some(at) = &d.revoked_at {
                                        (lang.t("connect.revoked")) " " (when(at))
                                    } @else if d.grantor == o.settings.municipality {
                                        form.inline method="post" action={ "/console/admin/delegations/" (d.id) "/revoke" } {
                                            input type="hidden" name="csrf" value=(viewer.csrf);
                                            button type="submit" aria-label={ (lang.t("connect.revoke")) " " (d.grantee_cvr) } { (lang.t("connect.revoke")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn settings_section(viewer: &Viewer, o: &Overview, error: Option<&str>) -> Markup {
    let lang = viewer.lang;
    let s = &o.settings;
    html! {
        section aria-labelledby="settings-heading" {
            h2 id="settings-heading" { (lang.t("admin.settings")) }
            form.card method="post" action="/console/admin/settings" aria-describedby=[error.map(|_| "settings-error")] {
                input type="hidden" name="csrf" value=(viewer.csrf);
                (layout::form_error(error, "settings-error"))
                fieldset {
                    legend { (lang.t("admin.disabled_datasets")) }
                    (dataset_checks("settings", &o.datasets, &s.disabled_datasets))
                }
                label for="min-nsis" { (lang.t("admin.min_nsis")) }
                select id="min-nsis" name="min_nsis" {
                    option value="" { (lang.t("admin.default")) }
                    @for level in ["Low", "Substantial", "High"] {
                        option value=(level) selected[s.min_nsis.as_deref() == Some(level)] { (level) }
                    }
                }
                @if let (Some(at), Some(by)) = (&s.updated_at, &s.updated_by) {
                    p.help { (lang.t("admin.updated_by")) " " (by) ", " (when(at)) }
                }
                button type="submit" { (lang.t("admin.save")) }
            }
        }
    }
}

/// A whole number of days from a form, or the form's mistake.
fn days(fields: &Fields) -> Result<Option<u32>, AppError> {
    fields
        .get("days")
        .map(|d| {
            d.parse::<u32>().map_err(|_| {
                AppError::InvalidParameter(
                    "the lifetime must be a whole number of days, e.g. 365".into(),
                )
            })
        })
        .transpose()
}

/// Runs one administrative change inside the audit; the caller's mistake goes back to
/// the page next to its form, anything else is an error page.
async fn change<T>(
    viewer: &Viewer,
    core: &Core,
    form: &'static str,
    work: impl std::future::Future<Output = Result<(T, crate::app::AuditFacts), AppError>>,
) -> Result<Result<T, Notice>, Failure> {
    match core
        .audited(&viewer.ctx, &viewer.principal, None, work)
        .await
    {
        Ok(done) => Ok(Ok(done)),
        Err(e) if e.class() == ErrorClass::BadRequest => Ok(Err(Notice {
            secret: None,
            error: Some((form, e.public_message())),
        })),
        Err(e) => Err(viewer.fail(e)),
    }
}

fn back() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/admin"))
        .finish()
}

/// `POST /console/admin/clients`: registers a client and shows its secret once.
pub async fn register_client(
    form: Submitted,
    core: web::Data<Core>,
) -> Result<HttpResponse, Failure> {
    let Submitted { viewer, fields } = form;
    let work = async {
        let input = NewClient {
            name: fields.get("name").unwrap_or_default().to_owned(),
            description: fields
                .get("description")
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            datasets: fields.all("dataset"),
            expires_in_days: days(&fields)?,
            public_key: None,
            municipality: None,
        };
        core.register_client(&viewer.principal, None, input).await
    };
    let notice = match change(&viewer, &core, "client", work).await? {
        Ok(created) => Notice {
            secret: created
                .client_secret
                .map(|s| (created.client.client_id.clone(), s)),
            error: None,
        },
        Err(notice) => notice,
    };
    render(&viewer, &core, notice).await
}

/// `POST /console/admin/clients/{client}/{rotate|disable|delete}`.
pub async fn change_client(
    form: Submitted,
    core: web::Data<Core>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Failure> {
    let viewer = form.viewer;
    let (client, action) = path.into_inner();
    let p = &viewer.principal;
    match action.as_str() {
        "rotate" => {
            let work = core.rotate_client_secret(p, None, &client);
            let notice = match change(&viewer, &core, "client", work).await? {
                Ok(rotated) => Notice {
                    secret: Some((rotated.client_id, rotated.client_secret)),
                    error: None,
                },
                Err(notice) => notice,
            };
            render(&viewer, &core, notice).await
        }
        "disable" | "delete" => {
            let work = core.change_client(p, None, &client, action == "delete");
            match change(&viewer, &core, "client", work).await? {
                Ok(()) => Ok(back()),
                Err(notice) => render(&viewer, &core, notice).await,
            }
        }
        _ => Err(viewer.fail(AppError::NotFound)),
    }
}

/// `POST /console/admin/tokens/{token}/revoke`.
pub async fn revoke_token(
    form: Submitted,
    core: web::Data<Core>,
    token: web::Path<String>,
) -> Result<HttpResponse, Failure> {
    let viewer = form.viewer;
    let work = core.revoke_municipal_token(&viewer.principal, None, &token);
    match change(&viewer, &core, "token", work).await? {
        Ok(()) => Ok(back()),
        Err(notice) => render(&viewer, &core, notice).await,
    }
}

/// `POST /console/admin/delegations`.
pub async fn delegate(form: Submitted, core: web::Data<Core>) -> Result<HttpResponse, Failure> {
    let Submitted { viewer, fields } = form;
    let work = async {
        // The core reads a date as the end of that day in Danish time.
        let valid_until = fields.get("valid_until").unwrap_or_default().to_owned();
        let input = NewDelegation {
            grantee_cvr: fields.get("grantee_cvr").unwrap_or_default().to_owned(),
            datasets: fields.all("dataset"),
            valid_until,
            grantor: None,
        };
        core.delegate(&viewer.principal, None, input).await
    };
    match change(&viewer, &core, "delegation", work).await? {
        Ok(_) => Ok(back()),
        Err(notice) => render(&viewer, &core, notice).await,
    }
}

/// `POST /console/admin/delegations/{delegation}/revoke`.
pub async fn revoke_delegation(
    form: Submitted,
    core: web::Data<Core>,
    delegation: web::Path<String>,
) -> Result<HttpResponse, Failure> {
    let viewer = form.viewer;
    let work = core.revoke_delegation(&viewer.principal, None, &delegation);
    match change(&viewer, &core, "delegation", work).await? {
        Ok(()) => Ok(back()),
        Err(notice) => render(&viewer, &core, notice).await,
    }
}

/// `POST /console/admin/settings`.
pub async fn save_settings(
    form: Submitted,
    core: web::Data<Core>,
) -> Result<HttpResponse, Failure> {
    let Submitted { viewer, fields } = form;
    let input = NewSettings {
        disabled_datasets: fields.all("dataset"),
        min_nsis: fields.get("min_nsis").map(str::to_owned),
        municipality: None,
    };
    let work = core.replace_settings(&viewer.principal, None, input);
    match change(&viewer, &core, "settings", work).await? {
        Ok(_) => Ok(back()),
        Err(notice) => render(&viewer, &core, notice).await,
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct AuditQuery {
    from: Option<String>,
    to: Option<String>,
    subject: Option<String>,
    dataset: Option<String>,
    outcome: Option<String>,
    after: Option<i64>,
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A date from the filter form: the start (`from`) or the end (`to`) of that day.
fn day(v: &Option<String>, end: bool, name: &str) -> Result<Option<String>, AppError> {
    let Some(text) = nonempty(v) else {
        return Ok(None);
    };
    let date = chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| {
        AppError::InvalidParameter(format!("{name} must be a date, e.g. 2026-01-31"))
    })?;
    // The form's "to" day is included: the query's bound is the start of the next day.
    let day = if end { date.succ_opt() } else { Some(date) };
    let start = day
        .and_then(dap_lake::as_of::start_of_danish_day)
        .ok_or_else(|| {
            AppError::InvalidParameter(format!("{name} must be a date, e.g. 2026-01-31"))
        })?;
    Ok(Some(
        start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    ))
}

/// `GET /console/admin/audit`.
pub async fn audit_log(
    viewer: Viewer,
    core: web::Data<Core>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, Failure> {
    let lang = viewer.lang;
    let q = query.into_inner();
    let params = || -> Result<AuditParams, AppError> {
        Ok(AuditParams {
            municipality: None,
            from: day(&q.from, false, "from")?,
            to: day(&q.to, true, "to")?,
            subject: nonempty(&q.subject),
            dataset: nonempty(&q.dataset),
            outcome: nonempty(&q.outcome),
            format: None,
            limit: Some(50),
            after: q.after,
        })
    };
    let work = async {
        let params = params()?;
        let (selection, facts) = core.query_audit(&viewer.principal, &params).await?;
        let (chain, _) = core.audit_chain_status(&viewer.principal, None).await?;
        Ok(((selection, chain, params), facts))
    };
    let (page, chain, params, error) = match core
        .audited(&viewer.ctx, &viewer.principal, None, work)
        .await
    {
        Ok((AuditSelection::Page(page), chain, params)) => {
            (Some(page), Some(chain), Some(params), None)
        }
        Ok(_) => (None, None, None, None),
        Err(e) if e.class() == ErrorClass::BadRequest => {
            (None, None, None, Some(e.public_message()))
        }
        Err(e) => return Err(viewer.fail(e)),
    };
    let mut export = url::form_urlencoded::Serializer::new(String::new());
    let mut more = url::form_urlencoded::Serializer::new(String::new());
    if let Some(p) = &params {
        for (k, v) in [
            ("from", p.from.clone()),
            ("to", p.to.clone()),
            ("subject", p.subject.clone()),
            ("dataset", p.dataset.clone()),
            ("outcome", p.outcome.clone()),
        ] {
            if let Some(v) = v {
                export.append_pair(k, &v);
            }
        }
    }
    for (k, v) in [
        ("from", &q.from),
        ("to", &q.to),
        ("subject", &q.subject),
        ("dataset", &q.dataset),
        ("outcome", &q.outcome),
    ] {
        if let Some(v) = nonempty(v) {
            more.append_pair(k, &v);
        }
    }
    let export = export.finish();
    let outcome = nonempty(&q.outcome);
    let body = html! {
        h1 { (lang.t("audit.title")) }
        @if let Some(chain) = &chain {
            section.card aria-labelledby="chain-heading" {
                h2 id="chain-heading" { (lang.t("audit.chain")) }
                @match &chain.first_break {
                    None => { p.ok data-chain="intact" { (lang.t("audit.chain_ok")) } }
                    Some((kind, _, seq)) => { p.error data-chain="broken" { (lang.t("audit.chain_broken")) " " (seq) " (" (kind) ")" } }
                }
                p.help { (chain.records_checked) " " (lang.t("audit.checked")) " " (chain.head_seq) }
            }
        }
        form.filters method="get" action="/console/admin/audit" aria-describedby=[error.as_ref().map(|_| "audit-error")] {
            div { label for="from" { (lang.t("audit.from")) } input id="from" name="from" type="date" value=[nonempty(&q.from)]; }
            div { label for="to" { (lang.t("audit.to")) } input id="to" name="to" type="date" value=[nonempty(&q.to)]; }
            div { label for="subject" { (lang.t("audit.subject")) } input id="subject" name="subject" value=[nonempty(&q.subject)]; }
            div { label for="audit-dataset" { (lang.t("audit.dataset")) } input id="audit-dataset" name="dataset" value=[nonempty(&q.dataset)]; }
            div {
                label for="outcome" { (lang.t("audit.outcome")) }
                select id="outcome" name="outcome" {
                    option value="" { (lang.t("audit.any")) }
                    @for o in ["allowed", "denied", "failed"] {
                        option value=(o) selected[outcome.as_deref() == Some(o)] { (o) }
                    }
                }
            }
            button type="submit" { (lang.t("audit.filter")) }
            (layout::form_error(error.as_deref(), "audit-error"))
        }
        p.downloads {
            (lang.t("audit.export")) ": "
            a href={ "/api/v1/admin/audit?format=csv&" (export) } download { "CSV" } " · "
            a href={ "/api/v1/admin/audit?format=ndjson&" (export) } download { "NDJSON" }
        }
        @if let Some(page) = &page {
            @if page.records.is_empty() {
                p role="status" { (lang.t("audit.none")) }
            } @else {
                div.scroll tabindex="0" role="region" aria-labelledby="audit-caption" {
                    table.audit {
                        caption id="audit-caption" { (lang.t("audit.title")) }
                        thead { tr {
                            th scope="col" { "#" }
                            th scope="col" { (lang.t("audit.time")) }
                            th scope="col" { (lang.t("audit.subject")) }
                            th scope="col" { (lang.t("audit.action")) }
                            th scope="col" { (lang.t("audit.dataset")) }
                            th scope="col" { (lang.t("audit.outcome")) }
                            th scope="col" { (lang.t("audit.rows")) }
                            th scope="col" { (lang.t("audit.reason")) }
                        } }
                        tbody {
                            @for r in &page.records {
                                tr data-outcome=(r.outcome) {
                                    th scope="row" { (r.seq) }
                                    td { (when(&r.occurred_at)) }
                                    td { (r.subject.as_deref().unwrap_or_default()) }
                                    td { code { (r.action) } }
                                    td { (r.dataset.as_deref().unwrap_or_default()) }
                                    td { (r.outcome) }
                                    td { (r.rows_returned.map(|n| n.to_string()).unwrap_or_default()) }
                                    td { (r.reason.as_deref().unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
                @if let Some(after) = page.next_after {
                    @let more = format!("{}&after={after}", more.finish());
                    p { a rel="next" href={ "/console/admin/audit?" (more) } { (lang.t("audit.more")) } }
                }
            }
        }
    };
    let mut response = layout::page(&viewer.shell(), lang.t("audit.title"), body);
    if error.is_some() {
        *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}
