//! What we send: follows (and their undoing), answers to follows, and the life of our videos
//! (Create when published, Update, Delete) to the followers of every actor involved (the
//! instance, the owner account and the channel), one delivery per shared inbox. A video that
//! turns private or internal is withdrawn with a `Delete`, and comes back with a `Create` when
//! it is public or unlisted again, as PeerTube does. Also our outboxes and the paged
//! `followers`/`following` collections.
//!
//! Create, Update and Delete carry PeerTube's `RsaSignature2017` linked-data signature by the
//! actor (PeerTube's `buildSignedActivity`), made once per activity before it is queued, so a
//! relay or a receiver that checks LD signatures (PeerTube, Mastodon) can trust a forwarded copy.

use super::discovery::LocalActor;
use super::protocol::activity::{
    Accept, Activity, Announce, Create, Delete, Follow, Reject, Undo, Update,
};
use super::protocol::collection::{paged, Paged};
use super::protocol::{video, ObjectRef};
use super::{key_of_local, now_secs, FederationError, PUBLIC};
use crate::app::App;
use crate::store::federation::{
    FollowState, Follower, FollowerKey, Following, FollowingKey, RemoteActor, RemoteActorKey,
};
use crate::store::tables::{ChannelKey, UserKey};
use crate::store::videos::VideoKey;
use crate::store::{Durability, Store};
use crate::time::iso8601;
use crate::video::urls::PublicUrls;
use crate::video::Privacy;
use crate::video::Video;
use serde::Serialize;
use std::collections::BTreeSet;

/// The `@context` of activities that carry no Video.
pub use super::protocol::context::activity as activity_context;

/// Delivery inboxes of the accepted followers of `locals` (key names), deduplicated, never ours.
pub fn follower_inboxes(app: &App, locals: &[String]) -> Result<Vec<String>, FederationError> {
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
pub fn followers_of(store: &Store, local: &str) -> Result<Vec<Follower>, FederationError> {
    Ok(store
        .scan::<FollowerKey>(&())?
        .into_iter()
        .map(|(_, f)| f)
        .filter(|f| f.local == local)
        .collect())
}

/// The local actors a video involves: the instance, its owner account and its channel.
fn video_actors(
    app: &App,
    video: &Video,
) -> Result<(Option<LocalActor>, Vec<String>), FederationError> {
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

/// A `Create` or an `Update` of a local video.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum VideoActivity {
    /// The video is new to its followers.
    Create(Create<video::Video>),
    /// The video changed.
    Update(Update<video::Video>),
}

impl VideoActivity {
    /// Leaves the `@context` out (an item of an outbox).
    fn without_context(mut self) -> VideoActivity {
        match &mut self {
            VideoActivity::Create(a) => a.context = None,
            VideoActivity::Update(a) => a.context = None,
        }
        self
    }
}

/// Whether a video activity creates or updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoChange {
    /// `Create`.
    Create,
    /// `Update`.
    Update,
}

/// A `Create` (or `Update`) of a local published video, with its full object.
pub fn video_activity(
    app: &App,
    video: &Video,
    kind: VideoChange,
) -> Result<Option<(VideoActivity, String)>, FederationError> {
    if !video.is_local() || !video.is_published() || !video.is_federated() {
        return Ok(None);
    }
    let (account, _) = video_actors(app, video)?;
    let Some(account) = account else {
        return Ok(None);
    };
    let files = app.store.video_files(video.id)?;
    let mut object = super::objects::video_object(app, video, &files)?;
    let actor = account.url(&app.public_url);
    let video_url = PublicUrls::new(&app.public_url).watch(&video.uuid);
    let (to, cc) = if video.privacy == Privacy::Unlisted {
        (vec![], vec![PUBLIC.to_string()])
    } else {
        (vec![PUBLIC.to_string()], vec![format!("{actor}/followers")])
    };
    if video.privacy == Privacy::Unlisted {
        object.to = to.clone();
        object.cc = cc.clone();
    }
    let activity = match kind {
        VideoChange::Create => {
            let id = match video.unfederated_at {
                // Back after a withdrawal: the first Create's id was seen already.
                Some(at) => format!("{video_url}/activity/{at}"),
                None => format!("{video_url}/activity"),
            };
            VideoActivity::Create(
                Activity::new(id, actor, object)
                    .with_context(super::objects::video_context())
                    .with_audience(to, cc),
            )
        }
        VideoChange::Update => {
            let id = format!("{video_url}/updates/{}", iso8601(video.updated_at));
            VideoActivity::Update(
                Activity::new(id, actor, object)
                    .with_context(super::objects::video_context())
                    .with_audience(to, cc),
            )
        }
    };
    Ok(Some((activity, key_of_local(&account))))
}

