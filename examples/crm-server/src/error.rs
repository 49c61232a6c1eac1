//! The guide's response envelope and the one error type of the API.
//!
//! Success: `{"success": true, "data": ...}` (lists add `"meta"`). Errors:
//! `{"success": false, "error": {"code", "message", "fields": [{"field",
//! "rule", "message"}]}}`. Internal failures are logged with a request id
//! and answered with that id only, never with their details.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crm_core::{Error, ErrorCode};
use serde::Serialize;

use crate::openapi::{Envelope, ErrorBody, ErrorEnvelope};

/// `{"success": true, "data": data}` with a status.
pub fn ok<T: Serialize>(status: StatusCode, data: T) -> Response {
    (
        status,
        Json(Envelope {
            success: true,
            data,
        }),
    )
        .into_response()
}

/// An API error: a status and the body of the error envelope. The code
/// and its status come from [`ErrorCode`], the SDK's contract.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Box<ErrorBody>,
}

impl ApiError {
    /// An error with a code (its status follows) and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: Box::new(ErrorBody {
                code,
                message: message.into(),
                fields: Vec::new(),
                reason: None,
                requested: None,
                available: None,
                field: None,
                existing_customer_code: None,
                request_id: None,
            }),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = e.code();
        if code == ErrorCode::Internal {
            let request_id = uuid::Uuid::new_v4().to_string();
            tracing::error!(%request_id, error = ?e, "internal error");
            let mut err = Self::new(
                code,
                format!("internal error; quote request id {request_id}"),
            );
            err.body.request_id = Some(request_id);
            return err;
        }
        if code == ErrorCode::Unavailable {
            tracing::warn!(error = ?e, "backend unavailable");
        }
        let mut err = Self::new(code, e.to_string());
        err.body.fields = e.field_errors().to_vec();
        err.body.reason = e.conflict_reason();
        match e {
            Error::InsufficientPoints {
                requested,
                available,
            } => {
                err.body.requested = Some(requested);
                err.body.available = Some(available);
            }
            Error::DuplicateCustomer {
                field,
                existing_code,
                ..
            } => {
                err.body.field = Some(field.to_string());
                err.body.existing_customer_code = Some(existing_code.to_string());
            }
            _ => {}
        }
        err
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = match r {
            JsonRejection::JsonSyntaxError(_) | JsonRejection::MissingJsonContentType(_) => {
                StatusCode::BAD_REQUEST
            }
            _ => r.status(),
        };
        let mut err = Self::new(ErrorCode::MalformedJson, r.body_text());
        err.status = status;
        err
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::new(ErrorCode::Validation, r.body_text())
    }
}

/// Answers every error the router or a layer made before a handler ran
/// (axum's plain-text 400 for a malformed path parameter, the empty 405 of
/// a wrong method, 404 of an unknown path, 413 of a body over the limit)
/// with the JSON envelope, keeping the status and headers (`Allow`).
pub async fn envelope_rejections(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    // JSON errors are the envelope already; an HTML page (the public
    // unsubscribe link) is meant for a browser and stays as it is.
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let Some(code) = ErrorCode::for_http_status(status.as_u16()) else {
        return res;
    };
    let (mut parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    } else {
        text
    };
    let mut err = ApiError::new(code, message);
    err.status = status;
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let fresh = err.into_response();
    let (fresh_parts, body) = fresh.into_parts();
    parts.headers.extend(fresh_parts.headers);
    Response::from_parts(parts, body)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unavailable = self.body.code == ErrorCode::Unavailable;
        let mut res = (
            self.status,
            Json(ErrorEnvelope {
                success: false,
                error: *self.body,
            }),
        )
            .into_response();
        if unavailable {
            // Every 503 says when to come back.
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        res
    }
}
