//! Administrators' endpoints over customers: the audit trail and erasure
//! of personal data.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use crm_core::audit::{AuditEntry, AuditQuery};
use crm_core::{Customer, CustomerId};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ok};
use crate::openapi::{E400, E401, E403, E404, E422, E500, Envelope};

type St = State<Arc<AppState>>;
type ApiResult = Result<Response, ApiError>;

/// Query of `GET /api/audit`.
#[allow(dead_code)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// The customer whose trail to read.
    #[param(minimum = 1)]
    customer_id: i64,
    /// Records after this id (for paging; 0 from the start).
    #[param(minimum = 0)]
    after: Option<i64>,
    /// At most this many records (default 100; larger values are clamped
    /// to 500).
    #[param(minimum = 1)]
    limit: Option<u32>,
}

/// A customer's audit trail, oldest first: who created, changed,
/// deactivated, merged or erased it, and every ledger entry, purchase and
/// refund, each with the acting user and role. Role: admin.
#[utoipa::path(get, path = "/api/audit", tag = "customers", security(("bearer" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "The records", body = Envelope<Vec<AuditEntry>>),
        E400, E401, E403, E422, E500
    )
)]
pub(crate) async fn audit(
    State(s): St,
    caller: Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    caller.require(&[])?;
    let Query(params) = query?;
    let query = AuditQuery::from_params(params)?;
    Ok(ok(StatusCode::OK, s.crm.customers().audit(query).await?))
}

/// Erase a customer's personal data (right to erasure): name, email,
/// phone, address, birthday and tags are removed from the record, from
/// every stored event about it and from the cache; the customer is
/// deactivated. Its code, points ledger, purchases and refunds stay, so
/// balances still add up. Role: admin.
#[utoipa::path(post, path = "/api/customers/{id}/erase", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id", minimum = 1)),
    responses(
        (status = 200, description = "The erased customer", body = Envelope<Customer>),
        E400, E401, E403, E404, E500
    )
)]
pub(crate) async fn erase(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(&[])?;
    let c = caller.crm(&s).customers().erase(CustomerId(id)).await?;
    if let Some(cache) = &s.cache {
        cache.written(&c).await;
    }
    Ok(ok(StatusCode::OK, c))
}