/// The JSON of an activity as delivered.
fn to_json<T: Serialize>(activity: &T) -> Result<String, FederationError> {
    serde_json::to_string(activity).map_err(|e| FederationError::internal("writing an activity", e))
}

fn send_to_followers<T: Serialize>(
    app: &App,
    video: &Video,
    activity: &T,
    signer: &str,
) -> Result<usize, FederationError> {
    let (_, locals) = video_actors(app, video)?;
    deliver_to_followers(app, activity, signer, &locals)
}

/// Queues `activity`, LD-signed by local actor `signer` (key name), to the followers of
/// `locals` (key names). Returns the inboxes.
pub(crate) fn deliver_to_followers<T: Serialize>(
    app: &App,
    activity: &T,
    signer: &str,
    locals: &[String],
) -> Result<usize, FederationError> {
    let inboxes = follower_inboxes(app, locals)?;
    if inboxes.is_empty() {
        return Ok(0);
    }
    let body = ld_signed_json(app, activity, signer)?;
    Ok(app
        .federation
        .deliveries
        .enqueue(&app.store, body, signer, &inboxes)?)
}

/// The JSON of `activity` with the `RsaSignature2017` of local actor `signer` (key name), whose
/// `creator` is the actor URL as PeerTube writes it.
pub(crate) fn ld_signed_json<T: Serialize>(
    app: &App,
    activity: &T,
    signer: &str,
) -> Result<String, FederationError> {
    let doc = serde_json::to_value(activity)
        .map_err(|e| FederationError::internal("writing an activity", e))?;
    let key = app.federation.signer(&app.store, &app.public_url, signer)?;
    let creator = super::ld::actor_of_creator(&key.key_id);
    let signed = super::ld::sign(doc, creator, std::time::SystemTime::now(), key.key.rsa())
        .map_err(|e| FederationError::internal("signing an activity (RsaSignature2017)", e))?;
    to_json(&signed)
}

/// A local video was published: `Create` to the followers, then the video is marked as
/// federated (a crash in between sends it again at the next start; receivers drop the repeat
/// by its activity id).
pub fn video_published(app: &App, video_id: u64) {
    let result = (|| -> Result<usize, FederationError> {
        let Some(video) = app.store.get(&VideoKey(video_id))? else {
            return Ok(0);
        };
        let _lock = app.video_locks.lock(&video.uuid);
        announce_locked(app, video_id)
    })();
    match result {
        Ok(n) => tracing::info!(video = video_id, inboxes = n, "federation: Create queued"),
        Err(e) => {
            tracing::error!(video = video_id, error = %e, "federation: cannot queue the Create")
        }
    }
}

/// `Create` of a local video that followers do not have (at publication, or public again),
/// then the record says they have it. The caller holds the video's lock. Returns the inboxes.
pub fn announce_locked(app: &App, video_id: u64) -> Result<usize, FederationError> {
    let Some(video) = app.store.get(&VideoKey(video_id))? else {
        return Ok(0);
    };
    let Some((activity, signer)) = video_activity(app, &video, VideoChange::Create)? else {
        return Ok(0);
    };
    let n = send_to_followers(app, &video, &activity, &signer)?;
    if let Some(mut v) = app.store.get(&VideoKey(video_id))? {
        v.federated_at = Some(now_secs());
        app.store.put_video(&v, Durability::Sync)?;
    }
    Ok(n)
}

/// A federated local video went private or internal: `Delete` to the followers (PeerTube
/// unfederates such videos the same way), then the record says they no longer have it. The
/// caller holds the video's lock. Returns the inboxes (0 when followers never had it).
pub fn withdraw_locked(app: &App, video_id: u64) -> Result<usize, FederationError> {
    let Some(video) = app.store.get(&VideoKey(video_id))? else {
        return Ok(0);
    };
    if !video.is_local() || video.federated_at.is_none() || video.is_federated() {
        return Ok(0);
    }
    let (account, _) = video_actors(app, &video)?;
    let Some(account) = account else {
        return Ok(0);
    };
    let now = now_secs().max(video.unfederated_at.map_or(0, |t| t + 1));
    let actor = account.url(&app.public_url);
    let video_url = PublicUrls::new(&app.public_url).watch(&video.uuid);
    // One id per withdrawal: a video may go private, public and private again.
    let activity = video_delete(format!("{video_url}/delete/{now}"), actor, video_url);
    let n = send_to_followers(app, &video, &activity, &key_of_local(&account))?;
    let mut v = video;
    v.federated_at = None;
    v.unfederated_at = Some(now);
    app.store.put_video(&v, Durability::Sync)?;
    Ok(n)
}

