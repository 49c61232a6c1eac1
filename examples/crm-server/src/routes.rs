//! The endpoints: each parses the request, calls one `Crm` method and wraps
//! the result in the envelope.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use crm_core::loyalty::{NewPurchase, PointsRequest, RefundRequest};
use crm_core::{
    ActivityFilter, CustomerId, CustomerPatch, CustomerQuery, CustomerSort, CustomerType,
    NewCustomer, SortDirection,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Caller, client_ip, issue};
use crate::error::{ApiError, ok};
use axum::extract::ConnectInfo;
use crm_core::users::{NewUser, Role};
use std::net::SocketAddr;

const STAFF: &[Role] = &[Role::Manager, Role::Cashier, Role::Analyst];
const WRITERS: &[Role] = &[Role::Manager];
const TILL: &[Role] = &[Role::Manager, Role::Cashier];
const ANALYSTS: &[Role] = &[Role::Manager, Role::Analyst];

type St = State<Arc<AppState>>;
type ApiResult = Result<Response, ApiError>;

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/health", get(health))
        .route("/api/auth/login", post(login))
        .route("/api/users", get(list_users).post(create_user))
        .route("/api/customers", get(list_customers).post(create_customer))
        .route(
            "/api/customers/{id}",
            get(get_customer)
                .patch(update_customer)
                .delete(deactivate_customer),
        )
        .route("/api/customers/{id}/reactivate", post(reactivate_customer))
        .route("/api/customers/{id}/merge", post(merge_customer))
        .route("/api/customers/{id}/purchases", post(record_purchase))
        .route(
            "/api/purchases/{store_id}/{receipt_id}/refunds",
            post(refund_purchase),
        )
        .route("/api/customers/{id}/loyalty", get(loyalty_summary))
        .route(
            "/api/customers/{id}/loyalty/{operation}",
            post(loyalty_operation),
        )
        .route("/api/customers/{id}/analytics", get(customer_analytics))
        .route("/api/segments", get(segments))
        .route("/api/analytics/refit", post(refit))
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

fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            e.to_string(),
        )
    })
}

async fn health(State(s): St) -> Response {
    match s.crm.ping().await {
        Ok(()) => ok(
            StatusCode::OK,
            json!({ "status": "ok", "database": s.crm.store().backend() }),
        ),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            ok(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "unavailable" }),
            )
        }
    }
}

/// Query string of the guide's `getCustomers(page, limit, filters)`.
#[derive(Debug, Deserialize)]
struct ListParams {
    page: Option<u32>,
    limit: Option<u32>,
    cursor: Option<String>,
    #[serde(rename = "type")]
    customer_type: Option<String>,
    active: Option<String>,
    tag: Option<String>,
    q: Option<String>,
    sort: Option<CustomerSort>,
    direction: Option<SortDirection>,
    created_from: Option<DateTime<Utc>>,
    created_to: Option<DateTime<Utc>>,
}

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
        Json(json!({
            "success": true,
            "data": page.items,
            "meta": {
                "page": page.page,
                "limit": page.limit,
                "total": page.total,
                "next_cursor": page.next_cursor,
            }
        })),
    )))
}

async fn create_customer(
    State(s): St,
    caller: Caller,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(WRITERS)?;
    let input = NewCustomer::from_json(body(json)?)?;
    Ok(ok(StatusCode::CREATED, s.crm.create_customer(input).await?))
}

async fn get_customer(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(STAFF)?;
    Ok(ok(StatusCode::OK, s.crm.customer(CustomerId(id)).await?))
}

async fn update_customer(
    State(s): St,
    caller: Caller,
    Path(id): Path<i64>,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(WRITERS)?;
    let patch = CustomerPatch::from_json(body(json)?)?;
    Ok(ok(
        StatusCode::OK,
        s.crm.update_customer(CustomerId(id), patch).await?,
    ))
}

async fn deactivate_customer(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(WRITERS)?;
    Ok(ok(
        StatusCode::OK,
        s.crm.deactivate_customer(CustomerId(id)).await?,
    ))
}

