//! What a received activity does. The inbox queue's processor parses each stored activity into
//! an [`InboxActivity`] and dispatches on it; each kind is first verified ([`Handle::verify`]:
//! may its actor do this, is its object what it claims, is it of interest to us) and then
//! applied ([`Handle::receive`]). Handlers get a [`FedContext`] (the store, our URLs, the
//! federation settings, client and delivery queue), not the whole application.

use super::discovery::LocalActor;
use super::protocol::activity::{
    Accept, Announce, Create, Delete, Follow, InboxActivity, Reject, Undo, Update,
};
use super::protocol::{id_of, ObjectRef, ProtocolError};
use super::remote::{self, ActorError};
use super::remote_videos::{self, Parsed};
use super::{delivery, http, key_of_local, local_actor_of_url, now_secs, outbox};
use super::{Federation, FederationError};
use crate::app::{host_of, App};
use crate::config::FederationConfig;
use crate::store::channel_index::ChannelRef;
use crate::store::federation::{
    FollowState, Follower, FollowerKey, FollowingKey, RemoteActor, RemoteActorKey,
    RemoteVideoUrlKey,
};
use crate::store::subscriptions::{ChannelTarget, SubscriptionFollowKey, SubscriptionRef};
use crate::store::{Batch, Durability, Store};
use serde_json::Value;

/// What handlers of received activities need.
#[derive(Clone, Copy)]
pub struct FedContext<'a> {
    /// The metadata store.
    pub store: &'a Store,
    /// Our public base URL (`https://host`).
    pub public_url: &'a str,
    /// The federation settings.
    pub config: &'a FederationConfig,
    /// Outgoing HTTP.
    pub client: &'a http::Client,
    /// The delivery queue.
    pub deliveries: &'a delivery::Queue,
    /// Remote actors' cache and local signers.
    pub federation: &'a Federation,
    /// Whose mirrors of our videos are listed (`remote_redundancy.videos.accept_from`).
    pub accept_mirrors_from: crate::config::redundancy::AcceptFrom,
    /// The data directory (`media/` holds the torrents that list mirrors as webseeds).
    pub data_dir: &'a std::path::Path,
}

impl std::fmt::Debug for FedContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FedContext")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl<'a> FedContext<'a> {
    /// The context of `app`.
    pub fn of(app: &'a App) -> FedContext<'a> {
        let fed = &*app.federation;
        FedContext {
            store: &app.store,
            public_url: &app.public_url,
            config: &fed.config,
            client: &fed.client,
            deliveries: &fed.deliveries,
            federation: fed,
            accept_mirrors_from: app.config.remote_redundancy.videos.accept_from,
            data_dir: &app.data_dir,
        }
    }

    /// The remote actor `id` (cached, or fetched when stale or when `refetch`).
    fn remote_actor(&self, id: &str, refetch: bool) -> Result<RemoteActor, ActorError> {
        remote::actor(self.federation, self.store, self.public_url, id, refetch).map(|(a, _)| a)
    }

    /// Fetches an object from its origin (signed by our instance actor); its id must be on the
    /// host it was fetched from.
    fn fetch_object(&self, url: &str) -> Result<Value, FederationError> {
        if self.federation.blocklist.actor_blocked(url) {
            return Err(FederationError::Blocked(format!(
                "{url} is on a server this instance blocks; not fetched"
            )));
        }
        let signer = self
            .federation
            .signer(self.store, self.public_url, "instance")
            .ok();
        let doc = self.client.get_json(url, signer.as_ref())?;
        let id = id_of(&doc).ok_or(ProtocolError::Missing {
            what: "fetched object",
            field: "id",
        })?;
        if host_of(id) != host_of(url) {
            return Err(FederationError::Refused(format!(
                "fetched {url} but its id {id} is on another host"
            )));
        }
        Ok(doc)
    }

    /// Whether we follow an actor on `host` (videos from hosts we do not follow are not kept).
    fn follows_host(&self, host: &str) -> Result<bool, FederationError> {
        Ok(self
            .store
            .scan::<FollowingKey>(&())?
            .iter()
            .any(|(_, f)| f.host == host && f.state != FollowState::Rejected))
    }
}

