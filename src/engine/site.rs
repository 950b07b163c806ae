//! What the shards serve. A primary serves the whole application (API, uploads, federation,
//! tracker, pages, media from its disk and its bucket); an edge (`fleuve serve --edge`) serves
//! only the bucket's media and `/metrics`, and keeps no database. The shards see the two alike
//! through [`Site`]: the parts of the process they need, the router for what is not media, and
//! the primary when there is one (OAuth checks of private files read its database).

use crate::app::{EngineInfo, SharedApp};
use crate::config::Config;
use crate::media::access::MediaAccess;
use crate::media::objstore::edge::Upstream;
use crate::media::objstore::serve::BucketRoutes;
use crate::metrics::Metrics;
use crate::runtime::blocking::BlockingPool;
use crate::runtime::conn_limits::ConnLimits;
use std::sync::Arc;
use std::time::Instant;

/// The process as its shards see it.
pub struct Site {
    /// Effective configuration.
    pub config: Config,
    /// Metrics of all shards.
    pub metrics: Metrics,
    /// Engine description.
    pub engine: EngineInfo,
    /// Start time (shards' heartbeats count from it).
    pub started: Instant,
    /// Connection caps, send budget and timeouts.
    pub conn_limits: Arc<ConnLimits>,
    /// Video file tokens and the file-move counter.
    pub media_access: Arc<MediaAccess>,
    /// Blocking pool (the portable file reader uses it).
    pub pool: BlockingPool,
    /// The bucket's fetches for viewers, when object storage is on.
    pub upstream: Option<Arc<Upstream>>,
    /// Which paths are bucket objects, when object storage is on.
    pub bucket: Option<Arc<BucketRoutes>>,
    /// Everything that is not media.
    pub router: axum::Router,
    /// The primary; None on an edge.
    pub primary: Option<SharedApp>,
}

impl Site {
    /// The primary's shards' view of `app`.
    pub fn primary(app: &SharedApp) -> Arc<Site> {
        Arc::new(Site {
            config: app.config.clone(),
            metrics: app.metrics.clone(),
            engine: app.engine.clone(),
            started: app.started,
            conn_limits: app.conn_limits.clone(),
            media_access: app.media_access.clone(),
            pool: app.pool.clone(),
            upstream: app.edge_upstream.clone(),
            bucket: app.object_storage.as_ref().map(|os| {
                Arc::new(BucketRoutes::new(
                    os.clone(),
                    false,
                    app.config.media.media_max_age_secs,
                    app.config.media.playlist_max_age_secs,
                ))
            }),
            router: super::router::router(app.clone()),
            primary: Some(app.clone()),
        })
    }
}
