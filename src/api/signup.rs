//! Sign-up, e-mail verification and password reset, as PeerTube's API has them:
//!
//! - `POST /api/v1/users/register` (open sign-up) and `POST /api/v1/users/registrations/request`
//!   (sign-up with a moderator's approval), behind `[signup]`;
//! - `GET /api/v1/users/registrations`, `POST …/registrations/{id}/accept` and `/reject`,
//!   `DELETE …/registrations/{id}` (moderators);
//! - `POST /api/v1/users/ask-send-verify-email`, `POST /api/v1/users/{id}/verify-email` and
//!   `POST /api/v1/users/registrations/{id}/verify-email`;
//! - `POST /api/v1/users/ask-reset-password` and `POST /api/v1/users/{id}/reset-password`.
//!
//! The links e-mailed (through [`crate::mail`]) open this instance's pages
//! (`/verify-account/email`, `/reset-password`), which call [`verify_email`] and
//! [`reset_password`]. A link's token is random, stored only as its SHA-256, works once and
//! expires after `signup.email_token_lifetime_secs`. The "ask" endpoints answer 204 whether or
//! not the address is known, so they tell nobody which addresses have accounts.

use super::auth::{hash_password, random_token, sha256_hex, AuthUser};
use super::error::ApiError;
use super::paging::{PageQuery, Paging};
use super::user_admin::{
    check_email, check_password, check_username, create_account, email_taken, NewAccount,
};
use crate::app::{App, ClientAddr, SharedApp};
use crate::store::tables::{
    EmailPurpose, EmailToken, EmailTokenKey, Registration, RegistrationKey, Right, Role, Sequence,
    User, UserByNameKey, UserKey,
};
use crate::store::{Batch, Durability};
use crate::time::{iso8601, now_secs};
use axum::extract::{Path, Query, State};
use axum::routing::{delete, post};
use axum::{Extension, Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

/// The routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/users/register", post(register))
        .route("/api/v1/users/registrations/request", post(request))
        .route(
            "/api/v1/users/registrations",
            axum::routing::get(list_registrations),
        )
        .route(
            "/api/v1/users/registrations/{id}/accept",
            post(accept_registration),
        )
        .route(
            "/api/v1/users/registrations/{id}/reject",
            post(reject_registration),
        )
        .route(
            "/api/v1/users/registrations/{id}",
            delete(delete_registration),
        )
        .route(
            "/api/v1/users/registrations/{id}/verify-email",
            post(verify_registration_email),
        )
        .route(
            "/api/v1/users/ask-send-verify-email",
            post(ask_send_verify_email),
        )
        .route("/api/v1/users/{id}/verify-email", post(verify_user_email))
        .route("/api/v1/users/ask-reset-password", post(ask_reset_password))
        .route(
            "/api/v1/users/{id}/reset-password",
            post(reset_user_password),
        )
}

/// Per-address limits on sign-ups and on e-mail asks (each can make this instance send mail
/// or create accounts; PeerTube limits both per IP).
pub struct SignupLimits {
    signups: crate::ratelimit::RateLimiter<std::net::IpAddr>,
    asks: crate::ratelimit::RateLimiter<std::net::IpAddr>,
}

impl std::fmt::Debug for SignupLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignupLimits").finish_non_exhaustive()
    }
}

impl SignupLimits {
    /// The limits of `[signup]`.
    pub fn new(c: &crate::config::SignupConfig) -> SignupLimits {
        let window = std::time::Duration::from_secs(300);
        SignupLimits {
            signups: crate::ratelimit::RateLimiter::new(c.per_address_per_5min, window),
            asks: crate::ratelimit::RateLimiter::new(c.email_asks_per_address_per_5min, window),
        }
    }
}

/// The address a limit counts: an IPv4 address, or the /64 of an IPv6 one.
fn limit_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            std::net::IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

fn limited(
    limiter: &crate::ratelimit::RateLimiter<std::net::IpAddr>,
    ip: std::net::IpAddr,
    what: &str,
) -> Result<(), ApiError> {
    limiter.check(limit_key(ip)).map_err(|wait| {
        tracing::info!(peer = %ip, what, "refused: too many from this address");
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many {what} from your address; try again in {wait} s"),
        );
        e.retry_after = Some(wait);
        e
    })
}

// Registration states (PeerTube's `UserRegistrationState`).
const PENDING: u8 = 1;
const REJECTED: u8 = 2;
const ACCEPTED: u8 = 3;

