//! The `CacheFile` activities we send about our mirrors, as PeerTube's server actor sends
//! them (`send-create.ts#sendCreateCacheFile`, `send-update.ts#sendUpdateCacheFile`,
//! `send-undo.ts#sendUndoCacheFile`): by our instance actor, to the origin account's shared
//! inbox, addressed to that account, Linked-Data signed so that the origin can forward them to
//! its followers. Delivery is durable (the federation's queue).

use crate::app::App;
use crate::federation::discovery::LocalActor;
use crate::federation::protocol::activity::{Activity, Create, Undo, Update};
use crate::federation::protocol::cache_file::CacheFile;
use crate::federation::protocol::context;
use crate::store::redundancy::Mirror;
use crate::time::iso8601;
use crate::video::Video;
use serde::Serialize;

/// Our `CacheFile` of mirror `m` of `video`, addressed to the origin's account.
fn object(app: &App, m: &Mirror, video: &Video) -> (CacheFile, Vec<String>, Vec<String>) {
    let account = video
        .remote
        .as_ref()
        .map(|r| r.account.clone())
        .unwrap_or_default();
    let mut c = CacheFile::playlist(
        m.cache_file_id(&app.public_url),
        m.video_url.clone(),
        m.base_url(&app.public_url),
        m.expires_at.map(iso8601),
    );
    let to = vec![account];
    let cc: Vec<String> = Vec::new();
    c.to = Some(to.clone());
    c.cc = Some(cc.clone());
    (c, to, cc)
}

/// The `Create` of mirror `m`, as PeerTube builds it (`id`: the mirror's id + `/activity`).
pub fn create_activity(app: &App, m: &Mirror, video: &Video) -> Create<CacheFile> {
    let (c, to, cc) = object(app, m, video);
    let id = format!("{}/activity", c.id);
    Activity::new(id, LocalActor::Instance.url(&app.public_url), c)
        .with_context(context::cache_file())
        .with_audience(to, cc)
}

/// Sends mirror `m`'s `Create` to its origin.
pub fn create(app: &App, m: &Mirror, video: &Video) {
    send(app, m, video, "Create", &create_activity(app, m, video));
}

/// Sends mirror `m`'s `Update` (its new expiry) to its origin.
pub fn update(app: &App, m: &Mirror, video: &Video) {
    let (c, to, cc) = object(app, m, video);
    let id = format!("{}/updates/{}", c.id, iso8601(m.updated_at));
    let activity: Update<CacheFile> =
        Activity::new(id, LocalActor::Instance.url(&app.public_url), c)
            .with_context(context::cache_file())
            .with_audience(to, cc);
    send(app, m, video, "Update", &activity);
}

/// Sends the `Undo` of mirror `m`'s `Create` to its origin.
pub fn undo(app: &App, m: &Mirror, video: &Video) {
    let mut create = create_activity(app, m, video);
    create.context = None;
    let (to, cc) = (
        create.to.clone().unwrap_or_default(),
        create.cc.clone().unwrap_or_default(),
    );
    let id = format!("{}/undo", m.cache_file_id(&app.public_url));
    let activity: Undo<Create<CacheFile>> =
        Activity::new(id, LocalActor::Instance.url(&app.public_url), create)
            .with_context(context::cache_file())
            .with_audience(to, cc);
    send(app, m, video, "Undo", &activity);
}

/// Queues `activity`, LD-signed by our instance actor, to the shared inbox of the origin's
/// account (fetched when not cached). Failures are logged: the mirror stays served, only the
/// origin does not list it.
fn send<T: Serialize>(app: &App, m: &Mirror, video: &Video, kind: &str, activity: &T) {
    if !app.config.federation.enabled {
        return;
    }
    let result = (|| -> Result<usize, String> {
        let account = &video.remote.as_ref().ok_or("not a remote video")?.account;
        let (actor, _) = crate::federation::remote::actor(
            &app.federation,
            &app.store,
            &app.public_url,
            account,
            false,
        )
        .map_err(|e| format!("cannot fetch the origin's account {account}: {e}"))?;
        let inbox = actor.delivery_inbox().to_string();
        let body = crate::federation::outbox::ld_signed_json(app, activity, "instance")
            .map_err(|e| e.to_string())?;
        app.federation
            .deliveries
            .enqueue(&app.store, body, "instance", std::slice::from_ref(&inbox))
            .map_err(|e| e.to_string())
    })();
    match result {
        Ok(_) => {
            tracing::info!(video = %m.uuid, activity = kind, "redundancy: CacheFile activity queued to the origin")
        }
        Err(e) => {
            tracing::warn!(video = %m.uuid, activity = kind, error = %e, "redundancy: CacheFile activity not sent")
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::federation::protocol::cache_file::CacheFile;
    use serde_json::Value;

    /// What we send has PeerTube's shape: the fixture's `Create`, field for field, once the
    /// hosts and dates are ours.
    #[test]
    fn our_create_is_peertubes() {
        let fixture: Value = serde_json::from_str(include_str!(
            "../federation/testdata/peertube-cache-file-create.json"
        ))
        .unwrap();
        let c = CacheFile::parse(&fixture["object"]).unwrap();
        let mut ours = CacheFile::playlist(
            c.id.clone(),
            c.object.clone(),
            c.url.href.clone(),
            c.expires.clone(),
        );
        ours.to = c.to.clone();
        ours.cc = c.cc.clone();
        let activity: super::Create<CacheFile> = super::Activity::new(
            format!("{}/activity", c.id),
            fixture["actor"].as_str().unwrap(),
            ours,
        )
        .with_context(super::context::cache_file())
        .with_audience(
            serde_json::from_value(fixture["to"].clone()).unwrap(),
            serde_json::from_value(fixture["cc"].clone()).unwrap(),
        );
        assert_eq!(serde_json::to_value(&activity).unwrap(), fixture);
    }
}
