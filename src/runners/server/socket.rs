//! socket.io for runners (`/socket.io/`, namespace `/runners`, Engine.IO 4 over WebSocket only,
//! as PeerTube's runner connects): the runner authenticates with its token in the namespace
//! CONNECT packet and is told `available-jobs` (debounced 1 s) whenever a job becomes pending.
//! Frames: `0{…}` open, `2`/`3` ping/pong, `40/runners,{…}` connect, `44/runners,{…}` refusal,
//! `42/runners,["available-jobs"]` the event.

use super::routes::server;
use crate::app::{ConnHold, SharedApp};
use crate::runners::protocol::socket::{AVAILABLE_JOBS, NAMESPACE};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Engine.IO ping interval (ms), as socket.io's default.
const PING_INTERVAL_MS: u64 = 25_000;
/// How long a pong may take (ms).
const PING_TIMEOUT_MS: u64 = 20_000;
/// Largest message accepted.
const MAX_PAYLOAD: usize = 64 << 10;
/// `available-jobs` is sent at most this often.
const DEBOUNCE: Duration = Duration::from_secs(1);

/// The socket.io route.
pub fn routes() -> Router<SharedApp> {
    Router::new().route("/socket.io/", get(connect))
}

fn engine_error(code: u8, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(http::header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"code": code, "message": message}).to_string(),
    )
        .into_response()
}

async fn connect(
    State(app): State<SharedApp>,
    RawQuery(raw): RawQuery,
    hold: Option<Extension<ConnHold>>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let q = raw.unwrap_or_default();
    let has = |kv: &str| q.split('&').any(|p| p == kv);
    if !has("EIO=4") {
        return engine_error(5, "Unsupported protocol version");
    }
    let Some(upgrade) = upgrade.ok().filter(|_| has("transport=websocket")) else {
        return engine_error(0, "Transport unknown (only websocket is served)");
    };
    let srv = server(&app);
    let max = srv.config.max_sockets;
    srv.sockets.fetch_add(1, Ordering::SeqCst);
    let slot = Slot(srv.clone());
    if srv.sockets.load(Ordering::SeqCst) > max {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many runner connections",
        )
            .into_response();
    }
    upgrade
        .max_message_size(MAX_PAYLOAD)
        .on_upgrade(move |socket| async move {
            serve(&app, socket, hold.map(|h| h.0)).await;
            drop(slot);
        })
}

/// One counted connection, uncounted when dropped (also when the upgrade never completes).
struct Slot(std::sync::Arc<super::RunnerServer>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.sockets.fetch_sub(1, Ordering::SeqCst);
    }
}

fn sid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn serve(app: &SharedApp, mut socket: WebSocket, hold: Option<ConnHold>) {
    let mut shutdown = hold.as_ref().map(|h| h.shutdown.clone());
    let open = serde_json::json!({
        "sid": sid(),
        "upgrades": [],
        "pingInterval": PING_INTERVAL_MS,
        "pingTimeout": PING_TIMEOUT_MS,
        "maxPayload": MAX_PAYLOAD,
    });
    if socket
        .send(Message::Text(format!("0{open}").into()))
        .await
        .is_err()
    {
        return;
    }
    let mut pending = server(app).board.pending_changes();
    pending.borrow_and_update();
    let mut joined = false;
    let mut emit_at: Option<tokio::time::Instant> = None;
    let mut ping = tokio::time::interval(Duration::from_millis(PING_INTERVAL_MS));
    ping.tick().await;
    let mut awaiting_pong: Option<tokio::time::Instant> = None;
    let prefix = format!("40{NAMESPACE},");
    loop {
        let emit = async {
            match emit_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t.as_str().to_string(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_))) => continue,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                };
                let reply = match text.as_str() {
                    "3" => { awaiting_pong = None; None }
                    "2" => Some("3".to_string()),
                    "1" => break,
                    "40" => Some(format!("40{}", serde_json::json!({"sid": sid()}))),
                    t if t == format!("40{NAMESPACE}") || t.starts_with(&prefix) => {
                        let auth = t.strip_prefix(&prefix).unwrap_or("{}");
                        let token = serde_json::from_str::<serde_json::Value>(auth)
                            .ok()
                            .and_then(|v| v["runnerToken"].as_str().map(str::to_string))
                            .unwrap_or_default();
                        let s = server(app);
                        let known = app.pool.run(move || s.board.runner(&token).is_ok()).await.unwrap_or(false);
                        if known {
                            joined = true;
                            Some(format!("40{NAMESPACE},{}", serde_json::json!({"sid": sid()})))
                        } else {
                            tracing::info!("runner socket refused: invalid runner token");
                            Some(format!("44{NAMESPACE},{}", serde_json::json!({"message": "Invalid runner token."})))
                        }
                    }
                    t if t.starts_with(&format!("41{NAMESPACE}")) => { joined = false; None }
                    _ => None,
                };
                if let Some(r) = reply {
                    if socket.send(Message::Text(r.into())).await.is_err() {
                        break;
                    }
                }
            }
            changed = pending.changed() => {
                if changed.is_err() {
                    break;
                }
                if joined && emit_at.is_none() {
                    emit_at = Some(tokio::time::Instant::now() + DEBOUNCE);
                }
            }
            _ = emit => {
                emit_at = None;
                let frame = format!("42{NAMESPACE},{}", serde_json::json!([AVAILABLE_JOBS]));
                if socket.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
            }
            _ = ping.tick() => {
                if awaiting_pong.is_some_and(|t| t.elapsed() > Duration::from_millis(PING_TIMEOUT_MS)) {
                    break;
                }
                if socket.send(Message::Text("2".into())).await.is_err() {
                    break;
                }
                awaiting_pong.get_or_insert_with(tokio::time::Instant::now);
            }
            _ = async {
                match shutdown.as_mut() {
                    Some(rx) => { let _ = rx.wait_for(|stop| *stop).await; }
                    None => std::future::pending::<()>().await,
                }
            } => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
        }
    }
}
