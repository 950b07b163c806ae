//! The throttles of the runners' endpoints (PeerTube puts them behind its API rate limiter):
//! - bad tokens: an address that presented [`MAX_REFUSALS`] unknown registration or runner
//!   tokens within [`WINDOW`] gets 429 with `Retry-After` on every runner call until its window
//!   ends, so tokens cannot be tried at speed and a runner left running with a deleted token
//!   cannot hammer the board;
//! - calls: an address making more than `transcode.remote_runners.max_calls_per_minute` runner
//!   calls (requests, updates, results, downloads) in [`CALL_WINDOW`] gets 429 with
//!   `Retry-After` until its window ends, so a runner polling in a loop cannot take the server's
//!   time from the others.

use crate::api::error::{ApiError, RefusedCredential};
use crate::app::{ClientAddr, SharedApp};
use crate::ratelimit::Windows;
use axum::extract::{Extension, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Unknown tokens one address may present per window.
pub const MAX_REFUSALS: u32 = 30;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(300);

/// Unknown tokens presented, per address.
#[derive(Debug)]
pub struct Refusals(Mutex<Windows<IpAddr>>);

impl Default for Refusals {
    fn default() -> Self {
        Refusals(Mutex::new(Windows::new(WINDOW)))
    }
}

impl Refusals {
    /// Seconds `ip` must wait, when it is over the limit.
    pub fn wait(&self, ip: IpAddr) -> Option<u64> {
        let now = Instant::now();
        let w = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (w.count(&ip, now) >= MAX_REFUSALS).then(|| w.wait(&ip, now).max(1))
    }

    /// Counts one refusal of `ip`.
    pub fn add(&self, ip: IpAddr) {
        let mut w = self.0.lock().unwrap_or_else(|p| p.into_inner());
        w.add(ip, Instant::now());
    }
}

/// The window of the call limit.
pub const CALL_WINDOW: Duration = Duration::from_secs(60);

/// Runner calls made, per address.
#[derive(Debug)]
pub struct Calls(Mutex<Windows<IpAddr>>);

impl Default for Calls {
    fn default() -> Self {
        Calls(Mutex::new(Windows::new(CALL_WINDOW)))
    }
}

impl Calls {
    /// Counts one call of `ip`, or, when `ip` has made `limit` calls in its window already,
    /// returns the seconds it must wait (the refused call is not counted). `limit` 0: no limit.
    pub fn admit(&self, ip: IpAddr, limit: u32) -> Option<u64> {
        if limit == 0 {
            return None;
        }
        let now = Instant::now();
        let mut w = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if w.count(&ip, now) >= limit {
            return Some(w.wait(&ip, now).max(1));
        }
        w.add(ip, now);
        None
    }
}

/// The middleware: refuses an address over either limit, counts the calls and the refusals of
/// the others.
pub async fn guard(
    State(app): State<SharedApp>,
    addr: Option<Extension<ClientAddr>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(Extension(ClientAddr(addr))) = addr else {
        return next.run(req).await;
    };
    let ip = addr.ip().to_canonical();
    let refusals = &app.runners.refusals;
    if let Some(wait) = refusals.wait(ip) {
        tracing::info!(peer = %ip, "runner call refused: too many unknown tokens from this address");
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many unknown runner or registration tokens from your address; try again in {wait} s"
            ),
        );
        e.retry_after = Some(wait);
        return e.into_response();
    }
    let limit = app.runners.config.max_calls_per_minute;
    if let Some(wait) = app.runners.calls.admit(ip, limit) {
        tracing::info!(peer = %ip, limit, "runner call refused: too many calls from this address");
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many runner calls from your address (transcode.remote_runners.max_calls_per_minute = {limit}); try again in {wait} s"
            ),
        );
        e.retry_after = Some(wait);
        return e.into_response();
    }
    let res = next.run(req).await;
    if res.extensions().get::<RefusedCredential>().is_some() {
        refusals.add(ip);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_stopped_after_its_refusals() {
        let r = Refusals::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "::1".parse().unwrap();
        for _ in 0..MAX_REFUSALS {
            assert_eq!(r.wait(a), None);
            r.add(a);
        }
        assert!(matches!(r.wait(a), Some(1..=300)));
        assert_eq!(r.wait(b), None);
    }

    #[test]
    fn calls_past_the_limit_wait_for_the_window() {
        let c = Calls::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "::1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(c.admit(a, 3), None);
        }
        assert!(matches!(c.admit(a, 3), Some(1..=60)));
        assert!(matches!(c.admit(a, 3), Some(1..=60)));
        assert_eq!(c.admit(b, 3), None);
        // 0: no limit.
        for _ in 0..100 {
            assert_eq!(c.admit(b, 0), None);
        }
    }
}
