// Thin helpers over Chart.js (the vendored UMD build defines window.Chart).
// Animations are off, so a chart is drawn when its constructor returns.

import { el, fill, table } from './dom.js';
import { rupiahShort } from './format.js';

const Chart = window.Chart;

if (Chart) {
  Chart.defaults.animation = false;
  Chart.defaults.responsive = true;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  Chart.defaults.color = '#374151';
}

/** Colours that stay apart for colour-blind readers (Okabe-Ito, darkened). */
export const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#6b7280'];

/** One colour per segment and per risk level, the same on every page. */
export const SEGMENT_ORDER = ['CHAMPION', 'LOYAL', 'POTENTIAL_LOYAL', 'AT_RISK', 'LOST'];
const COLOURS = {
  CHAMPION: '#009e73',
  LOYAL: '#0072b2',
  POTENTIAL_LOYAL: '#56b4e9',
  AT_RISK: '#e69f00',
  LOST: '#d55e00',
  LOW: '#009e73',
  MEDIUM: '#e69f00',
  HIGH: '#d55e00',
  CRITICAL: '#9b1c1c',
};

/** The colour of a segment or risk level code (a palette colour otherwise). */
export function colourOf(code, i = 0) {
  return COLOURS[code] || PALETTE[i % PALETTE.length];
}

/** Segment rows in the order of SEGMENT_ORDER. */
export function bySegment(rows) {
  const rank = (s) => (SEGMENT_ORDER.indexOf(s.segment) + SEGMENT_ORDER.length + 1) % (SEGMENT_ORDER.length + 1);
  return [...rows].sort((a, b) => rank(a) - rank(b));
}

const charts = new WeakMap();

/** Draws (or redraws) a chart on `canvas`; returns the Chart. */
export function draw(canvas, config) {
  if (!Chart) throw new Error('Chart.js did not load (vendor/chart.umd.min.js).');
  charts.get(canvas)?.destroy();
  const chart = new Chart(canvas, config);
  charts.set(canvas, chart);
  return chart;
}

/** A bar chart of one or more series over `labels`. */
export function bars(canvas, labels, series, { horizontal = false, stacked = false, axes = {} } = {}) {
  return draw(canvas, {
    type: 'bar',
    data: {
      labels,
      datasets: series.map((s, i) => ({ backgroundColor: PALETTE[i % PALETTE.length], ...s })),
    },
    options: {
      indexAxis: horizontal ? 'y' : 'x',
      scales: { x: { stacked }, y: { stacked, beginAtZero: true }, ...axes },
      plugins: { legend: { display: series.length > 1 } },
    },
  });
}

/** A doughnut of shares; `codes` pick each slice's colour. */
export function doughnut(canvas, labels, values, codes = []) {
  return draw(canvas, {
    type: 'doughnut',
    data: { labels, datasets: [{ data: values, backgroundColor: labels.map((_, i) => colourOf(codes[i], i)) }] },
    options: { plugins: { legend: { position: 'bottom' } } },
  });
}

/**
 * Purchases (bars, left axis) and revenue (line, right axis) over periods:
 * `rows` are `{period, purchases, revenue}`.
 */
export function salesOverTime(canvas, rows) {
  return draw(canvas, {
    type: 'bar',
    data: {
      labels: rows.map((r) => r.period),
      datasets: [
        { type: 'bar', label: 'Purchases', data: rows.map((r) => r.purchases), backgroundColor: PALETTE[0], yAxisID: 'y' },
        {
          type: 'line',
          label: 'Revenue (Rp)',
          data: rows.map((r) => Number(r.revenue)),
          borderColor: PALETTE[1],
          backgroundColor: PALETTE[1],
          pointRadius: 0,
          yAxisID: 'revenue',
        },
      ],
    },
    options: {
      interaction: { mode: 'index', intersect: false },
      scales: {
        y: { beginAtZero: true, title: { display: true, text: 'Purchases' } },
        revenue: {
          position: 'right',
          beginAtZero: true,
          grid: { drawOnChartArea: false },
          title: { display: true, text: 'Revenue' },
          ticks: { callback: (v) => rupiahShort(v) },
        },
      },
    },
  });
}

/**
 * The text alternative of a chart: its data as a table inside a closed
 * `<details>`, placed in `container`.
 */
export function dataTable(container, summary, columns, rows) {
  fill(container, el('details', { class: 'chart-data' }, el('summary', {}, summary), table(columns, rows, { caption: summary })));
}
