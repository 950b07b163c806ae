//! PeerTube's video playlists: the public list (`GET /api/v1/video-playlists`), an account's
//! and a channel's playlists, `search/video-playlists`, one playlist (`VideoPlaylist`, by id,
//! uuid or short uuid), making, changing and deleting one, and each user's "Watch later" list
//! (made on first use, listed in `specialPlaylists`). Elements are in [`super::playlist_elements`].
//!
//! Rules as PeerTube's: a playlist is its owner's; moderators may change or delete anyone's
//! (`UPDATE_ANY_VIDEO_PLAYLIST`, `REMOVE_ANY_VIDEO_PLAYLIST`) but not a watch-later list; a
//! public or unlisted playlist must be shown on one of its owner's channels; private ones are
//! their owner's alone. Public and unlisted playlists are federated as PeerTube's `Playlist`
//! (`federation::playlists`). The public lists and the search read the playlists table (small
//! beside the videos); an account's read its own entries.

use super::auth::AuthUser;
use super::error::ApiError;
use super::form::{fields, Fields};
use super::paging::{PageQuery, Paging};
use super::users::{account_json, channel_json};
use super::videos::MaybeUser;
use crate::app::{App, SharedApp};
use crate::store::tables::{Channel, ChannelKey, Right, Sequence, User, UserKey};
use crate::store::videos::VideoKey;
use crate::store::{Batch, Durability, StoreError};
use crate::time::{iso8601, now_secs};
use crate::video::ident::{short_uuid, uuid_from_short};
use crate::video::playlist::{
    check_description, check_display_name, Playlist, PlaylistKind, PlaylistPrivacy, MAX_PER_USER,
};
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Mutex;

/// One writer of playlists at a time: adding, reordering and removing elements are
/// read-modify-writes of the playlist's record, and a user's limits count their playlists.
pub(crate) static WRITER: Mutex<()> = Mutex::new(());

/// The routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/video-playlists", get(list).post(create))
        .route("/api/v1/video-playlists/privacies", get(privacies))
        .route(
            "/api/v1/video-playlists/{id}",
            get(one).put(update).delete(remove),
        )
        .route("/api/v1/accounts/{name}/video-playlists", get(of_account))
        .route(
            "/api/v1/video-channels/{name}/video-playlists",
            get(of_channel),
        )
        .route("/api/v1/search/video-playlists", get(search))
}

/// The sorts lists take.
const SORTS: [&str; 3] = ["createdAt", "updatedAt", "displayName"];

/// The playlist named by `key`: its id, uuid or short uuid.
pub(crate) fn find(app: &App, key: &str) -> Result<Option<Playlist>, StoreError> {
    if let Ok(id) = key.parse::<u64>() {
        return app.store.get(&crate::store::playlists::PlaylistKey(id));
    }
    let uuid = uuid::Uuid::parse_str(key)
        .ok()
        .map(|u| u.hyphenated().to_string())
        .or_else(|| uuid_from_short(key));
    match uuid {
        Some(u) => app.store.playlist_by_uuid(&u),
        None => Ok(None),
    }
}

/// The playlist `key` when `viewer` may read it: 404 when there is none, 401/403 for another
/// user's private playlist (as PeerTube answers).
pub(crate) fn readable(app: &App, viewer: Option<&User>, key: &str) -> Result<Playlist, ApiError> {
    let p = find(app, key)?
        .ok_or_else(|| ApiError::not_found(format!("video playlist {key} not found")))?;
    if p.may_see(viewer.map(|u| u.id)) {
        return Ok(p);
    }
    Err(match viewer {
        None => ApiError::unauthorized(format!(
            "video playlist {key} is private: log in as its owner"
        )),
        Some(_) => ApiError::forbidden(format!("video playlist {key} is private")),
    })
}

/// The playlist `key` when `user` may change it (its owner, or a moderator for a regular one).
pub(crate) fn changeable(app: &App, user: &User, key: &str) -> Result<Playlist, ApiError> {
    let p = find(app, key)?
        .ok_or_else(|| ApiError::not_found(format!("video playlist {key} not found")))?;
    if p.owner == user.id
        || (p.kind == PlaylistKind::Regular && user.role.has(Right::ManageAnyVideoPlaylist))
    {
        return Ok(p);
    }
    Err(ApiError::forbidden(format!(
        "video playlist {key} belongs to another user"
    )))
}

/// Refuses `user` changing playlist `key` before its body is read, so a refusal does not depend
/// on what was sent.
pub(crate) async fn may_change(app: &SharedApp, user: &User, key: &str) -> Result<(), ApiError> {
    let (a, user, key) = (app.clone(), user.clone(), key.to_string());
    app.pool.run(move || changeable(&a, &user, &key)).await??;
    Ok(())
}

