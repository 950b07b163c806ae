//! Abuse reports, as PeerTube's API has them: `POST /api/v1/abuses` (any user: a video, a
//! comment or an account), `GET /api/v1/abuses` and `PUT`/`DELETE /api/v1/abuses/{id}`
//! (moderators: `MANAGE_ABUSES`), `GET /api/v1/users/me/abuses` (the reporter's own). Reports
//! from other instances arrive as `Flag` activities ([`crate::federation::flags`]) and are
//! listed the same way, their reporter being the remote actor.

use super::auth::AuthUser;
use super::error::ApiError;
use super::paging::{PageQuery, Paging};
use super::users::{account_json, channel_json};
use super::videos::{find, remote_actor_json};
use crate::app::{App, SharedApp};
use crate::store::abuses::{AbuseReport, NewAbuse, PREDEFINED_REASONS};
use crate::store::comments::CommentKey;
use crate::store::tables::{
    Abuse, AbuseKey, AbuseMessage, AbuseMessageKey, AbuseTarget, ChannelKey, Reporter, Right,
    Sequence, User, UserKey,
};
use crate::store::videos::VideoKey;
use crate::store::{Durability, StoreError};
use crate::time::{iso8601, now_secs};
use axum::extract::{Path, Query, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

/// The routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/abuses", get(list).post(report))
        .route("/api/v1/abuses/{id}", put(update).delete(remove))
        .route("/api/v1/users/me/abuses", get(mine))
        .route(
            "/api/v1/abuses/{id}/messages",
            get(list_messages).post(add_message),
        )
        .route(
            "/api/v1/abuses/{id}/messages/{message_id}",
            axum::routing::delete(delete_message),
        )
}

/// Pending reports one user may have at once (a report flood is refused, 429).
const MAX_PENDING_PER_REPORTER: usize = 50;

// States (PeerTube's `AbuseState`).
const PENDING: u8 = 1;
const REJECTED: u8 = 2;
const ACCEPTED: u8 = 3;

fn state_json(state: u8) -> Value {
    let label = match state {
        PENDING => "Pending",
        REJECTED => "Rejected",
        _ => "Accepted",
    };
    json!({"id": state, "label": label})
}

/// `POST /api/v1/abuses` body (`AbuseCreate`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbuseCreate {
    reason: String,
    #[serde(default)]
    predefined_reasons: Vec<String>,
    video: Option<VideoRef>,
    comment: Option<IdRef>,
    account: Option<IdRef>,
}

/// `{id, startAt, endAt}` of a reported video (`id`: number or uuid).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoRef {
    id: Value,
    start_at: Option<u64>,
    end_at: Option<u64>,
}

/// `{id}` of a reported comment or account.
#[derive(Debug, Deserialize)]
pub struct IdRef {
    id: u64,
}

/// Checks a reason and predefined reasons (PeerTube's: 2 to 3000 characters).
pub fn check_reason(reason: &str, predefined: &[String]) -> Result<String, ApiError> {
    let n = reason.trim().chars().count();
    if !(2..=3000).contains(&n) || reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::bad_request(format!(
            "reason must have 2 to 3000 characters and no control character (got {n})"
        )));
    }
    if let Some(bad) = predefined
        .iter()
        .find(|p| !PREDEFINED_REASONS.contains(&p.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "predefinedReasons: {bad:?} is not one of {PREDEFINED_REASONS:?}"
        )));
    }
    Ok(reason.trim().to_string())
}

/// The comment `id` and its video (comments are keyed by video; a report names only the id).
fn find_comment(app: &App, id: u64) -> Result<Option<crate::video::comment::Comment>, StoreError> {
    for (k, _) in app.store.scan::<VideoKey>(&())? {
        if let Some(c) = app.store.get(&CommentKey { video_id: k.0, id })? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// Stores a report (checked by the caller); returns its id, 409 when it repeats a pending
/// one, 429 past [`MAX_PENDING_PER_REPORTER`].
fn store_report(app: &App, report: AbuseReport) -> Result<u64, ApiError> {
    match app
        .store
        .add_abuse(report, MAX_PENDING_PER_REPORTER, now_secs())?
    {
        NewAbuse::Added(id) => Ok(id),
        NewAbuse::Duplicate => Err(ApiError::conflict(
            "you already reported this; moderators have not answered yet",
        )),
        NewAbuse::TooMany(n) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{n} of your reports are waiting for moderators; wait for their answers"),
        )),
    }
}

