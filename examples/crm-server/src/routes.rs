//! The endpoints: each parses the request (with the SDK's readers), makes one
//! call on a handle of the `Crm` and wraps the answer in the envelope. Rules,
//! defaults and error codes all live in the SDK.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use crm_core::analytics::{AnalyticsModel, CustomerAnalytics, SegmentTotal};
use crm_core::loyalty::{
    LoyaltySummary, MergeResult, NewPurchase, PointsApplied, PointsOperation, PointsRequest,
    PurchaseRecorded, ReceiptRef, RefundRecorded, RefundRequest,
};
use crm_core::users::{Credentials, User};
use crm_core::{
    ActivityFilter, Customer, CustomerId, CustomerPatch, CustomerQuery, CustomerSort, CustomerType,
    MergeCustomers, NewCustomer, SortDirection, UpdateCustomer,
};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Caller, client_ip, issue};
use crate::error::{ApiError, ok};
use crate::openapi::{
    E400, E401, E403, E404, E409, E422, E429, E500, Envelope, ErrorEnvelope, ListEnvelope, PageMeta,
};
use axum::extract::ConnectInfo;
use crm_core::users::{NewUser, Role};
use std::net::SocketAddr;

const STAFF: &[Role] = &[Role::Manager, Role::Cashier, Role::Analyst];
const WRITERS: &[Role] = &[Role::Manager];
const TILL: &[Role] = &[Role::Manager, Role::Cashier];
const ANALYSTS: &[Role] = &[Role::Manager, Role::Analyst];

type St = State<Arc<AppState>>;
type ApiResult = Result<Response, ApiError>;

/// Every documented endpoint; the OpenAPI paths come from the same list.
pub(crate) fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(<crate::openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(health))
        .routes(routes!(crate::metrics::metrics))
        .routes(routes!(login))
        .routes(routes!(list_users, create_user))
        .routes(routes!(crate::users::get_user))
        .routes(routes!(crate::users::disable_user))
        .routes(routes!(crate::users::enable_user))
        .routes(routes!(crate::users::set_role))
        .routes(routes!(crate::users::reset_password))
        .routes(routes!(crate::users::change_password))
        .routes(routes!(crate::events::realtime_ticket))
        .routes(routes!(crate::admin::audit))
        .routes(routes!(crate::admin::erase))
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(crate::imports::export_customers))
        .routes(upload(routes!(crate::imports::start_import)))
        .routes(routes!(crate::imports::get_import))
        .routes(routes!(crate::imports::rejected_csv))
        .routes(routes!(get_customer, update_customer, deactivate_customer))
        .routes(routes!(reactivate_customer))
        .routes(routes!(merge_customer))
        .routes(routes!(record_purchase))
        .routes(routes!(refund_purchase))
        .routes(routes!(loyalty_summary))
        .routes(routes!(customer_purchases))
        .routes(routes!(loyalty_operation))
        .routes(routes!(customer_analytics))
        .routes(routes!(segments))
        .routes(routes!(dashboard))
        .routes(routes!(report))
        .routes(routes!(refit))
        .routes(routes!(
            crate::comms::create_template,
            crate::comms::list_templates
        ))
        .routes(routes!(crate::comms::preview))
        .routes(routes!(
            crate::comms::create_campaign,
            crate::comms::list_campaigns
        ))
        .routes(routes!(crate::comms::get_campaign))
        .routes(routes!(crate::comms::send_campaign))
        .routes(routes!(crate::comms::communications))
        .routes(routes!(
            crate::comms::get_consent,
            crate::comms::put_consent
        ))
        .routes(routes!(
            crate::comms::unsubscribe_page,
            crate::comms::unsubscribe_post
        ))
        .routes(routes!(openapi_json))
}

