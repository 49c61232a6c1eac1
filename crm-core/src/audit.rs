//! The audit trail: who did what to a customer, written in the same
//! transaction as the change itself, so that a change without its audit
//! record (or the reverse) cannot exist.
//!
//! Every customer change (create, import, update, deactivate, reactivate,
//! merge, erase), every ledger entry, purchase and refund gets one record
//! naming the acting user and role ([`Crm::acting_as`](crate::Crm::acting_as);
//! `null` for code that names none, and for expiry, which nobody does).
//! Records hold ids, amounts, points and the names of changed fields, never
//! personal data, so an erasure leaves them as they are.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Result;
use crate::customer::CustomerId;
use crate::error::FieldErrors;
use crate::facade::Customers;
use crate::users::{Actor, Role};

/// The actions recorded (the `action` of an [`AuditEntry`]).
pub mod actions {
    /// A customer was created.
    pub const CUSTOMER_CREATE: &str = "customer.create";
    /// A customer was created by a bulk import.
    pub const CUSTOMER_IMPORT: &str = "customer.import";
    /// A customer's fields changed (`detail.fields` names them).
    pub const CUSTOMER_UPDATE: &str = "customer.update";
    /// A customer was deactivated.
    pub const CUSTOMER_DEACTIVATE: &str = "customer.deactivate";
    /// A customer was reactivated.
    pub const CUSTOMER_REACTIVATE: &str = "customer.reactivate";
    /// A customer was merged into another (recorded on both).
    pub const CUSTOMER_MERGE: &str = "customer.merge";
    /// A customer's personal data was erased.
    pub const CUSTOMER_ERASE: &str = "customer.erase";
    /// A purchase was recorded.
    pub const PURCHASE_RECORD: &str = "purchase.record";
    /// A purchase was refunded (in part or whole).
    pub const PURCHASE_REFUND: &str = "purchase.refund";
    /// A ledger entry: `points.earn`, `points.redeem`, `points.adjust`,
    /// `points.expire`, `points.reversal`, ... (the entry's type).
    pub const POINTS_PREFIX: &str = "points.";
}

/// An audit record before it is stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    /// The acting user, `None` when the caller named none.
    pub actor: Option<String>,
    /// Its role.
    pub role: Option<Role>,
    /// What happened ([`actions`]).
    pub action: String,
    /// The customer concerned (set by the store for a new customer).
    pub customer_id: Option<CustomerId>,
    /// Ids, amounts, points, names of changed fields: never personal data.
    pub detail: Value,
}

impl AuditRecord {
    /// A record of `action` by `actor`.
    pub fn new(actor: Option<&Actor>, action: impl Into<String>, detail: Value) -> Self {
        Self {
            actor: actor.map(|a| a.user.clone()),
            role: actor.map(|a| a.role),
            action: action.into(),
            customer_id: None,
            detail,
        }
    }

    /// The same record about `customer`.
    pub fn about(mut self, customer: CustomerId) -> Self {
        self.customer_id = Some(customer);
        self
    }
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Increasing id.
    pub id: i64,
    /// When (the change's time).
    pub at: DateTime<Utc>,
    /// The acting user; `null` for unattributed calls and expiry.
    pub actor: Option<String>,
    /// Its role.
    pub role: Option<Role>,
    /// What happened (`customer.update`, `points.earn`, ...).
    pub action: String,
    /// The customer concerned.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub customer_id: Option<CustomerId>,
    /// Ids, amounts, points and names of changed fields.
    pub detail: Value,
}

/// Most audit records one call returns.
pub const MAX_AUDIT_PAGE: u32 = 500;

/// Input of [`Customers::audit`]: one customer's trail, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditQuery {
    /// The customer.
    pub customer_id: CustomerId,
    /// Records after this id (0 from the start).
    pub after: i64,
    /// At most this many (clamped to 1..=[`MAX_AUDIT_PAGE`], default 100).
    pub limit: u32,
}

impl AuditQuery {
    /// Reads query parameters (`customer_id`, `after`, `limit`), reporting
    /// every bad or unknown one at once.
    pub fn from_params<K, V>(params: impl IntoIterator<Item = (K, V)>) -> Result<Self>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut errors = FieldErrors::new();
        let (mut customer, mut after, mut limit) = (None, 0, 100);
        let mut customer_given = false;
        for (key, value) in params {
            let (key, value) = (key.as_ref(), value.as_ref().trim());
            let number = |errors: &mut FieldErrors, min: i64| match value.parse::<i64>() {
                Ok(n) if n >= min => Some(n),
                _ => {
                    errors.push(
                        key,
                        "type",
                        format!("{key} must be a whole number of at least {min}"),
                    );
                    None
                }
            };
            match key {
                "customer_id" => {
                    customer_given = true;
                    customer = number(&mut errors, 1);
                }
                "after" => after = number(&mut errors, 0).unwrap_or(0),
                "limit" => {
                    limit = number(&mut errors, 1)
                        .map_or(100, |n| u32::try_from(n).unwrap_or(MAX_AUDIT_PAGE))
                }
                other => errors.push(
                    other,
                    "unknown_field",
                    format!("unknown parameter {other:?}: use customer_id, after, limit"),
                ),
            }
        }
        if !customer_given {
            errors.push("customer_id", "required", "customer_id is required");
        }
        errors.finish()?;
        Ok(Self {
            customer_id: CustomerId(customer.unwrap_or_default()),
            after,
            limit,
        })
    }
}

impl Customers {
    /// One customer's audit trail, oldest first (see [`crate::audit`]).
    pub async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>> {
        self.inner
            .store
            .audit_of(
                query.customer_id,
                query.after,
                query.limit.clamp(1, MAX_AUDIT_PAGE),
            )
            .await
    }
}
