//! `GET /api/v1/search/videos` and `GET /api/v1/search/video-channels`: full-text search over
//! the inverted index of [`crate::store::video_index`] (tokens of the name, tags and
//! description; of a channel's handle and display name), never a scan.
//!
//! Every token of the query must match (AND); the last token also matches as a prefix of at
//! least 3 characters, so typing "docu" finds "documentary". A token's postings are read up to
//! [`CANDIDATE_LIMIT`] entries; candidates are intersected, their records read and filtered,
//! and sorted by relevance (`-match`: name hits weigh 3, tags 2, description 1; ties go to the
//! newest) or any list order. A query with no usable token is the plain list.
//!
//! Why not tantivy (decided from the measurement of this index, tantivy itself was not built
//! here): the index must change in the same write as the video record (a crash between two
//! stores would leave them disagreeing, and tantivy commits on its own schedule); queries are a
//! few tokens over titles, tags and descriptions; and on 100 000 videos
//! (`cargo bench --bench video_listing`, docs/benchmarks.md) a rare token answers in ~10 µs and
//! a word found in one title in twelve in ~3 ms, bounded by [`CANDIDATE_LIMIT`]. What tantivy
//! would add — BM25, phrase queries, fuzzy matching — PeerTube's own search (SQL `ILIKE` and
//! trigram similarity) does not offer either; revisit if relevance, not speed, becomes the
//! complaint.

use super::error::ApiError;
use super::users::channel_json;
use super::video_list::{page, paging, scope_for, Query, EXAMINE_LIMIT};
use super::video_query::{invalid, parse_sort, Filter, Params, Sort, MAX_SEARCH};
use super::videos::{video_json, MaybeUser};
use crate::app::SharedApp;
use crate::store::tables::{Channel, ChannelKey};
use crate::store::video_index::{Posting, Scope, SortKey};
use crate::store::videos::VideoKey;
use crate::store::{Store, StoreError};
use crate::video::text::tokens;
use crate::video::Video;
use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Postings read per query token.
pub const CANDIDATE_LIMIT: usize = 5_000;
/// Query tokens used (the rest are ignored).
const MAX_TOKENS: usize = 8;

/// Reads and checks `search`: no control characters, at most [`MAX_SEARCH`] characters.
pub fn search_terms(p: &Params) -> Result<Vec<String>, ApiError> {
    let s = p.one("search").unwrap_or("");
    if s.chars().any(char::is_control) {
        return Err(invalid("search", s, "must not contain control characters"));
    }
    let n = s.chars().count();
    if n > MAX_SEARCH {
        return Err(invalid(
            "search",
            &format!("{n} characters"),
            &format!("must have at most {MAX_SEARCH} characters"),
        ));
    }
    let mut t = tokens(s);
    t.dedup();
    t.truncate(MAX_TOKENS);
    Ok(t)
}

/// A search hit: its relevance and whether the video is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hit {
    score: u32,
    listed: bool,
}

/// Ids matching every token (the last also as a prefix), with their relevance.
fn candidates(
    terms: &[String],
    postings: impl Fn(&str, bool) -> Result<Vec<Posting>, StoreError>,
) -> Result<HashMap<u64, Hit>, StoreError> {
    let weight = |mask: u8| {
        3 * u32::from(mask & 1 != 0) + 2 * u32::from(mask & 2 != 0) + u32::from(mask & 4 != 0)
    };
    let mut acc: Option<HashMap<u64, Hit>> = None;
    for (i, t) in terms.iter().enumerate() {
        let prefix = i + 1 == terms.len() && t.chars().count() >= 3;
        let mut hits: HashMap<u64, Hit> = HashMap::new();
        for p in postings(t, prefix)? {
            let h = hits.entry(p.id).or_insert(Hit {
                score: 0,
                listed: p.listed,
            });
            h.score = h.score.max(weight(p.mask));
        }
        acc = Some(match acc {
            None => hits,
            Some(prev) => prev
                .into_iter()
                .filter_map(|(id, h)| {
                    hits.get(&id).map(|n| {
                        (
                            id,
                            Hit {
                                score: h.score + n.score,
                                listed: h.listed,
                            },
                        )
                    })
                })
                .collect(),
        });
        if acc.as_ref().is_some_and(HashMap::is_empty) {
            break;
        }
    }
    Ok(acc.unwrap_or_default())
}