/// At startup: queues the `Create` of local published videos whose publication was not
/// federated yet (the server stopped between publishing and queueing), and the `Delete` of
/// those that went private while their withdrawal was not queued. Returns how many.
pub fn federate_pending(app: &App) -> Result<usize, FederationError> {
    let videos: Vec<(u64, Video)> = app
        .store
        .scan::<VideoKey>(&())?
        .into_iter()
        .map(|(k, v)| (k.0, v))
        .filter(|(_, v)| v.is_local() && v.is_published())
        .collect();
    let mut n = 0;
    for (id, v) in &videos {
        if v.federated_at.is_none() && v.is_federated() {
            video_published(app, *id);
            n += 1;
        } else if v.federated_at.is_some() && !v.is_federated() {
            let _lock = app.video_locks.lock(&v.uuid);
            match withdraw_locked(app, *id) {
                Ok(inboxes) => {
                    tracing::info!(video = %v.uuid, inboxes, "federation: Delete of a video gone private queued")
                }
                Err(e) => {
                    tracing::error!(video = %v.uuid, error = %e, "federation: cannot queue the Delete of a video gone private")
                }
            }
            n += 1;
        }
    }
    Ok(n)
}

/// A local video changed: `Update` to the followers.
pub fn video_updated(app: &App, video: &Video) -> Result<usize, FederationError> {
    match video_activity(app, video, VideoChange::Update)? {
        Some((activity, signer)) => send_to_followers(app, video, &activity, &signer),
        None => Ok(0),
    }
}

/// A local video is being deleted: `Delete` to the followers (call before the owner goes).
pub fn video_deleted(app: &App, video: &Video) -> Result<usize, FederationError> {
    if video.remote.is_some() || video.published_at.is_none() {
        return Ok(0);
    }
    let (account, _) = video_actors(app, video)?;
    let Some(account) = account else {
        return Ok(0);
    };
    let actor = account.url(&app.public_url);
    let video_url = PublicUrls::new(&app.public_url).watch(&video.uuid);
    let activity = video_delete(format!("{video_url}/delete"), actor, video_url);
    send_to_followers(app, video, &activity, &key_of_local(&account))
}

/// A local actor changed (a channel's name, description or support text; an account's display
/// name): its followers get an `Update` with its new document, signed by its own key.
/// Returns the inboxes.
pub fn actor_updated(app: &App, actor: &LocalActor) -> Result<usize, FederationError> {
    let local = key_of_local(actor);
    let inboxes = follower_inboxes(app, std::slice::from_ref(&local))?;
    if inboxes.is_empty() {
        return Ok(0);
    }
    let url = actor.url(&app.public_url);
    let mut doc = super::actors::actor_json(app, actor)?;
    doc.context = None;
    let update: Update<super::protocol::actor::Actor> = Activity::new(
        format!("{url}#updates/{}", super::now_ms()),
        url.clone(),
        doc,
    )
    .with_context(activity_context())
    .with_audience(vec![PUBLIC.to_string()], vec![format!("{url}/followers")]);
    let body = ld_signed_json(app, &update, &local)?;
    let n = app
        .federation
        .deliveries
        .enqueue(&app.store, body, &local, &inboxes)?;
    tracing::info!(actor = %url, inboxes = n, "federation: Update of a local actor queued");
    Ok(n)
}

/// Local actors are going (a removed user's account and channels, or one channel): each one's
/// followers get a `Delete` of it, signed by `signer` (the account's key, or the channel's),
/// so that their instances forget it and their follows of it. Call it while the followers are
/// still recorded; the keys stay (deliveries are signed when they go). Returns the inboxes.
pub fn actors_deleted(
    app: &App,
    actors: &[LocalActor],
    signer: &LocalActor,
) -> Result<usize, FederationError> {
    let now = now_secs();
    let mut n = 0;
    for actor in actors {
        let local = key_of_local(actor);
        let inboxes = follower_inboxes(app, std::slice::from_ref(&local))?;
        if inboxes.is_empty() {
            continue;
        }
        let url = actor.url(&app.public_url);
        let delete: Delete = Activity::new(
            format!("{url}#delete/{now}"),
            url.clone(),
            ObjectRef::Id(url.clone()),
        )
        .with_context(activity_context())
        .with_audience(vec![PUBLIC.to_string()], vec![format!("{url}/followers")]);
        let signer = key_of_local(signer);
        let body = ld_signed_json(app, &delete, &signer)?;
        n += app
            .federation
            .deliveries
            .enqueue(&app.store, body, &signer, &inboxes)?;
        tracing::info!(actor = %url, inboxes = inboxes.len(), "federation: Delete of a local actor queued");
    }
    Ok(n)
}

