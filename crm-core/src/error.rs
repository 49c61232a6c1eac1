//! The one error type of the SDK.
//!
//! Callers that branch on the failure use [`Error::kind`]; the HTTP server maps
//! kinds to status codes, the bindings map them to exception classes.

use serde::{Deserialize, Serialize};

use crate::customer::CustomerCode;

/// Result alias used across the SDK.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One failing field of a validation: which field, which rule, and a message
/// a person can read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The input field, as named in the input type (`name`, `email`, `address.city` ...).
    pub field: String,
    /// The rule that failed (`required`, `max_length`, `email`, `phone`, `min`, `not_updatable` ...).
    pub rule: String,
    /// A human-readable explanation.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(
        field: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
            message: message.into(),
        }
    }
}

/// What kind of failure an [`Error`] is; stable for callers that branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The entity does not exist.
    NotFound,
    /// The operation clashes with existing data (duplicates, concurrent edits).
    Conflict,
    /// The input broke one or more rules.
    Validation,
    /// The backend failed (connection, I/O, unexpected database error).
    Storage,
    /// Credentials were missing or wrong.
    Unauthorized,
}

impl ErrorKind {
    /// A stable machine-readable code (`not_found`, `conflict`, ...).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Validation => "validation",
            ErrorKind::Storage => "storage",
            ErrorKind::Unauthorized => "unauthorized",
        }
    }
}

/// Every error the SDK returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The requested entity does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// What was looked up (`customer`, ...).
        entity: &'static str,
        /// The identifier that was looked up.
        id: String,
    },
    /// Another active customer already holds this normalised email or phone.
    #[error(
        "duplicate customer: {field} {value} already belongs to active customer {existing_code}"
    )]
    DuplicateCustomer {
        /// `email` or `phone`.
        field: &'static str,
        /// The normalised value that clashed.
        value: String,
        /// The code of the active customer that holds it.
        existing_code: CustomerCode,
    },
    /// Another writer changed the entity at the same time, or the state does
    /// not allow the operation; retrying may succeed.
    #[error("conflict: {message}")]
    Conflict {
        /// What clashed.
        message: String,
    },
    /// A redemption asked for more points than the customer has available.
    #[error("insufficient points: {requested} requested, {available} available")]
    InsufficientPoints {
        /// Points asked for.
        requested: i64,
        /// Points available to redeem (0 while the customer is in debt).
        available: i64,
    },
    /// The input broke one or more rules; every failing field is listed.
    #[error("validation failed: {}", summarize(.0))]
    Validation(Vec<FieldError>),
    /// Credentials were missing or wrong.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// Why (never which of email or password was wrong).
        message: String,
    },
    /// The storage backend failed.
    #[error("storage error: {message}")]
    Storage {
        /// What failed, without secrets.
        message: String,
        /// The backend's own error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
}

fn summarize(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// The kind of failure, for callers that branch on it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::DuplicateCustomer { .. }
            | Error::Conflict { .. }
            | Error::InsufficientPoints { .. } => ErrorKind::Conflict,
            Error::Validation(_) => ErrorKind::Validation,
            Error::Storage { .. } => ErrorKind::Storage,
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
        }
    }

    /// The failing fields of a validation error (empty for other kinds).
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Error::Validation(fields) => fields,
            _ => &[],
        }
    }

    /// A storage error wrapping a backend error.
    pub fn storage(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Storage {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// A storage error with only a message (e.g. corrupt stored data).
    pub fn storage_msg(message: impl Into<String>) -> Self {
        Error::Storage {
            message: message.into(),
            source: None,
        }
    }

    /// A not-found error for a customer.
    pub fn customer_not_found(id: impl ToString) -> Self {
        Error::NotFound {
            entity: "customer",
            id: id.to_string(),
        }
    }

    /// A single-field validation error.
    pub fn invalid(
        field: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Validation(vec![FieldError::new(field, rule, message)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_messages() {
        let e = Error::Validation(vec![
            FieldError::new("name", "required", "name is required"),
            FieldError::new("email", "email", "not an email address"),
        ]);
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert_eq!(e.field_errors().len(), 2);
        assert_eq!(
            e.to_string(),
            "validation failed: name: name is required; email: not an email address"
        );
        assert_eq!(Error::customer_not_found(7).kind().code(), "not_found");
    }
}
