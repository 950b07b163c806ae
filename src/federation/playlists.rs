//! Our playlists in ActivityPub, as PeerTube has them (reference §1.8): the `Playlist` object
//! (an ordered collection of `PlaylistElement` URLs, paged like any collection) served at
//! `/video-playlists/{uuid}`, each element at `/video-playlists/{uuid}/videos/{id}`, the
//! `playlists` collection every actor document names, and the `Create`/`Update`/`Delete` of a
//! public or unlisted playlist to the followers of its owner, its channel and the instance
//! (private and watch-later playlists are never sent). Remote playlists are not stored.

use super::actors::{activity_json, PageQuery};
use super::discovery::LocalActor;
use super::outbox::{activity_context, deliver_to_followers};
use super::protocol::activity::{Activity, Create, Delete, Update};
use super::protocol::ObjectRef;
use super::{key_of_local, FederationError, PUBLIC};
use crate::app::{App, SharedApp};
use crate::store::tables::{ChannelByNameKey, ChannelKey, UserByNameKey, UserKey};
use crate::store::videos::VideoKey;
use crate::store::StoreError;
use crate::time::iso8601;
use crate::video::playlist::{Playlist, PlaylistElement, PlaylistPrivacy};
use crate::video::urls::PublicUrls;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{json, Value};

/// Elements per page of a `Playlist` (PeerTube's collection page size).
const PER_PAGE: usize = 10;

/// The `@context` of Playlist documents (PeerTube's Playlist context, the terms we emit).
pub fn playlist_context() -> Value {
    json!([
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        {"RsaSignature2017": "https://w3id.org/security#RsaSignature2017"},
        {
            "pt": "https://joinpeertube.org/ns#",
            "sc": "http://schema.org/",
            "Playlist": "pt:Playlist",
            "PlaylistElement": "pt:PlaylistElement",
            "position": {"@type": "sc:Number", "@id": "pt:position"},
            "startTimestamp": {"@type": "sc:Number", "@id": "pt:startTimestamp"},
            "stopTimestamp": {"@type": "sc:Number", "@id": "pt:stopTimestamp"},
            "uuid": {"@type": "sc:identifier", "@id": "pt:uuid"},
            "videoChannelPosition": {"@type": "sc:Number", "@id": "pt:videoChannelPosition"}
        }
    ])
}

/// The owner account and channel of a playlist, as local actors.
fn actors_of(
    app: &App,
    p: &Playlist,
) -> Result<(Option<LocalActor>, Option<LocalActor>), StoreError> {
    let account = app
        .store
        .get(&UserKey(p.owner))?
        .map(|u| LocalActor::Account(u.username.to_lowercase()));
    let channel = match p.channel {
        Some(id) => app
            .store
            .get(&ChannelKey(id))?
            .map(|c| LocalActor::Channel(c.name)),
        None => None,
    };
    Ok((account, channel))
}

/// `to` and `cc` of a playlist: public ones to the public, unlisted ones with the public in `cc`.
fn audience(p: &Playlist, account_url: &str) -> (Vec<String>, Vec<String>) {
    if p.privacy == PlaylistPrivacy::Unlisted {
        (vec![], vec![PUBLIC.to_string()])
    } else {
        (
            vec![PUBLIC.to_string()],
            vec![format!("{account_url}/followers")],
        )
    }
}

/// The URL of element `e` of `p`.
fn element_url(app: &App, p: &Playlist, e: &PlaylistElement) -> String {
    format!("{}/videos/{}", p.url(&app.public_url), e.id)
}

/// The elements that federate: those whose video still exists and is shared.
fn shared_elements(
    app: &App,
    p: &Playlist,
) -> Result<Vec<(usize, PlaylistElement, String)>, StoreError> {
    let mut out = Vec::new();
    for (i, e) in p.elements.iter().enumerate() {
        let Some(v) = app.store.get(&VideoKey(e.video_id))? else {
            continue;
        };
        if !v.is_federated() || !v.may_see(None) {
            continue;
        }
        let url = match &v.remote {
            Some(r) => r.url.clone(),
            None => PublicUrls::new(&app.public_url).watch(&v.uuid),
        };
        out.push((i + 1, e.clone(), url));
    }
    Ok(out)
}

