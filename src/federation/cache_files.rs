//! Other servers' mirrors of our videos: `Create`, `Update` and `Undo` of a `CacheFile`
//! (PeerTube's `process-create.ts#processCreateCacheFile`, `process-update.ts`,
//! `process-undo.ts`, `lib/activitypub/cache-file.ts`).
//!
//! A mirror is accepted when `remote_redundancy.videos.accept_from` allows its server, it
//! mirrors the HLS playlist of one of our published, federated videos, its id is on its
//! actor's host, and (for an update or an undo) it is that actor's. It is then kept
//! ([`AnnouncedMirror`]), listed in the video's `streamingPlaylists[].redundancies`, and the
//! activity is forwarded as it came (its Linked-Data signature included) to the followers of
//! the video's actors, so that every instance showing the video learns the mirror, as PeerTube
//! does.

use super::protocol::cache_file::CacheFile;
use super::protocol::{id_of, ProtocolError};
use super::receive::{FedContext, Handle, Verified};
use super::{now_secs, FederationError};
use crate::app::host_of;
use crate::config::redundancy::AcceptFrom;
use crate::store::federation::{FollowState, FollowerKey, FollowingKey};
use crate::store::redundancy::{AnnouncedMirror, CacheFileKey};
use crate::store::tables::{ChannelKey, UserKey};
use crate::store::{Batch, Durability};
use crate::video::Video;
use serde_json::Value;
use std::collections::BTreeSet;

/// Mirrors of one of our videos we keep at most (a server inventing actors cannot grow the
/// list, the torrents' webseeds or the store without bound); more are refused.
pub const MAX_MIRRORS_PER_VIDEO: usize = 16;

/// A received activity about a `CacheFile`, kept whole (it is forwarded as it came).
#[derive(Debug, Clone)]
pub struct CacheFileActivity {
    /// `Create`, `Update` or `Undo`.
    pub kind: Kind,
    /// The activity as received.
    pub raw: Value,
}

/// What is done to the mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new mirror.
    Create,
    /// A mirror's expiry changed.
    Update,
    /// A mirror dropped.
    Undo,
}

impl CacheFileActivity {
    /// The activity when it is about a `CacheFile` (`Create`/`Update` of one, `Undo` of its
    /// `Create`), None otherwise.
    pub fn of(act: &Value) -> Option<CacheFileActivity> {
        let ty = |v: &Value| v.get("type").and_then(Value::as_str).map(str::to_string);
        let object = act.get("object")?;
        let kind = match ty(act)?.as_str() {
            "Create" if ty(object).as_deref() == Some("CacheFile") => Kind::Create,
            "Update" if ty(object).as_deref() == Some("CacheFile") => Kind::Update,
            "Undo"
                if ty(object).as_deref() == Some("Create")
                    && object.get("object").and_then(ty).as_deref() == Some("CacheFile") =>
            {
                Kind::Undo
            }
            _ => return None,
        };
        Some(CacheFileActivity {
            kind,
            raw: act.clone(),
        })
    }

    fn actor(&self) -> &str {
        self.raw.get("actor").and_then(id_of).unwrap_or_default()
    }
}

/// What verification found.
#[derive(Debug)]
pub struct Checked {
    kind: Kind,
    record: AnnouncedMirror,
    video: Video,
    raw: Value,
    /// The same actor's earlier mirror of the video under another id, replaced by this one.
    replaced: Option<CacheFileKey>,
}

/// Our video whose watch URL is `url` (`<us>/videos/watch/<uuid>`), if any.
fn our_video(ctx: &FedContext<'_>, url: &str) -> Result<Option<Video>, FederationError> {
    let watch = format!("{}/videos/watch/", ctx.public_url);
    let Some(uuid) = url.strip_prefix(&watch).filter(|u| !u.contains('/')) else {
        return Ok(None);
    };
    Ok(ctx.store.video_by_uuid(uuid)?.filter(Video::is_local))
}

/// The stored mirror with `CacheFile` id `id`, whichever video it is of.
fn stored(ctx: &FedContext<'_>, id: &str) -> Result<Option<AnnouncedMirror>, FederationError> {
    Ok(ctx
        .store
        .scan::<CacheFileKey>(&None)?
        .into_iter()
        .map(|(_, m)| m)
        .find(|m| m.id == id))
}

impl Handle for CacheFileActivity {
    type Checked = Checked;

