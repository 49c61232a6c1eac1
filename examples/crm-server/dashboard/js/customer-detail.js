// One customer: profile, loyalty (balance, tier, lots, points operations by
// role), analytics, purchases with refunds, communications, and one
// timeline of all of it. Points change live from `loyalty_points` events.

import { api } from './api.js';
import { can, startPage } from './auth.js';
import { openCustomerForm } from './customer-form.js';
import { byId, el, facts, fill, param, showError, table } from './dom.js';
import { clearFieldErrors, showFieldErrors } from './forms.js';
import { channel, count, date, dateTime, label, percent, probability, rupiah } from './format.js';
import { startRealtime } from './realtime.js';

const user = startPage();
const id = Number(param('id'));
const role = user?.user.role;
const record = { purchases: [], entries: [], communications: [] };
/** Rows shown before "Show all" in the long lists. */
const SHOWN = 20;

if (user) {
  if (!Number.isInteger(id) || id < 1) {
    showError(byId('detail-error'), new Error('No customer chosen: open a customer from the customer list.'));
  } else {
    start();
  }
}

function start() {
  loadAll();
  pointsForm();
  startRealtime({
    loyalty_points: (e) => {
      if (e.customer_id !== id) return;
      byId('points-balance').textContent = count(e.points);
      refreshLoyalty();
      // Points from a receipt or a refund: the purchases changed too.
      if (!['REDEEM', 'ADJUST'].includes(String(e.entry_type).toUpperCase())) api.getPurchases(id).then((p) => showPurchases(byId('purchases'), p), () => {});
    },
    // The event names the customer and its version: read it again.
    customer_update: (e) => e.customer_id === id && api.getCustomer(id).then(showProfile, () => {}),
    // Events were missed: read everything again.
    resync: loadAll,
  });
}

function loadAll() {
  api.getCustomer(id).then(showProfile, (err) => {
    fill(byId('profile'));
    showError(byId('detail-error'), err);
  });
  refreshLoyalty();
  section('purchases', api.getPurchases(id), showPurchases);
  section('communications', api.getCommunications(id), showCommunications);
  if (can.seeAnalytics(role)) {
    byId('analytics-card').hidden = false;
    section('analytics', api.getCustomerAnalytics(id), showAnalytics);
  }
}

/** Fills one section from a request, or shows why it could not. */
function section(name, request, show) {
  const box = byId(name);
  fill(box, el('p', { class: 'muted' }, 'Loading…'));
  request.then(
    (data) => show(box, data),
    (err) => showError(box, err),
  );
}

function showProfile(c) {
  document.title = `${c.name} · CRM`;
  byId('customer-name').textContent = c.name;
  const a = c.address || {};
  const address = [a.line1, a.line2, a.city, a.province, a.postal_code, a.country].filter(Boolean).join(', ');
  const box = byId('profile');
  box.removeAttribute('aria-busy');
  fill(
    box,
    facts([
      ['Code', c.customer_code],
      ['Status', c.is_active ? 'Active' : 'Deactivated'],
      ['Type', label(c.customer_type)],
      ['Email', c.email || '-'],
      ['Phone', c.phone || '-'],
      ['Credit limit', rupiah(c.credit_limit)],
      ['Birthday', date(c.birthday)],
      ['Tags', (c.tags || []).join(', ') || '-'],
      ['Address', address || '-'],
      ['Customer since', date(c.created_at)],
      ...(c.merged_into ? [['Merged into', el('a', { href: `customer-detail.html?id=${c.merged_into}` }, `#${c.merged_into}`)]] : []),
    ]),
  );
  if (can.writeCustomers(role)) profileActions(c);
}