/// `POST /api/v1/abuses`: `{abuse: {id}}`.
pub async fn report(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Json(body): Json<AbuseCreate>,
) -> Result<Json<Value>, ApiError> {
    let reason = check_reason(&body.reason, &body.predefined_reasons)?;
    let targets = [
        body.video.is_some(),
        body.comment.is_some(),
        body.account.is_some(),
    ];
    if targets.iter().filter(|t| **t).count() != 1 {
        return Err(ApiError::bad_request(
            "report exactly one of video, comment or account",
        ));
    }
    let (a, me) = (app.clone(), auth.user);
    let id = app
        .pool
        .run(move || -> Result<u64, ApiError> {
            // Another instance's object: (its URL, the actor it belongs to), for the Flag.
            let mut remote: Option<(String, String)> = None;
            let (start_at, end_at) = body
                .video
                .as_ref()
                .map_or((None, None), |v| (v.start_at, v.end_at));
            let (target, flagged) = if let Some(v) = body.video {
                let key = match &v.id {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.clone(),
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "video.id must be a number or a uuid (got {other})"
                        )))
                    }
                };
                let video = find(&a, &key)?
                    .filter(|v| v.may_see(Some(me.viewer())))
                    .ok_or_else(|| ApiError::not_found(format!("video {key} not found")))?;
                if let (Some(s), Some(e)) = (v.start_at, v.end_at) {
                    if e < s {
                        return Err(ApiError::bad_request(format!(
                            "video.endAt ({e}) is before video.startAt ({s})"
                        )));
                    }
                }
                let flagged = video.is_local().then_some(video.owner);
                if let Some(r) = &video.remote {
                    remote = Some((r.url.clone(), r.account.clone()));
                }
                (
                    AbuseTarget::Video {
                        id: video.id,
                        start_at: v.start_at,
                        end_at: v.end_at,
                    },
                    flagged,
                )
            } else if let Some(c) = body.comment {
                let comment = find_comment(&a, c.id)?
                    .filter(|c| c.deleted_at.is_none())
                    .ok_or_else(|| ApiError::not_found(format!("comment {} not found", c.id)))?;
                if comment.author.user.is_none() {
                    remote = Some((comment.url.clone(), comment.author.actor.clone()));
                }
                (
                    AbuseTarget::Comment {
                        video_id: comment.video_id,
                        id: comment.id,
                    },
                    comment.author.user,
                )
            } else {
                let id = body.account.map(|x| x.id).unwrap_or_default();
                let user = a.store.get(&UserKey(id))?.ok_or_else(|| {
                    ApiError::not_found(format!("account {id} not found on this instance"))
                })?;
                (AbuseTarget::Account(user.id), Some(user.id))
            };
            if flagged == Some(me.id) {
                return Err(ApiError::bad_request("you cannot report yourself"));
            }
            let id = store_report(
                &a,
                AbuseReport {
                    reporter: Reporter::Local(me.id),
                    target,
                    flagged_user: flagged,
                    reason: reason.clone(),
                    predefined_reasons: body.predefined_reasons.clone(),
                },
            )?;
            if let (Some((object, flagged)), true) = (remote, a.config.federation.enabled) {
                // Its instance's moderators hear of it too; the report stands here either way.
                let report = crate::federation::outbox::RemoteReport {
                    abuse_id: id,
                    reporter: me.username.clone(),
                    object,
                    flagged,
                    reason,
                    predefined: body.predefined_reasons,
                    start_at,
                    end_at,
                };
                if let Err(e) = crate::federation::outbox::flag(&a, &report) {
                    tracing::warn!(abuse = id, error = %e, "federation: cannot queue the Flag");
                }
            }
            Ok(id)
        })
        .await??;
    Ok(Json(json!({"abuse": {"id": id}})))
}

fn moderator(user: &User) -> Result<(), ApiError> {
    super::auth::require(user, Right::ManageAbuses, "abuse reports")
}