async fn reactivate_customer(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(WRITERS)?;
    Ok(ok(
        StatusCode::OK,
        s.crm.reactivate_customer(CustomerId(id)).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeBody {
    duplicate_id: i64,
    merged_by: Option<String>,
}

async fn merge_customer(
    State(s): St,
    caller: Caller,
    Path(id): Path<i64>,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(WRITERS)?;
    let b: MergeBody = typed(body(json)?)?;
    let by = b.merged_by.unwrap_or_else(|| caller.0.email.clone());
    let r = s
        .crm
        .merge_customers(CustomerId(id), CustomerId(b.duplicate_id), by)
        .await?;
    Ok(written(r.replayed, r))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurchaseBody {
    store_id: String,
    receipt_id: String,
    total_amount: Decimal,
    currency: Option<String>,
    /// Required: a re-sent receipt must carry the sale's own time to be
    /// recognised as the same sale.
    purchase_date: DateTime<Utc>,
}

async fn record_purchase(
    State(s): St,
    caller: Caller,
    Path(id): Path<i64>,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(TILL)?;
    let b: PurchaseBody = typed(body(json)?)?;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundBody {
    refund_id: String,
    amount: Decimal,
}

async fn refund_purchase(
    State(s): St,
    caller: Caller,
    Path((store_id, receipt_id)): Path<(String, String)>,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(WRITERS)?;
    let b: RefundBody = typed(body(json)?)?;
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

async fn loyalty_summary(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(STAFF)?;
    Ok(ok(
        StatusCode::OK,
        s.crm.loyalty_summary(CustomerId(id)).await?,
    ))
}

/// The guide's `{points, reference_type, reference_id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PointsBody {
    points: i64,
    reference_type: String,
    reference_id: String,
}

async fn loyalty_operation(
    State(s): St,
    caller: Caller,
    Path((id, operation)): Path<(i64, String)>,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(TILL)?;
    let b: PointsBody = typed(body(json)?)?;
    let req = PointsRequest {
        customer_id: CustomerId(id),
        points: b.points,
        reference_type: b.reference_type,
        reference_id: b.reference_id,
    };
    let r = match operation.as_str() {
        "earn" => s.crm.earn_points(req).await?,
        "redeem" => s.crm.redeem_points(req).await?,
        "adjust" => {
            caller.require(WRITERS)?;
            s.crm.adjust_points(req).await?
        }
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no loyalty operation {other:?}"),
            ));
        }
    };
    Ok(written(r.replayed, r))
}

async fn customer_analytics(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(ANALYSTS)?;
    Ok(ok(
        StatusCode::OK,
        s.crm.customer_analytics(CustomerId(id)).await?,
    ))
}

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
    let data: Vec<Value> = by_segment
        .into_iter()
        .map(|(segment, (customers, value))| json!({ "segment": segment, "customers": customers, "total_lifetime_value": value }))
        .collect();
    Ok(ok(StatusCode::OK, data))
}

async fn refit(State(s): St, caller: Caller) -> ApiResult {
    caller.require(&[])?;
    Ok(ok(StatusCode::OK, s.crm.refit_analytics().await?))
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

async fn login(
    State(s): St,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    s.limiter
        .check(client_ip(connect.map(|axum::Extension(c)| c)))?;
    let b: LoginBody = typed(body(json)?)?;
    let user = s.crm.authenticate(b.email, b.password).await?;
    let (token, expires_at) = issue(&s.keys, &user, s.crm.clock().now())?;
    Ok(ok(
        StatusCode::OK,
        json!({ "token": token, "expires_at": expires_at, "user": user }),
    ))
}

async fn create_user(
    State(s): St,
    caller: Caller,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(&[])?;
    let b: NewUser = typed(body(json)?)?;
    Ok(ok(StatusCode::CREATED, s.crm.create_user(b).await?))
}

async fn list_users(State(s): St, caller: Caller) -> ApiResult {
    caller.require(&[])?;
    Ok(ok(StatusCode::OK, s.crm.users().await?))
}
