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
    /// The broad code of the kind (`not_found`, `conflict`, `validation`,
    /// `storage`, `unauthorized`); [`Error::code`] is the finer contract.
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

/// The machine code of a failure: **the contract** that HTTP error bodies
/// (`error.code`), Python exceptions (`.code`) and Node errors (`.code`) all
/// carry. The strings are written here and nowhere else; they never change
/// meaning once published.
///
/// | code | HTTP | when |
/// |---|---|---|
/// | `validation` | 422 | the input broke rules; every failing field is listed |
/// | `not_found` | 404 | no such customer, purchase, ... |
/// | `duplicate_customer` | 409 | an active customer holds the email/phone (`field`, `existing_customer_code`) |
/// | `insufficient_points` | 409 | a redemption does not fit (`requested`, `available`) |
/// | `idempotency_conflict` | 409 | an idempotency key (receipt, refund id, reference) reused with another payload |
/// | `conflict` | 409 | any other clash with stored state; [`ConflictReason`] says which |
/// | `unauthorized` | 401 | credentials or token missing or wrong |
/// | `forbidden` | 403 | the caller's role may not do this |
/// | `rate_limited` | 429 | too many attempts; try later |
/// | `malformed_json` | 400 | the body is not JSON |
/// | `bad_request` | 400 | the request itself is malformed (a path parameter of the wrong type) |
/// | `method_not_allowed` | 405 | the path exists, the method does not |
/// | `payload_too_large` | 413 | the body is over the server's limit |
/// | `unsupported_media_type` | 415 | the body's content type is not accepted |
/// | `internal` | 500 | the backend failed; details only in logs |
/// | `unavailable` | 503 | overloaded, timed out, or the database cannot be reached; retry after `Retry-After` |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub enum ErrorCode {
    /// `validation`
    Validation,
    /// `not_found`
    NotFound,
    /// `duplicate_customer`
    DuplicateCustomer,
    /// `insufficient_points`
    InsufficientPoints,
    /// `idempotency_conflict`
    IdempotencyConflict,
    /// `conflict`
    Conflict,
    /// `unauthorized`
    Unauthorized,
    /// `forbidden`
    Forbidden,
    /// `rate_limited`
    RateLimited,
    /// `malformed_json`
    MalformedJson,
    /// `bad_request`
    BadRequest,
    /// `method_not_allowed`
    MethodNotAllowed,
    /// `payload_too_large`
    PayloadTooLarge,
    /// `unsupported_media_type`
    UnsupportedMediaType,
    /// `internal`
    Internal,
    /// `unavailable`
    Unavailable,
}