/// A sign-up (`UserRegister`, and `registrationReason` for a request).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignupBody {
    username: String,
    password: String,
    email: String,
    display_name: Option<String>,
    channel: Option<ChannelBody>,
    registration_reason: Option<String>,
}

/// The first channel a sign-up asks for.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelBody {
    name: String,
    display_name: Option<String>,
}

/// A sign-up, checked: everything [`NewAccount`] needs but the hash.
struct Checked {
    username: String,
    email: String,
    password: String,
    display_name: String,
    channel_name: String,
    channel_display_name: String,
    reason: String,
}

fn display_name(what: &str, name: &str) -> Result<String, ApiError> {
    let n = name.trim().chars().count();
    if !(1..=120).contains(&n) || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{what} must have 1 to 120 characters and no control character (got {name:?})"
        )));
    }
    Ok(name.trim().to_string())
}

fn check_signup(body: SignupBody, with_reason: bool) -> Result<Checked, ApiError> {
    check_username(&body.username)?;
    check_password(&body.password)?;
    check_email(&body.email)?;
    let display = display_name(
        "displayName",
        body.display_name.as_deref().unwrap_or(&body.username),
    )?;
    let (channel_name, channel_display) = match body.channel {
        Some(c) => {
            check_username(&c.name).map_err(|_| {
                ApiError::bad_request(format!(
                    "channel.name {:?} is not valid: 1 to 50 characters of a-z, 0-9, '.' and '_'",
                    c.name
                ))
            })?;
            let d = display_name(
                "channel.displayName",
                c.display_name.as_deref().unwrap_or(&c.name),
            )?;
            (c.name, d)
        }
        None => (
            format!("{}_channel", body.username),
            format!("Main {} channel", body.username),
        ),
    };
    let reason = body.registration_reason.unwrap_or_default();
    if with_reason {
        let n = reason.trim().chars().count();
        if !(2..=3000).contains(&n) || reason.chars().any(|c| c.is_control() && c != '\n') {
            return Err(ApiError::bad_request(format!(
                "registrationReason must have 2 to 3000 characters and no control character (got {n})"
            )));
        }
    }
    Ok(Checked {
        username: body.username,
        email: body.email,
        password: body.password,
        display_name: display,
        channel_name,
        channel_display_name: channel_display,
        reason: reason.trim().to_string(),
    })
}

/// Refuses a sign-up when sign-up is closed or the instance is full.
fn signup_open(app: &App) -> Result<(), ApiError> {
    let s = &app.config.signup;
    if !s.enabled {
        return Err(ApiError::forbidden("User registration is not enabled."));
    }
    if s.limit >= 0 && app.store.count::<UserKey>(&())? as i64 >= s.limit {
        return Err(ApiError::forbidden(
            "User limit is reached on this instance.",
        ));
    }
    Ok(())
}

/// Makes a one-use token for `purpose` and `subject`; returns its value (only its hash is kept).
fn new_token(app: &App, purpose: EmailPurpose, subject: u64) -> Result<String, ApiError> {
    let token = random_token(32);
    let record = EmailToken {
        purpose,
        subject,
        expires_at: now_secs() + app.config.signup.email_token_lifetime_secs,
    };
    app.store.put(
        &EmailTokenKey(sha256_hex(&token)),
        &record,
        Durability::Sync,
    )?;
    Ok(token)
}

/// Uses up `token` if it is a live one for `purpose` and `subject`; 403 otherwise (unknown,
/// used already, expired or for something else).
fn take_token(app: &App, token: &str, purpose: EmailPurpose, subject: u64) -> Result<(), ApiError> {
    let key = EmailTokenKey(sha256_hex(token.trim()));
    let refused = || ApiError::forbidden("the link is invalid, was used already or has expired");
    let record = app.store.get(&key)?.ok_or_else(refused)?;
    if record.purpose != purpose || record.subject != subject {
        return Err(refused());
    }
    app.store.delete(&key, Durability::Sync)?;
    if record.expires_at <= now_secs() {
        return Err(refused());
    }
    Ok(())
}

/// Queues an e-mail; a failure to queue is logged, not the request's failure (the account or
/// request is made; the user can ask for the link again).
fn send(app: &App, to: &str, subject: &str, text: &str) {
    let subject = format!("{}: {subject}", app.config.instance.name);
    if let Err(e) = app.mailer.queue(to, &subject, text) {
        tracing::warn!(to = %to, error = %e, "e-mail not queued");
    }
}

