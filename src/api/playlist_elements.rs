//! The videos of a playlist, as PeerTube's API has them: the elements
//! (`ResultList<VideoPlaylistElement>`, each typed regular, deleted, private or unavailable for
//! the viewer), adding a video (with an optional start and stop), changing an element's
//! timestamps, removing one, reordering (`VideoPlaylistReorder`), and which of a user's
//! playlists hold given videos (`/users/me/video-playlists/videos-exist`).

use super::auth::AuthUser;
use super::error::ApiError;
use super::form::{fields, Fields};
use super::paging::{PageQuery, Paging};
use super::playlists::{changeable, edit, may_change, readable, WRITER};
use super::videos::MaybeUser;
use crate::app::{App, SharedApp};
use crate::store::tables::{Sequence, User};
use crate::store::videos::VideoKey;
use crate::store::{Batch, Durability};
use crate::time::now_secs;
use crate::video::ident::short_uuid;
use crate::video::playlist::{check_timestamps, reorder, Playlist, PlaylistElement, MAX_ELEMENTS};
use crate::video::{Privacy, Video};
use axum::extract::{Path, Query, RawQuery, Request, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use http::StatusCode;
use serde_json::{json, Value};

/// The routes.
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/video-playlists/{id}/videos", get(list).post(add))
        .route(
            "/api/v1/video-playlists/{id}/videos/reorder",
            post(reorder_elements),
        )
        .route(
            "/api/v1/video-playlists/{id}/videos/{element}",
            put(update).delete(remove),
        )
        .route("/api/v1/users/me/video-playlists/videos-exist", get(exist))
}

/// PeerTube's `VideoPlaylistElementType` of an element for `viewer`: 0 regular, 1 deleted (the
/// video is gone), 2 private (the viewer may not see it), 3 unavailable (blocked, or not
/// published yet).
fn element_type(video: Option<&Video>, viewer: Option<&User>) -> u8 {
    match video {
        None => 1,
        Some(v) if v.may_see(viewer.map(User::viewer)) => 0,
        Some(v) if matches!(v.privacy, Privacy::Private | Privacy::Internal) => 2,
        Some(_) => 3,
    }
}

/// One element as PeerTube's `VideoPlaylistElement` (`video` only for a regular one).
fn element_json(
    app: &App,
    e: &PlaylistElement,
    position: usize,
    viewer: Option<&User>,
) -> Result<Value, ApiError> {
    let video = app.store.get(&VideoKey(e.video_id))?;
    let kind = element_type(video.as_ref(), viewer);
    let mut doc = json!({
        "id": e.id,
        "position": position,
        "startTimestamp": e.start,
        "stopTimestamp": e.stop,
        "type": kind,
    });
    if let (0, Some(v)) = (kind, &video) {
        doc["video"] = super::videos::video_json(app, v, false)?;
    }
    Ok(doc)
}

/// `GET /api/v1/video-playlists/{id}/videos`.
pub async fn list(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    Path(key): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let paging = Paging::parse(&q, &["position"], "position")?;
    let a = app.clone();
    Ok(Json(
        app.pool
            .run(move || -> Result<Value, ApiError> {
                let viewer = viewer.0.as_ref();
                let p = readable(&a, viewer, &key)?;
                let mut items: Vec<(usize, &PlaylistElement)> = p
                    .elements
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (i + 1, e))
                    .collect();
                if paging.descending {
                    items.reverse();
                }
                paging.result_list(&items, |(pos, e)| element_json(&a, e, *pos, viewer))
            })
            .await??,
    ))
}

/// A timestamp field (whole seconds, as PeerTube's API takes them).
fn timestamp(f: &Fields, name: &str) -> Result<Option<u32>, ApiError> {
    match f.integer(name)? {
        None => Ok(None),
        Some(t) => u32::try_from(t).map(Some).map_err(|_| {
            ApiError::bad_request(format!("{name} must be a number of seconds (got {t})"))
        }),
    }
}

