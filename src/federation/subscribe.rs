//! A local user's subscription to another instance's channel, sent as PeerTube sends it: the
//! user's account actor (`Person`) follows the channel actor (`Group`) with a `Follow`, signed
//! by the account's key, and stops with an `Undo` of it. The channel's answer (`Accept` or
//! `Reject`) is taken by [`super::receive`], which finds the subscription by the Follow's id.

use super::discovery::LocalActor;
use super::protocol::activity::{Activity, Follow, Undo};
use super::protocol::ObjectRef;
use super::{key_of_local, now_ms, outbox::activity_context, FederationError};
use crate::app::App;

/// The account actor of the local user `username`.
fn account(username: &str) -> LocalActor {
    LocalActor::Account(username.to_lowercase())
}

/// A new id for a `Follow` of `channel` by `username`'s account: receivers drop ids they have
/// seen, so a subscription after an unsubscription must not reuse the old one.
pub fn new_follow_id(app: &App, username: &str, channel: &str) -> String {
    use sha2::Digest;
    let actor = account(username).url(&app.public_url);
    let hash = hex::encode(&sha2::Sha256::digest(channel.as_bytes())[..8]);
    format!("{actor}/follows/{hash}-{}", now_ms())
}

fn follow_activity(app: &App, username: &str, channel: &str, follow_id: &str) -> Follow {
    Activity::new(
        follow_id.to_string(),
        account(username).url(&app.public_url),
        ObjectRef::Id(channel.to_string()),
    )
}

/// Queues `username`'s `Follow` (id `follow_id`) of the remote channel `channel` (actor id) to
/// its `inbox`. Returns the deliveries queued.
pub fn follow_channel(
    app: &App,
    username: &str,
    channel: &str,
    inbox: &str,
    follow_id: &str,
) -> Result<usize, FederationError> {
    let activity =
        follow_activity(app, username, channel, follow_id).with_context(activity_context());
    let body = serde_json::to_string(&activity)
        .map_err(|e| FederationError::internal("writing a Follow", e))?;
    let n = app.federation.deliveries.enqueue(
        &app.store,
        body,
        &key_of_local(&account(username)),
        &[inbox.to_string()],
    )?;
    tracing::info!(
        channel,
        user = username,
        "federation: Follow of a channel queued"
    );
    Ok(n)
}

/// Queues the `Undo` of `username`'s `Follow` (id `follow_id`) of `channel` to its `inbox`.
pub fn unfollow_channel(
    app: &App,
    username: &str,
    channel: &str,
    inbox: &str,
    follow_id: &str,
) -> Result<usize, FederationError> {
    let actor = account(username).url(&app.public_url);
    let undo: Undo<Follow> = Activity::new(
        format!("{follow_id}/undo"),
        actor,
        follow_activity(app, username, channel, follow_id),
    )
    .with_context(activity_context());
    let body = serde_json::to_string(&undo)
        .map_err(|e| FederationError::internal("writing an Undo", e))?;
    let n = app.federation.deliveries.enqueue(
        &app.store,
        body,
        &key_of_local(&account(username)),
        &[inbox.to_string()],
    )?;
    tracing::info!(
        channel,
        user = username,
        "federation: Undo of a channel Follow queued"
    );
    Ok(n)
}
