//! Communications endpoints: templates, previews, campaigns, consent, the
//! communication log, and the public one-click unsubscribe. Delivery runs
//! in the server process ([`spawn_dispatcher`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use crm_core::comms::{
    Campaign, Communication, CommunicationQuery, ConsentChange, ConsentRecord, CustomerConsent,
    DispatchOptions, Dispatcher, NewCampaign, NewTemplate, Rendered, SendCampaign, Template,
};
use crm_core::users::Role;
use crm_core::{CustomerId, Error};
use serde_json::Value;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ok};
use crate::openapi::{E400, E401, E403, E404, E422, E500, Envelope};
use crate::routes::body;

type St = State<Arc<AppState>>;
type ApiResult = Result<Response, ApiError>;

/// Create templates and campaigns, send campaigns.
const SENDERS: &[Role] = &[Role::Manager];
/// Read templates, campaigns and previews.
const READERS: &[Role] = &[Role::Manager, Role::Analyst];
/// Record consent at the till.
const TILL: &[Role] = &[Role::Manager, Role::Cashier];
/// Read a customer's log and consent.
const STAFF: &[Role] = &[Role::Manager, Role::Cashier, Role::Analyst];

/// Save a template. Placeholders: `{customer_name}`, `{customer_code}`,
/// `{loyalty_points}`, `{last_purchase}`, `{last_purchase_amount}`, `{tier}`,
/// `{points_expiring}`, `{unsubscribe_url}`; `{{` and `}}` for braces. An
/// unknown placeholder is refused (`validation`, rule `placeholder`).
/// Role: manager.
#[utoipa::path(post, path = "/api/templates", tag = "communications", security(("bearer" = [])),
    request_body = NewTemplate,
    responses(
        (status = 201, description = "Saved", body = Envelope<Template>),
        E400, E401, E403, E422, E500
    )
)]
pub(crate) async fn create_template(
    State(s): St,
    caller: Caller,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(SENDERS)?;
    let t = NewTemplate::from_json(body(json)?)?;
    Ok(ok(
        StatusCode::CREATED,
        caller.crm(&s).comms().create_template(t).await?,
    ))
}

/// Every template, newest first. Roles: manager, analyst.
#[utoipa::path(get, path = "/api/templates", tag = "communications", security(("bearer" = [])),
    responses(
        (status = 200, description = "The templates", body = Envelope<Vec<Template>>),
        E401, E403, E500
    )
)]
pub(crate) async fn list_templates(State(s): St, caller: Caller) -> ApiResult {
    caller.require(READERS)?;
    Ok(ok(StatusCode::OK, s.crm.comms().templates().await?))
}

/// Render a template for one customer without sending anything.
/// Roles: manager, analyst.
#[utoipa::path(post, path = "/api/templates/{id}/preview", tag = "communications", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Template id", minimum = 1)),
    request_body(content = PreviewBody),
    responses(
        (status = 200, description = "The rendered subject, text and HTML", body = Envelope<Rendered>),
        E400, E401, E403, E404, E422, E500
    )
)]
pub(crate) async fn preview(
    State(s): St,
    caller: Caller,
    Path(id): Path<i64>,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(READERS)?;
    let req = crm_core::comms::Preview::from_json_for(id, body(json)?)?;
    Ok(ok(StatusCode::OK, s.crm.comms().preview(req).await?))
}

/// `{customer_id}` of a preview.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub(crate) struct PreviewBody {
    /// The customer whose values fill the template.
    #[schema(minimum = 1)]
    customer_id: i64,
}

/// Create a draft campaign: a template and a target (`{"segment": "CHAMPION"}`,
/// `{"tier": "Gold"}`, `{"tag": "vip"}` or `{"filter": {...}}`). Role: manager.
#[utoipa::path(post, path = "/api/campaigns", tag = "communications", security(("bearer" = [])),
    request_body = NewCampaign,
    responses(
        (status = 201, description = "Created (draft)", body = Envelope<Campaign>),
        E400, E401, E403, E422, E500
    )
)]
pub(crate) async fn create_campaign(
    State(s): St,
    caller: Caller,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(SENDERS)?;
    let c = NewCampaign::from_json(body(json)?)?;
    Ok(ok(
        StatusCode::CREATED,
        caller.crm(&s).comms().create_campaign(c).await?,
    ))
}