/// The user's watch-later playlist, made (private, empty) the first time it is asked for.
pub(crate) fn watch_later(app: &App, user: &User) -> Result<Playlist, StoreError> {
    if let Some(p) = app.store.watch_later_of(user.id)? {
        return Ok(p);
    }
    let _one = WRITER.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = app.store.watch_later_of(user.id)? {
        return Ok(p);
    }
    let now = now_secs();
    let p = Playlist {
        id: app.store.next_id(Sequence::Playlist)?,
        uuid: uuid::Uuid::new_v4().hyphenated().to_string(),
        owner: user.id,
        channel: None,
        display_name: "Watch later".into(),
        description: None,
        privacy: PlaylistPrivacy::Private,
        kind: PlaylistKind::WatchLater,
        elements: vec![],
        created_at: now,
        updated_at: now,
    };
    let mut batch = Batch::default();
    batch.put_playlist(&app.store, &p)?;
    app.store.write(batch, Durability::Sync)?;
    Ok(p)
}

/// `specialPlaylists` of `/users/me`.
/// Reads only: `/users/me` makes the list first ([`watch_later`]); an administrator's user
/// list must not write one per listed user.
pub(crate) fn special_playlists(app: &App, user: &User) -> Result<Value, StoreError> {
    Ok(Value::Array(
        app.store
            .watch_later_of(user.id)?
            .map(|p| json!({"id": p.id, "name": p.display_name, "type": p.kind.id()}))
            .into_iter()
            .collect(),
    ))
}

/// The thumbnail of a playlist: the first of its videos that anyone may see (PeerTube copies
/// the first video's miniature when none was uploaded). `thumbnailPath`, `thumbnailUrl`,
/// `thumbnails`.
fn thumbnail(app: &App, p: &Playlist) -> Result<(Value, Value, Value), StoreError> {
    for e in &p.elements {
        if let Some(v) = app.store.get(&VideoKey(e.video_id))? {
            if v.may_see(None) {
                let doc = super::videos::video_json(app, &v, false)?;
                if !doc["thumbnailPath"].is_null() {
                    // The miniature: `thumbnails[0]` (list entries carry no `thumbnailUrl`).
                    return Ok((
                        doc["thumbnailPath"].clone(),
                        doc["thumbnails"][0]["fileUrl"].clone(),
                        doc["thumbnails"].clone(),
                    ));
                }
            }
        }
    }
    Ok((Value::Null, Value::Null, json!([])))
}

/// A playlist as PeerTube's `VideoPlaylist`. Reads the store: call it on the blocking pool.
pub fn playlist_json(app: &App, p: &Playlist) -> Result<Value, StoreError> {
    let owner = app.store.get(&UserKey(p.owner))?;
    let channel = match p.channel {
        Some(id) => app.store.get(&ChannelKey(id))?,
        None => None,
    };
    let (path, url, thumbnails) = thumbnail(app, p)?;
    let short = short_uuid(&p.uuid);
    let mut doc = json!({
        "id": p.id,
        "uuid": p.uuid,
        "shortUUID": short,
        "isLocal": true,
        "url": p.url(&app.public_url),
        "displayName": p.display_name,
        "description": p.description,
        "privacy": {"id": p.privacy.id(), "label": p.privacy.label()},
        "thumbnailPath": path,
        "thumbnails": thumbnails,
        "videosLength": p.elements.len(),
        "type": {"id": p.kind.id(), "label": p.kind.label()},
        "embedPath": format!("/video-playlists/embed/{short}"),
        "embedUrl": format!("{}/video-playlists/embed/{short}", app.public_url),
        "createdAt": iso8601(p.created_at),
        "updatedAt": iso8601(p.updated_at),
        "ownerAccount": owner.as_ref().map(|u| account_json(app, u)),
        "videoChannelPosition": app.store.channel_position(p)?,
    });
    if !url.is_null() {
        // Optional in `VideoPlaylist`: absent rather than null.
        doc["thumbnailUrl"] = url;
    }
    if let Some(c) = &channel {
        doc["videoChannel"] = channel_json(app, c);
    }
    Ok(doc)
}

/// `playlistType` and `search` of a list query, beside the paging.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    #[serde(flatten)]
    page: PageQuery,
    playlist_type: Option<String>,
    search: Option<String>,
}

