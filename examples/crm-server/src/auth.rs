//! Authentication (the guide's `AuthMiddleware`): HS256 JWT bearer tokens
//! with `exp` checked, argon2id passwords (in crm-core), roles, and a login
//! rate limit per client address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use crm_core::ErrorCode;
use crm_core::users::{Role, User};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{ApiError, AppState};

/// Login attempts allowed per address and window.
const LOGIN_ATTEMPTS: u32 = 10;
const LOGIN_WINDOW: Duration = Duration::from_secs(60);

/// Token signing keys and lifetime.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// How long a token lives.
    pub ttl: chrono::Duration,
}

impl TokenKeys {
    /// Keys from a shared secret (at least 32 bytes).
    pub fn new(secret: &[u8], ttl: chrono::Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl,
        }
    }
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

/// The claims of a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: i64,
    /// User email.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
}

/// Issues a token for `user`; returns it and its expiry.
pub fn issue(
    keys: &TokenKeys,
    user: &User,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(String, chrono::DateTime<chrono::Utc>), ApiError> {
    let exp = now + keys.ttl;
    let claims = Claims {
        sub: user.id,
        email: user.email.clone(),
        role: user.role,
        exp: exp.timestamp(),
        iat: now.timestamp(),
    };
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding)
        .map_err(|e| {
            ApiError::from(crm_core::Error::storage_msg(format!(
                "token signing failed: {e}"
            )))
        })?;
    Ok((token, exp))
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Claims);

impl Caller {
    /// The caller as the SDK's actor (its role sets the caps of manual
    /// point operations).
    pub fn actor(&self) -> crm_core::users::Actor {
        crm_core::users::Actor {
            user: self.0.email.clone(),
            role: self.0.role,
        }
    }

    /// Fails with 403 unless the caller has one of `roles` (admin always passes).
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.0.role == Role::Admin || roles.contains(&self.0.role) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("role {} may not do this", self.0.role.as_str()),
            ))
        }
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message)
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("authorization required"))?
            .to_str()
            .map_err(|_| unauthorized("malformed authorization header"))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| unauthorized("expected a Bearer token"))?;
        verify(&state.keys, token)
    }
}

/// Checks a token (HS256, `exp` with no leeway) and returns its caller.
pub fn verify(keys: &TokenKeys, token: &str) -> Result<Caller, ApiError> {
    if token.trim().is_empty() {
        return Err(unauthorized("authorization required"));
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<Claims>(token.trim(), &keys.decoding, &validation)
        .map_err(|_| unauthorized("invalid or expired token"))?;
    Ok(Caller(data.claims))
}

/// Per-address login attempt counter (one process; several processes behind a
/// load balancer each count their own share).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    attempts: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl LoginLimiter {
    /// Counts an attempt; `Err(429)` past the limit.
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let ip = ip.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let mut map = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if map.len() > 10_000 {
            map.retain(|_, (start, _)| now.duration_since(*start) < LOGIN_WINDOW);
        }
        let entry = map.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= LOGIN_WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 > LOGIN_ATTEMPTS {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                "too many login attempts; wait a minute",
            ));
        }
        Ok(())
    }
}

/// The client address, when the server runs with connect info.
pub fn client_ip(parts: Option<ConnectInfo<SocketAddr>>) -> Option<IpAddr> {
    parts.map(|ConnectInfo(addr)| addr.ip())
}
