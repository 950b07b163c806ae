//! PeerTube's resumable upload protocol (node-uploadx), the server's side: a `POST` opens a
//! session (or finds the same one again), each `PUT` appends the chunk its `Content-Range`
//! names or answers how far the upload got, the last byte turns the session into a video, a
//! `DELETE` cancels. Sessions live in the store's `uploads` table and their bytes in a `.part`
//! file, so a session survives a dropped connection or a restart; abandoned ones expire.

use super::admission::{self, NewVideo, UploadMeta};
use super::finalize::register_video;
use super::writer::{write_body, Destination, WriteError};
use super::{now_secs, uploads_dir, UploadError};
use crate::app::{App, SharedApp};
use crate::store::tables::User;
use crate::store::videos::{UploadKey, UploadSession, VideoKey};
use crate::store::{Batch, Durability};
use crate::video::Video;
use bytes::Bytes;
use futures_util::Stream;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// `Content-Range: bytes S-E/T` or `bytes */T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// A chunk: first and last byte (inclusive), total.
    Chunk(u64, u64, u64),
    /// A status query.
    Query(u64),
}

/// Parses a `Content-Range` request header.
pub fn parse_content_range(v: &str) -> Option<ContentRange> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let total: u64 = total.trim().parse().ok()?;
    if range.trim() == "*" {
        return Some(ContentRange::Query(total));
    }
    let (a, b) = range.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b && b < total).then_some(ContentRange::Chunk(a, b, total))
}

/// A session that a `POST` opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// A new session (uploadx's 201).
    Created(String),
    /// The same user sent the same file again: its unfinished session (uploadx's 200).
    Resumed(String),
}

/// What a `PUT` did.
#[derive(Debug)]
pub enum ChunkAnswer {
    /// The upload holds `received` bytes of its file, and needs the rest (uploadx's 308).
    Incomplete {
        /// Bytes received so far.
        received: u64,
    },
    /// The upload is complete and is this video (also the answer to a repeated final chunk).
    Complete(Box<Video>),
}

/// Opens a session for a file of `size_header` bytes (`X-Upload-Content-Length`) described by
/// the JSON `body`; the same user, channel, file name, size and title find the same session.
pub async fn open(
    app: &SharedApp,
    user: &User,
    size_header: Option<&str>,
    body: Bytes,
) -> Result<Opened, UploadError> {
    let size_header = size_header
        .ok_or_else(|| UploadError::Invalid("X-Upload-Content-Length is required".into()))?;
    let size: u64 = size_header.trim().parse().map_err(|_| {
        UploadError::Invalid(format!(
            "X-Upload-Content-Length must be a byte count (got {size_header:?})"
        ))
    })?;
    if size == 0 {
        return Err(UploadError::Invalid(
            "the file is empty (X-Upload-Content-Length: 0)".into(),
        ));
    }
    admission::check_size(app, size)?;
    let (a, u) = (app.clone(), user.clone());
    app.pool
        .run(move || admission::check_quota(&a, &u, size))
        .await??;
    admission::check_room(app, size).await?;
    let meta: UploadMeta = if body.is_empty() {
        UploadMeta::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| UploadError::Invalid(format!("invalid JSON body: {e}")))?
    };
    let filename = meta
        .filename
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .ok_or_else(|| UploadError::Invalid("filename is required".into()))?
        .to_string();
    let (a, u) = (app.clone(), user.clone());
    let opened = app
        .pool
        .run(move || open_session(&a, &u, &meta, filename, size))
        .await??;
    if let Opened::Created(id) = &opened {
        tracing::info!(upload = %id, user = user.id, size, "resumable upload started");
    }
    Ok(opened)
}

