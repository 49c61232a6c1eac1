//! The outbox of domain events and the [`Events`] handle.
//!
//! Every change writes its event in the same transaction as the change, with
//! an increasing id ([`OutboxEvent`]). This module owns what an event says
//! ([`EventPayload`], written by the rules and by every store), how it looks
//! on the wire ([`OutboxEvent::to_wire_json`], the message the server's
//! WebSocket, and the Python and Node subscriptions, deliver), and how to
//! follow the outbox in order ([`EventFollower`]).
//!
//! # Following in order on MySQL
//!
//! On MySQL, ids are taken at insert and become visible at commit, so a
//! later id can be visible before an earlier one. A follower never skips
//! ahead of a hole: it waits for the missing id up to
//! [`FollowOptions::gap_grace`] (a rolled-back transaction leaves a hole
//! that never fills), then moves on.

use std::time::{Duration, Instant};

use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::customer::{Customer, CustomerId};
use crate::facade::Events;
use crate::loyalty::{EntryType, OutboxEvent};
use crate::{Error, Result};

/// Most events one read returns.
pub const MAX_EVENT_BATCH: u32 = 1000;

/// The kinds of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventType {
    /// A customer was created (`customer_id`, `version`).
    NewCustomer,
    /// A customer changed: update, deactivation, reactivation, merge,
    /// erasure (`customer_id`, `version` = the version after the change).
    CustomerUpdate,
    /// A ledger entry moved a balance (`customer_id`, `points` = the new
    /// balance, `delta`, `entry_id`, `entry_type`).
    LoyaltyPoints,
}

impl EventType {
    /// The name stored and sent (`new_customer`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::NewCustomer => "new_customer",
            EventType::CustomerUpdate => "customer_update",
            EventType::LoyaltyPoints => "loyalty_points",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            EventType::NewCustomer,
            EventType::CustomerUpdate,
            EventType::LoyaltyPoints,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// What an event says, before it is stored: the one place the payloads are
/// built (the rules and every store use it).
///
/// Customer events are thin: they name the customer and its version, and a
/// subscriber that wants the record reads it by id (`customers().get`,
/// `GET /api/customers/{id}`), getting that version or a later one. A full
/// snapshot per event made the outbox the largest table after a bulk
/// import (about 600 bytes per event), copied personal data into every
/// event, and went stale as soon as the next change landed.
#[derive(Debug, Clone, Copy)]
pub enum EventPayload<'a> {
    /// `new_customer`: the customer as created (the event keeps its id and
    /// version).
    NewCustomer(&'a Customer),
    /// `customer_update`: the customer as it is now (the event keeps its id
    /// and version).
    CustomerUpdate(&'a Customer),
    /// `loyalty_points`: a ledger entry and the balance after it.
    LoyaltyPoints {
        /// Whose points.
        customer_id: CustomerId,
        /// The balance after the entry.
        balance: i64,
        /// The entry's points (signed).
        delta: i64,
        /// The entry's id.
        entry_id: i64,
        /// The entry's type.
        entry_type: EntryType,
    },
}

impl EventPayload<'_> {
    /// The event's type.
    pub fn event_type(&self) -> EventType {
        match self {
            EventPayload::NewCustomer(_) => EventType::NewCustomer,
            EventPayload::CustomerUpdate(_) => EventType::CustomerUpdate,
            EventPayload::LoyaltyPoints { .. } => EventType::LoyaltyPoints,
        }
    }

    /// The customer the event is about.
    pub fn customer_id(&self) -> CustomerId {
        match self {
            EventPayload::NewCustomer(c) | EventPayload::CustomerUpdate(c) => c.id,
            EventPayload::LoyaltyPoints { customer_id, .. } => *customer_id,
        }
    }

    /// The stored JSON body.
    pub fn to_json(&self) -> Value {
        match self {
            EventPayload::NewCustomer(c) | EventPayload::CustomerUpdate(c) => {
                // The customer id is the event's own column.
                json!({ "version": c.version })
            }
            EventPayload::LoyaltyPoints {
                customer_id,
                balance,
                delta,
                entry_id,
                entry_type,
            } => json!({
                "customer_id": customer_id,
                "points": balance,
                "delta": delta,
                "entry_id": entry_id,
                "entry_type": entry_type,
            }),
        }
    }
}

/// The thin form of a stored customer-event payload that still carries a
/// whole customer, as versions before thin events wrote it (`None` when it
/// is thin already). Erasure rewrites such payloads, which hold personal
/// data.
pub fn thin_payload(payload: &Value) -> Option<Value> {
    let version = payload.get("customer")?.get("version")?.as_i64()?;
    Some(json!({ "version": version }))
}

impl OutboxEvent {
    /// The event's type, when it is one this version knows.
    pub fn kind(&self) -> Option<EventType> {
        EventType::parse(&self.event_type)
    }

