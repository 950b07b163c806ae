//! The pages the e-mailed links open: `/verify-account/email` (verify an e-mail address) and
//! `/reset-password` (choose a new password). Opening a link shows a form; only submitting it
//! uses the link's one-time token, so a mail scanner that fetches links does not spend it. No
//! JavaScript: plain forms posted back to the same path.

use super::html::{esc, Nav, Page};
use crate::api::error::ApiError;
use crate::api::signup::{reset_password, verify_email};
use crate::app::{App, SharedApp};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Form;
use http::StatusCode;
use serde::Deserialize;

/// The query of a verification link (and its form).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyQuery {
    user_id: Option<u64>,
    registration_id: Option<u64>,
    verification_string: Option<String>,
}

/// The query of a reset link.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetQuery {
    user_id: Option<u64>,
    verification_string: Option<String>,
}

/// The reset form.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetForm {
    user_id: u64,
    verification_string: String,
    password: String,
}

fn page(app: &App, status: StatusCode, title: &str, body: String) -> Response {
    Page {
        title,
        nav: Some(Nav::Login),
        head: String::new(),
        body: format!(
            "<section class=\"panel narrow\"><h1>{}</h1>{body}</section>",
            esc(title)
        ),
        scripts: &[],
        player: false,
        frameable: false,
        bare: false,
    }
    .render_with(app, status)
}

fn bad_link(app: &App) -> Response {
    page(
        app,
        StatusCode::BAD_REQUEST,
        "This link is incomplete",
        "<p>Open the whole link from the e-mail (it may have been cut in two).</p>".into(),
    )
}

fn refused(app: &App, e: ApiError) -> Response {
    page(
        app,
        e.status,
        "This link does not work",
        format!(
            "<p>{}</p><p>Ask for a new one from the login page.</p>",
            esc(&e.detail)
        ),
    )
}

/// The subject of a verification link: a user, or a registration request.
fn subject(q: &VerifyQuery) -> Option<(u64, bool)> {
    match (q.user_id, q.registration_id) {
        (Some(id), None) => Some((id, false)),
        (None, Some(id)) => Some((id, true)),
        _ => None,
    }
}

/// `GET /verify-account/email`: the form that verifies the address.
pub async fn verify_form(State(app): State<SharedApp>, Query(q): Query<VerifyQuery>) -> Response {
    let (Some((id, registration)), Some(token)) = (subject(&q), q.verification_string.as_deref())
    else {
        return bad_link(&app);
    };
    let field = if registration {
        "registrationId"
    } else {
        "userId"
    };
    page(
        &app,
        StatusCode::OK,
        "Verify your e-mail address",
        format!(
            "<form class=\"form\" method=\"post\" action=\"/verify-account/email\">\
             <input type=\"hidden\" name=\"{field}\" value=\"{id}\">\
             <input type=\"hidden\" name=\"verificationString\" value=\"{}\">\
             <button class=\"button primary\" type=\"submit\">Verify my e-mail address</button></form>",
            esc(token)
        ),
    )
}

/// `POST /verify-account/email`: uses the link.
pub async fn verify_submit(State(app): State<SharedApp>, Form(q): Form<VerifyQuery>) -> Response {
    let (Some((id, registration)), Some(token)) = (subject(&q), q.verification_string.clone())
    else {
        return bad_link(&app);
    };
    let a = app.clone();
    match app
        .pool
        .run(move || verify_email(&a, id, registration, &token))
        .await
    {
        Ok(Ok(())) => page(
            &app,
            StatusCode::OK,
            "E-mail address verified",
            if registration {
                "<p>Thank you. A moderator will now look at your request; you will get an e-mail when they answer.</p>".into()
            } else {
                "<p>Thank you. You can now <a href=\"/login\">log in</a>.</p>".into()
            },
        ),
        Ok(Err(e)) => refused(&app, e),
        Err(e) => refused(&app, e.into()),
    }
}

/// `GET /reset-password`: the form for a new password.
pub async fn reset_form(State(app): State<SharedApp>, Query(q): Query<ResetQuery>) -> Response {
    let (Some(id), Some(token)) = (q.user_id, q.verification_string.as_deref()) else {
        return bad_link(&app);
    };
    page(
        &app,
        StatusCode::OK,
        "Choose a new password",
        format!(
            "<form class=\"form\" method=\"post\" action=\"/reset-password\">\
             <input type=\"hidden\" name=\"userId\" value=\"{id}\">\
             <input type=\"hidden\" name=\"verificationString\" value=\"{}\">\
             <label for=\"password\">New password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"6\" required autofocus>\
             <button class=\"button primary\" type=\"submit\">Set the password</button></form>",
            esc(token)
        ),
    )
}

/// `POST /reset-password`: uses the link.
pub async fn reset_submit(State(app): State<SharedApp>, Form(f): Form<ResetForm>) -> Response {
    let a = app.clone();
    match app
        .pool
        .run(move || reset_password(&a, f.user_id, &f.verification_string, &f.password))
        .await
    {
        Ok(Ok(())) => page(
            &app,
            StatusCode::OK,
            "Password changed",
            "<p>Your password is changed and your other sessions are closed. You can now <a href=\"/login\">log in</a>.</p>".into(),
        ),
        Ok(Err(e)) if e.status == StatusCode::BAD_REQUEST => page(
            &app,
            StatusCode::BAD_REQUEST,
            "Choose another password",
            format!("<p>{}</p><p>Go back and try again: the link still works.</p>", esc(&e.detail)),
        ),
        Ok(Err(e)) => refused(&app, e),
        Err(e) => refused(&app, e.into()),
    }
}