/// The upload route reads its body as a stream, capped by its handler
/// (`CRM_IMPORT_MAX_BYTES`), not by axum's default extractor limit.
fn upload(
    (schemas, paths, method): utoipa_axum::router::UtoipaMethodRouter<Arc<AppState>>,
) -> utoipa_axum::router::UtoipaMethodRouter<Arc<AppState>> {
    (
        schemas,
        paths,
        method.layer(axum::extract::DefaultBodyLimit::disable()),
    )
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object))
)]
async fn openapi_json() -> Response {
    axum::response::IntoResponse::into_response((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::openapi::spec_json(),
    ))
}

/// Stores a customer's new state in the cache (if any) after a write.
async fn written_customer(s: &AppState, c: &Customer) {
    if let Some(cache) = &s.cache {
        cache.written(c).await;
    }
}

/// 201 for a write that happened, 200 for an idempotent replay of it.
fn written<T: serde::Serialize>(replayed: bool, data: T) -> Response {
    ok(
        if replayed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        data,
    )
}

pub(crate) fn body(json: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    Ok(json?.0)
}

#[utoipa::path(get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = Envelope<HealthData>),
        (status = 503, description = "The database does not answer (`unavailable`, with `Retry-After`)", body = ErrorEnvelope)
    )
)]
async fn health(State(s): St) -> Response {
    let database = s.crm.backend();
    match s.crm.ping().await {
        Ok(()) => ok(
            StatusCode::OK,
            HealthData {
                status: "ok",
                database,
            },
        ),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            axum::response::IntoResponse::into_response(ApiError::new(
                crm_core::ErrorCode::Unavailable,
                format!("the database ({database}) does not answer"),
            ))
        }
    }
}

/// What `GET /health` reports.
#[derive(Debug, Serialize, ToSchema)]
struct HealthData {
    /// `ok` (a database that does not answer gets the 503 error envelope).
    status: &'static str,
    /// The storage backend (`sqlite`, `mysql`, `memory`).
    database: &'static str,
}

/// Query string of the guide's `getCustomers(page, limit, filters)` (for
/// the OpenAPI document; `CustomerQuery::from_params` reads it).
#[allow(dead_code)]
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Page number, 1-based (default 1). A page after the first cannot be
    /// combined with `cursor`.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4294967295_u64, default = 1)]
    page: Option<u32>,
    /// Page size (default 20). A larger value is not an error: it is capped
    /// to the maximum, 100, and `meta.limit` says the size used.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4294967295_u64, default = 20)]
    limit: Option<u32>,
    /// `meta.next_cursor` of the previous page (keyset paging; same sort).
    /// Anything else is refused (`validation`, rule `cursor`).
    #[param(pattern = "^[A-Za-z0-9_-]*$")]
    cursor: Option<String>,
    /// Customer type (any case).
    #[param(rename = "type")]
    customer_type: Option<CustomerType>,
    /// `true` or `1` (default: active customers only), `false` or `0`
    /// (deactivated only) or `all`.
    active: Option<ActiveParam>,
    /// The same filter by name: `active` (default), `inactive` or `all`.
    status: Option<ActivityFilter>,
    /// Customers with this tag.
    tag: Option<String>,
    /// Search: name prefix, customer code prefix, exact email, or phone in any format.
    q: Option<String>,
    /// Sort key (default `id`).
    sort: Option<CustomerSort>,
    /// Sort direction (default `asc`).
    direction: Option<SortDirection>,
    /// Customers the last analytics fit placed in this segment (customers
    /// with purchases; refit to take new purchases in).
    segment: Option<crm_core::analytics::RfmSegment>,
    /// Customers with this recency score (1-5) at the last analytics fit.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 5)]
    recency_score: Option<u8>,
    /// Customers with this frequency score (1-5) at the last analytics fit.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 5)]
    frequency_score: Option<u8>,
    /// Created at or after (RFC 3339); not after `created_to`.
    created_from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    created_to: Option<DateTime<Utc>>,
    /// Count every match into `meta.total` (`true`/`1`, `false`/`0`).
    /// Default: counted for an offset page without `q`; a search or a
    /// `cursor` page answers `next_cursor` only.
    #[param(value_type = Option<String>, pattern = "^(true|false|1|0)$")]
    count: Option<String>,
}

