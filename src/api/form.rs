//! A small request body as a map of fields, whatever way the client sent it: JSON, a
//! URL-encoded form, or `multipart/form-data` (what PeerTube's web client sends when a form may
//! carry a file). Files are not read: their field names are reported so the handler can refuse
//! one it does not take. For bodies of a few fields (playlists); uploads have their own parser.

use super::error::ApiError;
use crate::app::SharedApp;
use axum::extract::{FromRequest, Multipart, Request};
use http::StatusCode;
use serde_json::{Map, Value};

/// Largest body read this way.
pub const MAX_FORM_BODY: usize = 64 * 1024;

/// The fields of a body: text values as JSON strings (JSON bodies keep their types), repeated
/// names (`a[]`, `a`) as arrays.
#[derive(Debug, Default)]
pub struct Fields {
    /// Field name → value.
    pub values: Map<String, Value>,
    /// Names of file parts, which were skipped.
    pub files: Vec<String>,
}

impl Fields {
    /// A string field (numbers as sent).
    pub fn text(&self, name: &str) -> Option<String> {
        match self.values.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// An optional non-negative integer field (a JSON number or a numeric string); `null` and
    /// the empty string are absent. Other values are a 400 naming the field.
    pub fn integer(&self, name: &str) -> Result<Option<u64>, ApiError> {
        let bad = |v: &Value| {
            ApiError::bad_request(format!("{name} must be a non-negative integer (got {v})"))
        };
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(v @ Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad(v)),
            Some(v @ Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| bad(v)),
            Some(v) => Err(bad(v)),
        }
    }

    /// Whether `name` was sent at all (even as null).
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    fn push(&mut self, name: &str, value: String) {
        let name = name.strip_suffix("[]").unwrap_or(name).to_string();
        match self.values.get_mut(&name) {
            Some(Value::Array(a)) => a.push(Value::String(value)),
            Some(prev) => {
                let first = prev.take();
                *prev = Value::Array(vec![first, Value::String(value)]);
            }
            None => {
                self.values.insert(name, Value::String(value));
            }
        }
    }
}

/// Reads `req`'s body as [`Fields`]; 415 for another content type, 413 past [`MAX_FORM_BODY`].
pub async fn fields(app: &SharedApp, req: Request) -> Result<Fields, ApiError> {
    let ct = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    if ct.starts_with("multipart/form-data") {
        return multipart(app, req).await;
    }
    let body = axum::body::to_bytes(req.into_body(), MAX_FORM_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body must be at most {MAX_FORM_BODY} bytes"),
            )
        })?;
    if ct.starts_with("application/json") {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Fields::default());
        }
        return match serde_json::from_slice(&body) {
            Ok(Value::Object(values)) => Ok(Fields {
                values,
                files: vec![],
            }),
            Ok(other) => Err(ApiError::bad_request(format!(
                "the body must be a JSON object (got {other})"
            ))),
            Err(e) => Err(ApiError::bad_request(format!("body is not JSON: {e}"))),
        };
    }
    if ct.starts_with("application/x-www-form-urlencoded") {
        let text = std::str::from_utf8(&body)
            .map_err(|_| ApiError::bad_request("the form body is not UTF-8"))?;
        let mut out = Fields::default();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.push(&decode(k), decode(v));
        }
        return Ok(out);
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "send application/json, application/x-www-form-urlencoded or multipart/form-data (got {ct})"
        ),
    ))
}

/// A URL-encoded form component (`+` is a space).
fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

async fn multipart(app: &SharedApp, req: Request) -> Result<Fields, ApiError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request(format!("malformed multipart body: {}", e.body_text()))
    };
    let mut parts = Multipart::from_request(req, app)
        .await
        .map_err(|e| ApiError::bad_request(format!("malformed multipart body: {e}")))?;
    let mut out = Fields::default();
    let mut read = 0usize;
    while let Some(field) = parts.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        if field.file_name().is_some() {
            out.files.push(name);
            continue;
        }
        let text = field.text().await.map_err(bad)?;
        read += text.len();
        if read > MAX_FORM_BODY {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the form's text fields must be at most {MAX_FORM_BODY} bytes"),
            ));
        }
        out.push(&name, text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_from_numbers_and_strings() {
        let mut f = Fields::default();
        f.values.insert("a".into(), Value::from(3));
        f.values.insert("b".into(), Value::from(" 4 "));
        f.values.insert("c".into(), Value::from(""));
        f.values.insert("d".into(), Value::from(-1));
        f.values.insert("e".into(), Value::from("x"));
        assert_eq!(f.integer("a").unwrap(), Some(3));
        assert_eq!(f.integer("b").unwrap(), Some(4));
        assert_eq!(f.integer("c").unwrap(), None);
        assert_eq!(f.integer("z").unwrap(), None);
        assert!(f.integer("d").unwrap_err().detail.contains("-1"));
        assert!(f.integer("e").unwrap_err().detail.contains("x"));
    }

    #[test]
    fn repeated_names_become_arrays() {
        let mut f = Fields::default();
        f.push("t[]", "a".into());
        f.push("t", "b".into());
        f.push("u", "c".into());
        assert_eq!(f.values["t"], serde_json::json!(["a", "b"]));
        assert_eq!(f.text("u").as_deref(), Some("c"));
    }
}
