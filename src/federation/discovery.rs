//! Discovery as PeerTube serves it (reference §3): WebFinger for local actors (accounts,
//! channels and the instance actor `peertube`), the NodeInfo index and NodeInfo 2.0, and
//! host-meta.

use super::FederationError;
use crate::app::{App, SharedApp};
use crate::store::tables::{ChannelByNameKey, UserByNameKey};
use crate::store::videos::VideoKey;
use crate::video::VideoState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue};
use serde::Deserialize;
use serde_json::{json, Value};

/// The instance actor's name (PeerTube's `SERVER_ACTOR_NAME`).
pub const INSTANCE_ACTOR: &str = "peertube";

/// A local actor a handle names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalActor {
    /// The instance (`Application`, `/accounts/peertube`).
    Instance,
    /// A user's account (`Person`, `/accounts/<name>`).
    Account(String),
    /// A channel (`Group`, `/video-channels/<name>`).
    Channel(String),
}

impl LocalActor {
    /// The actor's id (and URL).
    pub fn url(&self, public_url: &str) -> String {
        match self {
            LocalActor::Instance => format!("{public_url}/accounts/{INSTANCE_ACTOR}"),
            LocalActor::Account(n) => format!("{public_url}/accounts/{n}"),
            LocalActor::Channel(n) => format!("{public_url}/video-channels/{n}"),
        }
    }
}

/// The local actor called `name` (accounts win over channels, as in PeerTube's lookup).
pub fn find_local(app: &App, name: &str) -> Result<Option<LocalActor>, FederationError> {
    if name == INSTANCE_ACTOR {
        return Ok(Some(LocalActor::Instance));
    }
    let lower = name.to_lowercase();
    if app.store.get(&UserByNameKey(lower.clone()))?.is_some() {
        return Ok(Some(LocalActor::Account(lower)));
    }
    if app
        .store
        .get(&ChannelByNameKey(name.to_string()))?
        .is_some()
    {
        return Ok(Some(LocalActor::Channel(name.to_string())));
    }
    Ok(None)
}

/// Whether `actor` exists here (the instance always does; an account needs its user, a channel
/// its channel: `/video-channels/<name>` never names an account).
pub fn exists(store: &crate::store::Store, actor: &LocalActor) -> Result<bool, FederationError> {
    Ok(match actor {
        LocalActor::Instance => true,
        LocalActor::Account(n) => store.get(&UserByNameKey(n.to_lowercase()))?.is_some(),
        LocalActor::Channel(n) => store.get(&ChannelByNameKey(n.clone()))?.is_some(),
    })
}

/// `?resource=acct:name@host`.
#[derive(Debug, Deserialize)]
pub struct WebfingerQuery {
    resource: Option<String>,
}

/// Splits `acct:name@host` (or `@name@host`, `name@host`) into name and host.
pub fn parse_acct(resource: &str) -> Option<(&str, &str)> {
    let rest = resource.strip_prefix("acct:").unwrap_or(resource);
    let rest = rest.strip_prefix('@').unwrap_or(rest);
    let (name, host) = rest.split_once('@')?;
    if name.is_empty() || host.is_empty() || host.contains('@') {
        return None;
    }
    Some((name, host))
}

