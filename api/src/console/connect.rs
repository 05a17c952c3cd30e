//! Connect tools to a dataset: personal access tokens (create — shown once — list,
//! revoke), a Delta Sharing profile for Power BI and the connectors (created and
//! downloaded as a `.share` file), the OData address for Excel with the Basic dialog,
//! and short Python and R snippets. Every operation is the core's.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use dap_openapi::model::datasets::DatasetSummary;
use dap_openapi::model::identity::{CreateToken, TokenList};
use maud::{Markup, html};

use super::Failure;
use super::form::{FormView, Refused};
use super::layout::{self, when};
use super::session::{Fields, Submitted, Viewer};
use crate::app::{AppError, Core, ErrorClass};
use crate::rest::input::Query;

#[derive(Debug, serde::Deserialize)]
pub struct ConnectQuery {
    dataset: Option<String>,
}

/// Where clients reach dap (the configured public URL, else this request's host).
fn base(req: &HttpRequest, core: &Core) -> String {
    let info = req.connection_info();
    core.reachable_at(&format!("{}://{}", info.scheme(), info.host()))
}

/// What the page shows besides the lists: a token just created, a refused form.
#[derive(Debug, Default)]
struct Outcome {
    created: Option<String>,
    refused: Option<Refused>,
}

const TOKEN_FIELDS: &[&str] = &["name", "datasets", "expires_in_days"];

/// `GET /console/connect`.
pub async fn connect_page(
    req: HttpRequest,
    viewer: Viewer,
    core: web::Data<Core>,
    query: Query<ConnectQuery>,
) -> Result<HttpResponse, Failure> {
    let query = viewer.input(&core, query).await?;
    render(
        &req,
        &viewer,
        &core,
        query.dataset.as_deref(),
        Outcome::default(),
    )
    .await
}