    fn verify(self, ctx: &FedContext<'_>) -> Result<Verified<Checked>, FederationError> {
        let actor = self.actor().to_string();
        match ctx.accept_mirrors_from {
            AcceptFrom::Nobody => {
                return Ok(Verified::Ignore(
                    "ignored (remote_redundancy.videos.accept_from is nobody)",
                ))
            }
            AcceptFrom::Followings => {
                let host = host_of(&actor);
                let followed = ctx
                    .store
                    .scan::<FollowingKey>(&())?
                    .iter()
                    .any(|(_, f)| f.host == host && f.state == FollowState::Accepted);
                if !followed {
                    return Err(FederationError::Refused(format!(
                        "mirror from {host}, a server this instance does not follow \
                         (remote_redundancy.videos.accept_from is followings)"
                    )));
                }
            }
            AcceptFrom::Anybody => {}
        }
        let object = match self.kind {
            Kind::Create | Kind::Update => &self.raw["object"],
            Kind::Undo => &self.raw["object"]["object"],
        };
        let cache = CacheFile::parse(object)?;
        if host_of(&cache.id) != host_of(&actor) {
            return Err(FederationError::Refused(format!(
                "{actor} cannot announce the mirror {} of another host",
                cache.id
            )));
        }
        let Some(video) = our_video(ctx, &cache.object)? else {
            return Err(FederationError::Refused(format!(
                "mirror {} is of {}, which is not one of our videos",
                cache.id, cache.object
            )));
        };
        let existing = stored(ctx, &cache.id)?;
        if let Some(e) = &existing {
            if e.actor != actor {
                return Err(FederationError::Refused(format!(
                    "mirror {} was announced by {}; {actor} cannot change it",
                    cache.id, e.actor
                )));
            }
        }
        if self.kind == Kind::Undo {
            let Some(record) = existing else {
                return Ok(Verified::Ignore("ignored (undo of an unknown mirror)"));
            };
            return Ok(Verified::Apply(Checked {
                kind: Kind::Undo,
                record,
                video,
                raw: self.raw,
                replaced: None,
            }));
        }
        if !video.is_published() || !video.is_federated() || video.hls.is_none() {
            return Err(FederationError::Refused(format!(
                "video {} is not a published, federated HLS video; its mirror {} is refused",
                video.uuid, cache.id
            )));
        }
        let expires_at = match &cache.expires {
            Some(e) => Some(crate::time::parse_iso8601(e).ok_or_else(|| {
                ProtocolError::invalid("expires", &Value::from(e.as_str()), "an ISO 8601 date")
            })?),
            None => None,
        };
        // One mirror per actor and video: a new id from the same actor replaces the old one.
        let others = ctx.store.scan::<CacheFileKey>(&Some(video.id))?;
        let replaced = others
            .iter()
            .find(|(k, m)| m.actor == actor && k.id != cache.id)
            .map(|(k, _)| k.clone());
        if existing.is_none() && replaced.is_none() && others.len() >= MAX_MIRRORS_PER_VIDEO {
            return Err(FederationError::Refused(format!(
                "video {} already has {MAX_MIRRORS_PER_VIDEO} mirrors; mirror {} is refused",
                video.uuid, cache.id
            )));
        }
        let now = now_secs();
        let record = AnnouncedMirror {
            video_id: video.id,
            id: cache.id.clone(),
            actor,
            base_url: cache.url.href.trim_end_matches('/').to_string(),
            expires_at,
            created_at: existing.as_ref().map_or(now, |e| e.created_at),
            updated_at: now,
        };
        Ok(Verified::Apply(Checked {
            kind: self.kind,
            record,
            video,
            raw: self.raw,
            replaced,
        }))
    }