/// The newest campaigns with their progress. Roles: manager, analyst.
#[utoipa::path(get, path = "/api/campaigns", tag = "communications", security(("bearer" = [])),
    responses(
        (status = 200, description = "The campaigns", body = Envelope<Vec<Campaign>>),
        E401, E403, E500
    )
)]
pub(crate) async fn list_campaigns(State(s): St, caller: Caller) -> ApiResult {
    caller.require(READERS)?;
    Ok(ok(StatusCode::OK, s.crm.comms().campaigns().await?))
}

/// A campaign with its progress: recipients by status (pending, sending,
/// sent, skipped, failed). Roles: manager, analyst.
#[utoipa::path(get, path = "/api/campaigns/{id}", tag = "communications", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Campaign id", minimum = 1)),
    responses(
        (status = 200, description = "The campaign", body = Envelope<Campaign>),
        E400, E401, E403, E404, E500
    )
)]
pub(crate) async fn get_campaign(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(READERS)?;
    Ok(ok(StatusCode::OK, s.crm.comms().campaign(id).await?))
}

/// `{at}` of a send.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub(crate) struct SendBody {
    /// When to start (ISO-8601); absent or past: now.
    at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Send a campaign now, or schedule it (`{"at": ...}`). Its recipients are
/// listed and the dispatcher of every server process delivers, each
/// recipient once. Sending a campaign already sending or done answers it
/// as it is. Role: manager.
#[utoipa::path(post, path = "/api/campaigns/{id}/send", tag = "communications", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Campaign id", minimum = 1)),
    request_body(content = SendBody, description = "Optional: without a body (or `{}`) the campaign starts now"),
    responses(
        (status = 202, description = "Sending or scheduled", body = Envelope<Campaign>),
        E400, E401, E403, E404, E422, E500
    )
)]
pub(crate) async fn send_campaign(
    State(s): St,
    caller: Caller,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> ApiResult {
    caller.require(SENDERS)?;
    // No body at all (whatever the content type): send now.
    let value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                crm_core::ErrorCode::MalformedJson,
                format!("Failed to parse the request body as JSON: {e}"),
            )
        })?
    };
    let req = SendCampaign::from_json_for(id, value)?;
    let c = caller.crm(&s).comms().send_campaign(req).await?;
    s.dispatch_wake.notify_one();
    Ok(ok(StatusCode::ACCEPTED, c))
}

/// Query of `GET /api/customers/{id}/communications`.
#[allow(dead_code)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogParams {
    /// Entries older than this id (the last id of the previous page).
    #[param(minimum = 1)]
    before: Option<i64>,
    /// At most this many (default 20). A larger value is not an error: it
    /// is capped to the maximum, 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4294967295_u64)]
    limit: Option<u32>,
}

/// A customer's communication log, newest first: every send, skip and
/// failure. Roles: manager, cashier, analyst.
#[utoipa::path(get, path = "/api/customers/{id}/communications", tag = "communications", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id", minimum = 1), LogParams),
    responses(
        (status = 200, description = "The log", body = Envelope<Vec<Communication>>),
        E400, E401, E403, E404, E422, E500
    )
)]
pub(crate) async fn communications(
    State(s): St,
    caller: Caller,
    Path(id): Path<i64>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    caller.require(STAFF)?;
    let Query(params) = query?;
    let mut q = CommunicationQuery::of(CustomerId(id));
    let mut errors = crm_core::FieldErrors::new();
    for (k, v) in params {
        match k.as_str() {
            "before" => q.before = errors.check("", parse_param("before", &v)),
            "limit" => q.limit = errors.check("", parse_param("limit", &v)),
            other => errors.push(
                other,
                "unknown_field",
                format!("{other} is not a parameter of this listing"),
            ),
        }
    }
    errors.finish()?;
    Ok(ok(StatusCode::OK, s.crm.comms().communications(q).await?))
}

fn parse_param<T: std::str::FromStr>(name: &str, v: &str) -> crm_core::Result<T> {
    v.trim()
        .parse()
        .map_err(|_| Error::invalid(name, "type", format!("{name} must be a positive integer")))
}

/// A customer's consent (email, SMS) and its history. Roles: manager,
/// cashier, analyst.
#[utoipa::path(get, path = "/api/customers/{id}/consent", tag = "communications", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id", minimum = 1)),
    responses(
        (status = 200, description = "The consent", body = Envelope<CustomerConsent>),
        E400, E401, E403, E404, E500
    )
)]
pub(crate) async fn get_consent(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(STAFF)?;
    Ok(ok(
        StatusCode::OK,
        s.crm.comms().consent(CustomerId(id)).await?,
    ))
}

