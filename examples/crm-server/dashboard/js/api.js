// The guide's CRMApi: every call of the dashboard goes through `request`,
// which adds the bearer token, unwraps the `{"success": true, "data": ...}`
// envelope and turns `{"success": false, "error": {...}}` into an ApiError.

import { session, toLogin } from './auth.js';

/** An error answer: `code` (`validation`, `forbidden`, ...), `message`, `fields`. */
export class ApiError extends Error {
  constructor(status, error = {}) {
    super(error.message || `The server answered ${status}.`);
    this.name = 'ApiError';
    this.status = status;
    this.code = error.code || (status === 0 ? 'network' : `http_${status}`);
    this.fields = Array.isArray(error.fields) ? error.fields : [];
  }
}

function queryString(query) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== null && v !== undefined && v !== '') params.set(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

/**
 * A fresh idempotency reference per submit. `crypto.randomUUID` exists only
 * in secure contexts (https or localhost); elsewhere 16 random bytes do.
 */
function referenceId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class CRMApi {
  constructor(baseUrl = '') {
    this.baseUrl = baseUrl;
  }

  /**
   * One call. Resolves to `{data, meta}`; rejects with an ApiError. A 401 on
   * an authenticated call ends the session and goes to the sign-in page.
   */
  async request(method, path, { query, body, auth = true } = {}) {
    const headers = { Accept: 'application/json' };
    const token = auth ? session()?.token : null;
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(`${this.baseUrl}${path}${queryString(query)}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, { message: 'The server cannot be reached. Check the connection and retry.' });
    }
    const envelope = await res.json().catch(() => null);
    if (res.status === 401 && auth) {
      toLogin('expired');
    }
    if (!res.ok || !envelope || envelope.success === false) {
      throw new ApiError(res.status, envelope?.error);
    }
    return { data: envelope.data, meta: envelope.meta };
  }

  async get(path, query) {
    return (await this.request('GET', path, { query })).data;
  }

  async post(path, body) {
    return (await this.request('POST', path, { body: body ?? {} })).data;
  }

  async patch(path, body) {
    return (await this.request('PATCH', path, { body })).data;
  }

  async delete(path) {
    return (await this.request('DELETE', path)).data;
  }

  login(email, password) {
    return this.request('POST', '/api/auth/login', { body: { email, password }, auth: false }).then((r) => r.data);
  }

  /** A page of customers: `{data, meta: {page, limit, total, next_cursor}}`. */
  getCustomers(filters = {}) {
    return this.request('GET', '/api/customers', { query: filters });
  }

  getCustomer(id) {
    return this.get(`/api/customers/${id}`);
  }

  createCustomer(customer) {
    return this.post('/api/customers', customer);
  }

  updateCustomer(id, changes) {
    return this.patch(`/api/customers/${id}`, changes);
  }

  deactivateCustomer(id) {
    return this.delete(`/api/customers/${id}`);
  }

  reactivateCustomer(id) {
    return this.post(`/api/customers/${id}/reactivate`);
  }

  getLoyalty(id) {
    return this.get(`/api/customers/${id}/loyalty`);
  }

  /** `operation`: `earn`, `redeem` or `adjust`; each submit is a new reference. */
  applyPoints(id, operation, points) {
    return this.post(`/api/customers/${id}/loyalty/${operation}`, {
      points,
      reference_type: 'dashboard',
      reference_id: referenceId(),
    });
  }

  getPurchases(id) {
    return this.get(`/api/customers/${id}/purchases`);
  }

  getCustomerAnalytics(id) {
    return this.get(`/api/customers/${id}/analytics`);
  }

  getCommunications(id) {
    return this.get(`/api/customers/${id}/communications`);
  }

  getDashboard() {
    return this.get('/api/dashboard');
  }

  getReport() {
    return this.get('/api/analytics/report');
  }

  realtimeTicket() {
    return this.post('/api/realtime/ticket');
  }
}

export const api = new CRMApi();
