//! The legacy multipart upload (`POST /api/v1/videos/upload`, field `videofile` plus PeerTube's
//! text fields): the form is parsed as it streams, every field bounded, the video's bytes go
//! through the one [`writer`](super::writer) into a staged file that is removed unless it
//! becomes a video.

use super::admission::{self, UploadMeta};
use super::finalize::register_video;
use super::writer::{write_body, Destination, StagedFile, WriteError};
use super::{uploads_dir, UploadError};
use crate::app::SharedApp;
use crate::store::tables::User;
use crate::video::Video;
use axum::extract::Multipart;
use serde_json::Value;
use std::collections::HashMap;

/// Largest text field of a multipart upload.
pub const MAX_FIELD: usize = 64 << 10;
/// Most fields a multipart upload may have (PeerTube's form has about twenty).
pub const MAX_FIELDS: usize = 64;
/// Largest image field (`thumbnailfile`, `previewfile`) of a multipart upload.
pub const MAX_IMAGE_FIELD: u64 = 8 << 20;

/// Receives a multipart upload of `user` (the request's `Content-Length`, when given, is
/// `content_length`) and makes it a video.
pub async fn receive(
    app: &SharedApp,
    user: &User,
    content_length: Option<u64>,
    form: Multipart,
) -> Result<Video, UploadError> {
    let max = app.config.upload.max_file_bytes;
    if let Some(len) = content_length {
        if len > max + (1 << 20) {
            return Err(UploadError::TooLarge { size: len, max });
        }
    }
    admission::check_room(app, content_length.unwrap_or(0)).await?;
    let _counted = app.uploads.count_multipart(user.id)?;
    let (a, u) = (app.clone(), user.clone());
    let quota = app
        .pool
        .run(move || -> Result<_, UploadError> {
            admission::check_concurrency(&a, u.id, true)?;
            let left = admission::quota_left(&a, &u)?;
            if let (Some((left, which)), Some(len)) = (left, content_length) {
                // The body is the file and a few small fields: a body that fits in the quota
                // may still be refused once the file is written (below).
                if len > left + (1 << 20) {
                    return Err(UploadError::QuotaExceeded {
                        size: len,
                        left,
                        which,
                    });
                }
            }
            Ok(left)
        })
        .await??;
    let staged = StagedFile::new(
        &app.pool,
        uploads_dir(app).join(format!("multipart-{}.part", uuid::Uuid::new_v4())),
    );
    match receive_form(app, user, quota, &staged, form).await {
        Ok(video) => {
            // The staged file's link was removed when it became the video's source; the
            // guard's removal finds nothing.
            drop(staged);
            Ok(video)
        }
        Err(e) => {
            // Removed before the refusal is answered: a client that sees the error finds
            // nothing of its body on the server.
            staged.discard().await;
            Err(e)
        }
    }
}

/// Reads the form of [`receive`] into `staged` and registers the video.
async fn receive_form(
    app: &SharedApp,
    user: &User,
    quota: Option<(u64, &'static str)>,
    staged: &StagedFile,
    mut form: Multipart,
) -> Result<Video, UploadError> {
    let max = app.config.upload.max_file_bytes;
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut file: Option<(String, u64)> = None;
    let mut field_count = 0usize;
    loop {
        let field = form
            .next_field()
            .await
            .map_err(|e| UploadError::Invalid(format!("malformed multipart body: {e}")))?;
        let Some(mut field) = field else { break };
        field_count += 1;
        if field_count > MAX_FIELDS {
            return Err(UploadError::Invalid(format!(
                "too many multipart fields (the limit is {MAX_FIELDS})"
            )));
        }
        let name = field.name().unwrap_or_default().to_string();
        if name == "videofile" {
            let filename = field.file_name().unwrap_or("video").to_string();
            if file.is_some() {
                return Err(UploadError::Invalid(
                    "videofile is given more than once".into(),
                ));
            }
            let to = Destination::New(staged.path().to_path_buf());
            // The writer stops at the tighter of the size limit and the quota left: a client
            // that announced less than it sends is refused as soon as it passes either.
            let limit = quota.map_or(max, |(left, _)| left.min(max));
            let written = match write_body(&app.pool, to, field, limit).await {
                Ok(w) => w,
                Err(WriteError::Overflow { seen, .. }) => {
                    return Err(match quota {
                        Some((left, which)) if left < max => UploadError::QuotaExceeded {
                            size: seen,
                            left,
                            which,
                        },
                        _ => UploadError::TooLarge { size: seen, max },
                    })
                }
                Err(WriteError::Failed(e)) => return Err(e),
            };
            if let Some(e) = written.cut_short {
                return Err(UploadError::Invalid(format!("upload interrupted: {e}")));
            }
            file = Some((filename, written.bytes));
        } else if ["thumbnailfile", "previewfile"].contains(&name.as_str()) {
            // Custom images are not supported yet: drain (bounded) and ignore.
            let mut size = 0u64;
            while let Some(c) = field
                .chunk()
                .await
                .map_err(|e| UploadError::Invalid(format!("field {name}: {e}")))?
            {
                size += c.len() as u64;
                if size > MAX_IMAGE_FIELD {
                    return Err(UploadError::Invalid(format!(
                        "field {name} is larger than {MAX_IMAGE_FIELD} bytes"
                    )));
                }
            }
        } else {
            // Read chunk by chunk against the bound: a huge field is refused at its first
            // bytes past the limit, never held whole.
            let mut text = Vec::new();
            while let Some(c) = field
                .chunk()
                .await
                .map_err(|e| UploadError::Invalid(format!("field {name}: {e}")))?
            {
                if text.len() + c.len() > MAX_FIELD {
                    return Err(UploadError::Invalid(format!(
                        "field {name} is longer than {MAX_FIELD} bytes"
                    )));
                }
                text.extend_from_slice(&c);
            }
            let text = String::from_utf8(text)
                .map_err(|_| UploadError::Invalid(format!("field {name} is not UTF-8 text")))?;
            fields.insert(name, text);
        }
    }
    let (filename, size) =
        file.ok_or_else(|| UploadError::Invalid("videofile is required".into()))?;
    if size == 0 {
        return Err(UploadError::Invalid(format!(
            "{filename}: the file is empty"
        )));
    }
    let meta = UploadMeta {
        name: fields.get("name").cloned(),
        channel_id: fields.get("channelId").map(|s| Value::String(s.clone())),
        filename: Some(filename.clone()),
        description: fields.get("description").cloned(),
        privacy: fields.get("privacy").map(|s| Value::String(s.clone())),
    };
    let (a, u) = (app.clone(), user.clone());
    let checked = app
        .pool
        .run(move || admission::check_meta(&a, &u, &meta))
        .await??;
    register_video(app, user.id, checked, staged.path(), &filename, None).await
}