fn json_with(value: Value, content_type: &'static str) -> Response {
    let mut r = axum::Json(value).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

/// `GET /.well-known/webfinger`.
pub async fn webfinger(
    State(app): State<SharedApp>,
    Query(q): Query<WebfingerQuery>,
) -> Result<Response, FederationError> {
    let resource = q.resource.ok_or_else(|| {
        FederationError::BadRequest("resource is required (acct:name@host)".into())
    })?;
    let (name, host) = parse_acct(&resource).ok_or_else(|| {
        FederationError::BadRequest(format!("resource {resource:?} is not acct:name@host"))
    })?;
    if !host.eq_ignore_ascii_case(&app.public_host) {
        return Err(FederationError::NotFound(format!(
            "{host} is not this instance ({})",
            app.public_host
        )));
    }
    let actor = find_local(&app, name)?
        .ok_or_else(|| FederationError::NotFound(format!("no local actor {name:?}")))?;
    let url = actor.url(&app.public_url);
    Ok(json_with(
        json!({
            "subject": format!("acct:{name}@{}", app.public_host),
            "aliases": [url],
            "links": [
                {"rel": "self", "type": "application/activity+json", "href": url},
                {
                    "rel": "http://ostatus.org/schema/1.0/subscribe",
                    "template": format!("{}/remote-interaction?uri={{uri}}", app.public_url)
                }
            ]
        }),
        "application/jrd+json; charset=utf-8",
    ))
}

/// `GET /.well-known/nodeinfo`.
pub async fn nodeinfo_index(State(app): State<SharedApp>) -> Response {
    json_with(
        json!({"links": [
            {
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                "href": format!("{}/nodeinfo/2.0.json", app.public_url)
            },
            {
                "rel": "https://www.w3.org/ns/activitystreams#Application",
                "href": LocalActor::Instance.url(&app.public_url)
            }
        ]}),
        "application/json; charset=utf-8",
    )
}

/// The PeerTube version whose API Fleuve answers as; NodeInfo's `software.version`, and the
/// same as `serverVersion` in `/api/v1/config`.
pub const PEERTUBE_COMPAT_VERSION: &str = "7.0.0";

/// `GET /nodeinfo/2.0.json`.
///
/// `software` says `peertube` and a PeerTube version, because that is what apps test before
/// treating a server as PeerTube: Fedilab upper-cases `software.name` and compares it with
/// `PEERTUBE` to pick its PeerTube login and timelines; instance pickers and crawlers compare
/// it with `peertube`; Grayjay's PeerTube plugin compares `serverVersion` (the same version)
/// with `3.1.0` before asking for `sort=best`. (NewPipe reads `instance.name` from
/// `/api/v1/config`, and the PeerTube web client the rest of the config.) NodeInfo 2.0 allows
/// nothing else in `software`, so Fleuve names itself in `metadata.implementation`, which
/// PeerTube leaves free (reference §3.2).
pub async fn nodeinfo(State(app): State<SharedApp>) -> Result<Response, FederationError> {
    let a = app.clone();
    let (users, videos) = app
        .pool
        .run(move || -> Result<(usize, usize), FederationError> {
            let users = a.store.scan::<crate::store::tables::UserKey>(&())?.len();
            let videos = a
                .store
                .scan::<VideoKey>(&())?
                .into_iter()
                .filter(|(_, v)| v.state == VideoState::Published)
                .count();
            Ok((users, videos))
        })
        .await??;
    let t = &app.config.transcode;
    Ok(json_with(
        json!({
            "version": "2.0",
            "software": {"name": "peertube", "version": PEERTUBE_COMPAT_VERSION},
            "protocols": ["activitypub"],
            "services": {"inbound": [], "outbound": []},
            "openRegistrations": false,
            "usage": {
                "users": {"total": users, "activeMonth": users, "activeHalfyear": users},
                "localPosts": videos,
                "localComments": 0
            },
            "metadata": {
                "taxonomy": {"postsName": "Videos"},
                "implementation": {
                    "name": "fleuve",
                    "version": env!("CARGO_PKG_VERSION"),
                    "compatibleWith": {"name": "peertube", "version": PEERTUBE_COMPAT_VERSION}
                },
                "nodeName": app.config.instance.name,
                "nodeDescription": app.config.instance.short_description,
                "nodeConfig": {
                    "transcoding": {
                        "hls": {"enabled": true},
                        "web_videos": {"enabled": t.web_videos.enabled},
                        "enabledResolutions": t.resolutions
                    },
                    "live": {"enabled": false},
                    "tracker": {"enabled": app.config.tracker.enabled}
                }
            }
        }),
        "application/json; profile=\"http://nodeinfo.diaspora.software/ns/schema/2.0#\"",
    ))
}

/// `GET /.well-known/host-meta`.
pub async fn host_meta(State(app): State<SharedApp>) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <XRD xmlns=\"http://docs.oasis-open.org/ns/xri/xrd-1.0\">\n  \
         <Link rel=\"lrdd\" type=\"application/xrd+xml\" template=\"{}/.well-known/webfinger?resource={{uri}}\"/>\n\
         </XRD>\n",
        crate::html::html_escape(&app.public_url)
    );
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acct_handles() {
        assert_eq!(
            parse_acct("acct:alice@h.example"),
            Some(("alice", "h.example"))
        );
        assert_eq!(
            parse_acct("@bob@h.example:9000"),
            Some(("bob", "h.example:9000"))
        );
        assert_eq!(parse_acct("acct:@h"), None);
        assert_eq!(parse_acct("acct:a@b@c"), None);
        assert_eq!(parse_acct("acct:nohost"), None);
        assert_eq!(
            LocalActor::Channel("c".into()).url("https://h"),
            "https://h/video-channels/c"
        );
    }
}
