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
/// Who issues the tokens (`iss`) and whom they are for (`aud`): a token of
/// another service signed with the same secret is not accepted here.
pub const TOKEN_ISSUER: &str = "crm-server";
/// The audience of the tokens (`aud`).
pub const TOKEN_AUDIENCE: &str = "crm-api";
/// Shortest accepted signing secret, in bytes (HS256 wants 256 bits).
pub const MIN_SECRET_BYTES: usize = 32;
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
    /// Issuer ([`TOKEN_ISSUER`]).
    pub iss: String,
    /// Audience ([`TOKEN_AUDIENCE`]).
    pub aud: String,
    /// The user's token version when the token was issued: once the user is
    /// disabled, re-enabled, changes role or password, the version moves on
    /// and the token is refused ([`Sessions`]).
    pub ver: i64,
    /// A WebSocket ticket's one-time id (absent from API tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
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
        iss: TOKEN_ISSUER.into(),
        aud: TOKEN_AUDIENCE.into(),
        ver: user.token_version,
        jti: None,
    };
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding)
        .map_err(|e| {
            ApiError::from(crm_core::Error::storage_msg(format!(
                "token signing failed: {e}"
            )))
        })?;
    Ok((token, exp))
}

/// The audience of WebSocket tickets: a ticket is not an API token, and an
/// API token is not a ticket.
pub const TICKET_AUDIENCE: &str = "crm-realtime";

/// How long a WebSocket ticket may wait before it is used.
pub const TICKET_TTL: chrono::Duration = chrono::Duration::seconds(30);

/// Issues a one-time WebSocket ticket for the caller: the claims of its
/// token (same user, role and token version), for [`TICKET_AUDIENCE`], valid
/// [`TICKET_TTL`], with a random id.
pub fn issue_ticket(
    keys: &TokenKeys,
    caller: &Caller,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(String, chrono::DateTime<chrono::Utc>), ApiError> {
    let exp = now + TICKET_TTL;
    let claims = Claims {
        exp: exp.timestamp(),
        iat: now.timestamp(),
        aud: TICKET_AUDIENCE.into(),
        jti: Some(uuid::Uuid::new_v4().simple().to_string()),
        ..caller.0.clone()
    };
    let ticket = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding)
        .map_err(|e| {
            ApiError::from(crm_core::Error::storage_msg(format!(
                "ticket signing failed: {e}"
            )))
        })?;
    Ok((ticket, exp))
}

/// Used ticket ids (this process's; with Redis, every process's).
#[derive(Debug, Default)]
pub struct Tickets {
    used: Mutex<HashMap<String, i64>>,
}

impl Tickets {
    /// Checks a ticket and uses it up: the second use, in any process
    /// sharing `shared` (Redis), is 401. When Redis does not answer, this
    /// process's own record decides.
    pub async fn redeem(
        &self,
        keys: &TokenKeys,
        shared: Option<&crate::cache::Cache>,
        ticket: &str,
    ) -> Result<Caller, ApiError> {
        let caller = decode(keys, ticket, TICKET_AUDIENCE)?;
        let jti = caller
            .0
            .jti
            .clone()
            .ok_or_else(|| unauthorized("invalid ticket"))?;
        let ttl = u64::try_from(TICKET_TTL.num_seconds()).unwrap_or(30) * 2;
        let first = match shared {
            Some(cache) => cache.claim_once(&format!("ticket:{jti}"), ttl).await,
            None => None,
        };
        let first = match first {
            Some(first) => first,
            None => {
                let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
                let now = chrono::Utc::now().timestamp();
                used.retain(|_, exp| *exp >= now);
                used.insert(jti, caller.0.exp).is_none()
            }
        };
        if first {
            Ok(caller)
        } else {
            Err(unauthorized("this ticket was used already"))
        }
    }
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

    /// The CRM acting for this caller: its changes are recorded in the
    /// audit trail under the caller's email and role.
    pub fn crm(&self, state: &AppState) -> crm_core::Crm {
        state.crm.acting_as(self.actor())
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
        let caller = verify(&state.keys, token)?;
        state.sessions.check(&state.crm, &caller.0).await?;
        Ok(caller)
    }
}

/// How long this process trusts what it read of a user's token version
/// and status: a revocation reaches every process within this time.
pub const SESSION_CACHE: Duration = Duration::from_secs(1);

