//! What a video is about and how it was received: PeerTube's category, licence, language, tags,
//! NSFW flag and original publication date ([`VideoMeta`], part of the stored record), and its
//! audience counters ([`VideoStats`], a record of its own so that a view never rewrites the
//! video). Plain data; the serde shapes are the stored format.

use serde::{Deserialize, Serialize};

/// PeerTube's descriptive metadata of a video. Every field has a serde default and is left out
/// of the stored JSON while it has its default, so records written before these fields existed
/// decode, and encode back, unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VideoMeta {
    /// PeerTube category id (1 Music … 18), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<u32>,
    /// PeerTube licence id (1 CC BY … 7 Public Domain), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<u32>,
    /// Language code (`en`, `fr`, …), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Tags (PeerTube allows up to 5 of 2 to 30 characters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Not safe for work.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nsfw: bool,
    /// When it was first published elsewhere (Unix seconds), when the uploader said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originally_published_at: Option<u64>,
}

/// PeerTube's label of a category id (`/api/v1/videos/categories`).
pub fn category_label(id: Option<u32>) -> &'static str {
    const LABELS: [&str; 18] = [
        "Music",
        "Films",
        "Vehicles",
        "Art",
        "Sports",
        "Travels",
        "Gaming",
        "People",
        "Comedy",
        "Entertainment",
        "News & Politics",
        "How To",
        "Education",
        "Activism",
        "Science & Technology",
        "Animals",
        "Kids",
        "Food",
    ];
    id.and_then(|i| LABELS.get((i as usize).checked_sub(1)?))
        .copied()
        .unwrap_or("Unknown")
}

/// PeerTube's label of a licence id (`/api/v1/videos/licences`).
pub fn licence_label(id: Option<u32>) -> &'static str {
    const LABELS: [&str; 7] = [
        "Attribution",
        "Attribution - Share Alike",
        "Attribution - No Derivatives",
        "Attribution - Non Commercial",
        "Attribution - Non Commercial - Share Alike",
        "Attribution - Non Commercial - No Derivatives",
        "Public Domain Dedication",
    ];
    id.and_then(|i| LABELS.get((i as usize).checked_sub(1)?))
        .copied()
        .unwrap_or("Unknown")
}

/// The ISO 639-3 codes PeerTube adds to the ISO 639-1 languages (its `buildLanguages`: sign
/// languages, Kabyle, Lojban, Toki Pona), and our "no linguistic content".
const EXTRA_LANGUAGES: [&str; 20] = [
    "sgn", "ase", "asq", "sdl", "bfi", "bzs", "csl", "cse", "dsl", "fsl", "gsg", "pks", "jsl",
    "sfb", "swl", "rsl", "kab", "jbo", "tok", "zxx",
];

/// PeerTube's video languages, code → English name, sorted by code: every ISO 639-1 language
/// (from `isolang`), the [`EXTRA_LANGUAGES`] under their 639-3 code, and PeerTube's own names
/// for Greek, Occitan and the two written Chinese.
pub fn languages() -> &'static [(&'static str, &'static str)] {
    static TABLE: std::sync::LazyLock<Vec<(&'static str, &'static str)>> =
        std::sync::LazyLock::new(|| {
            let mut t: Vec<(&'static str, &'static str)> = isolang::languages()
                .filter_map(|l| l.to_639_1().map(|c| (c, l.to_name())))
                .collect();
            for code in EXTRA_LANGUAGES {
                let name = match code {
                    "zxx" => "No linguistic content",
                    "tok" => "Toki Pona",
                    c => isolang::Language::from_639_3(c).map_or(c, |l| l.to_name()),
                };
                t.push((code, name));
            }
            for (code, name) in [
                ("el", "Greek"),
                ("oc", "Occitan"),
                ("zh-Hant", "Traditional Chinese"),
                ("zh-Hans", "Simplified Chinese"),
            ] {
                t.retain(|(c, _)| *c != code);
                t.push((code, name));
            }
            t.sort_unstable();
            t.dedup_by(|a, b| a.0 == b.0);
            t
        });
    &TABLE
}

/// The name of a video language code, if it is one of PeerTube's.
pub fn known_language(code: &str) -> Option<&'static str> {
    let t = languages();
    t.binary_search_by(|(c, _)| (*c).cmp(code))
        .ok()
        .map(|i| t[i].1)
}

/// The label of a language code (its name; a code PeerTube does not list, as itself).
pub fn language_label(code: &str) -> &str {
    known_language(code).unwrap_or(code)
}

/// A video's audience counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoStats {
    /// Views counted since it was created.
    #[serde(default)]
    pub views: u64,
    /// Views counted in the trending window (the last `TRENDING_DAYS` days).
    #[serde(default)]
    pub window_views: u64,
    /// Users who rated it `like`.
    #[serde(default)]
    pub likes: u64,
    /// Users who rated it `dislike`.
    #[serde(default)]
    pub dislikes: u64,
}

/// How PeerTube weighs interactions in its `hot` score (`videos-id-list-query-builder.ts`).
const HOT_LIKE: f64 = 150.0;
const HOT_DISLIKE: f64 = -150.0;
const HOT_VIEW: f64 = 16.0;
/// Seconds of publication age worth one decade of interactions.
const HOT_TIME: f64 = 47_000.0;

impl VideoStats {
    /// PeerTube's `hot` score: `log10(max(1, weighted interactions)) + publishedAt / 47000`,
    /// with the trending window's views. A fresh video beats an older one unless the older has
    /// tenfold the interactions per 47 000 s (~13 h) of age. It changes only when the counters
    /// change, so its index entry is rewritten with them and never by a clock.
    pub fn hot(&self, published_at: u64) -> f64 {
        let w = self.likes as f64 * HOT_LIKE
            + self.dislikes as f64 * HOT_DISLIKE
            + self.window_views as f64 * HOT_VIEW;
        w.max(1.0).log10() + published_at as f64 / HOT_TIME
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_peertubes() {
        let t = languages();
        // The 184 ISO 639-1 languages, the extra 639-3 ones, the two written Chinese.
        assert!(t.len() >= 200, "{}", t.len());
        assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
        for (code, name) in [
            ("fr", "French"),
            ("sw", "Swahili"),
            ("el", "Greek"),
            ("oc", "Occitan"),
            ("fsl", "French Sign Language"),
            ("tok", "Toki Pona"),
            ("zh-Hant", "Traditional Chinese"),
            ("zxx", "No linguistic content"),
        ] {
            assert_eq!(known_language(code), Some(name), "{code}");
        }
        assert_eq!(known_language("xx"), None);
        assert_eq!(language_label("xx"), "xx");
    }

    #[test]
    fn defaults_are_left_out_of_the_stored_json() {
        assert_eq!(serde_json::to_string(&VideoMeta::default()).unwrap(), "{}");
        let m: VideoMeta = serde_json::from_str(r#"{"tags":["a"],"nsfw":true}"#).unwrap();
        assert_eq!(m.tags, ["a"]);
        assert!(m.nsfw);
    }

    #[test]
    fn hot_prefers_fresh_unless_much_more_liked() {
        let none = VideoStats::default();
        let liked = VideoStats { likes: 100, ..none };
        assert!(none.hot(100_000) > none.hot(0));
        assert!(liked.hot(0) > none.hot(47_000));
        assert!(liked.hot(0) < none.hot(47_000 * 5));
    }
}