/// One page of a video search: the total and the videos. Relevance ties go to the newest id.
pub fn search_videos(
    store: &Store,
    terms: &[String],
    sort: Sort,
    q: &Query,
) -> Result<(u64, Vec<Video>), StoreError> {
    let hits = candidates(terms, |t, prefix| {
        store.token_postings(t, prefix, CANDIDATE_LIMIT)
    })?;
    let by_match = |a: &(u64, u32), b: &(u64, u32)| b.1.cmp(&a.1).then(b.0.cmp(&a.0));
    if sort == Sort::Match && q.scope == Scope::Listed && q.filter.is_empty() {
        // Ranked and counted from the postings alone; only the page's records are read.
        let mut ranked: Vec<(u64, u32)> = hits
            .into_iter()
            .filter(|(_, h)| h.listed)
            .map(|(id, h)| (id, h.score))
            .collect();
        ranked.sort_by(by_match);
        let mut page = Vec::with_capacity(q.count);
        for (id, _) in ranked.iter().skip(q.start).take(q.count) {
            if let Some(v) = store.get(&VideoKey(*id))?.filter(Video::is_listed) {
                page.push(v);
            }
        }
        return Ok((ranked.len() as u64, page));
    }
    let mut found: Vec<(u32, Video)> = Vec::new();
    for (id, hit) in hits.into_iter().take(EXAMINE_LIMIT) {
        if q.scope == Scope::Listed && !hit.listed {
            continue;
        }
        let Some(v) = store.get(&VideoKey(id))? else {
            continue;
        };
        let visible = q.scope == Scope::All || v.is_listed();
        if visible && q.filter.matches(&v) {
            found.push((hit.score, v));
        }
    }
    match sort {
        Sort::Match => {
            found.sort_by(|(sa, a), (sb, b)| by_match(&(a.id, *sa), &(b.id, *sb)));
        }
        Sort::By { key, desc } => {
            let mut keyed: Vec<(Vec<u8>, (u32, Video))> = found
                .into_iter()
                .map(|(s, v)| {
                    let stats = store.video_stats(v.id).unwrap_or_default();
                    (
                        crate::store::video_index::sort_value(key, &v, &stats),
                        (s, v),
                    )
                })
                .collect();
            keyed.sort_by(|(ka, (_, a)), (kb, (_, b))| ka.cmp(kb).then(a.id.cmp(&b.id)));
            if desc {
                keyed.reverse();
            }
            found = keyed.into_iter().map(|(_, x)| x).collect();
        }
    }
    let total = found.len() as u64;
    let page = found
        .into_iter()
        .skip(q.start)
        .take(q.count)
        .map(|(_, v)| v)
        .collect();
    Ok((total, page))
}

/// `GET /api/v1/search/videos`.
pub async fn videos(
    State(app): State<SharedApp>,
    viewer: MaybeUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let terms = search_terms(&p)?;
    let (start, count) = paging(&p)?;
    let sort = parse_sort(p.one("sort"), Sort::Match, true)?;
    let mut filter = Filter::parse(&p)?.hiding_blocked(&app.federation.blocklist);
    super::video_list::apply_nsfw_policy(&mut filter, &p, &viewer);
    let scope = scope_for(&filter, &viewer)?;
    let (key, desc) = match sort {
        Sort::By { key, desc } => (key, desc),
        Sort::Match => (SortKey::PublishedAt, true),
    };
    let q = Query {
        scope,
        sort: key,
        desc,
        filter,
        start,
        count,
        with_total: true,
    };
    let a = app.clone();
    let viewer_id = viewer.0.as_ref().map(|u| u.id);
    let (total, found) = app
        .pool
        .run(move || {
            let mut q = q;
            q.filter = q.filter.hiding_muted_by(&a.store, viewer_id)?;
            if terms.is_empty() {
                page(&a.store, &q)
            } else {
                search_videos(&a.store, &terms, sort, &q)
            }
        })
        .await??;
    let data = found
        .iter()
        .map(|v| video_json(&app, v, false))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({"total": total, "data": data})))
}