fn reporter_json(app: &App, r: &Reporter) -> Result<Value, StoreError> {
    Ok(match r {
        Reporter::Local(id) => app
            .store
            .get(&UserKey(*id))?
            .map_or(Value::Null, |u| account_json(app, &u)),
        Reporter::Remote(url) => remote_actor_json(url, false),
    })
}

/// One report as PeerTube's `AdminAbuse` (`admin`) or `UserAbuse`.
fn abuse_json(app: &App, abuse: &Abuse, all: &[Abuse], admin: bool) -> Result<Value, StoreError> {
    let mut doc = json!({
        "id": abuse.id,
        "reason": abuse.reason,
        "predefinedReasons": abuse.predefined_reasons,
        "state": state_json(abuse.state),
        "createdAt": iso8601(abuse.created_at),
        "updatedAt": iso8601(abuse.updated_at),
        "countMessages": app.store.count::<AbuseMessageKey>(&abuse.id)?,
    });
    if let Some(c) = &abuse.moderation_comment {
        doc["moderationComment"] = json!(c);
    }
    if let Some(u) = abuse
        .flagged_user
        .map(|id| app.store.get(&UserKey(id)))
        .transpose()?
        .flatten()
    {
        doc["flaggedAccount"] = account_json(app, &u);
    }
    match &abuse.target {
        AbuseTarget::Video {
            id,
            start_at,
            end_at,
        } => {
            let video = app.store.get(&VideoKey(*id))?;
            let same: Vec<&Abuse> = all
                .iter()
                .filter(|a| matches!(&a.target, AbuseTarget::Video { id: v, .. } if v == id))
                .collect();
            let mut v = json!({
                "id": id,
                "name": video.as_ref().map_or("", |v| v.name.as_str()),
                "uuid": video.as_ref().map_or("", |v| v.uuid.as_str()),
                "nsfw": video.as_ref().is_some_and(|v| v.meta.nsfw),
                "deleted": video.is_none(),
                "blacklisted": video.as_ref().is_some_and(|v| v.blacklist.is_some()),
                "startAt": start_at,
                "endAt": end_at,
                "countReports": same.len(),
                "nthReport": same.iter().filter(|a| a.id <= abuse.id).count(),
            });
            if let Some(video) = &video {
                if let Some(t) = &video.thumbnail {
                    v["thumbnailPath"] = json!(format!("/lazy-static/thumbnails/{t}"));
                }
                if let Some(c) = app.store.get(&ChannelKey(video.channel_id))? {
                    v["channel"] = channel_json(app, &c);
                }
            }
            doc["video"] = v;
        }
        AbuseTarget::Comment { video_id, id } => {
            let video = app.store.get(&VideoKey(*video_id))?;
            let comment = app.store.get(&CommentKey {
                video_id: *video_id,
                id: *id,
            })?;
            doc["comment"] = json!({
                "id": id,
                "threadId": comment.as_ref().map_or(*id, |c| c.thread_id),
                "text": comment.as_ref().map_or("", |c| c.text.as_str()),
                "deleted": comment.as_ref().is_none_or(|c| c.deleted_at.is_some()),
                "video": {
                    "id": video_id,
                    "name": video.as_ref().map_or("", |v| v.name.as_str()),
                    "uuid": video.as_ref().map_or("", |v| v.uuid.as_str()),
                },
            });
        }
        AbuseTarget::Account(_) => {}
    }
    if admin {
        doc["reporterAccount"] = reporter_json(app, &abuse.reporter)?;
        doc["countReportsForReporter"] =
            json!(all.iter().filter(|a| a.reporter == abuse.reporter).count());
        doc["countReportsForReportee"] = json!(all
            .iter()
            .filter(|a| a.flagged_user.is_some() && a.flagged_user == abuse.flagged_user)
            .count());
    }
    Ok(doc)
}

