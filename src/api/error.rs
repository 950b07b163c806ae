//! API errors in PeerTube's shape: RFC 7807 problem documents (`application/problem+json`) with
//! PeerTube's `code` and the legacy `error` field that older clients read.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use serde_json::json;

/// An error answer of the REST API.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// PeerTube error code (`invalid_grant`, …), when one applies.
    pub code: Option<&'static str>,
    /// Human-readable detail naming the offending value.
    pub detail: String,
    /// Extra headers (e.g. `Retry-After`).
    pub retry_after: Option<u64>,
    /// PeerTube's `invalid-params` of a validation error: the parameter, its value, why.
    pub invalid_params: Option<serde_json::Value>,
    /// The request carried a credential (a token) that is not known: the response carries
    /// [`RefusedCredential`] so that throttles can count it.
    pub refused_credential: bool,
}

/// Response extension of an answer that refused an unknown credential.
#[derive(Debug, Clone, Copy)]
pub struct RefusedCredential;

impl ApiError {
    /// An error with a status and detail.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: None,
            detail: detail.into(),
            retry_after: None,
            invalid_params: None,
            refused_credential: false,
        }
    }

    /// Marks the error as the refusal of an unknown credential (see [`RefusedCredential`]).
    pub fn refused_credential(mut self) -> ApiError {
        self.refused_credential = true;
        self
    }

    /// Names the query parameter that was wrong, as PeerTube's validators do
    /// (`invalid-params: {name: {value, msg, path, location}}`).
    pub fn invalid_param(mut self, name: &str, value: &str, msg: &str) -> ApiError {
        self.invalid_params = Some(json!({
            name: {"type": "field", "value": value, "msg": msg, "path": name, "location": "query"}
        }));
        self
    }

    /// Adds a PeerTube error code.
    pub fn code(mut self, code: &'static str) -> ApiError {
        self.code = Some(code);
        self
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, detail)
    }

    /// 409.
    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }

    /// 500, logging the cause (the client gets no internals); 507 "no space left on device"
    /// when the cause is a full disk, which the client may retry later and the operator must fix.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> ApiError {
        let err = err.to_string();
        tracing::error!(context, error = %err, "internal error");
        if crate::transcode::space::mentions_no_space(&err) {
            return ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("{}: {context}", crate::transcode::space::NO_SPACE),
            );
        }
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error: {context}"),
        )
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        use crate::store::StoreError;
        match &e {
            StoreError::ReadOnly(cause) | StoreError::Closed(cause) => {
                tracing::warn!(error = %e, "request refused: the metadata store takes no writes");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "the server cannot save changes right now ({}); try again later",
                        crate::runtime::disk::client_message(cause)
                    ),
                )
            }
            _ => ApiError::internal("metadata store", e),
        }
    }
}

impl From<crate::runtime::blocking::PoolGone> for ApiError {
    fn from(e: crate::runtime::blocking::PoolGone) -> ApiError {
        ApiError::internal("blocking pool", e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let type_url = match self.code {
            Some(code) => format!(
                "https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/{code}"
            ),
            None => "about:blank".to_string(),
        };
        let mut body = json!({
            "type": type_url,
            "title": title,
            "status": self.status.as_u16(),
            "detail": self.detail,
            "error": self.detail,
        });
        if let Some(code) = self.code {
            body["code"] = json!(code);
        }
        if let Some(p) = self.invalid_params {
            body["invalid-params"] = p;
        }
        let mut resp = (self.status, body.to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json; charset=utf-8"),
        );
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.refused_credential {
            resp.extensions_mut().insert(RefusedCredential);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_507_and_says_so() {
        let e = ApiError::internal(
            "moving the upload",
            std::io::Error::from_raw_os_error(libc::ENOSPC),
        );
        assert_eq!(e.status, StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(e.detail, "no space left on device: moving the upload");
        let e = ApiError::internal("metadata store", "corruption");
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.detail, "internal error: metadata store");
    }
}