/// `POST /api/v1/video-playlists/{id}/videos`: `{videoPlaylistElement: {id}}`.
pub async fn add(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(key): Path<String>,
    req: Request,
) -> Result<Json<Value>, ApiError> {
    may_change(&app, &auth.user, &key).await?;
    let f = fields(&app, req).await?;
    let video_key = f
        .text("videoId")
        .ok_or_else(|| ApiError::bad_request("videoId is required"))?;
    let (start, stop) = (
        timestamp(&f, "startTimestamp")?,
        timestamp(&f, "stopTimestamp")?,
    );
    let a = app.clone();
    let (p, id) = app
        .pool
        .run(move || -> Result<(Playlist, u64), ApiError> {
            let video = match super::videos::find(&a, &video_key)? {
                Some(v) if v.may_see(Some(auth.user.viewer())) => v,
                _ => return Err(ApiError::not_found(format!("video {video_key} not found"))),
            };
            check_timestamps(start, stop, Some(video.duration)).map_err(ApiError::bad_request)?;
            let _one = WRITER.lock().unwrap_or_else(|p| p.into_inner());
            let mut p = changeable(&a, &auth.user, &key)?;
            if p.elements.len() >= MAX_ELEMENTS {
                return Err(ApiError::bad_request(format!(
                    "playlist {key} holds {} videos, the most a playlist may hold",
                    p.elements.len()
                )));
            }
            let before = p.clone();
            let id = a.store.next_id(Sequence::PlaylistElement)?;
            p.elements.push(PlaylistElement {
                id,
                video_id: video.id,
                start,
                stop,
            });
            p.updated_at = now_secs();
            let mut batch = Batch::default();
            batch.put_playlist(&a.store, &p)?;
            a.store.write(batch, Durability::Sync)?;
            crate::federation::playlists::changed(&a, Some(&before), &p);
            Ok((p, id))
        })
        .await??;
    tracing::info!(playlist = %p.uuid, element = id, "video added to a playlist");
    Ok(Json(json!({"videoPlaylistElement": {"id": id}})))
}

fn element_id(s: &str) -> Result<u64, ApiError> {
    s.parse().map_err(|_| {
        ApiError::bad_request(format!("playlistElementId must be a number (got {s:?})"))
    })
}

/// `PUT /api/v1/video-playlists/{id}/videos/{element}`: its start and stop.
pub async fn update(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path((key, element)): Path<(String, String)>,
    req: Request,
) -> Result<StatusCode, ApiError> {
    let eid = element_id(&element)?;
    may_change(&app, &auth.user, &key).await?;
    let f = fields(&app, req).await?;
    let (start, stop) = (
        timestamp(&f, "startTimestamp")?,
        timestamp(&f, "stopTimestamp")?,
    );
    let (set_start, set_stop) = (f.has("startTimestamp"), f.has("stopTimestamp"));
    edit(&app, auth.user, key.clone(), move |a, p| {
        let (i, e) = p.element(eid).ok_or_else(|| {
            ApiError::not_found(format!("element {eid} not found in playlist {key}"))
        })?;
        let mut e = e.clone();
        if set_start {
            e.start = start;
        }
        if set_stop {
            e.stop = stop;
        }
        let duration = a.store.get(&VideoKey(e.video_id))?.map(|v| v.duration);
        check_timestamps(e.start, e.stop, duration).map_err(ApiError::bad_request)?;
        p.elements[i] = e;
        Ok(())
    })
    .await
}