/// A list of reports, newest first by default (`createdAt`, `id`), optionally of one `state`.
fn list_of(
    app: &App,
    keep: impl Fn(&Abuse) -> bool,
    paging: &Paging,
    admin: bool,
) -> Result<Value, ApiError> {
    let all: Vec<Abuse> = app
        .store
        .scan::<AbuseKey>(&())?
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    let mut kept: Vec<&Abuse> = all.iter().filter(|a| keep(a)).collect();
    kept.sort_by_key(|a| (a.created_at, a.id));
    if paging.descending {
        kept.reverse();
    }
    paging.result_list(&kept, |a| {
        Ok::<_, ApiError>(abuse_json(app, a, &all, admin)?)
    })
}

/// `GET /api/v1/abuses` query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(flatten)]
    page: PageQuery,
    state: Option<u8>,
}

/// `GET /api/v1/abuses`: `ResultList<AdminAbuse>` (`state` filters).
pub async fn list(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    moderator(&auth.user)?;
    let paging = Paging::parse(&q.page, &["createdAt", "id"], "-createdAt")?;
    let a = app.clone();
    Ok(Json(
        app.pool
            .run(move || list_of(&a, |x| q.state.is_none_or(|s| x.state == s), &paging, true))
            .await??,
    ))
}

/// `GET /api/v1/users/me/abuses`: the user's own reports (`ResultList<UserAbuse>`).
pub async fn mine(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::parse(&q, &["createdAt", "id"], "-createdAt")?;
    let (a, me) = (app.clone(), Reporter::Local(auth.user.id));
    Ok(Json(
        app.pool
            .run(move || list_of(&a, |x| x.reporter == me, &paging, false))
            .await??,
    ))
}

/// `PUT /api/v1/abuses/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbuseUpdate {
    state: Option<u8>,
    moderation_comment: Option<String>,
}

fn abuse_or_404(app: &App, id: &str) -> Result<Abuse, ApiError> {
    let missing = || ApiError::not_found(format!("abuse report {id} not found"));
    let n: u64 = id.parse().map_err(|_| missing())?;
    app.store.get(&AbuseKey(n))?.ok_or_else(missing)
}

