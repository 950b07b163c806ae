//! What an upload must pass before any of its bytes is stored: PeerTube's metadata rules, the
//! size limit, the per-user limit on uploads in progress and the disk's free-space reserve; and
//! the record of uploads being written right now.

use super::UploadError;
use crate::app::App;
use crate::store::tables::{ChannelKey, Role, User};
use crate::store::videos::{UploadKey, VideoKey};
use crate::store::StoreError;
use crate::video::Privacy;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Uploads being written right now (in memory: a crash ends them anyway).
#[derive(Debug, Default)]
pub struct InFlight {
    sessions: Mutex<HashSet<String>>,
    multipart: Mutex<HashMap<u64, u32>>,
}

impl InFlight {
    /// Marks resumable session `id` as being written; `None` when another request holds it.
    pub(super) fn hold_session<'a>(
        &'a self,
        id: &str,
    ) -> Result<Option<SessionGuard<'a>>, UploadError> {
        let mut busy = self
            .sessions
            .lock()
            .map_err(|_| UploadError::Internal("upload state"))?;
        if !busy.insert(id.to_string()) {
            return Ok(None);
        }
        Ok(Some(SessionGuard {
            in_flight: self,
            id: id.to_string(),
        }))
    }

    /// Whether a request is writing session `id` right now.
    pub(super) fn session_busy(&self, id: &str) -> bool {
        self.sessions
            .lock()
            .map(|s| s.contains(id))
            .unwrap_or(false)
    }

    /// Counts one multipart upload of `user` until the guard is dropped.
    pub(super) fn count_multipart(&self, user: u64) -> Result<MultipartGuard<'_>, UploadError> {
        let mut m = self
            .multipart
            .lock()
            .map_err(|_| UploadError::Internal("upload state"))?;
        *m.entry(user).or_insert(0) += 1;
        Ok(MultipartGuard {
            in_flight: self,
            user,
        })
    }

    fn multipart_of(&self, user: u64) -> u32 {
        self.multipart
            .lock()
            .map(|m| m.get(&user).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

/// Holds a resumable session for one PUT; released on drop.
pub(super) struct SessionGuard<'a> {
    in_flight: &'a InFlight,
    id: String,
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.in_flight.sessions.lock() {
            s.remove(&self.id);
        }
    }
}

/// Counts one multipart upload of a user; released on drop.
pub(super) struct MultipartGuard<'a> {
    in_flight: &'a InFlight,
    user: u64,
}

impl Drop for MultipartGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.in_flight.multipart.lock() {
            if let Some(n) = m.get_mut(&self.user) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

/// Metadata of a new video, as both protocols send it (PeerTube's field names).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadMeta {
    /// Title.
    pub name: Option<String>,
    /// Channel (number, or a string holding one).
    pub channel_id: Option<Value>,
    /// Original file name (resumable).
    pub filename: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Privacy id.
    pub privacy: Option<Value>,
}

/// Metadata that passed validation: what the new video will be.
#[derive(Debug, Clone)]
pub struct NewVideo {
    /// Title, trimmed.
    pub name: String,
    /// A channel of the uploader.
    pub channel_id: u64,
    /// Description, when not blank.
    pub description: Option<String>,
    /// Privacy.
    pub privacy: Privacy,
}

fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// PeerTube's rules: name 3–120 characters, a channel of the user, privacy 1–5. Reads the
/// store: call it on the blocking pool.
pub fn check_meta(app: &App, user: &User, meta: &UploadMeta) -> Result<NewVideo, UploadError> {
    let name = meta.name.as_deref().map(str::trim).unwrap_or_default();
    let len = name.chars().count();
    if !(3..=120).contains(&len) {
        return Err(UploadError::Invalid(format!(
            "name must be 3 to 120 characters (got {len}: {name:?})"
        )));
    }
    let channel_id = meta
        .channel_id
        .as_ref()
        .and_then(number)
        .ok_or_else(|| UploadError::Invalid("channelId is required (a number)".into()))?;
    let channel = app.store.get(&ChannelKey(channel_id))?;
    match channel {
        Some(c) if c.owner == user.id || user.role == Role::Administrator => {}
        _ => {
            return Err(UploadError::Invalid(format!(
                "channelId {channel_id} is not a channel of {}",
                user.username
            )))
        }
    }
    let privacy = match meta.privacy.as_ref() {
        None => Privacy::Public,
        Some(v) => match number(v).and_then(|p| Privacy::from_id(p).ok()) {
            Some(p) => p,
            None => {
                return Err(UploadError::Invalid(format!(
                    "privacy must be 1 to 5 (got {v})"
                )))
            }
        },
    };
    let description = meta.description.clone().filter(|d| !d.trim().is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 10_000)
    {
        return Err(UploadError::Invalid(
            "description is longer than 10000 characters".into(),
        ));
    }
    Ok(NewVideo {
        name: name.to_string(),
        channel_id,
        description,
        privacy,
    })
}

