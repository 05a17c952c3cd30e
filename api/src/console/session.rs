//! Who is signed in, and the forms they send. [`Viewer`] is the signed-in person of a
//! console page (the browser session of `/auth/login`, or of the demo sign-in); without
//! a valid session the request goes to sign-in and comes back afterwards.
//! [`Submitted`] is a posted form whose CSRF token was checked: the only way a handler
//! gets a form, so no handler can forget the check.

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dap_auth::Principal;
use futures::future::LocalBoxFuture;
use maud::html;
use sha2::{Digest, Sha256};

use super::Failure;
use super::form::{FormView, Refused};
use super::i18n::{LANG_COOKIE, Lang};
use super::layout::{self, Shell};
use crate::app::identity::Credential;
use crate::app::{AppError, Core, RequestContext};
use crate::rest::extract::request_context;
use crate::rest::input::Query;
use crate::rest::login::{LoginState, SESSION_COOKIE, safe_return_to};

/// The double-submit cookie of forms sent before sign-in (the demo sign-in form).
const PRE_SESSION_CSRF: &str = "dap_console_csrf";
/// Lifetime of a demo session, in hours (a broker login's is `login.session_hours`).
const DEMO_SESSION_HOURS: i64 = 8;
/// The municipality a person of several chose to act for (a preference; the core
/// checks it on every request).
const ACTING_COOKIE: &str = "dap_console_municipality";

/// The signed-in person of a console page.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub principal: Principal,
    pub lang: Lang,
    /// The CSRF token of this session, for the page's forms.
    pub csrf: String,
    pub ctx: RequestContext,
    /// Path and query of the page, to come back to after switching language.
    pub here: String,
    /// The municipalities the person may act for, as the core answers
    /// ([`Core::acting_choices`]); a choice is offered when there are several.
    pub choices: Vec<String>,
    /// The one of [`Self::choices`] the person acts for (their choice, or the first);
    /// every call into the core names it. None when they may act for none.
    acting: Option<String>,
}

impl Viewer {
    /// What the page layout needs to know.
    pub fn shell(&self) -> Shell<'_> {
        Shell {
            lang: self.lang,
            principal: Some(&self.principal),
            csrf: &self.csrf,
            here: &self.here,
            choices: &self.choices,
            acting: self.acting.as_deref(),
        }
    }

    /// The municipality to name in calls into the core.
    pub fn acting(&self) -> Option<&str> {
        self.acting.as_deref()
    }

    /// The page's query string as `T`; its refusal is audited like any other, then shown.
    pub async fn input<T>(&self, core: &Core, input: Query<T>) -> Result<T, Failure> {
        match input.value() {
            Ok(value) => Ok(value),
            Err(refusal) => {
                let audit = core
                    .audit_request(&self.ctx, Some(&self.principal), None, Some(&refusal))
                    .await;
                Err(self.fail(audit.err().unwrap_or(refusal)))
            }
        }
    }

    /// The core's error as a page.
    pub fn fail(&self, error: AppError) -> Failure {
        Failure::App {
            error,
            lang: self.lang,
            request_id: self.ctx.request_id.clone(),
        }
    }
}

/// The CSRF token bound to a session: a digest of the session handle (which only the
/// browser holding the HttpOnly cookie knows), separated from every other use of it.
fn session_csrf(session: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"dap-console-csrf\n");
    hash.update(session.as_bytes());
    URL_SAFE_NO_PAD.encode(hash.finalize())
}

/// Which token a form carries: the session's (every form of a signed-in page), or the
/// pre-session cookie's (the sign-in form, also when the browser still holds a session
/// cookie that expired).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FormKind {
    Signed,
    SignIn,
}

