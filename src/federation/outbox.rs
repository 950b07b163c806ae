//! What we send: follows (and their undoing), answers to follows, and the life of our videos
//! (Create when published, Update, Delete) to the followers of every actor involved (the
//! instance, the owner account and the channel), one delivery per shared inbox. A video that
//! turns private or internal is withdrawn with a `Delete`, and comes back with a `Create` when
//! it is public or unlisted again, as PeerTube does. Also our outboxes and the paged
//! `followers`/`following` collections.

use super::discovery::LocalActor;
use super::{id_of, key_of_local, now_secs, PUBLIC};
use crate::api::error::ApiError;
use crate::api::users::iso8601;
use crate::app::{host_of, App};
use crate::store::federation::{
    FollowState, Follower, FollowerKey, Following, FollowingKey, RemoteActor,
};
use crate::store::tables::{ChannelKey, UserKey};
use crate::store::videos::{FileKey, Video, VideoFile, VideoKey, VideoState};
use crate::store::{Durability, Store};
use crate::video::visibility::is_federated;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The `@context` of activities that carry no Video.
pub fn activity_context() -> Value {
    json!([
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        {"RsaSignature2017": "https://w3id.org/security#RsaSignature2017"}
    ])
}

/// Delivery inboxes of the accepted followers of `locals` (key names), deduplicated, never ours.
pub fn follower_inboxes(app: &App, locals: &[String]) -> Result<Vec<String>, ApiError> {
    let mut inboxes = BTreeSet::new();
    for (_, f) in app.store.scan::<FollowerKey>(&())? {
        if f.state == FollowState::Accepted
            && locals.contains(&f.local)
            && f.host != app.public_host
        {
            inboxes.insert(f.inbox);
        }
    }
    Ok(inboxes.into_iter().collect())
}

/// The followers of one local actor (key name).
pub fn followers_of(store: &Store, local: &str) -> Result<Vec<Follower>, ApiError> {
    Ok(store
        .scan::<FollowerKey>(&())?
        .into_iter()
        .map(|(_, f)| f)
        .filter(|f| f.local == local)
        .collect())
}

/// The local actors a video involves: the instance, its owner account and its channel.
fn video_actors(app: &App, video: &Video) -> Result<(Option<LocalActor>, Vec<String>), ApiError> {
    let account = app
        .store
        .get(&UserKey(video.owner))?
        .map(|u| LocalActor::Account(u.username.to_lowercase()));
    let channel = app
        .store
        .get(&ChannelKey(video.channel_id))?
        .map(|c| LocalActor::Channel(c.name));
    let mut locals = vec!["instance".to_string()];
    locals.extend(account.iter().map(key_of_local));
    locals.extend(channel.iter().map(key_of_local));
    Ok((account, locals))
}

fn files_of(store: &Store, video_id: u64) -> Result<Vec<VideoFile>, ApiError> {
    let mut f: Vec<VideoFile> = store
        .scan::<FileKey>(&video_id)?
        .into_iter()
        .map(|(_, f)| f)
        .collect();
    f.sort_by_key(|f| std::cmp::Reverse(f.resolution));
    Ok(f)
}

/// A `Create` (or `Update`) of a local published video, with its full object.
pub fn video_activity(
    app: &App,
    video: &Video,
    kind: &str,
) -> Result<Option<(Value, String)>, ApiError> {
    if video.remote.is_some()
        || video.state != VideoState::Published
        || !is_federated(video.privacy)
    {
        return Ok(None);
    }
    let (account, _) = video_actors(app, video)?;
    let Some(account) = account else {
        return Ok(None);
    };
    let files = files_of(&app.store, video.id)?;
    let mut object = super::objects::video_object(app, video, &files)?;
    let actor = account.url(&app.public_url);
    let video_url = format!("{}/videos/watch/{}", app.public_url, video.uuid);
    let (to, cc) = if video.privacy == 2 {
        (json!([]), json!([PUBLIC]))
    } else {
        (json!([PUBLIC]), json!([format!("{actor}/followers")]))
    };
    if video.privacy == 2 {
        object["to"] = to.clone();
        object["cc"] = cc.clone();
    }
    let id = if kind == "Create" {
        match video.unfederated_at {
            // Back after a withdrawal: the first Create's id was seen already.
            Some(at) => format!("{video_url}/activity/{at}"),
            None => format!("{video_url}/activity"),
        }
    } else {
        format!("{video_url}/updates/{}", iso8601(video.updated_at))
    };
    let activity = json!({
        "@context": super::objects::video_context(),
        "id": id,
        "type": kind,
        "actor": actor,
        "to": to,
        "cc": cc,
        "object": object,
    });
    Ok(Some((activity, key_of_local(&account))))
}

