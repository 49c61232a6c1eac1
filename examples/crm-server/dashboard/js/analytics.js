// Analytics: the model behind the figures (and its notes, e.g. when churn
// fell back to recency), the lifetime value distribution, churn risk,
// P(alive) against recency, and cohort retention.

import { api } from './api.js';
import { can, startPage } from './auth.js';
import { bars, dataTable, doughnut } from './charts.js';
import { byId, el, facts, fill, heatCell, scrollBox, showError } from './dom.js';
import { asOf, count, label, percent, probability, rupiah, rupiahShort } from './format.js';

if (startPage({ allow: can.seeAnalytics })) {
  api.getReport().then(show, (err) => {
    for (const id of ['model', 'cohorts']) fill(byId(id));
    showError(byId('analytics-error'), err);
  });
}

function show(r) {
  byId('as-of').textContent = asOf(r);
  showModel(r.model);
  clv(r.clv_histogram || []);
  churn(r.churn_risk || []);
  alive(r.alive_by_recency || []);
  cohorts(r.cohorts || []);
}

function showModel(m) {
  if (!m) return fill(byId('model'), el('p', { class: 'muted' }, 'No model has been fitted yet.'));
  const fallback = m.churn_method === 'recency_fallback';
  const notes = m.notes || [];
  fill(
    byId('model'),
    fallback
      ? el('p', { class: 'notice' }, 'Churn figures use the recency fallback: the BG/NBD model could not be fitted on these purchases.')
      : null,
    facts([
      ['Customers modelled', count(m.customers)],
      ['Repeat customers', count(m.repeat_customers)],
      ['Churn method', fallback ? 'Recency fallback' : 'BG/NBD model'],
      ['BG/NBD fit', fit(m.bgnbd)],
      ['Gamma-Gamma fit', fit(m.gamma_gamma)],
      ['Time unit', label(m.unit)],
    ]),
    notes.length ? el('div', {}, el('h3', {}, 'Notes'), el('ul', { id: 'model-notes' }, notes.map((n) => el('li', {}, n)))) : null,
  );
}

/** How a fitted model came out. */
function fit(model) {
  if (!model) return 'Not fitted';
  return model.diagnostics?.converged === false ? 'Did not converge (not used)' : 'Converged';
}

function clv(rows) {
  const name = (b) => (b.to === null || b.to === undefined ? `${rupiah(b.from)} and more` : `${rupiah(b.from)} to ${rupiah(b.to)}`);
  const short = (b) => (b.to === null || b.to === undefined ? `${rupiahShort(b.from)}+` : `${rupiahShort(b.from)}–${rupiahShort(b.to)}`);
  bars(byId('clv-chart'), rows.map(short), [{ label: 'Customers', data: rows.map((b) => b.customers) }]);
  dataTable(byId('clv-data'), 'Lifetime value data', [
    { label: 'Lifetime value', value: name },
    { label: 'Customers', value: (b) => count(b.customers), numeric: true },
  ], rows);
}

function churn(rows) {
  doughnut(byId('churn-chart'), rows.map((r) => label(r.risk_level)), rows.map((r) => r.customers), rows.map((r) => r.risk_level));
  dataTable(byId('churn-data'), 'Churn risk data', [
    { label: 'Risk', value: (r) => label(r.risk_level) },
    { label: 'Customers', value: (r) => count(r.customers), numeric: true },
  ], rows);
}

function alive(rows) {
  const name = (b) => (b.days_to === null || b.days_to === undefined ? `${b.days_from}+ days` : `${b.days_from}–${b.days_to} days`);
  bars(byId('alive-chart'), rows.map(name), [{ label: 'Mean P(alive)', data: rows.map((b) => b.mean_p_alive) }], {
    axes: { y: { beginAtZero: true, max: 1, title: { display: true, text: 'Mean P(alive)' } }, x: { title: { display: true, text: 'Days since the last purchase' } } },
  });
  dataTable(byId('alive-data'), 'P(alive) data', [
    { label: 'Since last purchase', value: name },
    { label: 'Customers', value: (b) => count(b.customers), numeric: true },
    { label: 'Mean P(alive)', value: (b) => probability(b.mean_p_alive), numeric: true },
  ], rows);
}

function cohorts(rows) {
  if (rows.length === 0) return fill(byId('cohorts'), el('p', { class: 'muted' }, 'No cohorts yet.'));
  const months = Math.max(...rows.map((r) => (r.retention || []).length));
  const head = el(
    'tr',
    {},
    el('th', { scope: 'col' }, 'Cohort'),
    el('th', { scope: 'col', class: 'num' }, 'Customers'),
    Array.from({ length: months }, (_, k) => el('th', { scope: 'col', class: 'num' }, `M${k}`)),
  );
  const body = rows.map((r) =>
    el(
      'tr',
      {},
      el('th', { scope: 'row' }, r.cohort),
      el('td', { class: 'num' }, count(r.customers)),
      Array.from({ length: months }, (_, k) => {
        const v = r.retention?.[k];
        return v === undefined || v === null ? el('td', {}, '') : heatCell(v, percent(v));
      }),
    ),
  );
  const t = el('table', { class: 'heatmap' }, el('caption', {}, 'Retention by month since the first purchase (M0 = the first month)'), el('thead', {}, head), el('tbody', {}, body));
  fill(byId('cohorts'), scrollBox(t, 'Cohort retention'));
}