/// Values of the `active` parameter of a listing.
#[allow(dead_code)]
#[derive(Debug, ToSchema)]
pub(crate) enum ActiveParam {
    /// Active customers only (the default).
    #[schema(rename = "true")]
    True,
    /// Active customers only.
    #[schema(rename = "1")]
    One,
    /// Deactivated customers only.
    #[schema(rename = "false")]
    False,
    /// Deactivated customers only.
    #[schema(rename = "0")]
    Zero,
    /// Both.
    #[schema(rename = "all")]
    All,
}

/// List customers (the guide's `getCustomers`). Roles: manager, cashier, analyst.
///
/// Parameter values are trimmed and an empty value counts as absent;
/// unknown parameters are ignored; a parameter given twice is refused.
#[utoipa::path(get, path = "/api/customers", tag = "customers", security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of customers", body = ListEnvelope<Customer>),
        E401, E403, E422, E500
    )
)]
async fn list_customers(
    State(s): St,
    caller: Caller,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    caller.require(STAFF)?;
    let Query(params) = params?;
    let page = s
        .crm
        .customers()
        .list(CustomerQuery::from_params(params)?)
        .await?;
    let role = caller.0.role;
    Ok(axum::response::IntoResponse::into_response((
        StatusCode::OK,
        Json(ListEnvelope {
            success: true,
            data: page
                .items
                .into_iter()
                .map(|c| c.as_seen_by(role))
                .collect::<Vec<_>>(),
            meta: PageMeta {
                page: page.page,
                limit: page.limit,
                total: page.total,
                next_cursor: page.next_cursor,
            },
        }),
    )))
}

/// Create a customer. Role: manager.
#[utoipa::path(post, path = "/api/customers", tag = "customers", security(("bearer" = [])),
    request_body = NewCustomer,
    responses(
        (status = 201, description = "Created, with `id` and `customer_code`", body = Envelope<Customer>),
        E400, E401, E403, E409, E422, E500
    )
)]
async fn create_customer(
    State(s): St,
    caller: Caller,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(WRITERS)?;
    let input = NewCustomer::from_json(body(json)?)?;
    Ok(ok(
        StatusCode::CREATED,
        caller.crm(&s).customers().create(input).await?,
    ))
}

/// One customer. Roles: manager, cashier, analyst.
#[utoipa::path(get, path = "/api/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id", minimum = 1, example = 1)),
    responses(
        (status = 200, description = "The customer", body = Envelope<Customer>),
        E401, E403, E404, E500
    )
)]
async fn get_customer(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(STAFF)?;
    let id = CustomerId(id);
    let role = caller.0.role;
    if let Some(cache) = &s.cache {
        if let Some(hit) = cache.customer(id).await {
            return Ok(ok(StatusCode::OK, hit.as_seen_by(role)));
        }
        let c = s.crm.customers().get(id).await?;
        cache.fill(&c).await;
        return Ok(ok(StatusCode::OK, c.as_seen_by(role)));
    }
    let c = s.crm.customers().get(id).await?;
    Ok(ok(StatusCode::OK, c.as_seen_by(role)))
}

/// Change some fields; every failing field is reported. Role: manager.
#[utoipa::path(patch, path = "/api/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id", minimum = 1, example = 1)),
    request_body = CustomerPatch,
    responses(
        (status = 200, description = "The updated customer", body = Envelope<Customer>),
        E400, E401, E403, E404, E409, E422, E500
    )
)]
async fn update_customer(
    State(s): St,
    caller: Caller,
    Path(id): Path<i64>,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(WRITERS)?;
    let patch = CustomerPatch::from_json(body(json)?)?;
    let c = caller
        .crm(&s)
        .customers()
        .update(UpdateCustomer {
            id: CustomerId(id),
            patch,
        })
        .await?;
    written_customer(&s, &c).await;
    Ok(ok(StatusCode::OK, c))
}

