//! `GET /api/v1/videos`: PeerTube's video list, paged, sorted and filtered by walking one of the
//! store's sort indexes ([`crate::store::video_index`]) instead of reading the table.
//!
//! A page costs the index entries up to `start + count` (keys only) when nothing but the
//! defaults filter it: its total is the stored count of the scope. With filters, each entry
//! walked reads its video record, at most [`EXAMINE_LIMIT`] per request; past that the walk
//! stops, and `total` counts the matches found so far (a lower bound, as a search engine's
//! "about N results"). Administrators' `privacyOneOf` walks the index of every video.

use super::auth::AuthUser;
use super::error::ApiError;
use super::video_query::{parse_sort, Filter, Params, Sort, MAX_COUNT, MAX_START};
use super::videos::{video_json, MaybeUser};
use crate::app::SharedApp;
use crate::store::channel_index::ChannelRef;
use crate::store::video_index::{Scope, SortKey};
use crate::store::videos::VideoKey;
use crate::store::{Store, StoreError};
use crate::video::Video;
use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

/// Video records a filtered list may read per request.
pub const EXAMINE_LIMIT: usize = 10_000;

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Query {
    /// Which index.
    pub scope: Scope,
    /// Its order.
    pub sort: SortKey,
    /// Descending.
    pub desc: bool,
    /// Filters.
    pub filter: Filter,
    /// Matches to skip.
    pub start: usize,
    /// Page size.
    pub count: usize,
    /// Whether `total` is wanted (`skipCount=true` says not).
    pub with_total: bool,
}

/// A page: the total (see the module doc) and the videos.
pub fn page(store: &Store, q: &Query) -> Result<(u64, Vec<Video>), StoreError> {
    page_in(store, q, None)
}

/// Index entries a list of channels' videos may walk per request without reading records
/// (counting its total).
pub const CHANNEL_WALK_LIMIT: usize = 100_000;

/// A page of the listed videos of `channels` only (a subscription feed): their per-channel
/// indexes are merged ([`Store::walk_channels`]), so the cost is the channels' videos walked,
/// never the whole index. `q.scope` must be [`Scope::Listed`].
pub fn channels_page(
    store: &Store,
    q: &Query,
    channels: &[ChannelRef],
) -> Result<(u64, Vec<Video>), StoreError> {
    page_in(store, q, Some(channels))
}

fn page_in(
    store: &Store,
    q: &Query,
    channels: Option<&[ChannelRef]>,
) -> Result<(u64, Vec<Video>), StoreError> {
    if matches!(q.sort, SortKey::Trending | SortKey::Hot) {
        store.trending_tick(crate::time::now_secs() / 86_400)?;
    }
    let plain = q.filter.is_empty() && q.scope == Scope::Listed;
    let wanted: Option<std::collections::BTreeSet<&ChannelRef>> =
        channels.map(|c| c.iter().collect());
    let mut matched = 0usize;
    let mut examined = 0usize;
    let mut walked = 0usize;
    let mut out = Vec::with_capacity(q.count);
    let mut visit = |id: u64| -> Result<bool, StoreError> {
        walked += 1;
        let page_full = out.len() >= q.count;
        if plain && (matched < q.start || (page_full && channels.is_some())) {
            // Every entry of the listed scope (or of a channel's listed videos) is a match:
            // skip, or count, without reading the record.
            matched += 1;
            return Ok(
                channels.is_none() || (walked < CHANNEL_WALK_LIMIT && (!page_full || q.with_total))
            );
        }
        examined += 1;
        if let Some(v) = store.get(&VideoKey(id))? {
            let visible = q.scope == Scope::All || v.is_listed();
            let in_channels = wanted
                .as_ref()
                .is_none_or(|w| ChannelRef::of_video(&v).is_some_and(|c| w.contains(&c)));
            if visible && in_channels && q.filter.matches(&v) {
                matched += 1;
                if matched > q.start && out.len() < q.count {
                    out.push(v);
                }
            }
        }
        let page_full = out.len() >= q.count;
        let counting = q.with_total && (!plain || channels.is_some());
        let walk_ok = channels.is_none() || walked < CHANNEL_WALK_LIMIT;
        Ok(examined < EXAMINE_LIMIT && walk_ok && (!page_full || counting))
    };
    match channels {
        Some(c) => store.walk_channels(c, q.sort, q.desc, &mut visit)?,
        None => store.walk_sorted(q.scope, q.sort, q.desc, &mut visit)?,
    }
    let total = if plain && channels.is_none() {
        store.video_count(Scope::Listed)?
    } else {
        matched as u64
    };
    Ok((total, out))
}

/// Paging and sort of a request, checked.
pub fn paging(p: &Params) -> Result<(usize, usize), ApiError> {
    Ok((
        p.int("start", 0, MAX_START)?,
        p.int("count", 15, MAX_COUNT)?,
    ))
}

