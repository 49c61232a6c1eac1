//! The OpenAPI 3.1 description of the API, generated from the code.
//!
//! Every endpoint is registered through `utoipa_axum::routes!`, so the router
//! and the description come from the same handler list and cannot drift; the
//! schemas are the SDK's own types (`crm-core` with its `openapi` feature) and
//! the envelope types below, which the handlers also use to build their
//! answers. Served at `GET /api/openapi.json`.

use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

use crm_core::{ConflictReason, ErrorCode, FieldError};

/// `{"success": true, "data": ...}`: every successful answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `true`.
    pub success: bool,
    /// The result.
    pub data: T,
}

/// A page of a listing: the envelope plus `meta`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListEnvelope<T> {
    /// Always `true`.
    pub success: bool,
    /// The items of this page.
    pub data: Vec<T>,
    /// Where the page is.
    pub meta: PageMeta,
}

/// Position of a page in a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageMeta {
    /// Page number (1-based) for offset paging.
    #[schema(minimum = 1)]
    pub page: u32,
    /// Page size used: the `limit` asked for, capped at 100.
    #[schema(minimum = 1, maximum = 100)]
    pub limit: u32,
    /// Items matching the filters, over all pages. Present when the request
    /// counted them: by default an offset page without `q`, or any listing
    /// with `count=true`. A search (`q`) or a `cursor` page leaves it out
    /// unless `count=true` is given (a search as the cashier types needs no
    /// exact total, and counting can cost more than the page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Opaque cursor of the next page (keyset paging), `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `{"success": false, "error": {...}}`: every failed answer, malformed
/// JSON included.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always `false`.
    pub success: bool,
    /// What went wrong.
    pub error: ErrorBody,
}

/// The error of an [`ErrorEnvelope`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code (the SDK's `ErrorCode`, the same in
    /// Python and Node): `validation`, `malformed_json`, `unauthorized`,
    /// `forbidden`, `not_found`, `conflict`, `idempotency_conflict`,
    /// `duplicate_customer`, `insufficient_points`, `rate_limited`, `internal`.
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// Every failing field (validation errors), else empty.
    pub fields: Vec<FieldError>,
    /// `conflict` and `idempotency_conflict`: why (`concurrent_change` may
    /// succeed on retry; the others will not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<ConflictReason>,
    /// `insufficient_points`: points asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested: Option<i64>,
    /// `insufficient_points`: points that can be redeemed now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<i64>,
    /// `duplicate_customer`: the field that collides (`email`, `phone`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `duplicate_customer`: the code of the customer holding the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_customer_code: Option<String>,
    /// `internal`: the id to quote; the details are only in the server log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// 400: the body is not JSON, or not sent as `application/json`.
#[derive(IntoResponses)]
#[response(status = 400, description = "Malformed JSON (`malformed_json`)")]
pub struct E400(#[to_schema] pub ErrorEnvelope);

/// 401: no, malformed, expired or forged bearer token.
#[derive(IntoResponses)]
#[response(
    status = 401,
    description = "Missing, malformed, expired or forged token (`unauthorized`)"
)]
pub struct E401(#[to_schema] pub ErrorEnvelope);

/// 403: valid token, role not allowed.
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "The caller's role may not do this (`forbidden`)"
)]
pub struct E403(#[to_schema] pub ErrorEnvelope);

/// 404: no such resource.
#[derive(IntoResponses)]
#[response(status = 404, description = "No such resource (`not_found`)")]
pub struct E404(#[to_schema] pub ErrorEnvelope);

/// 409: conflicts with stored state.
#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "Conflict: duplicate email/phone (`duplicate_customer`), not enough points (`insufficient_points`, with `available`), an idempotency key reused with another payload (`idempotency_conflict`), or another clash with stored state (`conflict`, with a `reason`)"
)]
pub struct E409(#[to_schema] pub ErrorEnvelope);

/// 422: validation, every failing field listed.
#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "Validation failed; `error.fields` lists every failing field (`validation`)"
)]
pub struct E422(#[to_schema] pub ErrorEnvelope);

/// 429: too many attempts.
#[derive(IntoResponses)]
#[response(
    status = 429,
    description = "Too many login attempts from this address (`rate_limited`)"
)]
pub struct E429(#[to_schema] pub ErrorEnvelope);

/// 500: internal error, with a request id and no internals.
#[derive(IntoResponses)]
#[response(
    status = 500,
    description = "Internal error; `error.request_id` points to the server log (`internal`)"
)]
pub struct E500(#[to_schema] pub ErrorEnvelope);

/// The document's fixed parts: info, tags, the bearer scheme.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "CRM SDK server",
        description = "REST API of the example server over the CRM SDK: customers, loyalty ledger, purchases and refunds, analytics, users. Every `/api` route but login needs `Authorization: Bearer <token>` from `POST /api/auth/login`. Roles: admin (everything), manager (every customer and loyalty write), cashier (reads customers, records purchases, earns and redeems), analyst (reads everything and the analytics).",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    components(schemas(
        ErrorEnvelope,
        ErrorBody,
        FieldError,
        crm_core::CustomerSort,
        crm_core::SortDirection,
        crm_core::ActivityFilter,
        crate::routes::ActiveParam,
        crm_core::loyalty::PointsOperation
    )),
    tags(
        (name = "auth", description = "Login and users"),
        (name = "customers", description = "Customer records"),
        (name = "loyalty", description = "Purchases, refunds and the points ledger"),
        (name = "analytics", description = "RFM segments, lifetime value, churn"),
        (name = "realtime", description = "Tickets for the WebSocket of events at /crm-updates"),
        (name = "communications", description = "Templates, campaigns, consent, the communication log and unsubscribe"),
        (name = "operations", description = "Health, metrics, this document")
    )
)]
pub struct ApiDoc;