/// Deactivate (soft delete). Role: manager.
///
/// Nothing is erased, by design: the customer stays readable by id (`GET
/// /api/customers/{id}` answers 200 with `is_active: false`), can still be
/// updated or merged into another customer, drops out of listings (unless
/// `active=false` or `all`), takes no purchases, points or merges into it
/// (409), frees its email and phone for other customers, and can be
/// reactivated. Deactivating again answers the same.
#[utoipa::path(delete, path = "/api/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id", minimum = 1, example = 1)),
    responses(
        (status = 200, description = "The deactivated customer", body = Envelope<Customer>),
        E401, E403, E404, E500
    )
)]
async fn deactivate_customer(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(WRITERS)?;
    let c = caller
        .crm(&s)
        .customers()
        .deactivate(CustomerId(id))
        .await?;
    written_customer(&s, &c).await;
    Ok(ok(StatusCode::OK, c))
}

/// Reactivate a deactivated customer. Role: manager.
#[utoipa::path(post, path = "/api/customers/{id}/reactivate", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id", minimum = 1, example = 1)),
    responses(
        (status = 200, description = "The active customer", body = Envelope<Customer>),
        E401, E403, E404, E409, E500
    )
)]
async fn reactivate_customer(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(WRITERS)?;
    let c = caller
        .crm(&s)
        .customers()
        .reactivate(CustomerId(id))
        .await?;
    written_customer(&s, &c).await;
    Ok(ok(StatusCode::OK, c))
}

/// Body of a merge.
#[allow(dead_code)]
#[derive(ToSchema)]
struct MergeBody {
    /// The duplicate, deactivated and pointed at the customer that stays
    /// (not that customer itself).
    #[schema(minimum = 1, example = 2)]
    duplicate_id: i64,
    /// Who decided (default: the caller's email).
    #[schema(value_type = Option<crm_core::openapi::MergedBy>)]
    merged_by: Option<String>,
}

/// Merge a duplicate into this customer (purchases, points, debt). Role: manager.
#[utoipa::path(post, path = "/api/customers/{id}/merge", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The customer that stays", minimum = 1, example = 1)),
    request_body = MergeBody,
    responses(
        (status = 201, description = "Merged", body = Envelope<MergeResult>),
        (status = 200, description = "Already merged (replay)", body = Envelope<MergeResult>),
        E400, E401, E403, E404, E409, E422, E500
    )
)]
async fn merge_customer(
    State(s): St,
    caller: Caller,
    Path(id): Path<i64>,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(WRITERS)?;
    let req = MergeCustomers::from_json_for(CustomerId(id), caller.0.email.clone(), body(json)?)?;
    let r = caller.crm(&s).customers().merge(req).await?;
    written_customer(&s, &r.into).await;
    written_customer(&s, &r.merged).await;
    Ok(written(r.replayed, r))
}

/// A receipt; `(store_id, receipt_id)` is its idempotency key.
#[allow(dead_code)]
#[derive(ToSchema)]
struct PurchaseBody {
    /// Store that issued the receipt.
    #[schema(value_type = crm_core::openapi::StoreId)]
    store_id: String,
    /// Receipt number, unique per store.
    #[schema(value_type = crm_core::openapi::ReceiptId)]
    receipt_id: String,
    /// Amount paid, exact decimal (a JSON string such as `"150000.00"`, or a number).
    #[schema(value_type = crm_core::openapi::Money)]
    total_amount: Decimal,
    /// ISO 4217 currency: the programme's (default).
    #[schema(value_type = Option<crate::openapi::ProgrammeCurrency>)]
    currency: Option<String>,
    /// Required: a re-sent receipt must carry the sale's own time to be
    /// recognised as the same sale. At most 5 minutes ahead of the
    /// server's clock.
    purchase_date: DateTime<Utc>,
}

