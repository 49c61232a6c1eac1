//! The user lifecycle endpoints: read, disable, enable, change role, reset a
//! password (admin), and change one's own password (any user). Each change
//! ends the user's tokens (its token version moves on; see
//! [`crate::auth::Sessions`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use crm_core::users::{ChangePassword, ResetPassword, Role, SetRole, User};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Caller, issue};
use crate::error::{ApiError, ok};
use crate::openapi::{E400, E401, E403, E404, E409, E422, E500, Envelope};

type St = State<Arc<AppState>>;
type ApiResult = Result<Response, ApiError>;

/// Body of a role change.
#[allow(dead_code)]
#[derive(ToSchema)]
pub(crate) struct RoleBody {
    /// The new role.
    role: Role,
}

/// Body of an administrator's password reset.
#[allow(dead_code)]
#[derive(ToSchema)]
pub(crate) struct ResetPasswordBody {
    /// The new password.
    #[schema(min_length = 10)]
    new_password: String,
}

/// Body of a password change by the user itself.
#[allow(dead_code)]
#[derive(ToSchema)]
pub(crate) struct ChangePasswordBody {
    /// The user's current password.
    current_password: String,
    /// The new password.
    #[schema(min_length = 10)]
    new_password: String,
}

/// A fresh token after the caller changed its password (the old ones ended).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NewToken {
    /// HS256 JWT for `Authorization: Bearer`.
    token: String,
    /// When it stops being accepted.
    expires_at: DateTime<Utc>,
    /// The user.
    user: User,
}

fn body(json: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    crate::routes::body(json)
}

/// The answer to a change that ended `user`'s tokens: this process stops
/// trusting what it cached of the user at once (others within a second).
fn changed(s: &AppState, user: User) -> Response {
    s.sessions.forget(user.id);
    ok(StatusCode::OK, user)
}

/// One user. Role: admin.
#[utoipa::path(get, path = "/api/users/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id", minimum = 1)),
    responses(
        (status = 200, description = "The user", body = Envelope<User>),
        E400, E401, E403, E404, E500
    )
)]
pub(crate) async fn get_user(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(&[])?;
    Ok(ok(StatusCode::OK, s.crm.users().get(id).await?))
}

/// Disable a user: it cannot log in and its tokens end at once. Role: admin.
/// The last active admin cannot be disabled (409 `last_admin`).
#[utoipa::path(post, path = "/api/users/{id}/disable", tag = "auth", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id", minimum = 1)),
    responses(
        (status = 200, description = "Disabled", body = Envelope<User>),
        E400, E401, E403, E404, E409, E500
    )
)]
pub(crate) async fn disable_user(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(&[])?;
    Ok(changed(&s, s.crm.users().disable(id).await?))
}

/// Enable a user again; tokens issued before stay ended. Role: admin.
#[utoipa::path(post, path = "/api/users/{id}/enable", tag = "auth", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id", minimum = 1)),
    responses(
        (status = 200, description = "Enabled", body = Envelope<User>),
        E400, E401, E403, E404, E500
    )
)]
pub(crate) async fn enable_user(State(s): St, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    caller.require(&[])?;
    Ok(changed(&s, s.crm.users().enable(id).await?))
}

/// Change a user's role; its tokens end. Role: admin. The last active admin
/// cannot be demoted (409 `last_admin`).
#[utoipa::path(put, path = "/api/users/{id}/role", tag = "auth", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id", minimum = 1)),
    request_body = RoleBody,
    responses(
        (status = 200, description = "Changed", body = Envelope<User>),
        E400, E401, E403, E404, E409, E422, E500
    )
)]
pub(crate) async fn set_role(
    State(s): St,
    caller: Caller,
    Path(id): Path<i64>,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(&[])?;
    let input = SetRole::from_json_for(id, body(json)?)?;
    Ok(changed(&s, s.crm.users().set_role(input).await?))
}

/// Set a user's password (a reset by an administrator); its tokens end.
/// Role: admin.
#[utoipa::path(post, path = "/api/users/{id}/password", tag = "auth", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id", minimum = 1)),
    request_body = ResetPasswordBody,
    responses(
        (status = 200, description = "Reset", body = Envelope<User>),
        E400, E401, E403, E404, E422, E500
    )
)]
pub(crate) async fn reset_password(
    State(s): St,
    caller: Caller,
    Path(id): Path<i64>,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    caller.require(&[])?;
    let input = ResetPassword::from_json_for(id, body(json)?)?;
    Ok(changed(&s, s.crm.users().reset_password(input).await?))
}

/// Change one's own password (any role). Every token of the caller ends,
/// including the one of this request; the answer carries a new one.
#[utoipa::path(put, path = "/api/auth/password", tag = "auth", security(("bearer" = [])),
    request_body = ChangePasswordBody,
    responses(
        (status = 200, description = "Changed; a new token", body = Envelope<NewToken>),
        E400, E401, E422, E500
    )
)]
pub(crate) async fn change_password(
    State(s): St,
    caller: Caller,
    json: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    let id = caller.0.sub;
    let input = ChangePassword::from_json_for(id, body(json)?)?;
    let user = s.crm.users().change_password(input).await?;
    s.sessions.forget(id);
    let (token, expires_at) = issue(&s.keys, &user, s.crm.clock().now())?;
    Ok(ok(
        StatusCode::OK,
        NewToken {
            token,
            expires_at,
            user,
        },
    ))
}