/// E-mails the link that verifies `email` for a user (`registration: false`) or a request.
fn send_verification(
    app: &App,
    email: &str,
    subject: u64,
    registration: bool,
) -> Result<(), ApiError> {
    let (purpose, param) = if registration {
        (EmailPurpose::VerifyRegistration, "registrationId")
    } else {
        (EmailPurpose::VerifyUser, "userId")
    };
    let token = new_token(app, purpose, subject)?;
    let link = format!(
        "{}/verify-account/email?{param}={subject}&verificationString={token}",
        app.public_url
    );
    send(
        app,
        email,
        "verify your e-mail address",
        &format!(
            "Welcome to {}.\n\nTo verify your e-mail address, open this link (it works once, for {} minutes):\n\n{link}\n\nIf you did not sign up, ignore this message.\n",
            app.config.instance.name,
            app.config.signup.email_token_lifetime_secs / 60
        ),
    );
    Ok(())
}

/// `POST /api/v1/users/register`: open sign-up (no approval); 204. With
/// `signup.requires_email_verification` the user gets a link and cannot log in before opening
/// it.
pub async fn register(
    State(app): State<SharedApp>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    Json(body): Json<SignupBody>,
) -> Result<StatusCode, ApiError> {
    signup_open(&app)?;
    limited(&app.signup_limits.signups, peer.ip(), "sign-ups")?;
    if app.config.signup.requires_approval {
        return Err(ApiError::forbidden(
            "Sign-up on this instance needs a moderator's approval: send a registration request (POST /api/v1/users/registrations/request)",
        ));
    }
    let c = check_signup(body, false)?;
    let a = app.clone();
    let user = app
        .pool
        .run(move || -> Result<User, ApiError> {
            signup_open(&a)?;
            let verify = a.config.signup.requires_email_verification;
            let hash = hash_password(&c.password)
                .map_err(|e| ApiError::internal("password hashing", e))?;
            let user = create_account(
                &a,
                NewAccount {
                    username: c.username,
                    email: c.email,
                    password_hash: hash,
                    role: Role::User,
                    display_name: c.display_name,
                    channel_name: c.channel_name,
                    channel_display_name: c.channel_display_name,
                    video_quota: a.config.signup.video_quota,
                    video_quota_daily: a.config.signup.video_quota_daily,
                    email_verified: !verify,
                },
            )?;
            if verify {
                send_verification(&a, &user.email, user.id, false)?;
            }
            Ok(user)
        })
        .await??;
    tracing::info!(user = %user.username, id = user.id, peer = %peer.ip(), verified = user.email_verified, "user signed up");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/users/registrations/request`: a sign-up for a moderator to accept; the
/// request as PeerTube's `UserRegistration`.
pub async fn request(
    State(app): State<SharedApp>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    Json(body): Json<SignupBody>,
) -> Result<Json<Value>, ApiError> {
    signup_open(&app)?;
    limited(&app.signup_limits.signups, peer.ip(), "sign-ups")?;
    if !app.config.signup.requires_approval {
        return Err(ApiError::forbidden(
            "Sign-up on this instance needs no approval: register directly (POST /api/v1/users/register)",
        ));
    }
    let c = check_signup(body, true)?;
    let a = app.clone();
    let reg = app
        .pool
        .run(move || -> Result<Registration, ApiError> {
            static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
            let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
            let store = &a.store;
            if store.get(&UserByNameKey(c.username.clone()))?.is_some() {
                return Err(ApiError::conflict(format!(
                    "a user named {:?} already exists",
                    c.username
                )));
            }
            if email_taken(&a, &c.email, None)? {
                return Err(ApiError::conflict(format!(
                    "a user with the e-mail {:?} already exists",
                    c.email
                )));
            }
            for (_, r) in store.scan::<RegistrationKey>(&())? {
                if r.state == PENDING
                    && (r.username == c.username || r.email.eq_ignore_ascii_case(&c.email))
                {
                    return Err(ApiError::conflict(format!(
                        "a registration request for {:?} or {:?} is already waiting",
                        c.username, c.email
                    )));
                }
            }
            let hash = hash_password(&c.password)
                .map_err(|e| ApiError::internal("password hashing", e))?;
            let now = now_secs();
            let reg = Registration {
                id: store.next_id(Sequence::Registration)?,
                username: c.username,
                email: c.email,
                email_verified: !a.config.signup.requires_email_verification,
                password_hash: hash,
                display_name: c.display_name,
                channel_name: c.channel_name,
                channel_display_name: c.channel_display_name,
                reason: c.reason,
                state: PENDING,
                moderation_response: None,
                user_id: None,
                created_at: now,
                updated_at: now,
            };
            store.put(&RegistrationKey(reg.id), &reg, Durability::Sync)?;
            if !reg.email_verified {
                send_verification(&a, &reg.email, reg.id, true)?;
            }
            Ok(reg)
        })
        .await??;
    tracing::info!(registration = reg.id, username = %reg.username, peer = %peer.ip(), "registration requested");
    Ok(Json(registration_json(&reg)))
}

fn registration_json(r: &Registration) -> Value {
    let label = match r.state {
        PENDING => "Pending",
        REJECTED => "Rejected",
        _ => "Accepted",
    };
    let mut doc = json!({
        "id": r.id,
        "state": {"id": r.state, "label": label},
        "registrationReason": r.reason,
        "moderationResponse": r.moderation_response,
        "username": r.username,
        "email": r.email,
        "emailVerified": r.email_verified,
        "accountDisplayName": r.display_name,
        "channelHandle": r.channel_name,
        "channelDisplayName": r.channel_display_name,
        "createdAt": iso8601(r.created_at),
        "updatedAt": iso8601(r.updated_at),
    });
    if let Some(id) = r.user_id {
        // `user?: {id}`: absent until accepted.
        doc["user"] = json!({"id": id});
    }
    doc
}

fn moderator(user: &User) -> Result<(), ApiError> {
    super::auth::require(user, Right::ManageRegistrations, "registration requests")
}

fn registration_or_404(app: &App, id: &str) -> Result<Registration, ApiError> {
    let missing = || ApiError::not_found(format!("registration request {id} not found"));
    let n: u64 = id.parse().map_err(|_| missing())?;
    app.store.get(&RegistrationKey(n))?.ok_or_else(missing)
}

/// `GET /api/v1/users/registrations`: `ResultList<UserRegistration>`, newest first by default.
pub async fn list_registrations(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    moderator(&auth.user)?;
    let paging = Paging::parse(&q, &["createdAt"], "-createdAt")?;
    let a = app.clone();
    let doc = app
        .pool
        .run(move || -> Result<Value, ApiError> {
            let mut regs: Vec<Registration> = a
                .store
                .scan::<RegistrationKey>(&())?
                .into_iter()
                .map(|(_, r)| r)
                .collect();
            regs.sort_by_key(|r| (r.created_at, r.id));
            if paging.descending {
                regs.reverse();
            }
            paging.result_list(&regs, |r| Ok::<_, ApiError>(registration_json(r)))
        })
        .await??;
    Ok(Json(doc))
}

/// Accept and reject bodies.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModerationBody {
    moderation_response: Option<String>,
    #[serde(default)]
    prevent_email_delivery: bool,
}

fn response_text(body: &ModerationBody) -> Result<Option<String>, ApiError> {
    match body.moderation_response.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(r) if r.chars().count() <= 3000 && !r.chars().any(|c| c.is_control() && c != '\n') => {
            Ok(Some(r.to_string()))
        }
        Some(r) => Err(ApiError::bad_request(format!(
            "moderationResponse must have at most 3000 characters and no control character (got {})",
            r.chars().count()
        ))),
    }
}

/// `POST /api/v1/users/registrations/{id}/accept`: the account is made (with the request's
/// password); the requester is told by e-mail unless `preventEmailDelivery`. 204.
pub async fn accept_registration(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(id): Path<String>,
    body: Option<Json<ModerationBody>>,
) -> Result<StatusCode, ApiError> {
    moderator(&auth.user)?;
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let response = response_text(&body)?;
    let (a, by) = (app.clone(), auth.user.username.clone());
    app.pool
        .run(move || -> Result<(), ApiError> {
            let mut reg = registration_or_404(&a, &id)?;
            if reg.state != PENDING {
                return Err(ApiError::conflict(format!(
                    "registration request {id} was already answered"
                )));
            }
            if !reg.email_verified {
                return Err(ApiError::bad_request(format!(
                    "registration request {id}: its e-mail address is not verified yet"
                )));
            }
            let s = &a.config.signup;
            let user = create_account(
                &a,
                NewAccount {
                    username: reg.username.clone(),
                    email: reg.email.clone(),
                    password_hash: reg.password_hash.clone(),
                    role: Role::User,
                    display_name: reg.display_name.clone(),
                    channel_name: reg.channel_name.clone(),
                    channel_display_name: reg.channel_display_name.clone(),
                    video_quota: s.video_quota,
                    video_quota_daily: s.video_quota_daily,
                    email_verified: true,
                },
            )?;
            reg.state = ACCEPTED;
            reg.user_id = Some(user.id);
            reg.moderation_response = response.clone();
            reg.password_hash.clear();
            reg.updated_at = now_secs();
            a.store
                .put(&RegistrationKey(reg.id), &reg, Durability::Sync)?;
            if !body.prevent_email_delivery {
                send(
                    &a,
                    &reg.email,
                    "your account was accepted",
                    &format!(
                        "Your account {} on {} was accepted; you can log in at {}/login.\n{}",
                        reg.username,
                        a.config.instance.name,
                        a.public_url,
                        response.map(|r| format!("\nThe moderator wrote: {r}\n")).unwrap_or_default()
                    ),
                );
            }
            tracing::info!(registration = reg.id, user = %reg.username, by = %by, "registration accepted");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/users/registrations/{id}/reject` (`moderationResponse` required); 204.
pub async fn reject_registration(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<ModerationBody>,
) -> Result<StatusCode, ApiError> {
    moderator(&auth.user)?;
    let response = response_text(&body)?
        .ok_or_else(|| ApiError::bad_request("moderationResponse is required to reject"))?;
    let (a, by) = (app.clone(), auth.user.username.clone());
    app.pool
        .run(move || -> Result<(), ApiError> {
            let mut reg = registration_or_404(&a, &id)?;
            if reg.state != PENDING {
                return Err(ApiError::conflict(format!(
                    "registration request {id} was already answered"
                )));
            }
            reg.state = REJECTED;
            reg.moderation_response = Some(response.clone());
            reg.password_hash.clear();
            reg.updated_at = now_secs();
            a.store
                .put(&RegistrationKey(reg.id), &reg, Durability::Sync)?;
            if !body.prevent_email_delivery && reg.email_verified {
                send(
                    &a,
                    &reg.email,
                    "your registration was rejected",
                    &format!("Your registration request on {} was rejected.\n\nThe moderator wrote: {response}\n", a.config.instance.name),
                );
            }
            tracing::info!(registration = reg.id, user = %reg.username, by = %by, "registration rejected");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/users/registrations/{id}`; 204.
pub async fn delete_registration(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    moderator(&auth.user)?;
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            let reg = registration_or_404(&a, &id)?;
            a.store.delete(&RegistrationKey(reg.id), Durability::Sync)?;
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `verificationString` bodies.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyBody {
    verification_string: String,
}

/// Marks the e-mail of user `id` (or, with `registration`, of request `id`) verified if
/// `token` is its live link token. Used by the API and the `/verify-account/email` page.
pub fn verify_email(app: &App, id: u64, registration: bool, token: &str) -> Result<(), ApiError> {
    if registration {
        let mut reg = app
            .store
            .get(&RegistrationKey(id))?
            .ok_or_else(|| ApiError::not_found(format!("registration request {id} not found")))?;
        take_token(app, token, EmailPurpose::VerifyRegistration, id)?;
        reg.email_verified = true;
        reg.updated_at = now_secs();
        app.store
            .put(&RegistrationKey(id), &reg, Durability::Sync)?;
        tracing::info!(registration = id, "registration e-mail verified");
    } else {
        let mut user = app
            .store
            .get(&UserKey(id))?
            .ok_or_else(|| ApiError::not_found(format!("user {id} not found")))?;
        take_token(app, token, EmailPurpose::VerifyUser, id)?;
        user.email_verified = true;
        app.store.put(&UserKey(id), &user, Durability::Sync)?;
        tracing::info!(user = %user.username, "e-mail verified");
    }
    Ok(())
}

fn id_of(id: &str, what: &str) -> Result<u64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("{what} {id} not found")))
}

/// `POST /api/v1/users/{id}/verify-email`; 204, 403 for a bad or used link.
pub async fn verify_user_email(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
    Json(body): Json<VerifyBody>,
) -> Result<StatusCode, ApiError> {
    let id = id_of(&id, "user")?;
    let a = app.clone();
    app.pool
        .run(move || verify_email(&a, id, false, &body.verification_string))
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/users/registrations/{id}/verify-email`; 204.
pub async fn verify_registration_email(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
    Json(body): Json<VerifyBody>,
) -> Result<StatusCode, ApiError> {
    let id = id_of(&id, "registration request")?;
    let a = app.clone();
    app.pool
        .run(move || verify_email(&a, id, true, &body.verification_string))
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"email"}` bodies.
#[derive(Debug, Deserialize)]
pub struct EmailBody {
    email: String,
}

/// `POST /api/v1/users/ask-send-verify-email`: a new link to an unverified user or request
/// with that address; 204 in any case.
pub async fn ask_send_verify_email(
    State(app): State<SharedApp>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    Json(body): Json<EmailBody>,
) -> Result<StatusCode, ApiError> {
    check_email(&body.email)?;
    limited(&app.signup_limits.asks, peer.ip(), "e-mail requests")?;
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            if let Some((_, u)) = a
                .store
                .scan::<UserKey>(&())?
                .into_iter()
                .find(|(_, u)| u.email.eq_ignore_ascii_case(&body.email) && !u.email_verified)
            {
                return send_verification(&a, &u.email, u.id, false);
            }
            if let Some((_, r)) =
                a.store
                    .scan::<RegistrationKey>(&())?
                    .into_iter()
                    .find(|(_, r)| {
                        r.state == PENDING
                            && !r.email_verified
                            && r.email.eq_ignore_ascii_case(&body.email)
                    })
            {
                return send_verification(&a, &r.email, r.id, true);
            }
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/users/ask-reset-password`: a reset link to the user with that address; 204
/// in any case.
pub async fn ask_reset_password(
    State(app): State<SharedApp>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    Json(body): Json<EmailBody>,
) -> Result<StatusCode, ApiError> {
    check_email(&body.email)?;
    limited(&app.signup_limits.asks, peer.ip(), "e-mail requests")?;
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            let Some((_, u)) = a
                .store
                .scan::<UserKey>(&())?
                .into_iter()
                .find(|(_, u)| u.email.eq_ignore_ascii_case(&body.email))
            else {
                tracing::info!("password reset asked for an unknown address");
                return Ok(());
            };
            let token = new_token(&a, EmailPurpose::ResetPassword, u.id)?;
            let link = format!(
                "{}/reset-password?userId={}&verificationString={token}",
                a.public_url, u.id
            );
            send(
                &a,
                &u.email,
                "reset your password",
                &format!(
                    "Someone asked to reset the password of {} on {}. To choose a new one, open this link (it works once, for {} minutes):\n\n{link}\n\nIf it was not you, ignore this message: your password stays as it is.\n",
                    u.username,
                    a.config.instance.name,
                    a.config.signup.email_token_lifetime_secs / 60
                ),
            );
            tracing::info!(user = %u.username, "password reset asked");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets user `id`'s password if `token` is its live reset token, and ends their sessions.
/// Used by the API and the `/reset-password` page.
pub fn reset_password(app: &App, id: u64, token: &str, password: &str) -> Result<(), ApiError> {
    check_password(password)?;
    let mut user = app
        .store
        .get(&UserKey(id))?
        .ok_or_else(|| ApiError::not_found(format!("user {id} not found")))?;
    take_token(app, token, EmailPurpose::ResetPassword, id)?;
    user.password_hash =
        hash_password(password).map_err(|e| ApiError::internal("password hashing", e))?;
    let mut batch = Batch::default();
    batch.put(&app.store, &UserKey(id), &user)?;
    let revoked = super::auth::revoke_all(&app.store, id, &mut batch)?;
    app.store.write(batch, Durability::Sync)?;
    tracing::info!(user = %user.username, tokens_revoked = revoked, "password reset");
    Ok(())
}

/// `POST /api/v1/users/{id}/reset-password` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetBody {
    verification_string: String,
    password: String,
}

/// `POST /api/v1/users/{id}/reset-password`; 204, 403 for a bad, used or expired link.
pub async fn reset_user_password(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
    Json(body): Json<ResetBody>,
) -> Result<StatusCode, ApiError> {
    let id = id_of(&id, "user")?;
    let a = app.clone();
    app.pool
        .run(move || reset_password(&a, id, &body.verification_string, &body.password))
        .await??;
    Ok(StatusCode::NO_CONTENT)
}
