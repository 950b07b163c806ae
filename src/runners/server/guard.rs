//! The bad-token throttle of the runners' endpoints (PeerTube puts them behind its API rate
//! limiter): an address that presented [`MAX_REFUSALS`] unknown registration or runner tokens
//! within [`WINDOW`] gets 429 with `Retry-After` on every runner call until its window ends. Tokens
//! cannot be tried at speed, and a runner left running with a deleted token cannot hammer the
//! board. Runners with good tokens are never counted.

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

/// The middleware: refuses an address over the limit, counts the refusals of the others.
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
}
