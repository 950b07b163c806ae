//! PeerTube's login flow: the local OAuth client, password and refresh-token grants, bearer
//! authentication, token revocation, and the first account (`root`) created at first start.
//! Tokens are random 32-byte values; only their SHA-256 is stored.

use super::error::ApiError;
use crate::app::{App, ClientAddr, SharedApp};
use crate::config::ROOT_PASSWORD_FILE;
use crate::store::tables::{
    AccessTokenKey, Channel, ChannelByNameKey, ChannelKey, LocalClientKey, OAuthClient,
    RefreshTokenKey, Right, Role, Sequence, TokenRecord, User, UserByNameKey, UserKey,
};
use crate::store::{Batch, Durability, Store, StoreError};
use crate::time::now_secs;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form, Json};
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use rand::Rng;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

/// Name of the first account.
pub const ROOT_USER: &str = "root";
/// Minimum password length (PeerTube's).
pub(crate) const MIN_PASSWORD: usize = 6;

/// Creates the local OAuth client, the `root` user and its channel when missing.
pub fn bootstrap(app: &App) -> anyhow::Result<()> {
    let store = &app.store;
    if store.get(&LocalClientKey)?.is_none() {
        let client = OAuthClient {
            client_id: random_token(16),
            client_secret: random_token(16),
        };
        store.put(&LocalClientKey, &client, Durability::Sync)?;
    }
    if store.get(&UserByNameKey(ROOT_USER.into()))?.is_some() {
        return Ok(());
    }
    let (password, generated) = match std::env::var("FLEUVE_ROOT_PASSWORD") {
        Ok(p) if !p.is_empty() => {
            if p.len() < MIN_PASSWORD {
                anyhow::bail!("FLEUVE_ROOT_PASSWORD is {} characters long; at least {MIN_PASSWORD} are needed", p.len());
            }
            (p, false)
        }
        _ => (random_password(), true),
    };
    let hash = hash_password(&password)?;
    let user_id = store.next_id(Sequence::User)?;
    let channel_id = store.next_id(Sequence::Channel)?;
    let now = now_secs();
    let user = User {
        id: user_id,
        username: ROOT_USER.into(),
        email: format!(
            "admin@{}",
            app.public_host.split(':').next().unwrap_or("localhost")
        ),
        password_hash: hash,
        role: Role::Administrator,
        display_name: ROOT_USER.into(),
        created_at: now,
        video_quota: -1,
        video_quota_daily: -1,
        blocked: false,
        blocked_reason: None,
        email_verified: true,
        nsfw_policy: crate::store::tables::DEFAULT_NSFW_POLICY.to_string(),
        p2p_enabled: true,
    };
    let channel = Channel {
        id: channel_id,
        name: format!("{ROOT_USER}_channel"),
        display_name: "Main root channel".into(),
        owner: user_id,
        created_at: now,
        description: None,
        support: None,
        updated_at: now,
    };
    if generated {
        let path = app.data_dir.join(ROOT_PASSWORD_FILE);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        writeln!(f, "{password}")?;
        f.sync_all()?;
        tracing::warn!(user = ROOT_USER, password = %password, file = %path.display(), "created the first account with a generated password (shown once; also in the file)");
    } else {
        tracing::info!(
            user = ROOT_USER,
            "created the first account with the password from FLEUVE_ROOT_PASSWORD"
        );
    }
    let mut batch = Batch::default();
    batch.put(store, &UserKey(user_id), &user)?;
    batch.put(store, &UserByNameKey(ROOT_USER.into()), &user_id)?;
    batch.put(store, &ChannelKey(channel_id), &channel)?;
    batch.put(
        store,
        &crate::store::tables::ChannelByOwnerKey {
            owner: user_id,
            channel: channel_id,
        },
        &(),
    )?;
    batch.put(store, &ChannelByNameKey(channel.name.clone()), &channel_id)?;
    crate::store::video_index::index_channel(&mut batch, &channel);
    store.write(batch, Durability::Sync)?;
    Ok(())
}

pub(crate) fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill(&mut b[..]);
    hex::encode(b)
}

fn random_password() -> String {
    use rand::distributions::Alphanumeric;
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

/// Argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

pub(crate) fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

pub(crate) fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// `GET /api/v1/oauth-clients/local`: only when asked through the public host, as PeerTube does.
pub async fn local_client(
    State(app): State<SharedApp>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let expected = &app.public_host;
    let matches = host.eq_ignore_ascii_case(expected)
        || host_without_default_port(expected).is_some_and(|h| h.eq_ignore_ascii_case(host));
    if !matches {
        return Err(ApiError::forbidden(format!(
            "getting the local client must be done through the instance's host {expected:?} (request said {host:?})"
        )));
    }
    let client = app
        .store
        .get(&LocalClientKey)?
        .ok_or_else(|| ApiError::internal("oauth", "local client missing"))?;
    Ok(
        Json(json!({"client_id": client.client_id, "client_secret": client.client_secret}))
            .into_response(),
    )
}

fn host_without_default_port(host: &str) -> Option<&str> {
    host.strip_suffix(":80")
        .or_else(|| host.strip_suffix(":443"))
}

/// Body of `POST /api/v1/users/token`.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
}