async fn render(
    req: &HttpRequest,
    viewer: &Viewer,
    core: &Core,
    chosen: Option<&str>,
    outcome: Outcome,
) -> Result<HttpResponse, Failure> {
    let lang = viewer.lang;
    let work = async {
        let (list, facts) = core.list_datasets(&viewer.principal).await?;
        let (tokens, _) = core.personal_tokens(&viewer.principal).await?;
        Ok(((list.datasets, tokens), facts))
    };
    let (datasets, tokens) = core
        .audited(&viewer.ctx, &viewer.principal, None, work)
        .await
        .map_err(|e| viewer.fail(e))?;
    // A dataset the caller does not see is "not found", like one that does not exist.
    let dataset = match chosen {
        Some(id) => Some(
            datasets
                .iter()
                .find(|d| d.id == id)
                .ok_or_else(|| viewer.fail(AppError::DatasetNotFound))?,
        ),
        None => None,
    };
    let base = base(req, core);
    let body = html! {
        h1 { (lang.t("connect.title")) }
        form.filters method="get" action="/console/connect" {
            label for="dataset" { (lang.t("connect.choose")) }
            select id="dataset" name="dataset" {
                option value="" { "—" }
                @for d in &datasets {
                    option value=(d.id) selected[chosen == Some(d.id.as_str())] { (d.id) }
                }
            }
            button type="submit" { (lang.t("dataset.apply")) }
        }
        (tokens_section(viewer, &datasets, dataset, &tokens, &outcome))
        (sharing_section(viewer, &datasets, dataset, &outcome))
        @if let Some(d) = dataset {
            (snippets(viewer, d, &base))
        }
    };
    let mut response = layout::page(&viewer.shell(), lang.t("connect.title"), body);
    if outcome.refused.is_some() {
        *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

fn dataset_choices(
    viewer: &Viewer,
    f: &FormView<'_>,
    prefix: &str,
    datasets: &[DatasetSummary],
    chosen: Option<&DatasetSummary>,
) -> Markup {
    let id = format!("{prefix}-datasets");
    html! {
        fieldset id=(id) aria-invalid=[f.invalid("datasets")] aria-describedby=[f.described("datasets", &id, None)] {
            legend { (viewer.lang.t("connect.datasets")) }
            div.checks {
                @for d in datasets {
                    div.check {
                        input type="checkbox" id={ (prefix) "-" (d.id) } name="dataset" value=(d.id)
                            checked[f.checked("dataset", &d.id, chosen.is_some_and(|c| c.id == d.id))];
                        label for={ (prefix) "-" (d.id) } { (d.id) }
                    }
                }
            }
            (f.message("datasets", &id))
        }
    }
}

/// A token's name and lifetime, as the token and the sharing forms ask for them.
fn name_and_days(viewer: &Viewer, f: &FormView<'_>, prefix: &str, name: &str) -> Markup {
    let lang = viewer.lang;
    let name_id = format!("{prefix}-name");
    let days_id = format!("{prefix}-days");
    html! {
        label for=(name_id) { (lang.t("connect.name")) }
        input id=(name_id) name="name" maxlength="100" value=(f.value_or("name", name)) required
            aria-invalid=[f.invalid("name")] aria-describedby=[f.described("name", &name_id, None)];
        (f.message("name", &name_id))
        label for=(days_id) { (lang.t("connect.days")) }
        input id=(days_id) name="days" type="number" min="1" max="90" value=(f.value_or("days", "30")) inputmode="numeric"
            aria-invalid=[f.invalid("expires_in_days")] aria-describedby=[f.described("expires_in_days", &days_id, None)];
        (f.message("expires_in_days", &days_id))
    }
}

fn tokens_section(
    viewer: &Viewer,
    datasets: &[DatasetSummary],
    chosen: Option<&DatasetSummary>,
    tokens: &TokenList,
    outcome: &Outcome,
) -> Markup {
    let lang = viewer.lang;
    let f = FormView::new(
        "token",
        outcome.refused.as_ref(),
        TOKEN_FIELDS,
        "token-error",
    );
    html! {
        section aria-labelledby="tokens-heading" {
            h2 id="tokens-heading" { (lang.t("connect.tokens")) }
            p { (lang.t("connect.tokens_help")) }
            @if let Some(token) = &outcome.created {
                (layout::secret_once(lang, lang.t("connect.tokens"), token, lang.t("connect.secret_once")))
            }
            form.card method="post" action="/console/connect/tokens" aria-describedby=[f.form_described()] {
                input type="hidden" name="csrf" value=(viewer.csrf);
                (f.form_message())
                (name_and_days(viewer, &f, "token", ""))
                (dataset_choices(viewer, &f, "token", datasets, chosen))
                button type="submit" { (lang.t("connect.create_token")) }
            }
            @if tokens.tokens.is_empty() {
                p { (lang.t("connect.no_tokens")) }
            } @else {
                table.tokens {
                    caption.visually-hidden { (lang.t("connect.tokens")) }
                    thead { tr {
                        th scope="col" { (lang.t("connect.name")) }
                        th scope="col" { (lang.t("connect.datasets")) }
                        th scope="col" { (lang.t("municipality")) }
                        th scope="col" { (lang.t("connect.created")) }
                        th scope="col" { (lang.t("connect.expires")) }
                        th scope="col" { (lang.t("admin.status")) }
                    } }
                    tbody {
                        @for t in &tokens.tokens {
                            tr data-token=(t.id) {
                                th scope="row" { (t.name) }
                                td { (t.datasets.join(", ")) }
                                td { (t.municipalities.join(", ")) }
                                td { (when(&t.created_at)) }
                                td { (when(&t.expires_at)) }
                                td {
                                    @if let Some(at) = &t.revoked_at {
                                        (lang.t("connect.revoked")) " " (when(at))
                                    } @else {
                                        form.inline method="post" action={ "/console/connect/tokens/" (t.id) "/revoke" } {
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

fn sharing_section(
    viewer: &Viewer,
    datasets: &[DatasetSummary],
    chosen: Option<&DatasetSummary>,
    outcome: &Outcome,
) -> Markup {
    let lang = viewer.lang;
    let f = FormView::new(
        "sharing",
        outcome.refused.as_ref(),
        TOKEN_FIELDS,
        "sharing-error",
    );
    html! {
        section aria-labelledby="sharing-heading" {
            h2 id="sharing-heading" { (lang.t("connect.sharing")) }
            p { (lang.t("connect.sharing_help")) }
            form.card method="post" action="/console/connect/sharing-profile" aria-describedby=[f.form_described()] {
                input type="hidden" name="csrf" value=(viewer.csrf);
                (f.form_message())
                (name_and_days(viewer, &f, "sharing", "Power BI"))
                (dataset_choices(viewer, &f, "sharing", datasets, chosen))
                button type="submit" { (lang.t("connect.download_profile")) }
            }
        }
    }
}

fn snippets(viewer: &Viewer, d: &DatasetSummary, base: &str) -> Markup {
    let lang = viewer.lang;
    let odata = format!("{base}/odata/{}", crate::odata::metadata::set_name(&d.id));
    let (schema, table) =
        d.id.split_once('.')
            .unwrap_or((d.domain.as_str(), d.id.as_str()));
    let python = format!(
        "# pip install delta-sharing\nimport delta_sharing\n\n# the .share file downloaded above\nurl = \"dap.share#dap.{schema}.{table}\"\ndf = delta_sharing.load_as_pandas(url)\n\n# or the REST API with a personal access token (TOKEN)\nimport io, pandas as pd, requests\nr = requests.get(\"{base}/api/v1/datasets/{id}/export?format=csv\",\n                 headers={{\"Authorization\": \"Bearer \" + TOKEN}})\ndf = pd.read_csv(io.StringIO(r.text), dtype={{\"kommunekode\": str}})",
        id = d.id
    );
    let r = format!(
        "# install.packages(c(\"httr2\", \"readr\"))\nlibrary(httr2)\nresp <- request(\"{base}/api/v1/datasets/{id}/export\") |>\n  req_url_query(format = \"csv\") |>\n  req_auth_bearer_token(Sys.getenv(\"DAP_TOKEN\")) |>\n  req_perform()\ndf <- readr::read_csv(resp_body_string(resp),\n                      col_types = readr::cols(kommunekode = \"c\"))",
        id = d.id
    );
    html! {
        section aria-labelledby="odata-heading" {
            h2 id="odata-heading" { (lang.t("connect.odata")) }
            p { (lang.t("connect.odata_help")) }
            div.copyrow {
                label for="odata-url" { "OData" }
                input id="odata-url" readonly value=(odata);
                button type="button" data-copy="odata-url" { (lang.t("connect.copy")) }
            }
        }
        section aria-labelledby="python-heading" {
            h2 id="python-heading" { (lang.t("connect.python")) }
            pre tabindex="0" { code { (python) } }
        }
        section aria-labelledby="r-heading" {
            h2 id="r-heading" { (lang.t("connect.r")) }
            pre tabindex="0" { code { (r) } }
        }
    }
}

/// The token form's fields as the core's input; a lifetime that is not a number is
/// the form's mistake.
fn token_input(fields: &Fields) -> Result<CreateToken, AppError> {
    let expires_in_days = fields
        .get("days")
        .map(|d| {
            d.parse::<u32>().map_err(|_| {
                AppError::invalid(
                    "expires_in_days",
                    "the lifetime must be a whole number of days, e.g. 30",
                )
            })
        })
        .transpose()?;
    Ok(CreateToken {
        name: fields.get("name").unwrap_or_default().to_owned(),
        datasets: fields.all("dataset"),
        expires_in_days,
        municipality: None,
    })
}

/// The municipality a token made in the console acts for: the one the person acts for
/// on the page, when they hold roles in several (a token of all of them could not be
/// used where no parameter names one, as in Delta Sharing); `None` otherwise.
fn token_municipality(viewer: &Viewer) -> Option<String> {
    let held = &viewer.principal.grants;
    let acting = viewer.acting()?;
    (held.len() > 1 && held.keys().any(|m| m.as_str() == acting)).then(|| acting.to_owned())
}

/// `POST /console/connect/tokens`: the page again, with the new token shown once.
pub async fn create_token(
    req: HttpRequest,
    form: Submitted,
    core: web::Data<Core>,
) -> Result<HttpResponse, Failure> {
    let Submitted { viewer, fields } = form;
    let work = async {
        let mut input = token_input(&fields)?;
        input.municipality = token_municipality(&viewer);
        core.create_personal_token(&viewer.principal, input).await
    };
    let chosen = fields.all("dataset").into_iter().next();
    let outcome = match core
        .audited(&viewer.ctx, &viewer.principal, None, work)
        .await
    {
        Ok(created) => Outcome {
            created: Some(created.token),
            refused: None,
        },
        Err(e) if e.class() == ErrorClass::BadRequest => Outcome {
            created: None,
            refused: Some(Refused::new("token", fields.clone(), &e)),
        },
        Err(e) => return Err(viewer.fail(e)),
    };
    render(&req, &viewer, &core, chosen.as_deref(), outcome).await
}

/// `POST /console/connect/tokens/{token}/revoke`.
pub async fn revoke_token(
    form: Submitted,
    core: web::Data<Core>,
    token: web::Path<String>,
) -> Result<HttpResponse, Failure> {
    let viewer = form.viewer;
    let work = core.revoke_personal_token(&viewer.principal, &token);
    core.audited(&viewer.ctx, &viewer.principal, None, work)
        .await
        .map_err(|e| viewer.fail(e))?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/connect"))
        .finish())
}

/// `POST /console/connect/sharing-profile`: the profile as a `.share` file download.
pub async fn sharing_profile(
    req: HttpRequest,
    form: Submitted,
    core: web::Data<Core>,
) -> Result<HttpResponse, Failure> {
    let Submitted { viewer, fields } = form;
    let base = base(&req, &core);
    let work = async {
        let mut input = token_input(&fields)?;
        input.municipality = token_municipality(&viewer);
        core.create_sharing_profile(&viewer.principal, input, &base)
            .await
    };
    match core
        .audited(&viewer.ctx, &viewer.principal, None, work)
        .await
    {
        Ok(profile) => {
            let body = serde_json::to_string_pretty(&profile)
                .map_err(|e| viewer.fail(AppError::internal(e)))?;
            Ok(HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"dap.share\"",
                ))
                .body(body))
        }
        Err(e) if e.class() == ErrorClass::BadRequest => {
            let chosen = fields.all("dataset").into_iter().next();
            let outcome = Outcome {
                created: None,
                refused: Some(Refused::new("sharing", fields.clone(), &e)),
            };
            render(&req, &viewer, &core, chosen.as_deref(), outcome).await
        }
        Err(e) => Err(viewer.fail(e)),
    }
}
