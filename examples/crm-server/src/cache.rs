//! The optional Redis layer (`REDIS_URL`): the guide's `CacheManager` for
//! customer reads, and the wake-up channel of the event relay.
//!
//! **Reads** of `GET /api/customers/{id}` go through `{prefix}customer:{id}`
//! (one-hour TTL). Entries carry the customer's `version`, and every write is
//! a compare-and-set in one Lua script: a value is stored only if it is newer
//! than the cached one. So a reader that fetched an old row just before an
//! update can never overwrite the newer entry the writer stored, which a
//! plain `DEL` + `SETEX` (the guide's sketch) allows.
//!
//! **Invalidation** happens twice: the process that handled a write stores the
//! new version at once (update, deactivate, reactivate, both sides of a
//! merge), and every process's event relay refreshes entries it finds cached
//! from the outbox's `customer_update` events, so writes made
//! by another process, or outside the server through the SDK, reach the cache
//! too. Loyalty changes do not touch the entry: the cached view holds no
//! points.
//!
//! **Failure** never fails a request: every call has a short timeout, errors
//! count as misses, and after an error Redis is left alone for a second
//! (the connection manager reconnects by itself). A write whose cache update
//! failed marks the cache dirty: until the customer entries have been
//! dropped (done on the next successful contact), reads bypass the cache.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crm_core::{Customer, CustomerId};
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long one Redis call may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// How long Redis is left alone after a failure.
const BACKOFF: Duration = Duration::from_secs(1);
/// Lifetime of a cached customer (the guide's one hour).
pub const CUSTOMER_TTL_SECS: u64 = 3600;

/// Stores `version|json` under KEYS[1] unless the cached version is the same
/// or newer (ARGV: version, JSON, time to live in seconds).
const PUT_IF_NEWER: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+)|'))
  if v and v >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1
";

/// Drops a cached customer older than a version (`KEYS[1]`, `ARGV[1]` =
/// the version an outbox event announced).
const DROP_IF_OLDER: &str = r"
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local v = tonumber(string.match(cur, '^(%d+)|'))
if v and v >= tonumber(ARGV[1]) then return 0 end
return redis.call('DEL', KEYS[1])
";

/// Redis settings of the server.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prefix of every key and channel (default `crm:`), so several
    /// deployments can share one Redis.
    pub prefix: String,
}