/// `POST /api/v1/users/token`: password and refresh-token grants.
pub async fn token(
    State(app): State<SharedApp>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, ApiError> {
    // Counted as a failure unless it succeeds (src/api/login_throttle.rs), malformed requests
    // included.
    let account = match &form {
        Ok(Form(f)) if f.grant_type.as_deref() == Some("password") => {
            f.username.as_deref().unwrap_or_default().to_lowercase()
        }
        _ => String::new(),
    };
    let attempt = app.login_throttle.begin(peer.ip(), &account).map_err(|r| {
        tracing::info!(user = %account, peer = %peer.ip(), scope = ?r.scope, "login refused: too many failures");
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, r.to_string());
        e.retry_after = Some(r.retry_after);
        e
    })?;
    let Form(form) = form.map_err(|e| {
        ApiError::bad_request(format!("invalid token request: {e}")).code("invalid_request")
    })?;
    let client = app
        .store
        .get(&LocalClientKey)?
        .ok_or_else(|| ApiError::internal("oauth", "local client missing"))?;
    if form.client_id.as_deref() != Some(&client.client_id)
        || form.client_secret.as_deref() != Some(&client.client_secret)
    {
        return Err(
            ApiError::bad_request("Invalid client: client is invalid").code("invalid_client")
        );
    }
    let user_id = match form.grant_type.as_deref() {
        Some("password") => {
            let username = form.username.unwrap_or_default().to_lowercase();
            let password = form.password.unwrap_or_default();
            let invalid = || {
                ApiError::bad_request("Invalid grant: user credentials are invalid")
                    .code("invalid_grant")
            };
            let Some(id) = app.store.get(&UserByNameKey(username.clone()))? else {
                return Err(invalid());
            };
            let user = app.store.get(&UserKey(id))?.ok_or_else(invalid)?;
            let ok = app
                .pool
                .run(move || verify_password(&password, &user.password_hash))
                .await?;
            if !ok {
                tracing::info!(user = %username, peer = %peer.ip(), "login refused: wrong password");
                return Err(invalid());
            }
            refuse_blocked(&app, id)?;
            id
        }
        Some("refresh_token") => {
            let invalid = || {
                ApiError::bad_request("Invalid grant: refresh token is invalid")
                    .code("invalid_grant")
            };
            let token = form.refresh_token.ok_or_else(invalid)?;
            let key = RefreshTokenKey(sha256_hex(&token));
            let record = app.store.get(&key)?.ok_or_else(invalid)?;
            if record.expires_at <= now_secs() {
                return Err(
                    ApiError::bad_request("Invalid grant: refresh token has expired")
                        .code("invalid_grant"),
                );
            }
            refuse_blocked(&app, record.user_id)?;
            let mut batch = Batch::default();
            batch.delete(&app.store, &key);
            batch.delete(&app.store, &AccessTokenKey(record.pair.clone()));
            app.store.write(batch, Durability::Buffered)?;
            record.user_id
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "Unsupported grant type {:?}; expected password or refresh_token",
                other.unwrap_or("")
            ))
            .code("unsupported_grant_type"))
        }
    };
    attempt.succeeded();
    let body = issue_tokens(&app, user_id).await?;
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// A blocked user gets no token (PeerTube's 400 "User is blocked.", with the reason), nor does
/// one whose e-mail must be verified first ("User email is not verified.").
fn refuse_blocked(app: &App, id: u64) -> Result<(), ApiError> {
    match app.store.get(&UserKey(id))? {
        Some(u) if !u.email_verified && app.config.signup.requires_email_verification => {
            tracing::info!(user = %u.username, "login refused: e-mail not verified");
            Err(ApiError::bad_request(
                "User email is not verified: open the link e-mailed to you, or ask for a new one (POST /api/v1/users/ask-send-verify-email)",
            )
            .code("invalid_grant"))
        }
        Some(u) if u.blocked => {
            tracing::info!(user = %u.username, "login refused: user blocked");
            let why = u
                .blocked_reason
                .map(|r| format!(" Reason: {r}"))
                .unwrap_or_default();
            Err(ApiError::bad_request(format!("User is blocked.{why}")).code("invalid_grant"))
        }
        _ => Ok(()),
    }
}