fn send_to_followers(
    app: &App,
    video: &Video,
    activity: Value,
    signer: &str,
) -> Result<usize, ApiError> {
    let (_, locals) = video_actors(app, video)?;
    let inboxes = follower_inboxes(app, &locals)?;
    let n =
        app.federation
            .deliveries
            .enqueue(&app.store, activity.to_string(), signer, &inboxes)?;
    Ok(n)
}

/// A local video was published: `Create` to the followers, then the video is marked as
/// federated (a crash in between sends it again at the next start; receivers drop the repeat
/// by its activity id).
pub fn video_published(app: &App, video_id: u64) {
    let result = (|| -> Result<usize, ApiError> {
        let Some(video) = app.store.get(&VideoKey(video_id))? else {
            return Ok(0);
        };
        let _lock = app.video_locks.lock(&video.uuid);
        announce_locked(app, video_id)
    })();
    match result {
        Ok(n) => tracing::info!(video = video_id, inboxes = n, "federation: Create queued"),
        Err(e) => {
            tracing::error!(video = video_id, error = %e.detail, "federation: cannot queue the Create")
        }
    }
}

/// `Create` of a local video that followers do not have (at publication, or public again),
/// then the record says they have it. The caller holds the video's lock. Returns the inboxes.
pub fn announce_locked(app: &App, video_id: u64) -> Result<usize, ApiError> {
    let Some(video) = app.store.get(&VideoKey(video_id))? else {
        return Ok(0);
    };
    let Some((activity, signer)) = video_activity(app, &video, "Create")? else {
        return Ok(0);
    };
    let n = send_to_followers(app, &video, activity, &signer)?;
    if let Some(mut v) = app.store.get(&VideoKey(video_id))? {
        v.federated_at = Some(now_secs());
        app.store.put(&VideoKey(video_id), &v, Durability::Sync)?;
    }
    Ok(n)
}

/// A federated local video went private or internal: `Delete` to the followers (PeerTube
/// unfederates such videos the same way), then the record says they no longer have it. The
/// caller holds the video's lock. Returns the inboxes (0 when followers never had it).
pub fn withdraw_locked(app: &App, video_id: u64) -> Result<usize, ApiError> {
    let Some(video) = app.store.get(&VideoKey(video_id))? else {
        return Ok(0);
    };
    if video.remote.is_some() || video.federated_at.is_none() || is_federated(video.privacy) {
        return Ok(0);
    }
    let (account, _) = video_actors(app, &video)?;
    let Some(account) = account else {
        return Ok(0);
    };
    let now = now_secs().max(video.unfederated_at.map_or(0, |t| t + 1));
    let actor = account.url(&app.public_url);
    let video_url = format!("{}/videos/watch/{}", app.public_url, video.uuid);
    let activity = json!({
        "@context": activity_context(),
        // One id per withdrawal: a video may go private, public and private again.
        "id": format!("{video_url}/delete/{now}"),
        "type": "Delete",
        "actor": actor,
        "to": [PUBLIC],
        "cc": [format!("{actor}/followers")],
        "object": video_url,
    });
    let n = send_to_followers(app, &video, activity, &key_of_local(&account))?;
    let mut v = video;
    v.federated_at = None;
    v.unfederated_at = Some(now);
    app.store.put(&VideoKey(video_id), &v, Durability::Sync)?;
    Ok(n)
}

/// At startup: queues the `Create` of local published videos whose publication was not
/// federated yet (the server stopped between publishing and queueing), and the `Delete` of
/// those that went private while their withdrawal was not queued. Returns how many.
pub fn federate_pending(app: &App) -> Result<usize, ApiError> {
    let videos: Vec<(u64, Video)> = app
        .store
        .scan::<VideoKey>(&())?
        .into_iter()
        .map(|(k, v)| (k.0, v))
        .filter(|(_, v)| v.remote.is_none() && v.state == VideoState::Published)
        .collect();
    let mut n = 0;
    for (id, v) in &videos {
        if v.federated_at.is_none() && is_federated(v.privacy) {
            video_published(app, *id);
            n += 1;
        } else if v.federated_at.is_some() && !is_federated(v.privacy) {
            let _lock = app.video_locks.lock(&v.uuid);
            match withdraw_locked(app, *id) {
                Ok(inboxes) => {
                    tracing::info!(video = %v.uuid, inboxes, "federation: Delete of a video gone private queued")
                }
                Err(e) => {
                    tracing::error!(video = %v.uuid, error = %e.detail, "federation: cannot queue the Delete of a video gone private")
                }
            }
            n += 1;
        }
    }
    Ok(n)
}