/// `GET /api/v1/search/video-channels`.
pub async fn channels(
    State(app): State<SharedApp>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw.as_deref())?;
    let terms = search_terms(&p)?;
    let (start, count) = paging(&p)?;
    let desc_name = match p.one("sort") {
        None | Some("-match") | Some("match") | Some("name") => false,
        Some("-name") => true,
        Some("createdAt") | Some("-createdAt") => false,
        Some(s) => {
            return Err(invalid(
                "sort",
                s,
                "must be one of -match, name, -name, createdAt, -createdAt",
            ))
        }
    };
    let by_created = p.one("sort").is_some_and(|s| s.ends_with("createdAt"));
    let created_desc = p.one("sort") == Some("-createdAt");
    let a = app.clone();
    let mut found: Vec<(u32, Channel)> = app
        .pool
        .run(move || -> Result<Vec<(u32, Channel)>, StoreError> {
            let hits: HashMap<u64, u32> = if terms.is_empty() {
                a.store
                    .scan_limit::<ChannelKey>(&(), EXAMINE_LIMIT)?
                    .into_iter()
                    .map(|(k, _)| (k.0, 0))
                    .collect()
            } else {
                candidates(&terms, |t, prefix| {
                    Ok(a.store
                        .channel_postings(t, prefix, CANDIDATE_LIMIT)?
                        .into_iter()
                        .map(|id| Posting {
                            id,
                            mask: 1,
                            listed: true,
                        })
                        .collect())
                })?
                .into_iter()
                .map(|(id, h)| (id, h.score))
                .collect()
            };
            let mut out = Vec::new();
            for (id, score) in hits.into_iter().take(EXAMINE_LIMIT) {
                if let Some(c) = a.store.get(&ChannelKey(id))? {
                    out.push((score, c));
                }
            }
            Ok(out)
        })
        .await??;
    found.sort_by(|(sa, a), (sb, b)| {
        if by_created {
            let o = a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id));
            if created_desc {
                o.reverse()
            } else {
                o
            }
        } else {
            let o = sb
                .cmp(sa)
                .then(a.name.to_lowercase().cmp(&b.name.to_lowercase()));
            if desc_name {
                o.reverse()
            } else {
                o
            }
        }
    });
    let total = found.len();
    let data: Vec<Value> = found
        .iter()
        .skip(start)
        .take(count)
        .map(|(_, c)| channel_json(&app, c))
        .collect();
    Ok(Json(json!({"total": total, "data": data})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_must_match_and_name_hits_weigh_most() {
        let p = |id, mask| Posting {
            id,
            mask,
            listed: true,
        };
        let index: HashMap<&str, Vec<Posting>> = HashMap::from([
            ("cat", vec![p(1, 1), p(2, 4), p(3, 2)]),
            ("video", vec![p(1, 4), p(2, 1)]),
        ]);
        let look = |t: &str, _| Ok(index.get(t).cloned().unwrap_or_default());
        let terms = vec!["cat".to_string(), "video".to_string()];
        let hits = candidates(&terms, look).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[&1].score, 3 + 1);
        assert_eq!(hits[&2].score, 1 + 3);
        assert!(candidates(&["dog".into()], look).unwrap().is_empty());
    }
}
