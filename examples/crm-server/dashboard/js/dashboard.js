// The dashboard: KPIs and segment counts from one request (GET
// /api/dashboard, the figures of the last model fit), the first chart drawn
// as soon as it answers (marked `crm:first-chart`), and a live feed.

import { api } from './api.js';
import { startPage } from './auth.js';
import { bySegment, doughnut, salesOverTime, dataTable } from './charts.js';
import { byId, el, showError } from './dom.js';
import { asOf, count, dateTime, label, percent, rupiah } from './format.js';
import { startRealtime } from './realtime.js';

const FEED_LENGTH = 50;
const user = startPage();

if (user) {
  // Asked first: nothing else on this page waits for it, nor it for them.
  api.getDashboard().then(show, (err) => {
    byId('kpis').removeAttribute('aria-busy');
    showError(byId('dashboard-error'), err);
  });
  startRealtime({
    new_customer: newCustomer,
    customer_update: (e) => {
      const item = feed(e, 'Customer updated: ', customerLink({ id: e.customer_id }));
      named(item, e, (c) => [customerLink(c), c.is_active ? '' : ' (deactivated)']);
    },
    loyalty_points: (e) =>
      feed(e, customerLink({ id: e.customer_id }), `: ${e.delta > 0 ? '+' : ''}${count(e.delta)} points (${label(e.entry_type)}), balance ${count(e.points)}`),
    resync: () => api.getDashboard().then(show),
  });
}

function show(d) {
  byId('kpis').removeAttribute('aria-busy');
  drawSegments(d.segments || []);
  performance.mark('crm:first-chart');
  const k = d.kpis || {};
  byId('kpi-customers').textContent = count(k.customers);
  byId('kpi-active').textContent = count(k.active_customers);
  byId('kpi-points').textContent = count(k.points_outstanding);
  byId('kpi-revenue').textContent = rupiah(k.revenue_30d);
  byId('kpi-repeat').textContent = percent(k.repeat_rate, 1);
  byId('as-of').textContent = `${asOf(d)} Purchases in the last 30 days: ${count(k.purchases_30d)}.`;
  salesChart(d);
}

function drawSegments(rows) {
  const segments = bySegment(rows);
  const labels = segments.map((s) => label(s.segment));
  doughnut(byId('segment-chart'), labels, segments.map((s) => s.customers), segments.map((s) => s.segment));
  dataTable(byId('segment-data'), 'Segment data', [
    { label: 'Segment', value: (s) => label(s.segment) },
    { label: 'Customers', value: (s) => count(s.customers), numeric: true },
    { label: 'Lifetime value', value: (s) => rupiah(s.total_lifetime_value), numeric: true },
  ], segments);
}

function salesChart(d) {
  const daily = byId('sales-daily');
  const monthly = byId('sales-monthly');
  const render = (useMonths) => {
    const rows = (useMonths ? d.sales_by_month : d.sales_by_day) || [];
    daily.setAttribute('aria-pressed', String(!useMonths));
    monthly.setAttribute('aria-pressed', String(useMonths));
    salesOverTime(byId('sales-chart'), rows);
    dataTable(byId('sales-data'), 'Sales data', [
      { label: useMonths ? 'Month' : 'Day', value: (r) => r.period },
      { label: 'Purchases', value: (r) => count(r.purchases), numeric: true },
      { label: 'Revenue', value: (r) => rupiah(r.revenue), numeric: true },
    ], [...rows].reverse());
  };
  daily.onclick = () => render(false);
  monthly.onclick = () => render(true);
  render(false);
}

function customerLink(c) {
  if (!c?.id) return 'a customer';
  return el('a', { href: `customer-detail.html?id=${c.id}` }, c.name ? `${c.name} (${c.customer_code})` : `Customer #${c.id}`);
}

/**
 * Events name the customer (id and version): the feed line shows the id at
 * once and the name when the customer is read.
 */
function named(item, e, parts) {
  if (!item) return;
  api.getCustomer(e.customer_id).then((c) => {
    const text = item.querySelector('.feed-text');
    if (text) text.replaceChildren(text.firstChild, ...parts(c));
  }, () => {});
}

function newCustomer(e) {
  const item = feed(e, 'New customer: ', customerLink({ id: e.customer_id }));
  named(item, e, (c) => [customerLink(c), `, ${label(c.customer_type)}`]);
  for (const id of ['kpi-customers', 'kpi-active']) {
    const node = byId(id);
    const n = Number(node.textContent.replace(/\D/g, ''));
    if (node.textContent !== '…' && Number.isFinite(n)) node.textContent = count(n + 1);
  }
}

function feed(event, ...parts) {
  const list = byId('feed');
  byId('feed-empty').hidden = true;
  const now = new Date();
  const item = el('li', { 'data-event': event.type }, el('time', { datetime: now.toISOString() }, dateTime(now)), el('span', { class: 'feed-text' }, ...parts));
  list.prepend(item);
  while (list.children.length > FEED_LENGTH) list.lastElementChild.remove();
  return item;
}