/// The one CSRF check: the token a form carries must equal the one of its kind;
/// compared in constant time.
fn csrf_ok(req: &HttpRequest, kind: FormKind, sent: Option<&str>) -> bool {
    let expected = match (kind, req.cookie(SESSION_COOKIE)) {
        (FormKind::Signed, Some(session)) => session_csrf(session.value()),
        (FormKind::Signed, None) => return false,
        (FormKind::SignIn, _) => match req.cookie(PRE_SESSION_CSRF) {
            Some(c) if c.value().len() >= 32 => c.value().to_owned(),
            _ => return false,
        },
    };
    let Some(sent) = sent else { return false };
    sent.len() == expected.len()
        && sent
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn here(req: &HttpRequest) -> String {
    match req.query_string() {
        "" => req.path().to_owned(),
        q => format!("{}?{q}", req.path()),
    }
}

impl FromRequest for Viewer {
    type Error = Failure;
    type Future = LocalBoxFuture<'static, Result<Self, Failure>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let core = req.app_data::<web::Data<Core>>().cloned();
        let session = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        let chosen = req.cookie(ACTING_COOKIE).map(|c| c.value().to_owned());
        let ctx = request_context(req);
        let lang = Lang::of(req);
        // After a form post, come back to the page the form was on.
        let here_now = here(req);
        let return_to = if req.method() == actix_web::http::Method::GET {
            here_now.clone()
        } else {
            return_target(form_page(req).as_deref())
        };
        Box::pin(async move {
            let core = core.ok_or_else(|| Failure::App {
                error: AppError::internal(anyhow::anyhow!("application core missing")),
                lang,
                request_id: ctx.request_id.clone(),
            })?;
            let Some(session) = session else {
                return Err(Failure::SignIn { return_to });
            };
            match core
                .authenticate(Credential::Session(session.clone()))
                .await
            {
                Ok(principal) => {
                    let choices: Vec<String> = core
                        .acting_choices(&principal)
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                    // A stale or foreign cookie falls back to the first choice (their
                    // own municipality, or the one that delegated to their organisation).
                    let acting = chosen
                        .filter(|c| choices.contains(c))
                        .or_else(|| choices.first().cloned());
                    Ok(Self {
                        principal,
                        lang,
                        csrf: session_csrf(&session),
                        ctx,
                        here: here_now,
                        choices,
                        acting,
                    })
                }
                Err(cause) => {
                    let error = AppError::InvalidToken(cause);
                    core.audit_request(&ctx, None, None, Some(&error))
                        .await
                        .map_err(|error| Failure::App {
                            error,
                            lang,
                            request_id: ctx.request_id.clone(),
                        })?;
                    Err(Failure::SignIn { return_to })
                }
            }
        })
    }
}

/// A posted form's fields, in order (repeated names stay: checkboxes, filter rows).
#[derive(Debug, Default, Clone)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }
}

/// A posted form from the signed-in person, its CSRF token checked.
pub struct Submitted {
    pub viewer: Viewer,
    pub fields: Fields,
}

impl FromRequest for Submitted {
    type Error = Failure;
    type Future = LocalBoxFuture<'static, Result<Self, Failure>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let viewer = Viewer::from_request(req, payload);
        let form = web::Form::<Vec<(String, String)>>::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let viewer = viewer.await?;
            let fields = form
                .await
                .map(|f| Fields(f.into_inner()))
                .unwrap_or_default();
            if !csrf_ok(&req, FormKind::Signed, fields.get("csrf")) {
                refuse_csrf(&req, Some(&viewer.principal)).await?;
                return Err(Failure::Csrf { lang: viewer.lang });
            }
            Ok(Self { viewer, fields })
        })
    }
}

/// Audits a refused form (CSRF) as a denied request.
async fn refuse_csrf(req: &HttpRequest, principal: Option<&Principal>) -> Result<(), Failure> {
    let Some(core) = req.app_data::<web::Data<Core>>() else {
        return Ok(());
    };
    let error = AppError::Forbidden("CSRF token missing or wrong".into());
    core.audit_request(&request_context(req), principal, None, Some(&error))
        .await
        .map_err(|e| Failure::app(e, req))
}

fn cookie(name: &str, value: String, max_age: time::Duration, secure: bool) -> Cookie<'_> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(max_age)
        .finish()
}

fn secure(core: &Core) -> bool {
    core.public_url
        .as_ref()
        .is_some_and(|u| u.scheme() == "https")
}

/// The page a form was sent from: path and query of the `Referer`, if it is this site.
fn form_page(req: &HttpRequest) -> Option<String> {
    let referer = url::Url::parse(req.headers().get(header::REFERER)?.to_str().ok()?).ok()?;
    let host = match referer.port() {
        Some(port) => format!("{}:{port}", referer.host_str()?),
        None => referer.host_str()?.to_owned(),
    };
    if host != req.connection_info().host() {
        return None;
    }
    Some(match referer.query() {
        Some(q) => format!("{}?{q}", referer.path()),
        None => referer.path().to_owned(),
    })
}

