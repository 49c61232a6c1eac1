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
use crm_core::{Error, ErrorKind, FieldError};
use serde::Serialize;
use serde_json::{Value, json};

/// `{"success": true, "data": data}` with a status.
pub fn ok<T: Serialize>(status: StatusCode, data: T) -> Response {
    (status, Json(json!({ "success": true, "data": data }))).into_response()
}

/// An API error: status, stable code, message, failing fields, extra details.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    fields: Vec<FieldError>,
    details: Option<Value>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
            details: None,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match &e {
            Error::InsufficientPoints {
                requested,
                available,
            } => Self {
                status: StatusCode::CONFLICT,
                code: "insufficient_points",
                message,
                fields: Vec::new(),
                details: Some(json!({ "requested": requested, "available": available })),
            },
            Error::DuplicateCustomer {
                field,
                existing_code,
                ..
            } => Self {
                status: StatusCode::CONFLICT,
                code: "duplicate_customer",
                message,
                fields: Vec::new(),
                details: Some(json!({ "field": field, "existing_customer_code": existing_code })),
            },
            _ => match e.kind() {
                ErrorKind::NotFound => Self::new(StatusCode::NOT_FOUND, "not_found", message),
                ErrorKind::Unauthorized => {
                    Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
                }
                ErrorKind::Conflict => Self::new(StatusCode::CONFLICT, "conflict", message),
                ErrorKind::Validation => Self {
                    fields: e.field_errors().to_vec(),
                    ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", message)
                },
                _ => {
                    let request_id = uuid::Uuid::new_v4().to_string();
                    tracing::error!(%request_id, error = ?e, "internal error");
                    Self {
                        details: Some(json!({ "request_id": request_id })),
                        ..Self::new(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "internal",
                            format!("internal error; quote request id {request_id}"),
                        )
                    }
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
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "fields": self.fields,
        });
        if let (Some(details), Some(obj)) = (self.details, error.as_object_mut())
            && let Some(d) = details.as_object()
        {
            for (k, v) in d {
                obj.insert(k.clone(), v.clone());
            }
        }
        (
            self.status,
            Json(json!({ "success": false, "error": error })),
        )
            .into_response()
    }
}