impl ErrorCode {
    /// Every code, for documentation and binding tests.
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::Validation,
        ErrorCode::NotFound,
        ErrorCode::DuplicateCustomer,
        ErrorCode::InsufficientPoints,
        ErrorCode::IdempotencyConflict,
        ErrorCode::Conflict,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::RateLimited,
        ErrorCode::MalformedJson,
        ErrorCode::BadRequest,
        ErrorCode::MethodNotAllowed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
    ];

    /// The code as sent (`insufficient_points`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Validation => "validation",
            ErrorCode::NotFound => "not_found",
            ErrorCode::DuplicateCustomer => "duplicate_customer",
            ErrorCode::InsufficientPoints => "insufficient_points",
            ErrorCode::IdempotencyConflict => "idempotency_conflict",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    /// The code a server answers for a bare HTTP status (a rejection made
    /// before any handler ran); `None` for statuses without a code.
    pub fn for_http_status(status: u16) -> Option<Self> {
        Some(match status {
            400 => ErrorCode::BadRequest,
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            409 => ErrorCode::Conflict,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            422 => ErrorCode::Validation,
            429 => ErrorCode::RateLimited,
            503 => ErrorCode::Unavailable,
            500..=599 => ErrorCode::Internal,
            _ => return None,
        })
    }

    /// The HTTP status that carries this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Validation => 422,
            ErrorCode::NotFound => 404,
            ErrorCode::DuplicateCustomer
            | ErrorCode::InsufficientPoints
            | ErrorCode::IdempotencyConflict
            | ErrorCode::Conflict => 409,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::RateLimited => 429,
            ErrorCode::MalformedJson | ErrorCode::BadRequest => 400,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an operation clashed with stored state ([`Error::Conflict`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub enum ConflictReason {
    /// An idempotency key (receipt, refund id, `reference_type`/`reference_id`,
    /// merge) was used before for a different operation. Use a new key.
    IdempotencyKeyReused,
    /// Another writer changed the data at the same time (an update that kept
    /// losing the race, a merge moving the customer's data); retrying succeeds.
    ConcurrentChange,
    /// The customer is inactive (deactivated or merged) and cannot take the operation.
    CustomerInactive,
    /// The customer was already merged into another customer.
    AlreadyMerged,
    /// The thing to create exists already (a user with this email).
    AlreadyExists,
    /// A counter ran out (customer codes of a type beyond 8 digits).
    Exhausted,
    /// The change would leave no active admin.
    LastAdmin,
}

impl ConflictReason {
    /// The reason as sent (`idempotency_key_reused`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictReason::IdempotencyKeyReused => "idempotency_key_reused",
            ConflictReason::ConcurrentChange => "concurrent_change",
            ConflictReason::CustomerInactive => "customer_inactive",
            ConflictReason::AlreadyMerged => "already_merged",
            ConflictReason::AlreadyExists => "already_exists",
            ConflictReason::Exhausted => "exhausted",
            ConflictReason::LastAdmin => "last_admin",
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
    /// The operation clashes with stored state; `reason` says how (only
    /// [`ConflictReason::ConcurrentChange`] may succeed on a plain retry).
    #[error("conflict: {message}")]
    Conflict {
        /// Why.
        reason: ConflictReason,
        /// What clashed, for people.
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
    /// The storage backend cannot be reached right now: the connection was
    /// refused or lost, the server is shutting down, or no connection came
    /// free in time. Retrying later may succeed; a write that failed this way
    /// may or may not have been applied, so retry it with the same
    /// idempotency key (receipt, refund id, reference).
    #[error("unavailable: {message}")]
    Unavailable {
        /// What failed, without secrets.
        message: String,
        /// The backend's own error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
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
            Error::Storage { .. } | Error::Unavailable { .. } => ErrorKind::Storage,
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
        }
    }

    /// The machine code of this error: the contract every layer carries
    /// (see [`ErrorCode`]).
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::NotFound { .. } => ErrorCode::NotFound,
            Error::DuplicateCustomer { .. } => ErrorCode::DuplicateCustomer,
            Error::InsufficientPoints { .. } => ErrorCode::InsufficientPoints,
            Error::Conflict {
                reason: ConflictReason::IdempotencyKeyReused,
                ..
            } => ErrorCode::IdempotencyConflict,
            Error::Conflict { .. } => ErrorCode::Conflict,
            Error::Validation(_) => ErrorCode::Validation,
            Error::Unauthorized { .. } => ErrorCode::Unauthorized,
            Error::Storage { .. } => ErrorCode::Internal,
            Error::Unavailable { .. } => ErrorCode::Unavailable,
        }
    }

    /// The reason of a conflict (`None` for other errors).
    pub fn conflict_reason(&self) -> Option<ConflictReason> {
        match self {
            Error::Conflict { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// A conflict with a reason.
    pub fn conflict(reason: ConflictReason, message: impl Into<String>) -> Self {
        Error::Conflict {
            reason,
            message: message.into(),
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

    /// The backend cannot be reached right now ([`Error::Unavailable`]),
    /// wrapping the backend's error.
    pub fn unavailable(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Unavailable {
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

/// Collects failing fields, then fails once with all of them: the one way
/// the SDK reports bad input.
///
/// ```
/// use crm_core::{Error, error::FieldErrors};
/// let mut errors = FieldErrors::new();
/// errors.push("name", "required", "name is required");
/// let city = Err::<String, _>(Error::invalid("city", "max_length", "too long"));
/// assert!(errors.check("address.", city).is_none());
/// let err = errors.finish().unwrap_err();
/// let fields: Vec<_> = err.field_errors().iter().map(|f| f.field.as_str()).collect();
/// assert_eq!(fields, ["name", "address.city"]);
/// ```
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// No error yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a failing field.
    pub fn push(
        &mut self,
        field: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0.push(FieldError::new(field, rule, message));
    }

    /// Records a failing field built elsewhere.
    pub fn add(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// Records the failing fields of a validation error, each field name
    /// prefixed with `prefix` (`"[3]."`, `"loyalty."`, or `""`). Any other
    /// error is returned: it is not about the input.
    pub fn absorb(&mut self, prefix: &str, error: Error) -> Result<()> {
        match error {
            Error::Validation(fields) => {
                self.0.extend(fields.into_iter().map(|f| FieldError {
                    field: format!("{prefix}{}", f.field),
                    ..f
                }));
                Ok(())
            }
            other => Err(other),
        }
    }

    /// The value of a check, or `None` with its failing fields recorded
    /// (prefixed). A failure other than a validation is recorded as a
    /// failure of the field named by the prefix.
    pub fn check<T>(&mut self, prefix: &str, result: Result<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                if let Err(other) = self.absorb(prefix, e) {
                    self.push(prefix.trim_end_matches('.'), "invalid", other.to_string());
                }
                None
            }
        }
    }

    /// The failing fields, in the order they were recorded.
    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    /// Whether nothing failed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many fields failed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `Ok` when nothing failed, else one [`Error::Validation`] with every field.
    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.0))
        }
    }

    /// `value` when nothing failed, else the validation error.
    pub fn finish_with<T>(self, value: T) -> Result<T> {
        self.finish().map(|()| value)
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
        assert_eq!(e.code().as_str(), "validation");
    }

    #[test]
    fn codes_are_distinct_and_conflicts_carry_a_reason() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            let json = serde_json::to_value(code).expect("serialises");
            assert_eq!(json, code.as_str());
        }
        let e = Error::conflict(ConflictReason::IdempotencyKeyReused, "key reused");
        assert_eq!(e.code(), ErrorCode::IdempotencyConflict);
        assert_eq!(e.code().http_status(), 409);
        let e = Error::conflict(ConflictReason::CustomerInactive, "inactive");
        assert_eq!(
            (e.code(), e.conflict_reason()),
            (ErrorCode::Conflict, Some(ConflictReason::CustomerInactive))
        );
        assert_eq!(Error::storage_msg("x").code(), ErrorCode::Internal);
        let down = Error::unavailable("connection refused", std::io::Error::other("refused"));
        assert_eq!(
            (down.kind(), down.code(), down.code().http_status()),
            (ErrorKind::Storage, ErrorCode::Unavailable, 503)
        );
    }
}