/// A local video changed: `Update` to the followers.
pub fn video_updated(app: &App, video: &Video) -> Result<usize, ApiError> {
    match video_activity(app, video, "Update")? {
        Some((activity, signer)) => send_to_followers(app, video, activity, &signer),
        None => Ok(0),
    }
}

/// A local video is being deleted: `Delete` to the followers (call before the owner goes).
pub fn video_deleted(app: &App, video: &Video) -> Result<usize, ApiError> {
    if video.remote.is_some() || video.published_at.is_none() {
        return Ok(0);
    }
    let (account, _) = video_actors(app, video)?;
    let Some(account) = account else {
        return Ok(0);
    };
    let actor = account.url(&app.public_url);
    let video_url = format!("{}/videos/watch/{}", app.public_url, video.uuid);
    let activity = json!({
        "@context": activity_context(),
        "id": format!("{video_url}/delete"),
        "type": "Delete",
        "actor": actor,
        "to": [PUBLIC],
        "cc": [format!("{actor}/followers")],
        "object": video_url,
    });
    send_to_followers(app, video, activity, &key_of_local(&account))
}

/// Our instance follows `target`: records it (pending) and sends the `Follow`.
pub fn follow(app: &App, target: &RemoteActor) -> Result<Following, ApiError> {
    let instance = LocalActor::Instance.url(&app.public_url);
    let now = now_secs();
    let existing = app.store.get(&FollowingKey(target.id.clone()))?;
    let follow_id = match &existing {
        Some(f) => f.follow_id.clone(),
        // A new id for every new follow: receivers drop activity ids they have seen, so a
        // follow after an unfollow must not reuse the old one.
        None => format!(
            "{instance}/follows/{}-{now}",
            hex::encode(sha2_short(&target.id))
        ),
    };
    let following = Following {
        target: target.id.clone(),
        host: target.host.clone(),
        follow_id: follow_id.clone(),
        state: match &existing {
            Some(f) if f.state == FollowState::Accepted => FollowState::Accepted,
            _ => FollowState::Pending,
        },
        created_at: existing.as_ref().map(|f| f.created_at).unwrap_or(now),
        updated_at: now,
    };
    app.store.put(
        &FollowingKey(target.id.clone()),
        &following,
        Durability::Sync,
    )?;
    let activity = json!({
        "@context": activity_context(),
        "id": follow_id,
        "type": "Follow",
        "actor": instance,
        "object": target.id,
    });
    app.federation.deliveries.enqueue(
        &app.store,
        activity.to_string(),
        "instance",
        std::slice::from_ref(&target.inbox),
    )?;
    tracing::info!(target = %target.id, "federation: Follow sent");
    Ok(following)
}

/// Our instance stops following: `Undo` of the `Follow`, and the record goes.
pub fn unfollow(app: &App, following: &Following, inbox: Option<&str>) -> Result<(), ApiError> {
    let instance = LocalActor::Instance.url(&app.public_url);
    app.store
        .delete(&FollowingKey(following.target.clone()), Durability::Sync)?;
    if let Some(inbox) = inbox {
        let activity = json!({
            "@context": activity_context(),
            "id": format!("{}/undo", following.follow_id),
            "type": "Undo",
            "actor": instance,
            "object": {"id": following.follow_id, "type": "Follow", "actor": instance, "object": following.target},
        });
        app.federation.deliveries.enqueue(
            &app.store,
            activity.to_string(),
            "instance",
            &[inbox.to_string()],
        )?;
    }
    Ok(())
}

