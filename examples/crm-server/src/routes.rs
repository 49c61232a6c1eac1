//! The endpoints: each parses the request, calls one `Crm` method and wraps
//! the result in the envelope.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use crm_core::analytics::{AnalyticsModel, CustomerAnalytics};
use crm_core::json::JsonFields;
use crm_core::loyalty::{
    LoyaltySummary, MergeResult, NewPurchase, PointsApplied, PointsRequest, PurchaseRecorded,
    RefundRecorded, RefundRequest,
};
use crm_core::users::User;
use crm_core::{
    ActivityFilter, Customer, CustomerId, CustomerPatch, CustomerQuery, CustomerSort, CustomerType,
    NewCustomer, SortDirection,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Caller, client_ip, issue};
use crate::error::{ApiError, ok};
use crate::openapi::{
    E400, E401, E403, E404, E409, E422, E429, E500, Envelope, ListEnvelope, PageMeta,
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
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(get_customer, update_customer, deactivate_customer))
        .routes(routes!(reactivate_customer))
        .routes(routes!(merge_customer))
        .routes(routes!(record_purchase))
        .routes(routes!(refund_purchase))
        .routes(routes!(loyalty_summary))
        .routes(routes!(loyalty_operation))
        .routes(routes!(customer_analytics))
        .routes(routes!(segments))
        .routes(routes!(refit))
        .routes(routes!(openapi_json))
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

fn body(json: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    Ok(json?.0)
}

const TEXT: &str = "a string";
const DECIMAL: &str = "a decimal number (preferably as a string, e.g. \"150000.00\")";

#[utoipa::path(get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = Envelope<HealthData>),
        (status = 503, description = "The database does not answer", body = Envelope<HealthData>)
    )
)]
async fn health(State(s): St) -> Response {
    let database = s.crm.store().backend();
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
            ok(
                StatusCode::SERVICE_UNAVAILABLE,
                HealthData {
                    status: "unavailable",
                    database,
                },
            )
        }
    }
}

/// What `GET /health` reports.
#[derive(Debug, Serialize, ToSchema)]
struct HealthData {
    /// `ok` or `unavailable`.
    status: &'static str,
    /// The storage backend (`sqlite`, `mysql`, `memory`).
    database: &'static str,
}

/// Query string of the guide's `getCustomers(page, limit, filters)`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Page number, 1-based (default 1).
    page: Option<u32>,
    /// Page size (default 20, at most 100).
    limit: Option<u32>,
    /// `meta.next_cursor` of the previous page (keyset paging; same sort).
    cursor: Option<String>,
    /// Customer type: `RETAIL`, `WHOLESALE`, `DISTRIBUTOR`, `CORPORATE` (or the code prefix).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    customer_type: Option<String>,
    /// `true` (default), `false` or `all`.
    active: Option<String>,
    /// Customers with this tag.
    tag: Option<String>,
    /// Search: name prefix, customer code prefix, exact email, or phone in any format.
    q: Option<String>,
    /// Sort key (default `id`).
    sort: Option<CustomerSort>,
    /// Sort direction (default `asc`).
    direction: Option<SortDirection>,
    /// Created at or after (RFC 3339).
    created_from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    created_to: Option<DateTime<Utc>>,
}