/// Record a receipt and earn its points; a re-sent receipt returns the first answer. Roles: manager, cashier.
#[utoipa::path(post, path = "/api/customers/{id}/purchases", tag = "loyalty", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id", minimum = 1, example = 1)),
    request_body = PurchaseBody,
    responses(
        (status = 201, description = "Recorded", body = Envelope<PurchaseRecorded>),
        (status = 200, description = "The same receipt again (replay)", body = Envelope<PurchaseRecorded>),
        E400, E401, E403, E404, E409, E422, E500
    )
)]
async fn record_purchase(
    State(s): St,
    caller: Caller,
    Path(id): Path<i64>,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(TILL)?;
    let req = NewPurchase::from_json_for(CustomerId(id), body(json)?)?;
    let r = caller.crm(&s).loyalty().record_purchase(req).await?;
    Ok(written(r.replayed, r))
}

/// A refund of part or all of a receipt.
#[allow(dead_code)]
#[derive(ToSchema)]
struct RefundBody {
    /// Idempotency key of this refund within the purchase.
    #[schema(value_type = crm_core::openapi::RefundId)]
    refund_id: String,
    /// Amount refunded by this refund, exact decimal; all refunds of a
    /// purchase together at most its total.
    #[schema(value_type = crm_core::openapi::PositiveMoney)]
    amount: Decimal,
}

/// Refund part or all of a receipt; points are reversed pro rata, once per `refund_id`. Role: manager.
#[utoipa::path(post, path = "/api/purchases/{store_id}/{receipt_id}/refunds", tag = "loyalty", security(("bearer" = [])),
    params(
        ("store_id" = String, Path, description = "Store of the receipt", min_length = 1, max_length = 40, example = "JKT-01"),
        ("receipt_id" = String, Path, description = "Receipt number", min_length = 1, max_length = 80, example = "R-1001")
    ),
    request_body = RefundBody,
    responses(
        (status = 201, description = "Refunded", body = Envelope<RefundRecorded>),
        (status = 200, description = "The same refund again (replay)", body = Envelope<RefundRecorded>),
        E400, E401, E403, E404, E409, E422, E500
    )
)]
async fn refund_purchase(
    State(s): St,
    caller: Caller,
    Path((store_id, receipt_id)): Path<(String, String)>,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(WRITERS)?;
    let receipt = ReceiptRef {
        store_id,
        receipt_id,
    };
    let req = RefundRequest::from_json_for(receipt, body(json)?)?;
    let r = caller.crm(&s).loyalty().refund(req).await?;
    Ok(written(r.replayed, r))
}

/// Balance, tier, open lots and recent ledger entries. Roles: manager, cashier, analyst.
#[utoipa::path(get, path = "/api/customers/{id}/loyalty", tag = "loyalty", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id", minimum = 1, example = 1)),
    responses(
        (status = 200, description = "The loyalty account", body = Envelope<LoyaltySummary>),
        E401, E403, E404, E500
    )
)]
async fn loyalty_summary(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(STAFF)?;
    Ok(ok(
        StatusCode::OK,
        s.crm.loyalty().summary(CustomerId(id)).await?,
    ))
}

/// Parameters of a customer's purchases.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PurchasesParams {
    /// At most this many, newest first (1 to 1000, default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u32>,
}

