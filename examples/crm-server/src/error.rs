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
use crm_core::{Error, ErrorKind};
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

/// An API error: a status and the body of the error envelope.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Box<ErrorBody>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                code,
                message: message.into(),
                fields: Vec::new(),
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
        let message = e.to_string();
        match &e {
            Error::InsufficientPoints {
                requested,
                available,
            } => {
                let mut err = Self::new(StatusCode::CONFLICT, "insufficient_points", message);
                err.body.requested = Some(*requested);
                err.body.available = Some(*available);
                err
            }
            Error::DuplicateCustomer {
                field,
                existing_code,
                ..
            } => {
                let mut err = Self::new(StatusCode::CONFLICT, "duplicate_customer", message);
                err.body.field = Some(field.to_string());
                err.body.existing_customer_code = Some(existing_code.to_string());
                err
            }
            _ => match e.kind() {
                ErrorKind::NotFound => Self::new(StatusCode::NOT_FOUND, "not_found", message),
                ErrorKind::Unauthorized => {
                    Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
                }
                ErrorKind::Conflict => Self::new(StatusCode::CONFLICT, "conflict", message),
                ErrorKind::Validation => {
                    let mut err =
                        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", message);
                    err.body.fields = e.field_errors().to_vec();
                    err
                }
                _ => {
                    let request_id = uuid::Uuid::new_v4().to_string();
                    tracing::error!(%request_id, error = ?e, "internal error");
                    let mut err = Self::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        format!("internal error; quote request id {request_id}"),
                    );
                    err.body.request_id = Some(request_id);
                    err
                }
            },
        }
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
        Self::new(status, "malformed_json", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            r.body_text(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorEnvelope {
                success: false,
                error: *self.body,
            }),
        )
            .into_response()
    }
}