/// List customers (the guide's `getCustomers`). Roles: manager, cashier, analyst.
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
    params: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult {
    caller.require(STAFF)?;
    let Query(p) = params?;
    let status = match p.active.as_deref() {
        None | Some("true") | Some("1") => ActivityFilter::Active,
        Some("false") | Some("0") => ActivityFilter::Inactive,
        Some("all") => ActivityFilter::All,
        Some(other) => {
            return Err(crm_core::Error::invalid(
                "active",
                "one_of",
                format!("active must be true, false or all, not {other:?}"),
            )
            .into());
        }
    };
    let customer_type = match p.customer_type.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => Some(t.parse::<CustomerType>()?),
        None => None,
    };
    let page = s
        .crm
        .list_customers(CustomerQuery {
            page: p.page,
            limit: p.limit,
            cursor: p.cursor,
            customer_type,
            status,
            tag: p.tag,
            created_from: p.created_from,
            created_to: p.created_to,
            q: p.q,
            sort: p.sort.unwrap_or_default(),
            direction: p.direction.unwrap_or_default(),
        })
        .await?;
    Ok(axum::response::IntoResponse::into_response((
        StatusCode::OK,
        Json(ListEnvelope {
            success: true,
            data: page.items,
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
    Ok(ok(StatusCode::CREATED, s.crm.create_customer(input).await?))
}

/// One customer. Roles: manager, cashier, analyst.
#[utoipa::path(get, path = "/api/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The customer", body = Envelope<Customer>),
        E401, E403, E404, E500
    )
)]
async fn get_customer(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(STAFF)?;
    let id = CustomerId(id);
    if let Some(cache) = &s.cache {
        if let Some(hit) = cache.customer(id).await {
            return Ok(ok(StatusCode::OK, hit));
        }
        let c = s.crm.customer(id).await?;
        cache.fill(&c).await;
        return Ok(ok(StatusCode::OK, c));
    }
    Ok(ok(StatusCode::OK, s.crm.customer(id).await?))
}

/// Change some fields; every failing field is reported. Role: manager.
#[utoipa::path(patch, path = "/api/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id")),
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
    let c = s.crm.update_customer(CustomerId(id), patch).await?;
    written_customer(&s, &c).await;
    Ok(ok(StatusCode::OK, c))
}

/// Deactivate (soft delete). Role: manager.
#[utoipa::path(delete, path = "/api/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The deactivated customer", body = Envelope<Customer>),
        E401, E403, E404, E500
    )
)]
async fn deactivate_customer(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(WRITERS)?;
    let c = s.crm.deactivate_customer(CustomerId(id)).await?;
    written_customer(&s, &c).await;
    Ok(ok(StatusCode::OK, c))
}

/// Reactivate a deactivated customer. Role: manager.
#[utoipa::path(post, path = "/api/customers/{id}/reactivate", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The active customer", body = Envelope<Customer>),
        E401, E403, E404, E409, E500
    )
)]
async fn reactivate_customer(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(WRITERS)?;
    let c = s.crm.reactivate_customer(CustomerId(id)).await?;
    written_customer(&s, &c).await;
    Ok(ok(StatusCode::OK, c))
}

/// Body of a merge.
#[derive(ToSchema)]
struct MergeBody {
    /// The duplicate, deactivated and pointed at the customer that stays.
    duplicate_id: i64,
    /// Who decided (default: the caller's email).
    merged_by: Option<String>,
}

/// Merge a duplicate into this customer (purchases, points, debt). Role: manager.
#[utoipa::path(post, path = "/api/customers/{id}/merge", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The customer that stays")),
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
    let b = MergeBody::read(body(json)?)?;
    let by = b.merged_by.unwrap_or_else(|| caller.0.email.clone());
    let r = s
        .crm
        .merge_customers(CustomerId(id), CustomerId(b.duplicate_id), by)
        .await?;
    written_customer(&s, &r.into).await;
    written_customer(&s, &r.merged).await;
    Ok(written(r.replayed, r))
}

/// A receipt; `(store_id, receipt_id)` is its idempotency key.
#[derive(ToSchema)]
struct PurchaseBody {
    /// Store that issued the receipt.
    store_id: String,
    /// Receipt number, unique per store.
    receipt_id: String,
    /// Amount paid, exact decimal (a JSON string such as `"150000.00"`, or a number).
    total_amount: Decimal,
    /// ISO 4217 currency (default: the programme's).
    currency: Option<String>,
    /// Required: a re-sent receipt must carry the sale's own time to be
    /// recognised as the same sale.
    purchase_date: DateTime<Utc>,
}

