//! The query string of PeerTube's video lists and searches, parsed and checked: paging
//! (`start`, `count`), the sort, and the filters (`isLocal`, `categoryOneOf`, `languageOneOf`,
//! `tagsOneOf`, `tagsAllOf`, `nsfw`, `privacyOneOf`, `hasHLSFiles`, dates, durations). A bad
//! value is a PeerTube-shaped 400 that names the parameter and the value.

use super::error::ApiError;
use crate::store::video_index::SortKey;
use crate::video::text::normalise;
use crate::video::{Privacy, Video};

/// PeerTube's largest page (`PAGINATION.GLOBAL.COUNT.MAX`).
pub const MAX_COUNT: usize = 100;
/// Largest `start` accepted: deeper pages are refused rather than walked.
pub const MAX_START: usize = 100_000;
/// Longest search string (characters).
pub const MAX_SEARCH: usize = 250;
/// Most values in one `…OneOf`/`…AllOf` filter.
const MAX_VALUES: usize = 30;

/// The query's `key=value` pairs, decoded (`+` is a space; `key[]` is `key`).
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Result<Params, ApiError> {
        let mut out = Vec::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| invalid(k, s, "is not UTF-8"))
            };
            let key = dec(k)?;
            let key = key.strip_suffix("[]").unwrap_or(&key).to_string();
            out.push((key, dec(v)?));
        }
        Ok(Params(out))
    }

    /// The last value of `name`.
    pub fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (repeated keys, or one comma-free value each).
    pub fn all(&self, name: &str) -> Result<Vec<&str>, ApiError> {
        let v: Vec<&str> = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        if v.len() > MAX_VALUES {
            return Err(invalid(
                name,
                &format!("{} values", v.len()),
                &format!("takes at most {MAX_VALUES} values"),
            ));
        }
        Ok(v)
    }

    /// A non-negative integer at most `max`.
    pub fn int(&self, name: &str, default: usize, max: usize) -> Result<usize, ApiError> {
        let Some(s) = self.one(name) else {
            return Ok(default);
        };
        match s.trim().parse::<usize>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(invalid(
                name,
                s,
                &format!("must be an integer from 0 to {max}"),
            )),
        }
    }

    /// `true` or `false`.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.one(name) {
            None => Ok(None),
            Some("true") | Some("1") => Ok(Some(true)),
            Some("false") | Some("0") => Ok(Some(false)),
            Some(s) => Err(invalid(name, s, "must be true or false")),
        }
    }

    /// An ISO 8601 date or date-time, as Unix seconds.
    pub fn date(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.one(name) {
            None => Ok(None),
            Some(s) => parse_date(s)
                .map(Some)
                .ok_or_else(|| invalid(name, s, "must be an ISO 8601 date")),
        }
    }

    /// A list of integers, each in `range`.
    pub fn ints(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<Vec<u32>, ApiError> {
        self.all(name)?
            .into_iter()
            .map(|s| match s.trim().parse::<u32>() {
                Ok(n) if range.contains(&n) => Ok(n),
                _ => Err(invalid(
                    name,
                    s,
                    &format!("must be integers from {} to {}", range.start(), range.end()),
                )),
            })
            .collect()
    }
}