/// The store and file work of [`open`] (blocking: runs on the pool).
fn open_session(
    app: &App,
    user: &User,
    meta: &UploadMeta,
    filename: String,
    size: u64,
) -> Result<Opened, UploadError> {
    let checked = admission::check_meta(app, user, meta)?;
    let mut h = Sha256::new();
    for part in [
        user.id.to_string(),
        checked.channel_id.to_string(),
        filename.clone(),
        size.to_string(),
        checked.name.clone(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let id = hex::encode(&h.finalize()[..16]);
    if let Some(existing) = app.store.get(&UploadKey(id.clone()))? {
        if existing.video_id.is_none() {
            return Ok(Opened::Resumed(id));
        }
        // Finished earlier: a new upload of the same file starts afresh.
        remove_session(app, &existing);
    }
    admission::check_concurrency(app, user.id, false)?;
    let path = uploads_dir(app).join(format!("{id}.part"));
    let now = now_secs();
    let session = UploadSession {
        id: id.clone(),
        user_id: user.id,
        channel_id: checked.channel_id,
        name: checked.name,
        description: checked.description,
        privacy: checked.privacy,
        filename,
        size,
        path: path.clone(),
        created_at: now,
        updated_at: now,
        video_id: None,
    };
    std::fs::File::create(&path).map_err(|e| UploadError::file("creating the upload file", e))?;
    app.store
        .put(&UploadKey(session.id.clone()), &session, Durability::Sync)?;
    Ok(Opened::Created(id))
}

/// The session `upload_id` of `user`.
async fn session_of(
    app: &SharedApp,
    user: &User,
    upload_id: Option<&str>,
) -> Result<UploadSession, UploadError> {
    let id = upload_id
        .ok_or_else(|| UploadError::Invalid("upload_id is required".into()))?
        .to_string();
    let store = app.store.clone();
    let key = UploadKey(id.clone());
    match app.pool.run(move || store.get(&key)).await?? {
        Some(s) if s.user_id == user.id => Ok(s),
        _ => Err(UploadError::NotFound(format!("no upload session {id:?}"))),
    }
}

/// One `PUT`: appends the chunk that `content_range` names (`body`), or answers a status query
/// (`bytes */T`, or no header); the last byte makes the video.
pub async fn put_chunk<S, E>(
    app: &SharedApp,
    user: &User,
    upload_id: Option<&str>,
    content_range: Option<&str>,
    body: S,
) -> Result<ChunkAnswer, UploadError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let session = session_of(app, user, upload_id).await?;
    if let Some(video_id) = session.video_id {
        // The final chunk again (its answer was lost): same answer.
        let store = app.store.clone();
        return match app
            .pool
            .run(move || store.get(&VideoKey(video_id)))
            .await??
        {
            Some(v) => Ok(ChunkAnswer::Complete(Box::new(v))),
            None => Err(UploadError::NotFound(
                "the video of this upload was deleted".into(),
            )),
        };
    }
    let Some(_guard) = app.uploads.hold_session(&session.id)? else {
        return Err(UploadError::Busy(
            "another request is writing this upload; retry later",
        ));
    };
    let part = session.path.clone();
    let received = app
        .pool
        .run(move || std::fs::metadata(part).map(|m| m.len()).unwrap_or(0))
        .await?;
    let range = match content_range {
        None => ContentRange::Query(session.size),
        Some(v) => parse_content_range(v)
            .ok_or_else(|| UploadError::Invalid(format!("invalid Content-Range {v:?}")))?,
    };
    let (start, end) = match range {
        ContentRange::Query(total) | ContentRange::Chunk(_, _, total) if total != session.size => {
            return Err(UploadError::Invalid(format!(
                "Content-Range total {total} differs from the announced size {}",
                session.size
            )));
        }
        ContentRange::Query(_) => {
            if received == session.size {
                return finish(app, user, session).await;
            }
            return Ok(ChunkAnswer::Incomplete { received });
        }
        ContentRange::Chunk(s, e, _) => (s, e),
    };
    if start != received {
        return Err(UploadError::OutOfOrder { start, received });
    }
    let chunk_len = end - start + 1;
    admission::check_room(app, chunk_len).await?;
    let to = Destination::Append {
        path: session.path.clone(),
        kept: received,
    };
    let written = match write_body(&app.pool, to, body, chunk_len).await {
        Ok(w) => w,
        Err(WriteError::Overflow { limit, .. }) => {
            return Err(UploadError::Invalid(format!(
                "the body is longer than its Content-Range ({limit} bytes); nothing of it was kept"
            )))
        }
        Err(WriteError::Failed(e)) => return Err(e),
    };
    if let Some(e) = &written.cut_short {
        tracing::info!(error = %e, written = written.bytes, "upload connection ended early; the client may resume");
    }
    let now_received = received + written.bytes;
    let store = app.store.clone();
    let mut touched = session.clone();
    touched.updated_at = now_secs();
    app.pool
        .run(move || {
            store.put(
                &UploadKey(touched.id.clone()),
                &touched,
                Durability::Buffered,
            )
        })
        .await??;
    if written.bytes < chunk_len {
        return Err(UploadError::Invalid(format!(
            "the chunk ended after {} of {chunk_len} bytes; resume from byte {now_received}",
            written.bytes
        )));
    }
    if now_received < session.size {
        return Ok(ChunkAnswer::Incomplete {
            received: now_received,
        });
    }
    finish(app, user, session).await
}

/// The last byte arrived: probe, create the video and its job, close the session.
async fn finish(
    app: &SharedApp,
    user: &User,
    session: UploadSession,
) -> Result<ChunkAnswer, UploadError> {
    let meta = NewVideo {
        name: session.name.clone(),
        channel_id: session.channel_id,
        description: session.description.clone(),
        privacy: session.privacy,
    };
    match register_video(
        app,
        user.id,
        meta,
        &session.path,
        &session.filename,
        Some(&session),
    )
    .await
    {
        Ok(video) => Ok(ChunkAnswer::Complete(Box::new(video))),
        Err(e @ UploadError::NotAVideo(_)) => {
            // A file that cannot be a video will not become one by resending it.
            let a = app.clone();
            app.pool.run(move || remove_session(&a, &session)).await?;
            Err(e)
        }
        // Anything else (a full disk, a store made read-only): the bytes stay, and the client's
        // next query or resent chunk tries again.
        Err(e) => Err(e),
    }
}

/// Removes a session and its bytes (blocking: fsync'd store write).
fn remove_session(app: &App, session: &UploadSession) {
    let _ = std::fs::remove_file(&session.path);
    let mut batch = Batch::default();
    batch.delete(&app.store, &UploadKey(session.id.clone()));
    if let Err(e) = app.store.write(batch, Durability::Sync) {
        tracing::error!(error = %e, upload = %session.id, "cannot remove an upload session");
    }
}

/// `DELETE`: cancels (or closes) session `upload_id` of `user`.
pub async fn cancel(
    app: &SharedApp,
    user: &User,
    upload_id: Option<&str>,
) -> Result<(), UploadError> {
    let session = session_of(app, user, upload_id).await?;
    if app.uploads.session_busy(&session.id) {
        return Err(UploadError::Busy("a chunk is being written; retry"));
    }
    let a = app.clone();
    app.pool.run(move || remove_session(&a, &session)).await?;
    Ok(())
}

/// Removes sessions silent for longer than their lifetime (every one at `startup` whose file is
/// gone), and stray files in the uploads directory. Blocking: runs at startup, before any shard
/// serves, and then on the blocking pool.
pub fn remove_expired(app: &App, startup: bool) {
    let lifetime = app.config.upload.session_lifetime_secs;
    let now = now_secs();
    let Ok(sessions) = app.store.scan::<UploadKey>(&()) else {
        return;
    };
    let mut kept = HashSet::new();
    let mut removed = 0;
    for (_, s) in sessions {
        let stale = now.saturating_sub(s.updated_at) > lifetime;
        let lost = startup && s.video_id.is_none() && !s.path.exists();
        if stale || lost {
            remove_session(app, &s);
            removed += 1;
        } else {
            kept.insert(s.path.clone());
        }
    }
    if let Ok(entries) = std::fs::read_dir(uploads_dir(app)) {
        for e in entries.flatten() {
            let p = e.path();
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > lifetime);
            // Multipart temp files belong to no session: removed at startup or once stale.
            if !kept.contains(&p) && (startup || old) {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    if removed > 0 {
        tracing::info!(sessions = removed, "removed abandoned uploads");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(
            parse_content_range("bytes 0-99/1000"),
            Some(ContentRange::Chunk(0, 99, 1000))
        );
        assert_eq!(
            parse_content_range("bytes */1000"),
            Some(ContentRange::Query(1000))
        );
        assert_eq!(parse_content_range("bytes 5-4/1000"), None);
        assert_eq!(parse_content_range("bytes 0-1000/1000"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(parse_content_range("bytes 0-x/2"), None);
    }
}
