//! `GET /api/v1/users/me`: the logged-in user in PeerTube's shape.

use super::auth::AuthUser;
use super::error::ApiError;
use crate::app::SharedApp;
use crate::store::tables::{Channel, ChannelKey, User};
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

/// Unix seconds as an RFC 3339 UTC timestamp (`2026-11-26T04:49:27.000Z`).
pub fn iso8601(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The account object of a local user.
pub fn account_json(app: &crate::app::App, user: &User) -> Value {
    json!({
        "id": user.id,
        "name": user.username,
        "displayName": user.display_name,
        "url": format!("{}/accounts/{}", app.public_url, user.username),
        "host": app.public_host,
        "followersCount": 0,
        "followingCount": 0,
        "createdAt": iso8601(user.created_at),
        "avatars": [],
    })
}

/// The channel object.
pub fn channel_json(app: &crate::app::App, c: &Channel) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "displayName": c.display_name,
        "url": format!("{}/video-channels/{}", app.public_url, c.name),
        "host": app.public_host,
        "followersCount": 0,
        "followingCount": 0,
        "createdAt": iso8601(c.created_at),
        "avatars": [],
        "banners": [],
    })
}

/// `GET /api/v1/users/me`.
pub async fn me(State(app): State<SharedApp>, auth: AuthUser) -> Result<Json<Value>, ApiError> {
    let user = auth.user;
    let channels: Vec<Value> = app
        .store
        .scan::<ChannelKey>(&())?
        .into_iter()
        .filter(|(_, c)| c.owner == user.id)
        .map(|(_, c)| channel_json(&app, &c))
        .collect();
    Ok(Json(json!({
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "emailVerified": true,
        "role": {"id": user.role.id(), "label": user.role.label()},
        "adminFlags": 0,
        "blocked": false,
        "nsfwPolicy": "do_not_list",
        "videoQuota": -1,
        "videoQuotaDaily": -1,
        "createdAt": iso8601(user.created_at),
        "account": account_json(&app, &user),
        "videoChannels": channels,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_795_668_567), "2026-11-26T04:49:27.000Z");
    }
}
