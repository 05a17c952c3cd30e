//! The page shell: header with navigation, language switch and sign-out, the main
//! landmark, and the one stylesheet and script. Rendered with `maud` (escaped by
//! default, checked at compile time).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use dap_auth::{Principal, roles};
use maud::{DOCTYPE, Markup, html};

use super::i18n::Lang;

/// What every page's frame shows.
#[derive(Debug, Clone, Copy)]
pub struct Shell<'a> {
    pub lang: Lang,
    /// The signed-in person, if any.
    pub principal: Option<&'a Principal>,
    /// The CSRF token for the sign-out form.
    pub csrf: &'a str,
    /// The current page, to come back to after switching language.
    pub here: &'a str,
    /// Municipalities the person may act for (a choice is shown when several).
    pub choices: &'a [String],
    /// The one chosen, when there are several.
    pub acting: Option<&'a str>,
}

/// The municipality's code and name, e.g. `0101 København`.
fn municipality_label(code: &str) -> String {
    dap_schema::municipalities()
        .iter()
        .find(|m| m.code.as_str() == code)
        .map_or_else(|| code.to_owned(), |m| format!("{code} {}", m.name))
}

fn language_link(shell: &Shell<'_>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("to", shell.lang.other().code());
    query.append_pair("return_to", shell.here);
    format!("/console/lang?{}", query.finish())
}

/// A whole page.
pub fn document(shell: &Shell<'_>, title: &str, body: Markup) -> Markup {
    let lang = shell.lang;
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (lang.t("app")) }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { (lang.t("skip")) }
                header.top {
                    a.brand href="/console/" { (lang.t("app")) }
                    @if let Some(p) = shell.principal {
                        nav aria-label=(lang.t("nav")) {
                            ul {
                                li { a href="/console/datasets" { (lang.t("nav.catalogue")) } }
                                li { a href="/console/connect" { (lang.t("nav.connect")) } }
                                li { a href="/console/key-figures" { (lang.t("nav.key_figures")) } }
                                @if p.roles.contains(roles::IT_ADMIN) {
                                    li { a href="/console/admin" { (lang.t("nav.admin")) } }
                                    li { a href="/console/admin/audit" { (lang.t("nav.audit")) } }
                                }
                            }
                        }
                    }
                    div.who {
                        a href=(language_link(shell)) lang=(lang.other().code()) { (lang.t("lang.switch")) }
                        @if let Some(p) = shell.principal {
                            span {
                                (lang.t("signed_in_as")) " " strong { (p.subject) }
                                @if let Some(acting) = shell.acting.filter(|_| shell.choices.len() > 1 || p.municipalities.is_empty()) {
                                    ", " (lang.t("acting_for")) " " strong.municipality data-acting=(acting) { (municipality_label(acting)) }
                                } @else {
                                    @for m in &p.municipalities {
                                        ", " (lang.t("municipality")) " " strong.municipality { (m.as_str()) }
                                    }
                                }
                            }
                            @if shell.choices.len() > 1 {
                                form.inline.acting method="post" action="/console/municipality" {
                                    input type="hidden" name="csrf" value=(shell.csrf);
                                    input type="hidden" name="return_to" value=(shell.here);
                                    label for="acting" { (lang.t("acting.choose")) }
                                    select id="acting" name="municipality" {
                                        @for c in shell.choices {
                                            option value=(c) selected[shell.acting == Some(c.as_str())] { (municipality_label(c)) }
                                        }
                                    }
                                    button type="submit" { (lang.t("acting.switch")) }
                                }
                            }
                            form.inline method="post" action="/console/sign-out" {
                                input type="hidden" name="csrf" value=(shell.csrf);
                                button type="submit" { (lang.t("sign_out")) }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    }
}

/// A page as a response.
pub fn page(shell: &Shell<'_>, title: &str, body: Markup) -> HttpResponse {
    respond(StatusCode::OK, document(shell, title, body))
}

/// An HTML response with `status`.
pub fn respond(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// An error page (no navigation: it does not depend on who asked or what exists).
pub fn error_page(status: StatusCode, lang: Lang, title: &str, text: &str) -> HttpResponse {
    let shell = Shell {
        lang,
        principal: None,
        csrf: "",
        here: "/console/",
        choices: &[],
        acting: None,
    };
    let body = html! {
        h1 { (title) }
        p { (text) }
        p { a href="/console/" { (lang.t("back")) } }
    };
    respond(status, document(&shell, title, body))
}

/// A form-level error message (role alert, so screen readers announce it).
pub fn form_error(message: Option<&str>, id: &str) -> Markup {
    html! {
        @if let Some(message) = message {
            p.error role="alert" id=(id) { (message) }
        }
    }
}

/// A secret shown once, with a copy button (the script adds the copying).
pub fn secret_once(lang: Lang, label: &str, secret: &str, note: &str) -> Markup {
    html! {
        div.secret role="status" {
            p { strong { (note) } }
            label for="secret-value" { (label) }
            div.copyrow {
                input id="secret-value" readonly value=(secret) data-secret;
                button type="button" data-copy="secret-value" { (lang.t("connect.copy")) }
            }
        }
    }
}

/// A date and time as people read it (UTC, minutes).
pub fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}