/// The `Delete` of our video `video_url` by its account `actor`, to the public and the
/// account's followers.
fn video_delete(id: String, actor: String, video_url: String) -> Delete {
    let cc = vec![format!("{actor}/followers")];
    Activity::new(id, actor, ObjectRef::Id(video_url))
        .with_context(activity_context())
        .with_audience(vec![PUBLIC.to_string()], cc)
}

/// Our instance follows `target`: records it (pending) and sends the `Follow`.
pub fn follow(app: &App, target: &RemoteActor) -> Result<Following, FederationError> {
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
        redundancy_allowed: existing.as_ref().is_some_and(|f| f.redundancy_allowed),
    };
    app.store.put(
        &FollowingKey(target.id.clone()),
        &following,
        Durability::Sync,
    )?;
    let activity: Follow = Activity::new(follow_id, instance, ObjectRef::Id(target.id.clone()))
        .with_context(activity_context());
    app.federation.deliveries.enqueue(
        &app.store,
        to_json(&activity)?,
        "instance",
        std::slice::from_ref(&target.inbox),
    )?;
    tracing::info!(target = %target.id, "federation: Follow sent");
    Ok(following)
}

/// What a local user reported on another instance, as [`flag`] sends it.
#[derive(Debug, Clone)]
pub struct RemoteReport {
    /// The report's id here (the Flag's id is `<public>/admin/abuses/<id>`, as PeerTube's).
    pub abuse_id: u64,
    /// The reporter's user name.
    pub reporter: String,
    /// The reported object: a video's or comment's URL, or an account's actor id.
    pub object: String,
    /// The actor id of the account whose object it is.
    pub flagged: String,
    /// The reason.
    pub reason: String,
    /// PeerTube's predefined reason names.
    pub predefined: Vec<String>,
    /// The reported part of a video (seconds).
    pub start_at: Option<u64>,
    /// Its end.
    pub end_at: Option<u64>,
}

/// A local user's report of another instance's video, comment or account goes to that
/// instance as a `Flag` (PeerTube's `sendAbuse`): by the reporter's account, to the flagged
/// account, unicast to its shared inbox (or its inbox). Nothing is sent when the flagged
/// actor was never fetched (there is no inbox to send to); returns the deliveries queued.
pub fn flag(app: &App, report: &RemoteReport) -> Result<usize, FederationError> {
    let Some(target) = app.store.get(&RemoteActorKey(report.flagged.clone()))? else {
        tracing::warn!(actor = %report.flagged, abuse = report.abuse_id, "federation: Flag not sent, the flagged actor is unknown");
        return Ok(0);
    };
    let reporter = LocalActor::Account(report.reporter.to_lowercase());
    let mut activity = serde_json::json!({
        "@context": activity_context(),
        "id": format!("{}/admin/abuses/{}", app.public_url, report.abuse_id),
        "type": "Flag",
        "actor": reporter.url(&app.public_url),
        "to": [report.flagged],
        "object": [report.object],
        "content": report.reason,
        "tag": report.predefined.iter()
            .map(|r| serde_json::json!({"type": "Hashtag", "name": r}))
            .collect::<Vec<_>>(),
    });
    if let Some(s) = report.start_at {
        activity["startAt"] = s.into();
    }
    if let Some(e) = report.end_at {
        activity["endAt"] = e.into();
    }
    let inbox = target.shared_inbox.clone().unwrap_or(target.inbox.clone());
    let n = app.federation.deliveries.enqueue(
        &app.store,
        to_json(&activity)?,
        &key_of_local(&reporter),
        std::slice::from_ref(&inbox),
    )?;
    tracing::info!(abuse = report.abuse_id, object = %report.object, inbox = %inbox, "federation: Flag queued");
    Ok(n)
}