    fn receive(c: Checked, ctx: &FedContext<'_>) -> Result<&'static str, FederationError> {
        let key = CacheFileKey {
            video_id: c.record.video_id,
            id: c.record.id.clone(),
        };
        let done = match c.kind {
            Kind::Undo => {
                ctx.store.delete(&key, Durability::Sync)?;
                tracing::info!(video = %c.video.uuid, mirror = %c.record.base_url, "redundancy: a mirror of our video was dropped");
                "mirror removed"
            }
            Kind::Create | Kind::Update => {
                let mut batch = Batch::default();
                if let Some(old) = &c.replaced {
                    batch.delete(ctx.store, old);
                }
                batch.put(ctx.store, &key, &c.record)?;
                ctx.store.write(batch, Durability::Sync)?;
                tracing::info!(video = %c.video.uuid, mirror = %c.record.base_url, actor = %c.record.actor, "redundancy: a mirror of our video is listed");
                if c.kind == Kind::Create {
                    "mirror added"
                } else {
                    "mirror updated"
                }
            }
        };
        // An update changes only the expiry (or replaces a mirror): the list changes otherwise.
        if c.kind != Kind::Update || c.replaced.is_some() {
            if let Err(e) = refresh_webseeds(ctx, &c.video) {
                tracing::warn!(video = %c.video.uuid, error = %e, "redundancy: cannot list the mirrors as webseeds in the torrents");
            }
        }
        let n = forward(ctx, &c.video, &c.raw, &host_of(&c.record.actor))?;
        tracing::debug!(video = %c.video.uuid, inboxes = n, "redundancy: CacheFile activity forwarded");
        Ok(done)
    }
}

/// The local actors a video involves (the instance, its account and channel), as key names.
pub(crate) fn video_locals(
    store: &crate::store::Store,
    video: &Video,
) -> Result<Vec<String>, FederationError> {
    let mut locals = vec!["instance".to_string()];
    if let Some(u) = store.get(&UserKey(video.owner))? {
        locals.push(super::key_of_local(&super::discovery::LocalActor::Account(
            u.username.to_lowercase(),
        )));
    }
    if let Some(c) = store.get(&ChannelKey(video.channel_id))? {
        locals.push(super::key_of_local(&super::discovery::LocalActor::Channel(
            c.name,
        )));
    }
    Ok(locals)
}

/// Forwards `activity` as it came to the followers of the video's actors, but not to the
/// host it came from (PeerTube's `forwardVideoRelatedActivity`). Returns the inboxes.
fn forward(
    ctx: &FedContext<'_>,
    video: &Video,
    activity: &Value,
    from_host: &str,
) -> Result<usize, FederationError> {
    let locals = video_locals(ctx.store, video)?;
    let our_host = host_of(ctx.public_url);
    let inboxes: BTreeSet<String> = ctx
        .store
        .scan::<FollowerKey>(&())?
        .into_iter()
        .map(|(_, f)| f)
        .filter(|f| {
            f.state == FollowState::Accepted
                && locals.contains(&f.local)
                && f.host != from_host
                && f.host != our_host
        })
        .map(|f| f.inbox)
        .collect();
    if inboxes.is_empty() {
        return Ok(0);
    }
    let body = serde_json::to_string(activity)
        .map_err(|e| FederationError::internal("writing an activity", e))?;
    let inboxes: Vec<String> = inboxes.into_iter().collect();
    Ok(ctx
        .deliveries
        .enqueue(ctx.store, body, "instance", &inboxes)?)
}

/// Rewrites the public torrents of `video` with their webseeds: our own file (the first entry,
/// kept as it is) and the same file on each live mirror, as PeerTube lists redundancies as
/// extra webseeds. The info-hashes do not change.
pub fn refresh_webseeds(ctx: &FedContext<'_>, video: &Video) -> Result<(), String> {
    let mirrors = mirrors_of(ctx.store, video.id, now_secs()).map_err(|e| e.to_string())?;
    let media = ctx.data_dir.join("media");
    for f in ctx.store.video_files(video.id).map_err(|e| e.to_string())? {
        let path = crate::video::files::torrent_path(
            &media,
            &video.uuid,
            false,
            &f.rendition.torrent_file,
        );
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        // A torrent without a webseed is a private video's: left alone.
        let Some(own) = crate::media::torrent::first_webseed(&bytes) else {
            continue;
        };
        let mut seeds = vec![own];
        seeds.extend(
            mirrors
                .iter()
                .map(|m| format!("{m}/{}", f.rendition.media_file)),
        );
        let refs: Vec<&str> = seeds.iter().map(String::as_str).collect();
        let out = crate::media::torrent::with_webseeds(&bytes, &refs).map_err(|e| e.to_string())?;
        let tmp = path.with_extension("torrent.tmp");
        std::fs::write(&tmp, out)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Drops the announced mirrors whose expiry passed (PeerTube removes remote expired
/// redundancies). Returns how many.
pub fn prune_expired(store: &crate::store::Store, now: u64) -> Result<usize, FederationError> {
    let mut batch = Batch::default();
    let mut n = 0;
    for (k, m) in store.scan::<CacheFileKey>(&None)? {
        if m.expires_at.is_some_and(|e| e <= now) {
            batch.delete(store, &k);
            n += 1;
        }
    }
    if n > 0 {
        store.write(batch, Durability::Sync)?;
    }
    Ok(n)
}

/// The base URLs of the live mirrors of our video `video_id`.
pub fn mirrors_of(
    store: &crate::store::Store,
    video_id: u64,
    now: u64,
) -> Result<Vec<String>, FederationError> {
    Ok(store
        .scan::<CacheFileKey>(&Some(video_id))?
        .into_iter()
        .map(|(_, m)| m)
        .filter(|m| m.expires_at.is_none_or(|e| e > now))
        .map(|m| m.base_url)
        .collect())
}