/// Refuses a file of `size` bytes above `upload.max_file_bytes`.
pub fn check_size(app: &App, size: u64) -> Result<(), UploadError> {
    let max = app.config.upload.max_file_bytes;
    if size > max {
        return Err(UploadError::TooLarge { size, max });
    }
    Ok(())
}

/// Bytes of the files of `user`'s videos: all of them, and those uploaded in the last 24 hours
/// (PeerTube's `videoQuotaUsed` and `videoQuotaUsedDaily`). Scans the store: call it on the
/// blocking pool.
pub fn quota_used(app: &App, user: u64) -> Result<(u64, u64), StoreError> {
    let day_ago = crate::time::now_secs().saturating_sub(24 * 3600);
    let (mut total, mut daily) = (0, 0);
    for id in app.store.videos_of_owner(user)? {
        let Some(v) = app.store.get(&VideoKey(id))? else {
            continue;
        };
        let hls: u64 = app
            .store
            .video_files(v.id)?
            .iter()
            .map(|f| f.rendition.size)
            .sum();
        let bytes = hls + v.web_videos.iter().map(|w| w.size).sum::<u64>();
        total += bytes;
        if v.created_at >= day_ago {
            daily += bytes;
        }
    }
    Ok((total, daily))
}

/// What `user` may still store under their quotas: `None` without a limit, else the bytes left
/// and which quota is the tighter. Scans the store: call it on the blocking pool.
pub fn quota_left(app: &App, user: &User) -> Result<Option<(u64, &'static str)>, UploadError> {
    if user.video_quota < 0 && user.video_quota_daily < 0 {
        return Ok(None);
    }
    let (used, daily) = quota_used(app, user.id)?;
    let left = |quota: i64, used: u64| (quota as u64).saturating_sub(used);
    let total = (user.video_quota >= 0).then(|| (left(user.video_quota, used), "total"));
    let day = (user.video_quota_daily >= 0).then(|| (left(user.video_quota_daily, daily), "daily"));
    Ok(match (total, day) {
        (Some(t), Some(d)) => Some(if d.0 < t.0 { d } else { t }),
        (t, d) => t.or(d),
    })
}

/// Refuses a file of `size` bytes that would take `user` past a quota (PeerTube's 413
/// `quota_reached`). Scans the store: call it on the blocking pool.
pub fn check_quota(app: &App, user: &User, size: u64) -> Result<(), UploadError> {
    match quota_left(app, user)? {
        Some((left, which)) if size > left => Err(UploadError::QuotaExceeded { size, left, which }),
        _ => Ok(()),
    }
}

/// Uploads of `user` in progress (resumable sessions not finished, plus multipart uploads).
/// Scans the store: call it on the blocking pool.
fn active_uploads(app: &App, user: u64) -> Result<u32, UploadError> {
    let sessions = app
        .store
        .scan::<UploadKey>(&())?
        .into_iter()
        .filter(|(_, s)| s.user_id == user && s.video_id.is_none())
        .count() as u32;
    Ok(sessions + app.uploads.multipart_of(user))
}

/// Refuses a new upload when `user` already has `upload.max_concurrent_per_user` uploads in
/// progress, not counting this one (a multipart upload counts itself before asking:
/// `counts_itself`). Scans the store: call it on the blocking pool.
pub fn check_concurrency(app: &App, user: u64, counts_itself: bool) -> Result<(), UploadError> {
    let limit = app.config.upload.max_concurrent_per_user;
    let others = active_uploads(app, user)?.saturating_sub(u32::from(counts_itself));
    if others >= limit {
        return Err(UploadError::TooMany { limit });
    }
    Ok(())
}

/// Refuses (507) an upload of `incoming` bytes that would eat into the disk reserve.
pub async fn check_room(app: &crate::app::SharedApp, incoming: u64) -> Result<(), UploadError> {
    let a = app.clone();
    app.pool
        .run(move || crate::runtime::disk::room_for(&a, incoming))
        .await?
        .map_err(|why| {
            tracing::warn!(reason = %why, "upload refused for lack of disk space");
            UploadError::NoRoom(why)
        })
}
