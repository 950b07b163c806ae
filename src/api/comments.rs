//! A video's comment threads in PeerTube's shape: the threads (`VideoCommentThreads`, paged,
//! sorted by `createdAt` or `totalReplies`), one thread's tree (`VideoCommentThreadTree`),
//! posting a thread or a reply (signed in; refused with a 403 when the video's comments policy
//! does not allow it) and deleting a comment (its author, the video's owner or an
//! administrator; a placeholder stays while replies hang from it). New and deleted comments
//! are federated as PeerTube's `Note` (`federation::comments`).

use super::auth::AuthUser;
use super::error::ApiError;
use super::paging::{PageQuery, Paging};
use super::videos::{find, MaybeUser};
use crate::app::{App, SharedApp};
use crate::federation::blocklist::Mutes;
use crate::federation::discovery::LocalActor;
use crate::store::comments::{CommentKey, NewComment};
use crate::store::tables::{Right, User, UserKey};
use crate::time::{iso8601, now_secs};
use crate::video::comment::{check_comment_text, Comment, CommentAuthor};
use crate::video::urls::PublicUrls;
use crate::video::{CommentsPolicy, Video};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

/// The comment routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route(
            "/api/v1/videos/{id}/comment-threads",
            get(list_threads).post(post_thread),
        )
        .route(
            "/api/v1/videos/{id}/comment-threads/{thread_id}",
            get(thread),
        )
        .route(
            "/api/v1/videos/{id}/comments/{comment_id}",
            post(post_reply).delete(delete),
        )
}

/// The ActivityPub id of our comment `id` on `video`.
pub fn comment_url(public_url: &str, video: &Video, id: u64) -> String {
    format!(
        "{}/comments/{id}",
        PublicUrls::new(public_url).watch(&video.uuid)
    )
}

/// A comment's author as PeerTube's `Account`.
fn author_json(app: &App, author: &CommentAuthor) -> Result<Value, ApiError> {
    if let Some(id) = author.user {
        if let Some(user) = app.store.get(&UserKey(id))? {
            return Ok(super::users::account_json(app, &user));
        }
    }
    Ok(super::videos::remote_actor_json(&author.actor, true))
}

/// One comment as PeerTube's `VideoComment`.
fn comment_json(app: &App, video: &Video, c: &Comment, all: &[Comment]) -> Result<Value, ApiError> {
    let replies: Vec<&Comment> = if c.in_reply_to.is_none() {
        all.iter()
            .filter(|r| r.thread_id == c.id && r.id != c.id && r.deleted_at.is_none())
            .collect()
    } else {
        all.iter()
            .filter(|r| r.in_reply_to == Some(c.id) && r.deleted_at.is_none())
            .collect()
    };
    let by_owner = replies
        .iter()
        .filter(|r| r.author.user == Some(video.owner) && video.remote.is_none())
        .count();
    Ok(json!({
        "id": c.id,
        "url": c.url,
        "text": c.text,
        "threadId": c.thread_id,
        "inReplyToCommentId": c.in_reply_to,
        "videoId": video.id,
        "createdAt": iso8601(c.created_at),
        "updatedAt": iso8601(c.updated_at),
        "deletedAt": c.deleted_at.map(iso8601),
        "isDeleted": c.deleted_at.is_some(),
        "totalRepliesFromVideoAuthor": by_owner,
        "totalReplies": replies.len(),
        "account": author_json(app, &c.author)?,
        "heldForReview": false,
    }))
}

/// The video `key`, when `viewer` may see it.
fn visible(app: &App, viewer: Option<&User>, key: &str) -> Result<Video, ApiError> {
    match find(app, key)? {
        Some(v) if v.may_see(viewer.map(User::viewer)) => Ok(v),
        _ => Err(ApiError::not_found(format!("video {key} not found"))),
    }
}