/// Record a receipt and earn its points; a re-sent receipt returns the first answer. Roles: manager, cashier.
#[utoipa::path(post, path = "/api/customers/{id}/purchases", tag = "loyalty", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id")),
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
    let b = PurchaseBody::read(body(json)?)?;
    let r = s
        .crm
        .record_purchase(NewPurchase {
            customer_id: CustomerId(id),
            store_id: b.store_id,
            receipt_id: b.receipt_id,
            purchase_date: b.purchase_date,
            total_amount: b.total_amount,
            currency: b
                .currency
                .unwrap_or_else(|| s.crm.config().loyalty.currency.clone()),
        })
        .await?;
    Ok(written(r.replayed, r))
}

/// A refund of part or all of a receipt.
#[derive(ToSchema)]
struct RefundBody {
    /// Idempotency key of this refund within the purchase.
    refund_id: String,
    /// Amount refunded by this refund, exact decimal.
    amount: Decimal,
}

/// Refund part or all of a receipt; points are reversed pro rata, once per `refund_id`. Role: manager.
#[utoipa::path(post, path = "/api/purchases/{store_id}/{receipt_id}/refunds", tag = "loyalty", security(("bearer" = [])),
    params(
        ("store_id" = String, Path, description = "Store of the receipt"),
        ("receipt_id" = String, Path, description = "Receipt number")
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
    let b = RefundBody::read(body(json)?)?;
    let r = s
        .crm
        .refund_purchase(RefundRequest {
            store_id,
            receipt_id,
            refund_id: b.refund_id,
            amount: b.amount,
        })
        .await?;
    Ok(written(r.replayed, r))
}

/// Balance, tier, open lots and recent ledger entries. Roles: manager, cashier, analyst.
#[utoipa::path(get, path = "/api/customers/{id}/loyalty", tag = "loyalty", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The loyalty account", body = Envelope<LoyaltySummary>),
        E401, E403, E404, E500
    )
)]
async fn loyalty_summary(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(STAFF)?;
    Ok(ok(
        StatusCode::OK,
        s.crm.loyalty_summary(CustomerId(id)).await?,
    ))
}

/// The guide's `{points, reference_type, reference_id}`.
#[derive(ToSchema)]
struct PointsBody {
    /// Points, > 0 for earn and redeem; adjust takes either sign.
    points: i64,
    /// Kind of reference, e.g. `order`, `campaign`; with `reference_id` the idempotency key.
    reference_type: String,
    /// The reference; a replay with the same pair returns the first answer.
    reference_id: String,
}

/// A loyalty operation of `POST /api/customers/{id}/loyalty/{operation}`.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LoyaltyOperation {
    /// Add points.
    Earn,
    /// Spend points; never below zero.
    Redeem,
    /// Correct the balance either way (manager).
    Adjust,
}

/// Earn, redeem or adjust points; `(reference_type, reference_id)` is the idempotency key.
/// Roles: manager, cashier (adjust: manager).
#[utoipa::path(post, path = "/api/customers/{id}/loyalty/{operation}", tag = "loyalty", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id"), ("operation" = LoyaltyOperation, Path, description = "What to do")),
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
    let b = PointsBody::read(body(json)?)?;
    let req = PointsRequest {
        customer_id: CustomerId(id),
        points: b.points,
        reference_type: b.reference_type,
        reference_id: b.reference_id,
    };
    let operation: LoyaltyOperation = serde_json::from_value(Value::String(operation.clone()))
        .map_err(|_| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no loyalty operation {operation:?}"),
            )
        })?;
    let r = match operation {
        LoyaltyOperation::Earn => s.crm.earn_points(req).await?,
        LoyaltyOperation::Redeem => s.crm.redeem_points(req).await?,
        LoyaltyOperation::Adjust => {
            caller.require(WRITERS)?;
            s.crm.adjust_points(req).await?
        }
    };
    Ok(written(r.replayed, r))
}