/// The `Playlist` object of `p` (page `page` of its elements when asked; the collection with
/// `first` otherwise), without `@context`.
pub fn playlist_object(app: &App, p: &Playlist, page: Option<usize>) -> Result<Value, StoreError> {
    let url = p.url(&app.public_url);
    let (account, channel) = actors_of(app, p)?;
    let account_url = account
        .as_ref()
        .map(|a| a.url(&app.public_url))
        .unwrap_or_default();
    let (to, cc) = audience(p, &account_url);
    let items: Vec<String> = shared_elements(app, p)?
        .iter()
        .map(|(_, e, _)| element_url(app, p, e))
        .collect();
    let total = items.len();
    let mut doc = json!({
        "id": url,
        "type": "Playlist",
        "name": p.display_name,
        "content": p.description.as_deref().unwrap_or(""),
        "mediaType": "text/markdown",
        "uuid": p.uuid,
        "published": iso8601(p.created_at),
        "updated": iso8601(p.updated_at),
        "attributedTo": channel.iter().map(|c| c.url(&app.public_url)).collect::<Vec<_>>(),
        "videoChannelPosition": app.store.channel_position(p)?,
        "totalItems": total,
        "to": to,
        "cc": cc,
    });
    match page {
        None => {
            if total > 0 {
                doc["first"] = json!(format!("{url}?page=1"));
            }
        }
        Some(n) => {
            let n = n.max(1);
            let start = (n - 1).saturating_mul(PER_PAGE);
            doc["id"] = json!(format!("{url}?page={n}"));
            doc["partOf"] = json!(url);
            doc["orderedItems"] =
                json!(items.iter().skip(start).take(PER_PAGE).collect::<Vec<_>>());
            if start + PER_PAGE < total {
                doc["next"] = json!(format!("{url}?page={}", n + 1));
            }
        }
    }
    Ok(doc)
}

/// A public or unlisted local playlist by uuid, 404 otherwise.
fn federated(app: &App, uuid: &str) -> Result<Playlist, FederationError> {
    app.store
        .playlist_by_uuid(uuid)?
        .filter(Playlist::is_federated)
        .ok_or_else(|| FederationError::NotFound(format!("no playlist {uuid:?}")))
}

fn page_of(q: &PageQuery) -> Result<Option<usize>, FederationError> {
    super::actors::page_of(q)
}