/// `{channel, granted, source}` of a consent change.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub(crate) struct ConsentBody {
    /// `email` or `sms`.
    channel: crm_core::comms::Channel,
    /// `true` opts in, `false` opts out.
    granted: bool,
    /// Where the answer came from (`till`, `web_form`, ...).
    #[schema(min_length = 1, max_length = 64)]
    source: String,
}

/// Record an opt-in or opt-out (appended to the history). Roles: manager,
/// cashier.
#[utoipa::path(put, path = "/api/customers/{id}/consent", tag = "communications", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Customer id", minimum = 1)),
    request_body = ConsentBody,
    responses(
        (status = 200, description = "Recorded", body = Envelope<ConsentRecord>),
        E400, E401, E403, E404, E422, E500
    )
)]
pub(crate) async fn put_consent(
    State(s): St,
    caller: Caller,
    Path(id): Path<i64>,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(TILL)?;
    let change = ConsentChange::from_json_for(CustomerId(id), body(json)?)?;
    Ok(ok(
        StatusCode::OK,
        caller.crm(&s).comms().set_consent(change).await?,
    ))
}

/// Query of `/unsubscribe`.
#[allow(dead_code)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UnsubscribeParams {
    /// The signed token of the link.
    token: String,
}

fn token_of(params: Vec<(String, String)>) -> Result<String, ApiError> {
    params
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
        .ok_or_else(|| {
            Error::invalid("token", "required", "the unsubscribe link has no token").into()
        })
}

fn page(title: &str, message: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"id\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title></head><body><main><h1>{title}</h1><p>{message}</p></main></body></html>"
    ))
}

/// The one-click unsubscribe link of every email (public, no login): opts
/// the customer out of the channel. Clicking twice changes nothing more.
#[utoipa::path(get, path = "/unsubscribe", tag = "communications",
    params(UnsubscribeParams),
    responses(
        (status = 200, description = "Unsubscribed (an HTML page)", content_type = "text/html", body = String),
        (status = 422, description = "The link is invalid (an HTML page)", content_type = "text/html", body = String),
    )
)]
pub(crate) async fn unsubscribe_page(
    State(s): St,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let done = async {
        let Query(params) = query?;
        let token = token_of(params)?;
        Ok::<_, ApiError>(s.crm.comms().unsubscribe(&token).await?)
    }
    .await;
    match done {
        Ok(_) => (
            StatusCode::OK,
            page(
                "Berhenti berlangganan / Unsubscribed",
                "Anda tidak akan menerima pesan promosi lagi. You will not receive promotional messages any more.",
            ),
        )
            .into_response(),
        Err(e) if e.status() == StatusCode::UNPROCESSABLE_ENTITY => (
            StatusCode::UNPROCESSABLE_ENTITY,
            page(
                "Tautan tidak valid / Invalid link",
                "Tautan berhenti berlangganan ini tidak valid. This unsubscribe link is not valid.",
            ),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The RFC 8058 one-click unsubscribe, POSTed by mail clients
/// (`List-Unsubscribe=One-Click`); public, no login.
#[utoipa::path(post, path = "/unsubscribe", tag = "communications",
    params(UnsubscribeParams),
    responses(
        (status = 200, description = "Unsubscribed", body = Envelope<ConsentRecord>),
        E422, E500
    )
)]
pub(crate) async fn unsubscribe_post(
    State(s): St,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let Query(params) = query?;
    let token = token_of(params)?;
    Ok(ok(StatusCode::OK, s.crm.comms().unsubscribe(&token).await?))
}

/// Runs the dispatcher of this process until `shutdown`: it delivers every
/// campaign that is sending, sharing the work with the other server
/// processes through the database. `send_campaign` wakes it at once.
pub fn spawn_dispatcher(
    state: &Arc<AppState>,
    transports: &crm_comms::Transports,
    options: DispatchOptions,
) -> tokio::task::JoinHandle<()> {
    let dispatcher = transports.attach(Dispatcher::new(state.crm.comms(), options));
    let state = state.clone();
    tokio::spawn(async move {
        let wake = state.dispatch_wake.clone();
        loop {
            // A round until idle, then wait for a send or the idle pause.
            let dispatcher = dispatcher.clone();
            let woken = wake.notified();
            dispatcher
                .run(
                    woken,
                    |e| tracing::warn!(error = %e, "campaign dispatch round failed"),
                )
                .await;
        }
    })
}