/// The live side of tokens: whether a token's user is still active and its
/// token version still current. Reads the user at most once per
/// [`SESSION_CACHE`] per user and process (a process caches, it never
/// decides alone: every process reads the same database).
#[derive(Debug, Default)]
pub struct Sessions {
    seen: Mutex<HashMap<i64, (Instant, Option<UserState>)>>,
}

/// What a token check needs of a user: its token version and whether it
/// is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UserState {
    version: i64,
    active: bool,
}

/// Users whose state is cached at most; past it, stale entries are dropped.
const SESSION_ENTRIES: usize = 10_000;

impl Sessions {
    /// `Ok` when the user of `claims` exists, is active and its token
    /// version is the token's; else 401 `token revoked`.
    pub async fn check(&self, crm: &crm_core::Crm, claims: &Claims) -> Result<(), ApiError> {
        let cached = {
            let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.get(&claims.sub)
                .filter(|(at, _)| at.elapsed() < SESSION_CACHE)
                .map(|(_, state)| *state)
        };
        let state = match cached {
            Some(state) => state,
            None => {
                let state = match crm.users().get(claims.sub).await {
                    Ok(user) => Some(UserState {
                        version: user.token_version,
                        active: user.active,
                    }),
                    Err(crm_core::Error::NotFound { .. }) => None,
                    Err(e) => return Err(e.into()),
                };
                let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                if seen.len() >= SESSION_ENTRIES {
                    seen.retain(|_, (at, _)| at.elapsed() < SESSION_CACHE);
                }
                seen.insert(claims.sub, (Instant::now(), state));
                state
            }
        };
        match state {
            Some(UserState {
                version,
                active: true,
            }) if version == claims.ver => Ok(()),
            _ => Err(unauthorized("token revoked; log in again")),
        }
    }

    /// Forgets what this process read of `user` (after this process
    /// changed it: its own requests see the change at once).
    pub fn forget(&self, user: i64) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&user);
    }
}

/// Checks a token (HS256, `exp` with no leeway) and returns its caller.
pub fn verify(keys: &TokenKeys, token: &str) -> Result<Caller, ApiError> {
    decode(keys, token, TOKEN_AUDIENCE)
}

fn decode(keys: &TokenKeys, token: &str, audience: &str) -> Result<Caller, ApiError> {
    if token.trim().is_empty() {
        return Err(unauthorized("authorization required"));
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_issuer(&[TOKEN_ISSUER]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let data = jsonwebtoken::decode::<Claims>(token.trim(), &keys.decoding, &validation)
        .map_err(|_| unauthorized("invalid or expired token"))?;
    Ok(Caller(data.claims))
}

/// Login throttling, per client address (every attempt) and per account
/// (failed attempts), each at most [`LOGIN_ATTEMPTS`] a minute. Memory is
/// bounded: at most `capacity` addresses and accounts are tracked; past it,
/// expired entries go first, then the oldest.
#[derive(Debug)]
pub struct LoginLimiter {
    by_address: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    by_account: Mutex<HashMap<String, (Instant, u32)>>,
    capacity: usize,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::with_capacity(10_000)
    }
}

/// Counts one hit of `key` in its window; returns the count.
fn hit<K: std::hash::Hash + Eq + Clone>(
    map: &Mutex<HashMap<K, (Instant, u32)>>,
    key: &K,
    capacity: usize,
) -> u32 {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    if !map.contains_key(key) && map.len() >= capacity {
        map.retain(|_, (start, _)| now.duration_since(*start) < LOGIN_WINDOW);
        if map.len() >= capacity
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (start, _))| *start)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
    }
    let entry = map.entry(key.clone()).or_insert((now, 0));
    if now.duration_since(entry.0) >= LOGIN_WINDOW {
        *entry = (now, 0);
    }
    entry.1 = entry.1.saturating_add(1);
    entry.1
}

fn count<K: std::hash::Hash + Eq>(map: &Mutex<HashMap<K, (Instant, u32)>>, key: &K) -> u32 {
    let map = map.lock().unwrap_or_else(|e| e.into_inner());
    match map.get(key) {
        Some((start, n)) if start.elapsed() < LOGIN_WINDOW => *n,
        _ => 0,
    }
}

