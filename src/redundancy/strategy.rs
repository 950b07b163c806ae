//! Which videos a strategy mirrors next (no I/O), as PeerTube's
//! `videos-redundancy-scheduler.ts` chooses: candidates ranked by the strategy, one picked at
//! random among the first [`RANDOMIZED_FACTOR`] (so that mirrors spread over several videos),
//! never past the strategy's size budget.

use crate::config::redundancy::{Strategy, StrategyConfig};
use rand::Rng;

/// PeerTube's `REDUNDANCY.VIDEOS.RANDOMIZED_FACTOR`.
pub const RANDOMIZED_FACTOR: usize = 5;

/// A video that could be mirrored.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Its local id.
    pub video_id: u64,
    /// Views its origin reported.
    pub views: u64,
    /// Publication (Unix seconds).
    pub published_at: u64,
    /// Bytes its files take (the origin's announced sizes).
    pub size: u64,
}

/// Orders candidates best first for `config`'s strategy, leaving out those it does not take
/// (`recently-added` under `min_views`).
pub fn rank(config: &StrategyConfig, mut candidates: Vec<Candidate>, now: u64) -> Vec<Candidate> {
    match config.strategy {
        Strategy::MostViews => candidates.sort_by(|a, b| {
            b.views
                .cmp(&a.views)
                .then(b.published_at.cmp(&a.published_at))
        }),
        Strategy::Trending => {
            // Views per day since publication (an origin reports totals, not recent views).
            let rate = |c: &Candidate| {
                let days = (now.saturating_sub(c.published_at) as f64 / 86_400.0).max(1.0);
                c.views as f64 / days
            };
            candidates.sort_by(|a, b| rate(b).total_cmp(&rate(a)));
        }
        Strategy::RecentlyAdded => {
            candidates.retain(|c| c.views >= config.min_views);
            candidates.sort_by_key(|c| std::cmp::Reverse(c.published_at));
        }
    }
    candidates
}

/// The videos to mirror for a strategy whose mirrors take `used` bytes: picked one at a time
/// at random among the first [`RANDOMIZED_FACTOR`] ranked candidates that still fit in the
/// budget, until none fits. The sum of their sizes and `used` never passes `size_bytes`.
pub fn pick(
    config: &StrategyConfig,
    candidates: Vec<Candidate>,
    used: u64,
    now: u64,
    rng: &mut impl Rng,
) -> Vec<Candidate> {
    let mut left: Vec<Candidate> = rank(config, candidates, now)
        .into_iter()
        .filter(|c| c.size > 0)
        .collect();
    let mut used = used;
    let mut chosen = Vec::new();
    loop {
        let room = config.size_bytes.saturating_sub(used);
        let window: Vec<usize> = left
            .iter()
            .enumerate()
            .filter(|(_, c)| c.size <= room)
            .map(|(i, _)| i)
            .take(RANDOMIZED_FACTOR)
            .collect();
        if window.is_empty() {
            return chosen;
        }
        let c = left.remove(window[rng.gen_range(0..window.len())]);
        used += c.size;
        chosen.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn config(strategy: Strategy, size: u64, min_views: u64) -> StrategyConfig {
        StrategyConfig {
            strategy,
            size_bytes: size,
            min_lifetime_secs: 48 * 3600,
            min_views,
        }
    }

    fn candidates(n: u64) -> Vec<Candidate> {
        (1..=n)
            .map(|i| Candidate {
                video_id: i,
                views: (i * 7919) % 1000,
                published_at: 1_700_000_000 + i * 3600,
                size: 1 + (i * 104_729) % 50_000_000,
            })
            .collect()
    }

    #[test]
    fn the_budget_holds_under_many_candidates() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for strategy in [
            Strategy::MostViews,
            Strategy::Trending,
            Strategy::RecentlyAdded,
        ] {
            for (budget, used) in [(1u64 << 30, 0u64), (100_000_000, 60_000_000), (10, 0)] {
                let c = config(strategy, budget, 0);
                let chosen = pick(&c, candidates(2000), used, 1_800_000_000, &mut rng);
                let total: u64 = chosen.iter().map(|c| c.size).sum::<u64>() + used;
                assert!(total <= budget, "{strategy:?}: {total} > {budget}");
                let mut ids: Vec<u64> = chosen.iter().map(|c| c.video_id).collect();
                ids.sort_unstable();
                ids.dedup();
                assert_eq!(ids.len(), chosen.len(), "a video picked twice");
                if budget == 1 << 30 {
                    // It fills the budget: no candidate left would still fit.
                    assert!(chosen.len() > 20, "{}", chosen.len());
                }
            }
        }
    }

    #[test]
    fn strategies_rank_as_peertube_does() {
        let now = 1_800_000_000;
        let c = vec![
            Candidate {
                video_id: 1,
                views: 10,
                published_at: now - 10 * 86_400,
                size: 1,
            },
            Candidate {
                video_id: 2,
                views: 50,
                published_at: now - 100 * 86_400,
                size: 1,
            },
            Candidate {
                video_id: 3,
                views: 3,
                published_at: now - 3600,
                size: 1,
            },
        ];
        let ids = |s, min| -> Vec<u64> {
            rank(&config(s, 10, min), c.clone(), now)
                .iter()
                .map(|c| c.video_id)
                .collect()
        };
        assert_eq!(ids(Strategy::MostViews, 0), [2, 1, 3]);
        assert_eq!(ids(Strategy::Trending, 0), [3, 1, 2]);
        assert_eq!(ids(Strategy::RecentlyAdded, 0), [3, 1, 2]);
        assert_eq!(ids(Strategy::RecentlyAdded, 5), [1, 2]);
        // Picks come from the first five only.
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let many: Vec<Candidate> = (0..50)
            .map(|i| Candidate {
                video_id: i,
                views: 1000 - i,
                published_at: now,
                size: 10,
            })
            .collect();
        let first = pick(&config(Strategy::MostViews, 10, 0), many, 0, now, &mut rng);
        assert_eq!(first.len(), 1);
        assert!(first[0].video_id < 5, "{:?}", first[0]);
    }
}