/// The document as JSON, built once per process from the router's handlers.
pub fn spec_json() -> &'static str {
    static SPEC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        let (_, mut api) = crate::routes::router().split_for_parts();
        document_rejections(&mut api);
        close_request_bodies(&mut api);
        allow_empty_listing_values(&mut api);
        api.to_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"openapi: {e}\"}}"))
    })
}

/// Adds to every operation the rejections the router makes before a
/// handler runs, all with the error envelope: 503 (`unavailable`: load
/// shed, deadline passed, database down), 405 (`method_not_allowed`),
/// 413 (`payload_too_large`) on operations with a body, and 400
/// (`bad_request`) on operations with path parameters.
fn document_rejections(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let envelope = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                    .build(),
            )
            .build()
    };
    for (path, item) in api.paths.paths.iter_mut() {
        let has_params = path.contains('{');
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let responses = &mut op.responses.responses;
            responses.entry("503".into()).or_insert_with(|| {
                envelope("The server is busy, the request took too long, or the database does not answer; retry after `Retry-After` (`unavailable`)").into()
            });
            responses.entry("405".into()).or_insert_with(|| {
                envelope("Method not allowed on this path (`method_not_allowed`)").into()
            });
            if op.request_body.is_some() {
                responses.entry("413".into()).or_insert_with(|| {
                    envelope("Body over the server's limit (`payload_too_large`)").into()
                });
            }
            if has_params {
                responses.entry("400".into()).or_insert_with(|| {
                    envelope("A path parameter of the wrong type (`bad_request`), or malformed JSON (`malformed_json`)").into()
                });
            }
        }
    }
}

/// Every request body is read by the SDK's JSON reader, which refuses
/// unknown fields (`validation`, rule `unknown_field`): marks each request
/// body schema `additionalProperties: false`.
fn close_request_bodies(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AdditionalProperties, Schema};
    let mut names = std::collections::BTreeSet::new();
    for item in api.paths.paths.values() {
        for op in [&item.get, &item.post, &item.put, &item.patch, &item.delete]
            .into_iter()
            .flatten()
        {
            let contents = op.request_body.iter().flat_map(|b| match b {
                RefOr::T(body) => body.content.values().collect(),
                RefOr::Ref(_) => Vec::new(),
            });
            for content in contents {
                if let RefOr::T(content) = content
                    && let Some(RefOr::Ref(r)) = &content.schema
                    && let Some(name) = r.ref_location.strip_prefix("#/components/schemas/")
                {
                    names.insert(name.to_string());
                }
            }
        }
    }
    let Some(components) = api.components.as_mut() else {
        return;
    };
    // A campaign target names exactly one of its keys.
    if let Some(RefOr::T(Schema::OneOf(one_of))) = components.schemas.get_mut("Target") {
        for item in &mut one_of.items {
            if let RefOr::T(Schema::Object(object)) = item {
                object.additional_properties =
                    Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }
    }
    for name in names {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(&name) {
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }
}

/// The listing reads its query string with `CustomerQuery::from_params`,
/// where an empty value counts as absent (an HTML form's empty field):
/// marks those parameters `allowEmptyValue`, a field of the OpenAPI
/// parameter object that `utoipa` does not model.
fn allow_empty_listing_values(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    let Some(op) = api
        .paths
        .paths
        .get_mut("/api/customers")
        .and_then(|item| item.get.as_mut())
    else {
        return;
    };
    for p in op.parameters.iter_mut().flatten() {
        if let utoipa::openapi::RefOr::T(p) = p
            && p.parameter_in == ParameterIn::Query
        {
            p.extensions
                .get_or_insert_with(Default::default)
                .insert("allowEmptyValue".into(), serde_json::Value::Bool(true));
        }
    }
}

/// The currency of the loyalty programme, the only one purchases may name
/// (for the document: `currency` of a purchase body).
pub struct ProgrammeCurrency;

impl utoipa::PartialSchema for ProgrammeCurrency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let currency = crm_core::loyalty::LoyaltyProgram::default().currency;
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .enum_values(Some([currency.clone()]))
            .description(Some(format!(
                "ISO 4217 code of the loyalty programme's currency ({currency}), the only one accepted"
            )))
            .into()
    }
}

impl ToSchema for ProgrammeCurrency {}

/// Adds the `bearer` security scheme (JWT).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}