    /// The version of the customer a `new_customer` or `customer_update`
    /// event announces (read the customer by id for the record itself).
    /// Events written by earlier versions carried the whole customer; its
    /// version is read from there.
    pub fn customer_version(&self) -> Option<i64> {
        match self.kind()? {
            EventType::NewCustomer | EventType::CustomerUpdate => self
                .payload
                .get("version")
                .or_else(|| self.payload.get("customer")?.get("version"))
                .and_then(Value::as_i64),
            EventType::LoyaltyPoints => None,
        }
    }

    /// The wire form of the event: the payload's fields plus `type` and
    /// `event_id`, e.g. `{"type": "loyalty_points", "event_id": 42,
    /// "customer_id": 7, "points": 120, "delta": 15, ...}` or
    /// `{"type": "new_customer", "event_id": 43, "customer_id": 8, "version": 1}`.
    pub fn to_wire(&self) -> Value {
        let mut out = Map::new();
        out.insert("type".into(), Value::String(self.event_type.clone()));
        out.insert("event_id".into(), Value::from(self.id));
        let customer_event = matches!(
            self.kind(),
            Some(EventType::NewCustomer | EventType::CustomerUpdate)
        );
        if customer_event {
            // Thin on the wire too, whatever an older version stored.
            out.insert("customer_id".into(), Value::from(self.customer_id.0));
            if let Some(version) = self.customer_version() {
                out.insert("version".into(), Value::from(version));
            }
        } else if let Value::Object(payload) = &self.payload {
            for (k, v) in payload {
                out.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        Value::Object(out)
    }

    /// [`to_wire`](Self::to_wire) as JSON text (what a WebSocket sends).
    pub fn to_wire_json(&self) -> String {
        self.to_wire().to_string()
    }
}

/// Input of [`Events::list`]: a page of the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventQuery {
    /// Events with an id greater than this (0: from the start).
    pub after: i64,
    /// At most this many (1 to [`MAX_EVENT_BATCH`], default 100).
    pub limit: u32,
}

impl Default for EventQuery {
    fn default() -> Self {
        Self {
            after: 0,
            limit: 100,
        }
    }
}

/// Where an [`EventFollower`] starts, and how long it waits for a hole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowOptions {
    /// Start after this event id; `None` starts after the newest event
    /// (only new events).
    pub after: Option<i64>,
    /// How long a missing id is waited for before it is taken as rolled
    /// back (default 2 seconds).
    pub gap_grace: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        Self {
            after: None,
            gap_grace: Duration::from_secs(2),
        }
    }
}

/// Reads the outbox in id order without ever skipping an event that may
/// still commit ([`Events::follow`]). Memory is one batch.
#[derive(Debug)]
pub struct EventFollower {
    events: Events,
    position: i64,
    gap: Option<(i64, Instant)>,
    grace: Duration,
    skipped: u64,
}

impl EventFollower {
    /// The id of the last event returned (or passed over as a hole).
    pub fn position(&self) -> i64 {
        self.position
    }

    /// Whether the follower is waiting for a missing id (poll again soon).
    pub fn waiting_on_gap(&self) -> bool {
        self.gap.is_some()
    }

    /// Ids given up on as rolled back, so far.
    pub fn skipped_ids(&self) -> u64 {
        self.skipped
    }

    /// Jumps to the newest event without reading what lies between (a
    /// publisher with nobody listening); returns the new position.
    pub async fn skip_to_latest(&mut self) -> Result<i64> {
        let last = self.events.last_id().await?;
        if last > self.position {
            self.position = last;
        }
        self.gap = None;
        Ok(self.position)
    }

    /// The next events in id order, up to `max` (capped at
    /// [`MAX_EVENT_BATCH`]); empty when there is nothing new, or while the
    /// next id is missing and younger than the grace period.
    pub async fn next_batch(&mut self, max: u32) -> Result<Vec<OutboxEvent>> {
        let batch = self
            .events
            .list(EventQuery {
                after: self.position,
                limit: max,
            })
            .await?;
        Ok(self.accept(batch, Instant::now()))
    }

    /// Takes the events of a page that follow the position without a hole;
    /// a hole older than the grace period is passed over.
    fn accept(&mut self, batch: Vec<OutboxEvent>, now: Instant) -> Vec<OutboxEvent> {
        let mut out = Vec::with_capacity(batch.len());
        for event in batch {
            let expected = self.position + 1;
            if event.id < expected {
                continue;
            }
            if event.id != expected {
                match self.gap {
                    Some((missing, since))
                        if missing == expected
                            && now.saturating_duration_since(since) >= self.grace =>
                    {
                        self.skipped += u64::try_from(event.id - expected).unwrap_or(0);
                    }
                    Some((missing, _)) if missing == expected => break,
                    _ => {
                        self.gap = Some((expected, now));
                        break;
                    }
                }
            }
            self.gap = None;
            self.position = event.id;
            out.push(event);
        }
        out
    }