fn kind_filter(q: &ListQuery) -> Result<Option<PlaylistKind>, ApiError> {
    match q.playlist_type.as_deref() {
        None | Some("") => Ok(None),
        Some("1") => Ok(Some(PlaylistKind::Regular)),
        Some("2") => Ok(Some(PlaylistKind::WatchLater)),
        Some(other) => Err(ApiError::bad_request(format!(
            "playlistType must be 1 (regular) or 2 (watch later) (got {other:?})"
        ))),
    }
}

/// A checked search string (lower case), when one was sent.
fn search_of(q: &ListQuery) -> Result<Option<String>, ApiError> {
    match q.search.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.chars().any(char::is_control) || s.chars().count() > 250 => {
            Err(ApiError::bad_request(format!(
                "search must have at most 250 characters and no control character (got {s:?})"
            )))
        }
        Some(s) => Ok(Some(s.to_lowercase())),
    }
}

/// Sorts, filters and pages `list` into a `ResultList<VideoPlaylist>` on the blocking pool.
async fn respond(
    app: &SharedApp,
    mut list: Vec<Playlist>,
    paging: Paging,
    search: Option<String>,
) -> Result<Json<Value>, ApiError> {
    if let Some(s) = &search {
        list.retain(|p| p.display_name.to_lowercase().contains(s.as_str()));
    }
    list.sort_by(|a, b| {
        let o = match paging.sort.as_str() {
            "displayName" => a
                .display_name
                .to_lowercase()
                .cmp(&b.display_name.to_lowercase()),
            "updatedAt" => a.updated_at.cmp(&b.updated_at),
            // `match` (search): the best match first, then the newest.
            "match" => {
                let rank = |p: &Playlist| {
                    let n = p.display_name.to_lowercase();
                    let s = search.as_deref().unwrap_or_default();
                    (n == s, n.starts_with(s))
                };
                rank(a).cmp(&rank(b)).then(a.created_at.cmp(&b.created_at))
            }
            _ => a.created_at.cmp(&b.created_at),
        }
        .then(a.id.cmp(&b.id));
        if paging.descending {
            o.reverse()
        } else {
            o
        }
    });
    let a = app.clone();
    let doc = app
        .pool
        .run(move || paging.result_list(&list, |p| playlist_json(&a, p)))
        .await??;
    Ok(Json(doc))
}

/// `GET /api/v1/video-playlists`: the public playlists.
pub async fn list(
    State(app): State<SharedApp>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::parse(&q.page, &SORTS, "-createdAt")?;
    let kind = kind_filter(&q)?;
    let list = public_playlists(&app, kind).await?;
    respond(&app, list, paging, search_of(&q)?).await
}

/// The public playlists (of `kind` when given): a read of the playlists table.
async fn public_playlists(
    app: &SharedApp,
    kind: Option<PlaylistKind>,
) -> Result<Vec<Playlist>, ApiError> {
    let a = app.clone();
    Ok(app
        .pool
        .run(move || a.store.all_playlists())
        .await??
        .into_iter()
        .filter(|p| p.privacy == PlaylistPrivacy::Public && kind.is_none_or(|k| p.kind == k))
        .collect())
}

/// `GET /api/v1/search/video-playlists`: public playlists whose name holds `search`.
pub async fn search(
    State(app): State<SharedApp>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::parse(
        &q.page,
        &["match", "createdAt", "updatedAt", "displayName"],
        "-match",
    )?;
    let search = search_of(&q)?;
    let list = public_playlists(&app, None).await?;
    respond(&app, list, paging, search).await
}

/// The playlists of `owner` that `viewer` may list: all of them for the owner (their watch-later
/// list made if need be), the public ones for others.
fn listed_of(app: &App, owner: &User, viewer: Option<&User>) -> Result<Vec<Playlist>, StoreError> {
    let mine = viewer.is_some_and(|v| v.id == owner.id);
    if mine {
        watch_later(app, owner)?;
    }
    Ok(app
        .store
        .playlists_of(owner.id)?
        .into_iter()
        .filter(|p| mine || p.privacy == PlaylistPrivacy::Public)
        .collect())
}

/// `GET /api/v1/accounts/{name}/video-playlists`.
pub async fn of_account(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::parse(&q.page, &SORTS, "-updatedAt")?;
    let kind = kind_filter(&q)?;
    let user = super::accounts::user_or_404(&app, name).await?;
    let a = app.clone();
    let list: Vec<Playlist> = app
        .pool
        .run(move || listed_of(&a, &user, viewer.0.as_ref()))
        .await??
        .into_iter()
        .filter(|p| kind.is_none_or(|k| p.kind == k))
        .collect();
    respond(&app, list, paging, search_of(&q)?).await
}