impl FedContext<'_> {
    /// Whether a local user subscribes to the channel of a remote video (its videos are then
    /// kept even when the instance follows nobody on that host).
    fn subscribed(&self, parsed: &Parsed) -> Result<bool, FederationError> {
        Ok(match &parsed.remote.channel {
            Some(c) => self.store.has_subscribers(&ChannelRef::Remote(c.clone()))?,
            None => false,
        })
    }
}

/// What verification concluded.
#[derive(Debug)]
pub enum Verified<T> {
    /// Apply it, with what verification found.
    Apply(T),
    /// Nothing to do (the word says why, for the log).
    Ignore(&'static str),
}

/// A kind of activity the inbox acts on: verified, then received.
pub trait Handle: Sized {
    /// What verification hands to [`Handle::receive`].
    type Checked;
    /// Checks that the activity may be applied, and finds what applying it needs. Changes
    /// nothing.
    fn verify(self, ctx: &FedContext<'_>) -> Result<Verified<Self::Checked>, FederationError>;
    /// Applies a verified activity. Returns a word for the log.
    fn receive(
        checked: Self::Checked,
        ctx: &FedContext<'_>,
    ) -> Result<&'static str, FederationError>;
}

pub(crate) fn run<H: Handle>(
    activity: H,
    ctx: &FedContext<'_>,
) -> Result<&'static str, FederationError> {
    match activity.verify(ctx)? {
        Verified::Apply(c) => H::receive(c, ctx),
        Verified::Ignore(why) => Ok(why),
    }
}

/// Applies one verified (signed) activity. Returns a word for the log.
pub fn process(ctx: &FedContext<'_>, act: &Value) -> Result<&'static str, FederationError> {
    // Mirrors are kept whole: they are forwarded as they came (signature included).
    if let Some(a) = super::cache_files::CacheFileActivity::of(act) {
        return run(a, ctx);
    }
    match InboxActivity::parse(act)? {
        InboxActivity::Follow(a) => run(a, ctx),
        InboxActivity::Undo(a) => run(a, ctx),
        InboxActivity::Accept(a) => run(a, ctx),
        InboxActivity::Reject(a) => run(a, ctx),
        InboxActivity::Create(a) => run(a, ctx),
        InboxActivity::Update(a) => run(a, ctx),
        InboxActivity::Announce(a) => run(a, ctx),
        InboxActivity::Flag(a) => run(a, ctx),
        InboxActivity::Delete(a) => run(a, ctx),
        InboxActivity::Other { .. } => Ok("ignored (type not handled)"),
    }
}

impl Handle for Follow {
    type Checked = (Follow, LocalActor);

    fn verify(self, ctx: &FedContext<'_>) -> Result<Verified<Self::Checked>, FederationError> {
        let target = self.object.id().ok_or(ProtocolError::Missing {
            what: "Follow",
            field: "object id",
        })?;
        let not_ours = || FederationError::Refused(format!("{target} is not one of our actors"));
        let local = local_actor_of_url(ctx.public_url, target).ok_or_else(not_ours)?;
        if !super::discovery::exists(ctx.store, &local)? {
            return Err(not_ours());
        }
        Ok(Verified::Apply((self, local)))
    }

    fn receive(
        (follow, local): Self::Checked,
        ctx: &FedContext<'_>,
    ) -> Result<&'static str, FederationError> {
        let follower = ctx.remote_actor(follow.actor_id(), false)?;
        let accept = ctx.config.auto_accept_follows;
        if accept {
            let local_key = key_of_local(&local);
            let key = FollowerKey::of(&local_key, &follower.id);
            let record = Follower {
                local: local_key,
                actor: follower.id.clone(),
                host: follower.host.clone(),
                inbox: follower.delivery_inbox().to_string(),
                follow_id: follow.id.clone(),
                state: FollowState::Accepted,
                created_at: now_secs(),
            };
            ctx.store.put(&key, &record, Durability::Sync)?;
        }
        outbox::answer_follow(ctx, &local, &follow, &follower, accept)?;
        Ok(if accept {
            "follow accepted"
        } else {
            "follow rejected"
        })
    }
}

impl Handle for Undo {
    /// The unfollower, the undone Follow's id, and the local actor it followed (when named).
    type Checked = (String, String, Option<String>);

