//! WebSocket tracker (WebTorrent protocol) at `/tracker/socket`: announces, offer and answer
//! relay between connections on any shard (each connection has a channel the swarms hand
//! messages to), scrapes. A connection announcing an unknown torrent in private mode gets an
//! error, is closed and its IP blocked, as PeerTube does. Oversized or idle connections are
//! closed; malformed messages get a `failure reason` and, repeated, a close.

use crate::app::{ClientAddr, ConnHold, SharedApp};
use crate::tracker::access::{ConnectionSlot, Refusal};
use crate::tracker::metrics::Proto;
use crate::tracker::protocol::ws::{
    Action, AnnounceResponse, ErrorResponse, InMessage, OutMessage, ScrapeRequest, ScrapeResponse,
};
use crate::tracker::protocol::{AnnounceEvent, InfoHash, PeerId};
use crate::tracker::swarm::{Stored, WsAnnounce};
use crate::tracker::Tracker;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// Messages queued for one connection before relayed offers to it are dropped.
const QUEUE: usize = 256;
/// Torrents one connection may announce.
const MAX_TORRENTS_PER_CONNECTION: usize = 1024;
/// Malformed messages tolerated before the connection is closed.
const MAX_ERRORS: u32 = 10;

/// `GET /tracker/socket` (WebSocket upgrade).
pub async fn socket(
    State(app): State<SharedApp>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    hold: Option<Extension<ConnHold>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let t = &app.tracker;
    let ip = peer.ip().to_canonical();
    if t.access.is_blocked(ip, Instant::now()) {
        t.metrics.refuse(Proto::Ws, "blocked_ip");
        return (StatusCode::TOO_MANY_REQUESTS, Refusal::Blocked.reason()).into_response();
    }
    let Some(slot) = t.access.connect(ip) else {
        t.metrics.refuse(Proto::Ws, "too_many_connections");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many tracker connections from this address",
        )
            .into_response();
    };
    let max = t.config.ws_max_message_bytes;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve(app, socket, ip, slot, hold.map(|h| h.0)))
}

/// What a connection announced: the peer id it uses per torrent.
struct Session {
    conn: u64,
    ip: IpAddr,
    peers: HashMap<InfoHash, PeerId>,
    errors: u32,
}

/// What to do after a message.
enum Next {
    Continue,
    Close,
}

/// Serves one tracker WebSocket; `hold` keeps its connection counted (caps, metrics) and closes
/// it (1001, going away) when the server shuts down.
async fn serve(
    app: SharedApp,
    mut socket: WebSocket,
    ip: IpAddr,
    _slot: ConnectionSlot,
    hold: Option<ConnHold>,
) {
    let mut shutdown = hold.as_ref().map(|h| h.shutdown.clone());
    let t = &app.tracker;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<OutMessage>(QUEUE);
    let mut s = Session {
        conn: t.next_connection_id(),
        ip,
        peers: HashMap::new(),
        errors: 0,
    };
    let idle = Duration::from_secs(t.config.ws_idle_timeout_secs);
    let mut deadline = tokio::time::Instant::now() + idle;
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let bytes = match incoming {
                    Some(Ok(Message::Text(text))) => text.as_str().as_bytes().to_vec(),
                    Some(Ok(Message::Binary(b))) => b.to_vec(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(e)) => {
                        // Oversized frames and protocol violations end here, and so do peers
                        // that vanish without a close frame; tell them apart for the metrics.
                        let text = e.to_string();
                        tracing::debug!(error = %text, "tracker websocket error");
                        let reason = if text.contains("Space limit") || text.contains("Protocol") || text.contains("UTF-8") {
                            "malformed"
                        } else {
                            "connection_error"
                        };
                        t.metrics.refuse(Proto::Ws, reason);
                        break;
                    }
                };
                deadline = tokio::time::Instant::now() + idle;
                let mut replies = Vec::new();
                let next = handle(t, &mut s, &tx, &bytes, &mut replies);
                for r in replies {
                    if socket.send(Message::Text(r.to_json().into())).await.is_err() {
                        break;
                    }
                }
                if let Next::Close = next {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
            }
            relayed = rx.recv() => {
                let Some(m) = relayed else { break };
                if socket.send(Message::Text(m.to_json().into())).await.is_err() {
                    break;
                }
            }
            _ = async {
                match shutdown.as_mut() {
                    Some(rx) => { let _ = rx.wait_for(|stop| *stop).await; }
                    None => std::future::pending::<()>().await,
                }
            } => {
                let _ = socket
                    .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 1001,
                        reason: "server shutting down".into(),
                    })))
                    .await;
                break;
            }
            _ = tokio::time::sleep_until(deadline) => {
                t.metrics.refuse(Proto::Ws, "idle_timeout");
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
        }
    }
    let hashes: Vec<InfoHash> = s.peers.keys().copied().collect();
    t.swarms.remove_connection(s.conn, &hashes);
}

