//! IT administration of the signed-in person's municipality (role
//! `it-administration`; the core decides, this page only shows its answers): machine
//! clients (register — secret shown once — rotate, disable, delete), the municipality's
//! personal tokens (revoke), delegations, settings, delivery rights (who may deliver
//! which dataset: grant, revoke), and the audit log with filters, export and the chain's
//! verification status.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use dap_openapi::model::admin::{
    AuditParams, ClientList, DelegationList, MunicipalTokenList, NewClient, NewDelegation,
    NewSettings, Settings,
};
use dap_openapi::model::datasets::DatasetSummary;
use dap_openapi::model::deliveries::{DeliveryRightList, NewDeliveryRight};
use maud::{Markup, html};

use super::Failure;
use super::form::{FormView, Refused};
use super::layout::{self, when};
use super::session::{Fields, Submitted, Viewer};
use crate::app::admin::audit_log::AuditSelection;
use crate::app::{AppError, Core, ErrorClass};
use crate::rest::input::Query;

/// What the page shows besides the lists: a secret just issued, a refused form.
#[derive(Debug, Default)]
struct Notice {
    secret: Option<(String, String)>,
    refused: Option<Refused>,
}

struct Overview {
    clients: ClientList,
    tokens: MunicipalTokenList,
    delegations: DelegationList,
    settings: Settings,
    rights: DeliveryRightList,
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
        let (clients, facts) = core.list_clients(p, viewer.acting()).await?;
        let (tokens, _) = core.municipal_tokens(p, viewer.acting()).await?;
        let (delegations, _) = core.delegations(p, viewer.acting()).await?;
        let (settings, _) = core.municipality_settings(p, viewer.acting())?;
        let (rights, _) = core.list_delivery_rights(p, viewer.acting()).await?;
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
            rights,
            datasets,
        };
        Ok((overview, facts))
    };
    let o = core
        .audited(&viewer.ctx, p, None, work)
        .await
        .map_err(|e| viewer.fail(e))?;
    let refused = notice.refused.as_ref();
    let body = html! {
        h1 { (lang.t("admin.title")) " — " (lang.t("municipality")) " " (o.settings.municipality) }
        @if let Some(r) = refused.filter(|r| r.form == "change") {
            (layout::form_error(Some(&r.message), "change-error"))
        }
        (clients_section(viewer, &o, &notice, FormView::new("client", refused, CLIENT_FIELDS, "client-error")))
        (tokens_section(viewer, &o))
        (delegations_section(viewer, &o, FormView::new("delegation", refused, DELEGATION_FIELDS, "delegation-error")))
        (settings_section(viewer, &o, FormView::new("settings", refused, SETTINGS_FIELDS, "settings-error")))
        (rights_section(viewer, &o, FormView::new("right", refused, RIGHT_FIELDS, "right-error")))
    };
    let mut response = layout::page(&viewer.shell(), lang.t("admin.title"), body);
    if notice.refused.is_some() {
        *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

const CLIENT_FIELDS: &[&str] = &["name", "description", "datasets", "expires_in_days"];
const DELEGATION_FIELDS: &[&str] = &["grantee_cvr", "datasets", "valid_until"];
const SETTINGS_FIELDS: &[&str] = &["disabled_datasets", "min_nsis"];
const RIGHT_FIELDS: &[&str] = &["dataset", "client_id", "issuer", "subject"];

/// The datasets as checkboxes of a fieldset for API field `field`: ticked as sent when
/// the form comes back, else as `checked`; the core's message for the field below them.
fn dataset_checks(
    f: &FormView<'_>,
    field: &str,
    prefix: &str,
    legend: &str,
    datasets: &[DatasetSummary],
    checked: &[String],
) -> Markup {
    let fieldset_id = format!("{prefix}-datasets");
    html! {
        fieldset id=(fieldset_id) aria-invalid=[f.invalid(field)] aria-describedby=[f.described(field, &fieldset_id, None)] {
            legend { (legend) }
            div.checks {
                @for d in datasets {
                    div.check {
                        input type="checkbox" id={ (prefix) "-" (d.id) } name="dataset" value=(d.id)
                            checked[f.checked("dataset", &d.id, checked.contains(&d.id))];
                        label for={ (prefix) "-" (d.id) } { (d.id) }
                    }
                }
            }
            (f.message(field, &fieldset_id))
        }
    }
}

fn clients_section(viewer: &Viewer, o: &Overview, notice: &Notice, f: FormView<'_>) -> Markup {
    let lang = viewer.lang;
    html! {
        section aria-labelledby="clients-heading" {
            h2 id="clients-heading" { (lang.t("admin.clients")) }
            p { (lang.t("admin.clients_help")) }
            @if let Some((client, secret)) = &notice.secret {
                p { (lang.t("admin.client_id")) ": " code data-client-id { (client) } }
                (layout::secret_once(lang, lang.t("admin.secret"), secret, lang.t("admin.secret_once")))
            }
            form.card method="post" action="/console/admin/clients" aria-describedby=[f.form_described()] {
                input type="hidden" name="csrf" value=(viewer.csrf);
                (f.form_message())
                label for="client-name" { (lang.t("admin.client_name")) }
                input id="client-name" name="name" required maxlength="100" autocomplete="off"
                    value=[f.value("name")] aria-invalid=[f.invalid("name")] aria-describedby=[f.described("name", "client-name", None)];
                (f.message("name", "client-name"))
                label for="client-description" { (lang.t("admin.client_description")) }
                input id="client-description" name="description" maxlength="500" autocomplete="off"
                    value=[f.value("description")] aria-invalid=[f.invalid("description")] aria-describedby=[f.described("description", "client-description", None)];
                (f.message("description", "client-description"))
                (dataset_checks(&f, "datasets", "client", lang.t("connect.datasets"), &o.datasets, &[]))
                label for="client-days" { (lang.t("admin.days")) }
                input id="client-days" name="days" type="number" min="1" max="730" value=(f.value_or("days", "365")) inputmode="numeric"
                    aria-invalid=[f.invalid("expires_in_days")] aria-describedby=[f.described("expires_in_days", "client-days", None)];
                (f.message("expires_in_days", "client-days"))
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

fn delegations_section(viewer: &Viewer, o: &Overview, f: FormView<'_>) -> Markup {
    let lang = viewer.lang;
    html! {
        section aria-labelledby="delegations-heading" {
            h2 id="delegations-heading" { (lang.t("admin.delegations")) }
            p { (lang.t("admin.delegations_help")) }
            form.card method="post" action="/console/admin/delegations" aria-describedby=[f.form_described()] {
                input type="hidden" name="csrf" value=(viewer.csrf);
                (f.form_message())
                label for="grantee" { (lang.t("admin.grantee")) }
                input id="grantee" name="grantee_cvr" inputmode="numeric" maxlength="8" required
                    value=[f.value("grantee_cvr")] aria-invalid=[f.invalid("grantee_cvr")] aria-describedby=[f.described("grantee_cvr", "grantee", None)];
                (f.message("grantee_cvr", "grantee"))
                (dataset_checks(&f, "datasets", "delegation", lang.t("connect.datasets"), &o.datasets, &[]))
                label for="valid-until" { (lang.t("admin.valid_until")) }
                input id="valid-until" name="valid_until" type="date" required
                    value=[f.value("valid_until")] aria-invalid=[f.invalid("valid_until")] aria-describedby=[f.described("valid_until", "valid-until", None)];
                (f.message("valid_until", "valid-until"))
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

fn settings_section(viewer: &Viewer, o: &Overview, f: FormView<'_>) -> Markup {
    let lang = viewer.lang;
    let s = &o.settings;
    html! {
        section aria-labelledby="settings-heading" {
            h2 id="settings-heading" { (lang.t("admin.settings")) }
            form.card method="post" action="/console/admin/settings" aria-describedby=[f.form_described()] {
                input type="hidden" name="csrf" value=(viewer.csrf);
                (f.form_message())
                (dataset_checks(&f, "disabled_datasets", "settings", lang.t("admin.disabled_datasets"), &o.datasets, &s.disabled_datasets))
                @let level_now = if f.is_refused() { f.value("min_nsis") } else { s.min_nsis.as_deref() };
                label for="min-nsis" { (lang.t("admin.min_nsis")) }
                select id="min-nsis" name="min_nsis" aria-invalid=[f.invalid("min_nsis")] aria-describedby=[f.described("min_nsis", "min-nsis", None)] {
                    option value="" { (lang.t("admin.default")) }
                    @for level in ["Low", "Substantial", "High"] {
                        option value=(level) selected[level_now == Some(level)] { (level) }
                    }
                }
                (f.message("min_nsis", "min-nsis"))
                @if let (Some(at), Some(by)) = (&s.updated_at, &s.updated_by) {
                    p.help { (lang.t("admin.updated_by")) " " (by) ", " (when(at)) }
                }
                button type="submit" { (lang.t("admin.save")) }
            }
        }
    }
}

fn rights_section(viewer: &Viewer, o: &Overview, f: FormView<'_>) -> Markup {
    let lang = viewer.lang;
    html! {
        section aria-labelledby="rights-heading" {
            h2 id="rights-heading" { (lang.t("admin.rights")) }
            p { (lang.t("admin.rights_help")) }
            form.card method="post" action="/console/admin/delivery-rights" aria-describedby=[f.form_described()] {
                input type="hidden" name="csrf" value=(viewer.csrf);
                (f.form_message())
                label for="right-dataset" { (lang.t("admin.right_dataset")) }
                select id="right-dataset" name="dataset" required aria-invalid=[f.invalid("dataset")] aria-describedby=[f.described("dataset", "right-dataset", None)] {
                    @for d in &o.datasets { option value=(d.id) selected[f.value("dataset") == Some(d.id.as_str())] { (d.id) } }
                }
                (f.message("dataset", "right-dataset"))
                label for="right-client" { (lang.t("admin.right_client")) }
                select id="right-client" name="client_id" aria-invalid=[f.invalid("client_id")] aria-describedby=[f.described("client_id", "right-client", None)] {
                    option value="" { (lang.t("admin.right_person")) }
                    @for c in o.clients.clients.iter().filter(|c| !c.disabled) {
                        option value=(c.client_id) selected[f.value("client_id") == Some(c.client_id.as_str())] { (c.name) " (" (c.client_id) ")" }
                    }
                }
                (f.message("client_id", "right-client"))
                fieldset {
                    legend { (lang.t("admin.right_person_legend")) }
                    label for="right-issuer" { (lang.t("admin.right_issuer")) }
                    input id="right-issuer" name="issuer" maxlength="512" autocomplete="off"
                        value=[f.value("issuer")] aria-invalid=[f.invalid("issuer")] aria-describedby=[f.described("issuer", "right-issuer", None)];
                    (f.message("issuer", "right-issuer"))
                    label for="right-subject" { (lang.t("admin.right_subject")) }
                    input id="right-subject" name="subject" maxlength="512" autocomplete="off"
                        value=[f.value("subject")] aria-invalid=[f.invalid("subject")] aria-describedby=[f.described("subject", "right-subject", None)];
                    (f.message("subject", "right-subject"))
                }
                button type="submit" { (lang.t("admin.grant")) }
            }
            @if o.rights.rights.is_empty() {
                p { (lang.t("admin.no_rights")) }
            } @else {
                table.rights {
                    caption.visually-hidden { (lang.t("admin.rights")) }
                    thead { tr {
                        th scope="col" { (lang.t("admin.right_dataset")) }
                        th scope="col" { (lang.t("admin.right_subject")) }
                        th scope="col" { (lang.t("admin.right_issuer")) }
                        th scope="col" { (lang.t("admin.granted")) }
                        th scope="col" { span.visually-hidden { (lang.t("connect.revoke")) } }
                    } }
                    tbody {
                        @for r in &o.rights.rights {
                            tr data-right=(r.dataset) data-grantee=(r.subject) {
                                th scope="row" { (r.dataset) }
                                td { code { (r.subject) } }
                                td { (r.issuer) }
                                td { (when(&r.granted_at)) " · " (r.granted_by) }
                                td {
                                    form.inline method="post" action="/console/admin/delivery-rights/revoke" {
                                        input type="hidden" name="csrf" value=(viewer.csrf);
                                        input type="hidden" name="dataset" value=(r.dataset);
                                        input type="hidden" name="issuer" value=(r.issuer);
                                        input type="hidden" name="subject" value=(r.subject);
                                        button type="submit" aria-label={ (lang.t("connect.revoke")) " " (r.dataset) " " (r.subject) } { (lang.t("connect.revoke")) }
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

/// A whole number of days from a form, or the form's mistake.
fn days(fields: &Fields) -> Result<Option<u32>, AppError> {
    fields
        .get("days")
        .map(|d| {
            d.parse::<u32>().map_err(|_| {
                AppError::invalid(
                    "expires_in_days",
                    "the lifetime must be a whole number of days, e.g. 365",
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
    fields: &Fields,
    work: impl std::future::Future<Output = Result<(T, crate::app::AuditFacts), AppError>>,
) -> Result<Result<T, Notice>, Failure> {
    match core
        .audited(&viewer.ctx, &viewer.principal, None, work)
        .await
    {
        Ok(done) => Ok(Ok(done)),
        Err(e) if e.class() == ErrorClass::BadRequest => Ok(Err(Notice {
            secret: None,
            refused: Some(Refused::new(form, fields.clone(), &e)),
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
        core.register_client(&viewer.principal, viewer.acting(), input)
            .await
    };
    let notice = match change(&viewer, &core, "client", &fields, work).await? {
        Ok(created) => Notice {
            secret: created
                .client_secret
                .map(|s| (created.client.client_id.clone(), s)),
            refused: None,
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
            let work = core.rotate_client_secret(p, viewer.acting(), &client);
            let notice = match change(&viewer, &core, "change", &Fields::default(), work).await? {
                Ok(rotated) => Notice {
                    secret: Some((rotated.client_id, rotated.client_secret)),
                    refused: None,
                },
                Err(notice) => notice,
            };
            render(&viewer, &core, notice).await
        }
        "disable" | "delete" => {
            let work = core.change_client(p, viewer.acting(), &client, action == "delete");
            match change(&viewer, &core, "change", &Fields::default(), work).await? {
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
    let work = core.revoke_municipal_token(&viewer.principal, viewer.acting(), &token);
    match change(&viewer, &core, "change", &Fields::default(), work).await? {
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
        core.delegate(&viewer.principal, viewer.acting(), input)
            .await
    };
    match change(&viewer, &core, "delegation", &fields, work).await? {
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
    let work = core.revoke_delegation(&viewer.principal, viewer.acting(), &delegation);
    match change(&viewer, &core, "change", &Fields::default(), work).await? {
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
    let work = core.replace_settings(&viewer.principal, viewer.acting(), input);
    match change(&viewer, &core, "settings", &fields, work).await? {
        Ok(_) => Ok(back()),
        Err(notice) => render(&viewer, &core, notice).await,
    }
}

/// `POST /console/admin/delivery-rights`: grants a delivery right to one of the
/// municipality's machine clients, or to a person (issuer and subject).
pub async fn grant_right(form: Submitted, core: web::Data<Core>) -> Result<HttpResponse, Failure> {
    let Submitted { viewer, fields } = form;
    let input = NewDeliveryRight {
        dataset: fields.get("dataset").unwrap_or_default().to_owned(),
        client_id: fields.get("client_id").map(str::to_owned),
        issuer: fields.get("issuer").map(str::to_owned),
        subject: fields.get("subject").map(str::to_owned),
    };
    let work = core.grant_delivery_right(&viewer.principal, viewer.acting(), input);
    match change(&viewer, &core, "right", &fields, work).await? {
        Ok(_) => Ok(back()),
        Err(notice) => render(&viewer, &core, notice).await,
    }
}

/// `POST /console/admin/delivery-rights/revoke`.
pub async fn revoke_right(form: Submitted, core: web::Data<Core>) -> Result<HttpResponse, Failure> {
    let Submitted { viewer, fields } = form;
    let work = core.revoke_delivery_right(
        &viewer.principal,
        viewer.acting(),
        fields.get("dataset").unwrap_or_default(),
        None,
        fields.get("issuer"),
        fields.get("subject"),
    );
    match change(&viewer, &core, "change", &Fields::default(), work).await? {
        Ok(()) => Ok(back()),
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

const AUDIT_FIELDS: &[&str] = &["from", "to", "subject", "dataset", "outcome"];

/// The filter form's value of `field`, as sent.
fn audit_value<'a>(q: &'a AuditQuery, field: &str) -> &'a Option<String> {
    match field {
        "from" => &q.from,
        "to" => &q.to,
        "subject" => &q.subject,
        _ => &q.dataset,
    }
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A date from the filter form: the start (`from`) or the end (`to`) of that day.
fn day(v: &Option<String>, end: bool, name: &'static str) -> Result<Option<String>, AppError> {
    let Some(text) = nonempty(v) else {
        return Ok(None);
    };
    let date = chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map_err(|_| AppError::invalid(name, format!("{name} must be a date, e.g. 2026-01-31")))?;
    // The form's "to" day is included: the query's bound is the start of the next day.
    let day = if end { date.succ_opt() } else { Some(date) };
    let start = day
        .and_then(dap_lake::as_of::start_of_danish_day)
        .ok_or_else(|| {
            AppError::invalid(name, format!("{name} must be a date, e.g. 2026-01-31"))
        })?;
    Ok(Some(
        start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    ))
}

/// `GET /console/admin/audit`.
pub async fn audit_log(
    viewer: Viewer,
    core: web::Data<Core>,
    query: Query<AuditQuery>,
) -> Result<HttpResponse, Failure> {
    let lang = viewer.lang;
    let q = viewer.input(&core, query).await?;
    let params = || -> Result<AuditParams, AppError> {
        Ok(AuditParams {
            municipality: viewer.acting().map(str::to_owned),
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
        let (chain, _) = core
            .audit_chain_status(&viewer.principal, viewer.acting())
            .await?;
        Ok(((selection, chain, params), facts))
    };
    let (page, chain, params, refused) = match core
        .audited(&viewer.ctx, &viewer.principal, None, work)
        .await
    {
        Ok((AuditSelection::Page(page), chain, params)) => {
            (Some(page), Some(chain), Some(params), None)
        }
        Ok(_) => (None, None, None, None),
        Err(e) if e.class() == ErrorClass::BadRequest => {
            let sent = [
                ("from", &q.from),
                ("to", &q.to),
                ("subject", &q.subject),
                ("dataset", &q.dataset),
                ("outcome", &q.outcome),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), v)))
            .collect();
            (
                None,
                None,
                None,
                Some(Refused::new("audit", Fields(sent), &e)),
            )
        }
        Err(e) => return Err(viewer.fail(e)),
    };
    let f = FormView::new("audit", refused.as_ref(), AUDIT_FIELDS, "audit-error");
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
        form.filters method="get" action="/console/admin/audit" aria-describedby=[f.form_described()] {
            @for (field, id, label, kind) in [("from", "from", "audit.from", "date"), ("to", "to", "audit.to", "date"), ("subject", "subject", "audit.subject", "text"), ("dataset", "audit-dataset", "audit.dataset", "text")] {
                div {
                    label for=(id) { (lang.t(label)) }
                    input id=(id) name=(field) type=(kind) value=[nonempty(audit_value(&q, field))]
                        aria-invalid=[f.invalid(field)] aria-describedby=[f.described(field, id, None)];
                    (f.message(field, id))
                }
            }
            div {
                label for="outcome" { (lang.t("audit.outcome")) }
                select id="outcome" name="outcome" aria-invalid=[f.invalid("outcome")] aria-describedby=[f.described("outcome", "outcome", None)] {
                    option value="" { (lang.t("audit.any")) }
                    @for o in ["allowed", "denied", "failed"] {
                        option value=(o) selected[outcome.as_deref() == Some(o)] { (o) }
                    }
                }
                (f.message("outcome", "outcome"))
            }
            button type="submit" { (lang.t("audit.filter")) }
            (f.form_message())
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
    if f.is_refused() {
        *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}
