//! Comments over ActivityPub, as PeerTube federates them: a comment written here goes out as a
//! `Create` of a `Note` (a deletion as a `Delete` of its id) to the followers of the video's
//! actors when the video is ours, to the video's origin when it is another instance's, and to
//! the author's followers; a received `Note` answering a video we have (or a comment we have)
//! is stored under it, unless the video's policy refuses comments.

use super::discovery::LocalActor;
use super::protocol::activity::{Activity, Create, Delete};
use super::protocol::note::{Note, NoteType};
use super::protocol::ObjectRef;
use super::receive::FedContext;
use super::{key_of_local, outbox, remote, FederationError, PUBLIC};
use crate::app::{host_of, App};
use crate::store::comments::NewComment;
use crate::store::federation::RemoteVideoUrlKey;
use crate::store::tables::{ChannelKey, User, UserKey};
use crate::store::videos::VideoKey;
use crate::time::{iso8601, now_secs};
use crate::video::comment::{Comment, CommentAuthor};
use crate::video::urls::PublicUrls;
use crate::video::{CommentsPolicy, Video};

/// The `Note` of one of our comments.
pub fn note(app: &App, video: &Video, comment: &Comment) -> Result<Note, FederationError> {
    let in_reply_to = match comment.in_reply_to {
        None => video_url(app, video),
        Some(p) => app
            .store
            .get(&crate::store::comments::CommentKey {
                video_id: video.id,
                id: p,
            })?
            .map(|c| c.url)
            .ok_or_else(|| FederationError::Refused(format!("parent comment {p} is gone")))?,
    };
    Ok(Note {
        id: comment.url.clone(),
        kind: NoteType::Kind,
        content: comment.text.clone(),
        media_type: Some("text/markdown".into()),
        in_reply_to,
        published: iso8601(comment.created_at),
        updated: iso8601(comment.updated_at),
        url: Some(comment.url.clone()),
        attributed_to: comment.author.actor.clone(),
        to: Some(vec![PUBLIC.to_string()]),
        cc: Some(vec![format!("{}/followers", comment.author.actor)]),
    })
}

fn video_url(app: &App, video: &Video) -> String {
    match &video.remote {
        Some(r) => r.url.clone(),
        None => PublicUrls::new(&app.public_url).watch(&video.uuid),
    }
}

/// Where activities about `video`'s comments by `author` (a local account key) go: the
/// followers of the video's actors (ours) or its origin's inbox (another instance's), and the
/// author's followers.
fn inboxes(app: &App, video: &Video, author: &str) -> Result<Vec<String>, FederationError> {
    let mut locals = vec![author.to_string()];
    let mut extra = Vec::new();
    match &video.remote {
        None => {
            locals.push("instance".into());
            if let Some(u) = app.store.get(&UserKey(video.owner))? {
                locals.push(key_of_local(&LocalActor::Account(
                    u.username.to_lowercase(),
                )));
            }
            if let Some(c) = app.store.get(&ChannelKey(video.channel_id))? {
                locals.push(key_of_local(&LocalActor::Channel(c.name)));
            }
        }
        Some(r) => {
            let (origin, _) = remote::actor(
                &app.federation,
                &app.store,
                &app.public_url,
                &r.account,
                false,
            )?;
            extra.push(origin.delivery_inbox().to_string());
        }
    }
    let mut all = outbox::follower_inboxes(app, &locals)?;
    for i in extra {
        if !all.contains(&i) {
            all.push(i);
        }
    }
    Ok(all)
}

fn send(app: &App, video: &Video, json: String, signer: &str) -> Result<usize, FederationError> {
    if !video.is_federated() {
        return Ok(0);
    }
    let to = inboxes(app, video, signer)?;
    Ok(app
        .federation
        .deliveries
        .enqueue(&app.store, json, signer, &to)?)
}

fn to_json<T: serde::Serialize>(a: &T) -> Result<String, FederationError> {
    serde_json::to_string(a).map_err(|e| FederationError::internal("writing an activity", e))
}

/// `author` wrote `comment` here: `Create` of its `Note`. Failures are logged (the comment is
/// stored either way).
pub fn created(app: &App, video: &Video, comment: &Comment, author: &User) {
    let result = (|| -> Result<usize, FederationError> {
        let local = LocalActor::Account(author.username.to_lowercase());
        let actor = local.url(&app.public_url);
        let object = note(app, video, comment)?;
        let (to, cc) = (object.to.clone(), object.cc.clone());
        let activity: Create<Note> =
            Activity::new(format!("{}/activity", comment.url), actor, object)
                .with_context(super::protocol::context::activity())
                .with_audience(to.unwrap_or_default(), cc.unwrap_or_default());
        send(app, video, to_json(&activity)?, &key_of_local(&local))
    })();
    match result {
        Ok(n) => tracing::info!(
            comment = comment.id,
            inboxes = n,
            "federation: Create Note queued"
        ),
        Err(e) => {
            tracing::error!(comment = comment.id, error = %e, "federation: cannot queue the Create Note")
        }
    }
}