/// Our instance stops following: `Undo` of the `Follow`, and the record goes.
pub fn unfollow(
    app: &App,
    following: &Following,
    inbox: Option<&str>,
) -> Result<(), FederationError> {
    let instance = LocalActor::Instance.url(&app.public_url);
    app.store
        .delete(&FollowingKey(following.target.clone()), Durability::Sync)?;
    if let Some(inbox) = inbox {
        let follow: Follow = Activity::new(
            following.follow_id.clone(),
            instance.clone(),
            ObjectRef::Id(following.target.clone()),
        );
        let activity: Undo<Follow> =
            Activity::new(format!("{}/undo", following.follow_id), instance, follow)
                .with_context(activity_context());
        app.federation.deliveries.enqueue(
            &app.store,
            to_json(&activity)?,
            "instance",
            &[inbox.to_string()],
        )?;
    }
    Ok(())
}

/// Answers a `Follow` of our `local` actor with an `Accept` or a `Reject`.
pub fn answer_follow(
    ctx: &super::receive::FedContext<'_>,
    local: &LocalActor,
    follow: &Follow,
    follower: &RemoteActor,
    accept: bool,
) -> Result<(), FederationError> {
    let actor = local.url(ctx.public_url);
    let follow_id = follow.id.as_str();
    // The Follow as we understood it: by the follower, of our actor.
    let answered: Follow =
        Activity::new(follow_id, follower.id.clone(), ObjectRef::Id(actor.clone()));
    let hash = hex::encode(sha2_short(follow_id));
    let json = if accept {
        let id = format!("{}/accepts/follows/{hash}", ctx.public_url);
        let a: Accept<Follow> = Activity::new(id, actor, answered).with_context(activity_context());
        to_json(&a)?
    } else {
        let id = format!("{}/rejects/follows/{hash}", ctx.public_url);
        let r: Reject<Follow> = Activity::new(id, actor, answered).with_context(activity_context());
        to_json(&r)?
    };
    ctx.deliveries.enqueue(
        ctx.store,
        json,
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
pub fn paged_collection<T>(base: &str, page: Option<usize>, items: Vec<T>) -> Paged<T> {
    paged(base, page, items, activity_context())
}

/// An item of an outbox: the instance's `Announce` of a video, or an account's or channel's
/// `Create` of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OutboxItem {
    /// The instance actor shares a video.
    Announce(Announce),
    /// An account or channel published a video.
    Video(Box<VideoActivity>),
}

/// The outbox of a local actor, newest first: `Create` activities of an account's or channel's
/// public published videos; for the instance actor, an `Announce` of every public local video
/// (as PeerTube's server actor shares them), which is what a newly following instance crawls.
pub fn outbox_items(app: &App, local: &LocalActor) -> Result<Vec<OutboxItem>, FederationError> {
    let mut videos: Vec<Video> = app
        .store
        .scan::<VideoKey>(&())?
        .into_iter()
        .map(|(_, v)| v)
        .filter(|v| v.is_local() && v.is_listed())
        .collect();
    videos.sort_by_key(|v| std::cmp::Reverse(v.published_at));
    if *local == LocalActor::Instance {
        let actor = LocalActor::Instance.url(&app.public_url);
        return Ok(videos
            .iter()
            .map(|v| {
                let url = PublicUrls::new(&app.public_url).watch(&v.uuid);
                let id = format!("{url}/announces/{}", hex::encode(sha2_short(&actor)));
                OutboxItem::Announce(
                    Activity::new(id, actor.clone(), ObjectRef::Id(url)).with_audience(
                        vec![PUBLIC.to_string()],
                        vec![format!("{actor}/followers")],
                    ),
                )
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
        if let Some((a, _)) = video_activity(app, v, VideoChange::Create)? {
            items.push(OutboxItem::Video(Box::new(a.without_context())));
        }
    }
    Ok(items)
}

/// Items of `followers` (follower ids) or `following` (followed ids, the instance only).
pub fn follow_items(
    app: &App,
    local: &LocalActor,
    which: &str,
) -> Result<Vec<String>, FederationError> {
    let key = key_of_local(local);
    if which == "followers" {
        return Ok(followers_of(&app.store, &key)?
            .into_iter()
            .filter(|f| f.state == FollowState::Accepted)
            .map(|f| f.actor)
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
        .map(|(_, f)| f.target)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

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
        // The typed Video object carries every field of this document, with the same values.
        let typed: video::Video = serde_json::from_value(object.clone()).unwrap();
        assert_eq!(serde_json::to_value(&typed).unwrap(), object);
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
