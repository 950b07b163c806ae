//! A video's captions in PeerTube's shape: `GET /api/v1/videos/{id}/captions`
//! (`ResultList<VideoCaption>`), `PUT …/captions/{language}` (multipart `captionfile`: WebVTT,
//! or SRT converted to WebVTT; at most 20 MiB as PeerTube) and `DELETE …/captions/{language}`.
//! The files are served at PeerTube's `/lazy-static/video-captions/<uuid>-<lang>.vtt`, each
//! with a one-segment HLS playlist beside it (PeerTube 8's `m3u8Url`), and federated in the
//! Video object's `subtitleLanguage`.

use super::auth::AuthUser;
use super::error::ApiError;
use super::videos::{changeable, find, MaybeUser};
use crate::app::{App, SharedApp};
use crate::store::comments::CaptionKey;
use crate::store::tables::User;
use crate::store::Durability;
use crate::time::{iso8601, now_secs};
use crate::video::comment::{
    caption_playlist, to_webvtt, Caption, CaptionError, MAX_CAPTION_BYTES,
};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use http::StatusCode;
use serde_json::{json, Value};

/// The caption routes (the upload with a body limit above the caption limit, so an oversized
/// file is read far enough to be refused with a 400 that says so).
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/videos/{id}/captions", get(list))
        .route(
            "/api/v1/videos/{id}/captions/{language}",
            put(upload)
                .delete(remove)
                .layer(DefaultBodyLimit::max(MAX_CAPTION_BYTES + (1 << 20))),
        )
}

/// PeerTube's label of a language code, if it is one of its languages.
pub fn language_label(code: &str) -> Option<&'static str> {
    crate::video::meta::known_language(code)
}

/// A video's captions, in language order.
pub fn captions_of(app: &App, video_id: u64) -> Result<Vec<Caption>, crate::store::StoreError> {
    Ok(app
        .store
        .scan::<CaptionKey>(&video_id)?
        .into_iter()
        .map(|(_, c)| c)
        .collect())
}

fn caption_json(app: &App, c: &Caption) -> Value {
    let path = c.path();
    json!({
        "language": {"id": c.language, "label": c.label},
        "captionPath": path,
        "fileUrl": format!("{}{path}", app.public_url),
        "m3u8Url": format!("{}{}", app.public_url, c.playlist_path()),
        "automaticallyGenerated": false,
        "updatedAt": iso8601(c.updated_at),
    })
}

/// `GET /api/v1/videos/{id}/captions`.
pub async fn list(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let video = match find(&app, &key)? {
        Some(v) if v.may_see(viewer.0.as_ref().map(User::viewer)) => v,
        _ => return Err(ApiError::not_found(format!("video {key} not found"))),
    };
    let data: Vec<Value> = captions_of(&app, video.id)?
        .iter()
        .map(|c| caption_json(&app, c))
        .collect();
    Ok(Json(json!({"total": data.len(), "data": data})))
}

fn check_language(language: &str) -> Result<&'static str, ApiError> {
    match language_label(language) {
        Some(l) => Ok(l),
        None => Err(ApiError::bad_request(format!(
            "caption language {language:?} is not one of the languages of GET /api/v1/videos/languages"
        ))),
    }
}

fn too_large() -> ApiError {
    ApiError::bad_request(format!(
        "captionfile is larger than the {MAX_CAPTION_BYTES} bytes (20 MiB) a caption may have"
    ))
}

/// Reads the `captionfile` part, refusing it once past the limit.
async fn caption_part(mut form: Multipart) -> Result<Vec<u8>, ApiError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request(format!("malformed multipart body: {}", e.body_text()))
        }
    };
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        if field.name() != Some("captionfile") {
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_CAPTION_BYTES {
                return Err(too_large());
            }
        }
        return Ok(bytes);
    }
    Err(ApiError::bad_request(
        "captionfile is required (a multipart part with the WebVTT or SRT file)",
    ))
}

/// Tells followers the video changed (its `subtitleLanguage`).
async fn federate(app: &SharedApp, video_id: u64) {
    if !app.config.federation.enabled {
        return;
    }
    let a = app.clone();
    let _ = app
        .pool
        .run(move || {
            let video = a.store.get(&crate::store::videos::VideoKey(video_id));
            if let Ok(Some(v)) = video {
                if let Err(e) = crate::federation::outbox::video_updated(&a, &v) {
                    tracing::error!(video = %v.uuid, error = %e, "federation: cannot queue the Update");
                }
            }
        })
        .await;
}

/// `PUT /api/v1/videos/{id}/captions/{language}`.
pub async fn upload(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path((key, language)): Path<(String, String)>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let video = changeable(&app, &auth.user, &key)?;
    let label = check_language(&language)?;
    // The body is read only for someone who may change the video.
    let form = Multipart::from_request(request, &app).await.map_err(|e| {
        ApiError::bad_request(format!(
            "send multipart/form-data with a captionfile field ({})",
            e.body_text()
        ))
    })?;
    let bytes = caption_part(form).await?;
    let vtt = to_webvtt(&bytes).map_err(|e| match e {
        CaptionError::TooLarge(_) => too_large(),
        e => ApiError::bad_request(format!("captionfile: {e}")),
    })?;
    let caption = Caption::of(&video.uuid, &language, label, now_secs());
    let dir = app.data_dir.join("media").join("captions");
    let a = app.clone();
    let (c, duration, id) = (caption.clone(), video.duration, video.id);
    app.pool
        .run(move || -> Result<(), ApiError> {
            let write = |name: &str, body: &str| -> std::io::Result<()> {
                std::fs::create_dir_all(&dir)?;
                let tmp = dir.join(format!(".{name}.tmp"));
                std::fs::write(&tmp, body)?;
                std::fs::rename(&tmp, dir.join(name))
            };
            write(&c.file, &vtt).map_err(|e| ApiError::internal("writing the caption", e))?;
            write(&c.playlist, &caption_playlist(&c.file, duration))
                .map_err(|e| ApiError::internal("writing the caption playlist", e))?;
            a.store.put(
                &CaptionKey {
                    video_id: id,
                    language: c.language.clone(),
                },
                &c,
                Durability::Sync,
            )?;
            a.media_access.files_moved();
            Ok(())
        })
        .await??;
    federate(&app, video.id).await;
    tracing::info!(video = %video.uuid, language, "caption uploaded");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v1/videos/{id}/captions/{language}`.
pub async fn remove(
    State(app): State<SharedApp>,
    auth: AuthUser,
    Path((key, language)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let video = changeable(&app, &auth.user, &key)?;
    let k = CaptionKey {
        video_id: video.id,
        language: language.clone(),
    };
    let Some(c) = app.store.get(&k)? else {
        return Err(ApiError::not_found(format!(
            "video {key} has no caption in {language:?}"
        )));
    };
    let dir = app.data_dir.join("media").join("captions");
    let a = app.clone();
    app.pool
        .run(move || -> Result<(), ApiError> {
            a.store.delete(&k, Durability::Sync)?;
            let _ = std::fs::remove_file(dir.join(&c.file));
            let _ = std::fs::remove_file(dir.join(&c.playlist));
            a.media_access.files_moved();
            Ok(())
        })
        .await??;
    federate(&app, video.id).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