    fn verify(self, ctx: &FedContext<'_>) -> Result<Verified<Self::Checked>, FederationError> {
        if !matches!(self.object.kind(), Some("Follow") | Some("") | None) {
            return Ok(Verified::Ignore("ignored (undo of a type not handled)"));
        }
        let undone_id = self.object.id().unwrap_or_default().to_string();
        let target = self
            .object
            .get("object")
            .and_then(id_of)
            .and_then(|t| local_actor_of_url(ctx.public_url, t))
            .map(|l| key_of_local(&l));
        Ok(Verified::Apply((
            self.actor_id().to_string(),
            undone_id,
            target,
        )))
    }

    fn receive(
        (actor, undone_id, target): Self::Checked,
        ctx: &FedContext<'_>,
    ) -> Result<&'static str, FederationError> {
        let mut batch = Batch::default();
        let mut n = 0;
        for (k, f) in ctx.store.scan::<FollowerKey>(&())? {
            let target_matches = target.as_ref().is_some_and(|t| *t == f.local);
            if f.actor == actor && (f.follow_id == undone_id || target_matches) {
                batch.delete(ctx.store, &k);
                n += 1;
            }
        }
        ctx.store.write(batch, Durability::Sync)?;
        Ok(if n > 0 {
            "unfollowed"
        } else {
            "unknown follow"
        })
    }
}

/// An `Accept` or `Reject` of one of our follows, and whether accepted.
pub enum Answer {
    /// Of our instance's follow of `actor` (the follow record).
    Instance(String, crate::store::federation::Following, bool),
    /// Of a local user's subscription to the channel `actor`.
    Subscription(String, SubscriptionRef, bool),
}

fn verify_answer(
    ctx: &FedContext<'_>,
    actor: &str,
    object: &ObjectRef,
    accepted: bool,
) -> Result<Verified<Answer>, FederationError> {
    let follow_id = object.id().unwrap_or_default();
    let instance = ctx.store.get(&FollowingKey(actor.to_string()))?;
    if let Some(f) = &instance {
        if follow_id.is_empty() || f.follow_id == follow_id {
            return Ok(Verified::Apply(Answer::Instance(
                actor.to_string(),
                f.clone(),
                accepted,
            )));
        }
    }
    // A user's subscription: its Follow was sent by their account, and only the followed
    // channel may answer it.
    if !follow_id.is_empty() {
        if let Some(r) = ctx
            .store
            .get(&SubscriptionFollowKey(follow_id.to_string()))?
        {
            let sub = ctx.store.subscription(r.user, &r.handle)?;
            let target = sub.as_ref().map(|s| &s.channel);
            if target != Some(&ChannelTarget::Remote(actor.to_string())) {
                return Err(FederationError::Refused(format!(
                    "{actor} answers {follow_id}, a follow of another actor"
                )));
            }
            return Ok(Verified::Apply(Answer::Subscription(
                actor.to_string(),
                r,
                accepted,
            )));
        }
    }
    match instance {
        Some(f) => Err(FederationError::Refused(format!(
            "answer to {follow_id}, not to our follow {}",
            f.follow_id
        ))),
        None => Ok(Verified::Ignore("ignored (we do not follow that actor)")),
    }
}