/// A 400 naming the parameter and value, in PeerTube's shape (`invalid-params`).
pub fn invalid(name: &str, value: &str, msg: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Incorrect request parameters: {name} {msg} (got {value:?})"
    ))
    .invalid_param(name, value, msg)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` as Unix seconds.
pub fn parse_date(s: &str) -> Option<u64> {
    let s = s.trim();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let p = s.get(r)?;
        p.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| p.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if s.get(4..5)? != "-"
        || s.get(7..8)? != "-"
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
    {
        return None;
    }
    let mut secs = days_from_civil(i64::from(y), m, d) * 86_400;
    if s.len() > 10 {
        let rest = &s[10..];
        if !rest.starts_with('T') && !rest.starts_with(' ') {
            return None;
        }
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if h > 23 || mi > 59 || se > 60 {
            return None;
        }
        secs += i64::from(h * 3600 + mi * 60 + se);
        let mut tz = &s[19..];
        if let Some(frac) = tz.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            tz = &frac[n..];
        }
        match tz {
            "Z" | "" => {}
            _ if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
                let oh: i64 = tz.get(1..3)?.parse().ok()?;
                let om: i64 = tz.get(4..6)?.parse().ok()?;
                let off = oh * 3600 + om * 60;
                secs -= if tz.starts_with('+') { off } else { -off };
            }
            _ => return None,
        }
    }
    u64::try_from(secs).ok()
}

/// The requested order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// An indexed order, descending when `desc`.
    By {
        /// The index.
        key: SortKey,
        /// Descending (`-` prefix).
        desc: bool,
    },
    /// Search relevance (`-match`, searches only).
    Match,
}

/// Parses `sort`; `matching` allows `match` (searches).
pub fn parse_sort(raw: Option<&str>, default: Sort, matching: bool) -> Result<Sort, ApiError> {
    let Some(s) = raw else { return Ok(default) };
    let (desc, field) = match s.strip_prefix('-') {
        Some(f) => (true, f),
        None => (false, s),
    };
    if matching && field == "match" {
        return Ok(Sort::Match);
    }
    match SortKey::parse(field) {
        Some(key) => Ok(Sort::By { key, desc }),
        None => Err(invalid(
            "sort",
            s,
            "must be one of name, duration, publishedAt, originallyPublishedAt, createdAt, views, likes, trending, hot, best (prefix - for descending)",
        )),
    }
}

/// Which videos a list or search keeps.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// `isLocal`.
    pub is_local: Option<bool>,
    /// `categoryOneOf`.
    pub categories: Vec<u32>,
    /// `licenceOneOf`.
    pub licences: Vec<u32>,
    /// `languageOneOf` (`_unknown` matches videos without a language).
    pub languages: Vec<String>,
    /// `tagsOneOf` (normalised).
    pub tags_one_of: Vec<String>,
    /// `tagsAllOf` (normalised).
    pub tags_all_of: Vec<String>,
    /// `nsfw`: `Some(false)` hides NSFW videos, `Some(true)` keeps only them.
    pub nsfw: Option<bool>,
    /// `privacyOneOf` (administrators only; then every video is a candidate).
    pub privacies: Vec<Privacy>,
    /// `hasHLSFiles`.
    pub has_hls: Option<bool>,
    /// `isLive`: Fleuve has no lives, so `true` keeps nothing.
    pub is_live: Option<bool>,
    /// `startDate`/`endDate`: publication time range (Unix seconds, inclusive).
    pub published: (Option<u64>, Option<u64>),
    /// `originallyPublishedStartDate`/`…EndDate`.
    pub originally: (Option<u64>, Option<u64>),
    /// `durationMin`/`durationMax` (seconds).
    pub duration: (Option<u64>, Option<u64>),
    /// Only this local user's videos (`/accounts/{name}/videos`; not a query parameter).
    pub owner: Option<u64>,
    /// Only this local channel's videos (`/video-channels/{name}/videos`; not a query parameter).
    pub channel: Option<u64>,
    /// The instance's blocklist, when it blocks something: videos of blocked servers and
    /// accounts are left out (not a query parameter; see [`Filter::hiding_blocked`]).
    pub blocked: Option<std::sync::Arc<crate::federation::blocklist::Blocklist>>,
    /// What the viewer muted, left out (not a query parameter; see [`Filter::hiding_muted_by`]).
    pub muted: Option<crate::federation::blocklist::Mutes>,
}

impl Filter {
    /// Reads every filter of the query.
    pub fn parse(p: &Params) -> Result<Filter, ApiError> {
        let nsfw = match p.one("nsfw") {
            None | Some("both") => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(s) => return Err(invalid("nsfw", s, "must be true, false or both")),
        };
        let tags = |name: &str| -> Result<Vec<String>, ApiError> {
            p.all(name)?
                .into_iter()
                .map(|t| {
                    let n = t.trim().chars().count();
                    if (1..=30).contains(&n) && !t.chars().any(char::is_control) {
                        Ok(normalise(t))
                    } else {
                        Err(invalid(name, t, "must be tags of 1 to 30 characters"))
                    }
                })
                .collect()
        };
        let languages = p
            .all("languageOneOf")?
            .into_iter()
            .map(|l| {
                let ok = !l.is_empty()
                    && l.len() <= 20
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if ok {
                    Ok(l.to_string())
                } else {
                    Err(invalid("languageOneOf", l, "must be language codes"))
                }
            })
            .collect::<Result<_, _>>()?;
        let privacies = p
            .ints("privacyOneOf", 1..=5)?
            .into_iter()
            .map(|n| {
                Privacy::from_id(n as u64)
                    .map_err(|_| invalid("privacyOneOf", &n.to_string(), "must be 1 to 5"))
            })
            .collect::<Result<_, _>>()?;
        let secs = |name: &str| -> Result<Option<u64>, ApiError> {
            p.one(name)
                .map(|s| {
                    s.trim()
                        .parse::<u64>()
                        .map_err(|_| invalid(name, s, "must be a number of seconds"))
                })
                .transpose()
        };
        Ok(Filter {
            is_local: p.bool("isLocal")?,
            categories: p.ints("categoryOneOf", 1..=1000)?,
            licences: p.ints("licenceOneOf", 1..=1000)?,
            languages,
            tags_one_of: tags("tagsOneOf")?,
            tags_all_of: tags("tagsAllOf")?,
            nsfw,
            privacies,
            has_hls: p.bool("hasHLSFiles")?,
            is_live: p.bool("isLive")?,
            published: (p.date("startDate")?, p.date("endDate")?),
            originally: (
                p.date("originallyPublishedStartDate")?,
                p.date("originallyPublishedEndDate")?,
            ),
            duration: (secs("durationMin")?, secs("durationMax")?),
            owner: None,
            channel: None,
            blocked: None,
            muted: None,
        })
    }

    /// This filter, also leaving out what the user `viewer` muted (when they muted anything).
    /// Reads the store: call it on the blocking pool.
    pub fn hiding_muted_by(
        mut self,
        store: &crate::store::Store,
        viewer: Option<u64>,
    ) -> Result<Filter, crate::store::StoreError> {
        if let Some(id) = viewer {
            let m = crate::federation::blocklist::Mutes::load(store, id)?;
            if !m.is_empty() {
                self.muted = Some(m);
            }
        }
        Ok(self)
    }

    /// This filter, also leaving out what `blocklist` blocks (when it blocks anything: an
    /// empty blocklist keeps the unfiltered list's fast path).
    pub fn hiding_blocked(
        mut self,
        blocklist: &std::sync::Arc<crate::federation::blocklist::Blocklist>,
    ) -> Filter {
        if !blocklist.is_empty() {
            self.blocked = Some(blocklist.clone());
        }
        self
    }

    /// Whether nothing but visibility filters the list (then its total is a stored count).
    pub fn is_empty(&self) -> bool {
        self.is_local.is_none()
            && self.categories.is_empty()
            && self.licences.is_empty()
            && self.languages.is_empty()
            && self.tags_one_of.is_empty()
            && self.tags_all_of.is_empty()
            && self.nsfw.is_none()
            && self.privacies.is_empty()
            && self.has_hls.is_none()
            && self.is_live != Some(true)
            && self.published == (None, None)
            && self.originally == (None, None)
            && self.duration == (None, None)
            && self.owner.is_none()
            && self.channel.is_none()
            && self.blocked.is_none()
            && self.muted.is_none()
    }

    /// Whether `v` passes every filter (visibility is the caller's).
    pub fn matches(&self, v: &Video) -> bool {
        let m = &v.meta;
        let within = |x: u64, (lo, hi): (Option<u64>, Option<u64>)| {
            lo.is_none_or(|lo| x >= lo) && hi.is_none_or(|hi| x <= hi)
        };
        let published = v.published_at.unwrap_or(v.created_at);
        let tags: Vec<String> = m.tags.iter().map(|t| normalise(t)).collect();
        self.is_local.is_none_or(|l| v.is_local() == l)
            && !self.blocked.as_ref().is_some_and(|b| b.hides(v))
            && !self.muted.as_ref().is_some_and(|m| m.hides(v))
            && self.owner.is_none_or(|o| v.is_local() && v.owner == o)
            && self
                .channel
                .is_none_or(|c| v.is_local() && v.channel_id == c)
            && (self.categories.is_empty()
                || m.category.is_some_and(|c| self.categories.contains(&c)))
            && (self.licences.is_empty() || m.licence.is_some_and(|c| self.licences.contains(&c)))
            && (self.languages.is_empty()
                || self.languages.iter().any(|l| match &m.language {
                    Some(ml) => ml == l,
                    None => l == "_unknown",
                }))
            && (self.tags_one_of.is_empty() || self.tags_one_of.iter().any(|t| tags.contains(t)))
            && self.tags_all_of.iter().all(|t| tags.contains(t))
            && self.nsfw.is_none_or(|n| m.nsfw == n)
            && (self.privacies.is_empty() || self.privacies.contains(&v.privacy))
            && self.has_hls.is_none_or(|h| {
                (v.hls.is_some() || v.remote.as_ref().is_some_and(|r| r.playlist_url.is_some()))
                    == h
            })
            && self.is_live != Some(true)
            && within(published, self.published)
            && within(
                m.originally_published_at.unwrap_or(published),
                self.originally,
            )
            && within(v.duration.round() as u64, self.duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_as_peertube_sends_them() {
        assert_eq!(parse_date("1970-01-02"), Some(86_400));
        assert_eq!(parse_date("2024-03-01T12:00:00.000Z"), Some(1_709_294_400));
        assert_eq!(parse_date("2024-03-01T13:00:00+01:00"), Some(1_709_294_400));
        for bad in [
            "2024-13-01",
            "yesterday",
            "2024-03-01T25:00:00Z",
            "2024-03-01X",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_values_name_the_parameter_and_value() {
        let p = Params::parse(Some(
            "start=-1&count=101&sort=-nope&nsfw=maybe&tagsOneOf[]=a&tagsOneOf[]=b",
        ))
        .unwrap();
        let e = p.int("start", 0, MAX_START).unwrap_err();
        assert!(
            e.detail.contains("start") && e.detail.contains("\"-1\""),
            "{}",
            e.detail
        );
        assert!(p
            .int("count", 15, MAX_COUNT)
            .unwrap_err()
            .detail
            .contains("101"));
        let e = parse_sort(p.one("sort"), Sort::Match, false).unwrap_err();
        assert!(e.detail.contains("-nope"), "{}", e.detail);
        assert!(Filter::parse(&p).unwrap_err().detail.contains("maybe"));
        assert_eq!(p.all("tagsOneOf").unwrap(), ["a", "b"]);
        assert_eq!(
            parse_sort(Some("-best"), Sort::Match, false).unwrap(),
            Sort::By {
                key: SortKey::Hot,
                desc: true
            }
        );
        assert!(parse_sort(Some("-match"), Sort::Match, false).is_err());
    }
}
