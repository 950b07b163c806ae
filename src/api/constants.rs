//! PeerTube's video constants, as its clients read them to label and fill forms:
//! `GET /api/v1/videos/{categories,licences,languages,privacies}`, each an object from id to
//! label (PeerTube's English labels).

use crate::app::SharedApp;
use crate::video::Privacy;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value};

/// The routes (static paths: axum matches them before `/api/v1/videos/{id}`).
pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/api/v1/videos/categories", get(categories))
        .route("/api/v1/videos/licences", get(licences))
        .route("/api/v1/videos/languages", get(languages))
        .route("/api/v1/videos/privacies", get(privacies))
}

/// PeerTube's video categories.
pub const CATEGORIES: [(u32, &str); 18] = [
    (1, "Music"),
    (2, "Films"),
    (3, "Vehicles"),
    (4, "Art"),
    (5, "Sports"),
    (6, "Travels"),
    (7, "Gaming"),
    (8, "People"),
    (9, "Comedy"),
    (10, "Entertainment"),
    (11, "News & Politics"),
    (12, "How To"),
    (13, "Education"),
    (14, "Activism"),
    (15, "Science & Technology"),
    (16, "Animals"),
    (17, "Kids"),
    (18, "Food"),
];

/// PeerTube's video licences.
pub const LICENCES: [(u32, &str); 7] = [
    (1, "Attribution"),
    (2, "Attribution - Share Alike"),
    (3, "Attribution - No Derivatives"),
    (4, "Attribution - Non Commercial"),
    (5, "Attribution - Non Commercial - Share Alike"),
    (6, "Attribution - Non Commercial - No Derivatives"),
    (7, "Public Domain Dedication"),
];

fn table<K: ToString>(entries: impl IntoIterator<Item = (K, &'static str)>) -> Json<Value> {
    Json(Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::from(v)))
            .collect::<Map<_, _>>(),
    ))
}

/// `GET /api/v1/videos/categories`.
pub async fn categories() -> Json<Value> {
    table(CATEGORIES)
}

/// `GET /api/v1/videos/licences`.
pub async fn licences() -> Json<Value> {
    table(LICENCES)
}

/// `GET /api/v1/videos/languages`.
pub async fn languages() -> Json<Value> {
    table(
        crate::video::meta::languages()
            .iter()
            .map(|(code, name)| (*code, *name)),
    )
}

/// `GET /api/v1/videos/privacies`: the privacies Fleuve has.
pub async fn privacies() -> Json<Value> {
    table((1..=5).filter_map(|id| Privacy::from_id(id).ok().map(|p| (id, p.label()))))
}