fn receive_answer(answer: Answer, ctx: &FedContext<'_>) -> Result<&'static str, FederationError> {
    let (actor, accepted) = match answer {
        Answer::Instance(actor, mut f, accepted) => {
            f.state = if accepted {
                FollowState::Accepted
            } else {
                FollowState::Rejected
            };
            f.updated_at = now_secs();
            ctx.store
                .put(&FollowingKey(actor.clone()), &f, Durability::Sync)?;
            (actor, accepted)
        }
        Answer::Subscription(actor, r, accepted) => {
            let Some(mut sub) = ctx.store.subscription(r.user, &r.handle)? else {
                return Ok("ignored (subscription gone)");
            };
            sub.state = if accepted {
                FollowState::Accepted
            } else {
                FollowState::Rejected
            };
            ctx.store.put_subscription(r.user, &sub)?;
            (actor, accepted)
        }
    };
    if !accepted {
        return Ok("our follow was rejected");
    }
    // As PeerTube does: take what the followed actor already published, from its outbox.
    match crawl_outbox(ctx, &actor) {
        Ok(n) => tracing::info!(
            actor,
            videos = n,
            "federation: crawled the outbox of a new following"
        ),
        Err(e) => {
            tracing::warn!(actor, error = %e, "federation: cannot crawl the outbox of a new following")
        }
    }
    Ok("our follow was accepted")
}

impl Handle for Accept {
    type Checked = Answer;

    fn verify(self, ctx: &FedContext<'_>) -> Result<Verified<Answer>, FederationError> {
        verify_answer(ctx, self.actor_id(), &self.object, true)
    }

    fn receive(c: Answer, ctx: &FedContext<'_>) -> Result<&'static str, FederationError> {
        receive_answer(c, ctx)
    }
}

impl Handle for Reject {
    type Checked = Answer;

    fn verify(self, ctx: &FedContext<'_>) -> Result<Verified<Answer>, FederationError> {
        verify_answer(ctx, self.actor_id(), &self.object, false)
    }

    fn receive(c: Answer, ctx: &FedContext<'_>) -> Result<&'static str, FederationError> {
        receive_answer(c, ctx)
    }
}

/// Pages of a followed actor's outbox read after our follow is accepted.
const OUTBOX_PAGES: usize = 20;

/// Reads `actor`'s outbox (up to [`OUTBOX_PAGES`] pages) and applies its `Create` and
/// `Announce` of videos, as PeerTube does after a follow. Returns how many videos it stored.
fn crawl_outbox(ctx: &FedContext<'_>, actor: &str) -> Result<usize, FederationError> {
    let remote = ctx.remote_actor(actor, false)?;
    let Some(outbox) = remote.outbox else {
        return Ok(0);
    };
    let signer = ctx
        .federation
        .signer(ctx.store, ctx.public_url, "instance")
        .ok();
    let root = ctx.client.get_json(&outbox, signer.as_ref())?;
    let mut next = match root.get("first") {
        Some(Value::String(u)) => Some(u.clone()),
        Some(page @ Value::Object(_)) => {
            return Ok(apply_page(ctx, actor, page));
        }
        _ => None,
    };
    let mut stored = apply_page(ctx, actor, &root);
    for _ in 0..OUTBOX_PAGES {
        let Some(url) = next.take() else { break };
        if host_of(&url) != remote.host {
            return Err(FederationError::Refused(format!(
                "outbox page {url} is on another host"
            )));
        }
        let page = ctx.client.get_json(&url, signer.as_ref())?;
        stored += apply_page(ctx, actor, &page);
        next = page.get("next").and_then(id_of).map(str::to_string);
    }
    Ok(stored)
}

fn apply_page(ctx: &FedContext<'_>, owner: &str, page: &Value) -> usize {
    let items = page
        .get("orderedItems")
        .or_else(|| page.get("items"))
        .and_then(|i| i.as_array())
        .cloned()
        .unwrap_or_default();
    let mut stored = 0;
    for item in items {
        let kind = item
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or_default();
        let item_actor = item.get("actor").and_then(id_of).unwrap_or_default();
        // Activities found by crawling count only when their actor is on the outbox's host
        // (PeerTube's rule); the objects themselves are fetched from their origin.
        if host_of(item_actor) != host_of(owner) || !matches!(kind, "Create" | "Announce") {
            continue;
        }
        let Some(url) = item.get("object").and_then(id_of).map(str::to_string) else {
            continue;
        };
        let known = ctx
            .store
            .get(&RemoteVideoUrlKey(url.clone()))
            .ok()
            .flatten()
            .is_some();
        if known {
            continue;
        }
        let result = ctx.fetch_object(&url).and_then(|doc| {
            if doc.get("type").and_then(|t| t.as_str()) != Some("Video") {
                return Ok(false);
            }
            let parsed = remote_videos::parse(&doc, item_actor)?;
            remote_videos::upsert(ctx.store, parsed).map(|_| true)
        });
        match result {
            Ok(true) => stored += 1,
            Ok(false) => {}
            Err(e) => tracing::info!(video = %url, error = %e, "federation: outbox item not taken"),
        }
    }
    stored
}

/// What a `Create` or `Update` brings.
#[derive(Debug)]
pub enum Brought {
    /// A video to store (created or updated).
    Video(Box<Parsed>, &'static str),
    /// The actor changed: refetch it.
    Actor(String),
    /// A comment on a video we have.
    Note(Box<super::comments::IncomingNote>),
}

fn verify_create_update(
    ctx: &FedContext<'_>,
    actor: &str,
    object: ObjectRef,
    kind: &'static str,
) -> Result<Verified<Brought>, FederationError> {
    let object = match object {
        ObjectRef::Id(url) => ctx.fetch_object(&url)?,
        ObjectRef::Object(o) => o,
    };
    match object.get("type").and_then(|t| t.as_str()) {
        Some("Video") => {}
        Some("Note") if kind == "Create" => {
            let note = super::protocol::note::Note::parse(&object)?;
            return Ok(match super::comments::verify_note(ctx, actor, note)? {
                Ok(n) => Verified::Apply(Brought::Note(Box::new(n))),
                Err(why) => Verified::Ignore(why),
            });
        }
        Some(t) if remote::ACTOR_TYPES.contains(&t) && kind == "Update" => {
            let id = id_of(&object).unwrap_or_default();
            if id != actor {
                return Err(FederationError::Refused(format!(
                    "{actor} cannot update actor {id}"
                )));
            }
            return Ok(Verified::Apply(Brought::Actor(actor.to_string())));
        }
        _ => return Ok(Verified::Ignore("ignored (object type not handled)")),
    }
    let parsed = remote_videos::parse(&object, actor)?;
    if host_of(actor) != parsed.remote.host {
        return Err(FederationError::Refused(format!(
            "{actor} cannot {kind} video {} of another host",
            parsed.remote.url
        )));
    }
    if !ctx.follows_host(&parsed.remote.host)? && !ctx.subscribed(&parsed)? {
        return Ok(Verified::Ignore(
            "ignored (we follow nobody on that host and nobody here subscribes to its channel)",
        ));
    }
    let done = if kind == "Create" {
        "video created"
    } else {
        "video updated"
    };
    Ok(Verified::Apply(Brought::Video(Box::new(parsed), done)))
}

fn receive_brought(b: Brought, ctx: &FedContext<'_>) -> Result<&'static str, FederationError> {
    match b {
        Brought::Video(parsed, done) => {
            remote_videos::upsert(ctx.store, *parsed)?;
            Ok(done)
        }
        Brought::Actor(id) => {
            ctx.remote_actor(&id, true)?;
            Ok("actor refreshed")
        }
        Brought::Note(n) => super::comments::receive_note(ctx, *n),
    }
}

impl Handle for Create {
    type Checked = Brought;

    fn verify(self, ctx: &FedContext<'_>) -> Result<Verified<Brought>, FederationError> {
        let actor = self.actor_id().to_string();
        verify_create_update(ctx, &actor, self.object, "Create")
    }

    fn receive(b: Brought, ctx: &FedContext<'_>) -> Result<&'static str, FederationError> {
        receive_brought(b, ctx)
    }
}

impl Handle for Update {
    type Checked = Brought;

    fn verify(self, ctx: &FedContext<'_>) -> Result<Verified<Brought>, FederationError> {
        let actor = self.actor_id().to_string();
        verify_create_update(ctx, &actor, self.object, "Update")
    }

    fn receive(b: Brought, ctx: &FedContext<'_>) -> Result<&'static str, FederationError> {
        receive_brought(b, ctx)
    }
}

impl Handle for Announce {
    type Checked = Box<Parsed>;

    fn verify(self, ctx: &FedContext<'_>) -> Result<Verified<Box<Parsed>>, FederationError> {
        let actor = self.actor_id();
        let url = self.object.id().ok_or(ProtocolError::Missing {
            what: "Announce",
            field: "object",
        })?;
        if ctx
            .store
            .get(&RemoteVideoUrlKey(url.to_string()))?
            .is_some()
        {
            return Ok(Verified::Ignore("already known"));
        }
        if !ctx.follows_host(&host_of(actor))? && !ctx.follows_host(&host_of(url))? {
            return Ok(Verified::Ignore(
                "ignored (we follow neither the announcer's nor the video's host)",
            ));
        }
        // Always fetch from the origin: an inline copy from a third party is not trusted.
        let doc = ctx.fetch_object(url)?;
        if doc.get("type").and_then(|t| t.as_str()) != Some("Video") {
            return Ok(Verified::Ignore(
                "ignored (announced object is not a Video)",
            ));
        }
        Ok(Verified::Apply(Box::new(remote_videos::parse(
            &doc, actor,
        )?)))
    }

    fn receive(parsed: Box<Parsed>, ctx: &FedContext<'_>) -> Result<&'static str, FederationError> {
        remote_videos::upsert(ctx.store, *parsed)?;
        Ok("announced video stored")
    }
}

/// What a `Delete` removes.
#[derive(Debug)]
pub enum Deleted {
    /// The actor itself.
    Actor(String),
    /// A remote video (its id).
    Video(String),
    /// A comment.
    Comment(Box<crate::video::comment::Comment>),
}

impl Handle for Delete {
    type Checked = Deleted;

    fn verify(self, ctx: &FedContext<'_>) -> Result<Verified<Deleted>, FederationError> {
        let actor = self.actor_id();
        let id = self.object.id().ok_or(ProtocolError::Missing {
            what: "Delete",
            field: "object",
        })?;
        if id == actor {
            return Ok(Verified::Apply(Deleted::Actor(actor.to_string())));
        }
        if let Some(c) = super::comments::verify_delete(ctx, actor, id)? {
            return Ok(Verified::Apply(Deleted::Comment(Box::new(c))));
        }
        let Some(vid) = ctx.store.get(&RemoteVideoUrlKey(id.to_string()))? else {
            return Ok(Verified::Ignore("ignored (unknown object)"));
        };
        let video = ctx.store.get(&crate::store::videos::VideoKey(vid))?;
        let owner_host = video
            .as_ref()
            .and_then(|v| v.remote.as_ref())
            .map(|r| r.host.clone())
            .unwrap_or_default();
        if host_of(actor) != owner_host {
            return Err(FederationError::Refused(format!(
                "{actor} cannot delete {id} of {owner_host}"
            )));
        }
        Ok(Verified::Apply(Deleted::Video(id.to_string())))
    }

    fn receive(d: Deleted, ctx: &FedContext<'_>) -> Result<&'static str, FederationError> {
        match d {
            Deleted::Actor(id) => {
                forget_actor(ctx.store, &id)?;
                Ok("actor deleted")
            }
            Deleted::Video(id) => {
                remote_videos::remove(ctx.store, &id)?;
                Ok("video deleted")
            }
            Deleted::Comment(c) => super::comments::receive_delete(ctx, *c),
        }
    }
}

/// Drops a remote actor that deleted itself: its cached record and its follows.
pub fn forget_actor(store: &Store, id: &str) -> Result<(), FederationError> {
    let mut batch = Batch::default();
    batch.delete(store, &RemoteActorKey(id.to_string()));
    for (k, f) in store.scan::<FollowerKey>(&())? {
        if f.actor == id {
            batch.delete(store, &k);
        }
    }
    batch.delete(store, &FollowingKey(id.to_string()));
    store.write(batch, Durability::Sync)?;
    tracing::info!(
        actor = id,
        "federation: remote actor deleted itself; forgotten"
    );
    Ok(())
}
