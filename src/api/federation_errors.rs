//! The edge between federation and HTTP: each [`FederationError`] becomes PeerTube's problem
//! document with the status it deserves. The only place that decides those statuses.

use super::error::ApiError;
use crate::federation::FederationError;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

impl From<FederationError> for ApiError {
    fn from(e: FederationError) -> ApiError {
        match e {
            FederationError::Signature(detail) => {
                ApiError::unauthorized(detail).code("invalid_signature")
            }
            FederationError::Unavailable {
                detail,
                retry_after,
            } => {
                let mut a = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, detail);
                a.retry_after = Some(retry_after);
                a
            }
            e @ FederationError::RateLimited { retry_after, .. } => {
                let mut a = ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string());
                a.retry_after = Some(retry_after);
                a
            }
            e @ FederationError::OwnActor => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            FederationError::NotFound(detail) => ApiError::not_found(detail),
            FederationError::Blocked(detail) => ApiError::forbidden(detail),
            FederationError::BadRequest(detail) | FederationError::Refused(detail) => {
                ApiError::bad_request(detail)
            }
            e @ (FederationError::Protocol(_)
            | FederationError::Actor(_)
            | FederationError::Fetch(_)
            | FederationError::KeyFetch(_)) => ApiError::bad_request(e.to_string()),
            FederationError::Store(e) => ApiError::from(e),
            FederationError::Pool(e) => ApiError::from(e),
            FederationError::Internal { context, detail } => ApiError::internal(context, detail),
        }
    }
}

impl IntoResponse for FederationError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_peertubes() {
        let a = ApiError::from(FederationError::Signature("bad".into()));
        assert_eq!(
            (a.status, a.code),
            (StatusCode::UNAUTHORIZED, Some("invalid_signature"))
        );
        let a = ApiError::from(FederationError::Unavailable {
            detail: "busy".into(),
            retry_after: 7,
        });
        assert_eq!(
            (a.status, a.retry_after),
            (StatusCode::SERVICE_UNAVAILABLE, Some(7))
        );
        let a = ApiError::from(FederationError::RateLimited {
            host: "h.example".into(),
            retry_after: 3,
        });
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            a.detail,
            "too many inbox POSTs from h.example; retry in 3 s"
        );
        assert_eq!(
            ApiError::from(FederationError::OwnActor).status,
            StatusCode::CONFLICT
        );
        let a = ApiError::from(FederationError::NotFound("no local actor \"x\"".into()));
        assert_eq!(a.status, StatusCode::NOT_FOUND);
    }
}