/// A video's comments as the threads show them: those of servers and accounts this instance
/// blocks, and those the viewer muted, are left out (and so are the replies under them).
fn shown_comments(
    app: &App,
    viewer: Option<&User>,
    video_id: u64,
) -> Result<Vec<Comment>, ApiError> {
    let blocklist = &app.federation.blocklist;
    let mut all = app.store.comments(video_id)?;
    if !blocklist.is_empty() {
        all.retain(|c| c.author.user.is_some() || !blocklist.actor_blocked(&c.author.actor));
    }
    if let Some(viewer) = viewer {
        let muted = Mutes::load(&app.store, viewer.id)?;
        if !muted.is_empty() {
            all.retain(|c| !muted.hides_author(c.author.user, &c.author.actor));
        }
    }
    Ok(all)
}

/// `GET /api/v1/videos/{id}/comment-threads`.
pub async fn list_threads(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    Path(key): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::parse(&q, &["createdAt", "totalReplies"], "-createdAt")?;
    let video = visible(&app, viewer.0.as_ref(), &key)?;
    let all = shown_comments(&app, viewer.0.as_ref(), video.id)?;
    // Roots, deleted ones only while replies hang from them (the store drops the others).
    let mut roots: Vec<(Value, &Comment)> = all
        .iter()
        .filter(|c| c.in_reply_to.is_none())
        .map(|c| comment_json(&app, &video, c, &all).map(|j| (j, c)))
        .collect::<Result<_, _>>()?;
    roots.sort_by(|(a, ca), (b, cb)| {
        let o = match paging.sort.as_str() {
            "totalReplies" => a["totalReplies"].as_u64().cmp(&b["totalReplies"].as_u64()),
            _ => ca.created_at.cmp(&cb.created_at),
        }
        .then(ca.id.cmp(&cb.id));
        if paging.descending {
            o.reverse()
        } else {
            o
        }
    });
    let not_deleted = all.iter().filter(|c| c.deleted_at.is_none()).count();
    let mut doc = paging.result_list(&roots, |(j, _)| Ok::<_, ApiError>(j.clone()))?;
    doc["totalNotDeletedComments"] = json!(not_deleted);
    Ok(Json(doc))
}

/// The tree under `c`, children oldest first.
fn tree(app: &App, video: &Video, c: &Comment, all: &[Comment]) -> Result<Value, ApiError> {
    let children = all
        .iter()
        .filter(|r| r.in_reply_to == Some(c.id))
        .map(|r| tree(app, video, r, all))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"comment": comment_json(app, video, c, all)?, "children": children}))
}

/// `GET /api/v1/videos/{id}/comment-threads/{threadId}`.
pub async fn thread(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    Path((key, thread_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let video = visible(&app, viewer.0.as_ref(), &key)?;
    let id = comment_id(&thread_id)?;
    let all = shown_comments(&app, viewer.0.as_ref(), video.id)?;
    let root = all
        .iter()
        .find(|c| c.id == id && c.in_reply_to.is_none())
        .ok_or_else(|| {
            ApiError::not_found(format!("comment thread {id} not found on video {key}"))
        })?;
    Ok(Json(tree(&app, &video, root, &all)?))
}

fn comment_id(s: &str) -> Result<u64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad_request(format!("comment id must be a number (got {s:?})")))
}

#[derive(Debug, Default, Deserialize)]
struct CommentBody {
    text: Option<Value>,
}

/// The `text` of a JSON or form body, checked.
fn text_of(headers: &http::HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    let text = if ct.starts_with("application/x-www-form-urlencoded") {
        let body = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("form body is not UTF-8"))?;
        body.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == "text").then(|| {
                percent_encoding::percent_decode_str(&v.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
    } else {
        let b: CommentBody = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("body is not the expected JSON: {e}")))?;
        match b.text {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "text must be a string (got {other})"
                )))
            }
        }
    };
    let text = text.ok_or_else(|| ApiError::bad_request("text is required"))?;
    check_comment_text(&text).map_err(ApiError::bad_request)?;
    Ok(text)
}