/// The guide's `getCustomerAnalytics`: segment, lifetime value, churn. Roles: manager, analyst.
#[utoipa::path(get, path = "/api/customers/{id}/analytics", tag = "analytics", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The customer's analytics", body = Envelope<CustomerAnalytics<CustomerId>>),
        E401, E403, E404, E500
    )
)]
async fn customer_analytics(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(ANALYSTS)?;
    Ok(ok(
        StatusCode::OK,
        s.crm.customer_analytics(CustomerId(id)).await?,
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
    let mut by_segment: BTreeMap<String, (u64, Decimal)> = BTreeMap::new();
    s.crm
        .score_all_customers(|a| {
            let key = serde_json::to_value(a.segment)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let entry = by_segment.entry(key).or_default();
            entry.0 += 1;
            entry.1 += a.lifetime_value;
            Ok(())
        })
        .await?;
    let data: Vec<SegmentTotal> = by_segment
        .into_iter()
        .map(|(segment, (customers, value))| SegmentTotal {
            segment,
            customers,
            total_lifetime_value: value,
        })
        .collect();
    Ok(ok(StatusCode::OK, data))
}

/// One row of `GET /api/segments`.
#[derive(Debug, Serialize, ToSchema)]
struct SegmentTotal {
    /// The guide's RFM segment (`CHAMPION`, `LOYAL`, `POTENTIAL_LOYAL`, `AT_RISK`, `LOST`).
    segment: String,
    /// Customers in it.
    customers: u64,
    /// Sum of their yearly lifetime values.
    total_lifetime_value: Decimal,
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
    Ok(ok(StatusCode::OK, s.crm.refit_analytics().await?))
}

/// Credentials.
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
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    s.limiter
        .check(client_ip(connect.map(|axum::Extension(c)| c)))?;
    let b = LoginBody::read(body(json)?)?;
    let user = s.crm.authenticate(b.email, b.password).await?;
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
    Ok(ok(StatusCode::CREATED, s.crm.create_user(b).await?))
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
    Ok(ok(StatusCode::OK, s.crm.users().await?))
}

impl MergeBody {
    fn read(v: Value) -> crm_core::Result<Self> {
        let mut r = JsonFields::new(v)?;
        let b = Self {
            duplicate_id: r.required("duplicate_id", "a customer id (integer)"),
            merged_by: r.optional("merged_by", TEXT),
        };
        r.finish("merge")?;
        Ok(b)
    }
}

impl PurchaseBody {
    fn read(v: Value) -> crm_core::Result<Self> {
        let mut r = JsonFields::new(v)?;
        let b = Self {
            store_id: r.required("store_id", TEXT),
            receipt_id: r.required("receipt_id", TEXT),
            total_amount: r.required("total_amount", DECIMAL),
            currency: r.optional("currency", "an ISO 4217 code"),
            purchase_date: r.required("purchase_date", "an RFC 3339 date-time"),
        };
        r.finish("purchase")?;
        Ok(b)
    }
}

impl RefundBody {
    fn read(v: Value) -> crm_core::Result<Self> {
        let mut r = JsonFields::new(v)?;
        let b = Self {
            refund_id: r.required("refund_id", TEXT),
            amount: r.required("amount", DECIMAL),
        };
        r.finish("refund")?;
        Ok(b)
    }
}

impl PointsBody {
    fn read(v: Value) -> crm_core::Result<Self> {
        let mut r = JsonFields::new(v)?;
        let b = Self {
            points: r.required("points", "an integer"),
            reference_type: r.required("reference_type", TEXT),
            reference_id: r.required("reference_id", TEXT),
        };
        r.finish("points request")?;
        Ok(b)
    }
}

impl LoginBody {
    fn read(v: Value) -> crm_core::Result<Self> {
        let mut r = JsonFields::new(v)?;
        let b = Self {
            email: r.required("email", TEXT),
            password: r.required("password", TEXT),
        };
        r.finish("login")?;
        Ok(b)
    }
}