/// The Redis cache and event channel of one server process.
pub struct Cache {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    put_if_newer: redis::Script,
    drop_if_older: redis::Script,
    started: Instant,
    /// Milliseconds since `started` before which Redis is not tried.
    resume_at_ms: AtomicU64,
    /// A write could not update its entry: bypass reads until entries are dropped.
    dirty: AtomicBool,
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Counters of the cache, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct CacheStats {
    /// Reads answered from Redis.
    pub hits: u64,
    /// Reads that went to the database.
    pub misses: u64,
    /// Redis calls that failed or timed out.
    pub errors: u64,
}

impl Cache {
    /// A cache over `settings.url`; connects lazily, so a Redis that is down
    /// at start does not stop the server.
    pub fn new(settings: &RedisSettings) -> Result<Self, String> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| format!("REDIS_URL {:?}: {e}", settings.url))?;
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500))
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| format!("redis: {e}"))?;
        Ok(Self {
            client,
            conn,
            prefix: settings.prefix.clone(),
            put_if_newer: redis::Script::new(PUT_IF_NEWER),
            drop_if_older: redis::Script::new(DROP_IF_OLDER),
            started: Instant::now(),
            resume_at_ms: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        })
    }

    /// The Redis client (for the subscriber connection).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The pub/sub channel that wakes every process's event relay.
    pub fn events_channel(&self) -> String {
        format!("{}events", self.prefix)
    }

    fn key(&self, id: CustomerId) -> String {
        format!("{}customer:{}", self.prefix, id.0)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn available(&self) -> bool {
        self.now_ms() >= self.resume_at_ms.load(Ordering::Relaxed)
    }

    /// Runs one Redis call with the timeout; a failure pauses Redis use.
    async fn call<T>(
        &self,
        what: &str,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        if !self.available() {
            return None;
        }
        let failure = match tokio::time::timeout(CALL_TIMEOUT, fut).await {
            Ok(Ok(v)) => return Some(v),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_string(),
        };
        self.errors.fetch_add(1, Ordering::Relaxed);
        let resume = self.now_ms() + u64::try_from(BACKOFF.as_millis()).unwrap_or(1000);
        let was = self.resume_at_ms.swap(resume, Ordering::Relaxed);
        if was <= self.now_ms() {
            tracing::warn!(operation = what, error = %failure, "redis unavailable; serving from the database");
        }
        None
    }

    /// A cached customer, or `None` (miss, Redis down, or cache dirty).
    pub async fn customer(&self, id: CustomerId) -> Option<Customer> {
        if self.dirty.load(Ordering::Acquire) && !self.drop_customer_entries().await {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut conn = self.conn.clone();
        let key = self.key(id);
        let raw: Option<String> = self.call("get", conn.get(&key)).await.flatten();
        let found = raw.and_then(|raw| {
            let (_, json) = raw.split_once('|')?;
            serde_json::from_str::<Customer>(json).ok()
        });
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Caches a customer read from the database (unless a newer one is there).
    pub async fn fill(&self, customer: &Customer) {
        if !self.dirty.load(Ordering::Acquire) {
            self.put(customer).await;
        }
    }

    /// Stores the new state after a write; marks the cache dirty if that fails.
    pub async fn written(&self, customer: &Customer) {
        if !self.put(customer).await {
            self.dirty.store(true, Ordering::Release);
        }
    }

    /// Drops the cached customer if it is older than `version` (an outbox
    /// event announced that version, written by any process or SDK user):
    /// the next read takes it from the database.
    pub async fn stale(&self, id: CustomerId, version: i64) {
        let mut conn = self.conn.clone();
        let mut invocation = self.drop_if_older.key(self.key(id));
        invocation.arg(version);
        if self
            .call("drop", invocation.invoke_async::<i64>(&mut conn))
            .await
            .is_none()
        {
            self.dirty.store(true, Ordering::Release);
        }
    }

    async fn put(&self, customer: &Customer) -> bool {
        let Ok(json) = serde_json::to_string(customer) else {
            return false;
        };
        let mut conn = self.conn.clone();
        let mut invocation = self.put_if_newer.key(self.key(customer.id));
        invocation
            .arg(customer.version)
            .arg(json)
            .arg(CUSTOMER_TTL_SECS);
        self.call("put", invocation.invoke_async::<i64>(&mut conn))
            .await
            .is_some()
    }

    /// Drops every cached customer (after writes that could not update
    /// theirs); `true` once done.
    async fn drop_customer_entries(&self) -> bool {
        let pattern = format!("{}customer:*", self.prefix);
        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        loop {
            let page: Option<(u64, Vec<String>)> = self
                .call(
                    "scan",
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn),
                )
                .await;
            let Some((next, keys)) = page else {
                return false;
            };
            if !keys.is_empty() && self.call("del", conn.del::<_, ()>(keys)).await.is_none() {
                return false;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        self.dirty.store(false, Ordering::Release);
        tracing::info!("redis is back: dropped cached customers written during the outage");
        true
    }

    /// Counts one login attempt under `name` (`ip:...`, `account:...`) for
    /// every process sharing this Redis, in a window of `window_secs`;
    /// returns the count, or `None` when Redis is unavailable.
    pub async fn login_hit(&self, name: &str, window_secs: u64) -> Option<u32> {
        let key = format!("{}login:{name}", self.prefix);
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .incr(&key, 1u32)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(window_secs)
            .arg("NX")
            .ignore();
        self.call("login limit", pipe.query_async::<(u32,)>(&mut conn))
            .await
            .map(|(n,)| n)
    }

    /// The login attempts counted under `name` in the current window;
    /// `None` when Redis is unavailable.
    pub async fn login_count(&self, name: &str) -> Option<u32> {
        let key = format!("{}login:{name}", self.prefix);
        let mut conn = self.conn.clone();
        self.call("login limit", conn.get::<_, Option<u32>>(key))
            .await
            .map(|n| n.unwrap_or(0))
    }

    /// Claims `name` (a WebSocket ticket's id) for `ttl_secs`, for every
    /// process sharing this Redis: `Some(true)` for the first claim,
    /// `Some(false)` when it was claimed before, `None` when Redis is
    /// unavailable.
    pub async fn claim_once(&self, name: &str, ttl_secs: u64) -> Option<bool> {
        let key = format!("{}once:{name}", self.prefix);
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key)
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(ttl_secs.max(1));
        self.call("ticket", cmd.query_async::<Option<String>>(&mut conn))
            .await
            .map(|set| set.is_some())
    }

    /// Tells every process that new outbox events may be waiting.
    pub async fn publish_wakeup(&self) {
        let mut conn = self.conn.clone();
        let channel = self.events_channel();
        self.call("publish", conn.publish::<_, _, ()>(channel, "1"))
            .await;
    }

    /// Hit, miss and error counts.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}