/// Refuses a comment on a video whose policy does not take it.
fn check_policy(video: &Video, key: &str) -> Result<(), ApiError> {
    match video.comments_policy {
        CommentsPolicy::Enabled => Ok(()),
        CommentsPolicy::Disabled => Err(ApiError::forbidden(format!(
            "video {key} does not allow comments"
        ))),
        CommentsPolicy::RequiresApproval => Err(ApiError::forbidden(format!(
            "video {key} takes comments only after approval, which this server does not offer"
        ))),
    }
}

async fn create(
    app: SharedApp,
    user: User,
    key: String,
    parent: Option<u64>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let video = visible(&app, Some(&user), &key)?;
    let text = text_of(&headers, &body)?;
    check_policy(&video, &key)?;
    if let Some(p) = parent {
        let found = app.store.get(&CommentKey {
            video_id: video.id,
            id: p,
        })?;
        match found {
            Some(c) if c.deleted_at.is_none() => {}
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "comment {p} is deleted; it takes no replies"
                )))
            }
            None => {
                return Err(ApiError::not_found(format!(
                    "comment {p} not found on video {key}"
                )))
            }
        }
    }
    let actor = LocalActor::Account(user.username.to_lowercase()).url(&app.public_url);
    let new = NewComment {
        video_id: video.id,
        in_reply_to: parent,
        url: None,
        text,
        author: CommentAuthor {
            user: Some(user.id),
            actor,
        },
        created_at: now_secs(),
    };
    let (a, v) = (app.clone(), video.clone());
    let comment = app
        .pool
        .run(move || {
            let public = a.public_url.clone();
            a.store.add_comment(new, |id| comment_url(&public, &v, id))
        })
        .await??;
    if app.config.federation.enabled {
        let (a, v, c) = (app.clone(), video.clone(), comment.clone());
        app.pool
            .run(move || crate::federation::comments::created(&a, &v, &c, &user))
            .await?;
    }
    let all = app.store.comments(video.id)?;
    let doc = comment_json(&app, &video, &comment, &all)?;
    tracing::info!(video = %video.uuid, comment = comment.id, "comment posted");
    Ok(Json(json!({"comment": doc})).into_response())
}

/// `POST /api/v1/videos/{id}/comment-threads`: a new thread.
pub async fn post_thread(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(key): Path<String>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    create(app, auth.user, key, None, headers, body).await
}

/// `POST /api/v1/videos/{id}/comments/{commentId}`: a reply.
pub async fn post_reply(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path((key, parent)): Path<(String, String)>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let parent = comment_id(&parent)?;
    create(app, auth.user, key, Some(parent), headers, body).await
}

/// `DELETE /api/v1/videos/{id}/comments/{commentId}`.
pub async fn delete(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path((key, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = comment_id(&id)?;
    let video = visible(&app, Some(&auth.user), &key)?;
    let comment = app
        .store
        .get(&CommentKey {
            video_id: video.id,
            id,
        })?
        .filter(|c| c.deleted_at.is_none())
        .ok_or_else(|| ApiError::not_found(format!("comment {id} not found on video {key}")))?;
    let is_author = comment.author.user == Some(auth.user.id);
    let is_owner = video.remote.is_none() && video.owner == auth.user.id;
    if !is_author && !is_owner && !auth.user.role.has(Right::ManageAnyVideoComment) {
        return Err(ApiError::forbidden(format!(
            "comment {id} is another user's; only its author or the video's owner may delete it"
        )));
    }
    let (a, c) = (app.clone(), comment.clone());
    app.pool
        .run(move || a.store.delete_comment(&c, now_secs()))
        .await??;
    if app.config.federation.enabled {
        let (a, v) = (app.clone(), video.clone());
        app.pool
            .run(move || crate::federation::comments::deleted(&a, &v, &comment))
            .await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
