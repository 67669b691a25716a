//! API errors and the one place where errors become HTTP status codes.
//! Bodies are plain text, as Loki's are.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lode_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A client error (400) with Loki's message.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    NotFound(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        }
    }

    pub fn timeout() -> ApiError {
        ApiError::Timeout("request timed out, decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed".into())
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> ApiError {
        match e {
            StorageError::Invalid(m)
            | StorageError::PartialReject(m)
            | StorageError::QueryLimit(m) => ApiError::BadRequest(m),
            StorageError::RateLimited(m) => ApiError::TooManyRequests(m),
            StorageError::Logql(e) => e.into(),
            e @ (StorageError::DiskFull(_)
            | StorageError::Unavailable(_)
            | StorageError::Bucket(_)) => ApiError::Unavailable(e.to_string()),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<lode_logql::Error> for ApiError {
    fn from(e: lode_logql::Error) -> ApiError {
        match e {
            lode_logql::Error::Source(m) => ApiError::Internal(m),
            lode_logql::Error::Interrupted(i @ lode_logql::context::Interrupt::Busy { .. }) => {
                ApiError::Unavailable(i.to_string())
            }
            e => ApiError::BadRequest(e.to_string()),
        }
    }
}

impl From<lode_proto::ProtoError> for ApiError {
    fn from(e: lode_proto::ProtoError) -> ApiError {
        match e.status() {
            413 => ApiError::TooLarge(e.to_string()),
            503 => ApiError::Unavailable(e.to_string()),
            _ => ApiError::BadRequest(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %self, "request failed");
        }
        let mut body = self.to_string();
        body.push('\n');
        let mut r = (status, body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        r
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