function profileActions(c) {
  const message = byId('profile-message');
  const edit = el('button', { type: 'button', class: 'secondary' }, 'Edit');
  edit.addEventListener('click', () => openCustomerForm({ customer: c, onSaved: (saved) => { showProfile(saved); message.textContent = 'Saved.'; } }));
  const toggle = el('button', { type: 'button', class: c.is_active ? 'danger' : 'secondary' }, c.is_active ? 'Deactivate' : 'Reactivate');
  toggle.addEventListener('click', async () => {
    if (c.is_active && !confirm(`Deactivate ${c.name}? The history is kept and the customer can be reactivated.`)) return;
    try {
      showProfile(c.is_active ? await api.deactivateCustomer(c.id) : await api.reactivateCustomer(c.id));
      message.textContent = 'Done.';
    } catch (err) {
      message.textContent = err.message;
    }
  });
  fill(byId('profile-actions'), edit, toggle);
}

async function refreshLoyalty() {
  try {
    const s = await api.getLoyalty(id);
    byId('points-balance').textContent = count(s.balance);
    fill(
      byId('loyalty-facts'),
      facts([
        ['Available to redeem', count(s.available)],
        ['Tier', s.tier || 'None'],
        ['Earned in the tier window', count(s.points_earned_in_window)],
        ['Earned in all', count(s.lifetime_earned)],
        ...(s.debt ? [['Owed after refunds', count(s.debt)]] : []),
      ]),
    );
    fill(
      byId('lots'),
      table(
        [
          { label: 'Earned', value: (l) => date(l.earned_at) },
          { label: 'Points', value: (l) => count(l.points), numeric: true },
          { label: 'Remaining', value: (l) => count(l.remaining), numeric: true },
          { label: 'Expires', value: (l) => (l.expires_at ? date(l.expires_at) : 'Never') },
        ],
        s.lots || [],
        { caption: 'Open lots, soonest to expire first', empty: 'No open points.' },
      ),
    );
    record.entries = s.recent_entries || [];
    timeline();
  } catch (err) {
    showError(byId('lots'), err);
  }
}

function pointsForm() {
  if (!can.earnAndRedeem(role)) return;
  const form = byId('points-form');
  const message = byId('points-message');
  form.hidden = false;
  byId('adjust-button').hidden = !can.adjustPoints(role);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const operation = e.submitter?.value || 'earn';
    const raw = form.elements.points.value.trim();
    clearFieldErrors(form, message);
    const points = Number(raw);
    if (raw === '' || !Number.isInteger(points)) {
      showFieldErrors(form, { fields: [{ field: 'points', message: 'Enter a whole number of points.' }] }, message);
      return;
    }
    for (const b of form.querySelectorAll('button')) b.disabled = true;
    try {
      const r = await api.applyPoints(id, operation, points);
      const balance = r.balance ?? r.entry?.balance_after;
      message.replaceChildren(el('p', { class: 'success' }, `${label(operation)}: ${count(points)} points.${balance !== undefined ? ` Balance ${count(balance)}.` : ''}`));
      form.reset();
      refreshLoyalty();
    } catch (err) {
      showFieldErrors(form, err, message);
    } finally {
      for (const b of form.querySelectorAll('button')) b.disabled = false;
    }
  });
}

function showAnalytics(box, a) {
  fill(
    box,
    facts([
      ['Segment', label(a.segment)],
      ['RFM scores', a.rfm ? `R${a.rfm.recency} F${a.rfm.frequency} M${a.rfm.monetary}` : '-'],
      ['P(alive)', probability(a.p_alive)],
      ['Churn risk', el('span', { class: `badge ${a.risk_level}` }, label(a.risk_level))],
      ['Churn probability', percent(a.churn_probability)],
      ['Lifetime value (yearly)', rupiah(a.lifetime_value)],
      ['Model lifetime value', rupiah(a.model_lifetime_value)],
      ['Expected purchases, 90 days', a.expected_purchases_90d === null || a.expected_purchases_90d === undefined ? '-' : Number(a.expected_purchases_90d).toFixed(1)],
      ['Recommended action', a.recommended_action || '-'],
      ['Churn method', a.churn_method === 'recency_fallback' ? 'Recency fallback (model not fitted)' : 'BG/NBD model'],
    ]),
  );
}

