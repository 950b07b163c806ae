//! The pages of accounts and moderation: sign-up for anyone, "my videos" and channel
//! management for users, the moderation page (reports, registrations, blocks) for moderators.
//! Server-rendered shells like the other pages; their scripts read and change the REST API with
//! the session's token, so the API's rights are the pages' rights.

use super::html::{Nav, Page};
use super::pages::login_needed;
use crate::app::SharedApp;
use axum::extract::State;
use axum::response::Response;

/// A page of this module: one script, no player, not frameable.
fn page(app: &SharedApp, title: &str, nav: Option<Nav>, body: String, script: &str) -> Response {
    Page {
        title,
        nav,
        head: String::new(),
        body,
        scripts: &[script],
        player: false,
        frameable: false,
        bare: false,
    }
    .render(app)
}

/// `GET /signup`: the sign-up form (`signup.js` reads `/api/v1/config`: closed, open, or a
/// request a moderator answers, with or without e-mail verification).
pub async fn signup(State(app): State<SharedApp>) -> Response {
    let body = "<section class=\"panel narrow\" id=\"signup\"><h1>Create an account</h1>\
        <p class=\"status\" id=\"signup-closed\" role=\"status\" hidden>Sign-up is closed on this instance.</p>\
        <form id=\"signup-form\" class=\"form\" novalidate hidden>\
        <label for=\"su-username\">User name</label>\
        <input id=\"su-username\" name=\"username\" autocomplete=\"username\" maxlength=\"50\" required aria-describedby=\"su-username-hint\">\
        <p class=\"hint\" id=\"su-username-hint\">Lowercase letters, digits, dots and underscores.</p>\
        <label for=\"su-display\">Display name <span class=\"optional\">(optional)</span></label>\
        <input id=\"su-display\" name=\"displayName\" maxlength=\"120\">\
        <label for=\"su-email\">E-mail</label>\
        <input id=\"su-email\" name=\"email\" type=\"email\" autocomplete=\"email\" required>\
        <label for=\"su-password\">Password</label>\
        <input id=\"su-password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"6\" required aria-describedby=\"su-password-hint\">\
        <p class=\"hint\" id=\"su-password-hint\">At least 6 characters.</p>\
        <div id=\"su-reason-block\" hidden><label for=\"su-reason\">Why do you want an account here?</label>\
        <textarea id=\"su-reason\" name=\"registrationReason\" rows=\"3\" maxlength=\"3000\"></textarea>\
        <p class=\"hint\">A moderator reads it before accepting your account.</p></div>\
        <p class=\"form-error\" id=\"signup-error\" role=\"alert\" hidden></p>\
        <button class=\"button primary\" type=\"submit\">Sign up</button></form>\
        <p class=\"status\" id=\"signup-done\" role=\"status\" aria-live=\"polite\" hidden></p>\
        <p class=\"hint\">Already have an account? <a href=\"/login\">Log in</a>.</p>\
        </section>"
        .to_string();
    page(&app, "Sign up", Some(Nav::Login), body, "signup.js")
}

/// `GET /my-videos`: the logged-in user's videos, with their visibility and state, to change
/// the visibility or delete them (`my-videos.js`).
pub async fn my_videos(State(app): State<SharedApp>) -> Response {
    let mut body = login_needed("see your videos");
    body.push_str(
        "<div id=\"mine\" hidden><div class=\"page-head\"><h1>My videos</h1>\
         <p><a href=\"/my-channels\">My channels</a> · <a href=\"/upload\">Upload</a></p></div>\
         <p class=\"form-error\" id=\"mine-error\" role=\"alert\" hidden></p>\
         <p class=\"status\" id=\"mine-status\" role=\"status\" aria-live=\"polite\"></p>\
         <section class=\"panel\" aria-labelledby=\"h-mine\"><h2 id=\"h-mine\" class=\"visually-hidden\">Videos</h2>\
         <div id=\"mine-list\"></div>\
         <p><button class=\"button\" type=\"button\" id=\"mine-more\" hidden>Show more</button></p></section>\
         <section class=\"panel medium\" aria-labelledby=\"h-settings\"><h2 id=\"h-settings\">Settings</h2>\
         <form id=\"settings-form\" class=\"form\">\
         <label for=\"set-nsfw\">Videos marked sensitive (NSFW) in lists</label>\
         <select id=\"set-nsfw\" name=\"nsfwPolicy\"><option value=\"display\">Show them</option>\
         <option value=\"blur\">Show them blurred</option><option value=\"warn\">Show them with a warning</option>\
         <option value=\"do_not_list\">Leave them out</option></select>\
         <label><input type=\"checkbox\" id=\"set-p2p\" name=\"p2pEnabled\"> Share what I watch with other viewers (P2P)</label>\
         <button class=\"button\" type=\"submit\">Save the settings</button></form></section></div>",
    );
    page(&app, "My videos", Some(Nav::Mine), body, "my-videos.js")
}