/// A customer's purchases, newest first, each with the amount refunded so
/// far. Roles: manager, cashier, analyst.
#[utoipa::path(get, path = "/api/customers/{id}/purchases", tag = "loyalty", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id", minimum = 1, example = 1), PurchasesParams),
    responses(
        (status = 200, description = "The purchases", body = Envelope<Vec<crm_core::loyalty::Purchase>>),
        E401, E403, E404, E422, E500
    )
)]
async fn customer_purchases(
    State(s): St,
    caller: Caller,
    Path(id): Path<i64>,
    params: Result<Query<PurchasesParams>, QueryRejection>,
) -> ApiResult {
    caller.require(STAFF)?;
    let Query(params) = params?;
    Ok(ok(
        StatusCode::OK,
        s.crm
            .loyalty()
            .purchases(CustomerId(id), params.limit.unwrap_or(100))
            .await?,
    ))
}

/// The guide's `{points, reference_type, reference_id}`.
#[allow(dead_code)]
#[derive(ToSchema)]
struct PointsBody {
    /// Points, > 0 for earn and redeem; adjust takes either sign.
    #[schema(value_type = crm_core::openapi::Points)]
    points: i64,
    /// Kind of reference, e.g. `order`, `campaign`; with `reference_id` the idempotency key.
    #[schema(value_type = crm_core::openapi::ReferenceType)]
    reference_type: String,
    /// The reference; a replay with the same pair returns the first answer.
    #[schema(value_type = crm_core::openapi::ReferenceId)]
    reference_id: String,
}

/// Earn, redeem or adjust points; `(reference_type, reference_id)` is the idempotency key.
/// Roles: manager, cashier (adjust: manager).
#[utoipa::path(post, path = "/api/customers/{id}/loyalty/{operation}", tag = "loyalty", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id", minimum = 1, example = 1), ("operation" = PointsOperation, Path, description = "What to do")),
    request_body = PointsBody,
    responses(
        (status = 201, description = "Applied", body = Envelope<PointsApplied>),
        (status = 200, description = "The same reference again (replay): the first answer", body = Envelope<PointsApplied>),
        E400, E401, E403, E404, E409, E422, E500
    )
)]
async fn loyalty_operation(
    State(s): St,
    caller: Caller,
    Path((id, operation)): Path<(i64, String)>,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(TILL)?;
    let req = PointsRequest {
        actor: Some(caller.actor()),
        ..PointsRequest::from_json_for(CustomerId(id), body(json)?)?
    };
    let operation: PointsOperation = operation.parse()?;
    if operation == PointsOperation::Adjust {
        caller.require(WRITERS)?;
    }
    let r = caller.crm(&s).loyalty().apply(operation, req).await?;
    Ok(written(r.replayed, r))
}

/// The guide's `getCustomerAnalytics`: segment, lifetime value, churn. Roles: manager, analyst.
#[utoipa::path(get, path = "/api/customers/{id}/analytics", tag = "analytics", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id", minimum = 1, example = 1)),
    responses(
        (status = 200, description = "The customer's analytics", body = Envelope<CustomerAnalytics<CustomerId>>),
        E401, E403, E404, E500
    )
)]
async fn customer_analytics(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(ANALYSTS)?;
    Ok(ok(
        StatusCode::OK,
        s.crm.analytics().customer(CustomerId(id)).await?,
    ))
}

/// Customers and total lifetime value per RFM segment. Roles: manager, analyst.
#[utoipa::path(get, path = "/api/segments", tag = "analytics", security(("bearer" = [])),
    responses(
        (status = 200, description = "One row per segment", body = Envelope<Vec<SegmentTotal>>),
        E401, E403, E500
    )
)]
async fn segments(State(s): St, caller: Caller) -> ApiResult {
    caller.require(ANALYSTS)?;
    Ok(ok(StatusCode::OK, s.crm.analytics().segments().await?))
}

/// The dashboard's first view in one answer: customer counts, points
/// outstanding, revenue and purchases of the last 30 days, repeat rate,
/// segments and sales over time, as of the last analytics fit (`as_of`;
/// one stored report is read, whatever the size of the store). Roles:
/// manager, cashier, analyst.
#[utoipa::path(get, path = "/api/dashboard", tag = "analytics", security(("bearer" = [])),
    responses(
        (status = 200, description = "The figures", body = Envelope<crm_core::analytics::Dashboard>),
        E401, E403, E500
    )
)]
async fn dashboard(State(s): St, caller: Caller) -> ApiResult {
    caller.require(STAFF)?;
    Ok(ok(StatusCode::OK, s.crm.analytics().dashboard().await?))
}