/** The first rows of a long list, with a button that shows them all. */
function capped(box, rows, render) {
  const draw = (n) =>
    fill(
      box,
      render(rows.slice(0, n)),
      rows.length > n ? el('button', { type: 'button', class: 'secondary', onclick: () => draw(rows.length) }, `Show all ${count(rows.length)}`) : null,
    );
  draw(SHOWN);
}

function showPurchases(box, purchases) {
  record.purchases = purchases || [];
  capped(box, record.purchases, (rows) =>
    table(
      [
        { label: 'Date', value: (p) => dateTime(p.purchase_date) },
        { label: 'Store', value: (p) => p.store_id },
        { label: 'Receipt', value: (p) => p.receipt_id },
        { label: 'Total', value: (p) => rupiah(p.total_amount), numeric: true },
        { label: 'Refunded', value: refunds, numeric: true },
        { label: 'Net', value: (p) => rupiah(Number(p.total_amount) - Number(p.refunded_amount || 0)), numeric: true },
        ...(record.purchases.some((p) => p.points_earned !== undefined)
          ? [{ label: 'Points', value: (p) => (p.points_earned === null || p.points_earned === undefined ? '-' : count(p.points_earned)), numeric: true }]
          : []),
      ],
      rows,
      { caption: 'Purchases, newest first', empty: 'No purchases yet.' },
    ),
  );
  timeline();
}

/** The refunded amount, with each refund listed when the answer has them. */
function refunds(p) {
  const total = Number(p.refunded_amount || 0) ? rupiah(p.refunded_amount) : '-';
  if (!Array.isArray(p.refunds) || p.refunds.length === 0) return total;
  return el('div', {}, total, el('ul', { class: 'muted' }, p.refunds.map((r) => el('li', {}, `${rupiah(r.amount)} on ${date(r.created_at)}`))));
}

function showCommunications(box, list) {
  record.communications = list || [];
  fill(
    box,
    table(
      [
        { label: 'Sent', value: (c) => dateTime(c.sent_date) },
        { label: 'Channel', value: (c) => channel(c.channel) },
        { label: 'Status', value: (c) => label(c.status) },
        { label: 'Subject', value: (c) => c.subject || '-' },
        { label: 'Reason', value: (c) => c.reason || '-' },
      ],
      record.communications,
      { caption: 'Messages, newest first', empty: 'No messages sent.' },
    ),
  );
  timeline();
}

/** Purchases, ledger entries and messages merged by time, newest first. */
function timeline() {
  const items = [
    ...record.purchases.map((p) => ({
      at: p.purchase_date,
      kind: 'Purchase',
      text: `${rupiah(p.total_amount)} at ${p.store_id}, receipt ${p.receipt_id}${Number(p.refunded_amount || 0) ? `, ${rupiah(p.refunded_amount)} refunded` : ''}`,
    })),
    ...record.entries.map((e) => ({
      at: e.occurred_at,
      kind: `Points: ${label(e.entry_type)}`,
      text: `${e.points > 0 ? '+' : ''}${count(e.points)} points, balance ${count(e.balance_after)} (${e.reference_type} ${e.reference_id})`,
    })),
    ...record.communications.map((c) => ({
      at: c.sent_date,
      kind: `${channel(c.channel)} ${label(c.status).toLowerCase()}`,
      text: c.subject || c.reason || '',
    })),
  ].sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  if (items.length === 0) return fill(byId('timeline'), el('p', { class: 'muted' }, 'Nothing yet.'));
  capped(byId('timeline'), items, (shown) =>
    el('ol', { class: 'feed', tabindex: '0', 'aria-label': 'Timeline, newest first' }, shown.map((i) => el('li', {}, el('time', { datetime: i.at }, dateTime(i.at)), el('strong', {}, i.kind), ' ', i.text))),
  );
}