/// `GET /my-channels`: the logged-in user's channels, to create, edit and delete them
/// (`my-channels.js`).
pub async fn my_channels(State(app): State<SharedApp>) -> Response {
    let mut body = login_needed("manage your channels");
    body.push_str(
        "<div id=\"channels\" hidden><div class=\"page-head\"><h1>My channels</h1>\
         <p><a href=\"/my-videos\">My videos</a></p></div>\
         <p class=\"form-error\" id=\"channels-error\" role=\"alert\" hidden></p>\
         <p class=\"status\" id=\"channels-status\" role=\"status\" aria-live=\"polite\"></p>\
         <section class=\"panel\" aria-labelledby=\"h-channel-list\"><h2 id=\"h-channel-list\">Channels</h2>\
         <div id=\"channel-list\"></div></section>\
         <section class=\"panel medium\" aria-labelledby=\"h-new-channel\"><h2 id=\"h-new-channel\">New channel</h2>\
         <form id=\"channel-form\" class=\"form\" novalidate>\
         <label for=\"ch-name\">Name (in its address)</label>\
         <input id=\"ch-name\" name=\"name\" maxlength=\"50\" required aria-describedby=\"ch-name-hint\">\
         <p class=\"hint\" id=\"ch-name-hint\">Lowercase letters, digits, dots and underscores; it cannot be changed later.</p>\
         <label for=\"ch-display\">Display name</label>\
         <input id=\"ch-display\" name=\"displayName\" maxlength=\"50\" required>\
         <label for=\"ch-description\">Description <span class=\"optional\">(optional)</span></label>\
         <textarea id=\"ch-description\" name=\"description\" rows=\"3\" maxlength=\"1000\"></textarea>\
         <button class=\"button primary\" type=\"submit\">Create the channel</button></form></section></div>",
    );
    page(&app, "My channels", Some(Nav::Mine), body, "my-channels.js")
}

/// `GET /moderation`: reports, registration requests, blocked videos, servers and accounts,
/// for moderators and administrators (`moderation.js`).
pub async fn moderation(State(app): State<SharedApp>) -> Response {
    let mut body = login_needed("moderate");
    body.push_str(
        "<div id=\"moderation\" hidden><div class=\"page-head\"><h1>Moderation</h1>\
         <p class=\"status\" id=\"mod-status\" role=\"status\" aria-live=\"polite\"></p></div>\
         <p class=\"form-error\" id=\"mod-error\" role=\"alert\" hidden></p>\
         <section class=\"panel\" aria-labelledby=\"h-reports\"><h2 id=\"h-reports\">Reports</h2><div id=\"reports\"></div></section>\
         <section class=\"panel\" aria-labelledby=\"h-registrations\"><h2 id=\"h-registrations\">Registration requests</h2><div id=\"registrations\"></div></section>\
         <section class=\"panel\" aria-labelledby=\"h-blocked-videos\"><h2 id=\"h-blocked-videos\">Blocked videos</h2><div id=\"blocked-videos\"></div></section>\
         <div class=\"columns\">\
         <section class=\"panel\" aria-labelledby=\"h-blocked-servers\"><h2 id=\"h-blocked-servers\">Blocked servers</h2><div id=\"blocked-servers\"></div>\
         <form id=\"block-server-form\" class=\"form inline\" novalidate>\
         <label for=\"block-host\">Server to block</label>\
         <input id=\"block-host\" name=\"host\" placeholder=\"videos.example.org\" required>\
         <button class=\"button\" type=\"submit\">Block the server</button></form></section>\
         <section class=\"panel\" aria-labelledby=\"h-blocked-accounts\"><h2 id=\"h-blocked-accounts\">Blocked accounts</h2><div id=\"blocked-accounts\"></div>\
         <form id=\"block-account-form\" class=\"form inline\" novalidate>\
         <label for=\"block-account\">Account to block</label>\
         <input id=\"block-account\" name=\"accountName\" placeholder=\"name@videos.example.org\" required>\
         <button class=\"button\" type=\"submit\">Block the account</button></form></section>\
         </div></div>",
    );
    page(
        &app,
        "Moderation",
        Some(Nav::Moderation),
        body,
        "moderation.js",
    )
}