/// `GET /api/v1/video-channels/{name}/video-playlists`.
pub async fn of_channel(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::parse(&q.page, &SORTS, "-updatedAt")?;
    let channel = super::channels::channel_or_404(&app, name).await?;
    let a = app.clone();
    let list: Vec<Playlist> = app
        .pool
        .run(move || -> Result<Vec<Playlist>, ApiError> {
            let owner = a
                .store
                .get(&UserKey(channel.owner))?
                .ok_or_else(|| ApiError::not_found("the channel's owner is gone"))?;
            Ok(listed_of(&a, &owner, viewer.0.as_ref())?
                .into_iter()
                .filter(|p| p.channel == Some(channel.id))
                .collect())
        })
        .await??;
    respond(&app, list, paging, search_of(&q)?).await
}

/// `GET /api/v1/video-playlists/privacies`.
pub async fn privacies() -> Json<Value> {
    let all = [
        PlaylistPrivacy::Public,
        PlaylistPrivacy::Unlisted,
        PlaylistPrivacy::Private,
    ];
    Json(Value::Object(
        all.iter()
            .map(|p| (p.id().to_string(), json!(p.label())))
            .collect(),
    ))
}

/// `GET /api/v1/video-playlists/{id}`.
pub async fn one(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let a = app.clone();
    Ok(Json(
        app.pool
            .run(move || -> Result<Value, ApiError> {
                let p = readable(&a, viewer.0.as_ref(), &key)?;
                Ok(playlist_json(&a, &p)?)
            })
            .await??,
    ))
}

/// What a create or update body asks, checked.
struct Change {
    display_name: Option<String>,
    description: Option<Option<String>>,
    privacy: Option<PlaylistPrivacy>,
    /// `Some(None)`: detach from its channel.
    channel: Option<Option<u64>>,
}

fn parse_change(f: &Fields) -> Result<Change, ApiError> {
    if let Some(file) = f.files.first() {
        return Err(ApiError::bad_request(format!(
            "{file}: a playlist's thumbnail is its first video's; uploaded thumbnails are not taken"
        )));
    }
    let display_name = match f.values.get("displayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(check_display_name(s).map_err(ApiError::bad_request)?),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "displayName must be a string (got {other})"
            )))
        }
    };
    let description = match f.values.get("description") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(check_description(s).map_err(ApiError::bad_request)?),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "description must be a string (got {other})"
            )))
        }
    };
    let privacy = match f.integer("privacy")? {
        None => None,
        Some(id) => Some(PlaylistPrivacy::from_id(id).ok_or_else(|| {
            ApiError::bad_request(format!(
                "privacy must be 1 (public), 2 (unlisted) or 3 (private) (got {id})"
            ))
        })?),
    };
    let channel = if f.has("videoChannelId") {
        Some(f.integer("videoChannelId")?)
    } else {
        None
    };
    Ok(Change {
        display_name,
        description,
        privacy,
        channel,
    })
}

/// The channel `id` when it is one of `owner`'s (PeerTube: 403 for another user's channel).
fn owners_channel(app: &App, owner: u64, id: u64) -> Result<Channel, ApiError> {
    match app.store.get(&ChannelKey(id))? {
        Some(c) if c.owner == owner => Ok(c),
        Some(c) => Err(ApiError::forbidden(format!(
            "video channel {} belongs to another user",
            c.name
        ))),
        None => Err(ApiError::not_found(format!("video channel {id} not found"))),
    }
}

/// Applies `change` to `p` (checked against PeerTube's rules); the caller writes it.
fn apply(app: &App, p: &mut Playlist, change: Change) -> Result<(), ApiError> {
    if p.kind == PlaylistKind::WatchLater {
        return Err(ApiError::bad_request(
            "the watch-later playlist cannot be changed, only its videos",
        ));
    }
    if let Some(n) = change.display_name {
        p.display_name = n;
    }
    if let Some(d) = change.description {
        p.description = d;
    }
    if let Some(pr) = change.privacy {
        p.privacy = pr;
    }
    if let Some(c) = change.channel {
        p.channel = match c {
            Some(id) => Some(owners_channel(app, p.owner, id)?.id),
            None => None,
        };
    }
    if p.privacy != PlaylistPrivacy::Private && p.channel.is_none() {
        return Err(ApiError::bad_request(
            "a public or unlisted playlist must be on one of your channels: set videoChannelId",
        ));
    }
    p.updated_at = now_secs();
    Ok(())
}