async fn issue_tokens(app: &SharedApp, user_id: u64) -> Result<serde_json::Value, ApiError> {
    let access = random_token(32);
    let refresh = random_token(32);
    let (a_hash, r_hash) = (sha256_hex(&access), sha256_hex(&refresh));
    let now = now_secs();
    let auth = &app.config.auth;
    let mut batch = Batch::default();
    batch.put(
        &app.store,
        &AccessTokenKey(a_hash.clone()),
        &TokenRecord {
            user_id,
            expires_at: now + auth.access_token_lifetime_secs,
            pair: r_hash.clone(),
        },
    )?;
    batch.put(
        &app.store,
        &RefreshTokenKey(r_hash),
        &TokenRecord {
            user_id,
            expires_at: now + auth.refresh_token_lifetime_secs,
            pair: a_hash,
        },
    )?;
    let store = app.store.clone();
    app.pool
        .run(move || store.write(batch, Durability::Sync))
        .await??;
    Ok(json!({
        "token_type": "Bearer",
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": auth.access_token_lifetime_secs,
        "refresh_token_expires_in": auth.refresh_token_lifetime_secs,
    }))
}

/// The authenticated user of a request (`Authorization: Bearer …`).
pub struct AuthUser {
    /// The user.
    pub user: User,
    /// SHA-256 of the access token used.
    pub token_hash: String,
}

impl FromRequestParts<SharedApp> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &SharedApp,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "authentication required: send Authorization: Bearer <access_token>",
                )
                .code("invalid_token")
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("Authorization header must be \"Bearer <access_token>\"")
                    .code("invalid_token")
            })?;
        let hash = sha256_hex(token.trim());
        let record = app
            .store
            .get(&AccessTokenKey(hash.clone()))?
            .ok_or_else(|| {
                ApiError::unauthorized("Invalid token: access token is invalid")
                    .code("invalid_token")
            })?;
        if record.expires_at <= now_secs() {
            return Err(
                ApiError::unauthorized("Invalid token: access token has expired")
                    .code("invalid_token"),
            );
        }
        let user = app.store.get(&UserKey(record.user_id))?.ok_or_else(|| {
            ApiError::unauthorized("Invalid token: user no longer exists").code("invalid_token")
        })?;
        if user.blocked {
            // Their tokens were revoked when they were blocked; this is the second lock.
            return Err(
                ApiError::unauthorized("Invalid token: user is blocked").code("invalid_token")
            );
        }
        Ok(AuthUser {
            user,
            token_hash: hash,
        })
    }
}

/// An authenticated administrator (a guard: the handlers that take it do not need the user).
pub struct AdminUser(#[allow(dead_code)] pub User);

impl FromRequestParts<SharedApp> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &SharedApp,
    ) -> Result<Self, Self::Rejection> {
        let AuthUser { user, .. } = AuthUser::from_request_parts(parts, app).await?;
        if !user.role.has(Right::ManageInstance) {
            return Err(ApiError::forbidden(format!(
                "user {:?} is not an administrator",
                user.username
            )));
        }
        Ok(AdminUser(user))
    }
}

/// `POST /api/v1/users/revoke-token`.
pub async fn revoke(State(app): State<SharedApp>, auth: AuthUser) -> Result<Response, ApiError> {
    let record = app.store.get(&AccessTokenKey(auth.token_hash.clone()))?;
    let mut batch = Batch::default();
    batch.delete(&app.store, &AccessTokenKey(auth.token_hash));
    if let Some(r) = record {
        batch.delete(&app.store, &RefreshTokenKey(r.pair));
    }
    app.store.write(batch, Durability::Buffered)?;
    Ok(Json(json!({})).into_response())
}

/// Adds the deletion of every token of `user_id` (access and refresh) to `batch`; returns how
/// many. PeerTube revokes them when a user is blocked, removed, or has their role or password
/// changed, so that the next request is judged on the new rights.
pub(crate) fn revoke_all(
    store: &Store,
    user_id: u64,
    batch: &mut Batch,
) -> Result<usize, StoreError> {
    let mut n = 0;
    for (k, r) in store.scan::<AccessTokenKey>(&())? {
        if r.user_id == user_id {
            batch.delete(store, &k);
            n += 1;
        }
    }
    for (k, r) in store.scan::<RefreshTokenKey>(&())? {
        if r.user_id == user_id {
            batch.delete(store, &k);
            n += 1;
        }
    }
    Ok(n)
}

/// Deletes expired tokens; returns how many.
pub fn purge_expired_tokens(store: &Store) -> Result<usize, StoreError> {
    let now = now_secs();
    let mut batch = Batch::default();
    for (k, r) in store.scan::<AccessTokenKey>(&())? {
        if r.expires_at <= now {
            batch.delete(store, &k);
        }
    }
    for (k, r) in store.scan::<RefreshTokenKey>(&())? {
        if r.expires_at <= now {
            batch.delete(store, &k);
        }
    }
    let n = batch.len();
    if n > 0 {
        store.write(batch, Durability::Buffered)?;
    }
    Ok(n)
}

/// `Ok` when `user`'s role has `right`, else a 403 that says who may: "`what` are for
/// moderators and administrators" (or "for administrators").
pub(crate) fn require(user: &User, right: Right, what: &str) -> Result<(), ApiError> {
    if user.role.has(right) {
        return Ok(());
    }
    let who = if Role::Moderator.has(right) {
        "moderators and administrators"
    } else {
        "administrators"
    };
    Err(ApiError::forbidden(format!("{what} are for {who}")))
}
