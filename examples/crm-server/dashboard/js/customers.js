// The customer list: one search box, filters, sorting, keyset pages (a
// stack of cursors for "Previous"), create, edit, deactivate, reactivate,
// and new customers prepended live when the current view would show them.

import { api } from './api.js';
import { can, startPage } from './auth.js';
import { openCustomerForm } from './customer-form.js';
import { byId, el, fill, param, showError, table, tableRow } from './dom.js';
import { count, date, label } from './format.js';
import { startRealtime } from './realtime.js';

const PAGE_SIZE = 20;
const FILTERS = ['q', 'type', 'status', 'tag', 'segment'];
const CELL = ['recency_score', 'frequency_score'];
const DEFAULT_ORDER = 'created_at:desc';

const user = startPage();
const form = byId('filters');
const state = { cursor: null, previous: [], loaded: 0, sequence: 0 };

if (user) {
  const writer = can.writeCustomers(user.user.role);
  readAddress();
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    firstPage();
  });
  form.addEventListener('reset', () => {
    for (const key of CELL) state[key] = null;
    setTimeout(firstPage);
  });
  let typing;
  form.elements.q.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(firstPage, 300);
  });
  for (const name of ['type', 'status', 'segment', 'order']) form.elements[name].addEventListener('change', firstPage);
  byId('next-page').addEventListener('click', () => move(1));
  byId('prev-page').addEventListener('click', () => move(-1));
  const create = byId('new-customer');
  create.hidden = !writer;
  create.addEventListener('click', () => openCustomerForm({ onSaved: (c) => { prepend(c); say(`Created ${c.name} (${c.customer_code}).`); } }));
  load();
  startRealtime({
    // Events name the customer and its version: it is read again only when
    // its row is on this page, or could be (a new one, newest first).
    new_customer: (e) => firstPageNewestFirst() && api.getCustomer(e.customer_id).then((c) => wouldShow(c) && prepend(c), () => {}),
    customer_update: (e) => document.getElementById(`customer-row-${e.customer_id}`) && api.getCustomer(e.customer_id).then(replace, () => {}),
    resync: () => load(),
  });
}

/** Filters from the address (drill-downs link here with them). */
function readAddress() {
  for (const key of FILTERS) {
    const v = param(key);
    if (v !== null) form.elements[key].value = v;
  }
  const order = `${param('sort') || 'created_at'}:${param('direction') || 'desc'}`;
  form.elements.order.value = [...form.elements.order.options].some((o) => o.value === order) ? order : DEFAULT_ORDER;
  for (const key of CELL) state[key] = param(key);
}

function filters() {
  const out = {};
  for (const key of FILTERS) out[key] = form.elements[key].value.trim();
  const [sort, direction] = form.elements.order.value.split(':');
  Object.assign(out, { sort, direction });
  for (const key of CELL) out[key] = state[key];
  return out;
}

/** Keeps the filters in the address, so a reload or a shared link shows the same. */
function writeAddress(f) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) q.set(k, v);
  if (f.sort === 'created_at' && f.direction === 'desc') {
    q.delete('sort');
    q.delete('direction');
  }
  if (f.status === 'active') q.delete('status');
  history.replaceState(null, '', q.toString() ? `?${q}` : location.pathname);
}

function firstPage() {
  state.cursor = null;
  state.previous = [];
  load();
}

function move(step) {
  if (step > 0 && state.next) {
    state.previous.push(state.cursor);
    state.cursor = state.next;
  } else if (step < 0 && state.previous.length) {
    state.cursor = state.previous.pop();
  } else {
    return;
  }
  load();
}

function rfmChip() {
  const box = byId('rfm-filter');
  if (!state.recency_score && !state.frequency_score) return fill(box);
  fill(
    box,
    el(
      'span',
      { class: 'chip' },
      `RFM cell: recency ${state.recency_score || 'any'}, frequency ${state.frequency_score || 'any'}`,
      el('button', { type: 'button', class: 'secondary', 'aria-label': 'Remove the RFM cell filter', onclick: () => {
        for (const key of CELL) state[key] = null;
        firstPage();
      } }, '×'),
    ),
  );
}

function say(text) {
  byId('list-status').textContent = text;
}

async function load() {
  const f = filters();
  writeAddress(f);
  rfmChip();
  const sequence = ++state.sequence;
  say('Loading…');
  try {
    const { data, meta } = await api.getCustomers({ ...f, limit: PAGE_SIZE, cursor: state.cursor });
    if (sequence !== state.sequence) return;
    state.next = meta?.next_cursor || null;
    state.loaded = data.length;
    render(data);
    const first = state.previous.length * PAGE_SIZE + 1;
    // A search is not counted by the server; on its last page the count is known.
    const total = meta?.total ?? (state.next ? undefined : first + data.length - 1);
    say(data.length ? `Customers ${count(first)} to ${count(first + data.length - 1)}${total !== undefined && total !== null ? ` of ${count(total)}` : ''}.` : 'No customer matches these filters.');
    byId('page-info').textContent = `Page ${state.previous.length + 1}`;
    byId('prev-page').disabled = state.previous.length === 0;
    byId('next-page').disabled = !state.next;
  } catch (err) {
    if (sequence !== state.sequence) return;
    say('');
    showError(byId('customer-table'), err);
  }
}

