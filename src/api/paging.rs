//! PeerTube's paging of lists: `start` and `count` in the query, answered as a `ResultList`
//! (`{ total, data }`). Bad values are a 400 that names them.

use super::error::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};

/// The most items one page may have (PeerTube's limit).
pub const MAX_COUNT: usize = 100;
/// Items per page when `count` is not given.
pub const DEFAULT_COUNT: usize = 15;

/// `start`, `count` and `sort` as sent (checked by [`Paging::parse`]).
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    start: Option<String>,
    count: Option<String>,
    sort: Option<String>,
}

/// A checked page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    /// Items to skip.
    pub start: usize,
    /// Items to return at most.
    pub count: usize,
    /// Sort key without its sign (one of the keys the list allows).
    pub sort: String,
    /// Whether the sort is descending (`-key`).
    pub descending: bool,
}

fn number(name: &str, v: Option<&str>, default: usize) -> Result<usize, ApiError> {
    match v {
        None => Ok(default),
        Some(s) => s.trim().parse().map_err(|_| {
            ApiError::bad_request(format!("{name} must be a non-negative integer (got {s:?})"))
        }),
    }
}

impl PageQuery {
    /// A page query from values read elsewhere (a raw query with repeated keys).
    pub fn from_params(start: Option<&str>, count: Option<&str>, sort: Option<&str>) -> PageQuery {
        PageQuery {
            start: start.map(Into::into),
            count: count.map(Into::into),
            sort: sort.map(Into::into),
        }
    }
}

impl Paging {
    /// Checks `q`: `sort` must be one of `sorts` (optionally prefixed with `-`); without one,
    /// `default_sort`.
    pub fn parse(q: &PageQuery, sorts: &[&str], default_sort: &str) -> Result<Paging, ApiError> {
        let start = number("start", q.start.as_deref(), 0)?;
        let count = number("count", q.count.as_deref(), DEFAULT_COUNT)?;
        if count > MAX_COUNT {
            return Err(ApiError::bad_request(format!(
                "count must be at most {MAX_COUNT} (got {count})"
            )));
        }
        let sort = q.sort.as_deref().unwrap_or(default_sort);
        let (descending, key) = match sort.strip_prefix('-') {
            Some(k) => (true, k),
            None => (false, sort),
        };
        if !sorts.contains(&key) {
            return Err(ApiError::bad_request(format!(
                "sort {sort:?} is not supported here; use one of {sorts:?} (prefix - for descending)"
            )));
        }
        Ok(Paging {
            start,
            count,
            sort: key.to_string(),
            descending,
        })
    }

    /// The page of `items` (already sorted) as a `ResultList`, each item made by `to_json`.
    pub fn result_list<T, E>(
        &self,
        items: &[T],
        to_json: impl Fn(&T) -> Result<Value, E>,
    ) -> Result<Value, E> {
        let data = items
            .iter()
            .skip(self.start)
            .take(self.count)
            .map(to_json)
            .collect::<Result<Vec<_>, E>>()?;
        Ok(json!({"total": items.len(), "data": data}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(start: Option<&str>, count: Option<&str>, sort: Option<&str>) -> PageQuery {
        PageQuery {
            start: start.map(Into::into),
            count: count.map(Into::into),
            sort: sort.map(Into::into),
        }
    }

    #[test]
    fn defaults_and_limits() {
        let p = Paging::parse(&q(None, None, None), &["createdAt"], "-createdAt").unwrap();
        assert_eq!(
            (p.start, p.count, p.sort.as_str(), p.descending),
            (0, 15, "createdAt", true)
        );
        for (start, count, sort, bad) in [
            (Some("-1"), None, None, "-1"),
            (None, Some("101"), None, "101"),
            (None, Some("x"), None, "x"),
            (None, None, Some("-views"), "-views"),
        ] {
            let e = Paging::parse(&q(start, count, sort), &["createdAt"], "createdAt").unwrap_err();
            assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
            assert!(e.detail.contains(bad), "{}", e.detail);
        }
    }

    #[test]
    fn pages() {
        let p = Paging::parse(&q(Some("1"), Some("2"), None), &["n"], "n").unwrap();
        let doc = p
            .result_list(&[1, 2, 3, 4], |n| Ok::<_, ()>(json!(n)))
            .unwrap();
        assert_eq!(doc, json!({"total": 4, "data": [2, 3]}));
    }
}