/// Where to go after sign-in: a console path on this server, the catalogue by default.
fn return_target(requested: Option<&str>) -> String {
    match requested {
        // Only a path of this site's console, nothing a browser could read as another
        // host (`//host`, `/\host`): no open redirect.
        Some(path) if path.starts_with("/console") && safe_return_to(Some(path)) == path => {
            path.to_owned()
        }
        _ => "/console/".to_owned(),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct ReturnTo {
    return_to: Option<String>,
}

/// What the sign-in page shows besides the forms.
struct SignIn<'a> {
    /// Where to go afterwards, when the page was asked for on the way to another.
    return_to: Option<&'a str>,
    /// The demo form refused by the core: shown again with the message at its field.
    refused: Option<Refused>,
}

/// The sign-in page: the municipality's login (when configured) and, in `dap demo`, a
/// demo sign-in with a municipality and roles.
pub async fn sign_in_page(
    req: HttpRequest,
    core: web::Data<Core>,
    login: web::Data<LoginState>,
    query: Query<ReturnTo>,
) -> Result<HttpResponse, AppError> {
    let query = query.value_or_record(&core, &req).await?;
    let page = SignIn {
        return_to: query.return_to.as_deref(),
        refused: None,
    };
    Ok(render_sign_in(&req, &core, &login, page))
}

fn render_sign_in(
    req: &HttpRequest,
    core: &Core,
    login: &LoginState,
    page: SignIn<'_>,
) -> HttpResponse {
    let lang = Lang::of(req);
    let return_to = return_target(page.return_to);
    let token = req
        .cookie(PRE_SESSION_CSRF)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() >= 32)
        .unwrap_or_else(dap_auth::secrets::new_secret);
    let mut broker = url::form_urlencoded::Serializer::new(String::new());
    broker.append_pair("return_to", &return_to);
    let here = here(req);
    let shell = Shell {
        lang,
        principal: None,
        csrf: &token,
        here: &here,
        choices: &[],
        acting: None,
    };
    let municipalities = dap_schema::municipalities();
    let f = FormView::new(
        "sign-in",
        page.refused.as_ref(),
        &["subject", "municipality", "roles"],
        "sign-in-error",
    );
    let municipality = f.value_or("municipality", "0101");
    let body = html! {
        h1 { (lang.t("sign_in.title")) }
        @if page.return_to.is_some() && page.refused.is_none() {
            p.notice role="status" { (lang.t("sign_in.expired")) }
        }
        @if login.status().is_some() {
            p { a.button href={ "/auth/login?" (broker.finish()) } { (lang.t("sign_in.broker")) } }
        }
        @if core.demo_mode() {
            form.card method="post" action="/console/sign-in/demo" aria-describedby=[f.form_described()] {
                h2 { (lang.t("sign_in.demo")) }
                p { (lang.t("sign_in.demo_help")) }
                (f.form_message())
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="return_to" value=(return_to);
                label for="subject" { (lang.t("sign_in.user")) }
                input id="subject" name="subject" value=(f.value_or("subject", "demo-analyst")) autocomplete="username" required
                    aria-invalid=[f.invalid("subject")] aria-describedby=[f.described("subject", "subject", None)];
                (f.message("subject", "subject"))
                label for="municipality" { (lang.t("municipality")) }
                select id="municipality" name="municipality" aria-invalid=[f.invalid("municipality")] aria-describedby=[f.described("municipality", "municipality", None)] {
                    @for m in municipalities {
                        option value=(m.code.as_str()) selected[m.code.as_str() == municipality] {
                            (m.code.as_str()) " " (m.name)
                        }
                    }
                }
                (f.message("municipality", "municipality"))
                fieldset id="roles" aria-invalid=[f.invalid("roles")] aria-describedby=[f.described("roles", "roles", None)] {
                    legend { (lang.t("sign_in.roles")) }
                    @for role in core.demo_roles() {
                        div.check {
                            input type="checkbox" id={ "role-" (role) } name="role" value=(role)
                                checked[f.checked("role", &role, role.starts_with("laes-") && role != dap_auth::roles::SENSITIVE)];
                            label for={ "role-" (role) } { (role) }
                        }
                    }
                    (f.message("roles", "roles"))
                }
                button type="submit" { (lang.t("sign_in")) }
            }
        }
        @if login.status().is_none() && !core.demo_mode() {
            p { (lang.t("sign_in.none")) }
        }
    };
    let mut response = layout::page(&shell, lang.t("sign_in.title"), body);
    if page.refused.is_some() {
        *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
    }
    let _ = response.add_cookie(
        &Cookie::build(PRE_SESSION_CSRF, token.clone())
            .path("/console")
            .http_only(true)
            .secure(secure(core))
            .same_site(SameSite::Strict)
            .finish(),
    );
    response
}