function columns() {
  const writer = can.writeCustomers(user.user.role);
  const cols = [
    { label: 'Code', value: (c) => c.customer_code },
    { label: 'Name', wrap: true, value: (c) => el('a', { href: `customer-detail.html?id=${c.id}` }, c.name) },
    { label: 'Type', value: (c) => label(c.customer_type) },
    { label: 'Email', wrap: true, value: (c) => c.email || '-' },
    { label: 'Phone', value: (c) => c.phone || '-' },
    { label: 'Tags', wrap: true, value: (c) => (c.tags || []).join(', ') || '-' },
    { label: 'Status', value: (c) => (c.is_active ? el('span', { class: 'badge' }, 'Active') : el('span', { class: 'badge inactive' }, 'Deactivated')) },
    { label: 'Created', value: (c) => date(c.created_at) },
  ];
  if (writer) cols.push({ label: 'Actions', value: actions });
  return cols;
}

const rowAttrs = (c) => ({ id: `customer-row-${c.id}`, 'data-id': c.id });

function render(customers) {
  fill(byId('customer-table'), table(columns(), customers, { caption: 'Customers', empty: 'No customer matches these filters.', rowAttrs }));
}

function actions(c) {
  const edit = el('button', { type: 'button', class: 'secondary', 'aria-label': `Edit ${c.name}` }, 'Edit');
  edit.addEventListener('click', () => openCustomerForm({ customer: c, onSaved: (saved) => { replace(saved); say(`Saved ${saved.name}.`); } }));
  const toggle = c.is_active
    ? el('button', { type: 'button', class: 'danger', 'aria-label': `Deactivate ${c.name}` }, 'Deactivate')
    : el('button', { type: 'button', class: 'secondary', 'aria-label': `Reactivate ${c.name}` }, 'Reactivate');
  toggle.addEventListener('click', async () => {
    if (c.is_active && !confirm(`Deactivate ${c.name}? The history is kept and the customer can be reactivated.`)) return;
    try {
      const saved = c.is_active ? await api.deactivateCustomer(c.id) : await api.reactivateCustomer(c.id);
      replace(saved);
      say(`${saved.name} is ${saved.is_active ? 'active again' : 'deactivated'}.`);
    } catch (err) {
      say(err.message);
    }
  });
  return el('div', { class: 'actions' }, edit, toggle);
}

function tbody() {
  return byId('customer-table').querySelector('tbody');
}

/** Replaces the row of `c` when it is on the page. */
function replace(c) {
  const row = document.getElementById(`customer-row-${c.id}`);
  if (row) row.replaceWith(tableRow(columns(), c, rowAttrs));
}

/** Puts `c` at the top of the page (once), marked as new. */
function prepend(c) {
  const body = tbody();
  if (!body || document.getElementById(`customer-row-${c.id}`)) return;
  body.querySelector('td.empty')?.parentElement.remove();
  const row = tableRow(columns(), c, rowAttrs);
  row.classList.add('fresh');
  body.prepend(row);
  while (body.rows.length > PAGE_SIZE) body.lastElementChild.remove();
}

/** Whether the first page, newest first, is shown (where new customers appear). */
function firstPageNewestFirst() {
  const f = filters();
  return !state.cursor && f.sort === 'created_at' && f.direction === 'desc';
}

/**
 * Whether a new customer belongs at the top of what is shown: the first
 * page, newest first, and filters that it plausibly matches (a new
 * customer has no purchases, so no segment or RFM cell yet).
 */
function wouldShow(c) {
  const f = filters();
  if (!firstPageNewestFirst()) return false;
  if (f.segment || f.recency_score || f.frequency_score) return false;
  if (f.status === 'inactive' || (f.type && f.type !== c.customer_type)) return false;
  if (f.tag && !(c.tags || []).includes(f.tag)) return false;
  if (f.q) {
    const q = f.q.toLowerCase();
    const digits = f.q.replace(/\D/g, '');
    const hit =
      c.name?.toLowerCase().startsWith(q) ||
      c.customer_code?.toLowerCase().startsWith(q) ||
      c.email?.toLowerCase() === q ||
      (digits.length > 3 && (c.phone || '').replace(/\D/g, '').endsWith(digits.slice(-8)));
    if (!hit) return false;
  }
  return true;
}