fn error(
    reason: impl Into<std::borrow::Cow<'static, str>>,
    action: Option<Action>,
    h: Option<InfoHash>,
) -> OutMessage {
    OutMessage::Error(ErrorResponse {
        failure_reason: reason.into(),
        action,
        info_hash: h,
    })
}

/// Handles one message, pushing the replies for this connection into `out`.
fn handle(
    t: &Tracker,
    s: &mut Session,
    tx: &tokio::sync::mpsc::Sender<OutMessage>,
    bytes: &[u8],
    out: &mut Vec<OutMessage>,
) -> Next {
    let message = match InMessage::parse(bytes, &t.ws_limits) {
        Ok(m) => m,
        Err(e) => {
            t.metrics.refuse(Proto::Ws, "malformed");
            out.push(error(e.to_string(), None, None));
            s.errors += 1;
            return if s.errors >= MAX_ERRORS {
                Next::Close
            } else {
                Next::Continue
            };
        }
    };
    let now = Instant::now();
    match message {
        InMessage::Announce(a) => {
            let h = a.info_hash;
            if let Err(refusal) = t.access.check_announce(s.ip, &h, now) {
                t.metrics.refuse(Proto::Ws, refusal.label());
                out.push(error(refusal.reason(), Some(Action::Announce), Some(h)));
                return match refusal {
                    Refusal::RateLimited => Next::Continue,
                    Refusal::UnknownHash => {
                        // PeerTube closes the socket and blocks the IP.
                        t.access.block(s.ip, now);
                        Next::Close
                    }
                    Refusal::Blocked => Next::Close,
                };
            }
            match s.peers.get(&h) {
                Some(p) if *p != a.peer_id => {
                    out.push(error(
                        "only one peer id per torrent on a connection",
                        Some(Action::Announce),
                        Some(h),
                    ));
                    return Next::Close;
                }
                Some(_) => {}
                None if s.peers.len() >= MAX_TORRENTS_PER_CONNECTION => {
                    out.push(error(
                        "too many torrents on one connection",
                        Some(Action::Announce),
                        Some(h),
                    ));
                    return Next::Close;
                }
                None => {
                    s.peers.insert(h, a.peer_id);
                }
            }
            let reply = t.swarms.announce_ws(
                WsAnnounce {
                    info_hash: h,
                    peer_id: a.peer_id,
                    conn: s.conn,
                    tx,
                    seeder: a.left.map(|left| left == 0),
                    event: a.event,
                    offers: a
                        .offers
                        .into_iter()
                        .map(|o| (o.offer_id, o.offer))
                        .collect(),
                },
                a.numwant,
                now,
            );
            if a.event == AnnounceEvent::Stopped {
                s.peers.remove(&h);
            }
            if reply.stored == Stored::SwarmFull {
                t.metrics.refuse(Proto::Ws, "swarm_full");
            }
            t.metrics
                .offers_relayed
                .fetch_add(reply.offers_relayed as u64, Relaxed);
            if let Some(answer) = a.answer {
                if t.swarms.relay_answer(
                    h,
                    a.peer_id,
                    answer.to_peer_id,
                    answer.offer_id,
                    answer.answer,
                ) {
                    t.metrics.answers_relayed.fetch_add(1, Relaxed);
                }
            }
            t.metrics.announce(Proto::Ws);
            out.push(OutMessage::Announce(AnnounceResponse {
                info_hash: h,
                complete: reply.stats.complete,
                incomplete: reply.stats.incomplete,
                interval: t.config.interval_secs,
            }));
        }
        InMessage::Scrape(ScrapeRequest::Full) => {
            t.metrics.refuse(Proto::Ws, "malformed");
            out.push(error(
                "full scrapes are not supported: name info_hash",
                Some(Action::Scrape),
                None,
            ));
        }
        InMessage::Scrape(ScrapeRequest::Torrents(hashes)) => {
            let known: Vec<InfoHash> = hashes
                .into_iter()
                .filter(|h| t.access.check_scrape(h, now))
                .collect();
            let stats = t.swarms.scrape(&known);
            t.metrics.scrape(Proto::Ws);
            out.push(OutMessage::Scrape(ScrapeResponse {
                files: known.into_iter().zip(stats).collect(),
            }));
        }
    }
    Next::Continue
}