/// The demo sign-in (`dap demo` only; the core refuses it anywhere else): starts the
/// same kind of session as a broker login.
pub async fn demo_sign_in(
    req: HttpRequest,
    core: web::Data<Core>,
    login: web::Data<LoginState>,
    form: Result<web::Form<Vec<(String, String)>>, actix_web::Error>,
) -> Result<HttpResponse, Failure> {
    // A body that is not a form (or too large) has no CSRF token: refused and audited
    // as such below, as a signed-in person's form is.
    let fields = form.map(|f| Fields(f.into_inner())).unwrap_or_default();
    if !csrf_ok(&req, FormKind::SignIn, fields.get("csrf")) {
        refuse_csrf(&req, None).await?;
        return Err(Failure::Csrf {
            lang: Lang::of(&req),
        });
    }
    let ctx = request_context(&req);
    let return_to = return_target(fields.get("return_to"));
    let result = core
        .start_demo_session(
            fields.get("subject").unwrap_or_default(),
            fields.get("municipality").unwrap_or_default(),
            &fields.all("role"),
            DEMO_SESSION_HOURS,
        )
        .await;
    let principal = result.as_ref().ok().map(|(p, _)| p);
    core.audit_request(&ctx, principal, None, result.as_ref().err())
        .await
        .map_err(|e| Failure::app(e, &req))?;
    match result {
        Ok((_, value)) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, return_to))
            .cookie(cookie(
                SESSION_COOKIE,
                value,
                time::Duration::hours(DEMO_SESSION_HOURS),
                secure(&core),
            ))
            .finish()),
        // A mistake in the form: the form again, the message next to it.
        Err(error) if error.class() == crate::app::ErrorClass::BadRequest => {
            let page = SignIn {
                return_to: Some(&return_to),
                refused: Some(Refused::new("sign-in", fields.clone(), &error)),
            };
            Ok(render_sign_in(&req, &core, &login, page))
        }
        Err(error) => Err(Failure::app(error, &req)),
    }
}

/// Signs out: ends the session on the server (audited) and clears the cookie.
pub async fn sign_out(
    form: Submitted,
    core: web::Data<Core>,
    req: HttpRequest,
) -> Result<HttpResponse, Failure> {
    if let Some(session) = req.cookie(SESSION_COOKIE) {
        core.end_session(&form.viewer.ctx, session.value())
            .await
            .map_err(|e| form.viewer.fail(e))?;
    }
    let removal = |name| {
        let mut gone = cookie(name, String::new(), time::Duration::ZERO, secure(&core));
        gone.make_removal();
        gone
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/sign-in"))
        .cookie(removal(SESSION_COOKIE))
        .cookie(removal(ACTING_COOKIE))
        .finish())
}

/// `POST /console/municipality`: acts for another of the person's municipalities from
/// now on, if the core says they may; back to the page the choice was made on.
pub async fn choose_municipality(
    form: Submitted,
    core: web::Data<Core>,
) -> Result<HttpResponse, Failure> {
    let Submitted { viewer, fields } = form;
    let chosen = core
        .choose_municipality(
            &viewer.principal,
            fields.get("municipality").unwrap_or_default(),
        )
        .map_err(|e| viewer.fail(e))?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, return_target(fields.get("return_to"))))
        .cookie(cookie(
            ACTING_COOKIE,
            chosen.to_string(),
            time::Duration::hours(24),
            secure(&core),
        ))
        .finish())
}

#[derive(Debug, serde::Deserialize)]
pub struct LangQuery {
    to: String,
    return_to: Option<String>,
}

/// Switches the language (a preference cookie) and goes back to the page.
pub async fn switch_language(
    req: HttpRequest,
    core: web::Data<Core>,
    query: Query<LangQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.value_or_record(&core, &req).await?;
    let lang = if query.to == "en" { "en" } else { "da" };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, return_target(query.return_to.as_deref())))
        .cookie(
            Cookie::build(LANG_COOKIE, lang)
                .path("/")
                .same_site(SameSite::Lax)
                .max_age(time::Duration::days(365))
                .finish(),
        )
        .finish())
}
