// The guide's CRMRealtime: events from `/crm-updates` over a WebSocket.
//
// Browsers cannot send an Authorization header with a WebSocket, so each
// connection first takes a one-time ticket (`POST /api/realtime/ticket`).
// After a drop it reconnects with a growing delay and `last_event_id`, so
// the server replays what was missed. Close codes 4001 (token expired) and
// 4003 (token revoked) end the session instead.

import { api as defaultApi } from './api.js';
import { toLogin } from './auth.js';

const TOKEN_EXPIRED = 4001;
const TOKEN_REVOKED = 4003;
const FIRST_DELAY_MS = 1000;
const LONGEST_DELAY_MS = 30000;

export class CRMRealtime {
  /**
   * `onStatus(state)` is told `connecting`, `live` or `offline` (for a
   * visible indicator).
   */
  constructor({ api = defaultApi, onStatus = () => {} } = {}) {
    this.api = api;
    this.onStatus = onStatus;
    this.handlers = new Map();
    this.lastEventId = null;
    this.delay = FIRST_DELAY_MS;
    this.ws = null;
    this.stopped = false;
    this.timer = null;
  }

  /** Calls `handler(event)` for each event of `type` (`*`: every event). */
  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(handler);
    return this;
  }

  start() {
    this.stopped = false;
    this.connect();
    window.addEventListener('pagehide', () => this.stop(), { once: true });
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.close(1000, 'page closed');
  }

  async connect() {
    this.onStatus('connecting');
    let ticket;
    try {
      ticket = (await this.api.realtimeTicket()).ticket;
    } catch (err) {
      // A 401 is already on its way to the sign-in page.
      if (err.status !== 401 && err.status !== 403) this.retry();
      else this.onStatus('offline');
      return;
    }
    if (this.stopped) return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = new URLSearchParams({ ticket });
    if (this.lastEventId !== null) q.set('last_event_id', String(this.lastEventId));
    const ws = new WebSocket(`${scheme}//${location.host}/crm-updates?${q}`);
    this.ws = ws;
    ws.onopen = () => {
      this.delay = FIRST_DELAY_MS;
      this.onStatus('live');
    };
    ws.onmessage = (message) => this.receive(message.data);
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (e.code === TOKEN_EXPIRED || e.code === TOKEN_REVOKED) {
        this.stopped = true;
        toLogin('expired');
        return;
      }
      this.retry();
    };
  }

  retry() {
    this.onStatus('offline');
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, LONGEST_DELAY_MS);
  }

  receive(text) {
    let event;
    try {
      event = JSON.parse(text);
    } catch {
      return;
    }
    if (Number.isInteger(event.event_id) && (this.lastEventId === null || event.event_id > this.lastEventId)) {
      this.lastEventId = event.event_id;
    }
    for (const handler of [...(this.handlers.get(event.type) || []), ...(this.handlers.get('*') || [])]) {
      try {
        handler(event);
      } catch (err) {
        console.warn('real-time handler failed', err);
      }
    }
  }
}

/**
 * Starts the events for a page, with a small live/offline indicator in the
 * element `#live-status` when the page has one.
 */
export function startRealtime(handlers) {
  const indicator = document.getElementById('live-status');
  const words = { connecting: 'Connecting to live updates…', live: 'Live updates on', offline: 'Live updates offline, reconnecting…' };
  const rt = new CRMRealtime({
    onStatus: (state) => {
      if (!indicator) return;
      indicator.textContent = words[state];
      indicator.dataset.state = state;
    },
  });
  for (const [type, handler] of Object.entries(handlers)) rt.on(type, handler);
  return rt.start();
}