/// The scope a viewer may list with these filters: `privacyOneOf` is for administrators.
pub fn scope_for(filter: &Filter, viewer: &MaybeUser) -> Result<Scope, ApiError> {
    if filter.privacies.is_empty() {
        return Ok(Scope::Listed);
    }
    match &viewer.0 {
        None => Err(ApiError::unauthorized(
            "privacyOneOf needs the token of a user who sees all videos (administrator or moderator)",
        )),
        Some(u) if !u.viewer().sees_all => Err(ApiError::forbidden(
            "privacyOneOf needs the right to see all videos (administrators and moderators)",
        )),
        Some(_) => Ok(Scope::All),
    }
}

/// `GET /api/v1/videos`.
pub async fn list(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    respond(&app, &viewer, raw.as_deref(), |_| {}).await
}

/// A video list as `GET /api/v1/videos` answers it (paging, every sort and filter of the
/// query), narrowed by `narrow`: the account and channel lists are this list with an owner or
/// a channel set.
pub async fn respond(
    app: &SharedApp,
    viewer: &MaybeUser,
    raw: Option<&str>,
    narrow: impl FnOnce(&mut Filter),
) -> Result<Json<Value>, ApiError> {
    respond_in(app, viewer, raw, None, None, narrow).await
}

/// The video list of `GET /api/v1/videos` (paging, sorts, filters, the viewer's NSFW policy
/// and mutes) over the listed videos of `channels` only: a user's subscription feed.
pub async fn respond_channels(
    app: &SharedApp,
    viewer: &MaybeUser,
    raw: Option<&str>,
    channels: Vec<ChannelRef>,
) -> Result<Json<Value>, ApiError> {
    respond_in(app, viewer, raw, None, Some(channels), |_| {}).await
}

/// `GET /api/v1/users/me/videos`: the user's own videos, whatever their privacy or state, with
/// the paging, sorts and filters of the video list (`privacyOneOf` included: they are theirs).
pub async fn mine(
    State(app): State<SharedApp>,
    auth: AuthUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let id = auth.user.id;
    let viewer = MaybeUser(Some(auth.user));
    respond_in(&app, &viewer, raw.as_deref(), Some(Scope::All), None, |f| {
        f.owner = Some(id)
    })
    .await
}

/// Leaves NSFW videos out when the request has no `nsfw` and the viewer's policy is
/// `do_not_list` (PeerTube's rule; visitors get the instance's default, which lists them).
pub fn apply_nsfw_policy(filter: &mut Filter, p: &Params, viewer: &MaybeUser) {
    let policy = viewer
        .0
        .as_ref()
        .map_or(crate::store::tables::DEFAULT_NSFW_POLICY, |u| {
            u.nsfw_policy.as_str()
        });
    if p.one("nsfw").is_none() && policy == "do_not_list" {
        filter.nsfw = Some(false);
    }
}

/// [`respond`], with the scope given (`None`: what the viewer may list with these filters).
async fn respond_in(
    app: &SharedApp,
    viewer: &MaybeUser,
    raw: Option<&str>,
    scope: Option<Scope>,
    channels: Option<Vec<ChannelRef>>,
    narrow: impl FnOnce(&mut Filter),
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw)?;
    let (start, count) = paging(&p)?;
    let sort = parse_sort(
        p.one("sort"),
        Sort::By {
            key: SortKey::PublishedAt,
            desc: true,
        },
        false,
    )?;
    let (key, desc) = match sort {
        Sort::By { key, desc } => (key, desc),
        Sort::Match => (SortKey::PublishedAt, true),
    };
    let mut filter = Filter::parse(&p)?.hiding_blocked(&app.federation.blocklist);
    narrow(&mut filter);
    // One's own videos are all listed; other lists follow the viewer's NSFW policy when the
    // request does not say.
    if scope.is_none() {
        apply_nsfw_policy(&mut filter, &p, viewer);
    }
    let scope = match scope {
        Some(s) => s,
        None => scope_for(&filter, viewer)?,
    };
    if channels.is_some() && scope != Scope::Listed {
        return Err(super::video_query::invalid(
            "privacyOneOf",
            p.one("privacyOneOf").unwrap_or_default(),
            "is not available on this list (it holds public videos only)",
        ));
    }
    let q = Query {
        scope,
        sort: key,
        desc,
        filter,
        start,
        count,
        with_total: p.bool("skipCount")? != Some(true),
    };
    let a = app.clone();
    let viewer_id = viewer.0.as_ref().map(|u| u.id);
    let (total, videos) = app
        .pool
        .run(move || {
            let mut q = q;
            q.filter = q.filter.hiding_muted_by(&a.store, viewer_id)?;
            page_in(&a.store, &q, channels.as_deref())
        })
        .await??;
    let data = videos
        .iter()
        .map(|v| video_json(app, v, false))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({"total": total, "data": data})))
}