/// `PUT /api/v1/abuses/{id}`: its state (1 pending, 2 rejected, 3 accepted) and the
/// moderators' comment; 204.
pub async fn update(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<AbuseUpdate>,
) -> Result<StatusCode, ApiError> {
    moderator(&auth.user)?;
    if let Some(s) = body.state {
        if !(PENDING..=ACCEPTED).contains(&s) {
            return Err(ApiError::bad_request(format!(
                "state must be 1 (pending), 2 (rejected) or 3 (accepted) (got {s})"
            )));
        }
    }
    if let Some(c) = &body.moderation_comment {
        let n = c.chars().count();
        if n > 3000 || c.chars().any(|ch| ch.is_control() && ch != '\n') {
            return Err(ApiError::bad_request(format!(
                "moderationComment must have at most 3000 characters and no control character (got {n})"
            )));
        }
    }
    let (a, by) = (app.clone(), auth.user.username.clone());
    app.pool
        .run(move || -> Result<(), ApiError> {
            let mut abuse = abuse_or_404(&a, &id)?;
            if let Some(s) = body.state {
                abuse.state = s;
            }
            if let Some(c) = body.moderation_comment {
                abuse.moderation_comment = Some(c.trim().to_string()).filter(|c| !c.is_empty());
            }
            abuse.updated_at = now_secs().max(abuse.updated_at);
            a.store.put(&AbuseKey(abuse.id), &abuse, Durability::Sync)?;
            tracing::info!(abuse = abuse.id, state = abuse.state, by = %by, "abuse report updated");
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/abuses/{id}`; 204.
pub async fn remove(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    moderator(&auth.user)?;
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            let abuse = abuse_or_404(&a, &id)?;
            let mut batch = crate::store::Batch::default();
            for (k, _) in a.store.scan::<AbuseMessageKey>(&abuse.id)? {
                batch.delete(&a.store, &k);
            }
            batch.delete(&a.store, &AbuseKey(abuse.id));
            a.store.write(batch, Durability::Sync)?;
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// Longest abuse message (PeerTube's `ABUSE_MESSAGES.MESSAGE`).
const MAX_MESSAGE_CHARS: usize = 3000;
/// Messages one report may hold (each is stored: a bound on what a reporter can make us keep).
pub const MAX_MESSAGES_PER_ABUSE: usize = 200;

/// Whether `user` may read and write the messages of `abuse`: moderators (as moderators) and
/// its local reporter; others get 403.
fn discussant(user: &User, abuse: &Abuse) -> Result<bool, ApiError> {
    if user.role.has(Right::ManageAbuses) {
        Ok(true)
    } else if abuse.reporter == Reporter::Local(user.id) {
        Ok(false)
    } else {
        Err(ApiError::forbidden(format!(
            "the messages of abuse report {} are for its reporter and the moderators",
            abuse.id
        )))
    }
}

/// `GET /api/v1/abuses/{id}/messages`: `ResultList<AbuseMessage>`, oldest first.
pub async fn list_messages(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let a = app.clone();
    let doc = app
        .pool
        .run(move || -> Result<Value, ApiError> {
            let abuse = abuse_or_404(&a, &id)?;
            discussant(&auth.user, &abuse)?;
            let data = a
                .store
                .scan::<AbuseMessageKey>(&abuse.id)?
                .into_iter()
                .map(|(_, m)| {
                    let account = a
                        .store
                        .get(&UserKey(m.author))?
                        .map_or(Value::Null, |u| account_json(&a, &u));
                    Ok(json!({
                        "id": m.id,
                        "message": m.message,
                        "byModerator": m.by_moderator,
                        "createdAt": iso8601(m.created_at),
                        "account": account,
                    }))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(json!({"total": data.len(), "data": data}))
        })
        .await??;
    Ok(Json(doc))
}

/// `POST /api/v1/abuses/{id}/messages` body.
#[derive(Debug, Deserialize)]
pub struct MessageBody {
    message: String,
}

/// `POST /api/v1/abuses/{id}/messages` (`{"message"}`): `{abuseMessage: {id}}`.
pub async fn add_message(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<MessageBody>,
) -> Result<Json<Value>, ApiError> {
    let a = app.clone();
    let message_id = app
        .pool
        .run(move || -> Result<u64, ApiError> {
            let abuse = abuse_or_404(&a, &id)?;
            let by_moderator = discussant(&auth.user, &abuse)?;
            let text = body.message.trim();
            let n = text.chars().count();
            if n == 0
                || n > MAX_MESSAGE_CHARS
                || text.chars().any(|c| c.is_control() && c != '\n')
            {
                return Err(ApiError::bad_request(format!(
                    "message must have 1 to {MAX_MESSAGE_CHARS} characters and no control character (got {n})"
                )));
            }
            if a.store.count::<AbuseMessageKey>(&abuse.id)? >= MAX_MESSAGES_PER_ABUSE {
                return Err(ApiError::bad_request(format!(
                    "abuse report {} has {MAX_MESSAGES_PER_ABUSE} messages, the most it may hold",
                    abuse.id
                )));
            }
            let m = AbuseMessage {
                id: a.store.next_id(Sequence::AbuseMessage)?,
                author: auth.user.id,
                by_moderator,
                message: text.to_string(),
                created_at: now_secs(),
            };
            a.store.put(
                &AbuseMessageKey {
                    abuse: abuse.id,
                    id: m.id,
                },
                &m,
                Durability::Sync,
            )?;
            tracing::info!(abuse = abuse.id, message = m.id, by = %auth.user.username, "abuse message added");
            Ok(m.id)
        })
        .await??;
    Ok(Json(json!({"abuseMessage": {"id": message_id}})))
}

/// `DELETE /api/v1/abuses/{id}/messages/{messageId}`: by its author only (as PeerTube); 204.
pub async fn delete_message(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path((id, message_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            let abuse = abuse_or_404(&a, &id)?;
            discussant(&auth.user, &abuse)?;
            let missing = || {
                ApiError::not_found(format!(
                    "message {message_id} not found on abuse report {}",
                    abuse.id
                ))
            };
            let key = AbuseMessageKey {
                abuse: abuse.id,
                id: message_id.parse().map_err(|_| missing())?,
            };
            let m = a.store.get(&key)?.ok_or_else(missing)?;
            if m.author != auth.user.id {
                return Err(ApiError::forbidden(format!(
                    "message {} is not yours to delete",
                    m.id
                )));
            }
            a.store.delete(&key, Durability::Sync)?;
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}