/// `comment` was deleted here: `Delete` of its id, by its author when local, else by the
/// video's owner. Failures are logged.
pub fn deleted(app: &App, video: &Video, comment: &Comment) {
    let result = (|| -> Result<usize, FederationError> {
        let user = match comment.author.user {
            Some(u) => app.store.get(&UserKey(u))?,
            None if video.remote.is_none() => app.store.get(&UserKey(video.owner))?,
            None => None,
        };
        let Some(user) = user else { return Ok(0) };
        let local = LocalActor::Account(user.username.to_lowercase());
        let actor = local.url(&app.public_url);
        let activity: Delete = Activity::new(
            format!("{}/delete", comment.url),
            actor.clone(),
            ObjectRef::Id(comment.url.clone()),
        )
        .with_context(super::protocol::context::activity())
        .with_audience(vec![PUBLIC.to_string()], vec![format!("{actor}/followers")]);
        send(app, video, to_json(&activity)?, &key_of_local(&local))
    })();
    match result {
        Ok(n) => tracing::info!(
            comment = comment.id,
            inboxes = n,
            "federation: Delete Note queued"
        ),
        Err(e) => {
            tracing::error!(comment = comment.id, error = %e, "federation: cannot queue the Delete Note")
        }
    }
}

/// A received `Note`, checked: what it answers, found here.
#[derive(Debug)]
pub struct IncomingNote {
    /// The comment to store.
    pub comment: NewComment,
}

/// The video (and parent comment) a URL names here: our video's AP id, a remote video we
/// keep, or a comment we have.
fn answered(
    ctx: &FedContext<'_>,
    url: &str,
) -> Result<Option<(Video, Option<Comment>)>, FederationError> {
    let watch = format!("{}/videos/watch/", ctx.public_url);
    if let Some(uuid) = url.strip_prefix(&watch) {
        if !uuid.contains('/') {
            return Ok(ctx.store.video_by_uuid(uuid)?.map(|v| (v, None)));
        }
    }
    if let Some(id) = ctx.store.get(&RemoteVideoUrlKey(url.to_string()))? {
        return Ok(ctx.store.get(&VideoKey(id))?.map(|v| (v, None)));
    }
    if let Some(parent) = ctx.store.comment_by_url(url)? {
        return Ok(ctx
            .store
            .get(&VideoKey(parent.video_id))?
            .map(|v| (v, Some(parent))));
    }
    Ok(None)
}

/// Checks a received `Note` sent by `actor`: its author and id are on the actor's host, it
/// answers a video we have (or one of its comments) whose policy takes comments, and it is new.
/// `Ok(None)`: nothing to do (the word says why).
pub fn verify_note(
    ctx: &FedContext<'_>,
    actor: &str,
    note: Note,
) -> Result<Result<IncomingNote, &'static str>, FederationError> {
    if host_of(&note.attributed_to) != host_of(actor) || host_of(&note.id) != host_of(actor) {
        return Err(FederationError::Refused(format!(
            "{actor} cannot create Note {} attributed to {}",
            note.id, note.attributed_to
        )));
    }
    if ctx.store.comment_by_url(&note.id)?.is_some() {
        return Ok(Err("already known"));
    }
    let Some((video, parent)) = answered(ctx, &note.in_reply_to)? else {
        return Ok(Err("ignored (Note answers nothing we have)"));
    };
    if video.is_local() && video.comments_policy != CommentsPolicy::Enabled {
        return Err(FederationError::Refused(format!(
            "video {} does not take comments",
            video.uuid
        )));
    }
    if !video.is_federated() {
        return Ok(Err("ignored (the video is not federated)"));
    }
    if parent.as_ref().is_some_and(|p| p.deleted_at.is_some()) {
        return Ok(Err("ignored (the parent comment is deleted)"));
    }
    if note.content.trim().is_empty() {
        return Ok(Err("ignored (empty Note)"));
    }
    let created_at = crate::time::parse_iso8601(&note.published).unwrap_or_else(now_secs);
    Ok(Ok(IncomingNote {
        comment: NewComment {
            video_id: video.id,
            in_reply_to: parent.map(|p| p.id),
            url: Some(note.id),
            text: note.content,
            author: CommentAuthor {
                user: None,
                actor: note.attributed_to,
            },
            created_at,
        },
    }))
}

/// Stores a verified `Note`.
pub fn receive_note(
    ctx: &FedContext<'_>,
    n: IncomingNote,
) -> Result<&'static str, FederationError> {
    ctx.store.add_comment(n.comment, |_| String::new())?;
    Ok("comment stored")
}

/// A `Delete` of the comment `url` by `actor`: allowed to the comment's author's host, or to
/// the video's origin.
pub fn verify_delete(
    ctx: &FedContext<'_>,
    actor: &str,
    url: &str,
) -> Result<Option<Comment>, FederationError> {
    let Some(comment) = ctx.store.comment_by_url(url)? else {
        return Ok(None);
    };
    let video = ctx.store.get(&VideoKey(comment.video_id))?;
    let origin = video
        .as_ref()
        .and_then(|v| v.remote.as_ref())
        .map(|r| r.host.clone());
    let host = host_of(actor);
    if host != host_of(&comment.author.actor) && Some(&host) != origin.as_ref() {
        return Err(FederationError::Refused(format!(
            "{actor} cannot delete comment {url}"
        )));
    }
    Ok(Some(comment))
}

/// Deletes a comment as its `Delete` asked.
pub fn receive_delete(ctx: &FedContext<'_>, c: Comment) -> Result<&'static str, FederationError> {
    ctx.store.delete_comment(&c, now_secs())?;
    Ok("comment deleted")
}
