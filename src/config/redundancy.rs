//! `[redundancy]` and `[remote_redundancy]`: mirroring other instances' videos, and accepting
//! other servers' mirrors of ours, in PeerTube's terms (`redundancy.videos.*` and
//! `remote_redundancy.videos.accept_from` of its `production.yaml`;
//! reference/peertube-runners-storage-redundancy.md §3). Checked once at start: a bad value
//! names its key and the value.

use serde::{Deserialize, Serialize};

/// PeerTube refuses strategies whose mirrors may be dropped sooner than this (10 hours).
pub const MIN_LIFETIME_FLOOR_SECS: u64 = 10 * 3600;

/// `[redundancy]`: the videos of followed instances this server mirrors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RedundancyConfig {
    /// Seconds between two looks at the strategies (new candidates, expired mirrors); PeerTube's
    /// `redundancy.videos.check_interval` (1 hour). Manual mirrors and changes of a followed
    /// server's `redundancyAllowed` are acted on at once.
    pub check_interval_secs: u64,
    /// Seconds one mirror's download may take before it is given up (and tried again at the
    /// next look); PeerTube uses its import timeout (2 hours).
    pub download_timeout_secs: u64,
    /// Bytes per second mirror downloads may take from origins; 0 = no limit.
    pub download_rate_bytes_per_sec: u64,
    /// The strategies, each with its own size budget (none by default: nothing is mirrored
    /// except manual mirrors).
    pub strategies: Vec<StrategyConfig>,
}

impl Default for RedundancyConfig {
    fn default() -> Self {
        RedundancyConfig {
            check_interval_secs: 3600,
            download_timeout_secs: 7200,
            download_rate_bytes_per_sec: 0,
            strategies: Vec::new(),
        }
    }
}

/// Which videos a strategy mirrors first (PeerTube's `VideoRedundancyStrategy`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The most viewed videos.
    MostViews,
    /// The videos with the most views per day since their publication.
    Trending,
    /// The latest published videos with at least `min_views` views.
    RecentlyAdded,
}

impl Strategy {
    /// PeerTube's name (`most-views`, `trending`, `recently-added`).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::MostViews => "most-views",
            Strategy::Trending => "trending",
            Strategy::RecentlyAdded => "recently-added",
        }
    }
}

/// `[[redundancy.strategies]]`: one strategy and its budget.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    /// `most-views`, `trending` or `recently-added`.
    pub strategy: Strategy,
    /// Bytes its mirrors may take on disk (PeerTube's `size`).
    pub size_bytes: u64,
    /// Seconds a mirror is kept at least; past that it is renewed while the strategy still
    /// picks it and its budget allows, and dropped otherwise (PeerTube's `min_lifetime`, more
    /// than 10 hours).
    pub min_lifetime_secs: u64,
    /// `recently-added` only: views a video needs to be mirrored.
    #[serde(default)]
    pub min_views: u64,
}

/// `[remote_redundancy]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteRedundancyConfig {
    /// `[remote_redundancy.videos]`.
    pub videos: RemoteRedundancyVideos,
}

/// `[remote_redundancy.videos]`: whose mirrors of our videos we list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteRedundancyVideos {
    /// `nobody`, `anybody` (PeerTube's default) or `followings` (servers this instance
    /// follows).
    pub accept_from: AcceptFrom,
}

/// Whose `CacheFile`s are accepted.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AcceptFrom {
    /// Nobody's: mirrors are ignored.
    Nobody,
    /// Any server's.
    #[default]
    Anybody,
    /// Only the servers this instance follows.
    Followings,
}

impl RedundancyConfig {
    /// Checks the values; a bad one is named with its key.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.check_interval_secs == 0 {
            return Err((
                "redundancy.check_interval_secs".into(),
                "must be at least 1 second".into(),
            ));
        }
        if self.download_timeout_secs == 0 {
            return Err((
                "redundancy.download_timeout_secs".into(),
                "must be at least 1 second".into(),
            ));
        }
        let mut seen = Vec::new();
        for (i, s) in self.strategies.iter().enumerate() {
            let key = |k: &str| format!("redundancy.strategies[{i}].{k}");
            if seen.contains(&s.strategy) {
                return Err((
                    key("strategy"),
                    format!("{} is listed twice", s.strategy.name()),
                ));
            }
            seen.push(s.strategy);
            if s.min_lifetime_secs <= MIN_LIFETIME_FLOOR_SECS {
                return Err((
                    key("min_lifetime_secs"),
                    format!(
                        "{} must be more than 10 hours ({MIN_LIFETIME_FLOOR_SECS} s), as PeerTube requires",
                        s.min_lifetime_secs
                    ),
                ));
            }
            if s.size_bytes == 0 {
                return Err((key("size_bytes"), "must be more than 0".into()));
            }
            if s.min_views > 0 && s.strategy != Strategy::RecentlyAdded {
                return Err((
                    key("min_views"),
                    format!("is for recently-added only, not {}", s.strategy.name()),
                ));
            }
        }
        Ok(())
    }

    /// The strategy's settings, when configured.
    pub fn strategy(&self, s: Strategy) -> Option<&StrategyConfig> {
        self.strategies.iter().find(|c| c.strategy == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(strategy: Strategy, lifetime: u64, views: u64) -> RedundancyConfig {
        RedundancyConfig {
            strategies: vec![StrategyConfig {
                strategy,
                size_bytes: 1 << 30,
                min_lifetime_secs: lifetime,
                min_views: views,
            }],
            ..RedundancyConfig::default()
        }
    }

    #[test]
    fn bad_strategies_are_named() {
        assert!(one(Strategy::RecentlyAdded, 48 * 3600, 10).check().is_ok());
        let (key, m) = one(Strategy::Trending, 3600, 0).check().unwrap_err();
        assert_eq!(key, "redundancy.strategies[0].min_lifetime_secs");
        assert!(m.contains("3600"), "{m}");
        let (key, _) = one(Strategy::MostViews, 48 * 3600, 3).check().unwrap_err();
        assert_eq!(key, "redundancy.strategies[0].min_views");
        let mut c = one(Strategy::MostViews, 48 * 3600, 0);
        c.strategies.push(c.strategies[0].clone());
        assert!(c.check().unwrap_err().1.contains("twice"));
        let parsed: RedundancyConfig = toml::from_str(
            "[[strategies]]\nstrategy = \"recently-added\"\nsize_bytes = 10\nmin_lifetime_secs = 172800\n",
        )
        .unwrap();
        assert_eq!(parsed.strategies[0].strategy, Strategy::RecentlyAdded);
        assert!(toml::from_str::<RedundancyConfig>(
            "[[strategies]]\nstrategy = \"popular\"\nsize_bytes = 10\nmin_lifetime_secs = 172800\n"
        )
        .is_err());
    }
}