    /// The events as an endless stream, in order: reads a batch, and when
    /// there is nothing new waits `poll` (20 ms while a hole is pending)
    /// before reading again.
    pub fn into_stream(self, poll: Duration) -> impl Stream<Item = Result<OutboxEvent>> + Send {
        futures::stream::try_unfold(
            (self, std::collections::VecDeque::new()),
            move |(mut follower, mut buffer)| async move {
                while buffer.is_empty() {
                    buffer.extend(follower.next_batch(500).await?);
                    if buffer.is_empty() {
                        let wait = if follower.waiting_on_gap() {
                            poll.min(Duration::from_millis(20))
                        } else {
                            poll
                        };
                        tokio::time::sleep(wait).await;
                    }
                }
                Ok(buffer.pop_front().map(|event| (event, (follower, buffer))))
            },
        )
    }
}

/// The setting that records how far retention pruned the outbox.
const PRUNED_THROUGH: &str = "outbox_pruned_through";

/// What [`Events::prune`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Events deleted by this call.
    pub deleted: u64,
    /// The highest id ever deleted by retention.
    pub through: i64,
}

/// Whether a reader can resume after an event id ([`Events::resume`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Resume {
    /// Every event after the id is still in the outbox.
    Continue,
    /// Events after the id were deleted by retention: reload, then follow
    /// from the newest event.
    Resync {
        /// The highest deleted id.
        pruned_through: i64,
    },
}

impl Events {
    /// Outbox events after `query.after`, oldest first, at most
    /// `query.limit` (clamped to 1..=[`MAX_EVENT_BATCH`]). On MySQL a page
    /// may lack ids that commit later; [`follow`](Self::follow) handles that.
    pub async fn list(&self, query: EventQuery) -> Result<Vec<OutboxEvent>> {
        self.inner
            .store
            .events_after(query.after, query.limit.clamp(1, MAX_EVENT_BATCH))
            .await
    }

    /// The id of the newest outbox event (0 when there is none): where a
    /// publisher that only wants new events starts.
    pub async fn last_id(&self) -> Result<i64> {
        self.inner.store.last_event_id().await
    }

    /// Deletes the outbox events older than `retention` (by the CRM's
    /// clock) and records how far the outbox was pruned, so that a client
    /// resuming from an older id is told to resynchronise
    /// ([`resume`](Self::resume)).
    pub async fn prune(&self, retention: Duration) -> Result<Pruned> {
        let retention = chrono::Duration::from_std(retention)
            .map_err(|_| Error::invalid("retention", "range", "retention is too long"))?;
        let before = self.inner.clock.now() - retention;
        let (deleted, through) = self.inner.store.prune_events(before).await?;
        if through > 0 {
            let known = self.pruned_through().await?;
            if through > known {
                self.inner
                    .store
                    .put_setting(PRUNED_THROUGH.into(), through.to_string())
                    .await?;
            }
        }
        Ok(Pruned {
            deleted,
            through: self.pruned_through().await?,
        })
    }

