//! HTTP tracker: `GET /tracker/announce` and `GET /tracker/scrape` (BEP 3, compact BEP 23,
//! IPv6 BEP 7, scrape BEP 48), on the same listeners as everything else. Errors are bencoded
//! `failure reason` dictionaries with status 200, as BitTorrent clients expect.

use crate::app::{ClientAddr, SharedApp};
use crate::tracker::metrics::Proto;
use crate::tracker::protocol::http::{
    encode_failure, AnnounceQuery, AnnounceResponse, Peer, ScrapeQuery, ScrapeResponse,
};
use crate::tracker::swarm::{IpAnnounce, Stored};
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, Uri};
use std::net::SocketAddr;
use std::time::Instant;

fn bencoded(body: Vec<u8>) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /tracker/announce`.
pub async fn announce(
    State(app): State<SharedApp>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    uri: Uri,
) -> Response {
    let t = &app.tracker;
    let query = match AnnounceQuery::parse(uri.query().unwrap_or_default().as_bytes()) {
        Ok(q) => q,
        Err(e) => {
            t.metrics.refuse(Proto::Http, "malformed");
            return bencoded(encode_failure(&e.to_string()));
        }
    };
    let now = Instant::now();
    // The source address, never the `ip` parameter (anti-impersonation, as aquatic does).
    let ip = peer.ip().to_canonical();
    if let Err(refusal) = t.access.check_announce(ip, &query.info_hash, now) {
        t.metrics.refuse(Proto::Http, refusal.label());
        return bencoded(encode_failure(refusal.reason()));
    }
    let reply = t.swarms.announce_ip(
        IpAnnounce {
            info_hash: query.info_hash,
            peer_id: query.peer_id,
            addr: SocketAddr::new(ip, query.port),
            seeder: query.is_seeder(),
            event: query.event,
            numwant: query.numwant.map(|n| n as usize),
        },
        now,
    );
    if reply.stored == Stored::SwarmFull {
        t.metrics.refuse(Proto::Http, "swarm_full");
    }
    t.metrics.announce(Proto::Http);
    let response = AnnounceResponse {
        interval: t.config.interval_secs,
        min_interval: Some(t.config.interval_secs / 2),
        complete: reply.stats.complete,
        incomplete: reply.stats.incomplete,
        peers: reply
            .peers
            .into_iter()
            .map(|(peer_id, addr)| Peer { peer_id, addr })
            .collect(),
    };
    bencoded(response.encode(query.peer_form()))
}

/// `GET /tracker/scrape`.
pub async fn scrape(State(app): State<SharedApp>, uri: Uri) -> Response {
    let t = &app.tracker;
    let query = match ScrapeQuery::parse(
        uri.query().unwrap_or_default().as_bytes(),
        t.ws_limits.max_scrape_hashes,
    ) {
        Ok(q) => q,
        Err(e) => {
            t.metrics.refuse(Proto::Http, "malformed");
            return bencoded(encode_failure(&e.to_string()));
        }
    };
    if query.info_hashes.is_empty() {
        t.metrics.refuse(Proto::Http, "malformed");
        return bencoded(encode_failure(
            "full scrapes are not supported: name info_hash",
        ));
    }
    let now = Instant::now();
    let known: Vec<_> = query
        .info_hashes
        .into_iter()
        .filter(|h| t.access.check_scrape(h, now))
        .collect();
    let stats = t.swarms.scrape(&known);
    t.metrics.scrape(Proto::Http);
    bencoded(
        ScrapeResponse {
            files: known.into_iter().zip(stats).collect(),
        }
        .encode(),
    )
}