/// Answers a `Follow` of our `local` actor with an `Accept` or a `Reject`.
pub fn answer_follow(
    app: &App,
    local: &LocalActor,
    follow: &Value,
    follower: &RemoteActor,
    accept: bool,
) -> Result<(), ApiError> {
    let actor = local.url(&app.public_url);
    let follow_id = id_of(follow).unwrap_or_default();
    let id = if accept {
        format!(
            "{}/accepts/follows/{}",
            app.public_url,
            hex::encode(sha2_short(follow_id))
        )
    } else {
        format!(
            "{}/rejects/follows/{}",
            app.public_url,
            hex::encode(sha2_short(follow_id))
        )
    };
    let activity = json!({
        "@context": activity_context(),
        "id": id,
        "type": if accept { "Accept" } else { "Reject" },
        "actor": actor,
        "object": {"id": follow_id, "type": "Follow", "actor": follower.id, "object": actor},
    });
    app.federation.deliveries.enqueue(
        &app.store,
        activity.to_string(),
        &key_of_local(local),
        std::slice::from_ref(&follower.inbox),
    )?;
    Ok(())
}

fn sha2_short(s: &str) -> [u8; 8] {
    use sha2::Digest;
    let d = sha2::Sha256::digest(s.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

/// PeerTube's collection paging: without `page` the collection with `first`; with `page=N` the
/// page (10 items) with `prev`/`next`/`partOf`.
pub fn paged_collection(base: &str, page: Option<usize>, items: Vec<Value>) -> Value {
    const PER_PAGE: usize = 10;
    let total = items.len();
    let context = activity_context();
    match page {
        None => {
            let mut v = json!({"@context": context, "id": base, "type": "OrderedCollection", "totalItems": total});
            if total > 0 {
                v["first"] = json!(format!("{base}?page=1"));
            }
            v
        }
        Some(p) => {
            let p = p.max(1);
            let start = (p - 1).saturating_mul(PER_PAGE);
            let slice: Vec<Value> = items.into_iter().skip(start).take(PER_PAGE).collect();
            let mut v = json!({
                "@context": context,
                "id": format!("{base}?page={p}"),
                "type": "OrderedCollectionPage",
                "partOf": base,
                "orderedItems": slice,
                "totalItems": total,
            });
            if p > 1 {
                v["prev"] = json!(format!("{base}?page={}", p - 1));
            }
            if start + PER_PAGE < total {
                v["next"] = json!(format!("{base}?page={}", p + 1));
            }
            v
        }
    }
}

/// The outbox of a local actor, newest first: `Create` activities of an account's or channel's
/// public published videos; for the instance actor, an `Announce` of every public local video
/// (as PeerTube's server actor shares them), which is what a newly following instance crawls.
pub fn outbox_items(app: &App, local: &LocalActor) -> Result<Vec<Value>, ApiError> {
    let mut videos: Vec<Video> = app
        .store
        .scan::<VideoKey>(&())?
        .into_iter()
        .map(|(_, v)| v)
        .filter(|v| v.remote.is_none() && v.state == VideoState::Published && v.privacy == 1)
        .collect();
    videos.sort_by_key(|v| std::cmp::Reverse(v.published_at));
    if *local == LocalActor::Instance {
        let actor = LocalActor::Instance.url(&app.public_url);
        return Ok(videos
            .iter()
            .map(|v| {
                let url = format!("{}/videos/watch/{}", app.public_url, v.uuid);
                json!({
                    "id": format!("{url}/announces/{}", hex::encode(sha2_short(&actor))),
                    "type": "Announce",
                    "actor": actor,
                    "object": url,
                    "to": [PUBLIC],
                    "cc": [format!("{actor}/followers")],
                })
            })
            .collect());
    }
    let mut items = Vec::new();
    for v in &videos {
        let mine = match local {
            LocalActor::Instance => false,
            LocalActor::Account(n) => app
                .store
                .get(&UserKey(v.owner))?
                .is_some_and(|u| u.username.to_lowercase() == *n),
            LocalActor::Channel(n) => app
                .store
                .get(&ChannelKey(v.channel_id))?
                .is_some_and(|c| c.name == *n),
        };
        if !mine {
            continue;
        }
        if let Some((mut a, _)) = video_activity(app, v, "Create")? {
            if let Some(o) = a.as_object_mut() {
                o.remove("@context");
            }
            items.push(a);
        }
    }
    Ok(items)
}

/// Items of `followers` (follower ids) or `following` (followed ids, the instance only).
pub fn follow_items(app: &App, local: &LocalActor, which: &str) -> Result<Vec<Value>, ApiError> {
    let key = key_of_local(local);
    if which == "followers" {
        return Ok(followers_of(&app.store, &key)?
            .into_iter()
            .filter(|f| f.state == FollowState::Accepted)
            .map(|f| json!(f.actor))
            .collect());
    }
    if *local != LocalActor::Instance {
        return Ok(Vec::new());
    }
    Ok(app
        .store
        .scan::<FollowingKey>(&())?
        .into_iter()
        .filter(|(_, f)| f.state == FollowState::Accepted)
        .map(|(_, f)| json!(f.target))
        .collect())
}

/// The host part of an activity's actor.
pub fn actor_host(activity: &Value) -> Option<String> {
    activity.get("actor").and_then(id_of).map(host_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything our Video activities say is expressible with the built-in contexts, so the
    /// LD signature we add verifies.
    #[test]
    fn video_activities_are_ld_signable() {
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
        let object: Value = serde_json::from_str(
            r#"{
                "type": "Video", "id": "https://a.example/videos/watch/u", "name": "Demo",
                "duration": "PT2S", "uuid": "0d3b0000-0000-4000-8000-000000000000", "views": 0,
                "sensitive": false, "waitTranscoding": true, "state": 1, "commentsPolicy": 1,
                "canReply": null, "downloadEnabled": true,
                "published": "2026-01-01T00:00:00.000Z", "updated": "2026-01-01T00:00:00.000Z",
                "originallyPublishedAt": null, "uploadDate": "2026-01-01T00:00:00.000Z",
                "tag": [], "mediaType": "text/markdown", "content": "x", "support": null,
                "subtitleLanguage": [], "preview": [], "aspectRatio": 1.7778,
                "icon": [{"type": "Image", "url": "https://a.example/t.jpg", "mediaType": "image/jpeg", "width": 280, "height": 157}],
                "url": [
                    {"type": "Link", "mediaType": "text/html", "href": "https://a.example/w/x"},
                    {"type": "Link", "mediaType": "application/x-mpegURL", "href": "https://a.example/m.m3u8", "tag": [
                        {"type": "Infohash", "name": "0123456789abcdef0123456789abcdef01234567"},
                        {"type": "Link", "name": "sha256", "mediaType": "application/json", "href": "https://a.example/s.json"},
                        {"type": "Link", "mediaType": "video/mp4", "href": "https://a.example/f.mp4", "height": 240, "width": 426, "size": 10, "fps": 25,
                         "attachment": [{"type": "PropertyValue", "name": "ffprobe_codec_type", "value": "video"}]},
                        {"type": "Link", "mediaType": "application/x-bittorrent", "href": "https://a.example/f.torrent", "height": 240, "width": 426, "fps": 25}
                    ]},
                    {"type": "Link", "name": "tracker-websocket", "rel": ["tracker", "websocket"], "href": "wss://a.example/tracker/socket"}
                ],
                "likes": "https://a.example/videos/watch/u/likes",
                "dislikes": "https://a.example/videos/watch/u/dislikes",
                "shares": "https://a.example/videos/watch/u/announces",
                "comments": "https://a.example/videos/watch/u/comments",
                "attributedTo": [{"type": "Person", "id": "https://a.example/accounts/root"}, {"type": "Group", "id": "https://a.example/video-channels/root_channel"}],
                "isLiveBroadcast": false, "liveSaveReplay": null, "permanentLive": null, "latencyMode": null,
                "to": ["https://www.w3.org/ns/activitystreams#Public"], "cc": []
            }"#,
        )
        .unwrap();
        let activity = json!({
            "@context": super::super::objects::video_context(),
            "id": "https://a.example/videos/watch/u/activity",
            "type": "Create",
            "actor": "https://a.example/accounts/root",
            "to": [PUBLIC],
            "cc": ["https://a.example/accounts/root/followers"],
            "object": object,
        });
        let signed = super::super::ld::sign(
            activity,
            "https://a.example/accounts/root",
            std::time::SystemTime::now(),
            &key,
        )
        .unwrap();
        super::super::ld::verify(&signed, &rsa::RsaPublicKey::from(&key)).unwrap();
        let mut tampered = signed.clone();
        tampered["object"]["name"] = json!("Other");
        assert!(super::super::ld::verify(&tampered, &rsa::RsaPublicKey::from(&key)).is_err());
    }
}
