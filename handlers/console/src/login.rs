//! Signing in and out: the form, `/auth/login` called in-process (its throttles, its checks,
//! its messages), the cookie set only for an administrator.

use maud::html;
use nexuma_sdk::{api, html, log, ApiError, Request, Response};
use serde::Deserialize;

use crate::form::Form;
use crate::page;
use crate::session::{self, Admin};

/// `GET /console/login`: the form, or the dashboard for an admin already signed in.
pub fn show(req: &Request) -> Result<Response, ApiError> {
    if req.caller.as_ref().is_some_and(|c| c.role == "admin") {
        return Ok(page::redirect("/console", None));
    }
    Ok(form(200, None, ""))
}

fn form(status: u16, error: Option<&str>, email: &str) -> Response {
    page::document(
        status,
        "Sign in",
        html! {
            main.login {
                div.panel {
                    h1 { "Nexuma console" }
                    @if let Some(error) = error { p.notice.error role="alert" { (error) } }
                    form method="post" action="/console/login" {
                        label for="email" { "Email" }
                        input #email type="email" name="email" value=(email) autocomplete="username" required autofocus;
                        label for="password" { "Password" }
                        input #password type="password" name="password" autocomplete="current-password" required;
                        p { button type="submit" { "Sign in" } }
                    }
                }
            }
        },
    )
}

/// What `/auth/login` answers that the console reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoggedIn {
    access_token: String,
    expires_in: u64,
    user: LoggedInUser,
}

#[derive(Deserialize)]
struct LoggedInUser {
    id: String,
    role: String,
}

/// `POST /console/login`: signs in through `/auth/login`; only an administrator gets the
/// cookie. Every refusal is the login route's own message on the form again.
pub fn submit(req: &Request) -> Result<Response, ApiError> {
    // A sign-in posted from another site would sign the browser into someone else's account
    // (login CSRF): only the Core's own form, or a client that is no browser, may post it.
    if req
        .header("sec-fetch-site")
        .is_some_and(|site| !matches!(site, "same-origin" | "none"))
    {
        return Ok(form(403, Some("Sign in from this console's own page."), ""));
    }
    let fields = Form::of(req);
    let email = fields.get("email").unwrap_or_default();
    let body = serde_json::json!({
        "email": email,
        "password": fields.get("password").unwrap_or_default(),
    });
    let answer = api::Request::post("/auth/login").json(&body)?.send()?;
    if !answer.is_success() {
        let err = answer.error();
        let mut page = form(err.status, Some(&err.message), email);
        // A throttled sign-in says when to come back, as the login route does.
        if let Some(after) = answer.header("retry-after") {
            page.headers.push(("retry-after".into(), after.into()));
        }
        return Ok(page);
    }
    let login: LoggedIn = answer.json()?;
    if login.user.role != "admin" {
        log::info("console login refused", &[("userId", &login.user.id)]);
        return Ok(form(
            403,
            Some("This account may not use the console: only administrators can."),
            email,
        ));
    }
    session::renew_form_token(&login.user.id)?;
    log::info("console login", &[("userId", &login.user.id)]);
    Ok(page::redirect(
        "/console",
        Some(html::access_cookie(&login.access_token, login.expires_in)),
    ))
}

/// `POST /console/logout`: the cookie cleared and the form token ended.
pub fn logout(_req: &Request, admin: &Admin, _fields: &Form) -> Result<Response, ApiError> {
    session::end(&admin.id)?;
    Ok(page::redirect(
        "/console/login",
        Some(html::access_cookie("", 0)),
    ))
}
