//! Real-time events at `/crm-updates` (the guide's `CRMRealtime`), from the
//! outbox.
//!
//! The outbox in the database is the only source: every change writes its
//! event in the same transaction, with an increasing id. Each server process
//! runs one **relay** that reads the outbox after the last id it delivered and
//! broadcasts each event, serialised once, to its WebSocket clients. The relay
//! wakes up when this process handled a write, when any process announces one
//! through Redis (`{prefix}events`), and at least every
//! [`EventOptions::poll`] otherwise. Redis carries only the wake-up, never the
//! event itself: pub/sub drops what is published while a subscriber
//! reconnects, and the outbox does not, so every process delivers every
//! event, once, in id order, whichever process caused it and whether or not
//! Redis was there at the time.
//!
//! The relay reads with the SDK's in-order follower
//! (`crm_core::events::EventFollower`), which never skips ahead of a MySQL
//! id that may still commit (it waits up to [`EventOptions::gap_grace`]),
//! and sends each event in the SDK's wire format
//! (`OutboxEvent::to_wire_json`).
//!
//! A client sends its last seen event id (`?last_event_id=` or the
//! `Last-Event-ID` header) to get what it missed, from the database, before
//! the live events. Clients share one bounded broadcast buffer: a slow
//! client that falls behind it catches up from the database instead of
//! holding memory, and one that cannot take a message within
//! [`EventOptions::send_timeout`] is disconnected (it reconnects with its
//! last id). Nobody waits for anybody else.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use crm_core::Crm;
use crm_core::events::{EventQuery, EventType, FollowOptions};
use crm_core::users::Role;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::{Notify, broadcast};

use crate::{ApiError, AppState};

/// Settings of the event relay.
#[derive(Debug, Clone)]
pub struct EventOptions {
    /// Longest time between two outbox reads when nothing wakes the relay.
    pub poll: Duration,
    /// How long the relay waits for a missing id before moving on.
    pub gap_grace: Duration,
    /// Events kept for clients that are behind (shared by all clients).
    pub buffer: usize,
    /// Longest time a client may take to accept one message.
    pub send_timeout: Duration,
    /// Shortest time between two outbox reads (and two Redis wake-ups sent):
    /// under a burst of writes one read picks up many events.
    pub min_interval: Duration,
    /// WebSocket clients connected at once; more are answered 503
    /// `unavailable` before the upgrade.
    pub max_clients: usize,
    /// Largest message a client may send (clients only send pings and
    /// close frames); a larger one closes the connection.
    pub max_message_bytes: usize,
    /// How long outbox events are kept: a client resuming from an older id
    /// is told to resynchronise (`{"type":"resync"}`).
    pub retention: Duration,
    /// How often this process deletes events past the retention.
    pub prune_every: Duration,
}

impl Default for EventOptions {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(500),
            gap_grace: Duration::from_secs(2),
            buffer: 1024,
            send_timeout: Duration::from_secs(10),
            min_interval: Duration::from_millis(10),
            max_clients: 1024,
            max_message_bytes: 4096,
            retention: Duration::from_secs(7 * 24 * 3600),
            prune_every: Duration::from_secs(3600),
        }
    }
}

/// One event as sent to clients: its id and its JSON text.
#[derive(Debug)]
pub struct Delivered {
    /// Outbox id.
    pub id: i64,
    /// `{"type", "event_id", ...}`.
    pub json: String,
}

/// The events side of one server process.
#[derive(Debug)]
pub struct EventHub {
    options: EventOptions,
    tx: broadcast::Sender<Arc<Delivered>>,
    /// Highest id the relay has passed (delivered or given up on).
    cursor: AtomicI64,
    /// The relay has read its starting point.
    ready: Notify,
    ready_flag: AtomicBool,
    wake: Notify,
    announce: Notify,
    started: AtomicBool,
    clients: AtomicUsize,
    lagged: AtomicUsize,
}

impl EventHub {
    /// A hub; the relay starts with [`EventHub::start`].
    pub fn new(options: EventOptions) -> Self {
        let (tx, _) = broadcast::channel(options.buffer.max(16));
        Self {
            options,
            tx,
            cursor: AtomicI64::new(0),
            ready: Notify::new(),
            ready_flag: AtomicBool::new(false),
            wake: Notify::new(),
            announce: Notify::new(),
            started: AtomicBool::new(false),
            clients: AtomicUsize::new(0),
            lagged: AtomicUsize::new(0),
        }
    }

    /// Wakes the relay: new events may be in the outbox.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// After a write: wakes this process's relay and, with Redis, asks the
    /// announcer to wake every other process's (coalesced: at most one
    /// message per [`EventOptions::min_interval`], the last write included).
    pub fn written(&self) {
        self.wake.notify_one();
        self.announce.notify_one();
    }