    /// The highest event id deleted by retention (0 when none was).
    pub async fn pruned_through(&self) -> Result<i64> {
        Ok(self
            .inner
            .store
            .setting(PRUNED_THROUGH.into())
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Whether a reader can resume after the event `after`: not when events
    /// it has not seen were deleted by retention (it must reload its state
    /// and start from [`last_id`](Self::last_id)).
    pub async fn resume(&self, after: i64) -> Result<Resume> {
        let pruned = self.pruned_through().await?;
        Ok(if after < pruned {
            Resume::Resync {
                pruned_through: pruned,
            }
        } else {
            Resume::Continue
        })
    }

    /// A follower of the outbox, in order, from `options.after` (or from
    /// the newest event).
    pub async fn follow(&self, options: FollowOptions) -> Result<EventFollower> {
        let position = match options.after {
            Some(id) => id.max(0),
            None => self.last_id().await?,
        };
        Ok(EventFollower {
            events: self.clone(),
            position,
            gap: None,
            grace: options.gap_grace,
            skipped: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    fn event(id: i64) -> OutboxEvent {
        OutboxEvent {
            id,
            event_type: EventType::CustomerUpdate.as_str().into(),
            customer_id: CustomerId(1),
            payload: json!({}),
            created_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    fn ids(events: &[OutboxEvent]) -> Vec<i64> {
        events.iter().map(|e| e.id).collect()
    }

    #[tokio::test]
    async fn follower_waits_for_a_hole_then_moves_on_after_the_grace() {
        let crm = crate::Crm::new(MemoryStore::new());
        let grace = Duration::from_secs(2);
        let mut f = crm
            .events()
            .follow(FollowOptions {
                after: Some(10),
                gap_grace: grace,
            })
            .await
            .expect("follower");
        let t0 = Instant::now();
        // 11 and 12 are visible, 13 is not yet (a MySQL transaction still
        // open), 14 is: stop before the hole.
        let got = f.accept(vec![event(11), event(12), event(14)], t0);
        assert_eq!(ids(&got), [11, 12]);
        assert!(f.waiting_on_gap());
        // Still inside the grace: 14 stays held back.
        assert!(f.accept(vec![event(14)], t0 + grace / 2).is_empty());
        assert_eq!(f.position(), 12);
        // 13 commits: everything flows, in order.
        let got = f.accept(vec![event(13), event(14)], t0 + grace / 2);
        assert_eq!(ids(&got), [13, 14]);
        assert!(!f.waiting_on_gap());
        // 15 never commits (rolled back): after the grace, 16 goes out.
        assert!(f.accept(vec![event(16)], t0 + grace).is_empty());
        assert!(f.accept(vec![event(16)], t0 + grace + grace / 2).is_empty());
        let got = f.accept(vec![event(16), event(17)], t0 + grace * 2);
        assert_eq!(ids(&got), [16, 17]);
        assert_eq!((f.position(), f.skipped_ids()), (17, 1));
        // Events at or before the position are never delivered twice.
        assert!(f.accept(vec![event(17)], t0 + grace * 3).is_empty());
    }

    #[tokio::test]
    async fn follower_stream_delivers_in_order_from_the_start() {
        use futures::StreamExt;
        let crm = crate::Crm::new(MemoryStore::new());
        let mut created = Vec::new();
        for name in ["Ani", "Budi", "Citra"] {
            let c = crm
                .customers()
                .create(crate::NewCustomer {
                    name: name.into(),
                    ..Default::default()
                })
                .await
                .expect("created");
            created.push((c.id, c.version));
        }
        let follower = crm
            .events()
            .follow(FollowOptions {
                after: Some(0),
                ..Default::default()
            })
            .await
            .expect("follower");
        let got: Vec<_> = follower
            .into_stream(Duration::from_millis(5))
            .take(3)
            .collect()
            .await;
        let seen: Vec<_> = got
            .iter()
            .map(|e| {
                let e = e.as_ref().expect("event");
                (e.customer_id, e.customer_version().unwrap_or_default())
            })
            .collect();
        assert_eq!(seen, created);
        assert_eq!(crm.events().last_id().await.expect("last"), 3);
    }

    #[test]
    fn wire_form_puts_type_and_id_first_and_keeps_the_payload() {
        let event = OutboxEvent {
            id: 9,
            event_type: EventType::LoyaltyPoints.as_str().into(),
            customer_id: CustomerId(3),
            payload: EventPayload::LoyaltyPoints {
                customer_id: CustomerId(3),
                balance: 120,
                delta: 15,
                entry_id: 4,
                entry_type: EntryType::Earn,
            }
            .to_json(),
            created_at: chrono::DateTime::UNIX_EPOCH,
        };
        let wire = event.to_wire();
        assert_eq!(wire["type"], "loyalty_points");
        assert_eq!(wire["event_id"], 9);
        assert_eq!(wire["points"], 120);
        assert_eq!(wire["delta"], 15);
        assert_eq!(wire["entry_type"], "EARN");
        assert_eq!(event.kind(), Some(EventType::LoyaltyPoints));
        assert_eq!(event.customer_version(), None);
    }

    #[test]
    fn customer_events_are_thin_on_the_wire_even_when_stored_whole() {
        let thin = OutboxEvent {
            id: 10,
            event_type: EventType::CustomerUpdate.as_str().into(),
            customer_id: CustomerId(3),
            payload: json!({"version": 4}),
            created_at: chrono::DateTime::UNIX_EPOCH,
        };
        let expected = json!({"type": "customer_update", "event_id": 10,
            "customer_id": 3, "version": 4});
        assert_eq!(thin.to_wire(), expected);
        // As an earlier version stored it: the whole customer.
        let whole = OutboxEvent {
            payload: json!({"customer": {"id": 3, "name": "Ani", "email": "ani@example.com",
                "version": 4}}),
            ..thin.clone()
        };
        assert_eq!(whole.customer_version(), Some(4));
        assert_eq!(whole.to_wire(), expected);
        // What erasure writes over such a payload.
        assert_eq!(thin_payload(&whole.payload), Some(thin.payload.clone()));
        assert_eq!(thin_payload(&thin.payload), None);
    }
}