/// `GET /video-playlists/{uuid}`.
pub async fn playlist(
    State(app): State<SharedApp>,
    Path(uuid): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, FederationError> {
    let page = page_of(&q)?;
    let a = app.clone();
    app.pool
        .run(move || -> Result<Response, FederationError> {
            let p = federated(&a, &uuid)?;
            let mut doc = playlist_object(&a, &p, page)?;
            doc["@context"] = playlist_context();
            Ok(activity_json(doc))
        })
        .await?
}

/// `GET /video-playlists/{uuid}/videos/{element}`: a `PlaylistElement`.
pub async fn element(
    State(app): State<SharedApp>,
    Path((uuid, element)): Path<(String, String)>,
) -> Result<Response, FederationError> {
    let a = app.clone();
    app.pool
        .run(move || -> Result<Response, FederationError> {
            let p = federated(&a, &uuid)?;
            let missing = || FederationError::NotFound(format!("no element {element:?}"));
            let id: u64 = element.parse().map_err(|_| missing())?;
            let (position, e, video_url) = shared_elements(&a, &p)?
                .into_iter()
                .find(|(_, e, _)| e.id == id)
                .ok_or_else(missing)?;
            let mut doc = json!({
                "@context": playlist_context(),
                "id": element_url(&a, &p, &e),
                "type": "PlaylistElement",
                "url": video_url,
                "position": position,
            });
            if let Some(s) = e.start {
                doc["startTimestamp"] = json!(s);
            }
            if let Some(s) = e.stop {
                doc["stopTimestamp"] = json!(s);
            }
            Ok(activity_json(doc))
        })
        .await?
}

/// `GET /accounts/{name}/playlists` and `/video-channels/{name}/playlists`: the URLs of the
/// actor's public playlists.
async fn collection(
    app: SharedApp,
    channel: bool,
    name: String,
    q: PageQuery,
) -> Result<Response, FederationError> {
    let page = page_of(&q)?;
    let a = app.clone();
    app.pool
        .run(move || -> Result<Response, FederationError> {
            let missing = || FederationError::NotFound(format!("no local actor {name:?}"));
            let (owner, channel_id, actor) = if channel {
                let id = a
                    .store
                    .get(&ChannelByNameKey(name.clone()))?
                    .ok_or_else(missing)?;
                let c = a.store.get(&ChannelKey(id))?.ok_or_else(missing)?;
                (c.owner, Some(c.id), LocalActor::Channel(c.name))
            } else {
                let id = a
                    .store
                    .get(&UserByNameKey(name.to_lowercase()))?
                    .ok_or_else(missing)?;
                (id, None, LocalActor::Account(name.to_lowercase()))
            };
            let items: Vec<String> = a
                .store
                .playlists_of(owner)?
                .into_iter()
                .filter(|p| p.privacy == PlaylistPrivacy::Public && p.is_federated())
                .filter(|p| channel_id.is_none() || p.channel == channel_id)
                .map(|p| p.url(&a.public_url))
                .collect();
            let id = format!("{}/playlists", actor.url(&a.public_url));
            Ok(activity_json(super::outbox::paged_collection(
                &id, page, items,
            )))
        })
        .await?
}

/// `GET /accounts/{name}/playlists`.
pub async fn account_playlists(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, FederationError> {
    collection(app, false, name, q).await
}

/// `GET /video-channels/{name}/playlists`.
pub async fn channel_playlists(
    State(app): State<SharedApp>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, FederationError> {
    collection(app, true, name, q).await
}

/// The followers' key names and the signer of `p`'s activities (its owner account).
fn recipients(app: &App, p: &Playlist) -> Result<Option<(LocalActor, Vec<String>)>, StoreError> {
    let (account, channel) = actors_of(app, p)?;
    let Some(account) = account else {
        return Ok(None);
    };
    let mut locals = vec!["instance".to_string(), key_of_local(&account)];
    locals.extend(channel.iter().map(key_of_local));
    Ok(Some((account, locals)))
}

fn send_change(
    app: &App,
    before: Option<&Playlist>,
    p: &Playlist,
) -> Result<usize, FederationError> {
    let was = before.is_some_and(Playlist::is_federated);
    if !p.is_federated() {
        return if was { send_delete(app, p) } else { Ok(0) };
    }
    let Some((account, locals)) = recipients(app, p)? else {
        return Ok(0);
    };
    let actor = account.url(&app.public_url);
    let url = p.url(&app.public_url);
    let object = playlist_object(app, p, None)?;
    let (to, cc) = audience(p, &actor);
    let signer = key_of_local(&account);
    if was {
        let update: Update<Value> =
            Activity::new(format!("{url}/updates/{}", super::now_ms()), actor, object)
                .with_context(playlist_context())
                .with_audience(to, cc);
        deliver_to_followers(app, &update, &signer, &locals)
    } else {
        let create: Create<Value> =
            Activity::new(format!("{url}/activity/{}", super::now_ms()), actor, object)
                .with_context(playlist_context())
                .with_audience(to, cc);
        deliver_to_followers(app, &create, &signer, &locals)
    }
}

fn send_delete(app: &App, p: &Playlist) -> Result<usize, FederationError> {
    let Some((account, locals)) = recipients(app, p)? else {
        return Ok(0);
    };
    let actor = account.url(&app.public_url);
    let url = p.url(&app.public_url);
    let cc = vec![format!("{actor}/followers")];
    let delete: Delete = Activity::new(format!("{url}/delete"), actor, ObjectRef::Id(url))
        .with_context(activity_context())
        .with_audience(vec![PUBLIC.to_string()], cc);
    deliver_to_followers(app, &delete, &key_of_local(&account), &locals)
}

/// Playlist `p` was made or changed (`before`: what it was): its followers get a `Create` when
/// it became shared, an `Update` while it stays shared, a `Delete` when it turned private.
/// Failures are logged: the change itself is kept.
pub fn changed(app: &App, before: Option<&Playlist>, p: &Playlist) {
    match send_change(app, before, p) {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(playlist = %p.uuid, inboxes = n, "federation: playlist activity queued")
        }
        Err(e) => {
            tracing::warn!(playlist = %p.uuid, error = %e, "federation: playlist activity not queued")
        }
    }
}

/// Playlist `p` is being deleted: a `Delete` to its followers when it was shared.
pub fn deleted(app: &App, p: &Playlist) {
    if !p.is_federated() {
        return;
    }
    match send_delete(app, p) {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(playlist = %p.uuid, inboxes = n, "federation: playlist Delete queued")
        }
        Err(e) => {
            tracing::warn!(playlist = %p.uuid, error = %e, "federation: playlist Delete not queued")
        }
    }
}