    /// Connected WebSocket clients.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// Times a client fell behind the shared buffer and caught up from the
    /// database instead.
    pub fn lagged_catch_ups(&self) -> usize {
        self.lagged.load(Ordering::Relaxed)
    }

    /// Highest event id delivered by this process's relay.
    pub fn cursor(&self) -> i64 {
        self.cursor.load(Ordering::Acquire)
    }

    async fn wait_ready(&self) {
        while !self.ready_flag.load(Ordering::Acquire) {
            let notified = self.ready.notified();
            if self.ready_flag.load(Ordering::Acquire) {
                break;
            }
            notified.await;
        }
    }

    /// Starts the relay (and, with Redis, the wake-up subscriber) once; they
    /// stop when the state is dropped.
    pub fn start(state: &Arc<AppState>) {
        if state.events.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(state);
        tokio::spawn(relay(weak.clone()));
        tokio::spawn(pruner(weak.clone()));
        if let Some(cache) = &state.cache {
            tokio::spawn(subscriber(weak));
            tokio::spawn(announcer(Arc::clone(&state.events), Arc::clone(cache)));
        }
    }
}

/// Reads the outbox in order and broadcasts; refreshes cached customers.
async fn relay(state: std::sync::Weak<AppState>) {
    // Start after the newest event: clients ask for older ones by id.
    let follow = FollowOptions {
        after: None,
        gap_grace: Duration::ZERO,
    };
    let (hub, mut follower, cache) = loop {
        let Some(s) = state.upgrade() else { return };
        let follow = FollowOptions {
            gap_grace: s.events.options.gap_grace,
            ..follow
        };
        match s.crm.events().follow(follow).await {
            Ok(follower) => {
                s.events
                    .cursor
                    .store(follower.position(), Ordering::Release);
                s.events.ready_flag.store(true, Ordering::Release);
                s.events.ready.notify_waiters();
                break (
                    Arc::clone(&s.events),
                    follower,
                    s.cache.as_ref().map(Arc::clone),
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "event relay: cannot read the outbox yet");
                drop(s);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let mut skipped = 0;
    loop {
        let wait = if follower.waiting_on_gap() {
            Duration::from_millis(20)
        } else {
            hub.options.poll
        };
        tokio::select! {
            _ = hub.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        if state.strong_count() == 0 {
            return;
        }
        // Nobody listens and nothing is cached: do not read events, only
        // follow the newest id (a client that connects later starts there).
        if cache.is_none() && hub.clients() == 0 {
            if let Ok(position) = follower.skip_to_latest().await {
                hub.cursor.store(position, Ordering::Release);
            }
            tokio::time::sleep(hub.options.min_interval).await;
            continue;
        }
        loop {
            let batch = match follower.next_batch(RELAY_BATCH).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "event relay: outbox read failed");
                    break;
                }
            };
            if follower.skipped_ids() > skipped {
                skipped = follower.skipped_ids();
                tracing::warn!(
                    skipped,
                    "event relay: ids never committed (rolled back); moved on"
                );
            }
            let full = batch.len() >= RELAY_BATCH as usize;
            for event in batch {
                // A new customer cannot be cached yet: only updates can be stale.
                if let Some(cache) = &cache
                    && event.kind() == Some(EventType::CustomerUpdate)
                    && let Some(version) = event.customer_version()
                {
                    cache.stale(event.customer_id, version).await;
                }
                let delivered = Arc::new(Delivered {
                    id: event.id,
                    json: event.to_wire_json(),
                });
                hub.cursor.store(event.id, Ordering::Release);
                let _ = hub.tx.send(delivered);
            }
            if !full {
                break;
            }
        }
        tokio::time::sleep(hub.options.min_interval).await;
    }
}

/// Deletes outbox events past the retention, every `prune_every`.
async fn pruner(state: std::sync::Weak<AppState>) {
    loop {
        let Some(s) = state.upgrade() else { return };
        let (retention, every) = (s.events.options.retention, s.events.options.prune_every);
        match s.crm.events().prune(retention).await {
            Ok(p) if p.deleted > 0 => {
                tracing::info!(deleted = p.deleted, through = p.through, "outbox pruned");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox pruning failed"),
        }
        drop(s);
        tokio::time::sleep(every.max(Duration::from_secs(1))).await;
    }
}

/// Events read per outbox query.
const RELAY_BATCH: u32 = 500;

/// Sends coalesced wake-ups through Redis after this process's writes.
async fn announcer(hub: Arc<EventHub>, cache: Arc<crate::cache::Cache>) {
    loop {
        hub.announce.notified().await;
        if Arc::strong_count(&hub) == 1 {
            return;
        }
        cache.publish_wakeup().await;
        tokio::time::sleep(hub.options.min_interval).await;
    }
}

/// Listens on the Redis channel and wakes the relay; reconnects by itself.
async fn subscriber(state: std::sync::Weak<AppState>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some((client, channel, hub)) = state.upgrade().and_then(|s| {
            s.cache.as_ref().map(|c| {
                (
                    c.client().clone(),
                    c.events_channel(),
                    Arc::clone(&s.events),
                )
            })
        }) else {
            return;
        };
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    tracing::info!(%channel, "subscribed to event wake-ups");
                    backoff = Duration::from_millis(100);
                    // Anything announced while we were away is in the outbox.
                    hub.wake();
                    let mut messages = pubsub.on_message();
                    while messages.next().await.is_some() {
                        hub.wake();
                        if state.strong_count() == 0 {
                            return;
                        }
                    }
                    tracing::warn!("redis subscription lost; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, "redis subscribe failed"),
            },
            Err(e) => tracing::debug!(error = %e, "redis not reachable for events"),
        }
        drop(hub);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Query of `/crm-updates`.
#[derive(Debug, Deserialize)]
pub struct UpdatesQuery {
    /// A one-time ticket from `POST /api/realtime/ticket` (browsers cannot
    /// set headers on a WebSocket; a ticket in a URL is useless once used).
    ticket: Option<String>,
    /// Resume after this event id.
    last_event_id: Option<i64>,
}

/// Close code sent when the token's lifetime ends.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
/// Close code sent when the token was revoked (user disabled, role or
/// password changed).
pub const CLOSE_TOKEN_REVOKED: u16 = 4003;

/// `GET /crm-updates`: upgrade to a WebSocket of events. Any staff role,
/// with `Authorization: Bearer` or a one-time `?ticket=`.
pub async fn updates(
    State(state): State<Arc<AppState>>,
    Query(q): Query<UpdatesQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let header_token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let caller = match (q.ticket, header_token) {
        (Some(ticket), _) => {
            state
                .tickets
                .redeem(&state.keys, state.cache.as_deref(), &ticket)
                .await?
        }
        (None, Some(token)) => crate::auth::verify(&state.keys, &token)?,
        (None, None) => {
            return Err(ApiError::new(
                crm_core::ErrorCode::Unauthorized,
                "a ticket (POST /api/realtime/ticket) or a bearer token is required",
            ));
        }
    };
    state.sessions.check(&state.crm, &caller.0).await?;
    caller.require(&[Role::Manager, Role::Cashier, Role::Analyst])?;
    let last = match q.last_event_id {
        Some(id) => Some(id),
        None => headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok()),
    };
    let hub = Arc::clone(&state.events);
    if hub.clients.fetch_add(1, Ordering::AcqRel) >= hub.options.max_clients {
        hub.clients.fetch_sub(1, Ordering::AcqRel);
        let mut res = axum::response::IntoResponse::into_response(ApiError::new(
            crm_core::ErrorCode::Unavailable,
            "too many real-time connections; retry later",
        ));
        res.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("5"),
        );
        return Ok(res);
    }
    let guard = ClientGuard(hub);
    EventHub::start(&state);
    let max = state.events.options.max_message_bytes;
    Ok(ws
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| client(state, socket, last, caller, guard)))
}