impl LoginLimiter {
    /// A limiter tracking at most `capacity` addresses and accounts each.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            by_address: Mutex::default(),
            by_account: Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    /// Counts an attempt from `ip` for `account`; `Err(429)` past the limit
    /// of the address, or of the account's failures. With `shared` (Redis),
    /// the counts are those of every process; if Redis does not answer,
    /// this process's own.
    pub async fn check(
        &self,
        shared: Option<&crate::cache::Cache>,
        ip: Option<IpAddr>,
        account: &str,
    ) -> Result<(), ApiError> {
        let ip = ip.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let account = account.trim().to_lowercase();
        let limited = || {
            ApiError::new(
                ErrorCode::RateLimited,
                "too many login attempts; wait a minute",
            )
        };
        let failures = match shared {
            Some(cache) => cache.login_count(&format!("account:{account}")).await,
            None => None,
        };
        let failures = failures.unwrap_or_else(|| count(&self.by_account, &account));
        if failures >= LOGIN_ATTEMPTS {
            return Err(limited());
        }
        let attempts = match shared {
            Some(cache) => {
                cache
                    .login_hit(&format!("ip:{ip}"), LOGIN_WINDOW.as_secs())
                    .await
            }
            None => None,
        };
        let attempts = attempts.unwrap_or_else(|| hit(&self.by_address, &ip, self.capacity));
        if attempts > LOGIN_ATTEMPTS {
            return Err(limited());
        }
        Ok(())
    }

    /// Records a failed login of `account` (from any address, in any
    /// process sharing `shared`).
    pub async fn failed(&self, shared: Option<&crate::cache::Cache>, account: &str) {
        let account = account.trim().to_lowercase();
        let counted = match shared {
            Some(cache) => cache
                .login_hit(&format!("account:{account}"), LOGIN_WINDOW.as_secs())
                .await
                .is_some(),
            None => false,
        };
        if !counted {
            hit(&self.by_account, &account, self.capacity);
        }
    }

    /// Addresses and accounts tracked now (bounded by the capacity).
    pub fn tracked(&self) -> (usize, usize) {
        let a = self
            .by_address
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        let b = self
            .by_account
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        (a, b)
    }
}

/// The client address: the peer's, unless the peer is one of
/// `trusted_proxies`, in which case the right-most address of
/// `X-Forwarded-For` that is not a trusted proxy (what a client cannot
/// forge: each trusted proxy appends the address it saw).
pub fn client_ip(
    peer: Option<ConnectInfo<SocketAddr>>,
    headers: &axum::http::HeaderMap,
    trusted_proxies: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer.map(|ConnectInfo(addr)| addr.ip())?;
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|a| !trusted_proxies.contains(a))
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[tokio::test]
    async fn failed_logins_lock_the_account_from_every_address() {
        let limiter = LoginLimiter::default();
        for i in 0..LOGIN_ATTEMPTS {
            let from = Some(ip(&format!("10.0.0.{i}")));
            assert!(limiter.check(None, from, "Budi@Toko.id").await.is_ok());
            limiter.failed(None, "budi@toko.id").await;
        }
        let err = limiter
            .check(None, Some(ip("10.9.9.9")), "budi@toko.id")
            .await
            .expect_err("the account is throttled whatever the address");
        assert_eq!(err.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(
            limiter
                .check(None, Some(ip("10.9.9.9")), "sari@toko.id")
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn memory_stays_bounded() {
        let limiter = LoginLimiter::with_capacity(100);
        for i in 0..5_000u32 {
            let [a, b, c, d] = i.to_be_bytes();
            let account = format!("u{i}@x.id");
            let _ = limiter
                .check(None, Some(IpAddr::from([10, b | a, c, d])), &account)
                .await;
            limiter.failed(None, &account).await;
        }
        let (addresses, accounts) = limiter.tracked();
        assert!(
            addresses <= 100 && accounts <= 100,
            "{addresses} {accounts}"
        );
    }

    #[test]
    fn the_client_address_comes_through_trusted_proxies_only() {
        let proxy = ip("192.168.1.10");
        let peer = |a: IpAddr| Some(ConnectInfo(SocketAddr::new(a, 40000)));
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "6.6.6.6, 203.0.113.7".parse().expect("header"),
        );
        // Behind the trusted proxy: the address it saw (the right-most);
        // the left-most entry is whatever the client claimed.
        assert_eq!(
            client_ip(peer(proxy), &headers, &[proxy]),
            Some(ip("203.0.113.7"))
        );
        // Not a trusted proxy: the header is ignored.
        assert_eq!(
            client_ip(peer(ip("203.0.113.9")), &headers, &[proxy]),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client_ip(peer(proxy), &headers, &[]),
            Some(proxy),
            "no trusted proxy configured"
        );
    }
}