/// `POST /api/v1/video-playlists`: `{videoPlaylist: {id, uuid, shortUUID}}`.
pub async fn create(
    State(app): State<SharedApp>,
    auth: AuthUser,
    req: Request,
) -> Result<Json<Value>, ApiError> {
    let f = fields(&app, req).await?;
    let change = parse_change(&f)?;
    if change.display_name.is_none() {
        return Err(ApiError::bad_request("displayName is required"));
    }
    let a = app.clone();
    let user = auth.user;
    let p = app
        .pool
        .run(move || -> Result<Playlist, ApiError> {
            let _one = WRITER.lock().unwrap_or_else(|p| p.into_inner());
            let n = a.store.playlists_of(user.id)?.len();
            if n >= MAX_PER_USER {
                return Err(ApiError::forbidden(format!(
                    "you have {n} playlists, the most a user may have is {MAX_PER_USER}"
                )));
            }
            let now = now_secs();
            let mut p = Playlist {
                id: a.store.next_id(Sequence::Playlist)?,
                uuid: uuid::Uuid::new_v4().hyphenated().to_string(),
                owner: user.id,
                channel: None,
                display_name: String::new(),
                description: None,
                privacy: PlaylistPrivacy::Private,
                kind: PlaylistKind::Regular,
                elements: vec![],
                created_at: now,
                updated_at: now,
            };
            apply(&a, &mut p, change)?;
            let mut batch = Batch::default();
            batch.put_playlist(&a.store, &p)?;
            a.store.write(batch, Durability::Sync)?;
            crate::federation::playlists::changed(&a, None, &p);
            Ok(p)
        })
        .await??;
    tracing::info!(playlist = %p.uuid, owner = p.owner, privacy = p.privacy.label(), "playlist created");
    Ok(Json(json!({"videoPlaylist": {
        "id": p.id, "uuid": p.uuid, "shortUUID": short_uuid(&p.uuid),
    }})))
}

/// `PUT /api/v1/video-playlists/{id}`.
pub async fn update(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(key): Path<String>,
    req: Request,
) -> Result<StatusCode, ApiError> {
    may_change(&app, &auth.user, &key).await?;
    let f = fields(&app, req).await?;
    let change = parse_change(&f)?;
    edit(&app, auth.user, key, move |a, p| apply(a, p, change)).await
}

/// Runs `change` on playlist `key` (which `user` may change) under the writer lock, writes it
/// and tells its followers: every change of an existing playlist goes through here.
pub(crate) async fn edit(
    app: &SharedApp,
    user: User,
    key: String,
    change: impl FnOnce(&App, &mut Playlist) -> Result<(), ApiError> + Send + 'static,
) -> Result<StatusCode, ApiError> {
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            let _one = WRITER.lock().unwrap_or_else(|p| p.into_inner());
            let mut p = changeable(&a, &user, &key)?;
            let before = p.clone();
            change(&a, &mut p)?;
            p.updated_at = now_secs();
            let mut batch = Batch::default();
            batch.put_playlist(&a.store, &p)?;
            a.store.write(batch, Durability::Sync)?;
            crate::federation::playlists::changed(&a, Some(&before), &p);
            Ok(())
        })
        .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/video-playlists/{id}`.
pub async fn remove(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let a = app.clone();
    let by = auth.user.username.clone();
    let p = app
        .pool
        .run(move || -> Result<Playlist, ApiError> {
            let _one = WRITER.lock().unwrap_or_else(|p| p.into_inner());
            let p = changeable(&a, &auth.user, &key)?;
            if p.kind == PlaylistKind::WatchLater {
                return Err(ApiError::bad_request(
                    "the watch-later playlist cannot be deleted",
                ));
            }
            crate::federation::playlists::deleted(&a, &p);
            let mut batch = Batch::default();
            batch.delete_playlist(&a.store, &p);
            a.store.write(batch, Durability::Sync)?;
            Ok(p)
        })
        .await??;
    tracing::info!(playlist = %p.uuid, by = %by, "playlist deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Deletes every playlist of user `owner` (their removal) into `batch`.
pub(crate) fn forget_owner(app: &App, owner: u64, batch: &mut Batch) -> Result<usize, StoreError> {
    let all = app.store.playlists_of(owner)?;
    for p in &all {
        batch.delete_playlist(&app.store, p);
    }
    Ok(all.len())
}

/// Deletes the playlists shown on `channel` (its removal) into `batch`, after telling their
/// followers.
pub(crate) fn forget_channel(
    app: &App,
    channel: &Channel,
    batch: &mut Batch,
) -> Result<usize, StoreError> {
    let mut n = 0;
    for p in app.store.playlists_of(channel.owner)? {
        if p.channel == Some(channel.id) {
            crate::federation::playlists::deleted(app, &p);
            batch.delete_playlist(&app.store, &p);
            n += 1;
        }
    }
    Ok(n)
}
