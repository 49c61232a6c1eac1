// Segments: the 5×5 RFM grid (recency × frequency) with counts and lifetime
// value per cell, and the totals per segment. Every cell and segment links
// to the customer list filtered to it.

import { api } from './api.js';
import { can, startPage } from './auth.js';
import { bars, bySegment, colourOf } from './charts.js';
import { byId, el, fill, heatCell, scrollBox, showError, table } from './dom.js';
import { asOf, count, label, rupiah } from './format.js';

const SCORES = [1, 2, 3, 4, 5];

if (startPage({ allow: can.seeAnalytics })) {
  api.getReport().then(show, async (err) => {
    // Without the report (an older server), the segment totals still show.
    if (err.status !== 404) return showError(byId('segments-error'), err);
    fill(byId('rfm-grid'), el('p', { class: 'muted' }, 'The RFM grid needs GET /api/analytics/report, which this server does not have.'));
    api.get('/api/segments').then(showSegments, (e) => showError(byId('segments-error'), e));
  });
}

function show(report) {
  byId('as-of').textContent = asOf(report);
  showSegments(report.segments || []);
  showGrid(report.rfm_grid || []);
}

function showSegments(rows) {
  const segments = bySegment(rows);
  bars(byId('segment-chart'), segments.map((s) => label(s.segment)), [
    { label: 'Customers', data: segments.map((s) => s.customers), backgroundColor: segments.map((s, i) => colourOf(s.segment, i)) },
  ]);
  fill(
    byId('segment-table'),
    table(
      [
        { label: 'Segment', value: (s) => el('a', { href: `customers.html?segment=${encodeURIComponent(s.segment)}` }, label(s.segment)) },
        { label: 'Customers', value: (s) => count(s.customers), numeric: true },
        { label: 'Lifetime value', value: (s) => rupiah(s.total_lifetime_value), numeric: true },
        { label: 'Per customer', value: (s) => (s.customers ? rupiah(Number(s.total_lifetime_value) / s.customers) : '-'), numeric: true },
      ],
      segments,
      { caption: 'Customers and yearly lifetime value per segment', empty: 'No segments yet: they appear after the first model fit.' },
    ),
  );
}

function showGrid(cells) {
  const at = new Map(cells.map((c) => [`${c.recency_score}:${c.frequency_score}`, c]));
  const most = Math.max(1, ...cells.map((c) => c.customers));
  const rows = [...SCORES].reverse().map((r) =>
    el(
      'tr',
      {},
      el('th', { scope: 'row' }, `R${r}`),
      SCORES.map((f) => {
        const c = at.get(`${r}:${f}`) || { customers: 0, total_lifetime_value: '0' };
        const href = `customers.html?recency_score=${r}&frequency_score=${f}`;
        return heatCell(
          c.customers / most,
          el(
            'a',
            { href },
            el('span', { class: 'visually-hidden' }, `Recency ${r}, frequency ${f}: `),
            el('strong', {}, count(c.customers)),
            el('span', { class: 'visually-hidden' }, ' customers, lifetime value'),
            el('br'),
            el('span', {}, rupiah(c.total_lifetime_value)),
          ),
        );
      }),
    ),
  );
  const head = el('tr', {}, el('th', { scope: 'col' }, 'Recency ↓ / Frequency →'), SCORES.map((f) => el('th', { scope: 'col' }, `F${f}`)));
  const grid = el('table', { class: 'heatmap' }, el('caption', {}, 'Customers (and lifetime value) per RFM cell'), el('thead', {}, head), el('tbody', {}, rows));
  fill(byId('rfm-grid'), scrollBox(grid, 'RFM grid'));
}