/// A one-time ticket for `GET /crm-updates?ticket=` (browsers cannot set
/// an `Authorization` header on a WebSocket, and a token in a URL lands in
/// logs). Valid 30 s, once. Any staff role.
#[utoipa::path(post, path = "/api/realtime/ticket", tag = "realtime", security(("bearer" = [])),
    responses(
        (status = 201, description = "A ticket", body = crate::openapi::Envelope<Ticket>),
        crate::openapi::E401, crate::openapi::E403, crate::openapi::E500
    )
)]
pub(crate) async fn realtime_ticket(
    State(state): State<Arc<AppState>>,
    caller: crate::auth::Caller,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Manager, Role::Cashier, Role::Analyst])?;
    let (ticket, expires_at) =
        crate::auth::issue_ticket(&state.keys, &caller, state.crm.clock().now())?;
    Ok(crate::error::ok(
        axum::http::StatusCode::CREATED,
        Ticket { ticket, expires_at },
    ))
}

/// A one-time WebSocket ticket.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Ticket {
    /// Pass as `/crm-updates?ticket=`; works once.
    pub ticket: String,
    /// When it stops being accepted if unused.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

struct ClientGuard(Arc<EventHub>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a client's connection ends on the server's side.
enum Ended {
    /// The client left, or could not take a message.
    Gone,
    /// Its token expired or was revoked: close with this code.
    Token(u16, &'static str),
}

async fn client(
    state: Arc<AppState>,
    socket: WebSocket,
    last: Option<i64>,
    caller: crate::auth::Caller,
    _guard: ClientGuard,
) {
    let weak = Arc::downgrade(&state);
    let (mut sink, incoming) = socket.split();
    let ended = serve_client(state, &mut sink, incoming, last, weak, &caller).await;
    if let Ended::Token(code, reason) = ended {
        let frame = axum::extract::ws::CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            sink.send(Message::Close(Some(frame))),
        )
        .await;
    }
}

async fn serve_client(
    state: Arc<AppState>,
    sink: &mut Sink,
    mut incoming: futures_util::stream::SplitStream<WebSocket>,
    last: Option<i64>,
    weak: std::sync::Weak<AppState>,
    caller: &crate::auth::Caller,
) -> Ended {
    let hub = Arc::clone(&state.events);
    let crm = state.crm.clone();
    let timeout = hub.options.send_timeout;
    drop(state);
    hub.wait_ready().await;
    // Subscribe first: whatever is broadcast from now on is in `rx`, and
    // whatever was broadcast before is in the outbox at or below the cursor.
    let mut rx = hub.tx.subscribe();
    // Without a last id: from the newest event in the database now (the
    // relay may be behind it, or idle).
    let newest = || async {
        match crm.events().last_id().await {
            Ok(id) => id,
            Err(_) => hub.cursor(),
        }
    };
    let mut last = match last {
        Some(id) => match crm.events().resume(id).await {
            Ok(crm_core::events::Resume::Resync { pruned_through }) => {
                let now = newest().await;
                let message = serde_json::json!({
                    "type": "resync",
                    "event_id": now,
                    "pruned_through": pruned_through,
                    "message": "events after your last_event_id are past the retention; reload, then resume from event_id",
                });
                if send(sink, message.to_string(), timeout).await.is_err() {
                    return Ended::Gone;
                }
                now
            }
            _ => id,
        },
        None => newest().await,
    };
    hub.wake();
    if catch_up(&crm, &hub, sink, &mut last, timeout)
        .await
        .is_err()
    {
        return Ended::Gone;
    }
    // The token's end, and a check of its revocation every second.
    let expires = caller.0.exp - chrono::Utc::now().timestamp();
    let expiry = tokio::time::sleep(Duration::from_secs(u64::try_from(expires).unwrap_or(0)));
    tokio::pin!(expiry);
    let mut revocation = tokio::time::interval(crate::auth::SESSION_CACHE);
    loop {
        tokio::select! {
            () = &mut expiry => return Ended::Token(CLOSE_TOKEN_EXPIRED, "token expired"),
            _ = revocation.tick() => {
                let Some(state) = weak.upgrade() else { return Ended::Gone };
                match state.sessions.check(&state.crm, &caller.0).await {
                    Ok(()) => {}
                    Err(e) if e.status() == axum::http::StatusCode::UNAUTHORIZED => {
                        return Ended::Token(CLOSE_TOKEN_REVOKED, "token revoked");
                    }
                    // The database is away: keep serving what the relay has.
                    Err(_) => {}
                }
            }
            event = rx.recv() => match event {
                Ok(d) => {
                    if d.id <= last {
                        continue;
                    }
                    if send(sink, d.json.clone(), timeout).await.is_err() {
                        return Ended::Gone;
                    }
                    last = d.id;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    hub.lagged.fetch_add(1, Ordering::Relaxed);
                    if catch_up(&crm, &hub, sink, &mut last, timeout).await.is_err() {
                        return Ended::Gone;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return Ended::Gone,
            },
            msg = incoming.next() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ended::Gone,
                Some(Ok(_)) => {}
            },
        }
    }
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

async fn send(sink: &mut Sink, text: String, timeout: Duration) -> Result<(), ()> {
    match tokio::time::timeout(timeout, sink.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Sends events after `last` up to the relay's cursor, from the database.
async fn catch_up(
    crm: &Crm,
    hub: &EventHub,
    sink: &mut Sink,
    last: &mut i64,
    timeout: Duration,
) -> Result<(), ()> {
    loop {
        let upto = hub.cursor();
        if *last >= upto {
            return Ok(());
        }
        let batch = crm
            .events()
            .list(EventQuery {
                after: *last,
                limit: RELAY_BATCH,
            })
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "event catch-up failed");
            })?;
        if batch.is_empty() {
            return Ok(());
        }
        for event in batch {
            if event.id > upto {
                return Ok(());
            }
            send(sink, event.to_wire_json(), timeout).await?;
            *last = event.id;
        }
    }
}
