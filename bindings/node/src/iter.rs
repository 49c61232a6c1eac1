//! Async iterators over crm-core's pull cursors: live events
//! ([`EventSubscription`], over the core's event follower) and everyone's
//! scores ([`ScoreBatches`], over the core's score cursor). Each `next()`
//! runs on the runtime's workers; leaving a `for await` loop calls
//! `return()`, which drops the cursor.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crm_core::events::{EventFollower, FollowOptions};
use napi::bindgen_prelude::AsyncGenerator;
use napi_derive::napi;
use tokio::sync::Mutex;

use crate::convert::{id, out_all};
use crate::error::plain;
use crate::{Closed, types};

/// Events fetched from the outbox per round trip.
const EVENT_BATCH: u32 = 256;

struct Subscription {
    events: crm_core::Events,
    closed: Closed,
    options: FollowOptions,
    poll: Duration,
    follower: Option<EventFollower>,
    pending: VecDeque<types::OutboxEvent>,
    done: bool,
}

impl Subscription {
    async fn next(&mut self, stop: &AtomicBool) -> crm_core::Result<Option<types::OutboxEvent>> {
        loop {
            if self.done || stop.load(Ordering::Acquire) {
                self.done = true;
                self.follower = None;
                return Ok(None);
            }
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            self.closed.check()?;
            let follower = match &mut self.follower {
                Some(f) => f,
                None => self
                    .follower
                    .insert(self.events.follow(self.options).await?),
            };
            let batch = follower.next_batch(EVENT_BATCH).await?;
            if batch.is_empty() {
                tokio::time::sleep(self.poll).await;
            } else {
                self.pending
                    .extend(out_all::<_, types::OutboxEvent>(batch)?);
            }
        }
    }
}

/// Live outbox events, in order: `for await (const event of
/// crm.events.subscribe({ after }))`. Never skips an event that may still
/// commit, never yields one twice; `break` ends it.
#[napi(async_iterator)]
pub struct EventSubscription {
    state: Arc<Mutex<Subscription>>,
    /// Set by `return()`: a `next()` waiting for events sees it at its
    /// next poll and ends, so leaving the loop never waits on the lock.
    stop: Arc<AtomicBool>,
}

impl EventSubscription {
    pub(crate) fn new(
        events: crm_core::Events,
        closed: Closed,
        options: Option<types::SubscribeOptions>,
    ) -> napi::Result<Self> {
        let defaults = FollowOptions::default();
        let (after, gap_grace, poll) = match options {
            Some(o) => (o.after, o.gap_grace_ms, o.poll_ms),
            None => (None, None, None),
        };
        let after = match after {
            // 0 is "from the first event".
            Some(0.0) => Some(0),
            Some(a) => Some(id("after", a).map_err(|e| plain(&e))?),
            None => None,
        };
        let gap_grace = gap_grace.map_or(defaults.gap_grace, |ms| Duration::from_millis(ms.into()));
        let poll = Duration::from_millis(poll.unwrap_or(200).max(1).into());
        Ok(Self {
            state: Arc::new(Mutex::new(Subscription {
                events,
                closed,
                options: FollowOptions { after, gap_grace },
                poll,
                follower: None,
                pending: VecDeque::new(),
                done: false,
            })),
            stop: Arc::new(AtomicBool::new(false)),
        })
    }
}

#[napi]
impl AsyncGenerator for EventSubscription {
    type Yield = types::OutboxEvent;
    type Next = ();
    type Return = ();

    fn next(
        &mut self,
        _value: Option<Self::Next>,
    ) -> impl Future<Output = napi::Result<Option<Self::Yield>>> + Send + 'static {
        let state = self.state.clone();
        let stop = self.stop.clone();
        async move { state.lock().await.next(&stop).await.map_err(|e| plain(&e)) }
    }

    fn complete(
        &mut self,
        _value: Option<Self::Return>,
    ) -> impl Future<Output = napi::Result<Option<Self::Yield>>> + Send + 'static {
        self.stop.store(true, Ordering::Release);
        let state = self.state.clone();
        async move {
            let mut s = state.lock().await;
            s.done = true;
            s.follower = None;
            s.pending.clear();
            Ok(None)
        }
    }
}

struct Scores {
    analytics: crm_core::Analytics,
    closed: Closed,
    cursor: Option<crm_core::analytics::ScoreCursor>,
    batch_size: usize,
    done: bool,
}

impl Scores {
    async fn next(&mut self) -> crm_core::Result<Option<Vec<types::CustomerScore>>> {
        if self.done {
            return Ok(None);
        }
        self.closed.check()?;
        let cursor = match &mut self.cursor {
            Some(c) => c,
            None => self.cursor.insert(self.analytics.score_all().await?),
        };
        let batch = cursor.next_batch(self.batch_size).await?;
        if batch.is_empty() {
            self.done = true;
            self.cursor = None;
            return Ok(None);
        }
        out_all(batch).map(Some)
    }
}

/// Every customer's scores, an array of at most `batchSize` per step, with
/// bounded memory: `for await (const batch of crm.analytics.scoreBatches())`.
/// The models are fitted (or the kept fit used) on the first step.
#[napi(async_iterator)]
pub struct ScoreBatches {
    state: Arc<Mutex<Scores>>,
}

impl ScoreBatches {
    pub(crate) fn new(analytics: crm_core::Analytics, closed: Closed, batch_size: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(Scores {
                analytics,
                closed,
                cursor: None,
                batch_size,
                done: false,
            })),
        }
    }
}

#[napi]
impl AsyncGenerator for ScoreBatches {
    type Yield = Vec<types::CustomerScore>;
    type Next = ();
    type Return = ();

    fn next(
        &mut self,
        _value: Option<Self::Next>,
    ) -> impl Future<Output = napi::Result<Option<Self::Yield>>> + Send + 'static {
        let state = self.state.clone();
        async move { state.lock().await.next().await.map_err(|e| plain(&e)) }
    }

    fn complete(
        &mut self,
        _value: Option<Self::Return>,
    ) -> impl Future<Output = napi::Result<Option<Self::Yield>>> + Send + 'static {
        let state = self.state.clone();
        async move {
            let mut s = state.lock().await;
            s.done = true;
            s.cursor = None;
            Ok(None)
        }
    }
}