/// `DELETE /api/v1/video-playlists/{id}/videos/{element}`.
pub async fn remove(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path((key, element)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let eid = element_id(&element)?;
    edit(&app, auth.user, key.clone(), move |_, p| {
        let (i, _) = p.element(eid).ok_or_else(|| {
            ApiError::not_found(format!("element {eid} not found in playlist {key}"))
        })?;
        p.elements.remove(i);
        Ok(())
    })
    .await
}

/// `POST /api/v1/video-playlists/{id}/videos/reorder`.
pub async fn reorder_elements(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path(key): Path<String>,
    req: Request,
) -> Result<StatusCode, ApiError> {
    may_change(&app, &auth.user, &key).await?;
    let f = fields(&app, req).await?;
    let required = |name: &str| {
        f.integer(name)?
            .map(|n| n as usize)
            .ok_or_else(|| ApiError::bad_request(format!("{name} is required")))
    };
    let start = required("startPosition")?;
    let after = required("insertAfterPosition")?;
    let length = f.integer("reorderLength")?.map_or(1, |n| n as usize);
    edit(&app, auth.user, key, move |_, p| {
        reorder(&mut p.elements, start, after, length).map_err(ApiError::bad_request)
    })
    .await
}

/// The video ids of `videoIds` (repeated, or comma-separated), at most 100.
fn video_ids(raw: Option<&str>) -> Result<Vec<u64>, ApiError> {
    let mut ids = Vec::new();
    for pair in raw.unwrap_or_default().split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if !matches!(k, "videoIds" | "videoIds[]" | "videoIds%5B%5D") {
            continue;
        }
        for part in v.split([',', ' ']).filter(|s| !s.is_empty()) {
            let part = percent_encoding::percent_decode_str(part).decode_utf8_lossy();
            for id in part.split(',').filter(|s| !s.is_empty()) {
                ids.push(id.trim().parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("videoIds must be video ids (got {id:?})"))
                })?);
            }
        }
    }
    if ids.is_empty() {
        return Err(ApiError::bad_request("videoIds is required"));
    }
    if ids.len() > 100 {
        return Err(ApiError::bad_request(format!(
            "videoIds may name at most 100 videos (got {})",
            ids.len()
        )));
    }
    Ok(ids)
}

/// `GET /api/v1/users/me/video-playlists/videos-exist?videoIds=…`: for each video, the
/// elements of the user's playlists that hold it (`VideosExistInPlaylists`).
pub async fn exist(
    State(app): State<SharedApp>,
    auth: AuthUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let ids = video_ids(raw.as_deref())?;
    let a = app.clone();
    Ok(Json(
        app.pool
            .run(move || -> Result<Value, ApiError> {
                let mine = a.store.playlists_of(auth.user.id)?;
                let mut out = serde_json::Map::new();
                for id in ids {
                    let found: Vec<Value> = mine
                        .iter()
                        .flat_map(|p| {
                            p.elements
                                .iter()
                                .filter(move |e| e.video_id == id)
                                .map(move |e| {
                                    let mut doc = json!({
                                        "playlistElementId": e.id,
                                        "playlistId": p.id,
                                        "playlistDisplayName": p.display_name,
                                        "playlistShortUUID": short_uuid(&p.uuid),
                                    });
                                    // Optional in `VideoExistInPlaylist`: absent when unset.
                                    if let Some(t) = e.start {
                                        doc["startTimestamp"] = json!(t);
                                    }
                                    if let Some(t) = e.stop {
                                        doc["stopTimestamp"] = json!(t);
                                    }
                                    doc
                                })
                        })
                        .collect();
                    out.insert(id.to_string(), Value::Array(found));
                }
                Ok(Value::Object(out))
            })
            .await??,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_ids_repeated_or_comma_separated() {
        assert_eq!(
            video_ids(Some("videoIds=1&videoIds=2")).unwrap(),
            vec![1, 2]
        );
        assert_eq!(video_ids(Some("videoIds=3%2C4,5")).unwrap(), vec![3, 4, 5]);
        assert_eq!(video_ids(Some("videoIds[]=6")).unwrap(), vec![6]);
        assert!(video_ids(Some("videoIds=x"))
            .unwrap_err()
            .detail
            .contains("x"));
        assert!(video_ids(None).is_err());
        let many = (0..101)
            .map(|i| format!("videoIds={i}"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(video_ids(Some(&many)).unwrap_err().detail.contains("101"));
    }

    #[test]
    fn element_types_follow_what_the_viewer_may_see() {
        let mut v = crate::video::visibility::tests::video(Privacy::Public);
        assert_eq!(element_type(None, None), 1);
        assert_eq!(element_type(Some(&v), None), 0);
        v.privacy = Privacy::Private;
        assert_eq!(element_type(Some(&v), None), 2);
        v.privacy = Privacy::Public;
        v.state = crate::video::VideoState::ToTranscode;
        assert_eq!(element_type(Some(&v), None), 3);
    }
}