/// The analytics page's figures as of the last fit: the model and its
/// notes, segments, the recency × frequency grid, the lifetime-value
/// histogram, churn risk, P(alive) by recency and cohort retention.
/// Roles: manager, analyst.
#[utoipa::path(get, path = "/api/analytics/report", tag = "analytics", security(("bearer" = [])),
    responses(
        (status = 200, description = "The report", body = Envelope<crm_core::analytics::ReportView>),
        E401, E403, E422, E500
    )
)]
async fn report(State(s): St, caller: Caller) -> ApiResult {
    caller.require(ANALYSTS)?;
    Ok(ok(StatusCode::OK, s.crm.analytics().report().await?))
}

/// Refit the analytics models on all purchases. Role: admin.
#[utoipa::path(post, path = "/api/analytics/refit", tag = "analytics", security(("bearer" = [])),
    responses(
        (status = 200, description = "The new model", body = Envelope<AnalyticsModel>),
        E401, E403, E422, E500
    )
)]
async fn refit(State(s): St, caller: Caller) -> ApiResult {
    caller.require(&[])?;
    Ok(ok(StatusCode::OK, s.crm.analytics().refit().await?))
}

/// Credentials.
#[allow(dead_code)]
#[derive(ToSchema)]
struct LoginBody {
    /// The user's email.
    email: String,
    /// The user's password.
    password: String,
}

/// A token and whose it is.
#[derive(Debug, Serialize, ToSchema)]
struct LoginData {
    /// HS256 JWT for `Authorization: Bearer`.
    token: String,
    /// When it stops being accepted.
    expires_at: DateTime<Utc>,
    /// The user.
    user: User,
}

/// Exchange email and password for a bearer token (rate-limited per address).
#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "A token", body = Envelope<LoginData>),
        E400, E401, E422, E429, E500
    )
)]
async fn login(
    State(s): St,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: axum::http::HeaderMap,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    let credentials = Credentials::from_json(body(json)?)?;
    let ip = client_ip(
        connect.map(|axum::Extension(c)| c),
        &headers,
        &s.trusted_proxies,
    );
    let shared = s.cache.as_deref();
    s.limiter.check(shared, ip, &credentials.email).await?;
    let account = credentials.email.clone();
    let user = match s.crm.users().authenticate(credentials).await {
        Ok(user) => user,
        Err(e) => {
            if e.code() == crm_core::ErrorCode::Unauthorized {
                s.limiter.failed(shared, &account).await;
            }
            return Err(e.into());
        }
    };
    let (token, expires_at) = issue(&s.keys, &user, s.crm.clock().now())?;
    Ok(ok(
        StatusCode::OK,
        LoginData {
            token,
            expires_at,
            user,
        },
    ))
}

/// Create a user. Role: admin.
#[utoipa::path(post, path = "/api/users", tag = "auth", security(("bearer" = [])),
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = Envelope<User>),
        E400, E401, E403, E409, E422, E500
    )
)]
async fn create_user(
    State(s): St,
    caller: Caller,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(&[])?;
    let b = NewUser::from_json(body(json)?)?;
    Ok(ok(StatusCode::CREATED, s.crm.users().create(b).await?))
}

/// Every user. Role: admin.
#[utoipa::path(get, path = "/api/users", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The users", body = Envelope<Vec<User>>),
        E401, E403, E500
    )
)]
async fn list_users(State(s): St, caller: Caller) -> ApiResult {
    caller.require(&[])?;
    Ok(ok(StatusCode::OK, s.crm.users().list().await?))
}
